//! Right-sizing per Auto Scaling group: the utilization percentile over the lookback (CPU at
//! p95, memory at p99.5 by default) against a target utilization with headroom on top.
//!
//! The fleet's load in each period is u × n_t ÷ 100 instance-equivalents (u the period's
//! utilization in %, n_t the instances in force then, from GroupDesiredCapacity; today's count
//! where the group has no such series); the load is the percentile of that over the lookback
//! (`in_force`). The recommended desired capacity is the smallest count that carries it at the
//! target with headroom: ⌈load × (1 + headroom) ÷ target⌉, the larger of the CPU and the
//! memory answer, at least 1. Sizing by the load, not by today's count × a percentile measured
//! when another count ran, is what makes apply → cycle → plan converge instead of ratchet. A fleet already at one instance whose need is half an instance
//! or less is offered the next smaller type of its family from the price table instead.
//!
//! Holds back below `min_history_hours` of data: "not enough history", nothing proposed.
//!
//! Autoscaler-aware: a group with a target-tracking policy keeps its own utilization near the
//! policy's target, so its percentile says nothing about how many instances it needs (sizing
//! on it is the feedback loop that makes recommenders under-size). For such a group the
//! advice is about the policy — its target value against the configured target utilization —
//! and desired capacity is left to the autoscaler.
//!
//! Risk score 0–4, one point each: less than 7 days of history; no memory metric; the
//! lookback's peak load would exceed 100 % CPU on the recommended count; fewer than 2 instances
//! recommended (no redundancy).
//!
//! Pure and synchronous. May use: domain, config, analyze::stats, analyze::rules::Index.

use super::rules::Index;
use super::stats;
use crate::config::{AdviceCfg, Pricing};
use crate::domain::{AsgState, Money, ResourceId, Signal, Snapshot, Ts};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sizing {
    OverProvisioned,
    UnderProvisioned,
    Optimized,
    NotEnoughHistory,
}

/// What right-sizing found for one ASG, with the figures behind it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rightsize {
    pub resource: ResourceId,
    pub asg: String,
    pub sizing: Sizing,
    pub history_hours: f64,
    pub min_history_hours: f64,
    /// With too little history: the metrics source that failed this cycle, `source: reason`
    /// (missing data, not a new group).
    pub unfetched: Option<String>,
    pub lookback_days: u32,
    pub in_service: i32,
    pub instance_type: Option<String>,
    pub cpu_percentile: f64,
    pub cpu: Option<f64>,
    pub cpu_peak: Option<f64>,
    /// The CPU percentile, the CPU peak and the memory percentile of the load in percent of
    /// one instance (utilization × instances in force in each period).
    pub cpu_units: Option<f64>,
    pub cpu_peak_units: Option<f64>,
    pub memory_units: Option<f64>,
    pub memory_percentile: f64,
    pub memory: Option<f64>,
    pub target_utilization: f64,
    pub headroom: f64,
    /// ⌈load × (1 + headroom) ÷ target⌉ by CPU and by memory (load in percent of one instance).
    pub needed_by_cpu: Option<i32>,
    pub needed_by_memory: Option<i32>,
    pub recommended_desired: Option<i32>,
    pub recommended_min: Option<i32>,
    /// A smaller (or larger) type of the same family, when the count cannot move.
    pub recommended_type: Option<String>,
    /// Target-tracking policy (name, metric, target value) when the group has one.
    pub target_tracking: Option<(String, String, f64)>,
    pub recommended_target_value: Option<f64>,
    pub risk: u8,
    pub risk_reasons: Vec<String>,
    /// Recommended minus current, at on-demand prices, per 730-hour month.
    pub monthly_delta: Option<Money>,
}

fn main_type(g: &AsgState) -> Option<String> {
    g.instance_types.iter().max_by_key(|(_, n)| *n).map(|(t, _)| t.clone())
}

/// Instances needed to carry `n` instances at `u` % utilization at `target` % with `headroom`
/// (a fraction) on top, at least 1.
pub fn needed(n: i32, u: f64, target: f64, headroom: f64) -> i32 {
    let x = f64::from(n) * u * (1.0 + headroom) / target;
    // Guard the ceiling against float noise (e.g. 2.0000000000000004).
    ((x - 1e-9).ceil() as i32).max(1)
}

