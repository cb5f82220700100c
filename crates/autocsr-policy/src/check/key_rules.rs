//! The key rules (BR 6.1.5, 6.1.6, 6.1.1.3): algorithm, size, exponent, curve, point and
//! weak keys. What they learn about the key is kept for the self-signature check.

use der::Decode;
use der::asn1::ObjectIdentifier;
use num_bigint::BigUint;
use num_traits::One;
use rsa::BoxedUint;
use spki::SubjectPublicKeyInfoOwned;

use super::decode::malformed;
use super::oid;
use crate::Policy;
use crate::finding::{Finding, ids};
use crate::weak;

/// Largest RSA modulus we do any arithmetic on (bits).
const MAX_RSA_BITS: u64 = weak::MAX_MODULUS_BITS;
/// Exponents above 2^256-1 are outside BR 6.1.6 and too costly to verify with.
const MAX_VERIFY_EXPONENT_BITS: u64 = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Curve {
    P256,
    P384,
    P521,
}

/// An EC public key, parsed (and its point checked) once by the key analysis and reused
/// by the signature check.
pub(super) enum EcVerifier {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
}

/// What the key analysis learned, for the signature check and the summary.
pub(super) enum KeyInfo {
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
    pub(super) fn summary(&self, spki: &SubjectPublicKeyInfoOwned) -> String {
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

/// Key rules (BR 6.1.5, 6.1.6, 6.1.1.3). Reports findings and returns what the
/// signature check needs.
pub(super) fn check_key(
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
