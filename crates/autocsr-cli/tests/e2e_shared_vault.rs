//! `--vault URL`: the built `autocsr` on a shared PostgreSQL vault (`AUTOCSR_PG_URL`) with
//! its record keys wrapped in a SoftHSM2 token initialised here, run as two "machines"
//! (data directories); and every bad setting as a clear error with its exit code.
//!
//! Without PostgreSQL or SoftHSM2 each test prints `SKIPPED:` and passes, unless
//! `AUTOCSR_REQUIRE_INTEROP=1` makes that a failure (`source .ci/start-postgres.sh` and
//! install `softhsm2` to run them).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code, including helpers outside #[test]: a failed expectation is the failure"
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use common::shared_vault::{Database, Hsm, Machine, PIN, TOKEN, module_path, with_param};
use common::str_field;

const PASSWORD: &str = "Vault-Passw0rd-Never-Shown";

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Everything the process printed, both streams.
fn printed(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn two_machines_share_one_vault_for_every_command() {
    let Some(db) = Database::create("two") else {
        return;
    };
    let Some(hsm) = Hsm::init() else {
        return;
    };
    let (a, b) = (Machine::with_hsm(&db, &hsm), Machine::with_hsm(&db, &hsm));

    // Machine A takes the order; the files go to A's output directory as before.
    let order = a.order(&[]);
    let order_id = str_field(&order, "order_id");
    assert!(Path::new(str_field(&order, "archive")).starts_with(a.out_dir()));
    assert!(Path::new(str_field(&order, "archive")).exists());
    assert!(
        !a.data_dir().join("records.sqlite3").exists(),
        "no SQLite vault"
    );

    // Machine B reveals it (the customer's reveal landed there), twice.
    let (first, _) = b.json(["reveal", order_id], 0);
    assert_eq!(
        str_field(&first, "unlock_code"),
        str_field(&order, "unlock_code")
    );
    assert_eq!(first["reveal_count"], 1);
    let (second, _) = a.json(["reveal", order_id], 0);
    assert_eq!(second["reveal_count"], 2);
    let (status, _) = b.json(["status", order_id], 0);
    assert_eq!(str_field(&status, "state"), "available");
    assert_eq!(status["reveal_count"], 2);

    // The record key in PostgreSQL is wrapped (49 bytes: version, IV, 32-byte key, tag),
    // never the raw 32-byte key.
    let mut client = db.client();
    let blob: Vec<u8> = client
        .query_one("SELECT key FROM autocsr.record_keys", &[])
        .unwrap()
        .get(0);
    assert_eq!(blob.len(), 1 + 12 + 32 + 16);

    // B revokes; A sees it.
    let (revoked, _) = b.json(["revoke", order_id], 0);
    assert_eq!(revoked["revoked"], true);
    let (error, _) = a.json(["reveal", order_id], 7);
    assert_eq!(error["error"]["kind"], "revoked");
    assert_eq!(db.count("SELECT COUNT(*) FROM autocsr.record_keys"), 0);

    // Unknown on either machine.
    let (error, _) = a.json(["reveal", "ord_NOPE"], 4);
    assert_eq!(error["error"]["kind"], "unknown_order");

    // A short window expires on the real clock: B says expired (exit 3), a purge on a
    // third machine (the scheduler) deletes it (the revoked order's tombstone stays until
    // its own window would have closed).
    let short = a.order(&["--reveal-window", "1s"]);
    let short_id = str_field(&short, "order_id");
    std::thread::sleep(Duration::from_millis(1_500));
    let (error, _) = b.json(["reveal", short_id], 3);
    assert_eq!(error["error"]["kind"], "expired");
    let (status, _) = a.json(["status", short_id], 0);
    assert_eq!(str_field(&status, "state"), "expired");
    let scheduler = Machine::with_hsm(&db, &hsm);
    let (purged, _) = scheduler.json(["purge"], 0);
    assert_eq!(purged["records_destroyed"], 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM autocsr.records"), 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM autocsr.record_keys"), 0);

    // Each machine's audit log holds its own events, never a code.
    let audit_a = std::fs::read_to_string(a.data_dir().join("audit.jsonl")).unwrap();
    let audit_b = std::fs::read_to_string(b.data_dir().join("audit.jsonl")).unwrap();
    assert!(audit_a.contains("\"issued\"") && !audit_a.contains("\"revoked\""));
    assert!(audit_b.contains("\"revoked\"") && !audit_b.contains("\"issued\""));
    assert!(!audit_a.contains(str_field(&order, "unlock_code")));
}

