//! The command-line interface, exactly as documented in the README (a contract: scripts
//! depend on these names).

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

/// AutoCSR: a fresh key and CSR for a TLS certificate order, sealed in an AES archive whose
/// unlock code is revealed only for a limited window and never kept afterwards.
// `Debug` is derived all the way down: the one secret on a command line, `open --code`,
// is a `SecretString`, whose `Debug` is redacted.
#[derive(Debug, Parser)]
#[command(name = "autocsr", version, propagate_version = true)]
pub(crate) struct Cli {
    /// Directory holding the vault [default: $AUTOCSR_DATA_DIR, else the platform data
    /// directory]. Created mode 0700 on first use.
    #[arg(long, global = true, value_name = "DIR", env = "AUTOCSR_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,

    /// Print exactly one JSON object on stdout (errors too) and nothing else there.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) vault: VaultArgs,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the vault lives when it is not the SQLite vault in the data directory: a shared
/// PostgreSQL database, with its record keys wrapped by keys held in an HSM (PKCS#11).
/// The values of the URL variables are never shown in `--help`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Shared vault (PostgreSQL + HSM)")]
pub(crate) struct VaultArgs {
    /// The vault's PostgreSQL database, a postgres:// or postgresql:// URL [default: the
    /// SQLite vault in the data directory]. Prefer the environment variable to the flag:
    /// a command line is visible to other users. Needs the --hsm-* settings.
    #[arg(
        long = "vault",
        global = true,
        value_name = "URL",
        env = "AUTOCSR_VAULT_URL",
        hide_env_values = true,
        value_parser = parse_url
    )]
    pub(crate) url: Option<SecretUrl>,

    /// Another database (or role) for the vault's record keys [default: the --vault URL].
    #[arg(
        long = "vault-keys",
        global = true,
        value_name = "URL",
        env = "AUTOCSR_VAULT_KEYS_URL",
        hide_env_values = true,
        value_parser = parse_url
    )]
    pub(crate) keys_url: Option<SecretUrl>,

    /// The HSM's PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so).
    #[arg(long, global = true, value_name = "PATH", env = "AUTOCSR_HSM_MODULE")]
    pub(crate) hsm_module: Option<PathBuf>,

    /// The label of the HSM token holding the wrapping keys.
    #[arg(long, global = true, value_name = "LABEL", env = "AUTOCSR_HSM_TOKEN")]
    pub(crate) hsm_token: Option<String>,

    /// A file holding the token's user PIN (mode 0600 or stricter; one trailing newline
    /// is ignored). There is no PIN flag: a command line is visible to other users.
    #[arg(long, global = true, value_name = "FILE", env = "AUTOCSR_HSM_PIN_FILE")]
    pub(crate) hsm_pin_file: Option<PathBuf>,

    /// The name of an environment variable holding the token's user PIN.
    #[arg(long, global = true, value_name = "NAME", env = "AUTOCSR_HSM_PIN_ENV")]
    pub(crate) hsm_pin_env: Option<String>,

    /// HAZMAT: keep the record keys unwrapped in PostgreSQL, without an HSM. Revoke and
    /// purge then shred nothing: every database backup, WAL archive and replica taken
    /// before them still decrypts the codes. For tests only.
    #[arg(long, global = true)]
    pub(crate) hazmat_raw_keys_in_postgres: bool,
}

/// A database URL, which may hold a password: its `Debug` shows nothing of it, and clap
/// never quotes it in an error (its parser accepts any text; the URL is checked later,
/// by code that never prints it).
#[derive(Clone)]
pub(crate) struct SecretUrl(SecretString);

impl SecretUrl {
    /// A copy for the shared vault settings (still a secrecy type).
    pub(crate) fn secret(&self) -> SecretString {
        self.0.clone()
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretUrl([REDACTED])")
    }
}

pub(crate) fn parse_url(text: &str) -> Result<SecretUrl, std::convert::Infallible> {
    Ok(SecretUrl(SecretString::from(text)))
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Make a key and CSR, seal them in an encrypted archive, and store its unlock code.
    Order(OrderArgs),
    /// Show an order's unlock code and when it expires (counts as a reveal).
    Reveal(OrderIdArg),
    /// Show an order's state, expiry and reveal count (never the code).
    Status(OrderIdArg),
    /// Destroy an order's unlock code now.
    Revoke(OrderIdArg),
    /// Destroy every expired record and its key.
    Purge,
    /// Judge a customer's CSR (PEM or DER) against the Baseline Requirements.
    CheckCsr(CheckCsrArgs),
    /// Open an archive with its unlock code and extract it safely (the customer side).
    Open(OpenArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("location").args(["locality", "state"]).multiple(true)))]
pub(crate) struct OrderArgs {
    /// The certificate's main name: the first subjectAltName, and the subject common name
    /// unless it is longer than 64 characters.
    #[arg(long, value_name = "NAME")]
    pub(crate) domain: String,

