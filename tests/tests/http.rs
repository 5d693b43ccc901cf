//! The API end to end over real HTTP on loopback, on both engines: the reference's flow, the
//! reference's response shapes, keys and scopes, and bad input answered with 4xx envelopes that
//! change nothing stored.

use atrack_tests::{
    Engine, PUBLIC_KEY, SECRET_KEY, ServerOptions, TestServer, assert_error, on_both_engines,
};
use serde_json::{Value, json};

on_both_engines!(
    reference_flow_returns_the_reference_shapes,
    init_with_a_known_uuid_continues_the_session,
    attributes_merge_unless_replace_is_set,
    event_before_any_init_creates_the_session,
    event_show_paginates_sixty_events_like_the_reference,
    event_show_cursor_walks_every_page_once,
    numbered_pages_never_repeat_or_skip_a_row_while_the_total_trails,
    keys_and_scopes_are_enforced,
    bad_input_gets_a_4xx_envelope_and_changes_nothing,
    beacon_bodies_sent_as_text_plain_are_accepted,
    a_beacon_carries_a_public_key_in_its_body_but_never_a_secret_one,
    a_session_that_would_outgrow_its_item_is_refused_with_413,
    unknown_paths_and_methods_answer_in_the_envelope,
);

fn is_reference_timestamp(value: &Value) -> bool {
    // 2026-04-12T02:10:00.000000Z
    value.as_str().is_some_and(|s| {
        s.len() == 27
            && s.ends_with('Z')
            && s.as_bytes()[10] == b'T'
            && s.as_bytes()[19] == b'.'
            && s[20..26].bytes().all(|b| b.is_ascii_digit())
    })
}

