//! Keeps the record store's write-ahead log short without making a request wait for a disk
//! sync.
//!
//! SQLite's automatic checkpoint runs inside the commit that pushes the log past 1,000
//! pages, on the connection that made it. The record store serves every call from one
//! connection, so each call queued behind that commit waits for the checkpoint's two
//! fsyncs: tens of milliseconds on a slow disk, several times a second under a reveal load.
//!
//! Here a commit past [`Limits::wake_at`] only wakes a background thread, which checkpoints
//! from a connection of its own (`PASSIVE`: it never waits for a reader or a writer) while
//! calls go on. The log restarts from its beginning only at a commit that finds it fully
//! copied, and under a steady flood of writes each background pass ends behind the latest
//! commit. So past [`Limits::inline_at`] the commit checkpoints itself, as SQLite's own would,
//! and the log restarts: its length stays bounded whatever the load, at one request-path
//! checkpoint per `inline_at` pages instead of one per 1,000.

use std::ffi::c_int;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, OpenFlags};

use super::{DEFAULT_BUSY_TIMEOUT, db_err};
use crate::Error;

/// When a commit hands the log to the background thread, and when it checkpoints itself.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Log length in pages from which a commit wakes the background thread (SQLite's own
    /// automatic checkpoint starts at 1,000).
    pub(super) wake_at: u32,
    /// Log length in pages from which a commit checkpoints inline: the bound on the log
    /// (64 MiB of 4 KiB pages) when the background thread cannot catch up with the writes.
    pub(super) inline_at: u32,
}

/// The record store's limits.
pub(super) const RECORD_LIMITS: Limits = Limits {
    wake_at: 1_000,
    inline_at: 16_384,
};

enum Wake {
    Checkpoint,
    Stop,
}

/// The background checkpoint thread of one database; stops and is joined on drop.
#[derive(Debug)]
pub(super) struct Checkpointer {
    wake: SyncSender<Wake>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Replaces `conn`'s automatic checkpoint with [`Limits`]: opens a second connection to
    /// `path` (which must exist: it is never created here) and starts its thread.
    pub(super) fn start(conn: &mut Connection, path: &Path, limits: Limits) -> Result<Self, Error> {
        let own = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db_err)?;
        own.busy_timeout(DEFAULT_BUSY_TIMEOUT).map_err(db_err)?;
        // A checkpoint syncs the log before it copies and the database after, unless its
        // own connection says synchronous=OFF.
        own.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        // One pending wake-up is enough: a pass copies everything committed before it starts.
        let (wake, woken) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("autocsr-sqlite-checkpoint".into())
            .spawn(move || checkpoint_when_woken(&own, &woken))
            .map_err(Error::storage)?;
        let checkpointer = Self {
            wake,
            thread: Some(thread),
        };
        install_hook(conn, limits, checkpointer.wake.clone())?;
        Ok(checkpointer)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Blocks only until the thread takes the pending wake-up; a thread that has already
        // ended (it never panics on its own) makes this a no-op.
        let _stopped = self.wake.send(Wake::Stop);
        if let Some(thread) = self.thread.take() {
            let _joined = thread.join();
        }
    }
}

fn checkpoint_when_woken(conn: &Connection, woken: &Receiver<Wake>) {
    while let Ok(Wake::Checkpoint) = woken.recv() {
        // An error (busy: another process is checkpointing; or I/O) leaves the log longer
        // until the next pass or the inline limit; the store's calls report their own.
        let _outcome = conn.wal_checkpoint_v2(Some("main"), CheckpointMode::PASSIVE);
    }
}

/// Registers the commit hook that replaces SQLite's automatic checkpoint (a connection
/// has one WAL hook; registering it turns `wal_autocheckpoint` off).
fn install_hook(
    conn: &mut Connection,
    limits: Limits,
    wake: SyncSender<Wake>,
) -> Result<(), Error> {
    conn.wal_hook(Some(move |wal: &mut Wal, pages: c_int| {
        let pages = u32::try_from(pages).unwrap_or(0);
        if pages >= limits.inline_at {
            // Busy means the background thread holds the checkpoint lock right now: the
            // next commit tries again. Other errors leave the log as it is, likewise.
            let _outcome = wal.checkpoint_v2(CheckpointMode::PASSIVE);
        } else if pages >= limits.wake_at {
            match wake.try_send(Wake::Checkpoint) {
                // Full: a wake-up is already pending. Disconnected: the store is closing.
                Ok(()) | Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
            }
        }
        // Never an error: the commit has happened, and an error from this hook would
        // report it to the caller as failed.
        Ok(())
    }))
    .map_err(db_err)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure should abort the test"
)]
mod tests {
    use std::path::PathBuf;
    use std::sync::mpsc::TryRecvError;
    use std::time::{Duration, Instant};

