//! BigCommerce-shaped rule endpoints: tax zones, rates, classes, settings and the zone
//! check, with the bodies of BigCommerce's own v3 APIs (arrays in, `{data, meta}` out,
//! `id:in` filters), so that a store's manual-tax configuration moves over unchanged.
//! Thin: what each edit does is [`crate::rules::editing`]; the change itself goes
//! through [`crate::service::rules`].

use super::{data, json_body, ApiError, AppState};
use crate::error::{ErrorCode, LevyError};
use crate::rules::editing::{self, SettingsPatch};
use crate::rules::{Rate, RulesDocument, Zone};
use crate::service;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/{id}/tax/zones")
            .route(web::get().to(get_zones))
            .route(web::post().to(post_zones))
            .route(web::put().to(put_zones))
            .route(web::delete().to(delete_zones))
            .default_service(super::allow("GET, POST, PUT, DELETE")),
    )
    .service(
        web::resource("/{id}/tax/rates")
            .route(web::get().to(get_rates))
            .route(web::post().to(post_rates))
            .route(web::put().to(put_rates))
            .route(web::delete().to(delete_rates))
            .default_service(super::allow("GET, POST, PUT, DELETE")),
    )
    .service(
        web::resource("/{id}/tax/classes")
            .route(web::get().to(get_classes))
            .route(web::post().to(post_classes))
            .route(web::put().to(put_classes))
            .route(web::delete().to(delete_classes))
            .default_service(super::allow("GET, POST, PUT, DELETE")),
    )
    .service(
        web::resource("/{id}/tax/settings")
            .route(web::get().to(get_settings))
            .route(web::put().to(put_settings))
            .default_service(super::allow("GET, PUT")),
    )
    .service(
        web::resource("/{id}/tax/zonecheck")
            .route(web::post().to(zone_check))
            .default_service(super::allow("POST")),
    );
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

type Account = web::Path<String>;

/// Reads an array body and applies `edit` to the account's rules; answers what it returns.
async fn edit_with_body<T: serde::Serialize + Send + 'static>(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    id: Account,
    edit: fn(&mut RulesDocument, &[Value]) -> Result<T, LevyError>,
) -> Result<HttpResponse, ApiError> {
    let items = editing::array(json_body(&req, payload, &state).await?)?;
    let out = service::rules::edit(&state, &id, move |doc| edit(doc, &items)).await?;
    Ok(data(out))
}

