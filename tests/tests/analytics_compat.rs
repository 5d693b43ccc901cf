//! The analytics API's error answers against FastAPI's own: a differential test.
//!
//! The analytics API (`/api/v1/analytics…`) is a translation of a FastAPI service, whose
//! clients read its 401 and 422 bodies (`{"detail": [{"type", "loc", "msg", "input",
//! "ctx"}]}`). What FastAPI and pydantic v2 answer to a bad request is not written down
//! anywhere we could copy: `tests/reference/analytics_seed.py` is a FastAPI app with the seed's
//! models, and this suite sends every request of a table both to our server (`atrack serve`'s
//! router on a loopback port, on both engines) and to that app (one Python process for the
//! whole table, through FastAPI's `TestClient`), then requires:
//!
//! - for an error answer (4xx) from either side: the same status and the same JSON body,
//!   compared as text with the keys in the order each side wrote them (so `type`, `loc`, `msg`,
//!   `input`, `ctx` in FastAPI's order, and the errors of a body in pydantic's order);
//! - for a success (2xx): that both succeed (the reference's success bodies are placeholders);
//! - no 5xx from either, and every 401 of ours with `WWW-Authenticate: Bearer`.
//!
//! Our server wants a key it knows: the requests carry `Bearer <the project's public key>`,
//! which the reference (it accepts any Bearer token) takes as well.
//!
//! Every difference is collected and the test fails once, listing each request with both
//! answers. The differences we keep on purpose are not in that table: the `ours_…` tests assert
//! our side of each, exactly, with the reason (our event time window, our rule on event names,
//! what our JSON reader refuses: NaN, Infinity and numbers beyond a double, unpaired
//! surrogates, nesting deeper than 127 levels; our body limits, the Content-Type, unknown
//! routes and methods, our limits on `properties`).
//!
//! The reference needs `.tools/venv` (`bash infra/services.sh install`, which `infra/test.sh`
//! runs); without it the comparison fails saying so.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use atrack_tests::{Engine, PUBLIC_KEY, ServerOptions, TestServer, assert_error, on_both_engines};
use serde_json::{Value, json};

on_both_engines!(
    answers_as_the_reference_does,
    ours_refuses_times_outside_our_window,
    ours_refuses_blank_and_control_event_names,
    ours_refuses_nan_and_infinity_as_json_invalid,
    ours_refuses_unpaired_surrogates_as_json_invalid,
    ours_refuses_nesting_deeper_than_127_as_json_invalid,
    ours_limits_the_body_size_with_a_413,
    ours_reads_json_whatever_the_content_type,
    ours_answers_unknown_routes_and_methods_in_our_envelope,
    ours_limits_properties_with_a_value_error,
);

const TRACK: &str = "/api/v1/analytics";
const BATCH: &str = "/api/v1/analytics/batch";

/// How deep arrays and objects may nest in a body we read (serde_json's limit).
const MAX_DEPTH: usize = 127;

// ---------------------------------------------------------------------------------------------
// Requests

/// One request, sent as it is to both sides.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
}

impl Case {
    /// A POST with our public key as a Bearer token and a JSON content type.
    fn post(name: impl Into<String>, path: &'static str, body: impl Into<Vec<u8>>) -> Case {
        Case {
            name: name.into(),
            method: "POST",
            path,
            headers: vec![
                ("Authorization", format!("Bearer {PUBLIC_KEY}")),
                ("Content-Type", "application/json".into()),
            ],
            body: Some(body.into()),
        }
    }

    fn json(name: impl Into<String>, path: &'static str, body: &Value) -> Case {
        Case::post(name, path, serde_json::to_vec(body).expect("json"))
    }

    /// The same request with another `Authorization` (`None`: without one).
    fn authorization(mut self, value: Option<&str>) -> Case {
        self.headers.retain(|(name, _)| *name != "Authorization");
        if let Some(value) = value {
            self.headers.push(("Authorization", value.to_owned()));
        }
        self
    }

    fn content_type(mut self, value: Option<&str>) -> Case {
        self.headers.retain(|(name, _)| *name != "Content-Type");
        if let Some(value) = value {
            self.headers.push(("Content-Type", value.to_owned()));
        }
        self
    }

    fn without_body(mut self) -> Case {
        self.body = None;
        self
    }

    /// The case as `analytics_seed.py` reads one: a body that is not UTF-8 goes as base64.
    fn for_reference(&self) -> Value {
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(value)))
            .collect();
        let mut case = json!({"method": self.method, "path": self.path, "headers": headers});
        match &self.body {
            None => {}
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => case["body"] = json!(text),
                Err(_) => case["body_base64"] = json!(base64(bytes)),
            },
        }
        case
    }

    fn describe(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        let body = match &self.body {
            None => "(no body)".to_owned(),
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => format!("{:?}", shorten(text)),
                Err(_) => format!("bytes {bytes:?}"),
            },
        };
        format!(
            "{} {} [{}] {}",
            self.method,
            self.path,
            headers.join("; "),
            body
        )
    }
}

fn shorten(text: &str) -> String {
    const MAX: usize = 600;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head}… ({} characters)", text.chars().count())
    }
}

/// Standard base64 with padding, for `body_base64`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An answer from either side: the status and the body (parsed JSON, or the text when it is
/// not JSON, or null when empty).
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    body: Value,
    www_authenticate: Option<String>,
}

