//! A host plugs its own record store into the vault and proves it with the conformance
//! suite: `cargo run -p autocsr-credential --no-default-features --features conformance
//! --example custom_store`.
//!
//! The store keeps one file per record (`StoredRecord::encode`, a stable format per
//! `record::FORMAT_VERSION`), written to a temporary name, synced and renamed into place, so
//! a reader sees the old or the new record, never half of one. A process-wide lock makes
//! each method one step against concurrent callers: that is all the atomicity such a store
//! has, so only one process may open the directory. What it relaxes (see the crate README,
//! "Writing a store"): `insert_all` is all-or-nothing for callers, and rolls back what it
//! wrote when a later file fails, but a crash part-way through can leave some of a batch's
//! records stored (each complete, with its key: the vault writes keys first). Keys stay in
//! the `MemoryKeyStore` here; a real host puts them in its KMS-backed store, because
//! deleting a key file does not erase its bytes from the disk.
//!
//! Reminder bookkeeping (the lease and the reminded mark of `RecordStore::claim_reminders`)
//! lives in a second small file per record, `<id>.rem`, written the same way: it is not part
//! of `StoredRecord`, whose encoding stays as it is.

#![allow(clippy::print_stdout, reason = "an example that reports what it did")]

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use autocsr_credential::conformance::{self, Stores};
use autocsr_credential::record::{RecordBody, StoredRecord};
use autocsr_credential::{Error, MemoryKeyStore, RecordStore, ReminderClaim, Vault};

/// A record's reminder lease and mark (ms since 1970), kept in `<id>.rem`.
#[derive(Clone, Copy, Debug, Default)]
struct Reminder {
    lease_until_ms: Option<u64>,
    reminded_at_ms: Option<u64>,
}

impl Reminder {
    /// Two lines, each a number or empty.
    fn encode(self) -> String {
        let field = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        format!(
            "{}\n{}\n",
            field(self.lease_until_ms),
            field(self.reminded_at_ms)
        )
    }

    fn decode(text: &str) -> Result<Self, Error> {
        let mut lines = text.lines().map(|line| {
            if line.is_empty() {
                Ok(None)
            } else {
                line.parse().map(Some).map_err(|_| Error::Malformed {
                    what: "reminder file",
                })
            }
        });
        let mut next = || lines.next().unwrap_or(Ok(None));
        Ok(Self {
            lease_until_ms: next()?,
            reminded_at_ms: next()?,
        })
    }
}

/// Records as one file each in a directory.
#[derive(Debug)]
struct DirRecordStore {
    dir: PathBuf,
    /// Serialises every method: each is one step for concurrent callers in this process.
    lock: Mutex<()>,
}

impl DirRecordStore {
    /// Uses `dir` (which must exist) for the records.
    #[must_use]
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            lock: Mutex::new(()),
        }
    }

    /// The file of one order: its id in hex, so no order id is ever a path.
    fn path(&self, order_id: &str) -> PathBuf {
        let name: String = order_id.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.rec"))
    }

    /// The order's reminder file, beside its record file.
    fn reminder_path(&self, order_id: &str) -> PathBuf {
        self.path(order_id).with_extension("rem")
    }

    fn read_reminder(&self, order_id: &str) -> Result<Reminder, Error> {
        match fs::read_to_string(self.reminder_path(order_id)) {
            Ok(text) => Reminder::decode(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Reminder::default()),
            Err(e) => Err(Error::storage(e)),
        }
    }

    fn write_reminder(&self, order_id: &str, reminder: Reminder) -> Result<(), Error> {
        self.write_file(&self.reminder_path(order_id), reminder.encode().as_bytes())
    }

    /// Removes the order's reminder file, if any.
    fn remove_reminder(&self, order_id: &str) -> Result<(), Error> {
        match fs::remove_file(self.reminder_path(order_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::storage(e)),
            _ => Ok(()),
        }
    }

    /// Every record in the directory.
    fn all(&self) -> Result<Vec<(PathBuf, StoredRecord)>, Error> {
        let mut records = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(Error::storage)? {
            let path = entry.map_err(Error::storage)?.path();
            if path.extension().is_none_or(|e| e != "rec") {
                continue;
            }
            let record = StoredRecord::decode(&fs::read(&path).map_err(Error::storage)?)?;
            records.push((path, record));
        }
        Ok(records)
    }

    fn read(&self, order_id: &str) -> Result<Option<StoredRecord>, Error> {
        match fs::read(self.path(order_id)) {
            Ok(bytes) => StoredRecord::decode(&bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::storage(e)),
        }
    }

    fn write(&self, record: &StoredRecord) -> Result<(), Error> {
        self.write_file(&self.path(&record.order_id), &record.encode()?)
    }

    /// Writes to a temporary file, syncs it, renames it over `path`, syncs the directory.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        let tmp = path.with_extension("tmp");
        let mut file = fs::File::create(&tmp).map_err(Error::storage)?;
        file.write_all(bytes).map_err(Error::storage)?;
        file.sync_all().map_err(Error::storage)?;
        fs::rename(&tmp, path).map_err(Error::storage)?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::storage)
    }
}

