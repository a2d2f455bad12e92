//! Routing, pure: which receivers a notice goes to (routes in order, first match wins unless
//! `continue`), in which group, and whether it is suppressed — by a silence, as a duplicate of
//! what the receiver was last sent within its repeat interval, or as a resolution of something
//! the receiver was never told about.
//!
//! May use: domain, config, store's plain types. No I/O; `now` is passed in.

use crate::config::{NotifyCfg, RouteCfg};
use crate::domain::*;
use crate::store::{LogEntry, Routed, Silence};
use std::collections::HashMap;

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || value.len() < first.len() + last.len() || !value.ends_with(last) {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

/// The service a notice belongs to: the resource's service tag, else its name.
pub fn service(n: &Notice, service_tag: &str) -> String {
    if let Some((_, v)) = n.tags.iter().find(|(k, _)| k == service_tag) {
        return v.clone();
    }
    let r = &n.advisory.resource.0;
    r.split_once('/').map(|(_, name)| name).unwrap_or(r).to_string()
}

/// A label of a notice, as silences and group keys see it.
pub fn label(n: &Notice, name: &str, service_tag: &str) -> Option<String> {
    Some(match name {
        "kind" => n.advisory.kind.as_str().to_string(),
        "severity" => n.advisory.severity.to_string(),
        "scope" => n.scope.clone(),
        "resource" => n.advisory.resource.0.clone(),
        "service" => service(n, service_tag),
        "fingerprint" => n.advisory.fingerprint.clone(),
        other => {
            let tag = other.strip_prefix("tag:")?;
            n.tags.iter().find(|(k, _)| k == tag)?.1.clone()
        }
    })
}

/// The labels a silence may match on (besides `tag:NAME`).
pub const LABELS: &[&str] = &["kind", "severity", "scope", "resource", "service", "fingerprint"];

pub fn silenced<'a>(n: &Notice, silences: &'a [Silence], service_tag: &str, now: Ts) -> Option<&'a Silence> {
    silences.iter().find(|s| {
        s.ends_at > now
            && s.matchers
                .iter()
                .all(|(k, p)| label(n, k, service_tag).is_some_and(|v| glob(p, &v)))
    })
}

fn matches(r: &RouteCfg, n: &Notice) -> bool {
    (r.kinds.is_empty() || r.kinds.contains(&n.advisory.kind))
        // A change headroom made (or tried to) is announced whatever its advisory's severity:
        // an info-level right-sizing applied in auto mode is still a change to production.
        && (n.event == NoticeEvent::Applied || n.advisory.severity >= r.min_severity)
        && (r.scopes.is_empty() || r.scopes.iter().any(|p| glob(p, &n.scope)))
        && (r.resources.is_empty() || r.resources.iter().any(|p| glob(p, &n.advisory.resource.0)))
        && r.tags.iter().all(|(k, v)| n.tags.iter().any(|(tk, tv)| tk == k && tv == v))
}

pub fn group_key(r: &RouteCfg, n: &Notice, service_tag: &str) -> String {
    let parts: Vec<String> = r
        .group_by
        .iter()
        .map(|g| format!("{}={}", g.as_str(), label(n, g.as_str(), service_tag).unwrap_or_default()))
        .collect();
    if parts.is_empty() { "all".into() } else { parts.join(",") }
}

/// The (route, receiver) pairs a notice goes to: routes in order, the first match wins unless
/// it says `continue`; a receiver reached by two routes gets the notice once (the first).
pub fn targets<'a>(cfg: &'a NotifyCfg, n: &Notice) -> Vec<(&'a RouteCfg, &'a str)> {
    let mut out: Vec<(&RouteCfg, &str)> = vec![];
    for r in &cfg.routes {
        if !matches(r, n) {
            continue;
        }
        for rc in &r.receivers {
            if !out.iter().any(|(_, x)| *x == rc) {
                out.push((r, rc));
            }
        }
        if !r.continue_matching {
            break;
        }
    }
    out
}

