//! Liveness of the daemon for `/healthz`: did a cycle finish recently enough?
//!
//! Healthy while the last cycle finished within twice the schedule interval. Before the first
//! cycle has finished, healthy during a grace period of twice the interval after the start.
//! The clock is a parameter ([`Health::status`] takes `now`), so tests need not sleep.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Used when the schedule cannot be read as cron (config validation should prevent it).
const FALLBACK_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// Fire times looked at to find the interval of an irregular schedule.
const SAMPLES: usize = 16;

/// The longest gap between consecutive fire times of a cron `schedule` (with seconds, UTC),
/// over its next few fire times; `None` when it does not parse or never fires.
pub fn schedule_interval(schedule: &str) -> Option<Duration> {
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(schedule)
        .ok()?;
    let mut prev = cron.find_next_occurrence(&Utc::now(), false).ok()?;
    let mut longest: Option<Duration> = None;
    for _ in 0..SAMPLES {
        let Ok(next) = cron.find_next_occurrence(&prev, false) else {
            break;
        };
        let gap = (next - prev).to_std().ok()?;
        longest = Some(longest.map_or(gap, |l| l.max(gap)));
        prev = next;
    }
    longest
}

/// What `/healthz` reports.
#[derive(Debug)]
pub struct Health {
    interval: Duration,
    started_at: DateTime<Utc>,
    last: Mutex<Option<LastCycle>>,
}

#[derive(Debug, Clone, Copy)]
struct LastCycle {
    finished_at: DateTime<Utc>,
    pages_checked: usize,
    failed: usize,
}

impl Health {
    /// A daemon started at `started_at` whose cycles run every `interval`.
    pub fn new(interval: Duration, started_at: DateTime<Utc>) -> Health {
        Health {
            interval,
            started_at,
            last: Mutex::new(None),
        }
    }

    /// For a cron schedule, starting now.
    pub fn for_schedule(schedule: &str) -> Health {
        let interval = schedule_interval(schedule).unwrap_or_else(|| {
            tracing::warn!(
                schedule,
                "cannot compute the schedule interval; /healthz assumes 30 minutes"
            );
            FALLBACK_INTERVAL
        });
        Health::new(interval, Utc::now())
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// Record a finished cycle.
    pub fn record_cycle(&self, finished_at: DateTime<Utc>, pages_checked: usize, failed: usize) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        *last = Some(LastCycle {
            finished_at,
            pages_checked,
            failed,
        });
    }

    /// When the last cycle finished, if any has.
    pub fn last_cycle_at(&self) -> Option<DateTime<Utc>> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|l| l.finished_at)
    }

    /// `Ok(summary)` when healthy at `now`, `Err(reason)` otherwise; both one line.
    pub fn status(&self, now: DateTime<Utc>) -> Result<String, String> {
        let limit = chrono::Duration::from_std(self.interval * 2).unwrap_or(chrono::TimeDelta::MAX);
        let last = *self.last.lock().unwrap_or_else(|p| p.into_inner());
        match last {
            Some(l) => {
                let age = now - l.finished_at;
                if age <= limit {
                    Ok(format!(
                        "ok: last cycle finished {} ago ({} pages checked, {} failed); schedule interval {}",
                        human(age),
                        l.pages_checked,
                        l.failed,
                        human_std(self.interval)
                    ))
                } else {
                    Err(format!(
                        "last cycle finished {} ago, more than twice the schedule interval ({})",
                        human(age),
                        human_std(self.interval)
                    ))
                }
            }
            None => {
                let up = now - self.started_at;
                if up <= limit {
                    Ok(format!(
                        "ok: started {} ago, first cycle not finished yet (grace period {})",
                        human(up),
                        human_std(self.interval * 2)
                    ))
                } else {
                    Err(format!(
                        "no cycle finished since the start {} ago (more than twice the schedule interval, {})",
                        human(up),
                        human_std(self.interval)
                    ))
                }
            }
        }
    }
}

fn human(d: chrono::Duration) -> String {
    human_std(d.to_std().unwrap_or_default())
}

fn human_std(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s}s")
    } else if s < 2 * 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_of_common_schedules() {
        assert_eq!(
            schedule_interval("0 */30 * * * *"),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(
            schedule_interval("*/10 * * * * *"),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            schedule_interval("0 0 6 * * *"),
            Some(Duration::from_secs(86400))
        );
        assert_eq!(schedule_interval("every minute"), None);
    }

    #[test]
    fn grace_period_then_last_cycle_age() {
        let t0 = Utc::now();
        let h = Health::new(Duration::from_secs(60), t0);
        assert!(h.status(t0 + chrono::Duration::seconds(119)).is_ok());
        let e = h
            .status(t0 + chrono::Duration::seconds(121))
            .expect_err("grace over");
        assert!(e.contains("no cycle finished"), "{e}");
        h.record_cycle(t0 + chrono::Duration::seconds(130), 3, 1);
        assert!(h.status(t0 + chrono::Duration::seconds(200)).is_ok());
        let e = h
            .status(t0 + chrono::Duration::seconds(251))
            .expect_err("stale");
        assert!(e.contains("last cycle finished"), "{e}");
    }
}
