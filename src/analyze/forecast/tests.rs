//! Forecast tests: crossing dates on series whose answer is known in closed form, growth and
//! changepoints, and every kind of bad input (never a panic, never NaN).

use super::*;
use std::f64::consts::PI;

const STEP: i64 = 300;
const DAY: usize = 288;

/// Deterministic noise in [-1, 1] (a hash of the index), so tests need no RNG state.
fn noise(i: usize) -> f64 {
    let x = (i as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

fn input(y: &[f64], horizon: usize) -> Input<'_> {
    Input {
        y,
        observed: None,
        step_s: STEP,
        horizon,
        periods: None,
        non_negative: None,
    }
}

fn assert_sane(fc: &Forecast, h: usize) {
    for v in [&fc.point, &fc.lo80, &fc.hi80, &fc.lo95, &fc.hi95] {
        assert_eq!(v.len(), h);
        assert!(v.iter().all(|x| x.is_finite()), "non-finite value in {fc:?}");
    }
    for j in 0..h {
        assert!(
            fc.lo95[j] <= fc.lo80[j] && fc.lo80[j] <= fc.point[j] && fc.point[j] <= fc.hi80[j] && fc.hi80[j] <= fc.hi95[j],
            "bands out of order at step {j}: {} {} {} {} {}",
            fc.lo95[j],
            fc.lo80[j],
            fc.point[j],
            fc.hi80[j],
            fc.hi95[j]
        );
    }
}

/// y(t) = a + b t + A sin(2π t / day), t in steps.
fn linear_sine(a: f64, b: f64, amp: f64, t: usize) -> f64 {
    a + b * t as f64 + amp * (2.0 * PI * t as f64 / DAY as f64).sin()
}

#[test]
fn crossing_day_of_linear_growth_with_a_daily_sine_follows_from_the_formula() {
    // 8 days of history, growing 0.005 per 5 minutes (1.44 per day) with a ±10 daily swing
    // and ±0.3 of noise; forecast 4 days.
    let (a, b, amp) = (40.0, 0.005, 10.0);
    let n = 8 * DAY;
    let h = 4 * DAY;
    let y: Vec<f64> = (0..n).map(|t| linear_sine(a, b, amp, t) + 0.3 * noise(t)).collect();
    let fc = forecast(&input(&y, h), &Params::default()).unwrap();
    assert_sane(&fc, h);
    assert!(fc.fallback.is_none(), "{:?}", fc.fallback);
    // The line the noiseless formula first reaches 2.5 days after the origin.
    let line = a + b * (n + 5 * DAY / 2) as f64;
    let t_star = (n..n + h).find(|t| linear_sine(a, b, amp, *t) >= line).unwrap();
    let expected = t_star as i64 * STEP; // y[t] holds at t × STEP; the origin is y[n - 1]
    let origin = (n as i64 - 1) * STEP;
    match crossing(&fc, y[n - 1], origin, STEP, line) {
        Crossing::At { at, earliest, latest } => {
            assert_eq!(at.div_euclid(86_400), expected.div_euclid(86_400), "crossing day");
            assert!(
                (at - expected).abs() <= 6 * STEP,
                "at {at} vs formula {expected}: off by more than 30 minutes"
            );
            assert!(earliest <= at && latest.is_none_or(|l| l >= at));
        }
        other => panic!("expected a crossing near {expected}, got {other:?}"),
    }
    // A line above the formula's maximum over the horizon is not crossed.
    let top = (n..n + h).map(|t| linear_sine(a, b, amp, t)).fold(f64::MIN, f64::max);
    assert!(matches!(
        crossing(&fc, y[n - 1], origin, STEP, top + 5.0),
        Crossing::NotWithinHorizon { .. }
    ));
}

#[test]
fn crossing_of_a_straight_forecast_is_exact() {
    // point = 10 + 2j, band ±c: point reaches L at ceil((L-10)/2), the upper 80 % bound
    // (+c) earlier, the lower one (−c) later.
    let h = 50;
    let c = 6.0;
    let point: Vec<f64> = (0..h).map(|j| 10.0 + 2.0 * j as f64).collect();
    let fc = Forecast {
        lo80: point.iter().map(|v| v - c).collect(),
        hi80: point.iter().map(|v| v + c).collect(),
        lo95: point.iter().map(|v| v - 2.0 * c).collect(),
        hi95: point.iter().map(|v| v + 2.0 * c).collect(),
        point,
        model: "test".into(),
        chosen: "model".into(),
        periods: vec![],
        fallback: None,
        intervals_from: String::new(),
        outliers: 0,
    };
    let line = 51.0;
    let first = |off: f64| ((line - off - 10.0) / 2.0).ceil() as i64;
    let (origin, step) = (1_000, 60);
    let at_step = |j: i64| origin + (j + 1) * step;
    assert_eq!(
        crossing(&fc, 9.0, origin, step, line),
        Crossing::At {
            at: at_step(first(0.0)),
            earliest: at_step(first(c)),
            latest: Some(at_step(first(-c)))
        }
    );
    // The lower bound never reaches a line near the end: latest is beyond the horizon.
    let line2 = 10.0 + 2.0 * (h - 2) as f64;
    assert!(matches!(crossing(&fc, 9.0, origin, step, line2), Crossing::At { latest: None, .. }));
    assert_eq!(crossing(&fc, 60.0, origin, step, 55.0), Crossing::Already);
    assert_eq!(crossing(&fc, 9.0, origin, step, 1e9), Crossing::NotWithinHorizon { earliest: None });
}

#[test]
fn growth_of_a_compounding_series_is_its_monthly_rate() {
    // 10 % per 30 days, compounding per step, with a daily swing that averages out.
    let g30: f64 = 0.10;
    let per_step = (1.0 + g30).ln() / (30.0 * DAY as f64);
    let y: Vec<f64> = (0..21 * DAY)
        .map(|t| 100.0 * (per_step * t as f64).exp() * (1.0 + 0.2 * (2.0 * PI * t as f64 / DAY as f64).sin()))
        .collect();
    let g = growth(&y, DAY).unwrap();
    assert!((g.per_30d - g30).abs() < 1e-3, "{g:?}");
    assert!(g.lo80 <= g.per_30d && g.per_30d <= g.hi80);
    assert_eq!(g.fit, "log-linear");
    assert_eq!(g.days, 21);
    assert!(growth(&y[..6 * DAY], DAY).is_none(), "6 days are not enough");
}

#[test]
fn a_step_change_resets_the_growth_baseline() {
    // 14 flat days at 100, then 10 days from 300 growing 3 % per 30 days.
    let per_day = (1.03f64).ln() / 30.0;
    let mut y = vec![];
    for d in 0..24 {
        let level = if d < 14 { 100.0 } else { 300.0 * (per_day * (d - 14) as f64).exp() };
        for t in 0..DAY {
            y.push(level + 0.5 * noise(d * DAY + t));
        }
    }
    let g = growth(&y, DAY).unwrap();
    let ago = g.changepoint_days_ago.expect("the step is a changepoint");
    assert!((9..=11).contains(&ago), "changepoint {ago} days ago, expected about 10: {g:?}");
    assert!((g.per_30d - 0.03).abs() < 0.01, "growth since the step: {g:?}");
}

#[test]
fn an_incident_spike_does_not_bend_the_forecast() {
    let n = 8 * DAY;
    let clean: Vec<f64> = (0..n).map(|t| linear_sine(50.0, 0.0, 10.0, t) + noise(t)).collect();
    let mut spiked = clean.clone();
    // a one-hour incident three days before the end
    for v in &mut spiked[n - 3 * DAY..n - 3 * DAY + 12] {
        *v += 500.0;
    }
    let p = Params::default();
    let a = forecast(&input(&clean, DAY), &p).unwrap();
    let b = forecast(&input(&spiked, DAY), &p).unwrap();
    assert!(b.outliers >= 12, "the spike is found: {}", b.outliers);
    let worst = a.point.iter().zip(&b.point).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(worst < 2.0, "spike moved the forecast by {worst}");
    // A level shift at the end is not an outlier: the forecast follows it.
    let mut shifted = clean.clone();
    for v in &mut shifted[n - 36..] {
        *v += 100.0;
    }
    let c = forecast(&input(&shifted, DAY), &p).unwrap();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&c.point[..12]) > mean(&a.point[..12]) + 50.0, "shift followed");
}

