//! Minimised quarantine bodies: as much as a person needs to see why a message was set aside,
//! and none of the callers' numbers and names it carries.
//!
//! [`minimise`] rewrites a body by these rules (SPEC "Quarantine"):
//!
//! - **JSON**: every member the classifier reads keeps its value byte for byte: at the top
//!   `Type`, `Message`, `Timestamp`, `MessageId`, `timestamp`, `hostname`, `event`; in the
//!   message (the `Message` string, itself minimised and written back as a string) `timestamp`,
//!   `hostname`, `event`; in an `event` object `UserEvent`, `Event`, `Channel`, `endpoint`. The
//!   same members stay in an object where a message was expected but is misplaced (a `Message`
//!   that is an object, a body or `Message` that is an array of objects). Every
//!   other value is masked: a string or number becomes `"<redacted N>"` (N: its length in
//!   characters), objects and arrays keep their shape with their values masked, `true`,
//!   `false`, `null` and `""` stay. Member names stay, with runs of 7+ digits masked. A read
//!   member that is not a string keeps its type, which is all the classifier looks at: its
//!   object or array is masked inside, and a number with a run of 7+ digits becomes `0`.
//! - **Text that is not JSON** (a body, or a `Message` string): the value after a personal key
//!   (`"CallerIDNum": "…"`, `\"CallerIDName\": \"…\"`, `Exten: …`; ASCII case ignored) and every
//!   run of 7 or more digits with an optional leading `+` become `<redacted N>`, unquoted.
//!
//! Invariants, each held by a unit or property test:
//! - the classifier gives a minimised body exactly the outcome of the raw one (the same archive
//!   line byte for byte, the same drop reason and value, the same quarantine reason), so a
//!   requeued minimised body is treated as the raw one would be;
//! - minimising twice changes nothing (a marker is never masked again);
//! - no value of an unread member, no personal value and no 7-digit run of unparseable text
//!   survives; it never panics, whatever the input.
//!
//! Values the classifier reads are kept even when they hold personal data (a `Channel` can name a
//! number): they are what the archive line is made of. Masking keeps JSON types where the
//! classifier checks them (a read member that is an object stays an object), and masked text
//! stays unparseable: if masking would ever make it parse, the whole text becomes one marker.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::classify::is_json_document;
use super::rules::{Field, On, EVENT, MESSAGE, TYPE};

/// The personal keys masked in unparseable text by default: caller and connected-line numbers
/// and names, and the dialled extension.
pub const DEFAULT_PERSONAL_KEYS: [&str; 5] = [
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Exten",
];

/// Containers nested deeper than this are masked whole (bounded work and stack).
const MAX_DEPTH: usize = 32;
/// Digit runs at least this long are masked in unparseable text.
const MIN_DIGIT_RUN: usize = 7;

/// What [`minimise`] masks in unparseable text besides digit runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    personal_keys: Vec<String>,
}

/// A personal key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactionError {
    #[error("the personal key list is empty: give at least one key (the default is {})", DEFAULT_PERSONAL_KEYS.join(", "))]
    NoKeys,
    #[error(
        "personal key {0:?} is not usable: a key must be ASCII letters, digits, '_', '-' or '.'"
    )]
    BadKey(String),
}

impl Redaction {
    /// Masks the values of `keys` (ASCII letters, digits, `_`, `-`, `.`; at least one).
    pub fn new(keys: Vec<String>) -> Result<Redaction, RedactionError> {
        if keys.is_empty() {
            return Err(RedactionError::NoKeys);
        }
        if let Some(bad) = keys.iter().find(|k| {
            k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        }) {
            return Err(RedactionError::BadKey(bad.clone()));
        }
        Ok(Redaction {
            personal_keys: keys,
        })
    }

    pub fn personal_keys(&self) -> &[String] {
        &self.personal_keys
    }
}

impl Default for Redaction {
    fn default() -> Self {
        Redaction {
            personal_keys: DEFAULT_PERSONAL_KEYS.map(String::from).to_vec(),
        }
    }
}

/// How the `body` of a quarantine record is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyPolicy {
    /// [`minimise`]d (the default).
    Minimised(Redaction),
    /// The raw body (`--quarantine-verbatim`).
    Verbatim,
}

impl Default for BodyPolicy {
    fn default() -> Self {
        BodyPolicy::Minimised(Redaction::default())
    }
}

