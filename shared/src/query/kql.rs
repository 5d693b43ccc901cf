//! The KQL subset of the Profile Store's `POST TrackEvents/preview`:
//!
//! ```text
//! Events
//! | where EventTime between (todatetime('2019-01-01') .. endofday(now()))
//!     and EventType == 'pageview' and User.Email != ''
//! | order by EventTime asc
//! | take 2
//! ```
//!
//! After `Events`, the operators `where`, `order by`/`sort by` and `take`/`limit` may come in
//! any order and any number: the query is read as a set of clauses, not a pipeline. Every
//! `where` is and-ed, the last `order by` wins (descending by default, as in KQL) and the
//! smallest `take` wins, capped at [`MAX_LIMIT`].
//!
//! Conditions: `== != < <= > >=` (`==` is case-sensitive), `=~`/`!~` (case-insensitive
//! equality), `between (a .. b)` (inclusive) and `!between`, `in (…)` and `!in (…)`
//! (case-sensitive), `has`, `contains`, `startswith`, `endswith` (case-insensitive, as in KQL;
//! `has_cs`, `contains_cs`, … are the case-sensitive forms; each may be negated with `!`),
//! `isempty(F)`, `isnotempty(F)`, `not(…)`, `and`, `or`, parentheses. Values: `'…'` or `"…"`
//! with backslash escapes, numbers, `true`, `false`, timespans (`1d 2h 30m 10s 100ms`),
//! `datetime(2026-01-02)`, `todatetime('…')`, `now()`, `ago(1d)`, `startofday(x)`,
//! `endofday(x)` (the day's last microsecond), and `+`/`-` between a datetime and a timespan.
//! Keywords and functions are lowercase; `//` starts a comment.

use crate::domain::time::Timestamp;

use super::datetime;
use super::error::{ErrorKind, Parameter, QueryError};
use super::field::{Field, FieldType};
use super::filter::{CompareOp, Filter, TextOp, Value};
use super::scan::{Depth, Scanner, is_ident_start, quoted};

/// The most events a preview returns, and the limit without `take`.
pub const MAX_LIMIT: u32 = 1000;

/// A parsed preview query.
#[derive(Debug, Clone, PartialEq)]
pub struct KqlQuery {
    pub filter: Filter,
    pub descending: bool,
    pub limit: u32,
}

/// Parses a preview query; `now` is what `now()` and `ago()` read, so results are
/// deterministic.
pub fn parse_kql(text: &str, now: Timestamp) -> Result<KqlQuery, QueryError> {
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: Depth::new(Parameter::Query),
        now,
    };
    parser.query()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    /// A timespan literal, in microseconds.
    Span(i64),
    /// `datetime(…)`: the text between the parentheses, trimmed.
    DateTime(String),
    Cmp(CompareOp),
    /// `=~` (false) or `!~` (true).
    CaseInsensitiveEq(bool),
    Bang,
    Pipe,
    LParen,
    RParen,
    Comma,
    DotDot,
    Plus,
    Minus,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Word(word) => quoted(word),
            Tok::Str(text) => format!("string {}", quoted(text)),
            Tok::Num(n) => format!("number {n}"),
            Tok::Span(micros) => format!("timespan of {micros} µs"),
            Tok::DateTime(text) => format!("datetime({text})"),
            Tok::Cmp(op) => quoted(match op {
                CompareOp::Eq => "==",
                CompareOp::Ne => "!=",
                CompareOp::Gt => ">",
                CompareOp::Ge => ">=",
                CompareOp::Lt => "<",
                CompareOp::Le => "<=",
            }),
            Tok::CaseInsensitiveEq(false) => "'=~'".into(),
            Tok::CaseInsensitiveEq(true) => "'!~'".into(),
            Tok::Bang => "'!'".into(),
            Tok::Pipe => "'|'".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::DotDot => "'..'".into(),
            Tok::Plus => "'+'".into(),
            Tok::Minus => "'-'".into(),
            Tok::End => "end of input".into(),
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self, Tok::Word(w) if w == word)
    }
}

