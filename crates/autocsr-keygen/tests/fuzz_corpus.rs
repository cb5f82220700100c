//! Replays the committed fuzz corpora (fuzz/corpus/keygen_*) through the same library
//! functions the fuzz targets call, on stable, so every input ever found stays handled.
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a missing corpus must fail the test loudly"
)]

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("corpus {} is missing: {err}", dir.display()))
        .map(|entry| {
            let path = entry.expect("readable corpus entry").path();
            let bytes = std::fs::read(&path).expect("readable corpus file");
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
}

#[test]
fn pkcs8_import_corpus_never_panics() {
    let mut accepted = 0;
    for (_path, bytes) in corpus("keygen_pkcs8_import") {
        if autocsr_keygen::PrivateKey::from_pkcs8_der(&bytes).is_ok() {
            accepted += 1;
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = autocsr_keygen::PrivateKey::from_pkcs8_pem(text);
        }
    }
    // The seeds include real P-256, P-384 and RSA-2048 keys made by openssl.
    assert!(accepted >= 3, "only {accepted} seeds were accepted");
}

#[test]
fn pkcs8_encrypted_import_corpus_never_panics() {
    use autocsr_keygen::{Error, PrivateKey, secrecy::SecretString};
    // The passphrase of fuzz_targets/keygen_pkcs8_encrypted_import.rs, which the seeds
    // made by openssl were encrypted with.
    let passphrase = SecretString::from("fuzz");
    let mut accepted = 0;
    for (path, bytes) in corpus("keygen_pkcs8_encrypted_import") {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("");
        let result = PrivateKey::from_encrypted_pkcs8_der(&bytes, &passphrase);
        if result.is_ok() {
            accepted += 1;
        }
        // The crafted seeds carry invalid or too costly KDF parameters (scrypt N = 0 once
        // panicked in pkcs5): each is refused before any key derivation.
        if name.starts_with("crafted.") {
            assert!(
                matches!(
                    result,
                    Err(Error::InvalidKeyDerivation { .. } | Error::LimitExceeded { .. })
                ),
                "{name}: {result:?}"
            );
        }
        if let Ok(text) = std::str::from_utf8(&bytes)
            && PrivateKey::from_encrypted_pkcs8_pem(text, &passphrase).is_ok()
        {
            accepted += 1;
        }
    }
    // openssl-made seeds: scrypt (DER and PEM), PBKDF2 with SHA-224/256/384/512.
    assert!(accepted >= 6, "only {accepted} seeds were accepted");
}

#[test]
fn dns_name_corpus_never_panics() {
    let mut accepted = 0;
    for (_path, bytes) in corpus("keygen_dns_name") {
        // libFuzzer feeds the `&str` target only valid UTF-8; do the same here.
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if autocsr_keygen::check_dns_name(text).is_ok() {
                accepted += 1;
            }
            let _ = autocsr_keygen::dns_name_to_ascii(text);
        }
    }
    assert!(accepted >= 3, "only {accepted} seeds were accepted");
}
