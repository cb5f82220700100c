//! One test per finding id, named after the id: an input that raises it and a near miss
//! that does not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers"
)]

use std::path::Path;
use std::sync::Arc;

use autocsr_policy::{DebianWeakKeys, Policy, Report, Severity, check_csr, check_names, ids};

fn data(file: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(file),
    )
    .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn csr(file: &str) -> Report {
    check_csr(&data(&format!("csr/{file}")))
}

fn ids_of(report: &Report) -> Vec<&'static str> {
    report.findings().iter().map(|f| f.id).collect()
}

#[track_caller]
fn raises(report: &Report, id: &str) {
    assert!(report.has(id), "expected {id}, got {:?}", ids_of(report));
    let severity = report
        .findings()
        .iter()
        .find(|f| f.id == id)
        .unwrap()
        .severity;
    assert_eq!(severity, ids::severity_of(id).unwrap());
    assert_eq!(
        report.accepted(),
        severity != Severity::Error || !report.has(id) && report.accepted()
    );
}

#[track_caller]
fn clean(report: &Report, id: &str) {
    assert!(
        !report.has(id),
        "did not expect {id}, got {:?}",
        ids_of(report)
    );
}

#[track_caller]
fn accepted(report: &Report) {
    assert!(
        report.accepted(),
        "expected accept, got {:?}",
        report.findings()
    );
}

// --- DER helpers for hand-made SubjectPublicKeyInfo (public data only) ---

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap());
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | u8::try_from(bytes.len()).unwrap());
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn der_uint(be: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::new();
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend(trimmed);
    tlv(0x02, &content)
}

fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let rsa_encryption = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let algorithm = tlv(0x30, &rsa_encryption);
    let key = tlv(0x30, &[der_uint(n), der_uint(e)].concat());
    let mut bits = vec![0u8];
    bits.extend(key);
    tlv(0x30, &[algorithm, tlv(0x03, &bits)].concat())
}

/// The modulus of the good RSA-2048 test CSR (read with the crate's own report: its
/// SPKI DER, then the INTEGER inside).
fn good_modulus() -> Vec<u8> {
    let report = csr("good-rsa-2048-sha256.pem");
    let spki = report.csr().unwrap().spki_der().to_vec();
    // SPKI: 30 82 01 22 | 30 0d <alg> | 03 82 01 0f 00 | 30 82 01 0a | 02 82 01 01 00 <256 bytes n> ...
    let at = spki
        .windows(4)
        .position(|w| w == [0x02, 0x82, 0x01, 0x01])
        .unwrap();
    spki[at + 5..at + 5 + 256].to_vec()
}

// --- csr.* ---

#[test]
fn csr_malformed() {
    raises(&csr("bad-csr-garbage.pem"), ids::CSR_MALFORMED);
    raises(&csr("bad-csr-truncated.pem"), ids::CSR_MALFORMED);
    raises(&check_csr(b""), ids::CSR_MALFORMED);
    // Near miss: the same CSR as DER, as PEM with the NEW label, and inside other text.
    accepted(&check_csr(&data("extra/good-rsa-2048-sha256.der")));
    accepted(&check_csr(&data("extra/good-p256-new-label.pem")));
    let mut wrapped = b"Hello, here is my CSR:\r\n\r\n".to_vec();
    wrapped.extend(data("csr/good-rsa-2048-sha256.pem"));
    wrapped.extend(b"\nThanks!\n");
    let report = check_csr(&wrapped);
    clean(&report, ids::CSR_MALFORMED);
    accepted(&report);
    // Two CSR blocks are ambiguous.
    let mut twice = data("csr/good-rsa-2048-sha256.pem");
    twice.extend(data("csr/good-rsa-2048-sha256.pem"));
    raises(&check_csr(&twice), ids::CSR_MALFORMED);
}

#[test]
fn csr_too_large() {
    let good = data("csr/good-rsa-2048-sha256.pem");
    // Exactly 64 KiB (CSR plus surrounding text) is still read.
    let mut at_limit = good.clone();
    at_limit.resize(autocsr_policy::MAX_INPUT_LEN, b' ');
    let report = check_csr(&at_limit);
    clean(&report, ids::CSR_TOO_LARGE);
    accepted(&report);
    // One byte more is refused before parsing.
    let mut over = at_limit;
    over.push(b' ');
    let report = check_csr(&over);
    raises(&report, ids::CSR_TOO_LARGE);
    assert!(report.csr().is_none());
}

