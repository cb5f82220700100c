//! Seals files into an encrypted archive: the whole-process benchmark
//! (`benches/compare/archive.py`) runs this against `7zz a`.
//!
//! Usage: `seal <zip|7z> <output> <file>...` with the password in `AUTOCSR_ARCHIVE_PASSWORD`.
//! 7z keys are salted (the crate's default) unless `AUTOCSR_ARCHIVE_UNSALTED_7Z=1`, which
//! seals as AutoCSR's pipeline does for its one-time random codes (and as 7-Zip does).
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use autocsr_archive::secrecy::SecretString;
use autocsr_archive::{ArchiveFormat, Entry, SealOptions, seal};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("seal: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: seal <zip|7z> <output> <file>... (password in AUTOCSR_ARCHIVE_PASSWORD)";
    let format: ArchiveFormat = args
        .next()
        .ok_or(usage)?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let output = args.next().ok_or(usage)?;
    let password = SecretString::from(
        std::env::var("AUTOCSR_ARCHIVE_PASSWORD")
            .map_err(|_| "AUTOCSR_ARCHIVE_PASSWORD is not set")?,
    );
    let mut entries = Vec::new();
    for path in args {
        let data = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        let name = std::path::Path::new(&path)
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| format!("{path}: no usable file name"))?;
        entries.push(Entry::new(name, data).map_err(|e| format!("{e}"))?);
    }
    let options = if std::env::var("AUTOCSR_ARCHIVE_UNSALTED_7Z").is_ok_and(|value| value == "1") {
        SealOptions::default().skip_7z_salt_for_random_password()
    } else {
        SealOptions::default()
    };
    let sealed = seal(format, &entries, &password, &options).map_err(|e| format!("{e}"))?;
    std::fs::write(&output, sealed).map_err(|e| format!("{output}: {e}"))?;
    Ok(())
}
