//! Config validation pinned case by case: each bad config is the shipped one with one edit,
//! and the test states the exact line `headroom config check` prints for it.

use super::*;

/// The shipped sources with `from` replaced by `to` in the named file (which must contain it).
fn edited(file: &str, from: &str, to: &str) -> Sources {
    let mut s = Sources::embedded();
    let text = match file {
        "headroom.toml" => &mut s.headroom.1,
        "sizing.toml" => &mut s.sizing.1,
        "pricing.toml" => &mut s.pricing.1,
        "alerts/default.toml" => &mut s.alerts[0].1,
        other => panic!("no such file {other}"),
    };
    assert!(text.contains(from), "{file} does not contain {from:?}");
    *text = text.replacen(from, to, 1);
    s
}

fn problems(s: &Sources) -> Vec<String> {
    match Config::from_sources(s) {
        Ok(_) => vec![],
        Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
    }
}

fn assert_problems(s: Sources, want: &[&str]) {
    let got = problems(&s);
    let want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
    assert_eq!(got, want);
}

#[test]
fn shipped_config_is_valid_embedded_and_on_disk() {
    let c = Config::embedded().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.sizing.tiers.len(), 4);
    assert_eq!(c.rules.len(), 12);
    // Found at run time (cargo sets it for the test), not compiled in: see tests/it/support::repo.
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo")).join("config");
    let d = Config::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.rules.len(), c.rules.len());
    assert_eq!(d.pricing, c.pricing);
}

#[test]
fn unknown_key_suggests_the_nearest() {
    assert_problems(
        edited(
            "headroom.toml",
            "timeout_seconds = 20",
            "timeout_seconds = 20\nregion = \"us-east-1\"",
        ),
        &[
            "headroom.toml: aws.region: unknown key (did you mean `regions`? known keys: accounts, concurrent_scopes, endpoint_url, max_attempts, regions, timeout_seconds)",
        ],
    );
}

#[test]
fn accounts_are_checked_each_with_its_key() {
    let accounts = r#"
[[aws.accounts]]
id = "12345"
[[aws.accounts]]
id = "222222222222"
role_arn = "arn:aws:iam::333333333333:role/headroom"
[[aws.accounts]]
id = "444444444444"
external_id = "x"
regions = ["mars-1"]
[[aws.accounts]]
id = "555555555555"
role_arn = "not-an-arn"
session_name = "a b"

[collect]"#;
    assert_problems(
        edited("headroom.toml", "\n[collect]", accounts),
        &[
            "headroom.toml: aws.accounts[0].id: `12345` is not an AWS account id (12 digits, e.g. \"123456789012\")",
            "headroom.toml: aws.accounts[1].role_arn: the role is in another account than id = \"222222222222\" (the role to assume must be in the account it reads)",
            "headroom.toml: aws.accounts[2].external_id: set without role_arn (external_id goes with the role it is assumed with)",
            "headroom.toml: aws.accounts[2].regions[0]: `mars-1` is not an AWS region name (e.g. us-east-1, eu-west-1)",
            "headroom.toml: aws.accounts[3].role_arn: `not-an-arn` is not an IAM role ARN (e.g. arn:aws:iam::123456789012:role/headroom-readonly)",
            "headroom.toml: aws.accounts[3].session_name: `a b` is not a valid role session name (2 to 64 characters of letters, digits and +=,.@-_)",
        ],
    );
}

#[test]
fn accounts_make_scopes_in_their_regions() {
    let accounts = r#"
[[aws.accounts]]
id = "111111111111"
[[aws.accounts]]
id = "222222222222"
role_arn = "arn:aws:iam::222222222222:role/headroom"
regions = ["eu-west-1", "us-west-2"]

[collect]"#;
    let c = Config::from_sources(&edited("headroom.toml", "\n[collect]", accounts)).unwrap_or_else(|e| panic!("{e}"));
    let scopes: Vec<String> = c.headroom.aws.scopes().iter().map(|s| s.key()).collect();
    let mut want: Vec<String> = c.headroom.aws.regions.iter().map(|r| format!("111111111111/{r}")).collect();
    want.extend(["222222222222/eu-west-1".to_string(), "222222222222/us-west-2".to_string()]);
    assert_eq!(scopes, want);
    assert_eq!(c.headroom.aws.default_scope().key(), want[0]);
    assert_eq!(c.headroom.aws.accounts[1].session_name, "headroom");
}

