//! The differential suite: hundreds of valid edge-case requests, sent in the same order to one
//! server on the embedded engine and one on DynamoDB (DynamoDB Local), whose answers must be
//! identical once what is legitimately engine-specific is masked. A client cannot tell which
//! engine it talks to; a difference here is a bug in one of them.
//!
//! The requests come from a table of scenarios ([`scenarios`]): each a short request sequence
//! on its own sessions, each request with a reason. Both servers get every request; nothing
//! stops at the first difference: every difference (and every 5xx, every status one engine
//! gives and the other does not, every answer against its expectation, every value that does
//! not read back as sent) is collected and the test fails once at the end with a report that
//! shows, for each, the scenario's requests up to it and both answers.
//!
//! What is masked before comparing, and why (see [`Masker`]):
//! - UUIDs the server made (sessions created without a `uuid`, the `request_id` of an error
//!   envelope): random per engine. The n-th distinct one an engine shows in a scenario becomes
//!   `<uuid-n>`, so "the same session again" is still checked. UUIDs the suite sent are left
//!   as they are.
//! - Timestamps the server stamped (`created_at`, `updated_at`, `occurred_at` of events sent
//!   without `timestamp`): they are each engine's own clock. Recognised by value (the server's
//!   format, within the run's time window; every client timestamp here is far from it) and
//!   numbered like UUIDs, so "equal to that other timestamp" is still checked. Numbering
//!   restarts with each scenario, so a write one engine refused shifts nothing beyond it.
//! - `track_id`: the event's key packed (UUID, time, id), each part masked as above.
//! - `meta.next_cursor`: opaque and sealed with a per-table secret, so it differs by engine.
//!   Only its presence is compared; following it is (the next page must be the same).
//! - The millisecond part of a generated `fbc` (`fb.1.<ms>.<fbclid>`): the init's server time.
//!
//! Not masked: the numeric `id`s of sessions and events. They come from the same counter
//! design on both engines (blocks of 100 from a sequence item) and the requests are sent one at
//! a time, so they must agree exactly.
//!
//! JSON objects are compared as maps (key order is not part of JSON's meaning); numbers are
//! compared exactly, `1` and `1.0` being different answers.
//!
//! Reading totals and last activity: `event/show`'s `meta.total` and session/show's
//! `last_activity_at` are kept from DynamoDB's stream on AWS, so on DynamoDB they trail new
//! events by the stream's delay. Before every `event/show` and `session/show` the suite calls
//! `server.settle()` on both servers (it reads the stream on DynamoDB and does nothing on the
//! embedded engine): that is the "has caught up" step a client would wait for.
//! Init enrichment runs in the request on both servers (no queue), so sessions are complete
//! when init answers.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Instant;

use atrack_shared::domain::time::{Clock, SystemClock, Timestamp};
use atrack_tests::{Engine, PUBLIC_KEY, SECRET_KEY, ServerOptions, TestServer};
use serde_json::{Map, Value, json};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The request table

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Init,
    Attributes,
    Event,
    SessionShow,
    EventShow,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Init => "/init",
            Endpoint::Attributes => "/attributes",
            Endpoint::Event => "/event",
            Endpoint::SessionShow => "/session/show",
            Endpoint::EventShow => "/event/show",
        }
    }

    /// event/show needs the secret key; everything else is called as a browser would.
    fn key(self) -> &'static str {
        match self {
            Endpoint::EventShow => SECRET_KEY,
            _ => PUBLIC_KEY,
        }
    }

    fn writes(self) -> bool {
        matches!(
            self,
            Endpoint::Init | Endpoint::Attributes | Endpoint::Event
        )
    }
}

/// One request of a scenario. Strings `@uuid:NAME` and `@cursor:NAME` in the body stand for
/// the `uuid` and `meta.next_cursor` of the answer saved as NAME earlier in the scenario, on
/// the engine the request goes to.
struct Step {
    reason: String,
    endpoint: Endpoint,
    body: Value,
    /// The status both engines must answer.
    expect: u16,
    save: Option<String>,
    /// JSON pointers into the answer and the value sent that must be read back there (equal as
    /// numbers: `1.0` sent may read back as `1`).
    reads_back: Vec<(String, Value)>,
}

impl Step {
    fn expect(&mut self, status: u16) -> &mut Self {
        self.expect = status;
        self
    }

    fn save(&mut self, name: &str) -> &mut Self {
        self.save = Some(name.to_owned());
        self
    }

    fn reads_back(&mut self, pointer: impl Into<String>, sent: Value) -> &mut Self {
        self.reads_back.push((pointer.into(), sent));
        self
    }
}

struct Scenario {
    name: String,
    steps: Vec<Step>,
}

impl Scenario {
    fn new(name: impl Into<String>) -> Self {
        Scenario {
            name: name.into(),
            steps: Vec::new(),
        }
    }

    fn step(&mut self, endpoint: Endpoint, reason: impl Into<String>, body: Value) -> &mut Step {
        self.steps.push(Step {
            reason: reason.into(),
            endpoint,
            body,
            expect: 200,
            save: None,
            reads_back: Vec::new(),
        });
        self.steps.last_mut().expect("just pushed")
    }

    fn init(&mut self, reason: impl Into<String>, body: Value) -> &mut Step {
        self.step(Endpoint::Init, reason, body)
    }

    fn attrs(&mut self, reason: impl Into<String>, body: Value) -> &mut Step {
        self.step(Endpoint::Attributes, reason, body)
    }

    fn event(&mut self, reason: impl Into<String>, body: Value) -> &mut Step {
        self.step(Endpoint::Event, reason, body)
    }

    fn show(&mut self, reason: impl Into<String>, uuid: &str) -> &mut Step {
        self.step(Endpoint::SessionShow, reason, json!({ "uuid": uuid }))
    }

    fn list(&mut self, reason: impl Into<String>, body: Value) -> &mut Step {
        self.step(Endpoint::EventShow, reason, body)
    }
}

/// Builds the scenarios, remembering every UUID it makes (those are the client's, never masked)
/// and handing out client timestamps that never repeat, so no two events tie on time and every
/// listing has one order whatever the server's random event ids.
struct Gen {
    scenarios: Vec<Scenario>,
    sent: HashSet<String>,
    next_second: i64,
    now: Timestamp,
}

impl Gen {
    fn new() -> Self {
        Gen {
            scenarios: Vec::new(),
            sent: HashSet::new(),
            next_second: 0,
            now: SystemClock.now(),
        }
    }

    fn uuid(&mut self) -> String {
        let uuid = Uuid::new_v4().to_string();
        self.sent.insert(uuid.clone());
        uuid
    }

    /// A client timestamp, each one a second after the last, from 2025-03-01T00:00:00Z.
    fn ts(&mut self) -> String {
        self.next_second += 1;
        let at = Timestamp::from_millis((1_740_787_200 + self.next_second) * 1000);
        // RFC 3339 as an SDK sends it: no fraction.
        at.to_string().replace(".000000Z", "Z")
    }

    fn add(&mut self, scenario: Scenario) {
        self.scenarios.push(scenario);
    }
}

