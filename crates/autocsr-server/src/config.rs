//! The command line and environment (clap), and the settings checked from them before the
//! server binds anything.

use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::Duration;

use autocsr::private_dir::PrivateDirError;
use autocsr::shared_vault::{VaultChoice, VaultFlags};
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::Error;
use crate::limiter::Rate;
use crate::link::MAX_LINK_LIFETIME;
use crate::secrets::{self, HmacKey, StaffTokens};

/// File name of the generated staff tokens file in the data directory.
pub const DEFAULT_TOKENS_FILE: &str = "staff-tokens";
/// File name of the generated link key in the data directory.
pub const DEFAULT_LINK_KEY_FILE: &str = "link-key";

/// `autocsr-server`: the order page and staff API.
#[derive(Debug, Parser)]
#[command(
    name = "autocsr-server",
    version,
    about = "The AutoCSR order page and staff API",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
#[non_exhaustive]
pub struct Cli {
    /// The server's settings (when no subcommand is given).
    #[command(flatten)]
    pub serve: ServeArgs,
    /// A helper command instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Helper commands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Print a signed order-page link (what the portal does; for operators and tests).
    SignLink(SignLinkArgs),
}

/// `sign-link` arguments.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct SignLinkArgs {
    /// The file holding the link key (the server's `--link-key-file`).
    #[arg(long, env = "AUTOCSR_LINK_KEY_FILE")]
    pub link_key_file: PathBuf,
    /// The server's public URL.
    #[arg(long, env = "AUTOCSR_PUBLIC_URL")]
    pub base_url: String,
    /// How long the link lives (at most 24h).
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub lifetime: Duration,
    /// The order id.
    pub order_id: String,
}

