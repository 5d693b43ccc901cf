//! Segment's tracking API over real HTTP on both engines, driven by hand-written requests:
//! how each call maps onto sessions, users, companies and events; the visit context fed to
//! enrichment without overwriting first touch; retries stored once; clock-skew correction;
//! gzip bodies and their limits; and every bad request answered in Segment's error shape with
//! nothing stored. `segment_clients.rs` drives the real libraries.

use std::io::Write;

use atrack_shared::domain::calls::Caller;
use atrack_shared::domain::plan::{NameList, Naming, TrackingPlan};
use atrack_shared::domain::project::Project;
use atrack_shared::domain::time::Timestamp;
use atrack_shared::domain::user::UserId;
use atrack_shared::domain::values::SessionUuid;
use atrack_tests::on_both_engines;
use atrack_tests::{Answer, Engine, PUBLIC_KEY, SECRET_KEY, ServerOptions, TestServer, answer};
use base64::Engine as _;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use uuid::Uuid;

on_both_engines!(
    calls_map_onto_sessions_users_companies_and_events,
    the_context_feeds_the_session_like_an_init_and_keeps_first_touch,
    retried_messages_are_stored_once,
    times_are_corrected_for_the_senders_clock,
    gzip_bodies_are_taken_within_their_limits,
    bad_requests_get_segment_errors_and_store_nothing,
    hostile_bodies_on_every_route_never_get_a_5xx,
    who_a_call_lands_on_follows_moves_and_ignores_an_alias_anonymous_id,
    refused_messages_leave_no_visit_and_a_request_names_at_most_100_people,
);

async fn server(engine: Engine) -> TestServer {
    TestServer::start(ServerOptions::new(engine)).await
}

/// A unique id, so that tests sharing a store (DynamoDB Local) never meet.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

/// The session an anonymous id lands in.
fn uuid_of(id: &str) -> String {
    SessionUuid::for_external_id(&Project::parse("default").unwrap(), id).to_string()
}

/// The session a user id never identified lands in.
fn user_uuid_of(id: &str) -> String {
    Caller::user_fallback_uuid(
        &Project::parse("default").unwrap(),
        &UserId::parse(id).unwrap(),
    )
    .to_string()
}

fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// POSTs bytes to a Segment route: `auth` as the Authorization header, `encoding` as
/// Content-Encoding.
async fn send_raw(
    server: &TestServer,
    path: &str,
    auth: Option<&str>,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let mut request = server
        .http
        .post(server.url(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    answer(request.send().await.expect("request")).await
}

/// POSTs JSON with the write key as Basic's user name.
async fn send(server: &TestServer, path: &str, body: &Value) -> Answer {
    let bytes = serde_json::to_vec(body).unwrap();
    send_raw(server, path, Some(&basic(PUBLIC_KEY)), None, bytes).await
}

async fn batch(server: &TestServer, messages: Value) -> Answer {
    send(server, "/v1/batch", &json!({"batch": messages})).await
}

fn assert_taken(answer: &Answer) {
    assert_eq!(
        (answer.status, &answer.body),
        (200, &json!({"success": true})),
        "{}",
        answer.body
    );
}

/// A Segment error: the status, top-level `code` and `message` (RudderStack's library retries
/// an error body without both), `success: false`.
fn assert_segment_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["success"], false, "{}", answer.body);
    assert_eq!(answer.body["code"], code, "{}", answer.body);
    assert!(answer.body["message"].is_string(), "{}", answer.body);
}

async fn user_show(server: &TestServer, user_id: &str) -> Answer {
    server
        .secret("/user/show", &json!({"user_id": user_id}))
        .await
}

/// The UUID's events, newest first, as session/show lists them; none for an unknown UUID.
async fn events_of(server: &TestServer, uuid: &str) -> Vec<Value> {
    let answer = server.public("/session/show", &json!({"uuid": uuid})).await;
    match answer.status {
        404 => Vec::new(),
        200 => answer.body["data"]["events"].as_array().unwrap().clone(),
        status => panic!("session/show: {status} {}", answer.body),
    }
}

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["name"] == name).collect()
}

