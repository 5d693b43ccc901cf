//! Stored items to the reference's response shapes, field order included.

use serde_json::{Map, Value, json};

use crate::domain::event::{Category, EventType, Priority};
use crate::store::item::{Item, get_json, get_s};
use crate::store::{keys, track_id};

/// Session fields in the reference's order. Map-valued fields read `{}` rather than `null` when
/// nothing is stored yet, so SDK code like `session.utm_data.utm_source` never meets a null.
const SESSION_FIELDS: &[(&str, bool)] = &[
    ("id", false),
    ("uuid", false),
    ("url_data", true),
    ("utm_data", true),
    ("query_params", true),
    ("click_ids", true),
    ("source", false),
    ("medium", false),
    // Ours, beside source and medium: the search engine's query when its referrer carried one.
    ("search_term", false),
    ("referer", false),
    ("ip_address", false),
    ("ip_data", true),
    ("device_data", true),
    ("client_attributes", true),
    ("user_attributes", true),
    ("custom_data", true),
    ("first_touch", true),
    ("created_at", false),
    ("updated_at", false),
    // Ours, after the reference's.
    ("visits", false),
    ("last_activity_at", false),
];

pub fn session(item: &Item) -> Value {
    let mut out = Map::new();
    for (name, is_map) in SESSION_FIELDS {
        let value = match get_json(item, name) {
            Value::Null if *is_map => json!({}),
            v => v,
        };
        out.insert((*name).to_owned(), value);
    }
    Value::Object(out)
}

/// The session's attribute map (set through `POST /attributes`).
pub fn session_attributes(item: &Item) -> Value {
    match get_json(item, "attributes") {
        Value::Null => json!({}),
        v => v,
    }
}

fn pick(item: &Item, fields: &[&str]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|name| {
                let value = match (*name, get_json(item, name)) {
                    ("attributes", Value::Null) => json!({}),
                    // Events stored before categories and priorities existed read as the
                    // defaults they would have been given.
                    ("category", Value::Null) => json!(Category::default().as_str()),
                    ("priority", Value::Null) => json!(Priority::default().as_str()),
                    ("type", Value::Null) => json!(EventType::default().as_str()),
                    ("track_id", _) => track_id(item).map_or(Value::Null, Value::String),
                    (_, v) => v,
                };
                ((*name).to_owned(), value)
            })
            .collect(),
    )
}

/// The event's `track_id` (see `store::track_id`), from its keys.
pub fn track_id(item: &Item) -> Option<String> {
    track_id::encode(get_s(item, "uuid")?, get_s(item, keys::SK)?)
}

/// An event as session/show lists it.
pub fn session_event(item: &Item) -> Value {
    pick(
        item,
        &[
            "id",
            "uuid",
            "name",
            "attributes",
            "occurred_at",
            // Ours, after the reference's.
            "label",
            "category",
            "priority",
            "type",
            "source",
            "visit",
            "user_id",
            "company_id",
            "track_id",
        ],
    )
}

/// An event as event/show lists it.
pub fn event_row(item: &Item) -> Value {
    pick(
        item,
        &[
            "id",
            "session_id",
            "uuid",
            "name",
            "attributes",
            "ip_address",
            "user_agent",
            "occurred_at",
            "created_at",
            "updated_at",
            // Ours, after the reference's.
            "label",
            "category",
            "priority",
            "type",
            "source",
            "page_url",
            "referrer",
            "visit",
            "country_code",
            "city",
            "user_id",
            "company_id",
            "track_id",
        ],
    )
}
