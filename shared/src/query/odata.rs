//! OData: `$filter` (a recursive-descent parser into [`Filter`]), `$orderby`, `$top` and
//! `$skip`, as the Profile Store's `GET api/v2.0/TrackEvents` takes them.
//!
//! `$filter` grammar, loosest first (`not` binds tighter than a comparison, as in OData, so
//! `not EventType eq 'x'` is an error; write `not (EventType eq 'x')`):
//!
//! ```text
//! or      := and ("or" and)*
//! and     := cmp ("and" cmp)*
//! cmp     := unary [("eq"|"ne"|"gt"|"ge"|"lt"|"le") unary | "in" "(" literal ("," literal)* ")"]
//! unary   := "not" unary | primary
//! primary := "(" or ")" | func "(" Field "," 'text' ")" | Field | literal
//! ```
//!
//! Keywords, operators and functions are lowercase, as OData writes them. A comparison needs a
//! field on one side and a literal on the other (either order). Literals: `'text'` (`''` is a
//! quote), numbers (`5`, `-1.5`, `1e3`), `true`, `false`, `null`, date-times bare or quoted
//! (`2026-01-02T03:04:05Z`, `2026-01-02` for midnight UTC, `datetime'…'` as OData v3 wrote
//! them). `startswith`, `endswith` and `contains` are case-sensitive and may be compared with
//! `true`/`false`. A `Payload` attribute on its own is `eq true`.

use crate::domain::time::Timestamp;

use super::datetime;
use super::error::{ErrorKind, Parameter, QueryError};
use super::field::{Field, FieldType};
use super::filter::{CompareOp, Filter, TextOp, Value};
use super::scan::{Depth, Scanner, is_ident_start, quoted};

/// The default and the limits of the result window.
pub const DEFAULT_TOP: u32 = 100;
/// `$skip + $top` must be below this.
pub const MAX_WINDOW: u64 = 10_000;

/// A parsed `GET TrackEvents` query.
#[derive(Debug, Clone, PartialEq)]
pub struct ODataQuery {
    pub filter: Filter,
    /// `$orderby=EventTime desc` (the default) or `asc`.
    pub descending: bool,
    pub top: u32,
    pub skip: u32,
}

/// Reads the four OData parameters as the client sent them (already URL-decoded); `None` is an
/// absent parameter. An absent or blank `$filter` matches every event.
pub fn parse_odata_query(
    filter: Option<&str>,
    orderby: Option<&str>,
    top: Option<&str>,
    skip: Option<&str>,
) -> Result<ODataQuery, QueryError> {
    let filter = match filter {
        Some(text) if !text.trim().is_empty() => parse_filter(text)?,
        _ => Filter::True,
    };
    let descending = match orderby {
        Some(text) => parse_orderby(text)?,
        None => true,
    };
    let top_value = match top {
        Some(text) => parse_count(text, Parameter::Top)?,
        None => u64::from(DEFAULT_TOP),
    };
    let skip_value = match skip {
        Some(text) => parse_count(text, Parameter::Skip)?,
        None => 0,
    };
    if top_value.saturating_add(skip_value) >= MAX_WINDOW {
        let parameter = if top.is_some() {
            Parameter::Top
        } else {
            Parameter::Skip
        };
        return Err(QueryError::whole(
            parameter,
            ErrorKind::Invalid(format!(
                "$skip + $top must be below {MAX_WINDOW} (got {skip_value} + {top_value})"
            )),
        ));
    }
    // Both are below MAX_WINDOW here, so they fit.
    Ok(ODataQuery {
        filter,
        descending,
        top: u32::try_from(top_value).unwrap_or(u32::MAX),
        skip: u32::try_from(skip_value).unwrap_or(u32::MAX),
    })
}

/// A non-negative integer. Digits beyond `u64` saturate: such a value fails the window check.
fn parse_count(text: &str, parameter: Parameter) -> Result<u64, QueryError> {
    let not_integer = |position| {
        QueryError::at(
            parameter,
            position,
            ErrorKind::Invalid(format!("{parameter} must be a non-negative integer")),
        )
    };
    if text.is_empty() {
        return Err(not_integer(0));
    }
    let mut value: u64 = 0;
    for (position, c) in text.chars().enumerate() {
        let digit = c.to_digit(10).ok_or_else(|| not_integer(position))?;
        value = value.saturating_mul(10).saturating_add(u64::from(digit));
    }
    Ok(value)
}

