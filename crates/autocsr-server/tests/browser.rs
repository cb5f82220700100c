//! The order page in a real browser: headless Chromium through chromedriver (WebDriver).
//! A customer opens the signed link, reads the instructions, downloads the archive, shows
//! the code, and opens the archive with 7-Zip; after the window the page offers the
//! reissue path and checks a CSR. Screenshots of both states go to a temp dir, and to
//! docs/img/ with AUTOCSR_UPDATE_SCREENSHOTS=1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use autocsr_interop::{Browser, openssl_public_keys, require_program};
use common::{Server, now_unix};
use fantoccini::Locator;
use serde_json::json;

fn save_screenshot(png: &[u8], name: &str, temp: &Path) {
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(temp.join(name), png).unwrap();
    if std::env::var("AUTOCSR_UPDATE_SCREENSHOTS").is_ok_and(|value| value == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/img");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(name), png).unwrap();
    }
}

fn wait_for_download(dir: &Path) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                let name = path.file_name().unwrap().to_string_lossy();
                !name.ends_with(".crdownload") && !name.starts_with('.')
            })
            .collect();
        if let [file] = done.as_slice() {
            return file.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no download in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn text_of(client: &fantoccini::Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("no {css} on the page: {err}"))
        .text()
        .await
        .unwrap()
}

#[test]
fn a_customer_reveals_the_code_and_opens_the_archive_in_chromium() {
    let sevenzip = require_program!("7zz");
    let openssl = require_program!("openssl");
    let work = tempfile::tempdir().unwrap();
    let downloads = work.path().join("downloads");
    let shots = work.path().join("screenshots");
    std::fs::create_dir_all(&downloads).unwrap();
    std::fs::create_dir_all(&shots).unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(browser) = runtime.block_on(Browser::start(&downloads, 420, 1500)) else {
        return;
    };
    let server = Server::start(&[]);
    let created = server.order(
        json!({"domain": "shop.example.com", "sans": ["www.shop.example.com"], "format": "zip"}),
    );
    let order_id = created["order_id"].as_str().unwrap().to_owned();
    let short = server.order(json!({"domain": "old.example.com", "reveal_window_seconds": 3}));
    let short_id = short["order_id"].as_str().unwrap().to_owned();
    let short_expiry = short["expires_at_unix"].as_i64().unwrap();

    runtime.block_on(async {
        let client = browser.client();
        // 1. Open the signed link.
        client
            .goto(&server.url(&server.page_path(&order_id, 600)))
            .await
            .unwrap();
        assert!(text_of(client, "#state").await.contains("Ready"));

        // 2. The instructions say what works on each system, and that no e-mail brings the code.
        let windows = text_of(client, "#os-windows").await;
        assert!(
            windows.contains("7-Zip") && windows.contains("Explorer"),
            "{windows}"
        );
        let mac = text_of(client, "#os-macos").await;
        assert!(
            mac.contains("The Unarchiver")
                && mac.contains("Keka")
                && mac.contains("Archive Utility"),
            "{mac}"
        );
        assert!(text_of(client, "#os-linux").await.contains("7-Zip"));
        assert!(
            text_of(client, "#never-emailed")
                .await
                .contains("never sent by e-mail")
        );
        assert!(client.find(Locator::Css("#unlock-code")).await.is_err());
        assert_eq!(server.reveal_count(&order_id), 0);

        // 3. Download the archive (a GET through the same signed link).
        client
            .find(Locator::Css("#download-archive"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let archive = wait_for_download(&downloads);
        assert_eq!(server.reveal_count(&order_id), 0);

        // 4. Show the code (the POST form) and read it off the page.
        client
            .find(Locator::Css("#show-code"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let shown = client
            .wait()
            .for_element(Locator::Css("#unlock-code"))
            .await
            .unwrap();
        let code = shown.attr("data-code").await.unwrap().unwrap();
        let groups = client
            .find_all(Locator::Css("#unlock-code .group"))
            .await
            .unwrap();
        let mut typed = Vec::new();
        for group in groups {
            typed.push(group.text().await.unwrap());
        }
        assert_eq!(
            typed.join("-"),
            code,
            "the grouped code on screen is the code"
        );
        assert!(typed.len() > 3);
        // The copy button is shown by the page's one script (CSP allows it, and no other).
        let copy = client.find(Locator::Css("#copy-code")).await.unwrap();
        assert!(copy.is_displayed().await.unwrap(), "copy.js did not run");
        assert_eq!(server.reveal_count(&order_id), 1);
        save_screenshot(
            &client.screenshot().await.unwrap(),
            "order-page.png",
            &shots,
        );

        // 5. 7-Zip opens the downloaded archive with that code; the key matches the CSR.
        let out = work.path().join("opened");
        sevenzip.run_ok([
            "x".as_ref(),
            format!("-p{code}").as_ref(),
            format!("-o{}", out.display()).as_ref(),
            archive.as_os_str(),
        ]);
        let (from_key, from_csr) = openssl_public_keys(
            &openssl,
            &out.join(autocsr::KEY_ENTRY),
            &out.join(autocsr::CSR_ENTRY),
        );
        assert!(from_key.contains("BEGIN PUBLIC KEY"));
        assert_eq!(from_key, from_csr, "the archive's key belongs to its CSR");
        assert_eq!(
            std::fs::read_to_string(out.join(autocsr::CSR_ENTRY)).unwrap(),
            created["csr_pem"].as_str().unwrap()
        );

        // After the window: the page says the code is gone for good and offers the CSR check.
        let wait = short_expiry + 1 - now_unix();
        if wait > 0 {
            std::thread::sleep(Duration::from_secs(u64::try_from(wait).unwrap()));
        }
        client
            .goto(&server.url(&server.page_path(&short_id, 600)))
            .await
            .unwrap();
        let state = text_of(client, "#state").await;
        assert!(state.contains("expired"), "{state}");
        assert!(
            text_of(client, "#reissue")
                .await
                .contains("cannot be regenerated")
        );
        assert!(client.find(Locator::Css("#show-code")).await.is_err());
        let textarea = client.find(Locator::Css("#csr")).await.unwrap();
        textarea
            .send_keys(created["csr_pem"].as_str().unwrap())
            .await
            .unwrap();
        client
            .find(Locator::Css("#check"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let report = client
            .wait()
            .for_element(Locator::Css("#report"))
            .await
            .unwrap();
        assert!(
            report
                .text()
                .await
                .unwrap()
                .contains("This CSR can be used")
        );
        save_screenshot(
            &client.screenshot().await.unwrap(),
            "order-expired.png",
            &shots,
        );
    });
    runtime.block_on(browser.close());
}
