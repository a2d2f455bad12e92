//! The forecasting model: MSTL decomposition (augurs' stlrs) with an AutoETS model of the
//! deseasonalised series (augurs-ets), intervals calibrated on the model's own past forecasts.
//!
//! 1. **Clean**: NaN and infinities are interpolated; a constant series gets a flat forecast.
//! 2. **Seasons**: the configured periods, else the calendar ones the history holds twice
//!    (a day; a week when two weeks are there), else what the augurs-seasons periodogram finds.
//!    A weekly component is kept only when it is strong enough to be more than noise.
//! 3. **Skew**: a series whose values span orders of magnitude (max/median > 20, all positive)
//!    is modelled after a Yeo-Johnson transform (augurs-forecaster), forecasts transformed back.
//! 4. **Outliers**: points whose MSTL remainder is beyond `outlier_mads` robust deviations are
//!    replaced by trend + season and the decomposition is refitted, so an incident spike
//!    neither bends the daily profile nor the level. Only short runs (up to two hours) count:
//!    a longer run, or one that reaches the end of the history, is a level shift and stays.
//! 5. **Point**: the last cycle of each seasonal component, plus AutoETS (AZN: additive errors, trend and damping chosen
//!    by AICc) on the last `trend_days` of the deseasonalised series, plus `snaive_weight` ×
//!    the last day's remainder: a blend with the seasonal-naive forecast of the detrended
//!    series, which beats either alone on real metrics and keeps a growing series' growth.
//! 6. **Past origins**: the same model is refitted at `folds` (4) earlier origins, one horizon
//!    apart, on the last `fold_window_days` (7) of their history; on the observed points that
//!    followed, its errors and seasonal naive's are kept (`calibrate::PastError`). A fold whose
//!    history's last day was mostly interpolated weighs less (by its observed share).
//! 7. **Choice**: per series, the model, seasonal naive or their mean, whichever erred least
//!    at the past origins (recent origins weighted by `fold_decay`); an alternative must beat
//!    the model by `select_margin` (10 %). Named in `model` and `chosen`.
//! 8. **Intervals** (conformal, per series): quantiles of the chosen forecast's past errors,
//!    each taken relative to its forecast's size (|forecast| + `relative` × the mean level,
//!    for non-negative series) and scaled back by the size of each step's forecast, so a band
//!    is wide at a busy peak and narrow at a quiet trough. After a level shift (a changepoint
//!    of the daily means), only the origins a season past it count when they hold a horizon's
//!    errors; otherwise all do, widened by `shift_widen`. Scaled by `interval_scale` (1.05)
//!    and `interval_scale95` (1.1: the 2.5 % tails rest on few errors); past the fold horizon
//!    the width grows as √steps. Every default is checked leave-one-folder-out on the
//!    benchmark (`scripts/forecast_lofo.py`, BENCHMARKS.md).
//!
//! Fallbacks, each named in the result: shorter than two cycles of any season → AutoETS
//! without season; fewer than 10 points → the mean with the history's range as its interval;
//! fewer than 2 points → not enough history.
//!
//! Pure and synchronous. May use: augurs.

use augurs::ets::AutoETS;
use augurs::forecaster::Transformer;
use augurs::forecaster::transforms::YeoJohnson;
use augurs::mstl::stlrs;
use augurs::{Fit, Predict};
use serde::Serialize;

use super::calibrate::{self, Candidate, PastError};
use super::grid::interpolate;

