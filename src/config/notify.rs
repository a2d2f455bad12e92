//! `[notify]`: receivers (email, Slack, or a folder of files for dry runs), the routes that
//! pick them by kind, severity, scope, resource and tags, and the Alertmanager-style timings
//! (group_wait 30 s, group_interval 5 min, repeat_interval 4 h by default, per route).
//!
//! `[notify.email]` and `[notify.slack]` are shorthands for one receiver each, named `email`
//! and `slack`; `[notify.receivers.NAME]` names more. Without `[[notify.routes]]` every
//! receiver gets every advisory at or above `min_severity`.
//!
//! May use: domain, config::read. Secrets stay references (see `SecretRef`).

use super::read::{Tbl, parse_duration};
use super::{SecretRef, check_secret_present, read_secret};
use crate::domain::{Kind, Severity};
use std::path::PathBuf;

/// How an SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required: refused if the server lacks it).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
    /// No TLS: only for a relay on the same host or a test server.
    None,
}

#[derive(Clone, Debug)]
pub struct SmtpCfg {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    /// A PEM file of extra CA certificates to trust (a private CA, or a test's self-signed one).
    pub ca_file: Option<PathBuf>,
    pub timeout_s: u64,
}

/// Where an email receiver's messages go.
#[derive(Clone, Debug)]
pub enum EmailTransport {
    Smtp(SmtpCfg),
    /// Each message as an `.eml` file in this folder (demo and dry runs).
    Dir(PathBuf),
}

#[derive(Clone, Debug)]
pub struct EmailCfg {
    pub transport: EmailTransport,
    pub from: String,
    pub to: Vec<String>,
}

/// Where a Slack receiver's payloads go.
#[derive(Clone, Debug)]
pub enum SlackTarget {
    /// An incoming webhook; the URL is a secret.
    Webhook(SecretRef),
    /// Each payload as a `.json` file in this folder (demo and dry runs).
    Dir(PathBuf),
}

#[derive(Clone, Debug)]
pub struct SlackCfg {
    pub target: SlackTarget,
    pub channel: Option<String>,
    pub timeout_s: u64,
}

#[derive(Clone, Debug)]
pub enum ReceiverKind {
    Email(EmailCfg),
    Slack(SlackCfg),
}

#[derive(Clone, Debug)]
pub struct ReceiverCfg {
    pub name: String,
    pub kind: ReceiverKind,
}

impl ReceiverCfg {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ReceiverKind::Email(_) => "email",
            ReceiverKind::Slack(_) => "slack",
        }
    }
}

/// What advisories are grouped by into one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Scope,
    Service,
    Kind,
    Severity,
    Resource,
}

impl GroupBy {
    pub const ALL: [GroupBy; 5] = [
        GroupBy::Scope,
        GroupBy::Service,
        GroupBy::Kind,
        GroupBy::Severity,
        GroupBy::Resource,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Scope => "scope",
            GroupBy::Service => "service",
            GroupBy::Kind => "kind",
            GroupBy::Severity => "severity",
            GroupBy::Resource => "resource",
        }
    }
}

/// One route: which advisories (all matchers must hold; an empty list matches anything) go to
/// which receivers, grouped how and repeated when.
#[derive(Clone, Debug)]
pub struct RouteCfg {
    pub receivers: Vec<String>,
    pub kinds: Vec<Kind>,
    pub min_severity: Severity,
    /// `account/region` patterns (`*` matches any run of characters).
    pub scopes: Vec<String>,
    /// Resource patterns, e.g. `asg/web-*`.
    pub resources: Vec<String>,
    /// Tags the resource must carry, with these values.
    pub tags: Vec<(String, String)>,
    pub group_by: Vec<GroupBy>,
    pub group_wait_s: u64,
    pub group_interval_s: u64,
    pub repeat_interval_s: u64,
    /// Resolved notices: `None` means for alerts only.
    pub send_resolved: Option<bool>,
    /// Go on to the next route after this one matched (Alertmanager's `continue`).
    pub continue_matching: bool,
}

#[derive(Clone, Debug)]
pub struct NotifyCfg {
    pub receivers: Vec<ReceiverCfg>,
    /// In order; the first match wins unless it says `continue`. Never empty when there are
    /// receivers (without `[[notify.routes]]`, one route to every receiver).
    pub routes: Vec<RouteCfg>,
    pub group_wait_s: u64,
    pub group_interval_s: u64,
    pub repeat_interval_s: u64,
    pub min_severity: Severity,
    /// The resource tag whose value names a resource's service (else the resource's name).
    pub service_tag: String,
}

