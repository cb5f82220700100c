//! autocsr-keygen's keys and CSRs, checked by the `openssl` command-line tool (and keys made
//! by openssl, read by autocsr-keygen).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "interop helpers outside #[test] functions: a failed expectation is the point"
)]

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use autocsr_interop::require_program;
use autocsr_keygen::secrecy::{ExposeSecret, SecretString};
use autocsr_keygen::{Csr, CsrRequest, KeyAlgorithm, Pkcs8Encryption, PrivateKey};

const PASSPHRASE: &str = "interop passphrase with spaces";

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).unwrap();
    path
}

fn sample_csr(key: &PrivateKey) -> Csr {
    CsrRequest::new()
        .common_name("www.example.com")
        .organization("Example Ltd")
        .locality("Zürich")
        .state_or_province("Zürich")
        .country("CH")
        .dns_names(["www.example.com", "*.example.org", "xn--bcher-kva.example"])
        .ip_address("192.0.2.1".parse::<IpAddr>().unwrap())
        .ip_address("2001:db8::1".parse::<IpAddr>().unwrap())
        .sign(key)
        .unwrap()
}

#[test]
fn every_algorithms_csr_verifies_and_shows_its_names() {
    let openssl = require_program!("openssl");
    eprintln!("using {}", openssl.version_line(&["version"]));
    let dir = tempfile::tempdir().unwrap();
    let expectations = [
        (
            KeyAlgorithm::Rsa2048,
            "sha256WithRSAEncryption",
            "Public-Key: (2048 bit)",
        ),
        (
            KeyAlgorithm::Rsa3072,
            "sha256WithRSAEncryption",
            "Public-Key: (3072 bit)",
        ),
        (
            KeyAlgorithm::Rsa4096,
            "sha256WithRSAEncryption",
            "Public-Key: (4096 bit)",
        ),
        (
            KeyAlgorithm::EcdsaP256,
            "ecdsa-with-SHA256",
            "NIST CURVE: P-256",
        ),
        (
            KeyAlgorithm::EcdsaP384,
            "ecdsa-with-SHA384",
            "NIST CURVE: P-384",
        ),
    ];
    for (algorithm, signature_algorithm, key_line) in expectations {
        let key = PrivateKey::generate(algorithm).unwrap();
        let csr = sample_csr(&key);
        let csr_path = write(dir.path(), &format!("{algorithm}.csr"), &csr.to_pem());

        let verify = openssl.run_ok(["req", "-in"].map(Into::into).into_iter().chain([
            csr_path.clone().into_os_string(),
            "-verify".into(),
            "-noout".into(),
        ]));
        assert!(
            text(&verify).contains("verify OK"),
            "{algorithm}: {}",
            text(&verify)
        );

        let shown = text(&openssl.run_ok([
            "req".as_ref(),
            "-in".as_ref(),
            csr_path.as_os_str(),
            "-noout".as_ref(),
            "-text".as_ref(),
        ]));
        for expected in [
            "DNS:www.example.com",
            "DNS:*.example.org",
            "DNS:xn--bcher-kva.example",
            "IP Address:192.0.2.1",
            "IP Address:2001:DB8:0:0:0:0:0:1",
            "X509v3 Subject Alternative Name",
            signature_algorithm,
            key_line,
        ] {
            assert!(
                shown.contains(expected),
                "{algorithm}: {expected} missing in\n{shown}"
            );
        }
        assert!(
            shown.contains("C = CH") && shown.contains("CN = www.example.com"),
            "{shown}"
        );

        // countryName is a PrintableString, the other attributes UTF8String.
        let parsed =
            text(&openssl.run_ok(["asn1parse".as_ref(), "-in".as_ref(), csr_path.as_os_str()]));
        assert!(parsed.contains("PRINTABLESTRING   :CH"), "{parsed}");
        assert!(
            parsed.contains("UTF8STRING        :www.example.com"),
            "{parsed}"
        );
        assert!(!parsed.contains("organizationalUnitName"), "{parsed}");

        // A tampered CSR must fail the same check (so the check above means something).
        let mut tampered = csr.to_der().to_vec();
        let last = tampered.len() - 1;
        tampered[last] ^= 0x01;
        let tampered_path = dir.path().join(format!("{algorithm}-tampered.der"));
        fs::write(&tampered_path, &tampered).unwrap();
        let refused = openssl.run([
            "req".as_ref(),
            "-inform".as_ref(),
            "DER".as_ref(),
            "-in".as_ref(),
            tampered_path.as_os_str(),
            "-verify".as_ref(),
            "-noout".as_ref(),
        ]);
        assert!(
            !refused.status.success() || !text(&refused).contains("verify OK"),
            "{algorithm}: tampered CSR verified"
        );
    }
}

