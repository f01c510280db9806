//! One power, pause, suspend or rescue action of a server:
//!
//! | step | action | undo |
//! |---|---|---|
//! | `on_agent` | the host's agent does it | the task ends, vm_state as it was, the event records the error |
//! | `finish` | the vm_state the action ends in, no task | — |
//!
//! The API set the task (compare-and-set) and recorded the instance action
//! in the transaction that started the run. The agent command's key is the
//! action's request id, so a repeated step is the same command.

use std::sync::Arc;

use agent::protocol::Action;
use futures_util::future::BoxFuture;
use workflow::{Run, Step, StepError, StepResult, Workflow};

use super::{action_failed, retry, ActionParams};
use crate::db as q;
use crate::Compute;

pub static WORKFLOW: Workflow<Compute> = Workflow {
    kind: "server_action",
    steps: &[
        Step { name: "on_agent", action: on_agent, undo: Some(abandon) },
        Step { name: "finish", action: finish, undo: None },
    ],
};

/// The vm_state an action ends in.
fn final_vm_state(action: &str, from: &str) -> String {
    match action {
        "stop" => "stopped",
        "pause" => "paused",
        "suspend" => "suspended",
        "rescue" => "rescued",
        "start" | "reboot" | "unpause" | "resume" | "unrescue" => "active",
        _ => from,
    }
    .to_string()
}

fn event(action: &str) -> String {
    match action {
        "changePassword" => "compute_set_admin_password".into(),
        _ => format!("compute_{action}_instance"),
    }
}

fn agent_action(p: &ActionParams, image_ref: &str) -> Result<Action, StepError> {
    let uuid = p.instance_uuid.clone();
    Ok(match p.action.as_str() {
        "start" => Action::PowerOn { uuid },
        "stop" => Action::PowerOff { uuid },
        "reboot" => Action::Reboot { uuid, hard: p.extra["hard"].as_bool().unwrap_or(false) },
        "pause" => Action::Pause { uuid },
        "unpause" => Action::Unpause { uuid },
        "suspend" => Action::Suspend { uuid },
        "resume" => Action::Resume { uuid },
        "rescue" => {
            Action::Rescue { uuid, image_ref: p.extra["rescue_image_ref"].as_str().unwrap_or(image_ref).to_string() }
        }
        "unrescue" => Action::Unrescue { uuid },
        "changePassword" => {
            Action::SetAdminPassword { uuid, password: p.extra["password"].as_str().unwrap_or_default().to_string() }
        }
        other => return Err(StepError::Fail(format!("unknown server action {other}"))),
    })
}

fn on_agent(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ActionParams = run.params()?;
        let i = q::instance_by_uuid(&c.db, &p.instance_uuid).await.map_err(retry)?;
        let Some(i) = i.filter(|i| !i.deleted && i.task_state == p.task) else {
            return Err(StepError::Fail("the server changed state while the action ran".into()));
        };
        let Some(host) = i.host.clone() else {
            return Err(StepError::Fail(format!("Instance {} is not ready", i.uuid)));
        };
        let action = agent_action(&p, &i.image_ref)?;
        let r = c
            .run_on_host(&host, &format!("{}-{}-{}", p.action, p.instance_uuid, p.request_id), &action)
            .await
            .map_err(StepError::Fail)?;
        if let Some(e) = r.error {
            return Err(StepError::Fail(e));
        }
        if let Some(info) = r.instance {
            run.set("power_state", u8::from(info.power_state) as i64);
        }
        run.set("host", &host);
        Ok(())
    })
}

fn abandon(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ActionParams = run.params()?;
        action_failed(&c, run, &p.from_vm_state, &event(&p.action)).await
    })
}

fn finish(c: Arc<Compute>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: ActionParams = run.params()?;
        let power = run.get::<i64>("power_state");
        let vm = final_vm_state(&p.action, &p.from_vm_state);
        q::finish_task(&c.db, &p.instance_uuid, p.task.as_deref(), &vm, power).await.map_err(retry)?;
        let host = run.get::<String>("host");
        q::action_event(&c.db, &p.instance_uuid, &p.request_id, &event(&p.action), host.as_deref(), None)
            .await
            .map_err(retry)?;
        tracing::info!(instance = %p.instance_uuid, action = %p.action, vm_state = %vm, "server action done");
        Ok(())
    })
}
