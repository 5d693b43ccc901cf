//! A project's tracking plan: which event names are well-formed (the naming rule) and which
//! of those are stored (the allow and deny lists). The rules live here, once; the services
//! apply them to every event whichever door it came through, and `atrack projects set` builds
//! a plan with [`TrackingPlan::new`], which refuses lists that could never match.

use std::fmt;

use super::values::{EventName, Limits};

/// The longest name `--naming activity` accepts.
pub const MAX_ACTIVITY_CHARS: usize = 32;

/// The most entries an allow or deny list may hold. Every event is checked against both lists
/// on the request path, entry by entry; a plan is a short list of families, not a catalogue.
pub const MAX_LIST_ENTRIES: usize = 200;

/// The shape of an activity name, in words (a macro so both messages below are literals).
macro_rules! activity_shape {
    () => {
        "at most 32 characters, two or more parts of letters, digits, '_' or '-' joined by dots \
         (page.visit, product.buy)"
    };
}

/// What `--naming activity` requires, as a 422's details say it.
pub const ACTIVITY_RULE: &str = concat!(
    "must follow the project's context.activity naming: ",
    activity_shape!()
);

/// How a project's event names must look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Naming {
    /// Any name of 1–100 characters without control characters (every event name's rule).
    #[default]
    Free,
    /// `context.activity`: at most 32 characters, matching
    /// `^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$`.
    Activity,
}

impl Naming {
    pub fn as_str(self) -> &'static str {
        match self {
            Naming::Free => "free",
            Naming::Activity => "activity",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "free" => Some(Naming::Free),
            "activity" => Some(Naming::Activity),
            _ => None,
        }
    }

    /// Whether an event name (already a valid [`EventName`]) follows this naming.
    pub fn accepts(self, name: &str) -> bool {
        match self {
            Naming::Free => true,
            Naming::Activity => is_activity(name),
        }
    }
}

impl fmt::Display for Naming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One character of an activity name's part.
fn is_activity_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// `^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$`, at most 32 characters. Written out rather than
/// compiled from the pattern: it is a few lines, and the crate needs no regex engine for it.
fn is_activity(name: &str) -> bool {
    // Every accepted character is ASCII, so bytes count characters here.
    name.len() <= MAX_ACTIVITY_CHARS
        && name.split('.').count() >= 2
        && name
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(is_activity_char))
}

/// Whether some activity name starts with `prefix`: whether its shortest completion is one
/// (the prefix itself when it has a dot inside, else with the part, or dot and part, it lacks).
fn could_start_activity(prefix: &str) -> bool {
    let completion = if prefix.is_empty() {
        "a.a".to_owned()
    } else if prefix.ends_with('.') {
        format!("{prefix}a")
    } else if prefix.contains('.') {
        prefix.to_owned()
    } else {
        format!("{prefix}.a")
    };
    is_activity(&completion)
}

/// One entry of an allow or deny list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamePattern {
    /// This name exactly (`product.buy`).
    Exact(String),
    /// Every name starting with this (`debug.*` is `Prefix("debug.")`; `*` is `Prefix("")`).
    Prefix(String),
}

impl NamePattern {
    /// An entry as written: `*` only at its end (a prefix wildcard) or as the whole entry.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (body, wildcard) = match text.strip_suffix('*') {
            Some(body) => (body, true),
            None => (text, false),
        };
        if body.contains('*') {
            return Err(format!(
                "'{text}': '*' may only end an entry (debug.*) or be the whole entry"
            ));
        }
        if body.chars().any(char::is_control) {
            return Err(format!(
                "'{}' holds a control character",
                text.escape_debug()
            ));
        }
        let limit = Limits::default().max_event_name_chars;
        if body.chars().count() > limit {
            return Err(format!(
                "'{text}' is longer than an event name may be ({limit} characters)"
            ));
        }
        if wildcard {
            return Ok(NamePattern::Prefix(body.to_owned()));
        }
        // Exactly what an event name must be, so an entry that no event could ever carry is
        // refused rather than kept as a rule that never fires.
        EventName::parse(body, &Limits::default())
            .map_err(|why| format!("'{text}' is not an event name: it {why}"))?;
        Ok(NamePattern::Exact(body.to_owned()))
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            NamePattern::Exact(exact) => name == exact,
            NamePattern::Prefix(prefix) => name.starts_with(prefix.as_str()),
        }
    }

    /// Whether a name following `naming` can match this entry.
    fn can_match_under(&self, naming: Naming) -> bool {
        match (self, naming) {
            (_, Naming::Free) => true,
            (NamePattern::Exact(name), Naming::Activity) => is_activity(name),
            (NamePattern::Prefix(prefix), Naming::Activity) => could_start_activity(prefix),
        }
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamePattern::Exact(name) => f.write_str(name),
            NamePattern::Prefix(prefix) => write!(f, "{prefix}*"),
        }
    }
}

