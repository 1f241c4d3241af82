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

/// A 413 at once when `Content-Length` declares more than the limit.
fn refuse_declared(req: &HttpRequest, limit: BodyLimit) -> Result<(), ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit.bytes as u64) {
        return Err(too_large(limit.bytes));
    }
    Ok(())
}

/// The whole body, or 413 as soon as it passes the size limit (by Content-Length or by
/// count), or 408 when it has not arrived within the time limit.
pub async fn read(
    req: &HttpRequest,
    payload: web::Payload,
    limit: BodyLimit,
) -> Result<web::Bytes, ApiError> {
    refuse_declared(req, limit)?;
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

/// A body read as it arrives by a consumer on a blocking thread (a CSV import):
/// chunks cross a small bounded channel, so memory holds a few chunks, never the whole
/// body. `consume` gets an [`std::io::Read`]; the size and time limits hold as in [`read`].
pub async fn stream_to<T: Send + 'static>(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: BodyLimit,
    consume: impl FnOnce(&mut dyn std::io::Read) -> Result<T, LevyError> + Send + 'static,
) -> Result<T, ApiError> {
    refuse_declared(req, limit)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, ()>>(8);
    let consumer = tokio::task::spawn_blocking(move || {
        let mut reader = ChannelReader {
            rx,
            chunk: web::Bytes::new(),
        };
        consume(&mut reader)
    });
    let feed = async {
        let mut total = 0usize;
        while let Some(chunk) = payload.next().await {
            let Ok(chunk) = chunk else {
                let _ = tx.send(Err(())).await;
                return Err(ApiError(LevyError::new(
                    ErrorCode::BadRequest,
                    "the body could not be read completely",
                )));
            };
            total += chunk.len();
            if total > limit.bytes {
                let _ = tx.send(Err(())).await;
                return Err(too_large(limit.bytes));
            }
            // The consumer may stop early (a bad row): the rest of the body is not needed.
            if tx.send(Ok(chunk)).await.is_err() {
                break;
            }
        }
        Ok(())
    };
    let fed = match tokio::time::timeout(limit.time, feed).await {
        Ok(fed) => fed,
        Err(_) => Err(ApiError(LevyError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the body did not arrive within {} s",
                limit.time.as_secs_f64()
            ),
        ))),
    };
    drop(tx);
    let consumed = consumer
        .await
        .map_err(|_| ApiError(LevyError::internal()))?;
    // A reading error of the body decides; otherwise what the consumer found.
    fed?;
    consumed.map_err(ApiError)
}

/// [`std::io::Read`] over the chunks of a body sent by [`stream_to`].
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Result<web::Bytes, ()>>,
    chunk: web::Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(())) => return Err(std::io::Error::other("the body was cut off")),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}
