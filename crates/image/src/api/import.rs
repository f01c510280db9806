//! Interoperable import: `PUT .../stage`, `POST .../import`, the tasks
//! that record imports, and `/v2/info/import`.

use std::sync::Arc;

use api_core::auth::Auth;
use api_core::{ApiError, ApiResult};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{json_body, no_body};
use crate::core::{bad, gerr, Images};
use crate::import::{image_task_json, task_json};

pub async fn info_import(
    _: Auth,
    State(images): State<Arc<Images>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    no_body(&headers, &body)?;
    Ok(Json(json!({"import-methods": {
        "description": "Import methods available.",
        "type": "array",
        "value": images.import_methods(),
    }}))
    .into_response())
}

/// The size a data request announces: `x-openstack-image-size`, else Content-Length.
pub(super) fn declared_size(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let parse = |name: &str| -> ApiResult<Option<u64>> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Some)
                .ok_or_else(|| bad("Invalid or missing image size in request headers.")),
        }
    };
    Ok(parse("x-openstack-image-size")?.or(parse(header::CONTENT_LENGTH.as_str())?))
}

pub async fn stage(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    if !images.import_methods().iter().any(|m| m == "glance-direct") {
        return Err(gerr(StatusCode::NOT_FOUND, "'glance-direct' method is not available at this site."));
    }
    super::data::require_octet_stream(&headers)?;
    let declared = declared_size(&headers)?;
    images.stage(&auth, &id, body.into_data_stream(), declared).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn import(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_body(&body)?;
    images.import(&auth, &id, &body).await?;
    Ok((StatusCode::ACCEPTED, [(header::CONTENT_TYPE, "text/html; charset=UTF-8")]).into_response())
}

pub async fn image_tasks(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    no_body(&headers, &body)?;
    let tasks = images.image_tasks(&auth, &id).await?;
    Ok(Json(json!({"tasks": tasks.iter().map(image_task_json).collect::<Vec<_>>()})))
}

pub async fn list_tasks(auth: Auth, State(images): State<Arc<Images>>) -> ApiResult<Json<Value>> {
    let tasks = images.list_tasks(&auth).await?;
    let tasks: Vec<_> = tasks.iter().map(|t| task_json(t, false)).collect();
    Ok(Json(json!({"tasks": tasks, "first": "/v2/tasks", "schema": "/v2/schemas/tasks"})))
}

pub async fn show_task(
    auth: Auth,
    State(images): State<Arc<Images>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(task_json(&images.get_task(&auth, &id).await?, true)))
}

/// Tasks are removed when they expire, never by request.
pub async fn delete_task(_: Auth, Path(_id): Path<String>) -> Response {
    let mut r = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "This operation is currently not permitted on Glance Tasks. They are auto deleted after reaching the time based on their expires_at property.<br /><br />\n\n\n",
    )
    .into_response();
    r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET"));
    r
}

pub async fn info_usage(auth: Auth, State(images): State<Arc<Images>>) -> ApiResult<Json<Value>> {
    Ok(Json(images.usage_report(&auth).await?))
}
