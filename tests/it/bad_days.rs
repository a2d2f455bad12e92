//! Bad days (issue 21): an endpoint that accepts connections and never answers. A cycle ends at
//! its deadline, partial and saying why; `check` exits 3 for a partial cycle; the daemon's
//! shutdown cancels a hung cycle at once and leaves the store as it was.

use crate::support::*;
use headroom::domain::Scope;
use headroom::runtime::{self, ScopeState, SystemClock, shared};
use headroom::store::Sqlite;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A TCP endpoint on 127.0.0.1 that accepts every connection and never writes a byte. The
/// sockets are held until the test ends.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    format!("http://{addr}")
}

/// The shipped config against `endpoint`, one group to look for, calls that would each wait
/// a minute, and a collection deadline of `deadline_s`.
fn hanging(endpoint: &str, deadline_s: u64) -> headroom::config::Config {
    let mut cfg = config_for(endpoint);
    cfg.headroom.aws.timeout_s = 60;
    cfg.headroom.collect.deadline_s = deadline_s;
    cfg.headroom.targets.asgs = vec![headroom::config::AsgTarget::named("web")];
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_against_an_endpoint_that_never_answers_ends_at_its_deadline() {
    let url = black_hole().await;
    let cfg = Arc::new(hanging(&url, 5));
    let api = headroom::aws::sdk::connect(&cfg.headroom.aws, "us-east-1").await;
    let store = shared(Sqlite::in_memory().unwrap());
    let mut state = ScopeState::new(Scope::new("default", "us-east-1"), true);
    let t = Instant::now();
    let r = runtime::cycle(&api, &cfg, &store, &mut state, chrono::Utc::now()).await.unwrap();
    let took = t.elapsed();
    assert!(took >= Duration::from_secs(5) && took < Duration::from_secs(15), "{took:?}");
    assert!(r.snapshot.partial());
    let failed = r.snapshot.failed_sources();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].source, "deadline");
    let why = failed[0].reason.as_deref().unwrap_or("");
    assert!(why.contains("within 5 s") && why.contains("deadline_seconds"), "{why}");
    // Issue 35, item 11: the calls the deadline cut off were made all the same ("API calls:
    // 0" before): the inventory and spend reads at least, counted as each was sent.
    let calls = &r.snapshot.api_calls;
    assert!(calls.get("autoscaling:DescribeAutoScalingGroups") >= 1, "{calls:?}");
    assert!(calls.get("costexplorer:GetCostAndUsage") >= 1, "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exits_3_on_a_partial_cycle() {
    let url = black_hole().await;
    let dir = config_copy("partial-check", |name, text| {
        if name != "headroom.toml" {
            return text;
        }
        text.replacen(
            "# endpoint_url = \"http://127.0.0.1:5000\"",
            &format!("endpoint_url = \"{url}\""),
            1,
        )
        .replacen("timeout_seconds = 20", "timeout_seconds = 60", 1)
        .replacen("deadline_seconds = 120", "deadline_seconds = 5", 1)
    });
    let t = Instant::now();
    let out = headroom_in(&dir, &["check", "--config", "config", "--store", "h.db"]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stdout: {}\nstderr: {err}", text(&out.stdout));
    assert!(err.contains("partial cycle in default/us-east-1 (deadline)"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    // --fail-on does not hide it: the cycle was partial, whatever its advice.
    let out = headroom_in(&dir, &["check", "--config", "config", "--store", "h.db", "--fail-on", "info"]).await;
    assert_eq!(out.status.code(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_a_hung_cycle_after_its_grace_and_commits_nothing_of_it() {
    let url = black_hole().await;
    let mut cfg = hanging(&url, 60);
    cfg.headroom.schedule.collect = headroom::config::parse_cron("* * * * * *").unwrap();
    let cfg = Arc::new(cfg);
    let api = headroom::aws::sdk::connect(&cfg.headroom.aws, "us-east-1").await;
    let store = shared(Sqlite::in_memory().unwrap());
    let scopes = vec![(api, ScopeState::new(Scope::new("default", "us-east-1"), true))];
    let t = Instant::now();
    // Shutdown gives running cycles a grace period (6 s in `headroom run`), here 1 s.
    let mut svc = runtime::Service::fixed(cfg, &[Scope::new("default", "us-east-1")], chrono::Utc::now().timestamp());
    svc.grace = Duration::from_secs(1);
    // The first tick comes within a second; the cycle then hangs on the endpoint (deadline 60 s).
    let out = runtime::run_service(
        scopes,
        svc,
        store.clone(),
        &SystemClock,
        tokio::time::sleep(Duration::from_millis(2500)),
    )
    .await;
    assert!(out.is_ok(), "{out:?}");
    let took = t.elapsed();
    // 2.5 s + the 1 s grace, and scheduling slack: not the 60 s deadline.
    assert!(took < Duration::from_secs(5), "shutdown waited for the hung cycle: {took:?}");
    assert!(took >= Duration::from_millis(3400), "the grace was not given: {took:?}");
    assert_eq!(
        store.lock().unwrap().count_snapshots().unwrap(),
        0,
        "the cancelled cycle committed nothing"
    );
}

/// A config copy whose AWS endpoint is `url` (never real AWS) with a short deadline.
fn config_at(tag: &str, url: &str) -> std::path::PathBuf {
    let url = url.to_string();
    config_copy(tag, move |name, text| {
        if name != "headroom.toml" {
            return text;
        }
        text.replacen(
            "# endpoint_url = \"http://127.0.0.1:5000\"",
            &format!("endpoint_url = \"{url}\""),
            1,
        )
        .replacen("deadline_seconds = 120", "deadline_seconds = 5", 1)
    })
}

/// Item 7: listing advisories reads only, so it works while another connection holds the
/// store's write lock (a daemon mid-commit); before, it migrated and adopted rows first and
/// failed with "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_advisories_needs_no_write_access() {
    let url = black_hole().await;
    let dir = config_at("ro-list", &url);
    let db = dir.join("h.db");
    let sc = Scope::new("default", "us-east-1");
    {
        let mut s = Sqlite::open(&db).unwrap();
        let a = headroom::domain::Advisory {
            fingerprint: sc.fingerprint("x"),
            kind: headroom::domain::Kind::Rightsize,
            resource: headroom::domain::ResourceId::asg("web"),
            severity: headroom::domain::Severity::Warning,
            summary: "asg/web: desired 6 → 4".into(),
            evidence: vec![],
            action: None,
            monthly_cost_delta: None,
            basis: None,
        };
        s.save_advice(&sc, &[], &[a], false, 1).unwrap();
    }
    let writer = Sqlite::open(&db).unwrap();
    writer
        .execute_batch_for_tests("BEGIN EXCLUSIVE; UPDATE advisories SET summary = summary;")
        .unwrap();
    let t = Instant::now();
    let out = headroom_in(
        &dir,
        &["advisories", "--config", "config", "--store", "h.db", "--fail-on", "warning"],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "the warning is open: {stdout}\n{stderr}");
    assert!(
        stdout.contains("asg/web: desired 6 → 4") && stdout.contains("default/us-east-1"),
        "{stdout}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "it did not wait for the writer: {:?}",
        t.elapsed()
    );
    writer.execute_batch_for_tests("ROLLBACK;").unwrap();
}

/// A second daemon on the same store is refused with the first one's pid, however the store
/// is named: its path, a symlink, a hard link, another spelling of the path, or after every
/// file beside the store that looks like a lock was deleted (issue 35, item 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_one_store_is_refused() {
    use std::os::unix::io::AsRawFd;
    let url = black_hole().await;
    let dir = config_at("two-daemons", &url);
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["run", "--config", "config", "--store", "h.db"])
        .current_dir(&dir)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let db = dir.join("h.db");
    let t = Instant::now();
    // Taken when this process cannot flock the file itself.
    loop {
        if let Ok(f) = std::fs::File::open(&db) {
            // SAFETY: flock on a descriptor this test owns; it is closed right after.
            let free = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
            if !free {
                break;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(20), "the first daemon never took the lock");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::os::unix::fs::symlink(&db, dir.join("via-symlink.db")).unwrap();
    std::fs::hard_link(&db, dir.join("via-hardlink.db")).unwrap();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for f in std::fs::read_dir(&dir).unwrap().flatten() {
        if f.file_name().to_string_lossy().ends_with(".lock") {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    for store in ["h.db", "via-symlink.db", "via-hardlink.db", "sub/../h.db", "./h.db"] {
        let t = Instant::now();
        let out = headroom_in(&dir, &["run", "--config", "config", "--store", store]).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{store}: {err}");
        assert!(
            err.contains(&format!("in use by another headroom daemon (pid {})", first.id())),
            "{store}: {err}"
        );
        assert!(err.contains(&format!("store {store}")), "{store}: {err}");
        assert!(t.elapsed() < Duration::from_secs(10), "{store}: refused at once, not after a cycle");
    }
    // SAFETY: signalling the child this test started.
    unsafe {
        libc::kill(first.id() as i32, libc::SIGTERM);
    }
    let status = tokio::task::spawn_blocking(move || first.wait().unwrap()).await.unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM stops the daemon cleanly");
    // Stopped, the store is free again, through any of its names.
    let mut again = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["run", "--config", "config", "--store", "via-hardlink.db"])
        .current_dir(&dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        again.try_wait().unwrap().is_none(),
        "the next daemon runs once the first has stopped"
    );
    again.kill().unwrap();
    let _ = again.wait();
}

/// Item 6: a 200 whose body is no AWS answer is an unreadable response, not an invalid request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_200_says_so() {
    use crate::support::proxy::{self, Fault};
    let (_moto, url) = moto().await;
    let px = proxy::start(&url, &[("DescribeAutoScalingGroups", Fault::Garbage200)]).await;
    let cfg = Arc::new(hanging(&px.url, 30));
    let api = headroom::aws::sdk::connect(&cfg.headroom.aws, "us-east-1").await;
    let store = shared(Sqlite::in_memory().unwrap());
    let mut state = ScopeState::new(Scope::new("default", "us-east-1"), true);
    let r = runtime::cycle(&api, &cfg, &store, &mut state, chrono::Utc::now()).await.unwrap();
    let s = r.snapshot.sources.iter().find(|s| s.source == "autoscaling").unwrap();
    let why = s.reason.as_deref().unwrap_or("");
    assert!(!s.ok && why.contains("unreadable response") && why.contains("HTTP 200"), "{why}");
    assert!(why.contains("check aws.endpoint_url") && !why.contains("invalid request"), "{why}");
}

/// Item 6: no credentials anywhere is said as such, with where to give them, not as a network
/// problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_are_named_as_such() {
    let (_moto, url) = moto().await;
    let dir = config_at("no-creds", &url);
    let home = temp_dir("no-creds-home");
    let out = tokio::task::spawn_blocking(move || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"));
        c.args(["check", "--config", "config", "--store", "h.db"]).current_dir(&dir);
        for v in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"] {
            c.env_remove(v);
        }
        c.env("HOME", &home)
            .env("AWS_CONFIG_FILE", home.join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("no AWS credentials"), "{all}");
    assert!(all.contains("AWS_ACCESS_KEY_ID"), "the hint says where to give them: {all}");
    assert!(!all.contains("check network access"), "{all}");
}
