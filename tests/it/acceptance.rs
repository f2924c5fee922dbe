//! `scripts/acceptance.sh`, the acceptance run an operator makes on their own AWS account, run
//! here against LocalStack through `AWS_ENDPOINT_URL` with the built binary and the writer-policy
//! fixture (`tests/fixtures/acceptance/writer-policy.json`: the Terraform module's writer policy
//! for `logpublish`, `events/prod/` and `quarantine/`).
//!
//! Each run checks the script's table (every step's row, with the result this endpoint can give:
//! `held`, or `not shown on this endpoint` for what depends on AWS itself), its exit status, and
//! that nothing it made is left, whether it ends, fails a step or is stopped: no bucket, queue or
//! IAM role (`--keep` leaves them, and says so). Step 2 runs with `--messages 400` (the default,
//! for AWS, is 4000) to keep the run short.
//!
//! The script needs the AWS CLI and jq. The AWS CLI is the one the LocalStack venv pins
//! (`awscli` in scripts/localstack-requirements.txt, a dependency of localstack-core), put first
//! on the script's PATH, so the runs do not depend on what the machine has; jq comes from the
//! machine, and a missing jq fails the run (exit 2) rather than skipping it.
//!
//! Always on LocalStack, whatever `S3EW_EMULATOR` says: moto's receive cost grows with the queue's
//! depth (the basic set alone takes minutes on it) and its conditional writes need the
//! serialising proxy, which would hide what step 2 shows.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::{self, emulator::cache_dir, needs_emulators, rt, run_bounded, text, Kind};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/acceptance.sh");
const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/acceptance/writer-policy.json"
);
/// What every scratch resource's name starts with.
const SCRATCH: &str = "s3ew-acceptance-";

/// Where `name` is on the test's PATH.
fn on_path(name: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no {name} on PATH"))
}

