//! The storage conformance suite: every behaviour of the `Table` contract and of the repository
//! above it, run against the embedded engine and against DynamoDB Local. A difference between
//! the engines is a bug in one of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use atrack_shared::domain::commands::EventRequest;
use atrack_shared::domain::plan::{NameList, Naming, TrackingPlan};
use atrack_shared::domain::project::{KeyRegistration, Project, Scope};
use atrack_shared::domain::settings::ProjectSettings;
use atrack_shared::domain::time::{Clock, ManualClock, Timestamp};
use atrack_shared::domain::values::Sort;
use atrack_shared::domain::values::{Attributes, EventId, EventName, Limits, SessionUuid};
use atrack_shared::store::AnyTable;
use atrack_shared::store::item::{Attr, Item, get_i64, get_s};
use atrack_shared::store::keys::{
    COUNTED_IN, GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK,
};
use atrack_shared::store::repo::{InitWrite, ListError, Repo, SESSION_EVENTS_LIMIT};
use atrack_shared::store::table::{
    Condition, Key, Page, Query, Read, SortRange, StoreError, StoreResult, Table, Update, UpdateOp,
    Write,
};
use atrack_tests::{Engine, TestTable, on_both_engines, open_table};
use serde_json::json;

on_both_engines!(
    put_then_get_round_trips_every_attribute_type,
    conditional_put_refuses_an_existing_item_and_changes_nothing,
    update_applies_every_operation_and_returns_the_new_item,
    merge_map_keeps_other_entries_and_takes_hostile_key_names,
    merging_an_empty_map_changes_nothing_and_succeeds,
    numbers_read_back_as_the_numbers_written,
    a_read_of_named_paths_returns_just_those,
    an_event_reads_its_session_and_visit_in_one_request,
    failed_update_condition_changes_nothing,
    absent_or_at_most_guards_numbers,
    table_query_pages_cover_every_item_once_in_order,
    index_query_orders_by_index_sort_key_both_ways,
    query_ranges_select_by_sort_key,
    between_includes_both_bounds_on_the_table_and_an_index,
    a_keys_only_index_answers_with_keys_only,
    read_many_answers_in_the_order_asked_beyond_one_request,
    scan_visits_every_item_once_page_by_page,
    the_backfill_puts_old_events_into_the_time_index_once,
    skip_passes_over_items_in_order_even_across_1_mb_pages,
    delete_and_batch_write_beyond_one_chunk,
    an_item_past_400_kb_is_refused_whole,
    init_creates_then_continues_a_session,
    attributes_merge_or_replace,
    event_for_unknown_uuid_creates_a_minimal_session,
    event_takes_ip_and_user_agent_from_its_session_unless_given,
    retried_event_id_is_stored_once,
    retried_client_stamped_event_is_one_write_and_stored_once,
    one_time_and_event_id_in_many_sessions_list_in_one_total_order,
    index_counts_follow_inserts_moves_and_deletes,
    counted_in_names_are_counted_like_index_partitions,
    put_new_writes_only_keys_that_are_absent,
    session_with_events_returns_the_newest_hundred,
    event_listing_pages_by_number_and_by_cursor_agree,
    cursor_cannot_be_forged_or_reused_across_names,
    the_cursor_secret_comes_with_the_deployment_and_never_enters_the_table,
    projects_never_see_each_other,
    keys_resolve_by_hash_and_can_be_revoked,
    registering_a_key_says_whether_it_is_new_already_there_taken_or_revoked,
    a_tracking_plan_round_trips_with_the_settings_and_clears_back_to_the_default,
    dropped_events_are_counted_exactly_per_project,
);

fn key(pk: &str, sk: &str) -> Key {
    Key::new(pk, sk)
}

fn item(pk: &str, sk: &str, rest: &[(&str, Attr)]) -> Item {
    let mut item = Item::from([(PK.to_owned(), Attr::s(pk)), (SK.to_owned(), Attr::s(sk))]);
    for (name, value) in rest {
        item.insert((*name).to_owned(), value.clone());
    }
    item
}

fn sks(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| get_s(i, SK).unwrap_or_default().to_owned())
        .collect()
}

