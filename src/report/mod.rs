//! The weekly capacity review: what a team reads on Monday. `build` turns the store's rows of
//! one ISO week (`store::ReportRows`, one per scope) into a `Review`: the decisions the week
//! asks for, with dollars; per service its tier and headroom to the next, utilization against
//! thresholds, growth and the next crossing; alerts fired and resolved with durations;
//! advisories opened, applied, resolved and still open; spend over four weeks with the
//! month-end projection; commitments; and where the week's data has gaps. `charts` draws it
//! (SVG for the page, PNG for email), `render` writes HTML, email, Markdown, text and Slack.
//!
//! Every figure comes from the rows passed in, through the same analyzers a cycle uses (the
//! tier fit is `analyze::tiers` on a snapshot rebuilt from the store at the week's end).
//! Pure and synchronous: the week and `now` are parameters. May use: domain, config, model,
//! analyze, store's plain types, plotters (charts), png.

pub mod charts;
pub mod render;
mod week;

pub use week::Week;

use crate::analyze::outlook::{Outlook, rule_lines};
use crate::analyze::{stats, tiers};
use crate::config::Config;
use crate::domain::*;
use crate::store::ReportRows;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Days of history read before the week (the tier fit's weekly peaks, four weeks of spend).
pub const HISTORY_DAYS: i64 = 28;
const HOUR: i64 = 3_600;

/// Dollars rounded to the cent, as the review's JSON and pages show them.
fn usd(m: Money) -> f64 {
    (m.as_usd_f64() * 100.0).round() / 100.0
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Review {
    /// ISO week, e.g. `2026-W49`.
    pub week: String,
    /// The week's bounds in the configured time zone (RFC 3339).
    pub from: String,
    pub to: String,
    pub timezone: String,
    pub scopes: Vec<String>,
    pub headline: Headline,
    pub data: DataCoverage,
    pub services: Vec<ServiceReview>,
    pub alerts: Vec<AlertSpan>,
    pub advisories: AdvisoryWeek,
    pub spend: Vec<SpendReview>,
    pub commitments: Vec<AdvisoryLine>,
    /// What the charts draw (the series behind them are not in the JSON).
    #[serde(skip)]
    pub charts: ChartData,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Headline {
    /// One sentence: how many decisions and what they are worth.
    pub text: String,
    /// Open advisories that need a person this week, largest dollar impact first.
    pub decisions: Vec<AdvisoryLine>,
    /// Sum of the decisions' monthly savings (dollars, positive).
    pub monthly_savings_usd: f64,
    /// Sum of the decisions' monthly extra cost (dollars, positive: headroom that costs money).
    pub monthly_extra_cost_usd: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdvisoryLine {
    pub fingerprint: String,
    pub scope: String,
    pub kind: String,
    pub resource: String,
    pub severity: String,
    pub summary: String,
    /// Dollars per month the advice changes the bill by (negative saves).
    pub monthly_cost_delta_usd: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    /// How many times it happened in the week (opened, resolved …), when more than once; the
    /// line shows the last.
    #[serde(skip_serializing_if = "is_once")]
    pub times: u32,
}

fn is_once(n: &u32) -> bool {
    *n <= 1
}

/// One line per fingerprint, the last event's, counting the events.
fn collapse(lines: Vec<AdvisoryLine>) -> Vec<AdvisoryLine> {
    let mut out: Vec<AdvisoryLine> = vec![];
    for l in lines {
        match out.iter_mut().find(|o| o.fingerprint == l.fingerprint && o.scope == l.scope) {
            Some(o) => {
                let times = o.times + 1;
                *o = AdvisoryLine { times, ..l };
            }
            None => out.push(AdvisoryLine { times: 1, ..l }),
        }
    }
    out
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataCoverage {
    /// Collect cycles the schedule called for in the week (per scope, summed).
    pub cycles_expected: u64,
    pub cycles: u64,
    pub partial_cycles: u64,
    /// Failures by source over the week's cycles.
    pub source_failures: BTreeMap<String, u64>,
    /// Stretches of the week with no cycle (longer than two collect intervals).
    pub gaps: Vec<Gap>,
    /// Plain-language notes on what is missing.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gap {
    pub scope: String,
    pub from: Ts,
    pub to: Ts,
    pub hours: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceReview {
    pub scope: String,
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<TierLine>,
    pub utilization: Vec<Utilization>,
    /// Month-over-month growth of the service's load (percent per 30 days), from its forecast.
    pub growth_mom_percent: Option<f64>,
    /// The soonest line its forecasts cross, with the 80 % interval.
    pub next_crossing: Option<CrossingLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TierLine {
    pub current: String,
    /// The tier the 7-day peak of concurrent users falls in.
    pub placed: Option<String>,
    pub peak_users_7d: f64,
    pub upper_bound: f64,
    /// Users before the current tier's upper bound, and as a percent of it.
    pub headroom_users: f64,
    pub headroom_percent: f64,
    pub next_tier: Option<String>,
    pub days_to_move_up_line: Option<f64>,
    pub move_to: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Utilization {
    pub signal: String,
    pub unit: String,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub max: Option<f64>,
    /// Points in the week, and the share of the week's periods they cover (percent).
    pub points: usize,
    pub coverage_percent: f64,
    /// Alert thresholds on this signal that apply to the resource.
    pub thresholds: Vec<Threshold>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Threshold {
    pub name: String,
    pub value: f64,
    /// Periods of the week above it.
    pub periods_above: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrossingLine {
    pub signal: String,
    pub line: String,
    pub value: f64,
    /// None: already at or past the line.
    pub at: Option<Ts>,
    pub earliest: Option<Ts>,
    pub latest: Option<Ts>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertSpan {
    pub scope: String,
    pub fingerprint: String,
    pub resource: String,
    pub severity: String,
    pub summary: String,
    pub fired_at: Ts,
    /// None: still firing at the week's end.
    pub resolved_at: Option<Ts>,
    /// Seconds it fired, within or up to the week's end.
    pub duration_s: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdvisoryWeek {
    pub opened: Vec<AdvisoryLine>,
    pub applied: Vec<AdvisoryLine>,
    pub resolved: Vec<AdvisoryLine>,
    pub still_open: Vec<AdvisoryLine>,
    /// Monthly dollars of the advice still open (negative: savings available).
    pub still_open_monthly_usd: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpendReview {
    pub account: String,
    /// The four ISO weeks ending with this one, oldest first.
    pub weeks: Vec<SpendWeek>,
    /// Last week over the one before, percent (None without both).
    pub week_over_week_percent: Option<f64>,
    pub month: String,
    pub month_to_date_usd: f64,
    /// Month to date + the last 7 days' daily average × the days left in the month.
    pub month_end_projection_usd: f64,
    /// Days of the four weeks with no spend row.
    pub missing_days: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpendWeek {
    pub week: String,
    pub total_usd: f64,
    pub by_service: BTreeMap<String, f64>,
}

/// The series and figures the charts draw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChartData {
    /// Per service (up to `MAX_CHARTED`): hourly max of CPU (or consumed capacity) in the week.
    pub utilization: Vec<UtilChart>,
    pub forecasts: Vec<ForecastChart>,
    /// Per week label, per service, dollars.
    pub spend: Vec<(String, BTreeMap<String, f64>)>,
    /// (label, monthly dollars) of open advice, largest first.
    pub impact: Vec<(String, f64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UtilChart {
    pub title: String,
    pub unit: String,
    pub lines: Vec<(String, Vec<(Ts, f64)>)>,
    pub thresholds: Vec<(String, f64)>,
    pub from: Ts,
    pub to: Ts,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ForecastChart {
    pub title: String,
    pub unit: String,
    pub history: Vec<(Ts, f64)>,
    pub point: Vec<(Ts, f64)>,
    pub lo80: Vec<(Ts, f64)>,
    pub hi80: Vec<(Ts, f64)>,
    pub line: (String, f64),
    pub crossing: Option<Ts>,
}

/// Services charted at most (the busiest by p95).
pub const MAX_CHARTED: usize = 6;

fn line_of(a: &crate::store::StoredAdvisory, with_evidence: bool) -> AdvisoryLine {
    AdvisoryLine {
        fingerprint: a.advisory.fingerprint.clone(),
        scope: a.scope.clone(),
        kind: a.advisory.kind.as_str().to_string(),
        resource: a.advisory.resource.0.clone(),
        severity: a.advisory.severity.to_string(),
        summary: a.advisory.summary.clone(),
        monthly_cost_delta_usd: a.advisory.monthly_cost_delta.map(usd),
        evidence: if with_evidence { a.advisory.evidence.clone() } else { vec![] },
        times: 1,
    }
}

fn history_line(scope: &str, h: &crate::store::HistoryRow) -> AdvisoryLine {
    AdvisoryLine {
        fingerprint: h.fingerprint.clone(),
        scope: scope.to_string(),
        kind: h.kind.clone(),
        resource: h.resource.clone(),
        severity: h.severity.clone(),
        summary: h.summary.clone(),
        monthly_cost_delta_usd: h.monthly_cost_delta.map(usd),
        evidence: vec![],
        times: 1,
    }
}

fn by_impact(v: &mut [AdvisoryLine]) {
    v.sort_by(|a, b| {
        let key = |l: &AdvisoryLine| l.monthly_cost_delta_usd.map(f64::abs).unwrap_or(0.0);
        key(b)
            .total_cmp(&key(a))
            .then_with(|| b.severity.cmp(&a.severity))
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
    });
}

/// Kinds whose open advice asks a person to decide (alerts are operated, not decided).
fn is_decision(a: &crate::store::StoredAdvisory) -> bool {
    a.advisory.kind != Kind::Alert && (a.advisory.severity >= Severity::Warning || a.advisory.monthly_cost_delta.is_some())
}

fn open_at_end(a: &crate::store::StoredAdvisory, to: Ts) -> bool {
    match a.state {
        AdvisoryState::Open | AdvisoryState::Acknowledged => true,
        // Closed after the week: it was still open at its end.
        _ => a.updated_at >= to,
    }
}

/// Builds the review of `week` from each scope's rows. `collect_interval_s` is the schedule's
/// interval (for the expected number of cycles); a week not over at `now` is reviewed up to
/// `now`.
pub fn build(cfg: &Config, week: &Week, rows: &[ReportRows], collect_interval_s: i64, now: Ts) -> Review {
    let (from, to) = (week.from, week.end_at(now));
    let tz = cfg.headroom.schedule.timezone;
    let mut data = DataCoverage {
        cycles_expected: 0,
        cycles: 0,
        partial_cycles: 0,
        source_failures: BTreeMap::new(),
        gaps: vec![],
        notes: vec![],
    };
    let mut services = vec![];
    let mut alerts = vec![];
    let mut adv = AdvisoryWeek {
        opened: vec![],
        applied: vec![],
        resolved: vec![],
        still_open: vec![],
        still_open_monthly_usd: 0.0,
    };
    let mut decisions = vec![];
    let mut commitments = vec![];
    let mut charts = ChartData::default();
    // Sorted for charting: groups first, busiest (CPU p95) first.
    let mut util_charts: Vec<((bool, f64), UtilChart)> = vec![];
    let mut forecast_charts: Vec<(Ts, ForecastChart)> = vec![];
    let mut spend_by_account: BTreeMap<String, Vec<DailySpend>> = BTreeMap::new();
    for r in rows {
        let scope = r.scope.key();
        // Coverage: cycles against the schedule, partial ones, failing sources, gaps.
        let interval = collect_interval_s.max(1);
        data.cycles_expected += ((to - from) / interval) as u64;
        data.cycles += r.snapshots.len() as u64;
        data.partial_cycles += r.snapshots.iter().filter(|s| s.partial).count() as u64;
        for s in &r.snapshots {
            for src in s.sources.iter().filter(|x| !x.ok) {
                *data.source_failures.entry(src.source.clone()).or_default() += 1;
            }
        }
        let mut last = from;
        for t in r.snapshots.iter().map(|s| s.taken_at).chain(std::iter::once(to)) {
            if t - last > 2 * interval {
                data.gaps.push(Gap {
                    scope: scope.clone(),
                    from: last,
                    to: t,
                    hours: round((t - last) as f64 / HOUR as f64, 1),
                });
            }
            last = last.max(t);
        }
        // The snapshot at the week's end, rebuilt from the store, for the analyzers.
        let (asgs, tables) = r.inventory.clone().map(|(_, a, t)| (a, t)).unwrap_or_default();
        if r.inventory.is_none() {
            data.notes.push(format!("{scope}: no inventory was recorded before the week's end"));
        }
        let outlooks: Vec<Outlook> = r.outlooks.iter().filter_map(|b| serde_json::from_str(b).ok()).collect();
        let snap = Snapshot {
            scope: r.scope.clone(),
            asgs: asgs.clone(),
            tables: tables.clone(),
            spend: r.spend.clone(),
            ..Snapshot::bare(to, vec![], r.series.clone())
        };
        let fits = tiers::analyze(&snap, &cfg.headroom.targets.asgs, &cfg.sizing, &cfg.pricing, &outlooks, to);
        let resources: Vec<ResourceId> = asgs
            .iter()
            .map(|g| ResourceId::asg(&g.name))
            .chain(tables.iter().map(|t| ResourceId::table(&t.name)))
            .collect();
        for res in &resources {
            let fit = fits.iter().find(|f| &f.resource == res);
            let tier = fit.map(|f| tier_line(cfg, f));
            let mut utilization = vec![];
            let mut lines = vec![];
            let mut thresholds_drawn = vec![];
            let signals: &[Signal] = if res.0.starts_with("asg/") {
                &[Signal::CpuPercent, Signal::MemoryPercent]
            } else {
                &[Signal::ConsumedRcu, Signal::ConsumedWcu]
            };
            for sig in signals {
                let Some(series) = r.series.iter().find(|s| &s.resource == res && &s.signal == sig) else {
                    continue;
                };
                let week_pts: Vec<(Ts, f64)> = series.points.range(from, to).collect();
                let period = i64::from(series.query.period_s.max(1));
                // Consumed capacity per second, as it is provisioned.
                let per_s = series.per_second_divisor();
                let week_pts: Vec<(Ts, f64)> = week_pts.into_iter().map(|(t, v)| (t, v / per_s)).collect();
                let values: Vec<f64> = week_pts.iter().map(|p| p.1).collect();
                let expected = ((to - from) / period).max(1) as f64;
                let name = sig.name();
                let thresholds: Vec<Threshold> = rule_lines(&cfg.rules, &name, res)
                    .into_iter()
                    .map(|(n, v)| Threshold {
                        periods_above: values.iter().filter(|x| **x > v).count(),
                        name: n,
                        value: v,
                    })
                    .collect();
                if values.len() < expected as usize {
                    let missing = 100.0 - values.len() as f64 / expected * 100.0;
                    if missing >= 5.0 {
                        data.notes.push(format!(
                            "{scope} {res} {name}: {:.0} % of the week's {}-minute periods have no data",
                            missing,
                            period / 60
                        ));
                    }
                }
                utilization.push(Utilization {
                    signal: name.clone(),
                    unit: if name.ends_with("percent") { "%".into() } else { "units/s".into() },
                    p50: stats::percentile(&values, 50.0).map(|x| round(x, 2)),
                    p95: stats::percentile(&values, 95.0).map(|x| round(x, 2)),
                    max: stats::max(&values).map(|x| round(x, 2)),
                    points: values.len(),
                    coverage_percent: round((values.len() as f64 / expected * 100.0).min(100.0), 1),
                    thresholds: thresholds.clone(),
                });
                lines.push((name.clone(), hourly_max(&week_pts)));
                if thresholds_drawn.is_empty() {
                    thresholds_drawn = thresholds.iter().map(|t| (t.name.clone(), t.value)).collect();
                }
            }
            let mine: Vec<&Outlook> = outlooks.iter().filter(|o| &o.resource == res).collect();
            let growth = mine
                .iter()
                .find(|o| o.signal == Signal::ConcurrentUsers)
                .or_else(|| mine.iter().find(|o| o.signal == Signal::Requests))
                .or_else(|| mine.first())
                .and_then(|o| o.growth.as_ref())
                .map(|g| round(g.per_30d * 100.0, 1));
            let next = next_crossing(&mine);
            if let Some((o, line)) = next
                .as_ref()
                .and_then(|(c, o)| o.lines.iter().find(|l| l.name == c.line).map(|l| (*o, l)))
            {
                let at = match line.crossing {
                    crate::analyze::forecast::Crossing::At { at, .. } => at,
                    _ => o.horizon_end(),
                };
                forecast_charts.push((at, forecast_chart(r, o, line, res, from, to)));
            }
            let p95 = utilization.first().and_then(|u| u.p95).unwrap_or(0.0);
            let is_group = res.0.starts_with("asg/");
            if !lines.is_empty() {
                util_charts.push((
                    (is_group, p95),
                    UtilChart {
                        title: format!("{res} ({})", r.scope.region),
                        unit: utilization.first().map(|u| u.unit.clone()).unwrap_or_default(),
                        lines,
                        thresholds: thresholds_drawn,
                        from,
                        to,
                    },
                ));
            }
            services.push(ServiceReview {
                scope: scope.clone(),
                resource: res.0.clone(),
                tier,
                utilization,
                growth_mom_percent: growth,
                next_crossing: next.map(|(c, _)| c),
            });
        }
        // Alerts: each firing (opened … resolved/expired) that overlaps the week.
        let mut firing: HashMap<&str, &crate::store::HistoryRow> = HashMap::new();
        let mut spans = vec![];
        for h in r.history.iter().filter(|h| h.kind == "alert") {
            match h.event.as_str() {
                "opened" => {
                    firing.insert(&h.fingerprint, h);
                }
                "resolved" | "expired" => {
                    if let Some(o) = firing.remove(h.fingerprint.as_str())
                        && h.at >= from
                    {
                        spans.push((o, Some(h.at)));
                    }
                }
                _ => {}
            }
        }
        spans.extend(firing.into_values().map(|o| (o, None)));
        for (o, resolved) in spans {
            alerts.push(AlertSpan {
                scope: scope.clone(),
                fingerprint: o.fingerprint.clone(),
                resource: o.resource.clone(),
                severity: o.severity.clone(),
                summary: o.summary.clone(),
                fired_at: o.at,
                resolved_at: resolved,
                duration_s: resolved.unwrap_or(to) - o.at,
            });
        }
        // Advisories' week.
        for h in r.history.iter().filter(|h| h.kind != "alert" && h.at >= from) {
            let l = history_line(&scope, h);
            match h.event.as_str() {
                "opened" => adv.opened.push(l),
                "applied" => adv.applied.push(l),
                "resolved" | "expired" => adv.resolved.push(l),
                _ => {}
            }
        }
        for a in r.advisories.iter().filter(|a| open_at_end(a, to) && a.advisory.kind != Kind::Alert) {
            adv.still_open.push(line_of(a, false));
            if is_decision(a) {
                decisions.push(line_of(a, true));
            }
            if a.advisory.kind == Kind::Commitment {
                commitments.push(line_of(a, true));
            }
        }
        spend_by_account.entry(r.scope.account.clone()).or_insert_with(|| r.spend.clone());
    }
    alerts.sort_by(|a, b| a.fired_at.cmp(&b.fired_at).then_with(|| a.fingerprint.cmp(&b.fingerprint)));
    adv.opened = collapse(std::mem::take(&mut adv.opened));
    adv.applied = collapse(std::mem::take(&mut adv.applied));
    adv.resolved = collapse(std::mem::take(&mut adv.resolved));
    for v in [
        &mut adv.opened,
        &mut adv.applied,
        &mut adv.resolved,
        &mut adv.still_open,
        &mut decisions,
        &mut commitments,
    ] {
        by_impact(v);
    }
    adv.still_open_monthly_usd = round(adv.still_open.iter().filter_map(|l| l.monthly_cost_delta_usd).sum(), 2);
    let savings = round(
        decisions
            .iter()
            .filter_map(|l| l.monthly_cost_delta_usd)
            .filter(|x| *x < 0.0)
            .map(f64::abs)
            .sum(),
        2,
    );
    let extra = round(
        decisions.iter().filter_map(|l| l.monthly_cost_delta_usd).filter(|x| *x > 0.0).sum(),
        2,
    );
    let text = match decisions.len() {
        0 => "Nothing needs a decision this week.".to_string(),
        n => format!(
            "{n} decision{} this week: ${} a month to save, ${} a month of capacity to add.",
            if n == 1 { "" } else { "s" },
            thousands(savings),
            thousands(extra)
        ),
    };
    let spend: Vec<SpendReview> = spend_by_account
        .iter()
        .map(|(acct, days)| spend_review(acct, days, week, tz))
        .collect();
    if let Some(s) = spend.first() {
        charts.spend = s.weeks.iter().map(|w| (w.week.clone(), w.by_service.clone())).collect();
    }
    for s in &spend {
        if !s.missing_days.is_empty() {
            data.notes.push(format!(
                "account {}: no spend recorded for {} of the 28 days",
                s.account,
                s.missing_days.len()
            ));
        }
    }
    // A few gaps are listed; many (a schedule that ran slower than configured) are summed up.
    if data.gaps.len() <= 5 {
        for g in &data.gaps {
            data.notes.push(format!(
                "{}: no cycle from {} to {} ({} h)",
                g.scope,
                week::local(g.from, tz),
                week::local(g.to, tz),
                g.hours
            ));
        }
    } else if let Some(longest) = data.gaps.iter().max_by(|a, b| a.hours.total_cmp(&b.hours)) {
        data.notes.push(format!(
            "{} stretches without a cycle, {} h in all; the longest {}: {} to {} ({} h)",
            data.gaps.len(),
            round(data.gaps.iter().map(|g| g.hours).sum(), 1),
            longest.scope,
            week::local(longest.from, tz),
            week::local(longest.to, tz),
            longest.hours
        ));
    }
    util_charts.sort_by(|a, b| b.0.0.cmp(&a.0.0).then(b.0.1.total_cmp(&a.0.1)));
    charts.utilization = util_charts.into_iter().take(MAX_CHARTED).map(|x| x.1).collect();
    forecast_charts.sort_by_key(|x| x.0);
    charts.forecasts = forecast_charts.into_iter().take(3).map(|x| x.1).collect();
    charts.impact = adv
        .still_open
        .iter()
        .filter_map(|l| l.monthly_cost_delta_usd.map(|d| (format!("{} {}", l.kind, l.resource), d)))
        .take(10)
        .collect();
    Review {
        week: week.label.clone(),
        from: week::local(from, tz),
        to: week::local(to, tz),
        timezone: tz.name().to_string(),
        scopes: rows.iter().map(|r| r.scope.key()).collect(),
        headline: Headline {
            text,
            decisions,
            monthly_savings_usd: savings,
            monthly_extra_cost_usd: extra,
        },
        data,
        services,
        alerts,
        advisories: adv,
        spend,
        commitments,
        charts,
    }
}

/// `1234567.8` → `1,234,568` (whole dollars).
pub fn thousands(x: f64) -> String {
    Money::from_usd_f64(x.round())
        .map(|m| m.to_string().trim_start_matches('$').trim_end_matches(".00").to_string())
        .unwrap_or_else(|| format!("{x:.0}"))
}

fn tier_line(cfg: &Config, f: &tiers::TierFit) -> TierLine {
    let upper = f.bounds.1;
    let next = cfg
        .sizing
        .tiers
        .iter()
        .position(|t| t.name == f.current)
        .and_then(|i| cfg.sizing.tiers.get(i + 1))
        .map(|t| t.name.clone());
    let headroom = upper - f.peak_7d;
    TierLine {
        current: f.current.clone(),
        placed: f.placed.clone(),
        peak_users_7d: round(f.peak_7d, 0),
        upper_bound: upper,
        headroom_users: round(headroom, 0),
        headroom_percent: if upper.is_finite() && upper > 0.0 {
            round(headroom / upper * 100.0, 1)
        } else {
            100.0
        },
        next_tier: next,
        days_to_move_up_line: f.days_to_up_line.map(|d| round(d, 1)),
        move_to: f.move_to.clone(),
    }
}

/// The hourly maxima of a series (one point per hour that has data).
fn hourly_max(points: &[(Ts, f64)]) -> Vec<(Ts, f64)> {
    let mut out: Vec<(Ts, f64)> = vec![];
    for &(t, v) in points {
        let h = t - t.rem_euclid(HOUR);
        match out.last_mut() {
            Some((lt, lv)) if *lt == h => *lv = lv.max(v),
            _ => out.push((h, v)),
        }
    }
    out
}

fn next_crossing<'a>(outlooks: &[&'a Outlook]) -> Option<(CrossingLine, &'a Outlook)> {
    use crate::analyze::forecast::Crossing;
    let mut best: Option<(i64, CrossingLine, &Outlook)> = None;
    for o in outlooks {
        for l in &o.lines {
            let (rank, at, earliest, latest) = match l.crossing {
                Crossing::Already => (i64::MIN, None, None, None),
                Crossing::At { at, earliest, latest } => (at, Some(at), Some(earliest), latest),
                Crossing::NotWithinHorizon { .. } => continue,
            };
            if best.as_ref().is_none_or(|b| rank < b.0) {
                best = Some((
                    rank,
                    CrossingLine {
                        signal: o.signal.name(),
                        line: l.name.clone(),
                        value: l.value,
                        at,
                        earliest,
                        latest,
                    },
                    o,
                ));
            }
        }
    }
    best.map(|(_, c, o)| (c, o))
}

fn forecast_chart(r: &ReportRows, o: &Outlook, line: &crate::analyze::outlook::Line, res: &ResourceId, from: Ts, to: Ts) -> ForecastChart {
    use crate::analyze::forecast::Crossing;
    let history = r
        .series
        .iter()
        .find(|s| &s.resource == res && s.signal == o.signal)
        .map(|s| {
            let pts: Vec<(Ts, f64)> = s.points.range(from, to).collect();
            hourly_mean(&pts)
        })
        .unwrap_or_default();
    let step = |j: usize| o.origin + (j as i64 + 1) * HOUR;
    let take = |v: &crate::analyze::outlook::Curve| v.iter().enumerate().map(|(j, x)| (step(j), shown(x))).collect::<Vec<_>>();
    ForecastChart {
        title: format!("{res}: {}", o.what),
        unit: o.unit.clone(),
        history,
        point: take(&o.point),
        lo80: take(&o.lo80),
        hi80: take(&o.hi80),
        line: (line.name.clone(), line.value),
        crossing: match line.crossing {
            Crossing::At { at, .. } => Some(at),
            _ => None,
        },
    }
}

/// A value as a report shows it: rounded to 6 significant digits (a forecast's digits beyond
/// that are noise: 61.2969, not the 12-bit grid's 61.296875).
fn shown(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let m = 10f64.powi(5 - x.abs().log10().floor() as i32);
    let r = (x * m).round() / m;
    if r.is_finite() { r } else { x }
}

fn hourly_mean(points: &[(Ts, f64)]) -> Vec<(Ts, f64)> {
    let mut out: Vec<(Ts, f64, u32)> = vec![];
    for &(t, v) in points {
        let h = t - t.rem_euclid(HOUR);
        match out.last_mut() {
            Some((lt, s, n)) if *lt == h => {
                *s += v;
                *n += 1;
            }
            _ => out.push((h, v, 1)),
        }
    }
    out.into_iter().map(|(t, s, n)| (t, s / f64::from(n))).collect()
}

fn spend_review(account: &str, days: &[DailySpend], week: &Week, tz: chrono_tz::Tz) -> SpendReview {
    let weeks: Vec<Week> = (0..4).rev().map(|k| week.back(k, tz)).collect();
    let mut out = vec![];
    let mut missing = vec![];
    let by_day: BTreeMap<&str, Vec<&DailySpend>> = days.iter().fold(BTreeMap::new(), |mut m, d| {
        m.entry(d.day.as_str()).or_insert_with(Vec::new).push(d);
        m
    });
    for w in &weeks {
        let mut by_service: BTreeMap<String, Money> = BTreeMap::new();
        for d in w.days() {
            match by_day.get(d.as_str()) {
                Some(rows) => {
                    for r in rows {
                        let e = by_service.entry(r.service.clone()).or_insert(Money::ZERO);
                        *e = Money(e.0 + r.amount.0);
                    }
                }
                None => missing.push(d),
            }
        }
        let total = Money(by_service.values().map(|m| m.0).sum());
        out.push(SpendWeek {
            week: w.label.clone(),
            total_usd: usd(total),
            by_service: by_service.into_iter().map(|(k, v)| (k, usd(v))).collect(),
        });
    }
    let n = out.len();
    let wow = (n >= 2 && out[n - 2].total_usd > 0.0)
        .then(|| round((out[n - 1].total_usd - out[n - 2].total_usd) / out[n - 2].total_usd * 100.0, 1));
    // Month to date: the month of the week's last day, through that day.
    let last_day = week.days().last().cloned().unwrap_or_default();
    let month = last_day.get(..7).unwrap_or("").to_string();
    let mtd: i64 = days
        .iter()
        .filter(|d| d.day.starts_with(&month) && d.day <= last_day)
        .map(|d| d.amount.0)
        .sum();
    let last7: i64 = week
        .days()
        .iter()
        .filter_map(|d| by_day.get(d.as_str()))
        .flatten()
        .map(|d| d.amount.0)
        .sum();
    let left = week::days_left_in_month(&last_day);
    let projection = Money(mtd + (last7 as f64 / 7.0 * left as f64).round() as i64);
    SpendReview {
        account: account.to_string(),
        weeks: out,
        week_over_week_percent: wow,
        month,
        month_to_date_usd: usd(Money(mtd)),
        month_end_projection_usd: usd(projection),
        missing_days: missing,
    }
}

/// The review's JSON document.
pub fn json(r: &Review) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Reads the rows of each scope for `week` (up to `now` when the week is not over: a review of
/// the week so far).
pub fn read<S: crate::store::Reviews>(
    store: &S,
    scopes: &[Scope],
    week: &Week,
    now: Ts,
) -> Result<Vec<ReportRows>, crate::store::StoreError> {
    let to = week.end_at(now);
    scopes
        .iter()
        .map(|s| store.report_rows(s, week.from, to, week.from - HISTORY_DAYS * HOUR * 24))
        .collect()
}

/// The review with its charts and every format, ready to write or send.
pub struct Rendered {
    pub review: Review,
    pub charts: Vec<charts::Chart>,
    pub html: String,
    pub json: String,
}

impl Rendered {
    pub fn new(review: Review, tz: chrono_tz::Tz) -> Rendered {
        let charts = charts::charts(&review.charts, tz);
        let html = render::html(&review, &charts, render::Images::Svg);
        let json = json(&review);
        Rendered {
            review,
            charts,
            html,
            json,
        }
    }

    /// Writes `review-WEEK.html`, `.md`, `.json` and `charts/*.png` under `dir`; returns the
    /// paths written.
    pub fn write(&self, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, String> {
        let err = |p: &std::path::Path, e: std::io::Error| format!("cannot write {}: {e} (check that the folder is writable)", p.display());
        let charts_dir = dir.join("charts");
        std::fs::create_dir_all(&charts_dir).map_err(|e| err(&charts_dir, e))?;
        let stem = format!("review-{}", self.review.week);
        let mut written = vec![];
        let mut md_charts = vec![];
        for c in &self.charts {
            let p = charts_dir.join(format!("{}.png", c.id));
            std::fs::write(&p, c.png()?).map_err(|e| err(&p, e))?;
            md_charts.push((c.clone(), Some(format!("charts/{}.png", c.id))));
            written.push(p);
        }
        for (ext, body) in [
            ("html", self.html.clone()),
            ("md", render::markdown(&self.review, &md_charts)),
            ("json", self.json.clone()),
        ] {
            let p = dir.join(format!("{stem}.{ext}"));
            std::fs::write(&p, body).map_err(|e| err(&p, e))?;
            written.push(p);
        }
        Ok(written)
    }
}

/// When a week starts, as RFC 3339 in `tz`.
pub fn week_start(w: &Week, tz: chrono_tz::Tz) -> String {
    week::local(w.from, tz)
}

#[cfg(test)]
mod tests {
    #[test]
    fn forecast_values_are_shown_to_six_significant_digits() {
        assert_eq!(super::shown(61.2998046875), 61.2998);
        assert_eq!(super::shown(0.000123456789), 0.000123457);
    }

    use super::*;

    #[test]
    fn an_empty_store_gives_an_empty_review_that_says_so() {
        let cfg = Config::embedded().unwrap();
        let week = Week::parse("2026-W49", chrono_tz::UTC).unwrap();
        let rows = ReportRows::empty(&Scope::new("default", "us-east-1"));
        let r = build(&cfg, &week, &[rows], 300, week.to + 1);
        assert_eq!(r.data.cycles, 0);
        assert_eq!(r.data.cycles_expected, 7 * 288);
        // The whole week is one gap, and the notes say what is missing.
        assert_eq!(r.data.gaps.len(), 1);
        assert!(r.data.notes.iter().any(|n| n.contains("no inventory")));
        assert!(r.data.notes.iter().any(|n| n.contains("no spend recorded for 28 of the 28 days")));
        assert_eq!(r.headline.text, "Nothing needs a decision this week.");
        let out = Rendered::new(r, chrono_tz::UTC);
        assert!(out.charts.is_empty());
        assert!(out.html.contains("Capacity review 2026-W49"));
        assert!(render::slack_text(&out.review).contains("*Capacity review 2026-W49*"));
    }

    #[test]
    fn charts_draw_without_panicking_on_degenerate_data() {
        let data = ChartData {
            utilization: vec![UtilChart {
                title: "flat".into(),
                unit: "%".into(),
                lines: vec![("cpu".into(), vec![(0, 5.0)]), ("none".into(), vec![])],
                thresholds: vec![],
                from: 0,
                to: 3_600,
            }],
            forecasts: vec![ForecastChart {
                title: "empty".into(),
                unit: "%".into(),
                history: vec![],
                point: vec![],
                lo80: vec![],
                hi80: vec![],
                line: ("line".into(), f64::NAN),
                crossing: None,
            }],
            spend: vec![("2026-W49".into(), [("EC2".to_string(), 0.0)].into_iter().collect())],
            impact: vec![("one".into(), -0.0)],
        };
        for c in charts::charts(&data, chrono_tz::UTC) {
            assert!(c.svg().starts_with("<svg"), "{}", c.id);
            let png = c.png().unwrap();
            assert!(png.starts_with(b"\x89PNG"), "{}", c.id);
        }
    }
}
