//! Deleting a server (forwards only; each step is retried until it is done):
//!
//! | step | action |
//! |---|---|
//! | `destroy_on_agent` | the host's agent destroys the instance (nothing when it has no host) |
//! | `release_claim` | its allocations in Placement go |
//! | `mark_deleted` | DELETED |

use std::sync::Arc;

use futures_util::future::BoxFuture;
use workflow::{Run, Step, StepError, StepResult, Workflow};

use super::{destroy_on_host, ServerParams};
use crate::db as q;
use crate::Compute;

pub static WORKFLOW: Workflow<Compute> = Workflow {
    kind: "server_delete",
    steps: &[
        Step { name: "destroy_on_agent", action: destroy_on_agent, undo: None },
        Step { name: "release_claim", action: release_claim, undo: None },
        Step { name: "mark_deleted", action: mark_deleted, undo: None },
    ],
};

fn destroy_on_agent(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ServerParams = run.params()?;
        let Some(i) =
            q::instance_by_uuid(&c.db, &p.instance_uuid).await.map_err(|e| StepError::Retry(e.to_string()))?
        else {
            return Ok(());
        };
        let Some(host) = i.host else { return Ok(()) };
        destroy_on_host(&c, &host, &format!("delete-{}", i.uuid), &i.uuid).await
    })
}

fn release_claim(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ServerParams = run.params()?;
        c.release_claim(&p.instance_uuid).await.map_err(StepError::Retry)
    })
}

fn mark_deleted(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ServerParams = run.params()?;
        q::mark_deleted(&c.db, &p.instance_uuid).await.map_err(|e| StepError::Retry(e.to_string()))?;
        tracing::info!(instance = %p.instance_uuid, "server deleted");
        Ok(())
    })
}
