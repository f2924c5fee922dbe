//! The fast path of [`classify`](mod@super::classify): a specialised scanner for the common shape of
//! a message body, with the serde path ([`classify_serde`](super::classify::classify_serde)) as
//! the fallback for everything else.
//!
//! The scanner reads the body once, byte by byte (eight at a time inside strings), validating
//! it as strict JSON while it goes: it records the handful of members the classifier reads,
//! skips the others, unescapes the envelope's `Message` string once, and scans the event message
//! inside it the same way. Then the shared rules (`decide` in `classify.rs`) produce
//! the outcome and the line, so the two paths cannot disagree about classification itself.
//!
//! Invariant: [`classify_fast`] returns `Some` only for a body it has fully validated and fully
//! understood, and then its outcome and line are exactly the serde path's. On anything else it
//! returns `None` (it *bails out*) and the caller runs the serde path; it never guesses. It bails
//! on:
//!
//! - anything that is not well-formed JSON (the serde path names the quarantine reason);
//! - an escape in a member name, a lone UTF-16 surrogate escape anywhere;
//! - a used member (`Message`, `Type`, `Timestamp`, `timestamp`, `hostname`, the members of
//!   `event`) that is not a string, an `event` that is not an object, a used member given twice;
//! - a missing `Message` in an envelope, a missing `event` object;
//! - nesting deeper than [`MAX_DEPTH`] in a skipped member.
//!
//! So every structural quarantine goes through serde; the fast path only ever keeps, drops, or
//! quarantines a bad timestamp. Like the serde path it never panics; differential property tests
//! below check it against the serde path on generated and mutated bodies.

use std::borrow::Cow;

use super::classify::{decide, Fields, Outcome};
use super::rules::Rules;

/// Nesting (of skipped arrays and objects) beyond which the fast path gives up. serde_json
/// accepts any depth in a skipped member; giving up keeps recursion here shallow.
pub const MAX_DEPTH: usize = 32;

/// A JSON string in the input: its text between the quotes, still escaped if `escaped`.
#[derive(Clone, Copy)]
struct Str<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> Str<'a> {
    /// The string's value. The scanner has validated every escape, so decoding cannot fail.
    fn value(self) -> Cow<'a, str> {
        if self.escaped {
            Cow::Owned(unescape(self.raw))
        } else {
            Cow::Borrowed(self.raw)
        }
    }
}

/// The members of an `event` object that classification uses.
#[derive(Default)]
struct EventMembers<'a> {
    user_event: Option<Str<'a>>,
    event: Option<Str<'a>>,
    channel: Option<Str<'a>>,
    endpoint: Option<Str<'a>>,
}

/// The used members of a top-level object (an envelope or an event message).
#[derive(Default)]
struct Top<'a> {
    /// The envelope's `Message`, decoded.
    message: Option<String>,
    /// `Some(is "Notification")` once a `Type` member was seen.
    type_notification: Option<bool>,
    env_timestamp: Option<Str<'a>>,
    timestamp: Option<Str<'a>>,
    hostname: Option<Str<'a>>,
    event: Option<EventMembers<'a>>,
}

