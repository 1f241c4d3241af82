//! The one error shape Levy shows to clients, with a catalogue of stable codes.
//!
//! Every failure a client can cause maps to an [`ErrorCode`]; the HTTP status, the
//! machine code and the message come from here, so the provider API, the admin API
//! and the CLI all say the same thing. Internal failures carry no detail outward.

use serde::Serialize;
use std::fmt;

/// One table of error codes: the variant, its stable machine name and its HTTP status.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $status:literal;)*) => {
        /// Stable machine codes. Renaming one is a breaking change for clients.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the table.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The HTTP status that goes with the code.
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }

            /// The machine code clients see.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }
        }
    };
}

error_codes! {
    /// The body is not JSON (syntax error, truncated, not UTF-8, nested too deep).
    InvalidJson = "invalid_json", 400;
    /// A required field is absent.
    MissingField = "missing_field", 400;
    /// A field has the wrong type or an unacceptable value.
    InvalidField = "invalid_field", 400;
    /// `currency_code` is not an ISO 4217 code.
    UnknownCurrency = "unknown_currency", 400;
    /// An amount is too large (or too precise) to compute exactly.
    AmountOutOfRange = "amount_out_of_range", 400;
    /// Too many documents or lines in one quote.
    TooManyLines = "too_many_lines", 400;
    /// A rules document (or a zone, rate, class, setting) is not acceptable.
    InvalidRules = "invalid_rules", 400;
    /// `X-Bc-Store-Hash` is missing.
    MissingStoreHash = "missing_store_hash", 400;
    /// The request is not acceptable for another reason (e.g. a query parameter).
    BadRequest = "bad_request", 400;
    /// Credentials are missing or wrong.
    Unauthorized = "unauthorized", 401;
    /// The thing asked for does not exist.
    NotFound = "not_found", 404;
    /// The method is not allowed on this path.
    MethodNotAllowed = "method_not_allowed", 405;
    /// The request conflicts with what is stored (e.g. re-commit with other content).
    Conflict = "conflict", 409;
    /// The quote already holds as many versions as one quote may (`limits.versions_per_quote`).
    TooManyVersions = "too_many_versions", 409;
    /// The request head or body did not arrive within the time limit.
    RequestTimeout = "request_timeout", 408;
    /// The body is larger than the configured limit.
    PayloadTooLarge = "payload_too_large", 413;
    /// One version of a quote would be larger than `limits.version_bytes`.
    VersionTooLarge = "version_too_large", 413;
    /// The request head (headers) is larger than the server accepts.
    HeadersTooLarge = "headers_too_large", 431;
    /// Something failed on our side; details go to the log, not to the client.
    Internal = "internal", 500;
    /// BigCommerce refused or failed a call Levy made for this request (app install).
    Upstream = "upstream", 502;
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_name_and_a_client_or_server_status() {
        let mut names = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(names.insert(code.as_str()), "{code:?}");
            assert!((400..600).contains(&code.status()), "{code:?}");
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }
}
