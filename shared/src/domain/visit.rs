//! Visits: a run of one UUID's activity without a gap longer than the project's session
//! timeout, numbered 1, 2, … per UUID; and the events the server records about them
//! (`session.start`, `page.visit`, `session.end`) when the project's automatic events are on.
//! The rules live here; `store::repo::visits` keeps the state and `service::visits` runs the
//! sweeper that ends idle visits.

use uuid::Uuid;

use super::event::Label;
use super::project::Project;
use super::time::Timestamp;
use super::values::{EventId, EventName, Limits, SessionUuid};

/// A new project's session timeout: 30 minutes, the web analytics convention.
pub const DEFAULT_SESSION_TIMEOUT_SECS: u32 = 1800;
/// The shortest timeout a project may set without `--allow-short-timeout` (which tests use).
pub const MIN_SESSION_TIMEOUT_SECS: u32 = 60;
/// The longest: a week. A longer "visit" is no longer a visit.
pub const MAX_SESSION_TIMEOUT_SECS: u32 = 7 * 86_400;

/// The automatic events' names, each a valid `context.activity` name.
pub const SESSION_START: &str = "session.start";
pub const PAGE_VISIT: &str = "page.visit";
pub const SESSION_END: &str = "session.end";

/// Whether storing an event of this name is activity of its UUID. A visit's end is recorded
/// at the visit's last activity by the sweeper, minutes later: counting its storing as
/// activity would reopen the visit it closes.
pub fn is_activity(name: &str) -> bool {
    name != SESSION_END
}

/// A UUID's current visit as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitState {
    /// The visit's number: how many visits this UUID has started.
    pub number: i64,
    pub started_at: Timestamp,
    /// When the UUID was last active (an init or an event received).
    pub last_activity: Timestamp,
    /// The project's timeout when the visit started: a later change of the setting applies to
    /// the visits that start after it, so every process judges one visit alike.
    pub timeout_secs: u32,
}

impl VisitState {
    /// When the visit ends unless the UUID is active again before.
    pub fn deadline(&self) -> Timestamp {
        Timestamp::from_micros(
            self.last_activity
                .micros()
                .saturating_add(i64::from(self.timeout_secs) * 1_000_000),
        )
    }

    /// Whether activity at `now` continues this visit.
    pub fn continues_at(&self, now: Timestamp) -> bool {
        now <= self.deadline()
    }
}

/// What activity at some moment does to a UUID's visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitStep {
    /// It belongs to the current visit.
    Continue(VisitState),
    /// It starts visit `number`; `ended` is the visit before it, over since its deadline.
    Start {
        number: i64,
        ended: Option<VisitState>,
    },
}

impl VisitStep {
    /// The number of the visit the activity belongs to.
    pub fn number(&self) -> i64 {
        match self {
            VisitStep::Continue(state) => state.number,
            VisitStep::Start { number, .. } => *number,
        }
    }
}

/// The step activity at `now` takes from the stored state (`None`: the UUID never had one).
pub fn step(state: Option<&VisitState>, now: Timestamp) -> VisitStep {
    match state {
        Some(state) if state.continues_at(now) => VisitStep::Continue(*state),
        Some(state) => VisitStep::Start {
            number: state.number + 1,
            ended: Some(*state),
        },
        None => VisitStep::Start {
            number: 1,
            ended: None,
        },
    }
}

/// The automatic events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoEvent {
    SessionStart,
    PageVisit,
    SessionEnd,
}

impl AutoEvent {
    pub fn name(self) -> EventName {
        let name = match self {
            AutoEvent::SessionStart => SESSION_START,
            AutoEvent::PageVisit => PAGE_VISIT,
            AutoEvent::SessionEnd => SESSION_END,
        };
        EventName::parse(name, &Limits::default()).expect("the automatic event names are valid")
    }

