//! act: the only code that changes AWS. It turns an advisory's proposed action into a plan
//! (the resource's setting before, as read from AWS just now, and after), runs every
//! guardrail on it (`guard`), and — only when the mode allows it and every guardrail does —
//! makes the change through `aws::Changes`, with an audit row written before the call and
//! completed after it (the setting read back from AWS). An applied change marks its advisory
//! applied and is announced through the outbox; an instance refresh is followed across
//! cycles (`follow`); `undo` restores an audit row's before-setting through the same
//! guardrails. Applying what is already in place changes nothing and writes nothing.
//!
//! One writer per resource: before any call the change claims its resource in the store (the
//! audit row, unique per resource, written in the transaction that checks cooldown and
//! budget); after the call the setting is read back, and a resource that differs from the
//! intent ends `diverged`, never `applied`. A claim whose process died is settled by
//! `reconcile`, which reads the resource. Every outcome (applied, diverged, failed,
//! in-progress, reconciled, undone) is announced with its audit id, before → after and the
//! undo command; blocked attempts are audited.
//!
//! May use: aws (`Changes`), store (`Audit`), config, domain. Planning and the guardrails are
//! pure with `now` passed in; a failed call is recorded and never retried on its own.

pub mod guard;

use crate::aws::{AwsError, Changes, GroupConfig, Mix, TableConfig};
use crate::config::{ApplyMode, Config};
use crate::domain::{Action, Advisory, Kind, Setting, Ts};
use crate::store::{Announce, Audit, AuditRow, Claim, ClaimRules, Finish, NewAction, StoreError};
use chrono::{DateTime, Utc};
use guard::{Peaks, Verdict};
use serde::Serialize;

/// A resource as read from AWS right before planning.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Current {
    Group(GroupConfig),
    Table(TableConfig),
}

impl Current {
    pub fn tags(&self) -> &[(String, String)] {
        match self {
            Current::Group(g) => &g.tags,
            Current::Table(t) => &t.tags,
        }
    }
}

/// Which resource an action changes: `asg/NAME` or `table/NAME`, and the name.
pub fn target(action: &Action) -> Result<(String, String), String> {
    Ok(match action {
        Action::SetCapacity { asg, .. }
        | Action::SetInstanceType { asg, .. }
        | Action::SetTargetValue { asg, .. }
        | Action::SetLimits { asg, .. }
        | Action::SetMixedInstancesPolicy { asg, .. } => (format!("asg/{asg}"), asg.clone()),
        Action::SetTableCapacity { table, .. } => (format!("table/{table}"), table.clone()),
        Action::BuyCommitment { offering, level } => {
            return Err(format!(
                "commitments are never applied by headroom: buy {offering} at {level} yourself (Cost Explorer → Savings Plans / Reservations)"
            ));
        }
    })
}

fn no_mix(group: &str) -> String {
    format!(
        "{group} has no mixed instances policy: its instance type lives in its launch template (change it there, or give the group a mixed instances policy)"
    )
}

/// The setting of `current` of the same shape as `like` (the before-setting of a change,
/// and what is read back after it).
pub fn setting_of(current: &Current, like: &Setting) -> Result<Setting, String> {
    match (current, like) {
        (Current::Group(g), Setting::Size { .. }) => Ok(Setting::Size {
            min: g.min,
            max: g.max,
            desired: g.desired,
        }),
        (Current::Group(g), Setting::Target { policy, .. }) => g
            .policies
            .iter()
            .find(|p| &p.name == policy)
            .and_then(|p| {
                p.target_value.map(|value| Setting::Target {
                    policy: policy.clone(),
                    value,
                })
            })
            .ok_or_else(|| format!("{} has no target-tracking policy {policy}", g.name)),
        (Current::Group(g), Setting::Mix(_)) => g.mix.clone().map(Setting::Mix).ok_or_else(|| {
            format!(
                "{} has no mixed instances policy: its instance types live in its launch template",
                g.name
            )
        }),
        (Current::Group(g), Setting::Migration { .. }) => g
            .mix
            .clone()
            .map(|mix| Setting::Migration {
                mix,
                min: g.min,
                max: g.max,
                desired: g.desired,
            })
            .ok_or_else(|| no_mix(&g.name)),
        (Current::Table(t), Setting::Table { .. }) => Ok(Setting::Table {
            mode: t.mode.clone(),
            rcu: t.rcu,
            wcu: t.wcu,
            read_scaling: t.read_scaling,
            write_scaling: t.write_scaling,
        }),
        (Current::Group(g), _) => Err(format!("{} is a group; the change is for a table", g.name)),
        (Current::Table(t), _) => Err(format!("{} is a table; the change is for a group", t.name)),
    }
}

