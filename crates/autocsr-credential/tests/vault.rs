//! Vault behaviour, run against the in-memory and the SQLite stores alike.

#![cfg(feature = "sqlite")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: a failure should abort the test"
)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autocsr_credential::conformance::{FaultyRecordStore, InsertFault};
use autocsr_credential::record::{RecordBody, StoredRecord, open_record};
use autocsr_credential::{
    AuditKind, CredentialState, Error, KeyStore, KeyWrapper, ManualClock, MemoryAudit,
    MemoryKeyStore, MemoryRecordStore, RecordStore, SqliteKeyStore, SqliteRecordStore, Vault,
};
use zeroize::Zeroizing;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// Midnight UTC, so day-long epochs end exactly at whole-day expiries.
const START_SECS: u64 = 20_833 * 86_400;

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(START_SECS)
}

struct Fixture {
    vault: Vault,
    clock: Arc<ManualClock>,
    audit: Arc<MemoryAudit>,
    records: Arc<dyn RecordStore>,
    keys: Arc<dyn KeyStore>,
    memory: Option<(Arc<MemoryRecordStore>, Arc<MemoryKeyStore>)>,
    dir: Option<tempfile::TempDir>,
}

fn memory() -> Fixture {
    let records = Arc::new(MemoryRecordStore::new());
    let keys = Arc::new(MemoryKeyStore::new());
    let mut f = build(records.clone(), keys.clone(), None);
    f.memory = Some((records, keys));
    f
}

fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let records = Arc::new(SqliteRecordStore::open(&dir.path().join("r.db")).unwrap());
    let keys = Arc::new(SqliteKeyStore::open(&dir.path().join("k.db")).unwrap());
    build(records, keys, Some(dir))
}

fn build(
    records: Arc<dyn RecordStore>,
    keys: Arc<dyn KeyStore>,
    dir: Option<tempfile::TempDir>,
) -> Fixture {
    let clock = Arc::new(ManualClock::new(start()).unwrap());
    let audit = Arc::new(MemoryAudit::default());
    let vault = Vault::new(records.clone(), keys.clone())
        .with_clock(clock.clone())
        .with_audit_sink(audit.clone());
    Fixture {
        vault,
        clock,
        audit,
        records,
        keys,
        memory: None,
        dir,
    }
}

fn both(test: impl Fn(Fixture)) {
    test(memory());
    test(sqlite());
}

/// A copy of the record store as a backup holds it: the memory store's encoded records, or
/// the SQLite database file and its WAL copied byte for byte while the vault is open.
enum Backup {
    Memory(Vec<Vec<u8>>),
    Sqlite(tempfile::TempDir),
}

impl Fixture {
    fn back_up_records(&self) -> Backup {
        match (&self.memory, &self.dir) {
            (Some((records, _)), _) => Backup::Memory(records.snapshot().unwrap()),
            (None, Some(dir)) => {
                let copy = tempfile::tempdir().unwrap();
                for suffix in ["", "-wal"] {
                    let from = dir.path().join(format!("r.db{suffix}"));
                    if from.exists() {
                        std::fs::copy(&from, copy.path().join(format!("r.db{suffix}"))).unwrap();
                    }
                }
                Backup::Sqlite(copy)
            }
            (None, None) => unreachable!(),
        }
    }

    /// Every key blob the live key store holds: all an attacker with it has.
    fn live_key_blobs(&self) -> Vec<Vec<u8>> {
        match (&self.memory, &self.dir) {
            (Some((_, keys)), _) => keys.snapshot().iter().map(|k| k.to_vec()).collect(),
            (None, Some(dir)) => {
                let conn = rusqlite::Connection::open(dir.path().join("k.db")).unwrap();
                let mut stmt = conn.prepare("SELECT key FROM record_keys").unwrap();
                stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            }
            (None, None) => unreachable!(),
        }
    }
}

/// Restores a backup as a fresh record store (a copy of the copy, so it can be restored
/// again later).
fn restore(backup: &Backup) -> (Arc<dyn RecordStore>, Option<tempfile::TempDir>) {
    match backup {
        Backup::Memory(encoded) => {
            let store = Arc::new(MemoryRecordStore::new());
            for bytes in encoded {
                store.overwrite(StoredRecord::decode(bytes).unwrap());
            }
            (store, None)
        }
        Backup::Sqlite(dir) => {
            let copy = tempfile::tempdir().unwrap();
            for suffix in ["", "-wal"] {
                let from = dir.path().join(format!("r.db{suffix}"));
                if from.exists() {
                    std::fs::copy(&from, copy.path().join(format!("r.db{suffix}"))).unwrap();
                }
            }
            let store = Arc::new(SqliteRecordStore::open(&copy.path().join("r.db")).unwrap());
            (store, Some(copy))
        }
    }
}

/// Which of `ids` the restored backup, beside the live key store, still gives up: through
/// a vault whose clock the attacker set back to the issue time, and by trying every live
/// key on every record directly.
fn decryptable_from_backup(f: &Fixture, backup: &Backup, ids: &[&str]) -> Vec<String> {
    let (restored, _keep) = restore(backup);
    let attacker_clock = Arc::new(ManualClock::new(start()).unwrap());
    let attacker = Vault::new(restored.clone(), f.keys.clone()).with_clock(attacker_clock);
    let blobs = f.live_key_blobs();
    let mut open = Vec::new();
    for id in ids {
        let by_vault = attacker.reveal(id).is_ok();
        let record = restored.load(id).unwrap().unwrap();
        let by_hand = blobs.iter().any(|key| open_record(&record, key).is_ok());
        if by_vault || by_hand {
            open.push((*id).to_owned());
        }
    }
    open
}

