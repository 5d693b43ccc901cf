//! Visits' last activity on DynamoDB, moved from the table's stream: an event's write is its
//! item and its index entry, nothing more; the consumer moves the last activity of each UUID
//! whose events a batch holds, once per batch, to the newest of them (`store::activity`'s
//! rule and latest-wins write, so a redelivered batch changes nothing).

use std::collections::BTreeMap;
use std::collections::HashMap;

use super::counts::{Delivery, Record};
use crate::domain::time::{SystemClock, Timestamp};
pub use crate::store::activity::Activity;
use crate::store::activity::activity;
use crate::store::engine::dynamo::DynamoTable;
use crate::store::keys::{PK, SK};
use crate::store::repo::Repo;
use crate::store::table::StoreResult;

/// Touches in flight at once: a batch of a thousand events from a thousand UUIDs is a thousand
/// small writes, sent a few dozen at a time.
const CONCURRENT_TOUCHES: usize = 32;

/// The activity of an insert, from a Lambda record's images (typed JSON).
pub fn activity_of_json(
    old: Option<&serde_json::Value>,
    new: Option<&serde_json::Value>,
) -> Option<Activity> {
    if old.is_some_and(|o| !o.is_null()) {
        return None;
    }
    let new = new?.as_object()?;
    let text = |name: &str| new.get(name)?.get("S")?.as_str();
    activity(text(PK)?, text(SK)?, text("name")?, text("created_at")?)
}

/// The activity of an insert, from a Streams API record's images.
pub fn activity_of_stream(
    old: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>,
    new: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>,
) -> Option<Activity> {
    use aws_sdk_dynamodbstreams::types::AttributeValue as V;
    if old.is_some() {
        return None;
    }
    let new = new?;
    let text = |name: &str| match new.get(name) {
        Some(V::S(s)) => Some(s.as_str()),
        _ => None,
    };
    activity(text(PK)?, text(SK)?, text("name")?, text("created_at")?)
}

/// Each session partition's newest activity among the records.
fn newest_by_partition(records: &[Record]) -> BTreeMap<&str, Timestamp> {
    let mut newest: BTreeMap<&str, Timestamp> = BTreeMap::new();
    for activity in records
        .iter()
        .filter_map(Record::change)
        .filter_map(|c| c.activity.as_ref())
    {
        let at = newest.entry(&activity.partition).or_insert(activity.at);
        *at = (*at).max(activity.at);
    }
    newest
}

/// Moves the last activity of every UUID the records show active. Returns how many visits it
/// touched.
pub async fn apply(repo: &Repo<DynamoTable>, records: &[Record]) -> StoreResult<usize> {
    let newest: Vec<(&str, Timestamp)> = newest_by_partition(records).into_iter().collect();
    for chunk in newest.chunks(CONCURRENT_TOUCHES) {
        futures::future::try_join_all(
            chunk
                .iter()
                .map(|(partition, at)| repo.touch_visit(partition, *at)),
        )
        .await?;
    }
    Ok(newest.len())
}

/// Last activity as a [`StreamHandler`](super::StreamHandler).
pub struct LastActivity(Repo<DynamoTable>);

impl LastActivity {
    pub fn new(table: DynamoTable) -> Self {
        LastActivity(Repo::new(table, std::sync::Arc::new(SystemClock)))
    }
}

impl super::StreamHandler for LastActivity {
    fn name(&self) -> &'static str {
        "last activity"
    }

    fn handle<'a>(
        &'a self,
        records: &'a [Record],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Delivery> + Send + 'a>> {
        Box::pin(async move {
            match apply(&self.0, records).await {
                Ok(touched) => Delivery {
                    counted: touched,
                    retry_from: None,
                },
                // Touches are latest-wins: the whole delivery again is safe.
                Err(e) => {
                    tracing::warn!(
                        error = &e as &dyn std::error::Error,
                        "moving last activity failed; the delivery will come again"
                    );
                    Delivery {
                        counted: 0,
                        retry_from: records.first().map(|r| r.sequence().to_owned()),
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_inserted_events_are_activity() {
        let event = json!({
            "PK": {"S": "P#shop#U#u1"},
            "SK": {"S": "EV#2026-12-02T01:00:00.000000Z#e1"},
            "name": {"S": "product.buy"},
            "created_at": {"S": "2026-12-02T01:00:05.000000Z"},
        });
        let found = activity_of_json(None, Some(&event)).unwrap();
        assert_eq!(found.partition, "P#shop#U#u1");
        assert_eq!(found.at.to_string(), "2026-12-02T01:00:05.000000Z");
        // A change or a removal of an event is not activity; nor is a session's write.
        assert_eq!(activity_of_json(Some(&event), Some(&event)), None);
        assert_eq!(activity_of_json(Some(&event), None), None);
        let session = json!({
            "PK": {"S": "P#shop#U#u1"},
            "SK": {"S": "~SESSION"},
            "created_at": {"S": "2026-12-02T01:00:05.000000Z"},
        });
        assert_eq!(activity_of_json(None, Some(&session)), None);
        // A visit's end, stored by the sweeper long after the visit's last activity, is none.
        let mut end = event.clone();
        end["name"] = json!({"S": "session.end"});
        assert_eq!(activity_of_json(None, Some(&end)), None);
    }
}
