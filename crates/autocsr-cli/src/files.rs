//! Output files that are never overwritten and never seen half-written.
//!
//! An order writes each file under a temporary name in the output directory, fsyncs it,
//! then links it to its final name (a link never replaces an existing name) and removes
//! the temporary name, then fsyncs the directory. So a final name only ever holds a
//! complete file, whatever moment the process is killed at. What a crash can leave is a
//! temporary file (`.autocsr-partial-…`), which the next order into the same directory
//! removes once no running order holds it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::failure::CliError;
use crate::output::shown_path;

/// Prefix of the temporary names: hidden, and recognisable by the cleanup.
pub(crate) const TEMP_PREFIX: &str = ".autocsr-partial-";

/// A temporary file untouched for this long, and not locked by a running order, is the
/// leftover of a killed order. (The age only guards the instant between creating a file
/// and locking it; the lock is what tells a live order from a dead one.)
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(60);

/// A file being written under its temporary name, locked for as long as this process
/// holds it. Dropped before [`Staged::publish`], it removes the temporary file.
pub(crate) struct Staged {
    temp: PathBuf,
    destination: PathBuf,
    file: File,
}

impl Staged {
    /// Creates the temporary file for `dir/name` with `mode`, refusing at once if `name`
    /// exists already (it is never overwritten; [`Staged::publish`] checks again).
    pub(crate) fn create(dir: &Path, name: &str, mode: u32) -> Result<Staged, CliError> {
        let destination = dir.join(name);
        if fs::symlink_metadata(&destination).is_ok() {
            return Err(already_exists(&destination));
        }
        let temp = dir.join(format!("{TEMP_PREFIX}{name}"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .map_err(|err| {
                CliError::other(format!("could not create {}", shown_path(&temp))).caused_by(err)
            })?;
        let staged = Staged {
            temp,
            destination,
            file,
        };
        // The lock tells the cleanup of another order that this file is in use; it is
        // released when the process dies, however it dies.
        staged.file.lock().map_err(|err| {
            CliError::other(format!("could not lock {}", shown_path(&staged.temp))).caused_by(err)
        })?;
        Ok(staged)
    }

    /// Writes all of `bytes` and flushes them to disk.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.sync_all())
            .map_err(|err| {
                CliError::other(format!("could not write {}", shown_path(&self.temp)))
                    .caused_by(err)
            })
    }

    /// Gives the written file its final name, never replacing anything there: a hard
    /// link is created, then the temporary name removed. The caller fsyncs the directory
    /// ([`sync_dir`]) once all its files are published.
    pub(crate) fn publish(self) -> Result<Published, CliError> {
        fs::hard_link(&self.temp, &self.destination).map_err(|err| {
            if err.kind() == std::io::ErrorKind::AlreadyExists {
                already_exists(&self.destination).caused_by(err)
            } else {
                CliError::other(format!(
                    "could not publish {} (the output directory must allow hard links)",
                    shown_path(&self.destination)
                ))
                .caused_by(err)
            }
        })?;
        let published = Published {
            path: self.destination.clone(),
            keep: false,
        };
        // Dropping `self` removes the temporary name; the file lives on under its final
        // name. A crash before that leaves the temporary name for the cleanup.
        drop(self);
        Ok(published)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.temp);
    }
}

fn already_exists(path: &Path) -> CliError {
    CliError::other(format!(
        "{} already exists and is never overwritten",
        shown_path(path)
    ))
}

/// A complete file under its final name. Removed again when dropped unless kept, so an
/// order that fails after publishing (the vault did not store the code) leaves nothing.
pub(crate) struct Published {
    path: PathBuf,
    keep: bool,
}

impl Published {
    /// Keeps the file.
    pub(crate) fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Flushes `dir`'s entries (the new names) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), CliError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|err| {
            CliError::other(format!("could not flush the directory {}", shown_path(dir)))
                .caused_by(err)
        })
}

