//! Which vault a command uses: the SQLite vault in the data directory (the default), or a
//! shared PostgreSQL vault (`--vault URL`) whose record keys are wrapped by HSM-held keys
//! (`--hsm-*`), or, as an explicit hazmat choice, kept raw in PostgreSQL. The flags map
//! into `autocsr::shared_vault`, which checks and opens them as `autocsr-server` does.
//!
//! Nothing here ever prints a URL: a PostgreSQL target is described by its host, port,
//! database and user, read from the parsed URL, never its password.

use autocsr::credential::Vault;
use autocsr::shared_vault::{OpenError, PostgresVault, VaultChoice, VaultFlags};
use autocsr_credential_postgres::Options;

use crate::cli::{SecretUrl, VaultArgs};
use crate::failure::{CliError, Failure};

/// Pooled connections per store: one command makes a few calls, one at a time.
const MAX_CONNECTIONS: u32 = 2;

/// The shared model's input, from the command line and environment.
fn flags(args: &VaultArgs) -> VaultFlags {
    let mut flags = VaultFlags::default();
    flags.url = args.url.as_ref().map(SecretUrl::secret);
    flags.keys_url = args.keys_url.as_ref().map(SecretUrl::secret);
    flags.hsm_module.clone_from(&args.hsm_module);
    flags.hsm_token.clone_from(&args.hsm_token);
    flags.hsm_pin_file.clone_from(&args.hsm_pin_file);
    flags.hsm_pin_env.clone_from(&args.hsm_pin_env);
    flags.hazmat_raw_keys_in_postgres = args.hazmat_raw_keys_in_postgres;
    flags
}

/// Checks the vault settings against each other and parses the URLs (usage errors, exit
/// 2); opens nothing.
pub(crate) fn choose(args: &VaultArgs) -> Result<VaultChoice, CliError> {
    VaultChoice::from_flags(flags(args))
        .map_err(|err| CliError::new(Failure::Usage, err.to_string()))
}

/// Opens the PostgreSQL vault: the HSM first (local and quick to refuse), then the two
/// stores, each creating or checking its tables (exit 1 on failure).
pub(crate) fn open_postgres(vault: &PostgresVault) -> Result<Vault, CliError> {
    let mut options = Options::default();
    options.max_connections = MAX_CONNECTIONS;
    vault.open(&options).map_err(open_error)
}

fn open_error(err: OpenError) -> CliError {
    let error = CliError::other(err.to_string());
    match err.into_source() {
        Some(source) => error.caused_by(source),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser as _;

    const PASSWORD: &str = "Sup3r-Secret-Pw";

    fn args(extra: &[&str]) -> VaultArgs {
        let mut argv = vec!["autocsr"];
        argv.extend_from_slice(extra);
        argv.extend_from_slice(&["status", "ord_1"]);
        Cli::try_parse_from(argv).unwrap().vault
    }

    fn url() -> String {
        format!("postgresql://app:{PASSWORD}@db.example/vault")
    }

    #[test]
    fn no_url_is_the_sqlite_vault() {
        assert!(matches!(choose(&args(&[])).unwrap(), VaultChoice::Sqlite));
        assert!(matches!(
            choose(&args(&["--vault", "", "--hsm-token", ""])).unwrap(),
            VaultChoice::Sqlite
        ));
    }

    /// The same table as the server's `the_same_bad_vault_settings_are_refused`: each
    /// combination is refused with the shared model's sentence, as a usage error.
    #[test]
    fn the_same_bad_vault_settings_are_refused_as_usage_errors() {
        let url = url();
        let cases = autocsr::shared_vault::refused_flag_combinations(&url);
        for (given, expected) in cases {
            let given: Vec<&str> = given.iter().map(String::as_str).collect();
            let err = choose(&args(&given)).unwrap_err();
            assert_eq!(err.failure(), Failure::Usage, "{given:?}");
            assert_eq!(err.message(), expected.to_string(), "{given:?}");
            assert!(!err.message().contains(PASSWORD));
        }
    }

    #[test]
    fn debug_of_the_command_line_never_shows_a_url() {
        let url = url();
        let cli = Cli::try_parse_from([
            "autocsr",
            "--vault",
            &url,
            "--vault-keys",
            &url,
            "status",
            "ord_1",
        ])
        .unwrap();
        let debug = format!("{cli:?} {:?}", choose(&cli.vault));
        assert!(!debug.contains(PASSWORD), "{debug}");
        assert!(!debug.contains("db.example"), "{debug}");
    }
}
