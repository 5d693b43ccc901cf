//! Users and companies, event types and sources, over real HTTP on both engines: identify
//! links a UUID to a user (and the user to a company), the UUID's later events carry both,
//! `session/show`, `user/show` and `company/show` read them back; moves between users and
//! companies leave nothing behind; every event has a type and a source, checked on the way in.
//!
//! On DynamoDB a company's `users_count` is kept by the stream consumer: the tests settle it
//! (as the `count` function would) before they read it.

use atrack_tests::{
    Answer, Engine, SECRET_KEY, ServerOptions, TestServer, assert_error, on_both_engines,
};
use serde_json::{Value, json};
use uuid::Uuid;

on_both_engines!(
    identify_links_a_uuid_and_its_later_events_carry_the_user_and_company,
    a_uuid_moves_between_users_and_a_user_between_companies,
    company_members_page_by_a_hundred_with_a_signed_cursor,
    bad_identities_are_refused_and_change_nothing,
    events_have_a_type_and_a_source_checked_on_the_way_in,
);

async fn server(engine: Engine) -> TestServer {
    TestServer::start(ServerOptions::new(engine)).await
}

fn new_uuid() -> String {
    Uuid::new_v4().to_string()
}

/// A unique id, so that tests sharing a store (DynamoDB Local) never meet.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

async fn identify(server: &TestServer, body: Value) -> Answer {
    server.public("/identify", &body).await
}

async fn user_show(server: &TestServer, user_id: &str) -> Answer {
    server
        .secret("/user/show", &json!({"user_id": user_id}))
        .await
}

async fn company_show(server: &TestServer, body: Value) -> Answer {
    server.secret("/company/show", &body).await
}

/// The UUID's events as session/show lists them, newest first.
async fn events_of(server: &TestServer, uuid: &str) -> Vec<Value> {
    server.session(uuid).await["events"]
        .as_array()
        .expect("events")
        .clone()
}