/// The server's flags; every one can also come from the environment variable shown.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct ServeArgs {
    /// Directory for the vault (SQLite), the archives and generated secrets (mode 0700).
    #[arg(long, env = "AUTOCSR_DATA_DIR", required = true)]
    pub data_dir: Option<PathBuf>,

    /// The vault's PostgreSQL database (a postgres:// or postgresql:// URL) instead of the
    /// SQLite vault in DATA_DIR, so several instances share one vault. Prefer the
    /// environment variable: a command line is visible to other users. Needs the --hsm-*
    /// settings.
    #[arg(
        long = "vault",
        value_name = "URL",
        env = "AUTOCSR_VAULT_URL",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub vault_url: Option<SecretString>,

    /// Another database (or role) for the vault's record keys [default: the --vault URL].
    #[arg(
        long = "vault-keys",
        value_name = "URL",
        env = "AUTOCSR_VAULT_KEYS_URL",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub vault_keys_url: Option<SecretString>,

    /// The HSM's PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so).
    #[arg(long, env = "AUTOCSR_HSM_MODULE")]
    pub hsm_module: Option<PathBuf>,

    /// The label of the HSM token holding the wrapping keys.
    #[arg(long, env = "AUTOCSR_HSM_TOKEN")]
    pub hsm_token: Option<String>,

    /// A file holding the token's user PIN (mode 0600 or stricter; one trailing newline is
    /// ignored). There is no PIN flag: a command line is visible to other users.
    #[arg(long, env = "AUTOCSR_HSM_PIN_FILE")]
    pub hsm_pin_file: Option<PathBuf>,

    /// The name of an environment variable holding the token's user PIN (instead of
    /// --hsm-pin-file, for a secret store that hands secrets over in the environment).
    #[arg(long, value_name = "NAME", env = "AUTOCSR_HSM_PIN_ENV")]
    pub hsm_pin_env: Option<String>,

    /// HAZMAT: keep the record keys unwrapped in PostgreSQL, without an HSM: revoke and
    /// purge then shred nothing (backups still decrypt the codes). For tests only.
    #[arg(long)]
    pub hazmat_raw_keys_in_postgres: bool,

    /// Address to listen on (port 0 picks a free port; the log says which).
    #[arg(long, env = "AUTOCSR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The URL customers and the portal reach this server at (for the archive URLs the API
    /// returns). Defaults to http://LISTEN.
    #[arg(long, env = "AUTOCSR_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Staff bearer tokens, one per line (mode 0600). Default: DATA_DIR/staff-tokens,
    /// created with one random token on first start.
    #[arg(long, env = "AUTOCSR_STAFF_TOKENS_FILE")]
    pub staff_tokens_file: Option<PathBuf>,

    /// The key the portal signs order-page links with (mode 0600, at least 32 bytes).
    /// Default: DATA_DIR/link-key, created at random on first start.
    #[arg(long, env = "AUTOCSR_LINK_KEY_FILE")]
    pub link_key_file: Option<PathBuf>,

    /// The longest lifetime of a signed link accepted (at most 24h).
    #[arg(long, env = "AUTOCSR_LINK_LIFETIME", default_value = "15m", value_parser = humantime::parse_duration)]
    pub link_lifetime: Duration,

    /// The reveal window of orders that do not give one (1s to 366 days).
    #[arg(long, env = "AUTOCSR_REVEAL_WINDOW", default_value = "7days", value_parser = humantime::parse_duration)]
    pub reveal_window: Duration,

    /// Most reveals per order (enforced in the vault); unlimited when not given.
    #[arg(long, env = "AUTOCSR_MAX_REVEALS")]
    pub max_reveals: Option<NonZeroU64>,

    /// How often the purge runs (expired codes and their archives).
    #[arg(long, env = "AUTOCSR_PURGE_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub purge_interval: Duration,

    /// Where archives are kept (may be shared by several instances). Default:
    /// DATA_DIR/archives.
    #[arg(long, env = "AUTOCSR_ARCHIVE_DIR")]
    pub archive_dir: Option<PathBuf>,

    /// Orders made at once (key generation is CPU work; more wait their turn, so the
    /// order page keeps its share of the machine). Default: twice the CPUs.
    #[arg(long, env = "AUTOCSR_MAX_CONCURRENT_ORDERS")]
    pub max_concurrent_orders: Option<std::num::NonZeroUsize>,

    /// Threads for the requests' vault calls (page, reveal, status, revoke, archive);
    /// more calls wait in one queue. Default with SQLite: the CPUs, at least 2 (its one
    /// connection serves one call at a time, so more threads only queue on its lock).
    /// Default with PostgreSQL: 16 (each call waits on the network; the record and key
    /// stores pool 8 connections each).
    #[arg(long, env = "AUTOCSR_VAULT_THREADS")]
    pub vault_threads: Option<std::num::NonZeroUsize>,

    /// Largest request body accepted, in bytes (larger: 413).
    #[arg(long, env = "AUTOCSR_MAX_BODY_BYTES", default_value_t = 65_536)]
    pub max_body_bytes: usize,

    /// Order-page requests (page, archive, CSR check) per client per minute.
    #[arg(long, env = "AUTOCSR_PAGE_RATE", default_value_t = 60)]
    pub page_rate: u32,

    /// Reveal requests per client per minute.
    #[arg(long, env = "AUTOCSR_REVEAL_RATE", default_value_t = 10)]
    pub reveal_rate: u32,

    /// Take the client address from this header (set it only behind a reverse proxy that
    /// overwrites the header, e.g. X-Real-IP); otherwise the peer address is used.
    #[arg(long, env = "AUTOCSR_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,

    /// The portal's webhook URL for "code never revealed, expiring soon" reminders
    /// (https://, or http:// on the same host or a private network).
    #[arg(long, env = "AUTOCSR_REMINDER_WEBHOOK_URL")]
    pub reminder_webhook_url: Option<String>,

    /// PEM CA certificates that the https:// webhook's certificate must chain to, instead
    /// of the system's (a portal with a private CA). Others may read it, but not change it.
    #[arg(long, env = "AUTOCSR_REMINDER_WEBHOOK_CA_FILE")]
    pub reminder_webhook_ca_file: Option<PathBuf>,

    /// The key that signs reminder webhook bodies (mode 0600, at least 32 bytes); needed
    /// with --reminder-webhook-url.
    #[arg(long, env = "AUTOCSR_REMINDER_WEBHOOK_SECRET_FILE")]
    pub reminder_webhook_secret_file: Option<PathBuf>,

    /// Remind this long before the expiry.
    #[arg(long, env = "AUTOCSR_REMINDER_LEAD", default_value = "48h", value_parser = humantime::parse_duration)]
    pub reminder_lead: Duration,

    /// How often the reminder job looks for codes to remind of.
    #[arg(long, env = "AUTOCSR_REMINDER_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub reminder_interval: Duration,

    /// Log level: error, warn, info or debug.
    #[arg(long, env = "AUTOCSR_LOG", default_value = "info")]
    pub log: tracing::Level,
}

fn parse_secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text))
}

