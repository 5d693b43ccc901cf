//! Project settings: one item per project (`PROJECT#<name>` / `SETTINGS`), set with
//! `atrack projects set`, and the expiry every item a project writes carries; and the count of
//! events the project's tracking plan dropped (`PROJECT#<name>` / `DROPPED`).

use std::sync::Arc;

use super::Repo;
use crate::domain::plan::{NameList, NamePattern, Naming, TrackingPlan};
use crate::domain::project::Project;
use crate::domain::settings::{MAX_RETENTION_DAYS, ProjectSettings};
use crate::domain::time::Timestamp;
use crate::domain::visit::{DEFAULT_SESSION_TIMEOUT_SECS, MAX_SESSION_TIMEOUT_SECS};
use crate::store::item::{Attr, Item, get_i64};
use crate::store::keys;
use crate::store::table::{Key, Read, StoreError, StoreResult, Table, Update, UpdateOp};

/// The dropped-events item's count attribute.
const DROPPED_ATTR: &str = "events";

/// The update that keeps a rewritten item's expiry in step with the settings: a new expiry
/// when retention is on, none when it has been turned off since.
pub fn expiry_op(settings: &ProjectSettings, now: Timestamp) -> UpdateOp {
    match settings.expires_at(now) {
        Some(at) => UpdateOp::Set(keys::TTL_ATTR.into(), Attr::n(at)),
        None => UpdateOp::Remove(keys::TTL_ATTR.into()),
    }
}

fn settings_key(project: &Project) -> Key {
    Key::new(keys::settings_pk(project.as_str()), keys::SETTINGS_SK)
}

fn dropped_key(project: &Project) -> Key {
    Key::new(keys::settings_pk(project.as_str()), keys::DROPPED_SK)
}

fn malformed() -> StoreError {
    StoreError::Internal("malformed project settings".into())
}

/// A list as stored: its entries as written (`debug.*`), in the list's order.
fn list_attr(list: &NameList) -> Attr {
    Attr::L(
        list.entries()
            .iter()
            .map(|e| Attr::S(e.to_string()))
            .collect(),
    )
}

fn read_list(item: &Item, name: &str) -> StoreResult<NameList> {
    let entries = match item.get(name) {
        None => return Ok(NameList::default()),
        Some(Attr::L(entries)) => entries,
        Some(_) => return Err(malformed()),
    };
    let entries = entries
        .iter()
        .map(|entry| {
            entry
                .as_s()
                .and_then(|text| NamePattern::parse(text).ok())
                .ok_or_else(malformed)
        })
        .collect::<StoreResult<Vec<_>>>()?;
    NameList::from_entries(entries).map_err(|_| malformed())
}

/// The plan a settings item holds: the default plan when it names none (items written before
/// plans existed).
fn read_plan(item: &Item) -> StoreResult<TrackingPlan> {
    let naming = match item.get("naming") {
        None => Naming::default(),
        Some(attr) => attr.as_s().and_then(Naming::parse).ok_or_else(malformed)?,
    };
    TrackingPlan::new(naming, read_list(item, "allow")?, read_list(item, "deny")?)
        .map_err(|_| malformed())
}

impl<T: Table> Repo<T> {
    /// A project's settings; the defaults when none were ever set.
    pub async fn project_settings(&self, project: &Project) -> StoreResult<ProjectSettings> {
        let Some(item) = self.table().get(&settings_key(project)).await? else {
            return Ok(ProjectSettings::default());
        };
        let anonymize_ip = matches!(item.get("anonymize_ip"), Some(Attr::Bool(true)));
        let retention_days = match get_i64(&item, "retention_days") {
            None => None,
            Some(days) => Some(
                u32::try_from(days)
                    .ok()
                    .filter(|d| (1..=MAX_RETENTION_DAYS).contains(d))
                    .ok_or_else(|| StoreError::Internal("malformed project settings".into()))?,
            ),
        };
        let session_timeout_secs = match get_i64(&item, "session_timeout_secs") {
            None => DEFAULT_SESSION_TIMEOUT_SECS,
            Some(secs) => u32::try_from(secs)
                .ok()
                .filter(|s| (1..=MAX_SESSION_TIMEOUT_SECS).contains(s))
                .ok_or_else(malformed)?,
        };
        Ok(ProjectSettings {
            anonymize_ip,
            retention_days,
            plan: Arc::new(read_plan(&item)?),
            // Absent in settings written before automatic events existed: off, as then.
            auto_events: matches!(item.get("auto_events"), Some(Attr::Bool(true))),
            session_timeout_secs,
        })
    }