#[test]
fn short_history_falls_back_explicitly() {
    let y: Vec<f64> = (0..DAY + DAY / 2).map(|t| linear_sine(50.0, 0.0, 10.0, t)).collect();
    let fc = forecast(&input(&y, DAY), &Params::default()).unwrap();
    assert_sane(&fc, DAY);
    assert!(fc.fallback.as_deref().is_some_and(|f| f.contains("no season")), "{:?}", fc.fallback);
    assert!(fc.periods.is_empty());
    // 5 points: the mean, with the range as its interval
    let fc = forecast(&input(&[1.0, 2.0, 3.0, 4.0, 5.0], 3), &Params::default()).unwrap();
    assert_eq!(fc.model, "mean");
    assert_eq!(fc.point, vec![3.0; 3]);
    assert_eq!((fc.lo80[0], fc.hi80[0]), (1.0, 5.0));
}

#[test]
fn bad_inputs_give_an_answer_or_a_clear_error_never_nan() {
    let p = Params::default();
    let base: Vec<f64> = (0..4 * DAY).map(|t| linear_sine(50.0, 0.001, 10.0, t) + noise(t)).collect();
    // NaN, infinities and a long gap (all NaN) in the middle
    let mut holes = base.clone();
    holes[100] = f64::NAN;
    holes[200] = f64::INFINITY;
    holes[300] = f64::NEG_INFINITY;
    for v in &mut holes[500..800] {
        *v = f64::NAN;
    }
    // NaN at both ends
    holes[0] = f64::NAN;
    let last = holes.len() - 1;
    holes[last] = f64::NAN;
    let fc = forecast(&input(&holes, DAY), &p).unwrap();
    assert_sane(&fc, DAY);
    // impossible negatives in a non-negative quantity are treated as missing
    let mut neg = base.clone();
    neg[50] = -1e6;
    let mut inp = input(&neg, DAY);
    inp.non_negative = Some(true);
    let fc = forecast(&inp, &p).unwrap();
    assert_sane(&fc, DAY);
    assert!(fc.lo95.iter().all(|v| *v >= 0.0));
    // constant
    let fc = forecast(&input(&[7.0; 1000], 10), &p).unwrap();
    assert_eq!(fc.point, vec![7.0; 10]);
    assert_eq!(fc.model, "constant");
    // sparse: mostly zero with rare bursts
    let sparse: Vec<f64> = (0..4 * DAY).map(|t| if t % 97 == 0 { 50.0 } else { 0.0 }).collect();
    let fc = forecast(&input(&sparse, DAY), &p).unwrap();
    assert_sane(&fc, DAY);
    assert!(
        fc.lo95.iter().all(|v| *v >= 0.0),
        "a non-negative history gives non-negative bounds"
    );
    // huge and tiny magnitudes
    let huge: Vec<f64> = base.iter().map(|v| v * 1e250).collect();
    assert_sane(&forecast(&input(&huge, DAY), &p).unwrap(), DAY);
    // errors, not panics
    assert!(matches!(forecast(&input(&[], 5), &p), Err(ForecastError::NotEnoughHistory(_))));
    assert!(matches!(forecast(&input(&[1.0], 5), &p), Err(ForecastError::NotEnoughHistory(_))));
    assert!(matches!(
        forecast(&input(&[f64::NAN; 50], 5), &p),
        Err(ForecastError::NotEnoughHistory(_))
    ));
    assert_eq!(forecast(&input(&base, 0), &p), Err(ForecastError::NoHorizon));
    assert!(growth(&[f64::NAN; 3000], DAY).is_none());
}

