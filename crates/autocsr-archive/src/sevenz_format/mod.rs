//! 7z with AES-256 (SHA-256 key derivation, 2^19 rounds) and encrypted headers: sealed by
//! our own writer, opened with `sevenz-rust2` under [`crate::Limits`].
//!
//! - `key`: 7-Zip's key derivation and AES-256-CBC.
//! - `seal`: the writer.
//! - `open`: the reader's guards around sevenz-rust2.
//! - `verify`: re-opening an archive just sealed with the sealing key, not the password
//!   (one key derivation per sealed and verified archive, not two).
//! - `number`, `wiped_buffer`: the format's variable-length integer; a byte sink that
//!   leaves no copies.

mod key;
mod number;
mod open;
mod seal;
mod verify;
mod wiped_buffer;

pub(crate) use key::ArchiveKey;
pub(crate) use open::open;
pub(crate) use seal::{seal, seal_with_key};
pub(crate) use verify::open_with_sealing_key;

/// The magic bytes every 7z archive starts with.
pub(crate) const SIGNATURE: [u8; 6] = *b"7z\xBC\xAF\x27\x1C";
/// Bytes before the first packed stream: magic, version, start-header CRC, and the next
/// header's offset, size and CRC.
const SIGNATURE_HEADER_SIZE: u64 = 32;

/// 7zAES: AES-256-CBC with 7-Zip's SHA-256 key derivation.
const AES_METHOD_ID: &[u8] = &[0x06, 0xF1, 0x07, 0x01];
const LZMA_METHOD_ID: &[u8] = &[0x03, 0x01, 0x01];
const LZMA2_METHOD_ID: &[u8] = &[0x21];

// Property ids (7zFormat.txt), for the writer and the opener's header pre-check.
const K_END: u8 = 0x00;
const K_HEADER: u8 = 0x01;
const K_MAIN_STREAMS_INFO: u8 = 0x04;
const K_FILES_INFO: u8 = 0x05;
const K_PACK_INFO: u8 = 0x06;
const K_UNPACK_INFO: u8 = 0x07;
const K_SUBSTREAMS_INFO: u8 = 0x08;
const K_SIZE: u8 = 0x09;
const K_CRC: u8 = 0x0A;
const K_FOLDER: u8 = 0x0B;
const K_CODERS_UNPACK_SIZE: u8 = 0x0C;
const K_NUM_UNPACK_STREAM: u8 = 0x0D;
const K_EMPTY_STREAM: u8 = 0x0E;
const K_EMPTY_FILE: u8 = 0x0F;
const K_NAME: u8 = 0x11;
const K_M_TIME: u8 = 0x14;
const K_WIN_ATTRIBUTES: u8 = 0x15;
/// The next header is packed (compressed, here also encrypted) rather than plain.
const K_ENCODED_HEADER: u8 = 0x17;

/// Windows attribute bits; 7-Zip carries a Unix mode in the high 16 bits, flagged by
/// `FILE_ATTRIBUTE_UNIX_EXTENSION`.
const FILE_ATTRIBUTE_DEVICE: u32 = 0x40;
const FILE_ATTRIBUTE_ARCHIVE: u32 = 0x20;
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
const FILE_ATTRIBUTE_UNIX_EXTENSION: u32 = 0x8000;
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
