//! Reading a small secret file (a PIN, a key, a token list) that only its owner may read,
//! and a small file that others may read but only its owner may change (a CA bundle: not
//! secret, but it decides whom the server trusts).
//!
//! The file is opened once and every check is made on that open file (`fstat`), so the
//! file that was checked is the file that is read: a path swapped for another file or a
//! symlink between a check by path and a read by path cannot slip an unchecked file in.
//! It is opened non-blocking, so a FIFO put in its place is refused at once instead of
//! waiting for a writer.

use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use zeroize::Zeroizing;

/// Why a private file was refused. Never quotes the file's content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivateFileError {
    /// It could not be opened or read (missing, no access).
    #[error("cannot open or read it")]
    Io(#[source] std::io::Error),
    /// A directory, a FIFO, a device (such as `/dev/zero`) or a socket.
    #[error("it is not a regular file")]
    NotRegular,
    /// Others may read or change it ([`read`]: any of the bits 0o077), or change it
    /// ([`read_owner_controlled`]: 0o022).
    #[error("it is open to other users (mode {mode:03o})")]
    OpenToOthers {
        /// Its permission bits.
        mode: u32,
    },
    /// Larger than the caller's limit (checked on the open file, and again while reading,
    /// should it grow in between).
    #[error("it is larger than {max_len} bytes")]
    TooLarge {
        /// The caller's limit.
        max_len: u64,
    },
}

/// Reads the whole of `path` into memory that is wiped on drop, after checking, on the open
/// file, that it is a regular file of at most `max_len` bytes that no one but its owner
/// may read or change. A symlink is followed; the file it leads to is what is checked.
///
/// # Errors
/// [`PrivateFileError::Io`], [`PrivateFileError::NotRegular`],
/// [`PrivateFileError::OpenToOthers`] or [`PrivateFileError::TooLarge`].
///
/// # Example
/// ```
/// # use std::os::unix::fs::PermissionsExt as _;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("pin");
/// std::fs::write(&path, "1234\n")?;
/// std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
/// assert_eq!(&autocsr::private_file::read(&path, 1024)?[..], b"1234\n");
///
/// std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640))?;
/// assert!(matches!(
///     autocsr::private_file::read(&path, 1024),
///     Err(autocsr::private_file::PrivateFileError::OpenToOthers { mode: 0o640 })
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read(path: &Path, max_len: u64) -> Result<Zeroizing<Vec<u8>>, PrivateFileError> {
    read_refusing(path, max_len, 0o077)
}

/// Reads the whole of `path`, as [`read`] does, for a file whose content is not secret but
/// decides what the program trusts (a CA bundle): others may read it, but a file that the
/// group or other users may change is refused (the bits 0o022), as ssh refuses an
/// `authorized_keys` others can write.
///
/// # Errors
/// [`PrivateFileError::Io`], [`PrivateFileError::NotRegular`],
/// [`PrivateFileError::OpenToOthers`] or [`PrivateFileError::TooLarge`].
pub fn read_owner_controlled(
    path: &Path,
    max_len: u64,
) -> Result<Zeroizing<Vec<u8>>, PrivateFileError> {
    read_refusing(path, max_len, 0o022)
}

/// The one open, `fstat` and read of both readers; `refused_bits` are the permission bits
/// that refuse the file.
fn read_refusing(
    path: &Path,
    max_len: u64,
    refused_bits: u32,
) -> Result<Zeroizing<Vec<u8>>, PrivateFileError> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|errno| PrivateFileError::Io(errno.into()))?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(PrivateFileError::Io)?;
    if !meta.is_file() {
        return Err(PrivateFileError::NotRegular);
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & refused_bits != 0 {
        return Err(PrivateFileError::OpenToOthers { mode });
    }
    if meta.len() > max_len {
        return Err(PrivateFileError::TooLarge { max_len });
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(max_len.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(PrivateFileError::Io)?;
    if u64::try_from(bytes.len()).map_or(true, |len| len > max_len) {
        return Err(PrivateFileError::TooLarge { max_len });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn private(dir: &Path, name: &str, content: &[u8], mode: u32) -> std::path::PathBuf {
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn an_owner_only_file_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o600, 0o400, 0o700] {
            let path = private(dir.path(), &format!("f{mode:o}"), b"secret\n", mode);
            assert_eq!(&read(&path, 7).unwrap()[..], b"secret\n");
        }
    }

    #[test]
    fn group_or_other_bits_are_refused_with_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o640, 0o604, 0o620, 0o602, 0o660, 0o644, 0o666, 0o610] {
            let path = private(dir.path(), &format!("f{mode:o}"), b"secret", mode);
            match read(&path, 1024) {
                Err(PrivateFileError::OpenToOthers { mode: got }) => assert_eq!(got, mode),
                other => panic!("mode {mode:o}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_owner_controlled_file_may_be_read_by_others_but_not_changed() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o600, 0o640, 0o644, 0o444, 0o604] {
            let path = private(dir.path(), &format!("r{mode:o}"), b"cert", mode);
            assert_eq!(&read_owner_controlled(&path, 4).unwrap()[..], b"cert");
        }
        for mode in [0o620, 0o602, 0o664, 0o666, 0o646] {
            let path = private(dir.path(), &format!("w{mode:o}"), b"cert", mode);
            match read_owner_controlled(&path, 1024) {
                Err(PrivateFileError::OpenToOthers { mode: got }) => assert_eq!(got, mode),
                other => panic!("mode {mode:o}: {other:?}"),
            }
        }
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o644)).unwrap();
        assert!(matches!(
            read_owner_controlled(&fifo, 1024),
            Err(PrivateFileError::NotRegular)
        ));
        let big = private(dir.path(), "big", &[b'x'; 5], 0o644);
        assert!(matches!(
            read_owner_controlled(&big, 4),
            Err(PrivateFileError::TooLarge { max_len: 4 })
        ));
    }

    #[test]
    fn over_the_limit_is_refused_and_at_the_limit_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = private(dir.path(), "f", &[b'x'; 100], 0o600);
        assert_eq!(read(&path, 100).unwrap().len(), 100);
        assert!(matches!(
            read(&path, 99),
            Err(PrivateFileError::TooLarge { max_len: 99 })
        ));
    }

    #[test]
    fn a_fifo_a_directory_and_a_device_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o600)).unwrap();
        // Opened blocking, a FIFO with no writer would hang here for ever.
        assert!(matches!(
            read(&fifo, 1024),
            Err(PrivateFileError::NotRegular)
        ));
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(
            read(&sub, 1024),
            Err(PrivateFileError::NotRegular)
        ));
        assert!(matches!(
            read(Path::new("/dev/zero"), 1024),
            Err(PrivateFileError::NotRegular)
        ));
    }

    #[test]
    fn a_symlink_is_judged_by_the_file_it_leads_to() {
        let dir = tempfile::tempdir().unwrap();
        let open = private(dir.path(), "open", b"secret", 0o644);
        let closed = private(dir.path(), "closed", b"secret", 0o600);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        assert!(matches!(
            read(&link, 1024),
            Err(PrivateFileError::OpenToOthers { .. })
        ));
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(&closed, &link).unwrap();
        assert_eq!(&read(&link, 1024).unwrap()[..], b"secret");
    }

    #[test]
    fn a_missing_file_is_an_io_error_that_quotes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(&dir.path().join("none"), 1024).unwrap_err();
        assert!(matches!(err, PrivateFileError::Io(_)));
        assert_eq!(err.to_string(), "cannot open or read it");
    }
}