/// The setting an action asks for, given the resource as it is.
pub fn proposed(action: &Action, current: &Current) -> Result<Setting, String> {
    let group = || match current {
        Current::Group(g) => Ok(g),
        Current::Table(t) => Err(format!("{} is a table", t.name)),
    };
    Ok(match action {
        Action::SetCapacity { min, desired, max, .. } => Setting::Size {
            min: *min,
            max: *max,
            desired: *desired,
        },
        Action::SetLimits { min, max, .. } => Setting::Size {
            min: *min,
            max: *max,
            desired: group()?.desired.clamp(*min, (*max).max(*min)),
        },
        Action::SetTargetValue { policy, target, .. } => Setting::Target {
            policy: policy.clone(),
            value: *target,
        },
        Action::SetMixedInstancesPolicy {
            on_demand_base_capacity,
            on_demand_percentage_above_base_capacity,
            spot_allocation_strategy,
            overrides,
            ..
        } => Setting::Mix(Mix {
            on_demand_base_capacity: *on_demand_base_capacity,
            on_demand_percentage_above_base: *on_demand_percentage_above_base_capacity,
            spot_allocation_strategy: Some(spot_allocation_strategy.clone()),
            overrides: overrides.clone(),
        }),
        Action::SetInstanceType { from, to, desired, .. } => {
            let g = group()?;
            let (mut mix, min, max) = (g.mix.clone().ok_or_else(|| no_mix(&g.name))?, g.min, g.max);
            // The new type takes the old one's place (first: the preferred type).
            let weight = mix
                .overrides
                .iter()
                .find(|o| &o.instance_type == from)
                .and_then(|o| o.weighted_capacity.clone());
            mix.overrides.retain(|o| &o.instance_type != from && &o.instance_type != to);
            mix.overrides.insert(
                0,
                crate::domain::InstanceOverride {
                    instance_type: to.clone(),
                    weighted_capacity: weight,
                },
            );
            Setting::Migration {
                mix,
                min: min.min(*desired),
                max: max.max(*desired),
                desired: *desired,
            }
        }
        Action::SetTableCapacity {
            mode,
            rcu,
            wcu,
            rcu_autoscale,
            wcu_autoscale,
            ..
        } => Setting::Table {
            mode: mode.clone(),
            rcu: *rcu,
            wcu: *wcu,
            read_scaling: *rcu_autoscale,
            write_scaling: *wcu_autoscale,
        },
        Action::BuyCommitment { .. } => return Err(target(action).err().unwrap_or_default()),
    })
}

/// What applying would do: the setting before and after, and every guardrail's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// `account/region`.
    pub scope: String,
    /// `asg/NAME` or `table/NAME`.
    pub resource: String,
    /// The advisory applied (None for an undo).
    pub fingerprint: Option<String>,
    pub kind: Option<Kind>,
    /// The audit row an undo restores.
    pub undo_of: Option<i64>,
    pub summary: String,
    pub before: Setting,
    pub after: Setting,
    /// Already as proposed: applying changes nothing.
    pub in_place: bool,
    pub verdicts: Vec<Verdict>,
    /// The resource's tags (for routing the announcement).
    #[serde(skip)]
    pub tags: Vec<(String, String)>,
}

impl Plan {
    pub fn allowed(&self) -> bool {
        self.verdicts.iter().all(|v| v.allowed)
    }
    pub fn blocked(&self) -> Vec<&Verdict> {
        self.verdicts.iter().filter(|v| !v.allowed).collect()
    }
    /// A table change that lowers provisioned capacity (AWS counts those per day).
    pub fn table_decrease(&self) -> bool {
        match (&self.before, &self.after) {
            (
                Setting::Table { rcu: r1, wcu: w1, .. },
                Setting::Table {
                    mode, rcu: r2, wcu: w2, ..
                },
            ) => {
                let down = |a: &Option<i64>, b: &Option<i64>| matches!((a, b), (Some(a), Some(b)) if b < a);
                mode == "PROVISIONED" && (down(r1, r2) || down(w1, w2))
            }
            _ => false,
        }
    }
}

/// Everything planning needs besides the resource: read from the store and the filesystem
/// by the caller.
pub struct Facts {
    pub last_change_at: Option<Ts>,
    pub actions_last_day: u32,
    pub table_decreases_today: u32,
    pub last_table_decrease_at: Option<Ts>,
    pub on_demand_switches_last_day: u32,
    pub snapshot_partial: Option<bool>,
    pub peaks: Peaks,
    pub kill_switch: std::path::PathBuf,
    pub kill_switch_present: bool,
    /// When the data the decision uses was collected (the scope's newest snapshot, or the
    /// fresh one a caller collected).
    pub evidence_at: Option<Ts>,
    /// Alert rules firing on the resource now (set by the caller from its advisories).
    pub firing: Vec<String>,
    /// Auto mode: why the resource's setting is an operator's (set by `operator_change`).
    pub operator_change: Option<String>,
    /// The advisory's own monthly cost delta, dollars (used where the price of the change
    /// cannot be worked out from the price table).
    pub advisory_delta_usd: Option<f64>,
}

/// A change to plan: which resource of which scope, as it is now, from which setting to which.
pub struct Change<'a> {
    pub scope: &'a str,
    pub resource: &'a str,
    pub current: &'a Current,
    pub before: Setting,
    pub after: Setting,
}