/// Deletes the `id:in` items with `edit`; 204.
async fn delete_ids(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: Account,
    edit: fn(&mut RulesDocument, &[u64]) -> Result<(), LevyError>,
) -> Result<HttpResponse, ApiError> {
    let ids = required_ids(&req)?;
    service::rules::edit(&state, &id, move |doc| edit(doc, &ids)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn get_zones(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: Account,
) -> Result<HttpResponse, ApiError> {
    let ids = id_list(&req, "id:in")?;
    let paging = Paging::of(&req)?;
    let rules = service::rules::get(&state, &path)?;
    let zones: Vec<&Zone> = rules
        .zones
        .iter()
        .filter(|z| ids.as_ref().is_none_or(|ids| ids.contains(&z.id)))
        .collect();
    // BigCommerce's zones endpoint has no pages: without `page` or `limit`, every zone.
    Ok(match paging {
        Some(p) => p.page(zones),
        None => data(zones),
    })
}

async fn post_zones(
    req: HttpRequest,
    p: web::Payload,
    s: web::Data<AppState>,
    id: Account,
) -> Result<HttpResponse, ApiError> {
    edit_with_body(req, p, s, id, editing::add_zones).await
}

async fn put_zones(
    req: HttpRequest,
    p: web::Payload,
    s: web::Data<AppState>,
    id: Account,
) -> Result<HttpResponse, ApiError> {
    edit_with_body(req, p, s, id, editing::replace_zones).await
}

async fn delete_zones(
    req: HttpRequest,
    s: web::Data<AppState>,
    id: Account,
) -> Result<HttpResponse, ApiError> {
    delete_ids(req, s, id, editing::delete_zones).await
}

/// `page` and `limit` as BigCommerce's v3 lists take them.
#[derive(Deserialize)]
struct Paging {
    page: Option<usize>,
    limit: Option<usize>,
}

impl Paging {
    /// The query's paging, or None when it names neither `page` nor `limit`.
    fn of(req: &HttpRequest) -> Result<Option<Paging>, ApiError> {
        let q = web::Query::<Paging>::from_query(req.query_string()).map_err(|_| {
            ApiError(LevyError::new(
                ErrorCode::BadRequest,
                "`page` and `limit` are positive integers",
            ))
        })?;
        let q = q.into_inner();
        Ok((q.page.is_some() || q.limit.is_some()).then_some(q))
    }

    /// One page of `all` (50 by default, at most 250) with BigCommerce's pagination meta.
    fn page<T: serde::Serialize>(&self, all: Vec<T>) -> HttpResponse {
        let (page, limit) = (
            self.page.unwrap_or(1).max(1),
            self.limit.unwrap_or(50).clamp(1, 250),
        );
        let total = all.len();
        let pages = total.div_ceil(limit).max(1);
        let items: Vec<T> = all
            .into_iter()
            .skip((page - 1).saturating_mul(limit))
            .take(limit)
            .collect();
        let link = |p: usize| format!("?page={p}&limit={limit}");
        let mut links = serde_json::json!({"current": link(page)});
        if page > 1 {
            links["previous"] = link(page - 1).into();
        }
        if page < pages {
            links["next"] = link(page + 1).into();
        }
        HttpResponse::Ok().json(serde_json::json!({
            "data": items,
            "meta": {"pagination": {
                "total": total, "count": items.len(), "per_page": limit,
                "current_page": page, "total_pages": pages, "links": links
            }}
        }))
    }
}

async fn get_rates(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: Account,
) -> Result<HttpResponse, ApiError> {
    let ids = id_list(&req, "id:in")?;
    let zones = id_list(&req, "tax_zone_id:in")?;
    let paging = Paging::of(&req)?.unwrap_or(Paging {
        page: None,
        limit: None,
    });
    let rules = service::rules::get(&state, &path)?;
    let all: Vec<&Rate> = rules
        .rates
        .iter()
        .filter(|r| ids.as_ref().is_none_or(|ids| ids.contains(&r.id)))
        .filter(|r| zones.as_ref().is_none_or(|z| z.contains(&r.tax_zone_id)))
        .collect();
    Ok(paging.page(all))
}

async fn post_rates(
    req: HttpRequest,
    p: web::Payload,
    s: web::Data<AppState>,
    id: Account,
) -> Result<HttpResponse, ApiError> {
    edit_with_body(req, p, s, id, editing::add_rates).await
}

async fn put_rates(
    req: HttpRequest,
    p: web::Payload,
    s: web::Data<AppState>,
    id: Account,
) -> Result<HttpResponse, ApiError> {
    edit_with_body(req, p, s, id, editing::replace_rates).await
}

async fn delete_rates(
    req: HttpRequest,
    s: web::Data<AppState>,
    id: Account,
) -> Result<HttpResponse, ApiError> {
    delete_ids(req, s, id, editing::delete_rates).await
}

async fn get_classes(state: web::Data<AppState>, id: Account) -> Result<HttpResponse, ApiError> {
    Ok(data(&service::rules::get(&state, &id)?.classes))
}

async fn post_classes(
    req: HttpRequest,
    p: web::Payload,
    s: web::Data<AppState>,
    id: Account,
) -> Result<HttpResponse, ApiError> {
    edit_with_body(req, p, s, id, editing::add_classes).await
}

async fn put_classes(
    req: HttpRequest,
    p: web::Payload,
    s: web::Data<AppState>,
    id: Account,
) -> Result<HttpResponse, ApiError> {
    edit_with_body(req, p, s, id, editing::replace_classes).await
}

async fn delete_classes(
    req: HttpRequest,
    s: web::Data<AppState>,
    id: Account,
) -> Result<HttpResponse, ApiError> {
    delete_ids(req, s, id, editing::delete_classes).await
}

async fn get_settings(state: web::Data<AppState>, id: Account) -> Result<HttpResponse, ApiError> {
    Ok(data(editing::settings_view(
        &service::rules::get(&state, &id)?.settings,
    )))
}

async fn put_settings(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    id: Account,
) -> Result<HttpResponse, ApiError> {
    let patch = SettingsPatch::parse(json_body(&req, payload, &state).await?)?;
    service::rules::edit(&state, &id, move |doc| patch.apply(doc)).await?;
    get_settings(state, id).await
}

async fn zone_check(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    id: Account,
) -> Result<HttpResponse, ApiError> {
    let items = editing::array(json_body(&req, payload, &state).await?)?;
    let checks = editing::zone_checks(&items)?;
    let (zones, reasons) = service::rules::zone_check(&state, &id, checks)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"data": zones, "meta": {"reasons": reasons}})))
}
