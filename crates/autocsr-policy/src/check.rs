//! Decoding a CSR or SPKI, verifying the self-signature, and the key rules.

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode, Header, Reader, SliceReader};
use num_bigint::BigUint;
use num_traits::One;
use rsa::BoxedUint;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::request::{CertReq, ExtensionReq};

use crate::finding::{Finding, ids};
use crate::names::{self, SubjectName};
use crate::weak;
use crate::{CheckedCsr, Policy, Report, intake};

mod oid {
    use der::asn1::ObjectIdentifier as Oid;

    pub(super) const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub(super) const MD2_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.2");
    pub(super) const MD5_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.4");
    pub(super) const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
    pub(super) const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
    pub(super) const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
    pub(super) const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    pub(super) const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    pub(super) const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    pub(super) const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
    pub(super) const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub(super) const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub(super) const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
    pub(super) const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub(super) const ECDSA_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
    pub(super) const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    pub(super) const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    pub(super) const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
    pub(super) const DSA_SHA1: Oid = Oid::new_unwrap("1.2.840.10040.4.3");
    pub(super) const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub(super) const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
    pub(super) const P521: Oid = Oid::new_unwrap("1.3.132.0.35");
    pub(super) const DSA: Oid = Oid::new_unwrap("1.2.840.10040.4.1");
    pub(super) const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
    pub(super) const ED448: Oid = Oid::new_unwrap("1.3.101.113");
    pub(super) const EXTENSION_REQUEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.14");
    pub(super) const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
    pub(super) const COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");
    pub(super) const ORGANIZATIONAL_UNIT: Oid = Oid::new_unwrap("2.5.4.11");
}

/// Largest RSA modulus we do any arithmetic on (bits).
const MAX_RSA_BITS: u64 = weak::MAX_MODULUS_BITS;
/// Exponents above 2^256-1 are outside BR 6.1.6 and too costly to verify with.
const MAX_VERIFY_EXPONENT_BITS: u64 = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

/// An EC public key, parsed (and its point checked) once by the key analysis and reused
/// by the signature check.
enum EcVerifier {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
}

/// What the key analysis learned, for the signature check and the summary.
enum KeyInfo {
    /// `verifier` is `None` when the key cannot be used to verify (a key error exists).
    Rsa {
        bits: u64,
        verifier: Option<rsa::PublicKey>,
        exponent_too_big_to_verify: bool,
    },
    /// `verifier` is `None` when the point is not on the curve (already reported).
    Ec {
        curve: Curve,
        verifier: Option<EcVerifier>,
    },
    /// Not allowed (already reported) or not decodable.
    Other,
}

impl KeyInfo {
    fn summary(&self, spki: &SubjectPublicKeyInfoOwned) -> String {
        match self {
            Self::Rsa { bits, .. } => format!("rsa{bits}"),
            Self::Ec { curve, .. } => match curve {
                Curve::P256 => "p256".to_owned(),
                Curve::P384 => "p384".to_owned(),
                Curve::P521 => "p521".to_owned(),
            },
            Self::Other => {
                let oid = spki.algorithm.oid;
                if oid == oid::ED25519 {
                    "ed25519".to_owned()
                } else if oid == oid::ED448 {
                    "ed448".to_owned()
                } else if oid == oid::DSA {
                    "dsa".to_owned()
                } else if oid == oid::EC_PUBLIC_KEY {
                    match ec_curve_oid(spki) {
                        Some(curve) => format!("ec-{curve}"),
                        None => "ec-explicit".to_owned(),
                    }
                } else {
                    format!("oid-{oid}")
                }
            }
        }
    }
}

fn ec_curve_oid(spki: &SubjectPublicKeyInfoOwned) -> Option<ObjectIdentifier> {
    spki.algorithm
        .parameters
        .as_ref()
        .and_then(|any| any.decode_as::<ObjectIdentifier>().ok())
}

fn malformed(message: impl Into<String>) -> Finding {
    Finding::new(ids::CSR_MALFORMED, message)
}

