//! `atrack projects show|set`: a project's IP anonymization and data retention.

use std::sync::Arc;

use atrack_shared::domain::project::Project;
use atrack_shared::domain::settings::{MAX_RETENTION_DAYS, ProjectSettings};
use atrack_shared::domain::time::SystemClock;
use atrack_shared::store::repo::Repo;
use clap::Subcommand;

use crate::store_args::StoreArgs;

#[derive(Subcommand)]
pub enum ProjectsCommand {
    /// Print a project's settings.
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
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn print(project: &Project, settings: &ProjectSettings) {
    println!("project:        {}", project.as_str());
    println!("anonymize_ip:   {}", settings.anonymize_ip);
    match settings.retention_days {
        Some(days) => println!("retention_days: {days}"),
        None => println!("retention_days: forever"),
    }
}

pub async fn run(cmd: ProjectsCommand) -> anyhow::Result<()> {
    match cmd {
        ProjectsCommand::Show { project, store } => {
            let project = Project::parse(&project).map_err(anyhow::Error::msg)?;
            let repo = Repo::new(store.open().await?, Arc::new(SystemClock));
            print(&project, &repo.project_settings(&project).await?);
        }
        ProjectsCommand::Set {
            project,
            anonymize_ip,
            retention_days,
            store,
        } => {
            let project = Project::parse(&project).map_err(anyhow::Error::msg)?;
            let repo = Repo::new(store.open().await?, Arc::new(SystemClock));
            let mut settings = repo.project_settings(&project).await?;
            if let Some(on) = anonymize_ip {
                settings.anonymize_ip = on;
            }
            if let Some(days) = retention_days {
                settings.retention_days = (days > 0).then_some(days);
            }
            repo.set_project_settings(&project, &settings).await?;
            print(&project, &settings);
        }
    }
    Ok(())
}
