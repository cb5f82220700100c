#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub use secrecy;
pub use zeroize;

mod entry;
mod error;
mod extract;
pub mod hazmat;
mod options;
mod read_util;
mod sevenz_format;
mod time;
mod zip_format;

use std::fmt;
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::str::FromStr;
use std::time::SystemTime;

use secrecy::{ExposeSecret, SecretString};

pub use entry::{DEFAULT_MODE, Entry, MAX_NAME_LEN, PRIVATE_MODE};
pub use error::{Error, LimitKind, NameProblem};
pub use extract::OpenedArchive;
pub use options::{Limits, SEVENZ_KDF_POWER, SealOptions};

/// The two archive formats.
///
/// # Examples
///
/// ```
/// use autocsr_archive::ArchiveFormat;
///
/// let format: ArchiveFormat = "7z".parse()?;
/// assert_eq!(format, ArchiveFormat::SevenZ);
/// assert_eq!(format.extension(), "7z");
/// assert!("tar".parse::<ArchiveFormat>().is_err());
/// assert_eq!(ArchiveFormat::detect(b"PK\x03\x04..."), Some(ArchiveFormat::Zip));
/// assert_eq!(ArchiveFormat::detect(b"%PDF-1.7"), None);
/// # Ok::<(), autocsr_archive::UnknownFormatName>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ArchiveFormat {
    /// WinZip AES-256 zip (AE-2 for every entry: no plaintext CRC, Deflate). Opens in
    /// 7-Zip, WinRAR, libarchive (`bsdtar`) and pyzipper; **not** in Info-ZIP `unzip`, the
    /// Windows Explorer ZIP folder, macOS Archive Utility (none supports WinZip AES) or
    /// Linux `unar`. File names are visible without the password.
    Zip,
    /// 7z, AES-256 with 2^19 key-derivation rounds over a random 16-byte salt (unless
    /// [`SealOptions::skip_7z_salt_for_random_password`]), LZMA2, encrypted headers (file
    /// names hidden). Opens in 7-Zip, The Unarchiver (`unar`) and py7zr; libarchive cannot
    /// decrypt it.
    SevenZ,
}

impl ArchiveFormat {
    /// The file extension without a dot: `"zip"` or `"7z"`.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::Zip => "zip",
            ArchiveFormat::SevenZ => "7z",
        }
    }

    /// The name used by [`FromStr`]: same as [`ArchiveFormat::extension`].
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.extension()
    }

    /// The format whose magic bytes start `bytes`, if any.
    #[must_use]
    pub fn detect(bytes: &[u8]) -> Option<ArchiveFormat> {
        if bytes.starts_with(&sevenz_format::SIGNATURE) {
            Some(ArchiveFormat::SevenZ)
        } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            Some(ArchiveFormat::Zip)
        } else {
            None
        }
    }
}

impl fmt::Display for ArchiveFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ArchiveFormat {
    type Err = UnknownFormatName;

    fn from_str(name: &str) -> Result<ArchiveFormat, UnknownFormatName> {
        match name.trim().to_ascii_lowercase().as_str() {
            "zip" => Ok(ArchiveFormat::Zip),
            "7z" => Ok(ArchiveFormat::SevenZ),
            _ => Err(UnknownFormatName),
        }
    }
}

/// [`ArchiveFormat::from_str`] got something other than `zip` or `7z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown archive format (expected `zip` or `7z`)")]
#[non_exhaustive]
pub struct UnknownFormatName;

