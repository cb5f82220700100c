//! `autocsr check-csr`: the CSR policy's verdict on a customer's CSR.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use autocsr::policy::{self, Severity};
use serde::Serialize;

use super::shared::finding_line;
use crate::cli::CheckCsrArgs;
use crate::failure::{CliError, Failure};
use crate::files::read_capped;
use crate::output::{Outcome, lines, shown_path};

/// Largest CSR accepted from a file or stdin (the policy refuses far smaller ones anyway).
const MAX_CSR_BYTES: u64 = 4 * 1024 * 1024;

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

pub(super) fn check_csr(args: &CheckCsrArgs) -> Result<Outcome, CliError> {
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
        .map(|finding| finding_line(finding.severity, &finding.message, finding.id))
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
