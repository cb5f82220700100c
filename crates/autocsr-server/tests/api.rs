//! The staff API and the order page, through the built server on a loopback port.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{
    LINK_KEY, Server, TOKEN, code_from_page, form_body, form_fields, now_unix, request, sign,
};
use serde_json::json;

/// Every answer carries the security headers; dynamic ones are never stored.
fn assert_security_headers(response: &common::Response, dynamic: bool) {
    assert_eq!(
        response.header("content-security-policy"),
        Some(autocsr_server::CONTENT_SECURITY_POLICY)
    );
    assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    if dynamic {
        assert_eq!(response.header("cache-control"), Some("no-store"));
    }
}

/// An API error: JSON with a code and a message, and no secret of the test in it.
fn assert_json_error(response: &common::Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert!(
        response
            .header("content-type")
            .is_some_and(|value| value.starts_with("application/json")),
        "{:?}",
        response.headers
    );
    let body = response.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|text| !text.is_empty())
    );
    let text = response.text();
    assert!(!text.contains(TOKEN) && !text.contains(LINK_KEY));
    assert_security_headers(response, true);
}

#[test]
fn health_readiness_openapi_and_static_files_need_no_token() {
    let server = Server::start(&[]);
    let health = server.get("/healthz");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    assert_security_headers(&health, true);
    assert_eq!(server.get("/readyz").status, 200);
    let openapi = server.get("/openapi.json");
    assert_eq!(openapi.status, 200);
    assert_eq!(openapi.text(), autocsr_server::openapi_json().unwrap());
    let css = server.get("/static/style.css");
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert_security_headers(&css, false);
    assert_eq!(server.get("/static/copy.js").status, 200);

    // Ready means the vault and the archive directory answer, whatever orders exist.
    server.order(json!({"order_id": "autocsr-readiness-probe"}));
    assert_eq!(server.get("/readyz").status, 200);
    let archives = server.data_dir().join("archives");
    let moved = server.data_dir().join("archives-away");
    std::fs::rename(&archives, &moved).unwrap();
    assert_json_error(&server.get("/readyz"), 503, "unavailable");
    assert_eq!(server.get("/healthz").status, 200);
    std::fs::rename(&moved, &archives).unwrap();
    assert_eq!(server.get("/readyz").status, 200);
}

#[test]
fn a_missing_token_is_401_and_a_wrong_one_403_on_every_staff_route() {
    let server = Server::start(&[]);
    let routes = [
        ("POST", "/v1/orders"),
        ("GET", "/v1/orders/ord_x"),
        ("POST", "/v1/orders/ord_x/revoke"),
        ("GET", "/v1/orders/ord_x/archive"),
        ("POST", "/v1/csr/check"),
        ("GET", "/metrics"),
        ("GET", "/v1/no-such-route"),
    ];
    for (method, path) in routes {
        let missing = server.request(method, path, &[], b"");
        assert_json_error(&missing, 401, "unauthorized");
        assert!(
            missing
                .header("www-authenticate")
                .unwrap()
                .starts_with("Bearer")
        );
        let basic = server.request(
            method,
            path,
            &[("Authorization", "Basic dXNlcjpwYXNz")],
            b"",
        );
        assert_json_error(&basic, 401, "unauthorized");
        let wrong = format!("Bearer {}x", TOKEN);
        let forbidden = server.request(method, path, &[("Authorization", &wrong)], b"");
        assert_json_error(&forbidden, 403, "forbidden");
        // A prefix of the real token is wrong too.
        let prefix = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
        assert_json_error(
            &server.request(method, path, &[("Authorization", &prefix)], b""),
            403,
            "forbidden",
        );
    }
    // Refused tokens are not logged either (a typo of the real one is nearly the real one).
    let logs = server.logs();
    assert!(logs.contains("unknown token was refused"));
    assert!(!logs.contains(&TOKEN[..TOKEN.len() - 1]));
    // Methods a route does not take: JSON too, on public routes as well.
    for (method, path) in [("POST", "/healthz"), ("DELETE", "/openapi.json")] {
        assert_json_error(
            &server.request(method, path, &[], b""),
            405,
            "method_not_allowed",
        );
    }
}

