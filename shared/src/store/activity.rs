//! Activity: which writes move a visit's last activity, and the write that moves it. An
//! inserted event item is activity of the UUID whose partition it is in, at the time it was
//! received; the visit item (`~VISIT`) then takes that time unless it holds a later one.
//!
//! One rule, two appliers, as with the counts: the embedded engine applies the touch inside
//! the transaction that inserts the event, and on DynamoDB the stream's consumer applies it
//! (`streams::activity`), once per UUID per batch, so an event's own write stays its item and
//! its index entry.

use crate::domain::time::Timestamp;
use crate::domain::visit::is_activity;
use crate::store::item::{Attr, Item, get_s};
use crate::store::keys::{self, EVENT_SK_PREFIX, PK, SK};
use crate::store::table::{Condition, Key, Update, UpdateOp};

/// The visit item's last-activity attribute (microseconds since the epoch).
pub const LAST_ACTIVITY: &str = "last_activity_us";

/// Activity an insert stands for: of the UUID whose session partition it is in, at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub partition: String,
    pub at: Timestamp,
}

/// The activity of an inserted item, from its key, name and receipt time: an event's, except
/// a visit's end (`domain::visit::is_activity`).
pub fn activity(pk: &str, sk: &str, name: &str, created_at: &str) -> Option<Activity> {
    if !sk.starts_with(EVENT_SK_PREFIX) || !is_activity(name) {
        return None;
    }
    Some(Activity {
        partition: pk.to_owned(),
        at: Timestamp::parse_rfc3339(created_at)?,
    })
}

/// The activity of an inserted item (the embedded engine's view of one).
pub fn activity_of_item(item: &Item) -> Option<Activity> {
    activity(
        get_s(item, PK)?,
        get_s(item, SK)?,
        get_s(item, "name")?,
        get_s(item, "created_at")?,
    )
}

/// The write that moves a visit's last activity to `at`, unless it is later already: the latest
/// wins, so touches may come in any order and any number of times (a redelivered stream
/// batch). It never creates a visit item (a UUID without one has nothing to move).
pub fn touch(session_partition: &str, at: Timestamp) -> Update {
    Update {
        key: Key::new(session_partition, keys::VISIT_SK),
        ops: vec![UpdateOp::Set(LAST_ACTIVITY.into(), Attr::n(at.micros()))],
        condition: Some(Condition::ExistsAndBelow(LAST_ACTIVITY.into(), at.micros())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_events_are_activity_but_a_visit_end_is_not() {
        let pk = "P#shop#U#u1";
        let sk = "EV#2026-12-02T01:00:00.000000Z#e1";
        let at = "2026-12-02T01:00:05.000000Z";
        let found = activity(pk, sk, "product.buy", at).unwrap();
        assert_eq!(found.partition, pk);
        assert_eq!(found.at.to_string(), at);
        assert_eq!(activity(pk, sk, "session.end", at), None);
        assert_eq!(activity(pk, "~SESSION", "product.buy", at), None);
        assert_eq!(activity(pk, sk, "product.buy", "yesterday"), None);
    }
}
