//! The repository: every domain rule about sessions, events and keys, written once over the
//! `Table` contract and so shared by both engines.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::cursor::{CursorCodec, CursorError, CursorState};
use super::ids::IdAllocator;
use super::item::{Attr, Item, get_i64, get_s};
use super::keys::{self, GSI1, GSI1_PK, GSI1_SK, PK, SK, TTL_ATTR};
use super::table::{
    Condition, Key, Query, Read, SortRange, StoreError, StoreResult, Table, Update, UpdateOp,
    key_item,
};
use crate::clock::{SharedClock, Timestamp};
use crate::model::requests::Sort;
use crate::settings::ProjectSettings;
use crate::validate::{Attributes, EventId, EventName, SessionUuid};

/// Attribute names of a session item that are not shown to clients.
pub mod session_attr {
    /// The latest init's context as sent, input of enrichment.
    pub const CONTEXT: &str = "context";
    /// The first init's context, input of `first_touch`.
    pub const FIRST_CONTEXT: &str = "first_context";
    /// Micro-timestamp of the latest init: enrichment of an older init must not overwrite it.
    pub const INIT_SEQ: &str = "init_seq";
}

/// How many events session/show returns.
pub const SESSION_EVENTS_LIMIT: usize = 100;

/// A validated project name: lowercase letters, digits, `-` and `_`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Project(String);

impl Project {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Project(text.to_owned()))
        } else {
            Err(format!(
                "project names are 1-64 characters of a-z, 0-9, '-' and '_' (got {text:?})"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Browser-safe: write, and read one session by UUID.
    Public,
    /// Server-side: everything, including listing events across sessions.
    Secret,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Public => "public",
            Scope::Secret => "secret",
        }
    }
}

/// A stored key, looked up by the hash of the raw key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub project: Project,
    pub scope: Scope,
    pub revoked: bool,
}

/// What [`Repo::register_key`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRegistration {
    /// The key was new and is now stored.
    Registered,
    /// The key was stored already, for this project and scope, and is not revoked.
    AlreadyRegistered,
    /// The key is stored for another project or scope (these); it was left as it is.
    Conflict { project: Project, scope: Scope },
    /// The key is stored and revoked (for whichever project); it stays revoked.
    Revoked,
}

/// A freshly generated key pair; the raw keys are shown once and stored only as hashes.
#[derive(Debug, Clone)]
pub struct KeyPair {
    pub project: Project,
    pub public_key: String,
    pub secret_key: String,
}

/// The SHA-256 of a raw key, hex: what the table stores and the cache is keyed by.
pub fn hash_key(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The result of recording an event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventOutcome {
    pub event_id: String,
    /// The client's `event_id` had been recorded before; nothing new was stored.
    pub duplicate: bool,
}

/// A new event, validated.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub uuid: SessionUuid,
    pub name: EventName,
    pub attributes: Attributes,
    pub occurred_at: Timestamp,
    /// `occurred_at` came from the client, not from the server's clock.
    pub stamped_by_client: bool,
    pub event_id: Option<EventId>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// The project's anonymization and retention.
    pub settings: ProjectSettings,
}

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

/// One page of an event listing.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub rows: Vec<Item>,
    pub page: u64,
    pub total: u64,
    pub next_cursor: Option<String>,
}

/// Why an event listing could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Cursor(#[from] CursorError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The repository over one table engine.
pub struct Repo<T> {
    table: T,
    clock: SharedClock,
    ids: IdAllocator,
    /// Signs and checks event/show's cursors. The secret is the deployment's (see
    /// [`Repo::with_cursor_secret`]); without one, a random secret of this process.
    cursor: CursorCodec,
}

/// The session's attributes an event copies, plus its expiry: `context` alone may be
/// kilobytes, and an event needs two strings of it.
const SESSION_FIELDS_FOR_EVENTS: &[&[&str]] = &[
    &["id"],
    &["ip_address"],
    &[session_attr::CONTEXT, "client", "ipAddress"],
    &[session_attr::CONTEXT, "client", "userAgent"],
    &[TTL_ATTR],
];

