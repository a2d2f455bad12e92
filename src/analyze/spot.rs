//! Spot mix per ASG: which part of a group may run on spot, as the exact mixed instances policy.
//!
//! - Only groups whose service class (the `service_class_tag` tag) is one of `spot_classes`:
//!   stateful and critical classes stay on demand.
//! - On-demand base = ⌊p`spot_base_percentile` of desired capacity over the lookback⌋: the
//!   steady floor. Above it, `spot_share` (the seeds' 70 %) on spot: OnDemandPercentageAbove
//!   BaseCapacity = 100 − 70.
//! - Diversified over up to 4 instance types with the group's vCPU:memory ratio from the price
//!   table (burstable types only for burstable groups), the group's own type first, then the
//!   nearest sizes and the cheapest per vCPU;
//!   weights = vCPUs ÷ the main type's. SpotAllocationStrategy price-capacity-optimized.
//! - Monthly cost today and proposed, period by period over the lookback: on-demand instances
//!   at the on-demand rate, spot at on-demand × (1 − the type's typical spot discount).
//!
//! Pure and synchronous. May use: domain, config, analyze::stats, analyze::commitments.

use super::commitments::{on_demand_count, split};
use super::stats;
use crate::config::{AdviceCfg, Pricing};
use crate::domain::{AsgState, InstanceOverride, Kind, Money, ResourceId, Signal, Snapshot, Ts};
use serde::Serialize;

/// Below this saving (share of today's cost) a spot mix is not worth an advisory.
pub const MIN_SAVING: f64 = 0.05;
pub const STRATEGY: &str = "price-capacity-optimized";

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpotMix {
    pub resource: ResourceId,
    pub asg: String,
    pub class: String,
    pub periods: usize,
    pub desired_floor: f64,
    pub desired_mean: f64,
    pub on_demand_base: i32,
    pub on_demand_pct_above_base: i32,
    pub overrides: Vec<InstanceOverride>,
    /// Fewer than 3 types with the ratio in the price table.
    pub diversification_note: Option<String>,
    pub monthly_today: Money,
    pub monthly_proposed: Money,
    /// Today's split (base, percent above base); base i32::MAX = all on demand.
    pub today: (i32, i32),
}

pub fn analyze(snap: &Snapshot, cfg: &AdviceCfg, pricing: &Pricing, now: Ts) -> Vec<SpotMix> {
    analyze_held(snap, cfg, pricing, now, &mut Vec::new())
}

/// The same, adding to `held` the spot-tolerant groups held back for short or missing history.
pub fn analyze_held(snap: &Snapshot, cfg: &AdviceCfg, pricing: &Pricing, now: Ts, held: &mut Vec<super::HeldBack>) -> Vec<SpotMix> {
    let from = now - i64::from(cfg.lookback_days) * 86_400;
    snap.asgs
        .iter()
        .filter_map(|g| one(g, snap, cfg, pricing, from, now, held))
        .collect()
}

/// Types with the same vCPU:memory ratio as `ty` (within 1 %), `ty` first, then by distance in
/// size and on-demand price per vCPU; at most 4.
pub fn diversify(pricing: &Pricing, ty: &str) -> Vec<(String, f64)> {
    let Some(cur) = pricing.instances.get(ty) else {
        return vec![];
    };
    let ratio = cur.memory_gib / cur.vcpu;
    // Burstable types (t*) only stand in for burstable types: CPU credits do not suit a fleet
    // sized on sustained CPU.
    let burstable = |n: &str| n.starts_with('t');
    let mut c: Vec<(&String, &crate::config::InstancePrice)> = pricing
        .instances
        .iter()
        .filter(|(n, p)| n.as_str() != ty && burstable(n) == burstable(ty) && ((p.memory_gib / p.vcpu) / ratio - 1.0).abs() < 0.01)
        .collect();
    let per_vcpu = |p: &crate::config::InstancePrice| p.on_demand_hourly.as_usd_f64() / p.vcpu;
    c.sort_by(|a, b| {
        let da = (a.1.vcpu / cur.vcpu).ln().abs();
        let db = (b.1.vcpu / cur.vcpu).ln().abs();
        da.total_cmp(&db).then(per_vcpu(a.1).total_cmp(&per_vcpu(b.1))).then(a.0.cmp(b.0))
    });
    std::iter::once((ty.to_string(), 1.0))
        .chain(c.into_iter().map(|(n, p)| (n.clone(), p.vcpu / cur.vcpu)))
        .take(4)
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
) -> Option<SpotMix> {
    let class = g.tags.iter().find(|(k, _)| *k == cfg.service_class_tag).map(|(_, v)| v.clone())?;
    if !cfg.spot_classes.contains(&class) {
        return None;
    }
    let r = ResourceId::asg(&g.name);
    let s = snap.series_for(&r, Signal::DesiredCapacity)?;
    let d: Vec<f64> = s
        .points
        .iter()
        .filter(|(t, v)| *t >= from && *t <= now && v.is_finite() && *v >= 0.0)
        .map(|p| p.1)
        .collect();
    let hours = d.len() as f64 * f64::from(s.query.period_s.max(1)) / 3600.0;
    if hours < cfg.min_history_hours {
        held.push(super::HeldBack::new(Kind::SpotMix, r.clone(), snap, hours, cfg.min_history_hours));
        return None;
    }
    let ty = g.instance_types.iter().max_by_key(|(_, n)| *n).map(|(t, _)| t.clone())?;
    let p = pricing.instances.get(&ty)?;
    let floor = stats::percentile(&d, cfg.spot_base_percentile)?;
    let base = floor.floor() as i32;
    let pct = ((1.0 - cfg.spot_share) * 100.0).round() as i32;
    let types = diversify(pricing, &ty);
    let od = p.on_demand_hourly.as_usd_f64();
    let spot = od * (1.0 - p.spot_discount);
    let cost = |(b, pc): (i32, i32)| {
        let mean = d
            .iter()
            .map(|x| {
                let o = on_demand_count(*x, b, pc);
                o * od + (x - o) * spot
            })
            .sum::<f64>()
            / d.len() as f64;
        Money::from_usd_f64(mean * 730.0).unwrap_or_default()
    };
    let today = split(g);
    let (monthly_today, monthly_proposed) = (cost(today), cost((base, pct)));
    let overrides = types
        .iter()
        .map(|(t, w)| InstanceOverride {
            instance_type: t.clone(),
            weighted_capacity: (types.iter().any(|(_, w)| (*w - 1.0).abs() > 1e-9)).then(|| format!("{}", w.round().max(1.0))),
        })
        .collect();
    Some(SpotMix {
        resource: r,
        asg: g.name.clone(),
        class,
        periods: d.len(),
        desired_floor: floor,
        desired_mean: stats::mean(&d)?,
        on_demand_base: base,
        on_demand_pct_above_base: pct,
        overrides,
        diversification_note: (types.len() < 3).then(|| {
            format!(
                "only {} type(s) with {ty}'s vCPU:memory ratio in pricing.toml: add more to diversify over 3",
                types.len()
            )
        }),
        monthly_today,
        monthly_proposed,
        today,
    })
}

