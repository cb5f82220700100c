//! A conformance suite for [`RecordStore`] and [`KeyStore`] implementations (feature
//! `conformance`).
//!
//! A host that brings its own stores runs [`run_all`] against them in its tests; this
//! crate's memory and SQLite stores run the same suite (`tests/conformance.rs`), and so do
//! the PostgreSQL stores of `autocsr-credential-postgres` against a real server. Every check drives the stores through
//! their traits (and through a [`Vault`] on top) with a [`ManualClock`], and returns a
//! [`Failure`] naming the promise that broke instead of panicking.
//!
//! What the suite holds a store to (each a [`Check`] in [`CHECKS`]):
//!
//! | check | the promise |
//! |---|---|
//! | `record_store_lifecycle` | `load` returns exactly what was inserted; counting, tombstones and purge as documented |
//! | `key_store_lifecycle` | `get` returns exactly the blob inserted; `destroy` skips unknown ids and counts only real deletions |
//! | `vault_lifecycle` | issue, reveal, status, revoke, expiry and purge through a vault |
//! | `insert_all_is_all_or_nothing` | a batch with a taken or repeated id stores nothing (both stores, and `issue_many`) |
//! | `already_exists_under_race` | of several handles inserting one id at once, exactly one wins; of several destroys of one record, exactly one |
//! | `concurrent_reveals_lose_no_count` | every concurrent `count_reveal` gets its own new count; none is lost |
//! | `no_reveal_at_or_after_expiry` | `count_reveal` counts at `expires_at - 1 ms` and refuses at `expires_at` and later |
//! | `purge_takes_exactly_the_expired` | `purge_expired` / `destroy_expired` take everything with `expires_at <= now`, nothing later |
//! | `tampering_is_detected` | a record or key changed in the store is refused as `Tampered`, and not counted |
//! | `backups_decrypt_nothing_after_revoke_or_purge` | a copy of the records taken earlier opens nothing once revoke or purge destroyed the key |
//! | `purge_is_idempotent_and_exactly_once` | concurrent purges destroy each expired record and key exactly once; a repeat finds nothing |
//! | `reveal_limit_is_exact` | `count_reveal` counts while `reveal_count < max_count` and refuses at it (`max_count` 0 refuses, above `i64::MAX` is no limit); a vault with a limit answers `RevealLimitReached` |
//! | `reveal_limit_holds_under_race` | of 16 concurrent reveals under a limit of 3, exactly 3 succeed (store and vaults, one handle per thread) |
//! | `reminder_claims_take_exactly_the_due` | `claim_reminders` takes sealed, never-revealed, unmarked records with `now < expires_at <= due_by` whose lease is absent or `<= now`, earliest first up to `max`; leases, marks and purge as documented |
//! | `concurrent_reminder_claims_are_exclusive` | claims racing on several handles return each due record exactly once |
//!
//! For a host's own failure tests, [`FaultyRecordStore`] wraps a record store and fails on
//! demand: an insert committed whose answer is lost, an insert refused, or every call while
//! the store is down.
//!
//! The stores must compare with the `now_ms` they are given (the vault's clock), never with
//! a clock of their own: the suite's clock reads 2030, far from any real clock.
//!
//! What it cannot see: whether destroyed bytes are gone from the store's files, WAL,
//! replicas or backups (test that against your storage: the SQLite store's tests grep its
//! files), and whether each call survives a crash as one step.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use crate::record::{self, KEY_ID_LEN, KEY_LEN, KeyId, NONCE_LEN, RecordBody, StoredRecord};
use crate::{
    CodeLength, CredentialState, Error, KeyStore, ManualClock, MemoryRecordStore, RecordStore,
    ReminderClaim, StoredKey, UnlockCode, Vault,
};

/// A record store and a key store to test, as one application server would hold them.
// A harness's whole job is to hand over these two stores; a third store would have to be
// supplied by every harness, a breaking change with or without `non_exhaustive`.
#[allow(clippy::exhaustive_structs)]
#[derive(Clone)]
pub struct Stores {
    /// The record store.
    pub records: Arc<dyn RecordStore>,
    /// The key store.
    pub keys: Arc<dyn KeyStore>,
}

impl core::fmt::Debug for Stores {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

/// How the suite gets stores to test.
pub trait Harness: Sync {
    /// A pair of empty stores that no other call of `fresh` shares (each check starts
    /// from one; for a database, a new schema or database per call).
    ///
    /// # Errors
    /// Whatever opening the stores fails with.
    fn fresh(&self) -> Result<Stores, Error>;

    /// Another handle onto the same stores, as a second application server would open them
    /// (a new connection or pool). The race checks run one per thread. The default hands
    /// back the same objects, which is right for stores that live in one process.
    ///
    /// # Errors
    /// Whatever opening the stores fails with.
    fn connect_again(&self, stores: &Stores) -> Result<Stores, Error> {
        Ok(stores.clone())
    }
}

/// Any `Fn() -> Result<Stores, Error>` is a harness whose second handles are the same objects.
impl<F> Harness for F
where
    F: Fn() -> Result<Stores, Error> + Sync,
{
    fn fresh(&self) -> Result<Stores, Error> {
        self()
    }
}

/// One broken promise: which check, and what it saw. Never holds a code or a key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// The check's name (one of [`CHECKS`]).
    pub check: &'static str,
    /// What went wrong.
    pub detail: String,
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.check, self.detail)
    }
}

impl std::error::Error for Failure {}

/// Every failure of a [`run_all`].
// A newtype over the list: anything new about a failure belongs on `Failure`.
#[allow(clippy::exhaustive_structs)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failures(pub Vec<Failure>);

impl Failures {
    /// Whether the named check is among the failures.
    #[must_use]
    pub fn contains(&self, check: &str) -> bool {
        self.0.iter().any(|f| f.check == check)
    }
}

impl core::fmt::Display for Failures {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} conformance check(s) failed", self.0.len())?;
        for failure in &self.0 {
            write!(f, "\n  {failure}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failures {}

/// One check of the suite.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct Check {
    /// Its name, as in the table above and in [`Failure::check`].
    pub name: &'static str,
    /// Runs it.
    pub run: fn(&dyn Harness) -> Result<(), Failure>,
}

impl core::fmt::Debug for Check {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

/// Every check, in the order [`run_all`] runs them.
pub const CHECKS: &[Check] = &[
    Check {
        name: "record_store_lifecycle",
        run: record_store_lifecycle,
    },
    Check {
        name: "key_store_lifecycle",
        run: key_store_lifecycle,
    },
    Check {
        name: "vault_lifecycle",
        run: vault_lifecycle,
    },
    Check {
        name: "insert_all_is_all_or_nothing",
        run: insert_all_is_all_or_nothing,
    },
    Check {
        name: "already_exists_under_race",
        run: already_exists_under_race,
    },
    Check {
        name: "concurrent_reveals_lose_no_count",
        run: concurrent_reveals_lose_no_count,
    },
    Check {
        name: "no_reveal_at_or_after_expiry",
        run: no_reveal_at_or_after_expiry,
    },
    Check {
        name: "purge_takes_exactly_the_expired",
        run: purge_takes_exactly_the_expired,
    },
    Check {
        name: "tampering_is_detected",
        run: tampering_is_detected,
    },
    Check {
        name: "backups_decrypt_nothing_after_revoke_or_purge",
        run: backups_decrypt_nothing_after_revoke_or_purge,
    },
    Check {
        name: "purge_is_idempotent_and_exactly_once",
        run: purge_is_idempotent_and_exactly_once,
    },
    Check {
        name: "reveal_limit_is_exact",
        run: reveal_limit_is_exact,
    },
    Check {
        name: "reveal_limit_holds_under_race",
        run: reveal_limit_holds_under_race,
    },
    Check {
        name: "reminder_claims_take_exactly_the_due",
        run: reminder_claims_take_exactly_the_due,
    },
    Check {
        name: "concurrent_reminder_claims_are_exclusive",
        run: concurrent_reminder_claims_are_exclusive,
    },
];

/// Runs every check (each on its own [`Harness::fresh`] stores) and reports every failure.
///
/// # Errors
/// [`Failures`] listing each check that failed and why.
pub fn run_all(harness: &dyn Harness) -> Result<(), Failures> {
    let failures: Vec<Failure> = CHECKS
        .iter()
        .filter_map(|check| (check.run)(harness).err())
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failures(failures))
    }
}

/// Where a [`FaultyRecordStore`] fails an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InsertFault {
    /// Never: inserts pass through.
    Never,
    /// The insert is refused with a storage error; nothing is stored.
    BeforeCommit,
    /// The insert is committed, then a storage error is returned: a database that stored
    /// the rows and lost the connection before it could say so.
    AfterCommit,
}

/// A record store that forwards every call to another one, and fails on demand: an insert
/// as [`InsertFault`] says, and every other call while it is [down](Self::set_down). For a
/// host's tests of what happens when a write's answer is lost (the order must not show a
/// code the vault may hold; `autocsr` settles it with a revoke).
pub struct FaultyRecordStore {
    inner: Arc<dyn RecordStore>,
    insert: InsertFault,
    down: std::sync::atomic::AtomicBool,
    after_commit: Option<AfterCommit>,
}

