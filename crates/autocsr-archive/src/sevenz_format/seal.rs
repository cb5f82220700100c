//! Our 7z writer. It writes one layout, with the same parts as `7zz a -t7z -mhe=on -p`:
//!
//! ```text
//! signature header (32 bytes: magic, version, CRCs, where the next header is)
//! packed stream 0: the entries, concatenated  → LZMA2 → AES-256-CBC   (absent if all empty)
//! packed stream 1: the header                 → LZMA  → AES-256-CBC
//! next header: kEncodedHeader, saying how to decode packed stream 1
//! ```
//!
//! Field names and ids are those of 7-Zip's `DOC/7zFormat.txt`. We write it ourselves
//! rather than through sevenz-rust2 (which we still use to open archives) because its
//! writer derives the key in a slower loop (about 1.3× 7-Zip's sealing time), reuses the
//! content stream's IV for the header, keeps the key in a process-wide cache, and
//! compresses the header with a fixed 8 MiB dictionary.

use std::io::Write as _;
use std::time::SystemTime;

use lzma_rust2::{Lzma2Options, Lzma2Writer, LzmaOptions, LzmaWriter};

use super::key::ArchiveKey;
use super::number::write_number;
use super::wiped_buffer::WipedBuffer;
use super::{
    AES_METHOD_ID, FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_UNIX_EXTENSION, K_CODERS_UNPACK_SIZE,
    K_CRC, K_EMPTY_FILE, K_EMPTY_STREAM, K_ENCODED_HEADER, K_END, K_FILES_INFO, K_FOLDER, K_HEADER,
    K_M_TIME, K_MAIN_STREAMS_INFO, K_NAME, K_NUM_UNPACK_STREAM, K_PACK_INFO, K_SIZE,
    K_SUBSTREAMS_INFO, K_UNPACK_INFO, K_WIN_ATTRIBUTES, LZMA_METHOD_ID, LZMA2_METHOD_ID, S_IFREG,
    SIGNATURE, SIGNATURE_HEADER_SIZE,
};
use crate::entry::{DEFAULT_MODE, Entry};
use crate::error::Error;
use crate::time::windows_filetime;

/// Format version 0.4, what 7-Zip writes.
const FORMAT_VERSION: [u8; 2] = [0, 4];

/// LZMA's smallest dictionary (4 KiB) and the largest we size to (64 MiB).
const MIN_DICTIONARY: u32 = 4096;
const MAX_DICTIONARY: u32 = 1 << 26;

/// lzma-rust2's preset 6 (xz's default level: BT4 match finder, nice length 64), with the
/// dictionary replaced by one sized to the data.
const LZMA_PRESET: u32 = 6;

/// A dictionary sized to the data: the next power of two at or above it, between 4 KiB and
/// 64 MiB. A dictionary larger than the data buys nothing and costs allocation and
/// page-fault time (8 MiB, the usual default, cost ~23 ms of system time for 3 KB).
fn dictionary_size(data_len: usize) -> u32 {
    u32::try_from(data_len)
        .unwrap_or(u32::MAX)
        .max(MIN_DICTIONARY)
        .checked_next_power_of_two()
        .unwrap_or(MAX_DICTIONARY)
        .min(MAX_DICTIONARY)
}

/// The one-byte LZMA2 property encoding a dictionary of `2^n` or `3·2^n` bytes (the sizes
/// `dictionary_size` returns are powers of two, which this encodes exactly).
fn lzma2_dictionary_property(dictionary: u32) -> u8 {
    let dictionary = dictionary.max(MIN_DICTIONARY);
    // Property p stands for (2 | (p & 1)) << (p / 2 + 11).
    (0u8..40)
        .find(|&property| {
            let size = (2u64 | u64::from(property & 1)) << (property / 2 + 11);
            size >= u64::from(dictionary)
        })
        .unwrap_or(40)
}

/// One coder in a folder: its method id and properties.
struct Coder {
    id: &'static [u8],
    properties: Vec<u8>,
}

/// An encrypted folder: the packed (encrypted) bytes, and what the header must say to
/// decode them, AES first and the compressor second.
struct SealedFolder {
    packed: WipedBuffer,
    aes: Coder,
    compressor: Coder,
    /// AES's output: the compressed stream, before padding.
    compressed_len: u64,
    /// The compressor's output: the folder's data.
    unpacked_len: u64,
}

