//! A fleet-scale fake account for benchmarks and the scale test, where moto is far too slow
//! (PEERS.md): `groups` Auto Scaling groups tagged `fleet=big`, no tables, no spend. Its
//! GetMetricData answers like AWS's limits — at most 500 queries and 100,800 datapoints per
//! response, a NextToken beyond — and counts calls, so a caller can compare its call count
//! with the lower bound. A request over the limits is an `InvalidRequest` error, as AWS says.
//!
//! May use: domain, the traits of `aws`. Holds no state but the call counter.

use super::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// `groups` ASGs of two m5.large each; every metric query answers on its full grid.
pub struct SyntheticFleet {
    pub groups: usize,
    pub calls: AtomicU64,
}

impl SyntheticFleet {
    pub fn new(groups: usize) -> Self {
        SyntheticFleet {
            groups,
            calls: AtomicU64::new(0),
        }
    }

    /// GetMetricData calls answered since creation or the last `reset`.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.calls.store(0, Ordering::Relaxed);
    }
}

fn bad_token(op: &'static str, service: &'static str) -> AwsError {
    AwsError {
        service,
        operation: op,
        kind: ErrorKind::InvalidRequest,
        message: "bad NextToken".into(),
    }
}

/// Nothing to assume: the account is in memory.
impl Access for SyntheticFleet {}

impl Metrics for SyntheticFleet {
    async fn get_metric_data(&self, req: &MetricDataRequest) -> Result<MetricDataResponse, AwsError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if req.queries.len() > MAX_QUERIES_PER_CALL {
            return Err(AwsError {
                service: "cloudwatch",
                operation: "GetMetricData",
                kind: ErrorKind::InvalidRequest,
                message: format!("{} queries: the limit is {MAX_QUERIES_PER_CALL}", req.queries.len()),
            });
        }
        let skip: u64 = match req.next_token.as_deref() {
            None => 0,
            Some(t) => t.parse().map_err(|_| bad_token("GetMetricData", "cloudwatch"))?,
        };
        let (mut seen, mut results, mut next_token) = (0u64, Vec::new(), None);
        'q: for (n, (id, q)) in req.queries.iter().enumerate() {
            let p = i64::from(q.period_s.max(1));
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
                    // A daily wave per query, so values differ between series and over time.
                    let phase = (t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU + n as f64;
                    r.points.push((t, 50.0 + 20.0 * phase.sin()));
                }
                seen += 1;
                t += p;
            }
            results.push(r);
        }
        Ok(MetricDataResponse { results, next_token })
    }
}

impl Inventory for SyntheticFleet {
    async fn describe_asgs(&self, _names: &[String], next: Option<String>) -> Result<AsgPage, AwsError> {
        let from: usize = match next {
            None => 0,
            Some(t) => t.parse().map_err(|_| bad_token("DescribeAutoScalingGroups", "autoscaling"))?,
        };
        let to = (from + 100).min(self.groups);
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
            next_token: (to < self.groups).then(|| to.to_string()),
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

impl Billing for SyntheticFleet {
    async fn daily_spend_by_service(&self, _s: &str, _e: &str, _n: Option<String>) -> Result<SpendPage, AwsError> {
        Ok(SpendPage::default())
    }
}

/// The watch configuration that selects the synthetic fleet: ASGs tagged `fleet=big`, no
/// tables, a 14-day lookback.
pub fn fleet_config(mut h: crate::config::Headroom) -> crate::config::Headroom {
    h.targets.asgs = vec![crate::config::AsgTarget {
        name: None,
        tags: vec![("fleet".into(), "big".into())],
        load_balancer: None,
        target_group: None,
        tier: None,
        users_metric: None,
        db_pool_metric: None,
    }];
    h.targets.tables = vec![];
    h.collect.lookback_days = 14;
    h
}

/// The benchmark fleet is never changed.
impl Changes for SyntheticFleet {
    async fn read_group(&self, name: &str) -> Result<GroupConfig, AwsError> {
        Err(cannot_change("autoscaling", "DescribeAutoScalingGroups", name))
    }
    async fn set_group_size(&self, name: &str, _: i32, _: i32, _: i32) -> Result<(), AwsError> {
        Err(cannot_change("autoscaling", "UpdateAutoScalingGroup", name))
    }
    async fn set_target_value(&self, group: &str, _: &str, _: f64) -> Result<(), AwsError> {
        Err(cannot_change("autoscaling", "PutScalingPolicy", group))
    }
    async fn set_mix(&self, group: &str, _: &Mix) -> Result<(), AwsError> {
        Err(cannot_change("autoscaling", "UpdateAutoScalingGroup", group))
    }
    async fn start_refresh(&self, group: &str, _: i32) -> Result<String, AwsError> {
        Err(cannot_change("autoscaling", "StartInstanceRefresh", group))
    }
    async fn read_table(&self, name: &str) -> Result<TableConfig, AwsError> {
        Err(cannot_change("dynamodb", "DescribeTable", name))
    }
    async fn set_table(&self, name: &str, _: &str, _: Option<i64>, _: Option<i64>) -> Result<(), AwsError> {
        Err(cannot_change("dynamodb", "UpdateTable", name))
    }
    async fn set_table_scaling(&self, name: &str, _: Option<(i64, i64)>, _: Option<(i64, i64)>) -> Result<(), AwsError> {
        Err(cannot_change("applicationautoscaling", "RegisterScalableTarget", name))
    }
}
