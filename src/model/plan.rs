//! `headroom plan`: a capacity plan from inputs. A profile (TOML) or `--set key=value` gives
//! inputs with their units; every figure derivable from them is computed with its formula,
//! its inputs and its unit, then the tier, its bundle, the bundle's monthly cost under each
//! purchase option and when growth reaches the next tier.
//!
//! A planner's what-ifs: figures known already may be given (`GIVEN`: used downstream, shown
//! "given", a contradiction with their own inputs is a note); traffic from daily active users
//! (requests per day → average and peak rate → bandwidth in bytes and bits); a per-region
//! split with load balancers sized by targets, request rate and bandwidth (the binding limit
//! named); a safety buffer; a growth table; purchase assumptions (spot discount, on-demand
//! share, commitment share and kind, Fargate Spot share) priced at min, desired and max.
//!
//! Profiles may hold scenarios (the same formulas at other concurrencies, e.g. each tier's
//! bound), Fargate task lists and priced line items (services outside the price table, with
//! the unit price the plan states).
//!
//! Pure. May use: config, domain, model.

use super::capacity::{self, Consistency, PodLoad};
use super::tiers::{self, At, Option_};
use super::units::*;
use super::workload as w;
use crate::config::{Config, Tier};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("{source_name}: {key}: {problem}")]
    Input { source_name: String, key: String, problem: String },
    #[error(
        "{source_name}: figure {figure} ({formula}) does not fit in a number: the inputs are too large (or a divisor too small) to plan with; check {inputs}"
    )]
    Overflow {
        source_name: String,
        figure: String,
        formula: String,
        inputs: String,
    },
}

/// The largest count a plan shows: every whole number up to 2^53 is exact in an f64.
const MAX_EXACT_COUNT: f64 = 9_007_199_254_740_992.0;

fn input_err(src: &str, key: &str, problem: impl Into<String>) -> PlanError {
    PlanError::Input {
        source_name: src.to_string(),
        key: key.to_string(),
        problem: problem.into(),
    }
}

/// An input headroom knows: its kind, the unit a bare number is read in, whether it must be
/// positive, and what it means.
struct Spec {
    key: &'static str,
    kind: Kind,
    unit: &'static str,
    positive: bool,
    doc: &'static str,
}

const fn spec(key: &'static str, kind: Kind, unit: &'static str, positive: bool, doc: &'static str) -> Spec {
    Spec {
        key,
        kind,
        unit,
        positive,
        doc,
    }
}

const SPECS: &[Spec] = &[
    spec("concurrent_users", Kind::Count, "", true, "users online at the same time"),
    spec("total_users", Kind::Count, "", true, "registered users"),
    spec(
        "daily_active_users",
        Kind::Count,
        "",
        true,
        "daily active users, when given directly",
    ),
    spec("active_share", Kind::Share, "", false, "share of total users active each day"),
    spec(
        "peak_share",
        Kind::Share,
        "",
        false,
        "share of daily active users online at the peak",
    ),
    spec("session_length", Kind::Duration, "s", true, "average session"),
    spec("requests_per_session", Kind::Count, "", true, "requests a user makes per session"),
    spec(
        "requests_per_user_per_minute",
        Kind::Count,
        "",
        true,
        "requests an active user makes per minute",
    ),
    spec("peak_requests_per_minute", Kind::Count, "", true, "requests per minute at the peak"),
    spec("request_size", Kind::Size, "KB", false, "average request"),
    spec("response_size", Kind::Size, "KB", false, "average response"),
    spec("memory_per_user", Kind::Size, "MB", false, "server memory per concurrent user"),
    spec("storage_per_user", Kind::Size, "KB", false, "stored data per user"),
    spec("storage_growth_daily", Kind::Share, "", false, "daily growth of stored data"),
    spec(
        "buffer",
        Kind::Share,
        "",
        false,
        "safety buffer: instances (by users and by memory) and storage are shown with it too",
    ),
    spec(
        "instance_memory",
        Kind::Size,
        "GB",
        true,
        "memory of one instance (default: the price table's)",
    ),
    spec(
        "users_per_instance_low",
        Kind::Count,
        "",
        true,
        "users one instance serves, low end",
    ),
    spec(
        "users_per_instance_high",
        Kind::Count,
        "",
        true,
        "users one instance serves, high end",
    ),
    spec(
        "requests_per_pod_per_second",
        Kind::ReqRate,
        "req/s",
        true,
        "requests one backend pod serves",
    ),
    spec(
        "spike_buffer",
        Kind::Count,
        "",
        true,
        "multiplier on required pods (default sizing.toml)",
    ),
    spec(
        "max_multiplier",
        Kind::Count,
        "",
        true,
        "max pods = min pods x this (default sizing.toml)",
    ),
    spec(
        "node_buffer",
        Kind::Count,
        "",
        true,
        "multiplier on required nodes (default sizing.toml)",
    ),
    spec(
        "node_usable_cpu",
        Kind::Count,
        "",
        true,
        "usable cores per node (default sizing.toml)",
    ),
    spec(
        "node_usable_memory",
        Kind::Size,
        "MB",
        true,
        "usable memory per node (default sizing.toml)",
    ),
    spec("backend_pods", Kind::Count, "", false, "backend pods"),
    spec("backend_pod_cpu", Kind::Count, "", false, "cores each backend pod requests"),
    spec("backend_pod_memory", Kind::Size, "MB", false, "memory each backend pod requests"),
    spec("frontend_pods", Kind::Count, "", false, "frontend pods"),
    spec("frontend_pod_cpu", Kind::Count, "", false, "cores each frontend pod requests"),
    spec("frontend_pod_memory", Kind::Size, "MB", false, "memory each frontend pod requests"),
    spec(
        "dynamodb_reads_per_user",
        Kind::Count,
        "",
        false,
        "DynamoDB reads per second per concurrent user",
    ),
    spec(
        "dynamodb_writes_per_user",
        Kind::Count,
        "",
        false,
        "DynamoDB writes per second per concurrent user",
    ),
    spec("dynamodb_read_item_size", Kind::Size, "KB", true, "item size read (default 4 KB)"),
    spec(
        "dynamodb_write_item_size",
        Kind::Size,
        "KB",
        true,
        "item size written (default 1 KB)",
    ),
    spec("growth_monthly", Kind::Share, "", false, "month-over-month user growth"),
    spec("peak_factor", Kind::Count, "", true, "peak rate over the daily average"),
    spec("regions", Kind::Count, "", true, "regions the fleet is spread over"),
    spec(
        "baseline_share",
        Kind::Share,
        "",
        false,
        "baseline fleet as a share of the peak fleet",
    ),
    spec("max_buffer", Kind::Share, "", false, "maximum fleet buffer over the peak fleet"),
    spec(
        "instances_per_alb",
        Kind::Count,
        "",
        true,
        "instances (targets) behind one load balancer (default 1,000: AWS's targets per ALB quota)",
    ),
    spec("cdn_hit_ratio", Kind::Share, "", false, "CDN cache hit ratio"),
    spec("compression", Kind::Share, "", false, "payload reduction from compression"),
    spec(
        "db_replicas_per_region",
        Kind::Count,
        "",
        false,
        "database read replicas per region",
    ),
    spec(
        "stated_instance_price",
        Kind::Money,
        "$",
        false,
        "an hourly instance price a plan states, checked against the price table",
    ),
    spec(
        "on_demand_share",
        Kind::Share,
        "",
        false,
        "on-demand share of a spot mix (default 30 %)",
    ),
    spec(
        "spot_discount",
        Kind::Share,
        "",
        false,
        "spot price's discount off on-demand (default: each type's in pricing.toml)",
    ),
    spec(
        "commitment_share",
        Kind::Share,
        "",
        false,
        "share of the desired nodes on a 1-yr Savings Plan in the blended cost (default 0)",
    ),
    spec(
        "peak_concurrent_users",
        Kind::Count,
        "",
        true,
        "given figure: users online at the peak (else DAU × peak_share)",
    ),
    spec("avg_rps", Kind::ReqRate, "req/s", true, "given figure: average requests per second"),
    spec("peak_rps", Kind::ReqRate, "req/s", true, "given figure: peak requests per second"),
    spec(
        "storage",
        Kind::Size,
        "GB",
        true,
        "given figure: stored data (else users × storage_per_user)",
    ),
    spec(
        "sessions_per_user_per_day",
        Kind::Count,
        "",
        true,
        "sessions a daily active user opens per day (with requests_per_session: requests per day)",
    ),
    spec(
        "requests_per_user_per_day",
        Kind::Count,
        "",
        true,
        "requests a daily active user makes per day (instead of sessions × requests_per_session)",
    ),
    spec(
        "requests_per_day",
        Kind::Count,
        "",
        true,
        "given figure: requests per day (else DAU × requests per user per day)",
    ),
    spec(
        "peak_bandwidth",
        Kind::BitRate,
        "Gbit/s",
        true,
        "given figure: peak bandwidth (else daily transfer ÷ 86,400 s × peak_factor × 8)",
    ),
    spec(
        "peak_instances",
        Kind::Count,
        "",
        true,
        "given figure: instances at the peak (else ⌈peak users ÷ users per instance⌉)",
    ),
    spec(
        "required_pods",
        Kind::Count,
        "",
        true,
        "given figure: backend pods the average rate needs (else avg_rps ÷ requests per pod)",
    ),
    spec(
        "required_nodes",
        Kind::Count,
        "",
        true,
        "given figure: nodes the pods need (else the larger of CPU and memory)",
    ),
    spec(
        "dynamodb_rcu",
        Kind::Count,
        "",
        true,
        "given figure: DynamoDB read capacity units (else reads/s × units per read)",
    ),
    spec(
        "dynamodb_wcu",
        Kind::Count,
        "",
        true,
        "given figure: DynamoDB write capacity units (else writes/s × units per write)",
    ),
    spec(
        "alb_max_rps",
        Kind::ReqRate,
        "req/s",
        true,
        "requests per second one load balancer is planned for (AWS sets no fixed limit; a plan states one)",
    ),
    spec(
        "alb_max_bandwidth",
        Kind::BitRate,
        "Gbit/s",
        true,
        "bandwidth one load balancer is planned for",
    ),
    spec(
        "fargate_spot_share",
        Kind::Share,
        "",
        false,
        "share of Fargate tasks on Fargate Spot (default 0; its discount from pricing.toml)",
    ),
    spec(
        "fargate_spot_discount",
        Kind::Share,
        "",
        false,
        "Fargate Spot's discount off Fargate (default pricing.toml's [fargate])",
    ),
    spec(
        "link_capacity",
        Kind::BitRate,
        "Gbit/s",
        true,
        "network capacity to compare peak bandwidth with",
    ),
    spec("devtest_hours_per_month", Kind::Count, "", true, "hours a month dev/test runs"),
];

const TEXT_KEYS: &[(&str, &str)] = &[
    (
        "growth_months",
        "months after which the growth table shows users, instances, storage and cost (default 3, 6, 12, 24)",
    ),
    (
        "user_thresholds",
        "concurrent-user counts whose crossing month the growth table gives, e.g. \"5000, 20000\"",
    ),
    (
        "region_split",
        "traffic share of each region, e.g. \"us-east-1=50%, eu-west-1=30%, ap-south-1=20%\" (default: an equal split over `regions`)",
    ),
    ("instance_type", "instance type of the fleet, from pricing.toml"),
    ("dynamodb_consistency", "eventual, strong or transactional (default eventual)"),
    (
        "commitment",
        "what commitment_share buys: 1-yr RI, 3-yr RI, 1-yr SP or 3-yr SP (default 1-yr SP)",
    ),
    (
        "tier",
        "the tier whose bundle a scenario uses (default: the tier its users fall in)",
    ),
];

