//! AWS access behind narrow traits with domain verbs: `Metrics` (CloudWatch GetMetricData),
//! `Inventory` (Auto Scaling groups, scaling policies, DynamoDB tables) and `Billing`
//! (Cost Explorer). Two implementations plug in behind them: `sdk::SdkAws`, the real
//! aws-sdk-rust clients (this is the only module that imports `aws-sdk-*`), and
//! `simulated::SimulatedAccount`, the seeded fleet `headroom demo` runs on; a third,
//! `synthetic::SyntheticFleet`, is the fleet-scale fake for benchmarks and the scale test.
//!
//! `Changes` is the narrow set of mutating calls (and the reads they need right before and
//! after): only `act/` calls it, after its guardrails allowed the change.
//!
//! May use: domain, config. Must not: keep state between calls, decide anything, or change
//! AWS on its own (changes come only from `act/`, through `Changes`). Each read call is one
//! API request: callers drive pagination so they can count calls.

mod changes;
pub mod iam;
pub mod sdk;
pub mod simulated;
pub mod synthetic;

pub use crate::domain::Mix;
use crate::domain::{AsgState, DailySpend, MetricQuery, ScalingPolicy, TableState, Ts};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::future::Future;

/// GetMetricData's own limits (AWS API reference).
pub const MAX_QUERIES_PER_CALL: usize = 500;
pub const MAX_DATAPOINTS_PER_CALL: u64 = 100_800;

/// What kind of failure an AWS call ended in, after the SDK's own retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Throttled,
    ServerError,
    Timeout,
    Connection,
    AccessDenied,
    NotFound,
    InvalidRequest,
    /// No credentials could be found or loaded (nothing was sent).
    Credentials,
    /// The endpoint answered, but not in the service's format (e.g. an HTTP 200 that is not
    /// an AWS response: a proxy page, the wrong service).
    Unreadable,
    Other,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Throttled => "throttled",
            ErrorKind::ServerError => "server error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection failed",
            ErrorKind::AccessDenied => "access denied",
            ErrorKind::NotFound => "not found",
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::Credentials => "no AWS credentials",
            ErrorKind::Unreadable => "unreadable response",
            ErrorKind::Other => "error",
        })
    }
}

impl ErrorKind {
    /// The kind named in a failure's text (a source's reason: `service Operation: kind: …`), as
    /// a metric label (`throttled`, `server_error`, …, `other`).
    pub fn label_in(reason: &str) -> &'static str {
        use ErrorKind::*;
        for k in [
            Throttled,
            ServerError,
            Timeout,
            Connection,
            AccessDenied,
            NotFound,
            InvalidRequest,
            Credentials,
            Unreadable,
        ] {
            if reason.contains(&format!(": {k}")) {
                return k.label();
            }
        }
        "other"
    }

    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Throttled => "throttled",
            ErrorKind::ServerError => "server_error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Credentials => "credentials",
            ErrorKind::Unreadable => "unreadable",
            ErrorKind::Other => "other",
        }
    }
}

/// A failed AWS call: which service and operation, what kind, and the service's message.
/// Never carries credentials (the SDK's messages do not include them).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{service} {operation}: {kind}: {message}")]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub kind: ErrorKind,
    pub message: String,
}

impl AwsError {
    /// Worth trying again later (the SDK already retried within the call).
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Throttled | ErrorKind::ServerError | ErrorKind::Timeout | ErrorKind::Connection
        )
    }
    /// A hint for the operator, by kind.
    pub fn hint(&self) -> &'static str {
        match self.kind {
            ErrorKind::AccessDenied if self.service == "sts" => {
                "check that the member account's role trusts headroom's principal (config/iam/headroom-member-trust.json) and that external_id matches"
            }
            ErrorKind::AccessDenied => "grant the read-only policy in config/iam/headroom-readonly.json",
            ErrorKind::Throttled => {
                "headroom will retry next cycle; lower the number of watched series or raise the collect interval if it persists"
            }
            ErrorKind::Timeout => {
                "the endpoint did not answer within [aws] timeout_seconds (slow or overloaded, not unreachable); headroom retries next cycle, raise timeout_seconds if it persists"
            }
            ErrorKind::Connection => "check network access to the AWS endpoint (or aws.endpoint_url)",
            ErrorKind::ServerError => "AWS answered 5xx; headroom retries next cycle",
            ErrorKind::Credentials => {
                "give headroom credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE), web identity, or an instance/task role"
            }
            ErrorKind::Unreadable => {
                "the endpoint is not answering as this AWS service does: check aws.endpoint_url and any proxy in between"
            }
            _ => "",
        }
    }
}

