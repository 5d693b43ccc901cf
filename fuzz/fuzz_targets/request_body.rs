//! Any bytes as a request body, through the decoder and every endpoint's validator.
//!
//! Properties: nothing panics; every rejection is a 4xx with a JSON envelope; and whatever is
//! accepted is storable: each attribute value survives the trip into the stored item and back
//! unchanged, event names and timestamps are within their limits, and listing parameters are
//! in range.
#![no_main]

use atrack_shared::domain::commands::{
    AttributesRequest, EventRequest, EventShowRequest, InitRequest, SessionShowRequest,
};
use atrack_shared::domain::time::Timestamp;
use atrack_shared::domain::values::{Attributes, EventId, Limits, SessionUuid};
use atrack_shared::error::Error;
use atrack_shared::http::envelope::error_response;
use atrack_shared::http::requests::parse_body;
use atrack_shared::store::item::Attr;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// 2026-11-25T00:00:00Z: timestamps are checked against a fixed "now".
const NOW_MS: i64 = 1_795_564_800_000;
/// 2000-01-01T00:00:00Z, the earliest accepted timestamp.
const EARLIEST_MS: i64 = 946_684_800_000;

fn rejected(err: &Error) {
    assert!(
        err.status().is_client_error(),
        "input was answered {} ({err})",
        err.status()
    );
    let response = error_response(err, "fuzz");
    assert_eq!(response.status(), err.status());
}

/// A value the validator accepted must come back from storage exactly as sent.
fn storable(value: &Value) {
    assert_eq!(&Attr::from_json(value).to_json(), value, "changed by storage");
}

fn attributes_storable(attributes: &Attributes, limits: &Limits) {
    assert!(attributes.len() <= limits.max_attributes);
    for (key, value) in attributes.iter() {
        let chars = key.chars().count();
        assert!((1..=limits.max_key_chars).contains(&chars), "key {key:?}");
        storable(value);
    }
}

fn canonical_uuid(uuid: &SessionUuid) {
    let text = uuid.to_string();
    assert_eq!(text, text.to_ascii_lowercase());
    assert_eq!(SessionUuid::parse(&text).as_ref(), Ok(uuid));
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let body = match parse_body(data) {
        Ok(body) => body,
        Err(err) => return rejected(&err),
    };
    let now = Timestamp::from_millis(NOW_MS);

    match EventRequest::parse(&body, now, &limits) {
        Ok(req) => {
            canonical_uuid(&req.uuid);
            let name = req.name.as_str();
            let chars = name.chars().count();
            assert!((1..=limits.max_event_name_chars).contains(&chars));
            assert!(!name.chars().any(char::is_control));
            attributes_storable(&req.attributes, &limits);
            let at = req.occurred_at.millis();
            assert!(at >= EARLIEST_MS, "timestamp {at} before 2000");
            assert!(at <= NOW_MS + limits.max_future_secs * 1000, "timestamp {at} too far ahead");
            if let Some(id) = req.event_id {
                assert_eq!(EventId::parse(&id.to_string()), Ok(id));
            }
        }
        Err(err) => rejected(&err),
    }

    match InitRequest::parse(&body, &limits) {
        Ok(req) => {
            if let Some(uuid) = &req.uuid {
                canonical_uuid(uuid);
            }
            for attributes in [&req.user_attributes, &req.custom_data].into_iter().flatten() {
                attributes_storable(attributes, &limits);
            }
            for value in req.client.other.values() {
                storable(value);
            }
            if let Some(ip) = &req.client.ip_address {
                assert!(ip.len() <= 64);
            }
        }
        Err(err) => rejected(&err),
    }

    match AttributesRequest::parse(&body, &limits) {
        Ok(req) => {
            canonical_uuid(&req.uuid);
            attributes_storable(&req.attributes, &limits);
        }
        Err(err) => rejected(&err),
    }

    match SessionShowRequest::parse(&body) {
        Ok(req) => canonical_uuid(&req.uuid),
        Err(err) => rejected(&err),
    }

    match EventShowRequest::parse(&body, &limits) {
        Ok(req) => {
            assert!(req.page >= 1);
            assert!((1..=limits.max_per_page).contains(&req.per_page));
        }
        Err(err) => rejected(&err),
    }
});
