//! CSR building: content checked with x509-cert (not our code), every refusal, and signers
//! that hold keys this crate never sees.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "helpers outside #[test] functions: a failed expectation is the point"
)]

mod common;

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use autocsr_keygen::secrecy::ExposeSecret;
use autocsr_keygen::signature::Error as SignerError;
use autocsr_keygen::{
    Csr, CsrRequest, CsrSigner, Error, KeyAlgorithm, MAX_SUBJECT_ALT_NAMES, PrivateKey,
    SignatureAlgorithm,
};
use common::TestRng;
use der::{Decode, Encode, Tag, Tagged};
use signature::{Keypair, SignatureEncoding, Signer};
use spki::EncodePublicKey;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::request::CertReq;

fn p256_key() -> PrivateKey {
    PrivateKey::generate_with_rng(KeyAlgorithm::EcdsaP256, &mut TestRng::new(11)).unwrap()
}

/// Checks the self-signature with the RustCrypto verifiers directly (not our code path),
/// and the signature algorithm's parameters.
fn verify_independently(csr: &Csr) -> CertReq {
    let request = CertReq::from_der(csr.to_der()).unwrap();
    common::verify_signature_independently(&request);
    match request.algorithm.oid.to_string().as_str() {
        // RFC 4055: the parameters are an explicit NULL.
        "1.2.840.113549.1.1.11" => assert_eq!(
            request.algorithm.parameters.as_ref().unwrap().tag(),
            Tag::Null
        ),
        // RFC 5758: ECDSA signature algorithms have no parameters.
        _ => assert!(request.algorithm.parameters.is_none()),
    }
    request
}

fn subject_alt_names(request: &CertReq) -> (Vec<GeneralName>, bool) {
    let mut found = None;
    for attribute in request.info.attributes.iter() {
        // extensionRequest (PKCS#9)
        assert_eq!(attribute.oid.to_string(), "1.2.840.113549.1.9.14");
        for value in attribute.values.iter() {
            let extensions: Vec<x509_cert::ext::Extension> = value.decode_as().unwrap();
            for extension in extensions {
                assert_eq!(extension.extn_id.to_string(), "2.5.29.17");
                let names = SubjectAltName::from_der(extension.extn_value.as_bytes()).unwrap();
                found = Some((names.0, extension.critical));
            }
        }
    }
    found.expect("a subjectAltName extension request")
}

#[test]
fn every_algorithm_signs_a_csr_that_verifies_with_its_hash() {
    let expected = [
        (KeyAlgorithm::Rsa2048, "1.2.840.113549.1.1.11"),
        (KeyAlgorithm::Rsa3072, "1.2.840.113549.1.1.11"),
        (KeyAlgorithm::Rsa4096, "1.2.840.113549.1.1.11"),
        (KeyAlgorithm::EcdsaP256, "1.2.840.10045.4.3.2"),
        (KeyAlgorithm::EcdsaP384, "1.2.840.10045.4.3.3"),
    ];
    for (algorithm, oid) in expected {
        let key = PrivateKey::generate(algorithm).unwrap();
        let csr = CsrRequest::new()
            .dns_name("example.com")
            .sign(&key)
            .unwrap();
        let request = verify_independently(&csr);
        assert_eq!(request.algorithm.oid.to_string(), oid, "{algorithm}");
        assert_eq!(
            request.info.public_key.to_der().unwrap(),
            key.public_key_der().unwrap()
        );
        assert_eq!(algorithm.signature_algorithm().oid().to_string(), oid);
    }
}

