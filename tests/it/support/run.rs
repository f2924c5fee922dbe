//! Running the binary: the caller's environment kept out, output captured, hangs bounded.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_s3-event-writer"));
    // Keep the caller's environment from steering the tests: every setting the binary reads.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("S3EW_") {
            c.env_remove(name);
        }
    }
    for v in ["QUEUE_URL", "GITHUB_STEP_SUMMARY", "AWS_LAMBDA_RUNTIME_API"] {
        c.env_remove(v);
    }
    c.env("RUST_LOG", "warn");
    c.stdin(Stdio::null());
    c
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("running s3-event-writer")
}

/// Output bytes as text (lossily).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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
