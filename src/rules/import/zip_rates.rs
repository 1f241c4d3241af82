//! US ZIP-code rate tables (SPEC 11.1): the monthly ZIP5 CSV files, one per state or all
//! states concatenated, turned into one zone per ZIP with up to four rates (state,
//! county, city, special), effective from the table's date.
//!
//! Reading is a stream of rows ([`ZipRows`]); applying is pure ([`apply`]): the current
//! rules document and the rows in, the changed document and a summary out. Only zones
//! and rates marked imported are ever changed, so the merchant's own stay as they are.

use crate::error::{ErrorCode, LevyError};
use crate::rules::{
    ClassRate, Imported, Jurisdiction, JurisdictionType, Location, PriceDisplaySettings, Rate,
    RulesDocument, ShippingMode, ShopperTargetSettings, Sourcing, Zone,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// One row of a table: a ZIP of a state and its four rates as fractions (0.0625).
#[derive(Debug, Clone, PartialEq)]
pub struct ZipRow {
    /// The row's line in its file (1 is the header).
    pub line: u64,
    pub state: String,
    pub zip: String,
    pub region: String,
    /// State, county, city, special.
    pub rates: [Decimal; 4],
}

const KINDS: [JurisdictionType; 4] = [
    JurisdictionType::State,
    JurisdictionType::County,
    JurisdictionType::City,
    JurisdictionType::Special,
];
const COMPONENTS: [&str; 4] = [
    "StateRate",
    "EstimatedCountyRate",
    "EstimatedCityRate",
    "EstimatedSpecialRate",
];

fn bad(line: u64, message: impl Into<String>) -> LevyError {
    LevyError::at(
        ErrorCode::InvalidField,
        format!("line {line}"),
        message.into(),
    )
}

/// Where each needed column is, from a header row.
#[derive(Debug, Clone)]
struct Columns {
    state: usize,
    zip: usize,
    region: usize,
    rates: [usize; 4],
    combined: Option<usize>,
}

impl Columns {
    /// The columns of a header row, or `None` when the row is not a header.
    fn of(record: &csv::StringRecord, line: u64) -> Result<Option<Columns>, LevyError> {
        let names: Vec<&str> = record
            .iter()
            .map(|f| f.trim_start_matches('\u{feff}').trim())
            .collect();
        if !names.contains(&"ZipCode") {
            return Ok(None);
        }
        let find = |name: &str| {
            names.iter().position(|n| *n == name).ok_or_else(|| {
                bad(
                    line,
                    format!("the header row has no `{name}` column (needed: State, ZipCode, TaxRegionName, StateRate, EstimatedCountyRate, EstimatedCityRate, EstimatedSpecialRate)"),
                )
            })
        };
        Ok(Some(Columns {
            state: find("State")?,
            zip: find("ZipCode")?,
            region: find("TaxRegionName")?,
            rates: [
                find(COMPONENTS[0])?,
                find(COMPONENTS[1])?,
                find(COMPONENTS[2])?,
                find(COMPONENTS[3])?,
            ],
            combined: names.iter().position(|n| *n == "EstimatedCombinedRate"),
        }))
    }
}

/// The rows of one or more tables read from `input`, a header row before each table's
/// rows (concatenated files repeat it). Quoted fields, a byte-order mark and CRLF line
/// ends are accepted; a row is checked as it is read, and refused with its line number.
pub struct ZipRows<R: std::io::Read> {
    reader: csv::Reader<R>,
    columns: Option<Columns>,
    record: csv::StringRecord,
}

impl<R: std::io::Read> ZipRows<R> {
    pub fn new(input: R) -> ZipRows<R> {
        ZipRows {
            reader: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(input),
            columns: None,
            record: csv::StringRecord::new(),
        }
    }

    /// The next row, `None` at the end of the input.
    pub fn next_row(&mut self) -> Result<Option<ZipRow>, LevyError> {
        loop {
            let more = self.reader.read_record(&mut self.record).map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                bad(line, format!("this is not CSV: {e}"))
            })?;
            if !more {
                return Ok(None);
            }
            let line = self.record.position().map_or(0, |p| p.line());
            if self.record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            if let Some(columns) = Columns::of(&self.record, line)? {
                self.columns = Some(columns);
                continue;
            }
            let Some(columns) = &self.columns else {
                return Err(bad(
                    line,
                    "the file starts without a header row (State, ZipCode, TaxRegionName, StateRate, ...)",
                ));
            };
            return row(&self.record, columns, line).map(Some);
        }
    }
}

