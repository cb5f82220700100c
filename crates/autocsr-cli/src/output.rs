//! Everything the CLI prints. With `--json`, stdout carries exactly one JSON object; without
//! it, a few aligned lines. Progress and errors go to stderr.

use std::fmt;
use std::io::{self, IsTerminal as _, Write as _};
use std::os::fd::AsFd as _;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use zeroize::Zeroizing;

use crate::failure::{CliError, Failure};

/// What a successful command hands back for printing.
///
/// Both texts are zeroizing: for `order` and `reveal` they carry the unlock code, which must
/// not stay behind in freed memory once it is printed.
pub(crate) struct Outcome {
    json: Zeroizing<Vec<u8>>,
    human: Zeroizing<String>,
    /// Set when the command ran but the answer is a refusal (check-csr with an error
    /// finding): the report is printed, then this error sets the exit code.
    pub(crate) refusal: Option<CliError>,
}

impl Outcome {
    /// For output without a secret. The JSON goes through `serde_json::Value`, which orders
    /// the keys alphabetically.
    pub(crate) fn new(json: impl Serialize, human: Zeroizing<String>) -> Result<Outcome, CliError> {
        let value = serde_json::to_value(json).map_err(encode_error)?;
        Ok(Outcome {
            json: to_json(&value)?,
            human,
            refusal: None,
        })
    }

    /// For output that carries the unlock code. Only the form that will be printed is built
    /// (`as_json` is `--json`), so the code is copied once. `json` is serialized straight
    /// from fields that borrow the code (a `Value` would copy it into a `String` of its
    /// own), so it must declare its fields in alphabetical order to print like
    /// [`Outcome::new`]; `human` should build with [`lines`], which never reallocates.
    pub(crate) fn carrying_secret(
        as_json: bool,
        json: &impl Serialize,
        human: impl FnOnce() -> Zeroizing<String>,
    ) -> Result<Outcome, CliError> {
        let (json, human) = if as_json {
            (to_json(json)?, Zeroizing::new(String::new()))
        } else {
            (Zeroizing::new(Vec::new()), human())
        };
        Ok(Outcome {
            json,
            human,
            refusal: None,
        })
    }
}

// By hand, so no future derive prints the unlock code.
impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outcome")
            .field("refusal", &self.refusal)
            .finish_non_exhaustive()
    }
}

/// `value` as pretty JSON in a buffer of exactly its size: a first pass only counts the
/// bytes, so the buffer never grows and leaves no copy of a secret in freed memory.
pub(crate) fn to_json(value: &impl Serialize) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let mut counter = ByteCounter(0);
    serde_json::to_writer_pretty(&mut counter, value).map_err(encode_error)?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(counter.0));
    serde_json::to_writer_pretty(&mut *bytes, value).map_err(encode_error)?;
    Ok(bytes)
}

/// A writer that only counts what is written to it.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn encode_error(err: serde_json::Error) -> CliError {
    CliError::other("could not encode the JSON output").caused_by(err)
}

/// Prints `outcome` and returns the process exit code.
pub(crate) fn finish(result: Result<Outcome, CliError>, json: bool) -> u8 {
    match result {
        Ok(outcome) => {
            let printed = if json {
                print_stdout(&outcome.json)
            } else {
                print_stdout(outcome.human.as_bytes())
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
        // Best effort: the error is on stderr already.
        print_error_json(err);
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
    print_error_json(&CliError::new(Failure::Usage, message));
}

/// The one shape every `--json` error has on stdout, best effort.
fn print_error_json(err: &CliError) {
    let body = serde_json::json!({
        "error": {
            "kind": err.failure().kind(),
            "exit_code": err.failure().exit_code(),
            "message": err.message(),
            "causes": err.causes(),
        }
    });
    let _ = print_json(&body);
}

/// The error on stderr. Every line is escaped, whatever its source: a message may quote
/// an order id, a path or a library's view of untrusted input.
fn eprint_error(err: &CliError) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "error: {}", escape_controls(err.message()));
    for cause in err.causes() {
        let _ = writeln!(stderr, "  caused by: {}", escape_controls(&cause));
    }
}

/// The `--json` answer to `--help` (`{"help": TEXT}`) and `--version`
/// (`{"version": VERSION}`), on stdout.
pub(crate) fn help_or_version_json(key: &'static str, text: &str) -> Result<(), CliError> {
    let mut body = serde_json::Map::new();
    body.insert(key.to_owned(), serde_json::Value::String(text.to_owned()));
    print_json(&serde_json::Value::Object(body))
}

/// True for characters that must not reach a terminal raw: C0 and C1 controls (ESC
/// starts terminal escape sequences; CR and LF forge lines) and the Unicode bidirectional
/// overrides (which reorder what is shown).
fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every unsafe character written as a Rust escape (`\u{1b}`, `\n`), so
/// untrusted input echoed back is shown, never obeyed. Everything else is left as it is,
/// so escaping twice changes nothing.
pub(crate) fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(escaped_len(text));
    push_escaped(&mut escaped, text);
    std::borrow::Cow::Owned(escaped)
}

