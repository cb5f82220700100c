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
}

pub(crate) type Shared = Arc<AppState>;

impl AppState {
    /// The client's address: from the configured header (its last value, the one the
    /// nearest proxy wrote) when set and parseable, else the peer address.
    pub(crate) fn client_ip(&self, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
        if let Some(name) = &self.client_ip_header
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

/// Runs a synchronous (vault, keygen, file) call on the blocking pool. `None` when it
/// panicked: the caller answers 500.
pub(crate) async fn blocking<T, F>(work: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(work).await.ok()
}
