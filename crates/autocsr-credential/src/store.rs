//! The narrow traits a host plugs its own parts into, and the in-memory implementations.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use zeroize::Zeroizing;

use crate::Error;
use crate::record::{KeyId, RecordBody, StoredRecord, from_millis, to_millis};

/// Where credential records live.
///
/// The vault decides every rule: it encrypts, binds, validates and reads the clock. A
/// store does not move opaque rows, though; it owns these checks, because each must happen
/// in the same atomic step as the write it guards (between a vault's read and its write,
/// another server may reveal, revoke or purge, and time moves on):
///
/// - [`insert_all`](Self::insert_all): uniqueness of the order id, all or nothing.
/// - [`count_reveal`](Self::count_reveal): "still sealed and `expires_at_ms > now_ms`"
///   (strictly greater: at the expiry millisecond the code is already expired) "and
///   `reveal_count < max_count`", then `+1`.
/// - [`claim_reminders`](Self::claim_reminders): "sealed, never revealed,
///   `now_ms < expires_at_ms <= due_by_ms`, not reminded, lease absent or `<= now_ms`",
///   then set the lease; two concurrent claims never return the same record.
/// - [`mark_reminded`](Self::mark_reminded): "not yet marked", then set the mark.
/// - [`destroy`](Self::destroy): "still sealed" (compare-and-set; exactly one of several
///   concurrent destroys wins).
/// - [`purge_expired`](Self::purge_expired): `expires_at_ms <= now_ms` (the same edge:
///   everything that can no longer be revealed), each record deleted exactly once.
///
/// `now_ms` is the vault's clock (ms since 1970, UTC); a store compares with it and never
/// with a clock of its own (a database's `now()`), so every server agrees with the vault
/// that decided. Stores return exactly what was stored: [`load`](Self::load) gives back
/// every field and byte [`insert_all`](Self::insert_all) got (plus the count and
/// tombstones), so the vault can detect tampering. The `conformance` feature's suite
/// (`autocsr_credential::conformance`) checks every edge here, including the exact expiry
/// millisecond; run it against your store.
///
/// Each method must be one atomic step: for concurrent callers (in every process that opens
/// the store) and across a crash. A store that keeps one file per record can give the first
/// with a lock (one process only) but not the second for a batch: see the crate README,
/// "Writing a store", for what it may relax. [`StoredRecord::encode`] is a stable format for
/// a given [`FORMAT_VERSION`](crate::record::FORMAT_VERSION) such a store may persist.
///
/// Records hold only ciphertext; a copy of this store is useless without the key store, and
/// a record whose key was destroyed is useless to everyone.
pub trait RecordStore: Send + Sync {
    /// Inserts every record, or none: [`Error::AlreadyExists`] if any order id is taken
    /// (in the store or twice in `records`), also when another server inserts the same id
    /// at the same moment (a unique constraint, not a check-then-insert). The vault only
    /// inserts sealed records with a reveal count of 0.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], or a storage error.
    fn insert_all(&self, records: &[StoredRecord]) -> Result<(), Error>;

    /// The record for `order_id`, if any, exactly as stored.
    ///
    /// # Errors
    /// A storage or decoding error.
    fn load(&self, order_id: &str) -> Result<Option<StoredRecord>, Error>;

    /// Adds one to the reveal count (saturating at `i64::MAX`, the largest count every
    /// store can hold) if the record is still sealed, `expires_at_ms > now_ms` and
    /// `reveal_count < max_count`, returning the new count; `None` otherwise (missing, a
    /// tombstone, at or after its expiry, or at or over the limit), changing nothing.
    ///
    /// One atomic step (`UPDATE … WHERE … AND reveal_count < $max RETURNING`): concurrent
    /// calls each get their own new count, none is lost, and of any number of concurrent
    /// calls on a record with count `c`, exactly `max_count - c` (if positive) get `Some`.
    /// A check of the count before the update, apart from it, would let a race through.
    /// `max_count` is compared as a `u64`: one above `i64::MAX` (the vault passes
    /// `u64::MAX` when it has no limit) is no limit for any count a store holds; a SQL
    /// store that cannot bind it passes `NULL` and tests `($3 IS NULL OR reveal_count <
    /// $3)`. `max_count == 0` refuses every call. Under a limit (`max_count <= i64::MAX`)
    /// the increment is a promise and must be durable when this returns; without one a
    /// store may defer its fsync (the SQLite store does). The vault calls this after it decrypted
    /// the code and only returns the code if this says `Some`, so this edge is what keeps a
    /// reveal racing the expiry, a revoke, a purge or other reveals at the limit from
    /// succeeding.
    ///
    /// # Errors
    /// A storage error.
    fn count_reveal(
        &self,
        order_id: &str,
        now_ms: u64,
        max_count: u64,
    ) -> Result<Option<u64>, Error>;

