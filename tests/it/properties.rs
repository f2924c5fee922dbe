//! Property tests of the core: the formatter round-trips, the merge is a sorted, unique,
//! idempotent union, classification never panics on any input, and a minimised quarantine body
//! is classified exactly as the raw one.

use proptest::prelude::*;

use crate::support::api::{
    classify, classify_bytes, merge_sorted, merge_unsorted, minimise, record_line, sort_new_lines,
    trim_line_end, Outcome, QuarantineReason, Record, Redaction, Rules, SortOptions,
};

fn merged(existing: &[u8], new: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    if merge_sorted(existing, new, &mut out).is_ok() {
        return out;
    }
    let mut out = Vec::new();
    let opts = SortOptions {
        memory_budget_bytes: 64,
        spill_dir: None,
    };
    merge_unsorted(existing, new, &mut out, &opts).unwrap();
    out
}

fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
    // Short lines over a small alphabet so collisions (duplicates) are common.
    proptest::collection::vec(
        prop_oneof![
            Just(b'a'),
            Just(b'b'),
            Just(b'{'),
            Just(b' '),
            Just(b'\t'),
            Just(0xc3),
            Just(0xa9)
        ],
        0..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn formatted_strings_parse_back_and_are_ascii(t in any::<String>(), c in any::<String>(), e in ".*", n in "\\PC*") {
        let line = record_line(&Record { timestamp: &t, channel: &c, endpoint: &e, event: &n });
        prop_assert!(line.iter().all(|b| (0x20..0x7f).contains(b)), "only printable ASCII");
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        prop_assert_eq!(v["timestamp"].as_str().unwrap(), t.as_str());
        prop_assert_eq!(v["channel"].as_str().unwrap(), c.as_str());
        prop_assert_eq!(v["endpoint"].as_str().unwrap(), e.as_str());
        prop_assert_eq!(v["event"].as_str().unwrap(), n.as_str());
        let s = String::from_utf8(line).unwrap();
        let framed = s.starts_with(r#"{"timestamp": ""#);
        prop_assert!(framed, "key order and separators");
        let upper_hex = s.contains("\\u00A") || s.contains("\\uD8");
        prop_assert!(!upper_hex, "hex digits are lowercase");
    }

    #[test]
    fn merge_is_sorted_unique_superset_and_idempotent(
        existing in proptest::collection::vec(line_strategy(), 0..40),
        new in proptest::collection::vec(line_strategy(), 0..40),
        sort_existing in any::<bool>(),
    ) {
        let mut existing = existing;
        if sort_existing {
            existing.sort();
        }
        let mut text = Vec::new();
        for l in &existing {
            text.extend_from_slice(l);
            text.push(b'\n');
        }
        let trim = |l: &[u8]| trim_line_end(l).to_vec();
        let mut new: Vec<Vec<u8>> = new.into_iter().map(|l| trim(&l)).filter(|l| !l.is_empty()).collect();
        sort_new_lines(&mut new);
        let out = merged(&text, &new);
        prop_assert!(out.is_empty() || out.ends_with(b"\n"));
        let lines: Vec<&[u8]> = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        prop_assert!(lines.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        let set: std::collections::BTreeSet<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
        for l in &new {
            prop_assert!(set.contains(l), "new line kept");
        }
        for l in &existing {
            let t = trim(l);
            if !t.is_empty() {
                prop_assert!(set.contains(&t), "existing line kept");
            }
        }
        prop_assert_eq!(set.len(), lines.len());
        prop_assert_eq!(merged(&out, &new), out.clone(), "merging again changes nothing");
        prop_assert_eq!(merged(&out, &[]), out.clone());
    }

    #[test]
    fn classify_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut line = Vec::new();
        let o = classify_bytes(&body, &Rules::default(), &mut line);
        if !matches!(o, Outcome::Keep { .. }) {
            prop_assert!(line.is_empty());
        }
    }

    #[test]
    fn classify_never_panics_on_json_shaped_text(body in r#"[\[\]{}":, a-zA-Z0-9\\.\-]{0,120}"#) {
        let _ = classify(&body, &Rules::default(), &mut Vec::new());
    }

    #[test]
    fn kept_lines_carry_the_fields_verbatim(
        ts_tail in "[T0-9:.+\\-Z]{0,20}", ch in "\\PC{1,20}", ep in proptest::option::of("\\PC{0,20}"), name in "[A-Za-z_]{1,20}",
    ) {
        prop_assume!(!ch.contains("followme-operator"));
        prop_assume!(name != "Registry" && name != "PeerStatus");
        let mut event = serde_json::json!({"Event": "UserEvent", "UserEvent": name, "Channel": ch});
        if let Some(ep) = &ep {
            event["endpoint"] = serde_json::json!(ep);
        }
        let ts = format!("2024-02-29{ts_tail}");
        let msg = serde_json::json!({"timestamp": ts, "hostname": "futel-prod-back", "event": event});
        let env = serde_json::json!({"Type": "Notification", "Message": msg.to_string(), "Timestamp": "x"});
        let mut line = Vec::new();
        let o = classify(&env.to_string(), &Rules::default(), &mut line);
        prop_assert_eq!(o, Outcome::Keep { day: "20240229".parse().unwrap() });
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        prop_assert_eq!(v["timestamp"].as_str().unwrap(), ts.as_str());
        prop_assert_eq!(v["channel"].as_str().unwrap(), ch.as_str());
        prop_assert_eq!(v["endpoint"].as_str().unwrap(), ep.as_deref().unwrap_or(&ch));
        prop_assert_eq!(v["event"].as_str().unwrap(), name.as_str());
    }
}

// ---------------------------------------------------------------------------------------------
// Minimised quarantine bodies (core::redact)
// ---------------------------------------------------------------------------------------------

/// The outcome and the archive line of a body.
fn outcome_and_line(body: &str) -> (Outcome, Vec<u8>) {
    let mut line = Vec::new();
    let o = classify(body, &Rules::default(), &mut line);
    (o, line)
}

fn min(body: &str) -> String {
    minimise(body, &Redaction::default())
}

/// Personal values distinctive enough that finding one in a record is a leak, not chance.
#[derive(Debug, Clone)]
struct Caller {
    number: String,
    name: String,
    connected_number: String,
    connected_name: String,
    exten: String,
}

impl Caller {
    fn values(&self) -> [&str; 5] {
        [
            &self.number,
            &self.name,
            &self.connected_number,
            &self.connected_name,
            &self.exten,
        ]
    }
}

fn caller() -> impl Strategy<Value = Caller> {
    (
        "\\+1[2-9][0-9]{9}",
        "Zq[a-z]{4,8} [A-Z][a-z]{3,8}",
        "[2-9][0-9]{9,10}",
        "Zq[a-z]{4,8}[ \"'\\\\é]?[a-z]{2,5}",
        "[0-9]{7,11}",
    )
        .prop_map(
            |(number, name, connected_number, connected_name, exten)| Caller {
                number,
                name,
                connected_number,
                connected_name,
                exten,
            },
        )
}

/// A used field's value: usually right, sometimes of the wrong type.
fn field_value(good: &'static str) -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        14 => Just(serde_json::json!(good)),
        1 => Just(serde_json::json!(15_034_448_615_u64)),
        1 => Just(serde_json::json!(null)),
        1 => Just(serde_json::json!({"a": [1]})),
    ]
}