#[test]
fn records_and_keys_in_two_databases() {
    let Some(records_db) = Database::create("rec") else {
        return;
    };
    let Some(keys_db) = Database::create("keys") else {
        return;
    };
    let Some(hsm) = Hsm::init() else {
        return;
    };
    let mut machine = Machine::with_hsm(&records_db, &hsm);
    machine
        .env
        .push(("AUTOCSR_VAULT_KEYS_URL".into(), keys_db.url.clone()));
    let order = machine.order(&[]);
    let (revealed, _) = machine.json(["reveal", str_field(&order, "order_id")], 0);
    assert_eq!(
        str_field(&revealed, "unlock_code"),
        str_field(&order, "unlock_code")
    );
    assert_eq!(records_db.count("SELECT COUNT(*) FROM autocsr.records"), 1);
    assert_eq!(keys_db.count("SELECT COUNT(*) FROM autocsr.record_keys"), 1);
    assert_eq!(
        records_db.count(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'record_keys'"
        ),
        0
    );
}

#[test]
fn without_an_hsm_postgres_needs_the_hazmat_flag() {
    let Some(db) = Database::create("hazmat") else {
        return;
    };
    let plain = Machine::with_env(vec![("AUTOCSR_VAULT_URL".into(), db.url.clone())]);
    let out = plain.out_dir().display().to_string();
    let order = [
        "order",
        "--domain",
        "example.com",
        "--key",
        "p256",
        "--out",
        &out,
    ];
    let (error, output) = plain.json(order, 2);
    assert_eq!(error["error"]["kind"], "usage");
    assert!(
        stderr(&output).contains("--hazmat-raw-keys-in-postgres"),
        "{}",
        stderr(&output)
    );
    // Refused before anything was created: no tables, no files.
    assert_eq!(
        db.count("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'autocsr'"),
        0
    );
    assert!(!plain.out_dir().exists());

    let mut args = vec!["--hazmat-raw-keys-in-postgres"];
    args.extend_from_slice(&order);
    let (ordered, _) = plain.json(&args, 0);
    let order_id = str_field(&ordered, "order_id");
    let (revealed, _) = plain.json(["--hazmat-raw-keys-in-postgres", "reveal", order_id], 0);
    assert_eq!(revealed["reveal_count"], 1);
    // Raw: the 32-byte key itself is in the table (what the flag's name warns about).
    let blob: Vec<u8> = db
        .client()
        .query_one("SELECT key FROM autocsr.record_keys", &[])
        .unwrap()
        .get(0);
    assert_eq!(blob.len(), 32);
    // Chosen once per vault: a raw key does not unwrap under an HSM (exit 1, not 8).
    let Some(hsm) = Hsm::init() else {
        return;
    };
    let (error, _) = Machine::with_hsm(&db, &hsm).json(["reveal", order_id], 1);
    assert_eq!(error["error"]["kind"], "error");
}

