//! Statistics over a window of points: the few the rules and right-sizing need, written so
//! that NaN and infinities in the input are skipped, never propagated.
//!
//! May use: std only.

/// Nearest-rank percentile (`p` in 0–100) of the finite values; None if there are none.
/// Nearest rank: the smallest value with at least p % of the values at or below it.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * v.len() as f64).ceil() as usize;
    // Selection, not a full sort: a fleet's cycle takes tens of thousands of percentiles.
    let k = rank.clamp(1, v.len()) - 1;
    let (_, nth, _) = v.select_nth_unstable_by(k, f64::total_cmp);
    Some(*nth)
}

/// Mean of the finite values.
pub fn mean(values: &[f64]) -> Option<f64> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

pub fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().filter(|x| x.is_finite()).reduce(f64::max)
}

pub fn min(values: &[f64]) -> Option<f64> {
    values.iter().copied().filter(|x| x.is_finite()).reduce(f64::min)
}

pub fn sum(values: &[f64]) -> Option<f64> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    (!v.is_empty()).then(|| v.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        // Nearest rank of p over 1..=100 is ⌈p⌉.
        for p in [1.0, 50.0, 95.0, 99.5, 100.0] {
            assert_eq!(percentile(&v, p), Some(p.ceil()));
        }
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[f64::NAN, 4.0, f64::INFINITY], 99.0), Some(4.0));
    }

    #[test]
    fn summaries_skip_non_finite_values() {
        let v = [2.0, f64::NAN, 4.0, f64::NEG_INFINITY];
        assert_eq!(mean(&v), Some(3.0));
        assert_eq!(max(&v), Some(4.0));
        assert_eq!(min(&v), Some(2.0));
        assert_eq!(sum(&v), Some(6.0));
        assert_eq!(mean(&[f64::NAN]), None);
    }
}
