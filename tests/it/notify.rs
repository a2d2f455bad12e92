//! Delivery against real peers: aiosmtpd (scripts/smtp_peer.py, started per test: plain,
//! STARTTLS + AUTH, stopped to play an outage), an HTTP receiver in the test standing in for
//! Slack's webhook, and the headroom binary killed with SIGKILL at the failpoints around a send.
//! Expected figures come from the advisories the test writes, never from headroom's output.

use crate::support::*;
use headroom::config::*;
use headroom::domain::*;
use headroom::notify::Notifier;
use headroom::runtime::{Shared, shared};
use headroom::store::{CycleWrite, NotifyWrite, Sqlite};
use serde_json::Value;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SERVICE_TAG: &str = "service";

// ---------------------------------------------------------------------------------------
// Peers

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// scripts/smtp_peer.py on `port`, writing what it accepts to `out`.
pub struct SmtpPeer {
    child: std::process::Child,
    pub out: PathBuf,
}

impl SmtpPeer {
    pub fn start(port: u16, out: &Path, tls_dir: Option<&Path>, auth: Option<&str>) -> SmtpPeer {
        let py = std::env::var("HEADROOM_TEST_PYTHON")
            .expect("HEADROOM_TEST_PYTHON is not set: run the tests with scripts/test (it installs aiosmtpd into .venv)");
        let script = crate::support::repo().join("scripts/smtp_peer.py");
        let mut cmd = std::process::Command::new(py);
        cmd.arg(script)
            .args(["--port", &port.to_string(), "--out"])
            .arg(out)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        if let Some(d) = tls_dir {
            cmd.arg("--tls-dir").arg(d);
        }
        if let Some(a) = auth {
            cmd.args(["--auth", a]);
        }
        let mut child = cmd.spawn().expect("start scripts/smtp_peer.py");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("ready"), "the SMTP peer did not start: {line:?}");
        SmtpPeer {
            child,
            out: out.to_path_buf(),
        }
    }

    /// The peer's process id (to stop it mid-session with SIGSTOP: a hung server).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The accepted messages, parsed by Python's email package, in arrival order.
    pub fn messages(&self) -> Vec<Value> {
        messages_in(&self.out)
    }
}

