//! Reading request bodies under a size and a time limit, with a JSON 413 or 408 past them.
//!
//! Memory follows the bytes that arrived, never the declared `Content-Length`: a client
//! that declares a megabyte and trickles bytes holds only what it sent, and only until the
//! time limit.

use super::ApiError;
use crate::error::{ErrorCode, LevyError};
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use std::time::Duration;

/// How much of a body a request may send, and how long it may take.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    pub bytes: usize,
    pub time: Duration,
}

fn too_large(limit: usize) -> ApiError {
    ApiError(LevyError::new(
        ErrorCode::PayloadTooLarge,
        format!("the body is larger than the limit of {limit} bytes"),
    ))
}

/// The whole body, or 413 as soon as it passes the size limit (by Content-Length or by
/// count), or 408 when it has not arrived within the time limit.
pub async fn read(
    req: &HttpRequest,
    payload: web::Payload,
    limit: BodyLimit,
) -> Result<web::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit.bytes as u64) {
        return Err(too_large(limit.bytes));
    }
    match tokio::time::timeout(limit.time, collect(payload, limit.bytes)).await {
        Ok(body) => body,
        Err(_) => Err(ApiError(LevyError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the body did not arrive within {} s",
                limit.time.as_secs_f64()
            ),
        ))),
    }
}

async fn collect(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError(LevyError::new(
                ErrorCode::InvalidJson,
                "the body could not be read completely",
            ))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