async fn put_then_get_round_trips_every_attribute_type(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let value = json!({"cart_value": 129.99, "n": 3, "neg": -7, "big": 18446744073709551615u64,
        "flags": {"beta": true, "nested": {"deep": [1, "two", null, false]}},
        "empty_map": {}, "empty_list": [], "text": "naïve ☃", "zero": 0, "tiny": 1.5e-7});
    let stored = item("P#a#U#1", "~SESSION", &[("data", Attr::from_json(&value))]);
    table.put(stored.clone(), None).await.unwrap();
    let read = table
        .get(&key("P#a#U#1", "~SESSION"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.get("data").map(Attr::to_json), Some(value));
    assert_eq!(read, stored);
    assert!(table.get(&key("P#a#U#1", "other")).await.unwrap().is_none());
}

async fn conditional_put_refuses_an_existing_item_and_changes_nothing(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let first = item("p", "s", &[("v", Attr::n(1))]);
    table
        .put(first.clone(), Some(Condition::NotExists))
        .await
        .unwrap();
    let second = item("p", "s", &[("v", Attr::n(2))]);
    let err = table
        .put(second, Some(Condition::NotExists))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert_eq!(table.get(&key("p", "s")).await.unwrap(), Some(first));
    // `Exists` refuses an absent item.
    let err = table
        .put(item("p", "absent", &[]), Some(Condition::Exists))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert!(table.get(&key("p", "absent")).await.unwrap().is_none());
}

async fn update_applies_every_operation_and_returns_the_new_item(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let k = key("p", "s");
    // An update on an absent item creates it.
    let created = table
        .update(Update {
            key: k.clone(),
            ops: vec![
                UpdateOp::Set("a".into(), Attr::s("one")),
                UpdateOp::SetIfAbsent("b".into(), Attr::n(1)),
                UpdateOp::Add("count".into(), 5),
                UpdateOp::Set("gone".into(), Attr::Bool(true)),
            ],
            condition: None,
        })
        .await
        .unwrap();
    assert_eq!(get_s(&created, "a"), Some("one"));
    assert_eq!(get_i64(&created, "count"), Some(5));
    assert_eq!(get_s(&created, PK), Some("p"));

    let updated = table
        .update(Update {
            key: k.clone(),
            ops: vec![
                UpdateOp::Set("a".into(), Attr::s("two")),
                UpdateOp::SetIfAbsent("b".into(), Attr::n(2)),
                UpdateOp::Add("count".into(), -2),
                UpdateOp::Remove("gone".into()),
            ],
            condition: Some(Condition::Exists),
        })
        .await
        .unwrap();
    assert_eq!(get_s(&updated, "a"), Some("two"));
    assert_eq!(
        get_i64(&updated, "b"),
        Some(1),
        "set-if-absent kept the first value"
    );
    assert_eq!(get_i64(&updated, "count"), Some(3));
    assert!(!updated.contains_key("gone"));
    assert_eq!(table.get(&k).await.unwrap(), Some(updated));
}

async fn merge_map_keeps_other_entries_and_takes_hostile_key_names(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let k = key("p", "s");
    let hostile = [
        "a.b",
        "#name",
        "$dollar",
        "k:v",
        ":value",
        "with space",
        "attribute_exists(x)",
        "=",
        "[0]",
        "ünï",
        "SET x = y",
    ];
    let entries: BTreeMap<String, Attr> = hostile
        .iter()
        .enumerate()
        .map(|(i, k)| ((*k).to_owned(), Attr::n(i as i64)))
        .collect();
    table
        .update(Update {
            key: k.clone(),
            ops: vec![UpdateOp::MergeMap("attributes".into(), entries.clone())],
            condition: None,
        })
        .await
        .unwrap();
    let after = table
        .update(Update {
            key: k.clone(),
            ops: vec![UpdateOp::MergeMap(
                "attributes".into(),
                BTreeMap::from([
                    ("a.b".to_owned(), Attr::s("overwritten")),
                    ("new".to_owned(), Attr::from_json(&json!({"x": [1, 2]}))),
                ]),
            )],
            condition: None,
        })
        .await
        .unwrap();
    let map = after.get("attributes").and_then(Attr::as_m).unwrap();
    assert_eq!(map.len(), hostile.len() + 1);
    assert_eq!(map["a.b"], Attr::s("overwritten"));
    assert_eq!(map["#name"], Attr::n(1));
    assert_eq!(map["SET x = y"], Attr::n(10));
    assert_eq!(map["new"].to_json(), json!({"x": [1, 2]}));
    // No top-level attribute was created from a dotted name.
    assert!(!after.contains_key("a") && !after.contains_key("a.b"));
}

/// `{}` as attributes is valid input: DynamoDB rejects a request that binds a name no
/// expression uses, so an empty merge must bind nothing, and on both engines it is a no-op
/// (no empty map appears where there was none).
async fn merging_an_empty_map_changes_nothing_and_succeeds(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let k = key("p", "s");
    let empty = || UpdateOp::MergeMap("attrs".into(), BTreeMap::new());
    // With other operations beside it, on an absent and on a present item.
    for _ in 0..2 {
        let item = table
            .update(Update {
                key: k.clone(),
                ops: vec![UpdateOp::Set("v".into(), Attr::n(1)), empty()],
                condition: None,
            })
            .await
            .unwrap();
        assert!(!item.contains_key("attrs"), "{item:?}");
    }
    // Alone, on a present item: nothing to write, the item comes back as it is.
    let alone = table
        .update(Update {
            key: k.clone(),
            ops: vec![empty()],
            condition: Some(Condition::Exists),
        })
        .await
        .unwrap();
    assert_eq!(alone.get("v"), Some(&Attr::n(1)));
    assert!(!alone.contains_key("attrs"));
    // Alone, with a condition that fails: still a condition failure.
    let err = table
        .update(Update {
            key: key("p", "absent"),
            ops: vec![empty()],
            condition: Some(Condition::Exists),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert!(table.get(&key("p", "absent")).await.unwrap().is_none());
}

/// A number stored is the number read back, on both engines and in the same spelling: the
/// ends of the accepted range, floats that a fast parser rounds wrongly, integers past 2^53,
/// and whole floats (which DynamoDB answers as integers).
async fn numbers_read_back_as_the_numbers_written(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let cases = [
        ("9.8e125", "9.8e125"),
        ("9.9e125", "9.9e125"),
        ("-9.9e125", "-9.9e125"),
        ("1e-130", "1e-130"),
        ("1.5e-130", "1.5e-130"),
        ("-1.5e-130", "-1.5e-130"),
        ("0.1", "0.1"),
        ("129.99", "129.99"),
        ("1.5e-7", "1.5e-7"),
        ("9007199254740993", "9007199254740993"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("18446744073709551615", "18446744073709551615"),
        ("1.0", "1"),
        ("-0.0", "0"),
        ("1e19", "10000000000000000000"),
        ("1e20", "1e20"),
        ("123456789.125", "123456789.125"),
    ];
    for (i, (sent, expected)) in cases.iter().enumerate() {
        let value: serde_json::Value = serde_json::from_str(sent).unwrap();
        let k = key("numbers", &format!("{i:02}"));
        table
            .put(item(&k.pk, &k.sk, &[("n", Attr::from_json(&value))]), None)
            .await
            .unwrap();
        let read = table.get(&k).await.unwrap().unwrap();
        let back = read.get("n").map(Attr::to_json).unwrap();
        // Equal as JSON values: the same number and the same kind (integer or float).
        let expected: serde_json::Value = serde_json::from_str(expected).unwrap();
        assert_eq!(back, expected, "{sent} on {engine:?}: read back {back}");
    }
}

/// A read names attribute paths (DynamoDB's ProjectionExpression): the item comes back with
/// only those, nested as stored, and a path through something absent or not a map adds nothing.
async fn a_read_of_named_paths_returns_just_those(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let k = key("p", "s");
    let context = json!({"client": {"ipAddress": "1.2.3.4", "userAgent": "UA", "locale": "en"},
        "url": {"href": "https://x.test/"}});
    table
        .put(
            item(
                &k.pk,
                &k.sk,
                &[
                    ("id", Attr::n(7)),
                    ("context", Attr::from_json(&context)),
                    ("big", Attr::s("x".repeat(4096))),
                ],
            ),
            None,
        )
        .await
        .unwrap();
    let paths: &[&[&str]] = &[
        &["id"],
        &["context", "client", "ipAddress"],
        &["context", "client", "userAgent"],
        &["absent"],
        &["big", "not_a_map"],
        &["context", "url", "missing"],
    ];
    for consistent in [false, true] {
        let mut read = Read::new(&k).only(paths);
        if consistent {
            read = read.consistent();
        }
        let got = table.read(read).await.unwrap().unwrap();
        let expected = Item::from([
            ("id".to_owned(), Attr::n(7)),
            (
                "context".to_owned(),
                Attr::from_json(&json!({"client": {"ipAddress": "1.2.3.4", "userAgent": "UA"}})),
            ),
        ]);
        assert_eq!(got, expected, "consistent: {consistent}");
    }
    assert!(
        table
            .read(Read::new(&key("p", "none")).only(paths))
            .await
            .unwrap()
            .is_none()
    );
}

/// The reads a table is asked for (by key and projection) and the partitions it is asked to
/// query, around a real engine.
struct ReadSpy {
    inner: AnyTable,
    reads: std::sync::Mutex<Vec<(Key, Vec<Vec<String>>)>>,
    queries: std::sync::Mutex<Vec<String>>,
}

impl Table for ReadSpy {
    async fn read(&self, read: Read<'_>) -> StoreResult<Option<Item>> {
        let paths = read
            .paths
            .iter()
            .map(|p| p.iter().map(|s| (*s).to_owned()).collect())
            .collect();
        self.reads.lock().unwrap().push((read.key.clone(), paths));
        self.inner.read(read).await
    }

    async fn scan(&self, start_after: Option<Item>, limit: usize) -> StoreResult<Page> {
        self.inner.scan(start_after, limit).await
    }

    async fn read_many(&self, keys: &[Key]) -> StoreResult<Vec<Option<Item>>> {
        for key in keys {
            self.reads.lock().unwrap().push((key.clone(), Vec::new()));
        }
        self.inner.read_many(keys).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> StoreResult<()> {
        self.inner.put(item, condition).await
    }

    async fn update(&self, update: Update) -> StoreResult<Item> {
        self.inner.update(update).await
    }

    async fn delete(&self, key: &Key) -> StoreResult<()> {
        self.inner.delete(key).await
    }

    async fn query(&self, query: Query) -> StoreResult<Page> {
        self.queries.lock().unwrap().push(query.partition.clone());
        self.inner.query(query).await
    }

    async fn batch_write(&self, writes: Vec<Write>) -> StoreResult<Vec<bool>> {
        self.inner.batch_write(writes).await
    }

    async fn count(&self, counter: &str) -> StoreResult<u64> {
        self.inner.count(counter).await
    }

    fn counts_are_exact(&self) -> bool {
        self.inner.counts_are_exact()
    }

    fn activity_from_stream(&self) -> bool {
        self.inner.activity_from_stream()
    }
}

/// A session item holds kilobytes of context; an event copies its id and two strings of it.
/// An event's write reads what it copies from its session and its UUID's visit with one
/// query of the partition (the same read units as the session alone on DynamoDB, which bills a
/// read by the item's size whatever it returns), never a read per item.
async fn an_event_reads_its_session_and_visit_in_one_request(engine: Engine) {
    let t = open_table(engine).await;
    let spy = ReadSpy {
        inner: t.table.clone(),
        reads: Default::default(),
        queries: Default::default(),
    };
    let clock = ManualClock::new(Timestamp::parse_rfc3339(T0).unwrap());
    let repo = Repo::new(spy, Arc::new(clock.clone()));
    let p = project("acme");
    let uuid = SessionUuid::new_v4();
    let mut init = init_write(uuid, "https://a-track.io/?utm_source=google");
    init.context["client"]["bulk"] = json!("y".repeat(8000));
    repo.init_session(&p, &init).await.unwrap();
    // The first event starts the UUID's first visit; the second continues it.
    for name in ["purchase", "refund"] {
        repo.table().reads.lock().unwrap().clear();
        repo.table().queries.lock().unwrap().clear();
        repo.record_event(&p, new_event(uuid, name, clock.now()), &KEEP)
            .await
            .unwrap();
        let partition = format!("P#acme#U#{uuid}");
        let reads = repo.table().reads.lock().unwrap().clone();
        let queries = repo.table().queries.lock().unwrap().clone();
        assert_eq!(
            queries,
            std::slice::from_ref(&partition),
            "{name}: {queries:?}"
        );
        let of_partition: Vec<_> = reads
            .iter()
            .filter(|(k, _)| k.pk == partition && !k.sk.starts_with("EID#"))
            .collect();
        if name == "refund" {
            assert!(of_partition.is_empty(), "{name}: {of_partition:?}");
        }
        clock.advance_millis(2000);
    }
    // What it copied is right: the session's address and user agent; and both events are of
    // the first visit.
    let found = repo.session_with_events(&p, &uuid).await.unwrap().unwrap();
    assert_eq!(found.events.len(), 2);
    for event in &found.events {
        assert_eq!(get_s(event, "ip_address"), Some("50.89.98.90"));
        assert_eq!(get_s(event, "user_agent"), Some("UA/1.0"));
        assert_eq!(event.get("visit"), Some(&Attr::n(1)));
    }
    assert_eq!(found.session.get("visits"), Some(&Attr::n(1)));
}

async fn failed_update_condition_changes_nothing(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let k = key("p", "s");
    let before = item("p", "s", &[("seq", Attr::n(7)), ("v", Attr::s("old"))]);
    table.put(before.clone(), None).await.unwrap();
    for condition in [
        Condition::Equals("seq".into(), Attr::n(6)),
        Condition::Equals("missing".into(), Attr::n(7)),
        Condition::NotExists,
    ] {
        let err = table
            .update(Update {
                key: k.clone(),
                ops: vec![
                    UpdateOp::Set("v".into(), Attr::s("new")),
                    UpdateOp::MergeMap("m".into(), BTreeMap::from([("x".into(), Attr::n(1))])),
                ],
                condition: Some(condition.clone()),
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::ConditionFailed),
            "{condition:?}: {err:?}"
        );
        assert_eq!(
            table.get(&k).await.unwrap(),
            Some(before.clone()),
            "{condition:?}"
        );
    }
    // Equals on an absent item fails and creates nothing.
    let err = table
        .update(Update {
            key: key("p", "absent"),
            ops: vec![UpdateOp::Set("v".into(), Attr::s("new"))],
            condition: Some(Condition::Equals("seq".into(), Attr::n(1))),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed));
    assert!(table.get(&key("p", "absent")).await.unwrap().is_none());
    // And the matching condition writes.
    let after = table
        .update(Update {
            key: k.clone(),
            ops: vec![UpdateOp::Set("v".into(), Attr::s("new"))],
            condition: Some(Condition::Equals("seq".into(), Attr::n(7))),
        })
        .await
        .unwrap();
    assert_eq!(get_s(&after, "v"), Some("new"));
}

async fn absent_or_at_most_guards_numbers(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let guarded = |bound: i64| Update {
        key: key("p", "s"),
        ops: vec![UpdateOp::Set("n".into(), Attr::n(bound))],
        condition: Some(Condition::AbsentOrAtMost("n".into(), bound)),
    };
    table.update(guarded(5)).await.unwrap(); // absent
    table.update(guarded(5)).await.unwrap(); // equal
    table.update(guarded(9)).await.unwrap(); // larger bound
    let err = table.update(guarded(3)).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed));
    let now = table.get(&key("p", "s")).await.unwrap().unwrap();
    assert_eq!(get_i64(&now, "n"), Some(9));
}

fn event_like(pk: &str, i: usize, index_pk: &str) -> Item {
    item(
        pk,
        &format!("EV#{i:04}"),
        &[
            (GSI1_PK, Attr::s(index_pk)),
            // Index order deliberately differs from table order.
            (GSI1_SK, Attr::S(format!("{:04}", 1000 - i))),
            ("i", Attr::n(i as i64)),
        ],
    )
}

async fn table_query_pages_cover_every_item_once_in_order(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let writes: Vec<Write> = (0..57)
        .map(|i| Write::Put(event_like("part", i, "idx")))
        .collect();
    table.batch_write(writes).await.unwrap();
    table
        .put(item("part", "~SESSION", &[]), None)
        .await
        .unwrap();
    table
        .put(event_like("other", 1, "idx2"), None)
        .await
        .unwrap();

    for ascending in [true, false] {
        let mut seen = Vec::new();
        let mut start_after = None;
        loop {
            let page = table
                .query(Query {
                    index: None,
                    partition: "part".into(),
                    range: SortRange::BeginsWith("EV#".into()),
                    ascending,
                    limit: 10,
                    start_after: start_after.take(),
                    skip: 0,
                })
                .await
                .unwrap();
            assert!(page.items.len() <= 10);
            seen.extend(sks(&page.items));
            match page.last {
                Some(last) => start_after = Some(last),
                None => break,
            }
        }
        let mut expected: Vec<String> = (0..57).map(|i| format!("EV#{i:04}")).collect();
        if !ascending {
            expected.reverse();
        }
        assert_eq!(seen, expected, "ascending={ascending}");
    }
}

async fn index_query_orders_by_index_sort_key_both_ways(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    // Items of one index partition spread over several table partitions.
    for i in 0..12 {
        table
            .put(event_like(&format!("user{}", i % 3), i, "name"), None)
            .await
            .unwrap();
    }
    table
        .put(event_like("user9", 99, "other-name"), None)
        .await
        .unwrap();
    // An item without index keys is not in the index.
    table.put(item("user0", "plain", &[]), None).await.unwrap();

    let query = |ascending, limit, start_after| Query {
        index: Some(GSI1),
        partition: "name".into(),
        range: SortRange::All,
        ascending,
        limit,
        start_after,
        skip: 0,
    };
    let all = table.query(query(true, 100, None)).await.unwrap();
    let order: Vec<i64> = all.items.iter().filter_map(|i| get_i64(i, "i")).collect();
    assert_eq!(
        order,
        (0..12).rev().collect::<Vec<i64>>(),
        "ascending GSI1SK"
    );
    assert!(all.last.is_none());

    let first = table.query(query(false, 5, None)).await.unwrap();
    let order: Vec<i64> = first.items.iter().filter_map(|i| get_i64(i, "i")).collect();
    assert_eq!(order, vec![0, 1, 2, 3, 4]);
    let rest = table.query(query(false, 100, first.last)).await.unwrap();
    let order: Vec<i64> = rest.items.iter().filter_map(|i| get_i64(i, "i")).collect();
    assert_eq!(order, (5..12).collect::<Vec<i64>>());
}

async fn query_ranges_select_by_sort_key(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    for sk in ["EID#1", "EV#a", "EV#b", "EX", "~SESSION"] {
        table.put(item("p", sk, &[]), None).await.unwrap();
    }
    let run = |range, ascending| Query {
        index: None,
        partition: "p".into(),
        range,
        ascending,
        limit: 100,
        start_after: None,
        skip: 0,
    };
    let page = table
        .query(run(SortRange::AtLeast("EV#".into()), false))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["~SESSION", "EX", "EV#b", "EV#a"]);
    let page = table
        .query(run(SortRange::BeginsWith("EV#".into()), true))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["EV#a", "EV#b"]);
    let page = table.query(run(SortRange::All, true)).await.unwrap();
    assert_eq!(page.items.len(), 5);
    let empty = table
        .query(Query {
            partition: "nobody".into(),
            ..run(SortRange::All, true)
        })
        .await
        .unwrap();
    assert!(empty.items.is_empty() && empty.last.is_none());
}

async fn between_includes_both_bounds_on_the_table_and_an_index(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    for i in 0..12 {
        table.put(event_like("p", i, "name"), None).await.unwrap();
    }
    let run = |index, range, ascending| Query {
        index,
        partition: if index.is_some() { "name" } else { "p" }.into(),
        range,
        ascending,
        limit: 100,
        start_after: None,
        skip: 0,
    };
    let between = |a: &str, b: &str| SortRange::Between(a.into(), b.into());
    let page = table
        .query(run(None, between("EV#0003", "EV#0006"), true))
        .await
        .unwrap();
    assert_eq!(
        sks(&page.items),
        ["EV#0003", "EV#0004", "EV#0005", "EV#0006"]
    );
    // A bound that is a prefix of keys: the upper one with `~` takes every key it starts.
    let page = table
        .query(run(None, between("EV#0010", "EV#001~"), false))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["EV#0011", "EV#0010"]);
    // On an index, by the index's sort key (1000 - i).
    let page = table
        .query(run(Some(GSI1), between("0990", "0992"), true))
        .await
        .unwrap();
    let order: Vec<i64> = page.items.iter().filter_map(|i| get_i64(i, "i")).collect();
    assert_eq!(order, [10, 9, 8]);
    let none = table
        .query(run(None, between("EV#0100", "EV#0200"), true))
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.last.is_none());
}

