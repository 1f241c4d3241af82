//! The admin API (SPEC section 9): accounts, credentials, rules, quotes, reports and
//! metrics, on its own listener, behind `Authorization: Bearer <admin token>`.

use super::{data, json_body, ApiError, AppState};
use crate::accounts::Account;
use crate::error::{ErrorCode, LevyError};
use crate::report;
use crate::rules::import::zip_rates::ZipRows;
use crate::rules::RulesDocument;
use crate::service;
use crate::service::accounts::{self as manage, NewAccount};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub fn routes(cfg: &mut web::ServiceConfig) {
    use super::allow;
    cfg.service(
        web::resource("/healthz")
            .route(
                web::get()
                    .to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
            )
            .default_service(allow("GET")),
    )
    .service(
        web::scope("")
            .wrap(actix_web::middleware::from_fn(require_token))
            .service(
                web::resource("/metrics")
                    .route(web::get().to(metrics))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/admin/backup")
                    .route(web::get().to(backup))
                    .default_service(allow("GET")),
            )
            .service(
                web::scope("/admin/accounts")
                    .service(
                        web::resource("")
                            .route(web::get().to(list_accounts))
                            .route(web::post().to(create_account))
                            .default_service(allow("GET, POST")),
                    )
                    .service(
                        web::resource("/{id}")
                            .route(web::get().to(get_account))
                            .route(web::patch().to(patch_account))
                            .route(web::delete().to(delete_account))
                            .default_service(allow("GET, PATCH, DELETE")),
                    )
                    .service(
                        web::resource("/{id}/credentials")
                            .route(web::get().to(list_credentials))
                            .route(web::post().to(create_credential))
                            .default_service(allow("GET, POST")),
                    )
                    .service(
                        web::resource("/{id}/credentials/{username}")
                            .route(web::delete().to(revoke_credential))
                            .default_service(allow("DELETE")),
                    )
                    .service(
                        web::resource("/{id}/rules")
                            .route(web::get().to(get_rules))
                            .route(web::put().to(put_rules))
                            .default_service(allow("GET, PUT")),
                    )
                    .service(
                        web::resource("/{id}/rules/zip-rates")
                            .route(web::post().to(import_zip_rates))
                            .default_service(allow("POST")),
                    )
                    .service(
                        web::resource("/{id}/rules/woocommerce")
                            .route(web::get().to(export_woocommerce))
                            .route(web::post().to(import_woocommerce))
                            .default_service(allow("GET, POST")),
                    )
                    .service(
                        web::resource("/{id}/quotes/{quote_id}")
                            .route(web::get().to(get_quote))
                            .default_service(allow("GET")),
                    )
                    .service(
                        web::resource("/{id}/reports/liability")
                            .route(web::get().to(liability))
                            .default_service(allow("GET")),
                    )
                    .configure(super::tax::routes),
            ),
    );
}

