//! The operations, each once: every HTTP route, worker and stream consumer calls these. The
//! App holds what they need (configuration, store, queue, enricher, key and settings caches),
//! built once per cold start (or once per `atrack serve`) and shared by every request.
//!
//! - `ingest`: init (a visit), attributes, events and batches
//! - `reads`: session/show's session and event/show's pages
//! - `stats`: the analytics stats and the ingest path's state
//! - `users`: identify, and the reads of users and companies
//! - `calls`: calls that name people by the client's ids (Segment's), resolved and applied
//! - `export`: a range of events as JSON lines, page by page
//! - `visits`: the sweeper that ends idle visits
//! - `enrichment`: enriching an init, inline or from a queued job
//! - `keys`, `settings`: the per-process caches in front of the store
//! - `cache`: the bounded expiring cache both use

pub mod cache;
pub mod calls;
pub mod enrichment;
pub mod export;
pub mod ingest;
pub mod keys;
pub mod lifecycle;
pub mod query;
pub mod reads;
pub mod settings;
pub mod stats;
pub mod users;
pub mod visits;

use std::sync::Arc;

pub use enrichment::{JOB_RETRY_WINDOW_SECS, JobOutcome};
pub use ingest::{BatchItem, BatchOutcome, InitOutcome, Recorded, Refusal};
use keys::KeyCache;
use settings::SettingsCache;
pub use stats::IngestStatus;

use crate::domain::project::{KeyRecord, Project};
use crate::domain::settings::ProjectSettings;
use crate::domain::time::{SharedClock, SystemClock, Timestamp};
use crate::enrich::Enricher;
use crate::enrich::geo::Geo;
use crate::error::Error;
use crate::queue::AnyQueue;
use crate::runtime::config::Config;
use crate::store::engine::dynamo::DynamoTable;
use crate::store::repo::Repo;
use crate::store::{AnyTable, Store};

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
        if let Some(secret) = &config.cursor_secret {
            store = store.with_cursor_secret(secret.as_bytes());
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
        let aws = crate::runtime::aws::load_config().await;
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

    /// The time by the App's clock (injected, so tests control it).
    pub fn now(&self) -> Timestamp {
        self.store.now()
    }

    /// A project's settings (privacy, tracking plan), through the per-process cache.
    pub async fn project_settings(&self, project: &Project) -> Result<ProjectSettings, Error> {
        Ok(self.settings.get(&self.store, project).await?)
    }

    /// The live key behind a raw key, through the per-process cache.
    pub async fn find_key(&self, raw: &str) -> Result<Option<KeyRecord>, Error> {
        self.keys.find(&self.store, raw).await
    }
}
