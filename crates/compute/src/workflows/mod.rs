//! Compute's durable operations, one file each, on the `workflow` engine.

pub mod server_action;
pub mod server_create;
pub mod server_delete;
pub mod server_live_migrate;
pub mod server_rebuild;
pub mod server_resize;
pub mod server_shelve;
pub mod server_snapshot;

use serde::{Deserialize, Serialize};
use workflow::{StepError, StepResult};

use crate::db as q;
use crate::model::{Instance, InstanceFlavor};
use crate::Compute;

pub fn retry(e: impl std::fmt::Display) -> StepError {
    StepError::Retry(e.to_string())
}

/// Runs `action` on `host` (idempotent under `key`); a driver error fails
/// the step. Answers the instance's power state after it, when it exists.
pub async fn on_host(
    c: &Compute,
    host: &str,
    key: String,
    action: agent::protocol::Action,
) -> Result<Option<i64>, StepError> {
    let r = host_result(c, host, &key, &action).await?;
    Ok(r.instance.map(|x| u8::from(x.power_state) as i64))
}

/// As [`on_host`], answering the whole result (for an action whose
/// `output` matters).
pub async fn host_result(
    c: &Compute,
    host: &str,
    key: &str,
    action: &agent::protocol::Action,
) -> Result<agent::protocol::CommandResult, StepError> {
    let r = c.run_on_host(host, key, action).await.map_err(StepError::Retry)?;
    match r.error {
        Some(e) => Err(StepError::Fail(e)),
        None => Ok(r),
    }
}

/// Chooses a host for `i`, claims it in Placement and records the host,
/// node and zone on the instance, with `task_state` when given (members of a
/// hard-policy server group one at a time). No valid host fails the step;
/// anything else is retried.
pub async fn place(c: &Compute, i: &Instance, task_state: Option<&str>) -> Result<crate::scheduler::Placed, StepError> {
    let _placing = c.group_lock(i).await.map_err(StepError::Retry)?;
    let placed = c.schedule_and_claim(i, None).await.map_err(|e| {
        if e.starts_with("No valid host") {
            StepError::Fail(e)
        } else {
            StepError::Retry(e)
        }
    })?;
    let zone = c.scheduled_zone(&placed.host).await.map_err(StepError::Retry)?;
    q::set_instance_host(&c.db, &i.uuid, Some(&placed.host), Some(&placed.node), Some(&zone), task_state)
        .await
        .map_err(retry)?;
    Ok(placed)
}

/// What a host needs to run the instance with flavor `f` on `node`.
pub fn spec(i: &Instance, f: &InstanceFlavor, node: &str) -> virt::InstanceSpec {
    virt::InstanceSpec {
        uuid: i.uuid.clone(),
        name: i.name.clone(),
        node: node.to_string(),
        vcpus: f.vcpus,
        memory_mb: f.memory_mb,
        root_gb: f.root_gb,
        image_ref: i.image_ref.clone(),
        user_data: i.user_data.clone(),
        key_data: i.key_data.clone(),
        ephemeral_gb: f.ephemeral_gb,
        swap_mb: f.swap,
        config_drive: config_drive(i, f),
        stopped: false,
    }
}

/// The config drive's metadata (Nova's `InstanceMetadata`), when the
/// instance has one.
fn config_drive(i: &Instance, f: &InstanceFlavor) -> Option<virt::ConfigDrive> {
    use base64::Engine;
    use serde_json::{json, Map, Value};
    if i.system_metadata.get("config_drive").map(String::as_str) != Some("True") {
        return None;
    }
    let hostname = format!("{}.novalocal", i.hostname);
    let zone = i.availability_zone.clone().unwrap_or_else(|| "nova".into());
    let mut md = Map::new();
    md.insert("uuid".into(), json!(i.uuid));
    if !i.metadata.is_empty() {
        md.insert("meta".into(), json!(i.metadata));
    }
    if let (Some(name), Some(key)) = (&i.key_name, &i.key_data) {
        md.insert("public_keys".into(), json!({ name: key }));
        md.insert("keys".into(), json!([{"name": name, "type": "ssh", "data": key}]));
    }
    md.insert("hostname".into(), json!(hostname));
    md.insert("name".into(), json!(i.name));
    md.insert("launch_index".into(), json!(i.launch_index));
    md.insert("availability_zone".into(), json!(zone));
    let seed: Vec<u8> = (0..32).flat_map(|_| *uuid::Uuid::new_v4().as_bytes()).collect();
    md.insert("random_seed".into(), json!(base64::engine::general_purpose::STANDARD.encode(seed)));
    md.insert("project_id".into(), json!(i.project_id));
    md.insert("devices".into(), json!([]));
    md.insert("dedicated_cpus".into(), json!([]));
    let ec2 = json!({
        "ami-id": i.image_ref,
        "ami-launch-index": i.launch_index,
        "ami-manifest-path": "FIXME",
        "block-device-mapping": {"ami": "vda", "root": "/dev/vda"},
        "hostname": hostname,
        "instance-action": "none",
        "instance-id": format!("i-{}", &i.uuid.replace('-', "")[..8]),
        "instance-type": f.name,
        "local-hostname": hostname,
        "local-ipv4": Value::Null,
        "placement": {"availability-zone": zone},
        "public-hostname": hostname,
        "public-ipv4": Value::Null,
        "reservation-id": i.reservation_id,
        "security-groups": ["default"],
    });
    Some(virt::ConfigDrive { meta_data: Value::Object(md), ec2_meta_data: ec2, network_data: json!({}) })
}

/// An action's parameters and its instance (a deleted instance fails the step).
pub async fn action_context(c: &Compute, run: &workflow::Run) -> Result<(ActionParams, Instance), StepError> {
    let p: ActionParams = run.params()?;
    let i = q::instance_by_uuid(&c.db, &p.instance_uuid).await.map_err(retry)?;
    let i = i.filter(|i| !i.deleted).ok_or_else(|| StepError::Fail("the server was deleted".into()))?;
    Ok((p, i))
}

/// Ends an action that failed: the task ends with the server in
/// `vm_state`, and the action's event records the error.
pub async fn action_failed(c: &Compute, run: &workflow::Run, vm_state: &str, event: &str) -> StepResult {
    let p: ActionParams = run.params()?;
    q::finish_task(&c.db, &p.instance_uuid, p.task.as_deref(), vm_state, None).await.map_err(retry)?;
    let error = run.error.clone().unwrap_or_else(|| "the action was interrupted".into());
    let host = run.get::<String>("host");
    q::action_event(&c.db, &p.instance_uuid, &p.request_id, event, host.as_deref(), Some(&error))
        .await
        .map_err(retry)?;
    tracing::warn!(instance = %p.instance_uuid, action = %p.action, vm_state, error = %error, "server action failed");
    Ok(())
}

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
    &server_snapshot::WORKFLOW,
    &server_shelve::SHELVE,
    &server_shelve::OFFLOAD,
    &server_shelve::UNSHELVE,
    &server_rebuild::REBUILD,
    &server_rebuild::EVACUATE,
    &server_live_migrate::WORKFLOW,
];
