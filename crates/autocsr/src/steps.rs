//! The replaceable steps of an order. Each trait is as narrow as the pipeline needs, so a
//! host can swap one step (a key held in an HSM cannot be sealed, but a different policy,
//! archive writer or vault can) and tests can inject a failure at any step.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use autocsr_archive::{ArchiveFormat, Entry};
use autocsr_credential::UnlockCode;
use autocsr_keygen::KeyAlgorithm;
use secrecy::SecretString;

/// The error a step reports. The pipeline wraps it in the [`crate::Error`] variant naming
/// the step, so callers see which step failed and why (through `source()`).
pub type StepError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How serious a policy finding is (the policy crate's own scale).
pub use autocsr_policy::Severity;

/// One finding about the requested names, owned so that any policy can produce it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NameFinding {
    /// Stable id, e.g. `name.wildcard_on_public_suffix`.
    pub id: String,
    /// Error findings refuse the order; warnings and notices are passed on.
    pub severity: Severity,
    /// One sentence for a human.
    pub message: String,
}

impl NameFinding {
    /// A finding as a [`NamePolicy`] outside this crate builds it.
    pub fn new(id: impl Into<String>, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            severity,
            message: message.into(),
        }
    }

    /// True when this finding refuses the order.
    pub fn is_error(&self) -> bool {
        matches!(self.severity, Severity::Error)
    }
}

/// Step 1: judges the names of an order that has no CSR yet.
pub trait NamePolicy {
    /// Every finding about `names` (DNS names and IP literals as text) and the subject
    /// common name; the pipeline refuses the order if any finding is an error.
    fn check_names(&self, names: &[&str], common_name: Option<&str>) -> Vec<NameFinding>;
}

/// What the key maker is asked for: the key type and the CSR's subject and names, already
/// accepted by the policy.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CsrSpec<'a> {
    /// Key algorithm and size.
    pub key: KeyAlgorithm,
    /// Subject common name (one of `dns_names` or `ip_addresses`, BR 7.1.4.3), or `None`
    /// when the primary name is longer than `ub-common-name`
    /// ([`autocsr_keygen::MAX_COMMON_NAME_LEN`]) and so is only a subjectAltName.
    pub common_name: Option<&'a str>,
    /// DNS subjectAltNames.
    pub dns_names: &'a [String],
    /// IP subjectAltNames.
    pub ip_addresses: &'a [IpAddr],
    /// Subject organizationName, if any (then `country` and `locality` or
    /// `state_or_province` are set).
    pub organization: Option<&'a str>,
    /// Subject localityName, if any.
    pub locality: Option<&'a str>,
    /// Subject stateOrProvinceName, if any.
    pub state_or_province: Option<&'a str>,
    /// Subject countryName (two letters), if any.
    pub country: Option<&'a str>,
}

/// A new private key (PKCS#8 PEM, wiped on drop) and its CSR.
pub struct KeyAndCsr {
    private_key_pem: SecretString,
    csr_der: Vec<u8>,
    csr_pem: String,
}

impl KeyAndCsr {
    /// Bundles a key maker's output. The key PEM stays a [`SecretString`], so it is wiped
    /// when this value is dropped.
    pub fn new(private_key_pem: SecretString, csr_der: Vec<u8>, csr_pem: String) -> KeyAndCsr {
        KeyAndCsr {
            private_key_pem,
            csr_der,
            csr_pem,
        }
    }

    /// The private key as unencrypted PKCS#8 PEM (it only ever goes into the archive).
    pub fn private_key_pem(&self) -> &SecretString {
        &self.private_key_pem
    }

    /// The CSR, DER.
    pub fn csr_der(&self) -> &[u8] {
        &self.csr_der
    }

    /// The CSR, PEM.
    pub fn csr_pem(&self) -> &str {
        &self.csr_pem
    }
}

impl std::fmt::Debug for KeyAndCsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyAndCsr")
            .field("private_key_pem", &"[REDACTED]")
            .field("csr_der_len", &self.csr_der.len())
            .finish()
    }
}

/// Step 2: makes a key pair and a CSR signed by it.
pub trait KeyMaker {
    /// Refuses a spec this key maker could not build a CSR for (too many names, an
    /// attribute too long, ...), before any key is made. The pipeline reports a refusal
    /// as invalid input ([`crate::Error::InvalidCsrRequest`]), not as a failure of key
    /// generation. The default accepts every spec.
    ///
    /// # Errors
    /// Why the CSR cannot be built.
    fn check_spec(&self, spec: &CsrSpec<'_>) -> Result<(), StepError> {
        let _ = spec;
        Ok(())
    }

    /// A fresh key and its CSR for `spec`.
    ///
    /// # Errors
    /// Whatever the key maker cannot do (unsupported key, bad subject, no randomness).
    fn make_key_and_csr(&self, spec: &CsrSpec<'_>) -> Result<KeyAndCsr, StepError>;
}

/// Steps 3 and 4: seals entries into an encrypted archive, and opens a sealed archive again
/// to prove it holds exactly the expected entries.
pub trait Sealer {
    /// Seals `entries` under `code` (the canonical unlock code text is the password).
    ///
    /// # Errors
    /// When the archive cannot be written.
    fn seal(
        &self,
        format: ArchiveFormat,
        entries: &[Entry],
        code: &SecretString,
    ) -> Result<Vec<u8>, StepError>;

    /// Opens `sealed` with `code` and compares every entry byte for byte with `expected`.
    ///
    /// # Errors
    /// When the archive does not open with `code` or its contents differ in any way.
    fn verify(
        &self,
        sealed: &[u8],
        code: &SecretString,
        expected: &[Entry],
    ) -> Result<(), StepError>;

    /// Steps 3 and 4 in one call: what the pipeline runs. The default seals, then
    /// verifies; a sealer that can prove its own archive more cheaply knowing how it sealed
    /// it overrides this (the default sealer verifies a 7z archive with the key it derived
    /// for sealing instead of deriving it from the code a second time).
    ///
    /// # Errors
    /// [`SealOrVerifyError::Seal`] or [`SealOrVerifyError::Verify`], as the steps above.
    fn seal_and_verify(
        &self,
        format: ArchiveFormat,
        entries: &[Entry],
        code: &SecretString,
    ) -> Result<Vec<u8>, SealOrVerifyError> {
        let sealed = self
            .seal(format, entries, code)
            .map_err(SealOrVerifyError::Seal)?;
        self.verify(&sealed, code, entries)
            .map_err(SealOrVerifyError::Verify)?;
        Ok(sealed)
    }
}

/// Which of steps 3 and 4 failed in [`Sealer::seal_and_verify`].
#[derive(Debug)]
#[non_exhaustive]
pub enum SealOrVerifyError {
    /// Sealing failed (the pipeline reports [`crate::Error::Seal`]).
    Seal(StepError),
    /// The sealed archive did not prove itself (the pipeline reports
    /// [`crate::Error::Verify`]).
    Verify(StepError),
}

/// Step 5: keeps the unlock code for the reveal window and returns when it expires.
pub trait CodeStore {
    /// Stores `code` for `order_id` for `window`; returns the expiry.
    ///
    /// # Errors
    /// When the order id already has a code, or the store cannot write.
    fn store_code(
        &self,
        order_id: &str,
        code: &UnlockCode,
        window: Duration,
    ) -> Result<SystemTime, StepError>;
}
