//! Scopes against moto: two regions with a same-named Auto Scaling group on one store, each
//! keeping its own advisories, series and frontier across cycles; and two accounts, the
//! second reached by AssumeRole (moto files the role's requests under its account), with a
//! third whose role is denied making only its own scope partial.

use crate::collect_moto::create_asg_sized;
use crate::support::proxy::{self, Fault};
use crate::support::*;
use chrono::{Duration, Utc};
use headroom::config::{AccountCfg, AsgTarget};
use headroom::domain::*;
use headroom::runtime::{ScopeState, shared};
use headroom::store::{Sqlite, Store};
use std::sync::Arc;

const P: i64 = 300;

fn watch_by_tag() -> Vec<AsgTarget> {
    vec![AsgTarget::tagged(&[("headroom:watch", "true")])]
}

/// A group `name` in `region` (of the credentials' account) with 6 hours of CPU at `cpu` %.
async fn seed_group(url: &str, region: &str, creds: Option<(String, String, String)>, name: &str, cpu: f64, start: Ts) {
    let key = creds.as_ref().map(|c| c.0.clone()).unwrap_or_else(|| "test".into());
    create_launch_template_as(url, "lt-it", "t3.medium", &key, region);
    let conf = seed_conf_as(url, region, creds).await;
    let asg = aws_sdk_autoscaling::Client::new(&conf);
    create_asg_sized(&asg, name, &["t3.medium"], 1, 100, (1, 2, 4)).await;
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let points: Vec<(Ts, f64)> = (0..72).map(|k| (start + k * P, cpu)).collect();
    put_points(&cw, "AWS/EC2", "CPUUtilization", &[("AutoScalingGroupName", name)], &points).await;
}

