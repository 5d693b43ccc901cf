//! Users and companies: identify (a UUID linked to a user, traits merged, company membership),
//! and their reads. A user's partition holds the user item and one item per UUID of theirs; a
//! company's holds the company item and one item per member, counted, so `user/show` is one
//! query and `company/show`'s `users_count` is a count, never a read of the members.
//!
//! Who a UUID belongs to is written on its session (`user_id`, `company_id`), which every event
//! already reads: an event carries its user and company at no extra read or write.

use super::sessions::session_attr;
use super::visits::StoredVisit;
use super::{Repo, expired, expiry_op, json_map, now_attr};
use crate::domain::project::Project;
use crate::domain::settings::ProjectSettings;
use crate::domain::time::Timestamp;
use crate::domain::user::{CompanyId, IdentifyRequest, UserId};
use crate::domain::values::SessionUuid;
use crate::store::item::{Attr, Item, get_s};
use crate::store::keys::{self, COUNTED_IN, PK, SK, TTL_ATTR};
use crate::store::table::{
    Condition, Key, Query, Read, SortRange, StoreError, StoreResult, Table, Update, UpdateOp,
};

/// How many of a user's UUIDs `user/show` lists, and how many of them its `last_seen_at` is
/// taken from (one batch read of their visits).
pub const MAX_LISTED_UUIDS: usize = 100;

/// The user item's attribute naming the UUID identified last.
const LAST_UUID: &str = "last_uuid";

/// A user as `user/show` reads it.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The user item (`user_id`, `traits`, `company_id`, `first_seen_at`, …).
    pub user: Item,
    /// Their UUIDs, at most [`MAX_LISTED_UUIDS`], in UUID order.
    pub uuids: Vec<String>,
    /// The latest activity of any of those UUIDs, or the latest identify if later.
    pub last_seen_at: Option<Timestamp>,
}

/// One page of a company's members.
#[derive(Debug, Clone)]
pub struct MemberPage {
    pub user_ids: Vec<String>,
    /// The last user id listed, when more may follow.
    pub last: Option<String>,
}

