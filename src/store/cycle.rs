//! One cycle's writes in one transaction: the points fetched, the account's spend, the
//! snapshot's inventory and source status, the outlooks when the cycle made them, the
//! advisories reconciled with the stored ones, the rule states, and retention. A crash or an
//! error anywhere inside leaves the store as the previous cycle left it; the next cycle
//! re-fetches from the unchanged frontiers.
//!
//! May use: domain, rusqlite.

use super::{NotifyWrite, Reconciled, SeriesWrite, Sqlite, StoreError, advice, outlooks, series};
use crate::domain::*;
use rusqlite::params;

/// Everything one cycle of one scope writes.
#[derive(Clone, Debug)]
pub struct CycleWrite {
    pub scope: Scope,
    pub now: Ts,
    pub series: Vec<SeriesWrite>,
    /// The account's spend as Cost Explorer reported it this cycle (empty when not read).
    pub spend: Vec<DailySpend>,
    /// Whether this cycle read the account's spend successfully (its time is recorded).
    pub spend_fetched: bool,
    /// The snapshot whose inventory, source status and API calls are recorded (its series
    /// are not: they are the points above).
    pub snapshot: std::sync::Arc<Snapshot>,
    /// The outlooks, when this cycle made them (encoded as they are written).
    pub outlooks: Option<std::sync::Arc<dyn Documents>>,
    pub rule_states: Vec<RuleState>,
    pub advisories: Vec<Advisory>,
    /// The snapshot was partial: absent advisories are held, not resolved.
    pub hold_resolution: bool,
    /// Drop the scope's points, snapshots and spend older than this.
    pub prune_before: Option<Ts>,
    /// Write outbox rows for the advisory changes (None: no receiver is configured).
    pub notify: Option<NotifyWrite>,
}

/// JSON documents the transaction encodes one at a time as it writes them: at fleet scale a
/// forecast run's 15,000 outlooks are 150 MB of JSON, which encoded all at once before the
/// transaction were most of that cycle's peak.
pub trait Documents: Send + Sync + std::fmt::Debug {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Document `i` (below `len`): whose it is, its signal and its JSON body.
    fn get(&self, i: usize) -> Result<(ResourceId, Signal, String), StoreError>;
}

/// What a committed cycle changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Committed {
    /// Points new to the cache (the rest replaced cached ones).
    pub new_points: u64,
    pub reconciled: Reconciled,
    /// Rows retention removed.
    pub pruned: u64,
}

impl Sqlite {
    /// Writes one cycle in one transaction (see the module doc).
    pub fn commit_cycle(&mut self, w: &CycleWrite) -> Result<Committed, StoreError> {
        let key = w.scope.key();
        let tx = self.conn.transaction()?;
        let new_points = series::write_points(&tx, &key, &w.series)?;
        series::write_spend(&tx, &w.scope.account, &w.spend)?;
        if w.spend_fetched {
            tx.execute(
                "INSERT OR REPLACE INTO spend_fetches (account, at) VALUES (?1, ?2)",
                params![w.scope.account, w.now],
            )?;
        }
        let s = &w.snapshot;
        let enc = |what: &'static str, v: serde_json::Result<String>| v.map_err(|source| StoreError::Encode { what, source });
        tx.execute(
            "INSERT INTO snapshots (taken_at, region, partial, sources, asgs, tables, api_calls, points_fetched, scope)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                s.taken_at.timestamp(),
                s.scope.region,
                s.partial(),
                enc("sources", serde_json::to_string(&s.sources))?,
                enc("asgs", serde_json::to_string(&s.asgs))?,
                enc("tables", serde_json::to_string(&s.tables))?,
                enc("api_calls", serde_json::to_string(&s.api_calls))?,
                s.points_fetched as i64,
                key,
            ],
        )?;
        if let Some(items) = &w.outlooks {
            outlooks::replace(&tx, &w.scope, w.now, items.as_ref())?;
        }
        let reconciled = advice::reconcile(&tx, &w.scope, &w.advisories, w.hold_resolution, w.now, w.notify.as_ref())?;
        advice::write_rule_states(&tx, &w.scope, &w.rule_states)?;
        let pruned = match w.prune_before {
            Some(before) => {
                // Delivery's history ages out with the rest: routed outbox rows and finished
                // notifications (pending ones stay until they are sent).
                let mut n = series::prune(&tx, &w.scope, before)?;
                n += tx.execute(
                    "DELETE FROM outbox WHERE scope = ?1 AND routed_at IS NOT NULL AND at < ?2",
                    params![key, before],
                )? as u64;
                n += tx.execute(
                    "DELETE FROM notifications WHERE state != 'pending' AND created_at < ?1",
                    params![before],
                )? as u64;
                n += tx.execute("DELETE FROM advisory_history WHERE scope = ?1 AND at < ?2", params![key, before])? as u64;
                n
            }
            None => 0,
        };
        tx.commit()?;
        Ok(Committed {
            new_points,
            reconciled,
            pruned,
        })
    }
}
