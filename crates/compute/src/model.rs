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
