//! WinZip AES-256 zip: sealing with the `zip` crate, opening under [`Limits`].

use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::time::SystemTime;

use zeroize::Zeroizing;
use zip::result::ZipError;
use zip::write::FileOptions;
use zip::{AesMode, CompressionMethod, DateTime, ZipArchive, ZipReadOptions, ZipWriter};

use crate::entry::{DEFAULT_MODE, Entry, check_unique, validate_name};
use crate::error::{Error, LimitKind, NameProblem};
use crate::options::Limits;
use crate::read_util::{add_to_total, check_ratio, decoder_io_error, read_exactly_declared};
use crate::time::{civil_utc, unix_seconds};

/// Zip entries larger than this would need Zip64, which some clients handle badly.
const MAX_ENTRY_SIZE: usize = u32::MAX as usize - 1;

/// End-of-central-directory record: signature and the smallest record size.
const EOCD_SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
const EOCD_MIN_LEN: usize = 22;
const EOCD_MAX_SEARCH: u64 = EOCD_MIN_LEN as u64 + u16::MAX as u64;

/// Local and central file header signatures, and their fixed lengths before the name.
const LOCAL_SIGNATURE: [u8; 4] = *b"PK\x03\x04";
const LOCAL_HEADER_LEN: usize = 30;
const CENTRAL_SIGNATURE: [u8; 4] = *b"PK\x01\x02";
const CENTRAL_HEADER_LEN: usize = 46;
/// General-purpose flag bit 3: sizes and CRC follow the data in a data descriptor.
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
/// The compression method WinZip AES entries declare (the real one is in the extra field).
const METHOD_AES: u16 = 99;
/// The WinZip AES extra field: its id, its data length (vendor version, vendor id `AE`,
/// key strength, real method), and the vendor version that leaves the CRC out.
const AES_EXTRA_ID: u16 = 0x9901;
const AES_EXTRA_DATA_LEN: usize = 7;
const AE_2: u16 = 2;
/// The zip format's 16- and 32-bit "see Zip64" markers.
const ZIP64_U16: u16 = u16::MAX;
const ZIP64_U32: u32 = u32::MAX;

/// Unix file type bits, as zip external attributes carry them (high 16 bits).
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;

fn dos_time(time: SystemTime) -> DateTime {
    let (year, month, day, hour, minute, second) = civil_utc(unix_seconds(time));
    // DOS dates cover 1980..=2107; clamp rather than fail.
    let clamped = u16::try_from(year.clamp(1980, 2107)).unwrap_or(1980);
    let (month, day, hour, minute, second) = if year < 1980 {
        (1, 1, 0, 0, 0)
    } else if year > 2107 {
        (12, 31, 23, 59, 58)
    } else {
        (month, day, hour, minute, second)
    };
    DateTime::from_date_and_time(clamped, month, day, hour, minute, second).unwrap_or_default()
}

pub(crate) fn seal(
    entries: &[Entry],
    password: &[u8],
    modified: SystemTime,
) -> Result<Vec<u8>, Error> {
    let mtime = dos_time(modified);
    let unix_mtime = u32::try_from(unix_seconds(modified)).unwrap_or(u32::MAX);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for entry in entries {
        if entry.data().len() > MAX_ENTRY_SIZE {
            return Err(Error::EntryTooLarge);
        }
        // The options borrow the password only for this loop iteration and are never
        // stored or exposed (zip's FileOptions derives Debug).
        // Stored explicitly, 0644 when the entry has none, as the 7z writer does.
        let options = FileOptions::<()>::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(mtime)
            .with_aes_encryption_bytes(AesMode::Aes256, password)
            .unix_permissions(entry.unix_mode().unwrap_or(DEFAULT_MODE))
            .with_extended_timestamp(Some(unix_mtime), None, None)
            .map_err(map_write_error)?;
        writer
            .start_file(entry.name(), options)
            .map_err(map_write_error)?;
        writer.write_all(entry.data())?;
    }
    let mut archive = writer.finish().map_err(map_write_error)?.into_inner();
    make_every_entry_ae2(&mut archive, entries.len())?;
    Ok(archive)
}

/// The zip crate's errors while sealing. Only I/O is an I/O error; anything else is the
/// writer refusing input we had validated, never a sign of a corrupt archive.
fn map_write_error(error: ZipError) -> Error {
    match error {
        ZipError::Io(io) => Error::Io(io),
        _ => Error::SealFailed,
    }
}

