//! The fast path of [`classify`](mod@super::classify): a specialised scanner for the common shape of
//! a message body, with the serde path ([`classify_serde`](super::classify::classify_serde)) as
//! the fallback for everything else.
//!
//! The scanner reads the body once, byte by byte (eight at a time inside strings), validating
//! it as strict JSON while it goes: it records the handful of members the classifier reads and
//! skips the others. The event message in the envelope's `Message` string is scanned *in
//! place*, inside the escaped text, in the same pass (a quote of the event message is the
//! escape `\"`, an escape of it begins with `\\`; both levels are validated), so nothing is
//! decoded but the few used values that hold an escape (borrowed otherwise). Then the shared
//! rules (`decide` in [`super::rules`]) produce the outcome and the line, so the two paths cannot
//! disagree about classification itself.
//!
//! The in-place scan handles the common escaped shape only: outside its strings, only `\"`
//! and the white space escapes `\n` `\t` `\r`; inside them, no escape that decodes to a quote,
//! a backslash or a control character (`\u0022`, `\n`), and raw hex digits in the event
//! message's own `\u` escapes. On anything else it gives up on the in-place reading only: the
//! `Message` string is then validated and decoded, and the decoded event message scanned.
//!
//! Invariant: [`classify_fast`] returns `Some` only for a body it has fully validated and fully
//! understood, and then its outcome and line are exactly the serde path's. On anything else it
//! returns `None` (it *bails out*) and the caller runs the serde path; it never guesses. It bails
//! on:
//!
//! - anything that is not well-formed JSON (the serde path names the quarantine reason);
//! - an escape in a member name (of either level in the in-place scan), a lone UTF-16 surrogate
//!   escape anywhere;
//! - a used member (the envelope's `Message`, `Type`, `Timestamp`; the event message's
//!   `timestamp`, `hostname`, the members of `event`) that is not a string, an `event` that is
//!   not an object, a used member given twice;
//! - a missing `Message` in an envelope, a missing `event` object;
//! - nesting deeper than [`MAX_DEPTH`] in a skipped member.
//!
//! So every structural quarantine goes through serde; the fast path only ever keeps, drops, or
//! quarantines a bad timestamp. Like the serde path it never panics; differential property tests
//! below check it against the serde path on generated and mutated bodies.

use std::borrow::Cow;

use super::rules::{
    decide, set_once, Field, On, Outcome, Rules, Values, EVENT, MESSAGE, NOTIFICATION, TYPE,
};

/// Nesting (of skipped arrays and objects) beyond which the fast path gives up. serde_json
/// accepts any depth in a skipped member; giving up keeps recursion here shallow.
pub const MAX_DEPTH: usize = 32;

/// A JSON string in the input: its text between the quotes, still escaped if `escaped`. A
/// `nested` string is one of the event message read in place inside the envelope's `Message`:
/// its text is escaped twice (once as the event message's JSON, once as the envelope's), and
/// `escaped` says whether it holds any backslash at all.
#[derive(Clone, Copy)]
struct Str<'a> {
    raw: &'a str,
    escaped: bool,
    nested: bool,
}

impl<'a> Str<'a> {
    /// The string's value, borrowed when it has no escape. The scanner has validated every
    /// escape (both levels of a nested string), so decoding does not fail (`None` would bail).
    fn value(self) -> Option<Cow<'a, str>> {
        let unescape = |s: &str| serde_json::from_str::<String>(&format!("\"{s}\"")).ok();
        match (self.escaped, self.nested) {
            (false, _) => Some(Cow::Borrowed(self.raw)),
            (true, false) => unescape(self.raw).map(Cow::Owned),
            (true, true) => unescape(&unescape(self.raw)?).map(Cow::Owned),
        }
    }
}

