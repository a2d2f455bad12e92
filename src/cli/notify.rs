//! `headroom notifications`, `headroom silence add|list|expire`, `headroom notify test|flush`:
//! the delivery log with reasons, silences by matcher, a test message to one receiver, and
//! sending what is due without the daemon.
//!
//! May use: config, store, notify, runtime (the clock).

use super::{load_config, lock_store_file, open_store};
use crate::config::Config;
use crate::domain::*;
use crate::notify::{Notifier, SendError, route};
use crate::runtime::{self, Clock, SystemClock};
use crate::store::{Notification, Sqlite};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct NotificationsArgs {
    /// Print as JSON.
    #[arg(long)]
    json: bool,
    /// Only this receiver.
    #[arg(long)]
    receiver: Option<String>,
    /// How many notifications, newest first (deliveries still waiting in a group come first).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Store file (default: [store] path of headroom.toml).
    #[arg(long)]
    store: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum SilenceAction {
    /// Silence the advisories every matcher matches, e.g. `resource=asg/batch-* kind=rightsize`
    /// (labels: kind, severity, scope, resource, service, fingerprint, tag:NAME; globs).
    Add {
        /// label=pattern (repeatable; all must match).
        #[arg(required = true, value_name = "LABEL=PATTERN")]
        matchers: Vec<String>,
        /// How long, e.g. 30m, 4h, 7d (at most 90d).
        #[arg(long = "for", value_name = "DURATION", default_value = "4h")]
        duration: String,
        /// Why (shown in `silence list` and in the log of what it suppressed).
        #[arg(long)]
        comment: String,
        /// Who (default: $USER).
        #[arg(long)]
        author: Option<String>,
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// The silences in force (with --all, the ended ones too).
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// End a silence now.
    Expire {
        id: i64,
        #[arg(long)]
        store: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum NotifyAction {
    /// Send one test message to a receiver (by its name in [notify]; `email`, `slack` for the
    /// shorthand ones) and say what happened.
    Test { receiver: String },
    /// Route, group and send what is due now, without the daemon (which does this by itself;
    /// refused while it runs, so nothing is sent twice).
    Flush {
        #[arg(long)]
        store: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn store_path(cfg: &Config, store: Option<PathBuf>) -> Result<PathBuf, ExitCode> {
    let path = store.unwrap_or_else(|| cfg.headroom.store.path.clone());
    if !path.exists() {
        return Err(fail(format!(
            "no store at {} (run `headroom run` or `headroom check` first, or pass --store)",
            path.display()
        )));
    }
    Ok(path)
}

pub fn notifications(dir: &Path, a: NotificationsArgs) -> Result<ExitCode, ExitCode> {
    let cfg = load_config(dir)?;
    let path = store_path(&cfg, a.store)?;
    let store = Sqlite::open_read_only(&path).map_err(fail)?;
    // One more than asked: whether rows were left out is said, not silently hidden.
    let mut list = store
        .notifications(a.limit.saturating_add(1), a.receiver.as_deref())
        .map_err(fail)?;
    let more = list.len() > a.limit;
    list.truncate(a.limit);
    if more {
        eprintln!(
            "showing the newest {} notifications; older ones were left out (raise --limit to see them)",
            a.limit
        );
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("No notifications in {}.", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:>5}  {:<10} {:<18} {:<17} {:>5}  WHAT", "ID", "STATE", "RECEIVER", "AT", "ITEMS");
    for n in &list {
        let at = n.sent_at.unwrap_or(n.created_at);
        let what = if n.id == 0 {
            n.items
                .first()
                .map(|i| format!("{} {}", i.event.as_str(), i.advisory.summary))
                .unwrap_or_default()
        } else {
            crate::notify::render::subject(n)
        };
        println!(
            "{:>5}  {:<10} {:<18} {:<17} {:>5}  {}",
            if n.id == 0 { "-".to_string() } else { n.id.to_string() },
            n.state,
            n.receiver,
            fmt_ts(at).trim_end_matches(" UTC"),
            n.items.len(),
            what
        );
        if let Some(r) = &n.reason
            && n.state != "sent"
        {
            let attempts = if n.attempts > 0 {
                format!(" (attempt {})", n.attempts)
            } else {
                String::new()
            };
            println!("{:>7}reason: {r}{attempts}", "");
        }
        if n.state == "pending" && n.attempts > 0 {
            println!("{:>7}next attempt: {}", "", fmt_ts(n.next_attempt_at));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn silence(dir: &Path, action: SilenceAction) -> Result<ExitCode, ExitCode> {
    let cfg = load_config(dir)?;
    let now = SystemClock.now().timestamp();
    match action {
        SilenceAction::Add {
            matchers,
            duration,
            comment,
            author,
            store,
        } => {
            let parsed: Vec<(String, String)> = matchers
                .iter()
                .map(|m| route::parse_matcher(m))
                .collect::<Result<_, _>>()
                .map_err(fail)?;
            let secs = crate::config::parse_duration(&duration)
                .filter(|s| *s > 0)
                .ok_or_else(|| fail(format!("--for {duration}: expected a duration such as 30m, 4h or 7d")))?;
            if secs > route::MAX_SILENCE_S {
                return Err(fail(format!(
                    "--for {duration}: longer than a silence may last ({} days); to stop advice for good, change the route or the alert rule",
                    route::MAX_SILENCE_S / 86_400
                )));
            }
            if comment.trim().is_empty() {
                return Err(fail("--comment is empty: say why, for whoever reads `silence list` later"));
            }
            let author = author.or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "unknown".into());
            let path = store_path(&cfg, store)?;
            let mut s = open_store(&path, &cfg)?;
            let ends = now + secs as i64;
            let id = s.add_silence(&parsed, &comment, &author, now, ends).map_err(fail)?;
            println!("silence {id} in force until {} ({})", fmt_ts(ends), route::human(secs as i64));
            Ok(ExitCode::SUCCESS)
        }
        SilenceAction::List { all, json, store } => {
            let path = store_path(&cfg, store)?;
            let s = Sqlite::open_read_only(&path).map_err(fail)?;
            let list = crate::store::Outbox::silences(&s, now, all).map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
                return Ok(ExitCode::SUCCESS);
            }
            if list.is_empty() {
                println!("No silences{}.", if all { "" } else { " in force" });
            }
            for s in list {
                let m: Vec<String> = s.matchers.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let state = if s.ends_at > now {
                    format!("ends {}", fmt_ts(s.ends_at))
                } else {
                    format!("ended {}", fmt_ts(s.ends_at))
                };
                println!("{:>4}  {}  {}  by {}: {}", s.id, m.join(" "), state, s.created_by, s.comment);
            }
            Ok(ExitCode::SUCCESS)
        }
        SilenceAction::Expire { id, store } => {
            let path = store_path(&cfg, store)?;
            let mut s = open_store(&path, &cfg)?;
            if s.expire_silence(id, now).map_err(fail)? {
                println!("silence {id} ended");
                Ok(ExitCode::SUCCESS)
            } else {
                Err(fail(format!("no silence {id} in force (see `headroom silence list --all`)")))
            }
        }
    }
}

/// A test notice: an info advisory that says where it comes from.
fn test_notification(receiver: &str, now: Ts) -> Notification {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into());
    let advisory = Advisory {
        fingerprint: fnv64_hex(&[b"test", receiver.as_bytes(), &now.to_le_bytes()]),
        kind: Kind::Alert,
        resource: ResourceId(format!("headroom/{host}")),
        severity: Severity::Info,
        summary: format!("Test message from headroom on {host} to receiver {receiver}"),
        evidence: vec![
            Evidence {
                name: "sent".into(),
                value: fmt_ts(now),
            },
            Evidence {
                name: "command".into(),
                value: format!("headroom notify test {receiver}"),
            },
        ],
        action: None,
        monthly_cost_delta: None,
        basis: None,
    };
    Notification {
        id: 0,
        receiver: receiver.into(),
        group_key: "test".into(),
        state: "pending".into(),
        reason: None,
        message_id: format!("<headroom.test.{now}.{}@headroom.invalid>", &advisory.fingerprint[..8]),
        created_at: now,
        attempts: 0,
        next_attempt_at: now,
        sent_at: None,
        items: vec![Notice {
            event: NoticeEvent::Opened,
            at: now,
            scope: "test".into(),
            advisory,
            previous_severity: None,
            tags: vec![],
            first_seen: now,
            change: None,
        }],
    }
}

pub async fn notify(dir: &Path, action: NotifyAction) -> Result<ExitCode, ExitCode> {
    let cfg = load_config(dir)?;
    let notifier = Notifier::new(Arc::new(cfg.headroom.notify.clone()));
    let now = SystemClock.now().timestamp();
    match action {
        NotifyAction::Test { receiver } => {
            if cfg.headroom.notify.receiver(&receiver).is_none() {
                let names: Vec<&str> = cfg.headroom.notify.receivers.iter().map(|r| r.name.as_str()).collect();
                return Err(fail(format!(
                    "no enabled receiver named `{receiver}` (enabled: {}; see [notify] in headroom.toml)",
                    if names.is_empty() { "none".into() } else { names.join(", ") }
                )));
            }
            let n = test_notification(&receiver, now);
            match notifier.send(&n).await {
                Ok(file) => {
                    match file {
                        Some(f) => println!("test message for receiver {receiver} written to {f}"),
                        None => println!("test message sent to receiver {receiver} (Message-ID {})", n.message_id),
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(SendError::Retry(e) | SendError::Permanent(e) | SendError::RetryAfter(e, _)) => {
                    eprintln!("error: {e}");
                    Err(ExitCode::from(1))
                }
            }
        }
        NotifyAction::Flush { store, json } => {
            if !cfg.headroom.notify.enabled() {
                return Err(fail("no receiver is enabled in [notify] (headroom.toml): nothing to send to"));
            }
            let path = store_path(&cfg, store)?;
            let _lock = lock_store_file(&path)?;
            let opened = open_store(&path, &cfg)?;
            let store = runtime::shared(opened);
            let p = notifier.pump(&store, now).await.map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
            } else {
                println!(
                    "routed {} changes; sealed {} notifications; sent {}, retrying {}, failed {}",
                    p.routed, p.sealed, p.sent, p.retried, p.failed
                );
                for f in &p.files {
                    println!("  wrote {f}");
                }
                if let Some(d) = p.next_due {
                    println!("next due {} (the daemon sends it then; or flush again)", fmt_ts(d));
                }
            }
            Ok(if p.retried > 0 || p.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
