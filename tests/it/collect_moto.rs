//! The real aws-sdk-rust against moto: seed a fleet through the SDK, run headroom's cycle, and
//! check what it collected value by value, how many GetMetricData calls it made, and that a
//! second cycle fetches only the new points.

use crate::support::*;
use aws_sdk_autoscaling::types::{
    InstancesDistribution, LaunchTemplate, LaunchTemplateOverrides, LaunchTemplateSpecification, MetricType, MixedInstancesPolicy,
    PredefinedMetricSpecification, Tag, TargetTrackingConfiguration,
};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, ProvisionedThroughput,
    ScalarAttributeType,
};
use chrono::{Duration, Utc};
use headroom::config::AsgTarget;
use headroom::domain::*;
use headroom::runtime::{ScopeState, shared};
use headroom::store::Sqlite;

pub const P: i64 = 300;
const ASGS: usize = 10;
const POINTS: i64 = 72; // 6 hours of 5-minute points

pub fn cpu(i: usize, k: i64) -> f64 {
    10.0 + i as f64 + (k % 7) as f64 * 1.5
}
pub fn mem(i: usize, k: i64) -> f64 {
    40.0 + i as f64 * 0.5 + (k % 5) as f64
}
pub fn requests(i: usize, k: i64) -> f64 {
    (100 * (i + 1)) as f64 + (k % 11) as f64
}
pub fn lb(i: usize) -> String {
    format!("app/it-lb-{i}/50dc6c495c0c{i:04}")
}
pub fn tg(i: usize) -> String {
    format!("targetgroup/it-tg-{i}/73e2d6bc24d8{i:04}")
}

pub async fn create_asg(asg: &aws_sdk_autoscaling::Client, name: &str, types: &[&str], base: i32, pct: i32) {
    create_asg_sized(asg, name, types, base, pct, (1, 2, 4)).await
}

/// An ASG from launch template `lt-it` with these override types, on-demand base and
/// percentage above base, and (min, desired, max).
pub async fn create_asg_sized(
    asg: &aws_sdk_autoscaling::Client,
    name: &str,
    types: &[&str],
    base: i32,
    pct: i32,
    (min, desired, max): (i32, i32, i32),
) {
    let mut lt = LaunchTemplate::builder().launch_template_specification(
        LaunchTemplateSpecification::builder()
            .launch_template_name("lt-it")
            .version("$Latest")
            .build(),
    );
    for t in types {
        lt = lt.overrides(LaunchTemplateOverrides::builder().instance_type(*t).build());
    }
    let mip = MixedInstancesPolicy::builder()
        .launch_template(lt.build())
        .instances_distribution(
            InstancesDistribution::builder()
                .on_demand_base_capacity(base)
                .on_demand_percentage_above_base_capacity(pct)
                .spot_allocation_strategy("price-capacity-optimized")
                .build(),
        )
        .build();
    asg.create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(min)
        .max_size(max)
        .desired_capacity(desired)
        .availability_zones(format!(
            "{}a",
            asg.config().region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into())
        ))
        .mixed_instances_policy(mip)
        .tags(
            Tag::builder()
                .key("headroom:watch")
                .value("true")
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .propagate_at_launch(true)
                .build(),
        )
        .send()
        .await
        .expect("CreateAutoScalingGroup");
}

/// A target-tracking policy on average CPU at `target` %.
pub async fn put_cpu_target(asg: &aws_sdk_autoscaling::Client, group: &str, policy: &str, target: f64) {
    asg.put_scaling_policy()
        .auto_scaling_group_name(group)
        .policy_name(policy)
        .policy_type("TargetTrackingScaling")
        .target_tracking_configuration(
            TargetTrackingConfiguration::builder()
                .predefined_metric_specification(
                    PredefinedMetricSpecification::builder()
                        .predefined_metric_type(MetricType::AsgAverageCpuUtilization)
                        .build(),
                )
                .target_value(target)
                .build(),
        )
        .send()
        .await
        .expect("PutScalingPolicy");
}

pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(KeyType::Hash)
            .build()
            .unwrap()
    };
    let pt = |r, w| {
        ProvisionedThroughput::builder()
            .read_capacity_units(r)
            .write_capacity_units(w)
            .build()
            .unwrap()
    };
    ddb.create_table()
        .table_name(name)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("user"))
        .key_schema(key("pk"))
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(pt(25, 10))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-user")
                .key_schema(key("user"))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .provisioned_throughput(pt(5, 5))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("CreateTable");
}

fn expected(f: fn(usize, i64) -> f64, i: usize, start: Ts, ks: std::ops::Range<i64>) -> Vec<(Ts, f64)> {
    ks.map(|k| (start + k * P, f(i, k))).collect()
}