/// Rejects requests without the admin bearer token (compared in constant time).
async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        // The scheme is case-insensitive (RFC 9110 section 11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or("");
    let ok = state.is_some_and(|s| {
        let expected = s.admin_token.as_bytes();
        // Digests of equal length, compared in constant time: neither the token's
        // content nor its length shows in the time a guess takes.
        !expected.is_empty()
            && bool::from(Sha256::digest(presented.as_bytes()).ct_eq(&Sha256::digest(expected)))
    });
    if !ok {
        let err = LevyError::new(
            ErrorCode::Unauthorized,
            "the admin API needs `Authorization: Bearer <admin token>`",
        );
        let res = HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"Levy admin\""))
            .json(err.body());
        return Ok(req.into_response(res).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// A consistent copy of the whole store (`levy backup` is its client).
/// The backup, streamed while it is taken (its last line holds the counts).
async fn backup(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .streaming(service::backup::stream(&state).await)
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// An account as the admin API shows it: never a password or a hash.
fn view(a: &Account) -> serde_json::Value {
    serde_json::json!({
        "id": a.id,
        "store_hashes": a.store_hashes,
        "profiles": a.profiles,
        "created_at": a.created_at,
        "credentials": a.credentials.iter().map(|c| {
            let mut v = serde_json::json!({"username": c.username, "created_at": c.created_at});
            if let Some(h) = &c.store_hash {
                v["store_hash"] = serde_json::json!(h);
            }
            v
        }).collect::<Vec<_>>(),
    })
}

fn account(state: &AppState, id: &str) -> Result<Account, ApiError> {
    Ok(manage::get(state, id)?)
}

/// `page` and `limit` of a listing, as BigCommerce's v3 collections take them.
#[derive(Deserialize)]
struct Paging {
    page: Option<String>,
    limit: Option<String>,
}

/// Accounts per page unless `limit` says otherwise, and the most it may say.
const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 250;

/// `GET /admin/accounts?page&limit`: one page of accounts by id, with BigCommerce's
/// `meta.pagination`, so a provider with tens of thousands of stores is read in pages.
async fn list_accounts(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = web::Query::<Paging>::from_query(req.query_string()).map_err(|_| {
        ApiError(LevyError::new(
            ErrorCode::BadRequest,
            "the query string cannot be read (page=N&limit=N)",
        ))
    })?;
    let number = |v: &Option<String>, field: &str, default: u64, max: u64| match v {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError(LevyError::at(
                    ErrorCode::InvalidField,
                    field,
                    format!("{field} is a whole number from 1 to {max}"),
                ))
            }),
    };
    let page = number(&q.page, "page", 1, u64::MAX)?;
    let limit = number(&q.limit, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let directory = state.directory.load();
    let total = directory.len() as u64;
    let start = (page - 1).saturating_mul(limit).min(total) as usize;
    // In id order already: no sort, no copy of the directory.
    let shown: Vec<_> = directory
        .accounts()
        .skip(start)
        .take(limit as usize)
        .map(|l| view(&l.account))
        .collect();
    let pages = total.div_ceil(limit).max(1);
    let link = |p: u64| format!("?page={p}&limit={limit}");
    let mut links = serde_json::json!({"current": link(page)});
    if page > 1 {
        links["previous"] = link(page - 1).into();
    }
    if page < pages {
        links["next"] = link(page + 1).into();
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "data": shown,
        "meta": {"pagination": {
            "total": total, "count": shown.len(), "per_page": limit,
            "current_page": page, "total_pages": pages, "links": links,
        }},
    })))
}

async fn create_account(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let new: NewAccount = json_body(&req, payload, &state).await?;
    let account = manage::create_account(&state, new).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({"data": view(&account), "meta": {}})))
}

async fn get_account(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(data(view(&account(&state, &path)?)))
}

#[derive(Deserialize)]
struct AccountPatch {
    #[serde(default)]
    store_hashes: Option<Vec<String>>,
    #[serde(default)]
    profiles: Option<Vec<String>>,
}

async fn patch_account(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let patch: AccountPatch = json_body(&req, payload, &state).await?;
    let account = manage::update_account(&state, &path, patch.store_hashes, patch.profiles).await?;
    Ok(data(view(&account)))
}

async fn delete_account(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    manage::delete_account(&state, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_credentials(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(data(view(&account(&state, &path)?)["credentials"].clone()))
}

#[derive(Deserialize, Default)]
struct NewCredential {
    /// The BigCommerce store the credential is for (optional).
    #[serde(default)]
    store_hash: Option<String>,
}

async fn create_credential(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let bytes = super::body::read(&req, payload, super::admin_body(&state)).await?;
    let new: NewCredential = if bytes.iter().all(u8::is_ascii_whitespace) {
        NewCredential::default()
    } else {
        crate::json::parse(&bytes)?
    };
    let store_hash = new
        .store_hash
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    let (username, password) = manage::add_store_credential(&state, &path, store_hash).await?;
    Ok(HttpResponse::Created().json(
        serde_json::json!({"data": {"username": username, "password": password}, "meta": {}}),
    ))
}

async fn revoke_credential(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, username) = path.into_inner();
    manage::revoke_credential(&state, &id, &username).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn get_rules(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(&account(&state, &path)?.rules))
}

async fn put_rules(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    #[derive(Deserialize)]
    struct Query {
        #[serde(default)]
        allow_empty: bool,
    }
    let query = web::Query::<Query>::from_query(req.query_string()).map_err(|_| {
        ApiError(LevyError::at(
            ErrorCode::BadRequest,
            "allow_empty",
            "allow_empty is true or false",
        ))
    })?;
    let rules: RulesDocument = json_body(&req, payload, &state).await?;
    let stored = service::rules::put(&state, &path, rules, query.allow_empty).await?;
    Ok(HttpResponse::Ok().json(&stored))
}

#[derive(Deserialize)]
struct QuoteQuery {
    store_hash: Option<String>,
}

async fn get_quote(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<QuoteQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, quote_id) = path.into_inner();
    let record = service::quotes::get(&state, &id, &quote_id, query.store_hash.as_deref()).await?;
    Ok(data(serde_json::json!({
        "id": record.id,
        "status": record.status,
        "store_hash": record.store_hash,
        "versions": record.versions,
    })))
}

