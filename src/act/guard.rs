//! The guardrails: each a pure check of one planned change against the config, the
//! resource's state read just before, the store's record of earlier actions and the
//! lookback's peak. Each returns a `Verdict` (allowed or blocked, with its reason); a plan
//! carries all of them, and a change is made only when every one allows it.
//!
//! An undo restores a setting that was in force: cooldown, floor, step, cost, budget,
//! incident and complete-data do not apply to it; the kill switch refuses it with the exact
//! manual command instead, and opt-in, unchanged and steady hold as for any change. The
//! store repeats cooldown and budget in the transaction that claims the resource (one
//! writer per resource, `store::Audit::claim`).
//!
//! May use: domain, config, aws's plain types. Pure: `now` and everything else passed in.

use super::{Current, Setting};
use crate::config::{ApplyCfg, Pricing};
use crate::domain::{Ts, fmt_duration, fmt_ts};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One guardrail's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub guard: &'static str,
    pub allowed: bool,
    pub reason: String,
}

fn allow(guard: &'static str, reason: impl Into<String>) -> Verdict {
    Verdict {
        guard,
        allowed: true,
        reason: reason.into(),
    }
}

fn block(guard: &'static str, reason: impl Into<String>) -> Verdict {
    Verdict {
        guard,
        allowed: false,
        reason: reason.into(),
    }
}

/// The lookback's peak load: for a group in instance-equivalents at 100 % CPU
/// (max over time of CPU % × instances ÷ 100), for a table in consumed units per second.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Peaks {
    pub instances: Option<(f64, Ts)>,
    pub rcu: Option<(f64, Ts)>,
    pub wcu: Option<(f64, Ts)>,
}

impl Peaks {
    /// From a group's CPU % and desired-capacity series (the capacity in force at each CPU
    /// point is the newest desired value at or before it; `current` before the first).
    pub fn group(cpu: &[(Ts, f64)], desired: &[(Ts, f64)], current: i32) -> Peaks {
        let mut j = 0;
        let mut cap = desired.first().map(|d| d.1).unwrap_or(f64::from(current));
        let mut best: Option<(f64, Ts)> = None;
        for &(t, c) in cpu {
            while j < desired.len() && desired[j].0 <= t {
                cap = desired[j].1;
                j += 1;
            }
            let units = c / 100.0 * cap;
            if units.is_finite() && best.is_none_or(|b| units > b.0) {
                best = Some((units, t));
            }
        }
        Peaks {
            instances: best,
            ..Default::default()
        }
    }

    /// From a table's consumed-capacity series, each point the period's Sum (as CloudWatch
    /// reports ConsumedRead/WriteCapacityUnits), divided by the period.
    pub fn table(read: &[(Ts, f64)], write: &[(Ts, f64)], period_s: u32) -> Peaks {
        let per_s = |pts: &[(Ts, f64)]| {
            pts.iter()
                .map(|&(t, v)| (v / f64::from(period_s.max(1)), t))
                .filter(|p| p.0.is_finite())
                .fold(
                    None,
                    |b: Option<(f64, Ts)>, p| if b.is_none_or(|b| p.0 > b.0) { Some(p) } else { b },
                )
        };
        Peaks {
            rcu: per_s(read),
            wcu: per_s(write),
            ..Default::default()
        }
    }
}

/// What the guardrails know besides the change itself.
pub struct Context<'a> {
    pub cfg: &'a ApplyCfg,
    pub pricing: &'a Pricing,
    pub timezone: chrono_tz::Tz,
    pub now: DateTime<Utc>,
    /// `asg/NAME` or `table/NAME`.
    pub resource: &'a str,
    pub current: &'a Current,
    /// When this resource was last changed by headroom (an applied or failed action).
    pub last_change_at: Option<Ts>,
    /// Actions applied in the 24 hours before now, over every scope.
    pub actions_last_day: u32,
    /// Capacity decreases of this table headroom made since 00:00 UTC, and the last one.
    pub table_decreases_today: u32,
    pub last_table_decrease_at: Option<Ts>,
    /// Switches of this table from provisioned to on-demand headroom made in the last 24 h.
    pub on_demand_switches_last_day: u32,
    /// Whether the scope's newest cycle in the store was partial; None when it has none.
    pub snapshot_partial: Option<bool>,
    pub peaks: &'a Peaks,
    /// [advice] headroom, percent.
    pub headroom_percent: f64,
    pub kill_switch_present: bool,
    /// The kill switch's file (beside the store actually used, unless configured).
    pub kill_switch: &'a std::path::Path,
    /// An undo: the audit row it restores.
    pub undo_of: Option<i64>,
    /// The setting the advice (or, for an undo, the change undone) left or found the
    /// resource in: applying is refused when the resource is no longer so.
    pub basis: Option<&'a Setting>,
    /// Alert rules firing on the resource now.
    pub firing: &'a [String],
    /// When the data the decision uses was collected.
    pub evidence_at: Option<Ts>,
    /// The largest age of that data allowed, seconds.
    pub max_evidence_age_s: i64,
    /// What the change adds to the monthly bill, dollars, when known.
    pub monthly_increase_usd: Option<f64>,
    /// Auto mode: an operator changed what headroom last set (None: no such change, or not
    /// auto mode).
    pub operator_change: Option<&'a str>,
    /// The scope's region (for the manual command an undo under the kill switch prints).
    pub region: &'a str,
}

/// The guardrails' names, in the order `check` runs them.
pub const GUARDS: [&str; 14] = [
    "kill-switch",
    "opt-in",
    "unchanged",
    "step",
    "cooldown",
    "floor",
    "incident",
    "cost",
    "table-decreases",
    "change-window",
    "complete-data",
    "steady",
    "daily-budget",
    "operator",
];

