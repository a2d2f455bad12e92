//! The alert rules engine: each rule of the packs in `alerts/`, on each resource it selects,
//! goes inactive → pending → firing → resolved, Prometheus-style, with `for` (how long the
//! condition must hold before it fires) and `keep_firing_for` (how long it keeps firing after
//! the condition clears).
//!
//! Evaluation replays the series: every period step since the rule's last evaluation (at most
//! `for + keep_firing_for` plus two periods back) is evaluated on the window that ends there,
//! so a `for` duration is measured on the data, not on how often cycles happen to run, and a
//! restart resumes from the persisted state: the timer of a pending rule keeps its start and a
//! firing rule does not fire again. A step without data leaves the state as it was and is
//! evaluated again when late data arrives. `desired_at_max` reads the collected
//! GroupDesiredCapacity against the group's max (replayed like the others); without that
//! series, it is the group's current state, evaluated at the cycle's own step only.
//!
//! Pure and synchronous: `now` comes in. May use: domain, config, analyze::stats.

use super::stats;
use crate::config::{Cmp, Rule};
use crate::domain::{AlertState, Points, ResourceId, RuleState, Signal, Snapshot, Ts};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Fired,
    Resolved,
}

/// A rule starting or stopping to fire at a step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub rule: String,
    pub resource: ResourceId,
    pub at: Ts,
    pub transition: Transition,
    pub value: f64,
}

/// The result of one evaluation: every (rule, resource) state, and the transitions on the way.
#[derive(Clone, Debug, Default)]
pub struct Evaluation {
    pub states: Vec<RuleState>,
    pub events: Vec<Event>,
}

/// Advances a state by one step at which the condition does or does not hold.
pub fn step(rule: &Rule, st: &mut RuleState, at: Ts, holds: bool) -> Option<Transition> {
    let for_s = rule.for_s as i64;
    let keep_s = rule.keep_firing_for_s as i64;
    match (st.state, holds) {
        (AlertState::Inactive | AlertState::Resolved, true) => {
            st.active_since = Some(at);
            st.cleared_since = None;
            if for_s == 0 {
                st.state = AlertState::Firing;
                st.fired_at = Some(at);
                return Some(Transition::Fired);
            }
            st.state = AlertState::Pending;
        }
        (AlertState::Inactive | AlertState::Resolved, false) => {}
        (AlertState::Pending, true) => {
            if at - st.active_since.unwrap_or(at) >= for_s {
                st.state = AlertState::Firing;
                st.fired_at = Some(at);
                return Some(Transition::Fired);
            }
        }
        (AlertState::Pending, false) => {
            st.state = AlertState::Inactive;
            st.active_since = None;
        }
        (AlertState::Firing, true) => st.cleared_since = None,
        (AlertState::Firing, false) => {
            let since = *st.cleared_since.get_or_insert(at);
            if at - since >= keep_s {
                st.state = AlertState::Resolved;
                st.active_since = None;
                st.cleared_since = None;
                return Some(Transition::Resolved);
            }
        }
    }
    None
}

pub fn compare(op: Cmp, value: f64, threshold: f64) -> bool {
    match op {
        Cmp::Gt => value > threshold,
        Cmp::Ge => value >= threshold,
        Cmp::Lt => value < threshold,
        Cmp::Le => value <= threshold,
    }
}

/// The resources a rule's selector names in this snapshot.
pub fn selected(rule: &Rule, snap: &Snapshot) -> Vec<ResourceId> {
    let asgs = snap.asgs.iter().map(|a| ResourceId::asg(&a.name));
    let tables = snap.tables.iter().map(|t| ResourceId::table(&t.name));
    asgs.chain(tables).filter(|r| applies(rule, r)).collect()
}

/// Whether a rule's selector (`asg`, `table`, or one resource such as `asg/web`) names `r`.
pub fn applies(rule: &Rule, r: &ResourceId) -> bool {
    match rule.resource.as_str() {
        "asg" => r.0.starts_with("asg/"),
        "table" => r.0.starts_with("table/"),
        one => one == r.0,
    }
}

/// Series of the snapshot by resource and signal.
pub struct Index<'a> {
    series: HashMap<(&'a ResourceId, Signal), &'a Points>,
    groups: HashMap<&'a str, &'a crate::domain::AsgState>,
}

