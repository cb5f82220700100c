//! Replays the committed fuzz corpus through the same library functions the fuzz targets
//! call, on stable, so every input ever found stays handled.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helper: a failure aborts the test"
)]

use std::path::PathBuf;

use autocsr_credential::record::decode_and_open_joined;
use autocsr_credential::{Error, UnlockCode};

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
    let files: Vec<(String, Vec<u8>)> = entries
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
}

#[test]
fn unlock_code_parse_corpus_replays() {
    let files = corpus("unlock_code_parse");
    for (name, bytes) in &files {
        let result = UnlockCode::parse_bytes(bytes);
        match name.as_str() {
            "canonical" | "sloppy" | "no-dashes" | "short-80-bits" => {
                assert!(result.is_ok(), "{name}")
            }
            "empty" | "too-short" => {
                assert!(matches!(result, Err(Error::WrongLength { .. })), "{name}")
            }
            "bad-char" | "unicode" => {
                assert!(matches!(result, Err(Error::BadCharacter { .. })), "{name}")
            }
            _ => {} // found by the fuzzer: it must only not panic
        }
    }
}

#[test]
fn vault_record_decode_corpus_replays() {
    let files = corpus("vault_record_decode");
    for (name, bytes) in &files {
        let result = decode_and_open_joined(bytes);
        match name.as_str() {
            "seed-live" => assert!(result.is_ok(), "{name}"),
            "seed-live-flipped" | "seed-live-absurd-expiry" => {
                assert!(matches!(result, Err(Error::Tampered)), "{name}")
            }
            "seed-revoked" => assert!(matches!(result, Err(Error::Revoked)), "{name}"),
            "empty" | "short-key" | "seed-live-truncated" | "seed-revoked-truncated" => {
                assert!(matches!(result, Err(Error::Malformed { .. })), "{name}");
            }
            _ => {}
        }
    }
}
