//! ISO 8601 / RFC 3339 times, in whole seconds since the epoch, without a calendar crate.
//!
//! Accepted: `YYYY-MM-DDTHH:MM:SS` (or a space instead of `T`), an optional fraction, and an optional `Z` or
//! `±HH:MM` offset. GUESS: a time without an offset is UTC (Django stores UTC when `USE_TZ` is on).

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("day in 1..=31");
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("month in 1..=12");
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses a time; `None` if it is not one of the accepted shapes.
pub fn parse(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() < 19 || !s.is_char_boundary(19) || !s[..19].is_ascii() {
        return None;
    }
    let (main, mut rest) = s.split_at(19);
    let b = main.as_bytes();
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = i64::from(digits(&main[0..4])?);
    let month = digits(&main[5..7])?;
    let day = digits(&main[8..10])?;
    let hour = digits(&main[11..13])?;
    let minute = digits(&main[14..16])?;
    let second = digits(&main[17..19])?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            let (h, m) = (digits(h)?, digits(m)?);
            if h > 23 || m > 59 || rest.len() != 6 {
                return None;
            }
            sign * i64::from(h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset)
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
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
