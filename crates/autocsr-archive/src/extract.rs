//! The result of [`crate::open`] and safe extraction to a directory.

use std::path::{Path, PathBuf};

use crate::ArchiveFormat;
use crate::entry::Entry;
use crate::error::Error;

/// An archive that opened under the limits: its format and its file entries (directory
/// entries are dropped; their names were checked).
///
/// `Debug` lists names and sizes, never contents. Contents are wiped on drop.
#[derive(Debug)]
pub struct OpenedArchive {
    format: ArchiveFormat,
    entries: Vec<Entry>,
}

impl OpenedArchive {
    pub(crate) fn new(format: ArchiveFormat, entries: Vec<Entry>) -> OpenedArchive {
        OpenedArchive { format, entries }
    }

    /// The detected format.
    #[must_use]
    pub fn format(&self) -> ArchiveFormat {
        self.format
    }

    /// The file entries, in archive order.
    #[must_use]
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Takes the entries out.
    #[must_use]
    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }

    /// Writes every entry under `dir` (which must exist) and returns the paths written
    /// (`dir` joined with each entry's name).
    ///
    /// `dir` is opened **once**, and everything after happens relative to that directory
    /// handle and the handles of the sub-directories opened or created below it, never
    /// by path again. So renaming `dir` or a sub-directory, or swapping one for a symlink
    /// while this runs, cannot move where the bytes go. Symlinks in the path **above**
    /// `dir` (say `/home` → `/usr/home`) are followed at that one open; `dir` itself and
    /// everything below it must not be symlinks.
    ///
    /// Each file is written to a fresh temporary file in its destination directory,
    /// given its mode, synced, then hard-linked into place (`linkat`, which fails instead
    /// of replacing an existing file); the temporary name is then removed, and every
    /// directory written to is synced. Files get the Unix mode the archive stores (0644
    /// for files sealed by this crate without one, see [`Entry::new`]), or 0600 when the
    /// archive stores none; sub-directories are created 0700.
    ///
    /// Refuses to overwrite anything ([`Error::AlreadyExists`], also for a file where a
    /// directory is needed) and to follow a symlink at `dir` or inside it
    /// ([`Error::PathEscape`]). On any error, the files and directories this call created
    /// are removed again (through the same handles, and a file only if it is still the
    /// one this call wrote): no partial file and no partial set is left.
    ///
    /// Needs a Unix system and a file system with hard links; elsewhere it fails with an
    /// [`Error::Io`] of kind `Unsupported`, and on a file system without hard links with
    /// the I/O error the OS gives, having written nothing.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::PathEscape`], [`Error::Randomness`] (temporary
    /// names are random), or [`Error::Io`] (`dir` missing, or removed while this runs).
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt as _;
    /// use autocsr_archive::secrecy::SecretString;
    /// use autocsr_archive::{ArchiveFormat, Entry, Error, Limits, SealOptions, open, seal};
    ///
    /// let password = SecretString::from("QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Y");
    /// let entries = [
    ///     Entry::private("example.com.key", b"-----BEGIN PRIVATE KEY-----\n".to_vec())?,
    ///     Entry::new("docs/README.txt", b"Open with 7-Zip.\n".to_vec())?,
    /// ];
    /// let sealed = seal(ArchiveFormat::Zip, &entries, &password, &SealOptions::default())?;
    /// let opened = open(&sealed, &password, &Limits::default())?;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let written = opened.extract_to(dir.path())?;
    /// let expected = ["example.com.key", "docs/README.txt"].map(|name| dir.path().join(name));
    /// assert_eq!(written, expected);
    /// let key_mode = std::fs::metadata(&written[0])?.permissions().mode() & 0o777;
    /// assert_eq!(key_mode, 0o600);
    ///
    /// // A second extraction into the same place overwrites nothing.
    /// assert!(matches!(opened.extract_to(dir.path()), Err(Error::AlreadyExists { .. })));
    /// assert_eq!(std::fs::read(&written[0])?, entries[0].data());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn extract_to(&self, dir: &Path) -> Result<Vec<PathBuf>, Error> {
        #[cfg(unix)]
        {
            at_handles::extract(&self.entries, dir)
        }
        #[cfg(not(unix))]
        {
            let _ = dir;
            Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "extraction is only implemented for Unix",
            )))
        }
    }
}

/// Extraction through directory handles (`openat`, `mkdirat`, `linkat`, `unlinkat`
/// from rustix), so no path is resolved twice.
#[cfg(unix)]
mod at_handles {
    use std::collections::HashMap;
    use std::fs::File;
    use std::io::Write;
    use std::os::fd::OwnedFd;
    use std::path::{Path, PathBuf};

    use rustix::fs::{
        AtFlags, CWD, FileType, Mode, OFlags, RawMode, Stat, fchmod, fstat, fsync, linkat, mkdirat,
        openat, statat, unlinkat,
    };
    use rustix::io::Errno;

