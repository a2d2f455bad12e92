use super::*;
use crate::domain::{Advisory, AdvisoryState, Kind, ResourceId, Severity};
use rusqlite::Connection;
use std::sync::Arc;

fn q(name: &str) -> MetricQuery {
    MetricQuery::new("AWS/EC2", "CPUUtilization", &[("AutoScalingGroupName", name)], Stat::Average, 300)
}

fn w(name: &str, points: Vec<(Ts, f64)>, through: Option<Ts>) -> SeriesWrite {
    SeriesWrite {
        resource: ResourceId::asg(name),
        signal: Signal::CpuPercent,
        query: q(name),
        points,
        fetched_through: through,
    }
}

fn adv(fp: &str) -> Advisory {
    Advisory {
        fingerprint: fp.into(),
        kind: Kind::Rightsize,
        resource: ResourceId::asg("web"),
        severity: Severity::Info,
        summary: "s".into(),
        evidence: vec![],
        action: None,
        monthly_cost_delta: None,
        basis: None,
    }
}

fn scope() -> Scope {
    Scope::new("default", "us-east-1")
}

/// A cycle's write of points and advisories at `now`.
fn write(scope: &Scope, now: Ts, series: Vec<SeriesWrite>, advisories: Vec<Advisory>, states: Vec<RuleState>) -> CycleWrite {
    let mut snap = Snapshot::bare(now, vec![], vec![]);
    snap.scope = scope.clone();
    CycleWrite {
        scope: scope.clone(),
        now,
        series,
        spend: vec![],
        spend_fetched: false,
        snapshot: Arc::new(snap),
        outlooks: None,
        rule_states: states,
        advisories,
        hold_resolution: false,
        prune_before: None,
        notify: None,
    }
}

fn states(s: &Sqlite) -> Vec<(String, AdvisoryState)> {
    s.advisories(true, None, None)
        .unwrap()
        .into_iter()
        .map(|a| (a.advisory.fingerprint, a.state))
        .collect()
}

/// Absent after a complete cycle: resolved. Absent after partial cycles: held, and
/// expired only once unseen for EXPIRE_AFTER_S.
#[test]
fn partial_cycles_hold_resolution_until_expiry() {
    let mut s = Sqlite::in_memory().unwrap();
    let sc = scope();
    let t0 = 1_000_000;
    let r = s.save_advice(&sc, &[], &[adv("a"), adv("b")], false, t0).unwrap();
    assert_eq!(r.opened, ["a", "b"]);
    // "a" absent from a partial cycle: held.
    let r = s.save_advice(&sc, &[], &[adv("b")], true, t0 + 300).unwrap();
    assert!(r.resolved.is_empty() && r.expired.is_empty(), "{r:?}");
    // Still held just before the expiry, expired at it (seven days after last seen).
    let r = s.save_advice(&sc, &[], &[adv("b")], true, t0 + EXPIRE_AFTER_S - 1).unwrap();
    assert!(r.expired.is_empty());
    let r = s.save_advice(&sc, &[], &[adv("b")], true, t0 + EXPIRE_AFTER_S).unwrap();
    assert_eq!(r.expired, ["a"]);
    // "b" absent from a complete cycle: resolved.
    let r = s.save_advice(&sc, &[], &[], false, t0 + EXPIRE_AFTER_S + 300).unwrap();
    assert_eq!(r.resolved, ["b"]);
    let st = states(&s);
    assert!(st.contains(&("a".into(), AdvisoryState::Expired)), "{st:?}");
    assert!(st.contains(&("b".into(), AdvisoryState::Resolved)), "{st:?}");
}

/// Regression: with two regions on one store, each region's cycle resolved the other's
/// advisories and the next reopened them. A scope reconciles only its own.
#[test]
fn a_scope_never_resolves_another_scopes_advisories() {
    let mut s = Sqlite::in_memory().unwrap();
    let (east, west) = (Scope::new("default", "us-east-1"), Scope::new("default", "eu-west-1"));
    let (fe, fw) = (east.fingerprint("x"), west.fingerprint("x"));
    assert_ne!(fe, fw, "the same advice in two scopes is two advisories");
    for i in 0..3 {
        let t = 1_000_000 + i * 300;
        let r = s.save_advice(&east, &[], &[adv(&fe)], false, t).unwrap();
        assert!(r.resolved.is_empty(), "cycle {i}: {r:?}");
        let r = s.save_advice(&west, &[], &[adv(&fw)], false, t).unwrap();
        assert!(r.resolved.is_empty(), "cycle {i}: {r:?}");
        if i > 0 {
            assert!(r.opened.is_empty(), "cycle {i}: nothing reopens: {r:?}");
        }
    }
    let open = s.advisories(false, None, Some("default/eu-west-1")).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].scope, "default/eu-west-1");
}

