//! The 7z AES-256 key: 7-Zip's SHA-256 key derivation, and CBC encryption of a stream.
//!
//! 7-Zip derives the key as SHA-256 over 2^power repetitions of
//! `salt || password (UTF-16LE) || counter (u64 LE)`, the counter running from 0. We use a
//! fresh random 16-byte salt per archive (7-Zip's reader takes up to 16 bytes; 7-Zip itself
//! writes none, so the same password would give the same key in every archive), unless the
//! caller declares the password a one-time random value
//! ([`crate::SealOptions::skip_7z_salt_for_random_password`]), and a fresh random IV for
//! every stream.

use cbc::cipher::array::Array;
use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::wiped_buffer::WipedBuffer;
use crate::error::Error;

/// AES block and IV size.
const BLOCK: usize = 16;

/// Salt length: the most 7-Zip's reader accepts (its properties give the length in a
/// nibble plus one bit).
pub(super) const SALT_LEN: usize = 16;

/// How many rounds are laid out side by side before hashing. A multiple of 64 rounds is
/// always a whole number of 64-byte SHA-256 blocks, so `update` compresses straight from
/// the buffer instead of copying three small pieces per round into its own block buffer,
/// which is what makes 7-Zip's derivation fast too.
const ROUNDS_PER_BATCH: usize = 64;

/// Bounds the batch buffer for very long passwords (fewer rounds per batch: still correct,
/// only no longer block-aligned).
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// A derived AES-256 key, wiped on drop, and the power and salt it was derived with (which
/// every stream's coder properties record).
pub(crate) struct ArchiveKey {
    key: Zeroizing<[u8; 32]>,
    power: u8,
    salt: Vec<u8>,
}

impl ArchiveKey {
    /// Derives the key for `password` with 2^`power` rounds over a fresh random salt of
    /// [`SALT_LEN`] bytes, or no salt when `salted` is false (`power` ≤ 24 is the caller's
    /// duty: the writer only ever asks for [`crate::SEVENZ_KDF_POWER`] or a hazmat value
    /// clamped to 1..=24).
    pub(crate) fn derive(password: &str, power: u8, salted: bool) -> Result<ArchiveKey, Error> {
        let mut salt = vec![0u8; if salted { SALT_LEN } else { 0 }];
        getrandom::fill(&mut salt).map_err(|_| Error::Randomness)?;
        Ok(ArchiveKey::derive_with_salt(password, power, salt))
    }

    fn derive_with_salt(password: &str, power: u8, salt: Vec<u8>) -> ArchiveKey {
        // Each round hashes `salt || password || counter`, so the salt and the password are
        // laid out once, together. UTF-16 never takes more than twice the UTF-8 bytes:
        // reserving that up front means the buffer never grows and leaves no unwiped copy.
        let mut round_prefix = Zeroizing::new(Vec::with_capacity(salt.len() + 2 * password.len()));
        round_prefix.extend_from_slice(&salt);
        round_prefix.extend(password.encode_utf16().flat_map(u16::to_le_bytes));
        ArchiveKey {
            key: derive_key(&round_prefix, power),
            power,
            salt,
        }
    }

    /// The key itself (for decrypting what was sealed with it).
    pub(super) fn raw_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// The IV in 7zAES coder `properties` when they declare exactly this key's power and
    /// salt and a 16-byte IV (as our writer records them), else `None`. The layout is
    /// 7-Zip's: salt size = bit 7 of the first byte + the high nibble of the second, IV
    /// size = bit 6 + the low nibble.
    pub(super) fn iv_if_derived_as(&self, properties: &[u8]) -> Option<[u8; BLOCK]> {
        let (&first, rest) = properties.split_first()?;
        let (&second, rest) = rest.split_first()?;
        let salt_len = usize::from((first >> 7) & 1) + usize::from(second >> 4);
        let iv_len = usize::from((first >> 6) & 1) + usize::from(second & 0x0F);
        if first & 0x3F != self.power || salt_len != self.salt.len() || iv_len != BLOCK {
            return None;
        }
        let (salt, iv) = rest.split_at_checked(salt_len)?;
        if salt != self.salt.as_slice() || iv.len() != BLOCK {
            return None;
        }
        let mut array = [0u8; BLOCK];
        array.copy_from_slice(iv);
        Some(array)
    }

