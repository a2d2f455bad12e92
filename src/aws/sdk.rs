//! The real AWS: aws-sdk-rust clients behind the `aws` traits. `connect` builds every client
//! in one place (region, endpoint override, timeouts, retries); `classify` turns any SDK error
//! into an `AwsError` that says whether it is worth retrying. Every client carries
//! `CountCalls`, an interceptor that counts each HTTP attempt by service, operation and outcome
//! (retries and throttles included) into the daemon's metrics.
//!
//! May use: aws-sdk-*, domain, config, metrics. Read-only: the mutating calls `act/` makes
//! are in `aws/changes.rs`, on clients of their own without SDK retries.

use super::*;
use crate::config::{AccountCfg, AwsCfg};
use crate::domain::{IndexState, InstanceOverride, InstancesDistribution, Money};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_cloudwatch::primitives::DateTime as CwDateTime;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

/// The SDK clients of one account in one region.
#[derive(Clone, Debug)]
pub struct SdkAws {
    cloudwatch: aws_sdk_cloudwatch::Client,
    autoscaling: aws_sdk_autoscaling::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    cost_explorer: aws_sdk_costexplorer::Client,
    role: Option<AssumedRole>,
    /// For `act/` only: the same credentials, no retries (a change is sent once).
    pub(super) change: ChangeClients,
}

#[derive(Clone, Debug)]
pub(super) struct ChangeClients {
    pub(super) autoscaling: aws_sdk_autoscaling::Client,
    pub(super) dynamodb: aws_sdk_dynamodb::Client,
    pub(super) scaling: aws_sdk_applicationautoscaling::Client,
}

/// The role an account is read through: its credentials provider (AssumeRole through
/// aws-config's STS provider) and until when the last credentials it gave are good.
#[derive(Clone, Debug)]
struct AssumedRole {
    arn: String,
    provider: SharedCredentialsProvider,
    good_until: std::sync::Arc<std::sync::Mutex<Option<std::time::SystemTime>>>,
}

/// Builds all clients for `region` of the credential chain's own account (environment,
/// profile, web identity, ECS/EC2 role). `endpoint_url` overrides every service's endpoint.
pub async fn connect(cfg: &AwsCfg, region: &str) -> SdkAws {
    connect_account(cfg, None, region).await
}

/// Builds all clients for `region` of `account`: through its role when it has one (assumed
/// with the credential chain's credentials, with its external id and session name), else
/// with the chain's own credentials.
pub async fn connect_account(cfg: &AwsCfg, account: Option<&AccountCfg>, region: &str) -> SdkAws {
    let retry = if cfg.max_attempts <= 1 {
        RetryConfig::disabled()
    } else {
        RetryConfig::standard()
            .with_max_attempts(cfg.max_attempts)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_secs(5))
    };
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(cfg.timeout_s.min(10)))
        .operation_attempt_timeout(Duration::from_secs(cfg.timeout_s))
        .operation_timeout(Duration::from_secs(cfg.timeout_s * u64::from(cfg.max_attempts) + 10))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .retry_config(retry)
        .timeout_config(timeouts);
    if let Some(url) = &cfg.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    let mut shared = loader.load().await;
    let mut role = None;
    if let Some(acc) = account
        && let Some(arn) = &acc.role_arn
    {
        let mut b = aws_config::sts::AssumeRoleProvider::builder(arn.clone())
            .session_name(acc.session_name.clone())
            .configure(&shared);
        if let Some(ext) = &acc.external_id {
            b = b.external_id(ext.clone());
        }
        let provider = SharedCredentialsProvider::new(b.build().await);
        shared = shared.into_builder().credentials_provider(provider.clone()).build();
        role = Some(AssumedRole {
            arn: arn.clone(),
            provider,
            good_until: Default::default(),
        });
    }
    // Cost Explorer has one endpoint, in us-east-1, whatever region the fleet is in.
    let ce_conf = aws_sdk_costexplorer::config::Builder::from(&shared)
        .region(aws_config::Region::new("us-east-1"))
        .interceptor(CountCalls)
        .build();
    SdkAws {
        cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(&shared).interceptor(CountCalls).build(),
        ),
        autoscaling: aws_sdk_autoscaling::Client::from_conf(
            aws_sdk_autoscaling::config::Builder::from(&shared).interceptor(CountCalls).build(),
        ),
        dynamodb: aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(&shared).interceptor(CountCalls).build()),
        cost_explorer: aws_sdk_costexplorer::Client::from_conf(ce_conf),
        role,
        change: ChangeClients {
            autoscaling: aws_sdk_autoscaling::Client::from_conf(
                aws_sdk_autoscaling::config::Builder::from(&shared)
                    .retry_config(RetryConfig::disabled())
                    .interceptor(CountCalls)
                    .build(),
            ),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&shared)
                    .retry_config(RetryConfig::disabled())
                    .interceptor(CountCalls)
                    .build(),
            ),
            scaling: aws_sdk_applicationautoscaling::Client::from_conf(
                aws_sdk_applicationautoscaling::config::Builder::from(&shared)
                    .retry_config(RetryConfig::disabled())
                    .interceptor(CountCalls)
                    .build(),
            ),
        },
    }
}

