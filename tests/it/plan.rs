//! The seed profiles' plans, figure by figure: each expected value is computed here from the
//! formula and the profile's inputs (restated below), never copied from a seed or from
//! headroom's output, and every figure the plan prints must be pinned by one of these checks.

use headroom::config::{Config, Pricing, Tier};
use headroom::model::plan::{self, Plan, Profile};
use std::collections::BTreeSet;
use std::process::Command;

const GIB: f64 = 1_073_741_824.0;
const MONTH_S: f64 = 730.0 * 3600.0;

fn load(name: &str) -> (Plan, Config) {
    let cfg = Config::embedded().unwrap();
    let path = crate::support::repo().join("config/profiles").join(name);
    let body = std::fs::read_to_string(&path).unwrap();
    let p = Profile::parse(name, &body, &cfg).unwrap_or_else(|e| panic!("{e}"));
    (plan::plan(&p, &cfg).unwrap(), cfg)
}

struct Pins<'a> {
    plan: &'a Plan,
    seen: BTreeSet<String>,
}

impl<'a> Pins<'a> {
    fn new(plan: &'a Plan) -> Self {
        Pins {
            plan,
            seen: BTreeSet::new(),
        }
    }
    fn eq(&mut self, name: &str, want: f64) {
        let f = self.plan.figure(name).unwrap_or_else(|| panic!("plan has no figure {name}"));
        let tol = 1e-9 * want.abs().max(1.0);
        assert!((f.value - want).abs() <= tol, "{name}: got {}, want {want}", f.value);
        self.seen.insert(name.to_string());
    }
    fn done(self) {
        let all: BTreeSet<String> = self.plan.figures.iter().map(|f| f.name.clone()).collect();
        let unpinned: Vec<&String> = all.difference(&self.seen).collect();
        assert!(unpinned.is_empty(), "figures without a test: {unpinned:?}");
    }
    /// The tier figures of `prefix` for a tier bundle, from the price table.
    fn tier(&mut self, prefix: &str, t: &Tier, pricing: &Pricing) {
        let n = |k: &str| {
            if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            }
        };
        let sum = |f: &dyn Fn(&headroom::config::NodeGroup) -> f64| t.node_groups.iter().map(f).sum::<f64>();
        let price = |g: &headroom::config::NodeGroup| &pricing.instances[&g.instance_types[0]];
        self.eq(&n("tier_nodes_min"), sum(&|g| g.min as f64));
        self.eq(&n("tier_nodes_max"), sum(&|g| g.max as f64));
        self.eq(&n("tier_vcpu_min"), sum(&|g| g.min as f64 * price(g).vcpu));
        self.eq(&n("tier_vcpu_max"), sum(&|g| g.max as f64 * price(g).vcpu));
        self.eq(&n("tier_memory_min"), sum(&|g| g.min as f64 * price(g).memory_gib * GIB));
        self.eq(&n("tier_memory_max"), sum(&|g| g.max as f64 * price(g).memory_gib * GIB));
        let od = |g: &headroom::config::NodeGroup| price(g).on_demand_hourly.as_usd_f64();
        let spot = |g: &headroom::config::NodeGroup| od(g) * (1.0 - price(g).spot_discount);
        let own = |g: &headroom::config::NodeGroup| {
            if g.purchase == headroom::config::Purchase::Spot {
                spot(g)
            } else {
                od(g)
            }
        };
        let month = |x: f64| (x * 730.0 * 1e6).round() / 1e6;
        self.eq(&n("tier_nodes_monthly_on_demand_min"), month(sum(&|g| g.min as f64 * od(g))));
        self.eq(&n("tier_nodes_monthly_on_demand_max"), month(sum(&|g| g.max as f64 * od(g))));
        self.eq(&n("tier_nodes_monthly_spot_min"), month(sum(&|g| g.min as f64 * spot(g))));
        self.eq(&n("tier_nodes_monthly_spot_max"), month(sum(&|g| g.max as f64 * spot(g))));
        self.eq(&n("tier_nodes_monthly_designed_min"), month(sum(&|g| g.min as f64 * own(g))));
        self.eq(&n("tier_nodes_monthly_designed_max"), month(sum(&|g| g.max as f64 * own(g))));
        // At the desired counts, and the default blend: no commitment, 30 % on demand, 70 % spot.
        let od_d = month(sum(&|g| g.desired as f64 * od(g)));
        self.eq(&n("tier_nodes_monthly_on_demand_desired"), od_d);
        self.eq(&n("tier_nodes_monthly_spot_desired"), month(sum(&|g| g.desired as f64 * spot(g))));
        self.eq(
            &n("tier_nodes_monthly_designed_desired"),
            month(sum(&|g| g.desired as f64 * own(g))),
        );
        let blend = month(sum(&|g| g.desired as f64 * (0.3 * od(g) + 0.7 * spot(g))));
        self.eq(&n("tier_nodes_monthly_blended_desired"), blend);
        self.eq(
            &n("tier_nodes_monthly_blended_min"),
            month(sum(&|g| g.min as f64 * (0.3 * od(g) + 0.7 * spot(g)))),
        );
        self.eq(
            &n("tier_nodes_monthly_blended_max"),
            month(sum(&|g| g.max as f64 * (0.3 * od(g) + 0.7 * spot(g)))),
        );
        self.eq(&n("blended_saving_monthly"), od_d - blend);
        self.eq(&n("blended_saving_share"), (od_d - blend) / od_d);
    }
}

fn tier<'a>(cfg: &'a Config, name: &str) -> &'a Tier {
    cfg.sizing.tiers.iter().find(|t| t.name == name).unwrap()
}

fn ceil(x: f64) -> f64 {
    x.ceil()
}

#[test]
fn clearview_every_figure() {
    let (p, cfg) = load("clearview.toml");
    // Inputs of config/profiles/clearview.toml (seeds 000/001).
    let (users, total, active, peak_share) = (100.0, 1e6, 0.10, 0.05);
    let per_user_rps = 10.0 / 600.0; // 10 requests per 10-minute session
    let (req, resp, mem_user, inst_mem) = (5e3, 15e3, 100e6, 4e9);
    let (lo, hi, store_user, growth) = (50.0, 70.0, 50e3, 0.15);
    let buffer = 0.20; // 000 §8: "Maintain a 20% buffer"
    let mut pin = Pins::new(&p);
    let avg = users * per_user_rps;
    let dau = total * active;
    let peak_users = dau * peak_share;
    let peak = peak_users * per_user_rps;
    pin.eq("avg_rps", avg);
    pin.eq("dau", dau);
    pin.eq("peak_concurrent_users", peak_users);
    pin.eq("peak_rps", peak);
    for (label, rps) in [("avg", avg), ("peak", peak)] {
        pin.eq(&format!("bandwidth_in_{label}"), rps * req);
        pin.eq(&format!("bandwidth_out_{label}"), rps * resp);
        pin.eq(&format!("throughput_{label}"), rps * (req + resp));
        pin.eq(&format!("throughput_{label}_bits"), rps * (req + resp) * 8.0);
        pin.eq(&format!("transfer_{label}_per_day"), rps * (req + resp) * 86_400.0);
    }
    for (label, u) in [("avg", users), ("peak", peak_users)] {
        pin.eq(&format!("memory_{label}"), u * mem_user);
        pin.eq(&format!("instances_by_memory_{label}"), ceil(u * mem_user / inst_mem));
        pin.eq(&format!("instances_{label}_low"), ceil(u / hi));
        pin.eq(&format!("instances_{label}_high"), ceil(u / lo));
        // With the buffer: 5,000 × 1.2 = 6,000 users ÷ 50 = 120 instances at the peak's high
        // end; 500 GB × 1.2 = 600 GB ÷ 4 GB = 150 instances by memory.
        pin.eq(
            &format!("instances_by_memory_{label}_buffered"),
            ceil(u * (1.0 + buffer) * mem_user / inst_mem),
        );
        pin.eq(&format!("instances_{label}_low_buffered"), ceil(u * (1.0 + buffer) / hi));
        pin.eq(&format!("instances_{label}_high_buffered"), ceil(u * (1.0 + buffer) / lo));
    }
    assert_eq!(p.figure("instances_peak_high_buffered").map(|f| f.value), Some(120.0));
    pin.eq("storage", total * store_user);
    pin.eq("storage_buffered", total * store_user * (1.0 + buffer));
    // The growth table (issue 18 item 4): 15 % a month, compounded, after 3, 6, 12 and 24
    // months; instances at the conservative end (50 users each); stored data grows with the
    // users; the cost is the tier the grown users fall in, as designed, at desired counts.
    for n in [3.0, 6.0, 12.0, 24.0] {
        let u = users * (1.0f64 + growth).powf(n);
        pin.eq(&format!("users_m{n}"), u);
        pin.eq(&format!("instances_m{n}"), ceil(u / lo));
        pin.eq(&format!("instances_m{n}_buffered"), ceil(u * (1.0 + buffer) / lo));
        pin.eq(&format!("storage_m{n}"), total * store_user * (1.0f64 + growth).powf(n));
        let t = cfg
            .sizing
            .tiers
            .iter()
            .find(|t| t.concurrent_users.0 <= u && u < t.concurrent_users.1)
            .unwrap();
        let own = |g: &headroom::config::NodeGroup| {
            let pr = &cfg.pricing.instances[&g.instance_types[0]];
            let od = pr.on_demand_hourly.as_usd_f64();
            if g.purchase == headroom::config::Purchase::Spot {
                od * (1.0 - pr.spot_discount)
            } else {
                od
            }
        };
        let hourly: f64 = t.node_groups.iter().map(|g| g.desired as f64 * own(g)).sum();
        pin.eq(&format!("monthly_cost_m{n}"), (hourly * 730.0 * 1e6).round() / 1e6);
    }
    // 100 × 1.15^12 = 535 ≥ 500 (medium) in month 12; the other tiers' lower bounds likewise.
    for t in cfg.sizing.tiers.iter().filter(|t| t.concurrent_users.0 > users) {
        let m = ((t.concurrent_users.0 / users).ln() / (1.0f64 + growth).ln()).ceil();
        pin.eq(&format!("month_reaching_tier_{}", t.name), m);
        let mb = ((t.concurrent_users.0 / (users * (1.0 + buffer))).ln() / (1.0f64 + growth).ln()).ceil();
        pin.eq(&format!("month_reaching_tier_{}_buffered", t.name), mb);
    }
    assert_eq!(
        p.figure("month_reaching_tier_medium").map(|f| f.value),
        Some(12.0),
        "1.15^11 = 4.65 < 5 ≤ 1.15^12 = 5.35"
    );
    // Daily transfer counts each daily user's requests (004's formula, applied to 000's inputs).
    pin.eq("transfer_per_user", req * 10.0);
    pin.eq("daily_transfer", dau * req * 10.0);
    // 100 users are in the small tier; medium starts at 500.
    pin.tier("", tier(&cfg, "small"), &cfg.pricing);
    pin.eq("months_to_next_tier", ((500.0f64 / users).ln() / (1.0f64 + growth).ln()).ceil());
    pin.done();
    assert_eq!(p.tiers[0].tier, "small");
    assert_eq!(p.tiers[0].next_tier.as_deref(), Some("medium"));
}