/// How far a session's expiry may trail its newest event's before an event moves it. A
/// session's expiry must follow its last activity of any kind, so its attribution outlives
/// the events that keep arriving; moving it on every event would double an event's writes.
/// With this slack an active session is written at most once an hour for it, and expires at
/// most an hour before its last event does: never later than the retention allows.
const EXPIRY_SLACK_SECS: i64 = 3600;

/// Whether an event at `now` must move the session's expiry: retention is on and the stored
/// expiry trails the event's by more than the slack, or retention is off and the session
/// still carries an expiry from when it was on (the events no longer expire; nor may it).
fn expiry_lags(session: &Item, settings: &ProjectSettings, now: Timestamp) -> bool {
    match (settings.expires_at(now), get_i64(session, TTL_ATTR)) {
        (Some(target), Some(stored)) => stored < target - EXPIRY_SLACK_SECS,
        (Some(_), None) | (None, Some(_)) => true,
        (None, None) => false,
    }
}

/// How many events a trailing DynamoDB count may be behind before a page number past it is
/// answered empty without a read: seconds of the stream's delay at any realistic rate.
const COUNT_LAG_ALLOWANCE: u64 = 10_000;

/// An item past its `expires_at`. DynamoDB's TTL deletes such items within days of expiry and
/// the embedded sweeper within a minute; until then reads leave them out, so what the API
/// returns honours a project's retention to the second.
fn expired(item: &Item, now: Timestamp) -> bool {
    get_i64(item, TTL_ATTR).is_some_and(|at| at <= now.seconds())
}

fn now_attr(t: Timestamp) -> Attr {
    Attr::S(t.to_string())
}

fn json_map(attributes: &Attributes) -> BTreeMap<String, Attr> {
    attributes
        .iter()
        .map(|(k, v)| (k.clone(), Attr::from_json(v)))
        .collect()
}

impl<T: Table> Repo<T> {
    pub fn new(table: T, clock: SharedClock) -> Self {
        Repo {
            table,
            clock,
            ids: IdAllocator::new(100),
            cursor: CursorCodec::random(),
        }
    }

    /// Signs cursors with the deployment's secret, so every process of it (each Lambda
    /// instance, each server) accepts the cursors of the others.
    pub fn with_cursor_secret(mut self, secret: &[u8]) -> Self {
        self.cursor = CursorCodec::new(secret.to_vec());
        self
    }

