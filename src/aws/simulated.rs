//! A simulated AWS account for `headroom demo` and tests: a seeded generator (not recorded
//! data) of a small fleet — two Auto Scaling groups and two DynamoDB tables with 5-minute
//! metrics over the last 21 days (daily and weekly seasonality, 15 % month-over-month growth,
//! noise, one past incident, and a bad release 40 minutes before "now" whose errors are still
//! going on) and daily spend by service. Every value is a pure function of
//! (seed, series, timestamp), so any GetMetricData window can be answered, repeatably.
//! It enforces GetMetricData's real limits (500 queries, 100,800 datapoints per call, with
//! NextToken pagination) so collection is exercised as against AWS.
//!
//! May use: domain, the `aws` traits. Plugs in where `sdk::SdkAws` does.

use super::*;
use crate::domain::{IndexState, InstanceOverride, InstancesDistribution, Money, Stat};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use std::f64::consts::PI;
use std::sync::atomic::{AtomicU64, Ordering};

pub const DAY: i64 = 86_400;
/// How much history the simulated account has.
pub const HISTORY_DAYS: i64 = 21;
/// The web ASG's ALB dimension values.
pub const WEB_LB: &str = "app/chat-web/50dc6c495c0c9188";
pub const WEB_TG: &str = "targetgroup/chat-web/73e2d6bc24d8a067";

/// The simulated account. `anchor` is "now" when it was created: data starts 21 days before.
pub struct SimulatedAccount {
    pub seed: u64,
    pub anchor: Ts,
    /// GetMetricData calls answered, for tests and the demo's summary.
    pub metric_calls: AtomicU64,
}

impl SimulatedAccount {
    pub fn new(seed: u64, anchor: Ts) -> Self {
        SimulatedAccount {
            seed,
            anchor,
            metric_calls: AtomicU64::new(0),
        }
    }

    fn origin(&self) -> Ts {
        self.anchor - HISTORY_DAYS * DAY
    }

    /// When the incident happened: six days before the anchor, at 14:00 UTC, for two hours.
    pub fn incident(&self) -> (Ts, Ts) {
        let day_start = (self.anchor - 6 * DAY).div_euclid(DAY) * DAY;
        (day_start + 14 * 3600, day_start + 16 * 3600)
    }

    /// A release 40 minutes before the anchor that raised chat-web's 5xx share to 2.5 %, still
    /// going on: what makes the demo's error-rate alert fire whenever it is run.
    pub fn regression_since(&self) -> Ts {
        self.anchor - 40 * 60
    }

    /// Days since the start of the simulated history.
    fn days_in(&self, t: Ts) -> f64 {
        (t - self.origin()) as f64 / DAY as f64
    }

    fn in_incident(&self, t: Ts) -> bool {
        let (a, b) = self.incident();
        t >= a && t < b
    }

    /// Concurrent users of the chat service at `t`: growth x daily x weekly shape x noise.
    pub fn users(&self, t: Ts) -> f64 {
        let months = (t - self.anchor) as f64 / (30.0 * DAY as f64);
        let growth = 1.15f64.powf(months);
        let hour = (t.rem_euclid(DAY)) as f64 / 3600.0;
        let daily = 1.0 + 0.45 * (2.0 * PI * (hour - 8.0) / 24.0).sin();
        let weekday = ((t.div_euclid(DAY) + 4).rem_euclid(7)) as u32; // 0 = Monday (1970-01-01 was a Thursday)
        let weekly = if weekday >= 5 { 0.72 } else { 1.0 };
        900.0 * growth * daily * weekly * (1.0 + 0.04 * self.noise("users", t))
    }

    /// chat-web's load in instance-equivalents (a c5.xlarge at 100 % CPU is 1): requests per
    /// second at 3.1 % CPU each on one of four instances, plus the incident's extra 30 points.
    fn web_load(&self, t: Ts) -> f64 {
        let rps = self.users(t) * 3.0 / 60.0;
        let cpu4 = 6.0 + rps / 4.0 * 3.1 + if self.in_incident(t) { 30.0 } else { 0.0 } + 2.0 * self.noise("web-load", t);
        (4.0 * cpu4 / 100.0).max(0.01)
    }

