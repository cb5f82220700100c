//! Where a purged record key's bytes survive in PostgreSQL, measured on a private cluster
//! (`autocsr_interop::PrivateCluster`: initdb in a temp dir, its own socket), with the key
//! store in the hazmat mode (`KeyProtection::HazmatRawKeys`: raw 32-byte record keys in
//! the table). This is why PostgreSQL key stores must hold only keys wrapped under a key
//! that really can be destroyed (an HSM's; see `autocsr-credential-pkcs11`).
//!
//! The test issues codes, takes a `pg_basebackup`, purges, and then searches the table's
//! heap file, `pg_wal`, the database directory and the base backup for each destroyed
//! key's 32 bytes, after the purge, after a plain `VACUUM` and after `VACUUM FULL`. It
//! asserts what PostgreSQL guarantees (the sentences of the crate README) and prints every
//! count. Without PostgreSQL's server programs it prints a loud `SKIPPED:` notice and
//! passes, unless `AUTOCSR_REQUIRE_INTEROP=1` makes that a failure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: a failure should abort the test"
)]

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use autocsr_credential::{ManualClock, Vault};
use autocsr_credential_postgres::{KeyProtection, Options, PostgresKeyStore, PostgresRecordStore};
use autocsr_interop::{Needles, PrivateCluster};

const DAY: Duration = Duration::from_secs(24 * 3600);
const KEY_LEN: usize = 32;
/// Codes that expire and are purged.
const PURGED: usize = 20;
/// Codes still live at the purge: the key table keeps a live page, as in any running vault
/// (a table emptied completely is truncated to nothing by `VACUUM`).
const LIVE: usize = 5;

fn admin(url: &str) -> postgres::Client {
    postgres::Config::from_str(url)
        .unwrap()
        .connect(postgres::NoTls)
        .unwrap()
}

fn options(schema: &str) -> Options {
    let mut options = Options::default();
    options.schema = schema.to_owned();
    options
}

/// The table's main heap file, from `pg_relation_filepath` (the table is far below 1 GiB,
/// one segment), and its database's directory.
fn heap_file(admin: &mut postgres::Client, data: &Path, table: &str) -> (PathBuf, PathBuf) {
    let relative: String = admin
        .query_one("SELECT pg_relation_filepath($1::text::regclass)", &[&table])
        .unwrap()
        .get(0);
    let file = data.join(relative);
    let database = file.parent().unwrap().to_owned();
    (file, database)
}

