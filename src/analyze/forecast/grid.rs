//! A series of (time, value) observations put on a regular grid, the way the forecast
//! benchmark protocol does it (../shared/bench/FORECAST_PROTOCOL.md, "Regularisation"):
//! sort, snap each observation to the nearest slot from the first timestamp, average the
//! observations sharing a slot, fill empty slots by linear interpolation and remember which
//! slots were observed. Non-finite values count as missing.
//!
//! Pure. May use: nothing outside std.

/// A regular series: `values[i]` holds at `start + i × step_s`.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub start: i64,
    pub step_s: i64,
    pub values: Vec<f64>,
    /// Whether slot i had at least one finite observation (else it was interpolated).
    pub observed: Vec<bool>,
    /// Observations that shared a slot with another (duplicates, clock repeats).
    pub merged: usize,
    /// Observations dropped because the value was NaN or infinite.
    pub non_finite: usize,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GridError {
    #[error("no finite observation (every value is missing, NaN or infinite)")]
    Empty,
    #[error("step must be a positive number of seconds, got {0}")]
    BadStep(i64),
    #[error("the series would span {0} slots of {1} s (over 10 million): check the step or the timestamps")]
    TooLong(i64, i64),
}

/// The median positive spacing between sorted timestamps, rounded to a whole minute when it is
/// at least a minute (as the benchmark manifest does); None with fewer than two distinct times.
pub fn infer_step(times: &[i64]) -> Option<i64> {
    let mut t: Vec<i64> = times.to_vec();
    t.sort_unstable();
    let mut d: Vec<i64> = t.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0).collect();
    if d.is_empty() {
        return None;
    }
    d.sort_unstable();
    let m = d[d.len() / 2];
    Some(if m >= 60 { ((m + 30) / 60) * 60 } else { m })
}

/// Put `obs` on a grid of `step_s` seconds starting at the first finite observation.
pub fn regularise(obs: &[(i64, f64)], step_s: i64) -> Result<Grid, GridError> {
    if step_s <= 0 {
        return Err(GridError::BadStep(step_s));
    }
    let non_finite = obs.iter().filter(|o| !o.1.is_finite()).count();
    let mut o: Vec<(i64, f64)> = obs.iter().copied().filter(|o| o.1.is_finite()).collect();
    if o.is_empty() {
        return Err(GridError::Empty);
    }
    o.sort_by_key(|p| p.0);
    let t0 = o[0].0;
    // floor((t - t0)/step + 0.5) in integers: (2(t - t0) + step) div (2 step)
    let slot = |t: i64| (2 * (t - t0) + step_s).div_euclid(2 * step_s);
    let last = slot(o[o.len() - 1].0);
    if last >= 10_000_000 {
        return Err(GridError::TooLong(last + 1, step_s));
    }
    let n = last as usize + 1;
    let mut sums = vec![0.0; n];
    let mut counts = vec![0usize; n];
    for (t, v) in &o {
        let k = slot(*t) as usize;
        sums[k] += v;
        counts[k] += 1;
    }
    let observed: Vec<bool> = counts.iter().map(|c| *c > 0).collect();
    let merged = o.len() - observed.iter().filter(|b| **b).count();
    let mut values: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| if *c > 0 { s / *c as f64 } else { f64::NAN })
        .collect();
    interpolate(&mut values);
    Ok(Grid {
        start: t0,
        step_s,
        values,
        observed,
        merged,
        non_finite,
    })
}

/// Fill NaN runs by linear interpolation between their finite neighbours; a run at either
/// end takes the nearest finite value. All-NaN input is left as is.
pub fn interpolate(v: &mut [f64]) {
    let idx: Vec<usize> = (0..v.len()).filter(|i| v[*i].is_finite()).collect();
    let (Some(&first), Some(&last)) = (idx.first(), idx.last()) else {
        return;
    };
    for i in 0..first {
        v[i] = v[first];
    }
    for i in last + 1..v.len() {
        v[i] = v[last];
    }
    for w in idx.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b > a + 1 {
            let (ya, yb) = (v[a], v[b]);
            for (i, x) in v.iter_mut().enumerate().take(b).skip(a + 1) {
                *x = ya + (yb - ya) * (i - a) as f64 / (b - a) as f64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_average_and_gaps_interpolate() {
        // slots 0, 1 (twice: 10 and 20 → 15), 2 missing, 3 = 45; NaN is dropped
        let obs = [(0, 0.0), (300, 10.0), (310, 20.0), (900, 45.0), (600, f64::NAN)];
        let g = regularise(&obs, 300).unwrap();
        assert_eq!(g.values.len(), 4);
        assert_eq!(g.values[1], 15.0);
        // slot 2 lies between 15 (slot 1) and 45 (slot 3)
        assert_eq!(g.values[2], 15.0 + (45.0 - 15.0) / 2.0);
        assert_eq!(g.observed, vec![true, true, false, true]);
        assert_eq!((g.merged, g.non_finite), (1, 1));
    }

    #[test]
    fn out_of_order_and_half_slots_round_up() {
        // 150 s is exactly half a slot: floor(0.5 + 0.5) = 1
        let g = regularise(&[(450, 3.0), (0, 1.0), (150, 2.0)], 300).unwrap();
        assert_eq!(g.values, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        assert_eq!(regularise(&[], 300), Err(GridError::Empty));
        assert_eq!(regularise(&[(0, f64::INFINITY)], 300), Err(GridError::Empty));
        assert_eq!(regularise(&[(0, 1.0)], 0), Err(GridError::BadStep(0)));
        assert!(matches!(
            regularise(&[(0, 1.0), (i64::MAX / 4, 1.0)], 1),
            Err(GridError::TooLong(..))
        ));
        assert_eq!(regularise(&[(5, 1.0)], 60).unwrap().values, vec![1.0]);
    }

    #[test]
    fn step_is_the_median_spacing_rounded_to_a_minute() {
        assert_eq!(infer_step(&[0, 299, 601, 900, 1200]), Some(300));
        assert_eq!(infer_step(&[0, 10, 20]), Some(10));
        assert_eq!(infer_step(&[7, 7]), None);
    }
}
