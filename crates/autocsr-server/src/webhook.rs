//! The reminder webhook: "this order's code was never revealed and expires soon", POSTed
//! to the portal. The body carries the order id and the expiry, never the code. It is
//! signed so the portal can tell it came from this server:
//!
//! ```text
//! AutoCSR-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "autocsr-webhook-v1\n" + t + "\n" + body)>
//! ```
//!
//! The portal recomputes the HMAC over the raw body bytes, compares in constant time, and
//! refuses a `t` more than a few minutes old (a replayed delivery).
//!
//! An `https://` URL is always verified: the portal's certificate must chain to the CAs of
//! `--reminder-webhook-ca-file`, or to the system's when none is given, and name the URL's
//! host. There is no switch to skip that: a reminder a network attacker can read, hold
//! back or answer for the portal is what plain HTTP already gives.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit as _, Mac as _};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde::Serialize;
use sha2::Sha256;

use crate::secrets::HmacKey;
use crate::state::{rfc3339, unix_seconds};

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "AutoCSR-Signature";
/// The first line of the signed string.
pub const WEBHOOK_SIGNATURE_CONTEXT: &str = "autocsr-webhook-v1";
/// Attempts per delivery before it is left for the next claim (after the lease).
pub(crate) const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// A CA file larger than this is refused unread (the system's whole bundle is about
/// 220 KiB).
const MAX_CA_FILE: u64 = 1 << 20;

/// The webhook body.
#[derive(Debug, Serialize)]
pub(crate) struct Reminder<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) order_id: &'a str,
    pub(crate) expires_at: String,
    pub(crate) expires_at_unix: u64,
}

