//! The analytics API's request bodies, read as its pydantic models read them (field by field,
//! in the models' order, errors located like FastAPI's), into our event model: `event_name` →
//! name, `properties` → attributes, `session_id` (or the batch's `client_id`) → the session
//! UUID. The rules themselves are the domain's; only their wording is pydantic's.

use serde_json::{Map, Value};

use super::pydantic::{Loc, PydanticError};
use crate::domain::commands::EventRequest;
use crate::domain::event::{Category, Priority, Source};
use crate::domain::project::Project;
use crate::domain::time::Timestamp;
use crate::domain::values::{Attributes, EventName, Limits, SessionUuid, check_event_time};
use crate::http::requests::cap;

/// What decoding needs besides the body.
pub struct Decode<'a> {
    pub project: &'a Project,
    pub now: Timestamp,
    pub limits: &'a Limits,
    /// Where its events were captured, by the caller's key.
    pub source: Source,
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
    // pydantic reports `client_id` after the events, in the model's field order; its value is
    // needed first, to place the events without a session_id.
    let mut client_errors = Vec::new();
    let client_id = optional_string(body, "client_id", &loc, &mut client_errors);
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
    errors.extend(client_errors);
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
        kind: Default::default(),
        source: d.source.clone(),
        occurred_at: timestamp.unwrap_or(d.now),
        stamped_by_client: timestamp.is_some(),
        event_id: None,
        ip_address: None,
        user_agent: text(user_agent),
        page_url: text(page_url),
        referrer: text(referrer),
        place: None,
        device_id: None,
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

/// `timestamp: datetime | None`, as pydantic reads one: an ISO 8601 date-time or date, or a
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
    let parsed = match value {
        Value::Number(n) => match n.as_f64().map(unix_time) {
            Some(Ok(t)) => t,
            Some(Err(why)) => {
                errors.push(here.datetime_parsing(value, why));
                return None;
            }
            None => {
                errors.push(here.datetime_type(value));
                return None;
            }
        },
        Value::String(text) => {
            let read = match numeric(text) {
                Some(f) => unix_time(f),
                None => iso_datetime(text),
            };
            match read {
                Ok(t) => t,
                Err(why) => {
                    errors.push(here.datetime_from_date_parsing(value, why));
                    return None;
                }
            }
        }
        other => {
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

/// A string that is a number as pydantic reads one for a date-time (a Unix time): an optional
/// sign, digits with an optional fraction (either part may be empty, not both), and an
/// exponent only after a fraction's point (`1.75e9`, `+.5e10`, `1750000000.`). No
/// surrounding space.
fn numeric(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let mantissa_ok = digits(whole)
        && fraction.is_none_or(digits)
        && !(whole.is_empty() && fraction.is_none_or(str::is_empty));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        fraction.is_some() && !e.is_empty() && digits(e)
    });
    if !(mantissa_ok && exponent_ok) {
        return None;
    }
    // Rust's reader takes every form left here but a bare trailing or leading point.
    let mut normal = text.to_owned();
    if normal.contains(".e") || normal.contains(".E") || normal.ends_with('.') {
        normal = normal.replacen('.', ".0", 1);
    }
    normal
        .replacen("+.", "+0.", 1)
        .replacen("-.", "-0.", 1)
        .parse()
        .ok()
}

/// A Unix time in seconds, or milliseconds past 2e10, within the years 0000–9999.
fn unix_time(value: f64) -> Result<Timestamp, &'static str> {
    let millis = if value.abs() > 2e10 {
        value
    } else {
        value * 1e3
    };
    if millis > 253_402_300_799_999.0 {
        Err("dates after 9999 are not supported as unix timestamps")
    } else if millis < -62_167_219_200_000.0 {
        Err("dates before 0000 are not supported as unix timestamps")
    } else {
        Ok(Timestamp::from_micros((millis * 1e3) as i64))
    }
}

/// An ISO 8601 date-time as pydantic accepts one: `YYYY-MM-DD`, then `T`, `t`, `_` or a space,
/// `HH:MM[:SS[.fraction]]` (a comma may start the fraction), then `Z`, `z`, `±HH:MM`, `±HHMM`
/// or no zone (UTC); or the date alone (its midnight, UTC). Errors in pydantic's words.
fn iso_datetime(text: &str) -> Result<Timestamp, &'static str> {
    const EXTRA: &str = "unexpected extra characters at the end of the input";
    let b = text.as_bytes();
    if b.len() < 10 {
        return Err("input is too short");
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let Some(year) = number(0..4) else {
        return Err("invalid character in year");
    };
    if b[4] != b'-' || b[7] != b'-' {
        return Err("invalid date separator, expected `-`");
    }
    let month = number(5..7).ok_or("invalid character in month")?;
    if !(1..=12).contains(&month) {
        return Err("month value is outside expected range of 1-12");
    }
    let day = number(8..10).ok_or("invalid character in day")?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > days {
        return Err("day value is outside expected range");
    }
    let date = &text[..10];
    if b.len() == 10 {
        return Timestamp::parse_rfc3339(&format!("{date}T00:00:00Z")).ok_or(EXTRA);
    }
    if !matches!(b[10], b'T' | b't' | b'_' | b' ') {
        return Err(EXTRA);
    }
    // The time: HH:MM, then optional :SS and a fraction.
    let (Some(hour), Some(minute)) = (number(11..13), number(14..16)) else {
        return Err(EXTRA);
    };
    if b.get(13) != Some(&b':') || hour > 23 || minute > 59 {
        return Err(EXTRA);
    }
    let mut i = 16;
    let mut second = 0;
    let mut fraction = String::new();
    if b.get(i) == Some(&b':') {
        second = number(i + 1..i + 3).filter(|s| *s <= 59).ok_or(EXTRA)?;
        i += 3;
        if matches!(b.get(i), Some(b'.' | b',')) {
            let start = i + 1;
            let mut end = start;
            while b.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            if end == start {
                return Err(EXTRA);
            }
            fraction = format!(".{}", &text[start..end]);
            i = end;
        }
    }
    let zone = match &b[i..] {
        [] | [b'Z'] | [b'z'] => "Z".to_owned(),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(EXTRA);
            }
            let (h, m) = (
                u32::from(h1 - b'0') * 10 + u32::from(h2 - b'0'),
                u32::from(m1 - b'0') * 10 + u32::from(m2 - b'0'),
            );
            if h > 23 || m > 59 {
                return Err(EXTRA);
            }
            format!("{}{h:02}:{m:02}", *sign as char)
        }
        _ => return Err(EXTRA),
    };
    Timestamp::parse_rfc3339(&format!(
        "{date}T{hour:02}:{minute:02}:{second:02}{fraction}{zone}"
    ))
    .ok_or(EXTRA)
}

#[cfg(test)]
mod tests {
    use super::numeric;

    #[test]
    fn numeric_strings_are_read_as_pydantic_reads_them() {
        for (text, value) in [
            ("1750000000", 1.75e9),
            ("1.75e9", 1.75e9),
            ("1.75E+9", 1.75e9),
            ("+.5e10", 5e9),
            (".5", 0.5),
            ("1750000000.", 1.75e9),
            ("-1.75e9", -1.75e9),
            ("+0", 0.0),
        ] {
            assert_eq!(numeric(text), Some(value), "{text}");
        }
        for text in [
            "1e9",
            "1750000000e0",
            " 1750000000",
            ".",
            "+",
            "1.5.5",
            "1.e",
            "abc",
            "",
        ] {
            assert_eq!(numeric(text), None, "{text}");
        }
    }
}
