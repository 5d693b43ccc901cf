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
    with_error_headers(
        err,
        json_response(status, &json!({"success": false, "error": error})),
    )
}

/// The headers an error needs whatever its body's shape.
fn with_error_headers(err: &Error, mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    if matches!(err, Error::PayloadTooLarge { .. }) {
        // The rest of the body was never read, so this connection cannot carry another
        // request; saying so stops keep-alive clients from sending their next request into it.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if err.status() == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if let Error::TooManyPendingDeletes { retry_after_secs } = err {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
    }
    response
}

/// An error as the Microsoft REST API Guidelines write it (the profile store's routes):
/// `{"error": {"code", "message", "details": [{"code", "target", "message"}]}}`, our stable
/// code in `code`, each invalid parameter or field as a detail whose `target` names it.
pub fn ms_rest_error_response(err: &Error, request_id: &str) -> Response<Body> {
    let status = err.status();
    let mut error = json!({
        "code": err.code(),
        "message": err.to_string(),
    });
    let details: Vec<Value> = err
        .details()
        .iter()
        .map(|d| json!({"code": err.code(), "target": d.field, "message": d.message}))
        .collect();
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    if status.is_server_error() {
        error["innererror"] = json!({"request_id": request_id});
    }
    with_error_headers(err, json_response(status, &json!({"error": error})))
}

/// An error as FastAPI writes it (the analytics API): `{"detail": "…"}`, or for invalid
/// input a 422 with pydantic's list of errors (which the compat route wrote, JSON syntax
/// errors included). 5xx bodies carry the request id, as ours do.
pub fn fastapi_error_response(err: &Error, request_id: &str) -> Response<Body> {
    let status = err.status();
    let body = match err {
        Error::VendorValidation(errors) => json!({"detail": errors}),
        // A domain rule a compat decoder left to the services (an event too large to store),
        // written as a pydantic validator's error.
        Error::Validation(details) => json!({"detail": details.iter().map(|d| json!({
            "type": "value_error",
            "loc": std::iter::once("body").chain(d.field.split('.')).collect::<Vec<_>>(),
            "msg": format!("Value error, {}", d.message),
            "input": null,
            "ctx": {"error": d.message},
        })).collect::<Vec<_>>()}),
        Error::MissingBody => json!({"detail": [{
            "type": "missing", "loc": ["body"], "msg": "Field required", "input": null,
        }]}),

        // A body that is not even text, in FastAPI's words.
        Error::MalformedBody(why) => json!({"detail": why}),
        other if status.is_server_error() => {
            json!({"detail": other.to_string(), "request_id": request_id})
        }
        other => json!({"detail": other.to_string()}),
    };
    // FastAPI answers a missing body with 422: it is a missing field of the model.
    let status = match err {
        Error::MissingBody => StatusCode::UNPROCESSABLE_ENTITY,
        _ => status,
    };
    let mut response = with_error_headers(err, json_response(status, &body));
    if status == StatusCode::UNAUTHORIZED {
        // As FastAPI's HTTPBearer says it.
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// An error as Segment's tracking API writes it: `{"success": false, "code", "message"}`, each
/// invalid field under `details` as ours. Invalid fields are a 400 there, not a 422.
pub fn segment_error_response(err: &Error, request_id: &str) -> Response<Body> {
    let mut body = json!({"success": false, "code": err.code(), "message": err.to_string()});
    if !err.details().is_empty() {
        body["details"] = json!(err.details());
    }
    if err.status().is_server_error() {
        body["request_id"] = Value::String(request_id.to_owned());
    }
    let status = match err.status() {
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        status => status,
    };
    with_error_headers(err, json_response(status, &body))
}