/// Stores `v` in `slot` unless the member was already given (a duplicate: bail).
fn set<T>(slot: &mut Option<T>, v: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(v);
    Some(())
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// A mask with the high bit set in the lowest byte of `w` that is `"`, `\` or below 0x20 (and
/// perhaps in later bytes); zero when there is no such byte.
fn specials(w: u64) -> u64 {
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    zero(quote) | zero(backslash) | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
}

fn hex4(b: &[u8]) -> Option<u16> {
    let mut v = 0u16;
    for &c in b.get(..4)? {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = v << 4 | u16::from(d);
    }
    Some(v)
}

fn is_high_surrogate(u: u16) -> bool {
    (0xd800..0xdc00).contains(&u)
}

fn is_low_surrogate(u: u16) -> bool {
    (0xdc00..0xe000).contains(&u)
}

/// A validating scanner over one JSON text.
struct Scanner<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a str) -> Self {
        Scanner { s, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    fn ws(&mut self) {
        let b = self.bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    /// The escape after a backslash at `i - 1`; returns the index after it. A `\u` escape of a
    /// surrogate must be a high one followed by a `\u` low one.
    fn escape(&self, i: usize) -> Option<usize> {
        let b = self.bytes();
        match *b.get(i)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(i + 1),
            b'u' => {
                let unit = hex4(b.get(i + 1..)?)?;
                if is_high_surrogate(unit) {
                    if b.get(i + 5..i + 7)? != b"\\u" {
                        return None;
                    }
                    let low = hex4(b.get(i + 7..)?)?;
                    is_low_surrogate(low).then_some(i + 11)
                } else if is_low_surrogate(unit) {
                    None
                } else {
                    Some(i + 5)
                }
            }
            _ => None,
        }
    }

    /// A string at the current position (its opening quote).
    fn string(&mut self) -> Option<Str<'a>> {
        self.scan_string(None)
    }

    /// A string at the current position, decoded while it is validated (one pass: used for the
    /// envelope's `Message`, which is long and full of escaped quotes).
    fn string_decoded(&mut self) -> Option<String> {
        let mut out = String::with_capacity(1024);
        self.scan_string(Some(&mut out))?;
        Some(out)
    }

    /// Validates a string; with `out`, appends its value there.
    fn scan_string(&mut self, mut out: Option<&mut String>) -> Option<Str<'a>> {
        self.eat(b'"')?;
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        let mut run = start;
        let mut escaped = false;
        loop {
            while let Some(chunk) = b.get(i..i + 8) {
                let w = u64::from_le_bytes(chunk.try_into().ok()?);
                let m = specials(w);
                if m != 0 {
                    i += (m.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            match *b.get(i)? {
                b'"' => {
                    if let Some(o) = out.as_deref_mut() {
                        o.push_str(self.s.get(run..i)?);
                    }
                    self.pos = i + 1;
                    return Some(Str {
                        raw: self.s.get(start..i)?,
                        escaped,
                    });
                }
                b'\\' => {
                    escaped = true;
                    let next = self.escape(i + 1)?;
                    if let Some(o) = out.as_deref_mut() {
                        o.push_str(self.s.get(run..i)?);
                        o.push(decode_escape(b.get(i + 1..next)?));
                        run = next;
                    }
                    i = next;
                }
                0..=0x1f => return None,
                _ => i += 1,
            }
        }
    }

    /// A member name: a string without escapes (an escaped name could be a used one in disguise).
    fn key(&mut self) -> Option<&'a str> {
        let k = self.string()?;
        if k.escaped {
            return None;
        }
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(k.raw)
    }

    /// A string value, or bail.
    fn string_value(&mut self) -> Option<Str<'a>> {
        self.string()
    }

    fn number(&mut self) -> Option<()> {
        let b = self.bytes();
        let digits = |mut i: usize| {
            let from = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            (i > from).then_some(i)
        };
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match *b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = digits(i)?,
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i = digits(i + 1)?;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            i = digits(i)?;
        }
        self.pos = i;
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes().get(self.pos..self.pos + word.len())? == word {
            self.pos += word.len();
            Some(())
        } else {
            None
        }
    }

    /// Skips (and validates) any value; `depth` is the nesting of its container.
    fn skip(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.object(|sc, _| sc.skip(depth + 1))
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => {
                            self.pos += 1;
                            self.ws();
                        }
                        b']' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    /// An object at the current position; `member` reads each value (positioned at it).
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            let key = self.key()?;
            member(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.ws();
                }
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn event(&mut self) -> Option<EventMembers<'a>> {
        let mut ev = EventMembers::default();
        self.object(|sc, key| match key {
            "UserEvent" => set(&mut ev.user_event, sc.string_value()?),
            "Event" => set(&mut ev.event, sc.string_value()?),
            "Channel" => set(&mut ev.channel, sc.string_value()?),
            "endpoint" => set(&mut ev.endpoint, sc.string_value()?),
            _ => sc.skip(1),
        })?;
        Some(ev)
    }

    /// A whole document that is an object, nothing but white space around it.
    fn document(mut self) -> Option<Top<'a>> {
        let mut top = Top::default();
        self.ws();
        self.object(|sc, key| match key {
            "Message" => set(&mut top.message, sc.string_decoded()?),
            "Type" => {
                let v = sc.string_value()?;
                set(&mut top.type_notification, v.value() == "Notification")
            }
            "Timestamp" => set(&mut top.env_timestamp, sc.string_value()?),
            "timestamp" => set(&mut top.timestamp, sc.string_value()?),
            "hostname" => set(&mut top.hostname, sc.string_value()?),
            "event" => {
                let ev = sc.event()?;
                set(&mut top.event, ev)
            }
            _ => sc.skip(0),
        })?;
        self.ws();
        (self.pos == self.s.len()).then_some(top)
    }
}

