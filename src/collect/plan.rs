//! Plans GetMetricData calls: packs series windows into as few calls as the API's limits
//! allow (≤ 500 queries and ≤ 100,800 datapoints per call, one time range per call).
//!
//! Series that share a window (same start, end and period) form a grid of queries × periods.
//! A call covers a rectangle of k queries × T periods with k ≤ 500 and k·T ≤ 100,800; the
//! planner tries every k and keeps the tiling with the fewest calls. For the common shapes
//! this meets the lower bound max(⌈queries/500⌉, ⌈datapoints/100,800⌉) exactly (14 days at
//! 5 min = 4,032 points → 25 series per call; a 3-point incremental window → 500 per call).
//!
//! Pure: no I/O. May use: domain.

use crate::aws::{MAX_DATAPOINTS_PER_CALL, MAX_QUERIES_PER_CALL};
use crate::domain::Ts;
use std::collections::BTreeMap;

/// The window one series needs: [start, end) at `period_s`, aligned to the period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub start: Ts,
    pub end: Ts,
    pub period_s: u32,
}

impl Window {
    pub fn points(&self) -> u64 {
        if self.end <= self.start {
            0
        } else {
            ((self.end - self.start) as u64).div_ceil(u64::from(self.period_s.max(1)))
        }
    }
}

/// One planned call: a time range and the indexes (into the caller's list) of its queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedCall {
    pub start: Ts,
    pub end: Ts,
    pub queries: Vec<usize>,
}

/// The lower bound on calls for a set of windows: max(⌈queries/500⌉, ⌈datapoints/100,800⌉).
pub fn lower_bound(windows: &[Window]) -> u64 {
    let q = windows.iter().filter(|w| w.points() > 0).count() as u64;
    let d: u64 = windows.iter().map(|w| w.points()).sum();
    q.div_ceil(MAX_QUERIES_PER_CALL as u64).max(d.div_ceil(MAX_DATAPOINTS_PER_CALL))
}

/// Best rectangle for q queries of p points each: (queries per call, periods per call, calls).
fn best_tiling(q: u64, p: u64) -> (u64, u64, u64) {
    let mut best = (1, p.min(MAX_DATAPOINTS_PER_CALL), u64::MAX);
    for k in 1..=q.min(MAX_QUERIES_PER_CALL as u64) {
        let t = (MAX_DATAPOINTS_PER_CALL / k).min(p);
        if t == 0 {
            break;
        }
        let calls = q.div_ceil(k) * p.div_ceil(t);
        // Fewest calls; among equals, fewer time slices (longer ranges) then more queries.
        if calls < best.2 || (calls == best.2 && t > best.1) {
            best = (k, t, calls);
        }
    }
    best
}

/// Plans the calls for `windows` (index = the caller's query index). `group` separates
/// queries that must not share a call (percentile statistics, which some endpoints refuse,
/// go in calls of their own so a refusal does not lose the rest).
pub fn plan(windows: &[(Window, u8)]) -> Vec<PlannedCall> {
    let mut groups: BTreeMap<(u8, Window), Vec<usize>> = BTreeMap::new();
    for (i, (w, g)) in windows.iter().enumerate() {
        if w.points() > 0 {
            groups.entry((*g, *w)).or_default().push(i);
        }
    }
    let mut calls = Vec::new();
    for ((_, w), idx) in groups {
        let p = w.points();
        let (k, t, _) = best_tiling(idx.len() as u64, p);
        let step = t as i64 * i64::from(w.period_s);
        for chunk in idx.chunks(k as usize) {
            let mut s = w.start;
            while s < w.end {
                let e = (s + step).min(w.end);
                calls.push(PlannedCall {
                    start: s,
                    end: e,
                    queries: chunk.to_vec(),
                });
                s = e;
            }
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(days: i64, period: u32) -> Window {
        Window {
            start: 0,
            end: days * 86_400,
            period_s: period,
        }
    }

    #[test]
    fn backfill_of_14_days_meets_the_lower_bound() {
        for n in [1usize, 24, 25, 26, 499, 500, 501, 15_000] {
            let ws: Vec<(Window, u8)> = (0..n).map(|_| (w(14, 300), 0)).collect();
            let calls = plan(&ws);
            let bound = lower_bound(&ws.iter().map(|x| x.0).collect::<Vec<_>>());
            // 4,032 points per series: 25 series fill a call exactly.
            assert_eq!(calls.len() as u64, bound, "n={n}");
            assert_eq!(bound, (n as u64 * 4032).div_ceil(100_800).max((n as u64).div_ceil(500)));
        }
    }

    #[test]
    fn every_call_respects_the_limits_and_covers_every_point_once() {
        // Mixed windows: odd lengths, different periods, a percentile group.
        let mut ws = vec![];
        for i in 0..1_234 {
            let period = [60u32, 300, 3600][i % 3];
            let end = 86_400 * (1 + (i as i64 % 9)) + 3600;
            ws.push((
                Window {
                    start: 3600 * (i as i64 % 5),
                    end,
                    period_s: period,
                },
                (i % 2) as u8,
            ));
        }
        let calls = plan(&ws);
        let mut covered = vec![0u64; ws.len()];
        for c in &calls {
            assert!(c.queries.len() <= 500);
            let mut points = 0;
            for &q in &c.queries {
                let win = Window {
                    start: c.start,
                    end: c.end,
                    period_s: ws[q].0.period_s,
                };
                points += win.points();
                covered[q] += win.points();
                assert_eq!(ws[q].1, ws[c.queries[0]].1, "percentile and plain queries share a call");
            }
            assert!(points <= 100_800, "{points} points in one call");
        }
        for (i, (win, _)) in ws.iter().enumerate() {
            assert_eq!(covered[i], win.points(), "series {i}");
        }
    }

    #[test]
    fn awkward_lengths_stay_within_five_percent_of_the_bound() {
        for p in [4033i64, 2017, 8064, 20_161] {
            let ws: Vec<(Window, u8)> = (0..15_000)
                .map(|_| {
                    (
                        Window {
                            start: 0,
                            end: p * 300,
                            period_s: 300,
                        },
                        0,
                    )
                })
                .collect();
            let calls = plan(&ws).len() as f64;
            let bound = lower_bound(&ws.iter().map(|x| x.0).collect::<Vec<_>>()) as f64;
            assert!(calls <= bound * 1.05, "p={p}: {calls} calls vs bound {bound}");
        }
    }
}
