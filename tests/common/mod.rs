//! Helpers shared by the integration tests: fixture paths, running the binary, comparing trees.
#![allow(dead_code)]

pub mod sizes;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SETS: [&str; 3] = ["basic", "malformed", "emulator"];

pub fn fixture(set: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/conformance")
        .join(set)
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_s3-event-writer"));
    // Keep the caller's environment from steering the tests.
    for v in [
        "QUEUE_URL",
        "S3EW_DEST",
        "S3EW_QUARANTINE",
        "S3EW_REPORT",
        "S3EW_PROD_HOSTS",
        "S3EW_DROP_EVENTS",
        "S3EW_DROP_CHANNELS",
        "S3EW_CONFIG",
        "S3EW_QUARANTINE_VERBATIM",
        "S3EW_PERSONAL_KEYS",
        "S3EW_METRICS",
        "S3EW_METRICS_NAMESPACE",
        "GITHUB_STEP_SUMMARY",
    ] {
        c.env_remove(v);
    }
    c.env("RUST_LOG", "warn");
    c.stdin(Stdio::null());
    c
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("running s3-event-writer")
}

/// Every regular file under `dir` (relative name → bytes).
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_file() {
                out.insert(name, fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for (name, bytes) in tree(from) {
        fs::write(to.join(name), bytes).unwrap();
    }
}

/// Asserts two trees are equal, naming the first differing file and line.
pub fn assert_same_tree(actual: &Path, expected: &Path) {
    let a = tree(actual);
    let e = tree(expected);
    let an: Vec<_> = a.keys().collect();
    let en: Vec<_> = e.keys().collect();
    assert_eq!(
        an,
        en,
        "file names differ between {} and {}",
        actual.display(),
        expected.display()
    );
    for (name, bytes) in &e {
        let got = &a[name];
        if got != bytes {
            let gl: Vec<_> = got.split(|b| *b == b'\n').collect();
            let el: Vec<_> = bytes.split(|b| *b == b'\n').collect();
            let i = gl
                .iter()
                .zip(&el)
                .position(|(g, e)| g != e)
                .unwrap_or(gl.len().min(el.len()));
            panic!(
                "{name} differs at line {}:\n  got:      {:?}\n  expected: {:?}",
                i + 1,
                gl.get(i).map(|l| String::from_utf8_lossy(l)),
                el.get(i).map(|l| String::from_utf8_lossy(l))
            );
        }
    }
}

pub fn counts(set: &str) -> serde_json::Value {
    serde_json::from_slice(&fs::read(fixture(set).join("counts.json")).unwrap()).unwrap()
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
}

/// A child process that is killed if the test ends (or panics) while it still runs.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the binary with output to files and kills it if it has not finished within three
/// minutes, so a hang fails the test instead of stalling the suite.
pub fn run_bounded(cmd: &mut Command) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = KillOnDrop(
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the writer did not finish in 180 s:\n{}",
            std::fs::read_to_string(&err_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(&out_path).unwrap(),
        stderr: std::fs::read(&err_path).unwrap(),
    }
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run_bounded(cmd);
    assert!(
        out.status.success(),
        "exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
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
