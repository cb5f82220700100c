//! The narrow traits a host plugs its own parts into, and the in-memory implementations.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use zeroize::Zeroizing;

use crate::Error;
use crate::record::{RecordBody, StoredRecord, from_millis, to_millis};

/// Where credential records live. Each method must be one atomic step (one transaction).
///
/// Records hold only ciphertext; a copy of this store is useless without the key store.
pub trait RecordStore: Send + Sync {
    /// Inserts every record, or none: [`Error::AlreadyExists`] if any order id is taken
    /// (in the store or twice in `records`).
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], or a storage error.
    fn insert_all(&self, records: &[StoredRecord]) -> Result<(), Error>;

    /// The record for `order_id`, if any.
    ///
    /// # Errors
    /// A storage or decoding error.
    fn load(&self, order_id: &str) -> Result<Option<StoredRecord>, Error>;

    /// Adds one to the reveal count if the record is still sealed and
    /// `expires_at_ms > now_ms`, returning the new count; `None` otherwise.
    ///
    /// # Errors
    /// A storage error.
    fn count_reveal(&self, order_id: &str, now_ms: u64) -> Result<Option<u64>, Error>;

    /// Replaces a still-sealed record's body with `tombstone` (destroying the ciphertext).
    /// Returns false if the record is missing or already a tombstone.
    ///
    /// # Errors
    /// A storage error.
    fn destroy(&self, order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;

    /// Deletes every record with `expires_at_ms <= now_ms`, returning their order ids.
    ///
    /// # Errors
    /// A storage error.
    fn purge_expired(&self, now_ms: u64) -> Result<Vec<String>, Error>;
}

/// Where epoch keys live: apart from the records, never backed up (or inside a KMS).
///
/// Key blobs are opaque: raw 32-byte keys, or whatever a [`KeyWrapper`] made of them.
pub trait KeyStore: Send + Sync {
    /// Stores `blob` for `epoch` unless a key exists already; returns the stored blob.
    ///
    /// # Errors
    /// A storage error.
    fn get_or_insert(&self, epoch: u64, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error>;

    /// The key blob for `epoch`, if it still exists.
    ///
    /// # Errors
    /// A storage error.
    fn get(&self, epoch: u64) -> Result<Option<Zeroizing<Vec<u8>>>, Error>;

    /// Destroys every key with `epoch <= now_ms` (every record under it has expired),
    /// returning how many were destroyed. Must not leave the key bytes recoverable.
    ///
    /// # Errors
    /// A storage error.
    fn destroy_through(&self, now_ms: u64) -> Result<u64, Error>;

    /// The epochs that still have a key (for audits and tests).
    ///
    /// # Errors
    /// A storage error.
    fn epochs(&self) -> Result<Vec<u64>, Error>;
}

/// An optional hook that wraps epoch keys before they reach the [`KeyStore`], e.g. with a
/// KMS key, so the key store alone reveals nothing.
pub trait KeyWrapper: Send + Sync {
    /// Wraps a fresh 32-byte epoch key.
    ///
    /// # Errors
    /// [`Error::KeyWrap`] when the KMS refuses or fails.
    fn wrap(&self, epoch: u64, key: &[u8]) -> Result<Vec<u8>, Error>;

    /// Unwraps what [`wrap`](Self::wrap) returned.
    ///
    /// # Errors
    /// [`Error::KeyWrap`] when the KMS refuses or fails.
    fn unwrap(&self, epoch: u64, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error>;
}

/// The time source. Tests move a [`ManualClock`]; nothing in this crate sleeps.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to (millisecond resolution), shareable across threads.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl ManualClock {
    /// A clock reading `start`.
    ///
    /// # Errors
    /// [`Error::InvalidTime`] for a time before 1970 or beyond the vault's range.
    pub fn new(start: SystemTime) -> Result<Self, Error> {
        Ok(Self {
            now_ms: AtomicU64::new(to_millis(start)?),
        })
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock (forward or back).
    ///
    /// # Errors
    /// [`Error::InvalidTime`] for a time the vault cannot represent.
    pub fn set(&self, to: SystemTime) -> Result<(), Error> {
        self.now_ms.store(to_millis(to)?, Ordering::SeqCst);
        Ok(())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        from_millis(self.now_ms.load(Ordering::SeqCst))
    }
}

/// What happened to a credential, for an [`AuditSink`]. Never carries the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditKind {
    /// A credential was issued.
    Issued,
    /// A code was revealed.
    Revealed,
    /// A reveal or revoke found the window closed and destroyed the code.
    Expired,
    /// A credential was revoked and its code destroyed.
    Revoked,
    /// An expired record was deleted by purge.
    Purged,
}

/// One audit event: what, for which order, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// The order.
    pub order_id: String,
    /// When (the vault clock's reading).
    pub at: SystemTime,
}