fn err(position: usize, kind: ErrorKind) -> QueryError {
    QueryError::at(Parameter::Query, position, kind)
}

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, QueryError> {
    let mut scan = Scanner::new(text, Parameter::Query)?;
    let mut tokens = Vec::new();
    loop {
        scan.skip_whitespace();
        let start = scan.pos();
        let Some(c) = scan.peek() else {
            tokens.push((Tok::End, start));
            return Ok(tokens);
        };
        let next = scan.peek_at(1);
        let (tok, width) = match (c, next) {
            ('/', Some('/')) => {
                scan.take_while(|c| c != '\n');
                continue;
            }
            ('|', _) => (Tok::Pipe, 1),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            (',', _) => (Tok::Comma, 1),
            ('+', _) => (Tok::Plus, 1),
            ('-', _) => (Tok::Minus, 1),
            ('.', Some('.')) => (Tok::DotDot, 2),
            ('=', Some('=')) => (Tok::Cmp(CompareOp::Eq), 2),
            ('=', Some('~')) => (Tok::CaseInsensitiveEq(false), 2),
            ('!', Some('=')) => (Tok::Cmp(CompareOp::Ne), 2),
            ('!', Some('~')) => (Tok::CaseInsensitiveEq(true), 2),
            ('!', _) => (Tok::Bang, 1),
            ('<', Some('=')) => (Tok::Cmp(CompareOp::Le), 2),
            ('<', _) => (Tok::Cmp(CompareOp::Lt), 1),
            ('>', Some('=')) => (Tok::Cmp(CompareOp::Ge), 2),
            ('>', _) => (Tok::Cmp(CompareOp::Gt), 1),
            ('\'' | '"', _) => {
                tokens.push((Tok::Str(string(&mut scan)?), start));
                continue;
            }
            (c, _) if c.is_ascii_digit() => {
                tokens.push((number(&mut scan)?, start));
                continue;
            }
            (c, _) if is_ident_start(c) => {
                let name = scan.name();
                let tok = if name == "datetime" {
                    datetime_literal(&mut scan)?.unwrap_or(Tok::Word(name))
                } else {
                    Tok::Word(name)
                };
                tokens.push((tok, start));
                continue;
            }
            ('=', _) => return Err(err(start, ErrorKind::UnknownOperator("=".into()))),
            (other, _) => {
                return Err(err(
                    start,
                    ErrorKind::UnexpectedToken {
                        found: format!("character {}", quoted(&other.to_string())),
                        expected: "a field, a literal, an operator or a parenthesis".into(),
                    },
                ));
            }
        };
        for _ in 0..width {
            scan.bump();
        }
        tokens.push((tok, start));
    }
}

/// A `'…'` or `"…"` string with backslash escapes. The scanner is on the opening quote.
fn string(scan: &mut Scanner) -> Result<String, QueryError> {
    let start = scan.pos();
    let quote = scan.bump();
    let mut out = String::new();
    loop {
        let at = scan.pos();
        match scan.bump() {
            None => return Err(err(start, ErrorKind::UnterminatedString)),
            Some('\\') => {
                let escaped = match scan.bump() {
                    Some('\\') => '\\',
                    Some('\'') => '\'',
                    Some('"') => '"',
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    None => return Err(err(start, ErrorKind::UnterminatedString)),
                    Some(other) => {
                        return Err(err(
                            at,
                            ErrorKind::UnexpectedToken {
                                found: format!("escape '\\{other}'"),
                                expected: "one of \\\\ \\' \\\" \\n \\t \\r".into(),
                            },
                        ));
                    }
                };
                out.push(escaped);
            }
            Some(c) if Some(c) == quote => return Ok(out),
            Some(c) => out.push(c),
        }
    }
}

/// A number (`5`, `1.5`, `1e3`) or, followed by a unit, a timespan (`1d`, `1.5h`, `100ms`).
fn number(scan: &mut Scanner) -> Result<Tok, QueryError> {
    let start = scan.pos();
    let mut text = scan.take_while(|c| c.is_ascii_digit());
    // A '.' is a decimal point only before a digit: `1..5` is a range.
    if scan.peek() == Some('.') && scan.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
        scan.bump();
        text.push('.');
        text.push_str(&scan.take_while(|c| c.is_ascii_digit()));
    }
    let exponent_digit_at = match scan.peek_at(1) {
        Some('+' | '-') => 2,
        _ => 1,
    };
    if matches!(scan.peek(), Some('e' | 'E'))
        && scan
            .peek_at(exponent_digit_at)
            .is_some_and(|c| c.is_ascii_digit())
    {
        for _ in 0..exponent_digit_at {
            if let Some(c) = scan.bump() {
                text.push(c);
            }
        }
        text.push_str(&scan.take_while(|c| c.is_ascii_digit()));
    }
    let unit = scan.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
    let bad = |text: &str, unit: &str| err(start, ErrorKind::BadNumber(format!("{text}{unit}")));
    let n = match text.parse::<f64>() {
        Ok(n) if n.is_finite() => n,
        _ => return Err(bad(&text, &unit)),
    };
    let micros_per_unit = match unit.as_str() {
        "" => return Ok(Tok::Num(n)),
        "d" => 86_400_000_000.0,
        "h" => 3_600_000_000.0,
        "m" => 60_000_000.0,
        "s" => 1_000_000.0,
        "ms" => 1_000.0,
        _ => return Err(bad(&text, &unit)),
    };
    let micros = (n * micros_per_unit).round();
    // i64::MAX is not exactly representable; staying strictly inside avoids the saturating
    // edge of the cast.
    if !micros.is_finite() || micros.abs() >= 9.0e18 {
        return Err(bad(&text, &unit));
    }
    Ok(Tok::Span(micros as i64))
}

/// `datetime(…)`'s raw text (`datetime(2026-01-02 03:04)` is not a string literal). `None` if
/// no `(` follows, leaving the scanner where it was.
fn datetime_literal(scan: &mut Scanner) -> Result<Option<Tok>, QueryError> {
    let mut ahead = 0;
    while scan.peek_at(ahead).is_some_and(char::is_whitespace) {
        ahead += 1;
    }
    if scan.peek_at(ahead) != Some('(') {
        return Ok(None);
    }
    for _ in 0..=ahead {
        scan.bump();
    }
    scan.skip_whitespace();
    let at = scan.pos();
    let raw = scan.take_while(|c| c != ')');
    if scan.bump().is_none() {
        return Err(err(
            scan.pos(),
            ErrorKind::UnexpectedToken {
                found: "end of input".into(),
                expected: "')' closing datetime(".into(),
            },
        ));
    }
    let raw = raw.trim_end();
    match datetime::parse(raw) {
        Some(_) => Ok(Some(Tok::DateTime(raw.to_string()))),
        None => Err(err(at, ErrorKind::BadDateTime(raw.to_string()))),
    }
}

