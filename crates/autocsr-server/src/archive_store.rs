//! The sealed archives, kept as files until their code is gone.
//!
//! Layout: `<dir>/<order_id>.sealed` (the format is read from the file's first bytes), and
//! `<dir>/.staging/` for files being written. An archive is written under a random name in
//! `.staging` (created with `create_new`, mode 0600), fsynced, hard-linked to its final
//! name (a link never replaces a file, so two writers for one order id cannot overwrite
//! each other), the staging name removed and the directory fsynced. A final name only ever
//! holds a complete archive.
//!
//! Several server instances may share the directory (a local disk, or a network file
//! system with POSIX link semantics): every write is create-new or link, and every delete
//! tolerates the file being gone already, so two instances sweeping at once is harmless.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use autocsr::archive::ArchiveFormat;

use crate::Error;

const SUFFIX: &str = ".sealed";
const STAGING: &str = ".staging";

/// A staging file older than this belongs to a writer that died (an archive is written in
/// milliseconds), so the sweep removes it.
pub const STALE_STAGING: Duration = Duration::from_secs(60 * 60);

/// Where the archives live.
#[derive(Debug, Clone)]
pub struct ArchiveStore {
    dir: PathBuf,
    staging: PathBuf,
}

/// Why an archive could not be published.
#[derive(Debug)]
pub(crate) enum PublishError {
    /// An archive for this order id exists already (it is never replaced).
    Exists,
    /// The file system failed.
    Io(io::Error),
}

impl ArchiveStore {
    /// Opens (creating, mode 0700) `dir` and its staging directory.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn open(dir: &Path) -> Result<ArchiveStore, Error> {
        let staging = dir.join(STAGING);
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&staging)
            .map_err(|err| Error::io(&staging, err))?;
        Ok(ArchiveStore {
            dir: dir.to_owned(),
            staging,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, order_id: &str) -> PathBuf {
        self.dir.join(format!("{order_id}{SUFFIX}"))
    }

    /// Writes `bytes` to a new staging file (mode 0600) and flushes it to disk.
    pub(crate) fn stage(&self, bytes: &[u8]) -> io::Result<Staged> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(io::Error::other)?;
        let path = self.staging.join(hex::encode(random));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        let staged = Staged {
            path,
            dir: self.dir.clone(),
        };
        file.write_all(bytes)?;
        file.sync_all()?;
        Ok(staged)
    }

    /// The archive of `order_id` and its format, or `None`.
    pub(crate) fn read(&self, order_id: &str) -> io::Result<Option<(ArchiveFormat, Vec<u8>)>> {
        match fs::read(self.path_of(order_id)) {
            Ok(bytes) => Ok(ArchiveFormat::detect(&bytes).map(|format| (format, bytes))),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The format of the archive of `order_id` (from its first bytes), or `None` when
    /// there is none or it is no archive.
    pub(crate) fn format(&self, order_id: &str) -> Option<ArchiveFormat> {
        use std::io::Read as _;
        let mut head = [0u8; 8];
        let mut file = File::open(self.path_of(order_id)).ok()?;
        let mut filled = 0;
        while filled < head.len() {
            match file.read(head.get_mut(filled..)?) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(_) => return None,
            }
        }
        ArchiveFormat::detect(head.get(..filled)?)
    }

    /// True when an archive for `order_id` exists.
    pub(crate) fn exists(&self, order_id: &str) -> bool {
        self.path_of(order_id).is_file()
    }

    /// Deletes the archive of `order_id`; `Ok(false)` when there was none.
    pub(crate) fn remove(&self, order_id: &str) -> io::Result<bool> {
        match fs::remove_file(self.path_of(order_id)) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Every archive: its order id and when it was written.
    pub(crate) fn list(&self) -> io::Result<Vec<(String, SystemTime)>> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(order_id) = name.to_str().and_then(|name| name.strip_suffix(SUFFIX)) else {
                continue;
            };
            if autocsr::check_order_id(order_id).is_err() {
                continue;
            }
            // Gone meanwhile (another instance swept it): skip.
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() {
                found.push((order_id.to_owned(), meta.modified()?));
            }
        }
        Ok(found)
    }

    /// Removes staging files older than [`STALE_STAGING`] at `now`; returns how many.
    pub(crate) fn remove_stale_staging(&self, now: SystemTime) -> io::Result<u64> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.staging)? {
            let entry = entry?;
            let Ok(meta) = entry.metadata() else { continue };
            let age = meta
                .modified()
                .ok()
                .and_then(|modified| now.duration_since(modified).ok());
            if meta.is_file()
                && age.is_some_and(|age| age > STALE_STAGING)
                && fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A complete archive under its staging name; dropped unpublished, it is removed.
#[derive(Debug)]
pub(crate) struct Staged {
    path: PathBuf,
    dir: PathBuf,
}

impl Staged {
    /// Links the staged file to the final name of `order_id` (never replacing one), removes
    /// the staging name and fsyncs the directory.
    pub(crate) fn publish(self, order_id: &str) -> Result<Published, PublishError> {
        let destination = self.dir.join(format!("{order_id}{SUFFIX}"));
        fs::hard_link(&self.path, &destination).map_err(|err| {
            if err.kind() == io::ErrorKind::AlreadyExists {
                PublishError::Exists
            } else {
                PublishError::Io(err)
            }
        })?;
        let published = Published {
            path: destination,
            keep: false,
        };
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(PublishError::Io)?;
        drop(self);
        Ok(published)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A published archive; removed again when dropped unless kept (the order failed after
/// publishing: the vault did not store the code).
#[derive(Debug)]
pub(crate) struct Published {
    path: PathBuf,
    keep: bool,
}

impl Published {
    pub(crate) fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    const ZIP: &[u8] = b"PK\x03\x04 rest of a zip";

    #[test]
    fn publish_never_replaces_and_failure_removes() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArchiveStore::open(dir.path()).unwrap();
        let first = store.stage(ZIP).unwrap().publish("ord_1").unwrap();
        let second = store.stage(b"PK\x03\x04 another").unwrap().publish("ord_1");
        assert!(matches!(second, Err(PublishError::Exists)));
        first.keep();
        let (format, bytes) = store.read("ord_1").unwrap().unwrap();
        assert_eq!((format, bytes.as_slice()), (ArchiveFormat::Zip, ZIP));
        assert_eq!(store.format("ord_1"), Some(ArchiveFormat::Zip));
        assert_eq!(store.format("ord_none"), None);
        let meta = fs::metadata(store.path_of("ord_1")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        // Nothing left in staging: the losing writer's file went with it.
        assert_eq!(fs::read_dir(dir.path().join(STAGING)).unwrap().count(), 0);

        drop(store.stage(ZIP).unwrap().publish("ord_2").unwrap());
        assert!(store.read("ord_2").unwrap().is_none());
        assert_eq!(store.list().unwrap().len(), 1);
        assert!(store.remove("ord_1").unwrap());
        assert!(!store.remove("ord_1").unwrap());
    }

    #[test]
    fn stale_staging_files_go_and_fresh_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArchiveStore::open(dir.path()).unwrap();
        let staged = store.stage(ZIP).unwrap();
        let now = SystemTime::now();
        assert_eq!(store.remove_stale_staging(now).unwrap(), 0);
        let later = now + STALE_STAGING + Duration::from_secs(5);
        assert_eq!(store.remove_stale_staging(later).unwrap(), 1);
        assert!(matches!(staged.publish("ord_1"), Err(PublishError::Io(_))));
    }
}
