//! The command line: `check`, `config check`, `demo`, `plan`, `advisories`, `run`,
//! `notifications`, `silence`, `notify`, `report`, `apply`, `audit`. Parses flags (clap), loads the
//! config, opens the store, builds the AWS clients or the simulated account, runs the
//! runtime, and prints for people or as `--json`. Exit codes: 0 ok, 1 advisories at or above
//! `--fail-on`, 2 error (bad config, unusable store), 3 a cycle was partial (`check`: a source
//! failed; it wins over 1, since the advice it saw is incomplete).
//!
//! May use: runtime, stages, config, store, aws. `anyhow` is allowed here and in main only.

mod apply;
mod forecast;
mod notify;
mod plan;
mod print;
mod report;
mod service;

use crate::aws::{sdk, simulated::SimulatedAccount};
use crate::config::{AsgTarget, Config, ConfigError, Severity, TableTarget};
use crate::domain::Scope;
use crate::runtime::{self, Clock, ScopeState, SystemClock};
use crate::store::Sqlite;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(name = "headroom", version, about = "Capacity advisor for AWS: collects CloudWatch, Auto Scaling, DynamoDB and Cost Explorer state and advises on tiers, sizing and spend.", long_about = None)]
pub struct Cli {
    /// Folder with headroom.toml, sizing.toml and pricing.toml.
    #[arg(long, global = true, env = "HEADROOM_CONFIG", default_value = "config")]
    pub config: PathBuf,
    /// Log lines as plain text (for journald and terminals) or JSON (one object per line, with
    /// the cycle's span: id and scope). The level comes from RUST_LOG (default warn; info for run).
    #[arg(long, global = true, value_enum, env = "HEADROOM_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one collection cycle against AWS (or aws.endpoint_url) and print what was collected.
    Check {
        /// Print the cycle as JSON.
        #[arg(long)]
        json: bool,
        /// Exit 1 when an advisory at or above this severity is open (info, warning, critical).
        #[arg(long, value_name = "SEVERITY")]
        fail_on: Option<Severity>,
        /// Store file (default: [store] path of headroom.toml).
        #[arg(long)]
        store: Option<PathBuf>,
        /// Only this region (default: every region of each account).
        #[arg(long)]
        region: Option<String>,
        /// Only this account (its id in [[aws.accounts]], or `default`).
        #[arg(long)]
        account: Option<String>,
    },
    /// Validate the configuration and list every problem at once.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Run the whole pipeline on a built-in simulated account: no AWS, no setup.
    Demo {
        /// Print the cycle as JSON.
        #[arg(long)]
        json: bool,
        /// Folder for the demo's store and output files.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Seed of the simulated account (same seed, same fleet).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Run as of this time (RFC 3339, e.g. 2026-12-07T12:00:00Z) instead of now: the same
        /// seed and time give the same output.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
    /// The sizing calculator: every figure of a capacity plan with its formula, the tier and its
    /// cost under each purchase option; with --audit, a document's stated figures checked.
    Plan {
        /// A profile of inputs (the seed systems are in config/profiles/).
        #[arg(long)]
        profile: Option<PathBuf>,
        /// An input as key=value with its unit, e.g. --set concurrent_users=500 --set request_size="5 KB" (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Print the plan (or the audit) as JSON.
        #[arg(long)]
        json: bool,
        /// Check the figures a plan document states (TOML, e.g. config/profiles/clearview-stated.toml); exit 1 if any is off.
        #[arg(long, value_name = "FILE")]
        audit: Option<PathBuf>,
        /// List the inputs a profile or --set may give.
        #[arg(long)]
        list_inputs: bool,
    },
    /// Forecast a series from a CSV (point, 80 % and 95 % intervals, threshold crossings,
    /// growth, a terminal chart), or --backtest a folder by the forecast benchmark protocol.
    Forecast(Box<forecast::Args>),
    /// List the store's advisories (open and acknowledged unless --all), or acknowledge one.
    Advisories(AdvisoriesArgs),
    /// Run as a daemon: a cycle at every tick of [schedule] collect, /healthz and /metrics on
    /// [http] listen, systemd notify and watchdog; SIGHUP reloads the config, SIGTERM stops.
    Run(service::RunArgs),
    /// Ask a running daemon's /healthz: exit 0 healthy, 1 unhealthy (reasons printed), 2 no answer.
    Health(service::HealthArgs),
    /// The delivery log: sent, pending (with the next attempt), failed and suppressed (by a
    /// silence or as a duplicate) notifications with their reasons, and what waits in a group.
    Notifications(notify::NotificationsArgs),
    /// Silence advisories by matcher for a while: add, list, expire.
    Silence {
        #[command(subcommand)]
        action: notify::SilenceAction,
    },
    /// The weekly capacity review of an ISO week from the store: HTML, Markdown, JSON and PNG
    /// charts (--out), or sent through the receivers (--send).
    Report(report::ReportArgs),
    /// Show the plan for applying an advisory's proposed change (before, after, every
    /// guardrail's verdict); with --yes make it ([apply] mode approve or auto); --undo an
    /// audited change.
    Apply(apply::ApplyArgs),
    /// The audit of changes headroom made: before, intended and after, outcome, errors.
    Audit(apply::AuditArgs),
    /// Receivers: send a test message, or send what is due without the daemon.
    Notify {
        #[command(subcommand)]
        action: notify::NotifyAction,
    },
    /// The IAM policies headroom needs, made from the config (the opt-in tag of [apply]).
    Iam {
        #[command(subcommand)]
        action: IamAction,
    },
}

#[derive(Subcommand, Debug)]
pub enum IamAction {
    /// Print the read-only policy (what a cycle reads), or with --apply the policy `headroom
    /// apply` and auto mode need, as IAM JSON.
    Policy {
        /// The apply policy instead of the read-only one.
        #[arg(long)]
        apply: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct AdvisoriesArgs {
    /// Print as JSON.
    #[arg(long)]
    json: bool,
    /// Only this kind: alert, rightsize, asg-limits, tier, commitment, spot-mix, dynamodb, forecast, spend.
    #[arg(long)]
    kind: Option<String>,
    /// Include resolved, applied and expired advisories.
    #[arg(long)]
    all: bool,
    /// Acknowledge the advisory with this fingerprint (or a unique prefix of it).
    #[arg(long, value_name = "FINGERPRINT")]
    ack: Option<String>,
    /// Mark the advisory with this fingerprint as applied.
    #[arg(long, value_name = "FINGERPRINT")]
    applied: Option<String>,
    /// Exit 1 when a listed advisory is at or above this severity.
    #[arg(long, value_name = "SEVERITY")]
    fail_on: Option<Severity>,
    /// Only this scope, as ACCOUNT/REGION (e.g. 123456789012/eu-west-1, default/us-east-1).
    #[arg(long, value_name = "ACCOUNT/REGION")]
    scope: Option<String>,
    /// Store file (default: [store] path of headroom.toml).
    #[arg(long)]
    store: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Check headroom.toml, sizing.toml, pricing.toml and the alert rule packs.
    Check {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn load_config(dir: &Path) -> Result<Config, ExitCode> {
    Config::load(dir).map_err(|e| {
        report_config_error(&e);
        ExitCode::from(2)
    })
}

fn report_config_error(e: &ConfigError) {
    eprintln!("error: {e}");
    eprintln!("hint: run `headroom config check --config DIR` after fixing; every problem is listed above");
}

/// Opens the store and moves rows written before scopes existed to the configured default
/// scope (once; nothing to do afterwards).
fn open_store(path: &Path, cfg: &Config) -> Result<Sqlite, ExitCode> {
    let mut store = open_store_only(path)?;
    match store.adopt_unscoped(&cfg.headroom.aws.default_scope()) {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(rows = n, scope = %cfg.headroom.aws.default_scope(), "store rows from before scopes moved to the default scope")
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Err(ExitCode::from(2));
        }
    }
    Ok(store)
}

fn check_store_folder(path: &Path) -> Result<(), ExitCode> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        eprintln!(
            "error: store folder {} does not exist (create it, or set [store] path / --store)",
            parent.display()
        );
        return Err(ExitCode::from(2));
    }
    Ok(())
}

fn open_store_only(path: &Path) -> Result<Sqlite, ExitCode> {
    check_store_folder(path)?;
    Sqlite::open(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

pub fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`headroom demo | head`) would
    // panic; like other Unix tools, end quietly instead.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to the default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    crate::runtime::limit_heap_arenas();
    let cli = Cli::parse();
    init_tracing(cli.log_format, matches!(cli.command, Command::Run(_)));
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Config {
            action: ConfigAction::Check { json },
        } => config_check(&cli.config, json),
        Command::Check {
            json,
            fail_on,
            store,
            region,
            account,
        } => rt
            .block_on(check(&cli.config, json, fail_on, store, region, account))
            .unwrap_or_else(|c| c),
        Command::Report(a) => rt.block_on(report::report(&cli.config, a)).unwrap_or_else(|c| c),
        Command::Demo { json, out, seed, at } => rt.block_on(demo(json, &out, seed, at.as_deref())).unwrap_or_else(|c| c),
        Command::Plan {
            profile,
            set,
            json,
            audit,
            list_inputs,
        } => match load_config(&cli.config) {
            Ok(cfg) => plan::run(
                &cfg,
                plan::Args {
                    profile,
                    set,
                    json,
                    audit,
                    list_inputs,
                },
            ),
            Err(c) => c,
        },
        Command::Forecast(a) => forecast::run(*a),
        Command::Advisories(a) => advisories(&cli.config, a).unwrap_or_else(|c| c),
        Command::Run(a) => rt.block_on(service::run(&cli.config, a)).unwrap_or_else(|c| c),
        Command::Health(a) => rt.block_on(service::health(&cli.config, a)).unwrap_or_else(|c| c),
        Command::Notifications(a) => notify::notifications(&cli.config, a).unwrap_or_else(|c| c),
        Command::Silence { action } => notify::silence(&cli.config, action).unwrap_or_else(|c| c),
        Command::Notify { action } => rt.block_on(notify::notify(&cli.config, action)).unwrap_or_else(|c| c),
        Command::Apply(a) => rt.block_on(apply::apply(&cli.config, a)).unwrap_or_else(|c| c),
        Command::Audit(a) => apply::audit(&cli.config, a).unwrap_or_else(|c| c),
        Command::Iam {
            action: IamAction::Policy { apply },
        } => match load_config(&cli.config) {
            Ok(cfg) => {
                let p = if apply {
                    crate::aws::iam::apply_policy(&cfg)
                } else {
                    crate::aws::iam::readonly_policy()
                };
                println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(c) => c,
        },
    }
}

/// Logs to stderr (journald reads it under systemd). The daemon logs at info unless RUST_LOG
/// says otherwise: its cycle lines are what an operator reads; commands stay quiet (warn).
fn init_tracing(format: LogFormat, daemon: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(if daemon { "info" } else { "warn" }));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = match format {
        LogFormat::Text => b.try_init(),
        LogFormat::Json => b.json().with_current_span(true).with_span_list(false).try_init(),
    };
}

fn config_check(dir: &Path, json: bool) -> ExitCode {
    match Config::load(dir) {
        Ok(c) => {
            if json {
                let v = serde_json::json!({
                    "ok": true,
                    "asg_targets": c.headroom.targets.asgs.len(),
                    "table_targets": c.headroom.targets.tables.len(),
                    "tiers": c.sizing.tiers.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                    "instance_types": c.pricing.instances.len(),
                    "rules": c.rules.len(),
                    "apply_mode": c.headroom.apply.mode,
                });
                println!("{v}");
            } else {
                println!(
                    "config OK ({}): {} ASG target(s), {} table target(s), tiers {}, {} instance types priced ({} as of {}), {} alert rules, apply mode {}",
                    dir.display(),
                    c.headroom.targets.asgs.len(),
                    c.headroom.targets.tables.len(),
                    c.sizing.tiers.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(" < "),
                    c.pricing.instances.len(),
                    c.pricing.region,
                    c.pricing.as_of,
                    c.rules.len(),
                    serde_json::to_value(c.headroom.apply.mode)
                        .ok()
                        .and_then(|m| m.as_str().map(str::to_string))
                        .unwrap_or_default()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if json {
                let v = serde_json::json!({
                    "ok": false,
                    "problems": e.problems().iter().map(|p| serde_json::json!({"file": p.file, "key": p.key, "problem": p.problem, "hint": p.hint})).collect::<Vec<_>>(),
                });
                println!("{v}");
            } else {
                for p in e.problems() {
                    println!("{p}");
                }
                eprintln!("{} problem(s) found", e.problems().len());
            }
            ExitCode::from(2)
        }
    }
}

/// Every scope of the config with its clients, in order: each account's regions, the first
/// region of each account reading its spend. `account` and `region` keep only the matching.
async fn connect_scopes(cfg: &Config, account: Option<&str>, region: Option<&str>) -> Result<Vec<(sdk::SdkAws, ScopeState)>, ExitCode> {
    let mut out = Vec::new();
    let accounts = cfg.headroom.aws.effective_accounts();
    if let Some(a) = account
        && !accounts.iter().any(|x| x.id == a)
    {
        let known: Vec<&str> = accounts.iter().map(|x| x.id.as_str()).collect();
        eprintln!("error: --account {a}: not in the config (accounts: {})", known.join(", "));
        return Err(ExitCode::from(2));
    }
    for acc in &accounts {
        if account.is_some_and(|a| a != acc.id) {
            continue;
        }
        for (i, r) in acc.regions.iter().enumerate() {
            if region.is_some_and(|x| x != r) {
                continue;
            }
            let api = sdk::connect_account(&cfg.headroom.aws, Some(acc), r).await;
            out.push((api, ScopeState::new(Scope::new(&acc.id, r), i == 0)));
        }
    }
    if out.is_empty() {
        eprintln!(
            "error: no scope matches --region {} (the config's scopes: {})",
            region.unwrap_or("?"),
            cfg.headroom.aws.scopes().iter().map(|s| s.key()).collect::<Vec<_>>().join(", ")
        );
        return Err(ExitCode::from(2));
    }
    Ok(out)
}

async fn check(
    dir: &Path,
    json: bool,
    fail_on: Option<Severity>,
    store: Option<PathBuf>,
    region: Option<String>,
    account: Option<String>,
) -> Result<ExitCode, ExitCode> {
    let cfg = Arc::new(load_config(dir)?);
    let store = runtime::shared(open_store(store.as_deref().unwrap_or(&cfg.headroom.store.path), &cfg)?);
    let scopes = connect_scopes(&cfg, account.as_deref(), region.as_deref()).await?;
    let now = SystemClock.now();
    let mut reports = Vec::new();
    for (api, mut state) in scopes {
        let report = runtime::cycle(&api, &cfg, &store, &mut state, now).await.map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })?;
        // Changes whose process died before recording how they ended are settled by reading
        // their resources, as the daemon does each cycle.
        let mut locked = runtime::apply::Locked(store.clone());
        match crate::act::reconcile(&api, &mut locked, &cfg, &report.scope.key(), |c| c.tags().to_vec(), now).await {
            Ok(settled) => {
                for (id, outcome) in settled {
                    eprintln!("settled audit #{id} ({}): {outcome}", report.scope);
                }
            }
            Err(e) => eprintln!("warning: settling interrupted changes in {}: {e}", report.scope),
        }
        reports.push(report);
    }
    if json {
        println!("{}", print::reports_json(&reports));
    } else {
        for r in &reports {
            print::report(r, &cfg);
        }
    }
    let partial: Vec<String> = reports
        .iter()
        .filter(|r| r.snapshot.partial())
        .map(|r| {
            let failed: Vec<&str> = r.snapshot.failed_sources().iter().map(|s| s.source.as_str()).collect();
            format!("{} ({})", r.scope, failed.join(", "))
        })
        .collect();
    if !partial.is_empty() {
        eprintln!(
            "error: partial cycle in {}: the advice above is incomplete (the reasons are listed per source); exit {PARTIAL}",
            partial.join("; ")
        );
        return Ok(ExitCode::from(PARTIAL));
    }
    // --fail-on weighs every open advisory of the checked scopes, as `advisories --fail-on`
    // does, not only the ones this cycle produced (an acknowledged warning is still open).
    let mut open = Vec::new();
    {
        let s = crate::runtime::lock_store(&store);
        for r in &reports {
            open.extend(s.advisories(false, None, Some(&r.scope.key())).map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::from(2)
            })?);
        }
    }
    Ok(fail_code(open.iter().map(|s| &s.advisory), fail_on))
}

