//! What every handler shares.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autocsr::defaults::DefaultAutoCsr;
use axum::http::{HeaderMap, HeaderName};

use crate::archive_store::ArchiveStore;
use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::secrets::{HmacKey, StaffTokens};
use crate::vault_threads::VaultThreads;

/// The shared state.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) pipeline: Arc<DefaultAutoCsr>,
    pub(crate) archives: ArchiveStore,
    pub(crate) staff_tokens: StaffTokens,
    pub(crate) link_key: HmacKey,
    pub(crate) link_lifetime: Duration,
    pub(crate) reveal_window: Duration,
    pub(crate) max_reveals: Option<std::num::NonZeroU64>,
    /// Without a trailing `/`.
    pub(crate) public_url: String,
    pub(crate) page_limiter: Limiter,
    pub(crate) reveal_limiter: Limiter,
    pub(crate) client_ip_header: Option<HeaderName>,
    pub(crate) metrics: Metrics,
    /// Permits for orders being made (see `--max-concurrent-orders`).
    pub(crate) order_slots: tokio::sync::Semaphore,
    /// Where the requests' vault calls run (see `--vault-threads`).
    pub(crate) vault_threads: VaultThreads,
}

pub(crate) type Shared = Arc<AppState>;

impl AppState {
    /// The client's address (see [`client_ip`]).
    pub(crate) fn client_ip(&self, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
        client_ip(headers, self.client_ip_header.as_ref(), peer)
    }
}

/// The client's address: from `header` when configured and its last value (the one the
/// nearest proxy wrote; for a list, its last element) parses as an IP address, else the
/// peer address.
pub(crate) fn client_ip(
    headers: &HeaderMap,
    header: Option<&HeaderName>,
    peer: SocketAddr,
) -> IpAddr {
    if let Some(name) = header
        && let Some(ip) = headers
            .get_all(name)
            .iter()
            .next_back()
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.rsplit(',').next())
            .and_then(|last| last.trim().parse::<IpAddr>().ok())
    {
        return ip;
    }
    peer.ip()
}

/// Seconds since the Unix epoch (0 before it).
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0)
}

/// RFC 3339, whole seconds, UTC.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Runs long synchronous work (an order's key generation, the CSR check, the purge and
/// reminder jobs) on tokio's blocking pool; a request's short vault calls go to
/// [`AppState::vault_threads`] instead. `None` when it panicked: the caller answers 500.
pub(crate) async fn blocking<T, F>(work: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(work).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_client_is_the_proxy_header_s_last_value_or_the_peer() {
        let peer: SocketAddr = "192.0.2.9:4000".parse().unwrap();
        let name = HeaderName::from_static("x-forwarded-for");
        let mut headers = HeaderMap::new();
        // Without a configured header, a client's own header is ignored.
        headers.append(&name, HeaderValue::from_static("198.51.100.1"));
        assert_eq!(client_ip(&headers, None, peer), peer.ip());
        assert_eq!(
            client_ip(&headers, Some(&name), peer),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        // What the client wrote comes first; the proxy appends the real address.
        headers.append(&name, HeaderValue::from_static("203.0.113.5, 2001:db8::7"));
        assert_eq!(
            client_ip(&headers, Some(&name), peer),
            "2001:db8::7".parse::<IpAddr>().unwrap()
        );
        let mut garbage = HeaderMap::new();
        garbage.append(&name, HeaderValue::from_static("unknown"));
        assert_eq!(client_ip(&garbage, Some(&name), peer), peer.ip());
    }
}
