//! SPEC 11.1 end to end: ZIP-code rate tables imported through the CLI and the admin
//! API, a monthly update that keeps older dates on older rates, and the jurisdiction
//! report over both months adding up to the committed taxes.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn sample(month: &str) -> String {
    format!(
        "{}/fixtures/zip-rates/TAXRATES_ZIP5_SAMPLE{month}.csv",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn order(id: &str, region: &str, zip: &str, date: &str) -> Value {
    json!({
        "id": id, "currency_code": "USD", "customer": {"customer_id": "7", "customer_group_id": "0"},
        "transaction_date": date,
        "documents": [{
            "id": "d", "destination_address": {"country_code": "US", "region_code": region, "postal_code": zip},
            "origin_address": {},
            "shipping": {"id": "s", "price": {"amount": 0, "tax_inclusive": false}, "quantity": 1, "type": "shipping"},
            "handling": {"id": "h", "price": {"amount": 0, "tax_inclusive": false}, "quantity": 1, "type": "handling"},
            "items": [{"id": "i", "price": {"amount": 100, "tax_inclusive": false}, "quantity": 1, "type": "item"}]
        }]
    })
}

/// The item's tax and its summary as `name amount` pairs.
async fn tax(app: &TestApp, login: &Login, path: &str, q: &Value) -> (String, Vec<String>) {
    let res = app.post(path, login, q).await;
    assert_eq!(res.status(), 200);
    let v = json(res).await;
    let price = &v["documents"][0]["items"][0]["price"];
    let summary = price["sales_tax_summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s["name"].as_str().unwrap(), s["amount"]))
        .collect();
    (price["total_tax"].to_string(), summary)
}

/// Every one of `lines` is in the CLI's answer.
fn says(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(text.contains(line), "no `{line}` in:\n{text}");
    }
}

#[tokio::test]
async fn a_monthly_update_keeps_older_dates_on_older_rates() {
    let app = spawn_app().await;
    // The merchant's own New York zone (5 %) stays theirs: imports never touch it.
    let own = rules(json!({
        "zones": [{"id": 2, "name": "New York", "shopper_target_settings": {"locations": [{"country_code": "US", "subdivision_codes": ["NY"]}]}}],
        "rates": [{"id": 1, "tax_zone_id": 2, "name": "Merchant NY", "class_rates": [{"tax_class_id": 0, "rate": 5}]}]
    }));
    let login = app.account("acme", &[], &[], own).await;

    // A dry run says what would change and changes nothing.
    let (ok, text) = cli_text(
        &app,
        &[
            "rules",
            "import-zip-rates",
            "acme",
            &sample("202401"),
            "--dry-run",
        ],
    )
    .await;
    assert!(ok, "{text}");
    says(
        &text,
        &[
            "would import ZIP-code rates effective from 2024-01-01",
            "NY: 2 ZIPs; zones +2 closed 0; rates +5 closed 0 unchanged 0",
        ],
    );
    let doc = json(
        app.admin(Method::GET, "/admin/accounts/acme/rules", None)
            .await,
    )
    .await;
    assert_eq!(
        doc["zones"].as_array().unwrap().len(),
        2,
        "zone 1 and the merchant's"
    );

    // January, dated by the file name.
    let (ok, text) = cli_text(
        &app,
        &["rules", "import-zip-rates", "acme", &sample("202401")],
    )
    .await;
    assert!(ok, "{text}");
    says(
        &text,
        &[
            "imported ZIP-code rates effective from 2024-01-01",
            "CA: 1 ZIPs; zones +1 closed 0; rates +4 closed 0 unchanged 0",
            "MA: 1 ZIPs; zones +1 closed 0; rates +1 closed 0 unchanged 0",
        ],
    );

    let jan = "2024-01-15T12:00:00Z";
    assert_eq!(
        tax(&app, &login, "/estimate", &order("e1", "NY", "10001", jan)).await,
        (
            "8.88".to_string(),
            vec![
                "NY State 4".to_string(),
                "NY City (NY NEW YORK CITY) 4.5".to_string(),
                "NY Special (NY NEW YORK CITY) 0.38".to_string()
            ]
        )
    );
    for (id, region, zip, date, want) in [
        ("e2", "NY", "14201", jan, "8.75"),
        ("e3", "CA", "90210", jan, "9.5"),
        ("e4", "MA", "02108", jan, "6.25"),
        // Before the table's date no imported rate is in effect.
        ("e6", "MA", "02108", "2023-12-31T12:00:00Z", "0"),
    ] {
        let got = tax(&app, &login, "/estimate", &order(id, region, zip, date)).await;
        assert_eq!(got.0, want, "{id}: {zip} on {date}");
    }
    // Elsewhere in New York the merchant's own zone applies.
    assert_eq!(
        tax(&app, &login, "/estimate", &order("e5", "NY", "10500", jan)).await,
        ("5".to_string(), vec!["Merchant NY 5".to_string()])
    );

    let mut committed = Vec::new();
    for (id, region, zip, date) in [
        ("q1", "NY", "10001", jan),
        ("q2", "NY", "14201", "2024-01-20T12:00:00Z"),
        ("q3", "CA", "90210", "2024-01-25T12:00:00Z"),
    ] {
        committed.push(
            tax(&app, &login, "/commit", &order(id, region, zip, date))
                .await
                .0,
        );
    }

    // February: Buffalo's county rate changes, 90210 leaves, 90211 joins.
    let (ok, text) = cli_text(
        &app,
        &["rules", "import-zip-rates", "acme", &sample("202402")],
    )
    .await;
    assert!(ok, "{text}");
    says(
        &text,
        &[
            "NY: 2 ZIPs; zones +0 closed 0; rates +1 closed 1 unchanged 4",
            "CA: 1 ZIPs; zones +1 closed 1; rates +4 closed 4 unchanged 0",
            "MA: 1 ZIPs; zones +0 closed 0; rates +0 closed 0 unchanged 1",
        ],
    );
    let feb = "2024-02-10T12:00:00Z";
    for (id, region, zip, date, want) in [
        ("e7", "NY", "14201", feb, "8"),
        ("e8", "NY", "14201", jan, "8.75"),
        ("e9", "CA", "90210", jan, "9.5"),
        ("e10", "CA", "90210", feb, "0"),
        ("e11", "CA", "90211", feb, "9.5"),
        ("e12", "NY", "10001", feb, "8.88"),
    ] {
        let got = tax(&app, &login, "/estimate", &order(id, region, zip, date)).await;
        assert_eq!(got.0, want, "{id}: {zip} on {date}");
    }
    for (id, region, zip, date) in [
        ("q4", "NY", "14201", feb),
        ("q5", "CA", "90211", "2024-02-11T12:00:00Z"),
    ] {
        committed.push(
            tax(&app, &login, "/commit", &order(id, region, zip, date))
                .await
                .0,
        );
    }
    assert_eq!(committed, ["8.88", "8.75", "9.5", "8", "9.5"]);

    // The report by jurisdiction over both months adds up to the committed taxes.
    let v = json(
        app.admin(
            Method::GET,
            "/admin/accounts/acme/reports/liability?from=2024-01-01&to=2024-02-29&group_by=jurisdiction",
            None,
        )
        .await,
    )
    .await;
    let rows = v["data"].as_array().unwrap();
    let total: rust_decimal::Decimal = rows
        .iter()
        .map(|r| {
            r["tax"]
                .to_string()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum();
    assert_eq!(total.to_string(), "44.63");
    let row = |kind: &str, name: &str| {
        rows.iter()
            .find(|r| r["type"] == kind && r["name"] == name)
            .map(|r| (r["tax"].to_string(), r["lines"].as_u64().unwrap()))
    };
    // q1, q2, q4 (4.00 each) on item lines, and their shipping and handling at 0.
    assert_eq!(row("state", "NY"), Some(("12".into(), 9)));
    assert_eq!(row("state", "CA"), Some(("12".into(), 6)));
    assert_eq!(row("county", "NY BUFFALO"), Some(("8.75".into(), 6)));
}

#[tokio::test]
async fn bad_tables_are_refused_with_file_and_line_and_change_nothing() {
    let app = spawn_app().await;
    app.account("acme", &[], &[], ten_percent()).await;
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(sample("202401")).unwrap();
    std::fs::write(dir.path().join("a.csv"), &good).unwrap();
    std::fs::write(
        dir.path().join("b.csv"),
        "State,ZipCode,TaxRegionName,EstimatedCombinedRate,StateRate,EstimatedCountyRate,EstimatedCityRate,EstimatedSpecialRate\n\
         TX,78701,AUSTIN,0.0825,0.0625,0,0.01,0.01\n\
         TX,78702,AUSTIN,0.0900,0.0625,0,0.01,0.01\n",
    )
    .unwrap();
    let a = dir.path().join("a.csv").display().to_string();
    let b = dir.path().join("b.csv").display().to_string();
    let (ok, text) = cli_text(
        &app,
        &[
            "rules",
            "import-zip-rates",
            "acme",
            &a,
            &b,
            "--effective-from",
            "2024-03-01",
        ],
    )
    .await;
    assert!(!ok);
    assert!(text.contains("b.csv, line 3"), "{text}");
    assert!(text.contains("add up to 0.0825"), "{text}");
    let doc = json(
        app.admin(Method::GET, "/admin/accounts/acme/rules", None)
            .await,
    )
    .await;
    assert_eq!(
        doc["zones"].as_array().unwrap().len(),
        1,
        "nothing was imported"
    );

    // The endpoint: a date is required, an unknown account is a 404.
    let res = app
        .admin(Method::POST, "/admin/accounts/acme/rules/zip-rates", None)
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(json(res).await["error"]["path"], "effective_from");
    let res = app
        .admin(
            Method::POST,
            "/admin/accounts/nobody/rules/zip-rates?effective_from=2024-01-01",
            None,
        )
        .await;
    assert_eq!(res.status(), 404);
    // Without a date in the file name, the CLI asks for one.
    let (ok, text) = cli_text(&app, &["rules", "import-zip-rates", "acme", &a]).await;
    assert!(!ok);
    assert!(text.contains("--effective-from"), "{text}");
}

/// Fixture 76 prices the January sample; its rules are what the importer makes of it.
#[test]
fn the_sample_table_imports_to_the_rules_of_fixture_76() {
    use levy::rules::import::zip_rates::{apply, ZipRows};
    let csv = std::fs::read(sample("202401")).unwrap();
    let mut reader = ZipRows::new(csv.as_slice());
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row().unwrap() {
        rows.push(row);
    }
    let mut doc = levy::rules::RulesDocument::default();
    let from = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    apply(&mut doc, rows, from).unwrap();
    let imported = serde_json::to_value(doc.validate().unwrap()).unwrap();
    let path = format!(
        "{}/fixtures/76_zip_table_sample_january.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let fixture: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let written: levy::rules::RulesDocument =
        serde_json::from_value(fixture["rules"].clone()).unwrap();
    assert_eq!(
        imported,
        serde_json::to_value(written.validate().unwrap()).unwrap()
    );
}
