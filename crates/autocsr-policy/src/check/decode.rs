//! Decoding: the bounded PEM/DER intake, the signed bytes, subject attributes and the
//! requested subjectAltNames. Anything undecodable becomes a `csr.malformed` finding.

use der::{Decode, Header, Reader, SliceReader};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::request::{CertReq, ExtensionReq};

use super::oid;
use crate::finding::{Finding, ids};
use crate::intake;
use crate::names::SubjectName;

pub(super) fn malformed(message: impl Into<String>) -> Finding {
    Finding::new(ids::CSR_MALFORMED, message)
}

/// The intake every check shares: refuse oversized input before parsing, then turn PEM
/// (with one of `labels`) or DER into DER. On refusal, the findings say why; `what`
/// names what was not decoded ("CSR", "key").
pub(super) fn bounded_der(
    input: &[u8],
    labels: &[&str],
    what: &str,
) -> Result<Vec<u8>, Vec<Finding>> {
    if input.len() > intake::MAX_INPUT_LEN {
        let findings = vec![
            Finding::new(
                ids::CSR_TOO_LARGE,
                "input larger than 64 KiB, refused before parsing",
            )
            .with_value(input.len().to_string()),
            malformed(format!(
                "no {what} was decoded (input refused before parsing)"
            )),
        ];
        return Err(findings);
    }
    intake::to_der(input, labels).map_err(|error| vec![malformed(error.message())])
}

/// The exact bytes of the first element inside the outer SEQUENCE (the signed
/// CertificationRequestInfo, as the signer hashed it).
pub(super) fn raw_first_element(der: &[u8]) -> Option<&[u8]> {
    let mut reader = SliceReader::new(der).ok()?;
    let header = Header::decode(&mut reader).ok()?;
    if header.tag() != der::Tag::Sequence {
        return None;
    }
    reader.tlv_bytes().ok()
}

pub(super) fn attribute_text(value: &der::asn1::Any) -> String {
    match value.decode_as::<x509_cert::ext::pkix::name::DirectoryString>() {
        Ok(text) => text.value().into_owned(),
        Err(_) => String::from_utf8_lossy(value.value()).into_owned(),
    }
}

/// The DNS names and IP addresses of the subjectAltName in the extensionRequest.
/// `None` (with a `csr.malformed` finding) when the attribute or extension is undecodable.
pub(super) fn requested_names(
    request: &CertReq,
    findings: &mut Vec<Finding>,
) -> Option<Vec<SubjectName>> {
    let mut names = Vec::new();
    for attribute in request.info.attributes.iter() {
        if attribute.oid != oid::EXTENSION_REQUEST {
            continue;
        }
        for value in attribute.values.iter() {
            let Ok(extensions) = value.decode_as::<ExtensionReq>() else {
                findings.push(malformed("the extensionRequest attribute is not decodable"));
                return None;
            };
            for extension in extensions.0.iter() {
                if extension.extn_id != oid::SUBJECT_ALT_NAME {
                    continue;
                }
                let Ok(san) = SubjectAltName::from_der(extension.extn_value.as_bytes()) else {
                    findings.push(malformed("the subjectAltName extension is not decodable"));
                    return None;
                };
                for general_name in san.0 {
                    match general_name {
                        GeneralName::DnsName(dns) => names.push(SubjectName::Dns(dns.to_string())),
                        GeneralName::IpAddress(octets) => {
                            let bytes = octets.as_bytes();
                            let ip = if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
                                std::net::IpAddr::from(v4)
                            } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
                                std::net::IpAddr::from(v6)
                            } else {
                                findings.push(malformed(
                                    "an iPAddress SAN is neither 4 nor 16 bytes long",
                                ));
                                return None;
                            };
                            names.push(SubjectName::Ip(ip));
                        }
                        other => findings.push(
                            Finding::new(
                                ids::NAME_SAN_TYPE_NOT_ALLOWED,
                                "only dNSName and iPAddress SANs are allowed (BR 7.1.2.7.12)",
                            )
                            .with_value(general_name_kind(&other)),
                        ),
                    }
                }
            }
        }
    }
    Some(names)
}

fn general_name_kind(name: &GeneralName) -> &'static str {
    match name {
        GeneralName::OtherName(_) => "otherName",
        GeneralName::Rfc822Name(_) => "rfc822Name",
        GeneralName::DnsName(_) => "dNSName",
        GeneralName::DirectoryName(_) => "directoryName",
        GeneralName::EdiPartyName(_) => "ediPartyName",
        GeneralName::UniformResourceIdentifier(_) => "uniformResourceIdentifier",
        GeneralName::IpAddress(_) => "iPAddress",
        GeneralName::RegisteredId(_) => "registeredID",
    }
}
