//! Outlooks: the daemon's growth forecasts of each watched resource's capacity signals, and
//! when each crosses its lines.
//!
//! Per Auto Scaling group: CPU and memory (hourly means) against the thresholds of the alert
//! rules on those signals (the seeds' 75 % / 80 % CPU, 80 % / 85 % memory); desired capacity
//! against the group's max; concurrent users (as the tier analyzer derives them) against the
//! tier boundaries: `tier_up_at` × the upper bound of the tier the 7-day peak is in, and that
//! upper bound. Per provisioned DynamoDB table: consumed read and write units per second
//! against the target utilization of the provisioned units (70 %, as `dynamodb` sizes) and
//! the provisioned units themselves (where throttling starts).
//!
//! Each outlook is `forecast::forecast` over the hourly means of the last `HISTORY_DAYS` (only
//! full hours before `now`), `HORIZON_HOURS` ahead, with the month-over-month growth of its
//! daily means (since the last changepoint) and each line's crossing with its 80 % interval.
//! The tier analyzer and commitments read them; `decide::forecasts` turns crossings into
//! advisories. They are computed on the forecast schedule (hourly), not every cycle.
//!
//! Pure and synchronous: `now` is a parameter. May use: domain, config, model, analyze.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

use super::forecast::{self, Crossing, Growth, Input, Params};
use super::{dynamodb, rules, tiers};
use crate::config::{Cmp, Rule, Sizing};
use crate::domain::{Kind, Points, ResourceId, Signal, Snapshot, Ts, packed};
use crate::model::tiers::tier_for;

/// Hours forecast ahead: 14 days.
pub const HORIZON_HOURS: usize = 14 * 24;
/// Days of history a forecast fits (the model keeps at most 28 of them).
pub const HISTORY_DAYS: i64 = 28;
/// Below this many hours of history there is no outlook (two daily cycles).
pub const MIN_HOURS: usize = 48;
const HOUR: i64 = 3600;

/// A line a forecast may cross: an alert threshold, a capacity limit, a tier boundary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// What the line is, e.g. "alert rule cpu-high (> 75)" or "Tier 2's upper bound".
    pub name: String,
    pub value: f64,
    pub crossing: Crossing,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outlook {
    pub resource: ResourceId,
    pub signal: Signal,
    /// What is forecast, e.g. "CPU utilization (hourly mean)".
    pub what: String,
    pub unit: String,
    /// Start of the last full hour of history; forecast step j is the hour starting at
    /// `origin + (j + 1) × 3600`.
    pub origin: Ts,
    pub history_hours: usize,
    /// The last hourly value.
    pub last: f64,
    /// The highest hourly value of the last week (of the longest season): lines at or below it
    /// are already crossed.
    pub recent_peak: f64,
    pub model: String,
    pub fallback: Option<String>,
    pub intervals_from: String,
    pub outliers: usize,
    pub growth: Option<Growth>,
    /// The forecast and its 80 % band, hour by hour, 12 bits an hour (see `Curve`: a daemon
    /// holds 15,000 of these between forecast runs).
    pub point: Curve,
    pub lo80: Curve,
    pub hi80: Curve,
    pub lines: Vec<Line>,
    /// When the forecast was made.
    pub computed_at: Ts,
}

impl Outlook {
    /// When this forecast crosses `line` (any line, not only the ones it carries).
    pub fn crossing(&self, line: f64) -> Crossing {
        forecast::crossing_in(
            &self.point.to_vec(),
            &self.lo80.to_vec(),
            &self.hi80.to_vec(),
            self.recent_peak,
            self.origin,
            HOUR,
            line,
        )
    }