async fn send(server: &TestServer, case: &Case) -> Reply {
    let method = reqwest::Method::from_bytes(case.method.as_bytes()).expect("method");
    let mut request = server.http.request(method, server.url(case.path));
    for (name, value) in &case.headers {
        request = request.header(*name, value);
    }
    if let Some(body) = &case.body {
        request = request.body(body.clone());
    }
    let response = request.send().await.expect("request to our server");
    let status = response.status().as_u16();
    let www_authenticate = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("header text").to_owned());
    let bytes = response.bytes().await.expect("response body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        body,
        www_authenticate,
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// The reference's answers to `cases`, in order, from one run of `analytics_seed.py`.
async fn ask_reference(cases: &[Case]) -> Vec<Reply> {
    let root = workspace_root();
    let python = root.join(".tools/venv/bin/python");
    let script = root.join("tests/reference/analytics_seed.py");
    assert!(
        python.is_file(),
        "{} is missing: this test compares our answers with a FastAPI reference that runs in \
         the project's virtualenv. Run `bash infra/services.sh install` (infra/test.sh does), \
         which installs FastAPI, pydantic and httpx there.",
        python.display()
    );
    assert!(script.is_file(), "{} is missing", script.display());
    let input = serde_json::to_vec(&cases.iter().map(Case::for_reference).collect::<Vec<_>>())
        .expect("cases as JSON");
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        // -B: no __pycache__ written into the repository.
        let mut child = Command::new(&python)
            .arg("-B")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&input)
            .expect("write the cases to the reference");
        child.wait_with_output().expect("the reference ran")
    })
    .await
    .expect("the reference's thread");
    assert!(
        output.status.success(),
        "the reference failed ({}); is FastAPI installed (`bash infra/services.sh install`)?\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("the reference prints a JSON array");
    assert_eq!(answers.len(), cases.len(), "one answer per case");
    answers
        .into_iter()
        .map(|a| Reply {
            status: u16::try_from(a["status"].as_u64().expect("status")).expect("status"),
            body: a["body"].clone(),
            www_authenticate: None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The table

/// Time forms the reference and we both accept, all within the last day (our window is
/// 2000-01-01 to a day ahead; these are inside it).
fn valid_timestamps() -> Vec<(&'static str, Value)> {
    let now = time::OffsetDateTime::now_utc();
    let t = now - time::Duration::hours(1);
    let date = format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day());
    let clock = format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    let east = t.to_offset(time::macros::offset!(+02:00));
    let east = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+02:00",
        east.year(),
        u8::from(east.month()),
        east.day(),
        east.hour(),
        east.minute(),
        east.second()
    );
    let today = format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    );
    let seconds = t.unix_timestamp();
    let millis = seconds * 1000 + 123;
    vec![
        ("RFC 3339 with Z", json!(format!("{date}T{clock}Z"))),
        (
            "RFC 3339 with fractional seconds",
            json!(format!("{date}T{clock}.123456Z")),
        ),
        ("RFC 3339 with an offset", json!(east)),
        ("no zone", json!(format!("{date}T{clock}"))),
        ("date only (today)", json!(today)),
        ("space separator", json!(format!("{date} {clock}Z"))),
        ("lower-case t and z", json!(format!("{date}t{clock}z"))),
        ("unix seconds", json!(seconds)),
        ("unix seconds with a fraction", json!(seconds as f64 + 0.5)),
        ("unix milliseconds", json!(millis)),
        ("unix seconds as a string", json!(seconds.to_string())),
        ("unix milliseconds as a string", json!(millis.to_string())),
        ("null", Value::Null),
    ]
}

/// The event-level cases, each a name and an event object.
fn event_cases() -> Vec<(String, Value)> {
    let mut cases: Vec<(String, Value)> = Vec::new();
    let mut add = |name: &str, event: Value| cases.push((name.to_owned(), event));
    add("a plain event", json!({"event_name": "page_open"}));
    add(
        "every field, valid",
        json!({
            "event_name": "checkout", "category": "trading", "priority": "critical",
            "properties": {"plan": "pro", "n": 3, "nested": {"a": [1, 2.5, null, true]}},
            "session_id": "s-1", "page_url": "https://a.example/x", "referrer": "https://b.example/",
            "user_agent": "Mozilla/5.0", "timestamp": null
        }),
    );
    add(
        "missing event_name",
        json!({"category": "trading", "properties": {"a": 1}}),
    );
    add("event_name 123", json!({"event_name": 123}));
    add("event_name true", json!({"event_name": true}));
    add("event_name null", json!({"event_name": null}));
    add("event_name []", json!({"event_name": []}));
    add("event_name {}", json!({"event_name": {}}));
    add("event_name 1.5", json!({"event_name": 1.5}));
    add("event_name \"\"", json!({"event_name": ""}));
    add(
        "event_name of 100 chars",
        json!({"event_name": "a".repeat(100)}),
    );
    add(
        "event_name of 101 chars",
        json!({"event_name": "a".repeat(101)}),
    );
    add(
        "event_name of 100 emoji",
        json!({"event_name": "😀".repeat(100)}),
    );
    add(
        "event_name of 101 emoji",
        json!({"event_name": "😀".repeat(101)}),
    );
    add(
        "event_name of 99 chars and an emoji",
        json!({"event_name": format!("{}é", "a".repeat(99))}),
    );
    for category in [json!("nope"), json!(5), Value::Null, json!("PAGE_VIEW")] {
        add(
            &format!("category {category}"),
            json!({"event_name": "x", "category": category}),
        );
    }
    add(
        "category page_view",
        json!({"event_name": "x", "category": "page_view"}),
    );
    add(
        "priority \"urgent\"",
        json!({"event_name": "x", "priority": "urgent"}),
    );
    add("priority 1", json!({"event_name": "x", "priority": 1}));
    add(
        "priority low",
        json!({"event_name": "x", "priority": "low"}),
    );
    for properties in [json!("x"), json!([1]), Value::Null, json!(5)] {
        add(
            &format!("properties {properties}"),
            json!({"event_name": "x", "properties": properties}),
        );
    }
    add(
        "properties {}",
        json!({"event_name": "x", "properties": {}}),
    );
    for timestamp in [
        json!("not a date"),
        json!(""),
        json!("bad"),
        json!("2026-13-01T10:00:00Z"),
        json!("2026-02-30T10:00:00Z"),
        json!("2026-12-01T10:00:00+25:00"),
        json!(true),
        json!({}),
        json!([]),
        json!(1e20),
    ] {
        add(
            &format!("timestamp {timestamp}"),
            json!({"event_name": "x", "timestamp": timestamp}),
        );
    }
    for (form, timestamp) in valid_timestamps() {
        add(
            &format!("timestamp, {form}: {timestamp}"),
            json!({"event_name": "x", "timestamp": timestamp}),
        );
    }
    // A name of only white space, or with a control character, is one pydantic takes and we
    // do not: see `ours_refuses_blank_and_control_event_names`.
    add(
        "event_name with spaces around",
        json!({"event_name": " x "}),
    );
    add("session_id 5", json!({"event_name": "x", "session_id": 5}));
    add(
        "session_id null",
        json!({"event_name": "x", "session_id": null}),
    );
    for (field, value) in [
        ("page_url", json!(5)),
        ("page_url", json!(true)),
        ("referrer", json!([])),
        ("referrer", json!({})),
        ("user_agent", json!(1.5)),
        ("user_agent", json!(false)),
    ] {
        add(
            &format!("{field} {value}"),
            json!({"event_name": "x", field: value}),
        );
    }
    add(
        "several bad fields at once",
        json!({
            "user_agent": 1, "referrer": 2, "page_url": 3, "session_id": 4,
            "timestamp": "bad", "properties": [], "priority": "urgent", "category": "nope",
            "event_name": 5
        }),
    );
    add(
        "unknown extra fields",
        json!({"event_name": "x", "foo": 1, "bar": {"baz": [1, 2]}, "EVENT_NAME": 5}),
    );
    cases
}

