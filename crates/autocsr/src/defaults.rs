//! The default steps: the four core crates themselves.

use std::path::Path;
use std::time::{Duration, SystemTime};

use autocsr_archive::{ArchiveFormat, Entry, SealOptions};
use autocsr_credential::{UnlockCode, Vault};
use autocsr_keygen::{CsrRequest, PrivateKey};
use autocsr_policy::Policy;
use secrecy::SecretString;

use crate::steps::{
    CodeStore, CsrSpec, KeyAndCsr, KeyMaker, NameFinding, NamePolicy, SealOrVerifyError, Sealer,
    StepError,
};
use crate::{AutoCsr, Error};

/// The pipeline built from the core crates: the default BR policy, keys generated in this
/// process, the archive crate's sealer, and a credential vault.
pub type DefaultAutoCsr = AutoCsr<Policy, LocalKeygen, ArchiveSealer, Vault>;

/// The default pipeline over the SQLite vault in `dir` (records and keys in two files,
/// mode 0600; see `autocsr_credential::Vault::open_sqlite`).
///
/// # Errors
/// [`Error::Vault`] when the vault cannot be opened or created.
pub fn open_sqlite(dir: &Path) -> Result<DefaultAutoCsr, Error> {
    Vault::open_sqlite(dir)
        .map(with_vault)
        .map_err(Error::Vault)
}

/// The default pipeline over an in-memory vault (tests, examples: nothing survives the
/// process).
pub fn in_memory() -> DefaultAutoCsr {
    with_vault(Vault::in_memory())
}

/// The default steps over a vault the host configured (its own stores, clock, audit sink).
pub fn with_vault(vault: Vault) -> DefaultAutoCsr {
    AutoCsr::from_parts(
        Policy::default(),
        LocalKeygen,
        ArchiveSealer::default(),
        vault,
    )
}

impl NamePolicy for Policy {
    fn check_names(&self, names: &[&str], common_name: Option<&str>) -> Vec<NameFinding> {
        Policy::check_names(self, names, common_name)
            .findings()
            .iter()
            .map(|finding| NameFinding {
                id: finding.id.to_owned(),
                severity: finding.severity,
                message: finding.message.clone(),
            })
            .collect()
    }
}

/// Generates the key in this process from the OS CSPRNG (`autocsr_keygen`), exports it as
/// PKCS#8 PEM into a `SecretString`, and drops (zeroizes) the key object before returning.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct LocalKeygen;

impl LocalKeygen {
    /// The keygen crate's request for `spec`: one place, so that what `check_spec`
    /// accepts is exactly what `make_key_and_csr` signs.
    fn csr_request(spec: &CsrSpec<'_>) -> CsrRequest {
        let mut request = CsrRequest::new();
        if let Some(common_name) = spec.common_name {
            request = request.common_name(common_name);
        }
        for name in spec.dns_names {
            request = request.dns_name(name.as_str());
        }
        for address in spec.ip_addresses {
            request = request.ip_address(*address);
        }
        if let Some(organization) = spec.organization {
            request = request.organization(organization);
        }
        if let Some(locality) = spec.locality {
            request = request.locality(locality);
        }
        if let Some(state) = spec.state_or_province {
            request = request.state_or_province(state);
        }
        if let Some(country) = spec.country {
            request = request.country(country);
        }
        request
    }
}

impl KeyMaker for LocalKeygen {
    fn check_spec(&self, spec: &CsrSpec<'_>) -> Result<(), StepError> {
        Ok(LocalKeygen::csr_request(spec).validate()?)
    }

    fn make_key_and_csr(&self, spec: &CsrSpec<'_>) -> Result<KeyAndCsr, StepError> {
        let request = LocalKeygen::csr_request(spec);
        // Checked again here for callers that skip `check_spec`; still before the key.
        request.validate()?;
        let key = PrivateKey::generate(spec.key)?;
        let csr = request.sign(&key)?;
        let pem = key.to_pkcs8_pem()?;
        drop(key);
        let csr_pem = csr.to_pem();
        Ok(KeyAndCsr::new(pem, csr.into_der(), csr_pem))
    }
}