    /// Bytes held on the heap (the lines' capacities and the strings': an estimate).
    pub fn heap_bytes(&self) -> usize {
        let lines: usize = self.lines.iter().map(|l| std::mem::size_of::<Line>() + l.name.capacity()).sum();
        self.point.heap_bytes()
            + self.lo80.heap_bytes()
            + self.hi80.heap_bytes()
            + self.what.capacity()
            + self.unit.capacity()
            + self.model.capacity()
            + self.intervals_from.capacity()
            + self.fallback.as_ref().map_or(0, String::capacity)
            + self.resource.0.capacity()
            + lines
    }

    /// The end of the forecast horizon.
    pub fn horizon_end(&self) -> Ts {
        self.origin + self.point.len() as Ts * HOUR
    }
}

/// The model's defaults (tuned on one-day horizons) but with the trend fitted on the daily
/// means of two weeks of deseasonalised history (14 days ahead, the growth of weeks matters,
/// not the last day's wiggles) and positive series modelled in logs (a daily peak grows with
/// the level). On the one-day benchmark these score worse than the defaults (BENCHMARKS.md);
/// there is no 14-day benchmark to tune them on, so they follow from what the horizon needs.
pub fn params() -> Params {
    Params {
        trend_days: 14.0,
        trend_daily: true,
        multiplicative: true,
        ..Params::default()
    }
}

/// One series to forecast, with its lines.
struct Job<'a> {
    resource: ResourceId,
    signal: Signal,
    what: &'static str,
    unit: String,
    points: Cow<'a, Points>,
    lines: Vec<(String, f64)>,
}

/// Outlooks of every ASG and provisioned table in the snapshot that has enough history, in
/// snapshot order. The forecasts run on every available core (about 12 ms each on one).
pub fn compute(snap: &Snapshot, rules: &[Rule], sizing: &Sizing, now: Ts) -> Vec<Outlook> {
    let jobs = jobs(snap, rules, sizing, now);
    let p = params();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len().max(1));
    let chunk = jobs.len().div_ceil(threads).max(1);
    let mut results: Vec<Vec<Option<Outlook>>> = vec![];
    std::thread::scope(|sc| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                let p = &p;
                sc.spawn(move || {
                    part.iter()
                        .map(|j| one(&j.resource, j.signal, j.what, &j.unit, &j.points, j.lines.clone(), now, p))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            // A panicking forecast loses its chunk, not the cycle.
            results.push(h.join().unwrap_or_default());
        }
    });
    results.into_iter().flatten().flatten().collect()
}

/// The series that would be forecast but have no outlook because their history is shorter
/// than `MIN_HOURS` hours (or could not be fetched): each says so, instead of staying silent.
/// A series with enough history but no outlook yet gets one at the next forecast run.
pub fn held_back(snap: &Snapshot, outlooks: &[Outlook]) -> Vec<super::HeldBack> {
    let have: std::collections::HashSet<(&ResourceId, Signal)> = outlooks.iter().map(|o| (&o.resource, o.signal)).collect();
    let mut out = vec![];
    let mut check = |r: &ResourceId, sig: Signal, name: &str, series: Option<&crate::domain::Series>| {
        let Some(s) = series else { return };
        if have.contains(&(r, sig)) {
            return;
        }
        let mut hours: Vec<Ts> = s.points.iter().filter(|p| p.1.is_finite()).map(|p| p.0.div_euclid(3600)).collect();
        hours.dedup();
        if hours.len() >= MIN_HOURS {
            return;
        }
        let mut h = super::HeldBack::new(Kind::Forecast, r.clone(), snap, hours.len() as f64, MIN_HOURS as f64);
        // No point at all and nothing failed: the metric is not published (e.g. memory without
        // the CloudWatch agent); there is nothing to forecast and nothing to say.
        if hours.is_empty() && h.unfetched.is_none() {
            return;
        }
        h.subject = Some(name.to_string());
        out.push(h);
    };
    for g in &snap.asgs {
        let r = ResourceId::asg(&g.name);
        for (sig, name) in [
            (Signal::CpuPercent, "CPU"),
            (Signal::MemoryPercent, "memory"),
            (Signal::DesiredCapacity, "desired capacity"),
        ] {
            check(&r, sig, name, snap.series_for(&r, sig));
        }
        let users = snap
            .series_for(&r, Signal::ConcurrentUsers)
            .or_else(|| snap.series_for(&r, Signal::Requests));
        check(&r, Signal::ConcurrentUsers, "concurrent users", users);
    }
    for t in snap.tables.iter().filter(|t| t.billing_mode == "PROVISIONED") {
        let r = ResourceId::table(&t.name);
        for (sig, name) in [(Signal::ConsumedRcu, "consumed reads"), (Signal::ConsumedWcu, "consumed writes")] {
            check(&r, sig, name, snap.series_for(&r, sig));
        }
    }
    out
}

