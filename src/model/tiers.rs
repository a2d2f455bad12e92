//! Tiers, bundles and what they cost (seeds-model.md §2, §6): the tier a concurrency falls in,
//! the nodes its bundle prescribes, the hourly and monthly (730 h) cost of a bundle under each
//! purchase option, Fargate tasks, DynamoDB on-demand against provisioned, and growth.
//!
//! Pure. May use: config (tiers and prices), domain (Money), model::units.

use super::units::*;
use crate::config::{InstancePrice, Pricing, Purchase, Tier};
use crate::domain::Money;

/// The tier a concurrency falls in: lower bound inclusive, upper exclusive.
pub fn tier_for(tiers: &[Tier], users: f64) -> Option<&Tier> {
    tiers.iter().find(|t| users >= t.concurrent_users.0 && users < t.concurrent_users.1)
}

/// The tier after `t`, by lower bound.
pub fn next_tier<'a>(tiers: &'a [Tier], t: &Tier) -> Option<&'a Tier> {
    tiers
        .iter()
        .filter(|x| x.concurrent_users.0 >= t.concurrent_users.1)
        .min_by(|a, b| a.concurrent_users.0.total_cmp(&b.concurrent_users.0))
}

/// How capacity is bought.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Option_ {
    OnDemand,
    Spot,
    Ri1,
    Ri3,
    Sp1,
    Sp3,
    /// A share on demand, the rest spot (002: 30 % / 70 %).
    Mix(f64),
    /// Each node group as the tier designs it (on-demand groups on demand, spot groups spot).
    AsDesigned,
}

impl Option_ {
    pub fn name(&self) -> String {
        match self {
            Option_::OnDemand => "on-demand".into(),
            Option_::Spot => "spot".into(),
            Option_::Ri1 => "1-yr RI".into(),
            Option_::Ri3 => "3-yr RI".into(),
            Option_::Sp1 => "1-yr Savings Plan".into(),
            Option_::Sp3 => "3-yr Savings Plan".into(),
            Option_::Mix(s) => format!("{:.0} % on-demand / {:.0} % spot", s * 100.0, (1.0 - s) * 100.0),
            Option_::AsDesigned => "as designed".into(),
        }
    }
    pub const ALL: [Option_; 8] = [
        Option_::OnDemand,
        Option_::Spot,
        Option_::Ri1,
        Option_::Ri3,
        Option_::Sp1,
        Option_::Sp3,
        Option_::Mix(0.3),
        Option_::AsDesigned,
    ];
}

/// USD per hour of one instance under a purchase option (`purchase` is the group's own, for
/// `AsDesigned`).
pub fn hourly_usd(p: &InstancePrice, opt: Option_, purchase: Purchase) -> f64 {
    let od = p.on_demand_hourly.as_usd_f64();
    let spot = od * (1.0 - p.spot_discount);
    match opt {
        Option_::OnDemand => od,
        Option_::Spot => spot,
        Option_::Ri1 => p.ri_1yr_hourly.as_usd_f64(),
        Option_::Ri3 => p.ri_3yr_hourly.as_usd_f64(),
        Option_::Sp1 => p.sp_1yr_hourly.as_usd_f64(),
        Option_::Sp3 => p.sp_3yr_hourly.as_usd_f64(),
        Option_::Mix(s) => s * od + (1.0 - s) * spot,
        Option_::AsDesigned => match purchase {
            Purchase::OnDemand => od,
            Purchase::Spot => spot,
        },
    }
}

/// Which point of a node group's range to price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    Min,
    Desired,
    Max,
}

/// Hourly USD of a tier's node groups at `at` under `opt`. A group with several (diversified)
/// instance types is priced at its first type. Errors name a type missing from the table.
pub fn bundle_hourly_usd(t: &Tier, pricing: &Pricing, opt: Option_, at: At) -> Result<f64, String> {
    let mut total = 0.0;
    for g in &t.node_groups {
        let ty = g
            .instance_types
            .first()
            .ok_or_else(|| format!("tier {}: node group {} has no instance type", t.name, g.name))?;
        let p = pricing
            .instances
            .get(ty)
            .ok_or_else(|| format!("tier {}: no price for instance type {ty} in pricing.toml", t.name))?;
        let n = match at {
            At::Min => g.min,
            At::Desired => g.desired,
            At::Max => g.max,
        };
        total += f64::from(n) * hourly_usd(p, opt, g.purchase);
    }
    Ok(total)
}

/// Nodes, vCPUs and memory (GiB as the price table gives it) of a tier's groups at `at`.
pub fn bundle_capacity(t: &Tier, pricing: &Pricing, at: At) -> (u32, f64, f64) {
    let mut n = 0;
    let (mut cpu, mut mem) = (0.0, 0.0);
    for g in &t.node_groups {
        let c = match at {
            At::Min => g.min,
            At::Desired => g.desired,
            At::Max => g.max,
        };
        n += c;
        if let Some(p) = g.instance_types.first().and_then(|ty| pricing.instances.get(ty)) {
            cpu += f64::from(c) * p.vcpu;
            mem += f64::from(c) * p.memory_gib;
        }
    }
    (n, cpu, mem)
}

/// Monthly cost of an hourly rate: × 730 hours, rounded to the micro-dollar.
pub fn monthly(hourly_usd: f64) -> Money {
    Money::from_usd_f64(hourly_usd * HOURS_PER_MONTH).unwrap_or_default()
}

