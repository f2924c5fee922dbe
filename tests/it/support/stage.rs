//! A staged emulator: an emulator of the test's own with the archive's bucket (and, for `drain`,
//! a queue), the fault proxy in front of it, and the binary pointed at the proxy.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::{
    bin, create_bucket, create_queue, create_queue_with_dlq, download_prefix, env_for, put_object,
    queue_depth, rt, s3_client, send_bodies, sqs_client, upload_dir, Emulator, FaultProxy,
};

/// The archive's bucket.
pub const BUCKET: &str = "logpublish";
/// The archive: `drain --dest`.
pub const DEST: &str = "s3://logpublish/events/prod/";
/// The key prefix of [`DEST`]'s day objects.
pub const PREFIX: &str = "events/prod/";
/// The key prefix of the quarantine records.
pub const QPREFIX: &str = "events/quarantine/";

/// A staged emulator: the bucket with day objects under [`PREFIX`], and for `drain` a queue
/// `events` holding the bodies (with a dead-letter queue when asked).
#[derive(Debug)]
pub struct Stage {
    /// In front of the emulator (see [`Emulator::proxy`]); tests inject their faults here.
    pub proxy: FaultProxy,
    pub emulator: Emulator,
    pub rt: tokio::runtime::Runtime,
    /// Clients talking to the emulator directly (not through the proxy).
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    queue: Option<String>,
    pub dlq: Option<String>,
}

impl Stage {
    /// `existing`'s day files under [`PREFIX`] and a queue holding `bodies` (with a dead-letter
    /// queue after `dlq_max_receives` receives when given).
    pub fn new(existing: &Path, bodies: &[String], dlq_max_receives: Option<u32>) -> Stage {
        Stage::on(Emulator::start(), existing, bodies, dlq_max_receives)
    }

    /// [`Stage::new`] on a given emulator.
    pub fn on(
        emulator: Emulator,
        existing: &Path,
        bodies: &[String],
        dlq_max_receives: Option<u32>,
    ) -> Stage {
        Stage::start(emulator, Some(existing), Some((bodies, dlq_max_receives)))
    }

    /// A bucket only, holding `archive`'s files under [`PREFIX`] (none when `None`); the tests
    /// create their queues themselves.
    pub fn bucket(archive: Option<&Path>) -> Stage {
        Stage::bucket_on(Emulator::start(), archive)
    }

    /// [`Stage::bucket`] on a given emulator.
    pub fn bucket_on(emulator: Emulator, archive: Option<&Path>) -> Stage {
        Stage::start(emulator, archive, None)
    }

    fn start(
        emulator: Emulator,
        archive: Option<&Path>,
        queue: Option<(&[String], Option<u32>)>,
    ) -> Stage {
        let rt = rt();
        let (s3, sqs, queue, dlq) = rt.block_on(async {
            let s3 = s3_client(&emulator.endpoint).await;
            let sqs = sqs_client(&emulator.endpoint).await;
            create_bucket(&s3, BUCKET).await;
            if let Some(dir) = archive {
                upload_dir(&s3, BUCKET, PREFIX, dir).await;
            }
            let (queue, dlq) = match queue {
                None => (None, None),
                Some((bodies, dlq_max_receives)) => {
                    let (queue, dlq) = match dlq_max_receives {
                        Some(n) => {
                            let (q, d) = create_queue_with_dlq(&sqs, "events", n).await;
                            (q, Some(d))
                        }
                        None => (create_queue(&sqs, "events").await, None),
                    };
                    send_bodies(&sqs, &queue, bodies).await;
                    (Some(queue), dlq)
                }
            };
            (s3, sqs, queue, dlq)
        });
        let proxy = emulator.proxy();
        Stage {
            proxy,
            emulator,
            rt,
            s3,
            sqs,
            queue,
            dlq,
        }
    }

    /// The URL of the queue `drain` reads (a stage made by [`Stage::new`] or [`Stage::on`]).
    pub fn queue(&self) -> &str {
        self.queue
            .as_deref()
            .expect("a stage with a queue (Stage::new or Stage::on)")
    }

    /// The binary, pointed at the proxy.
    pub fn bin(&self) -> Command {
        let mut c = bin();
        for (k, v) in env_for(&self.proxy.endpoint) {
            c.env(k, v);
        }
        c
    }

    /// The binary with `args`, pointed at the proxy, run to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.bin()
            .args(args)
            .output()
            .expect("running s3-event-writer")
    }

    /// `drain` from the queue into [`DEST`], pointed at the proxy.
    pub fn drain(&self, report: &Path, extra: &[&str]) -> Command {
        let mut c = self.bin();
        c.args([
            "drain",
            "--source",
            self.queue(),
            "--dest",
            DEST,
            "--wait-secs",
            "1",
            "--progress",
            "off",
        ]);
        c.arg("--report").arg(report);
        c.args(extra);
        c
    }

    /// The day objects: day → bytes.
    pub fn archive(&self) -> BTreeMap<String, Vec<u8>> {
        self.rt.block_on(download_prefix(&self.s3, BUCKET, PREFIX))
    }

    pub fn put(&self, key: &str, body: Vec<u8>) {
        self.rt.block_on(put_object(&self.s3, BUCKET, key, body));
    }

    pub fn quarantine_lines(&self) -> usize {
        self.quarantine()
            .values()
            .map(|body| {
                body.split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count()
            })
            .sum()
    }

    /// The quarantine objects: key → bytes.
    pub fn quarantine(&self) -> BTreeMap<String, Vec<u8>> {
        self.rt.block_on(download_prefix(&self.s3, BUCKET, QPREFIX))
    }

    /// The queue's depth: `(visible, in flight)`.
    pub fn depth(&self) -> (u64, u64) {
        self.rt.block_on(queue_depth(&self.sqs, self.queue()))
    }

    /// Waits (up to a minute) until no message is in flight: what a killed or failed run held
    /// is visible again once its visibility timeout lapsed. Returns the depth then.
    pub fn wait_until_nothing_in_flight(&self) -> (u64, u64) {
        let started = Instant::now();
        loop {
            let depth = self.depth();
            if depth.1 == 0 {
                return depth;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{} messages still in flight after a minute",
                depth.1
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
