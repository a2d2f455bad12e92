//! Commitments: Standard RIs, EC2 Instance and Compute Savings Plans per instance family, and
//! DynamoDB reserved capacity, each at the level that minimizes the total cost over the
//! lookback: commitment (upfront amortized over the term, plus recurring) + on-demand overflow.
//!
//! **The optimizer.** With hourly usage u_h (h = 1..H), a commitment at level L costs
//! f(L) = H × L × c + od × Σ max(0, u_h − L), c the hourly cost of one unit of commitment
//! (recurring + upfront ÷ term hours) and od the on-demand rate of one unit of usage. f is
//! convex and piecewise linear with its kinks at the usage values (its slope H × c − od ×
//! #{u_h > L} crosses zero where the share of hours at or above the level equals c ÷ od), so
//! on a grid of purchasable levels (whole instances, $0.001/h, 100-unit blocks) the minimum is
//! at a grid neighbour of a usage value or at 0. `optimize` evaluates exactly those, each in
//! one sweep over the sorted usage (sorted once per family, shared by every option); tests
//! hold it against every grid level.
//!
//! **Usage** per family: hourly means of each ASG's GroupDesiredCapacity, the on-demand part
//! of its mixed instances policy (or of the spot mix advised for it), in normalized units
//! (AWS's size factors: large = 4, xlarge = 8, ...). ASGs a tier migration is advised for are
//! left out: capacity about to move is not committed; so are ASGs whose capacity the forecast
//! shrinks (even its 80 % upper bound), and where it grows steadily the hours are lifted to
//! today's level by that growth (`Context`). Lookback: the longest of 60, 30 or 7 days
//! the history covers; below 7 days, nothing.
//!
//! Pure and synchronous. May use: domain, config, analyze::stats, analyze::forecast (growth).

use super::forecast::Growth;
use crate::config::{AdviceCfg, PaymentOptions, Pricing};
use crate::domain::{AsgState, Money, Points, ResourceId, Signal, Snapshot, Ts};
use serde::Serialize;
use std::collections::BTreeMap;

pub const HOURS_1Y: f64 = 8760.0;
const DAY: i64 = 86_400;
/// Lookbacks commitments are sized over, longest first (days).
pub const LOOKBACKS: [i64; 3] = [60, 30, 7];

/// A way to buy committed capacity, per unit of the level.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Price {
    /// On-demand USD per unit of usage per hour (what overflow costs).
    pub od: f64,
    /// Recurring USD per unit of commitment per hour.
    pub recurring: f64,
    /// USD per unit of commitment paid at purchase, for the whole term.
    pub upfront: f64,
    pub term_hours: f64,
}

impl Price {
    /// Hourly cost of one unit of commitment, upfront amortized over the term.
    pub fn hourly(&self) -> f64 {
        self.recurring + self.upfront / self.term_hours
    }
}

/// Total cost over the hours of `usage` of committing `level`.
pub fn cost(usage: &[f64], level: f64, p: &Price) -> f64 {
    let overflow: f64 = usage.iter().map(|u| (u - level).max(0.0)).sum();
    usage.len() as f64 * level * p.hourly() + p.od * overflow
}

/// Hourly usage sorted once, with suffix sums: every purchase option of a family is optimized
/// on the same profile (a Savings Plan sees the usage scaled by its rate, which keeps the order).
pub struct Profile {
    sorted: Vec<f64>,
    /// suffix[i] = Σ sorted[i..]
    suffix: Vec<f64>,
}

impl Profile {
    pub fn new(usage: &[f64]) -> Profile {
        let mut sorted: Vec<f64> = usage.iter().copied().filter(|x| x.is_finite()).map(|x| x.max(0.0)).collect();
        sorted.sort_by(f64::total_cmp);
        let mut suffix = vec![0.0; sorted.len() + 1];
        for i in (0..sorted.len()).rev() {
            suffix[i] = suffix[i + 1] + sorted[i];
        }
        Profile { sorted, suffix }
    }