impl<'a> Index<'a> {
    pub fn new(snap: &'a Snapshot) -> Self {
        Index {
            series: snap.series.iter().map(|s| ((&s.resource, s.signal), &s.points)).collect(),
            groups: snap.asgs.iter().map(|g| (g.name.as_str(), g)).collect(),
        }
    }
    /// A group of the snapshot by name (a rule's replay asks at every step).
    pub fn group(&self, name: &str) -> Option<&'a crate::domain::AsgState> {
        self.groups.get(name).copied()
    }
    /// Values of a series with period starts in [from, to).
    pub fn window(&self, r: &ResourceId, sig: Signal, from: Ts, to: Ts) -> Vec<f64> {
        let Some(p) = self.series.get(&(r, sig)) else { return vec![] };
        p.range(from, to).map(|(_, v)| v).collect()
    }
}

fn apply_stat(stat: &str, v: &[f64], window_s: i64) -> Option<f64> {
    match stat {
        "avg" => stats::mean(v),
        "max" => stats::max(v),
        "min" => stats::min(v),
        "sum" => stats::sum(v),
        "rate" => stats::sum(v).map(|s| s / window_s as f64),
        p => p
            .strip_prefix('p')
            .and_then(|n| n.parse::<f64>().ok())
            .and_then(|n| stats::percentile(v, n)),
    }
}

/// The value of a rule's signal on a resource for the window [at − window, at), or None
/// when there is no data.
pub fn value_at(rule: &Rule, idx: &Index, r: &ResourceId, at: Ts, window_s: i64, now_step: Ts) -> Option<f64> {
    let from = at - window_s;
    let one = |sig| apply_stat(&rule.stat, &idx.window(r, sig, from, at), window_s);
    match rule.signal.as_str() {
        "cpu_percent" => one(Signal::CpuPercent),
        "memory_percent" => one(Signal::MemoryPercent),
        "db_connection_pool_percent" => one(Signal::DbPoolPercent),
        "latency_avg_seconds" => one(Signal::LatencyAvgSeconds),
        "latency_p95_seconds" => one(Signal::LatencyP95Seconds),
        "requests" => one(Signal::Requests),
        "error_rate_percent" => {
            // Errors ÷ requests over the whole window, whatever the stat: a ratio of sums.
            let req = stats::sum(&idx.window(r, Signal::Requests, from, at))?;
            let err = stats::sum(&idx.window(r, Signal::Http5xx, from, at)).unwrap_or(0.0);
            (req > 0.0).then(|| err / req * 100.0)
        }
        "throttle_events" => {
            let mut v = idx.window(r, Signal::ReadThrottles, from, at);
            v.extend(idx.window(r, Signal::WriteThrottles, from, at));
            apply_stat(&rule.stat, &v, window_s)
        }
        "desired_at_max" => {
            let name = r.0.strip_prefix("asg/")?;
            let g = idx.group(name)?;
            // From the collected GroupDesiredCapacity (1 where a period sat at the group's max,
            // today's max), so a replay knows how long it has been pinned; without that series,
            // the group's current state at the cycle's own step only.
            let history = idx.window(r, Signal::DesiredCapacity, from, at);
            if !history.is_empty() {
                let max = f64::from(g.max_size);
                let at_max: Vec<f64> = history.iter().map(|d| if *d >= max { 1.0 } else { 0.0 }).collect();
                return apply_stat(&rule.stat, &at_max, window_s);
            }
            if at != now_step {
                return None;
            }
            Some(if g.desired_capacity >= g.max_size { 1.0 } else { 0.0 })
        }
        _ => None,
    }
}

