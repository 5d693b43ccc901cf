//! The sweeper that ends idle visits (`session.end`): `atrack serve` runs it every few
//! seconds, the `sweep` function on AWS every minute. It reads only the open-visit index, by
//! deadline, never the sessions.

use super::App;
use crate::error::Error;
use crate::store::keys::VISIT_SHARDS;
use crate::store::repo::Settled;
use crate::store::table::Table;

/// How long the sweeper waits past a visit's deadline where last activity trails the events
/// (DynamoDB, where the stream's consumer moves it): the consumer's batching window and
/// processing, with room to spare. A visit's end is thus decided with the activity of its last
/// seconds counted.
pub const STREAM_SETTLE_MICROS: i64 = 10_000_000;

/// Open visits one index read returns.
const PAGE: usize = 100;
/// Index reads per shard per sweep at most. On DynamoDB the index is eventually consistent and
/// may show an item just removed; the bound keeps one sweep finite whatever it shows, and the
/// next sweep goes on.
const MAX_PAGES_PER_SHARD: usize = 50;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub ended: usize,
    pub extended: usize,
    pub superseded: usize,
}

impl App {
    /// Ends every visit idle past its timeout, once, and moves the open items of visits that
    /// went on past the deadline they were written with.
    pub async fn sweep_visits(&self) -> Result<SweepReport, Error> {
        let now = self.now();
        let settle = if self.store.table().activity_from_stream() {
            STREAM_SETTLE_MICROS
        } else {
            0
        };
        let cutoff = crate::domain::time::Timestamp::from_micros(now.micros() - settle);
        let mut report = SweepReport::default();
        for shard in 0..VISIT_SHARDS {
            for _ in 0..MAX_PAGES_PER_SHARD {
                let due = self.store.due_open_visits(shard, cutoff, PAGE).await?;
                for open in &due {
                    let settings = self.project_settings(&open.project).await?;
                    match self
                        .store
                        .settle_open_visit(open, &settings, now, settle)
                        .await?
                    {
                        Settled::Ended => report.ended += 1,
                        Settled::Extended => report.extended += 1,
                        Settled::Superseded => report.superseded += 1,
                    }
                }
                if due.len() < PAGE {
                    break;
                }
            }
        }
        Ok(report)
    }
}
