//! Server actions: Nova's checks before an action (lock, host, vm_state,
//! task_state, launched), the task an action sets, the instance-action
//! record, and the `server_action` workflow that has the host's agent do
//! the work and records the state it ends in.

use std::sync::Arc;

use api_core::{ApiError, ApiResult, RequestContext};
use db::DbError;
use serde_json::Value;

use crate::core::{db_err, Compute};
use crate::db as q;
use crate::model::Instance;
use crate::workflows::{server_action, ActionParams};

/// Which task states an action accepts.
#[derive(Clone, Copy)]
pub enum Tasks {
    /// None may be in progress (Nova's default).
    Idle,
    Any,
    /// None, or one of these.
    IdleOr(&'static [&'static str]),
}

/// Nova's decorators on an action: `check_instance_lock`,
/// `check_instance_host` and `check_instance_state`.
#[derive(Clone, Copy)]
pub struct Guard {
    /// The action's name in Nova's 409 messages.
    pub name: &'static str,
    pub lock: bool,
    pub host: bool,
    /// Allowed vm_states (None: any).
    pub vm: Option<&'static [&'static str]>,
    pub task: Tasks,
    pub launched: bool,
}

impl Guard {
    pub const fn new(name: &'static str, vm: &'static [&'static str]) -> Guard {
        Guard { name, lock: true, host: false, vm: Some(vm), task: Tasks::Idle, launched: true }
    }
    pub const fn with_host(mut self) -> Guard {
        self.host = true;
        self
    }
}

pub fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::conflict(message)
}

pub fn invalid_state(name: &str, uuid: &str, attr: &str, state: Option<&str>) -> ApiError {
    conflict(format!("Cannot '{name}' instance {uuid} while it is in {attr} {}", state.unwrap_or("None")))
}

pub fn locked(uuid: &str) -> ApiError {
    conflict(format!("Instance {uuid} is locked"))
}

/// Nova's checks, in Nova's order; the first that fails is the 409.
pub fn check(i: &Instance, g: &Guard, is_admin: bool) -> ApiResult<()> {
    if g.lock && i.locked_by.is_some() && !is_admin {
        return Err(locked(&i.uuid));
    }
    if g.host && i.host.is_none() {
        return Err(conflict(format!("Instance {} is not ready", i.uuid)));
    }
    if let Some(vm) = g.vm {
        if !vm.contains(&i.vm_state.as_str()) {
            return Err(invalid_state(g.name, &i.uuid, "vm_state", Some(&i.vm_state)));
        }
    }
    let task_ok = match (g.task, i.task_state.as_deref()) {
        (Tasks::Any, _) | (_, None) => true,
        (Tasks::Idle, Some(_)) => false,
        (Tasks::IdleOr(list), Some(t)) => list.contains(&t),
    };
    if !task_ok {
        return Err(invalid_state(g.name, &i.uuid, "task_state", i.task_state.as_deref()));
    }
    if g.launched && i.launched_at.is_none() {
        return Err(invalid_state(g.name, &i.uuid, "launched_at", None));
    }
    Ok(())
}

/// What an action does once its checks passed.
pub struct Start<'a> {
    /// The instance-action name (`os-instance-actions`).
    pub action: &'a str,
    /// The task it sets while it runs (None: it sets none).
    pub task: Option<&'a str>,
    /// The workflow's parameters beyond the instance and action.
    pub extra: Value,
}

impl Compute {
    /// Checks `g`, sets the action's task (compare-and-set against the state
    /// the checks saw), records the instance action and starts the
    /// `server_action` workflow, all in one transaction.
    pub async fn start_action(
        self: &Arc<Self>,
        ctx: &RequestContext,
        i: &Instance,
        g: &Guard,
        start: Start<'_>,
    ) -> ApiResult<()> {
        self.start_workflow(ctx, i, g, start, &server_action::WORKFLOW).await
    }

