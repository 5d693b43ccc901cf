//! Our event rows in the profile store's shape, field for field and in its order. What each
//! field reads is `service::query::EventFields`, the same mapping its filters evaluate.
//! Text it has no value for reads `""`, as its examples show; `User` is `null` without an
//! email or name, `Payload` `null` without attributes.

use serde_json::{Map, Value, json};

use crate::domain::commands::EventRequest;
use crate::domain::project::Project;
use crate::service::query::EventFields;
use crate::store::item::{Attr, Item, get_json, get_s};

pub fn track_event(event: &Item, session: Option<&Item>, project: &Project) -> Value {
    let fields = EventFields { event, session };
    let text = |v: Option<&str>| Value::String(v.unwrap_or_default().to_owned());
    let user = match (fields.user("email"), fields.user("name")) {
        (None, None) => Value::Null,
        (email, name) => json!({"Email": text(email), "Name": text(name)}),
    };
    let payload = match get_json(event, "attributes") {
        Value::Object(map) if !map.is_empty() => Value::Object(map),
        _ => Value::Null,
    };
    let session_id = match event.get("session_id") {
        Some(Attr::N(n) | Attr::S(n)) => n.clone(),
        _ => String::new(),
    };
    let mut out = Map::new();
    for (name, value) in [
        (
            "TrackId",
            fields.track_id().map_or(json!(""), Value::String),
        ),
        ("DeviceId", text(fields.device_id())),
        ("EventType", text(get_s(event, "name"))),
        ("Value", text(get_s(event, "label"))),
        ("Scope", json!(project.as_str())),
        ("PageUri", text(fields.page_uri())),
        ("PageTitle", text(fields.page_title())),
        ("RemoteAddress", text(get_s(event, "ip_address"))),
        ("SessionId", json!(session_id)),
        ("User", user),
        ("Payload", payload),
        ("CountryCode", text(get_s(event, "country_code"))),
        ("City", text(get_s(event, "city"))),
        ("EventTime", text(get_s(event, "occurred_at"))),
    ] {
        out.insert(name.to_owned(), value);
    }
    Value::Object(out)
}

/// An event the project's tracking plan dropped, answered as sent with an empty `TrackId`:
/// nothing was stored.
pub fn unstored(event: &EventRequest, project: &Project) -> Value {
    let payload: Map<String, Value> = event
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let payload = match payload.is_empty() {
        true => Value::Null,
        false => Value::Object(payload),
    };
    let place = event.place.clone().unwrap_or_default();
    json!({
        "TrackId": "",
        "DeviceId": event.device_id.clone().unwrap_or_else(|| event.uuid.to_string()),
        "EventType": event.name.as_str(),
        "Value": event.label.as_ref().map_or("", |l| l.as_str()),
        "Scope": project.as_str(),
        "PageUri": event.page_url.as_deref().unwrap_or_default(),
        "PageTitle": "",
        "RemoteAddress": event.ip_address.as_deref().unwrap_or_default(),
        "SessionId": "",
        "User": null,
        "Payload": payload,
        "CountryCode": place.country_code.unwrap_or_default(),
        "City": place.city.unwrap_or_default(),
        "EventTime": event.occurred_at.to_string(),
    })
}