/// The character of a validated escape (`e` is what follows the backslash: 1, 5 or 11 bytes).
fn decode_escape(e: &[u8]) -> char {
    match e.first() {
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(b'u') => {
            let unit = e.get(1..).and_then(hex4).unwrap_or(0xfffd);
            let code = if is_high_surrogate(unit) {
                let low = e.get(7..).and_then(hex4).unwrap_or(0xdc00);
                0x10000 + ((u32::from(unit) - 0xd800) << 10) + (u32::from(low) - 0xdc00)
            } else {
                u32::from(unit)
            };
            char::from_u32(code).unwrap_or('\u{fffd}')
        }
        Some(&other) => char::from(other),
        None => '\u{fffd}',
    }
}

/// The value of a string whose escapes have been validated by [`Scanner::string`].
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    Scanner { s: raw, pos: 0 }.decode_raw(&mut out);
    out
}

impl Scanner<'_> {
    /// Decodes the whole (validated, unquoted) text into `out`.
    fn decode_raw(&mut self, out: &mut String) {
        let b = self.bytes();
        let mut i = 0;
        while let Some(off) = memchr::memchr(b'\\', &b[i..]) {
            out.push_str(&self.s[i..i + off]);
            let at = i + off;
            let next = self.escape(at + 1).unwrap_or(b.len());
            out.push(decode_escape(&b[at + 1..next]));
            i = next;
        }
        out.push_str(&self.s[i..]);
    }
}

/// The fields of an event message, decoded; `None` when it has no `event` object.
fn classify_message(
    message: &Top<'_>,
    envelope_timestamp: Option<&str>,
    rules: &Rules,
    line: &mut Vec<u8>,
) -> Option<Outcome> {
    let ev = message.event.as_ref()?;
    let user_event = ev.user_event.map(Str::value);
    let event = ev.event.map(Str::value);
    let timestamp = message.timestamp.map(Str::value);
    let channel = ev.channel.map(Str::value);
    let endpoint = ev.endpoint.map(Str::value);
    let hostname = message.hostname.map(Str::value);
    let fields = Fields {
        name: user_event.as_deref().or(event.as_deref()),
        timestamp: timestamp.as_deref().or(envelope_timestamp),
        channel: channel.as_deref(),
        endpoint: endpoint.as_deref(),
        hostname: hostname.as_deref(),
    };
    Some(decide(&fields, rules, line))
}

/// Classifies `body` if it has the common shape, exactly as the serde path would; `None` (with
/// `line` untouched) when the body is outside what this path fully handles.
pub fn classify_fast(body: &str, rules: &Rules, line: &mut Vec<u8>) -> Option<Outcome> {
    let top = Scanner::new(body).document()?;
    if top.message.is_some() || top.type_notification == Some(true) {
        let inner = top.message?;
        let message = Scanner::new(&inner).document()?;
        let env_ts = top.env_timestamp.map(Str::value);
        classify_message(&message, env_ts.as_deref(), rules, line)
    } else {
        classify_message(&top, None, rules, line)
    }
}

