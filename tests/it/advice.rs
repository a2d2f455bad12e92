//! Advice end to end: alert rules whose state survives a restart of the store (a real SQLite
//! file, closed and reopened between cycles), and `headroom check --json` against moto with a
//! fleet shaped so that an alert fires and right-sizing must hold back.

use crate::support::*;
use headroom::analyze::{self, History};
use headroom::config::Config;
use headroom::decide;
use headroom::domain::*;
use headroom::store::Sqlite;

const P: i64 = 300;

fn scope() -> Scope {
    Scope::new("default", "us-east-1")
}

fn asg(name: &str) -> AsgState {
    AsgState {
        name: name.into(),
        min_size: 1,
        max_size: 4,
        desired_capacity: 2,
        in_service: 2,
        instance_types: vec![("t3.medium".into(), 2)],
        overrides: vec![],
        distribution: None,
        target_group_arns: vec![],
        tags: vec![],
        policies: vec![],
    }
}

/// CPU of `web`: 30 % from `from`, `high` % from `rise` on, up to `now` (exclusive).
fn snapshot(from: Ts, rise: Ts, fall: Ts, now: Ts, high: f64) -> Snapshot {
    let r = ResourceId::asg("web");
    let points = (0..)
        .map(|i| from + i * P)
        .take_while(|t| *t < now)
        .map(|t| (t, if t >= rise && t < fall { high } else { 30.0 }))
        .collect();
    Snapshot {
        taken_at: chrono::DateTime::from_timestamp(now, 0).unwrap(),
        scope: scope(),
        asgs: vec![asg("web")],
        tables: vec![],
        series: std::sync::Arc::new(vec![Series {
            resource: r.clone(),
            signal: Signal::CpuPercent,
            query: MetricQuery::new(
                "AWS/EC2",
                "CPUUtilization",
                &[("AutoScalingGroupName", "web")],
                Stat::Average,
                P as u32,
            ),
            points,
        }]),
        index: Default::default(),
        spend: vec![],
        spend_fetched_at: None,
        sources: vec![],
        api_calls: ApiCalls::default(),
        points_fetched: 0,
    }
}

/// One cycle's analysis on a store opened from `path` and closed again (a process restart
/// between cycles). Returns the Fired/Resolved transitions of `rule` and the alert advisory's
/// reconciliation.
fn cycle(path: &std::path::Path, cfg: &Config, snap: &Snapshot, now: Ts, rule: &str) -> (Vec<(Ts, String)>, headroom::store::Reconciled) {
    let mut store = Sqlite::open(path).unwrap();
    let prior = store.rule_states(&scope()).unwrap();
    let history = History {
        rule_states: &prior,
        outlooks: &[],
    };
    let findings = analyze::analyze(snap, &history, cfg, now);
    let advisories = decide::decide(&findings, now);
    let eval = findings.evaluation;
    let rec = store.save_advice(&scope(), &eval.states, &advisories, false, now).unwrap();
    let events = eval
        .events
        .iter()
        .filter(|e| e.rule == rule)
        .map(|e| (e.at, format!("{:?}", e.transition)))
        .collect();
    (events, rec)
}

#[test]
fn a_restart_neither_resets_a_pending_timer_nor_fires_twice() {
    let cfg = Config::embedded().unwrap();
    let rule = cfg.rules.iter().find(|r| r.name == "cpu-high-warning").unwrap().clone();
    assert_eq!(
        (rule.threshold, rule.for_s, rule.window_s),
        (80.0, 600, 300),
        "the shipped rule this test is built on"
    );
    let dir = temp_dir("restart");
    let db = dir.join("headroom.db");
    let t0: Ts = 1_800_000_000 / 86_400 * 86_400;
    let from = t0 - 86_400;
    let rise = t0;
    let never = Ts::MAX;
    // The first step that sees the rise is rise + P (its window is [rise, rise + P)).
    let pending_from = rise + P;
    let fires_at = pending_from + rule.for_s as i64;

    // Cycle 1, 5 minutes into the condition: pending, nothing fired.
    let now1 = pending_from + P;
    let (ev, rec) = cycle(&db, &cfg, &snapshot(from, rise, never, now1, 92.0), now1, &rule.name);
    assert!(ev.is_empty(), "{ev:?}");
    assert!(rec.opened.iter().all(|fp| *fp != alert_fp(&rule.name)));
    let st = Sqlite::open(&db).unwrap().rule_states(&scope()).unwrap();
    let s = &st[&(rule.name.clone(), ResourceId::asg("web"))];
    assert_eq!((s.state, s.active_since), (AlertState::Pending, Some(pending_from)));

    // Restart; cycle 2 at the step where the `for` has run out: fires once, at fires_at.
    let now2 = fires_at;
    let (ev, rec) = cycle(&db, &cfg, &snapshot(from, rise, never, now2, 92.0), now2, &rule.name);
    assert_eq!(ev, vec![(fires_at, "Fired".to_string())]);
    assert!(rec.opened.contains(&alert_fp(&rule.name)));

    // Restart while firing; cycle 3: no second Fired, the advisory is updated, not opened.
    let now3 = now2 + 2 * P;
    let (ev, rec) = cycle(&db, &cfg, &snapshot(from, rise, never, now3, 92.0), now3, &rule.name);
    assert!(ev.is_empty(), "{ev:?}");
    assert!(rec.updated.contains(&alert_fp(&rule.name)) && !rec.opened.contains(&alert_fp(&rule.name)));

    // The load falls at now3: the first step whose window holds only low points resolves it.
    let now4 = now3 + 3 * P;
    let (ev, rec) = cycle(&db, &cfg, &snapshot(from, rise, now3, now4, 92.0), now4, &rule.name);
    assert_eq!(ev, vec![(now3 + P, "Resolved".to_string())]);
    assert!(rec.resolved.contains(&alert_fp(&rule.name)));
    let list = Sqlite::open(&db).unwrap().advisories(true, Some(Kind::Alert), None).unwrap();
    let a = list.iter().find(|a| a.advisory.fingerprint == alert_fp(&rule.name)).unwrap();
    assert_eq!(a.state, AdvisoryState::Resolved);
}