/// An allow or deny list: entries sorted and without repeats, so a plan reads and compares
/// the same however its list was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameList(Vec<NamePattern>);

impl NameList {
    /// A comma-separated list (`product.buy,debug.*`); spaces around an entry are not part of
    /// it. The empty text is the empty list; an empty entry (`a,,b`, a trailing comma) is a
    /// mistake, not nothing.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(NameList::default());
        }
        let mut entries = Vec::new();
        for (at, entry) in text.split(',').enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(format!(
                    "entry {} is empty (names are separated by single commas)",
                    at + 1
                ));
            }
            entries.push(NamePattern::parse(entry)?);
        }
        Self::from_entries(entries)
    }

    /// A list of parsed entries, sorted by their written form and without repeats.
    pub fn from_entries(mut entries: Vec<NamePattern>) -> Result<Self, String> {
        entries.sort_by_cached_key(ToString::to_string);
        entries.dedup();
        if entries.len() > MAX_LIST_ENTRIES {
            return Err(format!(
                "has {} entries; a list holds at most {MAX_LIST_ENTRIES}",
                entries.len()
            ));
        }
        Ok(NameList(entries))
    }

    pub fn entries(&self) -> &[NamePattern] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|entry| entry.matches(name))
    }
}

impl fmt::Display for NameList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (at, entry) in self.0.iter().enumerate() {
            if at > 0 {
                f.write_str(",")?;
            }
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}

/// What the plan says of one event name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Store,
    /// Well-formed, but the lists exclude it: not stored, and answered as handled so that
    /// SDKs do not retry it.
    Drop,
    /// The name breaks the naming rule: a validation error on the field that carries it.
    Invalid(&'static str),
}

/// A project's tracking plan. The default stores every valid name, as before plans existed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingPlan {
    naming: Naming,
    allow: NameList,
    deny: NameList,
}

impl TrackingPlan {
    /// A plan whose every list entry can match some name its naming accepts: under
    /// `activity`, `Checkout Started` in a list would be a rule that never fires, so it is
    /// refused, naming the list and the entry.
    pub fn new(naming: Naming, allow: NameList, deny: NameList) -> Result<Self, String> {
        for (list, entries) in [("allow", &allow), ("deny", &deny)] {
            if let Some(entry) = entries
                .entries()
                .iter()
                .find(|entry| !entry.can_match_under(naming))
            {
                return Err(format!(
                    "{list} entry '{entry}' can never match under the {naming} naming: names are {}",
                    activity_shape!()
                ));
            }
        }
        Ok(TrackingPlan {
            naming,
            allow,
            deny,
        })
    }

    pub fn naming(&self) -> Naming {
        self.naming
    }

    pub fn allow(&self) -> &NameList {
        &self.allow
    }

    pub fn deny(&self) -> &NameList {
        &self.deny
    }

