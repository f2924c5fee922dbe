//! Scaling out: several writers at once on one queue and one archive.
//!
//! Four copies of the binary drain one queue into one bucket at the same time (the emulator
//! conformance set): the archive must be the single-writer archive byte for byte, the queue
//! empty, and the quarantine records exactly the single writer's. On LocalStack (the default)
//! the writers' requests race for real, conditional writes answering 412; on moto the proxy
//! forwards one request at a time, because moto is not atomic under concurrent requests (lost
//! deletes, duplicate receives, non-atomic conditional writes), and the writers still interleave
//! their reads, merges, conditional writes and deletes. The local variant runs four processes
//! on one directory.
//! No timing is asserted.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{
    self, assert_same_tree, bin, bodies_of, copy_dir, counts, fixture, needs_emulators, read_json,
    rt, run_ok, tree, Emulator, BUCKET, DEST, PREFIX, QPREFIX,
};

const SET: &str = "emulator";
const WRITERS: usize = 4;

/// `(reason, body)` of every quarantine record in `jsonl` texts, counted.
fn quarantine_records<'a>(
    texts: impl IntoIterator<Item = &'a [u8]>,
) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for text in texts {
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let r: serde_json::Value = serde_json::from_slice(line).unwrap();
            let key = (
                r["reason"].as_str().unwrap().to_owned(),
                r["body"].as_str().unwrap().to_owned(),
            );
            *out.entry(key).or_default() += 1;
        }
    }
    out
}

/// The quarantine records a single local run makes of the whole set.
fn single_writer_quarantine(tmp: &Path) -> BTreeMap<(String, String), u64> {
    let dest = tmp.join("oracle/prod");
    copy_dir(&fixture(SET).join("existing"), &dest);
    run_ok(bin().args([
        "drain",
        "--source",
        fixture(SET).join("messages.jsonl").to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
        "--progress",
        "off",
    ]));
    assert_same_tree(&dest, &fixture(SET).join("expected"));
    let q = tree(&tmp.join("oracle/quarantine"));
    quarantine_records(q.values().map(Vec::as_slice))
}

fn total(records: &BTreeMap<(String, String), u64>) -> u64 {
    records.values().sum()
}

