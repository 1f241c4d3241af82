//! HTTP: the provider API (public listener) and the admin API (admin listener).

pub mod admin;
pub mod body;
pub mod provider;
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

/// A JSON body that is already serialized (stored responses are sent byte for byte).
pub fn json_bytes(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

/// Reads a JSON body under the size limit and parses it, naming the field path on error.
pub async fn json_body<T: serde::de::DeserializeOwned>(
    req: &actix_web::HttpRequest,
    payload: actix_web::web::Payload,
    state: &AppState,
) -> Result<T, ApiError> {
    let bytes = body::read(req, payload, state.limits.body_bytes).await?;
    Ok(crate::json::parse(&bytes)?)
}

/// `{"data": ..., "meta": {}}`, the envelope of BigCommerce's v3 APIs and of the admin API.
pub fn data(value: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"data": value, "meta": {}}))
}
