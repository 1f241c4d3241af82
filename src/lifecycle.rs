//! The quote lifecycle (SPEC section 5): commit, adjust and void as decisions over the
//! stored record. Blocking (it calls the store); the caller awaits durability after.

use crate::error::{ErrorCode, LevyError};
use crate::quote::{QuoteRequest, QuoteResponse};
use crate::store::{
    QuoteChange, QuoteKind, QuoteRecord, QuoteStatus, QuoteVersion, Store, StoreError,
};
use chrono::Utc;
use serde_json::value::RawValue;

/// Who is asking: the account and the store hash of the request.
pub struct Caller<'a> {
    pub account: &'a str,
    pub store_hash: &'a str,
}

fn version(
    record: &QuoteRecord,
    kind: QuoteKind,
    request: &QuoteRequest,
    response: &QuoteResponse,
) -> QuoteVersion {
    let mut response = response.clone();
    response.id = record.id.clone();
    for doc in &mut response.documents {
        doc.external_id = Some(record.external_id(&doc.id));
    }
    let text = String::from_utf8(crate::render::quote_response(&response))
        .expect("the renderer writes UTF-8");
    QuoteVersion {
        version: record.next_version(),
        kind,
        request: Some(request.clone()),
        response: Some(RawValue::from_string(text).expect("serialized JSON is JSON")),
        adjust_description: request.adjust_description.clone(),
        at: Utc::now(),
    }
}

/// `POST /commit`: persist a new quote; an identical retry returns what is stored; a
/// different request for a committed quote is a conflict; a voided quote commits again.
pub fn commit(
    store: &dyn Store,
    caller: &Caller<'_>,
    request: &QuoteRequest,
    response: &QuoteResponse,
) -> Result<QuoteRecord, StoreError> {
    store.update_quote(caller.account, &request.id, &mut |current| match current {
        None => {
            let mut record = QuoteRecord {
                id: request.id.clone(),
                account: caller.account.to_string(),
                store_hash: caller.store_hash.to_string(),
                status: QuoteStatus::Committed,
                external_key: uuid::Uuid::new_v4().simple().to_string(),
                versions: vec![],
            };
            let v = version(&record, QuoteKind::Commit, request, response);
            record.versions.push(v);
            Ok(QuoteChange::Write(record))
        }
        Some(existing) if existing.status == QuoteStatus::Committed => {
            if existing.latest_priced().and_then(|v| v.request.as_ref()) == Some(request) {
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
        Some(existing) => {
            let mut record = existing.clone();
            let v = version(&record, QuoteKind::Commit, request, response);
            record.versions.push(v);
            record.status = QuoteStatus::Committed;
            record.store_hash = caller.store_hash.to_string();
            Ok(QuoteChange::Write(record))
        }
    })
}

/// `POST /adjust?id=`: replace a committed quote with a new version.
pub fn adjust(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
    request: &QuoteRequest,
    response: &QuoteResponse,
) -> Result<QuoteRecord, StoreError> {
    store.update_quote(caller.account, id, &mut |current| match current {
        None => Err(not_found(id)),
        Some(existing) if existing.status == QuoteStatus::Voided => Err(LevyError::new(
            ErrorCode::Conflict,
            format!("quote {id} is voided; commit it again to revive it"),
        )),
        Some(existing) => {
            let latest = existing.latest_priced();
            let retry = latest.is_some_and(|v| {
                v.kind == QuoteKind::Adjust && v.request.as_ref() == Some(request)
            });
            if retry {
                return Ok(QuoteChange::Keep);
            }
            let mut record = existing.clone();
            let v = version(&record, QuoteKind::Adjust, request, response);
            record.versions.push(v);
            Ok(QuoteChange::Write(record))
        }
    })
}

/// `POST /void?id=`: mark the quote voided (kept, never deleted); voiding twice is fine.
pub fn void(store: &dyn Store, caller: &Caller<'_>, id: &str) -> Result<QuoteRecord, StoreError> {
    store.update_quote(caller.account, id, &mut |current| match current {
        None => Err(not_found(id)),
        Some(existing) if existing.status == QuoteStatus::Voided => Ok(QuoteChange::Keep),
        Some(existing) => {
            let mut record = existing.clone();
            record.versions.push(QuoteVersion {
                version: record.next_version(),
                kind: QuoteKind::Void,
                request: None,
                response: None,
                adjust_description: None,
                at: Utc::now(),
            });
            record.status = QuoteStatus::Voided;
            Ok(QuoteChange::Write(record))
        }
    })
}

fn not_found(id: &str) -> LevyError {
    LevyError::new(
        ErrorCode::NotFound,
        format!("no committed quote has id {id}"),
    )
}
