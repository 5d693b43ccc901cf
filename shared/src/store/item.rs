//! The storage-neutral item: a map of attribute names to typed values, the same shape a
//! DynamoDB item has, so both engines store exactly the same thing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One stored attribute value. Mirrors the DynamoDB types the project uses: numbers keep their
/// decimal text so that `129.99` round-trips exactly through either engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Attr {
    S(String),
    N(String),
    Bool(bool),
    Null,
    L(Vec<Attr>),
    M(BTreeMap<String, Attr>),
}

/// A stored item: attribute name to value, including the key attributes.
pub type Item = BTreeMap<String, Attr>;

impl Attr {
    pub fn s(value: impl Into<String>) -> Self {
        Attr::S(value.into())
    }

    pub fn n(value: i64) -> Self {
        Attr::N(value.to_string())
    }

    pub fn as_s(&self) -> Option<&str> {
        match self {
            Attr::S(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Attr::N(n) => n.parse().ok(),
            _ => None,
        }
    }

    pub fn as_m(&self) -> Option<&BTreeMap<String, Attr>> {
        match self {
            Attr::M(m) => Some(m),
            _ => None,
        }
    }

    /// Converts a JSON value. Numbers keep serde_json's shortest exact text (see
    /// [`number_text`]).
    pub fn from_json(value: &serde_json::Value) -> Self {
        use serde_json::Value as J;
        match value {
            J::Null => Attr::Null,
            J::Bool(b) => Attr::Bool(*b),
            J::Number(n) => Attr::N(number_text(n)),
            J::String(s) => Attr::S(s.clone()),
            J::Array(items) => Attr::L(items.iter().map(Attr::from_json).collect()),
            J::Object(map) => Attr::from_json_map(map),
        }
    }

    /// Converts a JSON object without first wrapping (and so copying) it in a `Value`.
    pub fn from_json_map(map: &serde_json::Map<String, serde_json::Value>) -> Self {
        Attr::M(
            map.iter()
                .map(|(k, v)| (k.clone(), Attr::from_json(v)))
                .collect(),
        )
    }

    /// Converts back to JSON. A number that does not parse (it never should: only
    /// `from_json` and the engines produce them) degrades to its text rather than failing a read.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Attr::S(s) => J::String(s.clone()),
            Attr::N(n) => parse_number(n).unwrap_or_else(|| J::String(n.clone())),
            Attr::Bool(b) => J::Bool(*b),
            Attr::Null => J::Null,
            Attr::L(items) => J::Array(items.iter().map(Attr::to_json).collect()),
            Attr::M(map) => J::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }
}

/// A number as stored: the shortest text that reads back as the same number. A whole float
/// that fits a 64-bit integer is written as that integer (`1.0` as `1`, `1e19` as
/// `10000000000000000000`): DynamoDB keeps a number's value, not its spelling, and answers
/// those as integers, so the embedded engine must store them the same way to answer alike.
pub fn number_text(n: &serde_json::Number) -> String {
    if let Some(f) = n.as_f64().filter(|_| n.is_f64())
        && f.fract() == 0.0
    {
        // 2^64 and -2^63 are exact as f64, so these comparisons are exact too.
        if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
            return (f as u64).to_string();
        }
        if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
            return (f as i64).to_string();
        }
    }
    n.to_string()
}

pub fn parse_number(text: &str) -> Option<serde_json::Value> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(i.into());
    }
    if let Ok(u) = text.parse::<u64>() {
        return Some(u.into());
    }
    let f = text.parse::<f64>().ok()?;
    serde_json::Number::from_f64(f).map(serde_json::Value::Number)
}

/// DynamoDB's largest item, names and values included.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// An item's size as DynamoDB counts it: attribute names plus values, strings in UTF-8 bytes,
/// numbers about one byte per two digits, three bytes of overhead per list or map and one per
/// element. The embedded engine enforces the same limit with it, so an item one engine takes
/// the other takes too.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + attr_size(v)).sum()
}

fn attr_size(attr: &Attr) -> usize {
    match attr {
        Attr::S(s) => s.len(),
        Attr::N(n) => n.len().div_ceil(2) + 1,
        Attr::Bool(_) | Attr::Null => 1,
        Attr::L(items) => 3 + items.iter().map(|v| 1 + attr_size(v)).sum::<usize>(),
        Attr::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + attr_size(v))
                .sum::<usize>()
        }
    }
}

/// The size [`attr_size`] gives the attribute [`Attr::from_json`] makes of `value`, without
/// making it: what an event's size check reads from the request.
pub fn json_size(value: &serde_json::Value) -> usize {
    use serde_json::Value as J;
    match value {
        J::String(s) => s.len(),
        J::Number(n) => number_text(n).len().div_ceil(2) + 1,
        J::Bool(_) | J::Null => 1,
        J::Array(items) => 3 + items.iter().map(|v| 1 + json_size(v)).sum::<usize>(),
        J::Object(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + json_size(v))
                .sum::<usize>()
        }
    }
}

/// Reads a string attribute, if present and a string.
pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(Attr::as_s)
}

/// Reads an integer attribute, if present and a whole number.
pub fn get_i64(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(Attr::as_i64)
}

/// Reads any attribute as JSON, `null` when absent.
pub fn get_json(item: &Item, name: &str) -> serde_json::Value {
    item.get(name)
        .map(Attr::to_json)
        .unwrap_or(serde_json::Value::Null)
}

impl From<&str> for Attr {
    fn from(value: &str) -> Self {
        Attr::S(value.to_owned())
    }
}

impl From<String> for Attr {
    fn from(value: String) -> Self {
        Attr::S(value)
    }
}

impl From<bool> for Attr {
    fn from(value: bool) -> Self {
        Attr::Bool(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_size_is_the_size_of_the_attribute_it_makes() {
        let value = json!({"s": "héllo", "n": 129.99, "big": 123456789012345678u64, "b": true,
            "z": null, "l": [1, "two", [3], {}], "m": {"k": {"deep": -1e-130}}});
        assert_eq!(json_size(&value), attr_size(&Attr::from_json(&value)));
    }

    #[test]
    fn json_round_trips_exactly() {
        let value = json!({"cart_value": 129.99, "n": 3, "neg": -7, "big": 18446744073709551615u64,
            "flags": {"beta": true}, "list": [1, "a", null], "empty": {}});
        assert_eq!(Attr::from_json(&value).to_json(), value);
    }
}
