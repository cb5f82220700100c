//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test helpers")]

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
