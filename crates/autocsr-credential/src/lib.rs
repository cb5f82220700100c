#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use secrecy;

mod code;
mod error;
pub mod record;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod vault;

pub use code::{CodeLength, UnlockCode};
pub use error::Error;
#[cfg(feature = "sqlite")]
pub use sqlite::{KEYS_FILE, RECORDS_FILE, SqliteKeyStore, SqliteRecordStore};
pub use store::{
    AuditEvent, AuditKind, AuditSink, Clock, KeyStore, KeyWrapper, ManualClock, MemoryAudit,
    MemoryKeyStore, MemoryRecordStore, NoAudit, RecordStore, SystemClock,
};
pub use vault::{
    CredentialState, DEFAULT_EPOCH, DEFAULT_WINDOW, IssuedCredential, PurgeReport, Revealed,
    Status, Vault,
};
