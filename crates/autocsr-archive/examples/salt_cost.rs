//! What the 7z salt costs: seals the same AutoCSR-sized bundle (key, CSR, README) with a
//! 34-character unlock code, salted (the default) and unsalted
//! ([`SealOptions::skip_7z_salt_for_random_password`]), interleaved run by run in one
//! process, and prints the medians and their ratio.
//!
//! Usage: `cargo run --release -p autocsr-archive --example salt_cost [runs]` (default 31).
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use autocsr_archive::secrecy::SecretString;
use autocsr_archive::{ArchiveFormat, Entry, Error, SealOptions, seal};

fn bundle() -> Result<Vec<Entry>, Error> {
    let pem = |label: &str, length: usize| {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let body: Vec<u8> = (0..length)
            .map(|i| alphabet.get((i * 31 + i / 7) % 64).copied().unwrap_or(b'A'))
            .collect();
        let mut text = format!("-----BEGIN {label}-----\n").into_bytes();
        for line in body.chunks(64) {
            text.extend_from_slice(line);
            text.push(b'\n');
        }
        text.extend_from_slice(format!("-----END {label}-----\n").as_bytes());
        text
    };
    Ok(vec![
        Entry::private("example.com.key", pem("PRIVATE KEY", 1620))?,
        Entry::new("example.com.csr", pem("CERTIFICATE REQUEST", 940))?,
        Entry::new(
            "README.txt",
            b"Your private key and CSR for example.com. Open with 7-Zip.\n".repeat(8),
        )?,
    ])
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn main() -> ExitCode {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(31);
    let Ok(entries) = bundle() else {
        eprintln!("salt_cost: could not build the bundle");
        return ExitCode::FAILURE;
    };
    let code = SecretString::from("7K4M-Q9TX-2WRB-N8DH-V3CJ-6YEZ-P5GA");
    let salted = SealOptions::default();
    let unsalted = SealOptions::default().skip_7z_salt_for_random_password();
    let (mut with_salt, mut without_salt) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        for (options, times) in [(&salted, &mut with_salt), (&unsalted, &mut without_salt)] {
            let start = Instant::now();
            if seal(ArchiveFormat::SevenZ, &entries, &code, options).is_err() {
                eprintln!("salt_cost: sealing failed");
                return ExitCode::FAILURE;
            }
            times.push(start.elapsed());
        }
    }
    let (salted_median, unsalted_median) = (median(&mut with_salt), median(&mut without_salt));
    println!("7z seal of the bundle, 2^19 rounds, median of {runs} interleaved runs:");
    println!("  salted (16-byte salt, default): {salted_median:.2?}");
    println!("  unsalted (skip_7z_salt_for_random_password): {unsalted_median:.2?}");
    println!(
        "  ratio salted/unsalted: {:.3}",
        salted_median.as_secs_f64() / unsalted_median.as_secs_f64().max(f64::MIN_POSITIVE)
    );
    ExitCode::SUCCESS
}