#[test]
fn wrong_type() {
    assert_problems(
        edited("headroom.toml", "timeout_seconds = 20", "timeout_seconds = \"20\""),
        &["headroom.toml: aws.timeout_seconds: expected a whole number, found a string (e.g. timeout_seconds = 1)"],
    );
}

#[test]
fn threshold_out_of_range() {
    // cpu_percent thresholds are percentages.
    assert_problems(
        edited("alerts/default.toml", "threshold = 75", "threshold = 150"),
        &["alerts/default.toml: rule[0].threshold: 150 is out of range (use a number from 0 to 100)"],
    );
}

#[test]
fn bad_cron_expression() {
    assert_problems(
        edited("headroom.toml", "collect = \"*/5 * * * *\"", "collect = \"*/5 * * *\""),
        &[
            "headroom.toml: schedule.collect: bad cron expression `*/5 * * *`: 4 fields; expected 5 (min hour day month weekday) or 6 with seconds first (e.g. \"*/5 * * * *\" for every 5 minutes)",
        ],
    );
    let got = problems(&edited("headroom.toml", "collect = \"*/5 * * * *\"", "collect = \"*/5 25 * * *\""));
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("headroom.toml: schedule.collect: bad cron expression `*/5 25 * * *`: "),
        "{}",
        got[0]
    );
}

#[test]
fn unknown_instance_type_in_a_tier() {
    let known = Config::embedded()
        .unwrap()
        .pricing
        .instances
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    assert_problems(
        edited(
            "sizing.toml",
            "instance_types = [\"t3.medium\"]",
            "instance_types = [\"t3.mediun\"]",
        ),
        &[&format!(
            "sizing.toml: tier[0].node_group[0].instance_types[0]: unknown instance type `t3.mediun` (add [instance.\"t3.mediun\"] to pricing.toml, or use one of: {known})"
        )],
    );
}

#[test]
fn missing_price_is_named_and_its_users_too() {
    let s = edited("pricing.toml", "on_demand_hourly = 0.0416", "");
    let got = problems(&s);
    assert_eq!(
        got[0],
        "pricing.toml: instance.\"t3.medium\".on_demand_hourly: missing price (add on_demand_hourly = <USD> (on-demand USD per hour))"
    );
    // Without a price the type is unusable, so the tier that uses it is reported as well.
    assert_eq!(got.len(), 2);
    assert!(
        got[1].starts_with("sizing.toml: tier[0].node_group[0].instance_types[0]: unknown instance type `t3.medium`"),
        "{}",
        got[1]
    );
}

#[test]
fn overlapping_tier_ranges() {
    assert_problems(
        edited("sizing.toml", "concurrent_users = [500, 2000]", "concurrent_users = [400, 2000]"),
        &[
            "sizing.toml: tier: tiers `small` [0, 500) and `medium` [400, 2000) overlap (a tier's lower bound is inclusive and its upper bound exclusive: make each tier start where the previous ends)",
        ],
    );
}

#[test]
fn secret_given_inline_is_refused_without_echoing_it() {
    let s = edited(
        "headroom.toml",
        "webhook_url_env = \"HEADROOM_SLACK_WEBHOOK\"",
        "webhook_url = \"https://hooks.slack.com/services/T0/B0/SECRETSECRET\"",
    );
    let got = problems(&s);
    assert_eq!(
        got,
        vec![
            "headroom.toml: notify.slack.webhook_url: secret given inline (put it in an environment variable and set webhook_url_env = \"NAME\", or in a file and set webhook_url_file = \"/path\")"
                .to_string()
        ]
    );
    assert!(!got.concat().contains("SECRETSECRET"));
}

