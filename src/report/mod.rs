//! The liability reports: committed, non-voided tax by rate (from the responses) or by
//! jurisdiction (from the audits) and currency over a range of transaction dates, from
//! the latest version of each quote. Pure: records in, rows out.

use crate::audit::Audit;
use crate::engine::transaction_day;
use crate::quote::{LineResponse, QuoteRequest, QuoteResponse};
use crate::rules::Jurisdiction;
use crate::store::{QuoteHead, QuoteRecord, QuoteStatus, QuoteVersion};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One rate in one currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiabilityRow {
    /// The rate id as it appears in `sales_tax_summary`.
    pub rate_id: String,
    pub rate_name: String,
    pub currency: String,
    /// Sum of the tax-exclusive amounts of the lines this rate taxed.
    #[serde(with = "crate::json::dec")]
    pub taxable_amount: Decimal,
    #[serde(with = "crate::json::dec")]
    pub tax: Decimal,
    /// Quotes in which the rate appears.
    pub count: usize,
    /// Lines the rate taxed.
    pub lines: usize,
}

#[derive(Default)]
struct Acc {
    name: String,
    taxable: Decimal,
    tax: Decimal,
    /// Quotes (store hash, id) in which the rate appears.
    quotes: BTreeSet<(String, String)>,
    lines: usize,
}

/// The liability report being added up, one quote at a time: a store streams its quotes
/// through [`Liability::add`], so memory follows the rates, not the number of quotes.
pub struct Liability {
    from: NaiveDate,
    to: NaiveDate,
    acc: BTreeMap<(String, String), Acc>,
}

impl Liability {
    /// A report of quotes whose transaction date (UTC) is within `from..=to`.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Liability {
        Liability {
            from,
            to,
            acc: BTreeMap::new(),
        }
    }

    /// Adds a quote, given its head and latest priced version; voided quotes and quotes
    /// outside the range add nothing.
    pub fn add(&mut self, head: &QuoteHead, latest: Option<&QuoteVersion>) {
        let Some((request, latest)) = counted(head, latest, self.from, self.to) else {
            return;
        };
        let Some(raw) = &latest.response else {
            return;
        };
        let Ok(response) = serde_json::from_str::<QuoteResponse>(raw.get()) else {
            tracing::error!(quote = ?head.id, "stored response does not decode; left out of the report");
            return;
        };
        let currency = request.currency_code.to_ascii_uppercase();
        for line in lines(&response) {
            for tax in &line.price.sales_tax_summary {
                let a = self
                    .acc
                    .entry((currency.clone(), tax.id.to_string()))
                    .or_default();
                a.name = tax.name.to_string();
                a.taxable += line.price.amount_exclusive;
                a.tax += tax.amount;
                a.quotes.insert((head.store_hash.clone(), head.id.clone()));
                a.lines += 1;
            }
        }
    }

    /// The rows, ordered by currency then rate id.
    pub fn rows(self) -> Vec<LiabilityRow> {
        self.acc
            .into_iter()
            .map(|((currency, rate_id), a)| LiabilityRow {
                rate_id,
                rate_name: a.name,
                currency,
                taxable_amount: a.taxable.normalize(),
                tax: a.tax.normalize(),
                count: a.quotes.len(),
                lines: a.lines,
            })
            .collect()
    }
}

/// The request and latest priced version of a quote a report counts: committed, not
/// voided, its transaction day (UTC) within `from..=to`.
fn counted<'a>(
    head: &QuoteHead,
    latest: Option<&'a QuoteVersion>,
    from: NaiveDate,
    to: NaiveDate,
) -> Option<(&'a QuoteRequest, &'a QuoteVersion)> {
    if head.status != QuoteStatus::Committed {
        return None;
    }
    let latest = latest?;
    let request = latest.request.as_ref()?;
    let day = transaction_day(&request.transaction_date).ok()?;
    (from <= day && day <= to).then_some((request, latest))
}

/// Rows for whole records (see [`Liability`]).
pub fn liability(records: &[QuoteRecord], from: NaiveDate, to: NaiveDate) -> Vec<LiabilityRow> {
    let mut report = Liability::new(from, to);
    for record in records {
        report.add(&record.head(), record.latest_priced());
    }
    report.rows()
}

fn lines(response: &QuoteResponse) -> impl Iterator<Item = &LineResponse> {
    response.documents.iter().flat_map(|d| {
        d.items
            .iter()
            .flat_map(|i| std::iter::once(i).chain(i.wrapping.as_deref()))
            .chain([&d.shipping, &d.handling])
    })
}

/// CSV text with a header row, `\n` line ends: every report's download is written here.
pub(crate) fn csv_text<const N: usize>(
    header: [&str; N],
    rows: impl Iterator<Item = [String; N]>,
) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(r);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The report as CSV, with a header row.
pub fn to_csv(rows: &[LiabilityRow]) -> String {
    csv_text(
        [
            "rate_id",
            "rate_name",
            "currency",
            "taxable_amount",
            "tax",
            "count",
            "lines",
        ],
        rows.iter().map(|r| {
            [
                r.rate_id.clone(),
                r.rate_name.clone(),
                r.currency.clone(),
                r.taxable_amount.to_string(),
                r.tax.to_string(),
                r.count.to_string(),
                r.lines.to_string(),
            ]
        }),
    )
}

