//! The wrapper against a real PKCS#11 token: SoftHSM2, initialised by the test itself.
//!
//! Each test re-runs itself in a child process of this test binary with `SOFTHSM2_CONF`
//! pointing at a fresh token directory (SoftHSM2 reads it at `C_Initialize`, once per
//! process), and the user PIN in an environment variable. Without `softhsm2-util` or the
//! module (`AUTOCSR_PKCS11_MODULE`, default Debian's path) every test prints a loud
//! `SKIPPED:` notice and passes, unless `AUTOCSR_REQUIRE_INTEROP=1` makes that a failure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "test helpers outside #[test] fns: a failure should abort the test"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autocsr_credential::{Error, KeyId, KeyWrapper, ManualClock, Vault, period_end};
use autocsr_credential_pkcs11::{HsmConfig, HsmKeyWrapper, Pin, Pkcs11Error, Pkcs11Module};

const CHILD_VAR: &str = "AUTOCSR_PKCS11_TEST_CHILD";
const PIN_VAR: &str = "AUTOCSR_TEST_HSM_PIN";
const TOKEN: &str = "autocsr-test";
const PIN: &str = "4711-user";
const SO_PIN: &str = "0815-so";
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Runs `body` against a freshly initialised token, in a child process of its own (see
/// the module docs). `test` is the test's name, for the child's filter.
fn with_token(test: &str, body: impl FnOnce(&Pkcs11Module)) {
    if std::env::var_os(CHILD_VAR).is_some() {
        let module = Pkcs11Module::load(&autocsr_interop::softhsm_module()).unwrap();
        body(&module);
        return;
    }
    if !autocsr_interop::softhsm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = autocsr_interop::init_softhsm_token(dir.path(), TOKEN, PIN, SO_PIN);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD_VAR, "1")
        .env(PIN_VAR, PIN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child test {test} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn open(module: &Pkcs11Module) -> Arc<HsmKeyWrapper> {
    HsmKeyWrapper::open(
        module,
        HsmConfig::new(TOKEN, Pin::from_env(PIN_VAR).unwrap()),
    )
    .unwrap()
}

/// The boxed [`Pkcs11Error`] inside an [`Error::KeyWrap`].
fn hsm_error(e: &Error) -> &Pkcs11Error {
    match e {
        Error::KeyWrap(inner) => inner
            .downcast_ref::<Pkcs11Error>()
            .unwrap_or_else(|| panic!("not a Pkcs11Error: {e:?}")),
        other => panic!("expected Error::KeyWrap, got {other:?}"),
    }
}

/// 2030-01-01T01:00:00Z: one hour into a day, so a one-day window ends one hour into the
/// next day and its wrapping key's period (whole UTC days) ends a day later.
fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_893_456_000 + 3600)
}

fn ms(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// A consistent copy of a live SQLite store (what a backup takes).
fn snapshot(live: &Path, copy: &Path) {
    let conn = rusqlite::Connection::open(live).unwrap();
    conn.execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
}

struct Files {
    records: PathBuf,
    keys: PathBuf,
}

impl Files {
    fn in_dir(dir: &Path, name: &str) -> Self {
        Self {
            records: dir.join(format!("{name}-records.sqlite")),
            keys: dir.join(format!("{name}-keys.sqlite")),
        }
    }

    fn copy_to(&self, to: &Self) {
        snapshot(&self.records, &to.records);
        snapshot(&self.keys, &to.keys);
    }

    fn vault(&self, clock: &Arc<ManualClock>, wrapper: &Arc<HsmKeyWrapper>) -> Vault {
        Vault::open_sqlite_files(&self.records, &self.keys)
            .unwrap()
            .with_clock(clock.clone())
            .with_key_wrapper(wrapper.clone())
    }
}

/// How many of `orders` a vault over a restored copy of `backup` reveals, with the clock
/// rolled back to `at` (whoever restores a backup also controls its clock) and the live
/// HSM. Each count restores afresh, so reveals never change the backup.
fn decryptable_from(
    backup: &Files,
    scratch: &Path,
    at: SystemTime,
    wrapper: &Arc<HsmKeyWrapper>,
    orders: &[&str],
) -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let restored = Files::in_dir(scratch, &format!("restore{n}"));
    backup.copy_to(&restored);
    let clock = Arc::new(ManualClock::new(at).unwrap());
    let vault = restored.vault(&clock, wrapper);
    orders
        .iter()
        .filter(|o| match vault.reveal(o) {
            Ok(_) => true,
            Err(e) => {
                assert!(
                    matches!(hsm_error(&e), Pkcs11Error::WrappingKeyDestroyed { .. }),
                    "{e:?}"
                );
                false
            }
        })
        .count()
}

