//! The reveal counter's commit on PostgreSQL: durable (the commit waits for the WAL flush)
//! under a reveal limit, bookkeeping (`synchronous_commit = off` for that transaction only)
//! without one. Seen from the server: right after a reveal, is the WAL up to the latest
//! record flushed? A private cluster makes its WAL writer wait 10 s between background
//! flushes and runs no autovacuum, so nothing else flushes in between.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is the failure"
)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autocsr_credential::{RecordStore, Vault};
use autocsr_credential_postgres::{KeyProtection, Options, PostgresKeyStore, PostgresRecordStore};
use autocsr_interop::PrivateCluster;

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Whether every WAL record inserted so far is flushed.
fn wal_flushed(admin: &mut postgres::Client) -> bool {
    admin
        .query_one(
            "SELECT pg_current_wal_flush_lsn() >= pg_current_wal_insert_lsn()",
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn an_unlimited_reveal_commits_without_waiting_for_the_flush_a_limited_one_waits() {
    let Some(cluster) =
        PrivateCluster::start_with(&[("wal_writer_delay", "10s"), ("autovacuum", "off")])
    else {
        return;
    };
    let mut admin = postgres::Config::from_str(cluster.url())
        .unwrap()
        .connect(postgres::NoTls)
        .unwrap();
    // One pooled connection: the limited reveals after the unlimited ones run on the same
    // server session, so a setting that outlived its transaction would show.
    let mut options = Options::default();
    options.max_connections = 1;
    let records = Arc::new(PostgresRecordStore::connect_with(cluster.url(), &options).unwrap());
    options.schema = "keys".to_owned();
    let keys =
        PostgresKeyStore::connect_with(cluster.url(), KeyProtection::HazmatRawKeys, &options)
            .unwrap();
    let vault = Vault::new(records.clone(), Arc::new(keys));
    vault.issue("order-1", Duration::from_secs(3600)).unwrap();

    // The WAL writer may flush at its own 10 s tick between a reveal and the check: one
    // unflushed look in three tries is enough (the old code flushed every time).
    let mut seen_unflushed = false;
    for expected in 1..=3 {
        let count = records.count_reveal("order-1", now_ms(), u64::MAX).unwrap();
        assert_eq!(count, Some(expected));
        if !wal_flushed(&mut admin) {
            seen_unflushed = true;
            break;
        }
    }
    assert!(
        seen_unflushed,
        "an unlimited reveal's commit waited for the WAL flush"
    );

    // Under a limit: flushed before the call returns, every time, on the same connection.
    for _ in 0..3 {
        let count = records
            .count_reveal("order-1", now_ms(), 1_000)
            .unwrap()
            .unwrap();
        assert!(count >= 2);
        assert!(
            wal_flushed(&mut admin),
            "a limited reveal returned before its commit was flushed"
        );
    }
    // And the count survives a crash once flushed.
    let before = records.load("order-1").unwrap().unwrap().reveal_count;
    cluster.stop_immediately();
    cluster.start_again();
    let after = records.load("order-1").unwrap().unwrap().reveal_count;
    assert_eq!(after, before);
}