#[test]
fn subject_and_sans_are_written_as_asked() {
    let key = p256_key();
    let csr = CsrRequest::new()
        .common_name("WWW.Example.com")
        .organization("Example Ltd")
        .locality("Zürich")
        .state_or_province("Zürich")
        .country("ch")
        .dns_names(["www.example.com", "*.Example.com"])
        .ip_address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
        .name("2001:db8::1")
        .sign(&key)
        .unwrap();
    let request = verify_independently(&csr);
    let subject = &request.info.subject;
    assert_eq!(
        subject.to_string(),
        "CN=www.example.com,O=Example Ltd,L=Zürich,ST=Zürich,C=CH"
    );
    // countryName is a PrintableString; everything else UTF8String.
    let tags: Vec<(String, Tag)> = subject
        .iter()
        .map(|atv| (atv.oid.to_string(), atv.value.tag()))
        .collect();
    assert_eq!(
        tags,
        [
            ("2.5.4.6".to_owned(), Tag::PrintableString),
            ("2.5.4.8".to_owned(), Tag::Utf8String),
            ("2.5.4.7".to_owned(), Tag::Utf8String),
            ("2.5.4.10".to_owned(), Tag::Utf8String),
            ("2.5.4.3".to_owned(), Tag::Utf8String),
        ]
    );
    let (names, critical) = subject_alt_names(&request);
    assert!(
        !critical,
        "SAN is non-critical when the subject is not empty"
    );
    assert_eq!(
        names,
        [
            GeneralName::DnsName(der::asn1::Ia5String::new("www.example.com").unwrap()),
            GeneralName::DnsName(der::asn1::Ia5String::new("*.example.com").unwrap()),
            GeneralName::from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
            GeneralName::from(IpAddr::V6("2001:db8::1".parse::<Ipv6Addr>().unwrap())),
        ]
    );
    assert!(
        csr.to_pem()
            .starts_with("-----BEGIN CERTIFICATE REQUEST-----\n")
    );
    let pem = csr.to_pem();
    let (label, der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
    assert_eq!(label, "CERTIFICATE REQUEST");
    assert_eq!(der, csr.to_der());
    assert_eq!(csr.clone().into_der(), csr.to_der());
}

#[test]
fn an_empty_subject_makes_the_san_critical() {
    let csr = CsrRequest::new()
        .dns_name("example.com")
        .sign(&p256_key())
        .unwrap();
    let request = verify_independently(&csr);
    assert!(request.info.subject.is_empty());
    let (_, critical) = subject_alt_names(&request);
    assert!(critical, "RFC 5280 4.2.1.6");
}

#[test]
fn an_ip_common_name_must_be_an_ip_san() {
    let key = p256_key();
    let csr = CsrRequest::new()
        .common_name("192.0.2.7")
        .name("192.0.2.7")
        .sign(&key)
        .unwrap();
    let request = verify_independently(&csr);
    assert_eq!(request.info.subject.to_string(), "CN=192.0.2.7");
    let result = CsrRequest::new()
        .common_name("192.0.2.8")
        .name("192.0.2.7")
        .sign(&key);
    assert!(matches!(
        result,
        Err(Error::CommonNameNotInSubjectAltNames { .. })
    ));
}

#[test]
fn a_request_without_sans_is_refused() {
    let request = CsrRequest::new().common_name("example.com");
    assert!(matches!(request.validate(), Err(Error::NoSubjectAltName)));
    assert!(matches!(
        request.sign(&p256_key()),
        Err(Error::NoSubjectAltName)
    ));
}

#[test]
fn more_than_the_san_limit_is_refused() {
    let names: Vec<String> = (0..MAX_SUBJECT_ALT_NAMES)
        .map(|i| format!("h{i}.example.com"))
        .collect();
    let at_limit = CsrRequest::new().dns_names(names.clone());
    let csr = at_limit.sign(&p256_key()).unwrap();
    assert_eq!(subject_alt_names(&verify_independently(&csr)).0.len(), 100);

    let over = at_limit.ip_address(IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert!(matches!(
        over.validate(),
        Err(Error::LimitExceeded { limit: 100, .. })
    ));
}

#[test]
fn duplicate_sans_are_refused() {
    let dns = CsrRequest::new().dns_names(["example.com", "EXAMPLE.com"]);
    match dns.validate() {
        Err(Error::DuplicateSubjectAltName { name }) => assert_eq!(name, "example.com"),
        other => panic!("unexpected {other:?}"),
    }
    let ip = CsrRequest::new()
        .name("192.0.2.1")
        .ip_address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    assert!(matches!(
        ip.validate(),
        Err(Error::DuplicateSubjectAltName { .. })
    ));
}

#[test]
fn bad_dns_names_are_refused_with_their_own_variant() {
    type Expectation = fn(&Error) -> bool;
    let cases: [(&str, Expectation); 8] = [
        ("", |e| matches!(e, Error::EmptyDnsName)),
        (
            "bücher.example",
            |e| matches!(e, Error::NonAsciiDnsLabel { label } if label == "bücher"),
        ),
        ("a..example", |e| matches!(e, Error::EmptyDnsLabel { .. })),
        ("example.com.", |e| matches!(e, Error::EmptyDnsLabel { .. })),
        ("under_score.example", |e| {
            matches!(e, Error::InvalidDnsLabel { .. })
        }),
        ("xn--abc.example", |e| {
            matches!(e, Error::InvalidALabel { .. })
        }),
        ("www.*.example", |e| {
            matches!(e, Error::MisplacedWildcard { .. })
        }),
        ("10.0.0.300", |e| {
            matches!(e, Error::NumericTopLevelLabel { .. })
        }),
    ];
    for (name, expected) in cases {
        let error = CsrRequest::new().dns_name(name).validate().unwrap_err();
        assert!(expected(&error), "{name}: {error:?}");
    }
    let long_label = format!("{}.example", "a".repeat(64));
    assert!(matches!(
        CsrRequest::new().dns_name(long_label).validate(),
        Err(Error::DnsLabelTooLong { .. })
    ));
    let long_name = format!("{0}.{0}.{0}.{0}", "a".repeat(63));
    assert!(matches!(
        CsrRequest::new().dns_name(long_name).validate(),
        Err(Error::DnsNameTooLong { .. })
    ));
}

#[test]
fn the_common_name_must_be_a_san() {
    for common_name in ["other.example.com", "not a name", "example.com."] {
        match CsrRequest::new()
            .common_name(common_name)
            .dns_name("example.com")
            .validate()
        {
            Err(Error::CommonNameNotInSubjectAltNames { common_name: given }) => {
                assert_eq!(given, common_name)
            }
            other => panic!("{common_name}: unexpected {other:?}"),
        }
    }
    // Case does not matter; the CSR carries the normalised form.
    CsrRequest::new()
        .common_name("Example.COM")
        .dns_name("example.com")
        .validate()
        .unwrap();
}

#[test]
fn the_country_must_be_two_letters() {
    for country in ["", "U", "USA", "1A", "Ü1", "U "] {
        match CsrRequest::new()
            .country(country)
            .dns_name("example.com")
            .validate()
        {
            Err(Error::InvalidCountry { value }) => assert_eq!(value, country),
            other => panic!("{country:?}: unexpected {other:?}"),
        }
    }
}

#[test]
fn bad_subject_attributes_are_refused() {
    let base = || CsrRequest::new().dns_name("example.com");
    let cases = [
        (base().organization(""), "organizationName"),
        (base().organization("   "), "organizationName"),
        (base().organization("a".repeat(65)), "organizationName"),
        (base().locality("Line\nbreak"), "localityName"),
        (base().locality("é".repeat(129)), "localityName"),
        (base().state_or_province("\u{0}"), "stateOrProvinceName"),
        (
            base().state_or_province("s".repeat(129)),
            "stateOrProvinceName",
        ),
    ];
    for (request, expected) in cases {
        match request.validate() {
            Err(Error::InvalidSubjectAttribute { attribute, .. }) => {
                assert_eq!(attribute, expected)
            }
            other => panic!("{expected}: unexpected {other:?}"),
        }
    }
    // The upper bounds themselves are fine (counted in characters, not bytes).
    base()
        .organization("o".repeat(64))
        .locality("é".repeat(128))
        .state_or_province("s".repeat(128))
        .country("DE")
        .validate()
        .unwrap();
    // A 65-character common name is over ub-common-name even though it is a valid SAN.
    let long = format!("{}.example.com", "a".repeat(53));
    assert_eq!(long.len(), 65);
    assert!(matches!(
        CsrRequest::new()
            .common_name(long.clone())
            .dns_name(long)
            .validate(),
        Err(Error::InvalidSubjectAttribute {
            attribute: "commonName",
            ..
        })
    ));
}

/// An "HSM": it holds a P-256 key created here, outside the crate, and only ever hands out
/// the public key and signatures. It counts how often it is asked to sign.
struct HsmP256 {
    key: p256::ecdsa::SigningKey,
    algorithm: SignatureAlgorithm,
    signatures: Cell<usize>,
}

impl HsmP256 {
    fn new(seed: u64) -> HsmP256 {
        use p256::elliptic_curve::Generate;
        HsmP256 {
            key: p256::ecdsa::SigningKey::generate_from_rng(&mut TestRng::new(seed)),
            algorithm: SignatureAlgorithm::EcdsaP256Sha256,
            signatures: Cell::new(0),
        }
    }
}

impl CsrSigner for HsmP256 {
    fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key_der(&self) -> Result<Vec<u8>, SignerError> {
        Ok(self
            .key
            .verifying_key()
            .to_public_key_der()
            .map_err(|_| SignerError::new())?
            .into_vec())
    }

    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.signatures.set(self.signatures.get() + 1);
        let signature: p256::ecdsa::DerSignature = self.key.try_sign(message)?;
        Ok(signature.to_vec())
    }
}

/// An RSA "KMS" holding a key the crate never sees.
struct KmsRsa(rsa::pkcs1v15::SigningKey<sha2::Sha256>);

impl CsrSigner for KmsRsa {
    fn signature_algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RsaPkcs1v15Sha256
    }

    fn public_key_der(&self) -> Result<Vec<u8>, SignerError> {
        Ok(self
            .0
            .verifying_key()
            .to_public_key_der()
            .map_err(|_| SignerError::new())?
            .into_vec())
    }

    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(Signer::<rsa::pkcs1v15::Signature>::try_sign(&self.0, message)?.to_vec())
    }
}