impl RouteCfg {
    /// A route of everything at `min` or worse to `receivers`, grouped by scope and service,
    /// with `[notify]`'s timings (the default route, the demo's, the tests').
    pub fn to(receivers: &[&str], min: Severity, defaults: &NotifyCfg) -> RouteCfg {
        RouteCfg {
            receivers: receivers.iter().map(|s| s.to_string()).collect(),
            kinds: vec![],
            min_severity: min,
            scopes: vec![],
            resources: vec![],
            tags: vec![],
            group_by: vec![GroupBy::Scope, GroupBy::Service],
            group_wait_s: defaults.group_wait_s,
            group_interval_s: defaults.group_interval_s,
            repeat_interval_s: defaults.repeat_interval_s,
            send_resolved: None,
            continue_matching: false,
        }
    }
}

impl NotifyCfg {
    pub fn receiver(&self, name: &str) -> Option<&ReceiverCfg> {
        self.receivers.iter().find(|r| r.name == name)
    }
    /// The shortest repeat interval of any route: how often the cycle re-queues an unchanged
    /// advisory (each route's own interval then decides whether it is sent).
    pub fn shortest_repeat_s(&self) -> u64 {
        self.routes
            .iter()
            .map(|r| r.repeat_interval_s)
            .min()
            .unwrap_or(self.repeat_interval_s)
    }
    pub fn enabled(&self) -> bool {
        !self.receivers.is_empty()
    }
}

impl Default for NotifyCfg {
    fn default() -> Self {
        NotifyCfg {
            receivers: vec![],
            routes: vec![],
            group_wait_s: 30,
            group_interval_s: 300,
            repeat_interval_s: 4 * 3600,
            min_severity: Severity::Warning,
            service_tag: "service".into(),
        }
    }
}

fn duration(t: &Tbl, key: &str, example: &str, min: u64) -> Option<u64> {
    let g = t.str(key)?;
    match parse_duration(&g) {
        Some(v) if v < min => {
            t.problem(
                key,
                format!("`{g}` is too short"),
                format!("give at least {min} s, e.g. \"{example}\""),
            );
            None
        }
        Some(v) => Some(v),
        None => {
            t.problem(key, format!("bad duration `{g}`"), format!("e.g. \"{example}\""));
            None
        }
    }
}

fn timeout(t: &Tbl) -> u64 {
    t.int("timeout_s", 1, 600).unwrap_or(20) as u64
}

fn read_email(e: &Tbl) -> Option<EmailCfg> {
    let dir = e.str("dir").map(PathBuf::from);
    let host = e.str("smtp_host");
    let port = e.int("smtp_port", 1, 65535).map(|p| p as u16);
    let tls = match e.str("tls").as_deref() {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("implicit") => SmtpTls::Implicit,
        Some("none") => SmtpTls::None,
        Some(other) => {
            e.problem(
                "tls",
                format!("unknown TLS mode `{other}`"),
                "one of \"starttls\" (port 587), \"implicit\" (port 465), \"none\" (a local relay only)",
            );
            SmtpTls::StartTls
        }
    };
    let username = e.str("username");
    let password = read_secret(e, "password");
    let ca_file = e.str("ca_file").map(PathBuf::from);
    let timeout_s = timeout(e);
    let from = e.str("from");
    let to = e.str_list("to").unwrap_or_default();
    if let Some(p) = &password {
        check_secret_present(e, "password", p);
    }
    if password.is_some() && username.is_none() {
        e.missing("username", "\"headroom\"");
    }
    if let Some(ca) = &ca_file
        && let Err(err) = crate::files::read_bytes(ca, crate::files::Kind::Certificate)
    {
        e.problem("ca_file", format!("{}: {err}", ca.display()), "a PEM file of CA certificates");
    }
    if from.is_none() {
        e.missing("from", "\"headroom@example.com\"");
    }
    if to.is_empty() {
        e.problem("to", "no recipients", "e.g. to = [\"sre@example.com\"]");
    }
    for (i, a) in to.iter().chain(from.iter()).enumerate() {
        if a.parse::<lettre::Address>().is_err() && a.parse::<lettre::message::Mailbox>().is_err() {
            let key = if i < to.len() { format!("to[{i}]") } else { "from".into() };
            e.problem(
                &key,
                format!("`{a}` is not an email address"),
                "e.g. sre@example.com or \"SRE <sre@example.com>\"",
            );
        }
    }
    let transport = match (dir, host) {
        (Some(_), Some(_)) => {
            e.problem(
                "dir",
                "both dir and smtp_host are set",
                "keep smtp_host to send, or dir to write .eml files",
            );
            return None;
        }
        (Some(d), None) => EmailTransport::Dir(d),
        (None, Some(host)) => EmailTransport::Smtp(SmtpCfg {
            host,
            port: port.unwrap_or(match tls {
                SmtpTls::Implicit => 465,
                SmtpTls::StartTls => 587,
                SmtpTls::None => 25,
            }),
            tls,
            username,
            password,
            ca_file,
            timeout_s,
        }),
        (None, None) => {
            e.missing("smtp_host", "\"smtp.example.com\" (or dir = \"out/notifications\" to write files)");
            return None;
        }
    };
    Some(EmailCfg {
        transport,
        from: from?,
        to,
    })
}