/// A JSON pointer to `parts`, escaped.
fn ptr(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Attribute keys that mean something somewhere: DynamoDB expression syntax (`.`, `#`, `$`,
/// `:`, `[`), the table's own key prefixes, JSON pointer and path syntax, non-ASCII text of
/// every width, invisible and control characters, names of fields the API itself uses.
const SPECIAL_KEYS: &[&str] = &[
    ".",
    "#",
    "$",
    ":",
    "[",
    "]",
    " ",
    "a.b",
    "a.b.c",
    "#name",
    "a#b",
    "$set",
    ":v",
    ":v0",
    "#n0",
    "#attr0",
    "[0]",
    "a[0]",
    "a b",
    " leading",
    "trailing ",
    "😀",
    "👩‍👩‍👧",
    "ключ",
    "日本語のキー",
    "ü",
    "e\u{301}",
    "\u{200b}",
    "\"",
    "'",
    "\\",
    "/",
    "~",
    "~1",
    "a/b",
    "#k.$v:[x] y",
    "attributes",
    "uuid",
    "id",
    "__proto__",
    "constructor",
    "0",
    "-1",
    "1e5",
    "null",
    "true",
    "UPPER",
    "upper",
    "tab\there",
    "new\nline",
    "nul\u{0}key",
    "\u{7f}",
    "%20",
    "<script>",
    "P#default#U#x",
    "~SESSION",
    "EV#",
];

/// Numbers DynamoDB can store (magnitude 0 or 1e-130 to 9.9e125 inclusive, and every 64-bit
/// integer): each must be accepted on both engines and read back as sent.
fn storable_numbers() -> Vec<(&'static str, Value)> {
    let above = |f: f64| f64::from_bits(f.to_bits() + 1);
    let below = |f: f64| f64::from_bits(f.to_bits() - 1);
    vec![
        ("zero", json!(0)),
        ("negative zero", json!(-0.0)),
        ("1.0 written as a float", json!(1.0)),
        ("-1.0 written as a float", json!(-1.0)),
        ("0.5", json!(0.5)),
        ("0.1", json!(0.1)),
        ("0.1 + 0.2", json!(0.300_000_000_000_000_04)),
        ("1e-7", json!(1e-7)),
        ("pi", json!(std::f64::consts::PI)),
        ("-273.15", json!(-273.15)),
        ("f64 epsilon", json!(f64::EPSILON)),
        ("Avogadro", json!(6.022_140_76e23)),
        ("17 significant digits", json!(123_456_789_012_345.67)),
        (
            "1.2345678901234567e-100",
            json!(1.234_567_890_123_456_7e-100),
        ),
        ("2^53", json!(9_007_199_254_740_992u64)),
        (
            "2^53 + 1 (past f64's integers)",
            json!(9_007_199_254_740_993u64),
        ),
        ("-(2^53 + 1)", json!(-9_007_199_254_740_993i64)),
        ("i64::MAX", json!(i64::MAX)),
        ("i64::MIN", json!(i64::MIN)),
        ("2^63", json!(9_223_372_036_854_775_808u64)),
        ("u64::MAX", json!(u64::MAX)),
        ("2^53 as a float", json!(9_007_199_254_740_992.0)),
        ("1e19 as a float", json!(1e19)),
        (
            "2^64 as a float (past u64)",
            json!(18_446_744_073_709_551_616.0),
        ),
        ("1e20 as a float", json!(1e20)),
        ("-1e20 as a float", json!(-1e20)),
        ("1e125", json!(1e125)),
        ("9.8e125", json!(9.8e125)),
        ("-9.8e125", json!(-9.8e125)),
        ("9.9e125, the documented largest", json!(9.9e125)),
        ("-9.9e125", json!(-9.9e125)),
        ("the float just under 9.9e125", json!(below(9.9e125))),
        ("1e-130, the documented smallest", json!(1e-130)),
        ("-1e-130", json!(-1e-130)),
        ("the float just over 1e-130", json!(above(1e-130))),
        ("1.5e-130", json!(1.5e-130)),
        ("-1.5e-130", json!(-1.5e-130)),
        ("4.9e-130", json!(4.9e-130)),
        ("1e-129", json!(1e-129)),
    ]
}

/// Numbers outside DynamoDB's range: both engines must refuse them with a 422.
fn unstorable_numbers() -> Vec<(&'static str, Value)> {
    let above = |f: f64| f64::from_bits(f.to_bits() + 1);
    let below = |f: f64| f64::from_bits(f.to_bits() - 1);
    vec![
        ("f64::MAX", json!(f64::MAX)),
        ("-f64::MAX", json!(-f64::MAX)),
        ("f64::MIN_POSITIVE", json!(f64::MIN_POSITIVE)),
        ("the smallest subnormal", json!(5e-324)),
        ("1e126", json!(1e126)),
        ("the float just over 9.9e125", json!(above(9.9e125))),
        ("the float just under 1e-130", json!(below(1e-130))),
        ("9.9e-131", json!(9.9e-131)),
    ]
}

/// `{"k": {"k": ... 1}}` with `levels` keys: a scalar at depth `levels`.
fn nested_object(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!({ "k": inner }))
}

/// `{"k": [[... [1] ...]]}`: the key's value is at depth 1, each array one deeper.
fn nested_array(levels: usize) -> Value {
    let inner = (1..levels).fold(json!(1), |inner, _| json!([inner]));
    json!({ "k": inner })
}

fn many_keys(count: usize, key_chars: usize) -> Value {
    Value::Object(
        (0..count)
            .map(|i| {
                let prefix = format!("k{i:03}_");
                let pad = key_chars.saturating_sub(prefix.len());
                (format!("{prefix}{}", "x".repeat(pad)), json!(i))
            })
            .collect(),
    )
}

/// Maps at the limits, each with a reason: 200 keys, 128-character keys (of 1 to 4 bytes a
/// character), nesting 8 deep as objects and as lists, strings of exactly 8 KB.
fn at_the_limits() -> Vec<(&'static str, Value)> {
    vec![
        ("200 keys", many_keys(200, 8)),
        ("200 keys of 128 characters", many_keys(200, 128)),
        ("a 128-character ASCII key", json!({ "k".repeat(128): "v" })),
        ("a 128-character key of é", json!({ "é".repeat(128): "v" })),
        (
            "a 128-character key of emoji",
            json!({ "😀".repeat(128): "v" }),
        ),
        ("objects nested 8 deep", nested_object(8)),
        ("lists nested 8 deep", nested_array(8)),
        ("an 8 KB ASCII string", json!({ "s": "a".repeat(8192) })),
        ("an 8 KB string of é", json!({ "s": "é".repeat(4096) })),
        ("an 8 KB string of emoji", json!({ "s": "😀".repeat(2048) })),
        (
            "an 8 KB string of 3-byte characters",
            json!({ "s": format!("{}ab", "日".repeat(2730)) }),
        ),
    ]
}

/// Maps one step past a limit: both engines must refuse them with a 422.
fn past_the_limits() -> Vec<(&'static str, Value)> {
    vec![
        ("201 keys", many_keys(201, 8)),
        ("a 129-character key", json!({ "k".repeat(129): "v" })),
        ("objects nested 9 deep", nested_object(9)),
        ("lists nested 9 deep", nested_array(9)),
        ("an 8 KB + 1 byte string", json!({ "s": "a".repeat(8193) })),
        (
            "an 8 KB + 2 bytes string of é",
            json!({ "s": "é".repeat(4097) }),
        ),
    ]
}

/// Empty and null values in every shape an attribute value may take.
fn empties() -> Vec<(&'static str, Value)> {
    vec![
        ("an empty string", json!({ "e": "" })),
        ("a null", json!({ "e": null })),
        ("an empty list", json!({ "e": [] })),
        ("an empty map", json!({ "e": {} })),
        ("a list of an empty list", json!({ "e": [[]] })),
        ("a list of an empty map", json!({ "e": [{}] })),
        ("a map of an empty map", json!({ "e": { "f": {} } })),
        ("a list of a null", json!({ "e": [null] })),
        ("a list of an empty string", json!({ "e": [""] })),
        ("false and 0", json!({ "f": false, "z": 0 })),
        (
            "every empty at once",
            json!({ "a": "", "b": null, "c": [], "d": {}, "e": [[], {}, null, ""] }),
        ),
    ]
}

const EVENT_NAMES: &[(&str, &str)] = &[
    ("a single character", "x"),
    ("spaces around", " spaced name "),
    ("a dot", "a.b"),
    ("a hash", "a#b"),
    ("the index key's own syntax", "P#default#N#x"),
    ("a dollar", "$name"),
    ("a colon", "a:b"),
    ("brackets", "[x]"),
    ("a slash", "with/slash"),
    ("a quote", "say \"hi\""),
    ("Japanese", "名前"),
    ("an emoji", "😀"),
    ("a family emoji (joined code points)", "👩‍👩‍👧"),
    ("a zero-width space", "zero\u{200b}width"),
    ("upper case", "UPPER_CASE"),
    ("lower case of the same", "upper_case"),
];

fn scenarios(g: &mut Gen) -> Vec<Scenario> {
    init_scenarios(g);
    attribute_scenarios(g);
    number_scenarios(g);
    event_scenarios(g);
    paging_scenarios(g);
    std::mem::take(&mut g.scenarios)
}

fn init_scenarios(g: &mut Gen) {
    let mut s = Scenario::new("init with nothing but the key");
    s.init(
        "no body fields at all: the server makes the UUID",
        json!({}),
    )
    .save("a");
    s.show("read the new session right after", "@uuid:a");
    s.init("the same again: another new session", json!({}))
        .save("b");
    s.show("read the second session", "@uuid:b");
    s.init(
        "a null uuid is an absent uuid",
        json!({ "uuid": null, "context": null, "custom_data": null }),
    )
    .save("c");
    s.show("read the session of the null uuid", "@uuid:c");
    g.add(s);

    let empty_contexts: Vec<(&str, Value)> = vec![
        ("an empty context", json!({ "context": {} })),
        ("an empty context.url", json!({ "context": { "url": {} } })),
        (
            "an empty context.client",
            json!({ "context": { "client": {} } }),
        ),
        (
            "an empty context.user",
            json!({ "context": { "user": {} } }),
        ),
        (
            "empty context.user.attributes",
            json!({ "context": { "user": { "attributes": {} } } }),
        ),
        (
            "null context.user.attributes",
            json!({ "context": { "user": { "attributes": null } } }),
        ),
        ("empty custom_data", json!({ "custom_data": {} })),
        (
            "null url, client and user",
            json!({ "context": { "url": null, "client": null, "user": null } }),
        ),
        (
            "synchronous with empty context.user.attributes",
            json!({ "synchronous": true, "context": { "user": { "attributes": {} } } }),
        ),
        (
            "synchronous with empty custom_data",
            json!({ "synchronous": true, "custom_data": {} }),
        ),
        (
            "synchronous false with every map empty",
            json!({ "synchronous": false, "custom_data": {},
                "context": { "url": {}, "client": {}, "user": { "attributes": {} } } }),
        ),
        ("synchronous null", json!({ "synchronous": null })),
        ("synchronous true alone", json!({ "synchronous": true })),
    ];
    for (why, body) in empty_contexts {
        // Once on a new session the server names, once on a UUID the client brings.
        let mut s = Scenario::new(format!("init with {why}"));
        s.init(format!("{why}, no uuid"), body.clone()).save("a");
        s.show("read it back", "@uuid:a");
        let uuid = g.uuid();
        let mut with_uuid = body;
        with_uuid["uuid"] = json!(uuid);
        s.init(format!("{why}, a client uuid"), with_uuid);
        s.show("read it back", &uuid);
        g.add(s);
    }

    let strings: Vec<(&str, Value)> = vec![
        (
            "every url field an empty string",
            json!({ "url": { "href": "", "raw": "", "path": "", "query": "", "hash": "",
                "referer": "", "source_url": "" } }),
        ),
        (
            "every url field null",
            json!({ "url": { "href": null, "raw": null, "path": null, "query": null,
                "hash": null, "referer": null, "source_url": null } }),
        ),
        (
            "empty client strings",
            json!({ "client": { "ipAddress": "", "userAgent": "", "locale": "",
                "timezone": "", "platform": "" } }),
        ),
        (
            "null client fields",
            json!({ "client": { "ipAddress": null, "userAgent": null, "locale": null,
                "screenWidth": null, "languages": null } }),
        ),
        (
            "an empty list of languages and zeroes",
            json!({ "client": { "languages": [], "screenWidth": 0, "pixelRatio": 0.0,
                "timezoneOffsetMinutes": -0.0, "cookiesEnabled": false } }),
        ),
        (
            "client numbers at the storable edges",
            json!({ "client": { "pixelRatio": 1e-130, "deviceMemoryGb": 9.9e125,
                "screenWidth": 9_007_199_254_740_993u64, "timezoneOffsetMinutes": -330 } }),
        ),
        (
            "client fields nobody documented, with hostile names",
            json!({ "client": { ".": 1, "#x": "y", "$z": [], "a:b": {}, "[0]": null,
                "with space": "ok", "😀": "ü", "nested": { "a.b": [{ "#": {} }] } } }),
        ),
        (
            "non-ASCII everywhere",
            json!({ "url": { "href": "https://例え.テスト/パス?utm_source=😀&q=ü#frag",
                "referer": "https://ünïcödé.example/ページ", "source_url": "https://x.test/ß" },
                "client": { "userAgent": "Mozilla/5.0 😀 (ünïcödé)", "locale": "zh-Hant-TW",
                    "timezone": "Asia/Kolkata", "languages": ["zh-Hant-TW", "ü"] } }),
        ),
        (
            "percent-encoded and repeated query parameters",
            json!({ "url": {
                "href": "https://x.test/%F0%9F%98%80?utm_source=a&utm_source=b&UTM_Medium=Email&q=%20&gclid=&ttclid=t%2Fx" } }),
        ),
        (
            "an fbclid (its fbc carries the init's time)",
            json!({ "url": { "href": "https://x.test/?fbclid=abc.DEF_123&msclkid=m1" } }),
        ),
        (
            "a relative href",
            json!({ "url": { "href": "/pricing?utm_source=newsletter" } }),
        ),
        (
            "an href that is no URL",
            json!({ "url": { "href": "not a url at all" } }),
        ),
        (
            "a javascript: href",
            json!({ "url": { "href": "javascript:alert(1)" } }),
        ),
        (
            "an 8 KB href (the cap)",
            json!({ "url": { "href": format!("https://x.test/?q={}", "a".repeat(8170)) } }),
        ),
        (
            "IPv6 loopback",
            json!({ "client": { "ipAddress": "::1", "userAgent": "curl/8.0" } }),
        ),
        (
            "an IPv6 address with spaces around",
            json!({ "client": { "ipAddress": "  2001:db8::1  " } }),
        ),
        (
            "an address that is no address",
            json!({ "client": { "ipAddress": "999.1.1.1" } }),
        ),
        (
            "a bot user agent",
            json!({ "client": { "userAgent": "Googlebot/2.1 (+http://www.google.com/bot.html)" } }),
        ),
    ];
    for (why, context) in strings {
        let uuid = g.uuid();
        let mut s = Scenario::new(format!("init with {why}"));
        s.init(why, json!({ "uuid": uuid, "context": context }));
        s.show("read it back", &uuid);
        g.add(s);
    }

    // Repeated inits on one UUID: merge, replace, first touch kept.
    let uuid = g.uuid();
    let upper = uuid.to_uppercase();
    let mut s = Scenario::new("repeated init on one uuid");
    s.init(
        "first init: utm_source=first, user attributes and custom data",
        json!({ "uuid": uuid, "context": {
            "url": { "href": "https://x.test/?utm_source=first&gclid=g1", "referer": "https://google.com/" },
            "client": { "ipAddress": "203.0.113.7", "userAgent": "Mozilla/5.0 (X11; Linux x86_64)" },
            "user": { "attributes": { "a": 1, "b": { "x": 1 } } } },
            "custom_data": { "c": 1 } }),
    );
    s.show("read after the first init", &uuid);
    s.init(
        "second init: new source, user attributes merged, custom data replaced by {}",
        json!({ "uuid": uuid, "context": {
            "url": { "href": "https://x.test/?utm_source=second" },
            "user": { "attributes": { "b": { "y": 2 }, "c": null } } },
            "custom_data": {} }),
    );
    s.show("read after the second init", &uuid);
    s.init("third init: no context at all", json!({ "uuid": uuid }));
    s.show("read after the third init", &uuid);
    s.init(
        "fourth init: synchronous, upper-case uuid",
        json!({ "uuid": upper, "synchronous": true,
            "context": { "url": { "href": "https://x.test/?fbclid=F1" } } }),
    );
    s.show("read with the upper-case uuid", &upper);
    s.init(
        "fifth init: the same fbclid again (its fbc must be kept)",
        json!({ "uuid": uuid, "context": { "url": { "href": "https://x.test/?fbclid=F1" } } }),
    );
    s.show("read after the fifth init", &uuid);
    g.add(s);

    // Maps at and past the limits, in custom_data and in context.user.attributes.
    for (why, map) in at_the_limits().into_iter().chain(empties()) {
        for field in ["custom_data", "user attributes"] {
            let uuid = g.uuid();
            let body = if field == "custom_data" {
                json!({ "uuid": uuid, "custom_data": map })
            } else {
                json!({ "uuid": uuid, "context": { "user": { "attributes": map } } })
            };
            let pointer = if field == "custom_data" {
                "/data/session/custom_data"
            } else {
                "/data/session/user_attributes"
            };
            let mut s = Scenario::new(format!("init with {why} in {field}"));
            s.init(format!("{why} in {field}"), body);
            s.show("read it back", &uuid)
                .reads_back(pointer, map.clone());
            g.add(s);
        }
    }
    for (why, map) in past_the_limits() {
        let uuid = g.uuid();
        let mut s = Scenario::new(format!("init with {why} in custom_data"));
        s.init(
            format!("{why}: refused"),
            json!({ "uuid": uuid, "custom_data": map }),
        )
        .expect(422);
        s.show("nothing was stored", &uuid).expect(404);
        g.add(s);
    }
}

fn attribute_scenarios(g: &mut Gen) {
    // Each hostile key on a fresh session, read back right after.
    for key in SPECIAL_KEYS {
        let uuid = g.uuid();
        let value = json!(format!("value of {key}"));
        let mut s = Scenario::new(format!("attribute key {key:?}"));
        s.attrs(
            format!("the key {key:?} on an unknown uuid"),
            json!({ "uuid": uuid, "attributes": { *key: value } }),
        );
        s.show("read it back", &uuid)
            .reads_back(ptr(&["data", "attributes", key]), value.clone());
        g.add(s);
    }
    let all: Map<String, Value> = SPECIAL_KEYS
        .iter()
        .map(|k| ((*k).to_owned(), json!(k)))
        .collect();
    let all = Value::Object(all);
    let uuid = g.uuid();
    let mut s = Scenario::new("every hostile key at once, everywhere a map goes");
    s.init(
        "every hostile key in custom_data and user attributes",
        json!({ "uuid": uuid, "custom_data": all,
            "context": { "user": { "attributes": all } } }),
    );
    s.show("read it back", &uuid)
        .reads_back("/data/session/custom_data", all.clone())
        .reads_back("/data/session/user_attributes", all.clone());
    s.attrs(
        "every hostile key as attributes",
        json!({ "uuid": uuid, "attributes": all }),
    );
    s.attrs(
        "every hostile key nested under hostile keys",
        json!({ "uuid": uuid, "attributes": { "a.b": { "#c": { "$d": all } } } }),
    );
    let mut merged = all.clone();
    merged["a.b"] = json!({ "#c": { "$d": all } });
    s.show("read both back", &uuid)
        .reads_back("/data/attributes", merged);
    s.event(
        "every hostile key as event attributes",
        json!({ "uuid": uuid, "event": "hostile_keys", "attributes": all, "timestamp": g.ts() }),
    );
    s.list(
        "list the event",
        json!({ "name": "hostile_keys", "per_page": 1 }),
    )
    .reads_back("/data/0/attributes", all.clone());
    g.add(s);

    // Empty maps and replace.
    let known = g.uuid();
    let unknown = g.uuid();
    let unknown2 = g.uuid();
    let mut s = Scenario::new("empty attribute maps and replace");
    s.attrs(
        "{} on an unknown uuid",
        json!({ "uuid": unknown, "attributes": {} }),
    );
    s.show("read the session {} made", &unknown)
        .reads_back("/data/attributes", json!({}));
    s.attrs(
        "replace: true with {} on an unknown uuid",
        json!({ "uuid": unknown2, "attributes": {}, "replace": true }),
    );
    s.show("read it back", &unknown2)
        .reads_back("/data/attributes", json!({}));
    s.init("an init", json!({ "uuid": known }));
    s.attrs(
        "{} on a session that has no attributes yet",
        json!({ "uuid": known, "attributes": {} }),
    );
    s.show("read it back", &known)
        .reads_back("/data/attributes", json!({}));
    s.attrs(
        "two attributes",
        json!({ "uuid": known, "attributes": { "a": 1, "n": { "x": 1 } } }),
    );
    s.attrs(
        "{} on a session with attributes",
        json!({ "uuid": known, "attributes": {} }),
    );
    s.show("{} changed nothing", &known)
        .reads_back("/data/attributes", json!({ "a": 1, "n": { "x": 1 } }));
    s.attrs(
        "replace: false, explicitly",
        json!({ "uuid": known, "attributes": { "b": 2 }, "replace": false }),
    );
    s.attrs(
        "replace: null is replace absent",
        json!({ "uuid": known, "attributes": { "c": 3 }, "replace": null }),
    );
    s.attrs(
        "a nested map merged over a nested map",
        json!({ "uuid": known, "attributes": { "n": { "y": 2 } } }),
    );
    s.attrs(
        "a null over a number",
        json!({ "uuid": known, "attributes": { "a": null } }),
    );
    s.show("read the merges back", &known);
    s.attrs(
        "replace: true with {}",
        json!({ "uuid": known, "attributes": {}, "replace": true }),
    );
    s.show("everything was replaced by nothing", &known)
        .reads_back("/data/attributes", json!({}));
    s.attrs(
        "replace: true with a map of an empty map",
        json!({ "uuid": known, "attributes": { "x": {} }, "replace": true }),
    );
    s.show("read it back", &known)
        .reads_back("/data/attributes", json!({ "x": {} }));
    s.attrs(
        "{} after a replace",
        json!({ "uuid": known, "attributes": {} }),
    );
    s.show("read it back", &known)
        .reads_back("/data/attributes", json!({ "x": {} }));
    g.add(s);

    // Empty and null values, at the limits, past them.
    for (why, map) in empties().into_iter().chain(at_the_limits()) {
        let uuid = g.uuid();
        let mut s = Scenario::new(format!("attributes with {why}"));
        s.attrs(why, json!({ "uuid": uuid, "attributes": map }));
        s.show("read it back", &uuid)
            .reads_back("/data/attributes", map.clone());
        g.add(s);
    }
    for (why, map) in past_the_limits() {
        let uuid = g.uuid();
        let mut s = Scenario::new(format!("attributes with {why}"));
        s.attrs(
            format!("{why}: refused"),
            json!({ "uuid": uuid, "attributes": map }),
        )
        .expect(422);
        s.show("nothing was stored", &uuid).expect(404);
        g.add(s);
    }

    // Reads of what does not exist.
    let never = g.uuid();
    let mut s = Scenario::new("reads of what was never written");
    s.show("an unknown uuid", &never).expect(404);
    s.show("an unknown uuid in upper case", &never.to_uppercase())
        .expect(404);
    s.list(
        "a name nobody used",
        json!({ "name": "never_used_anywhere" }),
    );
    s.list(
        "a name nobody used, last page asked for",
        json!({ "name": "never_used_anywhere", "page": 3, "per_page": 100, "sort": "asc" }),
    );
    g.add(s);
}

fn number_scenarios(g: &mut Gen) {
    // Each storable number as an attribute on its own session.
    for (why, n) in storable_numbers() {
        let uuid = g.uuid();
        let mut s = Scenario::new(format!("the number {why} as an attribute"));
        s.attrs(
            format!("{why} as an attribute"),
            json!({ "uuid": uuid, "attributes": { "n": n, "in_list": [n], "in_map": { "m": n } } }),
        );
        s.show("read it back", &uuid)
            .reads_back("/data/attributes/n", n.clone())
            .reads_back("/data/attributes/in_list/0", n.clone())
            .reads_back("/data/attributes/in_map/m", n.clone());
        g.add(s);
    }
    // Each as an event attribute, on its own session: listed back through the index and
    // through session/show.
    // Each under its own name, so a refused one cannot be mistaken for another.
    let numbers = storable_numbers();
    for (i, (why, n)) in numbers.iter().enumerate() {
        let uuid = g.uuid();
        let name = format!("number_probe_{i:02}");
        let mut s = Scenario::new(format!("the number {why} in an event"));
        s.event(
            format!("{why} in an event"),
            json!({ "uuid": uuid, "event": name, "timestamp": g.ts(),
                "attributes": { "n": n, "in_list": [n] } }),
        );
        s.list("list the event", json!({ "name": name }))
            .reads_back("/data/0/attributes/n", n.clone())
            .reads_back("/data/0/attributes/in_list/0", n.clone());
        s.show("and through session/show", &uuid)
            .reads_back("/data/events/0/attributes/n", n.clone());
        g.add(s);
    }
    // All of them in custom_data and user attributes of one init.
    let uuid = g.uuid();
    let map: Map<String, Value> = numbers
        .iter()
        .enumerate()
        .map(|(i, (_, n))| (format!("n{i:02}"), n.clone()))
        .collect();
    let map = Value::Object(map);
    let mut s = Scenario::new("every storable number in one init");
    s.init(
        "every storable number in custom_data and user attributes",
        json!({ "uuid": uuid, "custom_data": map, "context": { "user": { "attributes": map } } }),
    );
    s.show("read them back", &uuid)
        .reads_back("/data/session/custom_data", map.clone())
        .reads_back("/data/session/user_attributes", map.clone());
    g.add(s);
    // Out of range: refused alike.
    for (why, n) in unstorable_numbers() {
        let uuid = g.uuid();
        let mut s = Scenario::new(format!("the number {why}"));
        s.attrs(
            format!("{why}: refused"),
            json!({ "uuid": uuid, "attributes": { "n": n } }),
        )
        .expect(422);
        s.event(
            format!("{why} in an event: refused"),
            json!({ "uuid": uuid, "event": "bad_number", "attributes": { "n": n } }),
        )
        .expect(422);
        g.add(s);
    }
}

fn event_scenarios(g: &mut Gen) {
    // Events before any init.
    let uuid = g.uuid();
    let mut s = Scenario::new("events before any init");
    s.event(
        "an event on an unknown uuid, no attributes",
        json!({ "uuid": uuid, "event": "early" }),
    );
    s.show("the event made a session", &uuid);
    s.event(
        "attributes {}",
        json!({ "uuid": uuid, "event": "early", "attributes": {} }),
    );
    s.event(
        "attributes null",
        json!({ "uuid": uuid, "event": "early", "attributes": null, "timestamp": g.ts() }),
    );
    s.event(
        "with its own client context",
        json!({ "uuid": uuid, "event": "early",
            "context": { "client": { "ipAddress": "198.51.100.4", "userAgent": "backend/1.0" } } }),
    );
    s.show("three events, no init", &uuid);
    s.list("list them", json!({ "name": "early", "sort": "asc" }));
    s.init(
        "now the init",
        json!({ "uuid": uuid, "context": { "url": { "href": "https://x.test/?utm_source=late" },
            "client": { "ipAddress": "192.0.2.1" } } }),
    );
    s.show("the init enriched the session the events made", &uuid);
    s.event(
        "an event after the init takes its address",
        json!({ "uuid": uuid, "event": "early" }),
    );
    s.list("list them again", json!({ "name": "early" }));
    g.add(s);

    // Event names, each written then listed.
    let uuid = g.uuid();
    let mut s = Scenario::new("event names");
    let long_names: Vec<(String, String)> = vec![
        ("100 ASCII characters".into(), "e".repeat(100)),
        ("100 characters of é".into(), "é".repeat(100)),
        ("100 emoji".into(), "😀".repeat(100)),
    ];
    let names: Vec<(String, String)> = EVENT_NAMES
        .iter()
        .map(|(why, name)| ((*why).to_owned(), (*name).to_owned()))
        .chain(long_names)
        .collect();
    for (why, name) in &names {
        let attributes = json!({ "why": why });
        s.event(
            format!("an event named with {why}"),
            json!({ "uuid": uuid, "event": name, "attributes": attributes.clone(),
                "timestamp": g.ts() }),
        );
        s.list(format!("list the name with {why}"), json!({ "name": name }))
            .reads_back("/data/0/name", json!(name))
            .reads_back("/data/0/attributes", attributes.clone());
    }
    s.show("the session with every name", &uuid);
    for (why, name) in [
        ("101 ASCII characters", "e".repeat(101)),
        ("101 characters of é", "é".repeat(101)),
    ] {
        s.event(
            format!("an event named with {why}: refused"),
            json!({ "uuid": uuid, "event": name }),
        )
        .expect(422);
    }
    g.add(s);

    // Timestamps.
    let uuid = g.uuid();
    let soon = Timestamp::from_micros(g.now.micros() + 23 * 3_600_000_000).to_string();
    let mut s = Scenario::new("event timestamps");
    for (why, timestamp) in [
        ("no timestamp: the server's time", Value::Null),
        ("RFC 3339 in UTC", json!("2024-02-29T12:00:00Z")),
        (
            "RFC 3339 with an offset",
            json!("2024-02-29T12:00:00+05:30"),
        ),
        (
            "RFC 3339 with nanoseconds",
            json!("2024-02-29T12:00:01.123456789Z"),
        ),
        (
            "RFC 3339 with microseconds",
            json!("2024-02-29T12:00:02.654321Z"),
        ),
        ("epoch milliseconds", json!(1_709_208_003_123i64)),
        ("the earliest allowed", json!("2000-01-01T00:00:00Z")),
        (
            "the earliest allowed plus 1 ms, in epoch ms",
            json!(946_684_800_001i64),
        ),
        ("23 hours ahead", json!(soon)),
    ] {
        s.event(
            format!("an event with {why}"),
            json!({ "uuid": uuid, "event": "ts_probe", "timestamp": timestamp,
                "attributes": { "why": why } }),
        );
        s.show(format!("read right after the event with {why}"), &uuid);
    }
    s.list(
        "list them oldest first",
        json!({ "name": "ts_probe", "sort": "asc" }),
    );
    s.list(
        "list them newest first",
        json!({ "name": "ts_probe", "sort": "desc" }),
    );
    g.add(s);

    // Event ids: with and without timestamp, retried.
    let uuid = g.uuid();
    let other = g.uuid();
    let (id1, id2, id3) = (g.uuid(), g.uuid(), g.uuid());
    let t2 = g.ts();
    let mut s = Scenario::new("event ids and retries");
    s.event(
        "an event_id, no timestamp",
        json!({ "uuid": uuid, "event": "retry_probe", "event_id": id1, "attributes": { "try": 1 } }),
    );
    s.event(
        "its retry: a duplicate",
        json!({ "uuid": uuid, "event": "retry_probe", "event_id": id1, "attributes": { "try": 2 } }),
    );
    s.event(
        "its retry with the event_id in upper case",
        json!({ "uuid": uuid, "event": "retry_probe", "event_id": id1.to_uppercase() }),
    );
    s.show("one event stored", &uuid);
    s.event(
        "an event_id and a timestamp",
        json!({ "uuid": uuid, "event": "retry_probe", "event_id": id2, "timestamp": t2 }),
    );
    s.event(
        "its retry: a duplicate",
        json!({ "uuid": uuid, "event": "retry_probe", "event_id": id2, "timestamp": t2 }),
    );
    s.event(
        "its retry with other attributes",
        json!({ "uuid": uuid, "event": "retry_probe", "event_id": id2, "timestamp": t2,
            "attributes": { "changed": true } }),
    );
    s.event(
        "its retry without the timestamp",
        json!({ "uuid": uuid, "event": "retry_probe", "event_id": id2 }),
    );
    s.show("read right after the retries", &uuid);
    s.event(
        "the first event_id again, now with a timestamp",
        json!({ "uuid": uuid, "event": "retry_probe", "event_id": id1, "timestamp": g.ts() }),
    );
    s.event(
        "an event_id first used on another session",
        json!({ "uuid": other, "event": "retry_probe", "event_id": id3, "timestamp": g.ts() }),
    );
    s.event(
        "the same event_id on this session",
        json!({ "uuid": uuid, "event": "retry_probe", "event_id": id3, "timestamp": g.ts() }),
    );
    s.event(
        "event_id null is no event_id",
        json!({ "uuid": uuid, "event": "retry_probe", "event_id": null }),
    );
    s.show("read after everything", &uuid);
    s.show("the other session", &other);
    s.list(
        "each stored event listed and counted once",
        json!({ "name": "retry_probe", "sort": "asc" }),
    );
    g.add(s);

    // Event attributes: empties, limits, contexts; each listed right after it is written.
    let uuid = g.uuid();
    let mut s = Scenario::new("event attributes");
    s.init("a session to hang them on", json!({ "uuid": uuid,
        "context": { "client": { "ipAddress": "203.0.113.50", "userAgent": "Mozilla/5.0 (Macintosh)" } } }));
    let shapes: Vec<(&str, Option<Value>)> = vec![("no attributes field", None)];
    let shapes = shapes
        .into_iter()
        .chain(
            empties()
                .into_iter()
                .chain(at_the_limits())
                .map(|(why, v)| (why, Some(v))),
        )
        .collect::<Vec<_>>();
    for (why, attributes) in shapes {
        let mut body = json!({ "uuid": uuid, "event": "attr_probe", "timestamp": g.ts() });
        if let Some(a) = &attributes {
            body["attributes"] = a.clone();
        }
        s.event(format!("event attributes with {why}"), body);
        s.list(
            format!("list the event with {why}"),
            json!({ "name": "attr_probe", "per_page": 1 }),
        )
        .reads_back(
            "/data/0/attributes",
            attributes.clone().unwrap_or_else(|| json!({})),
        );
    }
    for (why, context) in [
        ("an empty context", json!({})),
        ("an empty context.client", json!({ "client": {} })),
        ("a null context", Value::Null),
        (
            "an empty address and user agent",
            json!({ "client": { "ipAddress": "", "userAgent": "" } }),
        ),
        (
            "an IPv6 address",
            json!({ "client": { "ipAddress": "2001:db8:85a3::8a2e:370:7334" } }),
        ),
        (
            "a non-ASCII user agent",
            json!({ "client": { "userAgent": "Agent 😀 ünïcödé" } }),
        ),
    ] {
        s.event(
            format!("an event with {why}"),
            json!({ "uuid": uuid, "event": "attr_probe", "timestamp": g.ts(), "context": context }),
        );
        s.list(
            format!("list the event with {why}"),
            json!({ "name": "attr_probe", "per_page": 1 }),
        );
    }
    s.show("the session after every event", &uuid);
    for (why, map) in past_the_limits() {
        s.event(
            format!("event attributes with {why}: refused"),
            json!({ "uuid": uuid, "event": "attr_probe", "attributes": map }),
        )
        .expect(422);
    }
    g.add(s);
}

fn paging_scenarios(g: &mut Gen) {
    const EVENTS: usize = 23;
    let sessions = [g.uuid(), g.uuid()];
    let mut s = Scenario::new("event/show paging");
    for i in 0..EVENTS {
        s.event(
            format!("paging event {i}"),
            json!({ "uuid": sessions[i % 2], "event": "paging_probe", "timestamp": g.ts(),
                "attributes": { "i": i } }),
        );
    }
    let list = |extra: Value| {
        let mut body = json!({ "name": "paging_probe" });
        for (k, v) in extra.as_object().expect("an object") {
            body[k] = v.clone();
        }
        body
    };
    s.list("the defaults", list(json!({})));
    for page in 1..=6u64 {
        let step = s.list(
            format!("page {page} of 5, oldest first"),
            list(json!({ "page": page, "per_page": 5, "sort": "asc" })),
        );
        let first = (page as usize - 1) * 5;
        for (row, i) in (first..(first + 5).min(EVENTS)).enumerate() {
            step.reads_back(format!("/data/{row}/attributes/i"), json!(i));
        }
    }
    for page in 1..=5u64 {
        s.list(
            format!("page {page} of 5, newest first"),
            list(json!({ "page": page, "per_page": 5, "sort": "desc" })),
        );
    }
    s.list(
        "per_page 1, the last page",
        list(json!({ "page": 23, "per_page": 1, "sort": "asc" })),
    )
    .reads_back("/data/0/attributes/i", json!(22));
    s.list(
        "per_page 1, one past the last page",
        list(json!({ "page": 24, "per_page": 1 })),
    );
    s.list("per_page 100", list(json!({ "per_page": 100 })));
    s.list(
        "page and per_page as text",
        list(json!({ "page": "2", "per_page": "7" })),
    );
    s.list("sort in upper case", list(json!({ "sort": "ASC" })));
    s.list("sort in mixed case", list(json!({ "sort": "Desc" })));
    s.list(
        "the largest page number",
        list(json!({ "page": 1_000_000_000u64 })),
    );
    s.list(
        "null page, per_page and sort are the defaults",
        list(json!({ "page": null, "per_page": null, "sort": null })),
    );
    // Cursor walks: newest first 4 a page, oldest first 10 a page; each page checked.
    let mut expected: Vec<usize> = (0..EVENTS).rev().collect();
    for (sort, per_page, prefix) in [("desc", 4usize, "d"), ("asc", 10usize, "a")] {
        if sort == "asc" {
            expected.reverse();
        }
        let pages = EVENTS.div_ceil(per_page);
        for page in 0..pages {
            let mut body = list(json!({ "per_page": per_page, "sort": sort }));
            if page > 0 {
                // Both spellings the API accepts, alternately.
                let field = if page % 2 == 0 {
                    "cursor"
                } else {
                    "next_cursor"
                };
                body[field] = json!(format!("@cursor:{prefix}{}", page - 1));
            }
            let step = s
                .list(
                    format!("cursor walk {sort}, {per_page} a page: page {}", page + 1),
                    body,
                )
                .save(&format!("{prefix}{page}"));
            for (row, i) in expected
                .iter()
                .skip(page * per_page)
                .take(per_page)
                .enumerate()
            {
                step.reads_back(format!("/data/{row}/attributes/i"), json!(i));
            }
        }
    }
    let mut body = list(json!({ "per_page": 4, "page": 3 }));
    body["cursor"] = json!("@cursor:d0");
    s.list("a cursor and a page number both given", body);
    g.add(s);
}

// ---------------------------------------------------------------------------------------------
// Masking and comparing

fn is_uuid_at(bytes: &[u8], at: usize) -> bool {
    bytes.len() >= at + 36
        && bytes[at..at + 36].iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Replaces what is legitimately engine-specific (see the module docs), numbering server
/// UUIDs and server timestamps in the order first seen so sameness survives the masking.
struct Masker {
    /// UUIDs the suite sent, lower case: the client's, never masked.
    sent: HashSet<String>,
    uuids: HashMap<String, usize>,
    times: HashMap<String, usize>,
    /// Server timestamps fall from here to a minute after the moment of masking.
    earliest: String,
}

impl Masker {
    fn new(sent: HashSet<String>, run_started: Timestamp) -> Self {
        Masker {
            sent,
            uuids: HashMap::new(),
            times: HashMap::new(),
            earliest: Timestamp::from_micros(run_started.micros() - 60_000_000).to_string(),
        }
    }

    fn mask(&mut self, value: &Value) -> Value {
        let latest = Timestamp::from_micros(SystemClock.now().micros() + 60_000_000).to_string();
        self.walk(None, value, &latest)
    }

    fn walk(&mut self, key: Option<&str>, value: &Value, latest: &str) -> Value {
        match value {
            Value::String(s) => Value::String(self.string(key, s, latest)),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.walk(None, item, latest))
                    .collect(),
            ),
            Value::Object(map) => {
                // Sorted, so numbering does not depend on the order an engine writes keys in.
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), self.walk(Some(k), &map[k], latest)))
                        .collect(),
                )
            }
            other => other.clone(),
        }
    }

    fn string(&mut self, key: Option<&str>, s: &str, latest: &str) -> String {
        // Sealed with a per-table secret: engine-specific by design.
        if key == Some("next_cursor") {
            return "<cursor>".into();
        }
        // The event's key packed: its UUID, time and id, each masked as itself.
        if key == Some("track_id")
            && let Some((uuid, sk)) = atrack_shared::store::track_id::decode(s)
            && let Some((at, id)) = sk.strip_prefix("EV#").and_then(|k| k.split_once('#'))
        {
            let (at, id) = (at.to_owned(), id.to_owned());
            return format!(
                "<track {} {} {}>",
                self.string(None, &uuid.to_string(), latest),
                self.string(None, &at, latest),
                self.string(None, &id, latest)
            );
        }
        // The server's clock: `2026-12-01T20:23:12.123456Z` within the run.
        if s.len() == 27
            && s.ends_with('Z')
            && Timestamp::parse_rfc3339(s).is_some()
            && s >= self.earliest.as_str()
            && s <= latest
        {
            let n = self.times.len() + 1;
            return format!("<time-{}>", *self.times.entry(s.to_owned()).or_insert(n));
        }
        let mut out = s.to_owned();
        // fb.1.<the init's server time in ms>.<fbclid>
        if key == Some("fbc")
            && let Some(rest) = s.strip_prefix("fb.1.")
            && let Some((ms, fbclid)) = rest.split_once('.')
            && !ms.is_empty()
            && ms.bytes().all(|b| b.is_ascii_digit())
        {
            out = format!("fb.1.<init-ms>.{fbclid}");
        }
        // UUIDs the server made, wherever they appear in the text.
        let bytes = out.as_bytes();
        let mut masked = String::new();
        let mut at = 0;
        let mut copied = 0;
        while at < bytes.len() {
            if is_uuid_at(bytes, at) {
                let found = out[at..at + 36].to_ascii_lowercase();
                if !self.sent.contains(&found) {
                    let n = self.uuids.len() + 1;
                    let n = *self.uuids.entry(found).or_insert(n);
                    masked.push_str(&out[copied..at]);
                    masked.push_str(&format!("<uuid-{n}>"));
                    copied = at + 36;
                }
                at += 36;
            } else {
                at += 1;
            }
        }
        if copied == 0 {
            return out;
        }
        masked.push_str(&out[copied..]);
        masked
    }
}

