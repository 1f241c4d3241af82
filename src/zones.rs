//! Zone matching (SPEC section 4.2): postal patterns and an index that finds the zone
//! for an address without scanning every zone.
//!
//! Exact postal codes and subdivisions are hash lookups, ranges a binary search;
//! only wildcard patterns are scanned, per country. So an account with 50,000
//! postal-code zones answers as fast as one with ten.

use crate::quote::Address;
use crate::rules::postal::{normalize_postal, zip_plus_four, PostalPattern};
use crate::rules::{normalized_city, ValidRules, DEFAULT_ZONE_ID};
use std::collections::HashMap;
use std::sync::Arc;

/// A request's postal code as matched: normalized, and for a US ZIP+4 its ZIP (which
/// ordinary patterns match) and its nine digits (which ZIP+4 patterns match).
fn request_postal(country: &str, code: &str) -> (String, Option<String>) {
    let code = normalize_postal(code);
    if country == "US" {
        if let Some(nine) = zip_plus_four(&code) {
            return (nine[..5].to_string(), Some(nine));
        }
    }
    (code, None)
}

/// `US-CA` and `CA` are the same subdivision of the US.
fn normalize_subdivision(country: &str, code: &str) -> String {
    let code = code.trim().to_ascii_uppercase();
    match code
        .strip_prefix(country)
        .and_then(|rest| rest.strip_prefix('-'))
    {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => code,
    }
}

/// How specific a match is; lower wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchLevel {
    /// A US ZIP+4 pattern: beats every other postal pattern (SPEC 10.4).
    ZipPlusFour = 0,
    Postal = 1,
    City = 2,
    Subdivision = 3,
    Country = 4,
}

impl MatchLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchLevel::ZipPlusFour => "zip_plus_four",
            MatchLevel::Postal => "postal_code",
            MatchLevel::City => "city",
            MatchLevel::Subdivision => "subdivision",
            MatchLevel::Country => "country",
        }
    }
}

/// Why a zone applies: the answer of zone matching and of the zone check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneMatch {
    pub zone_id: u64,
    /// `None` when no zone matched and the default zone applies.
    pub level: Option<MatchLevel>,
    /// The postal pattern or subdivision that matched, as configured.
    pub matched: Option<String>,
    pub score: u32,
    pub group_restricted: bool,
}

impl ZoneMatch {
    fn default_zone() -> ZoneMatch {
        ZoneMatch {
            zone_id: DEFAULT_ZONE_ID,
            level: None,
            matched: None,
            score: 0,
            group_restricted: false,
        }
    }

    /// Precedence key: level, pattern score, restricted before unrestricted, zone id.
    fn key(&self) -> (Option<MatchLevel>, u32, bool, u64) {
        (self.level, self.score, !self.group_restricted, self.zone_id)
    }

    /// Why this zone applies, as the zone check answers it in `meta.reasons`.
    pub fn explain(&self) -> serde_json::Value {
        let pattern = self.matched.as_deref().unwrap_or("");
        let group = if self.group_restricted {
            ", zone restricted to this customer group"
        } else {
            ""
        };
        let why = match self.level {
            None => "no enabled zone matches this address and group: the default zone applies"
                .to_string(),
            Some(MatchLevel::ZipPlusFour) => {
                format!("ZIP+4 matches pattern `{pattern}`{group}")
            }
            Some(MatchLevel::Postal) => format!(
                "postal code matches pattern `{pattern}` (score {}){group}",
                self.score
            ),
            Some(MatchLevel::City) => format!("city matches `{pattern}`{group}"),
            Some(MatchLevel::Subdivision) => format!("subdivision matches `{pattern}`{group}"),
            Some(MatchLevel::Country) => format!("country matches `{pattern}`{group}"),
        };
        serde_json::json!({
            "zone_id": self.zone_id,
            "match": self.level.map_or("default", MatchLevel::as_str),
            "pattern": self.matched,
            "customer_group_restricted": self.group_restricted,
            "reason": why,
        })
    }
}

/// Whether two addresses are in the same country and the same non-empty region,
/// compared as zones compare them (SPEC 10.7).
pub fn same_region(a: &Address, b: &Address) -> bool {
    let (Some(ca), Some(cb)) = (a.country(), b.country()) else {
        return false;
    };
    if !ca.eq_ignore_ascii_case(cb) {
        return false;
    }
    let country = ca.to_ascii_uppercase();
    let region = |x: &Address| {
        x.region_code
            .as_deref()
            .map(|r| normalize_subdivision(&country, r))
            .filter(|r| !r.is_empty())
    };
    matches!((region(a), region(b)), (Some(ra), Some(rb)) if ra == rb)
}

