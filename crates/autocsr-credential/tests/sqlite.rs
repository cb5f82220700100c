//! SQLite store: file modes, shredding on disk, schema versions, concurrency.

#![cfg(feature = "sqlite")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: a failure should abort the test"
)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autocsr_credential::record::{StoredRecord, open_record};
use autocsr_credential::secrecy::ExposeSecret;
use autocsr_credential::{
    Clock, Error, KEYS_FILE, KeyStore, ManualClock, RECORDS_FILE, RecordStore, SqliteKeyStore,
    SqliteRecordStore, Vault,
};

const DAY: Duration = Duration::from_secs(86_400);
const HOUR: Duration = Duration::from_secs(3600);

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(20_833 * 86_400)
}

fn raw_files(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if let Ok(w) = std::fs::read(&wal) {
        bytes.extend_from_slice(&w);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(unix)]
#[test]
fn files_are_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("vault");
    let vault = Vault::open_sqlite(&dir).unwrap();
    vault.issue("perm-1", DAY).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for file in [RECORDS_FILE, KEYS_FILE] {
        for suffix in ["", "-wal", "-shm"] {
            let path = dir.join(format!("{file}{suffix}"));
            assert!(path.exists(), "{}", path.display());
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}

#[test]
fn reopening_keeps_records_and_schema_version_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let code = {
        let vault = Vault::open_sqlite(dir.path()).unwrap();
        vault.issue("persist", DAY).unwrap().code
    };
    let vault = Vault::open_sqlite(dir.path()).unwrap();
    assert_eq!(vault.reveal("persist").unwrap().code, code);
    drop(vault);
    let conn = rusqlite::Connection::open(dir.path().join(RECORDS_FILE)).unwrap();
    let version: i64 = conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
    conn.execute("INSERT INTO schema_version (version) VALUES (99)", [])
        .unwrap();
    drop(conn);
    assert!(matches!(
        Vault::open_sqlite(dir.path()),
        Err(Error::UnsupportedSchema {
            found: 99,
            supported: 1
        })
    ));
}

#[test]
fn purge_leaves_no_destroyed_key_bytes_in_the_files_and_backups_stay_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let records_path = dir.path().join(RECORDS_FILE);
    let keys_path = dir.path().join(KEYS_FILE);
    let records = Arc::new(SqliteRecordStore::open(&records_path).unwrap());
    let keys = Arc::new(SqliteKeyStore::open(&keys_path).unwrap());
    let clock = Arc::new(ManualClock::new(start()).unwrap());
    let vault = Vault::new(records.clone(), keys.clone()).with_clock(clock.clone());
    for i in 0..20 {
        vault.issue(&format!("short-{i}"), DAY).unwrap();
        vault.issue(&format!("long-{i}"), DAY * 5).unwrap();
    }
    let epochs = keys.epochs().unwrap();
    assert_eq!(epochs.len(), 2);
    let doomed_key = keys.get(epochs[0]).unwrap().unwrap();
    let surviving_key = keys.get(epochs[1]).unwrap().unwrap();
    // The grep can find a key: otherwise the check below would prove nothing.
    assert!(contains(&raw_files(&keys_path), &doomed_key));

    // "A backup": copy the record store (database and WAL) before the purge.
    let backup = tempfile::tempdir().unwrap();
    let backup_path = backup.path().join("copy.sqlite3");
    std::fs::copy(&records_path, &backup_path).unwrap();
    let mut wal = records_path.as_os_str().to_owned();
    wal.push("-wal");
    let mut backup_wal = backup_path.as_os_str().to_owned();
    backup_wal.push("-wal");
    std::fs::copy(&wal, &backup_wal).unwrap();

    clock.advance(DAY);
    let report = vault.purge().unwrap();
    assert_eq!(report.records_destroyed, 20);
    assert_eq!(report.epoch_keys_destroyed, 1);

    let raw_keys = raw_files(&keys_path);
    assert!(
        !contains(&raw_keys, &doomed_key),
        "destroyed key bytes remain on disk"
    );
    assert!(
        contains(&raw_keys, &surviving_key),
        "the live key must still be there"
    );

    // Every short-window code in the backup is now undecryptable with anything left.
    let copy = SqliteRecordStore::open(&backup_path).unwrap();
    let remaining: Vec<_> = keys
        .epochs()
        .unwrap()
        .into_iter()
        .map(|e| keys.get(e).unwrap().unwrap())
        .collect();
    for i in 0..20 {
        let record: StoredRecord = copy.load(&format!("short-{i}")).unwrap().unwrap();
        assert!(keys.get(record.key_epoch).unwrap().is_none());
        for key in &remaining {
            assert!(matches!(open_record(&record, key), Err(Error::Tampered)));
        }
        // The long-window ones in the backup still open: the check is not vacuous.
        let live: StoredRecord = copy.load(&format!("long-{i}")).unwrap().unwrap();
        assert!(open_record(&live, &surviving_key).is_ok());
    }
    // Purged records' ciphertexts are gone from the live record files too.
    let raw_records = raw_files(&records_path);
    let old: StoredRecord = copy.load("short-0").unwrap().unwrap();
    if let autocsr_credential::record::RecordBody::Sealed { ciphertext, .. } = &old.body {
        assert!(!contains(&raw_records, ciphertext));
    }
}

