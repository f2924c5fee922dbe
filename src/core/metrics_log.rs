//! The PBX's metrics log, read as event messages (pure; `backfill`'s input).
//!
//! The PBX logs one "metrics" line per user event, in the server's local time:
//!
//! ```text
//! 2022-04-04 22:45:55,436 UNIQUEID=1833323238.399, CHANNEL=SIP/630-0000011f, CALLERID(number)=+12345678901, name=filterdial
//! ```
//!
//! Each line becomes the event message the PBX would have published,
//! `{"timestamp": "2022-04-04T22:45:55-07:00", "hostname": NAME, "event": {"Event": "UserEvent",
//! "Channel": CHANNEL, "UserEvent": name}}` ([`message_of_line`]), which is classified like any
//! queue message.
//!
//! Invariants:
//! - only the time, `CHANNEL` and `name` are read from a line: nothing else (the caller number
//!   in particular) ever reaches the event message, so it cannot reach the archive;
//! - the time is the zone's wall-clock time with the milliseconds dropped and the zone's real
//!   offset at that instant. A time that occurs twice (the repeated hour when clocks fall back)
//!   takes the earlier offset, the first occurrence (`01:30` on 2022-11-06 is `-07:00`); a time
//!   that never occurs (the hour skipped when clocks spring forward) is moved forward by the
//!   length of the gap (`02:30` on 2022-03-13 is `03:30-07:00`), jiff's "compatible" rule, as
//!   RFC 5545 and Temporal do;
//! - a date or time that does not exist on the calendar gives a message whose timestamp no day
//!   can be read from, so the classifier quarantines it as `bad_timestamp`.

/// One parsed metrics line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsLine<'a> {
    /// `[year, month, day, hour, minute, second]` as written (milliseconds dropped).
    pub time: [i16; 6],
    pub channel: &'a str,
    pub name: &'a str,
}

/// Why a line is not a metrics line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotMetrics {
    NoTime,
    NoChannel,
    NoName,
}

/// Parses `YYYY-MM-DD HH:MM:SS[,mmm] KEY=VALUE, KEY=VALUE, ...`. A value may hold spaces (a
/// word without `=` continues the value before it); one trailing comma ends each value.
pub fn parse_metrics_line(line: &str) -> Result<MetricsLine<'_>, NotMetrics> {
    let line = line.trim();
    let (date, after) = line.split_once(' ').ok_or(NotMetrics::NoTime)?;
    let after = after.trim_start();
    let (time, rest) = after.split_once(' ').unwrap_or((after, ""));
    let (time, frac) = time.split_once([',', '.']).unwrap_or((time, "0"));
    // `0` stands for a digit, anything else for itself.
    let stamp = format!("{date} {time}");
    let shape = b"0000-00-00 00:00:00";
    let fits = stamp.len() == shape.len()
        && stamp
            .bytes()
            .zip(shape)
            .all(|(c, &s)| c == s || (s == b'0' && c.is_ascii_digit()))
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !fits {
        return Err(NotMetrics::NoTime);
    }
    let time = [0..4, 5..7, 8..10, 11..13, 14..16, 17..19].map(|r| stamp[r].parse().unwrap_or(0));
    // Fields: each starts at a word `KEY=...`; the rest of the text up to the next such word is
    // its value. Slices of `rest` are kept so values with spaces come out whole.
    let words = rest.split(' ').scan(0, |at, word| {
        *at += word.len() + 1;
        Some((*at - word.len() - 1, word))
    });
    let key_byte = |b: u8| b.is_ascii_alphanumeric() || b"_()-.".contains(&b);
    let keys: Vec<(usize, &str)> = words
        .filter_map(|(at, word)| Some((at, word.split_once('=')?.0)))
        .filter(|(_, k)| !k.is_empty() && k.bytes().all(key_byte))
        .collect();
    let value = |name: &str| {
        let i = keys.iter().rposition(|&(_, k)| k == name)?;
        let end = keys.get(i + 1).map_or(rest.len(), |&(at, _)| at);
        let v = rest[keys[i].0 + name.len() + 1..end].trim_end_matches(' ');
        Some(v.strip_suffix(',').unwrap_or(v))
    };
    let channel = value("CHANNEL").ok_or(NotMetrics::NoChannel)?;
    let name = value("name").ok_or(NotMetrics::NoName)?;
    Ok(MetricsLine {
        time,
        channel,
        name,
    })
}

