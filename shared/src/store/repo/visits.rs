//! Visits as stored: each UUID's visit state (`~VISIT`), the open-visit item the sweeper finds
//! (`~OPEN`, in GSI1 by deadline), and the automatic events (`domain::visit`).
//!
//! Exactly once, without locks: a visit is started by a write conditional on the number before
//! it, so of two processes that see the same gap one starts the visit and the other joins it;
//! a visit's start and end carry ids derived from the visit (`AutoEvent::event_id`) and are
//! written through the event-id marker, so the processes that race to record one (two sweeps,
//! a sweep and the activity that starts the next visit) store it once.

use serde_json::json;

use super::{Repo, expired, expiry_op};
use crate::domain::commands::EventRequest;
use crate::domain::event::{Category, EventType, Label, Priority, Source};
use crate::domain::plan::Verdict;
use crate::domain::project::Project;
use crate::domain::settings::ProjectSettings;
use crate::domain::time::Timestamp;
use crate::domain::values::{Attributes, Limits, SessionUuid};
use crate::domain::visit::{self, AutoEvent, ENDED_LABEL, STARTED_LABEL, VisitState, VisitStep};
use crate::store::activity::{self, LAST_ACTIVITY};
use crate::store::item::{Attr, Item, get_i64, get_s};
use crate::store::keys::{self, GSI1, GSI1_PK, GSI1_SK, PK, SK, TTL_ATTR};
use crate::store::table::{
    Condition, Key, Query, Read, SortRange, StoreError, StoreResult, Table, Update, UpdateOp,
};

/// The visit item's attributes.
const NUMBER: &str = "visit";
const STARTED: &str = "started_us";
const TIMEOUT: &str = "timeout_secs";

/// A UUID's visit item as read: its state, and the number the next start must find there
/// (an expired item's, whose state no longer counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredVisit {
    pub state: Option<VisitState>,
    stored_number: Option<i64>,
}

impl StoredVisit {
    /// Reads a `~VISIT` item.
    pub fn from_item(item: Option<&Item>, now: Timestamp) -> Self {
        let Some(item) = item else {
            return StoredVisit::default();
        };
        let stored_number = get_i64(item, NUMBER);
        let state = match (
            stored_number,
            get_i64(item, LAST_ACTIVITY),
            get_i64(item, TIMEOUT).and_then(|t| u32::try_from(t).ok()),
        ) {
            (Some(number), Some(last), Some(timeout_secs)) if !expired(item, now) => {
                Some(VisitState {
                    number,
                    started_at: Timestamp::from_micros(get_i64(item, STARTED).unwrap_or(last)),
                    last_activity: Timestamp::from_micros(last),
                    timeout_secs,
                })
            }
            _ => None,
        };
        StoredVisit {
            state,
            stored_number,
        }
    }
}

/// What session/show shows of a UUID's visits.
pub fn visit_fields(visit: &StoredVisit) -> [(&'static str, Attr); 2] {
    match &visit.state {
        Some(state) => [
            ("visits", Attr::n(state.number)),
            ("last_activity_at", Attr::S(state.last_activity.to_string())),
        ],
        None => [("visits", Attr::n(0)), ("last_activity_at", Attr::Null)],
    }
}

/// Whether activity moves its visit's last activity when it continues the visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// Here and now: an init (no stored event stands for it).
    Now,
    /// As the event is stored, and only if it is (a retry that stores nothing is no
    /// activity): by the embedded engine in the event's own transaction, by the stream's
    /// consumer on DynamoDB (`store::activity`).
    WithEvent,
}

/// The page an init was on, for its `page.visit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageVisit {
    pub href: Option<String>,
    pub path: Option<String>,
    pub referer: Option<String>,
    pub title: Option<String>,
}

/// An open visit the sweeper found past the deadline its item was written with.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenVisit {
    pub project: Project,
    pub uuid: SessionUuid,
    pub number: i64,
    key: Key,
}

/// What the sweeper did with an open visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Idle past its timeout: ended (its `session.end` recorded unless the plan excludes it).
    Ended,
    /// Active since: its item now waits for the later deadline.
    Extended,
    /// A later visit had started; the one that started it ended this one.
    Superseded,
}

fn visit_key(project: &Project, uuid: &SessionUuid) -> Key {
    Key::new(
        keys::session_pk(project.as_str(), &uuid.to_string()),
        keys::VISIT_SK,
    )
}