/// Receives audit events. Must not block for long: it is called inside vault operations.
pub trait AuditSink: Send + Sync {
    /// Records one event.
    fn record(&self, event: &AuditEvent);
}

/// An audit sink that drops every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _event: &AuditEvent) {}
}

/// An audit sink that keeps events in memory (tests, examples).
#[derive(Debug, Default)]
pub struct MemoryAudit {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemoryAudit {
    /// A copy of every event so far.
    #[must_use]
    pub fn events(&self) -> Vec<AuditEvent> {
        lock(&self.events).clone()
    }
}

impl AuditSink for MemoryAudit {
    fn record(&self, event: &AuditEvent) {
        lock(&self.events).push(event.clone());
    }
}

/// Locks a mutex, recovering from poisoning: every critical section here leaves the data
/// consistent before it can panic (it never does), so a poisoned lock is still sound.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records in memory.
#[derive(Debug, Default)]
pub struct MemoryRecordStore {
    records: Mutex<HashMap<String, StoredRecord>>,
}

impl MemoryRecordStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record, encoded with [`StoredRecord::encode`]: what a backup would hold.
    #[must_use]
    pub fn snapshot(&self) -> Vec<Vec<u8>> {
        lock(&self.records)
            .values()
            .map(StoredRecord::encode)
            .collect()
    }

    /// Replaces a record as an attacker with write access to the store would (tests).
    pub fn overwrite(&self, record: StoredRecord) {
        lock(&self.records).insert(record.order_id.clone(), record);
    }
}

impl RecordStore for MemoryRecordStore {
    fn insert_all(&self, records: &[StoredRecord]) -> Result<(), Error> {
        let mut map = lock(&self.records);
        let mut seen = std::collections::HashSet::new();
        for r in records {
            if map.contains_key(&r.order_id) || !seen.insert(r.order_id.as_str()) {
                return Err(Error::AlreadyExists);
            }
        }
        for r in records {
            map.insert(r.order_id.clone(), r.clone());
        }
        Ok(())
    }

    fn load(&self, order_id: &str) -> Result<Option<StoredRecord>, Error> {
        Ok(lock(&self.records).get(order_id).cloned())
    }

    fn count_reveal(&self, order_id: &str, now_ms: u64) -> Result<Option<u64>, Error> {
        let mut map = lock(&self.records);
        match map.get_mut(order_id) {
            Some(r) if matches!(r.body, RecordBody::Sealed { .. }) && r.expires_at_ms > now_ms => {
                r.reveal_count = r.reveal_count.saturating_add(1);
                Ok(Some(r.reveal_count))
            }
            _ => Ok(None),
        }
    }

    fn destroy(&self, order_id: &str, tombstone: &RecordBody) -> Result<bool, Error> {
        let mut map = lock(&self.records);
        match map.get_mut(order_id) {
            Some(r) if matches!(r.body, RecordBody::Sealed { .. }) => {
                r.body = tombstone.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn purge_expired(&self, now_ms: u64) -> Result<Vec<String>, Error> {
        let mut map = lock(&self.records);
        let expired: Vec<String> = map
            .values()
            .filter(|r| r.expires_at_ms <= now_ms)
            .map(|r| r.order_id.clone())
            .collect();
        for id in &expired {
            map.remove(id);
        }
        Ok(expired)
    }
}

/// Epoch keys in memory.
#[derive(Default)]
pub struct MemoryKeyStore {
    keys: Mutex<BTreeMap<u64, Zeroizing<Vec<u8>>>>,
}

impl core::fmt::Debug for MemoryKeyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryKeyStore")
            .field("epochs", &lock(&self.keys).len())
            .finish()
    }
}

impl MemoryKeyStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl KeyStore for MemoryKeyStore {
    fn get_or_insert(&self, epoch: u64, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut map = lock(&self.keys);
        Ok(map
            .entry(epoch)
            .or_insert_with(|| Zeroizing::new(blob.to_vec()))
            .clone())
    }

    fn get(&self, epoch: u64) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        Ok(lock(&self.keys).get(&epoch).cloned())
    }

    fn destroy_through(&self, now_ms: u64) -> Result<u64, Error> {
        let mut map = lock(&self.keys);
        let keep = map.split_off(&now_ms.saturating_add(1));
        let destroyed = u64::try_from(map.len()).unwrap_or(u64::MAX);
        // Dropping the Zeroizing values wipes the key bytes.
        *map = keep;
        Ok(destroyed)
    }

    fn epochs(&self) -> Result<Vec<u64>, Error> {
        Ok(lock(&self.keys).keys().copied().collect())
    }
}
