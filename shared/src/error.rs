//! The library's one error type, named for what the caller does with it, and its mapping to an
//! HTTP status and the JSON envelope `{"success": false, "error": {code, message, details}}`.

use http::StatusCode;
use serde::Serialize;

use crate::store::table::StoreError;

/// One problem with one request field. `field` is a dotted path (`attributes.plan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("request body is missing")]
    MissingBody,
    #[error("request body is not valid JSON: {0}")]
    MalformedBody(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error(
        "the session would grow past the 400 KB a stored item may hold; replace its attributes or start a new session"
    )]
    ItemTooLarge,
    #[error("invalid cursor: {0}")]
    InvalidCursor(#[from] crate::store::cursor::CursorError),
    #[error("request has invalid fields")]
    Validation(Vec<FieldError>),
    /// A filter or query that does not parse; the detail names the parameter and the message
    /// gives the position.
    #[error("invalid query: {}", .0.message)]
    InvalidQuery(FieldError),
    /// A query that would read more than the budget before filling its page.
    #[error(
        "the query would read more than {budget} events to fill its page; narrow it with an EventTime range, a DeviceId or an EventType"
    )]
    QueryTooExpensive { budget: usize },
    /// The project's deleted events waiting for the purge have reached the cap.
    #[error(
        "too many deleted events are waiting for the purge; retry after it (in {retry_after_secs} seconds)"
    )]
    TooManyPendingDeletes { retry_after_secs: u64 },
    /// Invalid fields, already described in a vendor's shape by the compat route that found
    /// them (pydantic's error objects for the analytics API).
    #[error("request has invalid fields")]
    VendorValidation(Vec<serde_json::Value>),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("storage is unavailable, retry later")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Error::Unavailable(err),
            StoreError::ItemTooLarge => Error::ItemTooLarge,
            other => Error::Internal(Box::new(other)),
        }
    }
}

impl From<crate::query::QueryError> for Error {
    /// A vendor's query parameter that does not parse, named as the vendor names it.
    fn from(err: crate::query::QueryError) -> Self {
        Error::InvalidQuery(FieldError::new(err.parameter.as_str(), err.to_string()))
    }
}

impl Error {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::MissingBody
            | Error::MalformedBody(_)
            | Error::InvalidCursor(_)
            | Error::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            Error::QueryTooExpensive { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::TooManyPendingDeletes { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::PayloadTooLarge { .. } | Error::ItemTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Validation(_) | Error::VendorValidation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code in the envelope.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingBody => "missing_body",
            Error::MalformedBody(_) => "malformed_body",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::ItemTooLarge => "session_too_large",
            Error::InvalidCursor(_) => "invalid_cursor",
            Error::InvalidQuery(_) => "invalid_query",
            Error::QueryTooExpensive { .. } => "query_too_expensive",
            Error::TooManyPendingDeletes { .. } => "too_many_pending_deletes",
            Error::Validation(_) | Error::VendorValidation(_) => "validation_failed",
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal_error",
        }
    }

    pub fn details(&self) -> &[FieldError] {
        match self {
            Error::Validation(details) => details,
            Error::InvalidQuery(detail) => std::slice::from_ref(detail),
            _ => &[],
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