/// Figures that may also be given (`--set peak_rps=2000`): a given figure is used as it is
/// by every figure computed from it, shown as "given", and compared with what its own inputs
/// give when they are there too (a contradiction is a note, never silently resolved).
const GIVEN: &[&str] = &[
    "peak_concurrent_users",
    "requests_per_day",
    "avg_rps",
    "peak_rps",
    "peak_bandwidth",
    "storage",
    "peak_instances",
    "required_pods",
    "required_nodes",
    "dynamodb_rcu",
    "dynamodb_wcu",
];

/// The purchase option `commitment` names ("1-yr RI", "3yr sp", "1-yr Savings Plan", …).
fn commitment_option(text: &str) -> Option<Option_> {
    let t = text.to_lowercase().replace([' ', '-'], "");
    let years = if t.starts_with('1') {
        1
    } else if t.starts_with('3') {
        3
    } else {
        return None;
    };
    let rest = t.trim_start_matches(['1', '3']).trim_start_matches("yr").trim_start_matches("year");
    match (years, rest) {
        (1, "ri" | "reserved" | "reservedinstance") => Some(Option_::Ri1),
        (3, "ri" | "reserved" | "reservedinstance") => Some(Option_::Ri3),
        (1, "sp" | "savingsplan") => Some(Option_::Sp1),
        (3, "sp" | "savingsplan") => Some(Option_::Sp3),
        _ => None,
    }
}

/// The regions of `region_split` with their traffic shares: `NAME=SHARE` items (or bare
/// shares, named 1, 2, …) separated by commas, the shares adding up to 100 %.
fn region_split(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for (i, item) in text.split(',').enumerate() {
        let item = item.trim();
        let (name, share) = match item.split_once('=') {
            Some((n, s)) => (n.trim().to_string(), s.trim()),
            None => ((i + 1).to_string(), item),
        };
        let ok_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok_name {
            return Err(format!(
                "region `{name}` in {item:?}: a region is named with letters, digits and dashes (e.g. us-east-1=50%)"
            ));
        }
        let v = parse(share, Kind::Share, "").map_err(|e| format!("region {name}: {e}"))?;
        if !(0.0..=1.0).contains(&v) || v == 0.0 {
            return Err(format!("region {name}: `{share}` is not a share above 0 and up to 100 %"));
        }
        // Figure names use the region lowercased with `_` for `-`: those must differ too.
        let key = |n: &str| n.to_lowercase().replace('-', "_");
        if out.iter().any(|(n, _)| key(n) == key(&name)) {
            return Err(format!("region {name} is named twice"));
        }
        out.push((name, v));
    }
    let sum: f64 = out.iter().map(|r| r.1).sum();
    if (sum - 1.0).abs() > 0.005 {
        return Err(format!(
            "the shares add up to {} %, not 100 % (e.g. \"us-east-1=60%, eu-west-1=40%\")",
            Num((sum * 1000.0).round() / 10.0)
        ));
    }
    Ok(out)
}

/// Parsed inputs: quantities in base units, and text values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inputs {
    pub values: BTreeMap<String, f64>,
    pub text: BTreeMap<String, String>,
}

impl Inputs {
    /// Sets `key` from `raw` (a TOML number or a string with a unit), validating it.
    pub fn set(&mut self, src: &str, key: &str, raw: &toml::Value, pricing: &crate::config::Pricing) -> Result<(), PlanError> {
        if let Some((_, _)) = TEXT_KEYS.iter().find(|(k, _)| *k == key) {
            let s = raw.as_str().ok_or_else(|| input_err(src, key, "expected a quoted name"))?;
            if key == "instance_type" && !pricing.instances.contains_key(s) {
                return Err(input_err(
                    src,
                    key,
                    format!(
                        "unknown instance type `{s}` (add it to pricing.toml, or use one of: {})",
                        pricing.instances.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            if key == "commitment" && commitment_option(s).is_none() {
                return Err(input_err(src, key, format!("`{s}` is not 1-yr RI, 3-yr RI, 1-yr SP or 3-yr SP")));
            }
            if key == "region_split" {
                region_split(s).map_err(|e| input_err(src, key, e))?;
            }
            if key == "dynamodb_consistency" && Consistency::parse(s).is_none() {
                return Err(input_err(src, key, format!("`{s}` is not eventual, strong or transactional")));
            }
            self.text.insert(key.to_string(), s.to_string());
            return Ok(());
        }
        let spec = SPECS.iter().find(|s| s.key == key).ok_or_else(|| {
            let mut known: Vec<&str> = SPECS.iter().map(|s| s.key).chain(TEXT_KEYS.iter().map(|t| t.0)).collect();
            known.sort();
            input_err(src, key, format!("unknown input (known inputs: {})", known.join(", ")))
        })?;
        let text = match raw {
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::String(s) => s.clone(),
            other => {
                return Err(input_err(
                    src,
                    key,
                    format!("expected a number or a quoted quantity, found {}", other.type_str()),
                ));
            }
        };
        let v = parse(&text, spec.kind, spec.unit).map_err(|e| input_err(src, key, e))?;
        if spec.kind == Kind::Share && !(0.0..=1.0).contains(&v) {
            let side = if v < 0.0 { "below 0 %" } else { "above 100 %" };
            return Err(input_err(
                src,
                key,
                format!("`{text}` is a share {side} (a share is between 0 and 100 %)"),
            ));
        }
        if v < 0.0 || (spec.positive && v == 0.0) {
            let what = if spec.positive {
                "must be above zero"
            } else {
                "must not be negative"
            };
            return Err(input_err(src, key, format!("`{text}` {what} ({})", spec.doc)));
        }
        self.values.insert(key.to_string(), v);
        Ok(())
    }

    /// Parses `key=value` as given to `--set`.
    pub fn set_flag(&mut self, flag: &str, pricing: &crate::config::Pricing) -> Result<(), PlanError> {
        let (k, v) = flag
            .split_once('=')
            .ok_or_else(|| input_err("--set", flag, "expected key=value, e.g. --set concurrent_users=500"))?;
        let (k, v) = (k.trim(), v.trim());
        let raw = match v.parse::<f64>() {
            Ok(_) => toml::Value::String(v.to_string()),
            Err(_) => toml::Value::String(v.trim_matches('"').to_string()),
        };
        self.set("--set", k, &raw, pricing)
    }

    fn get(&self, k: &str) -> Option<f64> {
        self.values.get(k).copied()
    }
}

/// Purchase assumptions: what a plan assumes about prices, each defaulting to pricing.toml.
const ASSUMPTIONS: &[&str] = &[
    "on_demand_share",
    "spot_discount",
    "commitment_share",
    "fargate_spot_share",
    "fargate_spot_discount",
    "stated_instance_price",
];

/// One input as `plan --list-inputs` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InputDoc {
    /// "input", "given figure", "assumption" or "text".
    pub group: &'static str,
    pub key: String,
    /// The unit a bare number is read in, and what else is accepted.
    pub unit: String,
    /// The value used when the input is absent ("none": the figures needing it are not shown).
    pub default: String,
    pub doc: String,
}

/// Splits "what it is (default X)" into ("what it is", "X").
fn split_default(doc: &str) -> (String, String) {
    match doc.find("(default") {
        Some(i) => {
            let rest = &doc[i + "(default".len()..];
            let end = rest.rfind(')').unwrap_or(rest.len());
            let d = rest[..end].trim_start_matches(':').trim();
            let d = d.split_once(';').map(|(a, _)| a.trim()).unwrap_or(d);
            (
                format!("{}{}", doc[..i].trim_end(), &rest[(end + 1).min(rest.len())..]),
                d.to_string(),
            )
        }
        None => (doc.to_string(), "none".to_string()),
    }
}

/// The inputs headroom knows, for `plan --list-inputs` and error hints: every input, given
/// figure and purchase assumption with its unit and default.
pub fn input_docs() -> Vec<InputDoc> {
    let mut v: Vec<InputDoc> = SPECS
        .iter()
        .map(|s| {
            let (doc, default) = split_default(s.doc);
            let unit = match (s.kind, s.unit) {
                (Kind::Share, _) => "% (or a fraction)".to_string(),
                (Kind::Money, _) => "USD".to_string(),
                (_, "") => "count".to_string(),
                (Kind::Size, u) => format!("{u} (any size: B, KB, GiB, …)"),
                (Kind::BitRate, u) => format!("{u} (bits: Mbit/s, Gbps, …)"),
                (_, u) => u.to_string(),
            };
            let group = if GIVEN.contains(&s.key) {
                "given figure"
            } else if ASSUMPTIONS.contains(&s.key) {
                "assumption"
            } else {
                "input"
            };
            InputDoc {
                group,
                key: s.key.to_string(),
                unit,
                default,
                doc: doc.trim_start_matches("given figure: ").to_string(),
            }
        })
        .collect();
    v.extend(TEXT_KEYS.iter().map(|(k, d)| {
        let (doc, default) = split_default(d);
        InputDoc {
            group: "text",
            key: k.to_string(),
            unit: "text".into(),
            default,
            doc,
        }
    }));
    v
}

#[derive(Clone, Debug, PartialEq)]
pub struct FargateTask {
    pub name: String,
    pub vcpu: f64,
    pub memory_gb: f64,
    pub tasks: f64,
}

/// A service priced by the plan itself: unit price per hour, month, thousand, million or day.
#[derive(Clone, Debug, PartialEq)]
pub struct LineItem {
    pub name: String,
    pub group: String,
    pub unit_price: f64,
    pub per: String,
    pub quantity: f64,
    pub multiplier: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub inputs: Inputs,
}

/// A whole profile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    pub name: String,
    pub source: String,
    pub inputs: Inputs,
    pub scenarios: Vec<Scenario>,
    pub fargate: Vec<FargateTask>,
    pub items: Vec<LineItem>,
}

fn num(src: &str, t: &toml::Table, key: &str) -> Result<f64, PlanError> {
    match t.get(key) {
        Some(toml::Value::Integer(i)) => Ok(*i as f64),
        Some(toml::Value::Float(f)) if f.is_finite() => Ok(*f),
        Some(_) => Err(input_err(src, key, "expected a number")),
        None => Err(input_err(src, key, "missing")),
    }
}

fn text(src: &str, t: &toml::Table, key: &str) -> Result<String, PlanError> {
    t.get(key)
        .and_then(|v| v.as_str())
        .map(String::from)
        .ok_or_else(|| input_err(src, key, "missing or not a string"))
}

impl Profile {
    /// Reads a profile file's text. `src` names it in errors.
    pub fn parse(src: &str, body: &str, cfg: &Config) -> Result<Profile, PlanError> {
        let t: toml::Table = body
            .parse()
            .map_err(|e: toml::de::Error| input_err(src, "(file)", format!("not valid TOML: {}", e.message())))?;
        let mut p = Profile {
            name: t.get("name").and_then(|v| v.as_str()).unwrap_or(src).to_string(),
            ..Default::default()
        };
        p.source = t.get("source").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        for k in t.keys() {
            if !["name", "source", "description", "inputs", "scenario", "fargate", "item"].contains(&k.as_str()) {
                return Err(input_err(
                    src,
                    k,
                    "unknown section (a profile has name, source, description, [inputs], [[scenario]], [[fargate]], [[item]])",
                ));
            }
        }
        if let Some(inp) = t.get("inputs").and_then(|v| v.as_table()) {
            for (k, v) in inp {
                p.inputs.set(src, k, v, &cfg.pricing)?;
            }
        }
        for (i, s) in t.get("scenario").and_then(|v| v.as_array()).into_iter().flatten().enumerate() {
            let st = s
                .as_table()
                .ok_or_else(|| input_err(src, &format!("scenario[{i}]"), "expected a table"))?;
            let name = text(src, st, "name")?;
            let mut inputs = p.inputs.clone();
            for (k, v) in st.iter().filter(|(k, _)| k.as_str() != "name") {
                inputs.set(&format!("{src} scenario {name}"), k, v, &cfg.pricing)?;
            }
            p.scenarios.push(Scenario { name, inputs });
        }
        for (i, f) in t.get("fargate").and_then(|v| v.as_array()).into_iter().flatten().enumerate() {
            let ft = f
                .as_table()
                .ok_or_else(|| input_err(src, &format!("fargate[{i}]"), "expected a table"))?;
            let task = FargateTask {
                name: text(src, ft, "name")?,
                vcpu: num(src, ft, "vcpu")?,
                memory_gb: num(src, ft, "memory_gb")?,
                tasks: num(src, ft, "tasks")?,
            };
            if task.vcpu <= 0.0 || task.memory_gb <= 0.0 || task.tasks <= 0.0 {
                return Err(input_err(
                    src,
                    &format!("fargate.{}", task.name),
                    "vcpu, memory_gb and tasks must be above zero",
                ));
            }
            p.fargate.push(task);
        }
        for (i, it) in t.get("item").and_then(|v| v.as_array()).into_iter().flatten().enumerate() {
            let tt = it
                .as_table()
                .ok_or_else(|| input_err(src, &format!("item[{i}]"), "expected a table"))?;
            let item = LineItem {
                name: text(src, tt, "name")?,
                group: tt.get("group").and_then(|v| v.as_str()).unwrap_or("services").to_string(),
                unit_price: num(src, tt, "unit_price")?,
                per: text(src, tt, "per")?,
                quantity: num(src, tt, "quantity").unwrap_or(1.0),
                multiplier: num(src, tt, "multiplier").unwrap_or(1.0),
            };
            if !["hour", "month", "thousand", "million", "day"].contains(&item.per.as_str()) {
                return Err(input_err(
                    src,
                    &format!("item.{}.per", item.name),
                    format!("`{}` is not hour, month, thousand, million or day", item.per),
                ));
            }
            if item.unit_price < 0.0 || item.quantity < 0.0 || item.multiplier < 0.0 {
                return Err(input_err(
                    src,
                    &format!("item.{}", item.name),
                    "prices and quantities must not be negative",
                ));
            }
            p.items.push(item);
        }
        Ok(p)
    }
}

/// One derived figure: name, value in its base unit, how it is shown, and how it was derived.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figure {
    pub name: String,
    /// In the base unit of its kind (bytes, bytes/s, bit/s, req/s, s, share, USD, count).
    pub value: f64,
    #[serde(skip)]
    pub kind: Kind,
    /// Display unit, and the value in it.
    pub unit: String,
    pub shown: f64,
    pub formula: String,
    pub inputs: BTreeMap<String, String>,
    /// Given with `--set` or in the profile rather than computed.
    pub given: bool,
}

/// What a plan found about tiers for its users.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TierFit {
    pub scenario: String,
    pub users: f64,
    pub tier: String,
    pub range: (f64, f64),
    pub bundle: Vec<String>,
    pub monthly_by_option: Vec<(String, f64, f64)>,
    pub next_tier: Option<String>,
    pub months_to_next: Option<u32>,
    pub migration_steps: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub profile: String,
    pub source: String,
    pub figures: Vec<Figure>,
    pub tiers: Vec<TierFit>,
    pub notes: Vec<String>,
}