/// Evaluates every rule on every resource it selects, replaying the steps since each state's
/// last evaluation up to `now` (aligned down to `period_s`).
pub fn evaluate(rules: &[Rule], prior: &HashMap<(String, ResourceId), RuleState>, snap: &Snapshot, period_s: i64, now: Ts) -> Evaluation {
    let idx = Index::new(snap);
    let period_s = period_s.max(1);
    let now_step = now.div_euclid(period_s) * period_s;
    let mut out = Evaluation::default();
    // As many states as last time, in one allocation (at fleet scale, tens of thousands: a
    // doubling Vec would hold one and a half times them while it grows).
    out.states.reserve_exact(prior.len());
    for rule in rules {
        let window_s = (rule.window_s as i64).max(period_s);
        let horizon = rule.for_s as i64 + rule.keep_firing_for_s as i64 + 2 * period_s;
        for r in selected(rule, snap) {
            let mut st = prior
                .get(&(rule.name.clone(), r.clone()))
                .cloned()
                .unwrap_or_else(|| RuleState::new(&rule.name, &r));
            let earliest = now_step - horizon.div_euclid(period_s) * period_s;
            let mut at = match st.last_eval {
                Some(t) => (t.div_euclid(period_s) * period_s + period_s).max(earliest),
                None => earliest,
            };
            // A rule never evaluated before starts its replay a few periods back; a condition
            // already true there has been true since the start of its run in the data.
            let mut fresh = st.last_eval.is_none();
            while at <= now_step {
                if let Some(v) = value_at(rule, &idx, &r, at, window_s, now_step) {
                    let holds = compare(rule.op, v, rule.threshold);
                    let starts = holds && matches!(st.state, AlertState::Inactive | AlertState::Resolved);
                    st.value = Some(v);
                    st.last_eval = Some(at);
                    let mut t = step(rule, &mut st, at, holds);
                    if starts && fresh {
                        let since = run_start(rule, &idx, &r, at, window_s, period_s, now_step);
                        if since < at {
                            st.active_since = Some(since);
                            // Already true for its `for`: it fires at this step.
                            if t.is_none() && st.state == AlertState::Pending {
                                t = step(rule, &mut st, at, true);
                            }
                        }
                    }
                    fresh = false;
                    if let Some(t) = t {
                        out.events.push(Event {
                            rule: rule.name.clone(),
                            resource: r.clone(),
                            at,
                            transition: t,
                            value: v,
                        });
                    }
                }
                at += period_s;
            }
            out.states.push(st);
        }
    }
    out
}

/// The first step of the run of steps, ending at `at`, at which the rule's condition holds in
/// the data (back to where the data starts).
#[allow(clippy::too_many_arguments)]
fn run_start(rule: &Rule, idx: &Index, r: &ResourceId, at: Ts, window_s: i64, period_s: i64, now_step: Ts) -> Ts {
    // The walk ends where the data does (a window without data has no value), and at the
    // longest lookback headroom keeps at the latest.
    let oldest = at - 63 * 86_400;
    let mut start = at;
    while start - period_s >= oldest {
        match value_at(rule, idx, r, start - period_s, window_s, now_step) {
            Some(v) if compare(rule.op, v, rule.threshold) => start -= period_s,
            _ => break,
        }
    }
    start
}

