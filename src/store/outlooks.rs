//! Outlooks (the forecasts the advice uses between two forecast runs), by scope: replaced
//! whole by the cycle that makes them, read back after a start.
//!
//! May use: domain, rusqlite.

use super::{Documents, Sqlite, StoreError};
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
        let mut out = vec![];
        self.each_outlook_body(scope, &mut |b| out.push(b.to_string()))?;
        Ok(out)
    }

    /// The same, one document at a time, without holding them all.
    pub fn each_outlook_body(&self, scope: &Scope, f: &mut dyn FnMut(&str)) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare("SELECT body FROM outlooks WHERE scope = ?1 ORDER BY rowid")?;
        let mut rows = stmt.query(params![scope.key()])?;
        while let Some(row) = rows.next()? {
            f(row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?);
        }
        Ok(())
    }
}

/// Replaces a scope's outlooks (JSON documents keyed by resource and signal, encoded one at a
/// time as they are written) and records when they were computed.
pub(super) fn replace(tx: &Transaction, scope: &Scope, at: Ts, items: &dyn Documents) -> Result<(), StoreError> {
    let key = scope.key();
    tx.execute("DELETE FROM outlooks WHERE scope = ?1", params![key])?;
    let mut put =
        tx.prepare_cached("INSERT OR REPLACE INTO outlooks (scope, resource, signal, computed_at, body) VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for i in 0..items.len() {
        let (r, sig, body) = items.get(i)?;
        let sig = serde_json::to_string(&sig).map_err(|source| StoreError::Encode { what: "signal", source })?;
        put.execute(params![key, r.0, sig.trim_matches('"'), at, body])?;
    }
    tx.execute("INSERT OR REPLACE INTO forecast_runs (scope, at) VALUES (?1, ?2)", params![key, at])?;
    Ok(())
}