/// The password of a URL is in no output: not in errors (human or JSON), not in `--help`
/// (clap would show an environment variable's value there), not for any failure.
#[test]
fn a_url_password_is_never_printed() {
    let Some(db) = Database::create("pw") else {
        return;
    };
    let role = "autocsr_password_check";
    db.client()
        .batch_execute(&format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                 CREATE ROLE {role} LOGIN PASSWORD 'the-right-password';
               END IF;
             END $$;"
        ))
        .unwrap();
    let wrong_password = with_param(
        &with_param(&db.url, &format!("user={role}")),
        &format!("password={PASSWORD}"),
    );
    let cases = [
        // Refused by the server (28P01, when it checks this role's password).
        wrong_password,
        // Nothing listening on the port.
        format!("postgresql://app:{PASSWORD}@127.0.0.1:9/x?connect_timeout=3"),
        // A database that does not exist.
        format!(
            "{}&password={PASSWORD}",
            with_param(
                &common::shared_vault::with_dbname(&db.url, "autocsr_no_such_db"),
                "connect_timeout=3"
            )
        ),
        // Malformed.
        format!("postgresql://app:{PASSWORD}@db:port/x"),
        format!("mysql://app:{PASSWORD}@db/x"),
    ];
    for url in &cases {
        for json in [true, false] {
            let machine = Machine::with_env(vec![("AUTOCSR_VAULT_URL".into(), url.clone())]);
            let mut args = vec!["--hazmat-raw-keys-in-postgres", "status", "ord_1"];
            if json {
                args.insert(0, "--json");
            }
            let output = common::shared_vault::run_with_watchdog(machine.command(&args));
            let text = printed(&output);
            assert!(!text.contains(PASSWORD), "{url}: {text}");
            assert!(matches!(output.status.code(), Some(1 | 2)), "{url}: {text}");
            assert!(!text.contains("panicked"), "{text}");
        }
        // On the command line too.
        let machine = Machine::with_env(vec![]);
        let output = common::shared_vault::run_with_watchdog(machine.command([
            "--vault",
            url,
            "--hazmat-raw-keys-in-postgres",
            "status",
            "ord_1",
        ]));
        assert!(!printed(&output).contains(PASSWORD), "{}", printed(&output));
    }
    // --help with the variables set shows their names, not their values.
    let machine = Machine::with_env(vec![
        ("AUTOCSR_VAULT_URL".into(), cases[1].clone()),
        ("AUTOCSR_VAULT_KEYS_URL".into(), cases[1].clone()),
    ]);
    for args in [&["--help"][..], &["order", "--help"], &["--json", "--help"]] {
        let output = machine.command(args).output().unwrap();
        assert!(output.status.success());
        let text = printed(&output);
        assert!(text.contains("AUTOCSR_VAULT_URL"), "{text}");
        assert!(
            !text.contains(PASSWORD) && !text.contains("127.0.0.1"),
            "{text}"
        );
    }
}

