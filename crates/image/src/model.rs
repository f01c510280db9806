//! Rows as the image tables hold them.

use std::collections::BTreeMap;

pub const STATUSES: &[&str] =
    &["queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"];
pub const VISIBILITIES: &[&str] = &["community", "public", "private", "shared"];
pub const CONTAINER_FORMATS: &[&str] = &["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"];
pub const DISK_FORMATS: &[&str] = &["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"];

#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub id: String,
    pub name: Option<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub size: Option<i64>,
    pub virtual_size: Option<i64>,
    pub status: String,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub owner: Option<String>,
    pub visibility: String,
    pub protected: bool,
    pub os_hidden: bool,
    pub min_ram: i64,
    pub min_disk: i64,
    pub location: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub properties: BTreeMap<String, String>,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub image_id: String,
    pub member: String,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A Glance task (`api_image_import`): an image import and its outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub id: String,
    pub task_type: String,
    pub status: String,
    pub owner: Option<String>,
    pub input: Option<serde_json::Value>,
    pub result: Option<serde_json::Value>,
    pub message: String,
    pub image_id: Option<String>,
    pub request_id: Option<String>,
    pub user_id: Option<String>,
    pub expires_at: Option<String>,
    pub lease_until: Option<String>,
    pub attempts: i64,
    pub created_at: String,
    pub updated_at: String,
}
