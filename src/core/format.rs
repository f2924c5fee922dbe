//! The record line, byte-exact.
//!
//! Every line in the archive was written by Python's `json.dumps` with its defaults, and
//! de-duplication works on byte equality, so this module must reproduce that output exactly:
//!
//! - keys in the order `timestamp`, `channel`, `endpoint`, `event`;
//! - separators `", "` between members and `": "` between a key and its value;
//! - strings escaped ASCII-only: `"` `\` and the named controls (`\n` `\r` `\t` `\b` `\f`) by
//!   their short escapes, every other character outside U+0020..=U+007E as `\uXXXX` with four
//!   lowercase hex digits, characters above U+FFFF as a UTF-16 surrogate pair; `/` is not escaped.
//!
//! The escaping is done by a [`serde_json::ser::Formatter`] ([`PyFormatter`]), so the escaping
//! of ASCII controls stays serde_json's and only what differs from it lives here. A value that
//! needs no escaping at all (printable ASCII without `"` or `\`, the common case) is copied
//! as it is, without going through serde_json; a test checks the two agree on any string.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

/// One archive record: the four fields the usage site reads, in the frozen key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Record<'a> {
    pub timestamp: &'a str,
    pub channel: &'a str,
    pub endpoint: &'a str,
    pub event: &'a str,
}

/// A serde_json formatter that writes what Python's `json.dumps` writes by default.
#[derive(Debug, Clone, Copy, Default)]
pub struct PyFormatter;

impl Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.begin_array_value(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    /// serde_json hands over runs of characters it would not escape itself; Python also escapes
    /// everything outside printable ASCII (including DEL), so those are escaped here.
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, ch) in fragment.char_indices().filter(|&(_, c)| c >= '\u{7f}') {
            writer.write_all(&fragment.as_bytes()[start..i])?;
            for unit in ch.encode_utf16(&mut [0; 2]) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = i + ch.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Appends `record` as one archive line, without the trailing newline, to `out`.
pub fn write_record(out: &mut Vec<u8>, record: &Record<'_>) {
    out.extend_from_slice(b"{\"timestamp\": ");
    write_py_string(out, record.timestamp);
    out.extend_from_slice(b", \"channel\": ");
    write_py_string(out, record.channel);
    out.extend_from_slice(b", \"endpoint\": ");
    write_py_string(out, record.endpoint);
    out.extend_from_slice(b", \"event\": ");
    write_py_string(out, record.event);
    out.push(b'}');
}

/// The archive line for `record`, without the trailing newline.
pub fn record_line(record: &Record<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_record(&mut out, record);
    out
}

/// Writes `s` as a Python-style JSON string literal (quotes included): copied as it is when it
/// needs no escaping, else through [`PyFormatter`].
pub fn write_py_string(out: &mut Vec<u8>, s: &str) {
    // No early exit: a branch-free pass over these short values (vectorised) is cheaper.
    let needs_escape = s.bytes().fold(0u8, |any, b| {
        any | u8::from(!(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\')
    });
    if needs_escape == 0 {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        write_py_string_serde(out, s);
    }
}

/// [`write_py_string`] through serde_json and [`PyFormatter`] alone, whatever `s` holds.
fn write_py_string_serde(out: &mut Vec<u8>, s: &str) {
    let mut ser = serde_json::Serializer::with_formatter(out, PyFormatter);
    // Serializing a &str into a Vec cannot fail.
    s.serialize(&mut ser).expect("writing a string into memory");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        let mut out = Vec::new();
        write_py_string(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn record_matches_spec_example_byte_for_byte() {
        let line = record_line(&Record {
            timestamp: "2026-11-20T00:00:47+00:00",
            channel: "PJSIP/twilio-000d3be7",
            endpoint: "ghost-mountain",
            event: "operator",
        });
        assert_eq!(
            String::from_utf8(line).unwrap(),
            r#"{"timestamp": "2026-11-20T00:00:47+00:00", "channel": "PJSIP/twilio-000d3be7", "endpoint": "ghost-mountain", "event": "operator"}"#
        );
    }

    #[test]
    fn quote_and_backslash_use_short_escapes() {
        assert_eq!(s(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn named_controls_use_short_escapes() {
        assert_eq!(s("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
    }

    #[test]
    fn other_controls_use_lowercase_u_escapes() {
        assert_eq!(s("\u{0}\u{1f}\u{1b}"), r#""\u0000\u001f\u001b""#);
    }

    #[test]
    fn delete_is_escaped_like_python() {
        assert_eq!(s("\u{7f}"), r#""\u007f""#);
    }

    #[test]
    fn solidus_is_not_escaped() {
        assert_eq!(s("PJSIP/a/b"), r#""PJSIP/a/b""#);
    }

    #[test]
    fn non_ascii_is_escaped_with_lowercase_hex() {
        assert_eq!(s("café"), r#""caf\u00e9""#);
        assert_eq!(s("\u{abcd}"), r#""\uabcd""#);
        assert_eq!(s("\u{a0}"), r#""\u00a0""#);
    }

    #[test]
    fn astral_characters_become_surrogate_pairs() {
        assert_eq!(s("📞"), r#""\ud83d\udcde""#);
        assert_eq!(s("x\u{10ffff}y"), r#""x\udbff\udfffy""#);
    }

    #[test]
    fn printable_ascii_passes_through() {
        let printable: String = (0x20u8..=0x7e).map(char::from).collect();
        let expected = format!(
            "\"{}\"",
            printable.replace('\\', "\\\\").replace('"', "\\\"")
        );
        assert_eq!(s(&printable), expected);
    }

    #[test]
    fn empty_fields_are_written_as_empty_strings() {
        let line = record_line(&Record {
            timestamp: "",
            channel: "",
            endpoint: "",
            event: "",
        });
        assert_eq!(
            line,
            br#"{"timestamp": "", "channel": "", "endpoint": "", "event": ""}"#
        );
    }

    /// The record through serde_json and [`PyFormatter`] alone (the framing included).
    fn record_serde(record: &Record<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
        record.serialize(&mut ser).unwrap();
        out
    }

    proptest::proptest! {
        /// The copy of plain values and the hand-written framing agree with serde_json.
        #[test]
        fn the_shortcut_agrees_with_serde(
            t in "[ -~]{0,12}|\\PC{0,8}|[\\x00-\\x7f]{0,8}",
            c in "[ -~]{0,12}|\\PC{0,8}",
            e in "[ -~]{0,12}",
            v in "[ -~]{0,12}|\\PC{0,8}|[\\x00-\\x7f]{0,8}",
        ) {
            let r = Record { timestamp: &t, channel: &c, endpoint: &e, event: &v };
            proptest::prop_assert_eq!(record_line(&r), record_serde(&r));
            let mut one = Vec::new();
            write_py_string(&mut one, &t);
            let mut reference = Vec::new();
            write_py_string_serde(&mut reference, &t);
            proptest::prop_assert_eq!(one, reference);
        }
    }

    #[test]
    fn mixed_escapes_in_one_string() {
        assert_eq!(s("é\"\n😀/\u{1}"), r#""\u00e9\"\n\ud83d\ude00/\u0001""#);
    }
}
