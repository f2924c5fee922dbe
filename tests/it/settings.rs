//! The one settings layer, through the binary: every command reads `--config` (and
//! `S3EW_CONFIG`), and the Lambda function reads the same variables as the flags.

use std::fs;

use crate::support::{bin, fixture, run, text};

fn metrics_line(channel: &str) -> String {
    format!("2022-07-04 12:00:00,250 UNIQUEID=1.1, CHANNEL={channel}, CALLERID(number)=+15035550100, name=filterdial")
}

#[test]
fn every_command_reads_its_settings_from_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("prod");
    let config = tmp.path().join("writer.toml");
    let sample = fixture("malformed").join("messages.jsonl");
    // The config names the source and the archive; no command below is given either.
    fs::write(
        &config,
        format!(
            "source = {:?}\ndest = {:?}\nprod_hosts = [\"futel-prod.phu73l.net\"]\n",
            sample.to_str().unwrap(),
            dest.to_str().unwrap()
        ),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let out = run(&["drain", "--config", c, "--progress", "off"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        dest.read_dir().unwrap().count() > 0,
        "drain wrote into the configured dest"
    );
    let quarantine = tmp.path().join("quarantine");
    for (argv, place) in [
        (&["verify", "--config", c][..], &dest),
        (&["quarantine", "list", "--config", c], &quarantine),
        (&["doctor", "--config", c], &dest),
    ] {
        let out = run(argv);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{argv:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let all = text(&out.stdout) + &text(&out.stderr);
        assert!(
            all.contains(place.to_str().unwrap()),
            "{argv:?} names the configured location: {all}"
        );
    }
    let lines: usize = crate::support::tree(&dest)
        .values()
        .map(|b| text(b).lines().count())
        .sum();
    let out = run(&["stats", "--config", c]);
    assert!(
        text(&out.stdout).starts_with(&format!("{lines} lines by event")),
        "stats counts the configured archive's {lines} lines: {}",
        text(&out.stdout)
    );
    // The same file through S3EW_CONFIG.
    let out = bin()
        .args(["verify"])
        .env("S3EW_CONFIG", c)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_flag_beats_the_environment_and_the_environment_beats_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let [file, env, flag] = ["file", "env", "flag"].map(|d| tmp.path().join(d).join("prod"));
    let config = tmp.path().join("writer.toml");
    fs::write(&config, format!("dest = {:?}\n", file.to_str().unwrap())).unwrap();
    let sample = fixture("malformed").join("messages.jsonl");
    let drain = |dest_flag: Option<&std::path::Path>, dest_env: Option<&std::path::Path>| {
        let mut c = bin();
        c.args(["drain", "--progress", "off", "--source"])
            .arg(&sample)
            .arg("--config")
            .arg(&config);
        if let Some(d) = dest_flag {
            c.arg("--dest").arg(d);
        }
        if let Some(d) = dest_env {
            c.env("S3EW_DEST", d);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    };
    drain(None, None);
    assert!(file.exists(), "the file beats the default");
    drain(None, Some(&env));
    assert!(env.exists(), "the environment beats the file");
    fs::remove_dir_all(&env).unwrap();
    drain(Some(&flag), Some(&env));
    assert!(
        flag.exists() && !env.exists(),
        "the flag beats the environment"
    );
}

#[test]
fn backfill_applies_the_configured_rules() {
    // The drift this guards: backfill once ignored the config file's rule lists.
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("metrics.log");
    fs::write(&log, metrics_line("SIP/630-1") + "\n").unwrap();
    let dest = tmp.path().join("prod");
    let config = tmp.path().join("writer.toml");
    fs::write(&config, "drop_channel_containing = [\"SIP/630\"]\n").unwrap();
    let out = run(&[
        "backfill",
        "--source",
        log.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("dropped by channel: 1"), "{stderr}");
    assert!(!dest.join("20220704").exists(), "nothing kept");
}

#[test]
fn an_unknown_config_key_is_a_usage_error_for_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("writer.toml");
    fs::write(&config, "destination = \"/x\"\n").unwrap();
    let c = config.to_str().unwrap();
    for argv in [
        &["drain", "--source", "-", "--config", c][..],
        &["verify", "--config", c],
        &["stats", "--config", c],
        &["compare", "x", "y", "--config", c],
        &["doctor", "--config", c],
        &["backfill", "--source", "x", "--config", c],
        &[
            "requeue",
            "--from",
            "x",
            "--to",
            "https://sqs.us-west-2.amazonaws.com/1/q",
            "--config",
            c,
        ],
        &["quarantine", "list", "--config", c],
    ] {
        let out = run(argv);
        assert_eq!(out.status.code(), Some(2), "{argv:?}");
        assert!(
            text(&out.stderr).contains("is not valid"),
            "{argv:?}: {}",
            text(&out.stderr)
        );
    }
}

/// The function as Lambda starts it: no arguments, `AWS_LAMBDA_RUNTIME_API` set. Settings that
/// cannot be used stop it before it contacts the runtime, naming the variable.
fn lambda_start() -> std::process::Command {
    let mut c = bin();
    c.env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9");
    c
}

#[test]
fn the_lambda_function_reads_the_same_variables_as_the_flags() {
    let out = lambda_start().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("S3EW_DEST is not set"),
        "{}",
        text(&out.stderr)
    );

    let out = lambda_start()
        .env("S3EW_DEST", "s3://b/events/prod/")
        .env("S3EW_QUARANTINE_VERBATIM", "sometimes")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("error: S3EW_QUARANTINE_VERBATIM: "),
        "{}",
        text(&out.stderr)
    );

    let out = lambda_start()
        .env("S3EW_DEST", "s3://b/events/prod/")
        .env("S3EW_MAX_ATTEMPTS", "many")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("S3EW_MAX_ATTEMPTS: "),
        "{}",
        text(&out.stderr)
    );

    // S3EW_CONFIG is read too: a file the function cannot use stops it.
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("writer.toml");
    fs::write(
        &config,
        "dest = \"s3://b/events/prod/\"\nmax_attempts = \"five\"\n",
    )
    .unwrap();
    let out = lambda_start().env("S3EW_CONFIG", &config).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not valid"),
        "{}",
        text(&out.stderr)
    );
}

/// `--part-size-bytes` is held to S3's limits at start-up (exit 2, nothing read), unless the
/// emulators' hidden `S3EW_MIN_PART_SIZE_BYTES` lowers the minimum.
#[test]
fn a_part_size_outside_s3s_limits_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("prod");
    let sample = fixture("malformed").join("messages.jsonl");
    let drain = |part: &str, min: Option<&str>| {
        let mut c = bin();
        c.args(["drain", "--progress", "off", "--source"])
            .arg(&sample)
            .arg("--dest")
            .arg(&dest)
            .args(["--part-size-bytes", part]);
        if let Some(min) = min {
            c.env("S3EW_MIN_PART_SIZE_BYTES", min);
        }
        c.output().unwrap()
    };
    for part in ["1048576", "5368709121"] {
        let out = drain(part, None);
        assert_eq!(out.status.code(), Some(2), "{part}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("--part-size-bytes {part} "))
                && err.contains("5242880..=5368709120 bytes (5 MiB to 5 GiB)"),
            "{err}"
        );
        assert!(!dest.exists(), "{part}: nothing was written");
    }
    let out = drain("5242880", None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = drain("1048576", Some("1048576"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
