//! Fleet scale over the `aws` traits (moto is far too slow for this, PEERS.md): 15,000 series
//! × 14 days. A synthetic account answers with AWS's limits (≤ 500 queries, ≤ 100,800
//! datapoints per response, NextToken beyond) and counts calls; the test checks that backfill
//! and incremental cycles stay within 5 % of max(⌈queries/500⌉, ⌈datapoints/100,800⌉).

use headroom::aws::*;
use headroom::config::AsgTarget;
use headroom::domain::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// 7,500 groups x (CPU + memory) = 15,000 series.
pub const GROUPS: usize = 7_500;

pub struct Synthetic {
    pub calls: AtomicU64,
}

impl Metrics for Synthetic {
    async fn get_metric_data(&self, req: &MetricDataRequest) -> Result<MetricDataResponse, AwsError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        assert!(req.queries.len() <= MAX_QUERIES_PER_CALL, "{} queries", req.queries.len());
        let skip: u64 = req.next_token.as_deref().map(|t| t.parse().unwrap()).unwrap_or(0);
        let (mut seen, mut results, mut next_token) = (0u64, Vec::new(), None);
        'q: for (id, q) in &req.queries {
            let p = i64::from(q.period_s);
            let mut r = MetricDataResult {
                id: id.clone(),
                points: vec![],
            };
            let mut t = req.start;
            while t < req.end {
                if seen >= skip {
                    if seen - skip == MAX_DATAPOINTS_PER_CALL {
                        next_token = Some(seen.to_string());
                        results.push(r);
                        break 'q;
                    }
                    r.points.push((t, 50.0));
                }
                seen += 1;
                t += p;
            }
            results.push(r);
        }
        Ok(MetricDataResponse { results, next_token })
    }
}

impl Inventory for Synthetic {
    async fn describe_asgs(&self, _names: &[String], next: Option<String>) -> Result<AsgPage, AwsError> {
        let from: usize = next.map(|t| t.parse().unwrap()).unwrap_or(0);
        let to = (from + 100).min(GROUPS);
        let groups = (from..to)
            .map(|i| AsgState {
                name: format!("g{i:05}"),
                min_size: 1,
                max_size: 4,
                desired_capacity: 2,
                in_service: 2,
                instance_types: vec![("m5.large".into(), 2)],
                overrides: vec![],
                distribution: None,
                target_group_arns: vec![],
                tags: vec![("fleet".into(), "big".into())],
                policies: vec![],
            })
            .collect();
        Ok(AsgPage {
            groups,
            next_token: (to < GROUPS).then(|| to.to_string()),
        })
    }
    async fn describe_policies(&self, _next: Option<String>) -> Result<PolicyPage, AwsError> {
        Ok(PolicyPage::default())
    }
    async fn list_tables(&self, _start: Option<String>) -> Result<TableNamePage, AwsError> {
        Ok(TableNamePage::default())
    }
    async fn describe_table(&self, name: &str) -> Result<TableState, AwsError> {
        Err(AwsError {
            service: "dynamodb",
            operation: "DescribeTable",
            kind: ErrorKind::NotFound,
            message: name.to_string(),
        })
    }
}

impl Billing for Synthetic {
    async fn daily_spend_by_service(&self, _s: &str, _e: &str, _n: Option<String>) -> Result<SpendPage, AwsError> {
        Ok(SpendPage::default())
    }
}

pub fn fleet_config() -> headroom::config::Headroom {
    let mut h = headroom::config::Config::embedded().unwrap().headroom;
    h.targets.asgs = vec![AsgTarget {
        name: None,
        tags: vec![("fleet".into(), "big".into())],
        load_balancer: None,
        target_group: None,
    }];
    h.targets.tables = vec![];
    h.collect.lookback_days = 14;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifteen_thousand_series_over_fourteen_days_stay_near_the_lower_bound() {
    let h = fleet_config();
    let api = Synthetic { calls: AtomicU64::new(0) };
    let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
    let c = headroom::collect::collect(&api, &h, "us-east-1", now, &HashMap::new()).await;
    let series = c.wanted.len() as u64;
    assert_eq!(series, 2 * GROUPS as u64);
    let points_each = 14 * 86_400 / 300;
    let datapoints = series * points_each;
    let bound = series.div_ceil(500).max(datapoints.div_ceil(100_800));
    let calls = c.api_calls.get("cloudwatch:GetMetricData");
    assert_eq!(calls, api.calls.load(Ordering::Relaxed));
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
    api.calls.store(0, Ordering::Relaxed);
    let later = now + chrono::Duration::minutes(5);
    let c2 = headroom::collect::collect(&api, &h, "us-east-1", later, &frontiers).await;
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
