//! Runs the checker over every entry of the shared test-data manifest.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use autocsr_policy::{DebianWeakKeys, Policy, Severity};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// `bad-csr-1mb-repeated.pem` is not committed (1 MiB): it is rebuilt exactly as
/// `make.py` made it, from `good-rsa-2048-sha256.pem` repeated to more than 1 MiB.
fn read_case(file: &str) -> Vec<u8> {
    if file == "csr/bad-csr-1mb-repeated.pem" {
        let good = std::fs::read(data_dir().join("csr/good-rsa-2048-sha256.pem")).unwrap();
        let mut blob = Vec::new();
        while blob.len() <= 1024 * 1024 {
            blob.extend_from_slice(&good);
        }
        return blob;
    }
    std::fs::read(data_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn policy_with_debian_list() -> Policy {
    let text =
        std::fs::read_to_string(data_dir().join("debian-weak-keys/blacklist.RSA-2048")).unwrap();
    Policy::default().with_rsa_blocklist(Arc::new(DebianWeakKeys::parse(&text).unwrap()))
}

#[test]
fn every_manifest_entry_matches() {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data_dir().join("manifest.json")).unwrap()).unwrap();
    let policy = policy_with_debian_list();
    let entries = manifest.as_array().unwrap();
    assert!(entries.len() >= 50, "manifest unexpectedly short");
    let mut failures = Vec::new();
    for entry in entries {
        let file = entry["file"].as_str().unwrap();
        let expect_accept = entry["expect"].as_str().unwrap() == "accept";
        let input = read_case(file);
        let report = if file.starts_with("csr/spki-") {
            policy.check_public_key(&input)
        } else {
            policy.check_csr(&input)
        };
        let ids: Vec<&str> = report.findings().iter().map(|f| f.id).collect();
        for wanted in entry["findings"].as_array().unwrap() {
            let wanted = wanted.as_str().unwrap();
            if !report.has(wanted) {
                failures.push(format!("{file}: missing {wanted}; got {ids:?}"));
            }
        }
        let has_error = report
            .findings()
            .iter()
            .any(|f| f.severity == Severity::Error);
        if expect_accept == has_error || report.accepted() == has_error {
            failures.push(format!("{file}: expected {}, got {ids:?}", entry["expect"]));
        }
        if expect_accept && !file.starts_with("csr/spki-") {
            assert!(
                report.csr().is_some(),
                "{file}: accepted CSR without CheckedCsr"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