type AfterCommit = Box<dyn Fn(&[StoredRecord]) + Send + Sync>;

impl core::fmt::Debug for FaultyRecordStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FaultyRecordStore")
            .field("insert", &self.insert)
            .field("down", &self.down)
            .finish_non_exhaustive()
    }
}

impl FaultyRecordStore {
    /// Forwards to `inner`, failing nothing yet.
    pub fn new(inner: Arc<dyn RecordStore>) -> Self {
        FaultyRecordStore {
            inner,
            insert: InsertFault::Never,
            down: std::sync::atomic::AtomicBool::new(false),
            after_commit: None,
        }
    }

    /// Fails every insert as `fault` says.
    #[must_use]
    pub fn with_insert_fault(mut self, fault: InsertFault) -> Self {
        self.insert = fault;
        self
    }

    /// Calls `look` with the records of an [`InsertFault::AfterCommit`] insert, after the
    /// commit and before the error is returned (to see what the lost answer would have
    /// said).
    #[must_use]
    pub fn after_commit(mut self, look: impl Fn(&[StoredRecord]) + Send + Sync + 'static) -> Self {
        self.after_commit = Some(Box::new(look));
        self
    }

    /// While `down`, every call but `insert_all` fails with a storage error.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    fn reachable(&self) -> Result<(), Error> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::storage(std::io::Error::other(
                "the record store is down (FaultyRecordStore)",
            )));
        }
        Ok(())
    }
}

impl RecordStore for FaultyRecordStore {
    fn insert_all(&self, records: &[StoredRecord]) -> Result<(), Error> {
        let lost = || {
            Error::storage(std::io::Error::other(
                "the connection was lost (FaultyRecordStore)",
            ))
        };
        match self.insert {
            InsertFault::Never => self.inner.insert_all(records),
            InsertFault::BeforeCommit => Err(lost()),
            InsertFault::AfterCommit => {
                self.inner.insert_all(records)?;
                if let Some(look) = &self.after_commit {
                    look(records);
                }
                Err(lost())
            }
        }
    }
    fn load(&self, order_id: &str) -> Result<Option<StoredRecord>, Error> {
        self.reachable()?;
        self.inner.load(order_id)
    }
    fn count_reveal(
        &self,
        order_id: &str,
        now_ms: u64,
        max_count: u64,
    ) -> Result<Option<u64>, Error> {
        self.reachable()?;
        self.inner.count_reveal(order_id, now_ms, max_count)
    }
    fn destroy(&self, order_id: &str, tombstone: &RecordBody) -> Result<bool, Error> {
        self.reachable()?;
        self.inner.destroy(order_id, tombstone)
    }
    fn purge_expired(&self, now_ms: u64) -> Result<Vec<String>, Error> {
        self.reachable()?;
        self.inner.purge_expired(now_ms)
    }
    fn claim_reminders(
        &self,
        now_ms: u64,
        due_by_ms: u64,
        lease_until_ms: u64,
        max: usize,
    ) -> Result<Vec<ReminderClaim>, Error> {
        self.reachable()?;
        self.inner
            .claim_reminders(now_ms, due_by_ms, lease_until_ms, max)
    }
    fn mark_reminded(&self, order_id: &str, now_ms: u64) -> Result<bool, Error> {
        self.reachable()?;
        self.inner.mark_reminded(order_id, now_ms)
    }
}

/// The suite's clock starts at 2030-01-01T00:00:00Z, far from any real clock, so a store
/// that compares with its own clock instead of the `now_ms` it is given fails.
const T0: u64 = 1_893_456_000_000;
const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;
/// What the vault passes to `count_reveal` without a reveal limit.
const NO_LIMIT: u64 = u64::MAX;

/// The context of one check: its name, for failures.
#[derive(Clone, Copy)]
struct Ctx(&'static str);

impl Ctx {
    fn fail(self, detail: impl Into<String>) -> Failure {
        Failure {
            check: self.0,
            detail: detail.into(),
        }
    }

    fn ensure(self, condition: bool, detail: impl FnOnce() -> String) -> Result<(), Failure> {
        if condition {
            Ok(())
        } else {
            Err(self.fail(detail()))
        }
    }

    /// A store or vault call that must succeed.
    fn call<T>(self, result: Result<T, Error>, what: &str) -> Result<T, Failure> {
        result.map_err(|e| self.fail(format!("{what} failed: {}", describe(&e))))
    }

    fn fresh(self, harness: &dyn Harness) -> Result<Stores, Failure> {
        self.call(harness.fresh(), "Harness::fresh")
    }

    fn handles(
        self,
        harness: &dyn Harness,
        stores: &Stores,
        n: usize,
    ) -> Result<Vec<Stores>, Failure> {
        (0..n)
            .map(|_| self.call(harness.connect_again(stores), "Harness::connect_again"))
            .collect()
    }

    fn load(self, stores: &Stores, order_id: &str) -> Result<Option<StoredRecord>, Failure> {
        self.call(stores.records.load(order_id), "RecordStore::load")
    }
}

/// An error and its sources on one line (errors of this crate never hold a secret).
fn describe(error: &Error) -> String {
    let mut text = format!("{error:?}");
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// Runs `work` on one thread per item, all released together by a barrier.
fn race<I: Sync, T: Send>(
    ctx: Ctx,
    items: &[I],
    work: impl Fn(&I) -> T + Sync,
) -> Result<Vec<T>, Failure> {
    let barrier = Barrier::new(items.len());
    std::thread::scope(|scope| {
        let threads: Vec<_> = items
            .iter()
            .map(|item| {
                let barrier = &barrier;
                let work = &work;
                scope.spawn(move || {
                    barrier.wait();
                    work(item)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().map_err(|_| ctx.fail("a store call panicked")))
            .collect()
    })
}

fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| Error::Randomness)?;
    Ok(bytes)
}

/// A unique order-id prefix, so checks never see each other's rows even in a shared store.
fn prefix(ctx: Ctx) -> Result<String, Failure> {
    let bytes = ctx.call(random::<6>(), "getrandom")?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("cf-{hex}"))
}

/// A freshly sealed record with its key, as the vault would make them.
struct Sealed {
    record: StoredRecord,
    key: StoredKey,
    code: UnlockCode,
}

fn seal(
    ctx: Ctx,
    order_id: &str,
    created_at_ms: u64,
    expires_at_ms: u64,
) -> Result<Sealed, Failure> {
    let made = (|| {
        let key = Zeroizing::new(random::<KEY_LEN>()?.to_vec());
        let id = KeyId::from_bytes(random::<KEY_ID_LEN>()?);
        let nonce = random::<NONCE_LEN>()?;
        let code = UnlockCode::generate_os(CodeLength::DEFAULT)?;
        let record = record::seal(
            &code,
            order_id,
            created_at_ms,
            expires_at_ms,
            id,
            &key,
            nonce,
        )?;
        Ok(Sealed {
            record,
            key: StoredKey {
                id,
                expires_at_ms,
                blob: key,
            },
            code,
        })
    })();
    ctx.call(made, "sealing a test record")
}

fn key(ctx: Ctx, expires_at_ms: u64, blob_len: usize) -> Result<StoredKey, Failure> {
    let id = KeyId::from_bytes(ctx.call(random::<KEY_ID_LEN>(), "getrandom")?);
    let mut blob = Zeroizing::new(vec![0u8; blob_len]);
    ctx.call(
        getrandom::fill(&mut blob).map_err(|_| Error::Randomness),
        "getrandom",
    )?;
    Ok(StoredKey {
        id,
        expires_at_ms,
        blob,
    })
}

fn clone_key(k: &StoredKey) -> StoredKey {
    StoredKey {
        id: k.id,
        expires_at_ms: k.expires_at_ms,
        blob: k.blob.clone(),
    }
}

fn clock_at(ctx: Ctx, ms: u64) -> Result<Arc<ManualClock>, Failure> {
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    Ok(Arc::new(
        ctx.call(ManualClock::new(at), "ManualClock::new")?,
    ))
}

fn set(ctx: Ctx, clock: &ManualClock, ms: u64) -> Result<(), Failure> {
    ctx.call(
        clock.set(UNIX_EPOCH + Duration::from_millis(ms)),
        "ManualClock::set",
    )
}

fn vault(stores: &Stores, clock: &Arc<ManualClock>) -> Vault {
    Vault::new(stores.records.clone(), stores.keys.clone()).with_clock(clock.clone())
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_millis()).ok())
        .unwrap_or(u64::MAX)
}

fn with_count(record: &StoredRecord, reveal_count: u64) -> StoredRecord {
    StoredRecord {
        reveal_count,
        ..record.clone()
    }
}

fn with_body(record: &StoredRecord, body: RecordBody) -> StoredRecord {
    StoredRecord {
        body,
        ..record.clone()
    }
}

