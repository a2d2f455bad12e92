//! act/ against moto through the fault proxy: every action changes what Describe* returns
//! and its audit row holds before and after; every guardrail blocks with its reason and
//! nothing changes; a call failing mid-apply is recorded and not retried on its own; undo
//! restores; applying twice is a no-op; `headroom apply` and `headroom audit` as a user runs
//! them. moto has no instance refreshes: the proxy answers StartInstanceRefresh and
//! DescribeInstanceRefreshes with recorded AWS answers (PEERS.md).

use crate::collect_moto::{create_asg_sized, create_table, put_cpu_target};
use crate::support::proxy::{self, Fault, Proxy};
use crate::support::*;
use aws_sdk_autoscaling::types::Tag;
use chrono::{DateTime, Timelike, Utc};
use headroom::act::{self, Outcome, Plan};
use headroom::aws::sdk::{self, SdkAws};
use headroom::config::{ApplyMode, ChangeWindow, Config};
use headroom::domain::*;
use headroom::store::{Audit, CycleWrite, SeriesWrite, Sqlite};

const NO_REFRESH: &str = r#"<DescribeInstanceRefreshesResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeInstanceRefreshesResult><InstanceRefreshes/></DescribeInstanceRefreshesResult><ResponseMetadata><RequestId>rec-1</RequestId></ResponseMetadata></DescribeInstanceRefreshesResponse>"#;
const REFRESH_RUNNING: &str = r#"<DescribeInstanceRefreshesResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeInstanceRefreshesResult><InstanceRefreshes><member><InstanceRefreshId>rf-0001</InstanceRefreshId><AutoScalingGroupName>web</AutoScalingGroupName><Status>InProgress</Status><PercentageComplete>40</PercentageComplete></member></InstanceRefreshes></DescribeInstanceRefreshesResult><ResponseMetadata><RequestId>rec-2</RequestId></ResponseMetadata></DescribeInstanceRefreshesResponse>"#;
const REFRESH_DONE: &str = r#"<DescribeInstanceRefreshesResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeInstanceRefreshesResult><InstanceRefreshes><member><InstanceRefreshId>rf-0001</InstanceRefreshId><AutoScalingGroupName>web</AutoScalingGroupName><Status>Successful</Status><PercentageComplete>100</PercentageComplete></member></InstanceRefreshes></DescribeInstanceRefreshesResult><ResponseMetadata><RequestId>rec-3</RequestId></ResponseMetadata></DescribeInstanceRefreshesResponse>"#;
const REFRESH_STARTED: &str = r#"<StartInstanceRefreshResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><StartInstanceRefreshResult><InstanceRefreshId>rf-0001</InstanceRefreshId></StartInstanceRefreshResult><ResponseMetadata><RequestId>rec-4</RequestId></ResponseMetadata></StartInstanceRefreshResponse>"#;

const SCOPE: &str = "default/us-east-1";
/// The group every test starts from: min 2, desired 4, max 8, two types, all on-demand.
pub(crate) const GROUP: (i32, i32, i32) = (2, 4, 8);

pub(crate) struct Peer {
    pub(crate) _guard: tokio::sync::MutexGuard<'static, ()>,
    pub(crate) url: String,
    pub(crate) proxy: Proxy,
    pub(crate) seed: aws_config::SdkConfig,
}

