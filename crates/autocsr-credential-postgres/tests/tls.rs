//! TLS against real servers (private clusters listening on loopback TCP, certificates made
//! by `openssl`): a verified connection passes the conformance suite; a wrong CA, a wrong
//! host name, a server without TLS and an unknown `sslmode` are refused with typed errors
//! that never show the URL's password.

#![cfg(feature = "tls")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "test helpers outside #[test] fns: a failure should abort the test"
)]

use std::sync::Arc;
use std::time::Duration;

use autocsr_credential::conformance::{self, Harness, Stores};
use autocsr_credential::{Error, Vault};
use autocsr_credential_postgres::{
    KeyProtection, Options, PgError, PgErrorKind, PostgresKeyStore, PostgresRecordStore,
};
use autocsr_interop::{PrivateCluster, Tcp};

const PASSWORD: &str = "tls-test-Secret-1234";

fn percent(path: &std::path::Path) -> String {
    path.display().to_string().replace('/', "%2F")
}

/// The cluster's TCP URL with a password (which trust ignores) and `params` added.
fn url_with(cluster: &PrivateCluster, params: &str) -> String {
    cluster
        .tcp_url()
        .unwrap()
        .replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1)
        + "&"
        + params
}

fn options(schema: &str) -> Options {
    let mut options = Options::default();
    options.schema = schema.to_owned();
    options.connect_timeout = Duration::from_secs(5);
    options
}

fn pg_error(error: &Error) -> &PgError {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<PgError>())
        .unwrap_or_else(|| panic!("not a PgError: {error:?}"))
}

/// Connecting must fail as `kind`, quickly, and without the password anywhere.
fn refused(url: &str, tls_root_cert: Option<&std::path::Path>, kind: PgErrorKind) -> String {
    let mut options = options("refused");
    options.tls_root_cert = tls_root_cert.map(std::path::Path::to_path_buf);
    let error = PostgresRecordStore::connect_with(url, &options).unwrap_err();
    let shown = format!("{error} / {error:?}");
    assert!(!shown.contains(PASSWORD), "the password leaked: {shown}");
    assert_eq!(pg_error(&error).kind(), kind, "{shown}");
    shown
}

struct TlsHarness {
    url: String,
}

impl Harness for TlsHarness {
    fn fresh(&self) -> Result<Stores, Error> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let records = PostgresRecordStore::connect_with(&self.url, &options(&format!("r{n}")))?;
        let keys = PostgresKeyStore::connect_with(
            &self.url,
            KeyProtection::HazmatRawKeys,
            &options(&format!("k{n}")),
        )?;
        Ok(Stores {
            records: Arc::new(records),
            keys: Arc::new(keys),
        })
    }
}

#[test]
fn verified_tls_passes_the_conformance_suite_and_a_vault_round_trip() {
    let Some(cluster) = PrivateCluster::start_tcp(Tcp::Tls) else {
        return;
    };
    for mode in ["require", "verify-ca", "verify-full"] {
        let url = url_with(
            &cluster,
            &format!(
                "sslmode={mode}&sslrootcert={}",
                percent(&cluster.tls_ca_file())
            ),
        );
        let records = PostgresRecordStore::connect_with(&url, &options("rt")).unwrap();
        let keys =
            PostgresKeyStore::connect_with(&url, KeyProtection::HazmatRawKeys, &options("rtk"))
                .unwrap();
        let vault = Vault::new(Arc::new(records), Arc::new(keys));
        let order = format!("order-{mode}");
        let issued = vault.issue(&order, Duration::from_secs(600)).unwrap();
        assert!(vault.reveal(&order).unwrap().code == issued.code);
    }
    // The server really saw TLS on those connections.
    let mut admin = postgres::Client::connect(cluster.url(), postgres::NoTls).unwrap();
    let url = url_with(&cluster, "sslmode=verify-full");
    let mut options = options("suite");
    options.tls_root_cert = Some(cluster.tls_ca_file());
    let store = PostgresRecordStore::connect_with(&url, &options).unwrap();
    // One pooled connection, left idle in the pool.
    autocsr_credential::RecordStore::load(&store, "nothing").unwrap();
    let ssl: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE ssl AND application_name = 'autocsr-credential'",
            &[],
        )
        .unwrap()
        .get(0);
    let plain: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE NOT ssl AND application_name = 'autocsr-credential'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(ssl >= 1 && plain == 0, "ssl {ssl}, plain {plain}");

    let url = url_with(
        &cluster,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            percent(&cluster.tls_ca_file())
        ),
    );
    if let Err(failures) = conformance::run_all(&TlsHarness { url }) {
        panic!("conformance over TLS failed:\n{failures}");
    }
}

