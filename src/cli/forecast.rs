//! `headroom forecast`: forecast one series — from a CSV file, or `--series RESOURCE:SIGNAL`
//! from the store (its alert rules as lines) — and print the forecast, its crossings of the
//! thresholds, the growth rate and a small terminal chart, or `--json`; or `--backtest` a
//! folder of CSVs by ../shared/bench/FORECAST_PROTOCOL.md, series fitted on every core.
//! Over a day ahead a finer series is forecast as hourly means with the outlook model.
//!
//! May use: analyze::forecast, analyze::outlook, config, store (read), std I/O. Exit 2 with
//! the file, line and column (or flag, or series) named on bad input.

use crate::analyze::forecast::{self, Crossing, Forecast, Input, Params, grid};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  headroom forecast --csv cpu.csv --threshold 75\n  headroom forecast --csv traffic.csv --value-col requests --horizon-days 14 --json\n  headroom forecast --series asg/web:cpu_percent --config config   (a series the daemon collected)\n  headroom forecast --backtest ../shared/data/forecast/dev --out preds.csv\n\nOver a day ahead, a finer series is forecast as hourly means with the daemon's 14-day model\n(trend on daily means, positive series in logs); up to a day, at its own resolution."
)]
pub struct Args {
    /// A CSV file with a header row: one timestamp column and one value column.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["backtest", "series"])]
    csv: Option<PathBuf>,
    /// A series the daemon collected, RESOURCE:SIGNAL (e.g. asg/web:cpu_percent), read from
    /// the store of --config (or --store); the alert rules on that signal give its lines.
    /// Default horizon 14 days, hourly.
    #[arg(long, value_name = "RESOURCE:SIGNAL", conflicts_with = "backtest")]
    series: Option<String>,
    /// Configuration folder (for --series).
    #[arg(long, value_name = "DIR", default_value = "config")]
    config: PathBuf,
    /// Store file (for --series; default: the config's [store] path).
    #[arg(long, value_name = "FILE")]
    store: Option<PathBuf>,
    /// Name of the timestamp column (values like 2026-11-01 14:05:00, 2026-11-01T14:05:00Z or epoch seconds).
    #[arg(long, default_value = "timestamp")]
    timestamp_col: String,
    /// Name of the value column.
    #[arg(long, default_value = "value")]
    value_col: String,
    /// Seconds between points (default: the median spacing, rounded to a minute).
    #[arg(long, value_name = "SECONDS")]
    step: Option<i64>,
    /// Forecast horizon in days (default: 1 for --csv, 14 for --series).
    #[arg(long, value_name = "DAYS")]
    horizon_days: Option<f64>,
    /// A season length in steps (repeatable; default: a day, and a week when it is strong and
    /// two weeks of history exist; the periodogram when the step does not divide a day).
    #[arg(long = "season", value_name = "STEPS")]
    seasons: Vec<usize>,
    /// A line to report the crossing of, in the series' unit (repeatable), e.g. --threshold 75.
    #[arg(long = "threshold", value_name = "VALUE")]
    thresholds: Vec<f64>,
    /// The quantity cannot be negative (utilization, counts): negative values are bad data,
    /// treated as missing. Without it, bounds stay at or above 0 only when the history does.
    #[arg(long)]
    non_negative: bool,
    /// Print the forecast as JSON.
    #[arg(long)]
    json: bool,
    /// Run the benchmark protocol over every CSV of this folder (manifest.csv gives each step).
    #[arg(long, value_name = "DIR", requires = "out")]
    backtest: Option<PathBuf>,
    /// Threads for --backtest (default: every core; 1 gives the single-core time).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Where --backtest writes its predictions (series,origin_index,step,yhat,lo80,hi80,lo95,hi95).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Override a model parameter, key=value (repeatable; for experiments, see BENCHMARKS.md).
    #[arg(long = "param", value_name = "KEY=VALUE", hide_short_help = true)]
    params: Vec<String>,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

pub fn run(a: Args) -> ExitCode {
    let mut p = Params::default();
    for kv in &a.params {
        if let Err(e) = p.set(kv) {
            return fail(e);
        }
    }
    if let Some(dir) = &a.backtest {
        let Some(out) = &a.out else {
            return fail("--backtest needs --out FILE");
        };
        let threads = a
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        return backtest(dir, out, &p, threads).unwrap_or_else(|c| c);
    }
    if let Some(d) = a.horizon_days
        && !(d.is_finite() && d > 0.0 && d <= 366.0)
    {
        return fail(format!("--horizon-days {d}: expected a number of days in (0, 366]"));
    }
    if let Some(t) = a.thresholds.iter().find(|t| !t.is_finite()) {
        return fail(format!(
            "--threshold {t}: expected a finite number in the series' unit, e.g. --threshold 75"
        ));
    }
    if let Some(spec) = &a.series {
        return stored(spec, &a, &p).unwrap_or_else(|c| c);
    }
    let Some(csv) = &a.csv else {
        return fail(
            "give --csv FILE (a series to forecast), --series RESOURCE:SIGNAL (a collected one) or --backtest DIR --out FILE (see --help)",
        );
    };
    let obs = match read_csv(csv, &a.timestamp_col, &a.value_col) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    one(&csv.display().to_string(), obs, a.horizon_days.unwrap_or(1.0), vec![], &a, &p).unwrap_or_else(|c| c)
}

/// `--series RESOURCE:SIGNAL`: the store's points of that series, lines from the alert rules.
fn stored(spec: &str, a: &Args, p: &Params) -> Result<ExitCode, ExitCode> {
    let Some((resource, signal)) = spec.rsplit_once(':') else {
        return Err(fail(format!(
            "--series {spec:?}: expected RESOURCE:SIGNAL, e.g. asg/web:cpu_percent"
        )));
    };
    let cfg = crate::config::Config::load(&a.config)
        .map_err(|e| fail(format!("{e} (see `headroom config check --config {}`)", a.config.display())))?;
    let path = a.store.clone().unwrap_or_else(|| cfg.headroom.store.path.clone());
    if !path.exists() {
        return Err(fail(format!(
            "store {} does not exist: run `headroom check` or the daemon first, or give --store",
            path.display()
        )));
    }
    let store = crate::store::Sqlite::open_read_only(&path).map_err(fail)?;
    let since = chrono::Utc::now().timestamp() - i64::from(cfg.headroom.collect.lookback_days.max(28)) * 86_400;
    let (key, pts) = match store.series_of(None, resource, signal, since).map_err(fail)? {
        Ok(v) => v,
        Err(known) => {
            return Err(fail(format!(
                "{}: no series {spec}; it has: {}",
                path.display(),
                if known.is_empty() {
                    "none (run a cycle first)".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
    };
    let r = crate::domain::ResourceId(resource.to_string());
    let lines = crate::analyze::outlook::rule_lines(&cfg.rules, signal, &r);
    one(&format!("{spec} ({key})"), pts, a.horizon_days.unwrap_or(14.0), lines, a, p)
}

/// Timestamp as epoch seconds: "YYYY-MM-DD HH:MM:SS", RFC 3339, "YYYY-MM-DDTHH:MM:SS" (UTC)
/// or a number of seconds.
fn parse_ts(s: &str) -> Option<i64> {
    let s = s.trim().trim_matches('"');
    if let Ok(n) = s.parse::<f64>() {
        return n.is_finite().then_some(n as i64);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp());
        }
    }
    None
}

/// Read (time, value) rows of a CSV with a header. Empty or "NaN" values are kept as NaN
/// (missing); anything else unparsable is an error naming the line.
///
/// Timestamps: numbers are epoch seconds, or epoch milliseconds when their median is beyond
/// the year 5000 in seconds (said on stderr). Rows far from the rest in time — a stray `0`, one
/// row in milliseconds among seconds — are left out with a warning naming their lines: a
/// cluster of rows separated from the largest one by more than 1,000 median steps (and at least
/// 30 days) is dropped. A byte-order mark is skipped.
pub fn read_csv(path: &Path, ts_col: &str, val_col: &str) -> Result<Vec<(i64, f64)>, String> {
    let body = crate::files::read_text(path, crate::files::Kind::Csv).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut lines = body.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(format!(
            "{}: empty file (expected a header row, e.g. timestamp,value)",
            path.display()
        ));
    };
    let cols: Vec<&str> = header.split(',').map(|c| c.trim().trim_matches('"')).collect();
    let find = |name: &str, flag: &str| {
        cols.iter().position(|c| *c == name).ok_or_else(|| {
            format!(
                "{}: no column {name:?} in the header (columns: {}); choose one with {flag}",
                path.display(),
                cols.join(", ")
            )
        })
    };
    let (ti, vi) = (find(ts_col, "--timestamp-col")?, find(val_col, "--value-col")?);
    let mut out = Vec::new();
    let mut line_of = Vec::new();
    let mut numeric = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let cell = |k: usize| f.get(k).map(|s| s.trim().trim_matches('"')).unwrap_or("");
        numeric.push(cell(ti).parse::<f64>().is_ok());
        line_of.push(i + 1);
        let t = parse_ts(cell(ti)).ok_or_else(|| {
            format!(
                "{}:{}: timestamp {:?} is not a date-time (expected e.g. 2026-11-01 14:05:00, RFC 3339 or epoch seconds)",
                path.display(),
                i + 1,
                cell(ti)
            )
        })?;
        let raw = cell(vi);
        let v = if raw.is_empty() || raw.eq_ignore_ascii_case("nan") || raw.eq_ignore_ascii_case("null") {
            f64::NAN
        } else {
            raw.parse::<f64>()
                .map_err(|_| format!("{}:{}: value {raw:?} in column {val_col:?} is not a number", path.display(), i + 1))?
        };
        out.push((t, v));
    }
    if out.is_empty() {
        return Err(format!("{}: no data rows after the header", path.display()));
    }
    // Epoch milliseconds: numeric timestamps whose median lies past the year 5000 in seconds.
    let mut nums: Vec<i64> = out.iter().zip(&numeric).filter(|(_, n)| **n).map(|(o, _)| o.0).collect();
    if nums.len() * 2 > out.len() {
        nums.sort_unstable();
        if nums[nums.len() / 2] > 95_617_584_000 {
            eprintln!(
                "warning: {}: numeric timestamps read as epoch milliseconds (their median is past the year 5000 in seconds)",
                path.display()
            );
            for (o, n) in out.iter_mut().zip(&numeric) {
                if *n {
                    o.0 = o.0.div_euclid(1000);
                }
            }
        }
    }
    let keep = main_cluster(&out.iter().map(|o| o.0).collect::<Vec<_>>()).map_err(|parts| {
        let shown: Vec<String> = parts
            .iter()
            .map(|(n, from, to)| format!("{n} rows from {} to {}", day_str(*from), day_str(*to)))
            .collect();
        format!(
            "{}: the rows fall in {} stretches far apart in time ({}), none of them nearly all the rows: which is the series? (give one stretch per file)",
            path.display(),
            parts.len(),
            shown.join("; ")
        )
    })?;
    let dropped: Vec<usize> = (0..out.len()).filter(|i| !keep[*i]).collect();
    if !dropped.is_empty() {
        let shown: Vec<String> = dropped
            .iter()
            .take(5)
            .map(|&i| format!("line {} ({})", line_of[i], day_str(out[i].0)))
            .collect();
        eprintln!(
            "warning: {}: {} row(s) far from the rest of the series in time left out: {}{}",
            path.display(),
            dropped.len(),
            shown.join(", "),
            if dropped.len() > 5 { ", …" } else { "" }
        );
        out = out.into_iter().zip(keep).filter(|(_, k)| *k).map(|(o, _)| o).collect();
    }
    Ok(out)
}

/// Which timestamps belong to the series: sorted, split wherever two neighbours are more than
/// max(1,000 median steps, 30 days) apart; the largest part stays when the others are strays
/// (together at most a tenth of the rows). Otherwise no part is the series, and dropping
/// half the rows with a warning would forecast the wrong one: the parts are returned as
/// (rows, first, last) for the error.
fn main_cluster(ts: &[i64]) -> Result<Vec<bool>, Vec<(usize, i64, i64)>> {
    let mut order: Vec<usize> = (0..ts.len()).collect();
    order.sort_by_key(|&i| ts[i]);
    let mut diffs: Vec<i64> = order.windows(2).map(|w| ts[w[1]] - ts[w[0]]).filter(|d| *d > 0).collect();
    if diffs.is_empty() {
        return Ok(vec![true; ts.len()]);
    }
    diffs.sort_unstable();
    let step = diffs[diffs.len() / 2];
    let gap = step.saturating_mul(1000).max(30 * 86_400);
    let mut parts: Vec<(usize, usize)> = vec![(0, 0)];
    for k in 1..order.len() {
        if ts[order[k]] - ts[order[k - 1]] > gap {
            parts.push((k, k));
        } else if let Some(p) = parts.last_mut() {
            p.1 = k;
        }
    }
    let best = parts.iter().max_by_key(|(a, b)| b - a).copied().unwrap_or((0, order.len() - 1));
    let kept = best.1 - best.0 + 1;
    if (order.len() - kept) * 10 > order.len() {
        return Err(parts.iter().map(|&(a, b)| (b - a + 1, ts[order[a]], ts[order[b]])).collect());
    }
    let mut keep = vec![false; ts.len()];
    for &i in &order[best.0..=best.1] {
        keep[i] = true;
    }
    Ok(keep)
}

/// The most points a regularised series may have: beyond it, the timestamps or the step are
/// wrong (a million 5-minute steps is 9.5 years).
pub const MAX_GRID_POINTS: i64 = 1_000_000;

fn day_str(t: i64) -> String {
    Utc.timestamp_opt(t, 0)
        .single()
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// Forecast `obs` (named `source` in messages) `horizon_days` ahead; `lines` join --threshold.
fn one(
    source: &str,
    obs: Vec<(i64, f64)>,
    horizon_days: f64,
    lines: Vec<(String, f64)>,
    a: &Args,
    p: &Params,
) -> Result<ExitCode, ExitCode> {
    let step = match a.step {
        Some(s) if s > 0 => s,
        Some(s) => return Err(fail(format!("--step {s}: must be a positive number of seconds"))),
        None => grid::infer_step(&obs.iter().map(|o| o.0).collect::<Vec<_>>()).ok_or_else(|| {
            fail(format!(
                "{source}: fewer than two distinct timestamps: not enough history to forecast"
            ))
        })?,
    };
    if let (Some(first), Some(last)) = (obs.iter().map(|o| o.0).min(), obs.iter().map(|o| o.0).max()) {
        let points = (last - first) / step + 1;
        if points > MAX_GRID_POINTS {
            return Err(fail(format!(
                "{source}: from {} to {} at one point every {step} s is {points} points, more than the {MAX_GRID_POINTS} a series may have: check the timestamps (a stray row, or the wrong unit) or give a larger --step",
                day_str(first),
                day_str(last)
            )));
        }
    }
    if !(horizon_days.is_finite() && horizon_days > 0.0 && horizon_days <= 366.0) {
        return Err(fail(format!(
            "--horizon-days {horizon_days}: expected a number of days in (0, 366]"
        )));
    }
    // Over a day ahead, a sub-hourly series becomes hourly means and the daemon's long model.
    let hourly = horizon_days > 1.0 && step < 3600 && a.step.is_none();
    let (g, step, p) = if hourly {
        let g = forecast::hourly(&obs).ok_or_else(|| fail(format!("{source}: no finite observation to average into hours")))?;
        let mut lp = crate::analyze::outlook::params();
        for kv in &a.params {
            lp.set(kv).map_err(fail)?;
        }
        (g, 3600, lp)
    } else {
        let g = grid::regularise(&obs, step).map_err(|e| fail(format!("{source}: {e}")))?;
        (g, step, p.clone())
    };
    let p = &p;
    let horizon = ((horizon_days * 86_400.0 / step as f64).round() as usize).max(1);
    let input = Input {
        y: &g.values,
        observed: Some(&g.observed),
        step_s: step,
        horizon,
        periods: (!a.seasons.is_empty()).then(|| a.seasons.clone()),
        non_negative: a.non_negative.then_some(true),
    };
    let fc = forecast::forecast(&input, p).map_err(|e| fail(format!("{source}: {e}")))?;
    let origin = g.start + (g.values.len() as i64 - 1) * step;
    let last = *g.values.last().unwrap_or(&f64::NAN);
    let day = if 86_400 % step == 0 { (86_400 / step) as usize } else { 0 };
    let growth = forecast::growth(&g.values, day);
    // A line the last cycle (of the longest season) already reached is crossed already.
    let reached = forecast::recent_peak(&g.values, &fc.periods);
    let crossings: Vec<(f64, Crossing)> = a
        .thresholds
        .iter()
        .copied()
        .chain(lines.iter().map(|l| l.1))
        .map(|t| (t, forecast::crossing(&fc, reached, origin, step, t)))
        .collect();
    if a.json {
        let steps: Vec<serde_json::Value> = (0..fc.point.len())
            .map(|j| {
                serde_json::json!({
                    "time": day_str(origin + (j as i64 + 1) * step),
                    "yhat": fc.point[j], "lo80": fc.lo80[j], "hi80": fc.hi80[j], "lo95": fc.lo95[j], "hi95": fc.hi95[j],
                })
            })
            .collect();
        let v = serde_json::json!({
            "source": source,
            "resolution": if hourly { "hourly means" } else { "native" },
            "points": obs.len(), "grid_points": g.values.len(), "imputed": g.observed.iter().filter(|o| !**o).count(),
            "step_seconds": step, "origin": day_str(origin), "last_value": last,
            "model": fc.model, "periods": fc.periods, "fallback": fc.fallback, "intervals_from": fc.intervals_from,
            "outliers_replaced": fc.outliers, "growth": growth,
            "crossings": crossings.iter().map(|(t, c)| serde_json::json!({"threshold": t, "crossing": c})).collect::<Vec<_>>(),
            "forecast": steps,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} points, step {} s{}, {} imputed; last value {} at {} UTC",
        source,
        obs.len(),
        step,
        if hourly { " (hourly means: the horizon is over a day)" } else { "" },
        g.observed.iter().filter(|o| !**o).count(),
        fmt(last),
        day_str(origin)
    );
    let _ = writeln!(s, "model: {}", fc.model);
    if let Some(f) = &fc.fallback {
        let _ = writeln!(s, "fallback: {f}");
    }
    let _ = writeln!(s, "intervals: {}", fc.intervals_from);
    if fc.outliers > 0 {
        let _ = writeln!(s, "outliers replaced before fitting: {}", fc.outliers);
    }
    match &growth {
        Some(gr) => {
            let _ = writeln!(
                s,
                "growth: {:+.1} % per 30 days (80 %: {:+.1} … {:+.1} %), {} fit of {} daily means{}",
                gr.per_30d * 100.0,
                gr.lo80 * 100.0,
                gr.hi80 * 100.0,
                gr.fit,
                gr.days,
                gr.changepoint_days_ago
                    .map(|d| format!(" since a changepoint {d} days ago"))
                    .unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(s, "growth: not enough history (7 full days are needed)");
        }
    }
    for (t, c) in &crossings {
        let _ = writeln!(s, "{}", describe_crossing(*t, c));
    }
    s += &chart(&g.values[g.values.len().saturating_sub(horizon.max(48))..], &fc, 72, 12);
    let every = (fc.point.len() / 8).max(1);
    let _ = writeln!(
        s,
        "\n{:<17} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "time (UTC)", "lo95", "lo80", "forecast", "hi80", "hi95"
    );
    for j in (every - 1..fc.point.len()).step_by(every) {
        let _ = writeln!(
            s,
            "{:<17} {:>12} {:>12} {:>12} {:>12} {:>12}",
            day_str(origin + (j as i64 + 1) * step),
            fmt(fc.lo95[j]),
            fmt(fc.lo80[j]),
            fmt(fc.point[j]),
            fmt(fc.hi80[j]),
            fmt(fc.hi95[j])
        );
    }
    print!("{s}");
    Ok(ExitCode::SUCCESS)
}

fn fmt(v: f64) -> String {
    if v.abs() >= 1e5 || (v != 0.0 && v.abs() < 1e-2) {
        format!("{v:.3e}")
    } else {
        format!("{v:.2}")
    }
}

/// "crosses 75 on 2027-01-09 14:00, between 2026-12-30 03:00 and 2027-01-21 08:00".
pub fn describe_crossing(line: f64, c: &Crossing) -> String {
    match c {
        Crossing::Already => format!("{}: already at or above it", fmt(line)),
        Crossing::At { at, earliest, latest } => format!(
            "{}: crosses on {} UTC, 80 % between {} and {}",
            fmt(line),
            day_str(*at),
            day_str(*earliest),
            latest.map(day_str).unwrap_or_else(|| "after the horizon".into())
        ),
        Crossing::NotWithinHorizon { earliest: Some(e) } => {
            format!(
                "{}: not within the horizon (the 80 % band reaches it from {} UTC)",
                fmt(line),
                day_str(*e)
            )
        }
        Crossing::NotWithinHorizon { earliest: None } => format!("{}: not within the horizon, even at the 80 % band's top", fmt(line)),
    }
}

/// A text chart: history (·), forecast (*) and its 80 % band (░).
pub fn chart(history: &[f64], fc: &Forecast, width: usize, height: usize) -> String {
    let all: Vec<f64> = history
        .iter()
        .chain(&fc.lo80)
        .chain(&fc.hi80)
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if all.is_empty() || width < 4 || height < 2 {
        return String::new();
    }
    let (lo, hi) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let n = history.len() + fc.point.len();
    let col = |i: usize| i * (width - 1) / n.max(1);
    let row = |v: f64| (((hi - v) / span) * (height - 1) as f64).round().clamp(0.0, (height - 1) as f64) as usize;
    let mut cells = vec![vec![' '; width]; height];
    for j in 0..fc.point.len() {
        let c = col(history.len() + j);
        let (top, bottom) = (row(fc.hi80[j]), row(fc.lo80[j]));
        for line in &mut cells[top.min(bottom)..=top.max(bottom)] {
            line[c] = '░';
        }
    }
    for (i, v) in history.iter().enumerate() {
        cells[row(*v)][col(i)] = '·';
    }
    for (j, v) in fc.point.iter().enumerate() {
        cells[row(*v)][col(history.len() + j)] = '*';
    }
    let mut s = String::from("\n");
    for (r, line) in cells.iter().enumerate() {
        let label = if r == 0 {
            fmt(hi)
        } else if r == height - 1 {
            fmt(lo)
        } else {
            String::new()
        };
        let _ = writeln!(s, "{label:>10} │{}", line.iter().collect::<String>());
    }
    let _ = writeln!(s, "{:>10} └{}", "", "─".repeat(width));
    let _ = writeln!(s, "{:>12}history (·) then forecast (*) with its 80 % band (░)", "");
    s
}

/// Manifest rows (file → step seconds), when the folder has a manifest.csv.
fn manifest(dir: &Path) -> Result<Option<Vec<(String, i64)>>, String> {
    let path = dir.join("manifest.csv");
    if !path.exists() {
        return Ok(None);
    }
    let body = crate::files::read_text(&path, crate::files::Kind::Csv).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut lines = body.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let fi = header.iter().position(|c| *c == "file");
    let si = header.iter().position(|c| *c == "step_seconds");
    let (Some(fi), Some(si)) = (fi, si) else {
        return Err(format!("{}: expected columns file and step_seconds", path.display()));
    };
    let mut out = Vec::new();
    for (i, l) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = l.split(',').collect();
        let step = f
            .get(si)
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|s| *s > 0 && 86_400 % s == 0)
            .ok_or_else(|| format!("{}:{}: step_seconds must be a positive divisor of 86400", path.display(), i + 2))?;
        out.push((f.get(fi).unwrap_or(&"").trim().to_string(), step));
    }
    Ok(Some(out))
}

/// One file's backtest: its prediction rows, fallbacks, model and fitting time.
struct Series {
    name: String,
    points: usize,
    rows: String,
    fallbacks: usize,
    model: String,
    seconds: f64,
}

fn backtest_one(dir: &Path, file: &str, step: Option<i64>, p: &Params) -> Result<Series, String> {
    let path = dir.join(file);
    let obs = read_csv(&path, "timestamp", "value")?;
    let step = match step {
        Some(s) => s,
        None => grid::infer_step(&obs.iter().map(|o| o.0).collect::<Vec<_>>())
            .filter(|s| 86_400 % s == 0)
            .ok_or_else(|| format!("{}: cannot tell a step that divides a day; add a manifest.csv", path.display()))?,
    };
    let g = grid::regularise(&obs, step).map_err(|e| format!("{}: {e}", path.display()))?;
    let h = (86_400 / step) as usize;
    let n = g.values.len();
    if n < 5 * h {
        return Err(format!("{}: {n} points is shorter than the protocol's 5 days", path.display()));
    }
    let name = file.trim_end_matches(".csv").to_string();
    let started = Instant::now();
    let mut rows = String::new();
    let (mut fallbacks, mut model) = (0, String::new());
    for o in 0..3 {
        let pos = n - (3 - o) * h;
        let input = Input {
            y: &g.values[..pos],
            observed: Some(&g.observed[..pos]),
            step_s: step,
            horizon: h,
            periods: None,
            non_negative: None,
        };
        let fc = forecast::forecast(&input, p).map_err(|e| format!("{}: origin {o}: {e}", path.display()))?;
        if fc.fallback.is_some() {
            fallbacks += 1;
        }
        for s in 0..h {
            let _ = writeln!(
                rows,
                "{name},{o},{},{},{},{},{},{}",
                s + 1,
                fc.point[s],
                fc.lo80[s],
                fc.hi80[s],
                fc.lo95[s],
                fc.hi95[s]
            );
        }
        model = fc.model;
    }
    Ok(Series {
        name,
        points: n,
        rows,
        fallbacks,
        model,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn backtest(dir: &Path, out: &Path, p: &Params, threads: usize) -> Result<ExitCode, ExitCode> {
    let files: Vec<(String, Option<i64>)> = match manifest(dir).map_err(fail)? {
        Some(m) => m.into_iter().map(|(f, s)| (f, Some(s))).collect(),
        None => {
            let rd = std::fs::read_dir(dir).map_err(|e| fail(format!("cannot read folder {}: {e}", dir.display())))?;
            let mut v: Vec<(String, Option<i64>)> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|f| f.ends_with(".csv"))
                .map(|f| (f, None))
                .collect();
            v.sort();
            v
        }
    };
    if files.is_empty() {
        return Err(fail(format!("{}: no CSV files (and no manifest.csv)", dir.display())));
    }
    // Each file's reading, fitting and rows; files are independent, so they run on every core
    // (`--threads 1` for a single-core time). The order of the output follows the file list.
    let threads = threads.max(1).min(files.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let t0 = Instant::now();
    let mut results: Vec<Option<Result<Series, String>>> = (0..files.len()).map(|_| None).collect();
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (files, next, done) = (&files, &next, &done);
                sc.spawn(move || {
                    let mut mine = vec![];
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some((file, step)) = files.get(k) else { break };
                        let r = backtest_one(dir, file, *step, p);
                        let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        if let Ok(s) = &r {
                            eprintln!(
                                "[{n}/{}] {}: {} points, 3 origins in {:.0} ms; {}",
                                files.len(),
                                s.name,
                                s.points,
                                s.seconds * 1e3,
                                s.model
                            );
                        }
                        mine.push((k, r));
                    }
                    mine
                })
            })
            .collect();
        for h in handles {
            for (k, r) in h.join().unwrap_or_default() {
                results[k] = Some(r);
            }
        }
    });
    let mut rows = String::from("series,origin_index,step,yhat,lo80,hi80,lo95,hi95\n");
    let (mut fallbacks, mut cpu) = (0, 0.0);
    for (k, r) in results.into_iter().enumerate() {
        match r {
            Some(Ok(s)) => {
                rows.push_str(&s.rows);
                fallbacks += s.fallbacks;
                cpu += s.seconds;
            }
            Some(Err(e)) => return Err(fail(e)),
            None => return Err(fail(format!("{}: the forecast of this file did not finish", files[k].0))),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    std::fs::write(out, rows).map_err(|e| fail(format!("cannot write {}: {e}", out.display())))?;
    eprintln!(
        "wrote {} ({} series, {fallbacks} fallbacks) in {secs:.2} s on {threads} thread(s); {cpu:.2} s of fitting summed over series",
        out.display(),
        files.len()
    );
    println!("seconds={secs:.3}");
    println!("cpu_seconds={cpu:.3}");
    println!("threads={threads}");
    Ok(ExitCode::SUCCESS)
}
