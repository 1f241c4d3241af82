//! What a valid rule set is: the only place that decides it.
//!
//! Each item has its own validator taking the field path of the item (`zones[3]`, or
//! `[0]` for the third element of an admin API body), so the admin endpoints check one
//! zone or rate where it stands, without building a throwaway document and rewriting
//! the paths of its errors. [`RulesDocument::validate`] runs them all and yields a
//! [`ValidRules`], the one type the engine compiles and the store keeps.

use super::model::*;
use super::postal::PostalPattern;
use crate::error::{ErrorCode, LevyError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

fn invalid(path: impl Into<String>, message: impl Into<String>) -> LevyError {
    LevyError::at(ErrorCode::InvalidRules, path, message)
}

/// A rules document that validation accepted, with class "0" and zone 1 filled in.
/// It cannot be built any other way, so whoever holds one never checks it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RulesDocument", into = "RulesDocument")]
pub struct ValidRules {
    document: RulesDocument,
    /// Position of class "0" in `document.classes`.
    default_class: usize,
    /// The parsed postal patterns of each zone's locations, aligned with
    /// `document.zones`, so that nothing compiles a pattern twice.
    postal: Vec<Vec<Vec<PostalPattern>>>,
}

impl ValidRules {
    pub fn document(&self) -> &RulesDocument {
        &self.document
    }

    pub fn into_document(self) -> RulesDocument {
        self.document
    }

    /// Class "0", which validation guarantees.
    pub fn default_class(&self) -> &TaxClass {
        &self.document.classes[self.default_class]
    }

    /// Each zone with the parsed postal patterns of its locations (one list per location).
    pub fn zones_with_patterns(&self) -> impl Iterator<Item = (&Zone, &[Vec<PostalPattern>])> {
        self.document
            .zones
            .iter()
            .zip(self.postal.iter().map(Vec::as_slice))
    }

    /// The empty rule set: class "0", zone 1, no rates, default settings.
    pub fn empty() -> ValidRules {
        ValidRules {
            document: RulesDocument {
                classes: vec![default_tax_class()],
                zones: vec![default_zone()],
                ..RulesDocument::default()
            },
            default_class: 0,
            postal: vec![Vec::new()],
        }
    }
}

impl Default for ValidRules {
    fn default() -> ValidRules {
        ValidRules::empty()
    }
}

impl std::ops::Deref for ValidRules {
    type Target = RulesDocument;

    fn deref(&self) -> &RulesDocument {
        &self.document
    }
}

impl TryFrom<RulesDocument> for ValidRules {
    type Error = LevyError;

    fn try_from(document: RulesDocument) -> Result<ValidRules, LevyError> {
        document.validate()
    }
}

impl From<ValidRules> for RulesDocument {
    fn from(v: ValidRules) -> RulesDocument {
        v.document
    }
}

impl RulesDocument {
    /// Checks every rule and fills in what always exists (class "0", zone 1).
    pub fn validate(mut self) -> Result<ValidRules, LevyError> {
        let mut class_ids = HashSet::new();
        let mut codes = HashSet::new();
        for (i, class) in self.classes.iter().enumerate() {
            validate_class(&format!("classes[{i}]"), class)?;
            if !class_ids.insert(class.id.as_str()) {
                return Err(invalid(
                    format!("classes[{i}].id"),
                    format!("class id {} appears twice", class.id),
                ));
            }
            if let Some(code) = &class.code {
                if !codes.insert(super::normalized_code(code)) {
                    return Err(invalid(
                        format!("classes[{i}].code"),
                        format!("class code {code:?} is already another class's (codes ignore case and surrounding spaces)"),
                    ));
                }
            }
        }
        let class_ids: HashSet<String> = class_ids.into_iter().map(String::from).collect();
        let default_class = match self.classes.iter().position(|c| c.id == DEFAULT_CLASS_ID) {
            Some(i) => i,
            None => {
                self.classes.insert(0, default_tax_class());
                0
            }
        };
        let mut class_ids = class_ids;
        class_ids.insert(DEFAULT_CLASS_ID.into());

        let mut zone_ids = HashSet::new();
        let mut postal = Vec::with_capacity(self.zones.len() + 1);
        for (i, zone) in self.zones.iter().enumerate() {
            postal.push(validate_zone(&format!("zones[{i}]"), zone)?);
            if !zone_ids.insert(zone.id) {
                return Err(invalid(
                    format!("zones[{i}].id"),
                    format!("zone id {} appears twice", zone.id),
                ));
            }
        }
        if !zone_ids.contains(&DEFAULT_ZONE_ID) {
            self.zones.insert(0, default_zone());
            postal.insert(0, Vec::new());
            zone_ids.insert(DEFAULT_ZONE_ID);
        }

        let mut rate_ids = HashSet::new();
        for (i, rate) in self.rates.iter().enumerate() {
            let zone_exists = zone_ids.contains(&rate.tax_zone_id);
            validate_rate(&format!("rates[{i}]"), rate, &class_ids, zone_exists)?;
            if !rate_ids.insert(rate.id) {
                return Err(invalid(
                    format!("rates[{i}].id"),
                    format!("rate id {} appears twice", rate.id),
                ));
            }
        }
        validate_settings("settings", &self.settings, &rate_ids)?;
        Ok(ValidRules {
            document: self,
            default_class,
            postal,
        })
    }
}

fn default_tax_class() -> TaxClass {
    TaxClass {
        id: DEFAULT_CLASS_ID.into(),
        name: "Default Tax Class".into(),
        code: None,
    }
}

fn default_zone() -> Zone {
    Zone {
        id: DEFAULT_ZONE_ID,
        name: "Default Tax Zone".into(),
        enabled: true,
        price_display_settings: PriceDisplaySettings::default(),
        shopper_target_settings: ShopperTargetSettings::default(),
        sourcing: Sourcing::Destination,
        imported: None,
    }
}

/// One class, at `at` (e.g. `classes[2]`).
pub fn validate_class(at: &str, class: &TaxClass) -> Result<(), LevyError> {
    if class.id.trim().is_empty() {
        return Err(invalid(format!("{at}.id"), "a class id may not be empty"));
    }
    if class.code.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(invalid(
            format!("{at}.code"),
            "a class code may not be empty (leave it out instead)",
        ));
    }
    Ok(())
}

