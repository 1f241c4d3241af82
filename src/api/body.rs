//! Reading request bodies under a size limit, with a JSON 413 past it.

use super::ApiError;
use crate::error::{ErrorCode, LevyError};
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

fn too_large(limit: usize) -> ApiError {
    ApiError(LevyError::new(
        ErrorCode::PayloadTooLarge,
        format!("the body is larger than the limit of {limit} bytes"),
    ))
}

/// The whole body, or 413 as soon as it passes `limit` (by Content-Length or by count).
pub async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(limit));
    }
    // One allocation for a declared length (capped: the header is the client's word).
    let capacity = declared.map_or(0, |len| len.min(1 << 20) as usize);
    let mut body = web::BytesMut::with_capacity(capacity);
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
