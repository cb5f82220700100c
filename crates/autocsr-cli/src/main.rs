//! `autocsr`: the AutoCSR command. See the README for the interface and exit codes.

#![forbid(unsafe_code)]

mod audit;
mod cli;
mod commands;
mod datadir;
mod failure;
mod files;
mod output;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints usage errors on stderr and exits 2, and --help/--version on stdout
            // with 0. With --json, a usage error also gets its JSON object on stdout.
            if err.use_stderr() && std::env::args_os().any(|arg| arg == "--json") {
                output::usage_error_json(&err.to_string());
            }
            err.exit()
        }
    };
    let json = cli.json;
    ExitCode::from(output::finish(commands::run(cli), json))
}