impl Plan {
    pub fn figure(&self, name: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.name == name)
    }
}

struct Calc<'a> {
    cfg: &'a Config,
    inp: &'a Inputs,
    prefix: String,
    figs: Vec<Figure>,
    notes: Vec<String>,
}

/// Display unit and divisor for a figure's kind.
fn display(kind: Kind, unit: &str) -> (String, f64) {
    let div = match unit {
        "KB" | "KB/s" | "kbit/s" => 1e3,
        "MB" | "MB/s" | "Mbit/s" => 1e6,
        "GB" | "GB/s" | "Gbit/s" => 1e9,
        "TB" | "Tbit/s" => 1e12,
        "PB" => 1e15,
        "%" => 0.01,
        "min" => 60.0,
        _ => 1.0,
    };
    let _ = kind;
    (unit.to_string(), div)
}

impl Calc<'_> {
    fn v(&self, k: &str) -> Option<f64> {
        self.inp.get(k)
    }
    fn name(&self, n: &str) -> String {
        if self.prefix.is_empty() {
            n.to_string()
        } else {
            format!("{}.{n}", self.prefix)
        }
    }
    /// A value already computed in this scenario, or given.
    fn f(&self, n: &str) -> Option<f64> {
        let full = self.name(n);
        self.figs.iter().find(|f| f.name == full).map(|f| f.value).or_else(|| self.given(n))
    }
    /// Whether this scenario has computed (or taken as given) figure `n` already.
    fn has(&self, n: &str) -> bool {
        let full = self.name(n);
        self.figs.iter().any(|f| f.name == full)
    }
    /// The value of a figure the inputs give.
    fn given(&self, n: &str) -> Option<f64> {
        GIVEN.contains(&n).then(|| self.v(n)).flatten()
    }
    /// A figure of this scenario, its value shown in `unit`.
    fn figure(&self, n: &str, value: f64, kind: Kind, unit: &str, formula: &str, given: bool) -> (Figure, f64) {
        let (unit, div) = display(kind, unit);
        let fig = Figure {
            name: self.name(n),
            value,
            kind,
            unit,
            shown: value / div,
            formula: formula.to_string(),
            inputs: BTreeMap::new(),
            given,
        };
        (fig, div)
    }
    fn add(&mut self, n: &str, value: f64, kind: Kind, unit: &str, formula: &str, inputs: &[(&str, String)]) {
        let (mut fig, div) = self.figure(n, value, kind, unit, formula, false);
        fig.inputs = inputs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        if let Some(g) = self.given(n) {
            // Given: the given value stands; what the inputs give is shown beside it, and a
            // difference of more than 0.5 % is a contradiction to report.
            let computed = format!("{} {}", Num(value / div), fig.unit).trim().to_string();
            if (g - value).abs() > 0.005 * g.abs().max(value.abs()) {
                self.notes.push(format!(
                    "{}: given as {} but its inputs give {computed} ({formula}): check one or the other",
                    fig.name,
                    format!("{} {}", Num(g / div), fig.unit).trim()
                ));
            }
            fig.value = g;
            fig.shown = g / div;
            fig.formula = "given".into();
            fig.inputs = BTreeMap::from([(format!("its inputs give ({formula})"), computed)]);
            fig.given = true;
        }
        self.figs.push(fig);
    }
    /// The given figures nothing computed, as figures of their own.
    fn add_given_rest(&mut self) {
        for n in GIVEN {
            let full = self.name(n);
            if let Some(g) = self.given(n)
                && !self.figs.iter().any(|f| f.name == full)
                && let Some(spec) = SPECS.iter().find(|s| s.key == *n)
            {
                let (fig, _) = self.figure(n, g, spec.kind, spec.unit, "given", true);
                self.figs.push(fig);
            }
        }
    }
    fn shown(&self, k: &str) -> String {
        let spec = SPECS.iter().find(|s| s.key == k);
        match (self.v(k), spec) {
            // A share reads as a percentage: "buffer 20 %", not "buffer 0.2000".
            (Some(v), Some(s)) if s.kind == Kind::Share => format!("{} %", Num((v * 1e6).round() / 1e4)),
            (Some(v), Some(s)) => {
                let (u, d) = display(s.kind, s.unit);
                if u.is_empty() {
                    format!("{}", Num(v / d))
                } else {
                    format!("{} {u}", Num(v / d))
                }
            }
            (Some(v), None) => format!("{}", Num(v)),
            _ => String::new(),
        }
    }
    fn fig_shown(&self, n: &str) -> String {
        let full = self.name(n);
        match self.figs.iter().find(|f| f.name == full) {
            Some(f) => format!("{} {}", Num(f.shown), f.unit).trim().to_string(),
            None if self.given(n).is_some() => self.shown(n),
            None => String::new(),
        }
    }
}

/// Computes every figure the inputs allow, for the base inputs and each scenario.
pub fn plan(profile: &Profile, cfg: &Config) -> Result<Plan, PlanError> {
    let mut out = Plan {
        profile: profile.name.clone(),
        source: profile.source.clone(),
        figures: vec![],
        tiers: vec![],
        notes: vec![],
    };
    let mut runs: Vec<(String, &Inputs)> = vec![(String::new(), &profile.inputs)];
    for s in &profile.scenarios {
        runs.push((s.name.clone(), &s.inputs));
    }
    for (prefix, inp) in runs {
        let mut c = Calc {
            cfg,
            inp,
            prefix: prefix.clone(),
            figs: vec![],
            notes: vec![],
        };
        // Errors inside a run name its scenario (empty for the base); said with the source
        // ("--set" or the profile's file), not as ": growth_months".
        let named = |e: PlanError| match e {
            PlanError::Input { source_name, key, problem } if source_name == prefix => PlanError::Input {
                source_name: if prefix.is_empty() {
                    profile.source.clone()
                } else {
                    format!("{}: scenario {prefix}", profile.source)
                },
                key,
                problem,
            },
            e => e,
        };
        workload(&mut c);
        compute(&mut c).map_err(named)?;
        dynamodb(&mut c);
        high_traffic(&mut c);
        regions(&mut c, &prefix).map_err(named)?;
        if let Some(fit) = tier_fit(&mut c, &prefix).map_err(named)? {
            out.tiers.push(fit);
        }
        growth(&mut c, &prefix).map_err(named)?;
        c.add_given_rest();
        out.figures.extend(c.figs);
        out.notes.extend(c.notes);
    }
    let mut c = Calc {
        cfg,
        inp: &profile.inputs,
        prefix: String::new(),
        figs: vec![],
        notes: vec![],
    };
    fargate(&mut c, &profile.fargate);
    items(&mut c, &profile.items)?;
    out.figures.extend(c.figs);
    out.notes.extend(c.notes);
    // A figure that is not a finite number came from inputs too large for the arithmetic
    // (1e308 users): say so, rather than print or drop it.
    // A count beyond 2^53 is no longer a whole number in f64, and one that saturated (a
    // division by a figure near zero: users_per_instance_low = 1e-300) is no count at all.
    if let Some(f) = out
        .figures
        .iter()
        .find(|f| !f.value.is_finite() || (f.kind == Kind::Count && f.value.abs() > MAX_EXACT_COUNT))
    {
        let inputs = if f.inputs.is_empty() {
            "the profile's inputs".to_string()
        } else {
            f.inputs.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
        };
        return Err(PlanError::Overflow {
            source_name: profile.source.clone(),
            figure: f.name.clone(),
            formula: f.formula.clone(),
            inputs,
        });
    }
    if out.figures.is_empty() {
        out.notes.push(
            "no figure could be derived: give at least concurrent_users with a request rate, or see `headroom plan --help` for the inputs"
                .into(),
        );
    }
    Ok(out)
}

