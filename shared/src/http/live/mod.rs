//! The live events page: `GET /` serves one self-contained page (HTML, its stylesheet and its
//! script, all compiled into the binary) that a person opens to watch a project's events
//! arrive. It holds no rules of its own and no key: the browser asks for the secret key, keeps
//! it in the tab's `sessionStorage`, and calls the API's own routes (`/event/query`,
//! `/session/show`) from the same origin, polling, so it works the same behind `atrack serve`
//! and behind API Gateway, where nothing streams.
//!
//! The three files are separate routes rather than one page with inline code so that the
//! Content-Security-Policy can allow scripts and styles from this origin only (`'self'`), with
//! no `'unsafe-inline'`, no hashes to keep in step with the files, and no network fetch at run
//! time. On AWS the three routes are the `live` function's ([`router`]).

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::domain::project::Scope;
use crate::http::router::{BodyLimit, ErrorShape, Method, Route, RouteSpec, finish};
use crate::service::SharedApp;

/// A route of the page: GET, no key (the page is the same for everyone; the data behind it
/// needs the secret key), served by the `live` function.
pub const fn spec(path: &'static str) -> RouteSpec {
    RouteSpec {
        path,
        methods: Method::Get.only(),
        scope: Scope::Public,
        body_limit: BodyLimit::Standard,
        credentials: &[],
        errors: ErrorShape::Envelope,
        gzip: false,
        function: "live",
    }
}

/// The page's routes, each with its file.
const ASSETS: [(Route, Asset); 3] = [
    (
        Route::LivePage,
        Asset {
            content_type: "text/html; charset=utf-8",
            body: include_str!("page.html"),
        },
    ),
    (
        Route::LiveScript,
        Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_str!("live.js"),
        },
    ),
    (
        Route::LiveStyle,
        Asset {
            content_type: "text/css; charset=utf-8",
            body: include_str!("live.css"),
        },
    ),
];

/// What the browser may do with the page: run and style it from this origin only, call this
/// origin's API only, nothing framed, nothing posted by a form (the key form is handled by the
/// script; were it ever submitted, the key would not travel in a URL).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

#[derive(Debug, Clone, Copy)]
struct Asset {
    content_type: &'static str,
    body: &'static str,
}

impl Asset {
    /// A strong validator of the file, computed once: the browser revalidates on every load
    /// (`no-cache`, so a new binary never serves an old script beside a new page) and gets a
    /// 304 when nothing changed.
    fn etag(self, slot: &'static OnceLock<String>) -> &'static str {
        slot.get_or_init(|| {
            let digest = Sha256::digest(self.body.as_bytes());
            format!("\"{}\"", hex::encode(&digest[..12]))
        })
    }
}

static ETAGS: [OnceLock<String>; ASSETS.len()] =
    [OnceLock::new(), OnceLock::new(), OnceLock::new()];

/// Adds one of the page's routes to a router under construction; any other route is left out.
pub fn with_asset(router: Router<SharedApp>, route: Route) -> Router<SharedApp> {
    let Some(at) = ASSETS.iter().position(|(r, _)| *r == route) else {
        return router;
    };
    router.route(
        route.path(),
        get(move |headers: HeaderMap| async move { respond(at, &headers) }),
    )
}

/// The `live` function's router: the page's three routes, plus `/health` and the envelope for
/// anything else.
pub fn router(app: SharedApp) -> Router {
    let routes = ASSETS.iter().fold(Router::new(), |router, (route, _)| {
        with_asset(router, *route)
    });
    finish(routes, app)
}

fn respond(at: usize, request: &HeaderMap) -> Response<Body> {
    let asset = ASSETS[at].1;
    let etag = asset.etag(&ETAGS[at]);
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if unchanged {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(Body::from(asset.body))
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_route_has_its_file_and_the_page_names_them_relatively() {
        for (route, asset) in ASSETS {
            assert_eq!(route.spec().function, "live", "{route:?}");
            assert!(!asset.body.is_empty(), "{route:?}");
        }
        let page = ASSETS[0].1.body;
        // Relative links: behind an API mapped under a base path the page still finds them.
        assert!(page.contains(r#"src="live.js""#), "the page loads live.js");
        assert!(
            page.contains(r#"href="live.css""#),
            "the page loads live.css"
        );
        // No inline script or style: the policy would refuse them.
        assert!(!page.contains("<script>") && !page.contains("style="));
    }

    #[test]
    fn a_matching_validator_answers_not_modified() {
        let first = respond(1, &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(respond(1, &again).status(), StatusCode::NOT_MODIFIED);
        let mut other = HeaderMap::new();
        other.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\""));
        assert_eq!(respond(1, &other).status(), StatusCode::OK);
    }
}