#[test]
fn unknown_time_zone() {
    assert_problems(
        edited("headroom.toml", "timezone = \"UTC\"", "timezone = \"Mars/Olympus\""),
        &[
            "headroom.toml: schedule.timezone: unknown time zone `Mars/Olympus` (use an IANA name such as Europe/Berlin or America/New_York)",
        ],
    );
}

#[test]
fn empty_target_selector() {
    assert_problems(
        edited("headroom.toml", "name = \"web\"", "name = \"\""),
        &[
            "headroom.toml: targets.asg[0].name: empty target selector: neither name nor tags (set name = \"my-asg\" or tags = { \"headroom:watch\" = \"true\" })",
        ],
    );
}

#[test]
fn missing_required_key() {
    assert_problems(
        edited("headroom.toml", "regions = [\"us-east-1\"]", ""),
        &["headroom.toml: aws.regions: missing required key (add regions = [\"us-east-1\"])"],
    );
}

#[test]
fn bad_region_name() {
    assert_problems(
        edited("headroom.toml", "regions = [\"us-east-1\"]", "regions = [\"us-east\"]"),
        &["headroom.toml: aws.regions[0]: `us-east` is not an AWS region name (e.g. us-east-1, eu-west-1)"],
    );
}

#[test]
fn unknown_severity_and_bad_duration() {
    assert_problems(
        edited("alerts/default.toml", "severity = \"info\"", "severity = \"urgent\""),
        &["alerts/default.toml: rule[0].severity: unknown severity `urgent` (use info, warning or critical)"],
    );
    assert_problems(
        edited("alerts/default.toml", "for = \"10m\"", "for = \"10 minutes\""),
        &["alerts/default.toml: rule[0].for: bad duration `10 minutes` (e.g. \"10m\", \"30s\", \"1h\")"],
    );
}

#[test]
fn duplicate_rule_name() {
    assert_problems(
        edited("alerts/default.toml", "name = \"cpu-high-warning\"", "name = \"cpu-high\""),
        &["alerts/default.toml: rule[1].name: rule name `cpu-high` is used twice (rule names must be unique across all packs)"],
    );
}

#[test]
fn endpoint_must_be_a_url() {
    assert_problems(
        edited(
            "headroom.toml",
            "# endpoint_url = \"http://127.0.0.1:5000\"",
            "endpoint_url = \"127.0.0.1:5000\"",
        ),
        &[
            "headroom.toml: aws.endpoint_url: `127.0.0.1:5000` is not an http(s) URL (e.g. http://127.0.0.1:5000, or remove the key for real AWS)",
        ],
    );
}

