#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub mod defaults;
mod error;
mod order_id;
mod pipeline;
pub mod private_dir;
pub mod private_file;
mod readme;
mod settle;
#[cfg(feature = "shared-vault")]
pub mod shared_vault;
pub mod steps;

pub use error::Error;
pub use order_id::OrderId;
pub use pipeline::{
    AutoCsr, DEFAULT_REVEAL_WINDOW, MAX_REVEAL_WINDOW, MIN_REVEAL_WINDOW, Order, OrderRequest,
    SealedOrder, check_order_id, check_reveal_window,
};
pub use readme::{CSR_ENTRY, KEY_ENTRY, README_ENTRY};
pub use settle::Settled;

/// The core crates, re-exported so a host needs one dependency and gets matching versions.
pub use autocsr_archive as archive;
/// Unlock codes and the expiring vault.
pub use autocsr_credential as credential;
/// Key pairs and CSRs.
pub use autocsr_keygen as keygen;
/// Judging names, keys and CSRs.
pub use autocsr_policy as policy;
/// The `secrecy` version used in this crate's public API.
pub use secrecy;