fn uuids_of(user: &Value) -> Vec<String> {
    let mut uuids: Vec<String> = user["data"]["user"]["uuids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect();
    uuids.sort();
    uuids
}

async fn calls_map_onto_sessions_users_companies_and_events(engine: Engine) {
    let server = server(engine).await;
    let anon = unique("anon");
    let old_anon = unique("old-anon");
    let user = unique("user");
    let company = unique("acme");
    let library = json!({"library": {"name": "analytics-python", "version": "2.4.0"}});
    let answer = batch(
        &server,
        json!([
            // Traits in both places, as RudderStack's library puts identify's in context.
            {"type": "identify", "messageId": "m-1", "anonymousId": anon, "userId": user,
             "traits": {"name": "Ada", "plan": "pro"},
             "context": {"library": library["library"], "traits": {"email": "ada@example.com", "plan": "free"}}},
            {"type": "track", "messageId": "m-2", "anonymousId": anon, "userId": user,
             "event": "Signed Up", "properties": {"plan": "pro", "seats": 3}, "context": library},
            {"type": "page", "messageId": "m-3", "anonymousId": anon, "name": "Pricing",
             "category": "Docs", "properties": {"url": "https://example.com/pricing", "path": "/pricing"}},
            {"type": "screen", "messageId": "m-4", "anonymousId": anon, "name": "Home",
             "category": null},
            {"type": "group", "messageId": "m-5", "userId": user, "groupId": company,
             "traits": {"name": "Acme", "employees": 50}},
            // An older device of the same person, then its alias.
            {"type": "track", "messageId": "m-6", "anonymousId": old_anon, "event": "Opened App"},
            {"type": "alias", "messageId": "m-7", "previousId": old_anon, "userId": user},
            // Only the user id: the UUID the user was identified on last.
            {"type": "track", "messageId": "m-8", "userId": user, "event": "Plan Upgraded"},
            // A browser library's call is the person's device's.
            {"type": "track", "messageId": "m-9", "anonymousId": anon, "event": "Clicked",
             "context": {"library": {"name": "analytics.js", "version": "5.2.0"}}},
        ]),
    )
    .await;
    assert_taken(&answer);
    server.settle().await;

    let shown = user_show(&server, &user).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    // Top-level traits win over context.traits.
    assert_eq!(
        shown.body["data"]["user"]["traits"],
        json!({"name": "Ada", "plan": "pro", "email": "ada@example.com"})
    );
    assert_eq!(
        shown.body["data"]["company"]["company_id"],
        company.as_str()
    );
    assert_eq!(
        shown.body["data"]["company"]["traits"],
        json!({"name": "Acme", "employees": 50})
    );
    let mut expected = vec![uuid_of(&anon), uuid_of(&old_anon)];
    expected.sort();
    assert_eq!(uuids_of(&shown.body), expected);

    let events = events_of(&server, &uuid_of(&anon)).await;
    let signed_up = named(&events, "Signed Up");
    assert_eq!(signed_up.len(), 1, "{events:?}");
    let e = signed_up[0];
    assert_eq!(e["type"], "track");
    assert_eq!(e["source"], "backend-segment");
    assert_eq!(e["attributes"], json!({"plan": "pro", "seats": 3}));
    assert_eq!(e["user_id"], user.as_str());
    let page = named(&events, "Docs Pricing");
    assert_eq!(page.len(), 1, "{events:?}");
    assert_eq!(page[0]["type"], "page_view");
    assert_eq!(page[0]["category"], "page_view");
    let shown = server
        .secret("/event/show", &json!({"name": "Docs Pricing"}))
        .await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(
        shown.body["data"][0]["page_url"], "https://example.com/pricing",
        "{}",
        shown.body
    );
    // A null category is no category.
    assert_eq!(named(&events, "Home").len(), 1, "{events:?}");
    assert_eq!(named(&events, "Home")[0]["type"], "page_view");
    assert_eq!(named(&events, "Clicked")[0]["source"], "web-client");
    // The identify records identify_user with the traits it sent; the group, identify_company
    // with the company's; the track naming both ids links nothing new and records nothing.
    let identified = named(&events, "identify_user");
    assert_eq!(identified.len(), 1, "{events:?}");
    assert_eq!(identified[0]["type"], "identify_user");
    assert_eq!(
        identified[0]["attributes"],
        json!({"name": "Ada", "plan": "pro", "email": "ada@example.com"})
    );
    let grouped = named(&events, "identify_company");
    assert_eq!(grouped.len(), 1, "{events:?}");
    assert_eq!(
        grouped[0]["attributes"],
        json!({"name": "Acme", "employees": 50})
    );
    // Events carry whom the calls before them named: "Signed Up" came before the group.
    assert_eq!(e["company_id"], Value::Null);
    assert_eq!(named(&events, "Clicked")[0]["company_id"], company.as_str());
    // The page call was its own page event: no automatic page.visit beside it.
    assert!(named(&events, "page.visit").is_empty(), "{events:?}");

    // The alias joined the older device to the user, recording nothing; "Opened App", sent
    // before it, carries no user. "Plan Upgraded", naming only the user, landed on the UUID
    // the user was identified on last, which an alias does not change. So does a later
    // request's.
    let old_events = events_of(&server, &uuid_of(&old_anon)).await;
    let names: Vec<&str> = old_events
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["Opened App"], "{old_events:?}");
    assert_eq!(old_events[0]["user_id"], Value::Null);
    assert_eq!(named(&events, "Plan Upgraded").len(), 1, "{events:?}");
    assert_eq!(named(&events, "Plan Upgraded")[0]["user_id"], user.as_str());
    assert_taken(
        &send(
            &server,
            "/v1/track",
            &json!({"userId": user, "event": "Came Back"}),
        )
        .await,
    );
    let events = events_of(&server, &uuid_of(&anon)).await;
    assert_eq!(named(&events, "Came Back").len(), 1, "{events:?}");

    // A user nobody identified: a UUID made of the user id.
    let stranger = unique("stranger");
    assert_taken(
        &send(
            &server,
            "/v1/track",
            &json!({"userId": stranger, "event": "Arrived", "messageId": "s-1"}),
        )
        .await,
    );
    assert_eq!(
        named(
            &events_of(&server, &user_uuid_of(&stranger)).await,
            "Arrived"
        )
        .len(),
        1
    );

    // Anonymous traits are the session's attributes.
    let lone = unique("lone");
    assert_taken(
        &send(
            &server,
            "/v1/identify",
            &json!({"anonymousId": lone, "traits": {"theme": "dark"}}),
        )
        .await,
    );
    let data = server.session(&uuid_of(&lone)).await;
    assert_eq!(data["attributes"]["theme"], "dark", "{data}");

    // An alias from a known user id moves all of that user's UUIDs.
    let (first, second) = (unique("first"), unique("second"));
    let merged = unique("merged");
    assert_taken(
        &batch(
            &server,
            json!([
                {"type": "identify", "anonymousId": first, "userId": merged},
                {"type": "identify", "anonymousId": second, "userId": merged},
            ]),
        )
        .await,
    );
    let target = unique("target");
    assert_taken(
        &send(
            &server,
            "/v1/alias",
            &json!({"previousId": merged, "userId": target, "messageId": "a-1"}),
        )
        .await,
    );
    let mut expected = vec![uuid_of(&first), uuid_of(&second)];
    expected.sort();
    assert_eq!(uuids_of(&user_show(&server, &target).await.body), expected);
}

