//! Secrets from files: the staff bearer tokens, the link-signing key, the webhook secret.
//!
//! Each file must be private to its owner (no group or other permission bits, like ssh's
//! rule for private keys); the server refuses to start otherwise. Contents are held in
//! zeroizing buffers and never logged, printed or put into an error.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use autocsr::private_file::{self, PrivateFileError};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::Error;

/// The shortest key or token accepted: 32 bytes (`openssl rand -hex 32` makes 64).
pub const MIN_SECRET_LEN: usize = 32;

/// Largest secret file read (a token list of a few thousand lines at most).
const MAX_SECRET_FILE: u64 = 1024 * 1024;

/// Reads a secret file after checking that no group or other permission bit is set.
///
/// # Errors
/// [`Error::OpenToOthers`], [`Error::Io`], [`Error::BadSecret`] when it is over 1 MiB or
/// not UTF-8.
pub(crate) fn read_private_file(path: &Path) -> Result<Zeroizing<String>, Error> {
    // One open, checked and read as one file (see `autocsr::private_file`).
    let bytes = private_file::read(path, MAX_SECRET_FILE).map_err(|error| match error {
        PrivateFileError::Io(err) => Error::io(path, err),
        PrivateFileError::NotRegular => Error::BadSecret {
            path: path.to_owned(),
            reason: "not a regular file",
        },
        PrivateFileError::OpenToOthers { mode } => Error::OpenToOthers {
            path: path.to_owned(),
            mode,
            wanted: 0o600,
        },
        // TooLarge, and whatever refusal a later version adds.
        _ => Error::BadSecret {
            path: path.to_owned(),
            reason: "larger than 1 MiB",
        },
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::BadSecret {
        path: path.to_owned(),
        reason: "not UTF-8 text",
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Creates `path` (mode 0600, never replacing a file) holding `contents`.
pub(crate) fn create_private_file(path: &Path, contents: &str) -> Result<(), Error> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|err| Error::io(path, err))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|err| Error::io(path, err))
}

/// 32 random bytes from the OS CSPRNG as 64 lower-case hex characters.
pub(crate) fn random_hex_secret() -> Result<Zeroizing<String>, Error> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut_slice()).map_err(|_| {
        Error::InvalidSetting("the operating system random number generator failed".to_owned())
    })?;
    Ok(Zeroizing::new(hex::encode(bytes.as_slice())))
}

/// An HMAC key read from a file: the file's text with surrounding whitespace trimmed, used
/// as bytes (so a portal in any language uses the same file as is). At least
/// [`MIN_SECRET_LEN`] bytes.
pub struct HmacKey(Zeroizing<Vec<u8>>);

impl HmacKey {
    /// A key from its bytes.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] when shorter than [`MIN_SECRET_LEN`].
    pub fn from_bytes(bytes: &[u8]) -> Result<HmacKey, Error> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(Error::InvalidSetting(format!(
                "a signing key must be at least {MIN_SECRET_LEN} bytes"
            )));
        }
        Ok(HmacKey(Zeroizing::new(bytes.to_vec())))
    }

    /// Reads the key from a private file.
    ///
    /// # Errors
    /// [`Error::OpenToOthers`] (group or other permission bits set), [`Error::Io`], and
    /// [`Error::BadSecret`] (over 1 MiB, not UTF-8, or the trimmed text is shorter
    /// than [`MIN_SECRET_LEN`]).
    pub fn from_file(path: &Path) -> Result<HmacKey, Error> {
        let text = read_private_file(path)?;
        let trimmed = text.trim();
        if trimmed.len() < MIN_SECRET_LEN {
            return Err(Error::BadSecret {
                path: path.to_owned(),
                reason: "the key must be at least 32 bytes (make one with `openssl rand -hex 32`)",
            });
        }
        Ok(HmacKey(Zeroizing::new(trimmed.as_bytes().to_vec())))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

/// The staff API's bearer tokens: one per line in the tokens file (blank lines and lines
/// starting with `#` are skipped), each at least [`MIN_SECRET_LEN`] visible ASCII
/// characters. Only their SHA-256 digests are kept, and a presented token is compared with
/// every digest in constant time.
pub struct StaffTokens {
    digests: Vec<[u8; 32]>,
}

/// How a presented bearer token fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    /// It matches the token on this line number of the file (logged instead of the token).
    Accepted(usize),
    /// It matches none.
    Refused,
}

