//! Which vault a command uses: the SQLite vault in the data directory (the default), or a
//! shared PostgreSQL vault (`--vault URL`) whose record keys are wrapped by HSM-held keys
//! (`--hsm-*`), or, as an explicit hazmat choice, kept raw in PostgreSQL.
//!
//! Nothing here ever prints a URL: a PostgreSQL target is described by its host, port,
//! database and user, read from the parsed URL, never its password.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use autocsr::credential::{self, Vault};
use autocsr_credential_pkcs11::{HsmConfig, HsmKeyWrapper, Pin, Pkcs11Error, Pkcs11Module};
use autocsr_credential_postgres::{
    KeyProtection, Options, PgError, PostgresKeyStore, PostgresRecordStore,
};

use crate::cli::{SecretUrl, VaultArgs};
use crate::failure::{CliError, Failure};
use crate::output::{escape_controls, shown_path};

/// Pooled connections per store: one command makes a few calls, one at a time.
const MAX_CONNECTIONS: u32 = 2;

/// The backend the settings choose, checked for consistency before anything is opened.
#[derive(Debug)]
pub(crate) enum Backend {
    /// The SQLite vault in the data directory.
    Sqlite,
    /// Records at `records`, keys at `keys` (the same URL unless `--vault-keys`).
    Postgres {
        records: SecretUrl,
        keys: SecretUrl,
        protection: KeyChoice,
    },
}

/// How the PostgreSQL vault's record keys are kept.
#[derive(Debug)]
pub(crate) enum KeyChoice {
    /// Wrapped by keys in an HSM, destroyed by purge.
    Hsm {
        module: PathBuf,
        token: String,
        pin: PinSource,
    },
    /// `--hazmat-raw-keys-in-postgres`.
    HazmatRaw,
}

/// Where the HSM PIN comes from (never a flag).
#[derive(Debug)]
pub(crate) enum PinSource {
    File(PathBuf),
    Env(String),
}

fn usage(message: impl Into<String>) -> CliError {
    CliError::new(Failure::Usage, message)
}

/// An empty value (an environment variable set to "") counts as not set.
fn given<T: AsRef<std::ffi::OsStr>>(value: Option<&T>) -> Option<&T> {
    value.filter(|v| !v.as_ref().is_empty())
}

/// Checks the vault settings against each other (usage errors, exit 2); opens nothing.
pub(crate) fn choose(args: &VaultArgs) -> Result<Backend, CliError> {
    let url = args.url.as_ref().filter(|u| !u.expose().is_empty());
    let keys_url = args.keys_url.as_ref().filter(|u| !u.expose().is_empty());
    let module = given(args.hsm_module.as_ref());
    let token = args.hsm_token.as_ref().filter(|t| !t.is_empty());
    let pin_file = given(args.hsm_pin_file.as_ref());
    let pin_env = args.hsm_pin_env.as_ref().filter(|n| !n.is_empty());
    let any_hsm = module.is_some() || token.is_some() || pin_file.is_some() || pin_env.is_some();
    let Some(url) = url else {
        if keys_url.is_some() {
            return Err(usage(
                "--vault-keys (AUTOCSR_VAULT_KEYS_URL) needs --vault (AUTOCSR_VAULT_URL): the SQLite vault keeps its keys in the data directory",
            ));
        }
        if any_hsm || args.hazmat_raw_keys_in_postgres {
            return Err(usage(
                "the --hsm-* settings and --hazmat-raw-keys-in-postgres are for a PostgreSQL vault (--vault URL); the SQLite vault in the data directory shreds its keys itself",
            ));
        }
        return Ok(Backend::Sqlite);
    };
    let protection = match (module, token, pin_file, pin_env) {
        _ if args.hazmat_raw_keys_in_postgres && any_hsm => {
            return Err(usage(
                "--hazmat-raw-keys-in-postgres and the --hsm-* settings exclude each other: choose the HSM",
            ));
        }
        _ if args.hazmat_raw_keys_in_postgres => KeyChoice::HazmatRaw,
        (None, None, None, None) => {
            return Err(usage(
                "a PostgreSQL vault needs an HSM for its record keys (--hsm-module, --hsm-token and --hsm-pin-file or --hsm-pin-env): PostgreSQL never erases a deleted key (dead tuples, WAL, backups keep it), so without an HSM revoke and purge destroy nothing. Only for tests: --hazmat-raw-keys-in-postgres",
            ));
        }
        (Some(_), Some(_), Some(_), Some(_)) => {
            return Err(usage(
                "give the HSM PIN one way: --hsm-pin-file or --hsm-pin-env, not both",
            ));
        }
        (Some(module), Some(token), Some(file), None) => KeyChoice::Hsm {
            module: module.clone(),
            token: token.clone(),
            pin: PinSource::File(file.clone()),
        },
        (Some(module), Some(token), None, Some(name)) => KeyChoice::Hsm {
            module: module.clone(),
            token: token.clone(),
            pin: PinSource::Env(name.clone()),
        },
        _ => {
            return Err(usage(
                "the HSM needs all of --hsm-module, --hsm-token, and --hsm-pin-file or --hsm-pin-env",
            ));
        }
    };
    Ok(Backend::Postgres {
        records: url.clone(),
        keys: keys_url.unwrap_or(url).clone(),
        protection,
    })
}

