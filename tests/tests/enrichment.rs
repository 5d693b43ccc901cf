//! Enrichment end to end: the reference's example init reproduced as the reference's session
//! payload on both engines, inline and through each queue (the embedded worker; SQS on the
//! moto server feeding the `enrich` handler real SQS event payloads), with stale jobs, poison
//! records, queue outages, request-derived context and first touch.

use std::sync::Arc;
use std::time::Duration;

use atrack_shared::domain::time::{ManualClock, Timestamp};
use atrack_shared::queue::embedded::EmbeddedQueue;
use atrack_shared::runtime::worker::process_sqs_batch;
use atrack_shared::store::item::{Attr, get_i64};
use atrack_shared::store::keys;
use atrack_shared::store::table::{Key, Table};
use atrack_tests::{
    Engine, Enrichment, ServerOptions, TestServer, drain, new_queue, on_both_engines, sqs_client,
    sqs_event,
};
use serde_json::{Value, json};

on_both_engines!(
    reference_init_is_enriched_inline,
    reference_init_is_enriched_by_the_embedded_worker,
    embedded_jobs_left_by_a_crash_are_finished_at_the_next_start,
    reference_init_is_enriched_through_sqs_and_a_poison_record_fails_alone,
    a_stale_job_never_overwrites_a_newer_init,
    a_job_that_arrives_before_its_session_is_retried_not_dropped,
    enrichment_keeps_attributes_and_events_written_meanwhile,
    init_enriches_inline_when_sqs_is_unreachable,
    missing_client_context_comes_from_the_request,
    first_touch_is_kept_while_the_latest_init_shows_on_top,
    unparseable_context_is_stored_raw_and_never_fails_init,
    referrers_are_named_with_their_search_term_and_own_site_visits_are_internal,
    phones_of_every_generation_are_mobile_and_tvs_consoles_and_bots_are_not,
);

/// The reference's fbc timestamp: the first sight of the fbclid, 2026-04-12T01:52:35.156Z.
const FIRST_SIGHT: &str = "2026-04-12T01:52:35.156Z";

fn reference_options(engine: Engine, enrichment: Enrichment) -> (ServerOptions, ManualClock) {
    let clock = ManualClock::new(Timestamp::parse_rfc3339(FIRST_SIGHT).unwrap());
    let mut options = ServerOptions::new(engine);
    options.enrichment = enrichment;
    options.geo = true;
    options.clock = Arc::new(clock.clone());
    (options, clock)
}

const HREF: &str = "https://a-track.io/pricing?utm_source=google&utm_campaign=spring-launch&campaign_id=cmp_123&custom_param=test&gclid=gclid_123&fbclid=fbclid_123";
const UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X)";

/// The reference's example init, with the user attributes, client fields and custom data that
/// its example session payload shows.
fn reference_init(synchronous: bool) -> Value {
    json!({
        "context": {
            "url": {
                "href": HREF,
                "source_url": "https://partner.example.com/blog/first-touch",
                "referer": "https://google.com/"
            },
            "client": {
                "ipAddress": "50.89.98.90",
                "userAgent": UA,
                "locale": "en-US",
                "timezone": "America/New_York",
                "screenWidth": 1179,
                "screenHeight": 2556,
                "viewportWidth": 393,
                "viewportHeight": 852
            },
            "user": {"attributes": {"plan": "pro", "signup_step": "landing"}}
        },
        "custom_data": {"landing_variant": "v2", "widget_position": "hero"},
        "synchronous": synchronous
    })
}