    /// chat-web's desired capacity: its target-tracking policy (CPU at 50 %) between min 3 and
    /// max 4. The max is too low: at weekday peaks the group sits at 4, above its target.
    pub fn web_desired(&self, t: Ts) -> i32 {
        ((self.web_load(t) / 0.5).ceil() as i32).clamp(3, 4)
    }

    /// chat-worker's desired capacity: it follows the job queue (one m5.large per 200
    /// concurrent users) between min 2 and max 8, so its floor is low and the rest is spot-able.
    pub fn worker_desired(&self, t: Ts) -> i32 {
        ((self.users(t) / 200.0).ceil() as i32).clamp(2, 8)
    }

    /// Standard-normal-ish noise from (seed, name, t).
    fn noise(&self, name: &str, t: Ts) -> f64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ self.seed;
        for b in name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        let mut rng = SmallRng::seed_from_u64(h ^ (t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let u1: f64 = rng.random::<f64>().max(1e-12);
        let u2: f64 = rng.random::<f64>();
        ((-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()).clamp(-3.5, 3.5)
    }

    /// The value of a series over the period starting at `t`, or None where it has no data.
    pub fn value(&self, q: &MetricQuery, t: Ts) -> Option<f64> {
        if t < self.origin() {
            return None;
        }
        let dim = |name: &str| q.dimensions.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let period = f64::from(q.period_s);
        let users = self.users(t);
        let incident = self.in_incident(t);
        let rps = users * 3.0 / 60.0;
        let key = q.key();
        let n = |s: f64| s * self.noise(&key, t);
        match (q.namespace.as_str(), q.metric.as_str()) {
            ("AWS/EC2", "CPUUtilization") => match dim("AutoScalingGroupName")? {
                // c5.xlarge instances, as many as the autoscaler keeps: CPU is load per instance.
                "chat-web" => Some((self.web_load(t) / f64::from(self.web_desired(t)) * 100.0).clamp(0.0, 100.0)),
                // m5.large workers, mostly idle: the over-provisioned group.
                "chat-worker" => Some((14.0 + 6.0 * (users / 900.0) + n(1.5)).clamp(0.0, 100.0)),
                _ => None,
            },
            ("AWS/AutoScaling", "GroupDesiredCapacity") => match dim("AutoScalingGroupName")? {
                "chat-web" => Some(f64::from(self.web_desired(t))),
                "chat-worker" => Some(f64::from(self.worker_desired(t))),
                _ => None,
            },
            ("CWAgent", "mem_used_percent") => match dim("AutoScalingGroupName")? {
                // A cache that never evicts: 0.9 points a day on top of the load, so the demo's
                // forecast sees memory reach the 80 % rule within days.
                "chat-web" => Some((40.0 + 18.0 * users / 1300.0 + 0.9 * self.days_in(t) + n(1.0)).clamp(0.0, 100.0)),
                _ => None, // the worker has no CloudWatch agent: no memory series
            },
            ("AWS/ApplicationELB", m) if dim("TargetGroup") == Some(WEB_TG) => {
                let load = rps / 4.0 / 20.0; // share of a pod group's comfortable rate
                let avg = 0.06 + 0.09 * load * load + if incident { 0.9 } else { 0.0 };
                let requests = (rps * period * (1.0 + n(0.02))).max(0.0).round();
                match m {
                    "RequestCount" => Some(requests),
                    "TargetResponseTime" => match q.stat {
                        Stat::Percentile(p) => Some(avg * (1.0 + 2.2 * f64::from(p) / 1000.0) * (1.0 + n(0.05)).max(0.5)),
                        _ => Some(avg * (1.0 + n(0.04)).max(0.5)),
                    },
                    "HTTPCode_Target_5XX_Count" => {
                        let share = if incident {
                            0.08
                        } else if t >= self.regression_since() {
                            0.025
                        } else {
                            0.0015
                        };
                        Some((requests * share).round())
                    }
                    "HTTPCode_Target_4XX_Count" => Some((requests * 0.012).round()),
                    _ => None,
                }
            }
            ("AWS/DynamoDB", m) => {
                let table = dim("TableName")?;
                let (share, rcu, wcu) = match table {
                    "chats" => (1.0, 500.0, 200.0),
                    "sessions" => (0.3, 0.0, 0.0),
                    _ => return None,
                };
                let reads = users * 0.5 * share; // per second (002: 0.5 reads per user)
                let writes = users * 0.1 * share;
                match m {
                    "ConsumedReadCapacityUnits" => Some((reads * period * (1.0 + n(0.03))).max(0.0)),
                    "ConsumedWriteCapacityUnits" => Some((writes * period * (1.0 + n(0.03))).max(0.0)),
                    "ProvisionedReadCapacityUnits" if rcu > 0.0 => Some(rcu),
                    "ProvisionedWriteCapacityUnits" if wcu > 0.0 => Some(wcu),
                    "ReadThrottleEvents" if table == "chats" => Some(if incident { (reads * 0.02 * period).round() } else { 0.0 }),
                    "WriteThrottleEvents" if table == "chats" => Some(0.0),
                    "SuccessfulRequestLatency" => Some((4.0 + 0.002 * reads + n(0.3)).max(0.5)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Daily spend of each service over [start, end) days since the epoch.
    fn spend_of_day(&self, day: i64) -> Vec<(String, f64)> {
        let t = day * DAY + DAY / 2;
        let users = self.users(t).max(1.0) / 900.0;
        let d = |k: &str, s: f64| 1.0 + s * self.noise(k, day);
        // Simulated CloudWatch spend steps up 40 % in the last week (a new dashboard with
        // high-resolution metrics): spend up while traffic is flat is what the spend check finds.
        let cw_step = if day * DAY >= self.anchor - 7 * DAY { 1.4 } else { 1.0 };
        vec![
            (
                "Amazon Elastic Compute Cloud - Compute".into(),
                (4.0 * 0.17 + 6.0 * 0.096) * 24.0 * d("ec2", 0.01),
            ),
            (
                "Amazon DynamoDB".into(),
                (500.0 * 0.00013 + 200.0 * 0.00065) * 24.0 + 0.9 * users * d("ddb", 0.03),
            ),
            ("Elastic Load Balancing".into(), 0.0225 * 24.0 + 1.1 * users * d("elb", 0.03)),
            ("AmazonCloudWatch".into(), 2.4 * cw_step * d("cw", 0.02)),
            ("AWS Data Transfer".into(), 3.2 * users * d("dt", 0.05)),
        ]
    }

    fn asg(&self, name: &str) -> Option<AsgState> {
        let tags = vec![
            // Opted in to applying (the demo plans a change; it cannot make one).
            ("headroom:apply".to_string(), "true".to_string()),
            ("headroom:watch".to_string(), "true".to_string()),
            (
                "service-class".to_string(),
                if name == "chat-web" { "critical" } else { "batch" }.to_string(),
            ),
        ];
        match name {
            "chat-web" => Some(AsgState {
                name: name.into(),
                min_size: 3,
                max_size: 4,
                desired_capacity: self.web_desired(self.anchor),
                in_service: self.web_desired(self.anchor),
                instance_types: vec![("c5.xlarge".into(), self.web_desired(self.anchor) as u32)],
                overrides: vec![],
                distribution: None,
                target_group_arns: vec![format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:{WEB_TG}")],
                tags,
                policies: vec![ScalingPolicy {
                    name: "cpu-target-50".into(),
                    policy_type: "TargetTrackingScaling".into(),
                    target_metric: Some("ASGAverageCPUUtilization".into()),
                    target_value: Some(50.0),
                }],
            }),
            "chat-worker" => Some(AsgState {
                name: name.into(),
                min_size: 2,
                max_size: 8,
                desired_capacity: self.worker_desired(self.anchor),
                in_service: self.worker_desired(self.anchor),
                instance_types: vec![("m5.large".into(), self.worker_desired(self.anchor) as u32)],
                overrides: ["m5.large", "m5a.large", "m6i.large"]
                    .iter()
                    .map(|t| InstanceOverride {
                        instance_type: t.to_string(),
                        weighted_capacity: None,
                    })
                    .collect(),
                distribution: Some(InstancesDistribution {
                    on_demand_base_capacity: Some(2),
                    on_demand_percentage_above_base: Some(100),
                    spot_allocation_strategy: Some("price-capacity-optimized".into()),
                    on_demand_allocation_strategy: Some("prioritized".into()),
                }),
                target_group_arns: vec![],
                tags,
                policies: vec![],
            }),
            _ => None,
        }
    }

    fn table(&self, name: &str) -> Option<TableState> {
        match name {
            "chats" => Some(TableState {
                name: name.into(),
                billing_mode: "PROVISIONED".into(),
                read_capacity: Some(500),
                write_capacity: Some(200),
                item_count: Some(48_200_000),
                size_bytes: Some(61_000_000_000),
                gsis: vec![IndexState {
                    name: "by-user".into(),
                    read_capacity: Some(100),
                    write_capacity: Some(200),
                }],
            }),
            "sessions" => Some(TableState {
                name: name.into(),
                billing_mode: "PAY_PER_REQUEST".into(),
                read_capacity: None,
                write_capacity: None,
                item_count: Some(2_100_000),
                size_bytes: Some(900_000_000),
                gsis: vec![],
            }),
            _ => None,
        }
    }
}

fn invalid(op: &'static str, service: &'static str, message: String) -> AwsError {
    AwsError {
        service,
        operation: op,
        kind: ErrorKind::InvalidRequest,
        message,
    }
}

/// Nothing to assume: the account is in memory.
impl Access for SimulatedAccount {}

impl Metrics for SimulatedAccount {
    async fn get_metric_data(&self, req: &MetricDataRequest) -> Result<MetricDataResponse, AwsError> {
        self.metric_calls.fetch_add(1, Ordering::Relaxed);
        if req.queries.len() > MAX_QUERIES_PER_CALL {
            return Err(invalid(
                "GetMetricData",
                "cloudwatch",
                format!("{} queries in one call (limit {MAX_QUERIES_PER_CALL})", req.queries.len()),
            ));
        }
        if req.end <= req.start {
            return Err(invalid("GetMetricData", "cloudwatch", "EndTime must be after StartTime".into()));
        }
        // Like AWS: results come query by query, point by point; a page holds at most
        // 100,800 datapoints and NextToken says where the next page starts.
        let skip: u64 = match &req.next_token {
            None => 0,
            Some(t) => t
                .parse()
                .map_err(|_| invalid("GetMetricData", "cloudwatch", "bad NextToken".into()))?,
        };
        let mut seen = 0u64;
        let mut results = Vec::with_capacity(req.queries.len());
        let mut next_token = None;
        'outer: for (id, q) in &req.queries {
            let period = i64::from(q.period_s.max(1));
            let first = req.start.div_euclid(period) * period;
            let mut r = MetricDataResult {
                id: id.clone(),
                points: vec![],
            };
            let mut t = if first < req.start { first + period } else { first };
            while t < req.end {
                if let Some(v) = self.value(q, t) {
                    if seen >= skip {
                        if seen - skip >= MAX_DATAPOINTS_PER_CALL {
                            next_token = Some(seen.to_string());
                            results.push(r);
                            break 'outer;
                        }
                        r.points.push((t, v));
                    }
                    seen += 1;
                }
                t += period;
            }
            results.push(r);
        }
        Ok(MetricDataResponse { results, next_token })
    }
}

const ASG_NAMES: [&str; 2] = ["chat-web", "chat-worker"];
const TABLE_NAMES: [&str; 2] = ["chats", "sessions"];

impl Inventory for SimulatedAccount {
    async fn describe_asgs(&self, names: &[String], _next: Option<String>) -> Result<AsgPage, AwsError> {
        // Like AWS, DescribeAutoScalingGroups does not carry scaling policies.
        let groups = ASG_NAMES
            .iter()
            .filter(|n| names.is_empty() || names.iter().any(|x| x == *n))
            .filter_map(|n| self.asg(n))
            .map(|g| AsgState { policies: vec![], ..g })
            .collect();
        Ok(AsgPage { groups, next_token: None })
    }
    async fn describe_policies(&self, _next: Option<String>) -> Result<PolicyPage, AwsError> {
        let policies = ASG_NAMES
            .iter()
            .filter_map(|n| self.asg(n))
            .flat_map(|g| g.policies.into_iter().map(move |p| (g.name.clone(), p)))
            .collect();
        Ok(PolicyPage {
            policies,
            next_token: None,
        })
    }
    async fn list_tables(&self, _start_after: Option<String>) -> Result<TableNamePage, AwsError> {
        Ok(TableNamePage {
            names: TABLE_NAMES.iter().map(|s| s.to_string()).collect(),
            next: None,
        })
    }
    async fn describe_table(&self, name: &str) -> Result<TableState, AwsError> {
        self.table(name).ok_or_else(|| AwsError {
            service: "dynamodb",
            operation: "DescribeTable",
            kind: ErrorKind::NotFound,
            message: format!("ResourceNotFoundException: table {name} not found"),
        })
    }
}

impl Billing for SimulatedAccount {
    async fn daily_spend_by_service(&self, start_day: &str, end_day: &str, _next: Option<String>) -> Result<SpendPage, AwsError> {
        let parse = |s: &str| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|e| invalid("GetCostAndUsage", "costexplorer", format!("bad date {s}: {e}")))
        };
        let (a, b) = (parse(start_day)?, parse(end_day)?);
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let mut days = Vec::new();
        let mut d = a;
        while d < b {
            let n = (d - epoch).num_days();
            if n * DAY >= self.origin() && n * DAY < self.anchor {
                for (service, usd) in self.spend_of_day(n) {
                    days.push(DailySpend {
                        day: d.format("%Y-%m-%d").to_string(),
                        service,
                        amount: Money::from_usd_f64(usd).unwrap_or_default(),
                    });
                }
            }
            d = d.succ_opt().unwrap_or(b);
        }
        Ok(SpendPage { days, next_token: None })
    }
}

/// The demo plans changes against the simulated account (reads answer from its fleet) but
/// cannot make them.
impl Changes for SimulatedAccount {
    async fn read_group(&self, name: &str) -> Result<GroupConfig, AwsError> {
        let g = self.asg(name).ok_or_else(|| AwsError {
            service: "autoscaling",
            operation: "DescribeAutoScalingGroups",
            kind: ErrorKind::NotFound,
            message: format!("Auto Scaling group {name} not found"),
        })?;
        Ok(GroupConfig {
            name: g.name,
            min: g.min_size,
            max: g.max_size,
            desired: g.desired_capacity,
            in_service: g.in_service,
            tags: g.tags,
            mix: g.distribution.map(|d| Mix {
                on_demand_base_capacity: d.on_demand_base_capacity.unwrap_or(0),
                on_demand_percentage_above_base: d.on_demand_percentage_above_base.unwrap_or(100),
                spot_allocation_strategy: d.spot_allocation_strategy,
                overrides: g.overrides,
            }),
            policies: g.policies,
            refresh: None,
        })
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
        let t = self.describe_table(name).await?;
        Ok(TableConfig {
            name: t.name,
            mode: t.billing_mode,
            rcu: t.read_capacity,
            wcu: t.write_capacity,
            decreases_today: 0,
            tags: vec![("headroom:apply".into(), "true".into())],
            read_scaling: None,
            write_scaling: None,
        })
    }
    async fn set_table(&self, name: &str, _: &str, _: Option<i64>, _: Option<i64>) -> Result<(), AwsError> {
        Err(cannot_change("dynamodb", "UpdateTable", name))
    }
    async fn set_table_scaling(&self, name: &str, _: Option<(i64, i64)>, _: Option<(i64, i64)>) -> Result<(), AwsError> {
        Err(cannot_change("applicationautoscaling", "RegisterScalableTarget", name))
    }
}
