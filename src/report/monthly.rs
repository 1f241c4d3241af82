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
    super::csv_text(
        ["month", "currency", "tax", "quotes"],
        rows.iter().map(|r| {
            [
                r.month.clone(),
                r.currency.clone(),
                r.tax.to_string(),
                r.quotes.to_string(),
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_without_tax_are_zero_rows_and_the_csv_ends_lines_with_lf() {
        let d = |m| NaiveDate::from_ymd_opt(2026, m, 15).unwrap();
        let mut report = ByMonth::new(d(1), d(3));
        report
            .acc
            .insert(("USD".into(), "2026-02".into()), (Decimal::new(825, 2), 2));
        let rows = report.rows();
        let months: Vec<(&str, String)> = rows
            .iter()
            .map(|r| (r.month.as_str(), r.tax.to_string()))
            .collect();
        assert_eq!(
            months,
            [
                ("2026-01", "0".into()),
                ("2026-02", "8.25".into()),
                ("2026-03", "0".into())
            ]
        );
        assert_eq!(
            months_to_csv(&rows),
            "month,currency,tax,quotes\n2026-01,USD,0,0\n2026-02,USD,8.25,2\n2026-03,USD,0,0\n"
        );
    }
}