impl SealedFolder {
    /// Encrypts `compressed` under `key` with a fresh IV.
    fn encrypt(
        key: &ArchiveKey,
        mut compressed: WipedBuffer,
        compressor: Coder,
        unpacked_len: usize,
    ) -> Result<SealedFolder, Error> {
        let compressed_len = compressed.len();
        let aes_properties = key.encrypt(&mut compressed)?;
        Ok(SealedFolder {
            packed: compressed,
            aes: Coder {
                id: AES_METHOD_ID,
                properties: aes_properties,
            },
            compressor,
            compressed_len: as_u64(compressed_len),
            unpacked_len: as_u64(unpacked_len),
        })
    }

    /// The folder record: two coders, and one bind pair feeding AES's output (out stream 0)
    /// to the compressor's input (in stream 1). The one unbound input, AES's, is the
    /// packed stream.
    fn write_folder(&self, out: &mut Vec<u8>) {
        write_number(out, 2);
        for coder in [&self.aes, &self.compressor] {
            // Low nibble: id length; 0x20: properties follow; simple coder (1 in, 1 out).
            out.push(0x20 | u8::try_from(coder.id.len()).unwrap_or(0x0F));
            out.extend_from_slice(coder.id);
            write_number(out, as_u64(coder.properties.len()));
            out.extend_from_slice(&coder.properties);
        }
        write_number(out, 1);
        write_number(out, 0);
    }

    /// PackInfo and UnpackInfo for this folder as the only one, its packed stream at
    /// `pack_position` (counted from the end of the signature header).
    fn write_streams(&self, out: &mut Vec<u8>, pack_position: u64, folder_crc: Option<u32>) {
        out.push(K_PACK_INFO);
        write_number(out, pack_position);
        write_number(out, 1);
        out.push(K_SIZE);
        write_number(out, as_u64(self.packed.len()));
        out.push(K_END);

        out.push(K_UNPACK_INFO);
        out.push(K_FOLDER);
        write_number(out, 1);
        out.push(0); // not "external"
        self.write_folder(out);
        out.push(K_CODERS_UNPACK_SIZE);
        write_number(out, self.compressed_len);
        write_number(out, self.unpacked_len);
        if let Some(crc) = folder_crc {
            out.push(K_CRC);
            out.push(1); // all defined
            out.extend_from_slice(&crc.to_le_bytes());
        }
        out.push(K_END);
    }
}

fn as_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// The Windows attributes stored for an entry: 7-Zip's convention of the Unix mode in the
/// high 16 bits, flagged by 0x8000; a regular file, with [`DEFAULT_MODE`] when the entry
/// has no mode, as the zip writer does.
fn file_attributes(entry: &Entry) -> u32 {
    let mode = entry.unix_mode().unwrap_or(DEFAULT_MODE) & 0o777;
    FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_UNIX_EXTENSION | ((S_IFREG | mode) << 16)
}

/// Seals `entries` (names already validated and unique) into a 7z archive, with a fresh
/// random salt for the key unless `salted` is false.
pub(crate) fn seal(
    entries: &[Entry],
    password: &str,
    modified: SystemTime,
    kdf_power: u8,
    salted: bool,
) -> Result<Vec<u8>, Error> {
    let key = ArchiveKey::derive(password, kdf_power, salted)?;
    seal_with_key(entries, &key, modified)
}

/// [`seal`] under a key already derived (so the caller can keep it to verify with).
pub(crate) fn seal_with_key(
    entries: &[Entry],
    key: &ArchiveKey,
    modified: SystemTime,
) -> Result<Vec<u8>, Error> {
    let attributes: Vec<u32> = entries.iter().map(file_attributes).collect();
    seal_with_attributes(entries, &attributes, key, modified, None)
}

/// Like [`seal_with_key`], but the content coder records `content_power` instead of the
/// key's power: an archive whose encrypted header lies about the content's key derivation
/// (tests of the verifier).
#[cfg(test)]
pub(super) fn seal_with_content_power_for_tests(
    entries: &[Entry],
    key: &ArchiveKey,
    modified: SystemTime,
    content_power: u8,
) -> Result<Vec<u8>, Error> {
    let attributes: Vec<u32> = entries.iter().map(file_attributes).collect();
    seal_with_attributes(entries, &attributes, key, modified, Some(content_power))
}

