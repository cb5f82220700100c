//! Which vault a host uses, and how to open it: the SQLite vault in its data directory,
//! or a shared PostgreSQL vault whose record keys are wrapped by keys held in an HSM
//! (PKCS#11), or, as an explicit hazmat choice, kept raw in PostgreSQL. One model for the
//! `autocsr` command and `autocsr-server`: each parses its own flags and environment into
//! [`VaultFlags`], and [`VaultChoice::from_flags`] checks them the same way for both.
//!
//! The messages name the settings as both binaries spell them (`--vault`,
//! `AUTOCSR_VAULT_URL`, `--hsm-*`, ...). No message, `Debug` or `Display` here shows a URL
//! (it may hold a password): a PostgreSQL target is described by the host, port, database
//! and user read from the parsed URL. The PIN is only ever held in [`Pin`], a secrecy type.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use autocsr_credential::{Error as VaultError, Vault};
use autocsr_credential_pkcs11::{HsmConfig, HsmKeyWrapper, Pin, Pkcs11Error, Pkcs11Module};
use autocsr_credential_postgres::{
    KeyProtection, Options, PgError, PostgresKeyStore, PostgresRecordStore,
};
use secrecy::{ExposeSecret as _, SecretString};

use crate::private_file::PrivateFileError;

/// The vault settings as the operator gave them, before any check. Each binary fills it
/// from its own flags and environment; an empty value (`AUTOCSR_VAULT_URL=` in a unit
/// file) counts as not given.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct VaultFlags {
    /// `--vault URL` (`AUTOCSR_VAULT_URL`): the PostgreSQL database of the records.
    pub url: Option<SecretString>,
    /// `--vault-keys URL` (`AUTOCSR_VAULT_KEYS_URL`): another database (or role) for the
    /// record keys; the `--vault` URL when not given.
    pub keys_url: Option<SecretString>,
    /// `--hsm-module PATH`: the HSM's PKCS#11 module.
    pub hsm_module: Option<PathBuf>,
    /// `--hsm-token LABEL`: the token holding the wrapping keys.
    pub hsm_token: Option<String>,
    /// `--hsm-pin-file FILE`: a file holding the token's user PIN.
    pub hsm_pin_file: Option<PathBuf>,
    /// `--hsm-pin-env NAME`: an environment variable holding the token's user PIN.
    pub hsm_pin_env: Option<String>,
    /// `--hazmat-raw-keys-in-postgres`: record keys unwrapped in PostgreSQL (tests only).
    pub hazmat_raw_keys_in_postgres: bool,
}

/// Which vault, checked for consistency; nothing is opened or read yet.
// Exhaustive on purpose: a new kind of vault must break each binary's match, which opens it.
#[allow(clippy::exhaustive_enums)]
#[derive(Debug)]
pub enum VaultChoice {
    /// The SQLite vault in the data directory (the host opens it).
    Sqlite,
    /// A shared PostgreSQL vault ([`PostgresVault::open`]).
    Postgres(PostgresVault),
}

/// A PostgreSQL vault: where its records and keys are, and how its record keys are kept.
pub struct PostgresVault {
    records: Target,
    keys: Target,
    record_keys: RecordKeys,
}

impl fmt::Debug for PostgresVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresVault")
            .field("records", &"[REDACTED]")
            .field("keys", &"[REDACTED]")
            .field("record_keys", &self.record_keys)
            .finish()
    }
}

/// How a PostgreSQL vault's record keys are kept.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecordKeys {
    /// Wrapped by keys in an HSM, which purge destroys.
    Hsm(HsmSettings),
    /// `--hazmat-raw-keys-in-postgres`: raw in PostgreSQL, which never erases a deleted
    /// row (dead tuples, WAL, backups keep it), so revoke and purge destroy nothing.
    HazmatRaw,
}

/// The HSM holding the wrapping keys.
#[derive(Debug)]
pub struct HsmSettings {
    module: PathBuf,
    token: String,
    pin: PinSource,
}