    /// The level on the grid of multiples of `step` that minimizes the cost of the usage
    /// scaled by `scale`, and that cost (ties go to the lower level). One sweep: the
    /// candidates (0 and the grid neighbours of each usage value) come in ascending order.
    pub fn optimize(&self, scale: f64, step: f64, p: &Price) -> (f64, f64) {
        let u = &self.sorted;
        let h = u.len() as f64;
        let step = if step > 0.0 { step } else { 1.0 };
        let mut i = 0; // values ≤ level
        let mut f = |level: f64| {
            while i < u.len() && u[i] * scale <= level {
                i += 1;
            }
            let above = (u.len() - i) as f64;
            h * level * p.hourly() + p.od * (self.suffix[i] * scale - level * above)
        };
        let mut best = (0.0, f(0.0));
        let mut last = 0.0;
        for x in u {
            let k = (x * scale / step).floor();
            for level in [k * step, (k + 1.0) * step] {
                if level <= last {
                    continue;
                }
                last = level;
                let c = f(level);
                if c < best.1 - 1e-9 {
                    best = (level, c);
                }
            }
        }
        best
    }
}

/// The level on the grid of multiples of `step` that minimizes `cost`, and that cost (ties go
/// to the lower level). Exact for any non-negative prices.
pub fn optimize(usage: &[f64], step: f64, p: &Price) -> (f64, f64) {
    Profile::new(usage).optimize(1.0, step, p)
}

/// AWS's normalization factor of an instance size (nano 0.25 ... large 4, xlarge 8, Nxlarge 8N).
pub fn size_factor(instance_type: &str) -> Option<f64> {
    let size = instance_type.split('.').nth(1)?;
    Some(match size {
        "nano" => 0.25,
        "micro" => 0.5,
        "small" => 1.0,
        "medium" => 2.0,
        "large" => 4.0,
        "xlarge" => 8.0,
        s => 8.0 * s.strip_suffix("xlarge")?.parse::<f64>().ok()?,
    })
}

/// On-demand instances of `desired` under a distribution (base, percent above base).
pub fn on_demand_count(desired: f64, base: i32, pct_above: i32) -> f64 {
    let base = f64::from(base.max(0));
    desired.min(base) + (desired - base).max(0.0) * f64::from(pct_above.clamp(0, 100)) / 100.0
}

/// What one purchase option would do at its optimal level.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OptionResult {
    /// "1-yr Standard RI, no upfront" ...
    pub name: String,
    pub term_years: u32,
    pub payment: String,
    /// The level: instances of the family's main type (RI), USD/h (Savings Plans), blocks of
    /// 100 units (DynamoDB).
    pub level: f64,
    pub level_text: String,
    pub utilization: f64,
    pub coverage: f64,
    pub monthly_savings: Money,
    pub upfront: Money,
    pub break_even_months: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Commitment {
    pub resource: ResourceId,
    /// "m5" or a table's "reads" / "writes".
    pub subject: String,
    pub hours: usize,
    pub lookback_days: i64,
    /// Mean, p10 and max hourly usage in the unit of `unit`.
    pub usage_mean: f64,
    pub usage_min: f64,
    pub usage_max: f64,
    pub unit: String,
    pub on_demand_monthly: Money,
    /// Each allowed option at its optimum, best first.
    pub options: Vec<OptionResult>,
    /// The best over every term and payment, allowed or not.
    pub best_any: Option<OptionResult>,
    pub notes: Vec<String>,
}

fn pay_name(p: &str) -> &str {
    match p {
        "partial-upfront" => "partial upfront",
        "all-upfront" => "all upfront",
        _ => "no upfront",
    }
}

/// A price per unit for a payment option, from the no-upfront hourly rate.
pub fn priced(no_upfront_hourly: f64, od: f64, term_hours: f64, payment: &str, po: &PaymentOptions) -> Price {
    let total = no_upfront_hourly * term_hours;
    let (recurring, upfront) = match payment {
        "partial-upfront" => {
            let t = total * po.partial_upfront_total;
            (t * (1.0 - po.partial_upfront_share) / term_hours, t * po.partial_upfront_share)
        }
        "all-upfront" => (0.0, total * po.all_upfront_total),
        _ => (no_upfront_hourly, 0.0),
    };
    Price {
        od,
        recurring,
        upfront,
        term_hours,
    }
}

