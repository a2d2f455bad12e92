//! Test support: the real peers `scripts/test` starts (moto for AWS), SDK clients to seed them,
//! a plain HTTP client for moto's own API, and a fault-injecting proxy.
//! A test that needs a peer fails, with the fix in the message, when the peer is missing.

pub mod proxy;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatch::config::Credentials;
use std::io::{Read, Write};
use std::net::TcpStream;
use tokio::sync::{Mutex, MutexGuard};

/// The moto endpoint from `scripts/test`. Panics (never skips) when it is not set.
pub fn moto_url() -> String {
    std::env::var("HEADROOM_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!("HEADROOM_TEST_MOTO_URL is not set: this test needs the moto server. Run it through scripts/test, which starts moto and exports the address.")
    })
}

/// Tests share one moto server; each takes it whole (tokio's mutex: it is held across awaits,
/// and each test has its own runtime).
static MOTO_LOCK: Mutex<()> = Mutex::const_new(());

/// Exclusive use of the shared moto server, reset to empty. Hold it for the whole test.
pub async fn moto() -> (MutexGuard<'static, ()>, String) {
    let guard = MOTO_LOCK.lock().await;
    let url = moto_url();
    let (status, body) = http_post(&url, "/moto-api/reset", "application/json", "");
    assert_eq!(status, 200, "moto reset failed: {body}");
    (guard, url)
}

/// A minimal blocking HTTP/1.1 POST (moto's own API and raw AWS query calls).
pub fn http_post(base: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
    http_post_with(base, path, content_type, "", body)
}

fn http_post_with(base: &str, path: &str, content_type: &str, extra_headers: &str, body: &str) -> (u16, String) {
    let hostport = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(hostport).unwrap_or_else(|e| panic!("cannot reach {base}: {e} (is the peer running? use scripts/test)"));
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: {content_type}\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default();
    (status, body)
}

/// Creates an EC2 launch template through moto's EC2 query API (aws-sdk-ec2 is kept out of the
/// build: it costs over ten minutes of compile time for this one call).
pub fn create_launch_template(url: &str, name: &str, instance_type: &str) {
    create_launch_template_as(url, name, instance_type, "test", "us-east-1")
}

/// The same in `region`, for the account of `access_key` (moto files a request under the
/// account of its access key and the region of its credential scope).
pub fn create_launch_template_as(url: &str, name: &str, instance_type: &str, access_key: &str, region: &str) {
    let body = format!(
        "Action=CreateLaunchTemplate&Version=2016-11-15&LaunchTemplateName={name}&LaunchTemplateData.ImageId=ami-12c6146b&LaunchTemplateData.InstanceType={instance_type}"
    );
    let auth = format!(
        "Authorization: AWS4-HMAC-SHA256 Credential={access_key}/20260101/{region}/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n"
    );
    let (status, resp) = http_post_with(url, "/", "application/x-www-form-urlencoded", &auth, &body);
    assert_eq!(status, 200, "CreateLaunchTemplate: {resp}");
}

/// Assumes a role in moto (raw STS query call) and returns (access key, secret, session
/// token): moto then files that key's requests under the role's account.
pub fn assume_role(url: &str, role_arn: &str) -> (String, String, String) {
    let body = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleSessionName=seed&RoleArn={}",
        role_arn.replace(':', "%3A").replace('/', "%2F")
    );
    let auth = "Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0\r\n";
    let (status, resp) = http_post_with(url, "/", "application/x-www-form-urlencoded", auth, &body);
    assert_eq!(status, 200, "AssumeRole: {resp}");
    let tag = |t: &str| {
        resp.split(&format!("<{t}>"))
            .nth(1)
            .and_then(|r| r.split(&format!("</{t}>")).next())
            .unwrap_or_else(|| panic!("no {t} in {resp}"))
            .to_string()
    };
    (tag("AccessKeyId"), tag("SecretAccessKey"), tag("SessionToken"))
}