fn workload(c: &mut Calc) {
    // Per-user request rate: from sessions, or from requests per minute.
    let per_user_rps = match (
        c.v("requests_per_session"),
        c.v("session_length"),
        c.v("requests_per_user_per_minute"),
    ) {
        (Some(r), Some(s), _) => Some((
            r / s,
            "requests_per_session ÷ session_length",
            vec![
                ("requests_per_session", c.shown("requests_per_session")),
                ("session_length", c.shown("session_length")),
            ],
        )),
        (_, _, Some(m)) => Some((
            m / 60.0,
            "requests_per_user_per_minute ÷ 60",
            vec![("requests_per_user_per_minute", c.shown("requests_per_user_per_minute"))],
        )),
        _ => None,
    };
    if let (Some(u), Some((r, how, ins))) = (c.v("concurrent_users"), per_user_rps.clone()) {
        let rps = if how.starts_with("requests_per_session") {
            w::rps_from_sessions(
                u,
                c.v("requests_per_session").unwrap_or(0.0),
                Seconds(c.v("session_length").unwrap_or(1.0)),
            )
        } else {
            w::rps_from_rate(u, c.v("requests_per_user_per_minute").unwrap_or(0.0))
        };
        debug_assert!((rps.0 - u * r).abs() < 1e-6 * rps.0.max(1.0));
        let mut i = vec![("concurrent_users", c.shown("concurrent_users"))];
        i.extend(ins.iter().map(|(k, v)| (*k, v.clone())));
        match c.given("requests_per_day") {
            // A given daily volume sets the average rate (traffic_from_dau): what the
            // concurrent users give is reported beside it, not used.
            Some(per_day) if c.given("avg_rps").is_none() => {
                let from_day = per_day / SECONDS_PER_DAY;
                if (rps.0 - from_day).abs() > 0.005 * rps.0.abs().max(from_day.abs()) {
                    c.notes.push(format!(
                        "{}: taken from the given requests_per_day ({} req/s); concurrent_users × {how} gives {} req/s: check one or the other",
                        c.name("avg_rps"),
                        Num(from_day),
                        Num(rps.0)
                    ));
                }
            }
            _ => c.add("avg_rps", rps.0, Kind::ReqRate, "req/s", &format!("concurrent_users × {how}"), &i),
        }
    }
    let dau = match (c.v("daily_active_users"), c.v("total_users"), c.v("active_share")) {
        (Some(d), _, _) => Some(d),
        (None, Some(t), Some(a)) => {
            let d = w::daily_active(t, Share(a));
            c.add(
                "dau",
                d,
                Kind::Count,
                "users",
                "total_users × active_share",
                &[("total_users", c.shown("total_users")), ("active_share", c.shown("active_share"))],
            );
            Some(d)
        }
        _ => None,
    };
    if let (Some(d), Some(p)) = (dau, c.v("peak_share")) {
        let peak = w::peak_concurrent(d, Share(p));
        c.add(
            "peak_concurrent_users",
            peak,
            Kind::Count,
            "users",
            "DAU × peak_share",
            &[("DAU", format!("{}", Num(d))), ("peak_share", c.shown("peak_share"))],
        );
    }
    if let Some(peak) = c.f("peak_concurrent_users")
        && let Some((r, how, _)) = &per_user_rps
    {
        c.add(
            "peak_rps",
            peak * r,
            Kind::ReqRate,
            "req/s",
            &format!("peak_concurrent_users × {how}"),
            &[("peak_concurrent_users", format!("{}", Num(peak)))],
        );
    }
    if let Some(m) = c.v("peak_requests_per_minute") {
        match c.has("peak_rps").then(|| c.f("peak_rps")).flatten() {
            // Two routes to one figure: the peak users' rate stands, a disagreement is a note.
            Some(from_users) => {
                if (from_users - m / 60.0).abs() > 0.005 * from_users.abs().max(m / 60.0) {
                    c.notes.push(format!(
                        "{}: the peak users give {} req/s but peak_requests_per_minute gives {} req/s: check one or the other",
                        c.name("peak_rps"),
                        Num(from_users),
                        Num(m / 60.0)
                    ));
                }
            }
            None => c.add(
                "peak_rps",
                m / 60.0,
                Kind::ReqRate,
                "req/s",
                "peak_requests_per_minute ÷ 60",
                &[("peak_requests_per_minute", c.shown("peak_requests_per_minute"))],
            ),
        }
    }
    traffic_from_dau(c, dau);
    for (rate, label) in [("avg_rps", "avg"), ("peak_rps", "peak")] {
        let Some(rps) = c.f(rate) else { continue };
        let mut total = 0.0;
        for (size, dir) in [("request_size", "in"), ("response_size", "out")] {
            if let Some(b) = c.v(size) {
                let r = w::data_rate(ReqRate(rps), Bytes(b));
                total += r.0;
                c.add(
                    &format!("bandwidth_{dir}_{label}"),
                    r.0,
                    Kind::ByteRate,
                    "KB/s",
                    &format!("{rate} × {size}"),
                    &[(rate, c.fig_shown(rate)), (size, c.shown(size))],
                );
            }
        }
        let sizes: Vec<&str> = ["request_size", "response_size"].into_iter().filter(|s| c.v(s).is_some()).collect();
        if !sizes.is_empty() {
            // Bytes to bits made explicit: a link, a load balancer and a NIC are rated in bit/s.
            let bits = ByteRate(total).bits();
            c.add(
                &format!("throughput_{label}"),
                total,
                Kind::ByteRate,
                "MB/s",
                &if sizes.len() == 1 {
                    format!("{rate} × {}", sizes[0])
                } else {
                    format!("{rate} × ({})", sizes.join(" + "))
                },
                &[(rate, c.fig_shown(rate))],
            );
            c.add(
                &format!("throughput_{label}_bits"),
                bits.0,
                Kind::BitRate,
                "Mbit/s",
                &format!("throughput_{label} (bytes/s) × 8 bits per byte"),
                &[],
            );
            c.add(
                &format!("transfer_{label}_per_day"),
                ByteRate(total).per_day().0,
                Kind::Size,
                "GB",
                &format!("throughput_{label} × 86,400 s"),
                &[],
            );
        }
    }
    // Memory and instances by memory.
    let inst_mem = c.v("instance_memory").or_else(|| {
        c.inp
            .text
            .get("instance_type")
            .and_then(|t| c.cfg.pricing.instances.get(t))
            .map(|p| p.memory_gib * 1_073_741_824.0)
    });
    for (users_key, label) in [("concurrent_users", "avg"), ("peak_concurrent_users", "peak")] {
        let users = if users_key == "concurrent_users" {
            c.v(users_key)
        } else {
            c.f(users_key)
        };
        let (Some(u), Some(m)) = (users, c.v("memory_per_user")) else {
            continue;
        };
        let mem = w::memory(u, Bytes(m));
        c.add(
            &format!("memory_{label}"),
            mem.0,
            Kind::Size,
            "GB",
            &format!("{users_key} × memory_per_user"),
            &[(users_key, format!("{}", Num(u))), ("memory_per_user", c.shown("memory_per_user"))],
        );
        if let Some(im) = inst_mem {
            let n = capacity::instances_for_memory(mem, Bytes(im));
            c.add(
                &format!("instances_by_memory_{label}"),
                n as f64,
                Kind::Count,
                "instances",
                &format!("⌈memory_{label} ÷ instance_memory⌉"),
                &[("instance_memory", format!("{} GB", Num(im / 1e9)))],
            );
            if let Some(b) = c.v("buffer") {
                c.add(
                    &format!("instances_by_memory_{label}_buffered"),
                    capacity::instances_for_memory(Bytes(mem.0 * (1.0 + b)), Bytes(im)) as f64,
                    Kind::Count,
                    "instances",
                    &format!("⌈memory_{label} × (1 + buffer) ÷ instance_memory⌉"),
                    &[("buffer", c.shown("buffer"))],
                );
            }
        }
    }
    // Instances by users per instance (low/high ends of the stated range).
    for (users_key, label) in [("concurrent_users", "avg"), ("peak_concurrent_users", "peak")] {
        let users = if users_key == "concurrent_users" {
            c.v(users_key)
        } else {
            c.f(users_key)
        };
        let Some(u) = users else { continue };
        if let (Some(lo), Some(hi)) = (c.v("users_per_instance_low"), c.v("users_per_instance_high")) {
            c.add(
                &format!("instances_{label}_low"),
                capacity::instances_for_users(u, hi) as f64,
                Kind::Count,
                "instances",
                &format!("⌈{users_key} ÷ users_per_instance_high⌉"),
                &[
                    (users_key, format!("{}", Num(u))),
                    ("users_per_instance_high", c.shown("users_per_instance_high")),
                ],
            );
            c.add(
                &format!("instances_{label}_high"),
                capacity::instances_for_users(u, lo) as f64,
                Kind::Count,
                "instances",
                &format!("⌈{users_key} ÷ users_per_instance_low⌉"),
                &[
                    (users_key, format!("{}", Num(u))),
                    ("users_per_instance_low", c.shown("users_per_instance_low")),
                ],
            );
            if let Some(b) = c.v("buffer") {
                for (end, per, key) in [("low", hi, "users_per_instance_high"), ("high", lo, "users_per_instance_low")] {
                    c.add(
                        &format!("instances_{label}_{end}_buffered"),
                        capacity::instances_for_users(u * (1.0 + b), per) as f64,
                        Kind::Count,
                        "instances",
                        &format!("⌈{users_key} × (1 + buffer) ÷ {key}⌉"),
                        &[("buffer", c.shown("buffer"))],
                    );
                }
            }
        }
    }
    // Storage.
    let store_users = c.v("total_users").or(c.v("daily_active_users"));
    if let (Some(u), Some(s)) = (store_users, c.v("storage_per_user")) {
        let st = w::storage(u, Bytes(s));
        let who = if c.v("total_users").is_some() {
            "total_users"
        } else {
            "daily_active_users"
        };
        c.add(
            "storage",
            st.0,
            Kind::Size,
            "GB",
            &format!("{who} × storage_per_user"),
            &[(who, format!("{}", Num(u))), ("storage_per_user", c.shown("storage_per_user"))],
        );
    }
    // From the stored data computed above or given.
    if let Some(st) = c.f("storage") {
        if let Some(b) = c.v("buffer") {
            c.add(
                "storage_buffered",
                st * (1.0 + b),
                Kind::Size,
                "GB",
                "storage × (1 + buffer)",
                &[("buffer", c.shown("buffer"))],
            );
        }
        if let Some(g) = c.v("storage_growth_daily") {
            c.add(
                "storage_growth_per_day",
                w::storage_growth_per_day(Bytes(st), Share(g)).0,
                Kind::Size,
                "GB",
                "storage × storage_growth_daily",
                &[("storage_growth_daily", c.shown("storage_growth_daily"))],
            );
        }
    }
}