#[test]
fn a_csr_for_a_name_too_long_for_a_common_name_verifies_without_one() {
    let openssl = require_program!("openssl");
    let dir = tempfile::tempdir().unwrap();
    let label = "a".repeat(63);
    for name in [
        format!("{}.example.com", "a".repeat(53)),
        format!("{label}.{label}.{label}.{}.com", "b".repeat(57)),
    ] {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let csr = CsrRequest::new()
            .dns_name(name.as_str())
            .organization("Example Ltd")
            .locality("Zürich")
            .country("CH")
            .sign(&key)
            .unwrap();
        let path = write(dir.path(), &format!("{}.csr", name.len()), &csr.to_pem());
        let verify = openssl.run_ok([
            "req".as_ref(),
            "-in".as_ref(),
            path.as_os_str(),
            "-verify".as_ref(),
            "-noout".as_ref(),
        ]);
        assert!(text(&verify).contains("verify OK"), "{}", text(&verify));
        let shown = text(&openssl.run_ok([
            "req".as_ref(),
            "-in".as_ref(),
            path.as_os_str(),
            "-noout".as_ref(),
            "-text".as_ref(),
        ]));
        assert!(shown.contains(&format!("DNS:{name}")), "{shown}");
        assert!(!shown.contains("CN ="), "{shown}");
        assert!(shown.contains("O = Example Ltd"), "{shown}");
    }
}

#[test]
fn the_keys_public_half_equals_the_csrs() {
    let openssl = require_program!("openssl");
    let dir = tempfile::tempdir().unwrap();
    for algorithm in KeyAlgorithm::ALL.iter().copied() {
        let key = PrivateKey::generate(algorithm).unwrap();
        let csr = sample_csr(&key);
        let key_path = write(
            dir.path(),
            &format!("{algorithm}.key"),
            key.to_pkcs8_pem().unwrap().expose_secret(),
        );
        let csr_path = write(dir.path(), &format!("{algorithm}.csr"), &csr.to_pem());
        let (from_key, from_csr) =
            autocsr_interop::openssl_public_keys(&openssl, &key_path, &csr_path);
        assert_eq!(from_key, from_csr, "{algorithm}");
        assert_eq!(from_key, key.public_key_pem().unwrap());
    }
}

