//! Plain data shared by every stage: what a collection cycle saw (`Snapshot` and its parts),
//! metric series and the queries that name them, `Money`, and what advice produces: alert
//! rule states, advisories with their evidence and proposed actions.
//!
//! May use: nothing but std, serde and chrono. Must not do I/O or know about AWS SDK types:
//! `aws/` converts SDK shapes into these, `analyze`/`decide` read them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

pub mod packed;
mod points;
pub use points::Points;

/// Seconds since the Unix epoch, UTC. Series points and cache frontiers use this.
pub type Ts = i64;

/// Money in integer micro-dollars (1 USD = 1,000,000), so sums never drift.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Money(pub i64);

impl Money {
    pub const ZERO: Money = Money(0);
    /// From a decimal dollar string as Cost Explorer and price tables give it ("12.3456789").
    /// Rounds half away from zero to the micro-dollar. `None` if it is not a number.
    pub fn parse_usd(s: &str) -> Option<Money> {
        let s = s.trim();
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let int_v: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut micros: i64 = 0;
        let mut scale = 100_000;
        for c in frac.chars().take(6) {
            micros += (c as i64 - '0' as i64) * scale;
            scale /= 10;
        }
        if let Some(c) = frac.chars().nth(6)
            && c >= '5'
        {
            micros += 1;
        }
        let v = int_v.checked_mul(1_000_000)?.checked_add(micros)?;
        Some(Money(if neg { -v } else { v }))
    }
    /// From a dollar amount given as a float (prices in TOML). Rounds to the micro-dollar.
    pub fn from_usd_f64(v: f64) -> Option<Money> {
        if !v.is_finite() || v.abs() > 9.0e12 {
            return None;
        }
        Some(Money((v * 1_000_000.0).round() as i64))
    }
    pub fn as_usd_f64(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }
    pub fn micros(self) -> i64 {
        self.0
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, o: Money) -> Money {
        Money(self.0 + o.0)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |a, b| a + b)
    }
}

impl fmt::Display for Money {
    /// Dollars with cents: `$1,234.57` (rounded half away from zero).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.0 < 0;
        let cents = (self.0.unsigned_abs() + 5_000) / 10_000;
        let dollars = cents / 100;
        let mut ds = dollars.to_string();
        let mut out = String::new();
        while ds.len() > 3 {
            let tail = ds.split_off(ds.len() - 3);
            out = format!(",{tail}{out}");
        }
        write!(f, "{}${}{}.{:02}", if neg { "-" } else { "" }, ds, out, cents % 100)
    }
}

/// CloudWatch statistic of a query: a plain statistic or an extended (percentile) one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stat {
    Average,
    Maximum,
    Minimum,
    Sum,
    SampleCount,
    /// Percentile in tenths (p95 = 950, p99.5 = 995).
    Percentile(u16),
}

impl Stat {
    pub fn as_cloudwatch(&self) -> String {
        match self {
            Stat::Average => "Average".into(),
            Stat::Maximum => "Maximum".into(),
            Stat::Minimum => "Minimum".into(),
            Stat::Sum => "Sum".into(),
            Stat::SampleCount => "SampleCount".into(),
            Stat::Percentile(t) if t % 10 == 0 => format!("p{}", t / 10),
            Stat::Percentile(t) => format!("p{}.{}", t / 10, t % 10),
        }
    }
    pub fn is_percentile(&self) -> bool {
        matches!(self, Stat::Percentile(_))
    }
}

/// One CloudWatch series: namespace, metric, dimensions, statistic and period.
/// Its `key()` is the stable identity used by the series cache.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MetricQuery {
    pub namespace: String,
    pub metric: String,
    /// (name, value), sorted by name.
    pub dimensions: Vec<(String, String)>,
    pub stat: Stat,
    pub period_s: u32,
}

impl MetricQuery {
    pub fn new(namespace: &str, metric: &str, dims: &[(&str, &str)], stat: Stat, period_s: u32) -> Self {
        let mut dimensions: Vec<(String, String)> = dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        dimensions.sort();
        MetricQuery {
            namespace: namespace.into(),
            metric: metric.into(),
            dimensions,
            stat,
            period_s,
        }
    }
    /// `AWS/EC2:CPUUtilization{AutoScalingGroupName=web}:Average:300`
    pub fn key(&self) -> String {
        let dims: Vec<String> = self.dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "{}:{}{{{}}}:{}:{}",
            self.namespace,
            self.metric,
            dims.join(","),
            self.stat.as_cloudwatch(),
            self.period_s
        )
    }
    /// The period of a series from its `key` (its last field).
    pub fn period_of_key(key: &str) -> Option<u32> {
        key.rsplit(':').next()?.parse().ok()
    }
    /// Whether a series' `key` names a Sum (the field before the period): the window keeps
    /// those at 16 bits (`Points::compact_with`), in the runtime and after a restart alike.
    pub fn sum_of_key(key: &str) -> bool {
        key.rsplit(':').nth(1) == Some("Sum")
    }
}