    use crate::entry::Entry;
    use crate::error::Error;

    /// Mode for extracted files when the archive stores none, and for created
    /// directories: owner only, since these archives carry secrets.
    const DEFAULT_FILE_MODE: u32 = 0o600;
    const DIRECTORY_MODE: u32 = 0o700;
    /// Fresh random temporary names to try before giving up (a clash needs 64 random bits
    /// to repeat, so more than one attempt means someone is guessing them).
    const TEMP_ATTEMPTS: usize = 4;

    fn directory_flags() -> OFlags {
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
    }

    fn mode_bits(mode: u32) -> Mode {
        Mode::from_bits_truncate(RawMode::try_from(mode & 0o777).unwrap_or(0o600))
    }

    fn io(errno: Errno) -> Error {
        Error::Io(errno.into())
    }

    /// A file this call linked into place: where, and which inode, so a rollback never
    /// removes a file someone else put there since.
    struct CreatedFile {
        directory: usize,
        name: String,
        identity: Stat,
    }

    /// The open directory handles (index 0 is `dir`) and what this call created.
    struct Extraction<'a> {
        root: &'a Path,
        directories: Vec<OwnedFd>,
        /// Entry-name prefix (`a/b`) → index in `directories`, so each sub-directory is
        /// opened once and every entry under it goes through the same handle.
        by_prefix: HashMap<String, usize>,
        created_files: Vec<CreatedFile>,
        /// (parent index, name) of each directory this call made.
        created_directories: Vec<(usize, String)>,
        written: Vec<PathBuf>,
    }

    pub(super) fn extract(entries: &[Entry], dir: &Path) -> Result<Vec<PathBuf>, Error> {
        let root = open_target(dir)?;
        let mut extraction = Extraction {
            root: dir,
            directories: vec![root],
            by_prefix: HashMap::new(),
            created_files: Vec::new(),
            created_directories: Vec::new(),
            written: Vec::new(),
        };
        match extraction.extract_all(entries) {
            Ok(()) => Ok(std::mem::take(&mut extraction.written)),
            Err(error) => {
                extraction.roll_back();
                Err(error)
            }
        }
    }

    /// Opens `dir` once: the path up to its last component is resolved as usual
    /// (following symlinks), the last component with `O_NOFOLLOW`. Opening the parent
    /// first also covers `dir/` with a trailing slash, which `O_NOFOLLOW` alone would
    /// follow.
    fn open_target(dir: &Path) -> Result<OwnedFd, Error> {
        match (dir.parent(), dir.file_name()) {
            (Some(parent), Some(name)) => {
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                let parent = openat(CWD, parent, directory_flags(), Mode::empty()).map_err(io)?;
                open_directory(&parent, name, dir)
            }
            // `/`, `.`, `..`: no last component that could be a symlink.
            _ => openat(
                CWD,
                dir,
                directory_flags() | OFlags::NOFOLLOW,
                Mode::empty(),
            )
            .map_err(io),
        }
    }

    /// Opens the directory `name` under `parent` without following a symlink.
    fn open_directory<P: rustix::path::Arg + Copy>(
        parent: &OwnedFd,
        name: P,
        shown: &Path,
    ) -> Result<OwnedFd, Error> {
        openat(
            parent,
            name,
            directory_flags() | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|errno| why_not_a_directory(parent, name, errno, shown))
    }

    /// Turns a failed directory open into our error: a symlink is an escape attempt, a
    /// file is something we will not replace, anything else is the OS's error.
    fn why_not_a_directory(
        parent: &OwnedFd,
        name: impl rustix::path::Arg,
        errno: Errno,
        shown: &Path,
    ) -> Error {
        match statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => match FileType::from_raw_mode(stat.st_mode) {
                FileType::Symlink => Error::PathEscape,
                FileType::Directory => io(errno),
                _ => Error::AlreadyExists {
                    path: shown.to_path_buf(),
                },
            },
            Err(_) => io(errno),
        }
    }

    impl Extraction<'_> {
        fn directory(&self, index: usize) -> Result<&OwnedFd, Error> {
            self.directories.get(index).ok_or_else(|| io(Errno::BADF))
        }

        fn extract_all(&mut self, entries: &[Entry]) -> Result<(), Error> {
            for entry in entries {
                let mut parent = 0;
                let mut components = entry.name().split('/').peekable();
                let mut prefix = String::new();
                while let Some(component) = components.next() {
                    if components.peek().is_none() {
                        self.write_new_file(parent, component, entry)?;
                        break;
                    }
                    if !prefix.is_empty() {
                        prefix.push('/');
                    }
                    prefix.push_str(component);
                    parent = self.ensure_directory(parent, component, &prefix)?;
                }
            }
            // The new names are durable only once their directories are synced.
            for directory in &self.directories {
                fsync(directory).map_err(io)?;
            }
            Ok(())
        }

        /// The handle of sub-directory `prefix` (whose last component is `name`, under
        /// directory `parent`), opening or creating it once.
        fn ensure_directory(
            &mut self,
            parent: usize,
            name: &str,
            prefix: &str,
        ) -> Result<usize, Error> {
            if let Some(&index) = self.by_prefix.get(prefix) {
                return Ok(index);
            }
            let shown = self.root.join(prefix);
            let parent_fd = self.directory(parent)?;
            let opened = match open_directory(parent_fd, name, &shown) {
                Err(Error::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
                    match mkdirat(parent_fd, name, mode_bits(DIRECTORY_MODE)) {
                        Ok(()) => self.created_directories.push((parent, name.to_owned())),
                        // Made by someone else in between: opened with the same checks.
                        Err(Errno::EXIST) => {}
                        Err(errno) => return Err(io(errno)),
                    }
                    // If it was swapped for a symlink since mkdirat, this refuses it.
                    open_directory(self.directory(parent)?, name, &shown)?
                }
                other => other?,
            };
            self.directories.push(opened);
            let index = self.directories.len() - 1;
            self.by_prefix.insert(prefix.to_owned(), index);
            Ok(index)
        }

        fn write_new_file(
            &mut self,
            directory: usize,
            name: &str,
            entry: &Entry,
        ) -> Result<(), Error> {
            let shown = self.root.join(entry.name());
            let dir = self.directory(directory)?;
            match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(_) => return Err(Error::AlreadyExists { path: shown }),
                Err(Errno::NOENT) => {}
                Err(errno) => return Err(io(errno)),
            }
            let mode = entry.unix_mode().unwrap_or(DEFAULT_FILE_MODE);
            let (temp_name, file) = create_temporary(dir, mode)?;
            let result = fill_and_link(file, dir, &temp_name, name, mode, entry, &shown);
            // The temporary name goes away whether or not the link succeeded.
            let _ = unlinkat(dir, temp_name.as_str(), AtFlags::empty());
            let identity = result?;
            self.created_files.push(CreatedFile {
                directory,
                name: name.to_owned(),
                identity,
            });
            self.written.push(shown);
            Ok(())
        }

        /// Removes what this call created, newest first, through the same handles.
        fn roll_back(&mut self) {
            for file in self.created_files.drain(..).rev() {
                let Some(dir) = self.directories.get(file.directory) else {
                    continue;
                };
                let still_ours = statat(dir, file.name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|now| {
                        now.st_dev == file.identity.st_dev && now.st_ino == file.identity.st_ino
                    });
                if still_ours {
                    let _ = unlinkat(dir, file.name.as_str(), AtFlags::empty());
                }
            }
            for (parent, name) in self.created_directories.drain(..).rev() {
                if let Some(dir) = self.directories.get(parent) {
                    // Only an empty directory goes; a symlink put in its place is not
                    // a directory and stays.
                    let _ = unlinkat(dir, name.as_str(), AtFlags::REMOVEDIR);
                }
            }
        }
    }

    /// A new file under a random name in `dir`, created exclusively (`O_EXCL` never
    /// follows a symlink, and `O_NOFOLLOW` says so twice).
    fn create_temporary(dir: &OwnedFd, mode: u32) -> Result<(String, File), Error> {
        for _ in 0..TEMP_ATTEMPTS {
            let mut random = [0u8; 8];
            getrandom::fill(&mut random).map_err(|_| Error::Randomness)?;
            let name = format!(".autocsr-extract-{:016x}.tmp", u64::from_le_bytes(random));
            match openat(
                dir,
                name.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                mode_bits(mode),
            ) {
                Ok(fd) => return Ok((name, File::from(fd))),
                Err(Errno::EXIST) => {}
                Err(errno) => return Err(io(errno)),
            }
        }
        Err(io(Errno::EXIST))
    }

    /// Writes the entry into the temporary file, sets its mode exactly (the umask may have
    /// narrowed it), syncs it, and links it to its final name. Returns the file's identity.
    fn fill_and_link(
        mut file: File,
        dir: &OwnedFd,
        temp_name: &str,
        name: &str,
        mode: u32,
        entry: &Entry,
        shown: &Path,
    ) -> Result<Stat, Error> {
        file.write_all(entry.data())?;
        fchmod(&file, mode_bits(mode)).map_err(io)?;
        file.sync_all()?;
        let identity = fstat(&file).map_err(io)?;
        drop(file);
        // linkat never replaces an existing name (unlike renameat), so a file that appeared
        // since the check above is not overwritten.
        match linkat(dir, temp_name, dir, name, AtFlags::empty()) {
            Ok(()) => Ok(identity),
            Err(Errno::EXIST) => Err(Error::AlreadyExists {
                path: shown.to_path_buf(),
            }),
            Err(errno) => Err(io(errno)),
        }
    }
}