/// Opens the PostgreSQL vault: the HSM first (local and quick to refuse), then the two
/// stores, each creating or checking its tables.
pub(crate) fn open_postgres(
    records_url: &SecretUrl,
    keys_url: &SecretUrl,
    protection: &KeyChoice,
) -> Result<Vault, CliError> {
    let records_target = Target::parse(records_url, "--vault (AUTOCSR_VAULT_URL)")?;
    let keys_target = Target::parse(keys_url, "--vault-keys (AUTOCSR_VAULT_KEYS_URL)")?;
    let wrapper = match protection {
        KeyChoice::Hsm { module, token, pin } => Some(open_hsm(module, token, pin)?),
        KeyChoice::HazmatRaw => None,
    };
    let mut options = Options::default();
    options.max_connections = MAX_CONNECTIONS;
    let records = PostgresRecordStore::connect_with(records_url.expose(), &options)
        .map_err(|err| records_target.open_error("records", err))?;
    let key_protection = if wrapper.is_some() {
        KeyProtection::DestroyingWrapper
    } else {
        KeyProtection::HazmatRawKeys
    };
    let keys = PostgresKeyStore::connect_with(keys_url.expose(), key_protection, &options)
        .map_err(|err| keys_target.open_error("record keys", err))?;
    let vault = Vault::new(Arc::new(records), Arc::new(keys));
    Ok(match wrapper {
        Some(wrapper) => vault.with_key_wrapper(wrapper),
        None => vault,
    })
}

/// A PostgreSQL URL, parsed, and described without its password.
struct Target {
    described: String,
}

impl Target {
    fn parse(url: &SecretUrl, setting: &str) -> Result<Target, CliError> {
        let text = url.expose();
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Err(usage(format!(
                "{setting} takes a postgres:// or postgresql:// URL (the value is not shown: it may hold a password)"
            )));
        }
        // The parser's errors name an option at most, but the value is not shown either
        // way: a mistyped URL can put a password where an option name belongs.
        // The store's own parser: it also knows sslmode=verify-full and sslrootcert.
        let config = autocsr_credential_postgres::parse_url(text).map_err(|err| {
            usage(format!(
                "{setting} is not a valid PostgreSQL URL (postgresql://[user[:password]@][host][:port][/database][?param=value&...]; percent-encode special characters; the value is not shown): {err}",
                err = std::error::Error::source(&err).map_or_else(|| err.to_string(), ToString::to_string)
            ))
        })?;
        Ok(Target {
            described: describe(&config),
        })
    }

    fn open_error(&self, what: &str, err: credential::Error) -> CliError {
        if let credential::Error::UnsupportedSchema { found, supported } = err {
            return CliError::other(format!(
                "the vault's {what} tables in {} were written by a newer autocsr (schema version {found}; this one knows up to {supported}): upgrade autocsr on this machine; the tables were not touched",
                self.described
            ));
        }
        let hint = match sqlstate(&err).as_deref() {
            Some("28P01") => "; the password in the URL is wrong",
            Some("3D000") => "; the database does not exist: create it first",
            Some("42501") => {
                "; the role may not create the vault's tables: have their owner open the vault once, or give the role a schema of its own (docs/OPERATIONS.md)"
            }
            _ => "",
        };
        CliError::other(format!(
            "could not open the vault's {what} in {}{hint}",
            self.described
        ))
        .caused_by(err)
    }
}

