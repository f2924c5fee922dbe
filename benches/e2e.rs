//! End-to-end drain throughput against an AWS emulator (docs/PERFORMANCE.md, "Receivers").
//!
//! `cargo bench --bench e2e` (or `bench/e2e.sh`, which installs the emulators first) stages
//! `E2E_MESSAGES` (default 200) realistic bodies (`bench/gen_messages.py`, 5 days) in a fresh
//! queue per run and drains them into a fresh S3 prefix with the binary, through the loopback
//! fault proxy, for `--receivers` 1, 2, 4, 8 (`E2E_RECEIVERS`), on LocalStack (`S3EW_EMULATOR=moto`
//! for moto):
//!
//! 1. with `E2E_DELAY_MS` (default 20) added to every request, the latency of a real AWS
//!    region: more receivers should hide it. Each median is also printed against the latency
//!    floor, (ReceiveMessage + DeleteMessageBatch calls, one each per 10 messages) x the delay /
//!    the receivers;
//! 2. without the delay: the emulator-bound throughput, next to a bare SDK loop
//!    (ReceiveMessage of 10 + DeleteMessageBatch, the same number of tasks, the same proxy) —
//!    the floor any writer on this emulator can reach.
//!
//! `E2E_ROUNDS` (default 3) rounds alternate the writer and the bare loop for each receiver
//! count, and the medians are compared as throughput (writer / bare loop): the full drain
//! against the bare loop to its end (both end with an empty long poll), the capped run against
//! the bare loop to its last delete. `E2E_NO_DELAY_SECTION=0` skips the second section;
//! `E2E_WRITER_ARGS` adds flags to every writer run (e.g. `--block-messages 100`).
//! The figure: `E2E_MESSAGES=400 E2E_DELAY_MS=250 E2E_RECEIVERS=1,8 bench/e2e.sh`.
//!
//! Each writer run is timed twice: a full drain (`--wait-secs 1`: it ends with one empty long
//! poll per receiver), and a capped run (`--max-messages N`, no
//! end-of-drain detection: the steady rate). It prints messages/second, the 8-vs-1 ratios and
//! requests per message from the proxy's counts.
//!
//! The proxy never serialises requests here, since the parallelism is what is measured, and moto
//! is not atomic under concurrent requests (two DeleteMessageBatch calls can undo each other's
//! deletes, two receives can hand out one message). So the archive is checked loosely: every
//! day is present and the queue is empty after at most one more (untimed) run; whether the
//! archive also equals the local-mode oracle byte for byte is printed, not asserted.
//!
//! Why LocalStack by default: one ReceiveMessage costs it about 2 ms whatever the queue's depth,
//! while moto 5.2.5 spends CPU time proportional to the depth, in-flight messages included, on
//! every SendMessageBatch and ReceiveMessage (about 25 ms at depth 10, 780 ms at 1000 on the
//! 2-core bench machine), all under one interpreter lock. The writer keeps its messages in flight
//! until their lines are durable, so on moto it pays for that depth and the bare loop does not:
//! moto measures moto.
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it does nothing.

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::too_many_lines
)]

// The integration tests' support module; the bench uses only part of it.
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use support::{Emulator, FaultProxy};

const BUCKET: &str = "bench";
const DAYS: usize = 5;
const VISIBILITY_SECS: u64 = 30;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bench {
    /// Kept alive for the whole run (dropping it stops the server).
    _emulator: Emulator,
    proxy: FaultProxy,
    rt: tokio::runtime::Runtime,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    bodies: Vec<String>,
    oracle: BTreeMap<String, Vec<u8>>,
    tmp: tempfile::TempDir,
    runs: usize,
    /// `E2E_WRITER_ARGS`: more flags for every writer run (to compare settings).
    writer_args: Vec<String>,
}

/// One timed writer run.
struct WriterRun {
    secs: f64,
    /// Requests seen by the proxy, per operation.
    counts: BTreeMap<String, u64>,
    /// The emulator's service time per operation (the proxy's delay excluded).
    emulator_secs: BTreeMap<String, f64>,
    /// Seconds the emulator had a request in hand.
    emulator_busy: f64,
    received: u64,
    days: usize,
    reruns: usize,
    exact: bool,
}