/// One zone on its own, at `at`: BigCommerce's guards for zone 1, locations, patterns.
/// Returns the parsed postal patterns of each location.
pub fn validate_zone(at: &str, zone: &Zone) -> Result<Vec<Vec<PostalPattern>>, LevyError> {
    let field = |f: &str| format!("{at}.{f}");
    if zone.id == 0 {
        return Err(invalid(field("id"), "zone ids start at 1"));
    }
    let targets = &zone.shopper_target_settings;
    if zone.id == DEFAULT_ZONE_ID {
        if !zone.enabled {
            return Err(invalid(
                field("enabled"),
                "the default zone (1) cannot be disabled",
            ));
        }
        if !targets.locations.is_empty() || !targets.customer_groups.is_empty() {
            return Err(invalid(
                field("shopper_target_settings"),
                "the default zone (1) applies to every shopper and cannot have locations or customer groups",
            ));
        }
        return Ok(Vec::new());
    }
    if targets.locations.is_empty() {
        return Err(invalid(
            field("shopper_target_settings.locations"),
            "a zone other than the default zone needs at least one location",
        ));
    }
    let mut patterns = Vec::with_capacity(targets.locations.len());
    for (j, loc) in targets.locations.iter().enumerate() {
        patterns.push(validate_location(
            &field(&format!("shopper_target_settings.locations[{j}]")),
            loc,
        )?);
    }
    for (j, g) in targets.customer_groups.iter().enumerate() {
        if *g < 0 {
            return Err(invalid(
                field(&format!("shopper_target_settings.customer_groups[{j}]")),
                "customer group ids are not negative",
            ));
        }
    }
    Ok(patterns)
}

fn validate_location(at: &str, loc: &Location) -> Result<Vec<PostalPattern>, LevyError> {
    let cc = loc.country_code.trim();
    if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(invalid(
            format!("{at}.country_code"),
            format!(
                "`{}` is not a two-letter ISO 3166-1 country code",
                loc.country_code
            ),
        ));
    }
    for (k, sub) in loc.subdivision_codes.iter().enumerate() {
        if sub.trim().is_empty() {
            return Err(invalid(
                format!("{at}.subdivision_codes[{k}]"),
                "empty subdivision code",
            ));
        }
    }
    for (k, city) in loc.cities.iter().enumerate() {
        if normalized_city(city).is_empty() {
            return Err(invalid(format!("{at}.cities[{k}]"), "empty city name"));
        }
    }
    loc.postal_codes
        .iter()
        .enumerate()
        .map(|(k, pattern)| {
            PostalPattern::parse_in(cc, pattern)
                .map_err(|m| invalid(format!("{at}.postal_codes[{k}]"), m))
        })
        .collect()
}