/// Rewrites every entry of an archive the zip crate just sealed as WinZip **AE-2**: AES
/// extra field vendor version 2 and the CRC-32 field 0, in the local and the central
/// header.
///
/// zip 9 writes AE-2 only for entries under 20 bytes and AE-1 (plaintext CRC-32 in the
/// clear) for the rest whenever its writer can seek, with no option to choose. A
/// plaintext CRC lets anyone link an archive to a known file (the CSR published next to
/// it) and helps confirm guesses about short secrets. AE-1 and AE-2 encrypt identically;
/// they differ only in these two header fields (AE-2 readers skip the CRC and rely on the
/// HMAC-SHA1, which covers the encrypted data and not the headers). So patching the two
/// fields in place is exact. We patch rather than write through the zip crate's
/// non-seeking writer (which keeps AE-2) because that writer moves sizes and CRC into data
/// descriptors after each entry, a layout streaming readers handle worse for encrypted
/// entries.
///
/// Walks the structure strictly: one end record without comment, no Zip64, the expected
/// number of entries, exactly one AES extra field per header, no data descriptors. Anything
/// else is [`Error::SealFailed`] (or [`Error::EntryTooLarge`] for Zip64), never a
/// half-patched archive handed out.
fn make_every_entry_ae2(archive: &mut [u8], expected_entries: usize) -> Result<(), Error> {
    let eocd_at = archive
        .len()
        .checked_sub(EOCD_MIN_LEN)
        .ok_or(Error::SealFailed)?;
    if archive.get(eocd_at..eocd_at + 4) != Some(&EOCD_SIGNATURE[..])
        || read_u16(archive, eocd_at + 20)? != 0
    {
        return Err(Error::SealFailed);
    }
    let count = read_u16(archive, eocd_at + 10)?;
    let directory_size = read_u32(archive, eocd_at + 12)?;
    let directory_at = read_u32(archive, eocd_at + 16)?;
    if count == ZIP64_U16 || directory_size == ZIP64_U32 || directory_at == ZIP64_U32 {
        return Err(Error::EntryTooLarge);
    }
    if usize::from(count) != expected_entries {
        return Err(Error::SealFailed);
    }
    let directory_at = to_usize(directory_at)?;
    let directory_end = directory_at
        .checked_add(to_usize(directory_size)?)
        .filter(|&end| end == eocd_at)
        .ok_or(Error::SealFailed)?;
    let mut at = directory_at;
    for _ in 0..count {
        if archive.get(at..at + 4) != Some(&CENTRAL_SIGNATURE[..])
            || read_u16(archive, at + 8)? & FLAG_DATA_DESCRIPTOR != 0
            || read_u16(archive, at + 10)? != METHOD_AES
        {
            return Err(Error::SealFailed);
        }
        let name_len = usize::from(read_u16(archive, at + 28)?);
        let extra_len = usize::from(read_u16(archive, at + 30)?);
        let comment_len = usize::from(read_u16(archive, at + 32)?);
        let local_at = read_u32(archive, at + 42)?;
        if local_at == ZIP64_U32 {
            return Err(Error::EntryTooLarge);
        }
        write_u32(archive, at + 16, 0)?;
        set_ae2(archive, at + CENTRAL_HEADER_LEN + name_len, extra_len)?;

        let local_at = to_usize(local_at)?;
        if archive.get(local_at..local_at + 4) != Some(&LOCAL_SIGNATURE[..])
            || read_u16(archive, local_at + 6)? & FLAG_DATA_DESCRIPTOR != 0
            || read_u16(archive, local_at + 8)? != METHOD_AES
        {
            return Err(Error::SealFailed);
        }
        let local_name_len = usize::from(read_u16(archive, local_at + 26)?);
        let local_extra_len = usize::from(read_u16(archive, local_at + 28)?);
        write_u32(archive, local_at + 14, 0)?;
        set_ae2(
            archive,
            local_at + LOCAL_HEADER_LEN + local_name_len,
            local_extra_len,
        )?;

        at += CENTRAL_HEADER_LEN + name_len + extra_len + comment_len;
    }
    if at != directory_end {
        return Err(Error::SealFailed);
    }
    Ok(())
}

/// Sets the vendor version of the one WinZip AES field among the extra fields at
/// `start..start + len` to AE-2.
fn set_ae2(archive: &mut [u8], start: usize, len: usize) -> Result<(), Error> {
    let end = start.checked_add(len).ok_or(Error::SealFailed)?;
    let mut at = start;
    let mut found = 0;
    while at < end {
        let id = read_u16(archive, at)?;
        let size = usize::from(read_u16(archive, at + 2)?);
        let data = at + 4;
        if data + size > end {
            return Err(Error::SealFailed);
        }
        if id == AES_EXTRA_ID {
            if size != AES_EXTRA_DATA_LEN || archive.get(data + 2..data + 4) != Some(&b"AE"[..]) {
                return Err(Error::SealFailed);
            }
            write_u16(archive, data, AE_2)?;
            found += 1;
        }
        at = data + size;
    }
    if found == 1 && at == end {
        Ok(())
    } else {
        Err(Error::SealFailed)
    }
}

