//! The public conformance suite, run against this crate's stores and the example's store,
//! and shown to catch deliberately wrong stores (each fails exactly the check it should).

#![cfg(feature = "conformance")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns: a failure should abort the test"
)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use autocsr_credential::conformance::{self, Failures, Harness, Stores};
use autocsr_credential::record::{RecordBody, StoredRecord};
use autocsr_credential::{
    Error, KeyId, KeyStore, MemoryKeyStore, MemoryRecordStore, RecordStore, StoredKey,
};
use zeroize::Zeroizing;

#[allow(
    dead_code,
    reason = "the example's main is run below; the rest is its store"
)]
#[path = "../examples/custom_store.rs"]
mod custom_store;

fn memory() -> Result<Stores, Error> {
    Ok(Stores {
        records: Arc::new(MemoryRecordStore::new()),
        keys: Arc::new(MemoryKeyStore::new()),
    })
}

fn assert_passes(harness: &dyn Harness) {
    if let Err(failures) = conformance::run_all(harness) {
        panic!("{failures}");
    }
}

#[test]
fn the_memory_stores_conform() {
    assert_passes(&memory);
}

/// Each check gets a fresh directory; a second handle is a second connection to the same
/// files, as a second process would open them.
#[cfg(feature = "sqlite")]
#[derive(Default)]
struct SqliteHarness {
    dirs: Mutex<Vec<tempfile::TempDir>>,
}

#[cfg(feature = "sqlite")]
impl SqliteHarness {
    fn open(dir: &std::path::Path) -> Result<Stores, Error> {
        use autocsr_credential::{SqliteKeyStore, SqliteRecordStore};
        Ok(Stores {
            records: Arc::new(SqliteRecordStore::open(&dir.join("records.db"))?),
            keys: Arc::new(SqliteKeyStore::open(&dir.join("keys.db"))?),
        })
    }

    fn latest(&self) -> PathBuf {
        self.dirs
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .path()
            .to_path_buf()
    }
}

#[cfg(feature = "sqlite")]
impl Harness for SqliteHarness {
    fn fresh(&self) -> Result<Stores, Error> {
        let dir = tempfile::tempdir().map_err(Error::storage)?;
        let stores = Self::open(dir.path())?;
        self.dirs.lock().unwrap().push(dir);
        Ok(stores)
    }

    // The suite asks for second handles right after `fresh`, onto the stores it just made.
    fn connect_again(&self, _stores: &Stores) -> Result<Stores, Error> {
        Self::open(&self.latest())
    }
}

#[cfg(feature = "sqlite")]
#[test]
fn the_sqlite_stores_conform_with_a_connection_per_thread() {
    assert_passes(&SqliteHarness::default());
}

#[cfg(feature = "sqlite")]
#[test]
fn the_sqlite_stores_conform_sharing_one_connection() {
    let harness = SqliteHarness::default();
    let shared = || harness.fresh();
    assert_passes(&shared);
}

#[test]
fn the_examples_directory_store_conforms() {
    custom_store::main().unwrap();
}

/// Runs the suite over memory stores bent by `bend`, and returns what failed.
fn failures_of(bend: impl Fn(Stores) -> Stores + Sync) -> Failures {
    let harness = || memory().map(&bend);
    conformance::run_all(&harness).expect_err("a wrong store must fail the suite")
}

