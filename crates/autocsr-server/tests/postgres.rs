//! Several server instances on one PostgreSQL vault (`--vault URL`) and one shared archive
//! directory: an order made on one is served, revealed and revoked on another, and the
//! reveal limit holds across them. With the record keys wrapped by a SoftHSM2 token, and
//! (hazmat, tests only) without.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use autocsr_interop::PrivateCluster;
use common::{LINK_KEY, Server, TOKEN, code_from_page, private_file};
use serde_json::json;

const HSM_TOKEN: &str = "autocsr-server-test";
const PIN: &str = "2718-user-pin";

/// A SoftHSM2 token initialised in `dir`: (SOFTHSM2_CONF, PIN file), or `None` after the
/// skip notice.
fn softhsm(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    if !autocsr_interop::softhsm_available() {
        return None;
    }
    let conf = autocsr_interop::init_softhsm_token(&dir.join("hsm"), HSM_TOKEN, PIN, "3141-so-pin");
    let pin = dir.join("pin");
    private_file(&pin, &format!("{PIN}\n"));
    Some((conf, pin))
}

/// Two instances over `url`, sharing an archive directory, each with its own data
/// directory; `extra` selects the key protection.
fn two_instances(
    url: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Server, Server, tempfile::TempDir) {
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let tokens = shared.path().join("tokens");
    let key = shared.path().join("link.key");
    private_file(&tokens, &format!("{TOKEN}\n"));
    private_file(&key, LINK_KEY);
    let archives = shared.path().join("archives");
    let mut args = vec![
        "--archive-dir",
        archives.to_str().unwrap(),
        "--max-reveals",
        "2",
    ];
    args.extend_from_slice(extra);
    let mut env = env.to_vec();
    env.push(("AUTOCSR_VAULT_URL", url));
    let start = || {
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let data = root.path().join("data");
        Server::spawn_with_env(root, &data, &tokens, &key, &args, &env)
    };
    let (first, second) = (start(), start());
    (first, second, shared)
}

fn one_vault_for_both(first: &Server, second: &Server, url: &str) {
    let created = first.order(json!({}));
    let order_id = created["order_id"].as_str().unwrap().to_owned();
    // Nothing of the vault went to the data directories: it is in PostgreSQL.
    assert!(!first.data_dir().join("records.sqlite3").exists());
    let archive = second.staff("GET", &format!("/v1/orders/{order_id}/archive"), None);
    assert_eq!(archive.status, 200, "{}", archive.text());
    // Two reveals (one on each), then the limit holds on both.
    let code = code_from_page(&second.reveal(&order_id).text()).unwrap();
    assert_eq!(
        code_from_page(&first.reveal(&order_id).text()).unwrap(),
        code
    );
    assert!(code_from_page(&second.reveal(&order_id).text()).is_none());
    assert!(code_from_page(&first.reveal(&order_id).text()).is_none());
    assert_eq!(first.reveal_count(&order_id), 2);
    let password = secrecy::SecretString::from(code.clone());
    autocsr::archive::open(
        &archive.body,
        &password,
        &autocsr::archive::Limits::default(),
    )
    .unwrap();
    // A revoke on one is seen by the other, and the shared archive is gone.
    assert_eq!(
        second
            .staff("POST", &format!("/v1/orders/{order_id}/revoke"), None)
            .status,
        200
    );
    assert_eq!(
        first
            .staff("GET", &format!("/v1/orders/{order_id}"), None)
            .json()["state"],
        "revoked"
    );
    assert_eq!(
        first
            .staff("GET", &format!("/v1/orders/{order_id}/archive"), None)
            .status,
        410
    );
    for server in [first, second] {
        assert_eq!(server.get("/readyz").status, 200);
        let logs = server.logs();
        assert!(!logs.contains(url), "the vault URL is in the log");
        assert!(!logs.contains(&code));
    }
}

#[test]
fn two_servers_share_a_postgres_vault_with_hsm_wrapped_keys() {
    let Some(cluster) = PrivateCluster::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some((conf, pin)) = softhsm(dir.path()) else {
        return;
    };
    let module = autocsr_interop::softhsm_module();
    let extra = [
        "--hsm-module",
        module.to_str().unwrap(),
        "--hsm-token",
        HSM_TOKEN,
        "--hsm-pin-file",
        pin.to_str().unwrap(),
    ];
    let (first, second, _shared) = two_instances(
        cluster.url(),
        &extra,
        &[("SOFTHSM2_CONF", conf.to_str().unwrap())],
    );
    one_vault_for_both(&first, &second, cluster.url());
}

/// `--hsm-pin-env NAME` (here as `AUTOCSR_HSM_PIN_ENV`): the PIN comes from the variable
/// it names, and is in no log.
#[test]
fn two_servers_take_the_hsm_pin_from_the_environment() {
    let Some(cluster) = PrivateCluster::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some((conf, _)) = softhsm(dir.path()) else {
        return;
    };
    let module = autocsr_interop::softhsm_module();
    let extra = [
        "--hsm-module",
        module.to_str().unwrap(),
        "--hsm-token",
        HSM_TOKEN,
    ];
    let (first, second, _shared) = two_instances(
        cluster.url(),
        &extra,
        &[
            ("SOFTHSM2_CONF", conf.to_str().unwrap()),
            ("AUTOCSR_HSM_PIN_ENV", "AUTOCSR_TEST_SERVER_PIN"),
            ("AUTOCSR_TEST_SERVER_PIN", PIN),
        ],
    );
    one_vault_for_both(&first, &second, cluster.url());
    for server in [&first, &second] {
        assert!(!server.logs().contains(PIN), "the PIN is in the log");
    }
}