#[test]
fn csr_signature_invalid() {
    raises(
        &csr("bad-csr-signature-flipped.pem"),
        ids::CSR_SIGNATURE_INVALID,
    );
    for good in [
        "good-rsa-2048-sha256.pem",
        "good-rsa-2048-pss-sha256.pem",
        "good-ecdsa-p256-sha256.pem",
        "good-ecdsa-p384-sha384.pem",
        "good-ecdsa-p521-sha512.pem",
    ] {
        let report = csr(good);
        clean(&report, ids::CSR_SIGNATURE_INVALID);
        accepted(&report);
    }
}

/// RSA moduli above the rsa crate's default verify limit (8192 bits) up to the largest the
/// key rules accept (16384) are verified, not refused as `signature_invalid`; the flipped
/// copy shows the signature really is checked.
#[test]
fn a_16384_bit_rsa_csr_verifies_and_its_flipped_copy_does_not() {
    let pem = data("extra/good-rsa-16384.pem");
    let report = check_csr(&pem);
    clean(&report, ids::CSR_SIGNATURE_INVALID);
    accepted(&report);
    let (_, mut der) = der::pem::decode_vec(&pem).unwrap();
    *der.last_mut().unwrap() ^= 1;
    raises(&check_csr(&der), ids::CSR_SIGNATURE_INVALID);
}

#[test]
fn csr_signature_algorithm_weak() {
    let report = csr("bad-csr-sha1-signature.pem");
    raises(&report, ids::CSR_SIGNATURE_ALGORITHM_WEAK);
    assert_eq!(
        report.csr().unwrap().signature_algorithm(),
        "sha1WithRSAEncryption"
    );
    clean(
        &csr("good-rsa-2048-sha256.pem"),
        ids::CSR_SIGNATURE_ALGORITHM_WEAK,
    );
}

// --- key.* ---

#[test]
fn key_rsa_modulus_too_small() {
    let report = csr("bad-key-rsa-1024.pem");
    raises(&report, ids::KEY_RSA_MODULUS_TOO_SMALL);
    assert_eq!(report.csr().unwrap().public_key(), "rsa1024");
    let report = csr("good-rsa-2048-sha256.pem");
    clean(&report, ids::KEY_RSA_MODULUS_TOO_SMALL);
    assert_eq!(report.csr().unwrap().public_key(), "rsa2048");
}

#[test]
fn key_rsa_modulus_too_large() {
    let mut big = vec![0xffu8; 16392 / 8];
    *big.last_mut().unwrap() = 0xfd;
    raises(
        &Policy::default().check_public_key(&rsa_spki(&big, &[1, 0, 1])),
        ids::KEY_RSA_MODULUS_TOO_LARGE,
    );
    let mut at_limit = vec![0xffu8; 16384 / 8];
    *at_limit.last_mut().unwrap() = 0xfd;
    clean(
        &Policy::default().check_public_key(&rsa_spki(&at_limit, &[1, 0, 1])),
        ids::KEY_RSA_MODULUS_TOO_LARGE,
    );
}

#[test]
fn key_rsa_modulus_not_multiple_of_8() {
    raises(
        &csr("bad-key-rsa-2049-bits.pem"),
        ids::KEY_RSA_MODULUS_NOT_MULTIPLE_OF_8,
    );
    raises(
        &Policy::default().check_public_key(&data("csr/spki-roca-crocs-cert04.pem")),
        ids::KEY_RSA_MODULUS_NOT_MULTIPLE_OF_8,
    );
    clean(
        &csr("good-rsa-3072-sha256.pem"),
        ids::KEY_RSA_MODULUS_NOT_MULTIPLE_OF_8,
    );
}

