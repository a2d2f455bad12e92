//! Issue 35, "bad days, part two": bounded reads, the store lock by file identity (in
//! bad_days.rs, beside the first lock test), read-only use, a foreign database, silences,
//! plan's arithmetic, the legacy apply key, health, and the small ones. The notifier that one
//! hung receiver cannot stall is in notify.rs; shutdown's messages in scheduler.rs.

use crate::support::{config_copy, headroom, temp_dir, text};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Runs headroom to its end and returns (exit code, stderr then stdout, wall time, peak RSS in bytes): the
/// peak is the kernel's own count for that child (wait4's ru_maxrss), read when it is reaped.
fn run_measured(dir: &Path, args: &[&str]) -> (Option<i32>, String, Duration, u64) {
    use std::io::Read;
    let t = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4 below, which also gives its rusage
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Both pipes read at once: `config check` lists problems on stdout, errors go to stderr.
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    err.push_str(&reader.join().unwrap());
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter; wait4 reaps the child this test started.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    let took = t.elapsed();
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, err, took, usage.ru_maxrss as u64 * 1024)
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path this test owns.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", p.display());
}

/// The three bad files: a device that never ends, a FIFO nobody writes, and a file one byte
/// over its kind's cap (sparse: nothing is written).
fn bad_files(dir: &Path, cap: u64) -> Vec<(&'static str, PathBuf)> {
    let fifo = dir.join("fifo");
    if !fifo.exists() {
        mkfifo(&fifo);
    }
    let big = dir.join(format!("over-{cap}"));
    std::fs::File::create(&big).unwrap().set_len(cap + 1).unwrap();
    vec![
        ("/dev/zero", PathBuf::from("/dev/zero")),
        ("a FIFO", fifo),
        ("an oversize file", big),
    ]
}

