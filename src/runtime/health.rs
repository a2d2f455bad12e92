//! The daemon's health: per scope, how its last cycle ended and when one last succeeded.
//! `/healthz` answers from `check`; systemd's STATUS= line from `status_line`.
//!
//! Healthy means: every scope's last cycle succeeded (every source answered, the commit went
//! through) and one succeeded within two collect intervals. A scope that has not cycled yet
//! is "starting" (healthy) for one interval plus the collection deadline after start: the
//! first tick comes within an interval and its cycle within the deadline; a first cycle that
//! has not ended by then is hung, and /healthz says so with a 503.
//!
//! May use: domain.

use crate::domain::{Scope, Ts};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Clone, Debug, Default)]
struct ScopeHealth {
    last_end: Option<Ts>,
    last_ok: Option<Ts>,
    /// Why the last cycle did not succeed (None when it did, or none ran yet).
    problem: Option<String>,
    open_advisories: usize,
}

#[derive(Debug)]
struct Inner {
    started: Ts,
    interval_s: i64,
    /// The collection deadline (`[collect] deadline_seconds`).
    deadline_s: i64,
    scopes: BTreeMap<String, ScopeHealth>,
    /// The kill switch's file, said on every answer (whether it is there).
    kill_switch: Option<std::path::PathBuf>,
}

#[derive(Debug)]
pub struct Health(Mutex<Inner>);

/// The answer to /healthz: healthy or not, and one line per scope saying why.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub healthy: bool,
    pub lines: Vec<String>,
}

