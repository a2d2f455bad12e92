//! One scope's cycle: collect → merge into the scope's window → forecast when due → analyze →
//! decide → one store transaction. The scope's state lives in `ScopeState` between cycles;
//! the store is read only when a state is new (start-up, restart) or after a failed commit.
//!
//! May use: every stage, the store, config, domain.

use super::app::{Shared, lock};
use super::blocking;
use crate::analyze::outlook::{self, Outlook};
use crate::analyze::rules::Event;
use crate::analyze::{self, History};
use crate::aws::Account;
use crate::collect;
use crate::config::Config;
use crate::decide;
use crate::domain::*;
use crate::store::{CycleWrite, NotifyWrite, Reconciled, SeriesWrite, Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tracing::{Instrument, info, info_span, warn};

/// Cycle ids for the logs' `cycle` span.
static CYCLE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A boxed `Send` future: the cycle's, with its bound spelled out so the scheduler can spawn it.
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What one cycle did, for printing and metrics.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CycleReport {
    pub scope: Scope,
    pub snapshot: Arc<Snapshot>,
    /// Points fetched this cycle that the cache did not have.
    pub new_points: u64,
    pub metric_calls_planned: u64,
    pub metric_calls_lower_bound: u64,
    /// Points in the scope's window after this cycle.
    pub cached_points: u64,
    /// The cycle's advisories (everything that holds now), most severe first.
    pub advisories: Vec<Advisory>,
    /// Alert rules that started or stopped firing during the steps this cycle evaluated.
    pub rule_events: Vec<Event>,
    /// What changed in the store's advisories.
    pub reconciled: Reconciled,
    pub elapsed_ms: u64,
    /// The forecasts this cycle's advice used (made this cycle, or at the last forecast tick).
    pub outlooks: Arc<Vec<Outlook>>,
    /// Whether this cycle made them (the forecast schedule ticked since the last run).
    pub forecast_ran: bool,
    /// Time spent making them, when it did.
    pub forecast_ms: u64,
    /// Time spent reading the scope's state from the store (its first cycle only).
    pub load_ms: u64,
    /// Time spent in the store's transaction.
    pub commit_ms: u64,
    /// Time spent analyzing and deciding.
    pub advise_ms: u64,
}

/// What a scope keeps between cycles. `ScopeState::new` is empty: the first cycle reads the
/// scope's window, frontiers, rule states, outlooks and spend from the store.
pub struct ScopeState {
    pub scope: Scope,
    /// Whether this scope reads the account's spend (Cost Explorer is account-wide: the first
    /// region of each account does).
    pub with_spend: bool,
    loaded: bool,
    /// The lookback window, in the order of the last cycle's wanted series.
    series: Arc<Vec<Series>>,
    /// Points read from the store at start-up for series no cycle has wanted yet.
    spare: HashMap<String, Points>,
    frontiers: HashMap<String, Ts>,
    rule_states: HashMap<(String, ResourceId), RuleState>,
    outlooks: Arc<Vec<Outlook>>,
    forecast_at: Option<Ts>,
    spend: BTreeMap<(String, String), Money>,
    /// When the account's spend was last read from Cost Explorer.
    spend_fetched_at: Option<Ts>,
}

impl ScopeState {
    pub fn new(scope: Scope, with_spend: bool) -> ScopeState {
        ScopeState {
            scope,
            with_spend,
            loaded: false,
            series: Arc::default(),
            spare: HashMap::new(),
            frontiers: HashMap::new(),
            rule_states: HashMap::new(),
            outlooks: Arc::default(),
            forecast_at: None,
            spend: BTreeMap::new(),
            spend_fetched_at: None,
        }
    }

    /// Points held in memory.
    pub fn points(&self) -> u64 {
        self.series.iter().map(|s| s.points.len() as u64).sum::<u64>() + self.spare.values().map(|v| v.len() as u64).sum::<u64>()
    }

    /// Bytes the window's points hold on the heap (`Points::heap_bytes`), and the forecasts'
    /// (their three 14-day hourly lines and their lines' labels; an estimate).
    pub fn held_bytes(&self) -> (usize, usize) {
        let window =
            self.series.iter().map(|s| s.points.heap_bytes()).sum::<usize>() + self.spare.values().map(|p| p.heap_bytes()).sum::<usize>();
        let outlooks = self.outlooks.iter().map(Outlook::heap_bytes).sum();
        (window, outlooks)
    }

    /// Forgets everything: the next cycle reads the store again (after a failed commit, the
    /// memory may be ahead of the store).
    fn reset(&mut self) {
        *self = ScopeState::new(self.scope.clone(), self.with_spend);
    }
}

/// A forecast run's outlooks for the store, each encoded as the transaction writes it.
#[derive(Debug)]
struct Encoded(Arc<Vec<Outlook>>);

impl crate::store::Documents for Encoded {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, i: usize) -> Result<(ResourceId, Signal, String), StoreError> {
        let o = &self.0[i];
        let body = serde_json::to_string(o).map_err(|source| StoreError::Encode { what: "outlook", source })?;
        Ok((o.resource.clone(), o.signal, body))
    }
}

