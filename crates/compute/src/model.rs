//! Compute's records, as its tables hold them.

use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct Flavor {
    /// The row id; Nova shows it in a few messages and sorts by it last.
    pub id: i64,
    pub flavorid: String,
    pub name: String,
    pub memory_mb: i64,
    pub vcpus: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    pub swap: i64,
    pub rxtx_factor: f64,
    pub vcpu_weight: Option<i64>,
    pub is_public: bool,
    pub disabled: bool,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub extra_specs: BTreeMap<String, String>,
}

/// A flavor to create.
#[derive(Clone, Debug)]
pub struct NewFlavor {
    pub flavorid: String,
    pub name: String,
    pub memory_mb: i64,
    pub vcpus: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub description: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Keypair {
    pub id: i64,
    pub user_id: String,
    pub name: String,
    pub fingerprint: String,
    pub public_key: String,
    pub key_type: String,
    pub created_at: String,
}

/// A `nova-compute` service: one host an agent serves.
#[derive(Clone, Debug)]
pub struct Service {
    pub id: i64,
    pub uuid: String,
    pub host: String,
    pub binary: String,
    pub agent: Option<String>,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub forced_down: bool,
    pub last_seen_up: Option<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
}

/// A compute node (a hypervisor); its uuid is its Placement provider's.
#[derive(Clone, Debug)]
pub struct Node {
    pub id: i64,
    pub uuid: String,
    pub service_id: i64,
    pub host: String,
    pub hypervisor_hostname: String,
    pub hypervisor_type: String,
    pub hypervisor_version: i64,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub local_gb: i64,
    pub cpu_info: String,
    pub host_ip: Option<String>,
}
