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
    Error, KeyId, KeyStore, MemoryKeyStore, MemoryRecordStore, RecordStore, ReminderClaim,
    StoredKey,
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
        claim_reminders(now_ms: u64, due_by_ms: u64, lease_until_ms: u64, max: usize) -> Result<Vec<ReminderClaim>, Error>;
        mark_reminded(order_id: &str, now_ms: u64) -> Result<bool, Error>;
    }
    fn count_reveal(
        &self,
        order_id: &str,
        now_ms: u64,
        max_count: u64,
    ) -> Result<Option<u64>, Error> {
        // expires_at > now - 1  <=>  expires_at >= now
        self.0
            .count_reveal(order_id, now_ms.saturating_sub(1), max_count)
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
        count_reveal(order_id: &str, now_ms: u64, max_count: u64) -> Result<Option<u64>, Error>;
        destroy(order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;
        claim_reminders(now_ms: u64, due_by_ms: u64, lease_until_ms: u64, max: usize) -> Result<Vec<ReminderClaim>, Error>;
        mark_reminded(order_id: &str, now_ms: u64) -> Result<bool, Error>;
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
        count_reveal(order_id: &str, now_ms: u64, max_count: u64) -> Result<Option<u64>, Error>;
        destroy(order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;
        purge_expired(now_ms: u64) -> Result<Vec<String>, Error>;
        claim_reminders(now_ms: u64, due_by_ms: u64, lease_until_ms: u64, max: usize) -> Result<Vec<ReminderClaim>, Error>;
        mark_reminded(order_id: &str, now_ms: u64) -> Result<bool, Error>;
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
        claim_reminders(now_ms: u64, due_by_ms: u64, lease_until_ms: u64, max: usize) -> Result<Vec<ReminderClaim>, Error>;
        mark_reminded(order_id: &str, now_ms: u64) -> Result<bool, Error>;
    }
    fn count_reveal(
        &self,
        order_id: &str,
        now_ms: u64,
        max_count: u64,
    ) -> Result<Option<u64>, Error> {
        let Some(mut record) = self.0.load(order_id)? else {
            return Ok(None);
        };
        if !matches!(record.body, RecordBody::Sealed { .. })
            || record.expires_at_ms <= now_ms
            || record.reveal_count >= max_count
        {
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

/// The `count_reveal` before reveal limits: no `reveal_count < max_count` clause, so every
/// reveal of an open record counts.
struct IgnoresTheLimit(Arc<dyn RecordStore>);

impl RecordStore for IgnoresTheLimit {
    delegate_records! {
        insert_all(records: &[StoredRecord]) -> Result<(), Error>;
        load(order_id: &str) -> Result<Option<StoredRecord>, Error>;
        destroy(order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;
        purge_expired(now_ms: u64) -> Result<Vec<String>, Error>;
        claim_reminders(now_ms: u64, due_by_ms: u64, lease_until_ms: u64, max: usize) -> Result<Vec<ReminderClaim>, Error>;
        mark_reminded(order_id: &str, now_ms: u64) -> Result<bool, Error>;
    }
    fn count_reveal(&self, order_id: &str, now_ms: u64, _: u64) -> Result<Option<u64>, Error> {
        self.0.count_reveal(order_id, now_ms, u64::MAX)
    }
}

#[test]
fn a_store_without_the_limit_clause_fails_the_suite() {
    let failures = failures_of(|s| Stores {
        records: Arc::new(IgnoresTheLimit(s.records)),
        ..s
    });
    assert!(failures.contains("reveal_limit_is_exact"), "{failures}");
    assert!(
        failures.contains("reveal_limit_holds_under_race"),
        "{failures}"
    );
}

/// Checks the limit with a read, then counts without it: right one reveal at a time, but
/// every reveal racing the check gets through (the vault's own pre-check is the same read,
/// so this is what "check the count in the vault" would do).
struct ChecksLimitThenCounts(Arc<dyn RecordStore>);

impl RecordStore for ChecksLimitThenCounts {
    delegate_records! {
        insert_all(records: &[StoredRecord]) -> Result<(), Error>;
        load(order_id: &str) -> Result<Option<StoredRecord>, Error>;
        destroy(order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;
        purge_expired(now_ms: u64) -> Result<Vec<String>, Error>;
        claim_reminders(now_ms: u64, due_by_ms: u64, lease_until_ms: u64, max: usize) -> Result<Vec<ReminderClaim>, Error>;
        mark_reminded(order_id: &str, now_ms: u64) -> Result<bool, Error>;
    }
    fn count_reveal(
        &self,
        order_id: &str,
        now_ms: u64,
        max_count: u64,
    ) -> Result<Option<u64>, Error> {
        match self.0.load(order_id)? {
            Some(r) if r.reveal_count < max_count => {}
            _ => return Ok(None),
        }
        // Between this check and the count below, other reveals pass the same check.
        std::thread::sleep(std::time::Duration::from_millis(2));
        self.0.count_reveal(order_id, now_ms, u64::MAX)
    }
}

#[test]
fn a_store_that_checks_the_limit_apart_from_counting_fails_the_suite() {
    let failures = failures_of(|s| Stores {
        records: Arc::new(ChecksLimitThenCounts(s.records)),
        ..s
    });
    assert!(
        failures.contains("reveal_limit_holds_under_race"),
        "{failures}"
    );
    // One reveal at a time it is right: only the race shows it.
    assert_eq!(failures.0.len(), 1, "{failures}");
}

/// `lease_until < now` instead of `<=`: a lease ends one millisecond late.
struct LeaseEndsLate(Arc<dyn RecordStore>);

impl RecordStore for LeaseEndsLate {
    delegate_records! {
        insert_all(records: &[StoredRecord]) -> Result<(), Error>;
        load(order_id: &str) -> Result<Option<StoredRecord>, Error>;
        count_reveal(order_id: &str, now_ms: u64, max_count: u64) -> Result<Option<u64>, Error>;
        destroy(order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;
        purge_expired(now_ms: u64) -> Result<Vec<String>, Error>;
        mark_reminded(order_id: &str, now_ms: u64) -> Result<bool, Error>;
    }
    fn claim_reminders(
        &self,
        now_ms: u64,
        due_by_ms: u64,
        lease_until_ms: u64,
        max: usize,
    ) -> Result<Vec<ReminderClaim>, Error> {
        self.0
            .claim_reminders(now_ms, due_by_ms, lease_until_ms + 1, max)
    }
}

/// `expires_at >= now` instead of `>`: claims a record expiring exactly now.
struct ClaimsAtExpiry(Arc<dyn RecordStore>);

impl RecordStore for ClaimsAtExpiry {
    delegate_records! {
        insert_all(records: &[StoredRecord]) -> Result<(), Error>;
        load(order_id: &str) -> Result<Option<StoredRecord>, Error>;
        count_reveal(order_id: &str, now_ms: u64, max_count: u64) -> Result<Option<u64>, Error>;
        destroy(order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;
        purge_expired(now_ms: u64) -> Result<Vec<String>, Error>;
        mark_reminded(order_id: &str, now_ms: u64) -> Result<bool, Error>;
    }
    fn claim_reminders(
        &self,
        now_ms: u64,
        due_by_ms: u64,
        lease_until_ms: u64,
        max: usize,
    ) -> Result<Vec<ReminderClaim>, Error> {
        self.0
            .claim_reminders(now_ms - 1, due_by_ms, lease_until_ms, max)
    }
}

/// `expires_at < due_by` instead of `<=`: misses a record due exactly at the lead's end.
struct MissesTheDueEdge(Arc<dyn RecordStore>);

impl RecordStore for MissesTheDueEdge {
    delegate_records! {
        insert_all(records: &[StoredRecord]) -> Result<(), Error>;
        load(order_id: &str) -> Result<Option<StoredRecord>, Error>;
        count_reveal(order_id: &str, now_ms: u64, max_count: u64) -> Result<Option<u64>, Error>;
        destroy(order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;
        purge_expired(now_ms: u64) -> Result<Vec<String>, Error>;
        mark_reminded(order_id: &str, now_ms: u64) -> Result<bool, Error>;
    }
    fn claim_reminders(
        &self,
        now_ms: u64,
        due_by_ms: u64,
        lease_until_ms: u64,
        max: usize,
    ) -> Result<Vec<ReminderClaim>, Error> {
        self.0
            .claim_reminders(now_ms, due_by_ms - 1, lease_until_ms, max)
    }
}

/// Says it marked, but keeps nothing: the reminder goes out again after every lease.
struct ForgetsMarks(Arc<dyn RecordStore>);

impl RecordStore for ForgetsMarks {
    delegate_records! {
        insert_all(records: &[StoredRecord]) -> Result<(), Error>;
        load(order_id: &str) -> Result<Option<StoredRecord>, Error>;
        count_reveal(order_id: &str, now_ms: u64, max_count: u64) -> Result<Option<u64>, Error>;
        destroy(order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;
        purge_expired(now_ms: u64) -> Result<Vec<String>, Error>;
        claim_reminders(now_ms: u64, due_by_ms: u64, lease_until_ms: u64, max: usize) -> Result<Vec<ReminderClaim>, Error>;
    }
    fn mark_reminded(&self, order_id: &str, _now_ms: u64) -> Result<bool, Error> {
        Ok(self.0.load(order_id)?.is_some())
    }
}

/// Selects the due records, then leases them in a second step: right one claim at a time,
/// but concurrent claimers all select the same records.
struct SelectsThenLeases(Arc<dyn RecordStore>);

impl RecordStore for SelectsThenLeases {
    delegate_records! {
        insert_all(records: &[StoredRecord]) -> Result<(), Error>;
        load(order_id: &str) -> Result<Option<StoredRecord>, Error>;
        count_reveal(order_id: &str, now_ms: u64, max_count: u64) -> Result<Option<u64>, Error>;
        destroy(order_id: &str, tombstone: &RecordBody) -> Result<bool, Error>;
        purge_expired(now_ms: u64) -> Result<Vec<String>, Error>;
        mark_reminded(order_id: &str, now_ms: u64) -> Result<bool, Error>;
    }
    fn claim_reminders(
        &self,
        now_ms: u64,
        due_by_ms: u64,
        lease_until_ms: u64,
        max: usize,
    ) -> Result<Vec<ReminderClaim>, Error> {
        // A lease that ends now leaves them claimable: a plain select.
        let selected = self.0.claim_reminders(now_ms, due_by_ms, now_ms, max)?;
        std::thread::sleep(std::time::Duration::from_millis(2));
        // The same selection, now leased (a serial caller leases exactly what it selected).
        self.0
            .claim_reminders(now_ms, due_by_ms, lease_until_ms, max)?;
        Ok(selected)
    }
}

#[test]
fn stores_with_a_wrong_reminder_edge_fail_the_suite() {
    type Bend = fn(Arc<dyn RecordStore>) -> Arc<dyn RecordStore>;
    let wrong: [(&str, Bend); 4] = [
        ("lease over at lease_until < now", |r| {
            Arc::new(LeaseEndsLate(r))
        }),
        ("claims at expires_at == now", |r| {
            Arc::new(ClaimsAtExpiry(r))
        }),
        ("misses expires_at == due_by", |r| {
            Arc::new(MissesTheDueEdge(r))
        }),
        ("forgets marks", |r| Arc::new(ForgetsMarks(r))),
    ];
    for (what, bend) in wrong {
        let failures = failures_of(|s| Stores {
            records: bend(s.records),
            ..s
        });
        assert!(
            failures.contains("reminder_claims_take_exactly_the_due"),
            "{what}: {failures}"
        );
    }
}

#[test]
fn a_store_that_selects_then_leases_in_two_steps_fails_the_suite() {
    let failures = failures_of(|s| Stores {
        records: Arc::new(SelectsThenLeases(s.records)),
        ..s
    });
    assert!(
        failures.contains("concurrent_reminder_claims_are_exclusive"),
        "{failures}"
    );
    assert_eq!(failures.0.len(), 1, "{failures}");
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