async fn a_keys_only_index_answers_with_keys_only(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    for i in 0..5 {
        let mut stored = event_like(&format!("user{i}"), i, "name");
        stored.insert(GSI2_PK.into(), Attr::s("time"));
        stored.insert(GSI2_SK.into(), Attr::S(format!("t{i}")));
        table.put(stored, None).await.unwrap();
    }
    let page = table
        .query(Query {
            index: Some(GSI2),
            partition: "time".into(),
            range: SortRange::All,
            ascending: false,
            limit: 3,
            start_after: None,
            skip: 0,
        })
        .await
        .unwrap();
    let names: Vec<Vec<&str>> = page
        .items
        .iter()
        .map(|i| i.keys().map(String::as_str).collect())
        .collect();
    assert_eq!(names, vec![vec![GSI2_PK, GSI2_SK, PK, SK]; 3]);
    let sks: Vec<&str> = page
        .items
        .iter()
        .filter_map(|i| get_s(i, GSI2_SK))
        .collect();
    assert_eq!(sks, ["t4", "t3", "t2"]);
    // Its pages continue like any other.
    let rest = table
        .query(Query {
            index: Some(GSI2),
            partition: "time".into(),
            range: SortRange::All,
            ascending: false,
            limit: 10,
            start_after: page.last,
            skip: 0,
        })
        .await
        .unwrap();
    let sks: Vec<&str> = rest
        .items
        .iter()
        .filter_map(|i| get_s(i, GSI2_SK))
        .collect();
    assert_eq!(sks, ["t1", "t0"]);
}

