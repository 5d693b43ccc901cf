//! Where a request came from: the client IP (API Gateway's requestContext on Lambda, the socket
//! peer locally, X-Forwarded-For only when configured as trusted) and the User-Agent header.

use std::net::{IpAddr, SocketAddr};

use crate::domain::commands::ClientInfo;
use crate::domain::settings::parse_client_ip;

use axum::extract::ConnectInfo;
use http::request::Parts;

impl ClientInfo {
    /// `trusted_proxies`: with X-Forwarded-For trusted, how many proxies of ours stand in front
    /// of this server (`None`: the header is not trusted at all).
    pub fn from_parts(parts: &Parts, trusted_proxies: Option<usize>) -> Self {
        let forwarded = trusted_proxies.and_then(|hops| {
            let header = parts.headers.get("x-forwarded-for")?.to_str().ok()?;
            forwarded_client(header, hops)
        });
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
                .map(|s| crate::http::requests::cap(s, 1024)),
        }
    }
}

/// The client's address in an X-Forwarded-For header that passed `hops` proxies of ours.
///
/// Each proxy appends the address it received the request from, so the right-most `hops`
/// entries were written by our proxies (the last of them by the one nearest the client) and
/// everything to their left by whoever sent the request, the client included, who can write
/// anything there. The client is therefore the entry `hops` from the right; a header with
/// fewer entries did not pass every proxy, and an entry that is not an address is not trusted.
fn forwarded_client(header: &str, hops: usize) -> Option<IpAddr> {
    let entries: Vec<&str> = header.split(',').map(str::trim).collect();
    let index = entries.len().checked_sub(hops.max(1))?;
    parse_client_ip(entries[index])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn the_client_is_the_entry_our_nearest_proxy_wrote() {
        // One proxy: it appended the peer it saw; what the client wrote is to its left.
        assert_eq!(forwarded_client("203.0.113.7", 1), ip("203.0.113.7"));
        assert_eq!(
            forwarded_client("6.6.6.6, 203.0.113.7", 1),
            ip("203.0.113.7")
        );
        // Two proxies: the right-most entry is the first proxy's address.
        assert_eq!(
            forwarded_client("6.6.6.6, 203.0.113.7, 10.0.0.2", 2),
            ip("203.0.113.7")
        );
        assert_eq!(forwarded_client("203.0.113.7:5123", 1), ip("203.0.113.7"));
        assert_eq!(forwarded_client("[2001:db8::1]:80", 1), ip("2001:db8::1"));
        // Fewer entries than proxies, or junk where the address should be: not trusted.
        assert_eq!(forwarded_client("203.0.113.7", 2), None);
        assert_eq!(forwarded_client("1.2.3.4, junk", 1), None);
    }
}