async fn identify_links_a_uuid_and_its_later_events_carry_the_user_and_company(engine: Engine) {
    let server = server(engine).await;
    let (phone, laptop) = (new_uuid(), new_uuid());
    let (user, company) = (unique("user"), unique("acme"));

    // Before identify: a stranger.
    let before = server
        .public("/event", &json!({"uuid": phone, "event": "opened_app"}))
        .await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(server.session(&phone).await["session"]["user"], Value::Null);

    let linked = identify(
        &server,
        json!({"uuid": phone, "user_id": user, "traits": {"email": "ada@example.com", "plan": "pro"},
               "company_id": company, "company_traits": {"name": "Acme", "industry": "tools"}}),
    )
    .await;
    assert_eq!(linked.status, 200, "{}", linked.body);
    assert_eq!(
        linked.body,
        json!({"success": true, "uuid": phone, "user_id": user, "company_id": company})
    );
    // The laptop too, with a trait merged in and no company named: the user keeps theirs.
    let again = identify(
        &server,
        json!({"uuid": laptop, "user_id": user, "traits": {"name": "Ada"}}),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.body);

    for uuid in [&phone, &laptop] {
        let stored = server
            .public("/event", &json!({"uuid": uuid, "event": "checkout"}))
            .await;
        assert_eq!(stored.status, 200, "{}", stored.body);
    }

    // session/show: the session says whose it is; events after the identify carry it.
    let session = server.session(&phone).await;
    assert_eq!(
        session["session"]["user"],
        json!({"user_id": user, "company_id": company,
               "traits": {"email": "ada@example.com", "plan": "pro", "name": "Ada"}})
    );
    let events = &session["events"];
    let names: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "checkout",
            "identify_company",
            "identify_user",
            "opened_app"
        ]
    );
    let checkout = &events[0];
    assert_eq!(checkout["user_id"], user.as_str());
    assert_eq!(checkout["company_id"], company.as_str());
    assert_eq!(checkout["type"], "track");
    assert_eq!(checkout["source"], "web-client");
    assert_eq!(events[1]["type"], "identify_company");
    assert_eq!(
        events[1]["attributes"],
        json!({"name": "Acme", "industry": "tools"})
    );
    assert_eq!(events[2]["type"], "identify_user");
    assert_eq!(
        events[2]["attributes"],
        json!({"email": "ada@example.com", "plan": "pro"})
    );
    assert_eq!(events[2]["user_id"], user.as_str());
    // Stored before the identify: it stays a stranger's.
    assert_eq!(events[3]["user_id"], Value::Null);
    let laptop_events = events_of(&server, &laptop).await;
    assert_eq!(laptop_events[0]["name"], "checkout");
    assert_eq!(laptop_events[0]["company_id"], company.as_str());

    // event/show's rows carry them too.
    let listed = server
        .secret("/event/show", &json!({"name": "checkout", "per_page": 100}))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let mine: Vec<&Value> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["uuid"] == phone.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{}", listed.body);
    assert_eq!(mine[0]["user_id"], user.as_str());
    assert_eq!(mine[0]["source"], "web-client");

    server.settle().await;
    let shown = user_show(&server, &user).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let data = &shown.body["data"];
    assert_eq!(data["user"]["user_id"], user.as_str());
    assert_eq!(data["user"]["company_id"], company.as_str());
    assert_eq!(
        data["user"]["traits"],
        json!({"email": "ada@example.com", "plan": "pro", "name": "Ada"})
    );
    let mut expected = vec![phone.clone(), laptop.clone()];
    expected.sort();
    assert_eq!(data["user"]["uuids"], json!(expected));
    let first = data["user"]["first_seen_at"]
        .as_str()
        .expect("first_seen_at");
    let last = data["user"]["last_seen_at"].as_str().expect("last_seen_at");
    assert!(first <= last, "{first} > {last}");
    assert_eq!(data["company"]["company_id"], company.as_str());
    assert_eq!(
        data["company"]["traits"],
        json!({"name": "Acme", "industry": "tools"})
    );
    assert_eq!(data["company"]["users_count"], 1);

    let shown = company_show(&server, json!({"company_id": company})).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.body["data"]["users_count"], 1);
    assert_eq!(shown.body["data"]["user_ids"], json!([user]));
    assert_eq!(shown.body["data"]["next_cursor"], Value::Null);
    assert_eq!(shown.body["data"]["traits"]["name"], "Acme");
}

async fn a_uuid_moves_between_users_and_a_user_between_companies(engine: Engine) {
    let server = server(engine).await;
    let (shared_device, own_device) = (new_uuid(), new_uuid());
    let (ada, bob) = (unique("ada"), unique("bob"));
    let (acme, globex) = (unique("acme"), unique("globex"));

    for (uuid, user, company) in [(&shared_device, &ada, &acme), (&own_device, &ada, &acme)] {
        let linked = identify(
            &server,
            json!({"uuid": uuid, "user_id": user, "company_id": company}),
        )
        .await;
        assert_eq!(linked.status, 200, "{}", linked.body);
    }
    // Bob signs in on the shared device: it is his now, and no longer Ada's.
    let moved = identify(&server, json!({"uuid": shared_device, "user_id": bob})).await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let shown = user_show(&server, &ada).await;
    assert_eq!(shown.body["data"]["user"]["uuids"], json!([own_device]));
    let shown = user_show(&server, &bob).await;
    assert_eq!(shown.body["data"]["user"]["uuids"], json!([shared_device]));
    assert_eq!(shown.body["data"]["company"], Value::Null);
    assert_eq!(
        server.session(&shared_device).await["session"]["user"]["user_id"],
        bob.as_str()
    );

    // Ada moves to Globex: Acme loses her, Globex gains her, and her device's next events say so.
    let moved = identify(
        &server,
        json!({"uuid": own_device, "user_id": ada, "company_id": globex}),
    )
    .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    server.settle().await;
    let acme_now = company_show(&server, json!({"company_id": acme})).await;
    assert_eq!(acme_now.status, 200, "{}", acme_now.body);
    assert_eq!(acme_now.body["data"]["users_count"], 0);
    assert_eq!(acme_now.body["data"]["user_ids"], json!([]));
    let globex_now = company_show(&server, json!({"company_id": globex})).await;
    assert_eq!(globex_now.body["data"]["users_count"], 1);
    assert_eq!(globex_now.body["data"]["user_ids"], json!([ada]));
    let stored = server
        .public("/event", &json!({"uuid": own_device, "event": "renewed"}))
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(
        events_of(&server, &own_device).await[0]["company_id"],
        globex.as_str()
    );
    // Bob's device was never Ada's company's to move.
    let stored = server
        .public("/event", &json!({"uuid": shared_device, "event": "opened"}))
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    let newest = &events_of(&server, &shared_device).await[0];
    assert_eq!(newest["user_id"], bob.as_str());
    assert_eq!(newest["company_id"], Value::Null);

    // Erasing a session takes it off its user's list.
    let erased = server
        .secret("/session/delete", &json!({"uuid": own_device}))
        .await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    let shown = user_show(&server, &ada).await;
    assert_eq!(shown.body["data"]["user"]["uuids"], json!([]));
}

