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