impl BodyPolicy {
    /// The body as a record holds it.
    pub fn apply<'a>(&self, body: &'a str) -> Cow<'a, str> {
        match self {
            BodyPolicy::Minimised(r) => Cow::Owned(minimise(body, r)),
            BodyPolicy::Verbatim => Cow::Borrowed(body),
        }
    }
}

/// The minimised form of a message body (see the module docs).
pub fn minimise(body: &str, redaction: &Redaction) -> String {
    minimise_document(body, Level::Top, redaction)
}

/// Where an object sits, which decides the members the classifier reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The body: an envelope or a raw event message.
    Top,
    /// The event message inside an envelope's `Message` string.
    Message,
    /// An `event` object.
    Event,
    /// Anywhere else: nothing is read.
    Other,
}

/// What happens to a member's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Read by the classifier: kept (containers keep their type, their contents are masked).
    Kept,
    /// The envelope's `Message`: a string is minimised as a document of its own.
    Message,
    /// An `event` member: an object is walked as [`Level::Event`].
    Event,
    /// Not read: masked.
    Masked,
}

/// The role of member `key` at `level`: the classifier's members ([`super::rules`]), and the
/// envelope's `MessageId`, which names the message.
fn role(level: Level, key: &str) -> Role {
    let on: &[On] = match level {
        Level::Top => &[On::Envelope, On::Message],
        Level::Message => &[On::Message],
        Level::Event => &[On::Event],
        Level::Other => &[],
    };
    match (level, key) {
        (Level::Top, MESSAGE) => Role::Message,
        (Level::Top | Level::Message, EVENT) => Role::Event,
        (Level::Top, TYPE | "MessageId") => Role::Kept,
        _ if on.iter().any(|&on| Field::named(on, key).is_some()) => Role::Kept,
        _ => Role::Masked,
    }
}

/// Minimises a whole document (a body, or the text of a `Message` string) at `level`.
fn minimise_document(text: &str, level: Level, redaction: &Redaction) -> String {
    // The classifier's own parser decides, so "not JSON" means the same thing to both.
    let raw = serde_json::from_str::<&RawValue>(text).ok();
    let Some(raw) = raw.filter(|_| is_json_document(text)) else {
        return mask_text(text, redaction);
    };
    let mut out = String::with_capacity(text.len());
    write_document_value(raw, level, 0, redaction, &mut out);
    out
}

/// Writes a document's value (or an envelope's `Message` that is not a string) keeping its type:
/// an object, or an object in an array, is walked at `level`, so a message published the wrong
/// way still shows the fields that would be read; anything else is masked. Not an object, the
/// reason is `not_object`/`message_not_object`/`message_not_string` whatever it holds.
fn write_document_value(
    raw: &RawValue,
    level: Level,
    depth: usize,
    redaction: &Redaction,
    out: &mut String,
) {
    let text = raw.get();
    if text.starts_with('{') {
        if !write_object(raw, level, depth, redaction, out) {
            out.push_str("{}");
        }
    } else if !(text.starts_with('[')
        && write_array(text, depth, out, |item, out| {
            if item.get().starts_with('{') {
                write_document_value(item, level, depth + 1, redaction, out);
            } else {
                mask_value(item, depth + 1, false, redaction, out);
            }
        }))
    {
        mask_value(raw, depth, true, redaction, out);
    }
}

/// Writes the object `raw` with each member treated by its [`Role`] at `level`; `false`, with
/// nothing written, when it is nested too deep or a member name cannot be decoded.
fn write_object(
    raw: &RawValue,
    level: Level,
    depth: usize,
    redaction: &Redaction,
    out: &mut String,
) -> bool {
    let Some(Ok(members)) = (depth <= MAX_DEPTH).then(|| members(raw.get())) else {
        return false;
    };
    out.push('{');
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let r = role(level, key);
        let name = if r == Role::Masked {
            mask_digit_runs(key)
        } else {
            key.clone()
        };
        push_json_string(&name, out);
        out.push(':');
        write_member(value, r, depth + 1, redaction, out);
    }
    out.push('}');
    true
}

/// Writes the array `text`, each element by `element`; `false`, with nothing written, when it
/// is nested too deep or is no array.
fn write_array(
    text: &str,
    depth: usize,
    out: &mut String,
    mut element: impl FnMut(&RawValue, &mut String),
) -> bool {
    let Some(Ok(items)) =
        (depth <= MAX_DEPTH).then(|| serde_json::from_str::<Vec<&RawValue>>(text))
    else {
        return false;
    };
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        element(item, out);
    }
    out.push(']');
    true
}

