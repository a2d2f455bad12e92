//! The daemon loop over scopes, on the simulated account: every scope cycles at each tick,
//! the loop stops when its shutdown future completes (after letting running cycles commit),
//! and a schedule with no future tick is an error, not a quiet exit.

use headroom::aws::simulated::SimulatedAccount;
use headroom::domain::Scope;
use headroom::runtime::{self, RunError, ScopeState, SystemClock, shared};
use headroom::store::Sqlite;
use std::sync::Arc;

fn every_second() -> headroom::config::Config {
    let mut cfg = headroom::cli::demo_config().unwrap();
    cfg.headroom.schedule.collect = headroom::config::parse_cron("* * * * * *").unwrap();
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scope_cycles_at_each_tick_and_the_loop_stops_on_its_shutdown_future() {
    let cfg = Arc::new(every_second());
    let dir = crate::support::temp_dir("scheduler");
    let store = shared(Sqlite::open(&dir.join("h.db")).unwrap());
    let anchor = chrono::Utc::now().timestamp();
    let scopes: Vec<(SimulatedAccount, ScopeState)> = ["us-east-1", "eu-west-1"]
        .iter()
        .enumerate()
        .map(|(i, r)| (SimulatedAccount::new(42, anchor), ScopeState::new(Scope::new("default", r), i == 0)))
        .collect();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
        let _ = stop.send(());
    });
    let started = std::time::Instant::now();
    let out = runtime::run(scopes, cfg, store.clone(), &SystemClock, async {
        let _ = stopped.await;
    })
    .await;
    assert!(out.is_ok(), "{out:?}");
    assert!(started.elapsed().as_secs_f64() < 30.0, "stopped soon after the shutdown future");
    let s = store.lock().unwrap();
    for r in ["us-east-1", "eu-west-1"] {
        let sc = Scope::new("default", r);
        let (_, partial, _) = s.last_snapshot(&sc).unwrap().unwrap_or_else(|| panic!("{sc} never cycled"));
        assert!(!partial);
        let open = s.advisories(false, None, Some(&sc.key())).unwrap();
        assert!(!open.is_empty(), "{sc}: the simulated fleet's advice is open");
        // Every advisory of the scope carries a fingerprint no other scope has.
        let other = Scope::new("default", if r == "us-east-1" { "eu-west-1" } else { "us-east-1" });
        let theirs = s.advisories(true, None, Some(&other.key())).unwrap();
        assert!(
            open.iter()
                .all(|a| theirs.iter().all(|b| b.advisory.fingerprint != a.advisory.fingerprint))
        );
        // Across the ticks nothing of this scope was resolved by the other's cycles.
        let all = s.advisories(true, None, Some(&sc.key())).unwrap();
        assert!(
            all.iter().all(|a| a.state == headroom::domain::AdvisoryState::Open),
            "{sc}: {:?}",
            all.iter().map(|a| (&a.advisory.summary, a.state)).collect::<Vec<_>>()
        );
    }
    assert!(s.count_snapshots().unwrap() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_with_no_future_tick_is_an_error() {
    let mut cfg = every_second();
    // 30 February never comes.
    cfg.headroom.schedule.collect = headroom::config::parse_cron("0 0 30 2 *").unwrap();
    let store = shared(Sqlite::in_memory().unwrap());
    let scopes = vec![(
        SimulatedAccount::new(1, 0),
        ScopeState::new(Scope::new("default", "us-east-1"), true),
    )];
    let out = runtime::run(scopes, Arc::new(cfg), store, &SystemClock, std::future::pending()).await;
    match out {
        Err(RunError::NoTick(expr)) => assert_eq!(expr, "0 0 30 2 *"),
        other => panic!("expected NoTick, got {other:?}"),
    }
}

/// Issue 20, item 1: Cost Explorer is read on its own schedule, not every cycle (each request
/// is billed). Over 24 hours of 5-minute cycles: the first cycle, then once per tick of the
/// spend schedule; a restart in between reads the last fetch time from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_is_read_on_its_schedule_not_every_cycle() {
    use chrono::TimeZone;
    let cfg = Arc::new(headroom::cli::demo_config().unwrap());
    let sched = cfg.headroom.schedule.spend.schedule.clone();
    let dir = crate::support::temp_dir("spend-schedule");
    let db = dir.join("h.db");
    let t0 = chrono::Utc.with_ymd_and_hms(2026, 11, 20, 10, 20, 0).unwrap();
    let sim = SimulatedAccount::new(7, t0.timestamp());
    let scope = cfg.headroom.aws.default_scope();
    let mut store = shared(Sqlite::open(&db).unwrap());
    let mut state = ScopeState::new(scope.clone(), true);
    let (mut calls, mut cycles, mut last_read) = (0u64, 0, None);
    for k in 0..=288 {
        let now = t0 + chrono::Duration::minutes(5 * k);
        if k == 150 {
            // A restart: the state comes back from the store.
            drop(state);
            store = shared(Sqlite::open(&db).unwrap());
            state = ScopeState::new(scope.clone(), true);
        }
        let r = runtime::cycle(&sim, &cfg, &store, &mut state, now).await.unwrap();
        let n = r.snapshot.api_calls.get("costexplorer:GetCostAndUsage");
        if n > 0 {
            last_read = Some(now);
        }
        assert_eq!(r.snapshot.spend_fetched_at, last_read.map(|t| t.timestamp()), "cycle {k}");
        assert!(!r.snapshot.spend.is_empty(), "cycle {k}: the spend read earlier is still there");
        calls += n;
        cycles += 1;
    }
    // Expected: the first cycle, then one per schedule tick in (t0, t0 + 24 h], each read by
    // the first cycle at or after it.
    let end = t0 + chrono::Duration::hours(24);
    let ticks = sched.after(&t0).take_while(|t| *t <= end).count() as u64;
    assert_eq!(cycles, 289);
    assert_eq!(calls, 1 + ticks, "GetCostAndUsage calls over 24 h of cycles");
    assert_eq!(ticks, 4, "the default: every six hours");
}

