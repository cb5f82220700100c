//! One function per subcommand. Each returns what to print or a [`CliError`] that says, in
//! one sentence, what went wrong and what to do.

use std::fs;
use std::io::{self, BufRead as _, IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use autocsr::archive::{self, Limits};
use autocsr::credential::{self, CredentialState, UnlockCode};
use autocsr::defaults::{self, DefaultAutoCsr};
use autocsr::policy::{self, Severity};
use autocsr::{OrderId, OrderRequest};
use secrecy::ExposeSecret as _;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::audit::{AUDIT_FILE, JsonLinesAudit};
use crate::cli::{CheckCsrArgs, Cli, Command, OpenArgs, OrderArgs};
use crate::datadir;
use crate::failure::{CliError, Failure};
use crate::files::{self as output_files, Staged, read_capped};
use crate::output;
use crate::output::{NO_TAIL, Outcome, Spinner, lines, quoted, remaining, rfc3339, shown_path};

/// Largest CSR accepted from a file or stdin (the policy refuses far smaller ones anyway).
const MAX_CSR_BYTES: u64 = 4 * 1024 * 1024;
/// Largest archive `open` reads (an AutoCSR archive is a few KiB).
const MAX_ARCHIVE_BYTES: u64 = 64 * 1024 * 1024;

pub(crate) fn run(cli: Cli) -> Result<Outcome, CliError> {
    let json = cli.json;
    match cli.command {
        Command::Order(args) => order(&open_vault(cli.data_dir)?, &args, json),
        Command::Reveal(args) => {
            check_order_id(&args.order_id)?;
            reveal(&open_vault(cli.data_dir)?, &args.order_id, json)
        }
        Command::Status(args) => {
            check_order_id(&args.order_id)?;
            status(&open_vault(cli.data_dir)?, &args.order_id)
        }
        Command::Revoke(args) => {
            check_order_id(&args.order_id)?;
            revoke(&open_vault(cli.data_dir)?, &args.order_id)
        }
        Command::Purge => purge(&open_vault(cli.data_dir)?),
        Command::CheckCsr(args) => check_csr(&args),
        Command::Open(args) => open(&args),
    }
}

/// A malformed order id is a usage error (exit 2), refused before the vault is opened.
fn check_order_id(order_id: &str) -> Result<(), CliError> {
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

fn open_vault(chosen: Option<PathBuf>) -> Result<DefaultAutoCsr, CliError> {
    let dir = datadir::resolve(chosen)?;
    datadir::prepare(&dir)?;
    let vault = credential::Vault::open_sqlite(&dir).map_err(|err| {
        CliError::other(format!("could not open the vault in {}", shown_path(&dir))).caused_by(err)
    })?;
    let audit = JsonLinesAudit::new(dir.join(AUDIT_FILE));
    let pipeline = defaults::with_vault(vault.with_audit_sink(Arc::new(audit)));
    datadir::tighten_files(&dir)?;
    Ok(pipeline)
}

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

fn order(pipeline: &DefaultAutoCsr, args: &OrderArgs, json: bool) -> Result<Outcome, CliError> {
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
    // If storing fails, dropping the two `Published` files removes them again.
    let order = pipeline.store(sealed).map_err(order_error)?;
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
        .map(|warning| {
            format!(
                "{}: {} ({})",
                warning.severity.as_str(),
                warning.message,
                warning.id
            )
        })
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

/// Maps the vault's answers to the documented exit codes and sentences.
fn vault_error(err: credential::Error, order_id: &str) -> CliError {
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

/// Borrows the unlock code, so serde_json writes it without a copy. The fields are in
/// alphabetical order because that is the order the keys have always been printed in.
#[derive(Serialize)]
struct RevealJson<'a> {
    expires_at: &'a str,
    order_id: &'a str,
    reveal_count: u64,
    unlock_code: &'a str,
}

fn reveal(pipeline: &DefaultAutoCsr, order_id: &str, json: bool) -> Result<Outcome, CliError> {
    let revealed = pipeline
        .vault()
        .reveal(order_id)
        .map_err(|err| vault_error(err, order_id))?;
    let expires_at = rfc3339(revealed.expires_at);
    let expires = format!(
        "{expires_at} (in {})",
        remaining(revealed.expires_at, SystemTime::now())
    );
    let reveals = revealed.reveal_count.to_string();
    // From here until it is printed, the code lives only in zeroizing buffers.
    let code = revealed.code.reveal();
    Outcome::carrying_secret(
        json,
        &RevealJson {
            expires_at: &expires_at,
            order_id,
            reveal_count: revealed.reveal_count,
            unlock_code: code.expose_secret(),
        },
        || {
            lines(
                &[
                    ("Order", order_id),
                    ("Unlock code", code.expose_secret()),
                    ("Expires", &expires),
                    ("Reveals", &reveals),
                ],
                NO_TAIL,
            )
        },
    )
}

#[derive(Serialize)]
struct StatusJson<'a> {
    order_id: &'a str,
    state: &'static str,
    expires_at: String,
    reveal_count: u64,
}

fn status(pipeline: &DefaultAutoCsr, order_id: &str) -> Result<Outcome, CliError> {
    let status = pipeline
        .vault()
        .status(order_id)
        .map_err(|err| vault_error(err, order_id))?;
    let state = match status.state {
        CredentialState::Available => "available",
        CredentialState::Expired => "expired",
        CredentialState::Revoked => "revoked",
        _ => "unknown",
    };
    let expires_at = rfc3339(status.expires_at);
    let human = lines(
        &[
            ("Order", order_id),
            ("State", state),
            ("Expires", &expires_at),
            ("Reveals", &status.reveal_count.to_string()),
        ],
        NO_TAIL,
    );
    Outcome::new(
        StatusJson {
            order_id,
            state,
            expires_at,
            reveal_count: status.reveal_count,
        },
        human,
    )
}

#[derive(Serialize)]
struct RevokeJson<'a> {
    order_id: &'a str,
    revoked: bool,
}

fn revoke(pipeline: &DefaultAutoCsr, order_id: &str) -> Result<Outcome, CliError> {
    pipeline
        .vault()
        .revoke(order_id)
        .map_err(|err| vault_error(err, order_id))?;
    Outcome::new(
        RevokeJson {
            order_id,
            revoked: true,
        },
        Zeroizing::new(format!(
            "Order {} revoked: its unlock code is destroyed.\n",
            output::escape_controls(order_id)
        )),
    )
}

#[derive(Serialize)]
struct PurgeJson {
    records_destroyed: u64,
    keys_destroyed: u64,
}

fn purge(pipeline: &DefaultAutoCsr) -> Result<Outcome, CliError> {
    let report = pipeline
        .vault()
        .purge()
        .map_err(|err| CliError::other("purging the vault failed").caused_by(err))?;
    let records = report.records_destroyed;
    let keys = report.keys_destroyed;
    Outcome::new(
        PurgeJson {
            records_destroyed: records,
            keys_destroyed: keys,
        },
        lines(
            &[
                ("Records destroyed", &records.to_string()),
                ("Keys destroyed", &keys.to_string()),
            ],
            NO_TAIL,
        ),
    )
}

#[derive(Serialize)]
struct FindingJson<'a> {
    id: &'a str,
    severity: &'static str,
    message: &'a str,
}

