//! `autocsr order`, then the archive opened by 7-Zip with the printed code: the extracted
//! key matches the extracted CSR, and that CSR is the `.csr` file (checked by openssl).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code, including helpers outside #[test]: a failed expectation is the failure"
)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use autocsr_interop::require_program;
use common::{Sandbox, str_field};

/// Orders `key` in both formats and checks each archive with 7zz and openssl.
fn order_opens_in_7zip_and_key_matches_csr(key: &str, formats: &[&str]) {
    let sevenzip = require_program!("7zz");
    let openssl = require_program!("openssl");
    let sandbox = Sandbox::new();
    for format in formats {
        let order = sandbox.order(
            "example.com",
            &["--san", "www.example.com", "--key", key, "--format", format],
        );
        for field in [
            "order_id",
            "archive",
            "csr",
            "unlock_code",
            "expires_at",
            "key",
            "format",
        ] {
            assert!(order.get(field).is_some(), "{field} missing in {order}");
        }
        assert_eq!(str_field(&order, "key"), key);
        assert_eq!(str_field(&order, "format"), *format);
        let order_id = str_field(&order, "order_id");
        let archive = Path::new(str_field(&order, "archive"));
        let csr_file = Path::new(str_field(&order, "csr"));
        assert_eq!(
            archive.file_name().unwrap().to_str().unwrap(),
            format!("{order_id}.{format}")
        );
        assert_eq!(
            csr_file.file_name().unwrap().to_str().unwrap(),
            format!("{order_id}.csr")
        );
        assert_eq!(
            fs::metadata(archive).unwrap().permissions().mode() & 0o777,
            0o600,
            "the archive is written private"
        );

        let extracted = sandbox.root.path().join(format!("x-{key}-{format}"));
        sevenzip.run_ok([
            "x".to_owned(),
            format!("-p{}", str_field(&order, "unlock_code")),
            format!("-o{}", extracted.display()),
            "-y".to_owned(),
            archive.display().to_string(),
        ]);
        let key_path = extracted.join("private-key.pem");
        let csr_path = extracted.join("certificate-request.csr");
        let readme = fs::read_to_string(extracted.join("README.txt")).unwrap();
        assert!(readme.contains("order page"), "{readme}");
        assert!(readme.contains(order_id), "{readme}");

        assert_eq!(
            fs::read(&csr_path).unwrap(),
            fs::read(csr_file).unwrap(),
            "the CSR in the archive is the .csr file"
        );
        let (from_key, from_csr) =
            autocsr_interop::openssl_public_keys(&openssl, &key_path, &csr_path);
        assert!(!from_key.is_empty());
        assert_eq!(
            from_key, from_csr,
            "the extracted key belongs to the CSR ({key}, {format})"
        );
        openssl.run_ok([
            "req".as_ref(),
            "-in".as_ref(),
            csr_file.as_os_str(),
            "-verify".as_ref(),
            "-noout".as_ref(),
        ]);
        let text = openssl.run_ok([
            "req".as_ref(),
            "-in".as_ref(),
            csr_file.as_os_str(),
            "-noout".as_ref(),
            "-text".as_ref(),
        ]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("DNS:example.com"), "{text}");
        assert!(text.contains("DNS:www.example.com"), "{text}");
    }
}

#[test]
fn rsa2048_in_zip_and_7z() {
    order_opens_in_7zip_and_key_matches_csr("rsa2048", &["zip", "7z"]);
}

#[test]
fn rsa3072_in_zip_and_7z() {
    order_opens_in_7zip_and_key_matches_csr("rsa3072", &["zip", "7z"]);
}

#[test]
fn rsa4096_in_zip() {
    // Slow (seconds per key): one case is enough.
    order_opens_in_7zip_and_key_matches_csr("rsa4096", &["zip"]);
}

#[test]
fn p256_in_zip_and_7z() {
    order_opens_in_7zip_and_key_matches_csr("p256", &["zip", "7z"]);
}

#[test]
fn p384_in_zip_and_7z() {
    order_opens_in_7zip_and_key_matches_csr("p384", &["zip", "7z"]);
}

