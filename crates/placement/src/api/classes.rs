//! `/resource_classes` (1.2), bodiless idempotent PUT at 1.7.

use api_core::{ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::*;
use crate::core::{bad, conflict, not_found};
use crate::policies::names as pol;
use crate::standard::{CUSTOM_RESOURCE_CLASS_ID_START, STANDARD_RESOURCE_CLASSES};

fn schema() -> Value {
    json!({"type": "object", "properties": {"name": {"type": "string", "pattern": "^CUSTOM_[A-Z0-9_]+$", "maxLength": 255}},
        "required": ["name"], "additionalProperties": false})
}

fn serialize(name: &str) -> Value {
    json!({"name": name, "links": [{"rel": "self", "href": format!("/placement/resource_classes/{name}")}]})
}

fn location(resp: &mut Response, headers: &HeaderMap, name: &str) {
    set_location(resp, headers, &format!("/resource_classes/{name}"));
}

pub async fn list(State(p): P, Auth(ctx): Auth, mv: Mv, headers: HeaderMap) -> ApiResult<Response> {
    mv.require(2)?;
    check_accept(&headers)?;
    p.enforce(&ctx, pol::RC_LIST, &default_target(&ctx))?;
    let all = p.all_classes().await?;
    let last = all.iter().map(|(_, u)| u.clone()).filter(|u| !u.is_empty()).max();
    let out: Vec<Value> = all.iter().map(|(n, _)| serialize(n)).collect();
    Ok(json_response(mv, StatusCode::OK, json!({"resource_classes": out}), last.as_deref()))
}

pub async fn show(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    mv.require(2)?;
    check_accept(&headers)?;
    p.enforce(&ctx, pol::RC_SHOW, &default_target(&ctx))?;
    if p.class_id(&name).await?.is_none() {
        return Err(not_found(format!("No such resource class {name}.")));
    }
    Ok(json_response(mv, StatusCode::OK, serialize(&name), None))
}

pub async fn create(State(p): P, Auth(ctx): Auth, mv: Mv, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    mv.require(2)?;
    require_json(&headers)?;
    p.enforce(&ctx, pol::RC_CREATE, &default_target(&ctx))?;
    let data = json_body(&headers, &body, &schema())?;
    let name = data["name"].as_str().unwrap_or_default();
    if !p.create_class(name).await? {
        return Err(conflict(format!("Conflicting resource class already exists: {name}")));
    }
    let mut resp = empty(StatusCode::CREATED);
    location(&mut resp, &headers, name);
    Ok(resp)
}

pub async fn update(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    mv.require(2)?;
    if mv.at(7) {
        p.enforce(&ctx, pol::RC_UPDATE, &default_target(&ctx))?;
        validate(&json!({"name": name}), &schema())?;
        let status = if p.create_class(&name).await? { StatusCode::CREATED } else { StatusCode::NO_CONTENT };
        // Placement sends no cache headers here, even at 1.15.
        let mut resp = empty(status);
        location(&mut resp, &headers, &name);
        return Ok(resp);
    }
    require_json(&headers)?;
    p.enforce(&ctx, pol::RC_UPDATE, &default_target(&ctx))?;
    let data = json_body(&headers, &body, &schema())?;
    let new = data["name"].as_str().unwrap_or_default();
    let Some(id) = p.class_id(&name).await? else {
        return Err(not_found(format!("No such resource class {name}.")));
    };
    if id < CUSTOM_RESOURCE_CLASS_ID_START {
        return Err(bad(format!("Cannot update standard resource class {name}")));
    }
    if STANDARD_RESOURCE_CLASSES.contains(&new) || !p.rename_class(id, new).await? {
        return Err(conflict(format!("Resource class already exists: {new}")));
    }
    Ok(json_response(mv, StatusCode::OK, serialize(new), None))
}

pub async fn delete(State(p): P, Auth(ctx): Auth, mv: Mv, Path(name): Path<String>) -> ApiResult<Response> {
    mv.require(2)?;
    p.enforce(&ctx, pol::RC_DELETE, &default_target(&ctx))?;
    let Some(id) = p.class_id(&name).await? else {
        return Err(not_found(format!("No such resource class {name}.")));
    };
    if id < CUSTOM_RESOURCE_CLASS_ID_START {
        return Err(bad(format!("Error in delete resource class: Cannot delete standard resource class {name}.")));
    }
    if !p.delete_class(id).await? {
        return Err(conflict(format!(
            "Error in delete resource class: Cannot delete resource class {name}. Class is in use in inventory."
        )));
    }
    Ok(empty(StatusCode::NO_CONTENT))
}