#[test]
fn an_external_signer_signs_without_exporting_its_key() {
    let hsm = HsmP256::new(5);
    let csr = CsrRequest::new()
        .dns_name("hsm.example.com")
        .sign(&hsm)
        .unwrap();
    assert_eq!(hsm.signatures.get(), 1);
    let request = verify_independently(&csr);
    assert_eq!(
        request.info.public_key.to_der().unwrap(),
        hsm.public_key_der().unwrap()
    );

    let rsa_key = rsa::PrivateKey::new(&mut TestRng::new(6), 2048).unwrap();
    let kms = KmsRsa(rsa::pkcs1v15::SigningKey::new(rsa_key));
    let csr = CsrRequest::new()
        .dns_name("kms.example.com")
        .sign(&kms)
        .unwrap();
    verify_independently(&csr);

    // Works through a trait object too.
    let dynamic: &dyn CsrSigner = &hsm;
    CsrRequest::new()
        .dns_name("dyn.example.com")
        .sign(dynamic)
        .unwrap();
}

#[test]
fn the_signer_is_not_called_for_a_refused_request() {
    let hsm = HsmP256::new(5);
    assert!(CsrRequest::new().dns_name("bad_name").sign(&hsm).is_err());
    assert!(CsrRequest::new().sign(&hsm).is_err());
    assert_eq!(hsm.signatures.get(), 0);
}

