//! BigCommerce-shaped rule editing: what `POST / PUT / DELETE .../tax/zones`, `rates`,
//! `classes` and `settings` do to a rules document, with BigCommerce's guards (zone 1
//! stays, class "0" stays, a class in use stays), its cascades (a deleted zone takes its
//! rates, a deleted rate leaves the exemptions), id allocation and the merge of PUT
//! bodies ("fields unspecified by the request retain their current state").
//!
//! Pure: bodies in (the elements of the JSON array), the changed document out. Errors
//! name the element (`[2].name`). The caller validates the whole document afterwards.

use super::model::*;
use super::validate::{validate_rate, validate_zone};
use crate::error::{ErrorCode, LevyError};
use crate::rounding::{RoundingLevel, RoundingMode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

fn bad(path: impl Into<String>, message: impl Into<String>) -> LevyError {
    LevyError::at(ErrorCode::InvalidField, path, message)
}

/// The elements of a body that must be a non-empty JSON array.
pub fn array(body: Value) -> Result<Vec<Value>, LevyError> {
    match body {
        Value::Array(items) if !items.is_empty() => Ok(items),
        Value::Array(_) => Err(bad("", "the array is empty")),
        _ => Err(bad("", "the body must be a JSON array")),
    }
}

/// Parses one array element as `T`, with the element's index in error paths.
fn element<T: serde::de::DeserializeOwned>(i: usize, v: &Value) -> Result<T, LevyError> {
    let text = serde_json::to_vec(v).map_err(|_| LevyError::internal())?;
    crate::json::parse::<T>(&text).map_err(|mut e| {
        e.path = Some(match e.path.as_deref() {
            None | Some("") => format!("[{i}]"),
            Some(p) => format!("[{i}].{p}"),
        });
        e
    })
}

fn elements<T: serde::de::DeserializeOwned>(items: &[Value]) -> Result<Vec<T>, LevyError> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| element(i, v))
        .collect()
}

