//! The embedded default store: records and record keys in two SQLite files.
//!
//! Both files run in WAL mode with `synchronous=FULL` (a commit survives power loss) and
//! `secure_delete=ON` (deleted bytes are overwritten, not left in free pages). Every call
//! that destroys keys ends with a `wal_checkpoint(TRUNCATE)` whose result is checked, so a
//! key reported destroyed is gone from the key store's files, and never only from its
//! latest snapshot. Every trait method is one transaction. Files are created with mode 0600.
//!
//! The record store's log is checkpointed by a background thread rather than by the commit
//! that fills it (see `checkpointer`), so a reveal never waits for a disk sync that is not its
//! own.

mod checkpointer;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use zeroize::Zeroizing;

use crate::record::{KeyId, NONCE_LEN, RecordBody, StoredRecord};
use crate::store::{KeyStore, RecordStore, ReminderClaim, StoredKey, lock};
use crate::{Error, Vault};
use checkpointer::{Checkpointer, RECORD_LIMITS};

/// File name of the record store inside a vault directory (safe to back up).
pub const RECORDS_FILE: &str = "records.sqlite3";
/// File name of the key store inside a vault directory (never back it up).
pub const KEYS_FILE: &str = "keys.sqlite3";

/// How long a call waits for another connection's lock (and a key-destroying checkpoint
/// for other readers) before it gives up; see `set_busy_timeout`.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const STATE_SEALED: i64 = 0;
const STATE_EXPIRED: i64 = 1;
const STATE_REVOKED: i64 = 2;

/// One store's schema: the current version, how to create it, the in-place upgrades from
/// earlier versions, and the table that held data under the pre-release version 1.
struct Schema {
    version: i64,
    create: &'static str,
    /// Oldest first; each takes the schema from `to - 1` to `to`, the last to `version`.
    /// A version older than the first upgrade's start (that is, 1) is legacy.
    upgrades: &'static [Upgrade],
    legacy_table: &'static str,
}

/// One in-place upgrade step (see [`Schema::upgrades`]).
struct Upgrade {
    to: i64,
    sql: &'static str,
}

impl Schema {
    /// The oldest version that is upgraded in place rather than treated as legacy.
    fn oldest_upgradable(&self) -> i64 {
        self.upgrades.first().map_or(self.version, |u| u.to - 1)
    }
}

/// Version 1 held records under daily epoch keys (`key_epoch`); version 2 names each
/// record's own key; version 3 adds the reminder lease and mark (bookkeeping beside the
/// record, not part of `StoredRecord`: see `RecordStore::claim_reminders`).
const RECORD_SCHEMA: Schema = Schema {
    version: 3,
    create: "CREATE TABLE records (
        order_id     TEXT PRIMARY KEY NOT NULL,
        format       INTEGER NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        key_id       BLOB NOT NULL,
        reveal_count INTEGER NOT NULL DEFAULT 0,
        state        INTEGER NOT NULL,
        state_at     INTEGER,
        nonce        BLOB,
        ciphertext   BLOB,
        reminder_lease_until INTEGER,
        reminded_at  INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX records_by_expiry ON records (expires_at);
    CREATE INDEX records_reminder_due ON records (expires_at)
        WHERE state = 0 AND reveal_count = 0 AND reminded_at IS NULL;",
    // Two nullable columns (no row is rewritten) and the claim's index: only the
    // never-revealed, unreminded sealed records (a reveal or a mark drops a row out of it).
    upgrades: &[Upgrade {
        to: 3,
        sql: "ALTER TABLE records ADD COLUMN reminder_lease_until INTEGER;
            ALTER TABLE records ADD COLUMN reminded_at INTEGER;
            CREATE INDEX records_reminder_due ON records (expires_at)
                WHERE state = 0 AND reveal_count = 0 AND reminded_at IS NULL;",
    }],
    legacy_table: "records",
};

/// Version 1 held one key per expiry day (`epoch_keys`); version 2 one key per record.
const KEY_SCHEMA: Schema = Schema {
    version: 2,
    create: "CREATE TABLE record_keys (
        key_id     BLOB PRIMARY KEY NOT NULL,
        expires_at INTEGER NOT NULL,
        key        BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX record_keys_by_expiry ON record_keys (expires_at);",
    upgrades: &[],
    legacy_table: "epoch_keys",
};

