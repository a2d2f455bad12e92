//! The review as people read it: a self-contained HTML page (charts as inline SVG; readable
//! on a phone, prints on A4), the same page for email with the charts as PNG parts referenced
//! by Content-ID, Markdown (also the email's plain-text alternative), and Slack's short
//! summary with a link-free text table.
//!
//! Pure. May use: the review, its charts.

use super::charts::Chart;
use super::{AdvisoryLine, Review, thousands};
use std::fmt::Write;

/// Where the HTML's charts come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Images {
    /// Inline SVG (the page).
    Svg,
    /// `<img src="cid:…">` (email; the PNG parts travel with the message).
    Cid,
}

/// The Content-ID of a chart's PNG part (without the angle brackets).
pub fn content_id(chart: &Chart, week: &str) -> String {
    format!("{}.{week}@headroom", chart.id)
}

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn money(x: Option<f64>) -> String {
    match x {
        None => "—".into(),
        Some(v) if v < 0.0 => format!("−${}/mo", thousands(-v)),
        Some(v) => format!("+${}/mo", thousands(v)),
    }
}

fn opt(x: Option<f64>, unit: &str) -> String {
    x.map(|v| format!("{v}{unit}")).unwrap_or_else(|| "—".into())
}

fn when(t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

fn duration(s: i64) -> String {
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3_600, (s % 3_600) / 60);
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// SVG sized by its container: width 100 %, aspect kept.
fn responsive(svg: &str) -> String {
    let w = super::charts::WIDTH;
    let h = super::charts::HEIGHT;
    svg.replacen(
        &format!("<svg width=\"{w}\" height=\"{h}\""),
        &format!("<svg width=\"100%\" preserveAspectRatio=\"xMidYMid meet\" style=\"max-width:{w}px;height:auto\""),
        1,
    )
}

const STYLE: &str = r#"
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:0 auto;max-width:960px;padding:12px;color:#222;line-height:1.4}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.4em}
.headline{background:#f3f7fb;border-left:4px solid #0072b2;padding:8px 12px;font-size:1.1em}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.4em 0}th,td{border-bottom:1px solid #e4e4e4;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#fafafa}td.num{text-align:right;white-space:nowrap}.scroll{overflow-x:auto}
figure.chart{margin:10px 0;break-inside:avoid;page-break-inside:avoid}figure.chart img,figure.chart svg{display:block;width:100%;max-width:720px;height:auto}
figcaption{font-size:.85em;color:#555}.note{color:#8a5300}.muted{color:#777}
.sev-critical{color:#b00;font-weight:bold}.sev-warning{color:#a60}
@media (max-width:600px){body{padding:6px;font-size:15px}table{font-size:.8em}}
@media print{@page{size:A4;margin:14mm}body{max-width:none;padding:0;font-size:10pt}h2{break-after:avoid}tr{break-inside:avoid}.scroll{overflow:visible}}
"#;

fn advisory_rows(out: &mut String, items: &[AdvisoryLine]) {
    if items.is_empty() {
        out.push_str("<p class=\"muted\">None.</p>\n");
        return;
    }
    out.push_str("<div class=\"scroll\"><table><tr><th>Severity</th><th>Kind</th><th>Resource</th><th>Summary</th><th>Monthly</th></tr>\n");
    for a in items {
        let _ = writeln!(
            out,
            "<tr><td class=\"sev-{sev}\">{sev}</td><td>{}</td><td>{}</td><td>{}{}</td><td class=\"num\">{}</td></tr>",
            escape(&a.kind),
            escape(&a.resource),
            escape(&a.summary),
            if a.times > 1 {
                format!(" <span class=\"muted\">(×{})</span>", a.times)
            } else {
                String::new()
            },
            money(a.monthly_cost_delta_usd),
            sev = escape(&a.severity),
        );
    }
    out.push_str("</table></div>\n");
}

/// The review as one HTML document.
pub fn html(r: &Review, charts: &[Chart], images: Images) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>Capacity review {week}</title><style>{STYLE}</style></head><body>\n<h1>Capacity review {week}</h1>\n<p class=\"muted\">{from} to {to} ({tz}) · {scopes}</p>\n<p class=\"headline\">{headline}</p>\n",
        week = escape(&r.week),
        from = escape(&r.from),
        to = escape(&r.to),
        tz = escape(&r.timezone),
        scopes = escape(&r.scopes.join(", ")),
        headline = escape(&r.headline.text),
    );
    o.push_str("<h2>Decisions this week</h2>\n");
    advisory_rows(&mut o, &r.headline.decisions);
    if !r.data.notes.is_empty() {
        o.push_str("<h2>Data gaps</h2>\n<ul>\n");
        for n in &r.data.notes {
            let _ = writeln!(o, "<li class=\"note\">{}</li>", escape(n));
        }
        o.push_str("</ul>\n");
    }
    let _ = writeln!(
        o,
        "<p class=\"muted\">{} of {} scheduled cycles ran ({} partial).</p>",
        r.data.cycles, r.data.cycles_expected, r.data.partial_cycles
    );
    o.push_str("<h2>Services</h2>\n<div class=\"scroll\"><table><tr><th>Service</th><th>Tier</th><th>Headroom to next</th><th>Signal</th><th>p50</th><th>p95</th><th>max</th><th>Thresholds</th><th>Growth (30 d)</th><th>Next crossing</th></tr>\n");
    for s in &r.services {
        let tier = s.tier.as_ref();
        let rows = s.utilization.len().max(1);
        let first = |o: &mut String| {
            let _ = write!(
                o,
                "<td rowspan=\"{rows}\">{}<br><span class=\"muted\">{}</span></td><td rowspan=\"{rows}\">{}</td><td rowspan=\"{rows}\" class=\"num\">{}</td>",
                escape(&s.resource),
                escape(&s.scope),
                tier.map(|t| escape(&t.current)).unwrap_or_else(|| "—".into()),
                tier.map(|t| format!(
                    "{} users ({} %){}",
                    thousands(t.headroom_users),
                    t.headroom_percent,
                    t.next_tier.as_ref().map(|n| format!(" → {}", escape(n))).unwrap_or_default()
                ))
                .unwrap_or_else(|| "—".into())
            );
        };
        let tail = |o: &mut String| {
            let _ = write!(
                o,
                "<td rowspan=\"{rows}\" class=\"num\">{}</td><td rowspan=\"{rows}\">{}</td>",
                opt(s.growth_mom_percent, " %"),
                s.next_crossing
                    .as_ref()
                    .map(|c| match c.at {
                        None => format!("{}: already past it", escape(&c.line)),
                        Some(_) => format!(
                            "{}: {} (80 %: {} – {})",
                            escape(&c.line),
                            when(c.at),
                            when(c.earliest),
                            if c.latest.is_some() {
                                when(c.latest)
                            } else {
                                "beyond the horizon".into()
                            }
                        ),
                    })
                    .unwrap_or_else(|| "—".into())
            );
        };
        if s.utilization.is_empty() {
            o.push_str("<tr>");
            first(&mut o);
            o.push_str("<td colspan=\"5\" class=\"muted\">no utilization data</td>");
            tail(&mut o);
            o.push_str("</tr>\n");
        }
        for (i, u) in s.utilization.iter().enumerate() {
            o.push_str("<tr>");
            if i == 0 {
                first(&mut o);
            }
            let _ = write!(
                o,
                "<td>{} <span class=\"muted\">({} % of periods)</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>",
                escape(&u.signal),
                u.coverage_percent,
                opt(u.p50, ""),
                opt(u.p95, ""),
                opt(u.max, ""),
                u.thresholds
                    .iter()
                    .map(|t| format!(
                        "{}: {} periods above",
                        escape(t.name.strip_prefix("alert rule ").unwrap_or(&t.name)),
                        t.periods_above
                    ))
                    .collect::<Vec<_>>()
                    .join("<br>")
            );
            if i == 0 {
                tail(&mut o);
            }
            o.push_str("</tr>\n");
        }
    }
    o.push_str("</table></div>\n");
    if !charts.is_empty() {
        o.push_str("<h2>Charts</h2>\n");
        for c in charts {
            let body = match images {
                Images::Svg => responsive(&c.svg()),
                Images::Cid => format!(
                    "<img src=\"cid:{}\" width=\"{}\" alt=\"{}\">",
                    content_id(c, &r.week),
                    super::charts::WIDTH,
                    escape(&c.alt)
                ),
            };
            let _ = writeln!(
                o,
                "<figure class=\"chart\" id=\"{}\">{body}<figcaption>{}</figcaption></figure>",
                escape(&c.id),
                escape(&c.alt)
            );
        }
    }
    o.push_str("<h2>Alerts</h2>\n");
    if r.alerts.is_empty() {
        o.push_str("<p class=\"muted\">No alert fired this week.</p>\n");
    } else {
        o.push_str(
            "<div class=\"scroll\"><table><tr><th>Severity</th><th>Alert</th><th>Fired</th><th>Resolved</th><th>Duration</th></tr>\n",
        );
        for a in &r.alerts {
            let _ = writeln!(
                o,
                "<tr><td class=\"sev-{sev}\">{sev}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                escape(&a.summary),
                when(Some(a.fired_at)),
                if a.resolved_at.is_some() {
                    when(a.resolved_at)
                } else {
                    "still firing".into()
                },
                duration(a.duration_s),
                sev = escape(&a.severity)
            );
        }
        o.push_str("</table></div>\n");
    }
    o.push_str("<h2>Advisories</h2>\n");
    for (title, items) in [
        ("Opened", &r.advisories.opened),
        ("Applied", &r.advisories.applied),
        ("Resolved", &r.advisories.resolved),
    ] {
        let _ = writeln!(o, "<h3>{title} this week ({})</h3>", items.len());
        advisory_rows(&mut o, items);
    }
    let _ = writeln!(
        o,
        "<h3>Still open ({}, {} in all)</h3>",
        r.advisories.still_open.len(),
        money(Some(r.advisories.still_open_monthly_usd))
    );
    advisory_rows(&mut o, &r.advisories.still_open);
    o.push_str("<h2>Spend</h2>\n");
    for s in &r.spend {
        let services: std::collections::BTreeSet<&String> = s.weeks.iter().flat_map(|w| w.by_service.keys()).collect();
        let _ = write!(
            o,
            "<p>Account {}: week over week {}; {} month to date ${}, projected ${} at month end.</p>\n<div class=\"scroll\"><table><tr><th>Service</th>",
            escape(&s.account),
            s.week_over_week_percent.map(|p| format!("{p:+} %")).unwrap_or_else(|| "—".into()),
            escape(&s.month),
            thousands(s.month_to_date_usd),
            thousands(s.month_end_projection_usd)
        );
        for w in &s.weeks {
            let _ = write!(o, "<th>{}</th>", escape(&w.week));
        }
        o.push_str("</tr>\n");
        for svc in services {
            let _ = write!(o, "<tr><td>{}</td>", escape(svc));
            for w in &s.weeks {
                let _ = write!(o, "<td class=\"num\">${:.2}</td>", w.by_service.get(svc).copied().unwrap_or(0.0));
            }
            o.push_str("</tr>\n");
        }
        o.push_str("<tr><th>Total</th>");
        for w in &s.weeks {
            let _ = write!(o, "<th class=\"num\">${:.2}</th>", w.total_usd);
        }
        o.push_str("</tr></table></div>\n");
    }
    o.push_str("<h2>Commitments</h2>\n");
    if r.commitments.is_empty() {
        o.push_str("<p class=\"muted\">No purchase recommended.</p>\n");
    }
    for c in &r.commitments {
        let _ = writeln!(o, "<p><b>{}</b> ({})</p><ul>", escape(&c.summary), money(c.monthly_cost_delta_usd));
        for e in &c.evidence {
            let _ = writeln!(o, "<li>{}: {}</li>", escape(&e.name), escape(&e.value));
        }
        o.push_str("</ul>\n");
    }
    o.push_str(
        "<p class=\"muted\">Every figure comes from headroom's store; `headroom report --json` gives them as data.</p>\n</body></html>\n",
    );
    o
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn md_advisories(o: &mut String, items: &[AdvisoryLine]) {
    if items.is_empty() {
        o.push_str("None.\n\n");
        return;
    }
    o.push_str("| Severity | Kind | Resource | Summary | Monthly |\n|---|---|---|---|---:|\n");
    for a in items {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {}{} | {} |",
            a.severity,
            a.kind,
            md_cell(&a.resource),
            md_cell(&a.summary),
            if a.times > 1 { format!(" (×{})", a.times) } else { String::new() },
            money(a.monthly_cost_delta_usd)
        );
    }
    o.push('\n');
}

/// The review in Markdown; `images` maps a chart to the path its PNG was written to.
pub fn markdown(r: &Review, charts: &[(Chart, Option<String>)]) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "# Capacity review {}\n\n{} to {} ({}) · {}\n\n**{}**\n\n## Decisions this week\n\n",
        r.week,
        r.from,
        r.to,
        r.timezone,
        r.scopes.join(", "),
        r.headline.text
    );
    md_advisories(&mut o, &r.headline.decisions);
    let _ = writeln!(
        o,
        "{} of {} scheduled cycles ran ({} partial).\n",
        r.data.cycles, r.data.cycles_expected, r.data.partial_cycles
    );
    if !r.data.notes.is_empty() {
        o.push_str("## Data gaps\n\n");
        for n in &r.data.notes {
            let _ = writeln!(o, "- {n}");
        }
        o.push('\n');
    }
    o.push_str("## Services\n\n| Service | Tier | Headroom to next | Signal | p50 | p95 | max | Growth (30 d) | Next crossing |\n|---|---|---:|---|---:|---:|---:|---:|---|\n");
    for s in &r.services {
        let tier = s.tier.as_ref();
        let head = tier
            .map(|t| format!("{} users ({} %)", thousands(t.headroom_users), t.headroom_percent))
            .unwrap_or_else(|| "—".into());
        let cross = s
            .next_crossing
            .as_ref()
            .map(|c| {
                format!(
                    "{}: {}",
                    md_cell(&c.line),
                    if c.at.is_none() { "already".into() } else { when(c.at) }
                )
            })
            .unwrap_or_else(|| "—".into());
        let sigs: Vec<_> = if s.utilization.is_empty() {
            vec![None]
        } else {
            s.utilization.iter().map(Some).collect()
        };
        for (i, u) in sigs.into_iter().enumerate() {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if i == 0 { md_cell(&s.resource) } else { String::new() },
                if i == 0 {
                    tier.map(|t| t.current.clone()).unwrap_or_else(|| "—".into())
                } else {
                    String::new()
                },
                if i == 0 { head.clone() } else { String::new() },
                u.map(|u| u.signal.clone()).unwrap_or_else(|| "no data".into()),
                opt(u.and_then(|u| u.p50), ""),
                opt(u.and_then(|u| u.p95), ""),
                opt(u.and_then(|u| u.max), ""),
                if i == 0 { opt(s.growth_mom_percent, " %") } else { String::new() },
                if i == 0 { cross.clone() } else { String::new() },
            );
        }
    }
    o.push('\n');
    if !charts.is_empty() {
        o.push_str("## Charts\n\n");
        for (c, path) in charts {
            match path {
                Some(p) => {
                    let _ = writeln!(o, "![{}]({p})\n", c.alt);
                }
                None => {
                    let _ = writeln!(o, "- {}: {}", c.title, c.alt);
                }
            }
        }
        o.push('\n');
    }
    o.push_str("## Alerts\n\n");
    if r.alerts.is_empty() {
        o.push_str("No alert fired this week.\n\n");
    } else {
        o.push_str("| Severity | Alert | Fired | Resolved | Duration |\n|---|---|---|---|---:|\n");
        for a in &r.alerts {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                a.severity,
                md_cell(&a.summary),
                when(Some(a.fired_at)),
                if a.resolved_at.is_some() {
                    when(a.resolved_at)
                } else {
                    "still firing".into()
                },
                duration(a.duration_s)
            );
        }
        o.push('\n');
    }
    o.push_str("## Advisories\n\n");
    for (title, items) in [
        ("Opened", &r.advisories.opened),
        ("Applied", &r.advisories.applied),
        ("Resolved", &r.advisories.resolved),
    ] {
        let _ = writeln!(o, "### {title} this week ({})\n", items.len());
        md_advisories(&mut o, items);
    }
    let _ = writeln!(
        o,
        "### Still open ({}, {} in all)\n",
        r.advisories.still_open.len(),
        money(Some(r.advisories.still_open_monthly_usd))
    );
    md_advisories(&mut o, &r.advisories.still_open);
    o.push_str("## Spend\n\n");
    for s in &r.spend {
        let _ = writeln!(
            o,
            "Account {}: week over week {}; {} month to date ${}, projected ${} at month end.\n",
            s.account,
            s.week_over_week_percent.map(|p| format!("{p:+} %")).unwrap_or_else(|| "—".into()),
            s.month,
            thousands(s.month_to_date_usd),
            thousands(s.month_end_projection_usd)
        );
        let services: std::collections::BTreeSet<&String> = s.weeks.iter().flat_map(|w| w.by_service.keys()).collect();
        o.push_str("| Service |");
        for w in &s.weeks {
            let _ = write!(o, " {} |", w.week);
        }
        o.push_str("\n|---|");
        o.push_str(&"---:|".repeat(s.weeks.len()));
        o.push('\n');
        for svc in services {
            let _ = write!(o, "| {} |", md_cell(svc));
            for w in &s.weeks {
                let _ = write!(o, " ${:.2} |", w.by_service.get(svc).copied().unwrap_or(0.0));
            }
            o.push('\n');
        }
        o.push_str("| **Total** |");
        for w in &s.weeks {
            let _ = write!(o, " **${:.2}** |", w.total_usd);
        }
        o.push_str("\n\n");
    }
    o.push_str("## Commitments\n\n");
    if r.commitments.is_empty() {
        o.push_str("No purchase recommended.\n");
    }
    for c in &r.commitments {
        let _ = writeln!(o, "**{}** ({})\n", c.summary, money(c.monthly_cost_delta_usd));
        for e in &c.evidence {
            let _ = writeln!(o, "- {}: {}", e.name, e.value);
        }
        o.push('\n');
    }
    o
}

