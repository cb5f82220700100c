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
    // clap exits 2 on usage errors and 0 for --help/--version, as documented.
    let cli = cli::Cli::parse();
    let json = cli.json;
    ExitCode::from(output::finish(commands::run(cli), json))
}
