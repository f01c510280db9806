//! Resizing or cold-migrating a server, and confirming or reverting it.
//!
//! Resize / migrate (`server_resize`):
//!
//! | step | action | undo |
//! |---|---|---|
//! | `claim_destination` | choose a host for the new flavor; in one Placement write the migration takes the source's allocations and the instance claims the destination | the instance gets the source's allocations back; the migration and the server's task end in error |
//! | `stop_source` | (another host) the source powers off | it powers on again if it was running |
//! | `transfer_disks` | (another host) the destination listens for the disks, the source sends them | the destination destroys what it received |
//! | `prepare_destination` | the destination spawns it with the new flavor (same host: resizes it) | the destination destroys it (same host: resizes it back) |
//! | `finish` | VERIFY_RESIZE on the destination, migration `finished` | — |
//!
//! Confirm (`server_resize_confirm`): the source destroys its copy, the
//! migration's allocations go, ACTIVE (or SHUTOFF) again. Revert
//! (`server_resize_revert`): the destination's copy goes (same host: back to
//! the old size), the instance takes the source's allocations back, the
//! source powers on, the old flavor and host return.

use std::sync::Arc;

use agent::protocol::Action;
use futures_util::future::BoxFuture;
use placement::core::ConsumerAllocations;
use workflow::{Run, Step, StepError, StepResult, Workflow};

use super::{destroy_on_host, host_result, on_host, retry, spec, ActionParams};
use crate::db as q;
use crate::model::{Instance, Migration};
use crate::scheduler::MoveClaim;
use crate::Compute;

pub static RESIZE: Workflow<Compute> = Workflow {
    kind: "server_resize",
    steps: &[
        Step { name: "claim_destination", action: claim_destination, undo: Some(unclaim) },
        Step { name: "stop_source", action: stop_source, undo: Some(restart_source) },
        Step { name: "transfer_disks", action: transfer_disks, undo: Some(unprepare_destination) },
        Step { name: "prepare_destination", action: prepare_destination, undo: Some(unprepare_destination) },
        Step { name: "finish", action: finish_resize, undo: None },
    ],
};

pub static CONFIRM: Workflow<Compute> = Workflow {
    kind: "server_resize_confirm",
    steps: &[
        Step { name: "cleanup_source", action: cleanup_source, undo: None },
        Step { name: "drop_source_claim", action: drop_source_claim, undo: None },
        Step { name: "finish", action: finish_confirm, undo: None },
    ],
};

pub static REVERT: Workflow<Compute> = Workflow {
    kind: "server_resize_revert",
    steps: &[
        Step { name: "undo_destination", action: unprepare_destination, undo: None },
        Step { name: "restore_claim", action: restore_claim, undo: None },
        Step { name: "start_source", action: start_source, undo: None },
        Step { name: "finish", action: finish_revert, undo: None },
    ],
};

pub(super) async fn context(c: &Compute, run: &Run) -> Result<(ActionParams, Instance, Migration), StepError> {
    let p: ActionParams = run.params()?;
    let i = q::instance_by_uuid(&c.db, &p.instance_uuid).await.map_err(retry)?;
    let Some(i) = i.filter(|i| !i.deleted) else {
        return Err(StepError::Fail("the server was deleted".into()));
    };
    let mid = p.extra["migration"].as_str().unwrap_or_default().to_string();
    let m = q::migration_by_uuid(&c.db, &mid).await.map_err(retry)?;
    let m = m.ok_or_else(|| StepError::Fail(format!("migration {mid} is gone")))?;
    Ok((p, i, m))
}

fn same_host(m: &Migration) -> bool {
    m.source_compute == m.dest_compute
}

pub(super) fn claim_destination(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, i, m) = context(&c, run).await?;
        if i.task_state != p.task {
            return Err(StepError::Fail("the server changed state while it was being resized".into()));
        }
        let source = c.placement.consumer_allocations(&i.uuid).await.map_err(|e| StepError::Retry(e.message))?;
        let resize = m.migration_type == "resize";
        let claim = MoveClaim {
            migration: m.uuid.clone(),
            flavor: m.new_flavor.clone(),
            source,
            exclude_host: if resize && c.config.allow_resize_to_same_host { None } else { i.host.clone() },
            target_host: p.extra["host"].as_str().map(str::to_string),
        };
        let placed = c.schedule_and_claim(&i, Some(&claim)).await.map_err(StepError::Fail)?;
        q::set_migration(&c.db, &m.uuid, "migrating", Some((&placed.host, &placed.node))).await.map_err(retry)?;
        Ok(())
    })
}