/// The length of `escape_controls(text)`, without building it.
fn escaped_len(text: &str) -> usize {
    text.chars()
        .map(|c| {
            if is_unsafe_char(c) {
                c.escape_default().len()
            } else {
                c.len_utf8()
            }
        })
        .sum()
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        if is_unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

/// A path as it may be shown on a terminal (lossy for non-UTF-8, escaped).
pub(crate) fn shown_path(path: &std::path::Path) -> String {
    escape_controls(&path.display().to_string()).into_owned()
}

/// Untrusted text (an order id, a name) quoted for a message, escaped.
pub(crate) fn quoted(text: &str) -> String {
    format!("\"{}\"", escape_controls(text))
}

fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    print_stdout(&to_json(value)?)
}

/// Writes through a duplicate of the descriptor rather than `io::stdout()`, whose buffer is
/// never freed: a line of the code kept there would stay in the process until it exits.
fn print_stdout(text: &[u8]) -> Result<(), CliError> {
    io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|stdout| write_line(&mut std::fs::File::from(stdout), text))
        .map_err(|err| CliError::new(Failure::Other, "could not write to stdout").caused_by(err))
}

/// Writes `text` and one newline, whatever trailing newlines `text` had.
fn write_line(out: &mut impl io::Write, text: &[u8]) -> io::Result<()> {
    let mut text = text;
    while let [rest @ .., b'\n'] = text {
        text = rest;
    }
    out.write_all(text)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The first second RFC 3339 cannot write: 10000-01-01T00:00:00Z.
const YEAR_10000: Duration = Duration::from_secs(253_402_300_800);

/// RFC 3339 in UTC, whole seconds (`2026-11-25T15:00:00Z`). Total: a time RFC 3339
/// cannot express (after 9999-12-31T23:59:59Z, or before 1970, which the vault never
/// stores) is described in words instead, with its exact distance from 1970, so that no
/// stored value can make a command panic.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) if since < YEAR_10000 => humantime::format_rfc3339_seconds(time).to_string(),
        Ok(since) => format!(
            "after 9999-12-31T23:59:59Z ({} seconds after 1970-01-01T00:00:00Z)",
            since.as_secs()
        ),
        Err(before) => format!(
            "before 1970-01-01T00:00:00Z ({} seconds before it)",
            before.duration().as_secs()
        ),
    }
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

/// Left-aligned `label: value` lines, then each of `tail` on a line of its own. Values
/// and tail lines are escaped ([`escape_controls`]): they may quote untrusted input.
///
/// The buffer is sized exactly before anything is written: a value may be the unlock code,
/// and a `String` that grew would leave copies of it in freed memory.
pub(crate) fn lines<S: AsRef<str>>(rows: &[(&str, &str)], tail: &[S]) -> Zeroizing<String> {
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0) + 1;
    let size = rows
        .iter()
        .map(|(_, value)| width + 1 + escaped_len(value) + 1)
        .sum::<usize>()
        + tail
            .iter()
            .map(|line| escaped_len(line.as_ref()) + 1)
            .sum::<usize>();
    let mut text = Zeroizing::new(String::with_capacity(size));
    for (label, value) in rows {
        text.push_str(label);
        text.push(':');
        text.extend(std::iter::repeat_n(' ', width - label.len()));
        push_escaped(&mut text, value);
        text.push('\n');
    }
    for line in tail {
        push_escaped(&mut text, line.as_ref());
        text.push('\n');
    }
    text
}