/// The exit code of a cycle that was partial (a source failed).
pub const PARTIAL: u8 = 3;

/// Exit 1 when an advisory is at or above `--fail-on`.
fn fail_code<'a>(advisories: impl IntoIterator<Item = &'a crate::domain::Advisory>, fail_on: Option<Severity>) -> ExitCode {
    match fail_on {
        Some(min) if advisories.into_iter().any(|a| a.severity >= min) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

/// `headroom advisories`: the store's advisories, or one moved along its lifecycle.
fn advisories(dir: &Path, a: AdvisoriesArgs) -> Result<ExitCode, ExitCode> {
    let cfg = load_config(dir)?;
    let path = a.store.clone().unwrap_or_else(|| cfg.headroom.store.path.clone());
    if !path.exists() {
        eprintln!(
            "error: no store at {} (run `headroom check` or `headroom run` first, or pass --store)",
            path.display()
        );
        return Err(ExitCode::from(2));
    }
    // Listing only reads: a read-only connection, so it works beside a running daemon and on a
    // store the user cannot write. Moving an advisory along its lifecycle writes.
    let writes = a.ack.is_some() || a.applied.is_some();
    let mut store = if writes {
        open_store(&path, &cfg)?
    } else {
        Sqlite::open_read_only(&path).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })?
    };
    if let Some(sc) = &a.scope
        && Scope::parse(sc).is_none()
    {
        eprintln!("error: --scope {sc}: expected ACCOUNT/REGION, e.g. 123456789012/us-east-1 or default/us-east-1");
        return Err(ExitCode::from(2));
    }
    let kind = match a.kind.as_deref() {
        None => None,
        Some(k) => Some(crate::domain::Kind::parse(k).ok_or_else(|| {
            let kinds: Vec<&str> = crate::domain::Kind::ALL.iter().map(|k| k.as_str()).collect();
            eprintln!("error: --kind {k}: unknown advisory kind (one of {})", kinds.join(", "));
            ExitCode::from(2)
        })?),
    };
    let now = SystemClock.now().timestamp();
    for (fp, state) in [
        (&a.ack, crate::domain::AdvisoryState::Acknowledged),
        (&a.applied, crate::domain::AdvisoryState::Applied),
    ] {
        if let Some(fp) = fp {
            match store.set_advisory_state(fp, state, now) {
                Ok(Some(full)) => println!("advisory {full} is now {}", state.as_str()),
                Ok(None) => {
                    eprintln!(
                        "error: no single advisory matches `{fp}` (give more of its fingerprint; `headroom advisories --all` lists them)"
                    );
                    return Err(ExitCode::from(2));
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return Err(ExitCode::from(2));
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
    }
    let list = store.advisories(a.all, kind, a.scope.as_deref()).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    if a.json {
        println!("{}", serde_json::to_string(&list).unwrap_or_else(|_| "[]".into()));
    } else if list.is_empty() {
        println!("no {}advisories in {}", if a.all { "" } else { "open " }, path.display());
    } else {
        for s in &list {
            print::advisory(&s.advisory, Some((s.state, s.scope.as_str())), true);
        }
    }
    Ok(fail_code(list.iter().map(|s| &s.advisory), a.fail_on))
}

/// The demo's configuration: the shipped one, pointed at the simulated fleet.
pub fn demo_config() -> Result<Config, ConfigError> {
    let mut cfg = Config::embedded()?;
    let h = &mut cfg.headroom;
    h.aws.regions = vec!["us-east-1".into()];
    h.collect.lookback_days = crate::aws::simulated::HISTORY_DAYS as u32;
    h.targets.asgs = vec![
        AsgTarget {
            name: Some("chat-web".into()),
            tags: vec![],
            load_balancer: Some(crate::aws::simulated::WEB_LB.into()),
            target_group: None,
            tier: Some("medium".into()),
            users_metric: None,
            db_pool_metric: None,
        },
        AsgTarget {
            name: None,
            tags: vec![("service-class".into(), "batch".into())],
            load_balancer: None,
            target_group: None,
            tier: None,
            users_metric: None,
            db_pool_metric: None,
        },
    ];
    h.targets.tables = vec![
        TableTarget {
            name: Some("chats".into()),
            prefix: None,
        },
        TableTarget {
            name: None,
            prefix: Some("sess".into()),
        },
    ];
    Ok(cfg)
}

/// The demo's receivers: an email and a Slack receiver writing files under `dir`; warnings and
/// worse go to both, the rest of the advice to the Slack channel only.
pub fn demo_notify(dir: &Path) -> crate::config::NotifyCfg {
    use crate::config::*;
    let defaults = NotifyCfg::default();
    let receivers = vec![
        ReceiverCfg {
            name: "sre-email".into(),
            kind: ReceiverKind::Email(EmailCfg {
                transport: EmailTransport::Dir(dir.to_path_buf()),
                from: "headroom <headroom@demo.invalid>".into(),
                to: vec!["sre@demo.invalid".into()],
            }),
        },
        ReceiverCfg {
            name: "capacity-slack".into(),
            kind: ReceiverKind::Slack(SlackCfg {
                target: SlackTarget::Dir(dir.to_path_buf()),
                channel: Some("#capacity".into()),
                timeout_s: 20,
            }),
        },
    ];
    let route = |receivers: &[&str], min: Severity, cont: bool| RouteCfg {
        continue_matching: cont,
        ..RouteCfg::to(receivers, min, &defaults)
    };
    let routes = vec![
        route(&["sre-email"], Severity::Warning, true),
        route(&["capacity-slack"], Severity::Info, false),
    ];
    NotifyCfg {
        receivers,
        routes,
        ..defaults
    }
}

async fn demo(json: bool, out: &Path, seed: u64, at: Option<&str>) -> Result<ExitCode, ExitCode> {
    let now = match at {
        None => SystemClock.now(),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| {
                eprintln!("error: --at {t}: {e} (expected RFC 3339, e.g. 2026-12-07T12:00:00Z)");
                ExitCode::from(2)
            })?,
    };
    let cfg = demo_config().map_err(|e| {
        report_config_error(&e);
        ExitCode::from(2)
    })?;
    std::fs::create_dir_all(out).map_err(|e| {
        eprintln!("error: cannot create output folder {}: {e}", out.display());
        ExitCode::from(2)
    })?;
    let notifications = out.join("notifications");
    let _ = std::fs::remove_dir_all(&notifications);
    let mut cfg = cfg;
    cfg.headroom.notify = demo_notify(&notifications);
    cfg.headroom.apply.mode = crate::config::ApplyMode::Approve;
    cfg.headroom.apply.kill_switch = out.join("stop-apply");
    let db = out.join("demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let cfg = Arc::new(cfg);
    let store = runtime::shared(open_store(&db, &cfg)?);
    let anchor = now.timestamp();
    let sim = SimulatedAccount::new(seed, anchor);
    let mut state = ScopeState::new(cfg.headroom.aws.default_scope(), true);
    let first = runtime::cycle(&sim, &cfg, &store, &mut state, now).await.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    // A second cycle five minutes later shows the incremental fetch.
    let later = now + chrono::Duration::minutes(5);
    let second = runtime::cycle(&sim, &cfg, &store, &mut state, later).await.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    // The notifier, once the groups' wait is over: one message per service and receiver.
    let notifier = crate::notify::Notifier::new(Arc::new(cfg.headroom.notify.clone()));
    let at = later.timestamp() + cfg.headroom.notify.group_wait_s as i64;
    let pumped = notifier.pump(&store, at).await.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    let review = demo_review(seed, &out.join("report"), now.timestamp()).await?;
    let plan = demo_plan(&sim, &cfg, &store, &second, later).await;
    if json {
        // The cycles, as before; the notifications are in the store and the folder.
        println!("{}", print::reports_json(&[first, second]));
    } else {
        println!(
            "headroom demo: a simulated account (seed {seed}), no AWS needed. Store: {}",
            db.display()
        );
        println!();
        print::report(&first, &cfg);
        println!();
        print::incremental(&second);
        println!();
        println!(
            "Notifications: {} messages ({} email, {} Slack) written under {}/ (as a mail server and Slack would get them; `headroom notifications --store {}` lists them)",
            pumped.files.len(),
            pumped.files.iter().filter(|f| f.ends_with(".eml")).count(),
            pumped.files.iter().filter(|f| f.ends_with(".json")).count(),
            notifications.display(),
            db.display()
        );
        println!();
        println!(
            "Weekly review of {} ({} hourly cycles of a simulated week in {}): {}",
            review.0.review.week,
            review.1,
            out.join("report").join("review.db").display(),
            review.0.review.headline.text
        );
        for p in &review.2 {
            println!("  {}", p.display());
        }
        if let Some(plan) = &plan {
            println!();
            println!(
                "Applying, in approve mode: `headroom apply {}` shows this plan and changes nothing; --yes would apply it (the simulated account cannot be changed).",
                crate::act::short(plan.fingerprint.as_deref().unwrap_or(""))
            );
            apply::print_plan(plan, crate::config::ApplyMode::Approve);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo's approve-mode plan for one advisory that proposes a change headroom may make
/// (a setting, not a purchase): before → after and every guardrail's verdict.
async fn demo_plan(
    sim: &SimulatedAccount,
    cfg: &Config,
    store: &runtime::Shared<Sqlite>,
    report: &runtime::CycleReport,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<crate::act::Plan> {
    use crate::domain::Kind;
    let order = [Kind::Rightsize, Kind::AsgLimits, Kind::SpotMix, Kind::Dynamodb, Kind::Tier];
    let a = order.iter().find_map(|k| {
        report
            .advisories
            .iter()
            .find(|a| a.kind == *k && a.action.as_ref().is_some_and(|x| crate::act::target(x).is_ok()))
    })?;
    let locked = runtime::apply::Locked(store.clone());
    let snap = &report.snapshot;
    let peaks = crate::act::snapshot_peaks(snap);
    let seen = crate::act::Seen::of(snap, &report.advisories, false);
    match crate::act::plan_advisory(sim, &locked, cfg, (&report.scope.key(), a), peaks, &seen, now).await {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("warning: the demo's apply plan: {e}");
            None
        }
    }
}

/// The demo's weekly review: the simulated account's last full week, cycled hourly into its
/// own store (the daemon would cycle every five minutes), reviewed and written under `dir`.
async fn demo_review(seed: u64, dir: &Path, now: i64) -> Result<(crate::report::Rendered, usize, Vec<PathBuf>), ExitCode> {
    let fail = |e: String| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    };
    let cfg = Arc::new(demo_config().map_err(|e| {
        report_config_error(&e);
        ExitCode::from(2)
    })?);
    let tz = cfg.headroom.schedule.timezone;
    let week = crate::report::Week::last_full(now, tz);
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    let db = dir.join("review.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let store = runtime::shared(open_store(&db, &cfg)?);
    // The simulated history ends where the week does.
    let sim = SimulatedAccount::new(seed, week.to);
    let mut state = ScopeState::new(cfg.headroom.aws.default_scope(), true);
    let mut cycles = 0;
    let mut t = week.from;
    while t < week.to {
        let at = chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
        runtime::cycle(&sim, &cfg, &store, &mut state, at)
            .await
            .map_err(|e| fail(e.to_string()))?;
        cycles += 1;
        t += 3_600;
    }
    let rows = {
        let s = runtime::lock_store(&store);
        crate::report::read(&*s, &[cfg.headroom.aws.default_scope()], &week, now).map_err(|e| fail(e.to_string()))?
    };
    let rendered = crate::report::Rendered::new(crate::report::build(&cfg, &week, &rows, 3_600, now), tz);
    let written = rendered.write(dir).map_err(fail)?;
    Ok((rendered, cycles, written))
}

/// An exclusive lock on the store file itself, held while the daemon runs: two daemons on one
/// store would each cycle every scope and send every notification twice. The lock belongs to
/// the file (its device and inode), not to the path it was named by, so a symlink or a hard
/// link to the store finds it taken, and there is no lock file to delete. It is a `flock`,
/// which SQLite's own (`fcntl`) locks do not see; the kernel releases it when the process
/// ends, however it ends. A store shared by design (PostgreSQL replicas) uses a lease instead.
///
/// The descriptor is never closed before the process ends: closing any descriptor of a file
/// drops every POSIX lock the process holds on it, SQLite's included.
struct StoreLock;

fn lock_store_file(store: &Path) -> Result<StoreLock, ExitCode> {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::io::AsRawFd;
    check_store_folder(store)?;
    // Created empty when new: SQLite takes an empty file as an empty database.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(store)
        .map_err(|e| {
            eprintln!(
                "error: cannot open the store {} to lock it: {e} (the file and its folder must be writable by this user)",
                store.display()
            );
            ExitCode::from(2)
        })?;
    // SAFETY: flock on a file descriptor this function owns; non-blocking.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let meta = f.metadata().ok();
        let holder = meta
            .and_then(|m| lock_holder(m.dev(), m.ino()))
            .map_or("unknown".to_string(), |p| p.to_string());
        let real = std::fs::canonicalize(store).unwrap_or_else(|_| store.to_path_buf());
        eprintln!(
            "error: store {} (the file {}) is in use by another headroom daemon (pid {holder}): run one daemon per store, or give this one its own [store] path",
            store.display(),
            real.display()
        );
        return Err(ExitCode::from(2));
    }
    let _ = std::os::unix::io::IntoRawFd::into_raw_fd(f);
    Ok(StoreLock)
}

/// The pid holding a `flock` on the file with this device and inode, from /proc/locks.
fn lock_holder(dev: u64, ino: u64) -> Option<u32> {
    let (major, minor) = (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff), (dev & 0xff) | ((dev >> 12) & !0xff));
    let id = format!("{major:02x}:{minor:02x}:{ino}");
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; blocked waiters have "->".
        (f.len() >= 6 && f[1] == "FLOCK" && f[5] == id).then(|| f[4].parse().ok()).flatten()
    })
}