/// Slack's short summary: the headline, then a link-free text table of the figures.
pub fn slack_text(r: &Review) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "*Capacity review {}* ({} to {})",
        r.week,
        r.from.get(..10).unwrap_or(""),
        r.to.get(..10).unwrap_or("")
    );
    let _ = writeln!(o, "{}", r.headline.text);
    let mut t = String::new();
    let _ = writeln!(t, "{:<28} {:>8} {:>16} {:>8}", "service", "tier", "headroom", "p95 cpu");
    for s in r.services.iter().take(15) {
        let _ = writeln!(
            t,
            "{:<28} {:>8} {:>16} {:>8}",
            s.resource.chars().take(28).collect::<String>(),
            s.tier.as_ref().map(|x| x.current.as_str()).unwrap_or("-"),
            s.tier
                .as_ref()
                .map(|x| format!("{} %", x.headroom_percent))
                .unwrap_or_else(|| "-".into()),
            s.utilization
                .first()
                .and_then(|u| u.p95)
                .map(|v| format!("{v}"))
                .unwrap_or_else(|| "-".into())
        );
    }
    for s in &r.spend {
        let _ = writeln!(
            t,
            "spend {}: last week ${}, {} w/w, month-end ${}",
            s.account,
            s.weeks.last().map(|w| thousands(w.total_usd)).unwrap_or_default(),
            s.week_over_week_percent.map(|p| format!("{p:+} %")).unwrap_or_else(|| "n/a".into()),
            thousands(s.month_end_projection_usd)
        );
    }
    let _ = writeln!(
        t,
        "alerts fired {}; advisories opened {}, resolved {}, open {}",
        r.alerts.len(),
        r.advisories.opened.len(),
        r.advisories.resolved.len(),
        r.advisories.still_open.len()
    );
    let _ = write!(o, "```\n{t}```");
    for d in r.headline.decisions.iter().take(5) {
        let _ = write!(o, "\n• {} ({})", d.summary, money(d.monthly_cost_delta_usd));
    }
    o
}
