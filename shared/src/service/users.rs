//! Users and companies: identify, and the reads of a user and of a company.

use serde_json::{Map, Value, json};

use super::App;
use crate::domain::commands::EventRequest;
use crate::domain::event::{Category, EventType, Priority, Source};
use crate::domain::plan::Verdict;
use crate::domain::project::Project;
use crate::domain::settings::ProjectSettings;
use crate::domain::user::{CompanyId, IdentifyRequest, UserId};
use crate::domain::values::{Attributes, EventName};
use crate::error::Error;
use crate::store::cursor::CursorState;
use crate::store::item::{Attr, Item, get_json, get_s};
use crate::store::keys;
use crate::store::repo::{MemberPage, session_attr, traits};

/// How many member ids a page of `company/show` lists.
pub const MEMBERS_PER_PAGE: usize = 100;

/// The cursor's `sort` for a company's member pages (a cursor of another listing is foreign).
const MEMBERS_CURSOR: &str = "members";

/// A company with one page of its members.
pub struct CompanyView {
    pub company: Item,
    pub users_count: u64,
    pub members: MemberPage,
    pub next_cursor: Option<String>,
}

impl App {
    /// Links the UUID to the user (and the user to the company), then records what happened
    /// on the UUID: an `identify_user` event with the traits sent and, with a company, an
    /// `identify_company` event with its traits. Both come after the link, so they carry the
    /// user and company as every later event of the UUID will.
    pub async fn identify(
        &self,
        project: &Project,
        settings: &ProjectSettings,
        req: &IdentifyRequest,
        source: Source,
    ) -> Result<(), Error> {
        self.store.identify(project, req, settings).await?;
        let limits = &self.config.limits;
        let mut events = vec![(EventType::IdentifyUser, req.traits.clone(), req.event_id)];
        if let Some(company) = &req.company {
            let id = req
                .event_id
                .map(|id| id.derived(EventType::IdentifyCompany.as_str()));
            events.push((EventType::IdentifyCompany, company.traits.clone(), id));
        }
        for (kind, attributes, event_id) in events {
            let name =
                EventName::parse(kind.as_str(), limits).map_err(|e| Error::Internal(e.into()))?;
            let mut event = own_event(req, name, kind, attributes, &source, self.now());
            event.event_id = event_id;
            self.record_own_event(project, settings, event).await?;
        }
        Ok(())
    }

    /// Records an event the server names, if the project's plan keeps it: its names follow any
    /// naming rule, so only the plan's lists exclude one (it is then counted as dropped).
    async fn record_own_event(
        &self,
        project: &Project,
        settings: &ProjectSettings,
        event: EventRequest,
    ) -> Result<(), Error> {
        match settings.plan.check(&event.name) {
            Verdict::Store => {
                self.store.record_event(project, event, settings).await?;
            }
            Verdict::Drop | Verdict::Invalid(_) => self.store.count_dropped(project, 1).await?,
        }
        Ok(())
    }

    /// `user/show`'s answer: the user and their company, or `None` for an unknown user.
    pub async fn user(&self, project: &Project, user_id: &UserId) -> Result<Option<Value>, Error> {
        let Some(record) = self.store.user(project, user_id).await? else {
            return Ok(None);
        };
        let company = match get_s(&record.user, "company_id").map(CompanyId::parse) {
            Some(Ok(company_id)) => match self.store.company(project, &company_id).await? {
                Some(item) => {
                    let count = self
                        .store
                        .company_members_count(project, &company_id)
                        .await?;
                    company_json(&item, count)
                }
                None => Value::Null,
            },
            _ => Value::Null,
        };
        let mut user = user_json(&record.user);
        user["uuids"] = json!(record.uuids);
        user["first_seen_at"] = get_json(&record.user, "first_seen_at");
        user["last_seen_at"] = json!(record.last_seen_at.map(|t| t.to_string()));
        Ok(Some(json!({"user": user, "company": company})))
    }

    /// The user a session belongs to, as `session/show` shows it, or `None`.
    pub async fn session_user(
        &self,
        project: &Project,
        session: &Item,
    ) -> Result<Option<Value>, Error> {
        let Some(Ok(user_id)) = get_s(session, session_attr::USER_ID).map(UserId::parse) else {
            return Ok(None);
        };
        Ok(self
            .store
            .user(project, &user_id)
            .await?
            .map(|record| user_json(&record.user)))
    }

    /// A company, its member count and a page of its members (after `cursor`'s).
    pub async fn company(
        &self,
        project: &Project,
        company_id: &CompanyId,
        cursor: Option<&str>,
    ) -> Result<Option<CompanyView>, Error> {
        let codec = self.store.cursors();
        let (page, after) = match cursor {
            None => (1, None),
            Some(text) => {
                let state =
                    codec.decode(text, project.as_str(), company_id.as_str(), MEMBERS_CURSOR)?;
                let after = get_s(&state.after, keys::SK)
                    .and_then(|sk| sk.strip_prefix(keys::MEMBER_PREFIX))
                    .map(str::to_owned)
                    .ok_or(crate::store::cursor::CursorError::Malformed)?;
                (state.page, Some(after))
            }
        };
        let Some(company) = self.store.company(project, company_id).await? else {
            return Ok(None);
        };
        let (users_count, members) = futures::future::try_join(
            self.store.company_members_count(project, company_id),
            self.store
                .company_members(project, company_id, after.as_deref(), MEMBERS_PER_PAGE),
        )
        .await?;
        let next_cursor = members.last.as_ref().map(|last| {
            codec.encode(&CursorState {
                project: project.as_str().to_owned(),
                name: company_id.as_str().to_owned(),
                sort: MEMBERS_CURSOR.to_owned(),
                page: page + 1,
                after: Item::from([(keys::SK.to_owned(), Attr::S(keys::member_sk(last)))]),
            })
        });
        Ok(Some(CompanyView {
            company,
            users_count,
            members,
            next_cursor,
        }))
    }
}

/// One of identify's own events on the UUID.
fn own_event(
    req: &IdentifyRequest,
    name: EventName,
    kind: EventType,
    attributes: Attributes,
    source: &Source,
    now: crate::domain::time::Timestamp,
) -> EventRequest {
    EventRequest {
        uuid: req.uuid,
        name,
        attributes,
        label: None,
        category: Category::System,
        priority: Priority::Low,
        kind,
        source: source.clone(),
        occurred_at: now,
        stamped_by_client: false,
        event_id: None,
        ip_address: None,
        user_agent: None,
        page_url: None,
        referrer: None,
        place: None,
        device_id: None,
    }
}

/// A user as a session and `user/show` show it.
pub fn user_json(user: &Item) -> Value {
    json!({
        "user_id": get_json(user, "user_id"),
        "traits": traits(user),
        "company_id": get_json(user, "company_id"),
    })
}

/// A company as `user/show` and `company/show` show it.
pub fn company_json(company: &Item, users_count: u64) -> Value {
    let mut out = Map::new();
    out.insert("company_id".into(), get_json(company, "company_id"));
    out.insert("traits".into(), traits(company));
    out.insert("users_count".into(), json!(users_count));
    out.insert("first_seen_at".into(), get_json(company, "first_seen_at"));
    out.insert("updated_at".into(), get_json(company, "updated_at"));
    Value::Object(out)
}