/// Every guardrail on one change, in a fixed order.
pub fn check(before: &Setting, after: &Setting, c: &Context) -> Vec<Verdict> {
    let undo = |guard: &'static str, v: Verdict| match c.undo_of {
        Some(id) => allow(guard, format!("not checked for an undo: it restores the setting audit #{id} found")),
        None => v,
    };
    vec![
        kill_switch(after, c),
        opt_in(c),
        unchanged(before, c),
        undo("step", step(before, after, c)),
        undo("cooldown", cooldown(c)),
        undo("floor", floor(before, after, c)),
        undo("incident", incident(before, after, c)),
        undo("cost", cost(c)),
        table_decreases(before, after, c),
        window(c),
        undo("complete-data", complete_data(c)),
        steady(c),
        undo("daily-budget", budget(c)),
        operator(c),
    ]
}

fn kill_switch(after: &Setting, c: &Context) -> Verdict {
    let path = c.kill_switch.display();
    if !c.kill_switch_present {
        return allow("kill-switch", format!("{path} absent"));
    }
    match c.undo_of {
        Some(id) => block(
            "kill-switch",
            format!(
                "{path} exists: headroom changes nothing, not even an undo. To restore audit #{id}'s setting by hand: {}",
                manual_command(c.resource, c.region, after)
            ),
        ),
        None => block(
            "kill-switch",
            format!("{path} exists: nothing is applied while it does (remove it to apply again)"),
        ),
    }
}

/// The AWS CLI command that sets `s` on `resource` by hand.
pub fn manual_command(resource: &str, region: &str, s: &Setting) -> String {
    let name = resource.split_once('/').map(|(_, n)| n).unwrap_or(resource);
    let size = |min: i32, max: i32, desired: i32| {
        format!(
            "aws autoscaling update-auto-scaling-group --region {region} --auto-scaling-group-name {name} --min-size {min} --max-size {max} --desired-capacity {desired}"
        )
    };
    let mix = |m: &crate::aws::Mix| {
        let overrides: Vec<String> = m
            .overrides
            .iter()
            .map(|o| match &o.weighted_capacity {
                Some(w) => format!("{{\"InstanceType\":\"{}\",\"WeightedCapacity\":\"{w}\"}}", o.instance_type),
                None => format!("{{\"InstanceType\":\"{}\"}}", o.instance_type),
            })
            .collect();
        format!(
            "aws autoscaling update-auto-scaling-group --region {region} --auto-scaling-group-name {name} --mixed-instances-policy '{{\"LaunchTemplate\":{{\"LaunchTemplateSpecification\":<as now>,\"Overrides\":[{}]}},\"InstancesDistribution\":{{\"OnDemandBaseCapacity\":{},\"OnDemandPercentageAboveBaseCapacity\":{}{}}}}}'",
            overrides.join(","),
            m.on_demand_base_capacity,
            m.on_demand_percentage_above_base,
            m.spot_allocation_strategy
                .as_ref()
                .map(|s| format!(",\"SpotAllocationStrategy\":\"{s}\""))
                .unwrap_or_default()
        )
    };
    match s {
        Setting::Size { min, max, desired } => size(*min, *max, *desired),
        Setting::Target { policy, value } => format!(
            "aws autoscaling put-scaling-policy --region {region} --auto-scaling-group-name {name} --policy-name {policy} --policy-type TargetTrackingScaling --target-tracking-configuration '{{\"PredefinedMetricSpecification\":{{\"PredefinedMetricType\":\"ASGAverageCPUUtilization\"}},\"TargetValue\":{value}}}'"
        ),
        Setting::Mix(m) => mix(m),
        Setting::Migration { mix: m, min, max, desired } => format!("{}; {}", mix(m), size(*min, *max, *desired)),
        Setting::Table { mode, rcu, wcu, .. } => match (mode.as_str(), rcu, wcu) {
            ("PROVISIONED", Some(r), Some(w)) => format!(
                "aws dynamodb update-table --region {region} --table-name {name} --billing-mode PROVISIONED --provisioned-throughput ReadCapacityUnits={r},WriteCapacityUnits={w}"
            ),
            _ => format!("aws dynamodb update-table --region {region} --table-name {name} --billing-mode {mode}"),
        },
    }
}

