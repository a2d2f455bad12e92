//! A randomized test of apply / undo / hand change / cycle / crash sequences on a simulated
//! group (an in-memory group behind `aws::Changes`: moto would answer the same calls, only
//! slower for hundreds of sequences), over many seeds. Through headroom's applies, capacity
//! never goes below the fresh peak × (1 + headroom) (an undo restores a setting that was in
//! force and skips the floor by design); a change is never made over a hand change it did
//! not see; and after the last cycle every audit row is settled.

use headroom::act::{self, Current, Outcome};
use headroom::aws::{AwsError, Changes, ErrorKind, GroupConfig, Mix, TableConfig};
use headroom::config::{ApplyMode, Config};
use headroom::domain::*;
use headroom::store::{Audit, Claim, ClaimRules, NewAction, Sqlite};
use std::sync::Mutex;

const SCOPE: &str = "default/us-east-1";
const P: i64 = 300;

/// The simulated group: min 1, max 12, desired as set; every instance in service at once.
struct Group(Mutex<i32>);

fn refuse(op: &'static str) -> AwsError {
    AwsError {
        service: "autoscaling",
        operation: op,
        kind: ErrorKind::InvalidRequest,
        message: "not simulated".into(),
    }
}

impl Changes for Group {
    async fn read_group(&self, name: &str) -> Result<GroupConfig, AwsError> {
        let d = *self.0.lock().unwrap();
        Ok(GroupConfig {
            name: name.into(),
            min: 1,
            max: 12,
            desired: d,
            in_service: d,
            tags: vec![("headroom:apply".into(), "true".into())],
            mix: None,
            policies: vec![],
            refresh: None,
        })
    }
    async fn set_group_size(&self, _: &str, _: i32, _: i32, desired: i32) -> Result<(), AwsError> {
        *self.0.lock().unwrap() = desired;
        Ok(())
    }
    async fn set_target_value(&self, _: &str, _: &str, _: f64) -> Result<(), AwsError> {
        Err(refuse("PutScalingPolicy"))
    }
    async fn set_mix(&self, _: &str, _: &Mix) -> Result<(), AwsError> {
        Err(refuse("UpdateAutoScalingGroup"))
    }
    async fn start_refresh(&self, _: &str, _: i32) -> Result<String, AwsError> {
        Err(refuse("StartInstanceRefresh"))
    }
    async fn read_table(&self, _: &str) -> Result<TableConfig, AwsError> {
        Err(refuse("DescribeTable"))
    }
    async fn set_table(&self, _: &str, _: &str, _: Option<i64>, _: Option<i64>) -> Result<(), AwsError> {
        Err(refuse("UpdateTable"))
    }
    async fn set_table_scaling(&self, _: &str, _: Option<(i64, i64)>, _: Option<(i64, i64)>) -> Result<(), AwsError> {
        Err(refuse("RegisterScalableTarget"))
    }
}

/// xorshift64*: the sequences are reproducible from their seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn size(d: i32) -> Setting {
    Setting::Size {
        min: 1,
        max: 12,
        desired: d,
    }
}

