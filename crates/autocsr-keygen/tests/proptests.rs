//! Property tests: random algorithm x random valid names -> a CSR that x509-cert parses,
//! whose self-signature verifies and whose subject and SANs round-trip; and
//! key -> PKCS#8 (plain and encrypted) -> key keeps the public key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "strategies and checks outside #[test] functions"
)]

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;

use autocsr_keygen::secrecy::{ExposeSecret, SecretString};
use autocsr_keygen::{CsrRequest, KeyAlgorithm, Pkcs8Encryption, PrivateKey, check_dns_name};
use common::TestRng;
use der::{Decode, Encode};
use proptest::prelude::*;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::request::CertReq;

fn label() -> impl Strategy<Value = String> {
    // LDH, 1-63 bytes, no hyphen at either end, no "--" in positions 3-4.
    "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
        .prop_filter("reserved R-LDH label", |l| l.get(2..4) != Some("--"))
}

fn dns_name() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        proptest::collection::vec(label(), 1..4),
        "[a-z][a-z0-9]{1,10}",
    )
        .prop_map(|(wildcard, labels, tld)| {
            let mut name = labels.join(".");
            name.push('.');
            name.push_str(&tld);
            if wildcard {
                name.insert_str(0, "*.");
            }
            name
        })
        .prop_filter("at most 253 bytes", |name| name.len() <= 253)
}

fn ip_address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn attribute() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(
        "[A-Za-z0-9 .,'ÄÖÜäöüß-]{1,40}".prop_filter("not blank", |s| !s.trim().is_empty()),
    )
}

#[derive(Debug, Clone)]
struct Request {
    dns_names: Vec<String>,
    ip_addresses: Vec<IpAddr>,
    common_name_index: Option<usize>,
    organization: Option<String>,
    locality: Option<String>,
    state: Option<String>,
    country: Option<String>,
}

fn request() -> impl Strategy<Value = Request> {
    (
        proptest::collection::btree_set(dns_name(), 0..6),
        proptest::collection::btree_set(ip_address(), 0..3),
        any::<Option<prop::sample::Index>>(),
        attribute(),
        attribute(),
        attribute(),
        proptest::option::of("[A-Z]{2}"),
    )
        .prop_filter("at least one SAN", |(dns, ips, ..)| {
            !dns.is_empty() || !ips.is_empty()
        })
        // BR 7.1.2.7.4: an organization comes with a country and a locality or a state.
        .prop_filter(
            "O with C and L or ST",
            |(_, _, _, organization, locality, state, country)| {
                organization.is_none()
                    || (country.is_some() && (locality.is_some() || state.is_some()))
            },
        )
        .prop_map(|(dns, ips, cn, organization, locality, state, country)| {
            let dns_names: Vec<String> = dns.into_iter().collect();
            let common_name_index = cn.and_then(|index| {
                // CN of up to 64 characters only (ub-common-name).
                let candidates: Vec<usize> = (0..dns_names.len())
                    .filter(|&i| dns_names[i].len() <= 64)
                    .collect();
                (!candidates.is_empty()).then(|| candidates[index.index(candidates.len())])
            });
            Request {
                dns_names,
                ip_addresses: ips.into_iter().collect(),
                common_name_index,
                organization,
                locality,
                state,
                country,
            }
        })
}

fn build(request: &Request) -> CsrRequest {
    let mut csr = CsrRequest::new().dns_names(request.dns_names.iter().cloned());
    for address in &request.ip_addresses {
        csr = csr.ip_address(*address);
    }
    if let Some(index) = request.common_name_index {
        csr = csr.common_name(request.dns_names[index].clone());
    }
    if let Some(value) = &request.organization {
        csr = csr.organization(value.clone());
    }
    if let Some(value) = &request.locality {
        csr = csr.locality(value.clone());
    }
    if let Some(value) = &request.state {
        csr = csr.state_or_province(value.clone());
    }
    if let Some(value) = &request.country {
        csr = csr.country(value.clone());
    }
    csr
}

