//! Delivery, after Alertmanager: the cycle's transaction writes an outbox row per advisory
//! change (opened, severity changed, repeat due, resolved); `Notifier::pump` then **routes**
//! them (`route`: receivers, groups, silences, dedup against the persisted log), **waits** per
//! group (group_wait, group_interval), **seals** each due group into one notification with a
//! fixed Message-ID, **sends** it and **records** the outcome. Every step is one store
//! transaction, so a restart picks up where the last one stopped: nothing is lost, and a crash
//! between the peer's acceptance and the record repeats one message with the same Message-ID.
//!
//! Receivers: email (`email`: lettre; SMTP, or `.eml` files in a folder) and Slack (`slack`:
//! Block Kit payloads; to a folder of `.json` files). Texts are minijinja templates from
//! `alerts/templates/`. `review` sends the weekly capacity review through the same receivers.
//!
//! May use: store (the `Outbox` trait), config, domain, lettre. Never logs a secret.

pub mod email;
pub mod render;
pub mod review;
pub mod route;
pub mod slack;

use crate::config::{NotifyCfg, ReceiverKind};
use crate::domain::*;
use crate::store::{Notification, Outbox, StoreError};
use std::sync::{Arc, Mutex};
use tracing::{info, warn};

/// How a send failed.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Worth trying again later (connection refused, timeout, 5xx).
    Retry(String),
    /// Worth trying again after this many seconds (a 429's Retry-After).
    RetryAfter(String, i64),
    /// Will not succeed as it is (a 4xx other than 429, a rejected recipient).
    Permanent(String),
}

/// What one pump did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Pumped {
    pub routed: u64,
    pub sealed: u64,
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    /// When something is next due (a group's wait, a retry), if anything waits.
    pub next_due: Option<Ts>,
    /// Files written by folder receivers.
    pub files: Vec<String>,
    /// The same, per receiver (for the daemon's metrics), with the suppressions routed.
    pub by_receiver: std::collections::BTreeMap<String, Counts>,
}

/// One receiver's outcomes in a pump.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Counts {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub suppressed: u64,
}

/// Retry delay after `attempts` failures: 10 s doubling to a 5 min cap, ±20 % jitter.
pub fn backoff_s(attempts: i64, jitter: f64) -> i64 {
    let base = 10.0 * 2f64.powi((attempts.clamp(1, 16) - 1) as i32);
    (base.min(300.0) * (0.8 + 0.4 * jitter.clamp(0.0, 1.0))).round() as i64
}

