//! `POST /v1/orders` when the vault commits the record and then loses its answer (a
//! storage error after the commit, as a shared database's dropped connection gives): the
//! order fails without showing its code, and the revoke that settles it leaves no live code
//! and no archive. The server runs in this process (`serve_with_vault`), over a vault whose
//! record store fails this way on purpose.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autocsr::credential::{MemoryKeyStore, MemoryRecordStore, Vault};
use autocsr::secrecy::ExposeSecret as _;
use autocsr_credential::conformance::{FaultyRecordStore, InsertFault};
use clap::Parser as _;
use common::{LINK_KEY, TOKEN, code_from_page, form_body, form_fields, private_file, request};
use serde_json::json;

/// Everything the server logs, at debug level.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[test]
fn an_order_whose_store_answer_was_lost_fails_and_is_revoked() {
    let log = Log::default();
    let sink = log.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || sink.clone())
        .init();

    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let (tokens, key) = (root.path().join("tokens"), root.path().join("link.key"));
    private_file(&tokens, &format!("{TOKEN}\n"));
    private_file(&key, &format!("{LINK_KEY}\n"));
    let data = root.path().join("data");
    let args = autocsr_server::Cli::try_parse_from([
        "autocsr-server",
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--staff-tokens-file",
        tokens.to_str().unwrap(),
        "--link-key-file",
        key.to_str().unwrap(),
    ])
    .unwrap();
    let settings = autocsr_server::Settings::from_args(args.serve).unwrap();

    // Records in memory whose insert commits and then reports a storage error. To prove
    // the code is shown nowhere, the committed code is read through a second vault over
    // the same stores (that reveal counts as one, which changes nothing here).
    let records = Arc::new(MemoryRecordStore::new());
    let keys = Arc::new(MemoryKeyStore::new());
    let peek = Vault::new(records.clone(), keys.clone());
    let codes = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = codes.clone();
    let store = FaultyRecordStore::new(records)
        .with_insert_fault(InsertFault::AfterCommit)
        .after_commit(move |committed| {
            for record in committed {
                let revealed = peek.reveal(&record.order_id).unwrap();
                let code = revealed.code.reveal().expose_secret().to_owned();
                seen.lock().unwrap().push(code);
            }
        });
    let vault = Vault::new(Arc::new(store), keys);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(autocsr_server::serve_with_vault(
        settings,
        vault,
        async move {
            let _ = stopped.await;
        },
    ));
    let addr = wait_for_address(&log);

    let auth = format!("Bearer {TOKEN}");
    let staff = |method: &str, path: &str, body: Option<serde_json::Value>| {
        let mut headers = vec![("Authorization", auth.as_str())];
        let body = body.map_or_else(Vec::new, |body| {
            headers.push(("Content-Type", "application/json"));
            serde_json::to_vec(&body).unwrap()
        });
        request(addr, method, path, &headers, &body)
    };
    let order_id = "ord-lost-answer";
    let created = staff(
        "POST",
        "/v1/orders",
        Some(json!({"domain": "shop.example.com", "key": "p256", "order_id": order_id})),
    );
    assert!(
        created.status >= 500,
        "{} {}",
        created.status,
        created.text()
    );
    let codes = codes.lock().unwrap().clone();
    assert_eq!(codes.len(), 1, "the store committed one record");
    let code = &codes[0];
    assert!(
        !created.text().contains(code.as_str()),
        "{}",
        created.text()
    );

    // The settling revoke ran: the order is revoked, its archive gone, its code refused.
    let status = staff("GET", &format!("/v1/orders/{order_id}"), None);
    assert_eq!(status.status, 200, "{}", status.text());
    assert_eq!(status.json()["state"], "revoked");
    let archive = staff("GET", &format!("/v1/orders/{order_id}/archive"), None);
    assert!(
        archive.status == 404 || archive.status == 410,
        "{}",
        archive.status
    );
    let archives = data.join("archives");
    let left: Vec<_> = std::fs::read_dir(&archives)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name != ".staging")
        .collect();
    assert!(left.is_empty(), "archives left: {left:?}");
    let (exp, sig) = common::sign(order_id, 300);
    let page = request(
        addr,
        "GET",
        &format!("/o/{order_id}?exp={exp}&sig={sig}"),
        &[],
        b"",
    );
    let form = form_fields(&page.text());
    let revealed = request(
        addr,
        "POST",
        &format!("/o/{order_id}/reveal"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form_body(&form).as_bytes(),
    );
    assert_eq!(code_from_page(&revealed.text()), None);
    assert!(!revealed.text().contains(code.as_str()));
    assert!(!page.text().contains(code.as_str()));

    let _ = stop.send(());
    runtime.block_on(server).unwrap().unwrap();
    let logged = log.text();
    assert!(logged.contains("answer was lost"), "{logged}");
    let compact: String = code.chars().filter(char::is_ascii_alphanumeric).collect();
    for shown in [code.as_str(), compact.as_str()] {
        assert!(!logged.contains(shown), "the code is in the log");
        assert!(!created.text().contains(shown), "{}", created.text());
    }
}

/// The address from the `listening on http://ADDR` line.
fn wait_for_address(log: &Log) -> SocketAddr {
    let start = Instant::now();
    loop {
        if let Some(line) = log
            .text()
            .lines()
            .find(|line| line.contains("listening on http://"))
        {
            return line
                .rsplit("http://")
                .next()
                .unwrap()
                .trim()
                .parse()
                .unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the server did not start: {}",
            log.text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