/// What one location of one zone demands beyond what the index already checked.
#[derive(Debug)]
struct Entry {
    zone_id: u64,
    /// Customer groups (as strings, to compare with the request's); empty: everyone.
    groups: Arc<[String]>,
    /// Subdivisions the region must be in (normalized); empty: any.
    subdivisions: Arc<[String]>,
    /// Cities the address must be in (normalized, SPEC 10.3); empty: any.
    cities: Arc<[String]>,
    level: MatchLevel,
    score: u32,
    /// The configured pattern or subdivision list, for the zone check's answer.
    label: Arc<str>,
}

impl Entry {
    fn admits(&self, place: &Place, group: &str) -> bool {
        let group_ok = self.groups.is_empty() || self.groups.iter().any(|g| g == group);
        let region_ok = self.subdivisions.is_empty()
            || place
                .region
                .as_ref()
                .is_some_and(|r| self.subdivisions.iter().any(|s| s == r));
        let city_ok = self.cities.is_empty()
            || place
                .city
                .as_ref()
                .is_some_and(|c| self.cities.iter().any(|s| s == c));
        group_ok && region_ok && city_ok
    }

    fn to_match(&self) -> ZoneMatch {
        ZoneMatch {
            zone_id: self.zone_id,
            level: Some(self.level),
            matched: Some(self.label.to_string()),
            score: self.score,
            group_restricted: !self.groups.is_empty(),
        }
    }
}

/// Ranges of one country and code length, sorted by start, with the running maximum
/// of ends so that a lookup walks back only over ranges that can still contain it.
#[derive(Debug, Default)]
struct RangeList {
    ranges: Vec<(String, String, usize)>,
    max_end: Vec<String>,
}

impl RangeList {
    fn finish(&mut self) {
        self.ranges.sort_by(|x, y| x.0.cmp(&y.0));
        let mut max: Option<String> = None;
        self.max_end = self
            .ranges
            .iter()
            .map(|(_, end, _)| {
                let m = match &max {
                    Some(m) if m.as_str() >= end.as_str() => m.clone(),
                    _ => end.clone(),
                };
                max = Some(m.clone());
                m
            })
            .collect();
    }

    /// Entries of the ranges containing `code`: those starting at or before it,
    /// walking back while one may still reach it.
    fn containing<'a>(&'a self, code: &'a str) -> impl Iterator<Item = usize> + 'a {
        let end = self
            .ranges
            .partition_point(|(start, _, _)| start.as_str() <= code);
        (0..end)
            .rev()
            .take_while(move |&i| self.max_end[i].as_str() >= code)
            .filter(move |&i| code <= self.ranges[i].1.as_str())
            .map(move |i| self.ranges[i].2)
    }
}

/// An address as zone matching compares it.
struct Place {
    region: Option<String>,
    city: Option<String>,
}

/// The index of an account's enabled zones.
#[derive(Debug, Default)]
pub struct ZoneIndex {
    entries: Vec<Entry>,
    /// `COUNTRY \0 CODE` -> entries with that exact postal code.
    exact: HashMap<String, Vec<usize>>,
    /// (country, code length) -> ranges.
    ranges: HashMap<(String, usize), RangeList>,
    /// Nine digits -> entries with that US ZIP+4 pattern.
    zip4: HashMap<String, Vec<usize>>,
    /// Ranges of US ZIP+4 codes.
    zip4_ranges: RangeList,
    /// `COUNTRY \0 city` (normalized) -> city-level entries.
    cities: HashMap<String, Vec<usize>>,
    /// Whether any location lists cities: else an address's city is never normalized.
    uses_cities: bool,
    /// country -> wildcard patterns.
    wildcards: HashMap<String, Vec<(PostalPattern, usize)>>,
    /// `COUNTRY \0 SUBDIVISION` -> subdivision-level entries.
    subdivisions: HashMap<String, Vec<usize>>,
    /// country -> country-level entries.
    countries: HashMap<String, Vec<usize>>,
}

fn key(country: &str, code: &str) -> String {
    let mut k = String::with_capacity(country.len() + code.len() + 1);
    k.push_str(country);
    k.push('\0');
    k.push_str(code);
    k
}