#[test]
fn encrypted_pkcs8_opens_with_openssl_pkey_passin() {
    let openssl = require_program!("openssl");
    let dir = tempfile::tempdir().unwrap();
    let passphrase = SecretString::from(PASSPHRASE);
    let pass_file = write(dir.path(), "pass.txt", &format!("{PASSPHRASE}\n"));
    let mut pass_arg = std::ffi::OsString::from("file:");
    pass_arg.push(&pass_file);
    for algorithm in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ] {
        let key = PrivateKey::generate(algorithm).unwrap();
        for encryption in [Pkcs8Encryption::Scrypt, Pkcs8Encryption::Pbkdf2Sha256] {
            let encrypted = key.to_encrypted_pkcs8_pem(&passphrase, encryption).unwrap();
            let path = write(
                dir.path(),
                &format!("{algorithm}-{encryption:?}.pem"),
                &encrypted,
            );
            let opened = openssl.run_ok([
                "pkey".as_ref(),
                "-in".as_ref(),
                path.as_os_str(),
                "-passin".as_ref(),
                pass_arg.as_os_str(),
                "-pubout".as_ref(),
            ]);
            assert_eq!(
                String::from_utf8(opened.stdout).unwrap(),
                key.public_key_pem().unwrap(),
                "{algorithm} {encryption:?}"
            );
            let shown =
                text(&openssl.run_ok(["asn1parse".as_ref(), "-in".as_ref(), path.as_os_str()]));
            assert!(shown.contains("aes-256-cbc"), "{shown}");
            let kdf = if encryption == Pkcs8Encryption::Scrypt {
                ":scrypt"
            } else {
                ":PBKDF2"
            };
            assert!(shown.contains(kdf), "{shown}");

            let wrong = openssl.run([
                "pkey".as_ref(),
                "-in".as_ref(),
                path.as_os_str(),
                "-passin".as_ref(),
                "pass:wrong passphrase".as_ref(),
                "-noout".as_ref(),
            ]);
            assert!(
                !wrong.status.success(),
                "openssl accepted a wrong passphrase"
            );
        }
    }
}

#[test]
fn keys_made_by_openssl_are_read_back() {
    let openssl = require_program!("openssl");
    let dir = tempfile::tempdir().unwrap();
    let passphrase = SecretString::from(PASSPHRASE);
    let cases: [(&[&str], KeyAlgorithm); 3] = [
        (
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            KeyAlgorithm::Rsa2048,
        ),
        (
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            KeyAlgorithm::EcdsaP256,
        ),
        (
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            KeyAlgorithm::EcdsaP384,
        ),
    ];
    for (index, (options, algorithm)) in cases.into_iter().enumerate() {
        let plain = dir.path().join(format!("{index}.pem"));
        let mut args: Vec<std::ffi::OsString> = vec!["genpkey".into()];
        args.extend(options.iter().map(Into::into));
        args.extend(["-out".into(), plain.clone().into_os_string()]);
        openssl.run_ok(&args);
        let pem = fs::read_to_string(&plain).unwrap();
        let key = PrivateKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(key.algorithm(), algorithm);
        let public = openssl.run_ok([
            "pkey".as_ref(),
            "-in".as_ref(),
            plain.as_os_str(),
            "-pubout".as_ref(),
        ]);
        assert_eq!(
            String::from_utf8(public.stdout).unwrap(),
            key.public_key_pem().unwrap()
        );

        // openssl's own encrypted PKCS#8, with scrypt and with its default PBKDF2.
        for kdf in [
            &["-scrypt"][..],
            &["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256"][..],
        ] {
            let encrypted = dir.path().join(format!("{index}-{}.pem", kdf.len()));
            let mut args: Vec<std::ffi::OsString> =
                ["pkcs8", "-topk8", "-in"].map(Into::into).to_vec();
            args.push(plain.clone().into_os_string());
            args.extend(kdf.iter().map(Into::into));
            args.extend([
                "-passout".into(),
                format!("pass:{PASSPHRASE}").into(),
                "-out".into(),
                encrypted.clone().into_os_string(),
            ]);
            openssl.run_ok(&args);
            let pem = fs::read_to_string(&encrypted).unwrap();
            let opened = PrivateKey::from_encrypted_pkcs8_pem(&pem, &passphrase).unwrap();
            assert_eq!(
                opened.public_key_der().unwrap(),
                key.public_key_der().unwrap()
            );
        }

        // And a CSR made with an imported key verifies in openssl.
        let csr_path = write(
            dir.path(),
            &format!("{index}.csr"),
            &sample_csr(&key).to_pem(),
        );
        openssl.run_ok([
            "req".as_ref(),
            "-in".as_ref(),
            csr_path.as_os_str(),
            "-verify".as_ref(),
            "-noout".as_ref(),
        ]);
    }
}

