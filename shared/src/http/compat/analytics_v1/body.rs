//! Reading a body as FastAPI does, in its order: the JSON first (before the key is looked at:
//! a body that is not JSON is FastAPI's first answer), the model's shape after. JSON errors
//! are located and worded as Python's `json` module words them (FastAPI passes its message and
//! character position on), so a client sees the same `json_invalid` error from us as from the
//! service the analytics API describes.

use serde_json::{Map, Value, json};

use super::pydantic::Loc;
use crate::error::Error;

/// The body as JSON: `None` for an empty body (FastAPI checks that after the key), an error
/// for one that is not JSON. Like Python's reader, a UTF-8 byte order mark is skipped.
pub fn parse(bytes: &[u8]) -> Result<Option<Value>, Error> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(Error::MalformedBody(
            "There was an error parsing the body".into(),
        ));
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match serde_json::from_str::<Value>(text) {
        Ok(value) => Ok(Some(value)),
        Err(_) => {
            // serde_json refused it; ask where and why Python would have. A text Python reads
            // (NaN, Infinity) is still refused, where its first such value starts.
            let (position, why) = python_json_error(text).unwrap_or_else(|| {
                let at = text.find(['N', 'I']).unwrap_or(0);
                (text[..at].chars().count(), "Expecting value")
            });
            Err(Error::VendorValidation(vec![json!({
                "type": "json_invalid",
                "loc": ["body", position],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": why},
            })]))
        }
    }
}

/// The model's input: a JSON object, as the routes' models need.
pub fn into_model(body: Option<Value>) -> Result<Map<String, Value>, Error> {
    match body {
        Some(Value::Object(map)) => Ok(map),
        None => Err(Error::VendorValidation(vec![json!({
            "type": "missing", "loc": ["body"], "msg": "Field required", "input": null,
        })])),
        Some(other) => Err(Error::VendorValidation(vec![
            Loc::body().model_type(&other).to_json(),
        ])),
    }
}

/// Where Python's `json.loads` stops on `text` and what it says (its position counts
/// characters), or `None` if Python reads it.
fn python_json_error(text: &str) -> Option<(usize, &'static str)> {
    let chars: Vec<char> = text.chars().collect();
    let scanner = Scanner { s: &chars };
    let start = scanner.ws(0);
    let end = match scanner.value(start) {
        Ok(end) => end,
        Err(e) => return Some(e),
    };
    let end = scanner.ws(end);
    (end != chars.len()).then_some((end, "Extra data"))
}

type Scan = Result<usize, (usize, &'static str)>;

/// A reader of JSON with the structure of Python's `json.decoder` scanner: each step returns
/// the position after what it read, or where and why it stopped.
struct Scanner<'a> {
    s: &'a [char],
}