/// The reference's example session payload, field for field. The ISP's name depends on the
/// database (the reference's shows "Spectrum"; the free ASN data names the AS's holder), so it
/// is checked for presence and the ASN, not for the brand.
fn assert_reference_session(session: &Value) {
    let query = "?utm_source=google&utm_campaign=spring-launch&campaign_id=cmp_123&custom_param=test&gclid=gclid_123&fbclid=fbclid_123";
    assert_eq!(
        session["url_data"],
        json!({
            "raw": format!("/pricing{query}"),
            "href": HREF,
            "path": "/pricing",
            "query": query,
            "query_all": {
                "utm_source": "google",
                "utm_campaign": "spring-launch",
                "campaign_id": "cmp_123",
                "custom_param": "test",
                "gclid": "gclid_123",
                "fbclid": "fbclid_123"
            },
            "source_url": "https://partner.example.com/blog/first-touch"
        }),
        "{session}"
    );
    assert_eq!(
        session["utm_data"],
        json!({"utm_source": "google", "utm_campaign": "spring-launch", "campaign_id": "cmp_123"})
    );
    assert_eq!(session["query_params"], json!({"custom_param": "test"}));
    assert_eq!(
        session["click_ids"],
        json!({"gclid": "gclid_123", "fbclid": "fbclid_123", "fbc": "fb.1.1775958755156.fbclid_123"})
    );
    assert_eq!(session["source"], "google");
    assert_eq!(session["medium"], "cpc");
    assert_eq!(session["referer"], "https://google.com/");
    assert_eq!(session["ip_address"], "50.89.98.90");
    let ip_data = &session["ip_data"];
    assert_eq!(ip_data["ip"], "50.89.98.90");
    assert_eq!(
        ip_data["city"]["country"],
        json!({"iso_code": "US", "names": {"en": "United States"}})
    );
    assert_eq!(
        ip_data["city"]["location"],
        json!({"latitude": 28.53, "longitude": -81.4807, "time_zone": "America/New_York"})
    );
    let isp = &ip_data["isp"];
    assert!(isp["isp"].as_str().is_some_and(|s| !s.is_empty()), "{isp}");
    assert!(
        isp["organization"].as_str().is_some_and(|s| !s.is_empty()),
        "{isp}"
    );
    assert_eq!(isp["asn"], 33363, "Charter/Spectrum's AS");
    let device = &session["device_data"];
    assert_eq!(device["model"], "iPhone");
    assert_eq!(device["os"], json!({"name": "iOS", "version": "17.2"}));
    assert_eq!(
        device["client"],
        json!({"name": "Mobile Safari", "version": "17.2"})
    );
    assert_eq!(device["is_mobile"], true);
    assert_eq!(device["is_desktop"], false);
    assert_eq!(
        session["client_attributes"],
        json!({"locale": "en-US", "timezone": "America/New_York", "screenWidth": 1179,
            "screenHeight": 2556, "viewportWidth": 393, "viewportHeight": 852})
    );
    assert_eq!(
        session["user_attributes"],
        json!({"plan": "pro", "signup_step": "landing"})
    );
    assert_eq!(
        session["custom_data"],
        json!({"landing_variant": "v2", "widget_position": "hero"})
    );
    assert_eq!(session["created_at"], "2026-04-12T01:52:35.156000Z");
    assert_eq!(session["updated_at"], "2026-04-12T01:52:35.156000Z");
    assert_eq!(session["first_touch"]["source"], "google");
}

async fn reference_init_is_enriched_inline(engine: Engine) {
    let (options, _) = reference_options(engine, Enrichment::Inline);
    let server = TestServer::start(options).await;
    let init = server.public("/init", &reference_init(true)).await;
    assert_eq!(init.status, 200, "{}", init.body);
    assert_eq!(init.body["queued"], false);
    let data = server.session(init.body["uuid"].as_str().unwrap()).await;
    assert_reference_session(&data["session"]);
}

