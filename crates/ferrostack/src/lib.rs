//! The `ferrostack` binary's library half: configuration, and wiring the
//! services into one controller (HTTP routes, background tasks, bootstrap).
//!
//! It holds no service logic of its own; each service lives in its crate.

pub mod config;
pub mod controller;

pub use config::Config;
pub use controller::Controller;