/// Whether the forecast schedule has ticked since `last` (or there was no run).
fn forecast_due(cfg: &Config, last: Option<Ts>, now: DateTime<Utc>) -> bool {
    let sched = &cfg.headroom.schedule;
    match last.and_then(|t| DateTime::from_timestamp(t, 0)) {
        None => true,
        Some(at) => sched
            .forecast
            .schedule
            .after(&at.with_timezone(&sched.timezone))
            .next()
            .is_some_and(|tick| tick.with_timezone(&Utc) <= now),
    }
}

/// Whether the account's spend is read this cycle: in its spend scope, when it never was, or
/// when the spend schedule (UTC: Cost Explorer's days are UTC days) has ticked since.
fn spend_due(cfg: &Config, state: &ScopeState, now: DateTime<Utc>) -> bool {
    if !state.with_spend {
        return false;
    }
    match state.spend_fetched_at.and_then(|t| DateTime::from_timestamp(t, 0)) {
        None => true,
        Some(at) => cfg
            .headroom
            .schedule
            .spend
            .schedule
            .after(&at)
            .next()
            .is_some_and(|tick| tick <= now),
    }
}

/// Reads what a new state needs from the store.
async fn load<S: Store + 'static>(cfg: &Config, store: &Shared<S>, state: &mut ScopeState, now: DateTime<Utc>) -> Result<(), StoreError> {
    let scope = state.scope.clone();
    let since = now.timestamp() - i64::from(cfg.headroom.collect.lookback_days) * 86_400;
    let spend_since = (now - Duration::days(i64::from(cfg.headroom.collect.spend_days)))
        .format("%Y-%m-%d")
        .to_string();
    let with_spend = state.with_spend;
    let store = store.clone();
    let (window, rule_states, forecast_at, (decoded, stored), (spend, spend_at)) = blocking(move || -> Result<_, StoreError> {
        let s = lock(&store);
        let spend = if with_spend {
            (s.spend_since(&scope.account, &spend_since)?, s.spend_fetched_at(&scope.account)?)
        } else {
            (vec![], None)
        };
        // Decoded as they are read (their JSON is 150 MB at fleet scale).
        let (mut decoded, mut stored) = (Vec::<Outlook>::new(), 0usize);
        s.each_outlook_body(&scope, &mut |body| {
            stored += 1;
            decoded.extend(serde_json::from_str(body).ok());
        })?;
        Ok((
            s.load_window(&scope, since)?,
            s.rule_states(&scope)?,
            s.forecast_run_at(&scope)?,
            (decoded, stored),
            spend,
        ))
    })
    .await?;
    state.spare = window.points;
    state.frontiers = window.frontiers;
    state.series = Arc::default();
    state.rule_states = rule_states;
    // Documents that no longer decode (an upgrade changed their shape) are dropped, and the
    // forecasts are made again this cycle.
    state.forecast_at = if decoded.len() == stored { forecast_at } else { None };
    state.outlooks = Arc::new(decoded);
    state.spend = spend.into_iter().map(|d| ((d.day, d.service), d.amount)).collect();
    state.spend_fetched_at = spend_at;
    state.loaded = true;
    Ok(())
}

/// One cycle of one scope at `now`. On a store error nothing of the cycle is kept (the
/// transaction rolled back) and the state is reset, so the next cycle starts from the store.
///
/// The future is boxed with its `Send` bound spelled out, so the scheduler can spawn it (the
/// compiler cannot prove a generic async fn's future `Send` for every lifetime).
pub fn cycle<'a, A: Account, S: Store + 'static>(
    api: &'a A,
    cfg: &'a Arc<Config>,
    store: &'a Shared<S>,
    state: &'a mut ScopeState,
    now: DateTime<Utc>,
) -> BoxFuture<'a, Result<CycleReport, StoreError>> {
    Box::pin(async move {
        // One span per cycle: its id (unique in the process, in start order), scope and time.
        let id = CYCLE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let span = info_span!("cycle", id, scope = %state.scope, now = %now.format("%Y-%m-%dT%H:%M:%SZ"));
        let out = run_cycle(api, cfg, store, state, now).instrument(span).await;
        if out.is_err() {
            state.reset();
        }
        out
    })
}