#[test]
fn round_trip_through_a_vault_with_wrapped_keys() {
    with_token("round_trip_through_a_vault_with_wrapped_keys", |module| {
        let wrapper = open(module);
        let dir = tempfile::tempdir().unwrap();
        let live = Files::in_dir(dir.path(), "live");
        let clock = Arc::new(ManualClock::new(start()).unwrap());
        let vault = live.vault(&clock, &wrapper);
        let ids: Vec<String> = (0..20).map(|i| format!("order-{i}")).collect();
        let issued = vault.issue_many(&ids, 3 * DAY).unwrap();
        let single = vault.issue("order-single", DAY).unwrap();
        for (id, cred) in ids.iter().zip(&issued) {
            assert_eq!(vault.reveal(id).unwrap().code, cred.code);
        }
        assert_eq!(vault.reveal("order-single").unwrap().code, single.code);
        // Two periods (one and three days out), one wrapping key each.
        assert_eq!(wrapper.wrapping_key_periods().unwrap().len(), 2);

        // The key store holds only wrapped blobs: 1 + 12 (IV) + 32 + 16 (tag) bytes.
        let conn = rusqlite::Connection::open(&live.keys).unwrap();
        let blobs: Vec<Vec<u8>> = conn
            .prepare("SELECT key FROM record_keys")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(blobs.len(), 21);
        assert!(blobs.iter().all(|b| b.len() == 61 && b[0] == 1));
    });
}

#[test]
fn a_wrapped_key_is_bound_to_its_id_and_expiry() {
    with_token("a_wrapped_key_is_bound_to_its_id_and_expiry", |module| {
        let wrapper = open(module);
        let key = [7u8; 32];
        let id = KeyId::from_bytes([1; 16]);
        let other = KeyId::from_bytes([2; 16]);
        let expiry = ms(start()) + 1000;
        let blob = wrapper.wrap(&id, expiry, &key).unwrap();
        assert_eq!(&wrapper.unwrap(&id, expiry, &blob).unwrap()[..], &key);
        // Same period, other id or expiry: refused.
        for (i, e) in [(&other, expiry), (&id, expiry + 1)] {
            let err = wrapper.unwrap(i, e, &blob).unwrap_err();
            assert!(
                matches!(hsm_error(&err), Pkcs11Error::NotAuthentic),
                "{err:?}"
            );
        }
        // Every single flipped bit and every truncation: refused, never a panic.
        for i in 0..blob.len() * 8 {
            let mut bad = blob.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(wrapper.unwrap(&id, expiry, &bad).is_err(), "bit {i}");
        }
        for len in 0..blob.len() {
            assert!(wrapper.unwrap(&id, expiry, &blob[..len]).is_err());
        }
        // Two wraps of one key differ (fresh IVs).
        assert_ne!(wrapper.wrap(&id, expiry, &key).unwrap(), blob);
    });
}