async fn scan_visits_every_item_once_page_by_page(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let writes: Vec<Write> = (0..57)
        .map(|i| Write::Put(event_like(&format!("user{}", i % 5), i, "name")))
        .collect();
    table.batch_write(writes).await.unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut after = None;
    loop {
        let page = table.scan(after.take(), 10).await.unwrap();
        assert!(page.items.len() <= 10);
        for item in &page.items {
            let key = (
                get_s(item, PK).unwrap().to_owned(),
                get_s(item, SK).unwrap().to_owned(),
            );
            assert!(seen.insert(key), "an item seen twice");
        }
        match page.last {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    assert_eq!(seen.len(), 57);
}

/// Events stored before the time index existed (no GSI2 keys) are put into it by the
/// backfill, once; a deleted event is not.
async fn the_backfill_puts_old_events_into_the_time_index_once(engine: Engine) {
    use atrack_shared::store::repo::{EventIndex, EventScan};
    let t = open_table(engine).await;
    let (repo, clock) = repo_at(t.table.clone());
    let p = project("acme");
    let uuid = SessionUuid::new_v4();
    for i in 0..6 {
        let at = Timestamp::from_micros(clock.now().micros() - 60_000_000 + i * 1_000_000);
        repo.record_event(&p, new_event(uuid, "checkout", at), &KEEP)
            .await
            .unwrap();
    }
    // As an earlier version stored them: without the time index's keys.
    let session = repo.session_with_events(&p, &uuid).await.unwrap().unwrap();
    for event in &session.events {
        t.table
            .update(Update {
                key: key(get_s(event, PK).unwrap(), get_s(event, SK).unwrap()),
                ops: vec![
                    UpdateOp::Remove(GSI2_PK.into()),
                    UpdateOp::Remove(GSI2_SK.into()),
                ],
                condition: None,
            })
            .await
            .unwrap();
    }
    let deleted = get_s(&session.events[0], SK).unwrap().to_owned();
    assert!(repo.delete_event(&p, &uuid, &deleted).await.unwrap());
    let timeline = || async {
        let mut reader = repo.read_events(
            &p,
            EventScan {
                index: EventIndex::Time,
                from: None,
                to: None,
                descending: true,
                expect: 100,
                after: None,
            },
        );
        let mut n = 0;
        loop {
            let chunk = reader.next_chunk().await.unwrap();
            if chunk.is_empty() {
                return n;
            }
            n += chunk.len();
        }
    };
    assert_eq!(timeline().await, 0);

    let mut reports = 0;
    let done = repo.backfill_time_index(|_| reports += 1).await.unwrap();
    assert!(reports >= 1);
    assert_eq!(done.indexed, 5, "{done:?}");
    assert!(done.scanned >= 6, "{done:?}");
    assert_eq!(timeline().await, 5);
    // Again: nothing left to do.
    assert_eq!(repo.backfill_time_index(|_| {}).await.unwrap().indexed, 0);
}

async fn read_many_answers_in_the_order_asked_beyond_one_request(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let writes: Vec<Write> = (0..150)
        .map(|i| Write::Put(event_like(&format!("user{}", i % 7), i, "name")))
        .collect();
    table.batch_write(writes).await.unwrap();
    // Present and absent keys, shuffled, more than DynamoDB's 100 keys a request.
    let mut keys: Vec<Key> = (0..150)
        .map(|i| key(&format!("user{}", i % 7), &format!("EV#{i:04}")))
        .collect();
    keys.reverse();
    keys.insert(40, key("nobody", "EV#0001"));
    keys.push(key("user0", "EV#9999"));
    let found = table.read_many(&keys).await.unwrap();
    assert_eq!(found.len(), keys.len());
    for (key, item) in keys.iter().zip(&found) {
        match item {
            Some(item) => {
                assert_eq!(get_s(item, PK), Some(key.pk.as_str()));
                assert_eq!(get_s(item, SK), Some(key.sk.as_str()));
                assert!(item.contains_key("i"), "the whole item");
            }
            None => assert!(key.pk == "nobody" || key.sk == "EV#9999", "{key:?}"),
        }
    }
    assert_eq!(found.iter().filter(|i| i.is_none()).count(), 2);
    assert!(table.read_many(&[]).await.unwrap().is_empty());
}

async fn skip_passes_over_items_in_order_even_across_1_mb_pages(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    for i in 0..12 {
        table
            .put(event_like(&format!("user{}", i % 3), i, "name"), None)
            .await
            .unwrap();
    }
    let query = |skip, limit, start_after| Query {
        index: Some(GSI1),
        partition: "name".into(),
        range: SortRange::All,
        ascending: false,
        limit,
        start_after,
        skip,
    };
    let order =
        |items: &[Item]| -> Vec<i64> { items.iter().filter_map(|i| get_i64(i, "i")).collect() };

    let page = table.query(query(3, 4, None)).await.unwrap();
    assert_eq!(order(&page.items), [3, 4, 5, 6]);
    // Skipping continues after a cursor as well as from the start.
    let page = table.query(query(2, 3, page.last)).await.unwrap();
    assert_eq!(order(&page.items), [9, 10, 11]);
    let page = table.query(query(11, 4, None)).await.unwrap();
    assert_eq!(order(&page.items), [11]);
    assert!(page.last.is_none());
    for past_the_end in [12, 13, 1000] {
        let page = table.query(query(past_the_end, 4, None)).await.unwrap();
        assert!(
            page.items.is_empty() && page.last.is_none(),
            "skip {past_the_end}"
        );
    }

    // DynamoDB reads at most 1 MB per request, before projecting to keys: skipping four items
    // of 380 KB takes more than one request.
    let big = "x".repeat(380 * 1024);
    for i in 0..5 {
        table
            .put(
                item("big", &format!("{i}"), &[("blob", Attr::s(big.as_str()))]),
                None,
            )
            .await
            .unwrap();
    }
    let page = table
        .query(Query {
            index: None,
            partition: "big".into(),
            range: SortRange::All,
            ascending: true,
            limit: 10,
            start_after: None,
            skip: 4,
        })
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["4"]);
    assert_eq!(get_s(&page.items[0], "blob").map(str::len), Some(big.len()));
}

async fn delete_and_batch_write_beyond_one_chunk(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    // DynamoDB takes 25 writes per batch: 60 needs three requests.
    let puts: Vec<Write> = (0..60)
        .map(|i| Write::Put(item("p", &format!("{i:03}"), &[("i", Attr::n(i))])))
        .collect();
    table.batch_write(puts).await.unwrap();
    let count = |t: &AnyTable| {
        let t = t.clone();
        async move {
            t.query(Query {
                index: None,
                partition: "p".into(),
                range: SortRange::All,
                ascending: true,
                limit: 1000,
                start_after: None,
                skip: 0,
            })
            .await
            .unwrap()
            .items
            .len()
        }
    };
    assert_eq!(count(&table).await, 60);
    let deletes: Vec<Write> = (0..30)
        .map(|i| Write::Delete(key("p", &format!("{i:03}"))))
        .collect();
    table.batch_write(deletes).await.unwrap();
    assert_eq!(count(&table).await, 30);
    table.delete(&key("p", "059")).await.unwrap();
    table.delete(&key("p", "never-existed")).await.unwrap();
    assert_eq!(count(&table).await, 29);
    assert!(table.get(&key("p", "059")).await.unwrap().is_none());
}

async fn an_item_past_400_kb_is_refused_whole(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let k = key("p", "s");
    // 350 KB fits.
    let fits = item("p", "s", &[("blob", Attr::S("a".repeat(350 * 1024)))]);
    table.put(fits.clone(), None).await.unwrap();
    // A put of 420 KB is refused.
    let big = item("p", "big", &[("blob", Attr::S("b".repeat(420 * 1024)))]);
    let err = table.put(big, None).await.unwrap_err();
    assert!(matches!(err, StoreError::ItemTooLarge), "{err:?}");
    assert!(table.get(&key("p", "big")).await.unwrap().is_none());
    // A merge that would take the item past the limit is refused, and changes nothing.
    let entries: BTreeMap<String, Attr> = (0..10)
        .map(|i| (format!("k{i}"), Attr::S("c".repeat(8 * 1024))))
        .collect();
    let err = table
        .update(Update {
            key: k.clone(),
            ops: vec![UpdateOp::MergeMap("attributes".into(), entries)],
            condition: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ItemTooLarge), "{err:?}");
    let after = table.get(&k).await.unwrap().unwrap();
    let names: Vec<&String> = after.keys().collect();
    assert!(after == fits, "the refused merge left {names:?}");
}

// ---- the repository ----

const T0: &str = "2026-04-12T01:52:35Z";

fn repo_at(table: AnyTable) -> (Repo<AnyTable>, ManualClock) {
    let clock = ManualClock::new(Timestamp::parse_rfc3339(T0).unwrap());
    (Repo::new(table, Arc::new(clock.clone())), clock)
}

fn project(name: &str) -> Project {
    Project::parse(name).unwrap()
}

fn attrs(value: serde_json::Value) -> Attributes {
    Attributes::parse(&value, "attributes", &Limits::default()).unwrap()
}

fn name(text: &str) -> EventName {
    EventName::parse(text, &Limits::default()).unwrap()
}

/// Settings that neither anonymize nor expire, with the default plan (a static, not a const:
/// the plan sits behind an `Arc`).
static KEEP: std::sync::LazyLock<ProjectSettings> =
    std::sync::LazyLock::new(ProjectSettings::default);

fn new_event(uuid: SessionUuid, event: &str, at: Timestamp) -> EventRequest {
    EventRequest {
        uuid,
        name: name(event),
        attributes: attrs(json!({"cart_value": 129.99, "currency": "USD"})),
        label: None,
        category: Default::default(),
        priority: Default::default(),
        kind: Default::default(),
        source: atrack_shared::domain::event::Source::backend_http(),
        occurred_at: at,
        stamped_by_client: false,
        event_id: None,
        ip_address: None,
        user_agent: None,
        page_url: None,
        referrer: None,
        place: None,
        device_id: None,
    }
}

fn init_write(uuid: SessionUuid, href: &str) -> InitWrite {
    InitWrite {
        uuid,
        context: json!({"url": {"href": href},
            "client": {"ipAddress": "50.89.98.90", "userAgent": "UA/1.0", "locale": "en-US"}}),
        user_attributes: Some(attrs(json!({"plan": "pro"}))),
        custom_data: Some(attrs(json!({"landing_variant": "v2"}))),
        settings: ProjectSettings::default(),
    }
}

async fn init_creates_then_continues_a_session(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let (repo, clock) = repo_at(table);
    let p = project("acme");
    let uuid = SessionUuid::new_v4();
    let first = repo
        .init_session(&p, &init_write(uuid, "https://a/1"))
        .await
        .unwrap();
    assert_eq!(
        get_s(&first, "created_at"),
        Some("2026-04-12T01:52:35.000000Z")
    );
    assert_eq!(get_s(&first, "updated_at"), get_s(&first, "created_at"));
    assert_eq!(get_s(&first, "uuid"), Some(uuid.to_string().as_str()));
    let id = get_i64(&first, "id").expect("numeric session id");

    clock.advance_millis(90_000);
    let mut second_write = init_write(uuid, "https://a/2");
    second_write.user_attributes = Some(attrs(json!({"signup_step": "landing"})));
    let second = repo.init_session(&p, &second_write).await.unwrap();
    assert_eq!(
        get_s(&second, "created_at"),
        Some("2026-04-12T01:52:35.000000Z")
    );
    assert_eq!(
        get_s(&second, "updated_at"),
        Some("2026-04-12T01:54:05.000000Z")
    );
    assert_eq!(get_i64(&second, "id"), Some(id), "the session keeps its id");
    assert!(get_i64(&second, "init_seq") > get_i64(&first, "init_seq"));
    let user = second.get("user_attributes").unwrap().to_json();
    assert_eq!(user, json!({"plan": "pro", "signup_step": "landing"}));
    // The first context is kept for first-touch attribution; the latest is the current one.
    let first_context = second.get("first_context").unwrap().to_json();
    assert_eq!(first_context["url"]["href"], "https://a/1");
    assert_eq!(
        second.get("context").unwrap().to_json()["url"]["href"],
        "https://a/2"
    );

    let other = repo
        .init_session(&p, &init_write(SessionUuid::new_v4(), "https://a/3"))
        .await
        .unwrap();
    assert_ne!(get_i64(&other, "id"), Some(id), "sessions get distinct ids");
}

async fn attributes_merge_or_replace(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let (repo, _) = repo_at(table);
    let p = project("acme");
    let uuid = SessionUuid::new_v4();
    repo.set_attributes(
        &p,
        &uuid,
        &attrs(json!({"plan": "free", "crm_id": "lead_2048"})),
        false,
        &KEEP,
    )
    .await
    .unwrap();
    let merged = repo
        .set_attributes(
            &p,
            &uuid,
            &attrs(json!({"plan": "pro", "flags": {"beta": true}})),
            false,
            &KEEP,
        )
        .await
        .unwrap();
    assert_eq!(
        merged.get("attributes").unwrap().to_json(),
        json!({"crm_id": "lead_2048", "flags": {"beta": true}, "plan": "pro"})
    );
    let replaced = repo
        .set_attributes(&p, &uuid, &attrs(json!({"only": 1})), true, &KEEP)
        .await
        .unwrap();
    assert_eq!(
        replaced.get("attributes").unwrap().to_json(),
        json!({"only": 1})
    );
    // Attributes on an unknown UUID created the session.
    let session = repo.get_session(&p, &uuid).await.unwrap().unwrap();
    assert!(get_i64(&session, "id").is_some());
    assert!(get_s(&session, "created_at").is_some());
}

async fn event_for_unknown_uuid_creates_a_minimal_session(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let (repo, clock) = repo_at(table);
    let p = project("acme");
    let uuid = SessionUuid::new_v4();
    let outcome = repo
        .record_event(&p, new_event(uuid, "checkout_started", clock.now()), &KEEP)
        .await
        .unwrap();
    assert!(!outcome.duplicate);
    let found = repo
        .session_with_events(&p, &uuid)
        .await
        .unwrap()
        .expect("session created");
    assert_eq!(
        get_s(&found.session, "uuid"),
        Some(uuid.to_string().as_str())
    );
    assert_eq!(found.events.len(), 1);
    let event = &found.events[0];
    assert_eq!(get_s(event, "name"), Some("checkout_started"));
    assert_eq!(event.get("session_id"), found.session.get("id"));
    assert_eq!(
        event.get("attributes").unwrap().to_json(),
        json!({"cart_value": 129.99, "currency": "USD"})
    );
    assert_eq!(
        get_s(event, "occurred_at"),
        Some("2026-04-12T01:52:35.000000Z")
    );
}

async fn event_takes_ip_and_user_agent_from_its_session_unless_given(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let (repo, clock) = repo_at(table);
    let p = project("acme");
    let uuid = SessionUuid::new_v4();
    repo.init_session(&p, &init_write(uuid, "https://a/"))
        .await
        .unwrap();
    repo.record_event(&p, new_event(uuid, "from_session", clock.now()), &KEEP)
        .await
        .unwrap();
    let mut explicit = new_event(uuid, "explicit", clock.now());
    explicit.ip_address = Some("2001:db8::1".into());
    explicit.user_agent = Some("curl/8".into());
    repo.record_event(&p, explicit, &KEEP).await.unwrap();

    let found = repo.session_with_events(&p, &uuid).await.unwrap().unwrap();
    let by_name = |n: &str| {
        found
            .events
            .iter()
            .find(|e| get_s(e, "name") == Some(n))
            .unwrap()
            .clone()
    };
    let from_session = by_name("from_session");
    assert_eq!(get_s(&from_session, "ip_address"), Some("50.89.98.90"));
    assert_eq!(get_s(&from_session, "user_agent"), Some("UA/1.0"));
    let explicit = by_name("explicit");
    assert_eq!(get_s(&explicit, "ip_address"), Some("2001:db8::1"));
    assert_eq!(get_s(&explicit, "user_agent"), Some("curl/8"));
}

async fn retried_event_id_is_stored_once(engine: Engine) {
    let t = open_table(engine).await;
    let (repo, clock) = repo_at(t.table.clone());
    let p = project("acme");
    let uuid = SessionUuid::new_v4();
    let id = EventId::new_v4();
    let mut event = new_event(uuid, "purchase", clock.now());
    event.event_id = Some(id);
    let first = repo.record_event(&p, event.clone(), &KEEP).await.unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.event_id, id.to_string());
    // The retry arrives later, with a different body time: still the same event.
    clock.advance_millis(5_000);
    event.occurred_at = clock.now();
    let retry = repo.record_event(&p, event, &KEEP).await.unwrap();
    assert!(retry.duplicate);
    let found = repo.session_with_events(&p, &uuid).await.unwrap().unwrap();
    assert_eq!(found.events.len(), 1);
    t.settle().await;
    assert_eq!(repo.event_total(&p, &name("purchase")).await.unwrap(), 1);
}

