//! Outlooks (the forecasts the advice uses between two forecast runs), by scope: replaced
//! whole by the cycle that makes them, read back after a start.
//!
//! May use: domain, rusqlite.

use super::{Sqlite, StoreError};
use crate::domain::*;
use rusqlite::{OptionalExtension, Transaction, params};

impl Sqlite {
    /// When a scope's outlooks were last computed, if ever.
    pub fn forecast_run_at(&self, scope: &Scope) -> Result<Option<Ts>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT at FROM forecast_runs WHERE scope = ?1", params![scope.key()], |r| r.get(0))
            .optional()?)
    }

    /// A scope's stored outlooks as JSON documents, in the order they were saved.
    pub fn outlook_bodies(&self, scope: &Scope) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT body FROM outlooks WHERE scope = ?1 ORDER BY rowid")?;
        let rows = stmt.query_map(params![scope.key()], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Replaces a scope's outlooks (JSON documents keyed by resource and signal) and records when
/// they were computed.
pub(super) fn replace(tx: &Transaction, scope: &Scope, at: Ts, items: &[(ResourceId, Signal, String)]) -> Result<(), StoreError> {
    let key = scope.key();
    tx.execute("DELETE FROM outlooks WHERE scope = ?1", params![key])?;
    let mut put =
        tx.prepare_cached("INSERT OR REPLACE INTO outlooks (scope, resource, signal, computed_at, body) VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for (r, sig, body) in items {
        let sig = serde_json::to_string(sig).map_err(|source| StoreError::Encode { what: "signal", source })?;
        put.execute(params![key, r.0, sig.trim_matches('"'), at, body])?;
    }
    tx.execute("INSERT OR REPLACE INTO forecast_runs (scope, at) VALUES (?1, ?2)", params![key, at])?;
    Ok(())
}
