//! Answers written before a request reaches Levy's handlers — a head that cannot be
//! parsed, is too large or too slow, a body too slow, a method a path does not take —
//! have the JSON error shape of every other answer (issue 13, item 11).

use crate::common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `bytes`, optionally waits before reading, and returns (status, headers, JSON body).
fn exchange(address: &str, bytes: &[u8]) -> (u16, String, Value) {
    let host = address.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = s.write_all(bytes);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_string)
                })
                .and_then(|v| v.trim().parse::<usize>().ok());
            if len.is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, head.to_ascii_lowercase(), json)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn assert_json_error(answer: &(u16, String, Value), status: u16, code: &str) {
    let (got, head, body) = answer;
    assert_eq!(*got, status, "{head}\n{body}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn a_head_that_cannot_be_parsed_is_a_json_400() {
    let app = spawn_app().await;
    let address = app.address.clone();
    let answer = blocking(move || {
        exchange(
            &address,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n",
        )
    })
    .await;
    assert_json_error(&answer, 400, "bad_request");
    let admin = app.admin_address.clone();
    let answer =
        blocking(move || exchange(&admin, b"GET /healthz HTTP/1.1\r\nHo st: x\r\n\r\n")).await;
    assert_json_error(&answer, 400, "bad_request");
}

#[tokio::test]
async fn a_head_too_large_is_a_json_431() {
    let app = spawn_app().await;
    let address = app.address.clone();
    let answer = blocking(move || {
        let mut req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
        req.extend(std::iter::repeat_n(b'a', 200 * 1024));
        req.extend_from_slice(b"\r\n\r\n");
        exchange(&address, &req)
    })
    .await;
    assert_json_error(&answer, 431, "headers_too_large");
}

#[tokio::test]
async fn a_head_or_body_that_does_not_arrive_is_a_json_408() {
    let app = spawn_with(|c| {
        c.limits.head_timeout_secs = 1;
        c.limits.body_timeout_secs = 1;
    })
    .await;
    let address = app.address.clone();
    let answer =
        blocking(move || exchange(&address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")).await;
    assert_json_error(&answer, 408, "request_timeout");
    // A declared body of 1,000 bytes of which 10 arrive.
    let login = app.account("a", &["s"], &[], ten_percent()).await;
    let address = app.address.clone();
    let answer = blocking(move || {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", login.user, login.password));
        let head = format!(
            "POST /estimate HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
             X-Bc-Store-Hash: s\r\nContent-Length: 1000\r\n\r\n{{\"id\": 12"
        );
        exchange(&address, head.as_bytes())
    })
    .await;
    assert_json_error(&answer, 408, "request_timeout");
}

#[tokio::test]
async fn a_method_a_path_does_not_take_is_a_json_405_with_allow() {
    let app = spawn_app().await;
    let cases = [
        (app.address.clone(), "GET", "/estimate", "POST"),
        (app.address.clone(), "DELETE", "/healthz", "GET"),
        (
            app.admin_address.clone(),
            "DELETE",
            "/admin/accounts",
            "GET, POST",
        ),
        (
            app.admin_address.clone(),
            "POST",
            "/admin/accounts/a/rules",
            "GET, PUT",
        ),
        (
            app.admin_address.clone(),
            "PATCH",
            "/admin/accounts/a/tax/settings",
            "GET, PUT",
        ),
    ];
    for (base, method, path, allow) in cases {
        let res = app
            .client
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method} {path}");
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "method_not_allowed",
            "{method} {path}"
        );
    }
}
