//! Compute service tests over real HTTP against an in-process controller
//! (testkit), on SQLite or PostgreSQL (`FERROSTACK_TEST_BACKEND`).

mod aggregates;
mod authz;
mod common;
mod concurrency;
mod flavors;
mod hosts;
mod keypairs;
mod limits;
mod quotas;
mod reports;
mod scheduler;
mod server_actions;
mod server_groups;
mod server_lifecycle;
mod server_moves;
mod servers;
mod services;
mod versions;
