//! Opening the chosen vault: SQLite in the data directory, or PostgreSQL with its record
//! keys wrapped by an HSM (as `autocsr --vault` does). Synchronous: call it on the
//! blocking pool.

use std::path::Path;
use std::sync::Arc;

use autocsr::credential::Vault;
use autocsr_credential_pkcs11::{HsmConfig, HsmKeyWrapper, Pin, Pkcs11Module};
use autocsr_credential_postgres::{KeyProtection, Options, PostgresKeyStore, PostgresRecordStore};
use secrecy::ExposeSecret as _;

use crate::Error;
use crate::config::VaultSettings;

fn failed(err: autocsr::credential::Error) -> Error {
    Error::Vault(autocsr::Error::Vault(err))
}

/// Opens the vault `settings` choose.
pub(crate) fn open(settings: &VaultSettings, data_dir: &Path) -> Result<Vault, Error> {
    let (records_url, keys_url, hsm) = match settings {
        VaultSettings::Postgres { records, keys, hsm } => (records, keys, hsm),
        _ => return Vault::open_sqlite(data_dir).map_err(failed),
    };
    // The HSM first: local, and quick to refuse.
    let wrapper = match hsm {
        Some(hsm) => {
            let pin = Pin::from_file(&hsm.pin_file).map_err(failed)?;
            let module = Pkcs11Module::load(&hsm.module).map_err(failed)?;
            Some(HsmKeyWrapper::open(&module, HsmConfig::new(&hsm.token, pin)).map_err(failed)?)
        }
        None => None,
    };
    let options = Options::default();
    let records =
        PostgresRecordStore::connect_with(records_url.expose_secret(), &options).map_err(failed)?;
    let protection = if wrapper.is_some() {
        KeyProtection::DestroyingWrapper
    } else {
        KeyProtection::HazmatRawKeys
    };
    let keys = PostgresKeyStore::connect_with(keys_url.expose_secret(), protection, &options)
        .map_err(failed)?;
    let vault = Vault::new(Arc::new(records), Arc::new(keys));
    Ok(match wrapper {
        Some(wrapper) => vault.with_key_wrapper(wrapper),
        None => vault,
    })
}
