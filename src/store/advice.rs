//! Rule states and advisories, by scope: reading them, reconciling a cycle's advisories with
//! the stored ones (inside the cycle's transaction), and moving one along its lifecycle.
//!
//! May use: domain, rusqlite.

use super::{EXPIRE_AFTER_S, NotifyWrite, Reconciled, Sqlite, StoreError, StoredAdvisory};
use crate::domain::*;
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::HashMap;

impl Sqlite {
    /// A scope's persisted rule states, by (rule, resource).
    pub fn rule_states(&self, scope: &Scope) -> Result<HashMap<(String, ResourceId), RuleState>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT rule, resource, state, active_since, fired_at, cleared_since, last_eval, value FROM rule_state WHERE scope = ?1",
        )?;
        let rows = stmt.query_map(params![scope.key()], |r| {
            let state: String = r.get(2)?;
            let last_eval: i64 = r.get(6)?;
            Ok(RuleState {
                rule: r.get(0)?,
                resource: ResourceId(r.get(1)?),
                state: AlertState::parse(&state).unwrap_or(AlertState::Inactive),
                active_since: r.get(3)?,
                fired_at: r.get(4)?,
                cleared_since: r.get(5)?,
                last_eval: (last_eval != i64::MIN).then_some(last_eval),
                value: r.get(7)?,
            })
        })?;
        let mut out = HashMap::new();
        for s in rows {
            let s = s?;
            out.insert((s.rule.clone(), s.resource.clone()), s);
        }
        Ok(out)
    }

    /// Persists rule states and reconciles advisories of one scope, in a transaction of its
    /// own (tests and tools; the runtime does this inside `commit_cycle`).
    pub fn save_advice(
        &mut self,
        scope: &Scope,
        states: &[RuleState],
        current: &[Advisory],
        hold_resolution: bool,
        now: Ts,
    ) -> Result<Reconciled, StoreError> {
        let tx = self.conn.transaction()?;
        let out = reconcile(&tx, scope, current, hold_resolution, now, None)?;
        write_rule_states(&tx, scope, states)?;
        tx.commit()?;
        Ok(out)
    }

    /// Stored advisories, most severe and newest first: only open and acknowledged ones
    /// unless `all`; of one kind and one scope (`account/region`) when given.
    pub fn advisories(&self, all: bool, kind: Option<Kind>, scope: Option<&str>) -> Result<Vec<StoredAdvisory>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT fingerprint, kind, resource, severity, summary, evidence, action, cost_delta_micros, state, first_seen, last_seen, updated_at, scope, basis
             FROM advisories WHERE (?1 OR state IN ('open', 'acknowledged')) AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR scope = ?3)
             ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, last_seen DESC, scope, fingerprint",
        )?;
        let rows = stmt.query_map(params![all, kind.map(|k| k.as_str()), scope], |r| {
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                ),
                (
                    r.get::<_, String>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, i64>(10)?,
                    r.get::<_, i64>(11)?,
                    r.get::<_, String>(12)?,
                    r.get::<_, Option<String>>(13)?,
                ),
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let ((fp, kind, resource, severity, summary, evidence, action, cost), (state, first_seen, last_seen, updated_at, scope, basis)) =
                row?;
            let mut advisory = decode_advisory(fp, (kind, resource, severity, summary, evidence, action, cost, 0))?;
            advisory.basis = decode_basis(basis)?;
            out.push(StoredAdvisory {
                advisory,
                scope,
                state: AdvisoryState::parse(&state).unwrap_or(AdvisoryState::Open),
                first_seen,
                last_seen,
                updated_at,
            });
        }
        Ok(out)
    }

    /// Replaces a stored advisory's advice (severity, summary, evidence, action, cost, basis)
    /// with a fresh decision on the same fingerprint, keeping its state and history: what
    /// `headroom apply` shows and applies next is what fresh data decided. Whether it exists.
    pub fn refresh_advisory(&mut self, a: &Advisory, now: Ts) -> Result<bool, StoreError> {
        let enc = |what: &'static str, v: Result<String, serde_json::Error>| v.map_err(|source| StoreError::Encode { what, source });
        let evidence = enc("evidence", serde_json::to_string(&a.evidence))?;
        let action = a.action.as_ref().map(|x| enc("action", serde_json::to_string(x))).transpose()?;
        let basis = a.basis.as_ref().map(|x| enc("basis", serde_json::to_string(x))).transpose()?;
        let n = self.conn.execute(
            "UPDATE advisories SET severity = ?2, summary = ?3, evidence = ?4, action = ?5, cost_delta_micros = ?6, basis = ?7, last_seen = MAX(last_seen, ?8)
             WHERE fingerprint = ?1",
            params![
                a.fingerprint,
                a.severity.to_string(),
                a.summary,
                evidence,
                action,
                a.monthly_cost_delta.map(|m| m.0),
                basis,
                now
            ],
        )?;
        Ok(n == 1)
    }

    /// Moves an advisory (by fingerprint or a unique prefix of it) to `state`. Returns the
    /// full fingerprint, or None when nothing (or more than one) matches.
    pub fn set_advisory_state(&mut self, fingerprint: &str, state: AdvisoryState, now: Ts) -> Result<Option<String>, StoreError> {
        let pattern = format!("{}%", fingerprint.replace(['%', '_'], ""));
        let mut stmt = self.conn.prepare("SELECT fingerprint FROM advisories WHERE fingerprint LIKE ?1")?;
        let found: Vec<String> = stmt.query_map(params![pattern], |r| r.get(0))?.collect::<Result<_, _>>()?;
        drop(stmt);
        if found.len() != 1 {
            return Ok(None);
        }
        let tx = self.conn.transaction()?;
        move_advisory(&tx, &found[0], state, None, now)?;
        tx.commit()?;
        Ok(Some(found[0].clone()))
    }
}

