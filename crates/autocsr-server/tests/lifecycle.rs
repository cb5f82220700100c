//! Starting (settings checked, with clear errors) and stopping (SIGTERM) the real process.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::time::Duration;

use common::{LINK_KEY, Server, TOKEN, private_file, webhook_args};
use serde_json::json;

fn refused_with(args: &[&str], dir: &std::path::Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_autocsr-server"))
        .current_dir(dir)
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success(), "it started with {args:?}");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn lax_permissions_short_secrets_and_half_settings_are_refused_at_start() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    fs::create_dir(dir.join("open")).unwrap();
    fs::set_permissions(dir.join("open"), fs::Permissions::from_mode(0o755)).unwrap();
    let err = refused_with(&["--data-dir", "open"], dir);
    assert!(
        err.contains("open to other users (mode 755)") && err.contains("chmod 700"),
        "{err}"
    );
    fs::write(dir.join("plain-file"), b"x").unwrap();
    let err = refused_with(&["--data-dir", "plain-file"], dir);
    assert!(
        err.contains("--data-dir plain-file is not a directory"),
        "{err}"
    );

    fs::create_dir(dir.join("data")).unwrap();
    fs::set_permissions(dir.join("data"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(dir.join("tokens"), TOKEN).unwrap();
    fs::set_permissions(dir.join("tokens"), fs::Permissions::from_mode(0o640)).unwrap();
    let err = refused_with(
        &["--data-dir", "data", "--staff-tokens-file", "tokens"],
        dir,
    );
    assert!(
        err.contains("tokens is open to other users (mode 640)") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!err.contains(TOKEN));

    private_file(&dir.join("tokens"), "short\n");
    let err = refused_with(
        &["--data-dir", "data", "--staff-tokens-file", "tokens"],
        dir,
    );
    assert!(err.contains("at least 32 characters"), "{err}");
    assert!(!err.contains("short\n"));

    private_file(&dir.join("tokens"), TOKEN);
    private_file(&dir.join("key"), "tiny");
    let err = refused_with(
        &[
            "--data-dir",
            "data",
            "--staff-tokens-file",
            "tokens",
            "--link-key-file",
            "key",
        ],
        dir,
    );
    assert!(err.contains("at least 32 bytes"), "{err}");

    let err = refused_with(
        &["--data-dir", "data", "--staff-tokens-file", "missing"],
        dir,
    );
    assert!(err.contains("could not use missing"), "{err}");

    let err = refused_with(
        &[
            "--data-dir",
            "data",
            "--reminder-webhook-url",
            "http://127.0.0.1:9/hook",
        ],
        dir,
    );
    assert!(err.contains("go together"), "{err}");
    let err = refused_with(&["--data-dir", "data", "--reveal-window", "400days"], dir);
    assert!(err.contains("--reveal-window"), "{err}");
    let err = refused_with(&["--data-dir", "data", "--link-lifetime", "2days"], dir);
    assert!(err.contains("--link-lifetime"), "{err}");
    let err = refused_with(&["--data-dir", "data", "--public-url", "ftp://x"], dir);
    assert!(err.contains("--public-url"), "{err}");
    let err = refused_with(&[], dir);
    assert!(err.contains("--data-dir"), "{err}");
}

#[test]
fn a_webhook_ca_file_is_checked_at_start() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let https = webhook_args(dir, "https://127.0.0.1:9/hook");
    let plain = webhook_args(dir, "http://127.0.0.1:9/hook");
    let with_ca = |webhook: &[String], ca: &str| {
        let mut args = vec!["--data-dir".to_owned(), "data".to_owned()];
        args.extend_from_slice(webhook);
        args.extend(["--reminder-webhook-ca-file".to_owned(), ca.to_owned()]);
        args
    };
    let refused = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused_with(&args, dir)
    };
    let write = |name: &str, text: &str, mode: u32| {
        fs::write(dir.join(name), text).unwrap();
        fs::set_permissions(dir.join(name), fs::Permissions::from_mode(mode)).unwrap();
    };
    write("ca.pem", "no certificate here\n", 0o644);

    let err = refused(&[
        "--data-dir".to_owned(),
        "data".to_owned(),
        "--reminder-webhook-ca-file".to_owned(),
        "ca.pem".to_owned(),
    ]);
    assert!(err.contains("needs --reminder-webhook-url"), "{err}");
    let err = refused(&with_ca(&plain, "ca.pem"));
    assert!(
        err.contains("needs an https:// --reminder-webhook-url"),
        "{err}"
    );
    let err = refused(&with_ca(&https, "ca.pem"));
    assert!(err.contains("ca.pem: no CERTIFICATE block"), "{err}");
    write(
        "bad.pem",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        0o644,
    );
    let err = refused(&with_ca(&https, "bad.pem"));
    assert!(err.contains("bad.pem: not valid PEM"), "{err}");
    // Whoever may change the CA file may put their own CA in it.
    write("writable.pem", "", 0o664);
    let err = refused(&with_ca(&https, "writable.pem"));
    assert!(
        err.contains("writable.pem: it is open to other users (mode 664)"),
        "{err}"
    );
    let err = refused(&with_ca(&https, "missing.pem"));
    assert!(err.contains("missing.pem: cannot open or read it"), "{err}");
}