/// What differs between the setting a decision expected and the resource's now, for people:
/// `desired 4 → 8`. A table's auto-scaling bounds count only when the expected setting has them.
pub fn differences(expected: &Setting, now: &Setting) -> Vec<String> {
    let mut out = vec![];
    let mut num = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{name} {a} → {b}"));
        }
    };
    let types = |m: &crate::aws::Mix| m.overrides.iter().map(|o| o.instance_type.clone()).collect::<Vec<_>>().join(", ");
    match (expected, now) {
        (
            Setting::Size { min, max, desired },
            Setting::Size {
                min: m2,
                max: x2,
                desired: d2,
            },
        ) => {
            num("min", min.to_string(), m2.to_string());
            num("desired", desired.to_string(), d2.to_string());
            num("max", max.to_string(), x2.to_string());
        }
        (Setting::Target { value, .. }, Setting::Target { value: v2, .. }) => num("target", value.to_string(), v2.to_string()),
        (Setting::Mix(a), Setting::Mix(b)) | (Setting::Migration { mix: a, .. }, Setting::Migration { mix: b, .. }) => {
            num(
                "on-demand base",
                a.on_demand_base_capacity.to_string(),
                b.on_demand_base_capacity.to_string(),
            );
            num(
                "on-demand %",
                a.on_demand_percentage_above_base.to_string(),
                b.on_demand_percentage_above_base.to_string(),
            );
            num("types", types(a), types(b));
            if let (
                Setting::Migration { min, max, desired, .. },
                Setting::Migration {
                    min: m2,
                    max: x2,
                    desired: d2,
                    ..
                },
            ) = (expected, now)
            {
                num("min", min.to_string(), m2.to_string());
                num("desired", desired.to_string(), d2.to_string());
                num("max", max.to_string(), x2.to_string());
            }
        }
        (
            Setting::Table {
                mode,
                rcu,
                wcu,
                read_scaling,
                write_scaling,
            },
            Setting::Table {
                mode: m2,
                rcu: r2,
                wcu: w2,
                read_scaling: rs2,
                write_scaling: ws2,
            },
        ) => {
            num("billing mode", mode.clone(), m2.clone());
            if mode == "PROVISIONED" && m2 == "PROVISIONED" {
                let o = |x: &Option<i64>| x.map_or("-".into(), |v| v.to_string());
                num("read capacity", o(rcu), o(r2));
                num("write capacity", o(wcu), o(w2));
            }
            let b = |x: &Option<(i64, i64)>| x.map_or("none".into(), |(lo, hi)| format!("{lo}–{hi}"));
            if read_scaling.is_some() || write_scaling.is_some() {
                num("read auto scaling", b(read_scaling), b(rs2));
                num("write auto scaling", b(write_scaling), b(ws2));
            }
        }
        _ => out.push("the resource's setting has another shape".into()),
    }
    out
}

fn unchanged(before: &Setting, c: &Context) -> Verdict {
    let Some(basis) = c.basis else {
        return allow("unchanged", "no recorded setting to compare (an advisory from an older headroom)");
    };
    let diff = differences(basis, before);
    let what = match c.undo_of {
        Some(id) => format!("since audit #{id} changed it"),
        None => "since the advisory was decided".to_string(),
    };
    if diff.is_empty() {
        allow("unchanged", format!("as it was {what}"))
    } else {
        block(
            "unchanged",
            format!(
                "{} {what}: changed outside headroom (run `headroom check` and look again)",
                diff.join(", ")
            ),
        )
    }
}

/// The ways a change lowers capacity: desired, min or max down, a target up, the spot share
/// up, a table's capacity down (or a switch to provisioned capacity).
pub fn decreases(before: &Setting, after: &Setting) -> Vec<String> {
    let mut out = vec![];
    let mut down = |name: &str, a: f64, b: f64| {
        if b < a {
            out.push(format!("{name} {a} → {b}"));
        }
    };
    if let (Some((min, desired, max)), Some((m2, d2, x2))) = (before.sizes(), after.sizes())
        && std::mem::discriminant(before) == std::mem::discriminant(after)
    {
        down("desired", f64::from(desired), f64::from(d2));
        down("min", f64::from(min), f64::from(m2));
        down("max", f64::from(max), f64::from(x2));
    }
    match (before, after) {
        (Setting::Target { value, .. }, Setting::Target { value: v2, .. }) if v2 > value => {
            out.push(format!("target {value} → {v2} (fewer instances)"));
        }
        (Setting::Mix(a), Setting::Mix(b)) => {
            down(
                "on-demand base",
                f64::from(a.on_demand_base_capacity),
                f64::from(b.on_demand_base_capacity),
            );
            if b.on_demand_percentage_above_base < a.on_demand_percentage_above_base {
                out.push(format!(
                    "spot share {} % → {} %",
                    100 - a.on_demand_percentage_above_base,
                    100 - b.on_demand_percentage_above_base
                ));
            }
        }
        (
            Setting::Table { mode, rcu, wcu, .. },
            Setting::Table {
                mode: m2,
                rcu: r2,
                wcu: w2,
                ..
            },
        ) if m2 == "PROVISIONED" => {
            if mode != "PROVISIONED" {
                out.push("on-demand → provisioned capacity".into());
            } else {
                for (name, a, b) in [("read capacity", rcu, r2), ("write capacity", wcu, w2)] {
                    if let (Some(a), Some(b)) = (a, b) {
                        down(name, *a as f64, *b as f64);
                    }
                }
            }
        }
        _ => {}
    }
    out
}

fn incident(before: &Setting, after: &Setting, c: &Context) -> Verdict {
    let cuts = decreases(before, after);
    if cuts.is_empty() {
        return allow("incident", "capacity does not go down");
    }
    if !c.firing.is_empty() {
        return block(
            "incident",
            format!(
                "{} while {} fires on {}: no capacity decrease during an incident",
                cuts.join(", "),
                c.firing.join(", "),
                c.resource
            ),
        );
    }
    if let Current::Group(g) = c.current
        && g.desired >= g.max
    {
        return block(
            "incident",
            format!(
                "{} while the group sits at its max ({} of {}): it needs more, not less",
                cuts.join(", "),
                g.desired,
                g.max
            ),
        );
    }
    allow("incident", "no alert fires on it and it is below its max")
}

fn cost(c: &Context) -> Verdict {
    let max = c.cfg.max_monthly_increase_usd;
    match c.monthly_increase_usd {
        Some(d) if d > max + 1e-9 => block(
            "cost",
            format!("adds ${d:.2}/month, more than max_monthly_increase_usd ${max:.2}: apply it by hand or raise the limit"),
        ),
        Some(d) if d > 0.0 => allow("cost", format!("adds ${d:.2}/month, within ${max:.2}")),
        _ => allow("cost", "does not raise the bill"),
    }
}

