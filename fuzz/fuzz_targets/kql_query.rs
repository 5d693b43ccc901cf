//! The KQL preview's `Query` is free text from the client.
//!
//! Properties: parsing any UTF-8 never panics (or overflows the stack); an error's position is
//! inside the input; the limit never exceeds 1000; a parsed filter evaluates on a row and plans
//! without panicking, and the plan never excludes a row the filter matches.
#![no_main]

use atrack_shared::domain::time::Timestamp;
use atrack_shared::query::parse_kql;
use libfuzzer_sys::fuzz_target;

#[path = "query_row.rs"]
mod query_row;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now = Timestamp::from_micros(query_row::EVENT_TIME_MICROS + 3_600_000_000);
    match parse_kql(text, now) {
        Ok(query) => {
            assert!(query.limit <= 1000);
            query_row::check(&query.filter);
        }
        Err(err) => {
            let chars = text.chars().count();
            assert!(
                err.position.is_some_and(|p| p <= chars),
                "{err} for {chars} chars"
            );
        }
    }
});
