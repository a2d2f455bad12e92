//! What a series' own past forecasts say: which candidate point forecast to trust (the model,
//! seasonal naive, or their mean) and how wide its intervals must be at each horizon step.
//!
//! The engine refits its model at earlier origins (folds) and records, for every observed
//! point that followed, the error of the model and of seasonal naive there (`PastError`).
//! From those errors:
//! - `choose` picks the candidate with the lowest (recency-weighted) mean absolute error;
//! - `bands` gives, per horizon step, the weighted quantiles of the chosen candidate's errors
//!   in a window of neighbouring steps (errors grow with the step), from the errors after the
//!   last level shift when enough exist, else from all of them widened.
//!
//! Pure and synchronous. May use: std only.

/// One observed point after a past origin: where it was and each candidate's error there.
#[derive(Clone, Debug, PartialEq)]
pub struct PastError {
    /// 1 = the most recent fold.
    pub fold: usize,
    /// Steps after the fold's origin, 0-based.
    pub step: usize,
    /// Index of the fold's origin in the series (the point is at `origin + step`).
    pub origin: usize,
    /// The observed value.
    pub y: f64,
    /// How much the fold's forecast is like today's: the observed share of the season before
    /// its origin (a forecast made from interpolated history errs more), 1 when all observed.
    pub trust: f64,
    /// Observed − the model's forecast.
    pub model: f64,
    /// Observed − seasonal naive's forecast (None: no season to repeat).
    pub naive: Option<f64>,
}

/// A point forecast the engine can give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Candidate {
    Model,
    SeasonalNaive,
    /// The mean of the two.
    Blend,
}

impl Candidate {
    pub const ALL: [Candidate; 3] = [Candidate::Model, Candidate::SeasonalNaive, Candidate::Blend];

    /// This candidate's error at a point (the blend's error is the mean of the two errors).
    pub fn error(self, e: &PastError) -> Option<f64> {
        match self {
            Candidate::Model => Some(e.model),
            Candidate::SeasonalNaive => e.naive,
            Candidate::Blend => e.naive.map(|n| (n + e.model) / 2.0),
        }
    }

    /// This candidate's forecast from the model's and seasonal naive's.
    pub fn combine(self, model: f64, naive: f64) -> f64 {
        match self {
            Candidate::Model => model,
            Candidate::SeasonalNaive => naive,
            Candidate::Blend => (model + naive) / 2.0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Candidate::Model => "model",
            Candidate::SeasonalNaive => "seasonal naive",
            Candidate::Blend => "mean of model and seasonal naive",
        }
    }
}

/// Weight of fold k (1 = most recent): `decay`^(k − 1).
pub fn fold_weight(fold: usize, decay: f64) -> f64 {
    decay.powi(fold.saturating_sub(1) as i32)
}

/// The first origin whose folds' errors count alone: `since` (the first origin a season past
/// the last level shift) when at least `min` errors follow it; None otherwise (all count).
/// The old level's errors say little about the new one.
pub fn cutoff(errs: &[PastError], since: Option<usize>, min: usize) -> Option<usize> {
    let cp = since?;
    (errs.iter().filter(|e| e.origin >= cp).count() >= min.max(1)).then_some(cp)
}

/// The candidate with the lowest weighted mean absolute error over the folds from origin
/// `from` on (`cutoff`), and each candidate's error (None where it has none). The model wins
/// ties, whenever seasonal naive has no errors, and unless another candidate's error is below
/// (1 − `margin`) × the model's.
pub fn choose(errs: &[PastError], decay: f64, from: Option<usize>, margin: f64) -> (Candidate, [Option<f64>; 3]) {
    let from = from.unwrap_or(0);
    let mae = |c: Candidate| {
        let (mut s, mut w) = (0.0, 0.0);
        for e in errs.iter().filter(|e| e.origin >= from) {
            if e.naive.is_none() {
                continue;
            }
            if let Some(x) = c.error(e).filter(|x| x.is_finite()) {
                let wt = fold_weight(e.fold, decay) * e.trust;
                s += wt * x.abs();
                w += wt;
            }
        }
        (w > 0.0).then(|| s / w)
    };
    let maes = Candidate::ALL.map(mae);
    let mut best = Candidate::Model;
    if let Some(m) = maes[0] {
        // Another candidate must beat the model by `margin` (a share of its error).
        let mut low = m * (1.0 - margin);
        for (c, v) in Candidate::ALL.iter().zip(maes).skip(1) {
            if let Some(v) = v
                && v < low
            {
                low = v;
                best = *c;
            }
        }
    }
    (best, maes)
}