#[test]
fn a_backup_of_the_record_store_decrypts_nothing_once_revoked_or_expired_and_purged() {
    both(|f| {
        // As in the report: two orders expiring soon, one that also gets revoked, one
        // revoked long before its expiry; and one still live, which must keep working.
        f.vault.issue("exp-1", HOUR).unwrap();
        f.vault.issue("exp-2", HOUR).unwrap();
        f.vault.issue("exp-revoked", HOUR).unwrap();
        f.vault.issue("revoked", DAY).unwrap();
        f.vault.issue("live", DAY).unwrap();
        let all = ["exp-1", "exp-2", "exp-revoked", "revoked", "live"];
        let backup = f.back_up_records();
        // Control: before anything is destroyed, the same copy gives up every code.
        assert_eq!(decryptable_from_backup(&f, &backup, &all), all);

        f.vault.revoke("revoked").unwrap();
        // Revoked means shredded at once, in the backup too, without waiting for purge.
        assert_eq!(
            decryptable_from_backup(&f, &backup, &all),
            ["exp-1", "exp-2", "exp-revoked", "live"]
        );

        f.vault.revoke("exp-revoked").unwrap();
        f.clock.advance(HOUR);
        let report = f.vault.purge().unwrap();
        assert_eq!(report.records_destroyed, 3);
        assert_eq!(report.keys_destroyed, 2);
        assert_eq!(decryptable_from_backup(&f, &backup, &all), ["live"]);
        assert!(f.vault.reveal("live").is_ok());
    });
}

#[test]
fn a_reveal_after_expiry_shreds_backups_before_any_purge() {
    both(|f| {
        f.vault.issue("late", HOUR).unwrap();
        f.vault.issue("other", HOUR).unwrap();
        let backup = f.back_up_records();
        f.clock.advance(HOUR);
        assert!(matches!(f.vault.reveal("late"), Err(Error::Expired { .. })));
        // Expired but neither revealed nor purged: still in the backup's reach, as
        // documented; the reveal at expiry shredded "late" already.
        assert_eq!(
            decryptable_from_backup(&f, &backup, &["late", "other"]),
            ["other"]
        );
        f.vault.purge().unwrap();
        assert!(decryptable_from_backup(&f, &backup, &["late", "other"]).is_empty());
    });
}

#[test]
fn a_refused_insert_leaves_no_key_behind() {
    both(|f| {
        f.vault.issue("taken", DAY).unwrap();
        assert_eq!(f.keys.count().unwrap(), 1);
        assert!(matches!(
            f.vault.issue_many(&["fresh-1", "taken", "fresh-2"], DAY),
            Err(Error::AlreadyExists)
        ));
        assert!(matches!(
            f.vault.issue("taken", DAY),
            Err(Error::AlreadyExists)
        ));
        assert_eq!(
            f.keys.count().unwrap(),
            1,
            "keys of a refused issue must go"
        );
    });
}

/// A record store that fails every insert: the crash between the two writes, as a store
/// would see it (the keys are written, the records never).
struct FailingInserts;

impl RecordStore for FailingInserts {
    fn insert_all(&self, _: &[StoredRecord]) -> Result<(), Error> {
        Err(Error::storage(std::io::Error::other("disk full")))
    }
    fn load(&self, _: &str) -> Result<Option<StoredRecord>, Error> {
        Ok(None)
    }
    fn count_reveal(&self, _: &str, _: u64, _: u64) -> Result<Option<u64>, Error> {
        Ok(None)
    }
    fn destroy(&self, _: &str, _: &RecordBody) -> Result<bool, Error> {
        Ok(false)
    }
    fn purge_expired(&self, _: u64) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }
    fn claim_reminders(
        &self,
        _: u64,
        _: u64,
        _: u64,
        _: usize,
    ) -> Result<Vec<autocsr_credential::ReminderClaim>, Error> {
        Ok(Vec::new())
    }
    fn mark_reminded(&self, _: &str, _: u64) -> Result<bool, Error> {
        Ok(false)
    }
}

/// A key store whose deletes fail: with [`FailingInserts`], an issue leaves orphan keys.
struct NoDeletes(MemoryKeyStore);

impl KeyStore for NoDeletes {
    fn insert_all(&self, keys: &[autocsr_credential::StoredKey]) -> Result<(), Error> {
        self.0.insert_all(keys)
    }
    fn get(&self, id: &autocsr_credential::KeyId) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        self.0.get(id)
    }
    fn destroy(&self, _: &[autocsr_credential::KeyId]) -> Result<u64, Error> {
        Err(Error::storage(std::io::Error::other("interrupted")))
    }
    fn destroy_expired(&self, now_ms: u64) -> Result<u64, Error> {
        self.0.destroy_expired(now_ms)
    }
    fn count(&self) -> Result<u64, Error> {
        self.0.count()
    }
}

