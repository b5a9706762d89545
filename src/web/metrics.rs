//! Prometheus metrics for `/metrics` (OpenMetrics text, which Prometheus scrapes).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::check::CycleReport;
use crate::store::OutboxCounts;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// The daemon's counters; updated by `schedule` after each cycle, read by `/metrics`.
pub struct Metrics {
    registry: Registry,
    cycles: Counter,
    interrupted: Counter,
    pages_checked: Counter,
    failures: Family<KindLabel, Counter>,
    changes: Family<KindLabel, Counter>,
    outbox: Family<StatusLabel, Gauge>,
    cycle_duration: Histogram,
    last_cycle: Gauge<f64, AtomicU64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

/// Every failure kind a cycle reports (`FetchError::kind` and the check's own), so each
/// series exists from the start.
pub const FAILURE_KINDS: &[&str] = &[
    "timeout",
    "connect",
    "http-5xx",
    "http-status",
    "too-large",
    "robots",
    "host-paused",
    "gone",
    "not-html",
    "extraction",
    "error-page",
    "shrank",
    "store",
    "discovery",
    "other",
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("presswatch");
        let cycles = Counter::default();
        registry.register("cycles", "Check cycles finished", cycles.clone());
        let interrupted = Counter::default();
        registry.register(
            "cycles_interrupted",
            "Check cycles stopped early by a signal",
            interrupted.clone(),
        );
        let pages_checked = Counter::default();
        registry.register(
            "pages_checked",
            "Page checks done (any outcome)",
            pages_checked.clone(),
        );
        let failures = Family::<KindLabel, Counter>::default();
        registry.register(
            "check_failures",
            "Failed checks and source errors, by kind",
            failures.clone(),
        );
        for kind in FAILURE_KINDS {
            let _ = failures.get_or_create(&KindLabel { kind });
        }
        let changes = Family::<KindLabel, Counter>::default();
        registry.register(
            "changes",
            "Changes detected, by kind (new, changed, removed)",
            changes.clone(),
        );
        for kind in ["new", "changed", "removed"] {
            let _ = changes.get_or_create(&KindLabel { kind });
        }
        let outbox = Family::<StatusLabel, Gauge>::default();
        registry.register(
            "outbox_alerts",
            "Alerts in the outbox by status (pending, failed), at scrape time",
            outbox.clone(),
        );
        let cycle_duration = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        registry.register(
            "cycle_duration_seconds",
            "Duration of check cycles",
            cycle_duration.clone(),
        );
        let last_cycle = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "last_cycle_timestamp_seconds",
            "Unix time the last check cycle finished (0: none yet)",
            last_cycle.clone(),
        );
        Metrics {
            registry,
            cycles,
            interrupted,
            pages_checked,
            failures,
            changes,
            outbox,
            cycle_duration,
            last_cycle,
        }
    }

    /// Count a finished cycle.
    pub fn record_cycle(&self, report: &CycleReport, elapsed: Duration, finished_unix: f64) {
        self.cycles.inc();
        if report.interrupted {
            self.interrupted.inc();
        }
        self.pages_checked.inc_by(report.pages_checked as u64);
        for (kind, n) in &report.failure_kinds {
            self.failures
                .get_or_create(&KindLabel { kind })
                .inc_by(*n as u64);
        }
        for (kind, n) in [
            ("new", report.new),
            ("changed", report.changed),
            ("removed", report.removed),
        ] {
            self.changes
                .get_or_create(&KindLabel { kind })
                .inc_by(n as u64);
        }
        self.cycle_duration.observe(elapsed.as_secs_f64());
        self.last_cycle.set(finished_unix);
    }

    /// Set the outbox gauges (done just before encoding).
    pub fn set_outbox(&self, counts: &OutboxCounts) {
        for (status, n) in [("pending", counts.pending), ("failed", counts.failed)] {
            self.outbox.get_or_create(&StatusLabel { status }).set(n);
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_names() {
        let m = Metrics::new();
        let report = CycleReport {
            pages_checked: 3,
            changed: 1,
            failed: 1,
            failures: vec!["GET https://x/a: HTTP 503".into()],
            failure_kinds: [("http-5xx", 1)].into_iter().collect(),
            ..Default::default()
        };
        m.record_cycle(&report, Duration::from_millis(1500), 1.0);
        m.set_outbox(&OutboxCounts {
            pending: 2,
            failed: 1,
            sent: 0,
        });
        let text = m.encode();
        assert!(text.contains("presswatch_cycles_total 1"), "{text}");
        assert!(text.contains("presswatch_pages_checked_total 3"), "{text}");
        assert!(
            text.contains("presswatch_check_failures_total{kind=\"http-5xx\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("presswatch_changes_total{kind=\"changed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("presswatch_outbox_alerts{status=\"pending\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("presswatch_cycle_duration_seconds_bucket"),
            "{text}"
        );
    }
}
