//! rcgen as a test CA: it parses and verifies our CSRs and issues certificates from them;
//! the certificate carries exactly our public key and our names.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions"
)]

use std::net::IpAddr;

use autocsr_keygen::{CsrRequest, KeyAlgorithm, PrivateKey};
use der::{Decode, Encode};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType, IsCa, Issuer,
    KeyPair, SanType,
};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

fn test_ca() -> Issuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "AutoCSR Test CA");
    Issuer::new(params, KeyPair::generate().unwrap())
}

#[test]
fn rcgen_issues_a_certificate_for_our_key_from_our_csr() {
    let ca = test_ca();
    for algorithm in KeyAlgorithm::ALL.iter().copied() {
        let key = PrivateKey::generate(algorithm).unwrap();
        let ip: IpAddr = "192.0.2.5".parse().unwrap();
        let csr = CsrRequest::new()
            .common_name("shop.example.com")
            .organization("Example Ltd")
            .locality("London")
            .country("GB")
            .dns_names(["shop.example.com", "*.shop.example.com"])
            .ip_address(ip)
            .sign(&key)
            .unwrap();

        // rcgen verifies the self-signature while parsing (x509-parser), and reads the SANs.
        let request = CertificateSigningRequestParams::from_pem(&csr.to_pem())
            .unwrap_or_else(|err| panic!("{algorithm}: rcgen refused our CSR: {err}"));
        assert_eq!(
            request.params.subject_alt_names,
            [
                SanType::DnsName("shop.example.com".try_into().unwrap()),
                SanType::DnsName("*.shop.example.com".try_into().unwrap()),
                SanType::IpAddress(ip),
            ]
        );
        let certificate = request.signed_by(&ca).unwrap();

        let parsed = Certificate::from_der(certificate.der()).unwrap();
        let tbs = parsed.tbs_certificate();
        assert_eq!(
            tbs.subject_public_key_info().to_der().unwrap(),
            key.public_key_der().unwrap(),
            "{algorithm}: the certificate's key is not ours"
        );
        assert_eq!(
            tbs.subject().to_string(),
            "CN=shop.example.com,O=Example Ltd,L=London,C=GB"
        );
        let san = tbs
            .extensions()
            .unwrap()
            .iter()
            .find(|extension| extension.extn_id.to_string() == "2.5.29.17")
            .unwrap();
        let names = SubjectAltName::from_der(san.extn_value.as_bytes()).unwrap();
        assert_eq!(names.0.len(), 3);
        assert!(
            matches!(&names.0[0], GeneralName::DnsName(name) if name.as_str() == "shop.example.com")
        );
    }
}

#[test]
fn rcgen_refuses_a_tampered_csr() {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let csr = CsrRequest::new()
        .dns_name("example.com")
        .sign(&key)
        .unwrap();
    let mut der = csr.to_der().to_vec();
    // Flip a bit inside the DNS name: the signature no longer matches.
    let position = der.windows(7).position(|w| w == b"example").unwrap();
    der[position] ^= 0x20;
    let pem =
        der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &der).unwrap();
    assert!(CertificateSigningRequestParams::from_pem(&pem).is_err());
}

#[test]
fn rcgen_issues_from_a_csr_whose_name_is_too_long_for_a_common_name() {
    // 65 characters: over ub-common-name, so the CSR has no subject at all, only the SAN.
    let name = format!("{}.example.com", "a".repeat(53));
    let ca = test_ca();
    for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048] {
        let key = PrivateKey::generate(algorithm).unwrap();
        let csr = CsrRequest::new()
            .dns_name(name.as_str())
            .sign(&key)
            .unwrap();
        let request = CertificateSigningRequestParams::from_pem(&csr.to_pem())
            .unwrap_or_else(|err| panic!("{algorithm}: rcgen refused our CSR: {err}"));
        assert_eq!(
            request.params.subject_alt_names,
            [SanType::DnsName(name.as_str().try_into().unwrap())]
        );
        let certificate = request.signed_by(&ca).unwrap();
        let parsed = Certificate::from_der(certificate.der()).unwrap();
        let tbs = parsed.tbs_certificate();
        assert_eq!(tbs.subject().to_string(), "");
        let san = tbs
            .extensions()
            .unwrap()
            .iter()
            .find(|extension| extension.extn_id.to_string() == "2.5.29.17")
            .unwrap();
        // RFC 5280 4.2.1.6: with an empty subject the SAN extension is critical.
        assert!(san.critical, "{algorithm}");
        let names = SubjectAltName::from_der(san.extn_value.as_bytes()).unwrap();
        assert!(matches!(&names.0[..], [GeneralName::DnsName(dns)] if dns.as_str() == name));
    }
}
