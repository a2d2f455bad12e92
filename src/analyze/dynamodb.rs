//! DynamoDB capacity and cost per table, from consumed and provisioned capacity over the
//! lookback and the price table.
//!
//! - Consumed units per second = the period's ConsumedRead/WriteCapacityUnits sum ÷ period.
//! - Recommended provisioned capacity = ⌈p95 consumed ÷ target utilization⌉ (70 %, the
//!   default target of DynamoDB auto scaling), with auto-scaling bounds
//!   min = ⌈p5 consumed ÷ target⌉ and max = ⌈max consumed × (1 + headroom) ÷ target⌉.
//! - Monthly cost (730 h): on-demand = mean units/s × 730 × 3,600 ÷ 10⁶ × price per million
//!   requests; provisioned = units × unit-hour price × 730.
//! - Break-even utilization = unit-hour price ÷ (3,600 × price per million ÷ 10⁶): above it,
//!   provisioned capacity is cheaper than on-demand for the same traffic.
//! - The recommended mode is the cheaper of on-demand and provisioned-at-the-recommendation.
//!
//! Pure and synchronous. May use: domain, config, analyze::stats, analyze::rules::Index.

use super::rules::Index;
use super::stats;
use crate::config::{AdviceCfg, Pricing};
use crate::domain::{Kind, Money, ResourceId, Signal, Snapshot, TableState, Ts};
use serde::Serialize;

/// Target utilization of provisioned capacity, as DynamoDB auto scaling defaults it.
pub const TARGET: f64 = 0.70;
const MONTH_H: f64 = 730.0;

/// One direction (reads or writes) of a table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Capacity {
    /// Consumed units per second: mean, p5, p95, max over the lookback.
    pub mean: f64,
    pub p5: f64,
    pub p95: f64,
    pub max: f64,
    /// Provisioned units now (None for on-demand tables).
    pub provisioned: Option<f64>,
    pub throttle_events: f64,
    pub recommended: i64,
    pub autoscale_min: i64,
    pub autoscale_max: i64,
    pub on_demand_monthly: Money,
    pub provisioned_monthly_now: Option<Money>,
    pub provisioned_monthly_recommended: Money,
    pub break_even_utilization: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableFinding {
    pub resource: ResourceId,
    pub table: String,
    pub billing_mode: String,
    pub history_hours: f64,
    pub reads: Capacity,
    pub writes: Capacity,
    /// `PROVISIONED` or `PAY_PER_REQUEST`: the cheaper at the observed traffic.
    pub recommended_mode: String,
    pub monthly_now: Money,
    pub monthly_recommended: Money,
}

fn ceil_units(x: f64) -> i64 {
    ((x - 1e-9).ceil() as i64).max(1)
}

#[allow(clippy::too_many_arguments)]
fn capacity(
    consumed: &[f64],
    divisor: f64,
    provisioned: Option<f64>,
    throttles: f64,
    headroom: f64,
    per_million: Money,
    unit_hour: Money,
) -> Option<Capacity> {
    // Consumed units per second (Series::per_second_divisor: the period of a Sum).
    let per_s: Vec<f64> = consumed.iter().map(|v| v / divisor).collect();
    let mean = stats::mean(&per_s)?;
    let (p5, p95, max) = (
        stats::percentile(&per_s, 5.0)?,
        stats::percentile(&per_s, 95.0)?,
        stats::max(&per_s)?,
    );
    let recommended = ceil_units(p95 / TARGET);
    let od_hourly_per_unit = 3600.0 * per_million.as_usd_f64() / 1e6;
    let money = |usd: f64| Money::from_usd_f64(usd).unwrap_or(Money::ZERO);
    Some(Capacity {
        mean,
        p5,
        p95,
        max,
        provisioned,
        throttle_events: throttles,
        recommended,
        autoscale_min: ceil_units(p5 / TARGET),
        autoscale_max: ceil_units(max * (1.0 + headroom) / TARGET).max(recommended),
        on_demand_monthly: money(mean * od_hourly_per_unit * MONTH_H),
        provisioned_monthly_now: provisioned.map(|p| Money((p * unit_hour.0 as f64 * MONTH_H).round() as i64)),
        provisioned_monthly_recommended: Money(recommended * unit_hour.0 * MONTH_H as i64),
        break_even_utilization: if od_hourly_per_unit > 0.0 {
            unit_hour.as_usd_f64() / od_hourly_per_unit
        } else {
            f64::INFINITY
        },
    })
}

