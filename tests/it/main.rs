//! Black-box and peer tests, one binary (one link step) for all of them.
//! Peers (moto, aiosmtpd) come from scripts/test; a test that needs one fails without it.

mod advice;
mod apply;
mod apply_random;
mod apply_safety;
mod bad_days;
mod bad_days_two;
mod cli;
mod collect_moto;
mod faults;
mod forecast;
mod kinds;
mod notify;
mod plan;
mod report;
mod scale;
mod scheduler;
mod scopes;
mod service;
mod support;
