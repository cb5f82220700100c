//! What several subcommands share: opening the vault, refusing a malformed order id,
//! mapping the vault's answers to exit codes, and the one line that shows a policy finding.

use std::path::PathBuf;
use std::sync::Arc;

use autocsr::credential;
use autocsr::defaults::{self, DefaultAutoCsr};
use autocsr::policy::Severity;

use crate::audit::{AUDIT_FILE, JsonLinesAudit};
use crate::cli::VaultArgs;
use crate::datadir;
use crate::failure::{CliError, Failure};
use crate::output::{quoted, rfc3339, shown_path};
use crate::vault;
use autocsr::shared_vault::VaultChoice;

/// A malformed order id is a usage error (exit 2), refused before the vault is opened.
pub(super) fn check_order_id(order_id: &str) -> Result<(), CliError> {
    autocsr::check_order_id(order_id).map_err(|_| {
        CliError::new(
            Failure::Usage,
            format!(
                "{} is not an order id (1 to 128 characters from A-Z, a-z, 0-9, '-', '_', '.' and ':')",
                quoted(order_id)
            ),
        )
    })
}

/// Opens the vault the settings choose: the SQLite vault in the data directory, or the
/// shared PostgreSQL vault. Either way the data directory (mode 0700) holds this
/// machine's audit log.
pub(super) fn open_vault(
    chosen: Option<PathBuf>,
    settings: &VaultArgs,
) -> Result<DefaultAutoCsr, CliError> {
    let choice = vault::choose(settings)?;
    let dir = datadir::resolve(chosen)?;
    datadir::prepare(&dir)?;
    let vault = match &choice {
        VaultChoice::Sqlite => credential::Vault::open_sqlite(&dir).map_err(|err| {
            CliError::other(format!("could not open the vault in {}", shown_path(&dir)))
                .caused_by(err)
        })?,
        VaultChoice::Postgres(postgres) => vault::open_postgres(postgres)?,
    };
    let audit = JsonLinesAudit::new(dir.join(AUDIT_FILE));
    let pipeline = defaults::with_vault(vault.with_audit_sink(Arc::new(audit)));
    datadir::tighten_files(&dir)?;
    Ok(pipeline)
}

/// Maps the vault's answers to the documented exit codes and sentences.
pub(super) fn vault_error(err: credential::Error, order_id: &str) -> CliError {
    let order_id = &quoted(order_id);
    match err {
        credential::Error::NotFound => CliError::new(
            Failure::UnknownOrder,
            format!("there is no order {order_id} in this vault"),
        ),
        credential::Error::Expired { expired_at } => CliError::new(
            Failure::Expired,
            format!(
                "the unlock code for order {order_id} expired at {} and is gone for good; reissue the certificate with a new CSR",
                rfc3339(expired_at)
            ),
        ),
        credential::Error::Revoked => CliError::new(
            Failure::Revoked,
            format!("order {order_id} was revoked; reissue the certificate with a new CSR"),
        ),
        credential::Error::Tampered => CliError::new(
            Failure::Tampered,
            format!(
                "the vault record of order {order_id} failed authentication: it was edited, moved from another order, or its key is missing; treat this as an incident"
            ),
        )
        .caused_by(err),
        credential::Error::InvalidOrderId { .. } => CliError::new(
            Failure::Usage,
            format!("{order_id} is not an order id"),
        )
        .caused_by(err),
        other => CliError::other(format!("the vault could not answer for order {order_id}"))
            .caused_by(other),
    }
}

/// How a policy finding is listed under the human output, by `order` (the name policy's
/// warnings) and by `check-csr` (the CSR policy's findings) alike:
/// `warning: <message> (<id>)`. The text is escaped for the terminal by `lines`.
pub(super) fn finding_line(severity: Severity, message: &str, id: &str) -> String {
    format!("{}: {message} ({id})", severity.as_str())
}

#[cfg(test)]
pub(super) mod test_support {
    use serde::Serialize;

    use crate::output::to_json;

    pub(crate) const CODE: &str = "QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Y";

    /// The borrowed structs must print exactly what the former `serde_json::Value` route
    /// printed (keys sorted), and what serde_json makes of them on its own.
    pub(crate) fn assert_prints_like_before(json: &impl Serialize) {
        let printed = to_json(json).unwrap();
        let before = serde_json::to_string_pretty(&serde_json::to_value(json).unwrap()).unwrap();
        assert_eq!(std::str::from_utf8(&printed).unwrap(), before);
        assert_eq!(*printed, serde_json::to_vec_pretty(json).unwrap());
        assert!(before.contains(CODE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_line_is_severity_message_and_id() {
        assert_eq!(
            finding_line(Severity::Warning, "the name is odd", "name.odd"),
            "warning: the name is odd (name.odd)"
        );
        assert_eq!(
            finding_line(Severity::Error, "too small", "key.rsa.modulus_too_small"),
            "error: too small (key.rsa.modulus_too_small)"
        );
    }
}
