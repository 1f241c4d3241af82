//! Arbitrary bytes through request parsing and the engine (under the demo rules): no
//! panic, and every computed quote keeps the SPEC invariants.
#![no_main]

use levy::engine::{compute, CompiledRules};
use levy::quote::{LineResponse, QuoteRequest};
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;
use std::sync::OnceLock;

fn rules() -> &'static CompiledRules {
    static RULES: OnceLock<CompiledRules> = OnceLock::new();
    RULES.get_or_init(|| {
        let doc = levy::json::parse(include_bytes!("../../demo/rules.json")).expect("demo rules parse");
        CompiledRules::new(doc).expect("demo rules are valid")
    })
}

fn check(line: &LineResponse) {
    let p = &line.price;
    assert_eq!(p.amount_inclusive, p.amount_exclusive + p.total_tax);
    let sum: Decimal = p.sales_tax_summary.iter().map(|s| s.amount).sum();
    assert_eq!(sum, p.total_tax);
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = levy::json::parse::<QuoteRequest>(data) else { return };
    let Ok(out) = compute(rules(), &request) else { return };
    for doc in &out.response.documents {
        for item in &doc.items {
            check(item);
            if let Some(w) = &item.wrapping {
                check(w);
            }
        }
        check(&doc.shipping);
        check(&doc.handling);
    }
    serde_json::to_vec(&out.response).expect("responses serialize");
});