/// Moves an advisory to `state` (only from state `from`, when given) and records the move in
/// its history. Whether it moved.
pub(super) fn move_advisory(
    tx: &Transaction,
    fp: &str,
    state: AdvisoryState,
    from: Option<AdvisoryState>,
    now: Ts,
) -> Result<bool, StoreError> {
    let n = tx.execute(
        "UPDATE advisories SET state = ?2, updated_at = ?3 WHERE fingerprint = ?1 AND (?4 IS NULL OR state = ?4)",
        params![fp, state.as_str(), now, from.map(|f| f.as_str())],
    )?;
    if n == 1 {
        tx.execute(
            "INSERT INTO advisory_history (scope, fingerprint, kind, resource, severity, event, at, summary, cost_delta_micros)
             SELECT scope, fingerprint, kind, resource, severity, ?2, ?3, summary, cost_delta_micros FROM advisories WHERE fingerprint = ?1",
            params![fp, state.as_str(), now],
        )?;
    }
    Ok(n == 1)
}

pub(super) fn write_rule_states(tx: &Transaction, scope: &Scope, states: &[RuleState]) -> Result<(), StoreError> {
    let key = scope.key();
    let mut put = tx.prepare_cached(
        "INSERT OR REPLACE INTO rule_state (scope, rule, resource, state, active_since, fired_at, cleared_since, last_eval, value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for s in states {
        put.execute(params![
            key,
            s.rule,
            s.resource.0,
            s.state.as_str(),
            s.active_since,
            s.fired_at,
            s.cleared_since,
            s.last_eval.unwrap_or(i64::MIN),
            s.value
        ])?;
    }
    Ok(())
}

