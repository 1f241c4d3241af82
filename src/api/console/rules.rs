//! Tax zones and rates in BigCommerce's words, edited through the same rule edits and
//! validation as the admin API's `/tax/zones` and `/tax/rates`, and the address check.

use super::page::{self, csrf_field, page, refused, PageError};
use super::{log_action, Console, Fields};
use crate::error::LevyError;
use crate::rules::editing;
use crate::rules::{Location, Rate, RulesDocument, Zone, DEFAULT_ZONE_ID};
use crate::service;
use crate::service::rules::AddressCheck;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde_json::{json, Value};

fn document(console: &Console) -> Result<RulesDocument, PageError> {
    Ok(service::rules::get(&console.state, &console.session.account)?.into_document())
}

fn class_name(doc: &RulesDocument, id: &str) -> String {
    doc.classes
        .iter()
        .find(|c| c.id == id)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| {
            if id == "0" {
                "Default Tax Class".into()
            } else {
                format!("Class {id}")
            }
        })
}

fn locations(zone: &Zone) -> String {
    let one = |l: &Location| {
        let mut s = l.country_code.clone();
        if !l.subdivision_codes.is_empty() {
            s += &format!(" › {}", l.subdivision_codes.join(", "));
        }
        if !l.cities.is_empty() {
            s += &format!(" › cities {}", l.cities.join(", "));
        }
        if !l.postal_codes.is_empty() {
            let shown: Vec<&str> = l.postal_codes.iter().take(6).map(String::as_str).collect();
            s += &format!(" › postal codes {}", shown.join(", "));
            if l.postal_codes.len() > shown.len() {
                s += &format!(" and {} more", l.postal_codes.len() - shown.len());
            }
        }
        s
    };
    let all: Vec<String> = zone
        .shopper_target_settings
        .locations
        .iter()
        .map(one)
        .collect();
    if all.is_empty() {
        "every address no other zone matches".into()
    } else {
        all.join("; ")
    }
}

fn percent(rate: &Rate, doc: &RulesDocument) -> Markup {
    html! {
        @for (i, c) in rate.class_rates.iter().enumerate() {
            @if i > 0 { br; }
            (class_name(doc, &c.tax_class_id)) ": " strong { (c.rate.normalize()) "%" }
        }
    }
}

fn on_off(enabled: bool) -> Markup {
    html! { @if enabled { span.badge.on { "Enabled" } } @else { span.badge.off { "Disabled" } } }
}

/// `GET /app/zones`.
pub async fn zones(console: Console) -> Result<HttpResponse, PageError> {
    let doc = document(&console)?;
    let shown = 200;
    let content = html! {
        p.muted { "Tax zones group shipping addresses; each zone's tax rates say what each tax class pays. "
            "When an address is in several zones, the most specific one applies (ZIP+4, postal code, city, state, country)." }
        @if doc.zones.len() > shown {
            div.message.info { "Showing the first " (shown) " of " (doc.zones.len()) " zones (imported rate tables make many)." }
        }
        @for zone in doc.zones.iter().take(shown) {
            div.panel {
                h2 {
                    (zone.name) " "
                    (on_off(zone.enabled))
                }
                p.muted {
                    @if zone.id == DEFAULT_ZONE_ID { "Default tax zone: " }
                    (locations(zone))
                    " · " a href=(format!("/app/zones/{}", zone.id)) { "Edit zone" }
                }
                table {
                    thead { tr { th { "Tax rate" } th { "Tax class rates" } th.num { "Priority" } th { "Status" } th {} } }
                    tbody {
                        @for rate in doc.rates.iter().filter(|r| r.tax_zone_id == zone.id) {
                            tr {
                                td { (rate.name) }
                                td { (percent(rate, &doc)) }
                                td.num { (rate.priority) }
                                td { (on_off(rate.enabled)) }
                                td { a href=(format!("/app/rates/{}", rate.id)) { "Edit" } }
                            }
                        }
                    }
                }
                div.actions { a.button.secondary href=(format!("/app/rates/new?zone={}", zone.id)) { "Add a tax rate" } }
            }
        }
    };
    Ok(page(
        &console.session,
        "/app/zones",
        "Tax zones & rates",
        content,
    ))
}

fn find_zone(doc: &RulesDocument, id: u64) -> Result<&Zone, PageError> {
    doc.zones
        .iter()
        .find(|z| z.id == id)
        .ok_or_else(|| PageError::new(404, "Not found", format!("There is no tax zone {id}.")))
}

