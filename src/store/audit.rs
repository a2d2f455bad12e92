//! The audit of actions: a row written before each change to AWS (what, why, the setting
//! before, every guardrail's verdict) and completed after it (outcome, the setting read
//! back, the error); and what the guardrails ask of it (when a resource last changed, how
//! many actions in a day, a table's decreases today). Completing an applied action marks its
//! advisory applied, in the advisory's history and, when receivers exist, in the outbox.
//!
//! One writer per resource: the row written before the call is the resource's *claim*
//! (`claim`), taken in one immediate transaction that also checks the cooldown and the
//! daily budget, and kept unique per resource by an index (a second claim, in any process,
//! is refused naming the first). Blocked attempts are rows too (`record_blocked`).
//!
//! Outcomes: `started` (claimed, the call under way or its process died), `in-progress` (an
//! instance refresh rolls it out), `applied`, `diverged` (read back unlike the intent),
//! `failed`, `not-applied` and `unknown` (a dead claim settled by reading the resource),
//! `blocked`.

use super::{Sqlite, StoreError};
use crate::domain::*;
use rusqlite::{OptionalExtension, params};

/// An action about to be made.
#[derive(Clone, Debug)]
pub struct NewAction<'a> {
    pub scope: &'a str,
    pub resource: &'a str,
    pub fingerprint: Option<&'a str>,
    pub kind: Option<Kind>,
    pub undo_of: Option<i64>,
    /// approve, auto or undo.
    pub mode: &'a str,
    pub summary: &'a str,
    pub before: &'a Setting,
    pub intended: &'a Setting,
    /// The guardrails' verdicts, as JSON.
    pub verdicts: String,
    pub decrease: bool,
    /// Who claims the resource: `host:pid`.
    pub owner: &'a str,
}

/// What a claim checks in its transaction besides the claim itself (None: not checked, as
/// for an undo).
#[derive(Clone, Copy, Debug, Default)]
pub struct ClaimRules {
    pub cooldown_s: Option<i64>,
    pub max_actions_per_day: Option<u32>,
}

/// A claim's answer: the audit row that now holds the resource, or why not (`guard: reason`).
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    Granted(i64),
    Refused(Vec<String>),
}

/// One audit row.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub scope: String,
    pub resource: String,
    pub fingerprint: Option<String>,
    pub kind: Option<String>,
    pub undo_of: Option<i64>,
    pub mode: String,
    pub summary: String,
    pub started_at: Ts,
    pub finished_at: Option<Ts>,
    /// started (the call's result never came back), applied, in-progress, failed.
    pub outcome: String,
    pub before: Setting,
    pub intended: Setting,
    pub after: Option<Setting>,
    pub verdicts: serde_json::Value,
    pub error: Option<String>,
    pub refresh_id: Option<String>,
    /// Who claimed the resource (`host:pid`).
    pub owner: Option<String>,
    /// A blocked attempt's reasons.
    pub reasons: Option<Vec<String>>,
}

impl AuditRow {
    /// The setting headroom left the resource in: read back, else intended.
    pub fn left(&self) -> &Setting {
        self.after.as_ref().unwrap_or(&self.intended)
    }
}

/// How an action ended, as its row records it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Finish<'a> {
    /// applied, in-progress, diverged, failed, not-applied, unknown.
    pub outcome: &'a str,
    /// The setting read back after the call.
    pub after: Option<&'a Setting>,
    pub error: Option<&'a str>,
    pub refresh_id: Option<&'a str>,
    /// Announce an applied advisory through the outbox (receivers exist).
    pub announce: Option<&'a Announce>,
}

/// How an action's outcome is announced (whatever its advisory's severity): the resource's
/// tags for routing, and what the message says — its summary, severity and the lines added
/// to the advisory's evidence (audit id, before → after, the undo command).
#[derive(Clone, Debug)]
pub struct Announce {
    pub tags: Vec<(String, String)>,
    pub summary: String,
    pub severity: Severity,
    pub evidence: Vec<Evidence>,
}