fn check_round_trip(key: &PrivateKey, request: &Request) {
    let csr = build(request).sign(key).unwrap();
    let parsed = CertReq::from_der(csr.to_der()).unwrap();
    common::verify_signature_independently(&parsed);
    assert_eq!(
        parsed.info.public_key.to_der().unwrap(),
        key.public_key_der().unwrap()
    );

    let subject = &parsed.info.subject;
    let text = |value: der::Result<Option<x509_cert::ext::pkix::name::DirectoryString>>| {
        value.unwrap().map(String::from)
    };
    assert_eq!(
        text(subject.common_name()),
        request
            .common_name_index
            .map(|i| request.dns_names[i].clone())
    );
    assert_eq!(text(subject.organization()), request.organization);
    assert_eq!(text(subject.locality()), request.locality);
    assert_eq!(text(subject.state_or_province()), request.state);
    assert_eq!(
        subject.country().unwrap().map(|c| c.as_str().to_owned()),
        request.country
    );

    let mut dns = BTreeSet::new();
    let mut ips = BTreeSet::new();
    for attribute in parsed.info.attributes.iter() {
        for value in attribute.values.iter() {
            let extensions: Vec<x509_cert::ext::Extension> = value.decode_as().unwrap();
            for extension in extensions {
                let names = SubjectAltName::from_der(extension.extn_value.as_bytes()).unwrap();
                for name in names.0 {
                    match name {
                        GeneralName::DnsName(name) => assert!(dns.insert(name.to_string())),
                        GeneralName::IpAddress(octets) => {
                            let bytes = octets.as_bytes();
                            let address = match bytes.len() {
                                4 => IpAddr::from(<[u8; 4]>::try_from(bytes).unwrap()),
                                16 => IpAddr::from(<[u8; 16]>::try_from(bytes).unwrap()),
                                n => panic!("IP SAN of {n} bytes"),
                            };
                            assert!(ips.insert(address));
                        }
                        other => panic!("unexpected SAN {other:?}"),
                    }
                }
            }
        }
    }
    assert_eq!(dns, request.dns_names.iter().cloned().collect());
    assert_eq!(ips, request.ip_addresses.iter().copied().collect());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_names_pass_the_syntax_check(name in dns_name()) {
        prop_assert_eq!(check_dns_name(&name).unwrap(), name);
    }

    #[test]
    fn ec_csrs_round_trip(
        p384 in any::<bool>(),
        seed in any::<u64>(),
        request in request(),
    ) {
        let algorithm = if p384 { KeyAlgorithm::EcdsaP384 } else { KeyAlgorithm::EcdsaP256 };
        let key = PrivateKey::generate_with_rng(algorithm, &mut TestRng::new(seed)).unwrap();
        check_round_trip(&key, &request);
    }

    #[test]
    fn ec_keys_survive_plain_pkcs8(p384 in any::<bool>(), seed in any::<u64>()) {
        let algorithm = if p384 { KeyAlgorithm::EcdsaP384 } else { KeyAlgorithm::EcdsaP256 };
        let key = PrivateKey::generate_with_rng(algorithm, &mut TestRng::new(seed)).unwrap();
        let der = key.to_pkcs8_der().unwrap();
        let from_der = PrivateKey::from_pkcs8_der(der.expose_secret()).unwrap();
        let from_pem = PrivateKey::from_pkcs8_pem(key.to_pkcs8_pem().unwrap().expose_secret()).unwrap();
        prop_assert_eq!(from_der.public_key_der().unwrap(), key.public_key_der().unwrap());
        prop_assert_eq!(from_pem.public_key_der().unwrap(), key.public_key_der().unwrap());
        prop_assert_eq!(from_der.algorithm(), algorithm);
    }
}

proptest! {
    // scrypt (16 MiB) and PBKDF2 (600,000 rounds) cost tens of milliseconds per case.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn ec_keys_survive_encrypted_pkcs8(
        p384 in any::<bool>(),
        pbkdf2 in any::<bool>(),
        seed in any::<u64>(),
        passphrase in "\\PC{1,40}",
    ) {
        let algorithm = if p384 { KeyAlgorithm::EcdsaP384 } else { KeyAlgorithm::EcdsaP256 };
        let encryption = if pbkdf2 { Pkcs8Encryption::Pbkdf2Sha256 } else { Pkcs8Encryption::Scrypt };
        let key = PrivateKey::generate_with_rng(algorithm, &mut TestRng::new(seed)).unwrap();
        let passphrase = SecretString::from(passphrase);
        let pem = key.to_encrypted_pkcs8_pem(&passphrase, encryption).unwrap();
        let back = PrivateKey::from_encrypted_pkcs8_pem(&pem, &passphrase).unwrap();
        prop_assert_eq!(back.public_key_der().unwrap(), key.public_key_der().unwrap());
    }
}

proptest! {
    // RSA key generation is the slow part: few cases.
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn rsa_csrs_and_pkcs8_round_trip(
        size in prop::sample::select(vec![KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa3072]),
        seed in any::<u64>(),
        request in request(),
        pbkdf2 in any::<bool>(),
    ) {
        let key = PrivateKey::generate_with_rng(size, &mut TestRng::new(seed)).unwrap();
        check_round_trip(&key, &request);
        let der = key.to_pkcs8_der().unwrap();
        prop_assert_eq!(
            PrivateKey::from_pkcs8_der(der.expose_secret()).unwrap().public_key_der().unwrap(),
            key.public_key_der().unwrap()
        );
        let passphrase = SecretString::from("proptest");
        let encryption = if pbkdf2 { Pkcs8Encryption::Pbkdf2Sha256 } else { Pkcs8Encryption::Scrypt };
        let encrypted = key.to_encrypted_pkcs8_der(&passphrase, encryption).unwrap();
        let back = PrivateKey::from_encrypted_pkcs8_der(&encrypted, &passphrase).unwrap();
        prop_assert_eq!(back.public_key_der().unwrap(), key.public_key_der().unwrap());
        prop_assert_eq!(back.algorithm(), size);
    }
}
