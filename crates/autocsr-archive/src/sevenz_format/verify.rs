//! Re-opening a 7z archive we have just sealed, with the key we sealed it with instead of a
//! second 2^19-round derivation from the password.
//!
//! sevenz-rust2 takes a password, never a key, except in 7zAES's "raw key" mode (power
//! 0x3F: the key is `salt || password`, no derivation). So we do the one part sevenz-rust2
//! would need the password for, the encrypted header, ourselves, and hand it the rest:
//!
//! 1. the start header and the next (encoded) header, with their CRCs;
//! 2. the header coder's 7zAES properties must declare exactly the power and salt the key
//!    was derived with;
//! 3. the header stream is decrypted with the key and its IV (the `cbc` crate, as
//!    sevenz-rust2 does), decompressed (lzma-rust2, as sevenz-rust2 does) to exactly its
//!    declared length, and checked against its declared CRC;
//! 4. the content coder's properties in that header must declare the same power and salt;
//! 5. a copy of the archive is built with that header stored plain and the content coder
//!    switched to raw-key mode (same IV), and sevenz-rust2 opens the copy with the key as
//!    the raw password: it parses the header and decrypts, decompresses and CRC-checks the
//!    real content stream under the key.
//!
//! What this no longer proves for each archive: that 7-Zip's derivation of the password
//! with that power and salt gives that key. That is a fixed function of our code, proven
//! by the unit tests against 7-Zip's reference loop and a known answer, by the tests that
//! open our archives with sevenz-rust2's own derivation, and by the interop tests with
//! 7-Zip, The Unarchiver and py7zr; what remains unchecked per archive is a transient
//! fault (a flipped bit) during the one derivation, which would seal an archive no one can
//! open while this check passes.
//!
//! This module reads only what our writer wrote, strictly: any other layout is
//! [`Error::VerifyMismatch`].

use std::io::{Cursor, Read};

use cbc::cipher::array::Array;
use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
use lzma_rust2::LzmaReader;
use zeroize::Zeroizing;

use super::key::ArchiveKey;
use super::number::{read_number, write_number};
use super::{
    AES_METHOD_ID, K_CODERS_UNPACK_SIZE, K_CRC, K_ENCODED_HEADER, K_END, K_FOLDER, K_HEADER,
    K_MAIN_STREAMS_INFO, K_PACK_INFO, K_SIZE, K_UNPACK_INFO, LZMA_METHOD_ID, SIGNATURE,
    SIGNATURE_HEADER_SIZE,
};
use crate::entry::Entry;
use crate::error::Error;
use crate::options::Limits;

/// 7zAES's "raw key" power: the key is the salt followed by the password, not derived.
const RAW_KEY_POWER: u8 = 0x3F;

/// The strict reader's refusal: the bytes are not what our writer writes.
fn mismatch() -> Error {
    Error::VerifyMismatch
}

/// A cursor over a byte slice that reads 7z's fields and refuses anything unexpected.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn byte(&mut self) -> Result<u8, Error> {
        let (&first, rest) = self.rest.split_first().ok_or_else(mismatch)?;
        self.rest = rest;
        Ok(first)
    }

    fn expect(&mut self, expected: u8) -> Result<(), Error> {
        if self.byte()? == expected {
            Ok(())
        } else {
            Err(mismatch())
        }
    }

    fn number(&mut self) -> Result<u64, Error> {
        read_number(&mut self.rest).ok_or_else(mismatch)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], Error> {
        let taken = self.rest.get(..len).ok_or_else(mismatch)?;
        self.rest = self.rest.get(len..).ok_or_else(mismatch)?;
        Ok(taken)
    }

    /// One coder with properties and a single input and output: returns its properties.
    fn coder(&mut self, id: &[u8]) -> Result<&'a [u8], Error> {
        let id_len = u8::try_from(id.len()).map_err(|_| mismatch())?;
        self.expect(0x20 | id_len)?;
        if self.take(id.len())? != id {
            return Err(mismatch());
        }
        let len = usize::try_from(self.number()?).map_err(|_| mismatch())?;
        self.take(len)
    }

    fn u32_le(&mut self) -> Result<u32, Error> {
        let bytes = self.take(4)?;
        let mut array = [0u8; 4];
        array.copy_from_slice(bytes);
        Ok(u32::from_le_bytes(array))
    }
}

fn u64_at(bytes: &[u8], at: usize) -> Result<u64, Error> {
    let slice = bytes.get(at..at + 8).ok_or(Error::Truncated)?;
    let mut array = [0u8; 8];
    array.copy_from_slice(slice);
    Ok(u64::from_le_bytes(array))
}

fn to_usize(value: u64) -> Result<usize, Error> {
    usize::try_from(value).map_err(|_| mismatch())
}