    /// The same key bytes recorded with another power (tests of the verifier).
    #[cfg(test)]
    pub(super) fn with_recorded_power(&self, power: u8) -> ArchiveKey {
        ArchiveKey {
            key: self.key.clone(),
            power,
            salt: self.salt.clone(),
        }
    }

    /// The same key bytes recorded with another salt (tests of the verifier).
    #[cfg(test)]
    pub(super) fn with_recorded_salt(&self, salt: Vec<u8>) -> ArchiveKey {
        ArchiveKey {
            key: self.key.clone(),
            power: self.power,
            salt,
        }
    }

    /// Encrypts `data` in place with AES-256-CBC under a fresh random IV, after padding it
    /// with zeros to a whole number of blocks (7z records the unpadded length separately).
    /// Returns the 7zAES coder properties for the stream: the power, the IV size and the IV.
    pub(super) fn encrypt(&self, data: &mut WipedBuffer) -> Result<Vec<u8>, Error> {
        let mut iv = [0u8; BLOCK];
        getrandom::fill(&mut iv).map_err(|_| Error::Randomness)?;
        data.pad_to_multiple_of(BLOCK);
        // Borrowed as an `&Array`, not copied: a copy would sit unwiped on the stack.
        let key: &Array<u8, _> = (&*self.key).into();
        let mut cipher = cbc::Encryptor::<aes::Aes256>::new(key, &Array::from(iv));
        let (blocks, _) = Array::slice_as_chunks_mut(data.as_mut_slice());
        cipher.encrypt_blocks(blocks);
        Ok(coder_properties(self.power, &self.salt, &iv))
    }
}

/// The 7zAES properties: first byte the power (low 6 bits), "IV present" (0x40) and "salt
/// present" (0x80); second byte salt size − 1 in its high nibble (when present) and IV
/// size − 1 in its low nibble; then the salt and the IV. (7-Zip's reader: salt size =
/// bit 7 of the first byte + the high nibble; `salt` is at most 16 bytes.)
fn coder_properties(power: u8, salt: &[u8], iv: &[u8; BLOCK]) -> Vec<u8> {
    let mut properties = Vec::with_capacity(2 + salt.len() + BLOCK);
    let salt_nibble = u8::try_from(salt.len().saturating_sub(1).min(0x0F)).unwrap_or(0x0F);
    if salt.is_empty() {
        properties.push(0x40 | (power & 0x3F));
        properties.push(u8::try_from(BLOCK - 1).unwrap_or(0x0F));
    } else {
        properties.push(0x80 | 0x40 | (power & 0x3F));
        properties.push((salt_nibble << 4) | u8::try_from(BLOCK - 1).unwrap_or(0x0F));
    }
    properties.extend_from_slice(salt);
    properties.extend_from_slice(iv);
    properties
}

