//! Faults under load, against real servers: backends killed with `pg_terminate_backend`
//! while operations run, and the server restarted under load. Each test starts a private
//! cluster (`autocsr_interop::PrivateCluster`: initdb in a temp dir, its own socket), so
//! killing and restarting it disturbs no other test.
//!
//! What must hold: every failed call is a typed `Error::Storage` (never a panic, a hang or
//! `Tampered`); once the fault stops, the next call on the same vault succeeds (the pool
//! replaced its dead connections); no half-written record exists; every acknowledged
//! issue still reveals its code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: a failure should abort the test"
)]

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use autocsr_credential::{Clock as _, Error, ManualClock, Vault};
use autocsr_credential_postgres::{KeyProtection, Options, PostgresKeyStore, PostgresRecordStore};
use autocsr_interop::PrivateCluster;

const WORKERS: usize = 3;
const WINDOW: Duration = Duration::from_secs(60);

fn admin(url: &str) -> postgres::Client {
    postgres::Config::from_str(url)
        .unwrap()
        .connect(postgres::NoTls)
        .unwrap()
}

fn options(schema: &str) -> Options {
    let mut options = Options::default();
    options.schema = schema.to_owned();
    options.connect_timeout = Duration::from_secs(2);
    options.purge_batch = 3;
    options
}

fn vault(url: &str, clock: &Arc<ManualClock>) -> Vault {
    let records = PostgresRecordStore::connect_with(url, &options("recs")).unwrap();
    let keys = PostgresKeyStore::connect_with(url, KeyProtection::HazmatRawKeys, &options("keys"))
        .unwrap();
    Vault::new(Arc::new(records), Arc::new(keys)).with_clock(clock.clone())
}

/// What the workers saw.
#[derive(Default)]
struct Seen {
    /// Acknowledged issues: order id -> (code, expires_at).
    issued: HashMap<String, (String, SystemTime)>,
    /// Issues that returned an error (the row may or may not have been committed).
    failed_issues: Vec<String>,
    revoked: Vec<String>,
    errors: usize,
    ops: usize,
}

/// A failed call must be a storage error (the connection died), nothing else.
fn expect_storage_error(what: &str, error: &Error) {
    assert!(
        matches!(error, Error::Storage(_)),
        "{what}: expected a storage error, got {error:?}"
    );
}

/// Runs `WORKERS` threads of issue / reveal / revoke / purge against one vault while
/// `fault` runs on its own thread, until `fault` returns and at least `min_errors` calls
/// failed; then checks recovery and the tables.
fn under_fault(url: &str, min_errors: usize, fault: impl FnOnce() + Send) {
    let clock = Arc::new(ManualClock::new(SystemTime::now()).unwrap());
    let vault = vault(url, &clock);
    let seen = Mutex::new(Seen::default());
    let fault_done = AtomicBool::new(false);
    let errors = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            fault();
            fault_done.store(true, Ordering::SeqCst);
        });
        for worker in 0..WORKERS {
            let (vault, seen, clock, fault_done, errors) =
                (&vault, &seen, &clock, &fault_done, &errors);
            s.spawn(move || {
                let mut i = 0usize;
                // Bounded: a fault that never makes a call fail is caught below.
                while i < 20_000
                    && !(fault_done.load(Ordering::SeqCst)
                        && errors.load(Ordering::SeqCst) >= min_errors)
                {
                    i += 1;
                    let id = format!("w{worker}-{i}");
                    let mut failed = 0;
                    match vault.issue(&id, WINDOW) {
                        Ok(issued) => {
                            let code = issued.code.reveal().expose_secret_string();
                            seen.lock()
                                .unwrap()
                                .issued
                                .insert(id.clone(), (code, issued.expires_at));
                        }
                        Err(e) => {
                            expect_storage_error("issue", &e);
                            failed += 1;
                            seen.lock().unwrap().failed_issues.push(id.clone());
                        }
                    }
                    // Reveal an earlier order of this worker.
                    let earlier = format!("w{worker}-{}", i / 2 + 1);
                    let known = seen.lock().unwrap().issued.get(&earlier).cloned();
                    if let Some((code, _)) = known {
                        match vault.reveal(&earlier) {
                            Ok(revealed) => {
                                assert_eq!(revealed.code.reveal().expose_secret_string(), code);
                            }
                            Err(Error::Expired { .. } | Error::Revoked | Error::NotFound) => {}
                            Err(e) => {
                                expect_storage_error("reveal", &e);
                                failed += 1;
                            }
                        }
                    }
                    if i.is_multiple_of(5) {
                        match vault.revoke(&earlier) {
                            Ok(()) => seen.lock().unwrap().revoked.push(earlier.clone()),
                            Err(Error::Expired { .. } | Error::NotFound | Error::Revoked) => {}
                            Err(e) => {
                                expect_storage_error("revoke", &e);
                                failed += 1;
                                // It may have gone through: treat it as revoked.
                                seen.lock().unwrap().revoked.push(earlier.clone());
                            }
                        }
                    }
                    if worker == 0 {
                        clock.advance(Duration::from_secs(2));
                        if let Err(e) = vault.purge() {
                            expect_storage_error("purge", &e);
                            failed += 1;
                        }
                    }
                    errors.fetch_add(failed, Ordering::SeqCst);
                    let mut seen = seen.lock().unwrap();
                    seen.errors += failed;
                    seen.ops += 1;
                }
            });
        }
    });
    let seen = seen.into_inner().unwrap();
    eprintln!(
        "fault run: {} iterations, {} failed calls, {} acknowledged issues, {} failed issues",
        seen.ops,
        seen.errors,
        seen.issued.len(),
        seen.failed_issues.len()
    );
    assert!(
        seen.errors >= min_errors,
        "the fault made only {} calls fail: it tested nothing",
        seen.errors
    );

    // The fault is over: the same vault (same pools) answers every call again.
    vault.purge().unwrap();
    match vault.status("w0-1") {
        Ok(_) | Err(Error::NotFound) => {}
        Err(e) => panic!("status after the fault: {e:?}"),
    }
    vault.issue("after-the-fault", WINDOW).unwrap();

    // Every acknowledged issue that is still inside its window and was not revoked
    // reveals its code.
    let vault_now = clock.now();
    let mut live = 0;
    for (id, (code, expires_at)) in &seen.issued {
        if *expires_at <= vault_now || seen.revoked.contains(id) {
            continue;
        }
        let revealed = vault
            .reveal(id)
            .unwrap_or_else(|e| panic!("acknowledged {id} does not reveal: {e:?}"));
        assert_eq!(&revealed.code.reveal().expose_secret_string(), code);
        live += 1;
    }
    assert!(live > 0, "no acknowledged order was left to check");

    // No half-written record: a sealed record has its nonce, ciphertext and (inside its
    // window) its key; a tombstone has neither nonce nor ciphertext.
    let mut client = admin(url);
    let now_ms = i64::try_from(
        vault_now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let count = |client: &mut postgres::Client, sql: &str| -> i64 {
        client.query_one(sql, &[]).unwrap().get(0)
    };
    assert_eq!(
        count(
            &mut client,
            "SELECT COUNT(*) FROM recs.records WHERE state = 0 AND (nonce IS NULL OR ciphertext IS NULL)"
        ),
        0
    );
    assert_eq!(
        count(
            &mut client,
            "SELECT COUNT(*) FROM recs.records WHERE state <> 0 AND (nonce IS NOT NULL OR ciphertext IS NOT NULL)"
        ),
        0
    );
    let keyless: Vec<String> = client
        .query(
            "SELECT order_id FROM recs.records r WHERE state = 0 AND expires_at > $1
             AND NOT EXISTS (SELECT 1 FROM keys.record_keys k WHERE k.key_id = r.key_id)",
            &[&now_ms],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        keyless.is_empty(),
        "sealed records inside their window without their key: {keyless:?}"
    );
    // A record nobody was told about (its issue failed) may exist only if the server
    // committed it after the connection died; it is complete (checked above) and expires.
    let unacknowledged: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM recs.records WHERE order_id = ANY($1)",
            &[&seen.failed_issues],
        )
        .unwrap()
        .get(0);
    eprintln!("records of failed issues that the server had committed: {unacknowledged}");
}

