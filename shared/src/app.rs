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
use crate::store::repo::{Project, Repo};
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
        App {
            keys: KeyCache::new(config.key_cache_ttl),
            settings: SettingsCache::new(config.key_cache_ttl),
            store: Repo::new(table, clock),
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

    /// Runs one queued job. A job for a vanished session or an outdated init is done, not
    /// failed: retrying it could never succeed.
    pub async fn process_job(&self, job: &EnrichJob) -> Result<bool, Error> {
        let project = Project::parse(&job.project).map_err(|m| Error::field("project", m))?;
        let uuid = SessionUuid::parse(&job.uuid).map_err(|m| Error::field("uuid", m))?;
        let Some(item) = self.store.get_session(&project, &uuid).await? else {
            return Ok(false);
        };
        if crate::store::item::get_i64(&item, crate::store::repo::session_attr::INIT_SEQ)
            != Some(job.init_seq)
        {
            return Ok(false);
        }
        self.enrich_item(&project, &uuid, &item).await
    }
}
