//! Tier fit: which sizing tier (sizing.toml) each service's concurrency belongs in, and when to
//! move. A service is an ASG with a concurrency signal: a configured users metric, else
//! RequestCount (users = requests per second × 60 ÷ requests_per_user_per_minute).
//!
//! - The **current** tier is the target's configured `tier`, else the tier the 7-day peak
//!   falls in (then only moving up can be advised: there is no deployed tier to step down from).
//! - **Up**, most urgent first: the 7-day peak is past the current tier's upper bound
//!   (outgrown); or past `tier_up_at` × the upper bound; or the trend crosses that line within
//!   `tier_lead_days`. The trend is, where an outlook of the users exists (`outlook`), its
//!   forecast's crossing of the line (within the 14-day horizon), else the growth of its daily
//!   means since the last changepoint extrapolated from the 7-day peak; without an outlook,
//!   the compound growth between the oldest and the newest full week's peak.
//! - **Down**, with hysteresis: only with `tier_down_after_days` of history all below
//!   `tier_down_below` × the current tier's lower bound.
//!
//! Each move carries the monthly cost of both tiers' bundles (node groups at desired, as the
//! tier designs them) and the seed's migration steps.
//!
//! Pure and synchronous. May use: domain, config, model, analyze (outlooks).

use super::forecast::Crossing;
use super::outlook::Outlook;
use crate::config::{AsgTarget, Pricing, Sizing, Tier};
use crate::domain::{Money, ResourceId, Signal, Snapshot, Ts};
use crate::model::tiers::{At, Option_, bundle_hourly_usd, monthly, next_tier, tier_for};
use serde::Serialize;

const DAY: i64 = 86_400;
/// Below this much history there is no tier advice (as right-sizing: 30 hours).
pub const MIN_HISTORY_HOURS: f64 = 30.0;
/// A week counts for the trend when at least this share of its periods has data.
const WEEK_COVERAGE: f64 = 0.8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Why {
    /// The 7-day peak is beyond the current tier's upper bound.
    Outgrown,
    /// The 7-day peak is past `tier_up_at` × the upper bound.
    NearUpper,
    /// The weekly-peak trend crosses that line within the lead time.
    Trend,
    /// Below `tier_down_below` × the lower bound for the whole down window.
    Below,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TierFit {
    pub resource: ResourceId,
    /// Where the concurrency comes from, as a formula.
    pub users_from: String,
    pub history_days: f64,
    pub peak_7d: f64,
    /// The tier the 7-day peak falls in.
    pub placed: Option<String>,
    pub current: String,
    /// Whether `current` is the configured deployed tier (else it is `placed`).
    pub configured: bool,
    pub bounds: (f64, f64),
    /// Peaks of full weeks, newest first.
    pub weekly_peaks: Vec<f64>,
    /// Compound growth of the weekly peaks, per 30 days, when there are two full weeks.
    pub growth_30d: Option<f64>,
    /// The line that calls for moving up: `tier_up_at` × upper bound.
    pub up_line: f64,
    /// Days until the trend reaches `up_line` (0 when already past it).
    pub days_to_up_line: Option<f64>,
    /// Where `days_to_up_line` comes from.
    pub trend_from: Option<String>,
    /// The users forecast's crossing of `up_line`, when there is a forecast.
    pub up_crossing: Option<Crossing>,
    /// Peak over the down window, when the history covers it.
    pub down_window_peak: Option<f64>,
    pub move_to: Option<String>,
    pub why: Option<Why>,
    pub from_monthly: Option<Money>,
    pub to_monthly: Option<Money>,
    pub steps: Vec<String>,
}

/// Tier fit of every ASG a target maps and that has a concurrency signal.
pub fn analyze(snap: &Snapshot, targets: &[AsgTarget], sizing: &Sizing, pricing: &Pricing, outlooks: &[Outlook], now: Ts) -> Vec<TierFit> {
    let users_outlooks: std::collections::HashMap<&ResourceId, &Outlook> = outlooks
        .iter()
        .rev()
        .filter(|o| o.signal == Signal::ConcurrentUsers)
        .map(|o| (&o.resource, o))
        .collect();
    snap.asgs
        .iter()
        .filter_map(|g| {
            let target = targets.iter().find(|t| t.matches(g));
            let r = ResourceId::asg(&g.name);
            let users = users_outlooks.get(&r).copied();
            one(snap, &g.name, target.and_then(|t| t.tier.as_deref()), sizing, pricing, users, now)
        })
        .collect()
}

/// Concurrent users per period of an ASG, the formula they come from, and the period.
pub struct Users {
    pub points: Vec<(Ts, f64)>,
    pub from: String,
    pub period_s: i64,
}

/// Concurrent users of an ASG: the users metric if collected, else from RequestCount.
pub fn users(snap: &Snapshot, asg: &str, requests_per_user_per_minute: f64) -> Option<Users> {
    let r = ResourceId::asg(asg);
    let find = |sig| snap.nonempty_series_for(&r, sig);
    if let Some(s) = find(Signal::ConcurrentUsers) {
        let pts = s.points.iter().filter(|p| p.1.is_finite()).collect();
        let from = format!("{}/{} ({})", s.query.namespace, s.query.metric, s.query.stat.as_cloudwatch());
        return Some(Users {
            points: pts,
            from,
            period_s: i64::from(s.query.period_s.max(1)),
        });
    }
    let s = find(Signal::Requests)?;
    let period = f64::from(s.query.period_s.max(1));
    let k = 60.0 / period / requests_per_user_per_minute;
    let pts = s.points.iter().filter(|p| p.1.is_finite()).map(|(t, v)| (t, v * k)).collect();
    let from = format!("RequestCount ÷ {period:.0} s × 60 ÷ {requests_per_user_per_minute} requests per user per minute");
    Some(Users {
        points: pts,
        from,
        period_s: i64::from(s.query.period_s.max(1)),
    })
}

fn peak(pts: &[(Ts, f64)], from: Ts, to: Ts) -> (Option<f64>, usize) {
    let v: Vec<f64> = pts.iter().filter(|(t, _)| *t > from && *t <= to).map(|p| p.1).collect();
    (v.iter().copied().reduce(f64::max), v.len())
}

fn bundle_monthly(t: &Tier, pricing: &Pricing) -> Option<Money> {
    bundle_hourly_usd(t, pricing, Option_::AsDesigned, At::Desired).ok().map(monthly)
}

fn previous_tier<'a>(tiers: &'a [Tier], t: &Tier) -> Option<&'a Tier> {
    tiers
        .iter()
        .filter(|x| x.concurrent_users.1 <= t.concurrent_users.0)
        .max_by(|a, b| a.concurrent_users.1.total_cmp(&b.concurrent_users.1))
}

