//! Findings → advisories: the unit of output. Each has a kind, the resource, a severity, a
//! one-line summary, its evidence (the figures, window, percentile and rule or formula used),
//! an optional proposed action, the monthly cost delta, and a stable fingerprint.
//!
//! The fingerprint hashes kind + resource + subject (the rule for an alert, "capacity" for
//! right-sizing), not the proposal's numbers: a recommendation that moves from 4 to 5
//! instances between cycles is the same advisory, updated, not a new one (DESIGN.md hashes
//! the proposal too; that would churn an advisory per cycle as the figures move).
//!
//! Pure and synchronous. May use: domain, config, analyze (its findings).

use crate::analyze::rightsize::{Rightsize, Sizing};
use crate::analyze::rules::render;
use crate::config::Rule;
use crate::domain::{Action, Advisory, AlertState, Evidence, Kind, Money, ResourceId, RuleState, Severity};

fn ev(name: &str, value: impl Into<String>) -> Evidence {
    Evidence {
        name: name.to_string(),
        value: value.into(),
    }
}

/// FNV-1a, 64 bits, as 16 hex digits: stable across builds and platforms (unlike std's
/// DefaultHasher), so fingerprints in the store stay valid after an upgrade.
pub fn fingerprint(kind: Kind, resource: &ResourceId, subject: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind
        .as_str()
        .bytes()
        .chain([0])
        .chain(resource.0.bytes())
        .chain([0])
        .chain(subject.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
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
            let summary = format!(
                "{}: not enough history to right-size ({:.1} h of the {:.0} h needed); nothing proposed",
                f.resource.0, f.history_hours, f.min_history_hours
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
                "⌈n × u × (1 + headroom) ÷ target⌉: by CPU {}, by memory {}",
                f.needed_by_cpu.map_or("-".into(), |x| x.to_string()),
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
                    "{}: {} instance at {:.0} % CPU p{}: {} → {t}, {delta}/month",
                    f.resource.0,
                    f.in_service,
                    f.cpu.unwrap_or(0.0),
                    f.cpu_percentile,
                    f.instance_type.as_deref().unwrap_or("?")
                ),
                Action::SetInstanceType {
                    asg: f.asg.clone(),
                    from: f.instance_type.clone().unwrap_or_default(),
                    to: t.clone(),
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
