//! Opens an archive under the default limits and prints what happened: used by
//! `benches/compare/archive.py` to measure peak memory on hostile archives.
//!
//! Usage: `open <archive>` with the password in `AUTOCSR_ARCHIVE_PASSWORD`.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use autocsr_archive::secrecy::SecretString;
use autocsr_archive::{Limits, open_reader};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: open <archive> (password in AUTOCSR_ARCHIVE_PASSWORD)");
        return ExitCode::FAILURE;
    };
    let password =
        SecretString::from(std::env::var("AUTOCSR_ARCHIVE_PASSWORD").unwrap_or_default());
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(error) => {
            eprintln!("{path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match open_reader(std::io::BufReader::new(file), &password, &Limits::default()) {
        Ok(opened) => {
            let bytes: usize = opened
                .entries()
                .iter()
                .map(|entry| entry.data().len())
                .sum();
            println!("opened {} entries, {bytes} bytes", opened.entries().len());
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("refused: {error}");
            ExitCode::from(2)
        }
    }
}
