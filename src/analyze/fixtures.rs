//! Test builders for the analyzers: plain snapshots, series and rules, no I/O.

use crate::config::{Cmp, Rule};
use crate::domain::*;

pub const P: i64 = 300;

pub fn asg(name: &str, min: i32, desired: i32, max: i32, ty: &str) -> AsgState {
    AsgState {
        name: name.into(),
        min_size: min,
        max_size: max,
        desired_capacity: desired,
        in_service: desired,
        instance_types: vec![(ty.into(), desired.max(0) as u32)],
        overrides: vec![],
        distribution: None,
        target_group_arns: vec![],
        tags: vec![],
        policies: vec![],
    }
}

pub fn series(resource: &ResourceId, signal: Signal, points: Vec<(Ts, f64)>) -> Series {
    // Consumed capacity is a Sum per period, as collect queries it; the rest an Average.
    let stat = if matches!(signal, Signal::ConsumedRcu | Signal::ConsumedWcu) {
        Stat::Sum
    } else {
        Stat::Average
    };
    Series {
        resource: resource.clone(),
        signal,
        query: MetricQuery::new("T", &format!("{signal:?}"), &[("R", resource.0.as_str())], stat, P as u32),
        points: points.into(),
    }
}

/// Points every period in [from, to) with value f(t).
pub fn grid(from: Ts, to: Ts, f: impl Fn(Ts) -> f64) -> Vec<(Ts, f64)> {
    (0..).map(|i| from + i * P).take_while(|t| *t < to).map(|t| (t, f(t))).collect()
}

pub fn snapshot(now: Ts, asgs: Vec<AsgState>, series: Vec<Series>) -> Snapshot {
    Snapshot::bare(now, asgs, series)
}

pub fn rule(name: &str, signal: &str, stat: &str, op: Cmp, threshold: f64, for_s: u64, keep_s: u64) -> Rule {
    Rule {
        name: name.into(),
        file: "test.toml".into(),
        signal: signal.into(),
        resource: "asg".into(),
        stat: stat.into(),
        window_s: 300,
        op,
        threshold,
        for_s,
        keep_firing_for_s: keep_s,
        severity: Severity::Warning,
        labels: Default::default(),
        summary: "{{rule}} {{value}} on {{resource}} over {{threshold}}".into(),
        source: "test".into(),
    }
}
