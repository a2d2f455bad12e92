//! A notification as people read it: the subject (severity, service, counts), the plain-text
//! and HTML bodies (minijinja templates from `alerts/templates/`, with every figure of each
//! advisory's evidence), and the Slack Block Kit payload.
//!
//! May use: domain, store's plain types, minijinja, serde_json. Pure.

use super::route;
use crate::domain::*;
use crate::store::Notification;
use serde_json::{Value, json};

pub const TEXT: &str = include_str!("../../alerts/templates/email.txt.j2");
pub const HTML: &str = include_str!("../../alerts/templates/email.html.j2");

fn colour(n: &Notice) -> &'static str {
    match (n.event, n.advisory.severity) {
        (NoticeEvent::Resolved, _) => "#2eb67d",
        (NoticeEvent::Applied, _) => "#1d9bd1",
        (_, Severity::Critical) => "#e01e5a",
        (_, Severity::Warning) => "#ecb22e",
        (_, Severity::Info) => "#36c5f0",
    }
}

fn usd(m: Money) -> String {
    let d = m.0 as f64 / 1e6;
    format!("{}${:.2}/month", if d < 0.0 { "-" } else { "+" }, d.abs())
}

/// The label of a group key (`scope=a/b,service=web` → `web`), if it has it.
fn key_label<'a>(group_key: &'a str, name: &str) -> Option<&'a str> {
    group_key.split(',').find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
}

/// "2 firing (1 critical, 1 warning), 1 resolved"
pub fn counts(items: &[Notice]) -> String {
    let firing: Vec<&Notice> = items.iter().filter(|n| n.event.firing()).collect();
    let applied = items.iter().filter(|n| n.event == NoticeEvent::Applied).count();
    let resolved = items.len() - firing.len() - applied;
    let mut parts = vec![];
    if !firing.is_empty() {
        let by = |s: Severity| firing.iter().filter(|n| n.advisory.severity == s).count();
        let sev: Vec<String> = [Severity::Critical, Severity::Warning, Severity::Info]
            .into_iter()
            .filter(|s| by(*s) > 0)
            .map(|s| format!("{} {s}", by(s)))
            .collect();
        parts.push(format!("{} open ({})", firing.len(), sev.join(", ")));
    }
    if applied > 0 {
        parts.push(format!("{applied} applied by headroom"));
    }
    if resolved > 0 {
        parts.push(format!("{resolved} resolved"));
    }
    parts.join(", ")
}

/// The subject: `[headroom] CRITICAL web: 2 open (1 critical, 1 warning), 1 resolved (111/us-east-1)`.
pub fn subject(n: &Notification) -> String {
    let top = n
        .items
        .iter()
        .filter(|i| i.event.firing())
        .map(|i| i.advisory.severity)
        .max()
        .map(|s| s.to_string().to_uppercase())
        .unwrap_or_else(|| {
            if n.items.iter().any(|i| i.event == NoticeEvent::Applied) {
                // The worst outcome of the changes announced: a diverged or failed change is
                // not news of success.
                let worst = n
                    .items
                    .iter()
                    .filter_map(|i| i.change.as_ref())
                    .map(|c| c.outcome.as_str())
                    .find(|o| *o != "applied" && *o != "in-progress");
                match worst {
                    Some(o) => format!("CHANGE {}", o.to_uppercase()),
                    None => "APPLIED".into(),
                }
            } else {
                "RESOLVED".into()
            }
        });
    let services: std::collections::BTreeSet<String> = n.items.iter().map(|i| route::service(i, "service")).collect();
    let service = match key_label(&n.group_key, "service") {
        Some(s) => s.to_string(),
        None if services.len() == 1 => services.into_iter().next().unwrap_or_default(),
        None => format!("{} services", services.len()),
    };
    let scope = n.items.first().map(|i| i.scope.as_str()).unwrap_or("");
    format!("[headroom] {top} {service}: {} ({scope})", counts(&n.items))
}

fn context(n: &Notification) -> Value {
    let items: Vec<Value> = n
        .items
        .iter()
        .map(|i| {
            json!({
                "event": i.event.as_str(),
                "severity": i.advisory.severity.to_string(),
                "previous_severity": i.previous_severity.map(|s| s.to_string()),
                "kind": i.advisory.kind.as_str(),
                "resource": i.advisory.resource.0,
                "summary": i.advisory.summary,
                "evidence": i.advisory.evidence,
                "cost": i.advisory.monthly_cost_delta.map(usd),
                "fingerprint": i.advisory.fingerprint,
                "first_seen": fmt_ts(i.first_seen),
                "colour": colour(i),
            })
        })
        .collect();
    let subject = subject(n);
    json!({
        "subject": subject,
        "headline": subject.trim_start_matches("[headroom] "),
        "counts_line": counts(&n.items),
        "scope": n.items.first().map(|i| i.scope.clone()).unwrap_or_default(),
        "receiver": n.receiver,
        "group_key": n.group_key,
        "items": items,
    })
}

/// The plain-text and HTML bodies.
pub fn email_bodies(n: &Notification) -> Result<(String, String), String> {
    let mut env = minijinja::Environment::new();
    env.add_template("email.txt", TEXT)
        .map_err(|e| format!("template email.txt.j2: {e}"))?;
    env.add_template("email.html", HTML)
        .map_err(|e| format!("template email.html.j2: {e}"))?;
    let ctx = context(n);
    let render = |name: &str| {
        env.get_template(name)
            .and_then(|t| t.render(&ctx))
            .map_err(|e| format!("template {name}.j2: {e}"))
    };
    Ok((render("email.txt")?, render("email.html")?))
}

/// The Slack incoming-webhook payload: a header, per advisory a section with its summary and
/// its figures as fields (Slack shows at most 10 fields), in an attachment coloured by
/// severity, and a context line with the fingerprint and scope.
pub fn slack_payload(n: &Notification, channel: Option<&str>) -> Value {
    let subject = subject(n);
    let mut attachments = vec![];
    for i in &n.items {
        let mut fields: Vec<Value> = vec![];
        if let Some(p) = i.previous_severity {
            fields.push(json!({"type": "mrkdwn", "text": format!("*severity*\n{p} → {}", i.advisory.severity)}));
        }
        if let Some(c) = i.advisory.monthly_cost_delta {
            fields.push(json!({"type": "mrkdwn", "text": format!("*monthly cost delta*\n{}", usd(c))}));
        }
        for e in &i.advisory.evidence {
            if fields.len() == 10 {
                break;
            }
            fields.push(json!({"type": "mrkdwn", "text": format!("*{}*\n{}", e.name, e.value)}));
        }
        let mut blocks = vec![json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("*{}* · {} · `{}`\n{}", i.event.as_str().to_uppercase(), i.advisory.kind.as_str(), i.advisory.resource.0, i.advisory.summary)},
        })];
        if !fields.is_empty() {
            blocks.push(json!({"type": "section", "fields": fields}));
        }
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("fingerprint `{}` · scope `{}` · first seen {}", i.advisory.fingerprint, i.scope, fmt_ts(i.first_seen))}],
        }));
        attachments.push(json!({"color": colour(i), "blocks": blocks}));
    }
    let mut header = subject.trim_start_matches("[headroom] ").to_string();
    if header.chars().count() > 150 {
        header = header.chars().take(149).collect::<String>() + "…";
    }
    let mut v = json!({
        "text": subject,
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": header}}],
        "attachments": attachments,
    });
    if let Some(c) = channel {
        v["channel"] = json!(c);
    }
    v
}
