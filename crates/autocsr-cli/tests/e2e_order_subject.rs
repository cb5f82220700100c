//! `autocsr order` subject flags: `--org` with `--locality`/`--state` (BR 7.1.2.7.4), and a
//! `--domain` longer than a subject commonName may be (ub-common-name, 64 characters).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code, including helpers outside #[test]: a failed expectation is the failure"
)]

mod common;

use autocsr_interop::require_program;
use common::{Sandbox, str_field};

fn openssl_subject_and_text(openssl: &autocsr_interop::Program, csr: &str) -> (String, String) {
    let verify = openssl.run_ok(["req", "-in", csr, "-verify", "-noout"]);
    let said = String::from_utf8_lossy(&verify.stderr).into_owned()
        + &String::from_utf8_lossy(&verify.stdout);
    assert!(said.contains("verify OK"), "{said}");
    let subject = openssl.run_ok([
        "req",
        "-in",
        csr,
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253,-esc_msb",
    ]);
    let text = openssl.run_ok(["req", "-in", csr, "-noout", "-text"]);
    (
        String::from_utf8(subject.stdout).unwrap().trim().to_owned(),
        String::from_utf8(text.stdout).unwrap(),
    )
}

#[test]
fn an_organization_without_a_country_locality_or_state_exits_2_and_writes_nothing() {
    let sandbox = Sandbox::new();
    let out = sandbox.out_dir().display().to_string();
    let (error, _) = sandbox.json(
        [
            "order",
            "--domain",
            "example.com",
            "--key",
            "p256",
            "--org",
            "Example Ltd",
            "--country",
            "DE",
            "--out",
            &out,
        ],
        2,
    );
    assert_eq!(error["error"]["kind"], "usage", "{error}");
    // Without a country it is refused the same way (BR 7.1.2.7.4 requires C for OV).
    let (error, _) = sandbox.json(
        [
            "order",
            "--domain",
            "example.com",
            "--key",
            "p256",
            "--org",
            "Example Ltd",
            "--locality",
            "Berlin",
            "--out",
            &out,
        ],
        2,
    );
    assert_eq!(error["error"]["kind"], "usage", "{error}");
    let written = std::fs::read_dir(sandbox.out_dir())
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(written, 0, "a refused order left files behind");
}

#[test]
fn organization_locality_and_state_reach_the_csr() {
    let openssl = require_program!("openssl");
    let sandbox = Sandbox::new();
    let order = sandbox.order(
        "shop.example.com",
        &[
            "--key",
            "p256",
            "--org",
            "Example GmbH",
            "--locality",
            "München",
            "--state",
            "Bayern",
            "--country",
            "DE",
        ],
    );
    let (subject, _) = openssl_subject_and_text(&openssl, str_field(&order, "csr"));
    assert_eq!(
        subject,
        "subject=CN=shop.example.com,O=Example GmbH,L=München,ST=Bayern,C=DE"
    );
}

#[test]
fn a_domain_over_64_characters_is_ordered_as_a_san_without_a_common_name() {
    let openssl = require_program!("openssl");
    let sandbox = Sandbox::new();
    let domain = format!("{}.example.com", "a".repeat(53));
    assert_eq!(domain.len(), 65);
    let order = sandbox.order(&domain, &["--key", "p256", "--san", "www.example.com"]);
    let (subject, text) = openssl_subject_and_text(&openssl, str_field(&order, "csr"));
    assert_eq!(subject, "subject=");
    assert!(
        text.contains(&format!("DNS:{domain}, DNS:www.example.com")),
        "{text}"
    );
}
