//! Event queries, with no storage and no HTTP: the Profile Store's two query languages read into
//! one typed filter, one evaluator, and the pure part of the index planner.
//!
//! - `field`: the fields a query may name, their types and the literals each accepts
//! - `filter`: the AST both syntaxes produce ([`Filter`], [`Value`])
//! - `odata`: `$filter`, `$orderby`, `$top`, `$skip` (`GET TrackEvents`)
//! - `kql`: the KQL subset of `POST TrackEvents/preview`
//! - `eval`: [`matches`], whether a row matches a filter
//! - `plan`: [`plan`], which index and time range a filter lets the store read
//! - `datetime`, `scan`, `error`: literals, character scanning, the typed error
//!
//! Both parsers are hand-written recursive descent over a token list: input is limited to
//! [`MAX_INPUT_BYTES`], nesting to [`MAX_DEPTH`], and every error carries the parameter and the
//! character position it was found at. No input makes them panic.

pub mod datetime;
pub mod error;
pub mod eval;
pub mod field;
pub mod filter;
pub mod kql;
pub mod odata;
pub mod plan;
mod scan;

pub use error::{ErrorKind, MAX_DEPTH, MAX_INPUT_BYTES, Parameter, QueryError};
pub use eval::{Row, matches, missing_strings_as_empty};
pub use field::{Field, FieldType};
pub use filter::{CompareOp, Filter, TextOp, Value};
pub use kql::{KqlQuery, parse_kql};
pub use odata::{ODataQuery, parse_odata_query};
pub use plan::{Access, Plan, plan};
