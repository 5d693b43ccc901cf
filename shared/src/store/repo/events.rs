//! Events: idempotent recording under a client's `event_id`, the session fields an event
//! copies, and event/show's pages by number and by cursor.

use super::sessions::session_attr;
use super::visits::{Activity, StoredVisit, Touch, split_session_and_visit};
use super::{Repo, expired, expiry_op, json_map};
use crate::domain::commands::{EventRequest, Place};
use crate::domain::event::Category;
use crate::domain::project::Project;
use crate::domain::settings::ProjectSettings;
use crate::domain::time::Timestamp;
use crate::domain::values::{EventId, EventName, SessionUuid, Sort};
use crate::store::cursor::{CursorError, CursorState};
use crate::store::item::{Attr, Item, MAX_ITEM_BYTES, get_i64, get_s, json_size};
use crate::store::keys::{
    self, COUNTED_IN, GSI1, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, PK, SK, TTL_ATTR,
};
use crate::store::table::{
    Condition, Key, Query, Read, SortRange, StoreError, StoreResult, Table, Update, UpdateOp,
    Write, key_item,
};

/// The result of recording an event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventOutcome {
    pub event_id: String,
    /// The client's `event_id` had been recorded before; nothing new was stored.
    pub duplicate: bool,
}

/// A project's event counts, as the analytics stats report them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStats {
    pub by_category: Vec<(Category, u64)>,
    /// Received on the current UTC day.
    pub today: u64,
    /// Received in the current UTC hour.
    pub this_hour: u64,
    /// Excluded by the project's tracking plan: answered, never stored, so in no count above.
    pub dropped: u64,
}

impl EventStats {
    pub fn total(&self) -> u64 {
        self.by_category.iter().map(|(_, n)| n).sum()
    }
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

impl<T: Table> Repo<T> {
    /// The session an event copies from (`id`, the addresses) and its UUID's visit, in one
    /// query of the partition from `~SESSION` up (the two items, a few kilobytes: what reading
    /// the session alone costs). Makes sure the session exists and that its expiry keeps up
    /// with the event's (see [`EXPIRY_SLACK_SECS`]).
    async fn session_for_event(
        &self,
        project: &Project,
        uuid: &SessionUuid,
        settings: &ProjectSettings,
        now: Timestamp,
    ) -> StoreResult<(Item, StoredVisit)> {
        let key = Self::session_key(project, uuid);
        let page = self
            .table
            .query(Query {
                index: None,
                partition: key.pk.clone(),
                range: SortRange::AtLeast(keys::SESSION_SK.into()),
                ascending: true,
                limit: 2,
                start_after: None,
                skip: 0,
            })
            .await?;
        let (found, visit) = split_session_and_visit(page.items);
        let visit = StoredVisit::from_item(visit.as_ref(), now);
        let session = self
            .session_item_for_event(uuid, found, settings, now, key)
            .await?;
        Ok((session, visit))
    }

