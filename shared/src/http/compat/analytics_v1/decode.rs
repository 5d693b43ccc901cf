//! The analytics API's request bodies, read as its pydantic models read them (field by field,
//! in the models' order, errors located like FastAPI's), into our event model: `event_name` →
//! name, `properties` → attributes, `session_id` (or the batch's `client_id`) → the session
//! UUID. The rules themselves are the domain's; only their wording is pydantic's.

use serde_json::{Map, Value};

use super::pydantic::{Loc, PydanticError};
use crate::domain::commands::EventRequest;
use crate::domain::event::{Category, Priority};
use crate::domain::project::Project;
use crate::domain::time::Timestamp;
use crate::domain::values::{Attributes, EventName, Limits, SessionUuid, check_event_time};
use crate::http::requests::cap;

/// What decoding needs besides the body.
pub struct Decode<'a> {
    pub project: &'a Project,
    pub now: Timestamp,
    pub limits: &'a Limits,
}

/// The most characters an `event_name` may have (the seed's `max_length`).
const MAX_EVENT_NAME_CHARS: usize = 100;

/// `POST /api/v1/analytics/batch`'s body: `events` (1 to the batch limit) and `client_id`.
/// Validated whole, as the seed's framework does: any error fails the batch.
pub fn batch(
    body: &Map<String, Value>,
    d: &Decode<'_>,
) -> Result<Vec<EventRequest>, Vec<PydanticError>> {
    let loc = Loc::body();
    let whole = Value::Object(body.clone());
    let mut errors = Vec::new();
    let events = match body.get("events") {
        None => {
            errors.push(loc.field("events").missing(&whole));
            None
        }
        Some(Value::Array(items)) => {
            let max = d.limits.max_batch_events;
            let here = loc.field("events");
            let input = Value::Array(items.clone());
            if items.is_empty() {
                errors.push(here.too_short(&input, 1, 0));
                None
            } else if items.len() > max {
                errors.push(here.too_long(&input, max, items.len()));
                None
            } else {
                Some(items)
            }
        }
        Some(other) => {
            errors.push(loc.field("events").list_type(other));
            None
        }
    };
    let client_id = optional_string(body, "client_id", &loc, &mut errors);
    let mut decoded = Vec::new();
    for (at, item) in events.into_iter().flatten().enumerate() {
        let here = loc.field("events").index(at);
        match item {
            Value::Object(fields) => {
                if let Some(event) = event(fields, &here, d, client_id, &mut errors) {
                    decoded.push(event);
                }
            }
            other => errors.push(here.model_type(other)),
        }
    }
    if errors.is_empty() {
        Ok(decoded)
    } else {
        Err(errors)
    }
}

/// `POST /api/v1/analytics`'s body: one event.
pub fn single(
    body: &Map<String, Value>,
    d: &Decode<'_>,
) -> Result<EventRequest, Vec<PydanticError>> {
    let mut errors = Vec::new();
    match event(body, &Loc::body(), d, None, &mut errors) {
        Some(event) if errors.is_empty() => Ok(event),
        _ => Err(errors),
    }
}

/// One event body at `loc`; its errors added to `errors`.
fn event(
    fields: &Map<String, Value>,
    loc: &Loc,
    d: &Decode<'_>,
    client_id: Option<&str>,
    errors: &mut Vec<PydanticError>,
) -> Option<EventRequest> {
    let before = errors.len();
    let name = match fields.get("event_name") {
        None => {
            errors.push(
                loc.field("event_name")
                    .missing(&Value::Object(fields.clone())),
            );
            None
        }
        Some(value @ Value::String(text)) => {
            let here = loc.field("event_name");
            let chars = text.chars().count();
            if chars < 1 {
                errors.push(here.string_too_short(value, 1));
                None
            } else if chars > MAX_EVENT_NAME_CHARS {
                errors.push(here.string_too_long(value, MAX_EVENT_NAME_CHARS));
                None
            } else {
                match EventName::parse(text, d.limits) {
                    Ok(name) => Some(name),
                    Err(why) => {
                        errors.push(here.value_error(value, &format!("event_name {why}")));
                        None
                    }
                }
            }
        }
        Some(other) => {
            errors.push(loc.field("event_name").string_type(other));
            None
        }
    };
    let category = one_of(
        fields,
        "category",
        loc,
        Category::parse,
        &Category::expected(),
        errors,
    );
    let priority = one_of(
        fields,
        "priority",
        loc,
        Priority::parse,
        &Priority::expected(),
        errors,
    );
    // `properties` is an object with a default, not nullable: `null` is a dict_type error.
    let attributes = match fields.get("properties") {
        None => Some(Attributes::default()),
        Some(value @ Value::Object(_)) => match Attributes::parse(value, "properties", d.limits) {
            Ok(attributes) => Some(attributes),
            Err(problems) => {
                let why: Vec<String> = problems
                    .iter()
                    .map(|p| format!("{} {}", p.field, p.message))
                    .collect();
                errors.push(loc.field("properties").value_error(value, &why.join("; ")));
                None
            }
        },
        Some(other) => {
            errors.push(loc.field("properties").dict_type(other));
            None
        }
    };
    let timestamp = timestamp(fields, loc, d, errors);
    let session_id = optional_string(fields, "session_id", loc, errors);
    let page_url = optional_string(fields, "page_url", loc, errors);
    let referrer = optional_string(fields, "referrer", loc, errors);
    let user_agent = optional_string(fields, "user_agent", loc, errors);
    if errors.len() > before {
        return None;
    }
    let uuid = match session_id.or(client_id) {
        Some(id) => SessionUuid::for_external_id(d.project, id),
        None => SessionUuid::new_v4(),
    };
    let text = |t: Option<&str>| t.map(|t| cap(t, d.limits.max_string_bytes));
    Some(EventRequest {
        uuid,
        name: name?,
        attributes: attributes?,
        label: None,
        category: category.unwrap_or_default(),
        priority: priority.unwrap_or_default(),
        occurred_at: timestamp.unwrap_or(d.now),
        stamped_by_client: timestamp.is_some(),
        event_id: None,
        ip_address: None,
        user_agent: text(user_agent),
        page_url: text(page_url),
        referrer: text(referrer),
    })
}

