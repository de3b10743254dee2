//! ISO 8601 / RFC 3339 times, in whole seconds since the epoch, through the `time` crate.
//!
//! Accepted: RFC 3339 (`YYYY-MM-DDTHH:MM:SS`, an optional fraction, `Z` or `±HH:MM`), and the same without an
//! offset, with `T` or a space between date and time. GUESS: a time without an offset is UTC (Django stores UTC
//! when `USE_TZ` is on).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Parses a time; `None` if it is not one of the accepted shapes.
pub fn parse(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    let naive = format_description!(
        version = 2,
        "[year]-[month]-[day][first [T][t][ ]][hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(s, naive)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (a time `time` cannot represent prints as the
/// number of seconds, which no caller relies on).
pub fn format(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{t}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_a_manager_may_send() {
        assert_eq!(parse("1970-01-01T00:00:00"), Some(0));
        assert_eq!(parse("2024-02-29T12:34:56Z"), Some(1_709_210_096));
        assert_eq!(parse("2024-02-29 12:34:56.123456"), Some(1_709_210_096));
        assert_eq!(parse("2024-02-29T14:34:56+02:00"), Some(1_709_210_096));
        assert_eq!(parse("2024-02-29T10:34:56.5-02:00"), Some(1_709_210_096));
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for s in [
            "",
            "2024-02-29",
            "2024-13-01T00:00:00",
            "2024-02-29T12:34:56+2",
            "yesterday",
            "2024-02-29T12:34:56.",
            "20é4-02-29T12:34:5",
            "2024-02-29T12:34:56+0é:00",
        ] {
            assert_eq!(parse(s), None, "{s}");
        }
    }

    #[test]
    fn format_round_trips() {
        for t in [0, 951_782_400, 1_709_210_096, 4_102_444_800 - 1] {
            assert_eq!(parse(&format(t)), Some(t));
        }
        assert_eq!(format(1_709_210_096), "2024-02-29T12:34:56Z");
    }
}
