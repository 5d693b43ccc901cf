//! Enrichment of an init: inline, or from a queued job that may arrive before its session is
//! visible (retried), after a newer init (dropped), or for a session that is gone.

use super::App;
use crate::domain::project::Project;
use crate::domain::values::SessionUuid;
use crate::error::Error;
use crate::queue::EnrichJob;
use crate::store::item::Item;
use crate::store::repo::session_attr;

impl App {
    /// Enriches a session item from its stored context and writes the result, unless a newer
    /// init has happened since. Returns whether anything was written.
    pub async fn enrich_item(
        &self,
        project: &Project,
        uuid: &SessionUuid,
        item: &Item,
    ) -> Result<bool, Error> {
        let Some(enrichment) = self.enricher.enrich_session(item) else {
            return Ok(false);
        };
        Ok(self
            .store
            .apply_enrichment(
                project,
                uuid,
                enrichment.init_seq,
                enrichment.fields,
                enrichment.first_touch,
            )
            .await?)
    }

    /// Runs one queued job. The session is read consistently: on DynamoDB an eventually
    /// consistent read may not see the init that queued the job yet, or see an older one.
    /// Such a job is retried, not dropped, for [`JOB_RETRY_WINDOW_SECS`] after its init; a job
    /// whose session is gone past that, or whose init has been superseded, is done: retrying
    /// it could never succeed.
    pub async fn process_job(&self, job: &EnrichJob) -> Result<JobOutcome, Error> {
        let project = Project::parse(&job.project).map_err(|m| Error::field("project", m))?;
        let uuid = SessionUuid::parse(&job.uuid).map_err(|m| Error::field("uuid", m))?;
        let stored = self.store.get_session_consistent(&project, &uuid).await?;
        let seq = stored
            .as_ref()
            .and_then(|item| crate::store::item::get_i64(item, session_attr::INIT_SEQ));
        match (stored, seq) {
            (Some(item), Some(seq)) if seq == job.init_seq => {
                Ok(if self.enrich_item(&project, &uuid, &item).await? {
                    JobOutcome::Enriched
                } else {
                    JobOutcome::Stale
                })
            }
            (Some(_), Some(seq)) if seq > job.init_seq => Ok(JobOutcome::Stale),
            // No session, or an older init than the job's: not there yet, or gone for good.
            _ => {
                let age_secs = (self.store.now().micros() - job.init_seq) / 1_000_000;
                if age_secs <= JOB_RETRY_WINDOW_SECS {
                    Ok(JobOutcome::NotYet)
                } else {
                    tracing::warn!(age_secs, "enrich job's session never appeared; dropped");
                    Ok(JobOutcome::Stale)
                }
            }
        }
    }
}

/// How long after its init a job whose session cannot be seen yet is retried. Replication
/// takes well under a second; past this the session was deleted or never written.
pub const JOB_RETRY_WINDOW_SECS: i64 = 15 * 60;

/// What became of a queued job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// The session was enriched.
    Enriched,
    /// Nothing to do, ever: a newer init came, or the session is gone.
    Stale,
    /// The session (or the job's init) is not visible yet: retry later.
    NotYet,
}
