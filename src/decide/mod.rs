//! Findings → advisories: the unit of output. Each has a kind, the resource, a severity, a
//! one-line summary, its evidence (the figures, window, percentile and rule or formula used),
//! an optional proposed action, the monthly cost delta, and a stable fingerprint.
//!
//! The fingerprint hashes kind + resource + subject (the rule for an alert, "capacity" for
//! right-sizing), not the proposal's numbers: a recommendation that moves from 4 to 5
//! instances between cycles is the same advisory, updated, not a new one (DESIGN.md hashes
//! the proposal too; that would churn an advisory per cycle as the figures move).
//!
//! Pure and synchronous. May use: domain, config, analyze (its findings), model (number
//! formatting).

mod forecasts;
pub use forecasts::{describe as describe_crossing, forecasts};

use crate::analyze::commitments::{Commitment, OptionResult};
use crate::analyze::dynamodb::TableFinding;
use crate::analyze::limits::Limits;
use crate::analyze::rightsize::{Rightsize, Sizing};
use crate::analyze::rules::render;
use crate::analyze::spend::SpendFinding;
use crate::analyze::spot::{STRATEGY, SpotMix};
use crate::analyze::tiers::{TierFit, Why};
use crate::config::Rule;
use crate::domain::{Action, Advisory, AlertState, Evidence, Kind, Money, ResourceId, RuleState, Severity};
use crate::domain::{AsgState, Mix, Setting, TableState};

fn ev(name: &str, value: impl Into<String>) -> Evidence {
    Evidence {
        name: name.to_string(),
        value: value.into(),
    }
}

/// The fingerprint of an advisory within its scope: kind + resource + subject (see
/// `domain::fnv64_hex`). `decide` turns it into the scoped one (`Scope::fingerprint`).
pub fn fingerprint(kind: Kind, resource: &ResourceId, subject: &str) -> String {
    crate::domain::fnv64_hex(&[kind.as_str().as_bytes(), resource.0.as_bytes(), subject.as_bytes()])
}

/// The stage's entry point: one scope's findings → the advisories that hold now, most
/// severe first, each fingerprinted within the scope (`Scope::fingerprint`), so the same
/// advice in two regions or accounts is two advisories that never resolve each other.
pub fn decide(f: &crate::analyze::Findings, now: crate::domain::Ts) -> Vec<Advisory> {
    let mut advisories = alerts(f.rules, &f.evaluation.states);
    advisories.extend(rightsize(&f.sizes, f.asgs));
    advisories.extend(limits(&f.limits));
    advisories.extend(dynamodb(&f.tables));
    advisories.extend(forecasts(f.outlooks, now));
    advisories.extend(tiers(&f.fits));
    advisories.extend(spot_mix(&f.mixes));
    advisories.extend(commitments(&f.commitments));
    advisories.extend(held_back(&f.held));
    advisories.extend(
        f.over_tier_budget
            .iter()
            .map(|(r, tier, monthly, range)| service_over_budget(r, tier, *monthly, *range)),
    );
    if let Some(s) = &f.spend {
        advisories.extend(spend(s, f.budget.as_ref().map(|(name, r)| (name.as_str(), *r))));
    }
    for a in &mut advisories {
        a.fingerprint = f.scope.fingerprint(&a.fingerprint);
        if a.basis.is_none() {
            a.basis = a.action.as_ref().and_then(|x| basis_of(x, f.asgs, f.table_states));
        }
    }
    advisories.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.resource.cmp(&b.resource))
    });
    advisories
}

/// The setting of the resource an action changes, as this cycle's inventory shows it: what
/// the advice was decided against. `act` refuses to apply it when the resource no longer has
/// it. A table's auto-scaling bounds are not in the inventory (left None: not compared).
pub fn basis_of(action: &Action, asgs: &[AsgState], tables: &[TableState]) -> Option<Setting> {
    let group = |name: &str| asgs.iter().find(|g| g.name == name);
    let mix = |g: &AsgState| {
        let d = g.distribution.as_ref();
        (d.is_some() || !g.overrides.is_empty()).then(|| Mix {
            on_demand_base_capacity: d.and_then(|d| d.on_demand_base_capacity).unwrap_or(0),
            on_demand_percentage_above_base: d.and_then(|d| d.on_demand_percentage_above_base).unwrap_or(100),
            spot_allocation_strategy: d.and_then(|d| d.spot_allocation_strategy.clone()),
            overrides: g.overrides.clone(),
        })
    };
    match action {
        Action::SetCapacity { asg, .. } | Action::SetLimits { asg, .. } => group(asg).map(|g| Setting::Size {
            min: g.min_size,
            max: g.max_size,
            desired: g.desired_capacity,
        }),
        Action::SetTargetValue { asg, policy, .. } => group(asg).and_then(|g| {
            g.policies
                .iter()
                .find(|p| &p.name == policy)
                .and_then(|p| p.target_value)
                .map(|value| Setting::Target {
                    policy: policy.clone(),
                    value,
                })
        }),
        Action::SetMixedInstancesPolicy { asg, .. } => group(asg).and_then(mix).map(Setting::Mix),
        Action::SetInstanceType { asg, .. } => group(asg).and_then(|g| {
            mix(g).map(|m| Setting::Migration {
                mix: m,
                min: g.min_size,
                max: g.max_size,
                desired: g.desired_capacity,
            })
        }),
        Action::SetTableCapacity { table, .. } => tables.iter().find(|t| &t.name == table).map(|t| Setting::Table {
            mode: t.billing_mode.clone(),
            rcu: t.read_capacity,
            wcu: t.write_capacity,
            read_scaling: None,
            write_scaling: None,
        }),
        Action::BuyCommitment { .. } => None,
    }
}

