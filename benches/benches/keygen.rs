//! autocsr-keygen: key generation per algorithm, CSR signing per algorithm, encrypted
//! PKCS#8 export. Run with
//! `cargo bench -p autocsr-benches --bench keygen -- --warm-up-time 1 --measurement-time 5`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "benchmark harness"
)]

use std::hint::black_box;
use std::time::Duration;

use autocsr_keygen::secrecy::SecretString;
use autocsr_keygen::{CsrRequest, KeyAlgorithm, Pkcs8Encryption, PrivateKey};
use criterion::{Criterion, criterion_group, criterion_main};

fn keygen(c: &mut Criterion) {
    let mut group = c.benchmark_group("keygen");
    for algorithm in KeyAlgorithm::ALL.iter().copied() {
        if algorithm.rsa_bits().is_some() {
            // RSA keygen takes 50 ms to seconds and varies a lot with the primes found:
            // criterion's minimum sample size, and more time for the large sizes.
            group.sample_size(10);
            group.measurement_time(Duration::from_secs(match algorithm {
                KeyAlgorithm::Rsa2048 => 5,
                KeyAlgorithm::Rsa3072 => 15,
                _ => 30,
            }));
        } else {
            group.sample_size(100);
            group.measurement_time(Duration::from_secs(5));
        }
        group.bench_function(algorithm.as_str(), |b| {
            b.iter(|| PrivateKey::generate(black_box(algorithm)).unwrap());
        });
    }
    group.finish();
}

fn csr_signing(c: &mut Criterion) {
    let mut group = c.benchmark_group("csr_sign");
    let request = CsrRequest::new()
        .common_name("www.example.com")
        .organization("Example Ltd")
        .locality("London")
        .country("GB")
        .dns_names(["www.example.com", "example.com", "*.shop.example.com"]);
    for algorithm in KeyAlgorithm::ALL.iter().copied() {
        let key = PrivateKey::generate(algorithm).unwrap();
        group.bench_function(algorithm.as_str(), |b| {
            b.iter(|| black_box(&request).sign(&key).unwrap());
        });
    }
    group.finish();
}

fn encrypted_export(c: &mut Criterion) {
    let mut group = c.benchmark_group("encrypted_pkcs8");
    group.sample_size(20);
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let passphrase = SecretString::from("benchmark passphrase");
    for (name, encryption) in [
        ("scrypt", Pkcs8Encryption::Scrypt),
        ("pbkdf2_sha256", Pkcs8Encryption::Pbkdf2Sha256),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| key.to_encrypted_pkcs8_pem(&passphrase, encryption).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, keygen, csr_signing, encrypted_export);
criterion_main!(benches);