    /// The naming rule first (a malformed name is the sender's bug, reported even when the
    /// lists would drop it), then the lists: deny wins over allow, and an empty allow list
    /// allows every name.
    pub fn check(&self, name: &EventName) -> Verdict {
        let name = name.as_str();
        if !self.naming.accepts(name) {
            return Verdict::Invalid(ACTIVITY_RULE);
        }
        if self.deny.matches(name) {
            return Verdict::Drop;
        }
        if !self.allow.is_empty() && !self.allow.matches(name) {
            return Verdict::Drop;
        }
        Verdict::Store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> EventName {
        EventName::parse(text, &Limits::default()).unwrap()
    }

    fn list(text: &str) -> NameList {
        NameList::parse(text).unwrap()
    }

    fn plan(naming: Naming, allow: &str, deny: &str) -> TrackingPlan {
        TrackingPlan::new(naming, list(allow), list(deny)).unwrap()
    }

    #[test]
    fn activity_names_are_dotted_parts_of_at_most_32_characters() {
        let longest = format!("x.{}", "y".repeat(30));
        let too_long = format!("x.{}", "y".repeat(31));
        for good in [
            "page.visit",
            "product.buy",
            "entries.count",
            "a.b.c",
            "A_1.b-2",
            &longest,
        ] {
            assert!(is_activity(good), "{good}");
        }
        for bad in [
            "checkout",
            "Checkout Started",
            ".visit",
            "page.",
            "page..visit",
            "page.vis it",
            "pagé.visit",
            &too_long,
            "",
            ".",
        ] {
            assert!(!is_activity(bad), "{bad}");
        }
    }

    #[test]
    fn the_default_plan_stores_every_valid_name() {
        let plan = TrackingPlan::default();
        for n in ["Checkout Started", "debug.trace", "x"] {
            assert_eq!(plan.check(&name(n)), Verdict::Store, "{n}");
        }
    }

    #[test]
    fn naming_comes_first_then_deny_wins_over_allow() {
        let plan = plan(
            Naming::Activity,
            "product.*,page.visit",
            "product.debug,debug.*",
        );
        assert_eq!(
            plan.check(&name("Checkout Started")),
            Verdict::Invalid(ACTIVITY_RULE)
        );
        assert_eq!(plan.check(&name("product.buy")), Verdict::Store);
        assert_eq!(plan.check(&name("page.visit")), Verdict::Store);
        // Allowed by product.*, denied exactly: deny wins.
        assert_eq!(plan.check(&name("product.debug")), Verdict::Drop);
        // Not in the allow list.
        assert_eq!(plan.check(&name("page.leave")), Verdict::Drop);
        assert_eq!(plan.check(&name("debug.trace")), Verdict::Drop);
    }

    #[test]
    fn a_star_matches_everything_and_an_empty_allow_list_allows_all() {
        let deny_all = plan(Naming::Free, "", "*");
        assert_eq!(deny_all.check(&name("Checkout Started")), Verdict::Drop);
        let only_debug_out = plan(Naming::Free, "", "debug.*");
        assert_eq!(only_debug_out.check(&name("debug")), Verdict::Store);
        assert_eq!(only_debug_out.check(&name("debug.x")), Verdict::Drop);
        let allow_all_but = plan(Naming::Free, "*", "debug.trace");
        assert_eq!(allow_all_but.check(&name("anything")), Verdict::Store);
        assert_eq!(allow_all_but.check(&name("debug.trace")), Verdict::Drop);
    }

    #[test]
    fn lists_parse_trimmed_sorted_and_once_each() {
        let parsed = list(" product.buy , debug.* ,product.buy,*");
        assert_eq!(parsed.to_string(), "*,debug.*,product.buy");
        assert_eq!(list("").entries(), &[] as &[NamePattern]);
        assert_eq!(list("   ").entries(), &[] as &[NamePattern]);
    }

    #[test]
    fn malformed_lists_are_refused_with_the_reason() {
        for (text, why) in [
            ("a,,b", "is empty"),
            ("a,", "is empty"),
            (",a", "is empty"),
            ("a*b", "may only end"),
            ("**", "may only end"),
            ("*.debug", "may only end"),
            ("a\u{7}b", "control character"),
            (&"x".repeat(101), "longer than"),
        ] {
            let err = NameList::parse(text).expect_err(text);
            assert!(err.contains(why), "{text:?}: {err}");
        }
        let too_many: Vec<String> = (0..=MAX_LIST_ENTRIES).map(|i| format!("e.{i}")).collect();
        assert!(NameList::parse(&too_many.join(",")).is_err());
        let enough: Vec<String> = (0..MAX_LIST_ENTRIES).map(|i| format!("e.{i}")).collect();
        assert!(NameList::parse(&enough.join(",")).is_ok());
    }

    #[test]
    fn under_activity_naming_an_entry_no_name_can_match_is_refused() {
        for (allow, deny) in [
            ("Checkout Started", ""),
            ("", "checkout"),
            ("", ".debug*"),
            ("", "de bug.*"),
            ("", "a..*"),
        ] {
            let err = TrackingPlan::new(Naming::Activity, list(allow), list(deny))
                .expect_err(&format!("{allow:?} {deny:?}"));
            assert!(err.contains("can never match"), "{err}");
        }
        // The longest prefixes a name of 32 characters can still start with.
        let (room, no_room) = (
            format!("{}.*", "a".repeat(30)),
            format!("{}.*", "a".repeat(31)),
        );
        let err = TrackingPlan::new(Naming::Activity, list(""), list(&no_room)).unwrap_err();
        assert!(err.contains("can never match"), "{err}");
        let (word, long_word) = (
            format!("{}*", "a".repeat(30)),
            format!("{}*", "a".repeat(31)),
        );
        assert!(TrackingPlan::new(Naming::Activity, list(&long_word), list("")).is_err());
        for (allow, deny) in [
            ("product.buy", "debug.*"),
            ("*", "debug*"),
            ("page*", ""),
            ("page.v*", ""),
            (&word, &room),
        ] {
            assert!(
                TrackingPlan::new(Naming::Activity, list(allow), list(deny)).is_ok(),
                "{allow:?} {deny:?}"
            );
        }
        // The same entries are fine under free naming.
        assert!(TrackingPlan::new(Naming::Free, list("Checkout Started"), list(".debug*")).is_ok());
    }

    #[test]
    fn naming_parses_its_two_names_only() {
        assert_eq!(Naming::parse("free"), Some(Naming::Free));
        assert_eq!(Naming::parse("activity"), Some(Naming::Activity));
        assert_eq!(Naming::parse("Activity"), None);
        assert_eq!(Naming::default(), Naming::Free);
    }
}
