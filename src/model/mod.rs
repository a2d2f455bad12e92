//! The sizing model of the seed documents (shared/seeds-model.md), executable: workload
//! formulas (users → request rates, bandwidth, memory, storage), capacity (pods, nodes,
//! instances, DynamoDB units), tiers and their bundles' cost under each purchase option,
//! growth, and `plan` / `audit`, the calculator behind `headroom plan`.
//!
//! Pure and synchronous: no I/O, no clock. May use: config (tiers, prices), domain (Money).
//! Quantities are typed (`units`): sizes, byte rates and bit rates cannot be mixed up.

pub mod audit;
pub mod capacity;
pub mod plan;
pub mod tiers;
pub mod units;
pub mod workload;
