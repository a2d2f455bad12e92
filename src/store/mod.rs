//! The store: everything headroom saw, said and did, by scope (`account/region`) — the series
//! cache (one row per series and period start), snapshots of inventory and source status,
//! daily spend (per account), advisories with their lifecycle, rule state, outlooks, the
//! notification outbox and the audit of actions.
//!
//! `Store` is what the runtime needs of a store: read a scope's state back after a start, and
//! commit one cycle's writes — points, spend, snapshot, outlooks, rule states, advisories
//! and the outbox rows of their changes — in **one** transaction (`commit_cycle`), so a crash
//! leaves either the cycle before or this one. `Sqlite` is the embedded implementation, one
//! file in WAL mode, split by concern: `migrations` (the schema), `series` (the cache),
//! `advice` (rule states, advisories and their outbox rows), `outlooks` (stored forecasts),
//! `cycle` (the cycle's transaction), `notify` (delivery: routing, groups, the notification
//! log, silences; the `Outbox` trait), `audit` (the actions `act/` made; the `Audit` trait), `report` (what the weekly review reads, and which
//! review went where). Versioned migrations run on open.
//!
//! This is the only module that speaks SQL. May use: domain.

mod advice;
mod audit;
mod cycle;
mod migrations;
mod notify;
mod outlooks;
mod report;
mod series;
mod stats;
#[cfg(test)]
mod tests;

pub use audit::{Announce, Audit, AuditRow, Claim, ClaimRules, Finish, NewAction};
pub use cycle::{Committed, CycleWrite, Documents};
pub use notify::{LogEntry, Notification, Outbox, OutboxEvent, Routed, Silence, WaitingGroup};
pub use report::{HistoryRow, ReportLog, ReportRows, SnapshotRow};
pub use series::{PeriodPoints, SeriesWrite, Window};
pub use stats::StoreStats;

use crate::domain::*;
use migrations::MIGRATIONS;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source} (check the path in [store] and that its folder is writable)")]
    Open { path: String, source: rusqlite::Error },
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A SQL error with the store it happened in (`StoreError::at`).
    #[error("store {path}: {source}{}", sql_hint(source))]
    At { path: String, source: rusqlite::Error },
    #[error(
        "{path} is not a headroom store: {what} (point [store] path or --store at headroom's own file; headroom writes nothing to this one)"
    )]
    Foreign { path: String, what: String },
    #[error("store {path} has schema version {found}, newer than this headroom ({known}): upgrade headroom")]
    TooNew { path: String, found: i64, known: i64 },
    #[error(
        "store {path} has schema version {found}, older than this headroom's ({known}): run `headroom check` or the daemon once to upgrade it, then read it"
    )]
    TooOld { path: String, found: i64, known: i64 },
    #[error("store: cannot encode {what}: {source}")]
    Encode { what: &'static str, source: serde_json::Error },
}

/// True when the store has no write-ahead log with content beside it.
fn wal_is_empty(path: &Path) -> bool {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    std::fs::metadata(wal).map_or(true, |m| m.len() == 0)
}