async fn the_context_feeds_the_session_like_an_init_and_keeps_first_touch(engine: Engine) {
    let server = server(engine).await;
    let anon = unique("visitor");
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    let context = json!({
        "userAgent": chrome,
        "locale": "fr-FR",
        "timezone": "Europe/Paris",
        "screen": {"width": 1920, "height": 1080},
        "page": {"url": "https://example.com/landing", "path": "/landing",
                 "referrer": "https://news.example.org/story", "title": "Landing"},
        "campaign": {"source": "newsletter", "medium": "email", "name": "spring"},
    });
    assert_taken(
        &batch(
            &server,
            json!([
                {"type": "page", "anonymousId": anon, "name": "Landing", "context": context},
                {"type": "track", "anonymousId": anon, "event": "Read", "context": context},
            ]),
        )
        .await,
    );
    let data = server.session(&uuid_of(&anon)).await;
    let session = &data["session"];
    assert_eq!(session["utm_data"]["utm_source"], "newsletter", "{session}");
    assert_eq!(session["utm_data"]["utm_medium"], "email", "{session}");
    assert_eq!(session["utm_data"]["utm_campaign"], "spring", "{session}");
    assert_eq!(
        session["referer"], "https://news.example.org/story",
        "{session}"
    );
    assert_eq!(
        session["device_data"]["client"]["name"], "Chrome",
        "{session}"
    );
    assert_eq!(session["client_attributes"]["locale"], "fr-FR", "{session}");
    assert_eq!(
        session["client_attributes"]["screenWidth"], 1920,
        "{session}"
    );
    // A device's visit context is that of its calls together: the identify brings the
    // address and browser, the page after it the page.
    let server_side = unique("server-side");
    assert_taken(
        &batch(
            &server,
            json!([
                {"type": "identify", "anonymousId": server_side, "userId": unique("u"),
                 "context": {"ip": "203.0.113.9", "userAgent": chrome}},
                {"type": "page", "anonymousId": server_side, "name": "Offer",
                 "properties": {"url": "https://example.com/offer?utm_source=partner&gclid=g-1"}},
            ]),
        )
        .await,
    );
    let other = &server.session(&uuid_of(&server_side)).await["session"];
    assert_eq!(other["utm_data"]["utm_source"], "partner", "{other}");
    assert_eq!(other["click_ids"]["gclid"], "g-1", "{other}");
    assert_eq!(other["ip_address"], "203.0.113.9", "{other}");
    assert_eq!(other["device_data"]["client"]["name"], "Chrome", "{other}");
    let first_touch = session["first_touch"].clone();
    assert_eq!(first_touch["source"], "newsletter", "{session}");
    // No automatic page.visit: the page call is the page event.
    let events = data["events"].as_array().unwrap();
    assert!(named(events, "page.visit").is_empty(), "{events:?}");

    // A later visit from an ad: the session's latest context follows it, first touch stays.
    let later =
        json!({"page": {"url": "https://example.com/pricing?utm_source=google&utm_medium=cpc"}});
    assert_taken(
        &send(
            &server,
            "/v1/page",
            &json!({"anonymousId": anon, "name": "Pricing", "context": later}),
        )
        .await,
    );
    let session = &server.session(&uuid_of(&anon)).await["session"];
    assert_eq!(session["utm_data"]["utm_source"], "google", "{session}");
    assert_eq!(session["first_touch"], first_touch, "{session}");
}

