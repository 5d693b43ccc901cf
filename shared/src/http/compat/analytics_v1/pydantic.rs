//! Validation errors as FastAPI writes pydantic v2's: `{"type", "loc", "msg", "input", "ctx"}`,
//! with the messages pydantic uses, so clients that read the analytics API's 422s read ours.

use serde_json::{Map, Value, json};

/// One pydantic error. `loc` starts with `"body"`, as FastAPI's do.
#[derive(Debug, Clone, PartialEq)]
pub struct PydanticError {
    pub kind: &'static str,
    pub loc: Vec<Value>,
    pub msg: String,
    pub input: Value,
    pub ctx: Option<Value>,
}

impl PydanticError {
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("type".into(), json!(self.kind));
        out.insert("loc".into(), Value::Array(self.loc.clone()));
        out.insert("msg".into(), json!(self.msg));
        out.insert("input".into(), self.input.clone());
        if let Some(ctx) = &self.ctx {
            out.insert("ctx".into(), ctx.clone());
        }
        Value::Object(out)
    }
}

/// Where in the body a value is: `["body", "events", 3, "event_name"]`.
#[derive(Debug, Clone)]
pub struct Loc(Vec<Value>);

impl Loc {
    pub fn body() -> Self {
        Loc(vec![json!("body")])
    }

    pub fn field(&self, name: &str) -> Self {
        let mut loc = self.0.clone();
        loc.push(json!(name));
        Loc(loc)
    }

    pub fn index(&self, at: usize) -> Self {
        let mut loc = self.0.clone();
        loc.push(json!(at));
        Loc(loc)
    }

    fn error(
        &self,
        kind: &'static str,
        msg: impl Into<String>,
        input: &Value,
        ctx: Option<Value>,
    ) -> PydanticError {
        PydanticError {
            kind,
            loc: self.0.clone(),
            msg: msg.into(),
            input: input.clone(),
            ctx,
        }
    }

    /// A required field is absent; pydantic echoes the object it is missing from.
    pub fn missing(&self, parent: &Value) -> PydanticError {
        self.error("missing", "Field required", parent, None)
    }

    pub fn string_type(&self, input: &Value) -> PydanticError {
        self.error("string_type", "Input should be a valid string", input, None)
    }

    pub fn string_too_short(&self, input: &Value, min: usize) -> PydanticError {
        let unit = if min == 1 { "character" } else { "characters" };
        self.error(
            "string_too_short",
            format!("String should have at least {min} {unit}"),
            input,
            Some(json!({"min_length": min})),
        )
    }

    pub fn string_too_long(&self, input: &Value, max: usize) -> PydanticError {
        let unit = if max == 1 { "character" } else { "characters" };
        self.error(
            "string_too_long",
            format!("String should have at most {max} {unit}"),
            input,
            Some(json!({"max_length": max})),
        )
    }

    /// Not one of an enumeration's values; `expected` is pydantic's list (`'a', 'b' or 'c'`).
    pub fn enumeration(&self, input: &Value, expected: &str) -> PydanticError {
        self.error(
            "enum",
            format!("Input should be {expected}"),
            input,
            Some(json!({"expected": expected})),
        )
    }

    pub fn dict_type(&self, input: &Value) -> PydanticError {
        self.error(
            "dict_type",
            "Input should be a valid dictionary",
            input,
            None,
        )
    }

    /// A model's input that is not an object (a batch item, the body).
    pub fn model_type(&self, input: &Value) -> PydanticError {
        self.error(
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
            input,
            None,
        )
    }

    pub fn list_type(&self, input: &Value) -> PydanticError {
        self.error("list_type", "Input should be a valid list", input, None)
    }

    pub fn too_short(&self, input: &Value, min: usize, actual: usize) -> PydanticError {
        let unit = if min == 1 { "item" } else { "items" };
        self.error(
            "too_short",
            format!("List should have at least {min} {unit} after validation, not {actual}"),
            input,
            Some(json!({"field_type": "List", "min_length": min, "actual_length": actual})),
        )
    }

    pub fn too_long(&self, input: &Value, max: usize, actual: usize) -> PydanticError {
        let unit = if max == 1 { "item" } else { "items" };
        self.error(
            "too_long",
            format!("List should have at most {max} {unit} after validation, not {actual}"),
            input,
            Some(json!({"field_type": "List", "max_length": max, "actual_length": actual})),
        )
    }

    pub fn datetime_parsing(&self, input: &Value, why: &str) -> PydanticError {
        self.error(
            "datetime_parsing",
            format!("Input should be a valid datetime, {why}"),
            input,
            Some(json!({"error": why})),
        )
    }

    /// A string that is neither a date-time nor a date.
    pub fn datetime_from_date_parsing(&self, input: &Value, why: &str) -> PydanticError {
        self.error(
            "datetime_from_date_parsing",
            format!("Input should be a valid datetime or date, {why}"),
            input,
            Some(json!({"error": why})),
        )
    }

    pub fn datetime_type(&self, input: &Value) -> PydanticError {
        self.error(
            "datetime_type",
            "Input should be a valid datetime",
            input,
            None,
        )
    }

    /// One of our own rules (attribute limits, the timestamp window), written as a pydantic
    /// validator's error would be.
    pub fn value_error(&self, input: &Value, why: &str) -> PydanticError {
        self.error(
            "value_error",
            format!("Value error, {why}"),
            input,
            Some(json!({"error": why})),
        )
    }
}
