//! Shelving a server, offloading it, and unshelving it.
//!
//! Shelve (`server_shelve`):
//!
//! | step | action | undo |
//! |---|---|---|
//! | `snapshot` | the host uploads the root disk to the `<name>-shelved` image the API created | the image is deleted; the task ends, the server as it was |
//! | `power_off` | the host powers it off | — |
//! | `shelve` | SHELVED, the image and host in system metadata; when `shelved_offload_time` is 0 the offload follows | — |
//! | `offload` | (at once, or by `shelveOffload`) the host destroys it, the Placement claim goes, no host: SHELVED_OFFLOADED | SHELVED again |
//!
//! Unshelve (`server_unshelve`): an offloaded server is scheduled and
//! claimed again (in the zone or on the host asked for), spawned from its
//! shelved image, ACTIVE; the shelved image is deleted. A server still on
//! its host is powered on.

use std::sync::Arc;

use agent::protocol::Action;
use futures_util::future::BoxFuture;
use workflow::{Run, Step, StepError, StepResult, Workflow};

use super::server_snapshot::{delete_unfinished_image, snapshot_on_host};
use super::{action_context, action_failed, destroy_on_host, on_host, place, retry, spec, ActionParams};
use crate::db as q;
use crate::Compute;

pub static SHELVE: Workflow<Compute> = Workflow {
    kind: "server_shelve",
    steps: &[
        Step { name: "snapshot", action: snapshot, undo: Some(drop_image) },
        Step { name: "power_off", action: power_off, undo: None },
        Step { name: "shelve", action: mark_shelved, undo: None },
        Step { name: "offload", action: offload, undo: None },
    ],
};

pub static OFFLOAD: Workflow<Compute> = Workflow {
    kind: "server_shelve_offload",
    steps: &[Step { name: "offload", action: offload, undo: Some(offload_failed) }],
};

pub static UNSHELVE: Workflow<Compute> = Workflow {
    kind: "server_unshelve",
    steps: &[
        Step { name: "claim_resources", action: claim, undo: Some(unclaim) },
        Step { name: "spawn", action: spawn, undo: Some(unspawn) },
        Step { name: "finish", action: finish_unshelve, undo: None },
    ],
};

const OFFLOADING: &str = "shelving_offloading";

fn snapshot(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move { snapshot_on_host(&c, run, true).await })
}

fn drop_image(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ActionParams = run.params()?;
        delete_unfinished_image(&c, &p).await?;
        action_failed(&c, run, &p.from_vm_state, "compute_shelve_instance").await
    })
}

fn power_off(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, i) = action_context(&c, run).await?;
        let host = i.host.clone().ok_or_else(|| StepError::Fail(format!("Instance {} is not ready", i.uuid)))?;
        let power =
            on_host(&c, &host, format!("shelve-off-{}", p.request_id), Action::PowerOff { uuid: i.uuid }).await?;
        run.set("power_state", power.unwrap_or(4));
        Ok(())
    })
}

fn mark_shelved(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, mut i) = action_context(&c, run).await?;
        if i.task_state != p.task {
            return Ok(());
        }
        i.system_metadata.insert("shelved_at".into(), q::now());
        i.system_metadata.insert("shelved_image_id".into(), p.extra["image_id"].as_str().unwrap_or_default().into());
        i.system_metadata.insert("shelved_host".into(), i.host.clone().unwrap_or_default());
        q::save_placement(&c.db, &i).await.map_err(retry)?;
        let power = run.get::<i64>("power_state").unwrap_or(4);
        let next = (c.config.shelved_offload_time == 0).then_some(OFFLOADING);
        q::set_instance_state(&c.db, &i.uuid, "shelved", next, power).await.map_err(retry)?;
        let host = i.host.as_deref();
        q::action_event(&c.db, &i.uuid, &p.request_id, "compute_shelve_instance", host, None).await.map_err(retry)?;
        tracing::info!(instance = %i.uuid, offload = next.is_some(), "server shelved");
        Ok(())
    })
}