impl ZoneIndex {
    /// Builds the index; the zones are assumed validated (patterns parse).
    /// Indexes the enabled zones of a validated rule set, with the postal patterns
    /// validation already parsed.
    pub fn build(rules: &ValidRules) -> ZoneIndex {
        let mut ix = ZoneIndex::default();
        for (zone, patterns) in rules
            .zones_with_patterns()
            .filter(|(z, _)| z.enabled && z.id != DEFAULT_ZONE_ID)
        {
            let targets = &zone.shopper_target_settings;
            let groups: Arc<[String]> =
                if targets.customer_groups.is_empty() || targets.customer_groups.contains(&0) {
                    Arc::from(Vec::new())
                } else {
                    targets
                        .customer_groups
                        .iter()
                        .map(|g| g.to_string())
                        .collect()
                };
            for (loc, patterns) in targets.locations.iter().zip(patterns) {
                let country = loc.country_code.trim().to_ascii_uppercase();
                let subs: Arc<[String]> = loc
                    .subdivision_codes
                    .iter()
                    .map(|s| normalize_subdivision(&country, s))
                    .collect();
                let cities: Arc<[String]> = loc.cities.iter().map(|c| normalized_city(c)).collect();
                ix.uses_cities |= !cities.is_empty();
                let entry =
                    |level, score, subdivisions: &Arc<[String]>, cities: &Arc<[String]>, label| {
                        Entry {
                            zone_id: zone.id,
                            groups: groups.clone(),
                            subdivisions: subdivisions.clone(),
                            cities: cities.clone(),
                            level,
                            score,
                            label,
                        }
                    };
                let none: Arc<[String]> = Arc::from(Vec::new());
                if !loc.postal_codes.is_empty() {
                    for (raw, pattern) in loc.postal_codes.iter().zip(patterns.iter().cloned()) {
                        let id = ix.entries.len();
                        let level = match pattern {
                            PostalPattern::Zip4(_) | PostalPattern::Zip4Range(..) => {
                                MatchLevel::ZipPlusFour
                            }
                            _ => MatchLevel::Postal,
                        };
                        ix.entries.push(entry(
                            level,
                            pattern.score(),
                            &subs,
                            &cities,
                            Arc::from(raw.as_str()),
                        ));
                        match pattern {
                            PostalPattern::Zip4(code) => ix.zip4.entry(code).or_default().push(id),
                            PostalPattern::Zip4Range(a, b) => {
                                ix.zip4_ranges.ranges.push((a, b, id))
                            }
                            PostalPattern::Exact(code) => {
                                ix.exact.entry(key(&country, &code)).or_default().push(id)
                            }
                            PostalPattern::Range(a, b) => {
                                let list = ix.ranges.entry((country.clone(), a.len())).or_default();
                                list.ranges.push((a, b, id));
                            }
                            w @ PostalPattern::Wildcard(_) => ix
                                .wildcards
                                .entry(country.clone())
                                .or_default()
                                .push((w, id)),
                        }
                    }
                } else if !cities.is_empty() {
                    for (raw, city) in loc.cities.iter().zip(cities.iter()) {
                        let id = ix.entries.len();
                        ix.entries.push(entry(
                            MatchLevel::City,
                            0,
                            &subs,
                            &none,
                            Arc::from(raw.as_str()),
                        ));
                        ix.cities.entry(key(&country, city)).or_default().push(id);
                    }
                } else if !subs.is_empty() {
                    let label: Arc<str> = Arc::from(loc.subdivision_codes.join(","));
                    for sub in subs.iter() {
                        let id = ix.entries.len();
                        ix.entries.push(entry(
                            MatchLevel::Subdivision,
                            0,
                            &none,
                            &none,
                            label.clone(),
                        ));
                        ix.subdivisions
                            .entry(key(&country, sub))
                            .or_default()
                            .push(id);
                    }
                } else {
                    let id = ix.entries.len();
                    ix.entries.push(entry(
                        MatchLevel::Country,
                        0,
                        &none,
                        &none,
                        Arc::from(country.as_str()),
                    ));
                    ix.countries.entry(country.clone()).or_default().push(id);
                }
            }
        }
        for list in ix.ranges.values_mut() {
            list.finish();
        }
        ix.zip4_ranges.finish();
        ix
    }

    /// Zone 1, for a document without an address.
    pub fn default_match(&self) -> ZoneMatch {
        ZoneMatch::default_zone()
    }