/// One jurisdiction in one currency (SPEC 10.8).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JurisdictionRow {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// `""` when the jurisdiction has no code.
    pub code: String,
    pub currency: String,
    /// Per line, the largest base on which a rate of the jurisdiction applied.
    #[serde(with = "crate::json::dec")]
    pub taxable: Decimal,
    /// Per line where none of the jurisdiction's rates in the zone applied: its
    /// exclusive amount.
    #[serde(with = "crate::json::dec")]
    pub exempt: Decimal,
    #[serde(with = "crate::json::dec")]
    pub tax: Decimal,
    /// Lines counted in `taxable` or `exempt`.
    pub lines: usize,
}

#[derive(Default)]
struct JurisdictionAcc {
    taxable: Decimal,
    exempt: Decimal,
    tax: Decimal,
    lines: usize,
}

/// The liability report by jurisdiction, computed from the audit each committed
/// version keeps, never from today's rules. Rates without a jurisdiction have no row
/// (the report by rate shows them); versions committed before audits were kept are
/// left out, and logged.
pub struct ByJurisdiction {
    from: NaiveDate,
    to: NaiveDate,
    /// (type, name, code, currency): sorted as the rows are.
    acc: BTreeMap<(String, String, String, String), JurisdictionAcc>,
}

impl ByJurisdiction {
    pub fn new(from: NaiveDate, to: NaiveDate) -> ByJurisdiction {
        ByJurisdiction {
            from,
            to,
            acc: BTreeMap::new(),
        }
    }

    /// Adds a quote, given its head and latest priced version (see [`Liability::add`]).
    pub fn add(&mut self, head: &QuoteHead, latest: Option<&QuoteVersion>) {
        let Some((request, latest)) = counted(head, latest, self.from, self.to) else {
            return;
        };
        let Some(raw) = &latest.audit else {
            tracing::warn!(quote = ?head.id, "committed before audits were kept; left out of the jurisdiction report");
            return;
        };
        let Ok(audit) = serde_json::from_str::<Audit>(raw.get()) else {
            tracing::error!(quote = ?head.id, "stored audit does not decode; left out of the report");
            return;
        };
        let currency = request.currency_code.to_ascii_uppercase();
        for line in audit.documents.iter().flat_map(|d| &d.lines) {
            // This line's jurisdictions: (largest base, tax) when one of its rates applied.
            let mut seen: BTreeMap<&Jurisdiction, Option<(Decimal, Decimal)>> = BTreeMap::new();
            for rate in &line.rates {
                let Some(j) = &rate.jurisdiction else {
                    continue;
                };
                let entry = seen.entry(j).or_insert(None);
                if rate.applied() {
                    let base = rate.base.unwrap_or_default();
                    let tax = rate.tax.unwrap_or_default();
                    *entry = Some(match *entry {
                        None => (base, tax),
                        Some((b, t)) => (if base.abs() > b.abs() { base } else { b }, t + tax),
                    });
                }
            }
            for (j, applied) in seen {
                let key = (
                    j.kind.as_str().to_string(),
                    j.name.clone(),
                    j.code.clone().unwrap_or_default(),
                    currency.clone(),
                );
                let a = self.acc.entry(key).or_default();
                match applied {
                    Some((base, tax)) => {
                        a.taxable += base;
                        a.tax += tax;
                    }
                    None => a.exempt += line.amount_exclusive,
                }
                a.lines += 1;
            }
        }
    }

    /// The rows, sorted by type, name, code, currency.
    pub fn rows(self) -> Vec<JurisdictionRow> {
        self.acc
            .into_iter()
            .map(|((kind, name, code, currency), a)| JurisdictionRow {
                kind,
                name,
                code,
                currency,
                taxable: a.taxable.normalize(),
                exempt: a.exempt.normalize(),
                tax: a.tax.normalize(),
                lines: a.lines,
            })
            .collect()
    }
}

/// The jurisdiction report as CSV, with a header row.
pub fn jurisdictions_to_csv(rows: &[JurisdictionRow]) -> String {
    csv_text(
        [
            "type", "name", "code", "currency", "taxable", "exempt", "tax", "lines",
        ],
        rows.iter().map(|r| {
            [
                r.kind.clone(),
                r.name.clone(),
                r.code.clone(),
                r.currency.clone(),
                r.taxable.to_string(),
                r.exempt.to_string(),
                r.tax.to_string(),
                r.lines.to_string(),
            ]
        }),
    )
}

/// A report folded over quotes one at a time (see [`crate::store::Store::scan_quotes`]).
pub trait Report {
    /// Adds a quote, given its head and latest priced version.
    fn add(&mut self, head: &QuoteHead, latest: Option<&QuoteVersion>);
}

impl Report for Liability {
    fn add(&mut self, head: &QuoteHead, latest: Option<&QuoteVersion>) {
        Liability::add(self, head, latest)
    }
}

impl Report for ByJurisdiction {
    fn add(&mut self, head: &QuoteHead, latest: Option<&QuoteVersion>) {
        ByJurisdiction::add(self, head, latest)
    }
}

mod monthly;
mod recent;
pub use monthly::{months_to_csv, ByMonth, MonthRow};
pub use recent::{Recent, RecentQuote};

/// Total tax of a priced version's response (all lines, all rates).
fn total_tax(latest: &QuoteVersion) -> Option<Decimal> {
    let raw = latest.response.as_ref()?;
    let response = serde_json::from_str::<QuoteResponse>(raw.get()).ok()?;
    Some(
        lines(&response)
            .flat_map(|l| l.price.sales_tax_summary.iter())
            .map(|t| t.amount)
            .sum(),
    )
}
