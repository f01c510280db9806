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

/// The flavor an instance was built with, as it was then.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InstanceFlavor {
    pub flavorid: String,
    pub name: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    pub swap: i64,
    pub extra_specs: BTreeMap<String, String>,
}

/// Why an instance is in ERROR.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fault {
    pub code: i64,
    pub message: String,
    pub details: String,
    pub created: String,
}

#[derive(Clone, Debug)]
pub struct Instance {
    pub uuid: String,
    pub name: String,
    pub hostname: String,
    pub project_id: String,
    pub user_id: String,
    pub image_ref: String,
    pub flavor: InstanceFlavor,
    pub key_name: Option<String>,
    pub key_data: Option<String>,
    pub user_data: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub availability_zone: Option<String>,
    pub host: Option<String>,
    pub node: Option<String>,
    pub vm_state: String,
    pub task_state: Option<String>,
    pub power_state: i64,
    pub launch_index: i64,
    pub reservation_id: String,
    pub description: Option<String>,
    pub scheduler_hints: serde_json::Value,
    pub fault: Option<Fault>,
    pub launched_at: Option<String>,
    pub terminated_at: Option<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub deleted: bool,
    pub deleted_at: Option<String>,
    /// `owner` or `admin` while locked.
    pub locked_by: Option<String>,
    pub tags: Vec<String>,
    /// Nova's system metadata: `locked_reason`, `old_vm_state`, the
    /// password the guest posted, ...
    pub system_metadata: BTreeMap<String, String>,
    /// The flavors of a resize that is not confirmed or reverted yet.
    pub old_flavor: Option<InstanceFlavor>,
    pub new_flavor: Option<InstanceFlavor>,
}

/// A host aggregate; its availability zone is the `availability_zone`
/// metadata key, as in Nova.
#[derive(Clone, Debug)]
pub struct Aggregate {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub hosts: Vec<String>,
    pub metadata: BTreeMap<String, String>,
}

impl Aggregate {
    pub fn availability_zone(&self) -> Option<&str> {
        self.metadata.get("availability_zone").map(String::as_str)
    }
}

/// A resize or migration of an instance (`os-migrations`); its uuid is
/// also the Placement consumer that holds the source's resources until the
/// move is confirmed or reverted.
#[derive(Clone, Debug)]
pub struct Migration {
    pub id: i64,
    pub uuid: String,
    pub instance_uuid: String,
    /// `resize`, `migration`, `live-migration` or `evacuation`.
    pub migration_type: String,
    pub status: String,
    pub source_compute: Option<String>,
    pub source_node: Option<String>,
    pub dest_compute: Option<String>,
    pub dest_node: Option<String>,
    pub old_flavor: InstanceFlavor,
    pub new_flavor: InstanceFlavor,
    pub user_id: String,
    pub project_id: String,
    pub created_at: String,
    pub updated_at: Option<String>,
}
