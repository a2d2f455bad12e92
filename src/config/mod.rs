//! Configuration: `headroom.toml` (AWS, targets, schedules, store, notify, apply),
//! `sizing.toml` (tiers and formula parameters), `pricing.toml` (dated price table) and
//! `alerts/*.toml` (rule packs), loaded in two stages: `read` walks the raw TOML collecting
//! **every** problem as `file: key.path: problem (hint)`, then the values below are the
//! validated types the rest of headroom uses. Defaults live here and only here.
//!
//! May use: domain. Must not do I/O beyond reading the config files; secrets are kept as
//! references (env var name or file path) and resolved only when used, never logged.

pub mod notify;
pub mod read;

pub use notify::{
    EmailCfg, EmailTransport, GroupBy, NotifyCfg, ReceiverCfg, ReceiverKind, RouteCfg, SlackCfg, SlackTarget, SmtpCfg, SmtpTls,
};

use crate::domain::Money;
pub use read::parse_duration;
use read::{Diag, Problem, Tbl};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The shipped configuration, embedded so `headroom demo` needs no files.
pub mod embedded {
    pub const HEADROOM: &str = include_str!("../../config/headroom.toml");
    pub const SIZING: &str = include_str!("../../config/sizing.toml");
    pub const PRICING: &str = include_str!("../../config/pricing.toml");
    pub const ALERTS_DEFAULT: &str = include_str!("../../alerts/default.toml");
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}", render(.0))]
    Invalid(Vec<Problem>),
}

fn render(p: &[Problem]) -> String {
    let lines: Vec<String> = p.iter().map(|p| p.to_string()).collect();
    format!("{} configuration problem(s):\n{}", p.len(), lines.join("\n"))
}

impl ConfigError {
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
        }
    }
}

// ---------------------------------------------------------------- validated types

#[derive(Clone, Debug)]
pub struct Config {
    pub headroom: Headroom,
    pub sizing: Sizing,
    pub pricing: Pricing,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug)]
pub struct Headroom {
    pub aws: AwsCfg,
    pub collect: CollectCfg,
    pub targets: Targets,
    pub schedule: ScheduleCfg,
    pub store: StoreCfg,
    pub notify: NotifyCfg,
    pub apply: ApplyCfg,
    pub advice: AdviceCfg,
    pub http: HttpCfg,
}

#[derive(Clone, Debug)]
pub struct AwsCfg {
    pub regions: Vec<String>,
    /// The accounts to collect from (`[[aws.accounts]]`); when none are configured, the one
    /// account of the credential chain, as `default`, in `regions`.
    pub accounts: Vec<AccountCfg>,
    pub endpoint_url: Option<String>,
    pub timeout_s: u64,
    pub max_attempts: u32,
    /// How many scopes (account × region) cycle at once.
    pub concurrent_scopes: usize,
}

/// One account: its id, the role headroom assumes in it (none: the credential chain's own
/// account), and its regions.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountCfg {
    pub id: String,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub session_name: String,
    pub regions: Vec<String>,
}

/// The account label of the credential chain's own account when no `[[aws.accounts]]` is set.
pub const DEFAULT_ACCOUNT: &str = "default";

impl AwsCfg {
    /// The accounts to collect from: the configured ones, or the credential chain's.
    pub fn effective_accounts(&self) -> Vec<AccountCfg> {
        if !self.accounts.is_empty() {
            return self.accounts.clone();
        }
        vec![AccountCfg {
            id: DEFAULT_ACCOUNT.to_string(),
            role_arn: None,
            external_id: None,
            session_name: "headroom".to_string(),
            regions: self.regions.clone(),
        }]
    }
    /// Every scope, account by account, each account's regions in order.
    pub fn scopes(&self) -> Vec<crate::domain::Scope> {
        self.effective_accounts()
            .iter()
            .flat_map(|a| a.regions.iter().map(|r| crate::domain::Scope::new(&a.id, r)))
            .collect()
    }
    /// The scope rows written before scopes existed are moved to: the first scope.
    pub fn default_scope(&self) -> crate::domain::Scope {
        self.scopes()
            .into_iter()
            .next()
            .unwrap_or_else(|| crate::domain::Scope::new(DEFAULT_ACCOUNT, "us-east-1"))
    }
}

#[derive(Clone, Debug)]
pub struct CollectCfg {
    pub period_s: u32,
    pub lookback_days: u32,
    pub overlap_periods: u32,
    pub spend_days: u32,
    pub memory_metric: bool,
    /// Collect AWS/AutoScaling GroupDesiredCapacity per ASG (needs group metrics enabled).
    pub group_metrics: bool,
    pub latency_percentile: bool,
    /// Tags on a group that name its ALB and target group (their CloudWatch dimension values,
    /// or ARNs), for groups whose target gives none: fleets that tag their groups need no
    /// per-group config.
    pub load_balancer_tag: String,
    pub target_group_tag: String,
    /// How long one cycle's collection may take before the cycle goes on without what has not
    /// answered (partial), seconds. Well under the collect interval.
    pub deadline_s: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AsgTarget {
    pub name: Option<String>,
    pub tags: Vec<(String, String)>,
    /// ALB dimension value `app/NAME/ID`; needed for TargetResponseTime and friends.
    pub load_balancer: Option<String>,
    /// Target group dimension value `targetgroup/NAME/ID`; defaults to the ASG's first.
    pub target_group: Option<String>,
    /// The sizing tier (sizing.toml) this service is deployed as; without it headroom places
    /// the service by its observed peak and cannot advise moving down.
    pub tier: Option<String>,
    /// A metric that counts concurrent users directly (dimension AutoScalingGroupName = the
    /// group's name); without it users come from RequestCount.
    pub users_metric: Option<UsersMetric>,
    /// A metric of the database connection pool's use in percent (dimension
    /// AutoScalingGroupName), for the db-connection-pool rule.
    pub db_pool_metric: Option<UsersMetric>,
}

/// A custom metric on an ASG target (dimension AutoScalingGroupName = the group):
/// `users_metric = { namespace = "Chat", name = "ConcurrentUsers" }`.
#[derive(Clone, Debug, PartialEq)]
pub struct UsersMetric {
    pub namespace: String,
    pub name: String,
}

impl AsgTarget {
    /// A target of the group with this name, nothing else mapped.
    pub fn named(name: &str) -> AsgTarget {
        AsgTarget {
            name: Some(name.to_string()),
            tags: vec![],
            load_balancer: None,
            target_group: None,
            tier: None,
            users_metric: None,
            db_pool_metric: None,
        }
    }
    /// A target of every group carrying all these tags, nothing else mapped.
    pub fn tagged(tags: &[(&str, &str)]) -> AsgTarget {
        AsgTarget {
            name: None,
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..AsgTarget::named("")
        }
    }
    /// Whether the selector picks this group: the name, if given, and every tag.
    pub fn matches(&self, g: &crate::domain::AsgState) -> bool {
        self.name.as_ref().is_none_or(|n| n == &g.name) && self.tags.iter().all(|(k, v)| g.tags.iter().any(|(gk, gv)| gk == k && gv == v))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TableTarget {
    pub name: Option<String>,
    pub prefix: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Targets {
    pub asgs: Vec<AsgTarget>,
    pub tables: Vec<TableTarget>,
}

#[derive(Clone, Debug)]
pub struct Cron {
    pub expr: String,
    pub schedule: cron::Schedule,
}

#[derive(Clone, Debug)]
pub struct ScheduleCfg {
    pub timezone: chrono_tz::Tz,
    pub collect: Cron,
    pub forecast: Cron,
    pub weekly_report: Cron,
    /// When Cost Explorer is read (in UTC, the time zone of its days): each GetCostAndUsage
    /// request is billed, and the data changes daily.
    pub spend: Cron,
}

#[derive(Clone, Debug)]
pub struct StoreCfg {
    pub path: PathBuf,
    pub retention_days: u32,
}

/// Where a secret comes from. The value itself is read only when it is used.
#[derive(Clone, Debug, PartialEq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
    /// A systemd credential (`LoadCredential=NAME:/path` in the unit): the file NAME in
    /// `$CREDENTIALS_DIRECTORY`, readable only by the service.
    Credential(String),
}

/// A resolved secret: prints as `[redacted]` in Debug and Display.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl SecretRef {
    /// Reads the secret. The error names the variable or file, never the value.
    pub fn resolve(&self) -> Result<Secret, String> {
        match self {
            SecretRef::Env(name) => std::env::var(name)
                .map(|v| Secret(v.trim().to_string()))
                .map_err(|_| format!("environment variable {name} is not set (export it, or use a *_file key)")),
            SecretRef::File(p) => crate::files::read_text(p, crate::files::Kind::Secret)
                .map(|v| Secret(v.trim().to_string()))
                .map_err(|e| format!("cannot read secret file {}: {e}", p.display())),
            SecretRef::Credential(name) => {
                let p = credential_path(name)?;
                crate::files::read_text(&p, crate::files::Kind::Secret)
                    .map(|v| Secret(v.trim().to_string()))
                    .map_err(|e| {
                        format!(
                            "cannot read systemd credential {name} ({}): {e} (is LoadCredential={name}:… in the unit?)",
                            p.display()
                        )
                    })
            }
        }
    }
}

/// What headroom may do with an advisory's proposed change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyMode {
    /// Nothing changes; `headroom apply` shows the plan only.
    Recommend,
    /// `headroom apply FINGERPRINT --yes` applies one advisory after its plan was shown.
    Approve,
    /// The daemon applies advisories of the allowed kinds and severities itself (and
    /// `headroom apply --yes` works as in approve).
    Auto,
}

impl ApplyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyMode::Recommend => "recommend",
            ApplyMode::Approve => "approve",
            ApplyMode::Auto => "auto",
        }
    }
}

