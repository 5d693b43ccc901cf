//! What a `DynamoTable` costs: the read and write capacity units DynamoDB reports for each
//! call, summed.
//!
//! On-demand tables bill exactly these units (a read request unit per 4 KB strongly consistent
//! read, half for eventually consistent; a write request unit per 1 KB written, twice that in a
//! transaction, and again for every index the item lands in), so a meter over a real workload
//! is the bill for it. Asking DynamoDB for the figures is free; the meter is off unless a table
//! is built with one, so production calls carry no extra fields.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::types::ConsumedCapacity;

/// Capacity units, as DynamoDB reports them (multiples of 0.5).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    pub write: f64,
    /// Of `write`, the units spent on global secondary indexes.
    pub index_write: f64,
    /// Calls made, whether or not DynamoDB reported units for them.
    pub calls: u64,
}

impl std::ops::Sub for Units {
    type Output = Units;

    fn sub(self, earlier: Units) -> Units {
        Units {
            read: self.read - earlier.read,
            write: self.write - earlier.write,
            index_write: self.index_write - earlier.index_write,
            calls: self.calls - earlier.calls,
        }
    }
}

/// Running totals, shared by every clone of a metered table. Units are kept in thousandths so
/// they add atomically without a lock.
#[derive(Debug, Default)]
pub struct CapacityMeter {
    read_milli: AtomicU64,
    write_milli: AtomicU64,
    index_write_milli: AtomicU64,
    calls: AtomicU64,
}

fn milli(units: f64) -> u64 {
    (units * 1000.0).round().max(0.0) as u64
}

impl CapacityMeter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The totals so far; subtract two readings for the cost of what happened between them.
    pub fn read(&self) -> Units {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 1000.0;
        Units {
            read: get(&self.read_milli),
            write: get(&self.write_milli),
            index_write: get(&self.index_write_milli),
            calls: self.calls.load(Ordering::Relaxed),
        }
    }

    /// Adds one call's reports: none for a call DynamoDB gave no figure for, several for a
    /// batch or a transaction. DynamoDB's `capacity_units` is the call's whole cost, table and
    /// indexes; whether those were read or write units depends on the call, which only the
    /// caller knows.
    pub(crate) fn record<'a>(
        &self,
        kind: Kind,
        consumed: impl IntoIterator<Item = &'a ConsumedCapacity>,
    ) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        for c in consumed {
            let total = milli(c.capacity_units().unwrap_or(0.0));
            match kind {
                Kind::Read => {
                    self.read_milli.fetch_add(total, Ordering::Relaxed);
                }
                Kind::Write => {
                    let indexes: f64 = c
                        .global_secondary_indexes()
                        .map(|m| m.values().filter_map(|i| i.capacity_units()).sum())
                        .unwrap_or(0.0);
                    self.write_milli.fetch_add(total, Ordering::Relaxed);
                    self.index_write_milli
                        .fetch_add(milli(indexes), Ordering::Relaxed);
                }
            }
        }
    }
}

/// Whether a call's units were read or write units.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Read,
    Write,
}
