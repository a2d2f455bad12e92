//! Delivery, after Alertmanager: the cycle's transaction writes an outbox row per advisory
//! change (opened, severity changed, repeat due, resolved); `Notifier::prepare` then **routes**
//! them (`route`: receivers, groups, silences, dedup against the persisted log), **waits** per
//! group (group_wait, group_interval) and **seals** each due group into one notification with
//! a fixed Message-ID; `Notifier::deliver` **sends** one receiver's notifications, in order,
//! each within a deadline, and **records** the outcome at the time the receiver answered.
//! Each receiver is delivered on its own task, so one that hangs delays no other. Every step is one store
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

#[derive(Clone)]
pub struct Notifier {
    cfg: Arc<NotifyCfg>,
}

/// How long one send may take, whatever the receiver's own timeouts do: a receiver that
/// accepts the connection and then stalls is cut off here and retried later.
fn send_deadline(cfg: &NotifyCfg, receiver: &str) -> std::time::Duration {
    let timeout_s = match cfg.receiver(receiver).map(|r| &r.kind) {
        Some(ReceiverKind::Email(crate::config::EmailCfg {
            transport: crate::config::EmailTransport::Smtp(smtp),
            ..
        })) => smtp.timeout_s,
        Some(ReceiverKind::Slack(s)) => s.timeout_s,
        _ => 20,
    };
    // Email: connect, each SMTP round trip and the whole session are each bounded by its
    // timeout (three of them at most); Slack: the request and reading the answer.
    std::time::Duration::from_secs(timeout_s.saturating_mul(4).max(1))
}

impl Pumped {
    fn merge(&mut self, o: Pumped) {
        self.routed += o.routed;
        self.sealed += o.sealed;
        self.sent += o.sent;
        self.retried += o.retried;
        self.failed += o.failed;
        if let Some(d) = o.next_due {
            self.due(d);
        }
        self.files.extend(o.files);
        for (r, c) in o.by_receiver {
            let e = self.by_receiver.entry(r).or_default();
            e.sent += c.sent;
            e.retried += c.retried;
            e.failed += c.failed;
            e.suppressed += c.suppressed;
        }
    }

    fn due(&mut self, at: Ts) {
        self.next_due = Some(self.next_due.map_or(at, |d| d.min(at)));
    }
}

impl Notifier {
    pub fn new(cfg: Arc<NotifyCfg>) -> Notifier {
        Notifier { cfg }
    }

    /// Routes, seals, then sends every receiver's due notifications, each receiver on its own
    /// task (`deliver`): one that hangs delays none of the others. Returns when all are done
    /// (`headroom notify flush`, tests); the daemon runs `prepare` and `deliver` on tasks of
    /// their own instead, so a slow receiver never holds the next pump either.
    pub async fn pump<S: Outbox + Send + 'static>(&self, store: &Arc<Mutex<S>>, now: Ts) -> Result<Pumped, StoreError> {
        let mut out = self.prepare(store, now).await?;
        let receivers = on_store(store, |s| s.pending_receivers()).await?;
        let started = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for r in receivers {
            let (me, store) = (self.clone(), store.clone());
            tasks.spawn(async move { me.deliver(&store, &r, now, started, &|| true).await });
        }
        let mut first_err = None;
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Ok(p)) => out.merge(p),
                Ok(Err(e)) => first_err = first_err.or(Some(e)),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {}
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Routes new outbox rows and seals the groups whose wait is over: store work only,
    /// never a send. `next_due` is when the next waiting group falls due.
    pub async fn prepare<S: Outbox + Send + 'static>(&self, store: &Arc<Mutex<S>>, now: Ts) -> Result<Pumped, StoreError> {
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
                out.due(due);
            }
        }
        Ok(out)
    }

    /// Sends `receiver`'s pending notifications in order (a failed one holds back the later
    /// ones of its group, so they go out in order when the peer is back), while `go_on()` says
    /// so. Each is taken as it should go out now (`Outbox::current`). The clock
    /// is `now` at `started` plus the time since: `sent_at` is when the receiver accepted,
    /// and a retry is scheduled from when the attempt failed, not from when the pump began.
    pub async fn deliver<S: Outbox + Send + 'static>(
        &self,
        store: &Arc<Mutex<S>>,
        receiver: &str,
        now: Ts,
        started: std::time::Instant,
        go_on: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Pumped, StoreError> {
        let r = receiver.to_string();
        let pending = on_store(store, move |s| s.pending(Some(&r))).await?;
        // Each group's messages in order, the groups side by side: a message that waits for
        // its retry, or a post that hangs until its deadline, holds back the later ones of
        // its own group only (one hung post held the whole queue behind its retry).
        let mut groups: Vec<(String, Vec<Notification>)> = vec![];
        for n in pending {
            match groups.iter_mut().find(|(k, _)| *k == n.group_key) {
                Some((_, list)) => list.push(n),
                None => groups.push((n.group_key.clone(), vec![n])),
            }
        }
        let chains = groups
            .into_iter()
            .map(|(_, list)| self.deliver_group(store, list, now, started, go_on));
        let mut out = Pumped::default();
        for r in futures_util::future::join_all(chains).await {
            out.merge(r?);
        }
        Ok(out)
    }

    /// One group's pending notifications, in order, until one fails or is not yet due.
    async fn deliver_group<S: Outbox + Send + 'static>(
        &self,
        store: &Arc<Mutex<S>>,
        pending: Vec<Notification>,
        now: Ts,
        started: std::time::Instant,
        go_on: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Pumped, StoreError> {
        let at = || now + started.elapsed().as_secs() as i64;
        let mut out = Pumped::default();
        for n in pending {
            if !go_on() {
                break;
            }
            if n.next_attempt_at > at() {
                out.due(n.next_attempt_at);
                break;
            }
            // As it should go out now: superseded items and resolutions of what this receiver
            // never saw are dropped (nothing left: nothing to send).
            let id = n.id;
            let Some(n) = on_store(store, move |s| s.current(id)).await? else {
                continue;
            };
            failpoint("notify-before-send");
            let deadline = send_deadline(&self.cfg, &n.receiver);
            let result = match tokio::time::timeout(deadline, self.send(&n)).await {
                Ok(r) => r,
                Err(_) => Err(SendError::Retry(format!(
                    "receiver {}: no answer within {} s (cut off; the message stays pending)",
                    n.receiver,
                    deadline.as_secs()
                ))),
            };
            let now = at();
            match result {
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
                    out.due(next);
                    break;
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
    let task = tokio::task::spawn_blocking(move || {
        let mut s = store.lock().unwrap_or_else(|e| e.into_inner());
        // Said with the store's file (a SQL error carries none).
        f(&mut s).map_err(|e| e.at(&s.location()))
    });
    match task.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("store task cancelled: {e}"),
    }
}