/// Where two masked answers differ, as JSON pointers with both values.
fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    if out.len() >= 12 {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => differences(v, w, &p, out),
                    (v, w) => out.push(format!(
                        "{p}: embedded {}, dynamodb {}",
                        v.map_or("absent".into(), short),
                        w.map_or("absent".into(), short)
                    )),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                out.push(format!(
                    "{path}: embedded has {} items, dynamodb {}",
                    x.len(),
                    y.len()
                ));
            }
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                differences(v, w, &format!("{path}/{i}"), out);
            }
        }
        _ if a != b => out.push(format!(
            "{}: embedded {}, dynamodb {}",
            if path.is_empty() { "/" } else { path },
            short(a),
            short(b)
        )),
        _ => {}
    }
}

/// Equal as values, numbers by their mathematical value: `1.0` sent reads back as `1` (DynamoDB
/// keeps a number's value, not its spelling), but `2^53 + 1` must not read back as `2^53`.
fn same_value(sent: &Value, got: &Value) -> bool {
    match (sent, got) {
        (Value::Number(a), Value::Number(b)) => {
            let int = |n: &serde_json::Number| {
                n.as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
            };
            match (int(a), int(b), a.as_f64(), b.as_f64()) {
                (Some(x), Some(y), _, _) => x == y,
                (Some(x), None, _, Some(f)) | (None, Some(x), Some(f), _) => {
                    f.fract() == 0.0 && f.abs() < 1.8e19 && f as i128 == x && x as f64 == f
                }
                (None, None, Some(x), Some(y)) => x == y,
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_value(v, w))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => sent == got,
    }
}

/// A value shortened for the report: long strings, maps and lists cut, with their size said.
fn abbreviate(value: &Value) -> Value {
    match value {
        Value::String(s) if s.len() > 60 => {
            let head: String = s.chars().take(24).collect();
            Value::String(format!("{head}…({} bytes)", s.len()))
        }
        Value::Array(items) if items.len() > 8 => {
            let mut cut: Vec<Value> = items.iter().take(6).map(abbreviate).collect();
            cut.push(Value::String(format!("…{} more items", items.len() - 6)));
            Value::Array(cut)
        }
        Value::Array(items) => Value::Array(items.iter().map(abbreviate).collect()),
        Value::Object(map) => {
            let mut cut: Map<String, Value> = map
                .iter()
                .take(if map.len() > 24 { 6 } else { 24 })
                .map(|(k, v)| {
                    let k = if k.len() > 40 {
                        format!(
                            "{}…({} bytes)",
                            k.chars().take(12).collect::<String>(),
                            k.len()
                        )
                    } else {
                        k.clone()
                    };
                    (k, abbreviate(v))
                })
                .collect();
            if map.len() > 24 {
                cut.insert("…".into(), json!(format!("{} more keys", map.len() - 6)));
            }
            Value::Object(cut)
        }
        other => other.clone(),
    }
}

fn short(value: &Value) -> String {
    let text = abbreviate(value).to_string();
    if text.chars().count() > 4000 {
        format!("{}…", text.chars().take(4000).collect::<String>())
    } else {
        text
    }
}

// ---------------------------------------------------------------------------------------------
// Running

struct Side {
    engine: Engine,
    server: TestServer,
    masker: Masker,
    saved: HashMap<String, Value>,
    unsettled: bool,
    /// Time spent waiting for the counter to catch up, for the printed summary.
    settling: std::time::Duration,
}

/// An answer that never panics: a transport failure is status 0, a body that is not JSON is
/// kept as text, so one bad answer does not hide the rest of the run.
async fn send(server: &TestServer, endpoint: Endpoint, body: &Value) -> (u16, Value) {
    let request = server
        .http
        .post(server.url(endpoint.path()))
        .header("content-type", "application/json")
        .header("x-a-track-key", endpoint.key())
        .body(serde_json::to_vec(body).expect("json"));
    match request.send().await {
        Err(e) => (0, json!(format!("request failed: {e}"))),
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Err(e) => (status, json!(format!("body unreadable: {e}"))),
                Ok(bytes) => (
                    status,
                    serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                        json!(format!("<not JSON> {}", String::from_utf8_lossy(&bytes)))
                    }),
                ),
            }
        }
    }
}