/// More time forms, valid and not, on a fixed past date (inside our window when valid).
fn more_timestamps() -> Vec<Value> {
    let texts = [
        "2025-06-01T10:00",
        "2025-06-01T10",
        "2025-06-01T10:00:00.1234567Z",
        "2025-06-01T10:00:00,5Z",
        "2025-06-01T10:00:00+0200",
        "2025-06-01T10:00:00+02",
        "2025-06-01T10:00:00-00:00",
        "2025-06-01T10:00:00+23:59",
        "2025-06-01T10:00:00+24:00",
        "2025-06-01T24:00:00Z",
        "2025-06-01T25:00:00Z",
        "2025-06-01T10:60:00Z",
        "2025-06-01T10:00:60Z",
        "2025-02-29",
        "2025-02-29T10:00:00Z",
        "2024-02-29T10:00:00Z",
        "2025-00-01T10:00:00Z",
        "2025-06-00T10:00:00Z",
        "2025-06-31T10:00:00Z",
        "2025-6-1",
        " 2025-06-01T10:00:00Z",
        "2025-06-01T10:00:00Z ",
        "2025-06-01T10:00:00ZZ",
        "2025-06-01X10:00:00Z",
        "abcd-06-01T10:00:00Z",
        "1750000000.5",
        "1.75e9",
        " 1750000000",
        "+1750000000",
        "1750000000000000",
        "NaN",
        "inf",
        "0x10",
    ];
    let mut values: Vec<Value> = texts.iter().map(|t| json!(t)).collect();
    values.extend([json!(1e16), json!(-1e20), json!(1_750_000_000.5)]);
    values
}

/// A valid event of about 40 KB (five 8000-character properties) that is a valid batch too.
fn forty_kb_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event_name": "x",
        "properties": (0..5)
            .map(|i| (format!("k{i}"), json!("x".repeat(8000))))
            .collect::<serde_json::Map<_, _>>(),
        "events": [{"event_name": "x"}],
    }))
    .expect("json")
}