impl<T: Table> Repo<T> {
    /// Applies an identify: the UUID moves to the user (from whichever user it belonged to),
    /// the traits are merged into the user, and with a company its traits are merged into it
    /// and the user moves to it (from whichever company they belonged to). An unknown UUID
    /// gets a minimal session, as every write does.
    ///
    /// Each step is idempotent, so a retried identify converges. Two identifies racing to move
    /// one UUID or one user leave one of them whole: the session, the user item and the member
    /// item each take the later write.
    pub async fn identify(
        &self,
        project: &Project,
        req: &IdentifyRequest,
        settings: &ProjectSettings,
    ) -> StoreResult<()> {
        let now = self.now();
        let p = project.as_str();
        let user_id = req.user_id.as_str();
        let uuid = req.uuid.to_string();
        let user_key = Key::new(keys::user_pk(p, user_id), keys::USER_SK);
        let session_key = Self::session_key(project, &req.uuid);
        let (user_before, session_before) = futures::future::try_join(
            self.table.read(Read::new(&user_key).consistent()),
            self.table.read(Read::new(&session_key).consistent()),
        )
        .await?;
        let old_company = user_before
            .as_ref()
            .and_then(|u| get_s(u, "company_id"))
            .map(str::to_owned);
        let company = match &req.company {
            Some(c) => Some(c.company_id.as_str().to_owned()),
            None => old_company.clone(),
        };
        let expiry = expiry_op(settings, now);

        // The user: created on first sight, its traits merged.
        let mut ops = vec![
            UpdateOp::SetIfAbsent("user_id".into(), Attr::s(user_id)),
            UpdateOp::SetIfAbsent("first_seen_at".into(), now_attr(now)),
            UpdateOp::Set("last_identified_at".into(), now_attr(now)),
            UpdateOp::Set("updated_at".into(), now_attr(now)),
            UpdateOp::MergeMap("traits".into(), json_map(&req.traits)),
            expiry.clone(),
        ];
        // The UUID identified last: where a call naming only the user lands.
        if req.latest {
            ops.push(UpdateOp::Set(LAST_UUID.into(), Attr::S(uuid.clone())));
        }
        if let Some(company) = &company {
            ops.push(UpdateOp::Set("company_id".into(), Attr::s(company)));
        }
        self.table
            .update(Update {
                key: user_key,
                ops,
                condition: None,
            })
            .await?;

        // The UUID's link: out of its former user's partition, into this one's.
        let old_user = session_before
            .as_ref()
            .and_then(|s| get_s(s, session_attr::USER_ID))
            .map(str::to_owned);
        if let Some(old) = old_user.as_deref().filter(|old| *old != user_id) {
            self.table
                .delete(&Key::new(keys::user_pk(p, old), keys::user_uuid_sk(&uuid)))
                .await?;
            // Calls naming only the former user no longer land in this UUID.
            let forgotten = self
                .table
                .update(Update {
                    key: Key::new(keys::user_pk(p, old), keys::USER_SK),
                    ops: vec![UpdateOp::Remove(LAST_UUID.into())],
                    condition: Some(Condition::Equals(LAST_UUID.into(), Attr::S(uuid.clone()))),
                })
                .await;
            match forgotten {
                Ok(_) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        let mut link = Item::from([
            (PK.into(), Attr::S(keys::user_pk(p, user_id))),
            (SK.into(), Attr::S(keys::user_uuid_sk(&uuid))),
            ("uuid".into(), Attr::S(uuid.clone())),
            ("linked_at".into(), now_attr(now)),
        ]);
        if let Some(at) = settings.expires_at(now) {
            link.insert(TTL_ATTR.into(), Attr::n(at));
        }
        self.table.put(link, None).await?;

        // The session: whose it is now, which its events copy.
        let mut ops = self.identity_ops(&req.uuid, now).await?;
        ops.push(expiry.clone());
        ops.push(UpdateOp::Set(
            session_attr::USER_ID.into(),
            Attr::s(user_id),
        ));
        ops.push(match &company {
            Some(company) => UpdateOp::Set(session_attr::COMPANY_ID.into(), Attr::s(company)),
            None => UpdateOp::Remove(session_attr::COMPANY_ID.into()),
        });
        self.table
            .update(Update {
                key: session_key,
                ops,
                condition: None,
            })
            .await?;

        let Some(joined) = &req.company else {
            return Ok(());
        };
        let company_id = joined.company_id.as_str();
        self.table
            .update(Update {
                key: Key::new(keys::company_pk(p, company_id), keys::COMPANY_SK),
                ops: vec![
                    UpdateOp::SetIfAbsent("company_id".into(), Attr::s(company_id)),
                    UpdateOp::SetIfAbsent("first_seen_at".into(), now_attr(now)),
                    UpdateOp::Set("updated_at".into(), now_attr(now)),
                    UpdateOp::MergeMap("traits".into(), json_map(&joined.traits)),
                    expiry,
                ],
                condition: None,
            })
            .await?;
        // Membership: the member item is counted under the company's members, so moving it is
        // what moves the count, exactly once on both engines. Put even when unchanged: a
        // retry after a failure between the two writes completes the move.
        if let Some(old) = old_company.as_deref().filter(|old| *old != company_id) {
            self.table
                .delete(&Key::new(
                    keys::company_pk(p, old),
                    keys::member_sk(user_id),
                ))
                .await?;
        }
        let mut member = Item::from([
            (PK.into(), Attr::S(keys::company_pk(p, company_id))),
            (SK.into(), Attr::S(keys::member_sk(user_id))),
            ("user_id".into(), Attr::s(user_id)),
            (
                COUNTED_IN.into(),
                Attr::L(vec![Attr::S(keys::members_counter(p, company_id))]),
            ),
        ]);
        if let Some(at) = settings.expires_at(now) {
            member.insert(TTL_ATTR.into(), Attr::n(at));
        }
        self.table.put(member, None).await?;

        // The user's other UUIDs now belong to the new company too: their later events say so.
        if old_company.as_deref() != Some(company_id) {
            let others = self.user_uuids(project, &req.user_id).await?;
            for other in others.iter().filter(|u| **u != uuid) {
                let key = Key::new(keys::session_pk(p, other), keys::SESSION_SK);
                let moved = self
                    .table
                    .update(Update {
                        key,
                        ops: vec![UpdateOp::Set(
                            session_attr::COMPANY_ID.into(),
                            Attr::s(company_id),
                        )],
                        // Only while it is still this user's: never creates a session, never
                        // touches one another identify has moved since.
                        condition: Some(Condition::Equals(
                            session_attr::USER_ID.into(),
                            Attr::s(user_id),
                        )),
                    })
                    .await;
                match moved {
                    Ok(_) | Err(StoreError::ConditionFailed) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// The UUID a user was identified on last, if the user is known (and not past its
    /// retention).
    pub async fn user_last_uuid(
        &self,
        project: &Project,
        user_id: &UserId,
    ) -> StoreResult<Option<SessionUuid>> {
        let key = Key::new(
            keys::user_pk(project.as_str(), user_id.as_str()),
            keys::USER_SK,
        );
        let user = self.table.read(Read::new(&key).consistent()).await?;
        Ok(user
            .filter(|u| !expired(u, self.now()))
            .and_then(|u| get_s(&u, LAST_UUID).and_then(|s| SessionUuid::parse(s).ok())))
    }

    /// The user a session was identified as, read strongly consistent; `None` for a session
    /// never identified (or unknown).
    pub async fn session_user_id(
        &self,
        project: &Project,
        uuid: &SessionUuid,
    ) -> StoreResult<Option<UserId>> {
        let key = Self::session_key(project, uuid);
        let session = self.table.read(Read::new(&key).consistent()).await?;
        Ok(session
            .as_ref()
            .and_then(|s| get_s(s, session_attr::USER_ID))
            .and_then(|id| UserId::parse(id).ok()))
    }

    /// A user's UUIDs, all of them, in UUID order.
    pub async fn user_uuids(
        &self,
        project: &Project,
        user_id: &UserId,
    ) -> StoreResult<Vec<String>> {
        let mut uuids = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .table
                .query(Query {
                    index: None,
                    partition: keys::user_pk(project.as_str(), user_id.as_str()),
                    range: SortRange::BeginsWith(keys::USER_UUID_PREFIX.into()),
                    ascending: true,
                    limit: 1000,
                    start_after: after.take(),
                    skip: 0,
                })
                .await?;
            uuids.extend(
                page.items
                    .iter()
                    .filter_map(|i| get_s(i, "uuid"))
                    .map(str::to_owned),
            );
            match page.last {
                Some(last) => after = Some(last),
                None => return Ok(uuids),
            }
        }
    }

    /// A user, their UUIDs and when any of them was last active; `None` for an unknown user
    /// (or one past its retention).
    pub async fn user(
        &self,
        project: &Project,
        user_id: &UserId,
    ) -> StoreResult<Option<UserRecord>> {
        let now = self.now();
        let p = project.as_str();
        let key = Key::new(keys::user_pk(p, user_id.as_str()), keys::USER_SK);
        let (user, page) = futures::future::try_join(
            self.table.read(Read::new(&key)),
            self.table.query(Query {
                index: None,
                partition: key.pk.clone(),
                range: SortRange::BeginsWith(keys::USER_UUID_PREFIX.into()),
                ascending: true,
                limit: MAX_LISTED_UUIDS,
                start_after: None,
                skip: 0,
            }),
        )
        .await?;
        let Some(user) = user.filter(|u| !expired(u, now)) else {
            return Ok(None);
        };
        let uuids: Vec<String> = page
            .items
            .iter()
            .filter(|i| !expired(i, now))
            .filter_map(|i| get_s(i, "uuid"))
            .map(str::to_owned)
            .collect();
        let visits: Vec<Key> = uuids
            .iter()
            .map(|u| Key::new(keys::session_pk(p, u), keys::VISIT_SK))
            .collect();
        let last_active = self
            .table
            .read_many(&visits)
            .await?
            .iter()
            .filter_map(|v| StoredVisit::from_item(v.as_ref(), now).state)
            .map(|state| state.last_activity)
            .max();
        let identified = get_s(&user, "last_identified_at").and_then(Timestamp::parse_rfc3339);
        Ok(Some(UserRecord {
            last_seen_at: last_active.max(identified),
            user,
            uuids,
        }))
    }

    /// A company item; `None` for an unknown company.
    pub async fn company(
        &self,
        project: &Project,
        company_id: &CompanyId,
    ) -> StoreResult<Option<Item>> {
        let key = Key::new(
            keys::company_pk(project.as_str(), company_id.as_str()),
            keys::COMPANY_SK,
        );
        let now = self.now();
        Ok(self
            .table
            .read(Read::new(&key))
            .await?
            .filter(|c| !expired(c, now)))
    }

    /// How many members a company has: a count, kept as members come and go.
    pub async fn company_members_count(
        &self,
        project: &Project,
        company_id: &CompanyId,
    ) -> StoreResult<u64> {
        self.table
            .count(&keys::members_counter(
                project.as_str(),
                company_id.as_str(),
            ))
            .await
    }

    /// Up to `limit` of a company's members in user id order, after `after` (the previous
    /// page's last user id).
    pub async fn company_members(
        &self,
        project: &Project,
        company_id: &CompanyId,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<MemberPage> {
        let pk = keys::company_pk(project.as_str(), company_id.as_str());
        let start_after = after.map(|user_id| {
            Item::from([
                (PK.into(), Attr::S(pk.clone())),
                (SK.into(), Attr::S(keys::member_sk(user_id))),
            ])
        });
        let now = self.now();
        let page = self
            .table
            .query(Query {
                index: None,
                partition: pk.clone(),
                range: SortRange::BeginsWith(keys::MEMBER_PREFIX.into()),
                ascending: true,
                limit: limit + 1,
                start_after,
                skip: 0,
            })
            .await?;
        let mut user_ids: Vec<String> = page
            .items
            .iter()
            .filter(|i| !expired(i, now))
            .filter_map(|i| get_s(i, "user_id"))
            .map(str::to_owned)
            .collect();
        let more = page.items.len() > limit;
        user_ids.truncate(limit);
        Ok(MemberPage {
            last: more.then(|| user_ids.last().cloned()).flatten(),
            user_ids,
        })
    }
}

/// A user's or company's traits as JSON (`{}` when none were sent).
pub fn traits(item: &Item) -> serde_json::Value {
    match crate::store::item::get_json(item, "traits") {
        serde_json::Value::Null => serde_json::json!({}),
        v => v,
    }
}