/// Knobs of the model; the defaults are the ones BENCHMARKS.md measures.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Fit on at most this many days of history (at least two cycles of the longest season).
    pub window_days: f64,
    /// Days of deseasonalised history the trend model sees.
    pub trend_days: f64,
    /// Remainders beyond this many robust standard deviations are outliers (0 = keep all).
    pub outlier_mads: f64,
    /// Earlier origins refitted to calibrate the intervals.
    pub folds: usize,
    /// Weight of the seasonal-naive forecast in the point forecast.
    pub snaive_weight: f64,
    /// Consider a weekly season when two weeks of history exist.
    pub weekly: bool,
    /// Keep the weekly component only when its seasonal strength is at least this.
    pub min_weekly_strength: f64,
    /// Robustness iterations of the first decomposition (0 = plain STL).
    pub robust_loops: usize,
    /// Multiply the calibrated 80 % interval half-widths by this.
    pub interval_scale: f64,
    /// The same for the 95 % interval (its tail quantiles rest on fewer past errors).
    pub interval_scale95: f64,
    /// Model skewed positive series after a Yeo-Johnson transform.
    pub transform: bool,
    /// Robustness iterations of the folds' decompositions (None: as `robust_loops`). The folds
    /// only calibrate the intervals: plain STL there is faster and its slightly larger errors
    /// brought coverage closer to nominal.
    pub fold_robust_loops: Option<usize>,
    /// MSTL's refinement iterations over the seasons (stlrs' default is 2; one scored better
    /// on the benchmark and costs half).
    pub mstl_iterations: usize,
    /// STL inner loops (0: stlrs' default).
    pub inner_loops: usize,
    /// Model strictly positive series in logs (multiplicative seasons and growth: a daily
    /// peak grows with the level, as traffic does).
    pub multiplicative: bool,
    /// Fit the trend model on daily means of the deseasonalised series (interpolated back to
    /// the series' steps): over a horizon of days, hour-to-hour noise hides the growth that
    /// daily means show, and AutoETS picks no trend.
    pub trend_daily: bool,
    /// Choose per series between the model, seasonal naive and their mean by their errors at
    /// the past origins.
    pub select: bool,
    /// Seasonal naive or the mean replaces the model only when its past error is below
    /// (1 − this) × the model's.
    pub select_margin: f64,
    /// Weight of the k-th most recent past origin: `fold_decay`^(k − 1) (1: all alike).
    pub fold_decay: f64,
    /// Interval quantiles at a step come from the errors within ± this share of the horizon
    /// of that step (0: all steps pooled).
    pub step_window: f64,
    /// After a level shift in the daily means, calibrate on the errors after it alone.
    pub shift_guard: bool,
    /// Widen the intervals by this when too few errors follow the level shift.
    pub shift_widen: f64,
    /// Calibrate on errors relative to the forecast's size (|forecast| + this × the mean
    /// absolute value) for non-negative series; 0: absolute errors.
    pub relative: f64,
    /// Days of history each past-origin fit sees (None: `window_days`).
    pub fold_window_days: Option<f64>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            window_days: 28.0,
            trend_days: 1.0,
            outlier_mads: 6.0,
            folds: 4,
            snaive_weight: 0.15,
            weekly: true,
            min_weekly_strength: 0.3,
            robust_loops: 2,
            interval_scale: 1.05,
            interval_scale95: 1.1,
            transform: true,
            trend_daily: false,
            multiplicative: false,
            mstl_iterations: 1,
            fold_robust_loops: Some(0),
            inner_loops: 0,
            select: true,
            select_margin: 0.1,
            fold_decay: 0.85,
            step_window: 0.0,
            shift_guard: true,
            shift_widen: 1.25,
            fold_window_days: Some(7.0),
            relative: 0.1,
        }
    }
}

