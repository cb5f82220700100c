//! Opening the chosen vault: SQLite in the data directory, or PostgreSQL with its record
//! keys wrapped by an HSM, opened by `autocsr::shared_vault` exactly as `autocsr --vault`
//! opens it. Synchronous: call it on the blocking pool.

use std::path::Path;

use autocsr::credential::Vault;
use autocsr::shared_vault::VaultChoice;
use autocsr_credential_postgres::Options;

use crate::Error;

/// Opens the vault `choice` names.
pub(crate) fn open(choice: &VaultChoice, data_dir: &Path) -> Result<Vault, Error> {
    match choice {
        VaultChoice::Sqlite => {
            Vault::open_sqlite(data_dir).map_err(|err| Error::Vault(autocsr::Error::Vault(err)))
        }
        VaultChoice::Postgres(postgres) => {
            postgres.open(&Options::default()).map_err(Error::OpenVault)
        }
    }
}