/// A cycle up to its transaction: collected, merged, forecast when due, analyzed, decided.
struct Prepared {
    started: std::time::Instant,
    load_ms: u64,
    spend: Vec<DailySpend>,
    spend_read: bool,
    writes: Vec<SeriesWrite>,
    snapshot: Arc<Snapshot>,
    outlooks: Arc<Vec<Outlook>>,
    fresh: Option<Arc<Vec<Outlook>>>,
    forecast_ms: u64,
    advise_ms: u64,
    evaluation: analyze::rules::Evaluation,
    advisories: Vec<Advisory>,
    metric_calls_planned: u64,
    metric_calls_lower_bound: u64,
    points_fetched: u64,
}

/// What fresh data says of one scope now, without writing anything: the scope's window and
/// rule states read from the store, what CloudWatch and the inventory add since, analyzed
/// and decided as a cycle would. `headroom apply` decides on this, never on the store's last
/// cycle alone (which may be old).
pub async fn evaluate<A: Account, S: Store + 'static>(
    api: &A,
    cfg: &Arc<Config>,
    store: &Shared<S>,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<(Arc<Snapshot>, Vec<Advisory>), StoreError> {
    let mut state = ScopeState::new(scope, false);
    // The stored forecasts stand: a decision to apply needs no new forecast run.
    let p = prepare(api, cfg, store, &mut state, now, false).await?;
    Ok((p.snapshot, p.advisories))
}

async fn run_cycle<A: Account, S: Store + 'static>(
    api: &A,
    cfg: &Arc<Config>,
    store: &Shared<S>,
    state: &mut ScopeState,
    now: DateTime<Utc>,
) -> Result<CycleReport, StoreError> {
    let prepared = prepare(api, cfg, store, state, now, true).await?;
    commit(cfg, store, state, now, prepared).await
}

