//! After a scope's cycle: settle the changes whose process died before recording how they
//! ended (any mode: `act::reconcile`); in auto mode, follow the instance refreshes still
//! rolling out, then apply the cycle's advisories of the kinds and severities `[apply]`
//! allows — each through every guardrail, on the cycle's own fresh data, each at most once on
//! its own (a failed, diverged or unsettled attempt waits for a person), never over an
//! operator's hand change.
//!
//! May use: act, store, config, domain.

use super::app::lock;
use super::{CycleReport, Shared};
use crate::act;
use crate::aws::Changes;
use crate::config::{ApplyMode, Config};
use crate::domain::AdvisoryState;
use crate::store::{Audit, AuditRow, Claim, ClaimRules, Finish, NewAction, StoreError, StoredAdvisory};
use chrono::{DateTime, Utc};
use tracing::{info, warn};

/// The shared store as `act` needs it: each call locks it briefly. `act` calls it from async
/// code; another scope's commit can hold the lock for seconds at fleet scale, so on the
/// daemon's multi-threaded runtime the wait happens in `block_in_place` (the worker's other
/// tasks move to another thread instead of stalling behind it).
pub struct Locked<S>(pub Shared<S>);

impl<S> Locked<S> {
    fn with<T>(&self, f: impl FnOnce(&mut S) -> T) -> T {
        let multi = tokio::runtime::Handle::try_current().is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi {
            tokio::task::block_in_place(|| f(&mut lock(&self.0)))
        } else {
            f(&mut lock(&self.0))
        }
    }
}

impl<S: Audit> Audit for Locked<S> {
    fn claim(&mut self, a: &NewAction, rules: &ClaimRules, now: i64) -> Result<Claim, StoreError> {
        self.with(|s| s.claim(a, rules, now))
    }
    fn record_blocked(&mut self, a: &NewAction, reasons: &[String], once_a_day: bool, now: i64) -> Result<Option<i64>, StoreError> {
        self.with(|s| s.record_blocked(a, reasons, once_a_day, now))
    }
    fn last_made(&self, scope: &str, resource: &str) -> Result<Option<AuditRow>, StoreError> {
        self.with(|s| s.last_made(scope, resource))
    }
    fn on_demand_switches(&self, scope: &str, resource: &str, since: i64) -> Result<u32, StoreError> {
        self.with(|s| s.on_demand_switches(scope, resource, since))
    }
    fn last_snapshot_at(&self, scope: &str) -> Result<Option<i64>, StoreError> {
        self.with(|s| s.last_snapshot_at(scope))
    }
    fn finish_action(&mut self, id: i64, f: &Finish, now: i64) -> Result<(), StoreError> {
        self.with(|s| s.finish_action(id, f, now))
    }
    fn audit_rows(&self, scope: Option<&str>, outcome: Option<&str>, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        self.with(|s| s.audit_rows(scope, outcome, limit))
    }
    fn audit_row(&self, id: i64) -> Result<Option<AuditRow>, StoreError> {
        self.with(|s| s.audit_row(id))
    }
    fn last_change_at(&self, scope: &str, resource: &str) -> Result<Option<i64>, StoreError> {
        self.with(|s| s.last_change_at(scope, resource))
    }
    fn actions_since(&self, since: i64) -> Result<u32, StoreError> {
        self.with(|s| s.actions_since(since))
    }
    fn table_decreases(&self, scope: &str, resource: &str, since: i64) -> Result<(u32, Option<i64>), StoreError> {
        self.with(|s| s.table_decreases(scope, resource, since))
    }
    fn last_partial(&self, scope: &str) -> Result<Option<bool>, StoreError> {
        self.with(|s| s.last_partial(scope))
    }
    fn find_advisory(&self, fingerprint: &str) -> Result<Vec<StoredAdvisory>, StoreError> {
        self.with(|s| s.find_advisory(fingerprint))
    }
    fn last_attempt(&self, fingerprint: &str) -> Result<Option<String>, StoreError> {
        self.with(|s| s.last_attempt(fingerprint))
    }
}

/// After a committed cycle: settle interrupted changes; in auto mode, follow refreshes and
/// apply what is allowed. Returns how many changes were made or settled (each announced).
pub async fn after_cycle<A: Changes + Sync, S: Audit + 'static>(
    api: &A,
    cfg: &Config,
    store: &Shared<S>,
    report: &CycleReport,
    now: DateTime<Utc>,
) -> usize {
    let scope = report.scope.key();
    let mut locked = Locked(store.clone());
    let tags = |c: &act::Current| c.tags().to_vec();
    let settled = match act::reconcile(api, &mut locked, cfg, &scope, tags, now).await {
        Ok(settled) => {
            if !settled.is_empty() {
                info!(scope = %scope, settled = ?settled, "settled interrupted changes");
            }
            settled.len()
        }
        Err(e) => {
            warn!(scope = %scope, error = %e, "settling interrupted changes failed");
            0
        }
    };
    if cfg.headroom.apply.mode != ApplyMode::Auto {
        return settled;
    }
    if let Err(e) = act::follow(api, &mut locked, &scope, now).await {
        warn!(scope = %scope, error = %e, "following instance refreshes failed");
    }
    let mut made = settled;
    for a in &report.advisories {
        if !act::auto_applies(cfg, a) {
            continue;
        }
        let open = match locked.find_advisory(&a.fingerprint) {
            Ok(found) => found
                .iter()
                .any(|s| s.advisory.fingerprint == a.fingerprint && s.state == AdvisoryState::Open),
            Err(e) => {
                warn!(error = %e, "store: cannot read the advisory's state; not applying");
                continue;
            }
        };
        if !open {
            continue;
        }
        match locked.last_attempt(&a.fingerprint) {
            Ok(Some(o)) if matches!(o.as_str(), "failed" | "started" | "diverged" | "unknown") => continue,
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, "store: cannot read earlier attempts; not applying");
                continue;
            }
        }
        let snap = &report.snapshot;
        let peaks = act::snapshot_peaks(snap);
        let seen = act::Seen::of(snap, &report.advisories, true);
        let plan = match act::plan_advisory(api, &locked, cfg, (&scope, a), peaks, &seen, now).await {
            Ok(p) => p,
            Err(e) => {
                warn!(scope = %scope, fingerprint = %act::short(&a.fingerprint), error = %e, "cannot plan the advisory's change");
                continue;
            }
        };
        if plan.in_place {
            continue;
        }
        match act::apply(api, &mut locked, cfg, &plan, "auto", now).await {
            Ok(act::Outcome::Applied { .. } | act::Outcome::InProgress { .. }) => made += 1,
            Ok(act::Outcome::Blocked { reasons }) => {
                info!(scope = %scope, resource = %plan.resource, fingerprint = %act::short(&a.fingerprint), blocked = %reasons.join("; "), "auto apply blocked")
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "store: cannot record the action"),
        }
    }
    made
}
