//! What can go wrong reading a query: a typed error that names the request parameter it came
//! from (so the HTTP layer can put it in a 400's details) and the character position where it
//! was found.

use std::fmt;

/// The longest query text either parser reads, in bytes. Longer input is refused before any
/// work is done on it.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// How deeply parentheses, `not` and nested function calls may nest. Each level is one
/// recursive call in the parser (and in the evaluator), so this bounds the stack.
pub const MAX_DEPTH: usize = 256;

/// The request parameter a query error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parameter {
    /// OData `$filter`.
    Filter,
    /// OData `$orderby`.
    OrderBy,
    /// OData `$top`.
    Top,
    /// OData `$skip`.
    Skip,
    /// The KQL preview body's `Query`.
    Query,
}

impl Parameter {
    /// The parameter's name as the client sent it.
    pub fn as_str(self) -> &'static str {
        match self {
            Parameter::Filter => "$filter",
            Parameter::OrderBy => "$orderby",
            Parameter::Top => "$top",
            Parameter::Skip => "$skip",
            Parameter::Query => "Query",
        }
    }
}

impl fmt::Display for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was wrong. Quoted input in messages is the offending token as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("input is longer than {MAX_INPUT_BYTES} bytes")]
    TooLong,
    #[error("nesting is deeper than {MAX_DEPTH} levels")]
    DepthExceeded,
    #[error("unknown field '{0}'")]
    UnknownField(String),
    #[error("unknown operator '{0}'")]
    UnknownOperator(String),
    #[error("unknown function '{0}'")]
    UnknownFunction(String),
    #[error("unterminated string")]
    UnterminatedString,
    #[error("unexpected {found}, expected {expected}")]
    UnexpectedToken { found: String, expected: String },
    #[error("unexpected {0} after the end of the query")]
    TrailingInput(String),
    #[error("invalid datetime '{0}'")]
    BadDateTime(String),
    #[error("invalid number '{0}'")]
    BadNumber(String),
    /// A literal of the wrong type for its field or operator (`EventTime gt 'soon'`).
    #[error("{0}")]
    TypeMismatch(String),
    /// A well-formed value the parameter does not allow (`$top=-1`, `$orderby=Value`).
    #[error("{0}")]
    Invalid(String),
}

/// A query the parsers refused: which parameter, where (a 0-based offset in characters, not
/// bytes; `None` for whole-value problems such as the `$skip + $top` window) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub parameter: Parameter,
    pub position: Option<usize>,
    pub kind: ErrorKind,
}

impl QueryError {
    pub fn at(parameter: Parameter, position: usize, kind: ErrorKind) -> Self {
        QueryError {
            parameter,
            position: Some(position),
            kind,
        }
    }

    pub fn whole(parameter: Parameter, kind: ErrorKind) -> Self {
        QueryError {
            parameter,
            position: None,
            kind,
        }
    }
}

/// `at position 17: unknown field 'Foo'`; the parameter is not repeated (the HTTP layer puts it
/// beside the message).
impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(position) => write!(f, "at position {position}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for QueryError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_the_position_then_the_problem() {
        let err = QueryError::at(Parameter::Filter, 17, ErrorKind::UnknownField("Foo".into()));
        assert_eq!(err.to_string(), "at position 17: unknown field 'Foo'");
        assert_eq!(err.parameter.as_str(), "$filter");
        let err = QueryError::whole(Parameter::Top, ErrorKind::Invalid("too big".into()));
        assert_eq!(err.to_string(), "too big");
    }
}