fn keys_of(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

async fn reference_flow_returns_the_reference_shapes(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    // Init without a UUID, with the reference's landing context.
    let init = server
        .public(
            "/init",
            &json!({
                "context": {
                    "url": {
                        "href": "https://a-track.io/pricing?utm_source=google&utm_campaign=spring-launch&campaign_id=cmp_123&gclid=gclid_123&fbclid=fbclid_123",
                        "raw": "/pricing?utm_source=google&utm_campaign=spring-launch&campaign_id=cmp_123&gclid=gclid_123&fbclid=fbclid_123",
                        "path": "/pricing",
                        "query": "?utm_source=google&utm_campaign=spring-launch&campaign_id=cmp_123&gclid=gclid_123&fbclid=fbclid_123",
                        "source_url": "https://partner.example.com/blog/first-touch",
                        "referer": "https://google.com/"
                    },
                    "client": {
                        "ipAddress": "50.89.98.90",
                        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X)",
                        "locale": "en-US",
                        "timezone": "America/New_York"
                    },
                    "user": {"attributes": {"plan": "pro", "signup_step": "landing"}}
                },
                "custom_data": {"landing_variant": "v2", "widget_position": "hero"}
            }),
        )
        .await;
    assert_eq!(init.status, 200, "{}", init.body);
    assert_eq!(keys_of(&init.body), ["success", "uuid", "queued"]);
    assert_eq!(init.body["success"], true);
    assert_eq!(init.body["queued"], false);
    let uuid = init.body["uuid"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&uuid).is_ok_and(|u| u.get_version_num() == 4));

    let attributes = server
        .public(
            "/attributes",
            &json!({"uuid": uuid, "attributes": {"crm_id": "lead_2048", "plan": "pro"}}),
        )
        .await;
    assert_eq!(attributes.status, 200, "{}", attributes.body);
    assert_eq!(
        attributes.body,
        json!({"success": true, "uuid": uuid, "queued": false})
    );

    let event = server
        .public(
            "/event",
            &json!({"uuid": uuid, "event": "checkout_started",
                "attributes": {"cart_value": 129.99, "currency": "USD"},
                "timestamp": "2026-04-12T02:10:00Z"}),
        )
        .await;
    assert_eq!(event.status, 200, "{}", event.body);
    assert_eq!(
        event.body,
        json!({"success": true, "uuid": uuid, "queued": false})
    );

    let data = server.session(&uuid).await;
    assert_eq!(keys_of(&data), ["session", "attributes", "events", "meta"]);
    let session = &data["session"];
    for field in [
        "id",
        "uuid",
        "url_data",
        "utm_data",
        "query_params",
        "click_ids",
        "source",
        "referer",
        "ip_address",
        "ip_data",
        "device_data",
        "client_attributes",
        "user_attributes",
        "custom_data",
        "created_at",
        "updated_at",
    ] {
        assert!(
            session.get(field).is_some(),
            "session lacks {field}: {session}"
        );
    }
    assert!(session["id"].is_u64());
    assert_eq!(session["uuid"], uuid.as_str());
    assert_eq!(
        session["user_attributes"],
        json!({"plan": "pro", "signup_step": "landing"})
    );
    assert_eq!(
        session["custom_data"],
        json!({"landing_variant": "v2", "widget_position": "hero"})
    );
    assert_eq!(session["url_data"]["path"], "/pricing");
    assert_eq!(session["utm_data"]["utm_campaign"], "spring-launch");
    assert_eq!(session["click_ids"]["gclid"], "gclid_123");
    assert_eq!(session["source"], "google");
    assert_eq!(session["referer"], "https://google.com/");
    assert_eq!(session["ip_address"], "50.89.98.90");
    assert_eq!(session["device_data"]["os"]["name"], "iOS");
    assert_eq!(
        session["client_attributes"],
        json!({"locale": "en-US", "timezone": "America/New_York"})
    );
    assert!(
        is_reference_timestamp(&session["created_at"]),
        "{}",
        session["created_at"]
    );
    assert!(is_reference_timestamp(&session["updated_at"]));
    assert_eq!(
        data["attributes"],
        json!({"crm_id": "lead_2048", "plan": "pro"})
    );
    assert_eq!(
        data["events"],
        json!([{
            "id": data["events"][0]["id"],
            "uuid": uuid,
            "name": "checkout_started",
            "attributes": {"cart_value": 129.99, "currency": "USD"},
            "occurred_at": "2026-04-12T02:10:00.000000Z",
            // Ours, after the reference's fields: the defaults of an event that sent none.
            "label": null,
            "category": "user_action",
            "priority": "medium",
            "type": "track",
            "source": "web-client",
            "visit": 1,
            "user_id": null,
            "company_id": null,
            "track_id": data["events"][0]["track_id"]
        }])
    );
    assert!(data["events"][0]["id"].is_u64());
    assert_eq!(
        data["events"][0]["track_id"].as_str().map(str::len),
        Some(54)
    );
    assert_eq!(
        data["meta"],
        json!({"uuid": uuid, "events_limit": 100, "events_count": 1, "sort": "desc"})
    );

    server.settle().await;
    let listed = server
        .secret("/event/show", &json!({"name": "checkout_started"}))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(keys_of(&listed.body), ["success", "data", "meta"]);
    let row = &listed.body["data"][0];
    assert_eq!(
        keys_of(row),
        [
            "id",
            "session_id",
            "uuid",
            "name",
            "attributes",
            "ip_address",
            "user_agent",
            "occurred_at",
            "created_at",
            "updated_at",
            "label",
            "category",
            "priority",
            "type",
            "source",
            "page_url",
            "referrer",
            "visit",
            "country_code",
            "city",
            "user_id",
            "company_id",
            "track_id"
        ]
    );
    assert_eq!(row["id"], data["events"][0]["id"]);
    assert_eq!(row["session_id"], session["id"]);
    assert_eq!(row["ip_address"], "50.89.98.90");
    assert_eq!(
        row["user_agent"],
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X)"
    );
    assert_eq!(row["occurred_at"], "2026-04-12T02:10:00.000000Z");
    assert!(is_reference_timestamp(&row["created_at"]));
    assert_eq!(
        listed.body["meta"],
        json!({"name": "checkout_started", "sort": "desc", "per_page": 25, "current_page": 1,
            "last_page": 1, "from": 1, "to": 1, "total": 1, "next_cursor": null})
    );
}

