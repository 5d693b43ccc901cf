//! `track_id`: an opaque id on every event row that locates the event without a lookup index.
//! It is the event's key within its project, packed: the session's UUID (16 bytes), the time
//! in its sort key (8 bytes, microseconds) and its event id (16 bytes), base64url without
//! padding (54 characters). The project is not in it: it comes from the caller's key, so an id
//! presented to another project names nothing there.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use super::keys;
use crate::domain::time::Timestamp;
use crate::domain::values::SessionUuid;

const LEN: usize = 16 + 8 + 16;

/// The track id of the event stored under `uuid`'s partition with sort key `sk`, if `sk` is an
/// event's sort key.
pub fn encode(uuid: &str, sk: &str) -> Option<String> {
    let uuid = Uuid::parse_str(uuid).ok()?;
    let rest = sk.strip_prefix(keys::EVENT_SK_PREFIX)?;
    let (at, event_id) = rest.split_once('#')?;
    let at = Timestamp::parse_rfc3339(at)?;
    let event_id = Uuid::parse_str(event_id).ok()?;
    let mut bytes = [0u8; LEN];
    bytes[..16].copy_from_slice(uuid.as_bytes());
    bytes[16..24].copy_from_slice(&at.micros().to_be_bytes());
    bytes[24..].copy_from_slice(event_id.as_bytes());
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// Where a track id points: the session's UUID and the event's sort key. `None` for text that
/// is not a track id (any other text, however long, is refused without a read).
pub fn decode(text: &str) -> Option<(SessionUuid, String)> {
    if text.len() != 54 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let bytes: [u8; LEN] = bytes.try_into().ok()?;
    let uuid = Uuid::from_slice(&bytes[..16]).ok()?;
    let micros = i64::from_be_bytes(bytes[16..24].try_into().ok()?);
    let event_id = Uuid::from_slice(&bytes[24..]).ok()?;
    let uuid = SessionUuid::parse(&uuid.to_string()).ok()?;
    let sk = keys::event_sk(
        &Timestamp::from_micros(micros).to_string(),
        &event_id.to_string(),
    );
    Some((uuid, sk))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "7d1c5b52-5f4f-4d47-9a45-6a4f9c3d2e10";
    const EVENT: &str = "0b6e8f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn round_trips_an_event_key() {
        let sk = keys::event_sk("2026-04-12T02:10:00.123456Z", EVENT);
        let id = encode(UUID, &sk).unwrap();
        assert_eq!(id.len(), 54);
        let (uuid, back) = decode(&id).unwrap();
        assert_eq!(uuid.to_string(), UUID);
        assert_eq!(back, sk);
    }

    #[test]
    fn refuses_what_is_not_a_track_id() {
        assert!(encode(UUID, "~SESSION").is_none());
        assert!(
            encode(
                "not-a-uuid",
                &keys::event_sk("2026-04-12T02:10:00.000000Z", EVENT)
            )
            .is_none()
        );
        assert!(decode("").is_none());
        assert!(decode(&"A".repeat(54)).is_some_and(|(_, sk)| sk.starts_with("EV#")));
        assert!(decode(&"!".repeat(54)).is_none());
        assert!(decode(&"A".repeat(55)).is_none());
        assert!(decode("ééééééééééééééééééééééééééé").is_none());
    }
}