/// A rule's summary template with `{{value}}`, `{{threshold}}`, `{{resource}}` and `{{rule}}`
/// filled in.
pub fn render(rule: &Rule, resource: &ResourceId, value: f64) -> String {
    let fmt = |x: f64| {
        if x.fract() == 0.0 && x.abs() < 1e12 {
            format!("{x:.0}")
        } else if x.abs() >= 10.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.2}")
        }
    };
    rule.summary
        .replace("{{value}}", &fmt(value))
        .replace("{{threshold}}", &fmt(rule.threshold))
        .replace("{{resource}}", &resource.0)
        .replace("{{rule}}", &rule.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::fixtures::*;
    use crate::config::Cmp;

    const T0: Ts = 1_800_000_000 - 1_800_000_000 % 86_400;

    /// Table: a sequence of (step, condition) → the state after each step and the transition.
    #[test]
    fn state_machine_follows_for_and_keep_firing_for() {
        use AlertState::*;
        use Transition::{Fired, Resolved as Res};
        type Case = (u64, u64, &'static [(bool, AlertState, Option<Transition>)]);
        let cases: &[Case] = &[
            // for 10 min: pending at 0 and 5, fires at 10 (10 − 0 ≥ 600 s), resolves when it clears.
            (
                600,
                0,
                &[
                    (true, Pending, None),
                    (true, Pending, None),
                    (true, Firing, Some(Fired)),
                    (false, Resolved, Some(Res)),
                ],
            ),
            // for 0: fires at once.
            (
                0,
                0,
                &[(true, Firing, Some(Fired)), (true, Firing, None), (false, Resolved, Some(Res))],
            ),
            // Interrupted pending resets the timer: fires only 600 s after the second start.
            (
                600,
                0,
                &[
                    (true, Pending, None),
                    (false, Inactive, None),
                    (true, Pending, None),
                    (true, Pending, None),
                    (true, Firing, Some(Fired)),
                ],
            ),
            // keep_firing_for 10 min: clear at 15, still firing at 20, resolves at 25 (25 − 15 ≥ 600).
            (
                0,
                600,
                &[
                    (true, Firing, Some(Fired)),
                    (false, Firing, None),
                    (false, Firing, None),
                    (false, Resolved, Some(Res)),
                ],
            ),
            // A flap during keep_firing_for restarts the clear clock.
            (
                0,
                600,
                &[
                    (true, Firing, Some(Fired)),
                    (false, Firing, None),
                    (true, Firing, None),
                    (false, Firing, None),
                    (false, Firing, None),
                    (false, Resolved, Some(Res)),
                ],
            ),
        ];
        for (for_s, keep_s, seq) in cases {
            let r = rule("r", "cpu_percent", "avg", Cmp::Gt, 1.0, *for_s, *keep_s);
            let mut st = RuleState::new("r", &ResourceId::asg("a"));
            for (i, (holds, want, want_t)) in seq.iter().enumerate() {
                let t = step(&r, &mut st, T0 + i as i64 * P, *holds);
                assert_eq!((st.state, t), (*want, *want_t), "for {for_s} keep {keep_s} step {i}");
            }
        }
    }

    #[test]
    fn stats_and_comparisons() {
        let v = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(apply_stat("avg", &v, 300), Some(25.0));
        assert_eq!(apply_stat("sum", &v, 300), Some(100.0));
        assert_eq!(apply_stat("rate", &v, 300), Some(100.0 / 300.0));
        assert_eq!(apply_stat("p50", &v, 300), Some(20.0));
        assert_eq!(apply_stat("p99", &v, 300), Some(40.0));
        assert_eq!(apply_stat("min", &v, 300), Some(10.0));
        assert!(compare(Cmp::Gt, 75.1, 75.0) && !compare(Cmp::Gt, 75.0, 75.0));
        assert!(compare(Cmp::Ge, 75.0, 75.0) && compare(Cmp::Lt, 1.0, 2.0) && compare(Cmp::Le, 2.0, 2.0));
    }

    /// CPU at 30 % until `rise`, 90 % after: a `cpu > 75 for 10m` rule with a 5-minute window
    /// first sees the high point at the step after it (window [at − 300, at)), pends there, and
    /// fires 600 s later. The first evaluation replays `for + keep_firing_for + 2 periods`, so
    /// the rise at now − 900 s is inside it.
    #[test]
    fn replay_fires_at_the_step_the_data_says() {
        let a = ResourceId::asg("web");
        let rise = T0 + 3600;
        let now = rise + 900;
        let cpu = grid(T0, now, |t| if t >= rise { 90.0 } else { 30.0 });
        let snap = snapshot(
            now,
            vec![asg("web", 1, 2, 4, "t3.medium")],
            vec![series(&a, Signal::CpuPercent, cpu)],
        );
        let r = rule("cpu", "cpu_percent", "avg", Cmp::Gt, 75.0, 600, 0);
        let ev = evaluate(std::slice::from_ref(&r), &HashMap::new(), &snap, P, now);
        let pending_from = rise + P;
        assert_eq!(ev.events.len(), 1);
        assert_eq!(ev.events[0].at, pending_from + 600);
        assert_eq!(ev.events[0].transition, Transition::Fired);
        assert_eq!(ev.states[0].state, AlertState::Firing);
        assert_eq!(ev.states[0].active_since, Some(pending_from));
        assert_eq!(ev.states[0].value, Some(90.0));

        // A condition that has held for hours before the first evaluation fires at the replay's
        // first step (now − 1,200 s): the data shows it true for far longer than `for`.
        let now = rise + 4 * 3600;
        let cpu = grid(T0, now, |t| if t >= rise { 90.0 } else { 30.0 });
        let snap = snapshot(
            now,
            vec![asg("web", 1, 2, 4, "t3.medium")],
            vec![series(&a, Signal::CpuPercent, cpu)],
        );
        let ev = evaluate(std::slice::from_ref(&r), &HashMap::new(), &snap, P, now);
        let first = now - (600 + 2 * P);
        assert_eq!(ev.events.iter().map(|e| e.at).collect::<Vec<_>>(), vec![first]);
        assert_eq!(ev.states[0].active_since, Some(rise + P));
    }

    /// The shipped db-connection-pool rule (> 90 % for 2 min, 1-minute window) reads the
    /// configured pool metric; without one it has nothing to evaluate and stays quiet.
    #[test]
    fn db_pool_rule_reads_the_configured_metric() {
        let cfg = crate::config::Config::embedded().unwrap();
        let r = cfg.rules.iter().find(|r| r.name == "db-connection-pool").unwrap().clone();
        let a = ResourceId::asg("web");
        let now = T0 + 3600;
        let pool = grid(T0, now, |t| if t >= now - 1800 { r.threshold + 5.0 } else { 50.0 });
        let g = vec![asg("web", 1, 2, 4, "t3.medium")];
        let snap = snapshot(now, g.clone(), vec![series(&a, Signal::DbPoolPercent, pool)]);
        let ev = evaluate(std::slice::from_ref(&r), &HashMap::new(), &snap, P, now);
        assert_eq!(ev.states[0].state, AlertState::Firing);
        assert_eq!(ev.states[0].value, Some(r.threshold + 5.0));
        let snap = snapshot(now, g, vec![series(&a, Signal::CpuPercent, grid(T0, now, |_| 99.0))]);
        let ev = evaluate(std::slice::from_ref(&r), &HashMap::new(), &snap, P, now);
        assert_eq!(ev.states[0].state, AlertState::Inactive);
        assert!(ev.events.is_empty());
    }

    /// Regression (issue 20, item 5): a condition already true for hours when a rule is first
    /// evaluated is "true since" the start of its run in the data, not the first step the replay
    /// looked at, and it fires at once.
    #[test]
    fn a_condition_true_before_the_first_evaluation_counts_from_its_start_in_the_data() {
        let a = ResourceId::asg("web");
        let rise = T0 + 3600;
        let r = rule("cpu", "cpu_percent", "avg", Cmp::Gt, 75.0, 600, 0);
        let now = rise + 3 * 3600;
        let cpu = grid(T0, now, |t| if t >= rise { 90.0 } else { 30.0 });
        let snap = snapshot(
            now,
            vec![asg("web", 1, 2, 4, "t3.medium")],
            vec![series(&a, Signal::CpuPercent, cpu)],
        );
        let e = evaluate(std::slice::from_ref(&r), &HashMap::new(), &snap, P, now);
        // The first step whose 5-minute window holds only high points is rise + P.
        assert_eq!(e.states[0].active_since, Some(rise + P));
        assert_eq!(e.states[0].state, AlertState::Firing);
        let fired: Vec<Ts> = e
            .events
            .iter()
            .filter(|e| e.transition == Transition::Fired)
            .map(|e| e.at)
            .collect();
        let first_step = now - (r.for_s as i64 + 2 * P);
        assert_eq!(fired, vec![first_step], "fires at the first step it evaluates");
    }

    /// Stop while pending, restart: the timer keeps its start. Stop while firing, restart: no
    /// second Fired.
    #[test]
    fn restart_neither_resets_the_timer_nor_fires_twice() {
        let a = ResourceId::asg("web");
        let rise = T0 + 3600;
        let r = rule("cpu", "cpu_percent", "avg", Cmp::Gt, 75.0, 900, 0);
        let snap_at = |now: Ts| {
            let cpu = grid(T0, now, |t| if t >= rise { 90.0 } else { 30.0 });
            snapshot(
                now,
                vec![asg("web", 1, 2, 4, "t3.medium")],
                vec![series(&a, Signal::CpuPercent, cpu)],
            )
        };
        let key = ("cpu".to_string(), a.clone());
        // Cycle 1: 10 min into the condition: pending since rise + P.
        let now1 = rise + 2 * P;
        let e1 = evaluate(std::slice::from_ref(&r), &HashMap::new(), &snap_at(now1), P, now1);
        assert_eq!(e1.states[0].state, AlertState::Pending);
        assert_eq!(e1.states[0].active_since, Some(rise + P));
        assert!(e1.events.is_empty());
        // "Restart": only the persisted state crosses over. Cycle 2 at the step where 900 s have passed.
        let prior: HashMap<_, _> = [(key.clone(), e1.states[0].clone())].into();
        let now2 = rise + P + 900;
        let e2 = evaluate(std::slice::from_ref(&r), &prior, &snap_at(now2), P, now2);
        assert_eq!(e2.events.iter().filter(|e| e.transition == Transition::Fired).count(), 1);
        assert_eq!(e2.events[0].at, rise + P + 900, "the timer kept its start");
        // Restart while firing: later cycles do not fire again.
        let prior: HashMap<_, _> = [(key, e2.states[0].clone())].into();
        let now3 = now2 + 3 * P;
        let e3 = evaluate(std::slice::from_ref(&r), &prior, &snap_at(now3), P, now3);
        assert!(e3.events.is_empty());
        assert_eq!(e3.states[0].state, AlertState::Firing);
        assert_eq!(e3.states[0].fired_at, Some(rise + P + 900));
    }

    #[test]
    fn error_rate_is_errors_over_requests_and_desired_at_max_is_now_only() {
        let a = ResourceId::asg("web");
        let now = T0 + 3600;
        let req = grid(T0, now, |_| 1000.0);
        let err = grid(T0, now, |_| 23.0);
        let mut g = asg("web", 1, 4, 4, "t3.medium");
        g.desired_capacity = 4;
        let snap = snapshot(
            now,
            vec![g],
            vec![series(&a, Signal::Requests, req), series(&a, Signal::Http5xx, err)],
        );
        let idx = Index::new(&snap);
        let er = rule("e", "error_rate_percent", "avg", Cmp::Gt, 1.0, 0, 0);
        assert_eq!(value_at(&er, &idx, &a, now, 600, now), Some(2.0 * 23.0 / (2.0 * 1000.0) * 100.0));
        let m = rule("m", "desired_at_max", "min", Cmp::Ge, 1.0, 0, 0);
        assert_eq!(value_at(&m, &idx, &a, now, 300, now), Some(1.0));
        assert_eq!(value_at(&m, &idx, &a, now - P, 300, now), None);
        // No data: no value, so no step and no state change.
        let cpu = rule("c", "cpu_percent", "avg", Cmp::Gt, 1.0, 0, 0);
        assert_eq!(value_at(&cpu, &idx, &a, now, 300, now), None);
        let ev = evaluate(&[cpu], &HashMap::new(), &snap, P, now);
        assert_eq!(ev.states[0].state, AlertState::Inactive);
        assert_eq!(ev.states[0].last_eval, None);
    }

    /// Regression (issue 20, item 4): a group pinned at its max for the whole collected window
    /// is known at the first cycle, from its GroupDesiredCapacity history, not 15 minutes of
    /// wall-clock time later.
    #[test]
    fn pinned_at_max_is_known_from_history_at_the_first_cycle() {
        let cfg = crate::config::Config::embedded().unwrap();
        let r = cfg.rules.iter().find(|r| r.name == "asg-at-max").unwrap().clone();
        assert!(r.for_s >= 600, "the shipped rule waits {} s", r.for_s);
        let a = ResourceId::asg("web");
        let now = T0 + 6 * 3600;
        let pinned_from = T0 + 2 * 3600;
        let desired = grid(T0, now, |t| if t >= pinned_from { 4.0 } else { 2.0 });
        let snap = snapshot(
            now,
            vec![asg("web", 1, 4, 4, "t3.medium")],
            vec![series(&a, Signal::DesiredCapacity, desired)],
        );
        let ev = evaluate(std::slice::from_ref(&r), &HashMap::new(), &snap, P, now);
        assert_eq!(ev.states[0].state, AlertState::Firing, "{:?}", ev.states[0]);
        assert_eq!(ev.events.iter().filter(|e| e.transition == Transition::Fired).count(), 1);
        // True since the first step whose window holds only pinned periods.
        let window = (r.window_s as i64).max(P);
        assert_eq!(ev.states[0].active_since, Some(pinned_from + window));
    }

    #[test]
    fn summary_templates_fill_in() {
        let r = rule("cpu", "cpu_percent", "avg", Cmp::Gt, 75.0, 0, 0);
        assert_eq!(render(&r, &ResourceId::asg("web"), 81.26), "cpu 81.3 on asg/web over 75");
    }
}