/// Seals `entries` into an encrypted archive in memory.
///
/// Every entry is encrypted with AES-256 under `password`: WinZip AES AE-2 (PBKDF2-HMAC-SHA1,
/// 1000 rounds, over the password's UTF-8 bytes; no CRC stored) for zip, 7-Zip AES
/// (SHA-256 iterated 2^19 times over a fresh random 16-byte salt and the password in
/// UTF-16LE, no salt if the options skip it) for 7z. The password is not normalised (NFC
/// and NFD spellings of "é" are different passwords). Entries without a Unix mode are
/// stored as [`DEFAULT_MODE`] (0644) in both formats.
///
/// # Errors
/// [`Error::EmptyPassword`], [`Error::NoEntries`], [`Error::InvalidEntryName`] for a
/// duplicate name (entries are validated when built), [`Error::EntryTooLarge`] (an entry,
/// or a whole zip, over 4 GiB), [`Error::Randomness`] when the OS RNG fails (salts, IVs),
/// [`Error::SealFailed`] when the zip writer fails other than by I/O, or an I/O error from
/// the encoder.
///
/// ```
/// use autocsr_archive::secrecy::SecretString;
/// use autocsr_archive::{ArchiveFormat, Entry, Error, SealOptions, seal};
///
/// let password = SecretString::from("QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Y");
/// let entries = [
///     Entry::private("example.com.key", b"-----BEGIN PRIVATE KEY-----\n".to_vec())?,
///     Entry::new("README.txt", b"Open with 7-Zip.\n".to_vec())?,
/// ];
/// let zip = seal(ArchiveFormat::Zip, &entries, &password, &SealOptions::default())?;
/// assert_eq!(ArchiveFormat::detect(&zip), Some(ArchiveFormat::Zip));
///
/// // Refused: no password, nothing to seal, two entries with one name.
/// let empty = SecretString::from("");
/// let refused = seal(ArchiveFormat::Zip, &entries, &empty, &SealOptions::default());
/// assert!(matches!(refused, Err(Error::EmptyPassword)));
/// let refused = seal(ArchiveFormat::Zip, &[], &password, &SealOptions::default());
/// assert!(matches!(refused, Err(Error::NoEntries)));
/// let twice = [Entry::new("a.txt", b"1".to_vec())?, Entry::new("a.txt", b"2".to_vec())?];
/// let refused = seal(ArchiveFormat::Zip, &twice, &password, &SealOptions::default());
/// assert!(matches!(refused, Err(Error::InvalidEntryName { .. })));
/// # Ok::<(), Error>(())
/// ```
pub fn seal(
    format: ArchiveFormat,
    entries: &[Entry],
    password: &SecretString,
    options: &SealOptions,
) -> Result<Vec<u8>, Error> {
    let secret = password.expose_secret();
    if secret.is_empty() {
        return Err(Error::EmptyPassword);
    }
    if entries.is_empty() {
        return Err(Error::NoEntries);
    }
    entry::check_unique(entries.iter().map(Entry::name))?;
    let modified = options.modified().unwrap_or_else(SystemTime::now);
    match format {
        ArchiveFormat::Zip => zip_format::seal(entries, secret.as_bytes(), modified),
        ArchiveFormat::SevenZ => sevenz_format::seal(
            entries,
            secret,
            modified,
            options.kdf_power(),
            options.sevenz_salted(),
        ),
    }
}

/// Like [`seal`], writing the finished archive to `writer`. The archive is built in
/// memory first, so nothing is written if sealing fails (an I/O error while writing can
/// still leave a prefix in `writer`).
///
/// # Errors
/// As [`seal`], plus [`Error::Io`] from `writer`.
///
/// # Examples
///
/// ```
/// use autocsr_archive::secrecy::SecretString;
/// use autocsr_archive::{ArchiveFormat, Entry, Limits, SealOptions, open_reader, seal_to};
///
/// let password = SecretString::from("QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Y");
/// let entries = [Entry::new("README.txt", b"Open with 7-Zip.\n".to_vec())?];
/// let mut file = tempfile::tempfile()?;
/// seal_to(ArchiveFormat::SevenZ, &entries, &password, &SealOptions::default(), &mut file)?;
///
/// // `open_reader` reads it back from the start of the file, whatever its position.
/// let opened = open_reader(&mut file, &password, &Limits::default())?;
/// assert_eq!(opened.format(), ArchiveFormat::SevenZ);
/// assert_eq!(opened.entries()[0].data(), b"Open with 7-Zip.\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn seal_to<W: Write>(
    format: ArchiveFormat,
    entries: &[Entry],
    password: &SecretString,
    options: &SealOptions,
    writer: &mut W,
) -> Result<(), Error> {
    let sealed = seal(format, entries, password, options)?;
    writer.write_all(&sealed)?;
    writer.flush()?;
    Ok(())
}

