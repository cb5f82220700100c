//! Checks every CSR file named on the command line, in one process, and prints one line
//! per file (`accept`/`reject` and the finding ids) plus a timing summary on stderr.
//!
//! `cargo run --release -p autocsr-policy --example check_files -- FILE... [--repeat N]`
//!
//! `--repeat N` checks the whole list N times (for throughput measurements); only the
//! first pass is printed.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut files = Vec::new();
    let mut repeat = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--repeat" {
            repeat = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
        } else {
            files.push(arg);
        }
    }
    let mut inputs = Vec::new();
    for file in &files {
        match std::fs::read(file) {
            Ok(bytes) => inputs.push((file, bytes)),
            Err(error) => {
                eprintln!("{file}: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let policy = autocsr_policy::Policy::default();
    let mut out = std::io::stdout().lock();
    let mut rejected = 0usize;
    let start = Instant::now();
    for pass in 0..repeat {
        for (file, bytes) in &inputs {
            let report = policy.check_csr(bytes);
            if pass == 0 {
                let ids: Vec<&str> = report.findings().iter().map(|f| f.id).collect();
                let verdict = if report.accepted() {
                    "accept"
                } else {
                    "reject"
                };
                if !report.accepted() {
                    rejected += 1;
                }
                if writeln!(out, "{file}\t{verdict}\t{}", ids.join(",")).is_err() {
                    return ExitCode::from(2);
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let checked = inputs.len() * repeat;
    eprintln!(
        "checked {checked} CSRs in {:.3} s ({:.0} CSRs/s)",
        elapsed.as_secs_f64(),
        checked as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    if rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
