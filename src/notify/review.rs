//! The weekly review through the receivers: email gets the whole review (HTML with each chart
//! as a PNG part referenced by Content-ID, and the Markdown as the plain-text alternative);
//! Slack gets the short summary (headline figures and a link-free text table). Each message has
//! a fixed Message-ID per week and receiver, so a resend after a crash can be recognised.
//!
//! May use: report (rendering), config, email and slack transports, lettre. Never logs a secret.

use super::{SendError, email, slack};
use crate::config::{EmailCfg, NotifyCfg, ReceiverKind, SlackCfg, SlackTarget};
use crate::report::{Rendered, render};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use std::time::Duration;

/// The review as an email: multipart/alternative (Markdown text; multipart/related of the HTML
/// and one PNG per chart, by Content-ID).
pub fn message(receiver: &str, cfg: &EmailCfg, r: &Rendered, now: i64) -> Result<Message, SendError> {
    let bad = |what: &str, e: String| SendError::Permanent(format!("receiver {receiver}: {what}: {e}"));
    let week = &r.review.week;
    let html = render::html(&r.review, &r.charts, render::Images::Cid);
    let md_charts: Vec<_> = r.charts.iter().map(|c| (c.clone(), None)).collect();
    let text = render::markdown(&r.review, &md_charts);
    let mut related = MultiPart::related().singlepart(SinglePart::html(html));
    for c in &r.charts {
        let png = c.png().map_err(|e| bad("drawing a chart", e))?;
        let ct = ContentType::parse("image/png").map_err(|e| bad("content type", e.to_string()))?;
        related = related.singlepart(Attachment::new_inline(render::content_id(c, week)).body(png, ct));
    }
    let b = email::headers(
        receiver,
        cfg,
        format!("Capacity review {week}: {}", r.review.headline.text),
        format!("<review-{week}-{receiver}@headroom>"),
        now,
    )?;
    b.multipart(MultiPart::alternative().singlepart(SinglePart::plain(text)).multipart(related))
        .map_err(|e| bad("building the message", e.to_string()))
}

/// Slack's payload: the summary as mrkdwn text.
pub fn slack_payload(r: &Rendered, cfg: &SlackCfg) -> serde_json::Value {
    let mut v = serde_json::json!({ "text": render::slack_text(&r.review) });
    if let Some(c) = &cfg.channel {
        v["channel"] = serde_json::Value::String(c.clone());
    }
    v
}

/// Sends the review to one receiver; returns the file written, for folder receivers.
pub async fn send(cfg: &NotifyCfg, receiver: &str, r: &Rendered, now: i64) -> Result<Option<String>, SendError> {
    let Some(rc) = cfg.receiver(receiver) else {
        return Err(SendError::Permanent(format!("receiver `{receiver}` is not in the configuration")));
    };
    let stem = format!("review-{}", r.review.week);
    match &rc.kind {
        ReceiverKind::Email(e) => {
            let msg = message(&rc.name, e, r, now)?;
            email::deliver(&rc.name, e, msg, &stem).await
        }
        ReceiverKind::Slack(s) => {
            let body = serde_json::to_string_pretty(&slack_payload(r, s))
                .map_err(|e| SendError::Permanent(format!("receiver {receiver}: {e}")))?;
            match &s.target {
                SlackTarget::Dir(dir) => {
                    let path = dir.join(format!("{stem}-{receiver}.json"));
                    email::write_file(receiver, &path, body.as_bytes())?;
                    Ok(Some(path.display().to_string()))
                }
                SlackTarget::Webhook(secret) => {
                    let url = secret
                        .resolve()
                        .map_err(|e| SendError::Retry(format!("receiver {receiver}: webhook URL: {e}")))?;
                    slack::post(receiver, url.expose(), body, Duration::from_secs(s.timeout_s)).await?;
                    Ok(None)
                }
            }
        }
    }
}

/// The error's text, whatever its kind.
pub fn reason(e: &SendError) -> String {
    match e {
        SendError::Retry(s) | SendError::Permanent(s) | SendError::RetryAfter(s, _) => s.clone(),
    }
}
