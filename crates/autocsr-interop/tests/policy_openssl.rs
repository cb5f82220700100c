//! autocsr-policy against the `openssl` command-line tool: CSRs that openssl makes (every
//! supported key and signature combination, PEM and DER) are accepted with the right
//! summary, and on the shared test CSRs our signature verdict agrees with
//! `openssl req -verify`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "interop helpers outside #[test] functions: a failed expectation is the point"
)]

use std::fs;
use std::path::{Path, PathBuf};

use autocsr_interop::{Program, require_program};
use autocsr_policy::{check_csr, ids};

fn policy_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../autocsr-policy/tests/data/csr")
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Makes a key with `genpkey` and a CSR with `req -new`, returns (PEM, DER).
fn openssl_csr(
    openssl: &Program,
    dir: &Path,
    name: &str,
    genpkey: &[&str],
    req: &[&str],
) -> (Vec<u8>, Vec<u8>) {
    let key = dir.join(format!("{name}.key"));
    let pem = dir.join(format!("{name}.pem"));
    let der = dir.join(format!("{name}.der"));
    let mut args = vec!["genpkey", "-out", key.to_str().unwrap()];
    args.extend_from_slice(genpkey);
    openssl.run_ok(&args);
    let mut args = vec![
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-out",
        pem.to_str().unwrap(),
        "-subj",
        "/CN=www.example.com",
        "-addext",
        "subjectAltName=DNS:www.example.com,DNS:example.com,IP:8.8.8.8",
    ];
    args.extend_from_slice(req);
    openssl.run_ok(&args);
    openssl.run_ok([
        "req",
        "-in",
        pem.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        der.to_str().unwrap(),
    ]);
    let verify = openssl.run(["req", "-verify", "-noout", "-in", pem.to_str().unwrap()]);
    assert!(
        text(&verify).contains("verify OK"),
        "{name}: openssl itself: {}",
        text(&verify)
    );
    (fs::read(pem).unwrap(), fs::read(der).unwrap())
}

/// One openssl-made CSR: name, `genpkey` arguments, `req` signing arguments, the key
/// summary we must report, and the signature algorithm we must name.
type OpensslCase<'a> = (&'a str, Vec<&'a str>, Vec<&'a str>, &'a str, &'a str);

