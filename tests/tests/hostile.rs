//! The hostile-input battery: hundreds of malformed or hostile requests against every endpoint
//! on both engines. Every rejected request must get a 4xx JSON envelope and change nothing
//! stored; hostile-looking but valid data (names with `.`, `#`, `$`, `:`, injection strings)
//! must be stored and read back exactly; the server must still be answering at the end.

use atrack_tests::{Engine, SECRET_KEY, ServerOptions, TestServer, on_both_engines};
use reqwest::Method;
use serde_json::{Value, json};

on_both_engines!(hostile_requests_are_refused_and_change_nothing);

const ENDPOINTS: [&str; 5] = [
    "/init",
    "/attributes",
    "/event",
    "/session/show",
    "/event/show",
];

/// Bodies no endpoint may accept, whatever else they carry.
fn malformed_bodies() -> Vec<(String, Vec<u8>)> {
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), vec![]),
        ("spaces".into(), b"   ".to_vec()),
        ("truncated".into(), b"{\"uuid\": \"".to_vec()),
        ("trailing garbage".into(), b"{} {}".to_vec()),
        ("array".into(), b"[]".to_vec()),
        ("number".into(), b"42".to_vec()),
        ("string".into(), b"\"hello\"".to_vec()),
        ("null".into(), b"null".to_vec()),
        ("true".into(), b"true".to_vec()),
        ("single quotes".into(), b"{'uuid': 'x'}".to_vec()),
        (
            "invalid UTF-8".into(),
            b"{\"event\": \"\xc3\x28\"}".to_vec(),
        ),
        (
            "lone surrogate escape".into(),
            b"{\"event\": \"\\ud800\"}".to_vec(),
        ),
        ("raw NUL byte".into(), b"{\"event\": \"a\x00b\"}".to_vec()),
        ("1e400".into(), b"{\"page\": 1e400}".to_vec()),
        (
            "-1e400".into(),
            b"{\"attributes\": {\"n\": -1e400}}".to_vec(),
        ),
        ("100k-deep array".into(), deep_array.into_bytes()),
        ("100k-deep object".into(), deep_object.into_bytes()),
        (
            "2 MB string".into(),
            format!("{{\"event\": \"{}\"}}", "x".repeat(2 << 20)).into_bytes(),
        ),
        (
            "UTF-16".into(),
            "{\"a\":1}"
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes())
                .collect(),
        ),
        ("BOM then JSON".into(), b"\xef\xbb\xbf{}".to_vec()),
        ("form body".into(), b"uuid=1&event=x".to_vec()),
        ("XML".into(), b"<event><uuid>1</uuid></event>".to_vec()),
        ("comment".into(), b"{/* x */}".to_vec()),
        ("NaN".into(), b"{\"page\": NaN}".to_vec()),
        ("Infinity".into(), b"{\"page\": Infinity}".to_vec()),
    ];
    // Control bytes that JSON forbids unescaped inside strings.
    for byte in [0x01u8, 0x08, 0x0b, 0x1f] {
        let mut body = b"{\"event\": \"a".to_vec();
        body.push(byte);
        body.extend_from_slice(b"\"}");
        cases.push((format!("control byte {byte:#04x}"), body));
    }
    cases
}