impl HsmSettings {
    /// The PKCS#11 module.
    pub fn module(&self) -> &Path {
        &self.module
    }

    /// The token label.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Where the PIN comes from.
    pub fn pin(&self) -> &PinSource {
        &self.pin
    }
}

/// Where the HSM PIN comes from (never a flag: a command line is visible to other users).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinSource {
    /// A file only its owner may read or change (no bit of 0o077).
    File(PathBuf),
    /// The environment variable of this name.
    Env(String),
}

/// Settings that contradict each other, or a URL that is not a PostgreSQL URL. A usage
/// error: nothing was opened. No variant holds or shows a URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// `--vault-keys` without `--vault`.
    #[error(
        "--vault-keys (AUTOCSR_VAULT_KEYS_URL) needs --vault (AUTOCSR_VAULT_URL): the SQLite vault keeps its keys in the data directory"
    )]
    KeysUrlWithoutVault,
    /// HSM settings or the hazmat flag without `--vault`.
    #[error(
        "the --hsm-* settings and --hazmat-raw-keys-in-postgres are for a PostgreSQL vault (--vault URL); the SQLite vault in the data directory shreds its keys itself"
    )]
    NotForSqlite,
    /// The hazmat flag together with HSM settings.
    #[error(
        "--hazmat-raw-keys-in-postgres and the --hsm-* settings exclude each other: choose the HSM"
    )]
    HazmatWithHsm,
    /// A PostgreSQL vault with neither HSM settings nor the hazmat flag.
    #[error(
        "a PostgreSQL vault needs an HSM for its record keys (--hsm-module, --hsm-token and --hsm-pin-file or --hsm-pin-env): PostgreSQL never erases a deleted key (dead tuples, WAL, backups keep it), so without an HSM revoke and purge destroy nothing. Only for tests: --hazmat-raw-keys-in-postgres"
    )]
    HsmRequired,
    /// Both `--hsm-pin-file` and `--hsm-pin-env`.
    #[error("give the HSM PIN one way: --hsm-pin-file or --hsm-pin-env, not both")]
    TwoPinSources,
    /// Some of the HSM settings, not all.
    #[error("the HSM needs all of --hsm-module, --hsm-token, and --hsm-pin-file or --hsm-pin-env")]
    IncompleteHsm,
    /// A URL of another scheme.
    #[error(
        "{setting} takes a postgres:// or postgresql:// URL (the value is not shown: it may hold a password)"
    )]
    NotPostgres {
        /// The setting, as `--vault (AUTOCSR_VAULT_URL)`.
        setting: &'static str,
    },
    /// A `postgres://` URL the store's parser refuses.
    #[error(
        "{setting} is not a valid PostgreSQL URL (postgresql://[user[:password]@][host][:port][/database][?param=value&...]; percent-encode special characters; the value is not shown): {reason}"
    )]
    BadUrl {
        /// The setting, as `--vault (AUTOCSR_VAULT_URL)`.
        setting: &'static str,
        /// The parser's reason (it names an option at most, never a value).
        reason: String,
    },
}

const RECORDS_SETTING: &str = "--vault (AUTOCSR_VAULT_URL)";
const KEYS_SETTING: &str = "--vault-keys (AUTOCSR_VAULT_KEYS_URL)";

fn given_url(url: Option<SecretString>) -> Option<SecretString> {
    url.filter(|url| !url.expose_secret().is_empty())
}

fn given<T: AsRef<std::ffi::OsStr>>(value: Option<T>) -> Option<T> {
    value.filter(|v| !v.as_ref().is_empty())
}