/// How a generated body is spoiled (or not), to reach every classification.
#[derive(Debug, Clone, Copy)]
enum Spoil {
    None,
    Truncate(usize),
    DropMessage,
    MessageNotString,
    TruncateMessage(usize),
    MessageArray,
    NoEvent,
}

fn spoil() -> impl Strategy<Value = Spoil> {
    prop_oneof![
        4 => Just(Spoil::None),
        2 => (1usize..400).prop_map(Spoil::Truncate),
        1 => Just(Spoil::DropMessage),
        1 => Just(Spoil::MessageNotString),
        2 => (1usize..200).prop_map(Spoil::TruncateMessage),
        1 => Just(Spoil::MessageArray),
        1 => Just(Spoil::NoEvent),
    ]
}

/// A realistic AMI UserEvent body (the full header set), raw or in an SNS envelope, spoiled.
fn ami_body() -> impl Strategy<Value = (String, Caller, bool)> {
    (
        caller(),
        (
            field_value("operator"),
            field_value("PJSIP/twilio-000d3be7"),
            field_value("ghost-mountain"),
        ),
        prop_oneof![Just("futel-prod-back"), Just("futel-stage.phu73l.net")],
        prop_oneof![
            Just("2026-11-20T00:00:47+00:00"),
            Just("2026-02-30T00:00:00"),
            Just("")
        ],
        any::<bool>(),
        spoil(),
        proptest::collection::vec(("[A-Za-z]{1,10}", "\\PC{0,12}"), 0..4),
    )
        .prop_map(
            |(c, (user_event, channel, endpoint), host, ts, envelope, spoil, extra)| {
                let mut event = serde_json::json!({
                    "Event": "UserEvent", "Privilege": "user,all", "Channel": channel,
                    "ChannelState": "6", "ChannelStateDesc": "Up", "CallerIDNum": c.number,
                    "CallerIDName": c.name, "ConnectedLineNum": c.connected_number,
                    "ConnectedLineName": c.connected_name, "Language": "en", "AccountCode": "",
                    "Context": "outgoing", "Exten": c.exten, "Priority": "1",
                    "Uniqueid": "1795788034.441", "Linkedid": "1795788034.4078",
                    "UserEvent": user_event, "endpoint": endpoint,
                });
                for (k, v) in extra {
                    event[k] = serde_json::json!(v);
                }
                let mut message =
                    serde_json::json!({"timestamp": ts, "hostname": host, "event": event});
                if matches!(spoil, Spoil::NoEvent) {
                    message["event_"] = message["event"].take();
                    message.as_object_mut().unwrap().remove("event");
                }
                let text = message.to_string();
                let body = if envelope {
                    let inner = match spoil {
                        Spoil::MessageNotString => message.clone(),
                        Spoil::TruncateMessage(n) => serde_json::json!(cut(&text, n)),
                        Spoil::MessageArray => serde_json::json!(format!("[{text}]")),
                        _ => serde_json::json!(text),
                    };
                    let mut env = serde_json::json!({
                        "Type": "Notification", "MessageId": "cd68615c-8069-0847-dc15-9e6a409c38f2",
                        "TopicArn": "arn:aws:sns:us-west-2:123456789012:asterisk-prod-events",
                        "Message": inner, "Timestamp": "2026-11-27T14:00:34.429Z",
                        "SignatureVersion": "1", "Signature": "EXAMPLE==",
                    });
                    if matches!(spoil, Spoil::DropMessage) {
                        env.as_object_mut().unwrap().remove("Message");
                    }
                    env.to_string()
                } else {
                    text
                };
                let truncated = matches!(spoil, Spoil::Truncate(_));
                let body = match spoil {
                    Spoil::Truncate(n) => cut(&body, n).to_owned(),
                    _ => body,
                };
                (body, c, truncated)
            },
        )
}