/// Opens `sealed`, which our writer sealed under `key`, as described in the module
/// documentation, and returns its entries (for the caller to compare).
pub(crate) fn open_with_sealing_key(
    sealed: &[u8],
    key: &ArchiveKey,
    limits: &Limits,
) -> Result<Vec<Entry>, Error> {
    // 1. Start header and next header, with their CRCs.
    let start = sealed.get(..32).ok_or(Error::Truncated)?;
    if start.get(..6) != Some(&SIGNATURE[..]) {
        return Err(mismatch());
    }
    let start_fields = start.get(12..32).ok_or(Error::Truncated)?;
    let stored_start_crc = start.get(8..12).ok_or(Error::Truncated)?;
    if crc32fast::hash(start_fields).to_le_bytes() != stored_start_crc {
        return Err(Error::Corrupt);
    }
    let next_offset = u64_at(start, 12)?;
    let next_size = u64_at(start, 20)?;
    let next_start = to_usize(SIGNATURE_HEADER_SIZE.saturating_add(next_offset))?;
    let next_end = next_start.saturating_add(to_usize(next_size)?);
    let next = sealed.get(next_start..next_end).ok_or(Error::Truncated)?;
    if crc32fast::hash(next).to_le_bytes() != start.get(28..32).ok_or(Error::Truncated)? {
        return Err(Error::Corrupt);
    }

    // The encoded header: one packed stream, decoded by AES then LZMA.
    let mut fields = Fields { rest: next };
    fields.expect(K_ENCODED_HEADER)?;
    fields.expect(K_PACK_INFO)?;
    let header_position = to_usize(fields.number()?)?;
    fields.expect(1)?;
    fields.expect(K_SIZE)?;
    let header_packed_len = to_usize(fields.number()?)?;
    fields.expect(K_END)?;
    fields.expect(K_UNPACK_INFO)?;
    fields.expect(K_FOLDER)?;
    fields.expect(1)?; // one folder
    fields.expect(0)?; // not external
    fields.expect(2)?; // two coders
    let aes_properties = fields.coder(AES_METHOD_ID)?;
    let lzma_properties = fields.coder(LZMA_METHOD_ID)?;
    fields.expect(1)?; // bind pair: LZMA's input 1 ...
    fields.expect(0)?; // ... is AES's output 0
    fields.expect(K_CODERS_UNPACK_SIZE)?;
    let compressed_len = to_usize(fields.number()?)?;
    let header_len = fields.number()?;
    fields.expect(K_CRC)?;
    fields.expect(1)?;
    let header_crc = fields.u32_le()?;
    fields.expect(K_END)?;
    fields.expect(K_END)?;
    if !fields.rest.is_empty() {
        return Err(mismatch());
    }

    // 2. and 3. The header's KDF parameters are the key's; decrypt and decompress it.
    let header_iv = key.iv_if_derived_as(aes_properties).ok_or_else(mismatch)?;
    let packed_start = to_usize(SIGNATURE_HEADER_SIZE)?.saturating_add(header_position);
    let packed = sealed
        .get(packed_start..packed_start.saturating_add(header_packed_len))
        .ok_or(Error::Truncated)?;
    if packed.len() % 16 != 0 || compressed_len > packed.len() {
        return Err(mismatch());
    }
    if header_len > super::open::header_budget(limits) {
        return Err(mismatch());
    }
    let header = decrypt_and_decompress(
        packed,
        key,
        &header_iv,
        compressed_len,
        lzma_properties,
        header_len,
    )?;
    if crc32fast::hash(&header) != header_crc {
        return Err(Error::Corrupt);
    }

    // 4. and 5. The content coder's KDF parameters are the key's too; a copy of the
    // archive with the header stored plain and that coder in raw-key mode.
    let plain_header = with_raw_key_content_coder(&header, key)?;
    let mut copy = Vec::with_capacity(header_position + plain_header.len() + 32);
    let mut start_header = Vec::with_capacity(20);
    start_header.extend_from_slice(&u64::try_from(header_position).unwrap_or(0).to_le_bytes());
    start_header.extend_from_slice(&u64::try_from(plain_header.len()).unwrap_or(0).to_le_bytes());
    start_header.extend_from_slice(&crc32fast::hash(&plain_header).to_le_bytes());
    copy.extend_from_slice(start.get(..8).ok_or(Error::Truncated)?);
    copy.extend_from_slice(&crc32fast::hash(&start_header).to_le_bytes());
    copy.extend_from_slice(&start_header);
    copy.extend_from_slice(sealed.get(32..packed_start).ok_or(Error::Truncated)?);
    copy.extend_from_slice(&plain_header);
    super::open::open_with_raw_key(Cursor::new(copy), key.raw_bytes(), limits)
}