fn operator(c: &Context) -> Verdict {
    match c.operator_change {
        Some(why) => block("operator", why.to_string()),
        None => allow("operator", "no change by hand since headroom's last one"),
    }
}

fn opt_in(c: &Context) -> Verdict {
    let tag = &c.cfg.opt_in_tag;
    if c.cfg.resources.iter().any(|r| r == c.resource) {
        return allow("opt-in", format!("{} is listed in [apply] resources", c.resource));
    }
    match c.current.tags().iter().find(|(k, _)| k == tag) {
        // Exactly `true`, as IAM's aws:ResourceTag condition compares it.
        Some((_, v)) if v == "true" => allow("opt-in", format!("tagged {tag}=true")),
        Some((_, v)) => block(
            "opt-in",
            format!(
                "tag {tag} is `{v}`, not `true` (compared exactly, as IAM does): tag the resource {tag}=true or list it in [apply] resources"
            ),
        ),
        None => block(
            "opt-in",
            format!(
                "not opted in: tag the resource {tag}=true or list {} in [apply] resources",
                c.resource
            ),
        ),
    }
}

/// The largest allowed move from `from`: max_step_percent of it, or max_step_instances.
fn step_ok(from: f64, to: f64, pct: u32, n: Option<u32>) -> bool {
    let moved = (to - from).abs();
    moved <= from.abs() * f64::from(pct) / 100.0 + 1e-9 || n.is_some_and(|n| moved <= f64::from(n))
}

fn step(before: &Setting, after: &Setting, c: &Context) -> Verdict {
    let pct = c.cfg.max_step_percent;
    let n = Some(c.cfg.max_step_instances).filter(|n| *n > 0);
    let mut moves: Vec<(String, f64, f64, Option<u32>)> = vec![];
    let mut count = |name: &str, a: i32, b: i32| {
        if a != b {
            moves.push((name.to_string(), f64::from(a), f64::from(b), n));
        }
    };
    if let (Some((min, desired, max)), Some((m2, d2, x2))) = (before.sizes(), after.sizes())
        && std::mem::discriminant(before) == std::mem::discriminant(after)
    {
        count("desired", desired, d2);
        count("min", min, m2);
        count("max", max, x2);
    }
    match (before, after) {
        (Setting::Target { value, .. }, Setting::Target { value: v2, .. }) if value != v2 => {
            moves.push(("target".into(), *value, *v2, None));
        }
        (Setting::Mix(a), Setting::Mix(b)) => {
            count("on-demand base", a.on_demand_base_capacity, b.on_demand_base_capacity);
            if a.on_demand_percentage_above_base != b.on_demand_percentage_above_base {
                // A share moves in points: at most max_step_percent points.
                let d = (a.on_demand_percentage_above_base - b.on_demand_percentage_above_base).abs();
                if d > pct as i32 {
                    return block(
                        "step",
                        format!(
                            "on-demand share {} % → {} % moves {d} points, more than max_step_percent {pct}: apply it in steps",
                            a.on_demand_percentage_above_base, b.on_demand_percentage_above_base
                        ),
                    );
                }
            }
        }
        (
            Setting::Table { rcu, wcu, mode, .. },
            Setting::Table {
                rcu: r2,
                wcu: w2,
                mode: m2,
                ..
            },
        ) if mode == m2 => {
            for (name, a, b) in [("read capacity", rcu, r2), ("write capacity", wcu, w2)] {
                if let (Some(a), Some(b)) = (a, b)
                    && a != b
                {
                    moves.push((name.into(), *a as f64, *b as f64, None));
                }
            }
        }
        _ => {}
    }
    if moves.is_empty() {
        return allow("step", "no capacity figure moves (a mode or type change only)");
    }
    for (name, a, b, n) in &moves {
        if !step_ok(*a, *b, pct, *n) {
            return block(
                "step",
                format!(
                    "{name} {a} → {b} is {:+.0} %, more than max_step_percent {pct}{}: apply it in steps",
                    (b - a) / a.abs().max(1e-9) * 100.0,
                    n.map(|n| format!(" or {n} instances")).unwrap_or_default()
                ),
            );
        }
    }
    let list: Vec<String> = moves.iter().map(|(k, a, b, _)| format!("{k} {a} → {b}")).collect();
    let counts = moves.iter().find_map(|m| m.3);
    allow(
        "step",
        format!(
            "{} within max_step_percent {pct}{}",
            list.join(", "),
            counts.map(|n| format!(" or {n} instances")).unwrap_or_default()
        ),
    )
}

fn cooldown(c: &Context) -> Verdict {
    let now = c.now.timestamp();
    match c.last_change_at {
        Some(t) if now - t < c.cfg.cooldown_s as i64 => block(
            "cooldown",
            format!(
                "changed at {}, within the cooldown of {}: next change after {}",
                fmt_ts(t),
                fmt_duration(c.cfg.cooldown_s as i64),
                fmt_ts(t + c.cfg.cooldown_s as i64)
            ),
        ),
        Some(t) => allow("cooldown", format!("last changed {}", fmt_ts(t))),
        None => allow("cooldown", "never changed by headroom"),
    }
}