fn jobs<'a>(snap: &'a Snapshot, rules: &[Rule], sizing: &Sizing, now: Ts) -> Vec<Job<'a>> {
    let mut jobs = vec![];
    let series = |r: &ResourceId, sig: Signal| snap.nonempty_series_for(r, sig);
    for g in &snap.asgs {
        let r = ResourceId::asg(&g.name);
        for (sig, rule_signal, what) in [
            (Signal::CpuPercent, "cpu_percent", "CPU utilization (hourly mean)"),
            (Signal::MemoryPercent, "memory_percent", "memory used (hourly mean)"),
        ] {
            let Some(s) = series(&r, sig) else { continue };
            jobs.push(Job {
                resource: r.clone(),
                signal: sig,
                what,
                unit: "%".into(),
                points: Cow::Borrowed(&s.points),
                lines: rule_lines(rules, rule_signal, &r),
            });
        }
        if let Some(s) = series(&r, Signal::DesiredCapacity) {
            jobs.push(Job {
                resource: r.clone(),
                signal: Signal::DesiredCapacity,
                what: "desired capacity (hourly mean)",
                unit: "instances".into(),
                points: Cow::Borrowed(&s.points),
                lines: vec![(format!("the group's max capacity ({})", g.max_size), f64::from(g.max_size))],
            });
        }
        if let Some(u) = tiers::users(snap, &g.name, sizing.workload.requests_per_user_per_minute) {
            let from = now - 7 * 86_400;
            let peak = u.points.iter().filter(|(t, _)| *t > from).map(|p| p.1).fold(f64::NAN, f64::max);
            let mut lines = vec![];
            if let Some(t) = tier_for(&sizing.tiers, peak).filter(|t| t.concurrent_users.1.is_finite()) {
                let hi = t.concurrent_users.1;
                let k = sizing.workload.tier_up_at;
                lines.push((format!("{:.0} % of {}'s upper bound (tier_up_at)", k * 100.0, t.name), k * hi));
                lines.push((format!("{}'s upper bound", t.name), hi));
            }
            jobs.push(Job {
                resource: r.clone(),
                signal: Signal::ConcurrentUsers,
                what: "concurrent users (hourly mean)",
                unit: "users".into(),
                points: Cow::Owned(Points::from(u.points)),
                lines,
            });
        }
    }
    for t in snap.tables.iter().filter(|t| t.billing_mode == "PROVISIONED") {
        let r = ResourceId::table(&t.name);
        for (sig, cap, what, unit) in [
            (
                Signal::ConsumedRcu,
                t.read_capacity,
                "consumed read units per second (hourly mean)",
                "RCU",
            ),
            (
                Signal::ConsumedWcu,
                t.write_capacity,
                "consumed write units per second (hourly mean)",
                "WCU",
            ),
        ] {
            let (Some(s), Some(cap)) = (series(&r, sig), cap) else { continue };
            let per_s = s.per_second_divisor();
            jobs.push(Job {
                resource: r.clone(),
                signal: sig,
                what,
                unit: unit.into(),
                points: Cow::Owned(s.points.iter().map(|(t, v)| (t, v / per_s)).collect()),
                lines: vec![
                    (
                        format!(
                            "{:.0} % of provisioned, the target utilization DynamoDB advice sizes for",
                            dynamodb::TARGET * 100.0
                        ),
                        dynamodb::TARGET * cap as f64,
                    ),
                    (format!("provisioned capacity ({cap} {unit}): throttling"), cap as f64),
                ],
            });
        }
    }
    jobs
}

