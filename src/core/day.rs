//! Day keys: which day file a record belongs to.
//!
//! The day is the calendar date written at the start of the record's timestamp, as written: no
//! time-zone conversion (`2026-11-20T23:30:00-08:00` belongs to `20261120`). A timestamp that
//! does not begin with a real calendar date `YYYY-MM-DD` (year 0001..=9999, month 01..=12, day
//! within the month, leap years by the Gregorian rule) has no day; its message is quarantined.

use std::fmt;
use std::str::FromStr;

/// A day, written `YYYYMMDD`: the name of its day file. Ordered by date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayKey([u8; 8]);

impl DayKey {
    /// The eight ASCII digits of the key.
    pub fn as_str(&self) -> &str {
        // Built only from ASCII digits.
        std::str::from_utf8(&self.0).expect("day keys are ASCII")
    }

    /// The day a timestamp belongs to, if it begins with a valid calendar date.
    pub fn from_timestamp(timestamp: &str) -> Option<DayKey> {
        let b = timestamp.as_bytes();
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        Self::from_digits([&b[0..4], &b[5..7], &b[8..10]])
    }

    /// The day a day file or object is named after: exactly eight ASCII digits `YYYYMMDD`
    /// naming a real calendar date. Anything else (`YYYY-MM-DD`, temporary files, other keys)
    /// is no day file. The one parser of day-file names: listings and [`FromStr`] use it.
    pub fn from_name(name: &str) -> Option<DayKey> {
        let b = name.as_bytes();
        if b.len() != 8 {
            return None;
        }
        Self::from_digits([&b[0..4], &b[4..6], &b[6..8]])
    }

    fn from_digits([y, m, d]: [&[u8]; 3]) -> Option<DayKey> {
        let [year, month, day] = [y, m, d].map(digits);
        let small = |v: Option<i16>| i8::try_from(v?).ok();
        jiff::civil::Date::new(year.filter(|&y| y > 0)?, small(month)?, small(day)?).ok()?;
        let mut key = [0u8; 8];
        key[..4].copy_from_slice(y);
        key[4..6].copy_from_slice(m);
        key[6..].copy_from_slice(d);
        Some(DayKey(key))
    }

    /// The `YYYY-MM-DD` form, as it begins a timestamp.
    pub fn iso_date(&self) -> String {
        let s = self.as_str();
        format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..])
    }
}

/// The value of two or four ASCII digits.
fn digits(b: &[u8]) -> Option<i16> {
    b.iter().try_fold(0, |v, &c| {
        c.is_ascii_digit().then(|| v * 10 + i16::from(c - b'0'))
    })
}

impl fmt::Display for DayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a string that is not a valid `YYYYMMDD` day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid day: expected YYYYMMDD (or YYYY-MM-DD) naming a real calendar date")]
pub struct InvalidDay(pub String);

impl FromStr for DayKey {
    type Err = InvalidDay;

    /// Parses `YYYYMMDD` (a day file's name) or `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = match s.len() {
            8 => Self::from_name(s),
            10 => Self::from_timestamp(s),
            _ => None,
        };
        parsed.ok_or_else(|| InvalidDay(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(ts: &str) -> Option<String> {
        DayKey::from_timestamp(ts).map(|d| d.to_string())
    }

    #[test]
    fn day_is_the_written_date_without_timezone_conversion() {
        assert_eq!(
            day("2026-11-20T23:30:00-08:00").as_deref(),
            Some("20261120")
        );
        assert_eq!(
            day("2026-11-20T00:00:03.000000").as_deref(),
            Some("20261120")
        );
        assert_eq!(day("2026-11-20T07:59:59.999Z").as_deref(), Some("20261120"));
    }

    #[test]
    fn a_bare_date_is_enough() {
        assert_eq!(day("2026-11-20").as_deref(), Some("20261120"));
        assert_eq!(day("2026-11-20garbage").as_deref(), Some("20261120"));
    }

    #[test]
    fn leap_days_follow_the_gregorian_rule() {
        assert!(day("2024-02-29T00:00:00").is_some());
        assert!(day("2000-02-29T00:00:00").is_some());
        assert!(day("2026-02-29T00:00:00").is_none());
        assert!(day("1900-02-29T00:00:00").is_none());
        assert!(day("2100-02-29T00:00:00").is_none());
    }

    #[test]
    fn impossible_dates_have_no_day() {
        for ts in [
            "2026-13-01",
            "2026-00-10",
            "2026-11-31",
            "2026-11-00",
            "2026-04-31",
            "0000-01-01",
            "2026-1-01T",
            "2026/11/20",
            "20261120",
            "",
            "2026-11-2",
            "２０２６-11-20",
            "+026-11-20",
            "2026-11-2x",
            " 2026-11-20",
            "Nov 20 2026",
        ] {
            assert_eq!(day(ts), None, "{ts:?}");
        }
    }

    #[test]
    fn month_ends() {
        assert!(day("2026-01-31").is_some());
        assert!(day("2026-04-30").is_some());
        assert!(day("2026-12-31").is_some());
        assert!(day("9999-12-31").is_some());
        assert!(day("0001-01-01").is_some());
    }

    #[test]
    fn parses_file_names_and_iso_dates() {
        assert_eq!(
            "20261120".parse::<DayKey>().unwrap().to_string(),
            "20261120"
        );
        assert_eq!(
            "2026-11-20".parse::<DayKey>().unwrap().to_string(),
            "20261120"
        );
        assert_eq!(
            "20261120".parse::<DayKey>().unwrap().iso_date(),
            "2026-11-20"
        );
        assert!("20261131".parse::<DayKey>().is_err());
        assert!("2026112".parse::<DayKey>().is_err());
        assert!("2026-11-20T".parse::<DayKey>().is_err());
    }

    #[test]
    fn day_file_names_are_exactly_eight_digits() {
        assert_eq!(
            DayKey::from_name("20261120").map(|d| d.to_string()),
            Some("20261120".to_owned())
        );
        for name in [
            "2026-11-20",
            "20261131",
            "2026112",
            "202611200",
            ".s3ew-abc",
            "2026112x",
            "+2026112",
            "",
        ] {
            assert_eq!(DayKey::from_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn day_keys_order_by_date() {
        let a: DayKey = "20251231".parse().unwrap();
        let b: DayKey = "20260101".parse().unwrap();
        assert!(a < b);
    }
}
