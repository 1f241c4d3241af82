//! `levy::render::quote_response` writes exactly the bytes of the response's `Serialize`
//! derive: on every fixture's computed response and on generated responses with strings
//! that need escaping, any decimal, optional external ids and wrappings.

use levy::engine::{compute, CompiledRules};
use levy::quote::{
    DocumentResponse, LineResponse, LineType, QuoteRequest, QuoteResponse, SalesTax, TaxClassRef,
    TaxPrice,
};
use levy::rules::RulesDocument;
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

#[test]
fn every_fixture_response_renders_as_serde_writes_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let fixture: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if fixture.get("expected_error").is_some() {
            continue;
        }
        let rules: RulesDocument = serde_json::from_value(fixture["rules"].clone()).unwrap();
        let rules = CompiledRules::new(rules).unwrap();
        let request: QuoteRequest = serde_json::from_value(fixture["request"].clone()).unwrap();
        let response = compute(&rules, &request).unwrap().response;
        assert_eq!(
            String::from_utf8(levy::render::quote_response(&response)).unwrap(),
            serde_json::to_string(&response).unwrap(),
            "{}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} fixtures");
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 -]{0,12}",
        "\\PC{0,8}",
        ".{0,6}",
        Just("quote \" back\\slash \n\t\u{1}\u{7f} é €".to_string()),
    ]
}

fn decimal() -> impl Strategy<Value = Decimal> {
    (any::<i64>(), 0u32..=28).prop_map(|(m, s)| Decimal::new(m, s))
}

fn kind() -> impl Strategy<Value = LineType> {
    prop_oneof![
        Just(LineType::Item),
        Just(LineType::Refund),
        Just(LineType::Fee),
        Just(LineType::Wrapping),
        Just(LineType::Shipping),
        Just(LineType::Handling),
    ]
}

fn summary() -> impl Strategy<Value = SalesTax> {
    (text(), decimal(), decimal(), text(), text(), text(), text()).prop_map(
        |(name, rate, amount, code, class_id, class_name, id)| SalesTax {
            name: name.into(),
            rate,
            amount,
            tax_class: Arc::new(TaxClassRef {
                code,
                class_id,
                name: class_name,
            }),
            id: id.into(),
        },
    )
}

fn price() -> impl Strategy<Value = TaxPrice> {
    (
        decimal(),
        decimal(),
        decimal(),
        decimal(),
        prop::collection::vec(summary(), 0..4),
    )
        .prop_map(|(inc, exc, tax, rate, sales_tax_summary)| TaxPrice {
            amount_inclusive: inc,
            amount_exclusive: exc,
            total_tax: tax,
            tax_rate: rate,
            sales_tax_summary,
        })
}

fn plain_line() -> impl Strategy<Value = LineResponse> {
    (text(), price(), kind()).prop_map(|(id, price, kind)| LineResponse {
        id,
        price,
        kind,
        wrapping: None,
    })
}

fn line() -> impl Strategy<Value = LineResponse> {
    (plain_line(), prop::option::of(plain_line())).prop_map(|(mut l, w)| {
        l.wrapping = w.map(Box::new);
        l
    })
}

fn response() -> impl Strategy<Value = QuoteResponse> {
    let doc = (
        text(),
        prop::option::of(text()),
        prop::collection::vec(line(), 0..4),
        line(),
        line(),
    )
        .prop_map(
            |(id, external_id, items, shipping, handling)| DocumentResponse {
                id,
                external_id,
                items,
                shipping,
                handling,
            },
        );
    (text(), prop::collection::vec(doc, 0..3))
        .prop_map(|(id, documents)| QuoteResponse { id, documents })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn generated_responses_render_as_serde_writes_them(r in response()) {
        prop_assert_eq!(
            String::from_utf8(levy::render::quote_response(&r)).unwrap(),
            serde_json::to_string(&r).unwrap()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// A committed quote's response is rendered from the computed one with its id and
    /// external ids replaced, without a copy: the same bytes as serde writes for the copy.
    #[test]
    fn stored_responses_render_as_serde_writes_the_replaced_copy(r in response(), id in text()) {
        let external = |doc: &str| format!("levy-k-{doc}");
        let mut copy = r.clone();
        copy.id = id.clone();
        for doc in &mut copy.documents {
            doc.external_id = Some(external(&doc.id));
        }
        prop_assert_eq!(
            String::from_utf8(levy::render::quote_response_as(&r, &id, external)).unwrap(),
            serde_json::to_string(&copy).unwrap()
        );
    }
}