fn read_slack(s: &Tbl) -> Option<SlackCfg> {
    let dir = s.str("dir").map(PathBuf::from);
    let webhook = read_secret(s, "webhook_url");
    let channel = s.str("channel");
    let timeout_s = timeout(s);
    let target = match (dir, webhook) {
        (Some(_), Some(_)) => {
            s.problem(
                "dir",
                "both dir and a webhook are set",
                "keep the webhook to send, or dir to write .json files",
            );
            return None;
        }
        (Some(d), None) => SlackTarget::Dir(d),
        (None, Some(w)) => {
            check_secret_present(s, "webhook_url", &w);
            SlackTarget::Webhook(w)
        }
        (None, None) => {
            if !s.has("webhook_url") {
                s.missing("webhook_url_env", "\"HEADROOM_SLACK_WEBHOOK\"");
            }
            return None;
        }
    };
    Some(SlackCfg {
        target,
        channel,
        timeout_s,
    })
}

fn read_receiver(t: &Tbl, name: &str, kind: Option<&str>) -> Option<ReceiverCfg> {
    let enabled = t.bool("enabled").unwrap_or(true);
    let kind = match kind {
        Some(k) => k.to_string(),
        None => match t.str("type") {
            Some(k) => k,
            None => {
                t.missing("type", "\"email\" or \"slack\"");
                t.done();
                return None;
            }
        },
    };
    if !enabled {
        // A disabled receiver is not checked beyond its keys: it may be half filled in. An
        // inline secret is refused even so: it sits in a file that is read and shared.
        for base in ["password", "webhook_url"] {
            if t.has(base) {
                read_secret(t, base);
            }
        }
        for k in t.t.keys() {
            t.touch(k);
        }
        t.done();
        return None;
    }
    let out = match kind.as_str() {
        "email" => read_email(t).map(ReceiverKind::Email),
        "slack" => read_slack(t).map(ReceiverKind::Slack),
        other => {
            t.problem("type", format!("unknown receiver type `{other}`"), "\"email\" or \"slack\"");
            None
        }
    };
    t.done();
    out.map(|kind| ReceiverCfg {
        name: name.to_string(),
        kind,
    })
}

