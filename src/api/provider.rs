//! The provider API BigCommerce calls: `/estimate`, `/commit`, `/adjust?id=`,
//! `/void?id=` (wire format: `tax_provider.yml`), and `/healthz`.

use super::{body, json_bytes, ApiError, AppState};
use crate::accounts::{HostRoute, LiveAccount};
use crate::config::Limits;
use crate::engine::{self, CompiledRules, Computed};
use crate::error::{ErrorCode, LevyError};
use crate::quote::QuoteRequest;
use crate::service::quotes::{self, Client};
use crate::store::QuoteState;
use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use base64::Engine as _;
use std::sync::Arc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .default_service(super::allow("GET")),
    )
    .service(post_only("/estimate", estimate))
    .service(post_only("/commit", commit))
    .service(post_only("/adjust", adjust))
    .service(post_only("/void", void));
}

/// A POST endpoint that answers other methods with a JSON 405.
fn post_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::post().to(handler))
        .default_service(super::allow("POST"))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The account a request is for, after the checks of SPEC section 2, in their order.
struct Authorized {
    live: Arc<LiveAccount>,
    store_hash: String,
}

fn unauthorized(message: &str) -> ApiError {
    ApiError(LevyError::new(ErrorCode::Unauthorized, message))
}

/// The decoded `user:password` of a Basic Authorization header.
fn basic_credentials(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    String::from_utf8(decoded).ok()
}

/// The host a request names: an absolute-form target's authority wins over `Host`
/// (RFC 9110 section 7.2); a `Host` that is not a valid authority is a 400, never a
/// silent fall back to credentials alone. No host at all selects nothing.
fn request_host(req: &HttpRequest) -> Result<String, ApiError> {
    if let Some(host) = req.uri().host() {
        return Ok(host.to_string());
    }
    let Some(value) = req.headers().get(header::HOST) else {
        return Ok(String::new());
    };
    let bad = || {
        ApiError(LevyError::at(
            ErrorCode::BadRequest,
            "Host",
            "the Host header is not a valid host name",
        ))
    };
    let text = value.to_str().map_err(|_| bad())?;
    let authority: actix_web::http::uri::Authority = text.trim().parse().map_err(|_| bad())?;
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return Err(bad());
    }
    Ok(authority.as_str().to_string())
}

