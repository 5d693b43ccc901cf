//! `atrack`: the local server and the operator's tools. Each subcommand lives in its own module;
//! this file only parses arguments.

mod export;
mod geoip;
mod keys;
mod projects;
mod serve;
mod store_args;
mod table;

use clap::{Parser, Subcommand};

/// `atrack serve` allocates a few small maps and strings per request on every worker thread;
/// glibc's allocator spent 18 % of the ingest profile in malloc and free (BENCHMARKS.md),
/// where mimalloc's thread-local free lists are far cheaper.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "atrack",
    version,
    about = "A-TRACK compatible tracking backend"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the whole API (embedded store by default).
    Serve(serve::ServeArgs),
    /// Create or revoke API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Show or change a project's IP anonymization, data retention and tracking plan.
    #[command(subcommand)]
    Projects(projects::ProjectsCommand),
    /// Manage the DynamoDB table.
    #[command(subcommand)]
    Table(table::TableCommand),
    /// Export a project's events in a time range as JSON lines (to a file or stdout).
    Export(export::ExportArgs),
    /// Install the free GeoIP databases the server reads.
    #[command(subcommand)]
    Geoip(geoip::GeoipCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Keys(cmd) => keys::run(cmd).await,
        Command::Projects(cmd) => projects::run(cmd).await,
        Command::Table(cmd) => table::run(cmd).await,
        Command::Export(args) => export::run(args).await,
        // Downloads, file writes and the conversion all block: off the async workers.
        Command::Geoip(cmd) => tokio::task::spawn_blocking(move || geoip::run(cmd)).await?,
    };
    // Bad input that only shows once the stored settings are read (a list entry no name can
    // match under the naming in effect) is a usage error like the parser's own: its message
    // and exit code 2, not a failure's 1.
    if let Err(err) = &result
        && let Some(usage) = err.downcast_ref::<clap::Error>()
    {
        usage.exit();
    }
    result
}