#[test]
fn openssl_made_csrs_are_accepted() {
    let openssl = require_program!("openssl");
    let dir = tempfile::tempdir().unwrap();
    let rsa2048 = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
    let cases: Vec<OpensslCase<'_>> = vec![
        (
            "rsa2048-sha256",
            rsa2048.to_vec(),
            vec!["-sha256"],
            "rsa2048",
            "sha256WithRSAEncryption",
        ),
        (
            "rsa2048-sha384",
            rsa2048.to_vec(),
            vec!["-sha384"],
            "rsa2048",
            "sha384WithRSAEncryption",
        ),
        (
            "rsa2048-sha512",
            rsa2048.to_vec(),
            vec!["-sha512"],
            "rsa2048",
            "sha512WithRSAEncryption",
        ),
        (
            "rsa3072-sha256",
            vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
            vec!["-sha256"],
            "rsa3072",
            "sha256WithRSAEncryption",
        ),
        (
            "rsa2048-pss-sha256-digest-salt",
            rsa2048.to_vec(),
            vec![
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:digest",
            ],
            "rsa2048",
            "RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32)",
        ),
        (
            "rsa2048-pss-sha384-salt-20",
            rsa2048.to_vec(),
            vec![
                "-sha384",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:20",
            ],
            "rsa2048",
            "RSASSA-PSS (SHA-384, MGF1-SHA-384, salt 20)",
        ),
        (
            "rsa2048-pss-sha512-max-salt",
            rsa2048.to_vec(),
            vec![
                "-sha512",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:max",
            ],
            "rsa2048",
            "RSASSA-PSS (SHA-512, MGF1-SHA-512, salt 190)",
        ),
        (
            "p256-sha256",
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            vec!["-sha256"],
            "p256",
            "ecdsa-with-SHA256",
        ),
        (
            "p256-sha384",
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            vec!["-sha384"],
            "p256",
            "ecdsa-with-SHA384",
        ),
        (
            "p384-sha384",
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            vec!["-sha384"],
            "p384",
            "ecdsa-with-SHA384",
        ),
        (
            "p384-sha256",
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            vec!["-sha256"],
            "p384",
            "ecdsa-with-SHA256",
        ),
        (
            "p521-sha512",
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
            vec!["-sha512"],
            "p521",
            "ecdsa-with-SHA512",
        ),
    ];
    for (name, genpkey, req, key, algorithm) in cases {
        let (pem, der) = openssl_csr(&openssl, dir.path(), name, &genpkey, &req);
        for (form, input) in [("PEM", &pem), ("DER", &der)] {
            let report = check_csr(input);
            assert!(
                report.accepted(),
                "{name} ({form}): {:?}",
                report.findings()
            );
            let csr = report.csr().unwrap();
            assert_eq!(csr.public_key(), key, "{name}");
            assert_eq!(csr.signature_algorithm(), algorithm, "{name}");
            assert_eq!(
                csr.names(),
                ["www.example.com", "example.com", "8.8.8.8"],
                "{name}"
            );
            assert_eq!(csr.common_name(), Some("www.example.com"));
        }
        // The same fingerprint openssl computes over the DER SPKI.
        let spki = openssl.run_ok([
            "req",
            "-in",
            dir.path().join(format!("{name}.pem")).to_str().unwrap(),
            "-pubkey",
            "-noout",
        ]);
        let spki_path = dir.path().join(format!("{name}.spki.pem"));
        fs::write(&spki_path, &spki.stdout).unwrap();
        let digest = openssl.run_ok([
            "pkey",
            "-pubin",
            "-in",
            spki_path.to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            dir.path()
                .join(format!("{name}.spki.der"))
                .to_str()
                .unwrap(),
        ]);
        drop(digest);
        let dgst = openssl.run_ok([
            "dgst",
            "-sha256",
            "-r",
            dir.path()
                .join(format!("{name}.spki.der"))
                .to_str()
                .unwrap(),
        ]);
        let hex = String::from_utf8_lossy(&dgst.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(
            check_csr(&pem).csr().unwrap().spki_sha256_hex(),
            hex,
            "{name}"
        );
    }
}

#[test]
fn a_tampered_openssl_csr_is_refused_by_both() {
    let openssl = require_program!("openssl");
    let dir = tempfile::tempdir().unwrap();
    let (_, mut der) = openssl_csr(
        &openssl,
        dir.path(),
        "tamper",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &["-sha256"],
    );
    // Change one character of the CN inside the signed part ("www" -> "wwx").
    let at = der
        .windows(15)
        .position(|w| w == b"www.example.com")
        .unwrap();
    der[at + 2] = b'x';
    let path = dir.path().join("tampered.der");
    fs::write(&path, &der).unwrap();
    let verify = openssl.run([
        "req",
        "-verify",
        "-noout",
        "-inform",
        "DER",
        "-in",
        path.to_str().unwrap(),
    ]);
    assert!(!text(&verify).contains("verify OK"), "{}", text(&verify));
    assert!(check_csr(&der).has(ids::CSR_SIGNATURE_INVALID));
}

#[test]
fn signature_verdicts_agree_with_openssl_on_the_test_csrs() {
    let openssl = require_program!("openssl");
    let mut compared = 0;
    for entry in fs::read_dir(policy_data()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("spki-") {
            continue;
        }
        let input = fs::read(&path).unwrap();
        let report = check_csr(&input);
        let openssl_says =
            text(&openssl.run(["req", "-verify", "-noout", "-in", path.to_str().unwrap()]));
        if openssl_says.contains("verify failure") {
            assert!(
                report.has(ids::CSR_SIGNATURE_INVALID),
                "{name}: openssl refuses the signature; we: {:?}",
                report.findings()
            );
        } else if openssl_says.contains("verify OK") && report.csr().is_some() {
            // Weak algorithms are refused unverified; everything else must verify.
            assert!(
                !report.has(ids::CSR_SIGNATURE_INVALID),
                "{name}: openssl verifies it; we: {:?}",
                report.findings()
            );
        } else {
            // openssl could not load it: we must not have accepted it either.
            assert!(
                !report.accepted(),
                "{name}: openssl: {openssl_says}; we accepted"
            );
        }
        compared += 1;
    }
    assert!(compared >= 45, "only {compared} CSRs compared");
}
