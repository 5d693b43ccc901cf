//! The end of data: deleting one event (two-stage: hidden now, purged later, a cap on what may
//! wait for the purge), erasing a session with everything derived from it, and the purge.

use super::App;
use crate::domain::project::Project;
use crate::domain::values::SessionUuid;
use crate::error::Error;
use crate::store::repo::PurgeReport;
use crate::store::track_id;

impl App {
    /// Deletes the event a track id names. `NotFound` for an id that names nothing in this
    /// project, or an event already deleted; `TooManyPendingDeletes` (with the seconds to the
    /// next purge) when the project's deletions waiting for the purge have reached the cap.
    pub async fn delete_event(&self, project: &Project, id: &str) -> Result<(), Error> {
        let not_found = || Error::NotFound("no event with this id".into());
        let Some((uuid, sk)) = track_id::decode(id) else {
            return Err(not_found());
        };
        let pending = self.store.pending_deletes(project).await?;
        if pending >= self.config.max_pending_deletes {
            return Err(Error::TooManyPendingDeletes {
                retry_after_secs: self.seconds_to_next_purge().await?,
            });
        }
        match self.store.delete_event(project, &uuid, &sk).await? {
            true => Ok(()),
            false => Err(not_found()),
        }
    }

    /// Erases a session and everything of it: the session, its visit, its events (deleted
    /// ones too) and their markers, index entries and counts. Returns how many items went;
    /// `NotFound` when there was nothing under the UUID.
    pub async fn erase_session(&self, project: &Project, uuid: &SessionUuid) -> Result<u64, Error> {
        match self.store.erase_session(project, uuid).await? {
            0 => Err(Error::NotFound("no session with this uuid".into())),
            n => Ok(n),
        }
    }

    /// Purges every deleted event (`atrack serve`'s purge sweeper, the `purge` function).
    pub async fn purge_deleted(&self) -> Result<PurgeReport, Error> {
        Ok(self.store.purge_deleted().await?)
    }

    /// Seconds until the next purge is due: the last one plus the interval the last two kept
    /// (the configured interval until there are two), at least one. On AWS the schedule that
    /// runs the purge sets the interval; the functions need not be told it.
    async fn seconds_to_next_purge(&self) -> Result<u64, Error> {
        let status = self.store.purge_status().await?;
        let configured = i64::try_from(self.config.purge_interval_secs).unwrap_or(i64::MAX);
        let Some(last) = status.last else {
            return Ok(self.config.purge_interval_secs.max(1));
        };
        let interval = status
            .previous
            .map_or(configured, |previous| last.saturating_sub(previous))
            .max(1);
        let left = last
            .saturating_add(interval)
            .saturating_sub(self.now().seconds());
        Ok(u64::try_from(left).unwrap_or(0).max(1))
    }
}