#[test]
fn an_order_returns_no_code_and_the_page_reveals_it_only_on_post() {
    let server = Server::start(&[]);
    let created = server.order(json!({"sans": ["www.shop.example.com"], "format": "7z"}));
    let order_id = created["order_id"].as_str().unwrap().to_owned();
    assert!(order_id.starts_with("ord_"));
    assert_eq!(created["format"], "7z");
    assert_eq!(created["key"], "p256");
    assert!(
        created["csr_pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE REQUEST-----")
    );
    assert_eq!(
        created["archive_url"],
        server.url(&format!("/v1/orders/{order_id}/archive"))
    );
    let expires = created["expires_at_unix"].as_i64().unwrap();
    assert!((expires - now_unix() - 7 * 86_400).abs() < 120);

    let status = server.staff("GET", &format!("/v1/orders/{order_id}"), None);
    assert_eq!(status.status, 200);
    let status = status.json();
    assert_eq!(status["state"], "available");
    assert_eq!(status["reveal_count"], 0);
    assert_eq!(status["archive_available"], true);

    let archive = server.staff("GET", &format!("/v1/orders/{order_id}/archive"), None);
    assert_eq!(archive.status, 200);
    assert_eq!(
        archive.header("content-type"),
        Some("application/x-7z-compressed")
    );
    assert_eq!(
        archive.header("content-disposition"),
        Some(format!("attachment; filename=\"{order_id}.7z\"").as_str())
    );
    assert_security_headers(&archive, true);

    // The page (GET) shows the state and the form, never the code.
    let page = server.get(&server.page_path(&order_id, 300));
    assert_eq!(page.status, 200);
    assert_security_headers(&page, true);
    let html = page.text();
    assert!(html.contains("Show unlock code"));
    assert!(html.contains("never sent by e-mail"));
    assert!(code_from_page(&html).is_none());
    assert_eq!(server.reveal_count(&order_id), 0);

    // The POST shows it; it opens the archive the API returned.
    let revealed = server.reveal(&order_id);
    assert_eq!(revealed.status, 200);
    assert_security_headers(&revealed, true);
    let code = code_from_page(&revealed.text()).expect("the code is on the page");
    assert_eq!(server.reveal_count(&order_id), 1);
    let password = secrecy::SecretString::from(code.clone());
    let opened = autocsr::archive::open(
        &archive.body,
        &password,
        &autocsr::archive::Limits::default(),
    )
    .expect("the revealed code opens the archive");
    assert_eq!(opened.entries().len(), 3);

    // The code is in no API answer and in no log line.
    for body in [created.to_string(), status.to_string()] {
        assert!(!body.contains(&code));
    }
    let logs = server.logs();
    assert!(logs.contains("unlock code revealed"));
    for secret in [code.as_str(), TOKEN, LINK_KEY] {
        assert!(!logs.contains(secret), "a secret is in the log");
    }
    let (_, sig) = sign(&order_id, 300);
    assert!(!logs.contains(&sig[..16]), "a link signature is in the log");
    assert!(!logs.contains("sig="), "a query string is in the log");
}

#[test]
fn link_preview_gets_of_every_customer_url_reveal_nothing() {
    let server = Server::start(&[]);
    let created = server.order(json!({}));
    let order_id = created["order_id"].as_str().unwrap().to_owned();
    let page_path = server.page_path(&order_id, 300);
    let page = server.get(&page_path);
    let archive_href = page
        .text()
        .split("href=\"")
        .find(|rest| rest.starts_with("/o/"))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let bots = [
        (
            "User-Agent",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        ),
        (
            "User-Agent",
            "Mozilla/5.0 (compatible; Microsoft Office Protocol Discovery)",
        ),
    ];
    for path in [page_path.as_str(), archive_href.as_str()] {
        for header in bots {
            for method in ["GET", "HEAD"] {
                let answer = server.request(method, path, &[header], b"");
                assert!(answer.status == 200, "{method} {path}: {}", answer.status);
                assert!(code_from_page(&answer.text()).is_none());
            }
        }
    }
    assert_eq!(server.reveal_count(&order_id), 0);
    // The archive link is the encrypted file itself.
    let file = server.get(&archive_href);
    assert!(file.body.starts_with(b"PK\x03\x04"));
    // A GET to the reveal URL does not reveal either.
    let get_reveal = server.get(&format!("/o/{order_id}/reveal"));
    assert_ne!(get_reveal.status, 200);
    assert_eq!(server.reveal_count(&order_id), 0);
}