    /// Replaces a still-sealed record's body with `tombstone` (destroying the ciphertext),
    /// keeping every other field. Returns false, changing nothing, if the record is missing
    /// or already a tombstone: a compare-and-set, so of concurrent destroys exactly one
    /// returns true.
    ///
    /// # Errors
    /// A storage error.
    fn destroy(&self, order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;

    /// Deletes every record with `expires_at_ms <= now_ms` (sealed records and tombstones
    /// alike), returning their order ids. Concurrent purges return each deleted id exactly
    /// once between them; a repeat returns nothing new. May work in batches (several
    /// transactions) as long as each record is deleted exactly once and a failure part-way
    /// leaves the rest for the next call.
    ///
    /// # Errors
    /// A storage error.
    fn purge_expired(&self, now_ms: u64) -> Result<Vec<String>, Error>;

    /// Claims up to `max` records due a reminder, in one atomic step: each record that is
    /// **sealed**, has **`reveal_count == 0`**, **`now_ms < expires_at_ms <= due_by_ms`**
    /// (strict at `now_ms`: a record expiring exactly now is expired; inclusive at
    /// `due_by_ms`), has **no reminded mark**, and whose **lease is absent or
    /// `lease_until <= now_ms`** (a lease ending exactly now is over), gets its lease set to
    /// `lease_until_ms`, and is returned with its `expires_at_ms`. Earliest expiry first
    /// when more than `max` are due (a store may return them in any order). `max == 0`
    /// claims nothing.
    ///
    /// Tombstones (revoked or expired) and revealed records are never claimed. Two
    /// concurrent calls (from any process) never return the same record: the selection and
    /// the lease update are one step (PostgreSQL: a CTE `SELECT … FOR UPDATE SKIP LOCKED`
    /// feeding the `UPDATE`; SQLite: one `BEGIN IMMEDIATE` transaction). A claimed record
    /// that is neither marked nor revealed is claimed again by the first call whose
    /// `now_ms >= lease_until_ms`: that is how a reminder lost to a crash between claim and
    /// send still goes out.
    ///
    /// The reminder state (lease and mark) is bookkeeping beside the record, like the
    /// reveal count, but **not part of [`StoredRecord`]**: it carries no secret, is not
    /// authenticated, and must not change the record's stable encoding. `load` does not
    /// return it; [`purge_expired`](Self::purge_expired) deletes it with the record, and a
    /// record inserted later under the same order id starts without one.
    ///
    /// # Errors
    /// A storage error.
    fn claim_reminders(
        &self,
        now_ms: u64,
        due_by_ms: u64,
        lease_until_ms: u64,
        max: usize,
    ) -> Result<Vec<ReminderClaim>, Error>;

    /// Sets the durable reminded mark (at `now_ms`) on the record, whatever its state,
    /// returning true if it was not marked before; false (changing nothing) if it is
    /// already marked or missing. A marked record is never claimed again. Durable: once
    /// this returns `Ok`, a crash does not undo it.
    ///
    /// # Errors
    /// A storage error.
    fn mark_reminded(&self, order_id: &str, now_ms: u64) -> Result<bool, Error>;
}

/// One record [`RecordStore::claim_reminders`] leased: what a store returns.
// Every store builds it from two columns; a new field must break each store's build rather
// than be left unset, so this stays exhaustive (like `StoredKey`).
#[allow(clippy::exhaustive_structs)]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReminderClaim {
    /// The order.
    pub order_id: String,
    /// Its expiry (ms since 1970, UTC), exactly as stored.
    pub expires_at_ms: u64,
}

