//! Postal-code patterns of a zone's locations (SPEC 4.2): exact codes, `a...b` ranges,
//! `*` and `?` wildcards, all compared after normalization.

/// Upper-case with all white space removed: `sw1a 1aa` -> `SW1A1AA`.
pub fn normalize_postal(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// One entry of a location's `postal_codes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostalPattern {
    /// Equal after normalization.
    Exact(String),
    /// `a...b`: inclusive, between codes of the same length.
    Range(String, String),
    /// `*` is one or more characters, `?` exactly one.
    Wildcard(Vec<char>),
}

impl PostalPattern {
    pub fn parse(pattern: &str) -> Result<PostalPattern, String> {
        let p = normalize_postal(pattern);
        if p.is_empty() {
            return Err("empty postal code pattern".into());
        }
        if let Some((a, b)) = p.split_once("...") {
            if a.is_empty() || b.is_empty() || a.len() != b.len() {
                return Err(format!(
                    "range `{pattern}` needs two codes of equal length, as `90001...90099`"
                ));
            }
            if a.contains(['*', '?']) || b.contains(['*', '?']) {
                return Err(format!("range `{pattern}` cannot contain wildcards"));
            }
            if a > b {
                return Err(format!("range `{pattern}` starts after it ends"));
            }
            return Ok(PostalPattern::Range(a.into(), b.into()));
        }
        if p.contains(['*', '?']) {
            return Ok(PostalPattern::Wildcard(p.chars().collect()));
        }
        Ok(PostalPattern::Exact(p))
    }

    /// Lower is more specific: exact 0, range 5, wildcard 10 per `*` + 1 per `?`.
    pub fn score(&self) -> u32 {
        match self {
            PostalPattern::Exact(_) => 0,
            PostalPattern::Range(..) => 5,
            PostalPattern::Wildcard(p) => p
                .iter()
                .map(|c| match c {
                    '*' => 10,
                    '?' => 1,
                    _ => 0,
                })
                .sum(),
        }
    }

    /// Does the (normalized) code match?
    pub fn matches(&self, code: &str) -> bool {
        match self {
            PostalPattern::Exact(p) => p == code,
            PostalPattern::Range(a, b) => {
                code.len() == a.len() && a.as_str() <= code && code <= b.as_str()
            }
            PostalPattern::Wildcard(p) => {
                let c: Vec<char> = code.chars().collect();
                glob(p, &c)
            }
        }
    }
}

/// Glob match where `*` takes one or more characters and `?` exactly one.
fn glob(p: &[char], s: &[char]) -> bool {
    // Classic iterative matcher with one backtrack point; `*` must consume >= 1 char.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == '*' {
            // Take exactly one char now; more on backtrack.
            star = Some((pi, si + 1));
            pi += 1;
            si += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            if ss >= s.len() {
                return false;
            }
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    pi == p.len()
}
