//! Hostile input over HTTP: each case ends in a 4xx or a closed connection, memory stays
//! bounded, and an honest client keeps getting answers meanwhile.

use crate::common;
use common::process::{self, PASSWORD, USER};
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn honest_body() -> Vec<u8> {
    serde_json::to_vec(&quote("honest", &["10"])).unwrap()
}

/// An honest estimate against a real server process.
fn honest_call(address: &str) -> u16 {
    reqwest::blocking::Client::new()
        .post(format!("{address}/estimate"))
        .basic_auth(USER, Some(PASSWORD))
        .header("X-Bc-Store-Hash", "s")
        .body(honest_body())
        .timeout(Duration::from_secs(10))
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Sends `len` bytes of body (in chunks, without Content-Length) and returns the status
/// line, or None when the server closed the connection first.
fn stream_body(address: &str, declared: Option<u64>, len: usize) -> Option<String> {
    let host = address.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = base64_basic();
    let head = match declared {
        Some(n) => format!("POST /estimate HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nX-Bc-Store-Hash: s\r\nContent-Length: {n}\r\n\r\n"),
        None => format!("POST /estimate HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nX-Bc-Store-Hash: s\r\nTransfer-Encoding: chunked\r\n\r\n"),
    };
    s.write_all(head.as_bytes()).ok()?;
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < len {
        let ok = if declared.is_some() {
            s.write_all(&chunk)
        } else {
            s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|_| s.write_all(&chunk))
                .and_then(|_| s.write_all(b"\r\n"))
        };
        if ok.is_err() {
            break; // the server stopped reading: fine
        }
        sent += chunk.len();
    }
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    (n > 0).then(|| {
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    })
}

fn base64_basic() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
}

#[test]
fn huge_bodies_are_cut_off_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = process::start(&process::write_config(dir.path(), &dir.path().join("data")));
    assert_eq!(honest_call(&server.address), 200);
    let before = server.rss_mib();
    // 256 MiB declared: refused before it is read.
    let status = stream_body(&server.address, Some(256 << 20), 1 << 20);
    assert!(
        status.as_deref().is_none_or(|s| s.contains("413")),
        "{status:?}"
    );
    // 200 MiB chunked, no length: counted as it arrives and cut off at the limit.
    let status = stream_body(&server.address, None, 200 << 20);
    assert!(
        status.as_deref().is_none_or(|s| s.contains("413")),
        "{status:?}"
    );
    // 100,000 lines (about 15 MiB) is over the body limit too.
    let mut q = quote("big", &["1"]);
    let item = q["documents"][0]["items"][0].clone();
    q["documents"][0]["items"] = serde_json::Value::Array(vec![item; 100_000]);
    let res = reqwest::blocking::Client::new()
        .post(format!("{}/estimate", server.address))
        .basic_auth(USER, Some(PASSWORD))
        .header("X-Bc-Store-Hash", "s")
        .body(serde_json::to_vec(&q).unwrap())
        .send();
    assert!(res.as_ref().map_or(true, |r| r.status() == 413), "{res:?}");
    let after = server.rss_mib();
    assert!(
        after - before < 64.0,
        "memory grew from {before:.0} to {after:.0} MiB"
    );
    assert_eq!(honest_call(&server.address), 200, "the server still serves");
}

#[tokio::test]
async fn hundred_thousand_lines_within_the_body_limit_are_refused_by_count() {
    let app = spawn_with(|c| c.limits.body_bytes = 64 << 20).await;
    let login = app.account("acme", &[], &[], ten_percent()).await;
    let mut q = quote("big", &["1"]);
    let item = q["documents"][0]["items"][0].clone();
    q["documents"][0]["items"] = serde_json::Value::Array(vec![item; 100_000]);
    let res = app.post("/estimate", &login, &q).await;
    assert_eq!(res.status(), 400);
    let v = json(res).await;
    assert_eq!(v["error"]["code"], "too_many_lines");
    assert_eq!(v["error"]["path"], "documents[0].items");
    assert_eq!(
        app.post("/estimate", &login, &quote("ok", &["1"]))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn hostile_numbers_strings_nesting_and_encoding_are_4xx() {
    let app = spawn_app().await;
    let login = app.account("acme", &[], &[], ten_percent()).await;
    let num =
        |s: &str| serde_json::Value::Number(serde_json::Number::from_string_unchecked(s.into()));
    let mut cases: Vec<(Vec<u8>, u16)> = Vec::new();
    for (amount, status) in [
        ("1e400", 400),
        ("-1e400", 400),
        ("1e-400", 400),
        ("123456789012345678901234567890", 400),
    ] {
        let mut q = quote("q", &["1"]);
        q["documents"][0]["items"][0]["price"]["amount"] = num(amount);
        cases.push((serde_json::to_vec(&q).unwrap(), status));
    }
    let mut q = quote("q", &["1"]);
    q["documents"][0]["items"][0]["price"]["amount"] = serde_json::json!("12.00");
    cases.push((serde_json::to_vec(&q).unwrap(), 400));
    cases.push((
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        400,
    ));
    cases.push((
        format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000)).into_bytes(),
        400,
    ));
    let mut bad_utf8 = serde_json::to_vec(&quote("q", &["1"])).unwrap();
    let at = bad_utf8.windows(3).position(|w| w == b"\"q\"").unwrap();
    bad_utf8[at + 1] = 0xff;
    cases.push((bad_utf8, 400));
    for (body, status) in cases {
        let res = app
            .call("/estimate", Some(&login), None, Some("s"), body)
            .await;
        assert_eq!(res.status().as_u16(), status);
        let v = json(res).await;
        assert!(v["error"]["code"].is_string());
    }
    // The smallest positive amount a decimal holds is exact and taxed to zero.
    let mut q = quote("q", &["1"]);
    q["documents"][0]["items"][0]["price"]["amount"] = num("0.000000000000000000000000001");
    let res = app.post("/estimate", &login, &q).await;
    assert_eq!(res.status(), 200);
    let v = json(res).await;
    assert_eq!(
        v["documents"][0]["items"][0]["price"]["amount_exclusive"].to_string(),
        "0.000000000000000000000000001"
    );
    assert_eq!(
        v["documents"][0]["items"][0]["price"]["total_tax"].to_string(),
        "0"
    );
}

