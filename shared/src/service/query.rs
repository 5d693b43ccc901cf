//! Event queries, whichever door they came through (`/event/query`'s OData, the profile
//! store's `$filter` and KQL preview): the filter is planned onto an index, the index is read
//! in time order chunk by chunk, and every row read is evaluated against the whole filter, so
//! the answer never depends on the plan, only its cost does. A query that would read more than
//! the configured budget before filling its page stops with `query_too_expensive`.

use std::collections::HashMap;
use std::sync::Arc;

use super::App;
use crate::domain::project::Project;
use crate::domain::time::Timestamp;
use crate::domain::values::{EventName, SessionUuid};
use crate::error::Error;
use crate::query::{Access, Field, Filter, Row, Value, matches, plan};
use crate::store::item::{Attr, Item, get_s};
use crate::store::repo::{EventIndex, EventScan, session_attr};
use crate::store::{keys, track_id};

/// A query as the services take it, whichever syntax it was written in.
#[derive(Debug, Clone)]
pub struct EventQuery {
    pub filter: Filter,
    /// Newest first (the default of both syntaxes).
    pub descending: bool,
    /// Matching events passed over before the first returned.
    pub skip: usize,
    /// At most this many returned.
    pub take: usize,
}

/// A query's answer: the matching events in order, each with its session where one exists
/// (what the profile store's `User`, `PageTitle` and a `PageUri` an event lacks come from).
#[derive(Debug, Clone)]
pub struct QueriedEvents {
    pub rows: Vec<QueriedEvent>,
    /// Events read to find them: what the query cost.
    pub read: usize,
    /// The index the planner chose (`device`, `name`, `time`).
    pub index: &'static str,
}

#[derive(Debug, Clone)]
pub struct QueriedEvent {
    pub event: Item,
    pub session: Option<Arc<Item>>,
}

impl App {
    /// Runs `query` over `project`'s events (see the module's documentation).
    pub async fn query_events(
        &self,
        project: &Project,
        query: &EventQuery,
    ) -> Result<QueriedEvents, Error> {
        let plan = plan(&query.filter);
        let index = match &plan.access {
            Access::Device(id) => EventIndex::Device(SessionUuid::for_external_id(project, id)),
            Access::Name(name) => match EventName::parse(name, &self.config.limits) {
                Ok(name) => EventIndex::Name(name),
                // No event can have a name that would not be accepted.
                Err(_) => return Ok(nothing("name")),
            },
            Access::Time => EventIndex::Time,
        };
        let label = index.label();
        tracing::debug!(plan = %plan, index = label, "query plan");
        if matches!((plan.from, plan.to), (Some(from), Some(to)) if from > to) || query.take == 0 {
            return Ok(nothing(label));
        }
        let budget = self.config.query_read_budget;
        let needs_session = mentions(&query.filter, &|f| {
            matches!(f, Field::UserEmail | Field::UserName | Field::PageUri)
        });
        let mut sessions = Sessions::default();
        let mut reader = self.store.read_events(
            project,
            EventScan {
                index,
                from: plan.from,
                to: plan.to,
                descending: query.descending,
                expect: query.skip.saturating_add(query.take),
                after: None,
            },
        );
        let mut read = 0usize;
        let mut skipped = 0usize;
        let mut rows = Vec::new();
        'read: loop {
            let chunk = reader.next_chunk().await?;
            if chunk.is_empty() {
                break;
            }
            for event in chunk {
                read += 1;
                if read > budget {
                    return Err(Error::QueryTooExpensive { budget });
                }
                let session = match needs_session {
                    true => sessions.get(self, project, &event).await?,
                    false => None,
                };
                let row = EventFields {
                    event: &event,
                    session: session.as_deref(),
                };
                if !matches(&query.filter, &row) {
                    continue;
                }
                if skipped < query.skip {
                    skipped += 1;
                    continue;
                }
                rows.push(QueriedEvent { event, session });
                if rows.len() == query.take {
                    break 'read;
                }
            }
        }
        // The sessions of the rows returned, for what their rows show of them: one read per
        // session, not per event.
        for row in rows.iter_mut().filter(|r| r.session.is_none()) {
            row.session = sessions.get(self, project, &row.event).await?;
        }
        Ok(QueriedEvents {
            rows,
            read,
            index: label,
        })
    }
}

fn nothing(index: &'static str) -> QueriedEvents {
    QueriedEvents {
        rows: Vec::new(),
        read: 0,
        index,
    }
}

