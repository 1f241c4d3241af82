//! Arbitrary bytes through the rules document loader (parse, validate, index), then one
//! quote under whatever rules were accepted: no panic, only errors.
#![no_main]

use levy::engine::{compute, CompiledRules};
use levy::error::ErrorCode;
use levy::quote::QuoteRequest;
use levy::rules::RulesDocument;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn request() -> &'static QuoteRequest {
    static REQUEST: OnceLock<QuoteRequest> = OnceLock::new();
    REQUEST.get_or_init(|| levy::json::parse(include_bytes!("../../quotes/estimate.json")).expect("the example parses"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = levy::json::parse::<RulesDocument>(data) else { return };
    let Ok(rules) = CompiledRules::new(doc) else { return };
    if let Err(e) = compute(&rules, request()) {
        assert_eq!(e.code, ErrorCode::AmountOutOfRange, "{e}");
    }
});
