//! A headless Chromium driven through WebDriver: `chromedriver` (Debian `chromium-driver`)
//! on a free loopback port, and a `fantoccini` client connected to it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::{Program, missing};

/// A browser session. Dropping it ends the session's driver process; call
/// [`Browser::close`] first to end the session cleanly.
#[derive(Debug)]
pub struct Browser {
    client: fantoccini::Client,
    driver: Child,
}

impl Browser {
    /// Starts `chromedriver` on a free loopback port and opens a headless Chromium session
    /// whose window is `width` x `height` CSS pixels and whose downloads go to `downloads`
    /// without asking. Returns `None` after the project's skip notice when `chromedriver`
    /// or `chromium` is not installed (or panics under `AUTOCSR_REQUIRE_INTEROP=1`).
    ///
    /// # Panics
    /// When a program is missing and `AUTOCSR_REQUIRE_INTEROP=1`, or when the driver does
    /// not start or refuses the session.
    pub async fn start(downloads: &Path, width: u32, height: u32) -> Option<Browser> {
        let driver_program = Program::require("chromedriver")?;
        let Some(chromium) =
            Program::find("chromium").or_else(|| Program::find("chromium-browser"))
        else {
            missing("chromium not installed", "run .ci/run to install");
            return None;
        };
        let port = free_port();
        let driver = driver_program
            .command()
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("could not start chromedriver: {err}"));
        let mut guard = DriverGuard(Some(driver));
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)));

        let options = serde_json::json!({
            "binary": chromium.path,
            "args": [
                "--headless=new",
                // As root (CI), Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                format!("--window-size={width},{height}"),
            ],
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
                "safebrowsing.enabled": false,
            },
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let client = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap_or_else(|err| panic!("chromedriver refused a headless Chromium session: {err}"));
        let driver = guard.0.take()?;
        Some(Browser { client, driver })
    }

    /// The WebDriver client.
    pub fn client(&self) -> &fantoccini::Client {
        &self.client
    }

    /// Ends the session (closing Chromium), then the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Kills the driver if the session could not be opened.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|err| panic!("no free loopback port: {err}"))
}

fn wait_for_port(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
