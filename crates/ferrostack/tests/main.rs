//! Tests of the ferrostack binary: its commands, `up` as users run it, and
//! crash safety of the database under kill -9.

mod cli;
mod compute_crash;
mod crash;
mod multi;
mod process;
