//! The expiring, crypto-shredding vault.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use crate::record::{
    self, KEY_ID_LEN, KEY_LEN, KeyId, MAX_TIME_MS, MAX_WINDOW_MS, NONCE_LEN, RecordBody,
    StoredRecord, check_times, from_millis, to_millis, validate_order_id,
};
use crate::store::{
    AuditEvent, AuditKind, AuditSink, Clock, KeyStore, KeyWrapper, MemoryKeyStore,
    MemoryRecordStore, NoAudit, RecordStore, ReminderClaim, StoredKey, SystemClock,
};
use crate::{CodeLength, Error, UnlockCode};

/// The default credential window: 7 days.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// The longest reveal window: 366 days. The code exists so the customer can fetch the
/// archive holding the private key for a certificate request; a CA acts on a request within
/// days, and no TLS certificate may live longer than 398 days, so a window beyond a (leap)
/// year only keeps a key-unlocking secret alive for nothing. Longer is
/// [`Error::InvalidWindow`], refused before anything is drawn or stored.
pub const MAX_WINDOW: Duration = Duration::from_millis(MAX_WINDOW_MS);

/// A freshly issued credential: the code to seal the archive with, and when it expires.
#[derive(Debug)]
#[non_exhaustive]
pub struct IssuedCredential {
    /// The unlock code (the archive password).
    pub code: UnlockCode,
    /// When the reveal window closes.
    pub expires_at: SystemTime,
}

/// A successful reveal.
#[derive(Debug)]
#[non_exhaustive]
pub struct Revealed {
    /// The unlock code.
    pub code: UnlockCode,
    /// When the reveal window closes.
    pub expires_at: SystemTime,
    /// Successful reveals including this one.
    pub reveal_count: u64,
}

/// Where a credential stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialState {
    /// The code can be revealed.
    Available,
    /// The window has closed (the code is destroyed, or will be at the next reveal/purge).
    Expired,
    /// The credential was revoked and the code destroyed.
    Revoked,
}

/// The state of one credential (read without decrypting anything).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// Available, expired or revoked.
    pub state: CredentialState,
    /// When it was issued.
    pub created_at: SystemTime,
    /// When the window closes (or closed).
    pub expires_at: SystemTime,
    /// Successful reveals so far.
    pub reveal_count: u64,
    /// The vault's per-order reveal limit ([`Vault::with_reveal_limit`]), if it has one.
    pub reveal_limit: Option<NonZeroU64>,
    /// Whether the vault has a reveal limit and `reveal_count` has reached it, whatever
    /// the state: a reveal then fails with [`Error::RevealLimitReached`] (unless the state
    /// answers first with `Expired` or `Revoked`). A reveal can return the code only when
    /// the state is `Available` and this is false (see [`can_reveal`](Self::can_reveal)).
    /// Read at the time of the call: a concurrent reveal may reach the limit right after.
    pub reveal_limit_reached: bool,
}

impl Status {
    /// Whether a reveal would return the code now: `Available` and under the reveal limit.
    #[must_use]
    pub fn can_reveal(&self) -> bool {
        self.state == CredentialState::Available && !self.reveal_limit_reached
    }
}

/// An order whose code was never revealed and whose window ends within the lead time:
/// one claim of [`Vault::claim_reminders`]. Carries no secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ReminderDue {
    order_id: String,
    expires_at: SystemTime,
}

impl ReminderDue {
    /// The order; also the idempotency key to send with the reminder, so a receiver can
    /// drop the repeat a crash between claim and [`Vault::mark_reminded`] may cause.
    #[must_use]
    pub fn order_id(&self) -> &str {
        &self.order_id
    }

    /// When the order's reveal window closes.
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// What a purge destroyed. A purge that fails part-way and is repeated counts only what
/// the repeat destroyed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Records deleted (expired ones and tombstones whose window has closed).
    pub records_destroyed: u64,
    /// Record keys destroyed: those of expired records, and orphans (a key whose record was
    /// never stored because a crash or a refused insert came between the two writes).
    /// Keys of revoked records are destroyed by the revoke, not counted here.
    pub keys_destroyed: u64,
    /// Wrapping keys the [`KeyWrapper`] destroyed (0 without a destroying wrapper).
    pub wrapping_keys_destroyed: u64,
}