#[test]
fn duplicate_and_out_of_order_timestamps_forecast_like_the_clean_series() {
    let n = 4 * DAY;
    let clean: Vec<(i64, f64)> = (0..n)
        .map(|t| (t as i64 * STEP, linear_sine(50.0, 0.0, 10.0, t) + noise(t)))
        .collect();
    let mut messy = clean.clone();
    messy.reverse();
    messy.push(clean[10]); // an exact duplicate averages to the same value
    let a = grid::regularise(&clean, STEP).unwrap();
    let b = grid::regularise(&messy, STEP).unwrap();
    assert_eq!(a.values, b.values);
    assert_eq!(b.merged, 1);
    let p = Params::default();
    assert_eq!(forecast(&input(&a.values, DAY), &p), forecast(&input(&b.values, DAY), &p));
}

#[test]
fn intervals_cover_about_their_nominal_share_on_a_noisy_seasonal_series() {
    // Gaussian-ish noise (sum of three uniforms, sd 1): the 80 % band should hold roughly 80 %
    // of the next day's points and the 95 % band more than the 80 % one.
    let n = 10 * DAY;
    let y: Vec<f64> = (0..n + DAY)
        .map(|t| linear_sine(100.0, 0.0, 20.0, t) + (noise(t) + noise(t + 7_000_000) + noise(t + 13_000_000)))
        .collect();
    let fc = forecast(&input(&y[..n], DAY), &Params::default()).unwrap();
    let share = |lo: &[f64], hi: &[f64]| (0..DAY).filter(|j| lo[*j] <= y[n + j] && y[n + j] <= hi[*j]).count() as f64 / DAY as f64;
    let c80 = share(&fc.lo80, &fc.hi80);
    let c95 = share(&fc.lo95, &fc.hi95);
    assert!((0.65..=0.95).contains(&c80), "80 % band holds {c80}");
    assert!(c95 >= c80 && c95 >= 0.85, "95 % band holds {c95}");
    assert!(fc.intervals_from.contains("past forecasts"), "{}", fc.intervals_from);
}

