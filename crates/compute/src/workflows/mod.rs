//! Compute's durable operations, one file each, on the `workflow` engine.

pub mod server_action;
pub mod server_create;
pub mod server_delete;
pub mod server_resize;

use serde::{Deserialize, Serialize};
use workflow::{StepError, StepResult};

use crate::Compute;

/// Has `host` destroy an instance (the command idempotent under `key`);
/// a host the controller no longer knows has nothing left to destroy.
pub async fn destroy_on_host(c: &Compute, host: &str, key: &str, uuid: &str) -> StepResult {
    match c.run_on_host(host, key, &agent::protocol::Action::Destroy { uuid: uuid.to_string() }).await {
        Ok(r) => match r.error {
            None => Ok(()),
            Some(e) => Err(StepError::Retry(e)),
        },
        Err(e) if e.contains("is not known") => Ok(()),
        Err(e) => Err(StepError::Retry(e)),
    }
}

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