fn one(
    snap: &Snapshot,
    asg: &str,
    configured: Option<&str>,
    sizing: &Sizing,
    pricing: &Pricing,
    outlook: Option<&Outlook>,
    now: Ts,
) -> Option<TierFit> {
    let w = &sizing.workload;
    let Users {
        points: pts,
        from: users_from,
        period_s: period,
    } = users(snap, asg, w.requests_per_user_per_minute)?;
    let first = pts.iter().map(|p| p.0).min()?;
    let last = pts.iter().map(|p| p.0).max()?;
    let history_days = (pts.len() as i64 * period) as f64 / DAY as f64;
    if history_days * 24.0 < MIN_HISTORY_HOURS {
        return None;
    }
    let (peak_7d, _) = peak(&pts, now - 7 * DAY, now);
    let peak_7d = peak_7d?;
    let placed = tier_for(&sizing.tiers, peak_7d);
    let current = match configured {
        Some(name) => sizing.tiers.iter().find(|t| t.name == name)?,
        None => placed?,
    };
    let (lo, hi) = current.concurrent_users;
    let up_line = w.tier_up_at * hi;

    // Weekly peaks, newest first, in weeks ending at the newest point, while weeks are covered.
    let per_week = (7 * DAY / period) as f64;
    let mut weekly_peaks = vec![];
    for k in 0.. {
        let to = last - k * 7 * DAY;
        if to - 7 * DAY < first - period {
            break;
        }
        match peak(&pts, to - 7 * DAY, to) {
            (Some(p), n) if n as f64 >= WEEK_COVERAGE * per_week => weekly_peaks.push(p),
            _ => break,
        }
    }
    let daily_growth = (weekly_peaks.len() >= 2 && weekly_peaks[weekly_peaks.len() - 1] > 0.0).then(|| {
        let span_days = 7.0 * (weekly_peaks.len() - 1) as f64;
        (weekly_peaks[0] / weekly_peaks[weekly_peaks.len() - 1]).powf(1.0 / span_days) - 1.0
    });
    let growth_30d = daily_growth.map(|g| (1.0 + g).powi(30) - 1.0);
    let up_crossing = outlook.map(|o| o.crossing(up_line));
    let from_growth = outlook
        .and_then(|o| o.growth.as_ref())
        .filter(|g| g.per_30d > 0.0)
        .map(|g| (30.0 * (up_line / peak_7d).ln() / (1.0 + g.per_30d).ln(), g));
    let (days_to_up_line, trend_from) = if peak_7d >= up_line {
        (Some(0.0), None)
    } else if let Some(Crossing::At { at, .. }) = up_crossing {
        (
            Some(((at - now) as f64 / DAY as f64).max(0.0)),
            Some("the users forecast crosses it".to_string()),
        )
    } else if let Some((d, g)) = from_growth {
        let why = format!(
            "the 7-day peak grown at the forecast's {:+.1} % per 30 days (daily means since the last changepoint)",
            g.per_30d * 100.0
        );
        (Some(d), Some(why))
    } else if outlook.is_some() {
        (None, None)
    } else {
        let d = daily_growth.filter(|g| *g > 0.0).map(|g| (up_line / peak_7d).ln() / (1.0 + g).ln());
        (d, d.map(|_| "compound growth of the weekly peaks (no forecast yet)".to_string()))
    };

    let down_days = i64::from(w.tier_down_after_days);
    let down_window_peak = (first <= now - down_days * DAY + period)
        .then(|| peak(&pts, now - down_days * DAY, now).0)
        .flatten();

    let next = next_tier(&sizing.tiers, current);
    let (move_to, why) = if hi.is_finite() && peak_7d >= hi && next.is_some() {
        (next, Some(Why::Outgrown))
    } else if hi.is_finite() && peak_7d >= up_line && next.is_some() {
        (next, Some(Why::NearUpper))
    } else if hi.is_finite() && next.is_some() && days_to_up_line.is_some_and(|d| d <= f64::from(w.tier_lead_days)) {
        (next, Some(Why::Trend))
    } else if configured.is_some() && down_window_peak.is_some_and(|p| p < w.tier_down_below * lo) {
        match previous_tier(&sizing.tiers, current) {
            Some(p) => (Some(p), Some(Why::Below)),
            None => (None, None),
        }
    } else {
        (None, None)
    };
    // Beyond the next tier's range too: go straight to where the peak is.
    let move_to = match (why, placed) {
        (Some(Why::Outgrown), Some(p)) => Some(p),
        _ => move_to,
    };
    let steps = match why {
        Some(Why::Below) | None => vec![],
        Some(_) => current.migration_steps.clone(),
    };
    Some(TierFit {
        resource: ResourceId::asg(asg),
        users_from,
        history_days,
        peak_7d,
        placed: placed.map(|t| t.name.clone()),
        current: current.name.clone(),
        configured: configured.is_some(),
        bounds: (lo, hi),
        weekly_peaks,
        growth_30d,
        up_line,
        days_to_up_line,
        trend_from,
        up_crossing,
        down_window_peak,
        from_monthly: bundle_monthly(current, pricing),
        to_monthly: move_to.and_then(|t| bundle_monthly(t, pricing)),
        move_to: move_to.map(|t| t.name.clone()),
        why,
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::fixtures::*;
    use crate::config::Config;
    use crate::domain::Stat;

    const NOW: Ts = 1_800_000_000; // a multiple of the 300 s period

    fn cfg() -> Config {
        Config::embedded().unwrap()
    }

    fn target(tier: Option<&str>) -> Vec<AsgTarget> {
        vec![AsgTarget {
            name: Some("web".into()),
            tags: vec![],
            load_balancer: None,
            target_group: None,
            tier: tier.map(str::to_string),
            users_metric: None,
            db_pool_metric: None,
        }]
    }

    /// RequestCount per 5-minute period for `users(t)` concurrent users at 3 requests per user
    /// per minute, over `days` of history.
    fn snap(days: i64, users: impl Fn(Ts) -> f64) -> Snapshot {
        let r = ResourceId::asg("web");
        let mut s = series(
            &r,
            Signal::Requests,
            grid(NOW - days * DAY + P, NOW + 1, |t| users(t) * 3.0 / 60.0 * P as f64),
        );
        s.query.stat = Stat::Sum;
        snapshot(NOW, vec![asg("web", 2, 2, 4, "t3.medium")], vec![s])
    }

    fn fit(days: i64, tier: Option<&str>, users: impl Fn(Ts) -> f64) -> Option<TierFit> {
        let c = cfg();
        analyze(&snap(days, users), &target(tier), &c.sizing, &c.pricing, &[], NOW).pop()
    }

    #[test]
    fn users_come_from_requests_per_user_per_minute() {
        let f = fit(3, Some("small"), |_| 120.0).unwrap();
        assert!((f.peak_7d - 120.0).abs() < 1e-9, "{}", f.peak_7d);
        assert_eq!(f.placed.as_deref(), Some("small"));
        assert_eq!(f.move_to, None);
        assert!(f.users_from.contains("RequestCount"));
    }

    #[test]
    fn a_configured_users_metric_wins_over_requests() {
        let c = cfg();
        let mut s = snap(3, |_| 120.0);
        let r = ResourceId::asg("web");
        std::sync::Arc::make_mut(&mut s.series).push(series(&r, Signal::ConcurrentUsers, grid(NOW - 3 * DAY + P, NOW, |_| 1500.0)));
        let f = analyze(&s, &target(None), &c.sizing, &c.pricing, &[], NOW).pop().unwrap();
        assert_eq!(f.peak_7d, 1500.0);
        assert_eq!(f.current, "medium");
    }

    #[test]
    fn table_of_moves() {
        let c = cfg();
        let w = &c.sizing.workload;
        let small_hi = c.sizing.tiers[0].concurrent_users.1;
        let medium_lo = c.sizing.tiers[1].concurrent_users.0;
        // (history days, configured tier, flat users, expected move, why)
        type Case<'a> = (i64, Option<&'a str>, f64, Option<&'a str>, Option<Why>);
        let cases: Vec<Case> = vec![
            (3, Some("small"), w.tier_up_at * small_hi - 1.0, None, None),
            (
                3,
                Some("small"),
                w.tier_up_at * small_hi + 1.0,
                Some("medium"),
                Some(Why::NearUpper),
            ),
            (3, Some("small"), small_hi + 1.0, Some("medium"), Some(Why::Outgrown)),
            // Outgrown by two tiers: straight to where the peak is.
            (
                3,
                Some("small"),
                c.sizing.tiers[2].concurrent_users.0 + 1.0,
                Some("large"),
                Some(Why::Outgrown),
            ),
            // Below half of medium's lower bound, but only 27 days of it: hold.
            (
                i64::from(w.tier_down_after_days) - 1,
                Some("medium"),
                w.tier_down_below * medium_lo - 1.0,
                None,
                None,
            ),
            // The full down window below it: step down.
            (
                i64::from(w.tier_down_after_days) + 1,
                Some("medium"),
                w.tier_down_below * medium_lo - 1.0,
                Some("small"),
                Some(Why::Below),
            ),
            // Between half the lower bound and the lower bound: hysteresis keeps medium.
            (
                i64::from(w.tier_down_after_days) + 1,
                Some("medium"),
                w.tier_down_below * medium_lo + 1.0,
                None,
                None,
            ),
            // Without a configured tier there is nothing to step down from.
            (
                i64::from(w.tier_down_after_days) + 1,
                None,
                w.tier_down_below * medium_lo - 1.0,
                None,
                None,
            ),
        ];
        for (days, tier, u, want, why) in cases {
            let f = fit(days, tier, |_| u).unwrap();
            assert_eq!(f.move_to.as_deref(), want, "{days} d, {tier:?}, {u} users");
            assert_eq!(f.why, why, "{days} d, {tier:?}, {u} users");
        }
    }

    #[test]
    fn the_users_forecast_sets_the_trend_where_there_is_one() {
        let c = cfg();
        let w = &c.sizing.workload;
        let line = w.tier_up_at * c.sizing.tiers[0].concurrent_users.1;
        // Compound growth of 1 % a day, reaching the line 6 days after now: closed form.
        let g: f64 = 0.01;
        let u0 = line / (1.0 + g).powi(6);
        let users = move |t: Ts| u0 * (1.0 + g).powf((t - NOW) as f64 / DAY as f64);
        let s = snap(21, users);
        let outlooks = crate::analyze::outlook::compute(&s, &c.rules, &c.sizing, NOW);
        let o = outlooks
            .iter()
            .find(|o| o.signal == Signal::ConcurrentUsers)
            .expect("a users outlook");
        let f = analyze(&s, &target(Some("small")), &c.sizing, &c.pricing, &outlooks, NOW)
            .pop()
            .unwrap();
        assert_eq!(f.trend_from.as_deref(), Some("the users forecast crosses it"), "{f:?}");
        // The 7-day peak is the newest point (u0); the line is 6 days out.
        let got = f.days_to_up_line.unwrap();
        assert!((got - 6.0).abs() <= 0.5, "{got} days vs 6");
        assert!(matches!(f.up_crossing, Some(Crossing::At { .. })));
        assert_eq!(f.why, Some(Why::Trend));
        // Its growth is the compound rate, from the daily means.
        let gr = o.growth.as_ref().unwrap();
        assert!((gr.per_30d - ((1.0 + g).powi(30) - 1.0)).abs() < 0.005, "{gr:?}");
        // Past the horizon, the forecast's growth extrapolates from the 7-day peak.
        let far = move |t: Ts| users(t) / (1.0 + g).powi(30);
        let s = snap(21, far);
        let outlooks = crate::analyze::outlook::compute(&s, &c.rules, &c.sizing, NOW);
        let f = analyze(&s, &target(Some("small")), &c.sizing, &c.pricing, &outlooks, NOW)
            .pop()
            .unwrap();
        let want = 30.0 * (line / f.peak_7d).ln() / (1.0 + gr.per_30d).ln();
        assert!(f.trend_from.as_deref().unwrap().contains("per 30 days"), "{f:?}");
        assert!((f.days_to_up_line.unwrap() - want).abs() < 0.5, "{:?} vs {want}", f.days_to_up_line);
    }

    #[test]
    fn the_trend_calls_for_moving_up_within_the_lead_time() {
        let c = cfg();
        let w = &c.sizing.workload;
        let line = w.tier_up_at * c.sizing.tiers[0].concurrent_users.1;
        // Compound growth of 1 % a day from 300 users now; 3 full weeks of history.
        let g: f64 = 0.01;
        let f = fit(21, Some("small"), |t| 300.0 * (1.0 + g).powf((t - NOW) as f64 / DAY as f64)).unwrap();
        assert_eq!(f.weekly_peaks.len(), 3);
        let want_days = (line / 300.0).ln() / (1.0 + g).ln();
        let got = f.days_to_up_line.unwrap();
        assert!((got - want_days).abs() < 0.01, "{got} vs {want_days}");
        assert!(want_days <= f64::from(w.tier_lead_days));
        assert_eq!(f.why, Some(Why::Trend));
        assert_eq!(f.move_to.as_deref(), Some("medium"));
        assert!((f.growth_30d.unwrap() - ((1.0 + g).powi(30) - 1.0)).abs() < 1e-6);
        // Moving up carries the seed's steps and both bundles' monthly cost.
        assert_eq!(f.steps, c.sizing.tiers[0].migration_steps);
        let m = |t: &Tier| monthly(bundle_hourly_usd(t, &c.pricing, Option_::AsDesigned, At::Desired).unwrap());
        assert_eq!(f.from_monthly, Some(m(&c.sizing.tiers[0])));
        assert_eq!(f.to_monthly, Some(m(&c.sizing.tiers[1])));
        // The same growth from 100 users is too far out.
        let f = fit(21, Some("small"), |t| 100.0 * (1.0 + g).powf((t - NOW) as f64 / DAY as f64)).unwrap();
        assert!(f.days_to_up_line.unwrap() > f64::from(w.tier_lead_days));
        assert_eq!(f.move_to, None);
    }

    #[test]
    fn not_enough_history_holds_back() {
        assert_eq!(fit(1, Some("small"), |_| 450.0), None);
    }
}
