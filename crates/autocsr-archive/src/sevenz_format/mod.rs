//! 7z with AES-256 (SHA-256 key derivation, 2^19 rounds) and encrypted headers: sealed by
//! our own writer, opened with `sevenz-rust2` under [`crate::Limits`].
//!
//! - `key`: 7-Zip's key derivation and AES-256-CBC.
//! - `seal`: the writer.
//! - `open`: the reader's guards around sevenz-rust2.
//! - `number`, `wiped_buffer`: the format's variable-length integer; a byte sink that
//!   leaves no copies.

mod key;
mod number;
mod open;
mod seal;
mod wiped_buffer;

pub(crate) use open::open;
pub(crate) use seal::seal;

/// Bytes before the first packed stream: magic, version, start-header CRC, and the next
/// header's offset, size and CRC.
const SIGNATURE_HEADER_SIZE: u64 = 32;
/// The next header is packed (compressed, here also encrypted) rather than plain.
const K_ENCODED_HEADER: u8 = 0x17;
/// 7zAES: AES-256-CBC with 7-Zip's SHA-256 key derivation.
const AES_METHOD_ID: &[u8] = &[0x06, 0xF1, 0x07, 0x01];

/// Windows attribute bits; 7-Zip carries a Unix mode in the high 16 bits, flagged by
/// `FILE_ATTRIBUTE_UNIX_EXTENSION`.
const FILE_ATTRIBUTE_ARCHIVE: u32 = 0x20;
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
const FILE_ATTRIBUTE_UNIX_EXTENSION: u32 = 0x8000;
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
