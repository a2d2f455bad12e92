//! `scripts/bench` runs this (`cargo run --release --example bench -- OUT.md`): the
//! performance figures of headroom, measured on this machine, written as Markdown.
//!
//! 1. Fleet-scale collection: full cycles (collect → SQLite file → snapshot) over the
//!    synthetic fleet of `aws::synthetic` (5,000 ASGs × 3 = 15,000 series × 14 days), backfill,
//!    incremental, the hourly forecast run and a restart; GetMetricData calls against the lower bound
//!    max(⌈queries ÷ 500⌉, ⌈datapoints ÷ 100,800⌉), wall time, points per second.
//! 2. The demo's cycles on the simulated account.
//! 3. `headroom plan` on the four seed profiles.
//! 4. Commitments: 50 instance families × 60 days of 5-minute capacity history, every term
//!    and payment of RIs, EC2 Instance and Compute Savings Plans optimized (issue: < 50 ms).
//!
//! Each timed figure is the median of `RUNS` runs (fleet scale: one run, it takes seconds).

use headroom::aws::simulated::SimulatedAccount;
use headroom::aws::synthetic::{SyntheticFleet, fleet_config};
use headroom::config::Config;
use headroom::domain::Scope;
use headroom::model::plan;
use headroom::runtime::{self, CycleReport, ScopeState, Shared};
use headroom::store::Sqlite;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

const RUNS: usize = 5;
const GROUPS: usize = 5_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn fresh_db(dir: &std::path::Path, name: &str) -> Shared<Sqlite> {
    let db = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    runtime::shared(Sqlite::open(&db).expect("open bench store"))
}

/// (resident, peak resident) of this process in MiB, from /proc/self/status.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Returns freed heap to the system (so an earlier phase's freed memory does not count as
/// this one's), then resets the peak-resident mark (Linux: writing 5 to clear_refs), so each
/// phase reports its own.
fn reset_peak() {
    trim();
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Returns freed heap to the system, as the daemon does after each cycle.
fn trim() {
    // SAFETY: malloc_trim only releases free memory at the top of glibc's heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// (resident after `trim`, peak resident before it): what a cycle left and its high-water mark.
fn after_cycle() -> (f64, f64) {
    let peak = rss_mib().1;
    trim();
    (rss_mib().0, peak)
}

/// Bytes malloc has handed out and not had back (glibc's mallinfo2: in use, not resident).
fn heap_in_use() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let m = unsafe { libc::mallinfo2() };
    m.uordblks + m.hblkhd
}

/// The figures of one cycle. Reports are not kept: like the daemon, the bench drops each
/// cycle's report before the next, so the scope's window is not shared (a kept report would
/// make the next cycle copy the whole window).
struct Row {
    lower_bound: u64,
    points_fetched: u64,
    forecast: Option<(u64, usize)>,
    advise_ms: u64,
    load_ms: u64,
    commit_ms: u64,
    elapsed_ms: u64,
    series: usize,
    cached_points: u64,
}

impl From<&CycleReport> for Row {
    fn from(r: &CycleReport) -> Row {
        Row {
            lower_bound: r.metric_calls_lower_bound,
            points_fetched: r.snapshot.points_fetched,
            forecast: r.forecast_ran.then_some((r.forecast_ms, r.outlooks.len())),
            advise_ms: r.advise_ms,
            load_ms: r.load_ms,
            commit_ms: r.commit_ms,
            elapsed_ms: r.elapsed_ms,
            series: r.snapshot.series.len(),
            cached_points: r.cached_points,
        }
    }
}

/// One cycle of each scope at `now`, `limit` at once (as the daemon's scheduler runs them).
async fn round(
    scopes: Vec<(SyntheticFleet, ScopeState)>,
    cfg: &Arc<Config>,
    store: &Shared<Sqlite>,
    now: chrono::DateTime<chrono::Utc>,
    limit: usize,
) -> (Vec<(SyntheticFleet, ScopeState)>, Vec<Row>, f64) {
    let sem = Arc::new(tokio::sync::Semaphore::new(limit));
    let t = Instant::now();
    let mut tasks = vec![];
    for (api, mut state) in scopes {
        let (cfg, store, sem) = (cfg.clone(), store.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire_owned().await.expect("semaphore");
            let r = runtime::cycle(&api, &cfg, &store, &mut state, now).await.expect("cycle");
            (api, state, Row::from(&r))
        }));
    }
    let (mut back, mut reports) = (vec![], vec![]);
    for task in tasks {
        let (api, state, r) = task.await.expect("task");
        back.push((api, state));
        reports.push(r);
    }
    (back, reports, t.elapsed().as_secs_f64())
}