fn floor(before: &Setting, after: &Setting, c: &Context) -> Verdict {
    let h = c.headroom_percent;
    let factor = 1.0 + h / 100.0;
    match (before, after) {
        (Setting::Size { desired: d1, max: x1, .. }, Setting::Size { desired: d2, max: x2, .. }) => {
            if d2 >= d1 && x2 >= x1 {
                return allow("floor", "capacity does not go down");
            }
            let Some((peak, at)) = c.peaks.instances else {
                return block(
                    "floor",
                    "no CPU history in the lookback: a decrease cannot be shown to keep the peak's headroom",
                );
            };
            let need = (peak * factor - 1e-9).ceil().max(1.0);
            let lowest = (*d2).min(*x2);
            if f64::from(lowest) < need {
                block(
                    "floor",
                    format!(
                        "{lowest} instances is below the lookback's peak {peak:.2} instance-equivalents ({}) × (1 + {h} %) = {need}",
                        fmt_ts(at)
                    ),
                )
            } else {
                allow(
                    "floor",
                    format!(
                        "{lowest} ≥ peak {peak:.2} instance-equivalents ({}) × (1 + {h} %) = {need}",
                        fmt_ts(at)
                    ),
                )
            }
        }
        (Setting::Migration { mix: m1, desired: d1, .. }, Setting::Migration { mix: m2, desired: d2, .. }) => {
            let vcpu = |m: &crate::aws::Mix| {
                m.overrides
                    .first()
                    .and_then(|o| c.pricing.instances.get(&o.instance_type))
                    .map(|p| p.vcpu)
            };
            let (Some(v1), Some(v2)) = (vcpu(m1), vcpu(m2)) else {
                return block("floor", "an instance type is not in pricing.toml: its vCPUs are unknown");
            };
            let cap_after = f64::from(*d2) * v2 / v1;
            if cap_after >= f64::from(*d1) {
                return allow("floor", format!("{d2} × {v2} vCPU ≥ {d1} × {v1} vCPU: capacity does not go down"));
            }
            let Some((peak, at)) = c.peaks.instances else {
                return block(
                    "floor",
                    "no CPU history in the lookback: a smaller fleet cannot be shown to hold the peak",
                );
            };
            let need = peak * factor;
            if cap_after < need {
                block(
                    "floor",
                    format!(
                        "{d2} × {v2} vCPU = {cap_after:.2} of today's instances, below the peak {peak:.2} ({}) × (1 + {h} %) = {need:.2}",
                        fmt_ts(at)
                    ),
                )
            } else {
                allow(
                    "floor",
                    format!("{cap_after:.2} of today's instances ≥ peak {peak:.2} × (1 + {h} %) = {need:.2}"),
                )
            }
        }
        (Setting::Target { value: v1, .. }, Setting::Target { value: v2, .. }) => {
            // At the target, the peak plus headroom must still fit under 100 % CPU.
            let most = 100.0 / factor;
            if v2 <= v1 || *v2 <= most {
                allow("floor", format!("target {v2} % × (1 + {h} %) ≤ 100 %"))
            } else {
                block(
                    "floor",
                    format!("target {v2} % leaves less than {h} % headroom at the peak (at most {most:.1} %)"),
                )
            }
        }
        (
            Setting::Table { rcu: r1, wcu: w1, .. },
            Setting::Table {
                mode, rcu: r2, wcu: w2, ..
            },
        ) => {
            if mode != "PROVISIONED" {
                return allow("floor", "on-demand capacity follows the load");
            }
            let mut said = vec![];
            for (name, a, b, peak) in [("read", r1, r2, c.peaks.rcu), ("write", w1, w2, c.peaks.wcu)] {
                let Some(b) = b else { continue };
                if a.is_some_and(|a| *b >= a) {
                    continue;
                }
                let Some((p, at)) = peak else {
                    return block(
                        "floor",
                        format!("no consumed {name} capacity in the lookback: {b} units cannot be shown to hold the peak"),
                    );
                };
                let need = (p * factor - 1e-9).ceil();
                if (*b as f64) < need {
                    return block(
                        "floor",
                        format!(
                            "{name} {b} units/s is below the peak {p:.1} consumed ({}) × (1 + {h} %) = {need}",
                            fmt_ts(at)
                        ),
                    );
                }
                said.push(format!("{name} {b} ≥ peak {p:.1} × (1 + {h} %) = {need}"));
            }
            if said.is_empty() {
                allow("floor", "capacity does not go down")
            } else {
                allow("floor", said.join("; "))
            }
        }
        _ => allow("floor", "does not change capacity"),
    }
}

/// AWS allows 4 decreases of a table's provisioned capacity per UTC day, and one more in
/// any hour without a decrease in the hour before (up to 27 a day).
pub const TABLE_DECREASES_FREE: u32 = 4;
pub const TABLE_DECREASES_MAX: u32 = 27;

/// AWS allows a table 4 switches from provisioned to on-demand in any 24 hours.
pub const ON_DEMAND_SWITCHES_PER_DAY: u32 = 4;

