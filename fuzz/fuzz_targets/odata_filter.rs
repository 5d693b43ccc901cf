//! OData `$filter`, `$orderby`, `$top` and `$skip` arrive in the query string, so they are
//! untrusted input.
//!
//! Properties: parsing any UTF-8 never panics (or overflows the stack); an error's position is
//! inside the input; a parsed filter evaluates on a row and plans without panicking, and the
//! plan never excludes a row the filter matches.
#![no_main]

use atrack_shared::query::odata::{parse_filter, parse_orderby};
use atrack_shared::query::parse_odata_query;
use libfuzzer_sys::fuzz_target;

#[path = "query_row.rs"]
mod query_row;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let chars = text.chars().count();
    match parse_filter(text) {
        Ok(filter) => query_row::check(&filter),
        Err(err) => assert!(
            err.position.is_some_and(|p| p <= chars),
            "{err} for {chars} chars"
        ),
    }
    if let Err(err) = parse_orderby(text) {
        assert!(err.position.is_some_and(|p| p <= chars));
    }
    if let Ok(query) = parse_odata_query(None, None, Some(text), Some(text)) {
        assert!(u64::from(query.top) + u64::from(query.skip) < 10_000);
    }
});