#[cfg(test)]
mod tests {
    //! Differential tests: the fast path against the serde path, byte for byte.

    use std::sync::OnceLock;

    use proptest::prelude::*;

    use super::*;
    use crate::core::classify::{classify, classify_bytes, classify_serde};
    use crate::core::QuarantineReason;

    const SETS: [&str; 3] = ["basic", "malformed", "emulator"];

    fn conformance(set: &str) -> Vec<String> {
        let path = format!(
            "{}/tests/fixtures/conformance/{set}/messages.jsonl",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Every conformance body of every set.
    fn all_bodies() -> &'static [String] {
        static BODIES: OnceLock<Vec<String>> = OnceLock::new();
        BODIES.get_or_init(|| SETS.iter().flat_map(|s| conformance(s)).collect())
    }

    /// Cases per property: `PROPTEST_CASES` when set, else `default`.
    fn cases(default: u32) -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// Asserts that the fast path (when it takes) and `classify` agree with the serde path on
    /// `body`, outcome and line bytes; returns whether the fast path took.
    fn agree(body: &str, rules: &Rules) -> bool {
        let mut want_line = Vec::new();
        let want = classify_serde(body, rules, &mut want_line);
        let mut line = Vec::new();
        let fast = classify_fast(body, rules, &mut line);
        let took = fast.is_some();
        if let Some(got) = fast {
            assert_eq!(got, want, "outcome differs on {body:?}");
            assert_eq!(
                String::from_utf8_lossy(&line),
                String::from_utf8_lossy(&want_line),
                "line differs on {body:?}"
            );
        } else {
            assert!(line.is_empty(), "a bail wrote to the line: {body:?}");
        }
        let mut line = Vec::new();
        assert_eq!(classify(body, rules, &mut line), want, "{body:?}");
        assert_eq!(line, want_line, "{body:?}");
        took
    }

    /// [`agree`] on raw bytes (a file line), through `classify_bytes`.
    fn agree_bytes(body: &[u8], rules: &Rules) {
        if let Ok(s) = std::str::from_utf8(body) {
            agree(s, rules);
        } else {
            let mut line = Vec::new();
            assert_eq!(
                classify_bytes(body, rules, &mut line),
                Outcome::Quarantine {
                    reason: QuarantineReason::NotUtf8
                }
            );
            assert!(line.is_empty());
        }
    }

    /// Other rules than the defaults, so that more generated bodies are kept.
    fn loose_rules() -> Rules {
        Rules {
            prod_hosts: vec!["futel-prod-back".into(), "x".into(), "é📞".into()],
            drop_channel_substrings: vec!["followme".into(), "\"".into()],
            drop_events: vec!["Registry".into()],
        }
    }

    #[test]
    fn every_conformance_body_agrees() {
        let rules = [Rules::default(), loose_rules()];
        for body in all_bodies() {
            for r in &rules {
                agree(body, r);
            }
        }
    }

    #[test]
    fn the_fast_path_takes_on_most_basic_bodies() {
        let bodies = conformance("basic");
        let took = bodies
            .iter()
            .filter(|b| agree(b, &Rules::default()))
            .count();
        assert!(
            took * 100 >= bodies.len() * 95,
            "the fast path took {took} of {} basic bodies",
            bodies.len()
        );
        // The outcomes it takes span keeps and drops.
        let mut kinds = [false; 3];
        for b in &bodies {
            match classify_fast(b, &Rules::default(), &mut Vec::new()) {
                Some(Outcome::Keep { .. }) => kinds[0] = true,
                Some(Outcome::Drop { .. }) => kinds[1] = true,
                Some(Outcome::Quarantine { .. }) => kinds[2] = true,
                None => {}
            }
        }
        assert!(kinds[0] && kinds[1], "{kinds:?}");
    }

    #[test]
    fn hand_picked_edges_agree() {
        let inner = r#"{\"timestamp\": \"2026-11-20T00:00:00\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"c\"}}"#;
        let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
        let cases = [
            format!(r#"{{"Type": "Notification", "Message": "{inner}"}}"#),
            format!(r#"  {{"Message": "{inner}"}}  "#),
            format!(r#"{{"Message": "{inner}"}} x"#),
            format!(r#"{{"Message": "{inner}", "x": {deep}}}"#),
            format!(r#"{{"Message": "{inner}", "x": 1e400, "y": -0.5E+3, "z": [true, false, null]}}"#),
            format!(r#"{{"Message": "{inner}", "x": 01}}"#),
            format!(r#"{{"Message": "{inner}", "x": "\ud83d"}}"#),
            format!(r#"{{"Message": "{inner}", "x": "\ud83d\udcde"}}"#),
            format!(r#"{{"Message": "{inner}", "x": "\udcde"}}"#),
            format!(r#"{{"Message": "{inner}", "x": "\x"}}"#),
            format!(r#"{{"Message": "{inner}", "x": "a	b"}}"#),
            format!(r#"{{"Message": "{inner}", "Message": "{inner}"}}"#),
            format!(r#"{{"Message": "{inner}", "Type": 1}}"#),
            r#"{"Type": "Notification"}"#.to_owned(),
            format!(r#"{{"Type": "Notificatio\u006e", "Message": "{inner}"}}"#),
            r#"{"timestamp": "2026-11-20", "hostname": "futel-prod-back", "event": {"Event": "E", "Channel": "c\u00e9\ud83d\udcde\/\"\\\b\f\n\r\t\u0001"}}"#.to_owned(),
            r#"{"timestamp": "2026-11-20", "hostname": "futel-prod-back", "event": {"Event": "E", "Channel": "c", "endpoint": ""}}"#.to_owned(),
            r#"{"timestamp": "2026-11-20", "hostname": "futel-prod-back", "event": {}}"#.to_owned(),
            r#"{"timestamp": "2026-11-20", "hostname": "futel-prod-back", "event": []}"#.to_owned(),
            r#"{"timestamp": "2026-11-20", "hostname": "futel-prod-back"}"#.to_owned(),
            r#"{"Timestamp": 5, "timestamp": "2026-11-20", "hostname": "futel-prod-back", "event": {"Event": "E", "Channel": "c"}}"#.to_owned(),
            String::new(),
            "{}".to_owned(),
            "[]".to_owned(),
        ];
        for body in &cases {
            agree(body, &Rules::default());
            agree(body, &loose_rules());
        }
        // The common shapes do take the fast path.
        assert!(classify_fast(&cases[0], &Rules::default(), &mut Vec::new()).is_some());
        assert!(classify_fast(&cases[15], &Rules::default(), &mut Vec::new()).is_some());
    }

    /// Text edits that keep a body plausible: (pattern, replacement) applied at one occurrence.
    /// Patterns are as they appear in the envelope, so inner (Message) edits are escaped once.
    const EDITS: &[(&str, &str)] = &[
        // Escapes inside used inner values, and in the envelope's own strings.
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\\u00e9"#),
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\\\""#),
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\\\\"#),
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\\/"#),
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\\ud83d\\udcde"#),
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\\ud83d"#),
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\\udcde\\ud83d"#),
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\t"#),
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\\u0009"#),
        (r#"\"UserEvent\": \""#, r#"\"UserEvent\": \"\\u4e2d\\u007f"#),
        (r#"\"endpoint\": \""#, r#"\"endpoint\": \"é📞"#),
        (r#"\"hostname\""#, r"\u0022hostname\u0022"),
        (r#"\"timestamp\""#, r#"\"time\\u0073tamp\""#),
        (r#"\""#, r"\u0022"),
        (r#", \""#, r#",\n\r\t \""#),
        (r#"\": "#, r#"\" :\n "#),
        ("\"MessageId\": \"", "\"MessageId\": \"\\/\\u00e9\\ud83d\\udcde\\\"\\\\"),
        ("\"MessageId\": \"", "\"MessageId\": \"\\ud83d"),
        ("\"MessageId\": \"", "\"MessageId\": \"\t"),
        ("\"MessageId\": \"", "\"MessageId\": \"\\q"),
        ("\"Message\"", "\"M\\u0065ssage\""),
        (", ", " ,\n"),
        // Duplicate members, outer and inner.
        ("\"Message\": ", "\"Message\": \"{}\", \"Message\": "),
        ("\"Message\": ", "\"Message\": 1, \"Message\": "),
        ("\"Type\": ", "\"Type\": \"Notification\", \"Type\": "),
        ("\"Timestamp\": ", "\"Timestamp\": \"2026-01-01\", \"Timestamp\": "),
        (r#"{\"timestamp\""#, r#"{\"hostname\": \"x\", \"timestamp\""#),
        (r#"{\"timestamp\""#, r#"{\"timestamp\": \"1999-01-01\", \"timestamp\""#),
        (r#"\"Channel\": "#, r#"\"Channel\": \"dup\", \"Channel\": "#),
        (r#"\"Event\": "#, r#"\"Event\": \"Registry\", \"Event\": "#),
        // Other types in place of strings (the old value moves to another member).
        (r#"\"Channel\": "#, r#"\"Channel\": {\"a\": [1]}, \"Chan\": "#),
        (r#"\"Channel\": "#, r#"\"Channel\": 1e400, \"Chan\": "#),
        (r#"\"Channel\": "#, r#"\"Channel\": null, \"Chan\": "#),
        (r#"\"UserEvent\": "#, r#"\"UserEvent\": [], \"UE\": "#),
        (r#"\"endpoint\": "#, r#"\"endpoint\": true, \"ep\": "#),
        (r#"\"hostname\": "#, r#"\"hostname\": -0.0, \"h\": "#),
        (r#"\"timestamp\": "#, r#"\"timestamp\": {}, \"t\": "#),
        (r#"\"event\": "#, r#"\"event\": \"x\", \"ev\": "#),
        (r#"\"event\": "#, r#"\"event\": {}, \"ev\": "#),
        (r#"\"event\": "#, r#"\"event\": [{}], \"ev\": "#),
        ("\"Message\": ", "\"Message\": {\"a\": 1}, \"M\": "),
        ("\"Message\": ", "\"Message\": \"[]\", \"M\": "),
        ("\"Message\": ", "\"Message\": \"{\\\"event\\\": {}}\", \"M\": "),
        ("\"Type\": ", "\"Type\": 7, \"T\": "),
        ("\"Timestamp\": ", "\"Timestamp\": [\"2026-11-20\"], \"TS\": "),
        ("\"Timestamp\": ", "\"Timestamp\": \"2026-02-29\", \"TS\": "),
        // Used members removed or renamed.
        ("\"Type\": \"Notification\", ", ""),
        ("\"Notification\"", "\"SubscriptionConfirmation\""),
        ("\"Message\"", "\"Massage\""),
        (r#"\"timestamp\""#, r#"\"timestamp_\""#),
        (r#"\"hostname\""#, r#"\"Hostname\""#),
        (r#"\"event\""#, r#"\"Event\""#),
        (r#"\"UserEvent\""#, r#"\"userevent\""#),
        (r#"\"Channel\""#, r#"\"channel\""#),
        // Values changed to reach every rule.
        (r#"\"hostname\": \""#, r#"\"hostname\": \"futel-prod-back\", \"h\": \""#),
        (r#"\"Channel\": \""#, r#"\"Channel\": \"followme-operator\", \"c\": \""#),
        (r#"\"Event\": \""#, r#"\"Event\": \"PeerStatus\", \"e\": \""#),
        (r#"\"timestamp\": \"2"#, r#"\"timestamp\": \"1"#),
        (r#"\"timestamp\": \"2026-11-2"#, r#"\"timestamp\": \"2026-11-3"#),
        // Nesting, numbers, literals in skipped members.
        (
            "\"SignatureVersion\": ",
            "\"SignatureVersion\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], \"SV\": ",
        ),
        (
            "\"SignatureVersion\": ",
            "\"SignatureVersion\": {\"a\": [1, -2.5e-3, 0, true, false, null, {\"b\": {}}]}, \"SV\": ",
        ),
        ("\"SignatureVersion\": ", "\"SignatureVersion\": 012, \"SV\": "),
        ("\"SignatureVersion\": ", "\"SignatureVersion\": 1., \"SV\": "),
        ("\"SignatureVersion\": ", "\"SignatureVersion\": -, \"SV\": "),
        ("\"SignatureVersion\": ", "\"SignatureVersion\": tru, \"SV\": "),
        ("\"SignatureVersion\": ", "\"SignatureVersion\": [1,], \"SV\": "),
        (
            r#"\"Privilege\": "#,
            r#"\"Privilege\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], \"P\": "#,
        ),
        (r#"\"Privilege\": "#, r#"\"Privilege\": {\"Channel\": 5}, \"P\": "#),
        (r#"\"Privilege\": "#, r#"\"Privilege\": 1E+2, \"P\": "#),
        // Broken structure.
        ("}", "},"),
        ("\"", "'"),
        (r#"\"}"#, r#"\""#),
        ("{", "{{"),
    ];

    #[derive(Debug, Clone)]
    enum Mutation {
        /// Replace byte `pos % len` with `byte`.
        Flip(usize, u8),
        /// Keep the first `pos % len` bytes.
        Truncate(usize),
        /// Insert a snippet at `pos % len`.
        Insert(usize, &'static str),
        /// Apply `EDITS[i]` at occurrence `k` (modulo the number of occurrences).
        Edit(usize, usize),
        /// Re-serialise with serde_json (sorted keys, compact separators), the Message too.
        Reserialise,
        /// The envelope's message delivered raw.
        Unwrap,
    }

    const SNIPPETS: &[&str] = &[
        "\\u00e9",
        "\\\"",
        "\\\\",
        "\\/",
        "\\ud83d\\udcde",
        "\\ud83d",
        "\\udcde",
        "\\\\u00e9",
        "\\\\\\\"",
        " ",
        "\n",
        "{}",
        "[",
        "]",
        "1e400",
        "\"x\": 1, ",
        "\\",
        "\"",
        ",",
        "é",
        "\u{0}",
    ];

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            1 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Flip(p, b)),
            1 => any::<usize>().prop_map(Mutation::Truncate),
            1 => (any::<usize>(), proptest::sample::select(SNIPPETS)).prop_map(|(p, s)| Mutation::Insert(p, s)),
            8 => (0..EDITS.len(), 0..4usize).prop_map(|(i, k)| Mutation::Edit(i, k)),
            1 => Just(Mutation::Reserialise),
            1 => Just(Mutation::Unwrap),
        ]
    }

    fn apply(body: Vec<u8>, m: &Mutation) -> Vec<u8> {
        let mut body = body;
        let len = body.len().max(1);
        match *m {
            Mutation::Flip(p, b) => {
                if !body.is_empty() {
                    body[p % len] = b;
                }
            }
            Mutation::Truncate(p) => body.truncate(p % len),
            Mutation::Insert(p, s) => {
                let at = p % len;
                body.splice(at..at, s.bytes());
            }
            Mutation::Edit(i, k) => {
                let (from, to) = EDITS[i];
                let hits: Vec<usize> = body
                    .windows(from.len())
                    .enumerate()
                    .filter(|(_, w)| *w == from.as_bytes())
                    .map(|(j, _)| j)
                    .collect();
                if !hits.is_empty() {
                    let at = hits[k % hits.len()];
                    body.splice(at..at + from.len(), to.bytes());
                }
            }
            Mutation::Reserialise => {
                if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&body) {
                    if let Some(inner) = v.get("Message").and_then(|m| m.as_str()) {
                        if let Ok(iv) = serde_json::from_str::<serde_json::Value>(inner) {
                            v["Message"] = serde_json::Value::String(iv.to_string());
                        }
                    }
                    body = v.to_string().into_bytes();
                }
            }
            Mutation::Unwrap => {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                    if let Some(inner) = v.get("Message").and_then(|m| m.as_str()) {
                        body = inner.as_bytes().to_vec();
                    }
                }
            }
        }
        body
    }

    /// A value for a generated member: mostly strings the rules care about, sometimes odd.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => proptest::sample::select(&[
                "futel-prod-back", "dialplan-functions-prod", "other-host", "", "SIP/1",
                "Local/followme-operator-1;1", "Registry", "UserEvent", "operator",
                "2026-11-20T00:00:47+00:00", "2026-02-29T00:00:00", "2024-02-29", "x",
            ][..]).prop_map(|s| format!("\"{s}\"")),
            2 => proptest::sample::select(&[
                r#""caf\u00e9""#, r#""\ud83d\udcde""#, r#""\ud83d""#, r#""\udcde""#,
                r#""a\"b""#, r#""a\\b""#, r#""a\/b""#, r#""\n\t\b\f\r""#, r#""é📞""#,
                r#""\u0000""#, r#""\u2026-11-20""#, r#""\u0032026-11-20""#,
            ][..]).prop_map(str::to_owned),
            1 => proptest::sample::select(&[
                "1", "-0.5e3", "1e400", "01", "null", "true", "false", "{}", "[]",
                r#"{"a": [1, {"b": null}]}"#, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
            ][..]).prop_map(str::to_owned),
        ]
    }

    fn members(keys: &'static [&'static str]) -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::vec(
            (
                proptest::sample::select(keys).prop_map(str::to_owned),
                value(),
            ),
            0..7,
        )
    }

    fn object(members: &[(String, String)], sep: &str) -> String {
        let inner: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("\"{k}\":{sep}{v}"))
            .collect();
        format!("{{{}}}", inner.join(&format!(",{sep}")))
    }

    /// A body built from parts: keys in any order, duplicated or missing, values of any type.
    fn generated() -> impl Strategy<Value = String> {
        let event_keys: &'static [&'static str] = &[
            "UserEvent",
            "Event",
            "Channel",
            "endpoint",
            "Privilege",
            "Chann\\u0065l",
        ];
        let message_keys: &'static [&'static str] = &[
            "timestamp",
            "hostname",
            "Type",
            "Message",
            "Timestamp",
            "other",
        ];
        let envelope_keys: &'static [&'static str] = &[
            "Timestamp",
            "Type",
            "MessageId",
            "Signature",
            "timestamp",
            "hostname",
        ];
        (
            members(event_keys),
            members(message_keys),
            0..3usize,
            members(envelope_keys),
            proptest::sample::select(&["", " ", "\n\t"][..]),
            any::<bool>(),
        )
            .prop_map(|(ev, mut msg, event_at, mut env, sep, envelope)| {
                msg.insert(event_at.min(msg.len()), ("event".into(), object(&ev, sep)));
                let message = object(&msg, sep);
                if envelope {
                    let at = env.len() / 2;
                    env.insert(
                        at,
                        (
                            "Message".into(),
                            serde_json::Value::String(message).to_string(),
                        ),
                    );
                    object(&env, sep)
                } else {
                    message
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

        #[test]
        fn mutated_conformance_bodies_agree(
            i in any::<proptest::sample::Index>(),
            ms in proptest::collection::vec(mutation(), 1..4),
        ) {
            let bodies = all_bodies();
            let mut body = bodies[i.index(bodies.len())].clone().into_bytes();
            for m in &ms {
                body = apply(body, m);
            }
            agree_bytes(&body, &Rules::default());
            agree_bytes(&body, &loose_rules());
        }

        #[test]
        fn generated_bodies_agree(body in generated()) {
            agree(&body, &Rules::default());
            agree(&body, &loose_rules());
        }

        #[test]
        fn json_shaped_text_agrees(body in r#"[\[\]{}":, a-zA-Z0-9\\.\-+eEu]{0,120}"#) {
            agree(&body, &Rules::default());
        }
    }
}
