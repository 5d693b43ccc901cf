//! The one evaluator: whether a row matches a filter, whichever syntax the filter came from.
//!
//! Semantics (two-valued; a missing field reads as `Null`):
//! - `eq null` matches a missing or null value, `ne null` a present one; a null value is not
//!   equal to any other literal (so `ne 'x'` matches it) and is never ordered (`gt`, `between`
//!   are false).
//! - Numbers compare numerically, strings by their bytes (case-sensitive; for UTF-8 that is
//!   code point order), datetimes by instant, booleans only for equality.
//! - Values of different types are not equal (`ne` is true) and not ordered.
//! - `in` is `eq` with any of the values, `!in` is the negation (true for a null value).
//! - String predicates (`startswith`, `contains`, `has`, `=~`) are false for a value that is not
//!   a string; case-insensitive ones compare the lowercased forms (Unicode lowercase).
//! - `has` is a whole-term match: the match must start and end at the value's ends or next to a
//!   character that is not alphanumeric. An empty needle matches every string.
//! - `isempty` is true for a missing, null or empty-string value.

use std::cmp::Ordering;

use super::field::{Field, FieldType};
use super::filter::{CompareOp, Filter, TextOp, Value};

/// A row the filter is evaluated on.
pub trait Row {
    /// The field's value; a missing field is [`Value::Null`].
    fn field(&self, field: &Field) -> Value;
}

pub fn matches(filter: &Filter, row: &impl Row) -> bool {
    // Only the boolean structure recurses; leaves are in `leaf`, so each nesting level costs
    // one small frame.
    match filter {
        Filter::And(parts) => parts.iter().all(|part| matches(part, row)),
        Filter::Or(parts) => parts.iter().any(|part| matches(part, row)),
        Filter::Not(inner) => !matches(inner, row),
        leaf_filter => leaf(leaf_filter, row),
    }
}

#[inline(never)]
fn leaf(filter: &Filter, row: &impl Row) -> bool {
    match filter {
        Filter::True => true,
        Filter::And(_) | Filter::Or(_) | Filter::Not(_) => matches(filter, row),
        Filter::Compare { field, op, value } => compare(&row.field(field), *op, value),
        Filter::Text {
            field,
            op,
            value,
            case_insensitive,
        } => match row.field(field) {
            Value::Str(text) => text_matches(&text, *op, value, *case_insensitive),
            _ => false,
        },
        Filter::In {
            field,
            values,
            negated,
        } => {
            let actual = row.field(field);
            values.iter().any(|value| equal(&actual, value)) != *negated
        }
        Filter::Between {
            field,
            low,
            high,
            negated,
        } => {
            let actual = row.field(field);
            let inside =
                matches!(
                    order(&actual, low),
                    Some(Ordering::Greater | Ordering::Equal)
                ) && matches!(order(&actual, high), Some(Ordering::Less | Ordering::Equal));
            inside != *negated
        }
        Filter::IsEmpty { field, negated } => {
            let empty = match row.field(field) {
                Value::Null => true,
                Value::Str(text) => text.is_empty(),
                _ => false,
            };
            empty != *negated
        }
    }
}

