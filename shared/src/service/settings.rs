//! Project settings through a per-process cache, like the keys: a change reaches every server
//! and function within the cache lifetime (at most 60 s), and a request pays no read for it in
//! between.

use std::time::Duration;

use super::cache::TtlCache;
use crate::domain::project::Project;
use crate::domain::settings::ProjectSettings;
use crate::store::Store;
use crate::store::table::StoreResult;

/// Settings by project, each kept at most `ttl`.
pub struct SettingsCache {
    ttl: Duration,
    entries: TtlCache<ProjectSettings>,
}

impl SettingsCache {
    pub fn new(ttl: Duration) -> Self {
        SettingsCache {
            ttl,
            // Projects are few (one per key pair); the bound only guards against a bug.
            entries: TtlCache::new(10_000),
        }
    }

    pub async fn get(&self, store: &Store, project: &Project) -> StoreResult<ProjectSettings> {
        self.entries
            .get_or_load(
                project.as_str(),
                |_| self.ttl,
                || store.project_settings(project),
            )
            .await
    }
}