impl Params {
    /// Apply `key=value` overrides (for experiments: `headroom forecast --param`).
    pub fn set(&mut self, kv: &str) -> Result<(), String> {
        let (k, v) = kv.split_once('=').ok_or_else(|| format!("--param {kv:?}: expected key=value"))?;
        let num = || v.trim().parse::<f64>().map_err(|_| format!("--param {k}: {v:?} is not a number"));
        match k.trim() {
            "window_days" => self.window_days = num()?,
            "trend_days" => self.trend_days = num()?,
            "outlier_mads" => self.outlier_mads = num()?,
            "folds" => self.folds = num()? as usize,
            "snaive_weight" => self.snaive_weight = num()?,
            "weekly" => self.weekly = num()? != 0.0,
            "min_weekly_strength" => self.min_weekly_strength = num()?,
            "interval_scale" => self.interval_scale = num()?,
            "interval_scale95" => self.interval_scale95 = num()?,
            "robust_loops" => self.robust_loops = num()? as usize,
            "transform" => self.transform = num()? != 0.0,
            "trend_daily" => self.trend_daily = num()? != 0.0,
            "multiplicative" => self.multiplicative = num()? != 0.0,
            "mstl_iterations" => self.mstl_iterations = num()? as usize,
            "inner_loops" => self.inner_loops = num()? as usize,
            "fold_robust_loops" => self.fold_robust_loops = Some(num()? as usize),
            "select" => self.select = num()? != 0.0,
            "select_margin" => self.select_margin = num()?,
            "fold_decay" => self.fold_decay = num()?,
            "step_window" => self.step_window = num()?,
            "shift_guard" => self.shift_guard = num()? != 0.0,
            "shift_widen" => self.shift_widen = num()?,
            "fold_window_days" => self.fold_window_days = Some(num()?),
            "relative" => self.relative = num()?,
            other => {
                return Err(format!(
                    "--param {other}: unknown (window_days, trend_days, outlier_mads, folds, snaive_weight, weekly, min_weekly_strength, robust_loops, interval_scale, interval_scale95, transform, trend_daily, multiplicative, mstl_iterations, inner_loops, fold_robust_loops, select, select_margin, fold_decay, step_window, shift_guard, shift_widen, fold_window_days, relative)"
                ));
            }
        }
        Ok(())
    }
}