/// Opens an archive held in memory, detecting the format from its magic bytes, and
/// returns its entries after checking them against `limits`.
///
/// Refuses (each with its own [`Error`] variant): unknown formats, more entries or bytes
/// than the limits, ratio bombs, sizes that lie, truncated data, unknown compression or
/// encryption methods, ZipCrypto (unless [`hazmat::allow_zipcrypto`]), unencrypted
/// entries (unless [`Limits::with_require_encryption`]`(false)`), symlinks and other
/// non-regular entries, names that break the rules of [`Entry::new`], and a wrong
/// password ([`Error::WrongPassword`]).
///
/// # Errors
/// See above.
///
/// ```
/// use autocsr_archive::secrecy::SecretString;
/// use autocsr_archive::{ArchiveFormat, Entry, Error, Limits, SealOptions, open, seal};
///
/// let password = SecretString::from("QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Y");
/// let csr = b"-----BEGIN CERTIFICATE REQUEST-----\n".to_vec();
/// let entries = [Entry::new("example.com.csr", csr)?];
/// let sealed = seal(ArchiveFormat::Zip, &entries, &password, &SealOptions::default())?;
///
/// let opened = open(&sealed, &password, &Limits::default())?;
/// assert_eq!(opened.format(), ArchiveFormat::Zip);
/// assert_eq!(opened.entries()[0].name(), "example.com.csr");
/// assert_eq!(opened.entries()[0].data(), entries[0].data());
/// assert_eq!(opened.entries()[0].unix_mode(), Some(0o644));
///
/// // A wrong password, and an archive over the limits, are refused with their own errors.
/// let wrong = SecretString::from("QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Z");
/// assert!(matches!(open(&sealed, &wrong, &Limits::default()), Err(Error::WrongPassword)));
/// let tight = Limits::default().with_max_total_size(8);
/// assert!(matches!(open(&sealed, &password, &tight), Err(Error::LimitExceeded { .. })));
/// # Ok::<(), Error>(())
/// ```
pub fn open(
    bytes: &[u8],
    password: &SecretString,
    limits: &Limits,
) -> Result<OpenedArchive, Error> {
    let format = ArchiveFormat::detect(bytes).ok_or(Error::UnknownFormat)?;
    open_as(format, bytes, password, limits)
}

/// Like [`open`], for a given format without looking at the magic bytes (the fuzz targets
/// use this to exercise one parser each).
///
/// # Errors
/// As [`open`].
pub fn open_as(
    format: ArchiveFormat,
    bytes: &[u8],
    password: &SecretString,
    limits: &Limits,
) -> Result<OpenedArchive, Error> {
    open_reader_as(format, Cursor::new(bytes), password, limits)
}

/// Like [`open`], reading from any seekable source (a file). The whole source is the
/// archive: reading starts at offset 0 whatever the reader's position (a file just written
/// is positioned at its end). Only the central directory or header and the entries' data
/// are read, each bounded by the limits.
///
/// # Errors
/// As [`open`], plus [`Error::Io`] from `reader`.
pub fn open_reader<R: Read + Seek>(
    mut reader: R,
    password: &SecretString,
    limits: &Limits,
) -> Result<OpenedArchive, Error> {
    // The magic bytes are read where the parsers start: at offset 0.
    reader.seek(SeekFrom::Start(0))?;
    let mut magic = [0u8; 6];
    let mut filled = 0;
    while filled < magic.len() {
        let Some(rest) = magic.get_mut(filled..) else {
            break;
        };
        match reader.read(rest)? {
            0 => break,
            read => filled += read,
        }
    }
    let format = ArchiveFormat::detect(magic.get(..filled).unwrap_or_default())
        .ok_or(Error::UnknownFormat)?;
    reader.seek(SeekFrom::Start(0))?;
    open_reader_as(format, reader, password, limits)
}

fn open_reader_as<R: Read + Seek>(
    format: ArchiveFormat,
    reader: R,
    password: &SecretString,
    limits: &Limits,
) -> Result<OpenedArchive, Error> {
    let secret = password.expose_secret();
    let entries = match format {
        ArchiveFormat::Zip => zip_format::open(reader, secret.as_bytes(), limits)?,
        ArchiveFormat::SevenZ => sevenz_format::open(reader, secret, limits)?,
    };
    Ok(OpenedArchive::new(format, entries))
}

