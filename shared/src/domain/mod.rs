//! Plain types and rules with no storage and no HTTP: what a project, a key, a session UUID, an
//! event name and its label, category and priority, an attribute map, a project's privacy
//! settings and tracking plan are, visits, users and companies, and time.

pub mod calls;
pub mod commands;
pub mod event;
pub mod plan;
pub mod project;
pub mod settings;
pub mod time;
pub mod user;
pub mod values;
pub mod visit;
