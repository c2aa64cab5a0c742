//! Calendar dates as `YYYYMMDD` numbers, from block timestamps and back to
//! day counts. Integer-only (Howard Hinnant's civil-date algorithms), as the
//! state machine requires; clients use the same functions so that a date
//! means the same thing on and off chain.

/// Milliseconds in a day.
pub const MS_PER_DAY: u64 = 86_400_000;

/// The calendar date (YYYYMMDD, UTC) of a timestamp in ms since the epoch.
pub fn date_of(timestamp_ms: u64) -> u32 {
    let days = (timestamp_ms / MS_PER_DAY) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year * 10_000 + month * 100 + day) as u32
}

/// Days since 1970-01-01 of a `YYYYMMDD` date, or `None` when it is not a
/// real calendar date (month 13, February 30th, before 1970).
pub fn day_number(date: u32) -> Option<u64> {
    let (year, month, day) = (
        i64::from(date / 10_000),
        i64::from(date / 100 % 100),
        i64::from(date % 100),
    );
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day < 1 {
        return None;
    }
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    // Reject days past the month's end: the round trip must give the date back.
    let days = u64::try_from(days).ok()?;
    (date_of(days * MS_PER_DAY) == date).then_some(days)
}

/// Parses the date part of a FHIR `date` or `dateTime` (`YYYY-MM-DD…`) into
/// `YYYYMMDD`. A partial date (`2026` or `2026-03`) is not a day, so `None`.
pub fn parse_fhir_date(text: &str) -> Option<u32> {
    let bytes = text.as_bytes();
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let date = digits(0..4)? * 10_000 + digits(5..7)? * 100 + digits(8..10)?;
    day_number(date).map(|_| date)
}

/// When a FHIR `date`, `dateTime` or `instant` says something happened:
/// a whole day when it names no time, an instant when it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FhirTime {
    /// `YYYYMMDD`, UTC.
    Day(u32),
    /// Milliseconds since the epoch.
    Instant(u64),
}

impl FhirTime {
    /// The first millisecond it may stand for.
    pub fn earliest_ms(self) -> u64 {
        match self {
            FhirTime::Day(date) => day_number(date).map_or(u64::MAX, |d| d * MS_PER_DAY),
            FhirTime::Instant(ms) => ms,
        }
    }

    /// The last millisecond it may stand for.
    pub fn latest_ms(self) -> u64 {
        match self {
            FhirTime::Day(date) => day_number(date).map_or(u64::MAX, |d| (d + 1) * MS_PER_DAY - 1),
            FhirTime::Instant(ms) => ms,
        }
    }

    /// Its calendar day (UTC).
    pub fn date(self) -> u32 {
        match self {
            FhirTime::Day(date) => date,
            FhirTime::Instant(ms) => date_of(ms),
        }
    }
}

/// Parses a FHIR `date` (a whole day) or `dateTime`/`instant` with a time
/// and a zone (`Z` or `±hh:mm`). Partial dates, and times without a zone,
/// do not say when something happened precisely enough: `None`.
pub fn parse_fhir_time(text: &str) -> Option<FhirTime> {
    let date = parse_fhir_date(text)?;
    let rest = &text[10..];
    if rest.is_empty() {
        return Some(FhirTime::Day(date));
    }
    let bytes = rest.as_bytes();
    if bytes.len() < 9 || bytes[0] != b'T' || bytes[3] != b':' || bytes[6] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        let part = rest.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (hours, minutes, seconds) = (number(1..3)?, number(4..6)?, number(7..9)?);
    if hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let mut zone = &rest[9..];
    let mut millis = 0;
    if let Some(fraction) = zone.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Milliseconds, truncated.
        let kept = &fraction[..digits.min(3)];
        millis = kept.parse::<u64>().ok()? * 10u64.pow(3 - kept.len() as u32);
        zone = &fraction[digits..];
    }
    let offset_minutes: i64 = match zone {
        "Z" => 0,
        _ if zone.len() == 6 && zone.as_bytes()[3] == b':' => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours: i64 = zone.get(1..3)?.parse().ok()?;
            let minutes: i64 = zone.get(4..6)?.parse().ok()?;
            if hours > 14 || minutes > 59 {
                return None;
            }
            sign * (hours * 60 + minutes)
        }
        _ => return None,
    };
    let local = i64::try_from(
        day_number(date)? * MS_PER_DAY + (hours * 3600 + minutes * 60 + seconds) * 1000 + millis,
    )
    .ok()?;
    u64::try_from(local - offset_minutes * 60_000)
        .ok()
        .map(FhirTime::Instant)
}