/// One timed bare-loop run.
struct BareRun {
    /// Seconds to the last message deleted.
    last: f64,
    /// Seconds to the end (every task had its empty receive).
    end: f64,
    deliveries: u64,
    /// Seconds the emulator had a request in hand.
    emulator_busy: f64,
    /// Its mean service time of a ReceiveMessage, in ms.
    receive_ms: f64,
}

/// Mean service time of `op` in ms.
fn mean_ms(secs: &BTreeMap<String, f64>, counts: &BTreeMap<String, u64>, op: &str) -> f64 {
    let n = counts.get(op).copied().unwrap_or(0).max(1);
    secs.get(op).copied().unwrap_or(0.0) * 1000.0 / n as f64
}

impl WriterRun {
    fn sqs_requests(&self) -> u64 {
        self.counts
            .iter()
            .filter(|(k, _)| k.starts_with("sqs:"))
            .map(|(_, v)| v)
            .sum()
    }

    /// S3 calls on day files: the preflight's one ListObjectsV2 per location is per run, not
    /// per day, and is left out.
    fn s3_requests(&self) -> u64 {
        self.counts
            .iter()
            .filter(|(k, _)| k.starts_with("s3:") && *k != "s3:ListObjectsV2")
            .map(|(_, v)| v)
            .sum()
    }

    fn count(&self, op: &str) -> u64 {
        self.counts.get(op).copied().unwrap_or(0)
    }
}

impl Bench {
    fn new(n: usize) -> Bench {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let msgs = tmp.path().join("messages.jsonl");
        let status = Command::new("python3")
            .arg(root.join("bench/gen_messages.py"))
            .arg(n.to_string())
            .arg(DAYS.to_string())
            .arg(&msgs)
            .status()
            .expect("running python3 bench/gen_messages.py");
        assert!(status.success(), "bench/gen_messages.py failed");
        let bodies: Vec<String> = std::fs::read_to_string(&msgs)
            .expect("the generated messages")
            .lines()
            .map(str::to_owned)
            .collect();
        // The oracle: the same bodies in local mode.
        let oracle_dir = tmp.path().join("oracle/prod");
        let out = writer()
            .args(["drain", "--source"])
            .arg(&msgs)
            .arg("--dest")
            .arg(&oracle_dir)
            .args(["--progress", "off"])
            .output()
            .expect("running the writer");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let oracle = support::read_dir_files(&oracle_dir);
        let emulator = Emulator::start();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let (s3, sqs) = rt.block_on(async {
            let s3 = support::s3_client(&emulator.endpoint).await;
            support::create_bucket(&s3, BUCKET).await;
            (s3, support::sqs_client(&emulator.endpoint).await)
        });
        // Never serialised, even on moto: the parallelism is what is measured.
        let proxy = FaultProxy::start(&emulator.endpoint);
        Bench {
            _emulator: emulator,
            proxy,
            rt,
            s3,
            sqs,
            bodies,
            oracle,
            tmp,
            runs: 0,
            writer_args: std::env::var("E2E_WRITER_ARGS")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        }
    }

    /// A fresh queue holding every body (staged straight into the emulator, not through the proxy).
    fn stage(&mut self) -> String {
        self.runs += 1;
        let name = format!("e2e-{}", self.runs);
        self.rt.block_on(async {
            let url = support::create_queue(&self.sqs, &name).await;
            support::send_bodies(&self.sqs, &url, &self.bodies).await;
            url
        })
    }

    fn drop_queue(&self, url: &str) {
        self.rt.block_on(async {
            let _ = self.sqs.delete_queue().queue_url(url).send().await;
        });
    }

    fn depth(&self, url: &str) -> (u64, u64) {
        self.rt.block_on(support::queue_depth(&self.sqs, url))
    }

