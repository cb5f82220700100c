//! The crate's one error type.

use std::time::SystemTime;

/// Everything that can go wrong in this crate. No variant ever carries a code, a key or a
/// piece of either.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A code length below the 80-bit floor was asked for (refused, never clamped).
    #[error("unlock code of {bits} bits requested; at least {min_bits} bits are required")]
    CodeTooShort {
        /// Bits asked for.
        bits: u32,
        /// The floor.
        min_bits: u32,
    },
    /// A code length above what the check symbols cover was asked for.
    #[error("unlock code of {bits} bits requested; at most {max_bits} bits are supported")]
    CodeTooLong {
        /// Bits asked for.
        bits: u32,
        /// The ceiling.
        max_bits: u32,
    },
    /// The typed code has too many or too few symbols (dashes and spaces not counted).
    #[error("unlock code has {found} symbols, expected {expected}")]
    WrongLength {
        /// Symbols expected.
        expected: usize,
        /// Symbols found.
        found: usize,
    },
    /// The typed code contains a character outside the code alphabet.
    #[error("unlock code has a character that cannot be part of a code at position {position}")]
    BadCharacter {
        /// Character position in the input, counted from 0.
        position: usize,
    },
    /// The check symbols do not match: the code was probably mistyped.
    #[error("unlock code check symbols do not match (probably a typo)")]
    ChecksumMismatch,
    /// The order id is empty, too long, or has a character outside `A-Z a-z 0-9 - _ . :`.
    #[error("invalid order id: {reason}")]
    InvalidOrderId {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The requested window is zero, longer than [`MAX_WINDOW`](crate::MAX_WINDOW) (366
    /// days), or ends after year 9999; or a reminder lead or lease
    /// ([`Vault::claim_reminders`](crate::Vault::claim_reminders)) is below 1 ms or over 366
    /// days.
    #[error("invalid credential window (it must be more than zero and at most 366 days)")]
    InvalidWindow,
    /// The clock reads a time the vault cannot represent (before 1970 or after year 9999).
    #[error("clock time out of range")]
    InvalidTime,
    /// No credential exists for the order (never issued, or purged).
    #[error("no credential for this order")]
    NotFound,
    /// The credential's window has closed; the code is destroyed (or about to be).
    #[error("credential expired")]
    Expired {
        /// When the window closed.
        expired_at: SystemTime,
    },
    /// The credential was revoked; the code is destroyed.
    #[error("credential revoked")]
    Revoked,
    /// The code has been revealed as many times as the vault's reveal limit allows
    /// ([`Vault::with_reveal_limit`](crate::Vault::with_reveal_limit)). The code is not
    /// destroyed: it stays until its expiry and purge (or a revoke), and a vault with a
    /// higher limit would reveal it again.
    #[error("reveal limit reached for this credential")]
    RevealLimitReached,
    /// The stored record failed authentication (edited, moved to another order, times this
    /// version never writes, wrong or missing key). Deliberately opaque. Every read path
    /// (`reveal`, `status`, `revoke`, `open_record`) reports a tampered record as this.
    #[error("credential record failed authentication")]
    Tampered,
    /// A credential already exists for the order; a reissue is a new order.
    #[error("a credential already exists for this order")]
    AlreadyExists,
    /// The operating system's random number generator failed.
    #[error("operating system random number generator failed")]
    Randomness,
    /// The key-wrapping hook (e.g. a KMS) failed to wrap, unwrap or destroy a key.
    #[error("key wrapping failed")]
    KeyWrap(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored record or key could not be decoded (wrong size, unknown format version).
    #[error("stored data is malformed: {what}")]
    Malformed {
        /// Which part.
        what: &'static str,
    },
    /// The store's schema is newer than this library understands.
    #[error("store schema version {found} is newer than supported version {supported}")]
    UnsupportedSchema {
        /// Version found.
        found: i64,
        /// Newest version this library knows.
        supported: i64,
    },
    /// The store was written in an earlier, pre-release format (version 1: daily epoch keys
    /// shared by many records, which cannot shred one code at a time) and still holds data.
    /// It is refused, not converted: drain it with the version that wrote it (stop issuing,
    /// let every code expire, run `purge`), then open it again. An emptied record store is
    /// upgraded, and the vault's open then destroys the epoch keys left beside it.
    #[error(
        "store holds data in the earlier format version {found}; drain it with the version that wrote it (let every code expire, then purge) before upgrading"
    )]
    LegacyFormat {
        /// The format (schema) version found.
        found: i64,
    },
    /// A key was destroyed in the store but its bytes may still be in the store's files,
    /// because another connection holds a read transaction (SQLite could not checkpoint its
    /// write-ahead log within the busy timeout). Nothing is lost: repeat the call (`purge`,
    /// `revoke`) once that reader is done and it finishes the destruction.
    #[error("key destruction not yet complete on disk (another reader is active); retry")]
    ShreddingIncomplete,
    /// The storage backend failed (I/O, database error).
    #[error("credential storage failed")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps a storage backend error.
    pub fn storage<E: std::error::Error + Send + Sync + 'static>(error: E) -> Self {
        Self::Storage(Box::new(error))
    }
}