/// What `act/` needs of a store.
pub trait Audit: Send {
    /// Claims the resource for a change: in one transaction, refuses when another row holds
    /// it (`started` or `in-progress`), or the rules' cooldown or budget say no; else writes
    /// the `started` row. Its id, or why not.
    fn claim(&mut self, a: &NewAction, rules: &ClaimRules, now: Ts) -> Result<Claim, StoreError>;
    /// Records a blocked attempt with its reasons. With `once_a_day`, not when the same
    /// advisory already has a blocked row in the last 24 hours. The row's id when written.
    fn record_blocked(&mut self, a: &NewAction, reasons: &[String], once_a_day: bool, now: Ts) -> Result<Option<i64>, StoreError>;
    /// The newest change headroom made to the resource and saw through (applied or diverged).
    fn last_made(&self, scope: &str, resource: &str) -> Result<Option<AuditRow>, StoreError>;
    /// Completes the row. For an applied (or rolling-out) advisory, marks it applied and,
    /// with `announce`, writes its outbox row — in the same transaction.
    fn finish_action(&mut self, id: i64, f: &Finish, now: Ts) -> Result<(), StoreError>;
    fn audit_rows(&self, scope: Option<&str>, outcome: Option<&str>, limit: usize) -> Result<Vec<AuditRow>, StoreError>;
    fn audit_row(&self, id: i64) -> Result<Option<AuditRow>, StoreError>;
    /// When headroom last started a change of the resource (any outcome but blocked and
    /// not-applied: those changed nothing).
    fn last_change_at(&self, scope: &str, resource: &str) -> Result<Option<Ts>, StoreError>;
    /// Actions started since `since`, over every scope (failed ones count: they were tried;
    /// blocked and not-applied ones do not).
    fn actions_since(&self, since: Ts) -> Result<u32, StoreError>;
    /// A table's provisioned-capacity decreases made since `since`, and the newest.
    fn table_decreases(&self, scope: &str, resource: &str, since: Ts) -> Result<(u32, Option<Ts>), StoreError>;
    /// A table's switches from provisioned to on-demand headroom made since `since`.
    fn on_demand_switches(&self, scope: &str, resource: &str, since: Ts) -> Result<u32, StoreError>;
    /// Whether the scope's newest snapshot was partial (None: no snapshot).
    fn last_partial(&self, scope: &str) -> Result<Option<bool>, StoreError>;
    /// When the scope's newest snapshot was taken (None: no snapshot).
    fn last_snapshot_at(&self, scope: &str) -> Result<Option<Ts>, StoreError>;
    /// An advisory by fingerprint or unique prefix, with its scope and state.
    fn find_advisory(&self, fingerprint: &str) -> Result<Vec<super::StoredAdvisory>, StoreError>;
    /// The outcome of the newest action on an advisory, if any was made.
    fn last_attempt(&self, fingerprint: &str) -> Result<Option<String>, StoreError>;
}

fn decode<T: serde::de::DeserializeOwned>(what: &'static str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|source| StoreError::Encode { what, source })
}

fn encode<T: serde::Serialize>(what: &'static str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|source| StoreError::Encode { what, source })
}

const COLUMNS: &str = "id, scope, resource, fingerprint, kind, undo_of, mode, summary, started_at, finished_at, outcome, before, intended, after, verdicts, error, refresh_id, owner, reasons";

/// Outcomes that changed nothing: not counted by the cooldown or the budget.
const NOTHING_CHANGED: &str = "('blocked', 'not-applied')";

type RawRow = (
    (i64, String, String, Option<String>, Option<String>, Option<i64>, String, String),
    (
        Ts,
        Option<Ts>,
        String,
        String,
        String,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
    ),
    (Option<String>, Option<String>),
);

fn raw(r: &rusqlite::Row) -> rusqlite::Result<RawRow> {
    Ok((
        (
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        ),
        (
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
            r.get(11)?,
            r.get(12)?,
            r.get(13)?,
            r.get(14)?,
            r.get(15)?,
            r.get(16)?,
        ),
        (r.get(17)?, r.get(18)?),
    ))
}