impl StaffTokens {
    /// Reads the tokens file.
    ///
    /// # Errors
    /// [`Error::OpenToOthers`] (group or other permission bits set), [`Error::Io`], and
    /// [`Error::BadSecret`] (over 1 MiB, not UTF-8, a short token, one with
    /// spaces or control characters, or a file with no token at all).
    pub fn from_file(path: &Path) -> Result<StaffTokens, Error> {
        let text = read_private_file(path)?;
        StaffTokens::parse(&text).map_err(|reason| Error::BadSecret {
            path: path.to_owned(),
            reason,
        })
    }

    pub(crate) fn parse(text: &str) -> Result<StaffTokens, &'static str> {
        let mut digests = Vec::new();
        for line in text.lines() {
            let token = line.trim();
            if token.is_empty() || token.starts_with('#') {
                continue;
            }
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err("a token may only hold visible ASCII characters (no spaces)");
            }
            if token.len() < MIN_SECRET_LEN {
                return Err(
                    "every token must be at least 32 characters (make one with `openssl rand -hex 32`)",
                );
            }
            digests.push(Sha256::digest(token.as_bytes()).into());
        }
        if digests.is_empty() {
            return Err("the file holds no token");
        }
        Ok(StaffTokens { digests })
    }

    /// Compares `presented` with every token. The digests have equal length, so each
    /// comparison takes the same time whatever the input; every token is compared, so the
    /// time does not tell which one matched either.
    pub(crate) fn check(&self, presented: &str) -> TokenCheck {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = TokenCheck::Refused;
        for (index, known) in self.digests.iter().enumerate() {
            if bool::from(known.ct_eq(&digest)) && found == TokenCheck::Refused {
                found = TokenCheck::Accepted(index + 1);
            }
        }
        found
    }
}

impl std::fmt::Debug for StaffTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffTokens")
            .field("count", &self.digests.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn tokens_are_matched_and_the_rest_refused() {
        let tokens = StaffTokens::parse(&format!("# staff\n\n{TOKEN}\n{TOKEN}x\n")).unwrap();
        assert_eq!(tokens.check(TOKEN), TokenCheck::Accepted(1));
        assert_eq!(tokens.check(&format!("{TOKEN}x")), TokenCheck::Accepted(2));
        assert_eq!(tokens.check(&TOKEN[1..]), TokenCheck::Refused);
        assert_eq!(tokens.check(""), TokenCheck::Refused);
    }

    #[test]
    fn short_spaced_or_missing_tokens_are_refused() {
        assert!(StaffTokens::parse("short").is_err());
        assert!(StaffTokens::parse(&format!("{TOKEN} {TOKEN}")).is_err());
        assert!(StaffTokens::parse("# only a comment\n").is_err());
    }

    #[test]
    fn a_file_open_to_others_is_refused_and_its_content_never_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        fs::write(&path, TOKEN).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = StaffTokens::from_file(&path).unwrap_err();
        assert!(
            matches!(err, Error::OpenToOthers { mode: 0o644, .. }),
            "{err}"
        );
        assert!(!format!("{err} {err:?}").contains(TOKEN));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(StaffTokens::from_file(&path).is_ok());
    }

    #[test]
    fn a_short_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        create_private_file(&path, "  too short  \n").unwrap();
        assert!(matches!(
            HmacKey::from_file(&path),
            Err(Error::BadSecret { .. })
        ));
        assert!(HmacKey::from_bytes(&[7; 31]).is_err());
        assert!(HmacKey::from_bytes(&[7; 32]).is_ok());
    }
}