pub fn analyze(snap: &Snapshot, cfg: &AdviceCfg, pricing: &Pricing, now: Ts) -> Vec<TableFinding> {
    analyze_held(snap, cfg, pricing, now, &mut Vec::new())
}

/// The same, adding to `held` the tables held back for short or missing history.
pub fn analyze_held(snap: &Snapshot, cfg: &AdviceCfg, pricing: &Pricing, now: Ts, held: &mut Vec<super::HeldBack>) -> Vec<TableFinding> {
    let idx = Index::new(snap);
    let from = now - i64::from(cfg.lookback_days) * 86_400;
    snap.tables
        .iter()
        .filter_map(|t| one(t, &idx, snap, cfg, pricing, from, now, held))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn one(
    t: &TableState,
    idx: &Index,
    snap: &Snapshot,
    cfg: &AdviceCfg,
    pricing: &Pricing,
    from: Ts,
    now: Ts,
    held: &mut Vec<super::HeldBack>,
) -> Option<TableFinding> {
    let r = ResourceId::table(&t.name);
    let series = snap.series_for(&r, Signal::ConsumedRcu)?;
    let period = f64::from(series.query.period_s.max(1));
    let pts: Vec<Ts> = series.points.iter().map(|p| p.0).filter(|x| *x >= from && *x <= now).collect();
    let history_hours = match (pts.first(), pts.last()) {
        (Some(a), Some(b)) => (b - a) as f64 / 3600.0 + period / 3600.0,
        _ => 0.0,
    };
    if history_hours < cfg.min_history_hours {
        held.push(super::HeldBack::new(
            Kind::Dynamodb,
            r.clone(),
            snap,
            history_hours,
            cfg.min_history_hours,
        ));
        return None;
    }
    let w = |sig| idx.window(&r, sig, from, now + 1);
    let provisioned = t.billing_mode == "PROVISIONED";
    let h = cfg.headroom / 100.0;
    let per_s = |sig| snap.series_for(&r, sig).map(|s| s.per_second_divisor()).unwrap_or(period);
    let reads = capacity(
        &w(Signal::ConsumedRcu),
        per_s(Signal::ConsumedRcu),
        t.read_capacity.filter(|_| provisioned).map(|x| x as f64),
        stats::sum(&w(Signal::ReadThrottles)).unwrap_or(0.0),
        h,
        pricing.dynamodb_read_per_million,
        pricing.dynamodb_rcu_hour,
    )?;
    let writes = capacity(
        &w(Signal::ConsumedWcu),
        per_s(Signal::ConsumedWcu),
        t.write_capacity.filter(|_| provisioned).map(|x| x as f64),
        stats::sum(&w(Signal::WriteThrottles)).unwrap_or(0.0),
        h,
        pricing.dynamodb_write_per_million,
        pricing.dynamodb_wcu_hour,
    )?;
    let on_demand = reads.on_demand_monthly + writes.on_demand_monthly;
    let prov_rec = reads.provisioned_monthly_recommended + writes.provisioned_monthly_recommended;
    let monthly_now = match (reads.provisioned_monthly_now, writes.provisioned_monthly_now) {
        (Some(a), Some(b)) => a + b,
        _ => on_demand,
    };
    let (mode, monthly_recommended) = if prov_rec < on_demand {
        ("PROVISIONED", prov_rec)
    } else {
        ("PAY_PER_REQUEST", on_demand)
    };
    Some(TableFinding {
        resource: r,
        table: t.name.clone(),
        billing_mode: t.billing_mode.clone(),
        history_hours,
        reads,
        writes,
        recommended_mode: mode.into(),
        monthly_now,
        monthly_recommended,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::fixtures::*;
    use crate::config::Config;

    const NOW: Ts = 1_800_000_000 - 1_800_000_000 % 86_400;

    fn table(name: &str, mode: &str, rcu: Option<i64>, wcu: Option<i64>) -> TableState {
        TableState {
            name: name.into(),
            billing_mode: mode.into(),
            read_capacity: rcu,
            write_capacity: wcu,
            item_count: None,
            size_bytes: None,
            gsis: vec![],
        }
    }

    /// Reads alternate between `lo` and `hi` units/s (as period sums), writes a fifth of that.
    fn run(t: TableState, lo: f64, hi: f64, throttles: f64) -> (Option<TableFinding>, Config) {
        let cfg = Config::embedded().unwrap();
        let r = ResourceId::table(&t.name);
        let from = NOW - 14 * 86_400;
        let f = |t: Ts| if (t / P) % 2 == 0 { lo } else { hi };
        let s = vec![
            series(&r, Signal::ConsumedRcu, grid(from, NOW, |t| f(t) * P as f64)),
            series(&r, Signal::ConsumedWcu, grid(from, NOW, |t| f(t) / 5.0 * P as f64)),
            series(
                &r,
                Signal::ReadThrottles,
                grid(from, NOW, |t| if t == from { throttles } else { 0.0 }),
            ),
        ];
        let mut snap = snapshot(NOW, vec![], s);
        snap.tables = vec![t];
        let out = analyze(&snap, &cfg.headroom.advice, &cfg.pricing, NOW);
        (out.into_iter().next(), cfg)
    }

    #[test]
    fn figures_follow_their_formulas() {
        let (f, cfg) = run(table("chats", "PROVISIONED", Some(500), Some(200)), 100.0, 300.0, 42.0);
        let f = f.unwrap();
        let p = &cfg.pricing;
        // Half the periods at 100, half at 300: mean 200, p5 100, p95 300, max 300.
        let r = &f.reads;
        assert_eq!((r.mean, r.p5, r.p95, r.max), (200.0, 100.0, 300.0, 300.0));
        assert_eq!(r.recommended, (300.0f64 / 0.7).ceil() as i64);
        assert_eq!(r.autoscale_min, (100.0f64 / 0.7).ceil() as i64);
        assert_eq!(r.autoscale_max, (300.0 * 1.2f64 / 0.7).ceil() as i64);
        assert_eq!(r.throttle_events, 42.0);
        let od = 200.0 * 3600.0 * p.dynamodb_read_per_million.as_usd_f64() / 1e6 * 730.0;
        assert!((r.on_demand_monthly.as_usd_f64() - od).abs() < 1e-6);
        assert_eq!(r.provisioned_monthly_now, Some(Money(500 * p.dynamodb_rcu_hour.0 * 730)));
        let be = p.dynamodb_rcu_hour.as_usd_f64() / (3600.0 * p.dynamodb_read_per_million.as_usd_f64() / 1e6);
        assert!((r.break_even_utilization - be).abs() < 1e-12);
        let w = &f.writes;
        assert_eq!(w.recommended, (60.0f64 / 0.7).ceil() as i64);
        assert_eq!(
            f.monthly_now,
            Money((500 * p.dynamodb_rcu_hour.0 + 200 * p.dynamodb_wcu_hour.0) * 730)
        );
        // Steady traffic at a mean utilization of 200 ÷ 429 ≈ 0.47, above break-even: provisioned.
        assert!(200.0 / r.recommended as f64 > be);
        assert_eq!(f.recommended_mode, "PROVISIONED");
    }

    #[test]
    fn spiky_traffic_stays_on_demand() {
        // Mostly idle with rare spikes: p95 sits on the spike, the mean is low: on-demand wins.
        let cfg = Config::embedded().unwrap();
        let r = ResourceId::table("burst");
        let from = NOW - 14 * 86_400;
        let reads = grid(from, NOW, |t| if (t / P) % 10 == 0 { 1000.0 * P as f64 } else { 0.0 });
        let mut snap = snapshot(
            NOW,
            vec![],
            vec![
                series(&r, Signal::ConsumedRcu, reads.clone()),
                series(&r, Signal::ConsumedWcu, reads.clone()),
            ],
        );
        snap.tables = vec![table("burst", "PAY_PER_REQUEST", None, None)];
        let f = analyze(&snap, &cfg.headroom.advice, &cfg.pricing, NOW).pop().unwrap();
        let spikes = reads.iter().filter(|(_, v)| *v > 0.0).count() as f64;
        assert!((f.reads.mean - spikes * 1000.0 / reads.len() as f64).abs() < 1e-9);
        assert_eq!(f.reads.p95, 1000.0);
        assert!(f.reads.on_demand_monthly < f.reads.provisioned_monthly_recommended);
        assert_eq!(f.recommended_mode, "PAY_PER_REQUEST");
        assert_eq!(f.monthly_now, f.reads.on_demand_monthly + f.writes.on_demand_monthly);
    }

    #[test]
    fn short_history_says_nothing() {
        let cfg = Config::embedded().unwrap();
        let r = ResourceId::table("new");
        let reads = grid(NOW - 10 * 3600, NOW, |_| 100.0);
        let mut snap = snapshot(
            NOW,
            vec![],
            vec![
                series(&r, Signal::ConsumedRcu, reads.clone()),
                series(&r, Signal::ConsumedWcu, reads),
            ],
        );
        snap.tables = vec![table("new", "PAY_PER_REQUEST", None, None)];
        assert!(analyze(&snap, &cfg.headroom.advice, &cfg.pricing, NOW).is_empty());
    }
}