fn read_route(r: &Tbl, d: &NotifyCfg, names: &[String]) -> Option<RouteCfg> {
    let receivers = r.str_list("receivers").unwrap_or_default();
    if receivers.is_empty() {
        r.problem("receivers", "no receivers", format!("name some of: {}", names.join(", ")));
    }
    let mut ok = true;
    for (i, n) in receivers.iter().enumerate() {
        if !names.contains(n) {
            ok = false;
            r.problem(
                &format!("receivers[{i}]"),
                format!("no enabled receiver named `{n}`"),
                format!(
                    "enabled receivers: {}",
                    if names.is_empty() { "none".into() } else { names.join(", ") }
                ),
            );
        }
    }
    let mut kinds = vec![];
    for (i, k) in r.str_list("kinds").unwrap_or_default().iter().enumerate() {
        match Kind::parse(k) {
            Some(k) => kinds.push(k),
            None => {
                ok = false;
                let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                r.problem(&format!("kinds[{i}]"), format!("unknown kind `{k}`"), all.join(", "));
            }
        }
    }
    let min_severity = match r.str("min_severity") {
        Some(s) => match s.parse() {
            Ok(v) => v,
            Err(e) => {
                r.problem("min_severity", e, "");
                d.min_severity
            }
        },
        None => d.min_severity,
    };
    let mut group_by = vec![];
    match r.str_list("group_by") {
        None => group_by = vec![GroupBy::Scope, GroupBy::Service],
        Some(list) => {
            for (i, g) in list.iter().enumerate() {
                match GroupBy::ALL.into_iter().find(|x| x.as_str() == g) {
                    Some(x) => group_by.push(x),
                    None => {
                        ok = false;
                        let all: Vec<&str> = GroupBy::ALL.iter().map(|g| g.as_str()).collect();
                        r.problem(&format!("group_by[{i}]"), format!("unknown label `{g}`"), all.join(", "));
                    }
                }
            }
        }
    }
    let mut tags = vec![];
    if let Some(t) = r.sub("tags") {
        for (k, v) in t.t.iter() {
            match v.as_str() {
                Some(v) => {
                    t.touch(k);
                    tags.push((k.clone(), v.to_string()));
                }
                None => {
                    ok = false;
                    t.problem(k, "expected a string", "tags = { team = \"web\" }");
                }
            }
        }
        t.done();
    }
    let route = RouteCfg {
        receivers,
        kinds,
        min_severity,
        scopes: r.str_list("scopes").unwrap_or_default(),
        resources: r.str_list("resources").unwrap_or_default(),
        tags,
        group_by,
        group_wait_s: duration(r, "group_wait", "30s", 0).unwrap_or(d.group_wait_s),
        group_interval_s: duration(r, "group_interval", "5m", 1).unwrap_or(d.group_interval_s),
        repeat_interval_s: duration(r, "repeat_interval", "4h", 60).unwrap_or(d.repeat_interval_s),
        send_resolved: r.bool("send_resolved"),
        continue_matching: r.bool("continue").unwrap_or(false),
    };
    r.done();
    ok.then_some(route)
}

/// Reads `[notify]` (absent: no receivers, nothing is sent).
pub(super) fn read_notify(n: Option<Tbl>) -> NotifyCfg {
    let mut out = NotifyCfg::default();
    let Some(n) = n else { return out };
    if let Some(v) = duration(&n, "group_wait", "30s", 0) {
        out.group_wait_s = v;
    }
    if let Some(v) = duration(&n, "group_interval", "5m", 1) {
        out.group_interval_s = v;
    }
    if let Some(g) = n.str("repeat_interval") {
        match parse_duration(&g) {
            Some(v) if v < 60 => n.problem(
                "repeat_interval",
                format!("`{g}` would repeat every advisory every cycle"),
                "give at least a minute, e.g. \"4h\" (Alertmanager's default)",
            ),
            Some(v) => out.repeat_interval_s = v,
            None => n.problem("repeat_interval", format!("bad duration `{g}`"), "e.g. \"4h\""),
        }
    }
    if let Some(sv) = n.str("min_severity") {
        match sv.parse() {
            Ok(v) => out.min_severity = v,
            Err(e) => n.problem("min_severity", e, ""),
        }
    }
    if let Some(s) = n.str("service_tag") {
        out.service_tag = s;
    }
    let mut receivers = vec![];
    if let Some(e) = n.sub("email") {
        receivers.extend(read_receiver(&e, "email", Some("email")));
    }
    if let Some(s) = n.sub("slack") {
        receivers.extend(read_receiver(&s, "slack", Some("slack")));
    }
    for (name, t) in n.named("receivers") {
        if name == "email" || name == "slack" || receivers.iter().any(|r: &ReceiverCfg| r.name == name) {
            t.problem(
                "",
                format!("a receiver named `{name}` is already defined"),
                "give each receiver its own name",
            );
            continue;
        }
        receivers.extend(read_receiver(&t, &name, None));
    }
    let names: Vec<String> = receivers.iter().map(|r| r.name.clone()).collect();
    let routes: Vec<RouteCfg> = n.tables("routes").iter().filter_map(|r| read_route(r, &out, &names)).collect();
    n.done();
    out.routes = if routes.is_empty() && !receivers.is_empty() {
        vec![RouteCfg {
            receivers: names,
            kinds: vec![],
            min_severity: out.min_severity,
            scopes: vec![],
            resources: vec![],
            tags: vec![],
            group_by: vec![GroupBy::Scope, GroupBy::Service],
            group_wait_s: out.group_wait_s,
            group_interval_s: out.group_interval_s,
            repeat_interval_s: out.repeat_interval_s,
            send_resolved: None,
            continue_matching: false,
        }]
    } else {
        routes
    };
    out.receivers = receivers;
    out
}
