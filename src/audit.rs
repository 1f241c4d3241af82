//! The audit of a priced quote (SPEC 10.8): for each line, the zone chosen and why, and
//! for each rate of that zone in effect, its base and tax or why it charged nothing.
//! A document's lines share one address and so one zone: it is kept once per document.
//!
//! The engine writes it; a committed version keeps it beside the response, and the
//! jurisdiction report reads only this, so a report never depends on today's rules.

use crate::json;
use crate::quote::LineType;
use crate::rules::Jurisdiction;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    pub documents: Vec<DocumentAudit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentAudit {
    pub id: String,
    /// The zone of every line of the document.
    pub zone: ZoneAudit,
    /// Lines in the order of SPEC 4.6: items, each followed by its wrapping, then
    /// shipping, then handling.
    pub lines: Vec<LineAudit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineAudit {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: LineType,
    /// The line's exclusive amount as answered (what an exempt line counts).
    #[serde(with = "json::dec")]
    pub amount_exclusive: Decimal,
    /// Every enabled rate of the zone in effect, in (priority, id) order.
    pub rates: Vec<RateAudit>,
}

/// The zone that priced a document, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneAudit {
    pub id: u64,
    pub name: String,
    /// `zip_plus_four`, `postal_code`, `city`, `subdivision`, `country` or `default`.
    #[serde(rename = "match")]
    pub level: String,
    /// The pattern, city, subdivision list or country that matched, as configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Which address the zone was chosen for: `destination`, `billing`, `origin` or `none`.
    pub address: String,
    /// Set when origin sourcing (SPEC 10.7) replaced the zone first chosen: that zone's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_sourced_from_zone: Option<u64>,
    pub reason: String,
}

/// One rate of the line's zone: what it charged, or why nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateAudit {
    pub id: u64,
    pub name: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<Jurisdiction>,
    /// The line's class rate as a fraction (0.0825), when it has one.
    #[serde(
        default,
        with = "json::opt_dec",
        skip_serializing_if = "Option::is_none"
    )]
    pub rate: Option<Decimal>,
    /// The base the rate applied to, before any earlier group's tax: the exclusive
    /// amount, the reduced base of `taxable_above`, or the shipping share.
    #[serde(
        default,
        with = "json::opt_dec",
        skip_serializing_if = "Option::is_none"
    )]
    pub base: Option<Decimal>,
    /// The tax of the line's summary entry for this rate.
    #[serde(
        default,
        with = "json::opt_dec",
        skip_serializing_if = "Option::is_none"
    )]
    pub tax: Option<Decimal>,
    /// Charged on `base` plus the taxes of earlier priority groups (SPEC 4.4).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compounded: bool,
    /// The shipping factor `T / A` of a proportional rate, rounded to 12 places.
    #[serde(
        default,
        with = "json::opt_dec",
        skip_serializing_if = "Option::is_none"
    )]
    pub shipping_factor: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<NoTax>,
}

impl RateAudit {
    pub fn applied(&self) -> bool {
        self.reason.is_none()
    }
}

/// Why a rate of the zone charged a line nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoTax {
    LineExempt,
    ExemptionCode,
    ZeroRate,
    NoClassRate,
    ExemptBelow,
}

impl NoTax {
    pub fn as_str(self) -> &'static str {
        match self {
            NoTax::LineExempt => "line_exempt",
            NoTax::ExemptionCode => "exemption_code",
            NoTax::ZeroRate => "zero_rate",
            NoTax::NoClassRate => "no_class_rate",
            NoTax::ExemptBelow => "exempt_below",
        }
    }
}

impl NoTax {
    /// The reason in a merchant's words.
    pub fn describe(self) -> &'static str {
        match self {
            NoTax::LineExempt => "the line is tax-exempt",
            NoTax::ExemptionCode => "the customer's taxability code exempts this rate",
            NoTax::ZeroRate => "the rate for the line's class is 0",
            NoTax::NoClassRate => "the rate has no class rate for the line's class nor class 0",
            NoTax::ExemptBelow => "the unit price is below the class rate's exempt_below",
        }
    }
}

/// A fraction as a percentage for people: `0.0825` -> `8.25 %`.
fn percent(fraction: Decimal) -> String {
    format!("{} %", (fraction * Decimal::ONE_HUNDRED).normalize())
}

/// The audit as text, for `levy estimate --explain`: for each line the zone and why,
/// each rate with its base and tax, or why it charged nothing.
pub fn explain(audit: &Audit) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for doc in &audit.documents {
        let z = &doc.zone;
        let _ = writeln!(
            out,
            "document {}: zone {} \"{}\" for the {} address: {}",
            doc.id, z.id, z.name, z.address, z.reason
        );
        for line in &doc.lines {
            let tax: Decimal = line.rates.iter().filter_map(|r| r.tax).sum();
            let _ = writeln!(
                out,
                "  {} {}: exclusive {}, tax {}",
                line.kind.as_str(),
                line.id,
                line.amount_exclusive,
                tax.normalize()
            );
            if line.rates.is_empty() {
                let _ = writeln!(out, "    no rate of zone {} is in effect", z.id);
            }
            for r in &line.rates {
                let place = r
                    .jurisdiction
                    .as_ref()
                    .map(|j| match &j.code {
                        Some(code) => format!(" [{} {} {code}]", j.kind.as_str(), j.name),
                        None => format!(" [{} {}]", j.kind.as_str(), j.name),
                    })
                    .unwrap_or_default();
                let head = format!("    rate {} \"{}\"{place}", r.id, r.name);
                match (r.reason, r.rate) {
                    (Some(why), _) => {
                        let _ = writeln!(
                            out,
                            "{head}: nothing, {} ({})",
                            why.as_str(),
                            why.describe()
                        );
                    }
                    (None, rate) => {
                        let mut text = format!(
                            "{head}: {} on base {} = {}",
                            rate.map(percent).unwrap_or_default(),
                            r.base.unwrap_or_default(),
                            r.tax.unwrap_or_default()
                        );
                        if r.compounded {
                            text.push_str(" (charged on the base plus earlier priorities' taxes)");
                        }
                        if let Some(f) = r.shipping_factor {
                            let _ = write!(text, " (shipping share {f} of the goods it taxes)");
                        }
                        let _ = writeln!(out, "{text}");
                    }
                }
            }
        }
    }
    out
}