/// The body as one engine gets it: placeholders replaced from that engine's saved answers.
fn substitute(body: &Value, saved: &HashMap<String, Value>) -> Value {
    match body {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("@uuid:") {
                saved.get(name).map_or(Value::Null, |a| a["uuid"].clone())
            } else if let Some(name) = s.strip_prefix("@cursor:") {
                saved
                    .get(name)
                    .map_or(Value::Null, |a| a["meta"]["next_cursor"].clone())
            } else {
                body.clone()
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, saved)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, saved)))
                .collect(),
        ),
        other => other.clone(),
    }
}

struct Finding {
    scenario: usize,
    step: usize,
    what: String,
    /// Both answers, masked.
    answers: Option<[(u16, Value); 2]>,
    /// An earlier step of the same scenario already had a finding: this one may only be its
    /// consequence (a write one engine refused leaves the two sessions apart from then on).
    follows_earlier: bool,
}

fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Embedded => "embedded",
        Engine::Dynamo => "dynamodb",
    }
}

/// Runs every step on both sides; returns the findings and, per step, both statuses.
async fn run(
    scenarios: &[Scenario],
    sides: &mut [Side; 2],
) -> (Vec<Finding>, Vec<Vec<[u16; 2]>>, usize) {
    let mut findings = Vec::new();
    let mut statuses = Vec::new();
    let mut requests = 0;
    for (si, scenario) in scenarios.iter().enumerate() {
        for side in sides.iter_mut() {
            side.saved.clear();
            // Scenarios are independent: numbering starts afresh, so one engine failing a
            // write in one scenario does not shift every number after it.
            side.masker.uuids.clear();
            side.masker.times.clear();
        }
        let mut scenario_statuses = Vec::new();
        let mut first_finding: Option<usize> = None;
        for (ti, step) in scenario.steps.iter().enumerate() {
            if matches!(step.endpoint, Endpoint::EventShow | Endpoint::SessionShow) {
                // The counter and the visits' last activity catch up (a no-op on the embedded
                // engine).
                for side in sides.iter_mut() {
                    if side.unsettled {
                        let started = Instant::now();
                        side.server.settle().await;
                        side.settling += started.elapsed();
                        side.unsettled = false;
                    }
                }
            }
            let bodies = [
                substitute(&step.body, &sides[0].saved),
                substitute(&step.body, &sides[1].saved),
            ];
            let (a, b) = tokio::join!(
                send(&sides[0].server, step.endpoint, &bodies[0]),
                send(&sides[1].server, step.endpoint, &bodies[1]),
            );
            requests += 1;
            let answers = [a, b];
            let follows_earlier = first_finding.is_some_and(|first| first < ti);
            let mut finding = |what: String, with_answers: bool, masked: &[(u16, Value); 2]| {
                first_finding.get_or_insert(ti);
                findings.push(Finding {
                    scenario: si,
                    step: ti,
                    what,
                    answers: with_answers.then(|| masked.clone()),
                    follows_earlier,
                });
            };
            let masked = [
                (answers[0].0, sides[0].masker.mask(&answers[0].1)),
                (answers[1].0, sides[1].masker.mask(&answers[1].1)),
            ];
            for (side, (status, _)) in sides.iter().zip(&answers) {
                if *status >= 500 || *status == 0 {
                    finding(
                        format!("{} answered {status}", engine_name(side.engine)),
                        true,
                        &masked,
                    );
                }
            }
            if answers[0].0 != answers[1].0 {
                finding(
                    format!(
                        "statuses differ: embedded {}, dynamodb {}",
                        answers[0].0, answers[1].0
                    ),
                    true,
                    &masked,
                );
            } else if masked[0].1 != masked[1].1 {
                let mut paths = Vec::new();
                differences(&masked[0].1, &masked[1].1, "", &mut paths);
                finding(
                    format!("answers differ:\n        {}", paths.join("\n        ")),
                    true,
                    &masked,
                );
            }
            let unexpected: Vec<String> = sides
                .iter()
                .zip(&answers)
                .filter(|(_, (status, _))| *status != step.expect)
                .map(|(side, (status, _))| format!("{} {status}", engine_name(side.engine)))
                .collect();
            if !unexpected.is_empty() {
                finding(
                    format!(
                        "expected {}, answered: {}",
                        step.expect,
                        unexpected.join(", ")
                    ),
                    false,
                    &masked,
                );
            }
            for (pointer, sent) in &step.reads_back {
                for (side, (status, body)) in sides.iter().zip(&answers) {
                    if *status != 200 {
                        continue;
                    }
                    match body.pointer(pointer) {
                        Some(got) if same_value(sent, got) => {}
                        got => finding(
                            format!(
                                "{}: {pointer} reads back {} but {} was sent",
                                engine_name(side.engine),
                                got.map_or("nothing".into(), short),
                                short(sent)
                            ),
                            false,
                            &masked,
                        ),
                    }
                }
            }
            for (side, (status, body)) in sides.iter_mut().zip(answers) {
                if step.endpoint.writes() && status == 200 {
                    side.unsettled = true;
                }
                if let Some(name) = &step.save {
                    side.saved.insert(name.clone(), body);
                }
            }
            scenario_statuses.push([masked[0].0, masked[1].0]);
        }
        statuses.push(scenario_statuses);
    }
    (findings, statuses, requests)
}