/// Evaluates one option on a usage profile scaled by `scale`: the optimum on the grid and its
/// figures.
#[allow(clippy::too_many_arguments)]
fn evaluate(
    prof: &Profile,
    scale: f64,
    step: f64,
    p: &Price,
    name: String,
    term_years: u32,
    payment: &str,
    level_text: impl Fn(f64) -> String,
) -> OptionResult {
    let (level, total) = prof.optimize(scale, step, p);
    let h = prof.sorted.len() as f64;
    let sum = prof.suffix[0] * scale;
    let od_total = sum * p.od;
    // Σ min(u, level): below the level in full, above it the level.
    let i = prof.sorted.partition_point(|x| x * scale <= level);
    let used = (prof.suffix[0] - prof.suffix[i]) * scale + level * (prof.sorted.len() - i) as f64;
    let per_month = 730.0 / h.max(1.0);
    let savings = (od_total - total) * per_month;
    let upfront = level * p.upfront;
    // Cash saved per month once the upfront is paid: on-demand avoided minus recurring.
    let cash = (od_total - (h * level * p.recurring + p.od * (sum - used))) * per_month;
    OptionResult {
        name,
        term_years,
        payment: payment.to_string(),
        level,
        level_text: level_text(level),
        utilization: if level > 0.0 { used / (level * h) } else { 0.0 },
        coverage: if sum > 0.0 { used / sum } else { 0.0 },
        monthly_savings: Money::from_usd_f64(savings).unwrap_or_default(),
        upfront: Money::from_usd_f64(upfront).unwrap_or_default(),
        break_even_months: if upfront <= 0.0 {
            Some(0.0)
        } else if cash > 0.0 {
            Some(upfront / cash)
        } else {
            None
        },
    }
}

/// Hourly means of a 5-minute (or any) series over [from, now), oldest first; hours without
/// data are skipped.
fn hourly(points: &Points, from: Ts, now: Ts) -> BTreeMap<Ts, f64> {
    let first = from.div_euclid(3600) * 3600;
    let n = ((now - first) / 3600 + 1).max(0) as usize;
    let mut acc = vec![(0.0, 0u32); n];
    for (t, v) in points.range(from, now) {
        if v.is_finite() {
            let k = ((t - first) / 3600) as usize;
            if let Some(e) = acc.get_mut(k) {
                e.0 += v;
                e.1 += 1;
            }
        }
    }
    acc.into_iter()
        .enumerate()
        .filter(|(_, (_, c))| *c > 0)
        .map(|(k, (s, c))| (first + k as i64 * 3600, s / f64::from(c)))
        .collect()
}

/// The lookback the history covers: the longest of LOOKBACKS within `history_days`.
pub fn lookback_for(history_days: f64) -> Option<i64> {
    LOOKBACKS.iter().copied().find(|d| *d as f64 <= history_days + 1e-9)
}

/// Inputs beyond the snapshot: ASGs to leave out (with why) and a proposed on-demand split per
/// ASG (base, percent above base) from the spot-mix advice.
/// `growth`: the forecast growth of each ASG's desired capacity (outlooks): capacity whose
/// growth is negative even at its 80 % upper bound (beyond `SHRINKING`) gets no commitment;
/// where it is steadily positive (80 % lower bound above 0), the lookback's hours are lifted
/// to today's level by it, so the commitment fits the fleet as it is now, not its average.
#[derive(Default)]
pub struct Context {
    pub excluded: BTreeMap<String, String>,
    pub proposed_split: BTreeMap<String, (i32, i32)>,
    pub growth: BTreeMap<String, Growth>,
}

/// Forecast growth per 30 days below which (at its 80 % upper bound) capacity is "about to be left".
pub const SHRINKING: f64 = -0.05;

/// Commitments per instance family (RI, EC2 Instance SP, Compute SP) and per provisioned
/// DynamoDB table (reserved capacity).
pub fn analyze(snap: &Snapshot, cfg: &AdviceCfg, pricing: &Pricing, ctx: &Context, now: Ts) -> Vec<Commitment> {
    let mut out = families(snap, cfg, pricing, ctx, now);
    out.extend(tables(snap, pricing, now));
    out
}

