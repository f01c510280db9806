//! Live-migrating a server (`server_live_migrate`), with a migration of
//! type `live-migration`; the server keeps running (or paused) throughout.
//!
//! | step | action | undo |
//! |---|---|---|
//! | `claim_destination` | a host other than its own (or the one an admin named); the migration holds the source's allocations, the server claims the destination | the server gets its allocations back, the migration ends in error, the task ends |
//! | `prepare_destination` | the destination gets ready to receive it (migration `preparing`) | the destination forgets it |
//! | `migrate` | the source sends the guest (migration `running`); an abort asked meanwhile fails it here | — |
//! | `finish_on_destination` | the guest runs on the destination; from here the move is done | — |
//! | `cleanup_source` | the source destroys its stopped copy, the migration's allocations go | — |
//! | `finish` | the server's host is the destination, migration `completed` | — |

use std::sync::Arc;

use agent::protocol::Action;
use futures_util::future::BoxFuture;
use workflow::{Run, Step, StepError, StepResult, Workflow};

use super::server_resize::{claim_destination, context, drop_source_claim, unclaim};
use super::{destroy_on_host, host_result, on_host, retry, spec};
use crate::db as q;
use crate::Compute;

pub static WORKFLOW: Workflow<Compute> = Workflow {
    kind: "server_live_migrate",
    steps: &[
        Step { name: "claim_destination", action: claim_destination, undo: Some(unclaim) },
        Step { name: "prepare_destination", action: prepare_destination, undo: Some(rollback_destination) },
        Step { name: "migrate", action: migrate, undo: None },
        Step { name: "finish_on_destination", action: finish_on_destination, undo: None },
        Step { name: "cleanup_source", action: cleanup_source, undo: None },
        Step { name: "finish", action: finish, undo: None },
    ],
};

/// The migration was aborted (`DELETE /servers/{id}/migrations/{id}`).
async fn aborted(c: &Compute, migration: &str) -> Result<bool, StepError> {
    let m = q::migration_by_uuid(&c.db, migration).await.map_err(retry)?;
    Ok(m.is_some_and(|m| m.status == "cancelling" || m.status == "cancelled"))
}

fn prepare_destination(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (_, i, m) = context(&c, run).await?;
        let (Some(dest), Some(node)) = (m.dest_compute.clone(), m.dest_node.clone()) else {
            return Err(StepError::Fail("the migration has no destination".into()));
        };
        if aborted(&c, &m.uuid).await? {
            return Err(StepError::Fail("the live migration was aborted".into()));
        }
        q::set_migration(&c.db, &m.uuid, "preparing", None).await.map_err(retry)?;
        let spec = spec(&i, &i.flavor, &node);
        let prepare = Action::PrepareLiveMigration { spec };
        let r = host_result(&c, &dest, &format!("live-prepare-{}", m.uuid), &prepare).await?;
        run.set("uri", r.output.unwrap_or_default());
        Ok(())
    })
}

fn rollback_destination(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (_, i, m) = context(&c, run).await?;
        let Some(dest) = m.dest_compute.clone() else { return Ok(()) };
        let action = Action::RollbackLiveMigration { uuid: i.uuid.clone() };
        match c.run_on_host(&dest, &format!("live-rollback-{}", m.uuid), &action).await {
            Ok(r) => r.error.map_or(Ok(()), |e| Err(StepError::Retry(e))),
            Err(e) if e.contains("is not known") => Ok(()),
            Err(e) => Err(StepError::Retry(e)),
        }
    })
}

fn migrate(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (_, i, m) = context(&c, run).await?;
        if aborted(&c, &m.uuid).await? {
            return Err(StepError::Fail("the live migration was aborted".into()));
        }
        let source = m.source_compute.clone().unwrap_or_default();
        q::set_migration(&c.db, &m.uuid, "running", None).await.map_err(retry)?;
        let uri = run.get::<String>("uri").unwrap_or_default();
        on_host(&c, &source, format!("live-migrate-{}", m.uuid), Action::LiveMigrate { uuid: i.uuid, uri }).await?;
        Ok(())
    })
}

fn finish_on_destination(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, i, m) = context(&c, run).await?;
        let dest = m.dest_compute.clone().unwrap_or_default();
        q::set_migration(&c.db, &m.uuid, "post-migrating", None).await.map_err(retry)?;
        let paused = p.from_vm_state == "paused";
        let action = Action::FinishLiveMigration { uuid: i.uuid.clone(), paused };
        let power = on_host(&c, &dest, format!("live-finish-{}", m.uuid), action).await?;
        run.set("power_state", power.unwrap_or(if paused { 3 } else { 1 }));
        let mut moved = i.clone();
        moved.host = m.dest_compute.clone();
        moved.node = m.dest_node.clone();
        q::save_placement(&c.db, &moved).await.map_err(retry)?;
        Ok(())
    })
}

fn cleanup_source(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (_, i, m) = context(&c, run).await?;
        let source = m.source_compute.clone().unwrap_or_default();
        destroy_on_host(&c, &source, &format!("live-cleanup-{}", m.uuid), &i.uuid).await?;
        drop_source_claim(c.clone(), run).await
    })
}

fn finish(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let (p, i, m) = context(&c, run).await?;
        // Completed before the task ends, as for an evacuation.
        q::set_migration(&c.db, &m.uuid, "completed", None).await.map_err(retry)?;
        q::finish_task(&c.db, &i.uuid, p.task.as_deref(), &p.from_vm_state, run.get::<i64>("power_state"))
            .await
            .map_err(retry)?;
        q::action_event(&c.db, &i.uuid, &p.request_id, "compute_live_migration", m.dest_compute.as_deref(), None)
            .await
            .map_err(retry)?;
        tracing::info!(instance = %i.uuid, from = ?m.source_compute, to = ?m.dest_compute, "server live-migrated");
        Ok(())
    })
}
