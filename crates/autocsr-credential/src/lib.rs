#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub use secrecy;
pub use zeroize;

mod code;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod record;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod vault;

pub use code::{CodeLength, UnlockCode};
pub use error::Error;
pub use record::KeyId;
#[cfg(feature = "sqlite")]
pub use sqlite::{
    DEFAULT_BUSY_TIMEOUT, KEYS_FILE, RECORDS_FILE, SqliteKeyStore, SqliteRecordStore,
};
pub use store::{
    AuditEvent, AuditKind, AuditSink, Clock, KeyStore, KeyWrapper, ManualClock, MemoryAudit,
    MemoryKeyStore, MemoryRecordStore, NoAudit, RecordStore, ReminderClaim, StoredKey, SystemClock,
    period_end,
};
pub use vault::{
    CredentialState, DEFAULT_WINDOW, IssuedCredential, MAX_WINDOW, PurgeReport, ReminderDue,
    Revealed, Status, Vault,
};