fn families(snap: &Snapshot, cfg: &AdviceCfg, pricing: &Pricing, ctx: &Context, now: Ts) -> Vec<Commitment> {
    // family → (hour → normalized units), main type (by units), notes
    struct Fam {
        hours: BTreeMap<Ts, f64>,
        by_type: BTreeMap<String, f64>,
        notes: Vec<String>,
        span_days: f64,
    }
    let mut fams: BTreeMap<String, Fam> = BTreeMap::new();
    let from = now - LOOKBACKS[0] * DAY;
    for g in &snap.asgs {
        let Some(ty) = g.instance_types.iter().max_by_key(|(_, n)| *n).map(|(t, _)| t.clone()) else {
            continue;
        };
        let (Some(factor), Some(family)) = (size_factor(&ty), ty.split('.').next().map(str::to_string)) else {
            continue;
        };
        let r = ResourceId::asg(&g.name);
        let growth = ctx.growth.get(&g.name);
        let shrinking = growth.filter(|gr| gr.hi80 < SHRINKING).map(|gr| {
            format!(
                "the forecast shrinks its capacity {:+.1} % per 30 days (80 %: {:+.1} … {:+.1} %)",
                gr.per_30d * 100.0,
                gr.lo80 * 100.0,
                gr.hi80 * 100.0
            )
        });
        if let Some(why) = ctx.excluded.get(&g.name).or(shrinking.as_ref()) {
            let f = fams.entry(family).or_insert_with(|| Fam {
                hours: BTreeMap::new(),
                by_type: BTreeMap::new(),
                notes: vec![],
                span_days: 0.0,
            });
            f.notes.push(format!("{r} left out: {why}"));
            continue;
        }
        let Some(desired) = snap.nonempty_series_for(&r, Signal::DesiredCapacity) else {
            continue;
        };
        let (base, pct, proposed) = match ctx.proposed_split.get(&g.name) {
            Some((b, p)) => (*b, *p, true),
            None => {
                let (b, p) = split(g);
                (b, p, false)
            }
        };
        let hrs = hourly(&desired.points, from, now);
        let Some((first, last)) = hrs.keys().next().zip(hrs.keys().last()) else {
            continue;
        };
        let span_days = (last - first + 3600) as f64 / DAY as f64;
        let f = fams.entry(family).or_insert_with(|| Fam {
            hours: BTreeMap::new(),
            by_type: BTreeMap::new(),
            notes: vec![],
            span_days: 0.0,
        });
        f.span_days = f.span_days.max(span_days);
        if proposed {
            f.notes.push(format!(
                "{r}: on-demand part as the spot-mix advice proposes (base {base}, {pct} % above base)"
            ));
        }
        let lift = growth.filter(|gr| gr.lo80 > 0.0);
        if let Some(gr) = lift {
            f.notes.push(format!(
                "{r}: hours lifted to today's level by the forecast growth of its capacity, {:+.1} % per 30 days (80 %: {:+.1} … {:+.1} %)",
                gr.per_30d * 100.0,
                gr.lo80 * 100.0,
                gr.hi80 * 100.0
            ));
        }
        let last_hour = *last;
        for (h, d) in hrs {
            let d = match lift {
                Some(gr) => d * (1.0 + gr.per_30d).powf((last_hour - h) as f64 / (30.0 * DAY as f64)),
                None => d,
            };
            let units = on_demand_count(d, base, pct) * factor;
            *f.hours.entry(h).or_default() += units;
            *f.by_type.entry(ty.clone()).or_default() += units;
        }
    }
    let mut out = vec![];
    for (family, f) in fams {
        let resource = ResourceId(format!("family/{family}"));
        let Some(ty) = f.by_type.iter().max_by(|a, b| a.1.total_cmp(b.1)).map(|(t, _)| t.clone()) else {
            if !f.notes.is_empty() {
                out.push(Commitment {
                    resource,
                    subject: family,
                    hours: 0,
                    lookback_days: 0,
                    usage_mean: 0.0,
                    usage_min: 0.0,
                    usage_max: 0.0,
                    unit: "instances".into(),
                    on_demand_monthly: Money(0),
                    options: vec![],
                    best_any: None,
                    notes: f.notes,
                });
            }
            continue;
        };
        let (Some(p), Some(factor)) = (pricing.instances.get(&ty), size_factor(&ty)) else {
            continue;
        };
        let Some(lookback) = lookback_for(f.span_days) else {
            continue;
        };
        let start = now - lookback * DAY;
        // Instances of the main type per hour.
        let usage: Vec<f64> = f.hours.range(start..).map(|(_, u)| u / factor).collect();
        if usage.is_empty() {
            continue;
        }
        let od = p.on_demand_hourly.as_usd_f64();
        let n = usage.len() as f64;
        let mean = usage.iter().sum::<f64>() / n;
        let mut options = vec![];
        let mut all = vec![];
        let prof = Profile::new(&usage);
        for term in [1u32, 3] {
            let th = HOURS_1Y * f64::from(term);
            let (ri, sp) = if term == 1 {
                (p.ri_1yr_hourly.as_usd_f64(), p.sp_1yr_hourly.as_usd_f64())
            } else {
                (p.ri_3yr_hourly.as_usd_f64(), p.sp_3yr_hourly.as_usd_f64())
            };
            for pay in crate::config::PAYMENTS {
                let allowed = cfg.commitment_terms.contains(&term) && cfg.commitment_payments.iter().any(|x| x == pay);
                let ty2 = ty.clone();
                let ri_opt = evaluate(
                    &prof,
                    1.0,
                    1.0,
                    &priced(ri, od, th, pay, &pricing.payment),
                    format!("{term}-yr Standard RI, {}", pay_name(pay)),
                    term,
                    pay,
                    move |l| format!("{l:.0} × {ty2}"),
                );
                // Savings Plans commit USD/h at the plan's rate: usage in plan dollars.
                let plan = |rate: f64, name: String| {
                    let price = priced(1.0, od / rate, th, pay, &pricing.payment);
                    evaluate(&prof, rate, 0.001, &price, name, term, pay, |l| format!("${l:.3}/h"))
                };
                let ec2sp = plan(ri, format!("{term}-yr EC2 Instance Savings Plan ({family}), {}", pay_name(pay)));
                let csp = plan(sp, format!("{term}-yr Compute Savings Plan, {}", pay_name(pay)));
                for o in [ri_opt, ec2sp, csp] {
                    if allowed {
                        options.push(o.clone());
                    }
                    all.push(o);
                }
            }
        }
        options.sort_by_key(|o| std::cmp::Reverse(o.monthly_savings));
        all.sort_by_key(|o| std::cmp::Reverse(o.monthly_savings));
        let mut notes = f.notes;
        if ctx.growth.is_empty() {
            notes.push("sized on the lookback's usage: no growth forecast yet".into());
        }
        out.push(Commitment {
            resource,
            subject: family,
            hours: usage.len(),
            lookback_days: lookback,
            usage_mean: mean,
            usage_min: usage.iter().copied().fold(f64::INFINITY, f64::min),
            usage_max: usage.iter().copied().fold(0.0, f64::max),
            unit: format!("{ty} instances"),
            on_demand_monthly: Money::from_usd_f64(mean * od * 730.0).unwrap_or_default(),
            options,
            best_any: all.into_iter().next(),
            notes,
        });
    }
    out
}