/// Where the reminders go.
#[derive(Debug)]
#[non_exhaustive]
pub struct WebhookSettings {
    /// `https://host:port/path` or `http://host:port/path`.
    pub url: String,
    /// The CAs an `https://` URL's certificate must chain to; `None`: the system's.
    pub ca_file: Option<PathBuf>,
    /// Signs each body.
    pub secret: HmacKey,
    /// How long before the expiry to remind.
    pub lead: Duration,
    /// How often to look.
    pub interval: Duration,
}

/// Checked settings.
#[derive(Debug)]
#[non_exhaustive]
pub struct Settings {
    /// The data directory (exists, mode 0700).
    pub data_dir: PathBuf,
    /// The archive directory.
    pub archive_dir: PathBuf,
    /// The vault (checked; opened by [`crate::serve`]).
    pub vault: VaultChoice,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The public URL, without a trailing `/` (None: `http://` and the bound address).
    pub public_url: Option<String>,
    /// Staff bearer tokens.
    pub staff_tokens: StaffTokens,
    /// The link-signing key.
    pub link_key: HmacKey,
    /// Longest link lifetime.
    pub link_lifetime: Duration,
    /// Default reveal window.
    pub reveal_window: Duration,
    /// Most reveals per order.
    pub max_reveals: Option<NonZeroU64>,
    /// Purge interval.
    pub purge_interval: Duration,
    /// Orders made at once.
    pub max_concurrent_orders: usize,
    /// Threads for the requests' vault calls.
    pub vault_threads: std::num::NonZeroUsize,
    /// Body limit.
    pub max_body_bytes: usize,
    /// Order-page rate.
    pub page_rate: Rate,
    /// Reveal rate.
    pub reveal_rate: Rate,
    /// Client address header.
    pub client_ip_header: Option<axum::http::HeaderName>,
    /// The reminder webhook, if configured.
    pub webhook: Option<WebhookSettings>,
}

/// The shortest purge or reminder interval accepted.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