/// Plans a change of its resource from `before` to `after` through every guardrail. Pure.
pub fn plan(cfg: &Config, change: Change, facts: &Facts, now: DateTime<Utc>) -> Plan {
    plan_with(cfg, change, facts, None, None, now)
}

/// `plan` for an advisory's change decided against `basis`, or an undo of `undo_of` (whose
/// basis is the setting the undone change left).
fn plan_with(cfg: &Config, change: Change, facts: &Facts, basis: Option<&Setting>, undo_of: Option<i64>, now: DateTime<Utc>) -> Plan {
    let Change {
        scope,
        resource,
        current,
        before,
        after,
    } = change;
    let region = scope.split_once('/').map(|(_, r)| r).unwrap_or(scope);
    let increase = monthly_increase_usd(cfg, current, &before, &after).or(facts.advisory_delta_usd);
    let ctx = guard::Context {
        cfg: &cfg.headroom.apply,
        pricing: &cfg.pricing,
        timezone: cfg.headroom.schedule.timezone,
        now,
        resource,
        current,
        last_change_at: facts.last_change_at,
        actions_last_day: facts.actions_last_day,
        table_decreases_today: facts.table_decreases_today,
        last_table_decrease_at: facts.last_table_decrease_at,
        on_demand_switches_last_day: facts.on_demand_switches_last_day,
        snapshot_partial: facts.snapshot_partial,
        peaks: &facts.peaks,
        headroom_percent: cfg.headroom.advice.headroom,
        kill_switch_present: facts.kill_switch_present,
        kill_switch: &facts.kill_switch,
        undo_of,
        basis,
        firing: &facts.firing,
        evidence_at: facts.evidence_at,
        max_evidence_age_s: cfg.headroom.max_evidence_age_s(now),
        monthly_increase_usd: increase,
        operator_change: facts.operator_change.as_deref(),
        region,
    };
    let verdicts = guard::check(&before, &after, &ctx);
    Plan {
        scope: scope.to_string(),
        resource: resource.to_string(),
        fingerprint: None,
        kind: None,
        undo_of,
        summary: String::new(),
        in_place: before == after,
        before,
        after,
        verdicts,
        tags: current.tags().to_vec(),
    }
}

/// What a change adds to the monthly bill at on-demand prices, where the price table says:
/// more instances of the group's first instance type × its hourly price × 730 h. None where
/// it cannot say (a table, a mix, a type not in pricing.toml): the advisory's own delta
/// stands in.
pub fn monthly_increase_usd(cfg: &Config, current: &Current, before: &Setting, after: &Setting) -> Option<f64> {
    let Current::Group(g) = current else { return None };
    let (Setting::Size { desired: d1, .. }, Setting::Size { desired: d2, .. }) = (before, after) else {
        return None;
    };
    let ty = g.mix.as_ref().and_then(|m| m.overrides.first()).map(|o| o.instance_type.as_str())?;
    let price = cfg.pricing.instances.get(ty)?;
    Some(f64::from(d2 - d1) * price.on_demand_hourly.as_usd_f64() * 730.0)
}

/// Who claims a resource: this host and process.
pub fn owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// Whether the process that claimed a resource is gone: on this host, its pid no longer
/// runs; on another host (or an unreadable owner), the claim is older than `stale_after_s`.
pub fn claim_is_dead(owner: Option<&str>, started_at: Ts, now: Ts, stale_after_s: i64) -> bool {
    let me = self::owner();
    let host = me.rsplit_once(':').map(|(h, _)| h).unwrap_or("");
    match owner.and_then(|o| o.rsplit_once(':')) {
        Some((h, pid)) if h == host => match pid.parse::<u32>() {
            Ok(pid) if pid == std::process::id() => false,
            Ok(pid) => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            Err(_) => now - started_at > stale_after_s,
        },
        _ => now - started_at > stale_after_s,
    }
}

/// A claim on another host is taken as dead after this long (every call of a change has a
/// timeout far shorter).
pub const CLAIM_STALE_S: i64 = 900;

/// Auto mode: whether an operator changed, by hand, what headroom last set on the resource
/// (its setting now differs from what headroom's last change left). That is the operator's
/// decision: auto mode does not change the resource again until a person applies a change
/// (`headroom apply`), which makes headroom's record current again.
pub fn operator_change(last: Option<&AuditRow>, current: &Current) -> Option<String> {
    let last = last?;
    let now = setting_of(current, last.left()).ok()?;
    let diff = guard::differences(last.left(), &now);
    (!diff.is_empty()).then(|| {
        format!(
            "{} changed by hand since audit #{} ({}) set it: the operator's decision stands; auto mode holds until a person applies a change (`headroom apply`)",
            diff.join(", "),
            last.id,
            crate::domain::fmt_ts(last.finished_at.unwrap_or(last.started_at))
        )
    })
}