/// `s` without its last `n` characters (at least one left).
fn cut(s: &str, n: usize) -> &str {
    let keep = s.chars().count().saturating_sub(n).max(1);
    let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
    &s[..end]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, .. ProptestConfig::default() })]

    #[test]
    fn a_minimised_body_is_classified_exactly_as_the_raw_one_and_holds_no_caller((body, caller, truncated) in ami_body()) {
        let m = min(&body);
        let (raw_outcome, raw_line) = outcome_and_line(&body);
        let (min_outcome, min_line) = outcome_and_line(&m);
        prop_assert_eq!(&min_outcome, &raw_outcome, "{} => {}", body, m);
        prop_assert_eq!(min_line, raw_line, "the same archive line, byte for byte");
        prop_assert_eq!(min(&m), m.clone(), "minimising twice changes nothing");
        for value in caller.values() {
            // A truncation can cut a key in half; then nothing marks its value as personal,
            // but a number is still a run of digits.
            let checked = !truncated || value.bytes().all(|b| b.is_ascii_digit() || b == b'+');
            prop_assert!(!checked || !m.contains(value), "{:?} survived: {} => {}", value, body, m);
        }
    }

    #[test]
    fn minimising_any_text_keeps_its_classification(body in "\\PC{0,80}|[\\[\\]{}\":, a-zA-Z0-9\\\\.+\\-]{0,120}") {
        let m = min(&body);
        prop_assert_eq!(outcome_and_line(&m), outcome_and_line(&body), "{} => {}", body, m);
        prop_assert_eq!(min(&m), m.clone());
    }

    #[test]
    fn no_run_of_seven_digits_survives_in_unparseable_text(prefix in "[a-z{\": ]{0,10}", digits in "\\+?[0-9]{7,15}", suffix in "[a-z}\", ]{0,10}") {
        let body = format!("not json {prefix}{digits}{suffix}");
        let m = min(&body);
        let longest = m.as_bytes().split(|b| !b.is_ascii_digit()).map(<[u8]>::len).max().unwrap_or(0);
        prop_assert!(longest < 7, "{}", m);
    }
}