/// Records: insert, load back exactly, count, tombstone once, purge.
///
/// # Errors
/// The first broken promise.
pub fn record_store_lifecycle(harness: &dyn Harness) -> Result<(), Failure> {
    let c = Ctx("record_store_lifecycle");
    let s = c.fresh(harness)?;
    let p = prefix(c)?;
    let (id_a, id_b, missing) = (format!("{p}-a"), format!("{p}-b"), format!("{p}-none"));
    let a = seal(c, &id_a, T0, T0 + HOUR)?;
    let b = seal(c, &id_b, T0, T0 + 2 * HOUR)?;
    c.call(
        s.records.insert_all(&[a.record.clone(), b.record.clone()]),
        "insert_all",
    )?;
    c.call(s.records.insert_all(&[]), "insert_all of no records")?;
    c.ensure(c.load(&s, &id_a)? == Some(a.record.clone()), || {
        "load must return exactly the record inserted (every field, every byte)".into()
    })?;
    c.ensure(c.load(&s, &missing)?.is_none(), || {
        "load of an order never inserted must be None".into()
    })?;
    for expected in 1..=2 {
        let got = c.call(s.records.count_reveal(&id_a, T0, NO_LIMIT), "count_reveal")?;
        c.ensure(got == Some(expected), || {
            format!("count_reveal of a sealed record returned {got:?}, expected Some({expected})")
        })?;
    }
    c.ensure(c.load(&s, &id_a)? == Some(with_count(&a.record, 2)), || {
        "after two reveals load must return the record with reveal_count 2 and nothing else changed"
            .into()
    })?;
    let got = c.call(
        s.records.count_reveal(&missing, T0, NO_LIMIT),
        "count_reveal",
    )?;
    c.ensure(got.is_none(), || {
        format!("count_reveal of a missing record returned {got:?}")
    })?;
    let revoked = RecordBody::Revoked {
        revoked_at_ms: T0 + 1,
    };
    c.ensure(
        c.call(s.records.destroy(&id_a, &revoked), "destroy")?,
        || "destroy of a sealed record must return true".into(),
    )?;
    let tombstone = with_body(&with_count(&a.record, 2), revoked.clone());
    c.ensure(c.load(&s, &id_a)? == Some(tombstone.clone()), || {
        "after destroy load must return the tombstone with every other field unchanged".into()
    })?;
    let expired = RecordBody::Expired {
        destroyed_at_ms: T0 + 2,
    };
    c.ensure(
        !c.call(s.records.destroy(&id_a, &expired), "destroy")?,
        || "destroy of a tombstone must return false".into(),
    )?;
    c.ensure(c.load(&s, &id_a)? == Some(tombstone), || {
        "a second destroy must leave the first tombstone as it was".into()
    })?;
    let got = c.call(s.records.count_reveal(&id_a, T0, NO_LIMIT), "count_reveal")?;
    c.ensure(got.is_none(), || {
        format!("count_reveal of a tombstone returned {got:?}, expected None")
    })?;
    c.ensure(
        !c.call(s.records.destroy(&missing, &expired), "destroy")?,
        || "destroy of a missing record must return false".into(),
    )?;
    c.ensure(
        c.call(s.records.destroy(&id_b, &expired), "destroy")?,
        || "destroy of a sealed record must return true".into(),
    )?;
    c.ensure(
        c.load(&s, &id_b)? == Some(with_body(&b.record, expired)),
        || "an Expired tombstone must load back as written".into(),
    )?;
    let mut purged = c.call(s.records.purge_expired(T0 + 2 * HOUR), "purge_expired")?;
    purged.sort();
    c.ensure(purged == [id_a.clone(), id_b.clone()], || {
        format!(
            "purge_expired must return both expired records (tombstones too), returned {} ids",
            purged.len()
        )
    })?;
    c.ensure(
        c.load(&s, &id_a)?.is_none() && c.load(&s, &id_b)?.is_none(),
        || "purged records must be gone".into(),
    )
}

/// Keys: insert, get back exactly, count, destroy only what exists.
///
/// # Errors
/// The first broken promise.
pub fn key_store_lifecycle(harness: &dyn Harness) -> Result<(), Failure> {
    let c = Ctx("key_store_lifecycle");
    let s = c.fresh(harness)?;
    let count = |what: &str| c.call(s.keys.count(), what);
    c.ensure(count("count")? == 0, || {
        "a fresh key store must be empty".into()
    })?;
    // A raw key, and a longer blob as a KeyWrapper makes them.
    let k1 = key(c, T0 + HOUR, KEY_LEN)?;
    let k2 = key(c, T0 + DAY, 60)?;
    let unknown = key(c, T0 + HOUR, KEY_LEN)?;
    c.call(
        s.keys.insert_all(&[clone_key(&k1), clone_key(&k2)]),
        "insert_all",
    )?;
    c.call(s.keys.insert_all(&[]), "insert_all of no keys")?;
    c.ensure(count("count")? == 2, || {
        "count after two inserts must be 2".into()
    })?;
    for k in [&k1, &k2] {
        let got = c.call(s.keys.get(&k.id), "get")?;
        c.ensure(got.as_deref() == Some(&*k.blob), || {
            "get must return exactly the blob inserted".into()
        })?;
    }
    c.ensure(c.call(s.keys.get(&unknown.id), "get")?.is_none(), || {
        "get of an unknown id must be None".into()
    })?;
    let n = c.call(s.keys.destroy(&[k1.id, unknown.id]), "destroy")?;
    c.ensure(n == 1, || {
        format!("destroy of one existing and one unknown id returned {n}, expected 1")
    })?;
    c.ensure(c.call(s.keys.get(&k1.id), "get")?.is_none(), || {
        "a destroyed key must be gone".into()
    })?;
    c.ensure(count("count")? == 1, || {
        "count after destroying one of two must be 1".into()
    })?;
    let n = c.call(s.keys.destroy(&[k1.id]), "destroy")?;
    c.ensure(n == 0, || {
        format!("destroying a destroyed key again returned {n}, expected 0")
    })?;
    let n = c.call(s.keys.destroy(&[]), "destroy of no ids")?;
    c.ensure(n == 0, || format!("destroy of no ids returned {n}"))?;
    let n = c.call(s.keys.destroy_expired(T0 + HOUR), "destroy_expired")?;
    c.ensure(n == 0, || {
        format!("destroy_expired before the only key's expiry returned {n}")
    })?;
    let got = c.call(s.keys.get(&k2.id), "get")?;
    c.ensure(got.as_deref() == Some(&*k2.blob), || {
        "a key inside its window must survive destroy and destroy_expired of others".into()
    })
}

/// Issue, reveal, status, revoke, expiry and purge through a vault.
///
/// # Errors
/// The first broken promise.
pub fn vault_lifecycle(harness: &dyn Harness) -> Result<(), Failure> {
    let c = Ctx("vault_lifecycle");
    let s = c.fresh(harness)?;
    let p = prefix(c)?;
    let clock = clock_at(c, T0)?;
    let v = vault(&s, &clock);
    let (x, y) = (format!("{p}-x"), format!("{p}-y"));
    let issued = c.call(v.issue(&x, Duration::from_millis(DAY)), "issue")?;
    c.call(v.issue(&y, Duration::from_millis(DAY)), "issue")?;
    for n in 1..=2 {
        let r = c.call(v.reveal(&x), "reveal")?;
        c.ensure(r.code == issued.code && r.reveal_count == n, || {
            format!(
                "reveal {n} must return the issued code and count {n}, counted {}",
                r.reveal_count
            )
        })?;
    }
    let st = c.call(v.status(&x), "status")?;
    c.ensure(
        st.state == CredentialState::Available
            && st.reveal_count == 2
            && ms(st.expires_at) == T0 + DAY,
        || format!("status after two reveals: {st:?}"),
    )?;
    c.call(v.revoke(&y), "revoke")?;
    c.ensure(matches!(v.reveal(&y), Err(Error::Revoked)), || {
        "a revoked credential must reveal as Revoked".into()
    })?;
    set(c, &clock, T0 + DAY)?;
    c.ensure(matches!(v.reveal(&x), Err(Error::Expired { .. })), || {
        "a reveal at the expiry must be Expired".into()
    })?;
    let st = c.call(v.status(&x), "status")?;
    c.ensure(st.state == CredentialState::Expired, || {
        format!("status after expiry: {st:?}")
    })?;
    let report = c.call(v.purge(), "purge")?;
    c.ensure(report.records_destroyed == 2, || {
        format!("purge after both expired: {report:?}")
    })?;
    c.ensure(c.call(s.keys.count(), "count")? == 0, || {
        "after revoke, expiry and purge the key store must be empty".into()
    })?;
    c.ensure(matches!(v.reveal(&x), Err(Error::NotFound)), || {
        "a purged credential must be NotFound".into()
    })?;
    let again = c.call(v.purge(), "purge")?;
    c.ensure(again == crate::PurgeReport::default(), || {
        format!("a second purge destroyed {again:?}")
    })
}

