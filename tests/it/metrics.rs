//! `drain --metrics emf`: CloudWatch Embedded Metric Format records on stdout, one per flush.
//!
//! Checks, on the real binary, that stdout holds nothing but the records (logs and the summary
//! stay on stderr), that the records of a run add up to its report (locally over several
//! blocks, and against the AWS emulator with deletes and a read-merge-write retry), how the
//! setting is chosen (flag, environment, config file), how bad values are refused, and that
//! `--github-summary`'s annotations and the records share stdout line by line.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::float_cmp
)] // counts as CloudWatch values: whole numbers

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{
    self, bin, bodies_of, fixture, needs_emulators, read_json, rt, run, run_ok, Emulator, Fault,
    BUCKET, PREFIX,
};

const METRICS: [&str; 8] = [
    "Received",
    "Kept",
    "Dropped",
    "Quarantined",
    "Deleted",
    "Failures",
    "ConflictRetries",
    "DurationSeconds",
];

fn example_messages() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/messages.jsonl")
}

/// Every stdout line as an EMF record; panics on a line that is not one.
fn records(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v["_aws"]["CloudWatchMetrics"].is_array(), "not EMF: {l}");
            v
        })
        .collect()
}

fn sum(records: &[serde_json::Value], name: &str) -> u64 {
    records
        .iter()
        .map(|r| r[name].as_u64().unwrap_or_else(|| panic!("{name} in {r}")))
        .sum()
}

/// The records' sums equal the report's counts.
fn assert_sums_match(records: &[serde_json::Value], report: &serde_json::Value) {
    for (metric, field) in [
        ("Received", "received"),
        ("Kept", "kept"),
        ("Dropped", "dropped"),
        ("Quarantined", "quarantined"),
        ("Deleted", "deleted"),
        ("ConflictRetries", "conflict_retries"),
    ] {
        assert_eq!(
            sum(records, metric),
            report[field].as_u64().unwrap(),
            "{metric} vs the report's {field}"
        );
    }
    assert_eq!(
        sum(records, "Failures"),
        report["failures"].as_array().unwrap().len() as u64
    );
}

fn drain_examples(tmp: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let report = tmp.join("r.json");
    let dest = tmp.join("prod");
    let msgs = example_messages();
    let mut args = vec![
        "drain",
        "--source",
        msgs.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--progress",
        "off",
    ];
    args.extend_from_slice(extra);
    (run(&args), report)
}