/// Seals with `autocsr_archive::seal` and verifies with `autocsr_archive::verify`; in the
/// pipeline ([`Sealer::seal_and_verify`]) with `autocsr_archive::seal_keeping_key`, which
/// verifies a 7z archive with the key derived for sealing it (one 2^19-round derivation
/// per order, not two; what that does and does not prove is on
/// `autocsr_archive::SealedArchive::verify`).
#[derive(Debug, Clone)]
pub struct ArchiveSealer {
    options: SealOptions,
}

/// Skips the 7z salt: the pipeline's password is always a fresh 130-bit unlock code used
/// for one archive, where a salt protects nothing and costs a fifth of the 7z key
/// derivation, for us and for the customer opening it (and the archive is laid out as
/// 7-Zip writes its own).
impl Default for ArchiveSealer {
    fn default() -> ArchiveSealer {
        ArchiveSealer {
            options: SealOptions::default().skip_7z_salt_for_random_password(),
        }
    }
}

impl ArchiveSealer {
    /// A sealer with explicit options (for instance a fixed modification time for
    /// reproducible archives). Unlike the default, these salt 7z keys unless they say
    /// `skip_7z_salt_for_random_password`.
    pub fn with_options(options: SealOptions) -> ArchiveSealer {
        ArchiveSealer { options }
    }
}

impl Sealer for ArchiveSealer {
    fn seal(
        &self,
        format: ArchiveFormat,
        entries: &[Entry],
        code: &SecretString,
    ) -> Result<Vec<u8>, StepError> {
        Ok(autocsr_archive::seal(format, entries, code, &self.options)?)
    }

    fn verify(
        &self,
        sealed: &[u8],
        code: &SecretString,
        expected: &[Entry],
    ) -> Result<(), StepError> {
        Ok(autocsr_archive::verify(sealed, code, expected)?)
    }

    fn seal_and_verify(
        &self,
        format: ArchiveFormat,
        entries: &[Entry],
        code: &SecretString,
    ) -> Result<Vec<u8>, SealOrVerifyError> {
        let sealed = autocsr_archive::seal_keeping_key(format, entries, code, &self.options)
            .map_err(|error| SealOrVerifyError::Seal(Box::new(error)))?;
        sealed
            .verify(entries)
            .map_err(|error| SealOrVerifyError::Verify(Box::new(error)))?;
        Ok(sealed.into_bytes())
    }
}

impl CodeStore for Vault {
    fn store_code(
        &self,
        order_id: &str,
        code: &UnlockCode,
        window: Duration,
    ) -> Result<SystemTime, StepError> {
        Ok(self.issue_with_code(order_id, code, window)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pipeline's one-derivation path gives archives that the password opens, as the
    /// customer will open them, and it still refuses what `seal` refuses.
    #[test]
    fn seal_and_verify_gives_archives_the_code_opens() {
        let code = SecretString::from("QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Y");
        let entries = [
            Entry::private("private-key.pem", b"-----BEGIN PRIVATE KEY-----\n".to_vec()).unwrap(),
            Entry::new("README.txt", b"Open with 7-Zip.\n".to_vec()).unwrap(),
        ];
        for sealer in [
            ArchiveSealer::default(),
            ArchiveSealer::with_options(SealOptions::default()),
        ] {
            for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
                let archive = sealer.seal_and_verify(format, &entries, &code).unwrap();
                autocsr_archive::verify(&archive, &code, &entries).unwrap();
            }
            let empty = SecretString::from("");
            assert!(matches!(
                sealer.seal_and_verify(ArchiveFormat::SevenZ, &entries, &empty),
                Err(SealOrVerifyError::Seal(_))
            ));
        }
    }

    #[test]
    fn the_default_sealer_skips_the_7z_salt_and_explicit_options_keep_it() {
        assert!(!ArchiveSealer::default().options.sevenz_salted());
        assert!(
            ArchiveSealer::with_options(SealOptions::default())
                .options
                .sevenz_salted()
        );
    }
}