    /// Gives a project the settings of a new one ([`ProjectSettings::for_new_project`]) unless
    /// it has settings already: called when a project gets a key pair, so a project created
    /// from now on records automatic events, and one that set anything keeps what it set.
    pub async fn ensure_project_settings(&self, project: &Project) -> StoreResult<()> {
        let key = settings_key(project);
        if self
            .table()
            .read(Read::new(&key).consistent())
            .await?
            .is_some()
        {
            return Ok(());
        }
        self.set_project_settings(project, &ProjectSettings::for_new_project())
            .await
    }

    /// Replaces a project's settings.
    pub async fn set_project_settings(
        &self,
        project: &Project,
        settings: &ProjectSettings,
    ) -> StoreResult<()> {
        if let Some(days) = settings.retention_days
            && !(1..=MAX_RETENTION_DAYS).contains(&days)
        {
            return Err(StoreError::Rejected(format!(
                "retention must be 1 to {MAX_RETENTION_DAYS} days"
            )));
        }
        if !(1..=MAX_SESSION_TIMEOUT_SECS).contains(&settings.session_timeout_secs) {
            return Err(StoreError::Rejected(format!(
                "the session timeout must be 1 to {MAX_SESSION_TIMEOUT_SECS} seconds"
            )));
        }
        let key = settings_key(project);
        let mut ops = vec![
            UpdateOp::Set("project".into(), Attr::s(project.as_str())),
            UpdateOp::Set("anonymize_ip".into(), Attr::Bool(settings.anonymize_ip)),
            UpdateOp::Set("updated_at".into(), Attr::S(self.now().to_string())),
        ];
        ops.push(match settings.retention_days {
            Some(days) => UpdateOp::Set("retention_days".into(), Attr::n(i64::from(days))),
            None => UpdateOp::Remove("retention_days".into()),
        });
        let plan = &settings.plan;
        ops.extend([
            UpdateOp::Set("naming".into(), Attr::s(plan.naming().as_str())),
            UpdateOp::Set("allow".into(), list_attr(plan.allow())),
            UpdateOp::Set("deny".into(), list_attr(plan.deny())),
            UpdateOp::Set("auto_events".into(), Attr::Bool(settings.auto_events)),
            UpdateOp::Set(
                "session_timeout_secs".into(),
                Attr::n(i64::from(settings.session_timeout_secs)),
            ),
        ]);
        self.table()
            .update(Update {
                key,
                ops,
                condition: None,
            })
            .await?;
        Ok(())
    }

    /// Counts `n` more events the project's plan dropped: one atomic add to one item, whatever
    /// `n`, so a batch that drops many costs one write and the events' own path none.
    pub async fn count_dropped(&self, project: &Project, n: u64) -> StoreResult<()> {
        if n == 0 {
            return Ok(());
        }
        let n = i64::try_from(n).map_err(|_| StoreError::Rejected("count too large".into()))?;
        self.table()
            .update(Update {
                key: dropped_key(project),
                ops: vec![UpdateOp::Add(DROPPED_ATTR.into(), n)],
                condition: None,
            })
            .await?;
        Ok(())
    }

    /// How many events the project's plan has dropped, read consistently: the count is written
    /// directly (not through the stream), so it is exact at once on both engines.
    pub async fn dropped_events(&self, project: &Project) -> StoreResult<u64> {
        let key = dropped_key(project);
        let item = self.table().read(Read::new(&key).consistent()).await?;
        Ok(item
            .and_then(|item| get_i64(&item, DROPPED_ATTR))
            .map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_follows_retention_or_is_removed() {
        let now = Timestamp::from_micros(1_700_000_000_123_456);
        let keep = ProjectSettings::default();
        assert_eq!(
            expiry_op(&keep, now),
            UpdateOp::Remove(keys::TTL_ATTR.into())
        );
        let month = ProjectSettings {
            retention_days: Some(30),
            ..keep
        };
        assert_eq!(
            expiry_op(&month, now),
            UpdateOp::Set(keys::TTL_ATTR.into(), Attr::n(1_700_000_000 + 30 * 86_400))
        );
    }
}
