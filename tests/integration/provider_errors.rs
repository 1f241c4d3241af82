//! Errors and limits over HTTP (SPEC section 6): one JSON shape, stable codes, field paths.

use crate::common;
use common::*;
use serde_json::json;

async fn setup() -> (TestApp, Login) {
    let app = spawn_with(|c| {
        c.limits.body_bytes = 64 * 1024;
        c.limits.documents = 3;
        c.limits.lines_per_document = 20;
    })
    .await;
    let login = app.account("acme", &[], &[], ten_percent()).await;
    (app, login)
}

async fn expect(
    res: reqwest::Response,
    status: u16,
    code: &str,
    path: Option<&str>,
) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(res.headers()["content-type"], "application/json");
    let v = json(res).await;
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    if let Some(p) = path {
        assert_eq!(v["error"]["path"], p, "{v}");
    }
    v
}

async fn raw(app: &TestApp, login: &Login, path: &str, body: &[u8]) -> reqwest::Response {
    app.call(path, Some(login), None, Some("s"), body.to_vec())
        .await
}

#[tokio::test]
async fn malformed_json_is_400_invalid_json() {
    let (app, login) = setup().await;
    for body in [
        &b"{\"id\": "[..],
        b"not json",
        b"",
        b"{\"id\": \"q\", \"currency_code\": \"US",
        b"\xff\xfe{}",
    ] {
        expect(
            raw(&app, &login, "/estimate", body).await,
            400,
            "invalid_json",
            None,
        )
        .await;
    }
}

#[tokio::test]
async fn wrong_types_name_the_field() {
    let (app, login) = setup().await;
    let mut q = quote("q", &["1", "2", "3"]);
    q["documents"][0]["items"][2]["price"]["amount"] = json!("3.00");
    expect(
        app.post("/estimate", &login, &q).await,
        400,
        "invalid_field",
        Some("documents[0].items[2].price.amount"),
    )
    .await;
    let mut q = quote("q", &["1"]);
    q["documents"][0]["items"][0]["quantity"] = json!(-1);
    expect(
        app.post("/estimate", &login, &q).await,
        400,
        "invalid_field",
        Some("documents[0].items[0].quantity"),
    )
    .await;
    let mut q = quote("q", &["1"]);
    q["documents"] = json!({});
    expect(
        app.post("/commit", &login, &q).await,
        400,
        "invalid_field",
        Some("documents"),
    )
    .await;
}

#[tokio::test]
async fn missing_required_fields_name_the_field() {
    let (app, login) = setup().await;
    let mut q = quote("q", &["1"]);
    q["documents"][0]["items"][0]["price"]
        .as_object_mut()
        .unwrap()
        .remove("amount");
    expect(
        app.post("/estimate", &login, &q).await,
        400,
        "missing_field",
        Some("documents[0].items[0].price.amount"),
    )
    .await;
    let mut q = quote("q", &["1"]);
    q.as_object_mut().unwrap().remove("currency_code");
    expect(
        app.post("/estimate", &login, &q).await,
        400,
        "missing_field",
        Some("currency_code"),
    )
    .await;
    let mut q = quote("q", &["1"]);
    q["documents"][0]
        .as_object_mut()
        .unwrap()
        .remove("shipping");
    expect(
        app.post("/commit", &login, &q).await,
        400,
        "missing_field",
        Some("documents[0].shipping"),
    )
    .await;
}

#[tokio::test]
async fn unknown_currency_is_400() {
    let (app, login) = setup().await;
    let mut q = quote("q", &["1"]);
    q["currency_code"] = json!("ZZZ");
    expect(
        app.post("/estimate", &login, &q).await,
        400,
        "unknown_currency",
        Some("currency_code"),
    )
    .await;
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let (app, login) = setup().await;
    let big = vec![b' '; 65 * 1024];
    expect(
        raw(&app, &login, "/estimate", &big).await,
        413,
        "payload_too_large",
        None,
    )
    .await;
    // Chunked, without Content-Length: counted as it arrives.
    let stream =
        futures_util::stream::iter((0..100).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let res = app
        .client
        .post(format!("{}/estimate", app.address))
        .basic_auth(&login.user, Some(&login.password))
        .header("X-Bc-Store-Hash", "s")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    expect(res, 413, "payload_too_large", None).await;
}

#[tokio::test]
async fn too_many_documents_or_lines_is_400() {
    let (app, login) = setup().await;
    let mut q = quote("q", &["1"]);
    let doc = q["documents"][0].clone();
    q["documents"] = json!([doc.clone(), doc.clone(), doc.clone(), doc]);
    expect(
        app.post("/estimate", &login, &q).await,
        400,
        "too_many_lines",
        Some("documents"),
    )
    .await;
    let amounts: Vec<String> = (0..21).map(|i| i.to_string()).collect();
    let refs: Vec<&str> = amounts.iter().map(String::as_str).collect();
    expect(
        app.post("/estimate", &login, &quote("q", &refs)).await,
        400,
        "too_many_lines",
        Some("documents[0].items"),
    )
    .await;
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let (app, login) = setup().await;
    let mut q = quote("q", &["100"]);
    q["brand_new"] = json!({"nested": [1, 2, 3]});
    q["documents"][0]["items"][0]["gift_message"] = json!("hi");
    q["documents"][0]["destination_address"]["geo"] = json!({"lat": 1.5});
    let res = app.post("/estimate", &login, &q).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        json(res).await["documents"][0]["items"][0]["price"]["total_tax"],
        json!(10)
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let (app, _) = setup().await;
    let res = app
        .client
        .get(format!("{}/nope", app.address))
        .send()
        .await
        .unwrap();
    expect(res, 404, "not_found", None).await;
    let res = app
        .client
        .get(format!("{}/estimate", app.address))
        .send()
        .await
        .unwrap();
    expect(res, 405, "method_not_allowed", None).await;
}

#[tokio::test]
async fn no_internal_detail_and_no_500_on_hostile_bodies() {
    let (app, login) = setup().await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<Vec<u8>> = vec![
        deep.into_bytes(),
        br#"{"id":1}"#.to_vec(),
        serde_json::to_vec(&{
            let mut q = quote("q", &["1"]);
            q["documents"][0]["items"][0]["price"]["amount"] = serde_json::Value::Number(
                serde_json::Number::from_string_unchecked("1e400".into()),
            );
            q
        })
        .unwrap(),
        serde_json::to_vec(&quote("q", &["79228162514264337593543950335"])).unwrap(),
    ];
    for body in bodies {
        let res = raw(&app, &login, "/estimate", &body).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert!((400..500).contains(&status), "{status}: {text}");
        for leak in ["src/", "panicked", "sled", "serde_json::", "/root"] {
            assert!(!text.contains(leak), "{text}");
        }
    }
}