/// The RFC 3339 timestamp of a local wall-clock time in `tz` (see the module docs for the
/// repeated and skipped hours); `None` when the date or time does not exist on the calendar.
pub fn local_timestamp(time: [i16; 6], tz: &jiff::tz::TimeZone) -> Option<String> {
    let [y, rest @ ..] = time;
    let [mo, d, h, mi, s] = rest.map(|v| i8::try_from(v).ok());
    let dt = jiff::civil::DateTime::new(y, mo?, d?, h?, mi?, s?, 0).ok()?;
    let zoned = tz.to_ambiguous_zoned(dt).compatible().ok()?;
    Some(zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

/// What a log line is: not a metrics line, or the event message it stands for.
pub fn message_of_line(
    text: &str,
    tz: &jiff::tz::TimeZone,
    hostname: &str,
) -> Result<String, NotMetrics> {
    let parsed = parse_metrics_line(text)?;
    let timestamp = local_timestamp(parsed.time, tz).unwrap_or_else(|| {
        let [y, mo, d, h, mi, s] = parsed.time;
        // Begins with no date: the classifier quarantines it as `bad_timestamp`.
        format!("no such time {y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
    });
    let event = serde_json::json!({
        "Event": "UserEvent",
        "Channel": parsed.channel,
        "UserEvent": parsed.name,
    });
    let message = serde_json::json!({"timestamp": timestamp, "hostname": hostname, "event": event});
    Ok(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{classify, Outcome, QuarantineReason, Rules};

    #[test]
    fn an_impossible_time_is_quarantined_as_a_bad_timestamp() {
        let tz = jiff::tz::TimeZone::get("America/Los_Angeles").unwrap();
        for line in [
            "2022-02-30 10:00:00,1 CHANNEL=SIP/630-1, name=filterdial",
            "2022-02-03 24:00:00,1 CHANNEL=SIP/630-1, name=filterdial",
        ] {
            let body = message_of_line(line, &tz, "futel-prod.phu73l.net").unwrap();
            let outcome = classify(&body, &Rules::default(), &mut Vec::new());
            assert_eq!(
                outcome,
                Outcome::Quarantine {
                    reason: QuarantineReason::BadTimestamp
                },
                "{line}"
            );
        }
    }

    const LINE: &str = "2022-04-04 22:45:55,436 UNIQUEID=1833323238.399, CHANNEL=SIP/630-0000011f, CALLERID(number)=+12345678901, name=filterdial";

    #[test]
    fn parses_a_metrics_line() {
        let m = parse_metrics_line(LINE).unwrap();
        assert_eq!(m.time, [2022, 4, 4, 22, 45, 55]);
        assert_eq!(m.channel, "SIP/630-0000011f");
        assert_eq!(m.name, "filterdial");
    }

    #[test]
    fn values_may_hold_spaces_and_fields_any_order() {
        let m = parse_metrics_line(
            "2022-04-04 22:45:55 name=say hello, CHANNEL=Local/x@y-1;2, CALLERID(name)=A B,\n",
        )
        .unwrap();
        assert_eq!(m.name, "say hello");
        assert_eq!(m.channel, "Local/x@y-1;2");
    }

    #[test]
    fn not_metrics_lines() {
        assert_eq!(parse_metrics_line("hello world"), Err(NotMetrics::NoTime));
        assert_eq!(
            parse_metrics_line("2022-04-04 22:45:55,436 UNIQUEID=1, name=x"),
            Err(NotMetrics::NoChannel)
        );
        assert_eq!(
            parse_metrics_line("2022-04-04 22:45:55,436 CHANNEL=x,"),
            Err(NotMetrics::NoName)
        );
        assert_eq!(
            parse_metrics_line("2022-04-04 22:45,436 CHANNEL=x, name=y"),
            Err(NotMetrics::NoTime)
        );
    }

    fn la(t: [i16; 6]) -> Option<String> {
        local_timestamp(t, &jiff::tz::TimeZone::get("America/Los_Angeles").unwrap())
    }

    #[test]
    fn offsets_follow_daylight_saving_time() {
        assert_eq!(
            la([2022, 1, 15, 12, 0, 0]).unwrap(),
            "2022-01-15T12:00:00-08:00"
        );
        assert_eq!(
            la([2022, 7, 4, 12, 0, 0]).unwrap(),
            "2022-07-04T12:00:00-07:00"
        );
        // the repeated hour: the first occurrence
        assert_eq!(
            la([2022, 11, 6, 1, 30, 0]).unwrap(),
            "2022-11-06T01:30:00-07:00"
        );
        assert_eq!(
            la([2022, 11, 6, 2, 0, 0]).unwrap(),
            "2022-11-06T02:00:00-08:00"
        );
        // the skipped hour: moved forward by the gap
        assert_eq!(
            la([2022, 3, 13, 2, 30, 0]).unwrap(),
            "2022-03-13T03:30:00-07:00"
        );
        assert_eq!(
            la([2022, 3, 13, 1, 59, 59]).unwrap(),
            "2022-03-13T01:59:59-08:00"
        );
        assert_eq!(la([2022, 2, 30, 1, 0, 0]), None);
        assert_eq!(la([2022, 2, 3, 24, 0, 0]), None);
    }
}