pub fn messages_in(out: &Path) -> Vec<Value> {
    let Ok(rd) = std::fs::read_dir(out) else { return vec![] };
    let mut files: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A webhook receiver: answers each POST with the next scripted (status, Retry-After), then
/// 200; records when each request came and its body.
#[derive(Clone, Default)]
pub struct Hook {
    pub hits: Arc<Mutex<Vec<(Instant, u16, String)>>>,
}

impl Hook {
    pub async fn start(script: Vec<(u16, Option<u64>)>) -> (Hook, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/services/T000/B000/SECRETTOKENxyz123", listener.local_addr().unwrap());
        let hook = Hook::default();
        let h = hook.clone();
        let script = Arc::new(Mutex::new(script.into_iter()));
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                let (h, script) = (h.clone(), script.clone());
                tokio::spawn(async move {
                    let mut buf = vec![];
                    let mut chunk = [0u8; 8192];
                    loop {
                        // Requests on one connection, one after another (keep-alive).
                        let (head_end, len) = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                                let len = head
                                    .lines()
                                    .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()))
                                    .unwrap_or(0);
                                break (i + 4, len);
                            }
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        while buf.len() < head_end + len {
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
                        buf.drain(..head_end + len);
                        let (status, retry) = script.lock().unwrap().next().unwrap_or((200, None));
                        h.hits.lock().unwrap().push((Instant::now(), status, body));
                        let text = if status == 200 { "ok" } else { "no_service" };
                        let retry = retry.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{retry}\r\n{text}",
                            text.len()
                        );
                        if sock.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (hook, url)
    }

    pub fn statuses(&self) -> Vec<u16> {
        self.hits.lock().unwrap().iter().map(|h| h.1).collect()
    }

    pub fn accepted(&self) -> Vec<Value> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.1 == 200)
            .map(|h| serde_json::from_str(&h.2).unwrap())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Advisories, cycles, config

fn scope() -> Scope {
    Scope::new("default", "us-east-1")
}

/// An advisory with figures a test can look for: CPU p95 `80 + i/10` %, `3 + i` instances,
/// and a saving of `1.25 × (i + 1)` dollars a month.
pub fn advisory(resource: &str, kind: Kind, severity: Severity, i: usize) -> Advisory {
    Advisory {
        fingerprint: fnv64_hex(&[resource.as_bytes(), kind.as_str().as_bytes()]),
        kind,
        resource: ResourceId(resource.into()),
        severity,
        summary: format!("{resource}: CPU p95 above the target"),
        evidence: vec![
            Evidence {
                name: "CPU p95".into(),
                value: format!("{:.1} %", 80.0 + i as f64 / 10.0),
            },
            Evidence {
                name: "instances".into(),
                value: format!("{}", 3 + i),
            },
        ],
        action: None,
        monthly_cost_delta: Some(Money(-(i as i64 + 1) * 1_250_000)),
        basis: None,
    }
}

/// One committed cycle at `now` with these advisories; `service` tags every resource.
pub fn commit(store: &Shared<Sqlite>, now: Ts, advisories: Vec<Advisory>, service: &str) {
    try_commit(store, now, advisories, service).unwrap();
}

/// `commit` with the cycle's repeat interval (`NotifyWrite::repeat_s`) in seconds.
pub fn commit_repeating(store: &Shared<Sqlite>, now: Ts, advisories: Vec<Advisory>, service: &str, repeat_s: i64) {
    write_cycle(store, now, advisories, service, repeat_s).unwrap();
}

/// `commit`, returning the store's answer.
pub fn try_commit(
    store: &Shared<Sqlite>,
    now: Ts,
    advisories: Vec<Advisory>,
    service: &str,
) -> Result<headroom::store::Committed, headroom::store::StoreError> {
    write_cycle(store, now, advisories, service, 4 * 3600)
}

/// A cycle whose resources carry their service tag: `service`, or, when it is empty, the
/// resource's name after `asg/` up to its first `-` (asg/alpha-web: alpha).
fn write_cycle(
    store: &Shared<Sqlite>,
    now: Ts,
    advisories: Vec<Advisory>,
    service: &str,
    repeat_s: i64,
) -> Result<headroom::store::Committed, headroom::store::StoreError> {
    let service_of = |a: &Advisory| match service {
        "" => a.resource.0.trim_start_matches("asg/").split('-').next().unwrap_or("").to_string(),
        s => s.to_string(),
    };
    let tags: HashMap<String, Vec<(String, String)>> = advisories
        .iter()
        .map(|a| (a.resource.0.clone(), vec![(SERVICE_TAG.to_string(), service_of(a))]))
        .collect();
    let mut snap = Snapshot::bare(now, vec![], vec![]);
    snap.scope = scope();
    let w = CycleWrite {
        scope: scope(),
        now,
        series: vec![],
        spend: vec![],
        spend_fetched: false,
        snapshot: Arc::new(snap),
        outlooks: None,
        rule_states: vec![],
        advisories,
        hold_resolution: false,
        prune_before: None,
        notify: Some(NotifyWrite { repeat_s, tags }),
    };
    // Through the `Store` trait, as the runtime commits.
    headroom::store::Store::commit_cycle(&mut *store.lock().unwrap(), &w)
}

pub fn smtp(name: &str, port: u16, tls: SmtpTls, auth: Option<(&str, &Path)>, ca: Option<PathBuf>) -> ReceiverCfg {
    ReceiverCfg {
        name: name.into(),
        kind: ReceiverKind::Email(EmailCfg {
            transport: EmailTransport::Smtp(SmtpCfg {
                host: "127.0.0.1".into(),
                port,
                tls,
                username: auth.map(|a| a.0.to_string()),
                password: auth.map(|a| SecretRef::File(a.1.to_path_buf())),
                ca_file: ca,
                timeout_s: 5,
            }),
            from: "headroom <headroom@test.invalid>".into(),
            to: vec!["sre@test.invalid".into()],
        }),
    }
}

pub fn slack(name: &str, url_file: &Path) -> ReceiverCfg {
    ReceiverCfg {
        name: name.into(),
        kind: ReceiverKind::Slack(SlackCfg {
            target: SlackTarget::Webhook(SecretRef::File(url_file.to_path_buf())),
            channel: None,
            timeout_s: 5,
        }),
    }
}

/// One route sending everything (info and up) to these receivers, grouped by scope and service.
pub fn notify_cfg(receivers: Vec<ReceiverCfg>) -> Arc<NotifyCfg> {
    let d = NotifyCfg::default();
    let names: Vec<&str> = receivers.iter().map(|r| r.name.as_str()).collect();
    let route = RouteCfg::to(&names, Severity::Info, &d);
    Arc::new(NotifyCfg {
        receivers,
        routes: vec![route],
        ..d
    })
}

fn parts(m: &Value) -> (String, String) {
    let part = |ct: &str| {
        m["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["content_type"] == ct)
            .unwrap_or_else(|| panic!("no {ct} part in {m}"))["text"]
            .as_str()
            .unwrap()
            .to_string()
    };
    (part("text/plain"), part("text/html"))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn usd(micros: i64) -> String {
    format!("{}${:.2}/month", if micros < 0 { "-" } else { "+" }, (micros as f64 / 1e6).abs())
}

// ---------------------------------------------------------------------------------------
// Tests

/// The mail aiosmtpd receives is multipart (plain + HTML), with every figure of each advisory
/// in both parts, the subject naming severity, service and counts, and the Message-ID the
/// store recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiosmtpd_receives_a_multipart_mail_with_every_figure() {
    let dir = temp_dir("notify-mime");
    let port = free_port();
    let peer = SmtpPeer::start(port, &dir.join("mail"), None, None);
    let cfg = notify_cfg(vec![smtp("oncall", port, SmtpTls::None, None, None)]);
    let store = shared(Sqlite::in_memory().unwrap());
    let t0 = 1_800_000_000;
    let advs = vec![
        advisory("asg/chat-web", Kind::Rightsize, Severity::Warning, 0),
        advisory("asg/chat-api", Kind::Rightsize, Severity::Critical, 1),
        advisory("asg/chat-ws", Kind::AsgLimits, Severity::Info, 2),
    ];
    commit(&store, t0, advs.clone(), "chat");
    let n = Notifier::new(cfg.clone());
    // Before the group's wait is over nothing goes out.
    let p = n.pump(&store, t0 + cfg.group_wait_s as i64 - 1).await.unwrap();
    assert_eq!((p.routed, p.sealed, p.sent), (3, 0, 0));
    assert_eq!(p.next_due, Some(t0 + cfg.group_wait_s as i64));
    let p = n.pump(&store, t0 + cfg.group_wait_s as i64).await.unwrap();
    assert_eq!((p.sealed, p.sent), (1, 1));
    let msgs = peer.messages();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m["multipart"], "multipart/alternative");
    let (text, html) = parts(m);
    for a in &advs {
        for e in &a.evidence {
            assert!(text.contains(&e.value), "{} missing from the text part:\n{text}", e.value);
            assert!(html.contains(&html_escape(&e.value)), "{} missing from the HTML part", e.value);
        }
        let dollars = usd(a.monthly_cost_delta.unwrap().0);
        assert!(text.contains(&dollars), "{dollars} missing from:\n{text}");
        assert!(text.contains(&a.fingerprint));
        assert!(text.contains(&a.resource.0));
    }
    let subject = m["headers"]["Subject"].as_str().unwrap();
    assert!(
        subject.starts_with("[headroom] CRITICAL chat: 3 open (1 critical, 1 warning, 1 info)"),
        "{subject}"
    );
    let log = store.lock().unwrap().notifications(10, None).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].state, "sent");
    assert_eq!(m["headers"]["Message-ID"].as_str().unwrap(), log[0].message_id);
    assert_eq!(m["rcpt_tos"], serde_json::json!(["sre@test.invalid"]));
}