impl VaultChoice {
    /// Checks the settings against each other and parses the URLs; reads no file and
    /// opens nothing.
    ///
    /// # Errors
    /// [`SettingsError`]: `--vault-keys`, `--hsm-*` or the hazmat flag without `--vault`;
    /// a PostgreSQL vault without an HSM unless the hazmat flag is given; the hazmat flag
    /// with any HSM setting; HSM settings that are not all of module, token and one PIN
    /// source; both PIN sources; a URL that is not a valid `postgres://` or
    /// `postgresql://` URL.
    pub fn from_flags(flags: VaultFlags) -> Result<VaultChoice, SettingsError> {
        let url = given_url(flags.url);
        let keys_url = given_url(flags.keys_url);
        let module = given(flags.hsm_module);
        let token = given(flags.hsm_token);
        let pin_file = given(flags.hsm_pin_file);
        let pin_env = given(flags.hsm_pin_env);
        let hazmat = flags.hazmat_raw_keys_in_postgres;
        let any_hsm =
            module.is_some() || token.is_some() || pin_file.is_some() || pin_env.is_some();
        let Some(url) = url else {
            if keys_url.is_some() {
                return Err(SettingsError::KeysUrlWithoutVault);
            }
            if any_hsm || hazmat {
                return Err(SettingsError::NotForSqlite);
            }
            return Ok(VaultChoice::Sqlite);
        };
        let record_keys = if hazmat {
            if any_hsm {
                return Err(SettingsError::HazmatWithHsm);
            }
            RecordKeys::HazmatRaw
        } else {
            let pin = match (pin_file, pin_env) {
                (Some(_), Some(_)) => return Err(SettingsError::TwoPinSources),
                (Some(file), None) => Some(PinSource::File(file)),
                (None, Some(name)) => Some(PinSource::Env(name)),
                (None, None) => None,
            };
            match (module, token, pin) {
                (None, None, None) => return Err(SettingsError::HsmRequired),
                (Some(module), Some(token), Some(pin)) => {
                    RecordKeys::Hsm(HsmSettings { module, token, pin })
                }
                _ => return Err(SettingsError::IncompleteHsm),
            }
        };
        let records = Target::parse(url, RECORDS_SETTING)?;
        let keys = match keys_url {
            Some(keys_url) => Target::parse(keys_url, KEYS_SETTING)?,
            None => records.clone(),
        };
        Ok(VaultChoice::Postgres(PostgresVault {
            records,
            keys,
            record_keys,
        }))
    }
}

/// A PostgreSQL URL, parsed, and described without its password.
#[derive(Clone)]
struct Target {
    url: SecretString,
    described: String,
}

impl Target {
    fn parse(url: SecretString, setting: &'static str) -> Result<Target, SettingsError> {
        let text = url.expose_secret();
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Err(SettingsError::NotPostgres { setting });
        }
        // The store's own parser: it also knows sslmode=verify-full and sslrootcert. Its
        // errors name an option at most, and never quote the value.
        let config =
            autocsr_credential_postgres::parse_url(text).map_err(|err| SettingsError::BadUrl {
                setting,
                reason: std::error::Error::source(&err)
                    .map_or_else(|| err.to_string(), ToString::to_string),
            })?;
        let described = describe(&config);
        Ok(Target { url, described })
    }
}

/// `PostgreSQL database D on HOST:PORT as user U`, from the parsed URL (never the password).
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
}

/// `text` with control and bidi-override characters written as escapes, so a name from a
/// setting is shown in a message, never obeyed by the terminal.
fn escape_controls(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
}

fn shown(path: &Path) -> String {
    escape_controls(&path.display().to_string())
}