/// A batch with a taken or repeated id stores nothing.
///
/// # Errors
/// The first broken promise.
pub fn insert_all_is_all_or_nothing(harness: &dyn Harness) -> Result<(), Failure> {
    let c = Ctx("insert_all_is_all_or_nothing");
    let s = c.fresh(harness)?;
    let p = prefix(c)?;
    let rec = |name: &str| seal(c, &format!("{p}-{name}"), T0, T0 + DAY);
    let x = rec("x")?;
    c.call(
        s.records.insert_all(std::slice::from_ref(&x.record)),
        "insert_all",
    )?;
    let (y, x_again, z) = (rec("y")?, rec("x")?, rec("z")?);
    let result =
        s.records
            .insert_all(&[y.record.clone(), x_again.record.clone(), z.record.clone()]);
    c.ensure(matches!(result, Err(Error::AlreadyExists)), || {
        format!("a record batch with a taken order id must fail AlreadyExists, got {result:?}")
    })?;
    c.ensure(
        c.load(&s, &y.record.order_id)?.is_none() && c.load(&s, &z.record.order_id)?.is_none(),
        || "a refused record batch must store none of its records".into(),
    )?;
    c.ensure(
        c.load(&s, &x.record.order_id)? == Some(x.record.clone()),
        || "a refused record batch must leave the existing record as it was".into(),
    )?;
    let (q, q_again) = (rec("q")?, rec("q")?);
    let result = s
        .records
        .insert_all(&[q.record.clone(), q_again.record.clone()]);
    c.ensure(matches!(result, Err(Error::AlreadyExists)), || {
        format!("a record batch naming one order twice must fail AlreadyExists, got {result:?}")
    })?;
    c.ensure(c.load(&s, &q.record.order_id)?.is_none(), || {
        "a batch naming one order twice must store nothing".into()
    })?;

    let k = key(c, T0 + DAY, KEY_LEN)?;
    c.call(s.keys.insert_all(&[clone_key(&k)]), "insert_all")?;
    let (m, n) = (key(c, T0 + DAY, KEY_LEN)?, key(c, T0 + DAY, KEY_LEN)?);
    let mut k_again = key(c, T0 + DAY, KEY_LEN)?;
    k_again.id = k.id;
    let result = s.keys.insert_all(&[clone_key(&m), k_again, clone_key(&n)]);
    c.ensure(matches!(result, Err(Error::AlreadyExists)), || {
        format!("a key batch with a taken id must fail AlreadyExists, got {result:?}")
    })?;
    c.ensure(
        c.call(s.keys.get(&m.id), "get")?.is_none() && c.call(s.keys.get(&n.id), "get")?.is_none(),
        || "a refused key batch must store none of its keys".into(),
    )?;
    c.ensure(
        c.call(s.keys.get(&k.id), "get")?.as_deref() == Some(&*k.blob),
        || "a refused key batch must leave the existing key as it was".into(),
    )?;
    let r = key(c, T0 + DAY, KEY_LEN)?;
    let result = s.keys.insert_all(&[clone_key(&r), clone_key(&r)]);
    c.ensure(matches!(result, Err(Error::AlreadyExists)), || {
        format!("a key batch naming one id twice must fail AlreadyExists, got {result:?}")
    })?;
    c.ensure(c.call(s.keys.get(&r.id), "get")?.is_none(), || {
        "a key batch naming one id twice must store nothing".into()
    })?;

    // Through the vault: the refused batch's keys are destroyed again.
    let clock = clock_at(c, T0)?;
    let v = vault(&s, &clock);
    let taken = format!("{p}-taken");
    c.call(v.issue(&taken, Duration::from_millis(DAY)), "issue")?;
    let keys_before = c.call(s.keys.count(), "count")?;
    let batch = [format!("{p}-n1"), taken, format!("{p}-n2")];
    let result = v.issue_many(&batch, Duration::from_millis(DAY));
    c.ensure(matches!(result, Err(Error::AlreadyExists)), || {
        "issue_many with a taken order id must fail AlreadyExists".into()
    })?;
    for id in [&batch[0], &batch[2]] {
        c.ensure(matches!(v.status(id), Err(Error::NotFound)), || {
            "a refused issue_many must store none of its records".into()
        })?;
    }
    let keys_after = c.call(s.keys.count(), "count")?;
    c.ensure(keys_after == keys_before, || {
        format!("a refused issue_many left {keys_after} keys where {keys_before} were")
    })
}

/// Several handles insert one id at once: exactly one wins, the rest get `AlreadyExists`.
///
/// # Errors
/// The first broken promise.
pub fn already_exists_under_race(harness: &dyn Harness) -> Result<(), Failure> {
    const THREADS: usize = 4;
    const ROUNDS: usize = 12;
    let c = Ctx("already_exists_under_race");
    let s = c.fresh(harness)?;
    let handles = c.handles(harness, &s, THREADS)?;
    let p = prefix(c)?;
    for round in 0..ROUNDS {
        let id = format!("{p}-{round}");
        let candidates = (0..THREADS)
            .map(|_| seal(c, &id, T0, T0 + DAY))
            .collect::<Result<Vec<_>, _>>()?;
        let work: Vec<(&Stores, &Sealed)> = handles.iter().zip(&candidates).collect();
        let results = race(c, &work, |(h, cand)| {
            h.records.insert_all(std::slice::from_ref(&cand.record))
        })?;
        let winners: Vec<usize> = (0..results.len())
            .filter(|i| matches!(results.get(*i), Some(Ok(()))))
            .collect();
        c.ensure(winners.len() == 1, || {
            format!(
                "{} of {THREADS} concurrent inserts of one order id succeeded, expected 1",
                winners.len()
            )
        })?;
        c.ensure(
            results
                .iter()
                .all(|r| matches!(r, Ok(()) | Err(Error::AlreadyExists))),
            || "a losing concurrent insert must fail AlreadyExists, not another error".into(),
        )?;
        let winner = winners.first().and_then(|i| candidates.get(*i));
        c.ensure(
            c.load(&s, &id)?.as_ref() == winner.map(|w| &w.record),
            || "after a race the stored record must be the winner's".into(),
        )?;

        // The same for one key id.
        let base = key(c, T0 + DAY, KEY_LEN)?;
        let keys = (0..THREADS)
            .map(|_| key(c, T0 + DAY, KEY_LEN).map(|k| StoredKey { id: base.id, ..k }))
            .collect::<Result<Vec<_>, _>>()?;
        let work: Vec<(&Stores, &StoredKey)> = handles.iter().zip(&keys).collect();
        let results = race(c, &work, |(h, k)| h.keys.insert_all(&[clone_key(k)]))?;
        let winners: Vec<usize> = (0..results.len())
            .filter(|i| matches!(results.get(*i), Some(Ok(()))))
            .collect();
        c.ensure(
            winners.len() == 1
                && results.iter().all(|r| matches!(r, Ok(()) | Err(Error::AlreadyExists))),
            || format!("{} of {THREADS} concurrent inserts of one key id succeeded, expected 1 and AlreadyExists for the rest", winners.len()),
        )?;
        let stored = c.call(s.keys.get(&base.id), "get")?;
        let winner = winners.first().and_then(|i| keys.get(*i));
        c.ensure(stored.as_deref() == winner.map(|w| &*w.blob), || {
            "after a race the stored key must be the winner's".into()
        })?;

        // Concurrent destroys of one sealed record: one tombstone wins.
        let tombstones: Vec<(&Stores, RecordBody)> = handles
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let at = T0 + 1 + u64::try_from(i).unwrap_or(0);
                let body = if i % 2 == 0 {
                    RecordBody::Revoked { revoked_at_ms: at }
                } else {
                    RecordBody::Expired {
                        destroyed_at_ms: at,
                    }
                };
                (h, body)
            })
            .collect();
        let results = race(c, &tombstones, |(h, body)| h.records.destroy(&id, body))?;
        let won: Vec<usize> = (0..results.len())
            .filter(|i| matches!(results.get(*i), Some(Ok(true))))
            .collect();
        c.ensure(won.len() == 1 && results.iter().all(Result::is_ok), || {
            format!(
                "{} of {THREADS} concurrent destroys of one record returned true, expected 1",
                won.len()
            )
        })?;
        let body = c.load(&s, &id)?.map(|r| r.body);
        let expected = won
            .first()
            .and_then(|i| tombstones.get(*i))
            .map(|(_, b)| b.clone());
        c.ensure(body == expected, || {
            "after concurrent destroys the stored tombstone must be the winner's".into()
        })?;
    }
    Ok(())
}

/// Concurrent reveals: every call gets its own new count, none is lost.
///
/// # Errors
/// The first broken promise.
pub fn concurrent_reveals_lose_no_count(harness: &dyn Harness) -> Result<(), Failure> {
    const THREADS: usize = 8;
    const EACH: u64 = 40;
    let c = Ctx("concurrent_reveals_lose_no_count");
    let s = c.fresh(harness)?;
    let handles = c.handles(harness, &s, THREADS)?;
    let p = prefix(c)?;
    let id = format!("{p}-r");
    let sealed = seal(c, &id, T0, T0 + DAY)?;
    c.call(
        s.records.insert_all(std::slice::from_ref(&sealed.record)),
        "insert_all",
    )?;
    let results = race(c, &handles, |h| {
        (0..EACH)
            .map(|_| h.records.count_reveal(&id, T0 + HOUR, NO_LIMIT))
            .collect::<Vec<_>>()
    })?;
    let mut counts = Vec::new();
    for r in results.into_iter().flatten() {
        match c.call(r, "count_reveal")? {
            Some(n) => counts.push(n),
            None => return Err(c.fail("a count_reveal of an open sealed record returned None")),
        }
    }
    counts.sort_unstable();
    let total = EACH * u64::try_from(THREADS).unwrap_or(0);
    c.ensure(counts.iter().copied().eq(1..=total), || {
        let distinct = counts.iter().collect::<BTreeSet<_>>().len();
        format!("{total} concurrent count_reveal calls returned {distinct} distinct counts, max {:?}: a count was lost or given twice", counts.last())
    })?;
    let stored = c.load(&s, &id)?.map(|r| r.reveal_count);
    c.ensure(stored == Some(total), || {
        format!("stored reveal count {stored:?} after {total} reveals")
    })?;

    // Through vaults on separate handles, each checking its code.
    c.call(s.keys.insert_all(&[clone_key(&sealed.key)]), "insert_all")?;
    let clock = clock_at(c, T0 + HOUR)?;
    let vaults: Vec<Vault> = handles.iter().map(|h| vault(h, &clock)).collect();
    let results = race(c, &vaults, |v| {
        (0..4).map(|_| v.reveal(&id)).collect::<Vec<_>>()
    })?;
    let mut counts = Vec::new();
    for r in results.into_iter().flatten() {
        let revealed = c.call(r, "reveal")?;
        c.ensure(revealed.code == sealed.code, || {
            "a reveal returned another code".into()
        })?;
        counts.push(revealed.reveal_count);
    }
    counts.sort_unstable();
    let extra = 4 * u64::try_from(THREADS).unwrap_or(0);
    c.ensure(counts.iter().copied().eq(total + 1..=total + extra), || {
        "concurrent vault reveals must each see their own count".into()
    })
}