fn row(record: &csv::StringRecord, c: &Columns, line: u64) -> Result<ZipRow, LevyError> {
    let field = |i: usize, name: &str| {
        record
            .get(i)
            .map(str::trim)
            .ok_or_else(|| bad(line, format!("the row has no `{name}` field")))
    };
    let state = field(c.state, "State")?.to_ascii_uppercase();
    if state.len() != 2 || !state.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(bad(
            line,
            format!("`{state}` is not a two-letter state code"),
        ));
    }
    let zip = field(c.zip, "ZipCode")?.to_string();
    if zip.len() != 5 || !zip.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            line,
            format!("`{zip}` is not a five-digit ZIP code (a spreadsheet may have dropped its leading zeros)"),
        ));
    }
    let fraction = |i: usize, name: &str| -> Result<Decimal, LevyError> {
        let text = field(i, name)?;
        let value = Decimal::from_str_exact(text)
            .map_err(|_| bad(line, format!("{name} `{text}` is not a number")))?;
        if value < Decimal::ZERO || value >= Decimal::ONE {
            return Err(bad(
                line,
                format!("{name} `{text}` is not a fraction between 0 and 1 (0.0625 is 6.25 %)"),
            ));
        }
        Ok(value)
    };
    let mut rates = [Decimal::ZERO; 4];
    for (k, name) in COMPONENTS.iter().enumerate() {
        rates[k] = fraction(c.rates[k], name)?;
    }
    if let Some(i) = c.combined {
        let combined = fraction(i, "EstimatedCombinedRate")?;
        let sum: Decimal = rates.iter().sum();
        if sum != combined {
            return Err(bad(
                line,
                format!(
                    "the rates add up to {} but EstimatedCombinedRate is {}",
                    sum.normalize(),
                    combined.normalize()
                ),
            ));
        }
    }
    Ok(ZipRow {
        line,
        state,
        zip,
        region: field(c.region, "TaxRegionName")?.to_string(),
        rates,
    })
}

/// What an import changes in one state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    /// ZIPs in the table.
    pub zips: usize,
    pub zones_added: usize,
    /// ZIPs that left the table: their rates are closed, the zone stays for older dates.
    pub zones_closed: usize,
    pub rates_added: usize,
    pub rates_closed: usize,
    pub rates_unchanged: usize,
}

/// What an import changes, per state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZipImportSummary {
    pub effective_from: NaiveDate,
    pub states: BTreeMap<String, StateChange>,
}

impl ZipImportSummary {
    /// The summary as lines of text, one per state.
    pub fn to_text(&self, dry_run: bool) -> String {
        let mut out = format!(
            "{} ZIP-code rates effective from {}:\n",
            if dry_run { "would import" } else { "imported" },
            self.effective_from
        );
        for (state, c) in &self.states {
            out.push_str(&format!(
                "  {state}: {} ZIPs; zones +{} closed {}; rates +{} closed {} unchanged {}\n",
                c.zips,
                c.zones_added,
                c.zones_closed,
                c.rates_added,
                c.rates_closed,
                c.rates_unchanged
            ));
        }
        out
    }
}

/// The first day of the `YYYYMM` in a table's file name (`TAXRATES_ZIP5_CA202401.csv`).
pub fn date_in_file_name(name: &str) -> Option<NaiveDate> {
    let digits: Vec<char> = name.chars().collect();
    (0..digits.len().saturating_sub(5)).rev().find_map(|i| {
        let window: String = digits[i..i + 6].iter().collect();
        let before = i.checked_sub(1).map(|j| digits[j].is_ascii_digit());
        let after = digits.get(i + 6).map(char::is_ascii_digit);
        if before == Some(true)
            || after == Some(true)
            || !window.chars().all(|c| c.is_ascii_digit())
        {
            return None;
        }
        let (year, month) = (window[..4].parse().ok()?, window[4..].parse().ok()?);
        NaiveDate::from_ymd_opt(year, month, 1)
    })
}

fn state_of(zone: &Zone) -> Option<(String, String)> {
    let loc = zone.shopper_target_settings.locations.first()?;
    Some((
        loc.subdivision_codes.first()?.to_ascii_uppercase(),
        loc.postal_codes.first()?.clone(),
    ))
}

fn is_open_at(rate: &Rate, day: NaiveDate) -> bool {
    rate.effective_to.is_none_or(|to| to > day)
}

