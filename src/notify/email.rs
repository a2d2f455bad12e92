//! Email receivers: one multipart message (plain text + HTML from the templates) per
//! notification, with its fixed Message-ID, sent over SMTP (STARTTLS, implicit TLS or plain;
//! AUTH with the password from its variable or file) or written as an `.eml` file to a folder.
//!
//! May use: render, config, store's plain types, lettre, std::fs. Never logs the password.

use super::{SendError, render};
use crate::config::{EmailCfg, EmailTransport, SmtpCfg, SmtpTls};
use crate::store::Notification;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::Path;
use std::time::Duration;

/// Builds the message.
pub fn message(receiver: &str, cfg: &EmailCfg, n: &Notification) -> Result<Message, SendError> {
    let bad = |what: &str, e: String| SendError::Permanent(format!("receiver {receiver}: {what}: {e}"));
    let (text, html) = render::email_bodies(n).map_err(|e| bad("rendering", e))?;
    headers(receiver, cfg, render::subject(n), n.message_id.clone(), n.created_at)?
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| bad("building the message", e.to_string()))
}

/// A message builder with the receiver's From and To, the subject, a fixed Message-ID and the
/// date.
pub fn headers(
    receiver: &str,
    cfg: &EmailCfg,
    subject: String,
    message_id: String,
    at: i64,
) -> Result<lettre::message::MessageBuilder, SendError> {
    let bad = |what: &str, e: String| SendError::Permanent(format!("receiver {receiver}: {what}: {e}"));
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|e: lettre::address::AddressError| bad("from", e.to_string()))?;
    let mut b = Message::builder()
        .from(from)
        .subject(subject)
        .message_id(Some(message_id))
        .date(std::time::UNIX_EPOCH + Duration::from_secs(at.max(0) as u64));
    for t in &cfg.to {
        b = b.to(t.parse().map_err(|e: lettre::address::AddressError| bad("to", e.to_string()))?);
    }
    Ok(b)
}

pub(super) fn write_file(receiver: &str, path: &Path, bytes: &[u8]) -> Result<(), SendError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| SendError::Retry(format!("receiver {receiver}: cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(path, bytes).map_err(|e| SendError::Retry(format!("receiver {receiver}: cannot write {}: {e}", path.display())))
}

fn transport(receiver: &str, s: &SmtpCfg) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let cfg_err = |e: String| SendError::Retry(format!("receiver {receiver}: {e}"));
    let mut tls = TlsParameters::builder(s.host.clone());
    if let Some(ca) = &s.ca_file {
        let pem = crate::files::read_bytes(ca, crate::files::Kind::Certificate)
            .map_err(|e| cfg_err(format!("cannot read ca_file {}: {e}", ca.display())))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| cfg_err(format!("ca_file {}: {e}", ca.display())))?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls.build().map_err(|e| cfg_err(format!("TLS setup: {e}")))?;
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
        .port(s.port)
        .timeout(Some(Duration::from_secs(s.timeout_s)))
        .tls(match s.tls {
            SmtpTls::StartTls => Tls::Required(tls),
            SmtpTls::Implicit => Tls::Wrapper(tls),
            SmtpTls::None => Tls::None,
        });
    if let (Some(user), Some(p)) = (&s.username, &s.password) {
        let secret = p.resolve().map_err(cfg_err)?;
        b = b.credentials(Credentials::new(user.clone(), secret.expose().to_string()));
    }
    Ok(b.build())
}

pub async fn send(receiver: &str, cfg: &EmailCfg, n: &Notification) -> Result<Option<String>, SendError> {
    let msg = message(receiver, cfg, n)?;
    deliver(receiver, cfg, msg, &n.id.to_string()).await
}

/// Sends a built message through the receiver's transport; a folder receiver writes it as
/// `STEM-RECEIVER.eml` and returns the path.
pub async fn deliver(receiver: &str, cfg: &EmailCfg, msg: Message, stem: &str) -> Result<Option<String>, SendError> {
    match &cfg.transport {
        EmailTransport::Dir(dir) => {
            let path = dir.join(format!("{stem}-{receiver}.eml"));
            write_file(receiver, &path, &msg.formatted())?;
            Ok(Some(path.display().to_string()))
        }
        EmailTransport::Smtp(s) => {
            let t = transport(receiver, s)?;
            // lettre's timeout covers each socket read; a server that accepts and then stays
            // silent mid-dialogue is cut off here, so it cannot hold the notifier up.
            let whole = Duration::from_secs(s.timeout_s * 3);
            let sent = tokio::time::timeout(whole, t.send(msg)).await.map_err(|_| {
                SendError::Retry(format!(
                    "receiver {receiver} (SMTP {}:{}): no complete answer in {} s",
                    s.host,
                    s.port,
                    whole.as_secs()
                ))
            })?;
            match sent {
                Ok(_) => Ok(None),
                Err(e) => {
                    let code = e.status().map(|c| c.to_string());
                    // The error's text is the server's reply or the I/O error: no credentials.
                    let what = format!("receiver {receiver} (SMTP {}:{}): {e}", s.host, s.port);
                    if code
                        .as_deref()
                        .is_some_and(|c| c.starts_with("535") || c.starts_with("534") || c.starts_with("530"))
                    {
                        Err(SendError::Retry(format!(
                            "{what} — authentication failed: check username and the password's variable or file (the message waits)"
                        )))
                    } else if e.is_permanent() {
                        Err(SendError::Permanent(what))
                    } else {
                        Err(SendError::Retry(what))
                    }
                }
            }
        }
    }
}
