//! Opening 7z archives (ours, 7-Zip's, anyone's) with `sevenz-rust2`, under [`Limits`].

use std::collections::HashMap;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

use sevenz_rust2::{Archive, ArchiveEntry, BlockDecoder, Password};
use zeroize::Zeroizing;

use super::number::read_number;
use super::{
    AES_METHOD_ID, FILE_ATTRIBUTE_DEVICE, FILE_ATTRIBUTE_REPARSE_POINT,
    FILE_ATTRIBUTE_UNIX_EXTENSION, K_CODERS_UNPACK_SIZE, K_CRC, K_ENCODED_HEADER, K_END, K_FOLDER,
    K_PACK_INFO, K_SIZE, K_UNPACK_INFO, S_IFDIR, S_IFMT, S_IFREG, SIGNATURE_HEADER_SIZE,
};
use crate::entry::{Entry, check_unique, validate_name};
use crate::error::{Error, LimitKind};
use crate::options::Limits;
use crate::read_util::{add_to_total, check_ratio, decoder_io_error, read_exactly_declared};

/// sevenz-rust2 keeps the last derived AES key (and a SHA-256 of salt and password) in a
/// process-wide cache. Opening a tiny archive of our own, sealed with one key-derivation
/// round under a throw-away password, replaces that entry, so the key of the archive just
/// opened does not outlive the call.
fn forget_cached_key() {
    static DECOY: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    let decoy = DECOY.get_or_init(|| {
        let entry = Entry::new("decoy", Vec::new()).ok()?;
        super::seal(&[entry], "decoy", UNIX_EPOCH, 0, false).ok()
    });
    if let Some(decoy) = decoy {
        let _ = Archive::read(&mut Cursor::new(decoy), &Password::new("decoy"));
    }
}

/// Maps sevenz-rust2's errors without passing on its messages (they can quote names).
fn map_error(error: sevenz_rust2::Error) -> Error {
    use sevenz_rust2::Error as E;
    match error {
        E::MaybeBadPassword(_) | E::PasswordRequired => Error::WrongPassword,
        E::UnsupportedCompressionMethod(_)
        | E::Unsupported(_)
        | E::UnsupportedVersion { .. }
        | E::ExternalUnsupported => Error::UnsupportedMethod,
        E::MaxMemLimited { max_kb, .. } => Error::LimitExceeded {
            what: LimitKind::Memory,
            limit: u64::try_from(max_kb)
                .unwrap_or(u64::MAX)
                .saturating_mul(1024),
        },
        E::Io(io, _) | E::FileOpen(io, _) => map_io(io),
        _ => Error::Corrupt,
    }
}

fn map_io(io: std::io::Error) -> Error {
    if io.kind() == std::io::ErrorKind::UnexpectedEof {
        return Error::Truncated;
    }
    // sevenz-rust2 wraps its own errors (CRC, bad password) in io::Error::other.
    if let Some(inner) = io
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<sevenz_rust2::Error>())
    {
        return match inner {
            sevenz_rust2::Error::ChecksumVerificationFailed => Error::Corrupt,
            sevenz_rust2::Error::MaybeBadPassword(_) => Error::WrongPassword,
            _ => Error::Corrupt,
        };
    }
    decoder_io_error(io)
}

/// Decoder memory budget handed to sevenz-rust2 (header buffer and LZMA dictionaries):
/// the total-size limit, but at least 16 MiB because sevenz-rust2 itself compresses
/// headers with an 8 MiB LZMA dictionary.
fn memory_limit_kb(limits: &Limits) -> usize {
    let bytes = limits.max_total_size.clamp(16 << 20, 256 << 20);
    usize::try_from(bytes / 1024).unwrap_or(16 << 10)
}

/// Upper bound for the decoded header: room for `max_entries` names of 255 bytes
/// (UTF-16: 512 bytes) plus their times, attributes, sizes and CRCs.
pub(super) fn header_budget(limits: &Limits) -> u64 {
    let entries = u64::try_from(limits.max_entries).unwrap_or(u64::MAX);
    entries.saturating_mul(1024).saturating_add(4096)
}

pub(crate) fn open<R: Read + Seek>(
    mut reader: R,
    password: &str,
    limits: &Limits,
) -> Result<Vec<Entry>, Error> {
    check_header_size(&mut reader, limits)?;
    let memory_kb = memory_limit_kb(limits);

    // Without a password first: this parses a plain header completely, and stops an
    // encrypted one before any key derivation, telling us which kind we have.
    let header_encrypted =
        match Archive::read_with_memory_limit(&mut reader, &Password::empty(), memory_kb) {
            Ok(_) => false,
            Err(sevenz_rust2::Error::PasswordRequired) => true,
            Err(error) => return Err(map_error(error)),
        };
    let password = Password::new(password);
    let result = open_with_password(&mut reader, &password, limits, memory_kb, header_encrypted);
    forget_cached_key();
    result
}