async fn company_members_page_by_a_hundred_with_a_signed_cursor(engine: Engine) {
    let server = server(engine).await;
    let company = unique("big");
    let mut users: Vec<String> = (0..105).map(|i| format!("member-{i:03}")).collect();
    for user in &users {
        let linked = identify(
            &server,
            json!({"uuid": new_uuid(), "user_id": format!("{company}-{user}"), "company_id": company}),
        )
        .await;
        assert_eq!(linked.status, 200, "{}", linked.body);
    }
    users = users.iter().map(|u| format!("{company}-{u}")).collect();
    users.sort();
    server.settle().await;

    let first = company_show(&server, json!({"company_id": company})).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["data"]["users_count"], 105);
    assert_eq!(first.body["data"]["user_ids"], json!(users[..100]));
    let cursor = first.body["data"]["next_cursor"]
        .as_str()
        .expect("a cursor for the rest")
        .to_owned();
    let second = company_show(&server, json!({"company_id": company, "cursor": cursor})).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["data"]["user_ids"], json!(users[100..]));
    assert_eq!(second.body["data"]["next_cursor"], Value::Null);

    // A cursor is the company's own: forged, or another company's, is a 400.
    let forged = company_show(
        &server,
        json!({"company_id": company, "cursor": format!("{cursor}x")}),
    )
    .await;
    assert_error(&forged, 400, "invalid_cursor");
    let other = unique("other");
    let linked = identify(
        &server,
        json!({"uuid": new_uuid(), "user_id": unique("u"), "company_id": other}),
    )
    .await;
    assert_eq!(linked.status, 200);
    let foreign = company_show(&server, json!({"company_id": other, "cursor": cursor})).await;
    assert_error(&foreign, 400, "invalid_cursor");
}

