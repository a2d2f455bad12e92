//! act: the only code that changes AWS. It turns an advisory's proposed action into a plan
//! (the resource's setting before, as read from AWS just now, and after), runs every
//! guardrail on it (`guard`), and — only when the mode allows it and every guardrail does —
//! makes the change through `aws::Changes`, with an audit row written before the call and
//! completed after it (the setting read back from AWS). An applied change marks its advisory
//! applied and is announced through the outbox; an instance refresh is followed across
//! cycles (`follow`); `undo` restores an audit row's before-setting through the same
//! guardrails. Applying what is already in place changes nothing and writes nothing.
//!
//! May use: aws (`Changes`), store (`Audit`), config, domain. Planning and the guardrails are
//! pure with `now` passed in; a failed call is recorded and never retried on its own.

pub mod guard;

use crate::aws::{AwsError, Changes, GroupConfig, Mix, TableConfig};
use crate::config::{ApplyMode, Config};
use crate::domain::{Action, Advisory, Kind, Setting, Ts};
use crate::store::{Announce, Audit, AuditRow, Finish, NewAction, StoreError};
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
    pub snapshot_partial: Option<bool>,
    pub peaks: Peaks,
    pub kill_switch_present: bool,
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
    let Change {
        scope,
        resource,
        current,
        before,
        after,
    } = change;
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
        snapshot_partial: facts.snapshot_partial,
        peaks: &facts.peaks,
        headroom_percent: cfg.headroom.advice.headroom,
        kill_switch_present: facts.kill_switch_present,
    };
    let verdicts = guard::check(&before, &after, &ctx);
    Plan {
        scope: scope.to_string(),
        resource: resource.to_string(),
        fingerprint: None,
        kind: None,
        undo_of: None,
        summary: String::new(),
        in_place: before == after,
        before,
        after,
        verdicts,
        tags: current.tags().to_vec(),
    }
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
    Ok(Facts {
        last_change_at: store.last_change_at(scope, resource)?,
        actions_last_day: store.actions_since(t - 86_400)?,
        table_decreases_today: decreases,
        last_table_decrease_at: last_decrease,
        snapshot_partial: store.last_partial(scope)?,
        peaks,
        kill_switch_present: cfg.headroom.apply.kill_switch.exists(),
    })
}

/// Plans applying `advisory`: reads the resource, works out the setting it asks for, and
/// runs the guardrails.
pub async fn plan_advisory<A: Changes, S: Audit + ?Sized>(
    api: &A,
    store: &S,
    cfg: &Config,
    scope: &str,
    advisory: &Advisory,
    peaks: impl FnOnce(&str, &Current) -> Peaks,
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
    let facts = facts(cfg, store, scope, &resource, peaks, now)?;
    let change = Change {
        scope,
        resource: &resource,
        current: &current,
        before,
        after,
    };
    let mut p = plan(cfg, change, &facts, now);
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
    if row.outcome == "started" {
        return Err(ActError::NotAppliable(format!(
            "audit #{} never finished: read {} as it is now before changing it by hand",
            row.id, row.resource
        )));
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
    let mut p = plan(cfg, change, &facts, now);
    p.undo_of = Some(row.id);
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
    if !plan.allowed() {
        crate::metrics::get().act_outcome("blocked");
        return Ok(Outcome::Blocked {
            reasons: plan.blocked().iter().map(|v| format!("{}: {}", v.guard, v.reason)).collect(),
        });
    }
    let verdicts = serde_json::to_string(&plan.verdicts).map_err(|source| StoreError::Encode { what: "verdicts", source })?;
    let id = store.begin_action(
        &NewAction {
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
        },
        now.timestamp(),
    )?;
    let announce = cfg.headroom.notify.enabled().then(|| Announce { tags: plan.tags.clone() });
    let name = plan.resource.split_once('/').map(|(_, n)| n).unwrap_or(&plan.resource);
    let done = make(api, cfg, name, &plan.before, &plan.after).await;
    let end = Utc::now().max(now).timestamp();
    match done {
        Err(e) => {
            let error = format!("{e}{}", hint_of(&e));
            tracing::warn!(audit_id = id, resource = %plan.resource, error = %error, "apply failed; not retried");
            crate::metrics::get().act_outcome("failed");
            store.finish_action(
                id,
                &Finish {
                    outcome: "failed",
                    error: Some(&error),
                    ..Default::default()
                },
                end,
            )?;
            Ok(Outcome::Failed { audit_id: id, error })
        }
        Ok(refresh) => {
            let after = match read(api, &plan.resource).await {
                Ok(current) => setting_of(&current, &plan.after).ok(),
                Err(e) => {
                    tracing::warn!(audit_id = id, error = %e, "changed, but reading it back failed");
                    None
                }
            };
            let outcome = if refresh.is_some() { "in-progress" } else { "applied" };
            crate::metrics::get().act_outcome(if refresh.is_some() { "in_progress" } else { "applied" });
            store.finish_action(
                id,
                &Finish {
                    outcome,
                    after: after.as_ref(),
                    refresh_id: refresh.as_deref(),
                    announce: announce.as_ref(),
                    ..Default::default()
                },
                end,
            )?;
            tracing::info!(audit_id = id, resource = %plan.resource, outcome, "applied");
            Ok(match refresh {
                Some(refresh_id) => Outcome::InProgress { audit_id: id, refresh_id },
                None => Outcome::Applied {
                    audit_id: id,
                    after: after.unwrap_or_else(|| plan.after.clone()),
                },
            })
        }
    }
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
