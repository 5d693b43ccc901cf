//! Where a request came from: the client IP (API Gateway's requestContext on Lambda, the socket
//! peer locally, X-Forwarded-For only when configured as trusted) and the User-Agent header.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::request::Parts;

#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn from_parts(parts: &Parts, trust_forwarded_for: bool) -> Self {
        let forwarded = trust_forwarded_for
            .then(|| {
                let header = parts.headers.get("x-forwarded-for")?.to_str().ok()?;
                // The left-most address is the original client as the trusted proxy saw it.
                header.split(',').next()?.trim().parse::<IpAddr>().ok()
            })
            .flatten();
        let lambda = || {
            use lambda_http::request::RequestContext;
            match parts.extensions.get::<RequestContext>()? {
                RequestContext::ApiGatewayV2(ctx) => ctx.http.source_ip.as_deref()?.parse().ok(),
                #[allow(unreachable_patterns)]
                _ => None,
            }
        };
        let peer = || {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        };
        ClientInfo {
            ip: forwarded.or_else(lambda).or_else(peer),
            user_agent: parts
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| crate::model::requests::cap(s, 1024)),
        }
    }
}
