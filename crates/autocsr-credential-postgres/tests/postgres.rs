//! The PostgreSQL stores against a real server (`AUTOCSR_PG_URL`): the conformance suite,
//! schema creation and migration, bad input, separate databases.
//!
//! Without `AUTOCSR_PG_URL` every test prints a loud `SKIPPED:` notice and passes, unless
//! `AUTOCSR_REQUIRE_INTEROP=1`, which makes that a failure (`.ci/run` starts a server).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "test helpers outside #[test] fns: a failure should abort the test"
)]

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autocsr_credential::conformance::{self, Harness, Stores};
use autocsr_credential::{Error, KeyStore, ManualClock, RecordStore, Vault};
use autocsr_credential_postgres::{KeyProtection, Options, PostgresKeyStore, PostgresRecordStore};

fn admin(url: &str) -> postgres::Client {
    postgres::Config::from_str(url)
        .unwrap()
        .connect(postgres::NoTls)
        .unwrap()
}

/// A schema name no other test or run uses.
fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "t{}_{}_{nanos}_{tag}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

fn options(schema: &str, purge_batch: i64) -> Options {
    let mut options = Options::default();
    options.schema = schema.to_owned();
    options.purge_batch = purge_batch;
    options
}

/// Each check gets its own pair of schemas (records and keys apart); a second handle is a
/// second pool, as a second application server would open. Drops its schemas at the end.
struct PgHarness {
    url: String,
    purge_batch: i64,
    schemas: Mutex<Vec<(String, String)>>,
}

impl PgHarness {
    fn new(url: &str, purge_batch: i64) -> Self {
        Self {
            url: url.to_owned(),
            purge_batch,
            schemas: Mutex::new(Vec::new()),
        }
    }

    fn open(&self, records: &str, keys: &str) -> Result<Stores, Error> {
        Ok(Stores {
            records: Arc::new(PostgresRecordStore::connect_with(
                &self.url,
                &options(records, self.purge_batch),
            )?),
            keys: Arc::new(PostgresKeyStore::connect_with(
                &self.url,
                KeyProtection::HazmatRawKeys,
                &options(keys, self.purge_batch),
            )?),
        })
    }
}

impl Harness for PgHarness {
    fn fresh(&self) -> Result<Stores, Error> {
        let (records, keys) = (unique("r"), unique("k"));
        let stores = self.open(&records, &keys)?;
        self.schemas.lock().unwrap().push((records, keys));
        Ok(stores)
    }

    // The suite asks for second handles right after `fresh`, onto the stores it just made.
    fn connect_again(&self, _stores: &Stores) -> Result<Stores, Error> {
        let (records, keys) = self.schemas.lock().unwrap().last().cloned().unwrap();
        self.open(&records, &keys)
    }
}

impl Drop for PgHarness {
    fn drop(&mut self) {
        let mut client = admin(&self.url);
        for (records, keys) in self.schemas.lock().unwrap().drain(..) {
            let _ = client.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{records}\" CASCADE; DROP SCHEMA IF EXISTS \"{keys}\" CASCADE"
            ));
        }
    }
}

#[test]
fn the_postgres_stores_pass_the_conformance_suite() {
    let Some(url) = autocsr_interop::postgres_url() else {
        return;
    };
    if let Err(failures) = conformance::run_all(&PgHarness::new(&url, 1_000)) {
        panic!("{failures}");
    }
}

/// Purge batches of 2 rows: concurrent purges run many small transactions side by side
/// and must still destroy each record and key exactly once.
#[test]
fn the_suite_passes_with_tiny_purge_batches() {
    let Some(url) = autocsr_interop::postgres_url() else {
        return;
    };
    let harness = PgHarness::new(&url, 2);
    for check in conformance::CHECKS
        .iter()
        .filter(|c| c.name.contains("purge"))
    {
        (check.run)(&harness).unwrap_or_else(|f| panic!("{f}"));
    }
}