fn row_of(raw: RawRow) -> Result<AuditRow, StoreError> {
    let (
        (id, scope, resource, fingerprint, kind, undo_of, mode, summary),
        (started_at, finished_at, outcome, before, intended, after, verdicts, error, refresh_id),
        (owner, reasons),
    ) = raw;
    Ok(AuditRow {
        id,
        scope,
        resource,
        fingerprint,
        kind,
        undo_of,
        mode,
        summary,
        started_at,
        finished_at,
        outcome,
        before: decode("audit before", &before)?,
        intended: decode("audit intended", &intended)?,
        after: after.as_deref().map(|a| decode("audit after", a)).transpose()?,
        verdicts: decode("audit verdicts", &verdicts)?,
        error,
        refresh_id,
        owner,
        reasons: reasons.as_deref().map(|r| decode("audit reasons", r)).transpose()?,
    })
}

/// Writes a row (claim or blocked attempt).
fn insert(conn: &rusqlite::Connection, a: &NewAction, outcome: &str, reasons: Option<&str>, now: Ts) -> Result<i64, StoreError> {
    let finished = (outcome != "started").then_some(now);
    conn.execute(
        "INSERT INTO audit (scope, resource, fingerprint, kind, undo_of, mode, summary, started_at, finished_at, outcome, before, intended, verdicts, decrease, owner, reasons)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            a.scope,
            a.resource,
            a.fingerprint,
            a.kind.map(|k| k.as_str()),
            a.undo_of,
            a.mode,
            a.summary,
            now,
            finished,
            outcome,
            encode("audit before", a.before)?,
            encode("audit intended", a.intended)?,
            a.verdicts,
            a.decrease,
            a.owner,
            reasons
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

impl Audit for Sqlite {
    fn claim(&mut self, a: &NewAction, rules: &ClaimRules, now: Ts) -> Result<Claim, StoreError> {
        // Immediate: the checks and the claim are one step for every process on the store.
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let holder: Option<(i64, String, Option<String>, Ts)> = tx
            .query_row(
                "SELECT id, outcome, owner, started_at FROM audit
                 WHERE scope = ?1 AND resource = ?2 AND outcome IN ('started', 'in-progress') ORDER BY id DESC LIMIT 1",
                params![a.scope, a.resource],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        if let Some((id, outcome, owner, at)) = holder {
            return Ok(Claim::Refused(vec![format!(
                "one-writer: {} is being changed by audit #{id} ({outcome} since {}{})",
                a.resource,
                fmt_ts(at),
                owner.map(|o| format!(", by {o}")).unwrap_or_default()
            )]));
        }
        let mut reasons = vec![];
        if let Some(cd) = rules.cooldown_s {
            let last: Option<(i64, Ts)> = tx
                .query_row(
                    &format!(
                        "SELECT id, started_at FROM audit WHERE scope = ?1 AND resource = ?2 AND outcome NOT IN {NOTHING_CHANGED} ORDER BY started_at DESC, id DESC LIMIT 1"
                    ),
                    params![a.scope, a.resource],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((id, t)) = last
                && now - t < cd
            {
                reasons.push(format!(
                    "cooldown: changed at {} (audit #{id}), within the cooldown of {}: next change after {}",
                    fmt_ts(t),
                    fmt_duration(cd),
                    fmt_ts(t + cd)
                ));
            }
        }
        if let Some(max) = rules.max_actions_per_day {
            let n: i64 = tx.query_row(
                &format!("SELECT COUNT(*) FROM audit WHERE started_at >= ?1 AND outcome NOT IN {NOTHING_CHANGED}"),
                params![now - 86_400],
                |r| r.get(0),
            )?;
            if n >= i64::from(max) {
                reasons.push(format!("daily-budget: {n} actions in the last 24 h: max_actions_per_day is {max}"));
            }
        }
        if !reasons.is_empty() {
            return Ok(Claim::Refused(reasons));
        }
        let id = match insert(&tx, a, "started", None, now) {
            Ok(id) => id,
            // The unique index: another process claimed it between our check and insert
            // (cannot happen inside an immediate transaction; kept as the last word).
            Err(StoreError::Sql(rusqlite::Error::SqliteFailure(e, _))) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                return Ok(Claim::Refused(vec![format!(
                    "one-writer: {} is being changed by another apply",
                    a.resource
                )]));
            }
            Err(e) => return Err(e),
        };
        tx.commit()?;
        Ok(Claim::Granted(id))
    }

    fn record_blocked(&mut self, a: &NewAction, reasons: &[String], once_a_day: bool, now: Ts) -> Result<Option<i64>, StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if once_a_day && let Some(fp) = a.fingerprint {
            let n: i64 = tx.query_row(
                "SELECT COUNT(*) FROM audit WHERE fingerprint = ?1 AND outcome = 'blocked' AND started_at > ?2",
                params![fp, now - 86_400],
                |r| r.get(0),
            )?;
            if n > 0 {
                return Ok(None);
            }
        }
        let id = insert(&tx, a, "blocked", Some(&encode("audit reasons", &reasons)?), now)?;
        tx.commit()?;
        Ok(Some(id))
    }

    fn last_made(&self, scope: &str, resource: &str) -> Result<Option<AuditRow>, StoreError> {
        let r = self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM audit WHERE scope = ?1 AND resource = ?2 AND outcome IN ('applied', 'diverged') ORDER BY id DESC LIMIT 1"
                ),
                params![scope, resource],
                raw,
            )
            .optional()?;
        r.map(row_of).transpose()
    }

    fn finish_action(&mut self, id: i64, f: &Finish, now: Ts) -> Result<(), StoreError> {
        let Finish {
            outcome,
            after,
            error,
            refresh_id,
            announce,
        } = *f;
        let after = after.map(|a| encode("audit after", a)).transpose()?;
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        type Was = (String, Option<String>, String, Option<i64>, String, Option<String>);
        let was: Option<Was> = tx
            .query_row(
                "SELECT outcome, fingerprint, scope, undo_of, resource, kind FROM audit WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .optional()?;
        let Some((prev, fp, scope, undo_of, resource, kind)) = was else {
            return Ok(());
        };
        // Only a claim (or a rolling-out change) is finished, and only once: a second finish
        // of a settled row (a reconcile racing the process that made it) changes nothing.
        if prev != "started" && prev != "in-progress" {
            return Ok(());
        }
        let made = outcome == "applied" || outcome == "diverged";
        // An undone change's advisory is acknowledged: still listed, never applied again by
        // auto mode on its own.
        let mut undone_kind = None;
        if let Some(undone) = undo_of {
            let (ufp, ukind): (Option<String>, Option<String>) = tx
                .query_row("SELECT fingerprint, kind FROM audit WHERE id = ?1", params![undone], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?
                .unwrap_or_default();
            undone_kind = ukind;
            if made && let Some(ufp) = ufp {
                super::advice::move_advisory(&tx, &ufp, AdvisoryState::Acknowledged, Some(AdvisoryState::Applied), now)?;
            }
        }
        tx.execute(
            "UPDATE audit SET outcome = ?2, after = COALESCE(?3, after), error = ?4, refresh_id = COALESCE(?5, refresh_id), finished_at = ?6 WHERE id = ?1",
            params![id, outcome, after, error, refresh_id, now],
        )?;
        // The advisory is applied once the change is made (a refresh rolling it out included),
        // and only once.
        if prev == "started"
            && (outcome == "applied" || outcome == "in-progress")
            && let Some(fp) = &fp
        {
            super::advice::move_advisory(&tx, fp, AdvisoryState::Applied, None, now)?;
        }
        if let Some(an) = announce {
            let stored = match &fp {
                Some(fp) => super::advice::read_one(&tx, fp)?,
                None => None,
            };
            let (mut advisory, first_seen) = stored.unwrap_or_else(|| {
                let kind = kind.or(undone_kind).and_then(|k| Kind::parse(&k)).unwrap_or(Kind::Rightsize);
                (
                    Advisory {
                        fingerprint: fp.clone().unwrap_or_else(|| format!("audit-{id}")),
                        kind,
                        resource: ResourceId(resource.clone()),
                        severity: an.severity,
                        summary: String::new(),
                        evidence: vec![],
                        action: None,
                        monthly_cost_delta: None,
                        basis: None,
                    },
                    now,
                )
            });
            advisory.severity = an.severity;
            advisory.summary = an.summary.clone();
            advisory.evidence.splice(0..0, an.evidence.iter().cloned());
            let notice = Notice {
                event: NoticeEvent::Applied,
                at: now,
                scope,
                advisory,
                previous_severity: None,
                tags: an.tags.clone(),
                first_seen,
                change: Some(ChangeNote {
                    audit_id: id,
                    outcome: outcome.to_string(),
                }),
            };
            tx.execute(
                "INSERT INTO outbox (scope, fingerprint, event, at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    notice.scope,
                    notice.advisory.fingerprint,
                    NoticeEvent::Applied.as_str(),
                    now,
                    encode("notice", &notice)?
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn audit_rows(&self, scope: Option<&str>, outcome: Option<&str>, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM audit WHERE (?1 IS NULL OR scope = ?1) AND (?2 IS NULL OR outcome = ?2) ORDER BY id DESC LIMIT ?3"
        ))?;
        let rows: Vec<RawRow> = stmt
            .query_map(params![scope, outcome, limit as i64], raw)?
            .collect::<Result<_, _>>()?;
        rows.into_iter().map(row_of).collect()
    }

    fn audit_row(&self, id: i64) -> Result<Option<AuditRow>, StoreError> {
        let r = self
            .conn
            .query_row(&format!("SELECT {COLUMNS} FROM audit WHERE id = ?1"), params![id], raw)
            .optional()?;
        r.map(row_of).transpose()
    }

    fn last_change_at(&self, scope: &str, resource: &str) -> Result<Option<Ts>, StoreError> {
        Ok(self.conn.query_row(
            &format!("SELECT MAX(started_at) FROM audit WHERE scope = ?1 AND resource = ?2 AND outcome NOT IN {NOTHING_CHANGED}"),
            params![scope, resource],
            |r| r.get(0),
        )?)
    }

    fn actions_since(&self, since: Ts) -> Result<u32, StoreError> {
        Ok(self.conn.query_row(
            &format!("SELECT COUNT(*) FROM audit WHERE started_at >= ?1 AND outcome NOT IN {NOTHING_CHANGED}"),
            params![since],
            |r| r.get::<_, i64>(0),
        )? as u32)
    }

    fn table_decreases(&self, scope: &str, resource: &str, since: Ts) -> Result<(u32, Option<Ts>), StoreError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*), MAX(started_at) FROM audit
             WHERE scope = ?1 AND resource = ?2 AND decrease = 1 AND started_at >= ?3 AND outcome <> 'failed'",
            params![scope, resource, since],
            |r| Ok((r.get::<_, i64>(0)? as u32, r.get(1)?)),
        )?)
    }

    fn last_partial(&self, scope: &str) -> Result<Option<bool>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT partial FROM snapshots WHERE scope = ?1 ORDER BY id DESC LIMIT 1",
                params![scope],
                |r| r.get::<_, bool>(0),
            )
            .optional()?)
    }

    fn on_demand_switches(&self, scope: &str, resource: &str, since: Ts) -> Result<u32, StoreError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM audit WHERE scope = ?1 AND resource = ?2 AND started_at >= ?3
               AND outcome IN ('applied', 'diverged', 'unknown')
               AND json_extract(before, '$.mode') = 'PROVISIONED' AND json_extract(intended, '$.mode') = 'PAY_PER_REQUEST'",
            params![scope, resource, since],
            |r| r.get::<_, i64>(0),
        )? as u32)
    }

    fn last_snapshot_at(&self, scope: &str) -> Result<Option<Ts>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT taken_at FROM snapshots WHERE scope = ?1 ORDER BY id DESC LIMIT 1",
                params![scope],
                |r| r.get::<_, Ts>(0),
            )
            .optional()?)
    }

    fn last_attempt(&self, fingerprint: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT outcome FROM audit WHERE fingerprint = ?1 AND outcome <> 'blocked' ORDER BY id DESC LIMIT 1",
                params![fingerprint],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn find_advisory(&self, fingerprint: &str) -> Result<Vec<super::StoredAdvisory>, StoreError> {
        let pattern = fingerprint.replace(['%', '_'], "");
        Ok(self
            .advisories(true, None, None)?
            .into_iter()
            .filter(|a| a.advisory.fingerprint.starts_with(&pattern))
            .collect())
    }
}
