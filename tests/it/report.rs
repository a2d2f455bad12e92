//! The weekly review: a fixed store (the simulated account's week 2026-W10, cycled hourly),
//! its JSON against a golden file and against the store's own rows, its HTML in headless
//! Chromium (every chart drawn), its email through aiosmtpd (every PNG the HTML references
//! travels with it), and the daemon sending it once per week across a restart.

use super::notify::{Hook, SmtpPeer, free_port, notify_cfg, slack, smtp};
use super::support::temp_dir;
use headroom::aws::simulated::SimulatedAccount;
use headroom::config::{Config, SmtpTls};
use headroom::domain::{Scope, Ts};
use headroom::report::{self, Rendered, Week};
use headroom::runtime::{self, ScopeState, Shared, SystemClock};
use headroom::store::Sqlite;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const WEEK: &str = "2026-W10";

fn scope() -> Scope {
    Scope::new("default", "us-east-1")
}

/// The demo's configuration and a store holding `week` cycled hourly against the simulated
/// account whose history ends with the week (its incident and regression fall inside it).
async fn cycled(dir: &Path, week: &Week, step_s: i64) -> (Arc<Config>, Shared<Sqlite>, PathBuf) {
    let cfg = Arc::new(headroom::cli::demo_config().unwrap());
    let db = dir.join("review.db");
    let store = runtime::shared(Sqlite::open(&db).unwrap());
    let sim = SimulatedAccount::new(42, week.to);
    let mut state = ScopeState::new(scope(), true);
    let mut t = week.from;
    while t < week.to {
        let at = chrono::DateTime::from_timestamp(t, 0).unwrap();
        runtime::cycle(&sim, &cfg, &store, &mut state, at).await.unwrap();
        t += step_s;
    }
    (cfg, store, db)
}

fn review_of(cfg: &Config, store: &Shared<Sqlite>, week: &Week, now: Ts) -> Rendered {
    let rows = report::read(&*runtime::lock_store(store), &[scope()], week, now).unwrap();
    Rendered::new(report::build(cfg, week, &rows, 3_600, now), cfg.headroom.schedule.timezone)
}

