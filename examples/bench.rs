//! `scripts/bench` runs this (`cargo run --release --example bench -- OUT.md`): the
//! performance figures of headroom, measured on this machine, written as Markdown.
//!
//! 1. Fleet-scale collection: full cycles (collect → SQLite file → snapshot) over the
//!    synthetic fleet of `aws::synthetic` (5,000 ASGs × 3 = 15,000 series × 14 days), backfill and
//!    then incremental; GetMetricData calls against the lower bound
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
use headroom::model::plan;
use headroom::runtime;
use headroom::store::Store;
use std::fmt::Write as _;
use std::time::Instant;

const RUNS: usize = 5;
const GROUPS: usize = 5_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn fresh_db(dir: &std::path::Path, name: &str) -> Store {
    let db = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    Store::open(&db).expect("open bench store")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "bench-results.md".into());
    let dir = std::env::temp_dir().join(format!("headroom-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut md = String::new();
    let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();

    // HEADROOM_BENCH_ONLY=commitments runs only section 4 (for working on it).
    let only_commitments = std::env::var("HEADROOM_BENCH_ONLY").is_ok_and(|v| v == "commitments");
    if !only_commitments {
        // 1. Fleet scale.
        eprintln!("bench: fleet scale, {GROUPS} ASGs x 3 series x 14 days (one backfill cycle, then one incremental)...");
        let mut cfg = Config::embedded().expect("embedded config");
        cfg.headroom = fleet_config(cfg.headroom);
        let api = SyntheticFleet::new(GROUPS);
        let mut store = fresh_db(&dir, "fleet.db");
        let t = Instant::now();
        let r1 = runtime::cycle(&api, &cfg, &mut store, "us-east-1", now)
            .await
            .expect("backfill cycle");
        let backfill_s = t.elapsed().as_secs_f64();
        let calls1 = api.calls();
        api.reset();
        let later = now + chrono::Duration::minutes(5);
        let t = Instant::now();
        let r2 = runtime::cycle(&api, &cfg, &mut store, "us-east-1", later)
            .await
            .expect("incremental cycle");
        let incr_s = t.elapsed().as_secs_f64();
        let calls2 = api.calls();
        let series = r1.snapshot.series.len();
        let _ = writeln!(md, "## Fleet-scale collection (synthetic fleet behind the `aws` traits)\n");
        let _ = writeln!(
            md,
            "{GROUPS} ASGs × (CPUUtilization + GroupDesiredCapacity + mem_used_percent) = {series} series, 5-minute period, 14-day lookback. \
         Each cycle is the daemon's: collect, write to a SQLite file (WAL), read the lookback back into the snapshot, \
         forecast when the hourly forecast schedule is due (the first cycle; the second reuses the stored forecasts), advise. \
         Lower bound = max(⌈queries ÷ 500⌉, ⌈datapoints ÷ 100,800⌉).\n"
        );
        let _ = writeln!(
            md,
            "| cycle | GetMetricData calls | lower bound | points fetched | wall time | of which forecasts | points/s |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
        for (name, r, calls, s) in [
            ("backfill (empty cache)", &r1, calls1, backfill_s),
            ("incremental (+5 min)", &r2, calls2, incr_s),
        ] {
            let _ = writeln!(
                md,
                "| {name} | {calls} | {} | {} | {:.2} s | {} | {:.0} |",
                r.metric_calls_lower_bound,
                r.snapshot.points_fetched,
                s,
                if r.forecast_ran {
                    format!(
                        "{:.2} s ({} series, {} cores)",
                        r.forecast_ms as f64 / 1e3,
                        r.outlooks.len(),
                        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
                    )
                } else {
                    "stored".to_string()
                },
                r.snapshot.points_fetched as f64 / s
            );
        }
        let _ = writeln!(md, "\nPoints in the cache after both cycles: {}.\n", r2.cached_points);
        drop(store);

        // 2. Demo cycles.
        eprintln!("bench: demo cycles on the simulated account ({RUNS} runs)...");
        let demo_cfg = headroom::cli::demo_config().expect("demo config");
        let (mut first, mut second, mut calls, mut points) = (vec![], vec![], 0, 0);
        for i in 0..RUNS {
            let mut store = fresh_db(&dir, &format!("demo{i}.db"));
            let sim = SimulatedAccount::new(42, now.timestamp());
            let t = Instant::now();
            let a = runtime::cycle(&sim, &demo_cfg, &mut store, "us-east-1", now)
                .await
                .expect("demo cycle");
            first.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            runtime::cycle(&sim, &demo_cfg, &mut store, "us-east-1", later)
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
