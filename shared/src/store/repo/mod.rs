//! The repository: every domain rule over the storage, written once over the `Table` contract
//! and so shared by both engines, split by aggregate: `keys`, `sessions`, `visits`,
//! `events` (and `event_scan`, their reading for queries; `deletion`, their deletion and the
//! erasure of sessions), `users` (users, companies, identify), `projects` (settings).

mod deletion;
mod event_scan;
mod events;
mod keys;
mod migrations;
mod projects;
mod sessions;
mod users;
mod visits;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use deletion::{PurgeReport, PurgeStatus, is_deleted};
pub use event_scan::{EventIndex, EventReader, EventScan};
pub use events::{EventOutcome, EventPage, EventStats, ListError, event_fits};
pub use migrations::Backfill;
pub use projects::expiry_op;
pub use sessions::{InitWrite, SESSION_EVENTS_LIMIT, SessionWithEvents, session_attr};
pub use users::{MAX_LISTED_UUIDS, MemberPage, UserRecord, traits};
pub use visits::{OpenVisit, PageVisit, Settled, StoredVisit};

use super::cursor::CursorCodec;
use super::ids::IdAllocator;
use super::item::{Attr, Item, get_i64};
use super::keys::TTL_ATTR;
use super::table::Table;
use crate::domain::time::{SharedClock, Timestamp};
use crate::domain::values::Attributes;

/// The repository over one table engine.
pub struct Repo<T> {
    table: T,
    clock: SharedClock,
    ids: IdAllocator,
    /// Signs and checks event/show's cursors. The secret is the deployment's (see
    /// [`Repo::with_cursor_secret`]); without one, a random secret of this process.
    cursor: CursorCodec,
}

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

    /// Signs and checks the cursors of every listing.
    pub fn cursors(&self) -> &CursorCodec {
        &self.cursor
    }

    pub fn table(&self) -> &T {
        &self.table
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Shared handle to a repository.
pub type SharedRepo<T> = Arc<Repo<T>>;