#[test]
fn orphan_keys_from_an_interrupted_issue_are_purged_at_their_expiry() {
    let keys = Arc::new(NoDeletes(MemoryKeyStore::new()));
    let clock = Arc::new(ManualClock::new(start()).unwrap());
    let vault = Vault::new(Arc::new(FailingInserts), keys.clone()).with_clock(clock.clone());
    assert!(matches!(vault.issue("lost", HOUR), Err(Error::Storage(_))));
    assert_eq!(keys.count().unwrap(), 1, "the orphan exists");
    clock.advance(HOUR - Duration::from_millis(1));
    assert_eq!(vault.purge().unwrap().keys_destroyed, 0);
    clock.advance(Duration::from_millis(1));
    assert_eq!(vault.purge().unwrap().keys_destroyed, 1);
    assert_eq!(keys.count().unwrap(), 0);
}

/// The issue failed, but the record was stored: it must keep its key (a live record
/// without it would answer `Tampered`, an incident, on every reveal).
#[test]
fn a_record_stored_before_its_answer_was_lost_keeps_its_key() {
    let keys = Arc::new(MemoryKeyStore::new());
    let clock = Arc::new(ManualClock::new(start()).unwrap());
    let vault = Vault::new(
        Arc::new(
            FaultyRecordStore::new(Arc::new(MemoryRecordStore::new()))
                .with_insert_fault(InsertFault::AfterCommit),
        ),
        keys.clone(),
    )
    .with_clock(clock.clone());
    assert!(matches!(
        vault.issue("lost-answer", HOUR),
        Err(Error::Storage(_))
    ));
    assert_eq!(keys.count().unwrap(), 1);
    assert!(vault.reveal("lost-answer").is_ok());
    clock.advance(HOUR);
    assert_eq!(vault.purge().unwrap().keys_destroyed, 1);
}

#[test]
fn issue_reveal_then_expire_leaves_a_tombstone_until_purge() {
    both(|f| {
        let issued = f.vault.issue("ord-1", DAY).unwrap();
        assert_eq!(issued.expires_at, start() + DAY);
        let r1 = f.vault.reveal("ord-1").unwrap();
        assert_eq!(r1.code, issued.code);
        assert_eq!(r1.reveal_count, 1);
        assert_eq!(f.vault.reveal("ord-1").unwrap().reveal_count, 2);
        let status = f.vault.status("ord-1").unwrap();
        assert_eq!(status.state, CredentialState::Available);
        assert_eq!(status.reveal_count, 2);

        // One millisecond before expiry still works; at expiry it is refused and destroyed.
        f.clock
            .set(start() + DAY - Duration::from_millis(1))
            .unwrap();
        assert!(f.vault.reveal("ord-1").is_ok());
        f.clock.set(start() + DAY).unwrap();
        let expired_at = start() + DAY;
        assert!(
            matches!(f.vault.reveal("ord-1"), Err(Error::Expired { expired_at: e }) if e == expired_at)
        );
        let stored = f.records.load("ord-1").unwrap().unwrap();
        assert!(
            matches!(stored.body, RecordBody::Expired { .. }),
            "ciphertext must be gone"
        );
        // Even with the clock set back, the tombstone keeps answering Expired.
        f.clock.set(start()).unwrap();
        assert!(matches!(
            f.vault.reveal("ord-1"),
            Err(Error::Expired { .. })
        ));
        assert_eq!(
            f.vault.status("ord-1").unwrap().state,
            CredentialState::Expired
        );
        f.clock.set(start() + DAY).unwrap();
        let report = f.vault.purge().unwrap();
        assert_eq!(report.records_destroyed, 1);
        // The reveal at expiry destroyed the key already.
        assert_eq!(report.keys_destroyed, 0);
        assert!(matches!(f.vault.reveal("ord-1"), Err(Error::NotFound)));
        assert!(matches!(f.vault.status("ord-1"), Err(Error::NotFound)));

        let kinds: Vec<AuditKind> = f.audit.events().iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                AuditKind::Issued,
                AuditKind::Revealed,
                AuditKind::Revealed,
                AuditKind::Revealed,
                AuditKind::Expired,
                AuditKind::Purged
            ]
        );
        assert!(f.audit.events().iter().all(|e| e.order_id == "ord-1"));
        let debug = format!("{:?}", f.audit.events());
        let text = secrecy::ExposeSecret::expose_secret(&issued.code.reveal()).to_owned();
        assert!(!debug.contains(&text[..5]));
    });
}

#[test]
fn status_and_revoke() {
    both(|f| {
        f.vault.issue("ord-2", DAY).unwrap();
        f.vault.revoke("ord-2").unwrap();
        f.vault.revoke("ord-2").unwrap(); // idempotent
        assert!(matches!(f.vault.reveal("ord-2"), Err(Error::Revoked)));
        assert_eq!(
            f.vault.status("ord-2").unwrap().state,
            CredentialState::Revoked
        );
        assert!(matches!(
            f.records.load("ord-2").unwrap().unwrap().body,
            RecordBody::Revoked { .. }
        ));
        // The tombstone stays until the window would have closed.
        assert_eq!(f.vault.purge().unwrap().records_destroyed, 0);
        f.clock.advance(DAY);
        assert_eq!(f.vault.purge().unwrap().records_destroyed, 1);
        assert!(matches!(f.vault.revoke("ord-2"), Err(Error::NotFound)));
        assert!(matches!(f.vault.status("never"), Err(Error::NotFound)));
        assert!(matches!(f.vault.reveal("never"), Err(Error::NotFound)));

        f.vault.issue("ord-3", HOUR).unwrap();
        f.clock.advance(HOUR);
        assert_eq!(
            f.vault.status("ord-3").unwrap().state,
            CredentialState::Expired
        );
        assert!(matches!(
            f.vault.revoke("ord-3"),
            Err(Error::Expired { .. })
        ));
    });
}

