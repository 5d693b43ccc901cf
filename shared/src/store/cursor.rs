//! Opaque, tamper-evident cursors for event/show. A cursor carries the position after the last
//! row of a page (DynamoDB's LastEvaluatedKey), the page number it leads to and the query it
//! belongs to, signed with HMAC-SHA256 under a per-deployment secret kept in the table. A forged
//! cursor, or one from another project, name or sort order, is rejected.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::item::Item;

type HmacSha256 = Hmac<Sha256>;

/// What a cursor says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CursorState {
    /// The query it belongs to: project, event name, sort.
    pub project: String,
    pub name: String,
    pub sort: String,
    /// The page this cursor opens.
    pub page: u64,
    /// Key attributes of the previous page's last row.
    pub after: Item,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CursorError {
    #[error("cursor is malformed")]
    Malformed,
    #[error("cursor signature does not match")]
    BadSignature,
    #[error("cursor belongs to another query")]
    Foreign,
}

/// Signs and checks cursors with one secret.
#[derive(Clone)]
pub struct CursorCodec {
    secret: Vec<u8>,
    /// The secret is this process's own (see [`CursorCodec::random`]).
    ephemeral: bool,
}

impl CursorCodec {
    pub fn new(secret: Vec<u8>) -> Self {
        CursorCodec {
            secret,
            ephemeral: false,
        }
    }

    /// A codec with a fresh random secret: cursors it signs are good in this process only.
    /// It says so once, when it first signs one (only event/show's functions ever do).
    pub fn random() -> Self {
        use rand::RngCore;
        let mut secret = vec![0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        CursorCodec {
            secret,
            ephemeral: true,
        }
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("HMAC takes keys of any size");
        mac.update(payload);
        mac
    }

    pub fn encode(&self, state: &CursorState) -> String {
        static WARNED: std::sync::Once = std::sync::Once::new();
        if self.ephemeral {
            WARNED.call_once(|| {
                tracing::warn!(
                    "ATRACK_CURSOR_SECRET is not set: event/show cursors are signed with a \
                     secret of this process and fail in any other"
                );
            });
        }
        let payload = serde_json::to_vec(state).unwrap_or_default();
        let tag = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Checks the signature, then that the cursor belongs to this exact query.
    pub fn decode(
        &self,
        text: &str,
        project: &str,
        name: &str,
        sort: &str,
    ) -> Result<CursorState, CursorError> {
        let (payload, tag) = text.split_once('.').ok_or(CursorError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| CursorError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| CursorError::Malformed)?;
        self.mac(&payload)
            .verify_slice(&tag)
            .map_err(|_| CursorError::BadSignature)?;
        let state: CursorState =
            serde_json::from_slice(&payload).map_err(|_| CursorError::Malformed)?;
        if state.project != project || state.name != name || state.sort != sort {
            return Err(CursorError::Foreign);
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::item::Attr;

    fn state() -> CursorState {
        CursorState {
            project: "acme".into(),
            name: "checkout".into(),
            sort: "desc".into(),
            page: 2,
            after: Item::from([("PK".into(), Attr::s("P#acme#U#x"))]),
        }
    }

    #[test]
    fn round_trips() {
        let codec = CursorCodec::new(b"secret".to_vec());
        let text = codec.encode(&state());
        assert_eq!(codec.decode(&text, "acme", "checkout", "desc"), Ok(state()));
    }

    #[test]
    fn rejects_forgery_and_foreign_queries() {
        let codec = CursorCodec::new(b"secret".to_vec());
        let text = codec.encode(&state());
        let other = CursorCodec::new(b"other".to_vec());
        assert_eq!(
            other.decode(&text, "acme", "checkout", "desc"),
            Err(CursorError::BadSignature)
        );
        assert_eq!(
            codec.decode(&text, "evil", "checkout", "desc"),
            Err(CursorError::Foreign)
        );
        assert_eq!(
            codec.decode(&text, "acme", "checkout", "asc"),
            Err(CursorError::Foreign)
        );
        let mut forged = state();
        forged.project = "evil".into();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tag = text.split_once('.').unwrap().1;
        assert_eq!(
            codec.decode(&format!("{payload}.{tag}"), "evil", "checkout", "desc"),
            Err(CursorError::BadSignature)
        );
        assert_eq!(
            codec.decode("garbage", "acme", "checkout", "desc"),
            Err(CursorError::Malformed)
        );
    }
}
