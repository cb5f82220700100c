//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers"
)]

use core::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};

/// A deterministic "CSPRNG" for tests: SHA-256 in counter mode over a seed. Not for keys
/// anyone uses; it only lets tests prove that the caller's generator is the one used.
pub(crate) struct TestRng {
    seed: [u8; 32],
    counter: u64,
    buffer: Vec<u8>,
}

impl TestRng {
    pub(crate) fn new(seed: u64) -> TestRng {
        TestRng {
            seed: Sha256::digest(seed.to_le_bytes()).into(),
            counter: 0,
            buffer: Vec::new(),
        }
    }

    fn refill(&mut self) {
        let mut hasher = Sha256::new();
        hasher.update(self.seed);
        hasher.update(self.counter.to_le_bytes());
        self.counter += 1;
        self.buffer.extend_from_slice(&hasher.finalize());
    }
}

impl TryRng for TestRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for byte in dst.iter_mut() {
            if self.buffer.is_empty() {
                self.refill();
            }
            *byte = self.buffer.remove(0);
        }
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}

/// A random source that always fails, like a broken hardware DRBG.
pub(crate) struct FailingRng;

#[derive(Debug)]
pub(crate) struct RngFailure;

impl core::fmt::Display for RngFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("entropy source failed")
    }
}

impl core::error::Error for RngFailure {}

impl TryRng for FailingRng {
    type Error = RngFailure;

    fn try_next_u32(&mut self) -> Result<u32, RngFailure> {
        Err(RngFailure)
    }

    fn try_next_u64(&mut self) -> Result<u64, RngFailure> {
        Err(RngFailure)
    }

    fn try_fill_bytes(&mut self, _dst: &mut [u8]) -> Result<(), RngFailure> {
        Err(RngFailure)
    }
}

impl TryCryptoRng for FailingRng {}

/// Checks a CSR's self-signature with the RustCrypto verifiers directly (not the crate's
/// own code path). Panics on any other signature algorithm.
pub(crate) fn verify_signature_independently(request: &x509_cert::request::CertReq) {
    use der::Encode;
    use signature::Verifier;
    use spki::DecodePublicKey;
    let message = request.info.to_der().unwrap();
    let spki = request.info.public_key.to_der().unwrap();
    let signature = request.signature.raw_bytes();
    match request.algorithm.oid.to_string().as_str() {
        "1.2.840.113549.1.1.11" => {
            let key = rsa::pkcs1v15::VerifyingKey::<Sha256>::from_public_key_der(&spki).unwrap();
            let signature = rsa::pkcs1v15::Signature::try_from(signature).unwrap();
            key.verify(&message, &signature).unwrap();
        }
        "1.2.840.10045.4.3.2" => {
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(&spki).unwrap();
            let signature = p256::ecdsa::DerSignature::try_from(signature).unwrap();
            key.verify(&message, &signature).unwrap();
        }
        "1.2.840.10045.4.3.3" => {
            let key = p384::ecdsa::VerifyingKey::from_public_key_der(&spki).unwrap();
            let signature = p384::ecdsa::DerSignature::try_from(signature).unwrap();
            key.verify(&message, &signature).unwrap();
        }
        other => panic!("unexpected signature algorithm {other}"),
    }
}
