//! Analysis: a Snapshot (and the series history it carries) plus the config → findings.
//! `rules` runs the alert rules' state machines, `rightsize` sizes each Auto Scaling group
//! against its utilization, `limits` checks whether its max or min is in the way, `dynamodb` weighs each table's capacity mode and size, `spend`
//! holds Cost Explorer spend against traffic, `tiers` places each service in a sizing tier, `commitments` sizes RIs, Savings Plans and
//! DynamoDB reserved capacity, `spot` proposes each group's spot mix, `forecast` is the forecasting model and `outlook` applies it to each resource's capacity signals; `stats` holds the window statistics.
//!
//! `analyze` is the stage's entry point: one scope's snapshot and its history (persisted rule
//! states, outlooks) → `Findings`, which `decide::decide` turns into advisories. Adding an
//! advisory kind touches `domain::Kind`, one file here and one in `decide`.
//!
//! Pure and synchronous: no I/O, `now` is a parameter. May use: domain, config, model.

pub mod commitments;
pub mod dynamodb;
pub mod forecast;
pub mod limits;
pub mod outlook;
pub mod rightsize;
pub mod rules;
pub mod spend;
pub mod spot;
pub mod stats;
pub mod tiers;

#[cfg(test)]
pub(crate) mod fixtures;

use crate::config::{Config, Rule};
use crate::domain::{AsgState, ResourceId, RuleState, Scope, Signal, Snapshot, Ts};
use std::collections::HashMap;

/// Advice a kind held back for a resource, and why: too little history, or data that could
/// not be fetched this cycle (then the source and its error are named: missing data is not
/// the same as short history).
#[derive(Clone, Debug, PartialEq)]
pub struct HeldBack {
    pub kind: crate::domain::Kind,
    pub resource: ResourceId,
    pub history_hours: f64,
    pub needed_hours: f64,
    /// `source: reason` of a metrics source that failed this cycle, if one did.
    pub unfetched: Option<String>,
    /// What was held back when a kind has several per resource (a forecast's signal).
    pub subject: Option<String>,
}

impl HeldBack {
    pub fn new(kind: crate::domain::Kind, resource: ResourceId, snap: &Snapshot, history_hours: f64, needed_hours: f64) -> HeldBack {
        HeldBack {
            kind,
            resource,
            history_hours,
            needed_hours,
            unfetched: unfetched(snap),
            subject: None,
        }
    }
}

/// The first metrics source that failed this cycle, as `source: reason`.
pub fn unfetched(snap: &Snapshot) -> Option<String> {
    snap.sources
        .iter()
        .find(|s| !s.ok && ["cloudwatch", "cloudwatch:percentiles", "deadline", "sts:AssumeRole"].contains(&s.source.as_str()))
        .map(|s| format!("{}: {}", s.source, s.reason.as_deref().unwrap_or("failed")))
}

/// What analysis needs besides the snapshot: what earlier cycles left.
#[derive(Clone, Copy, Debug)]
pub struct History<'a> {
    /// The alert rules' persisted states, by (rule, resource).
    pub rule_states: &'a HashMap<(String, ResourceId), RuleState>,
    /// The forecasts made at the last forecast run (or this cycle).
    pub outlooks: &'a [outlook::Outlook],
}

/// Everything analysis found in one scope's snapshot: the input of `decide::decide`.
#[derive(Clone, Debug)]
pub struct Findings<'a> {
    pub scope: Scope,
    pub rules: &'a [Rule],
    pub asgs: &'a [AsgState],
    /// The tables as DescribeTable showed them this cycle (what table advice is decided against).
    pub table_states: &'a [crate::domain::TableState],
    /// The alert rules replayed over the steps since their last evaluation.
    pub evaluation: rules::Evaluation,
    pub sizes: Vec<rightsize::Rightsize>,
    pub limits: Vec<limits::Limits>,
    pub tables: Vec<dynamodb::TableFinding>,
    pub outlooks: &'a [outlook::Outlook],
    pub fits: Vec<tiers::TierFit>,
    pub mixes: Vec<spot::SpotMix>,
    pub commitments: Vec<commitments::Commitment>,
    pub spend: Option<spend::SpendFinding>,
    /// The account's budget: the sum of the monthly cost ranges of the tiers its services run
    /// as, with their names.
    pub budget: Option<(String, (f64, f64))>,
    /// Advice held back, per kind and resource, with why.
    pub held: Vec<HeldBack>,
    /// Each service (group with a tier fit) whose instances cost more per month on demand than
    /// its own tier's budget: (resource, tier, monthly cost, budget range).
    pub over_tier_budget: Vec<(ResourceId, String, crate::domain::Money, (f64, f64))>,
}

