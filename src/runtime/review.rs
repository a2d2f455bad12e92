//! The weekly review in the daemon: at each tick of `schedule.weekly_report` (Monday 09:00 in
//! the configured zone by default) the review of the last full week goes to every receiver
//! that has not had it yet. What went where is recorded in the store (`reports`), so a
//! restart around the tick neither skips nor repeats it: a daemon that was down at 09:00 sends
//! it when it starts (within the week after the tick), and one restarted after sending does
//! not send again. A receiver that failed is tried again every five minutes that week. A week
//! the store has no cycle of is not reviewed (nothing to say; a new install stays quiet).
//!
//! May use: app, config, report, notify (review delivery), metrics, the store's `Reviews`.

use super::app::{Shared, lock};
use crate::config::Config;
use crate::domain::Ts;
use crate::report::{self, Rendered, Week};
use crate::store::Reviews;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{error, info, warn};

/// How long a failed receiver waits before it is tried again.
const RETRY_S: i64 = 300;

/// The week whose review is due at `now`: the last full week before the latest tick, if that
/// tick is less than a week old.
pub fn due(cfg: &Config, now: DateTime<Utc>) -> Option<Week> {
    let sched = &cfg.headroom.schedule;
    let tz = sched.timezone;
    let tick = sched.weekly_report.schedule.after(&now.with_timezone(&tz)).next_back()?;
    let tick = tick.timestamp();
    (now.timestamp() - tick < 7 * 86_400).then(|| Week::last_full(tick, tz))
}

/// Sends `week`'s review to every receiver that has not had it. Returns how many failed.
pub async fn send_due<S: Reviews + 'static>(cfg: &Arc<Config>, store: &Shared<S>, week: &Week, now: Ts) -> usize {
    let receivers: Vec<String> = cfg.headroom.notify.receivers.iter().map(|r| r.name.clone()).collect();
    let (s, w, c) = (store.clone(), week.clone(), cfg.clone());
    let pending = super::blocking(move || -> Result<_, crate::store::StoreError> {
        let st = lock(&s);
        let mut pending = vec![];
        for r in receivers {
            if !st.report_sent(&w.label, &r)? {
                pending.push(r);
            }
        }
        if pending.is_empty() {
            return Ok(None);
        }
        let rows = report::read(&*st, &c.headroom.aws.scopes(), &w, now)?;
        Ok(Some((pending, rows)))
    })
    .await;
    let (pending, rows) = match pending {
        Ok(Some(p)) => p,
        Ok(None) => return 0,
        Err(e) => {
            error!(error_type = "store", error = %e, week = %week.label, "weekly review: store error; trying again later");
            return 1;
        }
    };
    if rows.iter().all(|r| r.snapshots.is_empty()) {
        info!(week = %week.label, "weekly review: the store has no cycle of that week; nothing to review");
        return 0;
    }
    let tz = cfg.headroom.schedule.timezone;
    let interval = super::interval_s(cfg, week.from);
    let (c, w) = (cfg.clone(), week.clone());
    let rendered: Rendered = super::blocking(move || Rendered::new(report::build(&c, &w, &rows, interval, now), tz)).await;
    let mut failed = 0;
    for receiver in pending {
        let result = crate::notify::review::send(&cfg.headroom.notify, &receiver, &rendered, now).await;
        let error = result.as_ref().err().map(crate::notify::review::reason);
        match &error {
            None => info!(week = %week.label, receiver = %receiver, "weekly review sent"),
            Some(e) => {
                failed += 1;
                warn!(week = %week.label, receiver = %receiver, error = %e, "weekly review not sent; trying again in 5 minutes");
            }
        }
        crate::metrics::get().count_notification(&receiver, if error.is_none() { "sent" } else { "retried" }, 1);
        let (s, w, r) = (store.clone(), week.label.clone(), receiver.clone());
        if let Err(e) = super::blocking(move || lock(&s).record_report(&w, &r, error.as_deref(), now)).await {
            error!(error_type = "store", error = %e, "weekly review: cannot record the send");
        }
    }
    failed
}

/// Sends each week's review when it falls due, until `stop` turns true (never in the middle
/// of a send).
pub async fn review_loop<S: Reviews + 'static>(
    config: watch::Receiver<Arc<Config>>,
    store: Shared<S>,
    mut stop: watch::Receiver<Option<tokio::time::Instant>>,
) {
    loop {
        let cfg = config.borrow().clone();
        let now = Utc::now();
        let failed = match due(&cfg, now) {
            Some(week) => send_due(&cfg, &store, &week, now.timestamp()).await,
            None => 0,
        };
        if stop.borrow().is_some() {
            return;
        }
        let sched = &cfg.headroom.schedule;
        let next = sched
            .weekly_report
            .schedule
            .after(&Utc::now().with_timezone(&sched.timezone))
            .next()
            .map(|t| t.timestamp());
        let now = Utc::now().timestamp();
        let mut wait = next.map_or(3_600, |t| (t - now).max(1));
        if failed > 0 {
            wait = wait.min(RETRY_S);
        }
        // Reloads can move the schedule: look again at least hourly.
        let wait = wait.min(3_600);
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(wait as u64)) => {}
            _ = stop.changed() => return,
        }
    }
}
