//! The single-table design, in one screen. Every key starts with the project, so no query can
//! cross tenants.
//!
//! | item          | PK                      | SK                                 | GSI1PK / GSI1SK                                     |
//! |---------------|-------------------------|------------------------------------|-----------------------------------------------------|
//! | API key       | `KEY#<sha256 hex>`      | `KEY`                              |                                                     |
//! | session       | `P#<project>#U#<uuid>`  | `~SESSION`                         |                                                     |
//! | event         | `P#<project>#U#<uuid>`  | `EV#<occurred_at>#<event_id>`      | `P#<project>#N#<name>` / `<occurred_at>#<event_id>#<uuid>` |
//! |               |                         |                                    | GSI2: `P#<project>#T#<shard>` / `<occurred_at>#<event_id>#<uuid>` |
//! | event-id mark | `P#<project>#U#<uuid>`  | `EID#<event_id>`                   |                                                     |
//! | visit         | `P#<project>#U#<uuid>`  | `~VISIT`                           |                                                     |
//! | open visit    | `P#<project>#U#<uuid>`  | `~OPEN`                            | `VISITS#<shard>` / `<deadline>#<PK>`                 |
//! | deleted event | `P#<project>#U#<uuid>`  | `EV#<occurred_at>#<event_id>`      | `PURGE#<shard>` / `<deleted_at>#<PK>#<SK>`          |
//! | purge status  | `PURGE`                 | `STATUS`                           |                                                     |
//! | user          | `P#<project>#USR#<id>`  | `~USER`                            |                                                     |
//! | user's UUID   | `P#<project>#USR#<id>`  | `U#<uuid>`                         |                                                     |
//! | company       | `P#<project>#CO#<id>`   | `~COMPANY`                         |                                                     |
//! | member        | `P#<project>#CO#<id>`   | `M#<user id>`                      | counted under `P#<project>#MEMBERS#<id>`            |
//! | settings      | `PROJECT#<project>`     | `SETTINGS`                         |                                                     |
//! | dropped count | `PROJECT#<project>`     | `DROPPED`                          |                                                     |
//! | index count   | `<GSI1PK>`              | `COUNT`                            |                                                     |
//! | stats count   | `P#<project>#CAT#<category>`, `…#DAY#<yyyy-mm-dd>`, `…#HOUR#<yyyy-mm-ddThh>` | `COUNT` |                          |
//! | counted run   | `CNT#<first eventID>`   | `CNT`                              |                                                     |
//! | stream status | `STREAM`                | `STATUS`                           |                                                     |
//! | shard cursor  | `SHARD#<shard id>`      | `POS`                              |                                                     |
//! | set aside     | `SHARD#<shard id>`      | `DLQ#<sequence number>`            |                                                     |
//! | id sequence   | `SEQ`                   | `SEQ`                              |                                                     |
//!
//! `~` sorts after `EV#`, so one descending query on a session's partition bounded below by
//! `EV#` returns the visit, the session and the open-visit items followed by the newest events:
//! session/show is one request. An event's write reads the session and its visit with one
//! query from `~SESSION` up.
//!
//! A visit's state (`~VISIT`: number, start, last activity) is a small item apart from the
//! session, so moving its last activity (once per UUID per stream batch on DynamoDB) costs one
//! write unit, not the kilobytes of a session. Its `~OPEN` item, present while the visit is
//! open and automatic events are on, is what the sweeper finds in GSI1: by the deadline it was
//! written with, in one of [`VISIT_SHARDS`] partitions. It is not moved as activity goes on
//! (that would be two index writes per touch); the sweeper moves it when it finds the visit
//! still active past it.
//!
//! The time index (GSI2, keys only) holds every event by project and time, spread over
//! [`TIME_SHARDS`] partitions: what a query with neither a device nor a name reads, merging
//! the shards' ranges in time order. Keys only, so its entry costs one write unit whatever the
//! event's size; the reader fetches the items it keeps.
//!
//! Deletion is two-stage. Deleting an event moves its index keys: out of its name's partition
//! and the time index, into one of [`PURGE_SHARDS`] `PURGE#` partitions of GSI1, and its
//! counts from its category, day and hour to its project's pending deletions. So it leaves
//! every listing, total and statistic at once, exactly once, on both engines, by the same
//! counting as any other change. The purge sweeper later reads the `PURGE#` partitions and
//! replaces each item by a tombstone of its keys (which a retried write of the event meets,
//! so it stays deleted) that expires after [`TOMBSTONE_SECS`].
//!
//! `occurred_at` is fixed-width UTC text (`2026-04-12T02:10:00.000000Z`), so string order is
//! time order. event/show is one query on GSI1 per page.
//!
//! A count is kept for every index partition and for every name an item lists in its
//! `counted_in` attribute: an event is counted under its category, the UTC day and the UTC
//! hour it was received (the analytics stats). Counts move when items come and go, expiry and
//! deletion included, and are never a read of the items.
//!
//! On DynamoDB the counts (event/show's `total`, the stats) are kept off the request path: the
//! table's stream feeds `engine::dynamo_counts`, which adds a run of a batch's events to each
//! count in one transaction together with a `CNT#` item listing the records of the run, so a
//! redelivered record is never counted twice, however Lambda splits its batches. The embedded
//! engine keeps its counts inside its own transactions.

