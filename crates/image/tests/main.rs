//! Image service tests over real HTTP against an in-process controller
//! (testkit), on SQLite or PostgreSQL (`FERROSTACK_TEST_BACKEND`).

mod api;
mod authz;
mod common;
mod data;
mod import;
mod quota;
