//! The Prometheus metrics served at `/metrics`. Labels are fixed vocabularies (route
//! templates, outcomes), never an order id, a token or anything from the request.

use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};

/// Every metric the server exports.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    /// Orders by outcome: `created`, `refused` (bad input or policy), `conflict`, `failed`.
    pub(crate) orders: IntCounterVec,
    /// Reveal attempts by outcome: `revealed`, `expired`, `revoked`, `limit`, `not_found`,
    /// `failed`.
    pub(crate) reveals: IntCounterVec,
    /// Codes found expired (by a reveal, or their archive swept after the window).
    pub(crate) expiries: IntCounter,
    /// Purge runs by outcome: `ok`, `failed`.
    pub(crate) purge_runs: IntCounterVec,
    /// Vault records the purge destroyed.
    pub(crate) purged_records: IntCounter,
    /// Archives deleted (their code expired, was revoked or purged, or never stored).
    pub(crate) archives_deleted: IntCounter,
    /// Reminder webhooks by outcome: `sent`, `failed`.
    pub(crate) reminders: IntCounterVec,
    /// Request latency by route template, method and status.
    pub(crate) requests: HistogramVec,
}

impl Metrics {
    pub(crate) fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("autocsr".to_owned()), None)?;
        let orders = IntCounterVec::new(
            Opts::new("orders_total", "Orders received, by outcome"),
            &["outcome"],
        )?;
        let reveals = IntCounterVec::new(
            Opts::new("reveals_total", "Unlock code reveal attempts, by outcome"),
            &["outcome"],
        )?;
        let expiries = IntCounter::new("expiries_total", "Unlock codes found expired")?;
        let purge_runs = IntCounterVec::new(
            Opts::new("purge_runs_total", "Purge runs, by outcome"),
            &["outcome"],
        )?;
        let purged_records =
            IntCounter::new("purged_records_total", "Vault records destroyed by purge")?;
        let archives_deleted = IntCounter::new(
            "archives_deleted_total",
            "Archives deleted because their code is gone",
        )?;
        let reminders = IntCounterVec::new(
            Opts::new("reminders_total", "Reminder webhooks, by outcome"),
            &["outcome"],
        )?;
        let requests = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency, by route template, method and status",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route", "method", "status"],
        )?;
        registry.register(Box::new(orders.clone()))?;
        registry.register(Box::new(reveals.clone()))?;
        registry.register(Box::new(expiries.clone()))?;
        registry.register(Box::new(purge_runs.clone()))?;
        registry.register(Box::new(purged_records.clone()))?;
        registry.register(Box::new(archives_deleted.clone()))?;
        registry.register(Box::new(reminders.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        Ok(Metrics {
            registry,
            orders,
            reveals,
            expiries,
            purge_runs,
            purged_records,
            archives_deleted,
            reminders,
            requests,
        })
    }

    /// The text exposition format.
    pub(crate) fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(out)
    }
}
