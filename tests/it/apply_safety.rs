//! Apply only what is still true, against moto through the fault proxy and as a user runs
//! `headroom`: an apply decides on fresh data (load that rose after the last cycle blocks a
//! scale-down with the fresh figure), against the resource as it is (a hand change blocks,
//! naming the difference), converges (apply → cycle → apply changes nothing the second
//! time), has one writer per resource (concurrent applies: one changing call), and a change
//! whose process died is settled by the next cycle and can then be undone.
//!
//! Every expected figure is worked out here from the formula and the data this test
//! publishes.

use crate::apply::{GROUP, group, peer};
use crate::support::*;
use chrono::Utc;

const P: i64 = 300;
/// History published: 36 h (rightsize needs 30), the last two periods left out so a later
/// publication lands inside the next fetch's overlap.
const HISTORY: i64 = 432;
const CPU: f64 = 20.0;

/// CPU of `web` at `cpu` % and GroupDesiredCapacity at `desired` for periods `from..=to`
/// before the current period (k periods back).
async fn publish(seed: &aws_config::SdkConfig, ks: std::ops::RangeInclusive<i64>, cpu: f64, desired: f64) {
    let end = Utc::now().timestamp() / P * P;
    let cw = aws_sdk_cloudwatch::Client::new(seed);
    let at = |v: f64| ks.clone().rev().map(|k| (end - k * P, v)).collect::<Vec<_>>();
    put_points(&cw, "AWS/EC2", "CPUUtilization", &[("AutoScalingGroupName", "web")], &at(cpu)).await;
    put_points(
        &cw,
        "AWS/AutoScaling",
        "GroupDesiredCapacity",
        &[("AutoScalingGroupName", "web")],
        &at(desired),
    )
    .await;
}

/// config/ for the CLI: the proxy as endpoint, approve mode, two days of lookback.
fn cli_config(tag: &str, endpoint: &str, mode: &str) -> std::path::PathBuf {
    let (endpoint, mode) = (endpoint.to_string(), mode.to_string());
    config_copy(tag, move |name, s| {
        if name != "headroom.toml" {
            return s;
        }
        s.replace(
            "# endpoint_url = \"http://127.0.0.1:5000\"",
            &format!("endpoint_url = \"{endpoint}\""),
        )
        .replace("max_attempts = 3", "max_attempts = 1")
        .replace("lookback_days = 14\n", "lookback_days = 2\n")
        .replace("mode = \"recommend\"", &format!("mode = \"{mode}\""))
    })
}

struct Cli {
    dir: std::path::PathBuf,
    cfg: String,
    store: String,
}