fn version_of(client: &mut postgres::Client, schema: &str, component: &str) -> i32 {
    client
        .query_one(
            &format!("SELECT version FROM \"{schema}\".{component}_schema_version"),
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn the_schema_is_created_versioned_and_a_newer_one_refused() {
    let Some(url) = autocsr_interop::postgres_url() else {
        return;
    };
    let schema = unique("v");
    let opts = options(&schema, 1_000);
    PostgresRecordStore::connect_with(&url, &opts).unwrap();
    // Keys may share a schema with records: each has its own version table.
    PostgresKeyStore::connect_with(&url, KeyProtection::HazmatRawKeys, &opts).unwrap();
    let mut client = admin(&url);
    assert_eq!(version_of(&mut client, &schema, "records"), 2);
    assert_eq!(version_of(&mut client, &schema, "record_keys"), 1);
    // Opening again migrates nothing and keeps the data.
    let store = PostgresRecordStore::connect_with(&url, &opts).unwrap();
    assert_eq!(store.purge_expired(u64::MAX >> 12).unwrap().len(), 0);
    client
        .execute(
            &format!("UPDATE \"{schema}\".records_schema_version SET version = 99"),
            &[],
        )
        .unwrap();
    assert!(matches!(
        PostgresRecordStore::connect_with(&url, &opts),
        Err(Error::UnsupportedSchema {
            found: 99,
            supported: 2
        })
    ));
    // The key store's own version is untouched by the records' newer one.
    PostgresKeyStore::connect_with(&url, KeyProtection::HazmatRawKeys, &opts).unwrap();
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .unwrap();
}

#[test]
fn concurrent_first_opens_of_one_schema_all_succeed() {
    let Some(url) = autocsr_interop::postgres_url() else {
        return;
    };
    let schema = unique("c");
    let opts = options(&schema, 1_000);
    let barrier = std::sync::Barrier::new(6);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (url, opts, barrier) = (&url, &opts, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    if i % 2 == 0 {
                        PostgresRecordStore::connect_with(url, opts).map(|_| ())
                    } else {
                        PostgresKeyStore::connect_with(url, KeyProtection::HazmatRawKeys, opts)
                            .map(|_| ())
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
    });
    let mut client = admin(&url);
    assert_eq!(version_of(&mut client, &schema, "records"), 2);
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .unwrap();
}

#[test]
fn bad_input_is_a_typed_error_not_a_panic_or_a_hang() {
    let Some(url) = autocsr_interop::postgres_url() else {
        return;
    };
    let started = Instant::now();
    for bad in ["postgres://[::1", "not a url at all =", "postgresql://%zz"] {
        assert!(
            matches!(PostgresRecordStore::connect(bad), Err(Error::Storage(_))),
            "{bad}"
        );
    }
    // A database that does not exist: the server's own refusal, at once.
    let missing =
        PostgresRecordStore::connect(&with_dbname(&url, "autocsr_no_such_database")).unwrap_err();
    let source = std::error::Error::source(&missing).unwrap().to_string();
    assert!(source.contains("3D000"), "{source}");
    // Nothing listening: refused, within the connect timeout.
    let nobody = "postgresql://postgres@127.0.0.1:9/x?connect_timeout=2";
    assert!(matches!(
        PostgresRecordStore::connect(nobody),
        Err(Error::Storage(_))
    ));
    for schema in [
        "",
        "Upper",
        "a-b",
        "pg_catalog",
        "x\"; DROP TABLE y; --",
        &"a".repeat(64),
    ] {
        assert!(
            matches!(
                PostgresRecordStore::connect_with(&url, &options(schema, 1)),
                Err(Error::Storage(_))
            ),
            "schema {schema:?}"
        );
    }
    assert!(PostgresRecordStore::connect_with(&url, &options("ok_schema", 0)).is_err());
    let mut no_connections = Options::default();
    no_connections.max_connections = 0;
    let mut no_timeout = Options::default();
    no_timeout.connect_timeout = Duration::ZERO;
    for bad in [no_connections, no_timeout] {
        assert!(matches!(
            PostgresKeyStore::connect_with(&url, KeyProtection::HazmatRawKeys, &bad),
            Err(Error::Storage(_))
        ));
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "no call may hang"
    );
}

/// Records and keys in two different databases: the recommended layout.
#[test]
fn records_and_keys_can_live_in_different_databases() {
    let Some(url) = autocsr_interop::postgres_url() else {
        return;
    };
    let keys_db = unique("keysdb");
    let mut client = admin(&url);
    client
        .batch_execute(&format!("CREATE DATABASE \"{keys_db}\""))
        .unwrap();
    let keys_url = with_dbname(&url, &keys_db);
    {
        let records_schema = unique("r");
        let records = Arc::new(
            PostgresRecordStore::connect_with(&url, &options(&records_schema, 1_000)).unwrap(),
        );
        let keys =
            Arc::new(PostgresKeyStore::connect(&keys_url, KeyProtection::HazmatRawKeys).unwrap());
        let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()).unwrap());
        let vault = Vault::new(records.clone(), keys.clone()).with_clock(clock.clone());
        let issued = vault.issue("order-1", Duration::from_secs(3600)).unwrap();
        assert_eq!(vault.reveal("order-1").unwrap().code, issued.code);
        assert_eq!(keys.count().unwrap(), 1);
        let mut in_keys_db = admin(&keys_url);
        let n: i64 = in_keys_db
            .query_one("SELECT COUNT(*) FROM autocsr.record_keys", &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 1, "the key is in the keys database");
        let n: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'autocsr' AND table_name = 'record_keys'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "no key table in the records database");
        clock.advance(Duration::from_secs(3600));
        let report = vault.purge().unwrap();
        assert_eq!((report.records_destroyed, report.keys_destroyed), (1, 1));
        client
            .batch_execute(&format!("DROP SCHEMA \"{records_schema}\" CASCADE"))
            .unwrap();
    }
    // The pools are dropped with the stores; now the database can go.
    client
        .batch_execute(&format!("DROP DATABASE \"{keys_db}\" WITH (FORCE)"))
        .unwrap();
}

