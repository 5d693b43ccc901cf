//! Ingest: a visit (init), attribute writes and events, each once, whichever route or door
//! they came through.

use serde_json::{Map, Value, json};

use super::App;
use crate::domain::commands::{
    AttributesRequest, ClientInfo, EventRequest, InitRequest, UrlContext,
};
use crate::domain::plan::Verdict;
use crate::domain::project::Project;
use crate::domain::settings::ProjectSettings;
use crate::domain::values::SessionUuid;
use crate::enrich::GEO_KEY;
use crate::error::{Error, FieldError};
use crate::queue::EnrichJob;
use crate::store::item::get_i64;
use crate::store::repo::{EventOutcome, InitWrite, PageVisit, event_fits, session_attr};
use crate::store::table::StoreError;

/// Why an event would be refused before anything is stored (see [`App::refusals`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its name breaks the project's naming rule, which this says.
    Naming(&'static str),
    /// It is too large to store.
    TooLarge,
}

/// Why an event too large to store is refused.
pub const EVENT_TOO_LARGE: &str =
    "the event would be larger than the 400 KB a stored item may hold";

/// What became of one event of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchItem {
    Stored {
        event_id: String,
    },
    /// A retried `event_id`: stored before, nothing new stored.
    Duplicate {
        event_id: String,
    },
    /// The project's tracking plan excludes the event's name: not stored, counted as dropped.
    /// The `event_id` is the client's, when it sent one.
    Dropped {
        event_id: Option<String>,
    },
    Invalid(Vec<FieldError>),
}

impl BatchItem {
    /// Stored now or before: the sender may forget it.
    pub fn is_queued(&self) -> bool {
        matches!(self, BatchItem::Stored { .. } | BatchItem::Duplicate { .. })
    }
}

/// What became of a batch, item by item in the order sent.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutcome {
    pub items: Vec<BatchItem>,
}

impl BatchOutcome {
    pub fn received(&self) -> usize {
        self.items.len()
    }

    pub fn queued(&self) -> usize {
        self.items.iter().filter(|i| i.is_queued()).count()
    }

    /// Not stored: invalid or dropped by the plan.
    pub fn failed(&self) -> usize {
        self.received() - self.queued()
    }

    pub fn dropped(&self) -> usize {
        self.items
            .iter()
            .filter(|i| matches!(i, BatchItem::Dropped { .. }))
            .count()
    }
}

/// What became of an event sent on its own.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// Stored now, or before (`duplicate`).
    Stored(EventOutcome),
    /// Excluded by the project's tracking plan: not stored, counted as dropped.
    Dropped,
}

/// The field error of a name that breaks the plan's naming rule, on `/event`'s field.
fn naming_error(rule: &str) -> FieldError {
    FieldError::new("event", rule)
}

/// What became of an init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitOutcome {
    pub uuid: SessionUuid,
    /// Enrichment was handed to the queue; otherwise it ran before the answer.
    pub queued: bool,
}

