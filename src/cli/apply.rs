//! `headroom apply` and `headroom audit`: show the plan for applying one advisory (the
//! setting before and after, every guardrail's verdict), apply it with `--yes` when the mode
//! allows, undo an audited change; list the audit.
//!
//! Fresh evidence: before planning, the advisory's scope is collected again and analyzed and
//! decided as a cycle would (`runtime::evaluate`, nothing written); the floor uses the
//! fresh peak, and when fresh data decides otherwise than the stored advisory says, the plan
//! is blocked with the new proposal (the stored advisory is updated to it, so a second look
//! shows and applies what fresh data says). A collection that fails refuses, saying how old
//! the stored data is.
//!
//! May use: act, store, config, aws (to connect), domain.

use super::{load_config, open_store};
use crate::act::{self, Outcome, Plan};
use crate::aws::sdk;
use crate::config::{ApplyMode, Config};
use crate::domain::Scope;
use crate::store::{Audit, AuditRow, Sqlite};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// The advisory's fingerprint (or a unique prefix of it), as `headroom advisories` lists it.
    #[arg(value_name = "FINGERPRINT", required_unless_present = "undo")]
    fingerprint: Option<String>,
    /// Make the change (needs [apply] mode = "approve" or "auto"); without it only the plan
    /// is shown and nothing changes.
    #[arg(long)]
    yes: bool,
    /// Restore the setting an audited change found (through the same guardrails).
    #[arg(long, value_name = "AUDIT_ID", conflicts_with = "fingerprint")]
    undo: Option<i64>,
    /// Print the plan and the outcome as JSON.
    #[arg(long)]
    json: bool,
    /// Store file (default: [store] path of headroom.toml).
    #[arg(long)]
    store: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// Print as JSON (every row with before, intended and after settings and the verdicts).
    #[arg(long)]
    json: bool,
    /// Only this scope, as ACCOUNT/REGION.
    #[arg(long, value_name = "ACCOUNT/REGION")]
    scope: Option<String>,
    /// Newest rows shown.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Store file (default: [store] path of headroom.toml).
    #[arg(long)]
    store: Option<PathBuf>,
}

/// An error of `act`: exit 1 when AWS did not answer (the call failed; nothing changed; run
/// again), 2 when the input or the store is at fault.
fn act_fail(e: act::ActError, hint: &str) -> ExitCode {
    match e {
        act::ActError::NotAppliable(m) => fail(m, hint),
        act::ActError::Aws(e) => {
            eprintln!("error: reading the resource: {e}");
            eprintln!(
                "hint: nothing was changed; run the same command again once AWS answers (headroom never retries a change on its own)"
            );
            ExitCode::from(1)
        }
        act::ActError::Store(e) => fail(e, ""),
    }
}

fn fail(msg: impl std::fmt::Display, hint: &str) -> ExitCode {
    eprintln!("error: {msg}");
    if !hint.is_empty() {
        eprintln!("hint: {hint}");
    }
    ExitCode::from(2)
}

async fn connect(cfg: &Config, scope: &str) -> Result<sdk::SdkAws, ExitCode> {
    let Some(s) = Scope::parse(scope) else {
        return Err(fail(format!("scope `{scope}` in the store is not ACCOUNT/REGION"), ""));
    };
    let accounts = cfg.headroom.aws.effective_accounts();
    let Some(acc) = accounts.iter().find(|a| a.id == s.account) else {
        return Err(fail(
            format!("account {} (scope {scope}) is not in the config", s.account),
            "add it to [[aws.accounts]] in headroom.toml",
        ));
    };
    Ok(sdk::connect_account(&cfg.headroom.aws, Some(acc), &s.region).await)
}

