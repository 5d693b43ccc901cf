//! template.yaml agrees with the code: the table is the one `store/keys.rs` defines, every
//! `functions/*` crate has its function and every route is sent to the function its
//! `RouteSpec` names, whose main serves exactly its routes; the enrich and count functions
//! report partial batch failures, count's stream sets failing records aside into a queue only
//! it may send to, the queue outlives its consumer's timeout, no policy grants a wildcard
//! resource, and the ingest functions' roles allow the calls their code makes and no others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use atrack_shared::domain::time::SystemClock;
use atrack_shared::enrich::Enricher;
use atrack_shared::enrich::geo::Geo;
use atrack_shared::http::Route;
use atrack_shared::http::compat::{analytics_v1, segment, track_events};
use atrack_shared::http::live;
use atrack_shared::http::router::Method;
use atrack_shared::runtime::config::Config;
use atrack_shared::store::keys::TABLE;
use atrack_shared::{App, SharedApp};
use atrack_tests::Engine;
use serde_yaml_ng::Value;
use tower::ServiceExt;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    serde_yaml_ng::from_str(&text).expect("template.yaml is YAML")
}

fn resources(template: &Value) -> Vec<(String, Value)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

fn of_type(template: &Value, kind: &str) -> Vec<(String, Value)> {
    resources(template)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The binary name each `functions/*` crate builds, with the crate's folder name.
fn function_binaries() -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("functions")).expect("functions/") {
        let dir = entry.unwrap().path();
        let folder = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("a function's Cargo.toml");
        let bin = text
            .split("[[bin]]")
            .nth(1)
            .and_then(|section| {
                section
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("name = "))
                    .map(|n| n.trim_matches('"').to_owned())
            })
            .unwrap_or_else(|| panic!("{} declares no [[bin]]", manifest.display()));
        assert!(
            names.insert(bin.clone(), folder).is_none(),
            "two crates build {bin}"
        );
    }
    names
}

/// A function's `src/main.rs`, without whitespace (so rustfmt's line breaks do not matter).
fn main_rs(folder: &str) -> String {
    let path = root().join("functions").join(folder).join("src/main.rs");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .split_whitespace()
        .collect()
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Delete => "DELETE",
    }
}

/// What `run_router` takes: the builder of a family's router.
type FamilyRouter = fn(SharedApp) -> axum::Router;

/// The routers of the route families that share a function, as a function's main.rs hands
/// them to `run_router`.
const FAMILY_ROUTERS: &[(&str, FamilyRouter)] = &[
    (
        "atrack_shared::http::compat::analytics_v1::router",
        analytics_v1::router,
    ),
    (
        "atrack_shared::http::compat::track_events::router",
        track_events::router,
    ),
    (
        "atrack_shared::http::compat::segment::router",
        segment::router,
    ),
    ("atrack_shared::http::live::router", live::router),
];

/// What a function's main.rs runs.
#[derive(Debug)]
enum Serves {
    /// `run_http::<atrack_shared::http::endpoint::X>`: the endpoint whose ROUTE is `Route::X`
    /// (one macro makes both), as `{X:?}`.
    Endpoint(String),
    /// `run_router(…)` with one of [`FAMILY_ROUTERS`], by its index there.
    Family(usize),
}

fn serves(main: &str) -> Option<Serves> {
    const RUN_HTTP: &str = "run_http::<atrack_shared::http::endpoint::";
    if let Some(at) = main.find(RUN_HTTP) {
        let rest = &main[at + RUN_HTTP.len()..];
        let end = rest.find('>')?;
        return Some(Serves::Endpoint(rest[..end].to_owned()));
    }
    FAMILY_ROUTERS
        .iter()
        .position(|(path, _)| main.contains(&format!("run_router({path})")))
        .map(Serves::Family)
}

/// The template's functions by the binary they deploy.
fn functions_by_binary(template: &Value) -> BTreeMap<String, Value> {
    of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(name, f)| {
            let binary = f["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} names no binary"))
                .to_owned();
            (binary, f)
        })
        .collect()
}