fn report(
    scenarios: &[Scenario],
    findings: &[Finding],
    statuses: &[Vec<[u16; 2]>],
    requests: usize,
) -> String {
    let groups: Vec<&[Finding]> = findings
        .chunk_by(|a, b| (a.scenario, a.step) == (b.scenario, b.step))
        .collect();
    let first = groups.iter().filter(|g| !g[0].follows_earlier).count();
    let mut out = format!(
        "{} finding(s) at {} step(s), {first} of them the first step of their scenario to have \
         any, over {requests} requests in {} scenarios:\n",
        findings.len(),
        groups.len(),
        scenarios.len()
    );
    // Findings of one step are reported together, under its request sequence, once.
    for (n, group) in groups.iter().enumerate() {
        let f = &group[0];
        let scenario = &scenarios[f.scenario];
        let step = &scenario.steps[f.step];
        let _ = writeln!(
            out,
            "\n[{}] step {} of scenario \"{}\": {}{}",
            n + 1,
            f.step + 1,
            scenario.name,
            step.reason,
            if f.follows_earlier {
                " (after an earlier finding in this scenario: may be its consequence)"
            } else {
                ""
            },
        );
        for f in group.iter() {
            let _ = writeln!(out, "    - {}", f.what);
        }
        let _ = writeln!(out, "    requests (embedded, dynamodb statuses):");
        for (i, s) in scenario.steps.iter().enumerate().take(f.step + 1) {
            let [a, b] = statuses[f.scenario][i];
            let _ = writeln!(
                out,
                "      {}{}. POST {} {} -> {a}, {b}",
                if i == f.step { "*" } else { " " },
                i + 1,
                s.endpoint.path(),
                short(&s.body)
            );
        }
        if let Some([(sa, a), (sb, b)]) = group.iter().find_map(|f| f.answers.as_ref()) {
            let _ = writeln!(out, "    embedded {sa}: {}", short(a));
            let _ = writeln!(out, "    dynamodb {sb}: {}", short(b));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_answer_every_edge_case_alike() {
    let mut g = Gen::new();
    let scenarios = scenarios(&mut g);
    let requests: usize = scenarios.iter().map(|s| s.steps.len()).sum();
    let valid = scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|s| s.expect == 200)
        .count();
    assert!(
        valid >= 300,
        "the table must hold at least 300 valid requests, it holds {valid}"
    );

    let started = Instant::now();
    let (embedded, dynamodb) = tokio::join!(
        TestServer::start(ServerOptions::new(Engine::Embedded)),
        TestServer::start(ServerOptions::new(Engine::Dynamo)),
    );
    let side = |engine, server| Side {
        engine,
        server,
        masker: Masker::new(g.sent.clone(), g.now),
        saved: HashMap::new(),
        unsettled: false,
        settling: std::time::Duration::ZERO,
    };
    let mut sides = [
        side(Engine::Embedded, embedded),
        side(Engine::Dynamo, dynamodb),
    ];
    let (findings, statuses, sent) = run(&scenarios, &mut sides).await;
    assert_eq!(sent, requests);
    println!(
        "differential: {requests} requests ({valid} valid) in {} scenarios on both engines in \
         {:.1?}, of which {:.1?} counting DynamoDB's stream",
        scenarios.len(),
        started.elapsed(),
        sides[1].settling
    );
    assert!(
        findings.is_empty(),
        "{}",
        report(&scenarios, &findings, &statuses, requests)
    );
}

/// The comparison itself: masking keeps sameness, and real differences are seen.
#[test]
fn masking_keeps_what_matters_and_the_comparison_sees_differences() {
    let start = SystemClock.now();
    let client = Uuid::new_v4().to_string();
    let sent: HashSet<String> = [client.clone()].into();
    let (s1, s2, s3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let now = SystemClock.now().to_string();
    let later = Timestamp::from_micros(SystemClock.now().micros() + 5).to_string();
    let mut a = Masker::new(sent.clone(), start);
    let mut b = Masker::new(sent.clone(), start);

    // Different server UUIDs and times in the same places compare equal...
    let x = json!({"uuid": s1.to_string(), "created_at": now, "updated_at": now,
        "client": client, "meta": {"next_cursor": "abc"}, "fbc": "fb.1.1795499818281.F1",
        "message": format!("no session {s1}")});
    let y = json!({"uuid": s2.to_string(), "created_at": later, "updated_at": later,
        "client": client, "meta": {"next_cursor": "xyz"}, "fbc": "fb.1.1795499818999.F1",
        "message": format!("no session {s2}")});
    assert_eq!(a.mask(&x), b.mask(&y));
    // ...the client's UUID and client timestamps are kept...
    let kept = a.mask(&json!([client, "2025-03-01T00:00:01.000000Z"]));
    assert_eq!(kept, json!([client, "2025-03-01T00:00:01.000000Z"]));
    // ...but sameness is checked: one engine reusing a UUID where the other makes a new one.
    let same = a.mask(&json!({"uuid": s1.to_string(), "created_at": now}));
    let new = b.mask(&json!({"uuid": s3.to_string(), "created_at": later}));
    assert_ne!(same, new);
    // A null cursor is not a cursor; a different fbclid is a difference.
    assert_ne!(
        a.mask(&json!({"next_cursor": null})),
        b.mask(&json!({"next_cursor": "c"}))
    );
    assert_ne!(
        a.mask(&json!({"fbc": "fb.1.1.F1"})),
        b.mask(&json!({"fbc": "fb.1.1.F2"}))
    );
    // Numbers compare exactly between engines; read-backs compare by value.
    let mut paths = Vec::new();
    differences(&json!({"n": 1}), &json!({"n": 1.0}), "", &mut paths);
    assert_eq!(paths, ["/n: embedded 1, dynamodb 1.0"]);
    assert!(same_value(&json!(1.0), &json!(1)));
    assert!(same_value(&json!(-0.0), &json!(0)));
    assert!(same_value(&json!(9.8e125), &json!(9.8e125)));
    assert!(!same_value(
        &json!(9_007_199_254_740_993u64),
        &json!(9_007_199_254_740_992.0)
    ));
    assert!(!same_value(&json!(9.8e125), &json!(9.799999999999999e125)));
    assert!(!same_value(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    assert!(same_value(
        &json!({"a": [1.0, {"b": u64::MAX}]}),
        &json!({"a": [1, {"b": u64::MAX}]})
    ));
}
