//! Time: the reference's timestamp form (UTC, microseconds, `Z`) and an injectable clock so
//! that storage and enrichment tests are deterministic.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// An instant with microsecond precision, displayed as `2026-04-12T02:10:00.000000Z`. The text
/// form is fixed-width for years 1000–9999, so string order is time order (sort keys rely on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    pub fn from_millis(millis: i64) -> Self {
        Timestamp(millis.saturating_mul(1000))
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    pub fn millis(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// Parses RFC 3339 with any offset; the result is UTC, truncated to microseconds.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let dt = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        let nanos = dt.unix_timestamp_nanos();
        i64::try_from(nanos.div_euclid(1000)).ok().map(Timestamp)
    }

    fn datetime(self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1000).ok()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        match self
            .datetime()
            .and_then(|dt| dt.to_offset(UtcOffset::UTC).format(format).ok())
        {
            Some(text) => f.write_str(&text),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The most a sender's clock may be off for its times to be corrected by it (see
/// [`skew_corrected`]); a larger difference says more about a broken `sentAt` than a clock.
pub const MAX_PLAUSIBLE_SKEW_MICROS: i64 = 24 * 3600 * 1_000_000;

/// An event's time told by a device whose clock may be wrong: `timestamp` by its clock,
/// `sent_at` the moment it sent the request, again by its clock, `received_at` that moment by
/// ours. The device's clock is off by `sent_at - received_at` (the network's delay counted in,
/// which is small against a wrong clock), so the event happened at
/// `received_at - (sent_at - timestamp)`. Corrected only while the offset is plausible (under
/// [`MAX_PLAUSIBLE_SKEW_MICROS`]); otherwise, or without `sent_at`, `timestamp` stands.
pub fn skew_corrected(
    timestamp: Timestamp,
    sent_at: Option<Timestamp>,
    received_at: Timestamp,
) -> Timestamp {
    match sent_at {
        Some(sent)
            if sent
                .micros()
                .saturating_sub(received_at.micros())
                .checked_abs()
                .is_some_and(|skew| skew < MAX_PLAUSIBLE_SKEW_MICROS) =>
        {
            Timestamp(
                received_at
                    .micros()
                    .saturating_sub(sent.micros().saturating_sub(timestamp.micros())),
            )
        }
        _ => timestamp,
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp(i64::try_from(nanos / 1000).unwrap_or(i64::MAX))
    }
}

/// A clock tests set and advance by hand.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start.micros())))
    }

    pub fn advance_millis(&self, millis: i64) {
        self.0.fetch_add(millis * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_reference() {
        let t = Timestamp::parse_rfc3339("2026-04-12T02:10:00Z").unwrap();
        assert_eq!(t.to_string(), "2026-04-12T02:10:00.000000Z");
        let t = Timestamp::parse_rfc3339("2026-04-12T04:10:00.1234567+02:00").unwrap();
        assert_eq!(t.to_string(), "2026-04-12T02:10:00.123456Z");
    }

    #[test]
    fn millis_round_trip() {
        let t = Timestamp::from_millis(1_775_958_755_156);
        assert_eq!(t.millis(), 1_775_958_755_156);
        assert_eq!(t.to_string(), "2026-04-12T01:52:35.156000Z");
    }

    #[test]
    fn a_skewed_clock_is_corrected_only_when_the_skew_is_plausible() {
        let at = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        let received = at("2026-12-01T12:00:10Z");
        // The device's clock runs 5 minutes fast: its event 3 s before sending was at 12:00:07.
        let corrected = skew_corrected(
            at("2026-12-01T12:05:07Z"),
            Some(at("2026-12-01T12:05:10Z")),
            received,
        );
        assert_eq!(corrected, at("2026-12-01T12:00:07Z"));
        // No sentAt: the timestamp as sent.
        let sent = at("2026-12-01T11:00:00Z");
        assert_eq!(skew_corrected(sent, None, received), sent);
        // A sentAt two days off is not a clock to correct by.
        assert_eq!(
            skew_corrected(sent, Some(at("2026-11-29T11:00:00Z")), received),
            sent
        );
    }
}