async fn retried_client_stamped_event_is_one_write_and_stored_once(engine: Engine) {
    let t = open_table(engine).await;
    let (repo, clock) = repo_at(t.table.clone());
    let p = project("acme");
    let uuid = SessionUuid::new_v4();
    let id = EventId::new_v4();
    let mut event = new_event(uuid, "purchase", clock.now());
    event.event_id = Some(id);
    event.stamped_by_client = true;
    assert!(
        !repo
            .record_event(&p, event.clone(), &KEEP)
            .await
            .unwrap()
            .duplicate
    );
    // The same body again, as an SDK retries after a timeout.
    clock.advance_millis(5_000);
    assert!(repo.record_event(&p, event, &KEEP).await.unwrap().duplicate);
    let partition = t
        .table
        .query(Query {
            index: None,
            partition: format!("P#acme#U#{uuid}"),
            range: SortRange::All,
            ascending: true,
            limit: 100,
            start_after: None,
            skip: 0,
        })
        .await
        .unwrap();
    // The session and the one event: the client's key made a marker item unnecessary.
    assert_eq!(
        sks(&partition.items)
            .iter()
            .filter(|sk| !sk.starts_with("~"))
            .count(),
        1,
        "{:?}",
        sks(&partition.items)
    );
    t.settle().await;
    assert_eq!(repo.event_total(&p, &name("purchase")).await.unwrap(), 1);
}