/// A service whose instances alone cost more per month than its own tier's whole budget.
pub fn service_over_budget(resource: &ResourceId, tier: &str, monthly: Money, (lo, hi): (f64, f64)) -> Advisory {
    let m = |x: f64| Money::from_usd_f64(x).unwrap_or_default();
    let over = monthly.as_usd_f64() - hi;
    Advisory {
        fingerprint: fingerprint(Kind::Spend, resource, "tier-budget"),
        kind: Kind::Spend,
        resource: resource.clone(),
        severity: Severity::Warning,
        summary: format!(
            "{}: its instances cost {monthly}/month on demand, above the {tier} tier's {} – {}/month budget by {}",
            resource.0,
            m(lo),
            m(hi),
            m(over)
        ),
        evidence: vec![
            ev("cost", format!("in-service instances × on-demand hourly × 730 h = {monthly}/month")),
            ev(
                "tier budget",
                format!("{tier}: {} – {}/month (sizing.toml monthly_cost_usd)", m(lo), m(hi)),
            ),
        ],
        action: None,
        monthly_cost_delta: Money::from_usd_f64(over),
        basis: None,
    }
}

/// Why `what` holds back for a resource: its metrics could not be fetched (the source and its
/// error, added to the evidence), or not enough history (`have` h of the `need` h needed).
fn held_summary(
    resource: &ResourceId,
    what: &str,
    (have, need): (f64, f64),
    unfetched: Option<&str>,
    evidence: &mut Vec<Evidence>,
) -> String {
    match unfetched {
        Some(why) => {
            evidence.push(ev("not fetched", why));
            format!(
                "{}: {what} held back: its metrics could not be fetched this cycle ({why}); {have:.1} h of the {need:.0} h needed are held",
                resource.0
            )
        }
        None => format!(
            "{}: {what} held back: not enough history ({have:.1} h of the {need:.0} h needed); nothing proposed",
            resource.0
        ),
    }
}

/// Advice held back, one info advisory per kind and resource, saying why: "not enough history
/// (X h of the Y h needed)" as right-sizing says it, or that the data could not be fetched
/// (the source and its error). Nothing is proposed.
pub fn held_back(held: &[crate::analyze::HeldBack]) -> Vec<Advisory> {
    held.iter()
        .map(|h| {
            let forecast_of = format!("the forecast of {}", h.subject.as_deref().unwrap_or("this series"));
            let what = match h.kind {
                Kind::AsgLimits => "ASG-limits advice",
                Kind::SpotMix => "spot-mix advice",
                Kind::Dynamodb => "DynamoDB capacity advice",
                Kind::Forecast => forecast_of.as_str(),
                _ => "advice",
            };
            let mut evidence = vec![ev(
                "history",
                format!("{:.1} h of the {:.0} h needed", h.history_hours, h.needed_hours),
            )];
            let summary = held_summary(
                &h.resource,
                what,
                (h.history_hours, h.needed_hours),
                h.unfetched.as_deref(),
                &mut evidence,
            );
            Advisory {
                fingerprint: fingerprint(
                    h.kind,
                    &h.resource,
                    &format!("held-back:{}", h.subject.as_deref().unwrap_or_default()),
                ),
                kind: h.kind,
                resource: h.resource.clone(),
                severity: Severity::Info,
                summary,
                evidence,
                action: None,
                monthly_cost_delta: None,
                basis: None,
            }
        })
        .collect()
}