/// Partition key attribute.
pub const PK: &str = "PK";
/// Sort key attribute.
pub const SK: &str = "SK";
/// The one global secondary index: events by project and name, in time order.
pub const GSI1: &str = "GSI1";
pub const GSI1_PK: &str = "GSI1PK";
pub const GSI1_SK: &str = "GSI1SK";
/// The time index: events by project and time, keys only (see [`TIME_SHARDS`]).
pub const GSI2: &str = "GSI2";
pub const GSI2_PK: &str = "GSI2PK";
pub const GSI2_SK: &str = "GSI2SK";
/// Epoch seconds after which DynamoDB TTL (or the embedded sweeper) removes an item.
pub const TTL_ATTR: &str = "expires_at";

/// The table's shape, shared by `atrack table create`, the embedded engine and template.yaml's
/// test: the key attributes, each global secondary index, and the TTL attribute.
#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub indexes: &'static [IndexDef],
    pub ttl_attribute: &'static str,
    /// What the table's stream carries: both images, so a removal still names the index
    /// partition it leaves (`engine::dynamo_counts`).
    pub stream_view_type: &'static str,
}

/// One global secondary index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDef {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub projection: Projection,
    /// Whether a count is kept per partition of the index (event/show's totals). The time
    /// index has none: nothing reads one, and on DynamoDB each would cost stream writes.
    pub counted: bool,
}

/// What an index entry carries besides its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// The whole item.
    All,
    /// The table's and the index's keys only: a query returns those, and the reader fetches
    /// the items it wants.
    KeysOnly,
}

pub const TABLE: TableDef = TableDef {
    partition_key: PK,
    sort_key: SK,
    indexes: &[
        IndexDef {
            name: GSI1,
            partition_key: GSI1_PK,
            sort_key: GSI1_SK,
            projection: Projection::All,
            counted: true,
        },
        IndexDef {
            name: GSI2,
            partition_key: GSI2_PK,
            sort_key: GSI2_SK,
            projection: Projection::KeysOnly,
            counted: false,
        },
    ],
    ttl_attribute: TTL_ATTR,
    stream_view_type: "NEW_AND_OLD_IMAGES",
};

/// The names of the counts an item is counted under besides its index partition: a list of
/// strings. The repository decides what is counted; the engines only count.
pub const COUNTED_IN: &str = "counted_in";

/// Events of one category.
pub fn category_counter(project: &str, category: &str) -> String {
    format!("P#{project}#CAT#{category}")
}

/// Events received on one UTC day (`2026-12-01`).
pub fn day_counter(project: &str, day: &str) -> String {
    format!("P#{project}#DAY#{day}")
}

/// Events received in one UTC hour (`2026-12-01T22`).
pub fn hour_counter(project: &str, hour: &str) -> String {
    format!("P#{project}#HOUR#{hour}")
}

/// Jobs waiting in the embedded enrichment queue (not `QUEUE`, the queue's own partition, where
/// a DynamoDB count item would read as a job).
pub const QUEUE_COUNTER: &str = "QUEUE#pending";

/// The stream consumer's progress on DynamoDB: when it last counted a batch, how many changes
/// it has counted in all (the analytics stats' `buffer_status`).
pub const STREAM_STATUS_PK: &str = "STREAM";
pub const STREAM_STATUS_SK: &str = "STATUS";

pub const SESSION_SK: &str = "~SESSION";
/// A UUID's visit state, in its session's partition (sorts after the session).
pub const VISIT_SK: &str = "~VISIT";
/// A UUID's open visit, in GSI1 while it awaits its end (sorts between events and session).
pub const OPEN_VISIT_SK: &str = "~OPEN";