    /// The session item an event copies from, made or renewed where it must be.
    async fn session_item_for_event(
        &self,
        uuid: &SessionUuid,
        found: Option<Item>,
        settings: &ProjectSettings,
        now: Timestamp,
        key: Key,
    ) -> StoreResult<Item> {
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
                    .put(
                        fresh.clone(),
                        Some(Condition::Equals(TTL_ATTR.into(), stale)),
                    )
                    .await
                {
                    Ok(()) => return Ok(fresh),
                    Err(StoreError::ConditionFailed) => {
                        return self
                            .table
                            .read(Read::new(&key).consistent())
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
        ops.push(expiry_op(settings, now));
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
        event: EventRequest,
        settings: &ProjectSettings,
    ) -> StoreResult<EventOutcome> {
        if !event_fits(&event) {
            return Err(StoreError::ItemTooLarge);
        }
        let now = self.now();
        let (session, visit) = self
            .session_for_event(project, &event.uuid, settings, now)
            .await?;
        let at = Activity {
            project,
            uuid: &event.uuid,
            session: &session,
            settings,
            now,
        };
        let visit = self.visit_activity(&at, visit, Touch::WithEvent).await?;
        self.write_event(project, &session, event, visit, settings, now)
            .await
    }

    /// Writes an event of visit `visit` copying from `session`, once per client `event_id`
    /// (see [`Repo::record_event`]).
    pub(super) async fn write_event(
        &self,
        project: &Project,
        session: &Item,
        event: EventRequest,
        visit: i64,
        settings: &ProjectSettings,
        now: Timestamp,
    ) -> StoreResult<EventOutcome> {
        let uuid = event.uuid.to_string();
        let pk = keys::session_pk(project.as_str(), &uuid);
        let occurred_at = event.occurred_at.to_string();
        let expires_at = settings.expires_at(now);
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
            let marker = marker_item(pk.clone(), &event_id, sk.clone(), expires_at);
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
        let id = self.ids.next(&self.table).await?;
        let item = event_item(EventRow {
            project,
            session,
            event,
            event_id: &event_id,
            sk,
            occurred_at,
            visit,
            id,
            received: &Received::new(project, now),
            settings,
        });
        // The item and its index entry are the whole write: no counter is touched here (see
        // `Table::count`), so one event costs what its two copies cost.
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

    /// Records a batch of events, each as [`Repo::record_event`] would, in bulk: each session
    /// is read once, and the events are written together (one transaction on the embedded
    /// engine; BatchWriteItem on DynamoDB). An event is refused on its own when its item would
    /// be too large; the others are stored.
    ///
    /// A retried event is recognised as `record_event` recognises it. Events with a client
    /// `event_id` but a time of the server's (Segment's messages, whose times are corrected
    /// for the sender's clock on arrival) need their marker's conditional write: the markers
    /// are written first, each conditional and all at once, and the events whose marker is new
    /// join the bulk write; one whose marker was there (a retry, or a first attempt that died
    /// between the two writes) goes through `record_event`, which tells the two apart.
    pub async fn record_events(
        &self,
        project: &Project,
        events: Vec<EventRequest>,
        settings: &ProjectSettings,
    ) -> StoreResult<Vec<Result<EventOutcome, StoreError>>> {
        let now = self.now();
        let mut outcomes: Vec<Option<Result<EventOutcome, StoreError>>> =
            (0..events.len()).map(|_| None).collect();
        // Too large to store: refused before any session is read or made.
        let events: Vec<(usize, EventRequest)> = events
            .into_iter()
            .enumerate()
            .filter(|(at, event)| {
                let fits = event_fits(event);
                if !fits {
                    outcomes[*at] = Some(Err(StoreError::ItemTooLarge));
                }
                fits
            })
            .collect();
        let mut uuids: Vec<SessionUuid> = events.iter().map(|(_, e)| e.uuid).collect();
        uuids.sort_unstable_by_key(|u| u.to_string());
        uuids.dedup();
        // Each UUID's session and the visit its events belong to, read (and started) once.
        let sessions = futures::future::try_join_all(uuids.iter().map(|uuid| async move {
            let (session, visit) = self.session_for_event(project, uuid, settings, now).await?;
            let at = Activity {
                project,
                uuid,
                session: &session,
                settings,
                now,
            };
            let visit = self.visit_activity(&at, visit, Touch::WithEvent).await?;
            Ok::<_, StoreError>((session, visit))
        }))
        .await?;
        let session_of =
            |uuid: &SessionUuid| uuids.iter().position(|u| u == uuid).map(|i| &sessions[i]);

        // A client-keyed event sent twice in one batch is written once: the second is its
        // retry (and DynamoDB refuses a batch that names one key twice).
        let mut keyed = std::collections::BTreeSet::new();
        let (events, one_by_one) = self
            .write_markers(project, events, settings, now, &mut keyed, &mut outcomes)
            .await?;

        let mut writes = Vec::new();
        // (position in the batch, event id) of each write.
        let mut written = Vec::new();
        let received = Received::new(project, now);
        for (at, event, marked) in events {
            let client_keyed = event.event_id.is_some();
            let event_id = event.event_id.unwrap_or_else(EventId::new_v4).to_string();
            let occurred_at = event.occurred_at.to_string();
            let Some((session, visit)) = session_of(&event.uuid) else {
                outcomes[at] = Some(Err(StoreError::Internal("session not read".into())));
                continue;
            };
            let sk = keys::event_sk(&occurred_at, &event_id);
            if client_keyed && !marked {
                let key = format!("{}\n{sk}", event.uuid);
                if !keyed.insert(key) {
                    outcomes[at] = Some(Ok(EventOutcome {
                        event_id,
                        duplicate: true,
                    }));
                    continue;
                }
            }
            let item = event_item(EventRow {
                project,
                session,
                event,
                event_id: &event_id,
                sk,
                occurred_at,
                visit: *visit,
                id: self.ids.next(&self.table).await?,
                received: &received,
                settings,
            });
            // A marked event's key is its marker's: the marker's conditional write made it
            // this event's alone.
            writes.push(if client_keyed && !marked {
                Write::PutNew(item)
            } else {
                Write::Put(item)
            });
            written.push((at, event_id));
        }
        let applied = self.table.batch_write(writes).await?;
        for ((at, event_id), applied) in written.into_iter().zip(applied) {
            outcomes[at] = Some(Ok(EventOutcome {
                event_id,
                duplicate: !applied,
            }));
        }
        for (at, event) in one_by_one {
            outcomes[at] = Some(self.record_event(project, event, settings).await);
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(StoreError::Internal("event not recorded".into()))))
            .collect())
    }

    /// Writes the markers of a batch's events that carry a client `event_id` but a time of
    /// the server's (see [`Repo::record_events`]), each conditional and all at once. Returns
    /// the events to write in bulk, each with whether its marker was just written, and those
    /// whose marker was there already, for `record_event`. A second event with the same id in
    /// the batch is reported a duplicate here.
    async fn write_markers(
        &self,
        project: &Project,
        events: Vec<(usize, EventRequest)>,
        settings: &ProjectSettings,
        now: Timestamp,
        keyed: &mut std::collections::BTreeSet<String>,
        outcomes: &mut [Option<Result<EventOutcome, StoreError>>],
    ) -> StoreResult<(Vec<MarkedEvent>, Vec<(usize, EventRequest)>)> {
        let expires_at = settings.expires_at(now);
        let mut bulk = Vec::with_capacity(events.len());
        let mut marked = Vec::new();
        for (at, event) in events {
            let Some(id) = event.event_id.filter(|_| !event.stamped_by_client) else {
                bulk.push((at, event, false));
                continue;
            };
            let event_id = id.to_string();
            if !keyed.insert(format!("{}\n{}", event.uuid, keys::event_id_sk(&event_id))) {
                outcomes[at] = Some(Ok(EventOutcome {
                    event_id,
                    duplicate: true,
                }));
                continue;
            }
            let pk = keys::session_pk(project.as_str(), &event.uuid.to_string());
            let sk = keys::event_sk(&event.occurred_at.to_string(), &event_id);
            let marker = marker_item(pk, &event_id, sk, expires_at);
            marked.push((at, event, marker));
        }
        // Where a batch's condition is exact, all markers are one write; elsewhere each is a
        // conditional put of its own, a bounded number in flight (a batch's markers may all
        // be in one partition, which takes about a thousand writes a second).
        let written: Vec<bool> = if self.table.batched_put_new_is_exact() {
            let writes = marked
                .iter()
                .map(|(_, _, marker)| Write::PutNew(marker.clone()))
                .collect();
            self.table.batch_write(writes).await?
        } else {
            use futures::StreamExt;
            let puts: Vec<_> = marked
                .iter()
                .map(|(_, _, marker)| self.table.put(marker.clone(), Some(Condition::NotExists)))
                .collect();
            futures::stream::iter(puts)
                .buffered(MARKERS_IN_FLIGHT)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .map(|result| match result {
                    Ok(()) => Ok(true),
                    Err(StoreError::ConditionFailed) => Ok(false),
                    Err(e) => Err(e),
                })
                .collect::<StoreResult<_>>()?
        };
        let mut one_by_one = Vec::new();
        for ((at, event, _), new) in marked.into_iter().zip(written) {
            if new {
                bulk.push((at, event, true));
            } else {
                one_by_one.push((at, event));
            }
        }
        bulk.sort_by_key(|(at, _, _)| *at);
        Ok((bulk, one_by_one))
    }

    /// The event stored under `uuid`'s partition with sort key `sk` (a track id's target),
    /// strongly consistent, so a caller who just wrote it reads it; `None` when there is none
    /// or it is past its retention.
    pub async fn get_event(
        &self,
        project: &Project,
        uuid: &SessionUuid,
        sk: &str,
    ) -> StoreResult<Option<Item>> {
        if !sk.starts_with(keys::EVENT_SK_PREFIX) {
            return Ok(None);
        }
        let key = Key::new(keys::session_pk(project.as_str(), &uuid.to_string()), sk);
        let now = self.now();
        Ok(self
            .table
            .read(Read::new(&key).consistent())
            .await?
            .filter(|item| !expired(item, now)))
    }

    /// A project's event counts: by category, received today and this hour (UTC, by `now`),
    /// and dropped by its plan. A handful of count reads, never a read of the events.
    pub async fn event_stats(&self, project: &Project, now: Timestamp) -> StoreResult<EventStats> {
        let received = Received::new(project, now);
        let mut counters: Vec<String> = Category::ALL
            .iter()
            .map(|c| keys::category_counter(project.as_str(), c.as_str()))
            .collect();
        counters.push(received.day_counter);
        counters.push(received.hour_counter);
        let (counts, dropped) = futures::future::try_join(
            futures::future::try_join_all(counters.iter().map(|c| self.table.count(c))),
            self.dropped_events(project),
        )
        .await?;
        let by_category = Category::ALL
            .iter()
            .copied()
            .zip(counts.iter().copied())
            .collect();
        Ok(EventStats {
            by_category,
            today: counts[Category::ALL.len()],
            this_hour: counts[Category::ALL.len() + 1],
            dropped,
        })
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
            let beyond = if exact {
                total
            } else {
                total.saturating_add(COUNT_LAG_ALLOWANCE)
            };
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

/// What an event item holds besides the request's own variable fields: keys, counters, ids,
/// times and category (about 1 KB), and the address and user agent it may copy from its
/// session (at most 64 bytes and `max_string_bytes`, 8 KB by default), generously rounded.
const EVENT_ITEM_ALLOWANCE: usize = 12 * 1024;

/// An event of a batch at its position, and whether its event-id marker was just written.
type MarkedEvent = (usize, EventRequest, bool);

/// How many event-id markers are written at once where each is a write of its own.
const MARKERS_IN_FLIGHT: usize = 32;

/// The marker of a client `event_id` in its session's partition, pointing at the event's
/// sort key: how a retry of an event the server stamps is recognised.
fn marker_item(pk: String, event_id: &str, event_sk: String, expires_at: Option<i64>) -> Item {
    let mut marker = Item::from([
        (PK.into(), Attr::S(pk)),
        (SK.into(), Attr::S(keys::event_id_sk(event_id))),
        ("event_sk".into(), Attr::S(event_sk)),
    ]);
    if let Some(at) = expires_at {
        marker.insert(TTL_ATTR.into(), Attr::n(at));
    }
    marker
}

/// Whether an event fits in one stored item, decided from the request alone: checked before
/// anything is written, so an event refused for its size leaves nothing behind (not even a
/// session). An event may carry up to about 388 KB of attributes.
pub fn event_fits(event: &EventRequest) -> bool {
    // As `item_size` counts the item's map of attributes, without building it.
    let attributes = 3 + event
        .attributes
        .iter()
        .map(|(k, v)| 1 + k.len() + json_size(v))
        .sum::<usize>();
    let texts: usize = [
        Some(event.name.as_str()),
        event.label.as_ref().map(|l| l.as_str()),
        event.page_url.as_deref(),
        event.referrer.as_deref(),
        event.user_agent.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(str::len)
    .sum();
    attributes + texts + EVENT_ITEM_ALLOWANCE <= MAX_ITEM_BYTES
}

/// When a request was received, in the forms its event items hold: the text of `created_at`
/// and the names of its UTC day's and hour's counts (`2026-12-01`, `2026-12-01T22`, the stats'
/// buckets). Made once per request (a batch's events share it):
/// formatting a time is a visible share of an event's cost.
struct Received {
    at: Timestamp,
    text: String,
    day_counter: String,
    hour_counter: String,
}

impl Received {
    fn new(project: &Project, at: Timestamp) -> Self {
        let text = at.to_string();
        // The fixed-width text form (`2026-12-01T22:10:00.000000Z`) starts with both.
        Received {
            day_counter: keys::day_counter(project.as_str(), &text[..10]),
            hour_counter: keys::hour_counter(project.as_str(), &text[..13]),
            text,
            at,
        }
    }
}

/// What an event item is made of.
struct EventRow<'a> {
    project: &'a Project,
    /// The session an event copies its `id` and addresses from.
    session: &'a Item,
    event: EventRequest,
    event_id: &'a str,
    sk: String,
    occurred_at: String,
    /// The number of the UUID's visit the event belongs to.
    visit: i64,
    /// The event's number (`id`).
    id: i64,
    received: &'a Received,
    settings: &'a ProjectSettings,
}

/// An event as stored: the request's fields, what it copies from its session, its keys, and
/// the counts it is counted under (its category, and the UTC day and hour it was received).
fn event_item(row: EventRow<'_>) -> Item {
    let EventRow {
        project,
        session,
        event,
        event_id,
        sk,
        occurred_at,
        visit,
        id,
        received,
        settings,
    } = row;
    let uuid = event.uuid.to_string();
    let context = session.get(session_attr::CONTEXT).and_then(Attr::as_m);
    let client = context.and_then(|c| c.get("client")).and_then(Attr::as_m);
    let from_session = |name: &str| client.and_then(|c| c.get(name)).cloned();
    let place = match event.ip_address.is_some() {
        true => event.place.unwrap_or_default(),
        false => event.place.unwrap_or_default().or(session_place(session)),
    };
    let ip = event
        .ip_address
        .map(Attr::S)
        .or_else(|| session.get("ip_address").cloned())
        .or_else(|| from_session("ipAddress"))
        // Also cuts an address stored before the project turned anonymization on.
        .and_then(|ip| match ip {
            Attr::S(text) => settings.stored_ip_text(&text).map(Attr::S),
            other => Some(other),
        })
        .unwrap_or(Attr::Null);
    let user_agent = event
        .user_agent
        .map(Attr::S)
        .or_else(|| from_session("userAgent"))
        .unwrap_or(Attr::Null);
    // An event with an address of its own was placed by it when received; the others are
    // where their session's address is, as far as its enrichment has found by now.

    let p = project.as_str();
    let mut item = Item::from([
        (PK.into(), Attr::S(keys::session_pk(p, &uuid))),
        (SK.into(), Attr::S(sk)),
        (
            GSI1_PK.into(),
            Attr::S(keys::name_pk(p, event.name.as_str())),
        ),
        (
            GSI1_SK.into(),
            Attr::S(keys::name_sk(&occurred_at, event_id, &uuid)),
        ),
        (
            GSI2_PK.into(),
            Attr::S(keys::time_pk(p, keys::time_shard(event_id))),
        ),
        (
            GSI2_SK.into(),
            Attr::S(keys::name_sk(&occurred_at, event_id, &uuid)),
        ),
        (
            COUNTED_IN.into(),
            Attr::L(vec![
                Attr::S(keys::category_counter(p, event.category.as_str())),
                Attr::s(&received.day_counter),
                Attr::s(&received.hour_counter),
            ]),
        ),
        ("id".into(), Attr::n(id)),
        (
            "session_id".into(),
            session.get("id").cloned().unwrap_or(Attr::Null),
        ),
        ("uuid".into(), Attr::S(uuid)),
        ("name".into(), Attr::s(event.name.as_str())),
        ("attributes".into(), Attr::M(json_map(&event.attributes))),
        ("category".into(), Attr::s(event.category.as_str())),
        ("priority".into(), Attr::s(event.priority.as_str())),
        ("type".into(), Attr::s(event.kind.as_str())),
        ("source".into(), Attr::s(event.source.as_str())),
        ("ip_address".into(), ip),
        ("user_agent".into(), user_agent),
        ("occurred_at".into(), Attr::S(occurred_at)),
        ("created_at".into(), Attr::s(&received.text)),
        ("updated_at".into(), Attr::s(&received.text)),
        ("event_id".into(), Attr::s(event_id)),
        ("visit".into(), Attr::n(visit)),
    ]);
    // Optional fields are stored only when sent (rows read an absent one as null): an event
    // item stays under the 1 KB that one write unit covers.
    for (name, value) in [
        ("label", event.label.map(|l| l.as_str().to_owned())),
        ("page_url", event.page_url),
        ("referrer", event.referrer),
        ("country_code", place.country_code),
        ("city", place.city),
        ("device_id", event.device_id),
    ] {
        if let Some(value) = value {
            item.insert(name.into(), Attr::S(value));
        }
    }
    // The user and company its session was identified as when it was stored.
    for name in [session_attr::USER_ID, session_attr::COMPANY_ID] {
        if let Some(value) = session.get(name).filter(|v| v.as_s().is_some()) {
            item.insert(name.into(), value.clone());
        }
    }
    if let Some(at) = settings.expires_at(received.at) {
        item.insert(TTL_ATTR.into(), Attr::n(at));
    }
    item
}

/// The country and city of a session's enriched address (`ip_data.city`, MaxMind's shape).
fn session_place(session: &Item) -> Place {
    let city = session
        .get("ip_data")
        .and_then(Attr::as_m)
        .and_then(|d| d.get("city"))
        .and_then(Attr::as_m);
    let text = |path: &[&str]| {
        let (last, maps) = path.split_last()?;
        let mut at = city?;
        for step in maps {
            at = at.get(*step).and_then(Attr::as_m)?;
        }
        at.get(*last).and_then(Attr::as_s).map(str::to_owned)
    };
    Place {
        country_code: text(&["country", "iso_code"]),
        city: text(&["names", "en"]),
    }
}

/// The table and index key attributes of an event row: where the next page starts.
fn last_key(item: &Item) -> Item {
    [PK, SK, GSI1_PK, GSI1_SK]
        .into_iter()
        .filter_map(|n| item.get(n).map(|v| (n.to_owned(), v.clone())))
        .collect()
}