#[test]
fn key_rsa_exponent_invalid() {
    raises(
        &csr("bad-key-rsa-even-exponent.pem"),
        ids::KEY_RSA_EXPONENT_INVALID,
    );
    let n = good_modulus();
    let policy = Policy::default();
    raises(
        &policy.check_public_key(&rsa_spki(&n, &[1])),
        ids::KEY_RSA_EXPONENT_INVALID,
    );
    raises(
        &policy.check_public_key(&rsa_spki(&n, &[1, 0, 0])),
        ids::KEY_RSA_EXPONENT_INVALID,
    );
    // Near miss: e = 3 is odd and >= 3 (only a warning).
    clean(
        &csr("warn-key-rsa-exponent-3.pem"),
        ids::KEY_RSA_EXPONENT_INVALID,
    );
    clean(
        &policy.check_public_key(&rsa_spki(&n, &[3])),
        ids::KEY_RSA_EXPONENT_INVALID,
    );
}

#[test]
fn key_rsa_exponent_out_of_range() {
    let report = csr("warn-key-rsa-exponent-3.pem");
    raises(&report, ids::KEY_RSA_EXPONENT_OUT_OF_RANGE);
    accepted(&report);
    let n = good_modulus();
    let policy = Policy::default();
    let check = |e: &[u8]| policy.check_public_key(&rsa_spki(&n, e));
    raises(&check(&[0xff, 0xff]), ids::KEY_RSA_EXPONENT_OUT_OF_RANGE); // 65535
    clean(&check(&[1, 0, 1]), ids::KEY_RSA_EXPONENT_OUT_OF_RANGE); // 65537 = 2^16+1
    clean(&check(&[0xff; 32]), ids::KEY_RSA_EXPONENT_OUT_OF_RANGE); // 2^256-1
    let mut above = vec![1u8];
    above.extend([0u8; 31]);
    above.push(1); // 2^256+1
    raises(&check(&above), ids::KEY_RSA_EXPONENT_OUT_OF_RANGE);
}

#[test]
fn key_rsa_small_factor() {
    let report = csr("bad-key-rsa-small-factor.pem");
    raises(&report, ids::KEY_RSA_SMALL_FACTOR);
    let finding = report
        .findings()
        .iter()
        .find(|f| f.id == ids::KEY_RSA_SMALL_FACTOR)
        .unwrap();
    assert_eq!(finding.value.as_deref(), Some("331"));
    clean(&csr("good-rsa-2048-sha256.pem"), ids::KEY_RSA_SMALL_FACTOR);
}

#[test]
fn key_rsa_fermat_factorable() {
    raises(
        &csr("bad-key-rsa-fermat.pem"),
        ids::KEY_RSA_FERMAT_FACTORABLE,
    );
    clean(
        &csr("good-rsa-2048-sha256.pem"),
        ids::KEY_RSA_FERMAT_FACTORABLE,
    );
}

#[test]
fn key_rsa_roca() {
    raises(&csr("bad-key-roca-generated.pem"), ids::KEY_RSA_ROCA);
    raises(&csr("bad-key-roca-crocs-sample.pem"), ids::KEY_RSA_ROCA);
    raises(
        &Policy::default().check_public_key(&data("upstream/roca-crocs-cert05.spki.pem")),
        ids::KEY_RSA_ROCA,
    );
    clean(&csr("good-rsa-2048-sha256.pem"), ids::KEY_RSA_ROCA);
    clean(&csr("good-rsa-4096-sha256.pem"), ids::KEY_RSA_ROCA);
}

#[test]
fn key_rsa_debian_weak() {
    let list = DebianWeakKeys::parse(
        std::str::from_utf8(&data("debian-weak-keys/blacklist.RSA-2048")).unwrap(),
    )
    .unwrap();
    assert_eq!(list.len(), 2);
    let policy = Policy::default().with_rsa_blocklist(Arc::new(list));
    let weak = data("csr/bad-key-debian-weak.pem");
    raises(&policy.check_csr(&weak), ids::KEY_RSA_DEBIAN_WEAK);
    // Near misses: the same key without a host list, and a good key with the list.
    clean(&check_csr(&weak), ids::KEY_RSA_DEBIAN_WEAK);
    clean(
        &policy.check_csr(&data("csr/good-rsa-2048-sha256.pem")),
        ids::KEY_RSA_DEBIAN_WEAK,
    );
}