#[test]
fn issuing_twice_is_refused_and_issue_many_is_all_or_nothing() {
    both(|f| {
        let first = f.vault.issue("dup", DAY).unwrap();
        assert!(matches!(
            f.vault.issue("dup", DAY),
            Err(Error::AlreadyExists)
        ));
        assert_eq!(
            f.vault.reveal("dup").unwrap().code,
            first.code,
            "no overwrite"
        );

        let batch: Vec<String> = (0..50).map(|i| format!("batch-{i}")).collect();
        let issued = f.vault.issue_many(&batch, DAY).unwrap();
        assert_eq!(issued.len(), 50);
        for (id, cred) in batch.iter().zip(&issued) {
            assert_eq!(f.vault.reveal(id).unwrap().code, cred.code);
        }
        // One id already taken: nothing of the batch is stored.
        let mixed = ["new-1", "new-2", "dup"];
        assert!(matches!(
            f.vault.issue_many(&mixed, DAY),
            Err(Error::AlreadyExists)
        ));
        assert!(matches!(f.vault.status("new-1"), Err(Error::NotFound)));
        // Repeated inside the batch.
        assert!(matches!(
            f.vault.issue_many(&["x", "x"], DAY),
            Err(Error::AlreadyExists)
        ));
        assert!(matches!(f.vault.status("x"), Err(Error::NotFound)));
    });
}

#[test]
fn bad_input_is_typed() {
    both(|f| {
        assert!(matches!(
            f.vault.issue("", DAY),
            Err(Error::InvalidOrderId { .. })
        ));
        assert!(matches!(
            f.vault.issue("a b", DAY),
            Err(Error::InvalidOrderId { .. })
        ));
        assert!(matches!(
            f.vault.issue(&"a".repeat(129), DAY),
            Err(Error::InvalidOrderId { .. })
        ));
        assert!(matches!(
            f.vault.reveal("x'; DROP TABLE records;--"),
            Err(Error::InvalidOrderId { .. })
        ));
        assert!(matches!(
            f.vault.issue("ok", Duration::ZERO),
            Err(Error::InvalidWindow)
        ));
        assert!(matches!(
            f.vault.issue("ok", Duration::MAX),
            Err(Error::InvalidWindow)
        ));
        assert!(matches!(
            f.vault.issue_many(&["ok", ""], DAY),
            Err(Error::InvalidOrderId { .. })
        ));
        assert!(matches!(f.vault.status("ok"), Err(Error::NotFound)));
    });
}

/// Writes a row as an attacker with write access to the SQLite record file would.
fn overwrite(dir: &std::path::Path, record: StoredRecord) {
    let conn = rusqlite::Connection::open(dir.join("r.db")).unwrap();
    let RecordBody::Sealed { nonce, ciphertext } = &record.body else {
        panic!("sealed only")
    };
    conn.execute(
        "INSERT OR REPLACE INTO records (order_id, format, created_at, expires_at, key_id,
         reveal_count, state, state_at, nonce, ciphertext) VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, NULL, ?6, ?7)",
        rusqlite::params![
            record.order_id,
            i64::from(record.format),
            record.created_at_ms as i64,
            record.expires_at_ms as i64,
            &record.key_id.as_bytes()[..],
            &nonce[..],
            ciphertext
        ],
    )
    .unwrap();
}

#[test]
fn records_moved_to_another_order_or_with_an_edited_expiry_are_tampered() {
    // SQLite: the attacker edits rows with plain SQL.
    let f = sqlite();
    let dir = f.dir.as_ref().unwrap().path();
    f.vault.issue("victim", DAY).unwrap();
    f.vault.issue("attacker", DAY).unwrap();
    let victim = f.records.load("victim").unwrap().unwrap();
    let mut moved = victim.clone();
    moved.order_id = "attacker".into();
    overwrite(dir, moved);
    assert!(matches!(f.vault.reveal("attacker"), Err(Error::Tampered)));

    let mut extended = victim.clone();
    extended.expires_at_ms += 3_600_000; // same key, later expiry
    overwrite(dir, extended);
    assert!(matches!(f.vault.reveal("victim"), Err(Error::Tampered)));

    // Pointed at another order's live key: the key id is bound too.
    f.vault.issue("third", DAY).unwrap();
    let third = f.records.load("third").unwrap().unwrap();
    let mut other_key = victim.clone();
    other_key.key_id = third.key_id;
    overwrite(dir, other_key);
    assert!(matches!(f.vault.reveal("victim"), Err(Error::Tampered)));

    let mut no_key = victim.clone();
    no_key.key_id = autocsr_credential::KeyId::from_bytes([0; 16]);
    overwrite(dir, no_key);
    assert!(matches!(f.vault.reveal("victim"), Err(Error::Tampered)));

    // Times this version never writes: refused by every read path, never a panic.
    let mut forever = victim.clone();
    forever.expires_at_ms = 253_402_300_800_000;
    overwrite(dir, forever);
    assert!(matches!(f.vault.reveal("victim"), Err(Error::Tampered)));
    assert!(matches!(f.vault.status("victim"), Err(Error::Tampered)));
    assert!(matches!(f.vault.revoke("victim"), Err(Error::Tampered)));

    // The untouched original still opens: the edits above, not the setup, failed.
    overwrite(dir, victim.clone());
    assert!(f.vault.reveal("victim").is_ok());

    // Memory store: same edits through its test hook.
    let records = Arc::new(MemoryRecordStore::new());
    let vault = Vault::new(records.clone(), Arc::new(MemoryKeyStore::new()));
    vault.issue("victim", DAY).unwrap();
    vault.issue("attacker", DAY).unwrap();
    let victim = records.load("victim").unwrap().unwrap();
    let mut moved = victim.clone();
    moved.order_id = "attacker".into();
    records.overwrite(moved);
    assert!(matches!(vault.reveal("attacker"), Err(Error::Tampered)));
    let mut extended = victim;
    extended.expires_at_ms += 1;
    records.overwrite(extended);
    assert!(matches!(vault.reveal("victim"), Err(Error::Tampered)));
}

