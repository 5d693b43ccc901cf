//! Tracking calls that name people by the client's ids (`domain::calls`): each caller resolved
//! to a UUID, then applied as the native routes would apply it: the visit context as an init,
//! identifies, companies and aliases as `identify`, events as a batch.

use std::collections::{HashMap, HashSet};

use super::{App, BatchItem};
use crate::domain::calls::{Call, CallKind, Caller};
use crate::domain::commands::{AttributesRequest, ClientInfo, EventRequest};
use crate::domain::project::Project;
use crate::domain::settings::ProjectSettings;
use crate::domain::user::{IdentifyRequest, UserId};
use crate::domain::values::{Attributes, SessionUuid};
use crate::error::{Error, FieldError};
use crate::store::item::get_s;
use crate::store::repo::session_attr;

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
    async fn uuid(&mut self, caller: &Caller) -> Result<SessionUuid, Error> {
        match (caller.anonymous, &caller.user_id) {
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
    /// Applies calls in the order sent, reporting each at its place: every UUID's visit
    /// context first (once per UUID, from its first call that carries one), then identifies,
    /// companies, aliases and the links events imply, then the events in bulk, so each event
    /// carries the user and company its call named.
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
        for call in calls {
            match call {
                Ok(call) => {
                    let uuid = resolver.uuid(&call.caller).await?;
                    outcomes.push(None);
                    resolved.push(Some((call, uuid)));
                }
                Err(errors) => {
                    outcomes.push(Some(CallOutcome::Failed(errors)));
                    resolved.push(None);
                }
            }
        }

        let mut visited = HashSet::new();
        for (call, uuid) in resolved.iter().flatten() {
            if let Some(visit) = &call.visit
                && visited.insert(*uuid)
            {
                let mut init = visit.clone();
                init.uuid = Some(*uuid);
                self.init(project, settings, origin, &init).await?;
            }
        }

        let mut linked = HashSet::new();
        let mut events: Vec<(usize, EventRequest)> = Vec::new();
        for (at, slot) in resolved.into_iter().enumerate() {
            let Some((call, uuid)) = slot else {
                continue;
            };
            match self
                .apply_call(project, settings, call, uuid, &mut linked)
                .await
            {
                Ok(Some(event)) => events.push((at, event)),
                Ok(None) => outcomes[at] = Some(CallOutcome::Accepted),
                Err(e) if e.status().is_client_error() => {
                    outcomes[at] = Some(CallOutcome::Failed(refusal(&e)));
                }
                Err(e) => return Err(e),
            }
        }

        let (places, events): (Vec<usize>, Vec<EventRequest>) = events.into_iter().unzip();
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
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(CallOutcome::Accepted))
            .collect())
    }

    /// Applies one call's identity part; an event comes back, on its UUID, to be recorded with
    /// the others.
    async fn apply_call(
        &self,
        project: &Project,
        settings: &ProjectSettings,
        call: Call,
        uuid: SessionUuid,
        linked: &mut HashSet<(SessionUuid, UserId)>,
    ) -> Result<Option<EventRequest>, Error> {
        let Call {
            caller,
            kind,
            event_id,
            source,
            visit: _,
        } = call;
        let identify = |uuid, user_id, traits, company, event_id| IdentifyRequest {
            uuid,
            user_id,
            traits,
            company,
            event_id,
            latest: true,
        };
        match kind {
            CallKind::Identify { traits } => match caller.user_id {
                Some(user) => {
                    linked.insert((uuid, user.clone()));
                    let req = identify(uuid, user, traits, None, event_id);
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
                    None => self.identified_user(project, uuid).await?.ok_or_else(|| {
                        Error::field(
                            "userId",
                            "a group call needs a userId, or an anonymousId identified before",
                        )
                    })?,
                };
                linked.insert((uuid, user.clone()));
                let req = identify(uuid, user, Attributes::default(), Some(company), event_id);
                self.identify(project, settings, &req, source).await?;
            }
            CallKind::Alias { previous } => {
                let user = caller
                    .user_id
                    .ok_or_else(|| Error::field("userId", "is required"))?;
                let known = match UserId::parse(&previous) {
                    Ok(previous) => self.store.user_uuids(project, &previous).await?,
                    Err(_) => Vec::new(),
                };
                let uuids: Vec<SessionUuid> = if known.is_empty() {
                    vec![SessionUuid::for_external_id(project, &previous)]
                } else {
                    known
                        .iter()
                        .filter_map(|u| SessionUuid::parse(u).ok())
                        .collect()
                };
                for joined in uuids {
                    let id = event_id.map(|id| id.derived(&joined.to_string()));
                    let req = IdentifyRequest {
                        latest: false,
                        ..identify(joined, user.clone(), Attributes::default(), None, id)
                    };
                    self.identify(project, settings, &req, source.clone())
                        .await?;
                }
            }
            CallKind::Event(event) => {
                let mut event = *event;
                event.uuid = uuid;
                if let (Some(_), Some(user)) = (caller.anonymous, caller.user_id)
                    && linked.insert((uuid, user.clone()))
                    && self.identified_user(project, uuid).await?.as_ref() != Some(&user)
                {
                    // An event naming both ids links them, as an identify without traits.
                    let id = event_id.map(|id| id.derived("identify_user"));
                    let req = identify(uuid, user, Attributes::default(), None, id);
                    self.identify(project, settings, &req, source).await?;
                }
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    /// The user a session was identified as, if any.
    async fn identified_user(
        &self,
        project: &Project,
        uuid: SessionUuid,
    ) -> Result<Option<UserId>, Error> {
        let session = self.store.get_session(project, &uuid).await?;
        Ok(session
            .as_ref()
            .and_then(|s| get_s(s, session_attr::USER_ID))
            .and_then(|id| UserId::parse(id).ok()))
    }
}

/// A call refused by a rule, as field errors.
fn refusal(err: &Error) -> Vec<FieldError> {
    match err.details() {
        [] => vec![FieldError::new("", err.to_string())],
        details => details.to_vec(),
    }
}