/// The members of the object `text`, in order, duplicates included (the classifier takes the
/// last).
fn members(text: &str) -> serde_json::Result<Vec<(String, &RawValue)>> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut members = Vec::new();
            while let Some(entry) = map.next_entry()? {
                members.push(entry);
            }
            Ok(members)
        }
    }
    (&mut serde_json::Deserializer::from_str(text)).deserialize_map(V)
}

fn write_member(
    value: &RawValue,
    role: Role,
    depth: usize,
    redaction: &Redaction,
    out: &mut String,
) {
    let text = value.get();
    match role {
        Role::Kept if is_container(text) => mask_value(value, depth, true, redaction, out),
        // A number that could be a phone number: still a number, so still not a string.
        Role::Kept if !text.starts_with('"') && has_digit_run(text) => out.push('0'),
        Role::Kept => out.push_str(text),
        Role::Message => match serde_json::from_str::<String>(text) {
            Ok(inner) => {
                push_json_string(&minimise_document(&inner, Level::Message, redaction), out);
            }
            // Not a string (`message_not_string`): keep the type; an object shows the message.
            Err(_) if is_container(text) => {
                write_document_value(value, Level::Message, depth, redaction, out);
            }
            Err(_) if !text.starts_with('"') => {
                write_member(value, Role::Kept, depth, redaction, out);
            }
            Err(_) => mask_value(value, depth, true, redaction, out),
        },
        Role::Event if text.starts_with('{') => {
            write_document_value(value, Level::Event, depth, redaction, out);
        }
        Role::Event => mask_value(value, depth, true, redaction, out),
        Role::Masked => mask_value(value, depth, false, redaction, out),
    }
}

fn has_digit_run(text: &str) -> bool {
    text.as_bytes()
        .split(|b| !b.is_ascii_digit())
        .any(|run| run.len() >= MIN_DIGIT_RUN)
}

fn is_container(text: &str) -> bool {
    text.starts_with('{') || text.starts_with('[')
}

/// Masks a value nothing reads. `keep_type`: an object or array stays one (also when it cannot
/// be walked), a string stays a string; otherwise anything may become a marker string.
fn mask_value(
    value: &RawValue,
    depth: usize,
    keep_type: bool,
    redaction: &Redaction,
    out: &mut String,
) {
    let text = value.get();
    let element = |item: &RawValue, out: &mut String| {
        mask_value(item, depth + 1, false, redaction, out);
    };
    // A walk that fails writes nothing.
    match text.as_bytes().first() {
        Some(b'{') if write_object(value, Level::Other, depth, redaction, out) => {}
        Some(b'[') if write_array(text, depth, out, element) => {}
        Some(b'{') if keep_type => out.push_str("{}"),
        Some(b'[') if keep_type => out.push_str("[]"),
        Some(b'"') => match serde_json::from_str::<String>(text) {
            Ok(s) if s.is_empty() || is_marker(&s) => push_json_string(&s, out),
            Ok(s) => push_marker(s.chars().count(), true, out),
            // A lone surrogate escape: the raw length stands in for the decoded one.
            Err(_) => push_marker(text.chars().count().saturating_sub(2), true, out),
        },
        Some(b't' | b'f' | b'n') => out.push_str(text),
        _ => push_marker(text.chars().count(), true, out),
    }
}

/// `<redacted N>`, quoted as a JSON string or bare (inside text).
fn push_marker(len: usize, quoted: bool, out: &mut String) {
    let q = if quoted { "\"" } else { "" };
    let _ = write!(out, "{q}<redacted {len}>{q}");
}

fn push_json_string(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).expect("a string serialises"));
}

/// The length of a marker starting at the beginning of `s`, if one does.
fn marker_len(s: &[u8]) -> Option<usize> {
    let rest = s.strip_prefix(b"<redacted ")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    (digits > 0 && rest.get(digits) == Some(&b'>')).then_some(10 + digits + 1)
}

fn is_marker(s: &str) -> bool {
    marker_len(s.as_bytes()) == Some(s.len())
}

// ---------------------------------------------------------------------------------------------
// Unparseable text
// ---------------------------------------------------------------------------------------------

/// Masks personal values and digit runs in text that is not JSON; the result is never JSON.
fn mask_text(text: &str, redaction: &Redaction) -> String {
    let masked = mask_digit_runs(&mask_personal_values(text, &redaction.personal_keys));
    if is_json_document(&masked) {
        // Masking a value removed what made the text unparseable (e.g. a bad escape inside it):
        // keep it unparseable, so it is classified as the raw text was.
        let mut out = String::new();
        push_marker(text.chars().count(), false, &mut out);
        return out;
    }
    masked
}