/// A toy "HSM": one random pad per period of expiry times (an hour), XORed over the key,
/// counting calls; `destroy_expired` forgets the pads of ended periods, as an HSM would
/// destroy its wrapping keys.
#[derive(Default)]
struct PeriodWrapper {
    pads: std::sync::Mutex<std::collections::BTreeMap<u64, [u8; 32]>>,
    calls: std::sync::atomic::AtomicUsize,
}

const PERIOD_MS: u64 = 3_600_000;

impl KeyWrapper for PeriodWrapper {
    fn wrap(
        &self,
        _id: &autocsr_credential::KeyId,
        expires_at_ms: u64,
        key: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let period = autocsr_credential::period_end(expires_at_ms, PERIOD_MS).unwrap();
        let mut pads = self.pads.lock().unwrap();
        let pad = pads.entry(period).or_insert_with(|| {
            let mut pad = [0u8; 32];
            getrandom::fill(&mut pad).unwrap();
            pad
        });
        Ok(key
            .iter()
            .zip(pad.iter())
            .map(|(k, p)| k ^ p)
            .chain(*b"wrapped")
            .collect())
    }
    fn unwrap(
        &self,
        _id: &autocsr_credential::KeyId,
        expires_at_ms: u64,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let body = wrapped
            .strip_suffix(b"wrapped")
            .ok_or_else(|| Error::KeyWrap("not ours".into()))?;
        let period = autocsr_credential::period_end(expires_at_ms, PERIOD_MS).unwrap();
        let pads = self.pads.lock().unwrap();
        let pad = pads
            .get(&period)
            .ok_or_else(|| Error::KeyWrap("wrapping key destroyed".into()))?;
        Ok(Zeroizing::new(
            body.iter().zip(pad.iter()).map(|(k, p)| k ^ p).collect(),
        ))
    }
    fn destroy_expired(&self, now_ms: u64) -> Result<u64, Error> {
        let mut pads = self.pads.lock().unwrap();
        let before = pads.len();
        pads.retain(|period_end, _| *period_end > now_ms);
        Ok((before - pads.len()) as u64)
    }
}