/// Well-formed JSON with fields of the wrong type or value, per endpoint.
fn invalid_fields(uuid: &str) -> Vec<(&'static str, Value)> {
    // Values of the wrong type (or an invalid value) for each kind of field.
    let not_string = [json!(1), json!(true), json!([]), json!({}), json!(-1.5)];
    let not_object = [json!(1), json!(true), json!([]), json!("s"), json!(-1.5)];
    let not_bool = [json!(1), json!("true"), json!([]), json!({}), json!(-1.5)];
    let not_page = [
        json!("x"),
        json!(true),
        json!([]),
        json!({}),
        json!(-1.5),
        json!(0),
    ];
    let mut cases = Vec::new();
    for w in not_string.iter().chain([&json!("")]) {
        cases.push(("/init", json!({"uuid": w})));
        cases.push(("/attributes", json!({"uuid": w, "attributes": {"a": 1}})));
        cases.push(("/event", json!({"uuid": w, "event": "x"})));
        cases.push(("/event", json!({"uuid": uuid, "event": w})));
        cases.push((
            "/event",
            json!({"uuid": uuid, "event": "x", "timestamp": w}),
        ));
        cases.push(("/session/show", json!({"uuid": w})));
        cases.push(("/event/show", json!({"name": w})));
        cases.push((
            "/init",
            json!({"context": {"client": {"screenWidth": "wide", "userAgent": w}}}),
        ));
    }
    for w in &not_string {
        cases.push(("/init", json!({"context": {"url": {"href": w}}})));
        cases.push(("/init", json!({"context": {"client": {"ipAddress": w}}})));
    }
    for w in &not_object {
        cases.push(("/init", json!({"context": w})));
        cases.push(("/init", json!({"context": {"url": w}})));
        cases.push(("/init", json!({"custom_data": w})));
        cases.push(("/attributes", json!({"uuid": uuid, "attributes": w})));
        cases.push((
            "/event",
            json!({"uuid": uuid, "event": "x", "attributes": w}),
        ));
    }
    for w in &not_bool {
        cases.push(("/init", json!({"synchronous": w, "uuid": uuid})));
        cases.push((
            "/attributes",
            json!({"uuid": uuid, "attributes": {}, "replace": w}),
        ));
    }
    for w in &not_page {
        cases.push(("/event/show", json!({"name": "x", "page": w})));
        cases.push(("/event/show", json!({"name": "x", "per_page": w})));
    }
    let hostile_uuids = [
        "' OR 1=1 --",
        "../../etc/passwd",
        "b19412c6-6a91-4e18-890d-e2269a0d124",
        "b19412c6-6a91-4e18-890d-e2269a0d12490",
        "{b19412c6-6a91-4e18-890d-e2269a0d1249}",
        "urn:uuid:b19412c6-6a91-4e18-890d-e2269a0d1249",
        "b19412c66a914e18890de2269a0d1249",
        "b19412c6-6a91-4e18-890d-e2269a0d124\u{0}",
        "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
        "P#default#U#b19412c6-6a91-4e18-890d-e2269a0d1249",
    ];
    for bad in hostile_uuids {
        cases.push(("/event", json!({"uuid": bad, "event": "x"})));
        cases.push(("/session/show", json!({"uuid": bad})));
        cases.push(("/attributes", json!({"uuid": bad, "attributes": {}})));
    }
    let deep = (0..12).fold(json!(1), |v, _| json!({"d": v}));
    let many: serde_json::Map<String, Value> =
        (0..201).map(|i| (format!("k{i}"), json!(i))).collect();
    for (why, attributes) in [
        ("too deep", json!({"a": deep})),
        ("too many keys", Value::Object(many)),
        ("empty key", json!({"": 1})),
        ("129-char key", json!({ "k".repeat(129): 1 })),
        ("9 KB string", json!({"s": "s".repeat(9 * 1024)})),
        ("number DynamoDB cannot hold", json!({"n": 1e200})),
    ] {
        let _ = why;
        cases.push((
            "/attributes",
            json!({"uuid": uuid, "attributes": attributes.clone()}),
        ));
        cases.push((
            "/event",
            json!({"uuid": uuid, "event": "x", "attributes": attributes}),
        ));
    }
    for name in ["", " ", "\u{7}bell", "tab\there", "e".repeat(101).as_str()] {
        cases.push(("/event", json!({"uuid": uuid, "event": name})));
        cases.push(("/event/show", json!({"name": name})));
    }
    for (page, per_page, sort) in [
        (json!(0), json!(25), json!("desc")),
        (json!(1), json!(0), json!("desc")),
        (json!(1), json!(101), json!("desc")),
        (json!(1), json!(25), json!("sideways")),
        (json!(1), json!(25), json!("DROP")),
        (json!(2_000_000_000u64), json!(25), json!("asc")),
    ] {
        cases.push((
            "/event/show",
            json!({"name": "x", "page": page, "per_page": per_page, "sort": sort}),
        ));
    }
    for cursor in [
        "",
        "x",
        "not-base64!!",
        "eyJwIjoib3RoZXIifQ",
        &"A".repeat(5000),
    ] {
        cases.push(("/event/show", json!({"name": "x", "cursor": cursor})));
    }
    for timestamp in [
        "1999-12-31T23:59:59Z",
        "2999-01-01T00:00:00Z",
        "2026-13-45T99:99:99Z",
        "yesterday",
    ] {
        cases.push((
            "/event",
            json!({"uuid": uuid, "event": "x", "timestamp": timestamp}),
        ));
    }
    cases.push((
        "/event",
        json!({"uuid": uuid, "event": "x", "event_id": "not-a-uuid"}),
    ));
    cases
}

/// Names and values that break naive expression building or escaping, which must be stored
/// and read back exactly.
fn hostile_names() -> Vec<&'static str> {
    vec![
        "a.b",
        "#name",
        "$dollar",
        "k:v",
        ":v0",
        "#n0",
        "a[0]",
        "SET x = :y",
        "attribute_exists(PK)",
        "'; DROP TABLE events; --",
        "${jndi:ldap://127.0.0.1/x}",
        "<script>alert(1)</script>",
        "{{7*7}}",
        "\\u0000",
        "ünïcødé ☃",
        "PK",
        "SK",
        "GSI1PK",
        "__proto__",
        "constructor",
    ]
}