/// Replaces the value after every personal key with a marker.
fn mask_personal_values(text: &str, keys: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < text.len() {
        let Some((start, end)) = personal_value_at(text.as_bytes(), i, keys) else {
            i += 1;
            continue;
        };
        let value = &text[start..end];
        if !value.is_empty() && !is_marker(value) {
            out.push_str(&text[copied..start]);
            push_marker(value.chars().count(), false, &mut out);
            copied = end;
        }
        i = end.max(i + 1);
    }
    out.push_str(&text[copied..]);
    out
}

/// If a personal key starts at byte `i`, the byte span of its value. (The scans below stop
/// only at ASCII bytes or the end, so a span's ends are character boundaries.)
fn personal_value_at(b: &[u8], i: usize, keys: &[String]) -> Option<(usize, usize)> {
    let boundary = |c: &u8| !(c.is_ascii_alphanumeric() || *c == b'_');
    if i > 0 && !boundary(&b[i - 1]) {
        return None;
    }
    let key = keys.iter().find(|k| {
        b.get(i..i + k.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(k.as_bytes()))
    })?;
    let mut j = i + key.len();
    if b.get(j).is_some_and(|c| !boundary(c)) {
        return None;
    }
    // The key's closing quote, plain or escaped.
    if b[j..].starts_with(b"\\\"") {
        j += 2;
    } else if b.get(j) == Some(&b'"') {
        j += 1;
    }
    j = skip_blanks(b, j);
    if b.get(j) != Some(&b':') {
        return None;
    }
    j = skip_blanks(b, j + 1);
    Some(if b[j..].starts_with(b"\\\"") {
        (j + 2, escaped_string_end(b, j + 2))
    } else if b.get(j) == Some(&b'"') {
        (j + 1, string_end(b, j + 1))
    } else {
        (j, bare_value_end(b, j))
    })
}

fn skip_blanks(b: &[u8], j: usize) -> usize {
    j + b[j..]
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t'))
        .count()
}

/// The end of a JSON string's contents starting at `i` (at its closing quote, or the end).
fn string_end(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => return i,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    b.len()
}

/// The end of an escaped JSON string's contents (JSON inside a JSON string) starting at `i`:
/// at the `\"` that closes it, or at a bare `"` (the outer string ends), or the end.
fn escaped_string_end(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        match (c, b.get(i + 1)) {
            (b'"', _) | (b'\\', Some(b'"')) => return i,
            // An escaped backslash: the inner string's escape; the unit after it is escaped.
            (b'\\', Some(b'\\')) => i += if b.get(i + 2) == Some(&b'\\') { 4 } else { 3 },
            (b'\\', Some(_)) => i += 2,
            _ => i += 1,
        }
    }
    b.len()
}

/// The end of an unquoted value (a number, a word, `John Smith` in `Key: John Smith\r\n`).
fn bare_value_end(b: &[u8], start: usize) -> usize {
    let stop = |c: &u8| matches!(c, b',' | b'}' | b']' | b'"' | b'\\' | b'\r' | b'\n');
    let end = b[start..]
        .iter()
        .position(stop)
        .map_or(b.len(), |n| start + n);
    let blank = |c: &u8| matches!(c, b' ' | b'\t');
    b[start..end]
        .iter()
        .rposition(|c| !blank(c))
        .map_or(start, |n| start + n + 1)
}

