//! Fleet scale over the `aws` traits (moto is far too slow for this, PEERS.md): 15,000 series
//! × 14 days. A synthetic account answers with AWS's limits (≤ 500 queries, ≤ 100,800
//! datapoints per response, NextToken beyond) and counts calls; the test checks that backfill
//! and incremental cycles stay within 5 % of max(⌈queries/500⌉, ⌈datapoints/100,800⌉).

use headroom::aws::synthetic::{SyntheticFleet, fleet_config};
use headroom::domain::*;
use std::collections::HashMap;

/// 5,000 groups x (CPU + desired capacity + memory) = 15,000 series.
pub const GROUPS: usize = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifteen_thousand_series_over_fourteen_days_stay_near_the_lower_bound() {
    let h = fleet_config(headroom::config::Config::embedded().unwrap().headroom);
    let api = SyntheticFleet::new(GROUPS);
    let scope = Scope::new("default", "us-east-1");
    let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
    let c = headroom::collect::collect(&api, &h, &scope, now, &HashMap::new(), true, &Default::default()).await;
    let series = c.wanted.len() as u64;
    assert_eq!(series, 3 * GROUPS as u64);
    let points_each = 14 * 86_400 / 300;
    let datapoints = series * points_each;
    let bound = series.div_ceil(500).max(datapoints.div_ceil(100_800));
    let calls = c.api_calls.get("cloudwatch:GetMetricData");
    assert_eq!(calls, api.calls());
    assert!(calls as f64 <= bound as f64 * 1.05, "backfill: {calls} calls, lower bound {bound}");
    assert!(calls >= bound);
    assert!(
        c.fetched.iter().all(|f| f.len() as u64 == points_each),
        "every point of every series arrived"
    );
    assert_eq!(
        c.api_calls.get("autoscaling:DescribeAutoScalingGroups"),
        GROUPS.div_ceil(100) as u64
    );

    // Incremental, 5 minutes later: every series' cache ends at the last period fetched.
    let frontiers: HashMap<String, Ts> = c
        .wanted
        .iter()
        .zip(&c.fetched_through)
        .map(|(w, t)| (w.query.key(), t.expect("fetched")))
        .collect();
    drop(c);
    api.reset();
    let later = now + chrono::Duration::minutes(5);
    let c2 = headroom::collect::collect(&api, &h, &scope, later, &frontiers, true, &Default::default()).await;
    // Each series needs its new period plus the overlap (default 2 periods).
    let per_series = 1 + u64::from(h.collect.overlap_periods);
    assert!(c2.fetched.iter().all(|f| f.len() as u64 == per_series));
    let bound2 = series.div_ceil(500).max((series * per_series).div_ceil(100_800));
    let calls2 = c2.api_calls.get("cloudwatch:GetMetricData");
    assert!(
        calls2 as f64 <= bound2 as f64 * 1.05 && calls2 >= bound2,
        "incremental: {calls2} calls, lower bound {bound2}"
    );
}