/// `count_reveal` counts at `expires_at - 1 ms` and refuses at `expires_at` and later.
///
/// # Errors
/// The first broken promise.
pub fn no_reveal_at_or_after_expiry(harness: &dyn Harness) -> Result<(), Failure> {
    let c = Ctx("no_reveal_at_or_after_expiry");
    let s = c.fresh(harness)?;
    let p = prefix(c)?;
    let expires = T0 + HOUR;
    let sealed = seal(c, &format!("{p}-e"), T0, expires)?;
    let id = sealed.record.order_id.clone();
    c.call(
        s.records.insert_all(std::slice::from_ref(&sealed.record)),
        "insert_all",
    )?;
    let got = c.call(
        s.records.count_reveal(&id, expires - 1, NO_LIMIT),
        "count_reveal",
    )?;
    c.ensure(got == Some(1), || {
        format!("count_reveal 1 ms before the expiry returned {got:?}, expected Some(1)")
    })?;
    for (now, what) in [
        (
            expires,
            "exactly at the expiry (the rule is expires_at > now, not >=)",
        ),
        (expires + 1, "1 ms after the expiry"),
        (
            record::MAX_TIME_MS,
            "at the latest time the vault represents",
        ),
    ] {
        let got = c.call(s.records.count_reveal(&id, now, NO_LIMIT), "count_reveal")?;
        c.ensure(got.is_none(), || {
            format!("count_reveal {what} returned {got:?}, expected None")
        })?;
    }
    let stored = c.load(&s, &id)?.map(|r| r.reveal_count);
    c.ensure(stored == Some(1), || {
        format!("a refused count_reveal changed the stored count to {stored:?}")
    })?;

    // And through a vault: the last millisecond reveals, the expiry does not.
    c.call(s.keys.insert_all(&[clone_key(&sealed.key)]), "insert_all")?;
    let clock = clock_at(c, expires - 1)?;
    let v = vault(&s, &clock);
    let r = c.call(v.reveal(&id), "reveal 1 ms before the expiry")?;
    c.ensure(r.code == sealed.code && r.reveal_count == 2, || {
        "a reveal 1 ms before the expiry must return the code and count it".into()
    })?;
    set(c, &clock, expires)?;
    c.ensure(matches!(v.reveal(&id), Err(Error::Expired { .. })), || {
        "a reveal exactly at the expiry must be Expired".into()
    })
}

/// `purge_expired` and `destroy_expired` take everything with `expires_at <= now`, nothing
/// later.
///
/// # Errors
/// The first broken promise.
pub fn purge_takes_exactly_the_expired(harness: &dyn Harness) -> Result<(), Failure> {
    let c = Ctx("purge_takes_exactly_the_expired");
    let s = c.fresh(harness)?;
    let p = prefix(c)?;
    let expires = T0 + HOUR;
    let a = seal(c, &format!("{p}-a"), T0, expires)?;
    let later = seal(c, &format!("{p}-l"), T0, expires + 1)?;
    c.call(
        s.records
            .insert_all(&[a.record.clone(), later.record.clone()]),
        "insert_all",
    )?;
    c.call(
        s.keys
            .insert_all(&[clone_key(&a.key), clone_key(&later.key)]),
        "insert_all",
    )?;
    let purged = c.call(s.records.purge_expired(expires - 1), "purge_expired")?;
    c.ensure(purged.is_empty(), || {
        format!(
            "purge_expired 1 ms before any expiry deleted {} records",
            purged.len()
        )
    })?;
    let n = c.call(s.keys.destroy_expired(expires - 1), "destroy_expired")?;
    c.ensure(n == 0, || {
        format!("destroy_expired 1 ms before any expiry destroyed {n} keys")
    })?;
    let purged = c.call(s.records.purge_expired(expires), "purge_expired")?;
    c.ensure(purged == [a.record.order_id.clone()], || {
        format!("purge_expired exactly at an expiry must delete exactly that record (expires_at <= now), deleted {}", purged.len())
    })?;
    let n = c.call(s.keys.destroy_expired(expires), "destroy_expired")?;
    c.ensure(n == 1, || {
        format!("destroy_expired exactly at an expiry must destroy exactly that key (expires_at <= now), destroyed {n}")
    })?;
    c.ensure(c.call(s.keys.get(&a.key.id), "get")?.is_none(), || {
        "a key destroyed at its expiry must be gone".into()
    })?;
    c.ensure(
        c.load(&s, &later.record.order_id)?.is_some()
            && c.call(s.keys.get(&later.key.id), "get")?.is_some(),
        || "a record and key expiring 1 ms later must survive".into(),
    )
}

/// A record or key changed in the store is `Tampered`, and not counted.
///
/// # Errors
/// The first broken promise.
pub fn tampering_is_detected(harness: &dyn Harness) -> Result<(), Failure> {
    let c = Ctx("tampering_is_detected");
    let s = c.fresh(harness)?;
    let p = prefix(c)?;
    let clock = clock_at(c, T0 + 1)?;
    let v = vault(&s, &clock);
    let control = seal(c, &format!("{p}-control"), T0, T0 + DAY)?;
    c.call(s.keys.insert_all(&[clone_key(&control.key)]), "insert_all")?;
    c.call(
        s.records.insert_all(std::slice::from_ref(&control.record)),
        "insert_all",
    )?;
    let r = c.call(
        v.reveal(&control.record.order_id),
        "reveal of an untouched record",
    )?;
    c.ensure(r.code == control.code, || {
        "the untouched control must reveal its code".into()
    })?;

    type Edit = fn(&mut StoredRecord, &mut StoredKey, &StoredRecord);
    let edits: [(&str, Edit); 8] = [
        ("a ciphertext bit flipped", |r, _, _| {
            if let RecordBody::Sealed { ciphertext, .. } = &mut r.body
                && let Some(b) = ciphertext.first_mut()
            {
                *b ^= 1;
            }
        }),
        ("a nonce bit flipped", |r, _, _| {
            if let RecordBody::Sealed { nonce, .. } = &mut r.body
                && let Some(b) = nonce.first_mut()
            {
                *b ^= 1;
            }
        }),
        ("the expiry moved a day later", |r, _, _| {
            r.expires_at_ms += DAY
        }),
        ("the creation moved 1 ms earlier", |r, _, _| {
            r.created_at_ms -= 1
        }),
        ("the record moved to another order", |r, _, _| {
            r.order_id.push_str("-moved")
        }),
        ("the record pointed at another live key", |r, _, control| {
            r.key_id = control.key_id
        }),
        ("the format version changed", |r, _, _| r.format = 1),
        ("the key replaced by another key", |_, k, _| {
            if let Some(b) = k.blob.first_mut() {
                *b ^= 1;
            }
        }),
    ];
    for (i, (what, edit)) in edits.iter().enumerate() {
        let mut sealed = seal(c, &format!("{p}-t{i}"), T0, T0 + DAY)?;
        edit(&mut sealed.record, &mut sealed.key, &control.record);
        c.call(s.keys.insert_all(&[clone_key(&sealed.key)]), "insert_all")?;
        c.call(
            s.records.insert_all(std::slice::from_ref(&sealed.record)),
            "insert_all",
        )?;
        let id = &sealed.record.order_id;
        let result = v.reveal(id);
        c.ensure(matches!(result, Err(Error::Tampered)), || {
            format!(
                "a record with {what} revealed as {:?}, expected Tampered",
                result.as_ref().map(|r| r.reveal_count)
            )
        })?;
        let count = c.load(&s, id)?.map(|r| r.reveal_count);
        c.ensure(count == Some(0), || {
            format!("a refused reveal ({what}) was counted: {count:?}")
        })?;
    }
    Ok(())
}

