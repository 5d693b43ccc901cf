//! atrack-shared: everything behind the A-TRACK compatible API, with no entry points of its own.
//! Dependencies point down: `http` → `service` → `store` / `enrich` / `queue` → `domain`.
//!
//! - `domain`: plain types and rules, no I/O: projects and keys, privacy settings, the
//!   parse-don't-validate values (UUIDs, names, attributes, limits), time
//! - `service`: the operations (enrichment, key and settings lookups) over the App built once
//!   per cold start; routes, workers and stream consumers call these
//! - `http`: the router, auth, client info, request decoding, the error envelope; `native/` has
//!   one module per A-TRACK endpoint, `compat/` the doors for other vendors' clients
//! - `query`: the OData and KQL event queries parsed into one filter, its evaluator and the
//!   index planner (pure: no storage, no HTTP)
//! - `enrich`: URL attribution, referrers, device (woothee), GeoIP
//! - `store`: the single-table layout, the `Table` contract, the repository by aggregate, both
//!   engines
//! - `streams`: the DynamoDB stream consumer (index counts) and its local poller
//! - `queue`: enrichment jobs on SQS or the embedded durable queue
//! - `runtime`: configuration, telemetry, AWS clients, the Lambda and server entry points and
//!   the background workers

// The router's request future nests the whole pipeline (auth, caches, service, store), and
// computing its layout from a cold build comes close to rustc's default query depth of 128;
// an incremental build, which has part of it cached, stays well under. Headroom, so a clean
// build never fails where an incremental one passed.
#![recursion_limit = "256"]

pub mod domain;
pub mod enrich;
pub mod error;
pub mod http;
pub mod query;
pub mod queue;
pub mod runtime;
pub mod service;
pub mod store;
pub mod streams;

pub use error::{Error, FieldError};
pub use service::{App, SharedApp};
