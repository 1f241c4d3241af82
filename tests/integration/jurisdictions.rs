//! SPEC 10.8 end to end: the audit kept with each committed version, shown by the admin
//! quote view, and the liability report by jurisdiction (JSON, CSV, CLI) computed from
//! it alone — on both storage backends.

use crate::common::{self, *};
use levy::config::StoreKind;
use reqwest::Method;
use serde_json::{json, Value};

/// New York (state 4 % and city 4.5 % exempt clothing under 110.00; MCTD 0.375 %) and
/// Massachusetts (6.25 %, clothing taxed above 175.00, shipping in proportion).
fn rules_with_jurisdictions() -> Value {
    json!({
        "classes": [{"id": "7", "name": "Clothing"}],
        "zones": [
            {"id": 2, "name": "New York", "shopper_target_settings": {"locations": [{"country_code": "US", "subdivision_codes": ["NY"]}]}},
            {"id": 3, "name": "Massachusetts", "shopper_target_settings": {"locations": [{"country_code": "US", "subdivision_codes": ["MA"]}]}}
        ],
        "rates": [
            {"id": 1, "tax_zone_id": 2, "name": "NY State", "jurisdiction": {"type": "state", "name": "New York", "code": "NY"},
             "class_rates": [{"tax_class_id": 0, "rate": 4}, {"tax_class_id": 7, "rate": 4, "exempt_below": 110}]},
            {"id": 2, "tax_zone_id": 2, "name": "NYC", "jurisdiction": {"type": "city", "name": "New York City", "code": "NYC"},
             "class_rates": [{"tax_class_id": 0, "rate": 4.5}, {"tax_class_id": 7, "rate": 4.5, "exempt_below": 110}]},
            {"id": 3, "tax_zone_id": 2, "name": "MCTD", "jurisdiction": {"type": "special", "name": "MCTD"},
             "class_rates": [{"tax_class_id": 0, "rate": 0.375}]},
            {"id": 4, "tax_zone_id": 3, "name": "MA State", "shipping": "proportional",
             "jurisdiction": {"type": "state", "name": "Massachusetts", "code": "MA"},
             "class_rates": [{"tax_class_id": 0, "rate": 6.25}, {"tax_class_id": 7, "rate": 6.25, "taxable_above": 175}]}
        ]
    })
}

fn item(id: &str, amount: &str, clothing: bool, exempt: bool) -> Value {
    let mut v = json!({"id": id, "price": {"amount": amount.parse::<f64>().unwrap(), "tax_inclusive": false},
        "quantity": 1, "type": "item", "tax_exempt": exempt});
    if clothing {
        v["tax_class"] = json!({"code": "", "class_id": "7", "name": "Clothing"});
    }
    v
}

fn order(id: &str, region: &str, date: &str, items: Vec<Value>) -> Value {
    json!({
        "id": id, "currency_code": "USD", "customer": {"customer_id": "7", "customer_group_id": "0"},
        "transaction_date": date,
        "documents": [{
            "id": "d", "destination_address": {"country_code": "US", "region_code": region}, "origin_address": {},
            "shipping": {"id": "s", "price": {"amount": 10, "tax_inclusive": false}, "quantity": 1, "type": "shipping"},
            "handling": {"id": "h", "price": {"amount": 0, "tax_inclusive": false}, "quantity": 1, "type": "handling"},
            "items": items
        }]
    })
}

const CSV: &str = "type,name,code,currency,taxable,exempt,tax,lines
city,New York City,NYC,USD,110,109.99,4.95,4
special,MCTD,,USD,219.99,0,0.83,4
state,Massachusetts,MA,USD,108.33,50,6.77,5
state,New York,NY,USD,110,109.99,4.4,4
";

