//! An account's rule set (SPEC section 3): classes, zones, rates and settings in the
//! shapes of BigCommerce's manual-tax APIs, plus Levy's extensions (effective dates,
//! rounding policy, exemptions). [`RulesDocument::validate`] is the single place that
//! decides what a valid rule set is; the engine only ever sees validated rules.

use crate::error::{ErrorCode, LevyError};
use crate::json;
use crate::rounding::{RoundingLevel, RoundingMode};
use crate::zones::PostalPattern;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, HashSet};

/// The id of the default zone, which applies when no other zone matches.
pub const DEFAULT_ZONE_ID: u64 = 1;
/// The id of the default tax class, which always exists.
pub const DEFAULT_CLASS_ID: &str = "0";
/// The largest class rate accepted, in percent; it keeps compounding far from overflow.
pub const MAX_RATE_PERCENT: u32 = 1000;

/// `{"classes", "zones", "rates", "settings"}`: the unit of import, export and fixtures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RulesDocument {
    #[serde(default)]
    pub classes: Vec<TaxClass>,
    #[serde(default)]
    pub zones: Vec<Zone>,
    #[serde(default)]
    pub rates: Vec<Rate>,
    #[serde(default)]
    pub settings: Settings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxClass {
    #[serde(with = "json::id_string")]
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub id: u64,
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub price_display_settings: PriceDisplaySettings,
    #[serde(default)]
    pub shopper_target_settings: ShopperTargetSettings,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceDisplaySettings {
    #[serde(default)]
    pub show_inclusive: bool,
    #[serde(default)]
    pub show_both_on_detail_view: bool,
    #[serde(default)]
    pub show_both_on_list_view: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopperTargetSettings {
    #[serde(default)]
    pub locations: Vec<Location>,
    /// Empty, or containing 0: every shopper. Otherwise only these groups.
    #[serde(default)]
    pub customer_groups: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub country_code: String,
    #[serde(default)]
    pub subdivision_codes: Vec<String>,
    #[serde(default)]
    pub postal_codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub id: u64,
    pub tax_zone_id: u64,
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "one")]
    pub priority: i64,
    pub class_rates: Vec<ClassRate>,
    /// First day the rate applies (inclusive, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<NaiveDate>,
    /// First day the rate no longer applies (exclusive, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_to: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassRate {
    /// The rate in percent: `8.25` is 8.25 %.
    #[serde(with = "json::dec")]
    pub rate: Decimal,
    #[serde(with = "json::id_string")]
    pub tax_class_id: String,
}

/// Which address decides the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxAddress {
    #[default]
    Destination,
    Billing,
    Origin,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub tax_address: TaxAddress,
    #[serde(default)]
    pub rounding: RoundingLevel,
    #[serde(default)]
    pub rounding_mode: RoundingMode,
    /// Taxability code (case-insensitive) -> the rates it exempts.
    #[serde(default)]
    pub exemptions: BTreeMap<String, Exemption>,
    /// BigCommerce's own tax settings, kept so that they round-trip through the
    /// settings endpoint unchanged; they do not change how Levy computes.
    #[serde(default, skip_serializing_if = "StoreSettings::is_empty")]
    pub bigcommerce: StoreSettings,
}

/// The fields of BigCommerce's `Tax_Settings` other than `rounding_strategy`, which maps
/// onto [`Settings::rounding`]. Enumerations are checked, so a typo is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_entered_with_prices: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_display_settings: Option<StorePriceDisplay>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_strategy: Option<FallbackStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_subtract_store_tax: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_use_geolocation_to_determine_guest_shopper_tax_zone: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_shopper_tax_zone_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_tax_zone_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_submission_strategy: Option<DocumentSubmission>,
}

