//! Who is calling: the key from the `x-a-track-key` header (or, for beacons, a public key in
//! the body's `key`) resolved to a project, and whether it may call the route.

use std::borrow::Cow;

use base64::Engine;
use http::HeaderMap;
use serde_json::{Map, Value};

use crate::domain::project::{Project, Scope};
use crate::error::Error;
use crate::http::router::RouteSpec;
use crate::service::App;

pub const KEY_HEADER: &str = "x-a-track-key";
/// The body field that carries a public key where no header can be set (`navigator.sendBeacon`).
pub const KEY_FIELD: &str = "key";

/// Where a route looks for its caller's key (`RouteSpec::credentials`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// A header that holds the key itself (`x-a-track-key`).
    Header(&'static str),
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `Authorization: epi-single <key>` (the profile store's scheme).
    EpiSingle,
    /// `Authorization: Basic base64(<key>:)`: the key as the user name, the password empty
    /// (Segment's write key).
    Basic,
    /// A top-level string field of the JSON body (`key` for beacons). Public keys only.
    BodyField(&'static str),
}

/// Where a request's key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential<'a> {
    /// From a header (the key header, Bearer, or Basic's decoded user name).
    Header(Cow<'a, str>),
    /// From a body field: public keys only.
    Body {
        key: &'a str,
        field: &'static str,
    },
    Missing,
}

impl<'a> Credential<'a> {
    /// The first header source present. A header that is there but malformed (not text, not
    /// the scheme, not base64) is an unknown key, never a reason to look elsewhere.
    pub fn in_headers(headers: &'a HeaderMap, sources: &[CredentialSource]) -> Self {
        for source in sources {
            let (name, scheme) = match source {
                CredentialSource::Header(name) => (*name, None),
                CredentialSource::Bearer => ("authorization", Some("Bearer ")),
                CredentialSource::Basic => ("authorization", Some("Basic ")),
                CredentialSource::EpiSingle => ("authorization", Some("epi-single ")),
                CredentialSource::BodyField(_) => continue,
            };
            let Some(value) = headers.get(name) else {
                continue;
            };
            let text = value.to_str().unwrap_or("");
            let Some(scheme) = scheme else {
                return Credential::Header(Cow::Borrowed(text));
            };
            let Some(rest) = text
                .get(..scheme.len())
                .filter(|s| s.eq_ignore_ascii_case(scheme))
                .map(|_| &text[scheme.len()..])
            else {
                // The other scheme, perhaps: a later source may take it.
                continue;
            };
            let rest = rest.trim();
            if matches!(
                source,
                CredentialSource::Bearer | CredentialSource::EpiSingle
            ) {
                return Credential::Header(Cow::Borrowed(rest));
            }
            return Credential::Header(Cow::Owned(basic_user(rest).unwrap_or_default()));
        }
        Credential::Missing
    }

    /// The first body field source present in the decoded body.
    pub fn in_body(body: Option<&'a Map<String, Value>>, sources: &[CredentialSource]) -> Self {
        let Some(body) = body else {
            return Credential::Missing;
        };
        for source in sources {
            if let CredentialSource::BodyField(field) = source
                && let Some(key) = body.get(*field).and_then(Value::as_str)
            {
                return Credential::Body { key, field };
            }
        }
        Credential::Missing
    }
}

/// What a caller without a key is told: where the route looks for one.
fn missing_message(sources: &[CredentialSource]) -> &'static str {
    match sources.first() {
        Some(CredentialSource::Bearer) => "Not authenticated",
        Some(CredentialSource::Basic) => "missing write key: send it as the Basic user name",
        Some(CredentialSource::EpiSingle) => "missing Authorization: epi-single <key> header",
        _ => "missing x-a-track-key header",
    }
}

/// The user name of Basic credentials (`base64(user:password)`), which carries the key.
fn basic_user(encoded: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, _password) = text.split_once(':').unwrap_or((&text, ""));
    Some(user.to_owned())
}

/// Resolves the request's key and checks it may do what the route needs: its project and
/// what the key may do.
pub async fn authorize(
    app: &App,
    credential: Credential<'_>,
    route: RouteSpec,
) -> Result<(Project, Scope), Error> {
    let needed = route.scope;
    let (raw, in_body) = match &credential {
        Credential::Header(raw) => (raw.trim(), false),
        Credential::Body { key, .. } => (key.trim(), true),
        Credential::Missing => return Err(Error::Unauthorized(missing_message(route.credentials))),
    };
    let record = app
        .find_key(raw)
        .await?
        .ok_or(Error::Unauthorized("unknown API key"))?;
    if in_body && record.scope != Scope::Public {
        // A body is logged, cached and replayed far more freely than a header: a secret key
        // that travelled in one is refused (and should be revoked by whoever sent it).
        return Err(Error::Forbidden(
            "a secret key is accepted only in the x-a-track-key header",
        ));
    }
    if needed == Scope::Secret && record.scope != Scope::Secret {
        return Err(Error::Forbidden("this endpoint needs a secret key"));
    }
    Ok((record.project, record.scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[CredentialSource] = &[
        CredentialSource::Header("x-a-track-key"),
        CredentialSource::Bearer,
        CredentialSource::Basic,
        CredentialSource::BodyField("key"),
        CredentialSource::BodyField("writeKey"),
    ];

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn header_key(c: Credential<'_>) -> Option<String> {
        match c {
            Credential::Header(k) => Some(k.into_owned()),
            _ => None,
        }
    }

    #[test]
    fn each_source_finds_its_key_in_the_declared_order() {
        let h = headers(&[("x-a-track-key", "pk_1"), ("authorization", "Bearer pk_2")]);
        assert_eq!(
            header_key(Credential::in_headers(&h, ALL)).as_deref(),
            Some("pk_1")
        );
        let h = headers(&[("authorization", "bearer  pk_2 ")]);
        assert_eq!(
            header_key(Credential::in_headers(&h, ALL)).as_deref(),
            Some("pk_2")
        );
        // Segment's shape: the write key as the user name, an empty password.
        let h = headers(&[("authorization", "Basic cGtfMzo=")]);
        assert_eq!(
            header_key(Credential::in_headers(&h, ALL)).as_deref(),
            Some("pk_3")
        );
        // A Basic value that is not base64 is an unknown key, not a reason to look further.
        let h = headers(&[("authorization", "Basic %%%")]);
        assert_eq!(
            header_key(Credential::in_headers(&h, ALL)).as_deref(),
            Some("")
        );
        // A route that does not declare a source ignores it.
        let h = headers(&[("authorization", "Bearer pk_2")]);
        assert_eq!(
            Credential::in_headers(&h, &[CredentialSource::Header("x-a-track-key")]),
            Credential::Missing
        );
    }

    #[test]
    fn body_fields_are_looked_up_in_order_and_only_as_strings() {
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"key": 5, "writeKey": "pk_4"}"#).unwrap();
        assert_eq!(
            Credential::in_body(Some(&body), ALL),
            Credential::Body {
                key: "pk_4",
                field: "writeKey"
            }
        );
        assert_eq!(Credential::in_body(None, ALL), Credential::Missing);
    }
}
