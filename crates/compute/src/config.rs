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
    /// Seconds a server workflow (build, delete, ...) stays claimed by a
    /// controller without progress; after that another one takes it over.
    pub workflow_lease_seconds: u64,
    /// Servers a project may have (Nova's `[quota] instances`); -1 for no limit.
    pub quota_instances: i64,
    /// VCPUs a project may use (`[quota] cores`).
    pub quota_cores: i64,
    /// Memory a project may use, in MiB (`[quota] ram`).
    pub quota_ram: i64,
    /// Whether a resize may stay on the server's host (Nova's option of
    /// the same name; off as in Nova, so a resize needs a second host).
    pub allow_resize_to_same_host: bool,
    /// Hosts a build tries before it ends in ERROR (Nova's `[scheduler]
    /// max_attempts`): a spawn that fails on one host is rescheduled.
    pub scheduler_max_attempts: i64,
    /// What happens to a shelved server (Nova's `shelved_offload_time`):
    /// 0 offloads it at once (its host's resources are freed); any other
    /// value keeps it on its host until `shelveOffload`.
    pub shelved_offload_time: i64,
    /// Nova's weigher multipliers: positive spreads servers over the hosts
    /// with the most free memory, VCPUs or disk; negative packs them.
    pub ram_weight_multiplier: f64,
    pub cpu_weight_multiplier: f64,
    pub disk_weight_multiplier: f64,
    /// How strongly soft-affinity draws a group's members together and
    /// soft-anti-affinity pushes them apart.
    pub soft_affinity_weight_multiplier: f64,
    pub soft_anti_affinity_weight_multiplier: f64,
    /// Give every server a config drive, asked for or not (Nova's option).
    pub force_config_drive: bool,
    /// The QEMU driver's accelerator on agents: `auto` (KVM when a test
    /// guest runs under it, TCG otherwise), `kvm` or `tcg`.
    pub accel: String,
}

impl ComputeConfig {
    pub fn workflow(&self) -> workflow::EngineConfig {
        workflow::EngineConfig {
            lease: std::time::Duration::from_secs(self.workflow_lease_seconds.max(1)),
            ..Default::default()
        }
    }
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
            workflow_lease_seconds: 30,
            quota_instances: 10,
            quota_cores: 20,
            quota_ram: 51200,
            allow_resize_to_same_host: false,
            scheduler_max_attempts: 3,
            shelved_offload_time: 0,
            ram_weight_multiplier: 1.0,
            cpu_weight_multiplier: 1.0,
            disk_weight_multiplier: 1.0,
            soft_affinity_weight_multiplier: 1.0,
            soft_anti_affinity_weight_multiplier: 1.0,
            force_config_drive: false,
            accel: "auto".into(),
        }
    }
}
