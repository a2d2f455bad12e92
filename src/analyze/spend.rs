//! Spend from Cost Explorer, held against traffic: per service, the last 7 complete days
//! against the 7 before, next to the change in requests (the ALB RequestCount of every watched
//! group over the same days). Spend up with flat traffic is waste or a regression; spend up
//! with traffic is expected. And the month-end projection: month to date plus the last 7
//! days' daily mean for each day left.
//!
//! Pure and synchronous. May use: domain, analyze::stats.

use crate::domain::{Money, Signal, Snapshot, Ts};
use chrono::{DateTime, Datelike, NaiveDate};
use serde::Serialize;

/// A service's spend rising faster than requests by at least this many percentage points,
/// and by at least `MIN_RISE` percent, is flagged.
pub const MIN_GAP_POINTS: f64 = 15.0;
pub const MIN_RISE: f64 = 20.0;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceChange {
    pub service: String,
    pub last_7d: Money,
    pub prior_7d: Money,
    /// Percent change, last 7 days over the 7 before.
    pub change: f64,
    /// Extra spend per 30-day month at the new rate: (last − prior) ÷ 7 × 30.
    pub monthly_increase: Money,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpendFinding {
    /// First and last day of the two weeks compared.
    pub window: (String, String),
    /// Percent change of requests over the same days, when a request metric exists.
    pub requests_change: Option<f64>,
    /// Services whose spend rose faster than traffic.
    pub rising: Vec<ServiceChange>,
    pub month: String,
    pub month_to_date: Money,
    pub daily_run_rate: Money,
    pub month_end_projection: Money,
}

fn day_of(t: Ts) -> NaiveDate {
    DateTime::from_timestamp(t, 0).map(|d| d.date_naive()).unwrap_or_default()
}

fn pct(a: f64, b: f64) -> f64 {
    (a - b) / b * 100.0
}

/// None when there are not 14 complete days of spend.
pub fn analyze(snap: &Snapshot, now: Ts) -> Option<SpendFinding> {
    let today = day_of(now);
    let parse = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let known: std::collections::BTreeSet<NaiveDate> = snap.spend.iter().filter_map(|d| parse(&d.day)).collect();
    // The two weeks end with the newest day read, yesterday or the day before: spend is read
    // once a day, minutes after midnight, so between midnight and that read yesterday is not
    // in yet. (Ending them at yesterday regardless made the spend advice resolve at every
    // midnight and reopen at the read: a resolve/fire pair of notifications each day.)
    let end = *known.range(..today).next_back()?;
    if (today - end).num_days() > 2 {
        return None;
    }
    let day = |k: i64| end - chrono::Duration::days(k);
    let (last, prior): (Vec<NaiveDate>, Vec<NaiveDate>) = ((0..7).map(day).collect(), (7..14).map(day).collect());
    if !last.iter().chain(&prior).all(|d| known.contains(d)) {
        return None;
    }
    let mut services: Vec<&str> = snap.spend.iter().map(|d| d.service.as_str()).collect();
    services.sort();
    services.dedup();
    let sum = |svc: Option<&str>, days: &[NaiveDate]| -> Money {
        snap.spend
            .iter()
            .filter(|d| svc.is_none_or(|s| s == d.service) && parse(&d.day).is_some_and(|x| days.contains(&x)))
            .map(|d| d.amount)
            .sum()
    };
    // Requests over the same days (period starts within each day set).
    let req_in = |days: &[NaiveDate]| -> Option<f64> {
        let v: Vec<f64> = snap
            .series
            .iter()
            .filter(|s| s.signal == Signal::Requests)
            .flat_map(|s| s.points.iter())
            .filter(|(t, _)| days.contains(&day_of(*t)))
            .map(|(_, v)| v)
            .collect();
        super::stats::sum(&v)
    };
    let requests_change = match (req_in(&last), req_in(&prior)) {
        (Some(a), Some(b)) if b > 0.0 => Some(pct(a, b)),
        _ => None,
    };
    let mut rising = vec![];
    for svc in services {
        let (a, b) = (sum(Some(svc), &last), sum(Some(svc), &prior));
        if b.0 <= 0 {
            continue;
        }
        let change = pct(a.0 as f64, b.0 as f64);
        let gap = change - requests_change.unwrap_or(0.0);
        if change >= MIN_RISE && gap >= MIN_GAP_POINTS {
            rising.push(ServiceChange {
                service: svc.to_string(),
                last_7d: a,
                prior_7d: b,
                change,
                monthly_increase: Money((a.0 - b.0) * 30 / 7),
            });
        }
    }
    // Month to date: the days of this month through `end`; projection adds the run rate for
    // every day after it to the month's end.
    let month_start = today.with_day(1)?;
    let mtd_days: Vec<NaiveDate> = known.iter().copied().filter(|d| *d >= month_start && *d <= end).collect();
    let month_to_date = sum(None, &mtd_days);
    let run_rate = Money(sum(None, &last).0 / 7);
    let next_month = if today.month() == 12 {
        NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)?
    };
    let days_left = (next_month - (end + chrono::Duration::days(1)).max(month_start)).num_days();
    Some(SpendFinding {
        window: (prior[6].to_string(), last[0].to_string()),
        requests_change,
        rising,
        month: month_start.format("%Y-%m").to_string(),
        month_to_date,
        daily_run_rate: run_rate,
        month_end_projection: Money(month_to_date.0 + run_rate.0 * days_left),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::fixtures::*;
    use crate::domain::{DailySpend, ResourceId};

    // 2027-01-15 12:00 UTC.
    const NOW: Ts = 1_800_000_000 - 1_800_000_000 % 86_400 + 43_200;

    fn spend(days: i64, f: impl Fn(&str, i64) -> f64) -> Vec<DailySpend> {
        let today = day_of(NOW);
        let mut out = vec![];
        for k in 1..=days {
            let d = today - chrono::Duration::days(k);
            for svc in ["EC2", "CloudWatch"] {
                out.push(DailySpend {
                    day: d.to_string(),
                    service: svc.into(),
                    amount: Money::from_usd_f64(f(svc, k)).unwrap(),
                });
            }
        }
        out
    }

    fn with(spend_rows: Vec<DailySpend>, req: impl Fn(Ts) -> f64) -> Snapshot {
        let r = ResourceId::asg("web");
        let from = NOW - 20 * 86_400;
        let mut s = snapshot(NOW, vec![], vec![series(&r, Signal::Requests, grid(from, NOW, req))]);
        s.spend = spend_rows;
        s
    }

    #[test]
    fn spend_up_with_flat_traffic_is_flagged_and_with_traffic_is_not() {
        // CloudWatch +40 % in the last 7 days, EC2 flat; requests flat.
        let rows = spend(20, |svc, k| {
            if svc == "CloudWatch" && k <= 7 {
                3.5
            } else if svc == "CloudWatch" {
                2.5
            } else {
                40.0
            }
        });
        let f = analyze(&with(rows.clone(), |_| 1000.0), NOW).unwrap();
        assert_eq!(f.requests_change, Some(0.0));
        assert_eq!(f.rising.len(), 1);
        let c = &f.rising[0];
        assert_eq!(c.service, "CloudWatch");
        assert_eq!(
            (c.last_7d, c.prior_7d),
            (Money::from_usd_f64(3.5 * 7.0).unwrap(), Money::from_usd_f64(2.5 * 7.0).unwrap())
        );
        assert!((c.change - (3.5 - 2.5) / 2.5 * 100.0).abs() < 1e-9);
        assert_eq!(c.monthly_increase, Money::from_usd_f64((3.5 - 2.5) * 30.0).unwrap());
        // The same rise with requests up 45 % is expected growth: nothing flagged.
        let boundary = day_of(NOW) - chrono::Duration::days(7);
        let grown = with(rows, |t| if day_of(t) >= boundary { 1450.0 } else { 1000.0 });
        let f = analyze(&grown, NOW).unwrap();
        assert!((f.requests_change.unwrap() - 45.0).abs() < 1e-9);
        assert!(f.rising.is_empty(), "{:?}", f.rising);
    }

    #[test]
    fn month_end_projection_is_month_to_date_plus_the_run_rate() {
        let rows = spend(20, |_, _| 10.0);
        let f = analyze(&with(rows, |_| 1.0), NOW).unwrap();
        let today = day_of(NOW);
        let mtd_days = i64::from(today.day()) - 1; // the days of this month before today
        let days_in_month = 31; // January
        let days_left = days_in_month - mtd_days;
        assert_eq!(f.month_to_date, Money::from_usd_f64(20.0 * mtd_days as f64).unwrap());
        assert_eq!(f.daily_run_rate, Money::from_usd_f64(20.0).unwrap());
        assert_eq!(
            f.month_end_projection,
            Money::from_usd_f64(20.0 * (mtd_days + days_left) as f64).unwrap()
        );
        assert_eq!(f.month, "2027-01");
    }

    #[test]
    fn before_the_daily_read_the_weeks_end_the_day_before_yesterday() {
        // Just after midnight yesterday's spend is not read yet: the finding must not vanish
        // (an advisory resolved at midnight and reopened at the read), only shift by a day.
        let rows = spend(20, |svc, k| if svc == "CloudWatch" && k <= 8 { 3.5 } else { 2.0 });
        let without_yesterday: Vec<DailySpend> = rows
            .iter()
            .filter(|d| d.day != (day_of(NOW) - chrono::Duration::days(1)).to_string())
            .cloned()
            .collect();
        let f = analyze(&with(without_yesterday, |_| 1.0), NOW).expect("a finding before the daily read");
        let end = day_of(NOW) - chrono::Duration::days(2);
        assert_eq!(f.window, ((end - chrono::Duration::days(13)).to_string(), end.to_string()));
        // Days 2..=8 back at 3.5 + 2.0; the run rate is their daily mean.
        assert_eq!(f.daily_run_rate, Money::from_usd_f64(5.5).unwrap());
        // Month to date: this month's days through the day before yesterday; the projection
        // adds the run rate for yesterday, today and every day left in January.
        let mtd: f64 = (2..i64::from(day_of(NOW).day())).map(|k| if k <= 8 { 5.5 } else { 4.0 }).sum();
        assert_eq!(f.month_to_date, Money::from_usd_f64(mtd).unwrap());
        let days_after_end = 31 - i64::from(end.day());
        assert_eq!(
            f.month_end_projection,
            Money::from_usd_f64(mtd + 5.5 * days_after_end as f64).unwrap()
        );
        // Three days without a read is stale: nothing.
        let stale: Vec<DailySpend> = rows
            .iter()
            .filter(|d| d.day < (day_of(NOW) - chrono::Duration::days(3)).to_string())
            .cloned()
            .collect();
        assert!(analyze(&with(stale, |_| 1.0), NOW).is_none());
    }

    #[test]
    fn less_than_fourteen_days_says_nothing() {
        assert!(analyze(&with(spend(10, |_, _| 1.0), |_| 1.0), NOW).is_none());
    }
}
