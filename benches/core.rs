//! Core throughput: decode + classify + format per message, and the streaming merge.
//!
//! `cargo bench --bench core` prints messages/second for realistic SNS envelopes (the
//! conformance bodies, about 1.2 KB each), for minimising them as quarantine bodies, and MB/s
//! for merging new lines into a day file.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use s3_event_writer::core::merge::{merge_sorted, sort_new_lines};
use s3_event_writer::core::{classify, classify_serde, minimise, Outcome, Redaction, Rules};

fn bodies() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/conformance/basic/messages.jsonl"
    );
    std::fs::read_to_string(path)
        .expect("fixture")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn classify_bench(c: &mut Criterion) {
    type Classify = fn(&str, &Rules, &mut Vec<u8>) -> Outcome;
    let bodies = bodies();
    let rules = Rules::default();
    let bytes: usize = bodies.iter().map(String::len).sum();
    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Elements(bodies.len() as u64));
    // `classify` (the fast path, serde for what it does not handle) and, in the same run, the
    // serde path alone: the baseline of the ratio in docs/PERFORMANCE.md.
    let paths: [(&str, Classify); 2] = [
        ("decode+classify+format", classify),
        ("serde path only", classify_serde),
    ];
    for (name, f) in paths {
        g.bench_function(
            format!(
                "{name} ({} bodies, {} B avg)",
                bodies.len(),
                bytes / bodies.len()
            ),
            |b| {
                let mut line = Vec::with_capacity(256);
                b.iter(|| {
                    let mut kept = 0u32;
                    for body in &bodies {
                        line.clear();
                        if let Outcome::Keep { .. } = f(black_box(body), &rules, &mut line) {
                            kept += 1;
                        }
                    }
                    black_box(kept)
                });
            },
        );
    }
    g.finish();
}

/// Minimising a quarantine body (done only for quarantined messages): the same envelopes.
fn minimise_bench(c: &mut Criterion) {
    let bodies = bodies();
    let redaction = Redaction::default();
    let mut g = c.benchmark_group("minimise");
    g.throughput(Throughput::Elements(bodies.len() as u64));
    g.bench_function(format!("minimise ({} bodies)", bodies.len()), |b| {
        b.iter(|| {
            let mut n = 0usize;
            for body in &bodies {
                n += minimise(black_box(body), &redaction).len();
            }
            black_box(n)
        });
    });
    g.finish();
}

fn merge_bench(c: &mut Criterion) {
    // A day file of 200,000 lines and 20,000 new lines interleaved with it.
    let mut existing_lines: Vec<Vec<u8>> = (0..200_000)
        .map(|i| format!(r#"{{"timestamp": "2026-11-20T{:02}:{:02}:{:02}+00:00", "channel": "PJSIP/twilio-{i:08x}", "endpoint": "ghost-mountain", "event": "operator"}}"#, i % 24, i % 60, i % 59).into_bytes())
        .collect();
    sort_new_lines(&mut existing_lines);
    let mut existing = Vec::new();
    for l in &existing_lines {
        existing.extend_from_slice(l);
        existing.push(b'\n');
    }
    let mut new: Vec<Vec<u8>> = (0..20_000)
        .map(|i| format!(r#"{{"timestamp": "2026-11-20T{:02}:{:02}:{:02}+00:00", "channel": "SIP/new-{i:08x}", "endpoint": "x", "event": "y"}}"#, i % 24, i % 60, i % 59).into_bytes())
        .collect();
    sort_new_lines(&mut new);
    let mut g = c.benchmark_group("merge");
    g.throughput(Throughput::Bytes(existing.len() as u64));
    g.bench_function(
        format!(
            "streaming merge ({} MB existing, {} new lines)",
            existing.len() >> 20,
            new.len()
        ),
        |b| {
            let mut out = Vec::with_capacity(existing.len() * 2);
            b.iter(|| {
                out.clear();
                black_box(merge_sorted(black_box(&existing[..]), &new, &mut out).expect("merge"))
            });
        },
    );
    g.finish();
}

/// Sorting and de-duplicating one day's new lines (a local run's 20,000 lines a day), against
/// plain `sort_unstable` + `dedup` on the same lines in the same run.
fn sort_bench(c: &mut Criterion) {
    type Sort = fn(&mut Vec<Vec<u8>>);
    fn plain(v: &mut Vec<Vec<u8>>) {
        v.sort_unstable();
        v.dedup();
    }
    // A fixed pseudo-random order (no crate for it: an LCG is enough to shuffle).
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let lines: Vec<Vec<u8>> = (0..20_000)
        .map(|i| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let s = (x >> 33) % 86_400;
            format!(r#"{{"timestamp": "2026-11-20T{:02}:{:02}:{:02}+00:00", "channel": "PJSIP/twilio-{i:08x}", "endpoint": "ghost-mountain", "event": "operator"}}"#, s / 3600, s / 60 % 60, s % 60).into_bytes()
        })
        .collect();
    let mut g = c.benchmark_group("sort");
    g.throughput(Throughput::Elements(lines.len() as u64));
    let paths: [(&str, Sort); 2] = [
        ("sort_new_lines", sort_new_lines),
        ("plain sort_unstable + dedup", plain),
    ];
    for (name, f) in paths {
        g.bench_function(format!("{name} ({} lines of a day)", lines.len()), |b| {
            b.iter_batched_ref(
                || lines.clone(),
                |v| f(black_box(v)),
                criterion::BatchSize::LargeInput,
            );
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = classify_bench, minimise_bench, merge_bench, sort_bench
}
criterion_main!(benches);