/// Every file headroom is given: `/dev/zero`, a FIFO and a file over its cap exit 2 at once,
/// saying what was wrong, with the process's peak RSS under 50 MB.
#[test]
fn every_file_input_is_bounded() {
    let dir = temp_dir("bounded");
    with_root_config(&dir);
    const MIB: u64 = 1 << 20;
    let mut cases: Vec<(String, Vec<String>, PathBuf)> = vec![];
    let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for (what, p) in bad_files(&dir, MIB) {
        let s = p.display().to_string();
        cases.push((format!("profile: {what}"), args(&["plan", "--profile", &s]), p.clone()));
        cases.push((format!("audit: {what}"), args(&["plan", "--audit", &s]), p.clone()));
    }
    for (what, p) in bad_files(&dir, 64 * MIB) {
        let s = p.display().to_string();
        cases.push((format!("csv: {what}"), args(&["forecast", "--csv", &s]), p));
    }
    // Config files, and secret and certificate files named by the config: `config check`.
    for (what, p) in bad_files(&dir, MIB) {
        let target = p.clone();
        let cfg = config_copy("bounded-config", |_, t| t);
        std::fs::remove_file(cfg.join("config/headroom.toml")).unwrap();
        std::os::unix::fs::symlink(&target, cfg.join("config/headroom.toml")).unwrap();
        cases.push((
            format!("headroom.toml: {what}"),
            args(&["config", "check", "--config", &cfg.join("config").display().to_string()]),
            PathBuf::from("headroom.toml"),
        ));
        let cfg = config_copy("bounded-ca", |name, t| {
            edit_email(name, t, &format!("ca_file = \"{}\"", target.display()))
        });
        cases.push((
            format!("ca_file: {what}"),
            args(&["config", "check", "--config", &cfg.join("config").display().to_string()]),
            p,
        ));
    }
    for (what, p) in bad_files(&dir, 64 << 10) {
        let target = p.clone();
        let cfg = config_copy("bounded-password", |name, t| {
            edit_email(
                name,
                t,
                &format!("username = \"headroom\"\npassword_file = \"{}\"", target.display()),
            )
        });
        cases.push((
            format!("password_file: {what}"),
            args(&["config", "check", "--config", &cfg.join("config").display().to_string()]),
            p.clone(),
        ));
        let cfg = config_copy("bounded-webhook", |name, t| {
            if name != "headroom.toml" {
                return t;
            }
            t.replacen(
                "[notify.slack]\nenabled = false\n# The incoming-webhook URL is a secret: name the variable or file that holds it.\nwebhook_url_env = \"HEADROOM_SLACK_WEBHOOK\"",
                &format!("[notify.slack]\nenabled = true\nwebhook_url_file = \"{}\"", target.display()),
                1,
            )
        });
        assert!(
            std::fs::read_to_string(cfg.join("config/headroom.toml"))
                .unwrap()
                .contains("webhook_url_file")
        );
        cases.push((
            format!("webhook_url_file: {what}"),
            args(&["config", "check", "--config", &cfg.join("config").display().to_string()]),
            p,
        ));
    }
    assert_eq!(cases.len(), 3 * 7, "seven inputs, three bad files each");
    for (name, argv, path) in cases {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let (code, err, took, rss) = run_measured(&dir, &argv);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(took < Duration::from_secs(1), "{name}: took {took:?}");
        assert!(rss < 50_000_000, "{name}: peak RSS {rss} bytes");
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(err.contains(&file), "{name}: the error names the file: {err}");
        let why = ["a device", "a FIFO", "more than the"];
        assert!(why.iter().any(|w| err.contains(w)), "{name}: the error says what is wrong: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

/// Turns the email receiver on with `extra` keys (headroom.toml only).
fn edit_email(name: &str, text: String, extra: &str) -> String {
    if name != "headroom.toml" {
        return text;
    }
    let t = text.replacen(
        "[notify.email]\n# Off until you fill it in.\nenabled = false",
        &format!("[notify.email]\nenabled = true\n{extra}"),
        1,
    );
    assert!(t.contains(extra), "the shipped headroom.toml changed: fix this test's edit");
    t
}

/// A demo store in a fresh folder, closed cleanly (no -wal left).
fn demo_store(tag: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(tag);
    let out = headroom(&["demo", "--out", "o"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let db = dir.join("o/demo.db");
    assert!(db.exists());
    (dir, db)
}

fn with_root_config(dir: &Path) {
    let root = crate::support::repo();
    for sub in ["config", "alerts"] {
        let _ = std::os::unix::fs::symlink(root.join(sub), dir.join(sub));
    }
}

/// Listing advisories works as another user (who may not write the store's folder) and on a
/// read-only mount; before, "attempt to write a readonly database" and "unable to open database
/// file", the latter without the path.
#[test]
fn advisories_list_read_only() {
    let (dir, db) = demo_store("ro-list");
    // Copies, not links: another user cannot follow a link into a repository checked out
    // under a private folder (fresh-clone-check clones into a 0700 mktemp folder).
    for sub in ["config", "alerts"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for e in std::fs::read_dir(crate::support::repo().join(sub)).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "toml") {
                std::fs::copy(e.path(), dir.join(sub).join(e.file_name())).unwrap();
            }
        }
    }
    // Everyone may read; only the owner (root) may write.
    let chmod = |p: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    for p in [dir.as_path(), &dir.join("o")] {
        chmod(p, 0o755);
    }
    chmod(&db, 0o644);
    let as_nobody = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_headroom"))
        .args(["advisories", "--config", "config", "--store", "o/demo.db", "--json"])
        .current_dir(&dir)
        .output()
        .expect("setpriv (util-linux) runs");
    let (out, err) = (text(&as_nobody.stdout), text(&as_nobody.stderr));
    assert_eq!(as_nobody.status.code(), Some(0), "as another user: {err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(listed.as_array().is_some_and(|a| !a.is_empty()), "{out}");
    // A read-only bind mount of the store's folder, in a mount namespace of its own.
    let o = dir.join("o").display().to_string();
    let ro = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!(
            "mount --bind -o ro '{o}' '{o}' && exec '{}' advisories --config config --store o/demo.db --json",
            env!("CARGO_BIN_EXE_headroom")
        ))
        .current_dir(&dir)
        .output()
        .expect("unshare (util-linux) runs");
    let (out_ro, err) = (text(&ro.stdout), text(&ro.stderr));
    assert_eq!(ro.status.code(), Some(0), "read-only mount: {err}");
    assert_eq!(out_ro, out, "the same listing either way");
}

/// Pointed at another application's SQLite file, headroom refuses it, naming the file, and
/// writes nothing into it.
#[test]
fn a_foreign_database_is_refused_untouched() {
    let dir = temp_dir("foreign");
    with_root_config(&dir);
    let db = dir.join("app.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('a');")
            .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    for args in [
        vec!["check", "--config", "config", "--store", "app.db"],
        vec!["advisories", "--config", "config", "--store", "app.db"],
        vec!["run", "--simulated", "--config", "config", "--store", "app.db"],
    ] {
        let out = headroom(&args, &dir);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("app.db is not a headroom store") && err.contains("users"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "not a byte written");
    assert!(!dir.join("app.db-wal").exists());
    // Another application's id is refused even with no tables.
    let other = dir.join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .pragma_update(None, "application_id", 42)
        .unwrap();
    let out = headroom(&["check", "--config", "config", "--store", "other.db"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("application_id is 0x2a"), "{}", text(&out.stderr));
    // headroom's own says so.
    let (_, own) = demo_store("foreign-own");
    let id: i64 = rusqlite::Connection::open(own)
        .unwrap()
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    assert_eq!(id, headroom::store::APPLICATION_ID);
}

/// Silences that could never end or never match are refused, exit 2, and none is stored;
/// a good one still goes in (issue 35, item 8).
#[test]
fn silences_must_end_and_be_able_to_match() {
    let (dir, _) = demo_store("silences");
    with_root_config(&dir);
    let add = |args: &[&str]| {
        let mut a = vec!["silence", "add", "--config", "config", "--store", "o/demo.db", "--comment", "test"];
        a.extend_from_slice(args);
        headroom(&a, &dir)
    };
    for (args, want) in [
        (vec!["kind=alert", "--for", "99999999999999h"], "--for 99999999999999h"),
        (vec!["kind=alert", "--for", "91d"], "longer than a silence may last (90 days)"),
        (vec!["kind=nosuchkind"], "can never match: kind is one of alert, rightsize"),
        (vec!["kind=["], "can never match"),
        (
            vec!["severity=urgent"],
            "can never match: severity is one of info, warning, critical",
        ),
        (vec!["scope=production"], "a scope is ACCOUNT/REGION"),
    ] {
        let out = add(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let out = headroom(
        &["silence", "list", "--config", "config", "--store", "o/demo.db", "--all", "--json"],
        &dir,
    );
    let none: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(none, serde_json::json!([]), "nothing was stored");
    let out = add(&["kind=rightsize", "resource=asg/batch-*", "--for", "90d"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = headroom(&["silence", "list", "--config", "config", "--store", "o/demo.db", "--json"], &dir);
    let list: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    // Issue 36: `notifications --limit` says when it left rows out.
    let out = headroom(
        &["notifications", "--config", "config", "--store", "o/demo.db", "--limit", "1"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("showing the newest 1 notifications; older ones were left out"),
        "{}",
        text(&out.stderr)
    );
}

/// `headroom health` believes only headroom's own answer: a 200 from something else on the
/// port is exit 2, not healthy (issue 35, item 10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_the_body_not_only_the_status() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
            let body = "<html>Welcome to nginx!</html>\n";
            let _ = sock
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    let dir = temp_dir("health-body");
    let out = crate::support::headroom_in(&dir, &["health", "--addr", &addr]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("answered HTTP 200 `<html>Welcome to nginx!</html>`, not headroom's"),
        "{err}"
    );
}

/// The store's size metric counts the write-ahead log (issue 35, item 10).
#[test]
fn store_size_counts_the_wal() {
    let dir = temp_dir("wal-size");
    let db = dir.join("h.db");
    let s = headroom::store::Sqlite::open(&db).unwrap();
    s.execute_batch_for_tests("PRAGMA wal_autocheckpoint = 0; CREATE TABLE pad (x BLOB); INSERT INTO pad VALUES (zeroblob(200000));")
        .unwrap();
    let wal = std::fs::metadata(dir.join("h.db-wal")).unwrap().len() as i64;
    assert!(wal > 200_000, "the WAL holds the insert: {wal}");
    let c = rusqlite::Connection::open(&db).unwrap();
    let pages: i64 = c
        .query_row(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let stats = s.stats(false).unwrap();
    let wal_now = std::fs::metadata(dir.join("h.db-wal")).unwrap().len() as i64;
    assert_eq!(stats.size_bytes, pages + wal_now);
}

/// A Cost Explorer answer of `{}` (HTTP 200, no ResultsByTime) is an unreadable response, not
/// a successful read of no spend: the source fails, saying so, and the store records no spend
/// read, so the next cycle asks again (issue 35, item 11).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_cost_explorer_answer_is_no_spend_read() {
    use crate::support::proxy::{self, Fault};
    use headroom::domain::Scope;
    use headroom::runtime::{self, ScopeState, shared};
    use headroom::store::{Sqlite, Store};
    let (_moto, url) = crate::support::moto().await;
    let px = proxy::start(&url, &[("GetCostAndUsage", Fault::Answer("{}"))]).await;
    let cfg = std::sync::Arc::new(crate::support::config_for(&px.url));
    let api = headroom::aws::sdk::connect(&cfg.headroom.aws, "us-east-1").await;
    let store = shared(Sqlite::in_memory().unwrap());
    let mut state = ScopeState::new(Scope::new("default", "us-east-1"), true);
    let r = runtime::cycle(&api, &cfg, &store, &mut state, chrono::Utc::now()).await.unwrap();
    assert_eq!(px.count("GetCostAndUsage"), 1, "spend was due and asked for");
    let s = r
        .snapshot
        .sources
        .iter()
        .find(|s| s.source == "costexplorer")
        .expect("the spend source");
    let why = s.reason.as_deref().unwrap_or("");
    assert!(!s.ok && why.contains("no ResultsByTime"), "{why}");
    assert_eq!(store.lock().unwrap().spend_fetched_at("default").unwrap(), None);
}

/// A full disk is said once, with the store's path and what to do (was "store: store:
/// database or disk is full"), and the failed cycle leaves the store as it was (issue 35,
/// item 11). SQLite's max_page_count stands in for a full filesystem.
#[test]
fn a_full_disk_names_the_store_once() {
    use headroom::domain::{Kind, Severity};
    let dir = temp_dir("disk-full");
    let db = dir.join("h.db");
    let store = headroom::runtime::shared(headroom::store::Sqlite::open(&db).unwrap());
    crate::notify::commit(
        &store,
        1_800_000_000,
        vec![crate::notify::advisory("asg/a", Kind::Rightsize, Severity::Warning, 0)],
        "a",
    );
    let before = store.lock().unwrap().count_snapshots().unwrap();
    store.lock().unwrap().execute_batch_for_tests("PRAGMA max_page_count = 1;").unwrap();
    let many: Vec<_> = (0..200)
        .map(|i| crate::notify::advisory(&format!("asg/b{i}"), Kind::Rightsize, Severity::Warning, i))
        .collect();
    let e = crate::notify::try_commit(&store, 1_800_000_300, many, "b").unwrap_err().to_string();
    assert!(e.starts_with(&format!("store {}: database or disk is full", db.display())), "{e}");
    assert_eq!(e.matches("store").count(), 1, "{e}");
    assert!(e.contains("free space on its filesystem"), "{e}");
    assert_eq!(
        store.lock().unwrap().count_snapshots().unwrap(),
        before,
        "nothing of the cycle kept"
    );
}