#[test]
fn purge_past_a_period_leaves_pre_purge_backups_undecryptable() {
    with_token(
        "purge_past_a_period_leaves_pre_purge_backups_undecryptable",
        |module| {
            let wrapper = open(module);
            let period = wrapper.period_ms();
            let dir = tempfile::tempdir().unwrap();
            let live = Files::in_dir(dir.path(), "live");
            let clock = Arc::new(ManualClock::new(start()).unwrap());
            let vault = live.vault(&clock, &wrapper);

            // Period P1 ends at day 2 00:00: "short" expires an hour into day 1, "edge"
            // exactly at P1's end. "long" is three days out, in a later period.
            let p1_end = period_end(ms(start()) + 24 * 3600 * 1000, period).unwrap();
            let edge_window = Duration::from_millis(p1_end - ms(start()));
            let short: Vec<String> = (0..5).map(|i| format!("short-{i}")).collect();
            vault.issue_many(&short, DAY).unwrap();
            vault.issue("edge", edge_window).unwrap();
            vault.issue("long", 3 * DAY).unwrap();
            let mut p1_orders: Vec<&str> = short.iter().map(String::as_str).collect();
            p1_orders.push("edge");

            let backup = Files::in_dir(dir.path(), "backup");
            live.copy_to(&backup);
            // Control: the backup decrypts every code while the wrapping keys live.
            assert_eq!(
                decryptable_from(&backup, dir.path(), start(), &wrapper, &p1_orders),
                6
            );

            // One millisecond before P1 ends, "edge" is still live: nothing is destroyed.
            clock
                .set(UNIX_EPOCH + Duration::from_millis(p1_end - 1))
                .unwrap();
            let report = vault.purge().unwrap();
            assert_eq!(report.wrapping_keys_destroyed, 0);
            assert_eq!(report.records_destroyed, 5);
            vault.reveal("edge").unwrap();
            assert_eq!(
                decryptable_from(&backup, dir.path(), start(), &wrapper, &p1_orders),
                6,
                "a live period's key must survive purge"
            );

            // At P1's end the period is over: its wrapping key is destroyed.
            clock
                .set(UNIX_EPOCH + Duration::from_millis(p1_end))
                .unwrap();
            let report = vault.purge().unwrap();
            assert_eq!(report.wrapping_keys_destroyed, 1);
            assert_eq!(report.records_destroyed, 1);
            assert!(!wrapper.wrapping_key_periods().unwrap().contains(&p1_end));

            // The same backup, the live HSM, the clock rolled back: 0 codes of P1.
            assert_eq!(
                decryptable_from(&backup, dir.path(), start(), &wrapper, &p1_orders),
                0
            );
            // The later period is untouched.
            assert_eq!(
                decryptable_from(&backup, dir.path(), start(), &wrapper, &["long"]),
                1
            );
            assert_eq!(vault.purge().unwrap().wrapping_keys_destroyed, 0);
            vault.reveal("long").unwrap();
        },
    );
}

#[test]
fn a_wrapping_key_is_sensitive_and_never_extractable() {
    with_token(
        "a_wrapping_key_is_sensitive_and_never_extractable",
        |module| {
            let wrapper = open(module);
            let expiry = ms(start());
            wrapper
                .wrap(&KeyId::from_bytes([3; 16]), expiry, &[0; 32])
                .unwrap();
            let end = period_end(expiry, wrapper.period_ms()).unwrap();
            // sensitive, extractable, always sensitive, never extractable, token object.
            assert_eq!(
                wrapper.wrapping_key_attributes(end).unwrap(),
                vec![[true, false, true, true, true]]
            );

            // A second session of our own, logged in with the PIN, cannot read its value.
            use cryptoki::object::{Attribute, AttributeType};
            let ctx = cryptoki::context::Pkcs11::new(autocsr_interop::softhsm_module()).unwrap();
            let slot = ctx
                .get_slots_with_initialized_token()
                .unwrap()
                .into_iter()
                .find(|s| ctx.get_token_info(*s).unwrap().label() == TOKEN)
                .unwrap();
            let session = ctx.open_rw_session(slot).unwrap();
            let handles = session
                .find_objects(&[Attribute::Label(wrapper.label_for(end).into_bytes())])
                .unwrap();
            assert_eq!(handles.len(), 1);
            let value = session.get_attributes(handles[0], &[AttributeType::Value]);
            assert!(
                !matches!(value.as_deref(), Ok([Attribute::Value(_)])),
                "the key value was readable"
            );
            // Nor can it be made extractable.
            assert!(
                session
                    .update_attributes(handles[0], &[Attribute::Extractable(true)])
                    .is_err()
            );
        },
    );
}

#[test]
fn a_wrong_pin_and_a_missing_token_are_clear_errors() {
    with_token(
        "a_wrong_pin_and_a_missing_token_are_clear_errors",
        |module| {
            let wrong = HsmConfig::new(TOKEN, pin_file("not-the-pin\n"));
            let err = HsmKeyWrapper::open(module, wrong).unwrap_err();
            assert!(
                matches!(hsm_error(&err), Pkcs11Error::Login { .. }),
                "{err:?}"
            );
            let text = format!("{err} {err:?} {}", hsm_error(&err));
            assert!(
                !text.contains("not-the-pin") && !text.contains(PIN),
                "{text}"
            );

            let missing = HsmConfig::new("no-such-token", Pin::from_env(PIN_VAR).unwrap());
            let err = HsmKeyWrapper::open(module, missing).unwrap_err();
            assert!(
                matches!(hsm_error(&err), Pkcs11Error::TokenNotFound { label } if label == "no-such-token"),
                "{err:?}"
            );
            assert!(hsm_error(&err).to_string().contains("no-such-token"));

            // The right PIN from a file (with its newline) opens it.
            let right = HsmConfig::new(TOKEN, pin_file(&format!("{PIN}\n")));
            assert!(!format!("{right:?}").contains(PIN));
            HsmKeyWrapper::open(module, right).unwrap();
        },
    );
}