fn nearest_rank(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The JSON of the fixed store equals tests/golden/review-2026-W10.json, and its figures are
/// checked here against the store's rows, read with SQL independently of `report`:
/// - cycles: the snapshots of the week (168 hourly cycles);
/// - chat-web's CPU p50/p95/max: nearest-rank percentiles of its points in the week;
/// - each week's spend by service: sums of the spend rows of its seven days;
/// - each alert: an `opened` row of advisory_history and the `resolved` row after it, its
///   duration their difference (or up to the week's end when it never resolved);
/// - advisories opened in the week: the distinct fingerprints with an `opened` row.
///
/// HEADROOM_UPDATE_GOLDEN=1 rewrites the golden file (then read the diff before committing it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_of_a_fixed_store_matches_the_golden_file_and_the_stores_rows() {
    let dir = temp_dir("report-golden");
    let tz = chrono_tz::UTC;
    let week = Week::parse(WEEK, tz).unwrap();
    let (cfg, store, db) = cycled(&dir, &week, 3_600).await;
    let now = week.to + 86_400;
    let r = review_of(&cfg, &store, &week, now);
    let got: Value = serde_json::from_str(&r.json).unwrap();

    let golden_path = crate::support::repo().join("tests/golden/review-2026-W10.json");
    if std::env::var("HEADROOM_UPDATE_GOLDEN").is_ok() {
        std::fs::create_dir_all(golden_path.parent().unwrap()).unwrap();
        std::fs::write(&golden_path, format!("{}\n", r.json)).unwrap();
    }
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(&golden_path).unwrap()).unwrap();
    assert_eq!(got, golden, "the review's JSON differs from {}", golden_path.display());

    // The figures, against the rows.
    let c = rusqlite::Connection::open(&db).unwrap();
    let cycles: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM snapshots WHERE taken_at >= ?1 AND taken_at < ?2",
            [week.from, week.to],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(cycles, 168);
    assert_eq!(got["data"]["cycles"], cycles);
    assert_eq!(got["data"]["cycles_expected"], 168);

    let cpu: Vec<f64> = c
        .prepare(
            "SELECT p.value FROM points p JOIN series_ids i ON i.id = p.series JOIN series s ON s.scope = i.scope AND s.key = i.key
             WHERE s.resource = 'asg/chat-web' AND s.signal = 'cpu_percent' AND p.ts >= ?1 AND p.ts < ?2",
        )
        .unwrap()
        .query_map([week.from, week.to], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // 5-minute points over the week, but for the last hour: the last cycle ran at 23:00.
    assert!(cpu.len() > 7 * 288 - 14 && cpu.len() <= 7 * 288, "{} CPU points", cpu.len());
    let web = got["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["resource"] == "asg/chat-web")
        .unwrap();
    let u = &web["utilization"][0];
    assert_eq!(u["signal"], "cpu_percent");
    assert_eq!(u["points"], cpu.len());
    assert_eq!(u["p50"].as_f64().unwrap(), round2(nearest_rank(cpu.clone(), 50.0)));
    assert_eq!(u["p95"].as_f64().unwrap(), round2(nearest_rank(cpu.clone(), 95.0)));
    assert_eq!(u["max"].as_f64().unwrap(), round2(cpu.iter().copied().fold(f64::MIN, f64::max)));
    let above_75 = cpu.iter().filter(|v| **v > 75.0).count();
    let t75 = u["thresholds"].as_array().unwrap().iter().find(|t| t["value"] == 75.0).unwrap();
    assert_eq!(t75["periods_above"], above_75);

    let spend = &got["spend"][0];
    assert_eq!(spend["weeks"].as_array().unwrap().len(), 4);
    for (k, w) in spend["weeks"].as_array().unwrap().iter().enumerate() {
        let wk = week.back(3 - k as i64, tz);
        assert_eq!(w["week"], wk.label.as_str());
        let days = wk.days();
        let mut stmt = c
            .prepare("SELECT service, SUM(amount_micros) FROM spend WHERE day >= ?1 AND day <= ?2 GROUP BY service")
            .unwrap();
        let rows: Vec<(String, i64)> = stmt
            .query_map([&days[0], &days[6]], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let by = w["by_service"].as_object().unwrap();
        assert_eq!(by.len(), rows.len(), "services of {}", wk.label);
        for (svc, micros) in &rows {
            assert_eq!(by[svc].as_f64().unwrap(), round2(*micros as f64 / 1e6), "{svc} in {}", wk.label);
        }
        let total: i64 = rows.iter().map(|r| r.1).sum();
        assert_eq!(w["total_usd"].as_f64().unwrap(), round2(total as f64 / 1e6));
    }

    let history: Vec<(String, String, i64)> = c
        .prepare("SELECT fingerprint, event, at FROM advisory_history WHERE kind = 'alert' ORDER BY at, id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut spans: Vec<(String, i64, Option<i64>)> = vec![];
    for (fp, event, at) in &history {
        match event.as_str() {
            "opened" => spans.push((fp.clone(), *at, None)),
            "resolved" | "expired" => {
                let open = spans.iter_mut().rev().find(|s| &s.0 == fp && s.2.is_none()).unwrap();
                open.2 = Some(*at);
            }
            _ => {}
        }
    }
    spans.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let alerts = got["alerts"].as_array().unwrap();
    assert!(!alerts.is_empty(), "the simulated incident fires alerts in the week");
    assert_eq!(alerts.len(), spans.len());
    for (a, (fp, fired, resolved)) in alerts.iter().zip(&spans) {
        assert_eq!(a["fingerprint"], fp.as_str());
        assert_eq!(a["fired_at"], *fired);
        assert_eq!(a["duration_s"], resolved.unwrap_or(week.to) - fired);
    }
    assert!(
        alerts.iter().any(|a| !a["resolved_at"].is_null()),
        "the simulated incident's alerts resolve within the week"
    );

    let opened: std::collections::BTreeSet<String> = c
        .prepare("SELECT DISTINCT fingerprint FROM advisory_history WHERE kind != 'alert' AND event = 'opened' AND at >= ?1 AND at < ?2")
        .unwrap()
        .query_map([week.from, week.to], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let listed: std::collections::BTreeSet<String> = got["advisories"]["opened"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["fingerprint"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, opened);
    let _ = std::fs::remove_dir_all(&dir);
}

fn chromium() -> String {
    for c in ["chromium", "chromium-browser"] {
        if std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return c.to_string();
        }
    }
    panic!("chromium is not installed: run the tests with scripts/test (it installs Debian's chromium)");
}

fn headless(browser: &str, profile: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--virtual-time-budget=3000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// The HTML opened in headless Chromium: a script added to a copy of the page writes each
/// chart's box (and any broken image) into the DOM, `--dump-dom` reads them; a screenshot of
/// the page itself at the same width has non-background pixels inside every chart's box.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chart_renders_in_headless_chromium() {
    let browser = chromium();
    let dir = temp_dir("report-chromium");
    let week = Week::parse(WEEK, chrono_tz::UTC).unwrap();
    let (cfg, store, _) = cycled(&dir, &week, 3_600).await;
    let r = review_of(&cfg, &store, &week, week.to + 86_400);
    let ids: Vec<String> = r.charts.iter().map(|c| c.id.clone()).collect();
    assert!(ids.iter().any(|i| i.starts_with("utilization")), "{ids:?}");
    assert!(ids.iter().any(|i| i.starts_with("forecast")), "{ids:?}");
    assert!(ids.contains(&"spend".to_string()) && ids.contains(&"impact".to_string()), "{ids:?}");
    let page = dir.join("review.html");
    std::fs::write(&page, &r.html).unwrap();
    let probe = dir.join("probe.html");
    let script = r#"<script>window.addEventListener('load',()=>{const o={height:document.documentElement.scrollHeight,charts:[],broken:[]};for(const f of document.querySelectorAll('figure.chart')){const b=f.querySelector('svg,img').getBoundingClientRect();o.charts.push({id:f.id,x:b.left+scrollX,y:b.top+scrollY,w:b.width,h:b.height});}for(const i of document.images){if(!i.complete||i.naturalWidth===0)o.broken.push(i.src);}const p=document.createElement('pre');p.id='probe';p.textContent=JSON.stringify(o);document.body.appendChild(p);});</script></body>"#;
    std::fs::write(&probe, r.html.replace("</body>", script)).unwrap();
    let width = 1000;
    let out = headless(&browser, &dir.join("profile-a"))
        .arg(format!("--window-size={width},800"))
        .arg("--dump-dom")
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium --dump-dom: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout).to_string();
    let json = dom
        .split("<pre id=\"probe\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| panic!("the probe did not run: {}", &dom[..dom.len().min(500)]))
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let probe: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(probe["broken"].as_array().unwrap().len(), 0, "broken images: {}", probe["broken"]);
    let boxes = probe["charts"].as_array().unwrap();
    let drawn: Vec<&str> = boxes.iter().map(|b| b["id"].as_str().unwrap()).collect();
    assert_eq!(
        drawn,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "a figure per chart, in order"
    );
    let height = probe["height"].as_f64().unwrap().ceil() as u32;
    let shot = dir.join("review.png");
    let out = headless(&browser, &dir.join("profile-b"))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium --screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    for b in boxes {
        let id = b["id"].as_str().unwrap();
        let (x0, y0) = (b["x"].as_f64().unwrap() as usize, b["y"].as_f64().unwrap() as usize);
        let (bw, bh) = (b["w"].as_f64().unwrap() as usize, b["h"].as_f64().unwrap() as usize);
        assert!(bw >= 300 && bh >= 100, "chart {id} has a box of {bw}×{bh}");
        assert!(x0 + bw <= w && y0 + bh <= h, "chart {id} lies outside the {w}×{h} screenshot");
        let mut ink = 0usize;
        for y in y0..y0 + bh {
            for x in x0..x0 + bw {
                let p = &buf[(y * w + x) * channels..(y * w + x) * channels + 3];
                if p.iter().any(|c| *c < 200) {
                    ink += 1;
                }
            }
        }
        // Axes, labels and series: well over 1 % of the box is drawn.
        let share = ink as f64 / (bw * bh) as f64;
        assert!(share > 0.01, "chart {id}: only {:.3} % of its box is drawn", share * 100.0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The review by email through aiosmtpd: text and HTML alternatives, and every PNG the HTML
/// references by Content-ID is a PNG part of the message with that Content-ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_email_carries_every_png_its_html_references() {
    let dir = temp_dir("report-email");
    let week = Week::parse(WEEK, chrono_tz::UTC).unwrap();
    let (cfg, store, _) = cycled(&dir, &week, 3_600).await;
    let r = review_of(&cfg, &store, &week, week.to + 86_400);
    let port = free_port();
    let peer = SmtpPeer::start(port, &dir.join("mail"), None, None);
    let ncfg = notify_cfg(vec![smtp("mail", port, SmtpTls::None, None, None)]);
    let sent = headroom::notify::review::send(&ncfg, "mail", &r, week.to + 86_400).await;
    assert!(sent.is_ok(), "{sent:?}");
    let msgs = peer.messages();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert!(m["headers"]["Subject"].as_str().unwrap().starts_with("Capacity review 2026-W10"));
    let html = m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["content_type"] == "text/html")
        .unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(m["parts"].as_array().unwrap().iter().any(|p| p["content_type"] == "text/plain"));
    assert!(!html.contains("<svg"), "mail clients do not show SVG: the email has none");
    let referenced: Vec<String> = html
        .split("src=\"cid:")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(referenced.len(), r.charts.len(), "one image per chart");
    let images = m["images"].as_array().unwrap();
    for cid in &referenced {
        let part = images
            .iter()
            .find(|i| i["content_id"].as_str().unwrap().trim_matches(['<', '>']) == cid)
            .unwrap_or_else(|| panic!("no part with Content-ID {cid} in {images:?}"));
        assert_eq!(part["content_type"], "image/png");
        assert_eq!(part["png"], true, "{cid} is a PNG");
        assert!(part["size"].as_u64().unwrap() > 1_000, "{cid} is an image, not an empty part");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The daemon with a review schedule ticking every second: the first start sends last week's
/// review (the tick was a second ago: the catch-up of a daemon down at 09:00); a restart
/// afterwards, ticking again and again in the same week, sends nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_around_the_tick_sends_the_review_once() {
    let dir = temp_dir("report-once");
    let tz = chrono_tz::UTC;
    let now = chrono::Utc::now().timestamp();
    let week = Week::last_full(now, tz);
    // A day of hourly cycles in last week: something to review.
    let day = Week {
        to: week.from + 86_400,
        ..week.clone()
    };
    let (base, store, _) = cycled(&dir, &day, 3_600).await;
    let (hook, url) = Hook::start(vec![]).await;
    let url_file = dir.join("webhook");
    std::fs::write(&url_file, &url).unwrap();
    let mut cfg = (*base).clone();
    cfg.headroom.notify = (*notify_cfg(vec![slack("capacity", &url_file)])).clone();
    cfg.headroom.schedule.weekly_report = headroom::config::parse_cron("* * * * * *").unwrap();
    // No collection in this test: the collect schedule ticks once a year.
    cfg.headroom.schedule.collect = headroom::config::parse_cron("0 0 1 1 *").unwrap();
    let cfg = Arc::new(cfg);
    let run = |secs: u64| {
        let (cfg, store) = (cfg.clone(), store.clone());
        async move {
            let svc = runtime::Service::fixed(cfg, &[], chrono::Utc::now().timestamp());
            let scopes: Vec<(SimulatedAccount, ScopeState)> = vec![];
            runtime::run_service(scopes, svc, store, &SystemClock, tokio::time::sleep(Duration::from_secs(secs)))
                .await
                .unwrap();
        }
    };
    run(3).await;
    let reviews = |h: &Hook| {
        h.accepted()
            .into_iter()
            .filter(|v| v["text"].as_str().unwrap_or("").contains("Capacity review"))
            .collect::<Vec<_>>()
    };
    let first = reviews(&hook);
    assert_eq!(first.len(), 1, "the first start sends last week's review: {first:?}");
    let text = first[0]["text"].as_str().unwrap();
    assert!(text.contains(&format!("*Capacity review {}*", week.label)), "{text}");
    assert!(text.contains("```"), "a text table: {text}");
    assert!(!text.contains("http"), "no links: {text}");
    // Restart: ticks every second for 4 s, same week, already sent.
    run(4).await;
    assert_eq!(reviews(&hook).len(), 1, "sent once across the restart");
    let log = runtime::lock_store(&store).reports_log().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].week.as_str(), log[0].state.as_str(), log[0].attempts),
        (week.label.as_str(), "sent", 1)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `headroom report` as a user runs it: `--out` writes the page, Markdown, JSON and one PNG
/// per chart; a week that does not exist and a bad scope exit 2 naming what was wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headroom_report_writes_every_format_and_refuses_bad_input() {
    let dir = temp_dir("report-cli");
    let week = Week::parse(WEEK, chrono_tz::UTC).unwrap();
    let day = Week {
        to: week.from + 2 * 86_400,
        ..week.clone()
    };
    let (_, store, db) = cycled(&dir, &day, 3_600).await;
    drop(store);
    let config = crate::support::repo().join("config");
    let out_dir = dir.join("out");
    let run = |extra: &[&str]| {
        let mut args = vec!["--config", config.to_str().unwrap(), "report", "--store", db.to_str().unwrap()];
        args.extend_from_slice(extra);
        super::support::headroom(&args, &dir)
    };
    let o = run(&["--week", WEEK, "--scope", "default/us-east-1", "--out", out_dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", super::support::text(&o.stderr));
    for f in ["review-2026-W10.html", "review-2026-W10.md", "review-2026-W10.json"] {
        assert!(out_dir.join(f).is_file(), "{f} written");
    }
    let json: Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("review-2026-W10.json")).unwrap()).unwrap();
    assert_eq!(json["week"], WEEK);
    assert_eq!(json["data"]["cycles"], 48, "two days of hourly cycles");
    let pngs = std::fs::read_dir(out_dir.join("charts")).unwrap().count();
    let md = std::fs::read_to_string(out_dir.join("review-2026-W10.md")).unwrap();
    assert_eq!(md.matches("](charts/").count(), pngs, "the Markdown shows every PNG");
    // Hourly cycles against the shipped 5-minute schedule, and five days without any: said,
    // and the many gaps summed up in one line.
    assert!(md.contains("48 of 2016 scheduled cycles ran"), "{md}");
    assert!(md.contains("stretches without a cycle"), "{md}");
    assert!(md.matches("no cycle from").count() == 0, "{md}");
    let o = run(&["--week", "2026-W54"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(super::support::text(&o.stderr).contains("2026 has no week 54"));
    let o = run(&["--week", WEEK, "--scope", "us-east-1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(super::support::text(&o.stderr).contains("expected ACCOUNT/REGION"));
    // Issue 35, item 11: both reviewed an empty week and exited 0.
    let o = run(&["--week", "0000-W01"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(super::support::text(&o.stderr).contains("outside 1970–9999"));
    let o = run(&["--week", WEEK, "--scope", "nope/eu-north-9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        super::support::text(&o.stderr).contains("--scope nope/eu-north-9: not a scope of this config (its scopes: default/us-east-1)"),
        "{}",
        super::support::text(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
