//! `autocsr check-csr` over the shared test vectors: the manifest's verdicts, with exit 0
//! for accepted and 5 for refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code, including helpers outside #[test]: a failed expectation is the failure"
)]

mod common;

use std::fs;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;

use common::{Sandbox, parse_one_object, testdata_dir};
use serde_json::Value;

fn manifest() -> Vec<Value> {
    let path = testdata_dir().join("manifest.json");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("the test vectors are missing ({}): {err}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// `bad-csr-1mb-repeated.pem` is not committed (1 MiB): it is rebuilt as the test data's
/// `make.py` made it, `good-rsa-2048-sha256.pem` repeated to more than 1 MiB.
fn case_path(sandbox: &Sandbox, file: &str) -> PathBuf {
    if file == "csr/bad-csr-1mb-repeated.pem" {
        let good = fs::read(testdata_dir().join("csr/good-rsa-2048-sha256.pem")).unwrap();
        let mut blob = Vec::new();
        while blob.len() <= 1024 * 1024 {
            blob.extend_from_slice(&good);
        }
        let path = sandbox.root.path().join("bad-csr-1mb-repeated.pem");
        fs::write(&path, blob).unwrap();
        return path;
    }
    testdata_dir().join(file)
}

#[test]
fn every_manifest_case_gets_its_verdict_and_exit_code() {
    let sandbox = Sandbox::new();
    let cases = manifest();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let weak_keys = testdata_dir().join("debian-weak-keys/blacklist.RSA-2048");
    let mut checked = 0;
    for case in &cases {
        let file = case["file"].as_str().unwrap();
        // A bare SubjectPublicKeyInfo: input for the key checker, not for check-csr.
        if file.starts_with("csr/spki-") {
            continue;
        }
        let accept = case["expect"] == "accept";
        let path = case_path(&sandbox, file);
        // The Debian weak-key case needs the list; every case gets it, as a host would run.
        let (report, output) = sandbox.json(
            [
                "check-csr",
                path.to_str().unwrap(),
                "--weak-keys",
                weak_keys.to_str().unwrap(),
            ],
            if accept { 0 } else { 5 },
        );
        assert_eq!(report["accepted"], accept, "{file}: {report}");
        let ids: Vec<&str> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|finding| {
                for key in ["id", "severity", "message"] {
                    assert!(finding[key].is_string(), "{file}: {finding}");
                }
                finding["id"].as_str().unwrap()
            })
            .collect();
        for expected in case["findings"].as_array().unwrap() {
            let expected = expected.as_str().unwrap();
            assert!(ids.contains(&expected), "{file}: {expected} not in {ids:?}");
        }
        assert!(report["names"].is_array(), "{file}: {report}");
        assert!(report["key"].is_string() || report["key"].is_null());
        if !accept {
            assert!(common::stderr(&output).contains("refused"), "{file}");
        }
        checked += 1;
    }
    assert!(checked >= 40);
}

#[test]
fn a_good_csr_reports_its_names_and_key() {
    let sandbox = Sandbox::new();
    let path = testdata_dir().join("csr/good-ecdsa-p256-sha256.pem");
    let (report, _) = sandbox.json(["check-csr", path.to_str().unwrap()], 0);
    assert_eq!(report["key"], "p256");
    assert!(!report["names"].as_array().unwrap().is_empty(), "{report}");
}

#[test]
fn stdin_is_read_with_a_dash() {
    let sandbox = Sandbox::new();
    let pem = fs::read(testdata_dir().join("csr/good-rsa-2048-sha256.pem")).unwrap();
    let mut child = sandbox
        .command(["--json", "check-csr", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&pem).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let report = parse_one_object(&output.stdout);
    assert_eq!(report["accepted"], true);
    assert_eq!(report["key"], "rsa2048");
}

#[test]
fn our_own_csrs_pass_check_csr() {
    let sandbox = Sandbox::new();
    for key in ["p256", "rsa2048"] {
        let order = sandbox.order("example.com", &["--san", "www.example.com", "--key", key]);
        let (report, _) = sandbox.json(["check-csr", common::str_field(&order, "csr")], 0);
        assert_eq!(report["accepted"], true, "{report}");
        assert_eq!(report["key"], key);
        let names: Vec<&str> = report["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert!(names.contains(&"example.com") && names.contains(&"www.example.com"));
    }
}

#[test]
fn without_the_weak_key_list_the_debian_key_is_not_known() {
    // The policy ships no list: the host must pass one (documented in the README).
    let sandbox = Sandbox::new();
    let path = testdata_dir().join("csr/bad-key-debian-weak.pem");
    let (report, _) = sandbox.json(["check-csr", path.to_str().unwrap()], 0);
    assert_eq!(report["accepted"], true, "{report}");
}

#[test]
fn a_malformed_weak_key_list_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let list = sandbox.root.path().join("list");
    fs::write(&list, "not a fingerprint\n").unwrap();
    let path = testdata_dir().join("csr/good-rsa-2048-sha256.pem");
    sandbox.json(
        [
            "check-csr",
            path.to_str().unwrap(),
            "--weak-keys",
            list.to_str().unwrap(),
        ],
        2,
    );
}

#[test]
fn a_missing_file_exits_1() {
    let sandbox = Sandbox::new();
    let (error, _) = sandbox.json(["check-csr", "/nonexistent/autocsr/x.pem"], 1);
    assert_eq!(error["error"]["kind"], "error");
}

#[test]
fn human_output_lists_findings() {
    let sandbox = Sandbox::new();
    let path = testdata_dir().join("csr/bad-key-rsa-1024.pem");
    let output = sandbox.run(["check-csr", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(5));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("key.rsa.modulus_too_small"), "{text}");
    assert!(text.contains("refused"), "{text}");
}