/// Polls session/show until enrichment has written `source`.
async fn enriched_session(server: &TestServer, uuid: &str) -> Value {
    for _ in 0..200 {
        let data = server.session(uuid).await;
        if data["session"]["source"].is_string() {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("session {uuid} was not enriched within 5 s");
}

async fn reference_init_is_enriched_by_the_embedded_worker(engine: Engine) {
    let (options, _) = reference_options(engine, Enrichment::EmbeddedWorker);
    let server = TestServer::start(options).await;
    let init = server.public("/init", &reference_init(false)).await;
    assert_eq!(init.status, 200, "{}", init.body);
    assert_eq!(init.body["queued"], true);
    let data = enriched_session(&server, init.body["uuid"].as_str().unwrap()).await;
    assert_reference_session(&data["session"]);
    // synchronous: true bypasses the queue even when there is one.
    let inline = server.public("/init", &reference_init(true)).await;
    assert_eq!(inline.body["queued"], false);
    let data = server.session(inline.body["uuid"].as_str().unwrap()).await;
    assert_eq!(data["session"]["source"], "google");
}

async fn embedded_jobs_left_by_a_crash_are_finished_at_the_next_start(engine: Engine) {
    let (options, _) = reference_options(engine, Enrichment::EmbeddedQueueOnly);
    let server = TestServer::start(options).await;
    let mut uuids = Vec::new();
    for _ in 0..3 {
        let init = server.public("/init", &reference_init(false)).await;
        assert_eq!(init.body["queued"], true, "{}", init.body);
        uuids.push(init.body["uuid"].as_str().unwrap().to_owned());
    }
    let queue = EmbeddedQueue::new(server.table().clone());
    assert_eq!(
        queue.pending(10).await.unwrap().len(),
        3,
        "the jobs are stored"
    );
    assert_eq!(
        server.session(&uuids[0]).await["session"]["source"],
        Value::Null
    );

    // The next process starts its worker over the same store and drains what was left.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let app = server.app.clone();
    let worker = tokio::spawn(async move {
        atrack_shared::runtime::worker::run_embedded(&app, &queue, stopped).await;
    });
    for uuid in &uuids {
        assert_reference_session(&enriched_session(&server, uuid).await["session"]);
    }
    let queue = EmbeddedQueue::new(server.table().clone());
    for _ in 0..100 {
        if queue.pending(10).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        queue.pending(10).await.unwrap().is_empty(),
        "finished jobs are acknowledged"
    );
    stop.send(true).unwrap();
    worker.await.unwrap();
}

async fn sqs_server(engine: Engine) -> (TestServer, aws_sdk_sqs::Client, String, ManualClock) {
    let client = sqs_client().await;
    let url = new_queue(&client).await;
    let (options, clock) = reference_options(engine, Enrichment::Sqs(url.clone()));
    (TestServer::start(options).await, client, url, clock)
}

async fn reference_init_is_enriched_through_sqs_and_a_poison_record_fails_alone(engine: Engine) {
    let (server, client, url, _) = sqs_server(engine).await;
    let init = server.public("/init", &reference_init(false)).await;
    assert_eq!(init.status, 200, "{}", init.body);
    assert_eq!(init.body["queued"], true);
    let uuid = init.body["uuid"].as_str().unwrap();
    // Queued, not yet enriched.
    let before = server.session(uuid).await;
    assert_eq!(before["session"]["source"], Value::Null);
    assert_eq!(before["session"]["user_attributes"]["plan"], "pro");

    let messages = drain(&client, &url).await;
    assert_eq!(messages.len(), 1);
    let job: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(job["uuid"], uuid);
    assert!(messages[0].body().unwrap().len() < 200, "jobs stay small");

    let event = sqs_event(
        &messages,
        &[
            ("poison-not-json", "this is not a job"),
            ("poison-wrong-shape", r#"{"project": 5}"#),
            (
                "poison-bad-uuid",
                r#"{"project": "default", "uuid": "nope", "init_seq": 1}"#,
            ),
        ],
    );
    let response = process_sqs_batch(&server.app, event).await;
    let mut failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    failed.sort_unstable();
    assert_eq!(
        failed,
        ["poison-bad-uuid", "poison-not-json", "poison-wrong-shape"]
    );
    assert_reference_session(&server.session(uuid).await["session"]);

    // The response serializes to what Lambda expects of ReportBatchItemFailures.
    let wire = serde_json::to_value(&response).unwrap();
    assert!(
        wire["batchItemFailures"][0]["itemIdentifier"].is_string(),
        "{wire}"
    );

    // A job for a session that does not exist is done, not retried forever.
    let gone = format!(
        r#"{{"project": "default", "uuid": "{}", "init_seq": 1}}"#,
        uuid::Uuid::new_v4()
    );
    let response = process_sqs_batch(&server.app, sqs_event(&[], &[("gone", &gone)])).await;
    assert!(response.batch_item_failures.is_empty());
}

async fn a_stale_job_never_overwrites_a_newer_init(engine: Engine) {
    let (server, client, url, clock) = sqs_server(engine).await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let init = |source: &str| json!({"uuid": uuid, "context": {"url": {"href": format!("https://x.test/?utm_source={source}")}}});
    server.public("/init", &init("first")).await;
    clock.advance_millis(1000);
    server.public("/init", &init("second")).await;
    let mut messages = drain(&client, &url).await;
    assert_eq!(messages.len(), 2);
    // A standard queue does not promise order: sort by the init each job is for.
    messages.sort_by_key(|m| {
        let job: Value = serde_json::from_str(m.body().unwrap()).unwrap();
        job["init_seq"].as_i64().unwrap()
    });
    // The newer job is processed first; the older one arrives late.
    let response = process_sqs_batch(&server.app, sqs_event(&messages[1..], &[])).await;
    assert!(response.batch_item_failures.is_empty());
    let response = process_sqs_batch(&server.app, sqs_event(&messages[..1], &[])).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "a stale job is done, not failed"
    );
    let session = server.session(&uuid).await["session"].clone();
    assert_eq!(session["source"], "second");
    assert_eq!(session["first_touch"]["source"], "first");
}

/// On DynamoDB the `enrich` function may get a job before a read there sees the init that
/// queued it. Played here by taking the session item away, then putting back an older copy:
/// both times the job is handed back to SQS for another try, and succeeds once the init shows.
async fn a_job_that_arrives_before_its_session_is_retried_not_dropped(engine: Engine) {
    let (server, client, url, _) = sqs_server(engine).await;
    let init = server.public("/init", &reference_init(false)).await;
    let uuid = init.body["uuid"].as_str().unwrap().to_owned();
    let messages = drain(&client, &url).await;
    assert_eq!(messages.len(), 1);
    let key = Key::new(keys::session_pk("default", &uuid), keys::SESSION_SK);
    let session = server
        .table()
        .get(&key)
        .await
        .unwrap()
        .expect("the session");

    server.table().delete(&key).await.unwrap();
    let response = process_sqs_batch(&server.app, sqs_event(&messages, &[])).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "a job whose session is not visible yet goes back to the queue"
    );

    let mut older = session.clone();
    let seq = get_i64(&session, "init_seq").unwrap();
    older.insert("init_seq".into(), Attr::n(seq - 1));
    server.table().put(older, None).await.unwrap();
    let response = process_sqs_batch(&server.app, sqs_event(&messages, &[])).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "a job newer than the init it sees goes back to the queue"
    );

    server.table().put(session, None).await.unwrap();
    let response = process_sqs_batch(&server.app, sqs_event(&messages, &[])).await;
    assert!(response.batch_item_failures.is_empty());
    assert_reference_session(&server.session(&uuid).await["session"]);
}