/// An advisory per (rule, resource) that is firing now.
pub fn alerts(rules: &[Rule], states: &[RuleState]) -> Vec<Advisory> {
    states
        .iter()
        .filter(|s| s.state == AlertState::Firing)
        .filter_map(|s| {
            let rule = rules.iter().find(|r| r.name == s.rule)?;
            let value = s.value.unwrap_or(f64::NAN);
            let cmp = match rule.op {
                crate::config::Cmp::Gt => ">",
                crate::config::Cmp::Ge => ">=",
                crate::config::Cmp::Lt => "<",
                crate::config::Cmp::Le => "<=",
            };
            let mut evidence = vec![
                ev("rule", format!("{} ({})", rule.name, rule.file)),
                ev(
                    "condition",
                    format!(
                        "{} of {} over {} s {cmp} {} for {} s",
                        rule.stat, rule.signal, rule.window_s, rule.threshold, rule.for_s
                    ),
                ),
                ev("value", format!("{value:.4}")),
                ev("source", rule.source.clone()),
            ];
            if let Some(t) = s.active_since {
                evidence.push(ev("condition true since", ts(t)));
            }
            if let Some(t) = s.fired_at {
                evidence.push(ev("firing since", ts(t)));
            }
            Some(Advisory {
                fingerprint: fingerprint(Kind::Alert, &s.resource, &rule.name),
                kind: Kind::Alert,
                resource: s.resource.clone(),
                severity: rule.severity,
                summary: render(rule, &s.resource, value),
                evidence,
                action: None,
                monthly_cost_delta: None,
                basis: None,
            })
        })
        .collect()
}

fn ts(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}

fn usd(m: Money) -> String {
    let v = m.as_usd_f64();
    if v >= 0.0 { format!("+${v:.2}") } else { format!("-${:.2}", -v) }
}

fn sized(
    f: &Rightsize,
    fp: String,
    severity: Severity,
    summary: String,
    evidence: Vec<Evidence>,
    action: Option<Action>,
    delta: Option<Money>,
) -> Advisory {
    Advisory {
        fingerprint: fp,
        kind: Kind::Rightsize,
        resource: f.resource.clone(),
        severity,
        summary,
        evidence,
        action,
        monthly_cost_delta: delta,
        basis: None,
    }
}

/// Right-sizing findings as advisories: over- and under-provisioned groups, autoscaler
/// targets, and "not enough history" (info, nothing proposed). Optimized groups say nothing.
pub fn rightsize(findings: &[Rightsize], asgs: &[crate::domain::AsgState]) -> Vec<Advisory> {
    let mut out = vec![];
    for f in findings {
        let g = asgs.iter().find(|a| a.name == f.asg);
        let fp = fingerprint(Kind::Rightsize, &f.resource, "capacity");
        let mut evidence = vec![
            ev("history", format!("{:.1} h (lookback {} d)", f.history_hours, f.lookback_days)),
            ev(
                "in service",
                format!("{} × {}", f.in_service, f.instance_type.as_deref().unwrap_or("?")),
            ),
        ];
        if f.sizing == Sizing::NotEnoughHistory {
            let summary = held_summary(
                &f.resource,
                "right-sizing",
                (f.history_hours, f.min_history_hours),
                f.unfetched.as_deref(),
                &mut evidence,
            );
            out.push(sized(f, fp, Severity::Info, summary, evidence, None, None));
            continue;
        }
        if let Some(u) = f.cpu {
            evidence.push(ev(&format!("CPU p{}", f.cpu_percentile), format!("{u:.1} %")));
        }
        if let Some(u) = f.cpu_peak {
            evidence.push(ev("CPU peak", format!("{u:.1} %")));
        }
        if let Some(u) = f.memory {
            evidence.push(ev(&format!("memory p{}", f.memory_percentile), format!("{u:.1} %")));
        }
        evidence.push(ev(
            "target",
            format!("{} % utilization + {} % headroom", f.target_utilization, f.headroom),
        ));
        if let (Some((policy, metric, target)), Some(new)) = (&f.target_tracking, f.recommended_target_value) {
            evidence.push(ev("target tracking", format!("{policy}: {metric} at {target}")));
            let summary = format!(
                "{}: autoscaled at {target} % CPU; set the target to {new} % and let the autoscaler size the fleet",
                f.resource.0
            );
            let action = Action::SetTargetValue {
                asg: f.asg.clone(),
                policy: policy.clone(),
                target: new,
            };
            out.push(sized(f, fp, Severity::Info, summary, evidence, Some(action), None));
            continue;
        }
        let (Some(rec), Some(g)) = (f.recommended_desired, g) else {
            continue;
        };
        if f.sizing == Sizing::Optimized {
            continue;
        }
        evidence.push(ev(
            "formula",
            format!(
                "⌈load × (1 + headroom) ÷ target⌉, the load the percentile of utilization × instances in force each period: by CPU {} (p{} {} instance-equivalents), by memory {}",
                f.needed_by_cpu.map_or("-".into(), |x| x.to_string()),
                f.cpu_percentile,
                f.cpu_units.map_or("-".into(), |u| format!("{:.2}", u / 100.0)),
                f.needed_by_memory.map_or("-".into(), |x| x.to_string())
            ),
        ));
        evidence.push(ev("risk", format!("{}/4 {}", f.risk, f.risk_reasons.join("; "))));
        let delta = f
            .monthly_delta
            .map(usd)
            .unwrap_or_else(|| "cost unknown (type not in pricing.toml)".into());
        let (summary, action) = match &f.recommended_type {
            Some(t) => (
                format!(
                    "{}: {} — {} instance(s) at {:.0} % CPU p{}: {} × {} → {rec} × {t}, {delta}/month",
                    f.resource.0,
                    if f.sizing == Sizing::OverProvisioned {
                        "over-provisioned"
                    } else {
                        "under-provisioned"
                    },
                    f.in_service,
                    f.cpu.unwrap_or(0.0),
                    f.cpu_percentile,
                    f.in_service,
                    f.instance_type.as_deref().unwrap_or("?")
                ),
                Action::SetInstanceType {
                    asg: f.asg.clone(),
                    from: f.instance_type.clone().unwrap_or_default(),
                    to: t.clone(),
                    desired: rec,
                },
            ),
            None => (
                format!(
                    "{}: {} — CPU p{} {:.0} % → desired {} → {rec}, {delta}/month",
                    f.resource.0,
                    if f.sizing == Sizing::OverProvisioned {
                        "over-provisioned"
                    } else {
                        "under-provisioned"
                    },
                    f.cpu_percentile,
                    f.cpu.unwrap_or(0.0),
                    f.in_service
                ),
                Action::SetCapacity {
                    asg: f.asg.clone(),
                    min: f.recommended_min.unwrap_or(g.min_size),
                    desired: rec,
                    max: g.max_size.max(rec),
                },
            ),
        };
        let severity = if f.sizing == Sizing::UnderProvisioned {
            Severity::Warning
        } else {
            Severity::Info
        };
        out.push(sized(f, fp, severity, summary, evidence, Some(action), f.monthly_delta));
    }
    out
}