/// Traffic from daily active users: DAU × requests per user per day (directly, or sessions ×
/// requests per session) → requests per day → the average rate over 86,400 s → the peak at
/// `peak_factor`. A rate another route already gave (concurrent users) is left as it is.
fn traffic_from_dau(c: &mut Calc, dau: Option<f64>) {
    let per_user = match (
        c.v("requests_per_user_per_day"),
        c.v("sessions_per_user_per_day"),
        c.v("requests_per_session"),
    ) {
        (Some(r), _, _) => Some((r, "requests_per_user_per_day", c.shown("requests_per_user_per_day"))),
        (None, Some(s), Some(r)) => Some((
            s * r,
            "sessions_per_user_per_day × requests_per_session",
            format!("{} × {}", c.shown("sessions_per_user_per_day"), c.shown("requests_per_session")),
        )),
        _ => None,
    };
    if let (Some(d), Some((r, how, shown))) = (dau, per_user) {
        c.add(
            "requests_per_day",
            d * r,
            Kind::Count,
            "requests",
            &format!("DAU × {how}"),
            &[("DAU", format!("{}", Num(d))), ("per user per day", shown)],
        );
    }
    let Some(per_day) = c.f("requests_per_day") else {
        return;
    };
    if !c.has("avg_rps") {
        c.add(
            "avg_rps",
            per_day / SECONDS_PER_DAY,
            Kind::ReqRate,
            "req/s",
            "requests_per_day ÷ 86,400 s",
            &[("requests_per_day", c.fig_shown("requests_per_day"))],
        );
    }
    if let (Some(avg), Some(pf)) = (c.f("avg_rps"), c.v("peak_factor"))
        && !c.has("peak_rps")
    {
        c.add(
            "peak_rps",
            avg * pf,
            Kind::ReqRate,
            "req/s",
            "avg_rps × peak_factor",
            &[("avg_rps", c.fig_shown("avg_rps")), ("peak_factor", c.shown("peak_factor"))],
        );
    }
}

fn compute(c: &mut Calc) -> Result<(), PlanError> {
    let wl = &c.cfg.sizing.workload;
    let spike = c.v("spike_buffer").unwrap_or(wl.spike_buffer);
    let mult = c.v("max_multiplier").unwrap_or(wl.max_multiplier);
    let buffer = c.v("node_buffer").unwrap_or(wl.node_buffer);
    let usable_cpu = c.v("node_usable_cpu").unwrap_or(wl.node_usable_cpu);
    let usable_mem_mb = c.v("node_usable_memory").map(|b| b / 1e6).unwrap_or(wl.node_usable_memory_mb);
    if let (Some(rps), Some(per_pod)) = (c.f("avg_rps"), c.v("requests_per_pod_per_second")) {
        c.add(
            "required_pods",
            rps / per_pod,
            Kind::Count,
            "pods",
            "avg_rps ÷ requests_per_pod_per_second",
            &[
                ("avg_rps", c.fig_shown("avg_rps")),
                ("requests_per_pod_per_second", c.shown("requests_per_pod_per_second")),
            ],
        );
        if let Some(rpm) = c.v("requests_per_user_per_minute") {
            c.add(
                "users_per_pod",
                per_pod / (rpm / 60.0),
                Kind::Count,
                "users",
                "requests_per_pod_per_second ÷ (requests_per_user_per_minute ÷ 60)",
                &[],
            );
        }
    }
    // From the required pods computed above or given.
    if let Some(required) = c.f("required_pods") {
        let p = capacity::pods_for(required, spike, mult);
        c.add(
            "min_pods",
            p.min as f64,
            Kind::Count,
            "pods",
            "⌈required_pods × spike_buffer⌉",
            &[("spike_buffer", format!("{spike}"))],
        );
        c.add(
            "max_pods",
            p.max as f64,
            Kind::Count,
            "pods",
            "min_pods × max_multiplier",
            &[("max_multiplier", format!("{mult}"))],
        );
    }
    let loads: Vec<PodLoad> = [
        ("backend", "backend_pods", "backend_pod_cpu", "backend_pod_memory"),
        ("frontend", "frontend_pods", "frontend_pod_cpu", "frontend_pod_memory"),
    ]
    .iter()
    .filter_map(|(_, n, cpu, mem)| {
        Some(PodLoad {
            count: c.v(n)?,
            cpu: c.v(cpu)?,
            memory_mb: c.v(mem)? / 1e6,
        })
    })
    .collect();
    if !loads.is_empty() {
        let n = capacity::nodes(&loads, usable_cpu, usable_mem_mb, buffer);
        c.add(
            "total_pod_cpu",
            n.total_cpu,
            Kind::Count,
            "cores",
            "Σ pods × pod_cpu (backend + frontend)",
            &[
                ("backend", format!("{} × {}", c.shown("backend_pods"), c.shown("backend_pod_cpu"))),
                (
                    "frontend",
                    format!("{} × {}", c.shown("frontend_pods"), c.shown("frontend_pod_cpu")),
                ),
            ],
        );
        c.add(
            "total_pod_memory",
            n.total_memory_mb * 1e6,
            Kind::Size,
            "MB",
            "Σ pods × pod_memory (backend + frontend)",
            &[],
        );
        c.add(
            "nodes_by_cpu",
            n.by_cpu as f64,
            Kind::Count,
            "nodes",
            "⌈total_pod_cpu ÷ node_usable_cpu⌉",
            &[("node_usable_cpu", format!("{usable_cpu}"))],
        );
        c.add(
            "nodes_by_memory",
            n.by_memory as f64,
            Kind::Count,
            "nodes",
            "⌈total_pod_memory ÷ node_usable_memory⌉",
            &[("node_usable_memory", format!("{usable_mem_mb} MB"))],
        );
        c.add(
            "required_nodes",
            n.required as f64,
            Kind::Count,
            "nodes",
            "max(nodes_by_cpu, nodes_by_memory)",
            &[],
        );
    }
    if let Some(required) = c.f("required_nodes") {
        c.add(
            "recommended_nodes",
            capacity::ceil(required * buffer) as f64,
            Kind::Count,
            "nodes",
            "⌈required_nodes × node_buffer⌉",
            &[("node_buffer", format!("{buffer}"))],
        );
    }
    Ok(())
}

fn dynamodb(c: &mut Calc) {
    if let (Some(u), Some(r), Some(wr)) = (
        c.v("concurrent_users"),
        c.v("dynamodb_reads_per_user"),
        c.v("dynamodb_writes_per_user"),
    ) {
        let cons = c
            .inp
            .text
            .get("dynamodb_consistency")
            .and_then(|s| Consistency::parse(s))
            .unwrap_or(Consistency::Eventual);
        let read_item = Bytes(c.v("dynamodb_read_item_size").unwrap_or(4_096.0));
        let write_item = Bytes(c.v("dynamodb_write_item_size").unwrap_or(1_024.0));
        let reads = u * r;
        let writes = u * wr;
        c.add(
            "dynamodb_reads_per_s",
            reads,
            Kind::Count,
            "reads/s",
            "concurrent_users × dynamodb_reads_per_user",
            &[
                ("concurrent_users", c.shown("concurrent_users")),
                ("dynamodb_reads_per_user", c.shown("dynamodb_reads_per_user")),
            ],
        );
        c.add(
            "dynamodb_writes_per_s",
            writes,
            Kind::Count,
            "writes/s",
            "concurrent_users × dynamodb_writes_per_user",
            &[("dynamodb_writes_per_user", c.shown("dynamodb_writes_per_user"))],
        );
        let cname = format!("{cons:?}").to_lowercase();
        c.add(
            "dynamodb_rcu",
            capacity::rcu(reads, read_item, cons),
            Kind::Count,
            "RCU",
            &format!("reads/s × ⌈item ÷ 4 KB⌉ × units per read ({cname})"),
            &[("item", format!("{} B", Num(read_item.0)))],
        );
        c.add(
            "dynamodb_wcu",
            capacity::wcu(writes, write_item, cons == Consistency::Transactional),
            Kind::Count,
            "WCU",
            "writes/s × ⌈item ÷ 1 KB⌉",
            &[("item", format!("{} B", Num(write_item.0)))],
        );
    }
    // From the capacity computed above or given: the prices need both directions.
    let (Some(rcu), Some(wcu)) = (c.f("dynamodb_rcu"), c.f("dynamodb_wcu")) else {
        return;
    };
    let p = &c.cfg.pricing;
    c.add(
        "dynamodb_on_demand_monthly",
        tiers::dynamodb_on_demand_usd(rcu, wcu, p),
        Kind::Money,
        "USD/month",
        "(RRU/s × read price + WRU/s × write price) × 730 h × 3,600 s, at steady load",
        &[],
    );
    c.add(
        "dynamodb_provisioned_monthly",
        tiers::dynamodb_provisioned_usd(rcu, wcu, p),
        Kind::Money,
        "USD/month",
        "(RCU × RCU-hour + WCU × WCU-hour) × 730 h, fully used",
        &[],
    );
}