/// The alert's fingerprint: kind + resource + rule, within the scope.
fn alert_fp(rule: &str) -> String {
    scope().fingerprint(&headroom::decide::fingerprint(Kind::Alert, &ResourceId::asg("web"), rule))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_against_moto_fires_the_alert_and_holds_back_on_ten_hours_of_history() {
    let (_moto, url) = moto().await;
    let conf = seed_conf(&url).await;
    create_launch_template(&url, "lt-it", "t3.medium");
    crate::collect_moto::create_asg(&aws_sdk_autoscaling::Client::new(&conf), "adv-web", &["t3.medium"], 1, 100).await;
    // Ten hours of CPU, the last 40 minutes at 92 %.
    let now = chrono::Utc::now().timestamp() / P * P;
    let pts: Vec<(i64, f64)> = (1..=120)
        .map(|k| (now - k * P, if k <= 8 { 92.0 } else { 30.0 + (k % 7) as f64 }))
        .collect();
    put_points(
        &aws_sdk_cloudwatch::Client::new(&conf),
        "AWS/EC2",
        "CPUUtilization",
        &[("AutoScalingGroupName", "adv-web")],
        &pts,
    )
    .await;
    let dir = config_copy("advice", |name, s| {
        if name != "headroom.toml" {
            return s;
        }
        s.replace("# endpoint_url = \"http://127.0.0.1:5000\"", &format!("endpoint_url = \"{url}\""))
            .replace("max_attempts = 3", "max_attempts = 1")
            .replace("name = \"web\"", "name = \"adv-web\"")
            .replace("[[targets.dynamodb]]\nname = \"chats\"\n", "")
            .replace("lookback_days = 14\n", "lookback_days = 1\n")
    });
    let out = headroom_in(&dir, &["check", "--config", "config", "--json", "--fail-on", "warning"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a warning is open, --fail-on warning: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let advs = v["advisories"].as_array().unwrap();
    let find = |kind: &str, needle: &str| {
        advs.iter()
            .find(|a| a["kind"] == kind && a["summary"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no {kind} advisory with `{needle}` in {advs:#?}"))
    };
    // Both CPU rules (> 75 and > 80, for 10 min) fire on the 92 % stretch, at its value.
    for (rule, sev) in [("cpu-high-warning", "warning"), ("cpu-high", "info")] {
        let a = advs
            .iter()
            .find(|a| {
                a["kind"] == "alert"
                    && a["evidence"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|e| e["value"].as_str().unwrap().starts_with(&format!("{rule} ")))
            })
            .unwrap_or_else(|| panic!("{rule} did not fire: {advs:#?}"));
        assert_eq!(a["severity"], sev);
        assert_eq!(a["resource"], "asg/adv-web");
        let value = a["evidence"].as_array().unwrap().iter().find(|e| e["name"] == "value").unwrap();
        assert_eq!(value["value"].as_str().unwrap().parse::<f64>().unwrap(), 92.0);
    }
    // Right-sizing holds back: 120 points of 5 minutes = 10 h < 30 h.
    let r = find("rightsize", "not enough history");
    assert!(
        r["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("{:.1} h", 120.0 * P as f64 / 3600.0)),
        "{r}"
    );
    assert!(r["action"].is_null() && r["monthly_cost_delta_usd"].is_null());
    assert_eq!(r["severity"], "info");

    // The store lists the same advisories; a second run opens nothing new.
    let list = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (code, stdout, _) = list(&["advisories", "--config", "config", "--json"]);
    assert_eq!(code, Some(0));
    let stored: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(stored.as_array().unwrap().len(), advs.len());
    let (code, _, err) = list(&["advisories", "--config", "config", "--kind", "nope"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown advisory kind"), "{err}");
    let fp = r["fingerprint"].as_str().unwrap();
    let (code, stdout, _) = list(&["advisories", "--config", "config", "--ack", &fp[..8]]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("acknowledged"), "{stdout}");
    let out = headroom_in(&dir, &["check", "--config", "config", "--json"]).await;
    let v2: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v2["reconciled"]["opened"].as_array().unwrap().len(), 0, "{}", v2["reconciled"]);
    let (_, stdout, _) = list(&["advisories", "--config", "config", "--json"]);
    let stored: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let acked = stored.as_array().unwrap().iter().find(|a| a["fingerprint"] == fp).unwrap();
    assert_eq!(
        acked["state"], "acknowledged",
        "an acknowledged advisory stays acknowledged while it holds"
    );
}

/// Issue 20, items 2 and 3: every kind that holds back on short history says so with the same
/// "X h of the Y h needed" note right-sizing gives; and when a metrics source failed this cycle,
/// every one of them says the data could not be fetched (source and error), not that the
/// history is short.
#[test]
fn every_kind_that_holds_back_says_why() {
    let cfg = Config::embedded().unwrap();
    let adv = &cfg.headroom.advice;
    assert!(adv.spot_classes.contains(&"batch".to_string()), "the shipped spot classes");
    let now: Ts = 1_800_000_000 / P * P;
    let hours = 10;
    let from = now - hours * 3600;
    let pts = |v: f64| -> Vec<(Ts, f64)> { (0..).map(|i| from + i * P).take_while(|t| *t < now).map(|t| (t, v)).collect() };
    let have = pts(1.0).len() as f64 * P as f64 / 3600.0;
    let mut g = asg("batch");
    g.tags = vec![(adv.service_class_tag.clone(), "batch".into())];
    let (ra, rt) = (ResourceId::asg("batch"), ResourceId::table("orders"));
    let s = |r: &ResourceId, sig, v| Series {
        resource: r.clone(),
        signal: sig,
        query: MetricQuery::new("T", &format!("{sig:?}"), &[("R", r.0.as_str())], Stat::Average, P as u32),
        points: pts(v).into(),
    };
    let mut snap = Snapshot::bare(
        now,
        vec![g],
        vec![
            s(&ra, Signal::CpuPercent, 40.0),
            s(&ra, Signal::DesiredCapacity, 2.0),
            s(&rt, Signal::ConsumedRcu, 300.0),
            s(&rt, Signal::ConsumedWcu, 30.0),
        ],
    );
    snap.tables = vec![TableState {
        name: "orders".into(),
        billing_mode: "PROVISIONED".into(),
        read_capacity: Some(10),
        write_capacity: Some(5),
        item_count: None,
        size_bytes: None,
        gsis: vec![],
    }];
    let advise = |snap: &Snapshot| {
        let prior = Default::default();
        let history = History {
            rule_states: &prior,
            outlooks: &[],
        };
        decide::decide(&analyze::analyze(snap, &history, &cfg, now), now)
    };
    let need = adv.min_history_hours;
    let short = format!("({have:.1} h of the {need:.0} h needed)");
    let got = advise(&snap);
    for (kind, resource) in [
        (Kind::Rightsize, &ra),
        (Kind::AsgLimits, &ra),
        (Kind::SpotMix, &ra),
        (Kind::Dynamodb, &rt),
    ] {
        let a = got
            .iter()
            .find(|a| a.kind == kind && &a.resource == resource)
            .unwrap_or_else(|| panic!("{kind:?} on {resource:?} says nothing: {got:#?}"));
        assert!(a.summary.contains(&short), "{kind:?}: {}", a.summary);
        assert!(a.action.is_none() && a.severity == Severity::Info, "{kind:?}");
    }
    // Forecasts say why a series has none: its distinct hours of history against MIN_HOURS.
    let min_hours = headroom::analyze::outlook::MIN_HOURS;
    let f = got
        .iter()
        .find(|a| a.kind == Kind::Forecast && a.resource == ra && a.summary.contains("the forecast of CPU"))
        .unwrap_or_else(|| panic!("no forecast note: {got:#?}"));
    assert!(
        f.summary.contains(&format!(
            "held back: not enough history ({:.1} h of the {min_hours} h needed)",
            hours as f64
        )),
        "{}",
        f.summary
    );
    assert!(
        got.iter()
            .any(|a| a.kind == Kind::Forecast && a.resource == rt && a.summary.contains("consumed reads"))
    );
    // CloudWatch failed this cycle: the same kinds say the data could not be fetched.
    snap.sources = vec![SourceStatus {
        source: "cloudwatch".into(),
        ok: false,
        reason: Some("cloudwatch GetMetricData: timeout: no answer within the timeout".into()),
    }];
    let got = advise(&snap);
    for kind in [Kind::Rightsize, Kind::AsgLimits, Kind::SpotMix, Kind::Dynamodb, Kind::Forecast] {
        let a = got.iter().find(|a| a.kind == kind).unwrap_or_else(|| panic!("{kind:?}"));
        assert!(
            a.summary
                .contains("could not be fetched this cycle (cloudwatch: cloudwatch GetMetricData: timeout"),
            "{kind:?}: {}",
            a.summary
        );
        assert!(!a.summary.contains("not enough history"), "{kind:?}: {}", a.summary);
    }
}
