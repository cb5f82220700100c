//! The key and signature algorithms, and the OIDs that name them.

use core::fmt;
use core::str::FromStr;

use der::Any;
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier};

use crate::error::{Error, Result};

pub(crate) const RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub(crate) const ID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(crate) const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
pub(crate) const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

/// The key algorithms this crate generates: those BR 6.1.5 allows for TLS subscriber keys.
///
/// RSA keys use the public exponent 65537 and sign CSRs with PKCS#1 v1.5 and SHA-256;
/// ECDSA keys sign with the hash that matches the curve (P-256/SHA-256, P-384/SHA-384).
///
/// # Examples
///
/// ```
/// use autocsr_keygen::{KeyAlgorithm, SignatureAlgorithm};
///
/// let algorithm: KeyAlgorithm = "p384".parse()?;
/// assert_eq!(algorithm, KeyAlgorithm::EcdsaP384);
/// assert_eq!(algorithm.as_str(), "p384");
/// assert_eq!(algorithm.signature_algorithm(), SignatureAlgorithm::EcdsaP384Sha384);
/// assert_eq!(KeyAlgorithm::Rsa3072.rsa_bits(), Some(3072));
/// assert!("rsa1024".parse::<KeyAlgorithm>().is_err());
/// # Ok::<(), autocsr_keygen::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// ECDSA over NIST P-256 (secp256r1).
    EcdsaP256,
    /// ECDSA over NIST P-384 (secp384r1).
    EcdsaP384,
}

impl KeyAlgorithm {
    /// Every algorithm, in the order of the names in [`KeyAlgorithm::as_str`].
    pub const ALL: &'static [KeyAlgorithm] = &[
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ];

    /// The stable name: `rsa2048`, `rsa3072`, `rsa4096`, `p256` or `p384`.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "rsa2048",
            KeyAlgorithm::Rsa3072 => "rsa3072",
            KeyAlgorithm::Rsa4096 => "rsa4096",
            KeyAlgorithm::EcdsaP256 => "p256",
            KeyAlgorithm::EcdsaP384 => "p384",
        }
    }

    /// The CSR signature algorithm keys of this algorithm sign with.
    pub const fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                SignatureAlgorithm::RsaPkcs1v15Sha256
            }
            KeyAlgorithm::EcdsaP256 => SignatureAlgorithm::EcdsaP256Sha256,
            KeyAlgorithm::EcdsaP384 => SignatureAlgorithm::EcdsaP384Sha384,
        }
    }

    /// The RSA modulus size in bits, or `None` for ECDSA.
    pub const fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyAlgorithm::Rsa2048 => Some(2048),
            KeyAlgorithm::Rsa3072 => Some(3072),
            KeyAlgorithm::Rsa4096 => Some(4096),
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => None,
        }
    }

    /// The RSA algorithm for a modulus of `bits` bits, if it is one of the allowed sizes.
    pub(crate) fn from_rsa_bits(bits: u32) -> Option<KeyAlgorithm> {
        match bits {
            2048 => Some(KeyAlgorithm::Rsa2048),
            3072 => Some(KeyAlgorithm::Rsa3072),
            4096 => Some(KeyAlgorithm::Rsa4096),
            _ => None,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = Error;

    /// Parses the names of [`KeyAlgorithm::as_str`] (ASCII case-insensitive).
    fn from_str(name: &str) -> Result<Self> {
        KeyAlgorithm::ALL
            .iter()
            .copied()
            .find(|algorithm| algorithm.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::UnknownAlgorithm {
                name: name.to_owned(),
            })
    }
}

/// The signature algorithms a CSR can be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// `sha256WithRSAEncryption` (RSASSA-PKCS1-v1_5 with SHA-256) over an RSA key of 2048,
    /// 3072 or 4096 bits.
    RsaPkcs1v15Sha256,
    /// `ecdsa-with-SHA256` over a P-256 key.
    EcdsaP256Sha256,
    /// `ecdsa-with-SHA384` over a P-384 key.
    EcdsaP384Sha384,
}

impl SignatureAlgorithm {
    /// The algorithm's OID as it appears in the CSR's `signatureAlgorithm`.
    pub const fn oid(self) -> ObjectIdentifier {
        match self {
            SignatureAlgorithm::RsaPkcs1v15Sha256 => SHA256_WITH_RSA,
            SignatureAlgorithm::EcdsaP256Sha256 => ECDSA_WITH_SHA256,
            SignatureAlgorithm::EcdsaP384Sha384 => ECDSA_WITH_SHA384,
        }
    }

    pub(crate) fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        // RFC 4055: NULL parameters for RSA; RFC 5758: absent for ECDSA.
        let parameters = match self {
            SignatureAlgorithm::RsaPkcs1v15Sha256 => Some(Any::from(der::asn1::Null)),
            SignatureAlgorithm::EcdsaP256Sha256 | SignatureAlgorithm::EcdsaP384Sha384 => None,
        };
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters,
        }
    }
}