impl Settings {
    /// Checks the flags, prepares the data directory and reads the secret files. Creates
    /// the default secret files (random, mode 0600) when they do not exist yet; an
    /// explicitly named file must exist.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the flag, [`Error::OpenToOthers`] for a data
    /// directory or secret file other users can reach, [`Error::BadSecret`], [`Error::Io`].
    pub fn from_args(args: ServeArgs) -> Result<Settings, Error> {
        let data_dir = args
            .data_dir
            .filter(|dir| !dir.as_os_str().is_empty())
            .ok_or_else(|| Error::InvalidSetting("--data-dir is required".to_owned()))?;
        if args.link_lifetime.is_zero() || args.link_lifetime > MAX_LINK_LIFETIME {
            return Err(Error::InvalidSetting(
                "--link-lifetime must be more than zero and at most 24h".to_owned(),
            ));
        }
        autocsr::check_reveal_window(args.reveal_window)
            .map_err(|err| Error::InvalidSetting(format!("--reveal-window: {err}")))?;
        if args.purge_interval < MIN_INTERVAL || args.reminder_interval < MIN_INTERVAL {
            return Err(Error::InvalidSetting(
                "--purge-interval and --reminder-interval must be at least 1s".to_owned(),
            ));
        }
        if args.max_body_bytes < 1024 {
            return Err(Error::InvalidSetting(
                "--max-body-bytes must be at least 1024".to_owned(),
            ));
        }
        if args.page_rate == 0 || args.reveal_rate == 0 {
            return Err(Error::InvalidSetting(
                "--page-rate and --reveal-rate must be at least 1".to_owned(),
            ));
        }
        let public_url = args
            .public_url
            .map(|url| check_http_url(&url, "--public-url"))
            .transpose()?;
        let client_ip_header = args
            .client_ip_header
            .map(|name| {
                axum::http::HeaderName::try_from(name.as_str()).map_err(|_| {
                    Error::InvalidSetting("--client-ip-header is not a header name".to_owned())
                })
            })
            .transpose()?;

        let vault = vault_choice(
            args.vault_url,
            args.vault_keys_url,
            args.hsm_module,
            args.hsm_token,
            args.hsm_pin_file,
            args.hsm_pin_env,
            args.hazmat_raw_keys_in_postgres,
        )?;
        prepare_data_dir(&data_dir)?;
        let staff_tokens = match args.staff_tokens_file {
            Some(path) => StaffTokens::from_file(&path)?,
            None => {
                let path = data_dir.join(DEFAULT_TOKENS_FILE);
                create_default(&path, |token| {
                    format!("# Staff API bearer tokens, one per line.\n{token}\n")
                })?;
                StaffTokens::from_file(&path)?
            }
        };
        let link_key = match args.link_key_file {
            Some(path) => HmacKey::from_file(&path)?,
            None => {
                let path = data_dir.join(DEFAULT_LINK_KEY_FILE);
                create_default(&path, |key| format!("{key}\n"))?;
                HmacKey::from_file(&path)?
            }
        };
        if args.reminder_webhook_url.is_none() && args.reminder_webhook_ca_file.is_some() {
            return Err(Error::InvalidSetting(
                "--reminder-webhook-ca-file needs --reminder-webhook-url".to_owned(),
            ));
        }
        let webhook = match (args.reminder_webhook_url, args.reminder_webhook_secret_file) {
            (None, None) => None,
            (Some(url), Some(secret)) => {
                if args.reminder_lead.is_zero() {
                    return Err(Error::InvalidSetting(
                        "--reminder-lead must be more than zero".to_owned(),
                    ));
                }
                Some(WebhookSettings {
                    url: check_http_url(&url, "--reminder-webhook-url")?,
                    ca_file: args.reminder_webhook_ca_file,
                    secret: HmacKey::from_file(&secret)?,
                    lead: args.reminder_lead,
                    interval: args.reminder_interval,
                })
            }
            _ => {
                return Err(Error::InvalidSetting(
                    "--reminder-webhook-url and --reminder-webhook-secret-file go together"
                        .to_owned(),
                ));
            }
        };
        let archive_dir = args
            .archive_dir
            .unwrap_or_else(|| data_dir.join("archives"));
        let vault_threads = args
            .vault_threads
            .unwrap_or_else(|| default_vault_threads(&vault));
        let minute = Duration::from_secs(60);
        Ok(Settings {
            data_dir,
            archive_dir,
            vault,
            listen: args.listen,
            public_url,
            staff_tokens,
            link_key,
            link_lifetime: args.link_lifetime,
            reveal_window: args.reveal_window,
            max_reveals: args.max_reveals,
            purge_interval: args.purge_interval,
            max_concurrent_orders: args
                .max_concurrent_orders
                .map_or_else(twice_the_cpus, std::num::NonZeroUsize::get),
            vault_threads,
            max_body_bytes: args.max_body_bytes,
            page_rate: Rate {
                burst: args.page_rate,
                period: minute,
            },
            reveal_rate: Rate {
                burst: args.reveal_rate,
                period: minute,
            },
            client_ip_header,
            webhook,
        })
    }
}

/// Twice the CPUs this process may use (2 when that is unknown).
fn twice_the_cpus() -> usize {
    std::thread::available_parallelism()
        .map_or(2, std::num::NonZeroUsize::get)
        .saturating_mul(2)
}

/// `--vault-threads` when it is not given.
fn default_vault_threads(vault: &VaultChoice) -> std::num::NonZeroUsize {
    match vault {
        VaultChoice::Sqlite => std::thread::available_parallelism()
            .unwrap_or(std::num::NonZeroUsize::MIN)
            .max(TWO),
        VaultChoice::Postgres(_) => POSTGRES_VAULT_THREADS,
    }
}

/// At least two vault threads with SQLite: one call waiting for a commit's flush to disk
/// does not hold up the rest.
const TWO: std::num::NonZeroUsize = nonzero(2);

/// The default `--vault-threads` with PostgreSQL: the record and key stores' pools hold 8
/// connections each.
const POSTGRES_VAULT_THREADS: std::num::NonZeroUsize = nonzero(16);

const fn nonzero(count: usize) -> std::num::NonZeroUsize {
    match std::num::NonZeroUsize::new(count) {
        Some(count) => count,
        None => std::num::NonZeroUsize::MIN,
    }
}

/// The vault flags, mapped into the model `autocsr` shares with the `autocsr` command and
/// checked there; opens and reads nothing. No message quotes a URL (it may hold a
/// password). The PIN file's permissions are checked when the vault is opened.
fn vault_choice(
    url: Option<SecretString>,
    keys_url: Option<SecretString>,
    module: Option<PathBuf>,
    token: Option<String>,
    pin_file: Option<PathBuf>,
    pin_env: Option<String>,
    hazmat: bool,
) -> Result<VaultChoice, Error> {
    let mut flags = VaultFlags::default();
    flags.url = url;
    flags.keys_url = keys_url;
    flags.hsm_module = module;
    flags.hsm_token = token;
    flags.hsm_pin_file = pin_file;
    flags.hsm_pin_env = pin_env;
    flags.hazmat_raw_keys_in_postgres = hazmat;
    VaultChoice::from_flags(flags).map_err(|err| Error::InvalidSetting(err.to_string()))
}

