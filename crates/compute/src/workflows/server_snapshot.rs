//! A snapshot (`createImage`) or backup (`createBackup`) of a server into
//! the Image service:
//!
//! | step | action | undo |
//! |---|---|---|
//! | `upload` | the host's agent snapshots the root disk and sends it to the queued image the API created | the image is deleted, the task ends, the event records the error |
//! | `rotate` | (backups) only the `rotation` newest backups of the type stay | — |
//! | `finish` | the task ends, the vm_state as it was | — |

use std::sync::Arc;

use agent::protocol::Action;
use futures_util::future::BoxFuture;
use workflow::{Run, Step, StepError, StepResult, Workflow};

use super::{action_context, action_failed, on_host, retry, ActionParams};
use crate::db as q;
use crate::Compute;

pub static WORKFLOW: Workflow<Compute> = Workflow {
    kind: "server_snapshot",
    steps: &[
        Step { name: "upload", action: upload, undo: Some(drop_image) },
        Step { name: "rotate", action: rotate, undo: None },
        Step { name: "finish", action: finish, undo: None },
    ],
};

/// Snapshots `p`'s instance on its host into the image `extra.image_id`.
pub(super) async fn snapshot_on_host(c: &Compute, run: &mut Run, expect_task: bool) -> StepResult {
    let (p, i) = action_context(c, run).await?;
    if expect_task && i.task_state != p.task {
        return Err(StepError::Fail("the server changed state while the snapshot ran".into()));
    }
    let host = i.host.clone().ok_or_else(|| StepError::Fail(format!("Instance {} is not ready", i.uuid)))?;
    let image_id = p.extra["image_id"].as_str().unwrap_or_default().to_string();
    run.set("host", &host);
    let image = c.images.get(&crate::snapshots::owner_ctx(&i.project_id, &i.user_id), &image_id).await;
    match image {
        Ok(im) if im.status == "active" => return Ok(()),
        Ok(im) if im.status == "queued" => {}
        Ok(im) => {
            return Err(StepError::Fail(format!("the snapshot image {image_id} is {}; it cannot take data", im.status)))
        }
        Err(_) => return Err(StepError::Fail(format!("the snapshot image {image_id} was deleted"))),
    }
    on_host(c, &host, format!("snapshot-{image_id}"), Action::Snapshot { uuid: i.uuid.clone(), image_id }).await?;
    Ok(())
}

fn upload(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move { snapshot_on_host(&c, run, true).await })
}

/// Deletes the image a failed snapshot left (unless it got its data).
pub(super) async fn delete_unfinished_image(c: &Compute, p: &ActionParams) -> StepResult {
    let Some(i) = q::instance_by_uuid(&c.db, &p.instance_uuid).await.map_err(retry)? else { return Ok(()) };
    let image_id = p.extra["image_id"].as_str().unwrap_or_default();
    let owner = crate::snapshots::owner_ctx(&i.project_id, &i.user_id);
    if c.images.get(&owner, image_id).await.is_ok_and(|im| im.status == "active") {
        return Ok(());
    }
    c.delete_snapshot_image(&i.project_id, &i.user_id, image_id).await.map_err(|e| retry(e.message))
}

fn drop_image(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ActionParams = run.params()?;
        delete_unfinished_image(&c, &p).await?;
        action_failed(&c, run, &p.from_vm_state, "compute_snapshot_instance").await
    })
}

fn rotate(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, i) = action_context(&c, run).await?;
        let (Some(kind), Some(rotation)) = (p.extra["backup_type"].as_str(), p.extra["rotation"].as_u64()) else {
            return Ok(());
        };
        let newest = p.extra["image_id"].as_str().unwrap_or_default();
        let deleted = c.rotate_backups(&i, kind, rotation as usize, newest).await.map_err(|e| retry(e.message))?;
        tracing::info!(instance = %i.uuid, backup_type = kind, rotation, deleted, "backups rotated");
        Ok(())
    })
}

fn finish(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ActionParams = run.params()?;
        q::finish_task(&c.db, &p.instance_uuid, p.task.as_deref(), &p.from_vm_state, None).await.map_err(retry)?;
        let host = run.get::<String>("host");
        let event = if p.action == "createBackup" { "compute_backup_instance" } else { "compute_snapshot_instance" };
        q::action_event(&c.db, &p.instance_uuid, &p.request_id, event, host.as_deref(), None).await.map_err(retry)?;
        tracing::info!(instance = %p.instance_uuid, image = %p.extra["image_id"], "server snapshot uploaded");
        Ok(())
    })
}
