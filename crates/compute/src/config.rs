//! `[compute]` configuration.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// Most items a list returns in one page (Nova's `[api] max_limit`).
    pub max_limit: i64,
    /// Keypairs a user may hold (Nova's `[quota] key_pairs`).
    pub quota_key_pairs: i64,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig { max_limit: 1000, quota_key_pairs: 100 }
    }
}