fn n0(x: f64) -> String {
    crate::model::units::Num(x.round()).to_string()
}

/// DynamoDB findings as advisories: throttling (warning), a cheaper capacity mode, or
/// provisioned capacity off its recommendation by more than 20 %. A table that is fine says
/// nothing.
pub fn dynamodb(findings: &[TableFinding]) -> Vec<Advisory> {
    let mut out = vec![];
    for f in findings {
        let (r, w) = (&f.reads, &f.writes);
        let dir = |name: &str, c: &crate::analyze::dynamodb::Capacity| {
            ev(
                name,
                format!(
                    "consumed mean {} / p95 {} / max {} units/s; provisioned {}; throttled {}; break-even utilization {:.0} %",
                    n0(c.mean),
                    n0(c.p95),
                    n0(c.max),
                    c.provisioned.map_or("on demand".into(), n0),
                    n0(c.throttle_events),
                    c.break_even_utilization * 100.0
                ),
            )
        };
        let evidence = vec![
            ev("history", format!("{:.1} h", f.history_hours)),
            dir("reads", r),
            dir("writes", w),
            ev(
                "monthly cost",
                format!(
                    "now {} ({}); on demand {}; provisioned at the recommendation {}",
                    f.monthly_now,
                    f.billing_mode,
                    r.on_demand_monthly + w.on_demand_monthly,
                    r.provisioned_monthly_recommended + w.provisioned_monthly_recommended
                ),
            ),
            ev(
                "formula",
                "recommended = ⌈p95 consumed ÷ 70 %⌉; auto scaling ⌈p5 ÷ 70 %⌉ – ⌈max × (1 + headroom) ÷ 70 %⌉",
            ),
        ];
        let throttled = r.throttle_events + w.throttle_events;
        let prov = f.recommended_mode == "PROVISIONED";
        let off = |c: &crate::analyze::dynamodb::Capacity| c.provisioned.is_some_and(|p| (p - c.recommended as f64).abs() > 0.2 * p);
        let mode_change = f.recommended_mode != f.billing_mode;
        if throttled <= 0.0 && !mode_change && !(prov && (off(r) || off(w))) {
            continue;
        }
        let delta = Money(f.monthly_recommended.0 - f.monthly_now.0);
        let target = if prov {
            format!(
                "PROVISIONED {} RCU / {} WCU with auto scaling {}–{} / {}–{}",
                r.recommended, w.recommended, r.autoscale_min, r.autoscale_max, w.autoscale_min, w.autoscale_max
            )
        } else {
            "on-demand (PAY_PER_REQUEST)".to_string()
        };
        let summary = if throttled > 0.0 {
            format!(
                "{}: {} throttled requests; p95 reads {} RCU/s → {target}, {}/month",
                f.resource.0,
                n0(throttled),
                n0(r.p95),
                usd(delta)
            )
        } else {
            format!("{}: {} → {target}, {}/month", f.resource.0, f.billing_mode, usd(delta))
        };
        out.push(Advisory {
            fingerprint: fingerprint(Kind::Dynamodb, &f.resource, "capacity"),
            kind: Kind::Dynamodb,
            resource: f.resource.clone(),
            severity: if throttled > 0.0 { Severity::Warning } else { Severity::Info },
            summary,
            evidence,
            action: Some(Action::SetTableCapacity {
                table: f.table.clone(),
                mode: f.recommended_mode.clone(),
                rcu: prov.then_some(r.recommended),
                wcu: prov.then_some(w.recommended),
                rcu_autoscale: prov.then_some((r.autoscale_min, r.autoscale_max)),
                wcu_autoscale: prov.then_some((w.autoscale_min, w.autoscale_max)),
            }),
            monthly_cost_delta: Some(delta),
            basis: None,
        });
    }
    out
}