/// The daemon delivers by itself: after the first cycle's commit and the groups' wait, each
/// group's message is written once; the later ticks (same advice) send nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_delivers_each_group_once_across_ticks() {
    let mut cfg = every_second();
    let dir = crate::support::temp_dir("scheduler-notify");
    let out = dir.join("notifications");
    let mut n = headroom::cli::demo_notify(&out);
    for r in &mut n.routes {
        r.group_wait_s = 1;
    }
    cfg.headroom.notify = n;
    let store = shared(Sqlite::open(&dir.join("h.db")).unwrap());
    let anchor = chrono::Utc::now().timestamp();
    let scopes = vec![(
        SimulatedAccount::new(42, anchor),
        ScopeState::new(Scope::new("default", "us-east-1"), true),
    )];
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(6000)).await;
        let _ = stop.send(());
    });
    let res = runtime::run(scopes, Arc::new(cfg), store.clone(), &SystemClock, async {
        let _ = stopped.await;
    })
    .await;
    assert!(res.is_ok(), "{res:?}");
    let s = store.lock().unwrap();
    assert!(s.count_snapshots().unwrap() >= 3, "several ticks ran");
    let log = s.notifications(1000, None).unwrap();
    let sent: Vec<_> = log.iter().filter(|l| l.state == "sent").collect();
    assert!(!sent.is_empty(), "{log:?}");
    let files = std::fs::read_dir(&out).unwrap().count();
    assert_eq!(files, sent.len(), "one file per sent notification");
    // One message per receiver and group: no group was sent twice.
    let mut keys: Vec<(&str, &str)> = sent.iter().map(|l| (l.receiver.as_str(), l.group_key.as_str())).collect();
    let all = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), all, "a group was sent twice");
}

/// An account that can be taken down: every call fails as a refused connection while `down`.
struct Flaky {
    inner: SimulatedAccount,
    down: std::sync::atomic::AtomicBool,
}

impl Flaky {
    fn check(&self, service: &'static str, operation: &'static str) -> Result<(), headroom::aws::AwsError> {
        if self.down.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(headroom::aws::AwsError {
                service,
                operation,
                kind: headroom::aws::ErrorKind::Connection,
                message: "connection refused".into(),
            });
        }
        Ok(())
    }
}

impl headroom::aws::Metrics for Flaky {
    async fn get_metric_data(
        &self,
        req: &headroom::aws::MetricDataRequest,
    ) -> Result<headroom::aws::MetricDataResponse, headroom::aws::AwsError> {
        self.check("cloudwatch", "GetMetricData")?;
        self.inner.get_metric_data(req).await
    }
}

impl headroom::aws::Inventory for Flaky {
    async fn describe_asgs(&self, names: &[String], next: Option<String>) -> Result<headroom::aws::AsgPage, headroom::aws::AwsError> {
        self.check("autoscaling", "DescribeAutoScalingGroups")?;
        self.inner.describe_asgs(names, next).await
    }
    async fn describe_policies(&self, next: Option<String>) -> Result<headroom::aws::PolicyPage, headroom::aws::AwsError> {
        self.check("autoscaling", "DescribePolicies")?;
        self.inner.describe_policies(next).await
    }
    async fn list_tables(&self, after: Option<String>) -> Result<headroom::aws::TableNamePage, headroom::aws::AwsError> {
        self.check("dynamodb", "ListTables")?;
        self.inner.list_tables(after).await
    }
    async fn describe_table(&self, name: &str) -> Result<headroom::domain::TableState, headroom::aws::AwsError> {
        self.check("dynamodb", "DescribeTable")?;
        self.inner.describe_table(name).await
    }
}