/// `EventTime`, `EventTime asc` or `EventTime desc`; returns whether the order is descending.
/// A blank `$orderby` is the default, descending.
pub fn parse_orderby(text: &str) -> Result<bool, QueryError> {
    let mut scan = Scanner::new(text, Parameter::OrderBy)?;
    let err = |position, kind| QueryError::at(Parameter::OrderBy, position, kind);
    scan.skip_whitespace();
    if scan.peek().is_none() {
        return Ok(true);
    }
    let start = scan.pos();
    let name = if scan.peek().is_some_and(is_ident_start) {
        scan.name()
    } else {
        String::new()
    };
    match Field::parse(&name) {
        Some(Field::EventTime) => {}
        Some(field) => {
            return Err(err(
                start,
                ErrorKind::Invalid(format!(
                    "events can only be ordered by EventTime, not {field}"
                )),
            ));
        }
        None if name.is_empty() => {
            return Err(err(
                start,
                ErrorKind::UnexpectedToken {
                    found: describe_char(scan.peek()),
                    expected: "EventTime".into(),
                },
            ));
        }
        None => return Err(err(start, ErrorKind::UnknownField(name))),
    }
    scan.skip_whitespace();
    let at = scan.pos();
    let direction = scan.take_while(|c| !c.is_whitespace());
    let descending = match direction.as_str() {
        "" | "desc" => true,
        "asc" => false,
        other => {
            return Err(err(
                at,
                ErrorKind::UnexpectedToken {
                    found: quoted(other),
                    expected: "'asc' or 'desc'".into(),
                },
            ));
        }
    };
    scan.skip_whitespace();
    if let Some(c) = scan.peek() {
        let at = scan.pos();
        return Err(err(at, ErrorKind::TrailingInput(quoted(&c.to_string()))));
    }
    Ok(descending)
}

fn describe_char(c: Option<char>) -> String {
    match c {
        Some(c) => quoted(&c.to_string()),
        None => "end of input".into(),
    }
}

/// Parses a `$filter` expression.
pub fn parse_filter(text: &str) -> Result<Filter, QueryError> {
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: Depth::new(Parameter::Filter),
    };
    let filter = parser.or()?;
    match parser.peek() {
        Tok::End => Ok(filter),
        other => Err(parser.error(ErrorKind::TrailingInput(other.describe()))),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    Time(Timestamp),
    LParen,
    RParen,
    Comma,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Word(word) => quoted(word),
            Tok::Str(text) => format!("string {}", quoted(text)),
            Tok::Num(n) => format!("number {n}"),
            Tok::Time(t) => format!("datetime {t}"),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::End => "end of input".into(),
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self, Tok::Word(w) if w == word)
    }
}

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, QueryError> {
    let mut scan = Scanner::new(text, Parameter::Filter)?;
    let err = |position, kind| QueryError::at(Parameter::Filter, position, kind);
    let mut tokens = Vec::new();
    loop {
        scan.skip_whitespace();
        let start = scan.pos();
        let Some(c) = scan.peek() else {
            tokens.push((Tok::End, start));
            return Ok(tokens);
        };
        let tok = match c {
            '(' | ')' | ',' => {
                scan.bump();
                match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    _ => Tok::Comma,
                }
            }
            '\'' => Tok::Str(string(&mut scan)?),
            c if c.is_ascii_digit()
                || (c == '-' && scan.peek_at(1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let run = scan.take_while(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '+' | '-')
                });
                literal_run(&run).map_err(|kind| err(start, kind))?
            }
            c if is_ident_start(c) => {
                let name = scan.name();
                if (name == "datetime" || name == "datetimeoffset") && scan.peek() == Some('\'') {
                    let at = scan.pos();
                    let text = string(&mut scan)?;
                    let time = datetime::parse(&text)
                        .ok_or_else(|| err(at, ErrorKind::BadDateTime(text)))?;
                    Tok::Time(time)
                } else {
                    Tok::Word(name)
                }
            }
            c if "=<>!&|~".contains(c) => {
                let run = scan.take_while(|c| "=<>!&|~".contains(c));
                return Err(err(start, ErrorKind::UnknownOperator(run)));
            }
            other => {
                return Err(err(
                    start,
                    ErrorKind::UnexpectedToken {
                        found: format!("character {}", quoted(&other.to_string())),
                        expected: "a field, a literal, an operator or a parenthesis".into(),
                    },
                ));
            }
        };
        tokens.push((tok, start));
    }
}