/// `database D on HOST:PORT as user U`, from the parsed URL (never the password).
fn describe(config: &postgres::Config) -> String {
    use postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "the default host".to_owned()
    } else {
        hosts.join(",")
    };
    let port = match config.get_ports() {
        [] => String::new(),
        ports => format!(
            ":{}",
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    let database = config.get_dbname().unwrap_or("(the user's)");
    let user = config.get_user().unwrap_or("(none given)");
    escape_controls(&format!(
        "PostgreSQL database {database} on {hosts}{port} as user {user}"
    ))
    .into_owned()
}

/// The SQLSTATE of a store error, if the server gave one.
fn sqlstate(err: &credential::Error) -> Option<String> {
    let credential::Error::Storage(inner) = err else {
        return None;
    };
    inner.downcast_ref::<PgError>()?.code.clone()
}

fn open_hsm(
    module_path: &Path,
    token: &str,
    pin_source: &PinSource,
) -> Result<Arc<HsmKeyWrapper>, CliError> {
    let pin = match pin_source {
        PinSource::File(path) => {
            check_pin_file(path)?;
            Pin::from_file(path).map_err(|err| {
                CliError::other(format!(
                    "could not read the HSM PIN from {} (it must hold the PIN, UTF-8, not empty)",
                    shown_path(path)
                ))
                .caused_by(err)
            })?
        }
        PinSource::Env(name) => Pin::from_env(name).map_err(|err| {
            CliError::other(format!(
                "the environment variable {} named by --hsm-pin-env is unset, empty or not UTF-8",
                escape_controls(name)
            ))
            .caused_by(err)
        })?,
    };
    let module = Pkcs11Module::load(module_path).map_err(|err| {
        CliError::other(format!(
            "could not load the PKCS#11 module {}",
            shown_path(module_path)
        ))
        .caused_by(err)
    })?;
    let token_shown = escape_controls(token);
    HsmKeyWrapper::open(&module, HsmConfig::new(token, pin)).map_err(|err| {
        let message = match hsm_error(&err) {
            Some(Pkcs11Error::TokenNotFound { .. }) => format!(
                "no initialised HSM token is labelled {token_shown} in {} (check --hsm-token)",
                shown_path(module_path)
            ),
            Some(Pkcs11Error::Login { .. }) => format!(
                "the HSM token {token_shown} refused the PIN (wrong, or locked after too many tries)"
            ),
            _ => format!("could not open the HSM token {token_shown}"),
        };
        CliError::other(message).caused_by(err)
    })
}

fn hsm_error(err: &credential::Error) -> Option<&Pkcs11Error> {
    match err {
        credential::Error::KeyWrap(inner) => inner.downcast_ref::<Pkcs11Error>(),
        _ => None,
    }
}

/// Refuses a PIN file that anyone but its owner may read or change (any bit of 0o077),
/// as ssh refuses such a private key: the PIN opens every wrapping key. There is no
/// override; a secret store that cannot set modes can hand the PIN over in a variable.
fn check_pin_file(path: &Path) -> Result<(), CliError> {
    let meta = fs::metadata(path).map_err(|err| {
        CliError::other(format!(
            "could not read the HSM PIN file {}",
            shown_path(path)
        ))
        .caused_by(err)
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::other(format!(
            "the HSM PIN file {} is open to other users (mode {mode:03o}); run `chmod 600 {}`",
            shown_path(path),
            shown_path(path)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, parse_url};
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
        assert!(matches!(choose(&args(&[])).unwrap(), Backend::Sqlite));
        // An empty value (AUTOCSR_VAULT_URL= in a unit file) counts as not set.
        assert!(matches!(
            choose(&args(&["--vault", "", "--hsm-token", ""])).unwrap(),
            Backend::Sqlite
        ));
    }

    #[test]
    fn postgres_without_an_hsm_needs_the_hazmat_flag() {
        let url = url();
        let err = choose(&args(&["--vault", &url])).unwrap_err();
        assert_eq!(err.failure(), Failure::Usage);
        assert!(
            err.message().contains("--hazmat-raw-keys-in-postgres"),
            "{}",
            err.message()
        );
        let chosen = choose(&args(&["--vault", &url, "--hazmat-raw-keys-in-postgres"])).unwrap();
        assert!(matches!(
            chosen,
            Backend::Postgres {
                protection: KeyChoice::HazmatRaw,
                ..
            }
        ));
    }

    #[test]
    fn the_hsm_settings_must_be_complete_and_consistent() {
        let url = url();
        let full = [
            "--vault",
            &url,
            "--hsm-module",
            "/m.so",
            "--hsm-token",
            "t",
            "--hsm-pin-env",
            "PIN",
        ];
        assert!(matches!(
            choose(&args(&full)).unwrap(),
            Backend::Postgres {
                protection: KeyChoice::Hsm {
                    pin: PinSource::Env(_),
                    ..
                },
                ..
            }
        ));
        let refused: [&[&str]; 6] = [
            &full[..6],
            &["--vault", &url, "--hsm-token", "t", "--hsm-pin-env", "PIN"],
            &[&full[..], &["--hsm-pin-file", "/p"]].concat(),
            &[&full[..], &["--hazmat-raw-keys-in-postgres"]].concat(),
            &full[2..],
            &["--vault-keys", &url],
        ];
        for refused in refused {
            let err = choose(&args(refused)).unwrap_err();
            assert_eq!(err.failure(), Failure::Usage, "{refused:?}");
            assert!(!err.message().contains(PASSWORD));
        }
    }

    #[test]
    fn a_malformed_or_foreign_url_is_a_usage_error_that_never_shows_it() {
        for bad in [
            format!("mysql://app:{PASSWORD}@db/vault"),
            format!("postgresql://app:{PASSWORD}@db:notaport/vault"),
            format!("postgresql://app:{PASSWORD}@db/vault?{PASSWORD}=1"),
            format!("postgres://app:{PASSWORD}@[::1/vault"),
            format!("host=db password={PASSWORD}"),
        ] {
            let err = Target::parse(&parse_url(&bad).unwrap(), "--vault")
                .err()
                .unwrap();
            assert_eq!(err.failure(), Failure::Usage, "{bad}");
            let text = format!("{err:?}");
            assert!(!text.contains(PASSWORD), "{text}");
        }
    }

    #[test]
    fn a_target_is_described_without_its_password() {
        let described = Target::parse(
            &parse_url(&format!(
                "postgresql://app:{PASSWORD}@db.example:6432/vault?password={PASSWORD}"
            ))
            .unwrap(),
            "--vault",
        )
        .ok()
        .unwrap()
        .described;
        assert_eq!(
            described,
            "PostgreSQL database vault on db.example:6432 as user app"
        );
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

    #[test]
    fn a_pin_file_open_to_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pin");
        fs::write(&file, "1234\n").unwrap();
        for (mode, ok) in [
            (0o600, true),
            (0o400, true),
            (0o640, false),
            (0o644, false),
            (0o604, false),
            (0o620, false),
        ] {
            fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(check_pin_file(&file).is_ok(), ok, "{mode:o}");
        }
        let err = check_pin_file(&dir.path().join("missing")).unwrap_err();
        assert!(err.message().contains("PIN file"), "{}", err.message());
    }
}
