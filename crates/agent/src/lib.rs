//! The host agent and the controller<->agent protocol.
//!
//! An agent runs one hypervisor driver (`virt`) for the hosts it serves and
//! talks to controllers over HTTP only: it reports the full state it holds
//! on (re)connect, long-polls its commands, runs each through the driver
//! and reports the result. Commands are durable rows on the controller's
//! side, identified by a sequence number and an idempotency key; an agent
//! that sees a command twice runs it twice, which the drivers allow (every
//! driver operation is idempotent).
//!
//! It never touches the database; the controller side of the protocol
//! lives in the `compute` crate.

pub mod images;
pub mod protocol;
pub mod runner;

pub use images::{GlanceImages, TokenCell};
pub use runner::{Agent, AgentConfig};