/// Spend findings as advisories: each service whose spend rose faster than traffic
/// (warning), and the month-end projection (info, updated in place every cycle).
/// `band`: the tier whose monthly cost range the account's run rate is held against.
pub fn spend(f: &SpendFinding, band: Option<(&str, (f64, f64))>) -> Vec<Advisory> {
    let account = ResourceId("account".into());
    let req = f
        .requests_change
        .map_or("no traffic signal (no request metric was collected)".into(), |c| {
            format!("{c:+.0} %")
        });
    let against = |c: &crate::analyze::spend::ServiceChange| match f.requests_change {
        Some(r) => format!("{} spend {:+.0} % week over week while requests {r:+.0} %", c.service, c.change),
        None => format!(
            "{} spend {:+.0} % week over week; no traffic signal was available to compare it with",
            c.service, c.change
        ),
    };
    let mut out: Vec<Advisory> = f
        .rising
        .iter()
        .map(|c| (c, ResourceId(format!("service/{}", c.service))))
        .map(|(c, resource)| Advisory {
            fingerprint: fingerprint(Kind::Spend, &resource, "week-over-week"),
            kind: Kind::Spend,
            resource,
            severity: Severity::Warning,
            summary: format!("{}: +{}/month at this rate", against(c), c.monthly_increase),
            evidence: vec![
                ev("days", format!("{} – {}", f.window.0, f.window.1)),
                ev("last 7 days", c.last_7d.to_string()),
                ev("7 days before", c.prior_7d.to_string()),
                ev("requests, same days", req.clone()),
                ev(
                    "rule",
                    format!(
                        "spend up ≥ {} % and ≥ {} points more than requests",
                        crate::analyze::spend::MIN_RISE,
                        crate::analyze::spend::MIN_GAP_POINTS
                    ),
                ),
            ],
            action: None,
            // Positive: it costs more (the text's +$/month).
            monthly_cost_delta: Some(c.monthly_increase),
            basis: None,
        })
        .collect();
    let run_rate_monthly = f.daily_run_rate.as_usd_f64() * crate::model::units::HOURS_PER_MONTH / 24.0;
    if let Some((tier, (lo, hi))) = band
        && run_rate_monthly > hi
    {
        let m = |x: f64| Money::from_usd_f64(x).unwrap_or_default();
        out.push(Advisory {
            fingerprint: fingerprint(Kind::Spend, &account, "tier-budget"),
            kind: Kind::Spend,
            resource: account.clone(),
            severity: Severity::Warning,
            summary: format!(
                "run rate {}/month is above the budget of the tiers the services run as ({tier}): {} – {}/month, by {}",
                m(run_rate_monthly),
                m(lo),
                m(hi),
                m(run_rate_monthly - hi)
            ),
            evidence: vec![
                ev(
                    "run rate",
                    format!("{}/day × 730 h ÷ 24 = {}/month", f.daily_run_rate, m(run_rate_monthly)),
                ),
                ev(
                    "tier budget",
                    format!(
                        "{tier}: {} – {}/month (Σ of each tier's sizing.toml monthly_cost_usd, once per service)",
                        m(lo),
                        m(hi)
                    ),
                ),
                ev("days", format!("the 7 complete days to {}", f.window.1)),
            ],
            action: None,
            // Positive: the run rate costs this much more than the budget's top.
            monthly_cost_delta: Money::from_usd_f64(run_rate_monthly - hi),
            basis: None,
        });
    }
    out.push(Advisory {
        fingerprint: fingerprint(Kind::Spend, &account, "projection"),
        kind: Kind::Spend,
        resource: account,
        severity: Severity::Info,
        summary: format!(
            "{} projected at {} (month to date {}, run rate {}/day)",
            f.month, f.month_end_projection, f.month_to_date, f.daily_run_rate
        ),
        evidence: vec![ev(
            "formula",
            "month to date + last 7 days' daily mean × days left (today included)",
        )],
        action: None,
        monthly_cost_delta: None,
        basis: None,
    });
    out
}