/// Why a checked PostgreSQL vault could not be opened. Names files, the token and the
/// described target; never a URL, never the PIN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The PIN file's permissions could not be read (missing, no access).
    #[error("could not read the HSM PIN file {}", shown(.path))]
    PinFileUnreadable {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The PIN file is open to other users (any bit of 0o077): the PIN opens every
    /// wrapping key, so it is refused, as ssh refuses such a private key. There is no
    /// override; a secret store that cannot set modes can hand the PIN over in a variable.
    #[error(
        "the HSM PIN file {} is open to other users (mode {mode:03o}); run `chmod 600 {}`",
        shown(.path),
        shown(.path)
    )]
    PinFileOpenToOthers {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The PIN file is not a regular file (a directory, a FIFO, a device such as
    /// `/dev/zero`), or is larger than any PIN ([`MAX_PIN_FILE`] bytes).
    #[error("the HSM PIN file {} {reason}", shown(.path))]
    PinFileUnusable {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never a quote of its content).
        reason: &'static str,
    },
    /// The PIN file is unreadable, not UTF-8 or empty.
    #[error(
        "could not read the HSM PIN from {} (it must hold the PIN, UTF-8, not empty)",
        shown(.path)
    )]
    PinFile {
        /// The file.
        path: PathBuf,
        /// The PKCS#11 crate's reason.
        #[source]
        source: VaultError,
    },
    /// The PIN variable is unset, empty or not UTF-8.
    #[error(
        "the environment variable {} named by --hsm-pin-env is unset, empty or not UTF-8",
        escape_controls(.name)
    )]
    PinEnv {
        /// The variable's name.
        name: String,
        /// The PKCS#11 crate's reason.
        #[source]
        source: VaultError,
    },
    /// The PKCS#11 module could not be loaded or initialised.
    #[error("could not load the PKCS#11 module {}", shown(.path))]
    Module {
        /// The module.
        path: PathBuf,
        /// The PKCS#11 crate's reason.
        #[source]
        source: VaultError,
    },
    /// No initialised token has this label.
    #[error(
        "no initialised HSM token is labelled {} in {} (check --hsm-token)",
        escape_controls(.token),
        shown(.module)
    )]
    TokenNotFound {
        /// The label asked for.
        token: String,
        /// The module searched.
        module: PathBuf,
        /// The PKCS#11 crate's error.
        #[source]
        source: VaultError,
    },
    /// The token refused the PIN (wrong, or locked).
    #[error(
        "the HSM token {} refused the PIN (wrong, or locked after too many tries)",
        escape_controls(.token)
    )]
    PinRefused {
        /// The token label.
        token: String,
        /// The PKCS#11 crate's error.
        #[source]
        source: VaultError,
    },
    /// The token could not be opened for another reason.
    #[error("could not open the HSM token {}", escape_controls(.token))]
    Token {
        /// The token label.
        token: String,
        /// The PKCS#11 crate's error.
        #[source]
        source: VaultError,
    },
    /// The tables were written by a newer version; they were not touched.
    #[error(
        "the vault's {what} tables in {target} were written by a newer autocsr (schema version {found}; this one knows up to {supported}): upgrade autocsr on this machine; the tables were not touched"
    )]
    NewerSchema {
        /// `records` or `record keys`.
        what: &'static str,
        /// The described target (no password).
        target: String,
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A store could not be opened (connection, authentication, rights).
    #[error("could not open the vault's {what} in {target}{}", hint(.source))]
    Store {
        /// `records` or `record keys`.
        what: &'static str,
        /// The described target (no password).
        target: String,
        /// The store's error.
        #[source]
        source: VaultError,
    },
}

impl OpenError {
    /// The underlying error (what the HSM, the operating system or the database said), for
    /// a host that prints this error's own sentence and then the cause chain.
    pub fn into_source(self) -> Option<Box<dyn std::error::Error + Send + Sync>> {
        match self {
            OpenError::PinFileUnreadable { source, .. } => Some(Box::new(source)),
            OpenError::PinFile { source, .. }
            | OpenError::PinEnv { source, .. }
            | OpenError::Module { source, .. }
            | OpenError::TokenNotFound { source, .. }
            | OpenError::PinRefused { source, .. }
            | OpenError::Token { source, .. }
            | OpenError::Store { source, .. } => Some(Box::new(source)),
            OpenError::PinFileOpenToOthers { .. }
            | OpenError::PinFileUnusable { .. }
            | OpenError::NewerSchema { .. } => None,
        }
    }
}