#[test]
fn a_signer_declaring_the_wrong_algorithm_is_refused_before_signing() {
    for algorithm in [
        SignatureAlgorithm::EcdsaP384Sha384,
        SignatureAlgorithm::RsaPkcs1v15Sha256,
    ] {
        let mut hsm = HsmP256::new(5);
        hsm.algorithm = algorithm;
        let result = CsrRequest::new().dns_name("example.com").sign(&hsm);
        assert!(
            matches!(result, Err(Error::SignerKeyMismatch { .. })),
            "{result:?}"
        );
        assert_eq!(hsm.signatures.get(), 0);
    }
    let small = rsa::PrivateKey::new(&mut TestRng::new(9), 1024).unwrap();
    let kms = KmsRsa(rsa::pkcs1v15::SigningKey::new(small));
    assert!(matches!(
        CsrRequest::new().dns_name("example.com").sign(&kms),
        Err(Error::SignerKeyMismatch { .. })
    ));
}

struct Broken {
    public_key: Result<Vec<u8>, ()>,
    signature: Result<Vec<u8>, ()>,
}

impl CsrSigner for Broken {
    fn signature_algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::EcdsaP256Sha256
    }

    fn public_key_der(&self) -> Result<Vec<u8>, SignerError> {
        self.public_key.clone().map_err(|()| SignerError::new())
    }

    fn try_sign(&self, _message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.signature.clone().map_err(|()| SignerError::new())
    }
}

#[test]
fn signer_failures_are_typed() {
    let real = p256_key().public_key_der().unwrap();
    let request = CsrRequest::new().dns_name("example.com");

    let no_key = Broken {
        public_key: Err(()),
        signature: Ok(vec![]),
    };
    assert!(matches!(request.sign(&no_key), Err(Error::Signing(_))));

    let garbage_key = Broken {
        public_key: Ok(b"garbage".to_vec()),
        signature: Ok(vec![]),
    };
    assert!(matches!(
        request.sign(&garbage_key),
        Err(Error::SignerKeyMismatch { .. })
    ));

    let fails = Broken {
        public_key: Ok(real.clone()),
        signature: Err(()),
    };
    assert!(matches!(request.sign(&fails), Err(Error::Signing(_))));

    let garbage_signature = Broken {
        public_key: Ok(real),
        signature: Ok(vec![0x30, 0x00]),
    };
    assert!(matches!(
        request.sign(&garbage_signature),
        Err(Error::SignatureVerification)
    ));
}

