//! AWS access behind narrow traits with domain verbs: `Metrics` (CloudWatch GetMetricData),
//! `Inventory` (Auto Scaling groups, scaling policies, DynamoDB tables) and `Billing`
//! (Cost Explorer). Two implementations plug in behind them: `sdk::SdkAws`, the real
//! aws-sdk-rust clients (this is the only module that imports `aws-sdk-*`), and
//! `simulated::SimulatedAccount`, the seeded fleet `headroom demo` runs on; a third,
//! `synthetic::SyntheticFleet`, is the fleet-scale fake for benchmarks and the scale test.
//!
//! May use: domain, config. Must not: keep state between calls, decide anything, or change
//! AWS (changes come only from `act/`). Each call is one API request: callers drive
//! pagination so they can count calls.

pub mod sdk;
pub mod simulated;
pub mod synthetic;

use crate::domain::{AsgState, DailySpend, MetricQuery, ScalingPolicy, TableState, Ts};
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
