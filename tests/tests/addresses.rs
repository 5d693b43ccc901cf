//! Client addresses in the shapes clients really send them (`ipAddress` with a port, in
//! brackets, as a forwarding list, or not an address at all), through the HTTP API on both
//! engines: with IP anonymization on, no uncut address is ever stored, whatever its shape.

use atrack_shared::domain::project::Project;
use atrack_shared::domain::settings::ProjectSettings;
use atrack_shared::store::item::get_s;
use atrack_shared::store::keys::{self, SK};
use atrack_shared::store::table::{Query, SortRange, Table};
use atrack_tests::{Engine, ServerOptions, TestServer, on_both_engines};
use serde_json::json;
use uuid::Uuid;

on_both_engines!(an_anonymizing_project_cuts_addresses_in_every_shape);

async fn an_anonymizing_project_cuts_addresses_in_every_shape(engine: Engine) {
    let mut options = ServerOptions::new(engine);
    options.geo = true;
    let server = TestServer::start(options).await;
    let project = Project::parse("default").unwrap();
    let settings = ProjectSettings {
        anonymize_ip: true,
        retention_days: None,
    };
    server
        .app
        .store
        .set_project_settings(&project, &settings)
        .await
        .unwrap();

    // (as sent, the address stored, a fragment of the full address that must appear nowhere)
    let cases = [
        ("50.89.98.90:443", Some("50.89.98.0"), "98.90"),
        ("50.89.98.90, 10.0.0.1", Some("50.89.98.0"), "98.90"),
        (
            "[2001:db8:85a3::8a2e:370:7348]:80",
            Some("2001:db8:85a3::"),
            "7348",
        ),
        ("not an address 50.89.98.90", None, "98.90"),
        ("junk", None, "junk"),
    ];
    for (sent, stored, secret) in cases {
        let uuid = Uuid::new_v4().to_string();
        let init = json!({"uuid": uuid, "synchronous": true,
            "context": {"client": {"ipAddress": sent}}});
        let answer = server.public("/init", &init).await;
        assert_eq!(answer.status, 200, "{sent}: {}", answer.body);
        let event = json!({"uuid": uuid, "event": "view",
            "context": {"client": {"ipAddress": sent}}});
        assert_eq!(server.public("/event", &event).await.status, 200, "{sent}");

        let session = server.session(&uuid).await["session"].clone();
        assert_eq!(session["ip_address"].as_str(), stored, "{sent}: {session}");
        if stored.is_some_and(|ip| ip.starts_with("50.89")) {
            // The lookup still saw the full address (2001:db8:: is documentation space, with
            // no place in any database).
            assert!(session["ip_data"]["city"].is_object(), "{sent}: {session}");
        }
        let items = server
            .table()
            .query(Query {
                index: None,
                partition: keys::session_pk("default", &uuid),
                range: SortRange::All,
                ascending: true,
                limit: 100,
                start_after: None,
                skip: 0,
            })
            .await
            .unwrap()
            .items;
        let event_row = items
            .iter()
            .find(|i| get_s(i, SK).is_some_and(|sk| sk.starts_with(keys::EVENT_SK_PREFIX)))
            .expect("the event row");
        assert_eq!(
            get_s(event_row, "ip_address"),
            stored,
            "{sent}: {event_row:?}"
        );
        let everything = format!("{items:?}");
        assert!(
            !everything.contains(secret),
            "{sent}: the full address is stored somewhere: {everything}"
        );
    }
}
