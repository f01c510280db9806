//! The Identity service (Keystone v3): authentication, Fernet tokens with
//! revocation, domains, projects, users, groups, roles and assignments,
//! application credentials, credentials, the service catalog and unified
//! limits.
//!
//! It owns the `identity_*` tables and the Fernet key repository. Other
//! services reach it only through [`Identity`] (token validation through
//! `api_core::TokenValidator`); it must not touch their tables.

mod api;
pub mod bootstrap;
pub mod config;
pub mod core;
pub mod db;
pub mod model;
pub mod policies;
pub mod token;

pub use crate::api::router;
pub use crate::config::IdentityConfig;
pub use crate::core::Identity;
pub use crate::db::MIGRATIONS;
