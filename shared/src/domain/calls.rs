//! Tracking calls from clients that name people by their own ids instead of our UUIDs
//! (Segment's protocol, which many libraries speak): who the call is about, what it says, and
//! the visit context it carries. `service::calls` resolves the ids to UUIDs and applies each
//! call as the native routes would.

use super::commands::{EventRequest, InitRequest};
use super::event::Source;
use super::project::Project;
use super::time::{Timestamp, skew_corrected};
use super::user::{CompanyIdentify, UserId};
use super::values::{Attributes, EventId, Limits, SessionUuid, check_event_time};

/// Who a call is about, as the client names them: an anonymous id (a device or browser), the
/// app's user id, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The session an anonymous id names ([`SessionUuid::for_external_id`]).
    pub anonymous: Option<SessionUuid>,
    pub user_id: Option<UserId>,
}

impl Caller {
    /// The UUID a call without an anonymous id lands in when its user has none yet: a stable
    /// one of the user id, so every such call of one user lands in the same session. Made of
    /// `user:` and the id, so that it is never an anonymous id's (nor the user id itself when
    /// that is a UUID).
    pub fn user_fallback_uuid(project: &Project, user_id: &UserId) -> SessionUuid {
        SessionUuid::for_external_id(project, &format!("user:{}", user_id.as_str()))
    }
}

/// What a call says.
#[derive(Debug, Clone, PartialEq)]
pub enum CallKind {
    /// The caller's traits: with a user id, an identify (traits into the user); without one,
    /// attributes of the session only.
    Identify { traits: Attributes },
    /// The caller's user belongs to this company.
    Group { company: CompanyIdentify },
    /// The sessions of `previous` (a user id, or an anonymous id) are the caller's user's.
    Alias { previous: String },
    /// An event. Its `uuid` is provisional until the caller is resolved.
    Event(Box<EventRequest>),
}

/// One call, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub caller: Caller,
    pub kind: CallKind,
    /// The client's id for the call: an event's `event_id`, and the root of the ids of the
    /// events an identify records, so a retried call is stored once.
    pub event_id: Option<EventId>,
    /// Where it was captured (the events it records say so).
    pub source: Source,
    /// When it happened (the events it records take this time).
    pub occurred_at: Timestamp,
    /// The visit context it carries (page, campaign, IP, user agent, locale, screen), when it
    /// carries any: it feeds the session and its enrichment as an init would. Its `uuid` is
    /// set when the caller is resolved; it never records a `page.visit`.
    pub visit: Option<InitRequest>,
}

/// When a call happened, from the times its sender gave: `timestamp` corrected by the
/// sender's clock skew (`sent_at` against `received_at`), else the time it arrived. With it,
/// whether the time is the client's alone, so that a retry keeps it exactly: only without
/// `sent_at`, as a correction depends on when each attempt arrived. A time out of the
/// plausible range is refused with the reason.
pub fn call_time(
    timestamp: Option<Timestamp>,
    sent_at: Option<Timestamp>,
    received_at: Timestamp,
    limits: &Limits,
) -> Result<(Timestamp, bool), String> {
    let Some(timestamp) = timestamp else {
        return Ok((received_at, false));
    };
    let at = skew_corrected(timestamp, sent_at, received_at);
    check_event_time(at, received_at, limits).map(|at| (at, sent_at.is_none()))
}