#[test]
fn key_ec_curve_not_allowed() {
    raises(&csr("bad-key-ec-p224.pem"), ids::KEY_EC_CURVE_NOT_ALLOWED);
    raises(
        &csr("bad-key-ec-secp256k1.pem"),
        ids::KEY_EC_CURVE_NOT_ALLOWED,
    );
    for good in [
        "good-ecdsa-p256-sha256.pem",
        "good-ecdsa-p384-sha384.pem",
        "good-ecdsa-p521-sha512.pem",
    ] {
        clean(&csr(good), ids::KEY_EC_CURVE_NOT_ALLOWED);
    }
}

#[test]
fn key_ec_point_invalid() {
    raises(
        &csr("bad-key-ec-point-not-on-curve.pem"),
        ids::KEY_EC_POINT_INVALID,
    );
    let report = csr("good-ecdsa-p256-sha256.pem");
    clean(&report, ids::KEY_EC_POINT_INVALID);
    assert_eq!(report.csr().unwrap().public_key(), "p256");
}

#[test]
fn key_algorithm_not_allowed() {
    raises(&csr("bad-key-ed25519.pem"), ids::KEY_ALGORITHM_NOT_ALLOWED);
    raises(&csr("bad-key-dsa-2048.pem"), ids::KEY_ALGORITHM_NOT_ALLOWED);
    clean(
        &csr("good-ecdsa-p384-sha384.pem"),
        ids::KEY_ALGORITHM_NOT_ALLOWED,
    );
}

// --- name.* and subject.* ---

#[test]
fn name_san_missing() {
    raises(&check_names(&[], None), ids::NAME_SAN_MISSING);
    raises(&csr("bad-name-no-san-no-cn.pem"), ids::NAME_SAN_MISSING);
    clean(&check_names(&["example.com"], None), ids::NAME_SAN_MISSING);
    clean(&csr("good-san-only-no-cn.pem"), ids::NAME_SAN_MISSING);
}

#[test]
fn name_san_type_not_allowed() {
    let report = check_csr(&data("extra/san-email.pem"));
    raises(&report, ids::NAME_SAN_TYPE_NOT_ALLOWED);
    clean(
        &csr("good-cn-equals-san.pem"),
        ids::NAME_SAN_TYPE_NOT_ALLOWED,
    );
}

#[test]
fn name_dns_syntax() {
    for bad in [
        "under_score.example.com",
        "example.com.",
        "a..example.com",
        "-lead.example.com",
        "trail-.example.com",
        "bücher.example.com",
        "sp ace.example.com",
        "",
        // Reserved LDH labels (RFC 5890): "--" in positions 3-4 and not xn--.
        "ab--cd.example.com",
        "www.AB--CD.example.com",
        "*.qq--x.example.com",
    ] {
        raises(&check_names(&[bad], None), ids::NAME_DNS_SYNTAX);
    }
    raises(&csr("bad-name-underscore.pem"), ids::NAME_DNS_SYNTAX);
    for good in [
        "under-score.example.com",
        "a-b.example.com",
        "WWW.Example.COM",
        "1.example.com",
        "a--b.example.com",
        "abc--d.example.com",
        "xn--bcher-kva.example.com",
        "XN--BCHER-KVA.example.com",
    ] {
        let report = check_names(&[good], None);
        clean(&report, ids::NAME_DNS_SYNTAX);
        accepted(&report);
    }
}

#[test]
fn name_dns_too_long() {
    let label = |n: usize| "a".repeat(n);
    raises(
        &check_names(&[&format!("{}.example.com", label(64))], None),
        ids::NAME_DNS_TOO_LONG,
    );
    accepted(&check_names(&[&format!("{}.example.com", label(63))], None));
    // 253 bytes is the maximum: four labels of 61 + ".com"... built to exact lengths.
    let name_of_len = |total: usize| {
        let mut name = String::new();
        while name.len() + 4 + 62 < total {
            name.push_str(&label(61));
            name.push('.');
        }
        let rest = total - name.len() - 4;
        name.push_str(&label(rest));
        name.push_str(".com");
        assert_eq!(name.len(), total);
        name
    };
    accepted(&check_names(&[&name_of_len(253)], None));
    raises(
        &check_names(&[&name_of_len(254)], None),
        ids::NAME_DNS_TOO_LONG,
    );
    raises(&csr("bad-name-label-64.pem"), ids::NAME_DNS_TOO_LONG);
    raises(&csr("bad-name-total-too-long.pem"), ids::NAME_DNS_TOO_LONG);
    clean(&csr("good-label-63-chars.pem"), ids::NAME_DNS_TOO_LONG);
}

