//! WooCommerce's tax rate CSV (SPEC 11.2), read into and written from a rules document.
//!
//! `Country code, State code, Postcode / ZIP, City, Rate %, Tax name, Priority, Compound,
//! Shipping, Tax class`. How each column maps, and what cannot be carried over, is told to
//! merchants in `docs/rules.md` ("Importing WooCommerce tax rates"); in short:
//! * each distinct location (country, state, postcodes, cities) is one zone; the row with
//!   no location at all goes to the default zone;
//! * each row is one rate of its zone with one class rate: the standard class is class
//!   `"0"`, another slug a class with that id and code; a standard rate also lists every
//!   other class of the file at 0 %, because WooCommerce never applies one class's rate to
//!   another (Levy would fall back to class 0);
//! * non-compound rows are priority 1 (summed on the price), compound rows later
//!   priorities in the order of their WooCommerce priority (charged on price and taxes);
//! * `Shipping = 0` is a 0 % class rate for the class `shipping` (code `shipping`), the
//!   class BigCommerce's shipping lines are then sent with.
//!
//! An import replaces what an earlier WooCommerce import made and nothing else.

use crate::error::{ErrorCode, LevyError};
use crate::rules::postal::PostalPattern;
use crate::rules::{
    ClassRate, Imported, Location, PriceDisplaySettings, Rate, RulesDocument, ShippingMode,
    ShopperTargetSettings, Sourcing, TaxClass, Zone, DEFAULT_CLASS_ID, DEFAULT_ZONE_ID,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The class `Shipping = 0` rows exempt: BigCommerce sends shipping lines with its code.
pub const SHIPPING_CLASS: &str = "shipping";

const HEADER: [&str; 10] = [
    "Country code",
    "State code",
    "Postcode / ZIP",
    "City",
    "Rate %",
    "Tax name",
    "Priority",
    "Compound",
    "Shipping",
    "Tax class",
];

fn bad(line: u64, message: impl Into<String>) -> LevyError {
    LevyError::at(
        ErrorCode::InvalidField,
        format!("line {line}"),
        message.into(),
    )
}

/// One row of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct WooRow {
    pub line: u64,
    pub country: String,
    pub state: String,
    pub postcodes: Vec<String>,
    pub cities: Vec<String>,
    pub rate: Decimal,
    pub name: String,
    pub priority: u32,
    pub compound: bool,
    pub shipping: bool,
    /// `""` for the standard class.
    pub class: String,
}