/// Why nothing could be planned or applied (not a guardrail: those are in the plan).
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    #[error("{0}")]
    NotAppliable(String),
    #[error("{0}")]
    Aws(#[from] AwsError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Reads a resource as `act` needs it.
pub async fn read<A: Changes>(api: &A, resource: &str) -> Result<Current, AwsError> {
    match resource.split_once('/') {
        Some(("table", name)) => Ok(Current::Table(api.read_table(name).await?)),
        Some((_, name)) => Ok(Current::Group(api.read_group(name).await?)),
        None => Ok(Current::Group(api.read_group(resource).await?)),
    }
}

/// The facts the guardrails need about `resource`, from the store (and the kill switch's
/// file). `peaks` come from the caller (the daemon's window, or the store's series).
pub fn facts<S: Audit + ?Sized>(
    cfg: &Config,
    store: &S,
    scope: &str,
    resource: &str,
    peaks: Peaks,
    now: DateTime<Utc>,
) -> Result<Facts, StoreError> {
    let t = now.timestamp();
    let midnight = t - t.rem_euclid(86_400);
    let (decreases, last_decrease) = store.table_decreases(scope, resource, midnight)?;
    let kill_switch = cfg.headroom.apply.kill_switch.clone();
    Ok(Facts {
        last_change_at: store.last_change_at(scope, resource)?,
        actions_last_day: store.actions_since(t - 86_400)?,
        table_decreases_today: decreases,
        last_table_decrease_at: last_decrease,
        on_demand_switches_last_day: store.on_demand_switches(scope, resource, t - 86_400)?,
        snapshot_partial: store.last_partial(scope)?,
        peaks,
        kill_switch_present: kill_switch.exists(),
        kill_switch,
        evidence_at: store.last_snapshot_at(scope)?,
        firing: vec![],
        operator_change: None,
        advisory_delta_usd: None,
    })
}

/// What the caller saw that the store may not have: the data a decision was made on (when it
/// was collected, whether every source answered) and the alerts firing then; and whether
/// auto mode is asking (it holds on an operator's hand change).
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub at: Option<Ts>,
    pub partial: Option<bool>,
    /// Alerts firing: (resource, summary).
    pub firing: Vec<(String, String)>,
    pub auto: bool,
}

impl Seen {
    /// From a cycle's snapshot and advisories: the alerts firing on each resource.
    pub fn of(snapshot: &crate::domain::Snapshot, advisories: &[Advisory], auto: bool) -> Seen {
        Seen {
            at: Some(snapshot.taken_at.timestamp()),
            partial: Some(snapshot.partial()),
            firing: advisories
                .iter()
                .filter(|a| a.kind == Kind::Alert)
                .map(|a| (a.resource.0.clone(), a.summary.clone()))
                .collect(),
            auto,
        }
    }

    fn firing_on(&self, resource: &str) -> Vec<String> {
        self.firing
            .iter()
            .filter(|(r, _)| r == resource)
            .map(|(_, what)| format!("the alert “{what}”"))
            .collect()
    }

    fn apply_to(&self, facts: &mut Facts, resource: &str) {
        if self.at.is_some() {
            facts.evidence_at = self.at;
            facts.snapshot_partial = self.partial;
        }
        facts.firing = self.firing_on(resource);
    }
}

/// Plans applying `advisory` of `scope`: reads the resource, works out the setting it asks
/// for, and runs the guardrails on the facts of the store and what the caller `seen`.
pub async fn plan_advisory<A: Changes, S: Audit + ?Sized>(
    api: &A,
    store: &S,
    cfg: &Config,
    (scope, advisory): (&str, &Advisory),
    peaks: impl FnOnce(&str, &Current) -> Peaks,
    seen: &Seen,
    now: DateTime<Utc>,
) -> Result<Plan, ActError> {
    let action = advisory.action.as_ref().ok_or_else(|| {
        ActError::NotAppliable(format!(
            "advisory {} ({}) proposes no change to apply: it is for people to act on",
            short(&advisory.fingerprint),
            advisory.kind.as_str()
        ))
    })?;
    let (resource, _) = target(action).map_err(ActError::NotAppliable)?;
    let current = read(api, &resource).await?;
    let after = proposed(action, &current).map_err(ActError::NotAppliable)?;
    let before = setting_of(&current, &after).map_err(ActError::NotAppliable)?;
    let peaks = peaks(&resource, &current);
    let mut facts = facts(cfg, store, scope, &resource, peaks, now)?;
    seen.apply_to(&mut facts, &resource);
    facts.advisory_delta_usd = advisory.monthly_cost_delta.map(|m| m.as_usd_f64());
    if seen.auto {
        facts.operator_change = operator_change(store.last_made(scope, &resource)?.as_ref(), &current);
    }
    let change = Change {
        scope,
        resource: &resource,
        current: &current,
        before,
        after,
    };
    let mut p = plan_with(cfg, change, &facts, advisory.basis.as_ref(), None, now);
    p.fingerprint = Some(advisory.fingerprint.clone());
    p.kind = Some(advisory.kind);
    p.summary = advisory.summary.clone();
    Ok(p)
}

