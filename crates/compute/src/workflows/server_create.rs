//! Building a server:
//!
//! | step | action | undo |
//! |---|---|---|
//! | `claim_resources` | choose a host, claim in Placement (the API wrote the instance, BUILD/scheduling) | give the claim back; ERROR with the fault that stopped the build |
//! | `spawn_on_agent` | the host's agent spawns it | the agent destroys it |
//! | `mark_active` | ACTIVE, running, launched | — |
//!
//! Every action can run again after a crash: the claim finds itself, the
//! spawn command has the instance's idempotency key, and the agent's
//! driver spawns an instance once. An instance deleted while it builds
//! stops the build, and the undos take back what it had.

use std::sync::Arc;

use agent::protocol::Action;
use futures_util::future::BoxFuture;
use workflow::{Run, Step, StepError, StepResult, Workflow};

use super::{destroy_on_host, place, retry, spec, ServerParams};
use crate::db as q;
use crate::model::{Fault, Instance};
use crate::Compute;

pub static WORKFLOW: Workflow<Compute> = Workflow {
    kind: "server_create",
    steps: &[
        Step { name: "claim_resources", action: claim_resources, undo: Some(release_claim) },
        Step { name: "spawn_on_agent", action: spawn_on_agent, undo: Some(destroy_on_agent) },
        Step { name: "mark_active", action: mark_active, undo: None },
    ],
};

/// The instance, unless it is being deleted (which ends the build).
async fn building(c: &Compute, run: &Run) -> Result<Instance, StepError> {
    let p: ServerParams = run.params()?;
    let i = q::instance_by_uuid(&c.db, &p.instance_uuid).await.map_err(retry)?;
    match i {
        Some(i) if !i.deleted && i.task_state.as_deref() != Some("deleting") => Ok(i),
        _ => Err(StepError::Fail("the server was deleted while it was building".into())),
    }
}

/// The instance ends in ERROR with the fault that stopped the build.
async fn set_error(c: &Compute, run: &Run) -> StepResult {
    let p: ServerParams = run.params()?;
    let message = run.error.clone().unwrap_or_else(|| "the build was interrupted".into());
    let no_host = message.starts_with("No valid host") || message.starts_with("Exceeded maximum number of retries");
    let fault = Fault {
        code: 500,
        message: if no_host {
            message.clone()
        } else {
            format!("Build of instance {} aborted: {message}", p.instance_uuid)
        },
        details: String::new(),
        created: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    };
    q::instance_failed(&c.db, &p.instance_uuid, &fault).await.map_err(retry)?;
    tracing::warn!(instance = %p.instance_uuid, reason = %message, "server build failed; the server is in ERROR");
    Ok(())
}

fn claim_resources(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let i = building(&c, run).await?;
        let placed = place(&c, &i, Some("spawning")).await?;
        run.set("host", &placed.host);
        run.set("node", &placed.node);
        Ok(())
    })
}

fn release_claim(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ServerParams = run.params()?;
        c.release_claim(&p.instance_uuid).await.map_err(StepError::Retry)?;
        q::set_instance_host(&c.db, &p.instance_uuid, None, None, None, None).await.map_err(retry)?;
        set_error(&c, run).await
    })
}

fn spawn_on_agent(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        loop {
            let mut i = building(&c, run).await?;
            let (Some(host), Some(node)) = (run.get::<String>("host"), run.get::<String>("node")) else {
                return Err(StepError::Fail("the server has no host to spawn on".into()));
            };
            let attempt = run.get::<i64>("attempt").unwrap_or(0);
            let spec = spec(&i, &i.flavor, &node);
            let key = if attempt == 0 { format!("spawn-{}", i.uuid) } else { format!("spawn-{}-{attempt}", i.uuid) };
            let result = c.run_on_host(&host, &key, &Action::Spawn { spec }).await.map_err(StepError::Fail)?;
            let Some(error) = result.error else {
                let power = result.instance.map(|x| u8::from(x.power_state) as i64).unwrap_or(1);
                run.set("power_state", power);
                return Ok(());
            };
            if result.abort_build {
                // What the server asks for cannot be built anywhere; Nova's
                // BuildAbortException ends the build without a reschedule.
                tracing::warn!(instance = %i.uuid, host = %host, error = %error, "build aborted; not rescheduling");
                return Err(StepError::Fail(error));
            }
            if attempt + 1 >= c.config.scheduler_max_attempts || i.system_metadata.contains_key("forced_host") {
                return Err(StepError::Fail(format!(
                    "Exceeded maximum number of retries. Exceeded max scheduling attempts {} for instance {}. \
                     Last exception: {error}",
                    attempt + 1,
                    i.uuid
                )));
            }
            // Reschedule: clean the host, give its claim back, claim elsewhere.
            tracing::warn!(instance = %i.uuid, host = %host, error = %error, attempt, "build failed on a host; rescheduling");
            destroy_on_host(&c, &host, &format!("unspawn-{}-{attempt}", i.uuid), &i.uuid).await?;
            let mut failed: Vec<String> = i
                .system_metadata
                .get("failed_hosts")
                .map(|f| f.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            if !failed.contains(&host) {
                failed.push(host.clone());
            }
            i.system_metadata.insert("failed_hosts".into(), failed.join(","));
            let mut tx = c.db.writer().begin().await.map_err(retry)?;
            q::save_instance_fields(&mut tx, &i).await.map_err(retry)?;
            tx.commit().await.map_err(retry)?;
            c.release_claim(&i.uuid).await.map_err(StepError::Retry)?;
            let placed = place(&c, &i, None).await.map_err(|e| match e {
                StepError::Fail(_) => StepError::Fail(format!(
                    "Exceeded maximum number of retries. Exhausted all hosts available for retrying build \
                     failures for instance {}. Last exception: {error}",
                    i.uuid
                )),
                other => other,
            })?;
            run.set("host", &placed.host);
            run.set("node", &placed.node);
            run.set("attempt", attempt + 1);
        }
    })
}

fn destroy_on_agent(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ServerParams = run.params()?;
        let Some(host) = run.get::<String>("host") else { return Ok(()) };
        destroy_on_host(&c, &host, &format!("unspawn-{}", p.instance_uuid), &p.instance_uuid).await
    })
}

fn mark_active(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ServerParams = run.params()?;
        let power = run.get::<i64>("power_state").unwrap_or(1);
        if !q::instance_built(&c.db, &p.instance_uuid, power).await.map_err(retry)? {
            return Err(StepError::Fail("the server was deleted while it was building".into()));
        }
        tracing::info!(instance = %p.instance_uuid, "server is active");
        Ok(())
    })
}