#[derive(Serialize)]
struct CheckCsrJson<'a> {
    accepted: bool,
    findings: Vec<FindingJson<'a>>,
    names: Vec<String>,
    key: Option<String>,
}

fn check_csr(args: &CheckCsrArgs) -> Result<Outcome, CliError> {
    let input = if args.file.as_os_str() == "-" {
        read_capped(io::stdin().lock(), MAX_CSR_BYTES, "the CSR from stdin")?
    } else {
        let what = shown_path(&args.file);
        let file = fs::File::open(&args.file)
            .map_err(|err| CliError::other(format!("could not open {what}")).caused_by(err))?;
        read_capped(file, MAX_CSR_BYTES, &what)?
    };
    let report = csr_policy(&args.weak_keys)?.check_csr(&input);
    let names: Vec<String> = report
        .csr()
        .map(|csr| csr.names().to_vec())
        .unwrap_or_default();
    let key = report.csr().map(|csr| csr.public_key().to_owned());
    let findings: Vec<FindingJson<'_>> = report
        .findings()
        .iter()
        .map(|finding| FindingJson {
            id: finding.id,
            severity: finding.severity.as_str(),
            message: &finding.message,
        })
        .collect();

    let accepted = report.accepted();
    let names_line = if names.is_empty() {
        "-".to_owned()
    } else {
        names.join(", ")
    };
    let listed: Vec<String> = report
        .findings()
        .iter()
        .map(|finding| {
            format!(
                "{}: {} ({})",
                finding.severity.as_str(),
                finding.message,
                finding.id
            )
        })
        .collect();
    let human = lines(
        &[
            ("Verdict", if accepted { "accepted" } else { "refused" }),
            ("Names", &names_line),
            ("Key", key.as_deref().unwrap_or("-")),
        ],
        &listed,
    );
    let errors = report
        .findings()
        .iter()
        .filter(|finding| matches!(finding.severity, Severity::Error))
        .count();
    let mut outcome = Outcome::new(
        CheckCsrJson {
            accepted,
            findings,
            names,
            key,
        },
        human,
    )?;
    if !accepted {
        outcome.refusal = Some(CliError::new(
            Failure::PolicyRefused,
            format!(
                "the CSR was refused: {errors} error finding{} (listed above)",
                if errors == 1 { "" } else { "s" }
            ),
        ));
    }
    Ok(outcome)
}

/// The default policy, plus the weak-key lists given with `--weak-keys`.
fn csr_policy(weak_key_lists: &[PathBuf]) -> Result<policy::Policy, CliError> {
    let policy = policy::Policy::default();
    if weak_key_lists.is_empty() {
        return Ok(policy);
    }
    let mut list = policy::DebianWeakKeys::new();
    for path in weak_key_lists {
        let what = shown_path(path);
        let text = fs::read_to_string(path)
            .map_err(|err| CliError::other(format!("could not read {what}")).caused_by(err))?;
        list.extend_from_text(&text).map_err(|err| {
            CliError::new(
                Failure::Usage,
                format!("{what} is not a weak-key list in openssl-blacklist format"),
            )
            .caused_by(err)
        })?;
    }
    Ok(policy.with_rsa_blocklist(Arc::new(list)))
}