    /// Another subjectAltName (DNS name or IP address); repeat for more.
    #[arg(long = "san", value_name = "NAME")]
    pub(crate) sans: Vec<String>,

    /// Key algorithm.
    #[arg(long, value_enum, default_value_t = KeyArg::Rsa2048)]
    pub(crate) key: KeyArg,

    /// Archive format: zip (WinZip AES-256) or 7z (AES-256, names hidden).
    #[arg(long, value_enum, default_value_t = FormatArg::Zip)]
    pub(crate) format: FormatArg,

    /// Subject organizationName; needs --country and --locality or --state too (BR
    /// 7.1.2.7.4).
    #[arg(long, value_name = "ORG", requires_all = ["location", "country"])]
    pub(crate) org: Option<String>,

    /// Subject localityName (the organization's city).
    #[arg(long, value_name = "CITY")]
    pub(crate) locality: Option<String>,

    /// Subject stateOrProvinceName (the organization's state or province).
    #[arg(long, value_name = "STATE")]
    pub(crate) state: Option<String>,

    /// Subject countryName (two letters, e.g. DE).
    #[arg(long, value_name = "CC")]
    pub(crate) country: Option<String>,

    /// How long the unlock code may be revealed (humantime: 7d, 12h, 90s, ...): whole
    /// seconds, from 1s to 366d.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_window)]
    pub(crate) reveal_window: Duration,

    /// Directory for `<order-id>.zip|.7z` and `<order-id>.csr` (never overwritten).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct OrderIdArg {
    /// The order id printed by `autocsr order`.
    #[arg(value_name = "ORDER_ID")]
    pub(crate) order_id: String,
}

#[derive(Debug, Args)]
pub(crate) struct CheckCsrArgs {
    /// The CSR file (PEM or DER), or `-` for stdin.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,

    /// A Debian weak-key list in openssl-blacklist format (e.g. `blacklist.RSA-2048` from
    /// the openssl-blacklist package); repeat for several key sizes.
    #[arg(long = "weak-keys", value_name = "LIST")]
    pub(crate) weak_keys: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct OpenArgs {
    /// The archive (.zip or .7z) made by `autocsr order`.
    #[arg(value_name = "ARCHIVE")]
    pub(crate) archive: PathBuf,

    /// The unlock code from the order page. Without it the code is asked for without echo
    /// (on a terminal) or read as one line from stdin. Prefer those: a command line is
    /// visible to other users of the machine.
    #[arg(long, value_name = "CODE", value_parser = parse_secret)]
    pub(crate) code: Option<SecretString>,

    /// Where to extract [default: a new directory named after the archive, next to it].
    /// Existing files are never overwritten.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

/// Key algorithms, named as in `autocsr_keygen::KeyAlgorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeyArg {
    /// RSA 2048-bit (e = 65537).
    Rsa2048,
    /// RSA 3072-bit.
    Rsa3072,
    /// RSA 4096-bit (slow: seconds).
    Rsa4096,
    /// ECDSA P-256.
    P256,
    /// ECDSA P-384.
    P384,
}

impl KeyArg {
    pub(crate) fn algorithm(self) -> autocsr::keygen::KeyAlgorithm {
        use autocsr::keygen::KeyAlgorithm;
        match self {
            KeyArg::Rsa2048 => KeyAlgorithm::Rsa2048,
            KeyArg::Rsa3072 => KeyAlgorithm::Rsa3072,
            KeyArg::Rsa4096 => KeyAlgorithm::Rsa4096,
            KeyArg::P256 => KeyAlgorithm::EcdsaP256,
            KeyArg::P384 => KeyAlgorithm::EcdsaP384,
        }
    }

    /// Key generation slow enough to deserve a spinner.
    pub(crate) fn is_slow(self) -> bool {
        matches!(self, KeyArg::Rsa3072 | KeyArg::Rsa4096)
    }
}

/// Archive formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    /// ZIP with WinZip AES-256.
    Zip,
    /// 7z with AES-256 and encrypted headers.
    #[value(name = "7z")]
    SevenZ,
}

impl FormatArg {
    pub(crate) fn format(self) -> autocsr::archive::ArchiveFormat {
        match self {
            FormatArg::Zip => autocsr::archive::ArchiveFormat::Zip,
            FormatArg::SevenZ => autocsr::archive::ArchiveFormat::SevenZ,
        }
    }
}

/// A humantime duration inside the pipeline's bounds, checked here so that an impossible
/// window is a usage error (exit 2) before anything is created.
fn parse_window(text: &str) -> Result<Duration, String> {
    let window = humantime::parse_duration(text).map_err(|err| err.to_string())?;
    autocsr::check_reveal_window(window).map_err(|err| match err {
        autocsr::Error::InvalidRequest(reason) => reason.to_owned(),
        other => other.to_string(),
    })?;
    Ok(window)
}

