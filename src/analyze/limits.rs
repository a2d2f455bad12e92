//! ASG limits: is the group's max or min in the way? From its desired capacity over the
//! lookback (AWS/AutoScaling GroupDesiredCapacity) and its CPU at the same periods. Groups that
//! do not scale (min = max) are right-sizing's business, not this one's.
//!
//! - **Max too low**: desired at max for more than `AT_MAX_SHARE` of the periods, and hot
//!   there (CPU p95 over the at-max periods above the target-tracking target, or the
//!   configured target utilization without one): raise max to
//!   max(max + 1, ⌈max × p95 CPU at max × (1 + headroom) ÷ target⌉).
//! - **Min too high**: CPU p5 below the seeds' scale-in threshold (`SCALE_IN_CPU`, 30 %) and
//!   min above what the trough needs: ⌈p5 of (desired × CPU ÷ 100) × (1 + headroom) ÷ target⌉
//!   (at least 1). The saving counts only the share of periods the group sat at min.
//!
//! Pure and synchronous. May use: domain, config, analyze::stats.

use super::stats;
use crate::config::{AdviceCfg, Pricing};
use crate::domain::{AsgState, Kind, Money, ResourceId, Signal, Snapshot, Ts};
use serde::Serialize;

/// Share of the lookback at max above which max is in the way (issue: 10 %).
pub const AT_MAX_SHARE: f64 = 0.10;
/// CPU below which the seeds scale in (000 §4.1 / 002: scale in at < 30 %).
pub const SCALE_IN_CPU: f64 = 30.0;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Limits {
    pub resource: ResourceId,
    pub asg: String,
    pub min: i32,
    pub max: i32,
    pub periods: usize,
    pub at_max_share: f64,
    pub at_min_share: f64,
    pub cpu_p95_at_max: Option<f64>,
    /// The utilization the group should not exceed at max: the policy's target or the configured one.
    pub hot_above: f64,
    pub cpu_p5: Option<f64>,
    pub trough_load: Option<f64>,
    pub raise_max_to: Option<i32>,
    pub lower_min_to: Option<i32>,
    pub monthly_delta: Option<Money>,
}

fn ceil_i(x: f64) -> i32 {
    ((x - 1e-9).ceil() as i32).max(1)
}

pub fn analyze(snap: &Snapshot, cfg: &AdviceCfg, pricing: &Pricing, now: Ts) -> Vec<Limits> {
    analyze_held(snap, cfg, pricing, now, &mut Vec::new())
}

/// The same, adding to `held` the groups held back for short or missing history.
pub fn analyze_held(snap: &Snapshot, cfg: &AdviceCfg, pricing: &Pricing, now: Ts, held: &mut Vec<super::HeldBack>) -> Vec<Limits> {
    let from = now - i64::from(cfg.lookback_days) * 86_400;
    snap.asgs
        .iter()
        .filter_map(|g| one(g, snap, cfg, pricing, from, now, held))
        .collect()
}

