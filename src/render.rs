//! The `response-quote` written as JSON bytes, byte for byte what its `Serialize`
//! derive produces, without serde's per-field machinery.
//!
//! Serializing the response was the largest cost of `/estimate` after parsing
//! (BENCHMARKS.md, profile): serde_json escapes every key and routes each field
//! through a state machine. Here keys are literals, strings go through serde_json's
//! own escaping, and amounts through [`crate::json::dec::write_decimal`].
//! `tests/integration/render.rs` checks the equality on every fixture and on generated responses.

use crate::json::dec::{write_decimal, Digits};
use crate::quote::{DocumentResponse, LineResponse, QuoteResponse, SalesTax, TaxPrice};
use rust_decimal::Decimal;

/// The response as compact JSON, identical to `serde_json::to_vec(response)`.
pub fn quote_response(response: &QuoteResponse) -> Vec<u8> {
    render(response, &response.id, |doc| doc.external_id.clone())
}

/// The response as [`quote_response`] would write it with its id replaced by `id` and each
/// document's external id by `external_id(document id)`: a committed quote's response,
/// rendered without a copy of the computed one.
pub fn quote_response_as(
    response: &QuoteResponse,
    id: &str,
    external_id: impl Fn(&str) -> String,
) -> Vec<u8> {
    render(response, id, |doc| Some(external_id(&doc.id)))
}

fn render(
    response: &QuoteResponse,
    id: &str,
    external_id: impl Fn(&DocumentResponse) -> Option<String>,
) -> Vec<u8> {
    let lines: usize = response
        .documents
        .iter()
        .map(|d| 2 + d.items.len() * 2)
        .sum();
    let mut out = Vec::with_capacity(64 + lines * 400);
    out.extend_from_slice(b"{\"id\":");
    string(&mut out, id);
    out.extend_from_slice(b",\"documents\":[");
    for (i, doc) in response.documents.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        document(&mut out, doc, external_id(doc).as_deref());
    }
    out.extend_from_slice(b"]}");
    out
}

fn document(out: &mut Vec<u8>, doc: &DocumentResponse, external_id: Option<&str>) {
    out.extend_from_slice(b"{\"id\":");
    string(out, &doc.id);
    if let Some(external) = external_id {
        out.extend_from_slice(b",\"external_id\":");
        string(out, external);
    }
    out.extend_from_slice(b",\"items\":[");
    list(out, &doc.items, line);
    out.extend_from_slice(b"],\"shipping\":");
    line(out, &doc.shipping);
    out.extend_from_slice(b",\"handling\":");
    line(out, &doc.handling);
    out.push(b'}');
}

fn line(out: &mut Vec<u8>, line: &LineResponse) {
    out.extend_from_slice(b"{\"id\":");
    string(out, &line.id);
    out.extend_from_slice(b",\"price\":");
    price(out, &line.price);
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(line.kind.as_str().as_bytes());
    out.push(b'"');
    if let Some(wrapping) = &line.wrapping {
        out.extend_from_slice(b",\"wrapping\":");
        self::line(out, wrapping);
    }
    out.push(b'}');
}

fn price(out: &mut Vec<u8>, p: &TaxPrice) {
    out.extend_from_slice(b"{\"amount_inclusive\":");
    decimal(out, &p.amount_inclusive);
    out.extend_from_slice(b",\"amount_exclusive\":");
    decimal(out, &p.amount_exclusive);
    out.extend_from_slice(b",\"total_tax\":");
    decimal(out, &p.total_tax);
    out.extend_from_slice(b",\"tax_rate\":");
    decimal(out, &p.tax_rate);
    out.extend_from_slice(b",\"sales_tax_summary\":[");
    list(out, &p.sales_tax_summary, summary);
    out.extend_from_slice(b"]}");
}

fn summary(out: &mut Vec<u8>, tax: &SalesTax) {
    out.extend_from_slice(b"{\"name\":");
    string(out, &tax.name);
    out.extend_from_slice(b",\"rate\":");
    decimal(out, &tax.rate);
    out.extend_from_slice(b",\"amount\":");
    decimal(out, &tax.amount);
    out.extend_from_slice(b",\"tax_class\":{\"code\":");
    string(out, &tax.tax_class.code);
    out.extend_from_slice(b",\"class_id\":");
    string(out, &tax.tax_class.class_id);
    out.extend_from_slice(b",\"name\":");
    string(out, &tax.tax_class.name);
    out.extend_from_slice(b"},\"id\":");
    string(out, &tax.id);
    out.push(b'}');
}

/// The elements of a JSON array, comma-separated (the brackets are the caller's).
fn list<T>(out: &mut Vec<u8>, items: &[T], each: fn(&mut Vec<u8>, &T)) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, item);
    }
}

fn decimal(out: &mut Vec<u8>, value: &Decimal) {
    let mut digits = Digits {
        buf: [0; 48],
        len: 0,
    };
    write_decimal(value, &mut digits);
    out.extend_from_slice(&digits.buf[..digits.len]);
}

/// A JSON string with serde_json's escaping (the common case, nothing to escape, is a copy).
fn string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}