fn authorize(req: &HttpRequest, state: &AppState) -> Result<Authorized, ApiError> {
    let directory = state.directory.load();
    let credentials = basic_credentials(req);
    let (user, password) = credentials
        .as_deref()
        .and_then(|c| c.split_once(':'))
        .ok_or_else(|| unauthorized("HTTP Basic credentials are required"))?;
    let (live, credential_store) = directory
        .authenticated(user, password)
        .ok_or_else(|| unauthorized("the username or password is not valid"))?;
    let account_id = live.account.id.as_str();
    let host = request_host(req)?;
    match directory.route(&host) {
        HostRoute::UnknownLabel => {
            return Err(ApiError(LevyError::new(
                ErrorCode::NotFound,
                "no account is served under this host name",
            )));
        }
        HostRoute::Account(selected) if selected != account_id => {
            return Err(unauthorized(
                "these credentials are not valid for this host's account",
            ));
        }
        _ => {}
    }
    let live = live.clone();
    req.extensions_mut()
        .insert(crate::logging::RequestAccount(live.account.id.clone()));
    let store_hash = req
        .headers()
        .get("x-bc-store-hash")
        .and_then(|h| h.to_str().ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    let Some(store_hash) = store_hash else {
        return Err(ApiError(LevyError::at(
            ErrorCode::MissingStoreHash,
            "X-Bc-Store-Hash",
            "the X-Bc-Store-Hash header is required",
        )));
    };
    if !live.account.store_hashes.is_empty()
        && !live.account.store_hashes.iter().any(|h| h == &store_hash)
    {
        return Err(unauthorized("this store is not connected to the account"));
    }
    if credential_store.is_some_and(|s| s != store_hash) {
        return Err(unauthorized(
            "this credential was given to another store of the account",
        ));
    }
    Ok(Authorized { live, store_hash })
}

fn check_limits(quote: &QuoteRequest, limits: &Limits) -> Result<(), LevyError> {
    if quote.documents.len() > limits.documents {
        return Err(LevyError::at(
            ErrorCode::TooManyLines,
            "documents",
            format!(
                "{} documents; at most {} are accepted",
                quote.documents.len(),
                limits.documents
            ),
        ));
    }
    for (d, doc) in quote.documents.iter().enumerate() {
        let lines = doc.items.len() + doc.items.iter().filter(|i| i.wrapping.is_some()).count();
        if lines > limits.lines_per_document {
            return Err(LevyError::at(
                ErrorCode::TooManyLines,
                format!("documents[{d}].items"),
                format!(
                    "{lines} lines; at most {} per document are accepted",
                    limits.lines_per_document
                ),
            ));
        }
    }
    Ok(())
}

/// A request parsed and priced, and whether it was large (see [`crate::lanes`]).
struct Priced {
    auth: Authorized,
    quote: QuoteRequest,
    computed: Computed,
    heavy: bool,
}

/// `audited`: with the audit a committed version keeps (SPEC 10.8).
fn price(
    bytes: &[u8],
    rules: &CompiledRules,
    limits: &Limits,
    audited: bool,
) -> Result<(QuoteRequest, Computed), LevyError> {
    let quote: QuoteRequest = crate::json::parse(bytes)?;
    check_limits(&quote, limits)?;
    let computed = if audited {
        engine::compute_audited(rules, &quote)?
    } else {
        engine::compute(rules, &quote)?
    };
    Ok((quote, computed))
}

/// Reads and parses the body and computes the quote for an authorized caller; a large
/// body is parsed and priced on the heavy lane, off the executor.
async fn priced(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    auth: Authorized,
    audited: bool,
) -> Result<Priced, ApiError> {
    let bytes = body::read(req, payload, super::provider_body(state)).await?;
    let heavy = bytes.len() > crate::lanes::HEAVY_BODY_BYTES;
    let (quote, computed) = if heavy {
        let (rules, limits) = (auth.live.rules.clone(), state.limits.clone());
        state
            .heavy
            .run(move || price(&bytes, &rules, &limits, audited))
            .await
            .ok_or_else(|| ApiError(LevyError::internal()))??
    } else {
        price(&bytes, &auth.live.rules, &state.limits, audited)?
    };
    if let Some(code) = &computed.unknown_taxability_code {
        tracing::info!(account = ?auth.live.account.id, code = ?code, "unknown taxability code ignored");
    }
    Ok(Priced {
        auth,
        quote,
        computed,
        heavy,
    })
}

async fn estimate(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let auth = authorize(&req, &state)?;
    let priced = priced(&req, payload, &state, auth, false).await?;
    let body = if priced.heavy {
        let response = priced.computed.response;
        state
            .heavy
            .run(move || crate::render::quote_response(&response))
            .await
            .ok_or_else(|| ApiError(LevyError::internal()))?
    } else {
        crate::render::quote_response(&priced.computed.response)
    };
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// The response body of a quote's latest priced version, as it was first sent.
fn stored_reply(quote: QuoteState) -> Result<HttpResponse, ApiError> {
    // The stored bytes themselves, moved out (no copy).
    let body = quote
        .latest
        .and_then(|v| v.response)
        .map(|r| String::from(Box::<str>::from(r)))
        .ok_or_else(|| ApiError(LevyError::internal()))?;
    Ok(json_bytes(body))
}

impl Authorized {
    fn client(&self) -> Client {
        Client {
            account: self.live.account.id.clone(),
            store_hash: self.store_hash.clone(),
        }
    }
}

async fn commit(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let auth = authorize(&req, &state)?;
    let p = priced(&req, payload, &state, auth, true).await?;
    let record = quotes::commit(&state, p.auth.client(), p.quote, p.computed, p.heavy).await?;
    stored_reply(record)
}

/// The `id` query parameter of `/adjust` and `/void`.
fn quote_id(req: &HttpRequest) -> Result<String, ApiError> {
    let query =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .map_err(|_| {
                ApiError(LevyError::at(
                    ErrorCode::BadRequest,
                    "id",
                    "the query string cannot be read",
                ))
            })?;
    // As sent: the service checks it (non-empty, at most 255 bytes) and never trims it.
    query.get("id").cloned().ok_or_else(|| {
        ApiError(LevyError::at(
            ErrorCode::BadRequest,
            "id",
            "the query parameter `id` is required",
        ))
    })
}

async fn adjust(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // Authenticate before looking at the query, so that strangers learn nothing.
    let auth = authorize(&req, &state)?;
    let id = quote_id(&req)?;
    let p = priced(&req, payload, &state, auth, true).await?;
    let record = quotes::adjust(&state, p.auth.client(), id, p.quote, p.computed, p.heavy).await?;
    stored_reply(record)
}

async fn void(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let auth = authorize(&req, &state)?;
    let id = quote_id(&req)?;
    let quote = quotes::void(&state, auth.client(), id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "id": quote.head.id,
        "status": quote.head.status,
        "version": quote.head.version,
    })))
}
