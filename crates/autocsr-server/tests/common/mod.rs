#![allow(unreachable_pub)]
//! The built `autocsr-server` on an ephemeral loopback port, and a minimal HTTP/1.1 client
//! that sends exactly what a test says (odd headers, oversized bodies) and keeps every
//! byte of the answer.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub const TOKEN: &str = "staff-token-0123456789abcdef0123456789abcdef";
pub const LINK_KEY: &str = "link-key-fedcba9876543210fedcba9876543210";

pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
    logs: Arc<Mutex<Vec<String>>>,
    lines: mpsc::Receiver<String>,
}

pub fn private_file(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

impl Server {
    /// A server with its own data directory, the test token and link key, and `extra`.
    pub fn start(extra: &[&str]) -> Server {
        let root = tempfile::tempdir().unwrap();
        Server::start_in(root, extra)
    }

    pub fn start_in(root: tempfile::TempDir, extra: &[&str]) -> Server {
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let tokens = root.path().join("tokens");
        let key = root.path().join("link.key");
        if !tokens.exists() {
            private_file(&tokens, &format!("# test\n{TOKEN}\n"));
            private_file(&key, &format!("{LINK_KEY}\n"));
        }
        let data = root.path().join("data");
        Server::spawn(root, &data, &tokens, &key, extra)
    }

    /// A second instance over this one's data directory and secrets.
    pub fn share(&self, extra: &[&str]) -> Server {
        let root = tempfile::tempdir().unwrap();
        let tokens = self.root.path().join("tokens");
        let key = self.root.path().join("link.key");
        Server::spawn(root, &self.data_dir(), &tokens, &key, extra)
    }

    pub fn spawn(
        root: tempfile::TempDir,
        data: &Path,
        tokens: &Path,
        key: &Path,
        extra: &[&str],
    ) -> Server {
        Server::spawn_with_env(root, data, tokens, key, extra, &[])
    }

    /// As [`Server::spawn`], with environment variables set for the process.
    pub fn spawn_with_env(
        root: tempfile::TempDir,
        data: &Path,
        tokens: &Path,
        key: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_autocsr-server"));
        command
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0", "--log", "debug"])
            .arg("--staff-tokens-file")
            .arg(tokens)
            .arg("--link-key-file")
            .arg(key)
            .args(extra)
            .env_remove("AUTOCSR_PUBLIC_URL")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (send, lines) = mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line.clone());
                let _ = send.send(line);
            }
        });
        let mut server = Server {
            child: Some(child),
            addr: "127.0.0.1:1".parse().unwrap(),
            root,
            logs,
            lines,
        };
        let line = server.wait_for_log("listening on http://", Duration::from_secs(120));
        let addr = line.rsplit("http://").next().unwrap().trim();
        server.addr = addr.parse().unwrap();
        server
    }

    /// Waits for a log line containing `needle` (panics with the log on timeout or exit).
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?}; log:\n{}", self.logs()),
            }
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        request(self.addr, method, path, headers, body)
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// A staff API call with the test token and a JSON body (or none).
    pub fn staff(&self, method: &str, path: &str, json: Option<&Value>) -> Response {
        let auth = format!("Bearer {TOKEN}");
        let body = json
            .map(|value| serde_json::to_vec(value).unwrap())
            .unwrap_or_default();
        let mut headers = vec![("Authorization", auth.as_str())];
        if json.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        self.request(method, path, &headers, &body)
    }

    /// Creates a P-256 zip order and returns the API's answer.
    pub fn order(&self, extra: Value) -> Value {
        let mut body = serde_json::json!({"domain": "shop.example.com", "key": "p256"});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        let response = self.staff("POST", "/v1/orders", Some(&body));
        assert_eq!(response.status, 201, "{}", response.text());
        response.json()
    }

    /// The path and query of a signed link to the order page, living `lifetime` seconds.
    pub fn page_path(&self, order_id: &str, lifetime: i64) -> String {
        let (exp, sig) = sign(order_id, lifetime);
        format!("/o/{order_id}?exp={exp}&sig={sig}")
    }

    /// POSTs the reveal form for `order_id` and returns the answer.
    pub fn reveal(&self, order_id: &str) -> Response {
        let page = self.get(&self.page_path(order_id, 300));
        let form = form_fields(&page.text());
        let body = form_body(&form);
        self.request(
            "POST",
            &format!("/o/{order_id}/reveal"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    pub fn reveal_count(&self, order_id: &str) -> u64 {
        let status = self.staff("GET", &format!("/v1/orders/{order_id}"), None);
        assert_eq!(status.status, 200, "{}", status.text());
        status.json()["reveal_count"].as_u64().unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit (up to `limit`).
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit; log:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn now_unix() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// `(exp, sig)` for a link living `lifetime` seconds (negative: already expired).
pub fn sign(order_id: &str, lifetime: i64) -> (u64, String) {
    let key = autocsr_server::HmacKey::from_bytes(LINK_KEY.as_bytes()).unwrap();
    let exp = u64::try_from(now_unix() + lifetime).unwrap();
    (exp, autocsr_server::link_signature(&key, order_id, exp))
}

/// The hidden inputs of the first form on a page (name, value).
pub fn form_fields(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for chunk in html.split("<input ").skip(1) {
        let tag = chunk.split('>').next().unwrap();
        let attr = |name: &str| {
            tag.split(&format!("{name}=\""))
                .nth(1)
                .map(|rest| rest.split('"').next().unwrap().to_owned())
        };
        if let (Some(name), Some(value)) = (attr("name"), attr("value"))
            && !fields
                .iter()
                .any(|(seen, _): &(String, String)| *seen == name)
        {
            fields.push((name, value));
        }
    }
    fields
}

pub fn form_body(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(name, value)| format!("{name}={}", percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The revealed code from the page (the `data-code` attribute).
pub fn code_from_page(html: &str) -> Option<String> {
    let rest = html.split("data-code=\"").nth(1)?;
    Some(rest.split('"').next()?.to_owned())
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.text()))
    }
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    // The server may answer (413) and close before reading everything: keep what it said.
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

// --- the reminder webhook's receiving end ---

pub const SECRET: &str = "webhook-secret-0123456789abcdef0123456789";

/// One delivery as received: its signature header and its body.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub signature: String,
    pub body: Vec<u8>,
}

/// A webhook receiver on a loopback port. It answers `statuses` in turn (then 200) and
/// records every request.
pub fn receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<Delivery>>>) {
    let (url, received, _) = receiver_over(statuses, None);
    (url, received)
}

/// The same receiver behind TLS with `tls`'s certificate, at `https://127.0.0.1:…`. The
/// counter is the connections that ended without a request, such as a handshake the
/// client refused.
pub fn tls_receiver(
    statuses: Vec<u16>,
    tls: Arc<rustls::ServerConfig>,
) -> (String, Arc<Mutex<Vec<Delivery>>>, Arc<AtomicUsize>) {
    receiver_over(statuses, Some(tls))
}

fn receiver_over(
    statuses: Vec<u16>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (String, Arc<Mutex<Vec<Delivery>>>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!(
        "{scheme}://{}/hooks/autocsr",
        listener.local_addr().unwrap()
    );
    let received = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(AtomicUsize::new(0));
    let (sink, failures) = (received.clone(), failed.clone());
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let answered = match &tls {
                None => answer_one(stream, &mut statuses, &sink),
                Some(config) => {
                    let connection = rustls::ServerConnection::new(config.clone()).unwrap();
                    let stream = rustls::StreamOwned::new(connection, stream);
                    answer_one(stream, &mut statuses, &sink)
                }
            };
            if answered.is_err() {
                failures.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (url, received, failed)
}

/// Reads one POST to `/hooks/autocsr`, records it, answers the next status and closes.
fn answer_one<S: std::io::Read + std::io::Write>(
    mut stream: S,
    statuses: &mut impl Iterator<Item = u16>,
    sink: &Mutex<Vec<Delivery>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(&mut stream);
    let mut headers = HashMap::new();
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if line.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    assert!(line.starts_with("POST /hooks/autocsr "), "{line}");
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').unwrap();
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers["content-length"].parse().unwrap();
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    drop(reader);
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
    let _ = stream.flush();
    Ok(())
}

pub fn webhook_args(dir: &Path, url: &str) -> Vec<String> {
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

pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
