//! Prometheus metrics, one registry per application (tests run several in one process).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::crypto::password::HasherStats;
use crate::db::PoolStats;

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    logins: IntCounterVec,
    hash_queue_depth: IntGauge,
    hash_in_flight: IntGauge,
    hash_shed: IntCounter,
    hash_jobs: IntCounter,
    /// Held while `render` brings the hasher's counters up to its own counts, so that two
    /// scrapes at once cannot both add the same difference.
    catching_up: std::sync::Mutex<()>,
    db_pool_size: IntGauge,
    db_pool_idle: IntGauge,
    db_pool_waiting: IntGauge,
    db_pool_max: IntGauge,
    retention_runs: IntCounterVec,
    retention_removed: IntCounterVec,
    notifications: IntCounterVec,
    webhook_attempts: IntCounterVec,
}

/// How a login ended, as counted.
#[derive(Debug, Clone, Copy)]
pub enum LoginOutcome {
    Succeeded,
    Failed,
    Locked,
    Disabled,
    /// Refused with 503: the hashing pool and its queue were full.
    Shed,
    /// A right password for an account with a second factor: `mfa_required`.
    SecondStep,
    /// A wrong code in the second step.
    FailedSecondStep,
}

impl LoginOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Locked => "locked",
            Self::Disabled => "disabled",
            Self::Shed => "shed",
            Self::SecondStep => "second_step",
            Self::FailedSecondStep => "failed_second_step",
        }
    }
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route pattern",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )?;
        let logins = IntCounterVec::new(
            Opts::new("doorman_logins_total", "Login attempts by outcome"),
            &["outcome"],
        )?;
        let hash_queue_depth = IntGauge::new(
            "doorman_password_hash_queue_depth",
            "Password hashing jobs waiting",
        )?;
        let hash_in_flight = IntGauge::new(
            "doorman_password_hash_in_flight",
            "Places taken on the hashing pool: jobs hashing, waiting, or about to be queued",
        )?;
        let hash_shed = IntCounter::new(
            "doorman_password_hash_shed_total",
            "Requests shed because the hashing queue was full",
        )?;
        let hash_jobs = IntCounter::new(
            "doorman_password_hash_jobs_total",
            "Jobs started on the hashing pool: a hash made, or a password checked against one or more hashes",
        )?;
        let db_pool_size =
            IntGauge::new("doorman_db_pool_connections", "Open database connections")?;
        let db_pool_idle = IntGauge::new("doorman_db_pool_idle", "Idle database connections")?;
        let db_pool_waiting = IntGauge::new(
            "doorman_db_pool_waiting",
            "Requests waiting for a database connection",
        )?;
        let db_pool_max = IntGauge::new(
            "doorman_db_pool_max",
            "Largest number of database connections",
        )?;
        let retention_runs = IntCounterVec::new(
            Opts::new(
                "doorman_retention_runs_total",
                "Retention job turns: ran on this instance, or skipped (another ran it this interval)",
            ),
            &["outcome"],
        )?;
        let retention_removed = IntCounterVec::new(
            Opts::new(
                "doorman_retention_removed_total",
                "Rows removed by the retention job, by table",
            ),
            &["table"],
        )?;
        let notifications = IntCounterVec::new(
            Opts::new(
                "doorman_notifications_total",
                "Security notifications by kind and outcome: queued, sent, failed (the mailer \
                 refused), suppressed (DOORMAN_NOTIFY), dropped (the queue was full)",
            ),
            &["kind", "outcome"],
        )?;
        registry.register(Box::new(notifications.clone()))?;
        let webhook_attempts = IntCounterVec::new(
            Opts::new(
                "doorman_webhook_attempts_total",
                "Webhook delivery attempts by outcome: delivered, retry (failed, tried again later) or failed (given up)",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(webhook_attempts.clone()))?;
        registry.register(Box::new(retention_runs.clone()))?;
        registry.register(Box::new(retention_removed.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(hash_queue_depth.clone()))?;
        registry.register(Box::new(hash_in_flight.clone()))?;
        registry.register(Box::new(hash_shed.clone()))?;
        registry.register(Box::new(hash_jobs.clone()))?;
        registry.register(Box::new(db_pool_size.clone()))?;
        registry.register(Box::new(db_pool_idle.clone()))?;
        registry.register(Box::new(db_pool_waiting.clone()))?;
        registry.register(Box::new(db_pool_max.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            logins,
            hash_queue_depth,
            hash_in_flight,
            hash_shed,
            hash_jobs,
            catching_up: std::sync::Mutex::new(()),
            db_pool_size,
            db_pool_idle,
            db_pool_waiting,
            db_pool_max,
            retention_runs,
            retention_removed,
            notifications,
            webhook_attempts,
        })
    }

    /// A turn of the retention job: whether this instance ran it.
    pub fn retention_run(&self, ran: bool) {
        let outcome = if ran { "ran" } else { "skipped" };
        self.retention_runs.with_label_values(&[outcome]).inc();
    }

    /// A webhook attempt: `delivered`, `retry` or `failed`.
    pub fn webhook_attempt(&self, outcome: &str) {
        self.webhook_attempts.with_label_values(&[outcome]).inc();
    }

    pub fn retention_removed(&self, table: &str, rows: usize) {
        self.retention_removed
            .with_label_values(&[table])
            .inc_by(u64::try_from(rows).unwrap_or(u64::MAX));
    }

    /// A security notification's fate (`outcome`: queued, sent, failed, suppressed, dropped).
    pub fn notification(&self, kind: &str, outcome: &str) {
        self.notifications.with_label_values(&[kind, outcome]).inc();
    }

    /// The notification counter, for the task that delivers them.
    pub fn notifications(&self) -> IntCounterVec {
        self.notifications.clone()
    }

    /// `route` is the matched pattern (`/api/v1/users/{id}`), never the raw path, and a
    /// method outside HTTP's standard ones counts as `other`: no client can add series.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        self.http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    pub fn login(&self, outcome: LoginOutcome) {
        self.logins.with_label_values(&[outcome.as_str()]).inc();
    }

    /// The text exposition, with the gauges read now.
    pub fn render(&self, hasher: HasherStats, pool: PoolStats) -> anyhow::Result<String> {
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.hash_queue_depth.set(as_i64(hasher.queued));
        self.hash_in_flight.set(as_i64(hasher.in_flight));
        {
            let _only_us = self
                .catching_up
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (counter, count) in [
                (&self.hash_shed, hasher.shed),
                (&self.hash_jobs, hasher.started),
            ] {
                counter.inc_by(count.saturating_sub(counter.get()));
            }
        }
        self.db_pool_size.set(as_i64(pool.size));
        self.db_pool_idle.set(as_i64(pool.idle));
        self.db_pool_waiting.set(as_i64(pool.waiting));
        self.db_pool_max.set(as_i64(pool.max));
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8(buffer)?)
    }
}

/// The label of a request's method: its name when it is one of HTTP's standard methods,
/// else `other`, since the HTTP layer accepts any token as a method.
fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    STANDARD
        .into_iter()
        .find(|name| *name == method)
        .unwrap_or("other")
}