fn names(kind: JurisdictionType, state: &str, region: &str) -> (String, Jurisdiction) {
    match kind {
        JurisdictionType::State => (
            format!("{state} State"),
            Jurisdiction {
                kind,
                name: state.to_string(),
                code: Some(state.to_string()),
            },
        ),
        _ => {
            let label = match kind {
                JurisdictionType::County => "County",
                JurisdictionType::City => "City",
                _ => "Special",
            };
            (
                format!("{state} {label} ({region})"),
                Jurisdiction {
                    kind,
                    name: region.to_string(),
                    code: Some(state.to_string()),
                },
            )
        }
    }
}

/// Applies a table to `doc` from `from` on: for each state in the rows, its imported
/// rates whose percentage changed, or whose ZIP left the table, are closed the day before
/// `from` (`effective_to = from`) and the new ones added from `from`; unchanged rates stay.
/// Nothing outside the imported zones and rates of those states changes.
pub fn apply(
    doc: &mut RulesDocument,
    rows: Vec<ZipRow>,
    from: NaiveDate,
) -> Result<ZipImportSummary, LevyError> {
    let mut by_state: BTreeMap<String, BTreeMap<String, ZipRow>> = BTreeMap::new();
    for row in rows {
        let zips = by_state.entry(row.state.clone()).or_default();
        if let Some(first) = zips.get(&row.zip) {
            return Err(bad(
                row.line,
                format!(
                    "ZIP {} of {} is already on line {}",
                    row.zip, row.state, first.line
                ),
            ));
        }
        zips.insert(row.zip.clone(), row);
    }
    let mut zone_of: HashMap<(String, String), u64> = HashMap::new();
    for z in doc
        .zones
        .iter()
        .filter(|z| z.imported == Some(Imported::ZipRates))
    {
        if let Some(key) = state_of(z) {
            zone_of.insert(key, z.id);
        }
    }
    // Open imported rates per zone.
    let mut rates_of: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, r) in doc.rates.iter().enumerate() {
        if r.imported == Some(Imported::ZipRates) {
            if r.effective_from.is_some_and(|f| f > from) && is_open_at(r, from) {
                return Err(LevyError::new(
                    ErrorCode::InvalidField,
                    format!(
                        "rate {} was imported from {}, after {from}: import tables in date order",
                        r.id,
                        r.effective_from.unwrap_or(from)
                    ),
                ));
            }
            if is_open_at(r, from) {
                rates_of.entry(r.tax_zone_id).or_default().push(i);
            }
        }
    }
    let mut next_zone = doc.zones.iter().map(|z| z.id).max().unwrap_or(1).max(1) + 1;
    let mut next_rate = doc.rates.iter().map(|r| r.id).max().unwrap_or(0) + 1;
    let mut summary = ZipImportSummary {
        effective_from: from,
        states: BTreeMap::new(),
    };
    let mut new_zones = Vec::new();
    let mut new_rates = Vec::new();
    let mut dropped = Vec::new();
    for (state, zips) in &by_state {
        let change = summary.states.entry(state.clone()).or_default();
        change.zips = zips.len();
        for (zip, row) in zips {
            let zone_id = match zone_of.get(&(state.clone(), zip.clone())) {
                Some(id) => *id,
                None => {
                    let id = next_zone;
                    next_zone += 1;
                    change.zones_added += 1;
                    new_zones.push(Zone {
                        id,
                        name: format!("ZIP {zip} {}", row.region).trim_end().to_string(),
                        enabled: true,
                        price_display_settings: PriceDisplaySettings::default(),
                        shopper_target_settings: ShopperTargetSettings {
                            locations: vec![Location {
                                country_code: "US".into(),
                                subdivision_codes: vec![state.clone()],
                                postal_codes: vec![zip.clone()],
                                cities: Vec::new(),
                            }],
                            customer_groups: Vec::new(),
                        },
                        sourcing: Sourcing::Destination,
                        imported: Some(Imported::ZipRates),
                    });
                    id
                }
            };
            let open = rates_of.remove(&zone_id).unwrap_or_default();
            for (k, kind) in KINDS.iter().enumerate() {
                let percent = (row.rates[k] * Decimal::ONE_HUNDRED).normalize();
                let current = open
                    .iter()
                    .copied()
                    .find(|&i| doc.rates[i].jurisdiction.as_ref().map(|j| j.kind) == Some(*kind));
                if let Some(i) = current {
                    let r = &mut doc.rates[i];
                    if r.class_rates.first().map(|c| c.rate.normalize()) == Some(percent) {
                        change.rates_unchanged += 1;
                        continue;
                    }
                    change.rates_closed += 1;
                    if r.effective_from == Some(from) {
                        dropped.push(i);
                    } else {
                        r.effective_to = Some(from);
                    }
                }
                if percent.is_zero() {
                    continue;
                }
                let (name, jurisdiction) = names(*kind, state, &row.region);
                new_rates.push(Rate {
                    id: next_rate,
                    tax_zone_id: zone_id,
                    name,
                    enabled: true,
                    priority: 1,
                    class_rates: vec![ClassRate {
                        rate: percent,
                        tax_class_id: crate::rules::DEFAULT_CLASS_ID.into(),
                        exempt_below: None,
                        taxable_above: None,
                    }],
                    effective_from: Some(from),
                    effective_to: None,
                    shipping: ShippingMode::Class,
                    jurisdiction: Some(jurisdiction),
                    imported: Some(Imported::ZipRates),
                });
                next_rate += 1;
                change.rates_added += 1;
            }
        }
    }
    // ZIPs of the imported states that left their table: close what is still open.
    for ((state, _), zone_id) in &zone_of {
        let Some(change) = summary.states.get_mut(state) else {
            continue;
        };
        if let Some(open) = rates_of.remove(zone_id) {
            change.zones_closed += 1;
            for i in open {
                change.rates_closed += 1;
                if doc.rates[i].effective_from == Some(from) {
                    dropped.push(i);
                } else {
                    doc.rates[i].effective_to = Some(from);
                }
            }
        }
    }
    if !dropped.is_empty() {
        dropped.sort_unstable();
        let mut k = 0;
        doc.rates.retain(|_| {
            let keep = dropped.binary_search(&k).is_err();
            k += 1;
            keep
        });
    }
    doc.zones.extend(new_zones);
    doc.rates.extend(new_rates);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Result<Vec<ZipRow>, LevyError> {
        let mut r = ZipRows::new(text.as_bytes());
        let mut out = Vec::new();
        while let Some(row) = r.next_row()? {
            out.push(row);
        }
        Ok(out)
    }

    #[test]
    fn columns_by_name_in_any_order_quoted_with_bom_and_crlf() {
        let text = "\u{feff}State,ZipCode,TaxRegionName,EstimatedCombinedRate,StateRate,EstimatedCountyRate,EstimatedCityRate,EstimatedSpecialRate,RiskLevel\r\n\
                    MA,\"01001\",\"AGAWAM, TOWN\",0.0625,0.0625,0,0,0,1\r\n\
                    \r\n\
                    ZipCode,State,StateRate,EstimatedSpecialRate,EstimatedCityRate,EstimatedCountyRate,TaxRegionName\n\
                    07001,NJ,0.06625,0,0,0,AVENEL\n";
        let r = rows(text).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].zip, "01001");
        assert_eq!(r[0].region, "AGAWAM, TOWN");
        assert_eq!(r[0].rates[0], Decimal::new(625, 4));
        assert_eq!((r[1].state.as_str(), r[1].zip.as_str()), ("NJ", "07001"));
        assert_eq!(r[1].rates[0], Decimal::new(6625, 5));
        assert_eq!(r[1].line, 5);
    }

    #[test]
    fn a_row_that_does_not_add_up_is_refused_with_its_line() {
        let text = "State,ZipCode,TaxRegionName,StateRate,EstimatedCombinedRate,EstimatedCountyRate,EstimatedCityRate,EstimatedSpecialRate\n\
                    CA,90001,LOS ANGELES,0.06,0.095,0.0025,0.0225,0.01\n\
                    CA,90002,LOS ANGELES,0.06,0.096,0.0025,0.0225,0.01\n";
        let err = rows(text).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("line 3"));
        assert!(err.message.contains("add up to 0.095"), "{}", err.message);
        let err = rows("State,ZipCode,TaxRegionName,StateRate,EstimatedCountyRate,EstimatedCityRate,EstimatedSpecialRate\nCA,9001,X,0.06,0,0,0\n").unwrap_err();
        assert_eq!(err.path.as_deref(), Some("line 2"));
        let err = rows("CA,90001,X,0.06,0,0,0\n").unwrap_err();
        assert_eq!(err.path.as_deref(), Some("line 1"));
    }

    #[test]
    fn the_date_comes_from_the_file_name() {
        assert_eq!(
            date_in_file_name("TAXRATES_ZIP5_CA202401.csv"),
            NaiveDate::from_ymd_opt(2024, 1, 1)
        );
        assert_eq!(date_in_file_name("rates.csv"), None);
        assert_eq!(date_in_file_name("CA202413.csv"), None);
    }
}