/// USD per hour of one Fargate task: vCPU × vCPU-hour price + GB × GB-hour price (003 §1).
pub fn fargate_task_hourly_usd(vcpu: f64, memory_gb: f64, pricing: &Pricing) -> f64 {
    vcpu * pricing.fargate_vcpu_hour.as_usd_f64() + memory_gb * pricing.fargate_gb_hour.as_usd_f64()
}

/// DynamoDB monthly cost on demand for steady `rru_per_s` read and `wru_per_s` write request
/// units per second, and provisioned for `rcu` and `wcu` (730 h months).
pub fn dynamodb_on_demand_usd(rru_per_s: f64, wru_per_s: f64, pricing: &Pricing) -> f64 {
    let secs = HOURS_PER_MONTH * 3600.0;
    rru_per_s * secs / 1e6 * pricing.dynamodb_read_per_million.as_usd_f64()
        + wru_per_s * secs / 1e6 * pricing.dynamodb_write_per_million.as_usd_f64()
}

pub fn dynamodb_provisioned_usd(rcu: f64, wcu: f64, pricing: &Pricing) -> f64 {
    HOURS_PER_MONTH * (rcu * pricing.dynamodb_rcu_hour.as_usd_f64() + wcu * pricing.dynamodb_wcu_hour.as_usd_f64())
}

/// Average utilization of provisioned read capacity above which provisioned is cheaper than on
/// demand: an RCU-hour costs what 3,600 × utilization read request units cost.
pub fn dynamodb_break_even_read_utilization(pricing: &Pricing) -> f64 {
    pricing.dynamodb_rcu_hour.as_usd_f64() / (3600.0 * pricing.dynamodb_read_per_million.as_usd_f64() / 1e6)
}

/// Users after `months` of `g` month-over-month growth.
pub fn users_after(users: f64, g: Share, months: f64) -> f64 {
    users * (1.0 + g.0).powf(months)
}

/// Whole months until `users` growing at `g` per month reaches `target` (None if it never does).
pub fn months_until(users: f64, g: Share, target: f64) -> Option<u32> {
    if users >= target {
        return Some(0);
    }
    if g.0 <= 0.0 || users <= 0.0 {
        return None;
    }
    let m = ((target / users).ln() / (1.0 + g.0).ln()).ceil();
    (m.is_finite() && m < 10_000.0).then_some(m as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn tier_boundaries_belong_to_the_upper_tier() {
        let c = Config::embedded().unwrap();
        let t = &c.sizing.tiers;
        let name = |u: f64| tier_for(t, u).map(|x| x.name.as_str());
        assert_eq!(name(0.0), Some("small"));
        assert_eq!(name(499.9), Some("small"));
        assert_eq!(name(500.0), Some("medium"));
        assert_eq!(name(2000.0), Some("large"));
        assert_eq!(name(10_000.0), Some("enterprise"));
        assert_eq!(name(1e9), Some("enterprise"));
        assert_eq!(next_tier(t, tier_for(t, 10.0).unwrap()).map(|x| x.name.as_str()), Some("medium"));
        assert!(next_tier(t, tier_for(t, 1e6).unwrap()).is_none());
    }

    #[test]
    fn bundle_cost_under_each_option() {
        let c = Config::embedded().unwrap();
        let small = &c.sizing.tiers[0];
        let p = &c.pricing.instances["t3.medium"];
        let od = p.on_demand_hourly.as_usd_f64();
        // Small: 2 t3.medium desired, on-demand group.
        assert!((bundle_hourly_usd(small, &c.pricing, Option_::OnDemand, At::Desired).unwrap() - 2.0 * od).abs() < 1e-12);
        let spot = od * (1.0 - p.spot_discount);
        assert!((bundle_hourly_usd(small, &c.pricing, Option_::Mix(0.3), At::Max).unwrap() - 4.0 * (0.3 * od + 0.7 * spot)).abs() < 1e-12);
        assert_eq!(monthly(2.0 * od), Money::from_usd_f64(2.0 * od * 730.0).unwrap());
        // Medium as designed: 3 on-demand t3.large + 3 spot t3.large.
        let medium = &c.sizing.tiers[1];
        let l = &c.pricing.instances["t3.large"];
        let want = 3.0 * l.on_demand_hourly.as_usd_f64() + 3.0 * l.on_demand_hourly.as_usd_f64() * (1.0 - l.spot_discount);
        assert!((bundle_hourly_usd(medium, &c.pricing, Option_::AsDesigned, At::Desired).unwrap() - want).abs() < 1e-12);
        assert_eq!(bundle_capacity(medium, &c.pricing, At::Max), (12, 12.0 * 2.0, 12.0 * 8.0));
    }

    #[test]
    fn growth_and_dynamodb_break_even() {
        assert!((users_after(100.0, Share(0.15), 3.0) - 100.0 * 1.15f64.powi(3)).abs() < 1e-9);
        let m = months_until(100.0, Share(0.15), 500.0).unwrap();
        assert!(users_after(100.0, Share(0.15), f64::from(m)) >= 500.0);
        assert!(users_after(100.0, Share(0.15), f64::from(m - 1)) < 500.0);
        assert_eq!(months_until(100.0, Share(0.0), 500.0), None);
        assert_eq!(months_until(600.0, Share(0.1), 500.0), Some(0));
        let c = Config::embedded().unwrap();
        let be = dynamodb_break_even_read_utilization(&c.pricing);
        assert!((be - 0.00013 / (3600.0 * 0.125 / 1e6)).abs() < 1e-9);
        let f = fargate_task_hourly_usd(0.25, 0.5, &c.pricing);
        assert!((f - (0.25 * 0.04048 + 0.5 * 0.004445)).abs() < 1e-12);
    }
}