#[test]
fn bad_vault_settings_are_clear_errors_with_their_exit_codes() {
    let Some(db) = Database::create("bad") else {
        return;
    };
    let Some(hsm) = Hsm::init() else {
        return;
    };
    let run = |machine: &Machine, extra: &[&str], exit: i32, expect: &str| {
        let mut args = extra.to_vec();
        args.extend_from_slice(&["status", "ord_1"]);
        let (error, output) = machine.json(&args, exit);
        let text = stderr(&output);
        assert!(
            text.to_lowercase().contains(&expect.to_lowercase()),
            "{extra:?}: expected {expect:?} in {text}"
        );
        assert!(!text.contains("panicked") && !text.contains(PIN), "{text}");
        assert_eq!(error["error"]["exit_code"], exit);
    };
    let good = Machine::with_hsm(&db, &hsm);
    // The vault works (and creates its tables) with these settings.
    good.json(["status", "ord_1"], 4);

    // Malformed and foreign URLs: usage errors.
    for url in [
        "postgresql://h:notaport/x",
        "sqlite:///tmp/x",
        "host=db dbname=x",
        // An sslmode the store does not know (libpq's "allow" included).
        "postgresql://h/x?sslmode=allow",
    ] {
        let mut m = Machine::with_hsm(&db, &hsm);
        m.env.push(("AUTOCSR_VAULT_URL".into(), url.into()));
        run(&m, &[], 2, "URL");
    }
    // Unreachable: a clear error within the connect timeout (refused at once here).
    let mut m = Machine::with_hsm(&db, &hsm);
    m.env.push((
        "AUTOCSR_VAULT_URL".into(),
        "postgresql://app@127.0.0.1:9/x?connect_timeout=3".into(),
    ));
    run(
        &m,
        &[],
        1,
        "could not open the vault's records in PostgreSQL database x on 127.0.0.1:9",
    );
    run(&m, &[], 1, "Connection refused");
    // A server that accepts and never answers: an error after the connect timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    let mut m = Machine::with_hsm(&db, &hsm);
    m.env.push((
        "AUTOCSR_VAULT_URL".into(),
        format!("postgresql://app@127.0.0.1:{port}/x?connect_timeout=1"),
    ));
    run(&m, &[], 1, "did not answer within the connect timeout");

    // A schema from a newer version: refused, untouched.
    let current = db.count("SELECT MAX(version)::bigint FROM autocsr.records_schema_version");
    db.client()
        .batch_execute("UPDATE autocsr.records_schema_version SET version = 99")
        .unwrap();
    run(&good, &[], 1, "newer autocsr (schema version 99");
    assert_eq!(
        db.count("SELECT MAX(version)::bigint FROM autocsr.records_schema_version"),
        99
    );
    db.client()
        .batch_execute(&format!(
            "UPDATE autocsr.records_schema_version SET version = {current}"
        ))
        .unwrap();

    // A role that may not create the missing schema.
    let role = format!("{}_norights", db.name);
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN; REVOKE CREATE ON DATABASE \"{}\" FROM PUBLIC",
            db.name
        ))
        .unwrap();
    let fresh = Database::create("noschema").unwrap();
    fresh
        .client()
        .batch_execute(&format!(
            "REVOKE CREATE ON DATABASE \"{}\" FROM PUBLIC",
            fresh.name
        ))
        .unwrap();
    let mut m = Machine::with_hsm(&fresh, &hsm);
    m.env.push((
        "AUTOCSR_VAULT_URL".into(),
        with_param(&fresh.url, &format!("user={role}")),
    ));
    run(&m, &[], 1, "may not create the vault's tables");
    drop(fresh);
    db.client()
        .batch_execute(&format!("DROP ROLE \"{role}\""))
        .unwrap();

    // HSM: wrong PIN, missing token, missing module, lax PIN file, unset PIN variable.
    let wrong_pin = hsm.dir.path().join("wrong-pin");
    std::fs::write(&wrong_pin, "0000-not-the-pin\n").unwrap();
    std::fs::set_permissions(&wrong_pin, std::fs::Permissions::from_mode(0o600)).unwrap();
    let wrong_pin = wrong_pin.display().to_string();
    run(&good, &["--hsm-pin-file", &wrong_pin], 1, "refused the PIN");
    run(
        &good,
        &["--hsm-token", "no-such-token"],
        1,
        "no initialised HSM token is labelled no-such-token",
    );
    run(
        &good,
        &["--hsm-module", "/nonexistent/libpkcs11.so"],
        1,
        "could not load the PKCS#11 module",
    );
    let lax = hsm.dir.path().join("lax-pin");
    std::fs::write(&lax, format!("{PIN}\n")).unwrap();
    std::fs::set_permissions(&lax, std::fs::Permissions::from_mode(0o644)).unwrap();
    run(
        &good,
        &["--hsm-pin-file", &lax.display().to_string()],
        1,
        "open to other users (mode 644)",
    );
    let mut by_env = Machine::with_hsm(&db, &hsm);
    by_env.env.retain(|(k, _)| k != "AUTOCSR_HSM_PIN_FILE");
    by_env.env.push((
        "AUTOCSR_HSM_PIN_ENV".into(),
        "AUTOCSR_TEST_VAULT_PIN".into(),
    ));
    run(&by_env, &[], 1, "AUTOCSR_TEST_VAULT_PIN");
    // ... and with the variable set, the PIN from the environment opens it.
    by_env
        .env
        .push(("AUTOCSR_TEST_VAULT_PIN".into(), PIN.into()));
    by_env.json(["status", "ord_1"], 4);

    // Inconsistent settings: usage errors before anything is opened.
    run(&good, &["--hsm-pin-env", "X"], 2, "not both");
    run(
        &good,
        &["--hazmat-raw-keys-in-postgres"],
        2,
        "exclude each other",
    );
    let sqlite = Machine::with_env(vec![(
        "AUTOCSR_HSM_MODULE".into(),
        module_path().display().to_string(),
    )]);
    run(&sqlite, &[], 2, "for a PostgreSQL vault");
    let mut partial = Machine::with_hsm(&db, &hsm);
    partial.env.retain(|(k, _)| k != "AUTOCSR_HSM_TOKEN");
    run(&partial, &[], 2, "needs all of");
}

