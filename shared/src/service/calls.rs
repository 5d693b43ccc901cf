//! Tracking calls that name people by the client's ids (`domain::calls`): each caller resolved
//! to a UUID, then applied as the native routes would apply it: the visit context as an init,
//! identifies, companies and aliases as `identify`, events as batches.

use std::collections::{HashMap, HashSet};

use super::{App, BatchItem};
use crate::domain::calls::{Call, CallKind, Caller};
use crate::domain::commands::{AttributesRequest, ClientInfo, EventRequest, InitRequest};
use crate::domain::project::Project;
use crate::domain::settings::ProjectSettings;
use crate::domain::time::Timestamp;
use crate::domain::user::{IdentifyEvents, IdentifyRequest, UserId};
use crate::domain::values::{Attributes, SessionUuid};
use crate::error::{Error, FieldError};
use futures::{StreamExt, TryStreamExt};

use super::Refusal;
use super::ingest::EVENT_TOO_LARGE;

/// The most identify, group and alias messages one request may hold: each is several reads
/// and writes, one after another (the events between them are stored in bulk), so this
/// bounds a request's time. Libraries flush far fewer messages at once.
pub const MAX_CALLS_NAMING_PEOPLE: usize = 100;

/// The most UUIDs one alias moves (a known user's, the first in UUID order).
pub const MAX_ALIASED_UUIDS: usize = 100;

/// How many devices' visit contexts are applied at once.
const VISITS_IN_FLIGHT: usize = 8;

/// What became of one call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// Applied (or recognised as a retry, or an event the tracking plan drops: the sender has
    /// nothing to do about any of these).
    Accepted,
    /// Refused; nothing of it stored.
    Failed(Vec<FieldError>),
}

/// The caller's UUID: the anonymous id's; else the UUID the user was last identified on
/// (earlier in the same request included); else one made of the user id.
struct Resolver<'a> {
    app: &'a App,
    project: &'a Project,
    last_uuid: HashMap<UserId, SessionUuid>,
}

impl Resolver<'_> {
    async fn uuid(&mut self, call: &Call) -> Result<SessionUuid, Error> {
        let caller = &call.caller;
        match (caller.anonymous, &caller.user_id) {
            // An alias joins `previousId`'s UUIDs: the anonymous id it may carry is not linked.
            (Some(uuid), Some(_)) if matches!(call.kind, CallKind::Alias { .. }) => Ok(uuid),
            (Some(uuid), Some(user)) => {
                // This call links the two: later calls naming only the user land here.
                self.last_uuid.insert(user.clone(), uuid);
                Ok(uuid)
            }
            (Some(uuid), None) => Ok(uuid),
            (None, Some(user)) => {
                if let Some(uuid) = self.last_uuid.get(user) {
                    return Ok(*uuid);
                }
                let uuid = match self.app.store.user_last_uuid(self.project, user).await? {
                    Some(uuid) => uuid,
                    None => Caller::user_fallback_uuid(self.project, user),
                };
                self.last_uuid.insert(user.clone(), uuid);
                Ok(uuid)
            }
            (None, None) => Err(Error::Internal(
                "a call without an anonymous id or a user id was decoded".into(),
            )),
        }
    }
}