async fn prepare<A: Account, S: Store + 'static>(
    api: &A,
    cfg: &Arc<Config>,
    store: &Shared<S>,
    state: &mut ScopeState,
    now: DateTime<Utc>,
    may_forecast: bool,
) -> Result<Prepared, StoreError> {
    let started = std::time::Instant::now();
    let mut load_ms = 0;
    if !state.loaded {
        let t = std::time::Instant::now();
        load(cfg, store, state, now).instrument(info_span!("load")).await?;
        load_ms = t.elapsed().as_millis() as u64;
    }
    let read_spend = spend_due(cfg, state, now);
    let calls = collect::CallLog::default();
    let collecting = collect::collect(api, &cfg.headroom, &state.scope, now, &state.frontiers, read_spend, &calls);
    // The collection's deadline: an endpoint that accepts and never answers cannot hold the
    // cycle (or a shutdown) for the SDK's full retries; what did not come is fetched next cycle.
    let deadline = std::time::Duration::from_secs(cfg.headroom.collect.deadline_s);
    let c = match tokio::time::timeout(deadline, collecting).await {
        Ok(c) => c,
        Err(_) => {
            warn!(scope = %state.scope, deadline_s = deadline.as_secs(), error_type = "deadline", "collection missed its deadline; the cycle goes on partial");
            collect::missed_deadline(&state.scope, now, deadline.as_secs(), calls.snapshot())
        }
    };

    // ---- the window: merge what was fetched, trim to the lookback, follow the wanted order.
    let since = now.timestamp() - i64::from(cfg.headroom.collect.lookback_days) * 86_400;
    let previous = std::mem::take(&mut state.series);
    let previous: Vec<Series> = Arc::try_unwrap(previous).unwrap_or_else(|shared| (*shared).clone());
    // The window so far: the last cycle's series, or what the store held at start-up.
    let mut by_key: HashMap<String, Points> = std::mem::take(&mut state.spare);
    by_key.extend(previous.into_iter().map(|s| (s.query.key(), s.points)));
    let mut series = Vec::with_capacity(c.wanted.len());
    let mut writes = Vec::with_capacity(c.wanted.len());
    let points_fetched: u64 = c.fetched.iter().map(|p| p.len() as u64).sum();
    // `wanted` is consumed: its resources and queries move into the window's series (at fleet
    // scale each copy of them is megabytes; the store's write takes the one other copy).
    for ((w, fetched), through) in c.wanted.into_iter().zip(c.fetched).zip(&c.fetched_through) {
        let key = w.query.key();
        let mut points = by_key.remove(&key).unwrap_or_default();
        points.merge(&fetched);
        points.retain_since(since);
        // Older than the last hour or so: 12 bits a point (`Points`). The store keeps the
        // fetched points exact.
        // Sums (consumed capacity, requests) at 16 bits: their advice rounds up to units. The
        // store's start-up read decides the same from the same key.
        points.compact_with(i64::from(w.query.period_s), MetricQuery::sum_of_key(&key));
        let frontier = [state.frontiers.get(&key).copied(), *through, fetched.last().map(|p| p.0)]
            .into_iter()
            .flatten()
            .max();
        if let Some(f) = frontier {
            state.frontiers.insert(key, f);
        }
        writes.push(SeriesWrite {
            resource: w.resource.clone(),
            signal: w.signal,
            query: w.query.clone(),
            points: fetched,
            fetched_through: *through,
        });
        series.push(Series {
            resource: w.resource,
            signal: w.signal,
            query: w.query,
            points,
        });
    }
    let series = Arc::new(series);
    // Series not wanted this cycle (their group's inventory failed, or it is gone) keep their
    // points for a later cycle, trimmed to the lookback: their frontiers stay, so dropping the
    // points here would leave a window with a hole the incremental fetch never fills again.
    for pts in by_key.values_mut() {
        pts.retain_since(since);
    }
    by_key.retain(|_, pts| !pts.is_empty());
    state.spare = by_key;
    let spend_since = (now - Duration::days(i64::from(cfg.headroom.collect.spend_days)))
        .format("%Y-%m-%d")
        .to_string();
    // Read, and read whole: Cost Explorer answered (a failed read is retried next cycle).
    let spend_read = read_spend && c.sources.iter().any(|s| s.source == "costexplorer" && s.ok);
    for d in &c.spend {
        state.spend.insert((d.day.clone(), d.service.clone()), d.amount);
    }
    state.spend.retain(|(day, _), _| *day >= spend_since);
    let spend: Vec<DailySpend> = state
        .spend
        .iter()
        .map(|((day, service), amount)| DailySpend {
            day: day.clone(),
            service: service.clone(),
            amount: *amount,
        })
        .collect();
    let snapshot = Arc::new(Snapshot {
        taken_at: now,
        scope: state.scope.clone(),
        asgs: c.asgs,
        tables: c.tables,
        series: series.clone(),
        index: Default::default(),
        spend,
        spend_fetched_at: if spend_read {
            Some(now.timestamp())
        } else {
            state.spend_fetched_at
        },
        sources: c.sources,
        api_calls: c.api_calls,
        points_fetched,
    });

    // ---- forecast when due, analyze, decide: CPU work, off the reactor.
    let due = may_forecast && forecast_due(cfg, state.forecast_at, now);
    // Taken, not shared: a forecast run drops the old forecasts before it makes new ones (the
    // state gets the cycle's forecasts back below; a failed cycle resets it anyway).
    let (cfg2, snap2, prior_outlooks) = (cfg.clone(), snapshot.clone(), std::mem::take(&mut state.outlooks));
    let rule_states = std::mem::take(&mut state.rule_states);
    let span = tracing::Span::current();
    let (rule_states, outlooks, fresh, forecast_ms, advise_ms, evaluation, advisories) = blocking(move || {
        let _g = span.enter();
        // What collecting and merging freed goes back before analysis allocates.
        super::trim_memory();
        let ts = now.timestamp();
        let (outlooks, fresh, forecast_ms) = if due {
            drop(prior_outlooks);
            let _s = info_span!("forecast").entered();
            let t = std::time::Instant::now();
            let made = Arc::new(outlook::compute(&snap2, &cfg2.rules, &cfg2.sizing, ts));
            let ms = t.elapsed().as_millis() as u64;
            info!(outlooks = made.len(), elapsed_ms = ms, "forecasts made");
            (made.clone(), Some(made), ms)
        } else {
            (prior_outlooks, None, 0)
        };
        let _s = info_span!("advise").entered();
        let t = std::time::Instant::now();
        let history = History {
            rule_states: &rule_states,
            outlooks: &outlooks,
        };
        let findings = analyze::analyze(&snap2, &history, &cfg2, ts);
        let advisories = decide::decide(&findings, ts);
        let evaluation = findings.evaluation;
        let advise_ms = t.elapsed().as_millis() as u64;
        (rule_states, outlooks, fresh, forecast_ms, advise_ms, evaluation, advisories)
    })
    .await;
    state.rule_states = rule_states;
    Ok(Prepared {
        started,
        load_ms,
        spend: c.spend,
        spend_read,
        writes,
        snapshot,
        outlooks,
        fresh,
        forecast_ms,
        advise_ms,
        evaluation,
        advisories,
        metric_calls_planned: c.metric_calls_planned,
        metric_calls_lower_bound: c.metric_calls_lower_bound,
        points_fetched,
    })
}