fn table() -> Vec<Case> {
    let mut cases = Vec::new();
    for timestamp in more_timestamps() {
        cases.push(Case::json(
            format!("single: timestamp {timestamp}"),
            TRACK,
            &json!({"event_name": "x", "timestamp": timestamp}),
        ));
    }
    let ok = json!({"event_name": "ok"});

    // Every event case on the single route, and as a batch item at index 0, 2 and 99.
    for (name, event) in event_cases() {
        cases.push(Case::json(format!("single: {name}"), TRACK, &event));
        cases.push(Case::json(
            format!("batch, item 0 of 1: {name}"),
            BATCH,
            &json!({"events": [event]}),
        ));
        cases.push(Case::json(
            format!("batch, item 2 of 4: {name}"),
            BATCH,
            &json!({"events": [ok, ok, event, ok]}),
        ));
    }
    for (name, event) in [
        ("missing event_name", json!({"priority": "high"})),
        ("event_name 123", json!({"event_name": 123})),
        (
            "timestamp \"bad\"",
            json!({"event_name": "x", "timestamp": "bad"}),
        ),
    ] {
        let mut events = vec![ok.clone(); 100];
        events[99] = event;
        cases.push(Case::json(
            format!("batch, item 99 of 100: {name}"),
            BATCH,
            &json!({"events": events}),
        ));
    }

    // The batch's own fields.
    let mut one_bad_of_101 = vec![ok.clone(); 101];
    one_bad_of_101[3] = json!({"event_name": 5});
    let batches = [
        ("events missing", json!({})),
        ("events missing, client_id given", json!({"client_id": "c"})),
        ("events \"x\"", json!({"events": "x"})),
        ("events {}", json!({"events": {}})),
        ("events null", json!({"events": null})),
        ("events 5", json!({"events": 5})),
        ("events []", json!({"events": []})),
        (
            "events [] with client_id 5",
            json!({"events": [], "client_id": 5}),
        ),
        ("events [5]", json!({"events": [5]})),
        ("events [null]", json!({"events": [null]})),
        ("events [\"x\", ok, []]", json!({"events": ["x", ok, []]})),
        ("100 events", json!({"events": vec![ok.clone(); 100]})),
        ("101 events", json!({"events": vec![ok.clone(); 101]})),
        (
            "101 events, one of them bad",
            json!({"events": one_bad_of_101}),
        ),
        ("client_id 5", json!({"events": [ok], "client_id": 5})),
        ("client_id []", json!({"events": [ok], "client_id": []})),
        ("client_id null", json!({"events": [ok], "client_id": null})),
        (
            "client_id \"c-1\"",
            json!({"events": [ok], "client_id": "c-1"}),
        ),
        (
            "a bad item and client_id 5 (order)",
            json!({"client_id": 5, "events": [ok, {"event_name": 5}]}),
        ),
        (
            "bad items at 1 and 3",
            json!({"events": [ok, {"event_name": ""}, ok, {"category": "nope"}]}),
        ),
        (
            "one item with several bad fields",
            json!({"events": [{"event_name": [], "priority": 7, "properties": "p", "timestamp": {}}]}),
        ),
        (
            "unknown extra fields",
            json!({"events": [ok], "extra": true, "batch_id": 7}),
        ),
    ];
    for (name, body) in batches {
        cases.push(Case::json(format!("batch: {name}"), BATCH, &body));
    }

    // Bodies that are not JSON, not an object, or absent; on both routes.
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("truncated after a key", br#"{"event_name":"#.to_vec()),
        ("an open brace", b"{".to_vec()),
        ("no colon", br#"{"a" 1}"#.to_vec()),
        ("no closing brace", br#"{"a":1"#.to_vec()),
        ("leading zero", br#"{"a":01}"#.to_vec()),
        ("trailing comma in an array", b"[1,]".to_vec()),
        (
            "trailing comma in an object",
            br#"{"event_name":"x",}"#.to_vec(),
        ),
        ("unterminated string", br#""abc"#.to_vec()),
        ("bad escape", br#""\x""#.to_vec()),
        ("short unicode escape", br#""\u12""#.to_vec()),
        (
            "raw newline in a string",
            b"{\"event_name\":\"a\nb\"}".to_vec(),
        ),
        ("raw tab in a string", b"{\"event_name\":\"a\tb\"}".to_vec()),
        ("two values", b"1 2".to_vec()),
        ("trailing data", br#"{"event_name":"x"} x"#.to_vec()),
        ("trailing object", br#"{"event_name":"x"}{}"#.to_vec()),
        (
            "multi-byte text before the error",
            r#"{"event_name":"ééé","#.as_bytes().to_vec(),
        ),
        (
            "emoji before the error",
            r#"{"event_name":"😀😀", "x": }"#.as_bytes().to_vec(),
        ),
        ("single quotes", b"{'event_name': 'x'}".to_vec()),
        ("a bare word", b"hello".to_vec()),
        ("empty body", Vec::new()),
        ("whitespace only", b"  \n\t ".to_vec()),
        ("[]", b"[]".to_vec()),
        ("[{}]", b"[{}]".to_vec()),
        ("5", b"5".to_vec()),
        ("\"x\"", br#""x""#.to_vec()),
        ("null", b"null".to_vec()),
        ("true", b"true".to_vec()),
        ("invalid UTF-8", b"{\"event_name\":\"\xff\xfe\"}".to_vec()),
        (
            "a UTF-8 byte order mark before valid JSON",
            "\u{feff}{\"event_name\":\"x\",\"events\":[{\"event_name\":\"x\"}]}"
                .as_bytes()
                .to_vec(),
        ),
        (
            "a UTF-8 byte order mark before bad JSON",
            "\u{feff}{\"a\" 1}".as_bytes().to_vec(),
        ),
        // A lone surrogate escape is one Python reads and we refuse: see
        // `ours_refuses_unpaired_surrogates_as_json_invalid`. A paired one is text to both.
        (
            "a surrogate pair escape in a property",
            br#"{"event_name":"x","properties":{"v":"\ud83d\ude00"},"events":[{"event_name":"x","properties":{"v":"\ud83d\ude00"}}]}"#.to_vec(),
        ),
        (
            "a duplicate key, the last one valid",
            br#"{"event_name":5,"event_name":"x","events":5,"events":[{"event_name":"x"}]}"#.to_vec(),
        ),
        (
            // 127 levels with the body's own object: the deepest we read (deeper is
            // `ours_refuses_nesting_deeper_than_127_as_json_invalid`). Not the body itself at
            // that depth: the reference's answer would echo it, deeper than our client reads.
            "a field of 126 nested arrays",
            format!(
                r#"{{"event_name":5,"events":5,"deep":{}{}}}"#,
                "[".repeat(126),
                "]".repeat(126)
            )
            .into_bytes(),
        ),
    ];
    for (name, body) in bodies {
        for path in [TRACK, BATCH] {
            cases.push(Case::post(format!("{path}: {name}"), path, body.clone()));
        }
    }
    // Within the batch route's body limit (past the single route's 32 KB, which
    // `ours_limits_the_body_size_with_a_413` covers).
    cases.push(Case::post(
        format!("{BATCH}: a 40 KB body"),
        BATCH,
        forty_kb_body(),
    ));
    for path in [TRACK, BATCH] {
        cases.push(Case::post(format!("{path}: no body at all"), path, Vec::new()).without_body());
    }

    // Authorization, and what comes first when both it and the body are wrong.
    let valid_single = json!({"event_name": "x"});
    let valid_batch = json!({"events": [{"event_name": "x"}]});
    for (path, valid) in [(TRACK, &valid_single), (BATCH, &valid_batch)] {
        let lower = format!("bearer {PUBLIC_KEY}");
        for (name, authorization) in [
            ("no Authorization", None),
            ("Basic abc", Some("Basic abc")),
            ("Bearer without a token", Some("Bearer")),
            ("Bearer and a space, no token", Some("Bearer ")),
            ("an empty Authorization", Some("")),
            ("a token without a scheme", Some(PUBLIC_KEY)),
            ("lower-case bearer", Some(lower.as_str())),
        ] {
            cases.push(
                Case::json(format!("{path}: {name}"), path, valid).authorization(authorization),
            );
        }
        let unauthenticated: [(&str, Vec<u8>); 5] = [
            (
                "an invalid body",
                br#"{"event_name": 5, "events": 5}"#.to_vec(),
            ),
            ("malformed JSON", b"{".to_vec()),
            ("an empty body", Vec::new()),
            ("a body that is not an object", b"[]".to_vec()),
            ("invalid UTF-8", b"\xff".to_vec()),
        ];
        for (name, body) in unauthenticated {
            cases.push(
                Case::post(format!("{path}: no Authorization and {name}"), path, body)
                    .authorization(None),
            );
        }
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// The tests

/// The canonical text of an answer's body: the keys in the order the side wrote them.
fn text(body: &Value) -> String {
    serde_json::to_string(body).expect("json")
}

async fn answers_as_the_reference_does(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let cases = table();
    let reference = ask_reference(&cases).await;
    let mut differences = Vec::new();
    let (mut compared_errors, mut successes) = (0, 0);
    for (case, theirs) in cases.iter().zip(&reference) {
        let ours = send(&server, case).await;
        let mut problems = Vec::new();
        if ours.status >= 500 || theirs.status >= 500 {
            problems.push("a server error".to_owned());
        }
        let error = (400..500).contains(&ours.status) || (400..500).contains(&theirs.status);
        let both_succeed = (200..300).contains(&ours.status) && (200..300).contains(&theirs.status);
        if error {
            compared_errors += 1;
            if ours.status != theirs.status {
                problems.push("status".to_owned());
            }
            if text(&ours.body) != text(&theirs.body) {
                problems.push("body".to_owned());
            }
        } else if both_succeed {
            successes += 1;
        } else {
            problems.push("not both successes".to_owned());
        }
        if ours.status == 401 && ours.www_authenticate.as_deref() != Some("Bearer") {
            problems.push(format!(
                "our 401 has WWW-Authenticate {:?}, not \"Bearer\"",
                ours.www_authenticate
            ));
        }
        if !problems.is_empty() {
            differences.push(format!(
                "- {} ({})\n    request:   {}\n    ours:      {} {}\n    reference: {} {}",
                case.name,
                problems.join(", "),
                case.describe(),
                ours.status,
                shorten(&text(&ours.body)),
                theirs.status,
                shorten(&text(&theirs.body)),
            ));
        }
    }
    // The table must exercise both kinds of answer, or it compares nothing.
    assert!(
        compared_errors > 200 && successes > 50,
        "only {compared_errors} error answers and {successes} successes compared"
    );
    assert!(
        differences.is_empty(),
        "{} of {} requests answered differently from FastAPI's:\n{}",
        differences.len(),
        cases.len(),
        differences.join("\n")
    );
}

/// The one pydantic-style error we expect from one of our own rules.
fn assert_value_error(reply: &Reply, loc: Value, input: &Value, why: &str) {
    assert_eq!(
        text(&reply.body),
        text(&json!({"detail": [{
            "type": "value_error",
            "loc": loc,
            "msg": format!("Value error, {why}"),
            "input": input,
            "ctx": {"error": why},
        }]})),
        "status {}",
        reply.status
    );
    assert_eq!(reply.status, 422);
}

fn json_invalid(position: usize, why: &str) -> Value {
    json!({"detail": [{
        "type": "json_invalid",
        "loc": ["body", position],
        "msg": "JSON decode error",
        "input": {},
        "ctx": {"error": why},
    }]})
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Our event time window: not before 2000, not more than 24 h ahead (a documented rule of ours
/// against clock garbage). pydantic has no such rule, so the reference accepts all of these;
/// we answer a pydantic `value_error` on `timestamp`, on both routes.
async fn ours_refuses_times_outside_our_window(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let ahead = time::OffsetDateTime::now_utc() + time::Duration::hours(48);
    let ahead_seconds = ahead.unix_timestamp();
    let before = "must not be before 2000-01-01";
    let after = "must not be more than 24 hours in the future";
    for (timestamp, why) in [
        (json!("1999-12-31T23:59:59Z"), before),
        (json!("1970-01-01"), before),
        (json!(0), before),
        (json!("946684799"), before),
        // Digits alone are seconds since the epoch, for pydantic as for us: 1970-08-23.
        (json!("20250601"), before),
        (json!(rfc3339(ahead)), after),
        (json!(ahead_seconds), after),
        (json!((ahead_seconds * 1000).to_string()), after),
    ] {
        let why = format!("timestamp {why}");
        let single = json!({"event_name": "x", "timestamp": timestamp});
        let reply = send(&server, &Case::json("", TRACK, &single)).await;
        assert_value_error(&reply, json!(["body", "timestamp"]), &timestamp, &why);
        let batch = json!({"events": [{"event_name": "x"}, single]});
        let reply = send(&server, &Case::json("", BATCH, &batch)).await;
        assert_value_error(
            &reply,
            json!(["body", "events", 1, "timestamp"]),
            &timestamp,
            &why,
        );
    }
    // Its edges are inside.
    let edge = time::OffsetDateTime::now_utc() + time::Duration::hours(23);
    for timestamp in [
        json!("2000-01-01T00:00:00Z"),
        json!(946_684_800),
        json!(rfc3339(edge)),
    ] {
        let event = json!({"event_name": "x", "timestamp": timestamp});
        let reply = send(&server, &Case::json("", TRACK, &event)).await;
        assert_eq!(reply.status, 200, "{timestamp}: {}", text(&reply.body));
    }
}

/// NaN and Infinity: Python's `json` module reads them, so the reference takes them (a 200
/// when they land in `properties`, a 500 when in `timestamp`); it reads a number beyond a
/// double (1e400) as Infinity too. None of them is JSON, and none can be stored or sent back
/// as JSON: we answer `json_invalid` where the first such value starts (the `-` of
/// `-Infinity`), in the words Python's `json.dumps` uses for them.
async fn ours_refuses_nan_and_infinity_as_json_invalid(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let mut wrong = Vec::new();
    for (body, at) in [
        (r#"{"event_name":"x","properties":{"v":NaN}}"#, 36),
        (r#"{"event_name":"x","properties":{"v":Infinity}}"#, 36),
        (r#"{"event_name":"x","properties":{"v":-Infinity}}"#, 36),
        (r#"{"event_name":"x","properties":{"v":[1,NaN]}}"#, 39),
        (r#"{"event_name":"x","timestamp":NaN}"#, 30),
        (r#"{"event_name":"x","timestamp":-Infinity}"#, 30),
        // An N or an I before the value, in a string, is not where the value starts.
        (r#"{"event_name":"Nina","timestamp":NaN}"#, 33),
        // A number beyond a double is Infinity to Python, as to the reference.
        (r#"{"event_name":"x","properties":{"v":1e400}}"#, 36),
        (r#"{"event_name":"x","properties":{"v":-1e400}}"#, 36),
        (r#"{"event_name":"x","timestamp":1e400}"#, 30),
        // The first of several, wherever it is.
        (
            r#"{"events":[{"event_name":"x","properties":{"v":Infinity,"w":NaN}}]}"#,
            47,
        ),
    ] {
        for path in [TRACK, BATCH] {
            let expected = json_invalid(at, "Out of range float values are not JSON compliant");
            let reply = send(&server, &Case::post("", path, body)).await;
            if reply.status != 422 || text(&reply.body) != text(&expected) {
                wrong.push(format!(
                    "{path} {body}: {} {}, not 422 {}",
                    reply.status,
                    text(&reply.body),
                    text(&expected)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The character position of the `n`th (from 1) `{` or `[` of `body` outside its strings.
fn opening_bracket(body: &str, n: usize) -> usize {
    let (mut seen, mut in_string, mut escaped) = (0, false, false);
    for (at, c) in body.chars().enumerate() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if matches!(c, '{' | '[') {
            seen += 1;
            if seen == n {
                return at;
            }
        }
    }
    panic!("{body} has fewer than {n} opening brackets")
}

/// The character position of the first `marker` in `body`.
fn char_position(body: &str, marker: &str) -> usize {
    let byte = body.find(marker).expect("the marker is in the body");
    body[..byte].chars().count()
}

/// Our event name rule (`EventName`, the same on every route that takes an event): a name of
/// only white space is empty, and a control character has no place in a name shown in
/// reports. The seed's `event_name: str = Field(..., min_length=1, max_length=100)` takes
/// both, so the reference answers 200; we answer a pydantic `value_error` on `event_name`,
/// echoing it.
async fn ours_refuses_blank_and_control_event_names(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let empty = "event_name must not be empty";
    let control = "event_name must not contain control characters";
    for (name, why) in [
        (" ", empty),
        ("   ", empty),
        ("\t", empty),
        (" \n ", empty),
        ("\u{a0}\u{3000}", empty),
        ("a\u{1}b", control),
        ("a\u{7f}b", control),
        ("a\u{85}b", control),
        ("x\n", control),
    ] {
        let event = json!({"event_name": name});
        let reply = send(&server, &Case::json("", TRACK, &event)).await;
        assert_value_error(&reply, json!(["body", "event_name"]), &json!(name), why);
        let ok = json!({"event_name": "ok"});
        for (events, at) in [(json!([event]), 0), (json!([ok, ok, event, ok]), 2)] {
            let reply = send(&server, &Case::json("", BATCH, &json!({"events": events}))).await;
            assert_value_error(
                &reply,
                json!(["body", "events", at, "event_name"]),
                &json!(name),
                why,
            );
        }
    }
}

/// Unpaired UTF-16 surrogates (`\ud800` alone, a low one first as in `\udc00\ud800`, a high
/// one followed by anything but a low one): Python's `json` reads them into its strings, so
/// the reference takes them. They are not text: a Rust string (UTF-8) cannot hold them, nor
/// can we store or send them back. We answer `json_invalid` at the backslash of the first
/// unpaired escape, wherever it is in the body (a name, a key, a field we ignore).
async fn ours_refuses_unpaired_surrogates_as_json_invalid(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let mut wrong = Vec::new();
    // Each body and the escape the answer must point at.
    for (body, marker) in [
        (
            r#"{"event_name":"x","properties":{"v":"\ud800"}}"#,
            r"\ud800",
        ),
        (
            r#"{"event_name":"x","properties":{"v":"\udc00\ud800"}}"#,
            r"\udc00",
        ),
        (
            r#"{"event_name":"x","properties":{"v":"\ud800\u0041"}}"#,
            r"\ud800",
        ),
        (
            r#"{"event_name":"x","properties":{"v":"\ud800\ud800\udc00"}}"#,
            r"\ud800",
        ),
        // After a pair, which is text, the lone one.
        (
            r#"{"event_name":"x","properties":{"v":"\ud83d\ude00\ud800"}}"#,
            r#"\ud800""#,
        ),
        (r#"{"event_name":"a\udfff"}"#, r"\udfff"),
        (r#"{"event_name":"x","properties":{"\ud800":1}}"#, r"\ud800"),
        (r#"{"event_name":"x","note":"\udc00"}"#, r"\udc00"),
        (
            r#"{"events":[{"event_name":"x","properties":{"v":["\ud800"]}}]}"#,
            r"\ud800",
        ),
        (
            r#"{"events":[{"event_name":"x"}],"client_id":"\ud800"}"#,
            r"\ud800",
        ),
        // Its position counts characters, as Python's does.
        (
            r#"{"event_name":"é😀","properties":{"v":"\ud800"}}"#,
            r"\ud800",
        ),
    ] {
        let expected = json_invalid(char_position(body, marker), "Unpaired surrogate");
        for path in [TRACK, BATCH] {
            let reply = send(&server, &Case::post("", path, body)).await;
            if reply.status != 422 || text(&reply.body) != text(&expected) {
                wrong.push(format!(
                    "{path} {body}: {} {}, not 422 {}",
                    reply.status,
                    text(&reply.body),
                    text(&expected)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Nesting deeper than 127 levels (the body's own object or array counts): serde_json's limit,
/// which keeps a hostile body from exhausting the stack. Python's `json` reads far deeper, so
/// the reference answers as if the depth were nothing (it validates the fields, or takes the
/// body). We answer `json_invalid` at the 128th opening bracket, wherever it is: in
/// `properties` (where our `properties` rule would otherwise answer a `value_error`), in a
/// field we ignore, in the batch's events, or the body itself.
async fn ours_refuses_nesting_deeper_than_127_as_json_invalid(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let nested =
        |open: &str, close: &str, n: usize| format!("{}1{}", open.repeat(n), close.repeat(n));
    let bodies = [
        // The table's case before it was moved: a field of 200 nested arrays.
        format!(
            r#"{{"event_name":5,"events":5,"deep":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        ),
        // properties 200 deep.
        format!(
            r#"{{"event_name":"x","properties":{}}}"#,
            nested(r#"{"a":"#, "}", 200)
        ),
        format!(
            r#"{{"events":[{{"event_name":"x","properties":{}}}]}}"#,
            nested(r#"{"a":"#, "}", 200)
        ),
        // One level past the limit: 128 in all.
        format!(
            r#"{{"event_name":"x","properties":{}}}"#,
            nested(r#"{"a":"#, "}", MAX_DEPTH)
        ),
        format!(
            r#"{{"events":[{{"event_name":"x","properties":{{"v":{}}}}}]}}"#,
            nested("[", "]", MAX_DEPTH - 3)
        ),
        // The body itself, and a bracket in a string, which does not count.
        nested("[", "]", 200),
        format!(
            r#"{{"event_name":"[[{{","x":{}}}"#,
            nested("[", "]", MAX_DEPTH)
        ),
    ];
    let mut wrong = Vec::new();
    for body in &bodies {
        let expected = json_invalid(opening_bracket(body, MAX_DEPTH + 1), "Nesting too deep");
        for path in [TRACK, BATCH] {
            let reply = send(&server, &Case::post("", path, body.as_str())).await;
            if reply.status != 422 || text(&reply.body) != text(&expected) {
                wrong.push(format!(
                    "{path} {}: {} {}, not 422 {}",
                    shorten(body),
                    reply.status,
                    text(&reply.body),
                    text(&expected)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Our body limits: 32 KB on the single route (`ATRACK_MAX_BODY_BYTES`'s default), 512 KB on
/// the batch route. The seed has none (FastAPI reads any body), so the reference takes a
/// 40 KB event; we answer 413 in FastAPI's shape and never hold more than the limit in memory,
/// so that a client cannot make us buffer what it likes. The limits count bytes, whitespace
/// included.
async fn ours_limits_the_body_size_with_a_413(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    // A valid body of exactly `size` bytes: `json`, padded with spaces.
    let padded = |json: &str, size: usize| format!("{json}{}", " ".repeat(size - json.len()));
    let single = r#"{"event_name":"x"}"#;
    let batch = r#"{"events":[{"event_name":"x"}]}"#;
    for (path, body, limit) in [
        (TRACK, forty_kb_body(), 32 * 1024),
        (TRACK, padded(single, 32 * 1024 + 1).into_bytes(), 32 * 1024),
        (
            BATCH,
            padded(batch, 512 * 1024 + 1).into_bytes(),
            512 * 1024,
        ),
    ] {
        let reply = send(&server, &Case::post("", path, body.clone())).await;
        assert_eq!(
            (reply.status, text(&reply.body)),
            (
                413,
                text(&json!({"detail": format!("request body is larger than {limit} bytes")}))
            ),
            "{path}, {} bytes",
            body.len()
        );
    }
    // At the limit, in.
    for (path, body) in [
        (TRACK, padded(single, 32 * 1024)),
        (BATCH, padded(batch, 512 * 1024)),
    ] {
        let reply = send(&server, &Case::post("", path, body.clone())).await;
        assert_eq!(
            reply.status,
            200,
            "{path}, {} bytes: {}",
            body.len(),
            text(&reply.body)
        );
    }
}

/// The Content-Type: FastAPI reads a body as JSON only when its Content-Type says JSON (the
/// reference answers a text/plain or unlabelled body with `model_attributes_type` and the
/// text as `input`). We read JSON whatever it says, as our other routes do, for
/// `navigator.sendBeacon`, which cannot set the header.
async fn ours_reads_json_whatever_the_content_type(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    for content_type in [
        Some("text/plain;charset=UTF-8"),
        None,
        Some("application/x-www-form-urlencoded"),
    ] {
        let event = json!({"event_name": "beacon"});
        let reply = send(
            &server,
            &Case::json("", TRACK, &event).content_type(content_type),
        )
        .await;
        assert_eq!(reply.status, 200, "{content_type:?}: {}", text(&reply.body));
        let batch = json!({"events": [event]});
        let reply = send(
            &server,
            &Case::json("", BATCH, &batch).content_type(content_type),
        )
        .await;
        assert_eq!(reply.status, 200, "{content_type:?}: {}", text(&reply.body));
        // And its errors are the JSON content type's.
        let reply = send(
            &server,
            &Case::post("", TRACK, "{").content_type(content_type),
        )
        .await;
        assert_eq!(reply.status, 422);
        assert_eq!(
            text(&reply.body),
            text(&json_invalid(
                1,
                "Expecting property name enclosed in double quotes"
            )),
            "{content_type:?}"
        );
        let bad = json!({"event_name": 5});
        let reply = send(
            &server,
            &Case::json("", TRACK, &bad).content_type(content_type),
        )
        .await;
        assert_eq!(reply.status, 422, "{content_type:?}");
        assert_eq!(
            text(&reply.body),
            text(&json!({"detail": [{
                "type": "string_type", "loc": ["body", "event_name"],
                "msg": "Input should be a valid string", "input": 5,
            }]}))
        );
    }
}

/// A method a route does not take, and paths that are no route: our envelope, as on every
/// other path of the server (FastAPI answers `{"detail": "Method Not Allowed"}`,
/// `{"detail": "Not Found"}`, and a 307 to the path without its trailing slash).
async fn ours_answers_unknown_routes_and_methods_in_our_envelope(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    for path in [TRACK, BATCH] {
        let reply = server.http.get(server.url(path)).send().await.expect("GET");
        assert_error(
            &atrack_tests::answer(reply).await,
            405,
            "method_not_allowed",
        );
    }
    for path in [
        "/api/v1/analytics/nope",
        "/api/v1/analytics/",
        "/api/v2/analytics",
    ] {
        let reply = server
            .http
            .post(server.url(path))
            .header("authorization", format!("Bearer {PUBLIC_KEY}"))
            .header("content-type", "application/json")
            .body(r#"{"event_name":"x"}"#)
            .send()
            .await
            .expect("POST");
        assert_error(&atrack_tests::answer(reply).await, 404, "not_found");
    }
}

/// Our limits on what an event carries, which the seed's `dict[str, Any]` does not have (the
/// reference takes all of these): they keep every event storable on both engines. Each is
/// answered as a pydantic validator's `value_error` on `properties`, echoing it.
async fn ours_limits_properties_with_a_value_error(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let many: serde_json::Map<String, Value> =
        (0..201).map(|i| (format!("k{i}"), json!(i))).collect();
    let mut deep = json!(1);
    for _ in 0..8 {
        deep = json!({"d": deep});
    }
    let cases = [
        (
            Value::Object(many),
            "properties must have at most 200 keys".to_owned(),
        ),
        (
            json!({"deep": deep}),
            format!(
                "properties.deep{} values may be nested at most 8 deep",
                ".d".repeat(7)
            ),
        ),
        (
            json!({"long": "x".repeat(8 * 1024 + 1)}),
            "properties.long strings must be at most 8192 bytes".to_owned(),
        ),
        (
            json!({"huge": 1e200}),
            "properties.huge number is out of the storable range (magnitude 1e-130 to 9.9e125)"
                .to_owned(),
        ),
    ];
    for (properties, why) in cases {
        let single = json!({"event_name": "x", "properties": properties});
        let reply = send(&server, &Case::json("", TRACK, &single)).await;
        assert_value_error(&reply, json!(["body", "properties"]), &properties, &why);
        let batch = json!({"events": [{"event_name": "x"}, single]});
        let reply = send(&server, &Case::json("", BATCH, &batch)).await;
        assert_value_error(
            &reply,
            json!(["body", "events", 1, "properties"]),
            &properties,
            &why,
        );
    }
    // One level less deep, 200 keys and 8 KB strings are in.
    let mut deep = json!(1);
    for _ in 0..7 {
        deep = json!({"d": deep});
    }
    let many: serde_json::Map<String, Value> =
        (0..200).map(|i| (format!("k{i}"), json!(i))).collect();
    for properties in [
        json!({"deep": deep}),
        Value::Object(many),
        json!({"long": "x".repeat(8 * 1024)}),
    ] {
        let event = json!({"event_name": "x", "properties": properties});
        let reply = send(&server, &Case::json("", TRACK, &event)).await;
        assert_eq!(reply.status, 200, "{}", shorten(&text(&reply.body)));
    }

    // As deep as our JSON reader goes (127 levels, the body's own object and, on the batch
    // route, its `events` included): the same rule, said the same way. One level deeper is
    // `ours_refuses_nesting_deeper_than_127_as_json_invalid`.
    let mut wrong = Vec::new();
    for (path, around) in [(TRACK, 1), (BATCH, 3)] {
        let mut properties = json!(1);
        for _ in 0..MAX_DEPTH - around {
            properties = json!({"a": properties});
        }
        let event = json!({"event_name": "x", "properties": properties});
        let (body, loc) = if path == BATCH {
            (
                json!({"events": [event]}),
                json!(["body", "events", 0, "properties"]),
            )
        } else {
            (event, json!(["body", "properties"]))
        };
        let why = format!(
            "properties{} values may be nested at most 8 deep",
            ".a".repeat(8)
        );
        let expected = text(&json!({"detail": [{
            "type": "value_error",
            "loc": loc,
            "msg": format!("Value error, {why}"),
            "input": properties,
            "ctx": {"error": why},
        }]}));
        let reply = send(&server, &Case::json("", path, &body)).await;
        // The answer echoes `properties`, deeper than our client reads back: compare its text.
        let said = match &reply.body {
            Value::String(raw) => raw.clone(),
            other => text(other),
        };
        if reply.status != 422 || said != expected {
            wrong.push(format!(
                "{path}: properties {} deep: {} {}, not 422 {}",
                MAX_DEPTH - around,
                reply.status,
                shorten(&said),
                shorten(&expected)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
