//! The result of [`crate::open`] and safe extraction to a directory.

use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ArchiveFormat;
use crate::entry::Entry;
use crate::error::Error;

/// Mode for extracted files when the archive stores none, and for created directories:
/// owner only, since these archives carry secrets.
const DEFAULT_FILE_MODE: u32 = 0o600;
const DIRECTORY_MODE: u32 = 0o700;

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

    /// Writes every entry under `dir` (which must exist) and returns the paths written.
    ///
    /// Each file is written to a fresh temporary file in its destination directory,
    /// synced, then linked into place with `hard_link`, which fails instead of replacing an
    /// existing file; the temporary name is then removed. Files get the archive's Unix mode,
    /// or 0600 when it stores none; sub-directories are created 0700.
    ///
    /// Refuses to overwrite anything ([`Error::AlreadyExists`]) and to follow a symlink
    /// found inside `dir` ([`Error::PathEscape`]). On any error, the files and directories
    /// this call created are removed again: no partial file and no partial set is left.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::PathEscape`], or [`Error::Io`].
    pub fn extract_to(&self, dir: &Path) -> Result<Vec<PathBuf>, Error> {
        let mut created = Created::default();
        match self.extract_all(dir, &mut created) {
            Ok(()) => Ok(std::mem::take(&mut created.files)),
            Err(error) => {
                created.roll_back();
                Err(error)
            }
        }
    }

    fn extract_all(&self, dir: &Path, created: &mut Created) -> Result<(), Error> {
        if !fs::symlink_metadata(dir)?.is_dir() {
            return Err(Error::PathEscape);
        }
        for entry in &self.entries {
            let mut parent = dir.to_path_buf();
            let mut components = entry.name().split('/').peekable();
            while let Some(component) = components.next() {
                if components.peek().is_none() {
                    let target = parent.join(component);
                    write_new_file(&parent, &target, entry, created)?;
                    break;
                }
                parent.push(component);
                ensure_directory(&parent, created)?;
            }
        }
        Ok(())
    }
}

/// What one `extract_to` call made, so a failure can take it back.
#[derive(Default)]
struct Created {
    files: Vec<PathBuf>,
    directories: Vec<PathBuf>,
}

impl Created {
    fn roll_back(&mut self) {
        for file in self.files.drain(..).rev() {
            let _ = fs::remove_file(file);
        }
        for directory in self.directories.drain(..).rev() {
            let _ = fs::remove_dir(directory);
        }
    }
}

fn ensure_directory(path: &Path, created: &mut Created) -> Result<(), Error> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(Error::PathEscape),
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(Error::AlreadyExists {
            path: path.to_path_buf(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(DIRECTORY_MODE);
            }
            builder.create(path)?;
            created.directories.push(path.to_path_buf());
            Ok(())
        }
        Err(error) => Err(Error::Io(error)),
    }
}

fn temp_name(parent: &Path) -> PathBuf {
    let random =
        std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    parent.join(format!(".autocsr-extract-{random:016x}.tmp"))
}

fn write_new_file(
    parent: &Path,
    target: &Path,
    entry: &Entry,
    created: &mut Created,
) -> Result<(), Error> {
    match fs::symlink_metadata(target) {
        Ok(_) => {
            return Err(Error::AlreadyExists {
                path: target.to_path_buf(),
            });
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(Error::Io(error)),
    }
    let temp = temp_name(parent);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(entry.unix_mode().unwrap_or(DEFAULT_FILE_MODE));
    }
    let file = options.open(&temp)?;
    let result = fill_and_link(file, &temp, target, entry);
    // The temporary name goes away whether or not the link succeeded.
    let _ = fs::remove_file(&temp);
    result?;
    created.files.push(target.to_path_buf());
    Ok(())
}

fn fill_and_link(mut file: File, temp: &Path, target: &Path, entry: &Entry) -> Result<(), Error> {
    file.write_all(entry.data())?;
    #[cfg(unix)]
    {
        // The umask may have narrowed the mode given at creation; set it exactly.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(
            entry.unix_mode().unwrap_or(DEFAULT_FILE_MODE),
        ))?;
    }
    file.sync_all()?;
    drop(file);
    // hard_link never replaces an existing file (unlike rename), so a file that appeared
    // since the check above is not overwritten.
    match fs::hard_link(temp, target) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(Error::AlreadyExists {
                path: target.to_path_buf(),
            })
        }
        Err(error) => Err(Error::Io(error)),
    }
}
