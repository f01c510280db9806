//! `/os-server-groups`.

use api_core::{ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{check_body, check_query, last, non_negative, ok, parse_body, query_pairs, Mv, C};
use crate::core::{bad, db_err, Compute};
use crate::db::{self as q, ServerGroup};
use crate::policies::names;
use crate::server_groups::POLICIES;

async fn view(c: &Compute, mv: Mv, g: &ServerGroup) -> ApiResult<Value> {
    let members: Vec<String> =
        q::group_members(&c.db, &g.uuid).await.map_err(db_err)?.into_iter().map(|(u, _)| u).collect();
    let mut v = json!({"id": g.uuid, "name": g.name, "members": members});
    if mv.at(64) {
        v["policy"] = json!(g.policy);
        v["rules"] = if g.rules.is_object() { g.rules.clone() } else { json!({}) };
    } else {
        v["policies"] = json!([g.policy]);
        v["metadata"] = json!({});
    }
    if mv.at(13) {
        v["project_id"] = json!(g.project_id);
        v["user_id"] = json!(g.user_id);
    }
    Ok(v)
}

pub async fn list(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let mut pairs = query_pairs(raw.as_deref());
    check_query(mv, &mut pairs, &["all_projects", "limit", "offset"], 75)?;
    c.authorize(&ctx, names::SERVER_GROUPS_INDEX, &Compute::project_target(&ctx))?;
    let all = last(&pairs, "all_projects").is_some()
        && c.allowed(&ctx, names::SERVER_GROUPS_INDEX_ALL, &Compute::project_target(&ctx));
    let project = ctx.project_id.clone().unwrap_or_default();
    let groups = q::server_groups(&c.db, if all { None } else { Some(&project) }).await.map_err(db_err)?;
    let offset = non_negative(&pairs, "offset")?.unwrap_or(0) as usize;
    let limit = match non_negative(&pairs, "limit")? {
        None | Some(0) => c.config.max_limit,
        Some(l) => l.min(c.config.max_limit),
    } as usize;
    let mut out = Vec::new();
    for g in groups.iter().skip(offset).take(limit) {
        out.push(view(&c, mv, g).await?);
    }
    Ok(ok(StatusCode::OK, json!({"server_groups": out})))
}

pub async fn create(State(c): C, mv: Mv, ctx: Auth, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    c.authorize(&ctx, names::SERVER_GROUPS_CREATE, &Compute::project_target(&ctx))?;
    let name = json!({"type": "string", "minLength": 1, "maxLength": 255});
    let allowed: Vec<&str> = if mv.at(15) { POLICIES.to_vec() } else { vec!["anti-affinity", "affinity"] };
    let group = if mv.at(64) {
        json!({"type": "object", "properties": {"name": name, "policy": {"type": "string", "enum": allowed},
            "rules": {"type": "object", "properties": {"max_server_per_host":
                {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1}},
                "additionalProperties": false}},
            "required": ["name", "policy"], "additionalProperties": false})
    } else {
        json!({"type": "object", "properties": {"name": name, "policies": {"type": "array",
            "items": {"type": "string", "enum": allowed}, "minItems": 1, "maxItems": 1, "uniqueItems": true}},
            "required": ["name", "policies"], "additionalProperties": false})
    };
    check_body(
        &body,
        &json!({"type": "object", "properties": {"server_group": group}, "required": ["server_group"],
                "additionalProperties": false}),
    )?;
    let g = &body["server_group"];
    let name = g["name"].as_str().unwrap_or_default();
    if !super::valid_name(name) {
        return Err(bad(super::INVALID_NAME));
    }
    let policy =
        if mv.at(64) { g["policy"].as_str() } else { g["policies"][0].as_str() }.unwrap_or_default().to_string();
    if !allowed.contains(&policy.as_str()) {
        return Err(bad(format!(
            "Invalid input for field/attribute 0. Value: {policy}. '{policy}' is not one of {}",
            api_core::schema::repr(&json!(allowed))
        )));
    }
    let mut rules = json!({});
    if let Some(m) = g.get("rules").and_then(Value::as_object).filter(|m| !m.is_empty()) {
        if policy != "anti-affinity" {
            return Err(bad("Only anti-affinity policy supports rules."));
        }
        if let Some(v) = m.get("max_server_per_host") {
            let n = match v {
                Value::String(s) => s.parse::<i64>().unwrap_or(1),
                other => other.as_i64().unwrap_or(1),
            };
            rules = json!({"max_server_per_host": n});
        }
    }
    let created = c.create_server_group(&ctx, name, &policy, rules).await?;
    Ok(ok(StatusCode::OK, json!({"server_group": view(&c, mv, &created).await?})))
}

pub async fn show(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let g = c.server_group(&ctx, &id, names::SERVER_GROUPS_SHOW).await?;
    Ok(ok(StatusCode::OK, json!({"server_group": view(&c, mv, &g).await?})))
}

pub async fn delete(State(c): C, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let g = c.server_group(&ctx, &id, names::SERVER_GROUPS_DELETE).await?;
    q::delete_server_group(&c.db, &g.uuid).await.map_err(db_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
