//! WinZip AES-256 zip: sealing with the `zip` crate, opening under [`Limits`].

use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::time::SystemTime;

use zeroize::Zeroizing;
use zip::result::ZipError;
use zip::write::FileOptions;
use zip::{AesMode, CompressionMethod, DateTime, ZipArchive, ZipReadOptions, ZipWriter};

use crate::entry::{Entry, check_unique, validate_name};
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
        let mut options = FileOptions::<()>::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(mtime)
            .with_aes_encryption_bytes(AesMode::Aes256, password);
        if let Some(mode) = entry.unix_mode() {
            options = options.unix_permissions(mode);
        }
        let options = options
            .with_extended_timestamp(Some(unix_mtime), None, None)
            .map_err(map_write_error)?;
        writer
            .start_file(entry.name(), options)
            .map_err(map_write_error)?;
        writer.write_all(entry.data())?;
    }
    let cursor = writer.finish().map_err(map_write_error)?;
    Ok(cursor.into_inner())
}

fn map_write_error(error: ZipError) -> Error {
    match error {
        ZipError::Io(io) => Error::Io(io),
        _ => Error::Corrupt,
    }
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
        if is_symlink {
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