#[test]
fn name_idn_invalid() {
    for bad in [
        "xn--zz9.example.com",
        "xn--.example.com",
        "xn--abc-.example.com",
    ] {
        let report = check_names(&[bad], None);
        assert!(
            report.has(ids::NAME_IDN_INVALID) || report.has(ids::NAME_DNS_SYNTAX),
            "{bad}: {:?}",
            ids_of(&report)
        );
    }
    raises(
        &check_names(&["xn--zz9.example.com"], None),
        ids::NAME_IDN_INVALID,
    );
    // Decodable punycode that is not an A-label: "Ü" (UTS #46 maps it to "ü" = xn--tda),
    // and a combining mark at the start of a label (IDNA2008 forbids it).
    raises(
        &check_names(&["xn--wca.example.com"], None),
        ids::NAME_IDN_INVALID,
    );
    raises(
        &check_names(&["xn--a-wbb.example.com"], None),
        ids::NAME_IDN_INVALID,
    );
    accepted(&check_names(&["xn--tda.example.com"], None));
    raises(
        &csr("bad-name-idn-invalid-punycode.pem"),
        ids::NAME_IDN_INVALID,
    );
    accepted(&check_names(&["xn--bcher-kva.example.com"], None));
    // DNS is case-insensitive: an upper-case A-label is the same label.
    accepted(&check_names(&["XN--BCHER-KVA.example.com"], None));
    accepted(&check_names(&["xn--bcher-kva.xn--p1ai"], None)); // a real IDN TLD (.рф)
    accepted(&csr("good-idn-alabel.pem"));
}

#[test]
fn name_wildcard_not_leftmost() {
    for bad in [
        "www.*.example.com",
        "f*o.example.com",
        "*foo.example.com",
        "*.*.example.com",
        "example.*",
    ] {
        raises(&check_names(&[bad], None), ids::NAME_WILDCARD_NOT_LEFTMOST);
    }
    raises(
        &csr("bad-name-wildcard-middle.pem"),
        ids::NAME_WILDCARD_NOT_LEFTMOST,
    );
    raises(
        &csr("bad-name-wildcard-partial.pem"),
        ids::NAME_WILDCARD_NOT_LEFTMOST,
    );
    accepted(&check_names(&["*.example.com"], None));
    accepted(&csr("good-wildcard.pem"));
}

#[test]
fn name_wildcard_on_public_suffix() {
    for bad in ["*.com", "*.co.uk", "*.uk", "*.kawasaki.jp"] {
        raises(
            &check_names(&[bad], None),
            ids::NAME_WILDCARD_ON_PUBLIC_SUFFIX,
        );
    }
    raises(
        &csr("bad-name-wildcard-com.pem"),
        ids::NAME_WILDCARD_ON_PUBLIC_SUFFIX,
    );
    raises(
        &csr("bad-name-wildcard-co-uk.pem"),
        ids::NAME_WILDCARD_ON_PUBLIC_SUFFIX,
    );
    // Near misses: one label below the suffix, and a private-section suffix (ICANN only).
    accepted(&check_names(&["*.example.co.uk"], None));
    accepted(&check_names(&["*.blogspot.com"], None));
}

#[test]
fn name_internal() {
    for bad in [
        "server.internal",
        "example.local",
        "intranet",
        "host.corp",
        "1.2.168.192.in-addr.arpa",
        "b.a.ip6.arpa",
        "localhost",
        "printer.lan",
    ] {
        raises(&check_names(&[bad], None), ids::NAME_INTERNAL);
    }
    raises(&csr("bad-name-local.pem"), ids::NAME_INTERNAL);
    raises(&csr("bad-name-single-label.pem"), ids::NAME_INTERNAL);
    raises(&csr("bad-name-internal-tld.pem"), ids::NAME_INTERNAL);
    for good in [
        "example.com",
        "example.co.uk",
        "example.dev",
        "iana.arpa",
        "example.xn--p1ai",
    ] {
        accepted(&check_names(&[good], None));
    }
}