impl App {
    /// Applies calls as if each were sent alone, in the order sent, reporting each at its
    /// place. Every UUID's visit context comes first (the union of its calls' contexts, the
    /// earliest first): it describes the device, not one moment. Then the calls in order,
    /// events in bulk between the calls that name people, so an event carries the user and
    /// company that the calls before it named, however the sender cut its batches.
    pub async fn record_calls(
        &self,
        project: &Project,
        settings: &ProjectSettings,
        origin: &ClientInfo,
        calls: Vec<Result<Call, Vec<FieldError>>>,
    ) -> Result<Vec<CallOutcome>, Error> {
        let mut resolver = Resolver {
            app: self,
            project,
            last_uuid: HashMap::new(),
        };
        let mut outcomes = Vec::with_capacity(calls.len());
        let mut resolved = Vec::with_capacity(calls.len());
        let mut naming_people = 0;
        for call in calls {
            let call = call.and_then(|call| self.precheck(settings, call, &mut naming_people));
            match call {
                Ok(call) => {
                    let uuid = resolver.uuid(&call).await?;
                    outcomes.push(None);
                    resolved.push(Some((call, uuid)));
                }
                Err(errors) => {
                    outcomes.push(Some(CallOutcome::Failed(errors)));
                    resolved.push(None);
                }
            }
        }

        let mut visits: HashMap<SessionUuid, InitRequest> = HashMap::new();
        for (call, uuid) in resolved.iter().flatten() {
            let Some(visit) = &call.visit else { continue };
            match visits.get_mut(uuid) {
                Some(known) => known.fill_from(visit),
                None => {
                    visits.insert(*uuid, visit.clone());
                }
            }
        }
        // The devices' visits are independent: a few at a time.
        let inits: Vec<_> = visits
            .into_iter()
            .map(|(uuid, mut init)| {
                init.uuid = Some(uuid);
                async move { self.init(project, settings, origin, &init).await }
            })
            .collect();
        futures::stream::iter(inits)
            .buffer_unordered(VISITS_IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await?;

        let mut linked = HashSet::new();
        let mut pending: Vec<(usize, EventRequest)> = Vec::new();
        for (at, slot) in resolved.into_iter().enumerate() {
            let Some((call, uuid)) = slot else {
                continue;
            };
            if let CallKind::Event(event) = call.kind {
                let mut event = *event;
                event.uuid = uuid;
                let links = match (call.caller.anonymous, call.caller.user_id) {
                    (Some(_), Some(user)) => Some(user),
                    _ => None,
                };
                if let Some(user) = links.filter(|user| !linked.contains(&(uuid, user.clone()))) {
                    // An event naming a device and a user links them, before it is stored.
                    self.record_pending(project, settings, &mut pending, &mut outcomes)
                        .await?;
                    linked.insert((uuid, user.clone()));
                    if self.store.session_user_id(project, &uuid).await?.as_ref() != Some(&user) {
                        let req = link(uuid, user, call.occurred_at, true);
                        self.identify(project, settings, &req, call.source).await?;
                    }
                }
                pending.push((at, event));
                continue;
            }
            self.record_pending(project, settings, &mut pending, &mut outcomes)
                .await?;
            outcomes[at] = Some(
                match self
                    .apply_call(project, settings, call, uuid, &mut linked)
                    .await
                {
                    Ok(()) => CallOutcome::Accepted,
                    Err(e) if e.status().is_client_error() => CallOutcome::Failed(refusal(&e)),
                    Err(e) => return Err(e),
                },
            );
        }
        self.record_pending(project, settings, &mut pending, &mut outcomes)
            .await?;
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(CallOutcome::Accepted))
            .collect())
    }

    /// Records the events waiting since the last call that names people, in bulk.
    async fn record_pending(
        &self,
        project: &Project,
        settings: &ProjectSettings,
        pending: &mut Vec<(usize, EventRequest)>,
        outcomes: &mut [Option<CallOutcome>],
    ) -> Result<(), Error> {
        if pending.is_empty() {
            return Ok(());
        }
        let (places, events): (Vec<usize>, Vec<EventRequest>) = pending.drain(..).unzip();
        let recorded = self
            .record_batch(project, settings, events.into_iter().map(Ok).collect())
            .await?;
        for (at, item) in places.into_iter().zip(recorded.items) {
            outcomes[at] = Some(match item {
                BatchItem::Invalid(errors) => CallOutcome::Failed(errors),
                BatchItem::Stored { .. }
                | BatchItem::Duplicate { .. }
                | BatchItem::Dropped { .. } => CallOutcome::Accepted,
            });
        }
        Ok(())
    }

    /// Applies a call that names people: an identify, a group or an alias.
    async fn apply_call(
        &self,
        project: &Project,
        settings: &ProjectSettings,
        call: Call,
        uuid: SessionUuid,
        linked: &mut HashSet<(SessionUuid, UserId)>,
    ) -> Result<(), Error> {
        let Call {
            caller,
            kind,
            event_id,
            source,
            occurred_at,
            visit: _,
        } = call;
        match kind {
            CallKind::Identify { traits } => match caller.user_id {
                Some(user) => {
                    linked.insert((uuid, user.clone()));
                    let req = IdentifyRequest {
                        traits,
                        event_id,
                        events: IdentifyEvents::All,
                        ..link(uuid, user, occurred_at, true)
                    };
                    self.identify(project, settings, &req, source).await?;
                }
                None => {
                    let req = AttributesRequest {
                        uuid,
                        attributes: traits,
                        replace: false,
                    };
                    self.set_attributes(project, settings, &req).await?;
                }
            },
            CallKind::Group { company } => {
                let user = match caller.user_id {
                    Some(user) => user,
                    None => self
                        .store
                        .session_user_id(project, &uuid)
                        .await?
                        .ok_or_else(|| {
                            Error::field(
                                "userId",
                                "a group call needs a userId, or an anonymousId identified before",
                            )
                        })?,
                };
                linked.insert((uuid, user.clone()));
                let req = IdentifyRequest {
                    company: Some(company),
                    event_id,
                    events: IdentifyEvents::Company,
                    ..link(uuid, user, occurred_at, true)
                };
                self.identify(project, settings, &req, source).await?;
            }
            CallKind::Alias { previous } => {
                let user = caller
                    .user_id
                    .ok_or_else(|| Error::field("userId", "is required"))?;
                let mut known = match UserId::parse(&previous) {
                    Ok(previous) => self.store.user_uuids(project, &previous).await?,
                    Err(_) => Vec::new(),
                };
                known.truncate(MAX_ALIASED_UUIDS);
                let uuids: Vec<SessionUuid> = if known.is_empty() {
                    vec![SessionUuid::for_external_id(project, &previous)]
                } else {
                    known
                        .iter()
                        .filter_map(|u| SessionUuid::parse(u).ok())
                        .collect()
                };
                for joined in uuids {
                    let req = link(joined, user.clone(), occurred_at, false);
                    self.identify(project, settings, &req, source.clone())
                        .await?;
                }
            }
            CallKind::Event(_) => {
                return Err(Error::Internal("an event reached apply_call".into()));
            }
        }
        Ok(())
    }

    /// What may be refused before anything of a call is stored: an event the tracking plan's
    /// naming refuses or too large to store (so its visit context is not applied either), and
    /// a call that names people past [`MAX_CALLS_NAMING_PEOPLE`].
    fn precheck(
        &self,
        settings: &ProjectSettings,
        call: Call,
        naming_people: &mut usize,
    ) -> Result<Call, Vec<FieldError>> {
        match &call.kind {
            CallKind::Event(event) => {
                match self.refusals(settings, std::slice::from_ref(event)).first() {
                    Some((_, Refusal::Naming(rule))) => Err(vec![FieldError::new("event", *rule)]),
                    Some((_, Refusal::TooLarge)) => {
                        Err(vec![FieldError::new("properties", EVENT_TOO_LARGE)])
                    }
                    None => Ok(call),
                }
            }
            _ => {
                *naming_people += 1;
                if *naming_people > MAX_CALLS_NAMING_PEOPLE {
                    return Err(vec![FieldError::new(
                        "type",
                        format!(
                            "a request may hold at most {MAX_CALLS_NAMING_PEOPLE} identify, \
                             group and alias messages; send the rest in another"
                        ),
                    )]);
                }
                Ok(call)
            }
        }
    }
}

/// An identify that links a UUID to a user and records nothing; `latest` as
/// [`IdentifyRequest::latest`].
fn link(uuid: SessionUuid, user_id: UserId, at: Timestamp, latest: bool) -> IdentifyRequest {
    IdentifyRequest {
        uuid,
        user_id,
        traits: Attributes::default(),
        company: None,
        event_id: None,
        latest,
        events: IdentifyEvents::None,
        occurred_at: Some(at),
    }
}

/// A call refused by a rule, as field errors.
fn refusal(err: &Error) -> Vec<FieldError> {
    match err.details() {
        [] => vec![FieldError::new("", err.to_string())],
        details => details.to_vec(),
    }
}
