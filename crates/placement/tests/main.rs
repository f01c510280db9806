//! Integration tests of the Placement API against a whole controller
//! started in-process by `testkit` (SQLite, or PostgreSQL with
//! `FERROSTACK_TEST_BACKEND=postgres`). Expected statuses, error codes and
//! bodies follow OpenStack Placement (its gabbi functional tests).

mod common;

mod api;
mod authz;
mod bad_input;
mod concurrency;
