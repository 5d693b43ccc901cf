//! The profile store's event object into our event model: `DeviceId` → the session UUID (a
//! non-UUID id maps to a stable v5 UUID and is kept to be returned as sent), `EventType` →
//! name, `Value` → label, `PageUri` → page URL, `RemoteAddress` → the event's address,
//! `EventTime` → its time (now when absent), `CountryCode` → its country (else GeoIP of the
//! address), `Payload` → attributes.

use serde_json::{Map, Value};

use crate::domain::commands::{EventRequest, Place};
use crate::domain::event::{Label, Source};
use crate::domain::project::Project;
use crate::domain::time::Timestamp;
use crate::domain::values::{Attributes, EventName, Limits, SessionUuid, parse_timestamp};
use crate::error::{Error, FieldError};
use crate::http::requests::{Fields, cap};

/// The longest `DeviceId` taken (the ids SDKs make are far shorter).
const MAX_DEVICE_ID_CHARS: usize = 255;

pub fn track_event(
    body: &Map<String, Value>,
    project: &Project,
    now: Timestamp,
    limits: &Limits,
    source: Source,
) -> Result<EventRequest, Error> {
    let mut f = Fields::new(body, "");
    let device = f.required_string("DeviceId").and_then(|id| {
        let chars = id.chars().count();
        if chars == 0 || chars > MAX_DEVICE_ID_CHARS || id.chars().any(char::is_control) {
            f.error(
                "DeviceId",
                format!("must be 1 to {MAX_DEVICE_ID_CHARS} characters, no control characters"),
            );
            return None;
        }
        Some(id)
    });
    let name =
        f.required_string("EventType")
            .and_then(|text| match EventName::parse(text, limits) {
                Ok(name) => Some(name),
                Err(message) => {
                    f.error("EventType", message);
                    None
                }
            });
    let label = f.string("Value").and_then(|text| match Label::parse(text) {
        Ok(label) => Some(label),
        Err(message) => {
            f.error("Value", message);
            None
        }
    });
    let page_url = f.string("PageUri").map(|s| cap(s, limits.max_string_bytes));
    let ip_address = f.string("RemoteAddress").map(|s| cap(s.trim(), 64));
    let country_code = f.string("CountryCode").and_then(|code| {
        if code.len() == 2 && code.chars().all(|c| c.is_ascii_alphabetic()) {
            Some(code.to_ascii_uppercase())
        } else {
            f.error(
                "CountryCode",
                "must be a two-letter ISO 3166-1 country code",
            );
            None
        }
    });
    let occurred_at = match body.get("EventTime") {
        None | Some(Value::Null) => Some(now),
        Some(value) => match parse_timestamp(value, now, limits) {
            Ok(at) => Some(at),
            Err(message) => {
                f.error("EventTime", message);
                None
            }
        },
    };
    let stamped_by_client = !matches!(body.get("EventTime"), None | Some(Value::Null));
    let attributes = match body.get("Payload") {
        None | Some(Value::Null) => Some(Attributes::default()),
        Some(value) => match Attributes::parse(value, "Payload", limits) {
            Ok(attributes) => Some(attributes),
            Err(errors) => {
                f.errors.extend(errors);
                None
            }
        },
    };
    let errors: Vec<FieldError> = f.errors;
    match (device, name, occurred_at, attributes) {
        (Some(device), Some(name), Some(occurred_at), Some(attributes)) if errors.is_empty() => {
            let uuid = SessionUuid::for_external_id(project, device);
            Ok(EventRequest {
                device_id: (uuid.to_string() != device).then(|| device.to_owned()),
                uuid,
                name,
                attributes,
                label,
                category: Default::default(),
                priority: Default::default(),
                kind: Default::default(),
                source,
                occurred_at,
                stamped_by_client,
                event_id: None,
                ip_address,
                user_agent: None,
                page_url,
                referrer: None,
                place: country_code.map(|code| Place {
                    country_code: Some(code),
                    city: None,
                }),
            })
        }
        _ => Err(Error::Validation(errors)),
    }
}
