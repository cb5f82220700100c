//! Background jobs: the periodic purge (expired codes, then the archives whose code is
//! gone) and the reminder webhooks. Both are safe to run from several instances over one
//! vault and one archive directory at once.

use std::time::{Duration, SystemTime};

use autocsr::credential::{self, CredentialState};
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::state::{AppState, Shared, blocking};
use crate::webhook::{Reminder, Webhook};

/// How long a claimed reminder is leased: longer than a delivery with all its retries can
/// take (4 attempts of at most 10 s and 3.5 s of backoff), so no other instance claims it
/// while this one is still sending.
pub const REMINDER_LEASE: Duration = Duration::from_secs(5 * 60);

/// Reminders claimed per run; they are delivered concurrently.
const REMINDERS_PER_RUN: usize = 32;

/// An archive with no code in the vault is kept this long after it was written: an order
/// writes its archive a moment before it stores the code, and must not lose the file in
/// between. Older, it is the leftover of an order killed in that moment.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(10 * 60);

/// What one purge did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PurgeOutcome {
    pub(crate) records: u64,
    pub(crate) archives: u64,
}

/// Runs `job` now and then every `interval` until `stop` turns true. A run in progress
/// is finished first.
pub(crate) async fn every<F, Fut>(interval: Duration, mut stop: watch::Receiver<bool>, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        if *stop.borrow() {
            return;
        }
        job().await;
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One purge run, on the blocking pool.
pub(crate) async fn purge(state: Shared) {
    let worker = state.clone();
    match blocking(move || purge_once(&worker, SystemTime::now())).await {
        Some(Ok(outcome)) => {
            state.metrics.purge_runs.with_label_values(&["ok"]).inc();
            if outcome != PurgeOutcome::default() {
                tracing::info!(
                    records = outcome.records,
                    archives = outcome.archives,
                    "purge destroyed expired codes and deleted their archives"
                );
            }
        }
        Some(Err(err)) => {
            state
                .metrics
                .purge_runs
                .with_label_values(&["failed"])
                .inc();
            // ShreddingIncomplete included: the next run finishes it.
            tracing::warn!(error = %err, "purge failed; the next run repeats it");
        }
        None => {
            state
                .metrics
                .purge_runs
                .with_label_values(&["failed"])
                .inc();
            tracing::error!("purge panicked");
        }
    }
}

/// The sweep of the archive directory, then the vault's purge. The sweep deletes each
/// archive whose code expired or was revoked, and each with no code in the vault (purged
/// by another process, or an order that died before storing it) once it is older than
/// [`ORPHAN_GRACE`]. It runs first so that the codes this purge is about to delete are
/// still seen as expired, and their archives go in the same run.
pub(crate) fn purge_once(
    state: &AppState,
    now: SystemTime,
) -> Result<PurgeOutcome, credential::Error> {
    let vault = state.pipeline.vault();
    let mut archives = 0;
    let listed = state.archives.list().map_err(credential::Error::storage)?;
    for (order_id, written) in listed {
        let delete = match vault.status(&order_id) {
            Ok(status) => {
                if status.state == CredentialState::Expired {
                    state.metrics.expiries.inc();
                }
                status.state != CredentialState::Available
            }
            Err(credential::Error::NotFound) => now
                .duration_since(written)
                .is_ok_and(|age| age > ORPHAN_GRACE),
            Err(err) => {
                tracing::warn!(order_id = %order_id, error = %err, "kept an archive: the vault did not answer for it");
                false
            }
        };
        if delete
            && state
                .archives
                .remove(&order_id)
                .map_err(credential::Error::storage)?
        {
            archives += 1;
            state.metrics.archives_deleted.inc();
            tracing::debug!(order_id = %order_id, "archive deleted");
        }
    }
    state
        .archives
        .remove_stale_staging(now)
        .map_err(credential::Error::storage)?;
    let report = vault.purge()?;
    state
        .metrics
        .purged_records
        .inc_by(report.records_destroyed);
    Ok(PurgeOutcome {
        records: report.records_destroyed,
        archives,
    })
}

/// One reminder run: claim the orders due (never revealed, expiring within `lead`), POST
/// each to the portal (with retries), and mark the delivered ones, so that no instance
/// sharing the vault sends them again. A delivery that fails every retry stays unmarked,
/// and is claimed again when its lease ends.
pub(crate) async fn remind(state: Shared, webhook: Arc<Webhook>, lead: Duration) {
    let worker = state.clone();
    let claimed = match blocking(move || {
        worker
            .pipeline
            .vault()
            .claim_reminders(lead, REMINDER_LEASE, REMINDERS_PER_RUN)
    })
    .await
    {
        Some(Ok(claimed)) => claimed,
        Some(Err(err)) => {
            tracing::warn!(error = %err, "could not claim reminders; the next run tries again");
            return;
        }
        None => return,
    };
    let mut deliveries = JoinSet::new();
    for due in claimed {
        let webhook = webhook.clone();
        let state = state.clone();
        deliveries.spawn(async move {
            let order_id = due.order_id().to_owned();
            let delivered = webhook
                .deliver(&Reminder::new(&order_id, due.expires_at()))
                .await;
            if !delivered {
                state.metrics.reminders.with_label_values(&["failed"]).inc();
                tracing::warn!(order_id = %order_id, "reminder not delivered; it is claimed again after its lease");
                return;
            }
            state.metrics.reminders.with_label_values(&["sent"]).inc();
            let worker = state.clone();
            let id = order_id.clone();
            match blocking(move || worker.pipeline.vault().mark_reminded(&id)).await {
                Some(Ok(_)) => tracing::info!(order_id = %order_id, "reminder sent"),
                Some(Err(err)) => tracing::warn!(
                    order_id = %order_id,
                    error = %err,
                    "reminder sent but not marked; it may be sent again after its lease"
                ),
                None => {}
            }
        });
    }
    while deliveries.join_next().await.is_some() {}
}