async fn bad_identities_are_refused_and_change_nothing(engine: Engine) {
    let server = server(engine).await;
    let uuid = new_uuid();
    for (body, field) in [
        (json!({"uuid": uuid}), "user_id"),
        (json!({"uuid": uuid, "user_id": ""}), "user_id"),
        (json!({"uuid": uuid, "user_id": "a\u{7}b"}), "user_id"),
        (json!({"uuid": uuid, "user_id": "x".repeat(256)}), "user_id"),
        (json!({"uuid": uuid, "user_id": 42}), "user_id"),
        (json!({"user_id": "someone"}), "uuid"),
        (
            json!({"uuid": uuid, "user_id": "ok", "company_id": "c\nd"}),
            "company_id",
        ),
        (
            json!({"uuid": uuid, "user_id": "ok", "company_id": "y".repeat(256)}),
            "company_id",
        ),
        (
            json!({"uuid": uuid, "user_id": "ok", "company_traits": {"a": 1}}),
            "company_traits",
        ),
        (
            json!({"uuid": uuid, "user_id": "ok", "traits": "not a map"}),
            "traits",
        ),
    ] {
        let refused = identify(&server, body.clone()).await;
        assert_error(&refused, 422, "validation_failed");
        let fields: Vec<&str> = refused.body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{body}: {}", refused.body);
    }
    // Nothing was stored: no session, no user.
    let session = server.public("/session/show", &json!({"uuid": uuid})).await;
    assert_error(&session, 404, "not_found");
    assert_error(&user_show(&server, "ok").await, 404, "not_found");
    assert_error(
        &company_show(&server, json!({"company_id": unique("none")})).await,
        404,
        "not_found",
    );
    // Reads need the secret key; a malformed read is a 422.
    let public = server.public("/user/show", &json!({"user_id": "ok"})).await;
    assert_error(&public, 403, "forbidden");
    assert_error(
        &server.secret("/user/show", &json!({"user_id": ""})).await,
        422,
        "validation_failed",
    );
    assert_error(
        &server.secret("/company/show", &json!({})).await,
        422,
        "validation_failed",
    );
}

async fn events_have_a_type_and_a_source_checked_on_the_way_in(engine: Engine) {
    let server = server(engine).await;
    let uuid = new_uuid();
    let stored = server
        .public(
            "/event",
            &json!({"uuid": uuid, "event": "checklist:2:SEEN", "type": "interaction"}),
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    let stored = server
        .post(
            "/event",
            Some(SECRET_KEY),
            &json!({"uuid": uuid, "event": "invoice_paid", "timestamp": "2026-04-12T02:00:00Z"}),
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    let batch = server
        .public(
            "/batch",
            &json!({"events": [
                {"uuid": uuid, "event": "feature_tag_7", "type": "track_feature",
                 "source": "backend-zendesk", "timestamp": "2026-04-12T01:00:00Z"},
                {"uuid": uuid, "event": "Signed up", "type": "interaction"},
                {"uuid": uuid, "event": "x", "type": "made_up"},
                {"uuid": uuid, "event": "y", "source": "mobile"},
            ]}),
        )
        .await;
    assert_eq!(batch.status, 200, "{}", batch.body);
    let statuses: Vec<&str> = batch.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["stored", "invalid", "invalid", "invalid"]);
    let fields = |at: usize| batch.body["results"][at]["error"]["details"][0]["field"].clone();
    assert_eq!(fields(1), "event");
    assert_eq!(fields(2), "type");
    assert_eq!(fields(3), "source");

    for (body, field) in [
        (
            json!({"uuid": uuid, "event": "checklist:2", "type": "interaction"}),
            "event",
        ),
        (json!({"uuid": uuid, "event": "a", "type": "Track"}), "type"),
        (
            json!({"uuid": uuid, "event": "a", "source": "backend-"}),
            "source",
        ),
        (json!({"uuid": uuid, "event": "a", "source": 7}), "source"),
    ] {
        let refused = server.public("/event", &body).await;
        assert_error(&refused, 422, "validation_failed");
        assert_eq!(
            refused.body["error"]["details"][0]["field"], field,
            "{body}"
        );
    }

    let events = events_of(&server, &uuid).await;
    let seen: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["type"].as_str().unwrap(),
                e["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen.len(),
        3,
        "only the valid events were stored: {events:?}"
    );
    assert!(seen.contains(&("checklist:2:SEEN", "interaction", "web-client")));
    assert!(seen.contains(&("invoice_paid", "track", "backend-http")));
    assert!(seen.contains(&("feature_tag_7", "track_feature", "backend-zendesk")));
}
