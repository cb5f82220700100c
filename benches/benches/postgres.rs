//! The credential vault on PostgreSQL at scale (issue 12, section 6): a private cluster
//! (`initdb` in a temp dir, Unix socket only, `fsync = on`), records and keys in two
//! schemas, every record key wrapped by a SoftHSM2 token (`autocsr-credential-pkcs11`),
//! the production shape. It loads `AUTOCSR_BENCH_PG_RECORDS` records (1,000,000 under
//! `cargo bench`) with `issue_many` and reports:
//!
//! - `issue_many` orders/s (batches of 10,000);
//! - `reveal` p50/p99 over 20,000 random live orders without a reveal limit (the count's
//!   commit does not wait for the WAL flush), alternating with 20,000 under a limit no
//!   order reaches (a durable commit each), and again with every commit of the record
//!   store not waiting (`synchronous_commit = off` for its database);
//! - in the same run and cluster, the floors, one client each on pgbench's 1,000,000
//!   accounts (scale 10): `pgbench -S` (single-row select by primary key), a single-row
//!   `UPDATE` committed alone (what a reveal's counter commit costs at least), and the
//!   `-S` select through the `postgres` driver the stores use; our ratios to each;
//! - the HSM's wrap and unwrap per operation (medians, p99);
//! - `purge` of every record (all expired, their wrapping key's period over), in seconds.
//!
//! Run: `cargo bench -p autocsr-benches --bench postgres` (minutes; one 10^6 run at a
//! time on a shared machine). `AUTOCSR_BENCH_PG_KEYS=raw` stores raw keys instead
//! (`KeyProtection::HazmatRawKeys`; also the fallback, said loudly, without SoftHSM2);
//! `AUTOCSR_BENCH_PGBENCH_SECONDS` sets pgbench's duration (20 s). Run as a test
//! (`cargo test --benches`) it is a smoke run of 2,000 records. Nothing here asserts a
//! time: figures go to docs/PERFORMANCE.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "benchmark setup and report"
)]

use std::num::NonZeroU64;
use std::path::PathBuf;
use std::process::Command;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use autocsr_credential::{KeyId, KeyWrapper, ManualClock, Vault, period_end};
use autocsr_credential_pkcs11::{HsmConfig, HsmKeyWrapper, Pin, Pkcs11Module};
use autocsr_credential_postgres::{KeyProtection, Options, PostgresKeyStore, PostgresRecordStore};
use autocsr_interop::PrivateCluster;

const RECORDS_VAR: &str = "AUTOCSR_BENCH_PG_RECORDS";
const KEYS_VAR: &str = "AUTOCSR_BENCH_PG_KEYS";
const PGBENCH_SECONDS_VAR: &str = "AUTOCSR_BENCH_PGBENCH_SECONDS";
/// Set in the child process that runs with the fresh token's `SOFTHSM2_CONF`.
const CHILD_VAR: &str = "AUTOCSR_BENCH_PG_CHILD";
const PIN_VAR: &str = "AUTOCSR_BENCH_HSM_PIN";
const TOKEN: &str = "autocsr-bench";
const DAY: Duration = Duration::from_secs(24 * 3600);
const BATCH: usize = 10_000;
const REVEALS: usize = 20_000;
const HSM_OPS: usize = 5_000;

fn module_path() -> PathBuf {
    autocsr_interop::softhsm_module()
}

