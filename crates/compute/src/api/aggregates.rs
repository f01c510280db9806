//! `/os-aggregates`: host aggregates, their hosts, metadata and zone.

use std::collections::BTreeMap;

use api_core::{ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{check_body, check_query, ok, parse_body, query_pairs, Mv, C};
use crate::core::{bad, Compute};
use crate::model::Aggregate;
use crate::policies::names;

fn view(mv: Mv, a: &Aggregate, full: bool) -> Value {
    let mut v = json!({
        "availability_zone": a.availability_zone(),
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "deleted_at": null,
        "deleted": false,
        "id": a.id,
        "name": a.name,
    });
    if full {
        v["hosts"] = json!(a.hosts);
        v["metadata"] = json!(a.metadata);
    }
    if mv.at(41) {
        v["uuid"] = json!(a.uuid);
    }
    v
}

const NAME: &str = r#"{"type": "string", "minLength": 1, "maxLength": 255}"#;

fn az_schema() -> Value {
    json!({"type": ["string", "null"], "minLength": 1, "maxLength": 255, "pattern": "^[^:]*$"})
}

fn check_name(name: &str) -> ApiResult<()> {
    if !super::valid_name(name) {
        return Err(bad(super::INVALID_NAME));
    }
    Ok(())
}

fn admin(c: &Compute, ctx: &Auth, rule: &str) -> ApiResult<()> {
    c.authorize(ctx, rule, &Compute::project_target(ctx))
}

pub async fn list(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    check_query(mv, &mut query_pairs(raw.as_deref()), &[], 102)?;
    admin(&c, &ctx, names::AGGREGATES_INDEX)?;
    let all: Vec<Value> = c.aggregates().await?.iter().map(|a| view(mv, a, true)).collect();
    Ok(ok(StatusCode::OK, json!({"aggregates": all})))
}

pub async fn create(State(c): C, mv: Mv, ctx: Auth, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    admin(&c, &ctx, names::AGGREGATES_CREATE)?;
    let name: Value = serde_json::from_str(NAME).expect("schema");
    check_body(
        &body,
        &json!({"type": "object", "properties": {"aggregate": {"type": "object", "properties": {
            "name": name, "availability_zone": az_schema()}, "required": ["name"], "additionalProperties": false}},
            "required": ["aggregate"], "additionalProperties": false}),
    )?;
    let a = &body["aggregate"];
    let name = a["name"].as_str().unwrap_or_default();
    check_name(name)?;
    let az = a.get("availability_zone").and_then(Value::as_str).map(str::trim).filter(|z| !z.is_empty());
    let created = c.create_aggregate(name.trim(), az).await?;
    Ok(ok(StatusCode::OK, json!({"aggregate": view(mv, &created, false)})))
}

pub async fn show(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    admin(&c, &ctx, names::AGGREGATES_SHOW)?;
    let a = c.aggregate(&id).await?;
    Ok(ok(StatusCode::OK, json!({"aggregate": view(mv, &a, true)})))
}

pub async fn update(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    admin(&c, &ctx, names::AGGREGATES_UPDATE)?;
    let name: Value = serde_json::from_str(NAME).expect("schema");
    check_body(
        &body,
        &json!({"type": "object", "properties": {"aggregate": {"type": "object", "properties": {
            "name": name, "availability_zone": az_schema()}, "minProperties": 1, "additionalProperties": false}},
            "required": ["aggregate"], "additionalProperties": false}),
    )?;
    let u = &body["aggregate"];
    let a = c.aggregate(&id).await?;
    let name = u.get("name").and_then(Value::as_str).map(str::trim);
    let az = u.get("availability_zone").map(|z| z.as_str().map(str::trim));
    let a = c.update_aggregate(&a, name, az).await?;
    Ok(ok(StatusCode::OK, json!({"aggregate": view(mv, &a, true)})))
}

pub async fn delete(State(c): C, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    admin(&c, &ctx, names::AGGREGATES_DELETE)?;
    let a = c.aggregate(&id).await?;
    c.delete_aggregate(&a).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn action(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    let Some(obj) = body.as_object().filter(|o| o.len() == 1) else {
        return Err(bad("Malformed request body"));
    };
    let (key, _) = obj.iter().next().expect("one key");
    let host_schema = |k: &str| {
        json!({"type": "object", "properties": {k: {"type": "object", "properties": {
            "host": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9-._]*$"}},
            "required": ["host"], "additionalProperties": false}}, "required": [k], "additionalProperties": false})
    };
    let a = match key.as_str() {
        "add_host" => {
            admin(&c, &ctx, names::AGGREGATES_ADD_HOST)?;
            check_body(&body, &host_schema("add_host"))?;
            let a = c.aggregate(&id).await?;
            c.add_aggregate_host(&a, body["add_host"]["host"].as_str().unwrap_or_default()).await?
        }
        "remove_host" => {
            admin(&c, &ctx, names::AGGREGATES_REMOVE_HOST)?;
            check_body(&body, &host_schema("remove_host"))?;
            let host = body["remove_host"]["host"].as_str().unwrap_or_default();
            let a = c.aggregate(&id).await.map_err(|e| {
                if e.status == StatusCode::NOT_FOUND {
                    api_core::ApiError::not_found(format!("Cannot remove host {host} in aggregate {id}"))
                } else {
                    e
                }
            })?;
            c.remove_aggregate_host(&a, host).await?
        }
        "set_metadata" => {
            admin(&c, &ctx, names::AGGREGATES_SET_METADATA)?;
            check_body(
                &body,
                &json!({"type": "object", "properties": {"set_metadata": {"type": "object", "properties": {
                    "metadata": {"type": "object", "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$":
                        {"type": ["string", "null"], "maxLength": 255}}, "additionalProperties": false}},
                    "required": ["metadata"], "additionalProperties": false}},
                    "required": ["set_metadata"], "additionalProperties": false}),
            )?;
            let changes: BTreeMap<String, Option<String>> = body["set_metadata"]["metadata"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
                .collect();
            let a = c.aggregate(&id).await?;
            c.set_aggregate_metadata(&a, &changes).await?
        }
        other => return Err(bad(format!("There is no such action: {other}"))),
    };
    Ok(ok(StatusCode::OK, json!({"aggregate": view(mv, &a, true)})))
}