/// AES-256-CBC decryption of the header stream, then LZMA to exactly `header_len` bytes.
fn decrypt_and_decompress(
    packed: &[u8],
    key: &ArchiveKey,
    iv: &[u8; 16],
    compressed_len: usize,
    lzma_properties: &[u8],
    header_len: u64,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut buffer = Zeroizing::new(packed.to_vec());
    let key_array: &Array<u8, _> = key.raw_bytes().into();
    let mut cipher = cbc::Decryptor::<aes::Aes256>::new(key_array, &Array::from(*iv));
    let (blocks, _) = Array::slice_as_chunks_mut(buffer.as_mut_slice());
    cipher.decrypt_blocks(blocks);
    let compressed = buffer.get(..compressed_len).ok_or_else(mismatch)?;

    let mut lzma = Fields {
        rest: lzma_properties,
    };
    let properties_byte = lzma.byte()?;
    let dictionary = lzma.u32_le()?;
    if !lzma.rest.is_empty() {
        return Err(mismatch());
    }
    let mut reader =
        LzmaReader::new_with_props(compressed, header_len, properties_byte, dictionary, None)
            .map_err(|_| mismatch())?;
    let mut header = Zeroizing::new(vec![0u8; to_usize(header_len)?]);
    reader.read_exact(&mut header).map_err(|_| Error::Corrupt)?;
    let mut probe = [0u8; 1];
    if reader.read(&mut probe).map_err(|_| Error::Corrupt)? != 0 {
        return Err(Error::Corrupt);
    }
    Ok(header)
}