/// The intake every check shares: refuse oversized input before parsing, then turn PEM
/// (with one of `labels`) or DER into DER. On refusal, the findings say why; `what`
/// names what was not decoded ("CSR", "key").
fn bounded_der(input: &[u8], labels: &[&str], what: &str) -> Result<Vec<u8>, Vec<Finding>> {
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

/// The exact bytes of the first element inside the outer SEQUENCE (the signed
/// CertificationRequestInfo, as the signer hashed it).
fn raw_first_element(der: &[u8]) -> Option<&[u8]> {
    let mut reader = SliceReader::new(der).ok()?;
    let header = Header::decode(&mut reader).ok()?;
    if header.tag() != der::Tag::Sequence {
        return None;
    }
    reader.tlv_bytes().ok()
}

fn attribute_text(value: &der::asn1::Any) -> String {
    match value.decode_as::<x509_cert::ext::pkix::name::DirectoryString>() {
        Ok(text) => text.value().into_owned(),
        Err(_) => String::from_utf8_lossy(value.value()).into_owned(),
    }
}

/// The DNS names and IP addresses of the subjectAltName in the extensionRequest.
/// `None` (with a `csr.malformed` finding) when the attribute or extension is undecodable.
fn requested_names(request: &CertReq, findings: &mut Vec<Finding>) -> Option<Vec<SubjectName>> {
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

/// Key rules (BR 6.1.5, 6.1.6, 6.1.1.3). Reports findings and returns what the
/// signature check needs.
fn check_key(
    policy: &Policy,
    spki: &SubjectPublicKeyInfoOwned,
    findings: &mut Vec<Finding>,
) -> KeyInfo {
    let algorithm = spki.algorithm.oid;
    if algorithm == oid::RSA_ENCRYPTION {
        check_rsa_key(policy, spki, findings)
    } else if algorithm == oid::EC_PUBLIC_KEY {
        check_ec_key(spki, findings)
    } else {
        let name = if algorithm == oid::ED25519 {
            "Ed25519".to_owned()
        } else if algorithm == oid::ED448 {
            "Ed448".to_owned()
        } else if algorithm == oid::DSA {
            "DSA".to_owned()
        } else if algorithm == oid::RSASSA_PSS {
            "RSASSA-PSS-only key (use rsaEncryption)".to_owned()
        } else {
            algorithm.to_string()
        };
        findings.push(
            Finding::new(
                ids::KEY_ALGORITHM_NOT_ALLOWED,
                "only RSA (rsaEncryption) and ECDSA P-256/P-384/P-521 keys are allowed (BR 6.1.5)",
            )
            .with_value(name),
        );
        KeyInfo::Other
    }
}

fn check_rsa_key(
    policy: &Policy,
    spki: &SubjectPublicKeyInfoOwned,
    findings: &mut Vec<Finding>,
) -> KeyInfo {
    let Some(key_bytes) = spki.subject_public_key.as_bytes() else {
        findings.push(malformed("the RSA public key BIT STRING has unused bits"));
        return KeyInfo::Other;
    };
    let Ok(key) = rsa::pkcs1::RsaPublicKeyRef::from_der(key_bytes) else {
        findings.push(malformed(
            "the RSA public key is not a valid PKCS#1 RSAPublicKey",
        ));
        return KeyInfo::Other;
    };
    let n_bytes = key.modulus.as_bytes();
    let e_bytes = key.public_exponent.as_bytes();
    let n = BigUint::from_bytes_be(n_bytes);
    let e = BigUint::from_bytes_be(e_bytes);
    let bits = n.bits();

    if bits > MAX_RSA_BITS {
        findings.push(
            Finding::new(
                ids::KEY_RSA_MODULUS_TOO_LARGE,
                "RSA modulus above 16384 bits is refused before any arithmetic",
            )
            .with_value(bits.to_string()),
        );
        return KeyInfo::Rsa {
            bits,
            verifier: None,
            exponent_too_big_to_verify: false,
        };
    }
    if bits < 2048 {
        findings.push(
            Finding::new(
                ids::KEY_RSA_MODULUS_TOO_SMALL,
                "RSA modulus must be at least 2048 bits (BR 6.1.5)",
            )
            .with_value(bits.to_string()),
        );
    }
    if !bits.is_multiple_of(8) {
        findings.push(
            Finding::new(
                ids::KEY_RSA_MODULUS_NOT_MULTIPLE_OF_8,
                "RSA modulus size must be divisible by 8 bits (BR 6.1.5)",
            )
            .with_value(bits.to_string()),
        );
    }

    let e_even = !e.bit(0);
    let mut usable = true;
    if e_even || e < BigUint::from(3u8) {
        findings.push(
            Finding::new(
                ids::KEY_RSA_EXPONENT_INVALID,
                "RSA public exponent must be odd and at least 3 (BR 6.1.6)",
            )
            .with_value(e.to_string()),
        );
        usable = false;
    } else if e >= n {
        findings.push(
            Finding::new(
                ids::KEY_RSA_EXPONENT_INVALID,
                "RSA public exponent must be smaller than the modulus",
            )
            .with_value(e.to_string()),
        );
        usable = false;
    } else {
        let lower = BigUint::from(65537u32);
        let upper = (BigUint::one() << 256u32) - 1u8;
        if e < lower || e > upper {
            let shown = if e.bits() > 64 {
                format!("{}-bit exponent", e.bits())
            } else {
                e.to_string()
            };
            findings.push(
                Finding::new(
                    ids::KEY_RSA_EXPONENT_OUT_OF_RANGE,
                    "RSA public exponent should be in 2^16+1 ..= 2^256-1 (BR 6.1.6)",
                )
                .with_value(shown),
            );
        }
    }

    if let Some(prime) = weak::small_factor(n_bytes) {
        findings.push(
            Finding::new(
                ids::KEY_RSA_SMALL_FACTOR,
                "RSA modulus has a prime factor below 752 (BR 6.1.6)",
            )
            .with_value(prime.to_string()),
        );
        usable = usable && prime != 2;
    }
    if let Some(round) = weak::fermat_round(n_bytes, weak::FERMAT_ROUNDS) {
        findings.push(
            Finding::new(
                ids::KEY_RSA_FERMAT_FACTORABLE,
                "Fermat's method factors the RSA modulus: its primes are too close together (BR 6.1.1.3)",
            )
            .with_value(format!("round {round}")),
        );
    }
    if weak::roca_fingerprint(n_bytes) {
        findings.push(Finding::new(
            ids::KEY_RSA_ROCA,
            "RSA modulus has the ROCA fingerprint (Infineon RSALib, CVE-2017-15361; BR 6.1.1.3)",
        ));
    }
    if let Some(blocklist) = policy.rsa_blocklist()
        && blocklist.contains_modulus(n_bytes)
    {
        findings.push(Finding::new(
            ids::KEY_RSA_DEBIAN_WEAK,
            "RSA key is a known Debian weak key (CVE-2008-0166; BR 6.1.1.3)",
        ));
    }

    let exponent_too_big_to_verify = e.bits() > MAX_VERIFY_EXPONENT_BITS;
    let verifier = if usable && !exponent_too_big_to_verify && n.bit(0) {
        // Size/exponent policy is ours (findings above); the rsa crate only verifies.
        Some(rsa::PublicKey::new_unchecked(
            BoxedUint::from_be_slice_vartime(n_bytes),
            BoxedUint::from_be_slice_vartime(e_bytes),
        ))
    } else {
        None
    };
    KeyInfo::Rsa {
        bits,
        verifier,
        exponent_too_big_to_verify,
    }
}

fn check_ec_key(spki: &SubjectPublicKeyInfoOwned, findings: &mut Vec<Finding>) -> KeyInfo {
    let curve = match ec_curve_oid(spki) {
        Some(id) if id == oid::P256 => Curve::P256,
        Some(id) if id == oid::P384 => Curve::P384,
        Some(id) if id == oid::P521 => Curve::P521,
        other => {
            let value =
                other.map_or_else(|| "explicit or missing parameters".to_owned(), curve_name);
            findings.push(
                Finding::new(
                    ids::KEY_EC_CURVE_NOT_ALLOWED,
                    "only P-256, P-384 and P-521 are allowed (BR 6.1.5)",
                )
                .with_value(value),
            );
            return KeyInfo::Other;
        }
    };
    let point = spki.subject_public_key.as_bytes().unwrap_or_default();
    let verifier = match curve {
        Curve::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
            .ok()
            .map(EcVerifier::P256),
        Curve::P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
            .ok()
            .map(EcVerifier::P384),
        Curve::P521 => p521::ecdsa::VerifyingKey::from_sec1_bytes(point)
            .ok()
            .map(EcVerifier::P521),
    };
    if verifier.is_none() {
        findings.push(Finding::new(
            ids::KEY_EC_POINT_INVALID,
            "the EC public key is not a valid point on its curve (BR 6.1.6)",
        ));
    }
    KeyInfo::Ec { curve, verifier }
}

fn curve_name(id: ObjectIdentifier) -> String {
    match id.to_string().as_str() {
        "1.3.132.0.33" => "secp224r1 (P-224)".to_owned(),
        "1.3.132.0.10" => "secp256k1".to_owned(),
        "1.2.840.10045.3.1.1" => "secp192r1 (P-192)".to_owned(),
        other => other.to_owned(),
    }
}

#[derive(Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(id: ObjectIdentifier) -> Option<Self> {
        if id == oid::SHA256 {
            Some(Self::Sha256)
        } else if id == oid::SHA384 {
            Some(Self::Sha384)
        } else if id == oid::SHA512 {
            Some(Self::Sha512)
        } else {
            None
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }
}

enum Scheme {
    Pkcs1v15(Hash),
    Pss { hash: Hash, salt_len: usize },
    Ecdsa(Hash),
}

fn invalid(message: impl Into<String>) -> Finding {
    Finding::new(ids::CSR_SIGNATURE_INVALID, message)
}

/// Verifies the self-signature (proof of possession). Returns the algorithm's name.
fn verify_signature(
    request: &CertReq,
    tbs: &[u8],
    key: &KeyInfo,
    findings: &mut Vec<Finding>,
) -> String {
    let algorithm = &request.algorithm;
    let id = algorithm.oid;
    let weak_name = if id == oid::SHA1_WITH_RSA {
        Some("sha1WithRSAEncryption")
    } else if id == oid::MD5_WITH_RSA {
        Some("md5WithRSAEncryption")
    } else if id == oid::MD2_WITH_RSA {
        Some("md2WithRSAEncryption")
    } else if id == oid::ECDSA_SHA1 {
        Some("ecdsa-with-SHA1")
    } else if id == oid::DSA_SHA1 {
        Some("dsa-with-SHA1")
    } else {
        None
    };
    if let Some(name) = weak_name {
        findings.push(
            Finding::new(
                ids::CSR_SIGNATURE_ALGORITHM_WEAK,
                "the CSR is signed with a broken digest (SHA-1/MD5); its signature is not checked (BR 7.1.3.2)",
            )
            .with_value(name),
        );
        return name.to_owned();
    }

    let (scheme, name) = if id == oid::SHA256_WITH_RSA {
        (
            Scheme::Pkcs1v15(Hash::Sha256),
            "sha256WithRSAEncryption".to_owned(),
        )
    } else if id == oid::SHA384_WITH_RSA {
        (
            Scheme::Pkcs1v15(Hash::Sha384),
            "sha384WithRSAEncryption".to_owned(),
        )
    } else if id == oid::SHA512_WITH_RSA {
        (
            Scheme::Pkcs1v15(Hash::Sha512),
            "sha512WithRSAEncryption".to_owned(),
        )
    } else if id == oid::ECDSA_SHA256 {
        (Scheme::Ecdsa(Hash::Sha256), "ecdsa-with-SHA256".to_owned())
    } else if id == oid::ECDSA_SHA384 {
        (Scheme::Ecdsa(Hash::Sha384), "ecdsa-with-SHA384".to_owned())
    } else if id == oid::ECDSA_SHA512 {
        (Scheme::Ecdsa(Hash::Sha512), "ecdsa-with-SHA512".to_owned())
    } else if id == oid::RSASSA_PSS {
        match pss_parameters(algorithm.parameters.as_ref()) {
            PssParams::Ok { hash, salt_len } => (
                Scheme::Pss { hash, salt_len },
                format!(
                    "RSASSA-PSS ({}, MGF1-{}, salt {salt_len})",
                    hash.name(),
                    hash.name()
                ),
            ),
            PssParams::Sha1 => {
                findings.push(
                    Finding::new(
                        ids::CSR_SIGNATURE_ALGORITHM_WEAK,
                        "RSASSA-PSS with SHA-1 (the default parameters) is not allowed (BR 7.1.3.2)",
                    )
                    .with_value("RSASSA-PSS SHA-1"),
                );
                return "RSASSA-PSS (SHA-1)".to_owned();
            }
            PssParams::Unsupported => {
                findings.push(
                    invalid("unsupported or malformed RSASSA-PSS parameters")
                        .with_value(id.to_string()),
                );
                return "RSASSA-PSS (unsupported parameters)".to_owned();
            }
        }
    } else {
        if !matches!(key, KeyInfo::Other) {
            findings.push(invalid("unsupported signature algorithm").with_value(id.to_string()));
        }
        return id.to_string();
    };

    // RFC 4055 §5 / RFC 5758 §3.2: PKCS#1 v1.5 takes NULL (or, leniently, absent)
    // parameters, ECDSA none. They are outside the signed bytes, so anything else is
    // refused rather than ignored.
    let parameters = algorithm.parameters.as_ref();
    let parameters_ok = match scheme {
        Scheme::Pkcs1v15(_) => parameters
            .is_none_or(|any| der::Tagged::tag(any) == der::Tag::Null && any.value().is_empty()),
        Scheme::Ecdsa(_) => parameters.is_none(),
        Scheme::Pss { .. } => true,
    };
    if !parameters_ok {
        findings.push(invalid("malformed signature algorithm parameters").with_value(name.clone()));
        return name;
    }

    let Some(signature) = request.signature.as_bytes() else {
        findings.push(invalid("the signature BIT STRING has unused bits"));
        return name;
    };
    let outcome = match (&scheme, key) {
        (
            Scheme::Pkcs1v15(_) | Scheme::Pss { .. },
            KeyInfo::Rsa {
                verifier: Some(public),
                ..
            },
        ) => verify_rsa(&scheme, public, tbs, signature),
        (
            Scheme::Pkcs1v15(_) | Scheme::Pss { .. },
            KeyInfo::Rsa {
                verifier: None,
                exponent_too_big_to_verify,
                ..
            },
        ) => {
            if *exponent_too_big_to_verify {
                Err("not verified: RSA public exponents above 2^256-1 are not supported")
            } else {
                // An error finding already says why this key is unusable.
                Ok(())
            }
        }
        (
            Scheme::Ecdsa(hash),
            KeyInfo::Ec {
                verifier: Some(verifier),
                ..
            },
        ) => verify_ecdsa(verifier, &hash.digest(tbs), signature),
        // The key is already reported (invalid point or not allowed).
        (Scheme::Ecdsa(_), KeyInfo::Ec { verifier: None, .. }) | (_, KeyInfo::Other) => Ok(()),
        _ => Err("the signature algorithm does not match the public key type"),
    };
    if let Err(message) = outcome {
        findings.push(invalid(message).with_value(name.clone()));
    }
    name
}

fn verify_rsa(
    scheme: &Scheme,
    public: &rsa::PublicKey,
    tbs: &[u8],
    signature: &[u8],
) -> Result<(), &'static str> {
    use rsa::signature::Verifier;
    const BAD: &str = "the self-signature does not verify with the CSR's public key";
    let ok = match scheme {
        Scheme::Pkcs1v15(hash) => {
            let Ok(sig) = rsa::pkcs1v15::Signature::try_from(signature) else {
                return Err(BAD);
            };
            match hash {
                Hash::Sha256 => {
                    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public.clone()).verify(tbs, &sig)
                }
                Hash::Sha384 => {
                    rsa::pkcs1v15::VerifyingKey::<Sha384>::new(public.clone()).verify(tbs, &sig)
                }
                Hash::Sha512 => {
                    rsa::pkcs1v15::VerifyingKey::<Sha512>::new(public.clone()).verify(tbs, &sig)
                }
            }
            .is_ok()
        }
        Scheme::Pss { hash, salt_len } => {
            let Ok(sig) = rsa::pss::Signature::try_from(signature) else {
                return Err(BAD);
            };
            let salt = *salt_len;
            match hash {
                Hash::Sha256 => {
                    rsa::pss::VerifyingKey::<Sha256>::new_with_salt_len(public.clone(), salt)
                        .verify(tbs, &sig)
                }
                Hash::Sha384 => {
                    rsa::pss::VerifyingKey::<Sha384>::new_with_salt_len(public.clone(), salt)
                        .verify(tbs, &sig)
                }
                Hash::Sha512 => {
                    rsa::pss::VerifyingKey::<Sha512>::new_with_salt_len(public.clone(), salt)
                        .verify(tbs, &sig)
                }
            }
            .is_ok()
        }
        Scheme::Ecdsa(_) => false,
    };
    if ok { Ok(()) } else { Err(BAD) }
}

