//! Sealing options and opening limits.

use std::time::SystemTime;

/// The 7-Zip AES key derivation work factor: 2^19 SHA-256 rounds, 7-Zip's own setting.
/// (sevenz-rust2 and sevenz-rust default to 2^8; this crate always sets 19 unless a test
/// lowers it through [`crate::hazmat::set_7z_kdf_power`].)
pub const SEVENZ_KDF_POWER: u8 = 19;

/// How to seal. `Default`: modification time "now" (taken once per archive), 7z key
/// derivation with 2^19 rounds over a fresh random 16-byte salt.
///
/// Holds no password: the password is passed to [`crate::seal`] separately, so this type
/// can derive `Debug` safely.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use autocsr_archive::secrecy::SecretString;
/// use autocsr_archive::{ArchiveFormat, Entry, Limits, SealOptions, open, seal};
///
/// // A fixed modification time (2026-01-01T00:00:00Z) instead of "now".
/// let new_year = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
/// let options = SealOptions::new().modified_at(new_year);
/// assert_eq!(options.modified(), Some(new_year));
/// assert!(options.sevenz_salted());
///
/// // A password that is a fresh random code for this one archive may skip the 7z salt.
/// let password = SecretString::from("QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Y");
/// let options = options.skip_7z_salt_for_random_password();
/// assert!(!options.sevenz_salted());
///
/// let entries = [Entry::new("README.txt", b"Open with 7-Zip.\n".to_vec())?];
/// let sealed = seal(ArchiveFormat::SevenZ, &entries, &password, &options)?;
/// let opened = open(&sealed, &password, &Limits::default())?;
/// assert_eq!(opened.entries()[0].data(), entries[0].data());
/// # Ok::<(), autocsr_archive::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct SealOptions {
    pub(crate) modified: Option<SystemTime>,
    pub(crate) sevenz_kdf_power: Option<u8>,
    pub(crate) sevenz_unsalted: bool,
}

impl SealOptions {
    /// The defaults (same as `SealOptions::default()`).
    #[must_use]
    pub fn new() -> SealOptions {
        SealOptions::default()
    }

    /// Stamps every entry with this modification time instead of "now", for reproducible
    /// output (the encryption salts are still random, so archives still differ byte-wise).
    /// Zip stores the time in DOS format (2-second precision, 1980–2107, clamped) plus a
    /// Unix timestamp extra field; 7z stores 100 ns precision.
    #[must_use]
    pub fn modified_at(mut self, time: SystemTime) -> SealOptions {
        self.modified = Some(time);
        self
    }

    /// The fixed modification time, if one was set.
    #[must_use]
    pub fn modified(&self) -> Option<SystemTime> {
        self.modified
    }

    /// Derives the 7z key without a salt, as 7-Zip itself does, for a password that is a
    /// **high-entropy random value used for this one archive only** (such as an AutoCSR
    /// unlock code: 130 random bits, never reused). It saves hashing 16 salt bytes in each
    /// of the 2^19 key-derivation rounds (about a fifth of the derivation for a 34-character
    /// code; the README has the measured figures), when sealing and again when the
    /// customer opens the archive.
    ///
    /// Without a salt, the same password gives the same key in every archive, so guesses
    /// at a human-chosen password can be computed once and tried against every archive
    /// sealed under it. Never use this for such passwords. No effect on zip, whose format
    /// always salts.
    #[must_use]
    pub fn skip_7z_salt_for_random_password(mut self) -> SealOptions {
        self.sevenz_unsalted = true;
        self
    }

    /// Whether the 7z key derivation uses a fresh random salt (the default: true).
    #[must_use]
    pub fn sevenz_salted(&self) -> bool {
        !self.sevenz_unsalted
    }

    pub(crate) fn kdf_power(&self) -> u8 {
        self.sevenz_kdf_power.unwrap_or(SEVENZ_KDF_POWER)
    }
}