/// How many GSI1 partitions the open visits are spread over. Every open visit's marker is
/// written once per visit (and again when the sweeper finds it still active), a few writes per
/// visit; sixteen partitions keep even a million visits an hour far below one partition's
/// 1,000 writes a second, and the sweeper reads sixteen short ranges a minute.
pub const VISIT_SHARDS: u32 = 16;

/// The GSI1 partition of open visits of one shard.
pub fn open_visits_pk(shard: u32) -> String {
    format!("VISITS#{shard:02}")
}

/// The shard of a UUID's open visit: spread by the UUID's own randomness.
pub fn open_visit_shard(uuid: &str) -> u32 {
    spread(uuid) % VISIT_SHARDS
}

/// A cheap, stable hash of random text (UUIDs), to pick a shard: the same on every run and
/// every machine, unlike the standard library's hasher.
fn spread(text: &str) -> u32 {
    text.bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
}

/// An open visit's GSI1 sort key: its deadline first (the sweeper reads up to now), then its
/// partition, so equal deadlines still sort one way on both engines.
pub fn open_visit_sk(deadline: &str, session_pk: &str) -> String {
    format!("{deadline}#{session_pk}")
}
pub const EVENT_SK_PREFIX: &str = "EV#";
pub const COUNT_SK: &str = "COUNT";

/// Marks a run of stream records, from the one with this eventID on, as counted (`ids`).
pub fn counted_batch_pk(first_event_id: &str) -> String {
    format!("CNT#{first_event_id}")
}
pub const COUNTED_BATCH_SK: &str = "CNT";

/// How far the stream poller has counted one shard.
pub fn shard_checkpoint_pk(shard_id: &str) -> String {
    format!("SHARD#{shard_id}")
}
pub const SHARD_CHECKPOINT_SK: &str = "POS";

/// A stream record the poller could not count and set aside, in its shard's partition.
pub fn dead_letter_sk(sequence: &str) -> String {
    format!("DLQ#{sequence}")
}

/// When an event was deleted: present on a deleted event and on its tombstone, which every
/// read of a session's partition leaves out.
pub const DELETED_AT: &str = "deleted_at";

/// How many GSI1 partitions deleted events wait in for their purge: sixteen keep a mass
/// deletion (a million events, the default cap) well within the index's write rate.
pub const PURGE_SHARDS: u32 = 16;

/// How long a purged event's tombstone stays: a client's retry of the event within it finds
/// the key taken and stores nothing; a retry later than a week would store it again.
pub const TOMBSTONE_SECS: i64 = 7 * 24 * 3600;

/// The GSI1 partition of deleted events of one shard.
pub fn purge_pk(shard: u32) -> String {
    format!("PURGE#{shard:02}")
}

/// The purge shard of an event, by its partition and sort key.
pub fn purge_shard(pk: &str, sk: &str) -> u32 {
    spread(pk).wrapping_add(spread(sk)) % PURGE_SHARDS
}

/// A deleted event's GSI1 sort key: when it was deleted, then its key (unique).
pub fn purge_sk(deleted_at: &str, pk: &str, sk: &str) -> String {
    format!("{deleted_at}#{pk}#{sk}")
}

/// The count of a project's deleted events not yet purged (the deletion cap reads it).
pub fn pending_deletes_counter(project: &str) -> String {
    format!("P#{project}#PENDING_DELETES")
}

/// When the purge sweeper last finished (`Retry-After` of a deletion past the cap).
pub const PURGE_STATUS_PK: &str = "PURGE";
pub const PURGE_STATUS_SK: &str = "STATUS";

/// A project's settings item (`settings.rs`).
pub fn settings_pk(project: &str) -> String {
    format!("PROJECT#{project}")
}
pub const SETTINGS_SK: &str = "SETTINGS";
/// The count of events a project's tracking plan dropped, beside its settings.
pub const DROPPED_SK: &str = "DROPPED";

pub fn key_pk(key_hash_hex: &str) -> String {
    format!("KEY#{key_hash_hex}")
}
pub const KEY_SK: &str = "KEY";

pub const SEQ_PK: &str = "SEQ";
pub const SEQ_SK: &str = "SEQ";

/// The partition holding one session and its events.
pub fn session_pk(project: &str, uuid: &str) -> String {
    format!("P#{project}#U#{uuid}")
}

/// A user's partition: the user item, and one item per UUID of theirs (so `user/show` is one
/// query, and moving a UUID between users is a delete and a put, never a rewrite of a list).
pub fn user_pk(project: &str, user_id: &str) -> String {
    format!("P#{project}#USR#{user_id}")
}