impl headroom::aws::Billing for Flaky {
    async fn daily_spend_by_service(
        &self,
        start: &str,
        end: &str,
        next: Option<String>,
    ) -> Result<headroom::aws::SpendPage, headroom::aws::AwsError> {
        self.check("costexplorer", "GetCostAndUsage")?;
        self.inner.daily_spend_by_service(start, end, next).await
    }
}

impl headroom::aws::Access for Flaky {}

/// A cycle whose inventory fails wants no series; the window it held must survive it. Before
/// the fix the window was dropped while the frontiers stayed, so the cycles after the outage
/// fetched only the minutes since and the analyzers saw minutes of history instead of weeks
/// (right-sizing said "not enough history" until the lookback filled again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_does_not_cost_the_window() {
    use chrono::TimeZone;
    let cfg = Arc::new(headroom::cli::demo_config().unwrap());
    let t0 = chrono::Utc.with_ymd_and_hms(2026, 11, 20, 10, 20, 0).unwrap();
    let api = Flaky {
        inner: SimulatedAccount::new(7, t0.timestamp()),
        down: false.into(),
    };
    let store = shared(Sqlite::in_memory().unwrap());
    let mut state = ScopeState::new(cfg.headroom.aws.default_scope(), true);
    let span = |r: &runtime::CycleReport| -> i64 {
        r.snapshot
            .series
            .iter()
            .filter(|s| s.signal == headroom::domain::Signal::CpuPercent)
            .filter_map(|s| Some(s.points.last()?.0 - s.points.first()?.0))
            .max()
            .unwrap_or(0)
    };
    let first = runtime::cycle(&api, &cfg, &store, &mut state, t0).await.unwrap();
    assert!(!first.snapshot.partial());
    let full = span(&first);
    assert!(full >= 20 * 86_400, "the simulated account has 21 days: {full}");
    let points = state.points();
    api.down.store(true, std::sync::atomic::Ordering::Relaxed);
    let during = runtime::cycle(&api, &cfg, &store, &mut state, t0 + chrono::Duration::minutes(5))
        .await
        .unwrap();
    assert!(during.snapshot.partial());
    // Held, less what the lookback trimmed at its old end: one 5-minute point per series.
    let trimmed = first.snapshot.series.len() as u64;
    assert!(
        state.points() >= points - trimmed,
        "the window is held through the outage: {} < {points} - {trimmed}",
        state.points()
    );
    api.down.store(false, std::sync::atomic::Ordering::Relaxed);
    let after = runtime::cycle(&api, &cfg, &store, &mut state, t0 + chrono::Duration::minutes(10))
        .await
        .unwrap();
    assert!(!after.snapshot.partial());
    // The window is the first cycle's, moved on by 10 minutes (the lookback trims as much at
    // the old end as the new cycles add).
    assert!(
        span(&after) >= full,
        "after the outage the window spans {} s, before {full} s",
        span(&after)
    );
}

/// Shutdown lets a notification being sent finish: a webhook that answers 2.5 s after the
/// request is still answered and the notification recorded as sent (before, the notifier was
/// aborted at once and the message stayed pending, to go out again after restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_send_in_progress_finish() {
    use tokio::io::AsyncWriteExt;
    let dir = crate::support::temp_dir("scheduler-flush");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/services/T0/B0/slow", listener.local_addr().unwrap());
    let (got, requested) = tokio::sync::oneshot::channel::<()>();
    let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let a2 = answered.clone();
    // The first request is answered after 2.5 s (and says it has arrived); later ones at once.
    tokio::spawn(async move {
        let mut got = Some(got);
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let first = got.take();
            let a2 = a2.clone();
            tokio::spawn(async move {
                if crate::support::read_http_request(&mut sock).await.is_none() {
                    return;
                }
                if let Some(got) = first {
                    let _ = got.send(());
                    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
                    a2.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                    .await;
            });
        }
    });
    let url_file = dir.join("webhook");
    std::fs::write(&url_file, &url).unwrap();
    let mut cfg = every_second();
    let mut n = (*crate::notify::notify_cfg(vec![crate::notify::slack("team", &url_file)])).clone();
    for r in &mut n.routes {
        r.group_wait_s = 1;
    }
    cfg.headroom.notify = n;
    let store = shared(Sqlite::open(&dir.join("h.db")).unwrap());
    let scopes = vec![(
        SimulatedAccount::new(42, chrono::Utc::now().timestamp()),
        ScopeState::new(Scope::new("default", "us-east-1"), true),
    )];
    let t = std::time::Instant::now();
    // Shutdown as soon as the webhook has the request (the send is in progress).
    let res = runtime::run(scopes, Arc::new(cfg), store.clone(), &SystemClock, async {
        let _ = requested.await;
    })
    .await;
    assert!(res.is_ok(), "{res:?}");
    assert!(
        answered.load(std::sync::atomic::Ordering::SeqCst),
        "the webhook answered before the daemon returned"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
    let log = store.lock().unwrap().notifications(100, None).unwrap();
    // The pump in progress at shutdown ran to its end: the slow message and the ones queued
    // behind it went out, none is left pending.
    assert!(log.len() >= 2, "several groups: {log:?}");
    assert!(
        log.iter().all(|l| l.state == "sent"),
        "{:?}",
        log.iter().map(|l| (&l.group_key, &l.state)).collect::<Vec<_>>()
    );
}

