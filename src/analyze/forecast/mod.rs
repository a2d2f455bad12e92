//! Growth forecasts: where a series is going, when it crosses a threshold or a tier boundary,
//! and how fast it grows month over month, each with its interval.
//!
//! - `grid` puts raw (time, value) observations on a regular grid (the benchmark protocol's
//!   regularisation), `engine` forecasts a regular series (MSTL + AutoETS from augurs, with
//!   explicit fallbacks and conformal intervals);
//! - here: crossing dates ("crosses 75 % on 2027-01-09, between Dec 30 and Jan 21"), the
//!   month-over-month growth of daily means since the last changepoint (augurs-changepoint),
//!   and `hourly`, which turns a cached 5-minute series into the hourly series the daemon's
//!   14-day forecasts use.
//!
//! Pure and synchronous: `now` and the data are parameters. May use: domain, augurs.

pub mod calibrate;
pub mod engine;
pub mod grid;

pub use engine::{Forecast, ForecastError, Input, Params, forecast};

use augurs::changepoint::{Detector as _, NormalGammaDetector, dist::NormalGamma};
use serde::{Deserialize, Serialize};

/// When a forecast first reaches a line, with its 80 % interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Crossing {
    /// The last observed value is already at or past the line.
    Already,
    /// The point forecast reaches the line at `at`; the 80 % band says between `earliest`
    /// (upper bound reaches it) and `latest` (lower bound reaches it; None: not within the horizon).
    At { at: i64, earliest: i64, latest: Option<i64> },
    /// The point forecast stays below the line over the horizon; `earliest` is when the upper
    /// 80 % bound reaches it, if it does.
    NotWithinHorizon { earliest: Option<i64> },
}

/// Upward crossing of `line` by a forecast whose step j (0-based) holds at
/// `origin + (j + 1) × step_s`; `reached` is what the history already reached (`recent_peak`:
/// a seasonal series that touches the line at every daily peak has crossed it already; that
/// is the alert rules' business, not a forecast's).
pub fn crossing(fc: &Forecast, reached: f64, origin: i64, step_s: i64, line: f64) -> Crossing {
    crossing_in(&fc.point, &fc.lo80, &fc.hi80, reached, origin, step_s, line)
}

/// `crossing` of a point forecast and its 80 % band held elsewhere (a stored outlook).
pub fn crossing_in(point: &[f64], lo80: &[f64], hi80: &[f64], reached: f64, origin: i64, step_s: i64, line: f64) -> Crossing {
    if reached >= line {
        return Crossing::Already;
    }
    let first = |v: &[f64]| v.iter().position(|x| *x >= line).map(|j| origin + (j as i64 + 1) * step_s);
    let earliest = first(hi80);
    match first(point) {
        Some(at) => Crossing::At {
            at,
            earliest: earliest.unwrap_or(at).min(at),
            latest: first(lo80).map(|l| l.max(at)),
        },
        None => Crossing::NotWithinHorizon { earliest },
    }
}

/// The highest value of the last cycle of the longest season (the last value without one).
pub fn recent_peak(y: &[f64], periods: &[usize]) -> f64 {
    let k = periods.iter().copied().max().unwrap_or(1).clamp(1, y.len().max(1));
    y[y.len().saturating_sub(k)..]
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NAN, f64::max)
}

/// Month-over-month growth (per 30 days) of the daily means, with its 80 % interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Growth {
    pub per_30d: f64,
    pub lo80: f64,
    pub hi80: f64,
    /// Full days the estimate uses (since the last changepoint).
    pub days: usize,
    /// Days back from the end where the last changepoint of the daily means is (the growth
    /// baseline starts there), if one was found.
    pub changepoint_days_ago: Option<usize>,
    /// "log-linear" (relative growth of positive data) or "linear" (relative to the mean).
    pub fit: String,
}

/// Growth of the daily means of a regular series with `day` steps per day; None with fewer
/// than 7 full days (after the last changepoint) or when the series has no finite values.
pub fn growth(y: &[f64], day: usize) -> Option<Growth> {
    let means = week_of_daily_means(y, day)?;
    let Shifts { means, weekly, cps } = shifts(&means);
    let start = cps.iter().copied().filter(|c| means.len() - c >= 7).max().unwrap_or(0);
    let seg = &means[start..];
    let positive = seg.iter().all(|m| *m > 0.0);
    let mean_level = seg.iter().sum::<f64>() / seg.len() as f64;
    let ys: Vec<f64> = if positive {
        seg.iter().map(|m| m.ln()).collect()
    } else {
        seg.to_vec()
    };
    let n = ys.len() as f64;
    let xbar = (n - 1.0) / 2.0;
    let ybar = ys.iter().sum::<f64>() / n;
    let sxx: f64 = (0..ys.len()).map(|i| (i as f64 - xbar).powi(2)).sum();
    let b = (0..ys.len()).map(|i| (i as f64 - xbar) * (ys[i] - ybar)).sum::<f64>() / sxx;
    let a = ybar - b * xbar;
    let sse: f64 = (0..ys.len()).map(|i| (ys[i] - a - b * i as f64).powi(2)).sum();
    // The weekday profile took 6 more degrees of freedom.
    let dof = (n - 2.0 - if weekly { 6.0 } else { 0.0 }).max(1.0);
    let se = (sse / dof / sxx).sqrt();
    let rate = |slope: f64| {
        if positive {
            (30.0 * slope).exp() - 1.0
        } else if mean_level.abs() > 0.0 {
            30.0 * slope / mean_level.abs()
        } else {
            0.0
        }
    };
    let k = 1.281_551_565_545;
    let g = Growth {
        per_30d: rate(b),
        lo80: rate(b - k * se),
        hi80: rate(b + k * se),
        days: seg.len(),
        changepoint_days_ago: (start > 0).then(|| means.len() - start),
        fit: if positive { "log-linear" } else { "linear" }.to_string(),
    };
    (g.per_30d.is_finite() && g.lo80.is_finite() && g.hi80.is_finite()).then_some(g)
}