#[test]
fn key_wrapping_hook_sees_every_key_and_purge_destroys_ended_periods() {
    let keys = Arc::new(MemoryKeyStore::new());
    let wrapper = Arc::new(PeriodWrapper::default());
    let clock = Arc::new(ManualClock::new(start()).unwrap());
    let vault = Vault::new(Arc::new(MemoryRecordStore::new()), keys.clone())
        .with_clock(clock.clone())
        .with_key_wrapper(wrapper.clone());
    let issued = vault.issue("w-1", HOUR).unwrap();
    let later = vault.issue("w-2", HOUR * 3).unwrap();
    assert_eq!(vault.reveal("w-1").unwrap().code, issued.code);
    assert_eq!(wrapper.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(
        keys.snapshot()
            .iter()
            .all(|blob| blob.ends_with(b"wrapped"))
    );
    // Without the wrapper the stored blob is not a usable key.
    let records = Arc::new(MemoryRecordStore::new());
    let unwrapped_vault = Vault::new(records.clone(), keys.clone());
    assert!(unwrapped_vault.reveal("w-1").is_err());

    clock.advance(HOUR);
    let report = vault.purge().unwrap();
    assert_eq!(report.keys_destroyed, 1);
    assert_eq!(report.wrapping_keys_destroyed, 1);
    assert_eq!(wrapper.pads.lock().unwrap().len(), 1);
    assert_eq!(vault.reveal("w-2").unwrap().code, later.code);
    clock.advance(HOUR * 2);
    let report = vault.purge().unwrap();
    assert_eq!(
        (report.keys_destroyed, report.wrapping_keys_destroyed),
        (1, 1)
    );
}

/// A wrapper whose first unwrap lets another server purge first (its clock past the
/// record's expiry and the wrapping key's period), as when a reveal races a purge.
struct PurgedDuringUnwrap {
    inner: Arc<PeriodWrapper>,
    purger: std::sync::OnceLock<Vault>,
}

impl KeyWrapper for PurgedDuringUnwrap {
    fn wrap(
        &self,
        id: &autocsr_credential::KeyId,
        expires_at_ms: u64,
        key: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.inner.wrap(id, expires_at_ms, key)
    }
    fn unwrap(
        &self,
        id: &autocsr_credential::KeyId,
        expires_at_ms: u64,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let report = self.purger.get().unwrap().purge().unwrap();
        assert_eq!(report.wrapping_keys_destroyed, 1);
        self.inner.unwrap(id, expires_at_ms, wrapped)
    }
}

/// A reveal whose wrapping key a purge elsewhere destroyed between its load and its unwrap
/// answers from the record as it is now (purged: `NotFound`), not with the KMS's error.
#[test]
fn a_reveal_racing_a_purge_on_another_server_reports_the_purge_not_a_kms_failure() {
    let records = Arc::new(MemoryRecordStore::new());
    let keys = Arc::new(MemoryKeyStore::new());
    let inner = Arc::new(PeriodWrapper::default());
    let racing = Arc::new(PurgedDuringUnwrap {
        inner: inner.clone(),
        purger: std::sync::OnceLock::new(),
    });
    // This server's clock is just before the expiry; the purger's is a period later.
    let clock = Arc::new(ManualClock::new(start()).unwrap());
    let reader = Vault::new(records.clone(), keys.clone())
        .with_clock(clock.clone())
        .with_key_wrapper(racing.clone());
    reader.issue("raced", HOUR).unwrap();
    clock.advance(HOUR - Duration::from_millis(1));
    let purger_clock = Arc::new(ManualClock::new(start() + HOUR * 3).unwrap());
    let purger = Vault::new(records, keys)
        .with_clock(purger_clock)
        .with_key_wrapper(inner);
    assert!(racing.purger.set(purger).is_ok());
    let answer = reader.reveal("raced");
    assert!(matches!(answer, Err(Error::NotFound)), "{answer:?}");
}

#[test]
fn the_window_is_bounded_before_any_work() {
    both(|f| {
        assert_eq!(autocsr_credential::MAX_WINDOW, DAY * 366);
        assert!(f.vault.issue("max", DAY * 366).is_ok());
        for window in [
            DAY * 366 + Duration::from_millis(1),
            DAY * 367,
            Duration::from_secs(7974 * 366 * 86_400),
            Duration::from_micros(999),
            Duration::MAX,
        ] {
            assert!(
                matches!(f.vault.issue("too-long", window), Err(Error::InvalidWindow)),
                "{window:?}"
            );
            assert!(matches!(
                f.vault.issue_many(&["too-long"], window),
                Err(Error::InvalidWindow)
            ));
            let code = autocsr_credential::UnlockCode::generate().unwrap();
            assert!(matches!(
                f.vault.issue_with_code("too-long", &code, window),
                Err(Error::InvalidWindow)
            ));
        }
        // Nothing was stored for the refused windows.
        assert!(matches!(f.vault.status("too-long"), Err(Error::NotFound)));
        // A clock close to year 9999: the window may not reach past it.
        f.clock
            .set(UNIX_EPOCH + Duration::from_millis(253_402_300_799_999) - DAY)
            .unwrap();
        assert!(matches!(
            f.vault.issue("late", DAY * 2),
            Err(Error::InvalidWindow)
        ));
        assert!(f.vault.issue("late", DAY).is_ok());
        assert!(
            f.clock
                .set(UNIX_EPOCH + Duration::from_millis(253_402_300_800_000))
                .is_err()
        );
    });
}

#[test]
fn issue_with_code_stores_the_callers_code_and_returns_the_expiry() {
    both(|f| {
        let code = autocsr_credential::UnlockCode::generate().unwrap();
        let expires_at: SystemTime = f.vault.issue_with_code("mine", &code, DAY).unwrap();
        assert_eq!(expires_at, start() + DAY);
        assert_eq!(f.vault.reveal("mine").unwrap().code, code);
    });
}

/// A key store that runs `hook` just before its first `get`: another process's revoke or
/// purge landing between a reveal's load of the record and its key lookup.
struct Interposed {
    inner: Arc<MemoryKeyStore>,
    hook: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl KeyStore for Interposed {
    fn insert_all(&self, keys: &[autocsr_credential::StoredKey]) -> Result<(), Error> {
        self.inner.insert_all(keys)
    }
    fn get(&self, id: &autocsr_credential::KeyId) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        self.inner.get(id)
    }
    fn destroy(&self, ids: &[autocsr_credential::KeyId]) -> Result<u64, Error> {
        self.inner.destroy(ids)
    }
    fn destroy_expired(&self, now_ms: u64) -> Result<u64, Error> {
        self.inner.destroy_expired(now_ms)
    }
    fn count(&self) -> Result<u64, Error> {
        self.inner.count()
    }
}

#[test]
fn a_reveal_racing_a_revoke_or_purge_reports_what_happened_not_tampering() {
    for racer in ["revoke", "purge"] {
        let records = Arc::new(MemoryRecordStore::new());
        let inner = Arc::new(MemoryKeyStore::new());
        let clock = Arc::new(ManualClock::new(start()).unwrap());
        let other = Arc::new(Vault::new(records.clone(), inner.clone()).with_clock(clock.clone()));
        let keys = Arc::new(Interposed {
            inner,
            hook: std::sync::Mutex::new(None),
        });
        let vault = Vault::new(records, keys.clone()).with_clock(clock.clone());
        other.issue("raced", HOUR).unwrap();
        let (other_in_hook, clock_in_hook) = (other.clone(), clock.clone());
        *keys.hook.lock().unwrap() = Some(Box::new(move || {
            if racer == "revoke" {
                other_in_hook.revoke("raced").unwrap();
            } else {
                clock_in_hook.advance(HOUR);
                other_in_hook.purge().unwrap();
            }
        }));
        let result = vault.reveal("raced");
        if racer == "revoke" {
            assert!(matches!(result, Err(Error::Revoked)), "{result:?}");
        } else {
            assert!(matches!(result, Err(Error::NotFound)), "{result:?}");
        }
    }
}

fn limit(n: u64) -> std::num::NonZeroU64 {
    std::num::NonZeroU64::new(n).unwrap()
}

#[test]
fn a_reveal_limit_allows_exactly_that_many_reveals_and_yields_to_expiry_and_revoke() {
    both(|f| {
        let vault = Vault::new(f.records.clone(), f.keys.clone())
            .with_clock(f.clock.clone())
            .with_audit_sink(f.audit.clone())
            .with_reveal_limit(limit(2));
        assert_eq!(vault.reveal_limit(), Some(limit(2)));
        assert_eq!(f.vault.reveal_limit(), None);
        let issued = vault.issue("limited", DAY).unwrap();
        vault.issue("revoked", DAY).unwrap();
        let st = vault.status("limited").unwrap();
        assert!(st.can_reveal() && !st.reveal_limit_reached);
        assert_eq!(st.reveal_limit, Some(limit(2)));
        for n in 1..=2 {
            let r = vault.reveal("limited").unwrap();
            assert_eq!((r.code == issued.code, r.reveal_count), (true, n));
        }
        for _ in 0..3 {
            assert!(matches!(
                vault.reveal("limited"),
                Err(Error::RevealLimitReached)
            ));
        }
        let st = vault.status("limited").unwrap();
        assert_eq!(st.state, CredentialState::Available);
        assert_eq!(st.reveal_count, 2, "refused reveals are not counted");
        assert!(st.reveal_limit_reached && !st.can_reveal());
        // The vault without a limit sees no limit reached.
        assert!(!f.vault.status("limited").unwrap().reveal_limit_reached);
        let revealed_events = f
            .audit
            .events()
            .iter()
            .filter(|e| e.kind == AuditKind::Revealed)
            .count();
        assert_eq!(revealed_events, 2);
        // The code is not destroyed at the limit: the key is still there.
        assert_eq!(f.keys.count().unwrap(), 2);
        vault.reveal("revoked").unwrap();
        vault.reveal("revoked").unwrap();
        vault.revoke("revoked").unwrap();
        assert!(matches!(vault.reveal("revoked"), Err(Error::Revoked)));
        f.clock.advance(DAY);
        assert!(matches!(
            vault.reveal("limited"),
            Err(Error::Expired { .. })
        ));
        // ... and the expired reveal shredded it as always.
        assert_eq!(f.keys.count().unwrap(), 0);
    });
}

/// Other servers take the last reveals under the limit between this reveal's load and its
/// count: the answer is the limit, not tampering (before the limit existed, a `None` from
/// `count_reveal` on a record still open could only mean tampering).
#[test]
fn a_reveal_losing_the_last_reveals_to_a_race_reports_the_limit() {
    let records = Arc::new(MemoryRecordStore::new());
    let inner = Arc::new(MemoryKeyStore::new());
    let clock = Arc::new(ManualClock::new(start()).unwrap());
    let other = Arc::new(
        Vault::new(records.clone(), inner.clone())
            .with_clock(clock.clone())
            .with_reveal_limit(limit(3)),
    );
    let keys = Arc::new(Interposed {
        inner,
        hook: std::sync::Mutex::new(None),
    });
    let vault = Vault::new(records, keys.clone())
        .with_clock(clock)
        .with_reveal_limit(limit(3));
    other.issue("raced", HOUR).unwrap();
    other.reveal("raced").unwrap();
    let other_in_hook = other.clone();
    *keys.hook.lock().unwrap() = Some(Box::new(move || {
        other_in_hook.reveal("raced").unwrap();
        other_in_hook.reveal("raced").unwrap();
    }));
    let result = vault.reveal("raced");
    assert!(
        matches!(result, Err(Error::RevealLimitReached)),
        "{:?}",
        result.map(|r| r.reveal_count)
    );
    assert_eq!(other.status("raced").unwrap().reveal_count, 3);
}

#[test]
fn reminder_lead_and_lease_are_checked_before_the_store_is_asked() {
    both(|f| {
        f.vault.issue("due", HOUR).unwrap();
        let max = autocsr_credential::MAX_WINDOW;
        for (lead, lease) in [
            (Duration::ZERO, HOUR),
            (HOUR, Duration::ZERO),
            (Duration::from_micros(999), HOUR),
            (HOUR, Duration::from_micros(999)),
            (max + Duration::from_millis(1), HOUR),
            (HOUR, max + Duration::from_millis(1)),
            (Duration::MAX, HOUR),
            (HOUR, Duration::MAX),
        ] {
            assert!(
                matches!(
                    f.vault.claim_reminders(lead, lease, 10),
                    Err(Error::InvalidWindow)
                ),
                "{lead:?} {lease:?}"
            );
        }
        // None of those leased anything; max 0 claims nothing either; the largest max and
        // the longest lead and lease are fine.
        assert!(f.vault.claim_reminders(max, max, 0).unwrap().is_empty());
        let due = f.vault.claim_reminders(max, max, usize::MAX).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].order_id(), "due");
        assert_eq!(due[0].expires_at(), start() + HOUR);
        assert!(matches!(
            f.vault.mark_reminded("bad/id"),
            Err(Error::InvalidOrderId { .. })
        ));
        // At the last time the vault represents, the sums still fit every store.
        f.clock
            .set(UNIX_EPOCH + Duration::from_millis(253_402_300_799_999))
            .unwrap();
        assert!(
            f.vault
                .claim_reminders(max, max, usize::MAX)
                .unwrap()
                .is_empty()
        );
    });
}

