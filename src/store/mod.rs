//! The store: one SQLite file (WAL) holding everything headroom saw, said and did — the
//! series cache (one row per series and period start), snapshots of inventory and source
//! status, daily spend, advisories with their lifecycle, rule state, the notification outbox
//! and the audit of actions. Versioned migrations run on open.
//!
//! This is the only module that speaks SQL. May use: domain.

use crate::domain::*;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source} (check the path in [store] and that its folder is writable)")]
    Open { path: String, source: rusqlite::Error },
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("store {path} has schema version {found}, newer than this headroom ({known}): upgrade headroom")]
    TooNew { path: String, found: i64, known: i64 },
    #[error("store: cannot encode {what}: {source}")]
    Encode { what: &'static str, source: serde_json::Error },
}

/// Migrations, in order; the store's `user_version` says how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: the foundation schema.
    r#"
    CREATE TABLE series (
        key       TEXT PRIMARY KEY,
        resource  TEXT NOT NULL,
        signal    TEXT NOT NULL,
        query     TEXT NOT NULL,             -- JSON of MetricQuery
        fetched_through INTEGER              -- last period start fetched successfully
    );
    CREATE TABLE points (
        series_key TEXT NOT NULL,
        ts         INTEGER NOT NULL,         -- period start, seconds since the epoch
        value      REAL NOT NULL,
        PRIMARY KEY (series_key, ts)
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
        id         INTEGER PRIMARY KEY,
        taken_at   INTEGER NOT NULL,
        region     TEXT NOT NULL,
        partial    INTEGER NOT NULL,
        sources    TEXT NOT NULL,            -- JSON [SourceStatus]
        asgs       TEXT NOT NULL,            -- JSON [AsgState]
        tables     TEXT NOT NULL,            -- JSON [TableState]
        api_calls  TEXT NOT NULL,            -- JSON ApiCalls
        points_fetched INTEGER NOT NULL
    );
    CREATE INDEX snapshots_taken_at ON snapshots (taken_at);
    CREATE TABLE spend (
        day        TEXT NOT NULL,
        service    TEXT NOT NULL,
        amount_micros INTEGER NOT NULL,
        PRIMARY KEY (day, service)
    );
    CREATE TABLE advisories (
        fingerprint TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        resource    TEXT NOT NULL,
        severity    TEXT NOT NULL,
        summary     TEXT NOT NULL,
        evidence    TEXT NOT NULL,           -- JSON
        action      TEXT,                    -- JSON, optional
        cost_delta_micros INTEGER,
        state       TEXT NOT NULL,           -- open, acknowledged, applied, resolved, expired
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE rule_state (
        rule        TEXT NOT NULL,
        resource    TEXT NOT NULL,
        state       TEXT NOT NULL,           -- inactive, pending, firing, resolved
        active_since INTEGER,
        fired_at    INTEGER,
        last_eval   INTEGER NOT NULL,
        PRIMARY KEY (rule, resource)
    );
    CREATE TABLE outbox (
        id          INTEGER PRIMARY KEY,
        channel     TEXT NOT NULL,           -- email, slack
        group_key   TEXT NOT NULL,
        dedup_key   TEXT NOT NULL UNIQUE,
        payload     TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        not_before  INTEGER NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT,
        sent_at     INTEGER
    );
    CREATE TABLE audit (
        id          INTEGER PRIMARY KEY,
        at          INTEGER NOT NULL,
        advisory    TEXT,
        resource    TEXT NOT NULL,
        phase       TEXT NOT NULL,           -- before, after
        action      TEXT NOT NULL,           -- JSON
        outcome     TEXT
    );
    "#,
    // 2: rule state needs when a firing condition cleared (keep_firing_for) and the last value.
    r#"
    ALTER TABLE rule_state ADD COLUMN cleared_since INTEGER;
    ALTER TABLE rule_state ADD COLUMN value REAL;
    CREATE INDEX advisories_state ON advisories (state, kind);
    "#,
    // 3: points keyed by an integer series id instead of the series' text key: the key (about
    // 60 bytes) was repeated in every one of tens of millions of rows.
    r#"
    CREATE TABLE series_ids (
        id  INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE
    );
    INSERT INTO series_ids (key) SELECT key FROM series;
    INSERT OR IGNORE INTO series_ids (key) SELECT DISTINCT series_key FROM points;
    CREATE TABLE points_by_id (
        series INTEGER NOT NULL,             -- series_ids.id
        ts     INTEGER NOT NULL,
        value  REAL NOT NULL,
        PRIMARY KEY (series, ts)
    ) WITHOUT ROWID;
    INSERT INTO points_by_id (series, ts, value)
        SELECT i.id, p.ts, p.value FROM points p JOIN series_ids i ON i.key = p.series_key;
    DROP TABLE points;
    ALTER TABLE points_by_id RENAME TO points;
    "#,
    // 4: the latest forecasts (outlooks) per region, computed on the forecast schedule and
    // read by every cycle in between.
    r#"
    CREATE TABLE outlooks (
        region      TEXT NOT NULL,
        resource    TEXT NOT NULL,
        signal      TEXT NOT NULL,
        computed_at INTEGER NOT NULL,
        body        TEXT NOT NULL,           -- JSON
        PRIMARY KEY (region, resource, signal)
    );
    CREATE TABLE forecast_runs (
        region TEXT PRIMARY KEY,
        at     INTEGER NOT NULL
    );
    "#,
];

