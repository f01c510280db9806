//! Compute's durable operations, one file each, on the `workflow` engine.

pub mod server_create;
pub mod server_delete;

use serde::{Deserialize, Serialize};

/// The parameters of every server workflow: which instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerParams {
    pub instance_uuid: String,
}

pub static ALL: &[&workflow::Workflow<crate::Compute>] = &[&server_create::WORKFLOW, &server_delete::WORKFLOW];