/// moto with the group `web` (tagged headroom:apply=true) and the table `chats`, behind a
/// proxy answering the refresh calls moto lacks (`extra` rules override).
pub(crate) async fn peer(extra: &[(&'static str, Fault)]) -> Peer {
    let (guard, url) = moto().await;
    create_launch_template(&url, "lt-it", "m5.large");
    let seed = seed_conf(&url).await;
    let asg = aws_sdk_autoscaling::Client::new(&seed);
    // All on-demand: moto launches no spot instances, so a group with a spot share shows fewer
    // in service than desired, which the `steady` guardrail rightly calls mid-scaling.
    create_asg_sized(&asg, "web", &["m5.large", "m5a.large"], 1, 100, GROUP).await;
    asg.create_or_update_tags()
        .tags(
            Tag::builder()
                .key("headroom:apply")
                .value("true")
                .resource_id("web")
                .resource_type("auto-scaling-group")
                .propagate_at_launch(false)
                .build(),
        )
        .send()
        .await
        .expect("CreateOrUpdateTags");
    create_table(&aws_sdk_dynamodb::Client::new(&seed), "chats").await;
    let mut rules = vec![
        ("DescribeInstanceRefreshes", Fault::Answer(NO_REFRESH)),
        ("StartInstanceRefresh", Fault::Answer(REFRESH_STARTED)),
    ];
    rules.extend_from_slice(extra);
    let proxy = proxy::start(&url, &rules).await;
    Peer {
        _guard: guard,
        url,
        proxy,
        seed,
    }
}

pub(crate) fn config(endpoint: &str, tag: &str) -> Config {
    let mut c = config_for(endpoint);
    c.headroom.apply.mode = ApplyMode::Approve;
    c.headroom.apply.kill_switch = temp_dir(tag).join("stop-apply");
    c.headroom.apply.resources = vec!["table/chats".into()];
    c
}

pub(crate) async fn api(cfg: &Config) -> SdkAws {
    sdk::connect(&cfg.headroom.aws, "us-east-1").await
}

pub(crate) fn advisory(fp: &str, kind: Kind, resource: &str, action: Action) -> Advisory {
    Advisory {
        fingerprint: fp.into(),
        kind,
        resource: ResourceId(resource.into()),
        severity: Severity::Warning,
        summary: format!("{fp}: test advice"),
        evidence: vec![],
        action: Some(action),
        monthly_cost_delta: None,
        basis: None,
    }
}

fn cpu_query() -> MetricQuery {
    MetricQuery::new("AWS/EC2", "CPUUtilization", &[("AutoScalingGroupName", "web")], Stat::Average, 300)
}

/// A committed cycle: these advisories, a CPU series of `web` at `cpu` % (desired 4
/// throughout), consumed read units of `chats` at `rcu_per_s`, complete or partial.
pub(crate) fn commit(store: &mut Sqlite, now: DateTime<Utc>, advisories: Vec<Advisory>, cpu: f64, rcu_per_s: f64, partial: bool) {
    let t0 = now.timestamp() / 300 * 300;
    let pts = |v: f64| (1..=24).map(|k| (t0 - k * 300, v)).rev().collect::<Vec<_>>();
    let mut snap = Snapshot::bare(now.timestamp(), vec![], vec![]);
    snap.sources = vec![SourceStatus {
        source: "cloudwatch".into(),
        ok: !partial,
        reason: partial.then(|| "cloudwatch GetMetricData: throttled: injected".to_string()),
    }];
    let series = vec![
        SeriesWrite {
            resource: ResourceId::asg("web"),
            signal: Signal::CpuPercent,
            query: cpu_query(),
            points: pts(cpu),
            fetched_through: Some(t0),
        },
        SeriesWrite {
            resource: ResourceId::asg("web"),
            signal: Signal::DesiredCapacity,
            query: MetricQuery::new(
                "AWS/AutoScaling",
                "GroupDesiredCapacity",
                &[("AutoScalingGroupName", "web")],
                Stat::Average,
                300,
            ),
            points: pts(f64::from(GROUP.1)),
            fetched_through: Some(t0),
        },
        SeriesWrite {
            resource: ResourceId::table("chats"),
            signal: Signal::ConsumedRcu,
            query: MetricQuery::new(
                "AWS/DynamoDB",
                "ConsumedReadCapacityUnits",
                &[("TableName", "chats")],
                Stat::Sum,
                300,
            ),
            points: pts(rcu_per_s * 300.0),
            fetched_through: Some(t0),
        },
    ];
    store
        .commit_cycle(&CycleWrite {
            scope: Scope::new("default", "us-east-1"),
            now: now.timestamp(),
            series,
            spend: vec![],
            spend_fetched: false,
            snapshot: std::sync::Arc::new(snap),
            outlooks: None,
            rule_states: vec![],
            advisories,
            hold_resolution: partial,
            prune_before: None,
            notify: None,
        })
        .expect("commit");
}

fn peaks_from(store: &Sqlite, now: DateTime<Utc>) -> impl Fn(&str, &act::Current) -> act::guard::Peaks + '_ {
    move |resource: &str, current: &act::Current| {
        act::peaks_of(current, |s| {
            store
                .series_points(SCOPE, resource, &s.name(), now.timestamp() - 14 * 86_400)
                .unwrap()
        })
    }
}

async fn plan_for(api: &SdkAws, store: &Sqlite, cfg: &Config, a: &Advisory, now: DateTime<Utc>) -> Plan {
    act::plan_advisory(api, store, cfg, (SCOPE, a), peaks_from(store, now), &act::Seen::default(), now)
        .await
        .unwrap_or_else(|e| panic!("plan {}: {e}", a.fingerprint))
}

/// What moto says of the group: (min, desired, max), override types, on-demand % above
/// base, policies (name, target).
pub(crate) async fn group(seed: &aws_config::SdkConfig) -> ((i32, i32, i32), Vec<String>, Option<i32>, Vec<(String, Option<f64>)>, String) {
    let c = aws_sdk_autoscaling::Client::new(seed);
    let out = c
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("web")
        .send()
        .await
        .unwrap();
    let g = &out.auto_scaling_groups()[0];
    let mip = g.mixed_instances_policy();
    let types = mip
        .and_then(|m| m.launch_template())
        .map(|lt| lt.overrides().iter().filter_map(|o| o.instance_type().map(String::from)).collect())
        .unwrap_or_default();
    let lt_name = mip
        .and_then(|m| m.launch_template())
        .and_then(|l| l.launch_template_specification())
        .and_then(|s| s.launch_template_name())
        .unwrap_or_default()
        .to_string();
    let pct = mip
        .and_then(|m| m.instances_distribution())
        .and_then(|d| d.on_demand_percentage_above_base_capacity());
    let pols = c.describe_policies().auto_scaling_group_name("web").send().await.unwrap();
    let policies = pols
        .scaling_policies()
        .iter()
        .map(|p| {
            (
                p.policy_name().unwrap_or_default().to_string(),
                p.target_tracking_configuration().and_then(|t| t.target_value()),
            )
        })
        .collect();
    (
        (g.min_size().unwrap(), g.desired_capacity().unwrap(), g.max_size().unwrap()),
        types,
        pct,
        policies,
        lt_name,
    )
}

pub(crate) async fn table(seed: &aws_config::SdkConfig) -> (String, i64, i64, Vec<(String, i32, i32)>) {
    let d = aws_sdk_dynamodb::Client::new(seed);
    let t = d.describe_table().table_name("chats").send().await.unwrap();
    let t = t.table().unwrap();
    let pt = t.provisioned_throughput().unwrap();
    let s = aws_sdk_applicationautoscaling::Client::new(seed);
    let targets = s
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Dynamodb)
        .send()
        .await
        .unwrap();
    let mut bounds: Vec<(String, i32, i32)> = targets
        .scalable_targets()
        .iter()
        .map(|x| (x.scalable_dimension().as_str().to_string(), x.min_capacity(), x.max_capacity()))
        .collect();
    bounds.sort();
    (
        t.billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| "PROVISIONED".into()),
        pt.read_capacity_units().unwrap_or(0),
        pt.write_capacity_units().unwrap_or(0),
        bounds,
    )
}

