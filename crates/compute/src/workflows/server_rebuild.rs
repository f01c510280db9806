//! Rebuilding a server on its host, and evacuating it to another host when
//! its own is down.
//!
//! Rebuild (`server_rebuild`):
//!
//! | step | action | undo |
//! |---|---|---|
//! | `rebuild_on_host` | the new image, name, metadata, key and user data are saved; the host destroys the server and spawns it again from the image (powered off again if it was stopped) | ERROR (as Nova), the event records the error |
//! | `finish` | ACTIVE (or SHUTOFF), no task | — |
//!
//! Evacuate (`server_evacuate`), with a migration of type `evacuation`:
//!
//! | step | action | undo |
//! |---|---|---|
//! | `claim_destination` | a host other than the failed one; the migration holds the old host's allocations, the server claims the new one | the server gets its allocations back, the migration ends in error |
//! | `rebuild_on_destination` | the destination spawns it from its image (powered off when it was stopped) | the destination destroys it |
//! | `finish` | the server's host is the destination, the old host's allocations go, migration `done`; the old host destroys its copy when it reports again | — |

use std::sync::Arc;

use agent::protocol::Action;
use futures_util::future::BoxFuture;
use workflow::{Run, Step, StepError, StepResult, Workflow};

use super::server_resize::{claim_destination, context, drop_source_claim, unclaim};
use super::{action_context, action_failed, destroy_on_host, on_host, retry, spec, ActionParams};
use crate::db as q;
use crate::Compute;

pub static REBUILD: Workflow<Compute> = Workflow {
    kind: "server_rebuild",
    steps: &[
        Step { name: "rebuild_on_host", action: rebuild_on_host, undo: Some(rebuild_failed) },
        Step { name: "finish", action: finish_rebuild, undo: None },
    ],
};

pub static EVACUATE: Workflow<Compute> = Workflow {
    kind: "server_evacuate",
    steps: &[
        Step { name: "claim_destination", action: claim_destination, undo: Some(unclaim) },
        Step { name: "rebuild_on_destination", action: rebuild_on_destination, undo: Some(undo_destination) },
        Step { name: "finish", action: finish_evacuate, undo: None },
    ],
};

fn rebuild_on_host(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, mut i) = action_context(&c, run).await?;
        if i.task_state != p.task {
            return Err(StepError::Fail("the server changed state while it was rebuilt".into()));
        }
        let (Some(host), Some(node)) = (i.host.clone(), i.node.clone()) else {
            return Err(StepError::Fail(format!("Instance {} is not ready", i.uuid)));
        };
        run.set("host", &host);
        let f = &p.extra["fields"];
        let text = |k: &str| f[k].as_str().map(str::to_string);
        if let Some(image) = text("image_ref") {
            i.image_ref = image;
        }
        if let Some(name) = text("name") {
            i.name = name;
        }
        if let Some(h) = text("hostname") {
            i.hostname = h;
        }
        if f.get("description").is_some() {
            i.description = text("description");
        }
        if let Some(m) = f["metadata"].as_object() {
            i.metadata = m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect();
        }
        if f.get("key_name").is_some() {
            i.key_name = text("key_name");
            i.key_data = text("key_data");
        }
        if f.get("user_data").is_some() {
            i.user_data = text("user_data");
        }
        let mut tx = c.db.writer().begin().await.map_err(retry)?;
        q::save_instance_fields(&mut tx, &i).await.map_err(retry)?;
        tx.commit().await.map_err(retry)?;
        let rid = &p.request_id;
        on_host(&c, &host, format!("rebuild-destroy-{rid}"), Action::Destroy { uuid: i.uuid.clone() }).await?;
        let mut spec = spec(&i, &i.flavor, &node);
        spec.stopped = p.from_vm_state == "stopped";
        let power = on_host(&c, &host, format!("rebuild-spawn-{rid}"), Action::Spawn { spec }).await?;
        run.set("power_state", power.unwrap_or(1));
        Ok(())
    })
}

fn rebuild_failed(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move { action_failed(&c, run, "error", "compute_rebuild_instance").await })
}

fn finish_rebuild(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ActionParams = run.params()?;
        let vm = if p.from_vm_state == "stopped" { "stopped" } else { "active" };
        q::finish_task(&c.db, &p.instance_uuid, p.task.as_deref(), vm, run.get::<i64>("power_state"))
            .await
            .map_err(retry)?;
        let host = run.get::<String>("host");
        q::action_event(&c.db, &p.instance_uuid, &p.request_id, "compute_rebuild_instance", host.as_deref(), None)
            .await
            .map_err(retry)?;
        tracing::info!(instance = %p.instance_uuid, vm_state = vm, "server rebuilt");
        Ok(())
    })
}

/// Whether an evacuated server ends stopped: it was, or the request's
/// microversion (2.95) says so.
fn ends_stopped(p: &ActionParams) -> bool {
    p.from_vm_state == "stopped" || p.extra["stop"].as_bool().unwrap_or(false)
}

fn rebuild_on_destination(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, i, m) = context(&c, run).await?;
        let (Some(dest), Some(node)) = (m.dest_compute.clone(), m.dest_node.clone()) else {
            return Err(StepError::Fail("the evacuation has no destination".into()));
        };
        let mut spec = spec(&i, &i.flavor, &node);
        spec.stopped = ends_stopped(&p);
        let power = on_host(&c, &dest, format!("evacuate-spawn-{}", m.uuid), Action::Spawn { spec }).await?;
        run.set("power_state", power.unwrap_or(1));
        Ok(())
    })
}

fn undo_destination(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (_, i, m) = context(&c, run).await?;
        let Some(dest) = m.dest_compute.clone() else { return Ok(()) };
        destroy_on_host(&c, &dest, &format!("evacuate-undo-{}", m.uuid), &i.uuid).await
    })
}

fn finish_evacuate(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, mut i, m) = context(&c, run).await?;
        // The instance names its new host before the migration is done (so
        // that host's reports keep it), and the migration is done before the
        // task ends (so a caller that sees the server settle sees it done).
        if i.task_state == p.task {
            i.host = m.dest_compute.clone();
            i.node = m.dest_node.clone();
            q::save_placement(&c.db, &i).await.map_err(retry)?;
        }
        drop_source_claim(c.clone(), run).await?;
        q::set_migration(&c.db, &m.uuid, "done", None).await.map_err(retry)?;
        if i.task_state == p.task {
            let vm = if ends_stopped(&p) { "stopped" } else { "active" };
            q::finish_task(&c.db, &i.uuid, p.task.as_deref(), vm, run.get::<i64>("power_state"))
                .await
                .map_err(retry)?;
        }
        q::action_event(&c.db, &i.uuid, &p.request_id, "compute_rebuild_instance", m.dest_compute.as_deref(), None)
            .await
            .map_err(retry)?;
        tracing::info!(instance = %i.uuid, from = ?m.source_compute, to = ?m.dest_compute, "server evacuated; the old host destroys its copy when it reports again");
        Ok(())
    })
}
