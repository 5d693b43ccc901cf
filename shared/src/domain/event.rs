//! What an event carries besides its name and attributes, whichever door it came through: a
//! human-readable label, a category and a priority, a type and a source.

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

vocabulary!(
    /// What an event records, in the product-analytics export's terms (its `event_type`).
    EventType, default Track, {
        IdentifyUser => "identify_user",
        IdentifyCompany => "identify_company",
        Interaction => "interaction",
        Track => "track",
        TrackFeature => "track_feature",
        PageView => "page_view",
        SessionStart => "session_start",
    }
);

impl EventType {
    /// Whether an event of this type may have `name`: an interaction's name says which entity
    /// it was and what happened to it, `{entity_type}:{entity_id}:{status}` (`checklist:2:SEEN`),
    /// so that an export can be read without the sender's documentation. Any other type takes
    /// any valid name.
    pub fn check_name(self, name: &str) -> Result<(), String> {
        if self != EventType::Interaction {
            return Ok(());
        }
        let parts: Vec<&str> = name.split(':').collect();
        let word = |part: &str, allowed: fn(char) -> bool| {
            !part.is_empty() && part.chars().all(|c| allowed(c) || c == '_')
        };
        let well_formed = parts.len() == 3
            && word(parts[0], |c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && word(parts[1], |c| c.is_ascii_alphanumeric() || c == '-')
            && word(parts[2], |c| c.is_ascii_uppercase() || c.is_ascii_digit());
        match well_formed {
            true => Ok(()),
            false => Err(
                "an interaction's name must read {entity_type}:{entity_id}:{status}, \
                 e.g. checklist:2:SEEN"
                    .into(),
            ),
        }
    }

    /// Whether the export's `event_name` is empty for this type: the name of an identify, a
    /// session start or a page view is ours, not the sender's.
    pub fn exports_name(self) -> bool {
        !matches!(
            self,
            EventType::IdentifyUser
                | EventType::IdentifyCompany
                | EventType::SessionStart
                | EventType::PageView
        )
    }

    /// Whether the export's `metadata` carries the event's attributes (else it is `{}`).
    pub fn exports_metadata(self) -> bool {
        !matches!(
            self,
            EventType::PageView | EventType::SessionStart | EventType::TrackFeature
        )
    }
}

/// The most characters the `<name>` of a `backend-<name>` source may have.
const MAX_SOURCE_NAME_CHARS: usize = 48;

/// Where an event was captured: one of the export's named sources, or `backend-<name>` for
/// another integration (lowercase letters, digits, `-` and `_`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source(String);

impl Source {
    /// The sources the export names.
    pub const NAMED: &'static [&'static str] = &[
        "web-client",
        "backend-http",
        "backend-hubspot",
        "backend-salesforce",
        "backend-segment",
    ];

    pub fn parse(text: &str) -> Result<Self, String> {
        let custom = text.strip_prefix("backend-").is_some_and(|name| {
            (1..=MAX_SOURCE_NAME_CHARS).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        });
        if Self::NAMED.contains(&text) || custom {
            Ok(Source(text.to_owned()))
        } else {
            Err(format!(
                "must be one of {} or 'backend-<name>' (lowercase letters, digits, '-' and '_', \
                 at most {MAX_SOURCE_NAME_CHARS})",
                Self::NAMED.join(", ")
            ))
        }
    }

    /// Captured in a browser or app: what a public key sends by default.
    pub fn web_client() -> Self {
        Source("web-client".into())
    }

    /// Sent by a server: what a secret key sends by default.
    pub fn backend_http() -> Self {
        Source("backend-http".into())
    }

    /// Sent through Segment's protocol by a server-side library.
    pub fn backend_segment() -> Self {
        Source("backend-segment".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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

    #[test]
    fn interaction_names_read_entity_id_and_status() {
        let interaction = EventType::Interaction;
        for good in [
            "checklist:2:SEEN",
            "experience:448:DISMISSED",
            "resource_center:1:ENGAGED",
            "nps:nps_1:SUBMITTED_SCORE",
        ] {
            assert!(interaction.check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "checklist:2",
            "checklist:2:SEEN:again",
            "Checklist:2:SEEN",
            "checklist::SEEN",
            "checklist:2:seen",
            "checklist: 2:SEEN",
            "Signed up",
        ] {
            assert!(interaction.check_name(bad).is_err(), "{bad}");
        }
        assert!(EventType::Track.check_name("Signed up").is_ok());
    }

    #[test]
    fn sources_are_the_named_ones_or_a_backend_of_ours() {
        for good in [
            "web-client",
            "backend-segment",
            "backend-zendesk",
            "backend-my_crm-2",
        ] {
            assert_eq!(Source::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "backend-",
            "Backend-http",
            "backend-Zendesk",
            "mobile",
            "backend-a b",
        ] {
            assert!(Source::parse(bad).is_err(), "{bad}");
        }
        assert!(Source::parse(&format!("backend-{}", "x".repeat(49))).is_err());
    }
}
