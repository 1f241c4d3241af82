//! `levy estimate`: the engine's command-line face (SPEC section 8).

use std::io::Write;
use std::process::{Command, Stdio};

fn levy() -> Command {
    Command::new(env!("CARGO_BIN_EXE_levy"))
}

fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write_temp(
    dir: &tempfile::TempDir,
    name: &str,
    value: &serde_json::Value,
) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path
}

/// A fixture's rules and request as files in a temporary directory.
fn fixture_files(name: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let f = fixture(name);
    let dir = tempfile::tempdir().unwrap();
    let rules = write_temp(&dir, "rules.json", &f["rules"]);
    let request = write_temp(&dir, "request.json", &f["request"]);
    (dir, rules, request)
}

#[test]
fn estimate_prints_the_response_from_a_file_and_from_stdin() {
    let (_dir, rules, request) = fixture_files("01_bigcommerce_example_50_percent");

    let out = levy()
        .arg("estimate")
        .arg("--rules")
        .arg(&rules)
        .arg(&request)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        response["documents"][0]["items"][0]["price"]["total_tax"].to_string(),
        "225"
    );
    assert_eq!(
        response["documents"][0]["shipping"]["price"]["amount_inclusive"].to_string(),
        "15"
    );

    let mut child = levy()
        .args(["estimate", "--rules"])
        .arg(&rules)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&request).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let from_stdin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_stdin, response);
}

#[test]
fn bad_input_exits_non_zero_naming_the_field_path() {
    let f = fixture("21_class_fallback_to_default_class");
    let dir = tempfile::tempdir().unwrap();
    let rules = write_temp(&dir, "rules.json", &f["rules"]);
    let mut request = f["request"].clone();
    request["documents"][0]["items"][2]["price"]["amount"] = serde_json::json!("12.00");
    let request = write_temp(&dir, "request.json", &request);
    let out = levy()
        .arg("estimate")
        .arg("--rules")
        .arg(&rules)
        .arg(&request)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("documents[0].items[2].price.amount"),
        "{stderr}"
    );

    let mut bad_rules = f["rules"].clone();
    bad_rules["rates"][0]["class_rates"][0]["rate"] = serde_json::json!(-1);
    let bad_rules = write_temp(&dir, "bad_rules.json", &bad_rules);
    let out = levy()
        .arg("estimate")
        .arg("--rules")
        .arg(&bad_rules)
        .arg(&request)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rules") && stderr.contains("rates[0].class_rates[0].rate"),
        "{stderr}"
    );

    let out = levy()
        .args(["estimate", "--rules", "/nonexistent/rules.json", "-"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/rules.json"));
}

/// SPEC 10.8: `--explain` prints, for each line, the zone and why and each rate's base
/// and tax or why it charged nothing.
#[test]
fn estimate_explain_prints_how_each_line_was_taxed() {
    let (_dir, rules, request) = fixture_files("61_exempt_below_under_the_threshold");
    let out = levy()
        .args(["estimate", "--explain", "--rules"])
        .arg(&rules)
        .arg(&request)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..5],
        [
            "document d1: zone 2 \"New York City\" for the destination address: subdivision matches `NY`",
            "  item a: exclusive 109.99, tax 0.41",
            "    rate 1 \"NY State\": nothing, exempt_below (the unit price is below the class rate's exempt_below)",
            "    rate 2 \"NYC\": nothing, exempt_below (the unit price is below the class rate's exempt_below)",
            "    rate 3 \"MCTD\": 0.375 % on base 109.99 = 0.41",
        ]
    );
    assert!(
        text.contains(
            "  item b: exclusive 100, tax 8.88\n    rate 1 \"NY State\": 4 % on base 100 = 4\n"
        ),
        "{text}"
    );
}