/// Sessions may share an `event_id` and a time (a buggy SDK, a replayed import): every index
/// key is still unique, so both engines list such events in the same order every time, by
/// session UUID within the tie, and pages never repeat or skip one.
async fn one_time_and_event_id_in_many_sessions_list_in_one_total_order(engine: Engine) {
    let t = open_table(engine).await;
    let (repo, clock) = repo_at(t.table.clone());
    let p = project("acme");
    let id = EventId::new_v4();
    let mut uuids: Vec<String> = Vec::new();
    for _ in 0..6 {
        let uuid = SessionUuid::new_v4();
        let mut event = new_event(uuid, "purchase", clock.now());
        event.event_id = Some(id);
        event.stamped_by_client = true;
        assert!(!repo.record_event(&p, event, &KEEP).await.unwrap().duplicate);
        uuids.push(uuid.to_string());
    }
    uuids.sort();
    t.settle().await;
    for sort in [Sort::Asc, Sort::Desc] {
        let mut expected = uuids.clone();
        if sort == Sort::Desc {
            expected.reverse();
        }
        // One page of all, and pages of one by cursor and by number: the same order.
        let all = repo
            .list_events(&p, &name("purchase"), sort, 10, 1, None)
            .await
            .unwrap();
        let listed: Vec<&str> = all.rows.iter().map(|r| get_s(r, "uuid").unwrap()).collect();
        assert_eq!(listed, expected, "{sort:?}");
        let mut by_cursor = Vec::new();
        let mut cursor = None;
        loop {
            let page = repo
                .list_events(&p, &name("purchase"), sort, 1, 1, cursor.as_deref())
                .await
                .unwrap();
            by_cursor.extend(
                page.rows
                    .iter()
                    .map(|r| get_s(r, "uuid").unwrap().to_owned()),
            );
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(by_cursor, expected, "{sort:?} by cursor");
        let mut by_number = Vec::new();
        for number in 1..=6 {
            let page = repo
                .list_events(&p, &name("purchase"), sort, 1, number, None)
                .await
                .unwrap();
            by_number.extend(
                page.rows
                    .iter()
                    .map(|r| get_s(r, "uuid").unwrap().to_owned()),
            );
        }
        assert_eq!(by_number, expected, "{sort:?} by number");
    }
}

async fn index_counts_follow_inserts_moves_and_deletes(engine: Engine) {
    let t = open_table(engine).await;
    let table = &t.table;
    let indexed = |sk: &str, partition: &str| {
        item(
            "P#c#U#1",
            sk,
            &[(GSI1_PK, Attr::s(partition)), (GSI1_SK, Attr::s(sk))],
        )
    };
    for sk in ["EV#1", "EV#2", "EV#3"] {
        table.put(indexed(sk, "N#a"), None).await.unwrap();
    }
    // Rewriting an item in place does not count it twice; moving it changes partitions.
    table.put(indexed("EV#1", "N#a"), None).await.unwrap();
    table.put(indexed("EV#2", "N#b"), None).await.unwrap();
    // An item without index keys is not counted.
    table
        .put(item("P#c#U#1", "~SESSION", &[]), None)
        .await
        .unwrap();
    t.settle().await;
    assert_eq!(table.index_count(GSI1, "N#a").await.unwrap(), 2);
    assert_eq!(table.index_count(GSI1, "N#b").await.unwrap(), 1);
    table.delete(&key("P#c#U#1", "EV#1")).await.unwrap();
    table
        .batch_write(vec![Write::Delete(key("P#c#U#1", "EV#2"))])
        .await
        .unwrap();
    t.settle().await;
    assert_eq!(table.index_count(GSI1, "N#a").await.unwrap(), 1);
    assert_eq!(table.index_count(GSI1, "N#b").await.unwrap(), 0);
    assert_eq!(table.index_count(GSI1, "N#never").await.unwrap(), 0);
}

async fn counted_in_names_are_counted_like_index_partitions(engine: Engine) {
    let t = open_table(engine).await;
    let table = &t.table;
    let counted = |sk: &str, names: &[&str]| {
        item(
            "P#c#U#1",
            sk,
            &[(
                COUNTED_IN,
                Attr::L(names.iter().map(|n| Attr::s(*n)).collect()),
            )],
        )
    };
    table
        .put(counted("EV#1", &["C#x", "C#y"]), None)
        .await
        .unwrap();
    table.put(counted("EV#2", &["C#x"]), None).await.unwrap();
    // A rewrite with the same names counts nothing twice; a rewrite with others moves it.
    table
        .put(counted("EV#1", &["C#x", "C#y"]), None)
        .await
        .unwrap();
    table.put(counted("EV#2", &["C#z"]), None).await.unwrap();
    t.settle().await;
    for (name, n) in [("C#x", 1), ("C#y", 1), ("C#z", 1), ("C#never", 0)] {
        assert_eq!(table.count(name).await.unwrap(), n, "{name}");
    }
    // Removal, single or batched, leaves every count it was in.
    table.delete(&key("P#c#U#1", "EV#1")).await.unwrap();
    table
        .batch_write(vec![Write::Delete(key("P#c#U#1", "EV#2"))])
        .await
        .unwrap();
    t.settle().await;
    for name in ["C#x", "C#y", "C#z"] {
        assert_eq!(table.count(name).await.unwrap(), 0, "{name}");
    }
}

async fn put_new_writes_only_keys_that_are_absent(engine: Engine) {
    let t = open_table(engine).await;
    let table = &t.table;
    let one = |sk: &str, v: i64| item("P#c#U#1", sk, &[("v", Attr::n(v))]);
    table.put(one("EV#old", 1), None).await.unwrap();
    let applied = table
        .batch_write(vec![
            Write::PutNew(one("EV#old", 2)),
            Write::PutNew(one("EV#new", 3)),
            Write::Put(one("EV#plain", 4)),
            Write::Delete(key("P#c#U#1", "EV#none")),
        ])
        .await
        .unwrap();
    assert_eq!(applied, [false, true, true, true]);
    let read = |sk: &'static str| async move {
        table
            .read(Read::new(&key("P#c#U#1", sk)).consistent())
            .await
            .unwrap()
            .and_then(|i| i.get("v").and_then(Attr::as_i64))
    };
    // The existing item is left as it was, the new ones are there.
    assert_eq!(read("EV#old").await, Some(1));
    assert_eq!(read("EV#new").await, Some(3));
    assert_eq!(read("EV#plain").await, Some(4));
    // More than one chunk of each kind of request (25 writes, 100 reads on DynamoDB).
    let many: Vec<Write> = (0..130)
        .map(|i| Write::PutNew(one(&format!("EV#m{i:03}"), i)))
        .collect();
    assert!(table.batch_write(many).await.unwrap().iter().all(|a| *a));
    let again: Vec<Write> = (0..130)
        .map(|i| Write::PutNew(one(&format!("EV#m{i:03}"), -1)))
        .collect();
    assert!(table.batch_write(again).await.unwrap().iter().all(|a| !*a));
    assert_eq!(read("EV#m129").await, Some(129));
}