    /// The zone for an address and customer group; zone 1 when nothing matches.
    pub fn find(&self, address: &Address, group: &str) -> ZoneMatch {
        let mut best: Option<ZoneMatch> = None;
        let Some(country) = address.country() else {
            return ZoneMatch::default_zone();
        };
        let country = country.to_ascii_uppercase();
        let place = Place {
            region: address
                .region_code
                .as_deref()
                .map(|r| normalize_subdivision(&country, r))
                .filter(|r| !r.is_empty()),
            city: address
                .city
                .as_deref()
                .filter(|_| self.uses_cities)
                .map(normalized_city)
                .filter(|c| !c.is_empty()),
        };
        let group = group.trim();
        let mut consider = |i: usize| {
            let e = &self.entries[i];
            if e.admits(&place, group) {
                let m = e.to_match();
                if best.as_ref().is_none_or(|b| m.key() < b.key()) {
                    best = Some(m);
                }
            }
        };
        let postal = address
            .postal_code
            .as_deref()
            .map(|p| request_postal(&country, p))
            .filter(|(c, _)| !c.is_empty());
        if let Some((code, nine)) = postal {
            if let Some(nine) = nine {
                if let Some(ids) = self.zip4.get(&nine) {
                    ids.iter().for_each(|&i| consider(i));
                }
                self.zip4_ranges.containing(&nine).for_each(&mut consider);
            }
            if let Some(ids) = self.exact.get(&key(&country, &code)) {
                ids.iter().for_each(|&i| consider(i));
            }
            if let Some(list) = self.ranges.get(&(country.clone(), code.len())) {
                list.containing(&code).for_each(&mut consider);
            }
            if let Some(patterns) = self.wildcards.get(&country) {
                for (p, id) in patterns {
                    if p.matches(&code) {
                        consider(*id);
                    }
                }
            }
        }
        if let Some(c) = &place.city {
            if let Some(ids) = self.cities.get(&key(&country, c)) {
                ids.iter().for_each(|&i| consider(i));
            }
        }
        if let Some(r) = &place.region {
            if let Some(ids) = self.subdivisions.get(&key(&country, r)) {
                ids.iter().for_each(|&i| consider(i));
            }
        }
        if let Some(ids) = self.countries.get(&country) {
            ids.iter().for_each(|&i| consider(i));
        }
        best.unwrap_or_else(ZoneMatch::default_zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(p: &str) -> PostalPattern {
        PostalPattern::parse(p).unwrap()
    }

    #[test]
    fn exact_ignores_case_and_spaces() {
        assert!(pat("SW1A 1AA").matches(&normalize_postal("sw1a1aa")));
        assert!(!pat("SW1A 1AA").matches(&normalize_postal("sw1a1ab")));
    }

    #[test]
    fn star_is_one_or_more_question_is_exactly_one() {
        assert!(pat("90*").matches("90210"));
        assert!(pat("90*").matches("901"));
        assert!(!pat("90*").matches("90"));
        assert!(pat("9021?").matches("90210"));
        assert!(!pat("9021?").matches("902100"));
        assert!(!pat("9021?").matches("9021"));
        assert!(pat("*1").matches("90211"));
        assert!(pat("9*2*0").matches("91220"));
        assert!(!pat("9*2*0").matches("9220"));
        assert_eq!(pat("9*2*?").score(), 21);
    }

    #[test]
    fn ranges_are_inclusive_and_length_bound() {
        let r = pat("90001...90099");
        assert!(r.matches("90001") && r.matches("90099") && r.matches("90050"));
        assert!(!r.matches("90100") && !r.matches("9005") && !r.matches("900500"));
        assert!(PostalPattern::parse("1...22").is_err());
        assert!(PostalPattern::parse("5...1").is_err());
    }

    #[test]
    fn zip_plus_four_matches_by_zip_and_by_all_nine_digits() {
        let nine = Some("458911234".to_string());
        assert_eq!(
            request_postal("US", "45891-1234"),
            ("45891".into(), nine.clone())
        );
        assert_eq!(request_postal("US", "458911234"), ("45891".into(), nine));
        assert_eq!(request_postal("US", "45891"), ("45891".into(), None));
        assert_eq!(
            request_postal("CA", "45891-1234"),
            ("45891-1234".into(), None)
        );
    }

    #[test]
    fn subdivision_accepts_both_spellings() {
        assert_eq!(normalize_subdivision("US", "us-ca"), "CA");
        assert_eq!(normalize_subdivision("US", "CA"), "CA");
    }
}
