#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod algorithm;
mod csr;
mod error;
mod key;
mod names;
mod signer;

pub use algorithm::{KeyAlgorithm, SignatureAlgorithm};
pub use csr::{Csr, CsrRequest, MAX_COMMON_NAME_LEN, MAX_SUBJECT_ALT_NAMES};
pub use error::{Error, Result};
pub use key::{
    MAX_PBKDF2_SHA256_WORK, MAX_PBKDF2_SHA512_WORK, MAX_SCRYPT_WORK, Pkcs8Encryption, PrivateKey,
};
pub use names::{MAX_DNS_LABEL_LEN, MAX_DNS_NAME_LEN, check_dns_name, dns_name_to_ascii};
pub use signer::CsrSigner;

/// The `secrecy` version used in this crate's public API.
pub use secrecy;
/// The `signature` version whose `Error` the [`CsrSigner`] trait uses.
pub use signature;
/// The `zeroize` version of the [`zeroize::Zeroizing`] buffers this crate returns.
pub use zeroize;
