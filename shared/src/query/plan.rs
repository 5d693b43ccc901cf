//! The pure part of the index planner: which index a filter lets the store read, and the
//! narrowest `EventTime` range. Only the top-level conjunction is looked at (an `And`'s direct
//! children, or the filter itself), and only conditions every match must satisfy narrow the
//! read. The store still evaluates the whole filter on every row it reads, so a plan may read
//! too much but never decides what matches.

use std::fmt;

use crate::domain::time::Timestamp;

use super::field::Field;
use super::filter::{CompareOp, Filter, Value};

/// The index a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// One device's events (`DeviceId eq 'x'`).
    Device(String),
    /// One event type's events (`EventType eq 'x'`).
    Name(String),
    /// Every event, by time.
    Time,
}

/// What to read: an index and an inclusive `EventTime` range (microseconds). `from > to` means
/// nothing can match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub access: Access,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

pub fn plan(filter: &Filter) -> Plan {
    let conjuncts = match filter {
        Filter::And(parts) => parts.as_slice(),
        other => std::slice::from_ref(other),
    };
    let device = conjuncts.iter().find_map(|c| equality(c, &Field::DeviceId));
    let name = conjuncts
        .iter()
        .find_map(|c| equality(c, &Field::EventType));
    let access = match (device, name) {
        (Some(device), _) => Access::Device(device.to_string()),
        (None, Some(name)) => Access::Name(name.to_string()),
        (None, None) => Access::Time,
    };
    let mut from: Option<Timestamp> = None;
    let mut to: Option<Timestamp> = None;
    for conjunct in conjuncts {
        let (low, high) = time_bounds(conjunct);
        if let Some(low) = low {
            from = Some(from.map_or(low, |f| f.max(low)));
        }
        if let Some(high) = high {
            to = Some(to.map_or(high, |t| t.min(high)));
        }
    }
    Plan { access, from, to }
}

/// The string `field` must equal for `filter` to match, if it says so directly.
fn equality<'a>(filter: &'a Filter, field: &Field) -> Option<&'a str> {
    match filter {
        Filter::Compare {
            field: f,
            op: CompareOp::Eq,
            value: Value::Str(value),
        } if f == field => Some(value),
        Filter::In {
            field: f,
            values,
            negated: false,
        } if f == field => match values.as_slice() {
            [Value::Str(value)] => Some(value),
            _ => None,
        },
        _ => None,
    }
}

/// The inclusive `EventTime` bounds one condition implies. Bounds saturate at the ends of the
/// range: `gt` the last instant then reads that instant too, which the filter still excludes.
fn time_bounds(filter: &Filter) -> (Option<Timestamp>, Option<Timestamp>) {
    let step = |t: Timestamp, by: i64| Timestamp::from_micros(t.micros().saturating_add(by));
    match filter {
        Filter::Compare {
            field: Field::EventTime,
            op,
            value: Value::Time(t),
        } => match op {
            CompareOp::Eq => (Some(*t), Some(*t)),
            CompareOp::Gt => (Some(step(*t, 1)), None),
            CompareOp::Ge => (Some(*t), None),
            CompareOp::Lt => (None, Some(step(*t, -1))),
            CompareOp::Le => (None, Some(*t)),
            CompareOp::Ne => (None, None),
        },
        Filter::Between {
            field: Field::EventTime,
            low: Value::Time(low),
            high: Value::Time(high),
            negated: false,
        } => (Some(*low), Some(*high)),
        Filter::In {
            field: Field::EventTime,
            values,
            negated: false,
        } => match values.as_slice() {
            [Value::Time(t)] => (Some(*t), Some(*t)),
            _ => (None, None),
        },
        _ => (None, None),
    }
}

