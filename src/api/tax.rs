//! BigCommerce-shaped rule endpoints: tax zones, rates, classes, settings and the zone
//! check, with the bodies of BigCommerce's own v3 APIs (arrays in, `{data, meta}` out,
//! `id:in` filters), so that a store's manual-tax configuration moves over unchanged.

use super::admin::account;
use super::{data, json_body, ApiError, AppState};
use crate::error::{ErrorCode, LevyError};
use crate::manage;
use crate::quote::Address;
use crate::rounding::RoundingLevel;
use crate::rules::*;
use crate::zones::MatchLevel;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/{id}/tax/zones", web::get().to(get_zones))
        .route("/{id}/tax/zones", web::post().to(post_zones))
        .route("/{id}/tax/zones", web::put().to(put_zones))
        .route("/{id}/tax/zones", web::delete().to(delete_zones))
        .route("/{id}/tax/rates", web::get().to(get_rates))
        .route("/{id}/tax/rates", web::post().to(post_rates))
        .route("/{id}/tax/rates", web::put().to(put_rates))
        .route("/{id}/tax/rates", web::delete().to(delete_rates))
        .route("/{id}/tax/classes", web::get().to(get_classes))
        .route("/{id}/tax/classes", web::post().to(post_classes))
        .route("/{id}/tax/classes", web::put().to(put_classes))
        .route("/{id}/tax/classes", web::delete().to(delete_classes))
        .route("/{id}/tax/settings", web::get().to(get_settings))
        .route("/{id}/tax/settings", web::put().to(put_settings))
        .route("/{id}/tax/zonecheck", web::post().to(zone_check));
}

fn bad(path: impl Into<String>, message: impl Into<String>) -> LevyError {
    LevyError::at(ErrorCode::InvalidField, path, message)
}