#[test]
fn name_ip_reserved() {
    for bad in [
        "10.0.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "::1",
        "::",
        "fe80::1",
        "fd12::1",
        "2001:db8::1",
        "3fff::1",
        "::ffff:8.8.8.8",
        "ff02::1",
    ] {
        raises(&check_names(&[bad], None), ids::NAME_IP_RESERVED);
    }
    raises(&csr("bad-name-ip-10.pem"), ids::NAME_IP_RESERVED);
    raises(&csr("bad-name-ip-loopback.pem"), ids::NAME_IP_RESERVED);
    for good in [
        "8.8.8.8",
        "1.1.1.1",
        "11.0.0.1",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700:4700::1111",
    ] {
        accepted(&check_names(&[good], None));
    }
    let report = csr("good-public-ip.pem");
    accepted(&report);
    assert_eq!(
        report.csr().unwrap().ip_addresses(),
        &["8.8.8.8".parse::<std::net::IpAddr>().unwrap()]
    );
}

#[test]
fn name_cn_not_in_san() {
    raises(
        &check_names(&["example.com"], Some("www.example.com")),
        ids::NAME_CN_NOT_IN_SAN,
    );
    raises(&csr("bad-name-cn-not-in-san.pem"), ids::NAME_CN_NOT_IN_SAN);
    accepted(&check_names(&["example.com"], Some("EXAMPLE.com")));
    accepted(&check_names(&["8.8.8.8"], Some("8.8.8.8")));
    let report = csr("good-cn-equals-san.pem");
    accepted(&report);
    assert_eq!(report.csr().unwrap().common_name(), Some("example.com"));
}

#[test]
fn name_duplicate() {
    let report = check_names(&["www.example.com", "WWW.example.com"], None);
    raises(&report, ids::NAME_DUPLICATE);
    accepted(&report);
    let report = csr("warn-name-duplicate-san.pem");
    raises(&report, ids::NAME_DUPLICATE);
    accepted(&report);
    clean(
        &check_names(&["www.example.com", "example.com"], None),
        ids::NAME_DUPLICATE,
    );
}

#[test]
fn subject_ou_present() {
    let report = csr("warn-subject-ou.pem");
    raises(&report, ids::SUBJECT_OU_PRESENT);
    accepted(&report);
    clean(&csr("good-rsa-2048-sha256.pem"), ids::SUBJECT_OU_PRESENT);
}

#[test]
fn every_id_has_a_test_named_after_it() {
    let source = include_str!("findings.rs");
    for (id, _) in ids::ALL {
        let test_name = id.replace('.', "_");
        assert!(
            source.contains(&format!("fn {test_name}()")),
            "no test for {id}"
        );
    }
}

#[test]
fn reports_every_finding_not_only_the_first() {
    let report = check_names(
        &["under_score.local", "10.0.0.1", "*.com", "intranet"],
        Some("other.example.com"),
    );
    for id in [
        ids::NAME_DNS_SYNTAX,
        ids::NAME_IP_RESERVED,
        ids::NAME_WILDCARD_ON_PUBLIC_SUFFIX,
        ids::NAME_INTERNAL,
        ids::NAME_CN_NOT_IN_SAN,
    ] {
        raises(&report, id);
    }
}

#[test]
fn checked_csr_summary() {
    let report = csr("good-rsa-2048-pss-sha256.pem");
    let checked = report.accepted_csr().unwrap();
    assert_eq!(checked.public_key(), "rsa2048");
    assert!(
        checked
            .signature_algorithm()
            .starts_with("RSASSA-PSS (SHA-256"),
        "{}",
        checked.signature_algorithm()
    );
    assert_eq!(checked.spki_sha256_hex().len(), 64);
    assert!(!checked.names().is_empty());
    assert!(csr("bad-key-rsa-1024.pem").accepted_csr().is_none());
}

#[test]
fn readme_table_lists_every_id_with_its_severity() {
    let readme = include_str!("../README.md");
    for (id, severity) in ids::ALL {
        assert!(
            readme.contains(&format!("| `{id}` | {} |", severity.as_str())),
            "README table lacks {id}"
        );
    }
}