fn state_of(store: &Sqlite, fp: &str) -> AdvisoryState {
    store.find_advisory(fp).unwrap()[0].state
}

#[tokio::test]
async fn each_action_changes_what_describe_returns_and_is_audited() {
    let p = peer(&[]).await;
    let mut cfg = config(&p.proxy.url, "apply-each");
    cfg.headroom.apply.cooldown_s = 0;
    let notify_dir = temp_dir("apply-each-notify");
    cfg.headroom.notify = headroom::cli::demo_notify(&notify_dir);
    let api = api(&cfg).await;
    let now = Utc::now();
    put_cpu_target(&aws_sdk_autoscaling::Client::new(&p.seed), "web", "cpu-50", 50.0).await;
    let size = advisory(
        "fp-size",
        Kind::Rightsize,
        "asg/web",
        Action::SetCapacity {
            asg: "web".into(),
            min: 2,
            desired: 5,
            max: 8,
        },
    );
    let target = advisory(
        "fp-target",
        Kind::Rightsize,
        "asg/web",
        Action::SetTargetValue {
            asg: "web".into(),
            policy: "cpu-50".into(),
            target: 60.0,
        },
    );
    let overrides = |ts: &[&str]| {
        ts.iter()
            .map(|t| InstanceOverride {
                instance_type: t.to_string(),
                weighted_capacity: None,
            })
            .collect::<Vec<_>>()
    };
    let mix = advisory(
        "fp-mix",
        Kind::SpotMix,
        "asg/web",
        Action::SetMixedInstancesPolicy {
            asg: "web".into(),
            on_demand_base_capacity: 1,
            on_demand_percentage_above_base_capacity: 60,
            spot_allocation_strategy: "price-capacity-optimized".into(),
            overrides: overrides(&["m5.xlarge", "m5a.large", "m6i.large"]),
        },
    );
    let tier = advisory(
        "fp-tier",
        Kind::Tier,
        "asg/web",
        Action::SetInstanceType {
            asg: "web".into(),
            from: "m5.large".into(),
            to: "m5.xlarge".into(),
            desired: 3,
        },
    );
    let ddb = advisory(
        "fp-table",
        Kind::Dynamodb,
        "table/chats",
        Action::SetTableCapacity {
            table: "chats".into(),
            mode: "PROVISIONED".into(),
            rcu: Some(30),
            wcu: Some(12),
            rcu_autoscale: Some((30, 100)),
            wcu_autoscale: Some((12, 50)),
        },
    );
    let mut store = Sqlite::in_memory().unwrap();
    commit(
        &mut store,
        now,
        vec![size.clone(), target.clone(), mix.clone(), tier.clone(), ddb.clone()],
        30.0,
        5.0,
        false,
    );

    // Capacity: desired 4 → 5.
    let plan = plan_for(&api, &store, &cfg, &size, now).await;
    assert!(plan.allowed(), "{:?}", plan.blocked());
    assert_eq!(
        plan.verdicts.len(),
        act::guard::GUARDS.len(),
        "every guardrail is evaluated and reported"
    );
    let o = act::apply(&api, &mut store, &cfg, &plan, "approve", now).await.unwrap();
    let Outcome::Applied { audit_id, .. } = o else { panic!("{o:?}") };
    assert_eq!(group(&p.seed).await.0, (2, 5, 8));
    let row = store.audit_row(audit_id).unwrap().unwrap();
    assert_eq!(row.outcome, "applied");
    assert_eq!(
        row.before,
        Setting::Size {
            min: 2,
            max: 8,
            desired: 4
        }
    );
    assert_eq!(
        row.after,
        Some(Setting::Size {
            min: 2,
            max: 8,
            desired: 5
        })
    );
    assert_eq!(row.fingerprint.as_deref(), Some("fp-size"));
    assert_eq!(state_of(&store, "fp-size"), AdvisoryState::Applied);

    // Target tracking: 50 → 60, the rest of the policy kept.
    let plan = plan_for(&api, &store, &cfg, &target, now).await;
    let o = act::apply(&api, &mut store, &cfg, &plan, "approve", now).await.unwrap();
    assert!(matches!(o, Outcome::Applied { .. }), "{o:?}");
    let g = group(&p.seed).await;
    assert_eq!(g.3, vec![("cpu-50".to_string(), Some(60.0))]);
    let full = aws_sdk_autoscaling::Client::new(&p.seed)
        .describe_policies()
        .auto_scaling_group_name("web")
        .send()
        .await
        .unwrap();
    let metric = full.scaling_policies()[0]
        .target_tracking_configuration()
        .and_then(|t| t.predefined_metric_specification())
        .and_then(|m| m.predefined_metric_type())
        .map(|t| t.as_str().to_string());
    assert_eq!(metric.as_deref(), Some("ASGAverageCPUUtilization"), "the metric survives the write");

    // Tier migration: m5.large → m5.xlarge first, 3 instances, rolled out by a refresh.
    let plan = plan_for(&api, &store, &cfg, &tier, now).await;
    assert!(plan.allowed(), "{:?}", plan.blocked());
    let o = act::apply(&api, &mut store, &cfg, &plan, "approve", now).await.unwrap();
    let Outcome::InProgress { audit_id, refresh_id } = o else {
        panic!("{o:?}")
    };
    assert_eq!(refresh_id, "rf-0001");
    assert_eq!(p.proxy.count("StartInstanceRefresh"), 1);
    let g = group(&p.seed).await;
    assert_eq!(g.1, vec!["m5.xlarge", "m5a.large"]);
    assert_eq!(g.0, (2, 3, 8));
    assert_eq!(store.audit_row(audit_id).unwrap().unwrap().outcome, "in-progress");
    // The next cycle finds the refresh done: the row ends applied.
    let done = proxy::start(&p.url, &[("DescribeInstanceRefreshes", Fault::Answer(REFRESH_DONE))]).await;
    let later = config(&done.url, "apply-each-2");
    act::follow(&api_for(&later).await, &mut store, SCOPE, now).await.unwrap();
    let row = store.audit_row(audit_id).unwrap().unwrap();
    assert_eq!(row.outcome, "applied");
    assert!(matches!(&row.after, Some(Setting::Migration { desired: 3, .. })), "{:?}", row.after);

    // Spot mix: 100 % → 60 % on-demand above base; the launch template kept.
    let plan = plan_for(&api, &store, &cfg, &mix, now).await;
    let o = act::apply(&api, &mut store, &cfg, &plan, "approve", now).await.unwrap();
    assert!(matches!(o, Outcome::Applied { .. }), "{o:?}");
    let g = group(&p.seed).await;
    assert_eq!(g.1, vec!["m5.xlarge", "m5a.large", "m6i.large"]);
    assert_eq!(g.2, Some(60));
    assert_eq!(g.4, "lt-it");
    assert_eq!(g.0, (2, 3, 8), "min/max/desired untouched by the policy write");

    // DynamoDB: 25/10 → 30/12 with auto-scaling bounds.
    let plan = plan_for(&api, &store, &cfg, &ddb, now).await;
    assert!(plan.allowed(), "{:?}", plan.blocked());
    let o = act::apply(&api, &mut store, &cfg, &plan, "approve", now).await.unwrap();
    assert!(matches!(o, Outcome::Applied { .. }), "{o:?}");
    let t = table(&p.seed).await;
    assert_eq!((t.0.as_str(), t.1, t.2), ("PROVISIONED", 30, 12));
    assert_eq!(
        t.3,
        vec![
            ("dynamodb:table:ReadCapacityUnits".to_string(), 30, 100),
            ("dynamodb:table:WriteCapacityUnits".to_string(), 12, 50)
        ]
    );

    // Five changes, five rows; each applied advisory announced once through the outbox.
    assert_eq!(store.audit_rows(None, None, 100).unwrap().len(), 5);
    let applied = store.outbox_counts().unwrap();
    let n = applied.iter().find(|(e, _)| e == "applied").map(|x| x.1).unwrap_or(0);
    assert_eq!(n, 5, "outbox rows by event: {applied:?}");
}