/// The (base, percent above base) on-demand split of an ASG today (all on demand without a
/// mixed instances policy).
pub fn split(g: &AsgState) -> (i32, i32) {
    match &g.distribution {
        Some(d) => (
            d.on_demand_base_capacity.unwrap_or(0),
            d.on_demand_percentage_above_base.unwrap_or(100),
        ),
        None => (i32::MAX, 100),
    }
}

/// DynamoDB reserved capacity (1 year, blocks of 100 units) on each provisioned table's
/// provisioned capacity.
fn tables(snap: &Snapshot, pricing: &Pricing, now: Ts) -> Vec<Commitment> {
    let mut out = vec![];
    for t in snap.tables.iter().filter(|t| t.billing_mode == "PROVISIONED") {
        let r = ResourceId::table(&t.name);
        for (sig, what, unit_hour, (upfront, hourly_rate)) in [
            (
                Signal::ProvisionedRcu,
                "reads",
                pricing.dynamodb_rcu_hour,
                pricing.dynamodb_reserved_rcu100,
            ),
            (
                Signal::ProvisionedWcu,
                "writes",
                pricing.dynamodb_wcu_hour,
                pricing.dynamodb_reserved_wcu100,
            ),
        ] {
            let Some(s) = snap.nonempty_series_for(&r, sig) else {
                continue;
            };
            let hrs = hourly(&s.points, now - LOOKBACKS[0] * DAY, now);
            let Some((first, last)) = hrs.keys().next().zip(hrs.keys().last()) else {
                continue;
            };
            let Some(lookback) = lookback_for((last - first + 3600) as f64 / DAY as f64) else {
                continue;
            };
            // Blocks of 100 units per hour.
            let usage: Vec<f64> = hrs.range(now - lookback * DAY..).map(|(_, u)| u / 100.0).collect();
            let price = Price {
                od: unit_hour.as_usd_f64() * 100.0,
                recurring: hourly_rate.as_usd_f64(),
                upfront: upfront.as_usd_f64(),
                term_hours: HOURS_1Y,
            };
            let unit = if what == "reads" { "RCU" } else { "WCU" };
            let o = evaluate(
                &Profile::new(&usage),
                1.0,
                1.0,
                &price,
                format!("1-yr DynamoDB reserved capacity ({unit})"),
                1,
                "partial-upfront",
                move |l| format!("{:.0} {unit}", l * 100.0),
            );
            let n = usage.len() as f64;
            let mean = usage.iter().sum::<f64>() / n;
            out.push(Commitment {
                resource: r.clone(),
                subject: what.into(),
                hours: usage.len(),
                lookback_days: lookback,
                usage_mean: mean * 100.0,
                usage_min: usage.iter().copied().fold(f64::INFINITY, f64::min) * 100.0,
                usage_max: usage.iter().copied().fold(0.0, f64::max) * 100.0,
                unit: format!("provisioned {unit}"),
                on_demand_monthly: Money::from_usd_f64(mean * price.od * 730.0).unwrap_or_default(),
                best_any: Some(o.clone()),
                options: vec![o],
                notes: vec!["reserved capacity is bought in blocks of 100 units for 1 year".into()],
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::SmallRng};

    /// Every level on the grid from 0 to one step past the peak.
    fn exhaustive(usage: &[f64], step: f64, p: &Price) -> (f64, f64) {
        let max = usage.iter().copied().fold(0.0, f64::max);
        let mut best = (0.0, cost(usage, 0.0, p));
        let mut k = 0.0;
        while k * step <= max + step {
            let c = cost(usage, k * step, p);
            if c < best.1 - 1e-9 {
                best = (k * step, c);
            }
            k += 1.0;
        }
        best
    }

    fn cents(x: f64) -> i64 {
        (x * 100.0).round() as i64
    }

    fn random_price(rng: &mut SmallRng) -> Price {
        let od = rng.random_range(0.01..2.0);
        Price {
            od,
            recurring: od * rng.random_range(0.0..0.9),
            upfront: od * rng.random_range(0.0..4000.0),
            term_hours: if rng.random_bool(0.5) { 8760.0 } else { 26280.0 },
        }
    }

    #[test]
    fn optimizer_equals_exhaustive_search_to_the_cent_on_random_profiles() {
        let mut rng = SmallRng::seed_from_u64(7);
        for case in 0..100 {
            let hours = rng.random_range(24..24 * 14);
            let base = rng.random_range(0.0..20.0);
            let amp = rng.random_range(0.0..15.0);
            let noise = rng.random_range(0.0..5.0);
            let usage: Vec<f64> = (0..hours)
                .map(|h| {
                    let daily = (2.0 * std::f64::consts::PI * f64::from(h) / 24.0).sin();
                    (base + amp * daily + noise * rng.random_range(-1.0..1.0)).max(0.0)
                })
                .collect();
            let p = random_price(&mut rng);
            let step = if case % 2 == 0 { 1.0 } else { 0.25 };
            let (level, c) = optimize(&usage, step, &p);
            let (_, want) = exhaustive(&usage, step, &p);
            assert_eq!(cents(c), cents(want), "case {case}: level {level}");
            assert!(
                (cost(&usage, level, &p) - c).abs() < 1e-6,
                "case {case}: reported cost is the level's"
            );
            assert!((level / step - (level / step).round()).abs() < 1e-9, "on the grid");
            // A Savings Plan's view: the same profile scaled by its rate, on a $0.001 grid.
            let scale = rng.random_range(0.01..0.5);
            let scaled: Vec<f64> = usage.iter().map(|u| u * scale).collect();
            let (_, c) = Profile::new(&usage).optimize(scale, 0.001, &p);
            let (_, want) = exhaustive(&scaled, 0.001, &p);
            assert_eq!(cents(c), cents(want), "case {case}, scaled by {scale}");
        }
    }

    #[test]
    fn optimizer_on_adversarial_profiles() {
        let p = Price {
            od: 0.096,
            recurring: 0.06,
            upfront: 0.0,
            term_hours: 8760.0,
        };
        let h = 24 * 30;
        let profiles: Vec<(&str, Vec<f64>)> = vec![
            ("flat", vec![6.0; h]),
            ("spiky", (0..h).map(|i| if i % 50 == 0 { 40.0 } else { 2.0 }).collect()),
            ("step up", (0..h).map(|i| if i < h / 2 { 2.0 } else { 10.0 }).collect()),
            ("step down", (0..h).map(|i| if i < h / 2 { 10.0 } else { 2.0 }).collect()),
            ("all zeros", vec![0.0; h]),
        ];
        for (name, usage) in &profiles {
            for step in [1.0, 0.001 * 50.0] {
                let (level, c) = optimize(usage, step, &p);
                let (_, want) = exhaustive(usage, step, &p);
                assert_eq!(cents(c), cents(want), "{name}, step {step}: level {level}");
            }
        }
        // Closed forms: flat usage commits all of it; all zeros commits nothing; a spike in one
        // hour of fifty is not worth committing to (1/50 < 0.06 / 0.096).
        assert_eq!(optimize(&profiles[0].1, 1.0, &p).0, 6.0);
        assert_eq!(optimize(&profiles[4].1, 1.0, &p).0, 0.0);
        assert_eq!(optimize(&profiles[1].1, 1.0, &p).0, 2.0);
        // Step up at half the hours: commit the upper level only when half ≥ c/od (0.625): no.
        assert_eq!(optimize(&profiles[2].1, 1.0, &p).0, 2.0);
        let cheap = Price { recurring: 0.04, ..p };
        assert_eq!(optimize(&profiles[2].1, 1.0, &cheap).0, 10.0);
    }

    #[test]
    fn payment_options_follow_the_table() {
        let po = PaymentOptions::default();
        let p = priced(0.06, 0.096, 8760.0, "all-upfront", &po);
        assert_eq!(p.recurring, 0.0);
        assert!((p.upfront - 0.06 * 8760.0 * po.all_upfront_total).abs() < 1e-9);
        assert!((p.hourly() - 0.06 * po.all_upfront_total).abs() < 1e-12);
        let p = priced(0.06, 0.096, 8760.0, "partial-upfront", &po);
        let total = 0.06 * 8760.0 * po.partial_upfront_total;
        assert!((p.upfront - total * po.partial_upfront_share).abs() < 1e-9);
        assert!((p.recurring * 8760.0 + p.upfront - total).abs() < 1e-9);
        assert_eq!(priced(0.06, 0.096, 8760.0, "no-upfront", &po).upfront, 0.0);
    }

    #[test]
    fn size_factors_and_splits() {
        assert_eq!(size_factor("m5.large"), Some(4.0));
        assert_eq!(size_factor("c5.2xlarge"), Some(16.0));
        assert_eq!(size_factor("t3.medium"), Some(2.0));
        assert_eq!(size_factor("weird"), None);
        assert_eq!(on_demand_count(10.0, 2, 30), 2.0 + 8.0 * 0.3);
        assert_eq!(on_demand_count(1.0, 2, 30), 1.0);
        assert_eq!(lookback_for(21.0), Some(7));
        assert_eq!(lookback_for(45.0), Some(30));
        assert_eq!(lookback_for(6.0), None);
    }

    #[test]
    fn a_family_commitment_from_asg_capacity_history() {
        use crate::analyze::fixtures::*;
        use crate::config::Config;
        let cfg = Config::embedded().unwrap();
        let now: Ts = 1_800_000_000;
        let r = ResourceId::asg("web");
        // 8 instances by day (08–20 h), 4 by night, for 10 days: lookback 7 days.
        let d = grid(now - 10 * DAY, now, |t| {
            if (t.rem_euclid(DAY) / 3600) >= 8 && (t.rem_euclid(DAY) / 3600) < 20 {
                8.0
            } else {
                4.0
            }
        });
        let snap = snapshot(
            now,
            vec![asg("web", 2, 8, 10, "m5.large")],
            vec![series(&r, Signal::DesiredCapacity, d)],
        );
        let out = analyze(&snap, &cfg.headroom.advice, &cfg.pricing, &Context::default(), now);
        let c = out.iter().find(|c| c.subject == "m5").unwrap();
        assert_eq!(c.lookback_days, 7);
        assert_eq!(c.hours, 7 * 24);
        let p = &cfg.pricing.instances["m5.large"];
        // 1-yr RI, no upfront: half the hours at 8 → commit 8 only if ½ ≥ ri/od; else 4.
        let ri = c.options.iter().find(|o| o.name.contains("Standard RI")).unwrap();
        let ratio = p.ri_1yr_hourly.as_usd_f64() / p.on_demand_hourly.as_usd_f64();
        assert_eq!(ri.level, if 0.5 >= ratio { 8.0 } else { 4.0 });
        // Savings per month at that level, from the formula.
        let usage: Vec<f64> = (0..7 * 24)
            .map(|h| if (h % 24) >= 8 && (h % 24) < 20 { 8.0 } else { 4.0 })
            .collect();
        let price = priced(
            p.ri_1yr_hourly.as_usd_f64(),
            p.on_demand_hourly.as_usd_f64(),
            HOURS_1Y,
            "no-upfront",
            &cfg.pricing.payment,
        );
        let od_total: f64 = usage.iter().sum::<f64>() * price.od;
        let want = (od_total - cost(&usage, ri.level, &price)) * 730.0 / usage.len() as f64;
        assert!(
            (ri.monthly_savings.as_usd_f64() - want).abs() < 0.01,
            "{} vs {want}",
            ri.monthly_savings
        );
        assert_eq!(ri.break_even_months, Some(0.0));
        // Excluded (a tier migration is advised): no usage, a note.
        let ctx = Context {
            excluded: [("web".to_string(), "a migration to large is advised".to_string())].into(),
            ..Default::default()
        };
        let out = analyze(&snap, &cfg.headroom.advice, &cfg.pricing, &ctx, now);
        let c = out.iter().find(|c| c.subject == "m5").unwrap();
        assert!(c.options.is_empty() && c.notes[0].contains("migration"), "{c:?}");
    }

    #[test]
    fn the_forecast_leaves_out_shrinking_capacity_and_lifts_growing_capacity() {
        use crate::analyze::fixtures::*;
        use crate::config::Config;
        let cfg = Config::embedded().unwrap();
        let now: Ts = 1_800_000_000;
        let r = ResourceId::asg("web");
        let snap = snapshot(
            now,
            vec![asg("web", 2, 6, 10, "m5.large")],
            vec![series(&r, Signal::DesiredCapacity, grid(now - 10 * DAY, now, |_| 6.0))],
        );
        let growth = |per_30d: f64, lo80: f64, hi80: f64| Growth {
            per_30d,
            lo80,
            hi80,
            days: 10,
            changepoint_days_ago: None,
            fit: "log-linear".into(),
        };
        let ctx = |g: Growth| Context {
            growth: [("web".to_string(), g)].into(),
            ..Default::default()
        };
        // Shrinking even at the upper bound: left out, and said.
        let out = analyze(&snap, &cfg.headroom.advice, &cfg.pricing, &ctx(growth(-0.2, -0.3, -0.1)), now);
        let c = out.iter().find(|c| c.subject == "m5").unwrap();
        assert!(c.options.is_empty() && c.notes[0].contains("shrinks"), "{c:?}");
        // Uncertain (the interval spans 0): the lookback as it is.
        let flat = analyze(&snap, &cfg.headroom.advice, &cfg.pricing, &ctx(growth(0.02, -0.05, 0.09)), now);
        let c = flat.iter().find(|c| c.subject == "m5").unwrap();
        assert!((c.usage_min - 6.0).abs() < 1e-9 && (c.usage_max - 6.0).abs() < 1e-9, "{c:?}");
        // Steady growth of 30 % per 30 days: an hour k hours before the last is lifted by
        // 1.3^(k / 720); the oldest of the 7-day lookback (167 hours back) the most.
        let grown = analyze(&snap, &cfg.headroom.advice, &cfg.pricing, &ctx(growth(0.3, 0.2, 0.4)), now);
        let c = grown.iter().find(|c| c.subject == "m5").unwrap();
        let lifted: Vec<f64> = (0..7 * 24).map(|k| 6.0 * 1.3f64.powf(k as f64 / 720.0)).collect();
        let want_mean = lifted.iter().sum::<f64>() / lifted.len() as f64;
        assert!((c.usage_mean - want_mean).abs() < 1e-6, "{} vs {want_mean}", c.usage_mean);
        assert!((c.usage_max - lifted[lifted.len() - 1]).abs() < 1e-6);
        assert!((c.usage_min - 6.0).abs() < 1e-9, "the last hour is today's level");
        assert!(c.notes.iter().any(|n| n.contains("lifted")), "{c:?}");
    }
}