    pub fn table(&self) -> &T {
        &self.table
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    // ---- keys ----

    /// Stores a key (by hash) for a project and scope, unless the key is stored already: then
    /// nothing changes, and the answer says what is there (the same registration, another
    /// project's or scope's, or a revoked key, which stays revoked).
    pub async fn register_key(
        &self,
        project: &Project,
        scope: Scope,
        raw: &str,
    ) -> StoreResult<KeyRegistration> {
        let now = self.now();
        let hash = hash_key(raw);
        let item = Item::from([
            (PK.into(), Attr::S(keys::key_pk(&hash))),
            (SK.into(), Attr::s(keys::KEY_SK)),
            ("project".into(), Attr::s(project.as_str())),
            ("scope".into(), Attr::s(scope.as_str())),
            ("created_at".into(), now_attr(now)),
        ]);
        match self.table.put(item, Some(Condition::NotExists)).await {
            Ok(()) => return Ok(KeyRegistration::Registered),
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
        // Key items are never deleted, so the one that refused the write is there to read.
        let existing = self.find_key_by_hash(&hash).await?.ok_or_else(|| {
            StoreError::Unavailable("the key exists but cannot be read back yet; try again".into())
        })?;
        Ok(if existing.revoked {
            KeyRegistration::Revoked
        } else if existing.project == *project && existing.scope == scope {
            KeyRegistration::AlreadyRegistered
        } else {
            KeyRegistration::Conflict {
                project: existing.project,
                scope: existing.scope,
            }
        })
    }

    /// Generates and stores a new public/secret key pair.
    pub async fn create_key_pair(&self, project: &Project) -> StoreResult<KeyPair> {
        let pair = KeyPair {
            project: project.clone(),
            public_key: random_token("pk_"),
            secret_key: random_token("sk_"),
        };
        self.register_key(project, Scope::Public, &pair.public_key)
            .await?;
        self.register_key(project, Scope::Secret, &pair.secret_key)
            .await?;
        Ok(pair)
    }

    /// Looks a key up by the hash of its raw text.
    pub async fn find_key_by_hash(&self, hash: &str) -> StoreResult<Option<KeyRecord>> {
        let Some(item) = self
            .table
            .get(&Key::new(keys::key_pk(hash), keys::KEY_SK))
            .await?
        else {
            return Ok(None);
        };
        let project = get_s(&item, "project").and_then(|p| Project::parse(p).ok());
        let scope = match get_s(&item, "scope") {
            Some("public") => Some(Scope::Public),
            Some("secret") => Some(Scope::Secret),
            _ => None,
        };
        match (project, scope) {
            (Some(project), Some(scope)) => Ok(Some(KeyRecord {
                project,
                scope,
                revoked: item.contains_key("revoked_at"),
            })),
            _ => Err(StoreError::Internal("malformed key item".into())),
        }
    }

    /// Marks a key revoked (by raw key or by its hash). Returns false for an unknown key.
    pub async fn revoke_key(&self, raw_or_hash: &str) -> StoreResult<bool> {
        let hash = if raw_or_hash.len() == 64 && raw_or_hash.bytes().all(|b| b.is_ascii_hexdigit())
        {
            raw_or_hash.to_ascii_lowercase()
        } else {
            hash_key(raw_or_hash)
        };
        let update = Update {
            key: Key::new(keys::key_pk(&hash), keys::KEY_SK),
            ops: vec![UpdateOp::Set("revoked_at".into(), now_attr(self.now()))],
            condition: Some(Condition::Exists),
        };
        match self.table.update(update).await {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    // ---- sessions ----

    fn session_key(project: &Project, uuid: &SessionUuid) -> Key {
        Key::new(
            keys::session_pk(project.as_str(), &uuid.to_string()),
            keys::SESSION_SK,
        )
    }

    /// A new session's identity fields, for a session written whole.
    async fn identity_item(&self, uuid: &SessionUuid, now: Timestamp) -> StoreResult<Item> {
        let id = self.ids.next(&self.table).await?;
        Ok(Item::from([
            ("id".into(), Attr::n(id)),
            ("uuid".into(), Attr::S(uuid.to_string())),
            ("created_at".into(), now_attr(now)),
            ("updated_at".into(), now_attr(now)),
        ]))
    }

    /// The operations that make sure a session item exists with its identity fields.
    async fn identity_ops(&self, uuid: &SessionUuid, now: Timestamp) -> StoreResult<Vec<UpdateOp>> {
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
        ops.push(init.settings.expiry_op(now));
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
        ops.push(settings.expiry_op(now));
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

    /// The session and its newest events, newest first, in one query.
    pub async fn session_with_events(
        &self,
        project: &Project,
        uuid: &SessionUuid,
    ) -> StoreResult<Option<SessionWithEvents>> {
        let page = self
            .table
            .query(Query {
                index: None,
                partition: keys::session_pk(project.as_str(), &uuid.to_string()),
                range: SortRange::AtLeast(keys::EVENT_SK_PREFIX.into()),
                ascending: false,
                limit: SESSION_EVENTS_LIMIT + 1,
                start_after: None,
                skip: 0,
            })
            .await?;
        let now = self.now();
        let mut items = page.items.into_iter();
        match items.next() {
            Some(first) if get_s(&first, SK) == Some(keys::SESSION_SK) && !expired(&first, now) => {
                Ok(Some(SessionWithEvents {
                    session: first,
                    events: items
                        .filter(|event| !expired(event, now))
                        .take(SESSION_EVENTS_LIMIT)
                        .collect(),
                }))
            }
            _ => Ok(None),
        }
    }

    // ---- events ----

    /// What an event copies from its session (`id`, the addresses), read without the rest of
    /// the item, which holds kilobytes of context an event never needs. Makes sure the session
    /// exists and that its expiry keeps up with the event's (see [`EXPIRY_SLACK_SECS`]).
    async fn session_for_event(
        &self,
        project: &Project,
        uuid: &SessionUuid,
        settings: &ProjectSettings,
        now: Timestamp,
    ) -> StoreResult<Item> {
        let key = Self::session_key(project, uuid);
        let found = self
            .table
            .read(Read::new(&key).only(SESSION_FIELDS_FOR_EVENTS))
            .await?;
        if let Some(session) = &found {
            if expired(session, now) {
                // Past its retention, only waiting for deletion: gone, as far as anyone can
                // read. It is replaced, not revived; the first of racing events does it.
                let mut fresh = key_item(&key);
                fresh.extend(self.identity_item(uuid, now).await?);
                if let Some(at) = settings.expires_at(now) {
                    fresh.insert(TTL_ATTR.into(), Attr::n(at));
                }
                let stale = session.get(TTL_ATTR).cloned().unwrap_or(Attr::Null);
                match self
                    .table
                    .put(fresh.clone(), Some(Condition::Equals(TTL_ATTR.into(), stale)))
                    .await
                {
                    Ok(()) => return Ok(fresh),
                    Err(StoreError::ConditionFailed) => {
                        return self
                            .table
                            .read(Read::new(&key).consistent().only(SESSION_FIELDS_FOR_EVENTS))
                            .await?
                            .ok_or_else(|| StoreError::Internal("session vanished".into()));
                    }
                    Err(e) => return Err(e),
                }
            }
            if !expiry_lags(session, settings, now) {
                return Ok(found.unwrap_or_default());
            }
        }
        // No session yet (an event before any init), or its expiry must move with this
        // activity: one update does both, and changes nothing else.
        let mut ops: Vec<UpdateOp> = self
            .identity_ops(uuid, now)
            .await?
            .into_iter()
            // `updated_at` is the profile's last change, which an event is not.
            .map(|op| match op {
                UpdateOp::Set(name, value) if name == "updated_at" => {
                    UpdateOp::SetIfAbsent(name, value)
                }
                op => op,
            })
            .collect();
        ops.push(settings.expiry_op(now));
        self.table
            .update(Update {
                key,
                ops,
                condition: None,
            })
            .await
    }

    /// Records an event. Idempotent on the client's `event_id`: a retry stores nothing and
    /// reports `duplicate`. An unknown UUID gets a minimal session.
    pub async fn record_event(
        &self,
        project: &Project,
        event: NewEvent,
    ) -> StoreResult<EventOutcome> {
        let now = self.now();
        let uuid = event.uuid.to_string();
        let pk = keys::session_pk(project.as_str(), &uuid);
        let session = self
            .session_for_event(project, &event.uuid, &event.settings, now)
            .await?;
        let occurred_at = event.occurred_at.to_string();
        let expires_at = event.settings.expires_at(now);
        let client_keyed = event.event_id.is_some();
        let event_id = event.event_id.unwrap_or_else(EventId::new_v4).to_string();
        let mut sk = keys::event_sk(&occurred_at, &event_id);

        // A client-stamped event with the client's id has a key that is wholly the client's, so
        // the conditional put below recognises a retry by itself. Only an event the server
        // stamps needs a marker: a retry would get a new time, so a new key.
        if client_keyed && !event.stamped_by_client {
            // The marker is written first, pointing at the event's sort key. A retry finds the
            // marker; if the event it points at is missing (the first attempt died between the
            // two writes), the retry writes it, so a retried event is neither lost nor doubled.
            let mut marker = Item::from([
                (PK.into(), Attr::S(pk.clone())),
                (SK.into(), Attr::S(keys::event_id_sk(&event_id))),
                ("event_sk".into(), Attr::S(sk.clone())),
            ]);
            if let Some(at) = expires_at {
                marker.insert(TTL_ATTR.into(), Attr::n(at));
            }
            if let Err(e) = self.table.put(marker, Some(Condition::NotExists)).await {
                if !matches!(e, StoreError::ConditionFailed) {
                    return Err(e);
                }
                let existing = self
                    .table
                    .get(&Key::new(pk.clone(), keys::event_id_sk(&event_id)))
                    .await?;
                if let Some(prior_sk) = existing.as_ref().and_then(|m| get_s(m, "event_sk")) {
                    if self
                        .table
                        .get(&Key::new(pk.clone(), prior_sk))
                        .await?
                        .is_some()
                    {
                        return Ok(EventOutcome {
                            event_id,
                            duplicate: true,
                        });
                    }
                    sk = prior_sk.to_owned();
                }
            }
        }

        // Reuse the time embedded in the sort key, which a repaired retry takes from the marker.
        let occurred_at = sk
            .strip_prefix(keys::EVENT_SK_PREFIX)
            .and_then(|rest| rest.split_once('#'))
            .map_or(occurred_at, |(t, _)| t.to_owned());
        let context = session.get(session_attr::CONTEXT).and_then(Attr::as_m);
        let client = context.and_then(|c| c.get("client")).and_then(Attr::as_m);
        let from_session = |name: &str| client.and_then(|c| c.get(name)).cloned();
        let ip = event
            .ip_address
            .map(Attr::S)
            .or_else(|| session.get("ip_address").cloned())
            .or_else(|| from_session("ipAddress"))
            // Also cuts an address stored before the project turned anonymization on.
            .and_then(|ip| match ip {
                Attr::S(text) => event.settings.stored_ip_text(&text).map(Attr::S),
                other => Some(other),
            })
            .unwrap_or(Attr::Null);
        let user_agent = event
            .user_agent
            .map(Attr::S)
            .or_else(|| from_session("userAgent"))
            .unwrap_or(Attr::Null);
        let id = self.ids.next(&self.table).await?;
        let mut item = Item::from([
            (PK.into(), Attr::S(pk.clone())),
            (SK.into(), Attr::S(sk)),
            (
                GSI1_PK.into(),
                Attr::S(keys::name_pk(project.as_str(), event.name.as_str())),
            ),
            (
                GSI1_SK.into(),
                Attr::S(keys::name_sk(&occurred_at, &event_id, &uuid)),
            ),
            ("id".into(), Attr::n(id)),
            (
                "session_id".into(),
                session.get("id").cloned().unwrap_or(Attr::Null),
            ),
            ("uuid".into(), Attr::S(uuid)),
            ("name".into(), Attr::s(event.name.as_str())),
            ("attributes".into(), Attr::M(json_map(&event.attributes))),
            ("ip_address".into(), ip),
            ("user_agent".into(), user_agent),
            ("occurred_at".into(), Attr::S(occurred_at)),
            ("created_at".into(), now_attr(now)),
            ("updated_at".into(), now_attr(now)),
            ("event_id".into(), Attr::S(event_id.clone())),
        ]);
        if let Some(at) = expires_at {
            item.insert(TTL_ATTR.into(), Attr::n(at));
        }
        // The item and its index entry are the whole write: no counter is touched here (see
        // `Table::index_count`), so one event costs what its two copies cost.
        match self.table.put(item, Some(Condition::NotExists)).await {
            Ok(()) => Ok(EventOutcome {
                event_id,
                duplicate: false,
            }),
            // Only a client-keyed event can meet its own key again: this is its retry.
            Err(StoreError::ConditionFailed) if client_keyed => Ok(EventOutcome {
                event_id,
                duplicate: true,
            }),
            Err(e) => Err(e),
        }
    }

    /// How many events of a name a project has: a count the engine keeps per index partition,
    /// never a read of the events.
    pub async fn event_total(&self, project: &Project, name: &EventName) -> StoreResult<u64> {
        self.table
            .index_count(GSI1, &keys::name_pk(project.as_str(), name.as_str()))
            .await
    }

    /// One page of a project's events of one name. A cursor continues exactly after the previous
    /// page with a single index query whatever the depth; a bare page number reads from the
    /// nearer end of the index.
    pub async fn list_events(
        &self,
        project: &Project,
        name: &EventName,
        sort: Sort,
        per_page: u32,
        page: u64,
        cursor: Option<&str>,
    ) -> Result<EventPage, ListError> {
        let codec = &self.cursor;
        let total = self.event_total(project, name).await?;
        let per_page = u64::from(per_page.max(1));
        let partition = keys::name_pk(project.as_str(), name.as_str());
        let ascending = sort == Sort::Asc;
        let query = |ascending: bool, limit: usize, skip: u64, start_after: Option<Item>| Query {
            index: Some(GSI1),
            partition: partition.clone(),
            range: SortRange::All,
            ascending,
            limit,
            start_after,
            skip: usize::try_from(skip).unwrap_or(usize::MAX),
        };

        let (page, mut rows, more) = if let Some(text) = cursor {
            let state = codec.decode(text, project.as_str(), name.as_str(), sort.as_str())?;
            let result = self
                .table
                .query(query(
                    ascending,
                    per_page as usize + 1,
                    0,
                    Some(state.after),
                ))
                .await?;
            let mut rows = result.items;
            let more = rows.len() as u64 > per_page;
            rows.truncate(per_page as usize);
            (state.page, rows, more)
        } else {
            let offset = (page - 1).saturating_mul(per_page);
            // The total may steer the read only where it is exact (the embedded engine): on
            // DynamoDB it trails new events by the stream's delay, and a page placed by it
            // would repeat or skip rows. There, every numbered page steps over `offset` keys
            // from the front (keys only; cursors avoid even that).
            let exact = self.table.counts_are_exact();
            // Past the total (allowing for a trailing count) a page is empty without a read, so
            // a huge page number costs nothing.
            let beyond = if exact { total } else { total.saturating_add(COUNT_LAG_ALLOWANCE) };
            if offset > 0 && offset >= beyond {
                (page, Vec::new(), false)
            } else if !exact || offset.saturating_mul(2) <= total {
                // Near the front: step over `offset` index keys in the requested order.
                let limit = per_page as usize + 1;
                let mut rows = self
                    .table
                    .query(query(ascending, limit, offset, None))
                    .await?
                    .items;
                let more = rows.len() as u64 > per_page;
                rows.truncate(per_page as usize);
                (page, rows, more)
            } else {
                // Near the back: step from the other end, which passes fewer keys, and reverse.
                let end = total - offset;
                let start = end.saturating_sub(per_page);
                let mut rows = self
                    .table
                    .query(query(!ascending, (end - start) as usize, start, None))
                    .await?
                    .items;
                rows.reverse();
                (page, rows, offset + per_page < total)
            }
        };
        // Rows past their retention but not yet deleted are left out: the page may run short
        // by them, the total counts them until they are gone.
        let now = self.now();
        let last_read = rows.last().map(last_key);
        rows.retain(|row| !expired(row, now));
        let next_cursor = match last_read {
            Some(after) if more => Some(codec.encode(&CursorState {
                project: project.as_str().to_owned(),
                name: name.as_str().to_owned(),
                sort: sort.as_str().to_owned(),
                page: page + 1,
                after,
            })),
            _ => None,
        };
        // A total that has not caught up yet never reads as fewer rows than were just listed.
        let total = if rows.is_empty() {
            total
        } else {
            total.max((page - 1).saturating_mul(per_page) + rows.len() as u64)
        };
        Ok(EventPage {
            rows,
            page,
            total,
            next_cursor,
        })
    }
}

/// The table and index key attributes of an event row: where the next page starts.
fn last_key(item: &Item) -> Item {
    [PK, SK, GSI1_PK, GSI1_SK]
        .into_iter()
        .filter_map(|n| item.get(n).map(|v| (n.to_owned(), v.clone())))
        .collect()
}

/// Shared handle to a repository.
pub type SharedRepo<T> = Arc<Repo<T>>;
