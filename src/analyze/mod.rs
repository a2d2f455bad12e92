//! Analysis: a Snapshot (and the series history it carries) plus the config → findings.
//! `rules` runs the alert rules' state machines, `rightsize` sizes each Auto Scaling group
//! against its utilization; `stats` holds the window statistics both use.
//!
//! Pure and synchronous: no I/O, `now` is a parameter. May use: domain, config, model.

pub mod rightsize;
pub mod rules;
pub mod stats;

#[cfg(test)]
pub(crate) mod fixtures;