/// `file:PATH?immutable=1`, with the characters a URI gives meaning to escaped.
fn immutable_uri(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut uri = String::from("file:");
    for c in abs.display().to_string().chars() {
        match c {
            '?' | '#' | '%' => uri.push_str(&format!("%{:02X}", c as u8)),
            _ => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// What to do about the SQL errors an operator can fix.
fn sql_hint(e: &rusqlite::Error) -> &'static str {
    use rusqlite::ErrorCode::*;
    match e.sqlite_error_code() {
        Some(DiskFull) => " (free space on its filesystem; nothing of the failed write was kept)",
        Some(ReadOnly) => " (the file, its folder, or its -wal/-shm files are not writable by this user)",
        Some(CannotOpen) => " (check that the file and its folder exist and are readable by this user)",
        Some(DatabaseBusy | DatabaseLocked) => " (another process holds it; try again)",
        Some(DatabaseCorrupt | NotADatabase) => " (not a readable SQLite database: restore it from a backup)",
        _ => "",
    }
}

impl StoreError {
    /// The same error, naming the store it happened in (a SQL error carries no path).
    pub fn at(self, path: &str) -> StoreError {
        match self {
            StoreError::Sql(source) => StoreError::At {
                path: path.to_string(),
                source,
            },
            e => e,
        }
    }
}

/// headroom's SQLite `application_id` ("hdrm"), written by migration 11.
pub const APPLICATION_ID: i64 = 0x6864_726d;

/// What the runtime needs of a store. The SQLite file (`Sqlite`) is the embedded one; a
/// shared backend (DESIGN.md, "Scale beyond one host") implements the same.
pub trait Store: Send {
    /// A scope's cached series since `since` and each series' frontier: read once when the
    /// runtime starts (or a scope first cycles), never again while it runs.
    fn load_window(&self, scope: &Scope, since: Ts) -> Result<Window, StoreError>;
    /// A scope's persisted rule states, by (rule, resource).
    fn rule_states(&self, scope: &Scope) -> Result<HashMap<(String, ResourceId), RuleState>, StoreError>;
    /// When a scope's outlooks were last computed, if ever.
    fn forecast_run_at(&self, scope: &Scope) -> Result<Option<Ts>, StoreError>;
    /// A scope's stored outlooks as JSON documents, in the order they were saved, one at a
    /// time (at fleet scale they are 150 MB of JSON together).
    fn each_outlook_body(&self, scope: &Scope, f: &mut dyn FnMut(&str)) -> Result<(), StoreError>;
    /// An account's daily spend on or after `since_day` (`YYYY-MM-DD`), by day then service.
    fn spend_since(&self, account: &str, since_day: &str) -> Result<Vec<DailySpend>, StoreError>;
    /// When an account's spend was last read from Cost Explorer, if ever.
    fn spend_fetched_at(&self, account: &str) -> Result<Option<Ts>, StoreError>;
    /// One cycle's writes, in one transaction.
    fn commit_cycle(&mut self, w: &CycleWrite) -> Result<Committed, StoreError>;
}

/// What the daemon's weekly review needs of a store: the week's rows, and which review went
/// to which receiver.
pub trait Reviews: Send {
    fn report_rows(&self, scope: &Scope, from: Ts, to: Ts, history_from: Ts) -> Result<ReportRows, StoreError>;
    fn report_sent(&self, week: &str, receiver: &str) -> Result<bool, StoreError>;
    fn record_report(&mut self, week: &str, receiver: &str, error: Option<&str>, now: Ts) -> Result<(), StoreError>;
}

impl Reviews for Sqlite {
    fn report_rows(&self, scope: &Scope, from: Ts, to: Ts, history_from: Ts) -> Result<ReportRows, StoreError> {
        Sqlite::report_rows(self, scope, from, to, history_from)
    }
    fn report_sent(&self, week: &str, receiver: &str) -> Result<bool, StoreError> {
        Sqlite::report_sent(self, week, receiver)
    }
    fn record_report(&mut self, week: &str, receiver: &str, error: Option<&str>, now: Ts) -> Result<(), StoreError> {
        Sqlite::record_report(self, week, receiver, error, now)
    }
}

/// An advisory as the store keeps it: the advisory, its scope and its lifecycle.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StoredAdvisory {
    #[serde(flatten)]
    pub advisory: Advisory,
    /// `account/region`.
    pub scope: String,
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
    /// Of `updated`, those whose severity changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// Open or acknowledged before, absent now.
    pub resolved: Vec<String>,
    /// Not seen for `EXPIRE_AFTER_S` while resolution was held back.
    pub expired: Vec<String>,
}

/// What a cycle needs to write its outbox rows (present when a receiver is configured).
#[derive(Clone, Debug, Default)]
pub struct NotifyWrite {
    /// Re-queue an unchanged open advisory not notified for this long (the shortest route
    /// repeat interval; each route's own then decides).
    pub repeat_s: i64,
    /// Resource tags by resource id, for routes that match on them.
    pub tags: std::collections::HashMap<String, Vec<(String, String)>>,
}

/// An advisory not seen for a week expires, even when partial snapshots kept it from being
/// resolved.
pub const EXPIRE_AFTER_S: i64 = 7 * 86_400;

/// A series found (its key and points), or the `resource:signal` names the store has.
pub type SeriesLookup = Result<(String, Vec<(Ts, f64)>), Vec<String>>;

/// The SQLite store.
pub struct Sqlite {
    conn: Connection,
}

impl Sqlite {
    /// Opens (creating if needed) the store at `path` and runs pending migrations.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let shown = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: shown.clone(),
            source,
        })?;
        Sqlite::init(conn, &shown)
    }

    /// Opens an existing store for reading only (`headroom advisories`, `forecast --series`):
    /// no migration, no write, no lock that a running daemon's writes would wait for. A store
    /// whose schema is older than this headroom's must be opened for writing once first.
    pub fn open_read_only(path: &Path) -> Result<Sqlite, StoreError> {
        let shown = path.display().to_string();
        match Sqlite::open_reading(path, &shown, false) {
            // A reader of a WAL database needs its -shm file, which it creates when it is
            // missing: on a read-only mount, or as a user who may not write the folder, that
            // fails. With no -wal file left (the last writer closed cleanly) the main file holds
            // everything, so it is read as immutable: no -shm, no locks.
            Err(StoreError::At { source, .. } | StoreError::Open { source, .. })
                if matches!(
                    source.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
                ) && wal_is_empty(path) =>
            {
                Sqlite::open_reading(path, &shown, true)
            }
            Err(StoreError::At { source, .. } | StoreError::Open { source, .. })
                if matches!(
                    source.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
                ) =>
            {
                Err(StoreError::At {
                    path: format!(
                        "{shown} (its -wal file holds writes not yet in the main file, and reading it needs a -shm file this user cannot create: read as the daemon's user, or after the daemon stops)"
                    ),
                    source,
                })
            }
            r => r,
        }
    }

    fn open_reading(path: &Path, shown: &str, immutable: bool) -> Result<Sqlite, StoreError> {
        use rusqlite::OpenFlags;
        let open_err = |source| StoreError::Open {
            path: shown.to_string(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = if immutable {
            Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI).map_err(open_err)?
        } else {
            Connection::open_with_flags(path, flags).map_err(open_err)?
        };
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_err)?;
        let store = Sqlite { conn };
        store.refuse_foreign(shown)?;
        let version = store.schema_version().map_err(|e| e.at(shown))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path: shown.to_string(),
                found: version,
                known,
            });
        }
        if version < known {
            return Err(StoreError::TooOld {
                path: shown.to_string(),
                found: version,
                known,
            });
        }
        Ok(store)
    }

    /// A store in memory (tests, `--dry-run`).
    pub fn in_memory() -> Result<Sqlite, StoreError> {
        Sqlite::init(Connection::open_in_memory()?, ":memory:")
    }

    fn init(conn: Connection, shown: &str) -> Result<Sqlite, StoreError> {
        let open_err = |source| StoreError::Open {
            path: shown.to_string(),
            source,
        };
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_err)?;
        let store = Sqlite { conn };
        store.refuse_foreign(shown)?;
        let conn = store.conn;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_err)?;
        let mut store = Sqlite { conn };
        store.migrate(shown)?;
        Ok(store)
    }

    /// Refuses a database that is not headroom's: another application's id, or tables
    /// without a headroom schema version (or a schema version without headroom's tables).
    fn refuse_foreign(&self, shown: &str) -> Result<(), StoreError> {
        let at = |e: rusqlite::Error| StoreError::Open {
            path: shown.to_string(),
            source: e,
        };
        let app: i64 = self.conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(at)?;
        let version: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(at)?;
        let tables: Vec<String> = {
            let mut st = self
                .conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
                .map_err(at)?;
            st.query_map([], |r| r.get(0)).map_err(at)?.collect::<Result<_, _>>().map_err(at)?
        };
        let foreign = |what: String| {
            Err(StoreError::Foreign {
                path: shown.to_string(),
                what,
            })
        };
        let listed = |t: &[String]| {
            let mut s = t.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            if t.len() > 5 {
                s.push_str(&format!(" and {} more", t.len() - 5));
            }
            s
        };
        if app != 0 && app != APPLICATION_ID {
            return foreign(format!("its SQLite application_id is {app:#x}, not headroom's {APPLICATION_ID:#x}"));
        }
        if app == 0 && version == 0 && !tables.is_empty() {
            return foreign(format!("it has tables ({}) but no headroom schema version", listed(&tables)));
        }
        if app == 0 && version > 0 && !["series", "snapshots", "advisories"].iter().all(|t| tables.iter().any(|n| n == t)) {
            return foreign(format!(
                "schema version {version} without headroom's tables (it has {})",
                if tables.is_empty() { "none".to_string() } else { listed(&tables) }
            ));
        }
        Ok(())
    }

    /// The file this store reads and writes (`:memory:` for one in memory).
    pub fn location(&self) -> String {
        match self.conn.path() {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => ":memory:".to_string(),
        }
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

    /// Moves rows written before scopes existed (scope '') to `default`, in one transaction:
    /// series, snapshots, rule states, outbox and audit rows take its key, spend its account,
    /// and advisories its key and their scoped fingerprint, so the advice they carry stays
    /// the same advisory (nothing is resolved and reopened by the upgrade). Returns how many
    /// rows moved; 0 once done.
    pub fn adopt_unscoped(&mut self, default: &Scope) -> Result<u64, StoreError> {
        let key = default.key();
        let tx = self.conn.transaction()?;
        let mut n = 0u64;
        for table in ["series", "series_ids", "snapshots", "rule_state", "outbox", "audit"] {
            n += tx.execute(&format!("UPDATE {table} SET scope = ?1 WHERE scope = ''"), params![key])? as u64;
        }
        n += tx.execute("UPDATE spend SET account = ?1 WHERE account = ''", params![default.account])? as u64;
        let legacy: Vec<String> = {
            let mut stmt = tx.prepare("SELECT fingerprint FROM advisories WHERE scope = ''")?;
            stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        {
            let mut rekey = tx.prepare("UPDATE advisories SET fingerprint = ?2, scope = ?3 WHERE fingerprint = ?1")?;
            for fp in &legacy {
                n += rekey.execute(params![fp, default.fingerprint(fp), key])? as u64;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// (taken_at, partial, sources) of a scope's newest snapshot.
    pub fn last_snapshot(&self, scope: &Scope) -> Result<Option<(Ts, bool, Vec<SourceStatus>)>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT taken_at, partial, sources FROM snapshots WHERE scope = ?1 ORDER BY id DESC LIMIT 1",
                params![scope.key()],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?, r.get::<_, String>(2)?)),
            )
            .optional()?;
        Ok(row.map(|(t, p, s)| (t, p, serde_json::from_str(&s).unwrap_or_default())))
    }

    pub fn count_snapshots(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM snapshots", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Names of the tables the schema has (for tests and `headroom check --json`).
    pub fn table_names(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Runs raw SQL on the store's connection: only for tests that inject a failure (a
    /// trigger that aborts a write) to check that a cycle's transaction is all or nothing.
    #[doc(hidden)]
    pub fn execute_batch_for_tests(&self, sql: &str) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch(sql)?)
    }
}

