//! Project settings: one item per project (`PROJECT#<name>` / `SETTINGS`), set with
//! `atrack projects set`, and the expiry every item a project writes carries.

use super::Repo;
use crate::domain::project::Project;
use crate::domain::settings::{MAX_RETENTION_DAYS, ProjectSettings};
use crate::domain::time::Timestamp;
use crate::store::item::{Attr, get_i64};
use crate::store::keys;
use crate::store::table::{Key, StoreError, StoreResult, Table, Update, UpdateOp};

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
        Ok(ProjectSettings {
            anonymize_ip,
            retention_days,
        })
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
        self.table()
            .update(Update {
                key,
                ops,
                condition: None,
            })
            .await?;
        Ok(())
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
