//! The Placement service: resource providers and their trees, inventories,
//! resource classes, traits, aggregates, consumers and their allocations,
//! usages, allocation candidates and the reshaper.
//!
//! It owns the `placement_*` tables. Other services reach it only through
//! its HTTP API or [`Placement`]; it must not touch their tables.

pub mod candidates;
pub mod config;
pub mod core;
pub mod db;
pub mod model;
pub mod policies;
pub mod standard;

mod api;

pub use crate::api::router;
pub use crate::config::PlacementConfig;
pub use crate::core::Placement;
pub use crate::db::MIGRATIONS;
