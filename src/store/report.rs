//! What the weekly review reads: a scope's snapshots, series, spend, advisories and their
//! history over a week (and the history the analyzers need before it), and the log of which
//! review went to which receiver.
//!
//! May use: domain, rusqlite.

use super::{Sqlite, StoreError, StoredAdvisory};
use crate::domain::*;
use rusqlite::{OptionalExtension, params};

/// One cycle's snapshot, without its inventory.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotRow {
    pub taken_at: Ts,
    pub partial: bool,
    pub sources: Vec<SourceStatus>,
}

/// One advisory event, as `advisory_history` has it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HistoryRow {
    pub fingerprint: String,
    pub kind: String,
    pub resource: String,
    pub severity: String,
    pub event: String,
    pub at: Ts,
    pub summary: String,
    pub monthly_cost_delta: Option<Money>,
}

/// Everything the review of one scope reads from the store.
#[derive(Clone, Debug)]
pub struct ReportRows {
    pub scope: Scope,
    /// Snapshots taken in the week.
    pub snapshots: Vec<SnapshotRow>,
    /// The inventory of the last snapshot before the week's end.
    pub inventory: Option<(Ts, Vec<AsgState>, Vec<TableState>)>,
    /// Every series of the scope with its points in the week (`[from, to)`); users and
    /// requests (the tier fit) from `history_from`.
    pub series: Vec<Series>,
    /// The account's daily spend from `history_from`'s day to the week's end.
    pub spend: Vec<DailySpend>,
    /// The scope's advisories seen before the week's end (any state).
    pub advisories: Vec<StoredAdvisory>,
    /// Advisory events in `[history_from, to)`.
    pub history: Vec<HistoryRow>,
    /// The stored forecasts (the newest made), as JSON documents.
    pub outlooks: Vec<String>,
}

impl ReportRows {
    /// A scope with nothing recorded.
    pub fn empty(scope: &Scope) -> ReportRows {
        ReportRows {
            scope: scope.clone(),
            snapshots: vec![],
            inventory: None,
            series: vec![],
            spend: vec![],
            advisories: vec![],
            history: vec![],
            outlooks: vec![],
        }
    }
}

fn day(t: Ts) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

