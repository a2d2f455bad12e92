//! The runtime: the cycle function (the only code that knows the order of the stages), the
//! clock, and the daemon loop that runs cycles on the configured cron schedule — never two at
//! once — and drains on SIGTERM / Ctrl-C.
//!
//! Today a cycle is collect → store → forecast (when the forecast schedule has ticked since the
//! last run; else the stored outlooks) → analyze (alert rules, right-sizing, limits, DynamoDB,
//! tiers, spot mix, commitments, spend) → decide (advisories reconciled with the store's);
//! notify and report join it as they land.
//! May use: every stage, the store, config, domain.

use crate::analyze::outlook::{self, Outlook};
use crate::analyze::rules::{self, Evaluation, Event};
use crate::analyze::{commitments, dynamodb, limits, rightsize, spend, spot, tiers};
use crate::aws::Account;
use crate::collect::{self, Collected};
use crate::config::Config;
use crate::decide;
use crate::domain::*;
use crate::store::{Reconciled, SeriesWrite, Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use tracing::{Instrument, error, info, info_span};

/// Where "now" comes from: each cycle reads it once and passes it down.
pub trait Clock {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What one cycle did, for printing and metrics.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CycleReport {
    pub snapshot: Snapshot,
    /// Points fetched this cycle that the cache did not have.
    pub new_points: u64,
    pub metric_calls_planned: u64,
    pub metric_calls_lower_bound: u64,
    pub cached_points: u64,
    /// The cycle's advisories (everything that holds now), most severe first.
    pub advisories: Vec<Advisory>,
    /// Alert rules that started or stopped firing during the steps this cycle evaluated.
    pub rule_events: Vec<Event>,
    /// What changed in the store's advisories.
    pub reconciled: Reconciled,
    pub elapsed_ms: u64,
    /// The forecasts this cycle's advice used (made this cycle, or at the last forecast tick).
    pub outlooks: Vec<Outlook>,
    /// Whether this cycle made them (the forecast schedule ticked since the last run).
    pub forecast_ran: bool,
    /// Time spent making them, when it did.
    pub forecast_ms: u64,
}

/// The region's outlooks: recomputed when the forecast schedule has ticked since the last run
/// (or there was none), else the stored ones.
fn outlooks(
    cfg: &Config,
    store: &mut Store,
    snap: &Snapshot,
    region: &str,
    now: DateTime<Utc>,
) -> Result<(Vec<Outlook>, Option<u64>), StoreError> {
    let last = store.forecast_run_at(region)?;
    let sched = &cfg.headroom.schedule;
    let due = match last.and_then(|t| DateTime::from_timestamp(t, 0)) {
        None => true,
        Some(at) => sched
            .forecast
            .schedule
            .after(&at.with_timezone(&sched.timezone))
            .next()
            .is_some_and(|tick| tick.with_timezone(&Utc) <= now),
    };
    if !due {
        return Ok((store.outlooks(region)?, None));
    }
    let _s = info_span!("forecast").entered();
    let started = std::time::Instant::now();
    let fresh = outlook::compute(snap, &cfg.rules, &cfg.sizing, now.timestamp());
    let rows: Vec<_> = fresh.iter().map(|o| (o.resource.clone(), o.signal, o)).collect();
    store.save_outlooks(region, now.timestamp(), &rows)?;
    let ms = started.elapsed().as_millis() as u64;
    info!(outlooks = fresh.len(), elapsed_ms = ms, "forecasts made");
    Ok((fresh, Some(ms)))
}

/// Analyze and decide over a snapshot: alert rules (replayed from their persisted states)
/// right-sizing, ASG limits, DynamoDB capacity and spend → the advisories that hold now. Pure.
pub fn advise(
    cfg: &Config,
    snap: &Snapshot,
    prior: &HashMap<(String, ResourceId), RuleState>,
    outlooks: &[Outlook],
    now: Ts,
) -> (Evaluation, Vec<Advisory>) {
    let period = i64::from(cfg.headroom.collect.period_s);
    let eval = rules::evaluate(&cfg.rules, prior, snap, period, now);
    let mut advisories = decide::alerts(&cfg.rules, &eval.states);
    let sizes = rightsize::analyze(snap, &cfg.headroom.advice, &cfg.pricing, now);
    advisories.extend(decide::rightsize(&sizes, &snap.asgs));
    advisories.extend(decide::limits(&limits::analyze(snap, &cfg.headroom.advice, &cfg.pricing, now)));
    advisories.extend(decide::dynamodb(&dynamodb::analyze(snap, &cfg.headroom.advice, &cfg.pricing, now)));
    advisories.extend(decide::forecasts(outlooks, now));
    let fits = tiers::analyze(snap, &cfg.headroom.targets.asgs, &cfg.sizing, &cfg.pricing, outlooks, now);
    advisories.extend(decide::tiers(&fits));
    let mixes = spot::analyze(snap, &cfg.headroom.advice, &cfg.pricing, now);
    advisories.extend(decide::spot_mix(&mixes));
    // Commitments compose with the other advice: capacity a migration is about to move is
    // left out, and a group's on-demand part is the one its spot-mix advice proposes.
    let ctx = commitments::Context {
        excluded: fits
            .iter()
            .filter_map(|f| {
                let to = f.move_to.as_ref()?;
                Some((
                    f.resource.0.trim_start_matches("asg/").to_string(),
                    format!("a migration {} → {to} is advised", f.current),
                ))
            })
            .collect(),
        proposed_split: mixes
            .iter()
            .filter(|m| spot::worth_it(m))
            .map(|m| (m.asg.clone(), (m.on_demand_base, m.on_demand_pct_above_base)))
            .collect(),
        growth: outlooks
            .iter()
            .filter(|o| o.signal == Signal::DesiredCapacity)
            .filter_map(|o| Some((o.resource.0.trim_start_matches("asg/").to_string(), o.growth.clone()?)))
            .collect(),
    };
    advisories.extend(decide::commitments(&commitments::analyze(
        snap,
        &cfg.headroom.advice,
        &cfg.pricing,
        &ctx,
        now,
    )));
    if let Some(f) = spend::analyze(snap, now) {
        // The account's budget is the monthly range of the largest tier a service runs as.
        let band = fits
            .iter()
            .filter_map(|f| cfg.sizing.tiers.iter().find(|t| t.name == f.current))
            .max_by(|a, b| a.concurrent_users.0.total_cmp(&b.concurrent_users.0))
            .and_then(|t| t.monthly_cost_usd.map(|r| (t.name.as_str(), r)));
        advisories.extend(decide::spend(&f, band));
    }
    advisories.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.resource.cmp(&b.resource))
    });
    (eval, advisories)
}