impl<'a> Reminder<'a> {
    pub(crate) fn new(order_id: &'a str, expires_at: SystemTime) -> Reminder<'a> {
        Reminder {
            kind: "unlock_code.expiring",
            order_id,
            expires_at: rfc3339(expires_at),
            expires_at_unix: unix_seconds(expires_at),
        }
    }
}

/// `t=…,v1=…` for `body` signed at `at` (Unix seconds).
pub fn webhook_signature(secret: &HmacKey, at: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.bytes())
        .unwrap_or_else(|_| Hmac::<Sha256>::new(&Default::default()));
    mac.update(WEBHOOK_SIGNATURE_CONTEXT.as_bytes());
    mac.update(b"\n");
    mac.update(at.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(body);
    format!("t={at},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends reminders to one URL.
#[derive(Debug)]
pub(crate) struct Webhook {
    url: hyper::Uri,
    secret: HmacKey,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Webhook {
    /// A sender to `url`; for an `https://` URL, trusting the CAs in `ca_file`, or the
    /// system's when it is `None`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidSetting`]: a URL hyper cannot parse; a CA file for an
    /// `http://` URL; for an `https://` URL, a CA file that cannot be read, is not a
    /// regular file, is over 1 MiB, can be changed by others than its owner, or holds no
    /// usable certificate, or an empty system store when no CA file is given.
    pub(crate) fn new(
        url: &str,
        secret: HmacKey,
        ca_file: Option<&Path>,
    ) -> Result<Webhook, crate::Error> {
        let url = url.parse::<hyper::Uri>().map_err(|_| {
            crate::Error::InvalidSetting("--reminder-webhook-url is not a URL".to_owned())
        })?;
        let https = url.scheme() == Some(&hyper::http::uri::Scheme::HTTPS);
        let roots = match (https, ca_file) {
            (true, Some(path)) => roots_from_file(path)?,
            (true, None) => system_roots()?,
            (false, Some(_)) => {
                return Err(crate::Error::InvalidSetting(
                    "--reminder-webhook-ca-file needs an https:// --reminder-webhook-url"
                        .to_owned(),
                ));
            }
            // Never used: an http:// URL is the only one this client is asked to reach.
            (false, None) => RootCertStore::empty(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| crate::Error::InvalidSetting(format!("webhook TLS setup: {err}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let schemes = HttpsConnectorBuilder::new().with_tls_config(tls);
        // An https:// URL never falls back to plain HTTP.
        let connector = if https {
            schemes.https_only()
        } else {
            schemes.https_or_http()
        }
        .enable_http1()
        .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Webhook {
            url,
            secret,
            client,
        })
    }

    /// POSTs the reminder, retrying with exponential backoff; true once the portal
    /// answered 2xx.
    pub(crate) async fn deliver(&self, reminder: &Reminder<'_>) -> bool {
        let Ok(body) = serde_json::to_vec(reminder) else {
            return false;
        };
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            match tokio::time::timeout(ATTEMPT_TIMEOUT, self.post(&body)).await {
                Ok(Ok(status)) if status.is_success() => return true,
                Ok(Ok(status)) => tracing::warn!(
                    order_id = reminder.order_id,
                    attempt,
                    status = status.as_u16(),
                    "the portal refused a reminder"
                ),
                Ok(Err(err)) => tracing::warn!(
                    order_id = reminder.order_id,
                    attempt,
                    error = %with_causes(err.as_ref()),
                    "could not deliver a reminder"
                ),
                Err(_) => tracing::warn!(
                    order_id = reminder.order_id,
                    attempt,
                    "a reminder delivery timed out"
                ),
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
        }
        false
    }

    async fn post(
        &self,
        body: &[u8],
    ) -> Result<hyper::StatusCode, Box<dyn std::error::Error + Send + Sync>> {
        let signature = webhook_signature(&self.secret, unix_seconds(SystemTime::now()), body);
        let request = hyper::Request::post(self.url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "autocsr-server")
            .header(SIGNATURE_HEADER, signature)
            .body(Full::new(Bytes::copy_from_slice(body)))?;
        let response = self.client.request(request).await?;
        let status = response.status();
        // Read (and drop) the answer so the connection can be reused.
        let _ = response.into_body().collect().await;
        Ok(status)
    }
}

/// `err` and its causes: hyper says "client error (Connect)", and the reason (a refused
/// connection, a certificate from an unknown CA, another host's name) is in the causes.
fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// The CA certificates of a PEM file that only its owner may change.
fn roots_from_file(path: &Path) -> Result<RootCertStore, crate::Error> {
    let refused = |reason: String| {
        crate::Error::InvalidSetting(format!(
            "--reminder-webhook-ca-file {}: {reason}",
            path.display()
        ))
    };
    let pem = autocsr::private_file::read_owner_controlled(path, MAX_CA_FILE)
        .map_err(|err| refused(err.to_string()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|err| refused(format!("not valid PEM: {err}")))?;
        roots
            .add(cert)
            .map_err(|err| refused(format!("unusable certificate: {err}")))?;
    }
    if roots.is_empty() {
        return Err(refused("no CERTIFICATE block".to_owned()));
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, crate::Error> {
    let mut roots = RootCertStore::empty();
    let _ = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        return Err(crate::Error::InvalidSetting(
            "no CA certificate in the system's store for the https:// reminder webhook: \
             give --reminder-webhook-ca-file"
                .to_owned(),
        ));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_documented_one() {
        let secret = HmacKey::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap();
        // printf 'autocsr-webhook-v1\n1800000000\n{}' | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
        assert_eq!(
            webhook_signature(&secret, 1_800_000_000, b"{}"),
            "t=1800000000,v1=538d649a58790b7d21471db87092331975459237075d51535ef4626a84e5eee8"
        );
    }

    #[test]
    fn the_body_has_the_order_and_expiry_only() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let body = serde_json::to_value(Reminder::new("ord_1", at)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "unlock_code.expiring",
                "order_id": "ord_1",
                "expires_at": "2027-01-15T08:00:00Z",
                "expires_at_unix": 1_800_000_000u64,
            })
        );
    }
}
