//! DigiCert's pkilint judges certificates issued from our CSRs against the CA/Browser Forum
//! TLS Baseline Requirements: a throw-away rcgen CA issues a certificate that carries
//! exactly our CSR's subject and names, with the extensions a BR subscriber certificate
//! needs, and `lint_cabf_serverauth_cert` must find no ERROR or FATAL in it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "interop helpers outside #[test] functions: a failed expectation is the point"
)]

use autocsr_interop::{Program, require_program};
use autocsr_keygen::{CsrRequest, KeyAlgorithm, PrivateKey};
use der::Encode;
use der::asn1::{Ia5String, ObjectIdentifier};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, CrlDistributionPoint,
    CustomExtension, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax, CertificatePolicies};

/// The CA/B Forum reserved policy identifiers (BR 7.1.6.1).
const DOMAIN_VALIDATED: &str = "2.23.140.1.2.1";
const ORGANIZATION_VALIDATED: &str = "2.23.140.1.2.2";

fn test_ca() -> Issuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name = rcgen::DistinguishedName::new();
    // countryName must be a PrintableString (rcgen would write a UTF8String from a &str).
    params.distinguished_name.push(
        DnType::CountryName,
        DnValue::PrintableString("DE".try_into().unwrap()),
    );
    params
        .distinguished_name
        .push(DnType::OrganizationName, "AutoCSR Test");
    params
        .distinguished_name
        .push(DnType::CommonName, "AutoCSR Test TLS CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Issuer::new(params, KeyPair::generate().unwrap())
}

/// What a BR subscriber certificate carries besides the CSR's subject, names and key
/// (BR 7.1.2.7): 90 days of validity, AIA, AKI, certificate policies, EKU serverAuth, key
/// usage, CRL distribution point.
fn issue(ca: &Issuer<'_, KeyPair>, csr_pem: &str, policy: &str) -> Vec<u8> {
    // rcgen verifies the CSR's self-signature while parsing it.
    let request = CertificateSigningRequestParams::from_pem(csr_pem).unwrap();
    issue_from(ca, request, policy)
}

fn issue_from(
    ca: &Issuer<'_, KeyPair>,
    mut request: CertificateSigningRequestParams,
    policy: &str,
) -> Vec<u8> {
    let params = &mut request.params;
    params.not_before = date_time_ymd(2026, 1, 5);
    params.not_after = date_time_ymd(2026, 4, 4);
    // NoCa: no basicConstraints and no subjectKeyIdentifier (BR 7.1.2.7.6: not
    // recommended in a subscriber certificate).
    params.is_ca = IsCa::NoCa;
    // digitalSignature alone, for RSA too: TLS 1.3 has no RSA key transport, and pkilint
    // warns about digitalSignature + keyEncipherment together.
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec!["http://crl.test-ca.example.com/ca.crl".to_owned()],
    }];
    let policies = CertificatePolicies(vec![PolicyInformation {
        policy_identifier: ObjectIdentifier::new_unwrap(policy),
        policy_qualifiers: None,
    }]);
    params.custom_extensions = vec![
        CustomExtension::from_oid_content(&[2, 5, 29, 32], policies.to_der().unwrap()),
        CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 1],
            AuthorityInfoAccessSyntax(vec![
                AccessDescription {
                    access_method: ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1"),
                    access_location: GeneralName::UniformResourceIdentifier(
                        Ia5String::new("http://ocsp.test-ca.example.com").unwrap(),
                    ),
                },
                AccessDescription {
                    access_method: ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2"),
                    access_location: GeneralName::UniformResourceIdentifier(
                        Ia5String::new("http://ca.test-ca.example.com/ca.crt").unwrap(),
                    ),
                },
            ])
            .to_der()
            .unwrap(),
        ),
    ];
    request.signed_by(ca).unwrap().der().to_vec()
}