/// Delegates every record call; the wrong stores below override one.
macro_rules! delegate_records {
    ($($method:ident ($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $method(&self, $($arg: $ty),*) -> $ret { self.0.$method($($arg),*) })*
    };
}

/// The mistake the issue reported: `expires_at >= now` instead of `>`, which lets one more
/// reveal through at the exact expiry (the vault's own check hides it from vault tests).
struct RevealsAtExpiry(Arc<dyn RecordStore>);

impl RecordStore for RevealsAtExpiry {
    delegate_records! {
        insert_all(records: &[StoredRecord]) -> Result<(), Error>;
        load(order_id: &str) -> Result<Option<StoredRecord>, Error>;
        destroy(order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;
        purge_expired(now_ms: u64) -> Result<Vec<String>, Error>;
    }
    fn count_reveal(&self, order_id: &str, now_ms: u64) -> Result<Option<u64>, Error> {
        // expires_at > now - 1  <=>  expires_at >= now
        self.0.count_reveal(order_id, now_ms.saturating_sub(1))
    }
}

#[test]
fn a_store_that_reveals_at_the_expiry_fails_the_suite() {
    let failures = failures_of(|s| Stores {
        records: Arc::new(RevealsAtExpiry(s.records)),
        ..s
    });
    assert!(
        failures.contains("no_reveal_at_or_after_expiry"),
        "{failures}"
    );
    // Exactly the mistake that vault-level tests miss: every check through the vault passes.
    assert_eq!(failures.0.len(), 1, "{failures}");
}

/// `expires_at < now` instead of `<=`: purges one millisecond late.
struct PurgesLate(Arc<dyn RecordStore>);

impl RecordStore for PurgesLate {
    delegate_records! {
        insert_all(records: &[StoredRecord]) -> Result<(), Error>;
        load(order_id: &str) -> Result<Option<StoredRecord>, Error>;
        count_reveal(order_id: &str, now_ms: u64) -> Result<Option<u64>, Error>;
        destroy(order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;
    }
    fn purge_expired(&self, now_ms: u64) -> Result<Vec<String>, Error> {
        self.0.purge_expired(now_ms.saturating_sub(1))
    }
}

#[test]
fn a_store_that_purges_late_fails_the_suite() {
    let failures = failures_of(|s| Stores {
        records: Arc::new(PurgesLate(s.records)),
        ..s
    });
    assert!(
        failures.contains("purge_takes_exactly_the_expired"),
        "{failures}"
    );
}

/// Inserts a batch one record at a time, so a taken id part-way leaves the earlier ones.
struct OneAtATime(Arc<dyn RecordStore>);

impl RecordStore for OneAtATime {
    delegate_records! {
        load(order_id: &str) -> Result<Option<StoredRecord>, Error>;
        count_reveal(order_id: &str, now_ms: u64) -> Result<Option<u64>, Error>;
        destroy(order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;
        purge_expired(now_ms: u64) -> Result<Vec<String>, Error>;
    }
    fn insert_all(&self, records: &[StoredRecord]) -> Result<(), Error> {
        records
            .iter()
            .try_for_each(|r| self.0.insert_all(std::slice::from_ref(r)))
    }
}

#[test]
fn a_store_whose_batches_are_not_atomic_fails_the_suite() {
    let failures = failures_of(|s| Stores {
        records: Arc::new(OneAtATime(s.records)),
        ..s
    });
    assert!(
        failures.contains("insert_all_is_all_or_nothing"),
        "{failures}"
    );
}

/// Counts reveals by reading, then writing: concurrent reveals overwrite each other.
struct ReadThenWriteCount(Arc<MemoryRecordStore>);

impl RecordStore for ReadThenWriteCount {
    delegate_records! {
        insert_all(records: &[StoredRecord]) -> Result<(), Error>;
        load(order_id: &str) -> Result<Option<StoredRecord>, Error>;
        destroy(order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;
        purge_expired(now_ms: u64) -> Result<Vec<String>, Error>;
    }
    fn count_reveal(&self, order_id: &str, now_ms: u64) -> Result<Option<u64>, Error> {
        let Some(mut record) = self.0.load(order_id)? else {
            return Ok(None);
        };
        if !matches!(record.body, RecordBody::Sealed { .. }) || record.expires_at_ms <= now_ms {
            return Ok(None);
        }
        // Between this read and the write below, other reveals land and are overwritten.
        std::thread::sleep(std::time::Duration::from_millis(1));
        record.reveal_count += 1;
        self.0.overwrite(record.clone());
        Ok(Some(record.reveal_count))
    }
}

#[test]
fn a_store_that_loses_concurrent_counts_fails_the_suite() {
    let failures = failures_of(|s| Stores {
        records: Arc::new(ReadThenWriteCount(Arc::new(MemoryRecordStore::new()))),
        ..s
    });
    assert!(
        failures.contains("concurrent_reveals_lose_no_count"),
        "{failures}"
    );
}

/// Reports keys destroyed without deleting them.
struct DestroysOnPaper(Arc<dyn KeyStore>);

impl KeyStore for DestroysOnPaper {
    fn insert_all(&self, keys: &[StoredKey]) -> Result<(), Error> {
        self.0.insert_all(keys)
    }
    fn get(&self, id: &KeyId) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        self.0.get(id)
    }
    fn destroy(&self, ids: &[KeyId]) -> Result<u64, Error> {
        Ok(ids.len() as u64)
    }
    fn destroy_expired(&self, _now_ms: u64) -> Result<u64, Error> {
        Ok(0)
    }
    fn count(&self) -> Result<u64, Error> {
        self.0.count()
    }
}

#[test]
fn a_key_store_that_does_not_destroy_fails_the_suite() {
    let failures = failures_of(|s| Stores {
        keys: Arc::new(DestroysOnPaper(s.keys)),
        ..s
    });
    assert!(
        failures.contains("backups_decrypt_nothing_after_revoke_or_purge"),
        "{failures}"
    );
    assert!(failures.contains("key_store_lifecycle"), "{failures}");
}

#[test]
fn every_check_has_a_unique_name_and_runs_alone() {
    let mut names: Vec<&str> = conformance::CHECKS.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), conformance::CHECKS.len());
    for check in conformance::CHECKS {
        (check.run)(&memory).unwrap_or_else(|f| panic!("{f}"));
    }
}