#[test]
fn the_table_is_the_one_keys_rs_defines() {
    let t = template();
    let tables = of_type(&t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1);
    let p = &tables[0].1["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    let key_schema = |schema: &Value| -> Vec<(String, String)> {
        schema
            .as_sequence()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap().to_owned(),
                    k["KeyType"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let pair = |pk: &str, sk: &str| {
        vec![
            (pk.to_owned(), "HASH".to_owned()),
            (sk.to_owned(), "RANGE".to_owned()),
        ]
    };
    assert_eq!(
        key_schema(&p["KeySchema"]),
        pair(TABLE.partition_key, TABLE.sort_key)
    );
    let indexes = p["GlobalSecondaryIndexes"].as_sequence().unwrap();
    assert_eq!(indexes.len(), TABLE.indexes.len());
    let mut defined: BTreeSet<&str> = BTreeSet::from([TABLE.partition_key, TABLE.sort_key]);
    for index in TABLE.indexes {
        let found = indexes
            .iter()
            .find(|i| i["IndexName"].as_str() == Some(index.name))
            .unwrap_or_else(|| panic!("index {} missing from template.yaml", index.name));
        assert_eq!(
            key_schema(&found["KeySchema"]),
            pair(index.partition_key, index.sort_key)
        );
        let projection = match index.projection {
            atrack_shared::store::keys::Projection::All => "ALL",
            atrack_shared::store::keys::Projection::KeysOnly => "KEYS_ONLY",
        };
        assert_eq!(found["Projection"]["ProjectionType"], projection);
        defined.extend([index.partition_key, index.sort_key]);
    }
    let attributes: BTreeSet<&str> = p["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["AttributeType"], "S");
            a["AttributeName"].as_str().unwrap()
        })
        .collect();
    assert_eq!(attributes, defined);
    assert_eq!(
        p["TimeToLiveSpecification"]["AttributeName"],
        TABLE.ttl_attribute
    );
    assert_eq!(p["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(
        p["StreamSpecification"]["StreamViewType"],
        TABLE.stream_view_type
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"], true);
}

#[test]
fn every_function_crate_has_a_function_and_route_and_every_route_a_crate() {
    let t = template();
    let functions = of_type(&t, "AWS::Serverless::Function");
    let crates = function_binaries();
    let mut in_template = BTreeSet::new();
    // (method, path) → the binary of the function it is sent to.
    let mut http_routes: BTreeMap<(String, String), String> = BTreeMap::new();
    for (name, function) in &functions {
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{name}"
        );
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} names no binary"))
            .to_owned();
        if let Some(folder) = crates.get(&binary) {
            assert_eq!(
                function["Properties"]["CodeUri"].as_str(),
                Some(format!("functions/{folder}").as_str()),
                "{name}"
            );
        }
        let events = function["Properties"]["Events"]
            .as_mapping()
            .expect("Events");
        for (_, event) in events {
            if event["Type"] == "HttpApi" {
                assert_eq!(
                    event["Properties"]["ApiId"],
                    tagged("Ref", "Api"),
                    "{name}: an HttpApi event on another API"
                );
                let method = event["Properties"]["Method"].as_str().unwrap().to_owned();
                let path = event["Properties"]["Path"].as_str().unwrap().to_owned();
                assert!(
                    http_routes
                        .insert((method.clone(), path.clone()), binary.clone())
                        .is_none(),
                    "{method} {path} routed twice"
                );
            }
        }
        assert!(
            in_template.insert(binary),
            "{name}: a binary deployed twice"
        );
    }
    assert_eq!(
        in_template,
        crates.keys().cloned().collect::<BTreeSet<_>>(),
        "functions/* and template.yaml disagree"
    );

    // Every route is routed, with each of its methods, to the function its spec names; and
    // the template routes nothing else but /health.
    let mut declared: BTreeMap<(String, String), Route> = BTreeMap::new();
    for route in Route::ALL {
        let spec = route.spec();
        assert!(!spec.methods.is_empty(), "{route:?} declares no method");
        for method in spec.methods {
            let key = (method_name(*method).to_owned(), spec.path.to_owned());
            assert_eq!(
                http_routes.get(&key).map(String::as_str),
                Some(spec.function),
                "{} {} is not routed to {}",
                key.0,
                key.1,
                spec.function
            );
            assert!(
                declared.insert(key, route).is_none(),
                "two routes declare {} {}",
                method_name(*method),
                spec.path
            );
        }
    }
    let others: Vec<&(String, String)> = http_routes
        .keys()
        .filter(|k| !declared.contains_key(*k))
        .collect();
    assert_eq!(others, [&("GET".to_owned(), "/health".to_owned())]);

    // Each routed function's main serves its routes: its one endpoint through `run_http`,
    // or, for a family, a router of [`FAMILY_ROUTERS`] (which
    // `family_functions_serve_exactly_their_routes` sends every route to).
    let mut routes_of: BTreeMap<&str, Vec<Route>> = BTreeMap::new();
    for route in Route::ALL {
        routes_of
            .entry(route.spec().function)
            .or_default()
            .push(route);
    }
    for (function, routes) in &routes_of {
        let folder = crates
            .get(*function)
            .unwrap_or_else(|| panic!("no functions/* crate builds {function}"));
        match serves(&main_rs(folder)) {
            Some(Serves::Endpoint(endpoint)) => {
                let names: Vec<String> = routes.iter().map(|r| format!("{r:?}")).collect();
                assert_eq!(names, [endpoint], "{function} serves one endpoint");
            }
            Some(Serves::Family(_)) => {}
            None => panic!("{function}'s main.rs runs neither an endpoint nor a family router"),
        }
    }
}

/// The status a router answers a bare request (no key, no body) with.
async fn probe(router: &axum::Router, method: Method, path: &str) -> u16 {
    let request = axum::http::Request::builder()
        .method(method_name(method))
        .uri(path)
        .body(axum::body::Body::empty())
        .unwrap();
    router
        .clone()
        .oneshot(request)
        .await
        .expect("the router never fails")
        .status()
        .as_u16()
}

#[tokio::test]
async fn family_functions_serve_exactly_their_routes() {
    let table = atrack_tests::open_table(Engine::Embedded).await;
    let app: SharedApp = Arc::new(App::new(
        Config::default(),
        table.table.clone(),
        None,
        Enricher::new(Geo::disabled()),
        Arc::new(SystemClock),
    ));
    let crates = function_binaries();
    let mut checked = 0;
    for binary in functions_by_binary(&template()).keys() {
        let Some(Serves::Family(at)) = serves(&main_rs(&crates[binary])) else {
            continue;
        };
        let router = (FAMILY_ROUTERS[at].1)(app.clone());
        for route in Route::ALL {
            let spec = route.spec();
            for method in [Method::Get, Method::Post, Method::Delete] {
                let status = probe(&router, method, spec.path).await;
                let what = format!("{binary}: {} {}", method_name(method), spec.path);
                if spec.function != binary {
                    // Another function's route: unknown here.
                    assert_eq!(status, 404, "{what}");
                } else if Route::ALL.iter().any(|other| {
                    // A path may be served by several routes, one per method (TrackEvents'
                    // POST and GET).
                    let other = other.spec();
                    other.path == spec.path
                        && other.function == binary
                        && other.methods.contains(&method)
                }) {
                    // Served: a key is asked for (or, for a health check, none).
                    assert!([200, 401].contains(&status), "{what} answered {status}");
                } else {
                    assert_eq!(status, 405, "{what}");
                }
            }
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        FAMILY_ROUTERS.len(),
        "a family router no function runs"
    );
}

#[test]
fn count_consumes_the_table_stream_in_order_and_sets_failing_records_aside() {
    let t = template();
    let functions = of_type(&t, "AWS::Serverless::Function");
    let (_, count) = functions
        .iter()
        .find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == "count")
        .expect("the count function");
    let events = count["Properties"]["Events"].as_mapping().unwrap();
    let streams: Vec<&Value> = events
        .values()
        .filter(|e| e["Type"] == "DynamoDB")
        .collect();
    assert_eq!(streams.len(), 1);
    let p = &streams[0]["Properties"];
    assert_eq!(
        strings(&p["FunctionResponseTypes"]),
        ["ReportBatchItemFailures"]
    );
    // A shard's batches arrive in order, one at a time: each starts where the one before
    // started (a retry) or ended, which the count guard relies on (dynamo_counts.rs).
    assert_eq!(p["ParallelizationFactor"], 1);
    assert_eq!(p["StartingPosition"], "TRIM_HORIZON");
    // A failing batch is split down to the record that fails, which is retried a bounded
    // number of times (or until it is too old) and then set aside: it never holds up its
    // shard for good.
    assert_eq!(p["BisectBatchOnFunctionError"], true);
    let retries = number(&t, &p["MaximumRetryAttempts"]);
    assert!((0..=10_000).contains(&retries.0) && (0..=10_000).contains(&retries.1));
    let age = number(&t, &p["MaximumRecordAgeInSeconds"]);
    assert!((60..=604_800).contains(&age.0) && (60..=604_800).contains(&age.1));
    // Set aside into a queue of the template's, which the count role may send to and nothing
    // else may.
    let target = &p["DestinationConfig"]["OnFailure"]["Destination"];
    let queue = get_att_arn(target).expect("OnFailure names a queue's Arn");
    let resources = resources(&t);
    let (_, queue_resource) = resources
        .iter()
        .find(|(name, _)| *name == queue)
        .unwrap_or_else(|| panic!("no resource {queue}"));
    assert_eq!(queue_resource["Type"], "AWS::SQS::Queue");
    for (name, role) in of_type(&t, "AWS::IAM::Role") {
        let sends: Vec<(String, Value)> = statements(&role)
            .into_iter()
            .filter(|s| {
                strings_or_one(&s["Action"])
                    .iter()
                    .any(|a| a.starts_with("sqs:"))
            })
            .flat_map(|s| {
                strings_or_one(&s["Action"])
                    .into_iter()
                    .map(move |a| (a, s["Resource"].clone()))
            })
            .filter(|(_, resource)| get_att_arn(resource).as_deref() == Some(queue.as_str()))
            .collect();
        if name == "CountRole" {
            let actions: Vec<&str> = sends.iter().map(|(a, _)| a.as_str()).collect();
            assert_eq!(actions, ["sqs:SendMessage"], "the count role on {queue}");
            assert_eq!(
                count["Properties"]["Role"],
                tagged("GetAtt", "CountRole.Arn")
            );
        } else {
            assert!(sends.is_empty(), "{name} may use {queue}");
        }
    }
}

/// A number in the template, literal or a parameter's: its least and greatest values.
fn number(t: &Value, value: &Value) -> (i64, i64) {
    if let Some(n) = value.as_i64() {
        return (n, n);
    }
    let Value::Tagged(tagged) = value else {
        panic!("not a number: {value:?}")
    };
    assert_eq!(tagged.tag, "Ref", "{value:?}");
    let name = tagged.value.as_str().unwrap();
    let parameter = &t["Parameters"][name];
    assert_eq!(parameter["Type"], "Number", "{name}");
    let (min, max) = (
        parameter["MinValue"].as_i64(),
        parameter["MaxValue"].as_i64(),
    );
    let (Some(min), Some(max)) = (min, max) else {
        panic!("{name} has no MinValue and MaxValue")
    };
    let default = parameter["Default"].as_i64().expect("a default");
    assert!((min..=max).contains(&default), "{name}");
    (min, max)
}

fn tagged(tag: &str, value: &str) -> Value {
    Value::Tagged(Box::new(serde_yaml_ng::value::TaggedValue {
        tag: serde_yaml_ng::value::Tag::new(tag),
        value: Value::String(value.to_owned()),
    }))
}

/// `X` of `!GetAtt X.Arn`.
fn get_att_arn(value: &Value) -> Option<String> {
    let Value::Tagged(tagged) = value else {
        return None;
    };
    if tagged.tag != "GetAtt" {
        return None;
    }
    tagged
        .value
        .as_str()?
        .strip_suffix(".Arn")
        .map(str::to_owned)
}

/// A role's policy statements.
fn statements(role: &Value) -> Vec<Value> {
    role["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// An `Action`: one string or a list of them.
fn strings_or_one(value: &Value) -> Vec<String> {
    match value.as_str() {
        Some(one) => vec![one.to_owned()],
        None => strings(value),
    }
}

#[test]
fn enrich_consumes_the_queue_with_partial_batch_failures() {
    let t = template();
    let functions = of_type(&t, "AWS::Serverless::Function");
    let (_, enrich) = functions
        .iter()
        .find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == "enrich")
        .expect("the enrich function");
    let events = enrich["Properties"]["Events"].as_mapping().unwrap();
    let sqs: Vec<&Value> = events.values().filter(|e| e["Type"] == "SQS").collect();
    assert_eq!(sqs.len(), 1);
    assert_eq!(
        strings(&sqs[0]["Properties"]["FunctionResponseTypes"]),
        ["ReportBatchItemFailures"]
    );
    // Each allowed enrich timeout maps to a visibility timeout of at least six times it.
    let allowed = strings(&t["Parameters"]["EnrichFunctionTimeout"]["AllowedValues"]);
    assert!(!allowed.is_empty());
    for timeout in allowed {
        let seconds = t["Mappings"]["EnrichVisibility"][timeout.as_str()]["Seconds"]
            .as_u64()
            .unwrap_or_else(|| panic!("no visibility for timeout {timeout}"));
        assert!(
            seconds >= 6 * timeout.parse::<u64>().unwrap(),
            "timeout {timeout}"
        );
    }
    let queues = of_type(&t, "AWS::SQS::Queue");
    assert_eq!(
        queues.len(),
        3,
        "the queue, its dead-letter queue and count's failure queue"
    );
}

/// Every `Resource` of every IAM statement, anywhere in the template.
fn policy_resources(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                if k.as_str() == Some("Resource") {
                    match v.as_sequence() {
                        Some(list) => out.extend(list.iter().cloned()),
                        None => out.push(v.clone()),
                    }
                }
                policy_resources(v, out);
            }
        }
        Value::Sequence(list) => list.iter().for_each(|v| policy_resources(v, out)),
        Value::Tagged(tagged) => policy_resources(&tagged.value, out),
        _ => {}
    }
}