/// One size up in the same family: the cheapest type of the family that costs more than `ty`
/// and has at least twice its vCPUs and memory (m5.large → m5.xlarge).
pub fn one_size_up(pricing: &Pricing, ty: &str) -> Option<String> {
    one_size(pricing, ty, true)
}

/// One size down in the same family: the priciest type of the family that is cheaper than
/// `ty` and keeps at least half its vCPUs and memory (t3.large → t3.medium, c5.xlarge → c5.large).
pub fn one_size_down(pricing: &Pricing, ty: &str) -> Option<String> {
    one_size(pricing, ty, false)
}

fn one_size(pricing: &Pricing, ty: &str, up: bool) -> Option<String> {
    let cur = pricing.instances.get(ty)?;
    let family = ty.split('.').next()?;
    let k = if up { 2.0 } else { 0.5 };
    let fits = |p: &crate::config::InstancePrice| {
        let priced = if up {
            p.on_demand_hourly > cur.on_demand_hourly
        } else {
            p.on_demand_hourly < cur.on_demand_hourly
        };
        priced && p.vcpu >= cur.vcpu * k && p.memory_gib >= cur.memory_gib * k
    };
    let candidates = pricing
        .instances
        .iter()
        .filter(|(name, p)| name.split('.').next() == Some(family) && fits(p));
    if up {
        candidates.min_by_key(|(_, p)| p.on_demand_hourly)
    } else {
        candidates.max_by_key(|(_, p)| p.on_demand_hourly)
    }
    .map(|(name, _)| name.clone())
}

pub fn analyze(snap: &Snapshot, cfg: &AdviceCfg, pricing: &Pricing, now: Ts) -> Vec<Rightsize> {
    let idx = Index::new(snap);
    let from = now - i64::from(cfg.lookback_days) * 86_400;
    snap.asgs.iter().map(|g| one(g, &idx, snap, cfg, pricing, from, now)).collect()
}

/// Each point of `pts` (utilization %) times the instances in force at its time: the newest
/// `desired` value at or before it (`current` before the first, or with no series). The result
/// is the load in percent of one instance (200 = two instances at 100 %).
pub fn in_force(pts: &[(Ts, f64)], desired: &[(Ts, f64)], current: f64) -> Vec<f64> {
    let mut j = 0;
    let mut cap = desired.first().map(|d| d.1).unwrap_or(current);
    pts.iter()
        .map(|&(t, v)| {
            while j < desired.len() && desired[j].0 <= t {
                cap = desired[j].1;
                j += 1;
            }
            v * cap
        })
        .collect()
}