/// A value being computed: a literal, or a timespan (which only exists inside arithmetic and
/// function arguments).
enum Scalar {
    Value(Value),
    Span(i64),
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    next: usize,
    depth: Depth,
    now: Timestamp,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.next).map_or(&Tok::End, |(tok, _)| tok)
    }

    fn peek_second(&self) -> &Tok {
        self.tokens
            .get(self.next.saturating_add(1))
            .map_or(&Tok::End, |(tok, _)| tok)
    }

    fn pos(&self) -> usize {
        self.tokens
            .get(self.next)
            .or(self.tokens.last())
            .map_or(0, |(_, pos)| *pos)
    }

    fn bump(&mut self) -> Tok {
        match self.tokens.get(self.next) {
            Some((tok, _)) => {
                self.next += 1;
                tok.clone()
            }
            None => Tok::End,
        }
    }

    fn unexpected(&self, expected: &str) -> QueryError {
        err(
            self.pos(),
            ErrorKind::UnexpectedToken {
                found: self.peek().describe(),
                expected: expected.into(),
            },
        )
    }

    fn expect(&mut self, tok: Tok, expected: &str) -> Result<(), QueryError> {
        if *self.peek() == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn query(&mut self) -> Result<KqlQuery, QueryError> {
        if !self.peek().is_word("Events") {
            return Err(self.unexpected("the table name 'Events'"));
        }
        self.bump();
        let mut filters = Vec::new();
        let mut descending = true;
        let mut limit = MAX_LIMIT;
        loop {
            match self.peek() {
                Tok::End => break,
                Tok::Pipe => {
                    self.bump();
                }
                other => {
                    let found = other.describe();
                    return Err(err(self.pos(), ErrorKind::TrailingInput(found)));
                }
            }
            let at = self.pos();
            let Tok::Word(operator) = self.bump() else {
                self.next = self.next.saturating_sub(1);
                return Err(self.unexpected("'where', 'order by', 'sort by', 'take' or 'limit'"));
            };
            match operator.as_str() {
                "where" => filters.push(self.or()?),
                "take" | "limit" => {
                    let n = match self.peek() {
                        Tok::Num(n) if n.fract() == 0.0 && *n >= 0.0 => *n,
                        _ => return Err(self.unexpected("a whole number of events")),
                    };
                    self.bump();
                    // `as` saturates, and anything over the cap is the cap.
                    limit = limit.min(n.min(f64::from(MAX_LIMIT)) as u32);
                }
                "order" | "sort" => descending = self.order_by()?,
                _ => return Err(err(at, ErrorKind::UnknownOperator(operator))),
            }
        }
        Ok(KqlQuery {
            filter: Filter::and(filters),
            descending,
            limit,
        })
    }

    /// `by EventTime [asc|desc]`, after `order` or `sort`.
    fn order_by(&mut self) -> Result<bool, QueryError> {
        self.expect(Tok::Word("by".into()), "'by'")?;
        let at = self.pos();
        let Tok::Word(name) = self.bump() else {
            self.next = self.next.saturating_sub(1);
            return Err(self.unexpected("EventTime"));
        };
        match Field::parse(&name) {
            Some(Field::EventTime) => {}
            Some(field) => {
                return Err(err(
                    at,
                    ErrorKind::Invalid(format!(
                        "events can only be ordered by EventTime, not {field}"
                    )),
                ));
            }
            None => return Err(err(at, ErrorKind::UnknownField(name))),
        }
        if self.peek().is_word("asc") {
            self.bump();
            Ok(false)
        } else {
            if self.peek().is_word("desc") {
                self.bump();
            }
            Ok(true)
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
        let mut parts = vec![self.predicate()?];
        while self.peek().is_word("and") {
            self.bump();
            parts.push(self.predicate()?);
        }
        Ok(Filter::and(parts))
    }

    // `or`, `and` and `predicate` are the recursive path of conditions, and `scalar`, `term`
    // and `call` that of values (one round per nesting level); they stay small, and the rest is
    // in helpers that return before the parser descends again, so the stack per level stays
    // small even in debug builds.

    fn predicate(&mut self) -> Result<Filter, QueryError> {
        let at = self.pos();
        let negated = match (self.peek(), self.peek_second()) {
            (Tok::LParen, _) => false,
            (Tok::Word(word), Tok::LParen) if word == "not" => {
                self.bump();
                true
            }
            _ => return self.simple_predicate(),
        };
        self.bump();
        self.depth.enter(at)?;
        let inner = self.or()?;
        self.expect(Tok::RParen, "')'")?;
        self.depth.leave();
        Ok(if negated {
            Filter::Not(Box::new(inner))
        } else {
            inner
        })
    }

    /// A condition without nested conditions: `isempty(F)`, `true`, or a field and operator.
    #[inline(never)]
    fn simple_predicate(&mut self) -> Result<Filter, QueryError> {
        let at = self.pos();
        match self.peek().clone() {
            Tok::Word(word) if *self.peek_second() == Tok::LParen => {
                self.bump();
                self.bump();
                match word.as_str() {
                    "isempty" | "isnotempty" => {
                        let field = self.field()?;
                        self.expect(Tok::RParen, "')'")?;
                        Ok(Filter::IsEmpty {
                            field,
                            negated: word == "isnotempty",
                        })
                    }
                    _ => Err(err(at, ErrorKind::UnknownFunction(word))),
                }
            }
            Tok::Word(word) if word == "true" || word == "false" => {
                self.bump();
                Ok(if word == "true" {
                    Filter::True
                } else {
                    Filter::never()
                })
            }
            Tok::Word(_) => {
                let field = self.field()?;
                self.condition(field)
            }
            _ => Err(self.unexpected("a condition")),
        }
    }

    fn field(&mut self) -> Result<Field, QueryError> {
        let at = self.pos();
        match self.bump() {
            Tok::Word(name) => {
                Field::parse(&name).ok_or_else(|| err(at, ErrorKind::UnknownField(name)))
            }
            _ => {
                self.next = self.next.saturating_sub(1);
                Err(self.unexpected("a field"))
            }
        }
    }

    /// What follows a field: an operator and its operands.
    fn condition(&mut self, field: Field) -> Result<Filter, QueryError> {
        let op_pos = self.pos();
        match self.bump() {
            Tok::Cmp(op) => {
                let value = self.literal(&field)?;
                Ok(Filter::Compare { field, op, value })
            }
            Tok::CaseInsensitiveEq(negated) => {
                self.text(field, TextOp::Equals, true, negated, op_pos)
            }
            Tok::Word(word) => self.word_operator(field, &word, false, op_pos),
            Tok::Bang => match self.bump() {
                Tok::Word(word) => self.word_operator(field, &word, true, op_pos),
                _ => Err(err(op_pos, ErrorKind::UnknownOperator("!".into()))),
            },
            _ => {
                self.next = self.next.saturating_sub(1);
                Err(self.unexpected("an operator"))
            }
        }
    }

    fn word_operator(
        &mut self,
        field: Field,
        word: &str,
        negated: bool,
        op_pos: usize,
    ) -> Result<Filter, QueryError> {
        let (op, case_insensitive) = match word {
            "between" => return self.between(field, negated),
            "in" => return self.in_list(field, negated),
            "has" => (TextOp::Has, true),
            "has_cs" => (TextOp::Has, false),
            "contains" => (TextOp::Contains, true),
            "contains_cs" => (TextOp::Contains, false),
            "startswith" => (TextOp::StartsWith, true),
            "startswith_cs" => (TextOp::StartsWith, false),
            "endswith" => (TextOp::EndsWith, true),
            "endswith_cs" => (TextOp::EndsWith, false),
            _ => {
                let name = if negated {
                    format!("!{word}")
                } else {
                    word.to_string()
                };
                return Err(err(op_pos, ErrorKind::UnknownOperator(name)));
            }
        };
        self.text(field, op, case_insensitive, negated, op_pos)
    }

    fn text(
        &mut self,
        field: Field,
        op: TextOp,
        case_insensitive: bool,
        negated: bool,
        op_pos: usize,
    ) -> Result<Filter, QueryError> {
        if field.kind() == FieldType::Time {
            return Err(err(
                op_pos,
                ErrorKind::TypeMismatch(format!(
                    "{field} is a datetime; string operators need a string field"
                )),
            ));
        }
        let at = self.pos();
        let value = match self.scalar()? {
            Scalar::Value(Value::Str(text)) => text,
            _ => {
                return Err(err(
                    at,
                    ErrorKind::TypeMismatch("a string operator needs a string value".into()),
                ));
            }
        };
        let filter = Filter::Text {
            field,
            op,
            value,
            case_insensitive,
        };
        Ok(if negated {
            Filter::Not(Box::new(filter))
        } else {
            filter
        })
    }

    fn between(&mut self, field: Field, negated: bool) -> Result<Filter, QueryError> {
        self.expect(Tok::LParen, "'(' after 'between'")?;
        let low = self.literal(&field)?;
        self.expect(Tok::DotDot, "'..'")?;
        let high = self.literal(&field)?;
        self.expect(Tok::RParen, "')'")?;
        Ok(Filter::Between {
            field,
            low,
            high,
            negated,
        })
    }

    fn in_list(&mut self, field: Field, negated: bool) -> Result<Filter, QueryError> {
        self.expect(Tok::LParen, "'(' after 'in'")?;
        let mut values = vec![self.literal(&field)?];
        while *self.peek() == Tok::Comma {
            self.bump();
            values.push(self.literal(&field)?);
        }
        self.expect(Tok::RParen, "',' or ')'")?;
        Ok(Filter::In {
            field,
            values,
            negated,
        })
    }

    /// A value compared with `field`, checked against its type.
    fn literal(&mut self, field: &Field) -> Result<Value, QueryError> {
        let at = self.pos();
        match self.scalar()? {
            Scalar::Value(value) => field
                .accept(value)
                .map_err(|message| err(at, ErrorKind::TypeMismatch(message))),
            Scalar::Span(_) => Err(err(
                at,
                ErrorKind::TypeMismatch(format!(
                    "a timespan cannot be compared with {field}; add it to a datetime"
                )),
            )),
        }
    }

    /// `term (("+" | "-") term)*`.
    fn scalar(&mut self) -> Result<Scalar, QueryError> {
        let mut value = self.term()?;
        loop {
            let op_pos = self.pos();
            let sign = match self.peek() {
                Tok::Plus => 1,
                Tok::Minus => -1,
                _ => return Ok(value),
            };
            self.bump();
            let rhs = self.term()?;
            value = arithmetic(value, sign, rhs).map_err(|kind| err(op_pos, kind))?;
        }
    }

    fn term(&mut self) -> Result<Scalar, QueryError> {
        match (self.peek(), self.peek_second()) {
            (Tok::Word(_), Tok::LParen) => self.call(),
            _ => self.atom(),
        }
    }

    /// `name(arg)` or `name()`.
    fn call(&mut self) -> Result<Scalar, QueryError> {
        let at = self.pos();
        let Tok::Word(name) = self.bump() else {
            return Err(self.unexpected("a function"));
        };
        if !matches!(
            name.as_str(),
            "now" | "ago" | "todatetime" | "startofday" | "endofday"
        ) {
            return Err(err(at, ErrorKind::UnknownFunction(name)));
        }
        self.bump();
        self.depth.enter(at)?;
        let arg_at = self.pos();
        let arg = if *self.peek() == Tok::RParen {
            None
        } else {
            Some(self.scalar()?)
        };
        self.expect(Tok::RParen, "')'")?;
        self.depth.leave();
        apply(&name, at, arg, arg_at, self.now)
    }

    /// A value that is not a function call.
    #[inline(never)]
    fn atom(&mut self) -> Result<Scalar, QueryError> {
        let at = self.pos();
        match self.bump() {
            Tok::Str(text) => Ok(Scalar::Value(Value::Str(text))),
            Tok::Num(n) => Ok(Scalar::Value(Value::Num(n))),
            Tok::Span(micros) => Ok(Scalar::Span(micros)),
            Tok::Minus => match self.bump() {
                Tok::Num(n) => Ok(Scalar::Value(Value::Num(-n))),
                // Spans are built from finite values below 9e18, so negating cannot overflow.
                Tok::Span(micros) => Ok(Scalar::Span(micros.saturating_neg())),
                _ => {
                    self.next = self.next.saturating_sub(1);
                    Err(self.unexpected("a number or a timespan after '-'"))
                }
            },
            Tok::DateTime(raw) => datetime::parse(&raw)
                .map(|t| Scalar::Value(Value::Time(t)))
                .ok_or_else(|| err(at, ErrorKind::BadDateTime(raw))),
            Tok::Word(word) if word == "true" || word == "false" => {
                Ok(Scalar::Value(Value::Bool(word == "true")))
            }
            Tok::Word(word) if Field::parse(&word).is_some() => Err(err(
                at,
                ErrorKind::TypeMismatch(
                    "comparing two fields is not supported; compare a field with a value".into(),
                ),
            )),
            _ => {
                self.next = self.next.saturating_sub(1);
                Err(self.unexpected("a value"))
            }
        }
    }
}

/// A value function applied to its argument (`None` for `now()`); `at` is the function name's
/// position, `arg_at` the argument's.
fn apply(
    name: &str,
    at: usize,
    arg: Option<Scalar>,
    arg_at: usize,
    now: Timestamp,
) -> Result<Scalar, QueryError> {
    let time = |t: Option<Timestamp>, what: &str| {
        t.map(|t| Scalar::Value(Value::Time(t)))
            .ok_or_else(|| err(at, ErrorKind::BadDateTime(what.to_string())))
    };
    let wrong = |message: &str| err(arg_at, ErrorKind::TypeMismatch(message.to_string()));
    match (name, arg) {
        ("now", None) => Ok(Scalar::Value(Value::Time(now))),
        ("now", Some(_)) => Err(wrong("now() takes no argument")),
        ("ago", Some(Scalar::Span(span))) => time(
            now.micros().checked_sub(span).map(Timestamp::from_micros),
            "ago(…) is out of range",
        ),
        ("ago", _) => Err(wrong("ago() takes a timespan such as 1d")),
        ("todatetime", Some(Scalar::Value(Value::Str(text)))) => datetime::parse(&text)
            .map(|t| Scalar::Value(Value::Time(t)))
            .ok_or_else(|| err(arg_at, ErrorKind::BadDateTime(text))),
        ("todatetime", Some(Scalar::Value(Value::Time(t)))) => Ok(Scalar::Value(Value::Time(t))),
        ("todatetime", _) => Err(wrong("todatetime() takes a string")),
        ("startofday", Some(Scalar::Value(Value::Time(t)))) => {
            time(datetime::start_of_day(t), "startofday() is out of range")
        }
        ("endofday", Some(Scalar::Value(Value::Time(t)))) => {
            time(datetime::end_of_day(t), "endofday() is out of range")
        }
        ("startofday" | "endofday", _) => Err(wrong(&format!("{name}() takes a datetime"))),
        _ => Err(err(at, ErrorKind::UnknownFunction(name.to_string()))),
    }
}

/// `a + b` or `a - b` (`sign` −1): datetime ± timespan, timespan ± timespan, number ± number.
fn arithmetic(a: Scalar, sign: i64, b: Scalar) -> Result<Scalar, ErrorKind> {
    let out_of_range = || ErrorKind::BadDateTime("arithmetic result is out of range".into());
    match (a, b) {
        (Scalar::Value(Value::Time(t)), Scalar::Span(span)) => span
            .checked_mul(sign)
            .and_then(|span| datetime::add_micros(t, span))
            .map(|t| Scalar::Value(Value::Time(t)))
            .ok_or_else(out_of_range),
        (Scalar::Span(x), Scalar::Span(y)) => y
            .checked_mul(sign)
            .and_then(|y| x.checked_add(y))
            .map(Scalar::Span)
            .ok_or_else(out_of_range),
        (Scalar::Value(Value::Num(x)), Scalar::Value(Value::Num(y))) => {
            let sum = x + y * sign as f64;
            if sum.is_finite() {
                Ok(Scalar::Value(Value::Num(sum)))
            } else {
                Err(ErrorKind::BadNumber(
                    "arithmetic result is out of range".into(),
                ))
            }
        }
        _ => Err(ErrorKind::TypeMismatch(
            "only a datetime and a timespan, two timespans or two numbers can be added or \
             subtracted"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::error::MAX_DEPTH;

    fn t(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn now() -> Timestamp {
        t("2026-04-12T02:10:00Z")
    }

    fn filter(condition: &str) -> Filter {
        parse_kql(&format!("Events | where {condition}"), now())
            .unwrap_or_else(|e| panic!("{condition}: {e}"))
            .filter
    }

    fn fails(text: &str) -> (usize, ErrorKind) {
        let err = parse_kql(text, now()).expect_err(text);
        assert_eq!(err.parameter, Parameter::Query);
        (err.position.unwrap(), err.kind)
    }

    fn cmp(field: Field, op: CompareOp, value: Value) -> Filter {
        Filter::Compare { field, op, value }
    }

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    fn text(field: Field, op: TextOp, value: &str, case_insensitive: bool) -> Filter {
        Filter::Text {
            field,
            op,
            value: value.into(),
            case_insensitive,
        }
    }

    #[test]
    fn the_profile_store_example() {
        let query = "Events
        | where EventTime between (todatetime('2019-01-01') .. endofday(now()))
            and EventType == 'pageview'
            and User.Email != ''
        | take 2";
        let parsed = parse_kql(query, now()).unwrap();
        assert_eq!(
            parsed,
            KqlQuery {
                filter: Filter::And(vec![
                    Filter::Between {
                        field: Field::EventTime,
                        low: Value::Time(t("2019-01-01T00:00:00Z")),
                        high: Value::Time(t("2026-04-12T23:59:59.999999Z")),
                        negated: false,
                    },
                    cmp(Field::EventType, CompareOp::Eq, s("pageview")),
                    cmp(Field::UserEmail, CompareOp::Ne, s("")),
                ]),
                descending: true,
                limit: 2,
            }
        );
    }

    #[test]
    fn every_comparison_operator() {
        for (symbol, op) in [
            ("==", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            ("<", CompareOp::Lt),
            ("<=", CompareOp::Le),
            (">", CompareOp::Gt),
            (">=", CompareOp::Ge),
        ] {
            assert_eq!(
                filter(&format!("Payload.n {symbol} 5")),
                cmp(Field::Payload("n".into()), op, Value::Num(5.0))
            );
        }
        assert_eq!(
            filter("Value =~ 'Home'"),
            text(Field::Value, TextOp::Equals, "Home", true)
        );
        assert_eq!(
            filter("Value !~ 'Home'"),
            Filter::Not(Box::new(text(Field::Value, TextOp::Equals, "Home", true)))
        );
    }

    #[test]
    fn string_operators_are_case_insensitive_unless_cs() {
        for (word, op) in [
            ("has", TextOp::Has),
            ("contains", TextOp::Contains),
            ("startswith", TextOp::StartsWith),
            ("endswith", TextOp::EndsWith),
        ] {
            let plain = text(Field::PageUri, op, "x", true);
            assert_eq!(filter(&format!("PageUri {word} 'x'")), plain);
            assert_eq!(
                filter(&format!("PageUri !{word} 'x'")),
                Filter::Not(Box::new(plain))
            );
            assert_eq!(
                filter(&format!("PageUri {word}_cs 'x'")),
                text(Field::PageUri, op, "x", false)
            );
        }
    }

    #[test]
    fn between_in_and_emptiness() {
        let between = |negated| Filter::Between {
            field: Field::Payload("n".into()),
            low: Value::Num(1.0),
            high: Value::Num(-2.5),
            negated,
        };
        assert_eq!(filter("Payload.n between (1 .. -2.5)"), between(false));
        assert_eq!(filter("Payload.n between(1..-2.5)"), between(false));
        assert_eq!(filter("Payload.n !between (1 .. -2.5)"), between(true));
        let inn = |negated| Filter::In {
            field: Field::EventType,
            values: vec![s("a"), s("b\"c")],
            negated,
        };
        assert_eq!(filter(r#"EventType in ('a', "b\"c")"#), inn(false));
        assert_eq!(filter(r#"EventType !in ('a', "b\"c")"#), inn(true));
        assert_eq!(
            filter("isempty(User.Email)"),
            Filter::IsEmpty {
                field: Field::UserEmail,
                negated: false
            }
        );
        assert_eq!(
            filter("isnotempty(User/Name)"),
            Filter::IsEmpty {
                field: Field::UserName,
                negated: true
            }
        );
    }

    #[test]
    fn datetimes_and_timespans() {
        let at = |value: &str| filter(&format!("EventTime >= {value}"));
        let time = |text| cmp(Field::EventTime, CompareOp::Ge, Value::Time(t(text)));
        assert_eq!(at("datetime(2026-01-02)"), time("2026-01-02T00:00:00Z"));
        assert_eq!(
            at("datetime( 2026-01-02T03:04:05Z )"),
            time("2026-01-02T03:04:05Z")
        );
        assert_eq!(
            at("datetime(2026-01-02 03:04:05)"),
            time("2026-01-02T03:04:05Z")
        );
        assert_eq!(
            at("todatetime(\"2026-01-02\")"),
            time("2026-01-02T00:00:00Z")
        );
        assert_eq!(at("'2026-01-02'"), time("2026-01-02T00:00:00Z"));
        assert_eq!(at("now()"), time("2026-04-12T02:10:00Z"));
        assert_eq!(at("ago(1d)"), time("2026-04-11T02:10:00Z"));
        assert_eq!(at("ago(2h)"), time("2026-04-12T00:10:00Z"));
        assert_eq!(at("ago(30m)"), time("2026-04-12T01:40:00Z"));
        assert_eq!(at("ago(10s)"), time("2026-04-12T02:09:50Z"));
        assert_eq!(at("ago(250ms)"), time("2026-04-12T02:09:59.750Z"));
        assert_eq!(at("ago(1.5h)"), time("2026-04-12T00:40:00Z"));
        assert_eq!(at("startofday(now())"), time("2026-04-12T00:00:00Z"));
        assert_eq!(at("endofday(ago(1d))"), time("2026-04-11T23:59:59.999999Z"));
        assert_eq!(at("now() - 1d"), time("2026-04-11T02:10:00Z"));
        assert_eq!(at("now() + 1h - 30m"), time("2026-04-12T02:40:00Z"));
        assert_eq!(at("now()-1d+-1d"), time("2026-04-10T02:10:00Z"));
        assert_eq!(at("ago(1d + 1h)"), time("2026-04-11T01:10:00Z"));
    }

    #[test]
    fn precedence_pipes_and_whitespace() {
        let a = cmp(Field::EventType, CompareOp::Eq, s("a"));
        let b = cmp(Field::EventType, CompareOp::Eq, s("b"));
        let c = cmp(Field::EventType, CompareOp::Eq, s("c"));
        assert_eq!(
            filter("EventType == 'a' or EventType == 'b' and EventType == 'c'"),
            Filter::Or(vec![a.clone(), Filter::And(vec![b.clone(), c.clone()])])
        );
        assert_eq!(
            filter("(EventType == 'a' or EventType == 'b') and not(EventType == 'c')"),
            Filter::And(vec![
                Filter::Or(vec![a.clone(), b.clone()]),
                Filter::Not(Box::new(c.clone()))
            ])
        );
        let q = parse_kql(
            "Events\n| take 5000\r\n| where EventType == 'a' // the first\n\t| order by EventTime asc | where EventType == 'b' | limit 7 | sort by EventTime",
            now(),
        )
        .unwrap();
        assert_eq!(
            q,
            KqlQuery {
                filter: Filter::And(vec![a.clone(), b.clone()]),
                descending: true,
                limit: 7
            }
        );
        let q = parse_kql("Events | order by EventTime asc | take 5000", now()).unwrap();
        assert_eq!(
            q,
            KqlQuery {
                filter: Filter::True,
                descending: false,
                limit: 1000
            }
        );
        assert_eq!(parse_kql("Events", now()).unwrap().limit, 1000);
        assert_eq!(parse_kql("Events | take 0", now()).unwrap().limit, 0);
        assert_eq!(parse_kql("Events | take 1e30", now()).unwrap().limit, 1000);
        assert!(
            parse_kql("Events | sort by EventTime desc", now())
                .unwrap()
                .descending
        );
        assert_eq!(filter("true"), Filter::True);
        assert_eq!(
            filter(r"Value == 'a\'b\\c\n'"),
            cmp(Field::Value, CompareOp::Eq, s("a'b\\c\n"))
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        assert_eq!(
            fails("Events | where Foo == 1"),
            (15, ErrorKind::UnknownField("Foo".into()))
        );
        assert_eq!(
            fails("Events | where EventType ~= 'a'"),
            (
                25,
                ErrorKind::UnexpectedToken {
                    found: "character '~'".into(),
                    expected: "a field, a literal, an operator or a parenthesis".into()
                }
            )
        );
        assert_eq!(
            fails("Events | where EventType hasprefix 'a'"),
            (25, ErrorKind::UnknownOperator("hasprefix".into()))
        );
        assert_eq!(
            fails("Events | where EventType !like 'a'"),
            (25, ErrorKind::UnknownOperator("!like".into()))
        );
        assert_eq!(
            fails("Events | where EventType = 'a'"),
            (25, ErrorKind::UnknownOperator("=".into()))
        );
        assert_eq!(
            fails("Events | project EventType"),
            (9, ErrorKind::UnknownOperator("project".into()))
        );
        assert_eq!(
            fails("Events | where EventTime > bin(now(), 1d)"),
            (27, ErrorKind::UnknownFunction("bin".into()))
        );
        assert_eq!(
            fails("Events | where strlen(Value) > 1"),
            (15, ErrorKind::UnknownFunction("strlen".into()))
        );
        assert_eq!(
            fails("Events | where Value == 'abc"),
            (24, ErrorKind::UnterminatedString)
        );
        assert_eq!(
            fails("Events | where Value == \"ab\\"),
            (24, ErrorKind::UnterminatedString)
        );
        assert_eq!(
            fails("Events | where Value == 'a' Value"),
            (28, ErrorKind::TrailingInput("'Value'".into()))
        );
        assert_eq!(
            fails("Events | where EventTime > datetime(2026-02-30)"),
            (36, ErrorKind::BadDateTime("2026-02-30".into()))
        );
        assert_eq!(
            fails("Events | where EventTime > todatetime('nope')"),
            (38, ErrorKind::BadDateTime("nope".into()))
        );
        assert_eq!(
            fails("Events | where Payload.n > 12abc"),
            (27, ErrorKind::BadNumber("12abc".into()))
        );
        assert_eq!(
            fails("Events | where EventTime > ago(1y)"),
            (31, ErrorKind::BadNumber("1y".into()))
        );
        assert_eq!(
            fails("Events | where EventTime > ago(99999999999d)"),
            (31, ErrorKind::BadNumber("99999999999d".into()))
        );
        // Positions count characters.
        assert_eq!(
            fails("Events | where Value == 'ü' and Nöpe == 1"),
            (32, ErrorKind::UnknownField("Nöpe".into()))
        );
        assert_eq!(fails("Evénts").0, 0);
        assert_eq!(
            fails("Logs | take 1"),
            (
                0,
                ErrorKind::UnexpectedToken {
                    found: "'Logs'".into(),
                    expected: "the table name 'Events'".into()
                }
            )
        );
        let (at, kind) = fails("Events | where EventTime > 'soon'");
        assert_eq!(at, 27);
        assert!(matches!(kind, ErrorKind::TypeMismatch(_)));
        let (at, _) = fails("Events | where EventTime > 1d");
        assert_eq!(at, 27);
        let (at, _) = fails("Events | where EventType == 5");
        assert_eq!(at, 28);
        let (at, _) = fails("Events | where EventTime has 'x'");
        assert_eq!(at, 25);
        let (at, _) = fails("Events | where EventType == DeviceId");
        assert_eq!(at, 28);
        let (at, _) = fails("Events | where EventTime > now() + 5");
        assert_eq!(at, 33);
        let (at, _) = fails("Events | where EventTime > ago(now())");
        assert_eq!(at, 31);
        let (at, _) = fails("Events | take -1");
        assert_eq!(at, 14);
        let (at, _) = fails("Events | take 1.5");
        assert_eq!(at, 14);
        let (at, kind) = fails("Events | order by Value");
        assert_eq!(at, 18);
        assert!(
            matches!(kind, ErrorKind::Invalid(m) if m.contains("only be ordered by EventTime"))
        );
        assert_eq!(
            fails("Events | where EventTime > now() - 999999999999999d").1,
            ErrorKind::BadNumber("999999999999999d".into())
        );
        assert_eq!(
            fails("Events | where EventTime > now() + 100000000d + 100000000d").1,
            ErrorKind::BadDateTime("arithmetic result is out of range".into())
        );
        assert_eq!(
            parse_kql("Events | where Foo == 1", now())
                .unwrap_err()
                .to_string(),
            "at position 15: unknown field 'Foo'"
        );
    }

    #[test]
    fn nesting_is_limited_to_256_levels() {
        let parens = |n: usize| {
            format!(
                "Events | where {}Value == 'a'{}",
                "(".repeat(n),
                ")".repeat(n)
            )
        };
        assert!(parse_kql(&parens(MAX_DEPTH), now()).is_ok());
        assert_eq!(
            fails(&parens(MAX_DEPTH + 1)),
            (15 + MAX_DEPTH, ErrorKind::DepthExceeded)
        );
        let nots = |n: usize| {
            format!(
                "Events | where {}Value == 'a'{}",
                "not(".repeat(n),
                ")".repeat(n)
            )
        };
        assert!(parse_kql(&nots(MAX_DEPTH), now()).is_ok());
        assert_eq!(
            fails(&nots(MAX_DEPTH + 1)),
            (15 + 4 * MAX_DEPTH, ErrorKind::DepthExceeded)
        );
        let days = |n: usize| {
            format!(
                "Events | where EventTime > {}now(){}",
                "startofday(".repeat(n),
                ")".repeat(n)
            )
        };
        assert!(parse_kql(&days(MAX_DEPTH - 1), now()).is_ok());
        // `now()` is a call too: 256 startofday calls make 257 levels.
        assert_eq!(
            fails(&days(MAX_DEPTH)),
            (27 + 11 * MAX_DEPTH, ErrorKind::DepthExceeded)
        );
    }
}
