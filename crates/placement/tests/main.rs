//! Placement API tests against a real server (testkit), on SQLite or PostgreSQL.