/// A record key for the [`KeyStore`]: its id, when its record expires, and the key blob.
// Every key store builds and persists every field: a new one must break each store's build
// rather than be dropped silently, so this stays exhaustive.
#[allow(clippy::exhaustive_structs)]
pub struct StoredKey {
    /// The id the record names ([`StoredRecord::key_id`]).
    pub id: KeyId,
    /// The record's expiry (ms since 1970): the key is destroyed by the first purge at or
    /// after it, whether or not its record still exists.
    pub expires_at_ms: u64,
    /// The raw 32-byte key, or what a [`KeyWrapper`] made of it.
    pub blob: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoredKey")
            .field("id", &self.id)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// Where record keys live: one per record, apart from the records, never backed up.
///
/// Each entry is a [`StoredKey`]: a random 128-bit [`KeyId`] (the record names it; it is
/// not secret and says nothing), the **expiry of the record the key opens**
/// (`expires_at_ms`, ms since 1970, UTC: not an epoch number and not a period), and the key
/// blob. Blobs are opaque: raw 32-byte keys, or whatever a [`KeyWrapper`] made of them; a
/// store returns them byte for byte. A key must survive until its expiry and be destroyed
/// by the first [`destroy_expired`](Self::destroy_expired) whose `now_ms >= expires_at_ms`
/// (the same edge as [`RecordStore::purge_expired`]), whether or not its record exists (a
/// crash between the two writes of an issue leaves such orphans). Like the record store, a
/// key store compares with the `now_ms` it is given, never its own clock, and each method
/// is one atomic step; the `conformance` suite checks both.
///
/// "Destroy" means the bytes are gone from this store's files when the method returns
/// `Ok`: a store that cannot promise that yet returns [`Error::ShreddingIncomplete`] and
/// finishes on the next call, and one whose deletes leave copies (a database with MVCC, WAL
/// archives or backups) must only ever hold blobs wrapped by a destroying [`KeyWrapper`].
pub trait KeyStore: Send + Sync {
    /// Inserts every key, or none: [`Error::AlreadyExists`] if an id is taken (in the
    /// store, twice in `keys`, or by a concurrent insert).
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], or a storage error.
    fn insert_all(&self, keys: &[StoredKey]) -> Result<(), Error>;

    /// The key blob for `id`, exactly as inserted, if it still exists.
    ///
    /// # Errors
    /// A storage error.
    fn get(&self, id: &KeyId) -> Result<Option<Zeroizing<Vec<u8>>>, Error>;

    /// Destroys the keys with these ids (ids without a key are skipped), returning how many
    /// were destroyed. Finishes any destruction an earlier call left incomplete.
    ///
    /// # Errors
    /// [`Error::ShreddingIncomplete`] (retry), or a storage error.
    fn destroy(&self, ids: &[KeyId]) -> Result<u64, Error>;

    /// Destroys every key with `expires_at_ms <= now_ms` (the same edge as
    /// [`RecordStore::purge_expired`]), orphans included, returning how many. Concurrent
    /// calls destroy (and count) each key exactly once between them.
    ///
    /// # Errors
    /// [`Error::ShreddingIncomplete`] (retry), or a storage error.
    fn destroy_expired(&self, now_ms: u64) -> Result<u64, Error>;

    /// How many keys the store holds (for audits and tests).
    ///
    /// # Errors
    /// A storage error.
    fn count(&self) -> Result<u64, Error>;
}

/// An optional hook that wraps record keys before they reach the [`KeyStore`], e.g. under a
/// KMS or HSM key, so the key store alone reveals nothing.
///
/// A wrapper that holds destroyable wrapping keys (one per period of expiry times, say)
/// must wrap each record key under a wrapping key that outlives `expires_at_ms`
/// ([`period_end`] gives the usual choice) and destroy, in
/// [`destroy_expired`](Self::destroy_expired), exactly the wrapping keys whose every wrapped
/// key has expired.
pub trait KeyWrapper: Send + Sync {
    /// Wraps a fresh 32-byte record key whose record expires at `expires_at_ms`.
    ///
    /// # Errors
    /// [`Error::KeyWrap`] when the KMS refuses or fails.
    fn wrap(&self, id: &KeyId, expires_at_ms: u64, key: &[u8]) -> Result<Vec<u8>, Error>;