async fn session_with_events_returns_the_newest_hundred(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let (repo, clock) = repo_at(table);
    let p = project("acme");
    let uuid = SessionUuid::new_v4();
    repo.init_session(&p, &init_write(uuid, "https://a/"))
        .await
        .unwrap();
    let base = clock.now().micros();
    // Written out of order; listed newest first.
    let mut offsets: Vec<i64> = (0..105).collect();
    offsets.reverse();
    offsets.swap(3, 80);
    let events: Vec<EventRequest> = offsets
        .iter()
        .map(|i| {
            new_event(
                uuid,
                &format!("e{i}"),
                Timestamp::from_micros(base + i * 1000),
            )
        })
        .collect();
    futures_join(&repo, &p, events).await;
    let found = repo.session_with_events(&p, &uuid).await.unwrap().unwrap();
    assert_eq!(found.events.len(), SESSION_EVENTS_LIMIT);
    let names: Vec<&str> = found
        .events
        .iter()
        .filter_map(|e| get_s(e, "name"))
        .collect();
    let expected: Vec<String> = (5..105).rev().map(|i| format!("e{i}")).collect();
    assert_eq!(names, expected);
    assert!(
        repo.session_with_events(&p, &SessionUuid::new_v4())
            .await
            .unwrap()
            .is_none()
    );
}

/// Records events eight at a time, as concurrent requests would.
async fn futures_join(repo: &Repo<AnyTable>, p: &Project, events: Vec<EventRequest>) {
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<EventRequest> = events.by_ref().take(8).collect();
        let results =
            futures::future::join_all(chunk.into_iter().map(|e| repo.record_event(p, e, &KEEP)))
                .await;
        for r in results {
            r.unwrap();
        }
    }
}

async fn event_listing_pages_by_number_and_by_cursor_agree(engine: Engine) {
    let t = open_table(engine).await;
    let (repo, clock) = repo_at(t.table.clone());
    let p = project("acme");
    let base = clock.now().micros();
    let sessions: Vec<SessionUuid> = (0..3).map(|_| SessionUuid::new_v4()).collect();
    let events: Vec<EventRequest> = (0..60)
        .map(|i| {
            new_event(
                sessions[i as usize % 3],
                "checkout_started",
                Timestamp::from_micros(base + i * 1_000_000),
            )
        })
        .collect();
    futures_join(&repo, &p, events).await;
    repo.record_event(&p, new_event(sessions[0], "other", clock.now()), &KEEP)
        .await
        .unwrap();
    t.settle().await;
    let n = name("checkout_started");
    assert_eq!(repo.event_total(&p, &n).await.unwrap(), 60);

    for sort in [Sort::Asc, Sort::Desc] {
        let time = |item: &Item| get_s(item, "occurred_at").unwrap().to_owned();
        let mut by_number = Vec::new();
        for page in 1..=3 {
            let listed = repo
                .list_events(&p, &n, sort, 25, page, None)
                .await
                .unwrap();
            assert_eq!(listed.total, 60);
            assert_eq!(listed.page, page);
            assert_eq!(listed.rows.len(), if page < 3 { 25 } else { 10 });
            assert_eq!(listed.next_cursor.is_some(), page < 3, "page {page}");
            by_number.extend(listed.rows.iter().map(time));
        }
        let mut by_cursor = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let listed = repo
                .list_events(&p, &n, sort, 25, 1, cursor.as_deref())
                .await
                .unwrap();
            pages += 1;
            assert_eq!(listed.page, pages, "a cursor carries its page number");
            by_cursor.extend(listed.rows.iter().map(time));
            match listed.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        let mut expected: Vec<String> = (0..60)
            .map(|i| Timestamp::from_micros(base + i * 1_000_000).to_string())
            .collect();
        if sort == Sort::Desc {
            expected.reverse();
        }
        assert_eq!(by_number, expected, "{sort:?} by page number");
        assert_eq!(by_cursor, expected, "{sort:?} by cursor");
        // Past the end: an empty page, still with the total.
        let beyond = repo.list_events(&p, &n, sort, 25, 4, None).await.unwrap();
        assert!(beyond.rows.is_empty() && beyond.next_cursor.is_none());
        assert_eq!(beyond.total, 60);
    }
    let none = repo
        .list_events(&p, &name("never"), Sort::Desc, 25, 1, None)
        .await
        .unwrap();
    assert_eq!((none.total, none.rows.len()), (0, 0));
}

/// The secret that signs cursors is the deployment's (a stack secret on AWS, a file beside the
/// embedded store), not an item that the first listing writes: a read-only function needs no
/// write access to the table, and no backup of the table carries the secret.
async fn the_cursor_secret_comes_with_the_deployment_and_never_enters_the_table(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let clock = Arc::new(ManualClock::new(Timestamp::parse_rfc3339(T0).unwrap()));
    let secret = b"a deployment's cursor secret, 32+ bytes long";
    let one = Repo::new(table.clone(), clock.clone()).with_cursor_secret(secret);
    let two = Repo::new(table.clone(), clock.clone()).with_cursor_secret(secret);
    let other = Repo::new(table.clone(), clock.clone())
        .with_cursor_secret(b"another deployment's secret, also 32+ bytes");
    let p = project("acme");
    let uuid = SessionUuid::new_v4();
    for i in 0..3 {
        let at = Timestamp::from_micros(clock.now().micros() + i);
        one.record_event(&p, new_event(uuid, "a", at), &KEEP)
            .await
            .unwrap();
    }
    let first = one
        .list_events(&p, &name("a"), Sort::Desc, 1, 1, None)
        .await
        .unwrap();
    let cursor = first.next_cursor.unwrap();
    // Another process with the same secret continues the listing; one with another refuses.
    let next = two
        .list_events(&p, &name("a"), Sort::Desc, 1, 1, Some(&cursor))
        .await
        .unwrap();
    assert_eq!(next.page, 2);
    assert!(matches!(
        other
            .list_events(&p, &name("a"), Sort::Desc, 1, 1, Some(&cursor))
            .await,
        Err(ListError::Cursor(_))
    ));
    // Nothing but the session and its events is stored: no secret item anywhere.
    for (pk, sk) in [("META", "SECRET")] {
        assert!(table.get(&key(pk, sk)).await.unwrap().is_none());
    }
}

async fn cursor_cannot_be_forged_or_reused_across_names(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let (repo, clock) = repo_at(table);
    let p = project("acme");
    let uuid = SessionUuid::new_v4();
    for i in 0..3 {
        repo.record_event(
            &p,
            new_event(uuid, "a", Timestamp::from_micros(clock.now().micros() + i)),
            &KEEP,
        )
        .await
        .unwrap();
    }
    let first = repo
        .list_events(&p, &name("a"), Sort::Desc, 1, 1, None)
        .await
        .unwrap();
    let cursor = first.next_cursor.unwrap();
    let reject = |r: Result<_, ListError>| match r {
        Err(ListError::Cursor(_)) => {}
        Err(other) => panic!("expected a cursor error, got {other:?}"),
        Ok(_) => panic!("a bad cursor was accepted"),
    };
    reject(
        repo.list_events(&p, &name("b"), Sort::Desc, 1, 1, Some(&cursor))
            .await,
    );
    reject(
        repo.list_events(&p, &name("a"), Sort::Asc, 1, 1, Some(&cursor))
            .await,
    );
    reject(
        repo.list_events(
            &project("other"),
            &name("a"),
            Sort::Desc,
            1,
            1,
            Some(&cursor),
        )
        .await,
    );
    let mut tampered = cursor.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    reject(
        repo.list_events(
            &p,
            &name("a"),
            Sort::Desc,
            1,
            1,
            Some(&String::from_utf8(tampered).unwrap()),
        )
        .await,
    );
    reject(
        repo.list_events(&p, &name("a"), Sort::Desc, 1, 1, Some("garbage"))
            .await,
    );
    reject(
        repo.list_events(&p, &name("a"), Sort::Desc, 1, 1, Some(""))
            .await,
    );
    let second = repo
        .list_events(&p, &name("a"), Sort::Desc, 1, 1, Some(&cursor))
        .await
        .unwrap();
    assert_eq!(second.page, 2);
    assert_eq!(second.rows.len(), 1);
}