#[test]
fn policies_grant_no_wildcard_resource() {
    let mut found = Vec::new();
    policy_resources(&template(), &mut found);
    assert!(
        found.len() >= 12,
        "expected every role's statements, found {}",
        found.len()
    );
    for resource in found {
        if let Some(text) = resource.as_str() {
            assert!(!text.contains('*'), "wildcard resource {text}");
        }
        if let Value::Tagged(tagged) = &resource
            && let Some(text) = tagged.value.as_str()
        {
            assert!(!text.ends_with('*'), "wildcard resource {text}");
        }
    }
    // Every function runs under its own role rather than SAM's generated one.
    for (name, function) in of_type(&template(), "AWS::Serverless::Function") {
        assert!(
            !function["Properties"]["Role"].is_null(),
            "{name} has no explicit role"
        );
        assert!(
            function["Properties"]["Policies"].is_null(),
            "{name} adds SAM policies"
        );
    }
}

/// The DynamoDB actions a role's statements allow, on the table or its indexes.
fn table_actions(role: &Value) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for policy in role["Properties"]["Policies"].as_sequence().unwrap() {
        for statement in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
            // An action is one string or a list of them.
            let listed = match statement["Action"].as_str() {
                Some(one) => vec![one.to_owned()],
                None => strings(&statement["Action"]),
            };
            actions.extend(listed.into_iter().filter(|a| a.starts_with("dynamodb:")));
        }
    }
    actions
}