fn pin_file(text: &str) -> Pin {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    Pin::from_file(file.path()).unwrap()
}

#[test]
fn bad_settings_and_a_missing_module_are_clear_errors() {
    // No token needed: runs in this process.
    let err = Pkcs11Module::load(Path::new("/nonexistent/libpkcs11.so")).unwrap_err();
    assert!(
        matches!(hsm_error(&err), Pkcs11Error::Module { .. }),
        "{err:?}"
    );
    let err = Pin::from_env("AUTOCSR_TEST_NO_SUCH_PIN_VARIABLE").unwrap_err();
    assert!(matches!(hsm_error(&err), Pkcs11Error::Pin { .. }));
    let empty = tempfile::NamedTempFile::new().unwrap();
    assert!(Pin::from_file(empty.path()).is_err());
    let newline_only = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(newline_only.path(), "\n").unwrap();
    assert!(Pin::from_file(newline_only.path()).is_err());
}

#[test]
fn a_lost_session_is_reopened_on_the_next_call() {
    with_token("a_lost_session_is_reopened_on_the_next_call", |module| {
        let wrapper = open(module);
        let id = KeyId::from_bytes([4; 16]);
        let expiry = ms(start());
        let blob = wrapper.wrap(&id, expiry, &[9; 32]).unwrap();
        // The HSM "restarts": every session and login of this process is gone.
        let ctx = cryptoki::context::Pkcs11::new(autocsr_interop::softhsm_module()).unwrap();
        ctx.clone().finalize().unwrap();
        ctx.initialize(cryptoki::context::CInitializeArgs::new(
            cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
        ))
        .unwrap();
        assert_eq!(&wrapper.unwrap(&id, expiry, &blob).unwrap()[..], &[9; 32]);
        let blob2 = wrapper.wrap(&id, expiry, &[8; 32]).unwrap();
        assert_eq!(&wrapper.unwrap(&id, expiry, &blob2).unwrap()[..], &[8; 32]);
        // Still one wrapping key for the period (found again, not created anew).
        assert_eq!(wrapper.wrapping_key_periods().unwrap().len(), 1);

        // Logged out behind its back (login state is per process): the next call logs in.
        let slot = ctx
            .get_slots_with_initialized_token()
            .unwrap()
            .into_iter()
            .find(|s| ctx.get_token_info(*s).unwrap().label() == TOKEN)
            .unwrap();
        let session = ctx.open_ro_session(slot).unwrap();
        session.logout().unwrap();
        drop(session);
        assert_eq!(&wrapper.unwrap(&id, expiry, &blob).unwrap()[..], &[9; 32]);
    });
}

/// A session of the test's own on the token, logged in (as a second server would be).
fn own_session(module_path: &Path) -> (cryptoki::context::Pkcs11, cryptoki::session::Session) {
    let ctx = cryptoki::context::Pkcs11::new(module_path).unwrap();
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label() == TOKEN)
        .unwrap();
    let session = ctx.open_rw_session(slot).unwrap();
    match session.login(
        cryptoki::session::UserType::User,
        Some(&PIN.to_owned().into()),
    ) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {
        }
        Err(e) => panic!("{e}"),
    }
    (ctx, session)
}