async fn api_for(cfg: &Config) -> SdkAws {
    api(cfg).await
}

#[tokio::test]
async fn each_guardrail_blocks_with_its_reason_and_nothing_changes() {
    let p = peer(&[]).await;
    let running = proxy::start(&p.url, &[("DescribeInstanceRefreshes", Fault::Answer(REFRESH_RUNNING))]).await;
    let now = Utc::now();
    let up = advisory(
        "fp-up",
        Kind::Rightsize,
        "asg/web",
        Action::SetCapacity {
            asg: "web".into(),
            min: 2,
            desired: 5,
            max: 8,
        },
    );
    let big = advisory(
        "fp-big",
        Kind::AsgLimits,
        "asg/web",
        Action::SetCapacity {
            asg: "web".into(),
            min: 2,
            desired: 9,
            max: 12,
        },
    );
    let down = advisory(
        "fp-down",
        Kind::Rightsize,
        "asg/web",
        Action::SetCapacity {
            asg: "web".into(),
            min: 2,
            desired: 3,
            max: 8,
        },
    );
    let table_down = advisory(
        "fp-tdown",
        Kind::Dynamodb,
        "table/chats",
        Action::SetTableCapacity {
            table: "chats".into(),
            mode: "PROVISIONED".into(),
            rcu: Some(20),
            wcu: Some(10),
            rcu_autoscale: None,
            wcu_autoscale: None,
        },
    );
    let all = vec![up.clone(), big.clone(), down.clone(), table_down.clone()];
    // CPU at 90 % on 4 instances: the peak is 3.6 instance-equivalents; with [advice]
    // headroom h the floor is ceil(3.6 × (1 + h/100)).
    let base = config(&p.proxy.url, "apply-guards");
    let h = base.headroom.advice.headroom;
    let floor = (3.6 * (1.0 + h / 100.0) - 1e-9).ceil() as i32;
    assert!(floor > 3, "the test needs desired 3 below the floor {floor}");
    let fresh = || {
        let mut s = Sqlite::in_memory().unwrap();
        commit(&mut s, now, all.clone(), 90.0, 1.0, false);
        s
    };
    let before = (group(&p.seed).await, table(&p.seed).await);

    // The base case is allowed: the scenarios below each break one guardrail.
    let api0 = api(&base).await;
    let plan = plan_for(&api0, &fresh(), &base, &up, now).await;
    assert!(plan.allowed(), "{:?}", plan.blocked());

    let earlier_action = |s: &mut Sqlite, resource: &str, at: i64, decrease: bool| {
        let st = Setting::Size {
            min: 1,
            max: 1,
            desired: 1,
        };
        let claimed = s
            .claim(
                &headroom::store::NewAction {
                    scope: SCOPE,
                    resource,
                    fingerprint: None,
                    kind: None,
                    undo_of: None,
                    mode: "approve",
                    summary: "earlier",
                    before: &st,
                    intended: &st,
                    verdicts: "[]".into(),
                    decrease,
                    owner: "test:1",
                },
                &headroom::store::ClaimRules::default(),
                at,
            )
            .unwrap();
        let headroom::store::Claim::Granted(id) = claimed else {
            panic!("claim refused: {claimed:?}")
        };
        s.finish_action(
            id,
            &headroom::store::Finish {
                outcome: "applied",
                after: Some(&st),
                ..Default::default()
            },
            at,
        )
        .unwrap();
    };

    type Scenario = (&'static str, Advisory, Config, Sqlite, bool);
    let mut scenarios: Vec<Scenario> = vec![];
    {
        let c = base.clone();
        std::fs::write(&c.headroom.apply.kill_switch, "stop").unwrap();
        scenarios.push(("kill-switch", up.clone(), c, fresh(), false));
    }
    {
        let mut c = config(&p.proxy.url, "apply-guards-optin");
        c.headroom.apply.opt_in_tag = "team:may-change".into();
        scenarios.push(("opt-in", up.clone(), c, fresh(), false));
    }
    {
        let c = config(&p.proxy.url, "apply-guards-step");
        scenarios.push(("step", big.clone(), c, fresh(), false));
    }
    {
        let c = config(&p.proxy.url, "apply-guards-cool");
        let mut s = fresh();
        earlier_action(&mut s, "asg/web", now.timestamp() - 300, false);
        scenarios.push(("cooldown", up.clone(), c, s, false));
    }
    {
        let c = config(&p.proxy.url, "apply-guards-floor");
        scenarios.push(("floor", down.clone(), c, fresh(), false));
    }
    {
        let mut c = config(&p.proxy.url, "apply-guards-ddb");
        c.headroom.apply.cooldown_s = 0;
        let mut s = fresh();
        // Five decreases since 00:00 UTC, the last under an hour ago: past the four free
        // ones, and no quiet hour before a fifth.
        let midnight = now.timestamp() - now.timestamp().rem_euclid(86_400);
        let last = (now.timestamp() - 600).max(midnight);
        for k in 0..4 {
            earlier_action(&mut s, "table/chats", (midnight + k).min(last), true);
        }
        earlier_action(&mut s, "table/chats", last, true);
        scenarios.push(("table-decreases", table_down.clone(), c, s, false));
    }
    {
        let mut c = config(&p.proxy.url, "apply-guards-window");
        let hour = (now.with_timezone(&c.headroom.schedule.timezone).hour() + 12) % 24;
        c.headroom.apply.windows = vec![ChangeWindow {
            cron: headroom::config::parse_cron(&format!("0 {hour} * * *")).unwrap(),
            duration_s: 3600,
        }];
        scenarios.push(("change-window", up.clone(), c, fresh(), false));
    }
    {
        let c = config(&p.proxy.url, "apply-guards-partial");
        let mut s = Sqlite::in_memory().unwrap();
        commit(&mut s, now, all.clone(), 90.0, 1.0, true);
        scenarios.push(("complete-data", up.clone(), c, s, false));
    }
    {
        let c = config(&running.url, "apply-guards-steady");
        scenarios.push(("steady", up.clone(), c, fresh(), true));
    }
    {
        let mut c = config(&p.proxy.url, "apply-guards-budget");
        c.headroom.apply.max_actions_per_day = 1;
        let mut s = fresh();
        earlier_action(&mut s, "asg/other", now.timestamp() - 3600, false);
        scenarios.push(("daily-budget", up.clone(), c, s, false));
    }
    for (guard, a, c, mut s, _) in scenarios {
        let api = api(&c).await;
        let plan = plan_for(&api, &s, &c, &a, now).await;
        let blocked: Vec<&str> = plan.blocked().iter().map(|v| v.guard).collect();
        assert_eq!(blocked, vec![guard], "{guard}: {:#?}", plan.verdicts);
        let reason = &plan.blocked()[0].reason;
        assert!(reason.len() > 10, "{guard} says why: {reason}");
        let rows = s.audit_rows(None, None, 100).unwrap().len();
        let o = act::apply(&api, &mut s, &c, &plan, "approve", now).await.unwrap();
        assert!(
            matches!(&o, Outcome::Blocked { reasons } if reasons[0].starts_with(guard)),
            "{guard}: {o:?}"
        );
        let after = s.audit_rows(None, None, 100).unwrap();
        assert_eq!(after.len(), rows + 1, "{guard}: a blocked attempt is audited");
        assert_eq!(after[0].outcome, "blocked", "{guard}");
        assert!(
            after[0].reasons.as_ref().is_some_and(|r| r[0].starts_with(guard)),
            "{guard}: its reasons are in the row: {:?}",
            after[0].reasons
        );
        assert_eq!(
            (group(&p.seed).await, table(&p.seed).await),
            before,
            "{guard}: moto's state unchanged"
        );
        if guard == "floor" {
            assert!(reason.contains(&format!("= {floor}")), "the floor's arithmetic: {reason}");
        }
    }
    assert_eq!(p.proxy.count("UpdateAutoScalingGroup") + running.count("UpdateAutoScalingGroup"), 0);
    assert_eq!(p.proxy.count("UpdateTable"), 0);
}

#[tokio::test]
async fn a_call_failing_mid_apply_is_recorded_and_not_retried() {
    let p = peer(&[("StartInstanceRefresh", Fault::ServerError)]).await;
    let mut cfg = config(&p.proxy.url, "apply-fault");
    // Reads may retry; a change is sent once whatever max_attempts says.
    cfg.headroom.aws.max_attempts = 3;
    cfg.headroom.apply.mode = ApplyMode::Auto;
    cfg.headroom.apply.kinds = vec![Kind::Tier];
    cfg.headroom.apply.cooldown_s = 0;
    let api = api(&cfg).await;
    let now = Utc::now();
    let tier = advisory(
        "fp-tier",
        Kind::Tier,
        "asg/web",
        Action::SetInstanceType {
            asg: "web".into(),
            from: "m5.large".into(),
            to: "m5.xlarge".into(),
            desired: 4,
        },
    );
    let mut store = Sqlite::in_memory().unwrap();
    commit(&mut store, now, vec![tier.clone()], 30.0, 1.0, false);
    let plan = plan_for(&api, &store, &cfg, &tier, now).await;
    let o = act::apply(&api, &mut store, &cfg, &plan, "approve", now).await.unwrap();
    let Outcome::Failed { audit_id, error } = o else { panic!("{o:?}") };
    assert!(error.contains("StartInstanceRefresh"), "{error}");
    let row = store.audit_row(audit_id).unwrap().unwrap();
    assert_eq!(row.outcome, "failed");
    assert_eq!(row.error.as_deref(), Some(error.as_str()));
    assert_eq!(row.before, plan.before);
    assert_eq!(p.proxy.count("StartInstanceRefresh"), 1, "sent once, no SDK retry");
    assert_eq!(
        state_of(&store, "fp-tier"),
        AdvisoryState::Open,
        "a failed change does not mark the advisory applied"
    );

    // The daemon in auto mode, next cycle, with the same advisory: no second attempt.
    let report = report_with(vec![tier.clone()], now);
    let shared = headroom::runtime::shared(store);
    let made = headroom::runtime::apply::after_cycle(&api, &cfg, &shared, &report, now).await;
    assert_eq!(made, 0);
    assert_eq!(p.proxy.count("StartInstanceRefresh"), 1, "auto mode does not retry a failed change");
    let store = headroom::runtime::lock_store(&shared);
    assert_eq!(store.audit_rows(None, None, 10).unwrap().len(), 1);
}

#[tokio::test]
async fn undo_restores_the_before_state_and_applying_twice_changes_nothing() {
    let p = peer(&[]).await;
    let mut cfg = config(&p.proxy.url, "apply-undo");
    cfg.headroom.apply.cooldown_s = 0;
    let api = api(&cfg).await;
    let now = Utc::now();
    let six = advisory(
        "fp-six",
        Kind::Rightsize,
        "asg/web",
        Action::SetCapacity {
            asg: "web".into(),
            min: 3,
            desired: 6,
            max: 10,
        },
    );
    let mut store = Sqlite::in_memory().unwrap();
    commit(&mut store, now, vec![six.clone()], 30.0, 1.0, false);
    let original = group(&p.seed).await;
    let plan = plan_for(&api, &store, &cfg, &six, now).await;
    let o = act::apply(&api, &mut store, &cfg, &plan, "approve", now).await.unwrap();
    let Outcome::Applied { audit_id, .. } = o else { panic!("{o:?}") };
    assert_eq!(group(&p.seed).await.0, (3, 6, 10));
    // Twice: the plan finds it in place; nothing is called or written.
    let again = plan_for(&api, &store, &cfg, &six, now).await;
    assert!(again.in_place);
    assert_eq!(
        act::apply(&api, &mut store, &cfg, &again, "approve", now).await.unwrap(),
        Outcome::InPlace
    );
    assert_eq!(p.proxy.count("UpdateAutoScalingGroup"), 1);
    assert_eq!(store.audit_rows(None, None, 10).unwrap().len(), 1);
    // Undo: back to what the row found, through the guardrails.
    let row = store.audit_row(audit_id).unwrap().unwrap();
    let undo = act::plan_undo(&api, &store, &cfg, &row, peaks_from(&store, now), now)
        .await
        .unwrap();
    assert!(undo.allowed(), "{:?}", undo.blocked());
    assert_eq!(undo.after, row.before);
    let o = act::apply(&api, &mut store, &cfg, &undo, "undo", now).await.unwrap();
    let Outcome::Applied { audit_id: undo_id, .. } = o else {
        panic!("{o:?}")
    };
    assert_eq!(group(&p.seed).await, original);
    let undo_row = store.audit_row(undo_id).unwrap().unwrap();
    assert_eq!(undo_row.undo_of, Some(audit_id));
    assert_eq!(undo_row.after, Some(row.before.clone()));
    assert_eq!(
        state_of(&store, "fp-six"),
        AdvisoryState::Acknowledged,
        "an undone advisory is not applied again on its own"
    );
}

#[tokio::test]
async fn headroom_apply_shows_the_plan_applies_with_yes_and_audit_lists_it() {
    let p = peer(&[]).await;
    let dir = temp_dir("apply-cli");
    let db = dir.join("headroom.db");
    let now = Utc::now();
    let up = advisory(
        "0123456789abcdef",
        Kind::Rightsize,
        "asg/web",
        Action::SetCapacity {
            asg: "web".into(),
            min: 2,
            desired: 5,
            max: 8,
        },
    );
    {
        let mut s = Sqlite::open(&db).unwrap();
        commit(&mut s, now, vec![up], 30.0, 1.0, false);
    }
    let endpoint = p.proxy.url.clone();
    let conf = |mode: &'static str| {
        let endpoint = endpoint.clone();
        config_copy(&format!("apply-cli-{mode}"), move |name, s| {
            if name != "headroom.toml" {
                return s;
            }
            s.replace(
                "# endpoint_url = \"http://127.0.0.1:5000\"",
                &format!("endpoint_url = \"{endpoint}\""),
            )
            .replace("mode = \"recommend\"", &format!("mode = \"{mode}\""))
        })
    };
    let recommend = conf("recommend");
    let approve = conf("approve");
    let store = db.to_string_lossy().to_string();
    let cfgdir = |d: &std::path::Path| d.join("config").to_string_lossy().to_string();

    let out = headroom_in(&dir, &["--config", &cfgdir(&recommend), "apply", "0123456789ab", "--store", &store]).await;
    let so = text(&out.stdout);
    assert!(out.status.success(), "{so}{}", text(&out.stderr));
    assert!(
        so.contains("before: min 2, desired 4, max 8") && so.contains("after:  min 2, desired 5, max 8"),
        "{so}"
    );
    assert!(so.contains("allowed opt-in") && so.contains("daily-budget"), "{so}");
    let out = headroom_in(
        &dir,
        &["--config", &cfgdir(&recommend), "apply", "0123456789ab", "--yes", "--store", &store],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "recommend refuses --yes: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("mode = \"approve\""));
    assert_eq!(group(&p.seed).await.0, (GROUP.0, GROUP.1, GROUP.2), "nothing changed yet");

    // moto's group has no CPU data: fresh data does not support the stored advisory, so the
    // apply is refused (apply_safety.rs applies real advice end to end).
    let out = headroom_in(
        &dir,
        &["--config", &cfgdir(&approve), "apply", "0123456789ab", "--yes", "--store", &store],
    )
    .await;
    let so = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{so}{}", text(&out.stderr));
    assert!(so.contains("BLOCKED fresh-advice") && so.contains("no longer holds"), "{so}");
    assert_eq!(group(&p.seed).await.0, (GROUP.0, GROUP.1, GROUP.2), "nothing changed");

    let out = headroom_in(&dir, &["--config", &cfgdir(&approve), "audit", "--json", "--store", &store]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["outcome"], "blocked");
    assert_eq!(rows[0]["before"]["desired"], 4);
    assert_eq!(rows[0]["intended"]["desired"], 5);
    assert_eq!(
        rows[0]["verdicts"].as_array().unwrap().len(),
        act::guard::GUARDS.len() + 1,
        "every guardrail and the fresh-data check"
    );

    let out = headroom_in(&dir, &["--config", &cfgdir(&approve), "apply", "nope", "--store", &store]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no advisory nope"), "{}", text(&out.stderr));
}