#[test]
fn reading_functions_cannot_write_the_table_and_cursors_are_signed_by_a_stack_secret() {
    let t = template();
    let resources = resources(&t);
    let role = |name: &str| {
        &resources
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .1
    };
    for reader in [
        "EventShowRole",
        "SessionShowRole",
        "UserShowRole",
        "CompanyShowRole",
    ] {
        let actions = table_actions(role(reader));
        assert!(!actions.is_empty(), "{reader} reads the table");
        for action in &actions {
            assert!(
                [
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:BatchGetItem"
                ]
                .contains(&action.as_str()),
                "{reader} may {action}"
            );
        }
    }
    // The secret is the stack's, resolved into the one function that signs cursors.
    let secrets = of_type(&t, "AWS::SecretsManager::Secret");
    assert_eq!(secrets.len(), 1);
    let (secret_name, secret) = &secrets[0];
    assert!(secret["Properties"]["GenerateSecretString"]["PasswordLength"].as_u64() >= Some(32));
    let functions = of_type(&t, "AWS::Serverless::Function");
    let using: Vec<&str> = functions
        .iter()
        .filter(|(_, f)| {
            f["Properties"]["Environment"]["Variables"]
                .get("ATRACK_CURSOR_SECRET")
                .is_some()
        })
        .map(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap())
        .collect();
    assert_eq!(using, ["event-show", "company-show", "export"]);
    let (_, event_show) = functions
        .iter()
        .find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == "event-show")
        .unwrap();
    let reference = format!(
        "{:?}",
        event_show["Properties"]["Environment"]["Variables"]["ATRACK_CURSOR_SECRET"]
    );
    assert!(
        reference.contains(&format!("{{{{resolve:secretsmanager:${{{secret_name}}}")),
        "{reference}"
    );
}

