//! headroom: a capacity advisor for AWS, run as a daemon on an ops host.
//!
//! Data flow (only `runtime` knows the order of the stages; stages never call each other):
//!
//! ```text
//!  scheduler ─tick(now)─► collect ─Snapshot─► analyze ─Findings─► decide ─Advisories─┬─► act (guarded)
//!   (cron)                 ▲ aws (traits)       ▲ model, rules       ▲ guardrails     ├─► notify
//!                          │                    │                    │                └─► report
//!                          └──── store: series cache, snapshots, spend, advisories, outbox, audit ◄──┘
//! ```
//!
//! Modules: `domain` (plain data), `config` (two-stage loading, every problem at once),
//! `model` (the seed sizing model: formulas, tiers, costs, `plan` and `audit`), `act` (the
//! only code that changes AWS: plans, guardrails, the audit of every change),
//! `aws` (the only SDK user: traits + real and simulated accounts), `collect` (GetMetricData
//! batching and incremental fetch, inventory, spend), `store` (the only SQL: the `Store` trait,
//! SQLite, one transaction per cycle), `runtime` (a scope's cycle over its in-memory window,
//! the scheduler over scopes, shutdown), `cli` (commands and printing).
//!
//! Everything belongs to a scope (`domain::Scope`: one account in one region); a cycle runs
//! per scope and reconciles only its own advisories.

pub mod act;
pub mod analyze;
pub mod aws;
pub mod cli;
pub mod collect;
pub mod config;
pub mod decide;
pub mod domain;
pub mod files;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod report;
pub mod runtime;
pub mod serve;
pub mod store;
pub mod systemd;
