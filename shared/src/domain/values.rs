//! Limits and the parse-don't-validate newtypes. Everything after decoding takes these types,
//! so no check is repeated and no unchecked value reaches storage.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::domain::project::Project;
use crate::domain::time::Timestamp;
use crate::error::FieldError;

/// The configurable limits. Defaults keep any stored item well under DynamoDB's 400 KB.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_attributes: usize,
    pub max_key_chars: usize,
    pub max_depth: usize,
    pub max_string_bytes: usize,
    pub max_event_name_chars: usize,
    pub max_per_page: u32,
    /// How far in the future an event timestamp may be.
    pub max_future_secs: i64,
    /// Events in one batch (`POST /batch`, the analytics API's batch): 100 by default,
    /// configurable up to [`MAX_BATCH_EVENTS`].
    pub max_batch_events: usize,
    /// The body limit of the batch routes.
    pub max_batch_body_bytes: usize,
}

/// The most events a batch may be configured to take: 500 events of a few hundred bytes keep
/// a batch within the batch routes' 512 KB body.
pub const MAX_BATCH_EVENTS: usize = 500;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 32 * 1024,
            max_attributes: 200,
            max_key_chars: 128,
            max_depth: 8,
            max_string_bytes: 8 * 1024,
            max_event_name_chars: 100,
            max_per_page: 100,
            max_future_secs: 24 * 3600,
            max_batch_events: 100,
            max_batch_body_bytes: 512 * 1024,
        }
    }
}

/// Timestamps before this (2000-01-01T00:00:00Z) are rejected as clock garbage.
const EARLIEST_MICROS: i64 = 946_684_800_000_000;

/// DynamoDB stores numbers with magnitude in [1e-130, 1e126) and 38 significant digits;
/// anything else is rejected here rather than failing in storage.
fn number_fits(n: &serde_json::Number) -> bool {
    if n.is_i64() || n.is_u64() {
        return true;
    }
    match n.as_f64() {
        Some(0.0) => true,
        // Both ends are allowed, as the error message says: they are DynamoDB's own limits
        // (its largest is 9.99…e125, so 9.9e125 is safely inside).
        Some(f) => f.is_finite() && f.abs() <= 9.9e125 && f.abs() >= 1e-130,
        None => false,
    }
}

/// A session UUID in canonical hyphenated form, any case accepted, stored lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionUuid(Uuid);

impl SessionUuid {
    pub fn new_v4() -> Self {
        SessionUuid(Uuid::new_v4())
    }

    pub fn parse(text: &str) -> Result<Self, &'static str> {
        parse_canonical_uuid(text).map(SessionUuid)
    }

    /// The session another vendor's identifier names (the analytics API's `session_id`,
    /// Segment's `anonymousId`): the identifier itself when it is a canonical UUID, else a
    /// stable version-5 UUID of the project and the identifier, so the same identifier always
    /// lands in the same session and never in another project's.
    pub fn for_external_id(project: &Project, id: &str) -> Self {
        match Self::parse(id) {
            Ok(uuid) => uuid,
            Err(_) => SessionUuid(Uuid::new_v5(
                &EXTERNAL_ID_NAMESPACE,
                format!("{}\n{id}", project.as_str()).as_bytes(),
            )),
        }
    }
}

/// The namespace of [`SessionUuid::for_external_id`]'s UUIDs (chosen once; changing it would
/// move every mapped identifier to a new session).
const EXTERNAL_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_3c2e_9b7d_4e58_a0c4_1d2e_3f4a_5b6c);

impl fmt::Display for SessionUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A client-chosen event identifier, used to make retries idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId(Uuid);

impl EventId {
    pub fn new_v4() -> Self {
        EventId(Uuid::new_v4())
    }

    /// An id the server derives (the automatic events' stable ids).
    pub fn from_uuid(uuid: Uuid) -> Self {
        EventId(uuid)
    }

    pub fn parse(text: &str) -> Result<Self, &'static str> {
        parse_canonical_uuid(text).map(EventId)
    }

    /// The event id another vendor's message id names (Segment's `messageId`): the id itself
    /// when it is a canonical UUID, else a stable version-5 UUID of it, so a retried message
    /// keeps its id.
    pub fn for_external_id(id: &str) -> Self {
        Self::parse(id)
            .unwrap_or_else(|_| EventId(Uuid::new_v5(&EXTERNAL_ID_NAMESPACE, id.as_bytes())))
    }

    /// A stable id for another event that the same message brings (`what` names which): one
    /// message may record several events, and each must be recognised on a retry.
    pub fn derived(self, what: &str) -> Self {
        EventId(Uuid::new_v5(&self.0, what.as_bytes()))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

fn parse_canonical_uuid(text: &str) -> Result<Uuid, &'static str> {
    // Uuid::parse_str also takes braced, URN and unhyphenated forms; the key design wants one
    // spelling per UUID, so only the canonical 36-character form is accepted.
    if text.len() != 36 {
        return Err("must be a UUID in canonical form (8-4-4-4-12 hex digits)");
    }
    Uuid::try_parse(text).map_err(|_| "must be a UUID in canonical form (8-4-4-4-12 hex digits)")
}