fn list(field: &str) -> Vec<String> {
    field
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn flag(text: &str, name: &str, line: u64) -> Result<bool, LevyError> {
    match text.trim() {
        "1" => Ok(true),
        "0" | "" => Ok(false),
        other => Err(bad(line, format!("{name} `{other}` is not 0 or 1"))),
    }
}

/// Reads a WooCommerce tax rate CSV; a row Levy cannot carry over is refused with its
/// line and the reason.
pub fn read(input: impl std::io::Read) -> Result<Vec<WooRow>, LevyError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut columns: Option<Vec<usize>> = None;
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            bad(
                e.position().map_or(0, |p| p.line()),
                format!("this is not CSV: {e}"),
            )
        })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let Some(cols) = &columns else {
            let names: Vec<String> = record
                .iter()
                .map(|f| f.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
                .collect();
            let found = HEADER
                .iter()
                .map(|h| {
                    names
                        .iter()
                        .position(|n| n == &h.to_ascii_lowercase())
                        .ok_or_else(|| bad(line, format!("the header row has no `{h}` column")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            columns = Some(found);
            continue;
        };
        let f = |k: usize| record.get(cols[k]).unwrap_or("").trim();
        let country = match f(0) {
            "*" => String::new(),
            c => c.to_ascii_uppercase(),
        };
        let state = match f(1) {
            "*" => String::new(),
            s => s.to_ascii_uppercase(),
        };
        let postcodes = list(f(2))
            .into_iter()
            .filter(|p| p != "*")
            .collect::<Vec<_>>();
        let cities = list(f(3))
            .into_iter()
            .filter(|c| c != "*")
            .collect::<Vec<_>>();
        if country.is_empty() && !(state.is_empty() && postcodes.is_empty() && cities.is_empty()) {
            return Err(bad(
                line,
                "a state, postcode or city of every country cannot be carried over: a Levy zone names its country",
            ));
        }
        for p in &postcodes {
            PostalPattern::parse_in(&country, p)
                .map_err(|m| bad(line, format!("postcode `{p}`: {m}")))?;
        }
        let rate = Decimal::from_str_exact(f(4))
            .map_err(|_| bad(line, format!("Rate % `{}` is not a number", f(4))))?;
        if rate < Decimal::ZERO || rate > Decimal::from(crate::rules::MAX_RATE_PERCENT) {
            return Err(bad(line, format!("Rate % `{rate}` is outside 0 to 1000")));
        }
        let priority: u32 = f(6).parse().ok().filter(|p| *p >= 1).ok_or_else(|| {
            bad(
                line,
                format!("Priority `{}` is not a whole number from 1", f(6)),
            )
        })?;
        let class = f(9).to_ascii_lowercase();
        if class == SHIPPING_CLASS {
            return Err(bad(
                line,
                "the tax class `shipping` is Levy's class for untaxed shipping; rename it",
            ));
        }
        rows.push(WooRow {
            line,
            country,
            state,
            postcodes,
            cities,
            rate,
            name: match f(5) {
                "" => "Tax".to_string(),
                n => n.to_string(),
            },
            priority,
            compound: flag(f(7), "Compound", line)?,
            shipping: flag(f(8), "Shipping", line)?,
            class,
        });
    }
    if columns.is_none() {
        return Err(bad(
            0,
            "the file is empty: it needs the header row and rates",
        ));
    }
    Ok(rows)
}

/// What an import made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WooSummary {
    pub zones: usize,
    pub rates: usize,
    pub classes_added: Vec<String>,
}

type LocationKey = (String, String, Vec<String>, Vec<String>);

/// Replaces what an earlier WooCommerce import made with the rows; nothing else changes.
pub fn apply(doc: &mut RulesDocument, rows: Vec<WooRow>) -> Result<WooSummary, LevyError> {
    // WooCommerce applies one rate per priority for a location and class: the first.
    let mut seen: HashMap<(LocationKey, String, u32), u64> = HashMap::new();
    for r in &rows {
        let key = (location_key(r), r.class.clone(), r.priority);
        if let Some(first) = seen.insert(key, r.line) {
            return Err(bad(
                r.line,
                format!("line {first} has the same location, class and priority: WooCommerce applies only the first, Levy would apply both"),
            ));
        }
    }
    refuse_overlaps(&rows)?;
    let gone: BTreeSet<u64> = doc
        .zones
        .iter()
        .filter(|z| z.imported == Some(Imported::Woocommerce))
        .map(|z| z.id)
        .collect();
    doc.zones.retain(|z| !gone.contains(&z.id));
    doc.rates
        .retain(|r| r.imported != Some(Imported::Woocommerce) && !gone.contains(&r.tax_zone_id));
    let mut summary = WooSummary::default();
    // Classes: the file's slugs, and `shipping` when a row does not tax shipping.
    let mut slugs: BTreeSet<String> = rows
        .iter()
        .map(|r| r.class.clone())
        .filter(|c| !c.is_empty())
        .collect();
    if rows.iter().any(|r| !r.shipping) {
        slugs.insert(SHIPPING_CLASS.to_string());
    }
    for slug in &slugs {
        if !doc.classes.iter().any(|c| &c.id == slug) {
            doc.classes.push(TaxClass {
                id: slug.clone(),
                name: slug.clone(),
                code: Some(slug.clone()),
            });
            summary.classes_added.push(slug.clone());
        }
    }
    // Compound priorities, in order: priority 2, 3, ... of Levy.
    let compound: BTreeSet<u32> = rows
        .iter()
        .filter(|r| r.compound)
        .map(|r| r.priority)
        .collect();
    let levy_priority = |r: &WooRow| {
        if r.compound {
            2 + compound.range(..r.priority).count() as i64
        } else {
            1
        }
    };
    let mut next_zone = doc.zones.iter().map(|z| z.id).max().unwrap_or(1).max(1) + 1;
    let first_rate = doc.rates.iter().map(|r| r.id).max().unwrap_or(0) + 1;
    let mut zones: BTreeMap<LocationKey, u64> = BTreeMap::new();
    for (rate_id, r) in (first_rate..).zip(&rows) {
        let key = location_key(r);
        let zone_id = if r.country.is_empty() {
            DEFAULT_ZONE_ID
        } else if let Some(id) = zones.get(&key) {
            *id
        } else {
            let id = next_zone;
            next_zone += 1;
            zones.insert(key.clone(), id);
            doc.zones.push(Zone {
                id,
                name: zone_name(r),
                enabled: true,
                price_display_settings: PriceDisplaySettings::default(),
                shopper_target_settings: ShopperTargetSettings {
                    locations: vec![Location {
                        country_code: r.country.clone(),
                        subdivision_codes: if r.state.is_empty() {
                            Vec::new()
                        } else {
                            vec![r.state.clone()]
                        },
                        postal_codes: r.postcodes.clone(),
                        cities: r.cities.clone(),
                    }],
                    customer_groups: Vec::new(),
                },
                sourcing: Sourcing::Destination,
                imported: Some(Imported::Woocommerce),
            });
            summary.zones += 1;
            id
        };
        let class = if r.class.is_empty() {
            DEFAULT_CLASS_ID.to_string()
        } else {
            r.class.clone()
        };
        let entry = |class: &str, rate: Decimal| ClassRate {
            rate,
            tax_class_id: class.to_string(),
            exempt_below: None,
            taxable_above: None,
        };
        let mut class_rates = vec![entry(&class, r.rate)];
        if class == DEFAULT_CLASS_ID {
            // No fallback to the standard rate for the file's other classes.
            for slug in slugs.iter().filter(|s| s.as_str() != SHIPPING_CLASS) {
                class_rates.push(entry(slug, Decimal::ZERO));
            }
        }
        if !r.shipping && class == DEFAULT_CLASS_ID {
            class_rates.push(entry(SHIPPING_CLASS, Decimal::ZERO));
        }
        doc.rates.push(Rate {
            id: rate_id,
            tax_zone_id: zone_id,
            name: r.name.clone(),
            enabled: true,
            priority: levy_priority(r),
            class_rates,
            effective_from: None,
            effective_to: None,
            shipping: ShippingMode::Class,
            jurisdiction: None,
            imported: Some(Imported::Woocommerce),
        });
        summary.rates += 1;
    }
    Ok(summary)
}

/// WooCommerce applies, per priority, a rate of every location an address matches; Levy
/// prices an address by its most specific zone only. So a file where one location
/// contains another (the same country, and each list the wider one fills equal) is refused.
fn refuse_overlaps(rows: &[WooRow]) -> Result<(), LevyError> {
    let mut first: Vec<(LocationKey, u64)> = Vec::new();
    for r in rows {
        let key = location_key(r);
        if !first.iter().any(|(k, _)| *k == key) {
            first.push((key, r.line));
        }
    }
    let wider = |a: &LocationKey, b: &LocationKey| {
        a != b
            && (a.0.is_empty() || a.0 == b.0)
            && (a.1.is_empty() || a.1 == b.1)
            && (a.2.is_empty() || a.2 == b.2)
            && (a.3.is_empty() || a.3 == b.3)
    };
    for (a, line_a) in &first {
        if let Some((_, line_b)) = first.iter().find(|(b, _)| wider(a, b)) {
            return Err(bad(
                (*line_a).max(*line_b),
                format!(
                    "lines {} and {}: an address of the narrower location also matches the wider one, and WooCommerce applies both; Levy applies only the more specific zone",
                    line_a.min(line_b),
                    line_a.max(line_b)
                ),
            ));
        }
    }
    Ok(())
}

fn location_key(r: &WooRow) -> LocationKey {
    (
        r.country.clone(),
        r.state.clone(),
        r.postcodes.clone(),
        r.cities.clone(),
    )
}

fn zone_name(r: &WooRow) -> String {
    let mut parts = vec![r.country.clone()];
    parts.extend([r.state.clone(), r.postcodes.join(";"), r.cities.join(";")]);
    let place: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    format!("WooCommerce {}", place.join(" "))
}

/// The account's rules as a WooCommerce tax rate CSV: each location of each zone, each
/// rate, each class it taxes. What WooCommerce cannot say is refused with its path.
pub fn write(doc: &RulesDocument) -> Result<String, LevyError> {
    let unsupported = |path: String, what: &str| {
        LevyError::at(
            ErrorCode::InvalidRules,
            path,
            format!("{what}: WooCommerce's tax rates cannot say this"),
        )
    };
    for (i, z) in doc.zones.iter().enumerate() {
        if z.enabled && z.sourcing != Sourcing::Destination {
            return Err(unsupported(
                format!("zones[{i}].sourcing"),
                "origin sourcing",
            ));
        }
        let groups = &z.shopper_target_settings.customer_groups;
        if z.enabled && !groups.is_empty() && !groups.contains(&0) {
            return Err(unsupported(
                format!("zones[{i}].shopper_target_settings.customer_groups"),
                "a zone for some customer groups",
            ));
        }
    }
    for (i, r) in doc.rates.iter().enumerate() {
        if !r.enabled {
            continue;
        }
        if r.shipping != ShippingMode::Class {
            return Err(unsupported(
                format!("rates[{i}].shipping"),
                "shipping in proportion to the goods",
            ));
        }
        if r.effective_from.is_some() || r.effective_to.is_some() {
            return Err(unsupported(
                format!("rates[{i}].effective_from"),
                "an effective date",
            ));
        }
        if let Some(j) = r
            .class_rates
            .iter()
            .position(|c| c.exempt_below.is_some() || c.taxable_above.is_some())
        {
            return Err(unsupported(
                format!("rates[{i}].class_rates[{j}]"),
                "a unit-price threshold",
            ));
        }
    }
    // Class id -> WooCommerce slug ("" for the standard class).
    let slug = |id: &str| -> String {
        if id == DEFAULT_CLASS_ID {
            return String::new();
        }
        doc.classes
            .iter()
            .find(|c| c.id == id)
            .and_then(|c| c.code.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let classes: Vec<&str> = doc
        .classes
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| *id != DEFAULT_CLASS_ID && *id != SHIPPING_CLASS)
        .collect();
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let _ = w.write_record(HEADER);
    // Zone 1 last: WooCommerce takes, per priority, the first row an address matches, so
    // rows for every country after the others act as Levy's default zone does.
    let mut zones: Vec<&Zone> = doc.zones.iter().filter(|z| z.enabled).collect();
    zones.sort_by_key(|z| (z.id == DEFAULT_ZONE_ID, z.id));
    for zone in zones {
        let mut rates: Vec<&Rate> = doc
            .rates
            .iter()
            .filter(|r| r.enabled && r.tax_zone_id == zone.id)
            .collect();
        rates.sort_by_key(|r| (r.priority, r.id));
        let locations: Vec<(String, String, String, String)> = if zone.id == DEFAULT_ZONE_ID {
            vec![Default::default()]
        } else {
            zone.shopper_target_settings
                .locations
                .iter()
                .flat_map(|l| {
                    let states = if l.subdivision_codes.is_empty() {
                        vec![String::new()]
                    } else {
                        l.subdivision_codes.clone()
                    };
                    states.into_iter().map(move |s| {
                        (
                            l.country_code.clone(),
                            s,
                            l.postal_codes.join(";"),
                            l.cities.join(";"),
                        )
                    })
                })
                .collect()
        };
        for (country, state, postcodes, cities) in &locations {
            // WooCommerce priorities: one per rate, in Levy's order.
            for (n, rate) in rates.iter().enumerate() {
                let taxes_shipping = !rate
                    .class_rates
                    .iter()
                    .any(|c| c.tax_class_id == SHIPPING_CLASS && c.rate.is_zero());
                let standard = rate
                    .class_rates
                    .iter()
                    .find(|c| c.tax_class_id == DEFAULT_CLASS_ID);
                // Each class the rate taxes: its own entries, and classes it reaches
                // through class 0; a 0 % entry beside a standard rate only blocks that.
                let mut rows: Vec<(String, Decimal)> = Vec::new();
                if let Some(s) = standard {
                    rows.push((String::new(), s.rate));
                }
                for c in &rate.class_rates {
                    if c.tax_class_id == DEFAULT_CLASS_ID || c.tax_class_id == SHIPPING_CLASS {
                        continue;
                    }
                    if standard.is_some() && c.rate.is_zero() {
                        continue;
                    }
                    rows.push((slug(&c.tax_class_id), c.rate));
                }
                if let Some(s) = standard {
                    for id in &classes {
                        if !rate.class_rates.iter().any(|c| &c.tax_class_id == id) {
                            rows.push((slug(id), s.rate));
                        }
                    }
                }
                for (class, percent) in rows {
                    let _ = w.write_record([
                        country.as_str(),
                        state.as_str(),
                        postcodes.as_str(),
                        cities.as_str(),
                        &format!("{:.4}", percent),
                        rate.name.as_str(),
                        &(n + 1).to_string(),
                        if rate.priority > rates[0].priority {
                            "1"
                        } else {
                            "0"
                        },
                        if taxes_shipping { "1" } else { "0" },
                        class.as_str(),
                    ]);
                }
            }
        }
    }
    Ok(String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_levy_cannot_carry_over_are_refused_with_line_and_reason() {
        let head = "Country code,State code,Postcode / ZIP,City,Rate %,Tax name,Priority,Compound,Shipping,Tax class\n";
        let err = read(format!("{head},CA,,,7.25,Tax,1,0,1,\n").as_bytes()).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("line 2"));
        let err =
            read(format!("{head}US,CA,90210...902159,,7.25,Tax,1,0,1,\n").as_bytes()).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("line 2"));
        let rows =
            read(format!("{head}US,CA,,,7.25,Tax,1,0,1,\nUS,CA,,,1,Extra,1,0,1,\n").as_bytes())
                .unwrap();
        let err = apply(&mut RulesDocument::default(), rows).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("line 3"));
        let rows = read(
            format!("{head}US,CA,,,7.25,Tax,1,0,1,\nUS,CA,90210,,1,Extra,2,0,1,\n").as_bytes(),
        )
        .unwrap();
        let err = apply(&mut RulesDocument::default(), rows).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("line 3"));
        assert!(
            err.message.contains("WooCommerce applies both"),
            "{}",
            err.message
        );
    }
}
