//! Every advice kind of the advice issue against moto: a small fleet seeded through the real
//! SDK so that each kind must fire, one `headroom check --json`, and each advisory's figures
//! computed here from the formula and the seeded inputs.
//!
//! Hourly periods and 40 hours of history keep moto fast (its GetMetricData cost grows with
//! periods × stored points) while clearing the 30-hour hold-back.

use crate::collect_moto::{create_asg_sized, create_table, put_cpu_target};
use crate::support::*;
use chrono::{Duration, Utc};
use headroom::config::Config;
use headroom::model::tiers::{At, Option_, bundle_hourly_usd, monthly};
use serde_json::{Value, json};

pub(crate) const H: i64 = 3600;
const HOURS: i64 = 40;
const LB: &str = "app/kind-web/50dc6c495c0c9188";
const TG: &str = "targetgroup/kind-web/73e2d6bc24d8a067";

// The seeded fleet's inputs.
const WEB_CPU: f64 = 78.0;
const WEB: (i32, i32, i32) = (2, 4, 4); // min, desired, max: pinned at max
const WEB_POLICY_TARGET: f64 = 50.0;
const WEB_USERS: f64 = 1700.0;
pub(crate) const BATCH_CPU: f64 = 20.0;
pub(crate) const BATCH: (i32, i32, i32) = (1, 6, 8);
const READS: f64 = 60.0; // consumed units per second
const WRITES: f64 = 5.0;
const THROTTLES_PER_HOUR: f64 = 30.0;
const EC2_PRIOR: f64 = 20.0; // USD per day, days 8–14 before today
const EC2_LAST: f64 = 30.0; // USD per day, the last 7 days
const DDB_DAILY: f64 = 2.0;

pub(crate) async fn seed(url: &str, now: i64) {
    let conf = seed_conf(url).await;
    create_launch_template(url, "lt-it", "m5.large");
    let asg = aws_sdk_autoscaling::Client::new(&conf);
    create_asg_sized(&asg, "kind-web", &["m5.large"], 10, 100, WEB).await;
    create_asg_sized(&asg, "kind-batch", &["m5.large"], 10, 100, BATCH).await;
    put_cpu_target(&asg, "kind-web", "cpu-target", WEB_POLICY_TARGET).await;
    create_table(&aws_sdk_dynamodb::Client::new(&conf), "kind-chats").await;

    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let flat = |v: f64| (1..=HOURS).map(|k| (now - k * H, v)).collect::<Vec<_>>();
    type Seeded<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, f64);
    let series: Vec<Seeded> = vec![
        ("AWS/EC2", "CPUUtilization", vec![("AutoScalingGroupName", "kind-web")], WEB_CPU),
        (
            "AWS/AutoScaling",
            "GroupDesiredCapacity",
            vec![("AutoScalingGroupName", "kind-web")],
            f64::from(WEB.1),
        ),
        ("AWS/EC2", "CPUUtilization", vec![("AutoScalingGroupName", "kind-batch")], BATCH_CPU),
        (
            "AWS/AutoScaling",
            "GroupDesiredCapacity",
            vec![("AutoScalingGroupName", "kind-batch")],
            f64::from(BATCH.1),
        ),
        // Users at 3 requests per user per minute, as hourly RequestCount sums.
        (
            "AWS/ApplicationELB",
            "RequestCount",
            vec![("LoadBalancer", LB), ("TargetGroup", TG)],
            WEB_USERS * 3.0 * 60.0,
        ),
        (
            "AWS/DynamoDB",
            "ConsumedReadCapacityUnits",
            vec![("TableName", "kind-chats")],
            READS * H as f64,
        ),
        (
            "AWS/DynamoDB",
            "ConsumedWriteCapacityUnits",
            vec![("TableName", "kind-chats")],
            WRITES * H as f64,
        ),
        (
            "AWS/DynamoDB",
            "ReadThrottleEvents",
            vec![("TableName", "kind-chats")],
            THROTTLES_PER_HOUR,
        ),
    ];
    for (ns, metric, dims, v) in &series {
        put_points(&cw, ns, metric, dims, &flat(*v)).await;
    }

    // Daily spend for 20 days: EC2 up 50 % in the last week, DynamoDB flat.
    let today = chrono::DateTime::from_timestamp(now, 0).unwrap();
    let day = |d: i64| (today - Duration::days(d)).format("%Y-%m-%d").to_string();
    let days: Vec<Value> = (1..=20)
        .map(|k| {
            let ec2 = if k <= 7 { EC2_LAST } else { EC2_PRIOR };
            let group =
                |svc: &str, amt: f64| json!({"Keys": [svc], "Metrics": {"UnblendedCost": {"Amount": format!("{amt}"), "Unit": "USD"}}});
            json!({
                "TimePeriod": {"Start": day(k), "End": day(k - 1)},
                "Total": {},
                "Groups": [group("Amazon Elastic Compute Cloud - Compute", ec2), group("Amazon DynamoDB", DDB_DAILY)],
                "Estimated": false
            })
        })
        .collect();
    queue_cost_results(url, &json!({"results": [{"ResultsByTime": days, "DimensionValueAttributes": []}]}));
}