/// ASG-limit findings as advisories: max too low (warning: the group cannot scale to its load)
/// and min too high (info: capacity paid for at the trough).
pub fn limits(findings: &[Limits]) -> Vec<Advisory> {
    let mut out = vec![];
    for l in findings {
        if l.raise_max_to.is_none() && l.lower_min_to.is_none() {
            continue;
        }
        let pct = |x: f64| format!("{:.0} %", x * 100.0);
        let mut evidence = vec![
            ev("periods", format!("{} with desired capacity and CPU", l.periods)),
            ev("at max", format!("{} of periods (max {})", pct(l.at_max_share), l.max)),
            ev("at min", format!("{} of periods (min {})", pct(l.at_min_share), l.min)),
        ];
        if let Some(c) = l.cpu_p95_at_max {
            evidence.push(ev("CPU p95 at max", format!("{c:.1} % (hot above {} %)", l.hot_above)));
        }
        if let (Some(c), Some(t)) = (l.cpu_p5, l.trough_load) {
            evidence.push(ev("trough", format!("CPU p5 {c:.1} %, load p5 {t:.2} instance-equivalents")));
        }
        evidence.push(ev(
            "rule",
            "raise max when at max > 10 % of the lookback and hot there; lower min when CPU p5 < 30 % (seeds' scale-in) and the trough needs fewer",
        ));
        let mut parts = vec![];
        if let Some(m) = l.raise_max_to {
            parts.push(format!(
                "at max {} {} of the time and hot: raise max {} → {m}",
                l.max,
                pct(l.at_max_share),
                l.max
            ));
        }
        if let Some(m) = l.lower_min_to {
            parts.push(format!("lower min {} → {m} (trough needs {m})", l.min));
        }
        let delta = l.monthly_delta.map(|d| format!(", {}/month", usd(d))).unwrap_or_default();
        out.push(Advisory {
            fingerprint: fingerprint(Kind::AsgLimits, &l.resource, "limits"),
            kind: Kind::AsgLimits,
            resource: l.resource.clone(),
            severity: if l.raise_max_to.is_some() {
                Severity::Warning
            } else {
                Severity::Info
            },
            summary: format!("{}: {}{delta}", l.resource.0, parts.join("; ")),
            evidence,
            action: Some(Action::SetLimits {
                asg: l.asg.clone(),
                min: l.lower_min_to.unwrap_or(l.min),
                max: l.raise_max_to.unwrap_or(l.max),
            }),
            monthly_cost_delta: l.monthly_delta,
            basis: None,
        });
    }
    out
}

/// Tier findings as advisories: only a recommended move says something. Outgrown is
/// critical, near the upper bound a warning, a trend inside the lead time and a step down
/// information. The subject is "tier" so a move that changes target stays one advisory.
pub fn tiers(findings: &[TierFit]) -> Vec<Advisory> {
    let mut out = vec![];
    for f in findings {
        let (Some(to), Some(why)) = (&f.move_to, f.why) else {
            continue;
        };
        let bound = |x: f64| if x.is_finite() { n0(x) } else { "∞".into() };
        let placed = if f.configured { "configured" } else { "placed by its 7-day peak" };
        let mut evidence = vec![
            ev("concurrent users", f.users_from.clone()),
            ev("7-day peak", format!("{} users", n0(f.peak_7d))),
            ev(
                "tier",
                format!("{} ({placed}): {} – {} users", f.current, bound(f.bounds.0), bound(f.bounds.1)),
            ),
        ];
        if !f.weekly_peaks.is_empty() {
            let w: Vec<String> = f.weekly_peaks.iter().map(|p| n0(*p)).collect();
            evidence.push(ev("weekly peaks, newest first", w.join(", ")));
        }
        if let Some(g) = f.growth_30d {
            evidence.push(ev("trend", format!("{:+.1} % per 30 days (compound, weekly peaks)", g * 100.0)));
        }
        if let Some(c) = &f.up_crossing {
            evidence.push(ev(
                "users forecast",
                format!("reaches {} users (the up line) {}", n0(f.up_line), forecasts::describe(c)),
            ));
        }
        if let (Some(d), Some(from)) = (f.days_to_up_line, &f.trend_from) {
            evidence.push(ev("days to the up line", format!("{d:.1} ({from})")));
        }
        let days = f.days_to_up_line.map(|d| d.ceil()).unwrap_or(0.0);
        let (severity, reason) = match why {
            Why::Outgrown => (
                Severity::Critical,
                format!(
                    "7-day peak {} users is past {}'s upper bound {}",
                    n0(f.peak_7d),
                    f.current,
                    bound(f.bounds.1)
                ),
            ),
            Why::NearUpper => (
                Severity::Warning,
                format!(
                    "7-day peak {} users is past {} (the up line of {})",
                    n0(f.peak_7d),
                    n0(f.up_line),
                    f.current
                ),
            ),
            Why::Trend => (
                Severity::Info,
                format!(
                    "the trend reaches {} users (the up line of {}) in ~{days:.0} days",
                    n0(f.up_line),
                    f.current
                ),
            ),
            Why::Below => (
                Severity::Info,
                format!(
                    "peak {} users over the down window, below {}'s down line",
                    n0(f.down_window_peak.unwrap_or(f.peak_7d)),
                    f.current
                ),
            ),
        };
        evidence.push(ev(
            "rule",
            "up at tier_up_at × upper bound (or the trend within tier_lead_days); down only after tier_down_after_days below tier_down_below × lower bound (sizing.toml)",
        ));
        let delta = match (f.from_monthly, f.to_monthly) {
            (Some(a), Some(b)) => {
                evidence.push(ev(
                    "bundles",
                    format!("{} {a}/month → {to} {b}/month (node groups at desired, as designed)", f.current),
                ));
                Some(Money(b.0 - a.0))
            }
            _ => None,
        };
        for (i, s) in f.steps.iter().enumerate() {
            evidence.push(ev(&format!("step {}", i + 1), s.clone()));
        }
        out.push(Advisory {
            fingerprint: fingerprint(Kind::Tier, &f.resource, "tier"),
            kind: Kind::Tier,
            resource: f.resource.clone(),
            severity,
            summary: format!(
                "{}: {} → {to}: {reason}{}",
                f.resource.0,
                f.current,
                delta.map(|d| format!(", {}/month", usd(d))).unwrap_or_default()
            ),
            evidence,
            action: None,
            monthly_cost_delta: delta,
            basis: None,
        });
    }
    out
}

