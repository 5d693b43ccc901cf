//! Numeric ids for sessions and events, as the reference shows (`"id": 18`), without a counter
//! write per item: each process reserves a block of ids with one atomic add on the sequence item
//! and hands them out from memory (the hi/lo pattern). Ids are unique and roughly increasing;
//! a block a process never finishes leaves a gap, which is harmless.

use std::sync::Mutex;

use super::item::get_i64;
use super::keys::{SEQ_PK, SEQ_SK};
use super::table::{Key, StoreError, StoreResult, Table, Update, UpdateOp};

const SEQ_ATTR: &str = "next";

pub struct IdAllocator {
    block_size: i64,
    /// (next id to hand out, last id of the block); empty when next > last.
    block: Mutex<(i64, i64)>,
}

impl IdAllocator {
    pub fn new(block_size: i64) -> Self {
        IdAllocator {
            block_size: block_size.max(1),
            block: Mutex::new((1, 0)),
        }
    }

    fn take(&self) -> Option<i64> {
        let mut block = self.block.lock().unwrap_or_else(|e| e.into_inner());
        if block.0 <= block.1 {
            let id = block.0;
            block.0 += 1;
            Some(id)
        } else {
            None
        }
    }

    pub async fn next<T: Table>(&self, table: &T) -> StoreResult<i64> {
        if let Some(id) = self.take() {
            return Ok(id);
        }
        let item = table
            .update(Update {
                key: Key::new(SEQ_PK, SEQ_SK),
                ops: vec![UpdateOp::Add(SEQ_ATTR.into(), self.block_size)],
                condition: None,
            })
            .await?;
        let last = get_i64(&item, SEQ_ATTR)
            .ok_or_else(|| StoreError::Internal("id sequence without a number".into()))?;
        let first = last - self.block_size + 1;
        let mut block = self.block.lock().unwrap_or_else(|e| e.into_inner());
        // Another task may have refilled meanwhile; keep whichever block has ids left.
        if block.0 > block.1 {
            *block = (first + 1, last);
        }
        Ok(first)
    }
}