/// What to forecast: a regular series (`y[i]` at origin − (n − i) × step).
#[derive(Clone, Debug)]
pub struct Input<'a> {
    pub y: &'a [f64],
    /// Which points were observed (others were interpolated): errors are measured on observed
    /// points only. None: all observed.
    pub observed: Option<&'a [bool]>,
    pub step_s: i64,
    pub horizon: usize,
    /// Season lengths in steps; None: detect.
    pub periods: Option<Vec<usize>>,
    /// The quantity cannot be negative (utilization, counts, bytes): negative values are
    /// treated as missing and no forecast or bound goes below 0. None: non-negative when the
    /// whole history is.
    pub non_negative: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Forecast {
    pub point: Vec<f64>,
    pub lo80: Vec<f64>,
    pub hi80: Vec<f64>,
    pub lo95: Vec<f64>,
    pub hi95: Vec<f64>,
    /// The model that made the point forecast, e.g. "MSTL(288) + ETS(A,N,N), 30 % seasonal naive".
    pub model: String,
    /// The candidate the series' past origins favoured: "model", "seasonal naive" or "mean
    /// of model and seasonal naive" ("model" for the fallbacks).
    pub chosen: String,
    pub periods: Vec<usize>,
    /// Why a simpler model than MSTL + ETS was used, if one was.
    pub fallback: Option<String>,
    /// Where the intervals come from.
    pub intervals_from: String,
    /// Points replaced as outliers before the final fit.
    pub outliers: usize,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ForecastError {
    #[error("not enough history: {0}")]
    NotEnoughHistory(String),
    #[error("horizon must be at least one step")]
    NoHorizon,
}

const Z80: f64 = 1.281_551_565_545;
const Z95: f64 = 1.959_963_984_540;

/// Forecast `input.horizon` steps after the last point.
pub fn forecast(input: &Input, p: &Params) -> Result<Forecast, ForecastError> {
    let h = input.horizon;
    if h == 0 {
        return Err(ForecastError::NoHorizon);
    }
    let mut y = input.y.to_vec();
    if input.non_negative == Some(true) {
        y.iter_mut().filter(|v| **v < 0.0).for_each(|v| *v = f64::NAN);
    }
    if !y.iter().any(|v| v.is_finite()) {
        return Err(ForecastError::NotEnoughHistory("no finite value".into()));
    }
    interpolate(&mut y);
    let n = y.len();
    if n < 2 {
        return Err(ForecastError::NotEnoughHistory(format!("{n} point; at least 2 are needed")));
    }
    let (lo, hi) = y
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let non_negative = input.non_negative.unwrap_or(lo >= 0.0);
    if hi - lo <= 1e-12 * hi.abs().max(1.0) {
        let v = vec![y[n - 1]; h];
        return Ok(Forecast {
            point: v.clone(),
            lo80: v.clone(),
            hi80: v.clone(),
            lo95: v.clone(),
            hi95: v,
            model: "constant".into(),
            chosen: "model".into(),
            periods: vec![],
            fallback: Some("the series is constant".into()),
            intervals_from: "none: every value is the same".into(),
            outliers: 0,
        });
    }
    if n < 10 {
        return Ok(mean_forecast(&y, h, non_negative));
    }
    let day = if input.step_s > 0 && 86_400 % input.step_s == 0 {
        (86_400 / input.step_s) as usize
    } else {
        0
    };
    let periods = match &input.periods {
        Some(ps) => ps.iter().copied().filter(|q| *q >= 2 && n >= 2 * q).collect::<Vec<_>>(),
        None => detect_periods(&y, day, p),
    };
    let fallback = if periods.is_empty() {
        Some(match &input.periods {
            Some(ps) if !ps.is_empty() => format!("history of {n} points is shorter than two cycles of {ps:?}: no season"),
            _ => "no season found or history shorter than two cycles: ETS without season".into(),
        })
    } else {
        None
    };
    // Skewed positive series: model after Yeo-Johnson.
    let median = quantile_sorted(&sorted(&y), 0.5);
    let mut tf: Option<Tf> = None;
    if p.transform && lo >= 0.0 && median > 0.0 && hi / median > 20.0 {
        let mut t = YeoJohnson::new();
        let mut z = y.clone();
        if t.fit_transform(&mut z).is_ok() && z.iter().all(|v| v.is_finite()) {
            tf = Some(Tf::Yj(t));
        }
    } else if p.multiplicative && lo > 0.05 * median {
        tf = Some(Tf::Log);
    }
    let fit_y = match &tf {
        Some(t) => {
            let mut z = y.clone();
            t.forward(&mut z);
            z
        }
        None => y.clone(),
    };
    let main = Fitted::point(&fit_y, &periods, h, day, p);
    let mut point = main.values.clone();
    // Past origins: the model refitted at `folds` earlier origins (one horizon apart), its
    // errors and seasonal naive's on the observed points that followed, in the original scale.
    // A fold needs two cycles of the shortest season (it drops a longer one it cannot fit):
    // requiring two weeks would leave a 16-day series folds of a few steps.
    let shortest = periods.iter().copied().min().unwrap_or(0);
    let min_train = (2 * shortest).max(10);
    let hf = h.min(n.saturating_sub(min_train) / p.folds.max(1));
    let naive_q = main.periods.first().copied();
    let mut past: Vec<PastError> = Vec::new();
    let mut folds_used = 0;
    let fold_p = Params {
        robust_loops: p.fold_robust_loops.unwrap_or(p.robust_loops),
        window_days: p.fold_window_days.unwrap_or(p.window_days),
        ..p.clone()
    };
    if p.folds > 0 && hf >= 1 {
        for k in 1..=p.folds {
            let q = n - k * hf;
            // The seasons the main fit kept (its weekly-strength test is not repeated).
            let fold_periods: Vec<usize> = main.periods.iter().copied().filter(|x| q >= 2 * x).collect();
            let f = Fitted::point(&fit_y[..q], &fold_periods, hf, day, &fold_p);
            let mut fv = f.values;
            if let Some(t) = &tf {
                t.inverse(&mut fv);
            }
            // The observed share of the season (a day, else `hf` steps) before the origin.
            let back = naive_q.unwrap_or(hf).min(q).max(1);
            let trust = input
                .observed
                .and_then(|o| o.get(q - back..q))
                .map(|o| o.iter().filter(|b| **b).count() as f64 / back as f64)
                .unwrap_or(1.0);
            for (s, fs) in fv.iter().enumerate() {
                let i = q + s;
                if input.observed.is_none_or(|o| o.get(i).copied().unwrap_or(true)) && fs.is_finite() {
                    past.push(PastError {
                        fold: k,
                        step: s,
                        origin: q,
                        y: y[i],
                        trust,
                        model: y[i] - fs,
                        naive: naive_q.filter(|nq| q >= *nq).map(|nq| y[i] - y[q - nq + s % nq]),
                    });
                }
            }
            folds_used += 1;
        }
    }
    if let Some(t) = &tf {
        t.inverse(&mut point);
    }
    // The candidate the past origins favour (since the last level shift, when one is found).
    // The first origin whose history holds a whole season of the current level.
    let shift = if p.shift_guard { super::level_shift(&y, day) } else { None };
    let since = shift.map(|cp| cp + naive_q.unwrap_or(0));
    // Only the folds from there on count when they hold a horizon of errors; a shift with too
    // few errors after it widens the band instead.
    let from = calibrate::cutoff(&past, since, hf.max(20));
    let widen = since
        .filter(|s| from.is_none() && past.iter().any(|e| e.origin < *s))
        .map(|_| p.shift_widen);
    let (chosen, maes) = if p.select {
        calibrate::choose(&past, p.fold_decay, from, p.select_margin)
    } else {
        (Candidate::Model, [None; 3])
    };
    let model_name = main.model.clone() + tf.as_ref().map(Tf::name).unwrap_or("");
    let model = match (chosen, naive_q, maes) {
        (Candidate::Model, _, _) | (_, None, _) => model_name,
        (c, Some(nq), [Some(m), Some(sn), Some(b)]) => {
            for (s, v) in point.iter_mut().enumerate() {
                *v = c.combine(*v, y[n - nq + s % nq]);
            }
            format!(
                "{} ({nq}), chosen over {model_name}: mean absolute error at {folds_used} past origins {:.4} (model {:.4}, seasonal naive {:.4}, mean {:.4})",
                c.name(),
                if c == Candidate::Blend { b } else { sn },
                m,
                sn,
                b
            )
        }
        _ => model_name,
    };
    let mut out = Forecast {
        point: vec![],
        lo80: vec![],
        hi80: vec![],
        lo95: vec![],
        hi95: vec![],
        model,
        chosen: chosen.name().to_string(),
        periods: main.periods.clone(),
        fallback,
        intervals_from: String::new(),
        outliers: main.outliers,
    };
    let floor = (p.relative > 0.0 && non_negative).then(|| p.relative * y.iter().map(|v| v.abs()).sum::<f64>() / n as f64);
    let weighing = calibrate::Weighing {
        window: p.step_window,
        decay: p.fold_decay,
        from,
        widen,
        floor,
    };
    let cal = calibrate::bands(&past, chosen, hf, &weighing);
    let q: Vec<[f64; 4]> = match &cal {
        Some(c) => {
            let mut from = format!(
                "errors of {folds_used} past forecasts of {hf} steps ({} observed points{}{})",
                c.used,
                if p.step_window > 0.0 { ", by horizon step" } else { "" },
                if p.fold_decay < 1.0 { ", recent ones weighted more" } else { "" }
            );
            if let (Some(_), Some(cp)) = (c.after_shift, shift) {
                from += &format!("; only those of origins a season after the level shift {} steps ago", n - cp);
            } else if let Some(w) = c.widened {
                from += &format!("; widened {w}× (too few errors since the level shift)");
            }
            out.intervals_from = from;
            c.q.clone()
        }
        None => {
            // Too short to calibrate: a Gaussian band from one-step differences, growing with √steps.
            let d: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
            let sd = (d.iter().map(|x| x * x).sum::<f64>() / d.len().max(1) as f64).sqrt();
            out.intervals_from = "too little history to calibrate: ±z × the spread of one-step changes, growing with √steps".into();
            vec![[-Z95 * sd, -Z80 * sd, Z80 * sd, Z95 * sd]]
        }
    };
    let hf = q.len().max(1);
    for (s, f) in point.iter_mut().enumerate() {
        if !f.is_finite() {
            *f = y[n - 1];
        }
        let grow = if s >= hf { ((s + 1) as f64 / hf as f64).sqrt() } else { 1.0 };
        let (k, k95) = (grow * p.interval_scale, grow * p.interval_scale95);
        let clamp = |v: f64| if non_negative { v.max(0.0) } else { v };
        let pt = clamp(*f);
        let size = floor.filter(|_| cal.is_some()).map(|f| pt.abs() + f).unwrap_or(1.0);
        let q = q[s.min(hf - 1)].map(|x| x * size);
        out.lo95.push(clamp(pt + k95 * q[0]).min(pt));
        out.lo80.push(clamp(pt + k * q[1]).min(pt));
        out.hi80.push((pt + k * q[2]).max(pt));
        out.hi95.push((pt + k95 * q[3]).max(pt));
        out.point.push(pt);
    }
    for s in 0..h {
        out.lo95[s] = out.lo95[s].min(out.lo80[s]);
        out.hi95[s] = out.hi95[s].max(out.hi80[s]);
    }
    Ok(out)
}

fn mean_forecast(y: &[f64], h: usize, non_negative: bool) -> Forecast {
    let m = y.iter().sum::<f64>() / y.len() as f64;
    let (lo, hi) = y
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let w = hi - lo;
    let c = |v: f64| if non_negative { v.max(0.0) } else { v };
    Forecast {
        point: vec![m; h],
        lo80: vec![c(lo); h],
        hi80: vec![hi; h],
        lo95: vec![c(lo - w); h],
        hi95: vec![hi + w; h],
        model: "mean".into(),
        chosen: "model".into(),
        periods: vec![],
        fallback: Some(format!("only {} points: the mean, with the history's range", y.len())),
        intervals_from: "the range of the history (80 %), widened by the range again (95 %)".into(),
        outliers: 0,
    }
}

/// Calendar seasons the history holds twice (day; week if strong enough, decided after the
/// decomposition), else the periodogram's strongest period.
fn detect_periods(y: &[f64], day: usize, p: &Params) -> Vec<usize> {
    let n = y.len();
    if day >= 2 && n >= 2 * day {
        let mut v = vec![day];
        if p.weekly && n >= 14 * day {
            v.push(7 * day);
        }
        return v;
    }
    if day >= 2 {
        return vec![];
    }
    use augurs::seasons::Detector as _;
    let det = augurs::seasons::PeriodogramDetector::builder()
        .min_period(4)
        .max_period((n / 2) as u32)
        .build();
    det.detect(y)
        .into_iter()
        .take(1)
        .map(|q| q as usize)
        .filter(|q| *q >= 2 && n >= 2 * q)
        .collect()
}

struct Fitted {
    values: Vec<f64>,
    model: String,
    periods: Vec<usize>,
    outliers: usize,
}

impl Fitted {
    /// The point forecast of `h` steps from `y` with the given seasons.
    fn point(y: &[f64], periods: &[usize], h: usize, day: usize, p: &Params) -> Fitted {
        let n = y.len();
        let unit = if day >= 2 {
            day
        } else {
            periods.iter().copied().min().unwrap_or(24)
        };
        if periods.is_empty() {
            let l = ((p.trend_days * unit as f64) as usize).clamp(10, n);
            let (v, m) = ets(&y[n - l..], h);
            return Fitted {
                values: v,
                model: m,
                periods: vec![],
                outliers: 0,
            };
        }
        let longest = *periods.iter().max().unwrap_or(&1);
        let w = ((p.window_days * unit as f64) as usize).max(2 * longest).min(n);
        let yw = &y[n - w..];
        let Some(mut fit) = mstl(yw, periods, p.robust_loops, p) else {
            let (v, m) = ets(yw, h);
            return Fitted {
                values: v,
                model: m + " (MSTL failed)",
                periods: vec![],
                outliers: 0,
            };
        };
        let mut periods = periods.to_vec();
        // A weak weekly component is noise: drop it and refit with the day alone.
        if periods.len() > 1 {
            let strength = fit.seasonal_strength();
            let keep: Vec<usize> = periods
                .iter()
                .zip(&strength)
                .filter(|(q, s)| **q == periods[0] || **s >= p.min_weekly_strength)
                .map(|(q, _)| *q)
                .collect();
            if keep.len() < periods.len() {
                periods = keep;
                if let Some(f) = mstl(yw, &periods, p.robust_loops, p) {
                    fit = f;
                }
            }
        }
        let mut outliers = 0;
        let mut clean: Vec<f64> = yw.to_vec();
        if p.outlier_mads > 0.0 {
            // Far from the remainder's local median (± two hours): a spike's shadow, the dip
            // a spike leaves in its neighbours' remainders through the trend, stays near it.
            let half = (unit / 12).max(2);
            let r0 = fit.remainder();
            let r: Vec<f64> = r0.iter().zip(rolling_median(r0, half)).map(|(x, m)| x - m).collect();
            let dev: Vec<f64> = r.iter().map(|x| x.abs()).collect();
            let mad = quantile_sorted(&sorted(&dev), 0.5) * 1.4826;
            if mad > 0.0 {
                let far: Vec<bool> = r.iter().map(|x| x.abs() > p.outlier_mads * mad).collect();
                // An isolated spike is an outlier; a long run (over two hours), or a run that
                // reaches the end of the history, is a level shift the forecast must follow.
                let max_run = (unit / 12).max(2);
                let mut i = 0;
                while i < w {
                    if !far[i] {
                        i += 1;
                        continue;
                    }
                    let j = (i..w).find(|k| !far[*k]).unwrap_or(w);
                    if j - i <= max_run && j < w {
                        for k in i..j {
                            clean[k] = yw[k] - r[k];
                            outliers += 1;
                        }
                    }
                    i = j;
                }
                if outliers > 0
                    && let Some(f) = mstl(&clean, &periods, 0, p)
                {
                    fit = f;
                }
            }
        }
        let trend = fit.trend();
        let rem = fit.remainder();
        let deseason: Vec<f64> = trend.iter().zip(rem).map(|(t, r)| t + r).collect();
        let l = ((p.trend_days * unit as f64) as usize).clamp(10, w);
        let (mut values, trend_model) = if p.trend_daily && unit >= 2 && l >= 3 * unit {
            daily_trend(&deseason[w - l..], unit, h)
        } else {
            ets(&deseason[w - l..], h)
        };
        for (comp, q) in fit.seasonal().iter().zip(&periods) {
            for (s, v) in values.iter_mut().enumerate() {
                *v += comp[w - q + (s % q)];
            }
        }
        let mut model = format!(
            "MSTL({}) + {trend_model}",
            periods.iter().map(|q| q.to_string()).collect::<Vec<_>>().join(", ")
        );
        if p.snaive_weight > 0.0 {
            let q = periods[0];
            // The seasonal-naive forecast of the detrended series: the last cycle's remainder
            // (its shape beyond the smoothed season) joins the trend and the seasons, so a
            // growing series keeps its growth over a horizon of many cycles.
            for (s, v) in values.iter_mut().enumerate() {
                *v += p.snaive_weight * rem[w - q + (s % q)];
            }
            model += &format!(", {:.0} % seasonal naive", p.snaive_weight * 100.0);
        }
        Fitted {
            values,
            model,
            periods,
            outliers,
        }
    }
}

/// MSTL of `y`; with `robust_loops` > 0, STL's robustness iterations down-weight points with
/// large remainders (an incident would otherwise leak into every day's seasonal profile).
fn mstl(y: &[f64], periods: &[usize], robust_loops: usize, p: &Params) -> Option<stlrs::MstlResult<f64>> {
    let mut stl = stlrs::StlParams::new();
    if robust_loops > 0 {
        stl.robust(true).outer_loops(robust_loops);
    }
    if p.inner_loops > 0 {
        stl.inner_loops(p.inner_loops);
    }
    let r = stlrs::MstlParams::new()
        .iterations(p.mstl_iterations.max(1))
        .stl_params(stl)
        .fit(y, periods)
        .ok()?;
    r.trend().iter().all(|v| v.is_finite()).then_some(r)
}

/// A transform the model works in: Yeo-Johnson (skewed data) or the logarithm (multiplicative).
enum Tf {
    Yj(YeoJohnson),
    Log,
}

impl Tf {
    fn forward(&self, v: &mut [f64]) {
        match self {
            Tf::Yj(t) => {
                let _ = t.transform(v);
            }
            Tf::Log => v.iter_mut().for_each(|x| *x = x.ln()),
        }
    }
    fn inverse(&self, v: &mut [f64]) {
        match self {
            Tf::Yj(t) => {
                let _ = t.inverse_transform(v);
            }
            Tf::Log => v.iter_mut().for_each(|x| *x = x.exp()),
        }
    }
    fn name(&self) -> &'static str {
        match self {
            Tf::Yj(_) => ", Yeo-Johnson",
            Tf::Log => ", in logs",
        }
    }
}

