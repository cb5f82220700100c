//! Creating, or accepting, a directory that only its owner may enter: the data directory
//! that holds the vault's files and the server's secret files. `autocsr` and
//! `autocsr-server` both prepare their `--data-dir` here, so they refuse the same
//! directories.
//!
//! The checks are made on the directory once opened (`O_PATH`, then `fstat`), not on a
//! second lookup of its path: what was checked is what was found at that moment. A symlink
//! is followed, and the directory it leads to is what is checked.

use std::fs::{DirBuilder, File};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// Why a private directory was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivateDirError {
    /// It could not be created or opened (a parent without access, a read-only disk).
    #[error("cannot create or open it")]
    Io(#[source] std::io::Error),
    /// Something other than a directory (a file, a FIFO) is at that path.
    #[error("it is not a directory")]
    NotDirectory,
    /// Any of the bits 0o077 is set: others may list, enter or change it.
    #[error("it is open to other users (mode {mode:03o})")]
    OpenToOthers {
        /// Its permission bits.
        mode: u32,
    },
}

/// Creates `path` and its missing parents with mode 0700, or accepts the directory already
/// there if no one but its owner may list, enter or change it. An existing directory is
/// never changed: one open to others is refused, not tightened, so its owner learns that
/// its files may have been read.
///
/// # Errors
/// [`PrivateDirError::Io`], [`PrivateDirError::NotDirectory`] or
/// [`PrivateDirError::OpenToOthers`].
///
/// # Example
/// ```
/// # use std::os::unix::fs::PermissionsExt as _;
/// let parent = tempfile::tempdir()?;
/// let data = parent.path().join("a/b/data");
/// autocsr::private_dir::prepare(&data)?;
/// assert_eq!(std::fs::metadata(&data)?.permissions().mode() & 0o777, 0o700);
///
/// std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750))?;
/// assert!(matches!(
///     autocsr::private_dir::prepare(&data),
///     Err(autocsr::private_dir::PrivateDirError::OpenToOthers { mode: 0o750 })
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn prepare(path: &Path) -> Result<(), PrivateDirError> {
    // Its error matters only if nothing usable is there afterwards (another process may
    // have created the directory meanwhile, which is fine). "Already exists" means
    // something is at the path: the open below says whether it is a directory.
    let created = DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .err()
        .filter(|err| err.kind() != std::io::ErrorKind::AlreadyExists);
    let fd = match rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // A parent that is a file fails the creation first, and is reported as such.
        Err(Errno::NOTDIR) if created.is_none() => return Err(PrivateDirError::NotDirectory),
        Err(errno) => return Err(PrivateDirError::Io(created.unwrap_or_else(|| errno.into()))),
    };
    let meta = File::from(fd).metadata().map_err(PrivateDirError::Io)?;
    if !meta.is_dir() {
        return Err(PrivateDirError::NotDirectory);
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PrivateDirError::OpenToOthers { mode });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_directory_and_its_parents_are_created_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/data");
        prepare(&dir).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        assert_eq!(mode_of(&tmp.path().join("a")), 0o700);
        // Again: an existing private directory is accepted as it is.
        prepare(&dir).unwrap();
    }

    #[test]
    fn every_group_or_other_bit_is_refused_with_the_mode_and_left_as_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        for mode in [
            0o750, 0o705, 0o770, 0o707, 0o755, 0o777, 0o710, 0o701, 0o720,
        ] {
            let dir = tmp.path().join(format!("d{mode:o}"));
            fs::create_dir(&dir).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            match prepare(&dir) {
                Err(PrivateDirError::OpenToOthers { mode: got }) => assert_eq!(got, mode),
                other => panic!("mode {mode:o}: {other:?}"),
            }
            assert_eq!(mode_of(&dir), mode, "a refused directory is not changed");
        }
    }

    #[test]
    fn a_file_or_a_fifo_in_its_place_is_not_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(matches!(prepare(&file), Err(PrivateDirError::NotDirectory)));
        let fifo = tmp.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o600)).unwrap();
        assert!(matches!(prepare(&fifo), Err(PrivateDirError::NotDirectory)));
        // Below a file nothing can be created: the creation's own error is reported.
        assert!(matches!(
            prepare(&file.join("data")),
            Err(PrivateDirError::Io(_))
        ));
    }

    #[test]
    fn a_symlink_is_judged_by_the_directory_it_leads_to() {
        let tmp = tempfile::tempdir().unwrap();
        let open = tmp.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
        let closed = tmp.path().join("closed");
        fs::create_dir(&closed).unwrap();
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o700)).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        assert!(matches!(
            prepare(&link),
            Err(PrivateDirError::OpenToOthers { mode: 0o755 })
        ));
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(&closed, &link).unwrap();
        prepare(&link).unwrap();
    }
}