fn verify_ecdsa(
    verifier: &EcVerifier,
    prehash: &[u8],
    signature: &[u8],
) -> Result<(), &'static str> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    const BAD: &str = "the self-signature does not verify with the CSR's public key";
    let ok = match verifier {
        EcVerifier::P256(key) => p256::ecdsa::DerSignature::from_bytes(signature)
            .is_ok_and(|sig| key.verify_prehash(prehash, &sig).is_ok()),
        EcVerifier::P384(key) => p384::ecdsa::DerSignature::from_bytes(signature)
            .is_ok_and(|sig| key.verify_prehash(prehash, &sig).is_ok()),
        EcVerifier::P521(key) => p521::ecdsa::DerSignature::from_bytes(signature)
            .is_ok_and(|sig| key.verify_prehash(prehash, &sig).is_ok()),
    };
    if ok { Ok(()) } else { Err(BAD) }
}

enum PssParams {
    Ok { hash: Hash, salt_len: usize },
    Sha1,
    Unsupported,
}

/// RSASSA-PSS-params (RFC 4055 §3.1): hash and MGF1 hash must be the same SHA-2
/// function; absent fields take the SHA-1 defaults, which are weak.
fn pss_parameters(parameters: Option<&der::asn1::Any>) -> PssParams {
    let Some(parameters) = parameters else {
        return PssParams::Sha1;
    };
    let Ok(params) = parameters.decode_as::<rsa::pkcs1::RsaPssParams<der::asn1::Any>>() else {
        return PssParams::Unsupported;
    };
    let hash_oid = params.hash.oid;
    if hash_oid == oid::SHA1 {
        return PssParams::Sha1;
    }
    let Some(hash) = Hash::from_oid(hash_oid) else {
        return PssParams::Unsupported;
    };
    if params.mask_gen.oid != oid::MGF1 {
        return PssParams::Unsupported;
    }
    let mgf_hash = params.mask_gen.parameters.as_ref().map(|inner| inner.oid);
    match mgf_hash {
        Some(id) if id == hash_oid => {}
        Some(id) if id == oid::SHA1 => return PssParams::Sha1,
        _ => return PssParams::Unsupported,
    }
    PssParams::Ok {
        hash,
        salt_len: usize::from(params.salt_len),
    }
}