pub(crate) fn config_dir(url: &str) -> std::path::PathBuf {
    config_copy("kinds", |name, s| {
        if name != "headroom.toml" {
            return s;
        }
        let s = s
            .replace("# endpoint_url = \"http://127.0.0.1:5000\"", &format!("endpoint_url = \"{url}\""))
            .replace("max_attempts = 3", "max_attempts = 1")
            .replace("period_seconds = 300", "period_seconds = 3600")
            .replace("latency_percentile = true", "latency_percentile = false")
            .replace(
                "name = \"web\"\n",
                &format!("name = \"kind-web\"\nload_balancer = \"{LB}\"\ntarget_group = \"{TG}\"\ntier = \"medium\"\n"),
            )
            .replace("name = \"chats\"\n", "name = \"kind-chats\"\n")
            // The collection lookback (the first lookback_days) to two days.
            .replacen("lookback_days = 14\n", "lookback_days = 2\n", 1);
        s + "\n[[targets.asg]]\nname = \"kind-batch\"\n"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_against_moto_fires_every_kind_with_its_figures() {
    let (_moto, url) = moto().await;
    let now = Utc::now().timestamp() / H * H;
    seed(&url, now).await;
    let dir = config_dir(&url);
    let out = headroom_in(&dir, &["check", "--config", "config", "--json"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["partial"], false, "{stderr}\n{v:#}");
    let advs = v["advisories"].as_array().unwrap();
    let find = |kind: &str, resource: &str, needle: &str| -> &Value {
        advs.iter()
            .find(|a| a["kind"] == kind && a["resource"] == resource && a["summary"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no {kind} advisory on {resource} with `{needle}` in {advs:#?}"))
    };
    let evidence = |a: &Value, name: &str| -> String {
        a["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no evidence `{name}` in {a:#}"))["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let cfg = Config::load(&dir.join("config")).unwrap();
    let advice = &cfg.headroom.advice;
    let (target, headroom) = (advice.target_utilization, advice.headroom / 100.0);
    let m5 = cfg.pricing.instances["m5.large"].on_demand_hourly.0;

    // alert: CPU 78 % > 75 % for 10 min (cpu-high, info), not > 80 %.
    let a = find("alert", "asg/kind-web", "CPU");
    assert_eq!(evidence(a, "value").parse::<f64>().unwrap(), WEB_CPU);
    assert!(evidence(a, "rule").starts_with("cpu-high "), "{a}");
    assert!(
        !advs
            .iter()
            .any(|a| a["kind"] == "alert" && evidence(a, "rule").starts_with("cpu-high-warning"))
    );

    // rightsize, plain group: ⌈n × u × (1 + headroom) ÷ target⌉ instances, the rest's cost saved.
    let want = (f64::from(BATCH.1) * BATCH_CPU * (1.0 + headroom) / target).ceil() as i64;
    let r = find("rightsize", "asg/kind-batch", "over-provisioned");
    assert_eq!(r["action"]["desired"].as_i64(), Some(want), "{r}");
    assert_eq!(
        usd_micros(&r["monthly_cost_delta_usd"]),
        Some((want - i64::from(BATCH.1)) * m5 * 730)
    );
    // rightsize, autoscaled group: the policy's target moves to the configured target.
    let r = find("rightsize", "asg/kind-web", "autoscaled");
    assert_eq!(r["action"]["type"], "set-target-value");
    assert_eq!(r["action"]["target"].as_f64(), Some(target));

    // asg-limits: at max for every period and hotter than the policy's target there.
    let (min, _, max) = WEB;
    let want_max = i64::from(max + 1).max((f64::from(max) * WEB_CPU * (1.0 + headroom) / target).ceil() as i64);
    let l = find("asg-limits", "asg/kind-web", "raise max");
    assert_eq!(l["action"]["max"].as_i64(), Some(want_max), "{l}");
    assert_eq!(l["action"]["min"].as_i64(), Some(i64::from(min)));
    assert_eq!(
        usd_micros(&l["monthly_cost_delta_usd"]),
        Some((want_max - i64::from(max)) * m5 * 730)
    );
    assert_eq!(l["severity"], "warning");
    // The batch group's trough (CPU 20 % < 30 %) needs more than its min of 1: no limits advice.
    assert!(!advs.iter().any(|a| a["kind"] == "asg-limits" && a["resource"] == "asg/kind-batch"));

    // tier: 1,700 users ≥ 80 % of medium's 2,000 → large, with both bundles' cost.
    let t = find("tier", "asg/kind-web", "medium → large");
    let w = &cfg.sizing.workload;
    let users = WEB_USERS * 3.0 * 60.0 / H as f64 * 60.0 / w.requests_per_user_per_minute;
    assert_eq!(evidence(t, "7-day peak"), format!("{} users", headroom::model::units::Num(users)));
    let medium = cfg.sizing.tiers.iter().find(|t| t.name == "medium").unwrap();
    assert!(users >= w.tier_up_at * medium.concurrent_users.1 && users < medium.concurrent_users.1);
    assert_eq!(t["severity"], "warning");
    let bundle = |name: &str| {
        let tier = cfg.sizing.tiers.iter().find(|t| t.name == name).unwrap();
        monthly(bundle_hourly_usd(tier, &cfg.pricing, Option_::AsDesigned, At::Desired).unwrap()).0
    };
    assert_eq!(usd_micros(&t["monthly_cost_delta_usd"]), Some(bundle("large") - bundle("medium")));
    assert_eq!(evidence(t, "step 1"), medium.migration_steps[0]);

    // dynamodb: throttled (warning); recommended ⌈p95 ÷ 70 %⌉ for flat traffic.
    let d = find("dynamodb", "table/kind-chats", "throttled");
    assert_eq!(d["severity"], "warning");
    assert_eq!(d["action"]["rcu"].as_i64(), Some((READS / 0.7).ceil() as i64), "{d}");
    assert_eq!(d["action"]["wcu"].as_i64(), Some((WRITES / 0.7).ceil() as i64));
    let throttled = (THROTTLES_PER_HOUR * HOURS as f64) as i64;
    assert!(
        d["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("{} throttled", headroom::model::units::Num(throttled as f64))),
        "{d}"
    );

    // spend: EC2 +50 % week over week, + (last − prior) × 30 / 7 a month at the new rate.
    let s = find("spend", "service/Amazon Elastic Compute Cloud - Compute", "+50 %");
    let usd = |x: f64| (x * 1e6).round() as i64;
    // Positive: it costs more, as the text's "+$…/month" says (issue 20, item 6).
    assert_eq!(
        usd_micros(&s["monthly_cost_delta_usd"]),
        Some((usd(7.0 * EC2_LAST) - usd(7.0 * EC2_PRIOR)) * 30 / 7)
    );
    // spend against the budget of the tiers the services run as (one service, medium): run
    // rate × 730 ÷ 24 above medium's upper bound.
    let run_rate = (EC2_LAST + DDB_DAILY) * 730.0 / 24.0;
    let (_, hi) = medium.monthly_cost_usd.unwrap();
    assert!(run_rate > hi);
    let b = find("spend", "account", "above the budget of the tiers the services run as (medium)");
    assert_eq!(usd_micros(&b["monthly_cost_delta_usd"]), Some(usd(run_rate - hi)), "{b}");
    // One representation and one sign everywhere: dollars, positive costs more. A saving
    // (right-sizing the idle batch fleet down) is negative; no amount is in micro-dollars.
    assert!(
        advs.iter().all(|a| a.get("monthly_cost_delta").is_none()),
        "no micro-dollar field left"
    );
    let saving = find("rightsize", "asg/kind-batch", "over-provisioned");
    assert!(usd_micros(&saving["monthly_cost_delta_usd"]).unwrap() < 0, "{saving}");
    find("spend", "account", "projected");
}
