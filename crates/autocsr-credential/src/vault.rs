//! The expiring, crypto-shredding vault.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use crate::record::{
    self, KEY_LEN, NONCE_LEN, RecordBody, StoredRecord, from_millis, to_millis, validate_order_id,
};
use crate::store::{
    AuditEvent, AuditKind, AuditSink, Clock, KeyStore, KeyWrapper, MemoryKeyStore,
    MemoryRecordStore, NoAudit, RecordStore, SystemClock,
};
use crate::{CodeLength, Error, UnlockCode};

/// The default credential window: 7 days.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// The default epoch length: one epoch key per expiry day.
pub const DEFAULT_EPOCH: Duration = Duration::from_secs(24 * 60 * 60);

/// A freshly issued credential: the code to seal the archive with, and when it expires.
#[derive(Debug)]
pub struct IssuedCredential {
    /// The unlock code (the archive password).
    pub code: UnlockCode,
    /// When the reveal window closes.
    pub expires_at: SystemTime,
}

/// A successful reveal.
#[derive(Debug)]
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
pub struct Status {
    /// Available, expired or revoked.
    pub state: CredentialState,
    /// When it was issued.
    pub created_at: SystemTime,
    /// When the window closes (or closed).
    pub expires_at: SystemTime,
    /// Successful reveals so far.
    pub reveal_count: u64,
}

/// What a purge destroyed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Records deleted (expired ones and tombstones whose window has closed).
    pub records_destroyed: u64,
    /// Epoch keys destroyed (every record under them has expired).
    pub epoch_keys_destroyed: u64,
}

/// The credential vault: issues codes, reveals them within their window, then forgets them.
///
/// Records are AES-256-GCM ciphertexts in a [`RecordStore`]; their epoch keys live apart in
/// a [`KeyStore`]. [`purge`](Self::purge) deletes expired records and then every epoch key
/// whose records have all expired, so no copy of the record store can be read afterwards.
pub struct Vault {
    records: Arc<dyn RecordStore>,
    keys: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    audit: Arc<dyn AuditSink>,
    key_wrapper: Option<Arc<dyn KeyWrapper>>,
    epoch_ms: u64,
    code_length: CodeLength,
}