/// One rate at `at`, against the classes it may name and whether its zone exists.
pub fn validate_rate(
    at: &str,
    rate: &Rate,
    class_ids: &HashSet<String>,
    zone_exists: bool,
) -> Result<(), LevyError> {
    let field = |f: &str| format!("{at}.{f}");
    if rate.id == 0 {
        return Err(invalid(field("id"), "rate ids start at 1"));
    }
    if !zone_exists && rate.tax_zone_id != DEFAULT_ZONE_ID {
        return Err(invalid(
            field("tax_zone_id"),
            format!("zone {} does not exist", rate.tax_zone_id),
        ));
    }
    if rate.name.trim().is_empty() {
        return Err(invalid(
            field("name"),
            "a rate needs a name (it is shown on invoices)",
        ));
    }
    let max = Decimal::from(MAX_RATE_PERCENT);
    let mut seen = HashSet::new();
    for (j, cr) in rate.class_rates.iter().enumerate() {
        let field = |f: &str| format!("{at}.class_rates[{j}].{f}");
        if !class_ids.contains(&cr.tax_class_id) && cr.tax_class_id != DEFAULT_CLASS_ID {
            return Err(invalid(
                field("tax_class_id"),
                format!("tax class {} does not exist", cr.tax_class_id),
            ));
        }
        if !seen.insert(cr.tax_class_id.as_str()) {
            return Err(invalid(
                field("tax_class_id"),
                format!("tax class {} appears twice", cr.tax_class_id),
            ));
        }
        if cr.rate.is_sign_negative() && !cr.rate.is_zero() {
            return Err(invalid(field("rate"), "a rate cannot be negative"));
        }
        if cr.rate > max {
            return Err(invalid(
                field("rate"),
                format!("a rate above {MAX_RATE_PERCENT} % is not accepted"),
            ));
        }
        validate_threshold(&field, cr)?;
    }
    if let Some(j) = &rate.jurisdiction {
        if j.name.trim().is_empty() {
            return Err(invalid(
                field("jurisdiction.name"),
                "a jurisdiction needs a name (it heads its row of the liability report)",
            ));
        }
        if j.code.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(invalid(
                field("jurisdiction.code"),
                "a jurisdiction code may not be empty (leave it out instead)",
            ));
        }
    }
    if let (Some(from), Some(to)) = (rate.effective_from, rate.effective_to) {
        if from >= to {
            return Err(invalid(
                field("effective_to"),
                "effective_to (exclusive) must come after effective_from",
            ));
        }
    }
    Ok(())
}

/// A class rate's unit-price threshold (SPEC 10.5): at most one, `exempt_below` > 0,
/// `taxable_above` >= 0.
fn validate_threshold(field: &dyn Fn(&str) -> String, cr: &ClassRate) -> Result<(), LevyError> {
    if cr.exempt_below.is_some() && cr.taxable_above.is_some() {
        return Err(invalid(
            field("taxable_above"),
            "a class rate carries at most one of exempt_below and taxable_above",
        ));
    }
    if cr.exempt_below.is_some_and(|t| t <= Decimal::ZERO) {
        return Err(invalid(
            field("exempt_below"),
            "exempt_below is a unit price above 0",
        ));
    }
    if cr.taxable_above.is_some_and(|t| t < Decimal::ZERO) {
        return Err(invalid(
            field("taxable_above"),
            "taxable_above is a unit price of 0 or more",
        ));
    }
    Ok(())
}

