//! The reminder webhook: a receiver on loopback gets exactly one signed reminder per order
//! that was never revealed and expires within the lead time, even with two server
//! instances on one vault; never the code. Over HTTPS, only a portal whose certificate
//! chains to the trusted CAs and names the URL's host gets it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{
    Delivery, SECRET, Server, code_from_page, receiver, tls_receiver, wait_until, webhook_args,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::PrivateKeyDer;
use serde_json::{Value, json};

fn metric(server: &Server, line_start: &str) -> u64 {
    let text = server.staff("GET", "/metrics", None).text();
    text.lines()
        .find(|line| line.starts_with(line_start))
        .and_then(|line| line.rsplit(' ').next())
        .map_or(0, |value| value.parse().unwrap())
}

/// Signed with the webhook secret over the exact body, with the time in the header.
fn assert_signed(delivery: &Delivery) {
    let key = autocsr_server::HmacKey::from_bytes(SECRET.as_bytes()).unwrap();
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

    let mut reminded = Vec::new();
    for delivery in &deliveries {
        assert_signed(delivery);
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

/// A test CA and a portal certificate it issued for `names`, as the CA's PEM and the
/// portal's TLS settings.
fn portal_pki(names: &[&str]) -> (String, Arc<rustls::ServerConfig>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "AutoCSR test portal CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
    let ca = Issuer::new(ca_params, ca_key);

    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let portal_key = KeyPair::generate().unwrap();
    let portal = CertificateParams::new(names)
        .unwrap()
        .signed_by(&portal_key, &ca)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![portal.der().clone()],
            PrivateKeyDer::try_from(portal_key.serialize_der()).unwrap(),
        )
        .unwrap();
    (ca_pem, Arc::new(config))
}

/// A server whose webhook is `url`, trusting `ca_pem` (mode 0644: others may read a CA
/// file), with one due order.
fn server_with_ca(url: &str, ca_pem: &str) -> Server {
    let root = tempfile::tempdir().unwrap();
    let ca_file = root.path().join("portal-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    std::fs::set_permissions(&ca_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut args = webhook_args(root.path(), url);
    args.extend([
        "--reminder-webhook-ca-file".to_owned(),
        ca_file.display().to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_in(root, &args);
    server.order(json!({"reveal_window_seconds": 600}));
    server
}

#[test]
fn an_https_webhook_reaches_a_portal_whose_certificate_chains_to_the_ca_file() {
    let (ca_pem, tls) = portal_pki(&["127.0.0.1"]);
    let (url, received, refused) = tls_receiver(Vec::new(), tls);
    assert!(url.starts_with("https://127.0.0.1:"));
    let server = server_with_ca(&url, &ca_pem);
    wait_until("the reminder over TLS", Duration::from_secs(60), || {
        server.logs().contains("reminder sent")
    });
    std::thread::sleep(Duration::from_secs(2));
    let deliveries = received.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 1);
    assert_signed(&deliveries[0]);
    assert_eq!(refused.load(Ordering::SeqCst), 0);
}

#[test]
fn an_https_webhook_is_not_sent_to_a_portal_it_cannot_verify() {
    // A certificate from an attacker's CA that copies the trusted CA's name (so only the
    // signature tells them apart), and one from the trusted CA for another host: the
    // handshake fails, every attempt, and nothing is sent.
    let (trusted_ca, _) = portal_pki(&["127.0.0.1"]);
    let (_, other_ca_portal) = portal_pki(&["127.0.0.1"]);
    let (named_ca, wrong_name_portal) = portal_pki(&["portal.example"]);
    let cases = [
        (trusted_ca, other_ca_portal, "BadSignature"),
        (
            named_ca,
            wrong_name_portal,
            "certificate not valid for name",
        ),
    ];
    let running: Vec<_> = cases
        .into_iter()
        .map(|(ca_pem, tls, reason)| {
            let (url, received, refused) = tls_receiver(Vec::new(), tls);
            (server_with_ca(&url, &ca_pem), received, refused, reason)
        })
        .collect();
    for (server, received, refused, reason) in &running {
        wait_until(
            "the delivery to be given up",
            Duration::from_secs(60),
            || server.logs().contains("reminder not delivered"),
        );
        std::thread::sleep(Duration::from_secs(2));
        assert!(received.lock().unwrap().is_empty(), "{reason}");
        // One refused handshake per attempt, then nothing while the order is leased.
        assert_eq!(refused.load(Ordering::SeqCst), 4, "{reason}");
        let logs = server.logs();
        assert!(!logs.contains("reminder sent"), "{reason}");
        assert!(
            logs.contains("could not deliver a reminder") && logs.contains(reason),
            "{reason}: {logs}"
        );
    }
}
