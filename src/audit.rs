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
