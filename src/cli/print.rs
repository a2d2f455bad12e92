//! How a cycle looks to a person (aligned text) and to a program (`--json`).
//! Presentation only: numbers are summarized here, never decided.

use crate::config::Config;
use crate::domain::*;
use crate::runtime::CycleReport;
use serde_json::json;

/// Display unit and scale of a signal: sums per period become rates per second.
fn unit(signal: Signal, period_s: u32) -> (&'static str, f64) {
    let per_s = 1.0 / f64::from(period_s.max(1));
    match signal {
        Signal::CpuPercent | Signal::MemoryPercent | Signal::DbPoolPercent => ("%", 1.0),
        Signal::LatencyAvgSeconds | Signal::LatencyP95Seconds => ("ms", 1000.0),
        Signal::Requests => ("req/s", per_s),
        Signal::Http5xx | Signal::Http4xx => ("/5min", 1.0),
        Signal::ConsumedRcu | Signal::ConsumedWcu => ("units/s", per_s),
        Signal::ProvisionedRcu | Signal::ProvisionedWcu => ("units", 1.0),
        Signal::ReadThrottles | Signal::WriteThrottles => ("/period", 1.0),
        Signal::RequestLatencyMs => ("ms", 1.0),
        Signal::DesiredCapacity => ("instances", 1.0),
        Signal::ConcurrentUsers => ("users", 1.0),
    }
}

pub struct Summary {
    pub n: usize,
    pub last: f64,
    pub avg: f64,
    pub p95: f64,
    pub max: f64,
}