/// Resource and policy limits for [`crate::open`]. Every check happens on the declared
/// sizes before anything is allocated for them, and again on the bytes actually read.
///
/// # Examples
///
/// ```
/// use autocsr_archive::Limits;
///
/// // A host that expects one small archive per order can tighten the defaults.
/// let limits = Limits::default().with_max_entries(3).with_max_total_size(1024 * 1024);
/// assert_eq!(limits.max_entries(), 3);
/// assert_eq!(limits.max_total_size(), 1024 * 1024);
/// assert!(limits.require_encryption());
/// assert!(!limits.zipcrypto_allowed());
/// ```
#[derive(Debug, Clone)]
pub struct Limits {
    pub(crate) max_entries: usize,
    pub(crate) max_total_size: u64,
    pub(crate) max_ratio: u64,
    pub(crate) ratio_floor: u64,
    pub(crate) require_encryption: bool,
    pub(crate) allow_zipcrypto: bool,
    pub(crate) max_kdf_power: u8,
}

impl Default for Limits {
    /// 64 entries, 16 MiB uncompressed in total, a compression ratio of at most 100:1 for
    /// any entry larger than 64 KiB, every entry encrypted, ZipCrypto refused, 7z key
    /// derivation at most 2^20 rounds.
    fn default() -> Limits {
        Limits {
            max_entries: 64,
            max_total_size: 16 * 1024 * 1024,
            max_ratio: 100,
            ratio_floor: 64 * 1024,
            require_encryption: true,
            allow_zipcrypto: false,
            max_kdf_power: 20,
        }
    }
}

impl Limits {
    /// The most entries (files and directories) an archive may hold.
    #[must_use]
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Sets [`Limits::max_entries`].
    #[must_use]
    pub fn with_max_entries(mut self, max_entries: usize) -> Limits {
        self.max_entries = max_entries;
        self
    }

    /// The most uncompressed bytes all entries may hold together.
    #[must_use]
    pub fn max_total_size(&self) -> u64 {
        self.max_total_size
    }

    /// Sets [`Limits::max_total_size`].
    #[must_use]
    pub fn with_max_total_size(mut self, bytes: u64) -> Limits {
        self.max_total_size = bytes;
        self
    }

    /// The largest uncompressed:compressed ratio allowed for an entry larger than
    /// [`Limits::ratio_floor`] (for 7z, whose entries share a compressed block, the
    /// block's ratio).
    #[must_use]
    pub fn max_ratio(&self) -> u64 {
        self.max_ratio
    }

    /// Entries (or 7z blocks) at most this many bytes uncompressed are not ratio-checked:
    /// a 2 KB README of repeated lines may compress 50:1 and is no bomb.
    #[must_use]
    pub fn ratio_floor(&self) -> u64 {
        self.ratio_floor
    }

    /// Sets [`Limits::max_ratio`] and [`Limits::ratio_floor`].
    #[must_use]
    pub fn with_max_ratio(mut self, ratio: u64, floor_bytes: u64) -> Limits {
        self.max_ratio = ratio;
        self.ratio_floor = floor_bytes;
        self
    }

    /// Whether every entry must be encrypted (default true). Empty files and directory
    /// entries carry no data and are exempt in 7z, which stores no stream for them.
    #[must_use]
    pub fn require_encryption(&self) -> bool {
        self.require_encryption
    }

    /// Sets [`Limits::require_encryption`].
    #[must_use]
    pub fn with_require_encryption(mut self, required: bool) -> Limits {
        self.require_encryption = required;
        self
    }

    /// The most 7z key-derivation work accepted, as a power of two (default 20; 7-Zip
    /// writes 19). A hostile archive could otherwise ask for 2^24 SHA-256 rounds (about a
    /// second of CPU) per open attempt. Checked on the unencrypted header coder before
    /// any key is derived.
    #[must_use]
    pub fn max_kdf_power(&self) -> u8 {
        self.max_kdf_power
    }

    /// Sets [`Limits::max_kdf_power`].
    #[must_use]
    pub fn with_max_kdf_power(mut self, power: u8) -> Limits {
        self.max_kdf_power = power;
        self
    }

    /// Whether ZipCrypto entries are opened (only through [`crate::hazmat::allow_zipcrypto`]).
    #[must_use]
    pub fn zipcrypto_allowed(&self) -> bool {
        self.allow_zipcrypto
    }
}