pub(super) fn unclaim(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, i, m) = context(&c, run).await?;
        give_back_source(&c, &i, &m).await?;
        let status = if m.status == "cancelling" { "cancelled" } else { "error" };
        q::set_migration(&c.db, &m.uuid, status, None).await.map_err(retry)?;
        q::finish_task(&c.db, &i.uuid, p.task.as_deref(), &p.from_vm_state, None).await.map_err(retry)?;
        let error = run.error.clone().unwrap_or_else(|| "the resize was interrupted".into());
        let event = match m.migration_type.as_str() {
            "live-migration" => "compute_live_migration",
            "evacuation" => "compute_rebuild_instance",
            _ => "compute_prep_resize",
        };
        q::action_event(&c.db, &i.uuid, &p.request_id, event, i.host.as_deref(), Some(&error)).await.map_err(retry)?;
        tracing::warn!(instance = %i.uuid, kind = %m.migration_type, error = %error, "move failed; the server keeps its flavor and host");
        Ok(())
    })
}

/// The instance takes back what the migration holds of the source (done
/// when the migration holds nothing).
pub(super) async fn give_back_source(c: &Compute, i: &Instance, m: &Migration) -> Result<(), StepError> {
    let held = c.placement.consumer_allocations(&m.uuid).await.map_err(|e| StepError::Retry(e.message))?;
    if held.is_empty() {
        return Ok(());
    }
    let writes = [
        ConsumerAllocations {
            consumer_uuid: i.uuid.clone(),
            project_id: Some(i.project_id.clone()),
            user_id: Some(i.user_id.clone()),
            consumer_generation: None,
            consumer_type: Some("INSTANCE".into()),
            allocations: held,
        },
        ConsumerAllocations {
            consumer_uuid: m.uuid.clone(),
            project_id: Some(i.project_id.clone()),
            user_id: Some(i.user_id.clone()),
            consumer_generation: None,
            consumer_type: Some("MIGRATION".into()),
            allocations: Vec::new(),
        },
    ];
    c.placement.set_allocations(&writes, None).await.map_err(|e| StepError::Retry(e.message))
}

fn stop_source(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, i, m) = context(&c, run).await?;
        let source = m.source_compute.clone().unwrap_or_default();
        if same_host(&m) || p.from_vm_state != "active" {
            return Ok(());
        }
        on_host(&c, &source, format!("resize-stop-{}", m.uuid), Action::PowerOff { uuid: i.uuid }).await?;
        Ok(())
    })
}

fn restart_source(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, i, m) = context(&c, run).await?;
        if same_host(&m) || p.from_vm_state != "active" {
            return Ok(());
        }
        let source = m.source_compute.clone().unwrap_or_default();
        on_host(&c, &source, format!("resize-restart-{}", m.uuid), Action::PowerOn { uuid: i.uuid }).await?;
        Ok(())
    })
}

/// The source's disks go to the destination (the source keeps its copy
/// until the move is confirmed or reverted).
fn transfer_disks(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (_, i, m) = context(&c, run).await?;
        if same_host(&m) {
            return Ok(());
        }
        let (Some(source), Some(dest)) = (m.source_compute.clone(), m.dest_compute.clone()) else {
            return Err(StepError::Fail("the migration has no source or destination".into()));
        };
        let receive = Action::PrepareDiskTransfer { uuid: i.uuid.clone() };
        let r = host_result(&c, &dest, &format!("resize-receive-{}", m.uuid), &receive).await?;
        let uri = r.output.unwrap_or_default();
        if uri.is_empty() {
            return Ok(());
        }
        on_host(&c, &source, format!("resize-send-{}", m.uuid), Action::SendDisks { uuid: i.uuid, uri }).await?;
        Ok(())
    })
}

fn prepare_destination(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, i, m) = context(&c, run).await?;
        let (Some(dest), Some(node)) = (m.dest_compute.clone(), m.dest_node.clone()) else {
            return Err(StepError::Fail("the migration has no destination".into()));
        };
        let mut new = spec(&i, &m.new_flavor, &node);
        // A stopped server is moved without being started (a resize on its
        // own host keeps its power state).
        new.stopped = p.from_vm_state == "stopped";
        let power = if same_host(&m) {
            on_host(&c, &dest, format!("resize-{}", m.uuid), Action::Resize { spec: new }).await?
        } else {
            on_host(&c, &dest, format!("resize-spawn-{}", m.uuid), Action::Spawn { spec: new }).await?
        };
        if let Some(power) = power {
            run.set("power_state", power);
        }
        Ok(())
    })
}

