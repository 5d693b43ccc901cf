//! `atrack export`: a project's events in a time range as JSON lines, read from either store
//! page by page through the same service as `GET /export` (so its lines are the route's), to
//! a file or stdout. With `--out`, a `<FILE>.cursor` beside the file records, after each page
//! is flushed, the cursor that continues it and the file's length at that point: `--cursor`
//! resumes an interrupted export there, first cutting any partial page a crash left behind,
//! so a resumed export has neither duplicates nor gaps.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use atrack_shared::domain::project::Project;
use atrack_shared::domain::time::{SystemClock, Timestamp};
use atrack_shared::enrich::Enricher;
use atrack_shared::enrich::geo::Geo;
use atrack_shared::runtime::config::Config;
use atrack_shared::service::App;
use atrack_shared::service::export::{ExportFormat, ExportQuery, MAX_LIMIT};
use clap::{Args, ValueEnum};

use crate::store_args::StoreArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The product-analytics export's structure (`GET /export`'s default).
    Userpilot,
    /// Our own event rows, as event/show returns them.
    Atrack,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The project whose events are exported.
    #[arg(long, default_value = "default")]
    project: String,
    /// The first moment exported (RFC 3339, included).
    #[arg(long, value_parser = parse_time)]
    from: Timestamp,
    /// The last moment exported (RFC 3339, included).
    #[arg(long, value_parser = parse_time)]
    to: Timestamp,
    /// Write the lines to this file (appended to with --cursor) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "userpilot")]
    format: Format,
    /// Continue an interrupted export from the cursor it printed (or left in FILE.cursor).
    #[arg(long)]
    cursor: Option<String>,
    /// Events per page read from the store.
    #[arg(long, default_value_t = MAX_LIMIT as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_LIMIT as u64))]
    page_size: u64,
    /// Stop after this many pages (with the cursor to continue): an export in chunks.
    #[arg(long)]
    pages: Option<u64>,
    #[command(flatten)]
    store: StoreArgs,
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text)
        .ok_or_else(|| format!("'{text}' is not an RFC 3339 date-time (2026-12-01T00:00:00Z)"))
}

/// Where the lines go, and what records how far they got.
struct Output {
    writer: BufWriter<Box<dyn Write>>,
    /// The file and its progress record, with `--out`.
    file: Option<(PathBuf, PathBuf)>,
    /// Bytes in the file so far.
    written: u64,
}

impl Output {
    fn open(out: Option<&Path>, cursor: Option<&str>) -> anyhow::Result<Output> {
        let Some(path) = out else {
            return Ok(Output {
                writer: BufWriter::with_capacity(1 << 20, Box::new(std::io::stdout())),
                file: None,
                written: 0,
            });
        };
        let record = progress_path(path);
        let file = match cursor {
            None => File::create(path).with_context(|| format!("create {}", path.display()))?,
            Some(cursor) => {
                let file = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(path)
                    .with_context(|| format!("open {}", path.display()))?;
                // A page cut short by a crash, after the record of the cursor: cut it off.
                if let Some((recorded, length)) = read_progress(&record)
                    && recorded == cursor
                {
                    file.set_len(length)?;
                }
                file
            }
        };
        let written = file.metadata()?.len();
        Ok(Output {
            writer: BufWriter::with_capacity(1 << 20, Box::new(file)),
            file: Some((path.to_owned(), record)),
            written,
        })
    }

    /// Writes a page, flushes it, and records the cursor that continues after it.
    fn page(&mut self, body: &[u8], next: Option<&str>) -> anyhow::Result<()> {
        self.writer.write_all(body)?;
        self.writer.flush()?;
        self.written += body.len() as u64;
        if let (Some((_, record)), Some(next)) = (&self.file, next) {
            let temp = record.with_extension("cursor.tmp");
            std::fs::write(&temp, format!("{next}\n{}\n", self.written))?;
            std::fs::rename(&temp, record)?;
        }
        Ok(())
    }

    /// The export is whole: its progress record has nothing left to say.
    fn finish(&mut self) -> anyhow::Result<()> {
        self.writer.flush()?;
        if let Some((_, record)) = &self.file {
            match std::fs::remove_file(record) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }
}

/// `<FILE>.cursor`.
fn progress_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".cursor");
    PathBuf::from(name)
}

/// The cursor and file length a progress record holds.
fn read_progress(record: &Path) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(record).ok()?;
    let mut lines = text.lines();
    Some((lines.next()?.to_owned(), lines.next()?.parse().ok()?))
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let project = Project::parse(&args.project).map_err(anyhow::Error::msg)?;
    if args.from > args.to {
        anyhow::bail!("--from must not be after --to");
    }
    let mut config = Config::from_env()?;
    if config.cursor_secret.is_none() {
        // The server's own secret, so a cursor from `GET /export` resumes here and back.
        config.cursor_secret = Some(crate::serve::cursor_secret(&args.store.data_dir)?);
    }
    let app = App::new(
        config,
        args.store.open_for_a_pass().await?,
        None,
        Enricher::new(Geo::disabled()),
        Arc::new(SystemClock),
    );
    let mut output = Output::open(args.out.as_deref(), args.cursor.as_deref())?;
    let mut query = ExportQuery {
        from: args.from,
        to: args.to,
        cursor: args.cursor.clone(),
        limit: usize::try_from(args.page_size).unwrap_or(MAX_LIMIT),
        format: match args.format {
            Format::Userpilot => ExportFormat::Userpilot,
            Format::Atrack => ExportFormat::Atrack,
        },
    };
    let progress = progress_bar();
    let mut exported = 0u64;
    let mut pages = 0u64;
    let resume = |cursor: &Option<String>| match cursor {
        Some(cursor) => format!("resume with --cursor {cursor}"),
        None => "start again without --cursor".to_owned(),
    };
    loop {
        let page = tokio::select! {
            page = app.export_page(&project, &query) => page,
            _ = tokio::signal::ctrl_c() => {
                progress.abandon();
                eprintln!("interrupted after {exported} events; {}", resume(&query.cursor));
                std::process::exit(130);
            }
        };
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                progress.abandon();
                return Err(anyhow::Error::new(e).context(format!(
                    "export stopped after {exported} events; {}",
                    resume(&query.cursor)
                )));
            }
        };
        output.page(&page.body, page.next_cursor.as_deref())?;
        exported += page.lines as u64;
        pages += 1;
        progress.set_position(exported);
        query.cursor = page.next_cursor;
        if query.cursor.is_none() {
            break;
        }
        if args.pages.is_some_and(|n| pages >= n) {
            progress.abandon();
            output.writer.flush()?;
            eprintln!(
                "exported {exported} events in {pages} pages; {}",
                resume(&query.cursor)
            );
            return Ok(());
        }
    }
    output.finish()?;
    progress.finish_and_clear();
    let to = match &output.file {
        Some((path, _)) => path.display().to_string(),
        None => "stdout".to_owned(),
    };
    eprintln!("exported {exported} events to {to}");
    Ok(())
}

/// A live count and rate on a terminal; nothing when stderr is a file or a pipe.
fn progress_bar() -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos} events exported ({per_sec}) {elapsed}",
        )
        .expect("a valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