/// Quantile `a` of values with weights: the value at which the cumulative weight (taken at
/// each value's middle) reaches `a` of the total, linear between values. NaN when empty.
pub fn weighted_quantile(v: &mut [(f64, f64)], a: f64) -> f64 {
    v.sort_by(|x, y| x.0.total_cmp(&y.0));
    let total: f64 = v.iter().map(|x| x.1).sum();
    if v.is_empty() || total <= 0.0 {
        return f64::NAN;
    }
    let target = a * total;
    let mut cum = 0.0;
    let mut prev: Option<(f64, f64)> = None;
    for &(x, w) in v.iter() {
        let mid = cum + w / 2.0;
        if mid >= target {
            return match prev {
                Some((px, pm)) if mid > pm => px + (x - px) * (target - pm) / (mid - pm),
                _ => x,
            };
        }
        prev = Some((x, mid));
        cum += w;
    }
    v[v.len() - 1].0
}

/// How the bands were made, for the forecast's `intervals_from`.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// Per step 0..hf: the 2.5 %, 10 %, 90 % and 97.5 % quantiles of the errors.
    pub q: Vec<[f64; 4]>,
    /// Errors used.
    pub used: usize,
    /// The first origin after the last level shift, when its folds' errors were used alone.
    pub after_shift: Option<usize>,
    /// The widening applied because too few errors followed the last level shift.
    pub widened: Option<f64>,
}

/// How `bands` weighs and keeps past errors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weighing {
    /// Errors of steps within ± `window` × the horizon of a step give its band (0: pooled).
    pub window: f64,
    /// Fold recency weight (`fold_weight`).
    pub decay: f64,
    /// Only the folds from this origin on count (`cutoff`).
    pub from: Option<usize>,
    /// The widening when a level shift was found but too few errors follow it.
    pub widen: Option<f64>,
    /// With a floor, errors count relative to their forecast's size (|forecast| + floor); the
    /// bands are then in units of size.
    pub floor: Option<f64>,
}

