//! Decode a message body and classify it: keep (with its archive line), drop, or quarantine.
//!
//! The rules are the SPEC's, in its order:
//!
//! 1. quarantine a body that is not a JSON object; an envelope (an object with a `Message`
//!    member or `"Type": "Notification"`) whose `Message` is missing, not a string or not a JSON
//!    object; an event message without an `event` object; or any field used below
//!    (`event.UserEvent`, `event.Event`, `event.Channel`, `event.endpoint`, `message.timestamp`,
//!    `message.hostname`, and the envelope's `Timestamp`) present with a non-string value;
//! 2. derive name, timestamp, channel, endpoint, hostname;
//! 3. drop by hostname, then channel, then event name;
//! 4. quarantine a timestamp that does not begin with a calendar date;
//! 5. keep: format the line, the day is the written date.
//!
//! Decoding borrows from the body wherever the JSON has no escapes and skips every member it
//! does not use without building it, so the per-message cost is one pass over the body and one
//! over the embedded `Message` string. Duplicate keys resolve like Python's `json` (the last one
//! wins). This module never panics on any input: property tests feed it arbitrary bytes.
//!
//! [`classify`] first tries the specialised scanner of [`super::fast`], which handles the common
//! shape and bails out on anything else; [`classify_serde`] is the serde_json path alone, the
//! fallback and the reference the fast path is checked against: both give the same outcome and
//! the same line for every body (differential tests in `core::fast`). The members both read and
//! the rules themselves (`decide`) are [`super::rules`]'s.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::rules::{
    decide, Field, On, Outcome, QuarantineReason, Rules, Values, EVENT, MESSAGE, NOTIFICATION, TYPE,
};

/// A JSON value as the classifier sees it: a string, an object whose used members are read into
/// `T` (the others skipped without being built), or anything else.
enum Json<'a, T> {
    Str(Cow<'a, str>),
    Obj(T),
    Other,
}

/// A used field's value: a string, or anything else (which is an error when present).
type Val<'a> = Json<'a, ()>;

/// What the members of an object are read into.
trait Members<'de>: Default {
    fn read<A: MapAccess<'de>>(&mut self, map: A) -> Result<(), A::Error>;
}

/// An object where a string is used: its members are skipped.
impl<'de> Members<'de> for () {
    fn read<A: MapAccess<'de>>(&mut self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// The members of an `event` object that classification uses.
impl<'de> Members<'de> for Values<Val<'de>> {
    fn read<A: MapAccess<'de>>(&mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key()? {
            match key {
                Key::Field(f) if f.on() == On::Event => self.replace(f, map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct JsonVisitor<T>(PhantomData<T>);

impl<'de, T: Members<'de>> Visitor<'de> for JsonVisitor<T> {
    type Value = Json<'de, T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Json::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Json::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Json::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Json::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Json::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Json::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut members = T::default();
        members.read(map)?;
        Ok(Json::Obj(members))
    }
}

impl<'de, T: Members<'de>> Deserialize<'de> for Json<'de, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor(PhantomData))
    }
}

/// A member name the classifier reads, identified without allocating (escaped names arrive as
/// transient `&str`).
#[derive(Clone, Copy)]
enum Key {
    Message,
    Type,
    Event,
    Field(Field),
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
        Ok(match name {
            MESSAGE => Key::Message,
            TYPE => Key::Type,
            EVENT => Key::Event,
            _ => Field::ALL
                .into_iter()
                .find(|f| f.name() == name)
                .map_or(Key::Other, Key::Field),
        })
    }
}

/// A top-level object: an envelope or an event message. Both shapes are read in one pass; which
/// one it is is decided afterwards, by the SPEC's rule.
#[derive(Default)]
struct ObjFields<'a> {
    message: Option<Val<'a>>,
    type_is_notification: bool,
    /// The envelope's and the event message's fields.
    fields: Values<Val<'a>>,
    event: Option<Json<'a, Values<Val<'a>>>>,
}