fn lean(cfg: &mut headroom::config::Config) {
    let c = &mut cfg.headroom.collect;
    c.memory_metric = false;
    c.group_metrics = false;
    c.latency_percentile = false;
    c.lookback_days = 1;
    c.overlap_periods = 0;
    cfg.headroom.targets.asgs = watch_by_tag();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_regions_with_a_same_named_group_keep_their_own_advisories_and_series() {
    let (_moto, url) = moto().await;
    let now = Utc::now();
    let start = (now.timestamp() - 6 * 3600) / P * P;
    // The same name in both regions, different load: 95 % in us-east-1, 91 % in eu-west-1.
    seed_group(&url, "us-east-1", None, "twin", 95.0, start).await;
    seed_group(&url, "eu-west-1", None, "twin", 91.0, start).await;
    let mut cfg = config_for(&url);
    lean(&mut cfg);
    cfg.headroom.aws.regions = vec!["us-east-1".into(), "eu-west-1".into()];
    let cfg = Arc::new(cfg);
    let scopes = cfg.headroom.aws.scopes();
    assert_eq!(scopes.len(), 2);
    let store = shared(Sqlite::in_memory().unwrap());
    let mut states = vec![];
    for (i, sc) in scopes.iter().enumerate() {
        let api = headroom::aws::sdk::connect(&cfg.headroom.aws, &sc.region).await;
        states.push((api, ScopeState::new(sc.clone(), i == 0)));
    }
    let mut first_open: Vec<Vec<String>> = vec![vec![]; 2];
    for round in 0..3 {
        let at = now + Duration::minutes(5 * round);
        for (i, (api, state)) in states.iter_mut().enumerate() {
            let r = headroom::runtime::cycle(api, &cfg, &store, state, at).await.unwrap();
            assert!(!r.snapshot.partial(), "{:?}", r.snapshot.failed_sources());
            assert_eq!(r.snapshot.asgs.len(), 1);
            assert!(
                r.reconciled.resolved.is_empty(),
                "round {round}, {}: resolved {:?}",
                r.scope,
                r.reconciled.resolved
            );
            let alerts: Vec<String> = r
                .advisories
                .iter()
                .filter(|a| a.kind == Kind::Alert)
                .map(|a| a.fingerprint.clone())
                .collect();
            assert!(!alerts.is_empty(), "{}: the CPU alert fires", r.scope);
            if round == 0 {
                first_open[i] = r.reconciled.opened.clone();
            } else {
                assert!(
                    r.reconciled.opened.is_empty(),
                    "round {round}, {}: reopened {:?}",
                    r.scope,
                    r.reconciled.opened
                );
            }
        }
    }
    assert!(
        first_open[0].iter().all(|f| !first_open[1].contains(f)),
        "the same advice in two regions has two fingerprints"
    );
    let s = store.lock().unwrap();
    for (sc, cpu) in [(&scopes[0], 95.0), (&scopes[1], 91.0)] {
        let open = s.advisories(false, Some(Kind::Alert), Some(&sc.key())).unwrap();
        assert!(!open.is_empty() && open.iter().all(|a| a.scope == sc.key()), "{sc}: {open:?}");
        // Each region has its own series and frontier for the same query key.
        let key = MetricQuery::new("AWS/EC2", "CPUUtilization", &[("AutoScalingGroupName", "twin")], Stat::Average, 300).key();
        let w = s.load_window(sc, 0).unwrap();
        let pts = &w.points[&key];
        assert_eq!(pts.len(), 72, "{sc}");
        assert!(pts.iter().all(|p| p.1 == cpu), "{sc}: its own values");
        // The frontier is the last period the third cycle fetched (past the last point: an
        // empty period is fetched, not asked again).
        let last_fetched = (now + Duration::minutes(10)).timestamp() / P * P - P;
        assert!(last_fetched >= start + 71 * P);
        assert_eq!(w.frontiers.get(&key), Some(&last_fetched), "{sc}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_account_is_read_through_its_role_and_a_denied_role_is_partial_alone() {
    let (_moto, url) = moto().await;
    let now = Utc::now();
    let start = (now.timestamp() - 6 * 3600) / P * P;
    let role2 = "arn:aws:iam::222222222222:role/headroom-readonly";
    let role3 = "arn:aws:iam::333333333333:role/headroom-readonly";
    // Account 123456789012 is moto's default (the dummy credentials'); 222222222222 is seeded
    // through an assumed role, so moto files its group under that account.
    seed_group(&url, "us-east-1", None, "home-web", 50.0, start).await;
    seed_group(&url, "us-east-1", Some(assume_role(&url, role2)), "member-web", 60.0, start).await;
    // AssumeRole into 333333333333 is denied by the proxy in front of moto.
    let px = proxy::start(&url, &[("AssumeRole", Fault::DenyIf("333333333333"))]).await;
    let mut cfg = config_for(&px.url);
    lean(&mut cfg);
    let acc = |id: &str, role: Option<&str>| AccountCfg {
        id: id.into(),
        role_arn: role.map(String::from),
        external_id: role.map(|_| "headroom-test".to_string()),
        session_name: "headroom".into(),
        regions: vec!["us-east-1".into()],
    };
    cfg.headroom.aws.accounts = vec![
        acc("123456789012", None),
        acc("222222222222", Some(role2)),
        acc("333333333333", Some(role3)),
    ];
    let cfg = Arc::new(cfg);
    let store = shared(Sqlite::in_memory().unwrap());
    let mut reports = vec![];
    for a in cfg.headroom.aws.effective_accounts() {
        let api = headroom::aws::sdk::connect_account(&cfg.headroom.aws, Some(&a), "us-east-1").await;
        let mut state = ScopeState::new(Scope::new(&a.id, "us-east-1"), true);
        reports.push(headroom::runtime::cycle(&api, &cfg, &store, &mut state, now).await.unwrap());
    }
    let names = |i: usize| reports[i].snapshot.asgs.iter().map(|g| g.name.clone()).collect::<Vec<_>>();
    assert!(!reports[0].snapshot.partial(), "{:?}", reports[0].snapshot.failed_sources());
    assert_eq!(names(0), ["home-web"]);
    assert!(!reports[1].snapshot.partial(), "{:?}", reports[1].snapshot.failed_sources());
    assert_eq!(names(1), ["member-web"], "the role's account, not the caller's");
    assert_eq!(reports[1].snapshot.series[0].points.len(), 72);
    assert!(reports[1].snapshot.series[0].points.iter().all(|p| p.1 == 60.0));
    // The denied account: partial, with the reason and the hint, nothing collected.
    let denied = &reports[2].snapshot;
    assert!(denied.partial());
    let failed = denied.failed_sources();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].source, "sts:AssumeRole");
    let reason = failed[0].reason.as_deref().unwrap_or("");
    assert!(reason.contains("access denied") && reason.contains(role3), "{reason}");
    assert!(reason.contains("headroom-member-trust.json"), "the hint: {reason}");
    assert!(denied.asgs.is_empty() && denied.series.is_empty());
    assert_eq!(px.count("GetMetricData"), 2, "only the readable accounts were queried");
}
