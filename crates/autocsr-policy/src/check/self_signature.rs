//! The self-signature check (proof of possession): which algorithms are allowed, their
//! parameters, and whether the signature verifies with the key the CSR carries.

use der::asn1::ObjectIdentifier;
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::request::CertReq;

use super::key_rules::{EcVerifier, KeyInfo};
use super::oid;
use crate::finding::{Finding, ids};

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
pub(super) fn verify_signature(
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

/// The longest RSA signature verified: one for the largest modulus the key rules accept
/// (16384 bits). The rsa crate's default stops at 8192 bits, which refused valid CSRs for
/// the moduli between as `signature_invalid`.
const MAX_SIGNATURE_LEN: usize = 16384 / 8;
const _: () = assert!(crate::weak::MAX_MODULUS_BITS == 8 * MAX_SIGNATURE_LEN as u64);

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
            let Ok(sig) =
                rsa::pkcs1v15::Signature::from_bytes_with_max_len(signature, MAX_SIGNATURE_LEN)
            else {
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
            let Ok(sig) =
                rsa::pss::Signature::from_bytes_with_max_len(signature, MAX_SIGNATURE_LEN)
            else {
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
