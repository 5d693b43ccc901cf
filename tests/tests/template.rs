//! template.yaml agrees with the code: the table is the one `store/keys.rs` defines, every
//! `functions/*` crate has its function and route and every route a crate, the enrich
//! and count functions report partial batch failures, count's stream sets failing records
//! aside into a queue only it may send to, the queue outlives its consumer's timeout, and no
//! policy grants a wildcard resource.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use atrack_shared::http::Route;
use atrack_shared::store::keys::TABLE;
use serde_yaml_ng::Value;

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

/// The binary name each `functions/*` crate builds.
fn function_binaries() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("functions")).expect("functions/") {
        let manifest = entry.unwrap().path().join("Cargo.toml");
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
        names.insert(bin);
    }
    names
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
        assert_eq!(found["Projection"]["ProjectionType"], "ALL");
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
    let mut in_template = BTreeSet::new();
    let mut http_routes = BTreeSet::new();
    for (name, function) in &functions {
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{name}"
        );
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} names no binary"))
            .to_owned();
        let events = function["Properties"]["Events"]
            .as_mapping()
            .expect("Events");
        for (_, event) in events {
            if event["Type"] == "HttpApi" {
                let method = event["Properties"]["Method"].as_str().unwrap().to_owned();
                let path = event["Properties"]["Path"].as_str().unwrap().to_owned();
                assert!(
                    http_routes.insert((method.clone(), path.clone(), binary.clone())),
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
        function_binaries(),
        "functions/* and template.yaml disagree"
    );

    // Every endpoint is routed, with POST, to the function built for it, whose main serves
    // that route; and the template routes nothing else but /health.
    for route in Route::ALL {
        let binary = route.path().trim_start_matches('/').replace('/', "-");
        assert!(
            http_routes.contains(&("POST".to_owned(), route.path().to_owned(), binary.clone())),
            "POST {} is not routed to {binary}",
            route.path()
        );
        let main =
            std::fs::read_to_string(root().join("functions").join(&binary).join("src/main.rs"))
                .unwrap();
        // `http::endpoint::X` is the endpoint whose ROUTE is `Route::X` (one macro makes both).
        assert!(
            main.contains(&format!(
                "run_http::<atrack_shared::http::endpoint::{route:?}>"
            )),
            "{binary} does not serve {route:?}"
        );
    }
    let routed: BTreeSet<&str> = http_routes.iter().map(|(_, p, _)| p.as_str()).collect();
    let expected: BTreeSet<&str> = Route::ALL
        .iter()
        .map(|r| r.path())
        .chain(["/health"])
        .collect();
    assert_eq!(routed, expected);
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
    for reader in ["EventShowRole", "SessionShowRole"] {
        let actions = table_actions(role(reader));
        assert!(!actions.is_empty(), "{reader} reads the table");
        for action in &actions {
            assert!(
                ["dynamodb:GetItem", "dynamodb:Query"].contains(&action.as_str()),
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
    assert_eq!(using, ["event-show"]);
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