#[test]
fn two_keys_for_one_period_both_unwrap_and_both_are_destroyed() {
    with_token(
        "two_keys_for_one_period_both_unwrap_and_both_are_destroyed",
        |module| {
            use cryptoki::mechanism::{Mechanism, aead::GcmParams};
            use cryptoki::object::{Attribute, KeyType, ObjectClass};
            let wrapper = open(module);
            let expiry = ms(start());
            let end = period_end(expiry, wrapper.period_ms()).unwrap();
            let id1 = KeyId::from_bytes([5; 16]);
            let blob1 = wrapper.wrap(&id1, expiry, &[1; 32]).unwrap();

            // Another server created the same period's key at the same moment and wrapped
            // a record key under it (the blob format, written out here on purpose).
            let (_ctx, session) = own_session(&autocsr_interop::softhsm_module());
            let other = session
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::AES),
                        Attribute::ValueLen(32.into()),
                        Attribute::Token(true),
                        Attribute::Private(true),
                        Attribute::Encrypt(true),
                        Attribute::Decrypt(true),
                        Attribute::Label(wrapper.label_for(end).into_bytes()),
                    ],
                )
                .unwrap();
            let id2 = KeyId::from_bytes([6; 16]);
            let mut aad = b"autocsr-credential-pkcs11 wrap v1\0".to_vec();
            aad.extend_from_slice(id2.as_bytes());
            aad.extend_from_slice(&expiry.to_be_bytes());
            let iv = [42u8; 12];
            let mut iv_param = iv;
            let params = GcmParams::new(&mut iv_param, &aad, 128.into()).unwrap();
            let sealed = session
                .encrypt(&Mechanism::AesGcm(params), other, &[2; 32])
                .unwrap();
            let blob2 = [&[1u8][..], &iv, &sealed].concat();

            // A fresh wrapper (another server) unwraps both.
            let fresh = open(module);
            assert_eq!(&fresh.unwrap(&id1, expiry, &blob1).unwrap()[..], &[1; 32]);
            assert_eq!(&fresh.unwrap(&id2, expiry, &blob2).unwrap()[..], &[2; 32]);
            // So does the first wrapper, although it cached only its own key for the period
            // (found by the multi-process run: its reveals of the other server's orders
            // failed as not authentic).
            assert_eq!(&wrapper.unwrap(&id2, expiry, &blob2).unwrap()[..], &[2; 32]);
            assert_eq!(wrapper.wrapping_key_periods().unwrap(), vec![end, end]);

            // One millisecond early nothing goes; at the end both go.
            assert_eq!(wrapper.destroy_expired(end - 1).unwrap(), 0);
            assert_eq!(wrapper.destroy_expired(end).unwrap(), 2);
            assert_eq!(wrapper.destroy_expired(end).unwrap(), 0);
            for (id, blob) in [(&id1, &blob1), (&id2, &blob2)] {
                // Also through the wrapper whose cache still held the destroyed handle.
                for w in [&wrapper, &fresh] {
                    let err = w.unwrap(id, expiry, blob).unwrap_err();
                    assert!(
                        matches!(hsm_error(&err), Pkcs11Error::WrappingKeyDestroyed { period_end_ms } if *period_end_ms == end),
                        "{err:?}"
                    );
                }
            }
        },
    );
}