#[test]
fn one_record_per_block_on_stdout_summing_to_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, report) =
        drain_examples(tmp.path(), &["--metrics", "emf", "--block-messages", "100"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&out);
    let report = read_json(&report);
    let received = report["received"].as_u64().unwrap();
    assert!(received > 500, "the examples are a real sample: {received}");
    assert_eq!(
        recs.len() as u64,
        received.div_ceil(100),
        "one record per block"
    );
    assert!(recs.iter().all(|r| r["Received"].as_u64().unwrap() <= 100));
    assert_sums_match(&recs, &report);
    for r in &recs {
        let directive = &r["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "s3-event-writer");
        assert_eq!(directive["Dimensions"], serde_json::json!([[]]));
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, METRICS);
        assert!(r["DurationSeconds"].as_f64().unwrap() >= 0.0);
        assert!(
            r["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000,
            "milliseconds"
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("received {received} ")),
        "the summary stays on stderr: {stderr}"
    );
}

#[test]
fn the_record_shown_in_deploy_md_is_what_the_examples_first_block_prints() {
    let doc =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/DEPLOY.md")).unwrap();
    let section = &doc[doc.find("## Metrics").expect("a Metrics section")..];
    let json = section
        .lines()
        .find(|l| l.starts_with("{\"_aws\""))
        .expect("an example record");
    let mut shown: serde_json::Value = serde_json::from_str(json).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (out, _) = drain_examples(tmp.path(), &["--metrics", "emf", "--block-messages", "100"]);
    let mut first = records(&out).remove(0);
    for v in [&mut shown, &mut first] {
        // The time and the duration differ from run to run.
        v["_aws"]["Timestamp"] = 0.into();
        v["DurationSeconds"] = 0.into();
    }
    assert_eq!(shown, first);
}

#[test]
fn metrics_are_off_by_default_and_chosen_by_flag_then_environment_then_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, _) = drain_examples(tmp.path(), &[]);
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "off by default: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    let config = tmp.path().join("c.toml");
    fs::write(
        &config,
        "metrics = \"emf\"\nmetrics_namespace = \"Team/Writer\"\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (out, _) = drain_examples(tmp.path(), &["--config", config]);
    let recs = records(&out);
    assert!(!recs.is_empty());
    assert_eq!(
        recs[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "Team/Writer"
    );

    let env_run = |extra: &[&str]| {
        let dest = tmp.path().join("prod");
        let mut c = bin();
        c.env("S3EW_METRICS", "emf")
            .env("S3EW_METRICS_NAMESPACE", "FromEnv");
        c.args(["drain", "--source", example_messages().to_str().unwrap()]);
        c.args([
            "--dest",
            dest.to_str().unwrap(),
            "--config",
            config,
            "--progress",
            "off",
        ]);
        c.args(extra);
        run_ok(&mut c)
    };
    let recs = records(&env_run(&[]));
    assert_eq!(recs.len(), 1, "one block");
    assert_eq!(
        recs[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "FromEnv",
        "the environment wins over the config file"
    );
    let out = env_run(&["--metrics", "off"]);
    assert!(out.stdout.is_empty(), "the flag wins over the environment");
}

#[test]
fn bad_metrics_settings_are_usage_errors_naming_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, _) = drain_examples(tmp.path(), &["--metrics", "yes"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--metrics") && stderr.contains("emf"),
        "{stderr}"
    );

    let (out, _) = drain_examples(
        tmp.path(),
        &["--metrics", "emf", "--metrics-namespace", ":x"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--metrics-namespace") && stderr.contains("\":x\""),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing ran, nothing to count");

    let config = tmp.path().join("bad.toml");
    fs::write(&config, "metrics = \"yes\"\n").unwrap();
    let (out, _) = drain_examples(tmp.path(), &["--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("metrics"),
        "{stderr}"
    );
}

#[test]
fn a_drain_that_cannot_run_prints_one_record_with_one_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.jsonl");
    let out = run(&[
        "drain",
        "--source",
        missing.to_str().unwrap(),
        "--dest",
        tmp.path().join("prod").to_str().unwrap(),
        "--metrics",
        "emf",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&out);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["Failures"], 1);
    assert_eq!(recs[0]["Received"], 0);
}

#[test]
fn with_github_summary_every_stdout_line_is_a_record_or_an_annotation() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("prod");
    fs::create_dir_all(dest.join("20261123")).unwrap(); // a directory where a day file should be
    let summary = tmp.path().join("summary.md");
    let report = tmp.path().join("r.json");
    let msgs = fixture("malformed").join("messages.jsonl");
    let mut c = bin();
    c.env("GITHUB_STEP_SUMMARY", &summary);
    c.args([
        "drain",
        "--source",
        msgs.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
    ]);
    c.args(["--report", report.to_str().unwrap(), "--progress", "off"]);
    c.args([
        "--metrics",
        "emf",
        "--github-summary",
        "--block-messages",
        "4",
    ]);
    let out = c.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let (annotations, emf): (Vec<&str>, Vec<&str>) =
        stdout.lines().partition(|l| l.starts_with("::"));
    assert!(
        annotations
            .iter()
            .any(|l| l.starts_with("::error") && l.contains("20261123")),
        "{stdout}"
    );
    let recs: Vec<serde_json::Value> = emf
        .iter()
        .map(|l| serde_json::from_str(l).expect("a whole EMF line"))
        .collect();
    assert!(recs.len() >= 2, "several blocks: {stdout}");
    assert_sums_match(&recs, &read_json(&report));
    assert!(sum(&recs, "Failures") >= 1);
    assert!(fs::read_to_string(&summary).unwrap().contains("20261123"));
}

/// Against the emulator: deletes are counted, and so is the read-merge-write that another
/// writer's edit between our GET and PUT forces.
#[test]
fn emulator_records_count_deletes_and_conflict_retries() {
    needs_emulators!();
    let bodies: Vec<String> = bodies_of("emulator").into_iter().take(150).collect();
    let emulator = Emulator::start();
    let rt = rt();
    let queue = rt.block_on(async {
        let s3 = support::s3_client(&emulator.endpoint).await;
        let sqs = support::sqs_client(&emulator.endpoint).await;
        support::create_bucket(&s3, BUCKET).await;
        support::upload_dir(&s3, BUCKET, PREFIX, &fixture("emulator").join("existing")).await;
        let queue = support::create_queue(&sqs, "events").await;
        support::send_bodies(&sqs, &queue, &bodies).await;
        queue
    });
    let proxy = emulator.proxy();
    let endpoint = emulator.endpoint.clone();
    // Just before our PUT of 20261126, another writer rewrites that object: 412, a retry.
    proxy.inject_on_path(
        "s3:PutObject",
        "20261126",
        Fault::hook(move || {
            let endpoint = endpoint.clone();
            support::block_on_fresh(async move {
                let s3 = support::s3_client(&endpoint).await;
                let key = format!("{PREFIX}20261126");
                let mut body = support::get_object(&s3, BUCKET, &key)
                    .await
                    .unwrap_or_default();
                body.extend_from_slice(b"{\"other\": \"writer\"}\n");
                support::put_object(&s3, BUCKET, &key, body).await;
            });
        }),
        1,
    );
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("r.json");
    let mut c = bin();
    for (k, v) in support::env_for(&proxy.endpoint) {
        c.env(k, v);
    }
    c.args([
        "drain",
        "--source",
        &queue,
        "--dest",
        "s3://logpublish/events/prod/",
    ]);
    c.args(["--wait-secs", "1", "--progress", "off", "--receivers", "1"]);
    c.args(["--block-messages", "50", "--metrics", "emf"]);
    c.arg("--report").arg(&report);
    let out = run_ok(&mut c);
    let recs = records(&out);
    let report = read_json(&report);
    assert!(
        recs.len() >= 3,
        "150 messages in blocks of 50: {}",
        recs.len()
    );
    assert_sums_match(&recs, &report);
    assert_eq!(sum(&recs, "Received"), 150);
    assert_eq!(
        sum(&recs, "Deleted"),
        150,
        "every message deleted, and counted"
    );
    assert_eq!(proxy.injected("s3:PutObject"), 1);
    assert!(
        sum(&recs, "ConflictRetries") >= 1,
        "the 412 was retried and counted"
    );
}

/// `--metric-data FILE` as `aws cloudwatch put-metric-data --cli-input-json` reads it:
/// `(name, value)` in order, after checking the namespace and that every datum has a unit and no
/// dimensions.
fn metric_data(path: &Path) -> Vec<(String, f64)> {
    let v = read_json(path);
    assert_eq!(v["Namespace"], "s3-event-writer", "{v}");
    v["MetricData"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert!(
                d["Unit"].is_string() && d.get("Dimensions").is_none(),
                "{d}"
            );
            (
                d["MetricName"].as_str().unwrap().to_owned(),
                d["Value"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn datum(data: &[(String, f64)], name: &str) -> f64 {
    data.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name} in {data:?}"))
        .1
}

#[test]
fn metric_data_holds_the_run_totals_and_counts_a_successful_run_only_on_exit_status_0() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("metric-data.json");
    let file_arg = file.to_str().unwrap();

    // Exit status 0: the report's totals and one successful run.
    let (out, report) = drain_examples(tmp.path(), &["--metric-data", file_arg]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = metric_data(&file);
    let names: Vec<&str> = data.iter().map(|(n, _)| n.as_str()).collect();
    let mut expected = METRICS.to_vec();
    expected.push("SuccessfulRuns");
    assert_eq!(names, expected);
    let report = read_json(&report);
    for (metric, field) in [
        ("Received", "received"),
        ("Kept", "kept"),
        ("Dropped", "dropped"),
        ("Quarantined", "quarantined"),
        ("Deleted", "deleted"),
        ("ConflictRetries", "conflict_retries"),
    ] {
        assert_eq!(
            datum(&data, metric),
            report[field].as_f64().unwrap(),
            "{metric}"
        );
    }
    assert!(datum(&data, "Received") > 500.0);
    assert_eq!(datum(&data, "Failures"), 0.0);
    assert_eq!(datum(&data, "SuccessfulRuns"), 1.0);

    // A dry run (set by the variable this time) drains nothing: not a successful run.
    fs::remove_file(&file).unwrap();
    let msgs = example_messages();
    let out = bin()
        .env("S3EW_METRIC_DATA", &file)
        .args(["drain", "--dry-run", "--progress", "off", "--source"])
        .arg(&msgs)
        .arg("--dest")
        .arg(tmp.path().join("dry"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = metric_data(&file);
    assert!(datum(&data, "Received") > 0.0);
    assert_eq!(datum(&data, "SuccessfulRuns"), 0.0);
}

#[test]
fn metric_data_of_a_partial_run_and_of_a_run_that_cannot_start_count_failures_and_no_success() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("metric-data.json");
    let file_arg = file.to_str().unwrap();

    // Exit status 1: a day file cannot be written (a directory stands where it should be).
    let dest = tmp.path().join("prod");
    fs::create_dir_all(dest.join("20261123")).unwrap();
    let report = tmp.path().join("r.json");
    let msgs = fixture("malformed").join("messages.jsonl");
    let out = run(&[
        "drain",
        "--source",
        msgs.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--metric-data",
        file_arg,
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = metric_data(&file);
    let failures = read_json(&report)["failures"].as_array().unwrap().len();
    assert!(failures > 0);
    assert_eq!(datum(&data, "Failures"), failures as f64);
    assert_eq!(datum(&data, "SuccessfulRuns"), 0.0);

    // Exit status 3: one failure, as the EMF record of such a run.
    fs::remove_file(&file).unwrap();
    let out = run(&[
        "drain",
        "--source",
        tmp.path().join("missing.jsonl").to_str().unwrap(),
        "--dest",
        tmp.path().join("other").to_str().unwrap(),
        "--metric-data",
        file_arg,
    ]);
    assert_eq!(out.status.code(), Some(3));
    let data = metric_data(&file);
    assert_eq!(datum(&data, "Failures"), 1.0);
    assert_eq!(datum(&data, "Received"), 0.0);
    assert_eq!(datum(&data, "SuccessfulRuns"), 0.0);

    // Exit status 2: nothing was read and nothing is written.
    fs::remove_file(&file).unwrap();
    let out = run(&["drain", "--block-messages", "0", "--metric-data", file_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!file.exists(), "no metric data on a usage error");
}

/// The hourly workflow's publish step, as it runs there: `aws cloudwatch put-metric-data
/// --cli-input-json file://metric-data.json` (the AWS CLI checks the input against the API's
/// model before sending) accepts the file, and CloudWatch (moto's) then holds every metric in the
/// namespace the alarms watch.
#[test]
fn the_hourly_workflows_publish_command_accepts_the_metric_data() {
    needs_emulators!();
    let workflow = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/hourly.yml"),
    )
    .unwrap();
    let command = "aws cloudwatch put-metric-data --cli-input-json file://metric-data.json";
    assert!(workflow.contains(command), "the workflow's step changed");

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("metric-data.json");
    let (out, _) = drain_examples(tmp.path(), &["--metric-data", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));

    let emulator = Emulator::of(support::Kind::Moto);
    let aws = support::emulator::cache_dir().join("localstack-venv/bin/aws");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(&aws)
            .current_dir(tmp.path())
            .envs(emulator.env_for(&emulator.endpoint))
            .args([
                "--endpoint-url",
                &emulator.endpoint,
                "--region",
                "us-west-2",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let words: Vec<&str> = command.split(' ').skip(1).collect();
    cli(&words);
    let listed: serde_json::Value = serde_json::from_str(&cli(&[
        "cloudwatch",
        "list-metrics",
        "--namespace",
        "s3-event-writer",
        "--output",
        "json",
    ]))
    .unwrap();
    let mut names: Vec<&str> = listed["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["Dimensions"], serde_json::json!([]), "{m}");
            m["MetricName"].as_str().unwrap()
        })
        .collect();
    names.sort_unstable();
    let mut expected = METRICS.to_vec();
    expected.push("SuccessfulRuns");
    expected.sort_unstable();
    assert_eq!(names, expected);
}