impl Sqlite {
    /// The rows the review of `scope` for the week `[from, to)` is built from; series,
    /// spend and history go back to `history_from`.
    pub fn report_rows(&self, scope: &Scope, from: Ts, to: Ts, history_from: Ts) -> Result<ReportRows, StoreError> {
        let key = scope.key();
        let mut rows = ReportRows::empty(scope);
        let mut stmt = self.conn.prepare(
            "SELECT taken_at, partial, sources FROM snapshots WHERE scope = ?1 AND taken_at >= ?2 AND taken_at < ?3 ORDER BY taken_at",
        )?;
        for r in stmt.query_map(params![key, from, to], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?, r.get::<_, String>(2)?))
        })? {
            let (taken_at, partial, sources) = r?;
            rows.snapshots.push(SnapshotRow {
                taken_at,
                partial,
                sources: serde_json::from_str(&sources).unwrap_or_default(),
            });
        }
        rows.inventory = self
            .conn
            .query_row(
                "SELECT taken_at, asgs, tables FROM snapshots WHERE scope = ?1 AND taken_at < ?2 ORDER BY taken_at DESC, id DESC LIMIT 1",
                params![key, to],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)),
            )
            .optional()?
            .map(|(t, a, b)| {
                (
                    t,
                    serde_json::from_str(&a).unwrap_or_default(),
                    serde_json::from_str(&b).unwrap_or_default(),
                )
            });
        let mut stmt = self.conn.prepare(
            "SELECT s.key, s.resource, s.signal, s.query, i.id FROM series s JOIN series_ids i ON i.scope = s.scope AND i.key = s.key
             WHERE s.scope = ?1 ORDER BY s.key",
        )?;
        let heads: Vec<(String, String, String, String, i64)> = stmt
            .query_map(params![key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
            .collect::<Result<_, _>>()?;
        let mut points = self
            .conn
            .prepare("SELECT ts, value FROM points WHERE series = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts")?;
        for (_key, resource, signal, query, id) in heads {
            // A row an older headroom wrote in a shape this one does not read is left out.
            let Ok(signal) = serde_json::from_value::<Signal>(serde_json::Value::String(signal)) else {
                continue;
            };
            let Ok(query) = serde_json::from_str::<MetricQuery>(&query) else {
                continue;
            };
            // Only the tier fit (users and requests) looks before the week: the rest is read
            // for the week alone (at fleet scale, 28 days of every series is ~100 M points).
            let since = if matches!(signal, Signal::ConcurrentUsers | Signal::Requests) {
                history_from
            } else {
                from
            };
            let pts: Vec<(Ts, f64)> = points
                .query_map(params![id, since, to], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            rows.series.push(Series {
                resource: ResourceId(resource),
                signal,
                query,
                points: Points::from(pts),
            });
        }
        let mut stmt = self
            .conn
            .prepare("SELECT day, service, amount_micros FROM spend WHERE account = ?1 AND day >= ?2 AND day < ?3 ORDER BY day, service")?;
        rows.spend = stmt
            .query_map(params![scope.account, day(history_from), day(to)], |r| {
                Ok(DailySpend {
                    day: r.get(0)?,
                    service: r.get(1)?,
                    amount: Money(r.get(2)?),
                })
            })?
            .collect::<Result<_, _>>()?;
        rows.advisories = self
            .advisories(true, None, Some(&key))?
            .into_iter()
            .filter(|a| a.first_seen < to)
            .collect();
        let mut stmt = self.conn.prepare(
            "SELECT fingerprint, kind, resource, severity, event, at, summary, cost_delta_micros FROM advisory_history
             WHERE scope = ?1 AND at >= ?2 AND at < ?3 ORDER BY at, id",
        )?;
        rows.history = stmt
            .query_map(params![key, history_from, to], |r| {
                Ok(HistoryRow {
                    fingerprint: r.get(0)?,
                    kind: r.get(1)?,
                    resource: r.get(2)?,
                    severity: r.get(3)?,
                    event: r.get(4)?,
                    at: r.get(5)?,
                    summary: r.get(6)?,
                    monthly_cost_delta: r.get::<_, Option<i64>>(7)?.map(Money),
                })
            })?
            .collect::<Result<_, _>>()?;
        rows.outlooks = self.outlook_bodies(scope)?;
        Ok(rows)
    }

    /// Whether `week`'s review went to `receiver` already.
    pub fn report_sent(&self, week: &str, receiver: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT state = 'sent' FROM reports WHERE week = ?1 AND receiver = ?2",
                params![week, receiver],
                |r| r.get::<_, bool>(0),
            )
            .optional()?
            .unwrap_or(false))
    }

    /// Records the outcome of sending `week`'s review to `receiver`: `error` None is sent.
    pub fn record_report(&mut self, week: &str, receiver: &str, error: Option<&str>, now: Ts) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO reports (week, receiver, state, attempts, at, error) VALUES (?1, ?2, ?3, 1, ?4, ?5)
             ON CONFLICT (week, receiver) DO UPDATE SET state = ?3, attempts = attempts + 1, at = ?4, error = ?5",
            params![week, receiver, if error.is_none() { "sent" } else { "failed" }, now, error],
        )?;
        Ok(())
    }

    /// The review log, newest first.
    pub fn reports_log(&self) -> Result<Vec<ReportLog>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT week, receiver, state, attempts, at, error FROM reports ORDER BY at DESC, week, receiver")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ReportLog {
                    week: r.get(0)?,
                    receiver: r.get(1)?,
                    state: r.get(2)?,
                    attempts: r.get(3)?,
                    at: r.get(4)?,
                    error: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

/// One review sent (or not) to one receiver.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ReportLog {
    pub week: String,
    pub receiver: String,
    /// sent, failed
    pub state: String,
    pub attempts: i64,
    pub at: Ts,
    pub error: Option<String>,
}
