//! Engine benchmarks (criterion). Run: `cargo bench --bench engine`.
//!
//! * `typical_quote`: 1 document, 3 items with wrapping, shipping, handling, 3 rates in 2 priorities.
//! * `lines/N`: one document of N items: cost should grow linearly.
//! * `zones/N`: N postal-code zones in the account: cost should not grow with N.
//! * `rounding/{exclusive,inclusive}/LEVEL`: the typical quote under each rounding level,
//!   with tax-exclusive and with tax-inclusive prices (the exact net `amount / (1 + R)`).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use levy::engine::{compute, CompiledRules};
use levy::quote::QuoteRequest;
use levy::rules::RulesDocument;
use serde_json::json;
use std::time::Duration;

fn line(id: &str, amount: &str, kind: &str, class: &str) -> serde_json::Value {
    json!({
        "id": id, "item_code": "SKU", "name": "Line",
        "price": {"amount": serde_json::Number::from_string_unchecked(amount.into()), "tax_inclusive": INCLUSIVE.get()},
        "quantity": 1, "tax_class": {"code": "", "class_id": class, "name": "Class"},
        "tax_exempt": false, "type": kind
    })
}

thread_local! {
    /// Whether [`line`] writes tax-inclusive prices.
    static INCLUSIVE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn request(items: usize, postal: &str, wrapping: bool) -> QuoteRequest {
    let items: Vec<_> = (0..items)
        .map(|i| {
            let mut l = line(&format!("item-{i}"), "19.99", "item", "0");
            if wrapping {
                l["wrapping"] = line(&format!("wrap-{i}"), "2.50", "wrapping", "6");
            }
            l
        })
        .collect();
    let v = json!({
        "id": "bench", "currency_code": "USD",
        "customer": {"customer_id": "1", "customer_group_id": "0"},
        "transaction_date": "2024-06-01T12:00:00Z",
        "documents": [{
            "id": "doc",
            "destination_address": {"country_code": "US", "region_code": "CA", "postal_code": postal},
            "origin_address": {"country_code": "US", "region_code": "TX", "postal_code": "78757"},
            "shipping": line("ship", "9.95", "shipping", "0"),
            "handling": line("hand", "1.50", "handling", "0"),
            "items": items
        }]
    });
    serde_json::from_value(v).unwrap()
}

/// A California zone with state + county (priority 1) and a priority-2 district rate,
/// plus `postal_zones` extra zones keyed by exact postal code.
fn rules(postal_zones: usize) -> CompiledRules {
    rules_rounded(postal_zones, "per_rate")
}

fn rules_rounded(postal_zones: usize, rounding: &str) -> CompiledRules {
    let mut zones = vec![json!({"id": 2, "name": "California",
        "shopper_target_settings": {"locations": [{"country_code": "US", "subdivision_codes": ["CA"]}]}})];
    let mut rates = vec![
        json!({"id": 1, "tax_zone_id": 2, "name": "State", "priority": 1, "class_rates": [{"tax_class_id": 0, "rate": 6}, {"tax_class_id": 6, "rate": 5}]}),
        json!({"id": 2, "tax_zone_id": 2, "name": "County", "priority": 1, "class_rates": [{"tax_class_id": 0, "rate": 1.25}]}),
        json!({"id": 3, "tax_zone_id": 2, "name": "District", "priority": 2, "class_rates": [{"tax_class_id": 0, "rate": 0.5}]}),
    ];
    for i in 0..postal_zones {
        let id = 10 + i as u64;
        zones.push(json!({"id": id, "name": format!("Z{i}"),
            "shopper_target_settings": {"locations": [{"country_code": "US", "postal_codes": [format!("{:05}", 10000 + i)]}]}}));
        rates.push(json!({"id": 100 + i as u64, "tax_zone_id": id, "name": "Local", "class_rates": [{"tax_class_id": 0, "rate": 7.5}]}));
    }
    let doc: RulesDocument = serde_json::from_value(json!({
        "classes": [{"id": "6", "name": "Wrapping"}],
        "zones": zones, "rates": rates, "settings": {"rounding": rounding}
    }))
    .unwrap();
    CompiledRules::new(doc).unwrap()
}

fn typical(c: &mut Criterion) {
    let r = rules(0);
    let req = request(3, "90001", true);
    c.bench_function("typical_quote", |b| {
        b.iter(|| compute(black_box(&r), black_box(&req)).unwrap())
    });
}

/// Each rounding level, tax-exclusive and tax-inclusive prices, on the typical quote.
fn rounding(c: &mut Criterion) {
    let mut g = c.benchmark_group("rounding");
    for inclusive in [false, true] {
        INCLUSIVE.set(inclusive);
        let req = request(3, "90001", true);
        INCLUSIVE.set(false);
        for level in ["per_rate", "per_line", "per_document"] {
            let r = rules_rounded(0, level);
            let prices = if inclusive { "inclusive" } else { "exclusive" };
            g.bench_with_input(BenchmarkId::new(prices, level), &req, |b, req| {
                b.iter(|| compute(&r, black_box(req)).unwrap())
            });
        }
    }
    g.finish();
}

fn lines(c: &mut Criterion) {
    let r = rules(0);
    let mut g = c.benchmark_group("lines");
    for n in [1usize, 10, 100, 1000] {
        let req = request(n, "90001", false);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &req, |b, req| {
            b.iter(|| compute(&r, black_box(req)).unwrap())
        });
    }
    g.finish();
}

fn zones(c: &mut Criterion) {
    let mut g = c.benchmark_group("zones");
    for n in [10usize, 1_000, 50_000] {
        let r = rules(n);
        // A code in the middle of the configured range: the match is a postal zone.
        let req = request(3, &format!("{:05}", 10000 + n / 2), true);
        let out = compute(&r, &req).unwrap();
        assert_eq!(
            &*out.response.documents[0].items[0].price.sales_tax_summary[0].name,
            "Local"
        );
        g.bench_with_input(BenchmarkId::from_parameter(n), &req, |b, req| {
            b.iter(|| compute(&r, black_box(req)).unwrap())
        });
    }
    g.finish();
}

/// The whole estimate path without HTTP, on the wire example: parse, compute, serialize;
/// and, for comparison, what the ceiling does (parse into a `serde_json::Value`).
fn path(c: &mut Criterion) {
    let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/quotes/estimate.json")).unwrap();
    let rules: RulesDocument = serde_json::from_slice(
        &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/rules.json")).unwrap(),
    )
    .unwrap();
    let rules = CompiledRules::new(rules).unwrap();
    let mut g = c.benchmark_group("path");
    g.bench_function("parse_typed", |b| {
        b.iter(|| levy::json::parse::<QuoteRequest>(black_box(&body)).unwrap())
    });
    g.bench_function("parse_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&body)).unwrap())
    });
    let req: QuoteRequest = levy::json::parse(&body).unwrap();
    g.bench_function("compute", |b| {
        b.iter(|| compute(&rules, black_box(&req)).unwrap())
    });
    let out = compute(&rules, &req).unwrap().response;
    // What the serde derive costs, against the renderer Levy answers with.
    g.bench_function("serialize_serde", |b| {
        b.iter(|| serde_json::to_vec(black_box(&out)).unwrap())
    });
    g.bench_function("render", |b| {
        b.iter(|| levy::render::quote_response(black_box(&out)))
    });
    g.bench_function("parse_compute_render", |b| {
        b.iter(|| {
            let req = levy::json::parse::<QuoteRequest>(black_box(&body)).unwrap();
            levy::render::quote_response(&compute(&rules, &req).unwrap().response)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = typical, rounding, lines, zones, path
}
criterion_main!(benches);