/// A quoted string; `''` is one quote. The scanner is on the opening quote.
fn string(scan: &mut Scanner) -> Result<String, QueryError> {
    let start = scan.pos();
    scan.bump();
    let mut out = String::new();
    loop {
        match scan.bump() {
            None => {
                return Err(QueryError::at(
                    Parameter::Filter,
                    start,
                    ErrorKind::UnterminatedString,
                ));
            }
            Some('\'') if scan.peek() == Some('\'') => {
                scan.bump();
                out.push('\'');
            }
            Some('\'') => return Ok(out),
            Some(c) => out.push(c),
        }
    }
}

/// A bare literal starting with a digit or `-`: a date or date-time if it starts like one,
/// else a number.
fn literal_run(run: &str) -> Result<Tok, ErrorKind> {
    let date_like = run.len() >= 10
        && run.char_indices().take(10).all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if date_like {
        return datetime::parse(run)
            .map(Tok::Time)
            .ok_or_else(|| ErrorKind::BadDateTime(run.to_string()));
    }
    match run.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(Tok::Num(n)),
        _ => Err(ErrorKind::BadNumber(run.to_string())),
    }
}

/// One side of a comparison, before it is known whether it is one.
enum Operand {
    Field(Field),
    Literal(Value),
    Condition(Filter),
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    next: usize,
    depth: Depth,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.next).map_or(&Tok::End, |(tok, _)| tok)
    }

    fn pos(&self) -> usize {
        self.tokens
            .get(self.next)
            .or(self.tokens.last())
            .map_or(0, |(_, pos)| *pos)
    }

    fn bump(&mut self) -> (Tok, usize) {
        let pos = self.pos();
        match self.tokens.get(self.next) {
            Some(token) => {
                self.next += 1;
                token.clone()
            }
            None => (Tok::End, pos),
        }
    }

    fn error(&self, kind: ErrorKind) -> QueryError {
        QueryError::at(Parameter::Filter, self.pos(), kind)
    }

    fn unexpected(&self, expected: &str) -> QueryError {
        self.error(ErrorKind::UnexpectedToken {
            found: self.peek().describe(),
            expected: expected.into(),
        })
    }

    fn expect(&mut self, tok: Tok, expected: &str) -> Result<(), QueryError> {
        if *self.peek() == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn or(&mut self) -> Result<Filter, QueryError> {
        let mut parts = vec![self.and()?];
        while self.peek().is_word("or") {
            self.bump();
            parts.push(self.and()?);
        }
        Ok(Filter::or(parts))
    }

    fn and(&mut self) -> Result<Filter, QueryError> {
        let mut parts = vec![self.comparison()?];
        while self.peek().is_word("and") {
            self.bump();
            parts.push(self.comparison()?);
        }
        Ok(Filter::and(parts))
    }

    // `or`, `and`, `comparison`, `unary` and `primary` are the recursive path (one round per
    // nesting level), so they stay small: everything else is in helpers that return before
    // the parser descends again, which keeps the stack per level small even in debug builds.

    fn comparison(&mut self) -> Result<Filter, QueryError> {
        let left_pos = self.pos();
        let left = self.unary()?;
        let op_pos = self.pos();
        match self.operator()? {
            Operator::Compare(op) => {
                let right_pos = self.pos();
                let right = self.unary()?;
                combine(left, left_pos, op, op_pos, right, right_pos)
            }
            Operator::In => self.in_list(left, left_pos),
            Operator::None => self.condition(left, left_pos),
        }
    }

    /// The comparison operator after an operand, if any (consumed).
    #[inline(never)]
    fn operator(&mut self) -> Result<Operator, QueryError> {
        let op = match self.peek() {
            Tok::Word(word) => match word.as_str() {
                "eq" => CompareOp::Eq,
                "ne" => CompareOp::Ne,
                "gt" => CompareOp::Gt,
                "ge" => CompareOp::Ge,
                "lt" => CompareOp::Lt,
                "le" => CompareOp::Le,
                "in" => {
                    self.bump();
                    return Ok(Operator::In);
                }
                "and" | "or" => return Ok(Operator::None),
                other => return Err(self.error(ErrorKind::UnknownOperator(other.to_string()))),
            },
            _ => return Ok(Operator::None),
        };
        self.bump();
        Ok(Operator::Compare(op))
    }

    /// An operand used as a condition on its own.
    #[inline(never)]
    fn condition(&self, operand: Operand, pos: usize) -> Result<Filter, QueryError> {
        let mismatch = |message: String| {
            QueryError::at(Parameter::Filter, pos, ErrorKind::TypeMismatch(message))
        };
        match operand {
            Operand::Condition(filter) => Ok(filter),
            Operand::Literal(Value::Bool(true)) => Ok(Filter::True),
            Operand::Literal(Value::Bool(false)) => Ok(Filter::never()),
            Operand::Field(field @ Field::Payload(_)) => Ok(Filter::Compare {
                field,
                op: CompareOp::Eq,
                value: Value::Bool(true),
            }),
            Operand::Field(field) => Err(mismatch(format!(
                "{field} is not a condition: compare it (eq, ne, gt, …); 'not' binds tighter than \
                 a comparison, so write not ({field} eq …)"
            ))),
            Operand::Literal(value) => Err(mismatch(format!(
                "{} is not a condition: compare a field with it",
                value.describe()
            ))),
        }
    }

    #[inline(never)]
    fn in_list(&mut self, left: Operand, left_pos: usize) -> Result<Filter, QueryError> {
        let Operand::Field(field) = left else {
            return Err(QueryError::at(
                Parameter::Filter,
                left_pos,
                ErrorKind::TypeMismatch("'in' needs a field on its left".into()),
            ));
        };
        self.expect(Tok::LParen, "'(' after 'in'")?;
        let mut values = Vec::new();
        loop {
            let at = self.pos();
            let value = match self.bump().0 {
                Tok::Str(s) => Value::Str(s),
                Tok::Num(n) => Value::Num(n),
                Tok::Time(t) => Value::Time(t),
                Tok::Word(w) if w == "null" => Value::Null,
                Tok::Word(w) if w == "true" || w == "false" => Value::Bool(w == "true"),
                _ => {
                    self.next = self.next.saturating_sub(1);
                    return Err(self.unexpected("a literal"));
                }
            };
            values.push(accept(&field, value, at)?);
            match self.bump().0 {
                Tok::Comma => {}
                Tok::RParen => break,
                _ => {
                    self.next = self.next.saturating_sub(1);
                    return Err(self.unexpected("',' or ')'"));
                }
            }
        }
        Ok(Filter::In {
            field,
            values,
            negated: false,
        })
    }

    fn unary(&mut self) -> Result<Operand, QueryError> {
        if self.peek().is_word("not") {
            let (_, at) = self.bump();
            self.depth.enter(at)?;
            let inner_pos = self.pos();
            let inner = self.unary()?;
            self.depth.leave();
            let inner = self.condition(inner, inner_pos)?;
            return Ok(Operand::Condition(Filter::Not(Box::new(inner))));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Operand, QueryError> {
        let at = self.pos();
        if *self.peek() == Tok::LParen {
            self.bump();
            self.depth.enter(at)?;
            let inner = self.or()?;
            self.expect(Tok::RParen, "')'")?;
            self.depth.leave();
            return Ok(Operand::Condition(inner));
        }
        self.leaf()
    }

    /// An operand that is not parenthesized: a literal, a field or a function call.
    #[inline(never)]
    fn leaf(&mut self) -> Result<Operand, QueryError> {
        let at = self.pos();
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                Ok(Operand::Literal(Value::Str(s)))
            }
            Tok::Num(n) => {
                self.bump();
                Ok(Operand::Literal(Value::Num(n)))
            }
            Tok::Time(t) => {
                self.bump();
                Ok(Operand::Literal(Value::Time(t)))
            }
            Tok::Word(word) => {
                self.bump();
                match word.as_str() {
                    "null" => return Ok(Operand::Literal(Value::Null)),
                    "true" => return Ok(Operand::Literal(Value::Bool(true))),
                    "false" => return Ok(Operand::Literal(Value::Bool(false))),
                    _ => {}
                }
                if *self.peek() == Tok::LParen {
                    return self.function(&word, at);
                }
                match Field::parse(&word) {
                    Some(field) => Ok(Operand::Field(field)),
                    None => Err(QueryError::at(
                        Parameter::Filter,
                        at,
                        ErrorKind::UnknownField(word),
                    )),
                }
            }
            _ => Err(self.unexpected("a field, a literal, 'not' or '('")),
        }
    }

    /// `startswith(Field, 'text')` and its kin; the parser is on the `(`.
    fn function(&mut self, name: &str, at: usize) -> Result<Operand, QueryError> {
        let op = match name {
            "startswith" => TextOp::StartsWith,
            "endswith" => TextOp::EndsWith,
            "contains" => TextOp::Contains,
            _ => {
                return Err(QueryError::at(
                    Parameter::Filter,
                    at,
                    ErrorKind::UnknownFunction(name.to_string()),
                ));
            }
        };
        self.bump();
        let field_pos = self.pos();
        let field = match self.bump().0 {
            Tok::Word(word) => Field::parse(&word).ok_or(QueryError::at(
                Parameter::Filter,
                field_pos,
                ErrorKind::UnknownField(word),
            ))?,
            _ => {
                self.next = self.next.saturating_sub(1);
                return Err(self.unexpected("a field"));
            }
        };
        if field.kind() == FieldType::Time {
            return Err(QueryError::at(
                Parameter::Filter,
                field_pos,
                ErrorKind::TypeMismatch(format!("{name} needs a string field, not {field}")),
            ));
        }
        self.expect(Tok::Comma, "','")?;
        let value = match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                s
            }
            _ => return Err(self.unexpected("a string")),
        };
        self.expect(Tok::RParen, "')'")?;
        Ok(Operand::Condition(Filter::Text {
            field,
            op,
            value,
            case_insensitive: false,
        }))
    }
}