async fn init_with_a_known_uuid_continues_the_session(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = "B19412C6-6A91-4E18-890D-E2269A0D1249";
    let first = server
        .public(
            "/init",
            &json!({"uuid": uuid, "context": {"url": {"href": "https://x.test/a"}}}),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    // Any case accepted, answered and stored lowercase.
    assert_eq!(first.body["uuid"], uuid.to_lowercase());
    let before = server.session(uuid).await["session"].clone();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = server
        .public(
            "/init",
            &json!({"uuid": uuid.to_lowercase(), "context": {"url": {"href": "https://x.test/b?utm_source=news"}}}),
        )
        .await;
    assert_eq!(second.body["uuid"], uuid.to_lowercase());
    let after = server.session(uuid).await["session"].clone();
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["created_at"], before["created_at"]);
    assert!(after["updated_at"].as_str() > before["updated_at"].as_str());
    assert_eq!(
        after["url_data"]["href"],
        "https://x.test/b?utm_source=news"
    );
    assert_eq!(after["source"], "news");
}

async fn attributes_merge_unless_replace_is_set(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let set = |attributes: Value, replace: Option<bool>| {
        let mut body = json!({"uuid": uuid, "attributes": attributes});
        if let Some(r) = replace {
            body["replace"] = json!(r);
        }
        body
    };
    let a = server
        .public(
            "/attributes",
            &set(json!({"plan": "free", "seats": 3}), None),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    server
        .public(
            "/attributes",
            &set(
                json!({"plan": "pro", "custom_flags": {"beta": true}, "tags": ["a", 1, null]}),
                Some(false),
            ),
        )
        .await;
    assert_eq!(
        server.session(&uuid).await["attributes"],
        json!({"custom_flags": {"beta": true}, "plan": "pro", "seats": 3, "tags": ["a", 1, null]})
    );
    server
        .public("/attributes", &set(json!({"only": "this"}), Some(true)))
        .await;
    assert_eq!(
        server.session(&uuid).await["attributes"],
        json!({"only": "this"})
    );
}

async fn event_before_any_init_creates_the_session(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let answer = server
        .public(
            "/event",
            &json!({"uuid": uuid, "event": "server_side_purchase",
                "attributes": {"amount": 10},
                "context": {"client": {"ipAddress": "203.0.113.9", "userAgent": "backend/1.0"}}}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let data = server.session(&uuid).await;
    assert_eq!(data["session"]["uuid"], uuid.as_str());
    assert_eq!(data["meta"]["events_count"], 1);
    let listed = server
        .secret("/event/show", &json!({"name": "server_side_purchase"}))
        .await;
    assert_eq!(listed.body["data"][0]["ip_address"], "203.0.113.9");
    assert_eq!(listed.body["data"][0]["user_agent"], "backend/1.0");
    assert_eq!(listed.body["data"][0]["session_id"], data["session"]["id"]);
    // An event without a timestamp happened now.
    assert!(is_reference_timestamp(
        &listed.body["data"][0]["occurred_at"]
    ));
}

async fn record_sixty(server: &TestServer) -> Vec<String> {
    let uuid = uuid::Uuid::new_v4().to_string();
    let mut times = Vec::new();
    for i in 0..60 {
        let at = format!("2026-04-12T02:10:{i:02}Z");
        let answer = server
            .public(
                "/event",
                &json!({"uuid": uuid, "event": "checkout_started", "attributes": {"i": i}, "timestamp": at}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        times.push(at.replace('Z', ".000000Z"));
    }
    // Noise under another name and in another session.
    server
        .public("/event", &json!({"uuid": uuid, "event": "page_view"}))
        .await;
    server.settle().await;
    times
}

async fn event_show_paginates_sixty_events_like_the_reference(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let times = record_sixty(&server).await;
    let page = |page: u64, sort: &str| json!({"name": "checkout_started", "page": page, "per_page": 25, "sort": sort});
    let mut seen = Vec::new();
    for (n, from, to) in [(1u64, 1, 25), (2, 26, 50), (3, 51, 60)] {
        let answer = server.secret("/event/show", &page(n, "asc")).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let meta = &answer.body["meta"];
        assert_eq!(meta["name"], "checkout_started");
        assert_eq!(meta["sort"], "asc");
        assert_eq!(meta["per_page"], 25);
        assert_eq!(meta["current_page"], n);
        assert_eq!(meta["last_page"], 3);
        assert_eq!(meta["from"], from);
        assert_eq!(meta["to"], to);
        assert_eq!(meta["total"], 60);
        assert_eq!(meta["next_cursor"].is_string(), n < 3);
        let rows = answer.body["data"].as_array().unwrap();
        assert_eq!(rows.len() as u64, to - from + 1);
        seen.extend(
            rows.iter()
                .map(|r| r["occurred_at"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(seen, times);

    let newest = server.secret("/event/show", &page(1, "desc")).await;
    assert_eq!(newest.body["data"][0]["occurred_at"], times[59].as_str());
    assert_eq!(newest.body["data"][0]["attributes"], json!({"i": 59}));
    // Defaults: page 1, 25 per page, newest first.
    let defaults = server
        .secret("/event/show", &json!({"name": "checkout_started"}))
        .await;
    assert_eq!(defaults.body["data"], newest.body["data"]);
    assert_eq!(defaults.body["meta"]["sort"], "desc");
    // Past the last page: no rows, from/to null, the total still right.
    let beyond = server.secret("/event/show", &page(9, "desc")).await;
    assert_eq!(beyond.status, 200);
    assert_eq!(beyond.body["data"], json!([]));
    assert_eq!(beyond.body["meta"]["from"], Value::Null);
    assert_eq!(beyond.body["meta"]["to"], Value::Null);
    assert_eq!(beyond.body["meta"]["total"], 60);
    // A name nobody used.
    let none = server
        .secret("/event/show", &json!({"name": "never"}))
        .await;
    assert_eq!(none.body["meta"]["total"], 0);
    assert_eq!(none.body["meta"]["last_page"], 1);
}

async fn event_show_cursor_walks_every_page_once(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let mut times = record_sixty(&server).await;
    times.reverse();
    let mut seen = Vec::new();
    let mut request = json!({"name": "checkout_started", "per_page": 7});
    let mut pages = 0;
    loop {
        let answer = server.secret("/event/show", &request).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        pages += 1;
        assert_eq!(answer.body["meta"]["current_page"], pages);
        seen.extend(
            answer.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["occurred_at"].as_str().unwrap().to_owned()),
        );
        match answer.body["meta"]["next_cursor"].as_str() {
            Some(cursor) => {
                // Alternate the two spellings the API accepts.
                let field = if pages % 2 == 0 {
                    "cursor"
                } else {
                    "next_cursor"
                };
                request = json!({"name": "checkout_started", "per_page": 7, field: cursor});
            }
            None => break,
        }
    }
    assert_eq!(pages, 9);
    assert_eq!(seen, times);
}

/// On DynamoDB the total trails new events until the stream is counted; numbered pages must
/// not be placed by it. Three events are counted, four more are not yet: every row still shows
/// on exactly one page, in order, both ways.
async fn numbered_pages_never_repeat_or_skip_a_row_while_the_total_trails(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let send = |i: usize| {
        json!({"uuid": uuid, "event": "tick", "attributes": {"i": i},
            "timestamp": format!("2026-04-12T02:10:{i:02}Z")})
    };
    for i in 0..3 {
        assert_eq!(server.public("/event", &send(i)).await.status, 200);
    }
    server.settle().await;
    for i in 3..7 {
        assert_eq!(server.public("/event", &send(i)).await.status, 200);
    }
    for sort in ["asc", "desc"] {
        let mut seen = Vec::new();
        for page in 1..=5 {
            let answer = server
                .secret(
                    "/event/show",
                    &json!({"name": "tick", "page": page, "per_page": 2, "sort": sort}),
                )
                .await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            for row in answer.body["data"].as_array().unwrap() {
                seen.push(row["attributes"]["i"].as_u64().unwrap());
            }
        }
        let mut expected: Vec<u64> = (0..7).collect();
        if sort == "desc" {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{sort}");
    }
}

async fn keys_and_scopes_are_enforced(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let body = json!({"uuid": uuid, "event": "x", "name": "x"});
    for path in [
        "/init",
        "/attributes",
        "/event",
        "/session/show",
        "/event/show",
    ] {
        let missing = server.post(path, None, &body).await;
        assert_error(&missing, 401, "unauthorized");
        let unknown = server.post(path, Some("pk_not_a_real_key"), &body).await;
        assert_error(&unknown, 401, "unauthorized");
        let huge = "k".repeat(10_000);
        assert_error(
            &server.post(path, Some(&huge), &body).await,
            401,
            "unauthorized",
        );
    }
    let forbidden = server
        .post("/event/show", Some(PUBLIC_KEY), &json!({"name": "x"}))
        .await;
    assert_error(&forbidden, 403, "forbidden");
    // The secret key does everything the public key does.
    let init = server
        .post("/init", Some(SECRET_KEY), &json!({"uuid": uuid}))
        .await;
    assert_eq!(init.status, 200, "{}", init.body);
    let shown = server
        .post("/session/show", Some(SECRET_KEY), &json!({"uuid": uuid}))
        .await;
    assert_eq!(shown.status, 200);
    // The key is checked before the body: a bad body with no key is a 401, not a 400.
    let no_key_bad_body = server
        .post_raw("/event", None, b"{not json".to_vec(), "application/json")
        .await;
    assert_error(&no_key_bad_body, 401, "unauthorized");
    // A key created for another project sees nothing of this one.
    let other = server
        .app
        .store
        .create_key_pair(&atrack_shared::domain::project::Project::parse("other").unwrap())
        .await
        .unwrap();
    let elsewhere = server
        .post(
            "/session/show",
            Some(&other.public_key),
            &json!({"uuid": uuid}),
        )
        .await;
    assert_error(&elsewhere, 404, "not_found");
}

/// A malformed or invalid request: what is sent, and the status and code expected.
struct Bad {
    why: &'static str,
    path: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    /// The field a 422 must name in `details`.
    field: Option<&'static str>,
}

fn bad(why: &'static str, path: &'static str, body: Value, field: &'static str) -> Bad {
    Bad {
        why,
        path,
        body: serde_json::to_vec(&body).unwrap(),
        status: 422,
        code: "validation_failed",
        field: Some(field),
    }
}

fn raw(why: &'static str, path: &'static str, body: &[u8], status: u16, code: &'static str) -> Bad {
    Bad {
        why,
        path,
        body: body.to_vec(),
        status,
        code,
        field: None,
    }
}

fn bad_inputs(uuid: &str) -> Vec<Bad> {
    vec![
        raw("empty body", "/init", b"", 400, "missing_body"),
        raw("whitespace body", "/event", b"  \n ", 400, "missing_body"),
        raw(
            "truncated JSON",
            "/event",
            b"{\"uuid\": ",
            400,
            "malformed_body",
        ),
        raw(
            "not JSON at all",
            "/attributes",
            b"uuid=1&event=x",
            400,
            "malformed_body",
        ),
        raw("a JSON array", "/event", b"[1,2,3]", 400, "malformed_body"),
        raw(
            "a JSON string",
            "/session/show",
            b"\"uuid\"",
            400,
            "malformed_body",
        ),
        raw(
            "invalid UTF-8",
            "/event",
            b"{\"uuid\": \"\xff\xfe\"}",
            400,
            "malformed_body",
        ),
        raw(
            "a number too large for any float",
            "/event",
            b"{\"uuid\": 1e400}",
            400,
            "malformed_body",
        ),
        raw(
            "a body over the limit",
            "/event",
            format!(
                "{{\"uuid\": \"{uuid}\", \"event\": \"x\", \"attributes\": {{\"big\": \"{}\"}}}}",
                "a".repeat(70_000)
            )
            .as_bytes(),
            413,
            "payload_too_large",
        ),
        bad(
            "attributes without uuid",
            "/attributes",
            json!({"attributes": {"a": 1}}),
            "uuid",
        ),
        bad(
            "uuid not a UUID",
            "/attributes",
            json!({"uuid": "not-a-uuid", "attributes": {}}),
            "uuid",
        ),
        bad(
            "uuid a number",
            "/event",
            json!({"uuid": 42, "event": "x"}),
            "uuid",
        ),
        bad(
            "uuid in braces",
            "/session/show",
            json!({"uuid": format!("{{{uuid}}}")}),
            "uuid",
        ),
        bad(
            "attributes missing",
            "/attributes",
            json!({"uuid": uuid}),
            "attributes",
        ),
        bad(
            "attributes a list",
            "/attributes",
            json!({"uuid": uuid, "attributes": [1]}),
            "attributes",
        ),
        bad(
            "replace not a boolean",
            "/attributes",
            json!({"uuid": uuid, "attributes": {}, "replace": "yes"}),
            "replace",
        ),
        bad(
            "event name missing",
            "/event",
            json!({"uuid": uuid}),
            "event",
        ),
        bad(
            "event name empty",
            "/event",
            json!({"uuid": uuid, "event": ""}),
            "event",
        ),
        bad(
            "event name a number",
            "/event",
            json!({"uuid": uuid, "event": 7}),
            "event",
        ),
        bad(
            "event name with a control character",
            "/event",
            json!({"uuid": uuid, "event": "a\u{0}b"}),
            "event",
        ),
        bad(
            "event name too long",
            "/event",
            json!({"uuid": uuid, "event": "e".repeat(101)}),
            "event",
        ),
        bad(
            "timestamp garbage",
            "/event",
            json!({"uuid": uuid, "event": "x", "timestamp": "yesterday"}),
            "timestamp",
        ),
        bad(
            "timestamp before 2000",
            "/event",
            json!({"uuid": uuid, "event": "x", "timestamp": "1999-12-31T23:59:59Z"}),
            "timestamp",
        ),
        bad(
            "timestamp far in the future",
            "/event",
            json!({"uuid": uuid, "event": "x", "timestamp": "2999-01-01T00:00:00Z"}),
            "timestamp",
        ),
        bad(
            "event attributes a string",
            "/event",
            json!({"uuid": uuid, "event": "x", "attributes": "a"}),
            "attributes",
        ),
        bad(
            "attribute key empty",
            "/attributes",
            json!({"uuid": uuid, "attributes": {"": 1}}),
            "attributes",
        ),
        bad("init uuid invalid", "/init", json!({"uuid": "123"}), "uuid"),
        bad(
            "init context a string",
            "/init",
            json!({"context": "x"}),
            "context",
        ),
        bad(
            "init url href a number",
            "/init",
            json!({"context": {"url": {"href": 5}}}),
            "context.url.href",
        ),
        bad(
            "client screenWidth a string",
            "/init",
            json!({"context": {"client": {"screenWidth": "wide"}}}),
            "context.client.screenWidth",
        ),
        bad(
            "synchronous a string",
            "/init",
            json!({"synchronous": "true"}),
            "synchronous",
        ),
        bad(
            "session/show without uuid",
            "/session/show",
            json!({}),
            "uuid",
        ),
        bad(
            "event/show without name",
            "/event/show",
            json!({"page": 1}),
            "name",
        ),
        bad(
            "page zero",
            "/event/show",
            json!({"name": "x", "page": 0}),
            "page",
        ),
        bad(
            "page negative",
            "/event/show",
            json!({"name": "x", "page": -1}),
            "page",
        ),
        bad(
            "page a word",
            "/event/show",
            json!({"name": "x", "page": "two"}),
            "page",
        ),
        bad(
            "page a fraction",
            "/event/show",
            json!({"name": "x", "page": 1.5}),
            "page",
        ),
        bad(
            "per_page over 100",
            "/event/show",
            json!({"name": "x", "per_page": 101}),
            "per_page",
        ),
        bad(
            "per_page zero",
            "/event/show",
            json!({"name": "x", "per_page": 0}),
            "per_page",
        ),
        bad(
            "sort sideways",
            "/event/show",
            json!({"name": "x", "sort": "sideways"}),
            "sort",
        ),
        raw(
            "a forged cursor",
            "/event/show",
            br#"{"name": "x", "cursor": "eyJmb3JnZWQiOnRydWV9"}"#,
            400,
            "invalid_cursor",
        ),
    ]
}

async fn bad_input_gets_a_4xx_envelope_and_changes_nothing(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = uuid::Uuid::new_v4().to_string();
    server
        .public(
            "/init",
            &json!({"uuid": uuid, "context": {"url": {"href": "https://x.test/"}}}),
        )
        .await;
    server
        .public(
            "/attributes",
            &json!({"uuid": uuid, "attributes": {"plan": "pro"}}),
        )
        .await;
    server
        .public("/event", &json!({"uuid": uuid, "event": "x"}))
        .await;
    let before = server.session(&uuid).await;
    let listed_before = server
        .secret("/event/show", &json!({"name": "x"}))
        .await
        .body;

    for case in bad_inputs(&uuid) {
        let answer = server
            .post_raw(
                case.path,
                Some(SECRET_KEY),
                case.body.clone(),
                "application/json",
            )
            .await;
        assert_eq!(answer.status, case.status, "{}: {}", case.why, answer.body);
        assert_error(&answer, case.status, case.code);
        if let Some(field) = case.field {
            let details = answer.body["error"]["details"].as_array().unwrap();
            assert!(
                details
                    .iter()
                    .any(|d| d["field"] == field && d["message"].is_string()),
                "{}: details should name {field}: {}",
                case.why,
                answer.body
            );
        }
    }
    // Nothing stored changed: the session and the listing read exactly as before.
    assert_eq!(server.session(&uuid).await, before);
    assert_eq!(
        server
            .secret("/event/show", &json!({"name": "x"}))
            .await
            .body,
        listed_before
    );
    let unknown = server
        .public(
            "/session/show",
            &json!({"uuid": uuid::Uuid::new_v4().to_string()}),
        )
        .await;
    assert_error(&unknown, 404, "not_found");
    // And the server is still answering.
    let health = server.http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

async fn a_session_that_would_outgrow_its_item_is_refused_with_413(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = uuid::Uuid::new_v4().to_string();
    // Each call is a valid ~30 KB body adding new keys; the merged map keeps growing.
    let mut accepted = 0;
    let mut refused = None;
    for call in 0..20 {
        let attributes: serde_json::Map<String, Value> = (0..15)
            .map(|i| (format!("c{call}_k{i}"), json!("x".repeat(1900))))
            .collect();
        let answer = server
            .public(
                "/attributes",
                &json!({"uuid": uuid, "attributes": attributes}),
            )
            .await;
        if answer.status == 200 {
            accepted += 1;
        } else {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("the session kept growing past 400 KB");
    assert_error(&refused, 413, "session_too_large");
    assert!(
        (10..=14).contains(&accepted),
        "accepted {accepted} calls of ~28 KB"
    );
    let before = server.session(&uuid).await;
    assert_eq!(
        before["attributes"].as_object().unwrap().len(),
        accepted * 15
    );
    // Replacing the map makes room again.
    let replaced = server
        .public(
            "/attributes",
            &json!({"uuid": uuid, "attributes": {"plan": "pro"}, "replace": true}),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(
        server.session(&uuid).await["attributes"],
        json!({"plan": "pro"})
    );
}

async fn beacon_bodies_sent_as_text_plain_are_accepted(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = uuid::Uuid::new_v4().to_string();
    for content_type in [
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "",
    ] {
        let body = json!({"uuid": uuid, "event": "beacon", "attributes": {"ct": content_type}});
        let answer = server
            .post_raw(
                "/event",
                Some(PUBLIC_KEY),
                serde_json::to_vec(&body).unwrap(),
                content_type,
            )
            .await;
        assert_eq!(answer.status, 200, "{content_type}: {}", answer.body);
    }
    assert_eq!(server.session(&uuid).await["meta"]["events_count"], 3);
}

async fn a_beacon_carries_a_public_key_in_its_body_but_never_a_secret_one(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let beacon = |key: Option<&str>, name: &str| {
        let mut body = json!({"uuid": uuid, "event": name, "attributes": {"via": "beacon"}});
        if let Some(key) = key {
            body["key"] = json!(key);
        }
        serde_json::to_vec(&body).unwrap()
    };
    // sendBeacon: text/plain, no header, the public key in the body.
    let sent = server
        .post_raw(
            "/event",
            None,
            beacon(Some(PUBLIC_KEY), "beacon_sent"),
            "text/plain;charset=UTF-8",
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    // A secret key outside the header is refused, an unknown one too, and no key at all.
    let secret = server
        .post_raw(
            "/event",
            None,
            beacon(Some(SECRET_KEY), "with_secret"),
            "text/plain",
        )
        .await;
    assert_error(&secret, 403, "forbidden");
    let unknown = server
        .post_raw(
            "/event",
            None,
            beacon(Some("pk_nope"), "with_unknown"),
            "text/plain",
        )
        .await;
    assert_error(&unknown, 401, "unauthorized");
    let missing = server
        .post_raw("/event", None, beacon(None, "without_key"), "text/plain")
        .await;
    assert_error(&missing, 401, "unauthorized");
    // Not JSON and no header: nothing to find a key in, so 401 (not a hint about the shape).
    let garbage = server
        .post_raw("/event", None, b"{not json".to_vec(), "text/plain")
        .await;
    assert_error(&garbage, 401, "unauthorized");
    // The header wins over the body: a header key with a bogus body key works.
    let both = server
        .post_raw(
            "/event",
            Some(SECRET_KEY),
            beacon(Some("pk_nope"), "header_wins"),
            "application/json",
        )
        .await;
    assert_eq!(both.status, 200, "{}", both.body);
    // The secret key is not allowed to read a session by body either.
    let show = server
        .post_raw(
            "/session/show",
            None,
            serde_json::to_vec(&json!({"uuid": uuid, "key": SECRET_KEY})).unwrap(),
            "text/plain",
        )
        .await;
    assert_error(&show, 403, "forbidden");
    let session = server.session(&uuid).await;
    let names: Vec<&str> = session["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["header_wins", "beacon_sent"], "{session}");
    assert_eq!(session["events"][1]["attributes"], json!({"via": "beacon"}));
}

async fn unknown_paths_and_methods_answer_in_the_envelope(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let get = server.http.get(server.url("/init")).send().await.unwrap();
    assert_error(&atrack_tests::answer(get).await, 405, "method_not_allowed");
    let put = server
        .http
        .put(server.url("/event"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(&atrack_tests::answer(put).await, 405, "method_not_allowed");
    let missing = server.post("/nope", Some(PUBLIC_KEY), &json!({})).await;
    assert_error(&missing, 404, "not_found");
    let health = server.http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["status"], "ok");
}