#[test]
fn two_servers_share_a_postgres_vault_with_raw_keys_under_the_hazmat_flag() {
    let Some(cluster) = PrivateCluster::start() else {
        return;
    };
    let (mut first, second, _shared) =
        two_instances(cluster.url(), &["--hazmat-raw-keys-in-postgres"], &[]);
    one_vault_for_both(&first, &second, cluster.url());
    // It stops cleanly: the synchronous PostgreSQL client is dropped off the runtime.
    first.sigterm();
    let status = first.wait_exit(std::time::Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", first.logs());
}

#[test]
fn inconsistent_vault_settings_are_refused_without_quoting_the_url() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let refused = |args: &[&str], env: &[(&str, &str)]| {
        let output = Command::new(env!("CARGO_BIN_EXE_autocsr-server"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let secret_url = "postgresql://app:Sup3r-Secret-Pw@db.example/vault";
    let err = refused(&[], &[("AUTOCSR_VAULT_URL", secret_url)]);
    assert!(err.contains("needs an HSM"), "{err}");
    let err = refused(&["--hsm-token", "t"], &[("AUTOCSR_VAULT_URL", secret_url)]);
    assert!(err.contains("needs all of"), "{err}");
    let err = refused(&["--hazmat-raw-keys-in-postgres"], &[]);
    assert!(err.contains("are for a PostgreSQL vault"), "{err}");
    let err = refused(
        &["--hazmat-raw-keys-in-postgres"],
        &[("AUTOCSR_VAULT_URL", "mysql://Sup3r-Secret-Pw@x")],
    );
    assert!(err.contains("postgres://"), "{err}");
    // The PIN one way only, as flags or as their environment variables.
    let hsm = ["--hsm-module", "/m.so", "--hsm-token", "t"];
    let both = [&hsm[..], &["--hsm-pin-file", "/p", "--hsm-pin-env", "P"]].concat();
    let err = refused(&both, &[("AUTOCSR_VAULT_URL", secret_url)]);
    assert!(err.contains("not both"), "{err}");
    let err = refused(
        &hsm,
        &[
            ("AUTOCSR_VAULT_URL", secret_url),
            ("AUTOCSR_HSM_PIN_FILE", "/p"),
            ("AUTOCSR_HSM_PIN_ENV", "P"),
        ],
    );
    assert!(err.contains("not both"), "{err}");
    // Settings that agree, and a PIN that cannot be had: refused before any connection.
    let unset = [&hsm[..], &["--hsm-pin-env", "AUTOCSR_TEST_UNSET_PIN"]].concat();
    let err = refused(&unset, &[("AUTOCSR_VAULT_URL", secret_url)]);
    assert!(
        err.contains("AUTOCSR_TEST_UNSET_PIN named by --hsm-pin-env is unset"),
        "{err}"
    );
    let lax = dir.path().join("lax-pin");
    std::fs::write(&lax, "1234\n").unwrap();
    std::fs::set_permissions(&lax, std::fs::Permissions::from_mode(0o644)).unwrap();
    let lax_args = [&hsm[..], &["--hsm-pin-file", lax.to_str().unwrap()]].concat();
    let err = refused(&lax_args, &[("AUTOCSR_VAULT_URL", secret_url)]);
    assert!(err.contains("open to other users (mode 644)"), "{err}");
    assert!(!err.contains("Sup3r-Secret-Pw"), "{err}");

    let help = Command::new(env!("CARGO_BIN_EXE_autocsr-server"))
        .arg("--help")
        .env("AUTOCSR_VAULT_URL", secret_url)
        .output()
        .unwrap();
    let everything = format!("{err}{}", String::from_utf8_lossy(&help.stdout));
    assert!(!everything.contains("Sup3r-Secret-Pw"));
}

#[test]
fn two_servers_on_one_postgres_vault_send_one_reminder_per_order() {
    let Some(cluster) = PrivateCluster::start() else {
        return;
    };
    let (url, received) = common::receiver(Vec::new());
    let secrets = tempfile::tempdir().unwrap();
    let mut extra = common::webhook_args(secrets.path(), &url);
    extra.push("--hazmat-raw-keys-in-postgres".to_owned());
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (first, second, _shared) = two_instances(cluster.url(), &extra, &[]);
    let mut due: Vec<String> = (0..5)
        .map(|index| {
            let server = if index % 2 == 0 { &first } else { &second };
            server.order(json!({"reveal_window_seconds": 600}))["order_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let sent = |server: &Server| server.logs().matches("reminder sent").count();
    common::wait_until("five reminders", std::time::Duration::from_secs(60), || {
        sent(&first) + sent(&second) >= due.len()
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    let mut reminded: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|delivery| {
            let body: serde_json::Value = serde_json::from_slice(&delivery.body).unwrap();
            body["order_id"].as_str().unwrap().to_owned()
        })
        .collect();
    reminded.sort();
    due.sort();
    assert_eq!(reminded, due, "exactly one reminder per order");
    assert_eq!(sent(&first) + sent(&second), due.len());
}