/// Commitment findings as advisories: the allowed option that saves the most, with every
/// allowed option and the best of any term and payment in the evidence. Info: a purchase is a
/// person's decision. Nothing when no option saves.
pub fn commitments(findings: &[Commitment]) -> Vec<Advisory> {
    let mut out = vec![];
    for c in findings {
        let Some(best) = c.options.first().filter(|o| o.level > 0.0 && o.monthly_savings.0 > 0) else {
            continue;
        };
        let pct = |x: f64| format!("{:.0} %", x * 100.0);
        let line = |o: &OptionResult| {
            format!(
                "{}: {}, utilization {}, coverage {}, saves {}/month, upfront {}, break-even {}",
                o.name,
                o.level_text,
                pct(o.utilization),
                pct(o.coverage),
                o.monthly_savings,
                o.upfront,
                o.break_even_months.map_or("never".into(), |m| format!("{m:.1} months"))
            )
        };
        let mut evidence = vec![
            ev(
                "usage",
                format!(
                    "{} h over {} days: mean {:.2}, min {:.2}, max {:.2} {}",
                    c.hours, c.lookback_days, c.usage_mean, c.usage_min, c.usage_max, c.unit
                ),
            ),
            ev("on demand today", format!("{}/month", c.on_demand_monthly)),
            ev(
                "optimizer",
                "the level minimizing commitment (upfront amortized) + on-demand overflow over the lookback, exactly",
            ),
        ];
        for o in &c.options {
            evidence.push(ev("option", line(o)));
        }
        if let Some(b) = &c.best_any
            && b.name != best.name
        {
            evidence.push(ev("best of any term and payment", line(b)));
        }
        for n in &c.notes {
            evidence.push(ev("note", n.clone()));
        }
        out.push(Advisory {
            fingerprint: fingerprint(Kind::Commitment, &c.resource, &c.subject),
            kind: Kind::Commitment,
            resource: c.resource.clone(),
            severity: Severity::Info,
            summary: format!(
                "{}: buy {} ({}): {}/month saved at {} utilization{}",
                c.resource.0,
                best.level_text,
                best.name,
                best.monthly_savings,
                pct(best.utilization),
                if best.upfront.0 > 0 {
                    format!(", {} upfront", best.upfront)
                } else {
                    String::new()
                }
            ),
            evidence,
            action: Some(Action::BuyCommitment {
                offering: best.name.clone(),
                level: best.level_text.clone(),
            }),
            monthly_cost_delta: Some(Money(-best.monthly_savings.0)),
            basis: None,
        });
    }
    out
}