/// A copy of the record store taken earlier opens nothing once revoke or purge destroyed
/// the key; the same copy opened everything before (the control).
///
/// # Errors
/// The first broken promise.
pub fn backups_decrypt_nothing_after_revoke_or_purge(harness: &dyn Harness) -> Result<(), Failure> {
    let c = Ctx("backups_decrypt_nothing_after_revoke_or_purge");
    let s = c.fresh(harness)?;
    let p = prefix(c)?;
    let clock = clock_at(c, T0)?;
    let v = vault(&s, &clock);
    let ids = [
        format!("{p}-short"),
        format!("{p}-long"),
        format!("{p}-revoked"),
    ];
    let [short, long, revoked] = &ids;
    let issued_short = c.call(v.issue(short, Duration::from_millis(HOUR)), "issue")?;
    let issued_long = c.call(v.issue(long, Duration::from_millis(3 * DAY)), "issue")?;
    let issued_revoked = c.call(v.issue(revoked, Duration::from_millis(3 * DAY)), "issue")?;

    // The backup: every record as the store returns it, restorable as a store of its own.
    let mut copy = Vec::new();
    for id in &ids {
        let Some(record) = c.load(&s, id)? else {
            return Err(c.fail("an issued record did not load"));
        };
        copy.push(record);
    }
    let restore = || -> Result<Vault, Failure> {
        let restored = Arc::new(MemoryRecordStore::new());
        c.call(restored.insert_all(&copy), "restoring the copy")?;
        // The attacker sets the clock back to the issue time.
        Ok(Vault::new(restored, s.keys.clone()).with_clock(clock_at(c, T0)?))
    };
    let opens = |record: &StoredRecord| -> Result<Option<UnlockCode>, Failure> {
        let blob = c.call(s.keys.get(&record.key_id), "get")?;
        Ok(blob.and_then(|key| record::open_record(record, &key).ok()))
    };
    let codes = [&issued_short.code, &issued_long.code, &issued_revoked.code];
    for (record, code) in copy.iter().zip(codes) {
        c.ensure(opens(record)?.as_ref() == Some(code), || {
            "control: the copy must open with the live key store before revoke and purge".into()
        })?;
    }
    let attacker = restore()?;
    for (id, code) in ids.iter().zip(codes) {
        let r = c.call(
            attacker.reveal(id),
            "control: reveal from the restored copy",
        )?;
        c.ensure(&r.code == code, || {
            "control: the restored copy revealed another code".into()
        })?;
    }

    c.call(v.revoke(revoked), "revoke")?;
    let attacker = restore()?;
    c.ensure(attacker.reveal(revoked).is_err(), || {
        "a copy taken before a revoke still revealed the code afterwards".into()
    })?;
    c.ensure(
        copy.get(2).map(opens).transpose()?.flatten().is_none(),
        || "after revoke the key store still opens the copy's record".into(),
    )?;

    set(c, &clock, T0 + HOUR)?;
    c.call(v.purge(), "purge")?;
    let attacker = restore()?;
    c.ensure(attacker.reveal(short).is_err(), || {
        "a copy taken before a purge still revealed an expired code afterwards".into()
    })?;
    c.ensure(
        copy.first().map(opens).transpose()?.flatten().is_none(),
        || "after purge the key store still opens the copy's expired record".into(),
    )?;
    let r = c.call(
        attacker.reveal(long),
        "reveal of a code still inside its window",
    )?;
    c.ensure(r.code == issued_long.code, || {
        "purge must not touch a code still inside its window".into()
    })
}

/// Concurrent purges destroy each expired record and key exactly once; a repeat finds
/// nothing; nothing inside its window is touched.
///
/// # Errors
/// The first broken promise.
pub fn purge_is_idempotent_and_exactly_once(harness: &dyn Harness) -> Result<(), Failure> {
    const THREADS: usize = 3;
    const EXPIRED: usize = 24;
    const LIVE: usize = 8;
    const ORPHANS: usize = 6;
    let c = Ctx("purge_is_idempotent_and_exactly_once");
    let s = c.fresh(harness)?;
    let handles = c.handles(harness, &s, THREADS)?;
    let p = prefix(c)?;
    let expires = T0 + HOUR;
    let mut records = Vec::new();
    let mut keys = Vec::new();
    for i in 0..EXPIRED + LIVE {
        let end = if i < EXPIRED { expires } else { expires + DAY };
        let sealed = seal(c, &format!("{p}-{i}"), T0, end)?;
        records.push(sealed.record);
        keys.push(sealed.key);
    }
    for _ in 0..ORPHANS {
        keys.push(key(c, expires, KEY_LEN)?);
    }
    c.call(s.records.insert_all(&records), "insert_all")?;
    c.call(s.keys.insert_all(&keys), "insert_all")?;

    let results = race(c, &handles, |h| {
        (
            h.records.purge_expired(expires),
            h.keys.destroy_expired(expires),
        )
    })?;
    let mut purged = Vec::new();
    let mut keys_destroyed = 0u64;
    for (ids, n) in results {
        purged.extend(c.call(ids, "purge_expired")?);
        keys_destroyed += c.call(n, "destroy_expired")?;
    }
    purged.sort();
    let mut expected: Vec<String> = records
        .iter()
        .take(EXPIRED)
        .map(|r| r.order_id.clone())
        .collect();
    expected.sort();
    c.ensure(purged == expected, || {
        format!("{THREADS} concurrent purges returned {} ids for {EXPIRED} expired records (each must be purged exactly once)", purged.len())
    })?;
    let want = u64::try_from(EXPIRED + ORPHANS).unwrap_or(0);
    c.ensure(keys_destroyed == want, || {
        format!("{THREADS} concurrent destroy_expired calls destroyed {keys_destroyed} keys in total, expected {want}")
    })?;
    let again = c.call(s.records.purge_expired(expires), "purge_expired")?;
    let n = c.call(s.keys.destroy_expired(expires), "destroy_expired")?;
    c.ensure(again.is_empty() && n == 0, || {
        format!(
            "a repeated purge found {} records and {n} keys",
            again.len()
        )
    })?;
    for (r, k) in records.iter().zip(&keys).skip(EXPIRED) {
        c.ensure(
            c.load(&s, &r.order_id)? == Some(r.clone())
                && c.call(s.keys.get(&k.id), "get")?.as_deref() == Some(&*k.blob),
            || "purge touched a record or key inside its window".into(),
        )?;
    }

    // Through the vault: a second purge at the same time destroys nothing.
    let clock = clock_at(c, expires + DAY)?;
    let v = vault(&s, &clock);
    let first = c.call(v.purge(), "purge")?;
    let live = u64::try_from(LIVE).unwrap_or(0);
    c.ensure(
        first.records_destroyed == live && first.keys_destroyed == live,
        || format!("a vault purge after every expiry: {first:?}"),
    )?;
    let second = c.call(v.purge(), "purge")?;
    c.ensure(second == crate::PurgeReport::default(), || {
        format!("a repeated vault purge destroyed {second:?}")
    })
}

/// Inserts sealed records (and their keys), each `(name, expires_at_ms)` created at `T0`.
fn insert_sealed(
    c: Ctx,
    s: &Stores,
    p: &str,
    items: &[(&str, u64)],
) -> Result<Vec<Sealed>, Failure> {
    let sealed = items
        .iter()
        .map(|(name, expires)| seal(c, &format!("{p}-{name}"), T0, *expires))
        .collect::<Result<Vec<_>, _>>()?;
    let records: Vec<StoredRecord> = sealed.iter().map(|x| x.record.clone()).collect();
    let keys: Vec<StoredKey> = sealed.iter().map(|x| clone_key(&x.key)).collect();
    c.call(s.keys.insert_all(&keys), "KeyStore::insert_all")?;
    c.call(s.records.insert_all(&records), "RecordStore::insert_all")?;
    Ok(sealed)
}