/// The script with a clean environment: the LocalStack venv's AWS CLI first on PATH, an empty
/// HOME (no profile or config of the caller's), and the emulator's endpoint and fake credentials
/// when given.
fn script(endpoint: Option<&str>, home: &Path) -> Command {
    let aws = cache_dir().join("localstack-venv/bin/aws");
    let bin_dir = home.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    if aws.is_file() {
        std::os::unix::fs::symlink(&aws, bin_dir.join("aws")).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new(on_path("bash"));
    c.arg(SCRIPT)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("TMPDIR", std::env::temp_dir());
    if let Some(endpoint) = endpoint {
        c.envs(support::env_for(endpoint));
    }
    c
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// The step table: step id (`1a`, `2`, ...) → (result, detail).
fn rows(stdout: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let mut in_steps = false;
    for line in stdout.lines() {
        if line == "| step | result | detail |" {
            in_steps = true;
            continue;
        }
        if !in_steps || line.starts_with("| ---") {
            continue;
        }
        let Some(inner) = line.strip_prefix("| ").and_then(|l| l.strip_suffix(" |")) else {
            break;
        };
        let cells: Vec<&str> = inner.splitn(3, " | ").collect();
        let id = cells[0].split(' ').next().unwrap().to_owned();
        out.insert(id, (cells[1].to_owned(), cells[2].to_owned()));
    }
    out
}

/// The run's scratch name (`s3ew-acceptance-TIME-RANDOM`), from its header.
fn scratch_name(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("| scratch | bucket "))
        .unwrap_or_else(|| panic!("no scratch line in:\n{stdout}"));
    let name = line["| scratch | bucket ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    assert!(name.starts_with(SCRATCH), "{line}");
    name
}

/// Asserts that the emulator holds no bucket, queue or IAM role of the run named `name`.
fn assert_nothing_left(emulator: &support::Emulator, name: &str, home: &Path) {
    let (buckets, queues) = rt().block_on(async {
        let s3 = emulator.s3().await;
        let sqs = emulator.sqs().await;
        let buckets: Vec<String> = s3
            .list_buckets()
            .send()
            .await
            .unwrap()
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_owned))
            .collect();
        let queues = sqs
            .list_queues()
            .send()
            .await
            .unwrap()
            .queue_urls()
            .to_vec();
        (buckets, queues)
    });
    assert!(
        !buckets.iter().any(|b| b.starts_with(name)),
        "buckets left: {buckets:?}"
    );
    assert!(
        !queues.iter().any(|q| q.contains(name)),
        "queues left: {queues:?}"
    );
    let out = Command::new(home.join("bin/aws"))
        .args([
            "--endpoint-url",
            &emulator.endpoint,
            "--output",
            "json",
            "iam",
            "list-roles",
        ])
        .env_clear()
        .env("HOME", home)
        .envs(support::env_for(&emulator.endpoint))
        .env("AWS_DEFAULT_REGION", support::REGION)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let roles: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = roles["Roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["RoleName"].as_str())
        .collect();
    assert!(
        !names.iter().any(|r| r.starts_with(name)),
        "roles left: {names:?}"
    );
}

fn assert_row(rows: &BTreeMap<String, (String, String)>, id: &str, results: &[&str]) {
    let (result, detail) = rows
        .get(id)
        .unwrap_or_else(|| panic!("no row {id} in {rows:?}"));
    assert!(
        results.contains(&result.as_str()),
        "row {id}: {result} ({detail}), expected one of {results:?}"
    );
}

#[test]
fn a_run_on_localstack_holds_what_it_can_show_and_leaves_nothing() {
    needs_emulators!();
    let emulator = support::Emulator::of(Kind::LocalStack);
    let home = tempfile::tempdir().unwrap();
    let out = run_bounded(script(Some(&emulator.endpoint), home.path()).args([
        "--yes",
        "--bin",
        env!("CARGO_BIN_EXE_s3-event-writer"),
        "--writer-policy",
        POLICY,
        "--messages",
        "400",
    ]));
    let stdout = text(&out.stdout);
    eprintln!("{stdout}");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        stdout.contains(&format!(
            "| endpoint | {}: not AWS, so what depends on AWS itself is \"not shown on this endpoint\" |",
            emulator.endpoint
        )),
        "{stdout}"
    );
    let rows = rows(&stdout);
    let held = ["held"];
    let not_shown = ["not shown on this endpoint"];
    for id in ["1a", "1b", "1c", "2", "4a", "5"] {
        assert_row(&rows, id, &held);
    }
    // LocalStack checks CompleteMultipartUpload's If-Match without a lock: two completions on
    // one version can both succeed (about one round in five here), and the script then says the
    // missing lines are the endpoint's, not the writer's.
    assert_row(&rows, "3a", &["held", "not shown on this endpoint"]);
    assert_row(&rows, "3b", &not_shown);
    // LocalStack does not enforce IAM.
    assert_row(&rows, "4b", &not_shown);
    assert!(rows["1b"].1.contains("33 quarantine objects"), "{rows:?}");
    assert!(
        rows["3a"]
            .1
            .starts_with("seeded 10.2 MiB (85000 lines; threshold 8 MiB, parts 5 MiB)"),
        "{rows:?}"
    );
    assert!(
        rows["2"]
            .1
            .starts_with("400 messages (360 distinct lines, 3 days"),
        "{rows:?}"
    );
    assert!(
        rows["4a"].1.contains(
            "20 kept into 2 day files under events/prod/, 2 quarantine records under quarantine/"
        ),
        "{rows:?}"
    );
    assert!(
        rows["5"]
            .1
            .starts_with("as the writer role, --write-probe: exit 0;"),
        "{rows:?}"
    );
    assert!(stdout.contains("\nNothing FAILED. Deleted everything the run made: bucket "));
    // The one warning: the scratch queue has no dead-letter queue.
    assert!(
        stdout.contains(" ok, 1 warning, 0 failures: the writer can run"),
        "{stdout}"
    );
    assert_nothing_left(&emulator, &scratch_name(&stdout), home.path());
}

/// Copies the conformance sets to `to`, with one byte of basic's first expected day file
/// changed.
fn corrupted_conformance(to: &Path) -> String {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance");
    for set in support::SETS {
        std::fs::create_dir_all(to.join(set)).unwrap();
        for part in ["existing", "expected"] {
            support::copy_dir(&from.join(set).join(part), &to.join(set).join(part));
        }
        for file in ["messages.jsonl", "counts.json"] {
            std::fs::copy(from.join(set).join(file), to.join(set).join(file)).unwrap();
        }
    }
    let expected: PathBuf = to.join("basic/expected");
    let day = support::tree(&expected).into_keys().next().unwrap();
    let path = expected.join(&day);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    day
}

