//! A fault-injecting HTTP proxy on 127.0.0.1 between the SDK and moto. Each AWS operation
//! (from `X-Amz-Target` or the query `Action`) gets a fault: forward, throttle (HTTP 400
//! Throttling), server error (HTTP 500), delay then forward, connection reset, or a recorded
//! answer (for what moto does not implement). It counts the
//! requests per operation so tests can check that retries stay bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug)]
pub enum Fault {
    Forward,
    Throttle,
    ServerError,
    Delay(Duration),
    Reset,
    /// HTTP 200 with a body that is no AWS answer (a captive portal, the wrong service).
    Garbage200,
    /// HTTP 200 with this XML body: a recorded answer of an operation moto does not
    /// implement (StartInstanceRefresh, DescribeInstanceRefreshes: PEERS.md).
    Answer(&'static str),
    /// HTTP 403 AccessDenied when the request body contains this text (e.g. one role's
    /// account id in an AssumeRole), else forward.
    DenyIf(&'static str),
}

pub struct Proxy {
    pub url: String,
    counts: Arc<Mutex<HashMap<String, u32>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Requests seen for an operation (every attempt, retries included).
    pub fn count(&self, op: &str) -> u32 {
        self.counts.lock().unwrap().get(op).copied().unwrap_or(0)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start(upstream: &str, rules: &[(&str, Fault)]) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let rules: Arc<HashMap<String, Fault>> = Arc::new(rules.iter().map(|(k, v)| (k.to_string(), *v)).collect());
    let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
    let c2 = counts.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else { return };
            let (rules, counts, upstream) = (rules.clone(), c2.clone(), upstream.clone());
            tokio::spawn(async move {
                let _ = serve(sock, &rules, &counts, &upstream).await;
            });
        }
    });
    Proxy {
        url: format!("http://{addr}"),
        counts,
        task,
    }
}

/// Reads one HTTP message (headers, then a Content-Length body, or to EOF if `to_eof`).
async fn read_message(s: &mut TcpStream, to_eof: bool) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len = head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.trim().parse::<usize>().unwrap_or(0))
    });
    let mut body = buf[head_end..].to_vec();
    match len {
        Some(len) => {
            while body.len() < len {
                let n = s.read(&mut tmp).await?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&tmp[..n]);
            }
        }
        None if to_eof => {
            s.read_to_end(&mut body).await?;
        }
        None => {}
    }
    Ok(Some((head, body)))
}

fn operation(head: &str, body: &[u8]) -> (String, bool) {
    if let Some(target) = head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
            .map(|(_, v)| v.trim().to_string())
    }) {
        return (target.rsplit('.').next().unwrap_or_default().to_string(), true);
    }
    let b = String::from_utf8_lossy(body);
    let action = b
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("unknown")
        .to_string();
    (action, false)
}

fn with_connection_close(head: &str) -> String {
    let mut lines: Vec<&str> = head
        .trim_end()
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n"))
}

async fn serve(
    mut client: TcpStream,
    rules: &HashMap<String, Fault>,
    counts: &Mutex<HashMap<String, u32>>,
    upstream: &str,
) -> std::io::Result<()> {
    let Some((head, body)) = read_message(&mut client, false).await? else {
        return Ok(());
    };
    let (op, json) = operation(&head, &body);
    *counts.lock().unwrap().entry(op.clone()).or_default() += 1;
    let fault = rules.get(&op).copied().unwrap_or(Fault::Forward);
    let canned = |status: &str, code: &str, msg: &str| {
        let (ctype, payload) = if json {
            (
                "application/x-amz-json-1.1",
                format!("{{\"__type\":\"{code}\",\"message\":\"{msg}\"}}"),
            )
        } else {
            (
                "text/xml",
                format!(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{msg}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
                ),
            )
        };
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        )
    };
    let fault = match fault {
        Fault::DenyIf(text) if String::from_utf8_lossy(&body).contains(text) => {
            client
                .write_all(
                    canned(
                        "403 Forbidden",
                        "AccessDenied",
                        "not authorized to perform sts:AssumeRole (injected)",
                    )
                    .as_bytes(),
                )
                .await?;
            client.shutdown().await.ok();
            return Ok(());
        }
        Fault::DenyIf(_) => Fault::Forward,
        other => other,
    };
    match fault {
        Fault::DenyIf(_) => unreachable!("resolved above"),
        Fault::Answer(body) => {
            client
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await?
        }
        Fault::Garbage200 => {
            let body = "<html><body>Welcome to the proxy</body></html>";
            client
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await?
        }
        Fault::Throttle => {
            client
                .write_all(canned("400 Bad Request", "Throttling", "Rate exceeded (injected)").as_bytes())
                .await?
        }
        Fault::ServerError => {
            client
                .write_all(canned("500 Internal Server Error", "InternalFailure", "injected server error").as_bytes())
                .await?
        }
        Fault::Reset => {
            // A zero linger makes close send RST at once (it does not block with zero).
            #[allow(deprecated)]
            client.set_linger(Some(Duration::ZERO))?;
            drop(client);
            return Ok(());
        }
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            forward(&mut client, &head, &body, upstream).await?;
        }
        Fault::Forward => forward(&mut client, &head, &body, upstream).await?,
    }
    client.shutdown().await.ok();
    Ok(())
}

async fn forward(client: &mut TcpStream, head: &str, body: &[u8], upstream: &str) -> std::io::Result<()> {
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(with_connection_close(head).as_bytes()).await?;
    up.write_all(body).await?;
    let Some((rhead, rbody)) = read_message(&mut up, true).await? else {
        return Ok(());
    };
    client.write_all(with_connection_close(&rhead).as_bytes()).await?;
    client.write_all(&rbody).await?;
    Ok(())
}