fn one(g: &AsgState, idx: &Index, snap: &Snapshot, cfg: &AdviceCfg, pricing: &Pricing, from: Ts, now: Ts) -> Rightsize {
    let r = ResourceId::asg(&g.name);
    let cpu_v = idx.window(&r, Signal::CpuPercent, from, now + 1);
    let mem_v = idx.window(&r, Signal::MemoryPercent, from, now + 1);
    let cpu = snap.series_for(&r, Signal::CpuPercent);
    let period = cpu.map(|s| i64::from(s.query.period_s)).unwrap_or(300);
    let cpu_pts: Vec<Ts> = cpu
        .into_iter()
        .flat_map(|s| s.points.iter().map(|p| p.0).filter(|t| *t >= from && *t <= now))
        .collect();
    let history_hours = match (cpu_pts.first(), cpu_pts.last()) {
        (Some(a), Some(b)) => (b - a + period) as f64 / 3600.0,
        _ => 0.0,
    };
    let tt = g.policies.iter().find_map(|p| match (&p.target_metric, p.target_value) {
        (Some(m), Some(v)) if p.policy_type == "TargetTrackingScaling" => Some((p.name.clone(), m.clone(), v)),
        _ => None,
    });
    let ty = main_type(g);
    let mut out = Rightsize {
        resource: r.clone(),
        asg: g.name.clone(),
        sizing: Sizing::NotEnoughHistory,
        history_hours,
        min_history_hours: cfg.min_history_hours,
        unfetched: (history_hours < cfg.min_history_hours).then(|| super::unfetched(snap)).flatten(),
        lookback_days: cfg.lookback_days,
        in_service: g.in_service,
        instance_type: ty.clone(),
        cpu_percentile: cfg.cpu_percentile,
        cpu: None,
        cpu_peak: None,
        cpu_units: None,
        cpu_peak_units: None,
        memory_units: None,
        memory_percentile: cfg.memory_percentile,
        memory: None,
        target_utilization: cfg.target_utilization,
        headroom: cfg.headroom,
        needed_by_cpu: None,
        needed_by_memory: None,
        recommended_desired: None,
        recommended_min: None,
        recommended_type: None,
        target_tracking: tt.clone(),
        recommended_target_value: None,
        risk: 0,
        risk_reasons: vec![],
        monthly_delta: None,
    };
    if history_hours < cfg.min_history_hours || g.in_service < 1 {
        return out;
    }
    let h = cfg.headroom / 100.0;
    let n = g.in_service;
    out.cpu = stats::percentile(&cpu_v, cfg.cpu_percentile);
    out.cpu_peak = stats::max(&cpu_v);
    out.memory = stats::percentile(&mem_v, cfg.memory_percentile);
    // The load in instance-equivalents per period (utilization × the instances in force then,
    // from GroupDesiredCapacity; today's count where the group has no such series), so a group
    // that was resized is sized by the load, not by today's count × a percentile measured
    // when fewer (or more) instances ran: apply → cycle → plan converges, never ratchets.
    let desired: Vec<(Ts, f64)> = snap
        .series_for(&r, Signal::DesiredCapacity)
        .map(|s| s.points.range(from, now + 1).collect())
        .unwrap_or_default();
    let units = |sig: Signal| -> Vec<f64> {
        let pts: Vec<(Ts, f64)> = snap
            .series_for(&r, sig)
            .map(|s| s.points.range(from, now + 1).collect())
            .unwrap_or_default();
        in_force(&pts, &desired, f64::from(n))
    };
    let (cpu_units, mem_units) = (units(Signal::CpuPercent), units(Signal::MemoryPercent));
    out.cpu_units = stats::percentile(&cpu_units, cfg.cpu_percentile);
    out.cpu_peak_units = stats::max(&cpu_units);
    out.memory_units = stats::percentile(&mem_units, cfg.memory_percentile);
    if let Some((_, metric, target)) = &tt {
        // The autoscaler owns desired capacity: advise on its target only.
        out.sizing = Sizing::Optimized;
        if metric == "ASGAverageCPUUtilization" && (target - cfg.target_utilization).abs() > 5.0 {
            out.recommended_target_value = Some(cfg.target_utilization);
            out.sizing = if *target < cfg.target_utilization {
                Sizing::OverProvisioned
            } else {
                Sizing::UnderProvisioned
            };
        }
        return out;
    }
    out.needed_by_cpu = out.cpu_units.map(|u| needed(1, u, cfg.target_utilization, h));
    out.needed_by_memory = out.memory_units.map(|u| needed(1, u, cfg.target_utilization, h));
    let Some(rec) = out.needed_by_cpu.max(out.needed_by_memory) else {
        return out;
    };
    let price = ty.as_ref().and_then(|t| pricing.instances.get(t));
    out.sizing = match rec.cmp(&n) {
        std::cmp::Ordering::Less => Sizing::OverProvisioned,
        std::cmp::Ordering::Greater => Sizing::UnderProvisioned,
        std::cmp::Ordering::Equal => Sizing::Optimized,
    };
    out.recommended_desired = Some(rec);
    out.recommended_min = Some(g.min_size.min(rec).max(1));
    // One instance whose need is half an instance or less: a smaller type, not fewer instances.
    let load = |u: Option<f64>| u.map(|u| u * (1.0 + h) / cfg.target_utilization).unwrap_or(0.0);
    if n == 1
        && rec == 1
        && load(out.cpu_units).max(load(out.memory_units)) <= 0.5
        && let Some(t) = ty.as_ref().and_then(|t| one_size_down(pricing, t))
    {
        out.recommended_type = Some(t);
        out.sizing = Sizing::OverProvisioned;
    }
    // Needs at least twice the fleet and more than the group's max holds: one size up, as
    // many of them as carry the load (by the smaller of the vCPU and memory ratios).
    if rec >= 2 * n
        && rec > g.max_size
        && let Some(cur) = price
        && let Some(t) = ty.as_ref().and_then(|t| one_size_up(pricing, t))
        && let Some(up) = pricing.instances.get(&t)
    {
        let ratio = (up.vcpu / cur.vcpu).min(up.memory_gib / cur.memory_gib);
        let count = ((f64::from(rec) / ratio - 1e-9).ceil() as i32).max(1);
        out.recommended_type = Some(t);
        out.recommended_desired = Some(count);
        out.recommended_min = Some(g.min_size.min(count).max(1));
    }
    if let Some(p) = price {
        let hourly = p.on_demand_hourly.0;
        let count = i64::from(out.recommended_desired.unwrap_or(rec));
        let new_hourly = match out.recommended_type.as_ref().and_then(|t| pricing.instances.get(t)) {
            Some(np) => np.on_demand_hourly.0 * count,
            None => hourly * count,
        };
        out.monthly_delta = Some(Money((new_hourly - hourly * i64::from(n)) * 730));
    }
    // Risk.
    let mut reasons = vec![];
    if history_hours < 7.0 * 24.0 {
        reasons.push(format!("only {history_hours:.0} h of history (less than 7 days)"));
    }
    if out.memory.is_none() {
        reasons.push("no memory metric (CWAgent mem_used_percent): memory was not checked".to_string());
    }
    if let Some(peak) = out.cpu_peak_units
        && peak / f64::from(rec) > 100.0
    {
        reasons.push(format!(
            "the lookback's peak load, {:.2} instance-equivalents, would run at {:.0} % CPU on {rec} instance(s)",
            peak / 100.0,
            peak / f64::from(rec)
        ));
    }
    if rec < 2 {
        reasons.push("fewer than 2 instances: no redundancy".to_string());
    }
    out.risk = reasons.len() as u8;
    out.risk_reasons = reasons;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::fixtures::*;
    use crate::config::Config;
    use crate::domain::ScalingPolicy;

    const NOW: Ts = 1_800_000_000 - 1_800_000_000 % 86_400;

    /// Nearest-rank percentile, written out independently of `stats`.
    fn pct(v: &[(Ts, f64)], p: f64) -> f64 {
        let mut x: Vec<f64> = v.iter().map(|(_, y)| *y).collect();
        x.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let k = (p / 100.0 * x.len() as f64).ceil() as usize;
        x[k.max(1) - 1]
    }

    /// A daily wave of CPU: base + amp × (1 + sin) / 2 over `days`.
    fn wave(days: f64, base: f64, amp: f64) -> Vec<(Ts, f64)> {
        let from = NOW - (days * 86_400.0) as i64;
        grid(from, NOW, |t| {
            base + amp * (1.0 + ((t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU).sin()) / 2.0
        })
    }

    fn run(g: AsgState, cpu: Vec<(Ts, f64)>, mem: Option<Vec<(Ts, f64)>>) -> (Rightsize, Config) {
        let cfg = Config::embedded().unwrap();
        let r = ResourceId::asg(&g.name);
        let mut s = vec![series(&r, Signal::CpuPercent, cpu)];
        if let Some(m) = mem {
            s.push(series(&r, Signal::MemoryPercent, m));
        }
        let snap = snapshot(NOW, vec![g], s);
        let out = analyze(&snap, &cfg.headroom.advice, &cfg.pricing, NOW);
        (out.into_iter().next().unwrap(), cfg)
    }

    /// A group resized from 4 to 2 after 3 days at 20 % CPU: sized by the load in
    /// instance-equivalents (20 % × the 4 instances that ran then = 0.8), it needs
    /// ⌈0.8 × 100 × (1 + h) ÷ target⌉ = 2 and is optimized; sized by today's 2 × 20 % it
    /// would be told to go to 1, and the next cycle lower again (the ratchet).
    #[test]
    fn a_resized_group_is_sized_by_the_load_then_and_converges() {
        let cfg = Config::embedded().unwrap();
        let a = &cfg.headroom.advice;
        let r = ResourceId::asg("web");
        let cpu = grid(NOW - 3 * 86_400, NOW, |_| 20.0);
        let desired = grid(NOW - 3 * 86_400, NOW, |_| 4.0);
        let g = asg("web", 1, 2, 8, "m5.large");
        let snap = snapshot(
            NOW,
            vec![g.clone()],
            vec![
                series(&r, Signal::CpuPercent, cpu.clone()),
                series(&r, Signal::DesiredCapacity, desired),
            ],
        );
        let f = analyze(&snap, a, &cfg.pricing, NOW).remove(0);
        let need = |units: f64| ((units * 100.0 * (1.0 + a.headroom / 100.0) / a.target_utilization) - 1e-9).ceil() as i32;
        assert_eq!(f.recommended_desired, Some(need(0.2 * 4.0)));
        assert_eq!(f.recommended_desired, Some(2));
        assert_eq!(f.sizing, Sizing::Optimized);
        // Without the desired-capacity series, today's count stands in: 2 × 20 % → 1.
        let snap = snapshot(NOW, vec![g], vec![series(&r, Signal::CpuPercent, cpu)]);
        let f = analyze(&snap, a, &cfg.pricing, NOW).remove(0);
        assert_eq!(f.recommended_desired, Some(need(0.2 * 2.0)));
    }

    #[test]
    fn ten_hours_of_history_holds_back() {
        let (f, _) = run(asg("web", 2, 6, 10, "t3.large"), wave(10.0 / 24.0, 10.0, 10.0), None);
        assert_eq!(f.sizing, Sizing::NotEnoughHistory);
        assert!((f.history_hours - 10.0).abs() < 1e-9, "{}", f.history_hours);
        assert_eq!(
            (f.recommended_desired, f.recommended_type.clone(), f.monthly_delta),
            (None, None, None)
        );
        let adv = crate::decide::rightsize(&[f], &[asg("web", 2, 6, 10, "t3.large")]);
        assert_eq!(adv.len(), 1);
        assert!(adv[0].summary.contains("not enough history"), "{}", adv[0].summary);
        assert!(adv[0].action.is_none() && adv[0].monthly_cost_delta.is_none());
    }

    /// (in service, CPU wave base/amplitude, memory level or none) → expected sizing, with the
    /// expected count computed here from ⌈n × u × (1 + h) ÷ target⌉.
    #[test]
    fn counts_follow_the_formula() {
        type Case = (i32, (f64, f64), Option<f64>, Sizing);
        let cases: &[Case] = &[
            (6, (5.0, 20.0), None, Sizing::OverProvisioned),
            (2, (70.0, 20.0), None, Sizing::UnderProvisioned),
            (4, (40.0, 10.0), Some(55.0), Sizing::Optimized),
            // Memory decides: CPU would allow 2, memory at 80 % needs more.
            (4, (5.0, 10.0), Some(80.0), Sizing::UnderProvisioned),
        ];
        for (n, (base, amp), mem, want) in cases {
            let cpu = wave(14.0, *base, *amp);
            let memv = mem.map(|m| grid(NOW - 14 * 86_400, NOW, |_| m));
            let (f, cfg) = run(asg("web", 1, *n, 20, "m5.large"), cpu.clone(), memv.clone());
            let a = &cfg.headroom.advice;
            let need = |u: f64| ((f64::from(*n) * u * (1.0 + a.headroom / 100.0) / a.target_utilization - 1e-9).ceil() as i32).max(1);
            let by_cpu = need(pct(&cpu, a.cpu_percentile));
            let by_mem = memv.as_ref().map(|m| need(pct(m, a.memory_percentile)));
            let rec = by_cpu.max(by_mem.unwrap_or(0));
            assert_eq!(f.needed_by_cpu, Some(by_cpu), "case n={n}");
            assert_eq!(f.needed_by_memory, by_mem);
            assert_eq!(f.recommended_desired, Some(rec));
            assert_eq!(f.sizing, *want, "n={n} rec={rec}");
            let od = cfg.pricing.instances["m5.large"].on_demand_hourly.0;
            assert_eq!(f.monthly_delta, Some(Money((i64::from(rec) - i64::from(*n)) * od * 730)));
            assert_eq!(f.risk, f.risk_reasons.len() as u8);
            assert_eq!(f.risk_reasons.iter().any(|r| r.contains("no memory")), mem.is_none());
        }
    }

    #[test]
    fn one_idle_instance_gets_a_smaller_type() {
        let (f, cfg) = run(
            asg("tools", 1, 1, 1, "t3.large"),
            wave(14.0, 2.0, 4.0),
            Some(grid(NOW - 14 * 86_400, NOW, |_| 20.0)),
        );
        assert_eq!(f.recommended_type.as_deref(), Some("t3.medium"));
        assert_eq!(f.sizing, Sizing::OverProvisioned);
        let p = &cfg.pricing.instances;
        assert_eq!(
            f.monthly_delta,
            Some(Money((p["t3.medium"].on_demand_hourly.0 - p["t3.large"].on_demand_hourly.0) * 730))
        );
        assert_eq!(one_size_down(&cfg.pricing, "c5.xlarge").as_deref(), Some("c5.large"));
    }

    #[test]
    fn a_fleet_off_by_a_whole_size_beyond_its_max_gets_a_larger_type() {
        // 2 × m5.large at a flat 95 % CPU, max 3: needs ⌈2 × 95 × 1.2 ÷ 70⌉ = 4 > max.
        let cpu = grid(NOW - 14 * 86_400, NOW, |_| 95.0);
        let (f, cfg) = run(asg("web", 1, 2, 3, "m5.large"), cpu, Some(grid(NOW - 14 * 86_400, NOW, |_| 40.0)));
        let a = &cfg.headroom.advice;
        let rec = (2.0 * 95.0 * (1.0 + a.headroom / 100.0) / a.target_utilization - 1e-9).ceil();
        assert!(rec >= 2.0 * 2.0, "at least twice the fleet of 2, and so beyond max 3");
        let (cur, up) = (&cfg.pricing.instances["m5.large"], &cfg.pricing.instances["m5.xlarge"]);
        let ratio = (up.vcpu / cur.vcpu).min(up.memory_gib / cur.memory_gib);
        let count = (rec / ratio - 1e-9).ceil() as i32;
        assert_eq!(f.recommended_type.as_deref(), Some("m5.xlarge"));
        assert_eq!(f.recommended_desired, Some(count));
        assert_eq!(f.sizing, Sizing::UnderProvisioned);
        assert_eq!(
            f.monthly_delta,
            Some(Money((up.on_demand_hourly.0 * i64::from(count) - cur.on_demand_hourly.0 * 2) * 730))
        );
        assert_eq!(one_size_up(&cfg.pricing, "c5.xlarge").as_deref(), Some("c5.2xlarge"));
        assert_eq!(one_size_up(&cfg.pricing, "r5.xlarge"), None);
        let adv = crate::decide::rightsize(&[f], &[asg("web", 1, 2, 3, "m5.large")]);
        assert!(
            matches!(&adv[0].action, Some(crate::domain::Action::SetInstanceType { to, desired, .. }) if to == "m5.xlarge" && *desired == count),
            "{:?}",
            adv[0].action
        );
    }

    #[test]
    fn target_tracking_groups_get_advice_on_the_target_not_the_count() {
        let mut g = asg("web", 2, 8, 20, "m5.large");
        g.policies = vec![ScalingPolicy {
            name: "cpu40".into(),
            policy_type: "TargetTrackingScaling".into(),
            target_metric: Some("ASGAverageCPUUtilization".into()),
            target_value: Some(40.0),
        }];
        // The autoscaler holds CPU near 40 %: sizing on it would shrink the fleet by half.
        let (f, cfg) = run(g.clone(), wave(14.0, 35.0, 10.0), None);
        assert_eq!(f.recommended_desired, None);
        assert_eq!(f.recommended_target_value, Some(cfg.headroom.advice.target_utilization));
        let adv = crate::decide::rightsize(&[f], &[g]);
        assert!(matches!(adv[0].action, Some(crate::domain::Action::SetTargetValue { target, .. }) if target == 70.0));
    }
}