/// Count, last, mean, p95 (nearest rank) and max of a series' values.
pub fn summarize(points: &[(Ts, f64)]) -> Option<Summary> {
    let mut v: Vec<f64> = points.iter().map(|p| p.1).filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let last = *v.last()?;
    let avg = v.iter().sum::<f64>() / v.len() as f64;
    v.sort_by(f64::total_cmp);
    let rank = ((0.95 * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(Summary {
        n: v.len(),
        last,
        avg,
        p95: v[rank - 1],
        max: v[v.len() - 1],
    })
}

fn fmt_num(x: f64) -> String {
    if x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn print_series(snap: &Snapshot, r: &ResourceId) {
    for s in snap.series.iter().filter(|s| &s.resource == r) {
        let (u, k) = unit(s.signal, s.query.period_s);
        match summarize(&s.points.to_vec()) {
            Some(m) => {
                let days = s
                    .points
                    .first()
                    .zip(s.points.last())
                    .map(|(a, b)| (b.0 - a.0) as f64 / 86_400.0)
                    .unwrap_or(0.0);
                println!(
                    "    {:<22} last {:>8}  avg {:>8}  p95 {:>8}  max {:>8} {:<8} ({} points, {:.1} d)",
                    s.signal.name(),
                    fmt_num(m.last * k),
                    fmt_num(m.avg * k),
                    fmt_num(m.p95 * k),
                    fmt_num(m.max * k),
                    u,
                    m.n,
                    days
                );
            }
            None => println!("    {:<22} no data ({})", s.signal.name(), s.query.key()),
        }
    }
}

/// The human-readable account of one cycle.
pub fn report(r: &CycleReport, cfg: &Config) {
    let s = &r.snapshot;
    println!(
        "Cycle at {} in {} ({} ms)",
        s.taken_at.format("%Y-%m-%d %H:%M:%S UTC"),
        s.scope,
        r.elapsed_ms
    );
    let srcs: Vec<String> = s
        .sources
        .iter()
        .map(|x| format!("{} {}", x.source, if x.ok { "ok" } else { "FAILED" }))
        .collect();
    println!("  sources: {}", srcs.join(", "));
    if s.partial() {
        println!("  snapshot is PARTIAL:");
        for f in s.failed_sources() {
            println!("    {}: {}", f.source, f.reason.as_deref().unwrap_or("failed"));
        }
    }
    println!();
    println!("Auto Scaling groups ({})", s.asgs.len());
    for g in &s.asgs {
        let types: Vec<String> = g.instance_types.iter().map(|(t, n)| format!("{t} x{n}")).collect();
        let price = g
            .instance_types
            .iter()
            .map(|(t, n)| cfg.pricing.instances.get(t).map(|p| p.on_demand_hourly.0 * i64::from(*n)))
            .sum::<Option<i64>>();
        println!(
            "  asg/{:<18} desired {} (min {}, max {}), in service {}, {}{}",
            g.name,
            g.desired_capacity,
            g.min_size,
            g.max_size,
            g.in_service,
            if types.is_empty() {
                "no instances".to_string()
            } else {
                types.join(", ")
            },
            price.map(|p| format!(", on-demand {}/month", Money(p * 730))).unwrap_or_default()
        );
        for p in &g.policies {
            println!(
                "    policy {} ({}{})",
                p.name,
                p.policy_type,
                p.target_metric
                    .as_ref()
                    .map(|m| format!(": {m} target {}", p.target_value.unwrap_or_default()))
                    .unwrap_or_default()
            );
        }
        if let Some(d) = &g.distribution {
            let over: Vec<&str> = g.overrides.iter().map(|o| o.instance_type.as_str()).collect();
            println!(
                "    mixed instances: on-demand base {}, {} % on-demand above base, spot {}, types {}",
                d.on_demand_base_capacity.unwrap_or(0),
                d.on_demand_percentage_above_base.unwrap_or(100),
                d.spot_allocation_strategy.as_deref().unwrap_or("-"),
                over.join(", ")
            );
        }
        print_series(s, &ResourceId::asg(&g.name));
    }
    println!();
    println!("DynamoDB tables ({})", s.tables.len());
    for t in &s.tables {
        let cap = match (t.read_capacity, t.write_capacity) {
            (Some(r), Some(w)) => format!("{r} RCU / {w} WCU"),
            _ => "on-demand".to_string(),
        };
        println!(
            "  table/{:<16} {} {}, {} items, {:.1} GB{}",
            t.name,
            t.billing_mode,
            cap,
            t.item_count.unwrap_or(0),
            t.size_bytes.unwrap_or(0) as f64 / 1e9,
            if t.gsis.is_empty() {
                String::new()
            } else {
                format!(", {} GSI(s)", t.gsis.len())
            }
        );
        print_series(s, &ResourceId::table(&t.name));
    }
    println!();
    spend(s);
    println!();
    let calls: Vec<String> = s.api_calls.by_operation.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let cut = if s.failed_sources().iter().any(|f| f.source == "deadline") {
        ", some cut off by the deadline before an answer"
    } else {
        ""
    };
    println!("API calls: {} ({}{cut})", s.api_calls.total(), calls.join(", "));
    println!(
        "GetMetricData: {} call(s), lower bound max(ceil(queries/500), ceil(datapoints/100800)) = {}; {} points fetched, {} new; cache holds {} points",
        s.api_calls.get("cloudwatch:GetMetricData"),
        r.metric_calls_lower_bound,
        s.points_fetched,
        r.new_points,
        r.cached_points
    );
    println!();
    outlooks(r);
    println!(
        "Advisories: {} ({} new, {} updated, {} resolved this cycle)",
        r.advisories.len(),
        r.reconciled.opened.len(),
        r.reconciled.updated.len(),
        r.reconciled.resolved.len()
    );
    for a in &r.advisories {
        advisory(a, None, true);
    }
    let fired: Vec<String> = r
        .rule_events
        .iter()
        .map(|e| format!("{} {:?} on {} at {}", e.rule, e.transition, e.resource.0, hhmm(e.at)))
        .collect();
    if !fired.is_empty() {
        println!("Alert transitions replayed this cycle: {}", fired.join("; "));
    }
}

/// The forecasts the cycle's advice used: growth and each line's crossing.
fn outlooks(r: &CycleReport) {
    if r.outlooks.is_empty() {
        return;
    }
    let made = r.outlooks.iter().map(|o| o.computed_at).max().unwrap_or_default();
    println!(
        "Forecasts: {} series, 14 days ahead, hourly ({} {})",
        r.outlooks.len(),
        if r.forecast_ran {
            "made this cycle,"
        } else {
            "from the last forecast run,"
        },
        hhmm(made)
    );
    for o in r.outlooks.iter() {
        let g = o
            .growth
            .as_ref()
            .map(|g| {
                format!(
                    "{:+.1} %/30 d (80 %: {:+.1} … {:+.1})",
                    g.per_30d * 100.0,
                    g.lo80 * 100.0,
                    g.hi80 * 100.0
                )
            })
            .unwrap_or_else(|| "growth: under 7 days".into());
        let peak = o.point.max();
        println!(
            "  {:<22} {:<18} week peak {:>7} → forecast peak {:>7} {:<9} {}",
            o.resource.0,
            o.signal.name(),
            fmt_num(o.recent_peak),
            fmt_num(peak),
            o.unit,
            g
        );
        for l in &o.lines {
            println!(
                "      {:>9} {}: {}",
                fmt_num(l.value),
                l.name,
                crate::decide::describe_crossing(&l.crossing)
            );
        }
    }
    println!();
}

fn hhmm(t: Ts) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// One advisory: severity, kind, fingerprint, summary; with `evidence`, its figures and action.
/// `state` is the stored state and scope (`account/region`) when listing the store.
pub fn advisory(a: &Advisory, state: Option<(AdvisoryState, &str)>, evidence: bool) {
    let st = state.map(|(s, scope)| format!(" [{}, {scope}]", s.as_str())).unwrap_or_default();
    println!(
        "  {:<8} {:<10} {}  {}{st}",
        a.severity.to_string().to_uppercase(),
        a.kind.as_str(),
        &a.fingerprint[..8.min(a.fingerprint.len())],
        a.summary
    );
    if evidence {
        let e: Vec<String> = a.evidence.iter().map(|e| format!("{}: {}", e.name, e.value)).collect();
        println!("             evidence: {}", e.join("; "));
        if let Some(act) = &a.action {
            println!("             proposes: {}", serde_json::to_string(act).unwrap_or_default());
        }
    }
}

fn spend(s: &Snapshot) {
    let mut days: Vec<&str> = s.spend.iter().map(|d| d.day.as_str()).collect();
    days.sort();
    days.dedup();
    let fetched = s
        .spend_fetched_at
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| format!(" (read from Cost Explorer at {})", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    if days.is_empty() {
        println!("Spend: no Cost Explorer data{fetched}");
        return;
    }
    let total: Money = s.spend.iter().map(|d| d.amount).sum();
    println!(
        "Spend: {} over {} days ({} to {}){fetched}",
        total,
        days.len(),
        days[0],
        days[days.len() - 1]
    );
    let last7: Vec<&str> = days.iter().rev().take(7).copied().collect();
    let prev7: Vec<&str> = days.iter().rev().skip(7).take(7).copied().collect();
    let mut services: Vec<&str> = s.spend.iter().map(|d| d.service.as_str()).collect();
    services.sort();
    services.dedup();
    println!("  {:<42} {:>12} {:>12} {:>8}", "service", "last 7 d", "7 d before", "change");
    for svc in services {
        let sum = |ds: &[&str]| -> Money {
            s.spend
                .iter()
                .filter(|d| d.service == svc && ds.contains(&d.day.as_str()))
                .map(|d| d.amount)
                .sum()
        };
        let (a, b) = (sum(&last7), sum(&prev7));
        let change = if b.0 > 0 {
            format!("{:+.0} %", (a.0 - b.0) as f64 * 100.0 / b.0 as f64)
        } else {
            "-".into()
        };
        println!("  {:<42} {:>12} {:>12} {:>8}", svc, a.to_string(), b.to_string(), change);
    }
}

/// One line for a follow-up cycle: what the incremental fetch cost.
pub fn incremental(r: &CycleReport) {
    let s = &r.snapshot;
    println!(
        "Next cycle at {}: {} GetMetricData call(s) (lower bound {}), {} points fetched ({} new, the rest the late-data overlap), sources {}",
        s.taken_at.format("%H:%M:%S UTC"),
        s.api_calls.get("cloudwatch:GetMetricData"),
        r.metric_calls_lower_bound,
        s.points_fetched,
        r.new_points,
        if s.partial() { "PARTIAL" } else { "all ok" }
    );
}

/// Cycles as JSON: inventory, sources, calls, and per-series summaries (not raw points).
pub fn reports_json(reports: &[CycleReport]) -> String {
    let v: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            let s = &r.snapshot;
            let series: Vec<serde_json::Value> = s
                .series
                .iter()
                .map(|x| {
                    let m = summarize(&x.points.to_vec());
                    json!({
                        "resource": x.resource.0,
                        "signal": x.signal.name(),
                        "query": x.query.key(),
                        "points": x.points.len(),
                        "first_ts": x.points.first().map(|p| p.0),
                        "last_ts": x.points.last().map(|p| p.0),
                        "last": m.as_ref().map(|m| m.last),
                        "avg": m.as_ref().map(|m| m.avg),
                        "p95": m.as_ref().map(|m| m.p95),
                        "max": m.as_ref().map(|m| m.max),
                    })
                })
                .collect();
            json!({
                "taken_at": s.taken_at.to_rfc3339(),
                "scope": s.scope.key(),
                "account": s.scope.account,
                "region": s.scope.region,
                "partial": s.partial(),
                "sources": s.sources,
                "asgs": s.asgs,
                "tables": s.tables,
                "series": series,
                "spend": s.spend.iter().map(|d| json!({"day": d.day, "service": d.service, "usd": d.amount.as_usd_f64()})).collect::<Vec<_>>(),
                "spend_fetched_at": s.spend_fetched_at.and_then(|t| chrono::DateTime::from_timestamp(t, 0)).map(|t| t.to_rfc3339()),
                "api_calls": s.api_calls.by_operation,
                "metric_calls_lower_bound": r.metric_calls_lower_bound,
                "points_fetched": s.points_fetched,
                "new_points": r.new_points,
                "cached_points": r.cached_points,
                "advisories": r.advisories,
                "forecasts": r.outlooks.iter().map(|o| json!({
                    "resource": o.resource.0,
                    "signal": o.signal.name(),
                    "what": o.what,
                    "unit": o.unit,
                    "last": o.last,
                    "recent_peak": o.recent_peak,
                    "growth": o.growth,
                    "lines": o.lines,
                    "model": o.model,
                    "fallback": o.fallback,
                    "computed_at": o.computed_at,
                })).collect::<Vec<_>>(),
                "forecast_ran": r.forecast_ran,
                "rule_events": r.rule_events,
                "reconciled": r.reconciled,
                "elapsed_ms": r.elapsed_ms,
            })
        })
        .collect();
    if v.len() == 1 {
        v[0].to_string()
    } else {
        serde_json::Value::Array(v).to_string()
    }
}