/// [`seal_with_key`] with each entry's Windows attributes given (tests store other file
/// types), and, for tests only, another power recorded for the content coder.
fn seal_with_attributes(
    entries: &[Entry],
    attributes: &[u32],
    key: &ArchiveKey,
    modified: SystemTime,
    content_power: Option<u8>,
) -> Result<Vec<u8>, Error> {
    // Entries with data, in order, form one solid LZMA2 stream; empty ones have no stream.
    let with_data: Vec<&Entry> = entries
        .iter()
        .filter(|entry| !entry.data().is_empty())
        .collect();
    let content = if with_data.is_empty() {
        None
    } else {
        let payload: usize = with_data.iter().map(|entry| entry.data().len()).sum();
        let dictionary = dictionary_size(payload);
        let mut options = Lzma2Options::with_preset(LZMA_PRESET);
        options.lzma_options.dict_size = dictionary;
        // LZMA2 never expands much: stored chunks cost 3 bytes per 64 KiB, plus the end byte.
        let bound = payload + payload / 1024 + 64;
        let mut compressor = Lzma2Writer::new(WipedBuffer::with_capacity(bound), options);
        for entry in &with_data {
            compressor.write_all(entry.data())?;
        }
        let compressed = compressor.finish()?;
        let lzma2 = Coder {
            id: LZMA2_METHOD_ID,
            properties: vec![lzma2_dictionary_property(dictionary)],
        };
        let mut folder = SealedFolder::encrypt(key, compressed, lzma2, payload)?;
        if let (Some(power), Some(first)) = (content_power, folder.aes.properties.first_mut()) {
            *first = (*first & 0xC0) | (power & 0x3F);
        }
        Some(folder)
    };
    let content_len = content
        .as_ref()
        .map_or(0, |folder| as_u64(folder.packed.len()));

    let header = plain_header(entries, attributes, &with_data, content.as_ref(), modified);
    let header_folder = {
        let dictionary = dictionary_size(header.len());
        let mut options = LzmaOptions::with_preset(LZMA_PRESET);
        options.dict_size = dictionary;
        let mut compressor = LzmaWriter::new_no_header(
            WipedBuffer::with_capacity(header.len() + 64),
            &options,
            false,
        )?;
        compressor.write_all(&header)?;
        let compressed = compressor.finish()?;
        let mut properties = vec![options.get_props()];
        properties.extend_from_slice(&dictionary.to_le_bytes());
        let lzma = Coder {
            id: LZMA_METHOD_ID,
            properties,
        };
        SealedFolder::encrypt(key, compressed, lzma, header.len())?
    };

    // The next header: how to decode packed stream 1 into the header, with its CRC.
    let mut encoded_header = Vec::with_capacity(128);
    encoded_header.push(K_ENCODED_HEADER);
    header_folder.write_streams(
        &mut encoded_header,
        content_len,
        Some(crc32fast::hash(&header)),
    );
    encoded_header.push(K_END);

    let packed_len = content_len + as_u64(header_folder.packed.len());
    let mut start_header = Vec::with_capacity(20);
    start_header.extend_from_slice(&packed_len.to_le_bytes());
    start_header.extend_from_slice(&as_u64(encoded_header.len()).to_le_bytes());
    start_header.extend_from_slice(&crc32fast::hash(&encoded_header).to_le_bytes());

    let total = SIGNATURE_HEADER_SIZE + packed_len + as_u64(encoded_header.len());
    let mut archive = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    archive.extend_from_slice(&SIGNATURE);
    archive.extend_from_slice(&FORMAT_VERSION);
    archive.extend_from_slice(&crc32fast::hash(&start_header).to_le_bytes());
    archive.extend_from_slice(&start_header);
    if let Some(content) = &content {
        archive.extend_from_slice(content.packed.as_slice());
    }
    archive.extend_from_slice(header_folder.packed.as_slice());
    archive.extend_from_slice(&encoded_header);
    Ok(archive)
}

