//! The CSR and SPKI checks, in order: decode ([`decode`]), the key rules ([`key_rules`]),
//! the self-signature ([`self_signature`]), then the subject and the names.

mod decode;
mod key_rules;
mod oid;
mod self_signature;

use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::request::CertReq;

use self::decode::{attribute_text, bounded_der, malformed, raw_first_element, requested_names};
use self::key_rules::check_key;
use self::self_signature::verify_signature;
use crate::finding::{Finding, ids};
use crate::names::{self, SubjectName};
use crate::{CheckedCsr, Policy, Report};

/// The whole CSR check. Never panics; every error becomes a finding.
pub(crate) fn check_csr(policy: &Policy, input: &[u8]) -> Report {
    let der = match bounded_der(
        input,
        &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"],
        "CSR",
    ) {
        Ok(der) => der,
        Err(findings) => return Report::new(findings, None),
    };
    let mut findings = Vec::new();
    let Some(tbs) = raw_first_element(&der) else {
        findings.push(malformed(
            "not a DER SEQUENCE holding a CertificationRequestInfo",
        ));
        return Report::new(findings, None);
    };
    let request = match CertReq::from_der(&der) {
        Ok(request) => request,
        Err(_) => {
            findings.push(malformed("not a valid DER PKCS#10 CertificationRequest"));
            return Report::new(findings, None);
        }
    };

    let spki = &request.info.public_key;
    let key = check_key(policy, spki, &mut findings);
    let signature_algorithm = verify_signature(&request, tbs, &key, &mut findings);

    // Subject: CNs (BR 7.1.4.3) and OU (BR 7.1.4.2).
    let mut common_names = Vec::new();
    for attribute in request.info.subject.iter() {
        if attribute.oid == oid::COMMON_NAME {
            common_names.push(attribute_text(&attribute.value));
        } else if attribute.oid == oid::ORGANIZATIONAL_UNIT {
            findings.push(
                Finding::new(
                    ids::SUBJECT_OU_PRESENT,
                    "the subject has an organizationalUnitName, which CAs no longer include (ballot SC47v2, BR 7.1.4.2)",
                )
                .with_value(attribute_text(&attribute.value)),
            );
        }
    }

    let names = match requested_names(&request, &mut findings) {
        Some(names) => names,
        None => return Report::new(findings, None),
    };
    names::check_names(&names, &common_names, &mut findings);

    let spki_der = spki.to_der().unwrap_or_default();
    let fingerprint: [u8; 32] = Sha256::digest(&spki_der).into();
    let checked = CheckedCsr {
        names: names.iter().map(SubjectName::text).collect(),
        dns_names: names
            .iter()
            .filter_map(|name| match name {
                SubjectName::Dns(dns) => Some(dns.clone()),
                SubjectName::Ip(_) => None,
            })
            .collect(),
        ip_addresses: names
            .iter()
            .filter_map(|name| match name {
                SubjectName::Ip(ip) => Some(*ip),
                SubjectName::Dns(_) => None,
            })
            .collect(),
        common_name: common_names.first().cloned(),
        public_key: key.summary(spki),
        signature_algorithm,
        spki_sha256: fingerprint,
        spki_der,
    };
    Report::new(findings, Some(checked))
}

/// A bare SubjectPublicKeyInfo (DER or PEM `PUBLIC KEY`) through the key rules only.
pub(crate) fn check_public_key(policy: &Policy, input: &[u8]) -> Report {
    let der = match bounded_der(input, &["PUBLIC KEY"], "key") {
        Ok(der) => der,
        Err(findings) => return Report::new(findings, None),
    };
    let mut findings = Vec::new();
    match SubjectPublicKeyInfoOwned::from_der(&der) {
        Ok(spki) => {
            let _ = check_key(policy, &spki, &mut findings);
        }
        Err(_) => findings.push(malformed("not a valid DER SubjectPublicKeyInfo")),
    }
    Report::new(findings, None)
}