fn softhsm_present() -> bool {
    module_path().exists()
        && Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench -- FILTER`: run only when no filter is given or it names this bench.
    if args
        .iter()
        .find(|a| !a.starts_with('-'))
        .is_some_and(|f| !"postgres".contains(f.as_str()))
    {
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let hsm = match std::env::var(KEYS_VAR).as_deref() {
        Ok("raw") => false,
        Ok("hsm") => true,
        _ if softhsm_present() => true,
        _ => {
            eprintln!(
                "NOTE: SoftHSM2 is not installed: measuring with raw keys in PostgreSQL \
                 (hazmat), not the production shape"
            );
            false
        }
    };
    if hsm && std::env::var_os(CHILD_VAR).is_none() {
        // SoftHSM2 reads SOFTHSM2_CONF once, when the module is initialised: a fresh token
        // for this run, and this program again as a child process with it set.
        let dir = tempfile::tempdir().unwrap();
        let pin = "bench-pin-4711";
        let conf = autocsr_interop::init_softhsm_token(dir.path(), TOKEN, pin, "bench-so-0815");
        let status = Command::new(std::env::current_exe().unwrap())
            .args(&args)
            .env("SOFTHSM2_CONF", &conf)
            .env(CHILD_VAR, "1")
            .env(PIN_VAR, pin)
            .status()
            .unwrap();
        assert!(status.success(), "the benchmark's child process failed");
        return;
    }
    run(full, hsm);
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// p50 and p99 of `samples`, in µs.
fn p50_p99(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    (
        micros(percentile(&samples, 0.50)),
        micros(percentile(&samples, 0.99)),
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// A fixed-seed xorshift: the same random orders each run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn order_id(i: usize) -> String {
    format!("order-{i:08}")
}

/// Runs `pgbench` on the floor database, as the server's user, over its socket.
fn pgbench(cluster: &PrivateCluster, args: &[&str]) -> std::process::Output {
    let socket = cluster.socket_dir().display().to_string();
    let mut all = vec!["-h", socket.as_str(), "-U", "postgres"];
    all.extend_from_slice(args);
    all.push("pgbench_floor");
    cluster.run_program("pgbench", &all)
}

/// One client's transactions for `args`' duration, each latency logged (`-l`): p50 and
/// p99 in µs.
fn pgbench_latencies(cluster: &PrivateCluster, name: &str, args: &[&str]) -> (f64, f64) {
    let prefix = format!("pgbench_{name}");
    let log_prefix = cluster.socket_dir().join(&prefix).display().to_string();
    let mut all = vec!["-c", "1", "-n", "-l", "--log-prefix", log_prefix.as_str()];
    all.extend_from_slice(args);
    let out = pgbench(cluster, &all);
    assert!(out.status.success(), "pgbench {args:?} failed: {out:?}");
    let mut samples = Vec::new();
    for entry in std::fs::read_dir(cluster.socket_dir()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            // client transaction latency_us script epoch_s epoch_us
            for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
                if let Some(us) = line.split_whitespace().nth(2) {
                    samples.push(Duration::from_micros(us.parse().unwrap()));
                }
            }
        }
    }
    let count = samples.len();
    let (p50, p99) = p50_p99(samples);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tps = stdout
        .lines()
        .find(|l| l.starts_with("tps"))
        .unwrap_or("tps unknown");
    println!("pgbench {name}: {count} transactions ({tps}): p50 {p50:.0} µs, p99 {p99:.0} µs");
    (p50, p99)
}

fn run(full: bool, hsm: bool) {
    let records = env_number(RECORDS_VAR, if full { 1_000_000 } else { 2_000 }).max(1);
    let pgbench_seconds = env_number(PGBENCH_SECONDS_VAR, if full { 20 } else { 2 }).max(1);
    println!(
        "postgres bench: {records} records, keys {}, load average {}",
        if hsm {
            "wrapped by SoftHSM2"
        } else {
            "raw (hazmat)"
        },
        load_average()
    );
    let Some(cluster) = PrivateCluster::start_with(&[("fsync", "on")]) else {
        return;
    };
    let url = cluster.url().to_owned();
    let mut admin = postgres::Config::from_str(&url)
        .unwrap()
        .connect(postgres::NoTls)
        .unwrap();
    let version: String = admin.query_one("SHOW server_version", &[]).unwrap().get(0);
    println!("PostgreSQL {version}, default settings but fsync = on, over a Unix socket");

    let wrapper = hsm.then(|| {
        let module = Pkcs11Module::load(&module_path()).unwrap();
        HsmKeyWrapper::open(
            &module,
            HsmConfig::new(TOKEN, Pin::from_env(PIN_VAR).unwrap()),
        )
        .unwrap()
    });
    let options = |schema: &str| {
        let mut options = Options::default();
        options.schema = schema.to_owned();
        options
    };
    let record_store = PostgresRecordStore::connect_with(&url, &options("bench_records")).unwrap();
    let protection = if hsm {
        KeyProtection::DestroyingWrapper
    } else {
        KeyProtection::HazmatRawKeys
    };
    let key_store =
        PostgresKeyStore::connect_with(&url, protection, &options("bench_keys")).unwrap();
    let t0 = UNIX_EPOCH + Duration::from_secs(1_893_456_000 + 3600);
    let clock = Arc::new(ManualClock::new(t0).unwrap());
    let (record_store, key_store) = (Arc::new(record_store), Arc::new(key_store));
    let mut vault = Vault::new(record_store.clone(), key_store.clone()).with_clock(clock.clone());
    // The same stores under a reveal limit no order reaches: each counted reveal is then a
    // durable commit, as every reveal was before unlimited ones became bookkeeping.
    let mut limited_vault = Vault::new(record_store, key_store)
        .with_clock(clock.clone())
        .with_reveal_limit(NonZeroU64::new(1_000_000_000).unwrap());
    if let Some(w) = &wrapper {
        vault = vault.with_key_wrapper(w.clone());
        limited_vault = limited_vault.with_key_wrapper(w.clone());
    }

    // issue_many: every record expires one day out (one wrapping-key period).
    let mut batch_rates = Vec::new();
    let load = Instant::now();
    for start in (0..records).step_by(BATCH) {
        let ids: Vec<String> = (start..(start + BATCH).min(records))
            .map(order_id)
            .collect();
        let t = Instant::now();
        vault.issue_many(&ids, DAY).unwrap();
        batch_rates.push(ids.len() as f64 / t.elapsed().as_secs_f64());
    }
    let load_secs = load.elapsed().as_secs_f64();
    batch_rates.sort_unstable_by(f64::total_cmp);
    println!(
        "issue_many: {records} orders in {load_secs:.1} s = {:.0} orders/s (median batch of {}: {:.0}/s)",
        records as f64 / load_secs,
        BATCH.min(records),
        batch_rates[batch_rates.len() / 2]
    );
    // What autovacuum would do after a bulk load; not timed.
    for table in ["bench_records.records", "bench_keys.record_keys"] {
        admin
            .batch_execute(&format!("VACUUM (ANALYZE) {table}"))
            .unwrap();
    }
    let sizes = admin
        .query_one(
            "SELECT pg_total_relation_size('bench_records.records'),
                    pg_total_relation_size('bench_keys.record_keys')",
            &[],
        )
        .unwrap();
    let (rec_bytes, key_bytes): (i64, i64) = (sizes.get(0), sizes.get(1));
    println!(
        "sizes with indexes: records {:.1} MiB, keys {:.1} MiB ({:.0} + {:.0} bytes per record)",
        rec_bytes as f64 / 1_048_576.0,
        key_bytes as f64 / 1_048_576.0,
        rec_bytes as f64 / records as f64,
        key_bytes as f64 / records as f64
    );

    // reveal: random live orders, one at a time, after 1,000 unmeasured ones. Each
    // reveal commits its counter: with the default synchronous_commit, a WAL flush.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut reveal_p50_p99 = |vault: &Vault| {
        for _ in 0..1_000 {
            vault.reveal(&order_id(rng.below(records))).unwrap();
        }
        let mut reveals = Vec::with_capacity(REVEALS);
        for _ in 0..REVEALS {
            let id = order_id(rng.below(records));
            let t = Instant::now();
            let revealed = vault.reveal(&id).unwrap();
            reveals.push(t.elapsed());
            std::hint::black_box(revealed);
        }
        p50_p99(reveals)
    };
    // Unlimited (the count's commit does not wait for the WAL flush) and limited (durable),
    // alternating reveal by reveal so both see the same machine.
    let (unlimited, limited) = {
        let mut pair_rng = Rng(0x5851_f42d_4c95_7f2d);
        let mut unlimited = Vec::with_capacity(REVEALS);
        let mut limited = Vec::with_capacity(REVEALS);
        for _ in 0..1_000 {
            vault.reveal(&order_id(pair_rng.below(records))).unwrap();
        }
        for _ in 0..REVEALS {
            for (vault, samples) in [(&vault, &mut unlimited), (&limited_vault, &mut limited)] {
                let id = order_id(pair_rng.below(records));
                let t = Instant::now();
                let revealed = vault.reveal(&id).unwrap();
                samples.push(t.elapsed());
                std::hint::black_box(revealed);
            }
        }
        (p50_p99(unlimited), p50_p99(limited))
    };
    let (reveal_p50, reveal_p99) = unlimited;
    println!(
        "reveal, no reveal limit ({REVEALS} random): p50 {reveal_p50:.0} µs, p99 {reveal_p99:.0} µs"
    );
    println!(
        "reveal under a reveal limit, durable ({REVEALS} random, alternating with the above): p50 {:.0} µs, p99 {:.0} µs",
        limited.0, limited.1
    );

    // The floors, same cluster, same run, pgbench's 1,000,000 accounts (scale 10): a
    // single-row select by primary key (-S), and a single-row UPDATE committed alone (the
    // reveal's counter commit, durable).
    admin
        .batch_execute("CREATE DATABASE pgbench_floor")
        .unwrap();
    let init = pgbench(&cluster, &["-i", "-s", "10", "-q"]);
    assert!(init.status.success(), "pgbench -i failed: {init:?}");
    let seconds = pgbench_seconds.to_string();
    let select = pgbench_latencies(&cluster, "select", &["-S", "-T", &seconds]);
    let script = cluster.socket_dir().join("update.sql");
    std::fs::write(
        &script,
        "\\set aid random(1, 100000 * :scale)\n\
         UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n",
    )
    .unwrap();
    let update = pgbench_latencies(
        &cluster,
        "update",
        &["-f", &script.display().to_string(), "-T", &seconds],
    );

    // The same select through the driver the stores use (an unnamed prepared statement
    // per query, as the stores issue theirs).
    let floor_url = url.replace("/autocsr_test", "/pgbench_floor");
    let mut driver = postgres::Config::from_str(&floor_url)
        .unwrap()
        .connect(postgres::NoTls)
        .unwrap();
    let mut driver_samples = Vec::with_capacity(REVEALS);
    let mut driver_rng = Rng(0x2545_f491_4f6c_dd1d);
    for i in 0..REVEALS + 1_000 {
        let aid = i32::try_from(driver_rng.below(1_000_000) + 1).unwrap();
        let t = Instant::now();
        let row = driver
            .query_one(
                "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
                &[&aid],
            )
            .unwrap();
        if i >= 1_000 {
            driver_samples.push(t.elapsed());
        }
        std::hint::black_box(row);
    }
    let driver = p50_p99(driver_samples);
    println!(
        "same select through the postgres crate ({REVEALS}): p50 {:.0} µs, p99 {:.0} µs",
        driver.0, driver.1
    );

    // What the counter's WAL flush costs: the same reveals with the record store's commits
    // not waiting for it (synchronous_commit = off, a per-role or per-database setting a
    // DBA may choose: a crash may then lose the last moments' reveal counts, never a
    // record). New connections pick the setting up: a fresh vault over fresh pools.
    admin
        .batch_execute("ALTER DATABASE autocsr_test SET synchronous_commit = off")
        .unwrap();
    let mut async_vault = Vault::new(
        Arc::new(PostgresRecordStore::connect_with(&url, &options("bench_records")).unwrap()),
        Arc::new(PostgresKeyStore::connect_with(&url, protection, &options("bench_keys")).unwrap()),
    )
    .with_clock(clock.clone());
    if let Some(w) = &wrapper {
        async_vault = async_vault.with_key_wrapper(w.clone());
    }
    let (async_p50, async_p99) = reveal_p50_p99(&async_vault);
    drop(async_vault);
    admin
        .batch_execute("ALTER DATABASE autocsr_test RESET synchronous_commit")
        .unwrap();
    println!(
        "reveal with synchronous_commit = off ({REVEALS} random): p50 {async_p50:.0} µs, p99 {async_p99:.0} µs"
    );
    for (name, (p50, p99)) in [
        ("pgbench -S", select),
        ("pgbench one-row UPDATE", update),
        ("driver select", driver),
    ] {
        println!(
            "ratio reveal / {name}: p50 {:.1}x, p99 {:.1}x; reveal (synchronous_commit off) / {name}: p50 {:.1}x, p99 {:.1}x",
            reveal_p50 / p50,
            reveal_p99 / p99,
            async_p50 / p50,
            async_p99 / p99
        );
    }

    // The HSM alone: wrap and unwrap one record key, interleaved.
    if let Some(w) = &wrapper {
        let expiry =
            u64::try_from((t0 + DAY).duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
        let id = KeyId::from_bytes([7; 16]);
        let key = [0x5a_u8; 32];
        let blob = w.wrap(&id, expiry, &key).unwrap();
        let (mut wraps, mut unwraps) = (Vec::new(), Vec::new());
        for _ in 0..HSM_OPS {
            let t = Instant::now();
            std::hint::black_box(w.wrap(&id, expiry, &key).unwrap());
            wraps.push(t.elapsed());
            let t = Instant::now();
            std::hint::black_box(w.unwrap(&id, expiry, &blob).unwrap());
            unwraps.push(t.elapsed());
        }
        let (wrap_p50, wrap_p99) = p50_p99(wraps);
        let (unwrap_p50, unwrap_p99) = p50_p99(unwraps);
        println!(
            "SoftHSM2 ({HSM_OPS} each): wrap p50 {wrap_p50:.1} µs, p99 {wrap_p99:.1} µs; unwrap p50 {unwrap_p50:.1} µs, p99 {unwrap_p99:.1} µs (unwrap = {:.0}% of the reveal p50)",
            100.0 * unwrap_p50 / reveal_p50
        );
    }

    // purge: every record expired and its wrapping key's period over.
    let expiry_ms =
        u64::try_from((t0 + DAY).duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
    let end = period_end(expiry_ms, 24 * 3600 * 1000).unwrap();
    clock.set(UNIX_EPOCH + Duration::from_millis(end)).unwrap();
    let t = Instant::now();
    let report = vault.purge().unwrap();
    let purge_secs = t.elapsed().as_secs_f64();
    println!(
        "purge: {} records, {} keys, {} wrapping keys in {purge_secs:.1} s ({:.0} records/s)",
        report.records_destroyed,
        report.keys_destroyed,
        report.wrapping_keys_destroyed,
        report.records_destroyed as f64 / purge_secs
    );
    assert_eq!(report.records_destroyed, records as u64);
    assert_eq!(report.keys_destroyed, records as u64);
    println!("load average at the end: {}", load_average());
}