/// `url` naming another database (URL form: `.../dbname[?...]`).
fn with_dbname(url: &str, dbname: &str) -> String {
    let config = postgres::Config::from_str(url).unwrap();
    let current = config
        .get_dbname()
        .expect("AUTOCSR_PG_URL names a database");
    let (head, tail) = url
        .split_once(&format!("/{current}"))
        .expect("AUTOCSR_PG_URL in URL form (postgresql://.../dbname)");
    format!("{head}/{dbname}{tail}")
}

/// `url` connecting as another role (the `user` query parameter wins over the URL's).
fn with_user(url: &str, user: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}user={user}")
}

fn sqlstate_of(error: &Error) -> String {
    std::error::Error::source(error)
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// Records and keys under two roles that each hold only the grants the README lists: the
/// vault works, and neither role can touch the other's table.
#[test]
fn each_store_works_under_a_role_with_only_its_own_grants() {
    let Some(url) = autocsr_interop::postgres_url() else {
        return;
    };
    let (rs, ks) = (unique("r"), unique("k"));
    // The owner creates the tables once.
    PostgresRecordStore::connect_with(&url, &options(&rs, 1_000)).unwrap();
    PostgresKeyStore::connect_with(&url, KeyProtection::HazmatRawKeys, &options(&ks, 1_000))
        .unwrap();
    let (record_role, key_role) = (unique("rrole"), unique("krole"));
    let mut client = admin(&url);
    client
        .batch_execute(&format!(
            "CREATE ROLE {record_role} LOGIN; CREATE ROLE {key_role} LOGIN;
             GRANT USAGE ON SCHEMA {rs} TO {record_role};
             GRANT SELECT ON {rs}.records_schema_version TO {record_role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON {rs}.records TO {record_role};
             GRANT USAGE ON SCHEMA {ks} TO {key_role};
             GRANT SELECT ON {ks}.record_keys_schema_version TO {key_role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON {ks}.record_keys TO {key_role};"
        ))
        .unwrap();
    let (records_url, keys_url) = (with_user(&url, &record_role), with_user(&url, &key_role));
    let who: String = admin(&records_url)
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        who, record_role,
        "the URL's user parameter is the role used"
    );
    {
        let records = Arc::new(
            PostgresRecordStore::connect_with(&records_url, &options(&rs, 1_000)).unwrap(),
        );
        let keys = Arc::new(
            PostgresKeyStore::connect_with(
                &keys_url,
                KeyProtection::HazmatRawKeys,
                &options(&ks, 1_000),
            )
            .unwrap(),
        );
        let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()).unwrap());
        let vault = Vault::new(records, keys).with_clock(clock.clone());
        let issued = vault.issue("order-a", Duration::from_secs(60)).unwrap();
        vault.issue("order-b", Duration::from_secs(60)).unwrap();
        assert_eq!(vault.reveal("order-a").unwrap().code, issued.code);
        vault.revoke("order-b").unwrap();
        clock.advance(Duration::from_secs(60));
        let report = vault.purge().unwrap();
        assert_eq!((report.records_destroyed, report.keys_destroyed), (2, 1));
    }
    let refused = |url: &str, sql: &str| {
        let Err(error) = admin(url).batch_execute(sql) else {
            panic!("{sql} was allowed");
        };
        assert_eq!(
            error.code(),
            Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}"
        );
    };
    refused(&records_url, &format!("SELECT * FROM {ks}.record_keys"));
    refused(&keys_url, &format!("SELECT * FROM {rs}.records"));
    refused(&keys_url, &format!("DELETE FROM {rs}.records"));
    refused(&records_url, &format!("DELETE FROM {ks}.record_keys"));
    // Such a role cannot create a new schema: a clear refusal when it tries.
    let error =
        PostgresRecordStore::connect_with(&records_url, &options(&unique("n"), 1_000)).unwrap_err();
    assert!(sqlstate_of(&error).contains("42501"), "{error:?}");
    client
        .batch_execute(&format!(
            "DROP SCHEMA {rs} CASCADE; DROP SCHEMA {ks} CASCADE;
             DROP OWNED BY {record_role}; DROP OWNED BY {key_role};
             DROP ROLE {record_role}; DROP ROLE {key_role};"
        ))
        .unwrap();
}