/// What a series measures for a resource, so analyzers need not parse CloudWatch names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    CpuPercent,
    MemoryPercent,
    LatencyAvgSeconds,
    LatencyP95Seconds,
    Requests,
    Http5xx,
    Http4xx,
    ConsumedRcu,
    ConsumedWcu,
    ProvisionedRcu,
    ProvisionedWcu,
    ReadThrottles,
    WriteThrottles,
    RequestLatencyMs,
    /// AWS/AutoScaling GroupDesiredCapacity.
    DesiredCapacity,
    /// A configured metric of concurrent users (`users_metric` on the ASG target).
    ConcurrentUsers,
    /// A configured metric of the DB connection pool's use, percent (`db_pool_metric`).
    DbPoolPercent,
}

impl Signal {
    /// Its name as config, rules and JSON spell it (`cpu_percent`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }
}

/// Where everything headroom collects, decides and sends belongs: one account in one region.
/// Series, rule state, advisories (and their fingerprints), outlooks, spend and snapshots are
/// keyed by it; a cycle runs per scope and reconciles only its own scope's advisories.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Scope {
    /// The account's id (12 digits), or `default` for the one account of the credential chain
    /// when `[[aws.accounts]]` is not configured.
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(account: &str, region: &str) -> Scope {
        Scope {
            account: account.to_string(),
            region: region.to_string(),
        }
    }
    /// `account/region`, the form the store keys and log lines use.
    pub fn key(&self) -> String {
        format!("{}/{}", self.account, self.region)
    }
    /// An advisory's fingerprint in this scope, from its fingerprint within the scope (kind +
    /// resource + subject): the same advice in two regions is two advisories.
    pub fn fingerprint(&self, unscoped: &str) -> String {
        fnv64_hex(&[self.account.as_bytes(), self.region.as_bytes(), unscoped.as_bytes()])
    }
    /// The inverse of `key`.
    pub fn parse(key: &str) -> Option<Scope> {
        let (a, r) = key.split_once('/')?;
        (!a.is_empty() && !r.is_empty()).then(|| Scope::new(a, r))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// FNV-1a, 64 bits, over the parts with a NUL between them, as 16 hex digits: stable across
/// builds and platforms (unlike std's DefaultHasher), so fingerprints in the store stay valid
/// after an upgrade.
pub fn fnv64_hex(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        let sep: &[u8] = if i == 0 { &[] } else { &[0] };
        for b in sep.iter().chain(part.iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// A resource headroom watches: `asg/web`, `table/chats`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceId(pub String);

impl ResourceId {
    pub fn asg(name: &str) -> Self {
        ResourceId(format!("asg/{name}"))
    }
    pub fn table(name: &str) -> Self {
        ResourceId(format!("table/{name}"))
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A series with its points, ascending by time, one per period at most.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub resource: ResourceId,
    pub signal: Signal,
    pub query: MetricQuery,
    pub points: Points,
}

impl Series {
    pub fn last(&self) -> Option<(Ts, f64)> {
        self.points.last()
    }
    /// What a point's value is divided by to read it per second: consumed capacity collected
    /// as the Sum over each period (as `collect` queries it) is per period, so the period;
    /// every other series is a level or a rate already (1). One rule for the analyzers, the
    /// outlooks and the weekly review.
    pub fn per_second_divisor(&self) -> f64 {
        match self.signal {
            Signal::ConsumedRcu | Signal::ConsumedWcu if self.query.stat == Stat::Sum => f64::from(self.query.period_s.max(1)),
            _ => 1.0,
        }
    }
}

/// An instance type an ASG may launch, with its weight in a mixed instances policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceOverride {
    pub instance_type: String,
    pub weighted_capacity: Option<String>,
}

/// The purchase split of a mixed instances policy.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct InstancesDistribution {
    pub on_demand_base_capacity: Option<i32>,
    pub on_demand_percentage_above_base: Option<i32>,
    pub spot_allocation_strategy: Option<String>,
    pub on_demand_allocation_strategy: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScalingPolicy {
    pub name: String,
    pub policy_type: String,
    /// Target-tracking predefined metric (e.g. `ASGAverageCPUUtilization`) and target value.
    pub target_metric: Option<String>,
    pub target_value: Option<f64>,
}

/// One Auto Scaling group as DescribeAutoScalingGroups and DescribePolicies show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AsgState {
    pub name: String,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
    pub in_service: i32,
    /// Instance types of running instances, sorted, with counts.
    pub instance_types: Vec<(String, u32)>,
    pub overrides: Vec<InstanceOverride>,
    pub distribution: Option<InstancesDistribution>,
    pub target_group_arns: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub policies: Vec<ScalingPolicy>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexState {
    pub name: String,
    pub read_capacity: Option<i64>,
    pub write_capacity: Option<i64>,
}

/// One DynamoDB table as DescribeTable shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableState {
    pub name: String,
    /// `PROVISIONED` or `PAY_PER_REQUEST`.
    pub billing_mode: String,
    pub read_capacity: Option<i64>,
    pub write_capacity: Option<i64>,
    pub item_count: Option<i64>,
    pub size_bytes: Option<i64>,
    pub gsis: Vec<IndexState>,
}

/// Cost of one service on one day (UTC date, `YYYY-MM-DD`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DailySpend {
    pub day: String,
    pub service: String,
    pub amount: Money,
}

/// The data sources of a cycle; each ends ok or failed with a reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub source: String,
    pub ok: bool,
    /// Why it failed (error kind and message, secrets never included).
    pub reason: Option<String>,
}