/// A failure inside the cycle's transaction (here the rule-state write, the last one, made
/// to fail by a trigger) leaves the store exactly as the cycle before left it: no points, no
/// frontier, no advisory change, no snapshot.
#[test]
fn a_failure_inside_commit_cycle_leaves_the_store_as_before() {
    let mut s = Sqlite::in_memory().unwrap();
    let sc = scope();
    let rule = |v: f64| {
        let mut st = RuleState::new("cpu-high", &ResourceId::asg("a"));
        st.value = Some(v);
        st.last_eval = Some(600);
        st
    };
    let c1 = s
        .commit_cycle(&write(
            &sc,
            600,
            vec![w("a", vec![(300, 1.0), (600, 2.0)], Some(600))],
            vec![adv("keep")],
            vec![rule(1.0)],
        ))
        .unwrap();
    assert_eq!((c1.new_points, c1.reconciled.opened.len()), (2, 1));
    let before = (
        s.points(&sc, &q("a").key(), 0).unwrap(),
        s.load_window(&sc, 0).unwrap().frontiers,
        states(&s),
        s.rule_states(&sc).unwrap(),
        s.count_snapshots().unwrap(),
    );
    s.execute_batch_for_tests(
        "CREATE TRIGGER fail_rule_state BEFORE INSERT ON rule_state BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .unwrap();
    // Cycle 2 would add a point, move the frontier, resolve "keep", open "new" and change the
    // rule state; the rule-state write fails.
    let second = write(
        &sc,
        900,
        vec![w("a", vec![(900, 3.0)], Some(900))],
        vec![adv("new")],
        vec![rule(9.0)],
    );
    let err = s.commit_cycle(&second).unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    let after = (
        s.points(&sc, &q("a").key(), 0).unwrap(),
        s.load_window(&sc, 0).unwrap().frontiers,
        states(&s),
        s.rule_states(&sc).unwrap(),
        s.count_snapshots().unwrap(),
    );
    assert_eq!(after, before);
    // Without the fault the same write commits whole.
    s.execute_batch_for_tests("DROP TRIGGER fail_rule_state;").unwrap();
    let c2 = s.commit_cycle(&second).unwrap();
    assert_eq!(
        (c2.new_points, c2.reconciled.opened.clone(), c2.reconciled.resolved.clone()),
        (1, vec!["new".to_string()], vec!["keep".to_string()])
    );
    assert_eq!(s.rule_states(&sc).unwrap().values().next().and_then(|r| r.value), Some(9.0));
}

/// A store written before scopes (schema 4) keeps its points, rule states and advisories:
/// they move to the default scope, and an advisory's fingerprint becomes the scoped one that
/// `decide` now computes, so the same advice stays the same advisory.
#[test]
fn migration_to_scopes_moves_everything_to_the_default_scope() {
    let dir = std::env::temp_dir().join(format!("headroom-store-m5-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("v4.db");
    let _ = std::fs::remove_file(&path);
    let key = q("a").key();
    let old_fp = crate::decide::fingerprint(Kind::Rightsize, &ResourceId::asg("a"), "capacity");
    {
        let c = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..4] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 4).unwrap();
        c.execute(
            "INSERT INTO series (key, resource, signal, query, fetched_through) VALUES (?1, 'asg/a', 'cpu_percent', '{}', 600)",
            params![key],
        )
        .unwrap();
        c.execute("INSERT INTO series_ids (key) VALUES (?1)", params![key]).unwrap();
        c.execute("INSERT INTO points (series, ts, value) VALUES (1, 300, 1.0), (1, 600, 2.0)", [])
            .unwrap();
        c.execute(
            "INSERT INTO rule_state (rule, resource, state, last_eval) VALUES ('cpu-high', 'asg/a', 'pending', 600)",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO advisories (fingerprint, kind, resource, severity, summary, evidence, state, first_seen, last_seen, updated_at)
             VALUES (?1, 'rightsize', 'asg/a', 'info', 's', '[]', 'open', 1, 1, 1)",
            params![old_fp],
        )
        .unwrap();
        c.execute(
            "INSERT INTO spend (day, service, amount_micros) VALUES ('2026-11-01', 'EC2', 5)",
            [],
        )
        .unwrap();
    }
    let mut s = Sqlite::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let sc = Scope::new("123456789012", "eu-west-1");
    assert!(s.adopt_unscoped(&sc).unwrap() > 0);
    assert_eq!(s.adopt_unscoped(&sc).unwrap(), 0, "once");
    assert_eq!(s.points(&sc, &key, 0).unwrap(), vec![(300, 1.0), (600, 2.0)]);
    assert_eq!(s.load_window(&sc, 0).unwrap().frontiers.get(&key), Some(&600));
    assert_eq!(s.rule_states(&sc).unwrap().len(), 1);
    let list = s.advisories(false, None, Some(&sc.key())).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].advisory.fingerprint, sc.fingerprint(&old_fp));
    assert_eq!(s.spend_since("123456789012", "2026-01-01").unwrap().len(), 1);
    // The same advice from the next cycle updates it in place: nothing resolved or reopened.
    let mut a = adv(&sc.fingerprint(&old_fp));
    a.resource = ResourceId::asg("a");
    let r = s.save_advice(&sc, &[], &[a], false, 2).unwrap();
    assert_eq!((r.opened.len(), r.updated.len(), r.resolved.len()), (0, 1, 0), "{r:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn migrations_run_once_and_reopen_keeps_data() {
    let dir = std::env::temp_dir().join(format!("headroom-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.db");
    let _ = std::fs::remove_file(&path);
    let sc = scope();
    {
        let mut s = Sqlite::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let c = s.commit_cycle(&write(
            &sc,
            600,
            vec![w("a", vec![(300, 1.0), (600, 2.0)], Some(600))],
            vec![],
            vec![],
        ));
        assert_eq!(c.unwrap().new_points, 2);
    }
    let mut s = Sqlite::open(&path).unwrap();
    for t in [
        "advisories",
        "audit",
        "outbox",
        "points",
        "rule_state",
        "series",
        "snapshots",
        "spend",
    ] {
        assert!(s.table_names().unwrap().contains(&t.to_string()), "{t}");
    }
    assert_eq!(s.load_window(&sc, 0).unwrap().frontiers.get(&q("a").key()), Some(&600));
    // Overlapping write: one point replaced (late data), one new.
    let c = s.commit_cycle(&write(
        &sc,
        900,
        vec![w("a", vec![(600, 2.5), (900, 3.0)], Some(900))],
        vec![],
        vec![],
    ));
    assert_eq!(c.unwrap().new_points, 1);
    // A series with no data still moves its frontier; a failed fetch (None) does not.
    s.commit_cycle(&write(&sc, 1200, vec![w("empty", vec![], Some(1200))], vec![], vec![]))
        .unwrap();
    s.commit_cycle(&write(&sc, 1500, vec![w("empty", vec![], None)], vec![], vec![]))
        .unwrap();
    assert_eq!(s.load_window(&sc, 0).unwrap().frontiers.get(&q("empty").key()), Some(&1200));
    assert_eq!(s.points(&sc, &q("a").key(), 0).unwrap(), vec![(300, 1.0), (600, 2.5), (900, 3.0)]);
    // The same series key in another scope is another series.
    let other = Scope::new("default", "eu-west-1");
    assert!(s.points(&other, &q("a").key(), 0).unwrap().is_empty());
    // Retention prunes this scope's points before the mark.
    let mut pr = write(&sc, 1800, vec![], vec![], vec![]);
    pr.prune_before = Some(600);
    assert!(s.commit_cycle(&pr).unwrap().pruned >= 1);
    assert_eq!(s.count_points().unwrap(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_newer_schema_is_refused_not_clobbered() {
    let s = Sqlite::in_memory().unwrap();
    s.conn.pragma_update(None, "user_version", 99).unwrap();
    let conn = s.conn;
    match Sqlite::init(conn, "x.db") {
        Err(StoreError::TooNew { found: 99, .. }) => {}
        other => panic!("expected TooNew, got {:?}", other.err()),
    }
}