/// One hung receiver stalls no other (issue 35, item 2): the SMTP peer is stopped mid-session
/// (SIGSTOP: connections are accepted, nothing is answered) while the daemon cycles; Slack's
/// messages go out on their own schedule, each recorded `sent_at` within a second of the
/// moment the webhook received it, and the stuck email stays pending, never marked sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_smtp_server_does_not_hold_slack() {
    use headroom::config::SmtpTls;
    let dir = crate::support::temp_dir("scheduler-hung-smtp");
    let port = crate::notify::free_port();
    let peer = crate::notify::SmtpPeer::start(port, &dir.join("mail"), None, None);
    // SAFETY: signalling the peer process this test started.
    unsafe {
        libc::kill(peer.pid(), libc::SIGSTOP);
    }
    let (hook, url) = crate::notify::Hook::start(vec![]).await;
    let url_file = dir.join("webhook");
    std::fs::write(&url_file, &url).unwrap();
    let mut cfg = every_second();
    let mut n = (*crate::notify::notify_cfg(vec![
        crate::notify::smtp("mail", port, SmtpTls::None, None, None),
        crate::notify::slack("team", &url_file),
    ]))
    .clone();
    for r in &mut n.routes {
        r.group_wait_s = 1;
        r.group_interval_s = 1;
    }
    cfg.headroom.notify = n;
    let store = shared(Sqlite::open(&dir.join("h.db")).unwrap());
    let scopes = vec![(
        SimulatedAccount::new(42, chrono::Utc::now().timestamp()),
        ScopeState::new(Scope::new("default", "us-east-1"), true),
    )];
    // Wall-clock time of each webhook hit, from its Instant.
    let (i0, w0) = (std::time::Instant::now(), std::time::SystemTime::now());
    let res = runtime::run(scopes, Arc::new(cfg), store.clone(), &SystemClock, async {
        tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    })
    .await;
    // SAFETY: as above; the peer is killed when `peer` drops.
    unsafe {
        libc::kill(peer.pid(), libc::SIGCONT);
    }
    assert!(res.is_ok(), "{res:?}");
    let hits: Vec<std::time::Instant> = hook.hits.lock().unwrap().iter().map(|h| h.0).collect();
    assert!(!hits.is_empty(), "Slack got nothing while the SMTP server hung");
    let first = hits[0] - i0;
    // The first cycle's groups wait 1 s; the email's socket timeout is 5 s. Before, the
    // email in front held Slack until it timed out.
    assert!(
        first < std::time::Duration::from_secs(4),
        "Slack's first message came {first:?} after start"
    );
    let log = store.lock().unwrap().notifications(1000, None).unwrap();
    let slack_sent: Vec<i64> = log
        .iter()
        .filter(|l| l.receiver == "team" && l.state == "sent")
        .map(|l| l.sent_at.unwrap())
        .collect();
    assert_eq!(slack_sent.len(), hits.len(), "one sent row per POST: {log:?}");
    let mut at: Vec<i64> = slack_sent.clone();
    at.sort();
    for (hit, sent_at) in hits.iter().zip(&at) {
        let wall = (w0 + (*hit - i0)).duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(
            (*sent_at as f64 - wall).abs() <= 1.0,
            "sent_at {sent_at} vs the webhook's {wall:.3}"
        );
    }
    assert!(
        log.iter()
            .filter(|l| l.receiver == "mail")
            .all(|l| l.state == "pending" && l.sent_at.is_none()),
        "{log:?}"
    );
    assert!(log.iter().any(|l| l.receiver == "mail"), "the email was there to hang: {log:?}");
}