/// What to do about a store error the server gave a SQLSTATE for.
fn hint(err: &VaultError) -> &'static str {
    let VaultError::Storage(inner) = err else {
        return "";
    };
    let code = inner
        .downcast_ref::<PgError>()
        .and_then(|pg| pg.code.as_deref());
    match code {
        Some("28P01") => "; the password in the URL is wrong",
        Some("3D000") => "; the database does not exist: create it first",
        Some("42501") => {
            "; the role may not create the vault's tables: have their owner open the vault once, or give the role a schema of its own (docs/OPERATIONS.md)"
        }
        _ => "",
    }
}

impl PostgresVault {
    /// How the record keys are kept.
    pub fn record_keys(&self) -> &RecordKeys {
        &self.record_keys
    }

    /// Opens the vault: the HSM first (local, and quick to refuse), then the two stores,
    /// each creating or checking its tables, with `options` (pool size, timeouts).
    ///
    /// # Errors
    /// [`OpenError`]: a PIN file open to other users, unreadable or empty, a PIN variable
    /// unset or empty, a module that does not load, a token not found or refusing the
    /// PIN, a database that cannot be reached or used, tables of a newer version.
    pub fn open(&self, options: &Options) -> Result<Vault, OpenError> {
        let wrapper = match &self.record_keys {
            RecordKeys::Hsm(hsm) => Some(open_hsm(hsm)?),
            RecordKeys::HazmatRaw => None,
        };
        let records = PostgresRecordStore::connect_with(self.records.url.expose_secret(), options)
            .map_err(|err| store_error("records", &self.records, err))?;
        let protection = if wrapper.is_some() {
            KeyProtection::DestroyingWrapper
        } else {
            KeyProtection::HazmatRawKeys
        };
        let keys =
            PostgresKeyStore::connect_with(self.keys.url.expose_secret(), protection, options)
                .map_err(|err| store_error("record keys", &self.keys, err))?;
        let vault = Vault::new(Arc::new(records), Arc::new(keys));
        Ok(match wrapper {
            Some(wrapper) => vault.with_key_wrapper(wrapper),
            None => vault,
        })
    }
}

fn store_error(what: &'static str, target: &Target, err: VaultError) -> OpenError {
    if let VaultError::UnsupportedSchema { found, supported } = err {
        return OpenError::NewerSchema {
            what,
            target: target.described.clone(),
            found,
            supported,
        };
    }
    OpenError::Store {
        what,
        target: target.described.clone(),
        source: err,
    }
}

/// The largest PIN file read (the server's limit for every secret file).
pub const MAX_PIN_FILE: u64 = 1 << 20;

/// The flag combinations every binary must refuse, each with the refusal it gets, for the
/// binaries' own tests: each runs its parser over this one table, so a rule added here is
/// checked in both. `url` is a valid PostgreSQL URL; the flags are spelt as both binaries
/// spell them. Not a stable API.
#[doc(hidden)]
#[must_use]
pub fn refused_flag_combinations(url: &str) -> Vec<(Vec<String>, SettingsError)> {
    let hsm = ["--hsm-module", "/m.so", "--hsm-token", "t"];
    let owned = |flags: &[&str]| flags.iter().map(|&flag| flag.to_owned()).collect();
    vec![
        (owned(&["--vault", url]), SettingsError::HsmRequired),
        (
            owned(&[&["--vault", url][..], &hsm[..2]].concat()),
            SettingsError::IncompleteHsm,
        ),
        (
            owned(
                &[
                    &["--vault", url][..],
                    &hsm,
                    &["--hsm-pin-file", "/p", "--hsm-pin-env", "P"],
                ]
                .concat(),
            ),
            SettingsError::TwoPinSources,
        ),
        (
            owned(&[&["--vault", url, "--hazmat-raw-keys-in-postgres"][..], &hsm].concat()),
            SettingsError::HazmatWithHsm,
        ),
        (
            owned(&["--hazmat-raw-keys-in-postgres"]),
            SettingsError::NotForSqlite,
        ),
        (owned(&hsm), SettingsError::NotForSqlite),
        (
            owned(&["--vault-keys", url]),
            SettingsError::KeysUrlWithoutVault,
        ),
        (
            owned(&[
                "--vault",
                "mysql://Sup3r-Secret-Pw@x",
                "--hazmat-raw-keys-in-postgres",
            ]),
            SettingsError::NotPostgres {
                setting: "--vault (AUTOCSR_VAULT_URL)",
            },
        ),
    ]
}

