//! Capacity formulas (seeds-model.md §1.2, §1.4): request rates → pods → nodes, users or memory
//! → instances, and DynamoDB operations → RCU/WCU.
//!
//! Pure. May use: model::units.

use super::units::*;

/// Pods for a request rate: required = RPS ÷ RPS per pod; min = ⌈required × spike buffer⌉;
/// max = min × max multiplier (002 Capacity Planning Formula).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pods {
    pub required: f64,
    pub min: u64,
    pub max: u64,
}

pub fn pods(rps: ReqRate, per_pod: ReqRate, spike_buffer: f64, max_multiplier: f64) -> Pods {
    pods_for(rps.0 / per_pod.0, spike_buffer, max_multiplier)
}

/// Min and max pods for a number of required pods (computed or given).
pub fn pods_for(required: f64, spike_buffer: f64, max_multiplier: f64) -> Pods {
    let min = ceil(required * spike_buffer);
    Pods {
        required,
        min,
        max: ceil(min as f64 * max_multiplier),
    }
}

/// One kind of pod: how many, and the CPU (cores) and memory (MB) each requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PodLoad {
    pub count: f64,
    pub cpu: f64,
    pub memory_mb: f64,
}

/// Nodes for a set of pods (002 Node Capacity Calculation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Nodes {
    pub total_cpu: f64,
    pub total_memory_mb: f64,
    pub by_cpu: u64,
    pub by_memory: u64,
    pub required: u64,
    pub recommended: u64,
}

pub fn nodes(pods: &[PodLoad], usable_cpu: f64, usable_memory_mb: f64, buffer: f64) -> Nodes {
    let total_cpu: f64 = pods.iter().map(|p| p.count * p.cpu).sum();
    let total_memory_mb: f64 = pods.iter().map(|p| p.count * p.memory_mb).sum();
    let by_cpu = ceil(total_cpu / usable_cpu);
    let by_memory = ceil(total_memory_mb / usable_memory_mb);
    let required = by_cpu.max(by_memory);
    Nodes {
        total_cpu,
        total_memory_mb,
        by_cpu,
        by_memory,
        required,
        recommended: ceil(required as f64 * buffer),
    }
}

/// Instances = ⌈users ÷ users per instance⌉ (000 §4.1, 004: connections per instance).
pub fn instances_for_users(users: f64, per_instance: f64) -> u64 {
    ceil(users / per_instance)
}

/// Instances = ⌈memory ÷ memory per instance⌉ (000 §4.2).
pub fn instances_for_memory(memory: Bytes, per_instance: Bytes) -> u64 {
    ceil(memory.0 / per_instance.0)
}

/// ⌈x⌉ as a count, with a small tolerance so 4.0000000001 from float noise stays 4. A count
/// too large for a u64 (or an infinite one: a division by a figure near zero) is `u64::MAX`,
/// which `plan` reports as a figure that does not fit rather than print; NaN and ≤ 0 are 0.
pub fn ceil(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    if x >= u64::MAX as f64 {
        return u64::MAX;
    }
    let r = x.round();
    if (x - r).abs() < 1e-9 { r as u64 } else { x.ceil() as u64 }
}

/// DynamoDB read consistency: what one read of an item up to 4 KB costs in read units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    Eventual,
    Strong,
    Transactional,
}

impl Consistency {
    pub fn parse(s: &str) -> Option<Consistency> {
        match s {
            "eventual" => Some(Consistency::Eventual),
            "strong" => Some(Consistency::Strong),
            "transactional" => Some(Consistency::Transactional),
            _ => None,
        }
    }
    /// Read units per read of one 4 KB block: ½ eventual, 1 strong, 2 transactional.
    fn units_per_block(self) -> f64 {
        match self {
            Consistency::Eventual => 0.5,
            Consistency::Strong => 1.0,
            Consistency::Transactional => 2.0,
        }
    }
}

/// Read capacity units for `reads_per_s` of items of `item` size: ⌈item ÷ 4 KB⌉ blocks per read,
/// ½ unit per block eventually consistent, 1 strong, 2 transactional (AWS; 002: "1 RCU = 2
/// eventually consistent reads/s (4 KB)").
pub fn rcu(reads_per_s: f64, item: Bytes, c: Consistency) -> f64 {
    reads_per_s * blocks(item, 4_096.0) * c.units_per_block()
}

/// Write capacity units: ⌈item ÷ 1 KB⌉ per write, doubled when transactional.
pub fn wcu(writes_per_s: f64, item: Bytes, transactional: bool) -> f64 {
    writes_per_s * blocks(item, 1_024.0) * if transactional { 2.0 } else { 1.0 }
}

fn blocks(item: Bytes, block: f64) -> f64 {
    (item.0 / block).ceil().max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llm_chat_worked_example() {
        // 002: 1,000 users x 3 requests/min / 60 = 50 RPS; 50 RPS per pod.
        let rps = ReqRate(1000.0 * 3.0 / 60.0);
        let p = pods(rps, ReqRate(50.0), 1.3, 3.0);
        assert_eq!(p.required, 1000.0 * 3.0 / 60.0 / 50.0);
        assert_eq!(p.min, (p.required * 1.3_f64).ceil() as u64);
        assert_eq!(p.max, p.min * 3);
        // 10 backend pods of 0.5 core / 512 MB, 5 frontend of 0.2 / 256, on t3.large nodes.
        let n = nodes(
            &[
                PodLoad {
                    count: 10.0,
                    cpu: 0.5,
                    memory_mb: 512.0,
                },
                PodLoad {
                    count: 5.0,
                    cpu: 0.2,
                    memory_mb: 256.0,
                },
            ],
            1.8,
            6500.0,
            1.2,
        );
        let cpu: f64 = 10.0 * 0.5 + 5.0 * 0.2;
        let mem: f64 = 10.0 * 512.0 + 5.0 * 256.0;
        assert_eq!((n.total_cpu, n.total_memory_mb), (cpu, mem));
        assert_eq!(n.by_cpu, (cpu / 1.8).ceil() as u64);
        assert_eq!(n.by_memory, (mem / 6500.0).ceil() as u64);
        assert_eq!(n.recommended, (n.required as f64 * 1.2).ceil() as u64);
    }

    #[test]
    fn dynamodb_units_by_item_size_and_consistency() {
        let reads = 1000.0 * 0.5;
        assert_eq!(rcu(reads, Bytes(4_096.0), Consistency::Eventual), reads / 2.0);
        assert_eq!(rcu(reads, Bytes(4_096.0), Consistency::Strong), reads);
        assert_eq!(rcu(reads, Bytes(4_097.0), Consistency::Strong), reads * 2.0);
        assert_eq!(rcu(reads, Bytes(6_000.0), Consistency::Transactional), reads * 2.0 * 2.0);
        assert_eq!(wcu(100.0, Bytes(1_024.0), false), 100.0);
        assert_eq!(wcu(100.0, Bytes(2_500.0), true), 100.0 * 3.0 * 2.0);
    }

    #[test]
    fn ceil_ignores_float_noise_but_not_real_fractions() {
        assert_eq!(ceil(4.000_000_000_01), 4);
        assert_eq!(ceil(4.01), 5);
        assert_eq!(ceil(0.0), 0);
        assert_eq!(instances_for_users(5000.0, 70.0), (5000.0_f64 / 70.0).ceil() as u64);
        assert_eq!(instances_for_memory(Bytes(500e9), Bytes(4e9)), 125);
    }
}
