//! The service's log: request values escaped, no colours into a file, one access line per
//! request without credentials, and JSON lines on request (issue 13, item 8).

use crate::common::process::{self, PASSWORD, USER};
use crate::common::quote;
use std::time::Duration;

/// A request whose taxability code tries to forge a log line and colour the terminal.
fn hostile_estimate(address: &str) -> u16 {
    let mut q = quote("log-1", &["10"]);
    q["customer"]["taxability_code"] =
        serde_json::json!("x\n2026-01-01T00:00:00Z  INFO levy: forged line\u{1b}[31mred");
    reqwest::blocking::Client::new()
        .post(format!("{address}/estimate"))
        .basic_auth(USER, Some(PASSWORD))
        .header("X-Bc-Store-Hash", "demostore")
        .body(serde_json::to_vec(&q).unwrap())
        .timeout(Duration::from_secs(10))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn run_server(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = process::write_config(dir.path(), &dir.path().join("data"));
    let log = dir.path().join("levy.log");
    let mut server = process::start_logging(&config, env, &log);
    assert_eq!(hostile_estimate(&server.address), 200);
    server.stop();
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn request_values_are_escaped_and_every_request_has_an_access_line() {
    let log = run_server(&[]);
    assert!(
        !log.contains('\u{1b}'),
        "an escape byte reached the log:\n{log}"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("forged line") && !l.contains("\\n")),
        "a forged line:\n{log}"
    );
    assert!(log.contains("unknown taxability code ignored"), "{log}");
    let access: Vec<&str> = log.lines().filter(|l| l.contains("levy::access")).collect();
    assert_eq!(access.len(), 1, "{log}");
    let line = access[0];
    for field in [
        "method=POST",
        "path=\"/estimate\"",
        "status=200",
        "account=Some(\"demo\")",
        "latency_us=",
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
    assert!(line.contains("store_hash=Some(\"demostore\")"), "{line}");
    assert!(!log.contains(PASSWORD), "a credential in the log");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let log = run_server(&[("LEVY_LOG_FORMAT", "json")]);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["target"] == "levy::access")
        .expect("an access line");
    assert_eq!(access["method"], "POST");
    assert_eq!(access["status"], 200);
    assert_eq!(access["path"], "\"/estimate\"");
    let code = lines
        .iter()
        .find(|l| l["message"] == "unknown taxability code ignored")
        .expect("the code's line");
    assert!(code["code"].as_str().unwrap().contains("forged line"));
    assert!(!log.contains('\u{1b}'));
    assert!(!log.contains(PASSWORD));
}

/// The app's install is logged with the BigCommerce user; its OAuth token, code and the
/// client secret never are (issue 17).
#[test]
fn the_apps_install_is_logged_with_the_user_and_never_its_secrets() {
    use crate::common::app::{ohio, BC_TOKEN, CLIENT_ID, CLIENT_SECRET, CODE, PROVIDER};
    use crate::common::bigcommerce::{OAuthApp, StandIn};
    let bc = StandIn::start("log123", PROVIDER, BC_TOKEN).with_oauth(OAuthApp {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        code: CODE.into(),
        user_id: 7,
        email: "merchant@example.com".into(),
    });
    ohio(&bc);
    let dir = tempfile::tempdir().unwrap();
    let config = process::write_config(dir.path(), &dir.path().join("data"));
    let log = dir.path().join("levy.log");
    let env = [
        ("LEVY_BC_CLIENT_ID", CLIENT_ID),
        ("LEVY_BC_CLIENT_SECRET", CLIENT_SECRET),
        ("LEVY_BC_PROVIDER_ID", PROVIDER),
        ("LEVY_BC_LOGIN_URL", bc.base.as_str()),
        ("LEVY_BC_API_BASE", bc.base.as_str()),
    ];
    let mut server = process::start_logging(&config, &env, &log);
    let res = reqwest::blocking::Client::new()
        .get(format!(
            "{}/app/auth?code={CODE}&scope=store_v2_information&context=stores/log123",
            server.address
        ))
        .timeout(Duration::from_secs(20))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    server.stop();
    let log = std::fs::read_to_string(&log).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("app installed"))
        .unwrap_or_else(|| panic!("no install line:\n{log}"));
    for field in [
        "merchant@example.com",
        "user_id=7",
        "store=log123",
        "account=bc-log123",
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
    for secret in [BC_TOKEN, CODE, CLIENT_SECRET] {
        assert!(!log.contains(secret), "{secret} reached the log:\n{log}");
    }
}
