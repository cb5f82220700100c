//! Seal and open, both formats: a realistic bundle (key ~1.7 KB, CSR ~1 KB, README) and
//! 1 MiB. 7z uses the real 2^19 key derivation, so its figures are dominated by it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark harness"
)]

use autocsr_archive::secrecy::SecretString;
use autocsr_archive::{ArchiveFormat, Entry, Limits, SealOptions, open, seal};
use criterion::{Criterion, criterion_group, criterion_main};

fn bundle() -> Vec<Entry> {
    let pem = |label: &str, len: usize| {
        let body: String = (0..len)
            .map(|i| {
                char::from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                        [(i * 31 + i / 7) % 64],
                )
            })
            .collect();
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
        .into_bytes()
    };
    vec![
        Entry::private("example.com.key", pem("PRIVATE KEY", 1620)).unwrap(),
        Entry::new("example.com.csr", pem("CERTIFICATE REQUEST", 940)).unwrap(),
        Entry::new(
            "README.txt",
            b"Your private key and CSR for example.com. Open with 7-Zip.\n".repeat(8),
        )
        .unwrap(),
    ]
}

fn one_mib() -> Vec<Entry> {
    // Noise, so compression cannot shortcut the work.
    vec![Entry::new("data.bin", autocsr_interop::noise(1 << 20)).unwrap()]
}

fn benches(c: &mut Criterion) {
    let password = SecretString::from("7K4M-Q9TX-2WRB-N8DH-V3CJ-6YEZ-P5GA");
    let limits = Limits::default().with_max_ratio(u64::MAX, 0);
    for (payload, entries) in [("bundle", bundle()), ("1MiB", one_mib())] {
        for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
            let mut group = c.benchmark_group(format!("archive/{format}/{payload}"));
            group.sample_size(10);
            group.bench_function("seal", |b| {
                b.iter(|| seal(format, &entries, &password, &SealOptions::default()).unwrap());
            });
            let sealed = seal(format, &entries, &password, &SealOptions::default()).unwrap();
            group.bench_function("open", |b| {
                b.iter(|| open(&sealed, &password, &limits).unwrap())
            });
            group.finish();
        }
    }
}

criterion_group!(archive, benches);
criterion_main!(archive);