/// Crash tests: `HEADROOM_FAILPOINTS=notify-before-send` (or `notify-after-send`) kills the
/// process with SIGKILL at that point, as a power cut would; unset, it costs one env lookup
/// per send.
fn failpoint(name: &str) {
    if std::env::var("HEADROOM_FAILPOINTS").is_ok_and(|v| v.split(',').any(|f| f.trim() == name)) {
        warn!(failpoint = name, "failpoint: SIGKILL");
        // SAFETY: kill(2) on our own pid has no memory effects; SIGKILL does not return.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

pub struct Notifier {
    cfg: Arc<NotifyCfg>,
}

impl Notifier {
    pub fn new(cfg: Arc<NotifyCfg>) -> Notifier {
        Notifier { cfg }
    }

    /// Routes new outbox rows, seals due groups and sends pending notifications, each receiver
    /// in order (a failed message holds back the later ones of its receiver, so they go out
    /// in order when the peer is back).
    pub async fn pump<S: Outbox + Send + 'static>(&self, store: &Arc<Mutex<S>>, now: Ts) -> Result<Pumped, StoreError> {
        let mut out = Pumped::default();
        // Each store call on a blocking thread: SQLite must not hold the async worker (nor the
        // HTTP endpoints and the scheduler's watchdog that share it).
        // Route.
        loop {
            let events = on_store(store, |s| s.unrouted(500)).await?;
            if events.is_empty() {
                break;
            }
            let silences = on_store(store, move |s| s.silences(now, false)).await?;
            let keys: Vec<(String, String)> = events
                .iter()
                .flat_map(|e| {
                    route::targets(&self.cfg, &e.notice)
                        .into_iter()
                        .map(|(_, r)| (r.to_string(), e.notice.advisory.fingerprint.clone()))
                })
                .collect();
            let log = on_store(store, move |s| s.notify_log(&keys)).await?;
            let outcomes: Vec<_> = events
                .iter()
                .flat_map(|e| route::route(&self.cfg, &e.notice, &silences, &log, now))
                .collect();
            let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
            // Counted before the write; a failed write ends the pump with the error, and
            // its counts go nowhere.
            for o in &outcomes {
                if let crate::store::Routed::Suppress { receiver, .. } = o {
                    out.by_receiver.entry(receiver.clone()).or_default().suppressed += 1;
                }
            }
            out.routed += ids.len() as u64;
            on_store(store, move |s| s.route(&ids, &outcomes, now)).await?;
        }
        // Seal due groups.
        let groups = on_store(store, |s| s.waiting_groups()).await?;
        for g in groups {
            let due = g.due_at();
            if due <= now {
                let (receiver, key) = (g.receiver.clone(), g.group_key.clone());
                let sealed = on_store(store, move |s| s.seal_group(&receiver, &key, now)).await?;
                if sealed.is_some() {
                    out.sealed += 1;
                }
            } else {
                out.next_due = Some(out.next_due.map_or(due, |d| d.min(due)));
            }
        }
        // Send, per receiver in order.
        let pending = on_store(store, |s| s.pending()).await?;
        let mut blocked: Vec<String> = vec![];
        for n in pending {
            if blocked.contains(&n.receiver) {
                continue;
            }
            if n.next_attempt_at > now {
                blocked.push(n.receiver.clone());
                out.next_due = Some(out.next_due.map_or(n.next_attempt_at, |d| d.min(n.next_attempt_at)));
                continue;
            }
            failpoint("notify-before-send");
            match self.send(&n).await {
                Ok(file) => {
                    failpoint("notify-after-send");
                    let id = n.id;
                    on_store(store, move |s| s.mark_sent(id, now)).await?;
                    info!(receiver = %n.receiver, notification = n.id, items = n.items.len(), "notification sent");
                    out.sent += 1;
                    out.by_receiver.entry(n.receiver.clone()).or_default().sent += 1;
                    out.files.extend(file);
                }
                Err(e @ (SendError::Retry(_) | SendError::RetryAfter(..))) => {
                    let (reason, next) = match e {
                        // Honoured to the second: `now` is truncated, so one more keeps the
                        // real wait at least what the peer asked for.
                        SendError::RetryAfter(reason, after) => (reason, now + after + 1),
                        SendError::Retry(reason) | SendError::Permanent(reason) => {
                            // Jitter from the message and attempt: spread, and reproducible.
                            let h = fnv64_hex(&[n.message_id.as_bytes(), &n.attempts.to_le_bytes()]);
                            let jitter = u64::from_str_radix(&h[..4], 16).unwrap_or(0) as f64 / 65_535.0;
                            (reason, now + backoff_s(n.attempts + 1, jitter))
                        }
                    };
                    warn!(receiver = %n.receiver, notification = n.id, attempt = n.attempts + 1, error = %reason, "send failed; will retry");
                    let (id, r) = (n.id, reason.clone());
                    on_store(store, move |s| s.mark_retry(id, &r, next)).await?;
                    out.retried += 1;
                    out.by_receiver.entry(n.receiver.clone()).or_default().retried += 1;
                    out.next_due = Some(out.next_due.map_or(next, |d| d.min(next)));
                    blocked.push(n.receiver.clone());
                }
                Err(SendError::Permanent(reason)) => {
                    warn!(receiver = %n.receiver, notification = n.id, error_type = "permanent", error = %reason, "send failed for good");
                    let (id, r) = (n.id, reason.clone());
                    on_store(store, move |s| s.mark_failed(id, &r, now)).await?;
                    out.failed += 1;
                    out.by_receiver.entry(n.receiver.clone()).or_default().failed += 1;
                }
            }
        }
        Ok(out)
    }

    /// Sends one notification to its receiver; returns the file written, for folder receivers.
    pub async fn send(&self, n: &Notification) -> Result<Option<String>, SendError> {
        let Some(rc) = self.cfg.receiver(&n.receiver) else {
            return Err(SendError::Retry(format!(
                "receiver `{}` is not in the configuration (add it back, or the message waits)",
                n.receiver
            )));
        };
        match &rc.kind {
            ReceiverKind::Email(e) => email::send(&rc.name, e, n).await,
            ReceiverKind::Slack(s) => slack::send(&rc.name, s, n).await,
        }
    }
}

/// Runs `f` on the locked store on tokio's blocking threads.
async fn on_store<S: Outbox + Send + 'static, T: Send + 'static>(
    store: &Arc<Mutex<S>>,
    f: impl FnOnce(&mut S) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    let task = tokio::task::spawn_blocking(move || f(&mut store.lock().unwrap_or_else(|e| e.into_inner())));
    match task.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("store task cancelled: {e}"),
    }
}