fn db_err(e: rusqlite::Error) -> Error {
    Error::storage(e)
}

/// An insert that breaks a unique constraint names an id that is taken; any other failure
/// is the database's.
fn insert_err(e: rusqlite::Error) -> Error {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            Error::AlreadyExists
        }
        e => db_err(e),
    }
}

fn to_i64(v: u64) -> Result<i64, Error> {
    i64::try_from(v).map_err(|_| Error::InvalidTime)
}

fn to_u64(v: i64) -> Result<u64, Error> {
    u64::try_from(v).map_err(|_| Error::Malformed {
        what: "negative stored integer",
    })
}

/// Creates `path` (and its `-wal` / `-shm` companions) with mode 0600 if missing, so SQLite
/// never creates them with the process umask. Safe when several processes do it at once:
/// nothing is truncated, and whoever creates a file creates it private.
fn create_private(path: &Path) -> Result<(), Error> {
    let mut names = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        names.push(PathBuf::from(name));
    }
    for name in names {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&name).map_err(Error::storage)?;
    }
    Ok(())
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// Switches to WAL mode. Changing the journal mode takes an exclusive lock without asking
/// the busy handler, so concurrent first opens of a fresh file retry here, bounded by the
/// busy timeout.
fn enable_wal(conn: &Connection, timeout: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(_) => {
                return Err(Error::Malformed {
                    what: "the database refused WAL mode",
                });
            }
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(db_err(e)),
        }
    }
}

/// What to do with a version-1 store that still holds data.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Legacy {
    /// Refuse it ([`Error::LegacyFormat`]) and leave it untouched.
    Refuse,
    /// Drop it: only for a version-1 key store once the record store beside it holds no
    /// version-1 record, so its epoch keys can open nothing but old backups.
    Discard,
}

fn open_connection(path: &Path, schema: &Schema, legacy: Legacy) -> Result<Connection, Error> {
    create_private(path)?;
    let mut conn = Connection::open(path).map_err(db_err)?;
    conn.busy_timeout(DEFAULT_BUSY_TIMEOUT).map_err(db_err)?;
    enable_wal(&conn, DEFAULT_BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db_err)?;
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(db_err)?;
    // 32 MiB of page cache: a purge of a million records touches every page of the table.
    conn.pragma_update(None, "cache_size", -32_768)
        .map_err(db_err)?;
    if migrate(&mut conn, schema, legacy)? {
        // Dropped legacy keys: push their overwritten pages out of the WAL as well.
        // Best effort: a reader now only delays it to the next destroying call.
        let _complete = checkpoint(&conn)?;
    }
    Ok(conn)
}

