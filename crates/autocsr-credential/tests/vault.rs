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
    dir: Option<tempfile::TempDir>,
}

fn memory() -> Fixture {
    let records = Arc::new(MemoryRecordStore::new());
    let keys = Arc::new(MemoryKeyStore::new());
    build(records.clone(), keys, records, None)
}

fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let records = Arc::new(SqliteRecordStore::open(&dir.path().join("r.db")).unwrap());
    let keys = Arc::new(SqliteKeyStore::open(&dir.path().join("k.db")).unwrap());
    build(records.clone(), keys, records, Some(dir))
}

fn build<R: RecordStore + 'static, K: KeyStore + 'static>(
    r: Arc<R>,
    k: Arc<K>,
    records: Arc<dyn RecordStore>,
    dir: Option<tempfile::TempDir>,
) -> Fixture {
    let clock = Arc::new(ManualClock::new(start()).unwrap());
    let audit = Arc::new(MemoryAudit::default());
    let vault = Vault::new(r, k)
        .with_clock(clock.clone())
        .with_audit_sink(audit.clone());
    Fixture {
        vault,
        clock,
        audit,
        records,
        dir,
    }
}

fn both(test: impl Fn(Fixture)) {
    test(memory());
    test(sqlite());
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
        assert_eq!(report.epoch_keys_destroyed, 1);
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
        "INSERT OR REPLACE INTO records (order_id, format, created_at, expires_at, key_epoch,
         reveal_count, state, state_at, nonce, ciphertext) VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, NULL, ?6, ?7)",
        rusqlite::params![
            record.order_id,
            i64::from(record.format),
            record.created_at_ms as i64,
            record.expires_at_ms as i64,
            record.key_epoch as i64,
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
    extended.expires_at_ms += 3_600_000; // same epoch key, later expiry
    overwrite(dir, extended);
    assert!(matches!(f.vault.reveal("victim"), Err(Error::Tampered)));

    let mut far = victim.clone();
    far.expires_at_ms += 30 * 86_400_000; // an epoch with no key at all
    far.key_epoch += 30 * 86_400_000;
    overwrite(dir, far);
    assert!(matches!(f.vault.reveal("victim"), Err(Error::Tampered)));

    let mut early_key = victim.clone();
    early_key.key_epoch = victim.expires_at_ms - 1; // a key that would be shredded too early
    overwrite(dir, early_key);
    assert!(matches!(f.vault.reveal("victim"), Err(Error::Tampered)));

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

#[test]
fn a_backup_of_the_record_store_is_useless_after_purge() {
    let records = Arc::new(MemoryRecordStore::new());
    let keys = Arc::new(MemoryKeyStore::new());
    let clock = Arc::new(ManualClock::new(start()).unwrap());
    let vault = Vault::new(records.clone(), keys.clone()).with_clock(clock.clone());
    for day in 1..=3u32 {
        for i in 0..5 {
            vault.issue(&format!("d{day}-{i}"), DAY * day).unwrap();
        }
    }
    let backup = records.snapshot();
    assert_eq!(backup.len(), 15);
    // Before purge the backup decrypts with the key store: the test would catch a no-op.
    let decryptable_before = backup
        .iter()
        .filter(|bytes| {
            let r = StoredRecord::decode(bytes).unwrap();
            keys.get(r.key_epoch)
                .unwrap()
                .is_some_and(|k| open_record(&r, &k).is_ok())
        })
        .count();
    assert_eq!(decryptable_before, 15);

    clock.advance(DAY * 2);
    let report = vault.purge().unwrap();
    assert_eq!(report.records_destroyed, 10);
    assert_eq!(report.epoch_keys_destroyed, 2);
    // Day-3 credentials are still live and unaffected.
    assert!(vault.reveal("d3-0").is_ok());

    let remaining_keys: Vec<Zeroizing<Vec<u8>>> = keys
        .epochs()
        .unwrap()
        .into_iter()
        .map(|e| keys.get(e).unwrap().unwrap())
        .collect();
    assert_eq!(remaining_keys.len(), 1);
    for bytes in &backup {
        let record = StoredRecord::decode(bytes).unwrap();
        if record.expires_at_ms > (START_SECS + 2 * 86_400) * 1000 {
            continue; // still live, not shredded yet
        }
        assert!(keys.get(record.key_epoch).unwrap().is_none());
        for key in &remaining_keys {
            assert!(matches!(open_record(&record, key), Err(Error::Tampered)));
        }
    }
}

/// A toy "KMS": XOR with a pad, counting calls, to show keys reach the store only wrapped.
#[derive(Default)]
struct XorWrapper {
    calls: std::sync::atomic::AtomicUsize,
}

impl KeyWrapper for XorWrapper {
    fn wrap(&self, _epoch: u64, key: &[u8]) -> Result<Vec<u8>, Error> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(key.iter().map(|b| b ^ 0xA5).chain(*b"wrapped").collect())
    }
    fn unwrap(&self, _epoch: u64, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let body = wrapped
            .strip_suffix(b"wrapped")
            .ok_or_else(|| Error::KeyWrap("not ours".into()))?;
        Ok(Zeroizing::new(body.iter().map(|b| b ^ 0xA5).collect()))
    }
}

#[test]
fn key_wrapping_hook_sees_every_key() {
    let keys = Arc::new(MemoryKeyStore::new());
    let wrapper = Arc::new(XorWrapper::default());
    let vault = Vault::new(Arc::new(MemoryRecordStore::new()), keys.clone())
        .with_key_wrapper(wrapper.clone());
    let issued = vault.issue("w-1", DAY).unwrap();
    assert_eq!(vault.reveal("w-1").unwrap().code, issued.code);
    assert_eq!(wrapper.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    let epoch = keys.epochs().unwrap()[0];
    assert!(keys.get(epoch).unwrap().unwrap().ends_with(b"wrapped"));
    // Without the wrapper the stored blob is not a usable key.
    let unwrapped_vault = Vault::new(Arc::new(MemoryRecordStore::new()), keys);
    assert!(unwrapped_vault.issue("w-2", DAY).is_err());
}

#[test]
fn finer_epochs_shred_sooner() {
    let keys = Arc::new(MemoryKeyStore::new());
    let clock = Arc::new(ManualClock::new(start()).unwrap());
    let vault = Vault::new(Arc::new(MemoryRecordStore::new()), keys.clone())
        .with_clock(clock.clone())
        .with_epoch_length(HOUR)
        .unwrap();
    vault.issue("a", HOUR).unwrap();
    vault.issue("b", HOUR * 3).unwrap();
    assert_eq!(keys.epochs().unwrap().len(), 2);
    clock.advance(HOUR);
    assert_eq!(vault.purge().unwrap().epoch_keys_destroyed, 1);
    assert!(vault.reveal("b").is_ok());
    assert!(
        Vault::in_memory()
            .with_epoch_length(Duration::ZERO)
            .is_err()
    );
}