/// Plans undoing audit row `row`: from the resource as it is now back to the row's before.
pub async fn plan_undo<A: Changes, S: Audit + ?Sized>(
    api: &A,
    store: &S,
    cfg: &Config,
    row: &AuditRow,
    peaks: impl FnOnce(&str, &Current) -> Peaks,
    now: DateTime<Utc>,
) -> Result<Plan, ActError> {
    match row.outcome.as_str() {
        "applied" | "diverged" | "unknown" => {}
        "started" => {
            return Err(ActError::NotAppliable(format!(
                "audit #{} is not settled yet (its change may still be under way): the next cycle, or `headroom check`, settles it by reading {}",
                row.id, row.resource
            )));
        }
        "in-progress" => {
            return Err(ActError::NotAppliable(format!(
                "audit #{}'s instance refresh is still rolling out: undo it once it has ended",
                row.id
            )));
        }
        other => {
            return Err(ActError::NotAppliable(format!(
                "audit #{} is {other}: headroom changed nothing then, so there is nothing to undo",
                row.id
            )));
        }
    }
    let current = read(api, &row.resource).await?;
    let after = row.before.clone();
    let before = setting_of(&current, &after).map_err(ActError::NotAppliable)?;
    let peaks = peaks(&row.resource, &current);
    let facts = facts(cfg, store, &row.scope, &row.resource, peaks, now)?;
    let change = Change {
        scope: &row.scope,
        resource: &row.resource,
        current: &current,
        before,
        after,
    };
    let left = row.left().clone();
    let mut p = plan_with(cfg, change, &facts, Some(&left), Some(row.id), now);
    p.summary = format!("undo audit #{}: {} back to its setting before", row.id, row.resource);
    Ok(p)
}

/// What applying a plan ended in.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Already as proposed: nothing was called, nothing written.
    InPlace,
    /// A guardrail (or the mode) said no: nothing was called.
    Blocked { reasons: Vec<String> },
    /// Changed; the audit row holds before and after.
    Applied { audit_id: i64, after: Setting },
    /// Changed, and an instance refresh rolls it out (followed across cycles).
    InProgress { audit_id: i64, refresh_id: String },
    /// A call failed; the audit row holds the error. Not retried on its own.
    Failed { audit_id: i64, error: String },
    /// Changed, but read back unlike the intent: the row says how (a warning is sent).
    Diverged { audit_id: i64, after: Setting, error: String },
}

/// Applies a plan whose guardrails all allow it: the audit row first, then the calls, then
/// the setting read back into the row (and, for an advisory, its state and announcement).
pub async fn apply<A: Changes, S: Audit + ?Sized>(
    api: &A,
    store: &mut S,
    cfg: &Config,
    plan: &Plan,
    mode: &str,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    if plan.in_place {
        return Ok(Outcome::InPlace);
    }
    let verdicts = serde_json::to_string(&plan.verdicts).map_err(|source| StoreError::Encode { what: "verdicts", source })?;
    let owner = owner();
    let action = NewAction {
        scope: &plan.scope,
        resource: &plan.resource,
        fingerprint: plan.fingerprint.as_deref(),
        kind: plan.kind,
        undo_of: plan.undo_of,
        mode,
        summary: &plan.summary,
        before: &plan.before,
        intended: &plan.after,
        verdicts,
        decrease: plan.table_decrease(),
        owner: &owner,
    };
    let blocked = |store: &mut S, reasons: Vec<String>| -> Result<Outcome, StoreError> {
        crate::metrics::get().act_outcome("blocked");
        // Auto mode tries each cycle: one row per advisory per day is enough to see why.
        store.record_blocked(&action, &reasons, mode == "auto", now.timestamp())?;
        Ok(Outcome::Blocked { reasons })
    };
    if !plan.allowed() {
        let reasons = plan.blocked().iter().map(|v| format!("{}: {}", v.guard, v.reason)).collect();
        return blocked(store, reasons);
    }
    // The claim: one writer per resource, cooldown and budget checked in the same transaction
    // (another process may have changed the resource since the plan was made).
    let rules = match plan.undo_of {
        Some(_) => ClaimRules::default(),
        None => ClaimRules {
            cooldown_s: Some(cfg.headroom.apply.cooldown_s as i64),
            max_actions_per_day: Some(cfg.headroom.apply.max_actions_per_day),
        },
    };
    let id = match store.claim(&action, &rules, now.timestamp())? {
        Claim::Granted(id) => id,
        Claim::Refused(reasons) => return blocked(store, reasons),
    };
    let name = plan.resource.split_once('/').map(|(_, n)| n).unwrap_or(&plan.resource);
    let done = make(api, cfg, name, &plan.before, &plan.after).await;
    if done.is_ok() {
        failpoint("after-change");
    }
    let end = Utc::now().max(now).timestamp();
    match done {
        Err(e) => {
            let error = format!("{e}{}", hint_of(&e));
            tracing::warn!(audit_id = id, resource = %plan.resource, error = %error, "apply failed; not retried");
            crate::metrics::get().act_outcome("failed");
            let an = announce(cfg, plan, id, "failed", mode, None, Some(&error));
            store.finish_action(
                id,
                &Finish {
                    outcome: "failed",
                    error: Some(&error),
                    announce: an.as_ref(),
                    ..Default::default()
                },
                end,
            )?;
            Ok(Outcome::Failed { audit_id: id, error })
        }
        Ok(refresh) => {
            let read_back = match read(api, &plan.resource).await {
                Ok(current) => setting_of(&current, &plan.after).ok(),
                Err(e) => {
                    tracing::warn!(audit_id = id, error = %e, "changed, but reading it back failed");
                    None
                }
            };
            // Read back unlike the intent (someone or something else changed it at once, or
            // AWS adjusted it): diverged, with a warning, never applied.
            let diff = read_back
                .as_ref()
                .filter(|_| refresh.is_none())
                .map(|a| guard::differences(&plan.after, a))
                .unwrap_or_default();
            let outcome = match (&refresh, diff.is_empty()) {
                (Some(_), _) => "in-progress",
                (None, true) => "applied",
                (None, false) => "diverged",
            };
            crate::metrics::get().act_outcome(match outcome {
                "in-progress" => "in_progress",
                o => o,
            });
            let error = (!diff.is_empty()).then(|| format!("read back unlike the intent: {}", diff.join(", ")));
            let an = announce(cfg, plan, id, outcome, mode, read_back.as_ref(), error.as_deref());
            store.finish_action(
                id,
                &Finish {
                    outcome,
                    after: read_back.as_ref(),
                    error: error.as_deref(),
                    refresh_id: refresh.as_deref(),
                    announce: an.as_ref(),
                },
                end,
            )?;
            tracing::info!(audit_id = id, resource = %plan.resource, outcome, "applied");
            Ok(match (refresh, error) {
                (Some(refresh_id), _) => Outcome::InProgress { audit_id: id, refresh_id },
                (None, Some(error)) => Outcome::Diverged {
                    audit_id: id,
                    after: read_back.unwrap_or_else(|| plan.after.clone()),
                    error,
                },
                (None, None) => Outcome::Applied {
                    audit_id: id,
                    after: read_back.unwrap_or_else(|| plan.after.clone()),
                },
            })
        }
    }
}