/// SDK configuration for seeding moto in `region` with the given credentials.
pub async fn seed_conf_as(url: &str, region: &str, creds: Option<(String, String, String)>) -> aws_config::SdkConfig {
    let c = match creds {
        Some((k, s, t)) => Credentials::new(k, s, Some(t), None, "headroom-tests"),
        None => Credentials::new("test", "test", None, None, "headroom-tests"),
    };
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(url)
        .credentials_provider(c)
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

/// Queues Cost Explorer results in moto (each distinct request takes the next one).
pub fn queue_cost_results(url: &str, results: &serde_json::Value) {
    let (status, resp) = http_post(
        url,
        "/moto-api/static/ce/cost-and-usage-results",
        "application/json",
        &results.to_string(),
    );
    assert!(status == 200 || status == 201, "queue CE results: {status} {resp}");
}

/// SDK configuration for seeding moto: dummy credentials, no retries.
pub async fn seed_conf(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("test", "test", None, None, "headroom-tests"))
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

/// The shipped config pointed at `endpoint`, with no targets yet and retries off.
pub fn config_for(endpoint: &str) -> headroom::config::Config {
    let mut c = headroom::config::Config::embedded().expect("shipped config is valid");
    c.headroom.aws.endpoint_url = Some(endpoint.to_string());
    c.headroom.aws.max_attempts = 1;
    c.headroom.aws.timeout_s = 10;
    c.headroom.targets = Default::default();
    c
}

/// PutMetricData in batches of at most 100 datums (moto parses big batches slowly).
pub async fn put_points(cw: &aws_sdk_cloudwatch::Client, namespace: &str, metric: &str, dims: &[(&str, &str)], points: &[(i64, f64)]) {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    for chunk in points.chunks(100) {
        let data: Vec<MetricDatum> = chunk
            .iter()
            .map(|(t, v)| {
                MetricDatum::builder()
                    .metric_name(metric)
                    .set_dimensions(Some(
                        dims.iter().map(|(k, v)| Dimension::builder().name(*k).value(*v).build()).collect(),
                    ))
                    .timestamp(DateTime::from_secs(*t))
                    .value(*v)
                    .build()
            })
            .collect();
        cw.put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(data))
            .send()
            .await
            .expect("PutMetricData to moto");
    }
}

/// The repository this test run is for, found at run time: cargo and nextest run a test in
/// its package's folder and set CARGO_MANIFEST_DIR there. (Compiled in with `env!`, a test
/// binary that another checkout built into a shared target directory reads and writes that
/// checkout's files: golden files "updated" in the wrong tree.)
pub fn repo() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::current_dir().expect("the test's working folder"))
}

/// A fresh temporary directory for one test.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("headroom-it-{tag}-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        % 1_000_000_007
}

/// A copy of the repository's config/ and alerts/ in a temp folder, with edits.
pub fn config_copy(tag: &str, edit: impl Fn(&str, String) -> String) -> std::path::PathBuf {
    let root = repo();
    let root = root.as_path();
    let dir = temp_dir(tag);
    for sub in ["config", "alerts"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                let content = edit(&name, std::fs::read_to_string(&p).unwrap());
                std::fs::write(dir.join(sub).join(&name), content).unwrap();
            }
        }
    }
    dir
}

/// Runs the headroom binary in `dir` off the async runtime (the peers' tests are async).
pub async fn headroom_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// Runs the `headroom` binary in `cwd`, as a user would.
pub fn headroom(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run headroom")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// An amount in headroom's JSON (a number of dollars) in micro-dollars, for exact comparison.
pub fn usd_micros(v: &serde_json::Value) -> Option<i64> {
    v.as_f64().map(|d| (d * 1e6).round() as i64)
}

/// Reads one HTTP request from `sock`: headers, then the body's Content-Length bytes. Returns
/// the body, or None when the peer closed first.
pub async fn read_http_request(sock: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 65536];
    let mut n = 0;
    loop {
        let k = sock.read(&mut buf[n..]).await.unwrap_or(0);
        if k == 0 {
            return None;
        }
        n += k;
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if let Some(h) = text.find("\r\n\r\n") {
            let len: usize = text
                .to_lowercase()
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            if n >= h + 4 + len {
                return Some(text[h + 4..].to_string());
            }
        }
    }
}