/// The input format of the fuzz targets (`fuzz/fuzz_targets/archive_open_*.rs`) and of
/// the test that replays their corpus: the first byte `n` gives the password length
/// (`n % 64`), the next bytes the password (lossy UTF-8), the rest the archive, opened
/// with [`Limits::default`]. Only with the `_fuzzing` feature: not part of the API.
///
/// # Errors
/// As [`open_as`].
#[cfg(feature = "_fuzzing")]
#[doc(hidden)]
pub fn open_fuzz_input(format: ArchiveFormat, input: &[u8]) -> Result<OpenedArchive, Error> {
    let (length, rest) = input
        .split_first()
        .map_or((0, input), |(first, rest)| (usize::from(*first % 64), rest));
    let (password, archive) = rest.split_at(length.min(rest.len()));
    let password = SecretString::from(String::from_utf8_lossy(password).into_owned());
    open_as(format, archive, &password, &Limits::default())
}

/// Builds an input for [`open_fuzz_input`] (for seeding the fuzz corpus).
#[cfg(feature = "_fuzzing")]
#[doc(hidden)]
#[must_use]
pub fn fuzz_input(password: &str, archive: &[u8]) -> Vec<u8> {
    let bytes = password.as_bytes();
    let length = bytes.len().min(63);
    let mut input = Vec::with_capacity(1 + length + archive.len());
    input.push(u8::try_from(length).unwrap_or(63));
    input.extend_from_slice(bytes.get(..length).unwrap_or_default());
    input.extend_from_slice(archive);
    input
}

/// Re-opens a freshly sealed archive with `password` and checks that it holds exactly
/// `expected`: same count, same order, same names, same bytes, and the same Unix mode
/// ([`DEFAULT_MODE`] where an expected entry has none, as both writers store it). The
/// pipeline never hands out an archive that fails this.
///
/// The limits used are the defaults widened to fit `expected` (and no ratio check, since
/// the expected sizes are known).
///
/// # Errors
/// [`Error::VerifyMismatch`] when the contents differ, or any error of [`open`].
///
/// # Examples
///
/// ```
/// use autocsr_archive::secrecy::SecretString;
/// use autocsr_archive::{ArchiveFormat, Entry, Error, SealOptions, seal, verify};
///
/// let password = SecretString::from("QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Y");
/// let entries = [Entry::private("example.com.key", b"key".to_vec())?];
/// let zip = seal(ArchiveFormat::Zip, &entries, &password, &SealOptions::default())?;
/// verify(&zip, &password, &entries)?;
///
/// // Other bytes, or the same bytes under another mode, are a mismatch.
/// let other = [Entry::private("example.com.key", b"KEY".to_vec())?];
/// assert!(matches!(verify(&zip, &password, &other), Err(Error::VerifyMismatch)));
/// let readable = [Entry::new("example.com.key", b"key".to_vec())?];
/// assert!(matches!(verify(&zip, &password, &readable), Err(Error::VerifyMismatch)));
/// # Ok::<(), Error>(())
/// ```
pub fn verify(sealed: &[u8], password: &SecretString, expected: &[Entry]) -> Result<(), Error> {
    let opened = open(sealed, password, &verify_limits(expected))?;
    compare(opened.entries(), expected)
}

/// The defaults widened to fit `expected`, with no ratio check (the sizes are known).
fn verify_limits(expected: &[Entry]) -> Limits {
    let total: u64 = expected
        .iter()
        .map(|entry| u64::try_from(entry.data().len()).unwrap_or(u64::MAX))
        .fold(0, u64::saturating_add);
    let defaults = Limits::default();
    Limits::default()
        .with_max_entries(expected.len().max(defaults.max_entries()))
        .with_max_total_size(total.max(defaults.max_total_size()))
        .with_max_ratio(u64::MAX, 0)
}

/// Same count, order, names, bytes and Unix modes ([`DEFAULT_MODE`] where `expected`
/// has none), or [`Error::VerifyMismatch`].
fn compare(actual: &[Entry], expected: &[Entry]) -> Result<(), Error> {
    if actual.len() != expected.len() {
        return Err(Error::VerifyMismatch);
    }
    for (got, want) in actual.iter().zip(expected) {
        let mode_ok = got.unix_mode() == Some(want.unix_mode().unwrap_or(DEFAULT_MODE));
        if got.name() != want.name() || got.data() != want.data() || !mode_ok {
            return Err(Error::VerifyMismatch);
        }
    }
    Ok(())
}