impl App {
    /// The context as stored: the URL parts and client fields as sent, with the request's own
    /// IP and User-Agent standing in for absent ones. When the project anonymizes addresses,
    /// the GeoIP lookup happens here, on the full address, and only its result (under `geo`, a
    /// key no SDK sends at this level) and the cut address are stored; enrichment, inline or
    /// queued, then uses that result.
    fn stored_context(
        &self,
        req: &InitRequest,
        origin: &ClientInfo,
        settings: &ProjectSettings,
    ) -> Value {
        let UrlContext {
            href,
            raw,
            path,
            query,
            hash,
            referer,
            source_url,
            title,
        } = &req.url;
        let mut url = Map::new();
        for (name, value) in [
            ("href", href),
            ("raw", raw),
            ("path", path),
            ("query", query),
            ("hash", hash),
            ("referer", referer),
            ("source_url", source_url),
            ("title", title),
        ] {
            if let Some(v) = value {
                url.insert(name.into(), Value::String(v.clone()));
            }
        }
        let mut client = req.client.other.clone();
        let ip = req
            .client
            .ip_address
            .clone()
            .or_else(|| origin.ip.map(|ip| ip.to_string()));
        let user_agent = req
            .client
            .user_agent
            .clone()
            .or_else(|| origin.user_agent.clone());
        let mut geo = None;
        if let Some(ip) = ip {
            let stored = settings.stored_ip_text(&ip);
            if stored.as_deref() != Some(ip.as_str()) {
                // Anonymized: look the full address up now, in memory, and keep only the result.
                let mut looked_up = self.enricher.geo().ip_data(Some(&ip)).data;
                match &stored {
                    Some(cut) => looked_up["ip"] = Value::String(cut.clone()),
                    None => {
                        if let Some(data) = looked_up.as_object_mut() {
                            data.remove("ip");
                        }
                    }
                }
                geo = Some(looked_up);
            }
            if let Some(stored) = stored {
                client.insert("ipAddress".into(), Value::String(stored));
            }
        }
        if let Some(ua) = user_agent {
            client.insert("userAgent".into(), Value::String(ua));
        }
        let mut context = json!({"url": url, "client": client});
        if let Some(geo) = geo {
            context[GEO_KEY] = geo;
        }
        context
    }

