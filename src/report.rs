//! The liability report: committed, non-voided tax by rate and currency over a range of
//! transaction dates, from the latest version of each quote. Pure: records in, rows out.

use crate::engine::transaction_day;
use crate::quote::{LineResponse, QuoteResponse};
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
        if head.status != QuoteStatus::Committed {
            return;
        }
        let Some(latest) = latest else {
            return;
        };
        let (Some(request), Some(raw)) = (&latest.request, &latest.response) else {
            return;
        };
        let Ok(day) = transaction_day(&request.transaction_date) else {
            return;
        };
        if day < self.from || day > self.to {
            return;
        }
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

/// The report as CSV, with a header row.
pub fn to_csv(rows: &[LiabilityRow]) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let header = [
        "rate_id",
        "rate_name",
        "currency",
        "taxable_amount",
        "tax",
        "count",
        "lines",
    ];
    // Writing to a Vec cannot fail.
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record([
            r.rate_id.as_str(),
            r.rate_name.as_str(),
            r.currency.as_str(),
            &r.taxable_amount.to_string(),
            &r.tax.to_string(),
            &r.count.to_string(),
            &r.lines.to_string(),
        ]);
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}
