//! Analysis: a Snapshot (and the series history it carries) plus the config → findings.
//! `rules` runs the alert rules' state machines, `rightsize` sizes each Auto Scaling group
//! against its utilization, `limits` checks whether its max or min is in the way, `dynamodb` weighs each table's capacity mode and size, `spend`
//! holds Cost Explorer spend against traffic, `tiers` places each service in a sizing tier, `commitments` sizes RIs, Savings Plans and
//! DynamoDB reserved capacity, `spot` proposes each group's spot mix, `forecast` is the forecasting model and `outlook` applies it to each resource's capacity signals; `stats` holds the window statistics.
//!
//! Pure and synchronous: no I/O, `now` is a parameter. May use: domain, config, model.

pub mod commitments;
pub mod dynamodb;
pub mod forecast;
pub mod limits;
pub mod outlook;
pub mod rightsize;
pub mod rules;
pub mod spend;
pub mod spot;
pub mod stats;
pub mod tiers;

#[cfg(test)]
pub(crate) mod fixtures;