#[test]
fn postgres_table_copies_taken_before_purge_decrypt_nothing_after_it() {
    use autocsr_credential_postgres::{
        KeyProtection, Options, PostgresKeyStore, PostgresRecordStore,
    };
    use std::str::FromStr;

    let Some(url) = autocsr_interop::postgres_url() else {
        return;
    };
    with_token(
        "postgres_table_copies_taken_before_purge_decrypt_nothing_after_it",
        |module| {
            let wrapper = open(module);
            let tag = format!("p{}", std::process::id());
            let schema = |name: &str| format!("{tag}_{name}");
            let options = |schema: String| {
                let mut options = Options::default();
                options.schema = schema;
                options
            };
            let stores = |name: &str| {
                let records =
                    PostgresRecordStore::connect_with(&url, &options(schema(&format!("{name}_r"))))
                        .unwrap();
                let keys = PostgresKeyStore::connect_with(
                    &url,
                    KeyProtection::DestroyingWrapper,
                    &options(schema(&format!("{name}_k"))),
                )
                .unwrap();
                (Arc::new(records), Arc::new(keys))
            };
            let mut admin = postgres::Config::from_str(&url)
                .unwrap()
                .connect(postgres::NoTls)
                .unwrap();

            let clock = Arc::new(ManualClock::new(start()).unwrap());
            let (records, keys) = stores("live");
            let vault = Vault::new(records, keys)
                .with_clock(clock.clone())
                .with_key_wrapper(wrapper.clone());
            let orders: Vec<String> = (0..8).map(|i| format!("pg-{i}")).collect();
            vault.issue_many(&orders, DAY).unwrap();
            let orders: Vec<&str> = orders.iter().map(String::as_str).collect();

            // The copies a backup would hold: both tables, taken before the purge.
            for (from, table) in [("live_r", "records"), ("live_k", "record_keys")] {
                admin
                    .batch_execute(&format!(
                        "CREATE SCHEMA IF NOT EXISTS {b}; CREATE TABLE {b}.{table} AS SELECT * FROM {f}.{table}",
                        b = schema("backup"),
                        f = schema(from)
                    ))
                    .unwrap();
            }
            let mut restores = 0;
            let mut decryptable = |admin: &mut postgres::Client| {
                restores += 1;
                let name = format!("restore{restores}");
                let (records, keys) = stores(&name);
                for (to, table) in [("r", "records"), ("k", "record_keys")] {
                    admin
                        .batch_execute(&format!(
                            "INSERT INTO {t}.{table} SELECT * FROM {b}.{table}",
                            t = schema(&format!("{name}_{to}")),
                            b = schema("backup")
                        ))
                        .unwrap();
                }
                let rolled_back = Arc::new(ManualClock::new(start()).unwrap());
                let restored = Vault::new(records, keys)
                    .with_clock(rolled_back)
                    .with_key_wrapper(wrapper.clone());
                orders.iter().filter(|o| restored.reveal(o).is_ok()).count()
            };

            assert_eq!(decryptable(&mut admin), 8, "control: before the purge");
            let end = period_end(ms(start() + DAY), wrapper.period_ms()).unwrap();
            clock.set(UNIX_EPOCH + Duration::from_millis(end)).unwrap();
            let report = vault.purge().unwrap();
            assert_eq!(report.records_destroyed, 8);
            assert_eq!(report.wrapping_keys_destroyed, 1);
            assert_eq!(decryptable(&mut admin), 0, "after the purge");

            let drop_all: Vec<String> = [
                "live_r",
                "live_k",
                "backup",
                "restore1_r",
                "restore1_k",
                "restore2_r",
                "restore2_k",
            ]
            .iter()
            .map(|n| format!("DROP SCHEMA IF EXISTS {} CASCADE;", schema(n)))
            .collect();
            admin.batch_execute(&drop_all.concat()).unwrap();
        },
    );
}