#[test]
fn a_failed_step_exits_1_and_still_deletes_everything() {
    needs_emulators!();
    let emulator = support::Emulator::of(Kind::LocalStack);
    let home = tempfile::tempdir().unwrap();
    let sets = tempfile::tempdir().unwrap();
    let day = corrupted_conformance(sets.path());
    let out = run_bounded(script(Some(&emulator.endpoint), home.path()).args([
        "--yes",
        "--bin",
        env!("CARGO_BIN_EXE_s3-event-writer"),
        "--writer-policy",
        POLICY,
        "--steps",
        "1,4",
        "--conformance",
        sets.path().to_str().unwrap(),
    ]));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let rows = rows(&stdout);
    assert_row(&rows, "1a", &["FAILED"]);
    assert!(
        rows["1a"]
            .1
            .starts_with(&format!("day {day} differs from the expected: ")),
        "{rows:?}"
    );
    for id in ["1b", "1c", "4a"] {
        assert_row(&rows, id, &["held"]);
    }
    for id in ["2", "3a", "3b", "5"] {
        assert_row(&rows, id, &["skipped"]);
    }
    assert!(
        stdout.contains("\n1 FAILED. Deleted everything the run made: bucket "),
        "{stdout}"
    );
    // It writes nothing beside the sets.
    let mut files: Vec<String> = std::fs::read_dir(sets.path().join("basic"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["counts.json", "existing", "expected", "messages.jsonl"]
    );
    assert_nothing_left(&emulator, &scratch_name(&stdout), home.path());
}

#[test]
fn stopped_mid_run_it_still_deletes_everything() {
    needs_emulators!();
    let emulator = support::Emulator::of(Kind::LocalStack);
    let home = tempfile::tempdir().unwrap();
    let mut child = support::KillOnDrop(
        script(Some(&emulator.endpoint), home.path())
            .args([
                "--yes",
                "--bin",
                env!("CARGO_BIN_EXE_s3-event-writer"),
                "--steps",
                "2",
                "--messages",
                "400",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    // While the four drains run: the bucket, the queue and the drains are there to clean up.
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the script ended before its drains:\n{}", seen.join("\n")))
            .unwrap();
        let drains = line.contains("four drains at once");
        seen.push(line);
        if drains {
            break;
        }
    }
    assert!(Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap()
        .success());
    seen.extend(lines.map(Result::unwrap));
    let status = child.0.wait().unwrap();
    let err = seen.join("\n");
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(
        err.contains("acceptance.sh: stopped before the end (exit 143). Deleted everything the run made: bucket "),
        "{err}"
    );
    let name = err
        .split("creating the scratch bucket ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no bucket name in:\n{err}"));
    assert_nothing_left(&emulator, name, home.path());
}

#[test]
fn it_runs_only_when_asked_and_with_credentials() {
    let home = tempfile::tempdir().unwrap();
    let out = script(None, home.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("pass --yes to go ahead"), "{err}");

    // Without the AWS CLI (PATH: only what the script needs before it checks).
    let home = tempfile::tempdir().unwrap();
    let tools = home.path().join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    std::os::unix::fs::symlink(on_path("dirname"), tools.join("dirname")).unwrap();
    let out = script(None, home.path())
        .arg("--yes")
        .env("PATH", &tools)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("acceptance.sh: needs the 'aws' command on PATH"),
        "{err}"
    );

    needs_emulators!();
    // Nothing listens on this port: no credentials can be checked.
    let closed = format!("http://127.0.0.1:{}", support::emulator::free_port());
    let home = tempfile::tempdir().unwrap();
    let out = script(Some(&closed), home.path())
        .args(["--yes", "--bin", env!("CARGO_BIN_EXE_s3-event-writer")])
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("acceptance.sh: not run: no working AWS credentials ("),
        "{err}"
    );
}

#[test]
fn keep_leaves_the_scratch_resources() {
    needs_emulators!();
    let emulator = support::Emulator::of(Kind::LocalStack);
    let home = tempfile::tempdir().unwrap();
    let out = run_bounded(script(Some(&emulator.endpoint), home.path()).args([
        "--yes",
        "--bin",
        env!("CARGO_BIN_EXE_s3-event-writer"),
        "--steps",
        "5",
        "--keep",
    ]));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_row(&rows(&stdout), "5", &["held"]);
    let name = scratch_name(&stdout);
    let note = stdout
        .lines()
        .find(|l| l.starts_with("Nothing FAILED. Kept (--keep), delete them yourself: "))
        .unwrap_or_else(|| panic!("no --keep note in:\n{stdout}"));
    assert!(
        note.contains(&format!(
            "bucket {name}, queue {name}-doctor; local files: "
        )),
        "{note}"
    );
    let (buckets, queues) = rt().block_on(async {
        let buckets = emulator.s3().await.list_buckets().send().await.unwrap();
        let queues = emulator.sqs().await.list_queues().send().await.unwrap();
        (
            buckets
                .buckets()
                .iter()
                .filter_map(|b| b.name().map(str::to_owned))
                .collect::<Vec<_>>(),
            queues.queue_urls().to_vec(),
        )
    });
    assert_eq!(buckets, std::slice::from_ref(&name));
    assert!(
        queues
            .iter()
            .any(|q| q.ends_with(&format!("{name}-doctor"))),
        "{queues:?}"
    );
    let work = note
        .rsplit("local files: ")
        .next()
        .unwrap()
        .trim_end_matches('.');
    std::fs::remove_dir_all(work).unwrap();
}
