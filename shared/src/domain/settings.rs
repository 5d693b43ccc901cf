//! Per-project settings: IP anonymization and data retention, and what they mean for an
//! address or an expiry, and the tracking plan (`plan.rs`). Stored by `store::repo`
//! (projects), cached by `service::settings`.

use std::net::IpAddr;
use std::sync::Arc;

use crate::domain::plan::TrackingPlan;
use crate::domain::time::Timestamp;
use crate::domain::visit::DEFAULT_SESSION_TIMEOUT_SECS;

/// The longest retention we accept: ten years, far past any analytics need, and small enough
/// that `now + retention` never overflows.
pub const MAX_RETENTION_DAYS: u32 = 3650;

/// Cloned for every request from the settings cache: the plan, the one part that is not a
/// few bytes, is shared behind an `Arc` rather than copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSettings {
    /// Zero the last IPv4 octet and the last 80 IPv6 bits before anything is stored. The GeoIP
    /// lookup still sees the full address, once, in memory.
    pub anonymize_ip: bool,
    /// Delete a project's items this many days after they were last written (DynamoDB TTL on
    /// AWS, the sweeper of `atrack serve` locally). `None`: keep forever.
    pub retention_days: Option<u32>,
    /// Which event names are well-formed and which are stored.
    pub plan: Arc<TrackingPlan>,
    /// Record `session.start`, `page.visit` and `session.end` (`domain::visit`). Off for a
    /// project whose settings predate them, so it keeps its behaviour until it is set; on for
    /// a new one ([`ProjectSettings::for_new_project`]).
    pub auto_events: bool,
    /// The longest gap between two activities of one visit.
    pub session_timeout_secs: u32,
}

impl Default for ProjectSettings {
    /// The settings of a project that never stored any: what every project had before
    /// settings existed.
    fn default() -> Self {
        ProjectSettings {
            anonymize_ip: false,
            retention_days: None,
            plan: Arc::default(),
            auto_events: false,
            session_timeout_secs: DEFAULT_SESSION_TIMEOUT_SECS,
        }
    }
}

impl ProjectSettings {
    /// What a project created now starts with: the defaults, automatic events on.
    pub fn for_new_project() -> Self {
        ProjectSettings {
            auto_events: true,
            ..ProjectSettings::default()
        }
    }

    /// When an item written at `now` expires, in epoch seconds (DynamoDB's TTL format).
    pub fn expires_at(&self, now: Timestamp) -> Option<i64> {
        self.retention_days
            .map(|days| now.micros().div_euclid(1_000_000) + i64::from(days) * 86_400)
    }

    /// An address as this project stores it.
    pub fn stored_ip(&self, ip: IpAddr) -> IpAddr {
        if self.anonymize_ip {
            anonymize_ip(ip)
        } else {
            ip
        }
    }

    /// As [`Self::stored_ip`], for an address that arrived as text (a client's `ipAddress`).
    /// Without anonymization the text is kept as sent. With it, the address inside the text is
    /// cut (`1.2.3.4:443`, `[2001:db8::1]:80`, a forwarded list's first entry); text with no
    /// address in it is not stored at all (`None`), so an uncut address can never slip through
    /// in a shape we failed to recognise.
    pub fn stored_ip_text(&self, text: &str) -> Option<String> {
        if !self.anonymize_ip {
            return Some(text.to_owned());
        }
        parse_client_ip(text).map(|ip| anonymize_ip(ip).to_string())
    }
}

/// The client address in text as clients and proxies write it: a bare IPv4 or IPv6 address,
/// one with a port (`1.2.3.4:443`, `[2001:db8::1]:80`), or a comma-separated forwarding list,
/// whose first entry is the client's own claim. `None` when there is no address in it.
pub fn parse_client_ip(text: &str) -> Option<IpAddr> {
    let first = text.split(',').next()?.trim();
    if let Ok(ip) = first.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = first.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    // `[2001:db8::1]` without a port.
    first
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse().ok())
}

/// The address with its host part zeroed: the last octet of IPv4 (a /24), the last 80 bits of
/// IPv6 (a /48), the same cut Google Analytics and Matomo make. An IPv4-mapped IPv6 address is
/// cut as the IPv4 address it is.
pub fn anonymize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => anonymize_ip(IpAddr::V4(v4)),
            None => {
                let kept = u128::from(v6) & (!0u128 << 80);
                IpAddr::V6(kept.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn anonymization_zeroes_the_host_part() {
        assert_eq!(anonymize_ip(ip("50.89.98.90")), ip("50.89.98.0"));
        assert_eq!(
            anonymize_ip(ip("2001:db8:85a3:8d3:1319:8a2e:370:7348")),
            ip("2001:db8:85a3::")
        );
        assert_eq!(anonymize_ip(ip("::ffff:50.89.98.90")), ip("50.89.98.0"));
        assert_eq!(anonymize_ip(ip("::1")), ip("::"));
    }

    #[test]
    fn retention_sets_an_expiry_in_epoch_seconds() {
        let now = Timestamp::from_micros(1_700_000_000_123_456);
        let keep = ProjectSettings::default();
        assert_eq!(keep.expires_at(now), None);
        let month = ProjectSettings {
            retention_days: Some(30),
            ..keep
        };
        assert_eq!(month.expires_at(now), Some(1_700_000_000 + 30 * 86_400));
    }

    #[test]
    fn an_address_in_any_shape_is_cut_and_text_without_one_is_not_stored() {
        let cut = ProjectSettings {
            anonymize_ip: true,
            ..ProjectSettings::default()
        };
        for (sent, stored) in [
            ("50.89.98.90", Some("50.89.98.0")),
            (" 50.89.98.90 ", Some("50.89.98.0")),
            ("50.89.98.90:443", Some("50.89.98.0")),
            ("50.89.98.90, 10.0.0.1", Some("50.89.98.0")),
            ("[2001:db8:85a3::8a2e:370:7348]:80", Some("2001:db8:85a3::")),
            ("[2001:db8:85a3::8a2e:370:7348]", Some("2001:db8:85a3::")),
            ("2001:db8:85a3::8a2e:370:7348", Some("2001:db8:85a3::")),
            ("::ffff:50.89.98.90", Some("50.89.98.0")),
            ("unknown", None),
            ("50.89.98.90.1", None),
            ("", None),
            ("host.example:80", None),
        ] {
            assert_eq!(cut.stored_ip_text(sent).as_deref(), stored, "{sent:?}");
        }
        // Without anonymization, the text is what the client sent.
        let keep = ProjectSettings::default();
        assert_eq!(
            keep.stored_ip_text("1.2.3.4:443").as_deref(),
            Some("1.2.3.4:443")
        );
        assert_eq!(keep.stored_ip_text("unknown").as_deref(), Some("unknown"));
    }
}