/// The settings at `at`, against the rate ids that exist.
pub fn validate_settings(
    at: &str,
    settings: &Settings,
    rate_ids: &HashSet<u64>,
) -> Result<(), LevyError> {
    for (code, exemption) in &settings.exemptions {
        if code.trim().is_empty() {
            return Err(invalid(
                format!("{at}.exemptions"),
                "an exemption needs a taxability code",
            ));
        }
        if let Exemption::Rates(ids) = exemption {
            if let Some(id) = ids.iter().find(|id| !rate_ids.contains(id)) {
                return Err(invalid(
                    format!("{at}.exemptions.{code}"),
                    format!("rate {id} does not exist"),
                ));
            }
        }
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: &str) -> Result<ValidRules, LevyError> {
        crate::json::parse::<RulesDocument>(json.as_bytes())?.validate()
    }

    #[test]
    fn the_empty_rule_set_is_the_validated_empty_document() {
        assert_eq!(ValidRules::empty(), doc("{}").unwrap());
    }

    #[test]
    fn empty_document_gets_default_class_and_zone() {
        let d = doc("{}").unwrap();
        assert_eq!(d.classes[0].id, "0");
        assert_eq!(d.zones[0].id, 1);
        assert!(d.rates.is_empty());
        assert_eq!(d.settings, Settings::default());
    }

    #[test]
    fn rejects_what_bigcommerce_rejects() {
        let cases = [
            (
                r#"{"zones":[{"id":1,"name":"d","enabled":false}]}"#,
                "zones[0].enabled",
            ),
            (
                r#"{"zones":[{"id":1,"name":"d","shopper_target_settings":{"locations":[{"country_code":"US"}]}}]}"#,
                "zones[0].shopper_target_settings",
            ),
            (
                r#"{"zones":[{"id":2,"name":"x"}]}"#,
                "zones[0].shopper_target_settings.locations",
            ),
            (
                r#"{"zones":[{"id":2,"name":"x","shopper_target_settings":{"locations":[{"country_code":"USA"}]}}]}"#,
                "zones[0].shopper_target_settings.locations[0].country_code",
            ),
            (
                r#"{"rates":[{"id":1,"tax_zone_id":9,"name":"r","class_rates":[{"tax_class_id":0,"rate":5}]}]}"#,
                "rates[0].tax_zone_id",
            ),
            (
                r#"{"rates":[{"id":1,"tax_zone_id":1,"name":"r","class_rates":[{"tax_class_id":7,"rate":5}]}]}"#,
                "rates[0].class_rates[0].tax_class_id",
            ),
            (
                r#"{"rates":[{"id":1,"tax_zone_id":1,"name":"r","class_rates":[{"tax_class_id":0,"rate":-5}]}]}"#,
                "rates[0].class_rates[0].rate",
            ),
            (
                r#"{"rates":[{"id":1,"tax_zone_id":1,"name":"r","class_rates":[],"effective_from":"2024-02-01","effective_to":"2024-01-01"}]}"#,
                "rates[0].effective_to",
            ),
            (
                r#"{"settings":{"exemptions":{"RESALE":[4]}}}"#,
                "settings.exemptions.RESALE",
            ),
        ];
        for (json, path) in cases {
            let err = doc(json).unwrap_err();
            assert_eq!(err.path.as_deref(), Some(path), "{json}: {err}");
        }
    }

    #[test]
    fn unknown_setting_values_are_refused_with_their_path() {
        let err = doc(r#"{"settings":{"rounding":"per_cent"}}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("settings.rounding"));
        let err = doc(r#"{"settings":{"tax_adress":"billing"}}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidField);
    }

    #[test]
    fn exemptions_take_all_or_rate_ids() {
        let d = doc(
            r#"{"rates":[{"id":3,"tax_zone_id":1,"name":"r","class_rates":[{"tax_class_id":"0","rate":5}]}],
                "settings":{"exemptions":{"TAX-EXEMPT":"all","RESALE":[3]}}}"#,
        )
        .unwrap();
        assert_eq!(d.settings.exemptions["TAX-EXEMPT"], Exemption::All);
        assert_eq!(d.settings.exemptions["RESALE"], Exemption::Rates(vec![3]));
    }

    #[test]
    fn class_codes_are_non_empty_and_unique_ignoring_case_and_spaces() {
        let err = doc(r#"{"classes": [{"id": "1", "name": "A", "code": "CLOTH"}, {"id": "2", "name": "B", "code": " cloth "}]}"#)
            .unwrap_err();
        assert_eq!(err.path.as_deref(), Some("classes[1].code"));
        assert_eq!(err.code, ErrorCode::InvalidRules);
        let err = doc(r#"{"classes": [{"id": "1", "name": "A", "code": "  "}]}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("classes[0].code"));
        assert!(doc(r#"{"classes": [{"id": "1", "name": "A", "code": "CLOTH"}, {"id": "2", "name": "B", "code": "FOOD"}, {"id": "3", "name": "C"}]}"#).is_ok());
    }
}