/// Spot-mix findings as advisories, where the mix saves at least `spot::MIN_SAVING`.
pub fn spot_mix(findings: &[SpotMix]) -> Vec<Advisory> {
    let mut out = vec![];
    for m in findings.iter().filter(|m| crate::analyze::spot::worth_it(m)) {
        let delta = Money(m.monthly_proposed.0 - m.monthly_today.0);
        let types: Vec<String> = m
            .overrides
            .iter()
            .map(|o| match &o.weighted_capacity {
                Some(w) => format!("{} (weight {w})", o.instance_type),
                None => o.instance_type.clone(),
            })
            .collect();
        let today = if m.today.0 == i32::MAX {
            "all on demand".to_string()
        } else {
            format!("base {}, {} % on demand above base", m.today.0, m.today.1)
        };
        let mut evidence = vec![
            ev("service class", m.class.clone()),
            ev(
                "desired capacity",
                format!(
                    "{} periods: mean {:.1}, floor (low percentile) {:.1}",
                    m.periods, m.desired_mean, m.desired_floor
                ),
            ),
            ev("today", format!("{today}: {}/month", m.monthly_today)),
            ev(
                "proposed",
                format!(
                    "on-demand base {} (the floor), {} % on demand above it, the rest spot ({STRATEGY}): {}/month",
                    m.on_demand_base, m.on_demand_pct_above_base, m.monthly_proposed
                ),
            ),
            ev("instance types", types.join(", ")),
            ev(
                "formula",
                "per period: on-demand = min(d, base) + (d − base)⁺ × pct; spot at on-demand × (1 − the type's spot discount)",
            ),
        ];
        if let Some(n) = &m.diversification_note {
            evidence.push(ev("note", n.clone()));
        }
        out.push(Advisory {
            fingerprint: fingerprint(Kind::SpotMix, &m.resource, "mix"),
            kind: Kind::SpotMix,
            resource: m.resource.clone(),
            severity: Severity::Info,
            summary: format!(
                "{}: on-demand base {} + {} % above it, the rest spot over {} types: {}/month",
                m.resource.0,
                m.on_demand_base,
                m.on_demand_pct_above_base,
                m.overrides.len(),
                usd(delta)
            ),
            evidence,
            action: Some(Action::SetMixedInstancesPolicy {
                asg: m.asg.clone(),
                on_demand_base_capacity: m.on_demand_base,
                on_demand_percentage_above_base_capacity: m.on_demand_pct_above_base,
                spot_allocation_strategy: STRATEGY.into(),
                overrides: m.overrides.clone(),
            }),
            monthly_cost_delta: Some(delta),
            basis: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::spend::{ServiceChange, SpendFinding};

    fn finding(requests_change: Option<f64>) -> SpendFinding {
        SpendFinding {
            window: ("2026-11-20".into(), "2026-12-03".into()),
            requests_change,
            rising: vec![ServiceChange {
                service: "Amazon EC2".into(),
                last_7d: Money(700_000_000),
                prior_7d: Money(500_000_000),
                change: 40.0,
                monthly_increase: Money(857_142_857),
            }],
            month: "2026-12".into(),
            month_to_date: Money(300_000_000),
            daily_run_rate: Money(100_000_000),
            month_end_projection: Money(3_100_000_000),
        }
    }

    /// Regression (issue 20, item 7): without a request metric the text says so plainly
    /// ("while requests no request metric to compare" was broken English).
    #[test]
    fn spend_without_a_traffic_signal_says_so_plainly() {
        let a = spend(&finding(None), None);
        let s = &a[0].summary;
        assert!(
            s.contains("Amazon EC2 spend +40 % week over week; no traffic signal was available to compare it with"),
            "{s}"
        );
        assert!(!s.contains("while requests"), "{s}");
        let a = spend(&finding(Some(2.0)), None);
        assert!(a[0].summary.contains("while requests +2 %"), "{}", a[0].summary);
    }

    /// Issue 20, item 7: a service is held against its own tier's budget.
    #[test]
    fn a_service_over_its_own_tiers_budget_says_by_how_much() {
        let r = ResourceId::asg("web");
        let monthly = Money(5_000_000_000);
        let a = service_over_budget(&r, "small", monthly, (1000.0, 3000.0));
        assert!(
            a.summary.contains("asg/web: its instances cost $5,000.00/month on demand, above the small tier's $1,000.00 – $3,000.00/month budget by $2,000.00"),
            "{}",
            a.summary
        );
        assert_eq!(a.monthly_cost_delta, Money::from_usd_f64(5000.0 - 3000.0), "positive: costs more");
    }

    /// Issue 20, item 7: the account's run rate is held against the sum of the budgets of the
    /// tiers its services run as, named.
    #[test]
    fn the_run_rate_is_held_against_the_sum_of_the_tiers_run() {
        let f = finding(Some(2.0));
        let run_rate = f.daily_run_rate.as_usd_f64() * crate::model::units::HOURS_PER_MONTH / 24.0;
        // Two services: medium twice and small once, budgets summed below the run rate.
        let (lo, hi) = (run_rate * 0.3, run_rate * 0.8);
        let a = spend(&f, Some(("medium × 2 + small", (lo, hi))));
        let b = a.iter().find(|a| a.summary.contains("budget")).expect("the budget advisory");
        let m = |x: f64| Money::from_usd_f64(x).unwrap();
        assert!(b.summary.contains("(medium × 2 + small)"), "{}", b.summary);
        assert!(
            b.summary.contains(&format!("{} – {}/month, by {}", m(lo), m(hi), m(run_rate - hi))),
            "{}",
            b.summary
        );
        // Within the budget: nothing said.
        assert!(
            spend(&f, Some(("medium", (lo, run_rate * 1.1))))
                .iter()
                .all(|a| !a.summary.contains("budget"))
        );
    }
}