/// A change window: changes only from each tick of `cron` (in [schedule] timezone) for
/// `duration_s`.
#[derive(Clone, Debug)]
pub struct ChangeWindow {
    pub cron: Cron,
    pub duration_s: u64,
}

/// `[apply]`: whether and how headroom changes capacity itself, and its guardrails.
#[derive(Clone, Debug)]
pub struct ApplyCfg {
    pub mode: ApplyMode,
    /// Resources carrying this tag with value `true` may be changed.
    pub opt_in_tag: String,
    /// Resources opted in by name (`asg/NAME`, `table/NAME`) besides the tag.
    pub resources: Vec<String>,
    /// In auto mode: the advisory kinds applied, and the least severity.
    pub kinds: Vec<crate::domain::Kind>,
    pub min_severity: crate::domain::Severity,
    /// One action changes capacity by at most this percent, or by at most
    /// `max_step_instances` instances (whichever allows more).
    pub max_step_percent: u32,
    pub max_step_instances: u32,
    /// Least time between two changes of one resource.
    pub cooldown_s: u64,
    /// Changes only inside one of these (none: any time).
    pub windows: Vec<ChangeWindow>,
    /// While this file exists nothing is applied.
    pub kill_switch: PathBuf,
    /// Whether `kill_switch` was set in the config; else it lies beside the store actually
    /// used (`kill_switch_for`).
    pub kill_switch_set: bool,
    /// An apply decides on data at most this old (None: two collect intervals).
    pub max_evidence_age_s: Option<u64>,
    /// One action may raise the monthly bill by at most this many dollars.
    pub max_monthly_increase_usd: f64,
    /// Most actions applied in any 24 hours, over every scope.
    pub max_actions_per_day: u32,
    /// An instance refresh keeps at least this percent of the group healthy.
    pub min_healthy_percent: i32,
}

impl ApplyCfg {
    /// The kill switch for a store at `store`: the configured file, else `stop-apply` beside
    /// the store (so `--store` elsewhere finds its own).
    pub fn kill_switch_for(&self, store: &Path) -> PathBuf {
        if self.kill_switch_set {
            self.kill_switch.clone()
        } else {
            store.with_file_name("stop-apply")
        }
    }
}

impl Headroom {
    /// The oldest data an apply may decide on, in seconds: `[apply] max_evidence_age`, else
    /// two intervals of the collect schedule (measured between its next two ticks after `now`).
    pub fn max_evidence_age_s(&self, now: chrono::DateTime<chrono::Utc>) -> i64 {
        if let Some(s) = self.apply.max_evidence_age_s {
            return s as i64;
        }
        let tz = self.schedule.timezone;
        let mut ticks = self.schedule.collect.schedule.after(&now.with_timezone(&tz));
        match (ticks.next(), ticks.next()) {
            (Some(a), Some(b)) => 2 * (b - a).num_seconds().max(60),
            _ => 600,
        }
    }
}

/// `[advice]`: the parameters of right-sizing (the other analyzers add theirs here).
#[derive(Clone, Debug, PartialEq)]
pub struct AdviceCfg {
    /// History right-sizing looks at, in days.
    pub lookback_days: u32,
    /// Percentile of CPU the fleet is sized for (e.g. 95).
    pub cpu_percentile: f64,
    /// Percentile of memory the fleet is sized for (e.g. 99.5: memory does not burst gracefully).
    pub memory_percentile: f64,
    /// Utilization the sized fleet should run at, percent.
    pub target_utilization: f64,
    /// Extra capacity above the target, percent.
    pub headroom: f64,
    /// Below this much history, advice holds back and says so.
    pub min_history_hours: f64,
    /// Commitment terms (years) and payment options advice may recommend.
    pub commitment_terms: Vec<u32>,
    pub commitment_payments: Vec<String>,
    /// The ASG tag naming a service's class, and the classes that tolerate spot interruptions.
    pub service_class_tag: String,
    pub spot_classes: Vec<String>,
    /// Share of capacity above the on-demand base that may run on spot (002: 70 %).
    pub spot_share: f64,
    /// Percentile of in-service capacity taken as the steady floor (the on-demand base).
    pub spot_base_percentile: f64,
}

/// Payment options a commitment can be bought with.
pub const PAYMENTS: &[&str] = &["no-upfront", "partial-upfront", "all-upfront"];

