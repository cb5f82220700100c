//! Archive entries and the name rules every entry obeys, sealed or opened.

use std::collections::HashSet;
use std::fmt;

use zeroize::Zeroizing;

use crate::error::{Error, NameProblem};

/// Longest entry name accepted, in bytes (the common file-name limit of Linux, macOS and
/// Windows file systems).
pub const MAX_NAME_LEN: usize = 255;

/// Unix mode given to entries made with [`Entry::private`]: owner read/write only.
pub const PRIVATE_MODE: u32 = 0o600;

/// Unix mode both formats store for an entry that has none ([`Entry::new`]): `rw-r--r--`,
/// what desktop tools give a new file. Clients that restore stored modes (7-Zip and
/// bsdtar on Unix) apply it minus their umask; [`crate::OpenedArchive::extract_to`] applies
/// it exactly.
pub const DEFAULT_MODE: u32 = 0o644;

/// One file in an archive: a validated name, its bytes in a buffer that is wiped on drop,
/// and an optional Unix mode (stored by formats that keep one).
///
/// `Debug` shows the name, the length and the mode, never the bytes.
///
/// # Examples
///
/// ```
/// use autocsr_archive::{Entry, Error, PRIVATE_MODE};
///
/// let key = Entry::private("keys/example.com.key", b"-----BEGIN PRIVATE KEY-----\n".to_vec())?;
/// assert_eq!(key.unix_mode(), Some(PRIVATE_MODE));
/// assert_eq!(
///     format!("{key:?}"),
///     r#"Entry { name: "keys/example.com.key", len: 28, unix_mode: Some("600"), .. }"#
/// );
/// // Names that could leave the extraction directory are refused.
/// for name in ["../escape", "/etc/passwd", "C:evil", "a//b", ""] {
///     assert!(matches!(Entry::new(name, Vec::new()), Err(Error::InvalidEntryName { .. })));
/// }
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct Entry {
    name: String,
    data: Zeroizing<Vec<u8>>,
    unix_mode: Option<u32>,
}

impl Entry {
    /// A file entry with no Unix mode of its own: both formats store [`DEFAULT_MODE`]
    /// (0644) for it, so it opens with `unix_mode() == Some(0o644)` from a zip and from a
    /// 7z alike. Use [`Entry::private`] for secrets.
    ///
    /// # Errors
    /// [`Error::InvalidEntryName`] when `name` is empty, longer than 255 bytes, starts
    /// with `/`, contains `\`, `:` (a drive letter or stream), NUL or another control
    /// character, or has an empty, `.` or `..` component. Names may contain `/` to place
    /// a file in a sub-directory.
    pub fn new(name: &str, data: impl Into<Zeroizing<Vec<u8>>>) -> Result<Entry, Error> {
        validate_name(name)?;
        Ok(Entry {
            name: name.to_owned(),
            data: data.into(),
            unix_mode: None,
        })
    }

    /// A file entry for a secret (a private key): Unix mode 0600, so clients that honour
    /// stored modes (7-Zip, bsdtar, unar on Unix) extract it readable by the owner only.
    ///
    /// # Errors
    /// As [`Entry::new`].
    pub fn private(name: &str, data: impl Into<Zeroizing<Vec<u8>>>) -> Result<Entry, Error> {
        Entry::new(name, data).map(|entry| entry.with_unix_mode(PRIVATE_MODE))
    }

    /// Sets the Unix permission bits stored for this entry (only the low 9 bits are kept).
    #[must_use]
    pub fn with_unix_mode(mut self, mode: u32) -> Entry {
        self.unix_mode = Some(mode & 0o777);
        self
    }

    /// The entry's name (`/`-separated, relative).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The entry's bytes.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The stored Unix permission bits, if any.
    #[must_use]
    pub fn unix_mode(&self) -> Option<u32> {
        self.unix_mode
    }

    /// Takes the bytes out (still in a wiping buffer).
    #[must_use]
    pub fn into_data(self) -> Zeroizing<Vec<u8>> {
        self.data
    }

    pub(crate) fn from_parts(
        name: String,
        data: Zeroizing<Vec<u8>>,
        unix_mode: Option<u32>,
    ) -> Entry {
        Entry {
            name,
            data,
            unix_mode: unix_mode.map(|mode| mode & 0o777),
        }
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.name)
            .field("len", &self.data.len())
            .field("unix_mode", &self.unix_mode.map(|mode| format!("{mode:o}")))
            .finish_non_exhaustive()
    }
}