/// Opens an archive whose AES coders are all in 7zAES's raw-key mode with no salt, so
/// that `key` is the AES key itself and nothing is derived (the verifier's copy of an
/// archive just sealed; see `verify`). The header must be plain.
///
/// `Password` is a plain `Vec` inside sevenz-rust2 that we cannot wipe: like the
/// password's UTF-16 copy in [`open`], the key's copy there is left in freed memory.
pub(super) fn open_with_raw_key<R: Read + Seek>(
    mut reader: R,
    key: &[u8; 32],
    limits: &Limits,
) -> Result<Vec<Entry>, Error> {
    check_header_size(&mut reader, limits)?;
    let memory_kb = memory_limit_kb(limits);
    let password = Password::from_raw(key);
    open_with_password(&mut reader, &password, limits, memory_kb, false)
}

fn open_with_password<R: Read + Seek>(
    reader: &mut R,
    password: &Password,
    limits: &Limits,
    memory_kb: usize,
    header_encrypted: bool,
) -> Result<Vec<Entry>, Error> {
    let archive =
        Archive::read_with_memory_limit(reader, password, memory_kb).map_err(map_error)?;

    let max_entries = u64::try_from(limits.max_entries).unwrap_or(u64::MAX);
    if archive.files.len() > limits.max_entries {
        return Err(Error::LimitExceeded {
            what: LimitKind::Entries,
            limit: max_entries,
        });
    }

    let mut total: u64 = 0;
    for file in &archive.files {
        validate_name(&file.name)?;
        if file.is_anti_item {
            return Err(Error::Corrupt);
        }
        let attributes = file.windows_attributes;
        if file.has_windows_attributes {
            let unix_type = (attributes >> 16) & S_IFMT;
            let has_unix = attributes & FILE_ATTRIBUTE_UNIX_EXTENSION != 0;
            if attributes & (FILE_ATTRIBUTE_REPARSE_POINT | FILE_ATTRIBUTE_DEVICE) != 0
                || (has_unix && unix_type != 0 && unix_type != S_IFREG && unix_type != S_IFDIR)
            {
                return Err(Error::NotARegularFile);
            }
        }
        if file.is_directory && file.has_stream {
            return Err(Error::Corrupt);
        }
        add_to_total(&mut total, file.size, limits)?;
    }
    check_unique(archive.files.iter().map(|file| file.name.as_str()))?;

    for block in &archive.blocks {
        let mut aes = block
            .coders
            .iter()
            .filter(|coder| coder.encoder_method_id() == AES_METHOD_ID)
            .peekable();
        if aes.peek().is_none() && limits.require_encryption {
            return Err(Error::NotEncrypted);
        }
        // The content's own key derivation, before any block is decoded (the header's was
        // checked in `check_header_size`; a plain header, or content at another power than
        // the header, would otherwise reach sevenz-rust2's cap of 2^24 rounds).
        if aes.any(|coder| kdf_power(coder.properties()) > limits.max_kdf_power) {
            return Err(Error::LimitExceeded {
                what: LimitKind::KeyDerivation,
                limit: u64::from(limits.max_kdf_power),
            });
        }
    }
    // Ratio per block (entries of a solid block share one compressed stream). With one
    // packed stream per block (everything but BCJ2) block i is packed stream i.
    let pack_sizes = archive.pack_sizes();
    if pack_sizes.len() == archive.blocks.len() {
        for (block, packed) in archive.blocks.iter().zip(pack_sizes) {
            check_ratio(block.get_unpack_size(), *packed, limits)?;
        }
    } else {
        let unpacked: u64 = archive
            .blocks
            .iter()
            .map(|block| block.get_unpack_size())
            .sum();
        let packed: u64 = pack_sizes.iter().sum();
        check_ratio(unpacked, packed, limits)?;
    }

    // Decode block by block; each entry is read up to its declared size only.
    let mut contents: HashMap<String, Zeroizing<Vec<u8>>> = HashMap::new();
    let mut failure: Option<Error> = None;
    for block_index in 0..archive.blocks.len() {
        let decoder = BlockDecoder::new_with_memory_limit(
            1,
            memory_kb,
            block_index,
            &archive,
            password,
            &mut *reader,
        );
        let outcome = decoder.for_each_entries(&mut |entry: &ArchiveEntry, data: &mut dyn Read| {
            if entry.is_directory {
                return Ok(true);
            }
            match read_exactly_declared(data, entry.size, map_io) {
                Ok(bytes) => {
                    contents.insert(entry.name.clone(), bytes);
                    Ok(true)
                }
                Err(error) => {
                    failure = Some(error);
                    Err(sevenz_rust2::Error::Other(
                        "stopped by autocsr-archive".into(),
                    ))
                }
            }
        });
        if let Some(error) = failure.take() {
            return Err(content_error(error, header_encrypted));
        }
        outcome.map_err(|error| content_error(map_error(error), header_encrypted))?;
    }

    let mut entries = Vec::with_capacity(archive.files.len());
    for file in &archive.files {
        if file.is_directory {
            continue;
        }
        let data = if file.has_stream {
            contents.remove(&file.name).ok_or(Error::Corrupt)?
        } else {
            Zeroizing::new(Vec::new())
        };
        let unix_mode = (file.has_windows_attributes
            && file.windows_attributes & FILE_ATTRIBUTE_UNIX_EXTENSION != 0)
            .then_some(file.windows_attributes >> 16);
        entries.push(Entry::from_parts(file.name.clone(), data, unix_mode));
    }
    Ok(entries)
}