/// A test hook: with `HEADROOM_FAILPOINT=after-change` the process dies (abort, as a
/// `kill -9` would leave it) right after a change was made and before its audit row is
/// completed. The reliability tests use it; nothing else sets it.
fn failpoint(name: &str) {
    if std::env::var("HEADROOM_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

/// The message announcing an action's outcome, when receivers exist: whatever the
/// advisory's severity (routes match change notices at any severity), with the audit id,
/// before → after and the undo command.
fn announce(
    cfg: &Config,
    plan: &Plan,
    id: i64,
    outcome: &str,
    mode: &str,
    after: Option<&Setting>,
    error: Option<&str>,
) -> Option<Announce> {
    if !cfg.headroom.notify.enabled() {
        return None;
    }
    Some(announcement(
        plan.tags.clone(),
        &AnnounceOf {
            id,
            resource: &plan.resource,
            outcome,
            mode,
            undo_of: plan.undo_of,
            before: &plan.before,
            intended: &plan.after,
            after,
            error,
            what: &plan.summary,
        },
    ))
}

/// An outcome to announce.
struct AnnounceOf<'a> {
    id: i64,
    resource: &'a str,
    outcome: &'a str,
    mode: &'a str,
    undo_of: Option<i64>,
    before: &'a Setting,
    intended: &'a Setting,
    after: Option<&'a Setting>,
    error: Option<&'a str>,
    what: &'a str,
}

fn announcement(tags: Vec<(String, String)>, a: &AnnounceOf) -> Announce {
    use crate::domain::{Evidence, Severity};
    let ev = |name: &str, value: String| Evidence { name: name.into(), value };
    let word = match (a.outcome, a.undo_of) {
        ("applied", Some(_)) => "UNDONE",
        ("applied", None) => "APPLIED",
        ("in-progress", _) => "ROLLING OUT",
        ("diverged", _) => "DIVERGED",
        ("failed", _) => "FAILED",
        ("not-applied", _) => "NOT APPLIED",
        _ => "UNKNOWN",
    };
    let severity = match a.outcome {
        "applied" | "in-progress" | "not-applied" => Severity::Info,
        _ => Severity::Warning,
    };
    let shown = a.after.unwrap_or(a.intended);
    let mut evidence = vec![
        ev(
            "audit",
            format!(
                "#{} {} ({}{})",
                a.id,
                a.outcome,
                a.mode,
                a.undo_of.map(|u| format!(", undo of #{u}")).unwrap_or_default()
            ),
        ),
        ev("before", describe(a.before)),
        ev(if a.after.is_some() { "after" } else { "intended" }, describe(shown)),
    ];
    if let Some(e) = a.error {
        evidence.push(ev("error", e.to_string()));
    }
    if matches!(a.outcome, "applied" | "diverged" | "unknown") {
        evidence.push(ev("undo", format!("headroom apply --undo {} --yes", a.id)));
    }
    Announce {
        tags,
        summary: format!(
            "{word} (audit #{}): {} {} → {}{}",
            a.id,
            a.resource,
            describe(a.before),
            describe(shown),
            if a.what.is_empty() {
                String::new()
            } else {
                format!(" — {}", a.what)
            }
        ),
        severity,
        evidence,
    }
}

/// Settles the claims of `scope` whose process died between the change and its audit row's
/// completion: reads each resource; as intended → `applied` (and announced, once), as before
/// → `not-applied`, else `unknown` with a warning. A claim still held by a live process is
/// left alone. Returns the rows settled.
pub async fn reconcile<A: Changes, S: Audit + ?Sized>(
    api: &A,
    store: &mut S,
    cfg: &Config,
    scope: &str,
    tags_of: impl Fn(&Current) -> Vec<(String, String)>,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut settled = vec![];
    for row in store.audit_rows(Some(scope), Some("started"), 100)? {
        if !claim_is_dead(row.owner.as_deref(), row.started_at, now.timestamp(), CLAIM_STALE_S) {
            continue;
        }
        let current = match read(api, &row.resource).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(audit_id = row.id, resource = %row.resource, error = %e, "cannot read a resource to settle its audit row; asking again next cycle");
                continue;
            }
        };
        let Ok(now_setting) = setting_of(&current, &row.intended) else {
            continue;
        };
        let outcome = if guard::differences(&row.intended, &now_setting).is_empty() {
            "applied"
        } else if guard::differences(&row.before, &now_setting).is_empty() {
            "not-applied"
        } else {
            "unknown"
        };
        let error = match outcome {
            "applied" => "its process ended before recording the outcome; the resource reads as intended".to_string(),
            "not-applied" => {
                "its process ended before recording the outcome; the resource reads as before: the call did not take".to_string()
            }
            _ => format!(
                "its process ended before recording the outcome; the resource reads neither as before nor as intended: {}",
                describe(&now_setting)
            ),
        };
        if outcome == "unknown" {
            tracing::warn!(audit_id = row.id, resource = %row.resource, "a dead claim settled as unknown: look at the resource");
        }
        let an = cfg.headroom.notify.enabled().then(|| {
            announcement(
                tags_of(&current),
                &AnnounceOf {
                    id: row.id,
                    resource: &row.resource,
                    outcome,
                    mode: &row.mode,
                    undo_of: row.undo_of,
                    before: &row.before,
                    intended: &row.intended,
                    after: Some(&now_setting),
                    error: Some(&error),
                    what: &row.summary,
                },
            )
        });
        store.finish_action(
            row.id,
            &Finish {
                outcome,
                after: Some(&now_setting),
                error: Some(&error),
                announce: an.as_ref(),
                ..Default::default()
            },
            now.timestamp(),
        )?;
        tracing::info!(audit_id = row.id, resource = %row.resource, outcome, "settled an interrupted change");
        settled.push((row.id, outcome.to_string()));
    }
    Ok(settled)
}

