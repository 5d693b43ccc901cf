//! Reading a project's events in time order through one of three indexes, chunk by chunk, for
//! the query service to filter: a device's events (its session's partition), a name's (GSI1),
//! or every event (the time index, GSI2: its shards' ranges merged into one order). Never a
//! scan of the table. What to read is the planner's choice (`query::plan`); this only reads.

use std::collections::VecDeque;

use super::deletion::is_deleted;
use super::{Repo, expired};
use crate::domain::project::Project;
use crate::domain::time::Timestamp;
use crate::domain::values::{EventName, SessionUuid};
use crate::store::item::{Item, get_s};
use crate::store::keys::{self, GSI1, GSI2, GSI2_SK, PK, SK, TIME_SHARDS};
use crate::store::table::{Key, Query, SortRange, StoreResult, Table};

/// Which index an event scan reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventIndex {
    /// One UUID's events, in its session's partition.
    Device(SessionUuid),
    /// A project's events of one name (GSI1).
    Name(EventName),
    /// All of a project's events (the time index, GSI2).
    Time,
}

impl EventIndex {
    /// The index's name in log lines and notes.
    pub fn label(&self) -> &'static str {
        match self {
            EventIndex::Device(_) => "device",
            EventIndex::Name(_) => "name",
            EventIndex::Time => "time",
        }
    }
}

/// What to read: the index, a time range (both ends included) and the order.
#[derive(Debug, Clone)]
pub struct EventScan {
    pub index: EventIndex,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub descending: bool,
    /// How many events the caller expects to read at least (a page's `skip + top`): the first
    /// chunk reads that many, so a page that every event read fills costs one read of its
    /// size; a selective filter's chunks then double.
    pub expect: usize,
    /// Continue after this index sort key (`<occurred_at>#<event_id>#<uuid>`, the last one a
    /// previous page returned), in ascending scans of the name or time index: an export's
    /// cursor. Each shard's range then starts right after it.
    pub after: Option<String>,
}

/// The most items one request of a scan reads: chunks start at what the caller expects and
/// double as the reader keeps going.
const MAX_CHUNK: usize = 1000;
/// The least a chunk reads: a request's overhead is worth a few items.
const MIN_CHUNK: usize = 10;

/// A scan under way: each call of [`EventReader::next_chunk`] returns the next events in order,
/// whole items, until the range ends.
pub struct EventReader<'r, T> {
    repo: &'r Repo<T>,
    project: Project,
    scan: EventScan,
    /// One cursor per partition read: one for a device or a name, one per time shard.
    parts: Vec<Part>,
    chunk: usize,
    now: Timestamp,
}

/// A shard's next key in the time index's order.
fn head(part: &Part) -> Option<&str> {
    part.buffer.front().and_then(|k| get_s(k, GSI2_SK))
}

/// One partition's progress.
struct Part {
    partition: String,
    /// Read, not yet handed out (the time index's keys; whole items elsewhere).
    buffer: VecDeque<Item>,
    /// Where the next request continues; `None` with `done` when the range is read.
    after: Option<Item>,
    done: bool,
}

impl<T: Table> Repo<T> {
    /// Starts reading `scan` for `project`.
    pub fn read_events(&self, project: &Project, scan: EventScan) -> EventReader<'_, T> {
        let p = project.as_str();
        let partitions = match &scan.index {
            EventIndex::Device(uuid) => vec![keys::session_pk(p, &uuid.to_string())],
            EventIndex::Name(name) => vec![keys::name_pk(p, name.as_str())],
            EventIndex::Time => (0..TIME_SHARDS).map(|s| keys::time_pk(p, s)).collect(),
        };
        EventReader {
            repo: self,
            project: project.clone(),
            now: self.now(),
            parts: partitions
                .into_iter()
                .map(|partition| Part {
                    partition,
                    buffer: VecDeque::new(),
                    after: None,
                    done: false,
                })
                .collect(),
            chunk: scan.expect.clamp(MIN_CHUNK, MAX_CHUNK),
            scan,
        }
    }
}