fn open_key(partition: &str) -> Key {
    Key::new(partition, keys::OPEN_VISIT_SK)
}

fn malformed_open() -> StoreError {
    StoreError::Internal("malformed open-visit item".into())
}

/// Who is active, when, and under which settings: what every step of a visit needs.
pub(super) struct Activity<'a> {
    pub project: &'a Project,
    pub uuid: &'a SessionUuid,
    /// The session an automatic event copies its id and addresses from.
    pub session: &'a Item,
    pub settings: &'a ProjectSettings,
    pub now: Timestamp,
}

/// An automatic event to record: which, of which visit, when, and what it says.
struct AutoRecord {
    kind: AutoEvent,
    visit: i64,
    occurred_at: Timestamp,
    label: Label,
    attributes: Attributes,
}

impl AutoRecord {
    /// A visit's start or end, which say nothing more than their label.
    fn bare(kind: AutoEvent, visit: i64, occurred_at: Timestamp) -> Self {
        let label = match kind {
            AutoEvent::SessionEnd => ENDED_LABEL,
            AutoEvent::SessionStart | AutoEvent::PageVisit => STARTED_LABEL,
        };
        AutoRecord {
            kind,
            visit,
            occurred_at,
            label: visit::label(label),
            attributes: Attributes::default(),
        }
    }
}

impl<T: Table> Repo<T> {
    /// The visit that the activity belongs to, given its UUID's stored visit: continues it
    /// (moving its last activity when `touch` says so here), or starts the next, recording
    /// the automatic events when the project has them on.
    pub(super) async fn visit_activity(
        &self,
        at: &Activity<'_>,
        stored: StoredVisit,
        touch: Touch,
    ) -> StoreResult<i64> {
        match visit::step(stored.state.as_ref(), at.now) {
            VisitStep::Continue(state) => {
                if touch == Touch::Now && at.now > state.last_activity {
                    self.touch_visit(&visit_key(at.project, at.uuid).pk, at.now)
                        .await?;
                }
                Ok(state.number)
            }
            VisitStep::Start { number, ended } => self.start_visit(at, stored, number, ended).await,
        }
    }

    /// Starts visit `number`, unless another process started it first (then this activity
    /// joins theirs). The automatic events go first, under their stable ids: whichever
    /// process gets to the state write, the events are there, once.
    async fn start_visit(
        &self,
        at: &Activity<'_>,
        stored: StoredVisit,
        number: i64,
        ended: Option<VisitState>,
    ) -> StoreResult<i64> {
        let Activity {
            project,
            uuid,
            settings,
            now,
            ..
        } = *at;
        if settings.auto_events {
            if let Some(ended) = ended {
                let end =
                    AutoRecord::bare(AutoEvent::SessionEnd, ended.number, ended.last_activity);
                self.record_auto(at, end).await?;
            }
            let start = AutoRecord::bare(AutoEvent::SessionStart, number, now);
            self.record_auto(at, start).await?;
        }
        let key = visit_key(project, uuid);
        let condition = match stored.stored_number {
            None => Condition::AbsentOrAtMost(NUMBER.into(), 0),
            Some(before) => Condition::Equals(NUMBER.into(), Attr::n(before)),
        };
        let update = Update {
            key: key.clone(),
            ops: vec![
                UpdateOp::Set(NUMBER.into(), Attr::n(number)),
                UpdateOp::Set(STARTED.into(), Attr::n(now.micros())),
                UpdateOp::Set(LAST_ACTIVITY.into(), Attr::n(now.micros())),
                UpdateOp::Set(
                    TIMEOUT.into(),
                    Attr::n(i64::from(settings.session_timeout_secs)),
                ),
                expiry_op(settings, now),
            ],
            condition: Some(condition),
        };
        match self.table.update(update).await {
            Ok(_) => {}
            Err(StoreError::ConditionFailed) => {
                // Started by another process meanwhile: this activity is part of that visit.
                let item = self.table.read(Read::new(&key).consistent()).await?;
                let now_stored = StoredVisit::from_item(item.as_ref(), now);
                return Ok(now_stored.state.map_or(number, |s| s.number));
            }
            Err(e) => return Err(e),
        }
        if settings.auto_events {
            let state = VisitState {
                number,
                started_at: now,
                last_activity: now,
                timeout_secs: settings.session_timeout_secs,
            };
            self.put_open_visit(project, uuid, &state, settings, now)
                .await?;
        }
        Ok(number)
    }

