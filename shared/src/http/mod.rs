//! HTTP: the router, the key check, client info, request decoding and the error envelope;
//! `native/` holds one module per A-TRACK endpoint, `compat/` other vendors' doors, `live/`
//! the live events page served at `/`. Handlers take plain `http` requests, so the same router
//! serves Lambda invocations and `atrack serve`.
//!
//! Every endpoint runs: size limit → authorize → decode → validate → act → encode. The key is
//! checked before the body is decoded, so an unauthenticated caller learns nothing about the
//! request shape.

pub mod auth;
pub mod client;
pub mod compat;
pub mod envelope;
pub mod inflate;
pub mod live;
pub mod native;
pub mod requests;
pub mod router;

pub use router::{AppState, Endpoint, RequestCtx, Route, endpoint, endpoint_router, router};