impl<T: Table> EventReader<'_, T> {
    /// The next events of the scan in its order (whole items; expired and deleted ones left
    /// out: a device's partition still holds deleted events until their purge), or an
    /// empty vector once the range is read. Each call reads at most a chunk per partition.
    pub async fn next_chunk(&mut self) -> StoreResult<Vec<Item>> {
        let rows = match self.scan.index {
            EventIndex::Time => self.next_merged().await?,
            _ => {
                self.fill(0).await?;
                self.parts[0].buffer.drain(..).collect()
            }
        };
        self.chunk = (self.chunk * 2).min(MAX_CHUNK);
        let now = self.now;
        Ok(rows
            .into_iter()
            .filter(|r| !expired(r, now) && !is_deleted(r))
            .collect())
    }

    /// The project the scan reads.
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// Reads the next chunk of partition `at` into its buffer, unless the range is read.
    async fn fill(&mut self, at: usize) -> StoreResult<()> {
        let query = self.query(at);
        let part = &mut self.parts[at];
        if part.done {
            return Ok(());
        }
        let page = self.repo.table.query(query).await?;
        part.done = page.last.is_none();
        part.after = page.last;
        part.buffer.extend(page.items);
        Ok(())
    }

    fn query(&self, at: usize) -> Query {
        let part = &self.parts[at];
        let from = self
            .scan
            .from
            .unwrap_or(Timestamp::from_micros(0))
            .to_string();
        // Every sort key of an event at `to` starts with its text followed by `#`: `~` sorts
        // after it, so the upper bound includes them.
        let to = self
            .scan
            .to
            .map_or_else(|| "9999".to_owned(), |t| t.to_string());
        // Index sort keys all have one length (a fixed-width time and two UUIDs), so no key
        // extends another: the keys after `after` are exactly those from `after!` on, `!`
        // sorting below every character a key holds.
        let from = match (&self.scan.after, &self.scan.index) {
            (Some(after), EventIndex::Name(_) | EventIndex::Time) if !self.scan.descending => {
                from.max(format!("{after}!"))
            }
            _ => from,
        };
        let (index, range) = match self.scan.index {
            EventIndex::Device(_) => (
                None,
                SortRange::Between(
                    format!("{}{from}", keys::EVENT_SK_PREFIX),
                    format!("{}{to}~", keys::EVENT_SK_PREFIX),
                ),
            ),
            EventIndex::Name(_) => (Some(GSI1), SortRange::Between(from, format!("{to}~"))),
            EventIndex::Time => (Some(GSI2), SortRange::Between(from, format!("{to}~"))),
        };
        let per_part = match self.scan.index {
            // Each shard holds about an eighth of what is read, give or take: a little more
            // than its share saves most second reads of a shard.
            EventIndex::Time => (self.chunk * 5 / 4 / TIME_SHARDS as usize).max(4),
            _ => self.chunk,
        };
        Query {
            index,
            partition: part.partition.clone(),
            range,
            ascending: !self.scan.descending,
            limit: per_part,
            start_after: part.after.clone(),
            skip: 0,
        }
    }

    /// The next chunk of the time index: the shards' keys merged into one order (the sort
    /// key, `occurred_at#event_id#uuid`, is unique and orders all of them alike), then the
    /// items fetched. An entry whose item is gone by then (deleted, expired) is left out.
    async fn next_merged(&mut self) -> StoreResult<Vec<Item>> {
        // Every shard with nothing buffered is read first, together, so each one's next key
        // is known before any is handed out (again, should a page come back empty but not
        // last, as DynamoDB may).
        loop {
            let empty: Vec<usize> = (0..self.parts.len())
                .filter(|&i| self.parts[i].buffer.is_empty() && !self.parts[i].done)
                .collect();
            if empty.is_empty() {
                break;
            }
            let queries: Vec<Query> = empty.iter().map(|&i| self.query(i)).collect();
            let pages = futures::future::try_join_all(
                queries.into_iter().map(|q| self.repo.table.query(q)),
            )
            .await?;
            for (i, page) in empty.into_iter().zip(pages) {
                let part = &mut self.parts[i];
                part.done = page.last.is_none();
                part.after = page.last;
                part.buffer.extend(page.items);
            }
        }
        // Hand out keys in order until a shard that may hold more runs dry: past that point
        // its next key is unknown.
        let mut keys_out = Vec::new();
        while keys_out.len() < self.chunk {
            let next = self
                .parts
                .iter()
                .enumerate()
                .filter_map(|(i, p)| Some((i, head(p)?)))
                .reduce(|a, b| {
                    let b_first = if self.scan.descending {
                        b.1 > a.1
                    } else {
                        b.1 < a.1
                    };
                    if b_first { b } else { a }
                })
                .map(|(i, _)| i);
            let Some(i) = next else { break };
            if let Some(key) = self.parts[i].buffer.pop_front() {
                keys_out.push(key);
            }
            if self.parts[i].buffer.is_empty() && !self.parts[i].done {
                break;
            }
        }
        let table = &self.repo.table;
        let keys: Vec<Key> = keys_out
            .iter()
            .filter_map(|k| Some(Key::new(get_s(k, PK)?, get_s(k, SK)?)))
            .collect();
        Ok(table
            .read_many(&keys)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }
}