/// The advisory kinds `advise` evaluates today (absent ones of these kinds get resolved).
pub const KINDS_EVALUATED: &[Kind] = &[
    Kind::Alert,
    Kind::Rightsize,
    Kind::AsgLimits,
    Kind::Tier,
    Kind::Commitment,
    Kind::SpotMix,
    Kind::Dynamodb,
    Kind::Forecast,
    Kind::Spend,
];

/// One cycle for one region: collect, store, and build the snapshot over the lookback.
pub async fn cycle<A: Account>(
    api: &A,
    cfg: &Config,
    store: &mut Store,
    region: &str,
    now: DateTime<Utc>,
) -> Result<CycleReport, StoreError> {
    let started = std::time::Instant::now();
    let span = info_span!("cycle", region, now = %now.format("%Y-%m-%dT%H:%M:%SZ"));
    async move {
        let frontiers = store.frontiers()?;
        let c: Collected = collect::collect(api, &cfg.headroom, region, now, &frontiers).await;
        let rows: Vec<SeriesWrite> = c
            .wanted
            .iter()
            .zip(&c.fetched)
            .zip(&c.fetched_through)
            .map(|((w, p), t)| SeriesWrite {
                resource: w.resource.clone(),
                signal: w.signal,
                query: w.query.clone(),
                points: p.clone(),
                fetched_through: *t,
            })
            .collect();
        let points_fetched: u64 = c.fetched.iter().map(|p| p.len() as u64).sum();
        let new_points = {
            let _s = info_span!("store").entered();
            let n = store.write_points(&rows)?;
            store.write_spend(&c.spend)?;
            n
        };
        let since = now.timestamp() - i64::from(cfg.headroom.collect.lookback_days) * 86_400;
        let mut series = Vec::with_capacity(c.wanted.len());
        for w in &c.wanted {
            series.push(Series {
                resource: w.resource.clone(),
                signal: w.signal,
                query: w.query.clone(),
                points: store.points(&w.query.key(), since)?,
            });
        }
        let spend_since = (now - Duration::days(i64::from(cfg.headroom.collect.spend_days)))
            .format("%Y-%m-%d")
            .to_string();
        let spend = store.spend_since(&spend_since)?;
        let snapshot = Snapshot {
            taken_at: now,
            region: region.to_string(),
            asgs: c.asgs,
            tables: c.tables,
            series,
            spend,
            sources: c.sources,
            api_calls: c.api_calls,
            points_fetched,
        };
        store.write_snapshot(&snapshot)?;
        let (outlooks, forecast_ms) = outlooks(cfg, store, &snapshot, region, now)?;
        let (eval, advisories, reconciled) = {
            let _s = info_span!("advise").entered();
            let prior = store.rule_states()?;
            let (eval, advisories) = advise(cfg, &snapshot, &prior, &outlooks, now.timestamp());
            let rec = store.save_advice(&eval.states, &advisories, KINDS_EVALUATED, snapshot.partial(), now.timestamp())?;
            (eval, advisories, rec)
        };
        store.prune(now.timestamp() - i64::from(cfg.headroom.store.retention_days) * 86_400)?;
        let report = CycleReport {
            outlooks,
            forecast_ran: forecast_ms.is_some(),
            forecast_ms: forecast_ms.unwrap_or(0),
            new_points,
            metric_calls_planned: c.metric_calls_planned,
            metric_calls_lower_bound: c.metric_calls_lower_bound,
            cached_points: store.count_points()?,
            advisories,
            rule_events: eval.events,
            reconciled,
            elapsed_ms: started.elapsed().as_millis() as u64,
            snapshot,
        };
        info!(
            partial = report.snapshot.partial(),
            api_calls = report.snapshot.api_calls.total(),
            points_fetched,
            new_points,
            advisories = report.advisories.len(),
            opened = report.reconciled.opened.len(),
            resolved = report.reconciled.resolved.len(),
            elapsed_ms = report.elapsed_ms,
            "cycle done"
        );
        Ok(report)
    }
    .instrument(span)
    .await
}

/// Waits for SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The daemon: one cycle per region at every tick of `schedule.collect`, in its time zone.
/// A cycle that is running when the signal comes finishes (its writes are transactions)
/// before the loop exits.
pub async fn run<A: Account>(apis: &[(String, A)], cfg: &Config, store: &mut Store, clock: &dyn Clock) -> Result<(), StoreError> {
    let sched = &cfg.headroom.schedule;
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    info!(cron = %sched.collect.expr, timezone = %sched.timezone, "headroom running");
    loop {
        let now = clock.now();
        let next = sched
            .collect
            .schedule
            .after(&now.with_timezone(&sched.timezone))
            .next()
            .map(|t| t.with_timezone(&Utc));
        let Some(next) = next else {
            error!("the collect schedule has no future tick; stopping");
            return Ok(());
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut shutdown => {
                info!("shutdown signal: stopping");
                return Ok(());
            }
        }
        let now = clock.now();
        for (region, api) in apis {
            if let Err(e) = cycle(api, cfg, store, region, now).await {
                error!(region = %region, error_type = "store", error = %e, "cycle failed");
            }
        }
    }
}
