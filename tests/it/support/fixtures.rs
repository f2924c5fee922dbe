//! The conformance fixtures under `tests/fixtures/conformance` and realistic message bodies.

use std::fs;
use std::path::{Path, PathBuf};

pub const SETS: [&str; 3] = ["basic", "malformed", "emulator"];

pub fn fixture(set: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/conformance")
        .join(set)
}

/// The set's queue bodies, one per line of its `messages.jsonl`.
pub fn bodies_of(set: &str) -> Vec<String> {
    fs::read_to_string(fixture(set).join("messages.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn counts(set: &str) -> serde_json::Value {
    serde_json::from_slice(&fs::read(fixture(set).join("counts.json")).unwrap()).unwrap()
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
}

/// The callers' numbers and names in [`ami_quarantine_bodies`]: no minimised record may hold
/// any of them.
pub const CALLER_VALUES: [&str; 6] = [
    "15034448615",
    "Jane Q Public",
    "15035550199",
    "John Doe",
    "5035550123",
    "Jane",
];

/// A full AMI `UserEvent` as the PBX's listener publishes it (caller numbers included, as in
/// the legacy writer's own test case).
pub fn ami_event() -> serde_json::Value {
    serde_json::json!({
        "Event": "UserEvent", "Privilege": "user,all", "Channel": "PJSIP/twilio-000d3be7",
        "ChannelState": "6", "ChannelStateDesc": "Up", "CallerIDNum": "+15034448615",
        "CallerIDName": "Jane Q Public", "ConnectedLineNum": "+15035550199",
        "ConnectedLineName": "John Doe", "Language": "en", "AccountCode": "",
        "Context": "outgoing_dialstatus_completed", "Exten": "5035550123", "Priority": "1",
        "Uniqueid": "1795788034.441", "Linkedid": "1795788034.4078",
        "UserEvent": "operator", "endpoint": "ghost-mountain"
    })
}

fn ami_message(ts: &str) -> serde_json::Value {
    serde_json::json!({"timestamp": ts, "hostname": "futel-prod.phu73l.net", "event": ami_event()})
}

fn sns_envelope(message: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "Type": "Notification", "MessageId": "cd68615c-8069-0847-dc15-9e6a409c38f2",
        "TopicArn": "arn:aws:sns:us-west-2:123456789012:asterisk-prod-events",
        "Message": message, "Timestamp": "2026-11-27T14:00:34.429Z",
        "SignatureVersion": "1", "Signature": "EXAMPLEpT3s+zXU=",
        "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-0000.pem",
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe"
    })
}

/// One realistic body per quarantine reason an SQS message can have (every reason but
/// `not_utf8`), each carrying the callers' numbers and names: `(reason, body)`.
pub fn ami_quarantine_bodies() -> Vec<(String, String)> {
    let good = ami_message("2026-11-27T14:00:34+00:00");
    let text = good.to_string();
    let envelope_text = sns_envelope(&serde_json::json!(text)).to_string();
    let mut out: Vec<(String, String)> = vec![
        // Cut off in the middle of the event: not JSON; the caller fields are in it, escaped.
        ("not_json".into(), {
            let cut = envelope_text.find("Linkedid").unwrap() + 16;
            envelope_text[..cut].to_owned()
        }),
        (
            "not_object".into(),
            serde_json::json!([good.clone()]).to_string(),
        ),
        ("envelope_without_message".into(), {
            let mut e = sns_envelope(&serde_json::Value::Null);
            e.as_object_mut().unwrap().remove("Message");
            e["event"] = ami_event();
            e.to_string()
        }),
        ("message_not_string".into(), sns_envelope(&good).to_string()),
        (
            "message_not_json".into(),
            sns_envelope(&serde_json::json!(text[..text.len() - 30])).to_string(),
        ),
        (
            "message_not_object".into(),
            sns_envelope(&serde_json::json!(format!("[{text}]"))).to_string(),
        ),
        ("no_event_object".into(), {
            let mut m = good.clone();
            let event = m["event"].take();
            m["headers"] = event;
            m.as_object_mut().unwrap().remove("event");
            sns_envelope(&serde_json::json!(m.to_string())).to_string()
        }),
        (
            "bad_timestamp".into(),
            sns_envelope(&serde_json::json!(
                ami_message("2026-02-30T14:00:34+00:00").to_string()
            ))
            .to_string(),
        ),
        // Raw delivery (no envelope) too.
        (
            "bad_timestamp".into(),
            ami_message("27/11/2026 14:00:34").to_string(),
        ),
    ];
    for (field, path) in [
        ("event.UserEvent", &["event", "UserEvent"][..]),
        ("event.Event", &["event", "Event"]),
        ("event.Channel", &["event", "Channel"]),
        ("event.endpoint", &["event", "endpoint"]),
        ("timestamp", &["timestamp"]),
        ("hostname", &["hostname"]),
    ] {
        let mut m = good.clone();
        let slot = path.iter().fold(&mut m, |v, k| &mut v[*k]);
        *slot = serde_json::json!(["+15034448615", "Jane Q Public"]);
        out.push((
            format!("field_not_string:{field}"),
            sns_envelope(&serde_json::json!(m.to_string())).to_string(),
        ));
    }
    // The envelope's Timestamp (read, and checked, for envelopes).
    let mut e = sns_envelope(&serde_json::json!(text));
    e["Timestamp"] = serde_json::json!(1_795_788_034);
    out.push(("field_not_string:Timestamp".into(), e.to_string()));
    out
}