/// STARTTLS with a certificate from the test's own CA, and AUTH: delivered; a wrong password
/// is an error naming the receiver and what to check, and the message waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_auth_work_and_a_wrong_password_says_which_receiver() {
    let dir = temp_dir("notify-tls");
    let port = free_port();
    let tls = dir.join("tls");
    let peer = SmtpPeer::start(port, &dir.join("mail"), Some(&tls), Some("headroom:s3cret-Pa55"));
    let pw = dir.join("smtp-password");
    std::fs::write(&pw, "s3cret-Pa55\n").unwrap();
    let rc = smtp(
        "oncall-mail",
        port,
        SmtpTls::StartTls,
        Some(("headroom", &pw)),
        Some(tls.join("ca.pem")),
    );
    let store = shared(Sqlite::in_memory().unwrap());
    let t0 = 1_800_000_000;
    commit(
        &store,
        t0,
        vec![advisory("asg/pay-web", Kind::Rightsize, Severity::Warning, 4)],
        "pay",
    );
    let n = Notifier::new(notify_cfg(vec![rc.clone()]));
    let p = n.pump(&store, t0 + 30).await.unwrap();
    assert_eq!(p.sent, 1, "{:?}", store.lock().unwrap().notifications(5, None).unwrap());
    let msgs = peer.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["tls"], true);
    assert_eq!(msgs[0]["auth"], true);
    // A wrong password: not sent, retried later, the reason names the receiver.
    std::fs::write(&pw, "wrong").unwrap();
    commit(
        &store,
        t0 + 300,
        vec![advisory("asg/pay-api", Kind::Rightsize, Severity::Warning, 5)],
        "api",
    );
    let p = n.pump(&store, t0 + 330).await.unwrap();
    assert_eq!((p.sent, p.retried), (0, 1));
    let log = store.lock().unwrap().notifications(5, None).unwrap();
    let pending = log.iter().find(|l| l.state == "pending").unwrap();
    let reason = pending.reason.as_deref().unwrap();
    assert!(reason.contains("receiver oncall-mail"), "{reason}");
    assert!(reason.contains("authentication failed"), "{reason}");
    assert!(!reason.contains("wrong"), "the password leaked: {reason}");
    assert_eq!(peer.messages().len(), 1);
    // The right password again: it goes out at its retry time.
    std::fs::write(&pw, "s3cret-Pa55").unwrap();
    let p = n.pump(&store, pending.next_attempt_at).await.unwrap();
    assert_eq!(p.sent, 1);
    assert_eq!(peer.messages().len(), 2);
}

