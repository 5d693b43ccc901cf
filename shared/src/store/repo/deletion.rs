//! Deletion in two stages, and erasure. See `store::keys` for the layout: a deleted event's
//! index keys move to a `PURGE#` partition and its counts to its project's pending deletions,
//! in one conditional update, so it leaves every read at once; the purge later turns it into a
//! tombstone of its keys. Erasing a session deletes its whole partition outright.

use super::Repo;
use super::sessions::session_attr;
use crate::domain::project::Project;
use crate::domain::time::Timestamp;
use crate::domain::values::SessionUuid;
use crate::store::item::{Attr, Item, get_i64, get_s};
use crate::store::keys::{
    self, COUNTED_IN, DELETED_AT, GSI1, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, PK, PURGE_SHARDS, SK,
    TTL_ATTR,
};
use crate::store::table::{
    Condition, Key, Query, Read, SortRange, StoreError, StoreResult, Table, Update, UpdateOp, Write,
};

/// How many items one request of a purge or an erasure reads (and writes back in batches).
const PAGE: usize = 500;

/// What a purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Deleted events turned into tombstones.
    pub purged: usize,
}

impl<T: Table> Repo<T> {
    /// Deletes the event stored under `uuid` with sort key `sk` (stage one): hidden from every
    /// read and count at once, purged later. `false` when there is no such event, or it is
    /// deleted already (whoever deletes it first wins; the other is told it is not there).
    pub async fn delete_event(
        &self,
        project: &Project,
        uuid: &SessionUuid,
        sk: &str,
    ) -> StoreResult<bool> {
        let Some(event) = self.get_event(project, uuid, sk).await? else {
            return Ok(false);
        };
        let Some(listed_in) = event.get(GSI1_PK).filter(|_| !is_deleted(&event)) else {
            return Ok(false);
        };
        let pk = keys::session_pk(project.as_str(), &uuid.to_string());
        let now = self.now().to_string();
        let update = Update {
            key: Key::new(pk.clone(), sk),
            ops: vec![
                UpdateOp::Set(
                    GSI1_PK.into(),
                    Attr::S(keys::purge_pk(keys::purge_shard(&pk, sk))),
                ),
                UpdateOp::Set(GSI1_SK.into(), Attr::S(keys::purge_sk(&now, &pk, sk))),
                UpdateOp::Remove(GSI2_PK.into()),
                UpdateOp::Remove(GSI2_SK.into()),
                UpdateOp::Set(
                    COUNTED_IN.into(),
                    Attr::L(vec![Attr::S(keys::pending_deletes_counter(
                        project.as_str(),
                    ))]),
                ),
                UpdateOp::Set(DELETED_AT.into(), Attr::S(now)),
            ],
            // Still listed where it was: not deleted by anyone else meanwhile.
            condition: Some(Condition::Equals(GSI1_PK.into(), listed_in.clone())),
        };
        match self.table.update(update).await {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// How many of a project's deleted events await their purge (exact on the embedded
    /// engine; trailing by the stream's delay on DynamoDB, like every count).
    pub async fn pending_deletes(&self, project: &Project) -> StoreResult<u64> {
        self.table
            .count(&keys::pending_deletes_counter(project.as_str()))
            .await
    }

    /// Purges every deleted event (stage two): each becomes a tombstone of its keys, which
    /// leaves its `PURGE#` partition and its project's pending count, and expires after
    /// [`keys::TOMBSTONE_SECS`]. Reads each purge partition once, page by page, so it ends
    /// even while deletions go on (those wait for the next purge). Records when it finished.
    pub async fn purge_deleted(&self) -> StoreResult<PurgeReport> {
        let now = self.now();
        let mut report = PurgeReport::default();
        for shard in 0..PURGE_SHARDS {
            report.purged += self
                .rewrite_partition(Some(GSI1), keys::purge_pk(shard), |item| {
                    tombstone(item, now).map(Write::Put)
                })
                .await? as usize;
        }
        // The purge before this one becomes the previous: the two give the interval the
        // purges actually keep, whatever schedules them.
        let key = Key::new(keys::PURGE_STATUS_PK, keys::PURGE_STATUS_SK);
        let mut ops = vec![UpdateOp::Set(LAST_PURGE.into(), Attr::n(now.seconds()))];
        if let Some(last) = self.purge_status().await?.last {
            ops.push(UpdateOp::Set(PREVIOUS_PURGE.into(), Attr::n(last)));
        }
        self.table
            .update(Update {
                key,
                ops,
                condition: None,
            })
            .await?;
        Ok(report)
    }

    /// When the last two purges finished (epoch seconds), as far as any has.
    pub async fn purge_status(&self) -> StoreResult<PurgeStatus> {
        let key = Key::new(keys::PURGE_STATUS_PK, keys::PURGE_STATUS_SK);
        let item = self.table.get(&key).await?;
        Ok(PurgeStatus {
            last: item.as_ref().and_then(|i| get_i64(i, LAST_PURGE)),
            previous: item.as_ref().and_then(|i| get_i64(i, PREVIOUS_PURGE)),
        })
    }

    /// Erases a session: its item, its visit, every event, deleted or not, and every marker:
    /// the whole partition, and with it every index entry and count of its items. Returns how
    /// many items went (0: there was nothing under that UUID).
    pub async fn erase_session(&self, project: &Project, uuid: &SessionUuid) -> StoreResult<u64> {
        let partition = keys::session_pk(project.as_str(), &uuid.to_string());
        // The UUID leaves its user first: a user never lists a UUID whose data is gone.
        let session = self
            .table
            .read(Read::new(&Key::new(partition.clone(), keys::SESSION_SK)).consistent())
            .await?;
        if let Some(user_id) = session
            .as_ref()
            .and_then(|s| get_s(s, session_attr::USER_ID))
        {
            self.table
                .delete(&Key::new(
                    keys::user_pk(project.as_str(), user_id),
                    keys::user_uuid_sk(&uuid.to_string()),
                ))
                .await?;
        }
        self.rewrite_partition(None, partition, |item| {
            Some(Write::Delete(Key::new(get_s(item, PK)?, get_s(item, SK)?)))
        })
        .await
    }

    /// Reads every item of one partition of the table (`index: None`) or of an index, a page
    /// at a time, continuing after each page (so items rewritten out of it are not met again),
    /// and writes what `rewrite` makes of each page's items in one batch. Returns how many
    /// writes it made.
    async fn rewrite_partition(
        &self,
        index: Option<&'static str>,
        partition: String,
        rewrite: impl Fn(&Item) -> Option<Write>,
    ) -> StoreResult<u64> {
        let mut written = 0u64;
        let mut after = None;
        loop {
            let page = self
                .table
                .query(Query {
                    index,
                    partition: partition.clone(),
                    range: SortRange::All,
                    ascending: true,
                    limit: PAGE,
                    start_after: after.take(),
                    skip: 0,
                })
                .await?;
            let writes: Vec<Write> = page.items.iter().filter_map(&rewrite).collect();
            written += writes.len() as u64;
            self.table.batch_write(writes).await?;
            match page.last {
                Some(last) => after = Some(last),
                None => return Ok(written),
            }
        }
    }
}

const LAST_PURGE: &str = "last_purge_at";
const PREVIOUS_PURGE: &str = "previous_purge_at";

/// When the last two purges finished, in epoch seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeStatus {
    pub last: Option<i64>,
    pub previous: Option<i64>,
}

/// Whether an item of a session's partition is a deleted event (or its tombstone): every read
/// of the partition leaves it out.
pub fn is_deleted(item: &Item) -> bool {
    item.contains_key(DELETED_AT)
}

/// What a deleted event becomes when purged: its keys, when it was deleted, and an expiry.
fn tombstone(item: &Item, now: Timestamp) -> Option<Item> {
    Some(Item::from([
        (PK.into(), Attr::s(get_s(item, PK)?)),
        (SK.into(), Attr::s(get_s(item, SK)?)),
        (DELETED_AT.into(), item.get(DELETED_AT)?.clone()),
        (
            TTL_ATTR.into(),
            Attr::n(now.seconds().saturating_add(keys::TOMBSTONE_SECS)),
        ),
    ]))
}