impl core::fmt::Debug for Vault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vault")
            .field("epoch_ms", &self.epoch_ms)
            .field("code_length", &self.code_length)
            .field("key_wrapper", &self.key_wrapper.is_some())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// A vault over the given stores, with the system clock, no audit sink, no key
    /// wrapping, daily epochs and default-length codes.
    #[must_use]
    pub fn new<R: RecordStore + 'static, K: KeyStore + 'static>(
        records: Arc<R>,
        keys: Arc<K>,
    ) -> Self {
        Self {
            records,
            keys,
            clock: Arc::new(SystemClock),
            audit: Arc::new(NoAudit),
            key_wrapper: None,
            epoch_ms: DEFAULT_EPOCH.as_secs() * 1000,
            code_length: CodeLength::DEFAULT,
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
    pub fn with_clock<C: Clock + 'static>(mut self, clock: Arc<C>) -> Self {
        self.clock = clock;
        self
    }

    /// Sends audit events to `sink`.
    #[must_use]
    pub fn with_audit_sink<A: AuditSink + 'static>(mut self, sink: Arc<A>) -> Self {
        self.audit = sink;
        self
    }

    /// Wraps every new epoch key with `wrapper` (e.g. a KMS) before it reaches the key store.
    #[must_use]
    pub fn with_key_wrapper<W: KeyWrapper + 'static>(mut self, wrapper: Arc<W>) -> Self {
        self.key_wrapper = Some(wrapper);
        self
    }

    /// Sets the epoch length (default one day). Shorter epochs shred sooner after expiry
    /// but create more keys.
    ///
    /// # Errors
    /// [`Error::InvalidWindow`] for an epoch shorter than one millisecond or beyond range.
    pub fn with_epoch_length(mut self, epoch: Duration) -> Result<Self, Error> {
        let ms = u64::try_from(epoch.as_millis()).map_err(|_| Error::InvalidWindow)?;
        if ms == 0 || ms > 1 << 40 {
            return Err(Error::InvalidWindow);
        }
        self.epoch_ms = ms;
        Ok(self)
    }

    /// Sets the length of the codes [`issue`](Self::issue) draws.
    #[must_use]
    pub fn with_code_length(mut self, length: CodeLength) -> Self {
        self.code_length = length;
        self
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
    /// [`Error::InvalidOrderId`], [`Error::InvalidWindow`] (zero or out of range),
    /// [`Error::AlreadyExists`] (never overwrites), [`Error::Randomness`], storage errors.
    pub fn issue(&self, order_id: &str, window: Duration) -> Result<IssuedCredential, Error> {
        let code = UnlockCode::generate_os(self.code_length)?;
        let expires_at = self.store_codes(&[(order_id, &code)], window)?;
        Ok(IssuedCredential { code, expires_at })
    }

    /// Stores a code the caller drew already (the pipeline seals and verifies the archive
    /// with it before anything is stored).
    ///
    /// # Errors
    /// As [`issue`](Self::issue).
    pub fn issue_with_code(
        &self,
        order_id: &str,
        code: &UnlockCode,
        window: Duration,
    ) -> Result<IssuedCredential, Error> {
        let expires_at = self.store_codes(&[(order_id, code)], window)?;
        Ok(IssuedCredential {
            code: code.clone(),
            expires_at,
        })
    }

    /// Issues one credential per order id, all in one transaction (all or none).
    ///
    /// # Errors
    /// As [`issue`](Self::issue); [`Error::AlreadyExists`] if any id is taken or repeated,
    /// in which case nothing is stored.
    pub fn issue_many<S: AsRef<str>>(
        &self,
        order_ids: &[S],
        window: Duration,
    ) -> Result<Vec<IssuedCredential>, Error> {
        // Codes first, as `issue` does.
        let codes = order_ids
            .iter()
            .map(|_| UnlockCode::generate_os(self.code_length))
            .collect::<Result<Vec<_>, Error>>()?;
        let items: Vec<(&str, &UnlockCode)> = order_ids
            .iter()
            .map(AsRef::as_ref)
            .zip(codes.iter())
            .collect();
        let expires_at = self.store_codes(&items, window)?;
        Ok(codes
            .into_iter()
            .map(|code| IssuedCredential { code, expires_at })
            .collect())
    }

    /// The one issuing path: validates every order id, seals one record per (id, code)
    /// under the epoch key for the window, stores them all in one transaction (all or
    /// none), then records the audit events. Returns the common expiry.
    fn store_codes(
        &self,
        items: &[(&str, &UnlockCode)],
        window: Duration,
    ) -> Result<SystemTime, Error> {
        for (order_id, _) in items {
            validate_order_id(order_id)?;
        }
        let now = self.now_ms()?;
        let (expires, epoch) = self.window_bounds(now, window)?;
        let key = self.epoch_key_for_issue(epoch)?;
        let records = items
            .iter()
            .map(|&(order_id, code)| {
                record::seal(code, order_id, now, expires, epoch, &key, random_nonce()?)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        self.records.insert_all(&records)?;
        for (order_id, _) in items {
            self.emit(AuditKind::Issued, order_id, now);
        }
        Ok(from_millis(expires))
    }

    /// Reveals the code while the window is open.
    ///
    /// At or after the expiry the reveal fails with [`Error::Expired`] and destroys the
    /// ciphertext, leaving a secret-free tombstone that keeps answering `Expired` until
    /// [`purge`](Self::purge).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Expired`], [`Error::Revoked`], [`Error::Tampered`]
    /// (authentication failed or the epoch key is gone early), storage errors.
    pub fn reveal(&self, order_id: &str) -> Result<Revealed, Error> {
        validate_order_id(order_id)?;
        let now = self.now_ms()?;
        let record = self.records.load(order_id)?.ok_or(Error::NotFound)?;
        self.refuse_unless_open(&record, now)?;
        if record.key_epoch < record.expires_at_ms {
            return Err(Error::Tampered);
        }
        let key = self.epoch_key(record.key_epoch)?.ok_or(Error::Tampered)?;
        let code = record::open_record(&record, &key)?;
        let Some(reveal_count) = self.records.count_reveal(order_id, now)? else {
            // Revoked, expired or purged between the load and now: report what is there.
            drop(code);
            let current = self.records.load(order_id)?.ok_or(Error::NotFound)?;
            self.refuse_unless_open(&current, now)?;
            return Err(Error::Tampered);
        };
        self.emit(AuditKind::Revealed, order_id, now);
        Ok(Revealed {
            code,
            expires_at: from_millis(record.expires_at_ms),
            reveal_count,
        })
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
                }
                Err(Error::Expired { expired_at })
            }
        }
    }

    /// The state of a credential. Reads only; decrypts nothing.
    ///
    /// # Errors
    /// [`Error::InvalidOrderId`], [`Error::NotFound`], storage errors.
    pub fn status(&self, order_id: &str) -> Result<Status, Error> {
        validate_order_id(order_id)?;
        let now = self.now_ms()?;
        let record = self.records.load(order_id)?.ok_or(Error::NotFound)?;
        Ok(Status {
            state: state_at(&record, now),
            created_at: from_millis(record.created_at_ms),
            expires_at: from_millis(record.expires_at_ms),
            reveal_count: record.reveal_count,
        })
    }

    /// Revokes a credential: its code is destroyed now; a tombstone answers `Revoked`
    /// until the original expiry passes and a purge removes it. Revoking twice is fine.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Expired`] (the window closed first), storage errors.
    pub fn revoke(&self, order_id: &str) -> Result<(), Error> {
        validate_order_id(order_id)?;
        let now = self.now_ms()?;
        let record = self.records.load(order_id)?.ok_or(Error::NotFound)?;
        match self.refuse_unless_open(&record, now) {
            Err(Error::Revoked) => return Ok(()),
            other => other?,
        }
        if self
            .records
            .destroy(order_id, &RecordBody::Revoked { revoked_at_ms: now })?
        {
            self.emit(AuditKind::Revoked, order_id, now);
            return Ok(());
        }
        // Someone else changed it in between: answer from what is there now.
        let current = self.records.load(order_id)?.ok_or(Error::NotFound)?;
        match current.body {
            RecordBody::Revoked { .. } => Ok(()),
            _ => Err(Error::Expired {
                expired_at: from_millis(current.expires_at_ms),
            }),
        }
    }

    /// Deletes every record whose window has closed (tombstones included), then every
    /// epoch key whose records have all expired.
    ///
    /// # Errors
    /// Storage errors (a failed purge can be repeated; it never deletes a live record).
    pub fn purge(&self) -> Result<PurgeReport, Error> {
        let now = self.now_ms()?;
        let purged = self.records.purge_expired(now)?;
        let epoch_keys_destroyed = self.keys.destroy_through(now)?;
        for id in &purged {
            self.emit(AuditKind::Purged, id, now);
        }
        Ok(PurgeReport {
            records_destroyed: u64::try_from(purged.len()).unwrap_or(u64::MAX),
            epoch_keys_destroyed,
        })
    }

    /// Expiry and epoch key id for a credential issued at `now` for `window`.
    fn window_bounds(&self, now: u64, window: Duration) -> Result<(u64, u64), Error> {
        let window_ms = u64::try_from(window.as_millis()).map_err(|_| Error::InvalidWindow)?;
        if window_ms == 0 {
            return Err(Error::InvalidWindow);
        }
        let expires = now
            .checked_add(window_ms)
            .filter(|e| *e <= 1 << 61)
            .ok_or(Error::InvalidWindow)?;
        // The epoch ends at the first multiple of the epoch length at or after the expiry,
        // so the key can be destroyed exactly when all its records have expired.
        let epoch = expires
            .div_ceil(self.epoch_ms)
            .checked_mul(self.epoch_ms)
            .ok_or(Error::InvalidWindow)?;
        Ok((expires, epoch))
    }

    fn epoch_key_for_issue(&self, epoch: u64) -> Result<Zeroizing<Vec<u8>>, Error> {
        if let Some(key) = self.epoch_key(epoch)? {
            return Ok(key);
        }
        let mut fresh = Zeroizing::new(vec![0u8; KEY_LEN]);
        getrandom::fill(&mut fresh).map_err(|_| Error::Randomness)?;
        let blob = match &self.key_wrapper {
            Some(w) => Zeroizing::new(w.wrap(epoch, &fresh)?),
            None => fresh,
        };
        // A concurrent issuer may have won the race: use whichever key was stored.
        let stored = self.keys.get_or_insert(epoch, &blob)?;
        self.unwrap_key(epoch, stored)
    }

    fn epoch_key(&self, epoch: u64) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        match self.keys.get(epoch)? {
            Some(blob) => self.unwrap_key(epoch, blob).map(Some),
            None => Ok(None),
        }
    }

    fn unwrap_key(
        &self,
        epoch: u64,
        blob: Zeroizing<Vec<u8>>,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let key = match &self.key_wrapper {
            Some(w) => w.unwrap(epoch, &blob)?,
            None => blob,
        };
        if key.len() != KEY_LEN {
            return Err(Error::Malformed {
                what: "epoch key length",
            });
        }
        Ok(key)
    }
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

fn random_nonce() -> Result<[u8; NONCE_LEN], Error> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| Error::Randomness)?;
    Ok(nonce)
}