/// `count_reveal` counts while `reveal_count < max_count`, refuses at it; through a vault
/// the limit answers `RevealLimitReached` and yields to `Revoked` and `Expired`.
///
/// # Errors
/// The first broken promise.
pub fn reveal_limit_is_exact(harness: &dyn Harness) -> Result<(), Failure> {
    let c = Ctx("reveal_limit_is_exact");
    let s = c.fresh(harness)?;
    let p = prefix(c)?;
    let expires = T0 + DAY;
    let sealed = insert_sealed(c, &s, &p, &[("l", expires)])?;
    let Some(first) = sealed.first() else {
        return Err(c.fail("no record sealed"));
    };
    let id = first.record.order_id.clone();
    let now = T0 + HOUR;
    let count = |max: u64| c.call(s.records.count_reveal(&id, now, max), "count_reveal");
    let steps: [(u64, Option<u64>, &str); 9] = [
        (0, None, "with max_count 0 (every reveal refused)"),
        (1, Some(1), "at count 0 with max_count 1 (max - 1: allowed)"),
        (
            1,
            None,
            "at count 1 with max_count 1 (count == max: refused)",
        ),
        (3, Some(2), "at count 1 with max_count 3"),
        (3, Some(3), "at count 2 with max_count 3 (max - 1: allowed)"),
        (
            3,
            None,
            "at count 3 with max_count 3 (count == max: refused)",
        ),
        (
            2,
            None,
            "at count 3 with max_count 2 (over the limit: refused)",
        ),
        (
            i64::MAX.unsigned_abs() + 1,
            Some(4),
            "with max_count just above i64::MAX (no limit)",
        ),
        (u64::MAX, Some(5), "with max_count u64::MAX (no limit)"),
    ];
    for (max, want, what) in steps {
        let got = count(max)?;
        c.ensure(got == want, || {
            format!("count_reveal {what} returned {got:?}, expected {want:?}")
        })?;
    }
    c.ensure(c.load(&s, &id)? == Some(with_count(&first.record, 5)), || {
        "after 5 counted and 4 refused reveals load must return the record with reveal_count 5 and nothing else changed".into()
    })?;
    // Through a vault with a limit of 2.
    let clock = clock_at(c, T0)?;
    let limited = vault(&s, &clock).with_reveal_limit(limit(2));
    let (x, y, z) = (format!("{p}-x"), format!("{p}-y"), format!("{p}-z"));
    let issued = c.call(limited.issue(&x, Duration::from_millis(DAY)), "issue")?;
    c.call(limited.issue(&y, Duration::from_millis(DAY)), "issue")?;
    c.call(limited.issue(&z, Duration::from_millis(DAY)), "issue")?;
    for n in 1..=2 {
        let r = c.call(limited.reveal(&x), "reveal under the limit")?;
        c.ensure(r.code == issued.code && r.reveal_count == n, || {
            format!(
                "reveal {n} of 2 allowed must return the code, counted {}",
                r.reveal_count
            )
        })?;
    }
    let third = limited.reveal(&x);
    c.ensure(matches!(third, Err(Error::RevealLimitReached)), || {
        format!(
            "the reveal after the limit must be RevealLimitReached, got {:?}",
            third.as_ref().map(|r| r.reveal_count)
        )
    })?;
    let st = c.call(limited.status(&x), "status")?;
    c.ensure(
        st.reveal_count == 2
            && st.reveal_limit_reached
            && !st.can_reveal()
            && st.state == CredentialState::Available,
        || format!("status at the limit: {st:?}"),
    )?;
    // The limit is the vault's setting: one without it reveals again.
    let r = c.call(vault(&s, &clock).reveal(&x), "reveal without a limit")?;
    c.ensure(r.reveal_count == 3, || {
        format!("a vault without a limit counted {}", r.reveal_count)
    })?;
    // Revoked and Expired answer before the limit.
    for _ in 0..2 {
        c.call(limited.reveal(&y), "reveal under the limit")?;
        c.call(limited.reveal(&z), "reveal under the limit")?;
    }
    c.call(limited.revoke(&y), "revoke")?;
    c.ensure(matches!(limited.reveal(&y), Err(Error::Revoked)), || {
        "a revoked credential at its limit must reveal as Revoked".into()
    })?;
    set(c, &clock, T0 + DAY)?;
    c.ensure(
        matches!(limited.reveal(&z), Err(Error::Expired { .. })),
        || "an expired credential at its limit must reveal as Expired".into(),
    )
}

fn limit(n: u64) -> std::num::NonZeroU64 {
    std::num::NonZeroU64::new(n).unwrap_or(std::num::NonZeroU64::MIN)
}

/// Of 16 concurrent reveals under a limit of 3, exactly 3 succeed: in the store, and
/// through vaults on separate handles.
///
/// # Errors
/// The first broken promise.
pub fn reveal_limit_holds_under_race(harness: &dyn Harness) -> Result<(), Failure> {
    const THREADS: usize = 16;
    const LIMIT: u64 = 3;
    const ROUNDS: usize = 3;
    let c = Ctx("reveal_limit_holds_under_race");
    let s = c.fresh(harness)?;
    let handles = c.handles(harness, &s, THREADS)?;
    let p = prefix(c)?;
    let now = T0 + HOUR;
    for round in 0..ROUNDS {
        let sealed = insert_sealed(c, &s, &p, &[(&format!("r{round}"), T0 + DAY)])?;
        let Some(first) = sealed.first() else {
            return Err(c.fail("no record sealed"));
        };
        let id = first.record.order_id.clone();
        let results = race(c, &handles, |h| h.records.count_reveal(&id, now, LIMIT))?;
        let mut counts = Vec::new();
        for r in results {
            if let Some(n) = c.call(r, "count_reveal")? {
                counts.push(n);
            }
        }
        counts.sort_unstable();
        c.ensure(counts.iter().copied().eq(1..=LIMIT), || {
            format!("{THREADS} concurrent count_reveal calls with max_count {LIMIT} counted {counts:?}, expected exactly [1, 2, 3]")
        })?;
        let stored = c.load(&s, &id)?.map(|r| r.reveal_count);
        c.ensure(stored == Some(LIMIT), || {
            format!("stored reveal count {stored:?} after a race at the limit {LIMIT}")
        })?;
    }

    // Through vaults, one per handle, all with the limit.
    let clock = clock_at(c, T0)?;
    let id = format!("{p}-v");
    let issued = c.call(
        vault(&s, &clock).issue(&id, Duration::from_millis(DAY)),
        "issue",
    )?;
    let vaults: Vec<Vault> = handles
        .iter()
        .map(|h| vault(h, &clock).with_reveal_limit(limit(LIMIT)))
        .collect();
    let results = race(c, &vaults, |v| v.reveal(&id))?;
    let mut counts = Vec::new();
    for r in results {
        match r {
            Ok(revealed) => {
                c.ensure(revealed.code == issued.code, || {
                    "a reveal returned another code".into()
                })?;
                counts.push(revealed.reveal_count);
            }
            Err(Error::RevealLimitReached) => {}
            Err(e) => {
                return Err(c.fail(format!(
                    "a reveal over the limit must fail RevealLimitReached, got {}",
                    describe(&e)
                )));
            }
        }
    }
    counts.sort_unstable();
    c.ensure(counts.iter().copied().eq(1..=LIMIT), || {
        format!("{THREADS} concurrent vault reveals with a limit of {LIMIT} returned the code with counts {counts:?}, expected exactly [1, 2, 3]")
    })
}

fn claim(
    c: Ctx,
    s: &Stores,
    now: u64,
    due_by: u64,
    lease_until: u64,
    max: usize,
) -> Result<Vec<ReminderClaim>, Failure> {
    let mut got = c.call(
        s.records.claim_reminders(now, due_by, lease_until, max),
        "claim_reminders",
    )?;
    got.sort_by(|a, b| a.order_id.cmp(&b.order_id));
    Ok(got)
}

fn claims_of(items: &[&Sealed]) -> Vec<ReminderClaim> {
    let mut claims: Vec<ReminderClaim> = items
        .iter()
        .map(|x| ReminderClaim {
            order_id: x.record.order_id.clone(),
            expires_at_ms: x.record.expires_at_ms,
        })
        .collect();
    claims.sort_by(|a, b| a.order_id.cmp(&b.order_id));
    claims
}

fn names(claims: &[ReminderClaim], p: &str) -> Vec<String> {
    claims
        .iter()
        .map(|x| {
            x.order_id
                .strip_prefix(p)
                .unwrap_or(&x.order_id)
                .trim_start_matches('-')
                .to_owned()
        })
        .collect()
}

