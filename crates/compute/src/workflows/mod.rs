//! Compute's durable operations, one file each, on the `workflow` engine.

pub mod server_action;
pub mod server_create;
pub mod server_delete;
pub mod server_resize;

use serde::{Deserialize, Serialize};

/// The parameters of every server workflow: which instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerParams {
    pub instance_uuid: String,
}

/// The parameters of a server action: which instance, which action, the
/// request that asked for it (the instance action's id), the task it set
/// and the vm_state it started from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActionParams {
    pub instance_uuid: String,
    pub action: String,
    pub request_id: String,
    pub task: Option<String>,
    pub from_vm_state: String,
    #[serde(default)]
    pub extra: serde_json::Value,
}

pub static ALL: &[&workflow::Workflow<crate::Compute>] = &[
    &server_create::WORKFLOW,
    &server_delete::WORKFLOW,
    &server_action::WORKFLOW,
    &server_resize::RESIZE,
    &server_resize::CONFIRM,
    &server_resize::REVERT,
];