#[test]
fn every_sample_and_conformance_body_minimised_is_classified_as_the_raw_one() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("examples/messages.jsonl")];
    for set in ["basic", "malformed", "emulator"] {
        files.push(
            root.join("tests/fixtures/conformance")
                .join(set)
                .join("messages.jsonl"),
        );
    }
    let mut n = 0;
    for f in files {
        for body in std::fs::read_to_string(&f).unwrap().lines() {
            let m = min(body);
            assert_eq!(
                outcome_and_line(&m),
                outcome_and_line(body),
                "{}: {body}\n=> {m}",
                f.display()
            );
            n += 1;
        }
    }
    assert!(n > 3000, "{n} bodies");
}

/// The fenced block that follows `<!-- marker -->` in `doc`.
fn block_after<'a>(doc: &'a str, marker: &str) -> &'a str {
    let start = doc
        .find(&format!("<!-- {marker} -->"))
        .unwrap_or_else(|| panic!("{marker}"));
    let rest = &doc[start..];
    let open = rest.find("```").unwrap();
    let body = &rest[open..];
    let body = &body[body.find('\n').unwrap() + 1..];
    &body[..body.find("```").unwrap()]
}

#[test]
fn the_personal_data_page_shows_what_minimising_does() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/PERSONAL-DATA.md"),
    )
    .unwrap();
    // The JSON example, pretty-printed on the page: the same document, members in the same order.
    let raw = block_after(&doc, "raw-json");
    let shown = block_after(&doc, "minimised-json");
    let made = min(raw);
    let value = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    assert_eq!(value(&made), value(shown));
    let strings =
        |s: &str| -> Vec<String> { s.split('"').skip(1).step_by(2).map(str::to_owned).collect() };
    assert_eq!(strings(&made), strings(shown), "member order kept");
    assert_eq!(
        outcome_and_line(raw).0,
        Outcome::Quarantine {
            reason: QuarantineReason::BadTimestamp
        }
    );
    // The text example, byte for byte.
    let raw = block_after(&doc, "raw-text").trim_end();
    assert_eq!(min(raw), block_after(&doc, "minimised-text").trim_end());
}
