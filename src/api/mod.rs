//! HTTP: the provider API (public listener) and the admin API (admin listener).

pub mod admin;
pub mod body;
pub mod console;
pub mod provider;
pub mod server;
pub mod tax;

pub use crate::state::AppState;

use crate::error::{ErrorCode, LevyError};
use crate::store::StoreError;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};

/// A [`LevyError`] as an HTTP response: `{"error": {"code", "message", "path"?}}`.
#[derive(Debug)]
pub struct ApiError(pub LevyError);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<LevyError> for ApiError {
    fn from(e: LevyError) -> Self {
        ApiError(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(e.into_client_error())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::from_u16(self.0.code.status())
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if self.0.code == ErrorCode::Unauthorized {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                "Basic realm=\"Levy\", charset=\"UTF-8\"",
            ));
        }
        res.json(self.0.body())
    }
}

/// The JSON answer for paths that do not exist.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError(LevyError::new(
        ErrorCode::NotFound,
        "no such endpoint",
    )))
}

/// Query strings that do not parse answer in the JSON error shape, naming the query.
pub fn query_errors() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default().error_handler(|e, _| {
        ApiError(LevyError::at(
            ErrorCode::BadRequest,
            "query",
            format!("the query string is not acceptable: {e}"),
        ))
        .into()
    })
}

/// The default service of a resource: a JSON 405 whose `Allow` names the methods it takes.
pub fn allow(methods: &'static str) -> actix_web::Route {
    actix_web::web::to(move || async move {
        HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, methods))
            .json(
                LevyError::new(
                    ErrorCode::MethodNotAllowed,
                    format!("this endpoint takes {methods}"),
                )
                .body(),
            )
    })
}

/// A JSON body that is already serialized (stored responses are sent byte for byte).
pub fn json_bytes(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

/// The body limits of the provider API: a cart.
pub fn provider_body(state: &AppState) -> body::BodyLimit {
    body::BodyLimit {
        bytes: state.limits.body_bytes,
        time: std::time::Duration::from_secs(state.limits.body_timeout_secs),
    }
}

/// The body limits of the admin API: rules documents of 100,000 zones.
pub fn admin_body(state: &AppState) -> body::BodyLimit {
    body::BodyLimit {
        bytes: state.limits.admin_body_bytes,
        time: std::time::Duration::from_secs(state.limits.body_timeout_secs.max(60)),
    }
}

/// Reads an admin JSON body under its limits and parses it, naming the field path on error.
pub async fn json_body<T: serde::de::DeserializeOwned>(
    req: &actix_web::HttpRequest,
    payload: actix_web::web::Payload,
    state: &AppState,
) -> Result<T, ApiError> {
    let bytes = body::read(req, payload, admin_body(state)).await?;
    Ok(crate::json::parse(&bytes)?)
}

/// `{"data": ..., "meta": {}}`, the envelope of BigCommerce's v3 APIs and of the admin API.
pub fn data(value: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"data": value, "meta": {}}))
}

/// The public listener: the provider API, and the BigCommerce app with its console.
pub fn public_routes(cfg: &mut actix_web::web::ServiceConfig) {
    provider::routes(cfg);
    console::routes(cfg);
}
