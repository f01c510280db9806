//! HTTP layer of the Image service: routes, version documents, schemas,
//! request parsing and response shaping. Handlers are thin: parse, call
//! [`Images`], shape.

mod data;
mod images;
mod import;
mod members;

use std::sync::{Arc, OnceLock};

use api_core::ApiError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::core::{bad, gerr, Images};

/// The newest images API minor version served.
pub const CURRENT_VERSION: &str = "v2.17";
const SUPPORTED: &[&str] = &["v2.15", "v2.9", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"];

pub const IMAGE_SCHEMA: &str = include_str!("schema-image.json");
const IMAGES_SCHEMA: &str = include_str!("schema-images.json");
const MEMBER_SCHEMA: &str = include_str!("schema-member.json");
const MEMBERS_SCHEMA: &str = include_str!("schema-members.json");
const TASK_SCHEMA: &str = include_str!("schema-task.json");
const TASKS_SCHEMA: &str = include_str!("schema-tasks.json");

pub fn image_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| serde_json::from_str(IMAGE_SCHEMA).expect("image schema is JSON"))
}

pub fn router(images: Arc<Images>) -> Router {
    Router::new()
        .route("/", get(versions_300))
        .route("/versions", get(versions_200))
        .route("/v2", get(versions_300))
        .route("/v2/images", get(images::list).post(images::create))
        .route("/v2/images/{id}", get(images::show).patch(images::update).delete(images::delete))
        .route("/v2/images/{id}/actions/deactivate", post(images::deactivate))
        .route("/v2/images/{id}/actions/reactivate", post(images::reactivate))
        .route("/v2/images/{id}/tags/{tag}", put(images::add_tag).delete(images::delete_tag))
        .route("/v2/images/{id}/file", get(data::download).put(data::upload))
        .route("/v2/images/{id}/members", get(members::list).post(members::create))
        .route("/v2/images/{id}/members/{member}", get(members::show).put(members::update).delete(members::delete))
        .route("/v2/schemas/image", get(|| async { json_raw(IMAGE_SCHEMA) }))
        .route("/v2/schemas/images", get(|| async { json_raw(IMAGES_SCHEMA) }))
        .route("/v2/schemas/member", get(|| async { json_raw(MEMBER_SCHEMA) }))
        .route("/v2/schemas/members", get(|| async { json_raw(MEMBERS_SCHEMA) }))
        .route("/v2/images/{id}/stage", put(import::stage))
        .route("/v2/images/{id}/import", post(import::import))
        .route("/v2/images/{id}/tasks", get(import::image_tasks))
        .route("/v2/tasks", get(import::list_tasks))
        .route("/v2/tasks/{id}", get(import::show_task).delete(import::delete_task))
        .route("/v2/schemas/task", get(|| async { json_raw(TASK_SCHEMA) }))
        .route("/v2/schemas/tasks", get(|| async { json_raw(TASKS_SCHEMA) }))
        .route("/v2/info/import", get(import::info_import))
        .route("/v2/info/usage", get(import::info_usage))
        .route("/v2/info/stores", get(info_stores))
        .route("/v2/info/stores/detail", get(info_stores))
        .fallback(no_route)
        .with_state(images)
}

async fn no_route() -> ApiError {
    gerr(StatusCode::NOT_FOUND, "The resource could not be found.")
}

fn json_raw(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn versions(images: &Images) -> Value {
    let href = format!("{}/v2/", images.endpoint.trim_end_matches('/'));
    let entry = |id: &str, status: &str| json!({"id": id, "status": status, "links": [{"rel": "self", "href": href}]});
    let mut list =
        vec![entry(SUPPORTED[0], "SUPPORTED"), entry(SUPPORTED[1], "SUPPORTED"), entry(CURRENT_VERSION, "CURRENT")];
    list.extend(SUPPORTED[2..].iter().map(|v| entry(v, "SUPPORTED")));
    json!({"versions": list})
}

async fn versions_300(State(images): State<Arc<Images>>) -> Response {
    (StatusCode::MULTIPLE_CHOICES, axum::Json(versions(&images))).into_response()
}

async fn versions_200(State(images): State<Arc<Images>>) -> Response {
    axum::Json(versions(&images)).into_response()
}

/// One store, so no multi-store discovery (as Glance without `enabled_backends`).
async fn info_stores(_: api_core::auth::Auth, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    no_body(&headers, &body)?;
    Err(gerr(StatusCode::NOT_FOUND, "Multi backend is not supported at this site."))
}

/// A JSON request body as Glance's deserializer reads it.
pub fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(bad("Body expected in request."));
    }
    serde_json::from_slice(body).map_err(|_| bad("Malformed JSON in request body."))
}

/// Rejects a body on routes that take none (`body_reject`).
pub fn no_body(headers: &HeaderMap, body: &Bytes) -> Result<(), ApiError> {
    let chunked = headers.get(header::TRANSFER_ENCODING).is_some();
    if !body.is_empty() || (chunked && !body.is_empty()) {
        return Err(bad("A body is not expected with this request."));
    }
    Ok(())
}

/// Validation against a schema, with Glance's wording.
pub fn validate(instance: &Value, schema_name: &str, schema: &Value) -> Result<(), ApiError> {
    api_core::schema::validate(instance, schema)
        .map_err(|reason| bad(format!("Provided object does not match schema '{schema_name}': {reason}")))
}

pub fn object(v: Value) -> Result<Map<String, Value>, ApiError> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Array(_) => Ok(Map::new()),
        _ => Err(bad("Unexpected body type. Expected list/dict.")),
    }
}
