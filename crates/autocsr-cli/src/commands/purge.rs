//! `autocsr purge`: destroys expired records and the epoch keys nothing needs any more.

use autocsr::defaults::DefaultAutoCsr;
use serde::Serialize;

use crate::failure::CliError;
use crate::output::{NO_TAIL, Outcome, lines};

#[derive(Serialize)]
struct PurgeJson {
    records_destroyed: u64,
    keys_destroyed: u64,
    /// HSM wrapping keys (a PostgreSQL vault's): one per day of expiries, destroyed once
    /// the day has ended. Always 0 on the SQLite vault.
    wrapping_keys_destroyed: u64,
}

pub(super) fn purge(pipeline: &DefaultAutoCsr) -> Result<Outcome, CliError> {
    let report = pipeline
        .vault()
        .purge()
        .map_err(|err| CliError::other("purging the vault failed").caused_by(err))?;
    let records = report.records_destroyed;
    let keys = report.keys_destroyed;
    let wrapping_keys = report.wrapping_keys_destroyed;
    Outcome::new(
        PurgeJson {
            records_destroyed: records,
            keys_destroyed: keys,
            wrapping_keys_destroyed: wrapping_keys,
        },
        lines(
            &[
                ("Records destroyed", &records.to_string()),
                ("Keys destroyed", &keys.to_string()),
                ("HSM keys destroyed", &wrapping_keys.to_string()),
            ],
            NO_TAIL,
        ),
    )
}
