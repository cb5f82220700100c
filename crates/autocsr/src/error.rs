//! The pipeline's one error type.

use crate::steps::{NameFinding, StepError};

/// Why an order (or opening the default store) failed. Whatever the variant, nothing was
/// stored and no archive was handed out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The order request itself is unusable (no domain name, a reveal window outside
    /// 1 second to 366 days or not whole seconds, a country that is not two letters, an
    /// organization without a country and a locality or state, a malformed order id);
    /// nothing was generated and no step ran.
    #[error("invalid order: {0}")]
    InvalidRequest(&'static str),

    /// The key maker cannot build a CSR for this request (with the default key maker:
    /// more than 100 names, an organization over 64 characters, a name that is not a
    /// valid DNS name, ...); found before any key was made. The source says why.
    #[error("invalid order: the CSR cannot be built")]
    InvalidCsrRequest(#[source] StepError),

    /// The policy refused the requested names; nothing was generated. `findings` lists
    /// every finding, errors and warnings alike.
    #[error("the policy refused the requested names: {}", summarize(.findings))]
    PolicyRefused {
        /// Every finding the policy made.
        findings: Vec<NameFinding>,
    },

    /// The operating system could not supply random bytes for the order id.
    #[error("the operating system could not supply random bytes")]
    Randomness(#[source] getrandom::Error),

    /// Step 2: making the key or the CSR failed.
    #[error("making the key and CSR failed")]
    KeyGeneration(#[source] StepError),

    /// Step 3: no unlock code could be drawn (the OS CSPRNG failed).
    #[error("drawing the unlock code failed")]
    UnlockCode(#[source] autocsr_credential::Error),

    /// Step 3: sealing the archive failed.
    #[error("sealing the archive failed")]
    Seal(#[source] StepError),

    /// Step 4: the sealed archive did not open again with its code, or its contents were
    /// not byte-for-byte what was sealed. The archive was discarded.
    #[error("the sealed archive failed verification and was discarded")]
    Verify(#[source] StepError),

    /// Step 5: the vault did not store the unlock code (for instance the order id already
    /// has one). The archive was discarded.
    #[error("storing the unlock code failed")]
    Store(#[source] StepError),

    /// The default vault could not be opened.
    #[error("could not open the vault")]
    Vault(#[source] autocsr_credential::Error),
}

fn summarize(findings: &[NameFinding]) -> String {
    let errors: Vec<String> = findings
        .iter()
        .filter(|finding| finding.is_error())
        .map(|finding| format!("{} ({})", finding.message, finding.id))
        .collect();
    if errors.is_empty() {
        "no reason given".to_owned()
    } else {
        errors.join("; ")
    }
}