async fn report_from_the_audit(app: TestApp) {
    let rules = common::rules(rules_with_jurisdictions());
    let login = app.account("acme", &[], &[], rules).await;
    // q1, New York. Shirt 109.99: state and city exempt_below, MCTD 0.41. Item 100.00:
    // 4.00 + 4.50 + 0.38. Shipping 10.00: 0.40 + 0.45 + 0.04. Handling 0: every rate, 0.
    let q1 = order(
        "q1",
        "NY",
        "2024-05-02T10:00:00Z",
        vec![
            item("a", "109.99", true, false),
            item("b", "100.00", false, false),
        ],
    );
    // q2, Massachusetts. Coat 150.00: base 0 (under 175.00), tax 0. Item 100.00: 6.25.
    // Exempt line 50.00. Shipping 10.00 follows the goods: T = 250, A = 300, share
    // 8.33, tax 10 x 6.25 % x 5/6 = 0.5208, 0.52. Handling 0.
    let q2 = order(
        "q2",
        "MA",
        "2024-05-03T10:00:00Z",
        vec![
            item("c", "150.00", true, false),
            item("e", "100.00", false, false),
            item("g", "50.00", false, true),
        ],
    );
    // Left out: q3 is voided, q4 is in June.
    let q3 = order(
        "q3",
        "NY",
        "2024-05-04T10:00:00Z",
        vec![item("x", "500", false, false)],
    );
    let q4 = order(
        "q4",
        "NY",
        "2024-06-01T00:00:00Z",
        vec![item("y", "500", false, false)],
    );
    for q in [&q1, &q2, &q3, &q4] {
        let res = app.post("/commit", &login, q).await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
    assert_eq!(
        app.post("/void?id=q3", &login, &json!({})).await.status(),
        200
    );

    // The admin quote view shows the audit: the zone and why, each rate's base and tax
    // or why nothing.
    let v = json(
        app.admin(Method::GET, "/admin/accounts/acme/quotes/q1", None)
            .await,
    )
    .await;
    let audit = &v["data"]["versions"][0]["audit"]["documents"][0];
    assert_eq!(audit["zone"]["id"], 2);
    assert_eq!(audit["zone"]["match"], "subdivision");
    let shirt = &audit["lines"][0];
    assert_eq!(shirt["id"], "a");
    assert_eq!(shirt["rates"][0]["id"], 1);
    assert_eq!(shirt["rates"][0]["reason"], "exempt_below");
    assert_eq!(shirt["rates"][0]["jurisdiction"]["code"], "NY");
    assert_eq!(shirt["rates"][2]["base"].to_string(), "109.99");
    assert_eq!(shirt["rates"][2]["tax"].to_string(), "0.41");

    let path = "/admin/accounts/acme/reports/liability?from=2024-05-01&to=2024-05-31&group_by=jurisdiction";
    let before = json(app.admin(Method::GET, path, None).await).await;
    let rows: Vec<String> = before["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{},{},{},{},{},{},{},{}\n",
                r["type"].as_str().unwrap(),
                r["name"].as_str().unwrap(),
                r["code"].as_str().unwrap(),
                r["currency"].as_str().unwrap(),
                r["taxable"],
                r["exempt"],
                r["tax"],
                r["lines"]
            )
        })
        .collect();
    assert_eq!(
        format!(
            "type,name,code,currency,taxable,exempt,tax,lines\n{}",
            rows.concat()
        ),
        CSV
    );
    let csv = app
        .admin(Method::GET, &format!("{path}&format=csv"), None)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv, CSV);

    // Today's rules change (every rate 10 %, no jurisdictions): the report does not.
    let res = app
        .admin(
            Method::PUT,
            "/admin/accounts/acme/rules",
            Some(json!({"rates": [{"id": 1, "tax_zone_id": 1, "name": "Flat", "class_rates": [{"tax_class_id": 0, "rate": 10}]}]})),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let after = json(app.admin(Method::GET, path, None).await).await;
    assert_eq!(after, before);

    // The CLI asks the same.
    let out = levy_cli(
        &app.admin_address,
        [
            "report",
            "liability",
            "acme",
            "--from",
            "2024-05-01",
            "--to",
            "2024-05-31",
            "--group-by",
            "jurisdiction",
            "--format",
            "csv",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        CSV.trim_end()
    );

    let bad = app
        .admin(
            Method::GET,
            "/admin/accounts/acme/reports/liability?from=2024-05-01&to=2024-05-31&group_by=county",
            None,
        )
        .await;
    assert_eq!(bad.status(), 400);
    assert_eq!(json(bad).await["error"]["path"], "group_by");
}

#[tokio::test]
async fn the_jurisdiction_report_comes_from_the_audit_on_sled() {
    report_from_the_audit(spawn_app().await).await;
}

#[tokio::test]
async fn the_jurisdiction_report_comes_from_the_audit_on_postgres() {
    let url = crate::common::postgres::database();
    let app = spawn_with(|c| {
        c.store.kind = StoreKind::Postgres;
        c.store.url = Some(url);
    })
    .await;
    report_from_the_audit(app).await;
}