/// The header before compression and encryption: the content folder and the files.
fn plain_header(
    entries: &[Entry],
    attributes: &[u32],
    with_data: &[&Entry],
    content: Option<&SealedFolder>,
    modified: SystemTime,
) -> Vec<u8> {
    let names_len: usize = entries
        .iter()
        .map(|entry| 2 * entry.name().encode_utf16().count() + 2)
        .sum();
    let mut out = Vec::with_capacity(256 + names_len + 16 * entries.len());
    out.push(K_HEADER);

    if let Some(content) = content {
        out.push(K_MAIN_STREAMS_INFO);
        content.write_streams(&mut out, 0, None);
        // One substream per entry with data: all sizes but the last (which is implied),
        // and every CRC.
        out.push(K_SUBSTREAMS_INFO);
        if with_data.len() != 1 {
            out.push(K_NUM_UNPACK_STREAM);
            write_number(&mut out, as_u64(with_data.len()));
        }
        if let Some((_, all_but_last)) = with_data.split_last()
            && !all_but_last.is_empty()
        {
            out.push(K_SIZE);
            for entry in all_but_last {
                write_number(&mut out, as_u64(entry.data().len()));
            }
        }
        out.push(K_CRC);
        out.push(1); // all defined
        for entry in with_data {
            out.extend_from_slice(&crc32fast::hash(entry.data()).to_le_bytes());
        }
        out.push(K_END);
        out.push(K_END);
    }

    out.push(K_FILES_INFO);
    write_number(&mut out, as_u64(entries.len()));
    let empty: Vec<bool> = entries
        .iter()
        .map(|entry| entry.data().is_empty())
        .collect();
    let empty_count = empty.iter().filter(|&&is_empty| is_empty).count();
    if empty_count > 0 {
        write_property(&mut out, K_EMPTY_STREAM, &bit_vector(&empty));
        // Every entry without a stream is an empty file (we write no directories).
        write_property(
            &mut out,
            K_EMPTY_FILE,
            &bit_vector(&vec![true; empty_count]),
        );
    }

    let mut names = Vec::with_capacity(1 + names_len);
    names.push(0); // not "external"
    for entry in entries {
        names.extend(entry.name().encode_utf16().flat_map(u16::to_le_bytes));
        names.extend_from_slice(&[0, 0]);
    }
    write_property(&mut out, K_NAME, &names);

    let time = windows_filetime(modified).to_le_bytes();
    let mut times = vec![1, 0]; // all defined, not "external"
    for _ in entries {
        times.extend_from_slice(&time);
    }
    write_property(&mut out, K_M_TIME, &times);

    let mut attribute_bytes = vec![1, 0]; // all defined, not "external"
    for attribute in attributes {
        attribute_bytes.extend_from_slice(&attribute.to_le_bytes());
    }
    write_property(&mut out, K_WIN_ATTRIBUTES, &attribute_bytes);

    out.push(K_END);
    out.push(K_END);
    out
}

fn write_property(out: &mut Vec<u8>, id: u8, body: &[u8]) {
    out.push(id);
    write_number(out, as_u64(body.len()));
    out.extend_from_slice(body);
}

