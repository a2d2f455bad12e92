//! `headroom run` as a service, and `headroom health`.
//!
//! `run`: loads and validates the config, opens and locks the store, binds `[http] listen`,
//! connects the scopes, tells systemd READY=1, then runs the scheduler until SIGTERM. SIGHUP
//! reloads the config from the same folder: a valid one takes effect from the next tick, an
//! invalid one is rejected with every problem logged and the old one kept. Changes to `[aws]`,
//! `[store]` and `[http]` need a restart (logged as such). `--simulated` watches the built-in
//! simulated account instead of AWS (the demo's fleet; to try the service without an account).
//!
//! May use: runtime, serve, systemd, metrics, config, store, aws.

use super::{connect_scopes, demo_config, load_config, lock_store_file, open_store};
use crate::aws::Account;
use crate::aws::simulated::SimulatedAccount;
use crate::aws::synthetic::{SyntheticFleet, fleet_config};
use crate::config::{Config, ConfigError};
use crate::runtime::{self, Health, ScopeState, Service, SystemClock};
use crate::serve::{self, Endpoints};
use crate::store::Sqlite;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, info, warn};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Store file (default: [store] path of headroom.toml).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Watch the built-in simulated account (the demo's fleet and targets) instead of AWS;
    /// [schedule], [notify], [http] and [store] still come from --config.
    #[arg(long)]
    simulated: bool,
    /// Benchmarks: watch a synthetic fleet of this many groups (3 series each) instead of AWS.
    #[arg(long, hide = true, value_name = "GROUPS", conflicts_with = "simulated")]
    synthetic_groups: Option<usize>,
}

#[derive(Clone, Copy)]
enum Source {
    Aws,
    Simulated,
    Synthetic(usize),
}

/// The config as this run uses it: the folder's, or its service parts over the simulated
/// account's watch config.
fn effective(dir: &Path, source: Source, store: Option<&Path>) -> Result<Config, ConfigError> {
    let mut cfg = effective_of(dir, source)?;
    // `run --store` names the store used: the kill switch lies beside it (unless configured).
    if let Some(path) = store {
        cfg.headroom.apply.kill_switch = cfg.headroom.apply.kill_switch_for(path);
        cfg.headroom.store.path = path.to_path_buf();
    }
    Ok(cfg)
}

fn effective_of(dir: &Path, source: Source) -> Result<Config, ConfigError> {
    let cfg = Config::load(dir)?;
    Ok(match source {
        Source::Aws => cfg,
        Source::Simulated => {
            let mut demo = demo_config()?;
            let (d, c) = (&mut demo.headroom, cfg.headroom);
            d.schedule = c.schedule;
            d.notify = c.notify;
            d.http = c.http;
            d.store = c.store;
            d.advice = c.advice;
            demo.rules = cfg.rules;
            demo
        }
        Source::Synthetic(_) => {
            let mut c = cfg;
            c.headroom = fleet_config(c.headroom);
            c
        }
    })
}

pub async fn run(dir: &Path, a: RunArgs) -> Result<ExitCode, ExitCode> {
    let source = match (a.simulated, a.synthetic_groups) {
        (_, Some(n)) => Source::Synthetic(n),
        (true, None) => Source::Simulated,
        (false, None) => Source::Aws,
    };
    let cfg = effective(dir, source, a.store.as_deref()).map_err(|e| {
        super::report_config_error(&e);
        ExitCode::from(2)
    })?;
    let cfg = Arc::new(cfg);
    let path = a.store.unwrap_or_else(|| cfg.headroom.store.path.clone());
    let _lock = lock_store_file(&path)?;
    let opened = open_store(&path, &cfg)?;
    let store = runtime::shared(opened);
    let listener = match cfg.headroom.http.addr() {
        None => None,
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            eprintln!(
                "error: cannot listen on {addr} for /healthz and /metrics: {e} (another process on that port? set [http] listen to a free port, or \"off\")"
            );
            ExitCode::from(2)
        })?),
    };
    let now = chrono::Utc::now().timestamp();
    match source {
        Source::Aws => {
            let scopes = connect_scopes(&cfg, None, None).await?;
            serve_scopes(dir, source, scopes, cfg, store, listener, now).await
        }
        Source::Simulated => {
            let scopes = cfg
                .headroom
                .aws
                .scopes()
                .into_iter()
                .enumerate()
                .map(|(i, s)| (SimulatedAccount::new(42, now), ScopeState::new(s, i == 0)))
                .collect();
            serve_scopes(dir, source, scopes, cfg, store, listener, now).await
        }
        Source::Synthetic(n) => {
            let scopes = vec![(SyntheticFleet::new(n), ScopeState::new(cfg.headroom.aws.default_scope(), true))];
            serve_scopes(dir, source, scopes, cfg, store, listener, now).await
        }
    }
}

