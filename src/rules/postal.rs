//! Postal-code patterns of a zone's locations (SPEC 4.2): exact codes, `a...b` ranges,
//! `*` and `?` wildcards, all compared after normalization.

/// Upper-case with all white space removed: `sw1a 1aa` -> `SW1A1AA`.
pub fn normalize_postal(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// The nine digits of a US ZIP+4 written `NNNNN-NNNN` or as nine digits (SPEC 10.4),
/// from a normalized code; `None` for any other code.
pub fn zip_plus_four(normalized: &str) -> Option<String> {
    let b = normalized.as_bytes();
    let digits = |b: &[u8]| b.iter().all(u8::is_ascii_digit);
    if b.len() == 10 && b[5] == b'-' && digits(&b[..5]) && digits(&b[6..]) {
        Some(format!("{}{}", &normalized[..5], &normalized[6..]))
    } else if b.len() == 9 && digits(b) {
        Some(normalized.to_string())
    } else {
        None
    }
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
    /// A US ZIP+4 (its nine digits): matches only addresses with a ZIP+4 (SPEC 10.4).
    Zip4(String),
    /// A range of two US ZIP+4 codes (nine digits each), inclusive.
    Zip4Range(String, String),
}

impl PostalPattern {
    /// A pattern of a location in `country` (ISO code, any case): in the US a ZIP+4
    /// code or a range of two is a ZIP+4 pattern (SPEC 10.4); otherwise as [`Self::parse`].
    pub fn parse_in(country: &str, pattern: &str) -> Result<PostalPattern, String> {
        if !country.trim().eq_ignore_ascii_case("US") {
            return Self::parse(pattern);
        }
        let p = normalize_postal(pattern);
        if let Some(zip4) = zip_plus_four(&p) {
            return Ok(PostalPattern::Zip4(zip4));
        }
        if let Some((a, b)) = p.split_once("...") {
            match (zip_plus_four(a), zip_plus_four(b)) {
                (Some(a), Some(b)) if a <= b => return Ok(PostalPattern::Zip4Range(a, b)),
                (Some(_), Some(_)) => return Err(format!("range `{pattern}` starts after it ends")),
                (Some(_), None) | (None, Some(_)) => {
                    return Err(format!(
                        "range `{pattern}` needs two codes of equal length: two ZIP+4 codes, as `45891-0001...45891-4999`, or two ZIPs"
                    ))
                }
                (None, None) => {}
            }
        }
        Self::parse(pattern)
    }

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
            PostalPattern::Exact(_) | PostalPattern::Zip4(_) => 0,
            PostalPattern::Range(..) | PostalPattern::Zip4Range(..) => 5,
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

    /// Does the (normalized) code match? A ZIP+4 pattern takes the nine digits.
    pub fn matches(&self, code: &str) -> bool {
        match self {
            PostalPattern::Exact(p) | PostalPattern::Zip4(p) => p == code,
            PostalPattern::Range(a, b) | PostalPattern::Zip4Range(a, b) => {
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