#[test]
fn eight_threads_issue_reveal_revoke_and_purge() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start()).unwrap());
    let vault = Arc::new(
        Vault::open_sqlite(dir.path())
            .unwrap()
            .with_clock(clock.clone())
            .with_epoch_length(HOUR)
            .unwrap(),
    );
    // order id -> (code text, expires_at)
    let issued: Arc<Mutex<HashMap<String, (String, SystemTime)>>> = Arc::default();
    let revoked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();

    let mut handles = Vec::new();
    for t in 0..8usize {
        let (vault, clock, issued, revoked, violations) = (
            vault.clone(),
            clock.clone(),
            issued.clone(),
            revoked.clone(),
            violations.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let pick = |i: usize| -> Option<(String, (String, SystemTime))> {
                let map = issued.lock().unwrap();
                let n = map.len();
                if n == 0 {
                    return None;
                }
                map.iter()
                    .nth((i * 7919 + t * 31) % n)
                    .map(|(k, v)| (k.clone(), v.clone()))
            };
            // A reveal must never succeed after expiry or return another order's code.
            let check_reveal = |id: &str, text: &str| {
                let before = clock.now();
                match vault.reveal(id) {
                    Ok(r) => {
                        if r.expires_at <= before {
                            violations
                                .lock()
                                .unwrap()
                                .push(format!("reveal after expiry: {id}"));
                        }
                        if r.code.reveal().expose_secret() != text {
                            violations.lock().unwrap().push(format!("wrong code: {id}"));
                        }
                    }
                    Err(Error::Expired { .. } | Error::Revoked | Error::NotFound) => {}
                    Err(e) => violations.lock().unwrap().push(format!("{id}: {e}")),
                }
            };
            for i in 0..40usize {
                match t {
                    0..=3 => {
                        let id = format!("t{t}-{i}");
                        let window = HOUR * (1 + u32::try_from(i % 3).unwrap());
                        let cred = vault.issue(&id, window).unwrap();
                        let text = cred.code.reveal().expose_secret().to_owned();
                        issued
                            .lock()
                            .unwrap()
                            .insert(id.clone(), (text.clone(), cred.expires_at));
                        check_reveal(&id, &text);
                    }
                    4 => {
                        if let Some((id, _)) = pick(i)
                            && i % 4 == 0
                        {
                            match vault.revoke(&id) {
                                Ok(()) => {
                                    revoked.lock().unwrap().insert(id);
                                }
                                Err(Error::Expired { .. } | Error::NotFound) => {}
                                Err(e) => {
                                    violations.lock().unwrap().push(format!("revoke {id}: {e}"))
                                }
                            }
                        }
                    }
                    5 => {
                        vault.purge().unwrap();
                    }
                    6 => {
                        if i % 10 == 9 {
                            clock.advance(Duration::from_secs(20 * 60));
                        }
                        vault.purge().unwrap();
                    }
                    _ => {
                        if let Some((id, (text, _))) = pick(i) {
                            check_reveal(&id, &text);
                        }
                    }
                }
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(violations.lock().unwrap().as_slice(), &[] as &[String]);

    let issued = issued.lock().unwrap();
    assert_eq!(issued.len(), 160);
    let codes: HashSet<&String> = issued.values().map(|(c, _)| c).collect();
    assert_eq!(codes.len(), issued.len(), "two orders got the same code");
    let revoked = revoked.lock().unwrap();
    let now = clock.now();
    let mut live = 0;
    for (id, (text, expires_at)) in issued.iter() {
        let result = vault.reveal(id);
        if revoked.contains(id) {
            assert!(
                matches!(
                    result,
                    Err(Error::Revoked | Error::NotFound | Error::Expired { .. })
                ),
                "{id}"
            );
        } else if *expires_at > now {
            live += 1;
            let r = result.unwrap_or_else(|e| panic!("live record {id} lost: {e}"));
            assert_eq!(r.code.reveal().expose_secret(), text);
        } else {
            assert!(
                matches!(result, Err(Error::NotFound | Error::Expired { .. })),
                "{id}"
            );
        }
    }
    assert!(
        live > 0,
        "the clock moved too far for the test to check anything"
    );
}