/// CPU, memory and requests of ASG `i` for periods `ks` after `start`.
async fn seed_asg_points(cw: &aws_sdk_cloudwatch::Client, i: usize, start: Ts, ks: std::ops::Range<i64>) {
    let name = format!("it-asg-{i}");
    let by = [("AutoScalingGroupName", name.as_str())];
    put_points(cw, "AWS/EC2", "CPUUtilization", &by, &expected(cpu, i, start, ks.clone())).await;
    put_points(cw, "CWAgent", "mem_used_percent", &by, &expected(mem, i, start, ks.clone())).await;
    let (l, t) = (lb(i), tg(i));
    let alb = [("LoadBalancer", l.as_str()), ("TargetGroup", t.as_str())];
    put_points(cw, "AWS/ApplicationELB", "RequestCount", &alb, &expected(requests, i, start, ks)).await;
}

fn assert_series(snap: &Snapshot, resource: &ResourceId, signal: Signal, want: &[(Ts, f64)]) {
    let s = snap
        .series_for(resource, signal)
        .unwrap_or_else(|| panic!("no {signal:?} series for {resource}"));
    assert_eq!(s.points.len(), want.len(), "{resource} {signal:?}: point count");
    for (got, want) in s.points.iter().zip(want) {
        assert_eq!(got.0, want.0, "{resource} {signal:?}: timestamp");
        assert!(
            (got.1 - want.1).abs() < 1e-9,
            "{resource} {signal:?} at {}: {} != {}",
            got.0,
            got.1,
            want.1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collects_every_value_in_the_fewest_calls_then_only_new_points() {
    let (_moto, url) = moto().await;
    let conf = seed_conf(&url).await;
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let asg = aws_sdk_autoscaling::Client::new(&conf);
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    create_launch_template(&url, "lt-it", "t3.medium");

    let now = Utc::now();
    let end1 = now.timestamp().div_euclid(P) * P;
    let start = end1 - POINTS * P;
    for i in 0..ASGS {
        let name = format!("it-asg-{i}");
        create_asg(&asg, &name, &["t3.medium", "t3a.medium", "t3.large"], 1, 30).await;
        seed_asg_points(&cw, i, start, 0..POINTS).await;
    }
    put_cpu_target(&asg, "it-asg-0", "cpu-55", 55.0).await;
    create_table(&ddb, "it-chats").await;
    let day = |d: i64| (now - Duration::days(d)).format("%Y-%m-%d").to_string();
    let amounts = [("Amazon DynamoDB", "1.2345678"), ("Amazon Elastic Compute Cloud - Compute", "30.5")];
    let group =
        |(svc, amt): &(&str, &str)| serde_json::json!({"Keys": [svc], "Metrics": {"UnblendedCost": {"Amount": amt, "Unit": "USD"}}});
    queue_cost_results(
        &url,
        &serde_json::json!({"results": [{
            "ResultsByTime": [
                {"TimePeriod": {"Start": day(2), "End": day(1)}, "Total": {}, "Groups": amounts.iter().map(group).collect::<Vec<_>>(), "Estimated": false},
                {"TimePeriod": {"Start": day(1), "End": day(0)}, "Total": {}, "Groups": amounts.iter().map(group).collect::<Vec<_>>(), "Estimated": true},
            ],
            "DimensionValueAttributes": []
        }]}),
    );

    let mut cfg = config_for(&url);
    cfg.headroom.collect.lookback_days = 1;
    cfg.headroom.collect.latency_percentile = false;
    cfg.headroom.collect.overlap_periods = 0;
    cfg.headroom.targets.asgs = (0..ASGS)
        .map(|i| AsgTarget {
            name: Some(format!("it-asg-{i}")),
            tags: vec![],
            load_balancer: Some(lb(i)),
            target_group: Some(tg(i)),
            tier: None,
            users_metric: None,
            db_pool_metric: None,
        })
        .collect();
    cfg.headroom.targets.tables = vec![headroom::config::TableTarget {
        name: Some("it-chats".into()),
        prefix: None,
    }];
    let api = headroom::aws::sdk::connect(&cfg.headroom.aws, "us-east-1").await;
    let store = shared(Sqlite::in_memory().unwrap());
    let mut state = ScopeState::new(Scope::new("default", "us-east-1"), true);
    let mut cfg = std::sync::Arc::new(cfg);

    // ---- cycle 1: backfill
    let r1 = headroom::runtime::cycle(&api, &cfg, &store, &mut state, now).await.unwrap();
    let s1 = &r1.snapshot;
    assert!(s1.failed_sources().is_empty(), "failed sources: {:?}", s1.failed_sources());
    assert_eq!(s1.asgs.len(), ASGS);
    let g0 = &s1.asgs[0];
    assert_eq!(g0.name, "it-asg-0");
    assert_eq!((g0.min_size, g0.max_size, g0.desired_capacity), (1, 4, 2));
    assert_eq!(
        g0.overrides.iter().map(|o| o.instance_type.as_str()).collect::<Vec<_>>(),
        ["t3.medium", "t3a.medium", "t3.large"]
    );
    let d = g0.distribution.as_ref().expect("mixed instances distribution");
    assert_eq!((d.on_demand_base_capacity, d.on_demand_percentage_above_base), (Some(1), Some(30)));
    assert_eq!(d.spot_allocation_strategy.as_deref(), Some("price-capacity-optimized"));
    assert!(g0.tags.contains(&("headroom:watch".to_string(), "true".to_string())));
    assert_eq!(g0.policies.len(), 1);
    assert_eq!(
        (g0.policies[0].target_metric.as_deref(), g0.policies[0].target_value),
        (Some("ASGAverageCPUUtilization"), Some(55.0))
    );
    assert!(s1.asgs[1].policies.is_empty());

    assert_eq!(s1.tables.len(), 1);
    let t = &s1.tables[0];
    assert_eq!(
        (t.name.as_str(), t.billing_mode.as_str(), t.read_capacity, t.write_capacity),
        ("it-chats", "PROVISIONED", Some(25), Some(10))
    );
    assert_eq!(
        (t.gsis[0].name.as_str(), t.gsis[0].read_capacity, t.gsis[0].write_capacity),
        ("by-user", Some(5), Some(5))
    );

    for i in 0..ASGS {
        let r = ResourceId::asg(&format!("it-asg-{i}"));
        assert_series(s1, &r, Signal::CpuPercent, &expected(cpu, i, start, 0..POINTS));
        assert_series(s1, &r, Signal::MemoryPercent, &expected(mem, i, start, 0..POINTS));
        assert_series(s1, &r, Signal::Requests, &expected(requests, i, start, 0..POINTS));
        assert_series(s1, &r, Signal::Http5xx, &[]);
    }
    let micros = |a: &str| (a.parse::<f64>().unwrap() * 1e6).round() as i64;
    let mut want_spend: Vec<(String, String, i64)> = [day(2), day(1)]
        .iter()
        .flat_map(|d| amounts.iter().map(move |(s, a)| (d.clone(), s.to_string(), micros(a))))
        .collect();
    want_spend.sort();
    let got_spend: Vec<(String, String, i64)> = s1.spend.iter().map(|x| (x.day.clone(), x.service.clone(), x.amount.0)).collect();
    assert_eq!(got_spend, want_spend);

    // Queries: per ASG cpu, memory, latency avg, requests, 5xx, 4xx; the table 7. Each asks
    // for one day of 5-minute periods.
    let queries = (ASGS * 6 + 7) as u64;
    let datapoints = queries * 288;
    let bound = queries.div_ceil(500).max(datapoints.div_ceil(100_800));
    assert_eq!(r1.metric_calls_lower_bound, bound);
    assert_eq!(s1.api_calls.get("cloudwatch:GetMetricData"), bound);
    assert_eq!(s1.points_fetched, (ASGS as u64) * 3 * POINTS as u64);

    // ---- cycle 2, 15 minutes later: three new points per seeded series.
    for i in 0..ASGS {
        seed_asg_points(&cw, i, start, POINTS..POINTS + 3).await;
    }
    let r2 = headroom::runtime::cycle(&api, &cfg, &store, &mut state, now + Duration::minutes(15))
        .await
        .unwrap();
    let s2 = &r2.snapshot;
    assert!(s2.failed_sources().is_empty(), "failed sources: {:?}", s2.failed_sources());
    // Only the new points were fetched (overlap 0 here), in one call.
    assert_eq!(s2.points_fetched, (ASGS as u64) * 3 * 3);
    assert_eq!(r2.new_points, s2.points_fetched);
    assert_eq!(s2.api_calls.get("cloudwatch:GetMetricData"), 1);
    for i in 0..ASGS {
        let r = ResourceId::asg(&format!("it-asg-{i}"));
        assert_series(s2, &r, Signal::CpuPercent, &expected(cpu, i, start, 0..POINTS + 3));
        assert_series(s2, &r, Signal::Requests, &expected(requests, i, start, 0..POINTS + 3));
    }

    // ---- cycle 3 with the default overlap of 2 periods: re-fetches the last two, adds none.
    std::sync::Arc::make_mut(&mut cfg).headroom.collect.overlap_periods = 2;
    let r3 = headroom::runtime::cycle(&api, &cfg, &store, &mut state, now + Duration::minutes(15))
        .await
        .unwrap();
    assert_eq!(r3.snapshot.points_fetched, (ASGS as u64) * 3 * 2);
    assert_eq!(r3.new_points, 0);
}