#[test]
fn llm_chat_every_figure_at_every_tier() {
    let (p, cfg) = load("llm-chat.toml");
    let wl = &cfg.sizing.workload;
    let pr = &cfg.pricing;
    let mut pin = Pins::new(&p);
    // (scenario, users, backend pods/cpu/MB, frontend pods/cpu/MB, tier)
    let mib = 1_048_576.0 / 1e6;
    let runs = [
        ("", 1000.0, (10.0, 0.5, 512.0), (5.0, 0.2, 256.0), "medium"),
        ("small", 500.0, (3.0, 0.25, 256.0 * mib), (2.0, 0.1, 128.0 * mib), "small"),
        ("medium", 2000.0, (5.0, 0.5, 512.0 * mib), (3.0, 0.2, 256.0 * mib), "medium"),
        ("large", 10_000.0, (10.0, 1.0, 1024.0 * mib), (5.0, 0.5, 512.0 * mib), "large"),
        (
            "enterprise",
            20_000.0,
            (20.0, 2.0, 2048.0 * mib),
            (10.0, 1.0, 1024.0 * mib),
            "enterprise",
        ),
    ];
    for (sc, users, (bn, bc, bm), (f_n, fc, fm), tier_name) in runs {
        let n = |k: &str| if sc.is_empty() { k.to_string() } else { format!("{sc}.{k}") };
        let rps = users * 3.0 / 60.0;
        pin.eq(&n("avg_rps"), rps);
        let required = rps / 50.0;
        pin.eq(&n("required_pods"), required);
        let min = ceil(required * wl.spike_buffer);
        pin.eq(&n("min_pods"), min);
        pin.eq(&n("max_pods"), min * wl.max_multiplier);
        pin.eq(&n("users_per_pod"), 50.0 / (3.0 / 60.0));
        let cpu = bn * bc + f_n * fc;
        let mem_mb = bn * bm + f_n * fm;
        pin.eq(&n("total_pod_cpu"), cpu);
        pin.eq(&n("total_pod_memory"), mem_mb * 1e6);
        let by_cpu = ceil(cpu / wl.node_usable_cpu);
        let by_mem = ceil(mem_mb / wl.node_usable_memory_mb);
        pin.eq(&n("nodes_by_cpu"), by_cpu);
        pin.eq(&n("nodes_by_memory"), by_mem);
        pin.eq(&n("required_nodes"), by_cpu.max(by_mem));
        pin.eq(&n("recommended_nodes"), ceil(by_cpu.max(by_mem) * wl.node_buffer));
        // DynamoDB: 0.5 reads and 0.1 writes per user per second; 4 KB and 1 KB items fit one
        // block each; eventually consistent reads cost half a unit.
        let (reads, writes) = (users * 0.5, users * 0.1);
        let (rcu, wcu) = (reads * 0.5, writes);
        pin.eq(&n("dynamodb_reads_per_s"), reads);
        pin.eq(&n("dynamodb_writes_per_s"), writes);
        pin.eq(&n("dynamodb_rcu"), rcu);
        pin.eq(&n("dynamodb_wcu"), wcu);
        pin.eq(
            &n("dynamodb_on_demand_monthly"),
            rcu * MONTH_S / 1e6 * pr.dynamodb_read_per_million.as_usd_f64()
                + wcu * MONTH_S / 1e6 * pr.dynamodb_write_per_million.as_usd_f64(),
        );
        pin.eq(
            &n("dynamodb_provisioned_monthly"),
            730.0 * (rcu * pr.dynamodb_rcu_hour.as_usd_f64() + wcu * pr.dynamodb_wcu_hour.as_usd_f64()),
        );
        let t = tier(&cfg, tier_name);
        pin.tier(sc, t, pr);
        if t.concurrent_users.1.is_finite() {
            pin.eq(&n("tier_rps_at_upper_bound"), t.concurrent_users.1 * 3.0 / 60.0);
        }
    }
    pin.done();
    assert_eq!(
        p.tiers.iter().map(|t| t.tier.as_str()).collect::<Vec<_>>(),
        ["medium", "small", "medium", "large", "enterprise"]
    );
}

#[test]
fn microservices_every_figure() {
    let (p, cfg) = load("microservices.toml");
    let (v, g) = (cfg.pricing.fargate_vcpu_hour.as_usd_f64(), cfg.pricing.fargate_gb_hour.as_usd_f64());
    let mut pin = Pins::new(&p);
    pin.eq("peak_rps", 10_000.0 / 60.0);
    let services = [
        ("gateway", 0.25, 0.5),
        ("user", 0.5, 1.0),
        ("order", 0.25, 0.5),
        ("inventory", 0.5, 1.0),
        ("payment", 0.25, 0.5),
        ("notification", 0.25, 0.5),
        ("stream_processor", 0.5, 1.0),
    ];
    let (mut total, mut devtest) = (0.0, 0.0);
    for (name, cpu, mem) in services {
        let hourly = cpu * v + mem * g;
        pin.eq(&format!("fargate.{name}.task_hourly"), hourly);
        pin.eq(&format!("fargate.{name}.monthly"), hourly * 3.0 * 730.0);
        total += hourly * 3.0 * 730.0;
        devtest += hourly * 3.0 * 8.0 * 22.0;
    }
    pin.eq("fargate.compute_monthly", total);
    pin.eq("fargate.compute_monthly_devtest", devtest);
    // Seven services × 3 tasks = 21; 4 × 3 × 0.25 + 3 × 3 × 0.5 = 7.5 vCPU; 4 × 3 × 0.5 +
    // 3 × 3 × 1 = 15 GB.
    pin.eq("fargate.tasks_total", 21.0);
    pin.eq("fargate.vcpu_total", services.iter().map(|s| 3.0 * s.1).sum());
    pin.eq("fargate.memory_total", services.iter().map(|s| 3.0 * s.2 * 1e9).sum());
    assert_eq!(p.figure("fargate.vcpu_total").unwrap().value, 7.5);
    let rds = 0.098 * 3.0 * 2.0 * 730.0;
    let (cache, msk, mq) = (0.018 * 730.0, 0.096 * 3.0 * 730.0, 0.118 * 730.0);
    pin.eq("item.rds", rds);
    pin.eq("item.elasticache", cache);
    pin.eq("item.msk", msk);
    pin.eq("item.mq", mq);
    pin.eq("total.database", rds + cache + msk + mq);
    let (alb, proc) = (0.008 * 730.0, 0.006 * 10_000_000.0 / 1000.0);
    pin.eq("item.alb", alb);
    pin.eq("item.alb_processing", proc);
    pin.eq("total.load_balancer", alb + proc);
    pin.eq("item.efs", 0.30 * 50.0);
    pin.eq("total.storage", 0.30 * 50.0);
    let (cw, xray, secrets) = (0.30 * 20.0, 5.0 * 1.0, 0.40 * 10.0);
    pin.eq("item.cloudwatch", cw);
    pin.eq("item.xray", xray);
    pin.eq("item.secrets_manager", secrets);
    pin.eq("total.monitoring", cw + xray + secrets);
    pin.eq(
        "total_monthly",
        total + rds + cache + msk + mq + alb + proc + 15.0 + cw + xray + secrets,
    );
    pin.done();
}