/// `actual op literal`.
pub fn compare(actual: &Value, op: CompareOp, literal: &Value) -> bool {
    match op {
        CompareOp::Eq => equal(actual, literal),
        CompareOp::Ne => !equal(actual, literal),
        CompareOp::Gt => order(actual, literal) == Some(Ordering::Greater),
        CompareOp::Ge => matches!(
            order(actual, literal),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        CompareOp::Lt => order(actual, literal) == Some(Ordering::Less),
        CompareOp::Le => matches!(
            order(actual, literal),
            Some(Ordering::Less | Ordering::Equal)
        ),
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => order(a, b) == Some(Ordering::Equal),
    }
}

/// The order of two values of the same orderable type; `None` otherwise (and for NaN).
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Time(x), Value::Time(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn text_matches(text: &str, op: TextOp, needle: &str, case_insensitive: bool) -> bool {
    if case_insensitive {
        text_matches_exact(&text.to_lowercase(), op, &needle.to_lowercase())
    } else {
        text_matches_exact(text, op, needle)
    }
}

fn text_matches_exact(text: &str, op: TextOp, needle: &str) -> bool {
    match op {
        TextOp::StartsWith => text.starts_with(needle),
        TextOp::EndsWith => text.ends_with(needle),
        TextOp::Contains => text.contains(needle),
        TextOp::Equals => text == needle,
        TextOp::Has => has_term(text, needle),
    }
}

fn has_term(text: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    let mut from = 0;
    // Every occurrence is tried (not only non-overlapping ones): an occurrence that fails the
    // boundary test may overlap one that passes.
    while let Some(found) = text.get(from..).and_then(|rest| rest.find(needle)) {
        let start = from + found;
        let end = start + needle.len();
        let before = text.get(..start).and_then(|s| s.chars().next_back());
        let after = text.get(end..).and_then(|s| s.chars().next());
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if boundary(before) && boundary(after) {
            return true;
        }
        // Step one character past this occurrence's start.
        let step = text
            .get(start..)
            .and_then(|s| s.chars().next())
            .map_or(1, char::len_utf8);
        from = start + step;
    }
    false
}

/// The filter with KQL's strings: in KQL a string is never null, a missing one is `''`, so
/// `User.Email != ''` keeps only events with an email (the profile store's own example) and
/// `CountryCode == ''` matches events without a country. Each condition on a string field
/// whose answer for a missing value would differ from its answer for `''` gets the empty
/// case spelled out (`or isempty(F)` / `and isnotempty(F)`); the others, the index
/// conditions among them, are kept as they are. OData keeps its own nulls and does not use
/// this.
pub fn missing_strings_as_empty(filter: Filter) -> Filter {
    match filter {
        Filter::True | Filter::IsEmpty { .. } => filter,
        Filter::And(parts) => {
            Filter::and(parts.into_iter().map(missing_strings_as_empty).collect())
        }
        Filter::Or(parts) => Filter::or(parts.into_iter().map(missing_strings_as_empty).collect()),
        Filter::Not(inner) => Filter::Not(Box::new(missing_strings_as_empty(*inner))),
        Filter::Compare { ref field, .. }
        | Filter::Text { ref field, .. }
        | Filter::In { ref field, .. }
        | Filter::Between { ref field, .. } => {
            if field.kind() != FieldType::Str {
                return filter;
            }
            let field = field.clone();
            let on_missing = matches(&filter, &Uniform(Value::Null));
            let on_empty = matches(&filter, &Uniform(Value::Str(String::new())));
            let empty = |negated| Filter::IsEmpty {
                field: field.clone(),
                negated,
            };
            match (on_missing, on_empty) {
                (false, true) => Filter::or(vec![filter, empty(false)]),
                (true, false) => Filter::and(vec![filter, empty(true)]),
                _ => filter,
            }
        }
    }
}

/// A row whose every field holds one value.
struct Uniform(Value);

impl Row for Uniform {
    fn field(&self, _: &Field) -> Value {
        self.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;
    use std::collections::HashMap;

    struct MapRow(HashMap<Field, Value>);

    impl Row for MapRow {
        fn field(&self, field: &Field) -> Value {
            self.0.get(field).cloned().unwrap_or(Value::Null)
        }
    }

    fn row() -> MapRow {
        let mut map = HashMap::new();
        map.insert(Field::EventType, Value::Str("pageview".into()));
        map.insert(Field::Value, Value::Str("Visited the start-page.".into()));
        map.insert(Field::UserEmail, Value::Str("".into()));
        map.insert(
            Field::EventTime,
            Value::Time(Timestamp::parse_rfc3339("2026-01-02T03:04:05Z").unwrap()),
        );
        map.insert(Field::Payload("n".into()), Value::Num(5.0));
        map.insert(Field::Payload("flag".into()), Value::Bool(true));
        MapRow(map)
    }

    fn cmp(field: Field, op: CompareOp, value: Value) -> Filter {
        Filter::Compare { field, op, value }
    }

    fn text(op: TextOp, needle: &str, case_insensitive: bool) -> Filter {
        Filter::Text {
            field: Field::Value,
            op,
            value: needle.into(),
            case_insensitive,
        }
    }

    #[test]
    fn null_matches_only_missing_values_and_is_never_ordered() {
        let row = row();
        assert!(matches(
            &cmp(Field::DeviceId, CompareOp::Eq, Value::Null),
            &row
        ));
        assert!(!matches(
            &cmp(Field::EventType, CompareOp::Eq, Value::Null),
            &row
        ));
        assert!(matches(
            &cmp(Field::EventType, CompareOp::Ne, Value::Null),
            &row
        ));
        assert!(matches(
            &cmp(Field::DeviceId, CompareOp::Ne, Value::Str("x".into())),
            &row
        ));
        for op in [CompareOp::Gt, CompareOp::Ge, CompareOp::Lt, CompareOp::Le] {
            assert!(!matches(
                &cmp(Field::DeviceId, op, Value::Str("".into())),
                &row
            ));
        }
    }

    #[test]
    fn numbers_strings_and_times_are_ordered_within_their_type() {
        let row = row();
        let n = Field::Payload("n".into());
        assert!(matches(
            &cmp(n.clone(), CompareOp::Gt, Value::Num(4.5)),
            &row
        ));
        assert!(matches(
            &cmp(n.clone(), CompareOp::Le, Value::Num(5.0)),
            &row
        ));
        assert!(!matches(
            &cmp(n.clone(), CompareOp::Lt, Value::Num(5.0)),
            &row
        ));
        // Mismatched types: not equal, not ordered.
        assert!(!matches(
            &cmp(n.clone(), CompareOp::Eq, Value::Str("5".into())),
            &row
        ));
        assert!(matches(
            &cmp(n.clone(), CompareOp::Ne, Value::Str("5".into())),
            &row
        ));
        assert!(!matches(
            &cmp(n, CompareOp::Gt, Value::Str("1".into())),
            &row
        ));
        // Bytes: upper case sorts before lower case.
        assert!(matches(
            &cmp(Field::EventType, CompareOp::Gt, Value::Str("Zebra".into())),
            &row
        ));
        assert!(!matches(
            &cmp(
                Field::EventType,
                CompareOp::Eq,
                Value::Str("PageView".into())
            ),
            &row
        ));
        let t = Timestamp::parse_rfc3339("2026-01-02T05:04:05+02:00").unwrap();
        assert!(matches(
            &cmp(Field::EventTime, CompareOp::Eq, Value::Time(t)),
            &row
        ));
        let flag = Field::Payload("flag".into());
        assert!(matches(
            &cmp(flag.clone(), CompareOp::Eq, Value::Bool(true)),
            &row
        ));
        assert!(!matches(
            &cmp(flag, CompareOp::Gt, Value::Bool(false)),
            &row
        ));
    }

    #[test]
    fn string_predicates() {
        let row = row();
        assert!(matches(&text(TextOp::StartsWith, "Visited", false), &row));
        assert!(!matches(&text(TextOp::StartsWith, "visited", false), &row));
        assert!(matches(&text(TextOp::StartsWith, "visited", true), &row));
        assert!(matches(&text(TextOp::EndsWith, "page.", false), &row));
        assert!(matches(&text(TextOp::Contains, "START", true), &row));
        assert!(!matches(&text(TextOp::Contains, "START", false), &row));
        assert!(matches(&text(TextOp::Has, "start", true), &row));
        assert!(matches(&text(TextOp::Has, "PAGE", true), &row));
        assert!(matches(&text(TextOp::Has, "start-page", true), &row));
        assert!(!matches(&text(TextOp::Has, "star", true), &row));
        assert!(!matches(&text(TextOp::Has, "isited", true), &row));
        assert!(matches(
            &text(TextOp::Equals, "visited THE start-page.", true),
            &row
        ));
        // Not a string: false.
        let on_number = Filter::Text {
            field: Field::Payload("n".into()),
            op: TextOp::Contains,
            value: "5".into(),
            case_insensitive: false,
        };
        assert!(!matches(&on_number, &row));
    }

    #[test]
    fn has_tries_overlapping_occurrences() {
        assert!(has_term("xa a a", "a a"));
        assert!(has_term("aaa aa", "aa"));
        assert!(!has_term("aaa", "aa"));
        assert!(has_term("é a", "a"));
        assert!(!has_term("éa", "a"));
    }

    #[test]
    fn in_between_and_isempty() {
        let row = row();
        let inn = |values: Vec<&str>, negated| Filter::In {
            field: Field::EventType,
            values: values.into_iter().map(|v| Value::Str(v.into())).collect(),
            negated,
        };
        assert!(matches(&inn(vec!["a", "pageview"], false), &row));
        assert!(!matches(&inn(vec!["a", "b"], false), &row));
        assert!(matches(&inn(vec!["a", "b"], true), &row));
        assert!(!matches(&inn(vec!["pageview"], true), &row));
        let between = |low: f64, high: f64, negated| Filter::Between {
            field: Field::Payload("n".into()),
            low: Value::Num(low),
            high: Value::Num(high),
            negated,
        };
        assert!(matches(&between(5.0, 5.0, false), &row));
        assert!(matches(&between(1.0, 9.0, false), &row));
        assert!(!matches(&between(6.0, 9.0, false), &row));
        assert!(matches(&between(6.0, 9.0, true), &row));
        let empty = |field, negated| Filter::IsEmpty { field, negated };
        assert!(matches(&empty(Field::UserEmail, false), &row));
        assert!(matches(&empty(Field::DeviceId, false), &row));
        assert!(!matches(&empty(Field::EventType, false), &row));
        assert!(matches(&empty(Field::EventType, true), &row));
        assert!(!matches(&empty(Field::EventTime, false), &row));
    }

    #[test]
    fn boolean_structure() {
        let row = row();
        let yes = cmp(
            Field::EventType,
            CompareOp::Eq,
            Value::Str("pageview".into()),
        );
        let no = cmp(Field::EventType, CompareOp::Eq, Value::Str("x".into()));
        assert!(matches(&Filter::True, &row));
        assert!(!matches(&Filter::never(), &row));
        assert!(!matches(&Filter::And(vec![yes.clone(), no.clone()]), &row));
        assert!(matches(&Filter::Or(vec![no.clone(), yes.clone()]), &row));
        assert!(matches(&Filter::Not(Box::new(no)), &row));
        assert!(!matches(&Filter::Not(Box::new(yes)), &row));
    }

    #[test]
    fn kql_strings_read_a_missing_value_as_empty() {
        let ne_empty = cmp(Field::UserEmail, CompareOp::Ne, Value::Str("".into()));
        let eq_empty = cmp(Field::UserEmail, CompareOp::Eq, Value::Str("".into()));
        let lt_b = cmp(Field::Value, CompareOp::Lt, Value::Str("b".into()));
        let missing = MapRow(HashMap::new());
        let blank = MapRow(HashMap::from([
            (Field::UserEmail, Value::Str("".into())),
            (Field::Value, Value::Str("".into())),
        ]));
        let set = MapRow(HashMap::from([
            (Field::UserEmail, Value::Str("a@b.c".into())),
            (Field::Value, Value::Str("c".into())),
        ]));
        // OData's nulls: a missing email is not equal to ''.
        assert!(matches(&ne_empty, &missing));
        for (filter, want) in [
            (ne_empty.clone(), [false, false, true]),
            (eq_empty.clone(), [true, true, false]),
            (
                Filter::Not(Box::new(eq_empty.clone())),
                [false, false, true],
            ),
            (lt_b, [true, true, false]),
            (
                Filter::In {
                    field: Field::UserEmail,
                    values: vec![Value::Str("".into())],
                    negated: true,
                },
                [false, false, true],
            ),
        ] {
            let kql = missing_strings_as_empty(filter.clone());
            let got = [&missing, &blank, &set].map(|row| matches(&kql, row));
            assert_eq!(got, want, "{filter:?} as {kql:?}");
        }
        // Conditions that answer alike for missing and '' are kept, so the planner still sees
        // them; payload values keep their nulls.
        let name = cmp(Field::EventType, CompareOp::Eq, Value::Str("home".into()));
        assert_eq!(missing_strings_as_empty(name.clone()), name);
        let payload = cmp(
            Field::Payload("p".into()),
            CompareOp::Ne,
            Value::Str("".into()),
        );
        assert_eq!(missing_strings_as_empty(payload.clone()), payload);
    }
}
