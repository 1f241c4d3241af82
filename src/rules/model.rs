//! The rule model (SPEC section 3): classes, zones, rates and settings in the shapes
//! of BigCommerce's manual-tax APIs, plus Levy's extensions (effective dates, rounding
//! policy, exemptions). These are the document as written; [`super::ValidRules`] is the
//! same document once validation has accepted it.

use crate::json;
use crate::rounding::{RoundingLevel, RoundingMode};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// The id of the default zone, which applies when no other zone matches.
pub const DEFAULT_ZONE_ID: u64 = 1;
/// The id of the default tax class, which always exists.
pub const DEFAULT_CLASS_ID: &str = "0";
/// The largest class rate accepted, in percent; it keeps compounding far from overflow.
pub const MAX_RATE_PERCENT: u32 = 1000;

/// `{"classes", "zones", "rates", "settings"}`: the unit of import, export and fixtures.
/// Unknown keys are refused, so that a typo (`"zonez"`) or the wrong file (a quote
/// request) is an error rather than an empty document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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

/// A tax code as compared (SPEC 10.2): surrounding spaces and ASCII case ignored.
pub fn normalized_code(code: &str) -> String {
    code.trim().to_ascii_lowercase()
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
    /// Which address prices an intrastate sale (SPEC 10.7).
    #[serde(default, skip_serializing_if = "Sourcing::is_default")]
    pub sourcing: Sourcing,
    /// Set on zones an import created (SPEC 11): a later import changes only those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

/// Which import created a zone or rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Imported {
    /// A US ZIP-code rate table (SPEC 11.1).
    ZipRates,
    /// A WooCommerce tax rate CSV (SPEC 11.2).
    Woocommerce,
}

/// `destination` (default): the zone of the address used; `origin`: a sale inside the
/// origin's state is priced by the origin's zone (SPEC 10.7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sourcing {
    #[default]
    Destination,
    Origin,
}

impl Sourcing {
    fn is_default(&self) -> bool {
        *self == Sourcing::Destination
    }
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
    /// Cities the address must be in (SPEC 10.3); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cities: Vec<String>,
}

/// A city as compared (SPEC 10.3): Unicode lower case, trimmed, each run of white
/// space one space.
pub fn normalized_city(city: &str) -> String {
    city.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
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
    /// How the rate taxes shipping and handling (SPEC 10.6).
    #[serde(default, skip_serializing_if = "ShippingMode::is_default")]
    pub shipping: ShippingMode,
    /// Who the tax is owed to, for the liability report (SPEC 10.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<Jurisdiction>,
    /// Set on rates an import created (SPEC 11): a later import changes only those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

/// `class` (default): shipping and handling are taxed by their own class;
/// `proportional`: in proportion to the goods the rate taxes (SPEC 10.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShippingMode {
    #[default]
    Class,
    Proportional,
}

impl ShippingMode {
    fn is_default(&self) -> bool {
        *self == ShippingMode::Class
    }
}

/// The authority a rate's tax is owed to (SPEC 10.8); it changes no computation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jurisdiction {
    #[serde(rename = "type")]
    pub kind: JurisdictionType,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JurisdictionType {
    Country,
    State,
    Province,
    County,
    City,
    District,
    Special,
}

impl JurisdictionType {
    pub fn as_str(self) -> &'static str {
        match self {
            JurisdictionType::Country => "country",
            JurisdictionType::State => "state",
            JurisdictionType::Province => "province",
            JurisdictionType::County => "county",
            JurisdictionType::City => "city",
            JurisdictionType::District => "district",
            JurisdictionType::Special => "special",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassRate {
    /// The rate in percent: `8.25` is 8.25 %.
    #[serde(with = "json::dec")]
    pub rate: Decimal,
    #[serde(with = "json::id_string")]
    pub tax_class_id: String,
    /// The rate does not apply to a line whose unit price is below this (SPEC 10.5).
    #[serde(
        default,
        with = "json::opt_dec",
        skip_serializing_if = "Option::is_none"
    )]
    pub exempt_below: Option<Decimal>,
    /// The rate taxes only the part of each unit's price above this (SPEC 10.5).
    #[serde(
        default,
        with = "json::opt_dec",
        skip_serializing_if = "Option::is_none"
    )]
    pub taxable_above: Option<Decimal>,
}

impl ClassRate {
    /// The threshold of the class rate, if it has one.
    pub fn threshold(&self) -> Option<Threshold> {
        match (self.exempt_below, self.taxable_above) {
            (Some(t), _) => Some(Threshold::ExemptBelow(t)),
            (None, Some(t)) => Some(Threshold::TaxableAbove(t)),
            (None, None) => None,
        }
    }
}

/// A unit-price threshold of a class rate (SPEC 10.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    ExemptBelow(Decimal),
    TaxableAbove(Decimal),
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