#[test]
fn high_traffic_every_figure() {
    let (p, cfg) = load("high-traffic-500m.toml");
    let mut pin = Pins::new(&p);
    let dau: f64 = 500e6;
    let peak_users = dau * 0.05;
    let fleet = (peak_users / 2000.0).ceil();
    let od = cfg.pricing.instances["m5.2xlarge"].on_demand_hourly.as_usd_f64();
    pin.eq("peak_concurrent_users", peak_users);
    pin.eq("peak_instances", fleet);
    pin.eq("peak_fleet_hourly", fleet * od);
    pin.eq("peak_fleet_daily", fleet * od * 24.0);
    pin.eq("peak_fleet_hourly_at_stated_price", fleet * 3.5);
    pin.eq("peak_fleet_daily_at_stated_price", fleet * 3.5 * 24.0);
    pin.eq("baseline_instances", (fleet * 0.10).ceil());
    pin.eq("max_instances", (fleet * 1.2).ceil());
    pin.eq("peak_users_per_region", peak_users / 10.0);
    let per_region = (peak_users / 10.0 / 2000.0).ceil();
    pin.eq("instances_per_region", per_region);
    // users_per_instance low and high are both 2,000: the range collapses to one figure.
    pin.eq("instances_peak_low", fleet);
    pin.eq("instances_peak_high", fleet);
    pin.eq("db_instances", 10.0 * (1.0 + 4.0));
    let per_user = 50e3 * 10.0;
    pin.eq("transfer_per_user", per_user);
    let daily = dau * per_user;
    pin.eq("daily_transfer", daily);
    let peak_bits = daily / 86_400.0 * 10.0 * 8.0;
    pin.eq("peak_bandwidth", peak_bits);
    // Traffic from DAU (issue 18 item 2): 500M × 1 session × 10 requests = 5 × 10⁹ a day;
    // ÷ 86,400 s = 57,870 req/s; × peak factor 10 = 578,704 req/s; × 50 KB = 28.9 GB/s at the
    // peak = 231.5 Gbit/s (bytes × 8), the same as peak_bandwidth from the daily transfer.
    let per_day = dau * 1.0 * 10.0;
    let (avg, peak) = (per_day / 86_400.0, per_day / 86_400.0 * 10.0);
    pin.eq("requests_per_day", per_day);
    pin.eq("avg_rps", avg);
    pin.eq("peak_rps", peak);
    for (label, rps) in [("avg", avg), ("peak", peak)] {
        pin.eq(&format!("bandwidth_in_{label}"), rps * 50e3);
        pin.eq(&format!("throughput_{label}"), rps * 50e3);
        pin.eq(&format!("throughput_{label}_bits"), rps * 50e3 * 8.0);
        pin.eq(&format!("transfer_{label}_per_day"), rps * 50e3 * 86_400.0);
    }
    assert!((p.figure("throughput_peak_bits").unwrap().value - peak_bits).abs() < 1e-3);
    // Per region (an equal split over 10): 57,870 req/s and 23.1 Gbit/s each. Load balancers
    // by targets ⌈1,250 ÷ 1,000⌉ = 2, by request rate ⌈57,870 ÷ 100,000⌉ = 1: targets bind.
    pin.eq("peak_rps_per_region", peak / 10.0);
    pin.eq("peak_bandwidth_per_region", peak_bits / 10.0);
    pin.eq("albs_by_targets_per_region", (per_region / 1000.0).ceil());
    pin.eq("albs_by_rps_per_region", (peak / 10.0 / 100_000.0).ceil());
    pin.eq(
        "albs_per_region",
        (per_region / 1000.0).ceil().max((peak / 10.0 / 100_000.0).ceil()),
    );
    let albs = p.figure("albs_per_region").unwrap();
    assert!(albs.formula.contains("the target count binds"), "{}", albs.formula);
    pin.eq("origin_bandwidth", peak_bits * (1.0 - 0.9));
    pin.eq("app_bandwidth", peak_bits * (1.0 - 0.9) * (1.0 - 0.7));
    pin.eq("bandwidth_reduction", 1.0 / ((1.0 - 0.9) * (1.0 - 0.7)));
    pin.eq("storage", dau * 5e3);
    pin.eq("storage_growth_per_day", dau * 5e3 * 0.01);
    for (name, usd) in [("ec2_bad", 1_050_000.0), ("bandwidth_bad", 500_000.0), ("database_bad", 30_000.0)] {
        pin.eq(&format!("item.{name}"), usd);
    }
    for (name, usd) in [
        ("ec2_good", 210_000.0),
        ("bandwidth_good", 15_000.0),
        ("database_good", 7_680.0),
        ("cdn_alb_good", 50_000.0),
    ] {
        pin.eq(&format!("item.{name}"), usd);
    }
    let (bad, good) = (1_050_000.0 + 500_000.0 + 30_000.0, 210_000.0 + 15_000.0 + 7_680.0 + 50_000.0);
    pin.eq("total.bad", bad);
    pin.eq("total.good", good);
    pin.eq("savings_share", 1.0 - good / bad);
    // 25M peak users are far into the top tier.
    pin.tier("", tier(&cfg, "enterprise"), &cfg.pricing);
    pin.done();
}

fn headroom(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .current_dir(crate::support::repo().display().to_string())
        .output()
        .unwrap()
}

/// One audit finding: (figure, verdict, location mentions a 5, figures it is inconsistent with).
type Finding = (String, String, bool, Vec<String>);

/// Runs an audit and returns (exit code, findings) from its JSON.
fn audit(file: &str) -> (i32, Vec<Finding>) {
    let out = headroom(&["plan", "--audit", &format!("config/profiles/{file}"), "--json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let rows = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let verdict = match &f["verdict"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default(),
            };
            let inc = f["inconsistent_with"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect();
            (
                f["figure"].as_str().unwrap().to_string(),
                verdict,
                f["location"].as_str().unwrap().contains('5'),
                inc,
            )
        })
        .collect();
    (out.status.code().unwrap_or(-1), rows)
}

fn verdict_of(rows: &[(String, String, bool, Vec<String>)], figure: &str, nth: usize) -> String {
    rows.iter()
        .filter(|r| r.0 == figure)
        .nth(nth)
        .map(|r| r.1.clone())
        .unwrap_or_else(|| panic!("no finding {figure}"))
}

#[test]
fn audits_flag_the_seeds_wrong_figures_and_pass_the_right_ones() {
    // clearview: §5.1's 50-70 peak instances contradict §4.1 and the formula (72-100); 2
    // instances cannot hold 10 GB at 4 GB each.
    let (code, rows) = audit("clearview-stated.toml");
    assert_eq!(code, 1);
    for ok in [
        "avg_rps",
        "dau",
        "peak_concurrent_users",
        "bandwidth_in_avg",
        "peak_rps",
        "throughput_peak",
        "memory_peak",
        "instances_by_memory_peak",
        "storage",
    ] {
        assert_eq!(verdict_of(&rows, ok, 0), "Correct", "{ok}");
    }
    assert_eq!(verdict_of(&rows, "instances_peak_low", 0), "Correct");
    assert_eq!(verdict_of(&rows, "instances_peak_low", 1), "Off");
    assert_eq!(verdict_of(&rows, "instances_peak_high", 1), "Off");
    assert!(
        rows.iter().filter(|r| r.0 == "instances_peak_high").all(|r| !r.3.is_empty()),
        "the two ranges are inconsistent"
    );
    assert_eq!(verdict_of(&rows, "instances_by_memory_avg", 0), "Off");

    // 003: Fargate lines are about ten times their rates; the total follows.
    let (code, rows) = audit("microservices-stated.toml");
    assert_eq!(code, 1);
    for f in [
        "fargate.gateway.monthly",
        "fargate.user.monthly",
        "fargate.compute_monthly",
        "total_monthly",
    ] {
        assert_eq!(verdict_of(&rows, f, 0), "Factor", "{f}");
    }
    for f in ["fargate.gateway.task_hourly", "fargate.user.task_hourly"] {
        assert_eq!(verdict_of(&rows, f, 0), "Off", "{f}");
    }
    for f in [
        "item.rds",
        "item.msk",
        "item.mq",
        "item.elasticache",
        "total.database",
        "item.alb_processing",
        "total.load_balancer",
        "item.efs",
        "total.monitoring",
    ] {
        assert_eq!(verdict_of(&rows, f, 0), "Correct", "{f}");
    }

    // 004: PB for TB (x1000), GB/s read as Gbit/s, $3.50 for a $0.384 instance.
    let (code, rows) = audit("high-traffic-500m-stated.toml");
    assert_eq!(code, 1);
    for f in [
        "daily_transfer",
        "storage",
        "storage_growth_per_day",
        "peak_bandwidth",
        "origin_bandwidth",
        "app_bandwidth",
        "peak_fleet_hourly",
        "peak_fleet_daily",
        "albs_per_region",
    ] {
        assert_eq!(verdict_of(&rows, f, 0), "Factor", "{f}");
    }
    for f in [
        "peak_concurrent_users",
        "peak_instances",
        "peak_fleet_hourly_at_stated_price",
        "baseline_instances",
        "max_instances",
        "instances_per_region",
        "db_instances",
        "total.bad",
        "total.good",
        "savings_share",
        "transfer_per_user",
    ] {
        assert_eq!(verdict_of(&rows, f, 0), "Correct", "{f}");
    }

    // 002: tier RPS ranges are 4x the formula; Tier 1's 25 RCU / 10 WCU are a fifth of need.
    let (code, rows) = audit("llm-chat-stated.toml");
    assert_eq!(code, 1);
    for f in [
        "small.tier_rps_at_upper_bound",
        "medium.tier_rps_at_upper_bound",
        "large.tier_rps_at_upper_bound",
        "small.dynamodb_rcu",
        "small.dynamodb_wcu",
        "users_per_pod",
    ] {
        assert_eq!(verdict_of(&rows, f, 0), "Factor", "{f}");
    }
    for f in [
        "dynamodb_rcu",
        "dynamodb_wcu",
        "small.tier_vcpu_max",
        "medium.tier_vcpu_max",
        "large.tier_vcpu_max",
        "enterprise.tier_vcpu_max",
        "medium.dynamodb_rcu",
        "small.tier_nodes_monthly_on_demand_max",
    ] {
        assert_eq!(verdict_of(&rows, f, 0), "Correct", "{f}");
    }
}