impl StoreSettings {
    pub fn is_empty(&self) -> bool {
        self == &StoreSettings::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorePriceDisplay {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_panel_price_display_strategy: Option<DisplayStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_price_display_strategy: Option<DisplayStrategy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DisplayStrategy {
    Zone,
    Inclusive,
    Exclusive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FallbackStrategy {
    Fixed,
    Basic,
    Disable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DocumentSubmission {
    OnPaymentCapture,
    OnOrderCreation,
}

/// What a taxability code exempts: `"all"` or a list of rate ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exemption {
    All,
    Rates(Vec<u64>),
}

impl Exemption {
    pub fn exempts(&self, rate_id: u64) -> bool {
        match self {
            Exemption::All => true,
            Exemption::Rates(ids) => ids.contains(&rate_id),
        }
    }
}

impl Serialize for Exemption {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Exemption::All => s.serialize_str("all"),
            Exemption::Rates(ids) => ids.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Exemption {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let bad = || D::Error::custom("expected \"all\" or an array of rate ids");
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) if s.eq_ignore_ascii_case("all") => Ok(Exemption::All),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| v.as_u64().ok_or_else(bad))
                .collect::<Result<Vec<_>, _>>()
                .map(Exemption::Rates),
            _ => Err(bad()),
        }
    }
}

fn yes() -> bool {
    true
}

fn one() -> i64 {
    1
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> LevyError {
    LevyError::at(ErrorCode::InvalidRules, path, message)
}

impl RulesDocument {
    /// Checks every rule and fills in what always exists (class "0", zone 1).
    /// The result is what gets stored and what the engine compiles.
    pub fn validate(mut self) -> Result<RulesDocument, LevyError> {
        let mut class_ids = HashSet::new();
        for (i, class) in self.classes.iter().enumerate() {
            if class.id.trim().is_empty() {
                return Err(invalid(
                    format!("classes[{i}].id"),
                    "a class id may not be empty",
                ));
            }
            if !class_ids.insert(class.id.clone()) {
                return Err(invalid(
                    format!("classes[{i}].id"),
                    format!("class id {} appears twice", class.id),
                ));
            }
        }
        if !class_ids.contains(DEFAULT_CLASS_ID) {
            self.classes.insert(
                0,
                TaxClass {
                    id: DEFAULT_CLASS_ID.into(),
                    name: "Default Tax Class".into(),
                    code: None,
                },
            );
            class_ids.insert(DEFAULT_CLASS_ID.into());
        }

        let mut zone_ids = HashSet::new();
        for (i, zone) in self.zones.iter().enumerate() {
            let at = |f: &str| format!("zones[{i}].{f}");
            if zone.id == 0 {
                return Err(invalid(at("id"), "zone ids start at 1"));
            }
            if !zone_ids.insert(zone.id) {
                return Err(invalid(
                    at("id"),
                    format!("zone id {} appears twice", zone.id),
                ));
            }
            let targets = &zone.shopper_target_settings;
            if zone.id == DEFAULT_ZONE_ID {
                if !zone.enabled {
                    return Err(invalid(
                        at("enabled"),
                        "the default zone (1) cannot be disabled",
                    ));
                }
                if !targets.locations.is_empty() || !targets.customer_groups.is_empty() {
                    return Err(invalid(
                        at("shopper_target_settings"),
                        "the default zone (1) applies to every shopper and cannot have locations or customer groups",
                    ));
                }
                continue;
            }
            if targets.locations.is_empty() {
                return Err(invalid(
                    at("shopper_target_settings.locations"),
                    "a zone other than the default zone needs at least one location",
                ));
            }
            for (j, loc) in targets.locations.iter().enumerate() {
                let at = |f: &str| format!("zones[{i}].shopper_target_settings.locations[{j}].{f}");
                let cc = loc.country_code.trim();
                if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(invalid(
                        at("country_code"),
                        format!(
                            "`{}` is not a two-letter ISO 3166-1 country code",
                            loc.country_code
                        ),
                    ));
                }
                for (k, sub) in loc.subdivision_codes.iter().enumerate() {
                    if sub.trim().is_empty() {
                        return Err(invalid(
                            format!("{}[{k}]", at("subdivision_codes")),
                            "empty subdivision code",
                        ));
                    }
                }
                for (k, pattern) in loc.postal_codes.iter().enumerate() {
                    PostalPattern::parse(pattern)
                        .map_err(|m| invalid(format!("{}[{k}]", at("postal_codes")), m))?;
                }
            }
            for (j, g) in targets.customer_groups.iter().enumerate() {
                if *g < 0 {
                    return Err(invalid(
                        format!("zones[{i}].shopper_target_settings.customer_groups[{j}]"),
                        "customer group ids are not negative",
                    ));
                }
            }
        }
        if !zone_ids.contains(&DEFAULT_ZONE_ID) {
            self.zones.insert(
                0,
                Zone {
                    id: DEFAULT_ZONE_ID,
                    name: "Default Tax Zone".into(),
                    enabled: true,
                    price_display_settings: PriceDisplaySettings::default(),
                    shopper_target_settings: ShopperTargetSettings::default(),
                },
            );
        }

        let mut rate_ids = HashSet::new();
        let max = Decimal::from(MAX_RATE_PERCENT);
        for (i, rate) in self.rates.iter().enumerate() {
            let at = |f: &str| format!("rates[{i}].{f}");
            if rate.id == 0 {
                return Err(invalid(at("id"), "rate ids start at 1"));
            }
            if !rate_ids.insert(rate.id) {
                return Err(invalid(
                    at("id"),
                    format!("rate id {} appears twice", rate.id),
                ));
            }
            if !zone_ids.contains(&rate.tax_zone_id) && rate.tax_zone_id != DEFAULT_ZONE_ID {
                return Err(invalid(
                    at("tax_zone_id"),
                    format!("zone {} does not exist", rate.tax_zone_id),
                ));
            }
            if rate.name.trim().is_empty() {
                return Err(invalid(
                    at("name"),
                    "a rate needs a name (it is shown on invoices)",
                ));
            }
            let mut seen = HashSet::new();
            for (j, cr) in rate.class_rates.iter().enumerate() {
                let at = |f: &str| format!("rates[{i}].class_rates[{j}].{f}");
                if !class_ids.contains(&cr.tax_class_id) {
                    return Err(invalid(
                        at("tax_class_id"),
                        format!("tax class {} does not exist", cr.tax_class_id),
                    ));
                }
                if !seen.insert(cr.tax_class_id.clone()) {
                    return Err(invalid(
                        at("tax_class_id"),
                        format!("tax class {} appears twice", cr.tax_class_id),
                    ));
                }
                if cr.rate.is_sign_negative() && !cr.rate.is_zero() {
                    return Err(invalid(at("rate"), "a rate cannot be negative"));
                }
                if cr.rate > max {
                    return Err(invalid(
                        at("rate"),
                        format!("a rate above {MAX_RATE_PERCENT} % is not accepted"),
                    ));
                }
            }
            if let (Some(from), Some(to)) = (rate.effective_from, rate.effective_to) {
                if from >= to {
                    return Err(invalid(
                        at("effective_to"),
                        "effective_to (exclusive) must come after effective_from",
                    ));
                }
            }
        }
        for (code, exemption) in &self.settings.exemptions {
            if code.trim().is_empty() {
                return Err(invalid(
                    "settings.exemptions",
                    "an exemption needs a taxability code",
                ));
            }
            if let Exemption::Rates(ids) = exemption {
                if let Some(id) = ids.iter().find(|id| !rate_ids.contains(id)) {
                    return Err(invalid(
                        format!("settings.exemptions.{code}"),
                        format!("rate {id} does not exist"),
                    ));
                }
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: &str) -> Result<RulesDocument, LevyError> {
        crate::json::parse::<RulesDocument>(json.as_bytes())?.validate()
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
}
