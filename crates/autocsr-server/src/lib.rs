#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod api;
mod archive_store;
pub mod config;
mod error;
#[cfg(feature = "_fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod jobs;
mod limiter;
mod link;
mod metrics;
mod openapi;
mod page;
mod secrets;
mod state;
mod vault;
mod vault_threads;
mod views;
mod webhook;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use autocsr::shared_vault::VaultChoice;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use api::{
    CreateOrder, CsrCheckRequest, CsrReport, ErrorBody, FindingBody, FormatChoice, KeyChoice,
    OrderCreated, OrderStatus,
};
pub use archive_store::{ArchiveStore, STALE_STAGING};
pub use config::{Cli, Command, ServeArgs, Settings, SignLinkArgs};
pub use error::Error;
pub use http::CONTENT_SECURITY_POLICY;
pub use jobs::{ORPHAN_GRACE, REMINDER_LEASE};
pub use limiter::{MAX_TRACKED_CLIENTS, Rate};
pub use link::{
    CLOCK_SKEW, LINK_SIGNATURE_CONTEXT, MAX_LINK_LIFETIME, is_url_safe_order_id, link_signature,
    sign_link,
};
pub use openapi::{ApiDoc, openapi_json};
pub use secrets::{HmacKey, MIN_SECRET_LEN, StaffTokens};
pub use webhook::{SIGNATURE_HEADER, WEBHOOK_SIGNATURE_CONTEXT, webhook_signature};

use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::vault_threads::VaultThreads;

/// Opens the vault and the archive directory, binds `settings.listen`, logs
/// `listening on http://ADDR` (the bound address, so port 0 works), and serves until
/// `shutdown` completes. Then it stops accepting connections, lets every request in
/// flight finish and answer (an order being made completes and is acknowledged), stops
/// the background jobs after their current run, and returns.
///
/// # Errors
/// [`Error::Vault`], [`Error::OpenVault`], [`Error::Io`] (the archive directory), [`Error::Listen`],
/// [`Error::Serve`], [`Error::InvalidSetting`].
pub async fn serve<S>(settings: Settings, shutdown: S) -> Result<(), Error>
where
    S: Future<Output = ()> + Send + 'static,
{
    serve_opening(settings, vault::open, shutdown).await
}

/// As [`serve`], over `vault` instead of the one `settings.vault` names (which is
/// ignored). A test hook, so that tests can put a vault over stores that fail on purpose
/// (a record committed and its answer lost) behind the real routes; not a stable API.
///
/// # Errors
/// As [`serve`].
#[doc(hidden)]
pub async fn serve_with_vault<S>(
    settings: Settings,
    vault: autocsr::credential::Vault,
    shutdown: S,
) -> Result<(), Error>
where
    S: Future<Output = ()> + Send + 'static,
{
    serve_opening(
        settings,
        move |_: &VaultChoice, _: &Path| Ok(vault),
        shutdown,
    )
    .await
}

async fn serve_opening<S, O>(settings: Settings, open_vault: O, shutdown: S) -> Result<(), Error>
where
    S: Future<Output = ()> + Send + 'static,
    O: FnOnce(&VaultChoice, &Path) -> Result<autocsr::credential::Vault, Error> + Send + 'static,
{
    let webhook = settings
        .webhook
        .map(|hook| {
            webhook::Webhook::new(&hook.url, hook.secret, hook.ca_file.as_deref())
                .map(|sender| (Arc::new(sender), hook.lead, hook.interval))
        })
        .transpose()?;
    let archives = ArchiveStore::open(&settings.archive_dir)?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: settings.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| Error::Listen {
        addr: settings.listen,
        source,
    })?;
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let metrics = Metrics::new()
        .map_err(|err| Error::InvalidSetting(format!("metrics could not be set up: {err}")))?;
    // Last, once nothing else can fail: the PostgreSQL client is synchronous and runs its
    // own runtime, so it is opened (and, at the end, dropped) on the blocking pool, like
    // every vault call, and must not be dropped on the way out of an error here.
    let vault_threads = VaultThreads::start(settings.vault_threads).map_err(Error::Serve)?;
    let (vault_settings, data_dir) = (settings.vault, settings.data_dir.clone());
    let mut vault = tokio::task::spawn_blocking(move || open_vault(&vault_settings, &data_dir))
        .await
        .map_err(|_| Error::InvalidSetting("opening the vault panicked".to_owned()))??;
    if let Some(limit) = settings.max_reveals {
        vault = vault.with_reveal_limit(limit);
    }
    let pipeline = autocsr::defaults::with_vault(vault);
    let state = Arc::new(AppState {
        pipeline: Arc::new(pipeline),
        archives,
        staff_tokens: settings.staff_tokens,
        link_key: settings.link_key,
        link_lifetime: settings.link_lifetime,
        reveal_window: settings.reveal_window,
        max_reveals: settings.max_reveals,
        public_url,
        page_limiter: Limiter::new(settings.page_rate, MAX_TRACKED_CLIENTS),
        reveal_limiter: Limiter::new(settings.reveal_rate, MAX_TRACKED_CLIENTS),
        client_ip_header: settings.client_ip_header,
        metrics,
        order_slots: tokio::sync::Semaphore::new(settings.max_concurrent_orders),
        vault_threads,
    });

    let (stop_jobs, jobs_stop) = watch::channel(false);
    let purge_state = state.clone();
    let purge_job = tokio::spawn(jobs::every(settings.purge_interval, jobs_stop, move || {
        jobs::purge(purge_state.clone())
    }));

    let reminder_job = webhook.map(|(sender, lead, interval)| {
        let reminder_state = state.clone();
        tokio::spawn(jobs::every(interval, stop_jobs.subscribe(), move || {
            jobs::remind(reminder_state.clone(), sender.clone(), lead)
        }))
    });

    let app = http::router(state.clone(), settings.max_body_bytes);
    tracing::info!("listening on http://{bound}");
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing requests in flight");
    })
    .await;
    let _ = stop_jobs.send(true);
    let _ = purge_job.await;
    if let Some(job) = reminder_job {
        let _ = job.await;
    }
    // The vault threads finish what is queued (calls of requests whose client left),
    // then the last reference to the vault goes on the blocking pool (see the open above).
    let _ = tokio::task::spawn_blocking(move || {
        state.vault_threads.stop();
        drop(state);
    })
    .await;
    served.map_err(Error::Serve)?;
    tracing::info!("stopped");
    Ok(())
}
