//! `/v2/images/{id}/members`: sharing an image with other projects.

use std::sync::Arc;

use api_core::auth::Auth;
use api_core::ApiResult;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{json_body, no_body};
use crate::core::{bad, Images};
use crate::model::Member;

fn view(m: &Member) -> Value {
    json!({"member_id": m.member, "image_id": m.image_id, "status": m.status, "created_at": m.created_at,
        "updated_at": m.updated_at, "schema": "/v2/schemas/member"})
}

pub async fn create(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_body(&body)?;
    let member = match body.get("member") {
        None => return Err(bad("Member to be added not specified")),
        Some(Value::String(s)) if s.is_empty() => return Err(bad("Member can't be empty")),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(bad("Member to be added not specified")),
    };
    let m = images.add_member(&auth, &id, &member).await?;
    Ok(axum::Json(view(&m)).into_response())
}

pub async fn list(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    no_body(&headers, &body)?;
    let members = images.members(&auth, &id).await?;
    Ok(axum::Json(json!({"members": members.iter().map(view).collect::<Vec<_>>(), "schema": "/v2/schemas/members"}))
        .into_response())
}

pub async fn show(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path((id, member)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    no_body(&headers, &body)?;
    let m = images.member(&auth, &id, &member).await?;
    Ok(axum::Json(view(&m)).into_response())
}

pub async fn update(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path((id, member)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_body(&body)?;
    let status = body.get("status").and_then(Value::as_str).unwrap_or_default();
    if !["pending", "accepted", "rejected"].contains(&status) {
        return Err(bad("Incorrect request: Status must be \"pending\", \"accepted\" or \"rejected\"."));
    }
    let m = images.update_member(&auth, &id, &member, status).await?;
    Ok(axum::Json(view(&m)).into_response())
}

pub async fn delete(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path((id, member)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    no_body(&headers, &body)?;
    images.delete_member(&auth, &id, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}
