//! `headroom report`: the weekly capacity review of one ISO week from the store, written as
//! HTML, Markdown, JSON and PNG charts (`--out`), printed (Markdown, or `--json`), or sent
//! through the receivers (`--send`, recorded in the store like the daemon's Monday send).
//!
//! May use: config, store, report, notify (review delivery), runtime (the clock).

use super::{load_config, open_store};
use crate::config::Config;
use crate::domain::Scope;
use crate::report::{self, Rendered, Week};
use crate::runtime::{Clock, SystemClock};
use crate::store::Sqlite;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The ISO week, e.g. 2026-W49 (default: the last full week in [schedule] timezone). A week
    /// not over yet is reviewed up to now.
    #[arg(long)]
    week: Option<String>,
    /// Only this scope, as ACCOUNT/REGION (repeatable; default: every configured scope).
    #[arg(long, value_name = "ACCOUNT/REGION")]
    scope: Vec<String>,
    /// Write review-WEEK.html, .md, .json and charts/*.png into this folder.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Send the review to every configured receiver now (and record it, so the daemon does not
    /// send that week's review again).
    #[arg(long)]
    send: bool,
    /// Print the review as JSON instead of Markdown.
    #[arg(long)]
    json: bool,
    /// Store file (default: [store] path of headroom.toml).
    #[arg(long)]
    store: Option<PathBuf>,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// The scopes asked for: each must be ACCOUNT/REGION; default every configured one.
pub fn scopes(cfg: &Config, asked: &[String]) -> Result<Vec<Scope>, ExitCode> {
    if asked.is_empty() {
        return Ok(cfg.headroom.aws.scopes());
    }
    let configured = cfg.headroom.aws.scopes();
    asked
        .iter()
        .map(|s| {
            let scope = Scope::parse(s).ok_or_else(|| {
                fail(format!(
                    "--scope {s}: expected ACCOUNT/REGION, e.g. 123456789012/us-east-1 or default/us-east-1"
                ))
            })?;
            // A scope headroom does not watch has no review: an empty one would read as a
            // quiet week.
            if !configured.contains(&scope) {
                let known: Vec<String> = configured.iter().map(Scope::key).collect();
                return Err(fail(format!(
                    "--scope {s}: not a scope of this config (its scopes: {})",
                    known.join(", ")
                )));
            }
            Ok(scope)
        })
        .collect()
}

pub async fn report(dir: &std::path::Path, a: ReportArgs) -> Result<ExitCode, ExitCode> {
    let cfg = load_config(dir)?;
    let tz = cfg.headroom.schedule.timezone;
    let now = SystemClock.now().timestamp();
    let week = match &a.week {
        Some(w) => Week::parse(w, tz).map_err(fail)?,
        None => Week::last_full(now, tz),
    };
    if week.from > now {
        return Err(fail(format!(
            "week {} has not started yet (it starts {})",
            week.label,
            report::week_start(&week, tz)
        )));
    }
    let scopes = scopes(&cfg, &a.scope)?;
    let path = a.store.clone().unwrap_or_else(|| cfg.headroom.store.path.clone());
    if !path.exists() {
        return Err(fail(format!(
            "no store at {} (run `headroom run` or `headroom check` first, or pass --store)",
            path.display()
        )));
    }
    let rendered = {
        let store = Sqlite::open_read_only(&path).map_err(fail)?;
        let rows = report::read(&store, &scopes, &week, now).map_err(fail)?;
        let interval = crate::runtime::interval_s(&cfg, week.from);
        Rendered::new(report::build(&cfg, &week, &rows, interval, now), tz)
    };
    if let Some(out) = &a.out {
        let written = rendered.write(out).map_err(fail)?;
        for p in &written {
            eprintln!("wrote {}", p.display());
        }
    } else if a.json {
        println!("{}", rendered.json);
    } else {
        let md: Vec<_> = rendered.charts.iter().map(|c| (c.clone(), None)).collect();
        print!("{}", report::render::markdown(&rendered.review, &md));
    }
    if a.send {
        if cfg.headroom.notify.receivers.is_empty() {
            return Err(fail("--send: no receivers are configured ([[notify.receivers]] in headroom.toml)"));
        }
        let mut store = open_store(&path, &cfg)?;
        let mut failed = 0;
        for rc in &cfg.headroom.notify.receivers {
            let result = crate::notify::review::send(&cfg.headroom.notify, &rc.name, &rendered, now).await;
            let error = result.as_ref().err().map(crate::notify::review::reason);
            store.record_report(&week.label, &rc.name, error.as_deref(), now).map_err(fail)?;
            match result {
                Ok(Some(file)) => eprintln!("sent the review of {} to {} ({file})", week.label, rc.name),
                Ok(None) => eprintln!("sent the review of {} to {}", week.label, rc.name),
                Err(e) => {
                    failed += 1;
                    eprintln!("error: {}", crate::notify::review::reason(&e));
                }
            }
        }
        if failed > 0 {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}