#[test]
fn forged_expired_replayed_and_overlong_links_are_403() {
    let server = Server::start(&[]);
    let order_id = server.order(json!({}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_id = server.order(json!({}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (exp, sig) = sign(&order_id, 300);
    let mut flipped = sig.clone().into_bytes();
    flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
    let flipped = String::from_utf8(flipped).unwrap();
    let (old_exp, old_sig) = sign(&order_id, -5);
    let (far_exp, far_sig) = sign(&order_id, 2 * 86_400);
    let cases = [
        (
            format!("/o/{order_id}?exp={exp}&sig={flipped}"),
            "not valid",
        ),
        (
            format!("/o/{order_id}?exp={}&sig={sig}", exp + 1),
            "not valid",
        ),
        (format!("/o/{other_id}?exp={exp}&sig={sig}"), "not valid"),
        (format!("/o/{order_id}?exp={exp}"), "not valid"),
        (format!("/o/{order_id}"), "not valid"),
        (
            format!("/o/{order_id}?exp={exp}&sig={}", sig.to_uppercase()),
            "not valid",
        ),
        (
            format!("/o/{order_id}?exp={old_exp}&sig={old_sig}"),
            "expired",
        ),
        (
            format!("/o/{order_id}?exp={far_exp}&sig={far_sig}"),
            "not valid",
        ),
        (
            format!("/o/{order_id}/archive?exp={exp}&sig={flipped}"),
            "not valid",
        ),
        (
            format!("/o/{order_id}/archive?exp={old_exp}&sig={old_sig}"),
            "expired",
        ),
    ];
    for (path, says) in cases {
        let answer = server.get(&path);
        assert_eq!(answer.status, 403, "{path}");
        assert!(answer.text().contains(says), "{path}: {}", answer.text());
        assert!(
            answer
                .header("content-type")
                .unwrap()
                .starts_with("text/html")
        );
        assert_security_headers(&answer, true);
    }
    // The reveal form: a replayed form for another order, a missing or foreign form token,
    // an expired link, a cross-site POST.
    let page = server.get(&server.page_path(&order_id, 300));
    let fields = form_fields(&page.text());
    let post = |id: &str, body: &str, extra: &[(&str, &str)]| {
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        headers.extend_from_slice(extra);
        server.request(
            "POST",
            &format!("/o/{id}/reveal"),
            &headers,
            body.as_bytes(),
        )
    };
    let good = form_body(&fields);
    assert_eq!(post(&other_id, &good, &[]).status, 403);
    let without_token: Vec<_> = fields
        .iter()
        .filter(|(name, _)| name != "token")
        .cloned()
        .collect();
    assert_eq!(post(&order_id, &form_body(&without_token), &[]).status, 403);
    let sig_as_token: Vec<_> = fields
        .iter()
        .map(|(name, value)| {
            let value = if name == "token" {
                sig.clone()
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect();
    assert_eq!(post(&order_id, &form_body(&sig_as_token), &[]).status, 403);
    assert_eq!(
        post(&order_id, &good, &[("Sec-Fetch-Site", "cross-site")]).status,
        403
    );
    assert_eq!(server.reveal_count(&order_id), 0);
    assert_eq!(server.reveal_count(&other_id), 0);
    assert_eq!(
        post(&order_id, &good, &[("Sec-Fetch-Site", "same-origin")]).status,
        200
    );
    assert_eq!(server.reveal_count(&order_id), 1);
}

#[test]
fn unknown_orders_bad_input_and_conflicts_are_json_errors() {
    let server = Server::start(&[]);
    assert_json_error(
        &server.staff("GET", "/v1/orders/ord_nope", None),
        404,
        "not_found",
    );
    assert_json_error(
        &server.staff("GET", "/v1/orders/ord_nope/archive", None),
        404,
        "not_found",
    );
    assert_json_error(
        &server.staff("POST", "/v1/orders/ord_nope/revoke", None),
        404,
        "not_found",
    );
    assert_json_error(
        &server.staff("GET", "/v1/orders/..", None),
        400,
        "invalid_request",
    );
    assert_json_error(
        &server.staff("GET", "/v1/orders/a%20b", None),
        400,
        "invalid_request",
    );
    assert_json_error(
        &server.staff("POST", "/v1/orders", Some(&json!({"domain": 5}))),
        422,
        "invalid_request",
    );
    assert_json_error(
        &server.staff(
            "POST",
            "/v1/orders",
            Some(&json!({"domain": "a.example", "colour": "red"})),
        ),
        422,
        "invalid_request",
    );
    let auth = format!("Bearer {TOKEN}");
    let not_json = server.request(
        "POST",
        "/v1/orders",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        b"{",
    );
    assert_json_error(&not_json, 400, "invalid_request");
    let no_type = server.request("POST", "/v1/orders", &[("Authorization", &auth)], b"{}");
    assert_json_error(&no_type, 415, "unsupported_media_type");
    assert_json_error(
        &server.staff(
            "POST",
            "/v1/orders",
            Some(&json!({"domain": "a.example", "reveal_window_seconds": 0})),
        ),
        400,
        "invalid_request",
    );
    let refused = server.staff("POST", "/v1/orders", Some(&json!({"domain": "*.com"})));
    assert_json_error(&refused, 422, "policy_refused");
    assert!(!refused.json()["findings"].as_array().unwrap().is_empty());
    assert_json_error(
        &server.staff(
            "POST",
            "/v1/orders",
            Some(&json!({"domain": "a.example", "order_id": "../x"})),
        ),
        400,
        "invalid_request",
    );
    assert_json_error(
        &server.staff("DELETE", "/v1/orders", None),
        405,
        "method_not_allowed",
    );

    let first = server.order(json!({"order_id": "shop-4711"}));
    assert_eq!(first["order_id"], "shop-4711");
    let again = server.staff(
        "POST",
        "/v1/orders",
        Some(&json!({"domain": "shop.example.com", "key": "p256", "order_id": "shop-4711"})),
    );
    assert_json_error(&again, 409, "conflict");
    // The first order is untouched.
    assert_eq!(
        server
            .staff("GET", "/v1/orders/shop-4711/archive", None)
            .status,
        200
    );

    // A valid link to an order that does not exist: the page says the code is gone.
    let page = server.get(&server.page_path("ord_never", 300));
    assert_eq!(page.status, 200);
    assert!(page.text().contains("no longer exists"));
    let unknown_page = server.get("/nowhere");
    assert_eq!(unknown_page.status, 404);
    assert_security_headers(&unknown_page, true);
}

#[test]
fn an_oversized_body_is_413() {
    let server = Server::start(&["--max-body-bytes", "4096"]);
    let auth = format!("Bearer {TOKEN}");
    let big = format!("{{\"domain\": \"{}\"}}", "a".repeat(8192));
    let answer = server.request(
        "POST",
        "/v1/orders",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        big.as_bytes(),
    );
    assert_json_error(&answer, 413, "payload_too_large");
    let csr = format!("{{\"csr\": \"{}\"}}", "A".repeat(8192));
    let answer = server.request(
        "POST",
        "/v1/csr/check",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        csr.as_bytes(),
    );
    assert_json_error(&answer, 413, "payload_too_large");
    let order_id = server.order(json!({}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = server.get(&server.page_path(&order_id, 300));
    let mut body = form_body(&form_fields(&page.text()));
    body.push_str(&format!("&csr={}", "A".repeat(8192)));
    let answer = server.request(
        "POST",
        &format!("/o/{order_id}/check-csr"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(answer.status, 413);
}

#[test]
fn page_and_reveal_are_rate_limited_per_client() {
    let server = Server::start(&["--page-rate", "3", "--reveal-rate", "2"]);
    let order_id = server.order(json!({}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = server.page_path(&order_id, 300);
    let page = server.get(&path);
    assert_eq!(page.status, 200);
    let fields = form_fields(&page.text());
    assert_eq!(server.get(&path).status, 200);
    assert_eq!(server.get(&path).status, 200);
    let limited = server.get(&path);
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some());
    assert_security_headers(&limited, true);
    // Forged links count too (no free signature guessing), and the staff API is not limited.
    assert_eq!(
        server.get(&format!("/o/{order_id}?exp=1&sig=00")).status,
        429
    );
    assert_eq!(
        server
            .staff("GET", &format!("/v1/orders/{order_id}"), None)
            .status,
        200
    );
    let post = || {
        server.request(
            "POST",
            &format!("/o/{order_id}/reveal"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form_body(&fields).as_bytes(),
        )
    };
    assert_eq!(post().status, 200);
    assert_eq!(post().status, 200);
    assert_eq!(post().status, 429);
    assert_eq!(server.reveal_count(&order_id), 2);
}

#[test]
fn revoke_destroys_the_code_and_deletes_the_archive() {
    let server = Server::start(&[]);
    let order_id = server.order(json!({}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let archive_file = server
        .data_dir()
        .join("archives")
        .join(format!("{order_id}.sealed"));
    assert!(archive_file.is_file());
    let revoked = server.staff("POST", &format!("/v1/orders/{order_id}/revoke"), None);
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(revoked.json()["state"], "revoked");
    assert!(!archive_file.exists());
    // Twice is fine.
    assert_eq!(
        server
            .staff("POST", &format!("/v1/orders/{order_id}/revoke"), None)
            .status,
        200
    );
    assert_json_error(
        &server.staff("GET", &format!("/v1/orders/{order_id}/archive"), None),
        410,
        "gone",
    );
    let page = server.get(&server.page_path(&order_id, 300));
    assert!(page.text().contains("revoked"));
    assert!(page.text().contains("cannot be regenerated"));
    let revealed = server.reveal(&order_id);
    assert!(code_from_page(&revealed.text()).is_none());
    assert!(revealed.text().contains("revoked"));
}

/// Every vault call a request makes runs on a vault thread; none waits for another one,
/// so a single thread serves the whole order (a nested wait would hang here).
#[test]
fn one_vault_thread_serves_every_route() {
    let server = Server::start(&["--vault-threads", "1"]);
    assert_eq!(server.get("/readyz").status, 200);
    let order_id = server.order(json!({}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = server.get(&server.page_path(&order_id, 300));
    assert!(page.text().contains("Show unlock code"));
    let revealed = server.reveal(&order_id);
    assert!(code_from_page(&revealed.text()).is_some());
    let archive = server.staff("GET", &format!("/v1/orders/{order_id}/archive"), None);
    assert_eq!(archive.status, 200);
    let status = server.staff("GET", &format!("/v1/orders/{order_id}"), None);
    assert_eq!(status.json()["reveal_count"], 1);
    let revoked = server.staff("POST", &format!("/v1/orders/{order_id}/revoke"), None);
    assert_eq!(revoked.json()["state"], "revoked");
}

#[test]
fn csr_check_reports_in_json_and_on_the_page() {
    let server = Server::start(&[]);
    let created = server.order(json!({"reveal_window_seconds": 1}));
    let csr = created["csr_pem"].as_str().unwrap();
    let report = server.staff("POST", "/v1/csr/check", Some(&json!({ "csr": csr })));
    assert_eq!(report.status, 200);
    let report = report.json();
    assert_eq!(report["accepted"], true, "{report}");
    assert_eq!(report["names"][0], "shop.example.com");
    let bad = server
        .staff("POST", "/v1/csr/check", Some(&json!({"csr": "not a CSR"})))
        .json();
    assert_eq!(bad["accepted"], false);
    assert!(!bad["findings"].as_array().unwrap().is_empty());

    // After the one-second window, the page offers the form and renders the report.
    let order_id = created["order_id"].as_str().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let page = server.get(&server.page_path(order_id, 300));
    let html = page.text();
    assert!(html.contains("expired"), "{html}");
    assert!(html.contains("cannot be regenerated"));
    let mut body = form_body(&form_fields(&html));
    body.push_str(&format!("&csr={}", common::percent_encode(csr)));
    let checked = server.request(
        "POST",
        &format!("/o/{order_id}/check-csr"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(checked.status, 200);
    assert!(
        checked.text().contains("This CSR can be used"),
        "{}",
        checked.text()
    );
}

#[test]
fn metrics_count_orders_and_reveals() {
    let server = Server::start(&[]);
    let order_id = server.order(json!({}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    server.reveal(&order_id);
    let metrics = server.staff("GET", "/metrics", None);
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(
        text.contains("autocsr_orders_total{outcome=\"created\"} 1"),
        "{text}"
    );
    assert!(text.contains("autocsr_reveals_total{outcome=\"revealed\"} 1"));
    assert!(text.contains("autocsr_http_request_duration_seconds_bucket{method=\"POST\",route=\"/o/{order_id}/reveal\",status=\"200\""));
    assert!(text.contains("autocsr_purge_runs_total{outcome=\"ok\"}"));
    assert!(!text.contains(&order_id));
}

#[test]
fn the_purge_deletes_expired_codes_and_their_archives() {
    let server = Server::start(&["--purge-interval", "1s"]);
    let short = server.order(json!({"reveal_window_seconds": 1}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let long = server.order(json!({}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let archives = server.data_dir().join("archives");
    // An archive left by an order that died before storing its code, written long ago.
    let orphan = archives.join("ord_orphan.sealed");
    std::fs::write(&orphan, b"PK\x03\x04").unwrap();
    let old = std::time::SystemTime::now() - autocsr_server::ORPHAN_GRACE - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&orphan)
        .unwrap()
        .set_modified(old)
        .unwrap();
    // One just written (an order in flight) stays.
    let fresh = archives.join("ord_in_flight.sealed");
    std::fs::write(&fresh, b"PK\x03\x04").unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while archives.join(format!("{short}.sealed")).exists() || orphan.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the purge did not run: {}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_json_error(
        &server.staff("GET", &format!("/v1/orders/{short}"), None),
        404,
        "not_found",
    );
    assert!(archives.join(format!("{long}.sealed")).exists());
    assert!(fresh.exists());
    assert_eq!(
        server
            .staff("GET", &format!("/v1/orders/{long}"), None)
            .status,
        200
    );
}

#[test]
fn two_instances_share_one_data_directory() {
    let first = Server::start(&[]);
    let second = first.share(&[]);
    let order_id = first.order(json!({}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The second instance serves the page, the archive and the reveal of the first's order.
    assert_eq!(
        second
            .staff("GET", &format!("/v1/orders/{order_id}/archive"), None)
            .status,
        200
    );
    let revealed = second.reveal(&order_id);
    assert!(code_from_page(&revealed.text()).is_some());
    assert_eq!(first.reveal_count(&order_id), 1);
}

#[test]
fn sign_link_prints_a_link_the_server_accepts() {
    let server = Server::start(&[]);
    let order_id = server.order(json!({}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_autocsr-server"))
        .arg("sign-link")
        .arg("--link-key-file")
        .arg(server.root.path().join("link.key"))
        .args(["--base-url", &server.url(""), "--lifetime", "2m", &order_id])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let link = String::from_utf8(output.stdout).unwrap();
    let path = link
        .trim()
        .strip_prefix(&server.url(""))
        .unwrap()
        .to_owned();
    assert_eq!(server.get(&path).status, 200);
    let _ = request; // the raw client is exercised by the helpers
}

#[test]
fn concurrent_reveals_never_pass_the_reveal_limit() {
    // As many vault threads as reveals, so all twelve can reach the vault at once.
    let server = Server::start(&[
        "--max-reveals",
        "3",
        "--reveal-rate",
        "1000",
        "--vault-threads",
        "12",
    ]);
    let order_id = server.order(json!({}))["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = server.get(&server.page_path(&order_id, 300));
    assert!(page.text().contains("can be shown 3 more times"));
    let body = form_body(&form_fields(&page.text()));
    let addr = server.addr;
    let path = format!("/o/{order_id}/reveal");
    let threads: Vec<_> = (0..12)
        .map(|_| {
            let (body, path) = (body.clone(), path.clone());
            std::thread::spawn(move || {
                request(
                    addr,
                    "POST",
                    &path,
                    &[("Content-Type", "application/x-www-form-urlencoded")],
                    body.as_bytes(),
                )
            })
        })
        .collect();
    let answers: Vec<_> = threads
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect();
    let shown = answers
        .iter()
        .filter(|answer| code_from_page(&answer.text()).is_some())
        .count();
    assert_eq!(shown, 3, "exactly the limit");
    assert!(answers.iter().all(|answer| answer.status == 200));
    assert!(
        answers
            .iter()
            .filter(|answer| code_from_page(&answer.text()).is_none())
            .all(|answer| answer.text().contains("as often as this order allows"))
    );
    let status = server
        .staff("GET", &format!("/v1/orders/{order_id}"), None)
        .json();
    assert_eq!(status["reveal_count"], 3);
    assert_eq!(status["reveal_limit_reached"], true);
    // The page now says so, and still offers the archive.
    let page = server.get(&server.page_path(&order_id, 300)).text();
    assert!(page.contains("as often as this order allows"));
    assert!(page.contains("download-archive"));
    assert!(!page.contains("Show unlock code"));
}

#[test]
fn behind_a_proxy_the_limit_is_per_forwarded_client() {
    let server = Server::start(&["--page-rate", "1", "--client-ip-header", "X-Real-IP"]);
    let path = server.page_path("ord_any", 300);
    let from = |ip: &str| {
        server
            .request("GET", &path, &[("X-Real-IP", ip)], b"")
            .status
    };
    assert_eq!(from("198.51.100.1"), 200);
    assert_eq!(from("198.51.100.1"), 429);
    assert_eq!(from("198.51.100.2"), 200);
    // Without the header, the peer (the proxy itself) is one more client.
    assert_eq!(server.get(&path).status, 200);
    assert_eq!(server.get(&path).status, 429);
}