/// `index=device:91687965-… from=2026-01-01T00:00:00.000000Z to=*`, for a log line.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.access {
            Access::Device(device) => write!(f, "index=device:{device}")?,
            Access::Name(name) => write!(f, "index=name:{name}")?,
            Access::Time => f.write_str("index=time")?,
        }
        match self.from {
            Some(from) => write!(f, " from={from}")?,
            None => f.write_str(" from=*")?,
        }
        match self.to {
            Some(to) => write!(f, " to={to}"),
            None => f.write_str(" to=*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn cmp(field: Field, op: CompareOp, value: Value) -> Filter {
        Filter::Compare { field, op, value }
    }

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    #[test]
    fn device_beats_name_beats_time() {
        let device = cmp(Field::DeviceId, CompareOp::Eq, s("d1"));
        let name = cmp(Field::EventType, CompareOp::Eq, s("home"));
        let both = Filter::and(vec![name.clone(), device.clone()]);
        assert_eq!(plan(&both).access, Access::Device("d1".into()));
        assert_eq!(plan(&name).access, Access::Name("home".into()));
        assert_eq!(plan(&device).access, Access::Device("d1".into()));
        assert_eq!(plan(&Filter::True).access, Access::Time);
        let one = Filter::In {
            field: Field::DeviceId,
            values: vec![s("d2")],
            negated: false,
        };
        assert_eq!(plan(&one).access, Access::Device("d2".into()));
    }

    #[test]
    fn only_the_top_level_conjunction_narrows() {
        let name = cmp(Field::EventType, CompareOp::Eq, s("home"));
        let other = cmp(Field::EventType, CompareOp::Eq, s("away"));
        assert_eq!(
            plan(&Filter::or(vec![name.clone(), other])).access,
            Access::Time
        );
        assert_eq!(plan(&Filter::Not(Box::new(name))).access, Access::Time);
        let two = Filter::In {
            field: Field::DeviceId,
            values: vec![s("a"), s("b")],
            negated: false,
        };
        assert_eq!(plan(&two).access, Access::Time);
        let negated = Filter::In {
            field: Field::DeviceId,
            values: vec![s("a")],
            negated: true,
        };
        assert_eq!(plan(&negated).access, Access::Time);
        let ne = cmp(Field::DeviceId, CompareOp::Ne, s("a"));
        assert_eq!(plan(&ne).access, Access::Time);
        let null = cmp(Field::DeviceId, CompareOp::Eq, Value::Null);
        assert_eq!(plan(&null).access, Access::Time);
        let t1 = cmp(
            Field::EventTime,
            CompareOp::Ge,
            Value::Time(t("2026-01-01T00:00:00Z")),
        );
        let inside_or = Filter::or(vec![t1.clone(), Filter::True]);
        assert_eq!(plan(&inside_or).from, None);
    }

    #[test]
    fn time_bounds_are_the_tightest_and_inclusive() {
        let at = |op, text| cmp(Field::EventTime, op, Value::Time(t(text)));
        let filter = Filter::and(vec![
            at(CompareOp::Gt, "2026-01-01T00:00:00Z"),
            at(CompareOp::Ge, "2025-01-01T00:00:00Z"),
            at(CompareOp::Lt, "2026-02-01T00:00:00Z"),
            at(CompareOp::Le, "2026-03-01T00:00:00Z"),
            at(CompareOp::Ne, "2026-01-15T00:00:00Z"),
        ]);
        let p = plan(&filter);
        assert_eq!(p.from, Some(t("2026-01-01T00:00:00.000001Z")));
        assert_eq!(p.to, Some(t("2026-01-31T23:59:59.999999Z")));
        assert_eq!(
            p.to_string(),
            "index=time from=2026-01-01T00:00:00.000001Z to=2026-01-31T23:59:59.999999Z"
        );

        let p = plan(&at(CompareOp::Eq, "2026-01-05T00:00:00Z"));
        assert_eq!(
            (p.from, p.to),
            (
                Some(t("2026-01-05T00:00:00Z")),
                Some(t("2026-01-05T00:00:00Z"))
            )
        );
        let p = plan(&at(CompareOp::Le, "2026-01-05T00:00:00Z"));
        assert_eq!((p.from, p.to), (None, Some(t("2026-01-05T00:00:00Z"))));

        let between = Filter::and(vec![
            Filter::Between {
                field: Field::EventTime,
                low: Value::Time(t("2026-01-01T00:00:00Z")),
                high: Value::Time(t("2026-01-31T00:00:00Z")),
                negated: false,
            },
            at(CompareOp::Ge, "2026-01-10T00:00:00Z"),
            cmp(Field::EventType, CompareOp::Eq, s("home")),
        ]);
        let p = plan(&between);
        assert_eq!(
            p.to_string(),
            "index=name:home from=2026-01-10T00:00:00.000000Z to=2026-01-31T00:00:00.000000Z"
        );
        let negated = Filter::Between {
            field: Field::EventTime,
            low: Value::Time(t("2026-01-01T00:00:00Z")),
            high: Value::Time(t("2026-01-31T00:00:00Z")),
            negated: true,
        };
        assert_eq!(plan(&negated).from, None);
        assert_eq!(plan(&Filter::True).to_string(), "index=time from=* to=*");
    }

    #[test]
    fn bounds_saturate_instead_of_overflowing() {
        let max = Timestamp::from_micros(i64::MAX);
        let p = plan(&cmp(Field::EventTime, CompareOp::Gt, Value::Time(max)));
        assert_eq!(p.from, Some(max));
        let min = Timestamp::from_micros(i64::MIN);
        let p = plan(&cmp(Field::EventTime, CompareOp::Lt, Value::Time(min)));
        assert_eq!(p.to, Some(min));
    }
}
