//! The crate's one error type.

use std::path::PathBuf;

/// Which resource limit an archive exceeded (see [`crate::Limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKind {
    /// More entries than [`crate::Limits::max_entries`].
    Entries,
    /// More uncompressed bytes in total than [`crate::Limits::max_total_size`].
    TotalSize,
    /// One entry expands more than [`crate::Limits::max_ratio`] times its compressed size.
    CompressionRatio,
    /// A 7z header larger than the entry limit can need (checked before it is decoded).
    HeaderSize,
    /// A 7z key derivation asks for more rounds than [`crate::Limits::max_kdf_power`]
    /// (the limit is reported as the power of two).
    KeyDerivation,
    /// A decoder would need more memory (LZMA dictionary, header buffer) than allowed.
    Memory,
}

impl LimitKind {
    /// A short stable name: `entries`, `total_size`, `compression_ratio`, `header_size`,
    /// `key_derivation`, `memory`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Entries => "entries",
            LimitKind::TotalSize => "total_size",
            LimitKind::CompressionRatio => "compression_ratio",
            LimitKind::HeaderSize => "header_size",
            LimitKind::KeyDerivation => "key_derivation",
            LimitKind::Memory => "memory",
        }
    }
}

/// Why an entry name was refused (see [`crate::Entry::new`] for the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name is empty, or has an empty component (`a//b`, a trailing `/`).
    Empty,
    /// The name is longer than 255 bytes.
    TooLong,
    /// The name is not valid UTF-8 (only possible when opening an archive).
    NotUtf8,
    /// The name starts with `/` (absolute path).
    Absolute,
    /// The name contains a `\` (a path separator on Windows).
    Backslash,
    /// A component is `..` or `.`.
    DotComponent,
    /// The name contains a NUL or another control character.
    ControlCharacter,
    /// The name contains `:` (a drive letter such as `C:`, or an NTFS stream).
    DriveOrStream,
    /// Another entry has the same name (compared case-insensitively, since the
    /// customer may extract on a case-insensitive file system).
    Duplicate,
}

impl NameProblem {
    /// A short human description of the rule that was broken.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            NameProblem::Empty => "empty name or empty path component",
            NameProblem::TooLong => "longer than 255 bytes",
            NameProblem::NotUtf8 => "not UTF-8",
            NameProblem::Absolute => "absolute path",
            NameProblem::Backslash => "contains a backslash",
            NameProblem::DotComponent => "contains a `.` or `..` component",
            NameProblem::ControlCharacter => "contains NUL or a control character",
            NameProblem::DriveOrStream => "contains `:` (drive letter or stream)",
            NameProblem::Duplicate => "duplicate name",
        }
    }
}

impl std::fmt::Display for NameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong sealing, opening, verifying or extracting an archive.
///
/// Cryptographic failures are opaque on purpose: no message says which byte or which
/// check failed. No variant ever carries a password or entry contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An entry name breaks the name rules. `name` is the offending name with control
    /// characters escaped (names are not secret).
    #[error("invalid entry name {name:?}: {problem}")]
    InvalidEntryName {
        /// The name, escaped for display.
        name: String,
        /// The rule it broke.
        problem: NameProblem,
    },
    /// Sealing was asked to use an empty password, which would not protect anything.
    #[error("the password is empty")]
    EmptyPassword,
    /// Sealing was given no entries.
    #[error("no entries to seal")]
    NoEntries,
    /// An entry is larger than the format writer supports: 4 GiB for zip, which is also
    /// the limit for the whole zip (we write no Zip64).
    #[error("entry too large to seal")]
    EntryTooLarge,
    /// Sealing failed inside the archive writer for a reason other than I/O: the zip
    /// crate refused input this crate had already validated, or its output did not have
    /// the structure we rewrite to WinZip AE-2. Nothing is returned. A bug or a format
    /// limit on our side, never a statement about any archive's integrity (that is
    /// [`Error::Corrupt`], which only opening returns).
    #[error("the archive writer failed")]
    SealFailed,
    /// The bytes are neither a zip nor a 7z archive (checked by magic bytes).
    #[error("not a zip or 7z archive")]
    UnknownFormat,
    /// The archive exceeds one of the [`crate::Limits`].
    #[error("archive exceeds the {} limit of {limit}", what.as_str())]
    LimitExceeded {
        /// Which limit.
        what: LimitKind,
        /// The configured limit (entries, bytes, or ratio).
        limit: u64,
    },
    /// The password is wrong. For WinZip AES this is the format's password check value;
    /// for 7z (which has none) it is a failure to decrypt an archive whose outer structure
    /// and checksums are intact.
    #[error("wrong password")]
    WrongPassword,
    /// An entry's data ended before its declared size: the archive is truncated.
    #[error("archive is truncated")]
    Truncated,
    /// An entry produced more or fewer bytes than its header declares.
    #[error("an entry's declared size does not match its contents")]
    SizeMismatch,
    /// The archive uses a compression or encryption method this crate does not open.
    #[error("unsupported compression or encryption method")]
    UnsupportedMethod,
    /// The zip entry uses the broken ZipCrypto (PKWARE) cipher; refused unless
    /// [`crate::hazmat::allow_zipcrypto`] was used.
    #[error("entry uses insecure ZipCrypto encryption")]
    ZipCryptoRefused,
    /// An entry (or the whole archive) is not encrypted although
    /// [`crate::Limits::require_encryption`] is on.
    #[error("archive holds an unencrypted entry")]
    NotEncrypted,
    /// The archive is malformed, or its integrity check (AES HMAC, CRC) failed. Only
    /// opening (and [`crate::verify`]) returns this.
    #[error("archive is corrupt or has been tampered with")]
    Corrupt,
    /// The archive holds something other than regular files and directories: a symlink,
    /// a device, a FIFO or a socket (by the Unix file type it stores), or a Windows
    /// reparse point or device (7z attributes).
    #[error("archive holds an entry that is not a regular file")]
    NotARegularFile,
    /// Extraction found a symlink where it needs a directory: the target itself (its
    /// last path component) or anything below it. Nothing is followed.
    #[error("extraction would leave the target directory")]
    PathEscape,
    /// Extraction found an existing file at the destination; nothing was overwritten.
    #[error("refusing to overwrite existing file {path:?}")]
    AlreadyExists {
        /// The existing destination.
        path: PathBuf,
    },
    /// [`crate::verify`]: the archive opened, but its entries differ from the expected ones.
    #[error("archive contents differ from the expected entries")]
    VerifyMismatch,
    /// The operating system's random number generator failed (sealing needs fresh salts
    /// and IVs, extraction random temporary names).
    #[error("the operating system's random number generator failed")]
    Randomness,
    /// Reading or writing failed.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
}
