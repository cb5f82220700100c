//! `autocsr`: the AutoCSR command. See the README for the interface and exit codes.

#![forbid(unsafe_code)]

mod audit;
mod cli;
mod commands;
mod datadir;
mod failure;
mod files;
mod output;
mod vault;

use std::alloc::System;
use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser as _;
use clap::error::ErrorKind;

/// Every heap block is zeroed before it is freed, so the copies of the key and the code
/// that dependencies make (the zip writer, deflate, the archive readers, clap) are gone
/// when they are freed, not at exit (docs/THREAT_MODEL.md says what is left).
#[global_allocator]
static ALLOCATOR: autocsr_wipe_alloc::WipeOnFree<System> =
    autocsr_wipe_alloc::WipeOnFree::new(System);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return ExitCode::from(clap_refused(err, &args)),
    };
    let json = cli.json;
    ExitCode::from(output::finish(commands::run(cli), json))
}

/// clap stopped: `--help` or `--version` (exit 0, on stdout) or a usage error (exit 2, on
/// stderr). With `--json`, stdout gets one JSON object for each of them.
fn clap_refused(err: clap::Error, args: &[OsString]) -> u8 {
    let json = args.iter().skip(1).any(|arg| arg == "--json");
    let code = u8::try_from(err.exit_code()).unwrap_or(2);
    if json {
        let printed = match err.kind() {
            ErrorKind::DisplayHelp => Some(output::help_or_version_json(
                "help",
                &err.render().to_string(),
            )),
            ErrorKind::DisplayVersion => Some(output::help_or_version_json(
                "version",
                env!("CARGO_PKG_VERSION"),
            )),
            _ => None,
        };
        if let Some(printed) = printed {
            return if printed.is_ok() { code } else { 1 };
        }
    }
    if !err.use_stderr() {
        let _ = err.print();
        return code;
    }
    let err = with_arguments_escaped(err, args);
    if json {
        output::usage_error_json(&err.to_string());
    }
    let _ = err.print();
    code
}

/// clap quotes a refused value as it was typed. If any argument holds a control character,
/// the arguments are parsed again with those characters escaped, and that parse's error is
/// shown instead, so the terminal shows `\u{1b}` rather than obeying it.
fn with_arguments_escaped(err: clap::Error, args: &[OsString]) -> clap::Error {
    let escaped: Vec<String> = args
        .iter()
        .map(|arg| output::escape_controls(&arg.to_string_lossy()).into_owned())
        .collect();
    if escaped
        .iter()
        .zip(args)
        .all(|(escaped, arg)| escaped.as_str() == arg)
    {
        return err;
    }
    match cli::Cli::try_parse_from(&escaped) {
        Err(escaped_err) => escaped_err,
        // Escaping made the arguments valid: say so without quoting them.
        Ok(_) => clap::Error::raw(
            ErrorKind::InvalidValue,
            "an argument holds a control character that is not allowed there\n",
        )
        .with_cmd(&<cli::Cli as clap::CommandFactory>::command()),
    }
}
