//! The daemon loop: at each tick of `schedule.collect` (in its time zone) every scope cycles,
//! up to `aws.concurrent_scopes` at once. A scope whose previous cycle is still running skips
//! the tick (never two cycles of one scope at once); the others go on.
//!
//! Beside the ticks run the notifier and the weekly review (`review`) when a receiver is
//! configured. The notifier pumps the outbox
//! after every committed cycle and whenever a group's wait or a retry falls due, so delivery
//! never waits for the next tick and never holds a cycle up.
//!
//! As a service (`run_service`): the config comes through a watch channel (a reload takes
//! effect from the next tick: schedule, thresholds, rules, receivers); each cycle's outcome goes
//! to `Health` and the metrics; the loop sends systemd's WATCHDOG=1 (so a stuck loop gets the
//! service restarted) and STATUS=. On shutdown it takes no more ticks, gives running cycles and
//! a send in progress `grace` to finish, then cancels them: each cycle's writes are one
//! transaction, committed whole or not at all, and a cut-off send stays pending.
//!
//! May use: cycle, app, health, config, notify, metrics, systemd, libc (malloc_trim, mallopt), the aws
//! traits, the store traits.

use super::app::{Clock, Shared};
use super::cycle::{ScopeState, cycle};
use super::health::Health;
use crate::aws::{Account, Changes};
use crate::config::Config;
use crate::domain::Ts;
use crate::metrics::{self, CycleL, ScopeL, SourceL};
use crate::notify::Notifier;
use crate::store::{Audit, Outbox, Reviews, Store};
use chrono::Utc;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the collect schedule `{0}` has no future tick: headroom would never cycle (fix [schedule] collect, then restart)")]
    NoTick(String),
}

/// What the service shares with the loop.
pub struct Service {
    /// The config in use; a reload sends a new one.
    pub config: watch::Receiver<Arc<Config>>,
    pub health: Arc<Health>,
    /// How long shutdown waits for running cycles and a send in progress.
    pub grace: Duration,
}

impl Service {
    /// A service whose config never changes (tests, `run` without reload).
    pub fn fixed(cfg: Arc<Config>, scopes: &[crate::domain::Scope], now: Ts) -> Service {
        let interval = interval_s(&cfg, now);
        let health = Health::new(scopes, now, interval);
        health.set_deadline(cfg.headroom.collect.deadline_s);
        let (tx, rx) = watch::channel(cfg);
        // The sender is dropped: `changed()` then fails, which the loop reads as "no reloads".
        drop(tx);
        Service {
            config: rx,
            health: Arc::new(health),
            grace: Duration::from_secs(5),
        }
    }
}

/// Seconds between the collect schedule's next two ticks after `now` (for health's window).
pub fn interval_s(cfg: &Config, now: Ts) -> i64 {
    let sched = &cfg.headroom.schedule;
    let t = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .with_timezone(&sched.timezone);
    let mut ticks = sched.collect.schedule.after(&t);
    match (ticks.next(), ticks.next()) {
        (Some(a), Some(b)) => (b - a).num_seconds().max(1),
        _ => 300,
    }
}

