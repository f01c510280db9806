//! Integration tests of the Identity API (Keystone v3) against a whole
//! controller started in-process by `testkit` (SQLite, or PostgreSQL with
//! `FERROSTACK_TEST_BACKEND=postgres`).

mod common;

mod api;
mod authz;
mod bad_input;
