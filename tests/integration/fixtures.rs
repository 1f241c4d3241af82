//! Runs every fixture in `fixtures/` (SPEC section 8): the engine's response must equal
//! `expected`, with numbers compared as decimals (`225` = `225.00`), or its error must be
//! `expected_error` (`{"status", "code", "path"}`).

use levy::engine::{compute, CompiledRules};
use levy::quote::QuoteRequest;
use levy::rules::RulesDocument;
use rust_decimal::Decimal;
use serde_json::Value;
use std::path::Path;

/// Structural equality where numbers are equal as decimals; returns the first difference.
fn diff(path: &str, expected: &Value, actual: &Value) -> Option<String> {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => {
            let da = levy::json::dec::from_number(a).ok()?;
            let db = levy::json::dec::from_number(b).ok()?;
            (da != db).then(|| format!("{path}: expected {a}, got {b}"))
        }
        (Value::Object(a), Value::Object(b)) => {
            for k in a.keys().chain(b.keys()) {
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => {
                        if let Some(d) = diff(&format!("{path}.{k}"), x, y) {
                            return Some(d);
                        }
                    }
                    (Some(_), None) => {
                        return Some(format!("{path}.{k}: missing from the response"))
                    }
                    (None, Some(_)) => {
                        return Some(format!("{path}.{k}: in the response but not expected"))
                    }
                    (None, None) => unreachable!(),
                }
            }
            None
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!(
                    "{path}: expected {} elements, got {}",
                    a.len(),
                    b.len()
                ));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| diff(&format!("{path}[{i}]"), x, y))
        }
        (a, b) => (a != b).then(|| format!("{path}: expected {a}, got {b}")),
    }
}

#[test]
fn every_fixture_matches_its_expected_response() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 25,
        "expected at least 25 fixtures, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let fixture: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        for key in ["description", "rules", "request"] {
            assert!(fixture.get(key).is_some(), "{name}: no `{key}`");
        }
        assert!(
            fixture.get("expected").is_some() != fixture.get("expected_error").is_some(),
            "{name}: needs `expected` or `expected_error`"
        );
        let rules: RulesDocument = serde_json::from_value(fixture["rules"].clone())
            .unwrap_or_else(|e| panic!("{name}: rules: {e}"));
        let rules = CompiledRules::new(rules).unwrap_or_else(|e| panic!("{name}: rules: {e}"));
        let request: QuoteRequest = serde_json::from_value(fixture["request"].clone())
            .unwrap_or_else(|e| panic!("{name}: request: {e}"));
        let actual = match (compute(&rules, &request), fixture.get("expected_error")) {
            (Ok(c), None) => serde_json::to_value(&c.response).unwrap(),
            (Err(e), Some(want)) => {
                let got = serde_json::json!({
                    "status": e.code.status(),
                    "code": e.code.as_str(),
                    "path": e.path,
                });
                if &got != want {
                    failures.push(format!("{name}: expected error {want}, got {got}"));
                }
                continue;
            }
            (Ok(_), Some(want)) => {
                failures.push(format!("{name}: expected error {want}, got a quote"));
                continue;
            }
            (Err(e), None) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        if let Some(d) = diff("", &fixture["expected"], &actual) {
            failures.push(format!("{name}: {d}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn decimal_comparison_is_by_value() {
    let a: Value = serde_json::from_str(r#"{"x": 225, "y": [0.10]}"#).unwrap();
    let b: Value = serde_json::from_str(r#"{"x": 225.00, "y": [0.1]}"#).unwrap();
    assert_eq!(diff("", &a, &b), None);
    let c: Value = serde_json::from_str(r#"{"x": 225.01, "y": [0.1]}"#).unwrap();
    assert!(diff("", &a, &c).is_some());
    assert_eq!(Decimal::new(22500, 2), Decimal::new(225, 0));
}