/// API calls made in a cycle, by service and operation.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct ApiCalls {
    pub by_operation: std::collections::BTreeMap<String, u64>,
}

impl ApiCalls {
    pub fn add(&mut self, op: &str, n: u64) {
        *self.by_operation.entry(op.to_string()).or_default() += n;
    }
    pub fn get(&self, op: &str) -> u64 {
        self.by_operation.get(op).copied().unwrap_or(0)
    }
    pub fn total(&self) -> u64 {
        self.by_operation.values().sum()
    }
}

/// Everything one collection cycle saw. `partial` is true when any source failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub taken_at: DateTime<Utc>,
    pub scope: Scope,
    pub asgs: Vec<AsgState>,
    pub tables: Vec<TableState>,
    /// The full series over the lookback (the runtime's window plus what this cycle fetched).
    /// Shared: the runtime keeps the same window across cycles without copying it.
    #[serde(with = "shared_vec")]
    pub series: std::sync::Arc<Vec<Series>>,
    /// (resource, signal) → position in `series`, built on the first lookup: the analyzers
    /// look up every group's series, and a scan per lookup was most of a fleet-scale cycle.
    #[serde(skip)]
    pub index: SeriesIndex,
    pub spend: Vec<DailySpend>,
    /// When the spend above was read from Cost Explorer (it is read on its own schedule).
    #[serde(default)]
    pub spend_fetched_at: Option<Ts>,
    pub sources: Vec<SourceStatus>,
    pub api_calls: ApiCalls,
    /// Points fetched from CloudWatch this cycle (new or overlapping), for the cycle summary.
    pub points_fetched: u64,
}

impl Snapshot {
    /// A snapshot of just these groups and series (tests and benchmarks).
    pub fn bare(now: Ts, asgs: Vec<AsgState>, series: Vec<Series>) -> Snapshot {
        Snapshot {
            taken_at: DateTime::from_timestamp(now, 0).unwrap_or_default(),
            scope: Scope::new("default", "us-east-1"),
            asgs,
            tables: vec![],
            series: std::sync::Arc::new(series),
            index: SeriesIndex::default(),
            spend: vec![],
            spend_fetched_at: None,
            sources: vec![],
            api_calls: ApiCalls::default(),
            points_fetched: 0,
        }
    }

