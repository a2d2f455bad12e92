//! Outlooks → advisories of kind `forecast`: one per resource and signal whose point forecast
//! crosses one of its lines within the horizon, naming the first line crossed, the date and
//! its 80 % interval; the other lines, the growth and the model are evidence. A line already
//! crossed is the alert rules' business, not a forecast's.
//!
//! Severity: warning when the crossing is within `WARN_DAYS`, else info.
//!
//! Pure and synchronous. May use: domain, analyze (outlooks).

use super::{ev, fingerprint, ts};
use crate::analyze::forecast::Crossing;
use crate::analyze::outlook::{HORIZON_HOURS, Outlook};
use crate::domain::{Advisory, Kind, Severity, Ts};

/// A crossing within this many days is a warning.
pub const WARN_DAYS: f64 = 7.0;

fn day(t: Ts) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| t.to_string())
}

fn short(t: Ts) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%b %-d").to_string())
        .unwrap_or_else(|| t.to_string())
}

fn amount(v: f64, unit: &str) -> String {
    let n = if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.1}") };
    if unit == "%" { format!("{n} %") } else { format!("{n} {unit}") }
}

/// How a crossing reads: "on 2027-01-09 (80 %: Dec 30 – Jan 21)".
pub fn describe(c: &Crossing) -> String {
    match c {
        Crossing::Already => "already at or past it".into(),
        Crossing::At { at, earliest, latest } => format!(
            "on {} (80 %: {} – {})",
            day(*at),
            short(*earliest),
            latest.map(short).unwrap_or_else(|| "beyond the horizon".into())
        ),
        Crossing::NotWithinHorizon { earliest: Some(e) } => {
            format!("not within the horizon (the 80 % upper bound reaches it on {})", day(*e))
        }
        Crossing::NotWithinHorizon { earliest: None } => "not within the horizon".into(),
    }
}

pub fn forecasts(outlooks: &[Outlook], now: Ts) -> Vec<Advisory> {
    let mut out = vec![];
    for o in outlooks {
        let first = o
            .lines
            .iter()
            .filter_map(|l| match l.crossing {
                Crossing::At { at, .. } => Some((at, l)),
                _ => None,
            })
            .min_by_key(|(at, _)| *at);
        let Some((at, line)) = first else { continue };
        let days = (at - now) as f64 / 86_400.0;
        let severity = if days <= WARN_DAYS { Severity::Warning } else { Severity::Info };
        let summary = format!(
            "{} reaches {} ({}) {} — {}",
            o.what,
            amount(line.value, &o.unit),
            line.name,
            describe(&line.crossing),
            match days.max(0.0).ceil() as i64 {
                0 | 1 => "within a day".to_string(),
                d => format!("in about {d} days"),
            }
        );
        let mut evidence = vec![
            ev(
                "forecast of",
                format!(
                    "{} of {}, last hour {}, highest of the last week {}",
                    o.what,
                    o.resource,
                    amount(o.last, &o.unit),
                    amount(o.recent_peak, &o.unit)
                ),
            ),
            ev(
                "model",
                format!(
                    "{}{}; {} hours of history, {} outliers set aside; made {}",
                    o.model,
                    o.fallback.as_ref().map(|f| format!(" (fallback: {f})")).unwrap_or_default(),
                    o.history_hours,
                    o.outliers,
                    ts(o.computed_at)
                ),
            ),
            ev("intervals", o.intervals_from.clone()),
            ev(
                "horizon",
                format!("{} days, hourly, to {}", HORIZON_HOURS / 24, ts(o.horizon_end())),
            ),
        ];
        if let Some(g) = &o.growth {
            evidence.push(ev(
                "growth",
                format!(
                    "{:+.1} % per 30 days (80 %: {:+.1} … {:+.1} %), {} fit of {} daily means{}",
                    g.per_30d * 100.0,
                    g.lo80 * 100.0,
                    g.hi80 * 100.0,
                    g.fit,
                    g.days,
                    g.changepoint_days_ago
                        .map(|d| format!(" since a changepoint {d} days ago"))
                        .unwrap_or_default()
                ),
            ));
        }
        for l in &o.lines {
            evidence.push(ev(
                &format!("crosses {}", amount(l.value, &o.unit)),
                format!("{}: {}", l.name, describe(&l.crossing)),
            ));
        }
        let (peak, peak_hi) = (o.point.max(), o.hi80.max());
        evidence.push(ev(
            "forecast peak",
            format!("{} (80 % upper bound {})", amount(peak, &o.unit), amount(peak_hi, &o.unit)),
        ));
        let subject = format!("{:?}", o.signal);
        out.push(Advisory {
            fingerprint: fingerprint(Kind::Forecast, &o.resource, &subject),
            kind: Kind::Forecast,
            resource: o.resource.clone(),
            severity,
            summary,
            evidence,
            action: None,
            monthly_cost_delta: None,
            basis: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::outlook::{Curve, Line};
    use crate::domain::{ResourceId, Signal};

    const NOW: Ts = 1_800_000_000;

    fn outlook(lines: Vec<Line>) -> Outlook {
        Outlook {
            resource: ResourceId::asg("web"),
            signal: Signal::CpuPercent,
            what: "CPU utilization (hourly mean)".into(),
            unit: "%".into(),
            origin: NOW - 3600,
            history_hours: 500,
            last: 60.0,
            recent_peak: 62.0,
            model: "m".into(),
            fallback: None,
            intervals_from: "i".into(),
            outliers: 0,
            growth: None,
            point: Curve::new(&[61.0; HORIZON_HOURS]),
            lo80: Curve::new(&[59.0; HORIZON_HOURS]),
            hi80: Curve::new(&[63.0; HORIZON_HOURS]),
            lines,
            computed_at: NOW,
        }
    }

    fn line(value: f64, at: Option<Ts>) -> Line {
        Line {
            name: format!("rule {value}"),
            value,
            crossing: match at {
                Some(at) => Crossing::At {
                    at,
                    earliest: at - 86_400,
                    latest: Some(at + 86_400),
                },
                None => Crossing::NotWithinHorizon { earliest: None },
            },
        }
    }

    #[test]
    fn the_first_crossing_names_the_advisory_and_sets_its_severity() {
        let soon = NOW + 3 * 86_400;
        let later = NOW + 10 * 86_400;
        let a = forecasts(&[outlook(vec![line(80.0, Some(later)), line(75.0, Some(soon))])], NOW);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, Kind::Forecast);
        assert_eq!(a[0].severity, Severity::Warning, "3 days ≤ {WARN_DAYS}");
        assert!(
            a[0].summary.contains("75.0 %") && a[0].summary.contains(&day(soon)),
            "{}",
            a[0].summary
        );
        assert!(a[0].summary.contains("in about 3 days"), "{}", a[0].summary);
        let b = forecasts(&[outlook(vec![line(80.0, Some(later))])], NOW);
        assert_eq!(b[0].severity, Severity::Info, "10 days > {WARN_DAYS}");
        assert_eq!(
            a[0].fingerprint, b[0].fingerprint,
            "same resource and signal: the same advisory, updated"
        );
    }

    #[test]
    fn no_crossing_within_the_horizon_is_no_advisory() {
        assert!(forecasts(&[outlook(vec![line(90.0, None)])], NOW).is_empty());
        assert!(forecasts(&[outlook(vec![])], NOW).is_empty());
    }
}