/// The logical name of the role a function runs under (`Role: !GetAtt X.Arn`).
fn role_name(function: &Value) -> String {
    get_att_arn(&function["Properties"]["Role"]).expect("Role: !GetAtt <role>.Arn")
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    &t["Resources"][name]
}

#[test]
fn every_function_logs_only_to_its_own_log_group() {
    let t = template();
    for (binary, function) in functions_by_binary(&t) {
        let role = resource(&t, &role_name(&function));
        let logs: Vec<Value> = statements(role)
            .into_iter()
            .filter(|s| {
                strings_or_one(&s["Action"])
                    .iter()
                    .any(|a| a.starts_with("logs:"))
            })
            .collect();
        assert_eq!(logs.len(), 1, "{binary}");
        assert_eq!(
            strings_or_one(&logs[0]["Action"]),
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            "{binary}"
        );
        let group = get_att_arn(&logs[0]["Resource"]).expect("a log group's Arn");
        let group = resource(&t, &group);
        assert_eq!(group["Type"], "AWS::Logs::LogGroup", "{binary}");
        assert_eq!(
            group["Properties"]["LogGroupName"],
            tagged("Sub", &format!("/aws/lambda/${{AWS::StackName}}-{binary}")),
            "{binary}"
        );
        assert_eq!(
            function["Properties"]["FunctionName"],
            tagged("Sub", &format!("${{AWS::StackName}}-{binary}")),
            "{binary}"
        );
    }
}