/// The credential vault: issues codes, reveals them within their window, then forgets them.
///
/// Each record is an AES-256-GCM ciphertext in a [`RecordStore`] under its own random key,
/// which lives apart in a [`KeyStore`]. A revoke, a reveal after expiry and every
/// [`purge`](Self::purge) after expiry destroy that key, so no copy of the record store can
/// be read for that code afterwards.
pub struct Vault {
    records: Arc<dyn RecordStore>,
    keys: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    audit: Arc<dyn AuditSink>,
    key_wrapper: Option<Arc<dyn KeyWrapper>>,
    code_length: CodeLength,
    reveal_limit: Option<NonZeroU64>,
}

impl core::fmt::Debug for Vault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vault")
            .field("code_length", &self.code_length)
            .field("key_wrapper", &self.key_wrapper.is_some())
            .field("reveal_limit", &self.reveal_limit)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// A vault over the given stores, with the system clock, no audit sink, no key
    /// wrapping and default-length codes. Takes trait objects: an `Arc` of any store
    /// coerces, and a host may pick its stores at run time.
    #[must_use]
    pub fn new(records: Arc<dyn RecordStore>, keys: Arc<dyn KeyStore>) -> Self {
        Self {
            records,
            keys,
            clock: Arc::new(SystemClock),
            audit: Arc::new(NoAudit),
            key_wrapper: None,
            code_length: CodeLength::DEFAULT,
            reveal_limit: None,
        }
    }

    /// A vault that lives in memory only (tests and examples).
    #[must_use]
    pub fn in_memory() -> Self {
        Self::new(
            Arc::new(MemoryRecordStore::new()),
            Arc::new(MemoryKeyStore::new()),
        )
    }

    /// Uses `clock` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sends audit events to `sink`.
    #[must_use]
    pub fn with_audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    /// Wraps every new record key with `wrapper` (e.g. a KMS or HSM) before it reaches the
    /// key store, and lets every purge destroy the wrapper's expired wrapping keys.
    #[must_use]
    pub fn with_key_wrapper(mut self, wrapper: Arc<dyn KeyWrapper>) -> Self {
        self.key_wrapper = Some(wrapper);
        self
    }

    /// Sets the length of the codes [`issue`](Self::issue) draws.
    #[must_use]
    pub fn with_code_length(mut self, length: CodeLength) -> Self {
        self.code_length = length;
        self
    }

    /// Lets each order's code be revealed at most `limit` times (by default there is no
    /// limit). Enforced by the store in the same atomic step that counts a reveal, so any
    /// number of concurrent reveals, on any number of servers sharing the stores, return
    /// the code at most `limit` times in all; the rest fail with
    /// [`Error::RevealLimitReached`]. The limit is this vault's setting, not stored with the
    /// record: servers sharing a vault must use the same one, and raising it lets orders at
    /// the old limit be revealed again. Reaching it destroys nothing: the code stays until
    /// its expiry and purge, or a [`revoke`](Self::revoke).
    #[must_use]
    pub fn with_reveal_limit(mut self, limit: NonZeroU64) -> Self {
        self.reveal_limit = Some(limit);
        self
    }

    /// The reveal limit set with [`with_reveal_limit`](Self::with_reveal_limit), if any.
    #[must_use]
    pub fn reveal_limit(&self) -> Option<NonZeroU64> {
        self.reveal_limit
    }

    /// Whether `count` reveals reach this vault's limit.
    fn at_limit(&self, count: u64) -> bool {
        self.reveal_limit.is_some_and(|limit| count >= limit.get())
    }

    fn now_ms(&self) -> Result<u64, Error> {
        to_millis(self.clock.now())
    }

    fn emit(&self, kind: AuditKind, order_id: &str, at_ms: u64) {
        self.audit.record(&AuditEvent {
            kind,
            order_id: order_id.to_owned(),
            at: from_millis(at_ms),
        });
    }

    /// Issues a new credential for `order_id`, valid for `window` from now.
    ///
    /// # Errors
    /// [`Error::InvalidOrderId`], [`Error::InvalidWindow`] (zero, over [`MAX_WINDOW`], or
    /// ending after year 9999), [`Error::AlreadyExists`] (never overwrites),
    /// [`Error::Randomness`], [`Error::KeyWrap`], storage errors.
    pub fn issue(&self, order_id: &str, window: Duration) -> Result<IssuedCredential, Error> {
        let now = self.now_ms()?;
        let expires = window_end(now, window)?;
        let code = UnlockCode::generate_os(self.code_length)?;
        self.store_codes(&[(order_id, &code)], now, expires)?;
        Ok(IssuedCredential {
            code,
            expires_at: from_millis(expires),
        })
    }

    /// Stores a code the caller drew already (the pipeline seals and verifies the archive
    /// with it before anything is stored) and returns when its window closes. The code is
    /// not copied into the result: the caller has it.
    ///
    /// # Errors
    /// As [`issue`](Self::issue).
    pub fn issue_with_code(
        &self,
        order_id: &str,
        code: &UnlockCode,
        window: Duration,
    ) -> Result<SystemTime, Error> {
        let now = self.now_ms()?;
        let expires = window_end(now, window)?;
        self.store_codes(&[(order_id, code)], now, expires)?;
        Ok(from_millis(expires))
    }

    /// Issues one credential per order id, all in one transaction per store (all or
    /// none). The results come back in the order of `order_ids`.
    ///
    /// # Errors
    /// As [`issue`](Self::issue); [`Error::AlreadyExists`] if any id is taken or repeated,
    /// in which case nothing is stored.
    pub fn issue_many<S: AsRef<str>>(
        &self,
        order_ids: &[S],
        window: Duration,
    ) -> Result<Vec<IssuedCredential>, Error> {
        let now = self.now_ms()?;
        let expires = window_end(now, window)?;
        let codes = order_ids
            .iter()
            .map(|_| UnlockCode::generate_os(self.code_length))
            .collect::<Result<Vec<_>, Error>>()?;
        let items: Vec<(&str, &UnlockCode)> = order_ids
            .iter()
            .map(AsRef::as_ref)
            .zip(codes.iter())
            .collect();
        self.store_codes(&items, now, expires)?;
        let expires_at = from_millis(expires);
        Ok(codes
            .into_iter()
            .map(|code| IssuedCredential { code, expires_at })
            .collect())
    }

    /// The one issuing path: validates every order id, seals each code under a fresh key,
    /// stores the keys (one transaction), then the records (one transaction, all or none),
    /// then records the audit events.
    ///
    /// Keys go first so a stored record always has its key. A crash between the two writes
    /// leaves only orphan keys, which encrypt nothing that was ever stored and which purge
    /// destroys at their expiry like any other. Keys are destroyed at once only when the
    /// record store refused the records (`AlreadyExists`); after any other error the
    /// records may have been stored (a database that committed them and lost the
    /// connection before answering), and destroying their keys would leave live records
    /// that answer `Tampered`.
    fn store_codes(
        &self,
        items: &[(&str, &UnlockCode)],
        now: u64,
        expires: u64,
    ) -> Result<(), Error> {
        for (order_id, _) in items {
            validate_order_id(order_id)?;
        }
        let mut records = Vec::with_capacity(items.len());
        let mut keys = Vec::with_capacity(items.len());
        for &(order_id, code) in items {
            // Key, key id and nonce from one read of the OS generator (one syscall).
            let mut fresh = Zeroizing::new([0u8; KEY_LEN + KEY_ID_LEN + NONCE_LEN]);
            getrandom::fill(fresh.as_mut_slice()).map_err(|_| Error::Randomness)?;
            let (key_bytes, rest) = fresh.split_at(KEY_LEN);
            let (id_bytes, nonce_bytes) = rest.split_at(KEY_ID_LEN);
            let key = Zeroizing::new(key_bytes.to_vec());
            let random: &[u8; KEY_ID_LEN] = id_bytes
                .try_into()
                .map_err(|_| Error::Malformed { what: "key id" })?;
            let id = KeyId::issued_at(now, random);
            let nonce: [u8; NONCE_LEN] = nonce_bytes
                .try_into()
                .map_err(|_| Error::Malformed { what: "nonce" })?;
            records.push(record::seal(code, order_id, now, expires, id, &key, nonce)?);
            let blob = match &self.key_wrapper {
                Some(w) => Zeroizing::new(w.wrap(&id, expires, &key)?),
                None => key,
            };
            keys.push(StoredKey {
                id,
                expires_at_ms: expires,
                blob,
            });
        }
        self.keys.insert_all(&keys)?;
        if let Err(error) = self.records.insert_all(&records) {
            if matches!(error, Error::AlreadyExists) {
                // Refused: nothing under these keys was stored, destroy them now. Should
                // that fail too, they are orphans that purge destroys at their expiry.
                let ids: Vec<KeyId> = keys.iter().map(|k| k.id).collect();
                let _ = self.keys.destroy(&ids);
            }
            return Err(error);
        }
        for (order_id, _) in items {
            self.emit(AuditKind::Issued, order_id, now);
        }
        Ok(())
    }

    /// Reveals the code while the window is open.
    ///
    /// At or after the expiry the reveal fails with [`Error::Expired`] and destroys the
    /// ciphertext and the record's key, leaving a secret-free tombstone that keeps answering
    /// `Expired` until [`purge`](Self::purge). The reveal count only grows for a reveal
    /// that returns the code. With a [reveal limit](Self::with_reveal_limit), a reveal of
    /// an order already revealed that many times fails with
    /// [`Error::RevealLimitReached`]; the store checks the limit in the same atomic step
    /// that counts, so concurrent reveals never exceed it.
    ///
    /// What a refused reveal reports, first match wins: `NotFound`; `Tampered` for
    /// impossible stored times; `Expired` (the window has closed; destroys the code) or
    /// `Revoked`; `RevealLimitReached`; `Tampered` (authentication failed, or the key is
    /// gone early). A reveal that passed these checks but lost a race in the store (a
    /// revoke, the expiry, a purge or other reveals taking the last ones under the limit
    /// came first) reloads the record and answers the same way from what is there now.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Expired`], [`Error::Revoked`],
    /// [`Error::RevealLimitReached`], [`Error::Tampered`], [`Error::KeyWrap`], storage
    /// errors.
    pub fn reveal(&self, order_id: &str) -> Result<Revealed, Error> {
        validate_order_id(order_id)?;
        let now = self.now_ms()?;
        let record = self.load(order_id)?;
        self.refuse_unless_open(&record, now)?;
        // Before any key is read or unwrapped (an HSM call) for nothing.
        if self.at_limit(record.reveal_count) {
            return Err(Error::RevealLimitReached);
        }
        let key = match self.record_key(&record) {
            Ok(Some(key)) => key,
            Ok(None) => return Err(self.missing_key(order_id)),
            // A purge on another server, its clock past the expiry, may have destroyed the
            // wrapping key since the load: answer from the record as it is now, so a reveal
            // racing the expiry says "expired" or "not found", not a KMS failure.
            Err(error @ Error::KeyWrap(_)) => return Err(self.answer_from_current(order_id, error)),
            Err(other) => return Err(other),
        };
        let code = record::open_record(&record, &key)?;
        // No limit: u64::MAX is above every count a store holds.
        let max_count = self.reveal_limit.map_or(u64::MAX, NonZeroU64::get);
        let Some(reveal_count) = self.records.count_reveal(order_id, now, max_count)? else {
            // Revoked, expired, purged or at the limit between the load and now: report
            // what is there.
            drop(code);
            let current = self.load(order_id)?;
            self.refuse_unless_open(&current, now)?;
            if self.at_limit(current.reveal_count) {
                return Err(Error::RevealLimitReached);
            }
            return Err(Error::Tampered);
        };
        self.emit(AuditKind::Revealed, order_id, now);
        Ok(Revealed {
            code,
            expires_at: from_millis(record.expires_at_ms),
            reveal_count,
        })
    }

    /// Why a record that looked open has no key: a revoke or a purge (whose clock read the
    /// expiry) may have destroyed it since the load, so answer from the record as it is now;
    /// only a record that is still open without its key is `Tampered`.
    fn missing_key(&self, order_id: &str) -> Error {
        self.answer_from_current(order_id, Error::Tampered)
    }

    /// The error a reveal that failed with `otherwise` reports: the record's state now if it
    /// is no longer open (revoked, expired, purged), else `otherwise`.
    fn answer_from_current(&self, order_id: &str, otherwise: Error) -> Error {
        let current = self.now_ms().and_then(|now| {
            let record = self.load(order_id)?;
            self.refuse_unless_open(&record, now)
        });
        match current {
            Ok(()) => otherwise,
            Err(error) => error,
        }
    }

    /// Loads a record and refuses one of another format or with times this version never
    /// writes. A stored row
    /// that does not even decode (negative times, a bad state, a wrong-sized key id) was
    /// edited too: it is `Tampered`, like every other tampered record, so a host can alert
    /// on that one variant.
    fn load(&self, order_id: &str) -> Result<StoredRecord, Error> {
        let record = match self.records.load(order_id) {
            Ok(Some(record)) => record,
            Ok(None) => return Err(Error::NotFound),
            Err(Error::Malformed { .. }) => return Err(Error::Tampered),
            Err(other) => return Err(other),
        };
        if record.format != record::FORMAT_VERSION {
            return Err(Error::Tampered);
        }
        check_times(&record)?;
        Ok(record)
    }

    /// Refuses tombstones, and destroys a sealed record whose window has closed.
    fn refuse_unless_open(&self, record: &StoredRecord, now: u64) -> Result<(), Error> {
        let expired_at = from_millis(record.expires_at_ms);
        match state_at(record, now) {
            CredentialState::Available => Ok(()),
            CredentialState::Revoked => Err(Error::Revoked),
            CredentialState::Expired => {
                // Still sealed although its window has closed: destroy it now.
                if matches!(record.body, RecordBody::Sealed { .. }) {
                    let tombstone = RecordBody::Expired {
                        destroyed_at_ms: now,
                    };
                    if self.records.destroy(&record.order_id, &tombstone)? {
                        self.emit(AuditKind::Expired, &record.order_id, now);
                    }
                    // The key is past its expiry, so the next purge destroys it whatever
                    // happens here; the answer stays "expired" even if this fails.
                    let _ = self.keys.destroy(&[record.key_id]);
                }
                Err(Error::Expired { expired_at })
            }
        }
    }

    /// The state of a credential. Reads only; decrypts nothing (it refuses stored times
    /// this version never writes, but only `reveal` detects other tampering).
    ///
    /// # Errors
    /// [`Error::InvalidOrderId`], [`Error::NotFound`], [`Error::Tampered`], storage errors.
    pub fn status(&self, order_id: &str) -> Result<Status, Error> {
        validate_order_id(order_id)?;
        let now = self.now_ms()?;
        let record = self.load(order_id)?;
        Ok(Status {
            state: state_at(&record, now),
            created_at: from_millis(record.created_at_ms),
            expires_at: from_millis(record.expires_at_ms),
            reveal_count: record.reveal_count,
            reveal_limit: self.reveal_limit,
            reveal_limit_reached: self.at_limit(record.reveal_count),
        })
    }

    /// Claims up to `max` orders due a reminder: sealed, **never revealed**, whose window
    /// ends after now and at most `lead` from now (`now < expires_at <= now + lead`), not
    /// yet [marked](Self::mark_reminded), and not claimed by a lease that is still running.
    /// Each returned order is leased for `lease`: no other call (on this or any server
    /// sharing the stores) returns it until the lease ends. Earliest expiry first.
    ///
    /// Delivery: send the reminder for each returned order, then call
    /// [`mark_reminded`](Self::mark_reminded); a marked order is never claimed again. While
    /// the servers live, each order is claimed exactly once. If a server dies (or the send
    /// fails and is not marked) between the claim and the mark, the order is claimed again
    /// by the first call after the lease ends, so the reminder goes out **at least once**
    /// across crashes, possibly twice: send [`ReminderDue::order_id`] as the idempotency
    /// key. Choose `lease` longer than a send can take, including its retries. An order
    /// revealed, revoked or expired meanwhile is not claimed again. Reminder state is
    /// bookkeeping like the reveal count: not authenticated, no secret.
    ///
    /// Each claimed order is read back like every read path does (`reveal`, `status`): one
    /// whose record is tampered (impossible stored times, an unknown format, a row that
    /// does not decode), whose order id this vault would refuse, or that is no longer
    /// sealed, unrevealed and due as the store claimed (an edited store, a store breaking
    /// its contract, or a reveal or revoke right after the claim) is **skipped**: not
    /// returned, left leased, and skipped again by later claims until it is no longer due.
    /// It never fails the other claims. `max == 0` claims nothing.
    ///
    /// # Errors
    /// [`Error::InvalidWindow`] for a `lead` or `lease` of zero (below 1 ms) or over
    /// [`MAX_WINDOW`] (366 days), checked before the store is asked; [`Error::InvalidTime`]
    /// for a clock out of range; storage errors (claims already leased by then are claimed
    /// again once their lease ends).
    pub fn claim_reminders(
        &self,
        lead: Duration,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<ReminderDue>, Error> {
        let lead_ms = reminder_span(lead)?;
        let lease_ms = reminder_span(lease)?;
        let now = self.now_ms()?;
        if max == 0 {
            return Ok(Vec::new());
        }
        // Both at most MAX_TIME_MS + 366 days: no overflow, and within every store's i64.
        let due_by = now.saturating_add(lead_ms);
        let lease_until = now.saturating_add(lease_ms);
        let claims = self
            .records
            .claim_reminders(now, due_by, lease_until, max)?;
        let mut due = Vec::with_capacity(claims.len());
        for claim in claims {
            if self.still_due(&claim, now, due_by)? {
                due.push(ReminderDue {
                    expires_at: from_millis(claim.expires_at_ms),
                    order_id: claim.order_id,
                });
            }
        }
        due.sort_by(|a, b| (a.expires_at, &a.order_id).cmp(&(b.expires_at, &b.order_id)));
        Ok(due)
    }

    /// Whether a claim is what this vault asked for: an order id it accepts, a record that
    /// loads untampered, sealed, never revealed, with the claimed expiry in `(now,
    /// due_by]`. Only a storage error is an error.
    fn still_due(&self, claim: &ReminderClaim, now: u64, due_by: u64) -> Result<bool, Error> {
        if validate_order_id(&claim.order_id).is_err()
            || claim.expires_at_ms <= now
            || claim.expires_at_ms > due_by
        {
            return Ok(false);
        }
        let record = match self.load(&claim.order_id) {
            Ok(record) => record,
            Err(Error::NotFound | Error::Tampered) => return Ok(false),
            Err(other) => return Err(other),
        };
        Ok(matches!(record.body, RecordBody::Sealed { .. })
            && record.reveal_count == 0
            && record.expires_at_ms == claim.expires_at_ms)
    }

    /// Marks the order's reminder as sent, durably: it is never claimed again. Returns true
    /// if this call set the mark; false if it was already set or the order does not exist
    /// (purged). Call it after the reminder was delivered.
    ///
    /// # Errors
    /// [`Error::InvalidOrderId`], [`Error::InvalidTime`], storage errors.
    pub fn mark_reminded(&self, order_id: &str) -> Result<bool, Error> {
        validate_order_id(order_id)?;
        let now = self.now_ms()?;
        self.records.mark_reminded(order_id, now)
    }

    /// Revokes a credential: its ciphertext and its key are destroyed before this returns
    /// `Ok`, so no copy of the record store decrypts it any more; a tombstone answers
    /// `Revoked` until the original expiry passes and a purge removes it. Revoking twice is
    /// fine, and finishes a revoke that failed part-way.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Expired`] (the window closed first),
    /// [`Error::Tampered`], [`Error::ShreddingIncomplete`] (retry), storage errors.
    pub fn revoke(&self, order_id: &str) -> Result<(), Error> {
        validate_order_id(order_id)?;
        let now = self.now_ms()?;
        let record = self.load(order_id)?;
        match self.refuse_unless_open(&record, now) {
            Err(Error::Revoked) => return self.destroy_key(&record.key_id),
            other => other?,
        }
        // Tombstone first, key second: a crash in between leaves a revoked record whose
        // key a repeated revoke (or the purge at its expiry) destroys; never a sealed
        // record without its key.
        if self
            .records
            .destroy(order_id, &RecordBody::Revoked { revoked_at_ms: now })?
        {
            self.emit(AuditKind::Revoked, order_id, now);
            return self.destroy_key(&record.key_id);
        }
        // Someone else changed it in between: answer from what is there now.
        let current = self.load(order_id)?;
        match current.body {
            RecordBody::Revoked { .. } => self.destroy_key(&current.key_id),
            _ => Err(Error::Expired {
                expired_at: from_millis(current.expires_at_ms),
            }),
        }
    }

    fn destroy_key(&self, id: &KeyId) -> Result<(), Error> {
        self.keys.destroy(&[*id]).map(|_| ())
    }

    /// Destroys every record key whose record has expired (orphans included), then the
    /// [`KeyWrapper`]'s expired wrapping keys, then deletes every record whose window has
    /// closed (tombstones included).
    ///
    /// # Errors
    /// [`Error::ShreddingIncomplete`] (keys deleted but not yet gone from disk: retry),
    /// [`Error::KeyWrap`], storage errors. A failed purge can be repeated; it never
    /// touches a record or key inside its window.
    pub fn purge(&self) -> Result<PurgeReport, Error> {
        let now = self.now_ms()?;
        let keys_destroyed = self.keys.destroy_expired(now)?;
        let wrapping_keys_destroyed = match &self.key_wrapper {
            Some(w) => w.destroy_expired(now)?,
            None => 0,
        };
        let purged = self.records.purge_expired(now)?;
        for id in &purged {
            self.emit(AuditKind::Purged, id, now);
        }
        Ok(PurgeReport {
            records_destroyed: u64::try_from(purged.len()).unwrap_or(u64::MAX),
            keys_destroyed,
            wrapping_keys_destroyed,
        })
    }

    /// The record's key, unwrapped; `None` if the key store no longer has it.
    fn record_key(&self, record: &StoredRecord) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let Some(blob) = self.keys.get(&record.key_id)? else {
            return Ok(None);
        };
        let key = match &self.key_wrapper {
            Some(w) => w.unwrap(&record.key_id, record.expires_at_ms, &blob)?,
            None => blob,
        };
        if key.len() != KEY_LEN {
            return Err(Error::Malformed {
                what: "record key length",
            });
        }
        Ok(Some(key))
    }
}

