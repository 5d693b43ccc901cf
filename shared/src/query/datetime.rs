//! Datetime literals and day arithmetic, shared by both syntaxes. All arithmetic is checked: a
//! result outside `i64` microseconds is `None`, which the parsers report as a bad datetime.

use crate::domain::time::Timestamp;

const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// Reads an ISO 8601 date or date-time: `2026-01-02` (midnight UTC),
/// `2026-01-02T03:04:05Z`, `2026-01-02T03:04:05.123+02:00`, and, as KQL writes them, a space
/// instead of the `T` and no offset (UTC).
pub fn parse(text: &str) -> Option<Timestamp> {
    // Every accepted form is ASCII; checking first means the byte offsets below are char
    // boundaries.
    if !text.is_ascii() || text.len() < 10 || text.len() > 40 {
        return None;
    }
    let bytes = text.as_bytes();
    let date_shaped = bytes[..10].iter().enumerate().all(|(i, b)| {
        if i == 4 || i == 7 {
            *b == b'-'
        } else {
            b.is_ascii_digit()
        }
    });
    if !date_shaped {
        return None;
    }
    if text.len() == 10 {
        return Timestamp::parse_rfc3339(&format!("{text}T00:00:00Z"));
    }
    let mut full = String::with_capacity(text.len() + 1);
    full.push_str(&text[..10]);
    match bytes[10] {
        b'T' | b't' | b' ' => full.push('T'),
        _ => return None,
    }
    let rest = &text[11..];
    full.push_str(rest);
    if !rest.contains(['Z', 'z', '+', '-']) {
        full.push('Z');
    }
    Timestamp::parse_rfc3339(&full)
}

pub fn add_micros(time: Timestamp, micros: i64) -> Option<Timestamp> {
    time.micros()
        .checked_add(micros)
        .map(Timestamp::from_micros)
}

/// Midnight UTC of the day `time` falls on.
pub fn start_of_day(time: Timestamp) -> Option<Timestamp> {
    time.micros()
        .div_euclid(MICROS_PER_DAY)
        .checked_mul(MICROS_PER_DAY)
        .map(Timestamp::from_micros)
}

/// The last microsecond of the day `time` falls on.
pub fn end_of_day(time: Timestamp) -> Option<Timestamp> {
    add_micros(start_of_day(time)?, MICROS_PER_DAY - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn reads_dates_date_times_and_offsets() {
        assert_eq!(parse("2026-01-02"), Some(t("2026-01-02T00:00:00Z")));
        assert_eq!(
            parse("2026-01-02T03:04:05Z"),
            Some(t("2026-01-02T03:04:05Z"))
        );
        assert_eq!(
            parse("2026-01-02T03:04:05.123+02:00"),
            Some(t("2026-01-02T01:04:05.123Z"))
        );
        assert_eq!(
            parse("2026-01-02 03:04:05"),
            Some(t("2026-01-02T03:04:05Z"))
        );
        assert_eq!(
            parse("2026-01-02T03:04:05"),
            Some(t("2026-01-02T03:04:05Z"))
        );
        for bad in [
            "",
            "2026",
            "2026-13-01",
            "2026-01-32",
            "2026-01-02X03:04:05Z",
            "2026-01-02T25:00:00Z",
            "2026-01-0é",
            "soon",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn days_start_at_midnight_and_end_one_microsecond_before_the_next() {
        let noon = t("2026-01-02T12:00:00Z");
        assert_eq!(start_of_day(noon), Some(t("2026-01-02T00:00:00Z")));
        assert_eq!(end_of_day(noon), Some(t("2026-01-02T23:59:59.999999Z")));
        let before_epoch = t("1969-12-31T12:00:00Z");
        assert_eq!(start_of_day(before_epoch), Some(t("1969-12-31T00:00:00Z")));
        assert_eq!(start_of_day(Timestamp::from_micros(i64::MIN)), None);
        assert_eq!(end_of_day(Timestamp::from_micros(i64::MAX)), None);
        assert_eq!(add_micros(Timestamp::from_micros(i64::MAX), 1), None);
    }
}
