//! No secret in `Debug`: every type that holds key material or a passphrase is formatted
//! with `{:?}` and `{:#?}` and searched for the key bytes, the PEM body and the passphrase.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "helpers outside #[test] functions: a failed expectation is the point"
)]

use autocsr_keygen::secrecy::{ExposeSecret, SecretString};
use autocsr_keygen::{KeyAlgorithm, Pkcs8Encryption, PrivateKey};

const PASSPHRASE: &str = "hunter2-correct-horse-battery";

/// Fragments that must never appear: windows of the DER in hex (upper and lower case) and
/// as a Rust byte list, 12-character windows of the PEM body, and the passphrase.
fn forbidden_fragments(key: &PrivateKey) -> Vec<String> {
    let der = key.to_pkcs8_der().unwrap();
    let der = der.expose_secret();
    // Every 12-byte window after the public PKCS#8 header (version, algorithm identifier):
    // the secret scalar or RSA primes lie in there, whatever the algorithm. Stricter than
    // needed (it also forbids the public key), which no Debug here prints either.
    let mut fragments = vec![PASSPHRASE.to_owned()];
    for window in der.get(26..).unwrap().chunks(12).filter(|w| w.len() == 12) {
        fragments.push(hex::encode(window));
        fragments.push(hex::encode_upper(window));
        fragments.push(format!("{window:?}").trim_matches(['[', ']']).to_owned());
    }
    let pem_windows_start = fragments.len();
    let pem = key.to_pkcs8_pem().unwrap();
    let body: String = pem
        .expose_secret()
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let body = body.as_bytes();
    // Skip the public header of the base64 body; every later window is secret-dependent.
    for window in body.get(40..).unwrap().chunks(12) {
        if window.len() == 12 {
            fragments.push(String::from_utf8(window.to_vec()).unwrap());
        }
    }
    assert!(fragments.len() > pem_windows_start + 10);
    fragments
}

fn assert_redacted(what: &str, formatted: &str, forbidden: &[String]) {
    for fragment in forbidden {
        assert!(
            !formatted.contains(fragment.as_str()),
            "{what} leaks {fragment:?} in {formatted}"
        );
    }
}

#[test]
fn no_secret_holding_type_prints_its_secret() {
    let passphrase = SecretString::from(PASSPHRASE);
    for algorithm in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Rsa2048,
    ] {
        let key = PrivateKey::generate(algorithm).unwrap();
        let forbidden = forbidden_fragments(&key);
        // Each fragment really occurs in the thing it is taken from (the test can fail).
        let pem = key.to_pkcs8_pem().unwrap();
        let der_hex = hex::encode(key.to_pkcs8_der().unwrap().expose_secret());
        let pem_flat = pem.expose_secret().replace('\n', "");
        let der_windows = (der_hex.len() / 2 - 26) / 12;
        assert!(
            forbidden
                .iter()
                .skip(1)
                .step_by(3)
                .take(der_windows)
                .all(|f| der_hex.contains(f.as_str()))
        );
        assert!(
            forbidden
                .iter()
                .rev()
                .take(10)
                .all(|f| pem_flat.contains(f.as_str()))
        );

        let items: Vec<(&str, String, String)> = vec![
            ("PrivateKey", format!("{key:?}"), format!("{key:#?}")),
            (
                "to_pkcs8_der",
                format!("{:?}", key.to_pkcs8_der().unwrap()),
                format!("{:#?}", key.to_pkcs8_der().unwrap()),
            ),
            ("to_pkcs8_pem", format!("{pem:?}"), format!("{pem:#?}")),
            (
                "passphrase",
                format!("{passphrase:?}"),
                format!("{passphrase:#?}"),
            ),
            (
                "Result<PrivateKey>",
                format!("{:?}", PrivateKey::from_pkcs8_pem(pem.expose_secret())),
                String::new(),
            ),
            (
                "wrong-passphrase error",
                format!(
                    "{:?}",
                    PrivateKey::from_encrypted_pkcs8_pem(
                        &key.to_encrypted_pkcs8_pem(&passphrase, Pkcs8Encryption::Scrypt)
                            .unwrap(),
                        &SecretString::from("not the passphrase"),
                    )
                ),
                String::new(),
            ),
        ];
        for (what, compact, pretty) in items {
            assert_redacted(what, &compact, &forbidden);
            assert_redacted(what, &pretty, &forbidden);
        }
        assert_eq!(
            format!("{key:?}"),
            format!("PrivateKey {{ algorithm: {algorithm:?}, key: \"[REDACTED]\" }}")
        );
    }
}

#[test]
fn the_fragment_check_would_catch_a_leak() {
    // A control: formatting the raw bytes the way a derived Debug would must trip the check.
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let forbidden = forbidden_fragments(&key);
    let der = key.to_pkcs8_der().unwrap();
    let leaked = format!("{:?}", der.expose_secret());
    assert!(
        forbidden
            .iter()
            .any(|fragment| leaked.contains(fragment.as_str()))
    );
    let pem = key.to_pkcs8_pem().unwrap();
    let leaked = format!("{:?}", pem.expose_secret());
    assert!(
        forbidden
            .iter()
            .any(|fragment| leaked.contains(fragment.as_str()))
    );
}