    /// The id of a visit's start or end: the same for every process that records it, so it is
    /// stored once however many record it (two sweeps, a sweep and the activity that starts
    /// the next visit, a retried init). `None` for page visits, one per init.
    pub fn event_id(self, project: &Project, uuid: &SessionUuid, visit: i64) -> Option<EventId> {
        let kind = match self {
            AutoEvent::SessionStart => "start",
            AutoEvent::SessionEnd => "end",
            AutoEvent::PageVisit => return None,
        };
        let name = format!("{}\n{uuid}\n{visit}\n{kind}", project.as_str());
        Some(EventId::from_uuid(Uuid::new_v5(
            &AUTO_EVENT_NAMESPACE,
            name.as_bytes(),
        )))
    }
}

/// The namespace of the automatic events' ids (chosen once; changing it would let a visit's
/// start or end be recorded a second time across an upgrade).
const AUTO_EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x3d0b_92e4_51c7_4f0a_b6e8_7c19_2a5d_e4f3);

/// `session.start`'s and `session.end`'s labels.
pub const STARTED_LABEL: &str = "Started session";
pub const ENDED_LABEL: &str = "Session end";

/// `page.visit`'s label: `Visited page <title>`, with the page's title when the SDK sent one,
/// else its path, else its address; shortened to a label's 256 characters.
pub fn page_visit_label(title: Option<&str>, path: Option<&str>, href: Option<&str>) -> Label {
    let page = [title, path, href]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or("/");
    // A label has no control characters; a title may (a stray newline).
    let page: String = page
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text: String = format!("Visited page {page}").chars().take(256).collect();
    Label::parse(&text).expect("a page-visit label is 1–256 characters without control ones")
}

/// A fixed label.
pub fn label(text: &str) -> Label {
    Label::parse(text).expect("the automatic labels are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_micros(secs * 1_000_000)
    }

    fn state(number: i64, last: i64) -> VisitState {
        VisitState {
            number,
            started_at: at(0),
            last_activity: at(last),
            timeout_secs: 1800,
        }
    }

    #[test]
    fn a_gap_up_to_the_timeout_continues_the_visit_and_a_longer_one_starts_the_next() {
        assert_eq!(
            step(None, at(5)),
            VisitStep::Start {
                number: 1,
                ended: None
            }
        );
        let s = state(3, 100);
        assert_eq!(step(Some(&s), at(100 + 1800)), VisitStep::Continue(s));
        assert_eq!(
            step(Some(&s), at(100 + 1801)),
            VisitStep::Start {
                number: 4,
                ended: Some(s)
            }
        );
        assert_eq!(s.deadline(), at(1900));
    }

    #[test]
    fn starts_and_ends_have_one_id_per_visit_and_page_visits_none() {
        let p = Project::parse("shop").unwrap();
        let q = Project::parse("other").unwrap();
        let u = SessionUuid::new_v4();
        let start = AutoEvent::SessionStart.event_id(&p, &u, 1);
        assert_eq!(start, AutoEvent::SessionStart.event_id(&p, &u, 1));
        assert_ne!(start, AutoEvent::SessionStart.event_id(&p, &u, 2));
        assert_ne!(start, AutoEvent::SessionEnd.event_id(&p, &u, 1));
        assert_ne!(start, AutoEvent::SessionStart.event_id(&q, &u, 1));
        assert_eq!(AutoEvent::PageVisit.event_id(&p, &u, 1), None);
    }

    #[test]
    fn the_page_label_prefers_the_title_and_is_always_a_valid_label() {
        assert_eq!(
            page_visit_label(Some("Pricing"), Some("/pricing"), None).as_str(),
            "Visited page Pricing"
        );
        assert_eq!(
            page_visit_label(Some("  "), Some("/pricing"), None).as_str(),
            "Visited page /pricing"
        );
        assert_eq!(
            page_visit_label(None, None, Some("https://x.test/a")).as_str(),
            "Visited page https://x.test/a"
        );
        assert_eq!(
            page_visit_label(None, None, None).as_str(),
            "Visited page /"
        );
        let long = "t\n".repeat(400);
        let label = page_visit_label(Some(&long), None, None);
        assert_eq!(label.as_str().chars().count(), 256);
        assert!(!label.as_str().chars().any(char::is_control));
        for name in [
            AutoEvent::SessionStart,
            AutoEvent::PageVisit,
            AutoEvent::SessionEnd,
        ] {
            assert!(crate::domain::plan::Naming::Activity.accepts(name.name().as_str()));
        }
    }
}