/// Two servers share the stores: one claim per order while both live; a claim lost to a
/// crash (never marked) is claimed again by the other once its lease has ended, and a
/// marked one never again.
#[test]
fn reminders_go_out_once_while_servers_live_and_again_after_a_crash() {
    both(|f| {
        let second_records: Arc<dyn RecordStore> = match &f.dir {
            Some(dir) => Arc::new(SqliteRecordStore::open(&dir.path().join("r.db")).unwrap()),
            None => f.records.clone(),
        };
        let b = Vault::new(second_records, f.keys.clone()).with_clock(f.clock.clone());
        let a = &f.vault;
        let lead = 2 * DAY;
        let lease = Duration::from_secs(600);
        a.issue("crashed", DAY).unwrap();
        a.issue("sent", DAY).unwrap();
        a.issue("revealed", DAY).unwrap();
        a.issue("revoked", DAY).unwrap();
        a.issue("later", 5 * DAY).unwrap();
        a.reveal("revealed").unwrap();
        a.revoke("revoked").unwrap();
        let ids = |due: Vec<autocsr_credential::ReminderDue>| -> Vec<String> {
            let mut ids: Vec<String> = due.iter().map(|d| d.order_id().to_owned()).collect();
            ids.sort();
            ids
        };
        assert_eq!(
            ids(a.claim_reminders(lead, lease, 10).unwrap()),
            ["crashed", "sent"]
        );
        assert!(b.claim_reminders(lead, lease, 10).unwrap().is_empty());
        assert!(a.mark_reminded("sent").unwrap());
        assert!(!b.mark_reminded("sent").unwrap());
        // "crashed" was claimed by a server that died before sending.
        f.clock.advance(lease - Duration::from_millis(1));
        assert!(b.claim_reminders(lead, lease, 10).unwrap().is_empty());
        f.clock.advance(Duration::from_millis(1));
        assert_eq!(
            ids(b.claim_reminders(lead, lease, 10).unwrap()),
            ["crashed"]
        );
        assert!(b.mark_reminded("crashed").unwrap());
        f.clock.advance(DAY - lease - Duration::from_millis(1));
        assert!(a.claim_reminders(lead, lease, 10).unwrap().is_empty());
        // Three days later the long one is due, once.
        f.clock.advance(3 * DAY);
        assert_eq!(ids(a.claim_reminders(lead, lease, 10).unwrap()), ["later"]);
        assert!(b.claim_reminders(lead, lease, 10).unwrap().is_empty());
        // Purge takes the reminder state with the records.
        f.clock.advance(2 * DAY);
        assert_eq!(a.purge().unwrap().records_destroyed, 5);
        assert!(!a.mark_reminded("later").unwrap());
    });
}