/// A comma-separated id list from the query (`id:in=1,2,3`); `None` when absent.
fn id_list(req: &HttpRequest, name: &str) -> Result<Option<Vec<u64>>, ApiError> {
    let query =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .map_err(|_| {
                ApiError(LevyError::new(
                    ErrorCode::BadRequest,
                    "the query string cannot be read",
                ))
            })?;
    let Some(raw) = query.get(name) else {
        return Ok(None);
    };
    raw.split(',')
        .map(|s| s.trim().parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(|_| {
            ApiError(LevyError::at(
                ErrorCode::BadRequest,
                name,
                format!("`{raw}` is not a comma-separated list of ids"),
            ))
        })
}

fn required_ids(req: &HttpRequest) -> Result<Vec<u64>, ApiError> {
    id_list(req, "id:in")?.ok_or_else(|| {
        ApiError(LevyError::at(
            ErrorCode::BadRequest,
            "id:in",
            "say which ids to delete with `id:in`",
        ))
    })
}

/// Parses one array element as `T`, with the element's index in error paths.
fn element<T: serde::de::DeserializeOwned>(i: usize, v: &Value) -> Result<T, LevyError> {
    let text = serde_json::to_vec(v).expect("values serialize");
    crate::json::parse::<T>(&text).map_err(|mut e| {
        e.path = Some(match e.path.as_deref() {
            None | Some("") => format!("[{i}]"),
            Some(p) => format!("[{i}].{p}"),
        });
        e
    })
}

/// Merges the keys of `patch` into `base`, one level deep for nested objects
/// ("fields unspecified by the request retain their current state").
fn merge(base: &mut Value, patch: &Value) {
    if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            match (b.get_mut(k), v) {
                (Some(existing @ Value::Object(_)), Value::Object(_)) => merge(existing, v),
                _ => {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

/// Element `i` of a PUT body applied to the stored item it names by `id`: the item's
/// position and the merged result (unspecified fields keep their value).
fn patched<T: Serialize + serde::de::DeserializeOwned>(
    i: usize,
    patch: &Value,
    items: &[T],
    id_of: impl Fn(&T) -> u64,
    what: &str,
) -> Result<(usize, T), LevyError> {
    let id = patch.get("id").and_then(Value::as_u64).ok_or_else(|| {
        bad(
            format!("[{i}].id"),
            format!("each {what} needs its integer `id`"),
        )
    })?;
    let pos = items.iter().position(|x| id_of(x) == id).ok_or_else(|| {
        LevyError::at(
            ErrorCode::NotFound,
            format!("[{i}].id"),
            format!("{what} {id} does not exist"),
        )
    })?;
    let mut merged = serde_json::to_value(&items[pos]).expect("rules serialize");
    merge(&mut merged, patch);
    Ok((pos, element(i, &merged)?))
}

fn array(body: Value) -> Result<Vec<Value>, ApiError> {
    match body {
        Value::Array(items) if !items.is_empty() => Ok(items),
        Value::Array(_) => Err(ApiError(bad("", "the array is empty"))),
        _ => Err(ApiError(bad("", "the body must be a JSON array"))),
    }
}

// ---- zones --------------------------------------------------------------------------

async fn get_zones(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ids = id_list(&req, "id:in")?;
    let rules = account(&state, &path)?.rules;
    let zones: Vec<&Zone> = rules
        .zones
        .iter()
        .filter(|z| ids.as_ref().is_none_or(|ids| ids.contains(&z.id)))
        .collect();
    Ok(data(zones))
}

#[derive(Deserialize)]
struct ZonePost {
    name: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    price_display_settings: PriceDisplaySettings,
    shopper_target_settings: TargetsPost,
}

#[derive(Deserialize)]
struct TargetsPost {
    locations: Vec<Location>,
    #[serde(default)]
    customer_groups: Vec<i64>,
}

fn yes() -> bool {
    true
}

fn check_zone(i: usize, z: &Zone) -> Result<(), LevyError> {
    if z.name.trim().is_empty() {
        return Err(bad(format!("[{i}].name"), "a zone needs a name"));
    }
    let doc = RulesDocument {
        zones: vec![z.clone()],
        ..RulesDocument::default()
    };
    doc.validate().map(|_| ()).map_err(|mut e| {
        e.path = e.path.map(|p| p.replacen("zones[0]", &format!("[{i}]"), 1));
        e
    })
}

async fn post_zones(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let items = array(json_body(&req, payload, &state).await?)?;
    let posts: Vec<ZonePost> = items
        .iter()
        .enumerate()
        .map(|(i, v)| element(i, v))
        .collect::<Result<_, _>>()?;
    let created = manage::edit_rules(&state, &path, move |doc| {
        let first = doc.zones.iter().map(|z| z.id).max().unwrap_or(1).max(1) + 1;
        let mut created = Vec::new();
        for (i, p) in posts.into_iter().enumerate() {
            let zone = Zone {
                id: first + i as u64,
                name: p.name,
                enabled: p.enabled,
                price_display_settings: p.price_display_settings,
                shopper_target_settings: ShopperTargetSettings {
                    locations: p.shopper_target_settings.locations,
                    customer_groups: p.shopper_target_settings.customer_groups,
                },
            };
            check_zone(i, &zone)?;
            created.push(zone.clone());
            doc.zones.push(zone);
        }
        Ok(created)
    })
    .await?;
    Ok(data(created))
}

async fn put_zones(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let items = array(json_body(&req, payload, &state).await?)?;
    let updated = manage::edit_rules(&state, &path, move |doc| {
        let mut updated = Vec::new();
        for (i, patch) in items.iter().enumerate() {
            let (pos, zone) = patched(i, patch, &doc.zones, |z| z.id, "zone")?;
            let id = zone.id;
            if id == DEFAULT_ZONE_ID {
                if !zone.enabled {
                    return Err(bad(
                        format!("[{i}].enabled"),
                        "the default zone (1) cannot be disabled",
                    ));
                }
                if !zone.shopper_target_settings.locations.is_empty() {
                    return Err(bad(
                        format!("[{i}].shopper_target_settings"),
                        "the default zone (1) cannot have locations",
                    ));
                }
            }
            check_zone(i, &zone)?;
            doc.zones[pos] = zone.clone();
            updated.push(zone);
        }
        Ok(updated)
    })
    .await?;
    Ok(data(updated))
}

async fn delete_zones(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ids = required_ids(&req)?;
    if ids.contains(&DEFAULT_ZONE_ID) {
        return Err(ApiError(bad(
            "id:in",
            "the default zone (1) cannot be deleted",
        )));
    }
    manage::edit_rules(&state, &path, move |doc| {
        doc.zones.retain(|z| !ids.contains(&z.id));
        // Deleting a zone deletes its rates, as in BigCommerce.
        let gone: Vec<u64> = doc
            .rates
            .iter()
            .filter(|r| ids.contains(&r.tax_zone_id))
            .map(|r| r.id)
            .collect();
        doc.rates.retain(|r| !ids.contains(&r.tax_zone_id));
        forget_rates(doc, &gone);
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes deleted rates from exemption lists so the rules stay valid.
fn forget_rates(doc: &mut RulesDocument, gone: &[u64]) {
    for e in doc.settings.exemptions.values_mut() {
        if let Exemption::Rates(ids) = e {
            ids.retain(|id| !gone.contains(id));
        }
    }
}

// ---- rates --------------------------------------------------------------------------

#[derive(Deserialize)]
struct RatesQuery {
    page: Option<usize>,
    limit: Option<usize>,
}

async fn get_rates(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ids = id_list(&req, "id:in")?;
    let zones = id_list(&req, "tax_zone_id:in")?;
    let q = web::Query::<RatesQuery>::from_query(req.query_string()).map_err(|_| {
        ApiError(LevyError::new(
            ErrorCode::BadRequest,
            "`page` and `limit` are positive integers",
        ))
    })?;
    let (page, limit) = (
        q.page.unwrap_or(1).max(1),
        q.limit.unwrap_or(50).clamp(1, 250),
    );
    let rules = account(&state, &path)?.rules;
    let all: Vec<&Rate> = rules
        .rates
        .iter()
        .filter(|r| ids.as_ref().is_none_or(|ids| ids.contains(&r.id)))
        .filter(|r| zones.as_ref().is_none_or(|z| z.contains(&r.tax_zone_id)))
        .collect();
    let total = all.len();
    let pages = total.div_ceil(limit).max(1);
    let items: Vec<&Rate> = all
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "data": items,
        "meta": {"pagination": {
            "total": total, "count": items.len(), "per_page": limit, "current_page": page, "total_pages": pages,
            "links": {"current": format!("?page={page}&limit={limit}")}
        }}
    })))
}

#[derive(Deserialize)]
struct RatePost {
    tax_zone_id: u64,
    name: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "one")]
    priority: i64,
    class_rates: Vec<ClassRate>,
    #[serde(default)]
    effective_from: Option<chrono::NaiveDate>,
    #[serde(default)]
    effective_to: Option<chrono::NaiveDate>,
}

fn one() -> i64 {
    1
}

/// Checks a rate against the document it joins, with the body index in the path.
fn check_rate(i: usize, rate: &Rate, doc: &RulesDocument) -> Result<(), LevyError> {
    let probe = RulesDocument {
        classes: doc.classes.clone(),
        zones: doc
            .zones
            .iter()
            .filter(|z| z.id == rate.tax_zone_id)
            .cloned()
            .collect(),
        rates: vec![rate.clone()],
        settings: Settings::default(),
    };
    probe.validate().map(|_| ()).map_err(|mut e| {
        e.path = e.path.map(|p| p.replacen("rates[0]", &format!("[{i}]"), 1));
        e
    })
}

async fn post_rates(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let items = array(json_body(&req, payload, &state).await?)?;
    let posts: Vec<RatePost> = items
        .iter()
        .enumerate()
        .map(|(i, v)| element(i, v))
        .collect::<Result<_, _>>()?;
    let created = manage::edit_rules(&state, &path, move |doc| {
        let first = doc.rates.iter().map(|r| r.id).max().unwrap_or(0) + 1;
        let mut created = Vec::new();
        for (i, p) in posts.into_iter().enumerate() {
            let rate = Rate {
                id: first + i as u64,
                tax_zone_id: p.tax_zone_id,
                name: p.name,
                enabled: p.enabled,
                priority: p.priority,
                class_rates: p.class_rates,
                effective_from: p.effective_from,
                effective_to: p.effective_to,
            };
            check_rate(i, &rate, doc)?;
            created.push(rate.clone());
            doc.rates.push(rate);
        }
        Ok(created)
    })
    .await?;
    Ok(data(created))
}

async fn put_rates(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let items = array(json_body(&req, payload, &state).await?)?;
    let updated = manage::edit_rules(&state, &path, move |doc| {
        let mut updated = Vec::new();
        for (i, patch) in items.iter().enumerate() {
            let (pos, rate) = patched(i, patch, &doc.rates, |r| r.id, "rate")?;
            check_rate(i, &rate, doc)?;
            doc.rates[pos] = rate.clone();
            updated.push(rate);
        }
        Ok(updated)
    })
    .await?;
    Ok(data(updated))
}

async fn delete_rates(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ids = required_ids(&req)?;
    manage::edit_rules(&state, &path, move |doc| {
        doc.rates.retain(|r| !ids.contains(&r.id));
        forget_rates(doc, &ids);
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- classes ------------------------------------------------------------------------

async fn get_classes(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(data(account(&state, &path)?.rules.classes))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassPost {
    name: String,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassPut {
    #[serde(with = "crate::json::id_string")]
    id: String,
    name: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

fn check_class_name(
    i: usize,
    name: &str,
    others: &[TaxClass],
    own: Option<&str>,
) -> Result<(), LevyError> {
    let n = name.trim();
    if n.is_empty() || n.len() > 100 || n.contains(['<', '>', '{', '}', '`', '(', ')', ';', '|']) {
        return Err(bad(
            format!("[{i}].name"),
            "a class name has 1 to 100 characters and none of < > { } ` ( ) ; |",
        ));
    }
    if others
        .iter()
        .any(|c| Some(c.id.as_str()) != own && c.name.eq_ignore_ascii_case(n))
    {
        return Err(LevyError::at(
            ErrorCode::Conflict,
            format!("[{i}].name"),
            format!("a class named {n} exists already"),
        ));
    }
    Ok(())
}

async fn post_classes(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let items = array(json_body(&req, payload, &state).await?)?;
    let posts: Vec<ClassPost> = items
        .iter()
        .enumerate()
        .map(|(i, v)| element(i, v))
        .collect::<Result<_, _>>()?;
    let created = manage::edit_rules(&state, &path, move |doc| {
        let first = doc
            .classes
            .iter()
            .filter_map(|c| c.id.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let mut created = Vec::new();
        for (i, p) in posts.into_iter().enumerate() {
            check_class_name(i, &p.name, &doc.classes, None)?;
            let class = TaxClass {
                id: (first + i as u64).to_string(),
                name: p.name.trim().to_string(),
                code: p.code,
            };
            created.push(class.clone());
            doc.classes.push(class);
        }
        Ok(created)
    })
    .await?;
    Ok(data(created))
}

async fn put_classes(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let items = array(json_body(&req, payload, &state).await?)?;
    let puts: Vec<ClassPut> = items
        .iter()
        .enumerate()
        .map(|(i, v)| element(i, v))
        .collect::<Result<_, _>>()?;
    let updated = manage::edit_rules(&state, &path, move |doc| {
        let mut updated = Vec::new();
        for (i, p) in puts.into_iter().enumerate() {
            let pos = doc
                .classes
                .iter()
                .position(|c| c.id == p.id)
                .ok_or_else(|| {
                    LevyError::at(
                        ErrorCode::NotFound,
                        format!("[{i}].id"),
                        format!("class {} does not exist", p.id),
                    )
                })?;
            if let Some(name) = &p.name {
                check_class_name(i, name, &doc.classes, Some(&p.id))?;
                doc.classes[pos].name = name.trim().to_string();
            }
            if p.code.is_some() {
                doc.classes[pos].code = p.code;
            }
            updated.push(doc.classes[pos].clone());
        }
        Ok(updated)
    })
    .await?;
    Ok(data(updated))
}

async fn delete_classes(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ids: Vec<String> = required_ids(&req)?.iter().map(u64::to_string).collect();
    if ids.iter().any(|id| id == DEFAULT_CLASS_ID) {
        return Err(ApiError(bad(
            "id:in",
            "the default tax class (0) cannot be deleted",
        )));
    }
    manage::edit_rules(&state, &path, move |doc| {
        if let Some(r) = doc
            .rates
            .iter()
            .find(|r| r.class_rates.iter().any(|c| ids.contains(&c.tax_class_id)))
        {
            return Err(LevyError::at(
                ErrorCode::Conflict,
                "id:in",
                format!(
                    "rate {} has a rate for this class; change the rate first",
                    r.id
                ),
            ));
        }
        doc.classes.retain(|c| !ids.contains(&c.id));
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- settings -----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum RoundingStrategy {
    RateRounding,
    NoRounding,
}

/// Levy's own settings; in the settings body they sit beside BigCommerce's fields.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LevySettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rounding_strategy: Option<RoundingStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tax_address: Option<TaxAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rounding: Option<RoundingLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rounding_mode: Option<crate::rounding::RoundingMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exemptions: Option<std::collections::BTreeMap<String, Exemption>>,
}

const LEVY_KEYS: [&str; 5] = [
    "rounding_strategy",
    "tax_address",
    "rounding",
    "rounding_mode",
    "exemptions",
];

/// BigCommerce's `Tax_Settings` body plus Levy's own settings, at one level.
fn settings_view(s: &Settings) -> Value {
    let levy = LevySettings {
        // NO_ROUNDING ("a high accuracy total") is rounding once per document.
        rounding_strategy: Some(match s.rounding {
            RoundingLevel::PerRate => RoundingStrategy::RateRounding,
            _ => RoundingStrategy::NoRounding,
        }),
        tax_address: Some(s.tax_address),
        rounding: Some(s.rounding),
        rounding_mode: Some(s.rounding_mode),
        exemptions: Some(s.exemptions.clone()),
    };
    let mut out = serde_json::to_value(&s.bigcommerce).expect("settings serialize");
    merge(
        &mut out,
        &serde_json::to_value(levy).expect("settings serialize"),
    );
    out
}

async fn get_settings(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(data(settings_view(&account(&state, &path)?.rules.settings)))
}

fn parse_value<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, LevyError> {
    crate::json::parse(&serde_json::to_vec(v).expect("values serialize"))
}

async fn put_settings(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let body: Value = json_body(&req, payload, &state).await?;
    let Value::Object(mut fields) = body else {
        return Err(ApiError(bad("", "the settings body is a JSON object")));
    };
    let mut levy_fields = serde_json::Map::new();
    for k in LEVY_KEYS {
        if let Some(v) = fields.remove(k) {
            levy_fields.insert(k.to_string(), v);
        }
    }
    let levy: LevySettings = parse_value(&Value::Object(levy_fields))?;
    let store_patch = Value::Object(fields);
    parse_value::<StoreSettings>(&store_patch)?;
    manage::edit_rules(&state, &path, move |doc| {
        let s = &mut doc.settings;
        let mut store = serde_json::to_value(&s.bigcommerce).expect("settings serialize");
        merge(&mut store, &store_patch);
        s.bigcommerce = parse_value(&store)?;
        if let Some(strategy) = levy.rounding_strategy.filter(|_| levy.rounding.is_none()) {
            s.rounding = match strategy {
                RoundingStrategy::RateRounding => RoundingLevel::PerRate,
                RoundingStrategy::NoRounding => RoundingLevel::PerDocument,
            };
        }
        if let Some(v) = levy.tax_address {
            s.tax_address = v;
        }
        if let Some(v) = levy.rounding {
            s.rounding = v;
        }
        if let Some(v) = levy.rounding_mode {
            s.rounding_mode = v;
        }
        if let Some(v) = levy.exemptions {
            s.exemptions = v;
        }
        Ok(())
    })
    .await?;
    Ok(data(settings_view(&account(&state, &path)?.rules.settings)))
}

// ---- zone check ---------------------------------------------------------------------

#[derive(Deserialize)]
struct ZoneCheck {
    country_code: String,
    #[serde(default)]
    subdivision_codes: Option<String>,
    #[serde(default)]
    postal_code: Option<String>,
    #[serde(default)]
    customer_group_id: Option<i64>,
}

async fn zone_check(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let items = array(json_body(&req, payload, &state).await?)?;
    let checks: Vec<ZoneCheck> = items
        .iter()
        .enumerate()
        .map(|(i, v)| element(i, v))
        .collect::<Result<_, _>>()?;
    let directory = state.directory.load();
    let live = directory.get(&path).ok_or_else(|| {
        ApiError(LevyError::new(
            ErrorCode::NotFound,
            format!("no account has id {}", path.as_str()),
        ))
    })?;
    let mut zones = Vec::new();
    let mut reasons = Vec::new();
    for c in checks {
        let address = Address {
            country_code: Some(c.country_code.clone()),
            region_code: c.subdivision_codes.clone(),
            postal_code: c.postal_code.clone(),
            ..Address::default()
        };
        let group = c.customer_group_id.unwrap_or(0).to_string();
        let m = live.rules.zone_for(&address, &group);
        let zone = live
            .account
            .rules
            .zones
            .iter()
            .find(|z| z.id == m.zone_id)
            .cloned();
        let why = match m.level {
            None => "no enabled zone matches this address and group: the default zone applies"
                .to_string(),
            Some(MatchLevel::Postal) => format!(
                "postal code matches pattern `{}` (score {}){}",
                m.matched.as_deref().unwrap_or(""),
                m.score,
                if m.group_restricted {
                    ", zone restricted to this customer group"
                } else {
                    ""
                }
            ),
            Some(MatchLevel::Subdivision) => format!(
                "subdivision matches `{}`{}",
                m.matched.as_deref().unwrap_or(""),
                if m.group_restricted {
                    ", zone restricted to this customer group"
                } else {
                    ""
                }
            ),
            Some(MatchLevel::Country) => format!(
                "country matches `{}`{}",
                m.matched.as_deref().unwrap_or(""),
                if m.group_restricted {
                    ", zone restricted to this customer group"
                } else {
                    ""
                }
            ),
        };
        reasons.push(serde_json::json!({
            "zone_id": m.zone_id,
            "match": match m.level { None => "default", Some(MatchLevel::Postal) => "postal_code", Some(MatchLevel::Subdivision) => "subdivision", Some(MatchLevel::Country) => "country" },
            "pattern": m.matched,
            "customer_group_restricted": m.group_restricted,
            "reason": why,
        }));
        zones.push(zone);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"data": zones, "meta": {"reasons": reasons}})))
}
