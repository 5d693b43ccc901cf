//! User agents are free text from the client.
//!
//! Properties: parsing never panics on any string, whatever its length or where a multi-byte
//! character falls against the length cap; the classification is consistent (a bot is neither
//! mobile nor desktop, nothing is both mobile and desktop, every tablet is mobile); and the
//! result serializes.
#![no_main]

use std::sync::LazyLock;

use atrack_shared::enrich::device::parse;
use libfuzzer_sys::fuzz_target;
use woothee::parser::Parser;

static PARSER: LazyLock<Parser> = LazyLock::new(Parser::new);

fuzz_target!(|data: &[u8]| {
    let Ok(user_agent) = std::str::from_utf8(data) else {
        return;
    };
    let d = parse(&PARSER, user_agent);
    assert!(!(d.is_mobile && d.is_desktop), "{user_agent:?}: {d:?}");
    assert!(!d.is_bot || !(d.is_mobile || d.is_desktop), "{user_agent:?}: {d:?}");
    assert!(!d.is_tablet || d.is_mobile || d.is_bot, "{user_agent:?}: {d:?}");
    serde_json::to_string(&d.to_json()).expect("device serializes");
});