#[test]
#[allow(clippy::too_many_lines)]
fn four_writers_draining_one_queue_into_one_bucket_give_the_single_writer_archive() {
    needs_emulators!();
    let tmp = tempfile::tempdir().unwrap();
    let bodies = bodies_of(SET);
    let oracle_quarantine = single_writer_quarantine(tmp.path());
    let emulator = Emulator::start();
    let rt = rt();
    let (s3, sqs, queue) = rt.block_on(async {
        let s3 = support::s3_client(&emulator.endpoint).await;
        let sqs = support::sqs_client(&emulator.endpoint).await;
        support::create_bucket(&s3, BUCKET).await;
        support::upload_dir(&s3, BUCKET, PREFIX, &fixture(SET).join("existing")).await;
        let queue = support::create_queue(&sqs, "events").await;
        support::send_bodies(&sqs, &queue, &bodies).await;
        (s3, sqs, queue)
    });
    let proxy = emulator.proxy();

    // Different receiver counts and block sizes, so the writers flush at different moments
    // and several of them read, merge and write the same days concurrently.
    let settings = [("1", "60"), ("2", "100"), ("3", "150"), ("4", "80")];
    std::thread::scope(|scope| {
        for (i, (receivers, block)) in settings.iter().enumerate().take(WRITERS) {
            let mut cmd = bin();
            for (k, v) in support::env_for(&proxy.endpoint) {
                cmd.env(k, v);
            }
            cmd.args([
                "drain",
                "--source",
                &queue,
                "--dest",
                DEST,
                "--wait-secs",
                "1",
                "--progress",
                "off",
                "--receivers",
                receivers,
                "--block-messages",
                block,
            ])
            .arg("--report")
            .arg(tmp.path().join(format!("r{i}.json")));
            scope.spawn(move || run_ok(&mut cmd));
        }
    });

    // The archive, byte for byte.
    let archive = rt.block_on(support::download_prefix(&s3, BUCKET, PREFIX));
    let expected = tree(&fixture(SET).join("expected"));
    assert_eq!(
        archive.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "day objects"
    );
    for (day, bytes) in &expected {
        assert!(archive[day] == *bytes, "day {day} differs from expected/");
    }
    // The queue is empty.
    assert_eq!(
        rt.block_on(support::queue_depth(&sqs, &queue)),
        (0, 0),
        "the queue is empty"
    );
    // Every delivery was accounted for and deleted, by one writer or another.
    let reports: Vec<serde_json::Value> = (0..WRITERS)
        .map(|i| read_json(&tmp.path().join(format!("r{i}.json"))))
        .collect();
    let mut received = 0;
    let mut quarantined = 0;
    for r in &reports {
        let got = r["received"].as_u64().unwrap();
        let sum: u64 = ["kept", "dropped", "quarantined"]
            .iter()
            .map(|k| r[k].as_u64().unwrap())
            .sum();
        assert_eq!(sum, got, "kept + dropped + quarantined = received: {r}");
        assert_eq!(r["deleted"], r["received"], "every delivery deleted: {r}");
        assert!(r["failures"].as_array().unwrap().is_empty(), "{r}");
        received += got;
        quarantined += r["quarantined"].as_u64().unwrap();
    }
    assert!(
        received >= bodies.len() as u64,
        "{received} < {}",
        bodies.len()
    );
    // No quarantine record lost and none doubled: exactly the (reason, body) records a single
    // writer makes, however many writers received a bad message and however often.
    let texts = rt.block_on(support::download_prefix(&s3, BUCKET, QPREFIX));
    assert_eq!(
        texts.len() as u64,
        total(&oracle_quarantine),
        "one object per record"
    );
    let records = quarantine_records(texts.values().map(Vec::as_slice));
    let want = counts(SET)["quarantined"].as_u64().unwrap();
    assert_eq!(total(&oracle_quarantine), want);
    assert_eq!(
        records, oracle_quarantine,
        "the single writer's quarantine records"
    );
    assert!(quarantined >= want, "every quarantined delivery counted");
    let writers_that_worked = reports
        .iter()
        .filter(|r| r["received"].as_u64().unwrap() > 0)
        .count();
    eprintln!(
        "{writers_that_worked} of {WRITERS} writers received messages; {received} deliveries for {} bodies; requests {:?}",
        bodies.len(),
        proxy.counts()
    );
}

#[test]
fn four_processes_on_one_directory_give_the_single_writer_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let oracle_quarantine = single_writer_quarantine(tmp.path());
    let dest = tmp.path().join("shared/prod");
    copy_dir(&fixture(SET).join("existing"), &dest);
    let bodies = bodies_of(SET);
    let parts: Vec<_> = (0..WRITERS)
        .map(|i| {
            let p = tmp.path().join(format!("part{i}.jsonl"));
            let chunk: Vec<&str> = bodies
                .iter()
                .enumerate()
                .filter(|(n, _)| n % WRITERS == i)
                .map(|(_, l)| l.as_str())
                .collect();
            std::fs::write(&p, chunk.join("\n") + "\n").unwrap();
            p
        })
        .collect();
    std::thread::scope(|scope| {
        for (i, part) in parts.iter().enumerate() {
            let mut cmd = bin();
            cmd.args([
                "drain",
                "--source",
                part.to_str().unwrap(),
                "--dest",
                dest.to_str().unwrap(),
                "--progress",
                "off",
                "--block-messages",
                ["23", "37", "50", "71"][i],
            ])
            .arg("--report")
            .arg(tmp.path().join(format!("r{i}.json")));
            scope.spawn(move || run_ok(&mut cmd));
        }
    });
    assert_same_tree(&dest, &fixture(SET).join("expected"));
    let mut sums = [0u64; 3];
    for i in 0..WRITERS {
        let r = read_json(&tmp.path().join(format!("r{i}.json")));
        for (s, k) in sums.iter_mut().zip(["kept", "dropped", "quarantined"]) {
            *s += r[k].as_u64().unwrap();
        }
    }
    let c = counts(SET);
    assert_eq!(
        sums,
        ["kept", "dropped", "quarantined"].map(|k| c[k].as_u64().unwrap()),
        "the parts' counts add up to the set's"
    );
    // A file source delivers each body once: exactly the single writer's quarantine records.
    let q = tree(&tmp.path().join("shared/quarantine"));
    let records = quarantine_records(q.values().map(Vec::as_slice));
    assert_eq!(records, oracle_quarantine, "the quarantine records");
}
