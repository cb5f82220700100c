//! autocsr-credential: code generation and parsing; issue, reveal and purge on the memory
//! and SQLite stores; issue_many. Run with
//! `cargo bench -p autocsr-benches --bench credential -- --warm-up-time 1 --measurement-time 5`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use autocsr_credential::secrecy::ExposeSecret;
use autocsr_credential::{ManualClock, UnlockCode, Vault};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const WINDOW: Duration = Duration::from_secs(7 * 86_400);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn next_id() -> String {
    format!("bench-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(20_833 * 86_400)).unwrap())
}

fn codes(c: &mut Criterion) {
    let mut g = c.benchmark_group("credential/code");
    g.bench_function("generate", |b| {
        b.iter(|| black_box(UnlockCode::generate().unwrap()))
    });
    let text = UnlockCode::generate()
        .unwrap()
        .reveal()
        .expose_secret()
        .to_owned();
    g.bench_function("parse_canonical", |b| {
        b.iter(|| black_box(UnlockCode::parse(black_box(&text)).unwrap()))
    });
    let sloppy = text.to_lowercase().replace('-', " ");
    g.bench_function("parse_sloppy", |b| {
        b.iter(|| black_box(UnlockCode::parse(black_box(&sloppy)).unwrap()))
    });
    g.finish();
}

fn vault_ops(
    c: &mut Criterion,
    name: &str,
    make: &dyn Fn(Arc<ManualClock>) -> (Vault, Option<tempfile::TempDir>),
) {
    let mut g = c.benchmark_group(format!("credential/{name}"));
    if name == "sqlite" {
        g.sample_size(20);
    }
    let (vault, _dir) = make(clock());
    g.bench_function("issue", |b| {
        b.iter(|| black_box(vault.issue(&next_id(), WINDOW).unwrap()))
    });
    let id = next_id();
    vault.issue(&id, WINDOW).unwrap();
    g.bench_function("reveal", |b| {
        b.iter(|| black_box(vault.reveal(&id).unwrap()))
    });
    g.throughput(Throughput::Elements(1000));
    g.bench_function("issue_many_1000", |b| {
        b.iter_batched(
            || (0..1000).map(|_| next_id()).collect::<Vec<_>>(),
            |ids| black_box(vault.issue_many(&ids, WINDOW).unwrap()),
            BatchSize::PerIteration,
        );
    });
    g.bench_function("purge_1000_expired", |b| {
        b.iter_batched(
            || {
                let clock = clock();
                let (vault, dir) = make(clock.clone());
                let ids: Vec<String> = (0..1000).map(|_| next_id()).collect();
                vault.issue_many(&ids, Duration::from_secs(3600)).unwrap();
                clock.advance(Duration::from_secs(86_400));
                (vault, dir)
            },
            |(vault, _dir)| black_box(vault.purge().unwrap()),
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn vaults(c: &mut Criterion) {
    vault_ops(c, "memory", &|clock| {
        (Vault::in_memory().with_clock(clock), None)
    });
    vault_ops(c, "sqlite", &|clock| {
        let dir = tempfile::tempdir().unwrap();
        (
            Vault::open_sqlite(dir.path()).unwrap().with_clock(clock),
            Some(dir),
        )
    });
}

criterion_group!(benches, codes, vaults);
criterion_main!(benches);