/// The daily means after their weekday profile (when one explains most of their spread), and
/// the days where a new level starts (changepoints of the means around their Theil-Sen line,
/// so steady growth is not a change, found by Bayesian online detection).
struct Shifts {
    means: Vec<f64>,
    weekly: bool,
    cps: Vec<usize>,
}

fn shifts(means: &[f64]) -> Shifts {
    let positive_all = means.iter().all(|m| *m > 0.0);
    let mut space: Vec<f64> = if positive_all {
        means.iter().map(|m| m.ln()).collect()
    } else {
        means.to_vec()
    };
    let theil_sen = |v: &[f64]| {
        let mut slopes = vec![];
        for i in 0..v.len() {
            for j in i + 1..v.len() {
                slopes.push((v[j] - v[i]) / (j - i) as f64);
            }
        }
        engine::quantile_sorted(&engine::sorted(&slopes), 0.5)
    };
    let median = |v: &[f64]| engine::quantile_sorted(&engine::sorted(v), 0.5);
    let mut slope = theil_sen(&space);
    // With two weeks or more, the day-of-week profile (median residual per weekday around the
    // line) comes out first: weekends are neither a changepoint nor a slope.
    let mut weekly = false;
    if space.len() >= 14 {
        let resid: Vec<f64> = space.iter().enumerate().map(|(i, v)| v - slope * i as f64).collect();
        let all = median(&resid);
        let effect: Vec<f64> = (0..7)
            .map(|k| {
                median(
                    &resid
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % 7 == k)
                        .map(|(_, r)| *r)
                        .collect::<Vec<_>>(),
                ) - all
            })
            .collect();
        // Kept only when it explains most of the residual spread: a step or noise is not a
        // weekly pattern.
        let var = |v: &mut dyn Iterator<Item = f64>| {
            let v: Vec<f64> = v.collect();
            let m = v.iter().sum::<f64>() / v.len() as f64;
            v.iter().map(|x| (x - m).powi(2)).sum::<f64>()
        };
        let before = var(&mut resid.iter().copied());
        let after = var(&mut resid.iter().enumerate().map(|(i, r)| r - effect[i % 7]));
        weekly = after < 0.5 * before;
        if weekly {
            for (i, v) in space.iter_mut().enumerate() {
                *v -= effect[i % 7];
            }
            slope = theil_sen(&space);
        }
    }
    let means: Vec<f64> = if positive_all {
        space.iter().map(|v| v.exp()).collect()
    } else {
        space.clone()
    };
    let resid: Vec<f64> = space.iter().enumerate().map(|(i, v)| v - slope * i as f64).collect();
    let diffs: Vec<f64> = resid.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let level = engine::quantile_sorted(&engine::sorted(&resid), 0.5);
    // Day-to-day noise is never taken below 1 %: a smooth series (or the curvature of linear
    // growth in log space) is not a string of changepoints.
    let floor = if positive_all {
        1e-2
    } else {
        1e-2 * engine::quantile_sorted(&engine::sorted(&means), 0.5).abs().max(1e-9)
    };
    let sigma = (engine::quantile_sorted(&engine::sorted(&diffs), 0.5) * 1.4826 / std::f64::consts::SQRT_2).max(floor);
    let z: Vec<f64> = resid.iter().map(|r| (r - level) / sigma).collect();
    let mut det = NormalGammaDetector::normal_gamma(60.0, NormalGamma::new_unchecked(0.0, 1.0, 1.0, 1.0));
    // A changepoint c ends the old run: the new level starts at c + 1.
    let cps: Vec<usize> = det
        .detect_changepoints(&z)
        .into_iter()
        .filter(|c| *c > 0)
        .map(|c| c + 1)
        .filter(|c| *c < means.len())
        .collect();
    Shifts { means, weekly, cps }
}

/// The means of the whole days of `y` (`day` steps each); None without a day length, with
/// fewer than 7 days, or with a non-finite mean.
fn week_of_daily_means(y: &[f64], day: usize) -> Option<Vec<f64>> {
    if day == 0 {
        return None;
    }
    let means = engine::daily_means(y, day);
    (means.len() >= 7 && means.iter().all(|m| m.is_finite())).then_some(means)
}

/// Where the series' current level starts: the first index of the day after the last
/// changepoint of its daily means (`day` steps each, whole days counted from the end); None
/// without one, or with fewer than 7 days.
pub fn level_shift(y: &[f64], day: usize) -> Option<usize> {
    let means = week_of_daily_means(y, day)?;
    let off = y.len() - means.len() * day;
    shifts(&means).cps.last().map(|c| off + c * day)
}

/// Hourly means of a series of (time, value) points of `period_s` seconds, as a regular grid
/// ending at the last full hour; None when it holds no finite value.
pub fn hourly(points: &[(i64, f64)]) -> Option<grid::Grid> {
    let mut by_hour: std::collections::BTreeMap<i64, (f64, usize)> = std::collections::BTreeMap::new();
    for (t, v) in points.iter().filter(|p| p.1.is_finite()) {
        let e = by_hour.entry(t.div_euclid(3600) * 3600).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
    }
    let obs: Vec<(i64, f64)> = by_hour.into_iter().map(|(h, (s, c))| (h, s / c as f64)).collect();
    grid::regularise(&obs, 3600).ok()
}

#[cfg(test)]
mod tests;
