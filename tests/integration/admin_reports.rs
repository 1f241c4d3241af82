//! Quote history and the liability report over the admin API.

use crate::common;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A quote with one item, a taxed shipping line of 10.00 and an exempt handling line.
fn order(id: &str, currency: &str, date: &str, item: u32) -> Value {
    json!({
        "id": id, "currency_code": currency, "customer": {"customer_id": "7", "customer_group_id": "0"},
        "transaction_date": date,
        "documents": [{
            "id": "d", "destination_address": {"country_code": "US", "region_code": "OH"}, "origin_address": {},
            "shipping": {"id": "s", "price": {"amount": 10, "tax_inclusive": false}, "quantity": 1, "type": "shipping"},
            "handling": {"id": "h", "price": {"amount": 0, "tax_inclusive": false}, "quantity": 1, "type": "handling", "tax_exempt": true},
            "items": [{"id": "i", "price": {"amount": item, "tax_inclusive": false}, "quantity": 1, "type": "item"}]
        }]
    })
}

async fn setup() -> (TestApp, Login) {
    let app = spawn_app().await;
    let rules = rules(json!({"rates": [
        {"id": 1, "tax_zone_id": 1, "name": "State", "class_rates": [{"tax_class_id": 0, "rate": 6}]},
        {"id": 2, "tax_zone_id": 1, "name": "County", "class_rates": [{"tax_class_id": 0, "rate": 1}]}
    ]}));
    let login = app.account("acme", &[], &[], rules).await;
    (app, login)
}

#[tokio::test]
async fn a_quote_shows_every_version_oldest_first() {
    let (app, login) = setup().await;
    assert_eq!(
        app.post(
            "/commit",
            &login,
            &order("q2", "USD", "2024-05-10T10:00:00Z", 50)
        )
        .await
        .status(),
        200
    );
    let mut adj = order("q2", "USD", "2024-05-10T10:00:00Z", 80);
    adj["adjust_description"] = json!("price corrected");
    assert_eq!(app.post("/adjust?id=q2", &login, &adj).await.status(), 200);
    assert_eq!(
        app.post("/void?id=q2", &login, &json!({})).await.status(),
        200
    );

    let res = app
        .admin(Method::GET, "/admin/accounts/acme/quotes/q2", None)
        .await;
    assert_eq!(res.status(), 200);
    let v = json(res).await;
    assert_eq!(v["data"]["id"], "q2");
    assert_eq!(v["data"]["status"], "voided");
    let versions = v["data"]["versions"].as_array().unwrap();
    let kinds: Vec<(u64, &str)> = versions
        .iter()
        .map(|x| (x["version"].as_u64().unwrap(), x["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, vec![(1, "commit"), (2, "adjust"), (3, "void")]);
    assert_eq!(
        versions[0]["request"]["documents"][0]["items"][0]["price"]["amount"],
        json!(50)
    );
    assert_eq!(
        versions[0]["response"]["documents"][0]["items"][0]["price"]["total_tax"],
        json!(3.5)
    );
    assert_eq!(versions[1]["adjust_description"], "price corrected");
    assert_eq!(
        versions[1]["response"]["documents"][0]["items"][0]["price"]["total_tax"],
        json!(5.6)
    );
    assert!(versions[2]["response"].is_null());
    for x in versions {
        assert!(x["at"].as_str().unwrap().starts_with("20"));
    }
    assert_eq!(
        app.admin(Method::GET, "/admin/accounts/acme/quotes/nope", None)
            .await
            .status(),
        404
    );
    assert_eq!(
        app.admin(Method::GET, "/admin/accounts/nobody/quotes/q2", None)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn liability_report_matches_hand_totals() {
    let (app, login) = setup().await;
    // q1 USD: 100 + shipping 10 -> State 6.00 + 0.60, County 1.00 + 0.10; taxable 110.
    assert_eq!(
        app.post(
            "/commit",
            &login,
            &order("q1", "USD", "2024-05-01T00:00:00Z", 100)
        )
        .await
        .status(),
        200
    );
    // q2 USD: committed at 50, adjusted to 80: only the latest counts: State 4.80 + 0.60, County 0.80 + 0.10; taxable 90.
    assert_eq!(
        app.post(
            "/commit",
            &login,
            &order("q2", "USD", "2024-05-10T10:00:00Z", 50)
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.post(
            "/adjust?id=q2",
            &login,
            &order("q2", "USD", "2024-05-10T10:00:00Z", 80)
        )
        .await
        .status(),
        200
    );
    // q3 USD: voided: left out.
    assert_eq!(
        app.post(
            "/commit",
            &login,
            &order("q3", "USD", "2024-05-15T10:00:00Z", 200)
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.post("/void?id=q3", &login, &json!({})).await.status(),
        200
    );
    // q4 EUR: 40 + 10 -> State 2.40 + 0.60, County 0.40 + 0.10; taxable 50.
    assert_eq!(
        app.post(
            "/commit",
            &login,
            &order("q4", "EUR", "2024-05-31T23:59:59Z", 40)
        )
        .await
        .status(),
        200
    );
    // q5 USD: June, outside the range.
    assert_eq!(
        app.post(
            "/commit",
            &login,
            &order("q5", "USD", "2024-06-01T00:00:00Z", 1000)
        )
        .await
        .status(),
        200
    );

    let res = app
        .admin(
            Method::GET,
            "/admin/accounts/acme/reports/liability?from=2024-05-01&to=2024-05-31",
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let v = json(res).await;
    let rows: Vec<(String, String, String, String, String, u64)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["currency"].as_str().unwrap().to_string(),
                r["rate_id"].as_str().unwrap().to_string(),
                r["rate_name"].as_str().unwrap().to_string(),
                r["taxable_amount"].to_string(),
                r["tax"].to_string(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = vec![
        ("EUR", "1", "State", "50", "3", 1),
        ("EUR", "2", "County", "50", "0.5", 1),
        ("USD", "1", "State", "200", "12", 2),
        ("USD", "2", "County", "200", "2", 2),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(c, i, n, t, x, k)| {
            (
                c.to_string(),
                i.to_string(),
                n.to_string(),
                t.to_string(),
                x.to_string(),
                k,
            )
        })
        .collect();
    assert_eq!(rows, expected);
    assert_eq!(
        v["data"][2]["lines"], 4,
        "USD State taxed q1 item + shipping and q2 item + shipping"
    );

    let res = app
        .admin(
            Method::GET,
            "/admin/accounts/acme/reports/liability?from=2024-05-01&to=2024-05-31&format=csv",
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    assert_eq!(
        csv,
        "rate_id,rate_name,currency,taxable_amount,tax,count,lines\n1,State,EUR,50,3,1,2\n2,County,EUR,50,0.5,1,2\n1,State,USD,200,12,2,4\n2,County,USD,200,2,2,4\n"
    );

    for bad in [
        "from=2024-05-01",
        "from=2024-13-01&to=2024-05-31",
        "from=2024-05-31&to=2024-05-01",
        "from=2024-05-01&to=2024-05-31&format=xml",
    ] {
        let res = app
            .admin(
                Method::GET,
                &format!("/admin/accounts/acme/reports/liability?{bad}"),
                None,
            )
            .await;
        assert_eq!(res.status(), 400, "{bad}");
    }
}
