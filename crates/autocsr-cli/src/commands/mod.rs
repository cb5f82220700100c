//! One module per subcommand. Each returns what to print or a [`CliError`] that says, in
//! one sentence, what went wrong and what to do.

mod check_csr;
mod open;
mod order;
mod purge;
mod reveal;
mod revoke;
mod shared;
mod status;

use crate::cli::{Cli, Command};
use crate::failure::CliError;
use crate::output::Outcome;
use shared::{check_order_id, open_vault};

pub(crate) fn run(cli: Cli) -> Result<Outcome, CliError> {
    let json = cli.json;
    match cli.command {
        Command::Order(args) => order::order(&open_vault(cli.data_dir, &cli.vault)?, &args, json),
        Command::Reveal(args) => {
            check_order_id(&args.order_id)?;
            reveal::reveal(&open_vault(cli.data_dir, &cli.vault)?, &args.order_id, json)
        }
        Command::Status(args) => {
            check_order_id(&args.order_id)?;
            status::status(&open_vault(cli.data_dir, &cli.vault)?, &args.order_id)
        }
        Command::Revoke(args) => {
            check_order_id(&args.order_id)?;
            revoke::revoke(&open_vault(cli.data_dir, &cli.vault)?, &args.order_id)
        }
        Command::Purge => purge::purge(&open_vault(cli.data_dir, &cli.vault)?),
        Command::CheckCsr(args) => check_csr::check_csr(&args),
        Command::Open(args) => open::open(&args),
    }
}