async fn enrichment_keeps_attributes_and_events_written_meanwhile(engine: Engine) {
    let (server, client, url, _) = sqs_server(engine).await;
    let init = server.public("/init", &reference_init(false)).await;
    let uuid = init.body["uuid"].as_str().unwrap().to_owned();
    server
        .public(
            "/attributes",
            &json!({"uuid": uuid, "attributes": {"crm_id": "lead_2048"}}),
        )
        .await;
    server
        .public(
            "/event",
            &json!({"uuid": uuid, "event": "checkout_started"}),
        )
        .await;
    let response =
        process_sqs_batch(&server.app, sqs_event(&drain(&client, &url).await, &[])).await;
    assert!(response.batch_item_failures.is_empty());
    let data = server.session(&uuid).await;
    assert_reference_session(&data["session"]);
    assert_eq!(data["attributes"], json!({"crm_id": "lead_2048"}));
    assert_eq!(data["meta"]["events_count"], 1);
}

async fn init_enriches_inline_when_sqs_is_unreachable(engine: Engine) {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL_SQS").expect("infra/test.sh sets the SQS endpoint");
    // A queue that does not exist: SendMessage fails at once.
    let missing = format!("{endpoint}/123456789012/atrack-no-such-queue");
    let (options, _) = reference_options(engine, Enrichment::Sqs(missing));
    let server = TestServer::start(options).await;
    let init = server.public("/init", &reference_init(false)).await;
    assert_eq!(init.status, 200, "{}", init.body);
    assert_eq!(
        init.body["queued"], false,
        "the fallback says it enriched inline"
    );
    assert_reference_session(&server.session(init.body["uuid"].as_str().unwrap()).await["session"]);
}