/// Merges the keys of `patch` into `base`, one level deep for nested objects.
fn merge(base: &mut Value, patch: &Value) {
    if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            match (b.get_mut(k), v) {
                (Some(existing @ Value::Object(_)), Value::Object(_)) => merge(existing, v),
                _ => {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

/// Element `i` of a PUT body applied to the stored item it names by `id`: the item's
/// position and the merged result (unspecified fields keep their value).
fn patched<T: Serialize + serde::de::DeserializeOwned>(
    i: usize,
    patch: &Value,
    items: &[T],
    id_of: impl Fn(&T) -> u64,
    what: &str,
) -> Result<(usize, T), LevyError> {
    let id = patch.get("id").and_then(Value::as_u64).ok_or_else(|| {
        bad(
            format!("[{i}].id"),
            format!("each {what} needs its integer `id`"),
        )
    })?;
    let pos = items.iter().position(|x| id_of(x) == id).ok_or_else(|| {
        LevyError::at(
            ErrorCode::NotFound,
            format!("[{i}].id"),
            format!("{what} {id} does not exist"),
        )
    })?;
    let mut merged = serde_json::to_value(&items[pos]).map_err(|_| LevyError::internal())?;
    merge(&mut merged, patch);
    Ok((pos, element(i, &merged)?))
}

fn yes() -> bool {
    true
}

fn one() -> i64 {
    1
}

// ---- zones --------------------------------------------------------------------------

#[derive(Deserialize)]
struct ZonePost {
    name: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    price_display_settings: PriceDisplaySettings,
    shopper_target_settings: TargetsPost,
    #[serde(default)]
    sourcing: Sourcing,
}

#[derive(Deserialize)]
struct TargetsPost {
    locations: Vec<Location>,
    #[serde(default)]
    customer_groups: Vec<i64>,
}

fn check_zone(i: usize, z: &Zone) -> Result<(), LevyError> {
    if z.name.trim().is_empty() {
        return Err(bad(format!("[{i}].name"), "a zone needs a name"));
    }
    validate_zone(&format!("[{i}]"), z).map(|_| ())
}

/// `POST .../tax/zones`: new zones with the next free ids.
pub fn add_zones(doc: &mut RulesDocument, items: &[Value]) -> Result<Vec<Zone>, LevyError> {
    let posts: Vec<ZonePost> = elements(items)?;
    let first = doc.zones.iter().map(|z| z.id).max().unwrap_or(1).max(1) + 1;
    let mut created = Vec::new();
    for (i, p) in posts.into_iter().enumerate() {
        let zone = Zone {
            id: first + i as u64,
            name: p.name,
            enabled: p.enabled,
            price_display_settings: p.price_display_settings,
            shopper_target_settings: ShopperTargetSettings {
                locations: p.shopper_target_settings.locations,
                customer_groups: p.shopper_target_settings.customer_groups,
            },
            sourcing: p.sourcing,
            imported: None,
        };
        check_zone(i, &zone)?;
        created.push(zone.clone());
        doc.zones.push(zone);
    }
    Ok(created)
}

/// `PUT .../tax/zones`: each element merged into the zone its `id` names.
pub fn replace_zones(doc: &mut RulesDocument, items: &[Value]) -> Result<Vec<Zone>, LevyError> {
    let mut updated = Vec::new();
    for (i, patch) in items.iter().enumerate() {
        let (pos, zone) = patched(i, patch, &doc.zones, |z| z.id, "zone")?;
        if zone.id == DEFAULT_ZONE_ID {
            if !zone.enabled {
                return Err(bad(
                    format!("[{i}].enabled"),
                    "the default zone (1) cannot be disabled",
                ));
            }
            if !zone.shopper_target_settings.locations.is_empty() {
                return Err(bad(
                    format!("[{i}].shopper_target_settings"),
                    "the default zone (1) cannot have locations",
                ));
            }
        }
        check_zone(i, &zone)?;
        doc.zones[pos] = zone.clone();
        updated.push(zone);
    }
    Ok(updated)
}

/// `DELETE .../tax/zones?id:in=`: zone 1 stays; a deleted zone takes its rates along.
pub fn delete_zones(doc: &mut RulesDocument, ids: &[u64]) -> Result<(), LevyError> {
    if ids.contains(&DEFAULT_ZONE_ID) {
        return Err(bad("id:in", "the default zone (1) cannot be deleted"));
    }
    doc.zones.retain(|z| !ids.contains(&z.id));
    let gone: Vec<u64> = doc
        .rates
        .iter()
        .filter(|r| ids.contains(&r.tax_zone_id))
        .map(|r| r.id)
        .collect();
    doc.rates.retain(|r| !ids.contains(&r.tax_zone_id));
    forget_rates(doc, &gone);
    Ok(())
}

/// Removes deleted rates from exemption lists so the rules stay valid.
fn forget_rates(doc: &mut RulesDocument, gone: &[u64]) {
    for e in doc.settings.exemptions.values_mut() {
        if let Exemption::Rates(ids) = e {
            ids.retain(|id| !gone.contains(id));
        }
    }
}

// ---- rates --------------------------------------------------------------------------

#[derive(Deserialize)]
struct RatePost {
    tax_zone_id: u64,
    name: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "one")]
    priority: i64,
    class_rates: Vec<ClassRate>,
    #[serde(default)]
    effective_from: Option<chrono::NaiveDate>,
    #[serde(default)]
    effective_to: Option<chrono::NaiveDate>,
    #[serde(default)]
    shipping: ShippingMode,
    #[serde(default)]
    jurisdiction: Option<Jurisdiction>,
}

/// Checks a rate against the document it joins, with the body index in the path.
fn check_rate(i: usize, rate: &Rate, doc: &RulesDocument) -> Result<(), LevyError> {
    let class_ids: HashSet<String> = doc.classes.iter().map(|c| c.id.clone()).collect();
    let zone_exists = doc.zones.iter().any(|z| z.id == rate.tax_zone_id);
    validate_rate(&format!("[{i}]"), rate, &class_ids, zone_exists)
}

/// `POST .../tax/rates`: new rates with the next free ids.
pub fn add_rates(doc: &mut RulesDocument, items: &[Value]) -> Result<Vec<Rate>, LevyError> {
    let posts: Vec<RatePost> = elements(items)?;
    let first = doc.rates.iter().map(|r| r.id).max().unwrap_or(0) + 1;
    let mut created = Vec::new();
    for (i, p) in posts.into_iter().enumerate() {
        let rate = Rate {
            id: first + i as u64,
            tax_zone_id: p.tax_zone_id,
            name: p.name,
            enabled: p.enabled,
            priority: p.priority,
            class_rates: p.class_rates,
            effective_from: p.effective_from,
            effective_to: p.effective_to,
            shipping: p.shipping,
            jurisdiction: p.jurisdiction,
            imported: None,
        };
        check_rate(i, &rate, doc)?;
        created.push(rate.clone());
        doc.rates.push(rate);
    }
    Ok(created)
}

/// `PUT .../tax/rates`: each element merged into the rate its `id` names.
pub fn replace_rates(doc: &mut RulesDocument, items: &[Value]) -> Result<Vec<Rate>, LevyError> {
    let mut updated = Vec::new();
    for (i, patch) in items.iter().enumerate() {
        let (pos, rate) = patched(i, patch, &doc.rates, |r| r.id, "rate")?;
        check_rate(i, &rate, doc)?;
        doc.rates[pos] = rate.clone();
        updated.push(rate);
    }
    Ok(updated)
}

/// `DELETE .../tax/rates?id:in=`.
pub fn delete_rates(doc: &mut RulesDocument, ids: &[u64]) -> Result<(), LevyError> {
    doc.rates.retain(|r| !ids.contains(&r.id));
    forget_rates(doc, ids);
    Ok(())
}

// ---- classes ------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassPost {
    name: String,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassPut {
    #[serde(with = "crate::json::id_string")]
    id: String,
    name: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

fn check_class_name(
    i: usize,
    name: &str,
    others: &[TaxClass],
    own: Option<&str>,
) -> Result<(), LevyError> {
    let n = name.trim();
    if n.is_empty() || n.len() > 100 || n.contains(['<', '>', '{', '}', '`', '(', ')', ';', '|']) {
        return Err(bad(
            format!("[{i}].name"),
            "a class name has 1 to 100 characters and none of < > { } ` ( ) ; |",
        ));
    }
    if others
        .iter()
        .any(|c| Some(c.id.as_str()) != own && c.name.eq_ignore_ascii_case(n))
    {
        return Err(LevyError::at(
            ErrorCode::Conflict,
            format!("[{i}].name"),
            format!("a class named {n} exists already"),
        ));
    }
    Ok(())
}

/// `POST .../tax/classes`: new classes with the next free numeric ids.
pub fn add_classes(doc: &mut RulesDocument, items: &[Value]) -> Result<Vec<TaxClass>, LevyError> {
    let posts: Vec<ClassPost> = elements(items)?;
    let first = doc
        .classes
        .iter()
        .filter_map(|c| c.id.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let mut created = Vec::new();
    for (i, p) in posts.into_iter().enumerate() {
        check_class_name(i, &p.name, &doc.classes, None)?;
        let class = TaxClass {
            id: (first + i as u64).to_string(),
            name: p.name.trim().to_string(),
            code: p.code,
        };
        created.push(class.clone());
        doc.classes.push(class);
    }
    Ok(created)
}

/// `PUT .../tax/classes`: rename or re-code the classes the elements name.
pub fn replace_classes(
    doc: &mut RulesDocument,
    items: &[Value],
) -> Result<Vec<TaxClass>, LevyError> {
    let puts: Vec<ClassPut> = elements(items)?;
    let mut updated = Vec::new();
    for (i, p) in puts.into_iter().enumerate() {
        let pos = doc
            .classes
            .iter()
            .position(|c| c.id == p.id)
            .ok_or_else(|| {
                LevyError::at(
                    ErrorCode::NotFound,
                    format!("[{i}].id"),
                    format!("class {} does not exist", p.id),
                )
            })?;
        if let Some(name) = &p.name {
            check_class_name(i, name, &doc.classes, Some(&p.id))?;
            doc.classes[pos].name = name.trim().to_string();
        }
        if p.code.is_some() {
            doc.classes[pos].code = p.code;
        }
        updated.push(doc.classes[pos].clone());
    }
    Ok(updated)
}

/// `DELETE .../tax/classes?id:in=`: class "0" stays, and so does a class a rate uses.
pub fn delete_classes(doc: &mut RulesDocument, ids: &[u64]) -> Result<(), LevyError> {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    if ids.iter().any(|id| id == DEFAULT_CLASS_ID) {
        return Err(bad("id:in", "the default tax class (0) cannot be deleted"));
    }
    if let Some(r) = doc
        .rates
        .iter()
        .find(|r| r.class_rates.iter().any(|c| ids.contains(&c.tax_class_id)))
    {
        return Err(LevyError::at(
            ErrorCode::Conflict,
            "id:in",
            format!(
                "rate {} has a rate for this class; change the rate first",
                r.id
            ),
        ));
    }
    doc.classes.retain(|c| !ids.contains(&c.id));
    Ok(())
}

// ---- settings -----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum RoundingStrategy {
    RateRounding,
    NoRounding,
}

/// Levy's own settings; in the settings body they sit beside BigCommerce's fields.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LevySettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rounding_strategy: Option<RoundingStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tax_address: Option<TaxAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rounding: Option<RoundingLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rounding_mode: Option<RoundingMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exemptions: Option<BTreeMap<String, Exemption>>,
}

const LEVY_KEYS: [&str; 5] = [
    "rounding_strategy",
    "tax_address",
    "rounding",
    "rounding_mode",
    "exemptions",
];

/// BigCommerce's `Tax_Settings` body plus Levy's own settings, at one level.
pub fn settings_view(s: &Settings) -> Value {
    let levy = LevySettings {
        // NO_ROUNDING ("a high accuracy total") is rounding once per document.
        rounding_strategy: Some(match s.rounding {
            RoundingLevel::PerRate => RoundingStrategy::RateRounding,
            _ => RoundingStrategy::NoRounding,
        }),
        tax_address: Some(s.tax_address),
        rounding: Some(s.rounding),
        rounding_mode: Some(s.rounding_mode),
        exemptions: Some(s.exemptions.clone()),
    };
    let mut out = serde_json::to_value(&s.bigcommerce).unwrap_or_default();
    merge(&mut out, &serde_json::to_value(levy).unwrap_or_default());
    out
}

fn parse_value<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, LevyError> {
    let text = serde_json::to_vec(v).map_err(|_| LevyError::internal())?;
    crate::json::parse(&text)
}

/// A `PUT .../tax/settings` body, checked before it touches the document.
pub struct SettingsPatch {
    levy: LevySettings,
    store: Value,
}

impl SettingsPatch {
    pub fn parse(body: Value) -> Result<SettingsPatch, LevyError> {
        let Value::Object(mut fields) = body else {
            return Err(bad("", "the settings body is a JSON object"));
        };
        let mut levy_fields = serde_json::Map::new();
        for k in LEVY_KEYS {
            if let Some(v) = fields.remove(k) {
                levy_fields.insert(k.to_string(), v);
            }
        }
        let levy: LevySettings = parse_value(&Value::Object(levy_fields))?;
        let store = Value::Object(fields);
        parse_value::<StoreSettings>(&store)?;
        Ok(SettingsPatch { levy, store })
    }

    /// Merges the patch into the document's settings.
    pub fn apply(self, doc: &mut RulesDocument) -> Result<(), LevyError> {
        let (levy, patch) = (self.levy, self.store);
        let s = &mut doc.settings;
        let mut store = serde_json::to_value(&s.bigcommerce).map_err(|_| LevyError::internal())?;
        merge(&mut store, &patch);
        s.bigcommerce = parse_value(&store)?;
        if let Some(strategy) = levy.rounding_strategy.filter(|_| levy.rounding.is_none()) {
            s.rounding = match strategy {
                RoundingStrategy::RateRounding => RoundingLevel::PerRate,
                RoundingStrategy::NoRounding => RoundingLevel::PerDocument,
            };
        }
        if let Some(v) = levy.tax_address {
            s.tax_address = v;
        }
        if let Some(v) = levy.rounding {
            s.rounding = v;
        }
        if let Some(v) = levy.rounding_mode {
            s.rounding_mode = v;
        }
        if let Some(v) = levy.exemptions {
            s.exemptions = v;
        }
        Ok(())
    }
}

// ---- zone check ---------------------------------------------------------------------

/// One element of BigCommerce's zone-check body.
#[derive(Deserialize)]
pub struct ZoneCheck {
    pub country_code: String,
    #[serde(default)]
    pub subdivision_codes: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    /// Levy's addition: the city, for zones that list cities (SPEC 10.3).
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub customer_group_id: Option<i64>,
}

/// The zone-check body's elements.
pub fn zone_checks(items: &[Value]) -> Result<Vec<ZoneCheck>, LevyError> {
    elements(items)
}
