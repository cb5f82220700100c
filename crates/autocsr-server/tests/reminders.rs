//! The reminder webhook: a receiver on loopback gets exactly one signed reminder per order
//! that was never revealed and expires within the lead time, even with two server
//! instances on one vault; never the code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, code_from_page, private_file};
use serde_json::{Value, json};

const SECRET: &str = "webhook-secret-0123456789abcdef0123456789";

/// One delivery as received: its signature header and its body.
#[derive(Debug, Clone)]
struct Delivery {
    signature: String,
    body: Vec<u8>,
}

/// A webhook receiver on a loopback port. It answers `statuses` in turn (then 200) and
/// records every request.
fn receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<Delivery>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/autocsr", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = HashMap::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert!(line.starts_with("POST /hooks/autocsr "), "{line}");
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let trimmed = line.trim_end();
                if trimmed.is_empty() {
                    break;
                }
                let (name, value) = trimmed.split_once(':').unwrap();
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
            let length: usize = headers["content-length"].parse().unwrap();
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            sink.lock().unwrap().push(Delivery {
                signature: headers
                    .get("autocsr-signature")
                    .cloned()
                    .unwrap_or_default(),
                body,
            });
            let status = statuses.next().unwrap_or(200);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, received)
}

fn webhook_args(dir: &Path, url: &str) -> Vec<String> {
    let secret = dir.join("webhook.secret");
    if !secret.exists() {
        private_file(&secret, SECRET);
    }
    vec![
        "--reminder-webhook-url".to_owned(),
        url.to_owned(),
        "--reminder-webhook-secret-file".to_owned(),
        secret.display().to_string(),
        "--reminder-lead".to_owned(),
        "1h".to_owned(),
        "--reminder-interval".to_owned(),
        "1s".to_owned(),
    ]
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metric(server: &Server, line_start: &str) -> u64 {
    let text = server.staff("GET", "/metrics", None).text();
    text.lines()
        .find(|line| line.starts_with(line_start))
        .and_then(|line| line.rsplit(' ').next())
        .map_or(0, |value| value.parse().unwrap())
}

#[test]
fn two_instances_send_exactly_one_signed_reminder_per_order() {
    let (url, received) = receiver(Vec::new());
    // The orders are made (and revealed or revoked) first, through an instance without
    // the webhook, so that none is reminded before the test has set it up.
    let setup = Server::start(&[]);
    let mut due = Vec::new();
    let mut codes = Vec::new();
    for _ in 0..6 {
        let created = setup.order(json!({"reveal_window_seconds": 600}));
        due.push(created["order_id"].as_str().unwrap().to_owned());
    }
    // Not due: revealed already, revoked, or expiring after the lead time.
    let revealed = setup.order(json!({"reveal_window_seconds": 600}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    codes.push(code_from_page(&setup.reveal(&revealed).text()).unwrap());
    let revoked = setup.order(json!({"reveal_window_seconds": 600}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        setup
            .staff("POST", &format!("/v1/orders/{revoked}/revoke"), None)
            .status,
        200
    );
    let later = setup.order(json!({}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Two instances with the webhook over the same vault, claiming every second.
    let args = webhook_args(setup.root.path(), &url);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = setup.share(&args);
    let second = setup.share(&args);

    let marked = |server: &Server| {
        server
            .logs()
            .lines()
            .filter(|line| line.contains("reminder sent"))
            .count()
    };
    wait_until(
        "six reminders sent and marked",
        Duration::from_secs(60),
        || marked(&first) + marked(&second) >= due.len(),
    );
    // Both instances run several more claims meanwhile: nothing else may arrive.
    std::thread::sleep(Duration::from_secs(3));
    let deliveries = received.lock().unwrap().clone();
    assert_eq!(deliveries.len(), due.len(), "{deliveries:?}");
    assert_eq!(marked(&first) + marked(&second), due.len());
    assert_eq!(
        metric(&first, "autocsr_reminders_total{outcome=\"sent\"}")
            + metric(&second, "autocsr_reminders_total{outcome=\"sent\"}"),
        6
    );

    let key = autocsr_server::HmacKey::from_bytes(SECRET.as_bytes()).unwrap();
    let mut reminded = Vec::new();
    for delivery in &deliveries {
        // Signed over the exact body, with the time in the header.
        let at: u64 = delivery
            .signature
            .strip_prefix("t=")
            .and_then(|rest| rest.split(',').next())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            delivery.signature,
            autocsr_server::webhook_signature(&key, at, &delivery.body)
        );
        let body: Value = serde_json::from_slice(&delivery.body).unwrap();
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["expires_at", "expires_at_unix", "order_id", "type"]);
        assert_eq!(body["type"], "unlock_code.expiring");
        let text = String::from_utf8(delivery.body.clone()).unwrap();
        for code in &codes {
            assert!(!text.contains(code.as_str()));
        }
        reminded.push(body["order_id"].as_str().unwrap().to_owned());
    }
    reminded.sort();
    due.sort();
    assert_eq!(
        reminded, due,
        "one reminder per due order, none for {revealed}, {revoked}, {later}"
    );
}

#[test]
fn a_refused_delivery_is_retried_with_backoff_and_sent_once() {
    // The portal fails twice, then accepts.
    let (url, received) = receiver(vec![500, 503]);
    let root = tempfile::tempdir().unwrap();
    let args = webhook_args(root.path(), &url);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_in(root, &args);
    let order_id = server.order(json!({"reveal_window_seconds": 600}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_until("the accepted delivery", Duration::from_secs(60), || {
        server.logs().contains("reminder sent")
    });
    std::thread::sleep(Duration::from_secs(2));
    let deliveries = received.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 3, "two refused, one accepted");
    assert!(
        deliveries
            .iter()
            .all(|delivery| delivery.body == deliveries[0].body)
    );
    assert!(String::from_utf8_lossy(&deliveries[0].body).contains(&order_id));
    assert_eq!(
        server
            .logs()
            .matches("the portal refused a reminder")
            .count(),
        2
    );
}

#[test]
fn a_delivery_that_fails_every_attempt_stays_unmarked_until_its_lease_ends() {
    let (url, received) = receiver(vec![500; 8]);
    let root = tempfile::tempdir().unwrap();
    let args = webhook_args(root.path(), &url);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_in(root, &args);
    server.order(json!({"reveal_window_seconds": 600}));
    wait_until(
        "the delivery to be given up",
        Duration::from_secs(60),
        || server.logs().contains("reminder not delivered"),
    );
    // Four attempts, then nothing: the order stays leased (REMINDER_LEASE) though the job
    // runs every second meanwhile.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(received.lock().unwrap().len(), 4);
    assert!(!server.logs().contains("reminder sent"));
    assert_eq!(
        metric(&server, "autocsr_reminders_total{outcome=\"failed\"}"),
        1
    );
}
