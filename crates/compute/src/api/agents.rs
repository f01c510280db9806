//! `/compute-agent/v1/agents/{agent}/...`: the agent protocol's HTTP side
//! (see `agent::protocol`). Only tokens with the admin or service role.

use std::time::Duration;

use agent::protocol::{CommandResult, Commands, Report, ReportReply};
use api_core::{ApiResult, Auth, Json};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::C;
use crate::hosts::agent_forbidden;

fn check(ctx: &Auth) -> ApiResult<()> {
    if ctx.has_role("admin") || ctx.has_role("service") {
        Ok(())
    } else {
        Err(agent_forbidden())
    }
}

pub async fn report(
    State(c): C,
    ctx: Auth,
    Path(agent): Path<String>,
    Json(report): Json<Report>,
) -> ApiResult<axum::Json<ReportReply>> {
    check(&ctx)?;
    let after = c.agent_report(&agent, &report).await?;
    Ok(axum::Json(ReportReply { after }))
}

#[derive(Deserialize)]
pub struct Poll {
    #[serde(default)]
    after: i64,
    #[serde(default)]
    wait: u64,
}

pub async fn commands(
    State(c): C,
    ctx: Auth,
    Path(agent): Path<String>,
    Query(p): Query<Poll>,
) -> ApiResult<axum::Json<Commands>> {
    check(&ctx)?;
    let commands = c.agent_commands(&agent, p.after, Duration::from_secs(p.wait.min(60))).await?;
    Ok(axum::Json(Commands { commands }))
}

pub async fn result(
    State(c): C,
    ctx: Auth,
    Path((agent, seq)): Path<(String, i64)>,
    Json(result): Json<CommandResult>,
) -> ApiResult<Response> {
    check(&ctx)?;
    c.agent_result(&agent, seq, &result).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub struct SnapshotFormat {
    #[serde(default = "raw")]
    disk_format: String,
    #[serde(default = "bare")]
    container_format: String,
}

fn raw() -> String {
    "raw".into()
}

fn bare() -> String {
    "bare".into()
}

/// `PUT images/{image}`: a snapshot's data, streamed into the Image service.
pub async fn snapshot_data(
    State(c): C,
    ctx: Auth,
    Path((_agent, image)): Path<(String, String)>,
    Query(f): Query<SnapshotFormat>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    check(&ctx)?;
    let size = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    c.store_snapshot(&image, &f.disk_format, &f.container_format, body.into_data_stream(), size).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