/// When the header was encrypted, the password already proved itself by decrypting it
/// (its CRC matched), so a content failure is corruption, not a wrong password. With a
/// plain header the content is the first thing the password decrypts.
fn content_error(error: Error, header_encrypted: bool) -> Error {
    match error {
        Error::WrongPassword if header_encrypted => Error::Corrupt,
        Error::Corrupt if !header_encrypted => Error::WrongPassword,
        other => other,
    }
}

/// Before sevenz-rust2 allocates anything for the header, checks its size against a
/// budget derived from the entry limit: the plain "next header" size, or for an encoded
/// (compressed, encrypted) header the unpack sizes its unencrypted stream info declares.
/// Without this a few hundred bytes of LZMA could declare a 16 MiB header whose file
/// count makes the parser allocate gigabytes.
fn check_header_size<R: Read + Seek>(reader: &mut R, limits: &Limits) -> Result<(), Error> {
    let budget = header_budget(limits);
    let too_big = || Error::LimitExceeded {
        what: LimitKind::HeaderSize,
        limit: budget,
    };
    let len = reader.seek(SeekFrom::End(0))?;
    reader.seek(SeekFrom::Start(0))?;
    let mut start = [0u8; 32];
    reader.read_exact(&mut start).map_err(map_io)?;
    let field = |range: std::ops::Range<usize>| -> u64 {
        let mut buf = [0u8; 8];
        if let (Some(src), Some(dst)) = (start.get(range.clone()), buf.get_mut(..range.len())) {
            dst.copy_from_slice(src);
        }
        u64::from_le_bytes(buf)
    };
    let next_offset = field(12..20);
    let next_size = field(20..28);
    // A zeroed start header is the "unfinished archive" case: let sevenz-rust2 decide.
    if next_offset == 0 && next_size == 0 {
        reader.seek(SeekFrom::Start(0))?;
        return Ok(());
    }
    let position = SIGNATURE_HEADER_SIZE
        .checked_add(next_offset)
        .filter(|pos| pos.checked_add(next_size).is_some_and(|end| end <= len))
        .ok_or(Error::Truncated)?;
    // The encoded header's stream info is small; a plain header must fit the budget.
    let to_read = next_size.min(budget.saturating_add(1));
    reader.seek(SeekFrom::Start(position))?;
    let mut header = vec![0u8; usize::try_from(to_read).map_err(|_| too_big())?];
    reader.read_exact(&mut header).map_err(map_io)?;
    reader.seek(SeekFrom::Start(0))?;
    match header.split_first() {
        Some((&K_ENCODED_HEADER, mut rest)) => {
            // Skip the pack info and coder descriptions; the NUMBERs after the
            // kCodersUnpackSize marker (0x0C) are the unpack sizes, one per coder output.
            let Some((marker, count, kdf_power)) = find_unpack_sizes(rest) else {
                return Err(Error::Corrupt);
            };
            if kdf_power > limits.max_kdf_power {
                return Err(Error::LimitExceeded {
                    what: LimitKind::KeyDerivation,
                    limit: u64::from(limits.max_kdf_power),
                });
            }
            rest = rest.get(marker..).unwrap_or_default();
            for _ in 0..count {
                let size = read_number(&mut rest).ok_or(Error::Corrupt)?;
                if size > budget {
                    return Err(too_big());
                }
            }
            Ok(())
        }
        _ if next_size > budget => Err(too_big()),
        _ => Ok(()),
    }
}

