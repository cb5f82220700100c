//! The crate's one error type: why the server could not start (or stopped). Request errors
//! are answered, not returned: see the API's JSON error body and the order page's 4xx pages.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server refused to start, or failed while serving. No variant carries a secret:
/// a secret file is named by its path, never quoted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is out of range or inconsistent with another one.
    #[error("invalid setting: {0}")]
    InvalidSetting(String),

    /// A file or directory could not be read, created or written.
    #[error("could not use {}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },

    /// A secret file (or the data directory) is readable or writable by other users. Like
    /// ssh with a private key, the server refuses to run with it until it is made private.
    #[error(
        "{} is open to other users (mode {mode:03o}); run `chmod {wanted:o} {}` first",
        .path.display(),
        .path.display()
    )]
    OpenToOthers {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The mode it should have (0600 for files, 0700 for the data directory).
        wanted: u32,
    },

    /// A secret file holds something unusable (too short, empty, a token with spaces).
    #[error("{}: {reason}", .path.display())]
    BadSecret {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never a quote of its content).
        reason: &'static str,
    },

    /// The vault could not be opened.
    #[error("could not open the vault")]
    Vault(#[source] autocsr::Error),

    /// The shared PostgreSQL vault could not be opened (its sentence names the PIN file,
    /// token or described database; never a URL or the PIN).
    #[error(transparent)]
    OpenVault(autocsr::shared_vault::OpenError),

    /// The listening address could not be bound.
    #[error("could not listen on {addr}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },

    /// The HTTP server stopped with an I/O error.
    #[error("the HTTP server failed")]
    Serve(#[source] io::Error),

    /// A link could not be signed (an order id the vault would refuse, or an expiry
    /// before now or past the longest link lifetime).
    #[error("cannot sign a link: {0}")]
    Link(&'static str),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
