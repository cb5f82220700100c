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

use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit as _, Mac as _};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
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
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Webhook {
    pub(crate) fn new(url: &str, secret: HmacKey) -> Result<Webhook, crate::Error> {
        let url = url.parse::<hyper::Uri>().map_err(|_| {
            crate::Error::InvalidSetting("--reminder-webhook-url is not a URL".to_owned())
        })?;
        let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
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
                    error = %err,
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
