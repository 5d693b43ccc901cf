//! Character-level reading shared by both lexers. Input is held as `char`s, so positions in
//! errors are character offsets and no index can fall inside a multi-byte character.

use super::error::{ErrorKind, MAX_DEPTH, MAX_INPUT_BYTES, Parameter, QueryError};

pub(super) struct Scanner {
    chars: Vec<char>,
    pos: usize,
}

impl Scanner {
    /// Refuses input over [`MAX_INPUT_BYTES`] before reading any of it, reporting the position
    /// of the first character past the limit.
    pub(super) fn new(text: &str, parameter: Parameter) -> Result<Scanner, QueryError> {
        if text.len() > MAX_INPUT_BYTES {
            let position = text
                .char_indices()
                .position(|(byte, _)| byte >= MAX_INPUT_BYTES)
                .unwrap_or(0);
            return Err(QueryError::at(parameter, position, ErrorKind::TooLong));
        }
        Ok(Scanner {
            chars: text.chars().collect(),
            pos: 0,
        })
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    pub(super) fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos.checked_add(ahead)?).copied()
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    pub(super) fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Consumes characters while `keep` holds and returns them.
    pub(super) fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek().filter(|c| keep(*c)) {
            out.push(c);
            self.pos += 1;
        }
        out
    }

    /// A name: segments of letters, digits and `_` (not starting with a digit) joined by `.` or
    /// `/`, as in `User.Email` or `Payload/plan`. The caller has seen an identifier start.
    pub(super) fn name(&mut self) -> String {
        let mut out = self.take_while(is_ident_char);
        while matches!(self.peek(), Some('.' | '/')) && self.peek_at(1).is_some_and(is_ident_start)
        {
            if let Some(separator) = self.bump() {
                out.push(separator);
            }
            out.push_str(&self.take_while(is_ident_char));
        }
        out
    }
}

/// Identifiers may hold any letter, so `Nöpe` is reported as an unknown field rather than as
/// a stray character (and payload keys may be written in any script).
pub(super) fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

pub(super) fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Counts nesting (parentheses, `not`, function calls) so deep input is an error, not a stack
/// overflow.
pub(super) struct Depth {
    level: usize,
    parameter: Parameter,
}

impl Depth {
    pub(super) fn new(parameter: Parameter) -> Depth {
        Depth {
            level: 0,
            parameter,
        }
    }

    pub(super) fn enter(&mut self, position: usize) -> Result<(), QueryError> {
        if self.level >= MAX_DEPTH {
            return Err(QueryError::at(
                self.parameter,
                position,
                ErrorKind::DepthExceeded,
            ));
        }
        self.level += 1;
        Ok(())
    }

    pub(super) fn leave(&mut self) {
        self.level = self.level.saturating_sub(1);
    }
}

/// A token's text for a message: `'eq'`, or `end of input`.
pub(super) fn quoted(text: &str) -> String {
    // Long tokens (a 60 KB string literal) are cut so a message stays a message.
    let mut out: String = text.chars().take(40).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    format!("'{out}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_join_segments_only_before_an_identifier() {
        let mut s = Scanner::new("User.Email eq", Parameter::Filter).unwrap();
        assert_eq!(s.name(), "User.Email");
        assert_eq!(s.pos(), 10);
        let mut s = Scanner::new("Payload/plan)", Parameter::Filter).unwrap();
        assert_eq!(s.name(), "Payload/plan");
        let mut s = Scanner::new("now..x", Parameter::Query).unwrap();
        assert_eq!(s.name(), "now");
        let mut s = Scanner::new("a.1", Parameter::Query).unwrap();
        assert_eq!(s.name(), "a");
    }

    #[test]
    fn input_over_the_limit_is_refused_at_the_first_character_past_it() {
        let text = format!("é{}", "a".repeat(MAX_INPUT_BYTES));
        let err = Scanner::new(&text, Parameter::Query).err().unwrap();
        assert_eq!(err.kind, ErrorKind::TooLong);
        // 'é' is two bytes, so byte 65536 is character 65535.
        assert_eq!(err.position, Some(MAX_INPUT_BYTES - 1));
        assert!(Scanner::new(&"a".repeat(MAX_INPUT_BYTES), Parameter::Query).is_ok());
    }

    #[test]
    fn depth_counts_up_to_the_limit() {
        let mut depth = Depth::new(Parameter::Filter);
        for i in 0..MAX_DEPTH {
            depth.enter(i).unwrap();
        }
        let err = depth.enter(7).err().unwrap();
        assert_eq!(
            (err.position, err.kind),
            (Some(7), ErrorKind::DepthExceeded)
        );
        depth.leave();
        assert!(depth.enter(0).is_ok());
    }

    #[test]
    fn long_tokens_are_cut_in_messages() {
        assert_eq!(quoted("eq"), "'eq'");
        assert_eq!(quoted(&"é".repeat(100)), format!("'{}…'", "é".repeat(40)));
    }
}