async fn serve_scopes<A: Account + crate::aws::Changes + Send + 'static>(
    dir: &Path,
    source: Source,
    scopes: Vec<(A, ScopeState)>,
    cfg: Arc<Config>,
    store: runtime::Shared<Sqlite>,
    listener: Option<tokio::net::TcpListener>,
    now: i64,
) -> Result<ExitCode, ExitCode> {
    let names: Vec<_> = scopes.iter().map(|(_, s)| s.scope.clone()).collect();
    let health = Arc::new(Health::new(&names, now, runtime::interval_s(&cfg, now)));
    health.set_kill_switch(&cfg.headroom.apply.kill_switch);
    health.set_deadline(cfg.headroom.collect.deadline_s);
    let m = crate::metrics::get();
    m.config_loaded.set(now);
    let (tx, rx) = watch::channel(cfg.clone());
    let reloader = tokio::spawn(reload_on_hup(dir.to_path_buf(), source, tx));
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = listener.map(|l| {
        let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        info!(%addr, "serving /healthz and /metrics");
        let store = store.clone();
        let stats: serve::StatsFn = Arc::new(move |rows| runtime::lock_store(&store).stats(rows).ok());
        tokio::spawn(serve::serve(l, Endpoints::new(health.clone(), stats), async {
            let _ = http_stopped.await;
        }))
    });
    crate::systemd::notify(&format!("READY=1\nSTATUS={}", health.status_line()));
    let svc = Service {
        config: rx,
        health,
        grace: Duration::from_secs(6),
    };
    let out = runtime::run_service(scopes, svc, store, &SystemClock, runtime::shutdown_signal()).await;
    reloader.abort();
    let _ = stop_http.send(());
    if let Some(s) = server {
        let _ = tokio::time::timeout(Duration::from_secs(1), s).await;
    }
    out.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// On each SIGHUP: reads the config again; a valid one goes to the scheduler, an invalid one
/// is logged problem by problem and the one in use stays.
async fn reload_on_hup(dir: PathBuf, source: Source, tx: watch::Sender<Arc<Config>>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        warn!("cannot listen for SIGHUP; reloading the config needs a restart");
        return;
    };
    let m = crate::metrics::get();
    while hup.recv().await.is_some() {
        info!(config = %dir.display(), "SIGHUP: reloading the configuration");
        crate::systemd::reloading();
        let d = dir.clone();
        // The store in use stays the one opened at start (and its kill switch beside it).
        let running = tx.borrow().headroom.store.path.clone();
        let loaded = tokio::task::spawn_blocking(move || effective(&d, source, Some(&running))).await;
        match loaded {
            Ok(Ok(new)) => {
                let old = tx.borrow().clone();
                for (part, changed) in [
                    ("[aws]", format!("{:?}", old.headroom.aws) != format!("{:?}", new.headroom.aws)),
                    (
                        "[store]",
                        format!("{:?}", old.headroom.store) != format!("{:?}", new.headroom.store),
                    ),
                    ("[http]", format!("{:?}", old.headroom.http) != format!("{:?}", new.headroom.http)),
                ] {
                    if changed {
                        warn!(
                            section = part,
                            "this section changed; it takes effect after a restart (the rest is in effect from the next tick)"
                        );
                    }
                }
                let _ = tx.send(Arc::new(new));
                m.config_reloads.get_or_create(&crate::metrics::OutcomeL { outcome: "ok" }).inc();
                m.config_loaded.set(chrono::Utc::now().timestamp());
                crate::systemd::reloaded("configuration reloaded");
            }
            Ok(Err(e)) => {
                for p in e.problems() {
                    error!(problem = %p, "reload rejected");
                }
                error!(
                    problems = e.problems().len(),
                    "SIGHUP: the new configuration is invalid; keeping the one in use (fix it and send SIGHUP again; `headroom config check` lists the problems)"
                );
                m.config_reloads
                    .get_or_create(&crate::metrics::OutcomeL { outcome: "rejected" })
                    .inc();
                crate::systemd::reloaded("configuration reload rejected: the previous one is in use");
            }
            Err(e) => {
                error!(error = %e, "SIGHUP: reading the configuration failed; keeping the one in use");
                crate::systemd::reloaded("configuration reload failed: the previous one is in use");
            }
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct HealthArgs {
    /// The daemon's address (default: [http] listen of the config).
    #[arg(long, value_name = "ADDR:PORT")]
    addr: Option<String>,
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

/// GETs /healthz: exit 0 when the daemon answers healthy (200 `ok`), 1 when it answers
/// unhealthy (503 `unhealthy`), 2 when nothing answers or the answer is not headroom's.
/// Prints the daemon's reasons.
pub async fn health(dir: &Path, a: HealthArgs) -> Result<ExitCode, ExitCode> {
    let addr = match a.addr {
        Some(x) => x,
        None => {
            let cfg = load_config(dir)?;
            match cfg.headroom.http.addr() {
                Some(x) => x.to_string(),
                None => {
                    eprintln!("error: [http] listen is \"off\": the daemon serves no /healthz (give --addr, or set listen)");
                    return Err(ExitCode::from(2));
                }
            }
        }
    };
    match serve::get(&addr, "/healthz", Duration::from_secs(a.timeout.max(1))).await {
        Ok((status, body)) => {
            // Only headroom's own answer counts: another service on the port (or a proxy's
            // page) answering 200 is not a healthy daemon.
            match (status, body.lines().next()) {
                (200, Some("ok")) => {
                    print!("{body}");
                    Ok(ExitCode::SUCCESS)
                }
                (503, Some("unhealthy")) => {
                    print!("{body}");
                    Ok(ExitCode::from(1))
                }
                (status, _) => {
                    let first: String = body.lines().next().unwrap_or("").chars().take(80).collect();
                    eprintln!(
                        "error: {addr}/healthz answered HTTP {status} `{first}`, not headroom's `ok` or `unhealthy`: is headroom the process listening there?"
                    );
                    Err(ExitCode::from(2))
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(2))
        }
    }
}