    pub fn partial(&self) -> bool {
        self.sources.iter().any(|s| !s.ok)
    }
    pub fn failed_sources(&self) -> Vec<&SourceStatus> {
        self.sources.iter().filter(|s| !s.ok).collect()
    }
    /// The series of a resource for a signal (the first, when several), through the index.
    pub fn series_for(&self, resource: &ResourceId, signal: Signal) -> Option<&Series> {
        let (len, map) = self.index.0.get_or_init(|| {
            let mut m = std::collections::HashMap::with_capacity(self.series.len());
            for (i, s) in self.series.iter().enumerate() {
                m.entry((s.resource.clone(), s.signal)).or_insert(i);
            }
            (self.series.len(), m)
        });
        // The index is checked, not trusted: a test may have changed `series` after it was
        // built (then it scans).
        if *len != self.series.len() {
            return self.series.iter().find(|s| &s.resource == resource && s.signal == signal);
        }
        match map.get(&(resource.clone(), signal)).and_then(|&i| self.series.get(i)) {
            Some(s) if &s.resource == resource && s.signal == signal => Some(s),
            Some(_) => self.series.iter().find(|s| &s.resource == resource && s.signal == signal),
            None => None,
        }
    }
    /// The same, only when the series has points.
    pub fn nonempty_series_for(&self, resource: &ResourceId, signal: Signal) -> Option<&Series> {
        self.series_for(resource, signal).filter(|s| !s.points.is_empty())
    }
}

/// Serde for an optional amount as a number of US dollars (micro-dollar precision).
mod usd_opt {
    use super::Money;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<Money>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|m| m.as_usd_f64()).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Money>, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.and_then(Money::from_usd_f64))
    }
}

/// A lazily built lookup of a snapshot's series; equal to any other (it is derived data).
#[derive(Clone, Debug, Default)]
pub struct SeriesIndex(std::sync::OnceLock<(usize, SeriesPositions)>);

/// (resource, signal) → position in a snapshot's `series`.
type SeriesPositions = std::collections::HashMap<(ResourceId, Signal), usize>;

