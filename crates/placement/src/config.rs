//! Placement settings (`[placement]` section of ferrostack.toml).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlacementConfig {
    /// Shuffle allocation candidates before `limit` cuts them, so concurrent
    /// schedulers spread their claims instead of racing for the same hosts.
    pub randomize_allocation_candidates: bool,
    /// Project recorded for allocations written before microversion 1.8,
    /// which carry none.
    pub incomplete_consumer_project_id: String,
    /// User recorded for allocations written before microversion 1.8.
    pub incomplete_consumer_user_id: String,
    /// Most allocation candidates computed for one request; -1: no limit.
    pub max_allocation_candidates: i64,
    /// Order in which root providers are visited while generating candidates:
    /// `depth-first` (all of one root's first) or `breadth-first` (one of
    /// each root in turn, better with `max_allocation_candidates` on wide
    /// symmetric trees).
    pub allocation_candidates_generation_strategy: String,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        PlacementConfig {
            randomize_allocation_candidates: false,
            incomplete_consumer_project_id: "00000000-0000-0000-0000-000000000000".into(),
            incomplete_consumer_user_id: "00000000-0000-0000-0000-000000000000".into(),
            max_allocation_candidates: -1,
            allocation_candidates_generation_strategy: "depth-first".into(),
        }
    }
}