/// Whether the filter names a field `wanted` accepts anywhere.
fn mentions(filter: &Filter, wanted: &dyn Fn(&Field) -> bool) -> bool {
    match filter {
        Filter::True => false,
        Filter::And(parts) | Filter::Or(parts) => parts.iter().any(|p| mentions(p, wanted)),
        Filter::Not(inner) => mentions(inner, wanted),
        Filter::Compare { field, .. }
        | Filter::Text { field, .. }
        | Filter::In { field, .. }
        | Filter::Between { field, .. }
        | Filter::IsEmpty { field, .. } => wanted(field),
    }
}

/// The sessions a query has read, by UUID (a missing one is remembered as missing).
#[derive(Default)]
struct Sessions(HashMap<String, Option<Arc<Item>>>);

impl Sessions {
    async fn get(
        &mut self,
        app: &App,
        project: &Project,
        event: &Item,
    ) -> Result<Option<Arc<Item>>, Error> {
        let Some(uuid) = get_s(event, "uuid") else {
            return Ok(None);
        };
        if let Some(found) = self.0.get(uuid) {
            return Ok(found.clone());
        }
        let session = match SessionUuid::parse(uuid) {
            Ok(parsed) => app.store.get_session(project, &parsed).await?.map(Arc::new),
            Err(_) => None,
        };
        self.0.insert(uuid.to_owned(), session.clone());
        Ok(session)
    }
}

/// An event (and its session) as the query language sees it. One home for the mapping of the
/// profile store's fields onto our event model; the compat route's items follow it too.
pub struct EventFields<'a> {
    pub event: &'a Item,
    pub session: Option<&'a Item>,
}

impl EventFields<'_> {
    /// The device as its sender named it: its own id when it was not a UUID, else the UUID.
    pub fn device_id(&self) -> Option<&str> {
        get_s(self.event, "device_id").or_else(|| get_s(self.event, "uuid"))
    }

    /// The page the event happened on, else its session's landing page.
    pub fn page_uri(&self) -> Option<&str> {
        get_s(self.event, "page_url").or_else(|| self.session_url("href"))
    }

    /// The title of the session's page, where the SDK sent one.
    pub fn page_title(&self) -> Option<&str> {
        self.session_url("title")
    }

    /// The session's `email` or `name` attribute (set through `/attributes`, or sent with
    /// init's user attributes).
    pub fn user(&self, name: &str) -> Option<&str> {
        let session = self.session?;
        ["attributes", "user_attributes"].iter().find_map(|map| {
            session
                .get(*map)
                .and_then(Attr::as_m)
                .and_then(|m| m.get(name))
                .and_then(Attr::as_s)
        })
    }

    pub fn track_id(&self) -> Option<String> {
        track_id::encode(get_s(self.event, "uuid")?, get_s(self.event, keys::SK)?)
    }

    pub fn occurred_at(&self) -> Option<Timestamp> {
        get_s(self.event, "occurred_at").and_then(Timestamp::parse_rfc3339)
    }

    fn session_url(&self, name: &str) -> Option<&str> {
        self.session?
            .get(session_attr::CONTEXT)
            .and_then(Attr::as_m)?
            .get("url")
            .and_then(Attr::as_m)?
            .get(name)
            .and_then(Attr::as_s)
    }
}

impl Row for EventFields<'_> {
    fn field(&self, field: &Field) -> Value {
        let text = |v: Option<&str>| v.map_or(Value::Null, |s| Value::Str(s.to_owned()));
        match field {
            Field::EventType => text(get_s(self.event, "name")),
            Field::DeviceId => text(self.device_id()),
            Field::EventTime => self.occurred_at().map_or(Value::Null, Value::Time),
            Field::CountryCode => text(get_s(self.event, "country_code")),
            Field::PageUri => text(self.page_uri()),
            Field::Value => text(get_s(self.event, "label")),
            Field::RemoteAddress => text(get_s(self.event, "ip_address")),
            Field::TrackId => self.track_id().map_or(Value::Null, Value::Str),
            Field::SessionId => match self.event.get("session_id") {
                Some(Attr::N(n) | Attr::S(n)) => Value::Str(n.clone()),
                _ => Value::Null,
            },
            Field::UserEmail => text(self.user("email")),
            Field::UserName => text(self.user("name")),
            Field::Payload(key) => match self
                .event
                .get("attributes")
                .and_then(Attr::as_m)
                .and_then(|m| m.get(key))
            {
                Some(Attr::S(s)) => Value::Str(s.clone()),
                Some(Attr::N(n)) => n.parse().map_or(Value::Null, Value::Num),
                Some(Attr::Bool(b)) => Value::Bool(*b),
                // Maps and lists are not scalars: a filter on one sees nothing.
                _ => Value::Null,
            },
        }
    }
}