async fn projects_never_see_each_other(engine: Engine) {
    let t = open_table(engine).await;
    let (repo, clock) = repo_at(t.table.clone());
    let (a, b) = (project("a"), project("b"));
    let uuid = SessionUuid::new_v4();
    repo.init_session(&a, &init_write(uuid, "https://a/"))
        .await
        .unwrap();
    repo.record_event(&a, new_event(uuid, "shared_name", clock.now()), &KEEP)
        .await
        .unwrap();
    assert!(repo.session_with_events(&b, &uuid).await.unwrap().is_none());
    t.settle().await;
    let listed = repo
        .list_events(&b, &name("shared_name"), Sort::Desc, 25, 1, None)
        .await
        .unwrap();
    assert_eq!((listed.total, listed.rows.len()), (0, 0));
    // The same UUID in project b is a different session.
    repo.record_event(&b, new_event(uuid, "shared_name", clock.now()), &KEEP)
        .await
        .unwrap();
    let in_a = repo.session_with_events(&a, &uuid).await.unwrap().unwrap();
    let in_b = repo.session_with_events(&b, &uuid).await.unwrap().unwrap();
    assert_eq!((in_a.events.len(), in_b.events.len()), (1, 1));
    assert_ne!(in_a.session.get("context"), in_b.session.get("context"));
}

async fn keys_resolve_by_hash_and_can_be_revoked(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let (repo, _) = repo_at(table);
    let pair = repo.create_key_pair(&project("shop")).await.unwrap();
    assert_ne!(pair.public_key, pair.secret_key);
    let hash = atrack_shared::domain::project::hash_key;
    let public = repo
        .find_key_by_hash(&hash(&pair.public_key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (public.project.as_str(), public.scope),
        ("shop", Scope::Public)
    );
    let secret = repo
        .find_key_by_hash(&hash(&pair.secret_key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(secret.scope, Scope::Secret);
    assert!(
        repo.find_key_by_hash(&hash("pk_unknown"))
            .await
            .unwrap()
            .is_none()
    );
    // The raw key is stored nowhere: its item is found only by the hash.
    let raw_item = repo
        .table()
        .get(&Key::new(format!("KEY#{}", pair.public_key), "KEY"))
        .await
        .unwrap();
    assert!(raw_item.is_none());

    assert!(repo.revoke_key(&pair.public_key).await.unwrap());
    assert!(
        repo.find_key_by_hash(&hash(&pair.public_key))
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert!(!repo.revoke_key("pk_never_issued").await.unwrap());
    // Registering an existing key again changes nothing (and does not un-revoke it).
    repo.register_key(&project("shop"), Scope::Public, &pair.public_key)
        .await
        .unwrap();
    assert!(
        repo.find_key_by_hash(&hash(&pair.public_key))
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
}

/// Registering a key reports what it found, and changes nothing unless the key was new: the
/// same key again is not a second success, a key of another project or scope is not moved,
/// and a revoked key is not brought back.
async fn registering_a_key_says_whether_it_is_new_already_there_taken_or_revoked(engine: Engine) {
    let TestTable { table, .. } = open_table(engine).await;
    let (repo, _) = repo_at(table);
    let hash = atrack_shared::domain::project::hash_key;
    let (shop, blog) = (project("shop"), project("blog"));
    assert_eq!(
        repo.register_key(&shop, Scope::Public, "pk_given")
            .await
            .unwrap(),
        KeyRegistration::Registered
    );
    assert_eq!(
        repo.register_key(&shop, Scope::Public, "pk_given")
            .await
            .unwrap(),
        KeyRegistration::AlreadyRegistered
    );
    let taken = KeyRegistration::Conflict {
        project: shop.clone(),
        scope: Scope::Public,
    };
    assert_eq!(
        repo.register_key(&shop, Scope::Secret, "pk_given")
            .await
            .unwrap(),
        taken
    );
    assert_eq!(
        repo.register_key(&blog, Scope::Public, "pk_given")
            .await
            .unwrap(),
        taken
    );
    let stored = repo
        .find_key_by_hash(&hash("pk_given"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.project.as_str(), stored.scope),
        ("shop", Scope::Public)
    );
    assert!(!stored.revoked);

    assert!(repo.revoke_key("pk_given").await.unwrap());
    for (owner, scope) in [(&shop, Scope::Public), (&blog, Scope::Secret)] {
        assert_eq!(
            repo.register_key(owner, scope, "pk_given").await.unwrap(),
            KeyRegistration::Revoked
        );
    }
    let stored = repo
        .find_key_by_hash(&hash("pk_given"))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.revoked);
    assert_eq!(
        (stored.project.as_str(), stored.scope),
        ("shop", Scope::Public)
    );
}

async fn a_tracking_plan_round_trips_with_the_settings_and_clears_back_to_the_default(
    engine: Engine,
) {
    let t = open_table(engine).await;
    let (repo, _) = repo_at(t.table.clone());
    let p = project("shop");
    // Never set: the default plan stores every valid name.
    assert_eq!(
        repo.project_settings(&p).await.unwrap(),
        ProjectSettings::default()
    );

    let plan = TrackingPlan::new(
        Naming::Activity,
        NameList::parse("product.*,page.visit").unwrap(),
        NameList::parse("debug.*,product.debug").unwrap(),
    )
    .unwrap();
    let settings = ProjectSettings {
        retention_days: Some(30),
        plan: Arc::new(plan),
        ..ProjectSettings::default()
    };
    repo.set_project_settings(&p, &settings).await.unwrap();
    assert_eq!(repo.project_settings(&p).await.unwrap(), settings);
    // Another project keeps its own (default) settings.
    assert_eq!(
        repo.project_settings(&project("blog")).await.unwrap(),
        ProjectSettings::default()
    );

    // Emptied lists and free naming read back as the default plan.
    repo.set_project_settings(&p, &ProjectSettings::default())
        .await
        .unwrap();
    assert_eq!(
        repo.project_settings(&p).await.unwrap(),
        ProjectSettings::default()
    );

    // A settings item written before plans existed (no naming, no lists) keeps its privacy
    // settings and the default plan.
    let old = project("older");
    t.table
        .put(
            item(
                "PROJECT#older",
                "SETTINGS",
                &[
                    ("project", Attr::s("older")),
                    ("anonymize_ip", Attr::Bool(true)),
                ],
            ),
            None,
        )
        .await
        .unwrap();
    let read = repo.project_settings(&old).await.unwrap();
    assert!(read.anonymize_ip);
    assert_eq!(*read.plan, TrackingPlan::default());

    // A stored plan that does not parse is an error, never a silently different plan.
    for (attr, value) in [
        ("naming", Attr::s("strict")),
        ("deny", Attr::L(vec![Attr::s("a*b")])),
        ("allow", Attr::s("product.buy")),
    ] {
        t.table
            .put(item("PROJECT#broken", "SETTINGS", &[(attr, value)]), None)
            .await
            .unwrap();
        assert!(
            matches!(
                repo.project_settings(&project("broken")).await,
                Err(StoreError::Internal(_))
            ),
            "{attr}"
        );
    }
}

async fn dropped_events_are_counted_exactly_per_project(engine: Engine) {
    let t = open_table(engine).await;
    let (repo, clock) = repo_at(t.table.clone());
    let (shop, blog) = (project("shop"), project("blog"));
    assert_eq!(repo.dropped_events(&shop).await.unwrap(), 0);
    repo.count_dropped(&shop, 3).await.unwrap();
    repo.count_dropped(&shop, 0).await.unwrap();
    repo.count_dropped(&shop, 2).await.unwrap();
    repo.count_dropped(&blog, 1).await.unwrap();
    // Read back at once, on DynamoDB too: the count is written directly, not by the stream.
    assert_eq!(repo.dropped_events(&shop).await.unwrap(), 5);
    assert_eq!(repo.dropped_events(&blog).await.unwrap(), 1);
    assert_eq!(
        repo.event_stats(&shop, clock.now()).await.unwrap().dropped,
        5
    );
    // The count is one item beside the settings, which it leaves as they were.
    assert_eq!(
        repo.project_settings(&shop).await.unwrap(),
        ProjectSettings::default()
    );
    let counter = t
        .table
        .get(&key("PROJECT#shop", "DROPPED"))
        .await
        .unwrap()
        .expect("the counter item");
    assert_eq!(get_i64(&counter, "events"), Some(5));
    // It is counted in no index partition or stats count: dropped events are in no total.
    t.settle().await;
    assert_eq!(
        repo.event_stats(&shop, clock.now()).await.unwrap().total(),
        0
    );
}
