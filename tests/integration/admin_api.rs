//! The admin API over HTTP (SPEC section 9): every endpoint, its validation, and rule
//! changes seen atomically by the next estimate.

use crate::common;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn status_and_json(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        },
    )
}

async fn app_with_account() -> TestApp {
    let app = spawn_app().await;
    let (s, _) = status_and_json(
        app.admin(
            Method::POST,
            "/admin/accounts",
            Some(json!({"id": "acme", "store_hashes": ["s1"]})),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201);
    app
}

#[tokio::test]
async fn every_endpoint_needs_the_bearer_token() {
    let app = app_with_account().await;
    for path in [
        "/admin/accounts",
        "/admin/accounts/acme",
        "/admin/accounts/acme/rules",
        "/admin/accounts/acme/tax/zones",
        "/metrics",
    ] {
        let res = app
            .client
            .get(format!("{}{path}", app.admin_address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{path}");
        let v = json(res).await;
        assert_eq!(v["error"]["code"], "unauthorized");
        let res = app
            .client
            .get(format!("{}{path}", app.admin_address))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{path}");
    }
    // The provider credentials are not admin credentials, and the admin API is not on the public listener.
    let res = app
        .client
        .get(format!("{}/admin/accounts", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn accounts_crud() {
    let app = app_with_account().await;
    let (s, v) = status_and_json(
        app.admin(Method::POST, "/admin/accounts", Some(json!({"id": "acme"})))
            .await,
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("conflict")));
    let (s, v) = status_and_json(
        app.admin(
            Method::POST,
            "/admin/accounts",
            Some(json!({"id": "Not A Slug"})),
        )
        .await,
    )
    .await;
    assert_eq!((s, v["error"]["path"].as_str()), (400, Some("id")));
    let (s, v) = status_and_json(
        app.admin(
            Method::POST,
            "/admin/accounts",
            Some(json!({"store_hashes": []})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("missing_field"))
    );

    let (s, v) = status_and_json(
        app.admin(
            Method::POST,
            "/admin/accounts",
            Some(json!({"id": "globex", "profiles": ["globex.example.net"]})),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(v["data"]["profiles"], json!(["globex.example.net"]));
    let (_, v) = status_and_json(app.admin(Method::GET, "/admin/accounts", None).await).await;
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["acme", "globex"]);

    let (s, v) = status_and_json(
        app.admin(
            Method::PATCH,
            "/admin/accounts/globex",
            Some(json!({"store_hashes": ["abc"]})),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["store_hashes"], json!(["abc"]));
    assert_eq!(
        v["data"]["profiles"],
        json!(["globex.example.net"]),
        "unspecified fields stay"
    );
    let (s, v) = status_and_json(
        app.admin(
            Method::PATCH,
            "/admin/accounts/globex",
            Some(json!({"profiles": ["acme"]})),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");

    assert_eq!(
        app.admin(Method::DELETE, "/admin/accounts/globex", None)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.admin(Method::GET, "/admin/accounts/globex", None)
            .await
            .status(),
        404
    );
    assert_eq!(
        app.admin(Method::DELETE, "/admin/accounts/globex", None)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn credentials_create_list_revoke() {
    let app = app_with_account().await;
    let (s, v) = status_and_json(
        app.admin(Method::POST, "/admin/accounts/acme/credentials", None)
            .await,
    )
    .await;
    assert_eq!(s, 201);
    let login = Login {
        user: v["data"]["username"].as_str().unwrap().into(),
        password: v["data"]["password"].as_str().unwrap().into(),
    };
    assert!(login.password.len() >= 32, "at least 128 bits");
    let (_, list) = status_and_json(
        app.admin(Method::GET, "/admin/accounts/acme/credentials", None)
            .await,
    )
    .await;
    assert_eq!(list["data"][0]["username"], login.user.as_str());
    assert!(list["data"][0]["created_at"].is_string());
    let text = list.to_string();
    assert!(
        !text.contains(&login.password) && !text.contains("hash") && !text.contains("salt"),
        "{text}"
    );

    let body = serde_json::to_vec(&quote("q", &["10"])).unwrap();
    assert_eq!(
        app.call("/estimate", Some(&login), None, Some("s1"), body.clone())
            .await
            .status(),
        200
    );
    let path = format!("/admin/accounts/acme/credentials/{}", login.user);
    assert_eq!(app.admin(Method::DELETE, &path, None).await.status(), 204);
    assert_eq!(
        app.call("/estimate", Some(&login), None, Some("s1"), body)
            .await
            .status(),
        401
    );
    assert_eq!(app.admin(Method::DELETE, &path, None).await.status(), 404);
}

#[tokio::test]
async fn rules_document_get_put_and_the_next_estimate_sees_it() {
    let app = app_with_account().await;
    let (_, login) = {
        let (_, v) = status_and_json(
            app.admin(Method::POST, "/admin/accounts/acme/credentials", None)
                .await,
        )
        .await;
        (
            (),
            Login {
                user: v["data"]["username"].as_str().unwrap().into(),
                password: v["data"]["password"].as_str().unwrap().into(),
            },
        )
    };
    let (s, v) = status_and_json(
        app.admin(Method::GET, "/admin/accounts/acme/rules", None)
            .await,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["zones"][0]["id"], 1);
    let body = serde_json::to_vec(&quote("q", &["100"])).unwrap();
    let before = json(
        app.call("/estimate", Some(&login), None, Some("s1"), body.clone())
            .await,
    )
    .await;
    assert_eq!(
        before["documents"][0]["items"][0]["price"]["total_tax"],
        json!(0)
    );

    let rules = json!({"rates": [{"id": 7, "tax_zone_id": 1, "name": "New Tax", "class_rates": [{"tax_class_id": 0, "rate": 8}]}]});
    let (s, v) = status_and_json(
        app.admin(Method::PUT, "/admin/accounts/acme/rules", Some(rules))
            .await,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["rates"][0]["name"], "New Tax");
    let after = json(
        app.call("/estimate", Some(&login), None, Some("s1"), body)
            .await,
    )
    .await;
    assert_eq!(
        after["documents"][0]["items"][0]["price"]["total_tax"],
        json!(8),
        "no restart needed"
    );

    let bad = json!({"rates": [{"id": 7, "tax_zone_id": 9, "name": "X", "class_rates": []}]});
    let (s, v) = status_and_json(
        app.admin(Method::PUT, "/admin/accounts/acme/rules", Some(bad))
            .await,
    )
    .await;
    assert_eq!(
        (s, v["error"]["path"].as_str()),
        (400, Some("rates[0].tax_zone_id"))
    );
    assert_eq!(
        app.admin(Method::GET, "/admin/accounts/nope/rules", None)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn zones_as_bigcommerce_with_its_validation() {
    let app = app_with_account().await;
    let au = json!([{"name": "Australia", "enabled": true, "shopper_target_settings": {"locations": [{"country_code": "AU", "postal_codes": ["2238", "2173"]}], "customer_groups": [2]}},
                    {"name": "Ohio", "shopper_target_settings": {"locations": [{"country_code": "US", "subdivision_codes": ["OH"]}]}}]);
    let (s, v) = status_and_json(
        app.admin(Method::POST, "/admin/accounts/acme/tax/zones", Some(au))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["id"], 2);
    assert_eq!(v["data"][1]["id"], 3);
    assert_eq!(v["data"][1]["enabled"], true);
    assert!(v["meta"].is_object());

    let (_, v) = status_and_json(
        app.admin(
            Method::GET,
            "/admin/accounts/acme/tax/zones?id:in=1,3",
            None,
        )
        .await,
    )
    .await;
    let ids = data_ids(&v);
    assert_eq!(ids, vec![1, 3]);

    let (s, v) = status_and_json(
        app.admin(
            Method::PUT,
            "/admin/accounts/acme/tax/zones",
            Some(json!([{"id": 2, "enabled": false}])),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"][0]["enabled"], false);
    assert_eq!(
        v["data"][0]["shopper_target_settings"]["customer_groups"],
        json!([2]),
        "unspecified fields stay"
    );

    // Validation mirrors BigCommerce.
    let cases = [
        (
            Method::PUT,
            json!([{"id": 1, "enabled": false}]),
            "[0].enabled",
        ),
        (
            Method::PUT,
            json!([{"id": 1, "shopper_target_settings": {"locations": [{"country_code": "US"}]}}]),
            "[0].shopper_target_settings",
        ),
        (
            Method::POST,
            json!([{"name": "Empty", "shopper_target_settings": {"locations": []}}]),
            "[0].shopper_target_settings.locations",
        ),
        (
            Method::POST,
            json!([{"name": "Bad", "shopper_target_settings": {"locations": [{"country_code": "USA"}]}}]),
            "[0].shopper_target_settings.locations[0].country_code",
        ),
        (
            Method::POST,
            json!([{"name": "No targets"}]),
            "[0].shopper_target_settings",
        ),
        (Method::PUT, json!([{"id": 99, "name": "x"}]), "[0].id"),
    ];
    for (method, body, path) in cases {
        let (s, v) = status_and_json(
            app.admin(
                method.clone(),
                "/admin/accounts/acme/tax/zones",
                Some(body.clone()),
            )
            .await,
        )
        .await;
        assert!((400..500).contains(&s), "{body}: {s}");
        assert_eq!(v["error"]["path"], path, "{body}: {v}");
    }
    let (s, _) = status_and_json(
        app.admin(
            Method::DELETE,
            "/admin/accounts/acme/tax/zones?id:in=1",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(s, 400, "zone 1 cannot be deleted");
    let (s, _) = status_and_json(
        app.admin(Method::DELETE, "/admin/accounts/acme/tax/zones", None)
            .await,
    )
    .await;
    assert_eq!(s, 400, "id:in is required");

    // Deleting a zone deletes its rates.
    let rates = json!([{"tax_zone_id": 3, "name": "Ohio Tax", "class_rates": [{"tax_class_id": 0, "rate": 5.75}]},
                       {"tax_zone_id": 2, "name": "GST", "class_rates": [{"tax_class_id": 0, "rate": 10}]}]);
    assert_eq!(
        app.admin(Method::POST, "/admin/accounts/acme/tax/rates", Some(rates))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.admin(
            Method::DELETE,
            "/admin/accounts/acme/tax/zones?id:in=3",
            None
        )
        .await
        .status(),
        204
    );
    let (_, v) = status_and_json(
        app.admin(Method::GET, "/admin/accounts/acme/tax/rates", None)
            .await,
    )
    .await;
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["GST"]);
}

#[tokio::test]
async fn rates_as_bigcommerce_with_filters_and_validation() {
    let app = app_with_account().await;
    let zones = json!([{"name": "A", "shopper_target_settings": {"locations": [{"country_code": "US"}]}},
                       {"name": "B", "shopper_target_settings": {"locations": [{"country_code": "CA"}]}}]);
    assert_eq!(
        app.admin(Method::POST, "/admin/accounts/acme/tax/zones", Some(zones))
            .await
            .status(),
        200
    );
    let rates = json!([{"tax_zone_id": 2, "name": "State", "enabled": true, "priority": 1, "class_rates": [{"rate": 5, "tax_class_id": 0}]},
                       {"tax_zone_id": 3, "name": "GST", "class_rates": [{"rate": 5, "tax_class_id": 0}]},
                       {"tax_zone_id": 3, "name": "QST", "priority": 2, "class_rates": [{"rate": 9.975, "tax_class_id": 0}], "effective_from": "2024-01-01"}]);
    let (s, v) = status_and_json(
        app.admin(Method::POST, "/admin/accounts/acme/tax/rates", Some(rates))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][2]["id"], 3);
    assert_eq!(
        v["data"][2]["class_rates"][0]["tax_class_id"], 0,
        "class ids stay integers"
    );
    assert_eq!(v["data"][2]["class_rates"][0]["rate"], json!(9.975));

    let (_, v) = status_and_json(
        app.admin(
            Method::GET,
            "/admin/accounts/acme/tax/rates?tax_zone_id:in=3",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["meta"]["pagination"]["total"], 2);
    let (_, v) = status_and_json(
        app.admin(
            Method::GET,
            "/admin/accounts/acme/tax/rates?id:in=1,3",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 3]
    );
    let (_, v) = status_and_json(
        app.admin(
            Method::GET,
            "/admin/accounts/acme/tax/rates?limit=2&page=2",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["meta"]["pagination"]["total_pages"], 2);
    let (s, _) = status_and_json(
        app.admin(Method::GET, "/admin/accounts/acme/tax/rates?id:in=x", None)
            .await,
    )
    .await;
    assert_eq!(s, 400);

    let (s, v) = status_and_json(
        app.admin(
            Method::PUT,
            "/admin/accounts/acme/tax/rates",
            Some(json!([{"id": 1, "name": "State Tax"}])),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            v["data"][0]["name"].as_str(),
            v["data"][0]["class_rates"][0]["rate"].clone()
        ),
        (Some("State Tax"), json!(5))
    );

    let cases = [
        (
            Method::POST,
            json!([{"tax_zone_id": 9, "name": "X", "class_rates": [{"rate": 1, "tax_class_id": 0}]}]),
            "[0].tax_zone_id",
        ),
        (
            Method::POST,
            json!([{"tax_zone_id": 2, "name": "X", "class_rates": [{"rate": 1, "tax_class_id": 42}]}]),
            "[0].class_rates[0].tax_class_id",
        ),
        (
            Method::POST,
            json!([{"tax_zone_id": 2, "name": "X", "class_rates": [{"rate": -1, "tax_class_id": 0}]}]),
            "[0].class_rates[0].rate",
        ),
        (
            Method::POST,
            json!([{"tax_zone_id": 2, "class_rates": []}]),
            "[0].name",
        ),
        (
            Method::PUT,
            json!([{"id": 1, "class_rates": [{"rate": "5", "tax_class_id": 0}]}]),
            "[0].class_rates[0].rate",
        ),
    ];
    for (method, body, path) in cases {
        let (s, v) = status_and_json(
            app.admin(method, "/admin/accounts/acme/tax/rates", Some(body.clone()))
                .await,
        )
        .await;
        assert_eq!(s, 400, "{body}: {v}");
        assert_eq!(v["error"]["path"], path, "{body}: {v}");
    }
    assert_eq!(
        app.admin(
            Method::DELETE,
            "/admin/accounts/acme/tax/rates?id:in=2,3",
            None
        )
        .await
        .status(),
        204
    );
    let (_, v) = status_and_json(
        app.admin(Method::GET, "/admin/accounts/acme/tax/rates", None)
            .await,
    )
    .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn classes_and_settings() {
    let app = app_with_account().await;
    let (s, v) = status_and_json(
        app.admin(
            Method::POST,
            "/admin/accounts/acme/tax/classes",
            Some(json!([{"name": "Class One"}, {"name": "Class Two"}])),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["id"], 1);
    let (s, _) = status_and_json(
        app.admin(
            Method::POST,
            "/admin/accounts/acme/tax/classes",
            Some(json!([{"name": "class one"}])),
        )
        .await,
    )
    .await;
    assert_eq!(s, 409, "names are unique case-insensitively");
    let (s, v) = status_and_json(
        app.admin(
            Method::PUT,
            "/admin/accounts/acme/tax/classes",
            Some(json!([{"id": 2, "name": "Renamed Two"}])),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["data"][0]["name"].as_str()),
        (200, Some("Renamed Two"))
    );
    let (_, v) = status_and_json(
        app.admin(Method::GET, "/admin/accounts/acme/tax/classes", None)
            .await,
    )
    .await;
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Default Tax Class", "Class One", "Renamed Two"]);
    assert_eq!(
        app.admin(
            Method::DELETE,
            "/admin/accounts/acme/tax/classes?id:in=0",
            None
        )
        .await
        .status(),
        400
    );
    assert_eq!(
        app.admin(
            Method::DELETE,
            "/admin/accounts/acme/tax/classes?id:in=2",
            None
        )
        .await
        .status(),
        204
    );

    let (s, v) = status_and_json(
        app.admin(Method::GET, "/admin/accounts/acme/tax/settings", None)
            .await,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["rounding_strategy"], "RATE_ROUNDING");
    assert_eq!(v["data"]["tax_address"], "destination");
    let put = json!({"fallback_strategy": "BASIC", "rounding_strategy": "NO_ROUNDING", "rounding_mode": "half_even",
                     "price_display_settings": {"invoice_price_display_strategy": "INCLUSIVE"}, "exemptions": {"RESALE": "all"}});
    let (s, v) = status_and_json(
        app.admin(Method::PUT, "/admin/accounts/acme/tax/settings", Some(put))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["fallback_strategy"], "BASIC");
    assert_eq!(v["data"]["rounding"], "per_document");
    assert_eq!(v["data"]["rounding_mode"], "half_even");
    assert_eq!(
        v["data"]["price_display_settings"]["invoice_price_display_strategy"],
        "INCLUSIVE"
    );
    for bad in [
        json!({"fallback_strategy": "SOMETIMES"}),
        json!({"rounding": "per_cent"}),
        json!({"no_such_setting": true}),
        json!({"rounding_mode": 5}),
    ] {
        let (s, v) = status_and_json(
            app.admin(
                Method::PUT,
                "/admin/accounts/acme/tax/settings",
                Some(bad.clone()),
            )
            .await,
        )
        .await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
}

#[tokio::test]
async fn zone_check_answers_the_zone_and_why() {
    let app = app_with_account().await;
    let zones = json!([{"name": "Australia", "shopper_target_settings": {"locations": [{"country_code": "AU"}]}},
                       {"name": "Sydney", "shopper_target_settings": {"locations": [{"country_code": "AU", "postal_codes": ["2000...2099"]}]}},
                       {"name": "NSW wholesale", "shopper_target_settings": {"locations": [{"country_code": "AU", "subdivision_codes": ["NSW"]}], "customer_groups": [5]}}]);
    assert_eq!(
        app.admin(Method::POST, "/admin/accounts/acme/tax/zones", Some(zones))
            .await
            .status(),
        200
    );
    let checks = json!([{"country_code": "AU", "subdivision_codes": "NSW", "postal_code": "2050", "customer_group_id": 0},
                        {"country_code": "AU", "subdivision_codes": "NSW", "postal_code": "2500", "customer_group_id": 5},
                        {"country_code": "AU", "postal_code": "3000"},
                        {"country_code": "FR"}]);
    let (s, v) = status_and_json(
        app.admin(
            Method::POST,
            "/admin/accounts/acme/tax/zonecheck",
            Some(checks),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["Sydney", "NSW wholesale", "Australia", "Default Tax Zone"]
    );
    let reasons = v["meta"]["reasons"].as_array().unwrap();
    assert_eq!(reasons[0]["match"], "postal_code");
    assert_eq!(reasons[0]["pattern"], "2000...2099");
    assert_eq!(reasons[1]["match"], "subdivision");
    assert_eq!(reasons[1]["customer_group_restricted"], true);
    assert_eq!(reasons[2]["match"], "country");
    assert_eq!(reasons[3]["match"], "default");
    assert!(reasons[3]["reason"]
        .as_str()
        .unwrap()
        .contains("default zone"));
    let (s, v) = status_and_json(
        app.admin(
            Method::POST,
            "/admin/accounts/acme/tax/zonecheck",
            Some(json!([{"postal_code": "1"}])),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["error"]["path"].as_str()),
        (400, Some("[0].country_code"))
    );
}

#[tokio::test]
async fn concurrent_estimates_never_see_a_half_applied_change() {
    let app = std::sync::Arc::new(app_with_account().await);
    let (_, v) = status_and_json(
        app.admin(Method::POST, "/admin/accounts/acme/credentials", None)
            .await,
    )
    .await;
    let login = Login {
        user: v["data"]["username"].as_str().unwrap().into(),
        password: v["data"]["password"].as_str().unwrap().into(),
    };
    // A: one 10 % rate in the default zone. B: an Ohio zone with 20 % + 30 % rates.
    // Half of B (the zone without its rates, or one rate) would give 0, 20 or 30.
    let a = json!({"rates": [{"id": 1, "tax_zone_id": 1, "name": "A", "class_rates": [{"tax_class_id": 0, "rate": 10}]}]});
    let b = json!({"zones": [{"id": 2, "name": "Ohio", "shopper_target_settings": {"locations": [{"country_code": "US", "subdivision_codes": ["OH"]}]}}],
                   "rates": [{"id": 2, "tax_zone_id": 2, "name": "B1", "class_rates": [{"tax_class_id": 0, "rate": 20}]},
                             {"id": 3, "tax_zone_id": 2, "name": "B2", "class_rates": [{"tax_class_id": 0, "rate": 30}]}]});
    assert_eq!(
        app.admin(Method::PUT, "/admin/accounts/acme/rules", Some(a.clone()))
            .await
            .status(),
        200
    );
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            for i in 0..20 {
                let doc = if i % 2 == 0 { b.clone() } else { a.clone() };
                assert_eq!(
                    app.admin(Method::PUT, "/admin/accounts/acme/rules", Some(doc))
                        .await
                        .status(),
                    200
                );
            }
        })
    };
    let mut seen = std::collections::BTreeSet::new();
    let body = serde_json::to_vec(&quote("q", &["100"])).unwrap();
    while !writer.is_finished() {
        let v = json(
            app.call("/estimate", Some(&login), None, Some("s1"), body.clone())
                .await,
        )
        .await;
        let tax = v["documents"][0]["items"][0]["price"]["total_tax"].to_string();
        assert!(
            tax == "10" || tax == "50",
            "a half-applied rule change gave {tax}"
        );
        seen.insert(tax);
    }
    writer.await.unwrap();
    assert!(!seen.is_empty());
}

#[tokio::test]
async fn metrics_in_prometheus_text_format() {
    let app = app_with_account().await;
    let (_, v) = status_and_json(
        app.admin(Method::POST, "/admin/accounts/acme/credentials", None)
            .await,
    )
    .await;
    let login = Login {
        user: v["data"]["username"].as_str().unwrap().into(),
        password: v["data"]["password"].as_str().unwrap().into(),
    };
    let body = serde_json::to_vec(&quote("m1", &["10"])).unwrap();
    assert_eq!(
        app.call("/estimate", Some(&login), None, Some("s1"), body.clone())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.call("/commit", Some(&login), None, Some("s1"), body.clone())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.call("/void?id=m1", Some(&login), None, Some("s1"), vec![])
            .await
            .status(),
        200
    );
    let res = app.admin(Method::GET, "/metrics", None).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    for needle in [
        r#"levy_http_requests_total{endpoint="/estimate",listener="public",status="200"} 1"#,
        r#"levy_http_requests_total{endpoint="/commit",listener="public",status="200"} 1"#,
        r#"levy_http_request_duration_seconds_bucket{endpoint="/estimate",listener="public",le="#,
        r#"levy_quote_operations_total{operation="commit"} 1"#,
        r#"levy_quote_operations_total{operation="void"} 1"#,
        "levy_store_flush_duration_seconds_count",
        "levy_store_flush_writers_bucket",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = app_with_account().await;
    let url = format!("{}/admin/accounts", app.admin_address);
    for (header, status) in [
        (format!("BEARER {ADMIN_TOKEN}"), 200),
        (format!("bearer {ADMIN_TOKEN}"), 200),
        (format!("Bearer  {ADMIN_TOKEN} "), 200),
        (format!("Basic {ADMIN_TOKEN}"), 401),
        (format!("Bearer {ADMIN_TOKEN}x"), 401),
        ("Bearer".to_string(), 401),
    ] {
        let res = app
            .client
            .get(&url)
            .header("Authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{header}");
    }
}

/// A ZIP table: 100,000 zones, each one postal code with its own rate.
fn hundred_thousand_zones() -> Value {
    let zones: Vec<Value> = (0..100_000u64)
        .map(|i| {
            json!({"id": i + 2, "name": format!("ZIP {:05}", i), "shopper_target_settings": {
                "locations": [{"country_code": "US", "postal_codes": [format!("{:05}", i)]}]}})
        })
        .collect();
    let rates: Vec<Value> = (0..100_000u64)
        .map(|i| {
            json!({"id": i + 1, "tax_zone_id": i + 2, "name": "Combined",
                   "class_rates": [{"tax_class_id": 0, "rate": format!("{}.{:03}", 5 + i % 5, i % 1000).parse::<serde_json::Number>().unwrap()}]})
        })
        .collect();
    json!({"zones": zones, "rates": rates})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_zones_round_trip_and_page() {
    let app = spawn_app().await;
    app.account("big", &["s"], &[], levy::rules::RulesDocument::default())
        .await;
    let doc = hundred_thousand_zones();
    let put = app
        .admin(Method::PUT, "/admin/accounts/big/rules", Some(doc))
        .await;
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let exported = json(
        app.admin(Method::GET, "/admin/accounts/big/rules", None)
            .await,
    )
    .await;
    assert_eq!(exported["zones"].as_array().unwrap().len(), 100_001);
    // What GET gives, PUT takes back, unchanged.
    let again = app
        .admin(
            Method::PUT,
            "/admin/accounts/big/rules",
            Some(exported.clone()),
        )
        .await;
    assert_eq!(again.status(), 200);
    let after = json(
        app.admin(Method::GET, "/admin/accounts/big/rules", None)
            .await,
    )
    .await;
    assert_eq!(after, exported);

    // tax/zones in pages, as BigCommerce's lists: page 3 of 50 holds zones 101..150.
    let page = json(
        app.admin(
            Method::GET,
            "/admin/accounts/big/tax/zones?limit=50&page=3",
            None,
        )
        .await,
    )
    .await;
    let ids = data_ids(&page);
    assert_eq!(ids, (101..=150).collect::<Vec<u64>>());
    let p = &page["meta"]["pagination"];
    assert_eq!(p["total"], 100_001);
    assert_eq!(p["per_page"], 50);
    assert_eq!(p["current_page"], 3);
    assert_eq!(p["total_pages"], 2001);
    assert_eq!(p["links"]["next"], "?page=4&limit=50");
    let last = json(
        app.admin(
            Method::GET,
            "/admin/accounts/big/tax/zones?limit=250&page=401",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(last["data"].as_array().unwrap().len(), 1);

    // And the rules answer: a shopper in 00042 pays that ZIP's rate.
    let (user, password) = levy::service::accounts::add_credential(&app.state, "big")
        .await
        .unwrap();
    let mut q = quote("zip", &["100"]);
    q["documents"][0]["destination_address"] =
        json!({"country_code": "US", "postal_code": "00042"});
    let v = json(
        app.call(
            "/estimate",
            Some(&Login { user, password }),
            None,
            Some("s"),
            serde_json::to_vec(&q).unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!(
        v["documents"][0]["items"][0]["price"]["total_tax"],
        json!(7.04)
    );
}

/// The ids of the `data` array of an admin answer, in order.
fn data_ids(v: &Value) -> Vec<u64> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["id"].as_u64().unwrap())
        .collect()
}

/// SPEC 10: the deeper rules travel through BigCommerce's views (POST, PUT, GET) and the
/// whole-rules document, and each bad value is a 4xx naming its field.
#[tokio::test]
async fn deeper_rules_survive_the_views_and_bad_values_name_their_field() {
    let app = app_with_account().await;
    let zones = json!([{"name": "Austin", "sourcing": "origin", "shopper_target_settings": {"locations": [
        {"country_code": "US", "subdivision_codes": ["TX"], "postal_codes": ["78701-0001...78701-4999"], "cities": ["Austin"]}]}}]);
    let (s, v) = status_and_json(
        app.admin(Method::POST, "/admin/accounts/acme/tax/zones", Some(zones))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["sourcing"], "origin");
    assert_eq!(
        v["data"][0]["shopper_target_settings"]["locations"][0]["cities"][0],
        "Austin"
    );
    let (s, v) = status_and_json(
        app.admin(
            Method::POST,
            "/admin/accounts/acme/tax/classes",
            Some(json!([{"name": "Clothing", "code": "PC040100"}])),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let class = v["data"][0]["id"].clone();
    let rates = json!([{"tax_zone_id": 2, "name": "TX State", "shipping": "proportional",
        "jurisdiction": {"type": "state", "name": "Texas", "code": "TX"},
        "class_rates": [{"tax_class_id": 0, "rate": 6.25}, {"tax_class_id": class, "rate": 6.25, "exempt_below": 110}]}]);
    let (s, v) = status_and_json(
        app.admin(Method::POST, "/admin/accounts/acme/tax/rates", Some(rates))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // A PUT that changes one field keeps the others.
    let (s, v) = status_and_json(
        app.admin(
            Method::PUT,
            "/admin/accounts/acme/tax/rates",
            Some(json!([{"id": 1, "name": "Texas"}])),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = status_and_json(
        app.admin(Method::GET, "/admin/accounts/acme/tax/rates", None)
            .await,
    )
    .await;
    let rate = &v["data"][0];
    assert_eq!(rate["name"], "Texas");
    assert_eq!(rate["shipping"], "proportional");
    assert_eq!(
        rate["jurisdiction"],
        json!({"type": "state", "name": "Texas", "code": "TX"})
    );
    assert_eq!(rate["class_rates"][1]["exempt_below"].to_string(), "110");
    // The whole document round-trips: what GET gives, PUT takes back unchanged.
    let (_, doc) = status_and_json(
        app.admin(Method::GET, "/admin/accounts/acme/rules", None)
            .await,
    )
    .await;
    assert_eq!(doc["zones"][1]["sourcing"], "origin");
    let (s, v) = status_and_json(
        app.admin(Method::PUT, "/admin/accounts/acme/rules", Some(doc.clone()))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, again) = status_and_json(
        app.admin(Method::GET, "/admin/accounts/acme/rules", None)
            .await,
    )
    .await;
    assert_eq!(again, doc);

    let zone = |loc: Value| json!({"zones": [{"id": 2, "name": "z", "shopper_target_settings": {"locations": [loc]}}]});
    let rate = |extra: Value| {
        let mut r = json!({"id": 1, "tax_zone_id": 1, "name": "r", "class_rates": [{"tax_class_id": 0, "rate": 5}]});
        for (k, v) in extra.as_object().unwrap() {
            if k == "class_rate" {
                for (ck, cv) in v.as_object().unwrap() {
                    r["class_rates"][0][ck] = cv.clone();
                }
            } else {
                r[k] = v.clone();
            }
        }
        json!({"rates": [r]})
    };
    let cases = [
        (
            json!({"classes": [{"id": "1", "name": "A", "code": "X"}, {"id": "2", "name": "B", "code": " x"}]}),
            "classes[1].code",
        ),
        (
            rate(json!({"class_rate": {"exempt_below": 0}})),
            "rates[0].class_rates[0].exempt_below",
        ),
        (
            rate(json!({"class_rate": {"taxable_above": -1}})),
            "rates[0].class_rates[0].taxable_above",
        ),
        (
            rate(json!({"class_rate": {"taxable_above": 1, "exempt_below": 2}})),
            "rates[0].class_rates[0].taxable_above",
        ),
        (rate(json!({"shipping": "weight"})), "rates[0].shipping"),
        (
            rate(json!({"jurisdiction": {"type": "parish", "name": "P"}})),
            "rates[0].jurisdiction.type",
        ),
        (
            rate(json!({"jurisdiction": {"type": "county", "name": " "}})),
            "rates[0].jurisdiction.name",
        ),
        (
            json!({"zones": [{"id": 2, "name": "z", "sourcing": "warehouse", "shopper_target_settings": {"locations": [{"country_code": "US"}]}}]}),
            "zones[0].sourcing",
        ),
        (
            zone(json!({"country_code": "US", "postal_codes": ["45891-0001...45891-49"]})),
            "zones[0].shopper_target_settings.locations[0].postal_codes[0]",
        ),
        (
            zone(json!({"country_code": "US", "postal_codes": ["45891...45891-4999"]})),
            "zones[0].shopper_target_settings.locations[0].postal_codes[0]",
        ),
        (
            zone(json!({"country_code": "US", "cities": ["  "]})),
            "zones[0].shopper_target_settings.locations[0].cities[0]",
        ),
    ];
    for (doc, path) in cases {
        let (s, v) = status_and_json(
            app.admin(Method::PUT, "/admin/accounts/acme/rules", Some(doc.clone()))
                .await,
        )
        .await;
        assert_eq!(s, 400, "{doc} -> {v}");
        assert_eq!(v["error"]["path"], path, "{doc} -> {v}");
    }
}

/// Accounts are listed a page at a time, by id, with BigCommerce's `meta.pagination`
/// (issue 19, item 5), from the admin API and the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_listed_a_page_at_a_time() {
    let app = spawn_app().await;
    for i in (0..7).rev() {
        let res = app
            .admin(
                Method::POST,
                "/admin/accounts",
                Some(json!({"id": format!("store-{i}")})),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let page = |p: u64| {
        let app = &app;
        async move {
            let (s, v) = status_and_json(
                app.admin(
                    Method::GET,
                    &format!("/admin/accounts?page={p}&limit=3"),
                    None,
                )
                .await,
            )
            .await;
            assert_eq!(s, 200);
            v
        }
    };
    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    let first = page(1).await;
    assert_eq!(ids(&first), ["store-0", "store-1", "store-2"]);
    let meta = &first["meta"]["pagination"];
    assert_eq!(
        (
            meta["total"].as_u64(),
            meta["total_pages"].as_u64(),
            meta["per_page"].as_u64()
        ),
        (Some(7), Some(3), Some(3))
    );
    assert_eq!(meta["links"]["next"], "?page=2&limit=3");
    assert!(meta["links"].get("previous").is_none());
    let last = page(3).await;
    assert_eq!(ids(&last), ["store-6"]);
    assert_eq!(last["meta"]["pagination"]["count"], 1);
    assert_eq!(
        last["meta"]["pagination"]["links"]["previous"],
        "?page=2&limit=3"
    );
    assert!(ids(&page(4).await).is_empty());
    // Without paging: the first 50.
    let (_, all) = status_and_json(app.admin(Method::GET, "/admin/accounts", None).await).await;
    assert_eq!(ids(&all).len(), 7);
    assert_eq!(all["meta"]["pagination"]["per_page"], 50);
    for (query, field) in [
        ("limit=251", "limit"),
        ("limit=0", "limit"),
        ("page=0", "page"),
        ("page=x", "page"),
    ] {
        let (s, v) = status_and_json(
            app.admin(Method::GET, &format!("/admin/accounts?{query}"), None)
                .await,
        )
        .await;
        assert_eq!(s, 400, "{query}");
        assert_eq!(v["error"]["path"], field, "{query}");
    }
    let (ok, text) =
        common::cli_text(&app, &["accounts", "list", "--page", "2", "--limit", "3"]).await;
    assert!(ok, "{text}");
    assert!(
        text.contains("store-3") && text.contains("store-5") && !text.contains("store-2"),
        "{text}"
    );
}
