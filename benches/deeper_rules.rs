//! The rules of SPEC section 10 (criterion). Run: `cargo bench --bench deeper_rules`.
//!
//! One cart priced three ways, in one run so the ratios mean something on a noisy machine:
//! * `deeper/plain`: 4 items, wrapping, shipping, handling under plain rates (no rule of
//!   section 10), the reference.
//! * `deeper/all_rules`: the same cart under rules that use all of section 10 at once: a
//!   tax code, a city zone and a ZIP+4 zone, origin sourcing, `exempt_below` and
//!   `taxable_above`, a proportional shipping rate, jurisdictions.
//! * `deeper/all_rules_audited`: the same with the audit a commit keeps (SPEC 10.8).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use levy::engine::{compute, compute_audited, CompiledRules};
use levy::quote::QuoteRequest;
use levy::rules::RulesDocument;
use serde_json::json;
use std::time::Duration;

fn line(
    id: &str,
    amount: &str,
    kind: &str,
    class: &str,
    code: &str,
    qty: u64,
) -> serde_json::Value {
    json!({
        "id": id, "item_code": "SKU", "name": "Line",
        "price": {"amount": serde_json::Number::from_string_unchecked(amount.into()), "tax_inclusive": false},
        "quantity": qty, "tax_class": {"code": code, "class_id": class, "name": "Class"},
        "tax_exempt": false, "type": kind
    })
}

/// Shipped from Austin to a ZIP+4 in Round Rock, TX, outside the ZIP+4 zone: Texas
/// sources at the origin, whose city zone applies.
fn request() -> QuoteRequest {
    let mut shirt = line("shirt", "99.00", "item", "5", "pc040100", 1);
    shirt["wrapping"] = line("wrap", "2.50", "wrapping", "0", "", 1);
    let items = vec![
        shirt,
        line("coat", "400.00", "item", "5", "PC040100", 2),
        line("food", "30.00", "item", "9", "", 3),
        line("book", "19.99", "item", "0", "", 1),
    ];
    serde_json::from_value(json!({
        "id": "bench", "currency_code": "USD",
        "customer": {"customer_id": "1", "customer_group_id": "0"},
        "transaction_date": "2024-06-01T12:00:00Z",
        "documents": [{
            "id": "doc",
            "destination_address": {"country_code": "US", "region_code": "TX", "postal_code": "78664-1234", "city": "Round Rock"},
            "origin_address": {"country_code": "US", "region_code": "TX", "postal_code": "78757", "city": "Austin"},
            "shipping": line("ship", "9.95", "shipping", "0", "", 1),
            "handling": line("hand", "1.50", "handling", "0", "", 1),
            "items": items
        }]
    }))
    .unwrap()
}

fn plain() -> CompiledRules {
    let doc: RulesDocument = serde_json::from_value(json!({
        "classes": [{"id": "5", "name": "Clothing"}, {"id": "9", "name": "Food"}],
        "zones": [{"id": 2, "name": "Texas", "shopper_target_settings": {"locations": [{"country_code": "US", "subdivision_codes": ["TX"]}]}}],
        "rates": [
            {"id": 1, "tax_zone_id": 2, "name": "TX State", "class_rates": [{"tax_class_id": 0, "rate": 6.25}, {"tax_class_id": 9, "rate": 0}]},
            {"id": 2, "tax_zone_id": 2, "name": "City", "class_rates": [{"tax_class_id": 0, "rate": 1}]},
            {"id": 3, "tax_zone_id": 2, "name": "Transit", "priority": 2, "class_rates": [{"tax_class_id": 0, "rate": 1}]}
        ]
    }))
    .unwrap();
    CompiledRules::new(doc).unwrap()
}

fn all_rules() -> CompiledRules {
    let state = json!({"type": "state", "name": "Texas", "code": "TX"});
    let doc: RulesDocument = serde_json::from_value(json!({
        "classes": [{"id": "5", "name": "Clothing", "code": "PC040100"}, {"id": "9", "name": "Food"}],
        "zones": [
            {"id": 2, "name": "Texas", "sourcing": "origin", "shopper_target_settings": {"locations": [{"country_code": "US", "subdivision_codes": ["TX"]}]}},
            {"id": 3, "name": "Austin", "shopper_target_settings": {"locations": [{"country_code": "US", "subdivision_codes": ["TX"], "cities": ["Austin"]}]}},
            {"id": 4, "name": "Round Rock plus four", "shopper_target_settings": {"locations": [{"country_code": "US", "postal_codes": ["78664-5000...78664-9999"]}]}}
        ],
        "rates": [
            {"id": 1, "tax_zone_id": 3, "name": "TX State", "shipping": "proportional", "jurisdiction": state,
             "class_rates": [{"tax_class_id": 0, "rate": 6.25}, {"tax_class_id": 5, "rate": 6.25, "exempt_below": 110}, {"tax_class_id": 9, "rate": 0}]},
            {"id": 2, "tax_zone_id": 3, "name": "Austin", "jurisdiction": {"type": "city", "name": "Austin"},
             "class_rates": [{"tax_class_id": 0, "rate": 1}, {"tax_class_id": 5, "rate": 1, "taxable_above": 175}]},
            {"id": 3, "tax_zone_id": 3, "name": "Transit", "priority": 2, "jurisdiction": {"type": "special", "name": "Capital Metro"},
             "class_rates": [{"tax_class_id": 0, "rate": 1}]},
            {"id": 4, "tax_zone_id": 2, "name": "TX State", "jurisdiction": state, "class_rates": [{"tax_class_id": 0, "rate": 6.25}]},
            {"id": 5, "tax_zone_id": 4, "name": "Round Rock", "class_rates": [{"tax_class_id": 0, "rate": 8.25}]}
        ]
    }))
    .unwrap();
    CompiledRules::new(doc).unwrap()
}

fn deeper(c: &mut Criterion) {
    let req = request();
    let (plain, all) = (plain(), all_rules());
    // The cart really takes every path: the Austin zone by origin sourcing, thresholds,
    // a proportional shipping share.
    let audited = compute_audited(&all, &req).unwrap().audit.unwrap();
    let doc = &audited.documents[0];
    assert_eq!(doc.zone.id, 3, "{:?}", doc.zone);
    assert_eq!(doc.zone.origin_sourced_from_zone, Some(2));
    let ship = doc.lines.iter().find(|l| l.id == "ship").unwrap();
    assert!(ship.rates[0].shipping_factor.is_some());
    let mut g = c.benchmark_group("deeper");
    g.bench_function("plain", |b| {
        b.iter(|| compute(black_box(&plain), black_box(&req)).unwrap())
    });
    g.bench_function("all_rules", |b| {
        b.iter(|| compute(black_box(&all), black_box(&req)).unwrap())
    });
    g.bench_function("all_rules_audited", |b| {
        b.iter(|| compute_audited(black_box(&all), black_box(&req)).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = deeper
}
criterion_main!(benches);