/// Means of the whole days (`unit` steps each) at the end of `y`, oldest first; a partial
/// first day is left out.
pub fn daily_means(y: &[f64], unit: usize) -> Vec<f64> {
    let days = y.len() / unit.max(1);
    let off = y.len() - days * unit;
    (0..days)
        .map(|d| y[off + d * unit..off + (d + 1) * unit].iter().sum::<f64>() / unit as f64)
        .collect()
}

/// AutoETS on the daily means of `y` (`unit` steps a day, whole days from the end), its daily
/// forecasts interpolated linearly between day centres back to `h` steps.
fn daily_trend(y: &[f64], unit: usize, h: usize) -> (Vec<f64>, String) {
    let means = daily_means(y, unit);
    let days = means.len();
    let ahead = h.div_ceil(unit) + 1;
    let (f, m) = ets(&means, ahead);
    // Centre of the last observed day is at step −unit/2 (relative to the first forecast
    // step 0 = one step after the end); day k ≥ 1 of the forecast is centred k days later.
    let mut knots = vec![means[days - 1]];
    knots.extend(f);
    let values = (0..h)
        .map(|s| {
            let x = (s as f64 + 0.5 + unit as f64 / 2.0) / unit as f64;
            let i = (x.floor() as usize).min(knots.len() - 2);
            let frac = x - i as f64;
            knots[i] + (knots[i + 1] - knots[i]) * frac
        })
        .collect();
    (values, format!("{m} on daily means"))
}

