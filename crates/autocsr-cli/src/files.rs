//! Output files that are never overwritten and never left half-written.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

use crate::failure::CliError;

/// A file claimed with `create_new` before the work that fills it. If it is not kept
/// (an error, a panic unwinding), it is removed again, so a failed order leaves nothing.
pub(crate) struct Reserved {
    path: PathBuf,
    file: File,
    keep: bool,
}

impl Reserved {
    /// Claims `path`; fails if anything already exists there.
    pub(crate) fn claim(path: PathBuf, mode: u32) -> Result<Reserved, CliError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(|err| {
                let message = if err.kind() == std::io::ErrorKind::AlreadyExists {
                    format!("{} already exists and is never overwritten", path.display())
                } else {
                    format!("could not create {}", path.display())
                };
                CliError::other(message).caused_by(err)
            })?;
        Ok(Reserved {
            path,
            file,
            keep: false,
        })
    }

    /// Writes all of `bytes` and flushes them to disk.
    pub(crate) fn fill(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.sync_all())
            .map_err(|err| {
                CliError::other(format!("could not write {}", self.path.display())).caused_by(err)
            })
    }

    /// Keeps the file.
    pub(crate) fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
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

    #[test]
    fn an_unkept_reservation_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.zip");
        {
            let mut reserved = Reserved::claim(path.clone(), 0o600).unwrap();
            reserved.fill(b"partial").unwrap();
        }
        assert!(!path.exists());
    }

    #[test]
    fn a_kept_file_has_its_mode_and_is_never_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.zip");
        let mut reserved = Reserved::claim(path.clone(), 0o600).unwrap();
        reserved.fill(b"archive").unwrap();
        reserved.keep();
        assert_eq!(fs::read(&path).unwrap(), b"archive");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = Reserved::claim(path.clone(), 0o600).err().unwrap();
        assert!(err.message().contains("never overwritten"));
        assert_eq!(fs::read(&path).unwrap(), b"archive");
    }

    #[test]
    fn reading_stops_at_the_cap() {
        assert_eq!(read_capped(&b"abc"[..], 3, "x").unwrap(), b"abc");
        assert!(read_capped(&b"abcd"[..], 3, "x").is_err());
    }
}