async fn retried_messages_are_stored_once(engine: Engine) {
    let server = server(engine).await;
    let anon = unique("retry");
    let user = unique("retry-user");
    let messages = |sent_at: &str| {
        json!({"sentAt": sent_at, "batch": [
            {"type": "identify", "messageId": Uuid::new_v5(&Uuid::NAMESPACE_OID, anon.as_bytes()).to_string(),
             "anonymousId": anon, "userId": user, "traits": {"a": 1},
             "timestamp": "2026-12-01T10:00:00.000Z"},
            {"type": "track", "messageId": format!("node-next-1-{anon}"), "anonymousId": anon,
             "event": "Bought", "timestamp": "2026-12-01T10:00:01.000Z"},
            {"type": "group", "messageId": format!("g-{anon}"), "anonymousId": anon, "userId": user,
             "groupId": format!("co-{anon}")},
            {"type": "alias", "messageId": format!("a-{anon}"), "previousId": format!("prev-{anon}"),
             "userId": user},
            // Sent twice in one batch: the second is the first's retry.
            {"type": "page", "messageId": format!("p-{anon}"), "anonymousId": anon, "name": "Home"},
            {"type": "page", "messageId": format!("p-{anon}"), "anonymousId": anon, "name": "Home"},
        ]})
    };
    let now = Timestamp::from_micros(time_now_micros());
    assert_taken(&send(&server, "/v1/batch", &messages(&now.to_string())).await);
    let first = events_of(&server, &uuid_of(&anon)).await;
    let aliased = events_of(&server, &uuid_of(&format!("prev-{anon}"))).await;
    for name in ["identify_user", "identify_company", "Bought", "Home"] {
        assert_eq!(named(&first, name).len(), 1, "{name}: {first:?}");
    }
    // The libraries resend a batch with a new sentAt, and it arrives later.
    let retry_at = Timestamp::from_micros(now.micros() + 1_500_000);
    assert_taken(&send(&server, "/v1/batch", &messages(&retry_at.to_string())).await);
    let second = events_of(&server, &uuid_of(&anon)).await;
    assert_eq!(first.len(), second.len(), "{first:?}\n{second:?}");
    assert_eq!(
        aliased.len(),
        events_of(&server, &uuid_of(&format!("prev-{anon}")))
            .await
            .len()
    );
}

fn time_now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

async fn times_are_corrected_for_the_senders_clock(engine: Engine) {
    let server = server(engine).await;
    let anon = unique("clock");
    let now = time_now_micros();
    let hour = 3_600_000_000;
    let at = |micros: i64| Timestamp::from_micros(micros).to_string();
    // A device whose clock is an hour fast: the event happened 10 s before it sent the batch.
    let skewed = json!({"type": "track", "anonymousId": anon, "event": "Skewed",
        "timestamp": at(now + hour - 10_000_000), "sentAt": at(now + hour),
        "originalTimestamp": at(now + hour - 10_000_000)});
    // A sentAt two days off says nothing about the clock: the timestamp stands.
    let implausible = json!({"type": "track", "anonymousId": anon, "event": "Implausible",
        "timestamp": at(now - 60_000_000), "sentAt": at(now - 48 * hour)});
    // No sentAt: the timestamp as sent.
    let plain = json!({"type": "track", "anonymousId": anon, "event": "Plain",
        "timestamp": "2026-01-02T03:04:05+00:00"});
    assert_taken(&batch(&server, json!([skewed, implausible, plain])).await);
    let events = events_of(&server, &uuid_of(&anon)).await;
    let time_of = |name: &str| {
        let text = named(&events, name)[0]["occurred_at"]
            .as_str()
            .unwrap()
            .to_owned();
        Timestamp::parse_rfc3339(&text).unwrap().micros()
    };
    let corrected = time_of("Skewed");
    // About 10 s before it arrived; the request's own time on loopback is well under 5 s.
    assert!(
        (now - 15_000_000..=now).contains(&corrected),
        "corrected to {corrected}, sent at {now}"
    );
    assert_eq!(
        named(&events, "Skewed")[0]["attributes"]["_original_timestamp"],
        at(now + hour - 10_000_000)
    );
    assert_eq!(time_of("Implausible"), now - 60_000_000);
    assert_eq!(
        time_of("Plain"),
        Timestamp::parse_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .micros()
    );
}

