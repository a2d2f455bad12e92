//! `headroom forecast` as a user runs it: a CSV with the usual dirt in it, the crossing of a
//! line whose date follows from the series' formula, `--json`, `--series` against a store the
//! demo filled, and bad input that exits 2 with a message, never a panic.

use crate::support::*;
use std::fmt::Write as _;
use std::path::Path;

const T0: i64 = 1_790_000_000 / 86_400 * 86_400; // a midnight
const STEP: i64 = 300;

/// CPU-like: 40 % + 2 points a day + an 8-point daily sine, with a small deterministic wiggle.
fn formula(t: i64) -> f64 {
    let d = (t - T0) as f64 / 86_400.0;
    40.0 + 2.0 * d + 8.0 * (2.0 * std::f64::consts::PI * d).sin()
}

fn wiggle(i: i64) -> f64 {
    0.3 * ((i as f64) * 12.9898).sin()
}

#[test]
fn a_csv_with_gaps_duplicates_and_junk_forecasts_the_crossing_the_formula_gives() {
    let dir = temp_dir("forecast-csv");
    let days = 8;
    let n = days * 288;
    let mut rows: Vec<String> = (0..n)
        .filter(|i| !(1000..1024).contains(i)) // a two-hour gap
        .map(|i| {
            let t = T0 + i * STEP;
            format!("{},{:.4}", t, formula(t) + wiggle(i))
        })
        .collect();
    // Dirt: a duplicate, an out-of-order row, NaN, infinity, a blank value, an ISO timestamp.
    rows.swap(10, 11);
    rows.insert(50, rows[49].clone());
    rows.push(format!("{},NaN", T0 + 200 * STEP));
    rows.push(format!("{},inf", T0 + 201 * STEP));
    rows.push(format!("{},", T0 + 202 * STEP));
    let iso = chrono::DateTime::from_timestamp(T0 + 300 * STEP, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ");
    rows.push(format!("{iso},{:.4}", formula(T0 + 300 * STEP)));
    let mut body = String::from("timestamp,cpu\n");
    for r in &rows {
        let _ = writeln!(body, "{r}");
    }
    std::fs::write(dir.join("cpu.csv"), body).unwrap();

    // Just under the next day's peak of the formula (one day ahead, at the native 5-minute
    // step): 2 points a day above anything the last day reached.
    let end = T0 + (n - 1) * STEP;
    let line = (1..=288).map(|k| formula(end + k * STEP)).fold(f64::MIN, f64::max) - 0.5;
    let recent = (0..288).map(|k| formula(end - k * STEP) + 0.3).fold(f64::MIN, f64::max);
    assert!(line > recent, "the test's line must be new ground: {line} vs {recent}");
    let expected = (1..=288).map(|k| end + k * STEP).find(|t| formula(*t) >= line).unwrap();

    let line_arg = format!("{line}");
    let args = ["forecast", "--csv", "cpu.csv", "--value-col", "cpu", "--threshold", &line_arg];
    let out = headroom(&[&args[..], &["--json"]].concat(), &dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["step_seconds"], 300);
    assert_eq!(v["resolution"], "native");
    assert!(v["imputed"].as_u64().unwrap() >= 24, "the gap is imputed: {}", v["imputed"]);
    let fc = v["forecast"].as_array().unwrap();
    assert_eq!(fc.len(), 288, "one day at 5 minutes");
    for s in fc {
        for k in ["yhat", "lo80", "hi80", "lo95", "hi95"] {
            assert!(s[k].as_f64().is_some_and(f64::is_finite), "{k} in {s}");
        }
        let f = |k: &str| s[k].as_f64().unwrap();
        assert!(
            f("lo95") <= f("lo80") && f("lo80") <= f("yhat") && f("yhat") <= f("hi80") && f("hi80") <= f("hi95"),
            "{s}"
        );
    }
    let c = &v["crossings"][0]["crossing"];
    assert_eq!(c["status"], "at", "{c}");
    let at = c["at"].as_i64().unwrap();
    assert!((at - expected).abs() <= 3600, "crossing at {at}, the formula says {expected}");
    assert!(c["earliest"].as_i64().unwrap() <= at);
    // Growth: log-linear over the daily means 40 + 2 (d + ½) (the sine averages out), per
    // 30 days: exp(30 × OLS slope of ln(mean)) − 1.
    let ys: Vec<f64> = (0..days).map(|d| (40.0 + 2.0 * (d as f64 + 0.5)).ln()).collect();
    let xbar = (days - 1) as f64 / 2.0;
    let ybar = ys.iter().sum::<f64>() / days as f64;
    let sxy: f64 = ys.iter().enumerate().map(|(d, y)| (d as f64 - xbar) * (y - ybar)).sum();
    let sxx: f64 = (0..days).map(|d| (d as f64 - xbar).powi(2)).sum();
    let want = (30.0 * sxy / sxx).exp() - 1.0;
    let g = v["growth"]["per_30d"].as_f64().unwrap();
    assert!((g - want).abs() < 0.05 * want, "growth {g} vs {want}");

    // The text form says the same crossing and draws the chart.
    let out = headroom(&args, &dir);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(s.contains("crosses on") && s.contains("history (·) then forecast (*)"), "{s}");
}

#[test]
fn bad_input_exits_2_with_a_message_and_no_panic() {
    let dir = temp_dir("forecast-bad");
    std::fs::write(dir.join("one.csv"), "timestamp,value\n1790000000,5\n").unwrap();
    std::fs::write(dir.join("nan.csv"), "timestamp,value\n1790000000,NaN\n1790000300,nan\n").unwrap();
    std::fs::write(dir.join("cols.csv"), "time,v\n1790000000,5\n").unwrap();
    std::fs::write(dir.join("empty.csv"), "").unwrap();
    // Evenly spread over four years: no stray row, but a 1 s grid would be 126 million points.
    std::fs::write(dir.join("wide.csv"), "timestamp,value\n1700000000,1\n1763000000,2\n1826000000,3\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["forecast", "--csv", "one.csv"], "not enough history"),
        (&["forecast", "--csv", "nan.csv"], "no finite"),
        (&["forecast", "--csv", "cols.csv"], "timestamp"),
        (&["forecast", "--csv", "empty.csv"], "empty.csv"),
        (&["forecast", "--csv", "missing.csv"], "missing.csv"),
        (
            &["forecast", "--csv", "wide.csv", "--step", "1"],
            "more than the 1000000 a series may have",
        ),
        (&["forecast", "--csv", "one.csv", "--threshold", "NaN"], "--threshold NaN"),
        (&["forecast", "--csv", "one.csv", "--horizon-days=-1"], "--horizon-days"),
        (&["forecast", "--csv", "one.csv", "--param", "nope=1"], "nope"),
        (&["forecast", "--series", "no-colon"], "RESOURCE:SIGNAL"),
        (
            &["forecast", "--series", "asg/web:cpu_percent", "--store", "none.db"],
            "headroom.toml",
        ),
        (
            &[
                "forecast",
                "--series",
                "asg/web:cpu_percent",
                "--store",
                "none.db",
                "--config",
                &format!("{}/config", crate::support::repo().display()),
            ],
            "none.db",
        ),
        (&["forecast"], "--csv"),
    ];
    for (args, want) in cases {
        let out = headroom(args, &dir);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: stderr lacks {want:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn series_reads_what_the_daemon_collected_and_uses_the_alert_rules_as_lines() {
    let dir = temp_dir("forecast-series");
    let out = headroom(&["demo", "--out", "o"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cfg = &format!("{}/config", crate::support::repo().display());
    let out = headroom(
        &[
            "forecast",
            "--series",
            "asg/chat-web:memory_percent",
            "--store",
            "o/demo.db",
            "--config",
            cfg,
            "--json",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["resolution"], "hourly means");
    assert_eq!(v["forecast"].as_array().unwrap().len(), 14 * 24, "14 days, hourly");
    // The lines are the shipped memory rules' thresholds.
    let c = headroom::config::Config::load(Path::new(cfg)).unwrap();
    let mut want: Vec<f64> = c
        .rules
        .iter()
        .filter(|r| r.signal == "memory_percent")
        .map(|r| r.threshold)
        .collect();
    want.sort_by(f64::total_cmp);
    want.dedup();
    let got: Vec<f64> = v["crossings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["threshold"].as_f64().unwrap())
        .collect();
    assert_eq!(got, want);
    // An unknown series names the ones there are.
    let out = headroom(
        &["forecast", "--series", "asg/chat-web:nope", "--store", "o/demo.db", "--config", cfg],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("asg/chat-web:memory_percent"));
}

/// The daemon forecasts on its forecast schedule (hourly), not every 5-minute cycle: cycles in
/// between reuse the stored outlooks (so their advice does not flip), the first cycle after a
/// tick makes new ones, and a restart (a new Store handle on the same file) keeps them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecasts_follow_the_forecast_schedule_and_survive_a_restart() {
    use chrono::{TimeZone, Utc};
    use headroom::aws::simulated::SimulatedAccount;
    use headroom::runtime::{ScopeState, shared};
    use headroom::store::Sqlite;
    let dir = temp_dir("forecast-schedule");
    let db = dir.join("h.db");
    let cfg = std::sync::Arc::new(headroom::cli::demo_config().unwrap());
    let scope = cfg.headroom.aws.default_scope();
    assert_eq!(cfg.headroom.schedule.forecast.expr, "0 * * * *", "the shipped schedule: hourly");
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 10, 20, 0).unwrap();
    let sim = SimulatedAccount::new(7, t0.timestamp());
    let store = shared(Sqlite::open(&db).unwrap());
    let mut state = ScopeState::new(scope.clone(), true);
    let a = headroom::runtime::cycle(&sim, &cfg, &store, &mut state, t0).await.unwrap();
    assert!(a.forecast_ran && !a.outlooks.is_empty(), "the first cycle forecasts");
    assert!(a.outlooks.iter().all(|o| o.computed_at == t0.timestamp()));
    drop((store, state));
    // Restart, 5 minutes later, same hour: the stored forecasts, as they were.
    let store = shared(Sqlite::open(&db).unwrap());
    let mut state = ScopeState::new(scope.clone(), true);
    let t1 = t0 + chrono::Duration::minutes(5);
    let b = headroom::runtime::cycle(&sim, &cfg, &store, &mut state, t1).await.unwrap();
    assert!(!b.forecast_ran);
    assert!(b.outlooks == a.outlooks, "the stored outlooks come back as they were made");
    let fa: Vec<_> = a.advisories.iter().filter(|x| x.kind == headroom::domain::Kind::Forecast).collect();
    let fb: Vec<_> = b.advisories.iter().filter(|x| x.kind == headroom::domain::Kind::Forecast).collect();
    assert_eq!(fa, fb, "between ticks the forecast advice holds still");
    assert!(b.reconciled.resolved.iter().all(|f| !fa.iter().any(|x| &x.fingerprint == f)));
    // Past 11:00: new forecasts.
    let t2 = Utc.with_ymd_and_hms(2026, 11, 20, 11, 0, 0).unwrap();
    let c = headroom::runtime::cycle(&sim, &cfg, &store, &mut state, t2).await.unwrap();
    assert!(c.forecast_ran && c.outlooks.iter().all(|o| o.computed_at == t2.timestamp()));
}

/// Issue 21, item 4: one stray row (timestamp 0, or milliseconds among seconds) is left out with
/// a warning naming its line, instead of filling decades of made-up points; a file in epoch
/// milliseconds is read as such; a byte-order mark is skipped.
#[test]
fn stray_rows_units_and_a_bom_are_handled_with_a_warning() {
    let dir = temp_dir("forecast-stray");
    let rows = |f: &dyn Fn(i64) -> String| -> String {
        (0..600)
            .map(|k| format!("{},{}\n", f(1_790_000_000 + k * 300), 50.0 + (k % 12) as f64))
            .collect()
    };
    let secs = rows(&|t| t.to_string());
    std::fs::write(dir.join("zero.csv"), format!("timestamp,value\n{secs}0,7\n")).unwrap();
    std::fs::write(dir.join("ms-row.csv"), format!("timestamp,value\n{secs}1790090000000,7\n")).unwrap();
    std::fs::write(
        dir.join("ms.csv"),
        format!("timestamp,value\n{}", rows(&|t| (t * 1000).to_string())),
    )
    .unwrap();
    std::fs::write(dir.join("bom.csv"), format!("\u{feff}timestamp,value\n{secs}")).unwrap();
    for (file, warning) in [
        (
            "zero.csv",
            "1 row(s) far from the rest of the series in time left out: line 602 (1970-01-01 00:00)",
        ),
        ("ms-row.csv", "1 row(s) far from the rest of the series in time left out: line 602"),
        ("ms.csv", "read as epoch milliseconds"),
        ("bom.csv", ""),
    ] {
        let out = headroom(&["forecast", "--csv", file, "--json"], &dir);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{file}: {err}");
        assert!(err.contains(warning), "{file}: {err}");
        let v: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
        // The history is the 600 five-minute rows, nothing made up around a stray one.
        let n = v["grid_points"].as_u64().unwrap_or_else(|| panic!("{file}: {v}"));
        assert_eq!(n, 600, "{file}");
    }
    // Issue 35, item 11: two stretches of 600 rows a year apart. Before, one was dropped with
    // a warning and the other forecast; neither is the series, so it is an error.
    let later = rows(&|t| (t + 365 * 86_400).to_string());
    std::fs::write(dir.join("two.csv"), format!("timestamp,value\n{secs}{later}")).unwrap();
    let out = headroom(&["forecast", "--csv", "two.csv", "--json"], &dir);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the rows fall in 2 stretches far apart in time (600 rows from 2026-09-21") && err.contains("which is the series?"),
        "{err}"
    );
}