/// 7-Zip's key derivation: SHA-256 over 2^`power` copies of `round_prefix || counter`,
/// where `round_prefix` is `salt || password`.
fn derive_key(password: &[u8], power: u8) -> Zeroizing<[u8; 32]> {
    let round_len = password.len() + 8;
    let rounds: u64 = 1 << power;
    let rounds_per_batch = (MAX_BATCH_BYTES / round_len).clamp(1, ROUNDS_PER_BATCH);
    let mut batch = Zeroizing::new(vec![0u8; round_len * rounds_per_batch]);
    for round in batch.chunks_exact_mut(round_len) {
        if let Some(password_part) = round.get_mut(..password.len()) {
            password_part.copy_from_slice(password);
        }
    }
    let mut sha = Sha256::new();
    let mut counter: u64 = 0;
    while counter < rounds {
        let in_batch = usize::try_from(rounds - counter)
            .unwrap_or(rounds_per_batch)
            .min(rounds_per_batch);
        for (round, slot) in batch
            .chunks_exact_mut(round_len)
            .take(in_batch)
            .zip(counter..)
        {
            if let Some(counter_part) = round.get_mut(password.len()..) {
                counter_part.copy_from_slice(&slot.to_le_bytes());
            }
        }
        sha.update(batch.get(..in_batch * round_len).unwrap_or_default());
        counter += in_batch as u64;
    }
    let mut key = Zeroizing::new([0u8; 32]);
    // Straight into the wiped array: `finalize()` would return the key in a temporary.
    sha.finalize_into((&mut *key).into());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derivation exactly as 7-Zip's reference code (7zAes.cpp) writes it, one round
    /// at a time.
    fn reference(password: &[u8], power: u8) -> [u8; 32] {
        let mut sha = Sha256::new();
        for counter in 0..(1u64 << power) {
            sha.update(password);
            sha.update(counter.to_le_bytes());
        }
        sha.finalize().into()
    }

    #[test]
    fn batched_derivation_equals_the_reference() {
        // Lengths around SHA-256's 64-byte block and odd ones; powers below, at and above
        // one batch (2^6 rounds).
        // 2,000 bytes: 31 rounds per batch; 70,000: one round per batch.
        for length in [
            0usize, 1, 2, 54, 56, 62, 64, 68, 70, 120, 254, 2_000, 70_000,
        ] {
            let password: Vec<u8> = (0..length).map(|i| (i * 7 + 3).to_le_bytes()[0]).collect();
            for power in [0u8, 1, 5, 6, 7, 10] {
                assert_eq!(
                    *derive_key(&password, power),
                    reference(&password, power),
                    "length {length}, power {power}"
                );
            }
        }
    }

    #[test]
    fn known_answer_for_7zip_derivation() {
        // SHA-256 of one round ("a" as UTF-16LE, counter 0), computed independently:
        // `printf 'a\0\0\0\0\0\0\0\0\0' | sha256sum`
        let key = ArchiveKey::derive_with_salt("a", 0, Vec::new());
        assert_eq!(
            hex_string(&*key.key),
            "7b771da26f8c94f907df04fea75b0529881e98710a09363a15483f352a571620"
        );
    }

    fn hex_string(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    #[test]
    fn utf16_encoding_is_used() {
        assert_eq!(
            *ArchiveKey::derive_with_salt("Grüße", 3, Vec::new()).key,
            reference(
                &"Grüße"
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect::<Vec<u8>>(),
                3
            )
        );
    }

    #[test]
    fn the_iv_is_returned_only_for_this_keys_power_and_salt() {
        let salt: Vec<u8> = (1..=16).collect();
        let salted = ArchiveKey::derive_with_salt("pw", 5, salt.clone());
        let unsalted = ArchiveKey::derive_with_salt("pw", 5, Vec::new());
        let iv = [7u8; 16];
        let with_salt = coder_properties(5, &salt, &iv);
        let without = coder_properties(5, &[], &iv);
        assert_eq!(salted.iv_if_derived_as(&with_salt), Some(iv));
        assert_eq!(unsalted.iv_if_derived_as(&without), Some(iv));
        assert_eq!(salted.iv_if_derived_as(&without), None);
        assert_eq!(unsalted.iv_if_derived_as(&with_salt), None);
        assert_eq!(
            salted.iv_if_derived_as(&coder_properties(6, &salt, &iv)),
            None
        );
        let mut other_salt = salt.clone();
        other_salt[3] ^= 1;
        assert_eq!(
            salted.iv_if_derived_as(&coder_properties(5, &other_salt, &iv)),
            None
        );
        // Cut off, an 8-byte IV, trailing bytes, raw-key mode.
        assert_eq!(unsalted.iv_if_derived_as(&without[..17]), None);
        assert_eq!(
            unsalted.iv_if_derived_as(&[0x45, 0x07, 0, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
        let mut longer = without.clone();
        longer.push(0);
        assert_eq!(unsalted.iv_if_derived_as(&longer), None);
        assert_eq!(
            unsalted.iv_if_derived_as(&coder_properties(0x3F, &[], &iv)),
            None
        );
        assert_eq!(unsalted.iv_if_derived_as(&[]), None);
    }

    #[test]
    fn coder_properties_say_power_and_iv() {
        let properties = coder_properties(19, &[], &[7; 16]);
        assert_eq!(properties.len(), 18);
        assert_eq!(properties[0], 0x40 | 19);
        assert_eq!(properties[1], 0x0F);
        assert_eq!(&properties[2..], &[7; 16]);
    }

    #[test]
    fn coder_properties_say_salt_size_as_7zip_reads_it() {
        let salt: Vec<u8> = (1..=16).collect();
        let properties = coder_properties(19, &salt, &[7; 16]);
        assert_eq!(properties.len(), 2 + 16 + 16);
        // 7-Zip's 7zAes.cpp: saltSize = ((b0 >> 7) & 1) + (b1 >> 4); ivSize likewise
        // with bit 6 and the low nibble.
        let (b0, b1) = (properties[0], properties[1]);
        assert_eq!(b0 & 0x3F, 19);
        assert_eq!(usize::from((b0 >> 7) & 1) + usize::from(b1 >> 4), 16);
        assert_eq!(usize::from((b0 >> 6) & 1) + usize::from(b1 & 0x0F), 16);
        assert_eq!(&properties[2..18], &salt[..]);
        assert_eq!(&properties[18..], &[7; 16]);
    }

    #[test]
    fn the_salt_is_hashed_before_the_password_in_every_round() {
        let salt: Vec<u8> = (0..16).map(|i| i * 17).collect();
        let mut input = salt.clone();
        input.extend("Grüße".encode_utf16().flat_map(u16::to_le_bytes));
        for power in [0u8, 5, 7] {
            assert_eq!(
                *ArchiveKey::derive_with_salt("Grüße", power, salt.clone()).key,
                reference(&input, power),
                "power {power}"
            );
        }
    }

    #[test]
    fn each_derivation_draws_a_fresh_salt() {
        let first = ArchiveKey::derive("same password", 1, true).unwrap();
        let second = ArchiveKey::derive("same password", 1, true).unwrap();
        assert_eq!(first.salt.len(), SALT_LEN);
        assert_ne!(first.salt, second.salt);
        assert_ne!(*first.key, *second.key, "same password, different keys");
        let unsalted = ArchiveKey::derive("same password", 1, false).unwrap();
        assert!(unsalted.salt.is_empty());
        assert_eq!(
            *unsalted.key,
            *ArchiveKey::derive("same password", 1, false).unwrap().key
        );
    }

    #[test]
    fn encryption_pads_and_uses_a_fresh_iv() {
        use std::io::Write as _;
        let key = ArchiveKey::derive("pw", 1, false).unwrap();
        let mut first = WipedBuffer::with_capacity(0);
        first.write_all(b"seventeen bytes!!").unwrap();
        let mut second = WipedBuffer::with_capacity(0);
        second.write_all(b"seventeen bytes!!").unwrap();
        let properties1 = key.encrypt(&mut first).unwrap();
        let properties2 = key.encrypt(&mut second).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(
            properties1[..2],
            [0x40 | 1, 0x0F],
            "power 1, 16-byte IV, no salt"
        );
        assert_ne!(properties1[2..], properties2[2..], "a fresh IV each time");
        assert_ne!(
            first.as_slice(),
            second.as_slice(),
            "same plaintext, different IV, different ciphertext"
        );
    }
}