async fn gzip_bodies_are_taken_within_their_limits(engine: Engine) {
    let server = server(engine).await;
    let auth = basic(PUBLIC_KEY);
    let anon = unique("gz");
    let body = json!({"batch": [{"type": "track", "anonymousId": anon, "event": "Zipped"}]});
    let zipped = gzip(&serde_json::to_vec(&body).unwrap());
    assert_taken(&send_raw(&server, "/v1/batch", Some(&auth), Some("gzip"), zipped).await);
    assert_eq!(
        named(&events_of(&server, &uuid_of(&anon)).await, "Zipped").len(),
        1
    );

    // A gzip bomb: 50 MB of spaces inside a JSON string, about 50 KB compressed.
    let mut bomb =
        b"{\"batch\":[{\"type\":\"track\",\"anonymousId\":\"bomb\",\"event\":\"".to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 50 << 20));
    bomb.extend(b"\"}]}");
    let compressed = gzip(&bomb);
    drop(bomb);
    assert!(compressed.len() < 100 * 1024, "{}", compressed.len());
    let answer = send_raw(&server, "/v1/batch", Some(&auth), Some("gzip"), compressed).await;
    assert_segment_error(&answer, 413, "payload_too_large");

    // Under the limit decompressed, but a thousandfold expansion: refused for its ratio.
    let mut dense = b"{\"batch\":[{\"type\":\"track\",\"anonymousId\":\"dense\",\"event\":\"x\",\"properties\":{\"pad\":\"".to_vec();
    dense.extend(std::iter::repeat_n(b'a', 300 * 1024));
    dense.extend(b"\"}}]}");
    let answer = send_raw(
        &server,
        "/v1/batch",
        Some(&auth),
        Some("gzip"),
        gzip(&dense),
    )
    .await;
    assert_segment_error(&answer, 413, "payload_too_large");

    // Over 500 KB of varied messages, plain and compressed.
    let many: Vec<Value> = (0..2_000)
        .map(|i| json!({"type": "track", "anonymousId": unique("big"), "event": format!("Big {i}"),
            "properties": {"n": i, "ids": (0..4).map(|_| Uuid::new_v4().to_string()).collect::<Vec<_>>()}}))
        .collect();
    let big = serde_json::to_vec(&json!({"batch": many})).unwrap();
    assert!(big.len() > 500 * 1024, "{}", big.len());
    let answer = send_raw(&server, "/v1/batch", Some(&auth), None, big.clone()).await;
    assert_segment_error(&answer, 413, "payload_too_large");
    let answer = send_raw(&server, "/v1/batch", Some(&auth), Some("gzip"), gzip(&big)).await;
    assert_segment_error(&answer, 413, "payload_too_large");
    let first = many_first_uuid(&big);
    assert!(events_of(&server, &first).await.is_empty());

    // A message over 32 KB: refused alone in a batch, and a 413 on its own route.
    let heavy = anon.clone() + "-heavy";
    let pad = "p".repeat(33 * 1024);
    let answer = batch(
        &server,
        json!([
            {"type": "track", "messageId": "big-one", "anonymousId": heavy, "event": "Heavy",
             "properties": {"pad": pad}},
            {"type": "track", "anonymousId": heavy, "event": "Light"},
        ]),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["failed"][0]["index"], 0, "{}", answer.body);
    assert_eq!(answer.body["failed"][0]["messageId"], "big-one");
    assert!(
        answer.body["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("32768 bytes"),
        "{}",
        answer.body
    );
    let events = events_of(&server, &uuid_of(&heavy)).await;
    assert!(named(&events, "Heavy").is_empty());
    assert_eq!(named(&events, "Light").len(), 1);
    let answer = send(
        &server,
        "/v1/track",
        &json!({"anonymousId": heavy, "event": "Heavy", "properties": {"pad": pad}}),
    )
    .await;
    assert_segment_error(&answer, 413, "payload_too_large");

    // Not gzip after all, and an encoding nobody here speaks.
    let answer = send_raw(
        &server,
        "/v1/batch",
        Some(&auth),
        Some("gzip"),
        b"{}".to_vec(),
    )
    .await;
    assert_segment_error(&answer, 400, "malformed_body");
    let answer = send_raw(
        &server,
        "/v1/batch",
        Some(&auth),
        Some("br"),
        b"{}".to_vec(),
    )
    .await;
    assert_segment_error(&answer, 400, "malformed_body");
}

