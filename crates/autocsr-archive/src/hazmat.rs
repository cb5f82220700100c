//! Risky knobs, kept apart so a reviewer can grep for them.
//!
//! <div class="warning">
//!
//! **Security Warning**: everything here weakens the protection of an archive. Use it in
//! tests, or to open a legacy archive you already trust, never to seal anything a customer
//! receives.
//!
//! </div>

use crate::options::{Limits, SealOptions};

/// Lets [`crate::open`] decrypt zip entries that use ZipCrypto (the original PKWARE
/// cipher). ZipCrypto is broken: known-plaintext attacks recover the keys in minutes and
/// its password check accepts 1 wrong password in 256. Sealing never uses it.
#[must_use]
pub fn allow_zipcrypto(mut limits: Limits) -> Limits {
    limits.allow_zipcrypto = true;
    limits
}

/// Sets the 7z AES key-derivation work factor to 2^`power` SHA-256 rounds (clamped to
/// 1..=24) instead of 2^19. A lower power makes offline guessing of the password that
/// much cheaper: meant only for tests that seal many archives.
#[must_use]
pub fn set_7z_kdf_power(mut options: SealOptions, power: u8) -> SealOptions {
    options.sevenz_kdf_power = Some(power.clamp(1, 24));
    options
}