/// The server is down for ten minutes of test time while three groups queue up: every pump
/// fails, nothing is lost; when it is back all three arrive, in the order queued, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_ten_minutes_then_everything_goes_out_in_order_once() {
    let dir = temp_dir("notify-down");
    let port = free_port();
    let store = shared(Sqlite::in_memory().unwrap());
    let n = Notifier::new(notify_cfg(vec![smtp("mail", port, SmtpTls::None, None, None)]));
    let t0 = 1_800_000_000;
    let services = ["alpha", "bravo", "charlie"];
    for (i, s) in services.iter().enumerate() {
        commit(
            &store,
            t0 + i as i64 * 60,
            vec![advisory(&format!("asg/{s}-web"), Kind::Rightsize, Severity::Warning, i)],
            s,
        );
    }
    // Ten minutes, a pump every 30 s: the first group fails and holds the others back.
    let mut t = t0;
    let mut retried = 0;
    while t <= t0 + 600 {
        let p = n.pump(&store, t).await.unwrap();
        assert_eq!(p.sent, 0);
        retried += p.retried;
        t += 30;
    }
    assert!(retried >= 3, "retried {retried}");
    let log = store.lock().unwrap().notifications(10, None).unwrap();
    assert_eq!(log.iter().filter(|l| l.state == "pending").count(), 3, "{log:?}");
    // Back: pump at each next due time until nothing is pending.
    let peer = SmtpPeer::start(port, &dir.join("mail"), None, None);
    let mut t = t0 + 600;
    for _ in 0..10 {
        let p = n.pump(&store, t).await.unwrap();
        match p.next_due {
            Some(d) => t = d.max(t + 1),
            None => break,
        }
    }
    let msgs = peer.messages();
    let subjects: Vec<String> = msgs.iter().map(|m| m["headers"]["Subject"].as_str().unwrap().to_string()).collect();
    assert_eq!(msgs.len(), 3, "{subjects:?}");
    // Each group once (each service is a group of its own). A group waiting for its retry
    // no longer holds the others back (issue 36), so the groups may arrive in any order.
    for s in services {
        assert_eq!(
            subjects.iter().filter(|m| m.contains(&format!(" {s}: "))).count(),
            1,
            "{subjects:?}"
        );
    }
    let ids: Vec<&str> = msgs.iter().map(|m| m["headers"]["Message-ID"].as_str().unwrap()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), 3);
    assert!(
        store
            .lock()
            .unwrap()
            .notifications(10, None)
            .unwrap()
            .iter()
            .all(|l| l.state == "sent")
    );
}

/// 100 advisories for one service in one cycle: one message holding all 100. Unchanged, they
/// are not sent again until repeat_interval has passed; then once, as repeats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_advisories_make_one_message_and_repeat_only_after_the_interval() {
    let dir = temp_dir("notify-group");
    let port = free_port();
    let peer = SmtpPeer::start(port, &dir.join("mail"), None, None);
    let cfg = notify_cfg(vec![smtp("mail", port, SmtpTls::None, None, None)]);
    let store = shared(Sqlite::in_memory().unwrap());
    let n = Notifier::new(cfg.clone());
    let advs: Vec<Advisory> = (0..100)
        .map(|i| advisory(&format!("asg/web-{i:03}"), Kind::Rightsize, Severity::Warning, i))
        .collect();
    let t0 = 1_800_000_000;
    // A cycle every 5 minutes for just under the repeat interval, pumping after each.
    let repeat = cfg.repeat_interval_s as i64;
    let mut t = t0;
    while t < t0 + repeat {
        commit(&store, t, advs.clone(), "web");
        n.pump(&store, t + 30).await.unwrap();
        t += 300;
    }
    let msgs = peer.messages();
    assert_eq!(msgs.len(), 1, "one grouped message, not one per advisory");
    let (text, _) = parts(&msgs[0]);
    assert_eq!(text.matches("fingerprint: ").count(), 100);
    assert!(
        msgs[0]["headers"]["Subject"]
            .as_str()
            .unwrap()
            .contains("web: 100 open (100 warning)")
    );
    // The first cycle at or after the repeat interval: one more message, of repeats.
    commit(&store, t, advs.clone(), "web");
    n.pump(&store, t + 30).await.unwrap();
    n.pump(&store, t + 330).await.unwrap();
    let msgs = peer.messages();
    assert_eq!(msgs.len(), 2);
    let (text, _) = parts(&msgs[1]);
    assert_eq!(text.matches("REPEAT").count(), 100, "{}", &text[..400.min(text.len())]);
}

