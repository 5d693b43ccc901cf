//! atrack-shared: everything behind the A-TRACK compatible API, with no entry points of its own.
//!
//! - `model`: request decoding and the reference's response shapes
//! - `validate`: limits and parse-don't-validate newtypes
//! - `enrich`: URL attribution, device (woothee), GeoIP
//! - `store`: the single-table layout, the `Table` contract, the repository, both engines
//! - `queue`: enrichment jobs on SQS or the embedded durable queue
//! - `settings`: per-project IP anonymization and retention
//! - `api`: one module per endpoint, auth, the error envelope, the router
//! - `app`: the App built once per cold start; `lambda` and `server` run it

pub mod api;
pub mod app;
pub mod aws;
pub mod clock;
pub mod config;
pub mod enrich;
pub mod error;
pub mod lambda;
pub mod model;
pub mod queue;
pub mod server;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod ttl_cache;
pub mod validate;
pub mod worker;

pub use app::{App, SharedApp};
pub use error::{Error, FieldError};