    /// Unwraps what [`wrap`](Self::wrap) returned for the same id and expiry.
    ///
    /// # Errors
    /// [`Error::KeyWrap`] when the KMS refuses or fails (or the wrapping key is destroyed).
    fn unwrap(
        &self,
        id: &KeyId,
        expires_at_ms: u64,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error>;

    /// Called by every purge after the key store's own expired keys are destroyed: destroys
    /// every wrapping key all of whose wrapped keys expired at or before `now_ms`, returning
    /// how many. The default holds no destroyable keys and destroys nothing.
    ///
    /// # Errors
    /// [`Error::KeyWrap`], or [`Error::ShreddingIncomplete`] (retry).
    fn destroy_expired(&self, now_ms: u64) -> Result<u64, Error> {
        let _ = now_ms;
        Ok(0)
    }
}

/// The end of the wrapping-key period that covers `expires_at_ms`, for periods of
/// `period_ms`: the first multiple of `period_ms` at or after the expiry, so a wrapping key
/// destroyed at its period's end never outlives a record under it by more than one period,
/// and never dies before one. `None` for a zero period or an overflow.
#[must_use]
pub fn period_end(expires_at_ms: u64, period_ms: u64) -> Option<u64> {
    if period_ms == 0 {
        return None;
    }
    expires_at_ms.div_ceil(period_ms).checked_mul(period_ms)
}

/// The time source. Tests move a [`ManualClock`]; nothing in this crate sleeps.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
// Stateless by definition: the OS clock has nothing to configure.
#[allow(clippy::exhaustive_structs)]
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
#[non_exhaustive]
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
// Stateless by definition: dropping every event has nothing to configure.
#[allow(clippy::exhaustive_structs)]
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

/// The largest reveal count a store keeps (SQLite's and PostgreSQL's integer maximum).
pub(crate) const REVEAL_COUNT_MAX: u64 = i64::MAX.unsigned_abs();

/// Records in memory.
#[derive(Debug, Default)]
pub struct MemoryRecordStore {
    inner: Mutex<MemoryRecords>,
}

/// The records and, apart from them, their reminder bookkeeping (see
/// [`RecordStore::claim_reminders`] for why it is not in [`StoredRecord`]).
#[derive(Debug, Default)]
struct MemoryRecords {
    records: HashMap<String, StoredRecord>,
    reminders: HashMap<String, ReminderState>,
}

/// A record's reminder lease and mark, both ms since 1970.
#[derive(Clone, Copy, Debug, Default)]
struct ReminderState {
    lease_until_ms: Option<u64>,
    reminded_at_ms: Option<u64>,
}

impl MemoryRecordStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record, encoded with [`StoredRecord::encode`]: what a backup would hold.
    ///
    /// # Errors
    /// As [`StoredRecord::encode`] (only for a record put in with [`overwrite`](Self::overwrite)).
    pub fn snapshot(&self) -> Result<Vec<Vec<u8>>, Error> {
        lock(&self.inner)
            .records
            .values()
            .map(StoredRecord::encode)
            .collect()
    }

    /// Replaces a record as an attacker with write access to the store would (tests). Its
    /// reminder state is kept.
    pub fn overwrite(&self, record: StoredRecord) {
        lock(&self.inner)
            .records
            .insert(record.order_id.clone(), record);
    }
}

impl RecordStore for MemoryRecordStore {
    fn insert_all(&self, records: &[StoredRecord]) -> Result<(), Error> {
        let mut inner = lock(&self.inner);
        let mut seen = std::collections::HashSet::new();
        for r in records {
            if inner.records.contains_key(&r.order_id) || !seen.insert(r.order_id.as_str()) {
                return Err(Error::AlreadyExists);
            }
        }
        for r in records {
            inner.reminders.remove(&r.order_id);
            inner.records.insert(r.order_id.clone(), r.clone());
        }
        Ok(())
    }

    fn load(&self, order_id: &str) -> Result<Option<StoredRecord>, Error> {
        Ok(lock(&self.inner).records.get(order_id).cloned())
    }

    fn count_reveal(
        &self,
        order_id: &str,
        now_ms: u64,
        max_count: u64,
    ) -> Result<Option<u64>, Error> {
        let mut inner = lock(&self.inner);
        match inner.records.get_mut(order_id) {
            Some(r)
                if matches!(r.body, RecordBody::Sealed { .. })
                    && r.expires_at_ms > now_ms
                    && r.reveal_count < max_count =>
            {
                if r.reveal_count < REVEAL_COUNT_MAX {
                    r.reveal_count += 1;
                }
                Ok(Some(r.reveal_count))
            }
            _ => Ok(None),
        }
    }