    /// As [`Compute::start_action`], with the workflow `wf`.
    pub async fn start_workflow(
        self: &Arc<Self>,
        ctx: &RequestContext,
        i: &Instance,
        g: &Guard,
        start: Start<'_>,
        wf: &'static workflow::Workflow<Compute>,
    ) -> ApiResult<()> {
        check(i, g, self.is_admin(ctx))?;
        let mut tx = self.db.writer().begin().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        if !q::begin_task(&mut tx, &i.uuid, &i.vm_state, i.task_state.as_deref(), start.task).await.map_err(db_err)? {
            // Something else moved the instance since it was read.
            return Err(invalid_state(g.name, &i.uuid, "task_state", Some("changed")));
        }
        let request_id = self.action_record(&mut tx, ctx, &i.uuid, start.action).await?;
        let params = ActionParams {
            instance_uuid: i.uuid.clone(),
            action: start.action.to_string(),
            request_id: request_id.clone(),
            task: start.task.map(str::to_string),
            from_vm_state: i.vm_state.clone(),
            extra: start.extra,
        };
        let run = format!("{}-{}-{}", start.action, i.uuid, request_id);
        self.engine.insert(&mut tx, &run, wf, &params).await.map_err(db_err)?;
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        self.engine.spawn(&run);
        Ok(())
    }

    /// Records an instance action in the caller's transaction; answers its
    /// request id.
    pub async fn action_record(
        &self,
        conn: &mut db::sqlx::AnyConnection,
        ctx: &RequestContext,
        uuid: &str,
        action: &str,
    ) -> ApiResult<String> {
        let request_id =
            if ctx.request_id.is_empty() { format!("req-{}", uuid::Uuid::new_v4()) } else { ctx.request_id.clone() };
        let project = ctx.project_id.clone().unwrap_or_default();
        q::insert_action(conn, uuid, &request_id, action, &ctx.user_id, &project).await.map_err(db_err)?;
        Ok(request_id)
    }

    /// Applies a change to an instance's editable fields (name, metadata,
    /// tags, lock) and records it as `action` when given.
    pub async fn save_fields(&self, ctx: &RequestContext, i: &Instance, action: Option<&str>) -> ApiResult<()> {
        let mut tx = self.db.writer().begin().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        q::save_instance_fields(&mut tx, i).await.map_err(db_err)?;
        if let Some(a) = action {
            let rid = self.action_record(&mut tx, ctx, &i.uuid, a).await?;
            tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
            q::action_event(&self.db, &i.uuid, &rid, &format!("api_{a}"), None, None).await.map_err(db_err)?;
            return Ok(());
        }
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))
    }

    /// `os-resetState`: the vm_state an admin says, no task.
    pub async fn reset_state(&self, ctx: &RequestContext, i: &Instance, state: &str) -> ApiResult<()> {
        let mut tx = self.db.writer().begin().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        q::reset_state(&mut tx, &i.uuid, state).await.map_err(db_err)?;
        self.action_record(&mut tx, ctx, &i.uuid, "resetState").await?;
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))
    }

    /// Asks the instance's host for something at once (console output).
    pub async fn ask_host(
        &self,
        i: &Instance,
        action: agent::protocol::Action,
    ) -> ApiResult<agent::protocol::CommandResult> {
        let host = i.host.clone().ok_or_else(|| conflict(format!("Instance {} is not ready", i.uuid)))?;
        let key = format!("ask-{}", uuid::Uuid::new_v4());
        let r = tokio::time::timeout(std::time::Duration::from_secs(60), self.run_on_host(&host, &key, &action))
            .await
            .map_err(|_| conflict(format!("Instance {} is not ready", i.uuid)))?
            .map_err(|e| conflict(format!("Instance {} is not ready: {e}", i.uuid)))?;
        if let Some(err) = &r.error {
            return Err(conflict(format!("Instance {} is not ready: {err}", i.uuid)));
        }
        Ok(r)
    }
}