impl PartialEq for SeriesIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Serde for an `Arc<Vec<T>>` as a plain sequence (serde's `rc` feature would rebuild every
/// crate that uses serde for this one field).
mod shared_vec {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::sync::Arc;
    pub fn serialize<T: Serialize, S: Serializer>(v: &Arc<Vec<T>>, s: S) -> Result<S::Ok, S::Error> {
        v.as_slice().serialize(s)
    }
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Arc<Vec<T>>, D::Error> {
        Vec::<T>::deserialize(d).map(Arc::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumed_capacity_reads_per_second_only_as_a_sum() {
        let s = |signal, stat| Series {
            resource: ResourceId::table("orders"),
            signal,
            query: MetricQuery::new("AWS/DynamoDB", "ConsumedReadCapacityUnits", &[], stat, 300),
            points: Points::new(),
        };
        // A series' key gives its period back, whatever its dimensions hold.
        let q = MetricQuery::new("AWS/EC2", "CPUUtilization", &[("AutoScalingGroupName", "a:b")], Stat::Average, 60);
        assert_eq!(MetricQuery::period_of_key(&q.key()), Some(60));
        assert_eq!(MetricQuery::period_of_key("no period"), None);
        // A 5-minute Sum of 30,000 units is 100 units a second.
        assert_eq!(s(Signal::ConsumedRcu, Stat::Sum).per_second_divisor(), 300.0);
        assert_eq!(s(Signal::ConsumedWcu, Stat::Sum).per_second_divisor(), 300.0);
        assert_eq!(s(Signal::ConsumedRcu, Stat::Average).per_second_divisor(), 1.0);
        assert_eq!(s(Signal::CpuPercent, Stat::Sum).per_second_divisor(), 1.0);
    }

    #[test]
    fn money_parses_cost_explorer_amounts() {
        let cases: &[(&str, Option<i64>)] = &[
            ("12.3456789", Some(12_345_679)),
            ("0", Some(0)),
            ("-1.5", Some(-1_500_000)),
            (".25", Some(250_000)),
            ("7", Some(7_000_000)),
            ("1.0000004", Some(1_000_000)),
            ("abc", None),
            ("", None),
            ("1.2.3", None),
        ];
        for (s, want) in cases {
            assert_eq!(Money::parse_usd(s).map(|m| m.0), *want, "{s}");
        }
    }

    #[test]
    fn money_displays_dollars_and_cents() {
        assert_eq!(Money(1_234_567_890).to_string(), "$1,234.57");
        assert_eq!(Money(-5_000).to_string(), "-$0.01");
        assert_eq!(Money(999_999_999_999).to_string(), "$1,000,000.00");
    }

    #[test]
    fn query_key_is_stable_and_sorted() {
        let q = MetricQuery::new(
            "AWS/ApplicationELB",
            "RequestCount",
            &[("TargetGroup", "t"), ("LoadBalancer", "l")],
            Stat::Sum,
            300,
        );
        assert_eq!(q.key(), "AWS/ApplicationELB:RequestCount{LoadBalancer=l,TargetGroup=t}:Sum:300");
        assert_eq!(Stat::Percentile(995).as_cloudwatch(), "p99.5");
        assert_eq!(Stat::Percentile(950).as_cloudwatch(), "p95");
    }
}

// ---------------------------------------------------------------- advice

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "critical" => Ok(Severity::Critical),
            _ => Err(format!("unknown severity `{s}` (use info, warning or critical)")),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
    pub fn parse(s: &str) -> Option<AlertState> {
        Some(match s {
            "inactive" => AlertState::Inactive,
            "pending" => AlertState::Pending,
            "firing" => AlertState::Firing,
            "resolved" => AlertState::Resolved,
            _ => return None,
        })
    }
}

/// One rule on one resource, as persisted between cycles.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleState {
    pub rule: String,
    pub resource: ResourceId,
    pub state: AlertState,
    /// Since when the condition has held (pending and firing).
    pub active_since: Option<Ts>,
    /// When it last started firing.
    pub fired_at: Option<Ts>,
    /// While firing: since when the condition has been false (for keep_firing_for).
    pub cleared_since: Option<Ts>,
    /// The last step evaluated with data; replay resumes after it.
    pub last_eval: Option<Ts>,
    /// The value at the last evaluated step.
    pub value: Option<f64>,
}

impl RuleState {
    pub fn new(rule: &str, resource: &ResourceId) -> Self {
        RuleState {
            rule: rule.to_string(),
            resource: resource.clone(),
            state: AlertState::Inactive,
            active_since: None,
            fired_at: None,
            cleared_since: None,
            last_eval: None,
            value: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Alert,
    Rightsize,
    AsgLimits,
    Tier,
    Commitment,
    SpotMix,
    Dynamodb,
    Forecast,
    Spend,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Alert,
        Kind::Rightsize,
        Kind::AsgLimits,
        Kind::Tier,
        Kind::Commitment,
        Kind::SpotMix,
        Kind::Dynamodb,
        Kind::Forecast,
        Kind::Spend,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Alert => "alert",
            Kind::Rightsize => "rightsize",
            Kind::AsgLimits => "asg-limits",
            Kind::Tier => "tier",
            Kind::Commitment => "commitment",
            Kind::SpotMix => "spot-mix",
            Kind::Dynamodb => "dynamodb",
            Kind::Forecast => "forecast",
            Kind::Spend => "spend",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One figure behind an advisory: what it is and its value with unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub name: String,
    pub value: String,
}

/// A change headroom proposes (and `act/` may one day apply).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Action {
    SetCapacity {
        asg: String,
        min: i32,
        desired: i32,
        max: i32,
    },
    SetInstanceType {
        asg: String,
        from: String,
        to: String,
        /// Instances of the new type.
        desired: i32,
    },
    SetTargetValue {
        asg: String,
        policy: String,
        target: f64,
    },
    SetLimits {
        asg: String,
        min: i32,
        max: i32,
    },
    /// The purchase split and instance types of an ASG's mixed instances policy.
    SetMixedInstancesPolicy {
        asg: String,
        on_demand_base_capacity: i32,
        on_demand_percentage_above_base_capacity: i32,
        spot_allocation_strategy: String,
        overrides: Vec<InstanceOverride>,
    },
    /// A commitment to buy (never applied by headroom: purchases are for a person to make).
    BuyCommitment {
        offering: String,
        level: String,
    },
    /// Billing mode and capacity of a DynamoDB table; for PROVISIONED, with auto-scaling bounds.
    SetTableCapacity {
        table: String,
        mode: String,
        rcu: Option<i64>,
        wcu: Option<i64>,
        rcu_autoscale: Option<(i64, i64)>,
        wcu_autoscale: Option<(i64, i64)>,
    },
}

/// A group's purchase split and instance types (its MixedInstancesPolicy, less the launch
/// template, which `Changes::set_mix` keeps as it is).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    pub on_demand_base_capacity: i32,
    pub on_demand_percentage_above_base: i32,
    pub spot_allocation_strategy: Option<String>,
    pub overrides: Vec<InstanceOverride>,
}

/// The part of a resource an action sets, as it is or as it will be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Setting {
    /// A group's min, max and desired capacity.
    Size { min: i32, max: i32, desired: i32 },
    /// A target-tracking policy's target value.
    Target { policy: String, value: f64 },
    /// A group's purchase split and instance types.
    Mix(Mix),
    /// A tier migration: instance types and capacity, rolled out by an instance refresh.
    Migration { mix: Mix, min: i32, max: i32, desired: i32 },
    /// A table's billing mode, provisioned capacity and auto-scaling bounds.
    Table {
        mode: String,
        rcu: Option<i64>,
        wcu: Option<i64>,
        read_scaling: Option<(i64, i64)>,
        write_scaling: Option<(i64, i64)>,
    },
}