#[test]
fn the_quick_start_needs_only_a_data_dir_and_makes_private_secrets() {
    let root = tempfile::tempdir().unwrap();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let data = root.path().join("fresh");
    let mut child = Command::new(env!("CARGO_BIN_EXE_autocsr-server"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !data.join("staff-tokens").exists() || !data.join("link-key").exists() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let _ = child.kill();
    let _ = child.wait();
    for name in ["staff-tokens", "link-key"] {
        let mode = fs::metadata(data.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
    assert_eq!(
        fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let key = fs::read_to_string(data.join("link-key")).unwrap();
    assert_eq!(key.trim().len(), 64);
    // A second start keeps the secrets it made.
    let server = Server::spawn(
        tempfile::tempdir().unwrap(),
        &data,
        &data.join("staff-tokens"),
        &data.join("link-key"),
        &[],
    );
    assert_eq!(fs::read_to_string(data.join("link-key")).unwrap(), key);
    assert_eq!(server.get("/healthz").status, 200);
    let _ = LINK_KEY;
}

#[test]
fn sigterm_lets_an_order_in_flight_complete_and_answer() {
    let mut server = Server::start(&[]);
    let addr = server.addr;
    let auth = format!("Bearer {TOKEN}");
    // RSA-4096 takes long enough (hundreds of milliseconds or more) to be caught in flight.
    let in_flight = std::thread::spawn(move || {
        common::request(
            addr,
            "POST",
            "/v1/orders",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            json!({"domain": "slow.example.com", "key": "rsa4096", "order_id": "in-flight-1"})
                .to_string()
                .as_bytes(),
        )
    });
    server.wait_for_log("order started", Duration::from_secs(60));
    server.sigterm();
    let answer = in_flight.join().unwrap();
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert_eq!(answer.json()["order_id"], "in-flight-1");
    let status = server.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "{status:?}\n{}", server.logs());
    let logs = server.logs();
    assert!(logs.contains("shutting down"), "{logs}");
    let order_line = logs.find("order created").unwrap();
    let stop_line = logs.find("shutting down").unwrap();
    assert!(
        stop_line < order_line,
        "the signal came while the order was in flight"
    );
    // New connections are refused once it is gone.
    assert!(std::net::TcpStream::connect(addr).is_err());

    // What it acknowledged is all there: a new process over the same data finds it.
    let root = std::mem::replace(&mut server.root, tempfile::tempdir().unwrap());
    let restarted = Server::start_in(root, &[]);
    let status = restarted.staff("GET", "/v1/orders/in-flight-1", None);
    assert_eq!(status.status, 200, "{}", status.text());
    assert_eq!(status.json()["archive_available"], true);
    assert_eq!(
        restarted
            .staff("GET", "/v1/orders/in-flight-1/archive", None)
            .status,
        200
    );
}

#[test]
fn sigterm_on_an_idle_server_exits_cleanly() {
    let mut server = Server::start(&[]);
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    assert!(server.logs().contains("stopped"));
}

#[test]
fn orders_beyond_the_concurrency_limit_wait_their_turn() {
    let server = Server::start(&["--max-concurrent-orders", "1"]);
    let addr = server.addr;
    let orders: Vec<_> = (0..3)
        .map(|index| {
            std::thread::spawn(move || {
                let auth = format!("Bearer {TOKEN}");
                common::request(
                    addr,
                    "POST",
                    "/v1/orders",
                    &[("Authorization", &auth), ("Content-Type", "application/json")],
                    json!({"domain": "a.example.com", "key": "rsa2048", "order_id": format!("turn-{index}")})
                        .to_string()
                        .as_bytes(),
                )
            })
        })
        .collect();
    // Meanwhile the page side answers.
    assert_eq!(server.get("/healthz").status, 200);
    for order in orders {
        assert_eq!(order.join().unwrap().status, 201);
    }
    // One at a time: every "started" is followed by its "created" before the next starts.
    let events: Vec<String> = server
        .logs()
        .lines()
        .filter(|line| line.contains("order started") || line.contains("order created"))
        .map(|line| {
            if line.contains("started") {
                "started"
            } else {
                "created"
            }
            .to_owned()
        })
        .collect();
    assert_eq!(
        events,
        ["started", "created"].repeat(3),
        "{}",
        server.logs()
    );
}
