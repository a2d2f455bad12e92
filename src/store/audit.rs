//! The audit of actions: a row written before each change to AWS (what, why, the setting
//! before, every guardrail's verdict) and completed after it (outcome, the setting read
//! back, the error); and what the guardrails ask of it (when a resource last changed, how
//! many actions in a day, a table's decreases today). Completing an applied action marks its
//! advisory applied, in the advisory's history and, when receivers exist, in the outbox.

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
}

/// How an action ended, as its row records it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Finish<'a> {
    /// applied, in-progress, failed.
    pub outcome: &'a str,
    /// The setting read back after the call.
    pub after: Option<&'a Setting>,
    pub error: Option<&'a str>,
    pub refresh_id: Option<&'a str>,
    /// Announce an applied advisory through the outbox (receivers exist).
    pub announce: Option<&'a Announce>,
}

/// How an applied action is announced: the resource's tags, for routing.
#[derive(Clone, Debug, Default)]
pub struct Announce {
    pub tags: Vec<(String, String)>,
}

/// What `act/` needs of a store.
pub trait Audit: Send {
    /// Writes the row before the call; its id.
    fn begin_action(&mut self, a: &NewAction, now: Ts) -> Result<i64, StoreError>;
    /// Completes the row. For an applied (or rolling-out) advisory, marks it applied and,
    /// with `announce`, writes its outbox row — in the same transaction.
    fn finish_action(&mut self, id: i64, f: &Finish, now: Ts) -> Result<(), StoreError>;
    fn audit_rows(&self, scope: Option<&str>, outcome: Option<&str>, limit: usize) -> Result<Vec<AuditRow>, StoreError>;
    fn audit_row(&self, id: i64) -> Result<Option<AuditRow>, StoreError>;
    /// When headroom last started a change of the resource (any outcome).
    fn last_change_at(&self, scope: &str, resource: &str) -> Result<Option<Ts>, StoreError>;
    /// Actions started since `since`, over every scope (failed ones count: they were tried).
    fn actions_since(&self, since: Ts) -> Result<u32, StoreError>;
    /// A table's provisioned-capacity decreases made since `since`, and the newest.
    fn table_decreases(&self, scope: &str, resource: &str, since: Ts) -> Result<(u32, Option<Ts>), StoreError>;
    /// Whether the scope's newest snapshot was partial (None: no snapshot).
    fn last_partial(&self, scope: &str) -> Result<Option<bool>, StoreError>;
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

const COLUMNS: &str = "id, scope, resource, fingerprint, kind, undo_of, mode, summary, started_at, finished_at, outcome, before, intended, after, verdicts, error, refresh_id";

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
    ))
}

fn row_of(raw: RawRow) -> Result<AuditRow, StoreError> {
    let (
        (id, scope, resource, fingerprint, kind, undo_of, mode, summary),
        (started_at, finished_at, outcome, before, intended, after, verdicts, error, refresh_id),
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
    })
}

impl Audit for Sqlite {
    fn begin_action(&mut self, a: &NewAction, now: Ts) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO audit (scope, resource, fingerprint, kind, undo_of, mode, summary, started_at, outcome, before, intended, verdicts, decrease)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'started', ?9, ?10, ?11, ?12)",
            params![
                a.scope,
                a.resource,
                a.fingerprint,
                a.kind.map(|k| k.as_str()),
                a.undo_of,
                a.mode,
                a.summary,
                now,
                encode("audit before", a.before)?,
                encode("audit intended", a.intended)?,
                a.verdicts,
                a.decrease
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
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
        let tx = self.conn.transaction()?;
        let was: Option<(String, Option<String>, String, Option<i64>)> = tx
            .query_row(
                "SELECT outcome, fingerprint, scope, undo_of FROM audit WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        // An undone change's advisory is acknowledged: still listed, never applied again by
        // auto mode on its own.
        if let Some((prev, _, _, Some(undone))) = &was
            && prev == "started"
            && outcome == "applied"
        {
            let fp: Option<String> = tx
                .query_row("SELECT fingerprint FROM audit WHERE id = ?1", params![undone], |r| r.get(0))
                .optional()?
                .flatten();
            if let Some(fp) = fp {
                super::advice::move_advisory(&tx, &fp, AdvisoryState::Acknowledged, Some(AdvisoryState::Applied), now)?;
            }
        }
        let was = was.map(|(a, b, c, _)| (a, b, c));
        tx.execute(
            "UPDATE audit SET outcome = ?2, after = COALESCE(?3, after), error = ?4, refresh_id = COALESCE(?5, refresh_id), finished_at = ?6 WHERE id = ?1",
            params![id, outcome, after, error, refresh_id, now],
        )?;
        // The advisory is applied once the change is made (a refresh rolling it out included),
        // and only once.
        if let Some((prev, Some(fp), scope)) = was
            && prev == "started"
            && (outcome == "applied" || outcome == "in-progress")
            && super::advice::move_advisory(&tx, &fp, AdvisoryState::Applied, None, now)?
            && let Some(an) = announce
            && let Some((advisory, first_seen)) = super::advice::read_one(&tx, &fp)?
        {
            let notice = Notice {
                event: NoticeEvent::Applied,
                at: now,
                scope,
                advisory,
                previous_severity: None,
                tags: an.tags.clone(),
                first_seen,
            };
            tx.execute(
                "INSERT INTO outbox (scope, fingerprint, event, at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![notice.scope, fp, NoticeEvent::Applied.as_str(), now, encode("notice", &notice)?],
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
            "SELECT MAX(started_at) FROM audit WHERE scope = ?1 AND resource = ?2",
            params![scope, resource],
            |r| r.get(0),
        )?)
    }

    fn actions_since(&self, since: Ts) -> Result<u32, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM audit WHERE started_at >= ?1", params![since], |r| {
                r.get::<_, i64>(0)
            })? as u32)
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

    fn last_attempt(&self, fingerprint: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT outcome FROM audit WHERE fingerprint = ?1 ORDER BY id DESC LIMIT 1",
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