/// Routes one notice: a delivery or a suppression per receiver (none when no route matches,
/// or a resolution the route does not announce).
pub fn route(cfg: &NotifyCfg, n: &Notice, silences: &[Silence], log: &HashMap<(String, String), LogEntry>, now: Ts) -> Vec<Routed> {
    let mut out = vec![];
    for (r, receiver) in targets(cfg, n) {
        let resolved = n.event == NoticeEvent::Resolved;
        if resolved && !r.send_resolved.unwrap_or(n.advisory.kind == Kind::Alert) {
            continue;
        }
        let group_key = group_key(r, n, &cfg.service_tag);
        let last = log.get(&(receiver.to_string(), n.advisory.fingerprint.clone()));
        let suppress = if let Some(s) = silenced(n, silences, &cfg.service_tag, now) {
            Some(format!(
                "silenced by #{} until {}{}",
                s.id,
                crate::domain::fmt_ts(s.ends_at),
                if s.comment.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", s.comment)
                }
            ))
        } else if resolved {
            // Whether the receiver saw it open is decided when the resolution is sent
            // (`Outbox::current`): an OPENED still waiting for a receiver that is down would
            // otherwise reach it after its RESOLVED was suppressed here, and show a cleared
            // alert as firing.
            None
        } else {
            match last {
                // An application is news each time (each is one audit row).
                Some(l)
                    if n.event != NoticeEvent::Applied
                        && l.event.firing()
                        && l.severity == n.advisory.severity
                        && now - l.sent_at < r.repeat_interval_s as i64 =>
                {
                    Some(format!(
                        "duplicate: the same was sent {} ago; repeats after {}",
                        human(now - l.sent_at),
                        human(r.repeat_interval_s as i64)
                    ))
                }
                _ => None,
            }
        };
        out.push(match suppress {
            Some(reason) => Routed::Suppress {
                receiver: receiver.to_string(),
                group_key,
                reason,
                notice: n.clone(),
            },
            None => Routed::Deliver {
                receiver: receiver.to_string(),
                group_key,
                group_wait_s: r.group_wait_s as i64,
                group_interval_s: r.group_interval_s as i64,
                notice: n.clone(),
            },
        });
    }
    out
}

/// A duration for people (`domain::fmt_duration`).
pub use crate::domain::fmt_duration as human;

/// Parses a silence matcher `label=pattern`.
pub fn parse_matcher(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("matcher `{s}` is not label=pattern (e.g. resource=asg/web-*, kind=alert, tag:team=payments)"))?;
    let k = k.trim();
    if !(LABELS.contains(&k) || k.strip_prefix("tag:").is_some_and(|t| !t.is_empty())) {
        return Err(format!("unknown label `{k}` in `{s}` (use {} or tag:NAME)", LABELS.join(", ")));
    }
    let v = v.trim();
    if v.is_empty() {
        return Err(format!("matcher `{s}` has an empty pattern (use * to match anything)"));
    }
    // A pattern that no value of its label can take would silence nothing, silently.
    let never = |known: &[&str]| {
        Err(format!(
            "matcher `{s}` can never match: {k} is one of {} (`*` matches any run of characters)",
            known.join(", ")
        ))
    };
    match k {
        "kind" => {
            let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            if !kinds.iter().any(|x| glob(v, x)) {
                return never(&kinds);
            }
        }
        "severity" => {
            let sev = ["info", "warning", "critical"];
            if !sev.iter().any(|x| glob(v, x)) {
                return never(&sev);
            }
        }
        "scope" if !v.contains('/') && !v.contains('*') => {
            return Err(format!(
                "matcher `{s}` can never match: a scope is ACCOUNT/REGION, e.g. scope=default/us-east-1 or scope=*/eu-west-1"
            ));
        }
        "resource" if !v.contains('/') && !v.contains('*') && v != "account" => {
            return Err(format!(
                "matcher `{s}` can never match: a resource is TYPE/NAME, e.g. resource=asg/web or resource=table/*"
            ));
        }
        "fingerprint" if !v.chars().all(|c| c.is_ascii_hexdigit() || c == '*') => {
            return Err(format!(
                "matcher `{s}` can never match: a fingerprint is hexadecimal, as `headroom advisories` shows it"
            ));
        }
        _ => {}
    }
    Ok((k.to_string(), v.to_string()))
}

