//! Every response is JSON: successes as the reference shows them, failures in one envelope
//! `{"success": false, "error": {"code", "message", "details"}}`.

use axum::body::Body;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::error::Error;

pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The envelope for an error. 5xx bodies say nothing internal; the log has the chain, and the
/// request id ties the two together.
pub fn error_response(err: &Error, request_id: &str) -> Response<Body> {
    let status = err.status();
    let mut error = json!({
        "code": err.code(),
        "message": err.to_string(),
        "details": err.details(),
    });
    if status.is_server_error() {
        error["request_id"] = Value::String(request_id.to_owned());
    }
    let mut response = json_response(status, &json!({"success": false, "error": error}));
    if matches!(err, Error::PayloadTooLarge { .. }) {
        // The rest of the body was never read, so this connection cannot carry another
        // request; saying so stops keep-alive clients from sending their next request into it.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}