/// Claims one key's public half but signs with another: the CSR would be useless.
struct Swapped {
    claimed: HsmP256,
    actual: HsmP256,
}

impl CsrSigner for Swapped {
    fn signature_algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::EcdsaP256Sha256
    }

    fn public_key_der(&self) -> Result<Vec<u8>, SignerError> {
        self.claimed.public_key_der()
    }

    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.actual.try_sign(message)
    }
}

#[test]
fn a_signature_from_another_key_is_caught() {
    let swapped = Swapped {
        claimed: HsmP256::new(1),
        actual: HsmP256::new(2),
    };
    assert!(matches!(
        CsrRequest::new().dns_name("example.com").sign(&swapped),
        Err(Error::SignatureVerification)
    ));
}

#[test]
fn an_imported_key_signs_like_a_generated_one() {
    let key = p256_key();
    let imported = PrivateKey::from_pkcs8_der(key.to_pkcs8_der().unwrap().expose_secret()).unwrap();
    let csr = CsrRequest::new()
        .dns_name("example.com")
        .sign(&imported)
        .unwrap();
    let request = verify_independently(&csr);
    assert_eq!(
        request.info.public_key.to_der().unwrap(),
        key.public_key_der().unwrap()
    );
}

#[test]
fn an_organization_needs_a_country_and_a_locality_or_a_state() {
    let base = || {
        CsrRequest::new()
            .dns_name("example.com")
            .organization("Example Ltd")
    };
    for request in [
        base().country("DE"),
        base().country("DE").common_name("example.com"),
    ] {
        match request.validate() {
            Err(Error::IncompleteOrganizationSubject { missing }) => {
                assert!(missing.contains("locality"), "{missing}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    match base().locality("Berlin").validate() {
        Err(Error::IncompleteOrganizationSubject { missing }) => {
            assert!(missing.contains("country"), "{missing}")
        }
        other => panic!("unexpected {other:?}"),
    }
    // Refused before the signer is asked.
    assert!(matches!(
        base().sign(&p256_key()),
        Err(Error::IncompleteOrganizationSubject { .. })
    ));
    base().country("DE").locality("Berlin").validate().unwrap();
    base()
        .country("DE")
        .state_or_province("Berlin")
        .validate()
        .unwrap();
    // Locality and state without an organization are the CA's business, not refused.
    CsrRequest::new()
        .dns_name("example.com")
        .locality("Berlin")
        .validate()
        .unwrap();
}

#[test]
fn a_name_too_long_for_the_common_name_is_signed_as_a_san_alone() {
    use autocsr_keygen::MAX_COMMON_NAME_LEN;
    // 65 and 253 characters: valid DNS names, longer than ub-common-name.
    let label = "a".repeat(63);
    for name in [
        format!("{}.example.com", "a".repeat(53)),
        format!("{label}.{label}.{label}.{}.com", "b".repeat(57)),
    ] {
        assert!(
            name.len() > MAX_COMMON_NAME_LEN && name.len() <= 253,
            "{}",
            name.len()
        );
        let csr = CsrRequest::new()
            .dns_name(name.as_str())
            .organization("Example Ltd")
            .locality("Berlin")
            .country("DE")
            .sign(&p256_key())
            .unwrap();
        let request = verify_independently(&csr);
        assert_eq!(
            request.info.subject.to_string(),
            "O=Example Ltd,L=Berlin,C=DE"
        );
        let (names, _) = subject_alt_names(&request);
        assert_eq!(
            names,
            [GeneralName::DnsName(
                der::asn1::Ia5String::new(&name).unwrap()
            )]
        );
        // The same name as commonName is refused with the attribute named.
        assert!(matches!(
            CsrRequest::new()
                .dns_name(name.as_str())
                .common_name(name.as_str())
                .validate(),
            Err(Error::InvalidSubjectAttribute {
                attribute: "commonName",
                ..
            })
        ));
    }
    // At exactly the bound the name is still a commonName.
    let name = format!("{}.example.com", "a".repeat(52));
    assert_eq!(name.len(), MAX_COMMON_NAME_LEN);
    let csr = CsrRequest::new()
        .dns_name(name.as_str())
        .common_name(name.as_str())
        .sign(&p256_key())
        .unwrap();
    assert_eq!(
        verify_independently(&csr).info.subject.to_string(),
        format!("CN={name}")
    );
}