/// The proof of issue 12 with a real `pg_basebackup`: a base backup of a private cluster
/// taken before the purge, started as a cluster of its own next to the live HSM (the
/// clock rolled back: whoever restores a backup also controls its clock), decrypts every
/// code of the period before the purge (the control) and none once the purge destroyed
/// the period's wrapping key, although the backup still holds every record and every
/// wrapped key. Codes of a later period still decrypt from it.
#[test]
fn a_base_backup_taken_before_purge_decrypts_nothing_after_it() {
    use autocsr_credential_postgres::{
        KeyProtection, Options, PostgresKeyStore, PostgresRecordStore,
    };
    use autocsr_interop::{Needles, PrivateCluster};
    use std::str::FromStr as _;

    // The parent reports missing PostgreSQL programs; the child starts the cluster.
    if std::env::var_os(CHILD_VAR).is_none() && !PrivateCluster::available() {
        return;
    }
    with_token(
        "a_base_backup_taken_before_purge_decrypts_nothing_after_it",
        |module| {
            let wrapper = open(module);
            let cluster = PrivateCluster::start().unwrap();
            let vault_on = |url: &str, clock: Arc<ManualClock>| {
                let mut options = Options::default();
                options.schema = "bb_records".to_owned();
                let records = PostgresRecordStore::connect_with(url, &options).unwrap();
                options.schema = "bb_keys".to_owned();
                let keys =
                    PostgresKeyStore::connect_with(url, KeyProtection::DestroyingWrapper, &options)
                        .unwrap();
                Vault::new(Arc::new(records), Arc::new(keys))
                    .with_clock(clock)
                    .with_key_wrapper(wrapper.clone())
            };
            let rows = |url: &str| -> (i64, i64) {
                let mut admin = postgres::Config::from_str(url)
                    .unwrap()
                    .connect(postgres::NoTls)
                    .unwrap();
                let row = admin
                    .query_one(
                        "SELECT (SELECT count(*) FROM bb_records.records),
                                (SELECT count(*) FROM bb_keys.record_keys)",
                        &[],
                    )
                    .unwrap();
                (row.get(0), row.get(1))
            };

            let clock = Arc::new(ManualClock::new(start()).unwrap());
            let vault = vault_on(cluster.url(), clock.clone());
            let short: Vec<String> = (0..8).map(|i| format!("bb-{i}")).collect();
            vault.issue_many(&short, DAY).unwrap();
            vault.issue("long", 3 * DAY).unwrap();
            let short: Vec<&str> = short.iter().map(String::as_str).collect();

            let backup = cluster.base_backup();
            // The raw record keys (unwrapped here by the test) are in no file of either
            // cluster, its log included; the wrapped ones are (the control: the search
            // sees the backup's tables).
            let mut admin = postgres::Config::from_str(cluster.url())
                .unwrap()
                .connect(postgres::NoTls)
                .unwrap();
            admin.batch_execute("CHECKPOINT").unwrap();
            let (mut raw, mut wrapped) = (Vec::new(), Vec::new());
            for row in admin
                .query(
                    "SELECT key_id, expires_at, key FROM bb_keys.record_keys",
                    &[],
                )
                .unwrap()
            {
                let id = KeyId::from_slice(row.get(0)).unwrap();
                let expires = u64::try_from(row.get::<_, i64>(1)).unwrap();
                let blob: Vec<u8> = row.get(2);
                raw.push(wrapper.unwrap(&id, expires, &blob).unwrap().to_vec());
                wrapped.push(blob);
            }
            let raw = Needles::new(raw);
            let wrapped = Needles::new(wrapped);
            let both = [
                cluster.socket_dir().to_owned(),
                backup.socket_dir().to_owned(),
            ];
            assert_eq!(wrapped.found_in(&[backup.data_path()]).needles, 9);
            assert_eq!(raw.found_in(&both).copies, 0, "a raw record key on disk");
            drop(admin);

            // Starts the backup as a cluster of its own, opens a vault on it next to the
            // live HSM with the clock rolled back, and counts the codes it reveals; then
            // stops it again. Returns (codes of the period, the later code).
            let decryptable = || -> (usize, usize) {
                backup.start_again();
                assert_eq!(rows(backup.url()), (9, 9), "the backup holds every row");
                let restored = vault_on(backup.url(), Arc::new(ManualClock::new(start()).unwrap()));
                let count = |orders: &[&str]| {
                    orders
                        .iter()
                        .filter(|o| match restored.reveal(o) {
                            Ok(_) => true,
                            Err(e) => {
                                assert!(
                                    matches!(
                                        hsm_error(&e),
                                        Pkcs11Error::WrappingKeyDestroyed { .. }
                                    ),
                                    "{e:?}"
                                );
                                false
                            }
                        })
                        .count()
                };
                let counts = (count(&short), count(&["long"]));
                drop(restored);
                backup.stop_immediately();
                counts
            };

            assert_eq!(decryptable(), (8, 1), "control: before the purge");
            let end = period_end(ms(start() + DAY), wrapper.period_ms()).unwrap();
            clock.set(UNIX_EPOCH + Duration::from_millis(end)).unwrap();
            let report = vault.purge().unwrap();
            assert_eq!(report.records_destroyed, 8);
            assert_eq!(report.keys_destroyed, 8);
            assert_eq!(report.wrapping_keys_destroyed, 1);
            assert_eq!(rows(cluster.url()), (1, 1));
            assert_eq!(decryptable(), (0, 1), "the same backup after the purge");
            vault.reveal("long").unwrap();
        },
    );
}

