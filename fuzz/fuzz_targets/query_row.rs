//! The fixed row both query targets evaluate filters on, and the planner's one property.
//! Included by `odata_filter.rs` and `kql_query.rs` with `#[path]`; not a target itself.

use atrack_shared::domain::time::Timestamp;
use atrack_shared::query::{Access, Field, Filter, Row, Value, matches, plan};

pub struct FixedRow;

pub const EVENT_TIME_MICROS: i64 = 1_767_323_045_000_000; // 2026-01-02T03:04:05Z

impl Row for FixedRow {
    fn field(&self, field: &Field) -> Value {
        let s = |text: &str| Value::Str(text.to_string());
        match field {
            Field::EventType => s("pageview"),
            Field::DeviceId => s("d1"),
            Field::EventTime => Value::Time(Timestamp::from_micros(EVENT_TIME_MICROS)),
            Field::CountryCode => s("SE"),
            Field::PageUri => s("https://example.com/en/start-page?q=1"),
            Field::Value => s("Visited the start page. Ünïcödé ok"),
            Field::UserEmail => s(""),
            Field::UserName => s("John Smith"),
            Field::Payload(key) => match key.as_str() {
                "n" => Value::Num(5.0),
                "flag" => Value::Bool(true),
                "name" => s("Home page"),
                _ => Value::Null,
            },
            _ => Value::Null,
        }
    }
}

/// Evaluates and plans a parsed filter. Property: a plan never excludes a row the filter
/// matches (it only narrows what is read).
pub fn check(filter: &Filter) {
    let row = FixedRow;
    let matched = matches(filter, &row);
    let plan = plan(filter);
    let _ = plan.to_string();
    if matched {
        let field = |f: &Field| row.field(f);
        match &plan.access {
            Access::Device(device) => assert_eq!(
                field(&Field::DeviceId),
                Value::Str(device.clone()),
                "{plan}"
            ),
            Access::Name(name) => {
                assert_eq!(field(&Field::EventType), Value::Str(name.clone()), "{plan}")
            }
            Access::Time => {}
        }
        let at = Timestamp::from_micros(EVENT_TIME_MICROS);
        assert!(
            plan.from.is_none_or(|from| from <= at),
            "{plan} excludes a match"
        );
        assert!(plan.to.is_none_or(|to| at <= to), "{plan} excludes a match");
    }
}