/// AutoETS without season on `y`; the last value if it cannot be fitted.
fn ets(y: &[f64], h: usize) -> (Vec<f64>, String) {
    let fitted = AutoETS::new(1, "AZN").map_err(|_| ()).and_then(|m| m.fit(y).map_err(|_| ()));
    if let Ok(f) = fitted
        && let Ok(fc) = f.predict(h, None)
        && fc.point.iter().all(|v| v.is_finite())
    {
        return (fc.point, format!("ETS({})", f.model().model_type()));
    }
    (vec![y[y.len() - 1]; h], "naive (ETS could not be fitted)".into())
}

/// The median of each point's window of ± `half` points (shorter at the ends).
fn rolling_median(v: &[f64], half: usize) -> Vec<f64> {
    let n = v.len();
    let mut buf = Vec::with_capacity(2 * half + 1);
    (0..n)
        .map(|i| {
            buf.clear();
            buf.extend_from_slice(&v[i.saturating_sub(half)..(i + half + 1).min(n)]);
            let k = buf.len() / 2;
            let (_, m, _) = buf.select_nth_unstable_by(k, f64::total_cmp);
            *m
        })
        .collect()
}

pub(crate) fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    s
}

/// Linear-interpolated quantile of sorted data (type 7); NaN on empty input.
pub(crate) fn quantile_sorted(s: &[f64], a: f64) -> f64 {
    if s.is_empty() {
        return f64::NAN;
    }
    let x = a * (s.len() - 1) as f64;
    let (i, f) = (x.floor() as usize, x - x.floor());
    if i + 1 < s.len() { s[i] + f * (s[i + 1] - s[i]) } else { s[i] }
}