impl PinSource {
    /// Reads the PIN: from a file only after checking that it is a regular file of at
    /// most [`MAX_PIN_FILE`] bytes that no one but its owner may read or change.
    ///
    /// # Errors
    /// [`OpenError::PinFileUnreadable`], [`OpenError::PinFileUnusable`],
    /// [`OpenError::PinFileOpenToOthers`], [`OpenError::PinFile`], [`OpenError::PinEnv`].
    pub fn read(&self) -> Result<Pin, OpenError> {
        match self {
            PinSource::File(path) => {
                // One open: the file checked is the file read (see `private_file`).
                let contents = crate::private_file::read(path, MAX_PIN_FILE)
                    .map_err(|error| pin_file_refused(path, error))?;
                Pin::from_file_contents(&contents, &path.display().to_string()).map_err(|source| {
                    OpenError::PinFile {
                        path: path.clone(),
                        source,
                    }
                })
            }
            PinSource::Env(name) => Pin::from_env(name).map_err(|source| OpenError::PinEnv {
                name: name.clone(),
                source,
            }),
        }
    }
}

fn pin_file_refused(path: &Path, error: PrivateFileError) -> OpenError {
    let path = path.to_owned();
    match error {
        PrivateFileError::OpenToOthers { mode } => OpenError::PinFileOpenToOthers { path, mode },
        PrivateFileError::NotRegular => OpenError::PinFileUnusable {
            path,
            reason: "is not a regular file",
        },
        PrivateFileError::TooLarge { .. } => OpenError::PinFileUnusable {
            path,
            reason: "is larger than 1 MiB",
        },
        PrivateFileError::Io(source) => OpenError::PinFileUnreadable { path, source },
    }
}

fn open_hsm(hsm: &HsmSettings) -> Result<Arc<HsmKeyWrapper>, OpenError> {
    let pin = hsm.pin.read()?;
    let module = Pkcs11Module::load(&hsm.module).map_err(|source| OpenError::Module {
        path: hsm.module.clone(),
        source,
    })?;
    HsmKeyWrapper::open(&module, HsmConfig::new(&hsm.token, pin)).map_err(|source| {
        let token = hsm.token.clone();
        match hsm_error(&source) {
            Some(Pkcs11Error::TokenNotFound { .. }) => OpenError::TokenNotFound {
                token,
                module: hsm.module.clone(),
                source,
            },
            Some(Pkcs11Error::Login { .. }) => OpenError::PinRefused { token, source },
            _ => OpenError::Token { token, source },
        }
    })
}