fn offload(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, mut i) = action_context(&c, run).await?;
        if i.task_state.as_deref() != Some(OFFLOADING) {
            return Ok(());
        }
        if let Some(host) = i.host.clone() {
            run.set("host", &host);
            destroy_on_host(&c, &host, &format!("offload-{}", p.request_id), &i.uuid).await?;
        }
        c.release_claim(&i.uuid).await.map_err(StepError::Retry)?;
        i.host = None;
        i.node = None;
        q::save_placement(&c.db, &i).await.map_err(retry)?;
        q::finish_task(&c.db, &i.uuid, Some(OFFLOADING), "shelved_offloaded", Some(4)).await.map_err(retry)?;
        let host = run.get::<String>("host");
        q::action_event(&c.db, &i.uuid, &p.request_id, "compute_shelve_offload_instance", host.as_deref(), None)
            .await
            .map_err(retry)?;
        tracing::info!(instance = %i.uuid, "shelved server offloaded; its host's resources are free");
        Ok(())
    })
}

fn offload_failed(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move { action_failed(&c, run, "shelved", "compute_shelve_offload_instance").await })
}

fn claim(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, i) = action_context(&c, run).await?;
        if i.task_state != p.task {
            return Err(StepError::Fail("the server changed state while it was unshelved".into()));
        }
        if p.from_vm_state != "shelved_offloaded" {
            return Ok(());
        }
        if let Some(host) = i.host.clone() {
            run.set("host", &host);
            return Ok(());
        }
        let placed = place(&c, &i, None).await?;
        run.set("host", &placed.host);
        Ok(())
    })
}

fn unclaim(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ActionParams = run.params()?;
        if p.from_vm_state == "shelved_offloaded" {
            c.release_claim(&p.instance_uuid).await.map_err(StepError::Retry)?;
            q::set_instance_host(&c.db, &p.instance_uuid, None, None, None, None).await.map_err(retry)?;
        }
        action_failed(&c, run, &p.from_vm_state, "compute_unshelve_instance").await
    })
}

fn spawn(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, mut i) = action_context(&c, run).await?;
        let host = i.host.clone().ok_or_else(|| StepError::Fail(format!("Instance {} is not ready", i.uuid)))?;
        let power = if p.from_vm_state == "shelved_offloaded" {
            let node = i.node.clone().unwrap_or_default();
            if let Some(image) = i.system_metadata.get("shelved_image_id").filter(|s| !s.is_empty()) {
                i.image_ref = image.clone();
            }
            let spec = spec(&i, &i.flavor, &node);
            on_host(&c, &host, format!("unshelve-{}", p.request_id), Action::Spawn { spec }).await?
        } else {
            on_host(&c, &host, format!("unshelve-on-{}", p.request_id), Action::PowerOn { uuid: i.uuid }).await?
        };
        run.set("power_state", power.unwrap_or(1));
        Ok(())
    })
}

fn unspawn(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, i) = action_context(&c, run).await?;
        let Some(host) = i.host.clone() else { return Ok(()) };
        if p.from_vm_state == "shelved_offloaded" {
            destroy_on_host(&c, &host, &format!("unshelve-undo-{}", p.request_id), &i.uuid).await?;
        }
        Ok(())
    })
}

fn finish_unshelve(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, mut i) = action_context(&c, run).await?;
        if let Some(image) = i.system_metadata.get("shelved_image_id").filter(|s| !s.is_empty()) {
            c.delete_snapshot_image(&i.project_id, &i.user_id, image).await.map_err(|e| retry(e.message))?;
        }
        if i.task_state == p.task {
            for k in ["shelved_at", "shelved_image_id", "shelved_host", "forced_host", "forced_node"] {
                i.system_metadata.remove(k);
            }
            q::save_placement(&c.db, &i).await.map_err(retry)?;
            q::finish_task(&c.db, &i.uuid, p.task.as_deref(), "active", run.get::<i64>("power_state"))
                .await
                .map_err(retry)?;
        }
        q::action_event(&c.db, &i.uuid, &p.request_id, "compute_unshelve_instance", i.host.as_deref(), None)
            .await
            .map_err(retry)?;
        tracing::info!(instance = %i.uuid, host = ?i.host, "server unshelved");
        Ok(())
    })
}