fn main() {
    // As `headroom run` does, before any thread starts.
    headroom::runtime::limit_heap_arenas();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

async fn bench() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "bench-results.md".into());
    let dir = std::env::temp_dir().join(format!("headroom-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut md = String::new();
    let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();

    // HEADROOM_BENCH_ONLY=commitments runs only section 4 (for working on it).
    let only_commitments = std::env::var("HEADROOM_BENCH_ONLY").is_ok_and(|v| v == "commitments");
    if !only_commitments {
        // 1. Fleet scale.
        eprintln!("bench: fleet scale, {GROUPS} ASGs x 3 series x 14 days in one scope (backfill, incremental, restart)...");
        let mut cfg = Config::embedded().expect("embedded config");
        cfg.headroom = fleet_config(cfg.headroom);
        let cfg = Arc::new(cfg);
        let later = now + chrono::Duration::minutes(5);
        let store = fresh_db(&dir, "fleet.db");
        let one = |groups: usize, account: &str| (SyntheticFleet::new(groups), ScopeState::new(Scope::new(account, "us-east-1"), true));
        reset_peak();
        let (scopes, rep1, backfill_s) = round(vec![one(GROUPS, "default")], &cfg, &store, now, 1).await;
        let rss1 = after_cycle();
        let calls1 = scopes[0].0.calls();
        scopes[0].0.reset();
        reset_peak();
        let (scopes, rep2, incr_s) = round(scopes, &cfg, &store, later, 1).await;
        let rss2 = after_cycle();
        let (window_bytes, outlook_bytes) = scopes[0].1.held_bytes();
        let in_use = heap_in_use();
        let calls2 = scopes[0].0.calls();
        scopes[0].0.reset();
        // The hourly forecast schedule ticks: an incremental cycle that makes the forecasts again.
        let hourly = later + chrono::Duration::minutes(60);
        reset_peak();
        let (scopes, rep4, forecast_s) = round(scopes, &cfg, &store, hourly, 1).await;
        let rss4 = after_cycle();
        let calls4 = scopes[0].0.calls();
        // A restart: the scope's state is read back from the store, then the cycle.
        drop(scopes);
        let restart_at = hourly + chrono::Duration::minutes(5);
        reset_peak();
        let (scopes, rep3, restart_s) = round(vec![one(GROUPS, "default")], &cfg, &store, restart_at, 1).await;
        let rss3 = after_cycle();
        let calls3 = scopes[0].0.calls();
        drop(scopes);
        let (r1, r2, r3, r4) = (&rep1[0], &rep2[0], &rep3[0], &rep4[0]);
        let series = r1.series;
        let _ = writeln!(md, "## Fleet-scale cycles (synthetic fleet behind the `aws` traits)\n");
        let _ = writeln!(
            md,
            "{GROUPS} ASGs × (CPUUtilization + GroupDesiredCapacity + mem_used_percent) = {series} series, 5-minute period, 14-day lookback, one scope. \
         Each cycle is the daemon's: collect, merge into the scope's in-memory window, forecast when the hourly forecast schedule is due \
         (the first cycle and the one an hour later; the others reuse the forecasts held in memory, or read back from the store after a restart), analyze, decide, \
         and commit points, snapshot, outlooks, rule states and advisories in one SQLite transaction (a file, WAL). \
         Lower bound = max(⌈queries ÷ 500⌉, ⌈datapoints ÷ 100,800⌉). Peak RSS is the process's high-water mark during that cycle alone \
         (reset before each through /proc/self/clear_refs); RSS after is what it holds between cycles (after `malloc_trim`, as the daemon does).\n"
        );
        let _ = writeln!(
            md,
            "| cycle | GetMetricData calls | lower bound | points fetched | wall time | of which forecasts | analyze + decide | reading the store | commit | peak RSS | RSS after |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (name, r, calls, s, rss) in [
            ("backfill (empty store)", r1, calls1, backfill_s, rss1),
            ("incremental (+5 min)", r2, calls2, incr_s, rss2),
            ("incremental, forecast run (+65 min)", r4, calls4, forecast_s, rss4),
            ("after a restart (+70 min)", r3, calls3, restart_s, rss3),
        ] {
            let _ = writeln!(
                md,
                "| {name} | {calls} | {} | {} | {:.2} s | {} | {:.2} s | {:.2} s | {:.2} s | {:.0} MiB | {:.0} MiB |",
                r.lower_bound,
                r.points_fetched,
                s,
                match r.forecast {
                    Some((ms, n)) => format!(
                        "{:.2} s ({n} series, {} cores)",
                        ms as f64 / 1e3,
                        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
                    ),
                    None => "held".to_string(),
                },
                r.advise_ms as f64 / 1e3,
                r.load_ms as f64 / 1e3,
                r.commit_ms as f64 / 1e3,
                rss.1,
                rss.0,
            );
        }
        let mib = |b: usize| b as f64 / 1_048_576.0;
        let _ = writeln!(
            md,
            "\nAfter the incremental cycle (and `malloc_trim`, as the daemon does after each cycle): the scope's window holds {} points in {:.0} MiB \
             ({:.2} bytes a point: `domain::Points`, older points 12-bit on a grid, the last periods exact), its forecasts {:.0} MiB; \
             the heap has {:.0} MiB in use (mallinfo2) of {:.0} MiB resident.\n",
            r2.cached_points,
            mib(window_bytes),
            window_bytes as f64 / r2.cached_points.max(1) as f64,
            mib(outlook_bytes),
            mib(in_use),
            rss2.0
        );
        drop((rep1, rep2, rep3, rep4, store));

        eprintln!("bench: fleet scale, 10 scopes x 500 ASGs x 3 series (backfill, incremental)...");
        let store = fresh_db(&dir, "fleet10.db");
        let limit = cfg.headroom.aws.concurrent_scopes;
        let ten: Vec<_> = (0..10)
            .map(|i| one(GROUPS / 10, &format!("{:012}", 100_000_000_000u64 + i)))
            .collect();
        reset_peak();
        let (scopes, b, backfill10_s) = round(ten, &cfg, &store, now, limit).await;
        let rss_b = after_cycle();
        reset_peak();
        let (_scopes, i10, incr10_s) = round(scopes, &cfg, &store, later, limit).await;
        let rss_i = after_cycle();
        let series10: usize = b.iter().map(|r| r.series).sum();
        let _ = writeln!(
            md,
            "Ten scopes (accounts) of {} ASGs each, {series10} series in all, {limit} scopes at once (`aws.concurrent_scopes`), one store:\n",
            GROUPS / 10
        );
        let _ = writeln!(md, "| round | wall time (all 10 scopes) | slowest scope | peak RSS | RSS after |");
        let _ = writeln!(md, "|---|---:|---:|---:|---:|");
        for (name, rs, s, rss) in [
            ("backfill", &b, backfill10_s, rss_b),
            ("incremental (+5 min)", &i10, incr10_s, rss_i),
        ] {
            let slowest = rs.iter().map(|r| r.elapsed_ms).max().unwrap_or(0);
            let _ = writeln!(
                md,
                "| {name} | {:.2} s | {:.2} s | {:.0} MiB | {:.0} MiB |",
                s,
                slowest as f64 / 1e3,
                rss.1,
                rss.0
            );
        }
        let _ = writeln!(md);
        drop(store);

        // 2. Demo cycles.
        eprintln!("bench: demo cycles on the simulated account ({RUNS} runs)...");
        let demo_cfg = headroom::cli::demo_config().expect("demo config");
        let (mut first, mut second, mut calls, mut points) = (vec![], vec![], 0, 0);
        let demo_cfg = Arc::new(demo_cfg);
        for i in 0..RUNS {
            let store = fresh_db(&dir, &format!("demo{i}.db"));
            let sim = SimulatedAccount::new(42, now.timestamp());
            let mut state = ScopeState::new(demo_cfg.headroom.aws.default_scope(), true);
            let t = Instant::now();
            let a = runtime::cycle(&sim, &demo_cfg, &store, &mut state, now).await.expect("demo cycle");
            first.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            runtime::cycle(&sim, &demo_cfg, &store, &mut state, later)
                .await
                .expect("demo cycle 2");
            second.push(t.elapsed().as_secs_f64() * 1e3);
            calls = a.snapshot.api_calls.get("cloudwatch:GetMetricData");
            points = a.snapshot.points_fetched;
        }
        let _ = writeln!(md, "## Demo cycles (simulated account: 2 ASGs, 2 tables, 21 days)\n");
        let _ = writeln!(md, "| cycle | GetMetricData calls | points | median wall time ({RUNS} runs) |");
        let _ = writeln!(md, "|---|---:|---:|---:|");
        let _ = writeln!(md, "| first (21-day backfill) | {calls} | {points} | {:.0} ms |", median(first));
        let _ = writeln!(md, "| second (+5 min) | | | {:.1} ms |\n", median(second));

        // 3. Plans.
        eprintln!("bench: headroom plan on the seed profiles...");
        let cfg = Config::embedded().expect("embedded config");
        let _ = writeln!(md, "## `headroom plan` on the seed profiles\n");
        let _ = writeln!(md, "| profile | figures | median time to parse and plan ({} runs) |", RUNS * 20);
        let _ = writeln!(md, "|---|---:|---:|");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/profiles");
        for name in ["clearview", "llm-chat", "microservices", "high-traffic-500m"] {
            let body = std::fs::read_to_string(root.join(format!("{name}.toml"))).expect("profile");
            let mut times = vec![];
            let mut figures = 0;
            for _ in 0..RUNS * 20 {
                let t = Instant::now();
                let p = plan::Profile::parse(name, &body, &cfg).expect("profile parses");
                let pl = plan::plan(&p, &cfg).expect("plan");
                times.push(t.elapsed().as_secs_f64() * 1e6);
                figures = pl.figures.len();
            }
            let _ = writeln!(md, "| {name} | {figures} | {:.0} µs |", median(times));
        }
    }

    // 4. Commitments.
    let cfg = Config::embedded().expect("embedded config");
    eprintln!("bench: commitments, 50 families x 60 days...");
    let _ = writeln!(md, "\n## Commitments: 50 instance families × 60 days\n");
    let (snap, pricing, now) = commitment_fleet(&cfg);
    let mut times = vec![];
    let mut options = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let found = headroom::analyze::commitments::analyze(&snap, &cfg.headroom.advice, &pricing, &Default::default(), now);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        // Every term × payment of the three offerings is optimized per family (the allowed
        // ones become options, the rest compete for "best of any").
        options = found.len() * 18;
        assert_eq!(found.len(), 50);
    }
    let _ = writeln!(
        md,
        "50 ASGs, one per family, with 60 days of 5-minute GroupDesiredCapacity (17,280 points each): hourly means, then the exact optimum of {options} purchase options (3 offerings × 2 terms × 3 payments per family), each over 1,440 hours.\n"
    );
    let _ = writeln!(md, "| work | median wall time ({RUNS} runs) | target |");
    let _ = writeln!(md, "|---|---:|---:|");
    let _ = writeln!(
        md,
        "| `analyze::commitments` on the whole fleet | {:.1} ms | < 50 ms |",
        median(times)
    );

    let _ = std::fs::remove_dir_all(&dir);
    std::fs::write(&out, md).unwrap_or_else(|e| panic!("cannot write {out}: {e}"));
    eprintln!("bench: wrote {out}");
}

