//! The narrow signer trait and its implementations.

use signature::{SignatureEncoding, Signer};

use crate::algorithm::SignatureAlgorithm;
use crate::key::{KeyMaterial, PrivateKey};

/// Something that can sign a CSR without giving its private key away: an HSM, a cloud KMS,
/// a smartcard, or this crate's own [`PrivateKey`](crate::PrivateKey).
///
/// It is the narrow core of what x509-cert's builder takes (`signature::Keypair` for the
/// public key, `signature::Signer` for the signature, `DynSignatureAlgorithmIdentifier`
/// for the algorithm), with plain bytes so that a remote signer needs no RustCrypto types.
/// The CSR is verified against [`CsrSigner::public_key_der`] after signing, so a signer
/// that signs with the wrong key or algorithm is caught before the CSR is returned.
pub trait CsrSigner {
    /// Which algorithm [`CsrSigner::try_sign`] uses. It must match the public key.
    fn signature_algorithm(&self) -> SignatureAlgorithm;

    /// The public key as DER `SubjectPublicKeyInfo` (what PKCS#11 `CKA_PUBLIC_KEY_INFO` and
    /// cloud KMS "get public key" calls return).
    ///
    /// # Errors
    /// Whatever the signer's backend reports; it becomes [`Error::Signing`](crate::Error::Signing).
    fn public_key_der(&self) -> Result<Vec<u8>, signature::Error>;

    /// Signs `message` (the DER `CertificationRequestInfo`; the signer hashes it) and returns
    /// the signature as it goes into the CSR: the PKCS#1 v1.5 signature block for RSA, the
    /// DER `ECDSA-Sig-Value` for ECDSA (not the raw `r || s` that PKCS#11 returns).
    ///
    /// # Errors
    /// Whatever the signer's backend reports; it becomes [`Error::Signing`](crate::Error::Signing).
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error>;
}

impl<T: CsrSigner + ?Sized> CsrSigner for &T {
    fn signature_algorithm(&self) -> SignatureAlgorithm {
        (**self).signature_algorithm()
    }

    fn public_key_der(&self) -> Result<Vec<u8>, signature::Error> {
        (**self).public_key_der()
    }

    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        (**self).try_sign(message)
    }
}

impl CsrSigner for PrivateKey {
    fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.algorithm().signature_algorithm()
    }

    fn public_key_der(&self) -> Result<Vec<u8>, signature::Error> {
        PrivateKey::public_key_der(self).map_err(|_| signature::Error::new())
    }

    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(match &self.material {
            KeyMaterial::Rsa(key) => {
                Signer::<rsa::pkcs1v15::Signature>::try_sign(key.as_ref(), message)?.to_vec()
            }
            KeyMaterial::P256(key) => {
                Signer::<p256::ecdsa::DerSignature>::try_sign(key.as_ref(), message)?.to_vec()
            }
            KeyMaterial::P384(key) => {
                Signer::<p384::ecdsa::DerSignature>::try_sign(key.as_ref(), message)?.to_vec()
            }
        })
    }
}