trait ExposeString {
    fn expose_secret_string(&self) -> String;
}

impl ExposeString for autocsr_credential::secrecy::SecretString {
    fn expose_secret_string(&self) -> String {
        use autocsr_credential::secrecy::ExposeSecret as _;
        self.expose_secret().to_owned()
    }
}

#[test]
fn killed_backends_fail_calls_cleanly_and_the_next_call_recovers() {
    let Some(cluster) = PrivateCluster::start() else {
        return;
    };
    let url = cluster.url().to_owned();
    under_fault(&url, 10, || {
        let mut killer = admin(&url);
        let mut kills = 0u64;
        for _ in 0..400 {
            let killed: i64 = killer
                .query_one(
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE application_name = 'autocsr-credential' AND pid <> pg_backend_pid()",
                    &[],
                )
                .unwrap()
                .get(0);
            kills += u64::try_from(killed).unwrap();
            std::thread::sleep(Duration::from_millis(7));
        }
        eprintln!("backends terminated: {kills}");
    });
}

#[test]
fn a_server_restart_under_load_fails_calls_cleanly_and_the_next_call_recovers() {
    let Some(cluster) = PrivateCluster::start() else {
        return;
    };
    let url = cluster.url().to_owned();
    under_fault(&url, 3, || {
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(300));
            cluster.restart();
        }
        // Down for a while (an immediate stop, like a crash): calls fail within the
        // connect timeout instead of hanging; then it comes back.
        std::thread::sleep(Duration::from_millis(300));
        cluster.stop_immediately();
        std::thread::sleep(Duration::from_millis(2_500));
        cluster.start_again();
    });
}

/// A server that accepts the connection and never answers (a hung server, a stuck proxy):
/// opening a store fails within the connect timeout instead of waiting forever. Needs no
/// PostgreSQL: the "server" is a listener of this test. A watchdog turns a hang into a
/// failure after 60 s.
#[test]
fn a_server_that_never_answers_is_an_error_not_a_hang() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and hold every connection, silently.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let url = format!("postgresql://app:secret@127.0.0.1:{port}/vault");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut options = Options::default();
        options.connect_timeout = Duration::from_secs(1);
        let records = PostgresRecordStore::connect_with(&url, &options).map(|_| ());
        let keys = PostgresKeyStore::connect_with(&url, KeyProtection::HazmatRawKeys, &options)
            .map(|_| ());
        let _ = tx.send((records, keys));
    });
    let (records, keys) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("connecting to a silent server hung");
    for result in [records, keys] {
        let error = result.unwrap_err();
        assert!(matches!(error, Error::Storage(_)), "{error:?}");
        let text = std::error::Error::source(&error).unwrap().to_string();
        assert!(text.contains("did not answer"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
}