/// Whether a finding is worth an advisory: it changes the split and saves at least MIN_SAVING.
pub fn worth_it(m: &SpotMix) -> bool {
    let (t, p) = (m.monthly_today.as_usd_f64(), m.monthly_proposed.as_usd_f64());
    t > 0.0 && (t - p) / t >= MIN_SAVING
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::fixtures::*;
    use crate::config::Config;

    const NOW: Ts = 1_800_000_000;

    fn tagged(class: &str) -> AsgState {
        let mut g = asg("work", 2, 6, 10, "m5.large");
        g.tags = vec![("service-class".into(), class.into())];
        g
    }

    /// Desired 2 at night (0–8 h) and 8 by day, for 14 days.
    fn desired(t: Ts) -> f64 {
        if t.rem_euclid(86_400) < 8 * 3600 { 2.0 } else { 8.0 }
    }

    fn run(g: AsgState) -> (Vec<SpotMix>, Config) {
        let cfg = Config::embedded().unwrap();
        let r = ResourceId::asg(&g.name);
        let snap = snapshot(
            NOW,
            vec![g],
            vec![series(&r, Signal::DesiredCapacity, grid(NOW - 14 * 86_400, NOW, desired))],
        );
        (analyze(&snap, &cfg.headroom.advice, &cfg.pricing, NOW), cfg)
    }

    #[test]
    fn tolerant_classes_get_base_at_the_floor_and_seventy_percent_spot_above_it() {
        let (out, cfg) = run(tagged("batch"));
        let m = &out[0];
        let a = &cfg.headroom.advice;
        // A third of the periods at 2, the rest at 8: p10 = 2.
        assert_eq!(m.on_demand_base, 2);
        assert_eq!(m.on_demand_pct_above_base, ((1.0 - a.spot_share) * 100.0).round() as i32);
        let p = &cfg.pricing.instances["m5.large"];
        let (od, spot) = (
            p.on_demand_hourly.as_usd_f64(),
            p.on_demand_hourly.as_usd_f64() * (1.0 - p.spot_discount),
        );
        let mean_today = (2.0 * 8.0 + 8.0 * 16.0) / 24.0 * od;
        assert!((m.monthly_today.as_usd_f64() - mean_today * 730.0).abs() < 0.01);
        let at8 = {
            let o = 2.0 + 6.0 * f64::from(m.on_demand_pct_above_base) / 100.0;
            o * od + (8.0 - o) * spot
        };
        let mean_prop = (2.0 * od * 8.0 + at8 * 16.0) / 24.0;
        assert!((m.monthly_proposed.as_usd_f64() - mean_prop * 730.0).abs() < 0.01);
        assert!(worth_it(m));
        // Diversified over 3+ types with m5.large's 1:4 ratio, m5.large first.
        assert!(m.overrides.len() >= 3, "{:?}", m.overrides);
        assert_eq!(m.overrides[0].instance_type, "m5.large");
        for o in &m.overrides {
            let q = &cfg.pricing.instances[&o.instance_type];
            assert!(((q.memory_gib / q.vcpu) - 4.0).abs() < 0.04, "{}", o.instance_type);
        }
    }

    #[test]
    fn critical_and_untagged_classes_stay_on_demand() {
        assert!(run(tagged("critical")).0.is_empty());
        assert!(run(asg("work", 2, 6, 10, "m5.large")).0.is_empty());
    }

    #[test]
    fn a_flat_fleet_has_nothing_above_its_floor() {
        let cfg = Config::embedded().unwrap();
        let g = tagged("batch");
        let r = ResourceId::asg(&g.name);
        let snap = snapshot(
            NOW,
            vec![g],
            vec![series(&r, Signal::DesiredCapacity, grid(NOW - 14 * 86_400, NOW, |_| 6.0))],
        );
        let m = &analyze(&snap, &cfg.headroom.advice, &cfg.pricing, NOW)[0];
        assert_eq!(m.on_demand_base, 6);
        assert_eq!(m.monthly_today, m.monthly_proposed);
        assert!(!worth_it(m));
    }
}