/// A 7z bit vector: item 0 is the high bit of the first byte.
fn bit_vector(bits: &[bool]) -> Vec<u8> {
    let mut bytes = vec![0u8; bits.len().div_ceil(8)];
    for (index, &bit) in bits.iter().enumerate() {
        if let (true, Some(byte)) = (bit, bytes.get_mut(index / 8)) {
            *byte |= 0x80 >> (index % 8);
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_is_sized_to_the_data() {
        assert_eq!(dictionary_size(0), 4096);
        assert_eq!(dictionary_size(3000), 4096);
        assert_eq!(dictionary_size(5000), 8192);
        assert_eq!(dictionary_size(1 << 20), 1 << 20);
        assert_eq!(dictionary_size(usize::MAX), 1 << 26);
    }

    #[test]
    fn lzma2_dictionary_properties() {
        // xz's table: 0 → 4 KiB, 1 → 6 KiB, 2 → 8 KiB, 18 → 2 MiB, 28 → 64 MiB.
        assert_eq!(lzma2_dictionary_property(4096), 0);
        assert_eq!(lzma2_dictionary_property(6144), 1);
        assert_eq!(lzma2_dictionary_property(8192), 2);
        assert_eq!(lzma2_dictionary_property(2 << 20), 18);
        assert_eq!(lzma2_dictionary_property(1 << 26), 28);
        assert_eq!(lzma2_dictionary_property(1), 0);
    }

    #[test]
    fn bit_vectors_start_at_the_high_bit() {
        assert_eq!(bit_vector(&[true]), [0x80]);
        assert_eq!(
            bit_vector(&[false, true, false, false, false, false, false, false, true]),
            [0x40, 0x80]
        );
        assert!(bit_vector(&[]).is_empty());
    }

    /// The AES properties (power byte, IV-size byte, IV) of the content folder, read back by
    /// sevenz-rust2, and of the header folder, read from the plain next header.
    fn content_and_header_aes_properties(archive: &[u8], password: &str) -> (Vec<u8>, Vec<u8>) {
        let read = sevenz_rust2::Archive::read(
            &mut std::io::Cursor::new(archive),
            &sevenz_rust2::Password::new(password),
        )
        .unwrap();
        let content = read.blocks[0]
            .coders
            .iter()
            .find(|coder| coder.encoder_method_id() == AES_METHOD_ID)
            .unwrap()
            .properties()
            .to_vec();
        let next_header_size = u64::from_le_bytes(archive[20..28].try_into().unwrap());
        let next_header = &archive[archive.len() - usize::try_from(next_header_size).unwrap()..];
        let at = next_header
            .windows(AES_METHOD_ID.len())
            .position(|window| window == AES_METHOD_ID)
            .unwrap()
            + AES_METHOD_ID.len();
        let length = usize::from(next_header[at]);
        (content, next_header[at + 1..at + 1 + length].to_vec())
    }

    #[test]
    fn header_and_content_share_the_key_but_not_the_iv() {
        let entries = [Entry::new("a.txt", b"some content".to_vec()).unwrap()];
        let archive = seal(&entries, "password", SystemTime::UNIX_EPOCH, 3, false).unwrap();
        let (content, header) = content_and_header_aes_properties(&archive, "password");
        assert_eq!(content.len(), 18);
        assert_eq!(content[..2], header[..2], "same power, no salt, 16-byte IV");
        assert_eq!(content[..2], [0x40 | 3, 0x0F]);
        assert_ne!(content[2..], header[2..], "each stream has its own IV");

        let archive = seal(&entries, "password", SystemTime::UNIX_EPOCH, 3, true).unwrap();
        let (content, header) = content_and_header_aes_properties(&archive, "password");
        assert_eq!(content.len(), 2 + 16 + 16);
        assert_eq!(content[..2], [0xC0 | 3, 0xFF], "16-byte salt, 16-byte IV");
        assert_eq!(content[..18], header[..18], "one key: same power and salt");
        assert_ne!(content[18..], header[18..], "each stream has its own IV");
        let again = seal(&entries, "password", SystemTime::UNIX_EPOCH, 3, true).unwrap();
        let (again, _) = content_and_header_aes_properties(&again, "password");
        assert_ne!(content[2..18], again[2..18], "a fresh salt per archive");
    }

    /// 7z archives that store a Unix file type other than a regular file or a directory
    /// (as 7-Zip does for a FIFO: `prw-r--r--`) are refused when opened, before any
    /// content is decoded, and so are Windows reparse points and devices.
    #[test]
    fn non_regular_file_types_are_refused_on_open() {
        let entries = [
            Entry::new("ok.txt", b"fine".to_vec()).unwrap(),
            Entry::new("special", b"x".to_vec()).unwrap(),
        ];
        let unix =
            |mode: u32| FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_UNIX_EXTENSION | (mode << 16);
        let limits = crate::Limits::default();
        for attribute in [
            unix(0o020_644),                // character device
            unix(0o060_644),                // block device
            unix(0o010_644),                // FIFO
            unix(0o140_644),                // socket
            unix(0o120_777),                // symlink
            FILE_ATTRIBUTE_ARCHIVE | 0x400, // reparse point
            FILE_ATTRIBUTE_ARCHIVE | 0x40,  // device
        ] {
            let attributes = [file_attributes(&entries[0]), attribute];
            let key = ArchiveKey::derive("pw", 1, true).unwrap();
            let archive =
                seal_with_attributes(&entries, &attributes, &key, SystemTime::UNIX_EPOCH, None)
                    .unwrap();
            let result = super::super::open(std::io::Cursor::new(&archive), "pw", &limits);
            assert!(
                matches!(result, Err(Error::NotARegularFile)),
                "{attribute:#x}: {result:?}"
            );
        }
        // The same archive with regular-file attributes opens.
        let attributes: Vec<u32> = entries.iter().map(file_attributes).collect();
        let key = ArchiveKey::derive("pw", 1, true).unwrap();
        let archive =
            seal_with_attributes(&entries, &attributes, &key, SystemTime::UNIX_EPOCH, None)
                .unwrap();
        let opened = super::super::open(std::io::Cursor::new(&archive), "pw", &limits).unwrap();
        assert_eq!(opened[1].unix_mode(), Some(0o644));
    }
}
