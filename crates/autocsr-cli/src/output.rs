//! Everything the CLI prints. With `--json`, stdout carries exactly one JSON object; without
//! it, a few aligned lines. Progress and errors go to stderr.

use std::io::{self, IsTerminal as _, Write as _};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::failure::{CliError, Failure};

/// What a successful command hands back for printing.
pub(crate) struct Outcome {
    pub(crate) json: serde_json::Value,
    pub(crate) human: String,
    /// Set when the command ran but the answer is a refusal (check-csr with an error
    /// finding): the report is printed, then this error sets the exit code.
    pub(crate) refusal: Option<CliError>,
}

impl Outcome {
    pub(crate) fn new(json: impl Serialize, human: String) -> Result<Outcome, CliError> {
        let json = serde_json::to_value(json)
            .map_err(|err| CliError::other("could not encode the JSON output").caused_by(err))?;
        Ok(Outcome {
            json,
            human,
            refusal: None,
        })
    }
}

/// Prints `outcome` and returns the process exit code.
pub(crate) fn finish(result: Result<Outcome, CliError>, json: bool) -> u8 {
    match result {
        Ok(outcome) => {
            let printed = if json {
                print_json(&outcome.json)
            } else {
                print_stdout(&outcome.human)
            };
            if let Err(err) = printed {
                // stdout is gone (a closed pipe): nothing more to say on it.
                return report_error(&err, false);
            }
            match outcome.refusal {
                Some(refusal) => {
                    eprint_error(&refusal);
                    refusal.failure().exit_code()
                }
                None => 0,
            }
        }
        Err(err) => report_error(&err, json),
    }
}

fn report_error(err: &CliError, json: bool) -> u8 {
    eprint_error(err);
    if json {
        let body = serde_json::json!({
            "error": {
                "kind": err.failure().kind(),
                "exit_code": err.failure().exit_code(),
                "message": err.message(),
                "causes": err.causes(),
            }
        });
        // Best effort: the error is on stderr already.
        let _ = print_json(&body);
    }
    err.failure().exit_code()
}

/// The `--json` object for a usage error clap found (clap itself writes the text to stderr).
pub(crate) fn usage_error_json(rendered: &str) {
    let message = rendered
        .lines()
        .next()
        .unwrap_or("invalid usage")
        .trim_start_matches("error: ")
        .to_owned();
    let body = serde_json::json!({
        "error": {
            "kind": Failure::Usage.kind(),
            "exit_code": Failure::Usage.exit_code(),
            "message": message,
            "causes": [],
        }
    });
    let _ = print_json(&body);
}

fn eprint_error(err: &CliError) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "error: {}", err.message());
    for cause in err.causes() {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
}

fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|err| CliError::other("could not encode the JSON output").caused_by(err))?;
    print_stdout(&text)
}

fn print_stdout(text: &str) -> Result<(), CliError> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{}", text.trim_end_matches('\n'))
        .and_then(|()| stdout.flush())
        .map_err(|err| CliError::new(Failure::Other, "could not write to stdout").caused_by(err))
}

/// RFC 3339 in UTC, whole seconds (`2026-11-25T15:00:00Z`).
pub(crate) fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// `6d 23h 59m`-style remaining time for humans.
pub(crate) fn remaining(until: SystemTime, now: SystemTime) -> String {
    match until.duration_since(now) {
        Ok(left) => humantime::format_duration(Duration::from_secs(left.as_secs())).to_string(),
        Err(_) => "0s".to_owned(),
    }
}

/// A spinner on stderr for slow work, only when stderr is a terminal and not in `--json`.
pub(crate) struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    pub(crate) fn start(wanted: bool, json: bool, message: &'static str) -> Spinner {
        if !wanted || json || !io::stderr().is_terminal() {
            return Spinner(None);
        }
        // `new_spinner` draws on stderr with the `{spinner} {msg}` style.
        let bar = indicatif::ProgressBar::new_spinner().with_message(message);
        bar.enable_steady_tick(Duration::from_millis(100));
        Spinner(Some(bar))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Left-aligned `label: value` lines.
pub(crate) fn lines(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0) + 1;
    rows.iter()
        .map(|(label, value)| format!("{:<width$} {value}\n", format!("{label}:")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        assert_eq!(rfc3339(t), "2025-11-24T16:00:00Z");
    }

    #[test]
    fn lines_are_aligned() {
        let text = lines(&[("Order", "a".to_owned()), ("Unlock code", "b".to_owned())]);
        assert_eq!(text, "Order:       a\nUnlock code: b\n");
    }

    #[test]
    fn remaining_never_goes_negative() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(remaining(SystemTime::UNIX_EPOCH, now), "0s");
        assert_eq!(
            remaining(now + Duration::from_secs(90_061), now),
            "1day 1h 1m 1s"
        );
    }
}
