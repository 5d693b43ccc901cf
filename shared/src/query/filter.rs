//! The one filter AST both syntaxes parse into: typed fields, typed literals, and a handful of
//! node kinds. The parsers have already checked every literal against its field's type, so the
//! evaluator and the planner never meet `EventTime eq 'soon'`.

use crate::domain::time::Timestamp;

use super::field::Field;

/// A literal in a query, or a field's value in a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Str(String),
    /// Always finite when it comes from a parser.
    Num(f64),
    Bool(bool),
    Time(Timestamp),
}

impl Value {
    /// The value's type in words, for messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "null".to_string(),
            Value::Str(_) => "a string".to_string(),
            Value::Num(n) => format!("the number {n}"),
            Value::Bool(b) => format!("{b}"),
            Value::Time(t) => format!("the datetime {t}"),
        }
    }
}

/// `eq ne gt ge lt le` in OData, `== != > >= < <=` in KQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    /// The operator with its operands swapped: `5 lt X` is `X gt 5`.
    pub fn mirrored(self) -> CompareOp {
        match self {
            CompareOp::Gt => CompareOp::Lt,
            CompareOp::Ge => CompareOp::Le,
            CompareOp::Lt => CompareOp::Gt,
            CompareOp::Le => CompareOp::Ge,
            same => same,
        }
    }
}

/// String predicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    StartsWith,
    EndsWith,
    Contains,
    /// A whole term: the match is bounded by the ends of the value or by characters that are
    /// not alphanumeric (KQL `has`).
    Has,
    /// The whole value (KQL `=~`, always case-insensitive).
    Equals,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Matches every row (an absent `$filter`, a literal `true`).
    True,
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Compare {
        field: Field,
        op: CompareOp,
        value: Value,
    },
    /// A string predicate; a value that is not a string never matches.
    Text {
        field: Field,
        op: TextOp,
        value: String,
        case_insensitive: bool,
    },
    /// `field` equals one of `values` (`negated`: none of them).
    In {
        field: Field,
        values: Vec<Value>,
        negated: bool,
    },
    /// `low <= field <= high` (`negated`: not that).
    Between {
        field: Field,
        low: Value,
        high: Value,
        negated: bool,
    },
    /// The field is missing, null or the empty string (`negated`: it is not).
    IsEmpty {
        field: Field,
        negated: bool,
    },
}

impl Filter {
    /// The conjunction of `parts`, flattened: nested `And`s are spliced in, a single part is
    /// itself, and no part is `True`'s identity (an empty list is `True`).
    pub fn and(parts: Vec<Filter>) -> Filter {
        Filter::join(parts, true)
    }

    /// The disjunction of `parts`, flattened like [`Filter::and`].
    pub fn or(parts: Vec<Filter>) -> Filter {
        Filter::join(parts, false)
    }

    fn join(parts: Vec<Filter>, conjunction: bool) -> Filter {
        let mut flat = Vec::with_capacity(parts.len());
        for part in parts {
            match (part, conjunction) {
                (Filter::And(inner), true) | (Filter::Or(inner), false) => flat.extend(inner),
                (Filter::True, true) => {}
                (other, _) => flat.push(other),
            }
        }
        match flat.len() {
            0 if conjunction => Filter::True,
            1 => flat.pop().unwrap_or(Filter::True),
            _ if conjunction => Filter::And(flat),
            _ => Filter::Or(flat),
        }
    }

    /// `false`, which neither syntax needs often enough for a node of its own.
    pub fn never() -> Filter {
        Filter::Not(Box::new(Filter::True))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(value: &str) -> Filter {
        Filter::Compare {
            field: Field::EventType,
            op: CompareOp::Eq,
            value: Value::Str(value.into()),
        }
    }

    #[test]
    fn conjunctions_flatten() {
        let nested = Filter::and(vec![eq("a"), Filter::and(vec![eq("b"), eq("c")])]);
        assert_eq!(nested, Filter::And(vec![eq("a"), eq("b"), eq("c")]));
        assert_eq!(Filter::and(vec![eq("a")]), eq("a"));
        assert_eq!(Filter::and(vec![Filter::True, eq("a")]), eq("a"));
        assert_eq!(Filter::and(vec![]), Filter::True);
        // An Or inside an And stays a unit.
        let mixed = Filter::and(vec![eq("a"), Filter::or(vec![eq("b"), eq("c")])]);
        assert_eq!(
            mixed,
            Filter::And(vec![eq("a"), Filter::Or(vec![eq("b"), eq("c")])])
        );
        assert_eq!(
            Filter::or(vec![Filter::or(vec![eq("a"), eq("b")]), eq("c")]),
            Filter::Or(vec![eq("a"), eq("b"), eq("c")])
        );
    }

    #[test]
    fn mirrored_operators_swap_sides() {
        assert_eq!(CompareOp::Lt.mirrored(), CompareOp::Gt);
        assert_eq!(CompareOp::Ge.mirrored(), CompareOp::Le);
        assert_eq!(CompareOp::Eq.mirrored(), CompareOp::Eq);
    }
}