    use super::*;

    const PAGE: u64 = 4096;
    /// A WAL frame: a 24-byte header and one page; the file starts with a 32-byte header.
    const FRAME: u64 = PAGE + 24;

    struct Db {
        _dir: tempfile::TempDir,
        path: PathBuf,
        conn: Connection,
    }

    /// A WAL database whose commits (`Db::commit`) each insert a 3 KiB row: a few pages of
    /// log per commit, so a test reaches its limits in a few thousand commits.
    fn db() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .unwrap();
        // The tests measure which connection checkpoints, not the disk.
        conn.pragma_update(None, "synchronous", "OFF").unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            .unwrap();
        // Start every test from an empty log and a database file of known size.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        Db {
            _dir: dir,
            path,
            conn,
        }
    }

    impl Db {
        fn commit(&self, n: usize) {
            for _ in 0..n {
                self.conn
                    .execute("INSERT INTO t (body) VALUES (zeroblob(3072))", [])
                    .unwrap();
            }
        }

        fn size(&self, suffix: &str) -> u64 {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            std::fs::metadata(path).map_or(0, |m| m.len())
        }
    }

    #[test]
    fn below_the_inline_limit_a_commit_only_wakes_the_thread() {
        let mut db = db();
        let (wake, woken) = sync_channel(1);
        let limits = Limits {
            wake_at: 16,
            inline_at: u32::MAX,
        };
        install_hook(&mut db.conn, limits, wake).unwrap();
        let database_before = db.size("");
        // A commit here writes two or three pages (the row's leaf and the tree above it).
        db.commit(3);
        assert!(
            matches!(woken.try_recv(), Err(TryRecvError::Empty)),
            "woken below wake_at"
        );
        // Past SQLite's own automatic checkpoint (1,000 pages), which would have copied the
        // log into the database file on this connection.
        db.commit(1_200);
        assert!(matches!(woken.try_recv(), Ok(Wake::Checkpoint)));
        assert_eq!(db.size(""), database_before, "the commit checkpointed");
        assert!(db.size("-wal") > 1_200 * FRAME);
    }

    #[test]
    fn past_the_inline_limit_the_commit_checkpoints_and_the_log_restarts() {
        let mut db = db();
        // Nobody takes the wake-ups: only the commits themselves can checkpoint here.
        let (wake, _woken) = sync_channel(1);
        let limits = Limits {
            wake_at: 8,
            inline_at: 64,
        };
        install_hook(&mut db.conn, limits, wake).unwrap();
        let database_before = db.size("");
        db.commit(2_000);
        assert!(db.size("") > database_before + 1_000 * PAGE);
        // Each inline checkpoint copies the whole log, so the next commit starts it over:
        // a few frames per commit past the limit, never the 2,000 committed.
        let bound = 32 + (64 + 8) * FRAME;
        assert!(db.size("-wal") <= bound, "{} > {bound}", db.size("-wal"));
    }

    #[test]
    fn the_thread_checkpoints_when_woken_and_is_joined_on_drop() {
        let mut db = db();
        let limits = Limits {
            wake_at: 8,
            inline_at: u32::MAX,
        };
        let checkpointer = Checkpointer::start(&mut db.conn, &db.path, limits).unwrap();
        let database_before = db.size("");
        db.commit(100);
        // Only the thread can have copied the log into the database file.
        let deadline = Instant::now() + Duration::from_secs(30);
        while db.size("") <= database_before + 90 * PAGE {
            assert!(Instant::now() < deadline, "the thread never checkpointed");
            std::thread::sleep(Duration::from_millis(10));
        }
        let thread = checkpointer.thread.as_ref().unwrap().thread().id();
        assert_ne!(thread, std::thread::current().id());
        drop(checkpointer);
        // The store's connection outlives its checkpointer here, and commits still succeed
        // with nobody left to wake.
        db.commit(20);
    }

    #[test]
    fn start_refuses_a_path_that_is_not_there() {
        let mut db = db();
        let missing = db.path.with_file_name("missing.sqlite3");
        assert!(Checkpointer::start(&mut db.conn, &missing, RECORD_LIMITS).is_err());
        assert!(!missing.exists());
    }
}
