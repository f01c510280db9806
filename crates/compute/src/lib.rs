//! The Compute service (Nova API v2.1 and its microversions): flavors with
//! their extra specs and access lists, keypairs, and the version documents;
//! servers, scheduling through Placement and the host agents follow on the
//! same layers.
//!
//! It owns the `compute_*` tables. It reaches Placement and Image through
//! their typed in-process interfaces and runs its multi-step operations on
//! the `workflow` engine; it must not read other services' tables.

pub mod actions;
pub mod aggregates;
pub mod config;
pub mod core;
pub mod db;
pub mod extra_specs;
pub mod hosts;
pub mod keys;
pub mod model;
pub mod moves;
pub mod policies;
pub mod quotas;
pub mod scheduler;
pub mod server_groups;
pub mod servers;
pub mod snapshots;
pub mod workflows;

mod api;

pub use crate::api::{agent_router, router, VERSIONS};
pub use crate::config::ComputeConfig;
pub use crate::core::Compute;
pub use crate::db::MIGRATIONS;
