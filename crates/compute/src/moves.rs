//! Starting resizes and migrations, and confirming or reverting them:
//! the checks, the migration record and the workflow in one transaction.
//! Like Nova (whose conductor schedules a resize within the API call), the
//! caller learns at once when no host fits: the call waits for the
//! workflow's first step.

use std::sync::Arc;
use std::time::Duration;

use api_core::{ApiError, ApiResult, RequestContext};
use db::DbError;
use serde_json::json;

use crate::actions::{check, invalid_state, Guard};
use crate::core::{bad, db_err, Compute};
use crate::db as q;
use crate::model::{Instance, InstanceFlavor, Migration};
use crate::workflows::{server_live_migrate, server_rebuild, server_resize, ActionParams};

impl Compute {
    /// The newest migration of an instance still waiting for confirm or revert.
    pub async fn pending_resize(&self, i: &Instance) -> ApiResult<Migration> {
        q::migrations(&self.db, Some(&i.uuid))
            .await
            .map_err(db_err)?
            .into_iter()
            .find(|m| m.status == "finished")
            .ok_or_else(|| bad("Instance has not been resized."))
    }

    /// Starts a resize (`new_flavor`), cold migration (same flavor), live
    /// migration or evacuation (`migration_type` `live-migration` or
    /// `evacuation`; `stop`: the evacuated server ends stopped).
    #[allow(clippy::too_many_arguments)]
    pub async fn start_move(
        self: &Arc<Self>,
        ctx: &RequestContext,
        i: &Instance,
        g: &Guard,
        action: &str,
        migration_type: &str,
        new_flavor: InstanceFlavor,
        host: Option<&str>,
        stop: bool,
    ) -> ApiResult<()> {
        check(i, g, self.is_admin(ctx))?;
        let (task, wf, status): (&str, &'static workflow::Workflow<Compute>, &str) = match migration_type {
            "live-migration" => ("migrating", &server_live_migrate::WORKFLOW, "accepted"),
            "evacuation" => ("rebuilding", &server_rebuild::EVACUATE, "accepted"),
            _ => ("resize_prep", &server_resize::RESIZE, "pre-migrating"),
        };
        if let Some(h) = i.host.as_ref().filter(|_| migration_type != "evacuation") {
            let up = q::service_by_host(&self.db, h).await.map_err(db_err)?.is_some_and(|s| self.service_is_up(&s));
            if !up {
                return Err(ApiError::conflict("Service is unavailable at this time."));
            }
        }
        if let Some(h) = host {
            if q::service_by_host(&self.db, h).await.map_err(db_err)?.is_none() {
                return Err(bad(format!("Compute host {h} could not be found.")));
            }
        }
        let migration = Migration {
            id: 0,
            uuid: uuid::Uuid::new_v4().to_string(),
            instance_uuid: i.uuid.clone(),
            migration_type: migration_type.to_string(),
            status: status.into(),
            source_compute: i.host.clone(),
            source_node: i.node.clone(),
            dest_compute: None,
            dest_node: None,
            old_flavor: i.flavor.clone(),
            new_flavor,
            user_id: ctx.user_id.clone(),
            project_id: i.project_id.clone(),
            created_at: q::now(),
            updated_at: None,
        };
        let mut tx = self.db.writer().begin().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        if !q::begin_task(&mut tx, &i.uuid, &i.vm_state, i.task_state.as_deref(), Some(task)).await.map_err(db_err)? {
            return Err(invalid_state(g.name, &i.uuid, "task_state", Some("changed")));
        }
        q::insert_migration(&mut tx, &migration).await.map_err(db_err)?;
        let request_id = self.action_record(&mut tx, ctx, &i.uuid, action).await?;
        let params = ActionParams {
            instance_uuid: i.uuid.clone(),
            action: action.to_string(),
            request_id: request_id.clone(),
            task: Some(task.into()),
            from_vm_state: i.vm_state.clone(),
            extra: json!({"migration": migration.uuid, "host": host, "stop": stop}),
        };
        let run = format!("{action}-{}-{}", i.uuid, migration.uuid);
        self.engine.insert(&mut tx, &run, wf, &params).await.map_err(db_err)?;
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        self.engine.spawn(&run);
        if wf.kind != server_resize::RESIZE.kind {
            return Ok(());
        }
        // Wait for the claim: a resize no host can take is the caller's 400.
        for _ in 0..1500 {
            let Some(st) = self.engine.status(&run).await.map_err(db_err)? else { break };
            if st.state == workflow::State::Running && st.step == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            if st.step <= 1 && st.state != workflow::State::Running && st.state != workflow::State::Done {
                let reason = st.error.unwrap_or_default();
                if reason.starts_with("No valid host") {
                    let what = if migration_type == "resize" { "resize" } else { "cold migrate" };
                    return Err(bad(format!("No valid host was found. No valid host found for {what}")));
                }
            }
            break;
        }
        Ok(())
    }

    /// Confirms (`confirm`) or reverts a finished resize or migration.
    pub async fn end_move(self: &Arc<Self>, ctx: &RequestContext, i: &Instance, confirm: bool) -> ApiResult<()> {
        let name = if confirm { "confirmResize" } else { "revertResize" };
        let g = Guard::new(name, &["resized"]);
        check(i, &g, self.is_admin(ctx))?;
        let m = self.pending_resize(i).await?;
        let task = if confirm { "resize_confirming" } else { "resize_reverting" };
        let mut tx = self.db.writer().begin().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        if !q::begin_task(&mut tx, &i.uuid, &i.vm_state, i.task_state.as_deref(), Some(task)).await.map_err(db_err)? {
            return Err(invalid_state(name, &i.uuid, "task_state", Some("changed")));
        }
        let request_id = self.action_record(&mut tx, ctx, &i.uuid, name).await?;
        let params = ActionParams {
            instance_uuid: i.uuid.clone(),
            action: name.to_string(),
            request_id,
            task: Some(task.into()),
            from_vm_state: i.vm_state.clone(),
            extra: json!({"migration": m.uuid}),
        };
        let wf = if confirm { &server_resize::CONFIRM } else { &server_resize::REVERT };
        let run = format!("{name}-{}-{}", i.uuid, m.uuid);
        self.engine.insert(&mut tx, &run, wf, &params).await.map_err(db_err)?;
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        self.engine.spawn(&run);
        Ok(())
    }
}