#[derive(Serialize)]
struct OpenJson {
    archive: String,
    out: String,
    files: Vec<String>,
}

fn open(args: &OpenArgs) -> Result<Outcome, CliError> {
    // The checksum catches a typo before any slow key derivation and says so. Each source
    // is parsed straight from where it was read, so no further copy of the code is made
    // (clap's own copy of the `--code` argument remains: one more reason the help prefers
    // the prompt).
    let code = match &args.code {
        Some(code) => UnlockCode::parse(code.expose_secret()).map_err(code_error)?,
        None => read_code()?,
    };

    let what = shown_path(&args.archive);
    let file = fs::File::open(&args.archive)
        .map_err(|err| CliError::other(format!("could not open {what}")).caused_by(err))?;
    let bytes = read_capped(file, MAX_ARCHIVE_BYTES, &what)?;
    let opened = archive::open(&bytes, &code.reveal(), &Limits::default()).map_err(|err| {
        if matches!(err, archive::Error::WrongPassword) {
            CliError::new(
                Failure::WrongCode,
                format!("the unlock code does not open {what}; check it against the order page"),
            )
        } else {
            CliError::other(format!("could not open {what}")).caused_by(err)
        }
    })?;

    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => default_extract_dir(&args.archive),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .create(&out)
        .map_err(|err| {
            CliError::other(format!("could not create {}", shown_path(&out))).caused_by(err)
        })?;
    let written = opened.extract_to(&out).map_err(|err| {
        CliError::other(format!("could not extract into {}", shown_path(&out))).caused_by(err)
    })?;
    let files: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    let listed: Vec<String> = files.iter().map(|file| format!("  {file}")).collect();
    let human = lines(
        &[
            ("Archive", &what),
            ("Extracted to", &out.display().to_string()),
        ],
        &listed,
    );
    Outcome::new(
        OpenJson {
            archive: what,
            out: out.display().to_string(),
            files,
        },
        human,
    )
}

/// `DIR/ord_x.zip` extracts into `DIR/ord_x/`.
fn default_extract_dir(archive: &Path) -> PathBuf {
    let stem = archive
        .file_stem()
        .map_or_else(|| "archive".into(), ToOwned::to_owned);
    archive
        .parent()
        .map_or_else(|| PathBuf::from(&stem), |parent| parent.join(&stem))
}

fn code_error(err: credential::Error) -> CliError {
    let message = if matches!(err, credential::Error::ChecksumMismatch) {
        "the unlock code's check characters do not match: it is probably a typo; compare it with the order page"
    } else {
        "that is not a valid unlock code: it is probably a typo; compare it with the order page"
    };
    CliError::new(Failure::WrongCode, message).caused_by(err)
}

/// Longest stdin line read for a code (a code is 34 characters with its dashes).
const STDIN_CODE_LIMIT: usize = 1024;

/// The code from a prompt without echo (stdin is a terminal) or one line of stdin, parsed
/// while the wiped buffer that holds it is still alive.
fn read_code() -> Result<UnlockCode, CliError> {
    if io::stdin().is_terminal() {
        let typed = Zeroizing::new(
            rpassword::prompt_password("Unlock code: ")
                .map_err(|err| CliError::other("could not read the unlock code").caused_by(err))?,
        );
        return UnlockCode::parse(&typed).map_err(code_error);
    }
    // Sized for the whole limit, so reading never grows it (a grown String would free its
    // old buffer unwiped).
    let mut line = Zeroizing::new(String::with_capacity(STDIN_CODE_LIMIT));
    io::stdin()
        .lock()
        .take(STDIN_CODE_LIMIT as u64)
        .read_line(&mut line)
        .map_err(|err| {
            CliError::other("could not read the unlock code from stdin").caused_by(err)
        })?;
    if line.trim().is_empty() {
        return Err(CliError::new(
            Failure::Usage,
            "no unlock code: type it at the prompt (run on a terminal) or pipe it on stdin",
        ));
    }
    UnlockCode::parse(&line).map_err(code_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::to_json;

    const CODE: &str = "QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Y";

    /// The borrowed structs must print exactly what the former `serde_json::Value` route
    /// printed (keys sorted), and what serde_json makes of them on its own.
    fn assert_prints_like_before(json: &impl Serialize) {
        let printed = to_json(json).unwrap();
        let before = serde_json::to_string_pretty(&serde_json::to_value(json).unwrap()).unwrap();
        assert_eq!(std::str::from_utf8(&printed).unwrap(), before);
        assert_eq!(*printed, serde_json::to_vec_pretty(json).unwrap());
        assert!(before.contains(CODE));
    }

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

    #[test]
    fn reveal_json_prints_like_before() {
        assert_prints_like_before(&RevealJson {
            expires_at: "2026-12-02T17:36:54Z",
            order_id: "ord_1",
            reveal_count: 2,
            unlock_code: CODE,
        });
    }
}
