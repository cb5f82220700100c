//! reveal, status, revoke and purge through the binary, including a real expiry.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code, including helpers outside #[test]: a failed expectation is the failure"
)]

mod common;

use std::time::Duration;

use common::{Sandbox, str_field};

#[test]
fn reveal_within_the_window_shows_the_same_code() {
    let sandbox = Sandbox::new();
    let order = sandbox.order("example.com", &["--key", "p256"]);
    let order_id = str_field(&order, "order_id");

    let (first, _) = sandbox.json(["reveal", order_id], 0);
    assert_eq!(str_field(&first, "order_id"), order_id);
    assert_eq!(
        str_field(&first, "unlock_code"),
        str_field(&order, "unlock_code")
    );
    assert_eq!(
        str_field(&first, "expires_at"),
        str_field(&order, "expires_at")
    );
    assert_eq!(first["reveal_count"], 1);
    let (second, _) = sandbox.json(["reveal", order_id], 0);
    assert_eq!(second["reveal_count"], 2);

    let (status, output) = sandbox.json(["status", order_id], 0);
    assert_eq!(str_field(&status, "state"), "available");
    assert_eq!(status["reveal_count"], 2);
    assert_eq!(
        str_field(&status, "expires_at"),
        str_field(&order, "expires_at")
    );
    let code = str_field(&order, "unlock_code");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains(code),
        "status never shows the code"
    );

    let human = sandbox.run(["status", order_id]);
    assert!(human.status.success());
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("available") && !text.contains(code), "{text}");
}

#[test]
fn the_expiry_is_rfc3339_and_a_week_away_by_default() {
    let sandbox = Sandbox::new();
    let order = sandbox.order("example.com", &["--key", "p256"]);
    let expires = humantime::parse_rfc3339(str_field(&order, "expires_at")).unwrap();
    let left = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(
        left > Duration::from_secs(7 * 86_400 - 120) && left <= Duration::from_secs(7 * 86_400),
        "{left:?}"
    );
}

/// The one test that waits on the real clock: the binary has no other clock to move.
#[test]
fn after_the_window_reveal_exits_3_status_says_expired_and_purge_counts_it() {
    let sandbox = Sandbox::new();
    let order = sandbox.order("example.com", &["--key", "p256", "--reveal-window", "2s"]);
    let order_id = str_field(&order, "order_id");
    std::thread::sleep(Duration::from_millis(3_000));

    let (error, output) = sandbox.json(["reveal", order_id], 3);
    assert_eq!(error["error"]["kind"], "expired");
    assert_eq!(error["error"]["exit_code"], 3);
    let stderr = common::stderr(&output);
    assert!(stderr.contains("new CSR"), "{stderr}");
    assert!(!stderr.contains(str_field(&order, "unlock_code")));
    // Asking again still says expired (a tombstone remains), not "unknown order".
    sandbox.json(["reveal", order_id], 3);

    let (status, _) = sandbox.json(["status", order_id], 0);
    assert_eq!(str_field(&status, "state"), "expired");

    let (purged, _) = sandbox.json(["purge"], 0);
    assert!(
        purged["records_destroyed"].as_u64().unwrap() >= 1,
        "{purged}"
    );
    assert!(purged["keys_destroyed"].is_u64(), "{purged}");
    // Gone: now it is an unknown order.
    sandbox.json(["reveal", order_id], 4);
    sandbox.json(["status", order_id], 4);
}

#[test]
fn revoke_destroys_the_code_and_reveal_exits_7() {
    let sandbox = Sandbox::new();
    let order = sandbox.order("example.com", &["--key", "p256"]);
    let order_id = str_field(&order, "order_id");
    let (revoked, _) = sandbox.json(["revoke", order_id], 0);
    assert_eq!(str_field(&revoked, "order_id"), order_id);
    assert_eq!(revoked["revoked"], true);
    let (error, _) = sandbox.json(["reveal", order_id], 7);
    assert_eq!(error["error"]["kind"], "revoked");
    let (status, _) = sandbox.json(["status", order_id], 0);
    assert_eq!(str_field(&status, "state"), "revoked");
}