impl Health {
    pub fn new(scopes: &[Scope], started: Ts, interval_s: i64) -> Health {
        Health(Mutex::new(Inner {
            started,
            interval_s: interval_s.max(1),
            deadline_s: crate::config::DEFAULT_DEADLINE_S as i64,
            scopes: scopes.iter().map(|s| (s.key(), ScopeHealth::default())).collect(),
            kill_switch: None,
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kill switch file `/healthz` reports on (at start and after a reload).
    pub fn set_kill_switch(&self, path: &std::path::Path) {
        self.lock().kill_switch = Some(path.to_path_buf());
    }

    /// The collection deadline (at start and after a reload).
    pub fn set_deadline(&self, deadline_s: u64) {
        self.lock().deadline_s = deadline_s as i64;
    }

    /// The collect interval changed (a reload).
    pub fn set_interval(&self, interval_s: i64) {
        self.lock().interval_s = interval_s.max(1);
    }

    /// A cycle of `scope` ended at `at`: `Ok(open advisories)` when every source answered and
    /// it committed, else why not.
    pub fn record(&self, scope: &Scope, at: Ts, outcome: Result<usize, String>) {
        let mut g = self.lock();
        let h = g.scopes.entry(scope.key()).or_default();
        h.last_end = Some(at);
        match outcome {
            Ok(open) => {
                h.last_ok = Some(at);
                h.problem = None;
                h.open_advisories = open;
            }
            Err(why) => h.problem = Some(why),
        }
    }

    pub fn check(&self, now: Ts) -> Verdict {
        let g = self.lock();
        let window = 2 * g.interval_s;
        let mut healthy = true;
        let mut lines = vec![];
        let first = g.interval_s + g.deadline_s;
        for (key, h) in &g.scopes {
            let stale = match (h.last_ok, h.last_end) {
                (Some(ok), _) => now - ok > window,
                (None, None) => now - g.started > first,
                (None, Some(_)) => now - g.started > window,
            };
            let line = match (&h.problem, h.last_end) {
                (Some(p), _) => format!("{key}: last cycle failed: {p}{}", last_ok(h.last_ok, now)),
                (None, None) if stale => format!(
                    "{key}: no cycle ended in the {} s since start (the first is due within one collect interval plus the {} s deadline: {first} s): the first cycle may be hung",
                    now - g.started,
                    g.deadline_s
                ),
                (None, None) => format!("{key}: starting, waiting for the first tick"),
                (None, Some(end)) if stale => format!(
                    "{key}: no cycle for {} s (two collect intervals are {window} s): the scheduler may be stuck",
                    now - end
                ),
                (None, Some(end)) => format!("{key}: ok, last cycle {} s ago", now - end),
            };
            if h.problem.is_some() || stale {
                healthy = false;
            }
            lines.push(line);
        }
        if let Some(k) = &g.kill_switch {
            lines.push(if k.exists() {
                format!("kill switch {} present: nothing is applied", k.display())
            } else {
                format!("kill switch {} absent", k.display())
            });
        }
        Verdict { healthy, lines }
    }

    /// One line for systemd's STATUS=: scopes ok, the last cycle's time, open advisories.
    pub fn status_line(&self) -> String {
        let g = self.lock();
        let ok = g.scopes.values().filter(|h| h.last_end.is_some() && h.problem.is_none()).count();
        let last = g.scopes.values().filter_map(|h| h.last_end).max();
        let open: usize = g.scopes.values().map(|h| h.open_advisories).sum();
        let failing: Vec<&str> = g
            .scopes
            .iter()
            .filter(|(_, h)| h.problem.is_some())
            .map(|(k, _)| k.as_str())
            .collect();
        match last {
            None => format!("waiting for the first tick ({} scope(s))", g.scopes.len()),
            Some(t) => format!(
                "last cycle {}: {ok}/{} scope(s) ok{}; {open} open advisories",
                crate::domain::fmt_ts(t),
                g.scopes.len(),
                if failing.is_empty() {
                    String::new()
                } else {
                    format!(", failing: {}", failing.join(", "))
                }
            ),
        }
    }
}

fn last_ok(t: Option<Ts>, now: Ts) -> String {
    match t {
        Some(t) => format!(" (last success {} s ago)", now - t),
        None => " (no success since start)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_within_two_intervals_of_a_success_unhealthy_on_failure_or_staleness() {
        let (a, b) = (Scope::new("default", "us-east-1"), Scope::new("default", "eu-west-1"));
        let h = Health::new(&[a.clone(), b.clone()], 1000, 60);
        // Before any cycle ends: "starting" for one interval plus the deadline, then not
        // (issue 35, item 10: a hung first cycle answered 200 "starting" for far longer).
        h.set_deadline(30);
        let first = 60 + 30;
        let v = h.check(1000 + first);
        assert!(v.healthy && v.lines.iter().all(|l| l.contains("starting")), "{v:?}");
        let v = h.check(1000 + first + 1);
        assert!(
            !v.healthy && v.lines.iter().all(|l| l.contains("the first cycle may be hung")),
            "{v:?}"
        );
        h.record(&a, 1050, Ok(3));
        h.record(&b, 1050, Ok(4));
        assert!(h.check(1050 + 120).healthy);
        let v = h.check(1050 + 121);
        assert!(!v.healthy && v.lines.iter().all(|l| l.contains("no cycle for 121 s")), "{v:?}");
        // One scope's source fails: unhealthy at once, with the reason; back on success.
        h.record(&b, 1110, Err("cloudwatch GetMetricData: connection failed".into()));
        let v = h.check(1111);
        assert!(!v.healthy);
        assert!(
            v.lines.iter().any(|l| l
                .starts_with("default/eu-west-1: last cycle failed: cloudwatch GetMetricData: connection failed (last success 61 s ago)")),
            "{v:?}"
        );
        // The failing scope's advisories from its last success are still open (held in the store).
        assert!(
            h.status_line()
                .contains("1/2 scope(s) ok, failing: default/eu-west-1; 7 open advisories"),
            "{}",
            h.status_line()
        );
        h.record(&b, 1170, Ok(5));
        h.record(&a, 1170, Ok(3));
        assert!(h.check(1171).healthy);
        assert!(
            h.status_line().ends_with("2/2 scope(s) ok; 8 open advisories"),
            "{}",
            h.status_line()
        );
    }
}