/// A committed cycle's report carrying these advisories (what the daemon hands auto mode).
pub(crate) fn report_with(advisories: Vec<Advisory>, now: DateTime<Utc>) -> headroom::runtime::CycleReport {
    headroom::runtime::CycleReport {
        scope: Scope::new("default", "us-east-1"),
        snapshot: std::sync::Arc::new(Snapshot::bare(now.timestamp(), vec![], vec![])),
        new_points: 0,
        metric_calls_planned: 0,
        metric_calls_lower_bound: 0,
        cached_points: 0,
        advisories,
        rule_events: vec![],
        reconciled: Default::default(),
        elapsed_ms: 0,
        outlooks: Default::default(),
        forecast_ran: false,
        forecast_ms: 0,
        load_ms: 0,
        commit_ms: 0,
        advise_ms: 0,
    }
}

/// On the daemon's runtime flavour: the store is locked through block_in_place there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_applies_only_the_allowed_kinds_once() {
    let p = peer(&[]).await;
    let mut cfg = config(&p.proxy.url, "apply-auto");
    cfg.headroom.apply.mode = ApplyMode::Auto;
    cfg.headroom.apply.kinds = vec![Kind::Rightsize];
    let api = api(&cfg).await;
    let now = Utc::now();
    let size = advisory(
        "fp-auto-size",
        Kind::Rightsize,
        "asg/web",
        Action::SetCapacity {
            asg: "web".into(),
            min: 2,
            desired: 5,
            max: 8,
        },
    );
    let limits = advisory(
        "fp-auto-limits",
        Kind::AsgLimits,
        "asg/web",
        Action::SetLimits {
            asg: "web".into(),
            min: 2,
            max: 10,
        },
    );
    let mut store = Sqlite::in_memory().unwrap();
    commit(&mut store, now, vec![size.clone(), limits.clone()], 30.0, 1.0, false);
    let shared = headroom::runtime::shared(store);
    let report = report_with(vec![size.clone(), limits.clone()], now);
    let made = headroom::runtime::apply::after_cycle(&api, &cfg, &shared, &report, now).await;
    assert_eq!(made, 1, "the rightsize advisory only (asg-limits is not in kinds)");
    assert_eq!(group(&p.seed).await.0, (2, 5, 8));
    // The next cycle: the advisory is applied, nothing more happens.
    let made = headroom::runtime::apply::after_cycle(&api, &cfg, &shared, &report, now).await;
    assert_eq!(made, 0);
    assert_eq!(p.proxy.count("UpdateAutoScalingGroup"), 1);
    let store = headroom::runtime::lock_store(&shared);
    assert_eq!(state_of(&store, "fp-auto-size"), AdvisoryState::Applied);
    assert_eq!(state_of(&store, "fp-auto-limits"), AdvisoryState::Open);
    assert_eq!(store.audit_rows(None, None, 10).unwrap()[0].mode, "auto");
}
