//! The one error shape Levy shows to clients, with a catalogue of stable codes.
//!
//! Every failure a client can cause maps to an [`ErrorCode`]; the HTTP status, the
//! machine code and the message come from here, so the provider API, the admin API
//! and the CLI all say the same thing. Internal failures carry no detail outward.

use serde::Serialize;
use std::fmt;

/// Stable machine codes. Renaming one is a breaking change for clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not JSON (syntax error, truncated, not UTF-8, nested too deep).
    InvalidJson,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong type or an unacceptable value.
    InvalidField,
    /// `currency_code` is not an ISO 4217 code.
    UnknownCurrency,
    /// An amount is too large (or too precise) to compute exactly.
    AmountOutOfRange,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// Too many documents or lines in one quote.
    TooManyLines,
    /// A rules document (or a zone, rate, class, setting) is not acceptable.
    InvalidRules,
    /// Credentials are missing or wrong.
    Unauthorized,
    /// The thing asked for does not exist.
    NotFound,
    /// The request conflicts with what is stored (e.g. re-commit with other content).
    Conflict,
    /// `X-Bc-Store-Hash` is missing.
    MissingStoreHash,
    /// The request is not acceptable for another reason (e.g. a query parameter).
    BadRequest,
    /// The method is not allowed on this path.
    MethodNotAllowed,
    /// Something failed on our side; details go to the log, not to the client.
    Internal,
    /// The store is unavailable (e.g. shutting down).
    Unavailable,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidJson
            | ErrorCode::MissingField
            | ErrorCode::InvalidField
            | ErrorCode::UnknownCurrency
            | ErrorCode::AmountOutOfRange
            | ErrorCode::TooManyLines
            | ErrorCode::InvalidRules
            | ErrorCode::MissingStoreHash
            | ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::UnknownCurrency => "unknown_currency",
            ErrorCode::AmountOutOfRange => "amount_out_of_range",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::TooManyLines => "too_many_lines",
            ErrorCode::InvalidRules => "invalid_rules",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::MissingStoreHash => "missing_store_hash",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

/// A client-facing error: `{"error": {"code", "message", "path"?}}` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LevyError {
    pub code: ErrorCode,
    pub message: String,
    /// The field the error is about, as `documents[0].items[2].price.amount`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl LevyError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        LevyError {
            code,
            message: message.into(),
            path: None,
        }
    }

    pub fn at(code: ErrorCode, path: impl Into<String>, message: impl Into<String>) -> Self {
        LevyError {
            code,
            message: message.into(),
            path: Some(path.into()),
        }
    }

    /// An internal failure: the detail is for the log only.
    pub fn internal() -> Self {
        LevyError::new(ErrorCode::Internal, "internal error; it has been logged")
    }

    /// The JSON body sent to clients.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": self })
    }
}

impl fmt::Display for LevyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}: {} ({})", p, self.message, self.code.as_str()),
            None => write!(f, "{} ({})", self.message, self.code.as_str()),
        }
    }
}

impl std::error::Error for LevyError {}