/// Creates or checks the schema in one IMMEDIATE transaction (concurrent first opens queue
/// on its lock). A newer schema is refused; an older one from version 2 on is upgraded in
/// place (`Schema::upgrades`); an empty version-1 store is replaced; a
/// version-1 store holding data is refused ([`Error::LegacyFormat`]), never half-converted,
/// unless `legacy` says to discard it. Returns whether legacy data was dropped.
fn migrate(conn: &mut Connection, schema: &Schema, legacy: Legacy) -> Result<bool, Error> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(db_err)?;
    let current: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    if current > schema.version {
        return Err(Error::UnsupportedSchema {
            found: current,
            supported: schema.version,
        });
    }
    if current == schema.version {
        tx.commit().map_err(db_err)?;
        return Ok(false);
    }
    if current > 0 && current >= schema.oldest_upgradable() {
        // In place, step by step, in this one transaction: a crash leaves the old version.
        for upgrade in schema.upgrades.iter().filter(|u| u.to > current) {
            tx.execute_batch(upgrade.sql).map_err(db_err)?;
        }
        tx.execute("UPDATE schema_version SET version = ?1", [schema.version])
            .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        return Ok(false);
    }
    let mut dropped = false;
    if current > 0 {
        let holds_data: bool = tx
            .query_row(
                &format!("SELECT EXISTS (SELECT 1 FROM {})", schema.legacy_table),
                [],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if holds_data && legacy == Legacy::Refuse {
            return Err(Error::LegacyFormat { found: current });
        }
        dropped = holds_data;
        tx.execute_batch(&format!("DROP TABLE {}", schema.legacy_table))
            .map_err(db_err)?;
        tx.execute("DELETE FROM schema_version", [])
            .map_err(db_err)?;
    }
    tx.execute_batch(schema.create).map_err(db_err)?;
    tx.execute(
        "INSERT INTO schema_version (version) VALUES (?1)",
        [schema.version],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(dropped)
}

/// Copies the WAL into the database and truncates it, so no old page image survives there.
/// Returns whether it completed: another connection's read transaction can hold it back
/// (after the busy handler has waited out the busy timeout).
fn checkpoint(conn: &Connection) -> Result<bool, Error> {
    let (busy, log, checkpointed): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(db_err)?;
    Ok(busy == 0 && log == checkpointed)
}

/// Records in an SQLite file. Holds only ciphertext and tombstones: safe to back up.
#[derive(Debug)]
pub struct SqliteRecordStore {
    conn: Mutex<Connection>,
    /// Checkpoints `conn`'s log; its thread is stopped and joined when the store drops.
    _checkpointer: Checkpointer,
}

impl SqliteRecordStore {
    /// Opens (creating with mode 0600 if needed) and migrates the record store at `path`.
    ///
    /// # Errors
    /// [`Error::Storage`] for I/O or database failures, [`Error::UnsupportedSchema`],
    /// [`Error::LegacyFormat`].
    pub fn open(path: &Path) -> Result<Self, Error> {
        let mut conn = open_connection(path, &RECORD_SCHEMA, Legacy::Refuse)?;
        let checkpointer = Checkpointer::start(&mut conn, path, RECORD_LIMITS)?;
        Ok(Self {
            conn: Mutex::new(conn),
            _checkpointer: checkpointer,
        })
    }

    /// How long a call waits for another connection's lock ([`DEFAULT_BUSY_TIMEOUT`]).
    ///
    /// # Errors
    /// A storage error.
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), Error> {
        lock(&self.conn).busy_timeout(timeout).map_err(db_err)
    }
}

fn row_to_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRecordRow> {
    Ok(StoredRecordRow {
        order_id: row.get(0)?,
        format: row.get(1)?,
        created_at: row.get(2)?,
        expires_at: row.get(3)?,
        key_id: row.get(4)?,
        reveal_count: row.get(5)?,
        state: row.get(6)?,
        state_at: row.get(7)?,
        nonce: row.get(8)?,
        ciphertext: row.get(9)?,
    })
}

struct StoredRecordRow {
    order_id: String,
    format: i64,
    created_at: i64,
    expires_at: i64,
    key_id: Vec<u8>,
    reveal_count: i64,
    state: i64,
    state_at: Option<i64>,
    nonce: Option<Vec<u8>>,
    ciphertext: Option<Vec<u8>>,
}

impl StoredRecordRow {
    fn into_record(self) -> Result<StoredRecord, Error> {
        let body = match self.state {
            STATE_SEALED => {
                let nonce: [u8; NONCE_LEN] = self
                    .nonce
                    .as_deref()
                    .and_then(|n| n.try_into().ok())
                    .ok_or(Error::Malformed { what: "nonce" })?;
                let ciphertext = self
                    .ciphertext
                    .ok_or(Error::Malformed { what: "ciphertext" })?;
                RecordBody::Sealed { nonce, ciphertext }
            }
            STATE_EXPIRED => RecordBody::Expired {
                destroyed_at_ms: to_u64(self.state_at.unwrap_or(0))?,
            },
            STATE_REVOKED => RecordBody::Revoked {
                revoked_at_ms: to_u64(self.state_at.unwrap_or(0))?,
            },
            _ => {
                return Err(Error::Malformed {
                    what: "record state",
                });
            }
        };
        Ok(StoredRecord {
            format: u8::try_from(self.format).map_err(|_| Error::Malformed { what: "format" })?,
            order_id: self.order_id,
            created_at_ms: to_u64(self.created_at)?,
            expires_at_ms: to_u64(self.expires_at)?,
            key_id: KeyId::from_slice(&self.key_id)?,
            reveal_count: to_u64(self.reveal_count)?,
            body,
        })
    }
}