fn unprepare_destination(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (_, i, m) = context(&c, run).await?;
        let Some(dest) = m.dest_compute.clone() else { return Ok(()) };
        if same_host(&m) {
            let node = m.source_node.clone().unwrap_or_default();
            let old = spec(&i, &m.old_flavor, &node);
            on_host(&c, &dest, format!("resize-back-{}", m.uuid), Action::Resize { spec: old }).await?;
        } else {
            destroy_on_host(&c, &dest, &format!("resize-destroy-{}", m.uuid), &i.uuid).await?;
        }
        Ok(())
    })
}

fn finish_resize(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, mut i, m) = context(&c, run).await?;
        if i.task_state == p.task {
            i.host = m.dest_compute.clone();
            i.node = m.dest_node.clone();
            i.old_flavor = Some(m.old_flavor.clone());
            i.new_flavor = None;
            i.flavor = m.new_flavor.clone();
            i.system_metadata.insert("old_vm_state".into(), p.from_vm_state.clone());
            q::save_placement(&c.db, &i).await.map_err(retry)?;
            q::finish_task(&c.db, &i.uuid, p.task.as_deref(), "resized", run.get::<i64>("power_state"))
                .await
                .map_err(retry)?;
        }
        q::set_migration(&c.db, &m.uuid, "finished", None).await.map_err(retry)?;
        q::action_event(&c.db, &i.uuid, &p.request_id, "compute_finish_resize", m.dest_compute.as_deref(), None)
            .await
            .map_err(retry)?;
        tracing::info!(instance = %i.uuid, host = ?m.dest_compute, flavor = %m.new_flavor.flavorid, "server resized; waiting for confirm or revert");
        Ok(())
    })
}

fn cleanup_source(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (_, i, m) = context(&c, run).await?;
        if same_host(&m) {
            return Ok(());
        }
        let source = m.source_compute.clone().unwrap_or_default();
        destroy_on_host(&c, &source, &format!("confirm-{}", m.uuid), &i.uuid).await
    })
}

pub(super) fn drop_source_claim(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (_, _, m) = context(&c, run).await?;
        c.placement.delete_allocations(&m.uuid).await.map_err(|e| StepError::Retry(e.message))?;
        Ok(())
    })
}

async fn end_move(c: &Compute, run: &Run, status: &str, event: &str) -> Result<(), StepError> {
    let (p, mut i, m) = context(c, run).await?;
    let vm = i.system_metadata.get("old_vm_state").cloned().unwrap_or_else(|| "active".into());
    if i.task_state == p.task {
        if status == "reverted" {
            i.host = m.source_compute.clone();
            i.node = m.source_node.clone();
            i.flavor = m.old_flavor.clone();
        }
        i.old_flavor = None;
        i.system_metadata.remove("old_vm_state");
        q::save_placement(&c.db, &i).await.map_err(retry)?;
        let power = if vm == "stopped" { 4 } else { 1 };
        q::finish_task(&c.db, &i.uuid, p.task.as_deref(), &vm, Some(power)).await.map_err(retry)?;
    }
    q::set_migration(&c.db, &m.uuid, status, None).await.map_err(retry)?;
    q::action_event(&c.db, &i.uuid, &p.request_id, event, i.host.as_deref(), None).await.map_err(retry)?;
    tracing::info!(instance = %i.uuid, migration = %m.uuid, status, "resize ended");
    Ok(())
}

fn finish_confirm(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move { end_move(&c, run, "confirmed", "compute_confirm_resize").await })
}

fn restore_claim(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (_, i, m) = context(&c, run).await?;
        give_back_source(&c, &i, &m).await
    })
}

fn start_source(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (_, i, m) = context(&c, run).await?;
        let was = i.system_metadata.get("old_vm_state").map(String::as_str).unwrap_or("active");
        if same_host(&m) || was != "active" {
            return Ok(());
        }
        let source = m.source_compute.clone().unwrap_or_default();
        on_host(&c, &source, format!("revert-start-{}", m.uuid), Action::PowerOn { uuid: i.uuid }).await?;
        Ok(())
    })
}

fn finish_revert(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move { end_move(&c, run, "reverted", "compute_finish_revert_resize").await })
}