/// A claimed row that fails the vault's read checks (edited times, an order id the vault
/// refuses) is skipped, never fatal to the other claims, and never returned later.
#[test]
fn claims_of_tampered_rows_are_skipped_not_fatal() {
    let f = sqlite();
    let dir = f.dir.as_ref().unwrap().path();
    f.vault.issue("honest", DAY).unwrap();
    f.vault.issue("edited", DAY).unwrap();
    let mut edited = f.records.load("edited").unwrap().unwrap();
    // A window of years: a time this version never writes.
    edited.created_at_ms = 0;
    overwrite(dir, edited.clone());
    let mut renamed = edited.clone();
    renamed.created_at_ms = f.records.load("honest").unwrap().unwrap().created_at_ms;
    renamed.order_id = "bad/order id".into();
    overwrite(dir, renamed);
    assert!(matches!(f.vault.status("edited"), Err(Error::Tampered)));
    let due = f.vault.claim_reminders(2 * DAY, HOUR, 10).unwrap();
    let ids: Vec<&str> = due.iter().map(|d| d.order_id()).collect();
    assert_eq!(ids, ["honest"]);
    assert!(f.vault.mark_reminded("honest").unwrap());
    f.clock.advance(HOUR);
    assert!(
        f.vault
            .claim_reminders(2 * DAY, HOUR, 10)
            .unwrap()
            .is_empty()
    );

    // The same through the memory store.
    let f = memory();
    let (records, _) = f.memory.as_ref().unwrap();
    f.vault.issue("honest", DAY).unwrap();
    f.vault.issue("edited", DAY).unwrap();
    let mut edited = records.load("edited").unwrap().unwrap();
    edited.format = 9;
    records.overwrite(edited);
    let due = f.vault.claim_reminders(2 * DAY, HOUR, 10).unwrap();
    let ids: Vec<&str> = due.iter().map(|d| d.order_id()).collect();
    assert_eq!(ids, ["honest"]);
}
