//! Slack receivers: the Block Kit payload (`render::slack_payload`) posted to an incoming
//! webhook, or written as a `.json` file to a folder (demo and dry runs). A 429 is retried
//! after its `Retry-After`; a 5xx, a timeout or a connection error is retried with the
//! notifier's capped backoff; any other 4xx is final (the notification is marked failed with
//! Slack's reason).
//!
//! May use: render, config, store's plain types, hyper, std::fs. Never logs the webhook URL:
//! errors name the receiver, and the URL's host at most.

use super::{SendError, render};
use crate::config::{SlackCfg, SlackTarget};
use crate::store::Notification;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::time::Duration;

pub async fn send(receiver: &str, cfg: &SlackCfg, n: &Notification) -> Result<Option<String>, SendError> {
    let payload = render::slack_payload(n, cfg.channel.as_deref());
    let body = serde_json::to_string_pretty(&payload).map_err(|e| SendError::Permanent(format!("receiver {receiver}: {e}")))?;
    match &cfg.target {
        SlackTarget::Dir(dir) => {
            let path = dir.join(format!("{}-{receiver}.json", n.id));
            super::email::write_file(receiver, &path, body.as_bytes())?;
            Ok(Some(path.display().to_string()))
        }
        SlackTarget::Webhook(secret) => {
            let url = secret
                .resolve()
                .map_err(|e| SendError::Retry(format!("receiver {receiver}: webhook URL: {e}")))?;
            post(receiver, url.expose(), body, Duration::from_secs(cfg.timeout_s)).await?;
            Ok(None)
        }
    }
}

/// POSTs `body` to the webhook; the error never holds the URL.
pub async fn post(receiver: &str, url: &str, body: String, timeout: Duration) -> Result<(), SendError> {
    let uri: hyper::Uri = url.parse().map_err(|_| {
        SendError::Permanent(format!(
            "receiver {receiver}: the webhook URL is not a URL (check the variable or file that holds it)"
        ))
    })?;
    let host = uri.host().unwrap_or("?").to_string();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| SendError::Retry(format!("receiver {receiver}: TLS roots: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
    let req = hyper::Request::post(uri)
        .header("content-type", "application/json; charset=utf-8")
        .header("user-agent", concat!("headroom/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| SendError::Permanent(format!("receiver {receiver}: cannot build the request")))?;
    let where_ = format!("receiver {receiver} (Slack webhook at {host})");
    let resp = match tokio::time::timeout(timeout, client.request(req)).await {
        Err(_) => return Err(SendError::Retry(format!("{where_}: no answer in {} s", timeout.as_secs()))),
        // hyper's error names the connection failure, never the URL.
        Ok(Err(e)) => return Err(SendError::Retry(format!("{where_}: {}", error_chain(&e)))),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(hyper::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let text = match tokio::time::timeout(timeout, resp.into_body().collect()).await {
        Ok(Ok(b)) => String::from_utf8_lossy(&b.to_bytes()).chars().take(200).collect::<String>(),
        _ => String::new(),
    };
    let said = if text.is_empty() {
        String::new()
    } else {
        format!(": {}", text.trim())
    };
    match status.as_u16() {
        200..=299 => Ok(()),
        429 => Err(SendError::RetryAfter(
            format!("{where_}: 429 rate limited{said}"),
            retry_after.unwrap_or(30).clamp(1, 3600),
        )),
        500..=599 => Err(SendError::Retry(format!("{where_}: HTTP {status}{said}"))),
        _ => Err(SendError::Permanent(format!(
            "{where_}: HTTP {status}{said} (not retried: fix the webhook or the receiver)"
        ))),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}