fn hint_of(e: &AwsError) -> String {
    match e.kind {
        crate::aws::ErrorKind::AccessDenied => " (grant the apply policy in config/iam/headroom-apply.json, and tag the resource)".into(),
        _ => String::new(),
    }
}

/// The calls that take a resource from `before` to `after`; for a migration, the refresh id.
async fn make<A: Changes>(api: &A, cfg: &Config, name: &str, before: &Setting, after: &Setting) -> Result<Option<String>, AwsError> {
    match after {
        Setting::Size { min, max, desired } => api.set_group_size(name, *min, *max, *desired).await.map(|_| None),
        Setting::Target { policy, value } => api.set_target_value(name, policy, *value).await.map(|_| None),
        Setting::Mix(mix) => api.set_mix(name, mix).await.map(|_| None),
        Setting::Migration { mix, min, max, desired } => {
            if !matches!(before, Setting::Migration { mix: m, .. } if m == mix) {
                api.set_mix(name, mix).await?;
            }
            api.set_group_size(name, *min, *max, *desired).await?;
            let id = api.start_refresh(name, cfg.headroom.apply.min_healthy_percent).await?;
            Ok(Some(id))
        }
        Setting::Table {
            mode,
            rcu,
            wcu,
            read_scaling,
            write_scaling,
        } => {
            let (m0, r0, w0, rs0, ws0) = match before {
                Setting::Table {
                    mode,
                    rcu,
                    wcu,
                    read_scaling,
                    write_scaling,
                } => (Some(mode), *rcu, *wcu, *read_scaling, *write_scaling),
                _ => (None, None, None, None, None),
            };
            // Bounds off first when leaving PROVISIONED (they would fight the switch).
            let scaling_changes = rs0 != *read_scaling || ws0 != *write_scaling;
            if scaling_changes && mode != "PROVISIONED" {
                api.set_table_scaling(name, *read_scaling, *write_scaling).await?;
            }
            if m0 != Some(mode) || (mode == "PROVISIONED" && (r0 != *rcu || w0 != *wcu)) {
                api.set_table(name, mode, *rcu, *wcu).await?;
            }
            if scaling_changes && mode == "PROVISIONED" {
                api.set_table_scaling(name, *read_scaling, *write_scaling).await?;
            }
            Ok(None)
        }
    }
}

