//! Sessions: init with its raw context, enrichment that never overwrites a newer init,
//! attribute merges, and session/show's one query.

use serde_json::Value;

use super::deletion::is_deleted;
use super::visits::{StoredVisit, visit_fields};
use super::{Repo, expired, expiry_op, json_map, now_attr};
use crate::domain::project::Project;
use crate::domain::settings::ProjectSettings;
use crate::domain::time::Timestamp;
use crate::domain::values::{Attributes, SessionUuid};
use crate::store::item::{Attr, Item, get_s};
use crate::store::keys::{self, SK};
use crate::store::table::{
    Condition, Key, Query, Read, SortRange, StoreError, StoreResult, Table, Update, UpdateOp,
};

/// Attribute names of a session item that are not shown to clients.
pub mod session_attr {
    /// The latest init's context as sent, input of enrichment.
    pub const CONTEXT: &str = "context";
    /// The first init's context, input of `first_touch`.
    pub const FIRST_CONTEXT: &str = "first_context";
    /// Micro-timestamp of the latest init: enrichment of an older init must not overwrite it.
    pub const INIT_SEQ: &str = "init_seq";
    /// The user the UUID was last identified as (`POST /identify`): its events carry it.
    pub const USER_ID: &str = "user_id";
    /// That user's company, as the identify that linked them said.
    pub const COMPANY_ID: &str = "company_id";
}

/// How many events session/show returns.
pub const SESSION_EVENTS_LIMIT: usize = 100;

/// What an init writes, before enrichment.
#[derive(Debug, Clone)]
pub struct InitWrite {
    pub uuid: SessionUuid,
    /// The context to enrich: `{url: {...}, client: {...}}` as sent, with request-derived
    /// IP and user agent filled in.
    pub context: Value,
    pub user_attributes: Option<Attributes>,
    pub custom_data: Option<Attributes>,
    /// The project's retention (the context's IP is already as the project stores it).
    pub settings: ProjectSettings,
}

/// A session and its newest events.
#[derive(Debug, Clone)]
pub struct SessionWithEvents {
    pub session: Item,
    pub events: Vec<Item>,
}

impl<T: Table> Repo<T> {
    pub(super) fn session_key(project: &Project, uuid: &SessionUuid) -> Key {
        Key::new(
            keys::session_pk(project.as_str(), &uuid.to_string()),
            keys::SESSION_SK,
        )
    }

    /// A new session's identity fields, for a session written whole.
    pub(super) async fn identity_item(
        &self,
        uuid: &SessionUuid,
        now: Timestamp,
    ) -> StoreResult<Item> {
        let id = self.ids.next(&self.table).await?;
        Ok(Item::from([
            ("id".into(), Attr::n(id)),
            ("uuid".into(), Attr::S(uuid.to_string())),
            ("created_at".into(), now_attr(now)),
            ("updated_at".into(), now_attr(now)),
        ]))
    }

    /// The operations that make sure a session item exists with its identity fields.
    pub(super) async fn identity_ops(
        &self,
        uuid: &SessionUuid,
        now: Timestamp,
    ) -> StoreResult<Vec<UpdateOp>> {
        let id = self.ids.next(&self.table).await?;
        Ok(vec![
            UpdateOp::SetIfAbsent("id".into(), Attr::n(id)),
            UpdateOp::SetIfAbsent("uuid".into(), Attr::S(uuid.to_string())),
            UpdateOp::SetIfAbsent("created_at".into(), now_attr(now)),
            UpdateOp::Set("updated_at".into(), now_attr(now)),
        ])
    }

    /// Creates or continues a session with an init's raw context. Returns the stored item,
    /// whose `init_seq` the enrichment of this init must match.
    pub async fn init_session(&self, project: &Project, init: &InitWrite) -> StoreResult<Item> {
        let now = self.now();
        let context = Attr::from_json(&init.context);
        let mut ops = self.identity_ops(&init.uuid, now).await?;
        ops.push(UpdateOp::Set(session_attr::CONTEXT.into(), context.clone()));
        ops.push(UpdateOp::SetIfAbsent(
            session_attr::FIRST_CONTEXT.into(),
            context,
        ));
        ops.push(UpdateOp::Set(
            session_attr::INIT_SEQ.into(),
            Attr::n(now.micros()),
        ));
        if let Some(attrs) = &init.user_attributes {
            ops.push(UpdateOp::MergeMap(
                "user_attributes".into(),
                json_map(attrs),
            ));
        }
        if let Some(data) = &init.custom_data {
            ops.push(UpdateOp::Set("custom_data".into(), Attr::M(json_map(data))));
        }
        ops.push(expiry_op(&init.settings, now));
        self.table
            .update(Update {
                key: Self::session_key(project, &init.uuid),
                ops,
                condition: None,
            })
            .await
    }