/// Reconciles a scope's advisories with the stored ones of **that scope only**.
///
/// Present advisories are opened (new, or reopened after resolution) or updated in place (an
/// acknowledged one stays acknowledged). Open or acknowledged advisories of the scope that
/// are absent are resolved — unless `hold_resolution` (a partial snapshot: absence may only
/// mean missing data), in which case they expire after `EXPIRE_AFTER_S` without being seen.
/// Every kind is evaluated every cycle, so absence of any kind counts.
pub(super) fn reconcile(
    tx: &Transaction,
    scope: &Scope,
    current: &[Advisory],
    hold_resolution: bool,
    now: Ts,
    notify: Option<&NotifyWrite>,
) -> Result<Reconciled, StoreError> {
    let key = scope.key();
    let mut out = Reconciled::default();
    let mut events: Vec<(NoticeEvent, &Advisory, Option<Severity>, Ts)> = vec![];
    let mut get = tx.prepare_cached("SELECT state, severity, notified_at, first_seen FROM advisories WHERE fingerprint = ?1")?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO advisories (fingerprint, kind, resource, severity, summary, evidence, action, cost_delta_micros, state, first_seen, last_seen, updated_at, scope, basis)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open', ?9, ?9, ?9, ?10, ?11)",
    )?;
    let mut update = tx.prepare_cached(
        "UPDATE advisories SET severity = ?2, summary = ?3, evidence = ?4, action = ?5, cost_delta_micros = ?6, last_seen = ?7, basis = ?8,
         state = CASE WHEN state IN ('open', 'acknowledged', 'applied') THEN state ELSE 'open' END,
         updated_at = CASE WHEN state IN ('open', 'acknowledged', 'applied') THEN updated_at ELSE ?7 END
         WHERE fingerprint = ?1",
    )?;
    for a in current {
        let evidence = serde_json::to_string(&a.evidence).map_err(|source| StoreError::Encode { what: "evidence", source })?;
        let action = a
            .action
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|source| StoreError::Encode { what: "action", source })?;
        let cost = a.monthly_cost_delta.map(|m| m.0);
        let basis = a
            .basis
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|source| StoreError::Encode { what: "basis", source })?;
        let prior: Option<(String, String, Option<i64>, i64)> = get
            .query_row(params![a.fingerprint], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        match prior.as_ref().map(|p| p.0.as_str()) {
            None => {
                insert.execute(params![
                    a.fingerprint,
                    a.kind.as_str(),
                    a.resource.0,
                    a.severity.to_string(),
                    a.summary,
                    evidence,
                    action,
                    cost,
                    now,
                    key,
                    basis
                ])?;
                out.opened.push(a.fingerprint.clone());
                events.push((NoticeEvent::Opened, a, None, now));
            }
            Some(st) => {
                let (_, severity, notified_at, first_seen) = prior.as_ref().expect("matched Some");
                let previous: Option<Severity> = severity.parse().ok();
                update.execute(params![
                    a.fingerprint,
                    a.severity.to_string(),
                    a.summary,
                    evidence,
                    action,
                    cost,
                    now,
                    basis
                ])?;
                // An applied advisory still present stays applied (its change may take a few
                // cycles to show in the metrics); it resolves when absent.
                if st == "open" || st == "acknowledged" || st == "applied" {
                    out.updated.push(a.fingerprint.clone());
                    if previous.is_some_and(|p| p != a.severity) {
                        out.changed.push(a.fingerprint.clone());
                        events.push((NoticeEvent::Changed, a, previous, *first_seen));
                    } else if st == "open"
                        && let Some(n) = notify
                        && notified_at.is_none_or(|t| now - t >= n.repeat_s)
                    {
                        events.push((NoticeEvent::Repeat, a, None, *first_seen));
                    }
                } else {
                    out.opened.push(a.fingerprint.clone());
                    events.push((NoticeEvent::Opened, a, None, now));
                }
            }
        }
    }
    let present: std::collections::HashSet<&str> = current.iter().map(|a| a.fingerprint.as_str()).collect();
    let mut live = tx.prepare_cached(
        "SELECT fingerprint, last_seen FROM advisories WHERE scope = ?1 AND state IN ('open', 'acknowledged', 'applied')",
    )?;
    let rows: Vec<(String, i64)> = live
        .query_map(params![key], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut close = tx.prepare_cached("UPDATE advisories SET state = ?2, updated_at = ?3 WHERE fingerprint = ?1")?;
    for (fp, last_seen) in rows {
        if present.contains(fp.as_str()) {
            continue;
        }
        if !hold_resolution {
            close.execute(params![fp, "resolved", now])?;
            out.resolved.push(fp);
        } else if now - last_seen >= EXPIRE_AFTER_S {
            close.execute(params![fp, "expired", now])?;
            out.expired.push(fp);
        }
    }
    let mut history = tx.prepare_cached(
        "INSERT INTO advisory_history (scope, fingerprint, kind, resource, severity, event, at, summary, cost_delta_micros)
         SELECT scope, fingerprint, kind, resource, severity, ?2, ?3, summary, cost_delta_micros FROM advisories WHERE fingerprint = ?1",
    )?;
    for (event, a, _, _) in &events {
        if matches!(event, NoticeEvent::Opened | NoticeEvent::Changed) {
            history.execute(params![a.fingerprint, event.as_str(), now])?;
        }
    }
    for fp in &out.resolved {
        history.execute(params![fp, "resolved", now])?;
    }
    for fp in &out.expired {
        history.execute(params![fp, "expired", now])?;
    }
    if let Some(n) = notify {
        write_outbox(tx, scope, now, n, &events, &out.resolved)?;
    }
    Ok(out)
}