enum Operator {
    Compare(CompareOp),
    In,
    None,
}

/// `left op right`, once both sides are read.
#[inline(never)]
fn combine(
    left: Operand,
    left_pos: usize,
    op: CompareOp,
    op_pos: usize,
    right: Operand,
    right_pos: usize,
) -> Result<Filter, QueryError> {
    let mismatch = |position, message: String| {
        QueryError::at(
            Parameter::Filter,
            position,
            ErrorKind::TypeMismatch(message),
        )
    };
    match (left, right) {
        (Operand::Field(field), Operand::Literal(value)) => compare(field, op, value, right_pos),
        (Operand::Literal(value), Operand::Field(field)) => {
            compare(field, op.mirrored(), value, left_pos)
        }
        (Operand::Condition(condition), Operand::Literal(Value::Bool(b))) => match op {
            CompareOp::Eq | CompareOp::Ne => {
                if b == (op == CompareOp::Eq) {
                    Ok(condition)
                } else {
                    Ok(Filter::Not(Box::new(condition)))
                }
            }
            _ => Err(mismatch(
                op_pos,
                "a condition can only be compared with eq or ne".into(),
            )),
        },
        (Operand::Condition(_), _) => Err(mismatch(
            right_pos,
            "a condition can only be compared with true or false".into(),
        )),
        (Operand::Field(_), Operand::Field(_)) => Err(mismatch(
            right_pos,
            "comparing two fields is not supported; compare a field with a literal".into(),
        )),
        (_, _) => Err(mismatch(
            left_pos,
            "a comparison needs a field on one side and a literal on the other".into(),
        )),
    }
}

