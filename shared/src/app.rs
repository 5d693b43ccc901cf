//! The App: configuration, store, queue, enricher and key cache, built once per cold start (or
//! once per `atrack serve`) and shared by every request.

use std::sync::Arc;

use crate::api::auth::KeyCache;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::enrich::Enricher;
use crate::enrich::geo::Geo;
use crate::error::Error;
use crate::queue::{AnyQueue, EnrichJob};
use crate::settings::SettingsCache;
use crate::store::engine::dynamo::DynamoTable;
use crate::store::item::Item;
use crate::store::repo::{Project, Repo, session_attr};
use crate::store::{AnyTable, Store};
use crate::validate::SessionUuid;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub keys: KeyCache,
    pub settings: SettingsCache,
    pub enricher: Enricher,
    pub queue: Option<AnyQueue>,
}

pub type SharedApp = Arc<App>;

impl App {
    pub fn new(
        config: Config,
        table: AnyTable,
        queue: Option<AnyQueue>,
        enricher: Enricher,
        clock: SharedClock,
    ) -> Self {
        let mut store = Repo::new(table, clock);
        match &config.cursor_secret {
            Some(secret) => store = store.with_cursor_secret(secret.as_bytes()),
            None => tracing::warn!(
                "ATRACK_CURSOR_SECRET is not set: event/show cursors are signed with a secret \
                 of this process and fail in any other"
            ),
        }
        App {
            keys: KeyCache::new(config.key_cache_ttl),
            settings: SettingsCache::new(config.key_cache_ttl),
            store,
            enricher,
            queue,
            config,
        }
    }

    /// The Lambda setup: DynamoDB (and SQS when `QUEUE_URL` is set) from the environment,
    /// AWS clients built once.
    pub async fn from_lambda_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = Config::from_env()?;
        let table_name = config.table_name.clone().ok_or("TABLE_NAME is not set")?;
        let aws = crate::aws::load_config().await;
        let table = AnyTable::Dynamo(DynamoTable::new(
            aws_sdk_dynamodb::Client::new(&aws),
            table_name,
        ));
        let queue = config.queue_url.as_ref().map(|url| {
            AnyQueue::Sqs(crate::queue::sqs::SqsQueue::new(
                aws_sdk_sqs::Client::new(&aws),
                url,
            ))
        });
        let geo = Geo::open(
            config.geoip_city_db.as_deref(),
            config.geoip_asn_db.as_deref(),
        );
        Ok(App::new(
            config,
            table,
            queue,
            Enricher::new(geo),
            Arc::new(SystemClock),
        ))
    }

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