/// Straight into a `SecretString`, so no `Debug` of the parsed command line shows it.
fn parse_secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn order_defaults_match_the_contract() {
        let cli = Cli::try_parse_from(["autocsr", "order", "--domain", "example.com"]).unwrap();
        let Command::Order(order) = cli.command else {
            panic!("not an order");
        };
        assert_eq!(order.key, KeyArg::Rsa2048);
        assert_eq!(order.format, FormatArg::Zip);
        assert_eq!(order.reveal_window, Duration::from_secs(7 * 86_400));
        assert_eq!(order.out, PathBuf::from("."));
        assert!(order.sans.is_empty());
    }

    #[test]
    fn every_option_parses() {
        let cli = Cli::try_parse_from([
            "autocsr",
            "--json",
            "order",
            "--domain",
            "example.com",
            "--san",
            "www.example.com",
            "--san",
            "192.0.2.1",
            "--key",
            "p384",
            "--format",
            "7z",
            "--org",
            "Example Ltd",
            "--locality",
            "Berlin",
            "--state",
            "Berlin",
            "--country",
            "DE",
            "--reveal-window",
            "2s",
            "--out",
            "/x",
            "--data-dir",
            "/d",
        ])
        .unwrap();
        assert!(cli.json);
        assert_eq!(cli.data_dir, Some(PathBuf::from("/d")));
        let Command::Order(order) = cli.command else {
            panic!("not an order");
        };
        assert_eq!(order.sans, ["www.example.com", "192.0.2.1"]);
        assert_eq!(order.key, KeyArg::P384);
        assert_eq!(order.format, FormatArg::SevenZ);
        assert_eq!(order.reveal_window, Duration::from_secs(2));
    }

    #[test]
    fn zero_and_garbage_windows_are_usage_errors() {
        for window in [
            "0s",
            "soon",
            "-1d",
            "1ns",
            "999ms",
            "1500ms",
            "367d",
            "7974y",
            "1000000000y",
        ] {
            let err = Cli::try_parse_from([
                "autocsr",
                "order",
                "--domain",
                "example.com",
                "--reveal-window",
                window,
            ])
            .unwrap_err();
            assert_eq!(err.exit_code(), 2, "{window}");
        }
    }

    #[test]
    fn windows_from_one_second_to_366_days_parse() {
        for (text, seconds) in [
            ("1s", 1),
            ("90s", 90),
            ("7d", 7 * 86_400),
            ("366d", 366 * 86_400),
        ] {
            assert_eq!(
                parse_window(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
        }
    }

    /// `Cli` derives `Debug` (a log line or a panic message may print it): the code given
    /// with `--code` must not be in it.
    #[test]
    fn debug_of_the_command_line_never_shows_the_code() {
        let code = "QQF3A-Y53W6-F3X5Y-QXCE8-A8M1G-G7Y";
        let cli = Cli::try_parse_from(["autocsr", "open", "a.zip", "--code", code]).unwrap();
        let debug = format!("{cli:?}");
        assert!(!debug.contains(code), "{debug}");
        assert!(!debug.contains("QQF3A"), "{debug}");
        let Command::Open(open) = &cli.command else {
            panic!("not open");
        };
        use secrecy::ExposeSecret as _;
        assert_eq!(open.code.as_ref().unwrap().expose_secret(), code);
    }

    #[test]
    fn an_organization_without_a_locality_or_state_is_a_usage_error() {
        let order = |extra: &[&str]| {
            let mut args = vec!["autocsr", "order", "--domain", "example.com"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args)
        };
        for incomplete in [
            &["--org", "Example Ltd", "--country", "DE"][..],
            &["--org", "Example Ltd", "--locality", "Berlin"],
            &["--org", "Example Ltd"],
        ] {
            let err = order(incomplete).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{incomplete:?}");
        }
        for location in [
            &["--locality", "Berlin"][..],
            &["--state", "Berlin"],
            &["--locality", "Munich", "--state", "Bavaria"],
        ] {
            let mut args = vec!["--org", "Example Ltd", "--country", "DE"];
            args.extend_from_slice(location);
            let cli = order(&args).unwrap();
            let Command::Order(order) = cli.command else {
                panic!("not an order");
            };
            assert_eq!(order.org.as_deref(), Some("Example Ltd"));
            assert!(order.locality.is_some() || order.state.is_some());
        }
        // A locality or state alone is not refused here.
        order(&["--state", "Bavaria"]).unwrap();
    }

    #[test]
    fn unknown_key_types_are_usage_errors() {
        let err =
            Cli::try_parse_from(["autocsr", "order", "--domain", "a.com", "--key", "ed25519"])
                .unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