impl Default for AdviceCfg {
    fn default() -> Self {
        AdviceCfg {
            lookback_days: 14,
            cpu_percentile: 95.0,
            memory_percentile: 99.5,
            target_utilization: 70.0,
            headroom: 20.0,
            min_history_hours: 30.0,
            commitment_terms: vec![1],
            commitment_payments: vec!["no-upfront".into()],
            service_class_tag: "service-class".into(),
            spot_classes: vec!["batch".into(), "stateless".into(), "web".into()],
            spot_share: 0.7,
            spot_base_percentile: 10.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct HttpCfg {
    /// `address:port` for /healthz and /metrics; `off` serves nothing.
    pub listen: String,
    /// Whether `listen` may be a non-loopback address (the endpoints have no authentication).
    pub allow_remote: bool,
}

impl HttpCfg {
    /// The address to bind, or None when the endpoints are off.
    pub fn addr(&self) -> Option<std::net::SocketAddr> {
        if self.listen == "off" { None } else { self.listen.parse().ok() }
    }
}

pub use crate::domain::Severity;

#[derive(Clone, Debug, PartialEq)]
pub struct PodSpec {
    pub replicas: u32,
    pub cpu_m: u32,
    pub memory_mib: u32,
    pub hpa_min: u32,
    pub hpa_max: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purchase {
    OnDemand,
    Spot,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeGroup {
    pub name: String,
    pub instance_types: Vec<String>,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    pub purchase: Purchase,
}

/// A sizing tier. Lower bound inclusive, upper exclusive: exactly 500 concurrent users is the
/// tier that starts at 500 (the seeds leave boundaries ambiguous; this is headroom's rule).
#[derive(Clone, Debug, PartialEq)]
pub struct Tier {
    pub name: String,
    pub concurrent_users: (f64, f64),
    pub backend: PodSpec,
    pub frontend: PodSpec,
    pub node_groups: Vec<NodeGroup>,
    pub monthly_cost_usd: Option<(f64, f64)>,
    pub migration_steps: Vec<String>,
}

/// Formula parameters of the seeds' model (seeds-model.md §1–§2).
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub requests_per_user_per_minute: f64,
    pub requests_per_pod_per_second: f64,
    pub spike_buffer: f64,
    pub max_multiplier: f64,
    pub node_buffer: f64,
    pub node_usable_cpu: f64,
    pub node_usable_memory_mb: f64,
    pub dynamodb_reads_per_user: f64,
    pub dynamodb_writes_per_user: f64,
    pub tier_up_at: f64,
    pub tier_down_below: f64,
    pub tier_down_after_days: u32,
    /// Days ahead a growth trend may cross `tier_up_at` × the upper bound and still call for
    /// moving up now (a migration's lead time).
    pub tier_lead_days: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sizing {
    pub workload: Workload,
    pub tiers: Vec<Tier>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InstancePrice {
    pub vcpu: f64,
    pub memory_gib: f64,
    pub on_demand_hourly: Money,
    pub spot_discount: f64,
    pub ri_1yr_hourly: Money,
    pub ri_3yr_hourly: Money,
    pub sp_1yr_hourly: Money,
    pub sp_3yr_hourly: Money,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pricing {
    pub region: String,
    pub as_of: String,
    pub instances: BTreeMap<String, InstancePrice>,
    pub fargate_vcpu_hour: Money,
    pub fargate_gb_hour: Money,
    /// Fargate Spot's discount off the Fargate rates (a share; default 0.7).
    pub fargate_spot_discount: f64,
    pub dynamodb_read_per_million: Money,
    pub dynamodb_write_per_million: Money,
    pub dynamodb_rcu_hour: Money,
    pub dynamodb_wcu_hour: Money,
    /// DynamoDB 1-year reserved capacity per 100 units: (upfront, hourly) for reads and writes.
    pub dynamodb_reserved_rcu100: (Money, Money),
    pub dynamodb_reserved_wcu100: (Money, Money),
    pub payment: PaymentOptions,
}

/// RI and Savings Plan payment options relative to no upfront (the table's hourly rates):
/// each option's total over the term as a fraction of no upfront's, and the share of that
/// total paid at purchase.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaymentOptions {
    pub partial_upfront_total: f64,
    pub partial_upfront_share: f64,
    pub all_upfront_total: f64,
}

impl Default for PaymentOptions {
    fn default() -> Self {
        PaymentOptions {
            partial_upfront_total: 0.95,
            partial_upfront_share: 0.5,
            all_upfront_total: 0.93,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Ge,
    Lt,
    Le,
}

/// An alert rule from a rule pack (the engine comes with the advice issue).
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub name: String,
    pub file: String,
    pub signal: String,
    pub resource: String,
    pub stat: String,
    pub window_s: u64,
    pub op: Cmp,
    pub threshold: f64,
    pub for_s: u64,
    pub keep_firing_for_s: u64,
    pub severity: Severity,
    pub labels: BTreeMap<String, String>,
    pub summary: String,
    pub source: String,
}

// ---------------------------------------------------------------- loading

/// The text of each config file, with the name used in messages.
pub struct Sources {
    pub headroom: (String, String),
    pub sizing: (String, String),
    pub pricing: (String, String),
    pub alerts: Vec<(String, String)>,
}

/// The group tags that name its ALB and target group unless `[collect]` says otherwise.
pub const DEFAULT_LB_TAG: &str = "headroom:load-balancer";
pub const DEFAULT_TG_TAG: &str = "headroom:target-group";

/// When spend is read unless `[schedule] spend` says otherwise: ten past midnight UTC (once
/// Cost Explorer has closed the day) and every six hours after, four billed requests a day
/// per account instead of 288.
pub const DEFAULT_SPEND_CRON: &str = "10 */6 * * *";

/// A cycle's collection deadline unless `[collect] deadline_seconds` says otherwise: two
/// minutes, well inside the default 5-minute interval.
pub const DEFAULT_DEADLINE_S: u64 = 120;

/// The largest configuration file headroom reads: the shipped ones are a few KiB; a file
/// beyond this is a mistake (a log, a device), not a config.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads one configuration file: a regular file of at most `MAX_CONFIG_BYTES`, as UTF-8 text
/// (a leading byte-order mark is dropped). The error says which rule it broke.
pub fn read_config_file(p: &Path) -> Result<String, String> {
    crate::files::read_text(p, crate::files::Kind::Config).map_err(|e| match e.starts_with("not ") || e.contains(" bytes, ") {
        true => e,
        false => format!("cannot read: {e}"),
    })
}

impl Sources {
    pub fn embedded() -> Sources {
        Sources {
            headroom: ("headroom.toml".into(), embedded::HEADROOM.into()),
            sizing: ("sizing.toml".into(), embedded::SIZING.into()),
            pricing: ("pricing.toml".into(), embedded::PRICING.into()),
            alerts: vec![("alerts/default.toml".into(), embedded::ALERTS_DEFAULT.into())],
        }
    }

    /// Reads `DIR/headroom.toml`, `DIR/sizing.toml`, `DIR/pricing.toml` and every
    /// `*.toml` in the alert directories that headroom.toml names (default `DIR/../alerts`).
    pub fn from_dir(dir: &Path) -> Result<Sources, ConfigError> {
        let mut problems = Vec::new();
        let mut read = |name: &str| -> (String, String) {
            let p = dir.join(name);
            let shown = p.display().to_string();
            match read_config_file(&p) {
                Ok(s) => (shown, s),
                Err(e) => {
                    problems.push(Problem {
                        file: shown.clone(),
                        key: String::new(),
                        problem: e,
                        hint: format!("pass --config DIR pointing at a folder with {name}, or copy it from the repository's config/"),
                    });
                    (shown, String::new())
                }
            }
        };
        let headroom = read("headroom.toml");
        let sizing = read("sizing.toml");
        let pricing = read("pricing.toml");
        let mut alerts = Vec::new();
        let alert_dirs = alert_dirs_of(&headroom.1);
        for d in alert_dirs {
            let ad = dir.join(&d);
            match std::fs::read_dir(&ad) {
                Ok(entries) => {
                    let mut files: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                        .collect();
                    files.sort();
                    for f in files {
                        let shown = f.display().to_string();
                        match read_config_file(&f) {
                            Ok(s) => alerts.push((shown, s)),
                            Err(e) => problems.push(Problem {
                                file: shown,
                                key: String::new(),
                                problem: e,
                                hint: "rule packs are small TOML files; check the path and permissions".into(),
                            }),
                        }
                    }
                }
                Err(e) => problems.push(Problem {
                    file: headroom.0.clone(),
                    key: "alerts.dirs".into(),
                    problem: format!("cannot read rule directory {}: {e}", ad.display()),
                    hint: "paths are relative to the config directory".into(),
                }),
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        Ok(Sources {
            headroom,
            sizing,
            pricing,
            alerts,
        })
    }
}

fn alert_dirs_of(headroom_text: &str) -> Vec<String> {
    let parsed: Option<toml::Table> = headroom_text.parse().ok();
    parsed
        .and_then(|t| t.get("alerts")?.get("dirs")?.as_array().cloned())
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_else(|| vec!["../alerts".to_string()])
}

impl Config {
    /// Loads and validates the config directory.
    pub fn load(dir: &Path) -> Result<Config, ConfigError> {
        Config::from_sources(&Sources::from_dir(dir)?)
    }

    /// The configuration shipped in the repository, as the demo uses it.
    pub fn embedded() -> Result<Config, ConfigError> {
        Config::from_sources(&Sources::embedded())
    }

    pub fn from_sources(src: &Sources) -> Result<Config, ConfigError> {
        let diag = Diag::default();
        let parse = |(name, text): &(String, String)| -> Option<toml::Table> {
            match text.parse::<toml::Table>() {
                Ok(t) => Some(t),
                Err(e) => {
                    let msg = e.message().to_string();
                    let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
                    diag.push(
                        name,
                        "",
                        format!("not valid TOML{}: {msg}", line.map(|l| format!(" at line {l}")).unwrap_or_default()),
                        "fix the syntax; see the shipped file for the format",
                    );
                    None
                }
            }
        };
        let h = parse(&src.headroom);
        let s = parse(&src.sizing);
        let p = parse(&src.pricing);
        let pricing = p.as_ref().and_then(|t| read_pricing(&Tbl::root(&diag, &src.pricing.0, t)));
        let sizing = s
            .as_ref()
            .and_then(|t| read_sizing(&Tbl::root(&diag, &src.sizing.0, t), pricing.as_ref()));
        let headroom = h.as_ref().and_then(|t| read_headroom(&Tbl::root(&diag, &src.headroom.0, t)));
        let mut rules = Vec::new();
        let mut names = BTreeSet::new();
        for a in &src.alerts {
            if let Some(t) = parse(a) {
                rules.extend(read_rules(&Tbl::root(&diag, &a.0, &t), &mut names));
            }
        }
        if let (Some(h), Some(sz)) = (&headroom, &sizing) {
            for (i, t) in h.targets.asgs.iter().enumerate() {
                if let Some(name) = &t.tier
                    && !sz.tiers.iter().any(|x| &x.name == name)
                {
                    let known: Vec<&str> = sz.tiers.iter().map(|x| x.name.as_str()).collect();
                    diag.push(
                        &src.headroom.0,
                        &format!("targets.asg[{i}].tier"),
                        format!("unknown tier `{name}`"),
                        format!("use one of the tiers in {}: {}", src.sizing.0, known.join(", ")),
                    );
                }
            }
        }
        if !diag.is_empty() {
            return Err(ConfigError::Invalid(diag.into_vec()));
        }
        match (headroom, sizing, pricing) {
            (Some(headroom), Some(sizing), Some(pricing)) => Ok(Config {
                headroom,
                sizing,
                pricing,
                rules,
            }),
            _ => Err(ConfigError::Invalid(vec![Problem {
                file: "config".into(),
                key: String::new(),
                problem: "incomplete configuration".into(),
                hint: "run `headroom config check`".into(),
            }])),
        }
    }
}

fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// Parses a cron expression with 5 (minute first) or 6–7 (seconds first) fields.
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    let fields = expr.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {expr}"),
        6 | 7 => expr.to_string(),
        n => {
            return Err(format!(
                "{n} fields; expected 5 (min hour day month weekday) or 6 with seconds first"
            ));
        }
    };
    cron::Schedule::from_str(&full)
        .map(|schedule| Cron {
            expr: expr.to_string(),
            schedule,
        })
        .map_err(|e| e.to_string())
}

fn read_cron(t: &Tbl, key: &str, default: &str) -> Option<Cron> {
    let expr = t.str(key).unwrap_or_else(|| default.to_string());
    match parse_cron(&expr) {
        Ok(c) => {
            // A schedule that parses but never fires (30 February) would leave the daemon
            // idle forever: it must tick within the next year.
            let now = chrono::Utc::now();
            let next = c.schedule.after(&now).next();
            if next.is_none_or(|t| t - now > chrono::Duration::days(366)) {
                t.problem(
                    key,
                    format!("`{expr}` never fires in the next year"),
                    "check the day and month fields (e.g. 30 February does not exist)",
                );
                return None;
            }
            Some(c)
        }
        Err(e) => {
            t.problem(
                key,
                format!("bad cron expression `{expr}`: {e}"),
                "e.g. \"*/5 * * * *\" for every 5 minutes",
            );
            None
        }
    }
}

/// An enabled notifier's secret must be there when the config is checked: the variable set
/// (and not empty), or the file readable. Its value is never read into a message.
pub(super) fn check_secret_present(t: &Tbl, base: &str, secret: &SecretRef) {
    match secret {
        SecretRef::Env(var) => {
            if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
                t.problem(
                    &format!("{base}_env"),
                    format!("the environment variable {var} is not set (or empty)"),
                    format!("set {var} in headroom's environment, or use {base}_file, or set enabled = false"),
                );
            }
        }
        SecretRef::File(path) => {
            if let Err(e) = crate::files::read_text(path, crate::files::Kind::Secret) {
                t.problem(
                    &format!("{base}_file"),
                    format!("{}: {e}", path.display()),
                    "check the path (under systemd, a LoadCredential= file), or use an environment variable",
                );
            }
        }
        SecretRef::Credential(name) => match credential_path(name) {
            Err(e) => t.problem(&format!("{base}_credential"), e, "run under the unit, or use *_file / *_env"),
            Ok(p) if let Err(e) = crate::files::read_text(&p, crate::files::Kind::Secret) => t.problem(
                &format!("{base}_credential"),
                format!("{}: {e}", p.display()),
                format!("add LoadCredential={name}:/path/to/secret to the unit"),
            ),
            Ok(_) => {}
        },
    }
}

/// Where systemd put the credential `name` for this service.
pub fn credential_path(name: &str) -> Result<PathBuf, String> {
    if name.is_empty() || name.contains('/') {
        return Err(format!("`{name}` is not a credential name (a file name, no slashes)"));
    }
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(d) => Ok(PathBuf::from(d).join(name)),
        None => Err(format!(
            "credential {name}: $CREDENTIALS_DIRECTORY is not set (systemd sets it for a unit with LoadCredential={name}:/path; outside systemd use a *_file or *_env key)"
        )),
    }
}

pub(super) fn read_secret(t: &Tbl, base: &str) -> Option<SecretRef> {
    if t.has(base) {
        t.str(base);
        t.problem(
            base,
            "secret given inline",
            format!("put it in an environment variable and set {base}_env = \"NAME\", or in a file and set {base}_file = \"/path\""),
        );
        return None;
    }
    let env = t.str(&format!("{base}_env"));
    let file = t.str(&format!("{base}_file"));
    let cred = t.str(&format!("{base}_credential"));
    if let Some(c) = cred {
        if env.is_some() || file.is_some() {
            t.problem(
                &format!("{base}_credential"),
                format!("{base}_credential is set beside {base}_env or {base}_file"),
                "keep one",
            );
            return None;
        }
        return Some(SecretRef::Credential(c));
    }
    match (env, file) {
        (Some(_), Some(_)) => {
            t.problem(
                &format!("{base}_env"),
                format!("both {base}_env and {base}_file are set"),
                "keep one",
            );
            None
        }
        (Some(e), None) if e.is_empty() => {
            t.problem(
                &format!("{base}_env"),
                "empty variable name",
                "name the environment variable that holds the secret",
            );
            None
        }
        (Some(e), None) => Some(SecretRef::Env(e)),
        (None, Some(f)) => Some(SecretRef::File(PathBuf::from(f))),
        (None, None) => None,
    }
}

/// Every entry of a `regions` list must name an AWS region.
fn check_regions(t: &Tbl, regions: &[String]) {
    for (i, r) in regions.iter().enumerate() {
        if !is_region(r) {
            t.problem(
                &format!("regions[{i}]"),
                format!("`{r}` is not an AWS region name"),
                "e.g. us-east-1, eu-west-1",
            );
        }
    }
}

fn read_headroom(t: &Tbl) -> Option<Headroom> {
    let aws = t.sub("aws").map(|a| {
        let regions = a.str_list("regions");
        if regions.is_none() && !a.has("regions") {
            a.missing("regions", "[\"us-east-1\"]");
        }
        let regions = regions.unwrap_or_default();
        if a.has("regions") && regions.is_empty() {
            a.problem("regions", "empty list", "name at least one region, e.g. [\"us-east-1\"]");
        }
        check_regions(&a, &regions);
        let endpoint_url = a.str("endpoint_url");
        if let Some(u) = &endpoint_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            a.problem(
                "endpoint_url",
                format!("`{u}` is not an http(s) URL"),
                "e.g. http://127.0.0.1:5000, or remove the key for real AWS",
            );
        }
        let timeout_s = a.int("timeout_seconds", 1, 300).unwrap_or(20) as u64;
        let max_attempts = a.int("max_attempts", 1, 10).unwrap_or(3) as u32;
        let concurrent_scopes = a.int("concurrent_scopes", 1, 64).unwrap_or(4) as usize;
        let mut accounts: Vec<AccountCfg> = Vec::new();
        for acc in a.tables("accounts") {
            let id = acc.str("id").unwrap_or_default();
            if !acc.has("id") {
                acc.missing("id", "\"123456789012\"");
            } else if !(id.len() == 12 && id.chars().all(|c| c.is_ascii_digit())) {
                acc.problem("id", format!("`{id}` is not an AWS account id"), "12 digits, e.g. \"123456789012\"");
            } else if accounts.iter().any(|x| x.id == id) {
                acc.problem(
                    "id",
                    format!("account {id} is listed twice"),
                    "keep one [[aws.accounts]] entry per account",
                );
            }
            let role_arn = acc.str("role_arn");
            if let Some(arn) = &role_arn {
                let ok = arn.starts_with("arn:") && arn.contains(":iam::") && arn.contains(":role/");
                if !ok {
                    acc.problem(
                        "role_arn",
                        format!("`{arn}` is not an IAM role ARN"),
                        "e.g. arn:aws:iam::123456789012:role/headroom-readonly",
                    );
                } else if !id.is_empty() && !arn.contains(&format!(":iam::{id}:")) {
                    acc.problem(
                        "role_arn",
                        format!("the role is in another account than id = \"{id}\""),
                        "the role to assume must be in the account it reads",
                    );
                }
            }
            let external_id = acc.str("external_id");
            if external_id.is_some() && role_arn.is_none() {
                acc.problem(
                    "external_id",
                    "set without role_arn",
                    "external_id goes with the role it is assumed with",
                );
            }
            let session_name = acc.str("session_name").unwrap_or_else(|| "headroom".into());
            if session_name.len() < 2
                || session_name.len() > 64
                || !session_name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c))
            {
                acc.problem(
                    "session_name",
                    format!("`{session_name}` is not a valid role session name"),
                    "2 to 64 characters of letters, digits and +=,.@-_",
                );
            }
            let acc_regions = match acc.str_list("regions") {
                Some(r) if r.is_empty() => {
                    acc.problem("regions", "empty list", "omit it to use [aws] regions, or name at least one");
                    r
                }
                Some(r) => {
                    check_regions(&acc, &r);
                    r
                }
                None => regions.clone(),
            };
            acc.done();
            accounts.push(AccountCfg {
                id,
                role_arn,
                external_id,
                session_name,
                regions: acc_regions,
            });
        }
        a.done();
        AwsCfg {
            regions,
            accounts,
            endpoint_url,
            timeout_s,
            max_attempts,
            concurrent_scopes,
        }
    });
    if !t.has("aws") {
        t.missing("aws", "{ regions = [\"us-east-1\"] }");
    }

    // A deadline_seconds that is itself a problem is not checked against the interval again
    // (with the default in its place, that second problem named a figure nobody wrote).
    let mut deadline_bad = false;
    let collect = match t.sub("collect") {
        Some(c) => {
            let deadline = c.int("deadline_seconds", 1, 3600);
            deadline_bad = c.has("deadline_seconds") && deadline.is_none();
            let period_s = c.int("period_seconds", 60, 3600).unwrap_or(300) as u32;
            if ![60, 300, 900, 3600].contains(&period_s) {
                c.problem(
                    "period_seconds",
                    format!("{period_s} is not a CloudWatch period headroom uses"),
                    "use 60, 300, 900 or 3600",
                );
            }
            let v = CollectCfg {
                period_s,
                lookback_days: c.int("lookback_days", 1, 63).unwrap_or(14) as u32,
                overlap_periods: c.int("overlap_periods", 0, 12).unwrap_or(2) as u32,
                spend_days: c.int("spend_days", 1, 365).unwrap_or(35) as u32,
                memory_metric: c.bool("memory_metric").unwrap_or(true),
                group_metrics: c.bool("group_metrics").unwrap_or(true),
                latency_percentile: c.bool("latency_percentile").unwrap_or(true),
                load_balancer_tag: c.str("load_balancer_tag").unwrap_or_else(|| DEFAULT_LB_TAG.into()),
                target_group_tag: c.str("target_group_tag").unwrap_or_else(|| DEFAULT_TG_TAG.into()),
                deadline_s: deadline.unwrap_or(DEFAULT_DEADLINE_S as i64) as u64,
            };
            c.done();
            v
        }
        None => CollectCfg {
            period_s: 300,
            lookback_days: 14,
            overlap_periods: 2,
            spend_days: 35,
            memory_metric: true,
            group_metrics: true,
            latency_percentile: true,
            load_balancer_tag: DEFAULT_LB_TAG.into(),
            target_group_tag: DEFAULT_TG_TAG.into(),
            deadline_s: DEFAULT_DEADLINE_S,
        },
    };

    let mut targets = Targets::default();
    if let Some(tg) = t.sub("targets") {
        for a in tg.tables("asg") {
            let name = a.str("name");
            let tags: Vec<(String, String)> = a
                .sub("tags")
                .map(|tt| {
                    let v =
                        tt.t.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect();
                    for (k, v) in tt.t.iter() {
                        if !v.is_str() {
                            tt.problem(k, "expected a string tag value", "e.g. team = \"web\"");
                        }
                    }
                    v
                })
                .unwrap_or_default();
            if name.as_deref().is_none_or(str::is_empty) && tags.is_empty() {
                a.problem(
                    "name",
                    "empty target selector: neither name nor tags",
                    "set name = \"my-asg\" or tags = { \"headroom:watch\" = \"true\" }",
                );
            }
            let load_balancer = a.str("load_balancer");
            if let Some(lb) = &load_balancer
                && !lb.starts_with("app/")
            {
                a.problem(
                    "load_balancer",
                    format!("`{lb}` is not an ALB dimension value"),
                    "use the part of the ALB ARN after `loadbalancer/`, e.g. app/web/50dc6c495c0c9188",
                );
            }
            let target_group = a.str("target_group");
            if let Some(tgv) = &target_group
                && !tgv.starts_with("targetgroup/")
            {
                a.problem(
                    "target_group",
                    format!("`{tgv}` is not a target group dimension value"),
                    "e.g. targetgroup/web/73e2d6bc24d8a067",
                );
            }
            let tier = a.str("tier");
            let custom = |key: &str, example: &str| {
                a.sub(key).and_then(|u| {
                    let namespace = u.str("namespace");
                    let metric = u.str("name");
                    if namespace.as_deref().is_none_or(str::is_empty) {
                        u.missing("namespace", "\"Chat\"");
                    }
                    if metric.as_deref().is_none_or(str::is_empty) {
                        u.missing("name", example);
                    }
                    u.done();
                    Some(UsersMetric {
                        namespace: namespace.filter(|n| !n.is_empty())?,
                        name: metric.filter(|n| !n.is_empty())?,
                    })
                })
            };
            let users_metric = custom("users_metric", "\"ConcurrentUsers\"");
            let db_pool_metric = custom("db_pool_metric", "\"DbPoolUsedPercent\"");
            a.done();
            targets.asgs.push(AsgTarget {
                name: name.filter(|n| !n.is_empty()),
                tags,
                load_balancer,
                target_group,
                tier,
                users_metric,
                db_pool_metric,
            });
        }
        for d in tg.tables("dynamodb") {
            let name = d.str("name").filter(|n| !n.is_empty());
            let prefix = d.str("prefix").filter(|n| !n.is_empty());
            if name.is_none() && prefix.is_none() {
                d.problem(
                    "name",
                    "empty target selector: neither name nor prefix",
                    "set name = \"chats\" or prefix = \"prod-\"",
                );
            }
            d.done();
            targets.tables.push(TableTarget { name, prefix });
        }
        tg.done();
    }

    let schedule = match t.sub("schedule") {
        Some(s) => {
            let tz_name = s.str("timezone").unwrap_or_else(|| "UTC".into());
            let timezone = match chrono_tz::Tz::from_str(&tz_name) {
                Ok(tz) => Some(tz),
                Err(_) => {
                    s.problem(
                        "timezone",
                        format!("unknown time zone `{tz_name}`"),
                        "use an IANA name such as Europe/Berlin or America/New_York",
                    );
                    None
                }
            };
            let collect = read_cron(&s, "collect", "*/5 * * * *");
            let forecast = read_cron(&s, "forecast", "0 * * * *");
            let weekly = read_cron(&s, "weekly_report", "0 9 * * Mon");
            let spend = read_cron(&s, "spend", DEFAULT_SPEND_CRON);
            s.done();
            match (timezone, collect, forecast, weekly, spend) {
                (Some(timezone), Some(collect), Some(forecast), Some(weekly_report), Some(spend)) => Some(ScheduleCfg {
                    timezone,
                    collect,
                    forecast,
                    weekly_report,
                    spend,
                }),
                _ => None,
            }
        }
        None => Some(ScheduleCfg {
            timezone: chrono_tz::UTC,
            collect: parse_cron("*/5 * * * *").ok()?,
            forecast: parse_cron("0 * * * *").ok()?,
            weekly_report: parse_cron("0 9 * * Mon").ok()?,
            spend: parse_cron(DEFAULT_SPEND_CRON).ok()?,
        }),
    };

    let store = match t.sub("store") {
        Some(s) => {
            let v = StoreCfg {
                path: PathBuf::from(s.str("path").unwrap_or_else(|| "./headroom.db".into())),
                retention_days: s.int("retention_days", 1, 3650).unwrap_or(90) as u32,
            };
            s.done();
            v
        }
        None => StoreCfg {
            path: PathBuf::from("./headroom.db"),
            retention_days: 90,
        },
    };

    let notify = notify::read_notify(t.sub("notify"));

    let apply = read_apply(t.sub("apply"), &store.path);

    let advice = match t.sub("advice") {
        Some(a) => {
            let d = AdviceCfg::default();
            let v = AdviceCfg {
                lookback_days: a.int("lookback_days", 1, 90).map(|x| x as u32).unwrap_or(d.lookback_days),
                cpu_percentile: a.num("cpu_percentile", 1.0, 100.0).unwrap_or(d.cpu_percentile),
                memory_percentile: a.num("memory_percentile", 1.0, 100.0).unwrap_or(d.memory_percentile),
                target_utilization: a.num("target_utilization", 1.0, 100.0).unwrap_or(d.target_utilization),
                headroom: a.num("headroom", 0.0, 500.0).unwrap_or(d.headroom),
                min_history_hours: a.num("min_history_hours", 0.0, 24.0 * 90.0).unwrap_or(d.min_history_hours),
                commitment_terms: match a.str_list("commitment_terms") {
                    Some(v) => v
                        .iter()
                        .filter_map(|x| match x.as_str() {
                            "1" | "1y" => Some(1),
                            "3" | "3y" => Some(3),
                            other => {
                                a.problem("commitment_terms", format!("`{other}` is not a term"), "use \"1y\" and/or \"3y\"");
                                None
                            }
                        })
                        .collect(),
                    None => d.commitment_terms.clone(),
                },
                commitment_payments: match a.str_list("commitment_payments") {
                    Some(v) => {
                        for x in &v {
                            if !PAYMENTS.contains(&x.as_str()) {
                                a.problem(
                                    "commitment_payments",
                                    format!("`{x}` is not a payment option"),
                                    format!("use some of {}", PAYMENTS.join(", ")),
                                );
                            }
                        }
                        v
                    }
                    None => d.commitment_payments.clone(),
                },
                service_class_tag: a.str("service_class_tag").unwrap_or(d.service_class_tag.clone()),
                spot_classes: a.str_list("spot_classes").unwrap_or(d.spot_classes.clone()),
                spot_share: a.num("spot_share", 0.0, 1.0).unwrap_or(d.spot_share),
                spot_base_percentile: a.num("spot_base_percentile", 0.0, 100.0).unwrap_or(d.spot_base_percentile),
            };
            a.done();
            v
        }
        None => AdviceCfg::default(),
    };

    let http = match t.sub("http") {
        Some(hh) => {
            let listen = hh.str("listen").unwrap_or_else(|| "127.0.0.1:9464".into());
            let allow_remote = hh.bool("allow_remote").unwrap_or(false);
            match listen.parse::<std::net::SocketAddr>() {
                _ if listen == "off" => {}
                Err(_) => hh.problem(
                    "listen",
                    format!("`{listen}` is not an address:port"),
                    "e.g. \"127.0.0.1:9464\", or \"off\" to serve no endpoints",
                ),
                Ok(a) if !a.ip().is_loopback() && !allow_remote => hh.problem(
                    "listen",
                    format!("`{listen}` is not a loopback address, and /healthz and /metrics have no authentication"),
                    "bind 127.0.0.1 (scrape through a local agent or a reverse proxy), or set allow_remote = true in [http]",
                ),
                Ok(_) => {}
            }
            hh.done();
            HttpCfg { listen, allow_remote }
        }
        None => HttpCfg {
            listen: "127.0.0.1:9464".into(),
            allow_remote: false,
        },
    };
    if let Some(al) = t.sub("alerts") {
        al.str_list("dirs");
        al.done();
    }
    // The deadline must leave the cycle room before the next tick.
    if let Some(sc) = schedule.as_ref().filter(|_| !deadline_bad) {
        let mut ticks = sc.collect.schedule.after(&chrono::Utc::now());
        if let (Some(a), Some(b)) = (ticks.next(), ticks.next()) {
            let gap = (b - a).num_seconds().max(0) as u64;
            if collect.deadline_s * 2 > gap {
                t.problem(
                    "collect.deadline_seconds",
                    format!(
                        "{} s is more than half the collect interval ({gap} s between ticks of `{}`)",
                        collect.deadline_s, sc.collect.expr
                    ),
                    format!("give at most {} s, or collect less often", gap / 2),
                );
            }
        }
    }
    t.done();
    Some(Headroom {
        aws: aws?,
        collect,
        targets,
        schedule: schedule?,
        store,
        notify,
        apply,
        advice,
        http,
    })
}

fn read_pod(t: &Tbl, key: &str) -> Option<PodSpec> {
    let p = t.sub(key)?;
    let v = PodSpec {
        replicas: p.req_int("replicas", 1, 10_000)? as u32,
        cpu_m: p.req_int("cpu_m", 1, 256_000)? as u32,
        memory_mib: p.req_int("memory_mib", 1, 4_000_000)? as u32,
        hpa_min: p.req_int("hpa_min", 1, 10_000)? as u32,
        hpa_max: p.req_int("hpa_max", 1, 100_000)? as u32,
    };
    if v.hpa_min > v.hpa_max {
        p.problem(
            "hpa_min",
            format!("hpa_min {} is above hpa_max {}", v.hpa_min, v.hpa_max),
            "hpa_min <= hpa_max",
        );
    }
    p.done();
    Some(v)
}

/// `[0, 500)`: a tier's range as headroom reads it.
fn span((lo, hi): (f64, f64)) -> String {
    format!("[{lo}, {hi})")
}

fn read_sizing(t: &Tbl, pricing: Option<&Pricing>) -> Option<Sizing> {
    let w = t.sub("workload");
    if w.is_none() {
        t.missing("workload", "a [workload] table");
    }
    let workload = w.and_then(|w| {
        let v = Workload {
            requests_per_user_per_minute: w.req_num("requests_per_user_per_minute", 0.001, 10_000.0)?,
            requests_per_pod_per_second: w.req_num("requests_per_pod_per_second", 0.001, 1e6)?,
            spike_buffer: w.req_num("spike_buffer", 1.0, 10.0)?,
            max_multiplier: w.req_num("max_multiplier", 1.0, 100.0)?,
            node_buffer: w.req_num("node_buffer", 1.0, 10.0)?,
            node_usable_cpu: w.req_num("node_usable_cpu", 0.01, 1024.0)?,
            node_usable_memory_mb: w.req_num("node_usable_memory_mb", 1.0, 1e8)?,
            dynamodb_reads_per_user: w.req_num("dynamodb_reads_per_user", 0.0, 1e6)?,
            dynamodb_writes_per_user: w.req_num("dynamodb_writes_per_user", 0.0, 1e6)?,
            tier_up_at: w.num("tier_up_at", 0.05, 1.0).unwrap_or(0.8),
            tier_down_below: w.num("tier_down_below", 0.0, 1.0).unwrap_or(0.5),
            tier_down_after_days: w.int("tier_down_after_days", 1, 365).unwrap_or(28) as u32,
            tier_lead_days: w.int("tier_lead_days", 0, 730).unwrap_or(56) as u32,
        };
        w.done();
        Some(v)
    });
    let mut tiers = Vec::new();
    for tt in t.tables("tier") {
        let name = tt.req_str("name", "\"small\"");
        let range = tt.range("concurrent_users");
        if range.is_none() && !tt.has("concurrent_users") {
            tt.missing("concurrent_users", "[0, 500]");
        }
        let backend = read_pod(&tt, "backend");
        let frontend = read_pod(&tt, "frontend");
        let mut node_groups = Vec::new();
        for g in tt.tables("node_group") {
            let gname = g.req_str("name", "\"general\"").unwrap_or_default();
            let types = g.str_list("instance_types").unwrap_or_default();
            if types.is_empty() {
                g.problem("instance_types", "no instance types", "e.g. instance_types = [\"t3.large\"]");
            }
            if let Some(pr) = pricing {
                for (i, it) in types.iter().enumerate() {
                    if !pr.instances.contains_key(it) {
                        g.problem(
                            &format!("instance_types[{i}]"),
                            format!("unknown instance type `{it}`"),
                            format!(
                                "add [instance.\"{it}\"] to pricing.toml, or use one of: {}",
                                pr.instances.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        );
                    }
                }
            }
            let min = g.req_int("min", 0, 100_000).unwrap_or(0) as u32;
            let max = g.req_int("max", 0, 100_000).unwrap_or(0) as u32;
            let desired = g.req_int("desired", 0, 100_000).unwrap_or(0) as u32;
            if !(min <= desired && desired <= max) {
                g.problem(
                    "desired",
                    format!("min {min} <= desired {desired} <= max {max} does not hold"),
                    "fix the node group bounds",
                );
            }
            let purchase = match g.str("purchase").as_deref() {
                None | Some("on-demand") => Purchase::OnDemand,
                Some("spot") => Purchase::Spot,
                Some(o) => {
                    g.problem(
                        "purchase",
                        format!("unknown purchase option `{o}`"),
                        "use \"on-demand\" or \"spot\"",
                    );
                    Purchase::OnDemand
                }
            };
            g.done();
            node_groups.push(NodeGroup {
                name: gname,
                instance_types: types,
                min,
                max,
                desired,
                purchase,
            });
        }
        let monthly_cost_usd = tt.range("monthly_cost_usd");
        let migration_steps = tt.str_list("migration_steps").unwrap_or_default();
        tt.done();
        if let (Some(name), Some(concurrent_users), Some(backend), Some(frontend)) = (name, range, backend, frontend) {
            tiers.push(Tier {
                name,
                concurrent_users,
                backend,
                frontend,
                node_groups,
                monthly_cost_usd,
                migration_steps,
            });
        }
    }
    if !t.has("tier") {
        t.missing("tier", "[[tier]] entries");
    }
    let mut sorted: Vec<&Tier> = tiers.iter().collect();
    sorted.sort_by(|a, b| a.concurrent_users.0.total_cmp(&b.concurrent_users.0));
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b.concurrent_users.0 < a.concurrent_users.1 {
            t.problem(
                "tier",
                format!(
                    "tiers `{}` {} and `{}` {} overlap",
                    a.name,
                    span(a.concurrent_users),
                    b.name,
                    span(b.concurrent_users)
                ),
                "a tier's lower bound is inclusive and its upper bound exclusive: make each tier start where the previous ends",
            );
        } else if b.concurrent_users.0 > a.concurrent_users.1 {
            t.problem(
                "tier",
                format!(
                    "gap between `{}` (ends {}) and `{}` (starts {})",
                    a.name, a.concurrent_users.1, b.name, b.concurrent_users.0
                ),
                "make each tier start where the previous ends",
            );
        }
    }
    t.done();
    Some(Sizing {
        workload: workload?,
        tiers,
    })
}

fn money(t: &Tbl, key: &str, required_as: Option<&str>) -> Option<Money> {
    if !t.has(key) {
        if let Some(what) = required_as {
            t.problem(key, "missing price", format!("add {key} = <USD> ({what})"));
        }
        return None;
    }
    t.num(key, 0.0, 1e6).and_then(Money::from_usd_f64)
}

fn read_pricing(t: &Tbl) -> Option<Pricing> {
    let region = t.req_str("region", "\"us-east-1\"");
    if let Some(r) = &region
        && !is_region(r)
    {
        t.problem("region", format!("`{r}` is not an AWS region name"), "e.g. us-east-1");
    }
    let as_of = match t.t.get("as_of") {
        Some(toml::Value::Datetime(d)) => {
            t.touch("as_of");
            Some(d.to_string())
        }
        _ => {
            let s = t.req_str("as_of", "2026-11-01");
            if let Some(s) = &s
                && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err()
            {
                t.problem(
                    "as_of",
                    format!("`{s}` is not a date"),
                    "write the date the prices hold for, e.g. as_of = 2026-11-01",
                );
            }
            s
        }
    };
    let mut instances = BTreeMap::new();
    for (name, it) in t.named("instance") {
        let vcpu = it.req_num("vcpu", 0.1, 1024.0);
        let memory_gib = it.req_num("memory_gib", 0.1, 32_768.0);
        let od = money(&it, "on_demand_hourly", Some("on-demand USD per hour"));
        let spot_discount = it.num("spot_discount", 0.0, 0.95).unwrap_or(0.65);
        let ri1 = money(&it, "ri_1yr_hourly", Some("1-year standard RI, no upfront, effective USD per hour"));
        let ri3 = money(&it, "ri_3yr_hourly", Some("3-year standard RI, no upfront, effective USD per hour"));
        let sp1 = money(&it, "sp_1yr_hourly", Some("1-year Compute Savings Plan, no upfront, USD per hour"));
        let sp3 = money(&it, "sp_3yr_hourly", Some("3-year Compute Savings Plan, no upfront, USD per hour"));
        if let (Some(od), Some(r1), Some(r3)) = (od, ri1, ri3)
            && (r1 > od || r3 > r1)
        {
            it.problem(
                "ri_1yr_hourly",
                "reserved rates must be at most on-demand, and 3-year at most 1-year",
                "check the price table",
            );
        }
        it.done();
        if let (
            Some(vcpu),
            Some(memory_gib),
            Some(on_demand_hourly),
            Some(ri_1yr_hourly),
            Some(ri_3yr_hourly),
            Some(sp_1yr_hourly),
            Some(sp_3yr_hourly),
        ) = (vcpu, memory_gib, od, ri1, ri3, sp1, sp3)
        {
            instances.insert(
                name,
                InstancePrice {
                    vcpu,
                    memory_gib,
                    on_demand_hourly,
                    spot_discount,
                    ri_1yr_hourly,
                    ri_3yr_hourly,
                    sp_1yr_hourly,
                    sp_3yr_hourly,
                },
            );
        }
    }
    if instances.is_empty() && !t.has("instance") {
        t.missing("instance", "[instance.\"t3.medium\"] tables");
    }
    let f = t.sub("fargate");
    let (fv, fg) = match &f {
        Some(f) => (
            money(f, "vcpu_hour", Some("USD per vCPU-hour")),
            money(f, "gb_hour", Some("USD per GB-hour")),
        ),
        None => {
            t.missing("fargate", "{ vcpu_hour = 0.04048, gb_hour = 0.004445 }");
            (None, None)
        }
    };
    let fargate_spot_discount = match &f {
        Some(f) if f.has("spot_discount") => f.num("spot_discount", 0.0, 0.99),
        _ => Some(0.7),
    };
    if let Some(f) = &f {
        f.done();
    }
    let d = t.sub("dynamodb");
    let dd = match &d {
        Some(d) => (
            money(d, "read_request_per_million", Some("on-demand USD per million read request units")),
            money(
                d,
                "write_request_per_million",
                Some("on-demand USD per million write request units"),
            ),
            money(d, "rcu_hour", Some("provisioned USD per RCU-hour")),
            money(d, "wcu_hour", Some("provisioned USD per WCU-hour")),
            (
                money(d, "reserved_rcu100_1yr_upfront", None).unwrap_or(Money(30_000_000)),
                money(d, "reserved_rcu100_1yr_hourly", None).unwrap_or(Money(2_500)),
            ),
            (
                money(d, "reserved_wcu100_1yr_upfront", None).unwrap_or(Money(150_000_000)),
                money(d, "reserved_wcu100_1yr_hourly", None).unwrap_or(Money(12_800)),
            ),
        ),
        None => {
            t.missing("dynamodb", "a [dynamodb] price table");
            (None, None, None, None, Default::default(), Default::default())
        }
    };
    if let Some(d) = &d {
        d.done();
    }
    let mut payment = PaymentOptions::default();
    if let Some(c) = t.sub("payment") {
        payment.partial_upfront_total = c.num("partial_upfront_total", 0.5, 1.0).unwrap_or(payment.partial_upfront_total);
        payment.partial_upfront_share = c.num("partial_upfront_share", 0.0, 1.0).unwrap_or(payment.partial_upfront_share);
        payment.all_upfront_total = c.num("all_upfront_total", 0.5, 1.0).unwrap_or(payment.all_upfront_total);
        c.done();
    }
    t.done();
    Some(Pricing {
        region: region?,
        as_of: as_of?,
        instances,
        fargate_vcpu_hour: fv?,
        fargate_gb_hour: fg?,
        fargate_spot_discount: fargate_spot_discount?,
        dynamodb_read_per_million: dd.0?,
        dynamodb_write_per_million: dd.1?,
        dynamodb_rcu_hour: dd.2?,
        dynamodb_wcu_hour: dd.3?,
        dynamodb_reserved_rcu100: dd.4,
        dynamodb_reserved_wcu100: dd.5,
        payment,
    })
}

/// Signals a rule may select, with the range a threshold on it may take.
pub const RULE_SIGNALS: &[(&str, f64, f64)] = &[
    ("cpu_percent", 0.0, 100.0),
    ("memory_percent", 0.0, 100.0),
    ("latency_avg_seconds", 0.0, 600.0),
    ("latency_p95_seconds", 0.0, 600.0),
    ("error_rate_percent", 0.0, 100.0),
    ("requests", 0.0, f64::MAX),
    ("desired_at_max", 0.0, 1.0),
    ("throttle_events", 0.0, f64::MAX),
    ("db_connection_pool_percent", 0.0, 100.0),
];
const RULE_STATS: &[&str] = &["avg", "max", "min", "sum", "rate", "p50", "p90", "p95", "p99"];

fn read_rules(t: &Tbl, names: &mut BTreeSet<String>) -> Vec<Rule> {
    let mut out = Vec::new();
    for r in t.tables("rule") {
        let name = r.req_str("name", "\"cpu-high\"");
        if let Some(n) = &name
            && !names.insert(n.clone())
        {
            r.problem(
                "name",
                format!("rule name `{n}` is used twice"),
                "rule names must be unique across all packs",
            );
        }
        let signal = r.req_str("signal", "\"cpu_percent\"");
        let range = signal.as_deref().and_then(|s| RULE_SIGNALS.iter().find(|(n, _, _)| *n == s));
        if let Some(s) = &signal
            && range.is_none()
        {
            r.problem(
                "signal",
                format!("unknown signal `{s}`"),
                format!("use one of: {}", RULE_SIGNALS.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")),
            );
        }
        let resource = r.str("resource").unwrap_or_else(|| "asg".into());
        if !(resource == "asg" || resource == "table" || resource.starts_with("asg/") || resource.starts_with("table/")) {
            r.problem(
                "resource",
                format!("`{resource}` is not a resource selector"),
                "use asg, table, asg/NAME or table/NAME",
            );
        }
        let stat = r.str("stat").unwrap_or_else(|| "avg".into());
        if !RULE_STATS.contains(&stat.as_str()) {
            r.problem(
                "stat",
                format!("unknown statistic `{stat}`"),
                format!("use one of: {}", RULE_STATS.join(", ")),
            );
        }
        let dur = |key: &str, default: u64| -> Option<u64> {
            match r.str(key) {
                None => Some(default),
                Some(d) => parse_duration(&d).or_else(|| {
                    r.problem(key, format!("bad duration `{d}`"), "e.g. \"10m\", \"30s\", \"1h\"");
                    None
                }),
            }
        };
        let window_s = dur("window", 300);
        let for_s = dur("for", 0);
        let keep_firing_for_s = dur("keep_firing_for", 0);
        let op = match r.req_str("op", "\">\"").as_deref() {
            Some(">") => Some(Cmp::Gt),
            Some(">=") => Some(Cmp::Ge),
            Some("<") => Some(Cmp::Lt),
            Some("<=") => Some(Cmp::Le),
            Some(o) => {
                r.problem("op", format!("unknown comparison `{o}`"), "use >, >=, < or <=");
                None
            }
            None => None,
        };
        let threshold = if !r.has("threshold") {
            r.str("threshold");
            r.missing("threshold", "80");
            None
        } else {
            let (lo, hi) = range.map(|(_, lo, hi)| (*lo, *hi)).unwrap_or((f64::MIN, f64::MAX));
            r.num("threshold", lo, hi)
        };
        let severity = match r.req_str("severity", "\"warning\"") {
            Some(s) => match s.parse::<Severity>() {
                Ok(v) => Some(v),
                Err(e) => {
                    r.problem("severity", e, "");
                    None
                }
            },
            None => None,
        };
        let labels = r
            .sub("labels")
            .map(|l| {
                let m =
                    l.t.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect();
                for (k, v) in l.t.iter() {
                    if !v.is_str() {
                        l.problem(k, "expected a string label value", "e.g. team = \"platform\"");
                    }
                }
                m
            })
            .unwrap_or_default();
        let summary = r.str("summary").unwrap_or_default();
        let source = r.str("source").unwrap_or_default();
        r.done();
        if let (Some(name), Some(signal), Some(window_s), Some(for_s), Some(keep_firing_for_s), Some(op), Some(threshold), Some(severity)) =
            (name, signal, window_s, for_s, keep_firing_for_s, op, threshold, severity)
        {
            out.push(Rule {
                name,
                file: t.file.to_string(),
                signal,
                resource,
                stat,
                window_s,
                op,
                threshold,
                for_s,
                keep_firing_for_s,
                severity,
                labels,
                summary,
                source,
            });
        }
    }
    t.done();
    out
}

#[cfg(test)]
mod tests;

/// The kinds auto mode applies when `[apply] kinds` is not given: the ones whose change is a
/// setting (no purchase, no instance replacement).
pub const AUTO_KINDS_DEFAULT: [crate::domain::Kind; 3] = [
    crate::domain::Kind::Rightsize,
    crate::domain::Kind::AsgLimits,
    crate::domain::Kind::Dynamodb,
];

fn read_apply(a: Option<Tbl>, store: &Path) -> ApplyCfg {
    let kill_default = store.with_file_name("stop-apply");
    let mut v = ApplyCfg {
        mode: ApplyMode::Recommend,
        opt_in_tag: "headroom:apply".into(),
        resources: vec![],
        kinds: AUTO_KINDS_DEFAULT.to_vec(),
        min_severity: crate::domain::Severity::Info,
        max_step_percent: 50,
        max_step_instances: 2,
        cooldown_s: 1800,
        windows: vec![],
        kill_switch: kill_default,
        kill_switch_set: false,
        max_evidence_age_s: None,
        max_monthly_increase_usd: 1000.0,
        max_actions_per_day: 10,
        min_healthy_percent: 90,
    };
    let Some(a) = a else { return v };
    // `enabled` came before modes: `true` silently meant auto mode, more than the key says.
    // It is refused with its replacement; `false` (recommend, the default) is harmless.
    if a.bool("enabled") == Some(true) {
        a.problem(
            "enabled",
            "`enabled = true` is no longer read: it meant auto mode (headroom changes opted-in capacity by itself)",
            "say which you mean: mode = \"auto\", or mode = \"approve\" (apply by hand after the plan is shown)",
        );
    }
    if let Some(m) = a.str("mode") {
        match m.as_str() {
            "recommend" => v.mode = ApplyMode::Recommend,
            "approve" => v.mode = ApplyMode::Approve,
            "auto" => v.mode = ApplyMode::Auto,
            other => a.problem(
                "mode",
                format!("unknown mode `{other}`"),
                "one of \"recommend\", \"approve\", \"auto\"",
            ),
        }
    }
    if let Some(tag) = a.str("opt_in_tag") {
        v.opt_in_tag = tag;
    }
    if let Some(list) = a.str_list("resources") {
        for (i, r) in list.iter().enumerate() {
            if !(r.starts_with("asg/") || r.starts_with("table/")) || r.ends_with('/') {
                a.problem(
                    &format!("resources[{i}]"),
                    format!("`{r}` is not a resource"),
                    "write \"asg/NAME\" or \"table/NAME\"",
                );
            }
        }
        v.resources = list;
    }
    if let Some(list) = a.str_list("kinds") {
        let mut kinds = vec![];
        for (i, k) in list.iter().enumerate() {
            match crate::domain::Kind::parse(k) {
                Some(crate::domain::Kind::Commitment) => a.problem(
                    &format!("kinds[{i}]"),
                    "commitments are never applied: a person buys them",
                    "remove \"commitment\"",
                ),
                Some(kind) => kinds.push(kind),
                None => a.problem(
                    &format!("kinds[{i}]"),
                    format!("unknown kind `{k}`"),
                    "one of rightsize, asg-limits, tier, spot-mix, dynamodb",
                ),
            }
        }
        v.kinds = kinds;
    }
    if let Some(sv) = a.str("min_severity") {
        match sv.parse() {
            Ok(s) => v.min_severity = s,
            Err(_) => a.problem("min_severity", format!("unknown severity `{sv}`"), "one of info, warning, critical"),
        }
    }
    if let Some(p) = a.int("max_step_percent", 1, 100) {
        v.max_step_percent = p as u32;
    }
    if let Some(n) = a.int("max_step_instances", 0, 1000) {
        v.max_step_instances = n as u32;
    }
    if let Some(c) = a.str("cooldown") {
        match parse_duration(&c) {
            Some(d) => v.cooldown_s = d,
            None => a.problem("cooldown", format!("bad duration `{c}`"), "e.g. \"30m\""),
        }
    }
    for w in a.tables("windows") {
        let cron = read_cron(&w, "cron", "0 2 * * Tue");
        let duration = w.str("duration").and_then(|d| {
            parse_duration(&d).filter(|s| *s > 0).or_else(|| {
                w.problem("duration", format!("bad duration `{d}`"), "e.g. \"2h\"");
                None
            })
        });
        if !w.has("duration") {
            w.missing("duration", "duration = \"2h\"");
        }
        w.done();
        if let (Some(cron), Some(duration_s)) = (cron, duration) {
            v.windows.push(ChangeWindow { cron, duration_s });
        }
    }
    if let Some(k) = a.str("kill_switch") {
        v.kill_switch = PathBuf::from(k);
        v.kill_switch_set = true;
    }
    if let Some(c) = a.str("max_evidence_age") {
        match parse_duration(&c).filter(|s| *s > 0) {
            Some(d) => v.max_evidence_age_s = Some(d),
            None => a.problem(
                "max_evidence_age",
                format!("bad duration `{c}`"),
                "e.g. \"10m\" (default: two collect intervals)",
            ),
        }
    }
    if let Some(n) = a.num("max_monthly_increase_usd", 0.0, 1e9) {
        v.max_monthly_increase_usd = n;
    }
    if let Some(n) = a.int("max_actions_per_day", 0, 10_000) {
        v.max_actions_per_day = n as u32;
    }
    if let Some(n) = a.int("min_healthy_percent", 0, 100) {
        v.min_healthy_percent = n as i32;
    }
    a.done();
    v
}