    /// Writes (or moves) a visit's open item, due at its deadline.
    async fn put_open_visit(
        &self,
        project: &Project,
        uuid: &SessionUuid,
        state: &VisitState,
        settings: &ProjectSettings,
        now: Timestamp,
    ) -> StoreResult<()> {
        let uuid_text = uuid.to_string();
        let pk = keys::session_pk(project.as_str(), &uuid_text);
        let mut item = Item::from([
            (
                GSI1_PK.into(),
                Attr::S(keys::open_visits_pk(keys::open_visit_shard(&uuid_text))),
            ),
            (
                GSI1_SK.into(),
                Attr::S(keys::open_visit_sk(&state.deadline().to_string(), &pk)),
            ),
            (PK.into(), Attr::S(pk)),
            (SK.into(), Attr::s(keys::OPEN_VISIT_SK)),
            ("project".into(), Attr::s(project.as_str())),
            ("uuid".into(), Attr::S(uuid_text)),
            (NUMBER.into(), Attr::n(state.number)),
        ]);
        if let Some(at) = settings.expires_at(now) {
            item.insert(TTL_ATTR.into(), Attr::n(at));
        }
        self.table.put(item, None).await
    }

    /// Moves a visit's last activity to `at` unless it is later already (`store::activity`):
    /// an init's, and the stream consumer's for the events of a batch.
    pub async fn touch_visit(&self, session_partition: &str, at: Timestamp) -> StoreResult<()> {
        match self
            .table
            .update(activity::touch(session_partition, at))
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Records an automatic event, if the project's plan keeps it (else counts it dropped).
    async fn record_auto(&self, at: &Activity<'_>, record: AutoRecord) -> StoreResult<()> {
        let AutoRecord {
            kind,
            visit,
            occurred_at,
            label,
            attributes,
        } = record;
        let Activity {
            project,
            uuid,
            session,
            settings,
            now,
        } = *at;
        let name = kind.name();
        match settings.plan.check(&name) {
            Verdict::Store => {}
            // The server's own names follow any naming, so only the lists exclude one.
            Verdict::Drop | Verdict::Invalid(_) => return self.count_dropped(project, 1).await,
        }
        let event = EventRequest {
            uuid: *uuid,
            name,
            attributes,
            label: Some(label),
            category: match kind {
                AutoEvent::PageVisit => Category::PageView,
                AutoEvent::SessionStart | AutoEvent::SessionEnd => Category::System,
            },
            priority: Priority::Low,
            kind: match kind {
                AutoEvent::SessionStart => EventType::SessionStart,
                AutoEvent::PageVisit => EventType::PageView,
                AutoEvent::SessionEnd => EventType::Track,
            },
            // A visit's events describe what a browser or an app did, wherever the init that
            // started the visit was sent from.
            source: Source::web_client(),
            occurred_at,
            // A start or end has a stable id but the server's time: its retries (another
            // process's record of it) are recognised by the event-id marker.
            stamped_by_client: false,
            event_id: kind.event_id(project, uuid, visit),
            ip_address: None,
            user_agent: None,
            page_url: None,
            referrer: None,
            place: None,
            device_id: None,
        };
        self.write_event(project, session, event, visit, settings, now)
            .await
            .map(|_| ())
    }

    /// A UUID's visit item, as [`Repo::visit_on_init`] takes it: read while the init writes
    /// the session, so the init waits for one round trip, not two.
    pub async fn visit_item(
        &self,
        project: &Project,
        uuid: &SessionUuid,
    ) -> StoreResult<Option<Item>> {
        self.table.get(&visit_key(project, uuid)).await
    }

    /// An init's part in its UUID's visits: continues or starts one (an init is activity,
    /// moved here on both engines, as no event of it may reach a stream) and, with automatic
    /// events on and a page to name, records its `page.visit`. `session` is the session
    /// item as the init left it, `visit` the visit item as read before. Returns the visit's
    /// number.
    pub async fn visit_on_init(
        &self,
        project: &Project,
        uuid: &SessionUuid,
        session: &Item,
        visit: Option<&Item>,
        page: Option<&PageVisit>,
        settings: &ProjectSettings,
    ) -> StoreResult<i64> {
        let now = self.now();
        let stored = StoredVisit::from_item(visit, now);
        let at = Activity {
            project,
            uuid,
            session,
            settings,
            now,
        };
        let number = self.visit_activity(&at, stored, Touch::Now).await?;
        if settings.auto_events
            && let Some(page) = page
        {
            let attributes = Attributes::parse(
                &json!({
                    "url": page.href,
                    "path": page.path,
                    "referer": page.referer,
                }),
                "attributes",
                &Limits::default(),
            )
            .unwrap_or_default();
            let label = visit::page_visit_label(
                page.title.as_deref(),
                page.path.as_deref(),
                page.href.as_deref(),
            );
            let page_visit = AutoRecord {
                kind: AutoEvent::PageVisit,
                visit: number,
                occurred_at: now,
                label,
                attributes,
            };
            self.record_auto(&at, page_visit).await?;
        }
        Ok(number)
    }

    /// Open visits of one shard whose item's deadline is at or before `cutoff`, oldest first.
    pub async fn due_open_visits(
        &self,
        shard: u32,
        cutoff: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<OpenVisit>> {
        let cutoff = cutoff.to_string();
        let page = self
            .table
            .query(Query {
                index: Some(GSI1),
                partition: keys::open_visits_pk(shard),
                range: SortRange::All,
                ascending: true,
                limit,
                start_after: None,
                skip: 0,
            })
            .await?;
        let mut due = Vec::new();
        for item in page.items {
            // The sort key starts with the deadline's fixed-width text.
            let deadline = get_s(&item, GSI1_SK)
                .and_then(|sk| sk.split_once('#'))
                .map(|(d, _)| d);
            if deadline.is_none_or(|d| d > cutoff.as_str()) {
                break;
            }
            let project = get_s(&item, "project").and_then(|p| Project::parse(p).ok());
            let uuid = get_s(&item, "uuid").and_then(|u| SessionUuid::parse(u).ok());
            let (Some(project), Some(uuid), Some(number), Some(pk)) =
                (project, uuid, get_i64(&item, NUMBER), get_s(&item, PK))
            else {
                return Err(malformed_open());
            };
            due.push(OpenVisit {
                key: open_key(pk),
                project,
                uuid,
                number,
            });
        }
        Ok(due)
    }

    /// Ends an open visit that has been idle past its timeout for `settle` more (the time the
    /// last activity may trail the events, on DynamoDB the stream's delay), records its
    /// `session.end` at its last activity, and removes its open item; or, if it was active
    /// since, moves the item to its new deadline.
    pub async fn settle_open_visit(
        &self,
        open: &OpenVisit,
        settings: &ProjectSettings,
        now: Timestamp,
        settle_micros: i64,
    ) -> StoreResult<Settled> {
        let key = visit_key(&open.project, &open.uuid);
        let item = self.table.read(Read::new(&key).consistent()).await?;
        let stored = StoredVisit::from_item(item.as_ref(), now);
        let state = match stored.state {
            Some(state) if state.number == open.number => state,
            // A later visit started (and its start recorded this one's end), or the UUID's
            // data is gone: nothing is open any more.
            _ => {
                self.table.delete(&open.key).await?;
                return Ok(Settled::Superseded);
            }
        };
        if state.deadline().micros().saturating_add(settle_micros) > now.micros() {
            self.put_open_visit(&open.project, &open.uuid, &state, settings, now)
                .await?;
            return Ok(Settled::Extended);
        }
        // The session only lends the event its id and addresses; an erased one lends nothing.
        let session = self
            .table
            .get(&Key::new(key.pk.clone(), keys::SESSION_SK))
            .await?
            .unwrap_or_default();
        let at = Activity {
            project: &open.project,
            uuid: &open.uuid,
            session: &session,
            settings,
            now,
        };
        let end = AutoRecord::bare(AutoEvent::SessionEnd, state.number, state.last_activity);
        self.record_auto(&at, end).await?;
        self.table.delete(&open.key).await?;
        Ok(Settled::Ended)
    }
}

/// The visit item and the session item of one partition, as the query of an event's write
/// returns them (`~SESSION` first).
pub(super) fn split_session_and_visit(items: Vec<Item>) -> (Option<Item>, Option<Item>) {
    let mut session = None;
    let mut visit = None;
    for item in items {
        match get_s(&item, SK) {
            Some(keys::SESSION_SK) => session = Some(item),
            Some(keys::VISIT_SK) => visit = Some(item),
            _ => {}
        }
    }
    (session, visit)
}