/// An event name: 1 to `max_event_name_chars` characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventName(String);

impl EventName {
    pub fn parse(text: &str, limits: &Limits) -> Result<Self, String> {
        let chars = text.chars().count();
        if chars == 0 || text.trim().is_empty() {
            return Err("must not be empty".into());
        }
        if chars > limits.max_event_name_chars {
            return Err(format!(
                "must be at most {} characters",
                limits.max_event_name_chars
            ));
        }
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(EventName(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A checked attribute map: at most `max_attributes` keys of 1–`max_key_chars` characters,
/// values nested at most `max_depth` deep, strings at most `max_string_bytes`, numbers that
/// DynamoDB can store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(BTreeMap<String, Value>);

impl Attributes {
    pub fn parse(value: &Value, field: &str, limits: &Limits) -> Result<Self, Vec<FieldError>> {
        let Value::Object(map) = value else {
            return Err(vec![FieldError::new(field, "must be an object")]);
        };
        let mut errors = Vec::new();
        if map.len() > limits.max_attributes {
            errors.push(FieldError::new(
                field,
                format!("must have at most {} keys", limits.max_attributes),
            ));
            return Err(errors);
        }
        check_object(map, field, 1, limits, &mut errors);
        if errors.is_empty() {
            Ok(Attributes(
                map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ))
        } else {
            Err(errors)
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    pub fn to_json(&self) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

fn check_object(
    map: &Map<String, Value>,
    path: &str,
    depth: usize,
    limits: &Limits,
    errors: &mut Vec<FieldError>,
) {
    for (key, value) in map {
        let child = format!("{path}.{key}");
        let chars = key.chars().count();
        if chars == 0 || chars > limits.max_key_chars {
            errors.push(FieldError::new(
                path,
                format!("keys must be 1 to {} characters", limits.max_key_chars),
            ));
            continue;
        }
        check_value(value, &child, depth, limits, errors);
    }
}

/// Checks one value found at nesting `depth` (1 = a top-level attribute's value).
pub fn check_value(
    value: &Value,
    path: &str,
    depth: usize,
    limits: &Limits,
    errors: &mut Vec<FieldError>,
) {
    if errors.len() >= 20 {
        return;
    }
    match value {
        Value::String(s) if s.len() > limits.max_string_bytes => errors.push(FieldError::new(
            path,
            format!("strings must be at most {} bytes", limits.max_string_bytes),
        )),
        Value::Number(n) if !number_fits(n) => errors.push(FieldError::new(
            path,
            "number is out of the storable range (magnitude 1e-130 to 9.9e125)",
        )),
        Value::Array(_) | Value::Object(_) if depth >= limits.max_depth => {
            errors.push(FieldError::new(
                path,
                format!("values may be nested at most {} deep", limits.max_depth),
            ))
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_value(item, &format!("{path}[{i}]"), depth + 1, limits, errors);
            }
        }
        Value::Object(map) => check_object(map, path, depth + 1, limits, errors),
        _ => {}
    }
}

/// An event timestamp: RFC 3339 text or epoch milliseconds, from 2000 up to
/// `max_future_secs` after now.
pub fn parse_timestamp(
    value: &Value,
    now: Timestamp,
    limits: &Limits,
) -> Result<Timestamp, String> {
    let parsed = match value {
        Value::String(s) => Timestamp::parse_rfc3339(s)
            .ok_or_else(|| "must be an RFC 3339 date-time or epoch milliseconds".to_owned())?,
        Value::Number(n) => match n.as_i64() {
            Some(ms) if (0..=i64::MAX / 1000).contains(&ms) => Timestamp::from_millis(ms),
            _ => return Err("epoch milliseconds must be a non-negative integer".into()),
        },
        _ => return Err("must be an RFC 3339 date-time or epoch milliseconds".into()),
    };
    check_event_time(parsed, now, limits)
}

/// An event's time must be a plausible one: not before 2000, not more than a day ahead.
pub fn check_event_time(
    parsed: Timestamp,
    now: Timestamp,
    limits: &Limits,
) -> Result<Timestamp, String> {
    if parsed.micros() < EARLIEST_MICROS {
        return Err("must not be before 2000-01-01".into());
    }
    if parsed.micros()
        > now
            .micros()
            .saturating_add(limits.max_future_secs * 1_000_000)
    {
        return Err("must not be more than 24 hours in the future".into());
    }
    Ok(parsed)
}

/// Sort order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Asc,
    Desc,
}

impl Sort {
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Asc => "asc",
            Sort::Desc => "desc",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uuid_accepts_any_case_and_stores_lowercase() {
        let u = SessionUuid::parse("B19412C6-6A91-4E18-890D-E2269A0D1249").unwrap();
        assert_eq!(u.to_string(), "b19412c6-6a91-4e18-890d-e2269a0d1249");
    }

    #[test]
    fn external_ids_map_to_stable_sessions_per_project() {
        let a = Project::parse("a").unwrap();
        let b = Project::parse("b").unwrap();
        let id = "B19412C6-6A91-4E18-890D-E2269A0D1249";
        assert_eq!(
            SessionUuid::for_external_id(&a, id),
            SessionUuid::parse(id).unwrap()
        );
        let mapped = SessionUuid::for_external_id(&a, "visitor-42");
        assert_eq!(mapped, SessionUuid::for_external_id(&a, "visitor-42"));
        assert_ne!(mapped, SessionUuid::for_external_id(&b, "visitor-42"));
        assert_ne!(mapped, SessionUuid::for_external_id(&a, "visitor-43"));
        assert_eq!(mapped.0.get_version_num(), 5);
    }

    #[test]
    fn uuid_rejects_non_canonical_forms() {
        for bad in [
            "b19412c66a914e18890de2269a0d1249",
            "{b19412c6-6a91-4e18-890d-e2269a0d1249}",
            "urn:uuid:b19412c6-6a91-4e18-890d-e2269a0d1249",
            "not-a-uuid",
            "",
        ] {
            assert!(SessionUuid::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_names_are_checked() {
        let l = Limits::default();
        assert!(EventName::parse("checkout_started", &l).is_ok());
        assert!(EventName::parse("", &l).is_err());
        assert!(EventName::parse("   ", &l).is_err());
        assert!(EventName::parse("a\nb", &l).is_err());
        assert!(EventName::parse(&"x".repeat(101), &l).is_err());
        assert!(EventName::parse(&"é".repeat(100), &l).is_ok());
    }

    #[test]
    fn attributes_enforce_every_limit() {
        let l = Limits::default();
        let cases = [
            (json!([1]), "not an object"),
            (json!({"": 1}), "empty key"),
            (json!({"k".repeat(129): 1}), "long key"),
            (json!({"s": "x".repeat(8 * 1024 + 1)}), "long string"),
            (
                json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}),
                "too deep",
            ),
            (json!({"n": 1e300}), "number out of range"),
        ];
        for (value, why) in cases {
            assert!(
                Attributes::parse(&value, "attributes", &l).is_err(),
                "{why}"
            );
        }
        let many: Map<String, Value> = (0..201).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(Attributes::parse(&Value::Object(many), "attributes", &l).is_err());
        let ok = json!({"plan": "pro", "a.b#c$d:e": [1, {"x": null}], "n": 129.99,
            "deep": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}});
        assert_eq!(Attributes::parse(&ok, "attributes", &l).unwrap().len(), 4);
    }

    #[test]
    fn timestamps_accept_rfc3339_and_epoch_millis_in_range() {
        let l = Limits::default();
        let now = Timestamp::parse_rfc3339("2026-04-12T02:10:00Z").unwrap();
        let t = parse_timestamp(&json!("2026-04-12T02:10:00Z"), now, &l).unwrap();
        assert_eq!(t, now);
        let t = parse_timestamp(&json!(1_775_959_800_000i64), now, &l).unwrap();
        assert_eq!(t, now);
        assert!(parse_timestamp(&json!("1999-12-31T23:59:59Z"), now, &l).is_err());
        assert!(parse_timestamp(&json!("2026-04-13T02:10:01Z"), now, &l).is_err());
        assert!(parse_timestamp(&json!("yesterday"), now, &l).is_err());
        assert!(parse_timestamp(&json!(-5), now, &l).is_err());
        assert!(parse_timestamp(&json!(true), now, &l).is_err());
    }
}