/// An archive sealed by [`seal_keeping_key`], holding what [`SealedArchive::verify`]
/// needs: the password for zip, the derived AES key (wiped on drop) for 7z.
pub struct SealedArchive {
    bytes: Vec<u8>,
    proof: Proof,
}

enum Proof {
    Password(SecretString),
    SevenZKey(sevenz_format::ArchiveKey),
}

impl fmt::Debug for SealedArchive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedArchive")
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// Seals like [`seal`] and keeps what proving the archive needs, so that a 7z archive is
/// verified with the key derived for sealing it instead of a second 2^19-round
/// derivation from the password (the derivation is most of a 7z seal's time).
///
/// # Errors
/// As [`seal`].
///
/// ```
/// use autocsr_archive::secrecy::SecretString;
/// use autocsr_archive::{ArchiveFormat, Entry, SealOptions, seal_keeping_key};
///
/// let password = SecretString::from("QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Y");
/// let entries = [Entry::private("example.com.key", b"-----BEGIN PRIVATE KEY-----\n".to_vec())?];
/// let options = SealOptions::default().skip_7z_salt_for_random_password();
/// let sealed = seal_keeping_key(ArchiveFormat::SevenZ, &entries, &password, &options)?;
/// sealed.verify(&entries)?;
/// let archive: Vec<u8> = sealed.into_bytes();
/// assert_eq!(ArchiveFormat::detect(&archive), Some(ArchiveFormat::SevenZ));
/// # Ok::<(), autocsr_archive::Error>(())
/// ```
pub fn seal_keeping_key(
    format: ArchiveFormat,
    entries: &[Entry],
    password: &SecretString,
    options: &SealOptions,
) -> Result<SealedArchive, Error> {
    match format {
        ArchiveFormat::Zip => Ok(SealedArchive {
            bytes: seal(format, entries, password, options)?,
            proof: Proof::Password(password.clone()),
        }),
        ArchiveFormat::SevenZ => {
            // The checks `seal` makes before it derives anything.
            if password.expose_secret().is_empty() {
                return Err(Error::EmptyPassword);
            }
            if entries.is_empty() {
                return Err(Error::NoEntries);
            }
            entry::check_unique(entries.iter().map(Entry::name))?;
            let key = sevenz_format::ArchiveKey::derive(
                password.expose_secret(),
                options.kdf_power(),
                options.sevenz_salted(),
            )?;
            let modified = options.modified().unwrap_or_else(SystemTime::now);
            Ok(SealedArchive {
                bytes: sevenz_format::seal_with_key(entries, &key, modified)?,
                proof: Proof::SevenZKey(key),
            })
        }
    }
}

impl SealedArchive {
    /// The archive.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The archive; the password or key kept for verifying is wiped.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Proves the archive holds exactly `expected`, as [`verify`] does. A zip archive is
    /// opened with the password, exactly as [`verify`] opens it. A 7z archive is opened
    /// with the key it was sealed with: its two AES coders (header and content) must
    /// declare the power and salt that key was derived with; the encrypted header must
    /// decrypt under the key, decompress to its declared size and match its CRC; and
    /// sevenz-rust2 must parse that header and decrypt, decompress and CRC-check the
    /// content under the key. What is not repeated is the derivation itself (password,
    /// power and salt to key), which is a fixed function proven by this crate's tests
    /// and the interop tests with 7-Zip, not re-checked per archive: a fault during the
    /// one derivation (a flipped bit) would go unnoticed here.
    ///
    /// # Errors
    /// [`Error::VerifyMismatch`] when the contents differ or a 7z archive is not laid out
    /// as our writer lays it out (including declared key-derivation parameters other than
    /// the key's), or the error opening it reported.
    pub fn verify(&self, expected: &[Entry]) -> Result<(), Error> {
        let limits = verify_limits(expected);
        match &self.proof {
            Proof::Password(password) => {
                compare(open(&self.bytes, password, &limits)?.entries(), expected)
            }
            Proof::SevenZKey(key) => compare(
                &sevenz_format::open_with_sealing_key(&self.bytes, key, &limits)?,
                expected,
            ),
        }
    }
}