/// The distinct thresholds of upward rules on `signal` that apply to `resource`.
pub fn rule_lines(rules: &[Rule], signal: &str, resource: &ResourceId) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = rules
        .iter()
        .filter(|r| r.signal == signal && matches!(r.op, Cmp::Gt | Cmp::Ge))
        .filter(|r| rules::applies(r, resource))
        .map(|r| {
            (
                format!(
                    "alert rule {} ({} {})",
                    r.name,
                    if r.op == Cmp::Gt { ">" } else { ">=" },
                    r.threshold
                ),
                r.threshold,
            )
        })
        .collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    v.dedup_by(|a, b| a.1 == b.1);
    v
}

#[allow(clippy::too_many_arguments)]
fn one(
    r: &ResourceId,
    signal: Signal,
    what: &str,
    unit: &str,
    points: &Points,
    lines: Vec<(String, f64)>,
    now: Ts,
    p: &Params,
) -> Option<Outlook> {
    // Full hours only, within the history window.
    let this_hour = now.div_euclid(HOUR) * HOUR;
    let from = this_hour - HISTORY_DAYS * 86_400;
    let pts: Vec<(Ts, f64)> = points.range(from, this_hour).collect();
    let g = forecast::hourly(&pts)?;
    if g.values.len() < MIN_HOURS {
        return None;
    }
    let input = Input {
        y: &g.values,
        observed: Some(&g.observed),
        step_s: HOUR,
        horizon: HORIZON_HOURS,
        periods: None,
        non_negative: Some(true),
    };
    let mut fc = forecast::forecast(&input, p).ok()?;
    // A utilization cannot pass 100 %: neither can its forecast nor its band (a calibrated
    // band of a series near the ceiling would otherwise read 108 %).
    if matches!(signal, Signal::CpuPercent | Signal::MemoryPercent | Signal::DbPoolPercent) {
        for v in fc.point.iter_mut().chain(fc.lo80.iter_mut()).chain(fc.hi80.iter_mut()) {
            *v = v.min(100.0);
        }
    }
    let origin = g.start + (g.values.len() as Ts - 1) * HOUR;
    let last = *g.values.last()?;
    let peak = forecast::recent_peak(&g.values, &[fc.periods.iter().copied().max().unwrap_or(1).max(168)]);
    let lines = lines
        .into_iter()
        .map(|(name, value)| Line {
            crossing: forecast::crossing(&fc, peak, origin, HOUR, value),
            name,
            value,
        })
        .collect();
    Some(Outlook {
        resource: r.clone(),
        signal,
        what: what.to_string(),
        unit: unit.to_string(),
        origin,
        history_hours: g.values.len(),
        last,
        recent_peak: peak,
        model: fc.model,
        fallback: fc.fallback,
        intervals_from: fc.intervals_from,
        outliers: fc.outliers,
        growth: forecast::growth(&g.values, 24),
        point: Curve::new(&fc.point),
        lo80: Curve::new(&fc.lo80),
        hi80: Curve::new(&fc.hi80),
        lines,
        computed_at: now,
    })
}

/// An hourly forecast line as it is held: a base, a step between levels and one 12-bit level
/// an hour (`domain::packed`), so a value reads back within a step, (max − min) ÷ 4,091 at
/// most: for a CPU forecast spanning 40 points, 0.01 points, hundreds of times finer than any
/// forecast's error. The step is a power of two and the base a multiple of it, so the values read back
/// exactly as f64 and quantizing them again gives them back bit for bit: a line read from the
/// store equals the one that was made (the daemon's advice holds still across a restart). A
/// constant line is exact; a non-finite value reads back as NaN. Serialized as the list of
/// values it reads back (NaN as null).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curve {
    lo: f64,
    step: f64,
    /// 12-bit levels, two in three bytes.
    levels: Vec<u8>,
}

