//! `/servers/{id}/migrations`: a server's in-progress live migrations
//! (2.23), forcing one to complete (2.22) and aborting one (2.24).

use std::sync::Arc;

use api_core::{ApiError, ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{check_body, check_query, ok, parse_body, query_pairs, Mv, C};
use crate::actions::{invalid_state, locked};
use crate::core::{bad, db_err, Compute};
use crate::db as q;
use crate::model::{Instance, Migration};
use crate::policies::names;

const IN_PROGRESS: &[&str] = &["accepted", "queued", "preparing", "running", "post-migrating", "cancelling"];

fn view(mv: Mv, m: &Migration, hosts: bool) -> Value {
    let h = |v: &Option<String>| if hosts { json!(v) } else { Value::Null };
    let mut v = json!({
        "created_at": m.created_at, "updated_at": m.updated_at, "id": m.id, "server_uuid": m.instance_uuid,
        "source_compute": h(&m.source_compute), "source_node": h(&m.source_node),
        "dest_compute": h(&m.dest_compute), "dest_node": h(&m.dest_node), "dest_host": Value::Null,
        "status": m.status,
        "memory_total_bytes": 0, "memory_processed_bytes": 0, "memory_remaining_bytes": 0,
        "disk_total_bytes": 0, "disk_processed_bytes": 0, "disk_remaining_bytes": 0,
    });
    if mv.at(59) {
        v["uuid"] = json!(m.uuid);
    }
    if mv.at(80) {
        v["user_id"] = json!(m.user_id);
        v["project_id"] = json!(m.project_id);
    }
    v
}

async fn live_migrations(c: &Compute, i: &Instance) -> ApiResult<Vec<Migration>> {
    Ok(q::migrations(&c.db, Some(&i.uuid))
        .await
        .map_err(db_err)?
        .into_iter()
        .filter(|m| m.migration_type == "live-migration" && IN_PROGRESS.contains(&m.status.as_str()))
        .collect())
}

pub async fn index(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    mv.require(23)?;
    check_query(mv, &mut query_pairs(raw.as_deref()), &[], 102)?;
    let i = c.server(&ctx, &id, names::SERVER_MIGRATIONS).await?;
    let hosts = c.is_admin(&ctx);
    let all: Vec<Value> = live_migrations(&c, &i).await?.iter().map(|m| view(mv, m, hosts)).collect();
    Ok(ok(StatusCode::OK, json!({"migrations": all})))
}

/// The migration `mid` (its id) of the server; Nova's 404s for show.
async fn in_progress(c: &Compute, i: &Instance, mid: &str) -> ApiResult<Migration> {
    let all = q::migrations(&c.db, Some(&i.uuid)).await.map_err(db_err)?;
    let Some(m) = all.into_iter().find(|m| m.id.to_string() == mid) else {
        return Err(ApiError::not_found(format!(
            "In-progress live migration {mid} is not found for server {}.",
            i.uuid
        )));
    };
    if m.migration_type != "live-migration" {
        return Err(ApiError::not_found(format!("Migration {mid} for server {} is not live-migration.", i.uuid)));
    }
    if !IN_PROGRESS.contains(&m.status.as_str()) {
        return Err(ApiError::not_found(format!("Live migration {mid} for server {} is not in progress.", i.uuid)));
    }
    Ok(m)
}

pub async fn show(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path((id, mid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    mv.require(23)?;
    check_query(mv, &mut query_pairs(raw.as_deref()), &[], 102)?;
    let i = c.server(&ctx, &id, names::SERVER_MIGRATIONS_SHOW).await?;
    let m = in_progress(&c, &i, &mid).await?;
    Ok(ok(StatusCode::OK, json!({"migration": view(mv, &m, true)})))
}

async fn record(c: &Arc<Compute>, ctx: &Auth, i: &Instance, action: &str) -> ApiResult<()> {
    let mut tx = c.db.writer().begin().await.map_err(|e| db_err(db::DbError::from_sqlx(e)))?;
    c.action_record(&mut tx, ctx, &i.uuid, action).await?;
    tx.commit().await.map_err(|e| db_err(db::DbError::from_sqlx(e)))
}

/// `POST .../migrations/{id}/action {"force_complete": null}`.
pub async fn action(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path((id, mid)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    mv.require(22)?;
    let body = parse_body(&body)?;
    check_body(
        &body,
        &json!({"type": "object", "properties": {"force_complete": {"type": "null"}},
                "required": ["force_complete"], "additionalProperties": false}),
    )?;
    let i = c.server(&ctx, &id, names::SERVER_MIGRATIONS_FORCE_COMPLETE).await?;
    if i.locked_by.is_some() && !c.is_admin(&ctx) {
        return Err(locked(&i.uuid));
    }
    if i.vm_state != "active" {
        return Err(invalid_state("force_complete", &i.uuid, "vm_state", Some(&i.vm_state)));
    }
    if i.task_state.as_deref() != Some("migrating") {
        return Err(invalid_state("force_complete", &i.uuid, "task_state", i.task_state.as_deref()));
    }
    let all = q::migrations(&c.db, Some(&i.uuid)).await.map_err(db_err)?;
    let m = all
        .into_iter()
        .find(|m| m.id.to_string() == mid)
        .ok_or_else(|| bad(format!("Migration {mid} not found for instance {}", i.uuid)))?;
    if m.status != "running" {
        return Err(bad(format!(
            "Migration {mid} state of instance {} is {}. Cannot force complete while the migration is in this state.",
            i.uuid, m.status
        )));
    }
    // The migration runs to completion on its own; the request is recorded.
    record(&c, &ctx, &i, "live_migration_force_complete").await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `DELETE .../migrations/{id}`: abort a live migration that has not
/// started copying yet (or, from 2.65, is queued or preparing).
pub async fn abort(State(c): C, mv: Mv, ctx: Auth, Path((id, mid)): Path<(String, String)>) -> ApiResult<Response> {
    mv.require(24)?;
    let i = c.server(&ctx, &id, names::SERVER_MIGRATIONS_DELETE).await?;
    if i.locked_by.is_some() && !c.is_admin(&ctx) {
        return Err(ApiError::conflict(format!(
            "Instance {} is in an invalid state for 'abort live migration'",
            i.uuid
        )));
    }
    if i.task_state.as_deref() != Some("migrating") {
        return Err(invalid_state("abort live migration", &i.uuid, "task_state", i.task_state.as_deref()));
    }
    let all = q::migrations(&c.db, Some(&i.uuid)).await.map_err(db_err)?;
    let m = all
        .into_iter()
        .find(|m| m.id.to_string() == mid && m.migration_type == "live-migration")
        .ok_or_else(|| ApiError::not_found(format!("Migration {mid} not found for instance {}", i.uuid)))?;
    let abortable: &[&str] = if mv.at(65) { &["running", "queued", "preparing", "accepted"] } else { &["running"] };
    if !abortable.contains(&m.status.as_str()) {
        return Err(bad(format!(
            "Migration {mid} state of instance {} is {}. Cannot abort live migration while the migration is in this state.",
            i.uuid, m.status
        )));
    }
    q::set_migration(&c.db, &m.uuid, "cancelling", None).await.map_err(db_err)?;
    record(&c, &ctx, &i, "live_migration_cancel").await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