/// The used members of a top-level object (an envelope or an event message).
#[derive(Default)]
struct Top<'a> {
    /// The envelope's `Message`, decoded.
    message: Option<Cow<'a, str>>,
    /// `Some(is "Notification")` once a `Type` member was seen.
    type_notification: Option<bool>,
    /// The envelope's and the event message's fields.
    fields: Values<Str<'a>>,
    /// The `event` object's fields.
    event: Option<Values<Str<'a>>>,
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

/// The index of the first byte at or after `i` that is `"`, `\` or below 0x20, or else of the
/// first of the last (fewer than 8) bytes, which the caller looks at one by one. Sixteen bytes
/// a step while they last (two independent words: their checks overlap in the CPU), then eight.
#[allow(clippy::inline_always)] // called for every string; inlined: 2 % fewer instructions a message
#[inline(always)]
fn plain_run(b: &[u8], mut i: usize) -> usize {
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or_default());
    while let Some(chunk) = b.get(i..i + 16) {
        let (lo, hi) = chunk.split_at(8);
        let (m_lo, m_hi) = (specials(word(lo)), specials(word(hi)));
        if m_lo | m_hi != 0 {
            let at = if m_lo != 0 {
                m_lo.trailing_zeros() / 8
            } else {
                8 + m_hi.trailing_zeros() / 8
            };
            return i + at as usize;
        }
        i += 16;
    }
    while let Some(chunk) = b.get(i..i + 8) {
        let m = specials(word(chunk));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

/// The value of the four hex digits `b` begins with.
fn hex4(b: &[u8]) -> Option<u16> {
    let digits = b.get(..4).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
    u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// What [`Scanner::token`] gives for the envelope's closing quote while reading the event
/// message in place (no token of the event message decodes to NUL: that would be a bail).
const END: u8 = 0;

/// A validating scanner over one JSON text, or (`nested`) over the JSON text held, escaped, in
/// a JSON string of the input, read in place without decoding it (the common escaped shape of
/// the module docs only).
struct Scanner<'a> {
    s: &'a str,
    pos: usize,
    nested: bool,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a str, pos: usize, nested: bool) -> Self {
        Scanner { s, pos, nested }
    }

    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    /// The structural character at the current position and its length in the input: a byte,
    /// or (nested) a quote or white space escape; [`END`] for the raw quote that closes the
    /// enclosing string. `None` at the end of input, and (nested) on anything unusual. Every
    /// one but the quote and white space is a single byte also when nested.
    fn token(&self) -> Option<(u8, usize)> {
        let b = self.bytes();
        let c = *b.get(self.pos)?;
        if !self.nested {
            return Some((c, 1));
        }
        match c {
            b'\\' => match *b.get(self.pos + 1)? {
                b'"' => Some((b'"', 2)),
                b'n' => Some((b'\n', 2)),
                b't' => Some((b'\t', 2)),
                b'r' => Some((b'\r', 2)),
                _ => None,
            },
            b'"' => Some((END, 1)),
            0..=0x1f => None,
            _ => Some((c, 1)),
        }
    }

    fn ws(&mut self) {
        // Most positions hold no white space at all: one byte says so (a backslash may be a
        // white space escape when nested, so it takes the general way).
        if !matches!(
            self.bytes().get(self.pos),
            Some(b' ' | b'\t' | b'\n' | b'\r' | b'\\')
        ) {
            return;
        }
        while let Some((b' ' | b'\t' | b'\n' | b'\r', n)) = self.token() {
            self.pos += n;
        }
    }

    /// Steps over `c` and the white space around it, as `ws`, `eat(c)`, `ws` would. The common
    /// separators (`, ` and `: ` followed by no more white space) take one look at four bytes.
    fn sep(&mut self, c: u8) -> Option<()> {
        let b = self.bytes();
        if b.get(self.pos) == Some(&c) && b.get(self.pos + 1) == Some(&b' ') {
            let plain = match b.get(self.pos + 2) {
                Some(b' ' | b'\t' | b'\n' | b'\r') | None => false,
                Some(b'\\') => b.get(self.pos + 3) == Some(&b'"'),
                Some(_) => true,
            };
            if plain {
                self.pos += 2;
                return Some(());
            }
        }
        self.ws();
        self.eat(c)?;
        self.ws();
        Some(())
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        let (t, n) = self.token()?;
        (t == c).then(|| self.pos += n)
    }

    /// A string at the current position (its opening quote: `\"` when nested). Nested, both
    /// levels of escapes are validated.
    fn string(&mut self) -> Option<Str<'a>> {
        let (b, nested) = (self.bytes(), self.nested);
        let q = 1 + usize::from(nested);
        let quote_at =
            |i: usize| b.get(i + q - 1) == Some(&b'"') && (!nested || b.get(i) == Some(&b'\\'));
        if !quote_at(self.pos) {
            return None;
        }
        let start = self.pos + q;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = plain_run(b, i);
            if quote_at(i) {
                self.pos = i + q;
                return Some(Str {
                    raw: self.s.get(start..i)?,
                    escaped,
                    nested,
                });
            }
            match *b.get(i)? {
                b'\\' => {
                    escaped = true;
                    i = if nested {
                        outer_escape(b, i + 1)?
                    } else {
                        escape(b, i + 1)?
                    };
                }
                // Nested, a raw quote closes the outer string in the middle of an inner one.
                b'"' | 0..=0x1f => return None,
                _ => i += 1,
            }
        }
    }

    /// A member name: a string without escapes (an escaped name could be a used one in disguise;
    /// nested, that includes an escape of either level).
    fn key(&mut self) -> Option<&'a str> {
        let k = self.string()?;
        if k.escaped {
            return None;
        }
        self.sep(b':')?;
        Some(k.raw)
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
        (self.bytes().get(self.pos..self.pos + word.len())? == word).then(|| self.pos += word.len())
    }

    /// Skips (and validates) any value; `depth` is the nesting of its container.
    fn skip(&mut self, depth: usize) -> Option<()> {
        let (c, _) = self.token()?;
        if matches!(c, b'{' | b'[') && depth >= MAX_DEPTH {
            return None;
        }
        match c {
            b'"' => self.string().map(drop),
            b'{' => self.object(|sc, _| sc.skip(depth + 1)),
            b'[' => self.container(b'[', b']', |sc| sc.skip(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    /// An object at the current position; `member` reads each value (positioned at it).
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.container(b'{', b'}', |sc| {
            let key = sc.key()?;
            member(sc, key)
        })
    }

    /// An array or object at the current position (`open`), each element or member read by
    /// `item`.
    fn container(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(open)?;
        self.ws();
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            item(self)?;
            self.ws();
            if self.bytes().get(self.pos) != Some(&b',') {
                return self.eat(close);
            }
            self.sep(b',')?;
        }
    }

    /// An `event` object, its used members read into `ev`.
    fn event(&mut self, ev: &mut Values<Str<'a>>) -> Option<()> {
        self.object(|sc, key| match Field::named(On::Event, key) {
            Some(f) => ev.set_once(f, sc.string()?),
            None => sc.skip(1),
        })
    }

    /// A whole document that is an object, nothing but white space around it (nested, up to
    /// the quote that closes the enclosing string), its members read into `top`. With `inner`,
    /// the event message in an envelope's `Message` is scanned in place into `inner` if it can
    /// be, else the string is decoded into `top.message`. (The results are written in place
    /// rather than returned: moving these structs was 7 % of the profile.)
    fn document(&mut self, top: &mut Top<'a>, inner: Option<&mut Option<Top<'a>>>) -> Option<()> {
        self.ws();
        self.members(top, inner)?;
        self.ws();
        if self.nested {
            self.eat(END)
        } else {
            (self.pos == self.s.len()).then_some(())
        }
    }

    /// The members of a top-level object. Nested (the event message inside an envelope), the
    /// envelope's own members (`Message`, `Type`, `Timestamp`) are checked to be strings and
    /// otherwise ignored: the serde path reads them there as any value and then ignores them,
    /// but reading a number as a value fails where skipping it does not (`1e400` is out of
    /// range for an `f64`), so other values bail.
    fn members(
        &mut self,
        top: &mut Top<'a>,
        mut inner: Option<&mut Option<Top<'a>>>,
    ) -> Option<()> {
        self.object(|sc, key| match key {
            MESSAGE | TYPE if sc.nested => sc.string().map(drop),
            MESSAGE => {
                if let Some(slot) = inner.as_deref_mut() {
                    if slot.is_some() || top.message.is_some() {
                        return None;
                    }
                    let at = sc.pos;
                    if sc.message_in_place(slot.insert(Top::default())).is_some() {
                        return Some(());
                    }
                    *slot = None;
                    sc.pos = at;
                }
                set_once(&mut top.message, sc.string()?.value()?)
            }
            TYPE => {
                let v = sc.string()?;
                set_once(&mut top.type_notification, v.value()? == NOTIFICATION)
            }
            EVENT => {
                if top.event.is_some() {
                    return None;
                }
                sc.event(top.event.insert(Values::default()))
            }
            _ => match Field::named(On::Message, key).or_else(|| Field::named(On::Envelope, key)) {
                Some(f) if sc.nested && f.on() == On::Envelope => sc.string().map(drop),
                Some(f) => top.fields.set_once(f, sc.string()?),
                None => sc.skip(0),
            },
        })
    }

    /// The envelope's `Message` string at the current position, its event message scanned in
    /// place into `top`: an object, white space around it, then the closing quote. `None`
    /// (position and `top` unspecified) when it is not that or holds anything the nested scan
    /// bails on.
    fn message_in_place(&mut self, top: &mut Top<'a>) -> Option<()> {
        self.eat(b'"')?;
        let mut sc = Scanner::new(self.s, self.pos, true);
        sc.document(top, None)?;
        self.pos = sc.pos;
        Some(())
    }
}

/// The escape after a backslash at `i - 1`; returns the index after it. A `\u` escape of a
/// surrogate must be a high one followed by a `\u` low one.
fn escape(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(i + 1),
        b'u' => unicode_escape(b, i, b"\\u"),
        _ => None,
    }
}