/// The level of a non-finite value.
const NOT_FINITE: u16 = packed::MAX;
/// Levels a line's range is spread over (below `NOT_FINITE - 1`, so that rounding the base
/// down to a multiple of the step still leaves the highest value a level).
const SPAN: f64 = (packed::MAX - 4) as f64;

impl Curve {
    pub fn new(v: &[f64]) -> Curve {
        let mut c = Curve::quantize(v);
        // Values already on a power-of-two grid come back as they are; others settle in a
        // step or two (a coarser step holds a finer one's values exactly).
        for _ in 0..8 {
            let back = c.to_vec();
            let again = Curve::quantize(&back);
            if same(&again.to_vec(), &back) {
                return again;
            }
            c = again;
        }
        c
    }

    fn quantize(v: &[f64]) -> Curve {
        let (lo, hi) = v
            .iter()
            .filter(|x| x.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        if lo > hi {
            return Curve {
                lo: 0.0,
                step: 0.0,
                levels: pack(v.iter().map(|_| NOT_FINITE)),
            };
        }
        let step = if hi > lo {
            2f64.powi(((hi - lo) / SPAN).log2().ceil() as i32)
        } else {
            0.0
        };
        if !(step.is_finite() && step >= 0.0) || (step > 0.0 && (lo / step).abs() > 2f64.powi(52)) {
            // Out of what a power-of-two grid holds exactly: keep the values as the grid of
            // their own range (never hit by forecasts of percentages, counts or units).
            return Curve {
                lo,
                step: (hi - lo) / SPAN,
                levels: pack(v.iter().map(|x| level(*x, lo, (hi - lo) / SPAN))),
            };
        }
        let base = if step > 0.0 { (lo / step).floor() * step } else { lo };
        Curve {
            lo: base,
            step,
            levels: pack(v.iter().map(|x| level(*x, base, step))),
        }
    }

    pub fn len(&self) -> usize {
        packed::len(&self.levels)
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// The value at hour `j` (counted from the first forecast hour).
    pub fn get(&self, j: usize) -> Option<f64> {
        packed::get(&self.levels, j).map(|k| self.value(k))
    }

    pub fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        (0..self.len()).filter_map(|j| self.get(j))
    }

    pub fn to_vec(&self) -> Vec<f64> {
        self.iter().collect()
    }

    /// The highest value (NaN when there is none).
    pub fn max(&self) -> f64 {
        self.iter().fold(f64::NAN, f64::max)
    }

    pub fn heap_bytes(&self) -> usize {
        self.levels.capacity()
    }

    fn value(&self, k: u16) -> f64 {
        if k == NOT_FINITE {
            f64::NAN
        } else {
            self.lo + f64::from(k) * self.step
        }
    }
}

/// Levels packed, in exactly the room they take.
fn pack(levels: impl ExactSizeIterator<Item = u16>) -> Vec<u8> {
    let mut out = Vec::with_capacity(packed::bytes_for(levels.len()));
    for k in levels {
        packed::push(&mut out, k);
    }
    out
}

fn level(x: f64, base: f64, step: f64) -> u16 {
    match () {
        _ if !x.is_finite() => NOT_FINITE,
        _ if step > 0.0 => ((x - base) / step).round().clamp(0.0, f64::from(NOT_FINITE - 1)) as u16,
        _ => 0,
    }
}

/// Equal values, NaN equal to NaN.
fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

impl Serialize for Curve {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(|x| if x.is_nan() { None } else { Some(x) }))
    }
}