fn one(
    g: &AsgState,
    snap: &Snapshot,
    cfg: &AdviceCfg,
    pricing: &Pricing,
    from: Ts,
    now: Ts,
    held: &mut Vec<super::HeldBack>,
) -> Option<Limits> {
    if g.min_size >= g.max_size {
        return None;
    }
    let r = ResourceId::asg(&g.name);
    let find = |sig| snap.series_for(&r, sig);
    let desired = find(Signal::DesiredCapacity)?;
    let cpu = find(Signal::CpuPercent)?;
    // Periods with both desired capacity and CPU: a merge join of the two ascending series.
    let finite = |p: &(Ts, f64)| p.1.is_finite();
    let mut cpu_it = cpu.points.range(from, now + 1).filter(finite).peekable();
    let mut joined: Vec<(f64, f64)> = Vec::with_capacity(desired.points.len());
    for (t, d) in desired.points.range(from, now + 1).filter(finite) {
        while cpu_it.next_if(|(tc, _)| *tc < t).is_some() {}
        if let Some((_, c)) = cpu_it.next_if(|(tc, _)| *tc == t) {
            joined.push((d, c));
        }
    }
    let period = f64::from(desired.query.period_s.max(1));
    let hours = joined.len() as f64 * period / 3600.0;
    if hours < cfg.min_history_hours {
        held.push(super::HeldBack::new(Kind::AsgLimits, r.clone(), snap, hours, cfg.min_history_hours));
        return None;
    }
    let n = joined.len() as f64;
    let (max, min) = (f64::from(g.max_size), f64::from(g.min_size));
    let at_max: Vec<f64> = joined.iter().filter(|(d, _)| *d >= max).map(|(_, c)| *c).collect();
    let at_min = joined.iter().filter(|(d, _)| *d <= min).count() as f64 / n;
    let tt = g
        .policies
        .iter()
        .find(|p| p.policy_type == "TargetTrackingScaling" && p.target_metric.as_deref() == Some("ASGAverageCPUUtilization"))
        .and_then(|p| p.target_value);
    let hot_above = tt.unwrap_or(cfg.target_utilization);
    let h = cfg.headroom / 100.0;
    let at_max_share = at_max.len() as f64 / n;
    let cpu_p95_at_max = stats::percentile(&at_max, 95.0);
    let raise_max_to = match cpu_p95_at_max {
        Some(c) if at_max_share > AT_MAX_SHARE && c > hot_above => {
            Some((g.max_size + 1).max(ceil_i(max * c * (1.0 + h) / cfg.target_utilization)))
        }
        _ => None,
    };
    let cpus: Vec<f64> = joined.iter().map(|(_, c)| *c).collect();
    let loads: Vec<f64> = joined.iter().map(|(d, c)| d * c / 100.0).collect();
    let cpu_p5 = stats::percentile(&cpus, 5.0);
    let trough_load = stats::percentile(&loads, 5.0);
    let lower_min_to = match (cpu_p5, trough_load) {
        (Some(c), Some(l)) if c < SCALE_IN_CPU => {
            let need = ceil_i(l * (1.0 + h) / (cfg.target_utilization / 100.0));
            (need < g.min_size).then_some(need)
        }
        _ => None,
    };
    let od = g
        .instance_types
        .iter()
        .max_by_key(|(_, k)| *k)
        .and_then(|(t, _)| pricing.instances.get(t))
        .map(|p| p.on_demand_hourly.0 as f64);
    // Cost: extra instances while the group would have been above the old max (an upper bound:
    // at the new max for every at-max period), and fewer while it sits at min.
    let monthly_delta = od.map(|od| {
        let up = raise_max_to.map_or(0.0, |m| f64::from(m - g.max_size) * at_max_share);
        let down = lower_min_to.map_or(0.0, |m| f64::from(g.min_size - m) * at_min);
        Money(((up - down) * od * 730.0).round() as i64)
    });
    Some(Limits {
        resource: r,
        asg: g.name.clone(),
        min: g.min_size,
        max: g.max_size,
        periods: joined.len(),
        at_max_share,
        at_min_share: at_min,
        cpu_p95_at_max,
        hot_above,
        cpu_p5,
        trough_load,
        raise_max_to,
        lower_min_to,
        monthly_delta: (raise_max_to.is_some() || lower_min_to.is_some())
            .then_some(monthly_delta)
            .flatten(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::fixtures::*;
    use crate::config::Config;

    const NOW: Ts = 1_800_000_000 - 1_800_000_000 % 86_400;

    /// `desired(k)` and `cpu(k)` for each period k over 14 days.
    fn run(g: AsgState, desired: impl Fn(i64) -> f64, cpu: impl Fn(i64) -> f64) -> (Option<Limits>, Config) {
        let cfg = Config::embedded().unwrap();
        let r = ResourceId::asg(&g.name);
        let from = NOW - 14 * 86_400;
        let k = |t: Ts| (t - from) / P;
        let s = vec![
            series(&r, Signal::DesiredCapacity, grid(from, NOW, |t| desired(k(t)))),
            series(&r, Signal::CpuPercent, grid(from, NOW, |t| cpu(k(t)))),
        ];
        let snap = snapshot(NOW, vec![g], s);
        (analyze(&snap, &cfg.headroom.advice, &cfg.pricing, NOW).pop(), cfg)
    }

    #[test]
    fn pinned_and_hot_at_max_raises_max() {
        // One period in five at max 4 with CPU 90 %, the rest at 3 with 60 %.
        let (l, cfg) = run(
            asg("web", 2, 4, 4, "c5.xlarge"),
            |k| if k % 5 == 0 { 4.0 } else { 3.0 },
            |k| if k % 5 == 0 { 90.0 } else { 60.0 },
        );
        let l = l.unwrap();
        let a = &cfg.headroom.advice;
        assert!((l.at_max_share - l.periods.div_ceil(5) as f64 / l.periods as f64).abs() < 1e-12);
        assert_eq!(l.cpu_p95_at_max, Some(90.0));
        let want = 5.max(((4.0 * 90.0 * (1.0 + a.headroom / 100.0) / a.target_utilization) - 1e-9).ceil() as i32);
        assert_eq!(l.raise_max_to, Some(want));
        // CPU never below 30 %: min stays.
        assert_eq!(l.lower_min_to, None);
        let od = cfg.pricing.instances["c5.xlarge"].on_demand_hourly.0 as f64;
        assert_eq!(
            l.monthly_delta,
            Some(Money((f64::from(want - 4) * l.at_max_share * od * 730.0).round() as i64))
        );
    }

    #[test]
    fn pinned_but_cool_at_max_is_left_alone() {
        let (l, _) = run(asg("web", 2, 4, 4, "c5.xlarge"), |_| 4.0, |_| 40.0);
        assert_eq!(l.unwrap().raise_max_to, None);
    }

    #[test]
    fn min_above_the_trough_is_lowered() {
        // At min 4 half the time with CPU 10 %, at 6 with 40 % otherwise.
        let (l, cfg) = run(
            asg("web", 4, 4, 8, "m5.large"),
            |k| if k % 2 == 0 { 4.0 } else { 6.0 },
            |k| if k % 2 == 0 { 10.0 } else { 40.0 },
        );
        let l = l.unwrap();
        let a = &cfg.headroom.advice;
        // Trough load: 4 × 10 % = 0.4 instance-equivalents.
        assert_eq!(l.trough_load, Some(0.4));
        let need = ((0.4 * (1.0 + a.headroom / 100.0) / (a.target_utilization / 100.0) - 1e-9).ceil() as i32).max(1);
        assert_eq!(l.lower_min_to, Some(need));
        let od = cfg.pricing.instances["m5.large"].on_demand_hourly.0 as f64;
        let share_at_min = l.periods.div_ceil(2) as f64 / l.periods as f64;
        assert_eq!(
            l.monthly_delta,
            Some(Money((-(f64::from(4 - need)) * share_at_min * od * 730.0).round() as i64))
        );
    }

    #[test]
    fn fixed_size_groups_and_missing_metrics_say_nothing() {
        assert!(run(asg("w", 6, 6, 6, "m5.large"), |_| 6.0, |_| 5.0).0.is_none());
        let cfg = Config::embedded().unwrap();
        let snap = snapshot(NOW, vec![asg("x", 1, 2, 4, "m5.large")], vec![]);
        assert!(analyze(&snap, &cfg.headroom.advice, &cfg.pricing, NOW).is_empty());
    }
}