// Each error names the store file: the daemon's log and /healthz said "store: database or
// disk is full" without saying which file.
impl Store for Sqlite {
    fn load_window(&self, scope: &Scope, since: Ts) -> Result<Window, StoreError> {
        self.window(scope, since).map_err(|e| e.at(&self.location()))
    }
    fn rule_states(&self, scope: &Scope) -> Result<HashMap<(String, ResourceId), RuleState>, StoreError> {
        Sqlite::rule_states(self, scope).map_err(|e| e.at(&self.location()))
    }
    fn forecast_run_at(&self, scope: &Scope) -> Result<Option<Ts>, StoreError> {
        Sqlite::forecast_run_at(self, scope).map_err(|e| e.at(&self.location()))
    }
    fn each_outlook_body(&self, scope: &Scope, f: &mut dyn FnMut(&str)) -> Result<(), StoreError> {
        Sqlite::each_outlook_body(self, scope, f).map_err(|e| e.at(&self.location()))
    }
    fn spend_since(&self, account: &str, since_day: &str) -> Result<Vec<DailySpend>, StoreError> {
        Sqlite::spend_since(self, account, since_day).map_err(|e| e.at(&self.location()))
    }
    fn spend_fetched_at(&self, account: &str) -> Result<Option<Ts>, StoreError> {
        self.conn
            .query_row("SELECT at FROM spend_fetches WHERE account = ?1", params![account], |r| r.get(0))
            .optional()
            .map_err(|e| StoreError::Sql(e).at(&self.location()))
    }
    fn commit_cycle(&mut self, w: &CycleWrite) -> Result<Committed, StoreError> {
        Sqlite::commit_cycle(self, w).map_err(|e| e.at(&self.location()))
    }
}
