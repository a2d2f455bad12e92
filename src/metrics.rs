//! The daemon's own metrics, in Prometheus text format (served at /metrics by `serve`).
//!
//! One process-wide registry (`metrics::get()`): the AWS interceptor in `aws/`, the runtime
//! (cycles, forecasts, notifier, config reloads) and `serve` (store gauges, set at scrape time)
//! record into it. Names follow `headroom_<subsystem>_<name>_<unit>[_total]`; every label has
//! a bounded set of values (scopes and receivers come from the config, kinds and outcomes from
//! enums); no label or value ever carries a secret, a URL or an error message.
//!
//! May use: prometheus-client, nothing of headroom's own.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::LazyLock;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeL {
    pub scope: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CycleL {
    pub scope: String,
    /// ok (every source answered), partial (a source failed; the rest was used), failed
    /// (nothing committed: a store error).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallL {
    pub service: String,
    pub operation: String,
    /// ok, throttled, client_error, server_error, transport_error.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpL {
    pub service: String,
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceL {
    pub source: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdvisoryL {
    pub kind: String,
    pub severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeL {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceiverL {
    pub receiver: String,
    /// sent, retried (a failed attempt that will be tried again), failed (for good),
    /// suppressed (by a silence, or a duplicate).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableL {
    pub table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionL {
    pub version: &'static str,
}

type Hist = Family<ScopeL, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    pub cycle_duration: Hist,
    pub cycle_runs: Family<CycleL, Counter>,
    pub cycle_last_success: Family<ScopeL, Gauge>,
    pub aws_calls: Family<CallL, Counter>,
    pub aws_retries: Family<OpL, Counter>,
    pub aws_throttles: Family<OpL, Counter>,
    pub source_errors: Family<SourceL, Counter>,
    pub advisories_open: Family<AdvisoryL, Gauge>,
    pub notifications: Family<ReceiverL, Counter>,
    pub actions: Family<OutcomeL, Counter>,
    pub store_size: Gauge,
    pub store_rows: Family<TableL, Gauge>,
    pub forecast_duration: Hist,
    pub config_reloads: Family<OutcomeL, Counter>,
    pub config_loaded: Gauge,
}

fn seconds_buckets() -> Histogram {
    // 10 ms to about 40 min: a small scope's incremental cycle to a fleet's backfill.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.01, 2.0, 18))
}

impl Metrics {
    fn new() -> Metrics {
        let mut r = Registry::default();
        let m = Metrics {
            cycle_duration: Family::new_with_constructor(seconds_buckets as fn() -> Histogram),
            cycle_runs: Family::default(),
            cycle_last_success: Family::default(),
            aws_calls: Family::default(),
            aws_retries: Family::default(),
            aws_throttles: Family::default(),
            source_errors: Family::default(),
            advisories_open: Family::default(),
            notifications: Family::default(),
            actions: Family::default(),
            store_size: Gauge::default(),
            store_rows: Family::default(),
            forecast_duration: Family::new_with_constructor(seconds_buckets as fn() -> Histogram),
            config_reloads: Family::default(),
            config_loaded: Gauge::default(),
            registry: Registry::default(),
        };
        let info: Family<VersionL, Gauge> = Family::default();
        info.get_or_create(&VersionL {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
        r.register("headroom_build_info", "headroom's version (always 1)", info);
        r.register_with_unit(
            "headroom_cycle_duration",
            "Wall time of one scope's cycle (collect to commit)",
            Unit::Seconds,
            m.cycle_duration.clone(),
        );
        r.register(
            "headroom_cycle_runs",
            "Cycles by scope and outcome (ok, partial: a source failed, failed: nothing committed)",
            m.cycle_runs.clone(),
        );
        r.register_with_unit(
            "headroom_cycle_last_success_timestamp",
            "Unix time of the scope's last cycle in which every source answered",
            Unit::Seconds,
            m.cycle_last_success.clone(),
        );
        r.register(
            "headroom_aws_calls",
            "AWS API requests (each attempt, retries included) by service, operation and outcome",
            m.aws_calls.clone(),
        );
        r.register(
            "headroom_aws_retries",
            "AWS API attempts after the first of their call (the SDK's retries)",
            m.aws_retries.clone(),
        );
        r.register(
            "headroom_aws_throttles",
            "AWS API attempts answered with throttling",
            m.aws_throttles.clone(),
        );
        r.register(
            "headroom_collect_source_errors",
            "Sources that failed in a cycle, by source and error kind",
            m.source_errors.clone(),
        );
        r.register(
            "headroom_advice_open_advisories",
            "Open and acknowledged advisories in the store, by kind and severity",
            m.advisories_open.clone(),
        );
        r.register(
            "headroom_notify_notifications",
            "Notifications by receiver and outcome (sent, retried, failed, suppressed)",
            m.notifications.clone(),
        );
        r.register(
            "headroom_act_actions",
            "Changes to AWS by outcome: applied, in_progress (an instance refresh rolls it out), failed, blocked (a guardrail said no; auto mode counts each cycle it is asked again)",
            m.actions.clone(),
        );
        r.register_with_unit(
            "headroom_store_size",
            "Size of the SQLite store on disk: the main file and its write-ahead log",
            Unit::Bytes,
            m.store_size.clone(),
        );
        r.register(
            "headroom_store_rows",
            "Rows per store table (recounted at most every ten minutes once counting takes over 100 ms)",
            m.store_rows.clone(),
        );
        r.register_with_unit(
            "headroom_forecast_duration",
            "Wall time of a scope's forecast run",
            Unit::Seconds,
            m.forecast_duration.clone(),
        );
        r.register(
            "headroom_config_reloads",
            "Configuration reloads (SIGHUP) by outcome (ok, rejected)",
            m.config_reloads.clone(),
        );
        r.register_with_unit(
            "headroom_config_loaded_timestamp",
            "Unix time the configuration in use was loaded",
            Unit::Seconds,
            m.config_loaded.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// The registry in Prometheus text format (0.0.4-compatible, ending in `# EOF`).
    pub fn encode(&self) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }

    pub fn act_outcome(&self, outcome: &'static str) {
        self.actions.get_or_create(&OutcomeL { outcome }).inc();
    }

    pub fn count_notification(&self, receiver: &str, outcome: &'static str, n: u64) {
        self.notifications
            .get_or_create(&ReceiverL {
                receiver: receiver.to_string(),
                outcome,
            })
            .inc_by(n);
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

/// Labels of one operation: the service as `ApiCalls` keys it (lower case), the operation as is.
pub fn op_labels(service: &str, operation: &str) -> OpL {
    OpL {
        service: service.to_ascii_lowercase(),
        operation: operation.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_unit_and_total_suffix() {
        let m = Metrics::new();
        m.cycle_runs
            .get_or_create(&CycleL {
                scope: "default/us-east-1".into(),
                outcome: "ok",
            })
            .inc();
        m.cycle_duration
            .get_or_create(&ScopeL {
                scope: "default/us-east-1".into(),
            })
            .observe(0.25);
        m.store_size.set(4096);
        let text = m.encode();
        assert!(
            text.contains("headroom_cycle_runs_total{scope=\"default/us-east-1\",outcome=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("headroom_cycle_duration_seconds_count{scope=\"default/us-east-1\"} 1"),
            "{text}"
        );
        // 0.25 s falls in the 0.32 s bucket (0.01 × 2⁵) and not in 0.16 s (0.01 × 2⁴).
        assert!(
            text.contains("headroom_cycle_duration_seconds_bucket{le=\"0.16\",scope=\"default/us-east-1\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("headroom_cycle_duration_seconds_bucket{le=\"0.32\",scope=\"default/us-east-1\"} 1"),
            "{text}"
        );
        assert!(text.contains("headroom_store_size_bytes 4096"), "{text}");
        assert!(text.contains("headroom_build_info{version="), "{text}");
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