fn high_traffic(c: &mut Calc) {
    let peak = c.f("peak_concurrent_users");
    if let (Some(p), Some(per)) = (peak, one_users_per_instance(c)) {
        c.add(
            "peak_instances",
            capacity::instances_for_users(p, per) as f64,
            Kind::Count,
            "instances",
            "⌈peak_concurrent_users ÷ users_per_instance⌉",
            &[("users_per_instance", format!("{}", Num(per)))],
        );
    }
    // From the peak fleet computed above or given.
    if let Some(fleet) = c.f("peak_instances") {
        if let Some(t) = c.inp.text.get("instance_type").cloned()
            && let Some(price) = c.cfg.pricing.instances.get(&t)
        {
            let od = price.on_demand_hourly.as_usd_f64();
            c.add(
                "peak_fleet_hourly",
                fleet * od,
                Kind::Money,
                "USD/h",
                "peak_instances × on-demand price",
                &[("price", format!("{t} ${od}/h ({} {})", c.cfg.pricing.region, c.cfg.pricing.as_of))],
            );
            c.add(
                "peak_fleet_daily",
                fleet * od * 24.0,
                Kind::Money,
                "USD/day",
                "peak_fleet_hourly × 24 h",
                &[],
            );
        }
        if let Some(sp) = c.v("stated_instance_price") {
            c.add(
                "peak_fleet_hourly_at_stated_price",
                fleet * sp,
                Kind::Money,
                "USD/h",
                "peak_instances × stated_instance_price",
                &[("stated_instance_price", format!("${sp}"))],
            );
            c.add(
                "peak_fleet_daily_at_stated_price",
                fleet * sp * 24.0,
                Kind::Money,
                "USD/day",
                "peak_fleet_hourly_at_stated_price × 24 h",
                &[],
            );
        }
        if let Some(b) = c.v("baseline_share") {
            c.add(
                "baseline_instances",
                capacity::ceil(fleet * b) as f64,
                Kind::Count,
                "instances",
                "⌈peak_instances × baseline_share⌉",
                &[("baseline_share", c.shown("baseline_share"))],
            );
        }
        if let Some(b) = c.v("max_buffer") {
            c.add(
                "max_instances",
                capacity::ceil(fleet * (1.0 + b)) as f64,
                Kind::Count,
                "instances",
                "⌈peak_instances × (1 + max_buffer)⌉",
                &[("max_buffer", c.shown("max_buffer"))],
            );
        }
    }
    // Bandwidth from daily transfer (004 Bad 2).
    let dau = c.v("daily_active_users").or_else(|| c.f("dau"));
    if let (Some(d), Some(req), Some(n)) = (dau, c.v("request_size"), c.v("requests_per_session")) {
        let per_user = w::transfer_per_user(Bytes(req), n);
        c.add(
            "transfer_per_user",
            per_user.0,
            Kind::Size,
            "KB",
            "request_size × requests_per_session",
            &[
                ("request_size", c.shown("request_size")),
                ("requests_per_session", c.shown("requests_per_session")),
            ],
        );
        // transfer_per_user is one session's (the seed's "per user per session").
        let (daily, how, ins) = match c.v("sessions_per_user_per_day") {
            Some(sessions) => (
                Bytes(d * sessions * per_user.0),
                "DAU × sessions_per_user_per_day × transfer_per_user",
                vec![
                    ("DAU", format!("{}", Num(d))),
                    ("sessions_per_user_per_day", c.shown("sessions_per_user_per_day")),
                ],
            ),
            None => (
                Bytes(d * per_user.0),
                "DAU × transfer_per_user (one session a day)",
                vec![("DAU", format!("{}", Num(d)))],
            ),
        };
        c.add("daily_transfer", daily.0, Kind::Size, "TB", how, &ins);
        if let Some(pf) = c.v("peak_factor") {
            c.add(
                "peak_bandwidth",
                w::peak_bandwidth(daily, pf).0,
                Kind::BitRate,
                "Gbit/s",
                "daily_transfer (bytes) ÷ 86,400 s × peak_factor × 8 bits per byte",
                &[("peak_factor", c.shown("peak_factor"))],
            );
        }
    }
    // From the peak bandwidth computed above or given.
    if let Some(peak) = c.f("peak_bandwidth").map(BitRate) {
        if let (Some(h), Some(z)) = (c.v("cdn_hit_ratio"), c.v("compression")) {
            let (origin, app) = w::after_cdn(peak, Share(h), Share(z));
            c.add(
                "origin_bandwidth",
                origin.0,
                Kind::BitRate,
                "Gbit/s",
                "peak_bandwidth × (1 − cdn_hit_ratio)",
                &[("cdn_hit_ratio", c.shown("cdn_hit_ratio"))],
            );
            c.add(
                "app_bandwidth",
                app.0,
                Kind::BitRate,
                "Gbit/s",
                "origin_bandwidth × (1 − compression)",
                &[("compression", c.shown("compression"))],
            );
            c.add(
                "bandwidth_reduction",
                peak.0 / app.0,
                Kind::Count,
                "x",
                "peak_bandwidth ÷ app_bandwidth",
                &[],
            );
        }
        if let Some(link) = c.v("link_capacity") {
            c.add(
                "link_utilization",
                peak.0 / link,
                Kind::Share,
                "%",
                "peak_bandwidth ÷ link_capacity",
                &[("link_capacity", c.shown("link_capacity"))],
            );
        }
    }
}

/// Targets one Application Load Balancer takes by default (AWS's "Targets per Application Load
/// Balancer" quota; adjustable, so `instances_per_alb` overrides it).
const ALB_TARGETS_QUOTA: f64 = 1_000.0;

/// Users per instance when the plan gives one figure (low and high ends equal).
fn one_users_per_instance(c: &Calc) -> Option<f64> {
    c.v("users_per_instance_high")
        .filter(|_| c.v("users_per_instance_low") == c.v("users_per_instance_high"))
}

/// Per region: the peak users, instances, request rate and bandwidth of each region (an
/// equal split over `regions`, or `region_split`'s shares), and its load balancers sized by
/// targets (`instances_per_alb`), by request rate (`alb_max_rps`) and by bandwidth
/// (`alb_max_bandwidth`), the largest count standing with the limit that binds named.
fn regions(c: &mut Calc, scenario: &str) -> Result<(), PlanError> {
    // (figure suffix, how the share is written, share)
    let split: Vec<(String, String, f64)> = match c.inp.text.get("region_split") {
        Some(text) => {
            let r = region_split(text).map_err(|e| input_err(scenario, "region_split", e))?;
            if let Some(n) = c.v("regions")
                && n != r.len() as f64
            {
                return Err(input_err(
                    scenario,
                    "region_split",
                    format!("names {} regions but `regions` is {}: give one or make them agree", r.len(), Num(n)),
                ));
            }
            r.into_iter()
                .map(|(name, share)| {
                    let suffix = format!("region_{}", name.to_lowercase().replace('-', "_"));
                    (suffix, format!("{name}'s share {} %", Num(share * 100.0)), share)
                })
                .collect()
        }
        None => match c.v("regions") {
            Some(n) => vec![("per_region".to_string(), format!("1 ÷ {} regions", Num(n)), 1.0 / n)],
            None => return Ok(()),
        },
    };
    let count = c.v("regions").unwrap_or(split.len() as f64);
    if let Some(rep) = c.v("db_replicas_per_region") {
        c.add(
            "db_instances",
            count * (1.0 + rep),
            Kind::Count,
            "instances",
            "regions × (1 writer + db_replicas_per_region)",
            &[("db_replicas_per_region", c.shown("db_replicas_per_region"))],
        );
    }
    let peak = c.f("peak_concurrent_users");
    let per_inst = one_users_per_instance(c);
    let rps = c.f("peak_rps");
    let (bw, bw_name) = match c.f("peak_bandwidth") {
        Some(b) => (Some(b), "peak_bandwidth"),
        None => (c.f("throughput_peak_bits"), "throughput_peak_bits"),
    };
    for (suffix, how, share) in split {
        let mut inst = None;
        if let Some(p) = peak {
            let users = p * share;
            c.add(
                &format!("peak_users_{suffix}"),
                users,
                Kind::Count,
                "users",
                &format!("peak_concurrent_users × {how}"),
                &[("peak_concurrent_users", format!("{}", Num(p)))],
            );
            if let Some(per) = per_inst.filter(|_| c.given("peak_instances").is_none()) {
                let n = capacity::instances_for_users(users, per) as f64;
                c.add(
                    &format!("instances_{suffix}"),
                    n,
                    Kind::Count,
                    "instances",
                    &format!("⌈peak_users_{suffix} ÷ users_per_instance⌉"),
                    &[("users_per_instance", format!("{}", Num(per)))],
                );
                inst = Some(n);
            }
        }
        // A given peak fleet is split as the traffic is.
        if let Some(fleet) = c.given("peak_instances") {
            let n = capacity::ceil(fleet * share) as f64;
            c.add(
                &format!("instances_{suffix}"),
                n,
                Kind::Count,
                "instances",
                &format!("⌈peak_instances × {how}⌉"),
                &[("peak_instances", format!("{} (given)", Num(fleet)))],
            );
            inst = Some(n);
        }
        let rps_r = rps.map(|r| r * share);
        if let Some(r) = rps_r {
            c.add(
                &format!("peak_rps_{suffix}"),
                r,
                Kind::ReqRate,
                "req/s",
                &format!("peak_rps × {how}"),
                &[("peak_rps", c.fig_shown("peak_rps"))],
            );
        }
        let bw_r = bw.map(|b| b * share);
        if let Some(b) = bw_r {
            c.add(
                &format!("peak_bandwidth_{suffix}"),
                b,
                Kind::BitRate,
                "Gbit/s",
                &format!("{bw_name} × {how}"),
                &[(bw_name, c.fig_shown(bw_name))],
            );
        }
        // Load balancers: each limit the plan gives sizes them; the largest count binds.
        let limits = [
            (
                "targets",
                "target count",
                inst,
                Some(c.v("instances_per_alb").unwrap_or(ALB_TARGETS_QUOTA)),
                "instances_per_alb",
                "instances",
            ),
            ("rps", "request rate", rps_r, c.v("alb_max_rps"), "alb_max_rps", "peak_rps"),
            (
                "bandwidth",
                "bandwidth",
                bw_r,
                c.v("alb_max_bandwidth"),
                "alb_max_bandwidth",
                "peak_bandwidth",
            ),
        ];
        let mut counts: Vec<(&str, f64)> = Vec::new();
        for (key, what, load, limit, limit_key, load_name) in limits {
            let (Some(load), Some(limit)) = (load, limit) else { continue };
            let n = capacity::ceil(load / limit) as f64;
            let limit_shown = match c.v(limit_key) {
                Some(_) => c.shown(limit_key),
                None => format!("{} (AWS's default quota)", Num(limit)),
            };
            c.add(
                &format!("albs_by_{key}_{suffix}"),
                n,
                Kind::Count,
                "ALBs",
                &format!("⌈{load_name}_{suffix} ÷ {limit_key}⌉"),
                &[(limit_key, limit_shown)],
            );
            counts.push((what, n));
        }
        if let Some(max) = counts.iter().map(|x| x.1).reduce(f64::max) {
            let binding: Vec<&str> = counts.iter().filter(|x| x.1 == max).map(|x| x.0).collect();
            let others: Vec<String> = counts
                .iter()
                .filter(|x| x.1 != max)
                .map(|x| format!("{} by {}", Num(x.1), x.0))
                .collect();
            let formula = if counts.len() == 1 {
                format!("by {} alone: the only load balancer limit given", binding[0])
            } else if others.is_empty() {
                format!("max of the limits: {} bind alike", binding.join(" and "))
            } else {
                format!(
                    "max of the limits: the {} binds ({} otherwise)",
                    binding.join(" and "),
                    others.join(", ")
                )
            };
            c.add(&format!("albs_{suffix}"), max, Kind::Count, "ALBs", &formula, &[]);
        }
    }
    Ok(())
}

