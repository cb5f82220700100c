//! Where the vault lives: `--data-dir`, then `$AUTOCSR_DATA_DIR` (both through clap), then
//! the platform's data directory. The directory is private to the user (0700).

use std::fs;
use std::os::unix::fs::PermissionsExt;

use autocsr::private_dir::PrivateDirError;
use std::path::{Path, PathBuf};

use crate::failure::CliError;

/// The chosen data directory, or the platform default.
pub(crate) fn resolve(chosen: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(dir) = chosen
        && !dir.as_os_str().is_empty()
    {
        return Ok(dir);
    }
    directories::ProjectDirs::from("", "", "autocsr")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .ok_or_else(|| {
            CliError::other(
                "no home directory to keep the vault in; pass --data-dir DIR or set AUTOCSR_DATA_DIR",
            )
        })
}

/// Creates `dir` (and missing parents) mode 0700, and refuses an existing directory that
/// other users can read or enter: the vault's files are secret. The same check as the
/// server's (`autocsr::private_dir`).
pub(crate) fn prepare(dir: &Path) -> Result<(), CliError> {
    autocsr::private_dir::prepare(dir).map_err(|err| match err {
        PrivateDirError::OpenToOthers { mode } => CliError::other(format!(
            "the data directory {} is open to other users (mode {mode:03o}); run `chmod 700 {}` or choose another with --data-dir",
            dir.display(),
            dir.display()
        )),
        PrivateDirError::NotDirectory => CliError::other(format!(
            "the data directory {} is not a directory",
            dir.display()
        )),
        other => CliError::other(format!(
            "could not create the data directory {}",
            dir.display()
        ))
        .caused_by(other),
    })
}

/// Makes every regular file directly in `dir` mode 0600 (the vault's record and key
/// stores), in case they were created under a permissive umask.
pub(crate) fn tighten_files(dir: &Path) -> Result<(), CliError> {
    let entries = fs::read_dir(dir).map_err(|err| {
        CliError::other(format!(
            "could not list the data directory {}",
            dir.display()
        ))
        .caused_by(err)
    })?;
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o600)).map_err(
                |err| {
                    CliError::other(format!("could not make {} private", entry.path().display()))
                        .caused_by(err)
                },
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // What is refused is autocsr::private_dir's to test; these check the CLI's sentences.

    #[test]
    fn a_directory_open_to_others_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("shared");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = prepare(&dir).unwrap_err();
        assert!(err.message().contains("chmod 700"), "{}", err.message());
    }

    #[test]
    fn a_file_in_its_place_is_not_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("vault");
        fs::write(&file, b"x").unwrap();
        let err = prepare(&file).unwrap_err();
        assert!(
            err.message().contains("is not a directory"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn files_are_tightened_to_0600() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("records.sqlite");
        fs::write(&file, b"x").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        tighten_files(tmp.path()).unwrap();
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn an_explicit_directory_wins() {
        assert_eq!(
            resolve(Some(PathBuf::from("/x/y"))).unwrap(),
            PathBuf::from("/x/y")
        );
        // The platform default is somewhere under the user's home.
        assert!(resolve(None).is_ok_and(|dir| dir.ends_with("autocsr")));
    }
}