    /// Creates or continues a session with a visit's raw context, then enriches it now
    /// (`synchronous`, or no queue, or the queue unreachable) or through the queue.
    pub async fn init(
        &self,
        project: &Project,
        settings: &ProjectSettings,
        origin: &ClientInfo,
        req: &InitRequest,
    ) -> Result<InitOutcome, Error> {
        let uuid = req.uuid.unwrap_or_else(SessionUuid::new_v4);
        let write = InitWrite {
            uuid,
            context: self.stored_context(req, origin, settings),
            user_attributes: req.user_attributes.clone(),
            custom_data: req.custom_data.clone(),
            settings: settings.clone(),
        };
        // The visit is read while the session is written: one round trip for both.
        let (item, visit) = futures::future::try_join(
            self.store.init_session(project, &write),
            self.store.visit_item(project, &uuid),
        )
        .await?;
        let page = (req.records_page_visit && req.url.names_a_page()).then(|| PageVisit {
            href: req.url.href.clone().or_else(|| req.url.raw.clone()),
            path: req.url.path.clone(),
            referer: req.url.referer.clone(),
            title: req.url.title.clone(),
        });
        self.store
            .visit_on_init(
                project,
                &uuid,
                &item,
                visit.as_ref(),
                page.as_ref(),
                settings,
            )
            .await?;

        let mut queued = false;
        if !req.synchronous
            && let Some(queue) = &self.queue
        {
            let job = EnrichJob {
                project: project.as_str().to_owned(),
                uuid: uuid.to_string(),
                init_seq: get_i64(&item, session_attr::INIT_SEQ).unwrap_or_default(),
            };
            match queue.send(&job).await {
                Ok(()) => queued = true,
                // An init is never lost to a queue outage: enrich now instead.
                Err(e) => tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "enqueue failed; enriching inline"
                ),
            }
        }
        if !queued {
            self.enrich_item(project, &uuid, &item).await?;
        }
        Ok(InitOutcome { uuid, queued })
    }

    /// Merges (or replaces) a session's attributes; an unknown UUID gets a minimal session.
    pub async fn set_attributes(
        &self,
        project: &Project,
        settings: &ProjectSettings,
        req: &AttributesRequest,
    ) -> Result<(), Error> {
        self.store
            .set_attributes(project, &req.uuid, &req.attributes, req.replace, settings)
            .await?;
        Ok(())
    }

    /// Why each event a door must refuse would be refused, by position: its name breaks the
    /// project's naming rule, or it is too large to store. For a door that validates a batch
    /// whole (the analytics API) and so must refuse it before anything is stored;
    /// [`Self::record_batch`] applies the same rules item by item.
    pub fn refusals(
        &self,
        settings: &ProjectSettings,
        events: &[EventRequest],
    ) -> Vec<(usize, Refusal)> {
        events
            .iter()
            .enumerate()
            .filter_map(|(at, event)| match settings.plan.check(&event.name) {
                Verdict::Invalid(rule) => Some((at, Refusal::Naming(rule))),
                Verdict::Store | Verdict::Drop if !event_fits(event) => {
                    Some((at, Refusal::TooLarge))
                }
                Verdict::Store | Verdict::Drop => None,
            })
            .collect()
    }

    /// Places an event that carries an address of its own (GeoIP, on the full address: the
    /// store anonymises it afterwards where the project says so), keeping what its sender
    /// declared.
    fn place(&self, event: &mut EventRequest) {
        if let Some(ip) = &event.ip_address {
            let found = self.enricher.geo().place(ip);
            event.place = Some(event.place.take().unwrap_or_default().or(found));
        }
    }

    /// Records a batch: the project's plan applied to each event, the events it keeps stored
    /// in bulk, each outcome reported at its place.
    pub async fn record_batch(
        &self,
        project: &Project,
        settings: &ProjectSettings,
        events: Vec<Result<EventRequest, Vec<FieldError>>>,
    ) -> Result<BatchOutcome, Error> {
        let mut items: Vec<Option<BatchItem>> = Vec::with_capacity(events.len());
        let mut valid = Vec::new();
        for event in events {
            let mut event = match event {
                Ok(event) => event,
                Err(errors) => {
                    items.push(Some(BatchItem::Invalid(errors)));
                    continue;
                }
            };
            match settings.plan.check(&event.name) {
                Verdict::Store => {
                    self.place(&mut event);
                    valid.push(event);
                    items.push(None);
                }
                Verdict::Drop => items.push(Some(BatchItem::Dropped {
                    event_id: event.event_id.map(|id| id.to_string()),
                })),
                Verdict::Invalid(rule) => {
                    items.push(Some(BatchItem::Invalid(vec![naming_error(rule)])))
                }
            }
        }
        // Counted before the events are stored: should the write then fail, the retried batch
        // counts its drops twice, where counting after would risk a retry storing events twice.
        let dropped = items
            .iter()
            .filter(|i| matches!(i, Some(BatchItem::Dropped { .. })))
            .count();
        self.store.count_dropped(project, dropped as u64).await?;
        let mut recorded = self
            .store
            .record_events(project, valid, settings)
            .await?
            .into_iter();
        for slot in items.iter_mut().filter(|slot| slot.is_none()) {
            *slot = Some(match recorded.next() {
                Some(Ok(EventOutcome {
                    event_id,
                    duplicate: false,
                })) => BatchItem::Stored { event_id },
                Some(Ok(EventOutcome {
                    event_id,
                    duplicate: true,
                })) => BatchItem::Duplicate { event_id },
                Some(Err(StoreError::ItemTooLarge)) => {
                    BatchItem::Invalid(vec![FieldError::new("attributes", EVENT_TOO_LARGE)])
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Err(Error::Internal("a batch event was not recorded".into())),
            });
        }
        Ok(BatchOutcome {
            items: items.into_iter().flatten().collect(),
        })
    }

    /// Records an event, once per client `event_id`, if the project's plan keeps it; a name
    /// breaking the plan's naming is a validation error on `event`.
    pub async fn record_event(
        &self,
        project: &Project,
        settings: &ProjectSettings,
        mut req: EventRequest,
    ) -> Result<Recorded, Error> {
        match settings.plan.check(&req.name) {
            Verdict::Store => {
                self.place(&mut req);
                Ok(Recorded::Stored(
                    self.store.record_event(project, req, settings).await?,
                ))
            }
            Verdict::Drop => {
                self.store.count_dropped(project, 1).await?;
                Ok(Recorded::Dropped)
            }
            Verdict::Invalid(rule) => Err(Error::Validation(vec![naming_error(rule)])),
        }
    }
}