fn table_decreases(before: &Setting, after: &Setting, c: &Context) -> Verdict {
    let (
        Setting::Table {
            rcu: r1,
            wcu: w1,
            mode: m1,
            ..
        },
        Setting::Table {
            mode, rcu: r2, wcu: w2, ..
        },
    ) = (before, after)
    else {
        return allow("table-decreases", "not a table");
    };
    if m1 == "PROVISIONED" && mode == "PAY_PER_REQUEST" {
        let n = c.on_demand_switches_last_day;
        return if n >= ON_DEMAND_SWITCHES_PER_DAY {
            block(
                "table-decreases",
                format!("{n} switches to on-demand in the last 24 h: AWS allows {ON_DEMAND_SWITCHES_PER_DAY} a table in any 24 hours"),
            )
        } else {
            allow(
                "table-decreases",
                format!("{n} of {ON_DEMAND_SWITCHES_PER_DAY} switches to on-demand in the last 24 h"),
            )
        };
    }
    let down = |a: &Option<i64>, b: &Option<i64>| matches!((a, b), (Some(a), Some(b)) if b < a);
    if mode != "PROVISIONED" || !(down(r1, r2) || down(w1, w2)) {
        return allow("table-decreases", "no provisioned capacity decrease");
    }
    let aws = match c.current {
        Current::Table(t) => u32::try_from(t.decreases_today).unwrap_or(u32::MAX),
        Current::Group(_) => 0,
    };
    let today = aws.max(c.table_decreases_today);
    let now = c.now.timestamp();
    if today < TABLE_DECREASES_FREE {
        return allow(
            "table-decreases",
            format!("{today} decreases today, {TABLE_DECREASES_FREE} allowed at any time"),
        );
    }
    let quiet_hour = c.last_table_decrease_at.is_none_or(|t| now - t >= 3600);
    if today < TABLE_DECREASES_MAX && quiet_hour {
        allow("table-decreases", format!("{today} decreases today; none in the last hour"))
    } else {
        block(
            "table-decreases",
            format!(
                "{today} decreases today: AWS allows {TABLE_DECREASES_FREE} a day plus one per hour without a decrease in the hour before{}",
                c.last_table_decrease_at
                    .map(|t| format!(" (last at {})", fmt_ts(t)))
                    .unwrap_or_default()
            ),
        )
    }
}

/// Whether `now` is inside a window: a tick of its cron in the last `duration`.
pub fn in_window(w: &crate::config::ChangeWindow, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let from = (now - chrono::Duration::seconds(w.duration_s as i64)).with_timezone(&tz);
    let tick = w.cron.schedule.after(&from).next()?;
    let tick = tick.with_timezone(&Utc);
    (tick <= now).then(|| tick + chrono::Duration::seconds(w.duration_s as i64))
}

fn window(c: &Context) -> Verdict {
    if c.cfg.windows.is_empty() {
        return allow("change-window", "no [[apply.windows]]: any time");
    }
    for w in &c.cfg.windows {
        if let Some(until) = in_window(w, c.timezone, c.now) {
            return allow(
                "change-window",
                format!("inside `{}` until {}", w.cron.expr, fmt_ts(until.timestamp())),
            );
        }
    }
    let next = c
        .cfg
        .windows
        .iter()
        .filter_map(|w| w.cron.schedule.after(&c.now.with_timezone(&c.timezone)).next())
        .map(|t| t.with_timezone(&Utc).timestamp())
        .min();
    block(
        "change-window",
        format!(
            "outside every change window{}",
            next.map(|t| format!("; the next opens {}", fmt_ts(t))).unwrap_or_default()
        ),
    )
}

fn complete_data(c: &Context) -> Verdict {
    if let Some(at) = c.evidence_at {
        let age = c.now.timestamp() - at;
        if age > c.max_evidence_age_s {
            return block(
                "complete-data",
                format!(
                    "the data is {} old (collected {}), older than max_evidence_age {}: collect again first",
                    fmt_duration(age),
                    fmt_ts(at),
                    fmt_duration(c.max_evidence_age_s)
                ),
            );
        }
    }
    match c.snapshot_partial {
        Some(false) => allow(
            "complete-data",
            match c.evidence_at {
                Some(at) => format!(
                    "every source read, {} ago (max_evidence_age {})",
                    fmt_duration((c.now.timestamp() - at).max(0)),
                    fmt_duration(c.max_evidence_age_s)
                ),
                None => "the scope's last cycle read every source".to_string(),
            },
        ),
        Some(true) => block(
            "complete-data",
            "the scope's last cycle was partial (a source failed): no change on incomplete data",
        ),
        None => block("complete-data", "no cycle of this scope in the store yet"),
    }
}

fn steady(c: &Context) -> Verdict {
    let Current::Group(g) = c.current else {
        return allow("steady", "not a group");
    };
    if let Some(r) = g.refresh.as_ref().filter(|r| r.running()) {
        return block(
            "steady",
            format!(
                "instance refresh {} is {}{}",
                r.id,
                r.status,
                r.percent_complete.map(|p| format!(" ({p} %)")).unwrap_or_default()
            ),
        );
    }
    if g.in_service != g.desired {
        return block(
            "steady",
            format!("mid-scaling: {} of {} desired instances in service", g.in_service, g.desired),
        );
    }
    allow(
        "steady",
        format!("{} of {} in service, no refresh running", g.in_service, g.desired),
    )
}