/// A wrong password is the server's refusal (SQLSTATE 28P01), at once, and the password is
/// in no error. Needs the role `autocsr_password_check` to be checked by password
/// (`.ci/start-postgres.sh` sets that up); elsewhere it skips like a missing server.
#[test]
fn a_wrong_password_is_a_clean_error_that_never_shows_the_password() {
    let Some(url) = autocsr_interop::postgres_url() else {
        return;
    };
    let role = "autocsr_password_check";
    let mut client = admin(&url);
    client
        .batch_execute(&format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                 CREATE ROLE {role} LOGIN PASSWORD 'the-right-password';
               END IF;
             END $$;"
        ))
        .unwrap();
    let wrong = format!("{}&password=Wr0ng-Secret-Passw0rd", with_user(&url, role));
    let right = format!("{}&password=the-right-password", with_user(&url, role));
    let schema = unique("pw");
    client
        .batch_execute(&format!("CREATE SCHEMA {schema} AUTHORIZATION {role}"))
        .unwrap();
    let started = Instant::now();
    match PostgresRecordStore::connect_with(&wrong, &options(&schema, 1_000)) {
        Ok(_) => {
            // The server trusts this role: nothing to test here.
            autocsr_interop::missing(
                &format!("the server does not check {role}'s password"),
                "use .ci/start-postgres.sh",
            );
        }
        Err(error) => {
            let text = format!("{error} {error:?} {}", sqlstate_of(&error));
            assert!(text.contains("28P01"), "{text}");
            assert!(
                !text.contains("Wr0ng-Secret"),
                "the password leaked: {text}"
            );
            assert!(started.elapsed() < Duration::from_secs(10));
            PostgresRecordStore::connect_with(&right, &options(&schema, 1_000)).unwrap();
        }
    }
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
}