impl<'de> Deserialize<'de> for Curve {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Curve, D::Error> {
        let v: Vec<Option<f64>> = Vec::deserialize(d)?;
        Ok(Curve::new(&v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect::<Vec<_>>()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::fixtures::*;
    use crate::config::Config;
    const NOW: Ts = 1_800_000_000;

    fn cpu_snap(days: i64, f: impl Fn(Ts) -> f64) -> Snapshot {
        let from = NOW - days * 86_400;
        let web = ResourceId::asg("web");
        snapshot(
            NOW,
            vec![asg("web", 2, 4, 10, "c5.xlarge")],
            vec![series(&web, Signal::CpuPercent, grid(from, NOW, f))],
        )
    }

    /// CPU whose level compounds 1 % a day from 50 % and whose daily swing is ±10 % of the
    /// level (load-driven: the peak grows with the level, as the outlook model assumes).
    #[test]
    fn cpu_growth_crosses_the_alert_threshold_when_the_line_says() {
        let cfg = Config::embedded().unwrap();
        let day = 86_400.0;
        let start = NOW - 21 * 86_400;
        let f = move |t: Ts| {
            let d = (t - start) as f64 / day;
            50.0 * 1.01f64.powf(d) * (1.0 + 0.1 * (2.0 * std::f64::consts::PI * d).sin())
        };
        let snap = cpu_snap(21, f);
        let o = compute(&snap, &cfg.rules, &cfg.sizing, NOW);
        let cpu = o.iter().find(|o| o.signal == Signal::CpuPercent).expect("a CPU outlook");
        // Closed form: the daily peak 55 × 1.01^d reaches 80 at d = ln(80/55)/ln(1.01) ≈ 37.7,
        // 16.7 days after now: beyond the 14-day horizon.
        assert!((80.0f64 / 55.0).ln() / 1.01f64.ln() - 21.0 > 14.0);
        let line80 = cpu.lines.iter().find(|l| l.value == 80.0).expect("the 80 % rule is a line");
        assert!(
            matches!(line80.crossing, Crossing::NotWithinHorizon { .. }),
            "{:?}",
            line80.crossing
        );
        // A line halfway between the hourly peaks of days 28 and 29 (7 and 8 days after now),
        // so a day's peak is clearly below or above it: it is first reached on day 29's peak
        // hour, the first hour whose mean of the formula reaches it.
        let hour_mean = |h: Ts| (0..12).map(|k| f(h + k * 300)).sum::<f64>() / 12.0;
        let day_peak = |d: i64| (0..24).map(|k| hour_mean(start + d * 86_400 + k * 3600)).fold(f64::MIN, f64::max);
        let line = (day_peak(28) + day_peak(29)) / 2.0;
        let expected = (0..14 * 24).map(|k| NOW + k * 3600).find(|h| hour_mean(*h) >= line).unwrap();
        assert_eq!((expected - start) / 86_400, 29);
        let c = cpu.crossing(line);
        let Crossing::At { at, earliest, latest } = c else {
            panic!("{line} should be crossed: {c:?}")
        };
        assert!(
            (at - expected).abs() as f64 <= 0.5 * day,
            "crossing {:.2} days after now, the formula says {:.2}",
            (at - NOW) as f64 / day,
            (expected - NOW) as f64 / day
        );
        assert!(earliest <= at && latest.is_none_or(|l| l >= at));
        let g = cpu.growth.as_ref().expect("growth over 21 days");
        // Each day's mean is the same multiple of 1.01^d: growth per 30 days is 1.01^30 − 1.
        let expected = 1.01f64.powi(30) - 1.0;
        assert_eq!(g.changepoint_days_ago, None, "steady growth has no changepoint");
        assert!((g.per_30d - expected).abs() < 0.005, "growth {} vs {expected}", g.per_30d);
        assert!(g.lo80 <= g.per_30d && g.per_30d <= g.hi80);
        assert_eq!(cpu.point.len(), HORIZON_HOURS);
        assert!(
            cpu.point
                .iter()
                .chain(cpu.lo80.iter())
                .chain(cpu.hi80.iter())
                .all(|v| v.is_finite())
        );
    }

    /// CPU swinging between 60 % and 98 % each day: its calibrated band around the daily peak
    /// would pass 100 % unclamped; a utilization's forecast and band stop at 100 %.
    #[test]
    fn a_utilization_band_stops_at_100_percent() {
        let cfg = Config::embedded().unwrap();
        let day = 86_400.0;
        let f = |t: Ts| {
            let phase = 2.0 * std::f64::consts::PI * (t as f64 / day);
            // A little noise that repeats every 7 hours keeps the errors from being zero.
            let noise = ((t / 3600) % 7) as f64 - 3.0;
            (79.0 + 19.0 * phase.sin() + noise).clamp(0.0, 100.0)
        };
        let snap = cpu_snap(21, f);
        let o = compute(&snap, &cfg.rules, &cfg.sizing, NOW);
        let cpu = o.iter().find(|o| o.signal == Signal::CpuPercent).expect("a CPU outlook");
        let top = cpu.hi80.max();
        assert!(top <= 100.0, "upper band {top}");
        assert!(cpu.point.iter().chain(cpu.lo80.iter()).all(|v| v <= 100.0));
        // The clamp binds: some hour of the upper band is at the ceiling.
        assert!(cpu.hi80.iter().any(|v| v == 100.0), "{:?}", &cpu.hi80.to_vec()[..24]);
    }

    #[test]
    fn a_curve_reads_back_within_a_step_and_round_trips_exactly() {
        let v: Vec<f64> = (0..336)
            .map(|j| 40.0 + 25.0 * (j as f64 / 24.0 * std::f64::consts::TAU).sin() + j as f64 * 0.01)
            .collect();
        let c = Curve::new(&v);
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(*x), b.max(*x)));
        // The step is the power of two at or above the range over SPAN levels (at most
        // twice that), and a value is within half a step.
        let tol = (hi - lo) / SPAN;
        assert_eq!(c.len(), v.len());
        for (j, (a, b)) in v.iter().zip(c.iter()).enumerate() {
            assert!((a - b).abs() <= tol, "hour {j}: {a} vs {b} (tolerance {tol})");
        }
        // 12 bits an hour.
        assert_eq!(c.heap_bytes(), v.len() * 3 / 2);
        // Through JSON and back: the same curve, bit for bit.
        let again: Curve = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
        // Constant lines and NaN are exact; NaN is null.
        let flat = Curve::new(&[61.3, 61.3, f64::NAN]);
        assert_eq!(serde_json::to_string(&flat).unwrap(), "[61.3,61.3,null]");
        let back: Curve = serde_json::from_str("[61.3,61.3,null]").unwrap();
        assert_eq!(back.get(0), Some(61.3));
        assert!(back.get(2).is_some_and(f64::is_nan));
    }

    #[test]
    fn short_history_has_no_outlook() {
        let cfg = Config::embedded().unwrap();
        let snap = cpu_snap(1, |_| 50.0);
        assert!(compute(&snap, &cfg.rules, &cfg.sizing, NOW).is_empty());
    }

    #[test]
    fn lines_come_from_upward_rules_on_the_signal() {
        let cfg = Config::embedded().unwrap();
        let lines = rule_lines(&cfg.rules, "cpu_percent", &ResourceId::asg("web"));
        let mut expected: Vec<f64> = cfg
            .rules
            .iter()
            .filter(|r| r.signal == "cpu_percent" && matches!(r.op, Cmp::Gt | Cmp::Ge))
            .map(|r| r.threshold)
            .collect();
        expected.sort_by(f64::total_cmp);
        expected.dedup();
        assert_eq!(lines.iter().map(|l| l.1).collect::<Vec<_>>(), expected);
        assert!(expected.contains(&75.0), "the seeds' 75 % CPU rule ships");
    }
}
