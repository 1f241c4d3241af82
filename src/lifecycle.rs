//! The quote lifecycle (SPEC section 5): commit, adjust and void as pure decisions over
//! the stored quote's head and latest priced version (or its absence). Each decision
//! appends at most one version; the storage applies it atomically, serialized per quote.

use crate::engine::Computed;
use crate::error::{ErrorCode, LevyError};
use crate::quote::QuoteRequest;
use crate::store::{QuoteChange, QuoteHead, QuoteKind, QuoteState, QuoteStatus, QuoteVersion};
use chrono::Utc;
use serde_json::value::RawValue;
use std::sync::Arc;

/// Who is asking: the account and the store hash of the request.
pub struct Caller<'a> {
    pub account: &'a str,
    pub store_hash: &'a str,
}

/// How much history one quote may hold, so one quote cannot cost the whole store.
#[derive(Debug, Clone, Copy)]
pub struct QuoteLimits {
    /// Commits and adjusts of one quote (a void is always accepted).
    pub versions: u32,
    /// The bytes of one version's stored response (its request is under the body limit).
    pub response_bytes: usize,
}

fn version(
    head: &QuoteHead,
    kind: QuoteKind,
    request: &Arc<QuoteRequest>,
    computed: &Computed,
    limits: &QuoteLimits,
) -> Result<QuoteVersion, LevyError> {
    if head.version >= limits.versions {
        return Err(LevyError::new(
            ErrorCode::TooManyVersions,
            format!(
                "quote {} has {} versions, the most one quote may have; commit the change \
                 under a new id",
                head.id, head.version
            ),
        ));
    }
    // The computed response with this quote's id and external ids, rendered as stored.
    let text = String::from_utf8(crate::render::quote_response_as(
        &computed.response,
        &head.id,
        |doc| head.external_id(doc),
    ))
    .map_err(|_| LevyError::internal())?;
    let audit = computed
        .audit
        .as_ref()
        .map(serde_json::value::to_raw_value)
        .transpose()
        .map_err(|_| LevyError::internal())?;
    let stored = text.len() + audit.as_ref().map_or(0, |a| a.get().len());
    if stored > limits.response_bytes {
        return Err(LevyError::new(
            ErrorCode::VersionTooLarge,
            format!(
                "this quote's response and audit are {stored} bytes; one version may store at most {}",
                limits.response_bytes
            ),
        ));
    }
    Ok(QuoteVersion {
        version: head.next_version(),
        kind,
        request: Some(request.clone()),
        response: Some(RawValue::from_string(text).map_err(|_| LevyError::internal())?),
        audit,
        adjust_description: request.adjust_description.clone(),
        at: Utc::now(),
    })
}

/// A priced version appended to `head`, with the quote's status afterwards.
fn append(
    head: &QuoteHead,
    kind: QuoteKind,
    request: &Arc<QuoteRequest>,
    computed: &Computed,
    status: QuoteStatus,
    store_hash: &str,
    limits: &QuoteLimits,
) -> Result<QuoteChange, LevyError> {
    let v = version(head, kind, request, computed, limits)?;
    let mut next = head.clone().with(&v);
    next.status = status;
    next.store_hash = store_hash.to_string();
    Ok(QuoteChange::Append(next, Box::new(v)))
}

/// `POST /commit`: persist a new quote; an identical retry returns what is stored; a
/// different request for a committed quote is a conflict; a voided quote commits again.
pub fn commit(
    current: Option<&QuoteState>,
    caller: &Caller<'_>,
    request: &Arc<QuoteRequest>,
    computed: &Computed,
    limits: &QuoteLimits,
) -> Result<QuoteChange, LevyError> {
    match current {
        None => {
            let head = QuoteHead {
                id: request.id.clone(),
                account: caller.account.to_string(),
                store_hash: caller.store_hash.to_string(),
                status: QuoteStatus::Committed,
                external_key: uuid::Uuid::new_v4().simple().to_string(),
                version: 0,
                priced: 0,
            };
            append(
                &head,
                QuoteKind::Commit,
                request,
                computed,
                QuoteStatus::Committed,
                caller.store_hash,
                limits,
            )
        }
        Some(existing) if existing.head.status == QuoteStatus::Committed => {
            if existing.latest.as_ref().and_then(|v| v.request.as_deref()) == Some(&**request) {
                Ok(QuoteChange::Keep)
            } else {
                Err(LevyError::new(
                    ErrorCode::Conflict,
                    format!(
                        "quote {} is already committed with different content; use /adjust?id={} to change it",
                        request.id, request.id
                    ),
                ))
            }
        }
        Some(existing) => append(
            &existing.head,
            QuoteKind::Commit,
            request,
            computed,
            QuoteStatus::Committed,
            caller.store_hash,
            limits,
        ),
    }
}

/// `POST /adjust?id=`: replace a committed quote with a new version.
pub fn adjust(
    current: Option<&QuoteState>,
    id: &str,
    request: &Arc<QuoteRequest>,
    computed: &Computed,
    limits: &QuoteLimits,
) -> Result<QuoteChange, LevyError> {
    match current {
        None => Err(not_found(id)),
        Some(existing) if existing.head.status == QuoteStatus::Voided => Err(LevyError::new(
            ErrorCode::Conflict,
            format!("quote {id} is voided; commit it again to revive it"),
        )),
        Some(existing) => {
            let retry = existing.latest.as_ref().is_some_and(|v| {
                v.kind == QuoteKind::Adjust && v.request.as_deref() == Some(&**request)
            });
            if retry {
                return Ok(QuoteChange::Keep);
            }
            let store_hash = existing.head.store_hash.clone();
            append(
                &existing.head,
                QuoteKind::Adjust,
                request,
                computed,
                QuoteStatus::Committed,
                &store_hash,
                limits,
            )
        }
    }
}

/// `POST /void?id=`: mark the quote voided (kept, never deleted); voiding twice is fine.
pub fn void(current: Option<&QuoteState>, id: &str) -> Result<QuoteChange, LevyError> {
    match current {
        None => Err(not_found(id)),
        Some(existing) if existing.head.status == QuoteStatus::Voided => Ok(QuoteChange::Keep),
        Some(existing) => {
            let v = QuoteVersion {
                version: existing.head.next_version(),
                kind: QuoteKind::Void,
                request: None,
                response: None,
                audit: None,
                adjust_description: None,
                at: Utc::now(),
            };
            let mut head = existing.head.clone().with(&v);
            head.status = QuoteStatus::Voided;
            Ok(QuoteChange::Append(head, Box::new(v)))
        }
    }
}

/// The longest quote id accepted, in bytes (BigCommerce's ids are far shorter).
pub const MAX_QUOTE_ID_BYTES: usize = 255;

/// One rule for quote ids everywhere: non-empty, at most [`MAX_QUOTE_ID_BYTES`] bytes,
/// compared exactly as sent (never trimmed), so a committed quote can always be adjusted
/// and voided by the id it was committed with.
pub fn check_id(id: &str) -> Result<(), LevyError> {
    if id.is_empty() {
        return Err(LevyError::at(
            ErrorCode::InvalidField,
            "id",
            "a quote id may not be empty",
        ));
    }
    if id.len() > MAX_QUOTE_ID_BYTES {
        return Err(LevyError::at(
            ErrorCode::InvalidField,
            "id",
            format!(
                "a quote id has at most {MAX_QUOTE_ID_BYTES} bytes; this one has {}",
                id.len()
            ),
        ));
    }
    Ok(())
}

fn not_found(id: &str) -> LevyError {
    LevyError::new(
        ErrorCode::NotFound,
        format!("no committed quote has id {id}"),
    )
}