#[test]
fn the_example_binary_writes_a_key_and_csr_openssl_accepts() {
    let openssl = require_program!("openssl");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "-p",
            "autocsr-keygen",
            "--example",
            "keygen",
            "--",
            "--algorithm",
            "p256",
            "--out",
        ])
        .arg(dir.path())
        .args(["example.com", "www.example.com", "192.0.2.10"])
        .status()
        .unwrap();
    assert!(status.success());
    let key = dir.path().join("private-key.pem");
    let csr = dir.path().join("request.csr");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    openssl.run_ok([
        "req".as_ref(),
        "-in".as_ref(),
        csr.as_os_str(),
        "-verify".as_ref(),
        "-noout".as_ref(),
    ]);
    let (from_key, from_csr) = autocsr_interop::openssl_public_keys(&openssl, &key, &csr);
    assert!(!from_key.is_empty());
    assert_eq!(from_key, from_csr);
}

#[test]
fn openssl_encrypted_keys_import_up_to_the_work_caps_and_not_beyond() {
    let openssl = require_program!("openssl");
    let dir = tempfile::tempdir().unwrap();
    let passphrase = SecretString::from(PASSPHRASE);
    let plain = dir.path().join("p256.pem");
    openssl.run_ok([
        "genpkey".as_ref(),
        "-algorithm".as_ref(),
        "EC".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:P-256".as_ref(),
        "-out".as_ref(),
        plain.as_os_str(),
    ]);
    let key = PrivateKey::from_pkcs8_pem(&fs::read_to_string(&plain).unwrap()).unwrap();
    let encrypt = |name: &str, options: &[&str]| -> String {
        let out = dir.path().join(name);
        let mut args: Vec<std::ffi::OsString> = ["pkcs8", "-topk8", "-in"].map(Into::into).to_vec();
        args.push(plain.clone().into_os_string());
        args.extend(options.iter().map(Into::into));
        args.extend([
            "-passout".into(),
            format!("pass:{PASSPHRASE}").into(),
            "-out".into(),
            out.clone().into_os_string(),
        ]);
        openssl.run_ok(&args);
        fs::read_to_string(&out).unwrap()
    };
    // What openssl writes by default (PBES2, PBKDF2-HMAC-SHA-256, 2048 iterations), with
    // -scrypt (N = 2^14, r = 8, p = 1), the OWASP 2023 iteration counts, and the largest
    // scrypt work openssl 3 agrees to write under its 32 MiB memory limit.
    let accepted: [(&str, &[&str]); 7] = [
        ("default", &[]),
        ("scrypt", &["-scrypt"]),
        ("scrypt-p8", &["-scrypt", "-scrypt_p", "8"]),
        (
            "scrypt-n2pow16-r2",
            &["-scrypt", "-scrypt_N", "65536", "-scrypt_r", "2"],
        ),
        (
            "sha256-600k",
            &["-v2prf", "hmacWithSHA256", "-iter", "600000"],
        ),
        (
            "sha512-210k",
            &["-v2prf", "hmacWithSHA512", "-iter", "210000"],
        ),
        (
            "sha224-aes128",
            &[
                "-v2",
                "aes-128-cbc",
                "-v2prf",
                "hmacWithSHA224",
                "-iter",
                "10000",
            ],
        ),
    ];
    for (name, options) in accepted {
        let pem = encrypt(name, options);
        let opened = PrivateKey::from_encrypted_pkcs8_pem(&pem, &passphrase)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(
            opened.public_key_der().unwrap(),
            key.public_key_der().unwrap(),
            "{name}"
        );
    }
    // One step beyond each cap, refused before the key derivation runs.
    let refused: [(&str, &[&str]); 3] = [
        ("scrypt-p9", &["-scrypt", "-scrypt_p", "9"]),
        (
            "sha256-2000001",
            &["-v2prf", "hmacWithSHA256", "-iter", "2000001"],
        ),
        (
            "sha512-700001",
            &["-v2prf", "hmacWithSHA512", "-iter", "700001"],
        ),
    ];
    for (name, options) in refused {
        let pem = encrypt(name, options);
        match PrivateKey::from_encrypted_pkcs8_pem(&pem, &passphrase) {
            Err(autocsr_keygen::Error::LimitExceeded { .. }) => {}
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
}