impl Cli {
    fn new(tag: &str, endpoint: &str) -> Cli {
        let dir = cli_config(tag, endpoint, "approve");
        Cli {
            cfg: dir.join("config").to_string_lossy().to_string(),
            store: dir.join("headroom.db").to_string_lossy().to_string(),
            dir,
        }
    }
    async fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["--config", self.cfg.as_str()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--store", self.store.as_str()]);
        headroom_in(&self.dir, &all).await
    }
    /// `headroom check --json`: the fingerprint and action of the rightsize advisory on web.
    async fn check_rightsize(&self) -> Option<(String, serde_json::Value)> {
        let out = self.run(&["check", "--json"]).await;
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(1),
            "check: {}",
            text(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
        v["advisories"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["kind"] == "rightsize" && a["resource"] == "asg/web")
            .map(|a| (a["fingerprint"].as_str().unwrap().to_string(), a["action"].clone()))
    }
}

/// ⌈load × 100 × (1 + headroom) ÷ target⌉ with the shipped [advice] (70 % target, 20 %).
fn needed(units: f64) -> i64 {
    ((units * 100.0 * 1.2 / 70.0) - 1e-9).ceil() as i64
}

#[tokio::test]
async fn apply_decides_on_fresh_data_and_refuses_a_resource_changed_by_hand() {
    let p = peer(&[]).await;
    publish(&p.seed, 3..=HISTORY, CPU, f64::from(GROUP.1)).await;
    let cli = Cli::new("apply-fresh", &p.proxy.url);

    // The stored advisory: 20 % of 4 instances is 0.8 instance-equivalents.
    let want = needed(CPU / 100.0 * f64::from(GROUP.1));
    assert_eq!(want, 2);
    let (fp, action) = cli.check_rightsize().await.expect("a rightsize advisory on web");
    assert_eq!(action["desired"], want, "{action}");

    // Load rises after that cycle: 70 % on 4 instances in the last two periods.
    let high = 70.0;
    publish(&p.seed, 1..=2, high, f64::from(GROUP.1)).await;
    let out = cli.run(&["apply", &fp[..12], "--yes"]).await;
    let so = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "refused: {so}{}", text(&out.stderr));
    let peak = high / 100.0 * f64::from(GROUP.1);
    let floor = (peak * 1.2 - 1e-9).ceil() as i64;
    assert!(
        so.contains("BLOCKED floor") && so.contains(&format!("peak {peak:.2} instance-equivalents")) && so.contains(&format!("= {floor}")),
        "the floor uses the fresh peak {peak:.2} → {floor}: {so}"
    );
    assert!(so.contains("allowed fresh-advice"), "{so}");
    assert_eq!(group(&p.seed).await.0, GROUP, "nothing changed");
    assert_eq!(p.proxy.count("UpdateAutoScalingGroup"), 0);

    // An operator raises the group by hand: the old advisory is refused, naming the change.
    aws_sdk_autoscaling::Client::new(&p.seed)
        .update_auto_scaling_group()
        .auto_scaling_group_name("web")
        .min_size(2)
        .max_size(10)
        .desired_capacity(8)
        .send()
        .await
        .unwrap();
    let out = cli.run(&["apply", &fp[..12], "--yes"]).await;
    let so = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{so}{}", text(&out.stderr));
    assert!(
        so.contains("BLOCKED unchanged")
            && so.contains("desired 4 → 8")
            && so.contains("max 8 → 10")
            && so.contains("changed outside headroom"),
        "{so}"
    );
    assert_eq!(group(&p.seed).await.0, (2, 8, 10), "the operator's setting stands");

    // Both refusals are in the audit, with their reasons; no change was made.
    let out = cli.run(&["audit", "--json"]).await;
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r["outcome"] == "blocked"));
    assert!(
        rows[0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("unchanged"))
    );
    assert!(
        rows[1]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("floor"))
    );
    assert_eq!(p.proxy.count("UpdateAutoScalingGroup"), 0);
}

#[tokio::test]
async fn apply_then_cycle_then_apply_changes_nothing_the_second_time() {
    let p = peer(&[]).await;
    publish(&p.seed, 3..=HISTORY, CPU, f64::from(GROUP.1)).await;
    let cli = Cli::new("apply-converge", &p.proxy.url);
    let want = needed(CPU / 100.0 * f64::from(GROUP.1));
    let (fp, _) = cli.check_rightsize().await.expect("a rightsize advisory on web");
    let out = cli.run(&["apply", &fp[..12], "--yes"]).await;
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("Applied (audit #1)"), "{}", text(&out.stdout));
    assert_eq!(group(&p.seed).await.0.1, want as i32);
    assert_eq!(p.proxy.count("UpdateAutoScalingGroup"), 1);

    // The next cycle sizes by the load in instance-equivalents (CPU × the 4 instances that
    // ran then), not today's 2 × the same percentile: no new advice on web.
    assert_eq!(cli.check_rightsize().await, None, "the group is as proposed: no rightsize advice");
    let out = cli.run(&["apply", &fp[..12], "--yes"]).await;
    assert_ne!(out.status.code(), Some(0), "nothing to apply: {}", text(&out.stdout));
    assert_eq!(p.proxy.count("UpdateAutoScalingGroup"), 1, "the second apply changed nothing");
}