/// A `\u` escape whose `u` is at `i`; returns the index after it. A high surrogate must be
/// followed by `lead` (`\u`, or `\\u` inside the escaped `Message`) and a low one.
fn unicode_escape(b: &[u8], i: usize, lead: &[u8]) -> Option<usize> {
    let unit = hex4(b.get(i + 1..)?)?;
    if (0xd800..0xdc00).contains(&unit) {
        let low_at = i + 5 + lead.len();
        if b.get(i + 5..low_at)? != lead {
            return None;
        }
        let low = hex4(b.get(low_at..)?)?;
        (0xdc00..0xe000).contains(&low).then_some(low_at + 4)
    } else if (0xdc00..0xe000).contains(&unit) {
        None
    } else {
        Some(i + 5)
    }
}

/// An escape of the enclosing string inside a nested string: `j` is just after its backslash;
/// returns the index after it. An inner escape (whose backslash is the outer `\\`) is validated
/// too; an outer escape that decodes to a quote, a backslash or a control character of the inner
/// text bails (valid only in ways the common shape never takes).
fn outer_escape(b: &[u8], j: usize) -> Option<usize> {
    match *b.get(j)? {
        b'\\' => inner_escape(b, j + 1),
        b'/' => Some(j + 1),
        b'u' => {
            let next = escape(b, j)?;
            // A single unit that is one of those (a surrogate pair never is).
            let bad = |u: u16| u < 0x20 || u == 0x22 || u == 0x5c;
            (next != j + 5 || !bad(hex4(b.get(j + 1..)?)?)).then_some(next)
        }
        // `\n` and the like decode to control characters, which an inner string cannot hold
        // raw; anything else is no escape.
        _ => None,
    }
}