fn budget(c: &Context) -> Verdict {
    let max = c.cfg.max_actions_per_day;
    if c.actions_last_day >= max {
        block(
            "daily-budget",
            format!("{} actions in the last 24 h: max_actions_per_day is {max}", c.actions_last_day),
        )
    } else {
        allow("daily-budget", format!("{} of {max} actions in the last 24 h", c.actions_last_day))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::aws::GroupConfig;

    fn group(min: i32, desired: i32, max: i32) -> Current {
        Current::Group(GroupConfig {
            name: "web".into(),
            min,
            max,
            desired,
            in_service: desired,
            tags: vec![("headroom:apply".into(), "true".into())],
            mix: None,
            policies: vec![],
            refresh: None,
        })
    }

    /// The verdicts of one change on `current` with everything else allowing, after `edit`.
    static CFG: std::sync::LazyLock<crate::config::Config> = std::sync::LazyLock::new(|| crate::config::Config::embedded().unwrap());
    static PEAKS: Peaks = Peaks {
        instances: Some((1.0, 0)),
        rcu: None,
        wcu: None,
    };

    fn verdicts<'a>(current: &'a Current, before: &Setting, after: &Setting, edit: impl FnOnce(&mut Context<'a>)) -> Vec<Verdict> {
        let cfg: &'static crate::config::Config = &CFG;
        let peaks = &PEAKS;
        let path = std::path::Path::new("/nonexistent/stop-apply");
        let mut c = Context {
            cfg: &cfg.headroom.apply,
            pricing: &cfg.pricing,
            timezone: chrono_tz::UTC,
            now: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            resource: "asg/web",
            current,
            last_change_at: None,
            actions_last_day: 0,
            table_decreases_today: 0,
            last_table_decrease_at: None,
            on_demand_switches_last_day: 0,
            snapshot_partial: Some(false),
            peaks,
            headroom_percent: 20.0,
            kill_switch_present: false,
            kill_switch: path,
            undo_of: None,
            basis: None,
            firing: &[],
            evidence_at: Some(1_800_000_000 - 60),
            max_evidence_age_s: 600,
            monthly_increase_usd: None,
            operator_change: None,
            region: "us-east-1",
        };
        edit(&mut c);
        check(before, after, &c)
    }

    fn blocked(v: &[Verdict]) -> Vec<&'static str> {
        v.iter().filter(|v| !v.allowed).map(|v| v.guard).collect()
    }

    fn size(min: i32, desired: i32, max: i32) -> Setting {
        Setting::Size { min, max, desired }
    }

    #[test]
    fn every_guardrail_is_named_and_run_in_order() {
        let g = group(2, 4, 8);
        let v = verdicts(&g, &size(2, 4, 8), &size(2, 5, 8), |_| {});
        assert_eq!(v.iter().map(|v| v.guard).collect::<Vec<_>>(), GUARDS.to_vec());
        assert!(blocked(&v).is_empty(), "{v:#?}");
    }

    #[test]
    fn no_decrease_while_an_alert_fires_or_the_group_sits_at_its_max() {
        let firing = ["the alert “CPU 91 % on asg/web”".to_string()];
        let g = group(2, 4, 8);
        let v = verdicts(&g, &size(2, 4, 8), &size(2, 3, 8), |c| c.firing = &firing);
        assert_eq!(blocked(&v), vec!["incident"]);
        assert!(
            v[6].reason.contains("desired 4 → 3") && v[6].reason.contains("CPU 91 %"),
            "{}",
            v[6].reason
        );
        // An increase is allowed during the incident.
        let v = verdicts(&g, &size(2, 4, 8), &size(2, 5, 8), |c| c.firing = &firing);
        assert!(blocked(&v).is_empty());
        // At its max: a lower min is a decrease too.
        let at_max = group(3, 8, 8);
        let v = verdicts(&at_max, &size(3, 8, 8), &size(2, 8, 8), |_| {});
        assert_eq!(blocked(&v), vec!["incident"]);
        // A higher target and a larger spot share are decreases.
        let t = |v: f64| Setting::Target {
            policy: "cpu".into(),
            value: v,
        };
        assert_eq!(decreases(&t(50.0), &t(60.0)).len(), 1);
        assert!(decreases(&t(60.0), &t(50.0)).is_empty());
    }

    #[test]
    fn an_undo_skips_the_limits_of_new_changes_and_the_kill_switch_gives_the_manual_command() {
        let g = group(2, 8, 10);
        // Back from 8 to 3 within the cooldown, below the floor, past the step and the budget.
        let peaks = Peaks {
            instances: Some((6.0, 0)),
            ..Default::default()
        };
        let left = size(2, 8, 10);
        let v = verdicts(&g, &size(2, 8, 10), &size(2, 3, 8), |c| {
            c.undo_of = Some(7);
            c.basis = Some(&left);
            c.peaks = &peaks;
            c.last_change_at = Some(1_800_000_000 - 60);
            c.actions_last_day = 99;
            c.snapshot_partial = Some(true);
        });
        assert!(blocked(&v).is_empty(), "{v:#?}");
        // The same change as new advice: step, cooldown, floor, complete-data, budget block.
        let v = verdicts(&g, &size(2, 8, 10), &size(2, 3, 8), |c| {
            c.peaks = &peaks;
            c.last_change_at = Some(1_800_000_000 - 60);
            c.actions_last_day = 99;
            c.snapshot_partial = Some(true);
        });
        assert_eq!(blocked(&v), vec!["step", "cooldown", "floor", "complete-data", "daily-budget"]);
        // The kill switch refuses an undo, with the command that restores by hand.
        let v = verdicts(&g, &size(2, 8, 10), &size(2, 3, 8), |c| {
            c.undo_of = Some(7);
            c.kill_switch_present = true;
        });
        assert_eq!(blocked(&v), vec!["kill-switch"]);
        assert!(
            v[0].reason.contains(
                "aws autoscaling update-auto-scaling-group --region us-east-1 --auto-scaling-group-name web --min-size 2 --max-size 8 --desired-capacity 3"
            ),
            "{}",
            v[0].reason
        );
    }

    #[test]
    fn a_resource_changed_since_the_decision_is_refused_naming_the_difference() {
        let g = group(2, 8, 10);
        let basis = size(2, 4, 8);
        let v = verdicts(&g, &size(2, 8, 10), &size(2, 5, 8), |c| c.basis = Some(&basis));
        assert_eq!(blocked(&v), vec!["unchanged"]);
        assert!(v[2].reason.starts_with("desired 4 → 8, max 8 → 10"), "{}", v[2].reason);
        // A table's auto-scaling bounds count only when the decision recorded them.
        let t = |mode: &str, rcu: Option<i64>, scaling: Option<(i64, i64)>| Setting::Table {
            mode: mode.into(),
            rcu,
            wcu: rcu,
            read_scaling: scaling,
            write_scaling: None,
        };
        assert!(differences(&t("PROVISIONED", Some(5), None), &t("PROVISIONED", Some(5), Some((5, 50)))).is_empty());
        assert_eq!(
            differences(&t("PROVISIONED", Some(5), None), &t("PAY_PER_REQUEST", None, None)),
            vec!["billing mode PROVISIONED → PAY_PER_REQUEST"]
        );
    }

    #[test]
    fn an_increase_above_the_monthly_limit_old_data_and_an_operators_change_block() {
        let g = group(2, 4, 8);
        let v = verdicts(&g, &size(2, 4, 8), &size(2, 6, 8), |c| c.monthly_increase_usd = Some(1500.0));
        assert_eq!(blocked(&v), vec!["cost"]);
        let v = verdicts(&g, &size(2, 4, 8), &size(2, 5, 8), |c| c.evidence_at = Some(1_800_000_000 - 601));
        assert_eq!(blocked(&v), vec!["complete-data"]);
        let v = verdicts(&g, &size(2, 4, 8), &size(2, 5, 8), |c| {
            c.operator_change = Some("desired 5 → 4 changed by hand")
        });
        assert_eq!(blocked(&v), vec!["operator"]);
        // Opt-in compares the tag exactly, as IAM does.
        let mut tagged = group(2, 4, 8);
        if let Current::Group(g) = &mut tagged {
            g.tags = vec![("headroom:apply".into(), "TRUE".into())];
        }
        let v = verdicts(&tagged, &size(2, 4, 8), &size(2, 5, 8), |_| {});
        assert_eq!(blocked(&v), vec!["opt-in"]);
    }

    #[test]
    fn a_fifth_switch_to_on_demand_in_a_day_is_refused() {
        let t = |mode: &str| Setting::Table {
            mode: mode.into(),
            rcu: Some(5),
            wcu: Some(5),
            read_scaling: None,
            write_scaling: None,
        };
        let table = Current::Table(crate::aws::TableConfig {
            name: "chats".into(),
            mode: "PROVISIONED".into(),
            rcu: Some(5),
            wcu: Some(5),
            decreases_today: 0,
            tags: vec![("headroom:apply".into(), "true".into())],
            read_scaling: None,
            write_scaling: None,
        });
        let v = verdicts(&table, &t("PROVISIONED"), &t("PAY_PER_REQUEST"), |c| {
            c.resource = "table/chats";
            c.on_demand_switches_last_day = ON_DEMAND_SWITCHES_PER_DAY - 1;
        });
        assert!(blocked(&v).is_empty(), "{v:#?}");
        let v = verdicts(&table, &t("PROVISIONED"), &t("PAY_PER_REQUEST"), |c| {
            c.resource = "table/chats";
            c.on_demand_switches_last_day = ON_DEMAND_SWITCHES_PER_DAY;
        });
        assert_eq!(blocked(&v), vec!["table-decreases"]);
    }

    #[test]
    fn a_group_peak_is_cpu_times_the_capacity_in_force() {
        // CPU 50 % on 4 instances (2.0), then 90 % on 2 (1.8), then 60 % on 4 (2.4).
        let cpu = [(0, 50.0), (300, 90.0), (600, 60.0)];
        let desired = [(0, 4.0), (300, 2.0), (600, 4.0)];
        let p = Peaks::group(&cpu, &desired, 9);
        let (v, at) = p.instances.unwrap();
        assert!((v - 0.6 * 4.0).abs() < 1e-9);
        assert_eq!(at, 600);
        // Without a desired series, the current capacity stands in.
        let p = Peaks::group(&cpu, &[], 3);
        assert!((p.instances.unwrap().0 - 0.9 * 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_table_peak_is_the_period_sum_per_second() {
        let p = Peaks::table(&[(0, 600.0), (300, 1500.0)], &[(0, 30.0)], 300);
        assert_eq!(p.rcu, Some((1500.0 / 300.0, 300)));
        assert_eq!(p.wcu, Some((30.0 / 300.0, 0)));
    }

    #[test]
    fn a_step_is_within_the_percent_or_the_instance_count() {
        // 4 → 6 is +50 %: within 50 %.
        assert!(step_ok(4.0, 6.0, 50, None));
        // 4 → 7 is +75 %: too far, unless 3 instances are allowed.
        assert!(!step_ok(4.0, 7.0, 50, Some(2)));
        assert!(step_ok(4.0, 7.0, 50, Some(3)));
        // 1 → 2 is +100 %, one instance.
        assert!(step_ok(1.0, 2.0, 50, Some(1)));
    }

    #[test]
    fn a_window_holds_from_its_tick_for_its_duration() {
        let w = crate::config::ChangeWindow {
            cron: crate::config::parse_cron("0 2 * * *").unwrap(),
            duration_s: 7200,
        };
        let at = |h: u32, m: u32| {
            DateTime::parse_from_rfc3339(&format!("2026-12-05T{h:02}:{m:02}:00Z"))
                .unwrap()
                .with_timezone(&Utc)
        };
        let tz = chrono_tz::UTC;
        assert_eq!(in_window(&w, tz, at(2, 0)).map(|t| t.timestamp()), Some(at(4, 0).timestamp()));
        assert!(in_window(&w, tz, at(3, 59)).is_some());
        assert!(in_window(&w, tz, at(4, 0)).is_none(), "the end is outside");
        assert!(in_window(&w, tz, at(1, 59)).is_none());
        // The same window in New York: 02:00 local is 07:00 UTC in December.
        let ny = chrono_tz::America::New_York;
        assert!(in_window(&w, ny, at(7, 30)).is_some());
        assert!(in_window(&w, ny, at(2, 30)).is_none());
    }
}