    fn drain_cmd(&self, queue: &str, prefix: &str, receivers: usize, extra: &[&str]) -> Command {
        let mut c = writer();
        for (k, v) in support::env_for(&self.proxy.endpoint) {
            c.env(k, v);
        }
        c.args(["drain", "--source", queue, "--dest"])
            .arg(format!("s3://{BUCKET}/{prefix}/"))
            .args(["--quarantine"])
            .arg(format!("s3://{BUCKET}/{prefix}-quarantine/"))
            .args([
                "--wait-secs",
                "1",
                "--progress",
                "off",
                "--visibility-timeout",
                &VISIBILITY_SECS.to_string(),
                "--receivers",
                &receivers.to_string(),
            ])
            .args(extra)
            .args(self.writer_args.iter());
        c
    }

    /// Drains a fresh queue with `receivers`; `capped` adds `--max-messages N`.
    fn writer_run(&mut self, receivers: usize, capped: bool) -> WriterRun {
        let queue = self.stage();
        let prefix = format!("run-{}", self.runs);
        let report = self.tmp.path().join(format!("{prefix}.json"));
        let n = self.bodies.len().to_string();
        let mut extra = vec!["--report", report.to_str().expect("a UTF-8 path")];
        if capped {
            extra.extend(["--max-messages", &n]);
        }
        let mut cmd = self.drain_cmd(&queue, &prefix, receivers, &extra);
        self.proxy.reset_counts();
        let started = Instant::now();
        let out = cmd.output().expect("running the writer");
        let secs = started.elapsed().as_secs_f64();
        let counts = self.proxy.counts();
        let emulator_secs = self.proxy.upstream_secs();
        let emulator_busy = self.proxy.upstream_busy_secs();
        assert!(
            out.status.success(),
            "the writer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).expect("the report")).expect("JSON");
        let received = r["received"].as_u64().unwrap_or(0);
        // Loose checks (see the module docs): the queue empties with at most one more run.
        let mut reruns = 0;
        loop {
            let (visible, in_flight) = self.depth(&queue);
            if visible == 0 && in_flight == 0 {
                break;
            }
            assert!(
                reruns < 2,
                "the queue still holds {visible} + {in_flight} messages after {reruns} reruns"
            );
            if in_flight > 0 {
                // Deletes the emulator lost (moto): those messages come back after their visibility timeout.
                std::thread::sleep(Duration::from_secs(VISIBILITY_SECS + 1));
            }
            let out = self
                .drain_cmd(&queue, &prefix, receivers, &[])
                .output()
                .expect("running the writer");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            reruns += 1;
        }
        let archive = self
            .rt
            .block_on(support::download_prefix(&self.s3, BUCKET, &prefix));
        assert_eq!(
            archive.keys().collect::<Vec<_>>(),
            self.oracle.keys().collect::<Vec<_>>(),
            "every day is in the archive"
        );
        self.drop_queue(&queue);
        WriterRun {
            secs,
            counts,
            emulator_secs,
            emulator_busy,
            received,
            days: archive.len(),
            reruns,
            exact: archive == self.oracle,
        }
    }

    /// The bare loop: `tasks` tasks of ReceiveMessage (10) + DeleteMessageBatch through the
    /// proxy until each gets an empty receive.
    fn bare_run(&mut self, tasks: usize) -> BareRun {
        let queue = self.stage();
        self.proxy.reset_counts();
        let endpoint = self.proxy.endpoint.clone();
        let result = self.rt.block_on(async move {
            let sqs = support::sqs_client(&endpoint).await;
            let started = Instant::now();
            let last = Arc::new(std::sync::Mutex::new(Duration::ZERO));
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let sqs = sqs.clone();
                    let queue = queue.clone();
                    let last = last.clone();
                    tokio::spawn(async move {
                        let mut got = 0u64;
                        loop {
                            let out = sqs
                                .receive_message()
                                .queue_url(&queue)
                                .max_number_of_messages(10)
                                .wait_time_seconds(1)
                                .visibility_timeout(VISIBILITY_SECS as i32)
                                .send()
                                .await
                                .expect("ReceiveMessage");
                            let msgs = out.messages.unwrap_or_default();
                            if msgs.is_empty() {
                                return got;
                            }
                            got += msgs.len() as u64;
                            let entries: Vec<_> = msgs
                                .iter()
                                .enumerate()
                                .map(|(i, m)| {
                                    DeleteMessageBatchRequestEntry::builder()
                                        .id(i.to_string())
                                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                                        .build()
                                        .expect("an entry")
                                })
                                .collect();
                            sqs.delete_message_batch()
                                .queue_url(&queue)
                                .set_entries(Some(entries))
                                .send()
                                .await
                                .expect("DeleteMessageBatch");
                            let mut l = last.lock().expect("lock");
                            *l = (*l).max(started.elapsed());
                        }
                    })
                })
                .collect();
            let mut deliveries = 0;
            for h in handles {
                deliveries += h.await.expect("a bare-loop task");
            }
            let end = started.elapsed().as_secs_f64();
            let last = last.lock().expect("lock").as_secs_f64();
            (last, end, deliveries, queue)
        });
        let (last, end, deliveries, queue) = result;
        let upstream = self.proxy.upstream_secs();
        self.drop_queue(&queue);
        BareRun {
            last,
            end,
            deliveries,
            emulator_busy: self.proxy.upstream_busy_secs(),
            receive_ms: mean_ms(&upstream, &self.proxy.counts(), "sqs:ReceiveMessage"),
        }
    }
}