impl Scanner<'_> {
    fn at(&self, i: usize) -> Option<char> {
        self.s.get(i).copied()
    }

    fn ws(&self, mut i: usize) -> usize {
        while matches!(self.at(i), Some(' ' | '\t' | '\n' | '\r')) {
            i += 1;
        }
        i
    }

    fn literal(&self, i: usize, word: &str) -> bool {
        word.chars()
            .enumerate()
            .all(|(k, c)| self.at(i + k) == Some(c))
    }

    fn value(&self, i: usize) -> Scan {
        match self.at(i) {
            Some('"') => self.string(i + 1),
            Some('{') => self.object(i + 1),
            Some('[') => self.array(i + 1),
            _ => {
                for word in ["null", "true", "false", "NaN", "Infinity", "-Infinity"] {
                    if self.literal(i, word) {
                        return Ok(i + word.chars().count());
                    }
                }
                self.number(i).ok_or((i, "Expecting value"))
            }
        }
    }

    /// `-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?`, as Python's number pattern.
    fn number(&self, i: usize) -> Option<usize> {
        let digits = |mut j: usize| {
            let from = j;
            while self.at(j).is_some_and(|c| c.is_ascii_digit()) {
                j += 1;
            }
            (j > from).then_some(j)
        };
        let mut j = if self.at(i) == Some('-') { i + 1 } else { i };
        j = match self.at(j) {
            Some('0') => j + 1,
            Some('1'..='9') => digits(j)?,
            _ => return None,
        };
        if self.at(j) == Some('.')
            && let Some(after) = digits(j + 1)
        {
            j = after;
        }
        if matches!(self.at(j), Some('e' | 'E')) {
            let sign = if matches!(self.at(j + 1), Some('+' | '-')) {
                j + 2
            } else {
                j + 1
            };
            if let Some(after) = digits(sign) {
                j = after;
            }
        }
        Some(j)
    }

    /// A string's contents from `begin` (just after its opening quote).
    fn string(&self, begin: usize) -> Scan {
        let mut i = begin;
        loop {
            match self.at(i) {
                None => return Err((begin - 1, "Unterminated string starting at")),
                Some('"') => return Ok(i + 1),
                Some(c) if (c as u32) < 0x20 => return Err((i, "Invalid control character at")),
                Some('\\') => match self.at(i + 1) {
                    None => return Err((begin - 1, "Unterminated string starting at")),
                    Some('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') => i += 2,
                    Some('u') => {
                        let hex = (i + 2..i + 6)
                            .all(|k| self.at(k).is_some_and(|c| c.is_ascii_hexdigit()));
                        if !hex {
                            return Err((i + 1, "Invalid \\uXXXX escape"));
                        }
                        i += 6;
                    }
                    Some(_) => return Err((i, "Invalid \\escape")),
                },
                Some(_) => i += 1,
            }
        }
    }

    /// An object's members from `i` (just after `{`).
    fn object(&self, i: usize) -> Scan {
        let mut i = self.ws(i);
        if self.at(i) == Some('}') {
            return Ok(i + 1);
        }
        loop {
            if self.at(i) != Some('"') {
                return Err((i, "Expecting property name enclosed in double quotes"));
            }
            i = self.ws(self.string(i + 1)?);
            if self.at(i) != Some(':') {
                return Err((i, "Expecting ':' delimiter"));
            }
            i = self.ws(self.value(self.ws(i + 1))?);
            match self.at(i) {
                Some('}') => return Ok(i + 1),
                Some(',') => i = self.ws(i + 1),
                _ => return Err((i, "Expecting ',' delimiter")),
            }
        }
    }

    /// An array's items from `i` (just after `[`).
    fn array(&self, i: usize) -> Scan {
        let mut i = self.ws(i);
        if self.at(i) == Some(']') {
            return Ok(i + 1);
        }
        loop {
            i = self.ws(self.value(i)?);
            match self.at(i) {
                Some(']') => return Ok(i + 1),
                Some(',') => i = self.ws(i + 1),
                _ => return Err((i, "Expecting ',' delimiter")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::python_json_error;

    #[test]
    fn errors_are_where_and_what_python_says() {
        // From Python 3.11's `json.loads`, through FastAPI (tests/reference/).
        for (text, at, why) in [
            (r#"{"event_name":"#, 14, "Expecting value"),
            (
                r#"{"event_name":"ééé","#,
                20,
                "Expecting property name enclosed in double quotes",
            ),
            ("{", 1, "Expecting property name enclosed in double quotes"),
            (r#"{"a" 1}"#, 5, "Expecting ':' delimiter"),
            (r#"{"a":1"#, 6, "Expecting ',' delimiter"),
            (r#"{"a":01}"#, 6, "Expecting ',' delimiter"),
            ("[1,]", 3, "Expecting value"),
            (r#""abc"#, 0, "Unterminated string starting at"),
            (r#""\x""#, 1, "Invalid \\escape"),
            (r#""\u12""#, 2, "Invalid \\uXXXX escape"),
            ("\"a\nb\"", 2, "Invalid control character at"),
            ("1 2", 2, "Extra data"),
            (r#"{"event_name":"x"} x"#, 19, "Extra data"),
            ("   ", 3, "Expecting value"),
        ] {
            assert_eq!(python_json_error(text), Some((at, why)), "{text}");
        }
        assert_eq!(
            python_json_error(r#"{"a": [1, -2.5e3, "\u00e9", null]}"#),
            None
        );
    }
}