/// 50 families (copies of m5.large's prices named f0 … f49) with one ASG each and 60 days of
/// daily-cycling desired capacity.
fn commitment_fleet(cfg: &Config) -> (headroom::domain::Snapshot, headroom::config::Pricing, i64) {
    use headroom::domain::*;
    let now: i64 = 1_800_000_000;
    let mut pricing = cfg.pricing.clone();
    let base = pricing.instances["m5.large"].clone();
    let mut asgs = vec![];
    let mut series = vec![];
    for f in 0..50 {
        let ty = format!("f{f}.large");
        pricing.instances.insert(ty.clone(), base.clone());
        let name = format!("g{f}");
        asgs.push(AsgState {
            name: name.clone(),
            min_size: 1,
            max_size: 20,
            desired_capacity: 4,
            in_service: 4,
            instance_types: vec![(ty, 4)],
            overrides: vec![],
            distribution: None,
            target_group_arns: vec![],
            tags: vec![],
            policies: vec![],
        });
        let r = ResourceId::asg(&name);
        let points = (0..60 * 288)
            .map(|k| {
                let t = now - 60 * 86_400 + k * 300;
                let hour = (t.rem_euclid(86_400) / 3600) as f64;
                (
                    t,
                    (4.0 + 3.0 * (hour / 24.0 * std::f64::consts::TAU).sin() + (f % 5) as f64).round(),
                )
            })
            .collect();
        series.push(Series {
            resource: r.clone(),
            signal: Signal::DesiredCapacity,
            query: MetricQuery::new(
                "AWS/AutoScaling",
                "GroupDesiredCapacity",
                &[("AutoScalingGroupName", &name)],
                Stat::Average,
                300,
            ),
            points,
        });
    }
    let snap = Snapshot::bare(now, asgs, series);
    (snap, pricing, now)
}
