//! Who is calling: the key from the `x-a-track-key` header (or, for beacons, a public key in
//! the body's `key`) resolved to a project, and whether it may call the route.

use http::HeaderMap;
use serde_json::{Map, Value};

use crate::domain::project::{Project, Scope};
use crate::error::Error;
use crate::service::App;

pub const KEY_HEADER: &str = "x-a-track-key";
/// The body field that carries a public key where no header can be set (`navigator.sendBeacon`).
pub const KEY_FIELD: &str = "key";

/// Where a request's key came from.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    Header(&'a str),
    /// The body's `key` field: public keys only.
    Body(&'a str),
    Missing,
}

impl<'a> Credential<'a> {
    /// The `x-a-track-key` header when present (a header that is not text is an unknown key,
    /// never a reason to look in the body), else the body's `key` field.
    pub fn find(headers: &'a HeaderMap, body: Option<&'a Map<String, Value>>) -> Self {
        match headers.get(KEY_HEADER) {
            Some(value) => Credential::Header(value.to_str().unwrap_or("")),
            None => match body.and_then(|b| b.get(KEY_FIELD)).and_then(Value::as_str) {
                Some(key) => Credential::Body(key),
                None => Credential::Missing,
            },
        }
    }
}

/// Resolves the request's key and checks it may do what `needed` requires.
pub async fn authorize(
    app: &App,
    credential: Credential<'_>,
    needed: Scope,
) -> Result<Project, Error> {
    let raw = match credential {
        Credential::Header(raw) | Credential::Body(raw) => raw.trim(),
        Credential::Missing => return Err(Error::Unauthorized("missing x-a-track-key header")),
    };
    let record = app
        .find_key(raw)
        .await?
        .ok_or(Error::Unauthorized("unknown API key"))?;
    if matches!(credential, Credential::Body(_)) && record.scope != Scope::Public {
        // A body is logged, cached and replayed far more freely than a header: a secret key
        // that travelled in one is refused (and should be revoked by whoever sent it).
        return Err(Error::Forbidden(
            "a secret key is accepted only in the x-a-track-key header",
        ));
    }
    if needed == Scope::Secret && record.scope != Scope::Secret {
        return Err(Error::Forbidden("this endpoint needs a secret key"));
    }
    Ok(record.project)
}
