//! The daemon loop: at each tick of `schedule.collect` (in its time zone) every scope cycles,
//! up to `aws.concurrent_scopes` at once. A scope whose previous cycle is still running skips
//! the tick (never two cycles of one scope at once); the others go on. On shutdown the loop
//! takes no more ticks and cancels the running cycles: in-flight AWS calls stop at once, and
//! each cycle's writes are one transaction, committed whole or not at all.
//!
//! Beside the ticks runs the notifier (when a receiver is configured): it pumps the outbox
//! after every committed cycle and whenever a group's wait or a retry falls due, so delivery
//! never waits for the next tick and never holds a cycle up.
//!
//! May use: cycle, app, config, notify, the aws traits, the store traits.

use super::app::{Clock, Shared};
use super::cycle::{ScopeState, cycle};
use crate::aws::Account;
use crate::config::Config;
use crate::notify::Notifier;
use crate::store::{Outbox, Store};
use chrono::Utc;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the collect schedule `{0}` has no future tick: headroom would never cycle (fix [schedule] collect, then restart)")]
    NoTick(String),
}

/// Runs every scope at each tick until `shutdown` completes. Returns an error when the
/// schedule has no next tick (the service manager should restart or alert, not see success).
pub async fn run<A, S>(
    scopes: Vec<(A, ScopeState)>,
    cfg: Arc<Config>,
    store: Shared<S>,
    clock: &dyn Clock,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError>
where
    A: Account + Send + 'static,
    S: Store + Outbox + 'static,
{
    let sched = &cfg.headroom.schedule;
    // The notifier: woken after each cycle and at its own next due time; stopped at shutdown
    // (a send cut off there stays pending and goes out, with its Message-ID, after restart).
    let wake = Arc::new(tokio::sync::Notify::new());
    let notifier = cfg.headroom.notify.enabled().then(|| {
        let (wake, store, notify_cfg) = (wake.clone(), store.clone(), Arc::new(cfg.headroom.notify.clone()));
        tokio::spawn(notify_loop(Notifier::new(notify_cfg), store, wake))
    });
    let stop_notifier = || {
        if let Some(n) = &notifier {
            n.abort();
        }
    };
    tokio::pin!(shutdown);
    let limit = Arc::new(Semaphore::new(cfg.headroom.aws.concurrent_scopes.max(1)));
    let scopes: Vec<Arc<Mutex<(A, ScopeState)>>> = scopes.into_iter().map(|s| Arc::new(Mutex::new(s))).collect();
    let mut running: JoinSet<()> = JoinSet::new();
    info!(cron = %sched.collect.expr, timezone = %sched.timezone, scopes = scopes.len(), "headroom running");
    loop {
        let now = clock.now();
        let next = sched
            .collect
            .schedule
            .after(&now.with_timezone(&sched.timezone))
            .next()
            .map(|t| t.with_timezone(&Utc));
        let Some(next) = next else {
            error!(cron = %sched.collect.expr, "the collect schedule has no future tick; stopping");
            while running.join_next().await.is_some() {}
            stop_notifier();
            return Err(RunError::NoTick(sched.collect.expr.clone()));
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut shutdown => {
                // Running cycles are cancelled where they are: in-flight AWS calls are dropped at
                // once; a commit already handed to its blocking thread finishes (a transaction
                // is all or nothing either way), and the next start reads the store.
                info!(running = running.len(), "shutdown: no more ticks; cancelling running cycles");
                running.abort_all();
                while running.join_next().await.is_some() {}
                stop_notifier();
                info!("stopped");
                return Ok(());
            }
        }
        // Reap finished cycles so the set does not grow.
        while running.try_join_next().is_some() {}
        let now = clock.now();
        for scope in &scopes {
            let Ok(mut guard) = scope.clone().try_lock_owned() else {
                warn!("a scope's previous cycle is still running; it skips this tick");
                continue;
            };
            let (cfg, store, limit, wake) = (cfg.clone(), store.clone(), limit.clone(), wake.clone());
            running.spawn(async move {
                let Ok(_permit) = limit.acquire_owned().await else { return };
                let (api, state) = &mut *guard;
                match cycle(api, &cfg, &store, state, now).await {
                    Ok(_) => wake.notify_one(),
                    Err(e) => {
                        error!(scope = %state.scope, error_type = "store", error = %e, "cycle failed; the next one starts from the store")
                    }
                }
            });
        }
    }
}

/// Pumps the outbox now, then again when something falls due or a cycle commits. A store
/// error is logged and retried a minute later: the outbox keeps what was not yet sent.
async fn notify_loop<S: Outbox + 'static>(notifier: Notifier, store: Shared<S>, wake: Arc<tokio::sync::Notify>) {
    loop {
        let now = Utc::now().timestamp();
        let wait_s = match notifier.pump(&store, now).await {
            Ok(p) => p.next_due.map_or(3600, |d| (d - now).clamp(1, 3600)),
            Err(e) => {
                error!(error_type = "store", error = %e, "notifier: store error; trying again in a minute");
                60
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(wait_s as u64)) => {}
            _ = wake.notified() => {}
        }
    }
}
