//! Collect: one pass over the account. Reads the inventory (Auto Scaling groups and their
//! scaling policies, DynamoDB tables), decides which CloudWatch series each watched resource
//! needs, fetches only what the series cache lacks (from its last point, less a small overlap
//! for late data) through GetMetricData in as few calls as the limits allow, and reads daily
//! spend from Cost Explorer. A source that fails marks its status failed with the reason; the
//! others go on.
//!
//! May use: the `aws` traits, domain, config. Must not touch the store (the runtime passes in
//! the cache's frontiers and stores what comes back) or decide anything.

pub mod plan;

use crate::aws::{Account, AwsError, MetricDataRequest};
use crate::config::{AsgTarget, Headroom, TableTarget};
use crate::domain::*;
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use plan::{PlannedCall, Window};
use std::collections::{BTreeMap, HashMap};
use tracing::Instrument;
use tracing::{debug, info_span, warn};

/// The API calls of one collection, counted as each request is made, in a place that outlives
/// the collection: a collection cut off by its deadline is dropped mid-way, and its calls were
/// made all the same (the summary said "API calls: 0").
#[derive(Debug, Default)]
pub struct CallLog(std::sync::Mutex<ApiCalls>);

impl CallLog {
    pub fn add(&self, op: &str, n: u64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).add(op, n);
    }
    pub fn snapshot(&self) -> ApiCalls {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// How many GetMetricData calls run at once.
const CONCURRENT_CALLS: usize = 4;

/// A series the cycle wants: whose it is, what it measures, and the CloudWatch query.
#[derive(Clone, Debug, PartialEq)]
pub struct Wanted {
    pub resource: ResourceId,
    pub signal: Signal,
    pub query: MetricQuery,
}

/// What one collection pass brought back.
#[derive(Clone, Debug)]
pub struct Collected {
    pub taken_at: DateTime<Utc>,
    pub scope: Scope,
    pub asgs: Vec<AsgState>,
    pub tables: Vec<TableState>,
    /// Every series wanted this cycle (fetched or not).
    pub wanted: Vec<Wanted>,
    /// Points fetched this cycle, per wanted series (same order as `wanted`).
    pub fetched: Vec<Vec<(Ts, f64)>>,
    /// Per wanted series: the start of the last period fetched successfully this cycle (None
    /// when a call for it failed). The cache frontier moves here even if the series had no
    /// data, so an empty series is not re-fetched over the whole lookback every cycle.
    pub fetched_through: Vec<Option<Ts>>,
    pub spend: Vec<DailySpend>,
    pub sources: Vec<SourceStatus>,
    pub api_calls: ApiCalls,
    /// GetMetricData calls planned and their lower bound, for the cycle summary.
    pub metric_calls_planned: u64,
    pub metric_calls_lower_bound: u64,
}

fn status(source: &str, errors: &[String]) -> SourceStatus {
    SourceStatus {
        source: source.to_string(),
        ok: errors.is_empty(),
        reason: if errors.is_empty() {
            None
        } else if errors.len() == 1 {
            Some(errors[0].clone())
        } else {
            Some(format!("{} (and {} more failure(s))", errors[0], errors.len() - 1))
        },
    }
}

fn describe(e: &AwsError) -> String {
    let hint = e.hint();
    if hint.is_empty() { e.to_string() } else { format!("{e} ({hint})") }
}

/// The series an Auto Scaling group needs.
pub fn asg_queries(cfg: &Headroom, asg: &AsgState, target: &AsgTarget) -> Vec<Wanted> {
    let p = cfg.collect.period_s;
    let r = ResourceId::asg(&asg.name);
    let by = [("AutoScalingGroupName", asg.name.as_str())];
    let mut out = vec![Wanted {
        resource: r.clone(),
        signal: Signal::CpuPercent,
        query: MetricQuery::new("AWS/EC2", "CPUUtilization", &by, Stat::Average, p),
    }];
    if cfg.collect.group_metrics {
        out.push(Wanted {
            resource: r.clone(),
            signal: Signal::DesiredCapacity,
            query: MetricQuery::new("AWS/AutoScaling", "GroupDesiredCapacity", &by, Stat::Average, p),
        });
    }
    if let Some(u) = &target.users_metric {
        out.push(Wanted {
            resource: r.clone(),
            signal: Signal::ConcurrentUsers,
            query: MetricQuery::new(&u.namespace, &u.name, &by, Stat::Maximum, p),
        });
    }
    if let Some(u) = &target.db_pool_metric {
        out.push(Wanted {
            resource: r.clone(),
            signal: Signal::DbPoolPercent,
            query: MetricQuery::new(&u.namespace, &u.name, &by, Stat::Average, p),
        });
    }
    if cfg.collect.memory_metric {
        out.push(Wanted {
            resource: r.clone(),
            signal: Signal::MemoryPercent,
            query: MetricQuery::new("CWAgent", "mem_used_percent", &by, Stat::Average, p),
        });
    }
    // The target's own mapping first, then the group's tags, then (target group only) the
    // group's first attached target group. ARNs become their dimension values.
    let tag = |key: &str| asg.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let dim = |v: String, marker: &str| match v.find(marker) {
        Some(i) => v[i..].to_string(),
        None => v,
    };
    let lb = target
        .load_balancer
        .clone()
        .or_else(|| tag(&cfg.collect.load_balancer_tag))
        .map(|v| dim(v, "app/"));
    let tg = target
        .target_group
        .clone()
        .or_else(|| tag(&cfg.collect.target_group_tag))
        .or_else(|| asg.target_group_arns.first().cloned())
        .map(|v| dim(v, "targetgroup/"));
    if let (Some(lb), Some(tg)) = (&lb, tg) {
        let dims = [("LoadBalancer", lb.as_str()), ("TargetGroup", tg.as_str())];
        let alb = |signal, metric: &str, stat| Wanted {
            resource: r.clone(),
            signal,
            query: MetricQuery::new("AWS/ApplicationELB", metric, &dims, stat, p),
        };
        out.push(alb(Signal::LatencyAvgSeconds, "TargetResponseTime", Stat::Average));
        if cfg.collect.latency_percentile {
            out.push(alb(Signal::LatencyP95Seconds, "TargetResponseTime", Stat::Percentile(950)));
        }
        out.push(alb(Signal::Requests, "RequestCount", Stat::Sum));
        out.push(alb(Signal::Http5xx, "HTTPCode_Target_5XX_Count", Stat::Sum));
        out.push(alb(Signal::Http4xx, "HTTPCode_Target_4XX_Count", Stat::Sum));
    }
    out
}

/// The series a DynamoDB table needs.
pub fn table_queries(cfg: &Headroom, table: &TableState) -> Vec<Wanted> {
    let p = cfg.collect.period_s;
    let r = ResourceId::table(&table.name);
    let by = [("TableName", table.name.as_str())];
    let q = |signal, metric: &str, stat| Wanted {
        resource: r.clone(),
        signal,
        query: MetricQuery::new("AWS/DynamoDB", metric, &by, stat, p),
    };
    let mut out = vec![
        q(Signal::ConsumedRcu, "ConsumedReadCapacityUnits", Stat::Sum),
        q(Signal::ConsumedWcu, "ConsumedWriteCapacityUnits", Stat::Sum),
        q(Signal::ReadThrottles, "ReadThrottleEvents", Stat::Sum),
        q(Signal::WriteThrottles, "WriteThrottleEvents", Stat::Sum),
    ];
    if table.billing_mode == "PROVISIONED" {
        out.push(q(Signal::ProvisionedRcu, "ProvisionedReadCapacityUnits", Stat::Average));
        out.push(q(Signal::ProvisionedWcu, "ProvisionedWriteCapacityUnits", Stat::Average));
    }
    out.push(Wanted {
        resource: r.clone(),
        signal: Signal::RequestLatencyMs,
        query: MetricQuery::new(
            "AWS/DynamoDB",
            "SuccessfulRequestLatency",
            &[("TableName", table.name.as_str()), ("Operation", "GetItem")],
            Stat::Average,
            p,
        ),
    });
    out
}

fn asg_matches(t: &AsgTarget, g: &AsgState) -> bool {
    t.matches(g)
}

fn table_matches(t: &TableTarget, name: &str) -> bool {
    t.name.as_ref().is_none_or(|n| n == name) && t.prefix.as_ref().is_none_or(|p| name.starts_with(p.as_str()))
}

/// The window a series needs this cycle, from the cache's last point (if any).
pub fn window_for(cfg: &Headroom, now: DateTime<Utc>, frontier: Option<Ts>) -> Window {
    let p = i64::from(cfg.collect.period_s);
    let end = now.timestamp().div_euclid(p) * p;
    let lookback_start = end - i64::from(cfg.collect.lookback_days) * 86_400;
    let start = match frontier {
        Some(last) => (last + p - i64::from(cfg.collect.overlap_periods) * p).max(lookback_start),
        None => lookback_start,
    };
    Window {
        start,
        end,
        period_s: cfg.collect.period_s,
    }
}

/// Runs one collection pass over one scope. `frontiers` maps a series key to its last
/// cached timestamp. Spend (Cost Explorer is account-wide) is read only when `with_spend`:
/// in the first region of each account.
pub async fn collect<A: Account>(
    api: &A,
    cfg: &Headroom,
    scope: &Scope,
    now: DateTime<Utc>,
    frontiers: &HashMap<String, Ts>,
    with_spend: bool,
    calls: &CallLog,
) -> Collected {
    let mut sources = Vec::new();
    let region = scope.region.as_str();

    // ---- access: a member account whose role cannot be assumed is not read at all (every
    // call would fail the same way); the scope is partial with the reason.
    if let Err(e) = api.check_access().await {
        calls.add("sts:AssumeRole", 1);
        let s = status("sts:AssumeRole", &[describe(&e)]);
        warn!(scope = %scope, source = %s.source, error_type = "access_denied", reason = s.reason.as_deref().unwrap_or(""), "account not readable; scope is partial");
        return nothing(scope, now, s, calls.snapshot());
    }

    // ---- inventory: Auto Scaling groups
    let asg_inventory = async {
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        let by_tag = cfg.targets.asgs.iter().any(|t| t.name.is_none() || !t.tags.is_empty());
        let names: Vec<String> = if by_tag {
            vec![]
        } else {
            cfg.targets.asgs.iter().filter_map(|t| t.name.clone()).collect()
        };
        let mut groups = Vec::new();
        if !cfg.targets.asgs.is_empty() {
            let mut token = None;
            loop {
                calls.add("autoscaling:DescribeAutoScalingGroups", 1);
                match api.describe_asgs(&names, token.take()).await {
                    Ok(page) => {
                        groups.extend(page.groups);
                        match page.next_token {
                            Some(t) => token = Some(t),
                            None => break,
                        }
                    }
                    Err(e) => {
                        errors.push(describe(&e));
                        break;
                    }
                }
            }
        }
        let mut selected: Vec<(AsgState, AsgTarget)> = Vec::new();
        for t in &cfg.targets.asgs {
            let matched: Vec<&AsgState> = groups.iter().filter(|g| asg_matches(t, g)).collect();
            if matched.is_empty() && errors.is_empty() {
                let what = t
                    .name
                    .clone()
                    .map(|n| format!("Auto Scaling group `{n}`"))
                    .unwrap_or_else(|| format!("any Auto Scaling group tagged {:?}", t.tags));
                errors.push(format!("{what} not found in {region} (check targets.asg in headroom.toml)"));
            }
            for g in matched {
                if !selected.iter().any(|(s, _)| s.name == g.name) {
                    selected.push((g.clone(), t.clone()));
                }
            }
        }
        sources.push(status("autoscaling", &errors));
        // Scaling policies: one paginated DescribePolicies for the whole account.
        if !selected.is_empty() {
            let mut perrors = Vec::new();
            let mut token = None;
            loop {
                calls.add("autoscaling:DescribePolicies", 1);
                match api.describe_policies(token.take()).await {
                    Ok(page) => {
                        for (group, p) in page.policies {
                            if let Some((g, _)) = selected.iter_mut().find(|(g, _)| g.name == group) {
                                g.policies.push(p);
                            }
                        }
                        match page.next_token {
                            Some(t) => token = Some(t),
                            None => break,
                        }
                    }
                    Err(e) => {
                        perrors.push(describe(&e));
                        break;
                    }
                }
            }
            sources.push(status("autoscaling:policies", &perrors));
        }
        selected.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        let (a, t): (Vec<_>, Vec<_>) = selected.into_iter().unzip();
        (a, t, sources)
    }
    .instrument(info_span!("inventory", source = "autoscaling"));

    // ---- inventory: DynamoDB tables
    let table_inventory = async {
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let needs_list = cfg.targets.tables.iter().any(|t| t.name.is_none());
        if needs_list {
            let mut start = None;
            loop {
                calls.add("dynamodb:ListTables", 1);
                match api.list_tables(start.take()).await {
                    Ok(page) => {
                        names.extend(
                            page.names
                                .into_iter()
                                .filter(|n| cfg.targets.tables.iter().any(|t| table_matches(t, n))),
                        );
                        match page.next {
                            Some(n) => start = Some(n),
                            None => break,
                        }
                    }
                    Err(e) => {
                        errors.push(describe(&e));
                        break;
                    }
                }
            }
        }
        for t in &cfg.targets.tables {
            if let Some(n) = &t.name
                && !names.contains(n)
            {
                names.push(n.clone());
            }
        }
        names.sort();
        names.dedup();
        let mut tables = Vec::new();
        for n in names {
            calls.add("dynamodb:DescribeTable", 1);
            match api.describe_table(&n).await {
                Ok(t) => tables.push(t),
                Err(e) => errors.push(format!("table `{n}`: {}", describe(&e))),
            }
        }
        if !cfg.targets.tables.is_empty() {
            sources.push(status("dynamodb", &errors));
        }
        (tables, sources)
    }
    .instrument(info_span!("inventory", source = "dynamodb"));

    // ---- spend
    let spend_read = async {
        let mut sources = Vec::new();
        if !with_spend {
            return (Vec::new(), sources);
        }
        let mut errors = Vec::new();
        let today = now.date_naive();
        let start = (today - Duration::days(i64::from(cfg.collect.spend_days)))
            .format("%Y-%m-%d")
            .to_string();
        let end = today.format("%Y-%m-%d").to_string();
        let mut out = Vec::new();
        let mut token = None;
        loop {
            calls.add("costexplorer:GetCostAndUsage", 1);
            match api.daily_spend_by_service(&start, &end, token.take()).await {
                Ok(page) => {
                    out.extend(page.days);
                    match page.next_token {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
                Err(e) => {
                    errors.push(describe(&e));
                    break;
                }
            }
        }
        sources.push(status("costexplorer", &errors));
        (out, sources)
    }
    .instrument(info_span!("spend", source = "costexplorer"));
    // The three are independent: read at once (each within its own API's limits).
    let ((asgs, asg_targets, s1), (tables, s2), (spend, s3)) =
        futures_util::future::join3(asg_inventory, table_inventory, spend_read).await;
    sources.extend(s1.into_iter().chain(s2).chain(s3));

    // ---- which series, over which windows
    let mut wanted = Vec::new();
    for (g, t) in asgs.iter().zip(&asg_targets) {
        wanted.extend(asg_queries(cfg, g, t));
    }
    for t in &tables {
        wanted.extend(table_queries(cfg, t));
    }
    let windows: Vec<(Window, u8)> = wanted
        .iter()
        .map(|w| {
            (
                window_for(cfg, now, frontiers.get(&w.query.key()).copied()),
                u8::from(w.query.stat.is_percentile()),
            )
        })
        .collect();
    let planned = plan::plan(&windows);
    let lower_bound = plan::lower_bound(&windows.iter().map(|w| w.0).collect::<Vec<_>>());
    debug!(
        series = wanted.len(),
        calls = planned.len(),
        lower_bound,
        "planned GetMetricData calls"
    );

    // ---- metrics
    let (fetched, failed, plain_errors, pct_errors) = fetch_metrics(api, &wanted, &planned, calls)
        .instrument(info_span!("metrics", source = "cloudwatch"))
        .await;
    let fetched_through: Vec<Option<Ts>> = windows
        .iter()
        .zip(&failed)
        .map(|((w, _), f)| {
            if *f || w.points() == 0 {
                None
            } else {
                Some(w.end - i64::from(w.period_s))
            }
        })
        .collect();
    if !wanted.is_empty() {
        sources.push(status("cloudwatch", &plain_errors));
        if wanted.iter().any(|w| w.query.stat.is_percentile()) {
            sources.push(status("cloudwatch:percentiles", &pct_errors));
        }
    }

    for s in sources.iter().filter(|s| !s.ok) {
        warn!(source = %s.source, error_type = "source_failed", reason = s.reason.as_deref().unwrap_or(""), "source failed; snapshot is partial");
    }
    Collected {
        taken_at: now,
        scope: scope.clone(),
        asgs,
        tables,
        wanted,
        fetched,
        fetched_through,
        spend,
        sources,
        api_calls: calls.snapshot(),
        metric_calls_planned: planned.len() as u64,
        metric_calls_lower_bound: lower_bound,
    }
}

/// Points per wanted series, whether any call for it failed, calls made, and the errors of
/// plain and percentile calls.
type Fetched = (Vec<Vec<(Ts, f64)>>, Vec<bool>, Vec<String>, Vec<String>);
type CallOutcome<'a> = (&'a PlannedCall, Vec<(usize, Vec<(Ts, f64)>)>, Option<(bool, String)>);

/// A collection that got nothing: one failed source says why (the frontiers do not move, so
/// the next cycle asks again).
fn nothing(scope: &Scope, now: DateTime<Utc>, failed: SourceStatus, api_calls: ApiCalls) -> Collected {
    Collected {
        taken_at: now,
        scope: scope.clone(),
        asgs: vec![],
        tables: vec![],
        wanted: vec![],
        fetched: vec![],
        fetched_through: vec![],
        spend: vec![],
        sources: vec![failed],
        api_calls,
        metric_calls_planned: 0,
        metric_calls_lower_bound: 0,
    }
}

/// What a collection that missed its deadline leaves.
pub fn missed_deadline(scope: &Scope, now: DateTime<Utc>, deadline_s: u64, calls: ApiCalls) -> Collected {
    let why = format!(
        "collection did not finish within {deadline_s} s: an endpoint accepted requests but did not answer in time ([collect] deadline_seconds; per call [aws] timeout_seconds × max_attempts)"
    );
    nothing(scope, now, status("deadline", &[why]), calls)
}

/// One planned GetMetricData call, following NextToken pages.
async fn one_call<'a, A: Account>(api: &'a A, wanted: &'a [Wanted], c: &'a PlannedCall, calls: &'a CallLog) -> CallOutcome<'a> {
    let mut req = MetricDataRequest {
        start: c.start,
        end: c.end,
        queries: c.queries.iter().map(|&i| (format!("q{i}"), wanted[i].query.clone())).collect(),
        next_token: None,
    };
    let pct = wanted[c.queries[0]].query.stat.is_percentile();
    let mut got: BTreeMap<usize, Vec<(Ts, f64)>> = BTreeMap::new();
    let mut n = 0u64;
    loop {
        n += 1;
        calls.add("cloudwatch:GetMetricData", 1);
        match api.get_metric_data(&req).await {
            Ok(resp) => {
                for r in resp.results {
                    if let Some(i) = r.id.strip_prefix('q').and_then(|s| s.parse::<usize>().ok()) {
                        let entry = got.entry(i).or_default();
                        for (t, v) in r.points {
                            if t >= c.start && t < c.end && v.is_finite() {
                                entry.push((t, v));
                            }
                        }
                    }
                }
                match resp.next_token {
                    Some(t) if n < 10_000 => req.next_token = Some(t),
                    _ => break,
                }
            }
            Err(e) => {
                // A call that fails loses only its own series' points for this cycle: their
                // cache frontier does not move, so the next cycle fetches them again.
                return (c, vec![], Some((pct, describe(&e))));
            }
        }
    }
    (c, got.into_iter().collect(), None)
}

/// Runs the planned calls, `CONCURRENT_CALLS` at a time. (A plain FuturesUnordered of a named
/// async fn, not a stream of closures: closures there make the cycle's future fail to be
/// provably `Send`, which the scheduler needs to spawn it.)
async fn fetch_metrics<A: Account>(api: &A, wanted: &[Wanted], planned: &[PlannedCall], calls: &CallLog) -> Fetched {
    let mut results: Vec<CallOutcome> = Vec::with_capacity(planned.len());
    let mut pending = futures_util::stream::FuturesUnordered::new();
    let mut next = planned.iter();
    for c in next.by_ref().take(CONCURRENT_CALLS) {
        pending.push(one_call(api, wanted, c, calls));
    }
    while let Some(r) = pending.next().await {
        results.push(r);
        if let Some(c) = next.next() {
            pending.push(one_call(api, wanted, c, calls));
        }
    }
    let mut fetched = vec![Vec::new(); wanted.len()];
    let mut failed = vec![false; wanted.len()];
    let (mut plain, mut pct) = (Vec::new(), Vec::new());
    for (call, points, err) in results {
        for (i, p) in points {
            fetched[i].extend(p);
        }
        if let Some((is_pct, e)) = err {
            for &i in &call.queries {
                failed[i] = true;
            }
            if is_pct { pct.push(e) } else { plain.push(e) }
        }
    }
    for f in &mut fetched {
        f.sort_by_key(|p| p.0);
        f.dedup_by_key(|p| p.0);
    }
    (fetched, failed, plain, pct)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Headroom {
        crate::config::Config::embedded().expect("shipped config is valid").headroom
    }

    /// Issue 20, item 8: a group tagged with its ALB and target group (dimension values or
    /// ARNs) gets the ALB series without any per-group config; the target's own mapping wins.
    #[test]
    fn the_alb_can_come_from_the_groups_tags() {
        let c = cfg();
        let mut g = AsgState {
            name: "web".into(),
            min_size: 1,
            max_size: 4,
            desired_capacity: 2,
            in_service: 2,
            instance_types: vec![],
            overrides: vec![],
            distribution: None,
            target_group_arns: vec![],
            tags: vec![
                (
                    c.collect.load_balancer_tag.clone(),
                    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188".into(),
                ),
                (c.collect.target_group_tag.clone(), "targetgroup/web/73e2d6bc24d8a067".into()),
            ],
            policies: vec![],
        };
        let t = AsgTarget::named("web");
        let requests = |w: &[Wanted]| w.iter().find(|w| w.signal == Signal::Requests).map(|w| w.query.dimensions.clone());
        let want = vec![
            ("LoadBalancer".to_string(), "app/web/50dc6c495c0c9188".to_string()),
            ("TargetGroup".to_string(), "targetgroup/web/73e2d6bc24d8a067".to_string()),
        ];
        assert_eq!(requests(&asg_queries(&c, &g, &t)), Some(want));
        // The target's mapping wins over the tags.
        let mut t2 = t.clone();
        t2.load_balancer = Some("app/other/1".into());
        let dims = requests(&asg_queries(&c, &g, &t2)).unwrap();
        assert_eq!(dims[0].1, "app/other/1");
        // Without tags or mapping: no ALB series.
        g.tags.clear();
        assert_eq!(requests(&asg_queries(&c, &g, &t)), None);
    }

    #[test]
    fn first_cycle_backfills_the_lookback_and_later_ones_start_at_the_frontier() {
        let c = cfg();
        let now = DateTime::from_timestamp(1_800_000_123, 0).unwrap();
        let end = 1_800_000_123 / 300 * 300;
        let w = window_for(&c, now, None);
        assert_eq!((w.start, w.end), (end - 14 * 86_400, end));
        // Last cached point 3 periods ago; overlap 2 periods: re-fetch it and its neighbour.
        let last = end - 3 * 300;
        let w = window_for(&c, now, Some(last));
        assert_eq!(w.start, last + 300 - 2 * 300);
        assert_eq!(w.points(), 4);
        // A frontier older than the lookback is clamped to it.
        let w = window_for(&c, now, Some(end - 40 * 86_400));
        assert_eq!(w.start, end - 14 * 86_400);
    }
}
