//! The SDK routed through a fault-injecting proxy in front of moto: throttling, 5xx, 3 s of
//! latency and connection resets. The cycle must end with a partial snapshot naming each failed
//! source and why, keep retries within `max_attempts`, and not panic.

use crate::collect_moto::{create_asg, create_table};
use crate::support::proxy::{self, Fault};
use crate::support::*;
use chrono::Utc;
use headroom::config::{AsgTarget, TableTarget};
use headroom::runtime::ScopeState;
use headroom::store::{Sqlite, Store};
use std::time::Duration;

const ATTEMPTS: u32 = 3;

async fn seed(url: &str) {
    let conf = seed_conf(url).await;
    create_launch_template(url, "lt-it", "t3.medium");
    create_asg(&aws_sdk_autoscaling::Client::new(&conf), "fault-asg", &["t3.medium"], 1, 100).await;
    create_table(&aws_sdk_dynamodb::Client::new(&conf), "fault-table").await;
    let now = Utc::now().timestamp() / 300 * 300;
    let pts: Vec<(i64, f64)> = (1..=6).map(|k| (now - k * 300, k as f64)).collect();
    put_points(
        &aws_sdk_cloudwatch::Client::new(&conf),
        "AWS/EC2",
        "CPUUtilization",
        &[("AutoScalingGroupName", "fault-asg")],
        &pts,
    )
    .await;
}

fn faulty_config(endpoint: &str) -> headroom::config::Config {
    let mut cfg = config_for(endpoint);
    cfg.headroom.aws.max_attempts = ATTEMPTS;
    cfg.headroom.aws.timeout_s = 1;
    cfg.headroom.collect.lookback_days = 1;
    cfg.headroom.targets.asgs = vec![AsgTarget::named("fault-asg")];
    cfg.headroom.targets.tables = vec![TableTarget {
        name: Some("fault-table".into()),
        prefix: None,
    }];
    cfg
}

/// One cycle through the proxy; a failing source must not make the cycle itself fail.
async fn cycle_through(endpoint: &str) -> (headroom::runtime::CycleReport, Sqlite) {
    let cfg = std::sync::Arc::new(faulty_config(endpoint));
    let api = headroom::aws::sdk::connect(&cfg.headroom.aws, "us-east-1").await;
    let store = headroom::runtime::shared(Sqlite::in_memory().unwrap());
    let mut state = ScopeState::new(scope(), true);
    let r = tokio::time::timeout(
        Duration::from_secs(120),
        headroom::runtime::cycle(&api, &cfg, &store, &mut state, Utc::now()),
    )
    .await
    .expect("the cycle ends")
    .expect("a failing source is not a cycle error");
    drop(state);
    let store = std::sync::Arc::try_unwrap(store)
        .ok()
        .expect("the store is not shared after the cycle")
        .into_inner()
        .unwrap();
    (r, store)
}

fn scope() -> headroom::domain::Scope {
    headroom::domain::Scope::new("default", "us-east-1")
}

fn reason<'a>(snap: &'a headroom::domain::Snapshot, source: &str) -> &'a str {
    let s = snap
        .sources
        .iter()
        .find(|s| s.source == source)
        .unwrap_or_else(|| panic!("no source {source}: {:?}", snap.sources));
    assert!(!s.ok, "{source} should have failed");
    s.reason.as_deref().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_marks_its_source_and_the_cycle_goes_on() {
    let (_moto, url) = moto().await;
    seed(&url).await;
    let px = proxy::start(
        &url,
        &[
            ("GetMetricData", Fault::Throttle),
            ("DescribeTable", Fault::ServerError),
            ("GetCostAndUsage", Fault::Delay(Duration::from_secs(3))),
            ("DescribePolicies", Fault::Reset),
        ],
    )
    .await;
    let (r, store) = cycle_through(&px.url).await;
    let s = &r.snapshot;
    assert!(s.partial());
    // The inventory that worked is there; each failed source says what happened.
    assert_eq!(s.asgs.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["fault-asg"]);
    assert!(s.sources.iter().any(|x| x.source == "autoscaling" && x.ok));
    assert!(
        reason(s, "cloudwatch").contains("GetMetricData: throttled: Throttling: Rate exceeded (injected)"),
        "{}",
        reason(s, "cloudwatch")
    );
    assert!(
        reason(s, "dynamodb").contains("table `fault-table`: dynamodb DescribeTable: server error"),
        "{}",
        reason(s, "dynamodb")
    );
    assert!(
        reason(s, "costexplorer").contains("GetCostAndUsage: timeout")
            && reason(s, "costexplorer").contains("slow or overloaded, not unreachable")
            && !reason(s, "costexplorer").contains("check network access"),
        "{}",
        reason(s, "costexplorer")
    );
    assert!(
        reason(s, "autoscaling:policies").contains("DescribePolicies: connection failed"),
        "{}",
        reason(s, "autoscaling:policies")
    );
    // Nothing was fetched, so the cache frontier did not move: the next cycle asks again.
    assert_eq!(store.load_window(&scope(), 0).unwrap().frontiers.len(), 0);
    // Retries stay within max_attempts for each failing call.
    let calls = s.api_calls.get("cloudwatch:GetMetricData") as u32;
    for (op, per_call) in [
        ("GetMetricData", calls),
        ("DescribeTable", 1),
        ("GetCostAndUsage", 1),
        ("DescribePolicies", 1),
    ] {
        let n = px.count(op);
        assert!(
            n >= per_call && n <= per_call * ATTEMPTS,
            "{op}: {n} requests for {per_call} call(s)"
        );
    }
    assert!(px.count("DescribeTable") > 1, "a 5xx is retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_inventory_call_leaves_the_other_sources_whole() {
    let (_moto, url) = moto().await;
    seed(&url).await;
    let px = proxy::start(&url, &[("DescribeAutoScalingGroups", Fault::Reset)]).await;
    let (r, _store) = cycle_through(&px.url).await;
    let s = &r.snapshot;
    assert!(
        reason(s, "autoscaling").contains("DescribeAutoScalingGroups: connection failed"),
        "{}",
        reason(s, "autoscaling")
    );
    let n = px.count("DescribeAutoScalingGroups");
    assert!((1..=ATTEMPTS).contains(&n), "{n} attempts");
    assert!(s.asgs.is_empty());
    assert_eq!(s.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["fault-table"]);
    for ok in ["dynamodb", "cloudwatch", "costexplorer"] {
        assert!(
            s.sources.iter().any(|x| x.source == ok && x.ok),
            "{ok} should be ok: {:?}",
            s.sources
        );
    }
}
