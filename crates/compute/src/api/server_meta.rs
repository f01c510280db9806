//! A server's metadata, tags and instance actions.

use std::collections::BTreeMap;

use api_core::{ApiError, ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{check_body, last, non_negative, ok, parse_body, query_pairs, Mv, C};
use crate::actions::{check, Guard, Tasks};
use crate::core::{bad, db_err, Compute};
use crate::db as q;
use crate::model::Instance;
use crate::policies::names;

const EDITABLE: &[&str] = &["active", "paused", "suspended", "stopped"];

fn editable(name: &'static str, lock: bool) -> Guard {
    Guard { name, lock, host: false, vm: Some(EDITABLE), task: Tasks::Any, launched: false }
}

fn metadata_schema(key: &str, exactly_one: bool) -> Value {
    let mut inner = json!({"type": "object",
        "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
        "additionalProperties": false});
    if exactly_one {
        inner["minProperties"] = json!(1);
        inner["maxProperties"] = json!(1);
    }
    json!({"type": "object", "properties": {key: inner}, "required": [key], "additionalProperties": false})
}

fn metadata_of(body: &Value, key: &str) -> BTreeMap<String, String> {
    body[key]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

async fn too_many(c: &Compute, project: &str, m: &BTreeMap<String, String>) -> ApiResult<()> {
    let limit = c.quota_limits(project, None).await?["metadata_items"];
    if limit >= 0 && m.len() as i64 > limit {
        return Err(ApiError::forbidden(format!("Maximum number of metadata items exceeds {limit}")));
    }
    Ok(())
}

fn metadata_missing() -> ApiError {
    ApiError::not_found("Metadata item was not found")
}

pub async fn metadata_list(State(c): C, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let i = c.server(&ctx, &id, names::METADATA_INDEX).await?;
    Ok(ok(StatusCode::OK, json!({"metadata": i.metadata})))
}

pub async fn metadata_show(State(c): C, ctx: Auth, Path((id, key)): Path<(String, String)>) -> ApiResult<Response> {
    let i = c.server(&ctx, &id, names::METADATA_SHOW).await?;
    let v = i.metadata.get(&key).ok_or_else(metadata_missing)?;
    Ok(ok(StatusCode::OK, json!({"meta": {key: v}})))
}

async fn write_metadata(c: &Compute, ctx: &Auth, mut i: Instance, m: BTreeMap<String, String>) -> ApiResult<()> {
    too_many(c, &i.project_id, &m).await?;
    i.metadata = m;
    c.save_fields(ctx, &i, None).await
}

pub async fn metadata_merge(State(c): C, ctx: Auth, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    check_body(&body, &metadata_schema("metadata", false))?;
    let i = c.server(&ctx, &id, names::METADATA_CREATE).await?;
    check(&i, &editable("update metadata", true), c.is_admin(&ctx))?;
    let mut m = i.metadata.clone();
    m.extend(metadata_of(&body, "metadata"));
    write_metadata(&c, &ctx, i, m.clone()).await?;
    Ok(ok(StatusCode::OK, json!({"metadata": m})))
}

pub async fn metadata_replace(State(c): C, ctx: Auth, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    check_body(&body, &metadata_schema("metadata", false))?;
    let i = c.server(&ctx, &id, names::METADATA_UPDATE_ALL).await?;
    check(&i, &editable("update metadata", true), c.is_admin(&ctx))?;
    let m = metadata_of(&body, "metadata");
    write_metadata(&c, &ctx, i, m.clone()).await?;
    Ok(ok(StatusCode::OK, json!({"metadata": m})))
}

pub async fn metadata_set(
    State(c): C,
    ctx: Auth,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    check_body(&body, &metadata_schema("meta", true))?;
    let m = metadata_of(&body, "meta");
    if !m.contains_key(&key) {
        return Err(bad("Request body and URI mismatch"));
    }
    let i = c.server(&ctx, &id, names::METADATA_UPDATE).await?;
    check(&i, &editable("update metadata", true), c.is_admin(&ctx))?;
    let mut all = i.metadata.clone();
    all.extend(m.clone());
    write_metadata(&c, &ctx, i, all).await?;
    Ok(ok(StatusCode::OK, json!({"meta": m})))
}

pub async fn metadata_delete(State(c): C, ctx: Auth, Path((id, key)): Path<(String, String)>) -> ApiResult<Response> {
    let i = c.server(&ctx, &id, names::METADATA_DELETE).await?;
    if !i.metadata.contains_key(&key) {
        return Err(metadata_missing());
    }
    check(&i, &editable("delete metadata", true), c.is_admin(&ctx))?;
    let mut m = i.metadata.clone();
    m.remove(&key);
    write_metadata(&c, &ctx, i, m).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------- tags (2.26) ----------

pub const MAX_TAGS: usize = 50;

/// Nova's tag rule: 1 to 60 characters, no `/` or `,`.
pub fn tag_error(t: &str) -> Option<String> {
    let len = t.chars().count();
    if len == 0 || len > 60 || t.contains('/') || t.contains(',') {
        let why = if len == 0 {
            format!("'{t}' is too short")
        } else if len > 60 {
            format!("'{t}' is too long")
        } else {
            format!("'{t}' does not match '^[^,/]*$'")
        };
        return Some(format!(
            "Tag '{t}' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: {why}"
        ));
    }
    None
}

async fn tagged(c: &Compute, mv: Mv, ctx: &Auth, id: &str, rule: &str) -> ApiResult<Instance> {
    mv.require(26)?;
    c.server(ctx, id, rule).await.map_err(|e| {
        if e.status == StatusCode::NOT_FOUND {
            ApiError::not_found(format!("Instance {id} has no mapping to a cell."))
        } else {
            e
        }
    })
}

pub async fn tags_list(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let i = tagged(&c, mv, &ctx, &id, names::TAGS_INDEX).await?;
    Ok(ok(StatusCode::OK, json!({"tags": i.tags})))
}

pub async fn tags_replace(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    mv.require(26)?;
    let body = parse_body(&body)?;
    check_body(
        &body,
        &json!({"type": "object", "properties": {"tags": {"type": "array", "maxItems": MAX_TAGS,
            "items": {"type": "string"}}}, "required": ["tags"], "additionalProperties": false}),
    )?;
    let tags: Vec<String> =
        body["tags"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    if let Some(err) = tags.iter().find_map(|t| tag_error(t)) {
        return Err(bad(err));
    }
    let mut i = tagged(&c, mv, &ctx, &id, names::TAGS_UPDATE_ALL).await?;
    check(&i, &editable("update tags", false), true)?;
    let mut unique = Vec::new();
    for t in tags {
        if !unique.contains(&t) {
            unique.push(t);
        }
    }
    i.tags = unique;
    c.save_fields(&ctx, &i, None).await?;
    Ok(ok(StatusCode::OK, json!({"tags": i.tags})))
}

pub async fn tags_clear(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let mut i = tagged(&c, mv, &ctx, &id, names::TAGS_DELETE_ALL).await?;
    check(&i, &editable("delete tags", false), true)?;
    i.tags.clear();
    c.save_fields(&ctx, &i, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn tag_check(State(c): C, mv: Mv, ctx: Auth, Path((id, tag)): Path<(String, String)>) -> ApiResult<Response> {
    let i = tagged(&c, mv, &ctx, &id, names::TAGS_SHOW).await?;
    if !i.tags.contains(&tag) {
        return Err(ApiError::not_found(format!("Server {id} has no tag '{tag}'")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn tag_add(State(c): C, mv: Mv, ctx: Auth, Path((id, tag)): Path<(String, String)>) -> ApiResult<Response> {
    mv.require(26)?;
    if let Some(err) = tag_error(&tag) {
        return Err(bad(err));
    }
    let mut i = tagged(&c, mv, &ctx, &id, names::TAGS_UPDATE).await?;
    check(&i, &editable("update tag", false), true)?;
    if i.tags.contains(&tag) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if i.tags.len() >= MAX_TAGS {
        return Err(bad(format!("The number of tags exceeded the per-server limit {MAX_TAGS}")));
    }
    i.tags.push(tag.clone());
    c.save_fields(&ctx, &i, None).await?;
    let mut resp = StatusCode::CREATED.into_response();
    let location = format!("{}/v2.1/servers/{id}/tags/{tag}", c.endpoint);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

pub async fn tag_delete(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    let mut i = tagged(&c, mv, &ctx, &id, names::TAGS_DELETE).await?;
    check(&i, &editable("delete tag", false), true)?;
    if !i.tags.contains(&tag) {
        return Err(ApiError::not_found(format!("Instance {id} has no tag '{tag}'")));
    }
    i.tags.retain(|t| *t != tag);
    c.save_fields(&ctx, &i, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------- instance actions ----------

fn action_view(mv: Mv, a: &q::InstanceAction) -> Value {
    let mut v = json!({
        "action": a.action, "instance_uuid": a.instance_uuid, "request_id": a.request_id,
        "user_id": a.user_id, "project_id": a.project_id, "start_time": a.start_time, "message": a.message,
    });
    if mv.at(58) {
        v["updated_at"] = json!(a.updated_at);
    }
    v
}

pub async fn actions_list(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let pairs = query_pairs(raw.as_deref());
    let i = c.server_lookup(&ctx, &id, names::INSTANCE_ACTIONS_LIST, mv.at(21)).await?;
    let mut actions = q::instance_actions(&c.db, &i.uuid).await.map_err(db_err)?;
    let mut body = json!({});
    if mv.at(58) {
        if let Some(m) = last(&pairs, "marker") {
            let pos = actions
                .iter()
                .position(|a| a.request_id == m)
                .ok_or_else(|| bad(format!("Marker {m} could not be found.")))?;
            actions.drain(..=pos);
        }
        if let Some(since) = last(&pairs, "changes-since") {
            actions.retain(|a| a.updated_at.as_str() >= since);
        }
        if let Some(limit) = non_negative(&pairs, "limit")? {
            let limit = limit.min(c.config.max_limit) as usize;
            if actions.len() > limit {
                actions.truncate(limit);
            }
            if limit > 0 && actions.len() == limit {
                let m = actions[limit - 1].request_id.clone();
                body["links"] = super::next_link(&c, &format!("servers/{id}/os-instance-actions"), &pairs, &m);
            }
        }
    }
    body["instanceActions"] = actions.iter().map(|a| action_view(mv, a)).collect();
    Ok(ok(StatusCode::OK, body))
}

pub async fn action_show(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path((id, request_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let i = c.server_lookup(&ctx, &id, names::INSTANCE_ACTIONS_SHOW, mv.at(21)).await?;
    let actions = q::instance_actions(&c.db, &i.uuid).await.map_err(db_err)?;
    let a = actions
        .into_iter()
        .find(|a| a.request_id == request_id)
        .ok_or_else(|| ApiError::not_found(format!("Action {request_id} not found")))?;
    let mut v = action_view(mv, &a);
    let target = json!({"project_id": i.project_id});
    let admin = c.allowed(&ctx, names::INSTANCE_ACTIONS_EVENTS, &target);
    if admin || mv.at(51) {
        let events: Vec<Value> = a
            .events
            .iter()
            .map(|e| {
                let mut ev = json!({"event": e["event"], "start_time": e["start_time"],
                                    "finish_time": e["finish_time"], "result": e["result"]});
                if admin {
                    ev["traceback"] = e["traceback"].clone();
                }
                if mv.at(62) {
                    let host = e["host"].as_str().unwrap_or_default();
                    if admin {
                        ev["host"] = json!(host);
                    }
                    ev["hostId"] = json!(super::servers::host_id_of(&i.project_id, host));
                }
                if mv.at(84) && admin {
                    ev["details"] = e["details"].clone();
                }
                ev
            })
            .collect();
        v["events"] = json!(events);
    }
    Ok(ok(StatusCode::OK, json!({"instanceAction": v})))
}