fn accept(field: &Field, value: Value, at: usize) -> Result<Value, QueryError> {
    field
        .accept(value)
        .map_err(|message| QueryError::at(Parameter::Filter, at, ErrorKind::TypeMismatch(message)))
}

fn compare(field: Field, op: CompareOp, value: Value, at: usize) -> Result<Filter, QueryError> {
    let value = accept(&field, value, at)?;
    Ok(Filter::Compare { field, op, value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::error::MAX_DEPTH;

    fn t(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn cmp(field: Field, op: CompareOp, value: Value) -> Filter {
        Filter::Compare { field, op, value }
    }

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    fn fails(text: &str) -> (usize, ErrorKind) {
        let err = parse_filter(text).expect_err(text);
        assert_eq!(err.parameter, Parameter::Filter);
        (err.position.unwrap(), err.kind)
    }

    #[test]
    fn every_comparison_operator() {
        for (word, op) in [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ] {
            assert_eq!(
                parse_filter(&format!("EventType {word} 'home'")),
                Ok(cmp(Field::EventType, op, s("home")))
            );
        }
        // A literal on the left mirrors the operator.
        assert_eq!(
            parse_filter("5 lt Payload/n"),
            Ok(cmp(
                Field::Payload("n".into()),
                CompareOp::Gt,
                Value::Num(5.0)
            ))
        );
    }

    #[test]
    fn literals() {
        let n = || Field::Payload("n".into());
        assert_eq!(
            parse_filter("Value eq 'it''s'"),
            Ok(cmp(Field::Value, CompareOp::Eq, s("it's")))
        );
        assert_eq!(
            parse_filter("Value eq ''''"),
            Ok(cmp(Field::Value, CompareOp::Eq, s("'")))
        );
        assert_eq!(
            parse_filter("Payload/n eq -1.5"),
            Ok(cmp(n(), CompareOp::Eq, Value::Num(-1.5)))
        );
        assert_eq!(
            parse_filter("Payload.n eq 42"),
            Ok(cmp(n(), CompareOp::Eq, Value::Num(42.0)))
        );
        assert_eq!(
            parse_filter("Payload/n eq 1e3"),
            Ok(cmp(n(), CompareOp::Eq, Value::Num(1000.0)))
        );
        assert_eq!(
            parse_filter("Payload/n eq true"),
            Ok(cmp(n(), CompareOp::Eq, Value::Bool(true)))
        );
        assert_eq!(
            parse_filter("DeviceId eq null"),
            Ok(cmp(Field::DeviceId, CompareOp::Eq, Value::Null))
        );
        assert_eq!(
            parse_filter("User/Email ne ''"),
            Ok(cmp(Field::UserEmail, CompareOp::Ne, s("")))
        );
    }

    #[test]
    fn datetimes_bare_quoted_and_dated() {
        let at = |text| cmp(Field::EventTime, CompareOp::Gt, Value::Time(t(text)));
        assert_eq!(
            parse_filter("EventTime gt 2026-01-02T03:04:05Z"),
            Ok(at("2026-01-02T03:04:05Z"))
        );
        assert_eq!(
            parse_filter("EventTime gt 2026-01-02T03:04:05.123+02:00"),
            Ok(at("2026-01-02T01:04:05.123Z"))
        );
        assert_eq!(
            parse_filter("EventTime gt 2026-01-02"),
            Ok(at("2026-01-02T00:00:00Z"))
        );
        assert_eq!(
            parse_filter("EventTime gt '2026-01-02T03:04:05Z'"),
            Ok(at("2026-01-02T03:04:05Z"))
        );
        assert_eq!(
            parse_filter("EventTime gt datetime'2026-01-02T03:04:05Z'"),
            Ok(at("2026-01-02T03:04:05Z"))
        );
        assert_eq!(
            parse_filter("(EventTime gt 2026-01-02)"),
            Ok(at("2026-01-02T00:00:00Z"))
        );
    }

    #[test]
    fn string_functions_and_their_boolean_comparisons() {
        let text = |op| Filter::Text {
            field: Field::PageUri,
            op,
            value: "https://".into(),
            case_insensitive: false,
        };
        assert_eq!(
            parse_filter("startswith(PageUri, 'https://')"),
            Ok(text(TextOp::StartsWith))
        );
        assert_eq!(
            parse_filter("endswith(PageUri,'https://')"),
            Ok(text(TextOp::EndsWith))
        );
        assert_eq!(
            parse_filter("contains( PageUri , 'https://' )"),
            Ok(text(TextOp::Contains))
        );
        assert_eq!(
            parse_filter("contains(PageUri, 'https://') eq true"),
            Ok(text(TextOp::Contains))
        );
        let negated = Filter::Not(Box::new(text(TextOp::Contains)));
        assert_eq!(
            parse_filter("contains(PageUri, 'https://') eq false"),
            Ok(negated.clone())
        );
        assert_eq!(
            parse_filter("contains(PageUri, 'https://') ne true"),
            Ok(negated.clone())
        );
        assert_eq!(
            parse_filter("not contains(PageUri, 'https://')"),
            Ok(negated)
        );
    }

    #[test]
    fn precedence_is_not_then_comparison_then_and_then_or() {
        let a = cmp(Field::EventType, CompareOp::Eq, s("a"));
        let b = cmp(Field::EventType, CompareOp::Eq, s("b"));
        let c = cmp(Field::EventType, CompareOp::Eq, s("c"));
        assert_eq!(
            parse_filter("EventType eq 'a' or EventType eq 'b' and EventType eq 'c'"),
            Ok(Filter::Or(vec![
                a.clone(),
                Filter::And(vec![b.clone(), c.clone()])
            ]))
        );
        assert_eq!(
            parse_filter("(EventType eq 'a' or EventType eq 'b') and EventType eq 'c'"),
            Ok(Filter::And(vec![
                Filter::Or(vec![a.clone(), b.clone()]),
                c.clone()
            ]))
        );
        assert_eq!(
            parse_filter("not (EventType eq 'a') and EventType eq 'b'"),
            Ok(Filter::And(vec![
                Filter::Not(Box::new(a.clone())),
                b.clone()
            ]))
        );
        assert_eq!(
            parse_filter("not not (EventType eq 'a')"),
            Ok(Filter::Not(Box::new(Filter::Not(Box::new(a)))))
        );
        // `not` binds tighter than `eq`: it would apply to the bare field.
        let (at, kind) = fails("not EventType eq 'a'");
        assert_eq!(at, 4);
        assert!(matches!(kind, ErrorKind::TypeMismatch(m) if m.contains("not (EventType eq")));
    }

    #[test]
    fn in_lists_and_bare_conditions() {
        assert_eq!(
            parse_filter("DeviceId in ('a', 'b')"),
            Ok(Filter::In {
                field: Field::DeviceId,
                values: vec![s("a"), s("b")],
                negated: false
            })
        );
        assert_eq!(
            parse_filter("Payload/vip"),
            Ok(cmp(
                Field::Payload("vip".into()),
                CompareOp::Eq,
                Value::Bool(true)
            ))
        );
        assert_eq!(parse_filter("true"), Ok(Filter::True));
        assert_eq!(parse_filter("false"), Ok(Filter::never()));
    }

    #[test]
    fn errors_say_what_and_where() {
        assert_eq!(
            fails("EventType eq 'a' and Foo eq 1"),
            (21, ErrorKind::UnknownField("Foo".into()))
        );
        assert_eq!(
            fails("eventtype eq 'a'"),
            (0, ErrorKind::UnknownField("eventtype".into()))
        );
        assert_eq!(
            fails("EventType eqq 'a'"),
            (10, ErrorKind::UnknownOperator("eqq".into()))
        );
        assert_eq!(
            fails("EventType = 'a'"),
            (10, ErrorKind::UnknownOperator("=".into()))
        );
        assert_eq!(
            fails("substringof('a', Value)"),
            (0, ErrorKind::UnknownFunction("substringof".into()))
        );
        assert_eq!(fails("Value eq 'abc"), (9, ErrorKind::UnterminatedString));
        assert_eq!(fails("Value eq 'é''"), (9, ErrorKind::UnterminatedString));
        assert_eq!(
            fails("Value eq 'a' 'b'"),
            (13, ErrorKind::TrailingInput("string 'b'".into()))
        );
        assert_eq!(
            fails("(Value eq 'a'"),
            (
                13,
                ErrorKind::UnexpectedToken {
                    found: "end of input".into(),
                    expected: "')'".into()
                }
            )
        );
        assert_eq!(
            fails("Value eq"),
            (
                8,
                ErrorKind::UnexpectedToken {
                    found: "end of input".into(),
                    expected: "a field, a literal, 'not' or '('".into()
                }
            )
        );
        assert_eq!(
            fails("EventTime gt 2026-13-01"),
            (13, ErrorKind::BadDateTime("2026-13-01".into()))
        );
        assert_eq!(
            fails("Payload/n gt 1.2.3"),
            (13, ErrorKind::BadNumber("1.2.3".into()))
        );
        assert_eq!(
            fails("Payload/n gt 1e999"),
            (13, ErrorKind::BadNumber("1e999".into()))
        );
        // Positions count characters, not bytes.
        assert_eq!(
            fails("Value eq 'ééé' and Nope eq 1"),
            (19, ErrorKind::UnknownField("Nope".into()))
        );
        let (at, kind) = fails("EventTime gt 'soon'");
        assert_eq!(at, 13);
        assert!(matches!(kind, ErrorKind::TypeMismatch(_)));
        let (at, _) = fails("EventTime eq 5");
        assert_eq!(at, 13);
        let (at, _) = fails("EventType eq 5");
        assert_eq!(at, 13);
        let (at, _) = fails("startswith(EventTime, '2026')");
        assert_eq!(at, 11);
        let (at, _) = fails("EventType eq DeviceId");
        assert_eq!(at, 13);
        let (at, _) = fails("'a' eq 'b'");
        assert_eq!(at, 0);
        assert_eq!(
            parse_filter("Value eq 'a' #").unwrap_err().to_string(),
            "at position 13: unexpected character '#', expected a field, a literal, an operator \
             or a parenthesis"
        );
    }

    #[test]
    fn nesting_is_limited_to_256_levels() {
        let nested = |n: usize| format!("{}Value eq 'a'{}", "(".repeat(n), ")".repeat(n));
        assert!(parse_filter(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            fails(&nested(MAX_DEPTH + 1)),
            (MAX_DEPTH, ErrorKind::DepthExceeded)
        );
        let nots = |n: usize| format!("{}(Value eq 'a')", "not ".repeat(n));
        assert!(parse_filter(&nots(MAX_DEPTH - 1)).is_ok());
        assert_eq!(
            fails(&nots(MAX_DEPTH + 1)),
            (4 * MAX_DEPTH, ErrorKind::DepthExceeded)
        );
        // Unclosed parentheses far beyond the limit stop at the limit.
        assert_eq!(fails(&"(".repeat(100_000)).1, ErrorKind::TooLong);
        assert_eq!(
            fails(&"(".repeat(60_000)),
            (MAX_DEPTH, ErrorKind::DepthExceeded)
        );
    }

    #[test]
    fn whole_queries_default_and_validate_the_window() {
        let q = parse_odata_query(None, None, None, None).unwrap();
        assert_eq!(
            q,
            ODataQuery {
                filter: Filter::True,
                descending: true,
                top: 100,
                skip: 0
            }
        );
        let q =
            parse_odata_query(Some("  "), Some("EventTime asc"), Some("10"), Some("20")).unwrap();
        assert_eq!(
            (q.filter, q.descending, q.top, q.skip),
            (Filter::True, false, 10, 20)
        );
        assert!(
            parse_odata_query(None, Some("EventTime"), None, None)
                .unwrap()
                .descending
        );
        assert!(
            parse_odata_query(None, Some(" EventTime  desc "), None, None)
                .unwrap()
                .descending
        );
        let q = parse_odata_query(None, None, Some("9999"), Some("0")).unwrap();
        assert_eq!(q.top, 9999);
        let q = parse_odata_query(None, None, None, Some("9899")).unwrap();
        assert_eq!(q.skip, 9899);

        let window = |top, skip| parse_odata_query(None, None, top, skip).unwrap_err();
        let err = window(Some("10000"), None);
        assert_eq!(err.parameter, Parameter::Top);
        assert_eq!(
            err.to_string(),
            "$skip + $top must be below 10000 (got 0 + 10000)"
        );
        let err = window(None, Some("9900"));
        assert_eq!(err.parameter, Parameter::Skip);
        assert_eq!(
            err.to_string(),
            "$skip + $top must be below 10000 (got 9900 + 100)"
        );
        let err = window(Some("5000"), Some("5000"));
        assert_eq!(err.parameter, Parameter::Top);
        let err = window(Some("99999999999999999999999"), None);
        assert!(
            err.to_string()
                .starts_with("$skip + $top must be below 10000")
        );
        let err = window(Some("-1"), None);
        assert_eq!(
            (err.parameter, err.position, err.to_string()),
            (
                Parameter::Top,
                Some(0),
                "at position 0: $top must be a non-negative integer".to_string()
            )
        );
        let err = window(None, Some("1x"));
        assert_eq!((err.parameter, err.position), (Parameter::Skip, Some(1)));
        let err = window(Some(""), None);
        assert_eq!(err.parameter, Parameter::Top);
    }

    #[test]
    fn orderby_takes_only_event_time() {
        let err = |text| parse_odata_query(None, Some(text), None, None).unwrap_err();
        let e = err("Value desc");
        assert_eq!((e.parameter, e.position), (Parameter::OrderBy, Some(0)));
        assert!(e.to_string().contains("only be ordered by EventTime"));
        assert_eq!(err(" Nope").kind, ErrorKind::UnknownField("Nope".into()));
        assert_eq!(err(" Nope").position, Some(1));
        let e = err("EventTime up");
        assert_eq!(e.position, Some(10));
        let e = err("EventTime asc, Value");
        assert_eq!(e.position, Some(10));
        let e = err("EventTime asc x");
        assert_eq!(e.position, Some(14));
        let e = parse_odata_query(Some("Nope eq 1"), None, None, None).unwrap_err();
        assert_eq!(e.parameter, Parameter::Filter);
        assert_eq!(e.to_string(), "at position 0: unknown field 'Nope'");
        assert!(
            parse_odata_query(None, Some(""), None, None)
                .unwrap()
                .descending
        );
    }
}
