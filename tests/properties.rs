//! Property tests of the core: the formatter round-trips, the merge is a sorted, unique,
//! idempotent union, and classification never panics on any input.

use proptest::prelude::*;
use s3_event_writer::core::merge::{merge_sorted, merge_unsorted, sort_new_lines, SortOptions};
use s3_event_writer::core::{classify, classify_bytes, record_line, Outcome, Record, Rules};

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
        let trim = |l: &[u8]| s3_event_writer::core::merge::trim_line_end(l).to_vec();
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