/// One GetMetricData request: queries with caller-chosen ids over one time range.
#[derive(Clone, Debug)]
pub struct MetricDataRequest {
    /// Inclusive start, exclusive end, seconds since the epoch, aligned to the period.
    pub start: Ts,
    pub end: Ts,
    pub queries: Vec<(String, MetricQuery)>,
    pub next_token: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct MetricDataResult {
    pub id: String,
    /// Ascending by time.
    pub points: Vec<(Ts, f64)>,
}

#[derive(Clone, Debug, Default)]
pub struct MetricDataResponse {
    pub results: Vec<MetricDataResult>,
    pub next_token: Option<String>,
}

/// A page of Auto Scaling groups.
#[derive(Clone, Debug, Default)]
pub struct AsgPage {
    pub groups: Vec<AsgState>,
    pub next_token: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct PolicyPage {
    /// (group name, policy)
    pub policies: Vec<(String, ScalingPolicy)>,
    pub next_token: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct TableNamePage {
    pub names: Vec<String>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct SpendPage {
    pub days: Vec<DailySpend>,
    pub next_token: Option<String>,
}

/// CloudWatch metric data.
pub trait Metrics {
    fn get_metric_data(&self, req: &MetricDataRequest) -> impl Future<Output = Result<MetricDataResponse, AwsError>> + Send;
}

/// What the workload runs on.
pub trait Inventory {
    /// One page of DescribeAutoScalingGroups; `names` empty means every group.
    fn describe_asgs(&self, names: &[String], next_token: Option<String>) -> impl Future<Output = Result<AsgPage, AwsError>> + Send;
    /// One page of DescribePolicies over every group.
    fn describe_policies(&self, next_token: Option<String>) -> impl Future<Output = Result<PolicyPage, AwsError>> + Send;
    /// One page of ListTables.
    fn list_tables(&self, start_after: Option<String>) -> impl Future<Output = Result<TableNamePage, AwsError>> + Send;
    fn describe_table(&self, name: &str) -> impl Future<Output = Result<TableState, AwsError>> + Send;
}

/// What it costs.
pub trait Billing {
    /// One page of GetCostAndUsage: daily UnblendedCost grouped by SERVICE over
    /// [start_day, end_day) (dates `YYYY-MM-DD`).
    fn daily_spend_by_service(
        &self,
        start_day: &str,
        end_day: &str,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<SpendPage, AwsError>> + Send;
}

/// Whether the account can be read at all: for an account reached through a role, that the
/// role can be assumed (checked once per set of credentials, not per call). Accounts read
/// with the credential chain's own credentials have nothing to check.
pub trait Access {
    fn check_access(&self) -> impl Future<Output = Result<(), AwsError>> + Send {
        async { Ok(()) }
    }
}

/// Everything a collection cycle reads.
pub trait Account: Metrics + Inventory + Billing + Access + Sync {}
impl<T: Metrics + Inventory + Billing + Access + Sync> Account for T {}

/// A group's newest instance refresh.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refresh {
    pub id: String,
    /// As AWS says it: Pending, InProgress, Successful, Failed, Cancelling, Cancelled, …
    pub status: String,
    pub percent_complete: Option<i32>,
    pub reason: Option<String>,
}

impl Refresh {
    /// Still replacing instances (or about to).
    pub fn running(&self) -> bool {
        matches!(
            self.status.as_str(),
            "Pending" | "InProgress" | "Cancelling" | "RollbackInProgress" | "Baking"
        )
    }
}

/// An Auto Scaling group as `act/` reads it right before and after a change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupConfig {
    pub name: String,
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub in_service: i32,
    pub tags: Vec<(String, String)>,
    /// None when the group launches from a plain launch template (no MixedInstancesPolicy).
    pub mix: Option<Mix>,
    pub policies: Vec<ScalingPolicy>,
    pub refresh: Option<Refresh>,
}

/// A DynamoDB table as `act/` reads it right before and after a change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableConfig {
    pub name: String,
    /// `PROVISIONED` or `PAY_PER_REQUEST`.
    pub mode: String,
    pub rcu: Option<i64>,
    pub wcu: Option<i64>,
    /// Provisioned-throughput decreases AWS counted today (UTC).
    pub decreases_today: i64,
    pub tags: Vec<(String, String)>,
    /// Application Auto Scaling bounds (min, max) of read and write capacity, if registered.
    pub read_scaling: Option<(i64, i64)>,
    pub write_scaling: Option<(i64, i64)>,
}

/// The calls that change capacity. Called only from `act/`; each mutating call is sent once
/// (no SDK retries: a change that may have half-happened is for a person to look at).
pub trait Changes {
    /// DescribeAutoScalingGroups, DescribePolicies and DescribeInstanceRefreshes of one group.
    fn read_group(&self, name: &str) -> impl Future<Output = Result<GroupConfig, AwsError>> + Send;
    /// UpdateAutoScalingGroup with min, max and desired.
    fn set_group_size(&self, name: &str, min: i32, max: i32, desired: i32) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// PutScalingPolicy with the policy's full target-tracking configuration and a new target.
    fn set_target_value(&self, group: &str, policy: &str, target: f64) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// UpdateAutoScalingGroup with the full MixedInstancesPolicy: read, change split and
    /// types, write back whole (a partial policy fails half-applied: PEERS.md).
    fn set_mix(&self, group: &str, mix: &Mix) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// StartInstanceRefresh with a minimum healthy percentage; the refresh's id.
    fn start_refresh(&self, group: &str, min_healthy_percent: i32) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// DescribeTable, ListTagsOfResource and DescribeScalableTargets of one table.
    fn read_table(&self, name: &str) -> impl Future<Output = Result<TableConfig, AwsError>> + Send;
    /// UpdateTable: billing mode and, for PROVISIONED, read and write capacity.
    fn set_table(&self, name: &str, mode: &str, rcu: Option<i64>, wcu: Option<i64>) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Application Auto Scaling: register (with a 70 % target-tracking policy) or, for None,
    /// deregister the table's read and write capacity bounds.
    fn set_table_scaling(
        &self,
        name: &str,
        read: Option<(i64, i64)>,
        write: Option<(i64, i64)>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Target utilization of the auto-scaling policy headroom puts on a table's capacity.
pub const TABLE_SCALING_TARGET_PERCENT: f64 = 70.0;

fn cannot_change(service: &'static str, operation: &'static str, what: &str) -> AwsError {
    AwsError {
        service,
        operation,
        kind: ErrorKind::InvalidRequest,
        message: format!("{what} cannot be changed: it is simulated"),
    }
}