    fn destroy(&self, order_id: &str, tombstone: &RecordBody) -> Result<bool, Error> {
        let mut inner = lock(&self.inner);
        match inner.records.get_mut(order_id) {
            Some(r) if matches!(r.body, RecordBody::Sealed { .. }) => {
                r.body = tombstone.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn purge_expired(&self, now_ms: u64) -> Result<Vec<String>, Error> {
        let mut inner = lock(&self.inner);
        let expired: Vec<String> = inner
            .records
            .values()
            .filter(|r| r.expires_at_ms <= now_ms)
            .map(|r| r.order_id.clone())
            .collect();
        for id in &expired {
            inner.records.remove(id);
            inner.reminders.remove(id);
        }
        Ok(expired)
    }

    fn claim_reminders(
        &self,
        now_ms: u64,
        due_by_ms: u64,
        lease_until_ms: u64,
        max: usize,
    ) -> Result<Vec<ReminderClaim>, Error> {
        let mut inner = lock(&self.inner);
        let MemoryRecords { records, reminders } = &mut *inner;
        let mut due: Vec<ReminderClaim> = records
            .values()
            .filter(|r| {
                let state = reminders.get(&r.order_id).copied().unwrap_or_default();
                matches!(r.body, RecordBody::Sealed { .. })
                    && r.reveal_count == 0
                    && now_ms < r.expires_at_ms
                    && r.expires_at_ms <= due_by_ms
                    && state.reminded_at_ms.is_none()
                    && state.lease_until_ms.is_none_or(|lease| lease <= now_ms)
            })
            .map(|r| ReminderClaim {
                order_id: r.order_id.clone(),
                expires_at_ms: r.expires_at_ms,
            })
            .collect();
        due.sort_unstable_by(|a, b| {
            (a.expires_at_ms, &a.order_id).cmp(&(b.expires_at_ms, &b.order_id))
        });
        due.truncate(max);
        for claim in &due {
            reminders
                .entry(claim.order_id.clone())
                .or_default()
                .lease_until_ms = Some(lease_until_ms);
        }
        Ok(due)
    }

    fn mark_reminded(&self, order_id: &str, now_ms: u64) -> Result<bool, Error> {
        let mut inner = lock(&self.inner);
        let MemoryRecords { records, reminders } = &mut *inner;
        if !records.contains_key(order_id) {
            return Ok(false);
        }
        let state = reminders.entry(order_id.to_owned()).or_default();
        if state.reminded_at_ms.is_some() {
            return Ok(false);
        }
        state.reminded_at_ms = Some(now_ms);
        Ok(true)
    }
}

/// A key's expiry (ms) and blob.
type ExpiringBlob = (u64, Zeroizing<Vec<u8>>);

/// Record keys in memory.
#[derive(Default)]
pub struct MemoryKeyStore {
    keys: Mutex<HashMap<KeyId, ExpiringBlob>>,
}

impl core::fmt::Debug for MemoryKeyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryKeyStore")
            .field("keys", &lock(&self.keys).len())
            .finish()
    }
}

impl MemoryKeyStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key blob still held: everything an attacker holding this store has (tests).
    #[must_use]
    pub fn snapshot(&self) -> Vec<Zeroizing<Vec<u8>>> {
        lock(&self.keys).values().map(|(_, b)| b.clone()).collect()
    }
}

impl KeyStore for MemoryKeyStore {
    fn insert_all(&self, keys: &[StoredKey]) -> Result<(), Error> {
        let mut map = lock(&self.keys);
        let mut seen = std::collections::HashSet::new();
        for k in keys {
            if map.contains_key(&k.id) || !seen.insert(k.id) {
                return Err(Error::AlreadyExists);
            }
        }
        for k in keys {
            map.insert(k.id, (k.expires_at_ms, k.blob.clone()));
        }
        Ok(())
    }

    fn get(&self, id: &KeyId) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        Ok(lock(&self.keys).get(id).map(|(_, b)| b.clone()))
    }

    fn destroy(&self, ids: &[KeyId]) -> Result<u64, Error> {
        let mut map = lock(&self.keys);
        // Dropping the Zeroizing values wipes the key bytes.
        let destroyed = ids.iter().filter(|id| map.remove(id).is_some()).count();
        Ok(u64::try_from(destroyed).unwrap_or(u64::MAX))
    }

    fn destroy_expired(&self, now_ms: u64) -> Result<u64, Error> {
        let mut map = lock(&self.keys);
        let before = map.len();
        map.retain(|_, (expires_at_ms, _)| *expires_at_ms > now_ms);
        Ok(u64::try_from(before - map.len()).unwrap_or(u64::MAX))
    }

    fn count(&self) -> Result<u64, Error> {
        Ok(u64::try_from(lock(&self.keys).len()).unwrap_or(u64::MAX))
    }
}