fn invalid(name: &str, problem: NameProblem) -> Error {
    Error::InvalidEntryName {
        name: name.escape_debug().to_string(),
        problem,
    }
}

/// Checks one name against the rules documented on [`Entry::new`].
pub(crate) fn validate_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(invalid(name, NameProblem::Empty));
    }
    if name.len() > MAX_NAME_LEN {
        // Do not echo a huge hostile name back in full.
        let shown: String = name.chars().take(64).collect();
        return Err(invalid(&shown, NameProblem::TooLong));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(name, NameProblem::ControlCharacter));
    }
    if name.starts_with('/') {
        return Err(invalid(name, NameProblem::Absolute));
    }
    if name.contains('\\') {
        return Err(invalid(name, NameProblem::Backslash));
    }
    if name.contains(':') {
        return Err(invalid(name, NameProblem::DriveOrStream));
    }
    for component in name.split('/') {
        if component.is_empty() {
            return Err(invalid(name, NameProblem::Empty));
        }
        if component == "." || component == ".." {
            return Err(invalid(name, NameProblem::DotComponent));
        }
    }
    Ok(())
}

/// Checks that no two names are equal, ignoring case (Windows and macOS extract to
/// case-insensitive file systems, where `KEY.pem` would overwrite `key.pem`), and that no
/// file name is also used as a directory prefix of another (`a` and `a/b`).
pub(crate) fn check_unique<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut files: Vec<String> = Vec::new();
    for name in names {
        let folded = name.to_lowercase();
        if !seen.insert(folded.clone()) {
            return Err(invalid(name, NameProblem::Duplicate));
        }
        files.push(folded);
    }
    for file in &files {
        let mut prefix = String::new();
        let mut components = file.split('/').peekable();
        while let Some(component) = components.next() {
            if components.peek().is_none() {
                break;
            }
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(component);
            if seen.contains(&prefix) {
                return Err(invalid(&prefix, NameProblem::Duplicate));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(name: &str) -> Option<NameProblem> {
        match validate_name(name) {
            Ok(()) => None,
            Err(Error::InvalidEntryName { problem, .. }) => Some(problem),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn good_names_pass() {
        for name in [
            "key.pem",
            "a/b/c.txt",
            "README",
            "clé-privée.pem",
            "..hidden",
            "a..b",
            ".env",
        ] {
            assert_eq!(problem(name), None, "{name}");
        }
        assert_eq!(problem(&"x".repeat(255)), None);
    }

    #[test]
    fn bad_names_are_refused_with_the_right_reason() {
        let cases = [
            ("", NameProblem::Empty),
            ("a//b", NameProblem::Empty),
            ("a/", NameProblem::Empty),
            ("/etc/passwd", NameProblem::Absolute),
            ("\\evil", NameProblem::Backslash),
            ("a\\..\\..\\evil", NameProblem::Backslash),
            ("..", NameProblem::DotComponent),
            ("../x", NameProblem::DotComponent),
            ("a/../../x", NameProblem::DotComponent),
            ("./x", NameProblem::DotComponent),
            ("a\0b", NameProblem::ControlCharacter),
            ("a\nb", NameProblem::ControlCharacter),
            ("C:evil", NameProblem::DriveOrStream),
            ("c:/x", NameProblem::DriveOrStream),
            ("file.txt:stream", NameProblem::DriveOrStream),
        ];
        for (name, expected) in cases {
            assert_eq!(problem(name), Some(expected), "{name:?}");
        }
        assert_eq!(problem(&"x".repeat(256)), Some(NameProblem::TooLong));
        // 128 two-byte characters: 256 bytes.
        assert_eq!(problem(&"é".repeat(128)), Some(NameProblem::TooLong));
    }

    #[test]
    fn duplicates_are_found_ignoring_case_and_file_dir_clashes() {
        assert!(check_unique(["a", "b", "c/d"]).is_ok());
        assert!(matches!(
            check_unique(["key.pem", "KEY.pem"]),
            Err(Error::InvalidEntryName {
                problem: NameProblem::Duplicate,
                ..
            })
        ));
        assert!(matches!(
            check_unique(["a", "a/b"]),
            Err(Error::InvalidEntryName {
                problem: NameProblem::Duplicate,
                ..
            })
        ));
    }

    #[test]
    fn debug_never_shows_the_bytes_and_private_is_0600() {
        let entry = Entry::private("key.pem", b"SECRET-KEY-BYTES".to_vec()).unwrap();
        let shown = format!("{entry:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("key.pem"));
        assert_eq!(entry.unix_mode(), Some(0o600));
    }
}