#[tokio::test]
async fn random_sequences_keep_the_floor_and_settle_every_row() {
    let mut cfg = Config::embedded().unwrap();
    cfg.headroom.apply.mode = ApplyMode::Approve;
    cfg.headroom.apply.cooldown_s = 0;
    cfg.headroom.apply.max_actions_per_day = 100_000;
    cfg.headroom.apply.max_step_percent = 100;
    cfg.headroom.apply.max_step_instances = 12;
    cfg.headroom.apply.kill_switch = std::path::PathBuf::from("/nonexistent/headroom-stop-apply");
    let h = cfg.headroom.advice.headroom / 100.0;
    let (mut applied, mut blocked_floor, mut blocked_unchanged, mut crashes) = (0, 0, 0, 0);
    for seed in 1..=60u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let group = Group(Mutex::new(4));
        let mut store = Sqlite::in_memory().unwrap();
        // The series the floor reads: CPU % and desired capacity, one point a period.
        let mut cpu: Vec<(Ts, f64)> = vec![];
        let mut desired: Vec<(Ts, f64)> = vec![];
        let mut t: Ts = 1_800_000_000;
        // What headroom last decided against (an advisory's basis), possibly stale.
        let mut basis = size(4);
        for _step in 0..40 {
            t += P;
            let now = chrono::DateTime::from_timestamp(t, 0).unwrap();
            let d = *group.0.lock().unwrap();
            match rng.below(6) {
                // A cycle: the load of this period (0.5 – 6 instance-equivalents) is measured
                // on the instances in service; the decision basis is refreshed; dead claims
                // are settled.
                0 | 1 => {
                    let load = 0.5 + rng.below(56) as f64 / 10.0;
                    cpu.push((t, (load / f64::from(d) * 100.0).min(100.0)));
                    desired.push((t, f64::from(d)));
                    basis = size(d);
                    let tags = |c: &Current| c.tags().to_vec();
                    act::reconcile(
                        &group,
                        &mut store,
                        &cfg,
                        SCOPE,
                        tags,
                        now + chrono::Duration::seconds(act::CLAIM_STALE_S + 1),
                    )
                    .await
                    .unwrap();
                }
                // An apply of a proposal to a random size, decided against `basis`.
                2 => {
                    let to = 1 + rng.below(12) as i32;
                    let a = Advisory {
                        fingerprint: format!("fp-{seed}-{t}"),
                        kind: Kind::Rightsize,
                        resource: ResourceId::asg("web"),
                        severity: Severity::Warning,
                        summary: "random".into(),
                        evidence: vec![],
                        action: Some(Action::SetCapacity {
                            asg: "web".into(),
                            min: 1,
                            desired: to,
                            max: 12,
                        }),
                        monthly_cost_delta: None,
                        basis: Some(basis.clone()),
                    };
                    let seen = act::Seen {
                        at: Some(t),
                        partial: Some(false),
                        firing: vec![],
                        auto: false,
                    };
                    let (c2, d2) = (cpu.clone(), desired.clone());
                    let peaks = move |_: &str, cur: &Current| {
                        act::peaks_of(cur, |s| match s {
                            Signal::CpuPercent => Some((P as u32, c2.clone())),
                            Signal::DesiredCapacity => Some((P as u32, d2.clone())),
                            _ => None,
                        })
                    };
                    let plan = act::plan_advisory(&group, &store, &cfg, (SCOPE, &a), peaks, &seen, now)
                        .await
                        .unwrap();
                    let before = *group.0.lock().unwrap();
                    let out = act::apply(&group, &mut store, &cfg, &plan, "approve", now).await.unwrap();
                    let after = *group.0.lock().unwrap();
                    match out {
                        Outcome::Applied { .. } => {
                            applied += 1;
                            assert_eq!(basis, size(before), "seed {seed}: applied over a change it did not see");
                            if after < before {
                                // The fresh peak in instance-equivalents, worked out here.
                                let mut j = 0;
                                let mut cap = desired.first().map(|x| x.1).unwrap_or(f64::from(before));
                                let mut peak: f64 = 0.0;
                                for &(ts, c) in &cpu {
                                    while j < desired.len() && desired[j].0 <= ts {
                                        cap = desired[j].1;
                                        j += 1;
                                    }
                                    peak = peak.max(c / 100.0 * cap);
                                }
                                assert!(
                                    f64::from(after) >= (peak * (1.0 + h) - 1e-9).ceil(),
                                    "seed {seed}: {before} → {after} below the peak {peak} × (1 + {h})"
                                );
                            }
                        }
                        Outcome::Blocked { reasons } => {
                            assert_eq!(after, before, "seed {seed}: blocked but changed");
                            blocked_floor += usize::from(reasons.iter().any(|r| r.starts_with("floor")));
                            blocked_unchanged += usize::from(reasons.iter().any(|r| r.starts_with("unchanged")));
                        }
                        Outcome::InPlace => assert_eq!(after, before),
                        other => panic!("seed {seed}: {other:?}"),
                    }
                }
                // An undo of a random settled row.
                3 => {
                    let rows = store.audit_rows(Some(SCOPE), Some("applied"), 100).unwrap();
                    if rows.is_empty() {
                        continue;
                    }
                    let row = &rows[rng.below(rows.len() as u64) as usize];
                    let Ok(plan) = act::plan_undo(&group, &store, &cfg, row, |_, _| Default::default(), now).await else {
                        continue;
                    };
                    let before = *group.0.lock().unwrap();
                    match act::apply(&group, &mut store, &cfg, &plan, "undo", now).await.unwrap() {
                        Outcome::Applied { .. } => {
                            assert_eq!(row.left(), &size(before), "seed {seed}: undo over a later change");
                            assert_eq!(size(*group.0.lock().unwrap()), row.before, "seed {seed}: undo restores");
                        }
                        Outcome::Blocked { reasons } => {
                            assert!(
                                reasons.iter().all(|r| r.starts_with("unchanged") || r.starts_with("one-writer")),
                                "seed {seed}: an undo is blocked only by a later change or an unsettled claim: {reasons:?}"
                            );
                        }
                        Outcome::InPlace => {}
                        other => panic!("seed {seed}: {other:?}"),
                    }
                }
                // A hand change.
                4 => *group.0.lock().unwrap() = 1 + rng.below(12) as i32,
                // A crash: a change claimed (by a process on another host), maybe made, never
                // completed.
                _ => {
                    let to = 1 + rng.below(12) as i32;
                    let (b, i) = (size(d), size(to));
                    let claim = store
                        .claim(
                            &NewAction {
                                scope: SCOPE,
                                resource: "asg/web",
                                fingerprint: None,
                                kind: Some(Kind::Rightsize),
                                undo_of: None,
                                mode: "approve",
                                summary: "crashed",
                                before: &b,
                                intended: &i,
                                verdicts: "[]".into(),
                                decrease: false,
                                owner: "gone-host:1",
                            },
                            &ClaimRules::default(),
                            t,
                        )
                        .unwrap();
                    if let Claim::Granted(_) = claim {
                        crashes += 1;
                        if rng.below(2) == 0 {
                            *group.0.lock().unwrap() = to;
                        }
                    }
                }
            }
        }
        // The last cycle settles whatever is left.
        let end = chrono::DateTime::from_timestamp(t + act::CLAIM_STALE_S + 1, 0).unwrap();
        act::reconcile(&group, &mut store, &cfg, SCOPE, |c| c.tags().to_vec(), end)
            .await
            .unwrap();
        let rows = store.audit_rows(None, None, 10_000).unwrap();
        for r in &rows {
            assert!(
                ["applied", "diverged", "not-applied", "unknown", "blocked", "failed"].contains(&r.outcome.as_str()),
                "seed {seed}: row #{} ends {}",
                r.id,
                r.outcome
            );
        }
    }
    // The sequences exercised what they claim to.
    assert!(
        applied > 50 && blocked_floor > 10 && blocked_unchanged > 10 && crashes > 20,
        "{applied} {blocked_floor} {blocked_unchanged} {crashes}"
    );
}
