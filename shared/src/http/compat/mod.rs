//! Other vendors' routes, one folder per API (the analytics API, the profile store's event API,
//! Segment's tracking API). A compat route is a translation: it decodes the vendor's shape into
//! a service call and encodes the result in the vendor's shape and error format; it holds no
//! rules of its own.

pub mod analytics_v1;
pub mod segment;
pub mod track_events;