fn hsm_error(err: &VaultError) -> Option<&Pkcs11Error> {
    match err {
        VaultError::KeyWrap(inner) => inner.downcast_ref::<Pkcs11Error>(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    const PASSWORD: &str = "Sup3r-Secret-Pw";

    fn url() -> String {
        format!("postgresql://app:{PASSWORD}@db.example/vault")
    }

    /// Flags as `--name value` pairs (values as given; `--hazmat-raw-keys-in-postgres`
    /// alone).
    fn flags(given: &[&str]) -> VaultFlags {
        let mut flags = VaultFlags::default();
        let mut rest = given.iter();
        while let Some(&name) = rest.next() {
            if name == "--hazmat-raw-keys-in-postgres" {
                flags.hazmat_raw_keys_in_postgres = true;
                continue;
            }
            let value = (*rest.next().unwrap()).to_owned();
            match name {
                "--vault" => flags.url = Some(SecretString::from(value)),
                "--vault-keys" => flags.keys_url = Some(SecretString::from(value)),
                "--hsm-module" => flags.hsm_module = Some(value.into()),
                "--hsm-token" => flags.hsm_token = Some(value),
                "--hsm-pin-file" => flags.hsm_pin_file = Some(value.into()),
                "--hsm-pin-env" => flags.hsm_pin_env = Some(value),
                other => panic!("unknown flag {other}"),
            }
        }
        flags
    }

    fn choose(given: &[&str]) -> Result<VaultChoice, SettingsError> {
        VaultChoice::from_flags(flags(given))
    }

    #[test]
    fn no_url_is_the_sqlite_vault() {
        assert!(matches!(choose(&[]).unwrap(), VaultChoice::Sqlite));
        // An empty value (AUTOCSR_VAULT_URL= in a unit file) counts as not set.
        assert!(matches!(
            choose(&["--vault", "", "--hsm-token", "", "--hsm-pin-env", ""]).unwrap(),
            VaultChoice::Sqlite
        ));
    }

    #[test]
    fn postgres_without_an_hsm_needs_the_hazmat_flag() {
        let url = url();
        let err = choose(&["--vault", &url]).unwrap_err();
        assert!(matches!(err, SettingsError::HsmRequired));
        assert!(err.to_string().contains("--hazmat-raw-keys-in-postgres"));
        let chosen = choose(&["--vault", &url, "--hazmat-raw-keys-in-postgres"]).unwrap();
        let VaultChoice::Postgres(vault) = chosen else {
            panic!("not PostgreSQL");
        };
        assert!(matches!(vault.record_keys(), RecordKeys::HazmatRaw));
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
        let VaultChoice::Postgres(vault) = choose(&full).unwrap() else {
            panic!("not PostgreSQL");
        };
        let RecordKeys::Hsm(hsm) = vault.record_keys() else {
            panic!("no HSM");
        };
        assert_eq!(hsm.pin(), &PinSource::Env("PIN".to_owned()));
        assert_eq!((hsm.module(), hsm.token()), (Path::new("/m.so"), "t"));
        let with_file = [&full[..6], &["--hsm-pin-file", "/p"]].concat();
        let VaultChoice::Postgres(vault) = choose(&with_file).unwrap() else {
            panic!("not PostgreSQL");
        };
        assert!(matches!(
            vault.record_keys(),
            RecordKeys::Hsm(HsmSettings {
                pin: PinSource::File(_),
                ..
            })
        ));

        type Refusal = fn(&SettingsError) -> bool;
        let refused: [(&[&str], Refusal); 7] = [
            (&full[..6], |e| matches!(e, SettingsError::IncompleteHsm)),
            (
                &["--vault", &url, "--hsm-token", "t", "--hsm-pin-env", "PIN"],
                |e| matches!(e, SettingsError::IncompleteHsm),
            ),
            (&[&full[..], &["--hsm-pin-file", "/p"]].concat(), |e| {
                matches!(e, SettingsError::TwoPinSources)
            }),
            (
                &[
                    "--vault",
                    &url,
                    "--hsm-pin-file",
                    "/p",
                    "--hsm-pin-env",
                    "P",
                ],
                |e| matches!(e, SettingsError::TwoPinSources),
            ),
            (
                &[&full[..], &["--hazmat-raw-keys-in-postgres"]].concat(),
                |e| matches!(e, SettingsError::HazmatWithHsm),
            ),
            (&full[2..], |e| matches!(e, SettingsError::NotForSqlite)),
            (&["--vault-keys", &url], |e| {
                matches!(e, SettingsError::KeysUrlWithoutVault)
            }),
        ];
        for (given, expected) in refused {
            let err = choose(given).unwrap_err();
            assert!(expected(&err), "{given:?}: {err:?}");
            assert!(!format!("{err} {err:?}").contains(PASSWORD));
        }
    }

    #[test]
    fn a_malformed_or_foreign_url_is_refused_without_showing_it() {
        for bad in [
            format!("mysql://app:{PASSWORD}@db/vault"),
            format!("postgresql://app:{PASSWORD}@db:notaport/vault"),
            format!("postgresql://app:{PASSWORD}@db/vault?{PASSWORD}=1"),
            format!("postgres://app:{PASSWORD}@[::1/vault"),
            format!("host=db password={PASSWORD}"),
        ] {
            for given in [
                ["--vault", bad.as_str(), "--vault-keys", "postgres://db/k"],
                ["--vault", "postgres://db/r", "--vault-keys", bad.as_str()],
            ] {
                let err =
                    choose(&[&given[..], &["--hazmat-raw-keys-in-postgres"]].concat()).unwrap_err();
                assert!(
                    matches!(
                        err,
                        SettingsError::NotPostgres { .. } | SettingsError::BadUrl { .. }
                    ),
                    "{bad}"
                );
                let text = format!("{err} {err:?}");
                assert!(!text.contains(PASSWORD), "{text}");
            }
        }
    }

    #[test]
    fn a_target_is_described_without_its_password() {
        let target = Target::parse(
            SecretString::from(format!(
                "postgresql://app:{PASSWORD}@db.example:6432/vault?password={PASSWORD}"
            )),
            RECORDS_SETTING,
        )
        .ok()
        .unwrap();
        assert_eq!(
            target.described,
            "PostgreSQL database vault on db.example:6432 as user app"
        );
        let escaped = Target::parse(
            SecretString::from("postgresql://a%1b%5b31m@db/v"),
            RECORDS_SETTING,
        )
        .ok()
        .unwrap();
        assert!(
            !escaped.described.contains('\u{1b}'),
            "{}",
            escaped.described
        );
    }

    #[test]
    fn debug_of_the_settings_never_shows_a_url() {
        let url = url();
        let given = flags(&[
            "--vault",
            &url,
            "--vault-keys",
            &url,
            "--hazmat-raw-keys-in-postgres",
        ]);
        let before = format!("{given:?}");
        let chosen = VaultChoice::from_flags(given).unwrap();
        let debug = format!("{before} {chosen:?}");
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
            let read = PinSource::File(file.clone()).read();
            assert_eq!(read.is_ok(), ok, "{mode:o}");
            if let Err(err) = read {
                assert!(
                    matches!(err, OpenError::PinFileOpenToOthers { .. }),
                    "{err:?}"
                );
                assert!(err.to_string().contains("chmod 600"), "{err}");
            }
        }
        for unusable in [dir.path().to_owned(), PathBuf::from("/dev/zero")] {
            let err = PinSource::File(unusable.clone()).read().unwrap_err();
            assert!(
                matches!(err, OpenError::PinFileUnusable { .. }),
                "{unusable:?}: {err:?}"
            );
        }
        let large = dir.path().join("large");
        fs::write(&large, vec![b'1'; (1 << 20) + 1]).unwrap();
        fs::set_permissions(&large, fs::Permissions::from_mode(0o600)).unwrap();
        let err = PinSource::File(large).read().unwrap_err();
        assert!(matches!(err, OpenError::PinFileUnusable { .. }), "{err:?}");
        let missing = PinSource::File(dir.path().join("missing"))
            .read()
            .unwrap_err();
        assert!(matches!(missing, OpenError::PinFileUnreadable { .. }));
        assert!(missing.to_string().contains("PIN file"), "{missing}");
        fs::write(&file, "").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        let empty = PinSource::File(file).read().unwrap_err();
        assert!(matches!(empty, OpenError::PinFile { .. }), "{empty:?}");
    }

    #[test]
    fn a_pin_from_an_unset_or_empty_variable_is_refused() {
        // A name no test sets; reading an unset variable is the refusal to check.
        let err = PinSource::Env("AUTOCSR_TEST_NEVER_SET_PIN".to_owned())
            .read()
            .unwrap_err();
        assert!(matches!(err, OpenError::PinEnv { .. }), "{err:?}");
        assert!(err.to_string().contains("--hsm-pin-env"), "{err}");
    }
}