async fn hostile_requests_are_refused_and_change_nothing(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = uuid::Uuid::new_v4().to_string();
    server
        .post(
            "/init",
            Some(SECRET_KEY),
            &json!({"uuid": uuid, "context": {"url": {"href": "https://x.test/"}}}),
        )
        .await;
    server
        .post(
            "/attributes",
            Some(SECRET_KEY),
            &json!({"uuid": uuid, "attributes": {"plan": "pro"}}),
        )
        .await;
    server
        .post(
            "/event",
            Some(SECRET_KEY),
            &json!({"uuid": uuid, "event": "x"}),
        )
        .await;
    let snapshot = || async {
        (
            server.session(&uuid).await,
            server
                .post("/event/show", Some(SECRET_KEY), &json!({"name": "x"}))
                .await
                .body,
        )
    };
    let before = snapshot().await;

    let mut sent = 0;
    let mut check = |what: String, status: u16, body: &Value| {
        sent += 1;
        assert!(
            (400..500).contains(&status),
            "{what}: status {status}, body {body}"
        );
        assert_eq!(body["success"], false, "{what}: {body}");
        assert!(body["error"]["code"].is_string(), "{what}: {body}");
        assert!(body["error"]["message"].is_string(), "{what}: {body}");
    };

    for endpoint in ENDPOINTS {
        for (why, body) in malformed_bodies() {
            let answer = server
                .post_raw(endpoint, Some(SECRET_KEY), body, "application/json")
                .await;
            check(format!("{endpoint} {why}"), answer.status, &answer.body);
        }
        for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
            let response = server
                .http
                .request(method.clone(), server.url(endpoint))
                .header("x-a-track-key", SECRET_KEY)
                .body("{}")
                .send()
                .await
                .unwrap();
            let answer = atrack_tests::answer(response).await;
            check(format!("{method} {endpoint}"), answer.status, &answer.body);
        }
        let garbage_keys: Vec<Vec<u8>> = vec![
            vec![],
            b" ".to_vec(),
            "k".repeat(8 * 1024).into_bytes(),
            b"\x80\x81\xfe\xff".to_vec(),
            format!("{SECRET_KEY}x").into_bytes(),
            b"' OR '1'='1".to_vec(),
        ];
        for key in garbage_keys {
            let response = server
                .http
                .post(server.url(endpoint))
                .header(
                    "x-a-track-key",
                    reqwest::header::HeaderValue::from_bytes(&key).unwrap(),
                )
                .body(json!({"uuid": uuid, "event": "x", "name": "x"}).to_string())
                .send()
                .await
                .unwrap();
            let answer = atrack_tests::answer(response).await;
            check(
                format!("{endpoint} key {key:?}"),
                answer.status,
                &answer.body,
            );
        }
    }
    for (endpoint, body) in invalid_fields(&uuid) {
        let answer = server.post(endpoint, Some(SECRET_KEY), &body).await;
        check(format!("{endpoint} {body}"), answer.status, &answer.body);
    }
    assert!(sent >= 200, "only {sent} hostile requests were sent");

    // Nothing stored changed.
    assert_eq!(
        snapshot().await,
        before,
        "a rejected request changed stored data"
    );

    // Hostile-looking but valid names and values are stored and read back exactly.
    let attributes: serde_json::Map<String, Value> = hostile_names()
        .into_iter()
        .map(|n| (n.to_owned(), json!(n)))
        .collect();
    let answer = server
        .post(
            "/attributes",
            Some(SECRET_KEY),
            &json!({"uuid": uuid, "attributes": attributes}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    for name in hostile_names()
        .into_iter()
        .filter(|n| n.chars().all(|c| !c.is_control()))
    {
        let answer = server
            .post(
                "/event",
                Some(SECRET_KEY),
                &json!({"uuid": uuid, "event": name, "attributes": {name: name}}),
            )
            .await;
        assert_eq!(answer.status, 200, "event {name:?}: {}", answer.body);
        server.settle().await;
        let listed = server
            .post("/event/show", Some(SECRET_KEY), &json!({"name": name}))
            .await;
        assert_eq!(listed.body["meta"]["total"], 1, "{name:?}: {}", listed.body);
        assert_eq!(listed.body["data"][0]["name"], name);
        assert_eq!(listed.body["data"][0]["attributes"][name], name);
    }
    let stored = server.session(&uuid).await["attributes"].clone();
    for name in hostile_names() {
        assert_eq!(
            stored[name], name,
            "attribute {name:?} did not round-trip: {stored}"
        );
    }
    assert_eq!(stored["plan"], "pro");

    let health = server.http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the server stopped answering");
}
