//! Serves the daemon's HTTP endpoints on `[http] listen` (loopback unless `allow_remote`):
//!
//! - `GET /healthz`: 200 and `ok` while every scope's last cycle succeeded within two collect
//!   intervals, else 503 and `unhealthy`; one line per scope with the reason either way.
//! - `GET /metrics`: the daemon's metrics in Prometheus text format, with the store's size,
//!   rows (at every scrape while counting is quick, else every ten minutes) and open advisories read at scrape time.
//! - `GET /`: a one-line index.
//!
//! HTTP/1.1 on hyper (already in the tree for the SDK and Slack); each connection has a 10 s
//! header timeout, so an idle client cannot hold a connection open.
//!
//! May use: runtime's health, metrics, store stats (through the `stats` closure).

use crate::metrics::{self, AdvisoryL, TableL};
use crate::runtime::Health;
use crate::store::StoreStats;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tracing::{debug, warn};

/// Reads the store's stats (`true`: count rows too); runs on a blocking thread.
pub type StatsFn = Arc<dyn Fn(bool) -> Option<StoreStats> + Send + Sync>;

pub struct Endpoints {
    pub health: Arc<Health>,
    pub stats: StatsFn,
    /// When rows were last counted and how long that took.
    rows_counted: Mutex<Option<(Instant, Duration)>>,
}

impl Endpoints {
    pub fn new(health: Arc<Health>, stats: StatsFn) -> Arc<Endpoints> {
        Arc::new(Endpoints {
            health,
            stats,
            rows_counted: Mutex::new(None),
        })
    }
}

/// Rows are recounted at every scrape while counting is quick (a small store), else at most
/// this often (a fleet's points table takes seconds to count, holding the store's lock).
const ROWS_EVERY: Duration = Duration::from_secs(600);
const ROWS_QUICK: Duration = Duration::from_millis(100);

/// Accepts connections until `shutdown` completes.
pub async fn serve(listener: TcpListener, ep: Arc<Endpoints>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    warn!(error = %e, "http: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let ep = ep.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let ep = ep.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&ep, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(hyper_util::rt::TokioIo::new(sock), svc);
            if let Err(e) = conn.await {
                debug!(%peer, error = %e, "http: connection ended with an error");
            }
        });
    }
}

fn text(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

async fn answer(ep: &Arc<Endpoints>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "only GET\n".into());
    }
    match req.uri().path() {
        "/healthz" => {
            let v = ep.health.check(chrono::Utc::now().timestamp());
            let status = if v.healthy {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let mut body = String::from(if v.healthy { "ok\n" } else { "unhealthy\n" });
            for l in v.lines {
                body.push_str(&l);
                body.push('\n');
            }
            text(status, "text/plain; charset=utf-8", body)
        }
        "/metrics" => {
            let count_rows = {
                let last = ep.rows_counted.lock().unwrap_or_else(|e| e.into_inner());
                last.is_none_or(|(at, took)| took < ROWS_QUICK || at.elapsed() >= ROWS_EVERY)
            };
            let stats = ep.stats.clone();
            let started = Instant::now();
            if let Ok(Some(s)) = tokio::task::spawn_blocking(move || stats(count_rows)).await {
                if count_rows {
                    *ep.rows_counted.lock().unwrap_or_else(|e| e.into_inner()) = Some((started, started.elapsed()));
                }
                set_store_gauges(&s);
            }
            text(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                metrics::get().encode(),
            )
        }
        "/" => text(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "headroom: /healthz (200 healthy, 503 with reasons), /metrics (Prometheus)\n".into(),
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /healthz or /metrics\n".into(),
        ),
    }
}

fn set_store_gauges(s: &StoreStats) {
    let m = metrics::get();
    m.store_size.set(s.size_bytes);
    // Kinds and severities that went to zero must read 0, not their last count.
    m.advisories_open.clear();
    for (kind, severity, n) in &s.open {
        m.advisories_open
            .get_or_create(&AdvisoryL {
                kind: kind.clone(),
                severity: severity.clone(),
            })
            .set(*n);
    }
    if let Some(rows) = &s.rows {
        for (table, n) in rows {
            m.store_rows.get_or_create(&TableL { table: table.clone() }).set(*n);
        }
    }
}

/// `headroom health`: GETs /healthz from a running daemon (for Docker's HEALTHCHECK, which has
/// no curl in a slim image). Returns the status code and body.
pub async fn get(addr: &str, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    use http_body_util::BodyExt;
    let fut = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e} (is the daemon running with [http] listen = \"{addr}\"?)"))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        tokio::spawn(conn);
        let req = Request::get(path)
            .header(hyper::header::HOST, addr)
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let res = send.send_request(req).await.map_err(|e| format!("{addr}{path}: {e}"))?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| format!("{addr}{path}: no answer within {} s", timeout.as_secs()))?
}