/// Quantiles per horizon step of `c`'s errors: at step s, the errors of steps within
/// ± `w.window` × `hf` (at least ± 1) of s, weighted by fold recency and trust; only the
/// folds from `w.from` on, widened by `w.widen`. None when fewer than 20 errors count.
pub fn bands(errs: &[PastError], c: Candidate, hf: usize, w: &Weighing) -> Option<Calibration> {
    let Weighing {
        window,
        decay,
        from,
        widen,
        floor,
    } = *w;
    // With a floor, an error counts relative to its forecast's size (|forecast| + floor).
    let score = |e: &PastError| {
        c.error(e).filter(|x| x.is_finite()).map(|x| match floor {
            Some(f) => x / ((e.y - x).abs() + f),
            None => x,
        })
    };
    let use_: Vec<(usize, f64, f64)> = errs
        .iter()
        .filter(|e| e.origin >= from.unwrap_or(0))
        .filter_map(|e| score(e).map(|x| (e.step, x, fold_weight(e.fold, decay) * e.trust)))
        .collect();
    if use_.len() < 20 || hf == 0 {
        return None;
    }
    let half = if window > 0.0 {
        ((window * hf as f64).round() as usize).max(1)
    } else {
        hf
    };
    let scale = widen.unwrap_or(1.0);
    let mut by_step: Vec<Vec<(f64, f64)>> = vec![Vec::new(); hf];
    for (s, x, w) in &use_ {
        if *s < hf {
            by_step[*s].push((*x, *w));
        }
    }
    let mut buf: Vec<(f64, f64)> = Vec::new();
    let band_of = |buf: &mut Vec<(f64, f64)>| [0.025, 0.1, 0.9, 0.975].map(|a| scale * weighted_quantile(buf, a));
    let q = if half >= hf {
        // Pooled: one band for every step.
        buf.extend(use_.iter().map(|(_, x, w)| (*x, *w)));
        vec![band_of(&mut buf); hf]
    } else {
        (0..hf)
            .map(|s| {
                buf.clear();
                for v in &by_step[s.saturating_sub(half)..(s + half + 1).min(hf)] {
                    buf.extend_from_slice(v);
                }
                if buf.len() < 20 {
                    // Too few near this step (a short horizon): every step's errors.
                    buf.clear();
                    buf.extend(use_.iter().map(|(_, x, w)| (*x, *w)));
                }
                band_of(&mut buf)
            })
            .collect()
    };
    Some(Calibration {
        q,
        used: use_.len(),
        after_shift: from,
        widened: widen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(fold: usize, step: usize, model: f64, naive: f64) -> PastError {
        PastError {
            fold,
            step,
            origin: 1000 - 100 * fold,
            y: 0.0,
            trust: 1.0,
            model,
            naive: Some(naive),
        }
    }

    #[test]
    fn the_candidate_with_the_lower_past_error_is_chosen() {
        // Model errors ±1, naive ±3 → model; the blend's errors are the mean of the two
        // (1 + 3) / 2 = 2 in absolute value when they agree in sign, so it loses too.
        let errs: Vec<PastError> = (0..30)
            .map(|s| {
                let sign = if s % 2 == 0 { 1.0 } else { -1.0 };
                err(1, s, sign, 3.0 * sign)
            })
            .collect();
        let (c, maes) = choose(&errs, 1.0, None, 0.0);
        assert_eq!(c, Candidate::Model);
        assert_eq!(maes, [Some(1.0), Some(3.0), Some(2.0)]);
        // Errors of opposite signs cancel in the blend: |(2 − 2) / 2| = 0 beats both.
        let errs: Vec<PastError> = (0..30).map(|s| err(1, s, 2.0, -2.0)).collect();
        assert_eq!(choose(&errs, 1.0, None, 0.0).0, Candidate::Blend);
        // Without a season there is nothing to compare: the model.
        let errs: Vec<PastError> = (0..30)
            .map(|s| PastError {
                naive: None,
                ..err(1, s, 5.0, 0.0)
            })
            .collect();
        assert_eq!(choose(&errs, 1.0, None, 0.0), (Candidate::Model, [None, None, None]));
    }

    #[test]
    fn recent_folds_weigh_more_in_the_choice() {
        // Fold 1 (recent): model error 1, naive 4; fold 2: model 5, naive 0.
        // Equal weights: model (1 + 5) / 2 = 3 vs naive (4 + 0) / 2 = 2 → naive.
        // Decay 0.25: model (1 + 0.25 × 5) / 1.25 = 1.8 vs naive (4 + 0) / 1.25 = 3.2 → model.
        let errs = vec![err(1, 0, 1.0, 4.0), err(2, 0, 5.0, 0.0)];
        assert_eq!(choose(&errs, 1.0, None, 0.0).0, Candidate::SeasonalNaive);
        let (c, m) = choose(&errs, 0.25, None, 0.0);
        assert_eq!(c, Candidate::Model);
        assert!((m[0].unwrap() - 1.8).abs() < 1e-12 && (m[1].unwrap() - 3.2).abs() < 1e-12);
    }

    #[test]
    fn weighted_quantiles_interpolate_between_middles() {
        // Equal weights on 1..=5: middles at 0.5, 1.5, …, 4.5 of 5 → the median (2.5) is 3,
        // the 30 % point (1.5) is 2, the 40 % point (2.0) halfway between 2 and 3.
        let mut v: Vec<(f64, f64)> = (1..=5).map(|x| (x as f64, 1.0)).collect();
        assert_eq!(weighted_quantile(&mut v, 0.5), 3.0);
        assert_eq!(weighted_quantile(&mut v, 0.3), 2.0);
        assert!((weighted_quantile(&mut v, 0.4) - 2.5).abs() < 1e-12);
        // Below the first middle and above the last: the extremes.
        assert_eq!(weighted_quantile(&mut v, 0.01), 1.0);
        assert_eq!(weighted_quantile(&mut v, 0.99), 5.0);
        // A heavy value pulls the median: weights 1,1,1,1,6 (total 10) → middle of 5 at 7 > 5.
        v[4].1 = 6.0;
        assert_eq!(weighted_quantile(&mut v, 0.5), 4.0 + (5.0 - 4.0) * (5.0 - 3.5) / (7.0 - 3.5));
        assert!(weighted_quantile(&mut [], 0.5).is_nan());
    }

    fn weigh(window: f64, from: Option<usize>, widen: Option<f64>) -> Weighing {
        Weighing {
            window,
            decay: 1.0,
            from,
            widen,
            floor: None,
        }
    }

    #[test]
    fn bands_follow_the_step_and_the_last_level_shift() {
        // Two folds of 100 steps whose errors grow with the step: ±step/10.
        let mut errs = vec![];
        for fold in 1..=2 {
            for s in 0..100 {
                for sign in [1.0, -1.0] {
                    errs.push(PastError {
                        fold,
                        step: s,
                        origin: 1000 - 100 * fold,
                        y: 0.0,
                        trust: 1.0,
                        model: sign * s as f64 / 10.0,
                        naive: None,
                    });
                }
            }
        }
        let c = bands(&errs, Candidate::Model, 100, &weigh(0.05, None, None)).unwrap();
        // Window ± 5 steps: at step 50 the errors are ±4.5..±5.5, so the 97.5 % quantile is
        // between 5 and 5.5 and the 2.5 % its mirror; at step 5, between 0.5 and 1.
        assert!(c.q[50][3] > 5.0 && c.q[50][3] <= 5.5, "{:?}", c.q[50]);
        assert!((c.q[50][0] + c.q[50][3]).abs() < 1e-9);
        assert!(c.q[5][3] > 0.5 && c.q[5][3] <= 1.0, "{:?}", c.q[5]);
        // Pooled (window 0): every step has the same band.
        let pooled = bands(&errs, Candidate::Model, 100, &weigh(0.0, None, None)).unwrap();
        assert_eq!(pooled.q[5], pooled.q[50]);
        // Folds from origin 900 on (fold 1 starts there): fold 1's 200 errors ≥ 100 remain, alone.
        assert_eq!(cutoff(&errs, Some(900), 100), Some(900));
        let after = bands(&errs, Candidate::Model, 100, &weigh(0.0, Some(900), None)).unwrap();
        assert_eq!((after.used, after.after_shift, after.widened), (200, Some(900), None));
        // From 990 on leaves no fold (< one horizon of 100 errors): all are used, widened 1.5×.
        assert_eq!(cutoff(&errs, Some(990), 100), None);
        assert_eq!(cutoff(&errs, None, 100), None);
        let wide = bands(&errs, Candidate::Model, 100, &weigh(0.0, None, Some(1.5))).unwrap();
        assert_eq!((wide.used, wide.after_shift, wide.widened), (400, None, Some(1.5)));
        assert!((wide.q[0][3] - 1.5 * pooled.q[0][3]).abs() < 1e-9);
        // Fewer than 20 errors: no calibration.
        assert!(bands(&errs[..19], Candidate::Model, 100, &weigh(0.0, None, None)).is_none());
    }
}