    /// Reads a session item.
    pub async fn get_session(
        &self,
        project: &Project,
        uuid: &SessionUuid,
    ) -> StoreResult<Option<Item>> {
        self.table.get(&Self::session_key(project, uuid)).await
    }

    /// Reads a session item, strongly consistent: for a decision that must see the latest
    /// write (whether a queued job's init is there yet).
    pub async fn get_session_consistent(
        &self,
        project: &Project,
        uuid: &SessionUuid,
    ) -> StoreResult<Option<Item>> {
        let key = Self::session_key(project, uuid);
        self.table.read(Read::new(&key).consistent()).await
    }

    /// Writes the fields enrichment owns, only if no newer init has happened since `init_seq`.
    /// Returns false when the job was stale and nothing was written.
    pub async fn apply_enrichment(
        &self,
        project: &Project,
        uuid: &SessionUuid,
        init_seq: i64,
        fields: Vec<(String, Attr)>,
        first_touch: Option<Attr>,
    ) -> StoreResult<bool> {
        let mut ops: Vec<UpdateOp> = fields
            .into_iter()
            .map(|(name, value)| UpdateOp::Set(name, value))
            .collect();
        if let Some(first) = first_touch {
            ops.push(UpdateOp::SetIfAbsent("first_touch".into(), first));
        }
        ops.push(UpdateOp::Set("enriched_at".into(), now_attr(self.now())));
        let update = Update {
            key: Self::session_key(project, uuid),
            ops,
            condition: Some(Condition::Equals(
                session_attr::INIT_SEQ.into(),
                Attr::n(init_seq),
            )),
        };
        match self.table.update(update).await {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Merges (or with `replace`, replaces) the session's attribute map, creating a minimal
    /// session for an unknown UUID: ingest never drops data.
    pub async fn set_attributes(
        &self,
        project: &Project,
        uuid: &SessionUuid,
        attributes: &Attributes,
        replace: bool,
        settings: &ProjectSettings,
    ) -> StoreResult<Item> {
        let now = self.now();
        let mut ops = self.identity_ops(uuid, now).await?;
        ops.push(expiry_op(settings, now));
        if replace {
            ops.push(UpdateOp::Set(
                "attributes".into(),
                Attr::M(json_map(attributes)),
            ));
        } else {
            ops.push(UpdateOp::MergeMap(
                "attributes".into(),
                json_map(attributes),
            ));
        }
        self.table
            .update(Update {
                key: Self::session_key(project, uuid),
                ops,
                condition: None,
            })
            .await
    }

    /// The session and its newest events, newest first, in one query. The session carries
    /// its UUID's `visits` and `last_activity_at` (from the visit item above it).
    pub async fn session_with_events(
        &self,
        project: &Project,
        uuid: &SessionUuid,
    ) -> StoreResult<Option<SessionWithEvents>> {
        let now = self.now();
        let mut session = None;
        let mut visit = None;
        let mut events = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .table
                .query(Query {
                    index: None,
                    partition: keys::session_pk(project.as_str(), &uuid.to_string()),
                    range: SortRange::AtLeast(keys::EVENT_SK_PREFIX.into()),
                    ascending: false,
                    // Above the events: the visit, the session and the open-visit items.
                    limit: SESSION_EVENTS_LIMIT + 3,
                    start_after: after.take(),
                    skip: 0,
                })
                .await?;
            let mut hidden = false;
            for item in page.items {
                match get_s(&item, SK) {
                    Some(keys::SESSION_SK) => session = Some(item),
                    Some(keys::VISIT_SK) => visit = Some(item),
                    Some(sk) if sk.starts_with(keys::EVENT_SK_PREFIX) => {
                        if is_deleted(&item) {
                            hidden = true;
                        } else if !expired(&item, now) {
                            events.push(item);
                        }
                    }
                    _ => {}
                }
            }
            // Deleted events took places on the page: read on for the newest hundred that are
            // there. Only then: a session's usual read stays one request. (Expired events are
            // the oldest, so there is nothing newer past them.)
            match page.last {
                Some(last) if hidden && events.len() < SESSION_EVENTS_LIMIT => after = Some(last),
                _ => break,
            }
        }
        let Some(mut session) = session.filter(|s| !expired(s, now)) else {
            return Ok(None);
        };
        let visit = StoredVisit::from_item(visit.as_ref(), now);
        session.extend(visit_fields(&visit).map(|(name, value)| (name.to_owned(), value)));
        Ok(Some(SessionWithEvents {
            session,
            events: events.into_iter().take(SESSION_EVENTS_LIMIT).collect(),
        }))
    }
}