/// The plain header with the content folder's AES coder switched to raw-key mode (same
/// IV), after checking that it declares the key's power and salt. A header without a
/// content folder (every entry empty) is returned as it is.
fn with_raw_key_content_coder(header: &[u8], key: &ArchiveKey) -> Result<Vec<u8>, Error> {
    let mut fields = Fields { rest: header };
    fields.expect(K_HEADER)?;
    if fields.rest.first() != Some(&K_MAIN_STREAMS_INFO) {
        return Ok(header.to_vec());
    }
    fields.expect(K_MAIN_STREAMS_INFO)?;
    fields.expect(K_PACK_INFO)?;
    fields.expect(0)?; // the content is the first packed stream
    fields.expect(1)?;
    fields.expect(K_SIZE)?;
    fields.number()?;
    fields.expect(K_END)?;
    fields.expect(K_UNPACK_INFO)?;
    fields.expect(K_FOLDER)?;
    fields.expect(1)?;
    fields.expect(0)?;
    fields.expect(2)?;
    let before_coder = header.len() - fields.rest.len();
    let properties = fields.coder(AES_METHOD_ID)?;
    let after_coder = header.len() - fields.rest.len();
    let iv = key.iv_if_derived_as(properties).ok_or_else(mismatch)?;

    let mut raw = vec![0x40 | RAW_KEY_POWER, 0x0F];
    raw.extend_from_slice(&iv);
    let mut patched = Vec::with_capacity(header.len() + 2);
    patched.extend_from_slice(header.get(..before_coder).ok_or_else(mismatch)?);
    patched.push(0x20 | 4);
    patched.extend_from_slice(AES_METHOD_ID);
    write_number(&mut patched, u64::try_from(raw.len()).unwrap_or(0));
    patched.extend_from_slice(&raw);
    patched.extend_from_slice(header.get(after_coder..).ok_or_else(mismatch)?);
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn entries() -> Vec<Entry> {
        vec![
            Entry::private("key.pem", b"-----BEGIN PRIVATE KEY-----\nMIIE\n".to_vec()).unwrap(),
            Entry::new("empty.txt", Vec::new()).unwrap(),
            Entry::new("README.txt", b"Open with 7-Zip.\n".repeat(20)).unwrap(),
        ]
    }

    fn seal(salted: bool) -> (Vec<u8>, ArchiveKey) {
        let key = ArchiveKey::derive("pw", 3, salted).unwrap();
        let archive =
            super::super::seal::seal_with_key(&entries(), &key, SystemTime::UNIX_EPOCH).unwrap();
        (archive, key)
    }

    fn open(archive: &[u8], key: &ArchiveKey) -> Result<Vec<Entry>, Error> {
        open_with_sealing_key(archive, key, &Limits::default())
    }

    /// The offset of the header coder's 7zAES properties in the plain next header, and
    /// their length.
    fn header_aes_properties(archive: &[u8]) -> (usize, usize) {
        let size = usize::try_from(u64_at(archive, 20).unwrap()).unwrap();
        let next = archive.len() - size;
        let at = archive[next..]
            .windows(AES_METHOD_ID.len())
            .position(|window| window == AES_METHOD_ID)
            .unwrap()
            + next
            + AES_METHOD_ID.len();
        (at + 1, usize::from(archive[at]))
    }

    /// Recomputes the next header's CRC in the start header, and the start header's own,
    /// so that only the field a test changed is wrong.
    fn fix_crcs(archive: &mut [u8]) {
        let size = usize::try_from(u64_at(archive, 20).unwrap()).unwrap();
        let next = archive.len() - size;
        let crc = crc32fast::hash(&archive[next..]);
        archive[28..32].copy_from_slice(&crc.to_le_bytes());
        let crc = crc32fast::hash(&archive[12..32]);
        archive[8..12].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn opens_what_the_writer_sealed_salted_or_not() {
        for salted in [false, true] {
            let (archive, key) = seal(salted);
            let opened = open(&archive, &key).unwrap();
            let expected = entries();
            assert_eq!(opened.len(), expected.len());
            for (got, want) in opened.iter().zip(&expected) {
                assert_eq!(got.name(), want.name());
                assert_eq!(got.data(), want.data());
            }
            assert_eq!(opened[0].unix_mode(), Some(0o600));
        }
    }

    #[test]
    fn a_changed_power_in_the_header_coder_fails_even_with_its_crc_fixed() {
        for salted in [false, true] {
            let (mut archive, key) = seal(salted);
            let (at, _) = header_aes_properties(&archive);
            assert_eq!(archive[at] & 0x3F, 3);
            for power in [2u8, 4, 19, RAW_KEY_POWER] {
                let mut changed = archive.clone();
                changed[at] = (changed[at] & 0xC0) | power;
                fix_crcs(&mut changed);
                assert!(
                    matches!(open(&changed, &key), Err(Error::VerifyMismatch)),
                    "power {power}, salted {salted}"
                );
            }
            // The unchanged archive, with the CRCs recomputed the same way, still opens.
            fix_crcs(&mut archive);
            open(&archive, &key).unwrap();
        }
    }

    #[test]
    fn a_changed_salt_in_the_header_coder_fails_even_with_its_crc_fixed() {
        let (archive, key) = seal(true);
        let (at, len) = header_aes_properties(&archive);
        assert_eq!(len, 2 + 16 + 16);
        for index in [0usize, 7, 15] {
            let mut changed = archive.clone();
            changed[at + 2 + index] ^= 0x01;
            fix_crcs(&mut changed);
            assert!(matches!(open(&changed, &key), Err(Error::VerifyMismatch)));
        }
        // A salt where the key has none (salt size nibble and presence bit set).
        let (archive, key) = seal(false);
        let (at, _) = header_aes_properties(&archive);
        let mut changed = archive.clone();
        changed[at] |= 0x80;
        fix_crcs(&mut changed);
        assert!(open(&changed, &key).is_err());
    }

    #[test]
    fn a_key_recorded_with_other_parameters_is_refused() {
        // The same AES key bytes, but recorded as derived with another power or salt: the
        // archive's declared parameters no longer match it, in either coder.
        let (archive, key) = seal(true);
        assert!(matches!(
            open(&archive, &key.with_recorded_power(4)),
            Err(Error::VerifyMismatch)
        ));
        assert!(matches!(
            open(&archive, &key.with_recorded_salt(vec![9; 16])),
            Err(Error::VerifyMismatch)
        ));
        assert!(matches!(
            open(&archive, &key.with_recorded_salt(Vec::new())),
            Err(Error::VerifyMismatch)
        ));
    }

    #[test]
    fn a_changed_content_coder_power_inside_the_encrypted_header_fails() {
        // Seal with a writer hook that records another power in the content coder only:
        // the header decrypts, but its content coder no longer declares the key's power.
        let key = ArchiveKey::derive("pw", 3, false).unwrap();
        let archive = super::super::seal::seal_with_content_power_for_tests(
            &entries(),
            &key,
            SystemTime::UNIX_EPOCH,
            4,
        )
        .unwrap();
        assert!(matches!(open(&archive, &key), Err(Error::VerifyMismatch)));
    }

    #[test]
    fn another_key_fails() {
        let (archive, _) = seal(false);
        let other = ArchiveKey::derive("other", 3, false).unwrap();
        assert!(open(&archive, &other).is_err());
    }

    #[test]
    fn any_flipped_byte_fails() {
        let (archive, key) = seal(false);
        for index in 0..archive.len() {
            let mut changed = archive.clone();
            changed[index] ^= 0x20;
            let result = open(&changed, &key);
            if let Ok(opened) = result {
                // A flip that still opens must not change what comes out (e.g. the format
                // version's minor byte, which no reader checks).
                let expected = entries();
                assert!(
                    opened.len() == expected.len()
                        && opened
                            .iter()
                            .zip(&expected)
                            .all(|(a, b)| a.name() == b.name() && a.data() == b.data()),
                    "byte {index} changed the contents"
                );
            }
        }
    }
}