/// An escape of the inner text read in place: `j` is just after its backslash (the outer
/// `\\`); returns the index after it. The escape letter is raw, or for the inner `\"`, `\\`
/// and `\/` an outer escape of it; hex digits must be raw, and a `\u` surrogate must be a high
/// one followed by a low one, like [`escape`].
fn inner_escape(b: &[u8], j: usize) -> Option<usize> {
    match *b.get(j)? {
        b'\\' => match *b.get(j + 1)? {
            b'"' | b'\\' | b'/' => Some(j + 2),
            _ => None,
        },
        b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(j + 1),
        b'u' => unicode_escape(b, j, b"\\\\u"),
        _ => None,
    }
}

/// The fields of an event message, decoded; `None` when it has no `event` object.
fn classify_message(
    message: &Top<'_>,
    envelope_timestamp: Option<Str<'_>>,
    rules: &Rules,
    line: &mut Vec<u8>,
) -> Option<Outcome> {
    let ev = message.event.as_ref()?;
    let mut values: Values<Cow<'_, str>> = Values::default();
    for f in Field::ALL {
        let s = match f.on() {
            On::Event => ev.get(f),
            On::Message => message.fields.get(f),
            On::Envelope => envelope_timestamp.as_ref(),
        };
        if let Some(s) = s {
            values.replace(f, s.value()?);
        }
    }
    Some(decide(|f| values.get(f).map(AsRef::as_ref), rules, line))
}