async fn commit<S: Store + 'static>(
    cfg: &Arc<Config>,
    store: &Shared<S>,
    state: &mut ScopeState,
    now: DateTime<Utc>,
    p: Prepared,
) -> Result<CycleReport, StoreError> {
    let Prepared {
        started,
        load_ms,
        spend,
        spend_read,
        writes,
        snapshot,
        outlooks,
        fresh,
        forecast_ms,
        advise_ms,
        evaluation,
        advisories,
        metric_calls_planned,
        metric_calls_lower_bound,
        points_fetched,
    } = p;
    // ---- one transaction.
    let write = CycleWrite {
        scope: state.scope.clone(),
        now: now.timestamp(),
        series: writes,
        spend,
        spend_fetched: spend_read,
        snapshot: snapshot.clone(),
        outlooks: fresh
            .as_ref()
            .map(|made| Arc::new(Encoded(made.clone())) as Arc<dyn crate::store::Documents>),
        // Moved, not copied: at fleet scale the rule states (11 a group) and advisories are
        // tens of MiB, and the write hands them back after the commit.
        rule_states: evaluation.states,
        advisories,
        hold_resolution: snapshot.partial(),
        prune_before: Some(now.timestamp() - i64::from(cfg.headroom.store.retention_days) * 86_400),
        notify: cfg.headroom.notify.enabled().then(|| NotifyWrite {
            repeat_s: cfg.headroom.notify.shortest_repeat_s() as i64,
            tags: snapshot.asgs.iter().map(|a| (ResourceId::asg(&a.name).0, a.tags.clone())).collect(),
        }),
    };
    let t = std::time::Instant::now();
    let handle = store.clone();
    let (committed, write) = blocking(move || {
        let _s = info_span!("store").entered();
        // And what analysis freed, before the transaction's statements and pages.
        super::trim_memory();
        let committed = lock(&handle).commit_cycle(&write);
        (committed, write)
    })
    .await;
    let committed = committed?;
    let commit_ms = t.elapsed().as_millis() as u64;
    let CycleWrite {
        rule_states: states,
        advisories,
        ..
    } = write;

    // ---- the state follows the store only once the store has it.
    for s in states {
        state.rule_states.insert((s.rule.clone(), s.resource.clone()), s);
    }
    if fresh.is_some() {
        state.forecast_at = Some(now.timestamp());
    }
    if spend_read {
        state.spend_fetched_at = Some(now.timestamp());
    }
    state.outlooks = outlooks.clone();
    state.series = snapshot.series.clone();
    let report = CycleReport {
        scope: state.scope.clone(),
        outlooks,
        forecast_ran: fresh.is_some(),
        forecast_ms,
        new_points: committed.new_points,
        metric_calls_planned,
        metric_calls_lower_bound,
        cached_points: state.points(),
        advisories,
        rule_events: evaluation.events,
        reconciled: committed.reconciled,
        elapsed_ms: started.elapsed().as_millis() as u64,
        load_ms,
        commit_ms,
        advise_ms,
        snapshot,
    };
    if report.snapshot.partial() {
        warn!(scope = %report.scope, failed = ?report.snapshot.failed_sources().iter().map(|s| s.source.as_str()).collect::<Vec<_>>(), "partial cycle: absent advisories are held, not resolved");
    }
    info!(
        partial = report.snapshot.partial(),
        api_calls = report.snapshot.api_calls.total(),
        points_fetched,
        new_points = report.new_points,
        advisories = report.advisories.len(),
        opened = report.reconciled.opened.len(),
        resolved = report.reconciled.resolved.len(),
        elapsed_ms = report.elapsed_ms,
        "cycle done"
    );
    Ok(report)
}