/// `YYYY-MM-DDThh:mm:ssZ` for a timestamp (whole seconds, rounded down):
/// how Salus's own tools write a FHIR `dateTime`.
pub fn fhir_instant(timestamp_ms: u64) -> String {
    let date = date_of(timestamp_ms);
    let seconds = timestamp_ms / 1000 % 86_400;
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        date / 10_000,
        date / 100 % 100,
        date % 100,
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_dates_are_civil_dates() {
        assert_eq!(date_of(0), 1970_01_01);
        assert_eq!(date_of(951_782_400_000), 2000_02_29);
        assert_eq!(date_of(1_795_305_600_000), 2026_11_22);
        assert_eq!(date_of(1_795_391_999_999), 2026_11_22);
        assert_eq!(date_of(4_102_444_800_000), 2100_01_01);
    }

    #[test]
    fn day_numbers_invert_dates() {
        for days in [0u64, 59, 11_016, 20_779, 47_482] {
            let date = date_of(days * MS_PER_DAY);
            assert_eq!(day_number(date), Some(days), "{date}");
        }
        assert_eq!(day_number(2026_02_30), None);
        assert_eq!(day_number(2026_13_01), None);
        assert_eq!(day_number(1969_12_31), None);
        assert_eq!(
            day_number(2024_02_29).map(|d| date_of(d * MS_PER_DAY)),
            Some(2024_02_29)
        );
    }

    #[test]
    fn fhir_times_parse_with_their_zone() {
        let noon = 1_795_305_600_000 + 12 * 3_600_000;
        assert_eq!(
            parse_fhir_time("2026-11-22"),
            Some(FhirTime::Day(2026_11_22))
        );
        assert_eq!(
            parse_fhir_time("2026-11-22T12:00:00Z"),
            Some(FhirTime::Instant(noon))
        );
        assert_eq!(
            parse_fhir_time("2026-11-22T14:00:00+02:00"),
            Some(FhirTime::Instant(noon))
        );
        assert_eq!(
            parse_fhir_time("2026-11-22T07:00:00.250-05:00"),
            Some(FhirTime::Instant(noon + 250))
        );
        assert_eq!(
            parse_fhir_time(&fhir_instant(noon + 999)),
            Some(FhirTime::Instant(noon))
        );
        for bad in [
            "2026-11-22T12:00:00",
            "2026-11-22T25:00:00Z",
            "2026-11-22T12:00Z",
            "2026-11-22 12:00:00Z",
            "2026-11-22T12:00:00+2:00",
        ] {
            assert_eq!(parse_fhir_time(bad), None, "{bad}");
        }
        let day = FhirTime::Day(2026_11_22);
        assert_eq!(day.earliest_ms(), 1_795_305_600_000);
        assert_eq!(day.latest_ms(), 1_795_391_999_999);
    }

    #[test]
    fn fhir_dates_parse_to_days_only() {
        assert_eq!(parse_fhir_date("2026-03-04"), Some(2026_03_04));
        assert_eq!(parse_fhir_date("2026-03-04T10:00:00Z"), Some(2026_03_04));
        assert_eq!(parse_fhir_date("2026-03"), None);
        assert_eq!(parse_fhir_date("2026-02-30"), None);
        assert_eq!(parse_fhir_date("20x6-03-04"), None);
        assert_eq!(parse_fhir_date("2026-+3-04"), None);
    }
}
