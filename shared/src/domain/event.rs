//! What an event carries besides its name and attributes, whichever door it came through: a
//! human-readable label, a category and a priority.

use std::fmt;

/// The most characters a label may have.
pub const MAX_LABEL_CHARS: usize = 256;

/// A human-readable description of an event (`Visited page Pricing`): 1–256 characters, no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    pub fn parse(text: &str) -> Result<Self, String> {
        let chars = text.chars().count();
        if chars == 0 {
            return Err("must not be empty".into());
        }
        if chars > MAX_LABEL_CHARS {
            return Err(format!("must be at most {MAX_LABEL_CHARS} characters"));
        }
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Label(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Declares a closed vocabulary: its variants with their wire names, the default, parsing,
/// and the list a validation message names.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, default $default:ident, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "`")]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in the documented order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The wire names, in the documented order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Exactly one of the wire names (case matters, as in the reference).
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// What a validation message says when a value is not one of these.
            pub fn expected() -> String {
                let quoted: Vec<String> = Self::NAMES.iter().map(|n| format!("'{n}'")).collect();
                match quoted.split_last() {
                    Some((last, rest)) if !rest.is_empty() => {
                        format!("{} or {last}", rest.join(", "))
                    }
                    _ => quoted.concat(),
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// What kind of thing an event records; stats count events by it.
    Category, default UserAction, {
        PageView => "page_view",
        UserAction => "user_action",
        Trading => "trading",
        Auth => "auth",
        Error => "error",
        Performance => "performance",
        Feature => "feature",
        System => "system",
    }
);

vocabulary!(
    /// How much an event matters to whoever reads it.
    Priority, default Medium, {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_one_to_256_characters_without_control_characters() {
        assert!(Label::parse("Visited page Pricing").is_ok());
        assert!(Label::parse(&"é".repeat(256)).is_ok());
        assert!(Label::parse(&"é".repeat(257)).is_err());
        assert!(Label::parse("").is_err());
        assert!(Label::parse("a\nb").is_err());
    }

    #[test]
    fn vocabularies_parse_exactly_their_wire_names() {
        for (value, name) in Category::ALL.iter().zip(Category::NAMES) {
            assert_eq!(Category::parse(name), Some(*value));
            assert_eq!(value.as_str(), *name);
        }
        assert_eq!(Category::default(), Category::UserAction);
        assert_eq!(Priority::default(), Priority::Medium);
        assert_eq!(Category::parse("Page_View"), None);
        assert_eq!(
            Priority::expected(),
            "'low', 'medium', 'high' or 'critical'"
        );
    }
}