/// 19 `headroom apply --yes` processes and the daemon's auto mode (in this process, on the same
/// store file) at once on one group: one changing call, one `applied` row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_applies_on_one_resource_make_one_change() {
    use headroom::config::{ApplyMode, Config};
    let p = peer(&[]).await;
    publish(&p.seed, 3..=HISTORY, CPU, f64::from(GROUP.1)).await;
    let cli = Cli::new("apply-race", &p.proxy.url);
    let (fp, _) = cli.check_rightsize().await.expect("a rightsize advisory on web");
    // The daemon: the same config in auto mode, its cycle's fresh snapshot and advice.
    let mut dcfg = Config::load(&cli.dir.join("config")).unwrap();
    dcfg.headroom.apply.mode = ApplyMode::Auto;
    let dcfg = std::sync::Arc::new(dcfg);
    let api = headroom::aws::sdk::connect(&dcfg.headroom.aws, "us-east-1").await;
    let shared = headroom::runtime::shared(headroom::store::Sqlite::open(std::path::Path::new(&cli.store)).unwrap());
    let now = Utc::now();
    let scope = headroom::domain::Scope::new("default", "us-east-1");
    let (snapshot, advisories) = headroom::runtime::evaluate(&api, &dcfg, &shared, scope, now).await.unwrap();
    assert!(advisories.iter().any(|a| a.fingerprint == fp), "the daemon sees the same advice");
    let mut report = crate::apply::report_with(advisories, now);
    report.snapshot = snapshot;
    const N: usize = 20;
    let args = ["apply", &fp[..12], "--yes", "--json"];
    let runs: Vec<_> = (0..N - 1).map(|_| cli.run(&args)).collect();
    // The processes collect for about a second before they claim: the daemon joins them then.
    let daemon = async {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        headroom::runtime::apply::after_cycle(&api, &dcfg, &shared, &report, now).await
    };
    let (outs, made) = tokio::join!(futures_util::future::join_all(runs), daemon);
    // Each process ends applied (the one that claimed the group first), blocked by the claim
    // or the cooldown it started, or — when it planned after the change was made — finds the
    // setting already in place and does nothing.
    let outcome = |o: &std::process::Output| -> String {
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", text(&o.stdout), text(&o.stderr)));
        v["result"]["outcome"].as_str().unwrap_or("none").to_string()
    };
    let outcomes: Vec<String> = outs.iter().map(outcome).collect();
    let count = |w: &str| outcomes.iter().filter(|o| *o == w).count();
    assert_eq!(
        count("applied") + made,
        1,
        "exactly one apply changes the group: {outcomes:?}, daemon {made}"
    );
    assert_eq!(count("applied") + count("blocked") + count("in-place"), N - 1, "{outcomes:?}");
    for (o, out) in outcomes.iter().zip(&outs) {
        let code = if o == "blocked" { 1 } else { 0 };
        assert_eq!(out.status.code(), Some(code), "{o}");
    }
    assert_eq!(p.proxy.count("UpdateAutoScalingGroup"), 1, "one changing call");
    let out = cli.run(&["audit", "--json", "--limit", "100"]).await;
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let ok: Vec<_> = rows.iter().filter(|r| r["outcome"] == "applied").collect();
    assert_eq!(ok.len(), 1, "{rows:#?}");
    let winner = ok[0]["id"].as_i64().unwrap();
    let blocked = rows.len() - 1;
    assert!(
        blocked >= count("blocked") && blocked <= count("blocked") + 1,
        "every blocked attempt is audited (the daemon's too): {outcomes:?}"
    );
    for r in rows.iter().filter(|r| r["outcome"] != "applied") {
        assert_eq!(r["outcome"], "blocked", "{r}");
        let reasons: Vec<&str> = r["reasons"].as_array().unwrap().iter().filter_map(|x| x.as_str()).collect();
        assert!(
            reasons
                .iter()
                .any(|x| x.contains(&format!("audit #{winner}")) || x.starts_with("cooldown") || x.starts_with("fresh-advice")),
            "a loser names the winner: {reasons:?}"
        );
    }
    eprintln!(
        "20 concurrent applies: {} applied, {} blocked, {} in place by the CLI; the daemon made {made} (winner: {} mode)",
        count("applied"),
        count("blocked"),
        count("in-place"),
        ok[0]["mode"]
    );
}