#[test]
fn unknown_orders_exit_4_for_every_command() {
    let sandbox = Sandbox::new();
    for command in ["reveal", "status", "revoke"] {
        let (error, output) = sandbox.json([command, "ord_0000000000000000000Z"], 4);
        assert_eq!(error["error"]["kind"], "unknown_order", "{command}");
        assert!(common::stderr(&output).starts_with("error: "));
    }
}

#[test]
fn the_audit_log_records_events_without_the_code() {
    let sandbox = Sandbox::new();
    let order = sandbox.order("example.com", &["--key", "p256"]);
    let order_id = str_field(&order, "order_id");
    sandbox.json(["reveal", order_id], 0);
    sandbox.json(["revoke", order_id], 0);
    let log = std::fs::read_to_string(sandbox.data_dir().join("audit.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| str_field(e, "event")).collect();
    assert_eq!(kinds, ["issued", "revealed", "revoked"], "{log}");
    for event in &events {
        assert_eq!(str_field(event, "order_id"), order_id);
        humantime::parse_rfc3339(str_field(event, "at")).unwrap();
    }
    let code = str_field(&order, "unlock_code");
    assert!(!log.contains(code) && !log.contains(&code.replace('-', "")));
}

#[test]
fn purge_on_an_empty_vault_counts_nothing() {
    let sandbox = Sandbox::new();
    let (purged, _) = sandbox.json(["purge"], 0);
    assert_eq!(purged["records_destroyed"], 0);
    assert_eq!(purged["keys_destroyed"], 0);
    assert_eq!(
        purged["wrapping_keys_destroyed"], 0,
        "no HSM on the SQLite vault"
    );
}

#[test]
fn the_data_dir_flag_beats_the_environment() {
    let sandbox = Sandbox::new();
    let other = sandbox.root.path().join("other");
    let order = sandbox.order(
        "example.com",
        &["--key", "p256", "--data-dir", &other.display().to_string()],
    );
    let order_id = str_field(&order, "order_id");
    // Not in the environment's vault...
    sandbox.json(["status", order_id], 4);
    // ...but in the flag's.
    sandbox.json(
        [
            "--data-dir",
            &other.display().to_string(),
            "status",
            order_id,
        ],
        0,
    );
}

#[test]
fn a_data_dir_open_to_others_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.data_dir()).unwrap();
    std::fs::set_permissions(sandbox.data_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (error, _) = sandbox.json(["purge"], 1);
    assert!(
        str_field(&error["error"], "message").contains("chmod 700"),
        "{error}"
    );
}

/// A malformed order id is a usage error (exit 2) for every command, and it is echoed
/// escaped: an ESC cannot reach the terminal, a newline cannot forge a line.
#[test]
fn malformed_order_ids_exit_2_and_are_echoed_escaped() {
    let sandbox = Sandbox::new();
    let hostile = "ord_\u{1b}[31mRED\nerror: forged line";
    let too_long = "a".repeat(129);
    for command in ["reveal", "status", "revoke"] {
        for id in [hostile, "../etc/passwd", "", "ord 1", too_long.as_str()] {
            let (error, output) = sandbox.json([command, id], 2);
            assert_eq!(error["error"]["kind"], "usage", "{command} {id:?}");
            let stderr = common::stderr(&output);
            assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
            assert!(
                !stderr.lines().any(|line| line.starts_with("error: forged")),
                "{stderr:?}"
            );
            assert!(stderr.contains("is not an order id"), "{stderr}");
        }
        let output = sandbox.run([command, hostile]);
        assert_eq!(output.status.code(), Some(2));
        let stderr = common::stderr(&output);
        assert!(
            stderr.contains("\"ord_\\u{1b}[31mRED\\nerror: forged line\""),
            "{stderr}"
        );
        assert!(!stderr.contains('\u{1b}'));
    }
    assert!(
        !sandbox.data_dir().exists(),
        "refused before the vault was opened"
    );
}

/// `--reveal-window 7974y` used to store a record expiring after the last second RFC 3339
/// can write, and then panicked printing it. The vault now refuses such windows, and a
/// record that says so anyway (written by an older version, or edited) must be answered,
/// never panicked on: `status` (which does not decrypt) and `reveal` report it as tampered
/// without counting a reveal, and `purge` runs. The control copy, moved the same way but
/// with an ordinary expiry, still reads as available through `status`, so it is the stored
/// time that is refused here.
#[test]
fn expiries_after_year_9999_are_refused_without_panicking() {
    use autocsr::credential::{RECORDS_FILE, RecordStore as _, SqliteRecordStore};

    let sandbox = Sandbox::new();
    let order = sandbox.order("example.com", &["--key", "p256"]);
    let original = str_field(&order, "order_id");
    let store = SqliteRecordStore::open(&sandbox.data_dir().join(RECORDS_FILE)).unwrap();
    let genuine = store.load(original).unwrap().unwrap();
    let control_id = "ord_0000000000000000000C";
    let mut control = genuine.clone();
    control.order_id = control_id.to_owned();
    let mut absurd = Vec::new();
    for (i, expires_ms) in [
        253_402_300_800_000_u64,
        6_000_000_000_000_000,
        i64::MAX.unsigned_abs(),
    ]
    .into_iter()
    .enumerate()
    {
        let mut record = genuine.clone();
        record.order_id = format!("ord_0000000000000000000{i}");
        record.expires_at_ms = expires_ms;
        absurd.push(record);
    }
    let mut all = absurd.clone();
    all.push(control);
    store.insert_all(&all).unwrap();
    drop(store);

    let (status, _) = sandbox.json(["status", control_id], 0);
    assert_eq!(str_field(&status, "state"), "available");
    for record in &absurd {
        let id = record.order_id.as_str();
        for command in ["status", "reveal"] {
            let (error, _) = sandbox.json([command, id], 8);
            assert_eq!(
                error["error"]["kind"], "tampered",
                "{command} {id}: {error}"
            );
            let human = sandbox.run([command, id]);
            assert_eq!(human.status.code(), Some(8), "{}", common::stderr(&human));
        }
    }
    let (purged, _) = sandbox.json(["purge"], 0);
    assert_eq!(purged["records_destroyed"], 0);
    let human = sandbox.run(["purge"]);
    assert_eq!(human.status.code(), Some(0), "{}", common::stderr(&human));
    // The genuine order was never counted by the refused reveals.
    let (status, _) = sandbox.json(["status", original], 0);
    assert_eq!(status["reveal_count"], 0);
}

/// A record moved to another order id fails authentication: its own kind and exit code
/// (8), so a host can alert on it, as docs/OPERATIONS.md says.
#[test]
fn a_tampered_record_exits_8_with_kind_tampered() {
    use autocsr::credential::{RECORDS_FILE, RecordStore as _, SqliteRecordStore};

    let sandbox = Sandbox::new();
    let order = sandbox.order("example.com", &["--key", "p256"]);
    let original = str_field(&order, "order_id");
    let moved = "ord_0000000000000000000M";
    let store = SqliteRecordStore::open(&sandbox.data_dir().join(RECORDS_FILE)).unwrap();
    let mut record = store.load(original).unwrap().unwrap();
    record.order_id = moved.to_owned();
    store.insert_all(&[record]).unwrap();
    drop(store);

    let (error, output) = sandbox.json(["reveal", moved], 8);
    assert_eq!(error["error"]["kind"], "tampered", "{error}");
    assert_eq!(error["error"]["exit_code"], 8);
    let stderr = common::stderr(&output);
    assert!(stderr.contains("failed authentication"), "{stderr}");
    assert!(!stderr.contains(str_field(&order, "unlock_code")));
    // The genuine record is untouched.
    sandbox.json(["reveal", original], 0);
}
