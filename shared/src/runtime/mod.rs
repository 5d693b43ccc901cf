//! What runs the library: typed configuration read once, telemetry, AWS clients with bounded
//! timeouts, the Lambda and local-server entry points, and the background workers (embedded
//! enrichment queue, sweeper, SQS and stream batches).

pub mod aws;
pub mod config;
pub mod lambda;
pub mod server;
pub mod telemetry;
pub mod worker;
