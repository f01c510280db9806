//! `[compute]` configuration.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// Most items a list returns in one page (Nova's `[api] max_limit`).
    pub max_limit: i64,
    /// Keypairs a user may hold (Nova's `[quota] key_pairs`).
    pub quota_key_pairs: i64,
    /// VCPU allocation ratio reported to Placement for every node.
    pub cpu_allocation_ratio: f64,
    /// MEMORY_MB allocation ratio.
    pub ram_allocation_ratio: f64,
    /// DISK_GB allocation ratio.
    pub disk_allocation_ratio: f64,
    /// VCPUs kept for the host on every node.
    pub reserved_host_cpus: i64,
    /// Memory kept for the host on every node, in MiB.
    pub reserved_host_memory_mb: i64,
    /// Disk kept for the host on every node, in MiB.
    pub reserved_host_disk_mb: i64,
    /// Seconds without a heartbeat after which a compute service is down.
    pub service_down_time: i64,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            max_limit: 1000,
            quota_key_pairs: 100,
            cpu_allocation_ratio: 4.0,
            ram_allocation_ratio: 1.0,
            disk_allocation_ratio: 1.0,
            reserved_host_cpus: 0,
            reserved_host_memory_mb: 512,
            reserved_host_disk_mb: 0,
            service_down_time: 60,
        }
    }
}