/// The writer, with the caller's environment kept from steering it (the tests' helper).
fn writer() -> Command {
    let mut c = support::bin();
    c.env("RUST_LOG", "error");
    c
}

/// The least time `receivers` receivers can drain `n` messages in when every request takes
/// `delay_ms`: one ReceiveMessage and one DeleteMessageBatch per 10 messages, spread over the
/// receivers, one after another on each.
fn latency_floor(n: usize, receivers: usize, delay_ms: u64) -> f64 {
    let requests = 2 * n.div_ceil(10);
    requests as f64 * delay_ms as f64 / 1000.0 / receivers.max(1) as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("e2e: run with `cargo bench --bench e2e` (or bench/e2e.sh); nothing to do here");
        return;
    }
    let n: usize = env_or("E2E_MESSAGES", 200);
    let delay_ms: u64 = env_or("E2E_DELAY_MS", 20);
    let rounds: usize = env_or("E2E_ROUNDS", 3).max(1);
    let receivers: Vec<usize> = std::env::var("E2E_RECEIVERS")
        .unwrap_or_else(|_| "1,2,4,8".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let first = *receivers
        .first()
        .expect("E2E_RECEIVERS lists receiver counts");
    let most = *receivers
        .last()
        .expect("E2E_RECEIVERS lists receiver counts");
    println!(
        "e2e: {n} messages over {DAYS} days per run, a fresh queue and S3 prefix per run, on {:?} (S3EW_EMULATOR), writer {} (bench profile)",
        support::Kind::for_suite(),
        PathBuf::from(env!("CARGO_BIN_EXE_s3-event-writer")).display()
    );
    let mut b = Bench::new(n);
    let days = b.oracle.len();

    let mut sections = vec![(format!("proxy delay {delay_ms} ms per request"), delay_ms)];
    if env_or("E2E_NO_DELAY_SECTION", 1) == 1 {
        sections.push(("no proxy delay (emulator-bound)".to_owned(), 0));
    }
    for (label, delay) in sections {
        b.proxy.set_delay(Duration::from_millis(delay));
        println!("\n== {label}");
        println!(
            "receivers | full drain        | capped (--max-messages) | bare loop (to last msg / to end) | SQS req/msg (Receive, DeleteBatch, other) | S3 req/day | reruns, exact"
        );
        let mut full = BTreeMap::new();
        let mut capped = BTreeMap::new();
        let mut bare = BTreeMap::new();
        let mut bare_to_end = BTreeMap::new();
        for &r in &receivers {
            // Alternating rounds, so drift in the machine's load touches both sides alike.
            let (mut fulls, mut caps, mut bares, mut bare_ends) = (vec![], vec![], vec![], vec![]);
            for round in 1..=rounds {
                let run = b.writer_run(r, false);
                let cap = b.writer_run(r, true);
                let bare_run = b.bare_run(r);
                let (bare_last, bare_end, deliveries) =
                    (bare_run.last, bare_run.end, bare_run.deliveries);
                let sqs = run.sqs_requests();
                let other =
                    sqs - run.count("sqs:ReceiveMessage") - run.count("sqs:DeleteMessageBatch");
                println!(
                    "{r:9} | {:6.0} msg/s {:5.2}s | {:6.0} msg/s {:5.2}s      | {:6.0} / {:6.0} msg/s ({deliveries} deliveries) | {:.3} ({}, {}, {other}); capped {:.3} | {:.1} | {}+{}, {}/{} (round {round})",
                    rate(n, run.secs),
                    run.secs,
                    rate(n, cap.secs),
                    cap.secs,
                    rate(n, bare_last),
                    rate(n, bare_end),
                    sqs as f64 / n as f64,
                    run.count("sqs:ReceiveMessage"),
                    run.count("sqs:DeleteMessageBatch"),
                    cap.sqs_requests() as f64 / n as f64,
                    run.s3_requests() as f64 / run.days.max(1) as f64,
                    run.reruns,
                    cap.reruns,
                    run.exact,
                    cap.exact,
                );
                println!(
                    "          emulator busy (a request in hand): writer {:.1} s of {:.1} s (ReceiveMessage {:.0} ms each, DeleteMessageBatch {:.0} ms), capped {:.1} s of {:.1} s; bare loop {:.1} s of {:.1} s (ReceiveMessage {:.0} ms each)",
                    run.emulator_busy,
                    run.secs,
                    mean_ms(&run.emulator_secs, &run.counts, "sqs:ReceiveMessage"),
                    mean_ms(&run.emulator_secs, &run.counts, "sqs:DeleteMessageBatch"),
                    cap.emulator_busy,
                    cap.secs,
                    bare_run.emulator_busy,
                    bare_end,
                    bare_run.receive_ms,
                );
                if run.received > n as u64 || cap.received > n as u64 {
                    println!(
                        "          (the emulator handed out duplicates: received {} / {})",
                        run.received, cap.received
                    );
                }
                fulls.push(run.secs);
                caps.push(cap.secs);
                bares.push(bare_last);
                bare_ends.push(bare_end);
            }
            let (f, c, bl, be) = (
                median(fulls),
                median(caps),
                median(bares),
                median(bare_ends),
            );
            println!(
                "{r:9} | median of {rounds}: full drain {:.0} msg/s vs bare loop to its end {:.0} msg/s = {:.2}x; capped {:.0} msg/s vs bare loop to its last delete {:.0} msg/s = {:.2}x (throughput, writer / bare)",
                rate(n, f),
                rate(n, be),
                be / f,
                rate(n, c),
                rate(n, bl),
                bl / c,
            );
            if delay > 0 {
                let floor = latency_floor(n, r, delay);
                println!(
                    "{r:9} | latency floor (receives + deletes) x {delay} ms / {r} receivers = {floor:.2}s: full drain {:.2}x it, capped {:.2}x it, bare loop {:.2}x it (time / floor)",
                    f / floor,
                    c / floor,
                    bl / floor,
                );
            }
            full.insert(r, f);
            capped.insert(r, c);
            bare.insert(r, bl);
            bare_to_end.insert(r, be);
        }
        if first != most {
            println!(
                "{most} vs {first} receivers (medians): full drain {:.2}x, capped {:.2}x, bare loop {:.2}x (to its last delete), {:.2}x (to its end)",
                full[&first] / full[&most],
                capped[&first] / capped[&most],
                bare[&first] / bare[&most],
                bare_to_end[&first] / bare_to_end[&most],
            );
        }
        println!(
            "floor: {:.2} SQS requests/message (1 ReceiveMessage + 1 DeleteMessageBatch per 10) plus the final empty polls; 2 S3 calls for each of the {days} days",
            0.2
        );
    }
}