/// Runs every scope at each tick until `shutdown` completes, on a config that never changes.
/// Returns an error when the schedule has no next tick (the service manager should restart or
/// alert, not see success).
pub async fn run<A, S>(
    scopes: Vec<(A, ScopeState)>,
    cfg: Arc<Config>,
    store: Shared<S>,
    clock: &dyn Clock,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError>
where
    A: Account + Changes + Send + 'static,
    S: Store + Outbox + Reviews + Audit + 'static,
{
    let names: Vec<_> = scopes.iter().map(|(_, s)| s.scope.clone()).collect();
    let svc = Service::fixed(cfg, &names, clock.now().timestamp());
    run_service(scopes, svc, store, clock, shutdown).await
}

/// The loop as a service: reloadable config, health, metrics, systemd watchdog and status.
pub async fn run_service<A, S>(
    scopes: Vec<(A, ScopeState)>,
    mut svc: Service,
    store: Shared<S>,
    clock: &dyn Clock,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError>
where
    A: Account + Changes + Send + 'static,
    S: Store + Outbox + Reviews + Audit + 'static,
{
    let cfg = svc.config.borrow().clone();
    // The notifier: woken after each cycle and at its own next due time; asked to stop at
    // the start of shutdown's grace, when each receiver finishes the send in progress (a send
    // cut off at the end of the grace stays pending and goes out, with its Message-ID, after
    // restart). The stop carries the grace's deadline.
    let wake = Arc::new(tokio::sync::Notify::new());
    let (stop_tx, stop_rx) = watch::channel(None::<tokio::time::Instant>);
    let notifier = cfg.headroom.notify.enabled().then(|| {
        let (wake, store, config) = (wake.clone(), store.clone(), svc.config.clone());
        tokio::spawn(notify_loop(config, store, wake, stop_rx.clone()))
    });
    // The weekly review, on its own schedule, through the same receivers.
    let reviewer = cfg.headroom.notify.enabled().then(|| {
        let (store, config) = (store.clone(), svc.config.clone());
        tokio::spawn(super::review::review_loop(config, store, stop_rx.clone()))
    });
    tokio::pin!(shutdown);
    let limit = Arc::new(Semaphore::new(cfg.headroom.aws.concurrent_scopes.max(1)));
    let scopes: Vec<Arc<Mutex<(A, ScopeState)>>> = scopes.into_iter().map(|s| Arc::new(Mutex::new(s))).collect();
    let mut running: JoinSet<()> = JoinSet::new();
    let watchdog = crate::systemd::watchdog_interval();
    let mut pet = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    pet.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reloads = true;
    info!(cron = %cfg.headroom.schedule.collect.expr, timezone = %cfg.headroom.schedule.timezone, scopes = scopes.len(), watchdog_s = watchdog.map(|d| d.as_secs_f64() * 2.0), "headroom running");
    // Cycles, the notifier and the reviewer share one grace, all told at its start.
    let stop = |running: JoinSet<()>, grace: Duration| async move {
        let deadline = tokio::time::Instant::now() + grace;
        let _ = stop_tx.send(Some(deadline));
        let notifier = async {
            // It ends by the deadline itself, naming any receiver it had to cut off.
            if let Some(mut n) = notifier
                && tokio::time::timeout_at(deadline + Duration::from_secs(1), &mut n).await.is_err()
            {
                n.abort();
            }
        };
        let reviewer = async {
            // Told to stop, it returns at once unless it is sending the review.
            if let Some(mut r) = reviewer
                && tokio::time::timeout_at(deadline, &mut r).await.is_err()
            {
                warn!("shutdown: the weekly review's send did not finish within the grace period; it goes out after restart");
                r.abort();
            }
        };
        tokio::join!(drain(running, deadline), notifier, reviewer);
    };
    loop {
        let cfg = svc.config.borrow().clone();
        let sched = &cfg.headroom.schedule;
        let now = clock.now();
        let next = sched
            .collect
            .schedule
            .after(&now.with_timezone(&sched.timezone))
            .next()
            .map(|t| t.with_timezone(&Utc));
        let Some(next) = next else {
            error!(cron = %sched.collect.expr, "the collect schedule has no future tick; stopping");
            stop(running, svc.grace).await;
            return Err(RunError::NoTick(sched.collect.expr.clone()));
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = pet.tick(), if watchdog.is_some() => {
                crate::systemd::notify("WATCHDOG=1");
                continue;
            }
            changed = svc.config.changed(), if reloads => {
                match changed {
                    Ok(()) => {
                        let c = svc.config.borrow().clone();
                        svc.health.set_interval(interval_s(&c, clock.now().timestamp()));
                        svc.health.set_kill_switch(&c.headroom.apply.kill_switch);
                        svc.health.set_deadline(c.headroom.collect.deadline_s);
                        info!(cron = %c.headroom.schedule.collect.expr, "config reloaded: in effect from the next tick");
                    }
                    Err(_) => reloads = false,
                }
                continue;
            }
            _ = &mut shutdown => {
                while running.try_join_next().is_some() {}
                info!(running = running.len(), grace_s = svc.grace.as_secs_f64(), "shutdown: no more ticks; waiting for running cycles, then cancelling them");
                crate::systemd::notify("STOPPING=1");
                stop(running, svc.grace).await;
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
            let (cfg, store, limit, wake, health) = (cfg.clone(), store.clone(), limit.clone(), wake.clone(), svc.health.clone());
            running.spawn(async move {
                let Ok(_permit) = limit.acquire_owned().await else { return };
                let (api, state) = &mut *guard;
                let started = std::time::Instant::now();
                let result = cycle(api, &cfg, &store, state, now).await;
                record(&health, &state.scope, &result, started.elapsed(), Utc::now().timestamp());
                if let Ok(report) = &result
                    && super::apply::after_cycle(api, &cfg, &store, report, now).await > 0
                {
                    // Applied changes are announced through the outbox.
                    wake.notify_one();
                }
                crate::systemd::status(&health.status_line());
                // `err()` consumes the result: the report is dropped here.
                match result.err() {
                    None => wake.notify_one(),
                    Some(e) => {
                        error!(scope = %state.scope, error_type = "store", error = %e, "cycle failed; the next one starts from the store")
                    }
                }
                // The report is gone: what it held is freed too. A backfill's
                // peak (gigabytes at fleet scale) would otherwise stay resident between
                // cycles: glibc keeps freed memory in its arenas.
                super::blocking(super::trim_memory).await;
            });
        }
    }
}

/// Waits for the running cycles until `deadline`, then cancels the rest: in-flight AWS calls
/// are dropped at once; a commit already handed to its blocking thread finishes (a transaction
/// is all or nothing either way), and the next start reads the store.
async fn drain(mut running: JoinSet<()>, deadline: tokio::time::Instant) {
    loop {
        match tokio::time::timeout_at(deadline, running.join_next()).await {
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(_) => {
                warn!(
                    running = running.len(),
                    "shutdown: cycles still running after the grace period; cancelled (nothing of theirs is committed)"
                );
                running.abort_all();
                while running.join_next().await.is_some() {}
                return;
            }
        }
    }
}

/// A cycle's outcome into health and the metrics.
fn record(
    health: &Health,
    scope: &crate::domain::Scope,
    result: &Result<super::CycleReport, crate::store::StoreError>,
    took: Duration,
    at: Ts,
) {
    let m = metrics::get();
    let key = scope.key();
    m.cycle_duration
        .get_or_create(&ScopeL { scope: key.clone() })
        .observe(took.as_secs_f64());
    let outcome = match result {
        Ok(r) => {
            let failed = r.snapshot.failed_sources();
            for s in &failed {
                m.source_errors
                    .get_or_create(&SourceL {
                        source: s.source.clone(),
                        kind: crate::aws::ErrorKind::label_in(s.reason.as_deref().unwrap_or_default()).to_string(),
                    })
                    .inc();
            }
            if r.forecast_ran {
                m.forecast_duration
                    .get_or_create(&ScopeL { scope: key.clone() })
                    .observe(r.forecast_ms as f64 / 1000.0);
            }
            if failed.is_empty() {
                m.cycle_last_success.get_or_create(&ScopeL { scope: key.clone() }).set(at);
                health.record(scope, at, Ok(r.advisories.len()));
                "ok"
            } else {
                let why: Vec<String> = failed
                    .iter()
                    .map(|s| format!("{}: {}", s.source, s.reason.as_deref().unwrap_or("failed")))
                    .collect();
                health.record(scope, at, Err(why.join("; ")));
                "partial"
            }
        }
        Err(e) => {
            // The error says "store PATH: …" itself (was "store: store: …").
            health.record(scope, at, Err(e.to_string()));
            "failed"
        }
    };
    m.cycle_runs.get_or_create(&CycleL { scope: key, outcome }).inc();
}

/// Routes and seals now, then again when a group falls due or a cycle commits, and keeps
/// one delivery task per receiver (`receiver_loop`), woken after each pass: a receiver that
/// hangs holds up only its own queue. A store error is logged and retried a minute later: the
/// outbox keeps what was not yet sent. At stop, each receiver finishes the send in progress
/// until the deadline; one still sending then is cut off and named (its message stays
/// pending and goes out, with its Message-ID, after restart).
async fn notify_loop<S: Outbox + 'static>(
    config: watch::Receiver<Arc<Config>>,
    store: Shared<S>,
    wake: Arc<tokio::sync::Notify>,
    mut stop: watch::Receiver<Option<tokio::time::Instant>>,
) {
    let mut workers: std::collections::BTreeMap<String, Worker> = Default::default();
    loop {
        let now = Utc::now().timestamp();
        let notifier = Notifier::new(Arc::new(config.borrow().headroom.notify.clone()));
        let wait_s = wait_after(notifier.prepare(&store, now).await, "prepare");
        // A task for every configured receiver, and for any with a message waiting (a
        // receiver removed from the config: its messages wait, and say why).
        let mut names: Vec<String> = config.borrow().headroom.notify.receivers.iter().map(|r| r.name.clone()).collect();
        let s = store.clone();
        match super::blocking(move || super::app::lock(&s).pending_receivers()).await {
            Ok(more) => names.extend(more),
            Err(e) => error!(error_type = "store", error = %e, "notifier: store error listing pending receivers"),
        }
        for name in names {
            let w = workers
                .entry(name.clone())
                .or_insert_with(|| Worker::spawn(name, &config, &store, &stop));
            w.wake.notify_one();
        }
        if idle(wait_s, &wake, &mut stop).await {
            break;
        }
    }
    let deadline = (*stop.borrow()).unwrap_or_else(tokio::time::Instant::now);
    for (name, mut w) in workers {
        if tokio::time::timeout_at(deadline, &mut w.task).await.is_err() {
            if w.sending.load(std::sync::atomic::Ordering::SeqCst) {
                warn!(receiver = %name, "shutdown: a send to this receiver did not finish within the grace period; it stays pending and goes out after restart");
            }
            w.task.abort();
        }
    }
}

/// One receiver's delivery task.
struct Worker {
    wake: Arc<tokio::sync::Notify>,
    /// True while a send is in progress (what shutdown names when it cuts one off).
    sending: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    fn spawn<S: Outbox + 'static>(
        name: String,
        config: &watch::Receiver<Arc<Config>>,
        store: &Shared<S>,
        stop: &watch::Receiver<Option<tokio::time::Instant>>,
    ) -> Worker {
        let wake = Arc::new(tokio::sync::Notify::new());
        let sending = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = tokio::spawn(receiver_loop(
            name,
            config.clone(),
            store.clone(),
            wake.clone(),
            sending.clone(),
            stop.clone(),
        ));
        Worker { wake, sending, task }
    }
}

/// Sends one receiver's due notifications, then sleeps until its next retry or a wake.
async fn receiver_loop<S: Outbox + 'static>(
    name: String,
    config: watch::Receiver<Arc<Config>>,
    store: Shared<S>,
    wake: Arc<tokio::sync::Notify>,
    sending: Arc<std::sync::atomic::AtomicBool>,
    mut stop: watch::Receiver<Option<tokio::time::Instant>>,
) {
    use std::sync::atomic::Ordering;
    loop {
        let notifier = Notifier::new(Arc::new(config.borrow().headroom.notify.clone()));
        let now = Utc::now().timestamp();
        // At stop, the queue goes on while the grace lasts; at its end the task is cut off.
        let halt = stop.clone();
        let go_on = move || halt.borrow().is_none_or(|deadline| tokio::time::Instant::now() < deadline);
        sending.store(true, Ordering::SeqCst);
        let result = notifier.deliver(&store, &name, now, std::time::Instant::now(), &go_on).await;
        sending.store(false, Ordering::SeqCst);
        if idle(wait_after(result, &name), &wake, &mut stop).await {
            return;
        }
    }
}