/// Backends killed (`pg_terminate_backend`) while two machines order and reveal through
/// the binary, on a private cluster and one HSM token: every run exits 0 or 1 with a sentence (never a
/// panic, a hang or a tampering alarm); every acknowledged order reveals its code
/// afterwards; and no live record lacks its archive and CSR, even where the database
/// committed a record and lost the connection before answering.
#[test]
fn killed_backends_fail_runs_cleanly_and_leave_no_live_record_without_files() {
    let Some(cluster) = autocsr_interop::PrivateCluster::start() else {
        return;
    };
    let Some(hsm) = Hsm::init() else {
        return;
    };
    let url = cluster.url().to_owned();
    // Both machines on one SoftHSM2 token: concurrent processes also race to create the
    // day's wrapping key. (A run that starts while the other writes the token can fail to
    // open it: SoftHSM2 reads its files unlocked at start-up. That is an exit 1 too.)
    let machines: Vec<Machine> = (0..2)
        .map(|_| Machine::with_hsm_at(&with_param(&url, "connect_timeout=5"), &hsm))
        .collect();
    // Tables first, then the storm.
    machines[0].json(["status", "ord_1"], 4);
    let done = std::sync::atomic::AtomicBool::new(false);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut killer = common::shared_vault::admin(&url);
            let mut round = 0u64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                round += 1;
                killer
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                         WHERE application_name = 'autocsr-credential'",
                        &[],
                    )
                    .unwrap();
                std::thread::sleep(Duration::from_millis(15 + (round * 37) % 60));
            }
        });
        let workers: Vec<_> = machines
            .iter()
            .map(|machine| {
                let results = &results;
                s.spawn(move || {
                    for _ in 0..25 {
                        let out = machine.out_dir().display().to_string();
                        let (code, value, output) = machine.run_json([
                            "order",
                            "--domain",
                            "example.com",
                            "--key",
                            "p256",
                            "--out",
                            &out,
                        ]);
                        let text = stderr(&output);
                        assert!(matches!(code, Some(0 | 1)), "{code:?}: {text}");
                        assert!(!text.contains("panicked"), "{text}");
                        if code == Some(0) {
                            let id = str_field(&value, "order_id").to_owned();
                            let code = str_field(&value, "unlock_code").to_owned();
                            let (rc, _, output) = machine.run_json(["reveal", &id]);
                            assert!(matches!(rc, Some(0 | 1)), "{rc:?}: {}", stderr(&output));
                            results.lock().unwrap().push((id, code));
                        } else {
                            results.lock().unwrap().push((String::new(), text));
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let results = results.into_inner().unwrap();
    let acknowledged: Vec<&(String, String)> =
        results.iter().filter(|(id, _)| !id.is_empty()).collect();
    let failed = results.len() - acknowledged.len();
    assert!(
        failed > 0 && !acknowledged.is_empty(),
        "{failed} failed runs"
    );

    // The storm is over: every acknowledged order reveals its code on either machine.
    for (i, (id, code)) in acknowledged.iter().enumerate() {
        let (revealed, _) = machines[i % 2].json(["reveal", id.as_str()], 0);
        assert_eq!(str_field(&revealed, "unlock_code"), code);
    }
    // Every live record has both its files on the machine that ordered it.
    let mut client = common::shared_vault::admin(&url);
    for row in client
        .query("SELECT order_id FROM autocsr.records WHERE state = 0", &[])
        .unwrap()
    {
        let id: String = row.get(0);
        let has_files = machines.iter().any(|m| {
            m.out_dir().join(format!("{id}.zip")).exists()
                && m.out_dir().join(format!("{id}.csr")).exists()
        });
        assert!(has_files, "live record {id} without its files");
    }
}

const MAKE_OLD_KEY: &str = "AUTOCSR_CLI_TEST_MAKE_OLD_KEY";

/// In a child process of this test binary (SoftHSM2 reads `SOFTHSM2_CONF` once per
/// process): a wrapping key in the token for the day of expiries that ended at
/// 1970-01-02T00:00:00Z, as a vault that issued then would have left it.
fn make_old_wrapping_key() {
    use autocsr::credential::{KeyId, KeyWrapper as _};
    use autocsr_credential_pkcs11::{HsmConfig, HsmKeyWrapper, Pin, Pkcs11Module};
    let module = Pkcs11Module::load(&module_path()).unwrap();
    let wrapper = HsmKeyWrapper::open(
        &module,
        HsmConfig::new(TOKEN, Pin::from_env(MAKE_OLD_KEY).unwrap()),
    )
    .unwrap();
    wrapper
        .wrap(&KeyId::from_bytes([7; 16]), 86_400_000, &[0; 32])
        .unwrap();
    assert_eq!(wrapper.wrapping_key_periods().unwrap(), [86_400_000]);
}

/// `purge` destroys the HSM wrapping keys of days that have ended, and only those.
#[test]
fn purge_destroys_the_hsm_keys_of_days_that_have_ended() {
    if std::env::var_os(MAKE_OLD_KEY).is_some() {
        make_old_wrapping_key();
        return;
    }
    let Some(db) = Database::create("hsmpurge") else {
        return;
    };
    let Some(hsm) = Hsm::init() else {
        return;
    };
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "purge_destroys_the_hsm_keys_of_days_that_have_ended",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env(MAKE_OLD_KEY, PIN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success() && stdout.contains("1 passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&child.stderr)
    );
    let machine = Machine::with_hsm(&db, &hsm);
    let order = machine.order(&[]);
    let (purged, _) = machine.json(["purge"], 0);
    assert_eq!(purged["wrapping_keys_destroyed"], 1, "{purged}");
    assert_eq!(purged["records_destroyed"], 0);
    // Today's key (the live order's) is untouched.
    let (revealed, _) = machine.json(["reveal", str_field(&order, "order_id")], 0);
    assert_eq!(
        str_field(&revealed, "unlock_code"),
        str_field(&order, "unlock_code")
    );
    let (purged, _) = machine.json(["purge"], 0);
    assert_eq!(purged["wrapping_keys_destroyed"], 0, "{purged}");
}

/// The database commits an order's record and the answer is lost (a connection dropped
/// between commit and reply), simulated faithfully on the real server: a trigger commits
/// the row through a second session (dblink) and then fails the statement with SQLSTATE
/// 08006 (connection failure). `order` must then revoke what was stored and remove the
/// files; and when the vault cannot even answer the revoke, keep the files and say so.
/// Either way no live record is left without its archive and CSR.
#[test]
fn an_order_whose_answer_was_lost_is_revoked_or_keeps_its_files() {
    let Some(db) = Database::create("lost") else {
        return;
    };
    let Some(hsm) = Hsm::init() else {
        return;
    };
    let machine = Machine::with_hsm(&db, &hsm);
    machine.json(["status", "ord_1"], 4); // creates the tables
    let mut client = db.client();
    if client.batch_execute("CREATE EXTENSION dblink").is_err() {
        autocsr_interop::missing(
            "PostgreSQL's dblink extension is not installed",
            "install the server's contrib modules",
        );
        return;
    }
    let config = postgres::Config::from_str(&db.url).unwrap();
    let host = match &config.get_hosts()[0] {
        postgres::config::Host::Unix(path) => path.display().to_string(),
        postgres::config::Host::Tcp(name) => name.clone(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let connstr = format!(
        "host={host} port={port} dbname={} user={}",
        db.name,
        config.get_user().unwrap()
    );
    client
        .batch_execute(&format!(
            "CREATE FUNCTION autocsr.commit_then_fail() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF current_setting('autocsr_test.replaying', true) = 'on' THEN RETURN NEW; END IF;
               IF TG_OP = 'INSERT' THEN
                 PERFORM dblink_exec('{connstr}', format(
                   'SET autocsr_test.replaying = on; INSERT INTO autocsr.records SELECT (%L::autocsr.records).*',
                   NEW));
               END IF;
               RAISE EXCEPTION 'connection lost (test)' USING ERRCODE = '08006';
             END $$;
             CREATE TRIGGER lose_insert_answer BEFORE INSERT ON autocsr.records
               FOR EACH ROW EXECUTE FUNCTION autocsr.commit_then_fail();"
        ))
        .unwrap();
    let out = machine.out_dir().display().to_string();
    let order_args = [
        "order",
        "--domain",
        "example.com",
        "--key",
        "p256",
        "--out",
        &out,
    ];
    let files = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(machine.out_dir())
            .map(|dir| {
                dir.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };

    // The answer is lost, the vault answers the revoke: revoked, files removed.
    let (error, output) = machine.json(order_args, 1);
    assert_eq!(error["error"]["kind"], "error");
    assert!(
        stderr(&output).contains("revoked now"),
        "{}",
        stderr(&output)
    );
    assert!(files().is_empty(), "{:?}", files());
    assert_eq!(
        db.count("SELECT COUNT(*) FROM autocsr.records WHERE state = 2"),
        1
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM autocsr.records WHERE state = 0"),
        0
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM autocsr.record_keys"), 0);

    // The answer is lost and the revoke fails too: the files are kept, and the message
    // says what to run.
    client
        .batch_execute(
            "CREATE TRIGGER fail_updates BEFORE UPDATE ON autocsr.records
               FOR EACH ROW EXECUTE FUNCTION autocsr.commit_then_fail();",
        )
        .unwrap();
    let (_, output) = machine.json(order_args, 1);
    let text = stderr(&output);
    assert!(
        text.contains("are kept") && text.contains("autocsr revoke"),
        "{text}"
    );
    let kept = files();
    assert_eq!(kept.len(), 2, "{kept:?}");
    let order_id = kept[0].split('.').next().unwrap().to_owned();
    assert!(text.contains(&order_id), "{text}");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM autocsr.records WHERE state = 0"),
        1
    );

    // Once the vault answers, the revoke the message asked for finishes it.
    client
        .batch_execute(
            "DROP TRIGGER fail_updates ON autocsr.records;
             DROP TRIGGER lose_insert_answer ON autocsr.records;",
        )
        .unwrap();
    let (revoked, _) = machine.json(["revoke", &order_id], 0);
    assert_eq!(revoked["revoked"], true);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM autocsr.records WHERE state = 0"),
        0
    );
}

/// The vault URL's `sslmode=verify-full` and `sslrootcert` work through the command: the
/// right CA opens the vault over TLS; another CA is a clear error (exit 1) naming the
/// certificate problem, without the URL's password.
#[test]
fn a_vault_url_with_verify_full_uses_tls() {
    let Some(cluster) = autocsr_interop::PrivateCluster::start_tcp(autocsr_interop::Tcp::Tls)
    else {
        return;
    };
    let url_with_ca = |ca: &Path| {
        format!(
            "{}&sslmode=verify-full&sslrootcert={}",
            cluster
                .tcp_url()
                .unwrap()
                .replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1),
            ca.display().to_string().replace('/', "%2F")
        )
    };
    let good = Machine::with_env(vec![(
        "AUTOCSR_VAULT_URL".into(),
        url_with_ca(&cluster.tls_ca_file()),
    )]);
    // Tables created over TLS; the order does not exist (exit 4).
    good.json(["--hazmat-raw-keys-in-postgres", "status", "ord_1"], 4);
    let wrong = Machine::with_env(vec![(
        "AUTOCSR_VAULT_URL".into(),
        url_with_ca(&cluster.other_ca_file()),
    )]);
    let (_, output) = wrong.json(["--hazmat-raw-keys-in-postgres", "status", "ord_1"], 1);
    let text = printed(&output);
    assert!(text.contains("UnknownIssuer"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}