pub async fn apply(dir: &Path, a: ApplyArgs) -> Result<ExitCode, ExitCode> {
    let mut cfg = load_config(dir)?;
    let path = a.store.clone().unwrap_or_else(|| cfg.headroom.store.path.clone());
    // The kill switch lies beside the store actually used (unless configured elsewhere).
    cfg.headroom.apply.kill_switch = cfg.headroom.apply.kill_switch_for(&path);
    cfg.headroom.store.path = path.clone();
    let mut store = open_store(&path, &cfg)?;
    let now = chrono::Utc::now();
    let mode = cfg.headroom.apply.mode;
    if a.yes && mode == ApplyMode::Recommend {
        return Err(fail(
            "[apply] mode is \"recommend\": headroom changes nothing",
            "set mode = \"approve\" (or \"auto\") under [apply] in headroom.toml to apply with --yes; without --yes the plan is shown",
        ));
    }
    let (plan, api) = if let Some(id) = a.undo {
        let row = store
            .audit_row(id)
            .map_err(|e| fail(e, ""))?
            .ok_or_else(|| fail(format!("no audit row #{id} in {}", path.display()), "`headroom audit` lists them"))?;
        let api = connect(&cfg, &row.scope).await?;
        let plan = act::plan_undo(
            &api,
            &store,
            &cfg,
            &row,
            // An undo skips the floor: no series to read.
            |_, _| act::guard::Peaks::default(),
            now,
        )
        .await
        .map_err(|e| act_fail(e, "`headroom audit` shows the row"))?;
        (plan, api)
    } else {
        let fp = a.fingerprint.clone().unwrap_or_default();
        let found = store.find_advisory(&fp).map_err(|e| fail(e, ""))?;
        let adv = match found.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(fail(
                    format!("no advisory {fp} in {}", path.display()),
                    "`headroom advisories` lists the open ones with their fingerprints",
                ));
            }
            many => {
                return Err(fail(
                    format!("{fp} matches {} advisories", many.len()),
                    "give more of the fingerprint",
                ));
            }
        };
        if matches!(
            adv.state,
            crate::domain::AdvisoryState::Resolved | crate::domain::AdvisoryState::Expired
        ) {
            return Err(fail(
                format!(
                    "advisory {} is {}: its advice no longer holds",
                    act::short(&adv.advisory.fingerprint),
                    adv.state.as_str()
                ),
                "apply an open advisory (`headroom advisories`)",
            ));
        }
        let api = connect(&cfg, &adv.scope).await?;
        let scope =
            Scope::parse(&adv.scope).ok_or_else(|| fail(format!("scope `{}` in the store is not ACCOUNT/REGION", adv.scope), ""))?;
        // Fresh evidence: the scope collected, analyzed and decided now; nothing written.
        if !a.json {
            eprintln!("Collecting {} to decide on fresh data…", adv.scope);
        }
        let shared = crate::runtime::shared(store);
        let cfg_arc = std::sync::Arc::new(cfg.clone());
        let fresh = crate::runtime::evaluate(&api, &cfg_arc, &shared, scope, now).await;
        store = std::sync::Arc::try_unwrap(shared)
            .map_err(|_| fail("the store is still shared after evaluating", ""))?
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        let (snapshot, advisories) = fresh.map_err(|e| fail(e, ""))?;
        if snapshot.partial() {
            let age = store
                .last_snapshot_at(&adv.scope)
                .ok()
                .flatten()
                .map(|t| format!("{} old", crate::domain::fmt_duration(now.timestamp() - t)))
                .unwrap_or_else(|| "none".into());
            let failed: Vec<String> = snapshot
                .failed_sources()
                .iter()
                .map(|s| format!("{}: {}", s.source, s.reason.as_deref().unwrap_or("failed")))
                .collect();
            eprintln!(
                "Refused: fresh data for {} could not be collected ({}). The store's newest data is {} (max_evidence_age {}): headroom does not change AWS on old or partial data.",
                adv.scope,
                failed.join("; "),
                age,
                crate::domain::fmt_duration(cfg.headroom.max_evidence_age_s(now))
            );
            return Ok(ExitCode::from(1));
        }
        let fresh_one = advisories.iter().find(|f| f.fingerprint == adv.advisory.fingerprint);
        let seen = act::Seen::of(&snapshot, &advisories, false);
        let peaks = act::snapshot_peaks(&snapshot);
        let mut plan = act::plan_advisory(&api, &store, &cfg, (&adv.scope, &adv.advisory), peaks, &seen, now)
            .await
            .map_err(|e| act_fail(e, ""))?;
        // What fresh data decides, against what the stored advisory (the one shown and
        // approved) says.
        let changed = match fresh_one {
            None => Some("on fresh data the advisory no longer holds: nothing to do".to_string()),
            Some(f) if f.action != adv.advisory.action => Some(format!(
                "the advisory changed on fresh data: now {}",
                match f.action {
                    Some(_) => f.summary.clone(),
                    None => "no change (nothing to do)".into(),
                }
            )),
            Some(_) => None,
        };
        match &changed {
            Some(why) => {
                plan.verdicts.push(act::guard::Verdict {
                    guard: "fresh-advice",
                    allowed: false,
                    reason: format!(
                        "{why} (`headroom apply {}` shows the new plan)",
                        act::short(&adv.advisory.fingerprint)
                    ),
                });
                if let Some(f) = fresh_one
                    && let Err(e) = store.refresh_advisory(f, now.timestamp())
                {
                    tracing::warn!(error = %e, "could not update the stored advisory to the fresh decision");
                }
            }
            None => plan.verdicts.push(act::guard::Verdict {
                guard: "fresh-advice",
                allowed: true,
                reason: format!(
                    "fresh data (collected {}) decides the same",
                    crate::domain::fmt_ts(snapshot.taken_at.timestamp())
                ),
            }),
        }
        (plan, api)
    };
    let mut outcome = None;
    if a.yes {
        let how = if a.undo.is_some() { "undo" } else { "approve" };
        outcome = Some(act::apply(&api, &mut store, &cfg, &plan, how, now).await.map_err(|e| fail(e, ""))?);
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "mode": mode.as_str(), "plan": plan, "result": outcome }))
                .unwrap_or_default()
        );
    } else {
        print_plan(&plan, mode);
        match &outcome {
            None if plan.in_place => {}
            None if mode == ApplyMode::Recommend => {
                println!("Mode recommend: nothing changes. Set [apply] mode = \"approve\" to apply with --yes.")
            }
            None if plan.allowed() => println!("Nothing changed. Run again with --yes to apply."),
            None => println!("Blocked: nothing would change. Every guardrail must allow it."),
            Some(o) => print_outcome(o),
        }
    }
    Ok(match outcome {
        Some(Outcome::Blocked { .. } | Outcome::Failed { .. } | Outcome::Diverged { .. }) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

pub fn print_plan(plan: &Plan, mode: ApplyMode) {
    let what = match (&plan.fingerprint, plan.undo_of) {
        (Some(fp), _) => format!("advisory {} ({})", act::short(fp), plan.kind.map(|k| k.as_str()).unwrap_or("")),
        (None, Some(id)) => format!("undo of audit #{id}"),
        _ => "change".into(),
    };
    println!("Plan: {what} on {} in {} (mode {})", plan.resource, plan.scope, mode.as_str());
    if !plan.summary.is_empty() {
        println!("  {}", plan.summary);
    }
    println!("  before: {}", act::describe(&plan.before));
    println!("  after:  {}", act::describe(&plan.after));
    if plan.in_place {
        println!("  Already as proposed: applying changes nothing.");
        return;
    }
    println!("  guardrails:");
    for v in &plan.verdicts {
        println!("    {} {:<16} {}", if v.allowed { "allowed" } else { "BLOCKED" }, v.guard, v.reason);
    }
}

fn print_outcome(o: &Outcome) {
    match o {
        Outcome::InPlace => println!("Nothing to do: already as proposed (no call made, no audit row)."),
        Outcome::Blocked { reasons } => {
            println!("Blocked, nothing changed:");
            for r in reasons {
                println!("  {r}");
            }
        }
        Outcome::Applied { audit_id, after } => {
            println!("Applied (audit #{audit_id}); now: {}", act::describe(after));
            println!("Undo with `headroom apply --undo {audit_id} --yes`.");
        }
        Outcome::InProgress { audit_id, refresh_id } => {
            println!("Applied (audit #{audit_id}); instance refresh {refresh_id} rolls it out (the daemon follows it).");
        }
        Outcome::Failed { audit_id, error } => {
            println!("Failed (audit #{audit_id}): {error}");
            println!("Not retried, by this command or the daemon: check the resource, then apply again if it still makes sense.");
        }
        Outcome::Diverged { audit_id, after, error } => {
            println!("Diverged (audit #{audit_id}): {error}; now: {}", act::describe(after));
            println!("Look at the resource; undo with `headroom apply --undo {audit_id} --yes`.");
        }
    }
}

pub fn audit(dir: &Path, a: AuditArgs) -> Result<ExitCode, ExitCode> {
    let cfg = load_config(dir)?;
    let path = a.store.clone().unwrap_or_else(|| cfg.headroom.store.path.clone());
    if !path.exists() {
        return Err(fail(
            format!("no store at {}", path.display()),
            "run `headroom check` or the daemon first, or give --store",
        ));
    }
    let store = Sqlite::open_read_only(&path).map_err(|e| fail(e, ""))?;
    if let Some(s) = &a.scope
        && Scope::parse(s).is_none()
    {
        return Err(fail(format!("--scope {s}: expected ACCOUNT/REGION"), "e.g. default/us-east-1"));
    }
    let rows = store.audit_rows(a.scope.as_deref(), None, a.limit).map_err(|e| fail(e, ""))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("No actions in {}.", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    for r in &rows {
        print_row(r);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_row(r: &AuditRow) {
    let what = match (&r.fingerprint, r.undo_of) {
        (Some(fp), _) => format!("{} {}", r.kind.as_deref().unwrap_or(""), act::short(fp)),
        (None, Some(id)) => format!("undo of #{id}"),
        _ => String::new(),
    };
    println!(
        "#{:<4} {}  {:<11} {:<8} {} {} ({})",
        r.id,
        crate::domain::fmt_ts(r.started_at),
        r.outcome,
        r.mode,
        r.resource,
        what,
        r.scope
    );
    println!("      before:   {}", act::describe(&r.before));
    println!("      intended: {}", act::describe(&r.intended));
    if let Some(a) = &r.after {
        println!("      after:    {}", act::describe(a));
    }
    if let Some(e) = &r.error {
        println!("      error:    {e}");
    }
}
