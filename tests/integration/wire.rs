//! Wire format: exact decimals in and out, unknown fields ignored, errors with paths.

use levy::engine::{compute, CompiledRules};
use levy::error::ErrorCode;
use levy::json::parse;
use levy::quote::QuoteRequest;
use levy::rules::RulesDocument;

fn request(amounts: &[&str]) -> String {
    let items: Vec<String> = amounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!(r#"{{"id":"i{i}","price":{{"amount":{a},"tax_inclusive":false}},"quantity":1,"type":"item","brand_new_field":{{"x":1}}}}"#)
        })
        .collect();
    format!(
        r#"{{"id":"q","currency_code":"USD","customer":{{"customer_id":"1","customer_group_id":"0"}},
            "transaction_date":"2024-01-15T09:30:00Z","unknown_top":[1,2],
            "documents":[{{"id":"d","destination_address":{{"country_code":"US"}},"origin_address":{{}},
              "shipping":{{"id":"s","price":{{"amount":0,"tax_inclusive":false}},"quantity":1,"type":"shipping"}},
              "handling":{{"id":"h","price":{{"amount":0,"tax_inclusive":false}},"quantity":1,"type":"handling"}},
              "items":[{}]}}]}}"#,
        items.join(",")
    )
}

fn rules(rate: &str) -> CompiledRules {
    let doc: RulesDocument = parse(
        format!(r#"{{"rates":[{{"id":1,"tax_zone_id":1,"name":"T","class_rates":[{{"tax_class_id":0,"rate":{rate}}}]}}]}}"#).as_bytes(),
    )
    .unwrap();
    CompiledRules::new(doc).unwrap()
}

#[test]
fn amounts_are_exact_in_and_out() {
    // 0.1 + 0.2 in binary floating point is 0.30000000000000004; here it is 0.3.
    let req: QuoteRequest = parse(request(&["0.1", "0.2"]).as_bytes()).unwrap();
    let out = compute(&rules("100"), &req).unwrap();
    let text = serde_json::to_string(&out.response).unwrap();
    assert!(!text.contains("0000000"), "{text}");
    let item = &out.response.documents[0].items[1].price;
    assert_eq!(item.amount_inclusive.to_string(), "0.4");
    // Many digits survive parsing unchanged.
    let req: QuoteRequest = parse(request(&["12345678901234567.89"]).as_bytes()).unwrap();
    assert_eq!(
        req.documents[0].items[0].price.amount.to_string(),
        "12345678901234567.89"
    );
    // 12345678901234567.89 * 8.25 % = 1018518509351851.850925 -> .85 (checked with Python decimal).
    let out = compute(&rules("8.25"), &req).unwrap();
    let text = serde_json::to_string(&out.response.documents[0].items[0].price).unwrap();
    assert!(
        text.contains(r#""total_tax":1018518509351851.85"#),
        "{text}"
    );
    assert!(
        text.contains(r#""amount_inclusive":13364197410586419.74"#),
        "{text}"
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let req: QuoteRequest = parse(request(&["10"]).as_bytes()).unwrap();
    assert_eq!(req.documents[0].items.len(), 1);
}

#[test]
fn errors_name_the_field_path() {
    let err = parse::<QuoteRequest>(request(&["1", "2", "\"3\""]).as_bytes()).unwrap_err();
    assert_eq!(
        err.path.as_deref(),
        Some("documents[0].items[2].price.amount")
    );
    assert_eq!(err.code, ErrorCode::InvalidField);

    let missing = request(&["1"]).replace(r#""quantity":1,"type":"item""#, r#""type":"item""#);
    let err = parse::<QuoteRequest>(missing.as_bytes()).unwrap_err();
    assert_eq!(err.code, ErrorCode::MissingField);
    assert_eq!(err.path.as_deref(), Some("documents[0].items[0].quantity"));

    let err = parse::<QuoteRequest>(br#"{"id":"q""#).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidJson);

    let err = parse::<QuoteRequest>(request(&["1e400"]).as_bytes()).unwrap_err();
    assert_eq!(err.code, ErrorCode::AmountOutOfRange);
    assert_eq!(
        err.path.as_deref(),
        Some("documents[0].items[0].price.amount")
    );

    let tiny: QuoteRequest = parse(request(&["0.000000000000000000000000001"]).as_bytes()).unwrap();
    assert_eq!(
        tiny.documents[0].items[0].price.amount.to_string(),
        "0.000000000000000000000000001"
    );
}

#[test]
fn engine_errors_name_the_field_path() {
    let req: QuoteRequest = parse(request(&["1"]).replace("USD", "XYZ").as_bytes()).unwrap();
    let err = compute(&rules("5"), &req).unwrap_err();
    assert_eq!(
        (err.code, err.path.as_deref()),
        (ErrorCode::UnknownCurrency, Some("currency_code"))
    );

    let req: QuoteRequest = parse(
        request(&["1"])
            .replace("2024-01-15T09:30:00Z", "yesterday")
            .as_bytes(),
    )
    .unwrap();
    let err = compute(&rules("5"), &req).unwrap_err();
    assert_eq!(err.path.as_deref(), Some("transaction_date"));

    let req: QuoteRequest = parse(
        request(&["1", "2"])
            .replacen(r#""type":"item""#, r#""type":"shipping""#, 2)
            .as_bytes(),
    )
    .unwrap();
    let err = compute(&rules("5"), &req).unwrap_err();
    assert_eq!(err.path.as_deref(), Some("documents[0].items[0].type"));

    // Too large to tax exactly: an error, not a panic.
    let req: QuoteRequest = parse(request(&["79228162514264337593543950335"]).as_bytes()).unwrap();
    let err = compute(&rules("1000"), &req).unwrap_err();
    assert_eq!(err.code, ErrorCode::AmountOutOfRange);
    assert_eq!(
        err.path.as_deref(),
        Some("documents[0].items[0].price.amount")
    );
}
