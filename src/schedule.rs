//! The daemon: cycles on the cron schedule, alert retries in between, clean stop on a signal.
//!
//! The cron job only queues a tick (a channel of one slot); a single loop runs the cycles, so
//! two cycles never overlap. A tick that arrives while a cycle runs waits in the slot; further
//! ticks are skipped and logged.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::check::{self, Context, CycleOptions};

/// How often due alert retries are attempted between cycles.
const DELIVERY_INTERVAL: Duration = Duration::from_secs(30);

/// Run until SIGINT/SIGTERM. A page check in progress at the signal is finished and committed;
/// no new one starts.
pub async fn run_daemon(ctx: Context) -> anyhow::Result<()> {
    let ctx = std::sync::Arc::new(ctx);
    let shutdown = ctx.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received: finishing the page checks in progress, then stopping");
        shutdown.cancel();
    });

    // The web change log (when `[web] listen` is set) and the metrics/health it reports.
    let monitor = crate::web::Monitor::for_schedule(&ctx.cfg.schedule);
    let web = crate::web::start(&ctx, &monitor).await?;

    let (tx, mut ticks) = mpsc::channel::<()>(1);
    let mut sched = JobScheduler::new()
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the scheduler: {e}"))?;
    let job = Job::new_async(ctx.cfg.schedule.as_str(), move |_, _| {
        let tx = tx.clone();
        Box::pin(async move {
            if tx.try_send(()).is_err() {
                tracing::warn!("a cycle is still running and another is queued; this scheduled cycle is skipped");
            }
        })
    })
    .map_err(|e| anyhow::anyhow!("schedule {:?}: {e}", ctx.cfg.schedule))?;
    sched
        .add(job)
        .await
        .map_err(|e| anyhow::anyhow!("cannot schedule cycles: {e}"))?;
    sched
        .start()
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the scheduler: {e}"))?;
    tracing::info!(
        schedule = %ctx.cfg.schedule,
        sources = ctx.cfg.sources.len(),
        database = %ctx.cfg.database.display(),
        alerts = %ctx.transport.describe(),
        "presswatch running"
    );

    // Alerts left pending by an earlier run go out first.
    check::deliver(&ctx).await;
    let mut retry = tokio::time::interval(DELIVERY_INTERVAL);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            Some(()) = ticks.recv() => {
                let started = std::time::Instant::now();
                let report = check::run_cycle(&ctx, &CycleOptions::default()).await;
                tracing::info!(
                    pages = report.pages_checked, new = report.new, changed = report.changed,
                    removed = report.removed, failed = report.failed,
                    seconds = started.elapsed().as_secs_f64(), "cycle finished"
                );
                monitor.record_cycle(&report, started.elapsed());
                if ctx.shutdown.is_cancelled() {
                    break;
                }
                check::deliver(&ctx).await;
            }
            _ = retry.tick() => {
                check::deliver(&ctx).await;
            }
        }
    }
    if let Err(e) = sched.shutdown().await {
        tracing::warn!("scheduler shutdown: {e}");
    }
    if let Some(web) = web {
        let _ = web.await;
    }
    tracing::info!("presswatch stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