/// `claim_reminders` takes exactly the due records, leases them, gives them again once the
/// lease is over (`lease <= now`) and never once marked; revealed records and tombstones
/// never. Then the same through a vault.
///
/// # Errors
/// The first broken promise.
pub fn reminder_claims_take_exactly_the_due(harness: &dyn Harness) -> Result<(), Failure> {
    let c = Ctx("reminder_claims_take_exactly_the_due");
    let s = c.fresh(harness)?;
    let p = prefix(c)?;
    let now = T0 + HOUR;
    let due_by = now + DAY;
    let lease_until = now + 10 * 60_000;
    let sealed = insert_sealed(
        c,
        &s,
        &p,
        &[
            ("at-now", now),
            ("just-after", now + 1),
            ("at-due", due_by),
            ("after-due", due_by + 1),
            ("plain", now + HOUR),
            ("revealed", now + HOUR),
            ("revoked", now + HOUR),
            ("expired", now + HOUR),
            ("premarked", now + HOUR),
        ],
    )?;
    let by_name = |name: &str| -> Result<&Sealed, Failure> {
        let id = format!("{p}-{name}");
        sealed
            .iter()
            .find(|x| x.record.order_id == id)
            .ok_or_else(|| c.fail("a test record is missing"))
    };
    let id_of = |name: &str| format!("{p}-{name}");
    let revealed = c.call(
        s.records.count_reveal(&id_of("revealed"), T0, NO_LIMIT),
        "count_reveal",
    )?;
    c.ensure(revealed == Some(1), || {
        format!("count_reveal of a sealed record returned {revealed:?}")
    })?;
    c.call(
        s.records.destroy(
            &id_of("revoked"),
            &RecordBody::Revoked { revoked_at_ms: T0 },
        ),
        "destroy",
    )?;
    c.call(
        s.records.destroy(
            &id_of("expired"),
            &RecordBody::Expired {
                destroyed_at_ms: T0,
            },
        ),
        "destroy",
    )?;
    let marked = c.call(
        s.records.mark_reminded(&id_of("premarked"), T0),
        "mark_reminded",
    )?;
    c.ensure(marked, || {
        "mark_reminded of an unmarked record must return true".into()
    })?;
    let again = c.call(
        s.records.mark_reminded(&id_of("premarked"), T0 + 1),
        "mark_reminded",
    )?;
    c.ensure(!again, || {
        "mark_reminded of a marked record must return false".into()
    })?;
    let missing = c.call(s.records.mark_reminded(&id_of("none"), T0), "mark_reminded")?;
    c.ensure(!missing, || {
        "mark_reminded of a missing record must return false".into()
    })?;

    let none = claim(c, &s, now, due_by, lease_until, 0)?;
    c.ensure(none.is_empty(), || {
        format!("claim_reminders with max 0 claimed {:?}", names(&none, &p))
    })?;
    let first = claim(c, &s, now, due_by, lease_until, 100)?;
    let want = claims_of(&[
        by_name("just-after")?,
        by_name("at-due")?,
        by_name("plain")?,
    ]);
    c.ensure(first == want, || {
        format!(
            "claim_reminders claimed {:?}, expected exactly [just-after, at-due, plain] with their stored expiry (not: expiring exactly at now, after due_by, revealed, revoked, expired tombstone, marked)",
            names(&first, &p)
        )
    })?;
    for x in &sealed {
        let id = &x.record.order_id;
        let loaded = c.load(&s, id)?;
        let unchanged = loaded.as_ref().is_some_and(|r| {
            r.reveal_count == u64::from(*id == id_of("revealed"))
                && r.expires_at_ms == x.record.expires_at_ms
                && r.key_id == x.record.key_id
        });
        c.ensure(unchanged, || {
            "a claim or mark must not change what load returns".into()
        })?;
    }
    for (at, what) in [
        (now, "at the same time"),
        (lease_until - 1, "1 ms before the lease ends"),
    ] {
        let got = claim(c, &s, at, due_by, at + 10 * 60_000, 100)?;
        c.ensure(got.is_empty(), || {
            format!(
                "a second claim {what} claimed {:?} again (a running lease must keep them)",
                names(&got, &p)
            )
        })?;
    }
    let marked = c.call(
        s.records.mark_reminded(&id_of("plain"), now + 5),
        "mark_reminded",
    )?;
    c.ensure(marked, || {
        "mark_reminded of a claimed record must return true".into()
    })?;
    // Exactly at the lease end it is over (lease <= now): at-due again; plain is marked,
    // just-after has expired.
    let second_lease = lease_until + 10 * 60_000;
    let got = claim(c, &s, lease_until, due_by, second_lease, 100)?;
    let want = claims_of(&[by_name("at-due")?]);
    c.ensure(got == want, || {
        format!(
            "a claim exactly when the lease ends claimed {:?}, expected [at-due] (a lease is over at lease_until <= now; a marked record is never claimed again)",
            names(&got, &p)
        )
    })?;
    let got = claim(c, &s, second_lease, due_by, second_lease + 1, 100)?;
    c.ensure(got == want, || {
        format!(
            "a record claimed twice and never marked must be claimed a third time after its lease, got {:?}",
            names(&got, &p)
        )
    })?;
    c.call(
        s.records.mark_reminded(&id_of("at-due"), second_lease),
        "mark_reminded",
    )?;
    let got = claim(c, &s, due_by - 1, due_by, due_by, 100)?;
    c.ensure(got.is_empty(), || {
        format!("after both were marked a claim found {:?}", names(&got, &p))
    })?;

    // Up to max, earliest expiry first.
    let q = format!("{p}-q");
    let batch = insert_sealed(
        c,
        &s,
        &q,
        &[
            ("e", due_by + 5 * HOUR),
            ("b", due_by + 2 * HOUR),
            ("d", due_by + 4 * HOUR),
            ("a", due_by + HOUR),
            ("c", due_by + 3 * HOUR),
        ],
    )?;
    let at = due_by + 1;
    let got = claim(c, &s, at, at + DAY, at + HOUR, 2)?;
    let earliest: Vec<&Sealed> = batch
        .iter()
        .filter(|x| x.record.order_id.ends_with("-a") || x.record.order_id.ends_with("-b"))
        .collect();
    c.ensure(got == claims_of(&earliest), || {
        format!(
            "claim_reminders with max 2 of 5 due claimed {:?}, expected the two earliest [a, b]",
            names(&got, &q)
        )
    })?;
    let rest = claim(c, &s, at, at + DAY, at + HOUR, 100)?;
    c.ensure(rest.len() == 3, || {
        format!(
            "the next claim found {:?}, expected the other three",
            names(&rest, &q)
        )
    })?;

    // Purge takes the reminder state with the record: the same order id issued again is
    // due again.
    let gone = c.call(s.records.purge_expired(due_by + DAY), "purge_expired")?;
    c.ensure(gone.contains(&id_of("at-due")), || {
        "purge_expired must delete a claimed and marked record at its expiry".into()
    })?;
    let reborn = seal(c, &id_of("at-due"), due_by + DAY, due_by + DAY + HOUR)?;
    c.call(
        s.records.insert_all(std::slice::from_ref(&reborn.record)),
        "insert_all",
    )?;
    let at = due_by + DAY + 1;
    let got = claim(c, &s, at, at + HOUR, at + 1, 100)?;
    c.ensure(got == claims_of(&[&reborn]), || {
        format!(
            "a record inserted after the purge of a marked one under the same order id must be claimable, got {:?}",
            names(&got, &p)
        )
    })?;

    // Through a vault.
    let v_p = format!("{p}-v");
    let clock = clock_at(c, T0)?;
    let v = vault(&s, &clock);
    let (soon, later, seen) = (
        format!("{v_p}-soon"),
        format!("{v_p}-later"),
        format!("{v_p}-seen"),
    );
    let soon_issued = c.call(v.issue(&soon, Duration::from_millis(2 * DAY)), "issue")?;
    c.call(v.issue(&later, Duration::from_millis(5 * DAY)), "issue")?;
    c.call(v.issue(&seen, Duration::from_millis(2 * DAY)), "issue")?;
    c.call(v.reveal(&seen), "reveal")?;
    let lead = Duration::from_millis(2 * DAY);
    let lease = Duration::from_millis(HOUR);
    let due = c.call(v.claim_reminders(lead, lease, 10), "Vault::claim_reminders")?;
    let due: Vec<_> = due
        .iter()
        .filter(|d| d.order_id().starts_with(&v_p))
        .collect();
    c.ensure(
        due.len() == 1
            && due.first().is_some_and(|d| d.order_id() == soon && d.expires_at() == soon_issued.expires_at),
        || format!("Vault::claim_reminders with a 2-day lead returned {} orders, expected only the unrevealed one expiring in 2 days", due.len()),
    )?;
    c.ensure(
        c.call(v.mark_reminded(&soon), "Vault::mark_reminded")?,
        || "Vault::mark_reminded of a claimed order must return true".into(),
    )?;
    set(c, &clock, T0 + 3 * DAY + 1)?;
    let due = c.call(v.claim_reminders(lead, lease, 10), "Vault::claim_reminders")?;
    let due: Vec<&str> = due
        .iter()
        .map(|d| d.order_id())
        .filter(|id| id.starts_with(&v_p))
        .collect();
    c.ensure(due == [later.as_str()], || {
        format!(
            "three days on, Vault::claim_reminders returned {due:?}, expected only the 5-day order"
        )
    })
}

/// Claims racing on several handles return each due record exactly once.
///
/// # Errors
/// The first broken promise.
pub fn concurrent_reminder_claims_are_exclusive(harness: &dyn Harness) -> Result<(), Failure> {
    const THREADS: usize = 6;
    const RECORDS: usize = 40;
    const EACH: usize = 3;
    let c = Ctx("concurrent_reminder_claims_are_exclusive");
    let s = c.fresh(harness)?;
    let handles = c.handles(harness, &s, THREADS)?;
    let p = prefix(c)?;
    let now = T0 + HOUR;
    let names: Vec<String> = (0..RECORDS).map(|i| format!("{i}")).collect();
    let items: Vec<(&str, u64)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.as_str(),
                now + 1 + u64::try_from(i % 7).unwrap_or(0) * HOUR,
            )
        })
        .collect();
    let sealed = insert_sealed(c, &s, &p, &items)?;
    let results = race(c, &handles, |h| {
        let mut mine = Vec::new();
        loop {
            match h.records.claim_reminders(now, now + DAY, now + HOUR, EACH) {
                Ok(got) if got.is_empty() => return Ok(mine),
                Ok(got) => mine.extend(got),
                Err(e) => return Err(e),
            }
        }
    })?;
    let mut all = Vec::new();
    for r in results {
        let got = c.call(r, "claim_reminders")?;
        c.ensure(got.len() <= RECORDS, || "a claim returned too many".into())?;
        all.extend(got);
    }
    all.sort_by(|a, b| a.order_id.cmp(&b.order_id));
    let refs: Vec<&Sealed> = sealed.iter().collect();
    let want = claims_of(&refs);
    c.ensure(all == want, || {
        let distinct = all.iter().map(|x| &x.order_id).collect::<BTreeSet<_>>().len();
        format!("{THREADS} concurrent claimers returned {} claims ({distinct} distinct) for {RECORDS} due records: each must be claimed exactly once", all.len())
    })?;
    let left = claim(c, &s, now, now + DAY, now + HOUR, 100)?;
    c.ensure(left.is_empty(), || {
        format!(
            "after the race {} records were claimable again within their lease",
            left.len()
        )
    })
}