/// Counts every HTTP attempt of every call: `headroom_aws_calls_total` by service, operation
/// and outcome; attempts after a call's first as retries; throttling answers as throttles.
#[derive(Debug)]
struct CountCalls;

impl aws_smithy_runtime_api::client::interceptors::Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "headroom::CountCalls"
    }

    fn read_after_attempt(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _rc: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use aws_smithy_runtime_api::client::orchestrator::Metadata;
        use aws_smithy_runtime_api::client::retries::RequestAttempts;
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (service_key(m.service()), m.name().to_string()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        let outcome = match ctx.response() {
            None => "transport_error",
            Some(r) => {
                let status = r.status();
                let throttled = status.as_u16() == 429
                    || (status.is_client_error()
                        && (r.headers().get("x-amzn-errortype").is_some_and(is_throttle)
                            || r.body()
                                .bytes()
                                .is_some_and(|b| is_throttle(&String::from_utf8_lossy(&b[..b.len().min(2048)])))));
                if status.is_success() {
                    "ok"
                } else if throttled {
                    "throttled"
                } else if status.is_server_error() {
                    "server_error"
                } else {
                    "client_error"
                }
            }
        };
        let m = crate::metrics::get();
        let op = crate::metrics::op_labels(&service, &operation);
        if outcome == "throttled" {
            m.aws_throttles.get_or_create(&op).inc();
        }
        if cfg.load::<RequestAttempts>().is_some_and(|a| a.attempts() > 1) {
            m.aws_retries.get_or_create(&op).inc();
        }
        m.aws_calls
            .get_or_create(&crate::metrics::CallL {
                service,
                operation,
                outcome,
            })
            .inc();
        Ok(())
    }
}

/// The SDK's service names (`Auto Scaling`, `Cost Explorer`) as `ApiCalls` keys them
/// (`autoscaling`, `costexplorer`).
fn service_key(name: &str) -> String {
    name.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase()
}

/// AWS's throttling error codes, as they appear in an error body or x-amzn-ErrorType.
fn is_throttle(s: &str) -> bool {
    [
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "SlowDown",
        "LimitExceededException",
    ]
    .iter()
    .any(|c| s.contains(c))
}

impl Access for SdkAws {
    /// Assumes the account's role when the last credentials are about to expire (or there
    /// were none yet); a denial comes back as `sts AssumeRole: access denied` with the role.
    async fn check_access(&self) -> Result<(), AwsError> {
        let Some(role) = &self.role else { return Ok(()) };
        let now = std::time::SystemTime::now();
        let valid = role.good_until.lock().map(|g| g.is_some_and(|t| t > now)).unwrap_or(false);
        if valid {
            return Ok(());
        }
        match role.provider.provide_credentials().await {
            Ok(creds) => {
                // Re-check five minutes before expiry; credentials without one, in 15 minutes.
                let until = creds
                    .expiry()
                    .and_then(|e| e.checked_sub(Duration::from_secs(300)))
                    .unwrap_or(now + Duration::from_secs(900));
                if let Ok(mut g) = role.good_until.lock() {
                    *g = Some(until);
                }
                Ok(())
            }
            Err(e) => {
                let text = format!("{}", DisplayErrorContext(&e));
                let kind = if DENIED_CODES.iter().any(|c| text.contains(c)) {
                    ErrorKind::AccessDenied
                } else if THROTTLE_CODES.iter().any(|c| text.contains(c)) {
                    ErrorKind::Throttled
                } else if text.contains("timeout") || text.contains("timed out") {
                    ErrorKind::Timeout
                } else if text.contains("dispatch failure") || text.contains("connection") {
                    ErrorKind::Connection
                } else {
                    ErrorKind::Other
                };
                Err(AwsError {
                    service: "sts",
                    operation: "AssumeRole",
                    kind,
                    message: truncate(&format!("role {}: {text}", role.arn), 400),
                })
            }
        }
    }
}

const THROTTLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "LimitExceededException",
    "ProvisionedThroughputExceededException",
];
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
];

/// Maps an SDK error to an `AwsError`, keeping only the service's code and message.
pub fn classify<E>(service: &'static str, operation: &'static str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (kind, message) = match &err {
        SdkError::TimeoutError(_) => (ErrorKind::Timeout, "no answer within the timeout".to_string()),
        SdkError::DispatchFailure(d) => {
            let text = format!("{}", DisplayErrorContext(&err));
            // Credentials are resolved just before sending: their failure arrives as a dispatch
            // failure, but nothing reached the network.
            let kind = if d.is_timeout() {
                ErrorKind::Timeout
            } else if text.to_ascii_lowercase().contains("credential") {
                ErrorKind::Credentials
            } else {
                ErrorKind::Connection
            };
            (kind, text)
        }
        SdkError::ResponseError(_) => {
            let kind = match status {
                Some(s) if s >= 500 => ErrorKind::ServerError,
                Some(429) => ErrorKind::Throttled,
                _ => ErrorKind::Unreadable,
            };
            (
                kind,
                format!(
                    "unreadable response (HTTP {})",
                    status.map(|s| s.to_string()).unwrap_or_else(|| "?".into())
                ),
            )
        }
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("");
            let msg = e.message().unwrap_or("");
            let kind = if code.is_empty() && status.is_some_and(|s| (200..300).contains(&s)) {
                // A success status whose body is not the service's answer is no invalid request.
                ErrorKind::Unreadable
            } else if THROTTLE_CODES.contains(&code) || status == Some(429) {
                ErrorKind::Throttled
            } else if DENIED_CODES.contains(&code) || status == Some(403) {
                ErrorKind::AccessDenied
            } else if code.contains("NotFound") || status == Some(404) {
                ErrorKind::NotFound
            } else if status.is_some_and(|s| s >= 500) {
                ErrorKind::ServerError
            } else {
                ErrorKind::InvalidRequest
            };
            let shown = match (code.is_empty(), msg.is_empty()) {
                (false, false) => format!("{code}: {msg}"),
                (false, true) => code.to_string(),
                _ if kind == ErrorKind::Unreadable => format!(
                    "HTTP {} with a body that is not an answer from {service}",
                    status.map(|s| s.to_string()).unwrap_or_else(|| "?".into())
                ),
                _ => format!("HTTP {}", status.map(|s| s.to_string()).unwrap_or_else(|| "?".into())),
            };
            (kind, shown)
        }
        _ => (ErrorKind::Other, format!("{}", DisplayErrorContext(&err))),
    };
    AwsError {
        service,
        operation,
        kind,
        message: truncate(&message, 300),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl Metrics for SdkAws {
    async fn get_metric_data(&self, req: &MetricDataRequest) -> Result<MetricDataResponse, AwsError> {
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
        let queries: Vec<MetricDataQuery> = req
            .queries
            .iter()
            .map(|(id, q)| {
                let dims: Vec<Dimension> = q
                    .dimensions
                    .iter()
                    .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                    .collect();
                let metric = Metric::builder()
                    .namespace(&q.namespace)
                    .metric_name(&q.metric)
                    .set_dimensions(Some(dims))
                    .build();
                let stat = MetricStat::builder()
                    .metric(metric)
                    .period(q.period_s as i32)
                    .stat(q.stat.as_cloudwatch())
                    .build();
                MetricDataQuery::builder().id(id).metric_stat(stat).return_data(true).build()
            })
            .collect();
        let out = self
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(CwDateTime::from_secs(req.start))
            .end_time(CwDateTime::from_secs(req.end))
            .scan_by(ScanBy::TimestampAscending)
            .max_datapoints(MAX_DATAPOINTS_PER_CALL as i32)
            .set_next_token(req.next_token.clone())
            .send()
            .await
            .map_err(|e| classify("cloudwatch", "GetMetricData", e))?;
        let results = out
            .metric_data_results()
            .iter()
            .map(|r| {
                let mut points: Vec<(Ts, f64)> = r.timestamps().iter().map(|t| t.secs()).zip(r.values().iter().copied()).collect();
                points.sort_by_key(|p| p.0);
                MetricDataResult {
                    id: r.id().unwrap_or_default().to_string(),
                    points,
                }
            })
            .collect();
        Ok(MetricDataResponse {
            results,
            next_token: out.next_token().map(String::from),
        })
    }
}

/// A scaling policy as headroom keeps it (type, and a target-tracking metric and target).
pub(super) fn policy_of(p: &aws_sdk_autoscaling::types::ScalingPolicy) -> ScalingPolicy {
    let tt = p.target_tracking_configuration();
    ScalingPolicy {
        name: p.policy_name().unwrap_or_default().to_string(),
        policy_type: p.policy_type().unwrap_or_default().to_string(),
        target_metric: tt
            .and_then(|t| t.predefined_metric_specification())
            .and_then(|m| m.predefined_metric_type())
            .map(|t| t.as_str().to_string()),
        target_value: tt.and_then(|t| t.target_value()),
    }
}

/// Whether a group's instance is in service.
pub(super) fn is_in_service(i: &aws_sdk_autoscaling::types::Instance) -> bool {
    i.lifecycle_state().map(|s| s.as_str()) == Some("InService")
}

/// The instance types (and weights) of a group's mixed instances policy.
pub(super) fn overrides_of(m: &aws_sdk_autoscaling::types::MixedInstancesPolicy) -> Vec<InstanceOverride> {
    m.launch_template()
        .map(|lt| {
            lt.overrides()
                .iter()
                .filter_map(|o| {
                    Some(InstanceOverride {
                        instance_type: o.instance_type()?.to_string(),
                        weighted_capacity: o.weighted_capacity().map(String::from),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

impl SdkAws {
    pub(super) fn autoscaling(&self) -> &aws_sdk_autoscaling::Client {
        &self.autoscaling
    }
    pub(super) fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        &self.dynamodb
    }
}

impl Inventory for SdkAws {
    async fn describe_asgs(&self, names: &[String], next_token: Option<String>) -> Result<AsgPage, AwsError> {
        let mut call = self
            .autoscaling
            .describe_auto_scaling_groups()
            .set_next_token(next_token)
            .max_records(100);
        if !names.is_empty() {
            call = call.set_auto_scaling_group_names(Some(names.to_vec()));
        }
        let out = call
            .send()
            .await
            .map_err(|e| classify("autoscaling", "DescribeAutoScalingGroups", e))?;
        let groups = out
            .auto_scaling_groups()
            .iter()
            .map(|g| {
                let mut types: std::collections::BTreeMap<String, u32> = Default::default();
                let mut in_service = 0;
                for i in g.instances() {
                    if let Some(t) = i.instance_type() {
                        *types.entry(t.to_string()).or_default() += 1;
                    }
                    if is_in_service(i) {
                        in_service += 1;
                    }
                }
                let mip = g.mixed_instances_policy();
                let overrides = mip.map(overrides_of).unwrap_or_default();
                let distribution = mip.and_then(|m| m.instances_distribution()).map(|d| InstancesDistribution {
                    on_demand_base_capacity: d.on_demand_base_capacity(),
                    on_demand_percentage_above_base: d.on_demand_percentage_above_base_capacity(),
                    spot_allocation_strategy: d.spot_allocation_strategy().map(String::from),
                    on_demand_allocation_strategy: d.on_demand_allocation_strategy().map(String::from),
                });
                let mut tags: Vec<(String, String)> = g
                    .tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
                    .collect();
                tags.sort();
                AsgState {
                    name: g.auto_scaling_group_name().unwrap_or_default().to_string(),
                    min_size: g.min_size().unwrap_or(0),
                    max_size: g.max_size().unwrap_or(0),
                    desired_capacity: g.desired_capacity().unwrap_or(0),
                    in_service,
                    instance_types: types.into_iter().collect(),
                    overrides,
                    distribution,
                    target_group_arns: g.target_group_arns().to_vec(),
                    tags,
                    policies: vec![],
                }
            })
            .collect();
        Ok(AsgPage {
            groups,
            next_token: out.next_token().map(String::from),
        })
    }

    async fn describe_policies(&self, next_token: Option<String>) -> Result<PolicyPage, AwsError> {
        let out = self
            .autoscaling
            .describe_policies()
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| classify("autoscaling", "DescribePolicies", e))?;
        let policies = out
            .scaling_policies()
            .iter()
            .map(|p| (p.auto_scaling_group_name().unwrap_or_default().to_string(), policy_of(p)))
            .collect();
        Ok(PolicyPage {
            policies,
            next_token: out.next_token().map(String::from),
        })
    }

    async fn list_tables(&self, start_after: Option<String>) -> Result<TableNamePage, AwsError> {
        let out = self
            .dynamodb
            .list_tables()
            .set_exclusive_start_table_name(start_after)
            .send()
            .await
            .map_err(|e| classify("dynamodb", "ListTables", e))?;
        Ok(TableNamePage {
            names: out.table_names().to_vec(),
            next: out.last_evaluated_table_name().map(String::from),
        })
    }

    async fn describe_table(&self, name: &str) -> Result<TableState, AwsError> {
        let out = self
            .dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| classify("dynamodb", "DescribeTable", e))?;
        let t = out.table().ok_or_else(|| AwsError {
            service: "dynamodb",
            operation: "DescribeTable",
            kind: ErrorKind::Other,
            message: format!("no table description for {name}"),
        })?;
        let billing_mode = t
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| "PROVISIONED".into());
        let pt = t.provisioned_throughput();
        let positive = |v: Option<i64>| v.filter(|x| *x > 0);
        Ok(TableState {
            name: t.table_name().unwrap_or(name).to_string(),
            read_capacity: positive(pt.and_then(|p| p.read_capacity_units())),
            write_capacity: positive(pt.and_then(|p| p.write_capacity_units())),
            item_count: t.item_count(),
            size_bytes: t.table_size_bytes(),
            gsis: t
                .global_secondary_indexes()
                .iter()
                .map(|g| IndexState {
                    name: g.index_name().unwrap_or_default().to_string(),
                    read_capacity: positive(g.provisioned_throughput().and_then(|p| p.read_capacity_units())),
                    write_capacity: positive(g.provisioned_throughput().and_then(|p| p.write_capacity_units())),
                })
                .collect(),
            billing_mode,
        })
    }
}

impl Billing for SdkAws {
    async fn daily_spend_by_service(&self, start_day: &str, end_day: &str, next_token: Option<String>) -> Result<SpendPage, AwsError> {
        use aws_sdk_costexplorer::types::{DateInterval, Granularity, GroupDefinition, GroupDefinitionType};
        let period = DateInterval::builder()
            .start(start_day)
            .end(end_day)
            .build()
            .map_err(|e| AwsError {
                service: "costexplorer",
                operation: "GetCostAndUsage",
                kind: ErrorKind::InvalidRequest,
                message: e.to_string(),
            })?;
        let out = self
            .cost_explorer
            .get_cost_and_usage()
            .time_period(period)
            .granularity(Granularity::Daily)
            .metrics("UnblendedCost")
            .group_by(
                GroupDefinition::builder()
                    .r#type(GroupDefinitionType::Dimension)
                    .key("SERVICE")
                    .build(),
            )
            .set_next_page_token(next_token)
            .send()
            .await
            .map_err(|e| classify("costexplorer", "GetCostAndUsage", e))?;
        // Cost Explorer answers a date range with one ResultsByTime entry a day, even a day of
        // no spend: an answer without any (`{}` from a proxy or the wrong service) is no
        // answer, and recording it as a read would stop spend being read until the next slot.
        if out.results_by_time.is_none() {
            return Err(AwsError {
                service: "costexplorer",
                operation: "GetCostAndUsage",
                kind: ErrorKind::Unreadable,
                message: "unreadable response: no ResultsByTime in the answer (is aws.endpoint_url Cost Explorer?)".into(),
            });
        }
        let mut days = Vec::new();
        for r in out.results_by_time() {
            let day = r.time_period().map(|p| p.start().to_string()).unwrap_or_default();
            for g in r.groups() {
                let service = g.keys().first().cloned().unwrap_or_else(|| "unknown".into());
                let amount = g
                    .metrics()
                    .and_then(|m| m.get("UnblendedCost"))
                    .and_then(|v| v.amount())
                    .and_then(Money::parse_usd);
                if let Some(amount) = amount {
                    days.push(DailySpend {
                        day: day.clone(),
                        service,
                        amount,
                    });
                }
            }
        }
        Ok(SpendPage {
            days,
            next_token: out.next_page_token().map(String::from),
        })
    }
}