/// A pass's outcome into the metrics, and how long to wait before the next: until what is
/// next due (at most an hour), or a minute after a store error (logged; the outbox keeps
/// what was not sent).
fn wait_after(result: Result<crate::notify::Pumped, crate::store::StoreError>, who: &str) -> i64 {
    match result {
        Ok(p) => {
            count_pumped(&p);
            let now = Utc::now().timestamp();
            p.next_due.map_or(3600, |d| (d - now).clamp(1, 3600))
        }
        Err(e) => {
            error!(notifier = who, error_type = "store", error = %e, "notifier: store error; trying again in a minute");
            60
        }
    }
}

/// Sleeps `wait_s` or until woken; true when told to stop (now or before).
async fn idle(wait_s: i64, wake: &tokio::sync::Notify, stop: &mut watch::Receiver<Option<tokio::time::Instant>>) -> bool {
    if stop.borrow().is_some() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(std::time::Duration::from_secs(wait_s as u64)) => false,
        _ = wake.notified() => false,
        _ = stop.changed() => true,
    }
}

/// A pump's outcomes into the metrics.
fn count_pumped(p: &crate::notify::Pumped) {
    let m = metrics::get();
    for (receiver, c) in &p.by_receiver {
        for (outcome, n) in [
            ("sent", c.sent),
            ("retried", c.retried),
            ("failed", c.failed),
            ("suppressed", c.suppressed),
        ] {
            if n > 0 {
                m.count_notification(receiver, outcome, n);
            }
        }
    }
}

/// Caps glibc's malloc arenas at two (one a core of the machine the daemon is sized for),
/// before any thread starts. Left alone, glibc gives each thread that contends for the heap
/// an arena of its own (up to eight a core) and a freed block can be reused only by its own
/// arena: with the forecast threads and tokio's workers, that held tens of MiB freed but not
/// reusable between cycles in the 15,000-series benchmark (BENCHMARKS.md). Elsewhere nothing.
pub fn limit_heap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