#[test]
fn a_wrong_ca_a_wrong_name_or_no_tls_is_refused_with_a_typed_error() {
    let Some(cluster) = PrivateCluster::start_tcp(Tcp::Tls) else {
        return;
    };
    let wrong_ca = format!("sslrootcert={}", percent(&cluster.other_ca_file()));
    for mode in ["prefer", "require", "verify-ca", "verify-full"] {
        let shown = refused(
            &url_with(&cluster, &format!("sslmode={mode}&{wrong_ca}")),
            None,
            PgErrorKind::Tls,
        );
        assert!(shown.contains("UnknownIssuer"), "{shown}");
    }
    // A CA without an sslmode asks for verified TLS (not plaintext), in the URL or Options.
    refused(&url_with(&cluster, &wrong_ca), None, PgErrorKind::Tls);
    refused(
        &url_with(&cluster, "connect_timeout=5"),
        Some(&cluster.other_ca_file()),
        PgErrorKind::Tls,
    );
    // The same through Options, and the system store (which never holds the test CA).
    refused(
        &url_with(&cluster, "sslmode=require"),
        Some(&cluster.other_ca_file()),
        PgErrorKind::Tls,
    );
    refused(
        &url_with(&cluster, "sslmode=require"),
        None,
        PgErrorKind::Tls,
    );
    // The right CA but another name than the certificate's (`localhost`): refused for
    // every verifying mode, `verify-ca` included (stricter than libpq's).
    let by_ip = url_with(
        &cluster,
        &format!(
            "sslmode=verify-ca&sslrootcert={}",
            percent(&cluster.tls_ca_file())
        ),
    )
    .replacen("@localhost:", "@127.0.0.1:", 1);
    let shown = refused(&by_ip, None, PgErrorKind::Tls);
    assert!(shown.contains("not valid for name"), "{shown}");
    // Without TLS, pg_hba (hostssl only) refuses the plaintext connection.
    refused(
        &url_with(&cluster, "sslmode=disable"),
        None,
        PgErrorKind::Database,
    );
}

#[test]
fn a_server_without_tls_is_refused_unless_plaintext_is_allowed() {
    let Some(cluster) = PrivateCluster::start_tcp(Tcp::Plain) else {
        return;
    };
    let ca = std::env::temp_dir().join("autocsr-no-such-ca.pem");
    let shown = refused(
        &url_with(&cluster, "sslmode=require"),
        Some(&cluster.tls_ca_file()),
        PgErrorKind::Tls,
    );
    assert!(shown.contains("server does not support TLS"), "{shown}");
    // A CA that cannot be read is a TLS error before any connection.
    refused(
        &url_with(
            &cluster,
            &format!("sslmode=verify-full&sslrootcert={}", percent(&ca)),
        ),
        None,
        PgErrorKind::Tls,
    );
    // prefer falls back to plaintext when the server offers no TLS; disable and no
    // sslmode never ask.
    let mut with_ca = options("plain");
    with_ca.tls_root_cert = Some(cluster.tls_ca_file());
    for params in ["sslmode=prefer", "sslmode=disable"] {
        PostgresRecordStore::connect_with(&url_with(&cluster, params), &with_ca).unwrap();
    }
    PostgresRecordStore::connect_with(&url_with(&cluster, "connect_timeout=5"), &options("plain"))
        .unwrap();
    // ... but a CA without an sslmode asks for TLS, which this server does not offer.
    refused(
        &url_with(&cluster, "connect_timeout=5"),
        Some(&cluster.tls_ca_file()),
        PgErrorKind::Tls,
    );
}

#[test]
fn unknown_or_repeated_sslmodes_are_refused_before_connecting() {
    // No server needed: these fail while reading the URL.
    let base = format!("postgresql://postgres:{PASSWORD}@localhost:1/db?connect_timeout=1");
    for params in [
        "sslmode=allow",
        "sslmode=VERIFY-FULL",
        "sslmode=",
        "sslmode=require&sslmode=disable",
        "sslrootcert=%zz",
    ] {
        refused(&format!("{base}&{params}"), None, PgErrorKind::Config);
    }
}