/// The key-derivation power (2^power SHA-256 rounds) in 7zAES coder properties: the low
/// six bits of the first byte. 0x3F is the "raw key" mode, which derives nothing (0).
fn kdf_power(properties: &[u8]) -> u8 {
    match properties.first().map(|first| first & 0x3F) {
        Some(0x3F) | None => 0,
        Some(power) => power,
    }
}

/// Walks StreamsInfo (PackInfo, then UnpackInfo with its folders) far enough to find the
/// offset just after the kCodersUnpackSize marker, how many sizes follow it, and the
/// largest AES key-derivation power among the coders (0 without AES).
fn find_unpack_sizes(header: &[u8]) -> Option<(usize, u64, u8)> {
    let total = header.len();
    let mut rest = header;
    let mut nid = *rest.first()?;
    rest = rest.get(1..)?;
    if nid == K_PACK_INFO {
        // PackInfo: packPos, numPackStreams, [kSize sizes], [kCRC ...], kEnd.
        read_number(&mut rest)?;
        let streams = read_number(&mut rest)?;
        loop {
            let id = *rest.first()?;
            rest = rest.get(1..)?;
            match id {
                K_END => break,
                K_SIZE => {
                    for _ in 0..streams.min(1024) {
                        read_number(&mut rest)?;
                    }
                }
                K_CRC => {
                    // kCRC: allAreDefined, else a bit vector; then one u32 per defined CRC.
                    let all_defined = *rest.first()?;
                    rest = rest.get(1..)?;
                    let count = usize::try_from(streams.min(1024)).ok()?;
                    let defined = if all_defined == 0 {
                        let vector = rest.get(..count.div_ceil(8))?;
                        rest = rest.get(count.div_ceil(8)..)?;
                        vector.iter().map(|byte| byte.count_ones() as usize).sum()
                    } else {
                        count
                    };
                    rest = rest.get(defined.checked_mul(4)?..)?;
                }
                _ => return None,
            }
        }
        nid = *rest.first()?;
        rest = rest.get(1..)?;
    }
    if nid != K_UNPACK_INFO || *rest.first()? != K_FOLDER {
        return None;
    }
    rest = rest.get(1..)?;
    let folders = read_number(&mut rest)?;
    if *rest.first()? != 0 {
        return None; // "external" folders are not used by real archives
    }
    rest = rest.get(1..)?;
    let mut sizes: u64 = 0;
    let mut kdf_power = 0u8;
    for _ in 0..folders.min(64) {
        let coders = read_number(&mut rest)?;
        let mut out_streams: u64 = 0;
        let mut in_streams: u64 = 0;
        for _ in 0..coders.min(64) {
            let flags = *rest.first()?;
            rest = rest.get(1..)?;
            let id_size = usize::from(flags & 0x0F);
            rest = rest.get(id_size..)?;
            if flags & 0x10 != 0 {
                in_streams = in_streams.checked_add(read_number(&mut rest)?)?;
                out_streams = out_streams.checked_add(read_number(&mut rest)?)?;
            } else {
                in_streams = in_streams.checked_add(1)?;
                out_streams = out_streams.checked_add(1)?;
            }
            let id = header.get(total - rest.len() - id_size..total - rest.len())?;
            if flags & 0x20 != 0 {
                let props = usize::try_from(read_number(&mut rest)?).ok()?;
                if id == AES_METHOD_ID {
                    kdf_power = kdf_power.max(self::kdf_power(rest.get(..props).unwrap_or(rest)));
                }
                rest = rest.get(props..)?;
            }
        }
        sizes = sizes.checked_add(out_streams)?;
        let bind_pairs = out_streams.checked_sub(1)?;
        for _ in 0..bind_pairs.min(64) {
            read_number(&mut rest)?;
            read_number(&mut rest)?;
        }
        let packed = in_streams.checked_sub(bind_pairs)?;
        if packed > 1 {
            for _ in 0..packed.min(64) {
                read_number(&mut rest)?;
            }
        }
    }
    if *rest.first()? != K_CODERS_UNPACK_SIZE {
        return None;
    }
    Some((total - rest.len() + 1, sizes.min(4096), kdf_power))
}
