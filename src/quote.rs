//! Wire types of the four provider endpoints, as `tax_provider.yml` defines them.
//!
//! Unknown fields are ignored (BigCommerce adds fields without notice); required
//! fields are required; amounts are exact decimals. Validation that serde cannot
//! express (line types, dates) happens in [`crate::engine`] with the same field paths.

use crate::json;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A QuoteRequest (`request-quote`), and the AdjustRequest that extends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuoteRequest {
    pub id: String,
    pub currency_code: String,
    pub customer: Customer,
    /// ISO 8601 date-time, UTC; validated by the engine.
    pub transaction_date: String,
    pub documents: Vec<DocumentRequest>,
    /// Only on `/adjust`: the reason for the adjustment, kept for audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjust_description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    #[serde(deserialize_with = "json::id_string::deserialize")]
    pub customer_id: String,
    #[serde(
        default = "default_group",
        deserialize_with = "json::id_string::deserialize"
    )]
    pub customer_group_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxability_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_properties: Option<Vec<TaxProperty>>,
}

fn default_group() -> String {
    "0".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxProperty {
    pub code: String,
    pub value: String,
}

/// A DocumentRequest: one consignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRequest {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    pub destination_address: Address,
    pub origin_address: Address,
    pub shipping: LineRequest,
    pub handling: LineRequest,
    pub items: Vec<LineRequest>,
}

/// An address; any part may be missing (estimates carry partial addresses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl Address {
    /// The country code when there is one (an empty string is none).
    pub fn country(&self) -> Option<&str> {
        self.country_code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
    }
}

/// An ItemRequest: an item, refund or fee line, a wrapping, shipping or handling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineRequest {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub price: PriceRequest,
    pub quantity: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Shared with the response's summaries rather than copied into them.
    pub tax_class: Option<Arc<TaxClassRef>>,
    #[serde(default)]
    pub tax_exempt: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_properties: Option<Vec<TaxProperty>>,
    #[serde(rename = "type")]
    pub kind: LineType,
    /// Gift wrapping; only items carry one (nullable on the wire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapping: Option<Box<LineRequest>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceRequest {
    /// The line total (already multiplied by quantity); negative for refunds.
    #[serde(with = "json::dec")]
    pub amount: Decimal,
    pub tax_inclusive: bool,
}

/// `{code, class_id, name}` of a line's tax class, echoed into summaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxClassRef {
    #[serde(default)]
    pub code: String,
    #[serde(deserialize_with = "json::id_string::deserialize")]
    pub class_id: String,
    #[serde(default)]
    pub name: String,
}

/// Line types of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineType {
    Item,
    Refund,
    Fee,
    Wrapping,
    Shipping,
    Handling,
}

impl LineType {
    pub fn as_str(self) -> &'static str {
        match self {
            LineType::Item => "item",
            LineType::Refund => "refund",
            LineType::Fee => "fee",
            LineType::Wrapping => "wrapping",
            LineType::Shipping => "shipping",
            LineType::Handling => "handling",
        }
    }
}

/// The `response-quote`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuoteResponse {
    pub id: String,
    pub documents: Vec<DocumentResponse>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentResponse {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub items: Vec<LineResponse>,
    pub shipping: LineResponse,
    pub handling: LineResponse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineResponse {
    pub id: String,
    pub price: TaxPrice,
    #[serde(rename = "type")]
    pub kind: LineType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapping: Option<Box<LineResponse>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxPrice {
    #[serde(with = "json::dec")]
    pub amount_inclusive: Decimal,
    #[serde(with = "json::dec")]
    pub amount_exclusive: Decimal,
    #[serde(with = "json::dec")]
    pub total_tax: Decimal,
    #[serde(with = "json::dec")]
    pub tax_rate: Decimal,
    pub sales_tax_summary: Vec<SalesTax>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesTax {
    /// Shared with the compiled rate: a summary entry costs no string copies.
    pub name: Arc<str>,
    /// The rate as a fraction: 8.25 % is `0.0825`.
    #[serde(with = "json::dec")]
    pub rate: Decimal,
    #[serde(with = "json::dec")]
    pub amount: Decimal,
    /// Shared by every summary entry of the line.
    pub tax_class: Arc<TaxClassRef>,
    pub id: Arc<str>,
}