fn tier_fit(c: &mut Calc, scenario: &str) -> Result<Option<TierFit>, PlanError> {
    let Some(users) = c.v("concurrent_users").or_else(|| c.f("peak_concurrent_users")) else {
        return Ok(None);
    };
    let tiers_cfg = &c.cfg.sizing.tiers;
    let t: &Tier = match c.inp.text.get("tier") {
        Some(name) => tiers_cfg
            .iter()
            .find(|t| &t.name == name)
            .ok_or_else(|| input_err(scenario, "tier", format!("no tier `{name}` in sizing.toml")))?,
        None => match tiers::tier_for(tiers_cfg, users) {
            Some(t) => t,
            None => return Ok(None),
        },
    };
    // The plan's own spot discount, when it states one, replaces the price table's.
    let overridden;
    let pricing = match c.v("spot_discount") {
        Some(d) => {
            let mut p = c.cfg.pricing.clone();
            p.instances.values_mut().for_each(|i| i.spot_discount = d);
            overridden = p;
            &overridden
        }
        None => &c.cfg.pricing,
    };
    let mix = c.v("on_demand_share").unwrap_or(0.3);
    let mut by_option = Vec::new();
    for opt in Option_::ALL {
        let opt = if let Option_::Mix(_) = opt { Option_::Mix(mix) } else { opt };
        let lo = tiers::bundle_hourly_usd(t, pricing, opt, At::Min).map_err(|e| input_err(scenario, "tier", e))?;
        let hi = tiers::bundle_hourly_usd(t, pricing, opt, At::Max).map_err(|e| input_err(scenario, "tier", e))?;
        by_option.push((opt.name(), tiers::monthly(lo).as_usd_f64(), tiers::monthly(hi).as_usd_f64()));
    }
    // Commitment and spot together: the min (the steady floor) on 1-yr RIs, what the group
    // adds above its min on the mix (the commitment advice's and the spot-mix advice's shape).
    {
        let b = |opt, at| tiers::bundle_hourly_usd(t, pricing, opt, at).map_err(|e| input_err(scenario, "tier", e));
        let floor = b(Option_::Ri1, At::Min)?;
        let above = b(Option_::Mix(mix), At::Max)? - b(Option_::Mix(mix), At::Min)?;
        by_option.push((
            format!("min on 1-yr RI, above it {}", Option_::Mix(mix).name()),
            tiers::monthly(floor).as_usd_f64(),
            tiers::monthly(floor + above).as_usd_f64(),
        ));
    }
    let (nmin, cmin, mmin) = tiers::bundle_capacity(t, pricing, At::Min);
    let (nmax, cmax, mmax) = tiers::bundle_capacity(t, pricing, At::Max);
    c.add(
        "tier_nodes_min",
        f64::from(nmin),
        Kind::Count,
        "nodes",
        &format!("Σ node group min ({})", t.name),
        &[],
    );
    c.add(
        "tier_nodes_max",
        f64::from(nmax),
        Kind::Count,
        "nodes",
        &format!("Σ node group max ({})", t.name),
        &[],
    );
    c.add("tier_vcpu_min", cmin, Kind::Count, "vCPU", "Σ min × vCPU of the group's type", &[]);
    c.add("tier_vcpu_max", cmax, Kind::Count, "vCPU", "Σ max × vCPU of the group's type", &[]);
    c.add(
        "tier_memory_min",
        mmin * 1_073_741_824.0,
        Kind::Size,
        "GB",
        "Σ min × memory of the group's type (GiB)",
        &[],
    );
    c.add(
        "tier_memory_max",
        mmax * 1_073_741_824.0,
        Kind::Size,
        "GB",
        "Σ max × memory of the group's type (GiB)",
        &[],
    );
    let od = by_option
        .iter()
        .find(|o| o.0 == "on-demand")
        .map(|o| (o.1, o.2))
        .unwrap_or_default();
    let spot = by_option.iter().find(|o| o.0 == "spot").map(|o| (o.1, o.2)).unwrap_or_default();
    let designed = by_option
        .iter()
        .find(|o| o.0 == "as designed")
        .map(|o| (o.1, o.2))
        .unwrap_or_default();
    c.add(
        "tier_nodes_monthly_on_demand_min",
        od.0,
        Kind::Money,
        "USD/month",
        "Σ group min × on-demand hourly × 730 h",
        &[],
    );
    c.add(
        "tier_nodes_monthly_on_demand_max",
        od.1,
        Kind::Money,
        "USD/month",
        "Σ group max × on-demand hourly × 730 h",
        &[],
    );
    c.add(
        "tier_nodes_monthly_spot_min",
        spot.0,
        Kind::Money,
        "USD/month",
        "Σ group min × on-demand × (1 − spot discount) × 730 h",
        &[],
    );
    c.add(
        "tier_nodes_monthly_spot_max",
        spot.1,
        Kind::Money,
        "USD/month",
        "Σ group max × on-demand × (1 − spot discount) × 730 h",
        &[],
    );
    c.add(
        "tier_nodes_monthly_designed_min",
        designed.0,
        Kind::Money,
        "USD/month",
        "Σ group min × its own purchase option × 730 h",
        &[],
    );
    c.add(
        "tier_nodes_monthly_designed_max",
        designed.1,
        Kind::Money,
        "USD/month",
        "Σ group max × its own purchase option × 730 h",
        &[],
    );
    // At the desired counts: each option, and the blend the plan's purchase assumptions make:
    // commitment_share on a 1-yr Savings Plan, the rest on_demand_share on demand, spot after.
    let commit = c.v("commitment_share").unwrap_or(0.0);
    let commit_opt = c
        .inp
        .text
        .get("commitment")
        .and_then(|s| commitment_option(s))
        .unwrap_or(Option_::Sp1);
    let at = |opt, at| {
        tiers::bundle_hourly_usd(t, pricing, opt, at)
            .map(|h| tiers::monthly(h).as_usd_f64())
            .map_err(|e| input_err(scenario, "tier", e))
    };
    let desired = |opt| at(opt, At::Desired);
    let (od_d, spot_d, own_d, sp_d, mix_d) = (
        desired(Option_::OnDemand)?,
        desired(Option_::Spot)?,
        desired(Option_::AsDesigned)?,
        desired(commit_opt)?,
        desired(Option_::Mix(mix))?,
    );
    for (n, v, how) in [
        ("on_demand", od_d, "Σ group desired × on-demand hourly × 730 h"),
        ("spot", spot_d, "Σ group desired × on-demand × (1 − spot discount) × 730 h"),
        ("designed", own_d, "Σ group desired × its own purchase option × 730 h"),
    ] {
        c.add(&format!("tier_nodes_monthly_{n}_desired"), v, Kind::Money, "USD/month", how, &[]);
    }
    let blended = commit * sp_d + (1.0 - commit) * mix_d;
    let assumptions = [
        ("commitment_share", format!("{}", Num(commit))),
        ("commitment", commit_opt.name()),
        ("on_demand_share", format!("{}", Num(mix))),
        (
            "spot_discount",
            c.v("spot_discount")
                .map(|d| format!("{}", Num(d)))
                .unwrap_or_else(|| "pricing.toml".into()),
        ),
    ];
    c.add(
        "tier_nodes_monthly_blended_desired",
        blended,
        Kind::Money,
        "USD/month",
        "commitment_share × commitment + (1 − commitment_share) × (on_demand_share × on-demand + (1 − on_demand_share) × spot), at the desired counts",
        &assumptions,
    );
    // The same blend at the groups' min and max counts: the range the tier's cost moves in.
    for (end, a) in [("min", At::Min), ("max", At::Max)] {
        let v = commit * at(commit_opt, a)? + (1.0 - commit) * at(Option_::Mix(mix), a)?;
        c.add(
            &format!("tier_nodes_monthly_blended_{end}"),
            v,
            Kind::Money,
            "USD/month",
            &format!("the blend of tier_nodes_monthly_blended_desired at the groups' {end} counts"),
            &[],
        );
    }
    c.add(
        "blended_saving_monthly",
        od_d - blended,
        Kind::Money,
        "USD/month",
        "tier_nodes_monthly_on_demand_desired − tier_nodes_monthly_blended_desired",
        &[],
    );
    if od_d > 0.0 {
        c.add(
            "blended_saving_share",
            (od_d - blended) / od_d,
            Kind::Share,
            "%",
            "blended_saving_monthly ÷ tier_nodes_monthly_on_demand_desired",
            &[],
        );
    }
    // The tier's request-rate range by the per-user rate (what the tier's bound implies).
    if let Some(rpm) = c.v("requests_per_user_per_minute") {
        // The top tier has no upper bound, so no rate at it.
        if t.concurrent_users.1.is_finite() {
            c.add(
                "tier_rps_at_upper_bound",
                t.concurrent_users.1 * rpm / 60.0,
                Kind::ReqRate,
                "req/s",
                "tier upper bound × requests_per_user_per_minute ÷ 60",
                &[("upper bound", format!("{}", Num(t.concurrent_users.1)))],
            );
        }
    }
    let next = tiers::next_tier(tiers_cfg, t);
    let months = match (next, c.v("growth_monthly")) {
        (Some(n), Some(g)) => tiers::months_until(users, Share(g), n.concurrent_users.0),
        _ => None,
    };
    if let (Some(n), Some(m)) = (next, months) {
        c.add(
            "months_to_next_tier",
            f64::from(m),
            Kind::Count,
            "months",
            &format!("⌈ln({} ÷ users) ÷ ln(1 + growth_monthly)⌉", Num(n.concurrent_users.0)),
            &[("growth_monthly", c.shown("growth_monthly"))],
        );
    }
    let bundle = t
        .node_groups
        .iter()
        .map(|g| {
            format!(
                "{} {} x{}-{} (desired {}, {})",
                g.name,
                g.instance_types.join("/"),
                g.min,
                g.max,
                g.desired,
                if g.purchase == crate::config::Purchase::Spot {
                    "spot"
                } else {
                    "on-demand"
                }
            )
        })
        .collect();
    Ok(Some(TierFit {
        scenario: if scenario.is_empty() { "base".into() } else { scenario.to_string() },
        users,
        tier: t.name.clone(),
        range: t.concurrent_users,
        bundle,
        monthly_by_option: by_option,
        next_tier: next.map(|n| n.name.clone()),
        months_to_next: months,
        migration_steps: t.migration_steps.clone(),
    }))
}

/// Positive numbers from a comma-separated text input (`key`), or the defaults when absent.
fn number_list(c: &Calc, scenario: &str, key: &str, defaults: &[f64]) -> Result<Vec<f64>, PlanError> {
    let Some(text) = c.inp.text.get(key) else {
        return Ok(defaults.to_vec());
    };
    text.split(',')
        .map(|x| {
            let t = x.trim().replace('_', "");
            t.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0).ok_or_else(|| {
                let shown: String = x.trim().chars().take(24).collect();
                let more = if x.trim().chars().count() > 24 { "…" } else { "" };
                input_err(
                    scenario,
                    key,
                    format!("\"{shown}{more}\" is not a positive number (expected e.g. \"3, 6, 12\")"),
                )
            })
        })
        .collect()
}