#[test]
fn bad_plan_input_is_a_clear_error_with_exit_2() {
    let many_nines = format!("growth_months={}", "9".repeat(300));
    let cases: &[(&[&str], &str)] = &[
        (
            &["plan", "--set", "concurrent_users=0"],
            "--set: concurrent_users: `0` must be above zero (users online at the same time)",
        ),
        (
            &["plan", "--set", "concurrent_users=-5"],
            "--set: concurrent_users: `-5` must be above zero",
        ),
        (
            &["plan", "--set", "instance_type=t9.huge"],
            "--set: instance_type: unknown instance type `t9.huge`",
        ),
        (
            &["plan", "--set", "link_capacity=5 KB"],
            "--set: link_capacity: `5 KB` is a size, but a bit rate such as `10 Mbit/s` or `29 Gbps` is expected here",
        ),
        (
            &["plan", "--set", "peak_share=150 %"],
            "--set: peak_share: `150 %` is a share above 100 %",
        ),
        // Issue 21, item 8: a negative share is below 0 %, not above 100 %.
        (
            &["plan", "--set", "peak_share=-10 %"],
            "--set: peak_share: `-10 %` is a share below 0 % (a share is between 0 and 100 %)",
        ),
        // Issue 21, item 8: figures that overflow are an error naming one, not dropped.
        (
            &["plan", "--set", "concurrent_users=1e308", "--set", "requests_per_user_per_minute=3"],
            "does not fit in a number: the inputs are too large (or a divisor too small) to plan with",
        ),
        // Issue 35, item 4: a divisor near zero gave 0 instances (1e-308: ∞ read as 0) or
        // 18,446,744,073,709,551,615 (1e-300: saturated), exit 0.
        (
            &[
                "plan",
                "--set",
                "concurrent_users=1000",
                "--set",
                "users_per_instance_low=1e-308",
                "--set",
                "users_per_instance_high=200",
            ],
            "figure instances_avg_high (⌈concurrent_users ÷ users_per_instance_low⌉) does not fit in a number",
        ),
        (
            &[
                "plan",
                "--set",
                "concurrent_users=1000",
                "--set",
                "users_per_instance_low=1e-300",
                "--set",
                "users_per_instance_high=200",
            ],
            "figure instances_avg_high (⌈concurrent_users ÷ users_per_instance_low⌉) does not fit in a number",
        ),
        // Issue 35, item 11: the source is named (was "error: : growth_months"), and a
        // 300-digit month count is refused in a short message, not carried into figure names.
        (
            &[
                "plan",
                "--set",
                "concurrent_users=1000",
                "--set",
                "growth_monthly=10 %",
                "--set",
                "growth_months=abc",
            ],
            "error: --set: growth_months: \"abc\" is not a positive number",
        ),
        (
            &[
                "plan",
                "--set",
                "concurrent_users=1000",
                "--set",
                "growth_monthly=10 %",
                "--set",
                &many_nines,
            ],
            "error: --set: growth_months: 1.000e300 is not a whole number of months from 1 to 1200",
        ),
        (
            &["plan", "--set", "concurent_users=5"],
            "--set: concurent_users: unknown input (known inputs: ",
        ),
        (&["plan", "--set", "concurrent_users"], "expected key=value"),
        (
            &["plan", "--profile", "config/profiles/nope.toml"],
            "cannot read profile config/profiles/nope.toml",
        ),
        (&["plan"], "nothing to plan"),
    ];
    for (args, want) in cases {
        let out = headroom(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // A profile with a missing price: a tier whose type is not in the table.
    let cfg = Config::embedded().unwrap();
    let mut no_price = cfg.clone();
    no_price.pricing.instances.remove("t3.medium");
    let p = Profile::parse("x", "[inputs]\nconcurrent_users = 10\n", &cfg).unwrap();
    let e = plan::plan(&p, &no_price).unwrap_err();
    assert_eq!(
        e.to_string(),
        ": tier: tier small: no price for instance type t3.medium in pricing.toml"
    );
}

#[test]
fn plan_prints_formulas_and_json_carries_each_figure() {
    let out = headroom(&[
        "plan",
        "--profile",
        "config/profiles/clearview.toml",
        "--set",
        "concurrent_users=600",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("= concurrent_users × requests_per_session ÷ session_length"), "{s}");
    assert!(s.contains("-> medium [500, 2,000)"), "600 users are medium: {s}");
    let out = headroom(&["plan", "--profile", "config/profiles/clearview.toml", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["figures"].as_array().unwrap().iter().find(|f| f["name"] == "avg_rps").unwrap();
    assert_eq!(f["unit"], "req/s");
    assert_eq!(f["value"].as_f64(), Some(100.0 * 10.0 / 600.0));
    assert!(f["formula"].as_str().unwrap().contains("concurrent_users"));
    assert_eq!(f["inputs"]["concurrent_users"], "100");
}

/// The purchase comparison: every option's monthly cost at min and max, from the price table,
/// including the floor on 1-yr RIs with the mix above it.
#[test]
fn purchase_comparison_prices_every_option_from_the_table() {
    let (p, cfg) = load("llm-chat.toml");
    let t = &p.tiers[0];
    let tier = cfg.sizing.tiers.iter().find(|x| x.name == t.tier).unwrap();
    let pr = &cfg.pricing;
    let month = |x: f64| (x * 730.0 * 1e6).round() / 1e6;
    let at = |rate: &dyn Fn(&headroom::config::InstancePrice, headroom::config::Purchase) -> f64, max: bool| {
        month(
            tier.node_groups
                .iter()
                .map(|g| f64::from(if max { g.max } else { g.min }) * rate(&pr.instances[&g.instance_types[0]], g.purchase))
                .sum(),
        )
    };
    let row = |name: &str| {
        t.monthly_by_option
            .iter()
            .find(|o| o.0 == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone()
    };
    let ri1 = |q: &headroom::config::InstancePrice, _| q.ri_1yr_hourly.as_usd_f64();
    let sp3 = |q: &headroom::config::InstancePrice, _| q.sp_3yr_hourly.as_usd_f64();
    let mix = |q: &headroom::config::InstancePrice, _| {
        let od = q.on_demand_hourly.as_usd_f64();
        0.3 * od + 0.7 * od * (1.0 - q.spot_discount)
    };
    let r = row("1-yr RI");
    assert!((r.1 - at(&ri1, false)).abs() < 1e-6 && (r.2 - at(&ri1, true)).abs() < 1e-6, "{r:?}");
    let r = row("3-yr Savings Plan");
    assert!((r.1 - at(&sp3, false)).abs() < 1e-6 && (r.2 - at(&sp3, true)).abs() < 1e-6, "{r:?}");
    let r = row("min on 1-yr RI, above it 30 % on-demand / 70 % spot");
    let want_max = at(&ri1, false) + at(&mix, true) - at(&mix, false);
    assert!((r.1 - at(&ri1, false)).abs() < 1e-6, "{r:?}");
    assert!((r.2 - want_max).abs() < 1e-5, "{r:?} vs {want_max}");
}

/// Issue 18 item 3: a safety buffer on sizing, shown both ways. Expected counts are computed
/// here: ⌈users × (1 + buffer) ÷ users per instance⌉, ⌈memory × (1 + buffer) ÷ instance
/// memory⌉ (GB = 10⁹ bytes, GiB = 2³⁰), storage × (1 + buffer).
#[test]
fn a_safety_buffer_sizes_instances_and_storage_both_ways() {
    let cfg = Config::embedded().unwrap();
    let body = |mem: &str, buffer: &str| {
        format!(
            "[inputs]\nconcurrent_users = 1000\nusers_per_instance_low = 50\nusers_per_instance_high = 70\n\
             memory_per_user = \"100 MB\"\ninstance_memory = \"{mem}\"\ntotal_users = 1_000_000\n\
             storage_per_user = \"50 KB\"\n{buffer}"
        )
    };
    let (users, b) = (1000.0_f64, 0.25_f64);
    let ceil = |x: f64| x.ceil();
    let memory = users * 100e6; // 100 MB per user
    let storage = 1e6 * 50e3; // 50 KB per registered user
    for (mem, mem_bytes) in [("4 GB", 4e9), ("4 GiB", 4.0 * GIB)] {
        for buffer in ["buffer = \"25 %\"\n", "buffer = 0.25\n"] {
            let p = Profile::parse("buffer", &body(mem, buffer), &cfg).unwrap_or_else(|e| panic!("{e}"));
            let plan = plan::plan(&p, &cfg).unwrap();
            let v = |n: &str| plan.figure(n).unwrap_or_else(|| panic!("no figure {n}")).value;
            // Without the buffer: ⌈1000 ÷ 70⌉ = 15, ⌈1000 ÷ 50⌉ = 20; with it: ⌈1250 ÷ 70⌉ = 18,
            // ⌈1250 ÷ 50⌉ = 25.
            assert_eq!(v("instances_avg_low"), ceil(users / 70.0));
            assert_eq!(v("instances_avg_low_buffered"), ceil(users * (1.0 + b) / 70.0));
            assert_eq!(v("instances_avg_high"), ceil(users / 50.0));
            assert_eq!(v("instances_avg_high_buffered"), ceil(users * (1.0 + b) / 50.0));
            // 100 GB of memory: 25 instances of 4 GB (32 buffered); 24 of 4 GiB (30 buffered).
            assert_eq!(v("instances_by_memory_avg"), ceil(memory / mem_bytes));
            assert_eq!(v("instances_by_memory_avg_buffered"), ceil(memory * (1.0 + b) / mem_bytes));
            assert!((v("storage") - storage).abs() < 1e-3);
            assert!((v("storage_buffered") - storage * (1.0 + b)).abs() < 1e-3);
            let f = plan.figure("instances_by_memory_avg_buffered").unwrap();
            assert_eq!(f.formula, "⌈memory_avg × (1 + buffer) ÷ instance_memory⌉");
            assert_eq!(f.inputs["buffer"], format!("{} %", b * 100.0), "{:?}", f.inputs);
        }
    }
    assert_eq!(ceil(memory * 1.25 / (4.0 * GIB)), 30.0, "the GiB case rounds as the comment says");
    // No buffer: no buffered figures.
    let p = Profile::parse("none", &body("4 GB", ""), &cfg).unwrap();
    let plan = plan::plan(&p, &cfg).unwrap();
    assert!(plan.figures.iter().all(|f| !f.name.ends_with("_buffered")));
    // A negative buffer is refused with the key named.
    let e = Profile::parse("neg", &body("4 GB", "buffer = \"-5 %\"\n"), &cfg).unwrap_err();
    assert!(e.to_string().contains("buffer"), "{e}");
}

/// Issue 18 item 5: purchase assumptions as inputs. With spot_discount 60 %, commitment_share
/// 40 % and on_demand_share 20 %, each figure is Σ over the tier's groups of their count ×
/// the hourly price the assumptions give, × 730 h (prices from pricing.toml here).
#[test]
fn purchase_assumptions_set_per_plan_price_min_desired_max_and_the_blend() {
    let cfg = Config::embedded().unwrap();
    let body = "[inputs]\nconcurrent_users = 1000\nspot_discount = \"60 %\"\ncommitment_share = \"40 %\"\n\
                on_demand_share = \"20 %\"\n";
    let p = Profile::parse("assumptions", body, &cfg).unwrap_or_else(|e| panic!("{e}"));
    let plan = plan::plan(&p, &cfg).unwrap();
    let v = |n: &str| plan.figure(n).unwrap_or_else(|| panic!("no figure {n}")).value;
    let t = cfg
        .sizing
        .tiers
        .iter()
        .find(|t| t.concurrent_users.0 <= 1000.0 && 1000.0 < t.concurrent_users.1)
        .unwrap();
    let price = |g: &headroom::config::NodeGroup| &cfg.pricing.instances[&g.instance_types[0]];
    let od = |g: &headroom::config::NodeGroup| price(g).on_demand_hourly.as_usd_f64();
    let sp1 = |g: &headroom::config::NodeGroup| price(g).sp_1yr_hourly.as_usd_f64();
    let (d, c, s) = (0.60, 0.40, 0.20);
    let spot = |g: &headroom::config::NodeGroup| od(g) * (1.0 - d);
    let month = |x: f64| (x * 730.0 * 1e6).round() / 1e6;
    let sum = |f: &dyn Fn(&headroom::config::NodeGroup) -> f64| t.node_groups.iter().map(f).sum::<f64>();
    let near =
        |got: f64, want: f64, what: &str| assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "{what}: got {got}, want {want}");
    near(
        v("tier_nodes_monthly_spot_min"),
        month(sum(&|g| g.min as f64 * spot(g))),
        "spot at min",
    );
    near(
        v("tier_nodes_monthly_spot_max"),
        month(sum(&|g| g.max as f64 * spot(g))),
        "spot at max",
    );
    near(
        v("tier_nodes_monthly_spot_desired"),
        month(sum(&|g| g.desired as f64 * spot(g))),
        "spot at desired",
    );
    let od_d = month(sum(&|g| g.desired as f64 * od(g)));
    near(v("tier_nodes_monthly_on_demand_desired"), od_d, "on-demand at desired");
    // The blend: 40 % on the 1-yr Savings Plan; of the other 60 %, 20 % on demand, 80 % spot.
    let blend = month(sum(&|g| {
        g.desired as f64 * (c * sp1(g) + (1.0 - c) * (s * od(g) + (1.0 - s) * spot(g)))
    }));
    near(v("tier_nodes_monthly_blended_desired"), blend, "blend");
    for (end, count) in [
        (
            "min",
            &(|g: &headroom::config::NodeGroup| g.min as f64) as &dyn Fn(&headroom::config::NodeGroup) -> f64,
        ),
        ("max", &|g: &headroom::config::NodeGroup| g.max as f64),
    ] {
        let want = month(sum(&|g| count(g) * (c * sp1(g) + (1.0 - c) * (s * od(g) + (1.0 - s) * spot(g)))));
        near(v(&format!("tier_nodes_monthly_blended_{end}")), want, end);
    }
    near(v("blended_saving_monthly"), od_d - blend, "saving in dollars");
    near(v("blended_saving_share"), (od_d - blend) / od_d, "saving in percent");
    assert!(v("blended_saving_share") > 0.0 && v("blended_saving_share") < 1.0);
    let f = plan.figure("tier_nodes_monthly_blended_desired").unwrap();
    assert_eq!(f.inputs["spot_discount"].parse::<f64>().ok(), Some(d), "{:?}", f.inputs);
    // The mix row of the purchase table follows the plan's on-demand share: 20 % / 80 %.
    assert!(
        plan.tiers[0].monthly_by_option.iter().any(|o| o.0 == "20 % on-demand / 80 % spot"),
        "{:?}",
        plan.tiers[0].monthly_by_option
    );
    // The commitment bought may be a 3-yr RI instead: 40 % of the desired nodes at its rate.
    let p = Profile::parse("ri", &format!("{body}commitment = \"3-yr RI\"\n"), &cfg).unwrap();
    let plan3 = plan::plan(&p, &cfg).unwrap();
    let ri3 = |g: &headroom::config::NodeGroup| price(g).ri_3yr_hourly.as_usd_f64();
    let want = month(sum(&|g| {
        g.desired as f64 * (c * ri3(g) + (1.0 - c) * (s * od(g) + (1.0 - s) * spot(g)))
    }));
    near(
        plan3.figure("tier_nodes_monthly_blended_desired").unwrap().value,
        want,
        "3-yr RI blend",
    );
    let bad = Profile::parse("bad", &format!("{body}commitment = \"2-yr RI\"\n"), &cfg);
    assert!(bad.as_ref().is_err_and(|e| e.to_string().contains("commitment")), "{bad:?}");
    // A discount of 100 % or more is refused with its key.
    let bad = Profile::parse("bad", "[inputs]\nconcurrent_users = 1000\nspot_discount = \"120 %\"\n", &cfg);
    assert!(bad.as_ref().is_err_and(|e| e.to_string().contains("spot_discount")), "{bad:?}");
}

/// Issue 18 item 4: the growth table's options: given months, user thresholds and the buffer
/// (the buffered users reach a line sooner), storage compounding daily when its daily growth is
/// given, and a bad month list refused with its key.
#[test]
fn the_growth_table_takes_months_thresholds_and_the_buffer() {
    let cfg = Config::embedded().unwrap();
    let body = "[inputs]\nconcurrent_users = 200\ngrowth_monthly = \"10 %\"\nbuffer = \"30 %\"\n\
                users_per_instance_low = 40\ntotal_users = 100_000\nstorage_per_user = \"1 MB\"\n\
                storage_growth_daily = \"0.5 %\"\ngrowth_months = \"1, 18\"\nuser_thresholds = \"1_000, 250\"\n";
    let p = Profile::parse("growth", body, &cfg).unwrap_or_else(|e| panic!("{e}"));
    let plan = plan::plan(&p, &cfg).unwrap();
    let v = |n: &str| plan.figure(n).unwrap_or_else(|| panic!("no figure {n}")).value;
    let (users, g, b) = (200.0f64, 0.10f64, 0.30f64);
    for n in [1.0, 18.0] {
        let u = users * (1.0 + g).powf(n);
        assert!((v(&format!("users_m{n}")) - u).abs() < 1e-9 * u);
        assert_eq!(v(&format!("instances_m{n}")), (u / 40.0).ceil());
        assert_eq!(v(&format!("instances_m{n}_buffered")), (u * (1.0 + b) / 40.0).ceil());
        // 100,000 users × 1 MB, growing 0.5 % a day for n × 365/12 days.
        let st = 1e5 * 1e6 * 1.005f64.powf(n * 365.0 / 12.0);
        assert!((v(&format!("storage_m{n}")) - st).abs() < 1e-6 * st);
    }
    assert!(plan.figure("users_m3").is_none(), "only the given months");
    // 1,000 users: ⌈ln(1000/200) / ln 1.1⌉ = ⌈16.89⌉ = 17; buffered ⌈ln(1000/260) / ln 1.1⌉ = ⌈14.13⌉ = 15.
    let m = |line: f64, from: f64| ((line / from).ln() / (1.0 + g).ln()).ceil();
    assert_eq!(v("month_reaching_users_1000"), m(1000.0, users));
    assert_eq!(v("month_reaching_users_1000_buffered"), m(1000.0, users * (1.0 + b)));
    assert_eq!((m(1000.0, users), m(1000.0, 260.0)), (17.0, 15.0));
    // 250: month 3 (1.1^3 = 1.331 ≥ 1.25), but the buffered 260 are past it already: month 0.
    assert_eq!(v("month_reaching_users_250"), 3.0);
    assert_eq!(v("month_reaching_users_250_buffered"), 0.0);
    // A month list that is not numbers is refused, naming the key.
    let bad = body.replace("\"1, 18\"", "\"soon\"");
    let p = Profile::parse("growth", &bad, &cfg).unwrap();
    let e = plan::plan(&p, &cfg).unwrap_err();
    assert!(e.to_string().contains("growth_months") && e.to_string().contains("soon"), "{e}");
}

/// Issue 18 item 1: a figure given with `--set` is used downstream, shown as given, and a
/// contradiction with its own inputs is reported. Expected values from the formulas here:
/// clearview's peak is 1,000,000 × 10 % × 5 % = 5,000 users; its per-user rate 10 ÷ 600 s.
#[test]
fn a_given_figure_flows_downstream_and_a_contradiction_is_reported() {
    let cfg = Config::embedded().unwrap();
    let with = |extra: &str| seed_with("clearview.toml", extra);
    let computed_peak = 1e6 * 0.10 * 0.05;
    let plan = with("peak_concurrent_users = 6000");
    let f = plan.figure("peak_concurrent_users").unwrap();
    assert!(f.given && f.value == 6000.0 && f.formula == "given", "{f:?}");
    let v = |n: &str| plan.figure(n).unwrap().value;
    assert!((v("peak_rps") - 6000.0 * 10.0 / 600.0).abs() < 1e-9);
    assert_eq!(v("instances_peak_high"), (6000.0f64 / 50.0).ceil());
    assert_eq!(v("memory_peak"), 6000.0 * 100e6);
    assert!(!plan.figure("peak_rps").unwrap().given, "computed from the given figure");
    let note = plan
        .notes
        .iter()
        .find(|n| n.contains("peak_concurrent_users"))
        .expect("a contradiction note");
    assert!(note.contains("given as 6,000 users") && note.contains("give 5,000 users"), "{note}");
    // Given as what the inputs give: no note.
    let plan = with(&format!("peak_concurrent_users = {computed_peak}"));
    assert!(plan.notes.iter().all(|n| !n.contains("peak_concurrent_users")), "{:?}", plan.notes);
    assert!(plan.figure("peak_concurrent_users").unwrap().given);

    // A given figure with nothing to compute it from: peak_rps alone. 2,000 req/s × (5 + 15) KB
    // = 40 MB/s = 320 Mbit/s (bytes × 8).
    let p = Profile::parse(
        "x",
        "[inputs]\npeak_rps = 2000\nrequest_size = \"5 KB\"\nresponse_size = \"15 KB\"\nstorage = \"2 TB\"\nbuffer = \"10 %\"\n",
        &cfg,
    )
    .unwrap();
    let plan = plan::plan(&p, &cfg).unwrap();
    let v = |n: &str| plan.figure(n).unwrap_or_else(|| panic!("no {n}")).value;
    assert!(plan.figure("peak_rps").unwrap().given);
    assert_eq!(v("bandwidth_in_peak"), 2000.0 * 5e3);
    assert_eq!(v("throughput_peak_bits"), 2000.0 * 20e3 * 8.0);
    assert!(plan.figure("storage").unwrap().given);
    assert!((v("storage_buffered") - 2e12 * 1.1).abs() < 1.0);
    // The binary's JSON marks each figure given or computed.
    let out = headroom(&["plan", "--set", "peak_rps=2000", "--set", "request_size=5KB", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fig = |n: &str| j["figures"].as_array().unwrap().iter().find(|f| f["name"] == n).cloned().unwrap();
    assert_eq!(fig("peak_rps")["given"], true);
    assert_eq!(fig("bandwidth_in_peak")["given"], false);
}

/// The plan of a seed profile with `extra` lines added to its inputs.
fn seed_with(name: &str, extra: &str) -> Plan {
    let path = crate::support::repo().join("config/profiles").join(name);
    let base = std::fs::read_to_string(&path).unwrap();
    plan_of(&base.replace("[inputs]\n", &format!("[inputs]\n{extra}\n")))
}

fn plan_of(body: &str) -> Plan {
    let cfg = Config::embedded().unwrap();
    let p = Profile::parse("test", body, &cfg).unwrap_or_else(|e| panic!("{e}"));
    plan::plan(&p, &cfg).unwrap_or_else(|e| panic!("{e}"))
}

fn value(p: &Plan, n: &str) -> f64 {
    p.figure(n).unwrap_or_else(|| panic!("no figure {n}")).value
}

fn close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{what}: got {got}, want {want}");
}

/// Issue 18 item 2: traffic from daily active users, per region with a split, and load
/// balancers by each limit with the binding one named. The arithmetic, by hand:
/// 2,000,000 DAU × 40 requests a day = 80,000,000 requests a day; ÷ 86,400 s = 925.93 req/s
/// on average; × peak factor 6 = 5,555.6 req/s at the peak. At 20 KB per request and 80 KB
/// per response the peak moves 5,555.6 × 100,000 B = 555.6 MB/s = 4.444 Gbit/s (bytes × 8,
/// not × 1). us-east-1 takes 50 %: 2,777.8 req/s and 2.222 Gbit/s; peak users 2,000,000 ×
/// 10 % × 50 % = 100,000, ÷ 400 per instance = 250 instances.
#[test]
fn traffic_from_daily_users_splits_over_regions_and_sizes_load_balancers() {
    let body = r#"
[inputs]
daily_active_users = 2_000_000
requests_per_user_per_day = 40
peak_factor = 6
request_size = "20 KB"
response_size = "80 KB"
peak_share = "10 %"
users_per_instance_low = 400
users_per_instance_high = 400
region_split = "us-east-1=50%, eu-west-1=30%, ap-south-1=20%"
instances_per_alb = 100
alb_max_rps = 1_000
alb_max_bandwidth = "1 Gbps"
"#;
    let p = plan_of(body);
    let per_day = 2e6 * 40.0;
    let avg = per_day / 86_400.0;
    let peak = avg * 6.0;
    close(value(&p, "requests_per_day"), per_day, "requests_per_day");
    close(value(&p, "avg_rps"), avg, "avg_rps");
    close(value(&p, "peak_rps"), peak, "peak_rps");
    let bytes_per_s = peak * (20e3 + 80e3);
    close(value(&p, "throughput_peak"), bytes_per_s, "throughput_peak (bytes/s)");
    close(value(&p, "throughput_peak_bits"), bytes_per_s * 8.0, "throughput_peak_bits (bit/s)");
    close(value(&p, "throughput_avg_bits"), avg * 100e3 * 8.0, "throughput_avg_bits");
    // 4.444 Gbit/s: the unit boundary a document gets wrong when it forgets the × 8.
    assert!((value(&p, "throughput_peak_bits") / 1e9 - 4.444).abs() < 0.001);
    let peak_users: f64 = 2e6 * 0.10;
    for (name, share) in [("us_east_1", 0.5f64), ("eu_west_1", 0.3), ("ap_south_1", 0.2)] {
        let users = peak_users * share;
        let inst = (users / 400.0).ceil();
        let rps = peak * share;
        let bits = bytes_per_s * 8.0 * share;
        close(value(&p, &format!("peak_users_region_{name}")), users, "users");
        close(value(&p, &format!("instances_region_{name}")), inst, "instances");
        close(value(&p, &format!("peak_rps_region_{name}")), rps, "rps");
        close(value(&p, &format!("peak_bandwidth_region_{name}")), bits, "bandwidth");
        let (t, r, b) = ((inst / 100.0).ceil(), (rps / 1000.0).ceil(), (bits / 1e9).ceil());
        close(value(&p, &format!("albs_by_targets_region_{name}")), t, "by targets");
        close(value(&p, &format!("albs_by_rps_region_{name}")), r, "by rps");
        close(value(&p, &format!("albs_by_bandwidth_region_{name}")), b, "by bandwidth");
        close(value(&p, &format!("albs_region_{name}")), t.max(r).max(b), "albs");
    }
    // us-east-1: 250 instances → 3 by targets, 2,777.8 req/s → 3 by rate, 2.22 Gbit/s → 3 by
    // bandwidth: all three bind. ap-south-1: 100 instances → 1, 1,111 req/s → 2, 0.89 Gbit/s
    // → 1: the request rate binds.
    let f = p.figure("albs_region_ap_south_1").unwrap();
    assert!(f.formula.contains("the request rate binds"), "{}", f.formula);
    let f = p.figure("albs_region_us_east_1").unwrap();
    assert!(f.formula.contains("bind alike"), "{}", f.formula);
    // Equal split without region_split: 4 regions take a quarter each; one limit given.
    let p = plan_of(&body.replace("region_split = \"us-east-1=50%, eu-west-1=30%, ap-south-1=20%\"", "regions = 4"));
    close(value(&p, "peak_rps_per_region"), peak / 4.0, "per region");
    close(
        value(&p, "albs_per_region"),
        ((peak_users / 4.0 / 400.0).ceil() / 100.0)
            .ceil()
            .max((peak / 4.0 / 1000.0).ceil())
            .max((bytes_per_s * 8.0 / 4.0 / 1e9).ceil()),
        "albs",
    );
    // Without instances_per_alb the targets limit is AWS's default quota, 1,000 per ALB:
    // 100,000 users in us-east-1 ÷ 400 = 250 instances → 1 ALB by targets.
    let p = plan_of(&body.replace("instances_per_alb = 100\n", ""));
    close(
        value(&p, "albs_by_targets_region_us_east_1"),
        ((peak_users * 0.5 / 400.0).ceil() / 1000.0).ceil(),
        "default quota",
    );
    let f = p.figure("albs_by_targets_region_us_east_1").unwrap();
    assert!(f.inputs["instances_per_alb"].contains("AWS's default quota"), "{:?}", f.inputs);
    // Sessions instead of requests per user: 3 sessions × 12 requests = 36 a day.
    let p = plan_of(&body.replace(
        "requests_per_user_per_day = 40",
        "sessions_per_user_per_day = 3\nrequests_per_session = 12",
    ));
    close(value(&p, "requests_per_day"), 2e6 * 36.0, "from sessions");
}

#[test]
fn a_bad_region_split_is_a_clear_error() {
    for (split, says) in [
        ("us-east-1=50%, eu-west-1=30%", "add up to 80 %"),
        ("us-east-1=50%, us-east-1=50%", "named twice"),
        ("us east=100%", "letters, digits and dashes"),
        ("us-east-1=fast", "us-east-1"),
    ] {
        let out = headroom(&[
            "plan",
            "--set",
            "daily_active_users=1000",
            "--set",
            &format!("region_split={split}"),
        ]);
        assert_eq!(out.status.code(), Some(2), "{split}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("region_split") && err.contains(says), "{split}: {err}");
    }
    let out = headroom(&[
        "plan",
        "--set",
        "daily_active_users=1000",
        "--set",
        "peak_share=10%",
        "--set",
        "regions=3",
        "--set",
        "region_split=a=50%, b=50%",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("names 2 regions but `regions` is 3"));
}

/// Issue 18 item 1 for the other figures: each given figure is used downstream, marked given,
/// and contradicts its inputs in a note when they give something else.
#[test]
fn given_counts_rates_capacity_and_bandwidth_flow_downstream() {
    let cfg = Config::embedded().unwrap();
    // requests_per_day given: 8,640,000 ÷ 86,400 s = 100 req/s; × 5 = 500 req/s at the peak;
    // ÷ 50 req/s per pod = 2 pods, ⌈2 × spike_buffer⌉ min.
    let p = plan_of("[inputs]\nrequests_per_day = 8_640_000\npeak_factor = 5\nrequests_per_pod_per_second = 50\n");
    assert!(p.figure("requests_per_day").unwrap().given);
    close(value(&p, "avg_rps"), 100.0, "avg_rps from the given requests per day");
    close(value(&p, "peak_rps"), 500.0, "peak_rps");
    close(value(&p, "required_pods"), 2.0, "required_pods");
    let spike = cfg.sizing.workload.spike_buffer;
    close(value(&p, "min_pods"), (2.0 * spike).ceil(), "min_pods");
    // required_pods given: min and max from it. 7 pods × spike, × max_multiplier.
    let p = plan_of("[inputs]\nrequired_pods = 7\n");
    let min = (7.0 * spike).ceil();
    close(value(&p, "min_pods"), min, "min_pods");
    close(value(&p, "max_pods"), (min * cfg.sizing.workload.max_multiplier).ceil(), "max_pods");
    // required_nodes given: ⌈9 × node_buffer⌉.
    let p = plan_of("[inputs]\nrequired_nodes = 9\n");
    close(
        value(&p, "recommended_nodes"),
        (9.0 * cfg.sizing.workload.node_buffer).ceil(),
        "recommended",
    );
    // RCU/WCU given: priced as given. Provisioned: (RCU × RCU-hour + WCU × WCU-hour) × 730.
    let p = plan_of("[inputs]\ndynamodb_rcu = 400\ndynamodb_wcu = 50\n");
    let pr = &cfg.pricing;
    let want = 730.0 * (400.0 * pr.dynamodb_rcu_hour.as_usd_f64() + 50.0 * pr.dynamodb_wcu_hour.as_usd_f64());
    close(value(&p, "dynamodb_provisioned_monthly"), want, "provisioned");
    // RCU given against the inputs that compute it: 1,000 users × 0.5 reads/s = 500 reads/s
    // = 250 RCU eventually consistent; given 300 → a note naming both.
    let p =
        plan_of("[inputs]\nconcurrent_users = 1000\ndynamodb_reads_per_user = 0.5\ndynamodb_writes_per_user = 0.1\ndynamodb_rcu = 300\n");
    close(value(&p, "dynamodb_rcu"), 300.0, "given rcu stands");
    let want = 730.0 * (300.0 * pr.dynamodb_rcu_hour.as_usd_f64() + 100.0 * pr.dynamodb_wcu_hour.as_usd_f64());
    close(value(&p, "dynamodb_provisioned_monthly"), want, "priced with the given RCU");
    let note = p.notes.iter().find(|n| n.contains("dynamodb_rcu")).expect("a contradiction note");
    assert!(note.contains("given as 300") && note.contains("give 250"), "{note}");
    // peak_instances given: the fleet's cost and the baseline/max from it.
    let p = plan_of("[inputs]\npeak_instances = 400\ninstance_type = \"m5.2xlarge\"\nbaseline_share = \"10 %\"\nmax_buffer = \"25 %\"\n");
    let od = pr.instances["m5.2xlarge"].on_demand_hourly.as_usd_f64();
    close(value(&p, "peak_fleet_hourly"), 400.0 * od, "fleet hourly");
    close(value(&p, "baseline_instances"), 40.0, "baseline");
    close(value(&p, "max_instances"), 500.0, "max");
    // A given fleet is split over the regions as the traffic is: 12,000 × 30 % = 3,600, so
    // ⌈3,600 ÷ 1,000⌉ = 4 ALBs by targets there (from users it would be 1,250 → 2).
    let p = plan_of(
        "[inputs]\npeak_concurrent_users = 25_000_000\nusers_per_instance_low = 2000\nusers_per_instance_high = 2000\n\
         peak_instances = 12_000\nregion_split = \"a=30%, b=70%\"\ninstances_per_alb = 1000\n",
    );
    close(value(&p, "instances_region_a"), 3600.0, "given fleet × share");
    close(value(&p, "albs_by_targets_region_a"), 4.0, "ALBs from the given fleet");
    assert!(
        p.notes.iter().any(|n| n.contains("peak_instances") && n.contains("12,500")),
        "{:?}",
        p.notes
    );
    // Two routes to the peak rate: clearview's peak users give 5,000 × 10 ÷ 600 s = 83.3 req/s;
    // 6,000 requests a minute = 100 req/s. One figure stands, the other is a note.
    let p = seed_with("clearview.toml", "peak_requests_per_minute = 6000");
    assert_eq!(p.figures.iter().filter(|f| f.name == "peak_rps").count(), 1);
    close(value(&p, "peak_rps"), 5000.0 * 10.0 / 600.0, "peak users' rate");
    assert!(
        p.notes.iter().any(|n| n.contains("peak_requests_per_minute gives 100 req/s")),
        "{:?}",
        p.notes
    );
    // A given daily volume sets the average rate even where concurrent users give one:
    // clearview's 100 users × 10 ÷ 600 s = 1.67 req/s; given 864,000 a day = 10 req/s.
    let p = seed_with("clearview.toml", "requests_per_day = 864_000");
    close(value(&p, "avg_rps"), 10.0, "avg_rps from the given volume");
    close(value(&p, "bandwidth_in_avg"), 10.0 * 5e3, "downstream of it");
    assert!(
        p.notes.iter().any(|n| n.contains("requests_per_day") && n.contains("1.67")),
        "{:?}",
        p.notes
    );
    // peak_bandwidth given: 40 Gbit/s, 80 % CDN hits → 8 Gbit/s to the origin; 50 % smaller →
    // 4 Gbit/s to the app; on a 10 Gbit/s link 400 %.
    let p =
        plan_of("[inputs]\npeak_bandwidth = \"40 Gbps\"\ncdn_hit_ratio = \"80 %\"\ncompression = \"50 %\"\nlink_capacity = \"10 Gbps\"\n");
    assert!(p.figure("peak_bandwidth").unwrap().given);
    close(value(&p, "origin_bandwidth"), 8e9, "origin");
    close(value(&p, "app_bandwidth"), 4e9, "app");
    close(value(&p, "link_utilization"), 4.0, "link");
    // A size is not a bit rate: the given bandwidth in bytes is refused with exit 2.
    let out = headroom(&["plan", "--set", "peak_bandwidth=5 GB"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("peak_bandwidth"));
}

/// Issue 18 item 5, Fargate Spot: the seed's seven services ($270.30 a month on Fargate at
/// the table's rates) with 60 % of the tasks on Spot at 70 % off cost 270.30 × (0.4 + 0.6 ×
/// 0.3) = 270.30 × 0.58.
#[test]
fn a_fargate_spot_share_blends_the_compute_cost() {
    let cfg = Config::embedded().unwrap();
    let with = |extra: &str| seed_with("microservices.toml", extra);
    let p = with("fargate_spot_share = \"60 %\"");
    let total = value(&p, "fargate.compute_monthly");
    let d = cfg.pricing.fargate_spot_discount;
    assert_eq!(d, 0.70, "pricing.toml's Fargate Spot discount");
    close(
        value(&p, "fargate.compute_monthly_blended"),
        total * (0.4 + 0.6 * (1.0 - d)),
        "blended",
    );
    close(value(&p, "fargate.spot_saving_monthly"), total * 0.6 * d, "saving");
    close(value(&p, "fargate.spot_saving_share"), 0.6 * d, "saving share");
    let p = with("fargate_spot_share = \"100 %\"\nfargate_spot_discount = \"50 %\"");
    close(value(&p, "fargate.compute_monthly_blended"), total * 0.5, "all on spot at 50 % off");
}

/// Issue 18 item 6: a figure stated in several places is compared across them, and the
/// document's own assumptions replace the price table's for its audit.
#[test]
fn audits_compare_places_and_use_the_documents_assumptions() {
    let run = |file: &str| {
        let out = headroom(&["plan", "--audit", file, "--json"]);
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), v)
    };
    let repeated = |v: &serde_json::Value, fig: &str| {
        v["repeated"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["figure"] == fig)
            .cloned()
            .unwrap_or_else(|| panic!("{fig} is not listed as repeated"))
    };
    // 003: the cost table's Fargate fleet (7 × 3 = 21 tasks) is not the calculator inputs'
    // (6 + 3 + 1 = 10); its section totals are repeated in the summary and agree.
    let (_, v) = run("config/profiles/microservices-stated.toml");
    let r = repeated(&v, "fargate.tasks_total");
    assert_eq!(r["consistent"], false);
    assert_eq!(r["places"].as_array().unwrap().len(), 2);
    assert_eq!(repeated(&v, "total_monthly")["places"].as_array().unwrap().len(), 3);
    assert_eq!(repeated(&v, "total_monthly")["consistent"], true);
    // 000/001: §4.1's 70-100 peak instances against §5.1's 50-70, in both documents.
    let (_, v) = run("config/profiles/clearview-stated.toml");
    let r = repeated(&v, "instances_peak_high");
    assert_eq!(r["consistent"], false);
    assert_eq!(r["places"].as_array().unwrap().len(), 4);
    assert_eq!(repeated(&v, "avg_rps")["consistent"], true);
    // 002 states a 70 % spot discount; the audit uses it (t3.medium's on-demand rate × 0.3).
    let (_, v) = run("config/profiles/llm-chat-stated.toml");
    assert_eq!(v["assumptions"][0]["input"], "spot_discount");
    let cfg = Config::embedded().unwrap();
    let small = &cfg.sizing.tiers.iter().find(|t| t.name == "small").unwrap();
    let od: f64 = small
        .node_groups
        .iter()
        .map(|g| g.min as f64 * cfg.pricing.instances[&g.instance_types[0]].on_demand_hourly.as_usd_f64())
        .sum();
    let spot_min = |v: &serde_json::Value| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["figure"] == "small.tier_nodes_monthly_spot_min")
            .cloned()
            .unwrap()
    };
    close(
        spot_min(&v)["computed"].as_f64().unwrap(),
        od * 0.3 * 730.0,
        "spot at the document's 70 %",
    );
    // The same claim against a 20 % discount the document states is wrong: the assumption is
    // what decides the verdict, not pricing.toml.
    let dir = std::env::temp_dir().join(format!("headroom-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = crate::support::repo().join("config/profiles");
    std::fs::copy(src.join("llm-chat.toml"), dir.join("llm-chat.toml")).unwrap();
    let stated = std::fs::read_to_string(src.join("llm-chat-stated.toml")).unwrap();
    std::fs::write(dir.join("a.toml"), stated.replacen("value = \"70 %\"", "value = \"20 %\"", 1)).unwrap();
    let (code, v) = run(dir.join("a.toml").to_str().unwrap());
    assert_eq!(code, Some(1));
    let f = spot_min(&v);
    close(f["computed"].as_f64().unwrap(), od * 0.8 * 730.0, "spot at 20 %");
    assert!(f["verdict"].get("Factor").is_some() || f["verdict"].get("Off").is_some(), "{f}");
    // An assumption naming no input is an error naming it, exit 2.
    std::fs::write(
        dir.join("b.toml"),
        stated.replacen("input = \"spot_discount\"", "input = \"spot_discont\"", 1),
    )
    .unwrap();
    let out = headroom(&["plan", "--audit", dir.join("b.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("spot_discont"));
    // An assumption without a value names its entry, not a stated figure.
    std::fs::write(
        dir.join("c.toml"),
        "profile = \"llm-chat.toml\"\n[[assumption]]\ninput = \"spot_discount\"\n",
    )
    .unwrap();
    let out = headroom(&["plan", "--audit", dir.join("c.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("assumption[0] (spot_discount): missing value"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn list_inputs_names_every_input_given_figure_and_assumption_with_its_unit() {
    let out = headroom(&["plan", "--list-inputs", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let docs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let find = |key: &str| {
        docs.as_array()
            .unwrap()
            .iter()
            .find(|d| d["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("--list-inputs lacks {key}"))
    };
    for (key, group, unit, default) in [
        ("sessions_per_user_per_day", "input", "count", "none"),
        ("requests_per_user_per_day", "input", "count", "none"),
        ("alb_max_rps", "input", "req/s", "none"),
        ("alb_max_bandwidth", "input", "Gbit/s", "none"),
        ("buffer", "input", "%", "none"),
        ("dynamodb_read_item_size", "input", "KB", "4 KB"),
        ("requests_per_day", "given figure", "count", "none"),
        ("peak_bandwidth", "given figure", "Gbit/s", "none"),
        ("peak_instances", "given figure", "count", "none"),
        ("required_pods", "given figure", "count", "none"),
        ("required_nodes", "given figure", "count", "none"),
        ("dynamodb_rcu", "given figure", "count", "none"),
        ("dynamodb_wcu", "given figure", "count", "none"),
        ("storage", "given figure", "GB", "none"),
        ("spot_discount", "assumption", "%", "each type's in pricing.toml"),
        ("on_demand_share", "assumption", "%", "30 %"),
        ("commitment_share", "assumption", "%", "0"),
        ("fargate_spot_share", "assumption", "%", "0"),
        ("fargate_spot_discount", "assumption", "%", "pricing.toml's [fargate]"),
        ("region_split", "text", "text", "an equal split over `regions`"),
        ("growth_months", "text", "text", "3, 6, 12, 24"),
    ] {
        let d = find(key);
        assert_eq!(d["group"], group, "{key}");
        assert!(d["unit"].as_str().unwrap().starts_with(unit), "{key}: {d}");
        assert_eq!(d["default"], default, "{key}");
        assert!(
            !d["doc"].as_str().unwrap().is_empty() && !d["doc"].as_str().unwrap().contains("(default"),
            "{key}: {d}"
        );
    }
    // The text form groups them under their headings.
    let out = headroom(&["plan", "--list-inputs"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for heading in ["Inputs", "Given figures", "Purchase assumptions", "Text inputs"] {
        assert!(text.lines().any(|l| l.starts_with(heading)), "{heading}");
    }
}
