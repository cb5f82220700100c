//! `autocsr open`: unlocks an archive with its code and extracts it.

use std::fs;
use std::io::{self, IsTerminal as _, Read as _};
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};

use autocsr::archive::{self, Limits};
use autocsr::credential::{self, UnlockCode};
use secrecy::ExposeSecret as _;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::OpenArgs;
use crate::failure::{CliError, Failure};
use crate::files::read_capped;
use crate::output::{Outcome, lines, shown_path};

/// Largest archive `open` reads (an AutoCSR archive is a few KiB).
const MAX_ARCHIVE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Serialize)]
struct OpenJson {
    archive: String,
    out: String,
    files: Vec<String>,
}

pub(super) fn open(args: &OpenArgs) -> Result<Outcome, CliError> {
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
    let line = read_stdin_line().map_err(|err| {
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

/// One line of stdin (at most [`STDIN_CODE_LIMIT`] bytes), read into a wiped buffer of its
/// own through a duplicate of the descriptor. `io::stdin()`'s buffer is never freed, so a
/// code read through it would stay in the process until it exits.
fn read_stdin_line() -> io::Result<Zeroizing<String>> {
    let mut stdin = fs::File::from(io::stdin().as_fd().try_clone_to_owned()?);
    // Sized for the whole limit, so reading never grows it.
    let mut bytes = Zeroizing::new(vec![0u8; STDIN_CODE_LIMIT]);
    let mut filled = 0;
    while let Some(free) = bytes.get_mut(filled..).filter(|free| !free.is_empty()) {
        let read = match stdin.read(free) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        let newline = free
            .get(..read)
            .and_then(|new| new.iter().position(|&b| b == b'\n'));
        filled += read;
        if let Some(at) = newline {
            filled = filled - read + at + 1;
            break;
        }
    }
    let line = bytes.get(..filled).unwrap_or_default();
    let text = std::str::from_utf8(line)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "stdin is not UTF-8"))?;
    let mut owned = Zeroizing::new(String::with_capacity(text.len()));
    owned.push_str(text);
    Ok(owned)
}