/// Writes one outbox row per advisory change (inside the cycle's transaction, so a change is
/// notified exactly when it is committed) and stamps the advisories as notified.
fn write_outbox(
    tx: &Transaction,
    scope: &Scope,
    now: Ts,
    n: &NotifyWrite,
    events: &[(NoticeEvent, &Advisory, Option<Severity>, Ts)],
    resolved: &[String],
) -> Result<(), StoreError> {
    let key = scope.key();
    let mut put = tx.prepare_cached("INSERT INTO outbox (scope, fingerprint, event, at, body) VALUES (?1, ?2, ?3, ?4, ?5)")?;
    let mut stamp = tx.prepare_cached("UPDATE advisories SET notified_at = ?2 WHERE fingerprint = ?1")?;
    let tags = |r: &ResourceId| n.tags.get(&r.0).cloned().unwrap_or_default();
    let mut write = |notice: Notice| -> Result<(), StoreError> {
        let body = serde_json::to_string(&notice).map_err(|source| StoreError::Encode { what: "notice", source })?;
        put.execute(params![key, notice.advisory.fingerprint, notice.event.as_str(), now, body])?;
        stamp.execute(params![notice.advisory.fingerprint, now])?;
        Ok(())
    };
    for (event, a, previous, first_seen) in events {
        write(Notice {
            event: *event,
            at: now,
            scope: key.clone(),
            advisory: (*a).clone(),
            previous_severity: *previous,
            tags: tags(&a.resource),
            first_seen: *first_seen,
            change: None,
        })?;
    }
    for fp in resolved {
        let stored = read_one(tx, fp)?;
        if let Some((advisory, first_seen)) = stored {
            let tags = tags(&advisory.resource);
            write(Notice {
                event: NoticeEvent::Resolved,
                at: now,
                scope: key.clone(),
                advisory,
                previous_severity: None,
                tags,
                first_seen,
                change: None,
            })?;
        }
    }
    Ok(())
}

/// An advisory row: kind, resource, severity, summary, evidence, action, cost, first seen.
type AdvisoryRow = (String, String, String, String, String, Option<String>, Option<i64>, i64);

pub(super) fn read_one(tx: &Transaction, fp: &str) -> Result<Option<(Advisory, Ts)>, StoreError> {
    let row: Option<(AdvisoryRow, Option<String>)> = tx
        .query_row(
            "SELECT kind, resource, severity, summary, evidence, action, cost_delta_micros, first_seen, basis FROM advisories WHERE fingerprint = ?1",
            params![fp],
            |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?), r.get(8)?)),
        )
        .optional()?;
    let Some(((kind, resource, severity, summary, evidence, action, cost, first_seen), basis)) = row else {
        return Ok(None);
    };
    let mut advisory = decode_advisory(
        fp.to_string(),
        (kind, resource, severity, summary, evidence, action, cost, first_seen),
    )?;
    advisory.basis = decode_basis(basis)?;
    Ok(Some((advisory, first_seen)))
}

fn decode_basis(basis: Option<String>) -> Result<Option<Setting>, StoreError> {
    basis
        .map(|b| serde_json::from_str(&b))
        .transpose()
        .map_err(|source| StoreError::Encode { what: "basis", source })
}

/// An advisory from its row (the row's last field is not used).
fn decode_advisory(fingerprint: String, row: AdvisoryRow) -> Result<Advisory, StoreError> {
    let (kind, resource, severity, summary, evidence, action, cost, _) = row;
    let decode = |what: &'static str, source| StoreError::Encode { what, source };
    Ok(Advisory {
        fingerprint,
        kind: Kind::parse(&kind).unwrap_or(Kind::Alert),
        resource: ResourceId(resource),
        severity: severity.parse().unwrap_or(Severity::Info),
        summary,
        evidence: serde_json::from_str(&evidence).map_err(|e| decode("evidence", e))?,
        action: action
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(|e| decode("action", e))?,
        monthly_cost_delta: cost.map(Money),
        basis: None,
    })
}
