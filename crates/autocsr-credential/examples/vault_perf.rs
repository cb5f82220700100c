//! Measures the SQLite vault at scale (release build):
//! `cargo run --release -p autocsr-credential --example vault_perf -- 1000000 [DIR]`
//!
//! Reports single durable issue p50, `issue_many` orders/s (the bulk load), reveal p50/p99
//! with N live records, disk bytes per record (both files), reveals under a reveal limit
//! (durable) against reveals without one (interleaved, same records), reminder claims and
//! marks with N live records, single revoke p50, and the purge time of N expired records
//! and their keys.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "a measuring tool"
)]

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use autocsr_credential::{KEYS_FILE, ManualClock, RECORDS_FILE, Vault};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn file_bytes(dir: &std::path::Path, name: &str) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(dir.join(format!("{name}{s}"))).ok())
        .map(|m| m.len())
        .sum()
}

/// Bytes this process caused to be written to storage so far (Linux only).
fn bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes: "))
        .and_then(|value| value.trim().parse().ok())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map_or(100_000, |a| a.parse().expect("record count"));
    let base = args.next().map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir_in(base.unwrap_or_else(std::env::temp_dir)).unwrap();
    let dir = tmp.path().join("vault");
    let start = UNIX_EPOCH + Duration::from_secs(20_833 * 86_400);
    let clock = Arc::new(ManualClock::new(start).unwrap());
    let vault = Vault::open_sqlite(&dir).unwrap().with_clock(clock.clone());
    let window = Duration::from_secs(7 * 86_400);
    let mut out = std::io::stdout().lock();

    // Single durable issues (each one a committed, fsynced transaction).
    let mut single = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        vault.issue(&format!("single-{i}"), window).unwrap();
        single.push(t.elapsed());
    }
    single.sort();
    writeln!(
        out,
        "issue (single, durable): p50 {:?} p99 {:?}",
        percentile(&single, 0.5),
        percentile(&single, 0.99)
    )
    .unwrap();

    // Bulk load with issue_many, 10,000 per transaction.
    let batch = 10_000;
    let written_before = bytes_written();
    let t = Instant::now();
    let mut loaded = 0;
    while loaded < n {
        let size = batch.min(n - loaded);
        let ids: Vec<String> = (loaded..loaded + size)
            .map(|i| format!("ORD-{i:08}"))
            .collect();
        vault.issue_many(&ids, window).unwrap();
        loaded += size;
        // The manual clock stands still unless told: move it on by the least a real
        // batch takes, so batches carry different issue times as they would.
        clock.advance(Duration::from_millis(1));
    }
    let elapsed = t.elapsed();
    writeln!(
        out,
        "issue_many: {n} orders in {elapsed:?} = {:.0} orders/s (batches of {batch})",
        n as f64 / elapsed.as_secs_f64()
    )
    .unwrap();
    // What the bulk load made the kernel write (WAL appends and checkpoints of both
    // stores): bytes per record that grow with the table point at pages, not rows.
    if let (Some(before), Some(after)) = (written_before, bytes_written()) {
        writeln!(
            out,
            "issue_many wrote {} bytes = {:.0} bytes/record (/proc/self/io write_bytes)",
            after - before,
            (after - before) as f64 / n as f64
        )
        .unwrap();
    }

    // Disk use after a checkpoint (purge with nothing expired only checkpoints).
    vault.purge().unwrap();
    let record_bytes = file_bytes(&dir, RECORDS_FILE);
    writeln!(
        out,
        "disk: records file {record_bytes} bytes = {:.1} bytes/record; keys file {} bytes",
        record_bytes as f64 / (n + 200) as f64,
        file_bytes(&dir, KEYS_FILE)
    )
    .unwrap();

    // Reveals of random live records.
    let mut state = 0x9E37_79B9_7F4A_7C15u64
        ^ u64::from(
            SystemTime::now()
                .elapsed()
                .unwrap_or_default()
                .subsec_nanos(),
        );
    let mut reveals = Vec::new();
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let id = format!("ORD-{:08}", state % n as u64);
        let t = Instant::now();
        vault.reveal(&id).unwrap();
        reveals.push(t.elapsed());
    }
    reveals.sort();
    writeln!(
        out,
        "reveal with {n} live records: p50 {:?} p99 {:?} (20000 random; each also commits the counter update, not fsynced on its own)",
        percentile(&reveals, 0.5),
        percentile(&reveals, 0.99)
    )
    .unwrap();

    // Reveals under a reveal limit (each count a durable commit) against reveals without
    // one, interleaved on the same records so both see the same cache and disk.
    let limited = Vault::open_sqlite(&dir)
        .unwrap()
        .with_clock(clock.clone())
        .with_reveal_limit(std::num::NonZeroU64::new(1_000_000).unwrap());
    let (mut with_limit, mut without) = (Vec::new(), Vec::new());
    for i in 0..1_000 {
        let id = format!("ORD-{:08}", (i * 7919) % n);
        for (v, times) in [(&limited, &mut with_limit), (&vault, &mut without)] {
            let t = Instant::now();
            v.reveal(&id).unwrap();
            times.push(t.elapsed());
        }
    }
    with_limit.sort();
    without.sort();
    let (p50_limit, p50_without) = (percentile(&with_limit, 0.5), percentile(&without, 0.5));
    writeln!(
        out,
        "reveal under a limit (durable): p50 {p50_limit:?}; without a limit: p50 {p50_without:?}; ratio {:.1}x (1000 each, interleaved)",
        p50_limit.as_secs_f64() / p50_without.as_secs_f64()
    )
    .unwrap();

    // Reminder claims among n live records: 1,000 orders due within the lead (never
    // revealed), claimed 100 at a time and each marked.
    let due: Vec<String> = (0..1_000).map(|i| format!("DUE-{i:05}")).collect();
    vault.issue_many(&due, Duration::from_secs(86_400)).unwrap();
    let (mut claims, mut marks) = (Vec::new(), Vec::new());
    let mut claimed = 0;
    loop {
        let t = Instant::now();
        let got = vault
            .claim_reminders(
                Duration::from_secs(2 * 86_400),
                Duration::from_secs(600),
                100,
            )
            .unwrap();
        claims.push(t.elapsed());
        if got.is_empty() {
            break;
        }
        claimed += got.len();
        for d in &got {
            let t = Instant::now();
            vault.mark_reminded(d.order_id()).unwrap();
            marks.push(t.elapsed());
        }
    }
    claims.sort();
    marks.sort();
    writeln!(
        out,
        "claim_reminders (100 at a time, {claimed} due among {n} live): p50 {:?} per claim; mark_reminded (durable) p50 {:?}",
        percentile(&claims, 0.5),
        percentile(&marks, 0.5)
    )
    .unwrap();

    // Revokes: each destroys one key and checkpoints the key store (durable).
    let mut revokes = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        vault.revoke(&format!("single-{i}")).unwrap();
        revokes.push(t.elapsed());
    }
    revokes.sort();
    writeln!(
        out,
        "revoke (single, durable, with checkpoint): p50 {:?} p99 {:?}",
        percentile(&revokes, 0.5),
        percentile(&revokes, 0.99)
    )
    .unwrap();

    // Purge of every record once all have expired.
    clock.advance(window + Duration::from_secs(86_400));
    let t = Instant::now();
    let report = vault.purge().unwrap();
    writeln!(
        out,
        "purge: {} records and {} keys in {:?}",
        report.records_destroyed,
        report.keys_destroyed,
        t.elapsed()
    )
    .unwrap();
}