/// Follows the instance refreshes of migrations still in progress: each ends applied or
/// failed in its audit row when AWS says the refresh ended.
pub async fn follow<A: Changes, S: Audit + ?Sized>(api: &A, store: &mut S, scope: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    for row in store.audit_rows(Some(scope), Some("in-progress"), 100)? {
        let name = row.resource.split_once('/').map(|(_, n)| n).unwrap_or(&row.resource).to_string();
        let g = match api.read_group(&name).await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(audit_id = row.id, error = %e, "cannot read the group of a running refresh; asking again next cycle");
                continue;
            }
        };
        let Some(r) = g.refresh.as_ref().filter(|r| Some(&r.id) == row.refresh_id.as_ref()) else {
            continue;
        };
        if r.running() {
            continue;
        }
        let after = setting_of(&Current::Group(g.clone()), &row.intended).ok();
        if r.status == "Successful" {
            store.finish_action(
                row.id,
                &Finish {
                    outcome: "applied",
                    after: after.as_ref(),
                    ..Default::default()
                },
                now.timestamp(),
            )?;
            tracing::info!(audit_id = row.id, resource = %row.resource, "instance refresh finished");
        } else {
            let error = format!(
                "instance refresh {} ended {}{}",
                r.id,
                r.status,
                r.reason.as_ref().map(|x| format!(": {x}")).unwrap_or_default()
            );
            store.finish_action(
                row.id,
                &Finish {
                    outcome: "failed",
                    after: after.as_ref(),
                    error: Some(&error),
                    ..Default::default()
                },
                now.timestamp(),
            )?;
            tracing::warn!(audit_id = row.id, resource = %row.resource, %error, "instance refresh did not finish");
        }
    }
    Ok(())
}

/// Whether auto mode applies an advisory of this kind and severity (and it proposes a
/// change headroom may make).
pub fn auto_applies(cfg: &Config, a: &Advisory) -> bool {
    let c = &cfg.headroom.apply;
    c.mode == ApplyMode::Auto
        && c.kinds.contains(&a.kind)
        && a.severity >= c.min_severity
        && a.action.as_ref().is_some_and(|x| target(x).is_ok())
}

pub fn short(fp: &str) -> &str {
    &fp[..fp.len().min(12)]
}

/// A setting for people: `min 2, desired 4, max 8`.
pub fn describe(s: &Setting) -> String {
    let mix = |m: &Mix| {
        format!(
            "on-demand base {}, {} % on-demand above it, {} [{}]",
            m.on_demand_base_capacity,
            m.on_demand_percentage_above_base,
            m.spot_allocation_strategy.as_deref().unwrap_or("default strategy"),
            m.overrides.iter().map(|o| o.instance_type.as_str()).collect::<Vec<_>>().join(", ")
        )
    };
    match s {
        Setting::Size { min, max, desired } => format!("min {min}, desired {desired}, max {max}"),
        Setting::Target { policy, value } => format!("{policy} target {value}"),
        Setting::Mix(m) => mix(m),
        Setting::Migration { mix: m, min, max, desired } => format!("{}; min {min}, desired {desired}, max {max}", mix(m)),
        Setting::Table {
            mode,
            rcu,
            wcu,
            read_scaling,
            write_scaling,
        } => {
            let mut s = mode.clone();
            if let (Some(r), Some(w)) = (rcu, wcu) {
                s.push_str(&format!(" {r} RCU / {w} WCU"));
            }
            for (n, b) in [("read", read_scaling), ("write", write_scaling)] {
                if let Some((lo, hi)) = b {
                    s.push_str(&format!(", {n} auto scaling {lo}–{hi}"));
                }
            }
            s
        }
    }
}

/// The lookback's peaks of a resource from a cycle's snapshot (the daemon's, or the fresh one
/// `headroom apply` collects), for `plan_advisory`.
pub fn snapshot_peaks(snap: &crate::domain::Snapshot) -> impl Fn(&str, &Current) -> Peaks + '_ {
    move |resource, current| {
        let id = crate::domain::ResourceId(resource.to_string());
        peaks_of(current, |signal| {
            snap.series_for(&id, signal).map(|s| (s.query.period_s, s.points.to_vec()))
        })
    }
}

/// The lookback's peaks of a resource from its series: `get(signal)` gives a series' period
/// and points (from the daemon's window or the store).
pub fn peaks_of(current: &Current, get: impl Fn(crate::domain::Signal) -> Option<(u32, Vec<(Ts, f64)>)>) -> Peaks {
    use crate::domain::Signal;
    match current {
        Current::Group(g) => {
            let cpu = get(Signal::CpuPercent).map(|s| s.1).unwrap_or_default();
            let desired = get(Signal::DesiredCapacity).map(|s| s.1).unwrap_or_default();
            Peaks::group(&cpu, &desired, g.desired)
        }
        Current::Table(_) => {
            let r = get(Signal::ConsumedRcu);
            let w = get(Signal::ConsumedWcu);
            let period = r.as_ref().or(w.as_ref()).map(|s| s.0).unwrap_or(300);
            Peaks::table(&r.map(|s| s.1).unwrap_or_default(), &w.map(|s| s.1).unwrap_or_default(), period)
        }
    }
}
