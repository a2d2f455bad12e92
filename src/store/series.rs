//! The series cache and spend: points keyed by an integer series id (one per scope and query
//! key), each series' fetched-through mark, daily spend per account, and retention.
//!
//! May use: domain, rusqlite.

use super::{SeriesLookup, Sqlite, StoreError};
use crate::domain::*;
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::HashMap;

/// A series' period (seconds) and points.
pub type PeriodPoints = (u32, Vec<(Ts, f64)>);

/// What a cycle writes for one series.
#[derive(Clone, Debug)]
pub struct SeriesWrite {
    pub resource: ResourceId,
    pub signal: Signal,
    pub query: MetricQuery,
    /// The points fetched, exact (the window may hold older ones quantized: the store keeps
    /// what CloudWatch said).
    pub points: Vec<(Ts, f64)>,
    /// Last period start fetched successfully, if the fetch succeeded.
    pub fetched_through: Option<Ts>,
}

/// A scope's cache as the runtime starts from it: each series' points since a time, and each
/// series' frontier (the later of its last point and the last period fetched successfully: a
/// series with no data still moves forward).
#[derive(Clone, Debug, Default)]
pub struct Window {
    /// Compacted as the runtime's window is (`Points::compact` with the query's period).
    pub points: HashMap<String, Points>,
    pub frontiers: HashMap<String, Ts>,
}

impl Sqlite {
    pub(super) fn window(&self, scope: &Scope, since: Ts) -> Result<Window, StoreError> {
        let key = scope.key();
        let mut w = Window::default();
        let mut stmt = self.conn.prepare(
            "SELECT s.key, MAX(COALESCE(s.fetched_through, 0), COALESCE((SELECT MAX(p.ts) FROM points p WHERE p.series = i.id), 0))
             FROM series s LEFT JOIN series_ids i ON i.scope = s.scope AND i.key = s.key WHERE s.scope = ?1",
        )?;
        for row in stmt.query_map(params![key], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (k, t) = row?;
            if t > 0 {
                w.frontiers.insert(k, t);
            }
        }
        let mut stmt = self.conn.prepare(
            "SELECT i.key, p.ts, p.value FROM series_ids i JOIN points p ON p.series = i.id
             WHERE i.scope = ?1 AND p.ts >= ?2 ORDER BY i.id, p.ts",
        )?;
        let mut rows = stmt.query(params![key, since])?;
        // Each series is compacted as it is read (and sealed chunk by chunk while it is), so
        // a restart never holds the whole window exact.
        let mut current: Option<(String, Points, i64)> = None;
        let mut keep = |current: Option<(String, Points, i64)>| {
            if let Some((ck, mut v, period)) = current {
                v.compact_with(period, MetricQuery::sum_of_key(&ck));
                w.points.insert(ck, v);
            }
        };
        while let Some(r) = rows.next()? {
            let k: String = r.get(0)?;
            let point = (r.get::<_, i64>(1)?, r.get::<_, f64>(2)?);
            match &mut current {
                Some((ck, v, period)) if *ck == k => {
                    v.push(point);
                    if v.len() % 1024 == 0 {
                        v.compact_with(*period, MetricQuery::sum_of_key(ck));
                    }
                }
                _ => {
                    keep(current.take());
                    let period = MetricQuery::period_of_key(&k).map_or(0, i64::from);
                    current = Some((k, Points::from(vec![point]), period));
                }
            }
        }
        keep(current);
        Ok(w)
    }

    /// Points of one series of a scope at or after `since`, ascending.
    pub fn points(&self, scope: &Scope, key: &str, since: Ts) -> Result<Vec<(Ts, f64)>, StoreError> {
        self.points_in(&scope.key(), key, since)
    }

    /// A scope's series of a resource for a signal (its snake_case name): its period and its
    /// points at or after `since`; None when the store has no such series.
    pub fn series_points(&self, scope: &str, resource: &str, signal: &str, since: Ts) -> Result<Option<PeriodPoints>, StoreError> {
        let found: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT key, query FROM series WHERE scope = ?1 AND resource = ?2 AND signal = ?3 ORDER BY key LIMIT 1",
                params![scope, resource, signal],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((key, query)) = found else { return Ok(None) };
        let period = serde_json::from_str::<MetricQuery>(&query).map(|q| q.period_s).unwrap_or(300);
        Ok(Some((period, self.points_in(scope, &key, since)?)))
    }