fn zone_page(
    console: &Console,
    zone: &Zone,
    form: Option<&Fields>,
    error: Option<&LevyError>,
) -> HttpResponse {
    let name = form.map_or(zone.name.as_str(), |f| f.get("name"));
    let enabled = form.map_or(zone.enabled, |f| f.get("enabled") == "on");
    let content = html! {
        @if let Some(e) = error { (refused(e)) }
        div.panel {
            p.muted { "Applies to: " (locations(zone)) }
            form.stack method="post" {
                (csrf_field(&console.session))
                label for="name" { "Tax zone name" }
                input #name type="text" name="name" value=(name) size="40";
                label { input type="checkbox" name="enabled" checked[enabled]; " Enabled" }
                div.actions { button type="submit" { "Save" } a.button.secondary href="/app/zones" { "Cancel" } }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page::respond(
        status,
        &console.session,
        "/app/zones",
        &format!("Edit tax zone: {}", zone.name),
        content,
    )
}

/// `GET /app/zones/{id}`.
pub async fn zone_form(console: Console, id: web::Path<u64>) -> Result<HttpResponse, PageError> {
    let doc = document(&console)?;
    Ok(zone_page(&console, find_zone(&doc, *id)?, None, None))
}

/// `POST /app/zones/{id}`: name and enabled, as `PUT /tax/zones` takes them.
pub async fn zone_save(
    console: Console,
    id: web::Path<u64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let form = Fields::checked(&console, form)?;
    let patch =
        json!({"id": *id, "name": form.get("name").trim(), "enabled": form.get("enabled") == "on"});
    let result = service::rules::edit(&console.state, &console.session.account, move |doc| {
        editing::replace_zones(doc, &[patch])
    })
    .await;
    match result {
        Ok(_) => {
            log_action(&console, "zone.update", &format!("zone {}", *id));
            Ok(see_other("/app/zones"))
        }
        Err(e) => {
            let doc = document(&console)?;
            Ok(zone_page(
                &console,
                find_zone(&doc, *id)?,
                Some(&form),
                Some(&e),
            ))
        }
    }
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .finish()
}

/// The class ids a rate form offers: the account's classes, the default class, and any
/// the rate already names.
fn class_ids(doc: &RulesDocument, rate: Option<&Rate>) -> Vec<String> {
    let mut ids: Vec<String> = vec!["0".into()];
    for c in &doc.classes {
        if !ids.contains(&c.id) {
            ids.push(c.id.clone());
        }
    }
    for c in rate.map(|r| r.class_rates.as_slice()).unwrap_or_default() {
        if !ids.contains(&c.tax_class_id) {
            ids.push(c.tax_class_id.clone());
        }
    }
    ids
}

struct RateForm<'a> {
    title: String,
    zone: &'a Zone,
    rate: Option<&'a Rate>,
}

impl<'a> RateForm<'a> {
    fn edit(rate: &'a Rate, zone: &'a Zone) -> RateForm<'a> {
        RateForm {
            title: format!("Edit tax rate: {}", rate.name),
            zone,
            rate: Some(rate),
        }
    }

    fn new_in(zone: &'a Zone) -> RateForm<'a> {
        RateForm {
            title: format!("New tax rate in {}", zone.name),
            zone,
            rate: None,
        }
    }
}

fn rate_page(
    console: &Console,
    doc: &RulesDocument,
    f: RateForm<'_>,
    form: Option<&Fields>,
    error: Option<&LevyError>,
) -> HttpResponse {
    let value = |name: &str, current: String| form.map_or(current, |f| f.get(name).to_string());
    let name = value("name", f.rate.map(|r| r.name.clone()).unwrap_or_default());
    let priority = value("priority", f.rate.map_or(1, |r| r.priority).to_string());
    let enabled = form.map_or(f.rate.is_none_or(|r| r.enabled), |f| {
        f.get("enabled") == "on"
    });
    let j = f.rate.and_then(|r| r.jurisdiction.as_ref());
    let j_type = value(
        "jurisdiction_type",
        j.map_or("state".into(), |j| j.kind.as_str().to_string()),
    );
    let j_name = value(
        "jurisdiction_name",
        j.map(|j| j.name.clone()).unwrap_or_default(),
    );
    let j_code = value(
        "jurisdiction_code",
        j.and_then(|j| j.code.clone()).unwrap_or_default(),
    );
    let current = |class: &str| {
        f.rate
            .and_then(|r| r.class_rates.iter().find(|c| c.tax_class_id == class))
            .map(|c| c.rate.normalize().to_string())
            .unwrap_or_default()
    };
    let content = html! {
        @if let Some(e) = error { (refused(e)) }
        div.panel {
            p.muted { "Tax zone " strong { (f.zone.name) } ": " (locations(f.zone)) }
            form.stack method="post" {
                (csrf_field(&console.session))
                label for="name" { "Tax rate name " span.hint { "(shown to shoppers, e.g. “State tax”)" } }
                input #name type="text" name="name" value=(name) size="40";
                label for="priority" { "Priority " span.hint { "(rates with a higher number are compounded on those before)" } }
                input #priority type="number" name="priority" value=(priority) min="0";
                h3 { "Tax class rates (%)" }
                p.muted { "Leave a class blank to not tax it with this rate." }
                div.row {
                    @for class in class_ids(doc, f.rate) {
                        @let field = format!("class_{class}");
                        div {
                            label for=(field) { (class_name(doc, &class)) }
                            input id=(field) type="text" inputmode="decimal" name=(field) value=(value(&field, current(&class))) size="8";
                        }
                    }
                }
                h3 { "Jurisdiction " span.hint { "(Levy's addition: who collects this tax, for the liability report by jurisdiction)" } }
                div.row {
                    div {
                        label for="jurisdiction_type" { "Type" }
                        select #jurisdiction_type name="jurisdiction_type" {
                            @for kind in JURISDICTION_TYPES {
                                option value=(kind) selected[*kind == j_type] { (kind) }
                            }
                        }
                    }
                    div { label for="jurisdiction_name" { "Name" } input #jurisdiction_name type="text" name="jurisdiction_name" value=(j_name) size="20"; }
                    div { label for="jurisdiction_code" { "Code " span.hint { "(optional)" } } input #jurisdiction_code type="text" name="jurisdiction_code" value=(j_code) size="10"; }
                }
                label { input type="checkbox" name="enabled" checked[enabled]; " Enabled" }
                div.actions { button type="submit" { "Save" } a.button.secondary href="/app/zones" { "Cancel" } }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page::respond(status, &console.session, "/app/zones", &f.title, content)
}

const JURISDICTION_TYPES: &[&str] = &[
    "country", "state", "province", "county", "city", "district", "special",
];

/// A form's number as JSON: a number when it reads as one, else the text itself, which
/// the rule's validation then refuses with the field's name.
fn number(s: &str) -> Value {
    let s = s.trim();
    serde_json::from_str::<Value>(s)
        .ok()
        .filter(Value::is_number)
        .unwrap_or_else(|| Value::String(s.to_string()))
}

/// The body `POST`/`PUT /tax/rates` would take, from the form; class rates keep their
/// thresholds.
fn rate_body(form: &Fields, rate: Option<&Rate>) -> Value {
    let mut class_rates = Vec::new();
    for (class, v) in form.with_prefix("class_") {
        if v.trim().is_empty() {
            continue;
        }
        let mut c = rate
            .and_then(|r| r.class_rates.iter().find(|c| c.tax_class_id == class))
            .and_then(|c| serde_json::to_value(c).ok())
            .unwrap_or_else(|| json!({"tax_class_id": class}));
        c["rate"] = number(v);
        class_rates.push(c);
    }
    let jurisdiction = match form.get("jurisdiction_name").trim() {
        "" => Value::Null,
        name => {
            let mut j = json!({"type": form.get("jurisdiction_type"), "name": name});
            if !form.get("jurisdiction_code").trim().is_empty() {
                j["code"] = json!(form.get("jurisdiction_code").trim());
            }
            j
        }
    };
    json!({
        "name": form.get("name").trim(),
        "jurisdiction": jurisdiction,
        "priority": number(form.get("priority")),
        "enabled": form.get("enabled") == "on",
        "class_rates": class_rates,
    })
}

fn find_rate(doc: &RulesDocument, id: u64) -> Result<(&Rate, &Zone), PageError> {
    let rate =
        doc.rates.iter().find(|r| r.id == id).ok_or_else(|| {
            PageError::new(404, "Not found", format!("There is no tax rate {id}."))
        })?;
    Ok((rate, find_zone(doc, rate.tax_zone_id)?))
}

/// `GET /app/rates/{id}`.
pub async fn rate_form(console: Console, id: web::Path<u64>) -> Result<HttpResponse, PageError> {
    let doc = document(&console)?;
    let (rate, zone) = find_rate(&doc, *id)?;
    let f = RateForm::edit(rate, zone);
    Ok(rate_page(&console, &doc, f, None, None))
}

/// `POST /app/rates/{id}`: as `PUT /tax/rates` with this rate's id.
pub async fn rate_save(
    console: Console,
    id: web::Path<u64>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let form = Fields::checked(&console, form)?;
    let doc = document(&console)?;
    let (rate, zone) = find_rate(&doc, *id)?;
    let mut body = rate_body(&form, Some(rate));
    body["id"] = json!(*id);
    let f = RateForm::edit(rate, zone);
    save_rate(&console, &doc, f, &form, body, "rate.update").await
}

/// Applies a rate form's body as `PUT` (an `id`) or `POST /tax/rates`: back to the zones,
/// or the form again with what was refused.
async fn save_rate(
    console: &Console,
    doc: &RulesDocument,
    f: RateForm<'_>,
    form: &Fields,
    body: Value,
    action: &str,
) -> Result<HttpResponse, PageError> {
    let detail = body.to_string();
    let result =
        service::rules::edit(
            &console.state,
            &console.session.account,
            move |doc| match body.get("id") {
                Some(_) => editing::replace_rates(doc, &[body]),
                None => editing::add_rates(doc, &[body]),
            },
        )
        .await;
    match result {
        Ok(_) => {
            log_action(console, action, &detail);
            Ok(see_other("/app/zones"))
        }
        Err(e) => Ok(rate_page(console, doc, f, Some(form), Some(&e))),
    }
}

#[derive(serde::Deserialize)]
pub struct ZoneParam {
    zone: u64,
}

/// `GET /app/rates/new?zone=`.
pub async fn new_rate_form(
    console: Console,
    q: web::Query<ZoneParam>,
) -> Result<HttpResponse, PageError> {
    let doc = document(&console)?;
    let zone = find_zone(&doc, q.zone)?;
    let f = RateForm::new_in(zone);
    Ok(rate_page(&console, &doc, f, None, None))
}

/// `POST /app/rates/new?zone=`: as `POST /tax/rates`.
pub async fn new_rate_save(
    console: Console,
    q: web::Query<ZoneParam>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let form = Fields::checked(&console, form)?;
    let doc = document(&console)?;
    let zone = find_zone(&doc, q.zone)?;
    let mut body = rate_body(&form, None);
    body["tax_zone_id"] = json!(q.zone);
    let f = RateForm::new_in(zone);
    save_rate(&console, &doc, f, &form, body, "rate.create").await
}

/// `GET /app/check`: which zone and rates apply to an address, and why (SPEC 10.8).
pub async fn check(
    console: Console,
    q: web::Query<AddressCheck>,
) -> Result<HttpResponse, PageError> {
    let q = q.into_inner();
    let doc = document(&console)?;
    let result = (!q.country_code.trim().is_empty())
        .then(|| service::rules::explain_address(&console.state, &console.session.account, &q));
    let content = html! {
        div.panel {
            form.stack method="get" {
                div.row {
                    div { label for="country_code" { "Country code" } input #country_code type="text" name="country_code" value=(q.country_code) placeholder="US" size="6"; }
                    div { label for="region_code" { "State / province code" } input #region_code type="text" name="region_code" value=(q.region_code) placeholder="CA" size="8"; }
                    div { label for="postal_code" { "ZIP / postal code" } input #postal_code type="text" name="postal_code" value=(q.postal_code) placeholder="90210-1234" size="12"; }
                    div { label for="city" { "City" } input #city type="text" name="city" value=(q.city) size="16"; }
                }
                div.row {
                    div { label for="class_id" { "Tax class" }
                        select #class_id name="class_id" {
                            @for class in class_ids(&doc, None) {
                                option value=(class) selected[class == q.class_id] { (class_name(&doc, &class)) }
                            }
                        }
                    }
                    div { label for="amount" { "Item price" } input #amount type="text" name="amount" value=(q.amount) placeholder="100.00" size="10"; }
                }
                div.actions { button type="submit" { "Check" } }
            }
        }
        @match result {
            Some(Ok((zone, why, text))) => {
                div.panel #result {
                    h2 { "Tax zone: " (zone.as_ref().map_or("none", |z| z.name.as_str())) }
                    p { (why["reason"].as_str().unwrap_or_default()) }
                    h3 { "How a " (if q.amount.trim().is_empty() { "100.00" } else { q.amount.trim() }) " item of this class is taxed today" }
                    pre.explain { (text) }
                }
            }
            Some(Err(e)) => { (refused(&e)) }
            None => {}
        }
    };
    Ok(page(
        &console.session,
        "/app/check",
        "Which rate applies to this address?",
        content,
    ))
}
