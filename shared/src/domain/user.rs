//! People and organisations behind the sessions: a user, named by the app's own id, whom many
//! UUIDs (browsers, phones) may belong to, and the company a user belongs to.

use std::fmt;

use super::values::{Attributes, EventId, SessionUuid};

/// The most characters a user or company id may have.
pub const MAX_ID_CHARS: usize = 255;

/// Checks an app's id for a user or a company: 1–255 characters, no control characters (they
/// would break the JSON-lines export's consumers and every log line that names the id).
fn check_id(text: &str) -> Result<(), String> {
    let chars = text.chars().count();
    if chars == 0 {
        return Err("must not be empty".into());
    }
    if chars > MAX_ID_CHARS {
        return Err(format!("must be at most {MAX_ID_CHARS} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

macro_rules! external_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, String> {
                check_id(text).map(|()| $name(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

external_id!(
    /// The app's id for a person (`user_id`).
    UserId
);

external_id!(
    /// The app's id for an organisation (`company_id`).
    CompanyId
);

/// A validated `POST /identify`: the UUID becomes the user's (leaving any user it belonged to),
/// the traits are merged into the user, and with a company the company's traits are merged
/// into it and the user becomes its member (leaving any company they belonged to).
#[derive(Debug, Clone, PartialEq)]
pub struct IdentifyRequest {
    pub uuid: SessionUuid,
    pub user_id: UserId,
    pub traits: Attributes,
    pub company: Option<CompanyIdentify>,
    /// The client's id for the identify, which its `identify_user` event takes (and its
    /// `identify_company` event one derived from it): a retried identify records them once.
    pub event_id: Option<EventId>,
    /// Whether the UUID becomes the user's latest, where calls naming only the user land: an
    /// identify says who is on this device now; an alias joins a user's older ids, and does
    /// not.
    pub latest: bool,
}

/// The company part of an identify.
#[derive(Debug, Clone, PartialEq)]
pub struct CompanyIdentify {
    pub company_id: CompanyId,
    pub traits: Attributes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_to_255_characters_without_control_characters() {
        assert!(UserId::parse("user-42").is_ok());
        assert!(UserId::parse(&"é".repeat(255)).is_ok());
        assert!(UserId::parse(&"é".repeat(256)).is_err());
        assert!(UserId::parse("").is_err());
        assert!(CompanyId::parse("acme\u{0}").is_err());
        assert!(CompanyId::parse("acme\ninc").is_err());
        assert_eq!(CompanyId::parse("Acme Inc.").unwrap().as_str(), "Acme Inc.");
    }
}