/// Removes the temporary files that killed orders left in `dir`: named with
/// [`TEMP_PREFIX`], regular files, older than [`STALE_AFTER`], and not locked by a running
/// order. Best effort (a file that cannot be inspected is left alone); returns how many
/// were removed.
pub(crate) fn remove_stale_temps(dir: &Path, now: SystemTime) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(TEMP_PREFIX))
        {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let stale = meta
            .modified()
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age >= STALE_AFTER);
        if !meta.is_file() || !stale {
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue;
        };
        // Taking the lock proves its order is gone; hold it while removing the name.
        if file.try_lock().is_ok() && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Reads at most `limit` bytes from `reader`; more is an error (a CSR or an archive made by
/// AutoCSR is far smaller, and untrusted input must not exhaust memory).
pub(crate) fn read_capped(
    reader: impl std::io::Read,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|err| CliError::other(format!("could not read {what}")).caused_by(err))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(CliError::other(format!(
            "{what} is larger than {limit} bytes, which is more than AutoCSR accepts"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_unpublished_file_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let mut staged = Staged::create(tmp.path(), "a.zip", 0o600).unwrap();
            staged.write(b"partial").unwrap();
            assert_eq!(names(tmp.path()), [format!("{TEMP_PREFIX}a.zip")]);
        }
        assert!(names(tmp.path()).is_empty());
    }

    #[test]
    fn the_final_name_appears_only_complete() {
        let tmp = tempfile::tempdir().unwrap();
        let mut staged = Staged::create(tmp.path(), "a.zip", 0o600).unwrap();
        staged.write(b"arch").unwrap();
        assert!(!tmp.path().join("a.zip").exists(), "not before publishing");
        staged.write(b"ive").unwrap();
        let published = staged.publish().unwrap();
        sync_dir(tmp.path()).unwrap();
        assert_eq!(names(tmp.path()), ["a.zip"], "the temporary name is gone");
        let path = published.keep();
        assert_eq!(fs::read(&path).unwrap(), b"archive");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_published_file_not_kept_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let mut staged = Staged::create(tmp.path(), "a.csr", 0o644).unwrap();
        staged.write(b"csr").unwrap();
        drop(staged.publish().unwrap());
        assert!(names(tmp.path()).is_empty());
    }

    #[test]
    fn nothing_is_ever_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.zip");
        fs::write(&path, b"theirs").unwrap();
        let err = Staged::create(tmp.path(), "a.zip", 0o600).err().unwrap();
        assert!(
            err.message().contains("never overwritten"),
            "{}",
            err.message()
        );

        // Appearing between the first check and the publication does not help either.
        let other = tmp.path().join("b.zip");
        let mut staged = Staged::create(tmp.path(), "b.zip", 0o600).unwrap();
        staged.write(b"ours").unwrap();
        fs::write(&other, b"theirs").unwrap();
        let err = staged.publish().err().unwrap();
        assert!(
            err.message().contains("never overwritten"),
            "{}",
            err.message()
        );
        assert_eq!(fs::read(&path).unwrap(), b"theirs");
        assert_eq!(fs::read(&other).unwrap(), b"theirs");
        assert_eq!(
            names(tmp.path()),
            ["a.zip", "b.zip"],
            "no temporary file left"
        );
    }

    #[test]
    fn only_stale_unlocked_temporary_files_are_cleaned_up() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let now = SystemTime::now();
        let old = now - STALE_AFTER - Duration::from_secs(1);
        let age = |name: &str, when: SystemTime| {
            File::options()
                .write(true)
                .open(dir.join(name))
                .unwrap()
                .set_modified(when)
                .unwrap();
        };
        // A crash leftover: stale and unlocked.
        fs::write(dir.join(format!("{TEMP_PREFIX}dead.zip")), b"x").unwrap();
        age(&format!("{TEMP_PREFIX}dead.zip"), old);
        // A running order's file, even an old one: locked.
        let live = Staged::create(dir, "live.zip", 0o600).unwrap();
        age(&format!("{TEMP_PREFIX}live.zip"), old);
        // A fresh one that might not be locked yet.
        fs::write(dir.join(format!("{TEMP_PREFIX}fresh.zip")), b"x").unwrap();
        // Not ours.
        fs::write(dir.join("notes.txt"), b"x").unwrap();
        age("notes.txt", old);
        fs::create_dir(dir.join(format!("{TEMP_PREFIX}dir"))).unwrap();

        assert_eq!(remove_stale_temps(dir, now), 1);
        assert_eq!(
            names(dir),
            [
                format!("{TEMP_PREFIX}dir"),
                format!("{TEMP_PREFIX}fresh.zip"),
                format!("{TEMP_PREFIX}live.zip"),
                "notes.txt".to_owned(),
            ]
        );
        drop(live);
        // From the fresh file's own time: the file system's clock can be a tick ahead of
        // `now`, read before the file was written.
        let fresh_at = fs::metadata(dir.join(format!("{TEMP_PREFIX}fresh.zip")))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(
            remove_stale_temps(dir, fresh_at.max(now) + STALE_AFTER),
            1,
            "fresh, now stale"
        );
    }

    #[test]
    fn reading_stops_at_the_cap() {
        assert_eq!(read_capped(&b"abc"[..], 3, "x").unwrap(), b"abc");
        assert!(read_capped(&b"abcd"[..], 3, "x").is_err());
    }
}