/// Slack: Block Kit validated; 500 then 200 is one delivery; 429 with Retry-After: 2 waits at
/// least 2 s (real time, as the daemon's loop runs); a 403 is final, with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_block_kit_retries_and_retry_after() {
    let dir = temp_dir("notify-slack");
    let (hook, url) = Hook::start(vec![(500, None), (200, None), (429, Some(2)), (200, None), (403, None)]).await;
    let url_file = dir.join("webhook");
    std::fs::write(&url_file, &url).unwrap();
    let n = Notifier::new(notify_cfg(vec![slack("team", &url_file)]));
    let store = shared(Sqlite::in_memory().unwrap());
    let t0 = 1_800_000_000;
    let a = advisory("asg/chat-web", Kind::Rightsize, Severity::Critical, 7);
    commit(&store, t0, vec![a.clone()], "chat");
    let p = n.pump(&store, t0 + 30).await.unwrap();
    assert_eq!((p.sent, p.retried), (0, 1));
    let due = p.next_due.unwrap();
    assert!(
        (t0 + 30 + 8..=t0 + 30 + 12).contains(&due),
        "first retry after 10 s ± 20 %: {}",
        due - t0 - 30
    );
    let p = n.pump(&store, due).await.unwrap();
    assert_eq!(p.sent, 1);
    assert_eq!(hook.statuses(), vec![500, 200]);
    assert_eq!(hook.accepted().len(), 1, "exactly one delivery");
    // The payload's structure.
    let body = &hook.accepted()[0];
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert!(blocks[0]["text"]["text"].as_str().unwrap().contains("CRITICAL"));
    let att = body["attachments"].as_array().unwrap();
    assert_eq!(att.len(), 1);
    assert_eq!(att[0]["color"], "#e01e5a", "critical is red");
    let ab = att[0]["blocks"].as_array().unwrap();
    let fields = ab.iter().find_map(|b| b["fields"].as_array()).unwrap();
    assert!(fields.len() <= 10, "Slack allows 10 fields");
    for e in &a.evidence {
        assert!(
            fields
                .iter()
                .any(|f| f["type"] == "mrkdwn" && f["text"].as_str().unwrap().contains(&e.value)),
            "{} not among the fields",
            e.value
        );
    }
    let ctx = ab.iter().find(|b| b["type"] == "context").unwrap();
    let ctx_text = ctx["elements"][0]["text"].as_str().unwrap();
    assert!(
        ctx_text.contains(&a.fingerprint) && ctx_text.contains("default/us-east-1"),
        "{ctx_text}"
    );
    // A resolution is announced for alerts (default), in green.
    let alert = advisory("asg/chat-web", Kind::Alert, Severity::Warning, 8);
    commit(&store, t0 + 600, vec![a.clone(), alert.clone()], "chat");
    // 429 with Retry-After: 2, in real time as the daemon's loop runs it.
    let start = Instant::now();
    let mut sent = 0;
    let real = chrono::Utc::now().timestamp();
    // The store's times are t0-based; shift the clock so t0 + 630 is "now".
    let offset = t0 + 630 - real;
    while sent == 0 && start.elapsed() < Duration::from_secs(20) {
        let p = n.pump(&store, chrono::Utc::now().timestamp() + offset).await.unwrap();
        sent += p.sent;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sent, 1);
    let hits = hook.hits.lock().unwrap().clone();
    assert_eq!(hits.iter().map(|h| h.1).collect::<Vec<_>>(), vec![500, 200, 429, 200]);
    let waited = hits[3].0 - hits[2].0;
    assert!(waited >= Duration::from_secs(2), "waited only {waited:?} after Retry-After: 2");
    // A 403: failed at once with Slack's reason, never retried.
    commit(&store, t0 + 900, vec![a.clone()], "chat"); // the alert resolves
    let p = n.pump(&store, t0 + 900 + 30).await.unwrap();
    assert_eq!((p.sent, p.failed, p.retried), (0, 1, 0));
    let resolved_body: Value = serde_json::from_str(&hook.hits.lock().unwrap()[4].2).unwrap();
    assert_eq!(resolved_body["attachments"][0]["color"], "#2eb67d", "resolved is green");
    let p = n.pump(&store, t0 + 3600).await.unwrap();
    assert_eq!((p.sent, p.failed, p.retried), (0, 0, 0));
    assert_eq!(hook.statuses().len(), 5);
    let log = store.lock().unwrap().notifications(10, None).unwrap();
    let failed = log.iter().find(|l| l.state == "failed").unwrap();
    let reason = failed.reason.as_deref().unwrap();
    assert!(
        reason.contains("receiver team") && reason.contains("403") && reason.contains("no_service"),
        "{reason}"
    );
    assert!(!reason.contains("SECRETTOKEN"), "{reason}");
}

// ---------------------------------------------------------------------------------------
// The binary: SIGKILL at the failpoints, and no secret in any output

/// A config folder whose [notify.email] sends to 127.0.0.1:`port` (STARTTLS with the test CA
/// and AUTH when `tls` is given) and, with `hook`, whose [notify.slack] posts there.
fn config_dir(tag: &str, port: u16, tls: Option<(&Path, &Path)>, hook_file: Option<&Path>) -> PathBuf {
    let email = match tls {
        None => format!(
            "[notify.email]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\ntls = \"none\"\ntimeout_s = 5\nfrom = \"headroom@test.invalid\"\nto = [\"sre@test.invalid\"]"
        ),
        Some((ca, pw)) => format!(
            "[notify.email]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\ntls = \"starttls\"\ntimeout_s = 5\nca_file = \"{}\"\nusername = \"headroom\"\npassword_file = \"{}\"\nfrom = \"headroom@test.invalid\"\nto = [\"sre@test.invalid\"]",
            ca.display(),
            pw.display()
        ),
    };
    let slack = match hook_file {
        None => "[notify.slack]\nenabled = false".to_string(),
        Some(f) => format!("[notify.slack]\nwebhook_url_file = \"{}\"", f.display()),
    };
    config_copy(tag, move |name, text| {
        if name != "headroom.toml" {
            return text;
        }
        // Swap the shipped [notify.email] and [notify.slack] sections for the test's.
        let e = text.find("[notify.email]\n").expect("shipped [notify.email]");
        let s = text.find("[notify.slack]\n").expect("shipped [notify.slack]");
        let end = text[s..].find("\n\n").map(|i| s + i).expect("end of [notify.slack]");
        format!("{}{email}\n\n{slack}{}", &text[..e], &text[end..])
    })
}