/// An optional string field (`str | None`).
fn optional_string<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
    loc: &Loc,
    errors: &mut Vec<PydanticError>,
) -> Option<&'a str> {
    match fields.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(other) => {
            errors.push(loc.field(name).string_type(other));
            None
        }
    }
}

/// An enumeration field with a default.
fn one_of<T>(
    fields: &Map<String, Value>,
    name: &str,
    loc: &Loc,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
    errors: &mut Vec<PydanticError>,
) -> Option<T> {
    let value = fields.get(name)?;
    let parsed = value.as_str().and_then(parse);
    if parsed.is_none() {
        errors.push(loc.field(name).enumeration(value, expected));
    }
    parsed
}

/// `timestamp: datetime | None`: an ISO 8601 date-time (or date) as pydantic reads one, or a
/// number of seconds since the epoch (milliseconds when too large to be seconds), also as
/// text; then our window (not before 2000, not more than a day ahead). A time without a zone
/// is UTC.
fn timestamp(
    fields: &Map<String, Value>,
    loc: &Loc,
    d: &Decode<'_>,
    errors: &mut Vec<PydanticError>,
) -> Option<Timestamp> {
    let value = fields.get("timestamp").filter(|v| !v.is_null())?;
    let here = loc.field("timestamp");
    let seconds = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    };
    let parsed = match (value, seconds) {
        (_, Some(f)) => {
            // pydantic's rule: beyond 2e10 a number is milliseconds, else seconds.
            let micros = if f.abs() > 2e10 { f * 1e3 } else { f * 1e6 };
            if micros.abs() > 253_402_300_800e6 {
                errors.push(here.datetime_parsing(
                    value,
                    "dates after 9999 are not supported as unix timestamps",
                ));
                return None;
            }
            Timestamp::from_micros(micros as i64)
        }
        (Value::String(text), None) => match lenient_datetime(text) {
            Some(t) => t,
            None => {
                errors.push(here.datetime_from_date_parsing(value, datetime_problem(text)));
                return None;
            }
        },
        (other, None) => {
            errors.push(here.datetime_type(other));
            return None;
        }
    };
    match check_event_time(parsed, d.now, d.limits) {
        Ok(t) => Some(t),
        Err(why) => {
            errors.push(here.value_error(value, &format!("timestamp {why}")));
            None
        }
    }
}

/// An ISO 8601 date-time as pydantic accepts one: `T`, `t` or a space between date and time,
/// `Z`/`z` or an offset or no zone (UTC), or a date alone (its midnight, UTC).
fn lenient_datetime(text: &str) -> Option<Timestamp> {
    if let Some(t) = Timestamp::parse_rfc3339(text) {
        return Some(t);
    }
    let mut normal: String = text.to_owned();
    if normal.len() == 10 {
        normal.push_str("T00:00:00");
    }
    if let Some(sep) = normal.get(10..11)
        && matches!(sep, " " | "t")
    {
        normal.replace_range(10..11, "T");
    }
    if normal.ends_with('z') {
        normal.pop();
        normal.push('Z');
    }
    let zoned = normal.ends_with('Z')
        || normal
            .get(19..)
            .is_some_and(|rest| rest.contains(['+', '-']));
    if !zoned {
        normal.push('Z');
    }
    Timestamp::parse_rfc3339(&normal)
}

/// Why a string is not a date-time, in pydantic's words for the common cases.
fn datetime_problem(text: &str) -> &'static str {
    let bytes = text.as_bytes();
    if bytes.len() < 10 {
        "input is too short"
    } else if !bytes[..4].iter().all(u8::is_ascii_digit) {
        "invalid character in year"
    } else if bytes[5..7].iter().all(u8::is_ascii_digit)
        && !(b"01".as_slice()..=b"12".as_slice()).contains(&&bytes[5..7])
    {
        "month value is outside expected range of 1-12"
    } else {
        "unexpected extra characters at the end of the input"
    }
}