/// The expiry of a credential issued at `now` for `window`, checked before any work.
fn window_end(now: u64, window: Duration) -> Result<u64, Error> {
    if window.is_zero() || window > MAX_WINDOW {
        return Err(Error::InvalidWindow);
    }
    let window_ms = u64::try_from(window.as_millis()).map_err(|_| Error::InvalidWindow)?;
    // A sub-millisecond window would expire when it is issued.
    if window_ms == 0 {
        return Err(Error::InvalidWindow);
    }
    now.checked_add(window_ms)
        .filter(|e| *e <= MAX_TIME_MS)
        .ok_or(Error::InvalidWindow)
}

/// A reminder lead or lease in ms: more than zero (at least 1 ms) and at most
/// [`MAX_WINDOW`].
fn reminder_span(span: Duration) -> Result<u64, Error> {
    if span > MAX_WINDOW {
        return Err(Error::InvalidWindow);
    }
    u64::try_from(span.as_millis())
        .ok()
        .filter(|ms| *ms > 0)
        .ok_or(Error::InvalidWindow)
}

/// What a record is at `now`: a sealed record is expired from its `expires_at` on, even
/// before anything has destroyed it (reads stay lazy; `reveal` and `purge` destroy).
fn state_at(record: &StoredRecord, now: u64) -> CredentialState {
    match record.body {
        RecordBody::Revoked { .. } => CredentialState::Revoked,
        RecordBody::Expired { .. } => CredentialState::Expired,
        RecordBody::Sealed { .. } if now >= record.expires_at_ms => CredentialState::Expired,
        RecordBody::Sealed { .. } => CredentialState::Available,
    }
}