async fn missing_client_context_comes_from_the_request(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    let answer = server
        .http
        .post(server.url("/init"))
        .header("x-a-track-key", atrack_tests::PUBLIC_KEY)
        .header("user-agent", chrome)
        // Not trusted by default: a client cannot choose its own IP with this header.
        .header("x-forwarded-for", "8.8.8.8")
        .body(r#"{"context": {"url": {"href": "https://x.test/"}}}"#)
        .send()
        .await
        .unwrap();
    let answer = atrack_tests::answer(answer).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let session = server.session(answer.body["uuid"].as_str().unwrap()).await["session"].clone();
    assert_eq!(session["ip_address"], "127.0.0.1");
    assert_eq!(session["ip_data"]["ip"], "127.0.0.1");
    assert_eq!(session["device_data"]["os"]["name"], "Windows");
    assert_eq!(session["device_data"]["client"]["name"], "Chrome");
    assert_eq!(session["device_data"]["is_desktop"], true);
    assert_eq!(session["source"], "direct");

    // Behind proxies the operator trusts, the client is the X-Forwarded-For entry written by
    // the proxy nearest to it: as many places from the right as there are proxies. Whatever
    // the client wrote to the left of it (6.6.6.6 here) is never taken.
    for (hops, header) in [
        (1, "6.6.6.6, 2001:db8::7"),
        (2, "6.6.6.6, 2001:db8::7, 10.0.0.1"),
    ] {
        let mut options = ServerOptions::new(engine);
        options.config.trust_forwarded_for = true;
        options.config.trusted_proxies = hops;
        let trusted = TestServer::start(options).await;
        let answer = trusted
            .http
            .post(trusted.url("/init"))
            .header("x-a-track-key", atrack_tests::PUBLIC_KEY)
            .header("x-forwarded-for", header)
            .body("{}")
            .send()
            .await
            .unwrap();
        let answer = atrack_tests::answer(answer).await;
        let uuid = answer.body["uuid"].as_str().unwrap().to_owned();
        let session = trusted.session(&uuid).await["session"].clone();
        assert_eq!(
            session["ip_address"], "2001:db8::7",
            "{hops} hops: {header}"
        );
    }
}

async fn first_touch_is_kept_while_the_latest_init_shows_on_top(engine: Engine) {
    let (options, clock) = reference_options(engine, Enrichment::Inline);
    let server = TestServer::start(options).await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let first = server
        .public(
            "/init",
            &json!({"uuid": uuid, "context": {"url": {
            "href": "https://shop.test/?fbclid=abc", "referer": "https://l.facebook.com/"}}}),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    clock.advance_millis(3_600_000);
    server
        .public("/init", &json!({"uuid": uuid, "context": {"url": {
            "href": "https://shop.test/pricing", "referer": "https://www.bing.com/search?q=shop"}}}))
        .await;
    let session = server.session(&uuid).await["session"].clone();
    assert_eq!(session["source"], "bing");
    assert_eq!(session["medium"], "search");
    assert_eq!(session["first_touch"]["source"], "facebook");
    assert_eq!(session["first_touch"]["click_ids"]["fbclid"], "abc");
    // The fbc keeps the time of first sight, not of the later init.
    assert_eq!(
        session["first_touch"]["click_ids"]["fbc"],
        "fb.1.1775958755156.abc"
    );
}

async fn unparseable_context_is_stored_raw_and_never_fails_init(engine: Engine) {
    let (options, _) = reference_options(engine, Enrichment::Inline);
    let server = TestServer::start(options).await;
    let long_ua = format!("Mozilla/5.0 {}", "x".repeat(20_000));
    for (href, ip, ua) in [
        ("ht!tp://%%%zz/[", "999.1.1.1", "\u{1}\u{2} not a browser"),
        (
            "/relative/only?utm_source=%E0%A4%A",
            "::ffff:50.89.98.90",
            "",
        ),
        ("https://x.test/?q=", "fe80::1%eth0", long_ua.as_str()),
    ] {
        let answer = server
            .public(
                "/init",
                &json!({"context": {"url": {"href": href}, "client": {"ipAddress": ip, "userAgent": ua}}}),
            )
            .await;
        assert_eq!(answer.status, 200, "{href} {ip}: {}", answer.body);
        let session =
            server.session(answer.body["uuid"].as_str().unwrap()).await["session"].clone();
        assert_eq!(session["url_data"]["href"], href);
        assert!(session["ip_data"]["ip"].is_string(), "{session}");
        assert!(session["source"].is_string());
    }
    // A long query string is capped in storage, not fatal.
    let long_href = format!("https://x.test/?q={}", "a".repeat(30_000));
    let answer = server
        .public(
            "/init",
            &json!({"synchronous": true, "context": {"url": {"href": long_href}}}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let session = server.session(answer.body["uuid"].as_str().unwrap()).await["session"].clone();
    let stored = session["url_data"]["href"].as_str().unwrap();
    assert!(stored.len() <= 8 * 1024 && stored.starts_with("https://x.test/?q=aaa"));
}

async fn referrers_are_named_with_their_search_term_and_own_site_visits_are_internal(
    engine: Engine,
) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    // (referrer, source, medium, search_term)
    let cases = [
        (
            "https://www.bing.com/search?q=session+tracking&form=QBLH",
            "bing",
            "search",
            Some("session tracking"),
        ),
        (
            "https://search.yahoo.co.jp/search?p=%E6%9D%B1%E4%BA%AC",
            "yahoo",
            "search",
            Some("東京"),
        ),
        ("https://www.google.co.uk/", "google", "search", None),
        (
            "https://l.facebook.com/l.php?u=x",
            "facebook",
            "social",
            None,
        ),
        (
            "https://news.ycombinator.com/item?id=1",
            "hacker_news",
            "social",
            None,
        ),
        ("https://mail.google.com/mail/u/0/", "gmail", "email", None),
        ("https://outlook.office.com/mail/", "outlook", "email", None),
        ("https://chatgpt.com/", "chatgpt", "chatbot", None),
        (
            "https://www.perplexity.ai/search/x",
            "perplexity",
            "chatbot",
            None,
        ),
        ("https://shop.test/cart", "internal", "internal", None),
        (
            "https://blog.partner.example.co.uk/post",
            "example.co.uk",
            "referral",
            None,
        ),
    ];
    for (referer, source, medium, search_term) in cases {
        let init = server
            .public(
                "/init",
                &json!({"synchronous": true, "context": {"url": {
                    "href": "https://www.shop.test/pricing", "referer": referer}}}),
            )
            .await;
        assert_eq!(init.status, 200, "{}", init.body);
        let session = server.session(init.body["uuid"].as_str().unwrap()).await["session"].clone();
        assert_eq!(session["source"], source, "{referer}");
        assert_eq!(session["medium"], medium, "{referer}");
        assert_eq!(session["search_term"], json!(search_term), "{referer}");
        assert_eq!(
            session["first_touch"]["search_term"],
            json!(search_term),
            "{referer}"
        );
        assert_eq!(session["referer"], referer);
    }
    // Beside source and medium in session/show's order, and null when there is none.
    let init = server
        .public(
            "/init",
            &json!({"synchronous": true, "context": {"url": {"href": "https://x.test/"}}}),
        )
        .await;
    let session = server.session(init.body["uuid"].as_str().unwrap()).await["session"].clone();
    let names: Vec<&str> = session
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let at = |name: &str| names.iter().position(|n| *n == name).unwrap();
    assert_eq!(
        (at("medium") + 1, at("search_term") + 1),
        (at("search_term"), at("referer"))
    );
    assert_eq!(
        (session["source"].as_str(), session["search_term"].clone()),
        (Some("direct"), Value::Null)
    );
}

async fn phones_of_every_generation_are_mobile_and_tvs_consoles_and_bots_are_not(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    // (user agent, os, client, is_mobile, is_desktop, is_bot)
    let cases = [
        (
            "Mozilla/5.0 (Mobile; LYF/F300B/LYF-F300B-001-01-15-130718-i; Android; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5",
            Some("KaiOS"),
            Some("Firefox Mobile"),
            true,
            false,
            false,
        ),
        (
            "SAMSUNG-SGH-E250/1.0 Profile/MIDP-2.0 Configuration/CLDC-1.1 UP.Browser/6.2.3.3.c.1.101 (GUI) MMP/2.0",
            Some("Java ME"),
            Some("Openwave Mobile Browser"),
            true,
            false,
            false,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.17763",
            Some("Windows"),
            Some("Microsoft Edge"),
            false,
            true,
            false,
        ),
        (
            "Mozilla/4.0 (compatible; MSIE 5.5; Windows 98; Win 9x 4.90)",
            Some("Windows"),
            Some("Internet Explorer"),
            false,
            true,
            false,
        ),
        (
            "Mozilla/5.0 (PlayStation 4 3.11) AppleWebKit/537.73 (KHTML, like Gecko)",
            Some("PlayStation"),
            None,
            false,
            false,
            false,
        ),
        (
            "Mozilla/5.0 (SMART-TV; Linux; Tizen 5.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/2.2 Chrome/63.0.3239.84 TV Safari/537.36",
            Some("Tizen"),
            Some("Samsung Browser"),
            false,
            false,
            false,
        ),
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
            None,
            None,
            false,
            false,
            true,
        ),
    ];
    for (ua, os, client, mobile, desktop, bot) in cases {
        let init = server
            .public(
                "/init",
                &json!({"synchronous": true, "context": {"client": {"userAgent": ua}}}),
            )
            .await;
        assert_eq!(init.status, 200, "{}", init.body);
        let device =
            server.session(init.body["uuid"].as_str().unwrap()).await["session"]["device_data"]
                .clone();
        if let Some(os) = os {
            assert_eq!(device["os"]["name"], os, "{ua}: {device}");
        }
        if let Some(client) = client {
            assert_eq!(device["client"]["name"], client, "{ua}: {device}");
        }
        assert_eq!(
            (
                &device["is_mobile"],
                &device["is_desktop"],
                &device["is_bot"]
            ),
            (&json!(mobile), &json!(desktop), &json!(bot)),
            "{ua}: {device}"
        );
    }
}