/// The session of the first message of a serialized batch.
fn many_first_uuid(batch: &[u8]) -> String {
    let value: Value = serde_json::from_slice(batch).unwrap();
    uuid_of(value["batch"][0]["anonymousId"].as_str().unwrap())
}

async fn bad_requests_get_segment_errors_and_store_nothing(engine: Engine) {
    let server = server(engine).await;
    let anon = unique("bad");
    let good = json!({"batch": [{"type": "track", "anonymousId": anon, "event": "Fine"}]});
    let bytes = serde_json::to_vec(&good).unwrap();

    // Keys: none, unknown, the secret key in the body; writeKey in the body is the write key.
    let answer = send_raw(&server, "/v1/batch", None, None, bytes.clone()).await;
    assert_segment_error(&answer, 401, "unauthorized");
    let answer = send_raw(
        &server,
        "/v1/batch",
        Some(&basic("pk_nope")),
        None,
        bytes.clone(),
    )
    .await;
    assert_segment_error(&answer, 401, "unauthorized");
    let mut with_secret = good.clone();
    with_secret["writeKey"] = json!(SECRET_KEY);
    let answer = send_raw(
        &server,
        "/v1/batch",
        None,
        None,
        serde_json::to_vec(&with_secret).unwrap(),
    )
    .await;
    assert_segment_error(&answer, 403, "forbidden");
    assert!(events_of(&server, &uuid_of(&anon)).await.is_empty());
    let mut with_key = good.clone();
    with_key["writeKey"] = json!(PUBLIC_KEY);
    let answer = send_raw(
        &server,
        "/v1/batch",
        None,
        None,
        serde_json::to_vec(&with_key).unwrap(),
    )
    .await;
    assert_taken(&answer);
    assert_eq!(
        named(&events_of(&server, &uuid_of(&anon)).await, "Fine").len(),
        1
    );

    // Bodies that are not a batch.
    let auth = basic(PUBLIC_KEY);
    for (body, code) in [
        (b"not json".to_vec(), "malformed_body"),
        (b"[1, 2]".to_vec(), "malformed_body"),
        (b"{}".to_vec(), "validation_failed"),
        (br#"{"batch": []}"#.to_vec(), "validation_failed"),
        (
            br#"{"batch": {"type": "track"}}"#.to_vec(),
            "validation_failed",
        ),
    ] {
        let answer = send_raw(&server, "/v1/batch", Some(&auth), None, body.clone()).await;
        assert_segment_error(&answer, 400, code);
        let answer = send_raw(&server, "/v1/import", Some(&auth), None, body).await;
        assert_segment_error(&answer, 400, code);
    }

    // A batch of bad messages beside a good one: each bad one listed, the good one stored.
    let who = unique("mixed");
    let answer = batch(
        &server,
        json!([
            {"type": "track", "messageId": "no-ids", "event": "Nobody"},
            {"type": "launch", "messageId": "bad-type", "anonymousId": who},
            {"type": "track", "messageId": "no-event", "anonymousId": who},
            {"type": "track", "messageId": "bad-time", "anonymousId": who, "event": "When",
             "timestamp": "yesterday"},
            {"type": "track", "messageId": "far-future", "anonymousId": who, "event": "Later",
             "timestamp": "2999-01-01T00:00:00Z"},
            {"type": "group", "messageId": "no-group", "userId": who},
            {"type": "group", "messageId": "anon-group", "anonymousId": who, "groupId": "g"},
            {"type": "alias", "messageId": "no-previous", "userId": who},
            {"type": "track", "messageId": 7, "anonymousId": who, "event": "Bad Props",
             "properties": "not an object"},
            "not a message",
            {"type": "track", "anonymousId": who, "event": "Kept"},
        ]),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["success"], true);
    let failed = answer.body["failed"].as_array().expect("failed");
    let indexes: Vec<u64> = failed
        .iter()
        .map(|f| f["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, (0..10).collect::<Vec<u64>>(), "{}", answer.body);
    assert_eq!(failed[1]["messageId"], "bad-type");
    assert_eq!(failed[8]["messageId"], 7);
    assert_eq!(failed[9]["messageId"], Value::Null);
    for entry in failed {
        assert!(!entry["error"].as_str().unwrap().is_empty(), "{entry}");
    }
    let events = events_of(&server, &uuid_of(&who)).await;
    let names: Vec<&str> = events.iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, ["Kept"], "{events:?}");
    assert_eq!(user_show(&server, &who).await.status, 404);

    // A single-message route refuses its message with a 400 that says why.
    let answer = send(&server, "/v1/track", &json!({"anonymousId": who})).await;
    assert_segment_error(&answer, 400, "validation_failed");
    assert_eq!(
        answer.body["details"][0]["field"], "event",
        "{}",
        answer.body
    );
    let answer = send(
        &server,
        "/v1/group",
        &json!({"anonymousId": unique("x"), "groupId": "g"}),
    )
    .await;
    assert_segment_error(&answer, 400, "validation_failed");
    assert_eq!(events_of(&server, &uuid_of(&who)).await.len(), 1);
}

const ROUTES: [&str; 8] = [
    "/v1/batch",
    "/v1/import",
    "/v1/identify",
    "/v1/track",
    "/v1/page",
    "/v1/screen",
    "/v1/group",
    "/v1/alias",
];

async fn hostile_bodies_on_every_route_never_get_a_5xx(engine: Engine) {
    let server = server(engine).await;
    let auth = basic(PUBLIC_KEY);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut bodies: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{".to_vec(),
        b"\x80\xff{}".to_vec(),
        deep.clone().into_bytes(),
        format!("{{\"batch\": {deep}}}").into_bytes(),
        br#"{"batch": [null, 1, "x", [], {}]}"#.to_vec(),
        br#"{"type": "track", "anonymousId": {}, "userId": [], "event": 1e999}"#.to_vec(),
        br#"{"anonymousId": "a", "event": "e", "timestamp": "+275760-09-13T00:00:00Z"}"#.to_vec(),
        br#"{"anonymousId": "a", "event": "e", "sentAt": 12, "timestamp": -1}"#.to_vec(),
        br#"{"anonymousId": "a", "event": "e", "properties": {"": 1, "n": 1e400}}"#.to_vec(),
        br#"{"anonymousId": "a", "userId": "\u0000", "groupId": "\u0007", "previousId": ""}"#.to_vec(),
        br#"{"anonymousId": "a", "context": {"page": 5, "campaign": [], "screen": "x", "library": 7}}"#.to_vec(),
    ];
    let wrapped: Vec<Vec<u8>> = bodies
        .iter()
        .filter_map(|b| serde_json::from_slice::<Value>(b).ok())
        .map(|message| serde_json::to_vec(&json!({"batch": [message]})).unwrap())
        .collect();
    bodies.extend(wrapped);
    for route in ROUTES {
        for body in &bodies {
            for encoding in [None, Some("gzip")] {
                let sent = match encoding {
                    Some(_) => gzip(body),
                    None => body.clone(),
                };
                let answer = send_raw(&server, route, Some(&auth), encoding, sent).await;
                let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
                assert!(
                    answer.status < 500,
                    "{route} {shown:?}: {} {}",
                    answer.status,
                    answer.body
                );
                if answer.status != 200 {
                    assert_eq!(answer.body["success"], false, "{route} {shown:?}");
                    assert!(answer.body["code"].is_string(), "{route} {shown:?}");
                }
            }
        }
    }
}

async fn who_a_call_lands_on_follows_moves_and_ignores_an_alias_anonymous_id(engine: Engine) {
    let server = server(engine).await;
    let device = unique("shared-device");
    let (first, second) = (unique("first-owner"), unique("second-owner"));
    // The device is the first user's, then the second's: a call naming only the first user
    // no longer lands on it.
    assert_taken(
        &batch(
            &server,
            json!([
                {"type": "identify", "anonymousId": device, "userId": first},
                {"type": "identify", "anonymousId": device, "userId": second},
            ]),
        )
        .await,
    );
    assert_taken(
        &send(
            &server,
            "/v1/track",
            &json!({"userId": first, "event": "Mine"}),
        )
        .await,
    );
    assert!(named(&events_of(&server, &uuid_of(&device)).await, "Mine").is_empty());
    assert_eq!(
        named(&events_of(&server, &user_uuid_of(&first)).await, "Mine").len(),
        1
    );

    // An alias carrying an anonymous id (analytics.js sends one) joins previousId only: a call
    // naming the user alone, after it in the same batch, does not land on that anonymous id.
    let (browser, previous, user) = (unique("browser"), unique("previous"), unique("aliased"));
    assert_taken(
        &batch(
            &server,
            json!([
                {"type": "alias", "anonymousId": browser, "previousId": previous, "userId": user},
                {"type": "track", "userId": user, "event": "After Alias"},
            ]),
        )
        .await,
    );
    assert!(events_of(&server, &uuid_of(&browser)).await.is_empty());
    assert_eq!(
        named(
            &events_of(&server, &user_uuid_of(&user)).await,
            "After Alias"
        )
        .len(),
        1
    );
    let shown = user_show(&server, &user).await;
    assert_eq!(uuids_of(&shown.body), [uuid_of(&previous)]);

    // A user id that is a UUID still lands in a UUID of its own, never in that UUID.
    let uuid_user = Uuid::new_v4().to_string();
    assert_taken(
        &send(
            &server,
            "/v1/track",
            &json!({"userId": uuid_user, "event": "U"}),
        )
        .await,
    );
    assert!(events_of(&server, &uuid_user).await.is_empty());
    assert_eq!(
        named(&events_of(&server, &user_uuid_of(&uuid_user)).await, "U").len(),
        1
    );

    // originalTimestamp stands for a missing timestamp; a page call's own URL is its page.
    let clock = unique("clock");
    assert_taken(
        &batch(
            &server,
            json!([
                {"type": "track", "anonymousId": clock, "event": "Old",
                 "originalTimestamp": "2026-01-02T03:04:05Z"},
                {"type": "page", "anonymousId": clock, "name": "Here",
                 "properties": {"url": "https://example.com/here"},
                 "context": {"page": {"url": "https://example.com/before"}}},
            ]),
        )
        .await,
    );
    let events = events_of(&server, &uuid_of(&clock)).await;
    assert_eq!(
        named(&events, "Old")[0]["occurred_at"],
        "2026-01-02T03:04:05.000000Z"
    );
    let shown = server.secret("/event/show", &json!({"name": "Here"})).await;
    assert_eq!(
        shown.body["data"][0]["page_url"], "https://example.com/here",
        "{}",
        shown.body
    );
}

async fn refused_messages_leave_no_visit_and_a_request_names_at_most_100_people(engine: Engine) {
    let server = server(engine).await;
    // A tracking plan whose naming refuses "Bad Name" (activity naming wants `area.action`).
    let settings = atrack_shared::domain::settings::ProjectSettings {
        plan: std::sync::Arc::new(
            TrackingPlan::new(
                Naming::Activity,
                NameList::parse("").unwrap(),
                NameList::parse("").unwrap(),
            )
            .unwrap(),
        ),
        ..Default::default()
    };
    server
        .app
        .store
        .set_project_settings(&Project::parse("default").unwrap(), &settings)
        .await
        .unwrap();
    let refused = unique("refused");
    let answer = batch(
        &server,
        json!([
            {"type": "track", "messageId": "bad", "anonymousId": refused, "event": "Bad Name",
             "context": {"ip": "203.0.113.7", "page": {"url": "https://example.com/?utm_source=x"}}},
        ]),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["failed"][0]["messageId"], "bad",
        "{}",
        answer.body
    );
    let shown = server
        .public("/session/show", &json!({"uuid": uuid_of(&refused)}))
        .await;
    assert_eq!(
        shown.status, 404,
        "a refused message left a session: {}",
        shown.body
    );

    // 101 identifies: the first hundred are applied, the last refused and listed.
    let anon = unique("crowd");
    let identifies: Vec<Value> = (0..101)
        .map(|i| {
            json!({"type": "identify", "messageId": format!("i-{i}"),
                        "anonymousId": format!("{anon}-{i}"), "userId": format!("{anon}-user-{i}")})
        })
        .collect();
    let answer = batch(&server, Value::Array(identifies)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let failed = answer.body["failed"].as_array().expect("failed");
    assert_eq!(failed.len(), 1, "{}", answer.body);
    assert_eq!(failed[0]["index"], 100);
    assert!(
        failed[0]["error"].as_str().unwrap().contains("at most 100"),
        "{}",
        answer.body
    );
    assert_eq!(
        user_show(&server, &format!("{anon}-user-99")).await.status,
        200
    );
    assert_eq!(
        user_show(&server, &format!("{anon}-user-100")).await.status,
        404
    );
}
