//! autocsr-policy: a full check (intake, decode, self-signature, every key and name rule,
//! including the weak-key checks) of an RSA-2048 and a P-256 CSR, plus the name rules
//! alone. Run with
//! `cargo bench -p autocsr-benches --bench policy -- --warm-up-time 1 --measurement-time 5`.

use std::hint::black_box;
use std::sync::Arc;

use autocsr_policy::{DebianWeakKeys, Policy};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const RSA_2048: &[u8] =
    include_bytes!("../../crates/autocsr-policy/tests/data/csr/good-rsa-2048-sha256.pem");
const P256: &[u8] =
    include_bytes!("../../crates/autocsr-policy/tests/data/csr/good-ecdsa-p256-sha256.pem");
const DEBIAN_LIST: &str =
    include_str!("../../crates/autocsr-policy/tests/data/debian-weak-keys/blacklist.RSA-2048");

fn full_check(c: &mut Criterion) {
    let Ok(list) = DebianWeakKeys::parse(DEBIAN_LIST) else {
        return;
    };
    let policy = Policy::default().with_rsa_blocklist(Arc::new(list));
    assert!(policy.check_csr(RSA_2048).accepted());
    assert!(policy.check_csr(P256).accepted());

    let mut g = c.benchmark_group("policy/check_csr");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rsa2048", |b| {
        b.iter(|| black_box(policy.check_csr(black_box(RSA_2048))))
    });
    g.bench_function("p256", |b| {
        b.iter(|| black_box(policy.check_csr(black_box(P256))))
    });
    g.finish();

    let mut g = c.benchmark_group("policy/check_names");
    g.throughput(Throughput::Elements(4));
    let names = [
        "example.com",
        "www.example.com",
        "*.shop.example.co.uk",
        "8.8.8.8",
    ];
    g.bench_function("four_names", |b| {
        b.iter(|| black_box(policy.check_names(black_box(&names), Some("example.com"))))
    });
    g.finish();
}

criterion_group!(benches, full_check);
criterion_main!(benches);