fn tombstone_columns(body: &RecordBody) -> Result<(i64, i64), Error> {
    match body {
        RecordBody::Expired { destroyed_at_ms } => Ok((STATE_EXPIRED, to_i64(*destroyed_at_ms)?)),
        RecordBody::Revoked { revoked_at_ms } => Ok((STATE_REVOKED, to_i64(*revoked_at_ms)?)),
        RecordBody::Sealed { .. } => Err(Error::Malformed {
            what: "a tombstone must not hold a code",
        }),
    }
}

impl RecordStore for SqliteRecordStore {
    fn insert_all(&self, records: &[StoredRecord]) -> Result<(), Error> {
        let mut conn = lock(&self.conn);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO records (order_id, format, created_at, expires_at, key_id,
                     reveal_count, state, state_at, nonce, ciphertext)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9)",
                )
                .map_err(db_err)?;
            for r in records {
                let RecordBody::Sealed { nonce, ciphertext } = &r.body else {
                    return Err(Error::Malformed {
                        what: "only sealed records can be inserted",
                    });
                };
                let result = insert.execute(params![
                    r.order_id,
                    i64::from(r.format),
                    to_i64(r.created_at_ms)?,
                    to_i64(r.expires_at_ms)?,
                    &r.key_id.as_bytes()[..],
                    i64::try_from(r.reveal_count).map_err(|_| Error::Malformed {
                        what: "reveal count out of range",
                    })?,
                    STATE_SEALED,
                    &nonce[..],
                    ciphertext,
                ]);
                // On error, dropping the transaction rolls back everything inserted so far.
                result.map_err(insert_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }

    fn load(&self, order_id: &str) -> Result<Option<StoredRecord>, Error> {
        let conn = lock(&self.conn);
        let row = conn
            .prepare_cached(
                "SELECT order_id, format, created_at, expires_at, key_id, reveal_count, state,
                 state_at, nonce, ciphertext FROM records WHERE order_id = ?1",
            )
            .map_err(db_err)?
            .query_row([order_id], row_to_record)
            .optional()
            .map_err(db_err)?;
        row.map(StoredRecordRow::into_record).transpose()
    }

    fn count_reveal(
        &self,
        order_id: &str,
        now_ms: u64,
        max_count: u64,
    ) -> Result<Option<u64>, Error> {
        let conn = lock(&self.conn);
        if i64::try_from(max_count).is_ok() {
            // Under a reveal limit the count is a promise ("at most n reveals"): a durable
            // commit, so a power loss cannot hand out a lost reveal again.
            return count_reveal_statement(&conn, order_id, now_ms, max_count);
        }
        // Without a limit the reveal counter is bookkeeping: its commit is not fsynced on
        // its own (synchronous=NORMAL for this one statement). A process crash never loses
        // it; a power loss may lose the latest increments until the next durable commit.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err)?;
        let result = count_reveal_statement(&conn, order_id, now_ms, max_count);
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        result
    }
    fn destroy(&self, order_id: &str, tombstone: &RecordBody) -> Result<bool, Error> {
        let (state, at) = tombstone_columns(tombstone)?;
        let conn = lock(&self.conn);
        let changed = conn
            .prepare_cached(
                "UPDATE records SET state = ?2, state_at = ?3, nonce = NULL, ciphertext = NULL
                 WHERE order_id = ?1 AND state = ?4",
            )
            .map_err(db_err)?
            .execute(params![order_id, state, at, STATE_SEALED])
            .map_err(db_err)?;
        Ok(changed == 1)
    }

    fn purge_expired(&self, now_ms: u64) -> Result<Vec<String>, Error> {
        let mut conn = lock(&self.conn);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let ids = {
            let mut delete = tx
                .prepare_cached("DELETE FROM records WHERE expires_at <= ?1 RETURNING order_id")
                .map_err(db_err)?;
            let rows = delete
                .query_map([to_i64(now_ms)?], |r| r.get::<_, String>(0))
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)?
        };
        tx.commit().map_err(db_err)?;
        // Tidiness, not a promise: a purged record's ciphertext is useless once its key is
        // destroyed, so a reader holding the checkpoint back is no error here.
        let _complete = checkpoint(&conn)?;
        Ok(ids)
    }

    fn claim_reminders(
        &self,
        now_ms: u64,
        due_by_ms: u64,
        lease_until_ms: u64,
        max: usize,
    ) -> Result<Vec<ReminderClaim>, Error> {
        if max == 0 {
            return Ok(Vec::new());
        }
        // Above every INTEGER: everything that is due fits anyway.
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let due_by = i64::try_from(due_by_ms).unwrap_or(i64::MAX);
        let mut conn = lock(&self.conn);
        // One IMMEDIATE transaction takes the write lock before it reads, so no other
        // connection (or process) selects the same rows between this select and update.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let rows = {
            let mut claim = tx
                .prepare_cached(
                    "UPDATE records SET reminder_lease_until = ?3
                     WHERE order_id IN (
                         SELECT order_id FROM records
                         WHERE state = ?5 AND reveal_count = 0 AND reminded_at IS NULL
                           AND expires_at > ?1 AND expires_at <= ?2
                           AND (reminder_lease_until IS NULL OR reminder_lease_until <= ?1)
                         ORDER BY expires_at, order_id LIMIT ?4)
                     RETURNING order_id, expires_at",
                )
                .map_err(db_err)?;
            let rows = claim
                .query_map(
                    params![
                        to_i64(now_ms)?,
                        due_by,
                        to_i64(lease_until_ms)?,
                        limit,
                        STATE_SEALED
                    ],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
                )
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)?
        };
        tx.commit().map_err(db_err)?;
        let mut claims = rows
            .into_iter()
            .map(|(order_id, expires_at)| {
                Ok(ReminderClaim {
                    order_id,
                    expires_at_ms: to_u64(expires_at)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        claims.sort_unstable_by(|a, b| {
            (a.expires_at_ms, &a.order_id).cmp(&(b.expires_at_ms, &b.order_id))
        });
        Ok(claims)
    }

    fn mark_reminded(&self, order_id: &str, now_ms: u64) -> Result<bool, Error> {
        let conn = lock(&self.conn);
        let changed = conn
            .prepare_cached(
                "UPDATE records SET reminded_at = ?2 WHERE order_id = ?1 AND reminded_at IS NULL",
            )
            .map_err(db_err)?
            .execute(params![order_id, to_i64(now_ms)?])
            .map_err(db_err)?;
        Ok(changed == 1)
    }
}

fn count_reveal_statement(
    conn: &Connection,
    order_id: &str,
    now_ms: u64,
    max_count: u64,
) -> Result<Option<u64>, Error> {
    // A limit above every INTEGER is no limit: NULL.
    let max_count = i64::try_from(max_count).ok();
    let count: Option<i64> = conn
        .prepare_cached(
            // Saturates at the largest INTEGER instead of overflowing into a REAL. The
            // limit is in the WHERE of this one statement: a separate check would race.
            "UPDATE records
                 SET reveal_count = reveal_count + (reveal_count < 9223372036854775807)
                 WHERE order_id = ?1 AND state = ?2 AND expires_at > ?3
                   AND (?4 IS NULL OR reveal_count < ?4)
                 RETURNING reveal_count",
        )
        .map_err(db_err)?
        .query_row(
            params![order_id, STATE_SEALED, to_i64(now_ms)?, max_count],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    count.map(to_u64).transpose()
}

/// Record keys in an SQLite file. Never back this file up.
#[derive(Debug)]
pub struct SqliteKeyStore {
    conn: Mutex<Connection>,
}

impl SqliteKeyStore {
    /// Opens (creating with mode 0600 if needed) and migrates the key store at `path`.
    ///
    /// # Errors
    /// [`Error::Storage`] for I/O or database failures, [`Error::UnsupportedSchema`],
    /// [`Error::LegacyFormat`].
    pub fn open(path: &Path) -> Result<Self, Error> {
        Ok(Self {
            conn: Mutex::new(open_connection(path, &KEY_SCHEMA, Legacy::Refuse)?),
        })
    }

    /// How long a call waits for another connection's lock, and how long a key-destroying
    /// call waits for other readers to let its checkpoint finish before it reports
    /// [`Error::ShreddingIncomplete`] ([`DEFAULT_BUSY_TIMEOUT`]).
    ///
    /// # Errors
    /// A storage error.
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), Error> {
        lock(&self.conn).busy_timeout(timeout).map_err(db_err)
    }
}

/// Ends a key-destroying call: the deletion is committed; `Ok` only once the checkpoint has
/// also removed the old page images from the files.
fn finish_destroy(conn: &Connection, destroyed: usize) -> Result<u64, Error> {
    if !checkpoint(conn)? {
        return Err(Error::ShreddingIncomplete);
    }
    Ok(u64::try_from(destroyed).unwrap_or(u64::MAX))
}

impl KeyStore for SqliteKeyStore {
    fn insert_all(&self, keys: &[StoredKey]) -> Result<(), Error> {
        let mut conn = lock(&self.conn);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO record_keys (key_id, expires_at, key) VALUES (?1, ?2, ?3)",
                )
                .map_err(db_err)?;
            // In key order: random ids inserted in sequence touch each B-tree page once.
            let mut ordered: Vec<&StoredKey> = keys.iter().collect();
            ordered.sort_unstable_by_key(|k| k.id);
            for k in ordered {
                let result = insert.execute(params![
                    &k.id.as_bytes()[..],
                    to_i64(k.expires_at_ms)?,
                    &k.blob[..]
                ]);
                result.map_err(insert_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }

    fn get(&self, id: &KeyId) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let conn = lock(&self.conn);
        let key: Option<Vec<u8>> = conn
            .prepare_cached("SELECT key FROM record_keys WHERE key_id = ?1")
            .map_err(db_err)?
            .query_row([&id.as_bytes()[..]], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        Ok(key.map(Zeroizing::new))
    }

    fn destroy(&self, ids: &[KeyId]) -> Result<u64, Error> {
        let mut conn = lock(&self.conn);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let mut destroyed = 0usize;
        {
            let mut delete = tx
                .prepare_cached("DELETE FROM record_keys WHERE key_id = ?1")
                .map_err(db_err)?;
            for id in ids {
                destroyed += delete.execute([&id.as_bytes()[..]]).map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)?;
        // Even when nothing was deleted: this finishes what an earlier call left incomplete.
        finish_destroy(&conn, destroyed)
    }

    fn destroy_expired(&self, now_ms: u64) -> Result<u64, Error> {
        let conn = lock(&self.conn);
        let destroyed = conn
            .prepare_cached("DELETE FROM record_keys WHERE expires_at <= ?1")
            .map_err(db_err)?
            .execute([to_i64(now_ms)?])
            .map_err(db_err)?;
        finish_destroy(&conn, destroyed)
    }

    fn count(&self) -> Result<u64, Error> {
        let conn = lock(&self.conn);
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM record_keys", [], |r| r.get(0))
            .map_err(db_err)?;
        to_u64(n)
    }
}

impl Vault {
    /// Opens (or creates) the embedded vault in `dir`: [`RECORDS_FILE`] and [`KEYS_FILE`],
    /// both mode 0600; `dir` is created with mode 0700 if missing.
    ///
    /// Back up the records file freely; never back up the keys file (a backup of it would
    /// defeat crypto-shredding). Safe when several processes open a fresh `dir` at once. To keep keys elsewhere, use
    /// [`open_sqlite_files`](Self::open_sqlite_files) or a [`KeyWrapper`](crate::KeyWrapper).
    ///
    /// # Errors
    /// [`Error::Storage`] for I/O or database failures, [`Error::UnsupportedSchema`],
    /// [`Error::LegacyFormat`].
    pub fn open_sqlite(dir: &Path) -> Result<Self, Error> {
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(Error::storage)?;
        }
        Self::open_sqlite_files(&dir.join(RECORDS_FILE), &dir.join(KEYS_FILE))
    }

    /// Opens the embedded vault with the record and key stores at the given paths (e.g.
    /// the keys on a volume that is excluded from backups).
    ///
    /// # Errors
    /// As [`open_sqlite`](Self::open_sqlite).
    pub fn open_sqlite_files(records: &Path, keys: &Path) -> Result<Self, Error> {
        // Records first: a version-1 record store holding data is refused before the key
        // store is touched. Once it holds none, version-1 epoch keys can only open old
        // backups, so they are destroyed rather than kept in the way.
        let records = SqliteRecordStore::open(records)?;
        let keys = SqliteKeyStore {
            conn: Mutex::new(open_connection(keys, &KEY_SCHEMA, Legacy::Discard)?),
        };
        Ok(Self::new(Arc::new(records), Arc::new(keys)))
    }
}