/// The longest a silence may last: a quarter. Longer is a standing decision, which belongs
/// in the routes (or the alert rules), where it is reviewed.
pub const MAX_SILENCE_S: u64 = 90 * 86_400;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NotifyCfg, RouteCfg};

    fn notice(kind: Kind, resource: &str, severity: Severity, event: NoticeEvent) -> Notice {
        Notice {
            event,
            at: 1_000,
            scope: "111/us-east-1".into(),
            advisory: Advisory {
                fingerprint: fnv64_hex(&[kind.as_str().as_bytes(), resource.as_bytes()]),
                kind,
                resource: ResourceId(resource.into()),
                severity,
                summary: "s".into(),
                evidence: vec![],
                action: None,
                monthly_cost_delta: None,
                basis: None,
            },
            previous_severity: None,
            tags: vec![("team".into(), "payments".into())],
            first_seen: 900,
            change: None,
        }
    }

    fn route_to(receivers: &[&str]) -> RouteCfg {
        RouteCfg::to(receivers, Severity::Info, &NotifyCfg::default())
    }

    fn cfg(routes: Vec<RouteCfg>) -> NotifyCfg {
        NotifyCfg {
            routes,
            ..NotifyCfg::default()
        }
    }

    #[test]
    fn globs() {
        for (p, v, want) in [
            ("asg/web-*", "asg/web-1", true),
            ("asg/web-*", "asg/api-1", false),
            ("*", "", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXcYb", false),
            ("ab", "ab", true),
            ("ab*ab", "ab", false),
        ] {
            assert_eq!(glob(p, v), want, "{p} vs {v}");
        }
    }

    #[test]
    fn critical_alerts_to_oncall_and_the_channel_capacity_advice_to_the_team() {
        let mut oncall = route_to(&["oncall-email", "incidents"]);
        oncall.kinds = vec![Kind::Alert];
        oncall.min_severity = Severity::Critical;
        let team = route_to(&["team-slack"]);
        let c = cfg(vec![oncall, team]);
        let names = |n: &Notice| targets(&c, n).into_iter().map(|(_, r)| r.to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(&notice(Kind::Alert, "asg/web", Severity::Critical, NoticeEvent::Opened)),
            ["oncall-email", "incidents"]
        );
        assert_eq!(
            names(&notice(Kind::Alert, "asg/web", Severity::Warning, NoticeEvent::Opened)),
            ["team-slack"]
        );
        assert_eq!(
            names(&notice(Kind::Rightsize, "asg/web", Severity::Info, NoticeEvent::Opened)),
            ["team-slack"]
        );
        // With continue, the critical alert reaches the team channel as well.
        let mut c2 = c.clone();
        c2.routes[0].continue_matching = true;
        let n = notice(Kind::Alert, "asg/web", Severity::Critical, NoticeEvent::Opened);
        assert_eq!(targets(&c2, &n).len(), 3);
    }

    #[test]
    fn routes_match_on_scope_resource_and_tags() {
        let mut r = route_to(&["x"]);
        r.scopes = vec!["111/*".into()];
        r.resources = vec!["asg/*".into()];
        r.tags = vec![("team".into(), "payments".into())];
        let c = cfg(vec![r]);
        let n = notice(Kind::Alert, "asg/web", Severity::Warning, NoticeEvent::Opened);
        assert_eq!(targets(&c, &n).len(), 1);
        let mut other_scope = n.clone();
        other_scope.scope = "222/us-east-1".into();
        assert!(targets(&c, &other_scope).is_empty());
        let mut other_team = n.clone();
        other_team.tags = vec![("team".into(), "search".into())];
        assert!(targets(&c, &other_team).is_empty());
        let table = notice(Kind::Dynamodb, "table/chats", Severity::Warning, NoticeEvent::Opened);
        assert!(targets(&c, &table).is_empty());
    }

    #[test]
    fn group_key_is_scope_and_service_by_default() {
        let c = cfg(vec![route_to(&["x"])]);
        let mut n = notice(Kind::Alert, "asg/web", Severity::Warning, NoticeEvent::Opened);
        n.tags.clear();
        assert_eq!(group_key(&c.routes[0], &n, "service"), "scope=111/us-east-1,service=web");
        n.tags.push(("service".into(), "checkout".into()));
        assert_eq!(group_key(&c.routes[0], &n, "service"), "scope=111/us-east-1,service=checkout");
    }

    #[test]
    fn silences_and_duplicates_are_suppressed_with_a_reason_and_resolutions_routed() {
        let c = cfg(vec![route_to(&["x"])]);
        let n = notice(Kind::Alert, "asg/web", Severity::Warning, NoticeEvent::Opened);
        let silence = Silence {
            id: 7,
            matchers: vec![("resource".into(), "asg/w*".into()), ("tag:team".into(), "payments".into())],
            comment: "migration".into(),
            created_by: "ana".into(),
            created_at: 0,
            ends_at: 2_000,
        };
        let none = HashMap::new();
        let got = route(&c, &n, std::slice::from_ref(&silence), &none, 1_000);
        assert!(matches!(&got[0], Routed::Suppress { reason, .. } if reason.starts_with("silenced by #7") && reason.contains("migration")));
        // Expired: delivered.
        let got = route(&c, &n, std::slice::from_ref(&silence), &none, 2_000);
        assert!(matches!(&got[0], Routed::Deliver { .. }));
        // The same sent an hour ago, repeat interval 4 h: a duplicate; five hours ago: sent.
        let key = ("x".to_string(), n.advisory.fingerprint.clone());
        let mut log = HashMap::new();
        let repeat = c.routes[0].repeat_interval_s as i64;
        log.insert(
            key.clone(),
            LogEntry {
                event: NoticeEvent::Opened,
                severity: Severity::Warning,
                sent_at: 1_000,
            },
        );
        let mut rep = n.clone();
        rep.event = NoticeEvent::Repeat;
        assert!(matches!(&route(&c, &rep, &[], &log, 1_000 + 3600)[0], Routed::Suppress { reason, .. } if reason.starts_with("duplicate")));
        assert!(matches!(&route(&c, &rep, &[], &log, 1_000 + repeat)[0], Routed::Deliver { .. }));
        // Another severity is news at once.
        let mut worse = n.clone();
        worse.advisory.severity = Severity::Critical;
        worse.event = NoticeEvent::Changed;
        assert!(matches!(&route(&c, &worse, &[], &log, 1_001)[0], Routed::Deliver { .. }));
        // A resolution is routed whether or not a firing notice was sent yet: whether the
        // receiver saw it open is decided when it is sent (`Outbox::current`; issue 36: an
        // OPENED waiting for a receiver that was down reached it after its RESOLVED had been
        // suppressed here). Not announced at all for advice other than alerts (by default).
        let mut res = n.clone();
        res.event = NoticeEvent::Resolved;
        assert!(matches!(&route(&c, &res, &[], &log, 1_001)[0], Routed::Deliver { .. }));
        assert!(matches!(&route(&c, &res, &[], &none, 1_001)[0], Routed::Deliver { .. }));
        let mut advice = notice(Kind::Rightsize, "asg/web", Severity::Warning, NoticeEvent::Resolved);
        assert!(route(&c, &advice, &[], &log, 1_001).is_empty());
        let mut c2 = c.clone();
        c2.routes[0].send_resolved = Some(true);
        advice.advisory.fingerprint = n.advisory.fingerprint.clone();
        assert_eq!(route(&c2, &advice, &[], &log, 1_001).len(), 1);
    }

    #[test]
    fn matchers_parse_with_clear_errors() {
        assert_eq!(
            parse_matcher("resource=asg/web-*").unwrap(),
            ("resource".into(), "asg/web-*".into())
        );
        assert_eq!(parse_matcher("tag:team=payments").unwrap().0, "tag:team");
        assert!(parse_matcher("colour=red").unwrap_err().contains("unknown label `colour`"));
        assert!(parse_matcher("kind").unwrap_err().contains("label=pattern"));
        assert!(parse_matcher("kind=").unwrap_err().contains("empty pattern"));
        // Issue 35, item 8: patterns no advisory can have are refused.
        for bad in [
            "kind=nosuchkind",
            "kind=[",
            "severity=urgent",
            "scope=prod",
            "resource=web",
            "fingerprint=xyz",
        ] {
            assert!(parse_matcher(bad).unwrap_err().contains("can never match"), "{bad}");
        }
        for good in [
            "kind=rightsize",
            "kind=*size",
            "severity=crit*",
            "scope=*",
            "resource=account",
            "fingerprint=d17*",
        ] {
            assert!(parse_matcher(good).is_ok(), "{good}");
        }
    }
}