/// Classifies `body` if it has the common shape, exactly as the serde path would; `None` (with
/// `line` untouched) when the body is outside what this path fully handles.
pub fn classify_fast(body: &str, rules: &Rules, line: &mut Vec<u8>) -> Option<Outcome> {
    let mut top = Top::default();
    let mut in_place = None;
    Scanner::new(body, 0, false).document(&mut top, Some(&mut in_place))?;
    if in_place.is_some() || top.message.is_some() || top.type_notification == Some(true) {
        let env_ts = top.fields.get(Field::EnvelopeTimestamp).copied();
        if let Some(message) = &in_place {
            return classify_message(message, env_ts, rules, line);
        }
        let inner = top.message.as_deref()?;
        let mut message = Top::default();
        Scanner::new(inner, 0, false).document(&mut message, None)?;
        classify_message(&message, env_ts, rules, line)
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

    /// `plain_run` stops at the first special byte wherever it lies in the 16- and 8-byte words
    /// (and never at a byte that only looks like one with its high bit set), or where fewer
    /// than 8 bytes are left.
    #[test]
    fn plain_run_stops_at_the_first_special_byte_in_every_lane() {
        let naive =
            |b: &[u8], i: usize| (i..b.len()).find(|&j| matches!(b[j], b'"' | b'\\' | 0..=0x1f));
        for len in 0..48 {
            for start in 0..=len.min(9) {
                for special in [None, Some(b'"'), Some(b'\\'), Some(0u8), Some(0x1f)] {
                    for at in start..len.max(start + 1) {
                        // Bytes that differ from a special one only in the high bit, or by one.
                        let mut b: Vec<u8> = (0..len)
                            .map(|j| [b'a', 0xa2, 0xdc, 0x9f, 0x80, b'!', b'#', 0x20][j % 8])
                            .collect();
                        if let (Some(c), true) = (special, at < len) {
                            b[at] = c;
                            // A second special after the first must not be the one found.
                            if at + 3 < len {
                                b[at + 3] = b'"';
                            }
                        }
                        let got = plain_run(&b, start);
                        assert!(got <= len, "{b:x?} from {start}");
                        assert!(b[start..got]
                            .iter()
                            .all(|&c| !matches!(c, b'"' | b'\\' | 0..=0x1f)));
                        match naive(&b, start) {
                            Some(first) if first + 8 <= len || got == first => {
                                assert_eq!(got, first, "{b:x?} from {start}");
                            }
                            _ => assert!(len - got < 8, "{b:x?} from {start}: {got}"),
                        }
                    }
                }
            }
        }
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
            // Long strings (many SWAR words): escapes and controls after a long run.
            format!("{{\"Message\": \"{inner}\", \"x\": \"{}\u{1}\"}}", "a".repeat(40)),
            format!("{{\"Message\": \"{inner}\", \"x\": \"{}\u{1f}{}\"}}", "a".repeat(17), "b".repeat(40)),
            format!(r#"{{"Message": "{inner}", "x": "{}\\{}\"{}\u00e9"}}"#, "a".repeat(40), "b".repeat(24), "c".repeat(33)),
            format!(r#"{{"Message": "{inner}", "x": "{}\q"}}"#, "a".repeat(40)),
            format!(r#"{{"Message": "{inner}", "x": "{}"#, "a".repeat(40)),
            format!(r#"{{"Message": "{inner}", "x": "{}é📞"}}"#, "a".repeat(40)),
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

    /// Whether the event message of `body` (an envelope) is read in place, without decoding.
    fn in_place(body: &str) -> bool {
        let mut inner = None;
        let read = Scanner::new(body, 0, false).document(&mut Top::default(), Some(&mut inner));
        read.is_some() && inner.is_some()
    }

    #[test]
    fn the_event_message_is_read_in_place_in_most_basic_bodies() {
        let bodies = conformance("basic");
        let took = bodies.iter().filter(|b| in_place(b)).count();
        assert!(
            took * 100 >= bodies.len() * 95,
            "read in place in {took} of {} basic bodies",
            bodies.len()
        );
    }

    /// Event messages as they appear escaped inside an envelope's `Message`, each with whether
    /// the in-place scan takes it (else the `Message` is decoded, or serde decides).
    const IN_PLACE_EDGES: &[(&str, bool)] = &[
        (
            r#"{\"timestamp\": \"2026-11-20T00:00:00\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"c\", \"endpoint\": \"ep\"}}"#,
            true,
        ),
        // Inner escapes (an outer `\\` then the escape) in every used field.
        (
            r#"{\"timestamp\": \"2026-11-20T00:00:00\\u002b00:00\", \"hostname\": \"futel-prod-\\u0062ack\", \"event\": {\"Event\": \"E\\\"\", \"Channel\": \"a\\\\b\", \"endpoint\": \"e\\/p\"}}"#,
            true,
        ),
        (
            r#"{\"timestamp\": \"\\u0032026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"UserEvent\": \"u\\n\\t\\r\\b\\f\", \"Event\": \"E\", \"Channel\": \"c\\u00e9\\ud83d\\udcde\\u0001\"}}"#,
            true,
        ),
        // Outer escapes that decode to ordinary characters: `\/`, `\u` and a surrogate pair.
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\/F\", \"Channel\": \"caf\u00e9\ud83d\udcde\u007f\"}}"#,
            true,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"é📞\", \"Channel\": \"c\"}}"#,
            true,
        ),
        // An outer escape of a quote, a backslash or a control character in a string: decoded.
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"a\u0022\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"a\u005cu00e9\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"a\u0001\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"a\nb\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"a\tb\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"a\\\u006e\"}}"#,
            false,
        ),
        // Long strings, read in place: escapes of either level and a control past 16 bytes.
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"PJSIP/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\\"b\u00e9ccccccccccccccccccccccccccccccc\\u00e9\"}}"#,
            true,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"PJSIP/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\tb\"}}"#,
            false,
        ),
        // Lone surrogates, either level; a bad escape, either level.
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"\\ud83d\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"\\udcde\\ud83d\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"\ud83d\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"\ud83dx\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"\\q\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"\q\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"\\u12\"}}"#,
            false,
        ),
        // White space: escaped (in place) or `\u0020` (decoded).
        (
            r#"\n\t {\n\t\"timestamp\"\r: \"2026-11-20\" ,\"hostname\":\"futel-prod-back\",\n\"event\": {\"Event\":\"E\",\t\"Channel\": \"c\"\n}\n}\r\n"#,
            true,
        ),
        (
            r#"{\"timestamp\":\u0020\"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"c\"}}"#,
            false,
        ),
        // Skipped members: nested values, numbers, literals, the envelope's names of any type.
        (
            r#"{\"timestamp\": \"2026-11-20\", \"Message\": \"5\", \"Type\": \"T\", \"Timestamp\": \"\", \"Message\": \"{}\", \"hostname\": \"futel-prod-back\", \"x\": [1, -2.5e-3, 0, true, false, null, {\"b\": {}}, \"s\\\"\\u00e9\"], \"event\": {\"Event\": \"E\", \"Privilege\": {\"Channel\": 5, \"a\": [[]]}, \"Channel\": \"c\"}}"#,
            true,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"x\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], \"event\": {\"Event\": \"E\", \"Channel\": \"c\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"x\": 01, \"event\": {\"Event\": \"E\", \"Channel\": \"c\"}}"#,
            false,
        ),
        // The envelope's names in the event message: read as values by serde (`1e400` is out of
        // range there), so only strings are read in place; skipped members may hold anything.
        (
            r#"{\"timestamp\": \"2026-11-20\", \"Type\": 1e400, \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"c\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"Message\": -1e999, \"Timestamp\": 5, \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"c\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"Timestamp\": {\"a\": 1e400}, \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"c\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"other\": 1e400, \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"x\": -1e999, \"Channel\": \"c\"}}"#,
            true,
        ),
        // Duplicate used members, escaped names (either level).
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"c\", \"Channel\": \"d\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"x\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"c\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Chann\\u0065l\": \"c\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Chann\u0065l\": \"c\"}}"#,
            false,
        ),
        // Not an object, not JSON, truncated, trailing text.
        ("[1]", false),
        ("", false),
        (r#"{\"timestamp\": \"2026"#, false),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"c\"}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"c\"}} x"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"c\"}}\\"#,
            false,
        ),
        // Read in place, then the rules: no event object, non-string fields (serde's reasons).
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\"}"#,
            true,
        ),
        (
            r#"{\"timestamp\": \"2026-11-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": 1, \"Channel\": \"c\"}}"#,
            false,
        ),
        (
            r#"{\"timestamp\": \"2026-13-20\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"E\", \"Channel\": \"c\"}}"#,
            true,
        ),
    ];

    #[test]
    fn event_messages_read_in_place_agree() {
        for &(message, takes) in IN_PLACE_EDGES {
            let bodies = [
                format!(
                    r#"{{"Type": "Notification", "Message": "{message}", "Timestamp": "2026-11-21T09:00:00Z"}}"#
                ),
                format!(r#"{{"Message": "{message}"}}"#),
                format!(r#"{{"Message": "{message}", "Message": "{message}"}}"#),
                format!(r#"{{"Message": "{message}", "Type": "Notification", "Timestamp": 7}}"#),
                format!(r#"{{"Timestamp": "x", "Type": "Other", "Message": "{message}"}}"#),
            ];
            for (k, body) in bodies.iter().enumerate() {
                agree(body, &Rules::default());
                agree(body, &loose_rules());
                // Not with two `Message`s, nor with a non-string `Timestamp` (a bail either way).
                assert_eq!(in_place(body), takes && k != 2 && k != 3, "{body}");
            }
        }
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
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\/\u00e9\ud83d\udcde"#),
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\u005c"#),
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\u0022"#),
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\n"#),
        (r#"\"Channel\": \""#, r#"\"Channel\": \"\\\u006e"#),
        (r#"\"hostname\": \""#, r#"\"hostname\": \"\\ud83d\\udcde\ud83d\udcde"#),
        (r#", \""#, r#",\u0020\""#),
        (r#"\"Privilege\": "#, r#"\"Privilege\": {\"a\": [\"x\\\"y\", 1, {}]}, \"P\": "#),
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