#[derive(Deserialize)]
struct ZipRatesQuery {
    effective_from: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

/// `POST .../rules/zip-rates?effective_from=YYYY-MM-DD[&dry_run=true]`, a CSV body of one
/// or more ZIP-code rate tables (SPEC 11.1), read as it arrives; answers the summary per
/// state, never the document.
async fn import_zip_rates(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let q = web::Query::<ZipRatesQuery>::from_query(req.query_string()).map_err(|_| {
        ApiError(LevyError::new(
            ErrorCode::BadRequest,
            "the query string cannot be read (effective_from=YYYY-MM-DD, dry_run=true|false)",
        ))
    })?;
    let from = date_param(q.effective_from.as_deref(), "effective_from")?;
    // Before reading the body: an unknown account is a 404, not a parsed file.
    service::rules::get(&state, &path)?;
    let rows = super::body::stream_to(&req, payload, super::admin_body(&state), |input| {
        let mut reader = ZipRows::new(input);
        let mut rows = Vec::new();
        while let Some(row) = reader.next_row()? {
            rows.push(row);
        }
        Ok(rows)
    })
    .await?;
    let summary = service::rules::import_zip_rates(&state, &path, rows, from, q.dry_run).await?;
    Ok(data(summary))
}

/// `POST .../rules/woocommerce`, a WooCommerce tax rate CSV (SPEC 11.2) read as it arrives.
async fn import_woocommerce(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    service::rules::get(&state, &path)?;
    let rows = super::body::stream_to(&req, payload, super::admin_body(&state), |input| {
        crate::rules::import::woocommerce::read(input)
    })
    .await?;
    Ok(data(
        service::rules::import_woocommerce(&state, &path, rows).await?,
    ))
}

/// `GET .../rules/woocommerce`: the account's rules as a WooCommerce tax rate CSV.
async fn export_woocommerce(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let rules = service::rules::get(&state, &path)?;
    let csv = crate::rules::import::woocommerce::write(&rules)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .body(csv))
}

#[derive(Deserialize)]
struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
    group_by: Option<String>,
}

fn date_param(value: Option<&str>, name: &str) -> Result<chrono::NaiveDate, ApiError> {
    let v = value.ok_or_else(|| {
        ApiError(LevyError::at(
            ErrorCode::BadRequest,
            name,
            format!("`{name}` (YYYY-MM-DD) is required"),
        ))
    })?;
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
        ApiError(LevyError::at(
            ErrorCode::BadRequest,
            name,
            format!("`{v}` is not a date as YYYY-MM-DD"),
        ))
    })
}

async fn liability(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let q = web::Query::<ReportQuery>::from_query(req.query_string()).map_err(|_| {
        ApiError(LevyError::new(
            ErrorCode::BadRequest,
            "the query string cannot be read",
        ))
    })?;
    let from = date_param(q.from.as_deref(), "from")?;
    let to = date_param(q.to.as_deref(), "to")?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError(LevyError::at(
                ErrorCode::BadRequest,
                "format",
                format!("unknown format `{other}`; use json or csv"),
            )))
        }
    };
    let csv_body = |body: String| {
        HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(body)
    };
    match q.group_by.as_deref() {
        None | Some("rate") => {
            let rows = service::reports::liability(&state, &path, from, to).await?;
            Ok(if csv {
                csv_body(report::to_csv(&rows))
            } else {
                data(rows)
            })
        }
        Some("jurisdiction") => {
            let rows = service::reports::liability_by_jurisdiction(&state, &path, from, to).await?;
            Ok(if csv {
                csv_body(report::jurisdictions_to_csv(&rows))
            } else {
                data(rows)
            })
        }
        Some(other) => Err(ApiError(LevyError::at(
            ErrorCode::BadRequest,
            "group_by",
            format!("unknown grouping `{other}`; use rate or jurisdiction"),
        ))),
    }
}