/// Replaces every run of 7 or more ASCII digits (with an optional leading `+`) by a marker;
/// markers are copied as they are.
fn mask_digit_runs(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(n) = marker_len(&bytes[i..]) {
            i += n;
            continue;
        }
        let plus = usize::from(bytes[i] == b'+');
        let digits = bytes[i + plus..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits >= MIN_DIGIT_RUN {
            out.push_str(&text[copied..i]);
            push_marker(plus + digits, false, &mut out);
            copied = i + plus + digits;
        }
        i += (plus + digits).max(1);
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{classify, Rules};
    use serde_json::json;

    fn min(body: &str) -> String {
        minimise(body, &Redaction::default())
    }

    fn same_classification(body: &str) {
        let rules = Rules::default();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let m = min(body);
        assert_eq!(
            classify(body, &rules, &mut a),
            classify(&m, &rules, &mut b),
            "{body}\n=> {m}"
        );
        assert_eq!(a, b, "the same archive line: {body}\n=> {m}");
        assert_eq!(min(&m), m, "idempotent: {m}");
    }

    /// A UserEvent as the AMI listener publishes it, every header included.
    fn ami_event() -> serde_json::Value {
        json!({
            "Event": "UserEvent", "Privilege": "user,all", "Channel": "PJSIP/twilio-000d3be7",
            "ChannelState": "6", "ChannelStateDesc": "Up", "CallerIDNum": "+15034448615",
            "CallerIDName": "Jane Q Public", "ConnectedLineNum": "+15035550199",
            "ConnectedLineName": "John Doe", "Language": "en", "AccountCode": "",
            "Context": "outgoing", "Exten": "5035550123", "Priority": "1",
            "Uniqueid": "1795788034.441", "Linkedid": "1795788034.4078",
            "UserEvent": "operator", "endpoint": "ghost-mountain"
        })
    }

    fn envelope(message: &str) -> String {
        json!({
            "Type": "Notification", "MessageId": "cd68615c-8069-0847-dc15-9e6a409c38f2",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:asterisk-prod-events",
            "Message": message, "Timestamp": "2026-11-27T14:00:34.429Z",
            "SignatureVersion": "1", "Signature": "EXAMPLE=="
        })
        .to_string()
    }

    #[test]
    fn read_fields_stay_and_the_rest_is_masked_keeping_length() {
        let message = json!({"timestamp": "2026-11-20T00:00:47+00:00", "hostname": "futel-prod-back", "event": ami_event()});
        let body = envelope(&message.to_string());
        let m = min(&body);
        let v: serde_json::Value = serde_json::from_str(&m).unwrap();
        assert_eq!(v["Type"], "Notification");
        assert_eq!(v["MessageId"], "cd68615c-8069-0847-dc15-9e6a409c38f2");
        assert_eq!(v["Timestamp"], "2026-11-27T14:00:34.429Z");
        assert_eq!(v["TopicArn"], "<redacted 55>");
        assert_eq!(v["Signature"], "<redacted 9>");
        let inner: serde_json::Value =
            serde_json::from_str(v["Message"].as_str().unwrap()).unwrap();
        assert_eq!(inner["timestamp"], "2026-11-20T00:00:47+00:00");
        assert_eq!(inner["hostname"], "futel-prod-back");
        let e = &inner["event"];
        for k in ["Event", "Channel", "UserEvent", "endpoint"] {
            assert_eq!(e[k], ami_event()[k], "{k}");
        }
        assert_eq!(e["CallerIDNum"], "<redacted 12>");
        assert_eq!(e["CallerIDName"], "<redacted 13>");
        assert_eq!(e["AccountCode"], "", "an empty value says nothing");
        for secret in [
            "5034448615",
            "Jane",
            "John",
            "5035550199",
            "5035550123",
            "1795788034",
        ] {
            assert!(!m.contains(secret), "{secret} in {m}");
        }
        same_classification(&body);
    }

    #[test]
    fn shapes_and_types_are_kept_where_the_classifier_looks() {
        for body in [
            r#"{"Message": {"event": {"CallerIDNum": "+15034448615"}}}"#,
            r#"{"Message": 15034448615}"#,
            r#"{"Message": ["+15034448615"]}"#,
            r#"{"timestamp": "2026-11-20", "hostname": "futel-prod-back", "event": "CallerIDNum +15034448615"}"#,
            r#"{"timestamp": "2026-11-20", "hostname": "futel-prod-back", "event": {"Channel": {"n": "+15034448615"}, "Event": "E"}}"#,
            r#"{"timestamp": 20261120, "event": {"Channel": "c"}}"#,
            r#"[{"CallerIDNum": "+15034448615"}, 15034448615, true, null]"#,
            r#""+15034448615""#,
            "15034448615",
            r#"{"Message": "[\"+15034448615\"]"}"#,
        ] {
            same_classification(body);
            assert!(!min(body).contains("5034448615"), "{body} => {}", min(body));
        }
        let m = min(r#"{"a": [1, {"b": null, "c": false}], "d": {}}"#);
        assert_eq!(m, r#"{"a":["<redacted 1>",{"b":null,"c":false}],"d":{}}"#);
        let m = min(
            r#"{"timestamp": 12, "hostname": 15034448615, "event": {"Channel": [15034448615]}}"#,
        );
        assert_eq!(
            m,
            r#"{"timestamp":12,"hostname":0,"event":{"Channel":["<redacted 11>"]}}"#
        );
    }

    #[test]
    fn unparseable_text_masks_personal_values_plain_escaped_and_bare_and_digit_runs() {
        let body = r#"{"CallerIDNum": "+15034448615", "CallerIDName" : "Jane \"Q\" Public", "Exten":5035550123, call me at 5035550142 or +1 503 555, trunc"#;
        assert_eq!(
            min(body),
            r#"{"CallerIDNum": "<redacted 12>", "CallerIDName" : "<redacted 17>", "Exten":<redacted 10>, call me at <redacted 10> or +1 503 555, trunc"#
        );
        // A Message that is not JSON inside a body that is: masked as plain text, re-escaped.
        let inner_bad = r#"{"Message": "{\"event\": {\"CallerIDName\": \"Jane \\\"Q\\\" Public\", \"callerIDnum\": \"+15034448615\"}"}"#;
        let m = min(inner_bad);
        assert!(
            !m.contains("Jane") && !m.contains("Public") && !m.contains("5034448615"),
            "{m}"
        );
        assert!(m.contains(r#"\"CallerIDName\": \"<redacted 17>\""#), "{m}");
        same_classification(inner_bad);
        // A truncated envelope: the escaped form inside unparseable text.
        let truncated = r#"{"Type": "Notification", "Message": "{\"event\": {\"CallerIDName\": \"Jane \\\"Q\\\" Public\", \"CallerIDNum\":\"+1 (503) 444\"}}"#;
        let m = min(truncated);
        assert_eq!(
            m,
            r#"{"Type": "Notification", "Message": "{\"event\": {\"CallerIDName\": \"<redacted 21>\", \"CallerIDNum\":\"<redacted 12>\"}}"#
        );
        same_classification(truncated);
        let ami = "Event: UserEvent\r\nCallerIDName: Jane Q Public\r\nExten: 5035\r\n";
        assert_eq!(
            min(ami),
            "Event: UserEvent\r\nCallerIDName: <redacted 13>\r\nExten: <redacted 4>\r\n"
        );
        // Keys are whole words: "MyExten" and "Extension" are not "Exten".
        assert_eq!(
            min("MyExten: 12, Extension: 34"),
            "MyExten: 12, Extension: 34"
        );
    }

    #[test]
    fn masking_never_makes_unparseable_text_parse() {
        // The only flaw is a raw line break inside a personal value: masking it would repair it.
        let body = "{\"timestamp\": \"x\", \"CallerIDName\": \"Jane\nDoe\"}";
        assert!(!is_json_document(body));
        let m = min(body);
        assert!(!is_json_document(&m), "{m}");
        assert_eq!(m, format!("<redacted {}>", body.chars().count()));
        same_classification(body);
    }

    #[test]
    fn personal_keys_are_configurable_and_checked() {
        let r = Redaction::new(vec!["Secret".into()]).unwrap();
        assert_eq!(
            minimise("Secret: abc, CallerIDName: Jane", &r),
            "Secret: <redacted 3>, CallerIDName: Jane"
        );
        assert_eq!(Redaction::new(vec![]), Err(RedactionError::NoKeys));
        assert!(Redaction::new(vec!["a\"b".into()]).is_err());
        assert!(Redaction::new(vec![String::new()]).is_err());
    }

    #[test]
    fn verbatim_keeps_the_body() {
        let body = r#"{"CallerIDNum": "+15034448615"}"#;
        assert_eq!(BodyPolicy::Verbatim.apply(body), body);
        assert_ne!(BodyPolicy::default().apply(body), body);
    }

    #[test]
    fn markers_are_not_masked_again_and_digit_rules_hold_at_the_edges() {
        assert_eq!(mask_digit_runs("123456"), "123456");
        assert_eq!(mask_digit_runs("1234567"), "<redacted 7>");
        assert_eq!(mask_digit_runs("+123456"), "+123456");
        assert_eq!(mask_digit_runs("a+1234567b"), "a<redacted 8>b");
        assert_eq!(mask_digit_runs("++1234567"), "+<redacted 8>");
        assert_eq!(
            mask_digit_runs("<redacted 12345678>"),
            "<redacted 12345678>"
        );
        assert_eq!(mask_digit_runs("é1234567é"), "é<redacted 7>é");
        let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        let body = format!(
            r#"{{"timestamp": "2026-11-20", "hostname": "futel-prod-back", "x": {deep}, "event": {{"Event": "E", "Channel": "c"}}}}"#
        );
        same_classification(&body);
    }
}