#[test]
fn toml_syntax_error_names_the_line() {
    let got = problems(&edited("headroom.toml", "[collect]", "[collect"));
    assert_eq!(got.len(), 1);
    let line = Sources::embedded().headroom.1.lines().position(|l| l == "[collect]").unwrap() + 1;
    assert!(
        got[0].starts_with(&format!("headroom.toml: (top): not valid TOML at line {line}: ")),
        "{}",
        got[0]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut s = edited("headroom.toml", "timezone = \"UTC\"", "timezone = \"Nowhere/Land\"");
    s.headroom.1 = s.headroom.1.replacen("timeout_seconds = 20", "timeout_seconds = 0", 1);
    s.sizing.1 = s.sizing.1.replacen("spike_buffer = 1.3", "spike_buffer = 0.5", 1);
    s.alerts[0].1 = s.alerts[0].1.replacen("threshold = 80", "threshold = -1", 1);
    let got = problems(&s);
    assert_eq!(
        got,
        vec![
            "sizing.toml: workload.spike_buffer: 0.5 is out of range (use a number from 1 to 10)",
            "headroom.toml: aws.timeout_seconds: 0 is out of range (use a whole number from 1 to 300)",
            "headroom.toml: schedule.timezone: unknown time zone `Nowhere/Land` (use an IANA name such as Europe/Berlin or America/New_York)",
            "alerts/default.toml: rule[1].threshold: -1 is out of range (use a number from 0 to 100)",
        ]
    );
}

#[test]
fn secrets_resolve_from_env_and_files_and_never_print() {
    let dir = std::env::temp_dir().join(format!("headroom-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("pw");
    std::fs::write(&f, "hunter2\n").unwrap();
    let s = SecretRef::File(f.clone()).resolve().unwrap();
    assert_eq!(s.expose(), "hunter2");
    assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
    let e = SecretRef::Env("HEADROOM_TEST_SURELY_UNSET_VAR".into()).resolve().unwrap_err();
    assert_eq!(
        e,
        "environment variable HEADROOM_TEST_SURELY_UNSET_VAR is not set (export it, or use a *_file key)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn durations_and_cron_forms() {
    assert_eq!(parse_duration("10m"), Some(600));
    assert_eq!(parse_duration("2h"), Some(7200));
    assert_eq!(parse_duration("30s"), Some(30));
    assert_eq!(parse_duration("m"), None);
    assert_eq!(parse_duration("5w"), None);
    // Five-field cron is read minute-first: every 5 minutes ticks at :00, :05, ...
    let c = parse_cron("*/5 * * * *").unwrap();
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:01:30Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let ticks: Vec<String> = c.schedule.after(&start).take(2).map(|t| t.format("%H:%M:%S").to_string()).collect();
    assert_eq!(ticks, vec!["10:05:00", "10:10:00"]);
}

#[test]
fn unknown_tier_on_a_target() {
    assert_problems(
        edited("headroom.toml", "# tier = \"medium\"", "tier = \"huge\""),
        &[
            "headroom.toml: targets.asg[0].tier: unknown tier `huge` (use one of the tiers in sizing.toml: small, medium, large, enterprise)",
        ],
    );
}

#[test]
fn users_metric_without_a_name() {
    assert_problems(
        edited(
            "headroom.toml",
            "# users_metric = { namespace = \"Chat\", name = \"ConcurrentUsers\" }",
            "users_metric = { namespace = \"Chat\" }",
        ),
        &["headroom.toml: targets.asg[0].users_metric.name: missing required key (add name = \"ConcurrentUsers\")"],
    );
}

/// Issue 21, item 3: a schedule that parses but never fires is rejected.
#[test]
fn a_schedule_that_never_fires_is_rejected() {
    assert_problems(
        edited("headroom.toml", "collect = \"*/5 * * * *\"", "collect = \"0 0 30 2 *\""),
        &[
            "headroom.toml: schedule.collect: `0 0 30 2 *` never fires in the next year (check the day and month fields (e.g. 30 February does not exist))",
        ],
    );
}

/// Issue 21, item 5: an enabled notifier whose secret is not there, and a zero repeat.
#[test]
fn enabled_notifiers_need_their_secrets_and_a_real_repeat_interval() {
    let var = "HEADROOM_TEST_SURELY_UNSET_VARIABLE_21";
    assert!(std::env::var_os(var).is_none());
    let mut s = edited("headroom.toml", "repeat_interval = \"4h\"", "repeat_interval = \"0s\"");
    s.headroom.1 = s
        .headroom
        .1
        .replacen("# Off until you fill it in.\nenabled = false", "enabled = true", 1)
        .replacen(
            "# password_env = \"HEADROOM_SMTP_PASSWORD\"",
            &format!("password_env = \"{var}\"\n#"),
            1,
        )
        .replacen(
            "[notify.slack]\nenabled = false\n# The incoming-webhook URL is a secret: name the variable or file that holds it.\nwebhook_url_env = \"HEADROOM_SLACK_WEBHOOK\"",
            "[notify.slack]\nenabled = true\nwebhook_url_file = \"/nonexistent/headroom/slack-webhook\"",
            1,
        );
    assert_problems(
        s,
        &[
            "headroom.toml: notify.repeat_interval: `0s` would repeat every advisory every cycle (give at least a minute, e.g. \"4h\" (Alertmanager's default))",
            &format!(
                "headroom.toml: notify.email.password_env: the environment variable {var} is not set (or empty) (set {var} in headroom's environment, or use password_file, or set enabled = false)"
            ),
            "headroom.toml: notify.email.username: missing required key (add username = \"headroom\")",
            "headroom.toml: notify.slack.webhook_url_file: /nonexistent/headroom/slack-webhook: No such file or directory (os error 2) (check the path (under systemd, a LoadCredential= file), or use an environment variable)",
        ],
    );
}

/// Issue 21, item 5: a device, a huge file and a byte-order mark.
#[test]
fn config_files_are_regular_small_and_may_start_with_a_bom() {
    let err = super::read_config_file(Path::new("/dev/zero")).unwrap_err();
    assert!(err.contains("not a regular file"), "{err}");
    let dir = std::env::temp_dir().join(format!("headroom-cfg-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.toml");
    std::fs::write(&big, vec![b'#'; super::MAX_CONFIG_BYTES as usize + 1]).unwrap();
    let err = super::read_config_file(&big).unwrap_err();
    assert!(err.contains(&format!("{} bytes", super::MAX_CONFIG_BYTES + 1)), "{err}");
    let bom = dir.join("bom.toml");
    std::fs::write(&bom, "\u{feff}a = 1\n").unwrap();
    assert_eq!(super::read_config_file(&bom).unwrap(), "a = 1\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 21, item 2: the collection deadline leaves the cycle room before the next tick.
#[test]
fn a_deadline_longer_than_half_the_interval_is_rejected() {
    assert_problems(
        edited("headroom.toml", "deadline_seconds = 120", "deadline_seconds = 200"),
        &[
            "headroom.toml: collect.deadline_seconds: 200 s is more than half the collect interval (300 s between ticks of `*/5 * * * *`) (give at most 150 s, or collect less often)",
        ],
    );
}

/// Issue 35, item 11: a bad deadline is one problem; the default standing in for it is not
/// checked against a one-minute interval as if someone had written it.
#[test]
fn a_bad_deadline_is_one_problem() {
    let s = edited("headroom.toml", "deadline_seconds = 120", "deadline_seconds = 0");
    let s = Sources {
        headroom: (
            s.headroom.0,
            s.headroom.1.replacen("collect = \"*/5 * * * *\"", "collect = \"* * * * *\"", 1),
        ),
        ..s
    };
    assert!(s.headroom.1.contains("collect = \"* * * * *\""));
    let e = Config::from_sources(&s).unwrap_err();
    let problems: Vec<String> = e.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("collect.deadline_seconds"), "{problems:#?}");
}

/// Issue 14: the shipped config's example routes and named receivers parse as documented.
#[test]
fn shipped_route_examples_parse() {
    let mut s = edited(
        "headroom.toml",
        "#   [[notify.routes]]                  # critical",
        "[[notify.routes]] # critical",
    );
    let h = &mut s.headroom.1;
    // Uncomment the example lines of the two routes.
    let start = h.find("[[notify.routes]] # critical").unwrap();
    let end = h[start..].find("\n\n").map(|e| start + e).unwrap();
    let block: String = h[start..end]
        .lines()
        .map(|l| l.replace("#   # ", "").replacen("#   ", "", 1))
        .map(|l| if l.starts_with("#") { String::new() } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    let block = block.replace(
        "scopes = [\"prod/*\"]; resources = [\"asg/chat-*\"]; tags = { team = \"chat\" }",
        "scopes = [\"prod/*\"]\nresources = [\"asg/chat-*\"]\ntags = { team = \"chat\" }",
    );
    *h = format!("{}{}{}", &h[..start], block, &h[end..]);
    // The receivers it names.
    *h = h.replacen(
        "[notify.email]\n# Off until you fill it in.\nenabled = false",
        "[notify.receivers.oncall]\ntype = \"email\"\ndir = \"/tmp/oncall\"\nfrom = \"h@example.com\"\nto = [\"oncall@example.com\"]\n\n[notify.receivers.incident]\ntype = \"slack\"\ndir = \"/tmp/incident\"\n\n[notify.email]\nenabled = false",
        1,
    );
    *h = h.replacen("[notify.slack]\nenabled = false\n# The incoming-webhook URL is a secret: name the variable or file that holds it.\nwebhook_url_env = \"HEADROOM_SLACK_WEBHOOK\"", "[notify.slack]\ndir = \"/tmp/slack\"", 1);
    let cfg = Config::from_sources(&s).unwrap_or_else(|e| panic!("{:?}", e.problems().iter().map(|p| p.to_string()).collect::<Vec<_>>()));
    let n = &cfg.headroom.notify;
    assert_eq!(n.routes.len(), 2, "{:?}", n.routes);
    assert_eq!(n.routes[0].receivers, vec!["oncall", "incident"]);
    assert_eq!(n.routes[0].min_severity, crate::domain::Severity::Critical);
    assert_eq!(n.routes[0].group_wait_s, 10);
    assert_eq!(n.routes[0].repeat_interval_s, 3600);
    assert!(n.routes[0].continue_matching);
    assert_eq!(n.routes[1].kinds.len(), 8);
    assert_eq!(n.routes[1].repeat_interval_s, 86_400);
    assert_eq!(n.routes[1].send_resolved, Some(false));
    assert_eq!(n.routes[1].tags, vec![("team".to_string(), "chat".to_string())]);
    assert_eq!(n.routes[1].group_interval_s, 300, "the [notify] default applies");
    let mut names: Vec<_> = n.receivers.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["incident", "oncall", "slack"]);
}

#[test]
fn apply_section_is_checked_each_with_its_key() {
    let bad = r#"mode = "yolo"
kinds = ["rightsize", "commitment", "nope"]
resources = ["asg/web", "web"]
[[apply.windows]]
cron = "0 2 * * Tue"
[[apply.windows]]
cron = "0 3 * * Wed"
duration = "forever"

[advice]"#;
    let got = problems(&edited("headroom.toml", "mode = \"recommend\"", ""));
    assert!(got.is_empty(), "mode may be left out: {got:?}");
    let mut s = Sources::embedded();
    s.headroom.1 = s
        .headroom
        .1
        .replacen("mode = \"recommend\"", "", 1)
        .replacen("\n[advice]", &format!("\n{bad}"), 1);
    // The shipped [apply] already has kinds; drop it so the bad list is the only one.
    s.headroom.1 = s
        .headroom
        .1
        .replacen("kinds = [\"rightsize\", \"asg-limits\", \"dynamodb\"]\n", "", 1);
    let got = problems(&s);
    let has = |k: &str| got.iter().any(|p| p.contains(k));
    assert!(has("apply.mode: unknown mode `yolo`"), "{got:?}");
    assert!(has("apply.kinds[1]: commitments are never applied"), "{got:?}");
    assert!(has("apply.kinds[2]: unknown kind `nope`"), "{got:?}");
    assert!(has("apply.resources[1]: `web` is not a resource"), "{got:?}");
    assert!(has("apply.windows[0].duration"), "{got:?}");
    assert!(has("apply.windows[1].duration: bad duration `forever`"), "{got:?}");
}

#[test]
fn apply_defaults_to_recommend_and_the_legacy_enabled_key_is_refused() {
    let c = Config::embedded().unwrap();
    assert_eq!(c.headroom.apply.mode, ApplyMode::Recommend);
    assert_eq!(c.headroom.apply.kill_switch, c.headroom.store.path.with_file_name("stop-apply"));
    // Issue 35, item 5: `enabled = true` silently meant auto mode.
    let s = edited("headroom.toml", "mode = \"recommend\"", "enabled = true");
    let e = Config::from_sources(&s).unwrap_err().to_string();
    assert!(
        e.contains("apply.enabled: `enabled = true` is no longer read: it meant auto mode"),
        "{e}"
    );
    assert!(e.contains("mode = \"auto\""), "the replacement is named: {e}");
    let s = edited("headroom.toml", "mode = \"recommend\"", "enabled = false");
    let c = Config::from_sources(&s).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.headroom.apply.mode, ApplyMode::Recommend);
}