/// A day whose shape is a square wave: `high` for the first `on` steps, `low` after.
fn square_day(t: usize, on: usize, low: f64, high: f64) -> f64 {
    if t % DAY < on { high } else { low }
}

#[test]
fn seasonal_naive_is_chosen_when_the_past_origins_say_it_errs_less() {
    // 12 days whose daily shape is a square wave on for 8 hours; from day 6 on, for 16 hours.
    // The model's seasonal profile (a 28-day window) blends both shapes, so at the four past
    // origins (days 8–11, all after the change) it misses 8 hours of each day by about half the
    // step; seasonal naive repeats the day before exactly (errors = the ±0.5 noise only).
    let n = 12 * DAY;
    let y: Vec<f64> = (0..n)
        .map(|t| square_day(t, if t < 6 * DAY { 96 } else { 192 }, 10.0, 110.0) + 0.5 * noise(t))
        .collect();
    let fc = forecast(&input(&y, DAY), &Params::default()).unwrap();
    assert_sane(&fc, DAY);
    assert_eq!(fc.chosen, "seasonal naive", "{}", fc.model);
    assert!(fc.model.starts_with("seasonal naive (288), chosen over MSTL"), "{}", fc.model);
    // The forecast is the last day, step for step (no clamping: every value is positive).
    for j in 0..DAY {
        assert_eq!(fc.point[j], y[n - DAY + j], "step {j}");
    }
    // With the choice off, the model's smoothed profile stays: on average it is further from
    // the day that repeats than the ±0.5 noise (seasonal naive's distance here is 0).
    let p = Params {
        select: false,
        ..Params::default()
    };
    let m = forecast(&input(&y, DAY), &p).unwrap();
    assert_eq!(m.chosen, "model");
    let off = (0..DAY).map(|j| (m.point[j] - y[n - DAY + j]).abs()).sum::<f64>() / DAY as f64;
    assert!(off > 1.0, "the model is {off} from the last day on average");
}