impl Setting {
    /// A group's (min, desired, max), for the settings that carry them (a size, a migration).
    pub fn sizes(&self) -> Option<(i32, i32, i32)> {
        match self {
            Setting::Size { min, max, desired } | Setting::Migration { min, max, desired, .. } => Some((*min, *desired, *max)),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    pub fingerprint: String,
    pub kind: Kind,
    pub resource: ResourceId,
    pub severity: Severity,
    pub summary: String,
    pub evidence: Vec<Evidence>,
    pub action: Option<Action>,
    /// Dollars per month this advice changes the bill by: positive costs more, negative saves.
    /// In JSON `monthly_cost_delta_usd`, a number of dollars (as every amount in headroom's JSON).
    #[serde(rename = "monthly_cost_delta_usd", with = "usd_opt")]
    pub monthly_cost_delta: Option<Money>,
    /// The resource's setting this advice was decided against (for a proposed change):
    /// applying it is refused when the resource no longer has it (changed outside headroom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<Setting>,
}

/// Where an advisory is in its life: open → acknowledged → applied / resolved / expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdvisoryState {
    Open,
    Acknowledged,
    Applied,
    Resolved,
    Expired,
}

impl AdvisoryState {
    pub fn as_str(self) -> &'static str {
        match self {
            AdvisoryState::Open => "open",
            AdvisoryState::Acknowledged => "acknowledged",
            AdvisoryState::Applied => "applied",
            AdvisoryState::Resolved => "resolved",
            AdvisoryState::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<AdvisoryState> {
        Some(match s {
            "open" => AdvisoryState::Open,
            "acknowledged" => AdvisoryState::Acknowledged,
            "applied" => AdvisoryState::Applied,
            "resolved" => AdvisoryState::Resolved,
            "expired" => AdvisoryState::Expired,
            _ => return None,
        })
    }
}

// ---------------------------------------------------------------- notices

/// Why an advisory is in the outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeEvent {
    /// New, or back after it was resolved.
    Opened,
    /// Still open, at another severity.
    Changed,
    /// Still open and unchanged, not notified for the repeat interval.
    Repeat,
    /// No longer present.
    Resolved,
    /// Its proposed change was made by headroom (`act/`).
    Applied,
}

impl NoticeEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeEvent::Opened => "opened",
            NoticeEvent::Changed => "changed",
            NoticeEvent::Repeat => "repeat",
            NoticeEvent::Resolved => "resolved",
            NoticeEvent::Applied => "applied",
        }
    }
    pub fn parse(s: &str) -> Option<NoticeEvent> {
        [
            NoticeEvent::Opened,
            NoticeEvent::Changed,
            NoticeEvent::Repeat,
            NoticeEvent::Resolved,
            NoticeEvent::Applied,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }
    /// Whether the advisory is still open and unhandled (not resolved, not applied).
    pub fn firing(self) -> bool {
        !matches!(self, NoticeEvent::Resolved | NoticeEvent::Applied)
    }
}

/// One outbox row: an advisory change as it was when the cycle committed it, with what the
/// notifier needs to route it (scope, resource tags) and to say what changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub event: NoticeEvent,
    /// When the cycle wrote it.
    pub at: Ts,
    /// `account/region`.
    pub scope: String,
    pub advisory: Advisory,
    /// The severity before a `changed` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_severity: Option<Severity>,
    /// The resource's tags (ASGs carry them; other resources have none).
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    pub first_seen: Ts,
    /// For an `applied` notice: the audit row and how the change ended (applied, diverged,
    /// failed, in-progress, not-applied, unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeNote>,
}

/// Which change a notice announces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeNote {
    pub audit_id: i64,
    pub outcome: String,
}

/// A duration for people: `45 s`, `12 min`, `3.5 h`, `2.0 d`.
pub fn fmt_duration(s: i64) -> String {
    match s {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{:.1} h", s as f64 / 3600.0),
        s => format!("{:.1} d", s as f64 / 86_400.0),
    }
}

/// A time for people: `2026-12-04 18:50 UTC`.
pub fn fmt_ts(t: Ts) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}