/// The record table exactly as version 1 (the previous release) created it.
const V1_RECORDS: &str = "CREATE TABLE {s}.records (
        order_id     TEXT PRIMARY KEY,
        format       SMALLINT NOT NULL,
        created_at   BIGINT NOT NULL,
        expires_at   BIGINT NOT NULL,
        key_id       BYTEA NOT NULL,
        reveal_count BIGINT NOT NULL DEFAULT 0,
        state        SMALLINT NOT NULL,
        state_at     BIGINT,
        nonce        BYTEA,
        ciphertext   BYTEA
    );
    CREATE INDEX records_by_expiry ON {s}.records (expires_at);
    CREATE TABLE {s}.records_schema_version (version INTEGER NOT NULL);
    INSERT INTO {s}.records_schema_version VALUES (1);";

/// A version-1 record schema holding records a vault issued (copied row by row from a
/// current one, so their ciphertexts and keys are real): an existing deployment before
/// the upgrade. Returns the schema names and the key store.
fn v1_schema_with(url: &str, client: &mut postgres::Client, orders: &[&str]) -> (String, String) {
    let (records, keys, scratch) = (unique("r"), unique("k"), unique("s"));
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{records}\"; {}",
            V1_RECORDS.replace("{s}", &format!("\"{records}\""))
        ))
        .unwrap();
    {
        let scratch_store =
            Arc::new(PostgresRecordStore::connect_with(url, &options(&scratch, 1_000)).unwrap());
        let key_store = Arc::new(
            PostgresKeyStore::connect_with(
                url,
                KeyProtection::HazmatRawKeys,
                &options(&keys, 1_000),
            )
            .unwrap(),
        );
        let vault = Vault::new(scratch_store, key_store);
        for id in orders {
            vault.issue(id, Duration::from_secs(24 * 3600)).unwrap();
        }
    }
    client
        .batch_execute(&format!(
            "INSERT INTO \"{records}\".records SELECT order_id, format, created_at, expires_at,
               key_id, reveal_count, state, state_at, nonce, ciphertext FROM \"{scratch}\".records;
             DROP SCHEMA \"{scratch}\" CASCADE;"
        ))
        .unwrap();
    (records, keys)
}