/// Analyzes one scope's snapshot against the config and what earlier cycles left. Pure: the
/// order matters only where one finding feeds another (tier fits and spot mixes shape the
/// commitments; tier fits set the spend budget).
pub fn analyze<'a>(snap: &'a Snapshot, history: &History<'a>, cfg: &'a Config, now: Ts) -> Findings<'a> {
    let h = &cfg.headroom;
    let period = i64::from(h.collect.period_s);
    let evaluation = rules::evaluate(&cfg.rules, history.rule_states, snap, period, now);
    let outlooks = history.outlooks;
    let fits = tiers::analyze(snap, &h.targets.asgs, &cfg.sizing, &cfg.pricing, outlooks, now);
    let mut held = outlook::held_back(snap, outlooks);
    let mixes = spot::analyze_held(snap, &h.advice, &cfg.pricing, now, &mut held);
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
    // The account's budget is the sum of the monthly ranges of the tiers its services run as
    // (one service per tier fit), named as "medium × 2 + small".
    let mut counts: Vec<(&str, usize, (f64, f64))> = Vec::new();
    for f in &fits {
        let Some(t) = cfg.sizing.tiers.iter().find(|t| t.name == f.current) else {
            continue;
        };
        let Some(range) = t.monthly_cost_usd else { continue };
        match counts.iter_mut().find(|c| c.0 == t.name) {
            Some(c) => c.1 += 1,
            None => counts.push((t.name.as_str(), 1, range)),
        }
    }
    let budget = (!counts.is_empty()).then(|| {
        let name = counts
            .iter()
            .map(|(n, k, _)| if *k > 1 { format!("{n} × {k}") } else { n.to_string() })
            .collect::<Vec<_>>()
            .join(" + ");
        let lo = counts.iter().map(|(_, k, r)| *k as f64 * r.0).sum();
        let hi = counts.iter().map(|(_, k, r)| *k as f64 * r.1).sum();
        (name, (lo, hi))
    });
    // Each service against its own tier's budget: in-service instances of its main type at the
    // on-demand rate × 730 h.
    let mut over_tier_budget = Vec::new();
    for f in &fits {
        let Some(t) = cfg.sizing.tiers.iter().find(|t| t.name == f.current) else {
            continue;
        };
        let Some((lo, hi)) = t.monthly_cost_usd else { continue };
        let Some(g) = snap.asgs.iter().find(|g| ResourceId::asg(&g.name) == f.resource) else {
            continue;
        };
        let Some((ty, _)) = g.instance_types.iter().max_by_key(|(_, n)| *n) else {
            continue;
        };
        let Some(p) = cfg.pricing.instances.get(ty) else { continue };
        let monthly = crate::domain::Money(
            (f64::from(g.in_service.max(0)) * p.on_demand_hourly.0 as f64 * crate::model::units::HOURS_PER_MONTH).round() as i64,
        );
        if monthly.as_usd_f64() > hi {
            over_tier_budget.push((f.resource.clone(), t.name.clone(), monthly, (lo, hi)));
        }
    }
    Findings {
        scope: snap.scope.clone(),
        rules: &cfg.rules,
        asgs: &snap.asgs,
        table_states: &snap.tables,
        evaluation,
        sizes: rightsize::analyze(snap, &h.advice, &cfg.pricing, now),
        limits: limits::analyze_held(snap, &h.advice, &cfg.pricing, now, &mut held),
        tables: dynamodb::analyze_held(snap, &h.advice, &cfg.pricing, now, &mut held),
        outlooks,
        commitments: commitments::analyze(snap, &h.advice, &cfg.pricing, &ctx, now),
        fits,
        mixes,
        spend: spend::analyze(snap, now),
        budget,
        held,
        over_tier_budget,
    }
}