/// Runs `lint_cabf_serverauth_cert lint -t TYPE` on `der` and returns every finding as
/// `(severity, code)`. pkilint prints one JSON report; it exits with the number of findings
/// at or above the `-s` threshold (capped at 255), and with 1 and nothing on stdout when it
/// cannot load the certificate, so the count is checked against the report.
fn lint(pkilint: &Program, der: &[u8], certificate_type: &str) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certificate.der");
    std::fs::write(&path, der).unwrap();
    let output = pkilint.run([
        "lint".as_ref(),
        "-t".as_ref(),
        certificate_type.as_ref(),
        "-f".as_ref(),
        "JSON".as_ref(),
        "-s".as_ref(),
        "DEBUG".as_ref(),
        "--document-format".as_ref(),
        "DER".as_ref(),
        path.as_os_str(),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "pkilint printed no JSON report ({err}):\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let findings: Vec<(String, String)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|result| result["finding_descriptions"].as_array().unwrap())
        .map(|finding| {
            (
                finding["severity"].as_str().unwrap().to_owned(),
                finding["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        output.status.code(),
        Some(i32::try_from(findings.len().min(255)).unwrap()),
        "pkilint's exit status does not count its findings: {findings:?}"
    );
    findings
}

fn warning(code: &str) -> (String, String) {
    ("WARNING".to_owned(), code.to_owned())
}

fn has_errors(findings: &[(String, String)]) -> bool {
    findings
        .iter()
        .any(|(severity, _)| severity == "ERROR" || severity == "FATAL")
}

/// A long name: 65 characters, over ub-common-name, so it is only a SAN.
fn long_name() -> String {
    format!("{}.example.com", "a".repeat(53))
}

#[test]
fn an_organization_csr_gives_a_certificate_pkilint_passes_as_ov() {
    let pkilint = require_program!("lint_cabf_serverauth_cert");
    if let Some(python) = Program::find("python3") {
        let script = "import importlib.metadata as m; print(m.version('pkilint'))";
        eprintln!("using pkilint {}", python.version_line(&["-c", script]));
    }
    let ca = test_ca();
    for (algorithm, common_name) in [
        (KeyAlgorithm::EcdsaP256, true),
        (KeyAlgorithm::EcdsaP384, true),
        (KeyAlgorithm::Rsa2048, true),
        (KeyAlgorithm::EcdsaP256, false),
    ] {
        let key = PrivateKey::generate(algorithm).unwrap();
        let primary = if common_name {
            "shop.example.com".to_owned()
        } else {
            long_name()
        };
        let mut request = CsrRequest::new()
            .dns_names([primary.as_str(), "www.shop.example.com"])
            .organization("Example GmbH")
            .locality("München")
            .state_or_province("Bayern")
            .country("DE");
        if common_name {
            request = request.common_name(primary.as_str());
        }
        let csr = request.sign(&key).unwrap();
        let der = issue(&ca, &csr.to_pem(), ORGANIZATION_VALIDATED);
        let findings = lint(&pkilint, &der, "OV-FINAL-CERTIFICATE");
        // The only finding: the CN that AutoCSR keeps by default (BR: "NOT RECOMMENDED").
        let expected = if common_name {
            vec![warning("cabf.serverauth.ov.common_name_attribute_present")]
        } else {
            Vec::new()
        };
        assert_eq!(findings, expected, "{algorithm}, CN {common_name}");
    }
}

#[test]
fn pkilint_refuses_the_organization_subjects_the_builder_now_refuses() {
    // The control for the test above: what `order --org` used to allow (O without L or ST,
    // or without C) is an ERROR for pkilint. Our CSR builder no longer makes such a CSR,
    // so the CA drops the attributes from the subject it copies.
    let pkilint = require_program!("lint_cabf_serverauth_cert");
    let ca = test_ca();
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let csr = CsrRequest::new()
        .common_name("shop.example.com")
        .dns_name("shop.example.com")
        .organization("Example GmbH")
        .locality("München")
        .state_or_province("Bayern")
        .country("DE")
        .sign(&key)
        .unwrap();
    for (dropped, code) in [
        (
            &[DnType::LocalityName, DnType::StateOrProvinceName][..],
            "cabf.serverauth.subscriber_stateprovince_and_locality_missing",
        ),
        (
            &[DnType::CountryName],
            "cabf.serverauth.ov.country_attribute_absent",
        ),
    ] {
        let mut request = CertificateSigningRequestParams::from_pem(&csr.to_pem()).unwrap();
        for attribute in dropped {
            request.params.distinguished_name.remove(attribute.clone());
        }
        let der = issue_from(&ca, request, ORGANIZATION_VALIDATED);
        let findings = lint(&pkilint, &der, "OV-FINAL-CERTIFICATE");
        assert!(has_errors(&findings), "{findings:?}");
        assert!(
            findings
                .iter()
                .any(|(severity, found)| severity == "ERROR" && found == code),
            "{code} missing in {findings:?}"
        );
    }
}

#[test]
fn a_names_only_csr_gives_a_certificate_pkilint_passes_as_dv() {
    let pkilint = require_program!("lint_cabf_serverauth_cert");
    let ca = test_ca();
    for (algorithm, common_name, country) in [
        (KeyAlgorithm::EcdsaP256, true, false),
        (KeyAlgorithm::Rsa2048, true, true),
        (KeyAlgorithm::EcdsaP384, false, false),
    ] {
        let key = PrivateKey::generate(algorithm).unwrap();
        let primary = if common_name {
            "shop.example.com".to_owned()
        } else {
            long_name()
        };
        let mut request = CsrRequest::new().dns_names([primary.as_str(), "www.shop.example.com"]);
        if common_name {
            request = request.common_name(primary.as_str());
        }
        if country {
            request = request.country("DE");
        }
        let csr = request.sign(&key).unwrap();
        let der = issue(&ca, &csr.to_pem(), DOMAIN_VALIDATED);
        let findings = lint(&pkilint, &der, "DV-FINAL-CERTIFICATE");
        let expected = if common_name {
            vec![warning("cabf.serverauth.dv.common_name_attribute_present")]
        } else {
            Vec::new()
        };
        assert_eq!(
            findings, expected,
            "{algorithm}, CN {common_name}, C {country}"
        );
    }
}