#[test]
fn many_threads_share_one_wrapper_and_one_key_per_period() {
    with_token(
        "many_threads_share_one_wrapper_and_one_key_per_period",
        |module| {
            let wrapper = open(module);
            let base = ms(start());
            let day = wrapper.period_ms();
            std::thread::scope(|scope| {
                for t in 0u8..4 {
                    let wrapper = &wrapper;
                    scope.spawn(move || {
                        for i in 0u8..25 {
                            let id =
                                KeyId::from_bytes([t, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                            let expiry = base + u64::from(i % 3) * day;
                            let key = [t ^ i; 32];
                            let blob = wrapper.wrap(&id, expiry, &key).unwrap();
                            assert_eq!(&wrapper.unwrap(&id, expiry, &blob).unwrap()[..], &key);
                        }
                    });
                }
            });
            // One process never creates a period's key twice.
            let periods = wrapper.wrapping_key_periods().unwrap();
            let first = period_end(base, day).unwrap();
            assert_eq!(periods, vec![first, first + day, first + 2 * day]);
        },
    );
}

/// The token directory of the SoftHSM2 configuration this child process runs under.
fn token_dir() -> PathBuf {
    let conf = std::fs::read_to_string(std::env::var_os("SOFTHSM2_CONF").unwrap()).unwrap();
    conf.lines()
        .find_map(|line| line.strip_prefix("directories.tokendir = "))
        .map(PathBuf::from)
        .unwrap()
}

/// The HSM restarts (every session and login of this process gone), from another handle
/// on the module; `Err` if it cannot come up (no token store).
fn restart_hsm() -> Result<(), cryptoki::error::Error> {
    let ctx = cryptoki::context::Pkcs11::new(autocsr_interop::softhsm_module()).unwrap();
    let _ = ctx.clone().finalize();
    ctx.initialize(cryptoki::context::CInitializeArgs::new(
        cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
    ))
}

/// The HSM loses its token under a PostgreSQL vault (restarted without its token store:
/// a pulled token, a lost HSM partition). Every call fails with a typed `KeyWrap` error
/// and writes nothing: no record, no key, no reveal counted. When the HSM is back, the
/// next call on the same vault and wrapper recovers (a fresh session, logged in again).
#[test]
fn a_lost_hsm_fails_calls_cleanly_and_the_next_call_after_it_returns_recovers() {
    use autocsr_credential::KeyStore as _;
    use autocsr_credential_postgres::{
        KeyProtection, Options, PostgresKeyStore, PostgresRecordStore,
    };
    use std::str::FromStr as _;

    let Some(url) = autocsr_interop::postgres_url() else {
        return;
    };
    with_token(
        "a_lost_hsm_fails_calls_cleanly_and_the_next_call_after_it_returns_recovers",
        |module| {
            let wrapper = open(module);
            let tag = format!("lost{}", std::process::id());
            let mut options = Options::default();
            options.schema = format!("{tag}_r");
            let records = Arc::new(PostgresRecordStore::connect_with(&url, &options).unwrap());
            options.schema = format!("{tag}_k");
            let keys = Arc::new(
                PostgresKeyStore::connect_with(&url, KeyProtection::DestroyingWrapper, &options)
                    .unwrap(),
            );
            let vault = Vault::new(records, keys.clone()).with_key_wrapper(wrapper.clone());
            let issued = vault.issue("hsm-1", DAY).unwrap();

            let tokens = token_dir();
            let away = tokens.with_extension("away");
            std::fs::rename(&tokens, &away).unwrap();
            assert!(
                restart_hsm().is_err(),
                "SoftHSM2 came up without its token store"
            );
            for _ in 0..3 {
                let err = vault.reveal("hsm-1").unwrap_err();
                assert!(matches!(hsm_error(&err), Pkcs11Error::Token(_)), "{err:?}");
                let err = vault.issue("hsm-2", DAY).unwrap_err();
                assert!(matches!(hsm_error(&err), Pkcs11Error::Token(_)), "{err:?}");
            }
            // Nothing half-written: one record, one key, no reveal counted, no hsm-2.
            assert_eq!(keys.count().unwrap(), 1);
            let status = vault.status("hsm-1").unwrap();
            assert_eq!(status.reveal_count, 0);
            assert!(matches!(vault.status("hsm-2"), Err(Error::NotFound)));

            std::fs::rename(&away, &tokens).unwrap();
            restart_hsm().unwrap();
            let revealed = vault.reveal("hsm-1").unwrap();
            assert_eq!(revealed.code, issued.code);
            assert_eq!(revealed.reveal_count, 1);
            vault.issue("hsm-2", DAY).unwrap();
            assert_eq!(keys.count().unwrap(), 2);

            let mut admin = postgres::Config::from_str(&url)
                .unwrap()
                .connect(postgres::NoTls)
                .unwrap();
            admin
                .batch_execute(&format!(
                    "DROP SCHEMA {tag}_r CASCADE; DROP SCHEMA {tag}_k CASCADE"
                ))
                .unwrap();
        },
    );
}
