//! Typed configuration, read from the environment once per cold start.

use std::path::PathBuf;
use std::time::Duration;

use crate::domain::values::{Limits, MAX_BATCH_EVENTS};

/// The shortest cursor secret accepted: HMAC-SHA256's own key size.
pub const MIN_CURSOR_SECRET_BYTES: usize = 32;

/// Settings shared by the Lambda functions and `atrack serve`.
#[derive(Debug, Clone)]
pub struct Config {
    /// DynamoDB table (Lambda: required).
    pub table_name: Option<String>,
    /// SQS queue for enrichment jobs; without it init enriches synchronously.
    pub queue_url: Option<String>,
    pub geoip_city_db: Option<PathBuf>,
    pub geoip_asn_db: Option<PathBuf>,
    /// `json` for CloudWatch, anything else for readable text.
    pub log_format: String,
    /// Take the client IP from X-Forwarded-For (only behind a proxy you control).
    pub trust_forwarded_for: bool,
    /// How many proxies of ours stand in front of the server when X-Forwarded-For is trusted:
    /// the client is the entry this many places from the right.
    pub trusted_proxies: usize,
    /// The deployment's secret for signing event/show cursors (at least 32 bytes). Every
    /// process of one deployment must share it for a cursor from one to work in another.
    pub cursor_secret: Option<String>,
    /// How long a resolved API key is cached; bounds how late a revocation takes effect.
    pub key_cache_ttl: Duration,
    pub limits: Limits,
    /// How the stream consumer is set up (template.yaml passes its event source's settings),
    /// for the analytics stats' `buffer_status` on AWS: records a delivery takes at most, and
    /// how long Lambda gathers them.
    pub stream_batch_size: u64,
    pub stream_batching_window_secs: u64,
    /// How many events a query may read before filling its page (`ATRACK_QUERY_READ_BUDGET`):
    /// past it the query stops with `422 query_too_expensive` instead of reading on.
    pub query_read_budget: usize,
    /// How many deleted events of a project may wait for the purge before a deletion is
    /// refused with 429 (`ATRACK_MAX_PENDING_DELETES`, the profile store's million).
    pub max_pending_deletes: u64,
    /// How often the purge runs (`ATRACK_PURGE_INTERVAL_SECS`, a day): what a refused
    /// deletion's `Retry-After` counts to until two purges have shown the real interval (on
    /// AWS the purge function's schedule keeps it).
    pub purge_interval_secs: u64,
}

/// The default of [`Config::query_read_budget`]: a hundred thousand events is a few seconds on
/// the embedded store and about 50,000 read units (a few cents) on DynamoDB.
pub const DEFAULT_QUERY_READ_BUDGET: usize = 100_000;

impl Default for Config {
    fn default() -> Self {
        Config {
            table_name: None,
            queue_url: None,
            geoip_city_db: None,
            geoip_asn_db: None,
            log_format: "text".into(),
            trust_forwarded_for: false,
            trusted_proxies: 1,
            cursor_secret: None,
            key_cache_ttl: Duration::from_secs(60),
            limits: Limits::default(),
            // template.yaml's defaults for the count function's event source.
            stream_batch_size: 1000,
            stream_batching_window_secs: 2,
            query_read_budget: DEFAULT_QUERY_READ_BUDGET,
            max_pending_deletes: 1_000_000,
            purge_interval_secs: 24 * 3600,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {}", .0.join("; "))]
pub struct ConfigError(pub Vec<String>);

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// The number of trusted proxy hops when X-Forwarded-For is trusted, else `None`.
    pub fn forwarded_hops(&self) -> Option<usize> {
        self.trust_forwarded_for.then_some(self.trusted_proxies)
    }

    /// Reads every variable and reports all problems at once.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut config = Config {
            table_name: var("TABLE_NAME"),
            queue_url: var("QUEUE_URL"),
            geoip_city_db: var("GEOIP_CITY_DB").map(PathBuf::from),
            geoip_asn_db: var("GEOIP_ASN_DB").map(PathBuf::from),
            log_format: var("LOG_FORMAT").unwrap_or_else(|| "text".into()),
            ..Config::default()
        };
        let mut number = |name: &str| -> Option<u64> {
            let text = var(name)?;
            match text.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(format!("{name} must be a whole number, got {text:?}"));
                    None
                }
            }
        };
        if let Some(n) = number("ATRACK_MAX_BODY_BYTES") {
            config.limits.max_body_bytes = n as usize;
        }
        let max_batch_events = number("ATRACK_MAX_BATCH_EVENTS");
        if let Some(n) = number("ATRACK_STREAM_BATCH_SIZE") {
            config.stream_batch_size = n;
        }
        if let Some(n) = number("ATRACK_STREAM_BATCHING_WINDOW_SECS") {
            config.stream_batching_window_secs = n;
        }
        if let Some(n) = number("ATRACK_KEY_CACHE_TTL_SECS") {
            config.key_cache_ttl = Duration::from_secs(n.min(60));
        }
        let query_read_budget = number("ATRACK_QUERY_READ_BUDGET");
        if let Some(n) = number("ATRACK_MAX_PENDING_DELETES") {
            config.max_pending_deletes = n;
        }
        let purge_interval = number("ATRACK_PURGE_INTERVAL_SECS");
        if let Some(n) = number("ATRACK_TRUSTED_PROXIES") {
            config.trusted_proxies = (n as usize).max(1);
        }
        if let Some(n) = max_batch_events {
            if (1..=MAX_BATCH_EVENTS as u64).contains(&n) {
                config.limits.max_batch_events = n as usize;
            } else {
                problems.push(format!(
                    "ATRACK_MAX_BATCH_EVENTS must be from 1 to {MAX_BATCH_EVENTS}, got {n}"
                ));
            }
        }
        match query_read_budget {
            Some(0) => problems.push("ATRACK_QUERY_READ_BUDGET must be at least 1".into()),
            Some(n) => config.query_read_budget = usize::try_from(n).unwrap_or(usize::MAX),
            None => {}
        }
        match purge_interval {
            Some(0) => problems.push("ATRACK_PURGE_INTERVAL_SECS must be at least 1".into()),
            Some(n) => config.purge_interval_secs = n,
            None => {}
        }
        config.cursor_secret = var("ATRACK_CURSOR_SECRET");
        if config
            .cursor_secret
            .as_ref()
            .is_some_and(|s| s.len() < MIN_CURSOR_SECRET_BYTES)
        {
            problems.push(format!(
                "ATRACK_CURSOR_SECRET must be at least {MIN_CURSOR_SECRET_BYTES} bytes"
            ));
        }
        match var("ATRACK_TRUST_FORWARDED_FOR").as_deref() {
            None | Some("0" | "false" | "no") => {}
            Some("1" | "true" | "yes") => config.trust_forwarded_for = true,
            Some(other) => problems.push(format!(
                "ATRACK_TRUST_FORWARDED_FOR must be true or false, got {other:?}"
            )),
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(problems))
        }
    }
}