#[tokio::test]
async fn a_change_whose_process_died_is_settled_by_the_next_cycle_and_can_be_undone() {
    let p = peer(&[]).await;
    publish(&p.seed, 3..=HISTORY, CPU, f64::from(GROUP.1)).await;
    let dir = cli_config("apply-crash", &p.proxy.url, "approve");
    let cfg = dir.join("config").to_string_lossy().to_string();
    let store = dir.join("headroom.db").to_string_lossy().to_string();
    let out = headroom_in(&dir, &["--config", &cfg, "check", "--json", "--store", &store]).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fp = v["advisories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "rightsize" && a["resource"] == "asg/web")
        .map(|a| a["fingerprint"].as_str().unwrap().to_string())
        .expect("a rightsize advisory");
    // The process dies right after UpdateAutoScalingGroup, before completing its row.
    let crashed = {
        let (dir, cfg, store, fp) = (dir.clone(), cfg.clone(), store.clone(), fp.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
                .args(["--config", &cfg, "apply", &fp, "--yes", "--store", &store])
                .env("HEADROOM_FAILPOINT", "after-change")
                .current_dir(&dir)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert!(!crashed.status.success(), "the failpoint killed it");
    assert_eq!(p.proxy.count("UpdateAutoScalingGroup"), 1);
    let changed = group(&p.seed).await.0;
    assert_eq!(changed.1, needed(CPU / 100.0 * f64::from(GROUP.1)) as i32);
    let audit = |dir: std::path::PathBuf, cfg: String, store: String| async move {
        let out = headroom_in(&dir, &["--config", &cfg, "audit", "--json", "--store", &store]).await;
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let rows = audit(dir.clone(), cfg.clone(), store.clone()).await;
    assert_eq!(rows[0]["outcome"], "started", "the row was left open: {rows}");
    // Undo refuses an unsettled row.
    let out = headroom_in(&dir, &["--config", &cfg, "apply", "--undo", "1", "--yes", "--store", &store]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not settled"), "{}", text(&out.stderr));

    // The next cycle reads the group: as intended, so applied.
    let out = headroom_in(&dir, &["--config", &cfg, "check", "--store", &store]).await;
    assert!(text(&out.stderr).contains("settled audit #1"), "{}", text(&out.stderr));
    let rows = audit(dir.clone(), cfg.clone(), store.clone()).await;
    assert_eq!(rows[0]["outcome"], "applied", "{rows}");
    assert_eq!(rows[0]["after"]["desired"], changed.1);

    // Undo now works at once: no cooldown, no floor for a way back.
    let out = headroom_in(&dir, &["--config", &cfg, "apply", "--undo", "1", "--yes", "--store", &store]).await;
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(group(&p.seed).await.0, GROUP, "restored");
    assert!(text(&out.stdout).contains("not checked for an undo"), "{}", text(&out.stdout));

    // Issue 35, item 11: AWS answering 5xx while the resource is read is exit 1 (the call
    // failed; nothing changed), as the README says, not 2 (bad input).
    let failing = crate::support::proxy::start(&p.url, &[("DescribeAutoScalingGroups", crate::support::proxy::Fault::ServerError)]).await;
    let dir5 = cli_config("apply-5xx", &failing.url, "approve");
    let cfg5 = dir5.join("config").to_string_lossy().to_string();
    let out = headroom_in(&dir5, &["--config", &cfg5, "apply", "--undo", "2", "--yes", "--store", &store]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("nothing was changed"), "{}", text(&out.stderr));
    assert_eq!(group(&p.seed).await.0, GROUP, "unchanged");
}

/// Auto mode never reverts an operator's hand change: a table switched to on-demand by
/// headroom and switched back by hand stays as the operator left it over five cycles (one
/// `blocked` audit row a day says why); the info-severity change was announced with its audit
/// id, before → after and the undo command, through a route that only takes warnings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_announces_its_changes_and_never_reverts_a_hand_change() {
    use crate::apply::{advisory, api, commit, config, report_with, table};
    use headroom::config::{ApplyMode, NotifyCfg, ReceiverCfg, ReceiverKind, RouteCfg, SlackCfg, SlackTarget};
    use headroom::domain::*;
    use headroom::store::{Audit, Sqlite};
    let p = peer(&[]).await;
    let files = temp_dir("apply-auto-files");
    let mut cfg = config(&p.proxy.url, "apply-auto-flip");
    cfg.headroom.apply.mode = ApplyMode::Auto;
    let d = NotifyCfg::default();
    cfg.headroom.notify = NotifyCfg {
        receivers: vec![ReceiverCfg {
            name: "files".into(),
            kind: ReceiverKind::Slack(SlackCfg {
                target: SlackTarget::Dir(files.clone()),
                channel: None,
                timeout_s: 5,
            }),
        }],
        // The shipped default: warnings and worse.
        routes: vec![RouteCfg::to(&["files"], Severity::Warning, &d)],
        ..d
    };
    let api = api(&cfg).await;
    let mut on_demand = advisory(
        "fp-flip",
        Kind::Dynamodb,
        "table/chats",
        Action::SetTableCapacity {
            table: "chats".into(),
            mode: "PAY_PER_REQUEST".into(),
            rcu: None,
            wcu: None,
            rcu_autoscale: None,
            wcu_autoscale: None,
        },
    );
    on_demand.severity = Severity::Info;
    let t0 = Utc::now();
    let mut store = Sqlite::in_memory().unwrap();
    commit(&mut store, t0, vec![on_demand.clone()], 30.0, 1.0, false);
    let shared = headroom::runtime::shared(store);
    let made = headroom::runtime::apply::after_cycle(&api, &cfg, &shared, &report_with(vec![on_demand.clone()], t0), t0).await;
    assert_eq!(made, 1);
    assert_eq!(table(&p.seed).await.0, "PAY_PER_REQUEST");
    assert_eq!(p.proxy.count("UpdateTable"), 1);

    // Announced, though the advisory is info and the route takes warnings.
    let n = headroom::notify::Notifier::new(std::sync::Arc::new(cfg.headroom.notify.clone()));
    let later = t0.timestamp() + cfg.headroom.notify.group_wait_s as i64 + 1;
    n.pump(&shared, later).await.unwrap();
    let sent: Vec<String> = std::fs::read_dir(&files)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(sent.len(), 1, "one message: {sent:?}");
    for needle in [
        "APPLIED (audit #1)",
        "PROVISIONED 25 RCU / 10 WCU",
        "PAY_PER_REQUEST",
        "headroom apply --undo 1 --yes",
    ] {
        assert!(sent[0].contains(needle), "{needle} in {}", sent[0]);
    }

    // The operator switches it back by hand; five hourly cycles propose on-demand again.
    aws_sdk_dynamodb::Client::new(&p.seed)
        .update_table()
        .table_name("chats")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::Provisioned)
        .provisioned_throughput(
            aws_sdk_dynamodb::types::ProvisionedThroughput::builder()
                .read_capacity_units(25)
                .write_capacity_units(10)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // A cycle on which the advice is absent resolves it; when it comes back it is open again
    // (the flip-flop the issue saw).
    {
        let mut s = headroom::runtime::lock_store(&shared);
        commit(&mut s, t0 + chrono::Duration::minutes(30), vec![], 30.0, 1.0, false);
    }
    for h in 1..=5 {
        let now = t0 + chrono::Duration::hours(h);
        {
            let mut s = headroom::runtime::lock_store(&shared);
            commit(&mut s, now, vec![on_demand.clone()], 30.0, 1.0, false);
        }
        let made = headroom::runtime::apply::after_cycle(&api, &cfg, &shared, &report_with(vec![on_demand.clone()], now), now).await;
        assert_eq!(made, 0, "cycle {h}");
        assert_eq!(table(&p.seed).await.0, "PROVISIONED", "cycle {h}: the operator's setting stands");
    }
    assert_eq!(p.proxy.count("UpdateTable"), 1, "headroom never switched it again");
    let store = headroom::runtime::lock_store(&shared);
    let rows = store.audit_rows(None, None, 100).unwrap();
    let blocked: Vec<_> = rows.iter().filter(|r| r.outcome == "blocked").collect();
    assert_eq!(blocked.len(), 1, "one blocked row a day: {rows:#?}");
    let reasons = blocked[0].reasons.as_ref().unwrap();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("operator: billing mode PAY_PER_REQUEST → PROVISIONED changed by hand since audit #1")),
        "{reasons:?}"
    );
}

/// Leaving on-demand, a table's global secondary indexes get provisioned throughput too (AWS
/// refuses the switch without it): each gets the table's.
#[tokio::test]
async fn switching_a_table_to_provisioned_sets_its_indexes_throughput() {
    use crate::apply::{advisory, api, commit, config};
    use headroom::act::{self, Outcome};
    use headroom::domain::*;
    use headroom::store::{Audit, Sqlite};
    let p = peer(&[]).await;
    let cfg = config(&p.proxy.url, "apply-gsi");
    let api = api(&cfg).await;
    let now = Utc::now();
    let down = advisory(
        "fp-od",
        Kind::Dynamodb,
        "table/chats",
        Action::SetTableCapacity {
            table: "chats".into(),
            mode: "PAY_PER_REQUEST".into(),
            rcu: None,
            wcu: None,
            rcu_autoscale: None,
            wcu_autoscale: None,
        },
    );
    let mut store = Sqlite::in_memory().unwrap();
    commit(&mut store, now, vec![down.clone()], 30.0, 1.0, false);
    let plan = act::plan_advisory(
        &api,
        &store,
        &cfg,
        ("default/us-east-1", &down),
        |_, _| Default::default(),
        &act::Seen::default(),
        now,
    )
    .await
    .unwrap();
    let o = act::apply(&api, &mut store, &cfg, &plan, "approve", now).await.unwrap();
    assert!(matches!(o, Outcome::Applied { audit_id: 1, .. }), "{o:?}");
    // AWS allows 4 switches to on-demand a day: headroom counts its own.
    assert_eq!(
        store
            .on_demand_switches("default/us-east-1", "table/chats", now.timestamp() - 86_400)
            .unwrap(),
        1
    );
    // Back to provisioned 25/10 (the table's setting before), as an undo: at once.
    let row = store.audit_row(1).unwrap().unwrap();
    let plan = act::plan_undo(&api, &store, &cfg, &row, |_, _| Default::default(), now)
        .await
        .unwrap();
    let o = act::apply(&api, &mut store, &cfg, &plan, "undo", now).await.unwrap();
    assert!(matches!(o, Outcome::Applied { .. }), "{o:?} {:#?}", plan.verdicts);
    let t = aws_sdk_dynamodb::Client::new(&p.seed)
        .describe_table()
        .table_name("chats")
        .send()
        .await
        .unwrap();
    let t = t.table().unwrap();
    let gsi = &t.global_secondary_indexes()[0];
    let pt = gsi.provisioned_throughput().unwrap();
    assert_eq!(
        (pt.read_capacity_units(), pt.write_capacity_units()),
        (Some(25), Some(10)),
        "{gsi:?}"
    );
}
