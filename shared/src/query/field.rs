//! The fields a query may name, their types, and the literals each accepts.
//!
//! Names are matched case-sensitively, exactly as the Profile Store spells them (`EventType`,
//! not `eventtype`): an unknown name is an error rather than a filter that silently matches
//! nothing. Member access is written `/` in OData and `.` in KQL; both parsers accept both.

use std::fmt;

use super::filter::Value;

/// A field of a tracked event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    EventType,
    DeviceId,
    EventTime,
    CountryCode,
    PageUri,
    Value,
    RemoteAddress,
    TrackId,
    SessionId,
    UserEmail,
    UserName,
    /// A top-level scalar attribute of the payload (`Payload.plan`, `Payload/plan`).
    Payload(String),
}

/// What a field holds, which decides the literals it may be compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Str,
    Time,
    /// Payload attributes: any scalar.
    Dynamic,
}

impl Field {
    /// Reads a field name; `User.Email` and `User/Email` are the same field.
    pub fn parse(name: &str) -> Option<Field> {
        let mut parts = name.split(['.', '/']);
        let first = parts.next()?;
        let second = parts.next();
        if parts.next().is_some() {
            return None;
        }
        let field = match (first, second) {
            ("EventType", None) => Field::EventType,
            ("DeviceId", None) => Field::DeviceId,
            ("EventTime", None) => Field::EventTime,
            ("CountryCode", None) => Field::CountryCode,
            ("PageUri", None) => Field::PageUri,
            ("Value", None) => Field::Value,
            ("RemoteAddress", None) => Field::RemoteAddress,
            ("TrackId", None) => Field::TrackId,
            ("SessionId", None) => Field::SessionId,
            ("User", Some("Email")) => Field::UserEmail,
            ("User", Some("Name")) => Field::UserName,
            ("Payload", Some(key)) if !key.is_empty() => Field::Payload(key.to_string()),
            _ => return None,
        };
        Some(field)
    }

    pub fn kind(&self) -> FieldType {
        match self {
            Field::EventTime => FieldType::Time,
            Field::Payload(_) => FieldType::Dynamic,
            _ => FieldType::Str,
        }
    }

    /// Checks a literal against this field's type: `Ok` with the value to compare (a string
    /// that reads as a datetime becomes one for `EventTime`), or the reason it cannot be
    /// compared. `null` goes with every field (it matches a missing value).
    pub fn accept(&self, value: Value) -> Result<Value, String> {
        match (self.kind(), value) {
            (_, Value::Null) => Ok(Value::Null),
            (FieldType::Dynamic, value) => Ok(value),
            (FieldType::Str, Value::Str(text)) => Ok(Value::Str(text)),
            (FieldType::Time, Value::Time(time)) => Ok(Value::Time(time)),
            (FieldType::Time, Value::Str(text)) => match super::datetime::parse(&text) {
                Some(time) => Ok(Value::Time(time)),
                None => Err(format!("{self} compares with a datetime, not '{text}'")),
            },
            (FieldType::Str, other) => Err(format!(
                "{self} is a string; it cannot be compared with {}",
                other.describe()
            )),
            (FieldType::Time, other) => Err(format!(
                "{self} is a datetime; it cannot be compared with {}",
                other.describe()
            )),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Field::EventType => "EventType",
            Field::DeviceId => "DeviceId",
            Field::EventTime => "EventTime",
            Field::CountryCode => "CountryCode",
            Field::PageUri => "PageUri",
            Field::Value => "Value",
            Field::RemoteAddress => "RemoteAddress",
            Field::TrackId => "TrackId",
            Field::SessionId => "SessionId",
            Field::UserEmail => "User.Email",
            Field::UserName => "User.Name",
            Field::Payload(key) => return write!(f, "Payload.{key}"),
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;

    #[test]
    fn names_are_case_sensitive_and_member_access_takes_either_separator() {
        assert_eq!(Field::parse("EventType"), Some(Field::EventType));
        assert_eq!(Field::parse("eventtype"), None);
        assert_eq!(Field::parse("User.Email"), Some(Field::UserEmail));
        assert_eq!(Field::parse("User/Name"), Some(Field::UserName));
        assert_eq!(Field::parse("User"), None);
        assert_eq!(Field::parse("User.Phone"), None);
        assert_eq!(
            Field::parse("Payload/plan"),
            Some(Field::Payload("plan".into()))
        );
        assert_eq!(
            Field::parse("Payload.plan"),
            Some(Field::Payload("plan".into()))
        );
        assert_eq!(Field::parse("Payload"), None);
        assert_eq!(Field::parse("Payload.a.b"), None);
        assert_eq!(Field::parse("EventType.x"), None);
    }

    #[test]
    fn literals_must_fit_the_field() {
        let t = Timestamp::parse_rfc3339("2026-01-02T00:00:00Z").unwrap();
        assert_eq!(
            Field::EventTime.accept(Value::Str("2026-01-02".into())),
            Ok(Value::Time(t))
        );
        assert!(Field::EventTime.accept(Value::Str("soon".into())).is_err());
        assert!(Field::EventTime.accept(Value::Num(1.0)).is_err());
        assert!(Field::EventType.accept(Value::Num(1.0)).is_err());
        assert!(Field::EventType.accept(Value::Time(t)).is_err());
        assert_eq!(Field::EventType.accept(Value::Null), Ok(Value::Null));
        assert_eq!(
            Field::Payload("n".into()).accept(Value::Bool(true)),
            Ok(Value::Bool(true))
        );
    }
}
