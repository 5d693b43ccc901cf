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
        Err(e) => {
            // serde_json refused it: say where and why Python would have, or, for what Python
            // reads and we do not, where and why we refuse it.
            let (position, why) = python_json_error(text)
                .unwrap_or_else(|| (char_position(text, &e), "Invalid JSON"));
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

/// The character position of a serde_json error (which counts lines and bytes).
fn char_position(text: &str, e: &serde_json::Error) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum();
    let byte = (line_start + e.column().saturating_sub(1)).min(text.len());
    let mut at = byte;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text[..at].chars().count()
}

/// How deep arrays and objects may nest: serde_json's limit (127 levels), which keeps a hostile body from
/// exhausting the stack.
const MAX_DEPTH: usize = 127;

/// Where Python's `json.loads` stops on `text` and what it says (its position counts
/// characters), or `None` if Python reads it. Four things Python reads are refused, each where
/// it starts and in words of ours: NaN and the infinities (not JSON), numbers too large for a
/// double (Python makes them infinite), unpaired UTF-16 surrogates (not text), and nesting
/// deeper than [`MAX_DEPTH`].
fn python_json_error(text: &str) -> Option<(usize, &'static str)> {
    let chars: Vec<char> = text.chars().collect();
    let scanner = Scanner { s: &chars };
    let start = scanner.ws(0);
    let end = match scanner.value(start, 0) {
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

    fn value(&self, i: usize, depth: usize) -> Scan {
        const NOT_JSON: &str = "Out of range float values are not JSON compliant";
        match self.at(i) {
            Some('{' | '[') if depth == MAX_DEPTH => Err((i, "Nesting too deep")),
            Some('"') => self.string(i + 1),
            Some('{') => self.object(i + 1, depth + 1),
            Some('[') => self.array(i + 1, depth + 1),
            _ => {
                for word in ["null", "true", "false"] {
                    if self.literal(i, word) {
                        return Ok(i + word.len());
                    }
                }
                if ["NaN", "Infinity", "-Infinity"]
                    .iter()
                    .any(|word| self.literal(i, word))
                {
                    return Err((i, NOT_JSON));
                }
                let end = self.number(i).ok_or((i, "Expecting value"))?;
                let literal: String = self.s[i..end].iter().collect();
                if literal.parse::<f64>().is_ok_and(f64::is_infinite) {
                    return Err((i, NOT_JSON));
                }
                Ok(end)
            }
        }
    }

    /// The four hex digits at `i`, as a number.
    fn hex4(&self, i: usize) -> Option<u32> {
        (i..i + 4).try_fold(0, |n, k| Some(n * 16 + self.at(k)?.to_digit(16)?))
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
                        let Some(unit) = self.hex4(i + 2) else {
                            return Err((i + 1, "Invalid \\uXXXX escape"));
                        };
                        // A high surrogate must be followed by an escaped low one.
                        let escaped = self.at(i + 6) == Some('\\') && self.at(i + 7) == Some('u');
                        let low = escaped.then(|| self.hex4(i + 8)).flatten();
                        match unit {
                            0xD800..=0xDBFF
                                if low.is_some_and(|l| (0xDC00..=0xDFFF).contains(&l)) =>
                            {
                                i += 12;
                            }
                            0xD800..=0xDFFF => return Err((i, "Unpaired surrogate")),
                            _ => i += 6,
                        }
                    }
                    Some(_) => return Err((i, "Invalid \\escape")),
                },
                Some(_) => i += 1,
            }
        }
    }

    /// An object's members from `i` (just after `{`).
    fn object(&self, i: usize, depth: usize) -> Scan {
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
            i = self.ws(self.value(self.ws(i + 1), depth)?);
            match self.at(i) {
                Some('}') => return Ok(i + 1),
                Some(',') => i = self.ws(i + 1),
                _ => return Err((i, "Expecting ',' delimiter")),
            }
        }
    }

    /// An array's items from `i` (just after `[`).
    fn array(&self, i: usize, depth: usize) -> Scan {
        let mut i = self.ws(i);
        if self.at(i) == Some(']') {
            return Ok(i + 1);
        }
        loop {
            i = self.ws(self.value(i, depth)?);
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
            python_json_error(r#"{"a": [1, -2.5e3, "\u00e9", "\ud83d\ude00", null]}"#),
            None
        );
        // What Python reads and we refuse, where it starts.
        let not_json = "Out of range float values are not JSON compliant";
        for (text, at, why) in [
            (r#"{"v":-Infinity}"#, 5, not_json),
            (r#"{"n":"Nina","t":NaN}"#, 16, not_json),
            (r#"{"v":1e400}"#, 5, not_json),
            (r#"{"v":"\ud800"}"#, 6, "Unpaired surrogate"),
            (r#"{"v":"\udc00\ud800"}"#, 6, "Unpaired surrogate"),
        ] {
            assert_eq!(python_json_error(text), Some((at, why)), "{text}");
        }
        let deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert_eq!(python_json_error(&deep), Some((127, "Nesting too deep")));
        let fine = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert_eq!(python_json_error(&fine), None);
        assert!(serde_json::from_str::<serde_json::Value>(&fine).is_ok());
    }
}