impl RecordStore for DirRecordStore {
    fn insert_all(&self, records: &[StoredRecord]) -> Result<(), Error> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let mut seen = HashSet::new();
        for r in records {
            if !seen.insert(r.order_id.as_str()) || self.path(&r.order_id).exists() {
                return Err(Error::AlreadyExists);
            }
        }
        for (i, r) in records.iter().enumerate() {
            // A reminder file a crash in purge left behind belongs to an older record.
            let written = self
                .remove_reminder(&r.order_id)
                .and_then(|()| self.write(r));
            if let Err(error) = written {
                // Roll back what this call wrote, so callers see all or nothing.
                for done in records.iter().take(i) {
                    let _ = fs::remove_file(self.path(&done.order_id));
                }
                return Err(error);
            }
        }
        Ok(())
    }

    fn load(&self, order_id: &str) -> Result<Option<StoredRecord>, Error> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.read(order_id)
    }

    fn count_reveal(
        &self,
        order_id: &str,
        now_ms: u64,
        max_count: u64,
    ) -> Result<Option<u64>, Error> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(mut record) = self.read(order_id)? else {
            return Ok(None);
        };
        // The vault's rule, repeated here because the check and the write must be one step:
        // open while expires_at > now, so never at the expiry itself; and under the limit.
        if !matches!(record.body, RecordBody::Sealed { .. })
            || record.expires_at_ms <= now_ms
            || record.reveal_count >= max_count
        {
            return Ok(None);
        }
        record.reveal_count = record.reveal_count.saturating_add(1).min(i64::MAX as u64);
        self.write(&record)?;
        Ok(Some(record.reveal_count))
    }

    fn destroy(&self, order_id: &str, tombstone: &RecordBody) -> Result<bool, Error> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        match self.read(order_id)? {
            Some(mut record) if matches!(record.body, RecordBody::Sealed { .. }) => {
                record.body = tombstone.clone();
                self.write(&record)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn purge_expired(&self, now_ms: u64) -> Result<Vec<String>, Error> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let mut purged = Vec::new();
        for (path, record) in self.all()? {
            if record.expires_at_ms <= now_ms {
                // The reminder file first: a crash in between leaves an expired record
                // without one, which no claim takes.
                self.remove_reminder(&record.order_id)?;
                fs::remove_file(&path).map_err(Error::storage)?;
                purged.push(record.order_id);
            }
        }
        Ok(purged)
    }

    fn claim_reminders(
        &self,
        now_ms: u64,
        due_by_ms: u64,
        lease_until_ms: u64,
        max: usize,
    ) -> Result<Vec<ReminderClaim>, Error> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let mut due = Vec::new();
        for (_, record) in self.all()? {
            // The same rule as every store's: strict at now, inclusive at due_by, and a
            // lease ending exactly now is over.
            if !matches!(record.body, RecordBody::Sealed { .. })
                || record.reveal_count != 0
                || record.expires_at_ms <= now_ms
                || record.expires_at_ms > due_by_ms
            {
                continue;
            }
            let reminder = self.read_reminder(&record.order_id)?;
            if reminder.reminded_at_ms.is_some()
                || reminder.lease_until_ms.is_some_and(|lease| lease > now_ms)
            {
                continue;
            }
            due.push((
                reminder,
                ReminderClaim {
                    order_id: record.order_id,
                    expires_at_ms: record.expires_at_ms,
                },
            ));
        }
        due.sort_by(|(_, a), (_, b)| {
            (a.expires_at_ms, &a.order_id).cmp(&(b.expires_at_ms, &b.order_id))
        });
        due.truncate(max);
        let mut claims = Vec::with_capacity(due.len());
        for (reminder, claim) in due {
            let leased = Reminder {
                lease_until_ms: Some(lease_until_ms),
                ..reminder
            };
            self.write_reminder(&claim.order_id, leased)?;
            claims.push(claim);
        }
        Ok(claims)
    }

    fn mark_reminded(&self, order_id: &str, now_ms: u64) -> Result<bool, Error> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if self.read(order_id)?.is_none() {
            return Ok(false);
        }
        let reminder = self.read_reminder(order_id)?;
        if reminder.reminded_at_ms.is_some() {
            return Ok(false);
        }
        let marked = Reminder {
            reminded_at_ms: Some(now_ms),
            ..reminder
        };
        self.write_reminder(order_id, marked)?;
        Ok(true)
    }
}

/// Runs the suite against the directory store (one fresh directory per check), then uses it.
///
/// # Errors
/// The suite's failures, or any vault error.
pub(crate) fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = tempfile::tempdir()?;
    let next = AtomicUsize::new(0);
    let harness = || -> Result<Stores, Error> {
        let dir = root
            .path()
            .join(next.fetch_add(1, Ordering::SeqCst).to_string());
        fs::create_dir(&dir).map_err(Error::storage)?;
        Ok(Stores {
            records: Arc::new(DirRecordStore::new(&dir)),
            keys: Arc::new(MemoryKeyStore::new()),
        })
    };
    conformance::run_all(&harness)?;
    println!(
        "DirRecordStore passed all {} conformance checks",
        conformance::CHECKS.len()
    );

    let stores = harness()?;
    let vault = Vault::new(stores.records, stores.keys);
    let issued = vault.issue("order-1001", Duration::from_secs(7 * 24 * 3600))?;
    let revealed = vault.reveal("order-1001")?;
    assert_eq!(revealed.code, issued.code);
    println!("issued and revealed order-1001 through the directory store");
    // A never-revealed order is due a reminder within the lead; the revealed one is not.
    vault.issue("order-1002", Duration::from_secs(24 * 3600))?;
    let due =
        vault.claim_reminders(Duration::from_secs(48 * 3600), Duration::from_secs(600), 10)?;
    let ids: Vec<&str> = due.iter().map(|d| d.order_id()).collect();
    assert_eq!(ids, ["order-1002"]);
    assert!(vault.mark_reminded("order-1002")?);
    println!("claimed and marked the reminder for order-1002");
    Ok(())
}
