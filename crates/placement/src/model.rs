//! Rows as Placement's tables hold them.

use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct ProviderRow {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub generation: i64,
    pub parent_id: Option<i64>,
    pub root_id: i64,
    pub parent_uuid: Option<String>,
    pub root_uuid: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InventoryRow {
    pub resource_provider_id: i64,
    pub resource_class_id: i64,
    pub total: i64,
    pub reserved: i64,
    pub min_unit: i64,
    pub max_unit: i64,
    pub step_size: i64,
    pub allocation_ratio: f64,
    pub updated_at: String,
}

impl InventoryRow {
    /// (total - reserved) * allocation_ratio, as Placement computes it.
    pub fn capacity(&self) -> f64 {
        (self.total - self.reserved) as f64 * self.allocation_ratio
    }
}

#[derive(Clone, Debug)]
pub struct ConsumerRow {
    pub id: i64,
    pub uuid: String,
    pub project_id: String,
    pub user_id: String,
    pub generation: i64,
    pub consumer_type_id: Option<i64>,
    pub updated_at: String,
}

#[derive(Clone, Debug)]
pub struct AllocationRow {
    pub resource_provider_id: i64,
    pub resource_provider_uuid: String,
    pub resource_provider_generation: i64,
    pub consumer_uuid: String,
    pub consumer_generation: Option<i64>,
    pub resource_class_id: i64,
    pub used: i64,
    pub updated_at: String,
}

/// What the snapshot needs beyond the provider rows.
#[derive(Clone, Debug, Default)]
pub struct ProviderDetails {
    pub inventories: HashMap<i64, Vec<InventoryRow>>,
    pub usages: HashMap<(i64, i64), i64>,
    pub traits: HashMap<i64, Vec<i64>>,
    pub aggregates: HashMap<i64, Vec<String>>,
}