/// A series found (its key and points), or the `resource:signal` names the store has.
pub type SeriesLookup = Result<(String, Vec<(Ts, f64)>), Vec<String>>;

/// An advisory as the store keeps it: the advisory and its lifecycle.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StoredAdvisory {
    #[serde(flatten)]
    pub advisory: Advisory,
    pub state: AdvisoryState,
    pub first_seen: Ts,
    pub last_seen: Ts,
    pub updated_at: Ts,
}

/// What reconciling one cycle's advisories changed.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Reconciled {
    /// Fingerprints new this cycle (or reopened after being resolved).
    pub opened: Vec<String>,
    /// Still present: updated in place.
    pub updated: Vec<String>,
    /// Open or acknowledged before, absent now.
    pub resolved: Vec<String>,
    /// Not seen for `EXPIRE_AFTER_S` while resolution was held back.
    pub expired: Vec<String>,
}

/// An advisory not seen for a week expires, even when partial snapshots kept it from being
/// resolved.
pub const EXPIRE_AFTER_S: i64 = 7 * 86_400;

pub struct Store {
    conn: Connection,
}

/// What a cycle writes for one series.
#[derive(Clone, Debug)]
pub struct SeriesWrite {
    pub resource: ResourceId,
    pub signal: Signal,
    pub query: MetricQuery,
    pub points: Vec<(Ts, f64)>,
    /// Last period start fetched successfully, if the fetch succeeded.
    pub fetched_through: Option<Ts>,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and runs pending migrations.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: shown.clone(),
            source,
        })?;
        Store::init(conn, &shown)
    }

    /// A store in memory (tests, `--dry-run`).
    pub fn in_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?, ":memory:")
    }

    fn init(conn: Connection, shown: &str) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: shown.to_string(),
            source,
        };
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_err)?;
        let mut store = Store { conn };
        store.migrate(shown)?;
        Ok(store)
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    fn migrate(&mut self, shown: &str) -> Result<(), StoreError> {
        let version = self.schema_version()?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path: shown.to_string(),
                found: version,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Where each series' cache ends: the later of its last point and the last period that
    /// was fetched successfully (a series with no data still moves forward).
    pub fn frontiers(&self) -> Result<HashMap<String, Ts>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT s.key, MAX(COALESCE(s.fetched_through, 0), COALESCE((SELECT MAX(p.ts) FROM points p WHERE p.series = i.id), 0))
             FROM series s LEFT JOIN series_ids i ON i.key = s.key",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        Ok(rows
            .filter(|r| r.as_ref().map(|(_, t)| *t > 0).unwrap_or(true))
            .collect::<Result<_, _>>()?)
    }

    /// Writes fetched points (replacing any at the same period: late data corrects earlier
    /// values) and each series' fetched-through mark, in one transaction. Returns how many
    /// points were new to the cache.
    pub fn write_points(&mut self, series: &[SeriesWrite]) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let mut new = 0u64;
        {
            let mut upsert_series = tx.prepare_cached(
                "INSERT INTO series (key, resource, signal, query, fetched_through) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(key) DO UPDATE SET fetched_through = MAX(COALESCE(fetched_through, 0), COALESCE(excluded.fetched_through, 0))",
            )?;
            let mut add_id = tx.prepare_cached("INSERT OR IGNORE INTO series_ids (key) VALUES (?1)")?;
            let mut get_id = tx.prepare_cached("SELECT id FROM series_ids WHERE key = ?1")?;
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
                let sig = serde_json::to_value(signal)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                upsert_series.execute(params![key, resource.0, sig, qjson, fetched_through])?;
                if points.is_empty() {
                    continue;
                }
                add_id.execute(params![key])?;
                let id: i64 = get_id.query_row(params![key], |r| r.get(0))?;
                for (ts, v) in points {
                    if exists.query_row(params![id, ts], |_| Ok(())).optional()?.is_none() {
                        new += 1;
                    }
                    put.execute(params![id, ts, v])?;
                }
            }
        }
        tx.commit()?;
        Ok(new)
    }

    /// Points of one series at or after `since`, ascending.
    pub fn points(&self, key: &str, since: Ts) -> Result<Vec<(Ts, f64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.ts, p.value FROM series_ids i JOIN points p ON p.series = i.id WHERE i.key = ?1 AND p.ts >= ?2 ORDER BY p.ts",
        )?;
        let rows = stmt.query_map(params![key, since], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn count_points(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM points", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Replaces the spend of the given days (Cost Explorer restates recent days).
    pub fn write_spend(&mut self, spend: &[DailySpend]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached("INSERT OR REPLACE INTO spend (day, service, amount_micros) VALUES (?1, ?2, ?3)")?;
            for s in spend {
                put.execute(params![s.day, s.service, s.amount.0])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Spend on or after `since_day` (`YYYY-MM-DD`), by day then service.
    pub fn spend_since(&self, since_day: &str) -> Result<Vec<DailySpend>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT day, service, amount_micros FROM spend WHERE day >= ?1 ORDER BY day, service")?;
        let rows = stmt.query_map(params![since_day], |r| {
            Ok(DailySpend {
                day: r.get(0)?,
                service: r.get(1)?,
                amount: Money(r.get(2)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a snapshot's inventory, source status and call counts. Returns its id.
    pub fn write_snapshot(&mut self, s: &Snapshot) -> Result<i64, StoreError> {
        let enc = |what: &'static str, v: serde_json::Result<String>| v.map_err(|source| StoreError::Encode { what, source });
        self.conn.execute(
            "INSERT INTO snapshots (taken_at, region, partial, sources, asgs, tables, api_calls, points_fetched) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                s.taken_at.timestamp(),
                s.region,
                s.partial(),
                enc("sources", serde_json::to_string(&s.sources))?,
                enc("asgs", serde_json::to_string(&s.asgs))?,
                enc("tables", serde_json::to_string(&s.tables))?,
                enc("api_calls", serde_json::to_string(&s.api_calls))?,
                s.points_fetched as i64,
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// (taken_at, partial, sources) of the newest snapshot.
    pub fn last_snapshot(&self) -> Result<Option<(Ts, bool, Vec<SourceStatus>)>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT taken_at, partial, sources FROM snapshots ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?, r.get::<_, String>(2)?)),
            )
            .optional()?;
        Ok(row.map(|(t, p, s)| (t, p, serde_json::from_str(&s).unwrap_or_default())))
    }

    pub fn count_snapshots(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM snapshots", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Drops points, snapshots and spend older than `before` (retention). Returns rows removed.
    pub fn prune(&mut self, before: Ts) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let mut n = tx.execute("DELETE FROM points WHERE ts < ?1", params![before])? as u64;
        n += tx.execute("DELETE FROM snapshots WHERE taken_at < ?1", params![before])? as u64;
        let day = chrono::DateTime::from_timestamp(before, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        n += tx.execute("DELETE FROM spend WHERE day < ?1", params![day])? as u64;
        tx.commit()?;
        Ok(n)
    }

    /// Every persisted rule state, by (rule, resource).
    pub fn rule_states(&self) -> Result<HashMap<(String, ResourceId), RuleState>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT rule, resource, state, active_since, fired_at, cleared_since, last_eval, value FROM rule_state")?;
        let rows = stmt.query_map([], |r| {
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

    /// Persists the cycle's rule states and reconciles its advisories with the stored ones,
    /// in one transaction: a crash leaves either the old cycle's state or the new one.
    ///
    /// Present advisories are opened (new, or reopened after resolution) or updated in place
    /// (an acknowledged one stays acknowledged). Open or acknowledged advisories of a kind in
    /// `kinds_evaluated` that are absent are resolved — unless `hold_resolution` (a partial
    /// snapshot: absence may only mean missing data), in which case they expire after
    /// `EXPIRE_AFTER_S` without being seen.
    pub fn save_advice(
        &mut self,
        states: &[RuleState],
        current: &[Advisory],
        kinds_evaluated: &[Kind],
        hold_resolution: bool,
        now: Ts,
    ) -> Result<Reconciled, StoreError> {
        let tx = self.conn.transaction()?;
        let mut out = Reconciled::default();
        {
            let mut put_state = tx.prepare_cached(
                "INSERT OR REPLACE INTO rule_state (rule, resource, state, active_since, fired_at, cleared_since, last_eval, value)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for s in states {
                put_state.execute(params![
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
            let mut get = tx.prepare_cached("SELECT state FROM advisories WHERE fingerprint = ?1")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO advisories (fingerprint, kind, resource, severity, summary, evidence, action, cost_delta_micros, state, first_seen, last_seen, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open', ?9, ?9, ?9)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE advisories SET severity = ?2, summary = ?3, evidence = ?4, action = ?5, cost_delta_micros = ?6, last_seen = ?7,
                 state = CASE WHEN state IN ('open', 'acknowledged') THEN state ELSE 'open' END,
                 updated_at = CASE WHEN state IN ('open', 'acknowledged') THEN updated_at ELSE ?7 END
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
                let prior: Option<String> = get.query_row(params![a.fingerprint], |r| r.get(0)).optional()?;
                match prior.as_deref() {
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
                            now
                        ])?;
                        out.opened.push(a.fingerprint.clone());
                    }
                    Some(st) => {
                        update.execute(params![
                            a.fingerprint,
                            a.severity.to_string(),
                            a.summary,
                            evidence,
                            action,
                            cost,
                            now
                        ])?;
                        if st == "open" || st == "acknowledged" {
                            out.updated.push(a.fingerprint.clone());
                        } else {
                            out.opened.push(a.fingerprint.clone());
                        }
                    }
                }
            }
            let present: std::collections::HashSet<&str> = current.iter().map(|a| a.fingerprint.as_str()).collect();
            let mut live =
                tx.prepare_cached("SELECT fingerprint, kind, last_seen FROM advisories WHERE state IN ('open', 'acknowledged')")?;
            let rows: Vec<(String, String, i64)> = live
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            let mut close = tx.prepare_cached("UPDATE advisories SET state = ?2, updated_at = ?3 WHERE fingerprint = ?1")?;
            for (fp, kind, last_seen) in rows {
                if present.contains(fp.as_str()) {
                    continue;
                }
                let evaluated = Kind::parse(&kind).is_some_and(|k| kinds_evaluated.contains(&k));
                if evaluated && !hold_resolution {
                    close.execute(params![fp, "resolved", now])?;
                    out.resolved.push(fp);
                } else if now - last_seen >= EXPIRE_AFTER_S {
                    close.execute(params![fp, "expired", now])?;
                    out.expired.push(fp);
                }
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// Stored advisories, newest first: only open and acknowledged ones unless `all`.
    pub fn advisories(&self, all: bool, kind: Option<Kind>) -> Result<Vec<StoredAdvisory>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT fingerprint, kind, resource, severity, summary, evidence, action, cost_delta_micros, state, first_seen, last_seen, updated_at
             FROM advisories WHERE (?1 OR state IN ('open', 'acknowledged')) AND (?2 IS NULL OR kind = ?2)
             ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, last_seen DESC, fingerprint",
        )?;
        let rows = stmt.query_map(params![all, kind.map(|k| k.as_str())], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, i64>(9)?,
                r.get::<_, i64>(10)?,
                r.get::<_, i64>(11)?,
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let (fp, kind, resource, severity, summary, evidence, action, cost, state, first_seen, last_seen, updated_at) = row?;
            let decode = |what: &'static str, source| StoreError::Encode { what, source };
            out.push(StoredAdvisory {
                advisory: Advisory {
                    fingerprint: fp,
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
                },
                state: AdvisoryState::parse(&state).unwrap_or(AdvisoryState::Open),
                first_seen,
                last_seen,
                updated_at,
            });
        }
        Ok(out)
    }

    /// Moves an advisory (by fingerprint or a unique prefix of it) to `state`. Returns the
    /// full fingerprint, or None when nothing (or more than one) matches.
    pub fn set_advisory_state(&mut self, fingerprint: &str, state: AdvisoryState, now: Ts) -> Result<Option<String>, StoreError> {
        let pattern = format!("{}%", fingerprint.replace(['%', '_'], ""));
        let mut stmt = self.conn.prepare("SELECT fingerprint FROM advisories WHERE fingerprint LIKE ?1")?;
        let found: Vec<String> = stmt.query_map(params![pattern], |r| r.get(0))?.collect::<Result<_, _>>()?;
        if found.len() != 1 {
            return Ok(None);
        }
        self.conn.execute(
            "UPDATE advisories SET state = ?2, updated_at = ?3 WHERE fingerprint = ?1",
            params![found[0], state.as_str(), now],
        )?;
        Ok(Some(found[0].clone()))
    }

    /// Names of the tables the schema has (for tests and `headroom check --json`).
    /// The cached points since `since` of the series a resource has for a signal (its snake_case
    /// name, e.g. `cpu_percent`), with the series' key; None when there is no such series.
    /// The signals the store has for the resource come back in the error case for a hint.
    pub fn series_of(&self, resource: &str, signal: &str, since: Ts) -> Result<SeriesLookup, StoreError> {
        let key: Option<String> = self
            .conn
            .query_row(
                "SELECT key FROM series WHERE resource = ?1 AND signal = ?2 ORDER BY key LIMIT 1",
                params![resource, signal],
                |r| r.get(0),
            )
            .optional()?;
        match key {
            Some(k) => {
                let pts = self.points(&k, since)?;
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

    /// Replaces a region's outlooks (JSON documents keyed by resource and signal) and records
    /// when they were computed, in one transaction.
    pub fn save_outlooks<T: serde::Serialize>(
        &mut self,
        region: &str,
        at: Ts,
        items: &[(ResourceId, Signal, T)],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM outlooks WHERE region = ?1", params![region])?;
        {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO outlooks (region, resource, signal, computed_at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (r, sig, body) in items {
                let body = serde_json::to_string(body).map_err(|source| StoreError::Encode { what: "outlook", source })?;
                let sig = serde_json::to_string(sig).map_err(|source| StoreError::Encode { what: "signal", source })?;
                put.execute(params![region, r.0, sig.trim_matches('"'), at, body])?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO forecast_runs (region, at) VALUES (?1, ?2)",
            params![region, at],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// When a region's outlooks were last computed, if ever.
    pub fn forecast_run_at(&self, region: &str) -> Result<Option<Ts>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT at FROM forecast_runs WHERE region = ?1", params![region], |r| r.get(0))
            .optional()?)
    }

    /// A region's stored outlooks, in the order they were saved (documents that no longer
    /// decode, e.g. after an upgrade changed their shape, are skipped: the next forecast run
    /// replaces them).
    pub fn outlooks<T: serde::de::DeserializeOwned>(&self, region: &str) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT body FROM outlooks WHERE region = ?1 ORDER BY rowid")?;
        let rows = stmt.query_map(params![region], |r| r.get::<_, String>(0))?;
        let mut out = vec![];
        for body in rows {
            if let Ok(v) = serde_json::from_str(&body?) {
                out.push(v);
            }
        }
        Ok(out)
    }

    pub fn table_names(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str) -> MetricQuery {
        MetricQuery::new("AWS/EC2", "CPUUtilization", &[("AutoScalingGroupName", name)], Stat::Average, 300)
    }

    fn w(name: &str, points: Vec<(Ts, f64)>, through: Option<Ts>) -> SeriesWrite {
        SeriesWrite {
            resource: ResourceId::asg(name),
            signal: Signal::CpuPercent,
            query: q(name),
            points,
            fetched_through: through,
        }
    }

    /// Absent after a complete cycle: resolved. Absent after partial cycles: held, and
    /// expired only once unseen for EXPIRE_AFTER_S.
    #[test]
    fn partial_cycles_hold_resolution_until_expiry() {
        use crate::domain::{Advisory, AdvisoryState, Kind, ResourceId, Severity};
        let adv = |fp: &str| Advisory {
            fingerprint: fp.into(),
            kind: Kind::Rightsize,
            resource: ResourceId::asg("web"),
            severity: Severity::Info,
            summary: "s".into(),
            evidence: vec![],
            action: None,
            monthly_cost_delta: None,
        };
        let mut s = Store::in_memory().unwrap();
        let k = [Kind::Rightsize];
        let t0 = 1_000_000;
        let r = s.save_advice(&[], &[adv("a"), adv("b")], &k, false, t0).unwrap();
        assert_eq!(r.opened, ["a", "b"]);
        // "a" absent from a partial cycle: held.
        let r = s.save_advice(&[], &[adv("b")], &k, true, t0 + 300).unwrap();
        assert!(r.resolved.is_empty() && r.expired.is_empty(), "{r:?}");
        // Still held just before the expiry, expired at it (seven days after last seen).
        let r = s.save_advice(&[], &[adv("b")], &k, true, t0 + EXPIRE_AFTER_S - 1).unwrap();
        assert!(r.expired.is_empty());
        let r = s.save_advice(&[], &[adv("b")], &k, true, t0 + EXPIRE_AFTER_S).unwrap();
        assert_eq!(r.expired, ["a"]);
        // "b" absent from a complete cycle: resolved.
        let r = s.save_advice(&[], &[], &k, false, t0 + EXPIRE_AFTER_S + 300).unwrap();
        assert_eq!(r.resolved, ["b"]);
        let states: Vec<(String, AdvisoryState)> = s
            .advisories(true, None)
            .unwrap()
            .into_iter()
            .map(|a| (a.advisory.fingerprint, a.state))
            .collect();
        assert!(states.contains(&("a".into(), AdvisoryState::Expired)), "{states:?}");
        assert!(states.contains(&("b".into(), AdvisoryState::Resolved)), "{states:?}");
    }

    /// A store written before migration 3 (points keyed by text) keeps every point.
    #[test]
    fn migration_to_integer_series_ids_keeps_points() {
        let dir = std::env::temp_dir().join(format!("headroom-store-m3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v2.db");
        let _ = std::fs::remove_file(&path);
        let key = q("a").key();
        {
            let c = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..2] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", 2).unwrap();
            c.execute(
                "INSERT INTO series (key, resource, signal, query, fetched_through) VALUES (?1, 'asg/a', 'cpu_percent', '{}', 600)",
                params![key],
            )
            .unwrap();
            for (ts, v) in [(300, 1.0), (600, 2.0)] {
                c.execute(
                    "INSERT INTO points (series_key, ts, value) VALUES (?1, ?2, ?3)",
                    params![key, ts, v],
                )
                .unwrap();
            }
        }
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(s.points(&key, 0).unwrap(), vec![(300, 1.0), (600, 2.0)]);
        assert_eq!(s.frontiers().unwrap().get(&key), Some(&600));
        // New points land beside the migrated ones under the same id.
        assert_eq!(s.write_points(&[w("a", vec![(600, 2.5), (900, 3.0)], Some(900))]).unwrap(), 1);
        assert_eq!(s.points(&key, 0).unwrap(), vec![(300, 1.0), (600, 2.5), (900, 3.0)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn migrations_run_once_and_reopen_keeps_data() {
        let dir = std::env::temp_dir().join(format!("headroom-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let _ = std::fs::remove_file(&path);
        {
            let mut s = Store::open(&path).unwrap();
            assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
            let new = s.write_points(&[w("a", vec![(300, 1.0), (600, 2.0)], Some(600))]).unwrap();
            assert_eq!(new, 2);
        }
        let mut s = Store::open(&path).unwrap();
        for t in [
            "advisories",
            "audit",
            "outbox",
            "points",
            "rule_state",
            "series",
            "snapshots",
            "spend",
        ] {
            assert!(s.table_names().unwrap().contains(&t.to_string()), "{t}");
        }
        assert_eq!(s.frontiers().unwrap().get(&q("a").key()), Some(&600));
        // Overlapping write: one point replaced (late data), one new.
        let new = s.write_points(&[w("a", vec![(600, 2.5), (900, 3.0)], Some(900))]).unwrap();
        assert_eq!(new, 1);
        // A series with no data still moves its frontier; a failed fetch (None) does not.
        s.write_points(&[w("empty", vec![], Some(1200))]).unwrap();
        s.write_points(&[w("empty", vec![], None)]).unwrap();
        assert_eq!(s.frontiers().unwrap().get(&q("empty").key()), Some(&1200));
        assert_eq!(s.points(&q("a").key(), 0).unwrap(), vec![(300, 1.0), (600, 2.5), (900, 3.0)]);
        assert_eq!(s.prune(600).unwrap(), 1);
        assert_eq!(s.count_points().unwrap(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_newer_schema_is_refused_not_clobbered() {
        let s = Store::in_memory().unwrap();
        s.conn.pragma_update(None, "user_version", 99).unwrap();
        let conn = s.conn;
        match Store::init(conn, "x.db") {
            Err(StoreError::TooNew { found: 99, .. }) => {}
            other => panic!("expected TooNew, got {:?}", other.err()),
        }
    }
}