#[test]
fn the_data_directory_and_vault_files_are_private() {
    let sandbox = Sandbox::new();
    sandbox.order("example.com", &["--key", "p256"]);
    let data = sandbox.data_dir();
    assert_eq!(
        fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let mut files = 0;
    for entry in fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        if entry.metadata().unwrap().is_file() {
            files += 1;
            assert_eq!(
                entry.metadata().unwrap().permissions().mode() & 0o777,
                0o600,
                "{}",
                entry.path().display()
            );
        }
    }
    assert!(files >= 2, "the vault's record and key stores exist");
}

#[test]
fn refused_names_exit_5_and_leave_nothing_behind() {
    let sandbox = Sandbox::new();
    for name in ["localhost", "*.com", "10.0.0.1"] {
        let (error, output) = sandbox.json(
            [
                "order",
                "--domain",
                name,
                "--key",
                "p256",
                "--out",
                &sandbox.out_dir().display().to_string(),
            ],
            5,
        );
        assert_eq!(error["error"]["kind"], "policy_refused", "{error}");
        assert!(common::stderr(&output).contains("refused"));
    }
    let left: Vec<_> = fs::read_dir(sandbox.out_dir())
        .map(|dir| dir.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "no files for refused orders: {left:?}");
}

#[test]
fn human_output_names_everything() {
    let sandbox = Sandbox::new();
    let output = sandbox.run([
        "order",
        "--domain",
        "example.com",
        "--key",
        "p256",
        "--out",
        &sandbox.out_dir().display().to_string(),
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    for label in ["Order:", "Archive:", "CSR:", "Unlock code:", "Expires:"] {
        assert!(text.contains(label), "{label} in {text}");
    }
    assert!(output.stderr.is_empty(), "no spinner without a terminal");
}

#[test]
fn usage_errors_exit_2() {
    let sandbox = Sandbox::new();
    for args in [
        &["order"][..],
        &["order", "--domain", "example.com", "--key", "ed25519"],
        &["order", "--domain", "example.com", "--reveal-window", "0s"],
        &["order", "--domain", "example.com", "--format", "rar"],
        &["reveal"],
        &["no-such-command"],
    ] {
        let output = sandbox.run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
    let output = sandbox.run([
        "order",
        "--domain",
        "example.com",
        "--key",
        "p256",
        "--country",
        "Germany",
        "--out",
        &sandbox.out_dir().display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", common::stderr(&output));
}

#[test]
fn usage_errors_with_json_still_print_one_object() {
    let sandbox = Sandbox::new();
    let (error, output) = sandbox.json(["order", "--domain", "example.com", "--key", "dsa"], 2);
    assert_eq!(error["error"]["kind"], "usage");
    assert!(common::stderr(&output).contains("dsa"));
}

#[test]
fn help_and_version_exit_0() {
    let sandbox = Sandbox::new();
    assert!(sandbox.run(["--help"]).status.success());
    assert!(sandbox.run(["--version"]).status.success());
    let help = sandbox.run(["order", "--help"]);
    let text = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--domain",
        "--san",
        "--key",
        "--format",
        "--org",
        "--locality",
        "--state",
        "--country",
        "--reveal-window",
        "--out",
        "--data-dir",
        "--json",
    ] {
        assert!(text.contains(flag), "{flag} in {text}");
    }
}

/// Input the order cannot use is a usage error (exit 2, kind "usage"), refused before any
/// file is written: windows outside 1 second to 366 days (`7974y` used to panic after the
/// order was stored), an organization over 64 characters and 101 names (exit 1 before).
#[test]
fn every_input_refusal_exits_2_and_writes_nothing() {
    let sandbox = Sandbox::new();
    let out = sandbox.out_dir().display().to_string();
    let base = [
        "order",
        "--domain",
        "example.com",
        "--key",
        "p256",
        "--out",
        &out,
    ];
    let long_org = "O".repeat(65);
    let mut many_sans: Vec<String> = Vec::new();
    for index in 1..=100 {
        many_sans.push("--san".to_owned());
        many_sans.push(format!("host{index}.example.com"));
    }
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--reveal-window".into(), "7974y".into()], "366 days"),
        (vec!["--reveal-window".into(), "367d".into()], "366 days"),
        (vec!["--reveal-window".into(), "1ns".into()], "one second"),
        (vec!["--reveal-window".into(), "1500ms".into()], "whole"),
        (
            vec![
                "--org".into(),
                long_org,
                "--country".into(),
                "DE".into(),
                "--locality".into(),
                "Berlin".into(),
            ],
            "organizationName",
        ),
        (many_sans, "subjectAltName"),
    ];
    for (extra, reason) in cases {
        let mut args: Vec<String> = base.iter().map(|s| (*s).to_owned()).collect();
        args.extend(extra.iter().cloned());
        let (error, output) = sandbox.json(&args, 2);
        assert_eq!(error["error"]["kind"], "usage", "{extra:?}: {error}");
        assert_eq!(error["error"]["exit_code"], 2);
        let stderr = common::stderr(&output);
        assert!(stderr.contains(reason), "{reason:?} in {stderr}");
        let left: Vec<_> = fs::read_dir(sandbox.out_dir())
            .map(|dir| dir.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{extra:?} left {left:?}");
    }
    // Nothing reached the vault either.
    let (purged, _) = sandbox.json(["purge"], 0);
    assert_eq!(purged["records_destroyed"], 0);
    let log = sandbox.data_dir().join("audit.jsonl");
    assert!(!log.exists(), "no vault event");
}

#[test]
fn the_longest_window_is_accepted() {
    let sandbox = Sandbox::new();
    let order = sandbox.order("example.com", &["--key", "p256", "--reveal-window", "366d"]);
    let expires = humantime::parse_rfc3339(str_field(&order, "expires_at")).unwrap();
    let left = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(
        left > std::time::Duration::from_secs(365 * 86_400),
        "{left:?}"
    );
}

/// With `--json`, `--help` and `--version` print one JSON object too.
#[test]
fn help_and_version_with_json_are_json_objects() {
    let sandbox = Sandbox::new();
    for args in [&["--json", "--help"][..], &["order", "--help", "--json"]] {
        let output = sandbox.run(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let help = common::parse_one_object(&output.stdout);
        let text = str_field(&help, "help");
        assert!(text.contains("Usage: autocsr"), "{text}");
        assert!(!text.contains('\u{1b}'), "no terminal styling in JSON");
    }
    let help = common::parse_one_object(&sandbox.run(["order", "--help", "--json"]).stdout);
    assert!(str_field(&help, "help").contains("--reveal-window"));
    for args in [&["--json", "--version"][..], &["--version", "--json"]] {
        let output = sandbox.run(args);
        assert_eq!(output.status.code(), Some(0));
        let version = common::parse_one_object(&output.stdout);
        assert_eq!(str_field(&version, "version"), env!("CARGO_PKG_VERSION"));
        assert_eq!(version.as_object().unwrap().len(), 1);
    }
    // Without --json, plain text as before.
    let plain = sandbox.run(["--version"]);
    assert!(
        String::from_utf8(plain.stdout)
            .unwrap()
            .starts_with("autocsr ")
    );
}

/// clap's own refusals quote the refused value: escaped, like every echo of input.
#[test]
fn refused_option_values_are_echoed_escaped() {
    let sandbox = Sandbox::new();
    let output = sandbox.run([
        "order",
        "--domain",
        "example.com",
        "--key",
        "p\u{1b}[2J\n256",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = common::stderr(&output);
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(stderr.contains("p\\u{1b}[2J\\n256"), "{stderr}");
}

/// The temporary file of a killed order is removed by the next order into the same
/// directory once it is stale; a fresh one (a running order's) is left alone.
#[test]
fn the_next_order_removes_stale_temporary_files() {
    let sandbox = Sandbox::new();
    fs::create_dir_all(sandbox.out_dir()).unwrap();
    let stale = sandbox
        .out_dir()
        .join(".autocsr-partial-ord_0000000000000000000Z.zip");
    let fresh = sandbox
        .out_dir()
        .join(".autocsr-partial-ord_1111111111111111111Z.zip");
    fs::write(&stale, b"half an archive").unwrap();
    fs::write(&fresh, b"being written").unwrap();
    fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3_600))
        .unwrap();
    let order = sandbox.order("example.com", &["--key", "p256"]);
    assert!(!stale.exists(), "the stale file is removed");
    assert!(fresh.exists(), "a fresh file may belong to a running order");
    assert!(Path::new(str_field(&order, "archive")).exists());
}