/// Lets this process hold a thousand sockets more than a default soft limit of 1,024.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

#[test]
fn a_thousand_stalled_bodies_cost_little_memory_and_time_out() {
    raise_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    let config = process::write_config_with(
        dir.path(),
        &dir.path().join("data"),
        "[limits]\nbody_timeout_secs = 4\n",
    );
    let server = process::start(&config);
    assert_eq!(honest_call(&server.address), 200);
    let before = server.rss_mib();
    let host = server.address.trim_start_matches("http://").to_string();
    let auth = base64_basic();
    // Each declares a megabyte and sends a hundred bytes of it.
    let stalled: Vec<TcpStream> = (0..1000)
        .map(|_| {
            let mut s = TcpStream::connect(&host).unwrap();
            let head = format!(
                "POST /estimate HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
                 X-Bc-Store-Hash: s\r\nContent-Length: 1000000\r\n\r\n{}",
                " ".repeat(100)
            );
            s.write_all(head.as_bytes()).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let during = server.rss_mib();
    assert!(
        during - before < 100.0,
        "1,000 stalled bodies took {:.0} MiB",
        during - before
    );
    // Others are served meanwhile.
    assert_eq!(honest_call(&server.address), 200);
    let health = reqwest::blocking::get(format!("{}/healthz", server.address)).unwrap();
    assert_eq!(health.status(), 200);
    // And each stalled body ends in a JSON 408 once its time is up.
    let mut timed_out = 0;
    for mut s in stalled {
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        if answer.starts_with("HTTP/1.1 408") && answer.contains("\"request_timeout\"") {
            timed_out += 1;
        }
    }
    assert_eq!(timed_out, 1000);
    assert_eq!(honest_call(&server.address), 200);
}

#[test]
fn a_slow_client_is_dropped_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = process::start(&process::write_config(dir.path(), &dir.path().join("data")));
    let host = server.address.trim_start_matches("http://").to_string();
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(&host).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let started = Instant::now();
        for b in b"POST /estimate HTTP/1.1\r\nHost: x\r\nX-Slow: "
            .iter()
            .cycle()
        {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            let mut buf = [0u8; 256];
            match s.read(&mut buf) {
                Ok(0) => break, // closed
                Ok(n) => {
                    return (
                        started.elapsed(),
                        String::from_utf8_lossy(&buf[..n]).to_string(),
                    )
                }
                Err(_) => {} // nothing yet
            }
            std::thread::sleep(Duration::from_millis(800));
            if started.elapsed() > Duration::from_secs(30) {
                panic!("a client sending a byte a second was kept for 30 s");
            }
        }
        (started.elapsed(), String::new())
    });
    // Meanwhile honest clients are served.
    for _ in 0..5 {
        assert_eq!(honest_call(&server.address), 200);
        std::thread::sleep(Duration::from_millis(300));
    }
    let (took, answer) = slow.join().unwrap();
    assert!(took < Duration::from_secs(30));
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert_eq!(honest_call(&server.address), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_failed_logins_do_not_lock_out_good_credentials() {
    let app = std::sync::Arc::new(spawn_app().await);
    let login = app.account("acme", &[], &[], ten_percent()).await;
    let attackers: Vec<_> = (0..16)
        .map(|t| {
            let app = app.clone();
            let user = login.user.clone();
            tokio::spawn(async move {
                for i in 0..200 {
                    let bad = Login {
                        user: if i % 2 == 0 {
                            user.clone()
                        } else {
                            format!("nobody-{t}-{i}")
                        },
                        password: format!("guess-{t}-{i}"),
                    };
                    let res = app
                        .call("/estimate", Some(&bad), None, Some("s"), honest_body())
                        .await;
                    assert_eq!(res.status(), 401);
                }
            })
        })
        .collect();
    let mut honest = 0;
    while attackers.iter().any(|a| !a.is_finished()) {
        let res = app
            .call("/estimate", Some(&login), None, Some("s"), honest_body())
            .await;
        assert_eq!(
            res.status(),
            200,
            "good credentials stop working under attack"
        );
        honest += 1;
    }
    for a in attackers {
        a.await.unwrap();
    }
    assert!(honest > 0);
    assert_eq!(
        app.call("/estimate", Some(&login), None, Some("s"), honest_body())
            .await
            .status(),
        200
    );
}
