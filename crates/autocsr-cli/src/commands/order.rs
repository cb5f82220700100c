//! `autocsr order`: a key pair, its CSR and the sealed archive, with the code in the vault.

use std::fs;
use std::time::SystemTime;

use autocsr::defaults::DefaultAutoCsr;
use autocsr::{OrderId, OrderRequest, Settled};
use secrecy::ExposeSecret as _;
use serde::Serialize;

use super::shared::finding_line;
use crate::cli::OrderArgs;
use crate::failure::{CliError, Failure};
use crate::files::{self as output_files, Staged};
use crate::output::{Outcome, Spinner, lines, rfc3339, shown_path};

/// Borrows the unlock code, so serde_json writes it without a copy. The fields are in
/// alphabetical order because that is the order the keys have always been printed in.
#[derive(Serialize)]
struct OrderJson<'a> {
    archive: &'a str,
    csr: &'a str,
    expires_at: &'a str,
    format: &'a str,
    key: &'a str,
    order_id: &'a str,
    unlock_code: &'a str,
}

pub(super) fn order(
    pipeline: &DefaultAutoCsr,
    args: &OrderArgs,
    json: bool,
) -> Result<Outcome, CliError> {
    let mut request = OrderRequest::new(args.domain.clone())
        .with_key(args.key.algorithm())
        .with_format(args.format.format())
        .with_reveal_window(args.reveal_window);
    for san in &args.sans {
        request = request.with_name(san.clone());
    }
    if let Some(org) = &args.org {
        request = request.with_organization(org.clone());
    }
    if let Some(locality) = &args.locality {
        request = request.with_locality(locality.clone());
    }
    if let Some(state) = &args.state {
        request = request.with_state_or_province(state.clone());
    }
    if let Some(country) = &args.country {
        request = request.with_country(country.clone());
    }

    // The output directory is checked (and the leftovers of killed orders cleaned up)
    // before any work, so an unwritable `--out` costs no key generation.
    fs::create_dir_all(&args.out).map_err(|err| {
        CliError::other(format!("could not create {}", shown_path(&args.out))).caused_by(err)
    })?;
    output_files::remove_stale_temps(&args.out, SystemTime::now());
    let order_id = OrderId::generate()
        .map_err(|err| CliError::other("could not make an order id").caused_by(err))?;
    let extension = args.format.format().extension();
    let mut archive_file = Staged::create(&args.out, &format!("{order_id}.{extension}"), 0o600)?;
    let mut csr_file = Staged::create(&args.out, &format!("{order_id}.csr"), 0o644)?;

    let spinner = Spinner::start(args.key.is_slow(), json, "generating the key pair");
    let sealed = pipeline
        .seal_with_id(order_id.as_str(), &request)
        .map_err(order_error)?;
    drop(spinner);

    // Both files complete under their final names first, then the code into the vault,
    // then the code on stdout. Killed at any point, this leaves no final name holding a
    // partial file and no stored code without both its files (docs/OPERATIONS.md).
    archive_file.write(sealed.archive())?;
    csr_file.write(sealed.csr_pem().as_bytes())?;
    let archive_published = archive_file.publish()?;
    let csr_published = csr_file.publish()?;
    output_files::sync_dir(&args.out)?;
    // If storing fails, dropping the two `Published` files removes them again, unless the
    // vault may have stored the code after all (see `AutoCsr::settle_failed_store`).
    let order = match pipeline.store(sealed) {
        Ok(order) => order,
        Err(err) => {
            return Err(match pipeline.settle_failed_store(&err, order_id.as_str()) {
                Settled::NothingStored => order_error(err),
                Settled::Revoked => CliError::other(
                    "the order failed: the vault stored the code but its answer was lost; the code is revoked now and the files are removed",
                )
                .caused_by(err),
                Settled::Unknown => {
                    let archive = archive_published.keep();
                    let csr = csr_published.keep();
                    CliError::other(format!(
                        "the order failed, and the vault cannot say whether it stored the code: {} and {} are kept; once the vault answers, run `autocsr revoke {}`, then delete them",
                        shown_path(&archive),
                        shown_path(&csr),
                        order_id.as_str()
                    ))
                    .caused_by(err)
                }
            });
        }
    };
    let archive_path = archive_published.keep();
    let csr_path = csr_published.keep();

    let archive = archive_path.display().to_string();
    let csr = csr_path.display().to_string();
    let expires_at = rfc3339(order.expires_at());
    let key = order.key().as_str();
    let format = args.format.format().extension();
    let warnings: Vec<String> = order
        .warnings()
        .iter()
        .map(|warning| finding_line(warning.severity, &warning.message, &warning.id))
        .collect();
    // From here until it is printed, the code lives only in zeroizing buffers.
    let code = order.unlock_code().reveal();
    Outcome::carrying_secret(
        json,
        &OrderJson {
            archive: &archive,
            csr: &csr,
            expires_at: &expires_at,
            format,
            key,
            order_id: order_id.as_str(),
            unlock_code: code.expose_secret(),
        },
        || {
            lines(
                &[
                    ("Order", order_id.as_str()),
                    ("Archive", &archive),
                    ("CSR", &csr),
                    ("Unlock code", code.expose_secret()),
                    ("Expires", &expires_at),
                    ("Key", key),
                    ("Format", format),
                ],
                &warnings,
            )
        },
    )
}

fn order_error(err: autocsr::Error) -> CliError {
    match &err {
        autocsr::Error::PolicyRefused { .. } => CliError::new(
            Failure::PolicyRefused,
            "the policy refused the requested names",
        )
        .caused_by(err),
        autocsr::Error::InvalidRequest(reason) => {
            CliError::new(Failure::Usage, format!("invalid order: {reason}"))
        }
        // Bad input the key maker found (101 names, an organization over 64 characters):
        // a usage error like the others, with the key maker's reason as the cause.
        autocsr::Error::InvalidCsrRequest(_) => CliError::new(
            Failure::Usage,
            "invalid order: the requested subject or names cannot go into a CSR",
        )
        .caused_by(err),
        _ => CliError::other("the order failed and nothing was stored").caused_by(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::shared::test_support::{CODE, assert_prints_like_before};

    #[test]
    fn order_json_prints_like_before() {
        assert_prints_like_before(&OrderJson {
            archive: "out/ord_1.zip",
            csr: "out/ord_1.csr",
            expires_at: "2026-12-02T17:36:54Z",
            format: "zip",
            key: "p256",
            order_id: "ord_1",
            unlock_code: CODE,
        });
    }
}
