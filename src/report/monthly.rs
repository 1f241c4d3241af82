//! Committed tax by calendar month (of the transaction date, UTC) and currency: the
//! console's chart.

use super::{counted, total_tax, Report};
use crate::engine::transaction_day;
use crate::store::{QuoteHead, QuoteVersion};
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthRow {
    /// `YYYY-MM`.
    pub month: String,
    pub currency: String,
    #[serde(with = "crate::json::dec")]
    pub tax: Decimal,
    pub quotes: usize,
}

pub struct ByMonth {
    from: NaiveDate,
    to: NaiveDate,
    acc: BTreeMap<(String, String), (Decimal, usize)>,
}

impl ByMonth {
    pub fn new(from: NaiveDate, to: NaiveDate) -> ByMonth {
        ByMonth {
            from,
            to,
            acc: BTreeMap::new(),
        }
    }

    /// Rows by currency, then month; months of the range without tax have a zero row, so
    /// a chart shows the gap.
    pub fn rows(self) -> Vec<MonthRow> {
        let mut acc = self.acc;
        let currencies: Vec<String> = acc.keys().map(|(c, _)| c.clone()).collect();
        let mut month = self.from.with_day(1).unwrap_or(self.from);
        let mut months = 0;
        // At most ten years of empty months.
        while month <= self.to && months < 120 {
            for c in &currencies {
                acc.entry((
                    c.clone(),
                    format!("{:04}-{:02}", month.year(), month.month()),
                ))
                .or_default();
            }
            month = month
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(self.to + chrono::Days::new(1));
            months += 1;
        }
        acc.into_iter()
            .map(|((currency, month), (tax, quotes))| MonthRow {
                month,
                currency,
                tax: tax.normalize(),
                quotes,
            })
            .collect()
    }
}

impl Report for ByMonth {
    fn add(&mut self, head: &QuoteHead, latest: Option<&QuoteVersion>) {
        let Some((request, latest)) = counted(head, latest, self.from, self.to) else {
            return;
        };
        let (Ok(day), Some(tax)) = (
            transaction_day(&request.transaction_date),
            total_tax(latest),
        ) else {
            return;
        };
        let key = (
            request.currency_code.to_ascii_uppercase(),
            format!("{:04}-{:02}", day.year(), day.month()),
        );
        let e = self.acc.entry(key).or_default();
        e.0 += tax;
        e.1 += 1;
    }
}

/// The rows as CSV: `month,currency,tax,quotes`.
pub fn months_to_csv(rows: &[MonthRow]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(["month", "currency", "tax", "quotes"]);
    for r in rows {
        let _ = w.write_record([
            r.month.as_str(),
            r.currency.as_str(),
            &r.tax.to_string(),
            &r.quotes.to_string(),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}