    /// The same by the scope's stored key (`''` in a store not yet moved to scopes).
    fn points_in(&self, scope: &str, key: &str, since: Ts) -> Result<Vec<(Ts, f64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.ts, p.value FROM series_ids i JOIN points p ON p.series = i.id
             WHERE i.scope = ?1 AND i.key = ?2 AND p.ts >= ?3 ORDER BY p.ts",
        )?;
        let rows = stmt.query_map(params![scope, key, since], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn count_points(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM points", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// An account's spend on or after `since_day` (`YYYY-MM-DD`), by day then service.
    pub fn spend_since(&self, account: &str, since_day: &str) -> Result<Vec<DailySpend>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT day, service, amount_micros FROM spend WHERE account = ?1 AND day >= ?2 ORDER BY day, service")?;
        let rows = stmt.query_map(params![account, since_day], |r| {
            Ok(DailySpend {
                day: r.get(0)?,
                service: r.get(1)?,
                amount: Money(r.get(2)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The cached points since `since` of the series a resource has for a signal (its
    /// snake_case name, e.g. `cpu_percent`), with the series' key; in `scope`, or in any
    /// scope (the first, by name) when it is None. The `resource:signal` names the store has
    /// come back in the error case, for a hint.
    pub fn series_of(&self, scope: Option<&Scope>, resource: &str, signal: &str, since: Ts) -> Result<SeriesLookup, StoreError> {
        let found: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT scope, key FROM series WHERE resource = ?1 AND signal = ?2 AND (?3 IS NULL OR scope = ?3)
                 ORDER BY scope, key LIMIT 1",
                params![resource, signal, scope.map(|s| s.key())],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match found {
            Some((sc, k)) => {
                let pts = self.points_in(&sc, &k, since)?;
                Ok(Ok((k, pts)))
            }
            None => {
                let mut stmt = self
                    .conn
                    .prepare("SELECT DISTINCT resource || ':' || signal FROM series ORDER BY 1")?;
                let known = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
                Ok(Err(known))
            }
        }
    }
}

/// Writes fetched points of a scope (replacing any at the same period: late data corrects
/// earlier values) and each series' fetched-through mark. Returns how many points were new.
pub(super) fn write_points(tx: &Transaction, scope: &str, series: &[SeriesWrite]) -> Result<u64, StoreError> {
    let mut new = 0u64;
    let mut upsert_series = tx.prepare_cached(
        "INSERT INTO series (scope, key, resource, signal, query, fetched_through) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(scope, key) DO UPDATE SET fetched_through = MAX(COALESCE(fetched_through, 0), COALESCE(excluded.fetched_through, 0))",
    )?;
    let mut add_id = tx.prepare_cached("INSERT OR IGNORE INTO series_ids (scope, key) VALUES (?1, ?2)")?;
    let mut get_id = tx.prepare_cached("SELECT id FROM series_ids WHERE scope = ?1 AND key = ?2")?;
    let mut exists = tx.prepare_cached("SELECT 1 FROM points WHERE series = ?1 AND ts = ?2")?;
    let mut put = tx.prepare_cached("INSERT OR REPLACE INTO points (series, ts, value) VALUES (?1, ?2, ?3)")?;
    for SeriesWrite {
        resource,
        signal,
        query,
        points,
        fetched_through,
    } in series
    {
        let key = query.key();
        let qjson = serde_json::to_string(query).map_err(|source| StoreError::Encode { what: "query", source })?;
        upsert_series.execute(params![scope, key, resource.0, signal.name(), qjson, fetched_through])?;
        let mut points = points.iter().peekable();
        if points.peek().is_none() {
            continue;
        }
        // A series the store has never had (its id was just made): every point is new, no
        // need to look each one up (the backfill writes tens of millions).
        let created = add_id.execute(params![scope, key])? == 1;
        let id: i64 = get_id.query_row(params![scope, key], |r| r.get(0))?;
        for (ts, v) in points {
            if created || exists.query_row(params![id, ts], |_| Ok(())).optional()?.is_none() {
                new += 1;
            }
            put.execute(params![id, ts, v])?;
        }
    }
    Ok(new)
}

/// Replaces an account's spend on the given days (Cost Explorer restates recent days).
pub(super) fn write_spend(tx: &Transaction, account: &str, spend: &[DailySpend]) -> Result<(), StoreError> {
    let mut put = tx.prepare_cached("INSERT OR REPLACE INTO spend (account, day, service, amount_micros) VALUES (?1, ?2, ?3, ?4)")?;
    for s in spend {
        put.execute(params![account, s.day, s.service, s.amount.0])?;
    }
    Ok(())
}

/// Drops a scope's points and snapshots older than `before`, and its account's spend
/// (retention). Series are pruned one by one through the (series, ts) key, not by a scan of
/// every point. Returns the rows removed.
pub(super) fn prune(tx: &Transaction, scope: &Scope, before: Ts) -> Result<u64, StoreError> {
    let key = scope.key();
    let mut n = tx.execute(
        "DELETE FROM points WHERE series IN (SELECT id FROM series_ids WHERE scope = ?1) AND ts < ?2",
        params![key, before],
    )? as u64;
    n += tx.execute("DELETE FROM snapshots WHERE scope = ?1 AND taken_at < ?2", params![key, before])? as u64;
    let day = chrono::DateTime::from_timestamp(before, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    n += tx.execute("DELETE FROM spend WHERE account = ?1 AND day < ?2", params![scope.account, day])? as u64;
    Ok(n)
}