/// The growth table: at `growth_monthly` compound growth, users, instances (with and without
/// the buffer), storage and the monthly cost of the tier they fall in after each of
/// `growth_months`; the month each tier boundary above today's users and each of
/// `user_thresholds` is reached (with the buffer: the month the buffered users reach it).
fn growth(c: &mut Calc, scenario: &str) -> Result<(), PlanError> {
    let (Some(g), Some(users)) = (
        c.v("growth_monthly"),
        c.v("concurrent_users").or_else(|| c.f("peak_concurrent_users")),
    ) else {
        return Ok(());
    };
    if g <= 0.0 {
        return Ok(());
    }
    let months = number_list(c, scenario, "growth_months", &[3.0, 6.0, 12.0, 24.0])?;
    // Whole months, at most a century: beyond, the figure names themselves (users_mN) turn
    // into 300-digit numbers, and no plan looks that far.
    if let Some(m) = months.iter().find(|m| m.fract() != 0.0 || **m > 1200.0) {
        let shown = if *m >= 1e6 { format!("{m:.3e}") } else { format!("{m}") };
        return Err(input_err(
            scenario,
            "growth_months",
            format!("{shown} is not a whole number of months from 1 to 1200 (expected e.g. \"3, 6, 12\")"),
        ));
    }
    let thresholds = number_list(c, scenario, "user_thresholds", &[])?;
    let buffer = c.v("buffer");
    let gs = c.shown("growth_monthly");
    for n in months {
        let n = n.round().max(1.0);
        let factor = (1.0 + g).powf(n);
        let u = users * factor;
        c.add(
            &format!("users_m{n}"),
            u,
            Kind::Count,
            "users",
            &format!("users × (1 + growth_monthly)^{n}"),
            &[("users", format!("{}", Num(users))), ("growth_monthly", gs.clone())],
        );
        if let Some(low) = c.v("users_per_instance_low") {
            c.add(
                &format!("instances_m{n}"),
                capacity::instances_for_users(u, low) as f64,
                Kind::Count,
                "instances",
                &format!("⌈users_m{n} ÷ users_per_instance_low⌉"),
                &[("users_per_instance_low", c.shown("users_per_instance_low"))],
            );
            if let Some(b) = buffer {
                c.add(
                    &format!("instances_m{n}_buffered"),
                    capacity::instances_for_users(u * (1.0 + b), low) as f64,
                    Kind::Count,
                    "instances",
                    &format!("⌈users_m{n} × (1 + buffer) ÷ users_per_instance_low⌉"),
                    &[("buffer", c.shown("buffer"))],
                );
            }
        }
        if let Some(st) = c.f("storage") {
            let (v, how) = match c.v("storage_growth_daily") {
                Some(d) => (
                    st * (1.0 + d).powf(n * 365.0 / 12.0),
                    format!("storage × (1 + storage_growth_daily)^({n} × 365 ÷ 12 days)"),
                ),
                None => (
                    st * factor,
                    format!("storage × (1 + growth_monthly)^{n} (stored data grows with the users)"),
                ),
            };
            c.add(&format!("storage_m{n}"), v, Kind::Size, "GB", &how, &[]);
        }
        if let Some(t) = tiers::tier_for(&c.cfg.sizing.tiers, u) {
            let hourly = tiers::bundle_hourly_usd(t, &c.cfg.pricing, Option_::AsDesigned, At::Desired)
                .map_err(|e| input_err(scenario, "tier", e))?;
            c.add(
                &format!("monthly_cost_m{n}"),
                tiers::monthly(hourly).as_usd_f64(),
                Kind::Money,
                "USD/month",
                &format!(
                    "tier {} (where users_m{n} falls): Σ group desired × its own purchase option × 730 h",
                    t.name
                ),
                &[],
            );
        }
    }
    let mut lines: Vec<(String, f64)> = c
        .cfg
        .sizing
        .tiers
        .iter()
        .filter(|t| t.concurrent_users.0 > users)
        .map(|t| (format!("tier_{}", t.name), t.concurrent_users.0))
        .collect();
    lines.extend(
        thresholds
            .iter()
            .map(|v| (format!("users_{}", Num(*v).to_string().replace(',', "")), *v)),
    );
    for (name, line) in lines {
        if let Some(m) = tiers::months_until(users, Share(g), line) {
            c.add(
                &format!("month_reaching_{name}"),
                f64::from(m),
                Kind::Count,
                "months",
                &format!("⌈ln({} ÷ users) ÷ ln(1 + growth_monthly)⌉", Num(line)),
                &[("users", format!("{}", Num(users))), ("growth_monthly", gs.clone())],
            );
        }
        if let Some(b) = buffer
            && let Some(m) = tiers::months_until(users * (1.0 + b), Share(g), line)
        {
            c.add(
                &format!("month_reaching_{name}_buffered"),
                f64::from(m),
                Kind::Count,
                "months",
                &format!("⌈ln({} ÷ (users × (1 + buffer))) ÷ ln(1 + growth_monthly)⌉", Num(line)),
                &[("buffer", c.shown("buffer"))],
            );
        }
    }
    Ok(())
}

fn fargate(c: &mut Calc, tasks: &[FargateTask]) {
    if tasks.is_empty() {
        return;
    }
    let mut total = 0.0;
    let mut devtest = 0.0;
    let hours_dev = c.v("devtest_hours_per_month");
    for t in tasks {
        let hourly = tiers::fargate_task_hourly_usd(t.vcpu, t.memory_gb, &c.cfg.pricing);
        let monthly = hourly * t.tasks * HOURS_PER_MONTH;
        total += monthly;
        let ins = [
            ("vcpu", format!("{}", t.vcpu)),
            ("memory_gb", format!("{}", t.memory_gb)),
            ("tasks", format!("{}", t.tasks)),
        ];
        c.add(
            &format!("fargate.{}.task_hourly", t.name),
            hourly,
            Kind::Money,
            "USD/h",
            "vcpu × vCPU-hour price + memory_gb × GB-hour price",
            &ins,
        );
        c.add(
            &format!("fargate.{}.monthly", t.name),
            monthly,
            Kind::Money,
            "USD/month",
            "task_hourly × tasks × 730 h",
            &ins,
        );
        if let Some(h) = hours_dev {
            devtest += hourly * t.tasks * h;
        }
    }
    let sum = |f: &dyn Fn(&FargateTask) -> f64| tasks.iter().map(f).sum::<f64>();
    c.add("fargate.tasks_total", sum(&|t| t.tasks), Kind::Count, "tasks", "Σ tasks", &[]);
    c.add(
        "fargate.vcpu_total",
        sum(&|t| t.tasks * t.vcpu),
        Kind::Count,
        "vCPU",
        "Σ tasks × vcpu",
        &[],
    );
    c.add(
        "fargate.memory_total",
        sum(&|t| t.tasks * t.memory_gb) * 1e9,
        Kind::Size,
        "GB",
        "Σ tasks × memory_gb",
        &[],
    );
    c.add("fargate.compute_monthly", total, Kind::Money, "USD/month", "Σ fargate monthly", &[]);
    if let Some(share) = c.v("fargate_spot_share") {
        let (discount, from) = match c.v("fargate_spot_discount") {
            Some(d) => (d, c.shown("fargate_spot_discount")),
            None => (
                c.cfg.pricing.fargate_spot_discount,
                format!("{} (pricing.toml)", Num(c.cfg.pricing.fargate_spot_discount)),
            ),
        };
        let blended = total * (1.0 - share) + total * share * (1.0 - discount);
        c.add(
            "fargate.compute_monthly_blended",
            blended,
            Kind::Money,
            "USD/month",
            "compute_monthly × ((1 − fargate_spot_share) + fargate_spot_share × (1 − fargate_spot_discount))",
            &[
                ("fargate_spot_share", c.shown("fargate_spot_share")),
                ("fargate_spot_discount", from),
            ],
        );
        c.add(
            "fargate.spot_saving_monthly",
            total - blended,
            Kind::Money,
            "USD/month",
            "compute_monthly − compute_monthly_blended",
            &[],
        );
        if total > 0.0 {
            c.add(
                "fargate.spot_saving_share",
                (total - blended) / total,
                Kind::Share,
                "%",
                "spot_saving_monthly ÷ compute_monthly",
                &[],
            );
        }
    }
    if hours_dev.is_some() {
        c.add(
            "fargate.compute_monthly_devtest",
            devtest,
            Kind::Money,
            "USD/month",
            "Σ task_hourly × tasks × devtest_hours_per_month",
            &[("devtest_hours_per_month", c.shown("devtest_hours_per_month"))],
        );
    }
}

fn items(c: &mut Calc, items: &[LineItem]) -> Result<(), PlanError> {
    if items.is_empty() {
        return Ok(());
    }
    let mut groups: BTreeMap<String, (f64, String)> = BTreeMap::new();
    for it in items {
        let (amount, period, formula) = match it.per.as_str() {
            "hour" => (
                it.unit_price * it.quantity * it.multiplier * HOURS_PER_MONTH,
                "USD/month",
                "unit_price × quantity × multiplier × 730 h",
            ),
            "month" => (
                it.unit_price * it.quantity * it.multiplier,
                "USD/month",
                "unit_price × quantity × multiplier",
            ),
            "thousand" => (
                it.unit_price * it.quantity / 1e3 * it.multiplier,
                "USD/month",
                "unit_price × quantity ÷ 1,000",
            ),
            "million" => (
                it.unit_price * it.quantity / 1e6 * it.multiplier,
                "USD/month",
                "unit_price × quantity ÷ 1,000,000",
            ),
            _ => (
                it.unit_price * it.quantity * it.multiplier,
                "USD/day",
                "unit_price × quantity per day",
            ),
        };
        let ins = [
            ("unit_price", format!("${} per {}", it.unit_price, it.per)),
            ("quantity", format!("{}", Num(it.quantity))),
            ("multiplier", format!("{}", it.multiplier)),
        ];
        c.add(&format!("item.{}", it.name), amount, Kind::Money, period, formula, &ins);
        let g = groups.entry(it.group.clone()).or_insert((0.0, period.to_string()));
        if g.1 != period {
            return Err(input_err(
                "profile",
                &format!("item.{}", it.name),
                format!(
                    "group `{}` mixes {} and {} items; put daily and monthly items in different groups",
                    it.group, g.1, period
                ),
            ));
        }
        g.0 += amount;
    }
    let mut grand = 0.0;
    let mut monthly_groups = 0;
    for (g, (sum, period)) in &groups {
        c.add(
            &format!("total.{g}"),
            *sum,
            Kind::Money,
            period,
            &format!("Σ items of group {g}"),
            &[],
        );
        if period == "USD/month" {
            grand += sum;
            monthly_groups += 1;
        }
    }
    if let Some(f) = c.f("fargate.compute_monthly") {
        grand += f;
        monthly_groups += 1;
    }
    if monthly_groups > 1 {
        c.add(
            "total_monthly",
            grand,
            Kind::Money,
            "USD/month",
            "Σ monthly groups (fargate included)",
            &[],
        );
    }
    // Two daily groups named bad/good (004's comparison): the saving of one over the other.
    if let (Some((bad, _)), Some((good, _))) = (groups.get("bad"), groups.get("good")) {
        c.add(
            "savings_share",
            1.0 - good / bad,
            Kind::Share,
            "%",
            "1 − total.good ÷ total.bad",
            &[],
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_split_reads_named_and_bare_shares_that_add_up() {
        let r = region_split("us-east-1=50%, eu-west-1 = 0.3, ap-south-1=20 %").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], ("us-east-1".to_string(), 0.5));
        assert!((r[1].1 - 0.3).abs() < 1e-12);
        let r = region_split("60%, 40%").unwrap();
        assert_eq!((r[0].0.as_str(), r[1].0.as_str()), ("1", "2"));
        // 60 + 30 = 90 %: refused, with the sum.
        let e = region_split("a=60%, b=30%").unwrap_err();
        assert!(e.contains("90 %"), "{e}");
        assert!(region_split("a=0%, b=100%").is_err(), "a region with no traffic");
        assert!(region_split("a=150%").is_err());
        assert!(region_split("us-east-1=50%, US_EAST_1=50%").unwrap_err().contains("named twice"));
    }

    #[test]
    fn a_default_is_split_from_its_doc() {
        assert_eq!(
            split_default("item size read (default 4 KB)"),
            ("item size read".to_string(), "4 KB".to_string())
        );
        assert_eq!(
            split_default("share on Spot (default 0; its discount from pricing.toml)"),
            ("share on Spot".to_string(), "0".to_string())
        );
        assert_eq!(split_default("users"), ("users".to_string(), "none".to_string()));
    }
}
