//! Bringing items written by an earlier version up to the current layout, for `atrack table`.
//! Each walks the whole table once (a scan: administration, never a request path) and is
//! safe to run again or alongside traffic.

use super::Repo;
use super::deletion::is_deleted;
use crate::store::item::{Attr, Item, get_s};
use crate::store::keys::{self, GSI1_PK, GSI2_PK, GSI2_SK, SK};
use crate::store::table::{Condition, Key, StoreError, StoreResult, Table, Update, UpdateOp};

/// How many items one page of the scan reads.
const PAGE: usize = 500;

/// What a backfill did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backfill {
    /// Items read.
    pub scanned: u64,
    /// Events given their time index entry.
    pub indexed: u64,
}

impl<T: Table> Repo<T> {
    /// Puts every stored event that has no time index entry (written before the time index
    /// existed) into it, so queries on the time index see it. Deleted events stay out. Each
    /// event is updated only while it is still listed under its name, so one deleted in the
    /// meantime is left alone. `progress` hears the running totals after each page.
    pub async fn backfill_time_index(
        &self,
        mut progress: impl FnMut(Backfill),
    ) -> StoreResult<Backfill> {
        let mut done = Backfill::default();
        let mut after = None;
        loop {
            let page = self.table.scan(after.take(), PAGE).await?;
            for item in &page.items {
                done.scanned += 1;
                let Some(update) = time_index_entry(item) else {
                    continue;
                };
                match self.table.update(update).await {
                    Ok(_) => done.indexed += 1,
                    Err(StoreError::ConditionFailed) => {}
                    Err(e) => return Err(e),
                }
            }
            progress(done);
            match page.last {
                Some(last) => after = Some(last),
                None => return Ok(done),
            }
        }
    }
}

/// The update that gives a live event without one its time index entry.
fn time_index_entry(item: &Item) -> Option<Update> {
    let sk = get_s(item, SK)?;
    if !sk.starts_with(keys::EVENT_SK_PREFIX) || item.contains_key(GSI2_PK) || is_deleted(item) {
        return None;
    }
    let listed_in = item.get(GSI1_PK)?.clone();
    let pk = get_s(item, keys::PK)?;
    let (at, event_id) = sk.strip_prefix(keys::EVENT_SK_PREFIX)?.split_once('#')?;
    let uuid = get_s(item, "uuid")?;
    let project = pk.strip_prefix("P#")?.split_once("#U#")?.0;
    Some(Update {
        key: Key::new(pk, sk),
        ops: vec![
            UpdateOp::Set(
                GSI2_PK.into(),
                Attr::S(keys::time_pk(project, keys::time_shard(event_id))),
            ),
            UpdateOp::Set(GSI2_SK.into(), Attr::S(keys::name_sk(at, event_id, uuid))),
        ],
        condition: Some(Condition::Equals(GSI1_PK.into(), listed_in)),
    })
}