#[test]
fn destroyed_raw_keys_survive_in_dead_tuples_wal_and_base_backups() {
    let Some(cluster) = PrivateCluster::start() else {
        return;
    };
    let url = cluster.url();
    let data = cluster.data_path();
    let mut admin = admin(url);
    let start = UNIX_EPOCH + Duration::from_secs(1_893_456_000);
    let clock = Arc::new(ManualClock::new(start).unwrap());
    let records = PostgresRecordStore::connect_with(url, &options("hz_records")).unwrap();
    let keys =
        PostgresKeyStore::connect_with(url, KeyProtection::HazmatRawKeys, &options("hz_keys"))
            .unwrap();
    let table = "hz_keys.record_keys";
    // No autovacuum between the steps below: each VACUUM is the test's own.
    admin
        .batch_execute(&format!(
            "ALTER TABLE {table} SET (autovacuum_enabled = false)"
        ))
        .unwrap();
    let vault = Vault::new(Arc::new(records), Arc::new(keys)).with_clock(clock.clone());
    let purged: Vec<String> = (0..PURGED).map(|i| format!("short-{i}")).collect();
    let live: Vec<String> = (0..LIVE).map(|i| format!("long-{i}")).collect();
    vault.issue_many(&purged, DAY).unwrap();
    vault.issue_many(&live, 30 * DAY).unwrap();

    // The raw keys, read before the purge (in the hazmat mode the blob is the key).
    let purge_at = start + 2 * DAY;
    let purge_ms = i64::try_from(purge_at.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
    let read_keys = |admin: &mut postgres::Client, op: &str| -> Vec<Vec<u8>> {
        admin
            .query(
                &format!("SELECT key FROM {table} WHERE expires_at {op} $1"),
                &[&purge_ms],
            )
            .unwrap()
            .iter()
            .map(|row| {
                let key: Vec<u8> = row.get(0);
                assert_eq!(key.len(), KEY_LEN, "the hazmat mode stores the raw key");
                key
            })
            .collect()
    };
    let destroyed = Needles::new(read_keys(&mut admin, "<="));
    let kept = Needles::new(read_keys(&mut admin, ">"));
    assert_eq!((destroyed.len(), kept.len()), (PURGED, LIVE));

    // What a base backup holds: taken before the purge, as a nightly backup would be.
    admin.batch_execute("CHECKPOINT").unwrap();
    let backup = cluster.base_backup();
    let (heap_before, _) = heap_file(&mut admin, &data, table);
    let backup_heap = backup
        .data_path()
        .join(heap_before.strip_prefix(&data).unwrap());

    clock.set(purge_at).unwrap();
    let report = vault.purge().unwrap();
    assert_eq!(report.records_destroyed, u64::try_from(PURGED).unwrap());
    assert_eq!(report.keys_destroyed, u64::try_from(PURGED).unwrap());
    let left: i64 = admin
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(left, i64::try_from(LIVE).unwrap(), "the live keys stay");

    let wal = data.join("pg_wal");
    let mut table_lines = Vec::new();
    let mut measure = |admin: &mut postgres::Client, step: &str| {
        // The server writes its dirty pages to the files.
        admin.batch_execute("CHECKPOINT").unwrap();
        let (heap, database) = heap_file(admin, &data, table);
        let counts = [
            destroyed.found_in(std::slice::from_ref(&heap)),
            kept.found_in(std::slice::from_ref(&heap)),
            destroyed.found_in(std::slice::from_ref(&database)),
            destroyed.found_in(std::slice::from_ref(&wal)),
        ];
        table_lines.push(format!(
            "{step:<34} | heap {} | live in heap {} | database dir {} | pg_wal {}",
            counts[0], counts[1], counts[2], counts[3]
        ));
        counts
    };

    // (a) Right after the purge: DELETE only marks the tuples dead.
    let [heap, live_heap, _, wal_after_purge] = measure(&mut admin, "after purge (+ CHECKPOINT)");
    assert_eq!(heap.needles, PURGED, "dead tuples keep every destroyed key");
    assert_eq!(live_heap.needles, LIVE);
    assert_eq!(
        wal_after_purge.needles, PURGED,
        "pg_wal keeps every destroyed key (inserts and full-page images)"
    );

    // (b) A plain VACUUM frees the dead tuples' space for reuse; it does not overwrite it.
    admin.batch_execute(&format!("VACUUM {table}")).unwrap();
    let [_, live_heap, _, _] = measure(&mut admin, "after VACUUM (+ CHECKPOINT)");
    assert_eq!(live_heap.needles, LIVE);

    // (c) VACUUM FULL writes a new file with the live rows only.
    admin
        .batch_execute(&format!("VACUUM FULL {table}"))
        .unwrap();
    let [heap, live_heap, _, _] = measure(&mut admin, "after VACUUM FULL (+ CHECKPOINT)");
    assert_eq!(heap.needles, 0, "the rewritten heap holds no destroyed key");
    assert_eq!(
        live_heap.needles, LIVE,
        "control: the search finds the live keys"
    );

    // (d) A checkpoint recycles old WAL segments (renames them for reuse) without wiping
    // them; a segment's bytes go only when it is reused and overwritten (a WAL switch
    // fills the rest of its segment with zeros).
    for _ in 0..3 {
        admin
            .batch_execute("SELECT pg_switch_wal(); CHECKPOINT")
            .unwrap();
    }
    let [_, _, database, wal_later] = measure(&mut admin, "after 3 WAL switches + CHECKPOINTs");

    // (e) The base backup taken before the purge: all of it, forever.
    let in_backup = destroyed.found_in(&[backup.data_path()]);
    let in_backup_heap = destroyed.found_in(&[backup_heap]);
    let in_backup_wal = destroyed.found_in(&[backup.data_path().join("pg_wal")]);
    assert_eq!(
        in_backup_heap.needles, PURGED,
        "the backup's heap holds every key"
    );
    assert_eq!(in_backup.needles, PURGED);

    // And what that means: the backup, started as a cluster next to nothing but its own
    // files, with the clock rolled back, still reveals every purged code.
    backup.start_again();
    let rolled_back = Arc::new(ManualClock::new(start).unwrap());
    let restored = Vault::new(
        Arc::new(PostgresRecordStore::connect_with(backup.url(), &options("hz_records")).unwrap()),
        Arc::new(
            PostgresKeyStore::connect_with(
                backup.url(),
                KeyProtection::HazmatRawKeys,
                &options("hz_keys"),
            )
            .unwrap(),
        ),
    )
    .with_clock(rolled_back);
    let revealed = purged.iter().filter(|o| restored.reveal(o).is_ok()).count();
    assert_eq!(
        revealed, PURGED,
        "raw keys: the backup decrypts every purged code"
    );

    eprintln!("destroyed keys: {PURGED}, live keys: {LIVE}; found (keys of which, copies):");
    for line in &table_lines {
        eprintln!("  {line}");
    }
    eprintln!(
        "  base backup taken before purge     | heap {in_backup_heap} | pg_wal {in_backup_wal} | whole {in_backup}"
    );
    eprintln!("  (finally: database dir {database}, pg_wal {wal_later})");
    eprintln!("  purged codes the started backup reveals: {revealed} of {PURGED}");
}