/// A store at `path` with one warning advisory committed `age` seconds ago (its group's wait
/// is over), closed again as a finished cycle would leave it.
fn store_with_one_advisory(path: &Path, age: i64) -> Advisory {
    let a = advisory("asg/chat-web", Kind::Rightsize, Severity::Warning, 3);
    let store = shared(Sqlite::open(path).unwrap());
    commit(&store, chrono::Utc::now().timestamp() - age, vec![a.clone()], "chat");
    a
}

fn flush(cfg: &Path, store: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"));
    c.args(["--config"])
        .arg(cfg.join("config"))
        .args(["notify", "flush", "--store"])
        .arg(store);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn killed(o: &std::process::Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    o.status.signal() == Some(9)
}

/// SIGKILL after the cycle's commit wrote the outbox and before the send: after the restart
/// the message goes out exactly once.
#[test]
fn sigkill_before_the_send_then_restart_sends_exactly_once() {
    let dir = temp_dir("notify-kill-before");
    let port = free_port();
    let peer = SmtpPeer::start(port, &dir.join("mail"), None, None);
    let cfg = config_dir("notify-kill-before-cfg", port, None, None);
    let db = dir.join("store.db");
    store_with_one_advisory(&db, 60);
    let o = flush(&cfg, &db, &[("HEADROOM_FAILPOINTS", "notify-before-send")]);
    assert!(killed(&o), "{:?} {}", o.status, text(&o.stderr));
    assert_eq!(peer.messages().len(), 0);
    let o = flush(&cfg, &db, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(peer.messages().len(), 1);
    let o = flush(&cfg, &db, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(peer.messages().len(), 1, "sent exactly once");
}

/// SIGKILL after the server accepted the message and before the record: the restart sends it
/// again, once, with the same Message-ID (the one duplicate this design allows), and no more.
#[test]
fn sigkill_after_the_peer_accepted_gives_at_most_one_duplicate_with_the_same_message_id() {
    let dir = temp_dir("notify-kill-after");
    let port = free_port();
    let peer = SmtpPeer::start(port, &dir.join("mail"), None, None);
    let cfg = config_dir("notify-kill-after-cfg", port, None, None);
    let db = dir.join("store.db");
    store_with_one_advisory(&db, 60);
    let o = flush(&cfg, &db, &[("HEADROOM_FAILPOINTS", "notify-after-send")]);
    assert!(killed(&o), "{:?} {}", o.status, text(&o.stderr));
    assert_eq!(peer.messages().len(), 1, "the peer had accepted it");
    for _ in 0..2 {
        let o = flush(&cfg, &db, &[]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let msgs = peer.messages();
    let ids: Vec<&str> = msgs.iter().map(|m| m["headers"]["Message-ID"].as_str().unwrap()).collect();
    let duplicates = ids.len() - 1;
    assert_eq!(duplicates, 1, "{ids:?}");
    assert_eq!(ids[0], ids[1], "the duplicate carries the same Message-ID");
}

/// RUST_LOG=debug over a failing and a succeeding send to SMTP (AUTH) and Slack: neither the
/// password nor the webhook URL appears in any output, log line or the notification log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_output_or_debug_log_holds_the_password_or_the_webhook_url() {
    let dir = temp_dir("notify-secrets");
    let port = free_port();
    let tls = dir.join("tls");
    let peer = SmtpPeer::start(port, &dir.join("mail"), Some(&tls), Some("headroom:Pw-9f8e7d6c"));
    let pw = dir.join("smtp-password");
    std::fs::write(&pw, "Wrong-1a2b3c4d").unwrap();
    let (hook, url) = Hook::start(vec![(500, None)]).await;
    let hook_file = dir.join("webhook");
    std::fs::write(&hook_file, &url).unwrap();
    let cfg = config_dir("notify-secrets-cfg", port, Some((&tls.join("ca.pem"), &pw)), Some(&hook_file));
    let db = dir.join("store.db");
    store_with_one_advisory(&db, 60);
    let env = [("RUST_LOG", "debug")];
    let mut outputs = vec![];
    let run = |outputs: &mut Vec<String>| {
        let (cfg, db) = (cfg.clone(), db.clone());
        let o = std::thread::spawn(move || flush(&cfg, &db, &env)).join().unwrap();
        outputs.push(format!("{}{}", text(&o.stdout), text(&o.stderr)));
        o
    };
    let o = run(&mut outputs);
    assert_eq!(o.status.code(), Some(1), "both sends fail: {}", outputs[0]);
    std::fs::write(&pw, "Pw-9f8e7d6c").unwrap();
    // Past both retry times (at most 12 s for the first).
    tokio::time::sleep(Duration::from_secs(13)).await;
    let o = run(&mut outputs);
    assert!(o.status.success(), "{}", outputs[1]);
    assert_eq!(peer.messages().len(), 1);
    assert_eq!(hook.statuses(), vec![500, 200]);
    let o = headroom(
        &[
            "--config",
            &cfg.join("config").display().to_string(),
            "notifications",
            "--json",
            "--store",
            &db.display().to_string(),
        ],
        &dir,
    );
    outputs.push(format!("{}{}", text(&o.stdout), text(&o.stderr)));
    let all = outputs.concat();
    assert!(all.contains("DEBUG") || all.contains("debug"), "debug logging was on: {all}");
    assert!(all.contains("authentication failed"), "the failure was logged: {all}");
    for secret in ["Pw-9f8e7d6c", "Wrong-1a2b3c4d", "SECRETTOKEN", &url] {
        assert!(!all.contains(secret), "{secret} appears in the output");
    }
}

// ---------------------------------------------------------------------------------------
// Issue 36, delivery: what each receiver ends with after outages, and when repeats come.

/// The (event, advisory resource) of every item a receiver got, in order: email subjects are
/// read back from aiosmtpd's JSON, Slack from the webhook's bodies.
fn slack_items(hook: &Hook) -> Vec<String> {
    hook.accepted()
        .iter()
        .map(|b| b["blocks"][0]["text"]["text"].as_str().unwrap_or("").to_string())
        .collect()
}

/// An alert that opens and resolves while both receivers are down ends, for each, with
/// nothing (its OPENED never reached them, so neither it nor its RESOLVED is sent); one that
/// reached a receiver before the outage ends there with OPENED then RESOLVED. Before, the
/// OPENED went out when the receivers came back and the RESOLVED was suppressed: a firing
/// critical that had cleared (issue 36).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_that_opens_and_resolves_in_an_outage_leaves_no_stale_firing() {
    let dir = temp_dir("notify-stale");
    let port = free_port();
    let url_file = dir.join("webhook");
    // Slack down: a port nothing listens on.
    std::fs::write(&url_file, format!("http://127.0.0.1:{}/services/T/B/x", free_port())).unwrap();
    let n = Notifier::new(notify_cfg(vec![
        smtp("mail", port, SmtpTls::None, None, None),
        slack("team", &url_file),
    ]));
    let store = shared(Sqlite::in_memory().unwrap());
    let t0 = 1_800_000_000;
    let alert = advisory("asg/chat-web", Kind::Alert, Severity::Critical, 1);
    commit(&store, t0, vec![alert.clone()], "chat");
    let mut t = t0 + 30;
    // Five minutes down: the OPENED waits for its retries.
    while t < t0 + 300 {
        let p = n.pump(&store, t).await.unwrap();
        assert_eq!(p.sent, 0);
        t += 30;
    }
    // Cleared while still down.
    commit(&store, t0 + 300, vec![], "chat");
    let p = n.pump(&store, t0 + 330).await.unwrap();
    assert_eq!(p.sent, 0);
    // Both come back.
    let peer = SmtpPeer::start(port, &dir.join("mail"), None, None);
    let (hook, url) = Hook::start(vec![]).await;
    std::fs::write(&url_file, &url).unwrap();
    let mut t = t0 + 330;
    for _ in 0..20 {
        let p = n.pump(&store, t).await.unwrap();
        match p.next_due {
            Some(d) => t = d.max(t + 1),
            None => break,
        }
    }
    assert!(
        peer.messages().is_empty(),
        "email got {:?}",
        peer.messages().iter().map(|m| m["headers"]["Subject"].clone()).collect::<Vec<_>>()
    );
    assert!(hook.accepted().is_empty(), "Slack got {:?}", slack_items(&hook));
    let log = store.lock().unwrap().notifications(100, None).unwrap();
    assert!(log.iter().all(|l| l.state != "pending"), "{log:?}");
    assert!(
        log.iter()
            .any(|l| l.state == "suppressed" && l.reason.as_deref().unwrap_or("").contains("superseded")),
        "why nothing went is said: {log:?}"
    );

    // The same alert again, now seen open by both before the next outage: it ends RESOLVED.
    let t1 = t + 600;
    commit(&store, t1, vec![alert.clone()], "chat");
    let p = n.pump(&store, t1 + 30).await.unwrap();
    assert_eq!(p.sent, 2, "OPENED to both");
    drop(peer);
    std::fs::write(&url_file, format!("http://127.0.0.1:{}/services/T/B/x", free_port())).unwrap();
    commit(&store, t1 + 300, vec![], "chat");
    let mut t = t1 + 330;
    for _ in 0..5 {
        let p = n.pump(&store, t).await.unwrap();
        assert_eq!(p.sent, 0);
        t = p.next_due.unwrap_or(t + 30).max(t + 1);
    }
    let peer = SmtpPeer::start(port, &dir.join("mail2"), None, None);
    std::fs::write(&url_file, &url).unwrap();
    for _ in 0..20 {
        let p = n.pump(&store, t).await.unwrap();
        match p.next_due {
            Some(d) => t = d.max(t + 1),
            None => break,
        }
    }
    let subjects: Vec<String> = peer
        .messages()
        .iter()
        .map(|m| m["headers"]["Subject"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert!(subjects[0].contains("RESOLVED"), "{subjects:?}");
    let slack = slack_items(&hook);
    assert_eq!(slack.len(), 2, "{slack:?}");
    assert!(slack[1].contains("RESOLVED"), "{slack:?}");
}

/// Repeats come at the route's repeat interval (± a group interval), not twice it, and after
/// a 16-minute outage a receiver gets one current repeat, not a burst (issue 36).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_come_on_time_and_an_outage_leaves_one() {
    let (hook, url) = Hook::start(vec![]).await;
    let dir = temp_dir("notify-repeats");
    let url_file = dir.join("webhook");
    std::fs::write(&url_file, &url).unwrap();
    let repeat = 120i64;
    let cfg = {
        let mut c = (*notify_cfg(vec![slack("team", &url_file)])).clone();
        for r in &mut c.routes {
            r.repeat_interval_s = repeat as u64;
            // Shorter than the repeat: a group goes out at most every group_interval.
            r.group_interval_s = 30;
        }
        c
    };
    let (gw, gi) = (cfg.routes[0].group_wait_s as i64, cfg.routes[0].group_interval_s as i64);
    let n = Notifier::new(Arc::new(cfg));
    let store = shared(Sqlite::in_memory().unwrap());
    let t0 = 1_800_000_000;
    let a = advisory("asg/chat-web", Kind::Alert, Severity::Warning, 1);
    // A cycle a minute for 12 minutes, a pump every 10 s; when each message went out.
    let mut sent_at = vec![];
    let mut t = t0;
    while t < t0 + 720 {
        if (t - t0) % 60 == 0 {
            commit_repeating(&store, t, vec![a.clone()], "chat", repeat);
        }
        let before = hook.accepted().len();
        n.pump(&store, t).await.unwrap();
        if hook.accepted().len() > before {
            sent_at.push(t);
        }
        t += 10;
    }
    let gaps: Vec<i64> = sent_at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.len() >= 4, "several repeats: {sent_at:?}");
    for g in &gaps {
        assert!(
            (repeat - gi..=repeat + gi).contains(g),
            "repeat every {g} s, not {repeat} ± {gi}: {gaps:?} (group_wait {gw})"
        );
    }
    // Down 16 minutes (cycles go on); back: one repeat, the current one.
    std::fs::write(&url_file, format!("http://127.0.0.1:{}/services/T/B/x", free_port())).unwrap();
    let before = hook.accepted().len();
    let back = t + 16 * 60;
    while t < back {
        if (t - t0) % 60 == 0 {
            commit_repeating(&store, t, vec![a.clone()], "chat", repeat);
        }
        n.pump(&store, t).await.unwrap();
        t += 10;
    }
    std::fs::write(&url_file, &url).unwrap();
    for _ in 0..10 {
        let p = n.pump(&store, t).await.unwrap();
        match p.next_due {
            Some(d) if d <= t + 400 => t = d.max(t + 1),
            _ => break,
        }
    }
    let after = slack_items(&hook)[before..].to_vec();
    assert_eq!(after.len(), 1, "one current repeat, not a burst: {after:?}");
}

/// A Slack post that hangs delays no other group: two groups sealed together, alpha's post
/// (sealed first) never answered; bravo's message arrives at once, not after the first one's
/// timeout (issue 36: one hung post held the whole Slack queue 4 min 45 s behind its retry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_post_does_not_delay_other_groups() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/services/T/B/hang", listener.local_addr().unwrap());
    let answered: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let a2 = answered.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let a2 = a2.clone();
            tokio::spawn(async move {
                let Some(body) = crate::support::read_http_request(&mut sock).await else {
                    return;
                };
                // alpha's post is never answered, whichever comes first.
                if body.contains("alpha") {
                    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                    return;
                }
                a2.lock().unwrap().push((Instant::now(), body));
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                    .await;
            });
        }
    });
    let dir = temp_dir("notify-hung-post");
    let url_file = dir.join("webhook");
    std::fs::write(&url_file, &url).unwrap();
    let n = Notifier::new(notify_cfg(vec![slack("team", &url_file)]));
    let store = shared(Sqlite::in_memory().unwrap());
    let t0 = 1_800_000_000;
    // Two services in one cycle: two groups, sealed in the same pump (alpha's first).
    commit(
        &store,
        t0,
        vec![
            advisory("asg/alpha-web", Kind::Alert, Severity::Warning, 1),
            advisory("asg/bravo-web", Kind::Alert, Severity::Warning, 2),
        ],
        "",
    );
    let started = Instant::now();
    let p = n.pump(&store, t0 + 60).await.unwrap();
    assert_eq!((p.sent, p.retried), (1, 1), "{p:?}");
    let got = answered.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert!(got[0].1.contains("bravo"), "the other group went out: {}", got[0].1);
    let after = got[0].0 - started;
    // The hung post is cut at Slack's 5 s timeout; bravo did not wait for it.
    assert!(
        after < std::time::Duration::from_secs(2),
        "bravo's message came {after:?} after the pump began"
    );
}