/// A resource as the template writes it: `!GetAtt Table.Arn`, or the value's debug form.
fn describe(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) => match tagged.value.as_str() {
            Some(text) => format!("{} {text}", tagged.tag),
            None => format!("{value:?}"),
        },
        other => format!("{other:?}"),
    }
}

/// A role's actions of one service (`dynamodb:`, `sqs:`) with the resource each applies to.
fn actions_on(role: &Value, service: &str) -> BTreeSet<(String, String)> {
    statements(role)
        .into_iter()
        .flat_map(|s| {
            let resource = describe(&s["Resource"]);
            strings_or_one(&s["Action"])
                .into_iter()
                .filter(|a| a.starts_with(service))
                .map(move |a| (a, resource.clone()))
        })
        .collect()
}

#[test]
fn batch_and_analytics_roles_allow_exactly_the_calls_their_code_makes() {
    let t = template();
    let functions = functions_by_binary(&t);
    let table = describe(&tagged("GetAtt", "Table.Arn"));
    let on_table = |actions: &[&str]| -> BTreeSet<(String, String)> {
        actions
            .iter()
            .map(|a| (format!("dynamodb:{a}"), table.clone()))
            .collect()
    };
    // /batch (store/repo/events.rs `record_events`, and `record_event` for an event with an
    // event_id but no timestamp): the key and settings read, each session with its visit
    // queried, the id sequence, sessions and visits updated, markers, expired sessions and a
    // visit's automatic events put, keyed events looked for in bulk, events written in bulk.
    // No Delete, no transaction, no queue.
    let batch = resource(&t, &role_name(&functions["batch"]));
    assert_eq!(
        actions_on(batch, "dynamodb:"),
        on_table(&[
            "BatchGetItem",
            "BatchWriteItem",
            "GetItem",
            "PutItem",
            "Query",
            "UpdateItem"
        ])
    );
    assert!(actions_on(batch, "sqs:").is_empty());
    // The analytics API writes its events as /batch does, never with an event_id (so no
    // BatchGetItem), and its stats are GetItems of count items and STREAM/STATUS, plus the
    // enrichment queue's length.
    let analytics = resource(&t, &role_name(&functions["analytics"]));
    assert_eq!(
        actions_on(analytics, "dynamodb:"),
        on_table(&[
            "BatchWriteItem",
            "GetItem",
            "PutItem",
            "Query",
            "UpdateItem"
        ])
    );
    // The sweeper reads the open visits in GSI1 only, never the table by query (nor a scan),
    // and writes and deletes single items.
    let sweep = resource(&t, &role_name(&functions["sweep"]));
    let mut expected = on_table(&["DeleteItem", "GetItem", "PutItem", "UpdateItem"]);
    expected.insert((
        "dynamodb:Query".to_owned(),
        describe(&tagged("Sub", "${Table.Arn}/index/GSI1")),
    ));
    assert_eq!(actions_on(sweep, "dynamodb:"), expected);
    assert_eq!(
        actions_on(analytics, "sqs:"),
        BTreeSet::from([(
            "sqs:GetQueueAttributes".to_owned(),
            describe(&tagged("GetAtt", "EnrichQueue.Arn"))
        )])
    );
    for role in [batch, analytics] {
        for statement in statements(role) {
            for action in strings_or_one(&statement["Action"]) {
                assert!(
                    ["logs:", "dynamodb:", "sqs:"]
                        .iter()
                        .any(|s| action.starts_with(s)),
                    "{action}"
                );
            }
        }
    }
}

#[test]
fn batch_and_analytics_get_only_the_environment_they_read() {
    let t = template();
    let functions = functions_by_binary(&t);
    let variables = |binary: &str| -> BTreeMap<String, Value> {
        functions[binary]["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    // TABLE_NAME and the log settings come from Globals; /batch needs nothing more.
    assert_eq!(variables("batch"), BTreeMap::new());
    // The stats report the enrichment queue's length and the count function's stream
    // source settings, passed from the same parameters as the source itself.
    let (_, count) = of_type(&t, "AWS::Serverless::Function")
        .into_iter()
        .find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == "count")
        .expect("the count function");
    let stream = count["Properties"]["Events"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|e| e["Type"] == "DynamoDB")
        .expect("count's stream")["Properties"]
        .clone();
    assert_eq!(
        variables("analytics"),
        BTreeMap::from([
            ("QUEUE_URL".to_owned(), tagged("Ref", "EnrichQueue")),
            (
                "ATRACK_STREAM_BATCH_SIZE".to_owned(),
                stream["BatchSize"].clone()
            ),
            (
                "ATRACK_STREAM_BATCHING_WINDOW_SECS".to_owned(),
                stream["MaximumBatchingWindowInSeconds"].clone()
            ),
        ])
    );
}