/// An existing version-1 record schema is upgraded in place by several concurrent first
/// opens (exactly once, records kept); a role with only its table grants cannot upgrade
/// it and gets a clear refusal, leaving it at version 1.
#[test]
fn a_version_1_record_schema_is_upgraded_in_place_keeping_its_records() {
    let Some(url) = autocsr_interop::postgres_url() else {
        return;
    };
    let mut client = admin(&url);
    let (records, keys) = v1_schema_with(&url, &mut client, &["old-1", "old-2"]);

    // A least-privilege role (the grants the README lists) cannot run the upgrade.
    let role = unique("rrole");
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN;
             GRANT USAGE ON SCHEMA \"{records}\" TO {role};
             GRANT SELECT ON \"{records}\".records_schema_version TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON \"{records}\".records TO {role};"
        ))
        .unwrap();
    let error =
        PostgresRecordStore::connect_with(&with_user(&url, &role), &options(&records, 1_000))
            .unwrap_err();
    assert!(sqlstate_of(&error).contains("42501"), "{error:?}");
    assert_eq!(version_of(&mut client, &records, "records"), 1);

    let barrier = std::sync::Barrier::new(4);
    std::thread::scope(|scope| {
        let opens: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    PostgresRecordStore::connect_with(&url, &options(&records, 1_000)).map(|_| ())
                })
            })
            .collect();
        for o in opens {
            o.join().unwrap().unwrap();
        }
    });
    assert_eq!(version_of(&mut client, &records, "records"), 2);
    let n: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = 'records_reminder_due'",
            &[&records],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    // The records survived and work, reminders included; the role now opens it too.
    for url in [url.clone(), with_user(&url, &role)] {
        let store =
            Arc::new(PostgresRecordStore::connect_with(&url, &options(&records, 1_000)).unwrap());
        let key_store = Arc::new(
            PostgresKeyStore::connect_with(
                &admin_url(&url),
                KeyProtection::HazmatRawKeys,
                &options(&keys, 1_000),
            )
            .unwrap(),
        );
        let vault = Vault::new(store, key_store);
        vault.reveal("old-1").unwrap();
        if url.contains(&role) {
            // The admin pass below claimed and marked old-2 already.
            assert!(
                vault
                    .claim_reminders(Duration::from_secs(48 * 3600), Duration::from_secs(60), 10)
                    .unwrap()
                    .is_empty()
            );
        } else {
            let due = vault
                .claim_reminders(Duration::from_secs(48 * 3600), Duration::from_secs(60), 10)
                .unwrap();
            let ids: Vec<&str> = due.iter().map(|d| d.order_id()).collect();
            assert_eq!(ids, ["old-2"]);
            assert!(vault.mark_reminded("old-2").unwrap());
        }
    }
    client
        .batch_execute(&format!(
            "DROP SCHEMA \"{records}\" CASCADE; DROP SCHEMA \"{keys}\" CASCADE;
             DROP OWNED BY {role}; DROP ROLE {role};"
        ))
        .unwrap();
}

/// The admin URL, whichever role `url` names (the key store stays the admin's here).
fn admin_url(url: &str) -> String {
    url.split_once("&user=")
        .or_else(|| url.split_once("?user="))
        .map_or_else(|| url.to_owned(), |(head, _)| head.to_owned())
}

/// The claim query is served by the partial index once the table is big enough for the
/// planner to prefer an index (not a timing assertion: the plan names the index).
#[test]
fn the_reminder_claim_uses_its_partial_index() {
    let Some(url) = autocsr_interop::postgres_url() else {
        return;
    };
    let schema = unique("ix");
    PostgresRecordStore::connect_with(&url, &options(&schema, 1_000)).unwrap();
    let mut client = admin(&url);
    // 20,000 revealed rows and 20 due ones: only the index finds the few cheaply.
    client
        .batch_execute(&format!(
            "INSERT INTO \"{schema}\".records (order_id, format, created_at, expires_at, key_id,
               reveal_count, state, nonce, ciphertext)
             SELECT 'o' || i, 2, 0, 1000 + i, '\\x00', CASE WHEN i % 1000 = 0 THEN 0 ELSE 1 END,
               0, '\\x00', '\\x00'
             FROM generate_series(1, 20000) AS i;
             ANALYZE \"{schema}\".records;"
        ))
        .unwrap();
    let plan: Vec<String> = client
        .query(
            &format!(
                "EXPLAIN SELECT order_id FROM \"{schema}\".records
                 WHERE state = 0 AND reveal_count = 0 AND reminded_at IS NULL
                   AND expires_at > $1 AND expires_at <= $2
                   AND (reminder_lease_until IS NULL OR reminder_lease_until <= $1)
                 ORDER BY expires_at, order_id LIMIT 100 FOR UPDATE SKIP LOCKED"
            ),
            &[&0i64, &100_000i64],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        plan.iter()
            .any(|line| line.contains("records_reminder_due")),
        "{plan:#?}"
    );
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .unwrap();
}