/// `http://` or `https://`, with a host, and no query or fragment; the trailing `/` is
/// dropped.
fn check_http_url(url: &str, flag: &str) -> Result<String, Error> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let ok = rest.is_some_and(|rest| {
        !rest.is_empty()
            && !rest.starts_with('/')
            && !rest.contains(['?', '#', ' ', '"', '<', '>', '\\'])
            && rest.is_ascii()
    });
    if !ok {
        return Err(Error::InvalidSetting(format!(
            "{flag} must be an absolute http:// or https:// URL without query or fragment"
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Creates `dir` mode 0700 if missing, and refuses one that other users can reach.
fn prepare_data_dir(dir: &Path) -> Result<(), Error> {
    autocsr::private_dir::prepare(dir).map_err(|err| match err {
        PrivateDirError::OpenToOthers { mode } => Error::OpenToOthers {
            path: dir.to_owned(),
            mode,
            wanted: 0o700,
        },
        PrivateDirError::NotDirectory => {
            Error::InvalidSetting(format!("--data-dir {} is not a directory", dir.display()))
        }
        PrivateDirError::Io(source) => Error::io(dir, source),
        other => Error::io(dir, std::io::Error::other(other)),
    })
}

fn create_default(path: &Path, contents: impl Fn(&str) -> String) -> Result<(), Error> {
    if path.exists() {
        return Ok(());
    }
    let secret = secrets::random_hex_secret()?;
    let text = zeroize::Zeroizing::new(contents(&secret));
    match secrets::create_private_file(path, &text) {
        // Another instance created it first: use that one.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(())
        }
        other => {
            if other.is_ok() {
                tracing::info!(path = %path.display(), "created a secret file");
            }
            other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The same table as the `autocsr` command's
    /// `the_same_bad_vault_settings_are_refused_as_usage_errors`: each combination is
    /// refused with the sentence of the model both binaries share.
    #[test]
    fn the_same_bad_vault_settings_are_refused() {
        const PASSWORD: &str = "Sup3r-Secret-Pw";
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let url = format!("postgresql://app:{PASSWORD}@db.example/vault");
        let cases = autocsr::shared_vault::refused_flag_combinations(&url);
        for (given, expected) in cases {
            let given: Vec<&str> = given.iter().map(String::as_str).collect();
            let mut argv = vec!["autocsr-server", "--data-dir", data.to_str().unwrap()];
            argv.extend_from_slice(&given);
            let args = Cli::try_parse_from(argv).unwrap().serve;
            let Err(Error::InvalidSetting(message)) = Settings::from_args(args) else {
                panic!("{given:?} was not refused as an invalid setting");
            };
            assert_eq!(message, expected.to_string(), "{given:?}");
            assert!(!message.contains(PASSWORD));
        }
    }

    #[test]
    fn vault_threads_default_to_the_cpus_with_sqlite_and_zero_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let settings = |extra: &[&str]| {
            let mut argv = vec!["autocsr-server", "--data-dir", data.to_str().unwrap()];
            argv.extend_from_slice(extra);
            Cli::try_parse_from(argv).map(|cli| Settings::from_args(cli.serve).unwrap())
        };
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(settings(&[]).unwrap().vault_threads.get(), cpus.max(2));
        let given = settings(&["--vault-threads", "7"]).unwrap();
        assert_eq!(given.vault_threads.get(), 7);
        assert!(settings(&["--vault-threads", "0"]).is_err());
    }

    #[test]
    fn urls_are_checked() {
        assert_eq!(
            check_http_url("https://x.example/", "--f").unwrap(),
            "https://x.example"
        );
        assert_eq!(
            check_http_url("http://127.0.0.1:9/hook", "--f").unwrap(),
            "http://127.0.0.1:9/hook"
        );
        assert!(check_http_url("ftp://x", "--f").is_err());
        assert!(check_http_url("http://", "--f").is_err());
        assert!(check_http_url("https:///x", "--f").is_err());
        assert!(check_http_url("http://x/?a", "--f").is_err());
    }
}