impl<'de> Members<'de> for ObjFields<'de> {
    fn read<A: MapAccess<'de>>(&mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key()? {
            match key {
                Key::Message => self.message = Some(map.next_value()?),
                Key::Type => {
                    let v: Val<'de> = map.next_value()?;
                    self.type_is_notification = matches!(v, Json::Str(s) if s == NOTIFICATION);
                }
                Key::Field(f) if f.on() != On::Event => self.fields.replace(f, map.next_value()?),
                Key::Event => self.event = Some(map.next_value()?),
                Key::Field(_) | Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A JSON document: an object (with its fields) or not. (Built once per document and matched at
/// once, never stored: its size does not matter.)
type Doc<'a> = Json<'a, ObjFields<'a>>;

/// serde_json, borrowing wherever there are no escapes. (sonic-rs measured 28% faster on these
/// bodies but overflowed the stack on a body nested 200 deep, which serde_json skips without
/// recursion; a crash on a malformed message is not an option.)
fn parse_doc(json: &str) -> Option<Doc<'_>> {
    serde_json::from_str(json).ok()
}

/// Whether the classifier reads `text` as a JSON document (an object or not). Minimisation
/// uses this to decide what is "not JSON" exactly as classification does.
pub(crate) fn is_json_document(text: &str) -> bool {
    parse_doc(text).is_some()
}

/// The field's string, `Ok(None)` when absent, an error when it is not a string.
fn text<'v>(of: &'v Values<Val<'_>>, f: Field) -> Result<Option<&'v str>, QuarantineReason> {
    match of.get(f) {
        None => Ok(None),
        Some(Json::Str(s)) => Ok(Some(s)),
        Some(_) => Err(QuarantineReason::FieldNotString(f)),
    }
}

/// Classifies raw bytes (a file line): bodies that are not UTF-8 are quarantined. (Checked with
/// `simdutf8`: the check reads every byte of the body, and std's was 5 % of a local run.)
pub fn classify_bytes(body: &[u8], rules: &Rules, line: &mut Vec<u8>) -> Outcome {
    match simdutf8::basic::from_utf8(body) {
        Ok(s) => classify(s, rules, line),
        Err(_) => Outcome::Quarantine {
            reason: QuarantineReason::NotUtf8,
        },
    }
}

/// Classifies one message body. On [`Outcome::Keep`] the record line (without newline) has been
/// appended to `line`; otherwise `line` is unchanged.
pub fn classify(body: &str, rules: &Rules, line: &mut Vec<u8>) -> Outcome {
    if let Some(o) = super::fast::classify_fast(body, rules, line) {
        return o;
    }
    classify_serde(body, rules, line)
}

/// [`classify`] through serde_json alone: the reference the fast path is checked against (for
/// tests and benchmarks; production code calls [`classify`]).
pub fn classify_serde(body: &str, rules: &Rules, line: &mut Vec<u8>) -> Outcome {
    classify_inner(body, rules, line).unwrap_or_else(|reason| Outcome::Quarantine { reason })
}

fn classify_inner(
    body: &str,
    rules: &Rules,
    line: &mut Vec<u8>,
) -> Result<Outcome, QuarantineReason> {
    let Json::Obj(top) = parse_doc(body).ok_or(QuarantineReason::NotJson)? else {
        return Err(QuarantineReason::NotObject);
    };
    if top.message.is_some() || top.type_is_notification {
        let inner = match &top.message {
            None => return Err(QuarantineReason::EnvelopeWithoutMessage),
            Some(Json::Str(s)) => s,
            Some(_) => return Err(QuarantineReason::MessageNotString),
        };
        let Json::Obj(message) = parse_doc(inner).ok_or(QuarantineReason::MessageNotJson)? else {
            return Err(QuarantineReason::MessageNotObject);
        };
        let env_ts = text(&top.fields, Field::EnvelopeTimestamp)?;
        classify_message(&message, env_ts, rules, line)
    } else {
        classify_message(&top, None, rules, line)
    }
}

fn classify_message(
    message: &ObjFields<'_>,
    envelope_timestamp: Option<&str>,
    rules: &Rules,
    line: &mut Vec<u8>,
) -> Result<Outcome, QuarantineReason> {
    let Some(Json::Obj(event)) = &message.event else {
        return Err(QuarantineReason::NoEventObject);
    };
    let mut values: Values<&str> = Values::default();
    for f in Field::ALL {
        let v = match f.on() {
            On::Event => text(event, f)?,
            On::Message => text(&message.fields, f)?,
            On::Envelope => envelope_timestamp,
        };
        if let Some(v) = v {
            values.replace(f, v);
        }
    }
    Ok(decide(|f| values.get(f).copied(), rules, line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::DropReason;
    use serde_json::json;

    fn run(body: &str) -> (Outcome, String) {
        let mut line = Vec::new();
        let o = classify(body, &Rules::default(), &mut line);
        (o, String::from_utf8(line).unwrap())
    }

    fn envelope(message: &serde_json::Value) -> String {
        json!({
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:t",
            "Message": message.to_string(),
            "Timestamp": "2026-11-20T09:47:02.855Z",
            "SignatureVersion": "1",
            "Signature": "x",
            "SigningCertURL": "https://example.invalid/c.pem",
            "UnsubscribeURL": "https://example.invalid/u",
        })
        .to_string()
    }

    fn msg(event: &serde_json::Value) -> serde_json::Value {
        json!({"timestamp": "2026-11-20T00:00:47+00:00", "hostname": "futel-prod.phu73l.net", "event": event})
    }

    fn q(reason: QuarantineReason) -> Outcome {
        Outcome::Quarantine { reason }
    }

    fn drop(reason: DropReason, value: &str) -> Outcome {
        Outcome::Drop {
            reason,
            value: value.to_owned(),
        }
    }

    fn keep(day: &str) -> Outcome {
        Outcome::Keep {
            day: day.parse().unwrap(),
        }
    }

    #[test]
    fn envelope_user_event_is_kept_with_the_spec_line() {
        let body = envelope(&msg(&json!({
            "Event": "UserEvent", "UserEvent": "operator", "Channel": "PJSIP/twilio-000d3be7", "endpoint": "ghost-mountain"
        })));
        let (o, line) = run(&body);
        assert_eq!(o, keep("20261120"));
        assert_eq!(
            line,
            r#"{"timestamp": "2026-11-20T00:00:47+00:00", "channel": "PJSIP/twilio-000d3be7", "endpoint": "ghost-mountain", "event": "operator"}"#
        );
    }

    #[test]
    fn raw_delivery_is_the_event_message_itself() {
        let body = msg(&json!({"Event": "ConfbridgeJoin", "Channel": "SIP/630-1"})).to_string();
        let (o, line) = run(&body);
        assert_eq!(o, keep("20261120"));
        assert_eq!(
            line,
            r#"{"timestamp": "2026-11-20T00:00:47+00:00", "channel": "SIP/630-1", "endpoint": "SIP/630-1", "event": "ConfbridgeJoin"}"#
        );
    }

    #[test]
    fn name_prefers_user_event_over_event() {
        let (_, line) = run(&envelope(&msg(
            &json!({"Event": "UserEvent", "UserEvent": "x", "Channel": "c"}),
        )));
        assert!(line.ends_with(r#""event": "x"}"#), "{line}");
        let (_, line) = run(&envelope(&msg(
            &json!({"Event": "ConfbridgeLeave", "Channel": "c"}),
        )));
        assert!(line.ends_with(r#""event": "ConfbridgeLeave"}"#), "{line}");
    }

    #[test]
    fn endpoint_defaults_to_channel_but_an_empty_endpoint_is_kept() {
        let (_, line) = run(&envelope(&msg(&json!({"Event": "E", "Channel": "SIP/1"}))));
        assert!(line.contains(r#""endpoint": "SIP/1""#), "{line}");
        let (_, line) = run(&envelope(&msg(
            &json!({"Event": "E", "Channel": "SIP/1", "endpoint": ""}),
        )));
        assert!(line.contains(r#""endpoint": """#), "{line}");
    }

    #[test]
    fn envelope_timestamp_is_the_fallback() {
        let m = json!({"hostname": "futel-prod-back", "event": {"Event": "E", "Channel": "c"}});
        let (o, line) = run(&envelope(&m));
        assert_eq!(o, keep("20261120"));
        assert!(
            line.starts_with(r#"{"timestamp": "2026-11-20T09:47:02.855Z""#),
            "{line}"
        );
    }

    #[test]
    fn raw_message_without_timestamp_is_quarantined() {
        let m = json!({"hostname": "futel-prod-back", "event": {"Event": "E", "Channel": "c"}});
        assert_eq!(run(&m.to_string()).0, q(QuarantineReason::BadTimestamp));
    }

    #[test]
    fn bad_dates_are_quarantined_after_drops() {
        let mut m = msg(&json!({"Event": "E", "Channel": "c"}));
        m["timestamp"] = json!("2026-02-30T00:00:00");
        assert_eq!(run(&envelope(&m)).0, q(QuarantineReason::BadTimestamp));
        // A dropped message with a bad date is still a drop: drops come first.
        m["hostname"] = json!("test-box");
        assert_eq!(run(&envelope(&m)).0, drop(DropReason::Hostname, "test-box"));
    }

    #[test]
    fn timezone_is_not_converted() {
        let mut m = msg(&json!({"Event": "E", "Channel": "c"}));
        m["timestamp"] = json!("2026-11-20T23:30:00-08:00");
        assert_eq!(run(&envelope(&m)).0, keep("20261120"));
    }

    #[test]
    fn drop_order_is_hostname_then_channel_then_event() {
        let mut m = msg(&json!({"Event": "Registry", "Channel": ""}));
        m["hostname"] = json!("other");
        assert_eq!(run(&envelope(&m)).0, drop(DropReason::Hostname, "other"));
        m["hostname"] = json!("futel-prod-back");
        assert_eq!(run(&envelope(&m)).0, drop(DropReason::Channel, ""));
        m["event"]["Channel"] = json!("SIP/1");
        assert_eq!(run(&envelope(&m)).0, drop(DropReason::Event, "Registry"));
    }

    #[test]
    fn missing_hostname_drops_under_empty_value() {
        let m =
            json!({"timestamp": "2026-11-20T00:00:00", "event": {"Event": "E", "Channel": "c"}});
        assert_eq!(run(&envelope(&m)).0, drop(DropReason::Hostname, ""));
    }

    #[test]
    fn missing_channel_drops_as_channel() {
        assert_eq!(
            run(&envelope(&msg(&json!({"Event": "E"})))).0,
            drop(DropReason::Channel, "")
        );
    }

    #[test]
    fn channel_substring_drops() {
        let m = msg(&json!({"Event": "E", "Channel": "Local/followme-operator-123;1"}));
        assert_eq!(
            run(&envelope(&m)).0,
            drop(DropReason::Channel, "Local/followme-operator-123;1")
        );
    }

    #[test]
    fn missing_name_drops_as_event() {
        assert_eq!(
            run(&envelope(&msg(&json!({"Channel": "c"})))).0,
            drop(DropReason::Event, "")
        );
        assert_eq!(
            run(&envelope(&msg(
                &json!({"Event": "PeerStatus", "Channel": "c"})
            )))
            .0,
            drop(DropReason::Event, "PeerStatus")
        );
    }

    #[test]
    fn user_event_named_like_a_dropped_event_is_dropped() {
        let m = msg(&json!({"Event": "UserEvent", "UserEvent": "Registry", "Channel": "c"}));
        assert_eq!(run(&envelope(&m)).0, drop(DropReason::Event, "Registry"));
    }

    #[test]
    fn all_three_default_hosts_are_kept() {
        for h in [
            "futel-prod.phu73l.net",
            "futel-prod-back",
            "dialplan-functions-prod",
        ] {
            let mut m = msg(&json!({"Event": "E", "Channel": "c"}));
            m["hostname"] = json!(h);
            assert_eq!(run(&envelope(&m)).0, keep("20261120"), "{h}");
        }
    }

    #[test]
    fn configured_rules_replace_defaults() {
        let rules = Rules {
            prod_hosts: vec!["pbx".into()],
            drop_channel_substrings: vec!["test".into()],
            drop_events: vec!["Noise".into()],
        };
        let mut line = Vec::new();
        let mut m = msg(&json!({"Event": "Registry", "Channel": "followme-operator"}));
        m["hostname"] = json!("pbx");
        assert_eq!(classify(&envelope(&m), &rules, &mut line), keep("20261120"));
        m["event"]["Channel"] = json!("a-test-b");
        assert_eq!(
            classify(&envelope(&m), &rules, &mut Vec::new()),
            drop(DropReason::Channel, "a-test-b")
        );
        m["event"] = json!({"Event": "Noise", "Channel": "c"});
        assert_eq!(
            classify(&envelope(&m), &rules, &mut Vec::new()),
            drop(DropReason::Event, "Noise")
        );
        m["hostname"] = json!("futel-prod-back");
        assert_eq!(
            classify(&envelope(&m), &rules, &mut Vec::new()),
            drop(DropReason::Hostname, "futel-prod-back")
        );
    }

    #[test]
    fn structural_problems_are_quarantined_with_their_reason() {
        let cases: Vec<(String, QuarantineReason)> = vec![
            ("{not json".into(), QuarantineReason::NotJson),
            (String::new(), QuarantineReason::NotJson),
            ("{} trailing".into(), QuarantineReason::NotJson),
            ("[1,2]".into(), QuarantineReason::NotObject),
            ("\"str\"".into(), QuarantineReason::NotObject),
            ("null".into(), QuarantineReason::NotObject),
            ("42".into(), QuarantineReason::NotObject),
            (
                json!({"Type": "Notification"}).to_string(),
                QuarantineReason::EnvelopeWithoutMessage,
            ),
            (
                json!({"Type": "Notification", "Message": 5}).to_string(),
                QuarantineReason::MessageNotString,
            ),
            (
                json!({"Message": null}).to_string(),
                QuarantineReason::MessageNotString,
            ),
            (
                json!({"Message": "{oops"}).to_string(),
                QuarantineReason::MessageNotJson,
            ),
            (
                json!({"Message": "[]"}).to_string(),
                QuarantineReason::MessageNotObject,
            ),
            (
                json!({"Message": "{}"}).to_string(),
                QuarantineReason::NoEventObject,
            ),
            (
                envelope(&json!({"event": "UserEvent"})),
                QuarantineReason::NoEventObject,
            ),
            (
                envelope(&json!({"event": [1]})),
                QuarantineReason::NoEventObject,
            ),
            (
                json!({"hostname": "futel-prod-back"}).to_string(),
                QuarantineReason::NoEventObject,
            ),
        ];
        for (body, reason) in cases {
            assert_eq!(run(&body).0, q(reason), "{body}");
        }
    }

    #[test]
    fn non_string_fields_are_quarantined_naming_the_field() {
        let base = msg(&json!({"Event": "E", "UserEvent": "u", "Channel": "c", "endpoint": "e"}));
        let cases: [(&str, &str, Field); 6] = [
            ("event", "UserEvent", Field::UserEvent),
            ("event", "Event", Field::Event),
            ("event", "Channel", Field::Channel),
            ("event", "endpoint", Field::Endpoint),
            ("", "timestamp", Field::Timestamp),
            ("", "hostname", Field::Hostname),
        ];
        for (parent, key, field) in cases {
            for bad in [json!(null), json!(1), json!(true), json!([]), json!({})] {
                let mut m = base.clone();
                if parent.is_empty() {
                    m[key] = bad.clone();
                } else {
                    m[parent][key] = bad.clone();
                }
                assert_eq!(
                    run(&envelope(&m)).0,
                    q(QuarantineReason::FieldNotString(field)),
                    "{key}={bad}"
                );
            }
        }
        let mut env: serde_json::Value = serde_json::from_str(&envelope(&base)).unwrap();
        env["Timestamp"] = json!(12);
        assert_eq!(
            run(&env.to_string()).0,
            q(QuarantineReason::FieldNotString(Field::EnvelopeTimestamp))
        );
    }

    #[test]
    fn message_member_makes_an_envelope_even_without_type() {
        let body =
            json!({"Message": msg(&json!({"Event": "E", "Channel": "c"})).to_string()}).to_string();
        assert_eq!(run(&body).0, keep("20261120"));
    }

    #[test]
    fn type_other_than_notification_without_message_is_raw() {
        let mut m = msg(&json!({"Event": "E", "Channel": "c"}));
        m["Type"] = json!("SubscriptionConfirmation");
        assert_eq!(run(&m.to_string()).0, keep("20261120"));
    }

    #[test]
    fn duplicate_keys_resolve_like_python_last_wins() {
        let body = r#"{"timestamp": "2026-11-20T01:00:00", "hostname": "x", "hostname": "futel-prod-back",
            "event": {"Event": "A", "Event": "B", "Channel": "c"}}"#;
        let (o, line) = run(body);
        assert_eq!(o, keep("20261120"));
        assert!(line.ends_with(r#""event": "B"}"#), "{line}");
    }

    #[test]
    fn a_message_inside_the_message_does_not_disturb_the_outer_one() {
        // The inner message has its own escaped `Message` member, unescaped while the outer
        // one is being read.
        let mut m = msg(&json!({"Event": "E", "Channel": "c\"q"}));
        m["Message"] = json!("{\"nested\": \"x\"}");
        let (o, line) = run(&envelope(&m));
        assert_eq!(o, keep("20261120"));
        assert!(line.contains(r#""channel": "c\"q""#), "{line}");
        // And the next message starts clean.
        let (o, line) = run(&envelope(&msg(&json!({"Event": "F", "Channel": "d"}))));
        assert_eq!(o, keep("20261120"));
        assert!(line.ends_with(r#""event": "F"}"#), "{line}");
    }

    #[test]
    fn duplicate_message_members_resolve_last_wins() {
        let first = msg(&json!({"Event": "First", "Channel": "c"})).to_string();
        let second = msg(&json!({"Event": "Second", "Channel": "c"})).to_string();
        let escaped = serde_json::to_string(&first).unwrap();
        let plain = r#""{}""#;
        for (a, b, want) in [
            (escaped.as_str(), plain, None),
            (plain, escaped.as_str(), Some("First")),
            (
                escaped.as_str(),
                serde_json::to_string(&second).unwrap().as_str(),
                Some("Second"),
            ),
        ] {
            let body = format!(r#"{{"Type": "Notification", "Message": {a}, "Message": {b}}}"#);
            let (o, line) = run(&body);
            match want {
                None => assert_eq!(o, q(QuarantineReason::NoEventObject), "{body}"),
                Some(name) => assert!(
                    line.ends_with(&format!(r#""event": "{name}"}}"#)),
                    "{body}: {line}"
                ),
            }
        }
    }

    #[test]
    fn escaped_member_names_are_recognised() {
        let body = r#"{"time\u0073tamp": "2026-11-20T01:00:00", "hostname": "futel-prod-back",
            "\u0065vent": {"Event": "A", "Channel": "c"}}"#;
        assert_eq!(run(body).0, keep("20261120"));
    }

    #[test]
    fn escapes_in_values_are_reencoded_python_style() {
        let body = envelope(&msg(
            &json!({"Event": "E", "Channel": "PJSIP/caf\u{e9}-\"q\"\\", "endpoint": "📞\n"}),
        ));
        let (o, line) = run(&body);
        assert_eq!(o, keep("20261120"));
        assert_eq!(
            line,
            r#"{"timestamp": "2026-11-20T00:00:47+00:00", "channel": "PJSIP/caf\u00e9-\"q\"\\", "endpoint": "\ud83d\udcde\n", "event": "E"}"#
        );
    }

    #[test]
    fn unused_members_of_any_shape_are_skipped() {
        let mut m = msg(
            &json!({"Event": "E", "Channel": "c", "Extra": {"a": [1, 2.5, null, {"b": false}]}}),
        );
        m["other"] = json!([[[]]]);
        let mut env: serde_json::Value = serde_json::from_str(&envelope(&m)).unwrap();
        env["MessageAttributes"] = json!({"k": {"Type": "String", "Value": "v"}});
        env["Subject"] = json!(null);
        assert_eq!(run(&env.to_string()).0, keep("20261120"));
    }

    #[test]
    fn not_utf8_bytes_are_quarantined() {
        let mut line = Vec::new();
        let o = classify_bytes(b"{\"a\": \"\xff\"}", &Rules::default(), &mut line);
        assert_eq!(o, q(QuarantineReason::NotUtf8));
        assert!(line.is_empty());
    }

    /// The UTF-8 check (simdutf8) agrees with std's on the edges of the encoding: truncated and
    /// overlong sequences, surrogates, the last code point and one past it, inside a body long
    /// enough for the vector loop (64 bytes) and at each offset around a vector's edge.
    #[test]
    fn utf8_check_agrees_with_std_at_the_edges() {
        let seqs: [&[u8]; 14] = [
            b"\xc3\xa9",
            b"\xe2\x82\xac",
            b"\xf0\x9f\x98\x80",
            b"\xf4\x8f\xbf\xbf",
            b"\xf4\x90\x80\x80",
            b"\xed\xa0\x80",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xc3",
            b"\xe2\x82",
            b"\xf0\x9f\x98",
            b"\x80",
            b"\xff",
            b"\xef\xbb\xbf",
        ];
        let rules = Rules::default();
        for seq in seqs {
            for at in [0, 1, 15, 16, 31, 32, 62, 63, 64, 65, 127] {
                let mut body = b"{\"Message\": \"".to_vec();
                body.resize(body.len() + at, b'a');
                body.extend_from_slice(seq);
                body.extend_from_slice(&[b'b'; 70]);
                body.extend_from_slice(b"\"}");
                let mut line = Vec::new();
                let o = classify_bytes(&body, &rules, &mut line);
                let std_ok = std::str::from_utf8(&body).is_ok();
                assert_eq!(
                    o == q(QuarantineReason::NotUtf8),
                    !std_ok,
                    "{seq:x?} at {at}: {o:?}"
                );
            }
        }
    }

    #[test]
    fn quarantine_codes_are_stable() {
        assert_eq!(
            QuarantineReason::FieldNotString(Field::EnvelopeTimestamp).code(),
            "field_not_string:Timestamp"
        );
        assert_eq!(QuarantineReason::BadTimestamp.to_string(), "bad_timestamp");
        assert_eq!(DropReason::Channel.to_string(), "channel");
    }
}

#[cfg(test)]
mod nesting {
    use super::*;

    fn outcome(body: &str) -> Outcome {
        classify(body, &Rules::default(), &mut Vec::new())
    }

    fn raw_with(extra: &str) -> String {
        format!(
            r#"{{"timestamp": "2026-11-20T00:00:00", "hostname": "futel-prod-back", "event": {{"Event": "E", "Channel": "c"}}, "x": {extra}}}"#
        )
    }

    #[test]
    fn deep_nesting_does_not_crash() {
        // 100,000 levels: serde_json skips unused members iteratively, so this is just kept...
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let fast = outcome(&raw_with(&deep));
        assert_eq!(
            fast,
            Outcome::Keep {
                day: "20261120".parse().unwrap()
            }
        );
        // ...and a used member nested that deep is simply not an object.
        let body = format!(
            r#"{{"timestamp": "2026-11-20", "hostname": "futel-prod-back", "event": {deep}}}"#
        );
        let fast = outcome(&body);
        assert_eq!(
            fast,
            Outcome::Quarantine {
                reason: QuarantineReason::NoEventObject
            }
        );
    }
}
