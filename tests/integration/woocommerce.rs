//! SPEC 11.2: a WooCommerce tax rate CSV imported (CLI and admin API), priced as
//! WooCommerce would, exported back to an equivalent file, and refused where Levy cannot
//! carry it over. The file is `fixtures/woocommerce/tax_rates.csv`, the taxes worked by hand.

use crate::common::*;
use serde_json::{json, Value};

fn file() -> String {
    format!(
        "{}/fixtures/woocommerce/tax_rates.csv",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// One document: an item of `class` (a WooCommerce slug sent as the tax code; "" for the
/// standard class) for 100.00 and shipping of 10.00 sent with the `shipping` code.
fn order(country: &str, region: &str, zip: &str, city: &str, class: &str) -> Value {
    json!({
        "id": "q", "currency_code": "USD", "customer": {"customer_id": "7", "customer_group_id": "0"},
        "transaction_date": "2024-05-01T12:00:00Z",
        "documents": [{
            "id": "d", "destination_address": {"country_code": country, "region_code": region, "postal_code": zip, "city": city},
            "origin_address": {},
            "shipping": {"id": "s", "price": {"amount": 10, "tax_inclusive": false}, "quantity": 1, "type": "shipping",
                         "tax_class": {"code": "shipping", "class_id": "99", "name": "Shipping"}},
            "handling": {"id": "h", "price": {"amount": 0, "tax_inclusive": false}, "quantity": 1, "type": "handling"},
            "items": [{"id": "i", "price": {"amount": 100, "tax_inclusive": false}, "quantity": 1, "type": "item",
                       "tax_class": {"code": class, "class_id": "1", "name": "Class"}}]
        }]
    })
}

/// (item tax, shipping tax) of an estimate.
async fn taxes(app: &TestApp, login: &Login, q: &Value) -> (String, String) {
    let res = app.post("/estimate", login, q).await;
    assert_eq!(res.status(), 200);
    let v = json(res).await;
    let doc = &v["documents"][0];
    (
        doc["items"][0]["price"]["total_tax"].to_string(),
        doc["shipping"]["price"]["total_tax"].to_string(),
    )
}

/// The hand-worked taxes of the file, for an account that imported it.
async fn prices_as_woocommerce_would(app: &TestApp, login: &Login) {
    let cases = [
        // California 7.25 %, Shipping = 0; no reduced-rate row there: no tax for that class.
        (("US", "CA", "90001", "Los Angeles", ""), ("7.25", "0")),
        (
            ("US", "CA", "90001", "Los Angeles", "reduced-rate"),
            ("0", "0"),
        ),
        // New York City: two non-compound rates on the price, 4.5 % + 4 %.
        (("US", "NY", "10001", "New York", ""), ("8.5", "0.85")),
        // Elsewhere in New York no location of the file matches: no tax.
        (("US", "NY", "10003", "New York", ""), ("0", "0")),
        // The UK by class: 20 %, 5 %, 0 %; shipping (its own class) at the standard 20 %.
        (("GB", "", "SW1A 1AA", "London", ""), ("20", "2")),
        (("GB", "", "SW1A 1AA", "London", "reduced-rate"), ("5", "2")),
        (("GB", "", "SW1A 1AA", "London", "zero-rate"), ("0", "2")),
        // Quebec: GST 5 %, then QST 9.975 % compound on 105.00 = 10.47375, 10.47.
        (("CA", "QC", "H2X 1Y4", "Montreal", ""), ("15.47", "1.55")),
    ];
    for ((country, region, zip, city, class), (item, shipping)) in cases {
        let got = taxes(app, login, &order(country, region, zip, city, class)).await;
        assert_eq!(
            got,
            (item.to_string(), shipping.to_string()),
            "{country} {region} {zip} class `{class}`"
        );
    }
}

/// The file's rows without the Priority column (an export numbers priorities per
/// location; equal rows of different classes never interact), sorted.
fn rows_without_priority(csv: &str) -> Vec<String> {
    let mut rows: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            f.remove(6);
            f.join(",")
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn a_woocommerce_file_imports_prices_and_exports_back() {
    let app = spawn_app().await;
    let login = app
        .account("acme", &[], &[], levy::rules::RulesDocument::default())
        .await;
    let (ok, text) = cli_text(&app, &["rules", "import-woocommerce", "acme", &file()]).await;
    assert!(ok, "{text}");
    assert!(
        text.contains("imported 4 zones and 8 rates")
            && text.contains("new classes: reduced-rate, shipping, zero-rate"),
        "{text}"
    );
    prices_as_woocommerce_would(&app, &login).await;

    // Export: the same rows (Priority aside).
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("export.csv");
    let (ok, text) = cli_text(
        &app,
        &[
            "rules",
            "export-woocommerce",
            "acme",
            "-o",
            &exported.display().to_string(),
        ],
    )
    .await;
    assert!(ok, "{text}");
    let original = std::fs::read_to_string(file()).unwrap();
    let export = std::fs::read_to_string(&exported).unwrap();
    assert_eq!(
        rows_without_priority(&export),
        rows_without_priority(&original),
        "{export}"
    );

    // Imported into another account, the export prices the same.
    let login2 = app
        .account("beta", &[], &[], levy::rules::RulesDocument::default())
        .await;
    let (ok, text) = cli_text(
        &app,
        &[
            "rules",
            "import-woocommerce",
            "beta",
            &exported.display().to_string(),
        ],
    )
    .await;
    assert!(ok, "{text}");
    let same = taxes(&app, &login2, &order("CA", "QC", "H2X 1Y4", "Montreal", "")).await;
    assert_eq!(same, ("15.47".to_string(), "1.55".to_string()));

    // A second import replaces the first, not adds to it.
    let (ok, text) = cli_text(&app, &["rules", "import-woocommerce", "acme", &file()]).await;
    assert!(ok, "{text}");
    prices_as_woocommerce_would(&app, &login).await;

    // What Levy cannot carry over is refused with the line and the reason; nothing changes.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!("{original}US,CA,90210,,1.0000,Beverly Hills,2,0,1,\n"),
    )
    .unwrap();
    let (ok, text) = cli_text(
        &app,
        &[
            "rules",
            "import-woocommerce",
            "acme",
            &bad.display().to_string(),
        ],
    )
    .await;
    assert!(!ok);
    assert!(
        text.contains("line 10") && text.contains("WooCommerce applies both"),
        "{text}"
    );
    prices_as_woocommerce_would(&app, &login).await;
}