/// No tail lines, for [`lines`].
pub(crate) const NO_TAIL: &[&str] = &[];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        assert_eq!(rfc3339(t), "2025-11-24T16:00:00Z");
        let last = SystemTime::UNIX_EPOCH + YEAR_10000 - Duration::from_millis(1);
        assert_eq!(rfc3339(last), "9999-12-31T23:59:59Z");
    }

    /// humantime panics for these; every stored value must print.
    #[test]
    fn times_rfc3339_cannot_write_are_described_not_panicked_on() {
        let epoch = SystemTime::UNIX_EPOCH;
        assert_eq!(
            rfc3339(epoch + Duration::from_millis(253_402_300_800_000)),
            "after 9999-12-31T23:59:59Z (253402300800 seconds after 1970-01-01T00:00:00Z)"
        );
        assert_eq!(
            rfc3339(epoch + Duration::from_millis(u64::MAX)),
            "after 9999-12-31T23:59:59Z (18446744073709551 seconds after 1970-01-01T00:00:00Z)"
        );
        let far = epoch.checked_add(Duration::from_secs(i64::MAX.unsigned_abs()));
        if let Some(far) = far {
            assert!(rfc3339(far).starts_with("after 9999"));
        }
        assert_eq!(
            rfc3339(epoch - Duration::from_secs(1)),
            "before 1970-01-01T00:00:00Z (1 seconds before it)"
        );
        // The remaining time is total too.
        assert!(!remaining(epoch + Duration::from_millis(u64::MAX), epoch).is_empty());
    }

    #[test]
    fn lines_are_aligned() {
        let text = lines(&[("Order", "a"), ("Unlock code", "b")], &["warning: c (d)"]);
        assert_eq!(*text, "Order:       a\nUnlock code: b\nwarning: c (d)\n");
    }

    #[test]
    fn untrusted_text_is_escaped_everywhere_it_is_shown() {
        let hostile = "ord_\u{1b}[31mX\nY\r\u{7}\u{202e}Z\u{9b}";
        let escaped = escape_controls(hostile);
        assert_eq!(escaped, "ord_\\u{1b}[31mX\\nY\\r\\u{7}\\u{202e}Z\\u{9b}");
        assert!(!escaped.chars().any(is_unsafe_char));
        assert_eq!(
            escape_controls(&escaped),
            escaped,
            "escaping twice changes nothing"
        );
        assert_eq!(escape_controls("Grüße, 鍵 'x' \\"), "Grüße, 鍵 'x' \\");
        let text = lines(&[("Names", hostile)], &[hostile]);
        assert!(!text.chars().any(|c| is_unsafe_char(c) && c != '\n'));
        assert_eq!(text.lines().count(), 2, "{:?}", *text);
        assert_eq!(
            text.capacity(),
            text.len(),
            "sized exactly, escapes included"
        );
        assert_eq!(quoted("a\u{1b}"), "\"a\\u{1b}\"");
    }

    #[test]
    fn lines_fill_their_buffer_exactly() {
        // A wrong size estimate would make the buffer grow (and copy the code) or leave slack.
        let text = lines(
            &[
                ("Order", "ord_1"),
                ("Unlock code", "ABCDE-FGHJK"),
                ("Reveals", "1"),
            ],
            &["warning: something (an.id)"],
        );
        assert_eq!(text.capacity(), text.len());
        assert_eq!(lines(&[], NO_TAIL).capacity(), 0);
    }

    #[test]
    fn json_fills_its_buffer_exactly() {
        let value = serde_json::json!({"unlock_code": "ABCDE-FGHJK", "n": 1, "list": ["a\"b"]});
        let bytes = to_json(&value).unwrap();
        assert_eq!(bytes.capacity(), bytes.len());
        assert_eq!(*bytes, serde_json::to_vec_pretty(&value).unwrap());
    }

    #[test]
    fn debug_never_shows_the_texts() {
        let code = "QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Y";
        for as_json in [false, true] {
            let outcome = Outcome::carrying_secret(
                as_json,
                &serde_json::json!({ "unlock_code": code }),
                || lines(&[("Unlock code", code)], NO_TAIL),
            )
            .unwrap();
            let debug = format!("{outcome:?}");
            assert!(!debug.contains(code), "{debug}");
            assert_eq!(debug, "Outcome { refusal: None, .. }");
        }
    }

    #[test]
    fn a_secret_is_rendered_only_in_the_form_that_is_printed() {
        let code = "QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Y";
        let json = serde_json::json!({ "unlock_code": code });
        let as_json = Outcome::carrying_secret(true, &json, || {
            panic!("the human text was built for --json")
        })
        .unwrap();
        assert!(as_json.human.is_empty());
        assert_eq!(*as_json.json, *to_json(&json).unwrap());
        let as_text =
            Outcome::carrying_secret(false, &json, || lines(&[("Unlock code", code)], NO_TAIL))
                .unwrap();
        assert!(as_text.json.is_empty());
        assert!(as_text.human.contains(code));
    }

    #[test]
    fn printing_ends_with_exactly_one_newline() {
        for (text, printed) in [
            (&b"a\nb\n\n"[..], &b"a\nb\n"[..]),
            (b"a\nb", b"a\nb\n"),
            (b"", b"\n"),
        ] {
            let mut out = Vec::new();
            write_line(&mut out, text).unwrap();
            assert_eq!(out, printed);
        }
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