#[test]
fn intervals_use_only_the_errors_after_a_level_shift() {
    // 10 days at 100 with noise ±1, then 3 days at 300 (same noise). At the four past origins
    // (one day apart), folds 3 and 4 start before the shift and miss it by about 200 on their
    // whole day; folds 1 and 2 start a day or more after it. The guard keeps folds 1 and 2
    // (2 × 288 = 576 errors ≥ one horizon), so the 80 % band is a few units wide; without it,
    // half the errors are ~200 and the band's upper 90 % quantile is ~200 wide.
    let n = 13 * DAY;
    let y: Vec<f64> = (0..n)
        .map(|t| if t < 10 * DAY { 100.0 } else { 300.0 } + noise(t) + linear_sine(0.0, 0.0, 5.0, t))
        .collect();
    let p = Params {
        relative: 0.0,
        ..Params::default()
    };
    let guarded = forecast(&input(&y, DAY), &p).unwrap();
    assert!(guarded.intervals_from.contains("level shift"), "{}", guarded.intervals_from);
    let open = forecast(
        &input(&y, DAY),
        &Params {
            shift_guard: false,
            ..p.clone()
        },
    )
    .unwrap();
    let width = |f: &Forecast| f.hi80[0] - f.lo80[0];
    assert!(width(&guarded) < 20.0, "guarded band {}", width(&guarded));
    assert!(width(&open) > 100.0, "unguarded band {}", width(&open));
    // The level the forecast follows is the new one.
    assert!((guarded.point[0] - 300.0).abs() < 10.0, "{}", guarded.point[0]);
}

#[test]
fn relative_errors_make_the_band_follow_the_forecasts_size() {
    // A daily sine between 20 and 180 whose noise is 10 % of the value: errors relative to the
    // forecast's size give a band ~ size × the relative quantile, so it is wider at the peak
    // (step 72: sin = 1, value 180) than at the trough (step 216: value 20) in about that ratio;
    // absolute errors pooled over the horizon give every step the same width.
    let n = 10 * DAY;
    let y: Vec<f64> = (0..n)
        .map(|t| {
            let v = linear_sine(100.0, 0.0, 80.0, t);
            v * (1.0 + 0.1 * noise(t))
        })
        .collect();
    let rel = forecast(&input(&y, DAY), &Params::default()).unwrap();
    let abs = forecast(
        &input(&y, DAY),
        &Params {
            relative: 0.0,
            ..Params::default()
        },
    )
    .unwrap();
    let w = |f: &Forecast, j: usize| f.hi80[j] - f.lo80[j];
    // Peak and trough sizes are |forecast| + 0.1 × mean|y| = 180 + 10 and 20 + 10: ratio 190 / 30.
    let ratio = w(&rel, 72) / w(&rel, 216);
    assert!(
        (3.5..=9.0).contains(&ratio),
        "peak/trough width ratio {ratio}, expected about {:.1}",
        190.0 / 30.0
    );
    assert!((w(&abs, 72) - w(&abs, 216)).abs() < 1e-9, "absolute band differs by step");
}

#[test]
fn a_level_shift_is_found_at_the_start_of_the_new_level() {
    // 9 days at 50 and 5 days at 80 (noise ±0.5): the new level starts at day 9's first index.
    let y: Vec<f64> = (0..14 * DAY)
        .map(|t| if t < 9 * DAY { 50.0 } else { 80.0 } + 0.5 * noise(t))
        .collect();
    assert_eq!(level_shift(&y, DAY), Some(9 * DAY));
    // A partial first day shifts the grid: whole days are counted from the end.
    let off = 100;
    let mut z = vec![50.0; off];
    z.extend_from_slice(&y);
    assert_eq!(level_shift(&z, DAY), Some(off + 9 * DAY));
    // No shift, too few days, or no day length: None.
    let flat: Vec<f64> = (0..14 * DAY).map(|t| 50.0 + 0.5 * noise(t)).collect();
    assert_eq!(level_shift(&flat, DAY), None);
    assert_eq!(level_shift(&y[..6 * DAY], DAY), None);
    assert_eq!(level_shift(&y, 0), None);
}

#[test]
fn hourly_means_fill_the_grid() {
    let pts: Vec<(i64, f64)> = (0..36).map(|i| (i * 300, i as f64)).collect();
    let g = hourly(&pts).unwrap();
    // hour 0: mean of 0..11 = 5.5; hour 1: 17.5; hour 2: 29.5
    assert_eq!(g.values, vec![5.5, 17.5, 29.5]);
    assert_eq!(g.step_s, 3600);
    assert!(hourly(&[(0, f64::NAN)]).is_none());
}