/// The user item, after the UUID items in its partition.
pub const USER_SK: &str = "~USER";
/// The prefix of a user's UUID items.
pub const USER_UUID_PREFIX: &str = "U#";

/// A user's UUID item's sort key.
pub fn user_uuid_sk(uuid: &str) -> String {
    format!("{USER_UUID_PREFIX}{uuid}")
}

/// A company's partition: the company item, and one member item per user.
pub fn company_pk(project: &str, company_id: &str) -> String {
    format!("P#{project}#CO#{company_id}")
}

/// The company item, after the member items in its partition.
pub const COMPANY_SK: &str = "~COMPANY";
/// The prefix of a company's member items.
pub const MEMBER_PREFIX: &str = "M#";

/// A member item's sort key.
pub fn member_sk(user_id: &str) -> String {
    format!("{MEMBER_PREFIX}{user_id}")
}

/// The count of a company's members (its member items list it in `counted_in`).
pub fn members_counter(project: &str, company_id: &str) -> String {
    format!("P#{project}#MEMBERS#{company_id}")
}

/// An event's sort key within its session's partition.
pub fn event_sk(occurred_at: &str, event_id: &str) -> String {
    format!("{EVENT_SK_PREFIX}{occurred_at}#{event_id}")
}

/// Marks a client-supplied `event_id` as seen, pointing at the event's sort key.
pub fn event_id_sk(event_id: &str) -> String {
    format!("EID#{event_id}")
}

/// GSI1 partition: one project's events of one name.
pub fn name_pk(project: &str, name: &str) -> String {
    format!("P#{project}#N#{name}")
}

/// How many partitions a project's time index is spread over. An index partition takes at
/// most 1,000 write units a second, and an entry (keys only) is one unit: eight shards take
/// 8,000 events a second for one project before DynamoDB throttles the index, several times
/// what one region's Lambda concurrency default lets the ingest functions write. Each shard
/// costs a reader one more Query per page (a few tenths of a read unit when it is short), so
/// there are no more than that.
pub const TIME_SHARDS: u32 = 8;

/// GSI2 partition: one shard of one project's events in time order.
pub fn time_pk(project: &str, shard: u32) -> String {
    format!("P#{project}#T#{shard}")
}

/// The time shard of an event: spread by its id's own randomness (not by the UUID, so one
/// busy device or server-side sender is spread too).
pub fn time_shard(event_id: &str) -> u32 {
    spread(event_id) % TIME_SHARDS
}

/// GSI1 sort key: time order, ties broken by event id, then by session. An event's table key
/// is unique only within its session, and two sessions may send one `event_id` at one time;
/// DynamoDB orders equal index sort keys arbitrarily (differently from run to run), so the
/// session's UUID makes every index key unique and the order total, the same on both engines.
/// (Keys written before the UUID was added sort by their time and id as before.)
pub fn name_sk(occurred_at: &str, event_id: &str, uuid: &str) -> String {
    format!("{occurred_at}#{event_id}#{uuid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_item_sorts_after_every_event() {
        let ev = event_sk(
            "2999-12-31T23:59:59.999999Z",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
        );
        assert!(SESSION_SK > ev.as_str());
        // The visit items sit beside the session, above every event.
        assert!(OPEN_VISIT_SK > ev.as_str());
        assert!(OPEN_VISIT_SK < SESSION_SK && SESSION_SK < VISIT_SK);
        assert!(event_id_sk("ffffffff").as_str() < EVENT_SK_PREFIX);
    }

    #[test]
    fn index_sort_keys_differ_for_one_time_and_id_in_two_sessions() {
        let at = "2026-04-12T02:10:00.000000Z";
        let id = "7d1c5b52-5f4f-4d47-9a45-6a4f9c3d2e10";
        let a = name_sk(at, id, "00000000-0000-4000-8000-000000000001");
        let b = name_sk(at, id, "00000000-0000-4000-8000-000000000002");
        assert_ne!(a, b);
        assert!(a < b);
        // Time still leads the order.
        assert!(b < name_sk("2026-04-12T02:10:00.000001Z", id, "0"));
    }

    #[test]
    fn keys_are_namespaced_by_project() {
        assert_eq!(session_pk("acme", "u1"), "P#acme#U#u1");
        assert_eq!(name_pk("acme", "checkout"), "P#acme#N#checkout");
        assert_ne!(session_pk("a", "b"), name_pk("a", "b"));
    }
}
