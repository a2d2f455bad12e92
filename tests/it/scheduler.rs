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
