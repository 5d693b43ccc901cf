//! `atrack projects show|set`: a project's IP anonymization, data retention, tracking plan
//! (naming rule, allow and deny lists), automatic visit events and session timeout, and how
//! many events the plan has dropped.

use std::sync::Arc;

use atrack_shared::domain::plan::{NameList, Naming, TrackingPlan};
use atrack_shared::domain::project::Project;
use atrack_shared::domain::settings::{MAX_RETENTION_DAYS, ProjectSettings};
use atrack_shared::domain::time::SystemClock;
use atrack_shared::domain::visit::{MAX_SESSION_TIMEOUT_SECS, MIN_SESSION_TIMEOUT_SECS};
use atrack_shared::store::repo::Repo;
use clap::{Subcommand, ValueEnum};

use crate::store_args::StoreArgs;

/// `--naming`'s values; anything else is refused by the parser (exit code 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NamingArg {
    /// Any name of 1–100 characters without control characters.
    Free,
    /// context.activity: at most 32 characters, dotted parts of letters, digits, '_', '-'.
    Activity,
}

impl From<NamingArg> for Naming {
    fn from(arg: NamingArg) -> Self {
        match arg {
            NamingArg::Free => Naming::Free,
            NamingArg::Activity => Naming::Activity,
        }
    }
}

/// A list as `--allow`/`--deny` take it; a malformed one is refused by the parser (exit 2).
fn name_list(text: &str) -> Result<NameList, String> {
    NameList::parse(text)
}

#[derive(Subcommand)]
pub enum ProjectsCommand {
    /// Print a project's settings and how many events its plan has dropped.
    Show {
        project: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Change a project's settings; options not given keep their value. Servers and functions
    /// apply the change within a minute (their settings cache).
    Set {
        project: String,
        /// Zero the last IPv4 octet and the last 80 IPv6 bits before storing an address (the
        /// GeoIP lookup still sees the full address, in memory).
        #[arg(long)]
        anonymize_ip: Option<bool>,
        /// Delete the project's items this many days after their last write; 0 keeps them
        /// forever. Applies to items written from now on.
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_RETENTION_DAYS)))]
        retention_days: Option<u32>,
        /// How event names must look: `free` (1–100 characters) or `activity`
        /// (context.activity, e.g. product.buy); a name breaking it is refused with 422.
        #[arg(long, value_enum)]
        naming: Option<NamingArg>,
        /// Store only these events: comma-separated names, each exact (product.buy) or a
        /// prefix wildcard (page.*, * for all); '' allows every name again.
        #[arg(long, value_name = "LIST", value_parser = name_list)]
        allow: Option<NameList>,
        /// Never store these events (same form as --allow; deny wins over allow). They are
        /// answered as handled, `"dropped": true`, and counted.
        #[arg(long, value_name = "LIST", value_parser = name_list)]
        deny: Option<NameList>,
        /// Record session.start, page.visit and session.end (on for projects created now;
        /// projects from before keep theirs off until this is set).
        #[arg(long)]
        auto_events: Option<bool>,
        /// The longest gap between two activities of one visit, in seconds: 60 to 604800
        /// (7 days); 1800 by default. Applies to the visits that start afterwards.
        #[arg(long, value_name = "SECONDS")]
        session_timeout: Option<u32>,
        /// Accept a --session-timeout under 60 seconds (for tests).
        #[arg(long)]
        allow_short_timeout: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Whether a session timeout may be set: 60 s to 7 days, or down to 1 s when short ones are
/// allowed (tests that wait for a visit to end).
fn check_session_timeout(secs: u32, allow_short: bool) -> Result<(), String> {
    let min = if allow_short {
        1
    } else {
        MIN_SESSION_TIMEOUT_SECS
    };
    if (min..=MAX_SESSION_TIMEOUT_SECS).contains(&secs) {
        return Ok(());
    }
    Err(if (1..MIN_SESSION_TIMEOUT_SECS).contains(&secs) {
        format!(
            "--session-timeout {secs} is shorter than {MIN_SESSION_TIMEOUT_SECS} seconds; \
             pass --allow-short-timeout to accept it (for tests)"
        )
    } else {
        format!(
            "--session-timeout must be {min} to {MAX_SESSION_TIMEOUT_SECS} seconds (7 days), \
             not {secs}"
        )
    })
}

/// A list as printed; `empty` says what an empty one means (every name for allow).
fn list_text(list: &NameList, empty: &str) -> String {
    if list.is_empty() {
        empty.into()
    } else {
        list.to_string()
    }
}

fn print(project: &Project, settings: &ProjectSettings, dropped: u64) {
    println!("project:        {}", project.as_str());
    println!("anonymize_ip:   {}", settings.anonymize_ip);
    match settings.retention_days {
        Some(days) => println!("retention_days: {days}"),
        None => println!("retention_days: forever"),
    }
    let plan = &settings.plan;
    println!("naming:         {}", plan.naming());
    println!(
        "allow:          {}",
        list_text(plan.allow(), "(every name)")
    );
    println!("deny:           {}", list_text(plan.deny(), "(none)"));
    println!("auto_events:    {}", settings.auto_events);
    println!("session_timeout: {}s", settings.session_timeout_secs);
    println!("dropped_events: {dropped}");
}

pub async fn run(cmd: ProjectsCommand) -> anyhow::Result<()> {
    match cmd {
        ProjectsCommand::Show { project, store } => {
            let project = Project::parse(&project).map_err(anyhow::Error::msg)?;
            let repo = Repo::new(store.open().await?, Arc::new(SystemClock));
            let settings = repo.project_settings(&project).await?;
            print(&project, &settings, repo.dropped_events(&project).await?);
        }
        ProjectsCommand::Set {
            project,
            anonymize_ip,
            retention_days,
            naming,
            allow,
            deny,
            auto_events,
            session_timeout,
            allow_short_timeout,
            store,
        } => {
            if let Some(secs) = session_timeout {
                check_session_timeout(secs, allow_short_timeout).map_err(|why| {
                    clap::Error::raw(clap::error::ErrorKind::ValueValidation, why + "\n")
                })?;
            }
            let project = Project::parse(&project).map_err(anyhow::Error::msg)?;
            let repo = Repo::new(store.open().await?, Arc::new(SystemClock));
            let mut settings = repo.project_settings(&project).await?;
            if let Some(on) = anonymize_ip {
                settings.anonymize_ip = on;
            }
            if let Some(days) = retention_days {
                settings.retention_days = (days > 0).then_some(days);
            }
            // The plan as it will be, checked whole: a list entry that no name could match
            // under the naming in effect is bad input, whichever of the two this call changes.
            let current = &settings.plan;
            let plan = TrackingPlan::new(
                naming.map_or(current.naming(), Naming::from),
                allow.unwrap_or_else(|| current.allow().clone()),
                deny.unwrap_or_else(|| current.deny().clone()),
            )
            .map_err(|why| clap::Error::raw(clap::error::ErrorKind::ValueValidation, why + "\n"))?;
            settings.plan = Arc::new(plan);
            if let Some(on) = auto_events {
                settings.auto_events = on;
            }
            if let Some(secs) = session_timeout {
                settings.session_timeout_secs = secs;
            }
            repo.set_project_settings(&project, &settings).await?;
            print(&project, &settings, repo.dropped_events(&project).await?);
        }
    }
    Ok(())
}