fn to_usize(value: u32) -> Result<usize, Error> {
    usize::try_from(value).map_err(|_| Error::SealFailed)
}

fn read_u16(bytes: &[u8], at: usize) -> Result<u16, Error> {
    bytes
        .get(at..at + 2)
        .and_then(|field| <[u8; 2]>::try_from(field).ok())
        .map(u16::from_le_bytes)
        .ok_or(Error::SealFailed)
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32, Error> {
    bytes
        .get(at..at + 4)
        .and_then(|field| <[u8; 4]>::try_from(field).ok())
        .map(u32::from_le_bytes)
        .ok_or(Error::SealFailed)
}

fn write_u16(bytes: &mut [u8], at: usize, value: u16) -> Result<(), Error> {
    bytes
        .get_mut(at..at + 2)
        .ok_or(Error::SealFailed)?
        .copy_from_slice(&value.to_le_bytes());
    Ok(())
}

fn write_u32(bytes: &mut [u8], at: usize, value: u32) -> Result<(), Error> {
    bytes
        .get_mut(at..at + 4)
        .ok_or(Error::SealFailed)?
        .copy_from_slice(&value.to_le_bytes());
    Ok(())
}

/// Maps the zip crate's read errors to ours without passing its messages on.
fn map_read_error(error: ZipError) -> Error {
    match error {
        ZipError::InvalidPassword => Error::WrongPassword,
        ZipError::CompressionMethodNotSupported(_) | ZipError::UnsupportedArchive(_) => {
            Error::UnsupportedMethod
        }
        ZipError::Io(io) => decoder_io_error(io),
        _ => Error::Corrupt,
    }
}

/// Reads the entry count the end-of-central-directory record declares, before the zip
/// crate parses (and allocates for) the whole central directory. `None` for Zip64 or when
/// no record is found (the zip crate then reports the error).
fn declared_entry_count<R: Read + Seek>(reader: &mut R) -> Result<Option<u64>, Error> {
    let len = reader.seek(SeekFrom::End(0))?;
    let search = len.min(EOCD_MAX_SEARCH);
    reader.seek(SeekFrom::Start(len - search))?;
    let mut tail = vec![0u8; usize::try_from(search).unwrap_or(0)];
    reader.read_exact(&mut tail)?;
    reader.seek(SeekFrom::Start(0))?;
    let Some(start) = tail
        .windows(EOCD_SIGNATURE.len())
        .rposition(|window| window == EOCD_SIGNATURE)
    else {
        return Ok(None);
    };
    let record = tail.get(start..).unwrap_or_default();
    let (Some(&low), Some(&high)) = (record.get(10), record.get(11)) else {
        return Ok(None);
    };
    let total = u16::from_le_bytes([low, high]);
    Ok((total != u16::MAX).then_some(u64::from(total)))
}

/// What the central directory says about one entry, checked before any data is read.
struct Planned {
    index: usize,
    name: String,
    size: u64,
    encrypted: bool,
    unix_mode: Option<u32>,
}

pub(crate) fn open<R: Read + Seek>(
    mut reader: R,
    password: &[u8],
    limits: &Limits,
) -> Result<Vec<Entry>, Error> {
    let max_entries = u64::try_from(limits.max_entries).unwrap_or(u64::MAX);
    if let Some(count) = declared_entry_count(&mut reader)?
        && count > max_entries
    {
        return Err(Error::LimitExceeded {
            what: LimitKind::Entries,
            limit: max_entries,
        });
    }
    let mut archive = ZipArchive::new(reader).map_err(map_read_error)?;
    if archive.len() > limits.max_entries {
        return Err(Error::LimitExceeded {
            what: LimitKind::Entries,
            limit: max_entries,
        });
    }

    // Pass 1: names, kinds, methods, encryption and declared sizes, before any data.
    let mut planned: Vec<Planned> = Vec::new();
    let mut all_names: Vec<String> = Vec::new();
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let (name, is_dir, is_symlink, size, compressed, encrypted, method, unix_mode) = {
            let data = archive.by_index_data(index).map_err(map_read_error)?;
            let name = std::str::from_utf8(data.name_raw())
                .map_err(|_| Error::InvalidEntryName {
                    name: String::from_utf8_lossy(data.name_raw())
                        .escape_debug()
                        .to_string(),
                    problem: NameProblem::NotUtf8,
                })?
                .to_owned();
            (
                name,
                data.is_dir(),
                data.is_symlink(),
                data.size(),
                data.compressed_size(),
                data.encrypted(),
                data.compression(),
                data.unix_mode(),
            )
        };
        let bare_name = if is_dir {
            name.strip_suffix('/').unwrap_or(&name)
        } else {
            &name
        };
        validate_name(bare_name)?;
        all_names.push(bare_name.to_owned());
        // Symlinks, devices, FIFOs and sockets: refused here, before any data is read,
        // rather than extracted as empty regular files.
        let unix_type = unix_mode.map_or(0, |mode| mode & S_IFMT);
        if is_symlink || (unix_type != 0 && unix_type != S_IFREG && unix_type != S_IFDIR) {
            return Err(Error::NotARegularFile);
        }
        if is_dir {
            if size != 0 {
                return Err(Error::SizeMismatch);
            }
            continue;
        }
        if !matches!(
            method,
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            return Err(Error::UnsupportedMethod);
        }
        if encrypted {
            let is_aes = archive
                .get_aes_verification_key_and_salt(index)
                .map_err(map_read_error)?
                .is_some();
            if !is_aes && !limits.allow_zipcrypto {
                return Err(Error::ZipCryptoRefused);
            }
        } else if limits.require_encryption {
            return Err(Error::NotEncrypted);
        }
        add_to_total(&mut total, size, limits)?;
        check_ratio(size, compressed, limits)?;
        planned.push(Planned {
            index,
            name,
            size,
            encrypted,
            unix_mode,
        });
    }
    check_unique(all_names.iter().map(String::as_str))?;

    // Pass 2: decrypt and decompress, never more than each declared size.
    let mut entries = Vec::with_capacity(planned.len());
    for plan in planned {
        let options = ZipReadOptions::new()
            .password(plan.encrypted.then_some(password))
            .enforce_header_consistency(true);
        let mut file = archive
            .by_index_with_options(plan.index, options)
            .map_err(map_read_error)?;
        let data: Zeroizing<Vec<u8>> =
            read_exactly_declared(&mut file, plan.size, decoder_io_error)?;
        entries.push(Entry::from_parts(plan.name, data, plan.unix_mode));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed() -> Vec<u8> {
        let entries = [
            Entry::new("a.txt", b"twenty or more bytes of text".to_vec()).unwrap(),
            Entry::new("b.txt", b"short".to_vec()).unwrap(),
        ];
        seal(&entries, b"pw", SystemTime::UNIX_EPOCH).unwrap()
    }

    /// A writer failure while sealing is `SealFailed`, never `Corrupt` (which says an
    /// archive was tampered with); I/O stays I/O.
    #[test]
    fn writer_errors_are_sealing_failures_not_corruption() {
        for error in [
            ZipError::InvalidArchive("Duplicate filename".into()),
            ZipError::UnsupportedArchive("unsupported"),
            ZipError::FileNotFound,
            ZipError::InvalidPassword,
        ] {
            assert!(matches!(map_write_error(error), Error::SealFailed));
        }
        assert!(matches!(
            map_write_error(ZipError::Io(std::io::Error::other("disk"))),
            Error::Io(_)
        ));
    }

    #[test]
    fn the_ae2_rewrite_refuses_anything_but_the_expected_structure() {
        // Already AE-2: rewriting again is harmless and exact.
        let mut twice = sealed();
        let once = twice.clone();
        make_every_entry_ae2(&mut twice, 2).unwrap();
        assert_eq!(twice, once);

        let refused =
            |mut bytes: Vec<u8>, count: usize| match make_every_entry_ae2(&mut bytes, count) {
                Err(error) => error,
                Ok(()) => panic!("accepted"),
            };
        assert!(matches!(refused(Vec::new(), 0), Error::SealFailed));
        assert!(matches!(
            refused(b"not a zip".to_vec(), 1),
            Error::SealFailed
        ));
        assert!(matches!(refused(sealed(), 3), Error::SealFailed));
        let cut = sealed();
        assert!(matches!(
            refused(cut[..cut.len() - 1].to_vec(), 2),
            Error::SealFailed
        ));

        // A comment after the end record, a missing AES field, a data descriptor.
        let mut commented = sealed();
        let eocd = commented.len() - EOCD_MIN_LEN;
        commented[eocd + 20] = 1;
        commented.push(b'!');
        assert!(matches!(refused(commented, 2), Error::SealFailed));
        let mut no_aes = sealed();
        let at = no_aes.windows(2).rposition(|w| w == [0x01, 0x99]).unwrap();
        no_aes[at] = 0x02;
        assert!(matches!(refused(no_aes, 2), Error::SealFailed));
        let mut descriptor = sealed();
        descriptor[6] |= 0x08;
        assert!(matches!(refused(descriptor, 2), Error::SealFailed));

        // Zip64 markers: the archive is beyond what we write.
        let mut zip64 = sealed();
        let eocd = zip64.len() - EOCD_MIN_LEN;
        zip64[eocd + 16..eocd + 20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(refused(zip64, 2), Error::EntryTooLarge));
    }
}
