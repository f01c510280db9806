//! `/os-quota-sets` and `/os-quota-class-sets`.

use api_core::{ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::{check_body, check_query, last, ok, parse_body, query_pairs, Mv, C};
use crate::core::bad;
use crate::policies::names;
use crate::quotas::{Limits, RESOURCES};

/// The keys a quota set shows at a microversion, with the fixed values of
/// the ones Nova no longer counts.
fn shown(mv: Mv, limits: &Limits) -> Map<String, Value> {
    let mut m = Map::new();
    for r in RESOURCES {
        if r.starts_with("injected_file") && mv.at(57) {
            continue;
        }
        m.insert(r.to_string(), json!(limits[*r]));
    }
    if !mv.at(36) {
        for (k, v) in [("fixed_ips", -1), ("floating_ips", -1), ("security_group_rules", -1), ("security_groups", -1)] {
            m.insert(k.into(), json!(v));
        }
    }
    m
}

/// A quota class's keys: the network ones until 2.50, the server group
/// ones from 2.50, no injected files from 2.57.
fn class_shown(mv: Mv, limits: &Limits) -> Map<String, Value> {
    let mut m = shown(
        if mv.at(50) {
            Mv(api_core::microversion::Version::new(2, 36).max(mv.0))
        } else {
            Mv(api_core::microversion::Version::new(2, 1))
        },
        limits,
    );
    if !mv.at(50) {
        m.remove("server_groups");
        m.remove("server_group_members");
    }
    if mv.at(57) {
        m.retain(|k, _| !k.starts_with("injected_file"));
    }
    m
}

fn update_schema(mv: Mv, top: &str) -> Value {
    let limit = json!({"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1, "maximum": 0x7FFFFFFF});
    let mut props = Map::new();
    for r in RESOURCES {
        if r.starts_with("injected_file") && mv.at(57) {
            continue;
        }
        props.insert(r.to_string(), limit.clone());
    }
    if !mv.at(36) {
        for k in ["fixed_ips", "floating_ips", "security_group_rules", "security_groups", "networks"] {
            props.insert(k.into(), limit.clone());
        }
    }
    if top == "quota_set" {
        props.insert("force".into(), json!({"type": ["boolean", "string"]}));
    }
    json!({"type": "object", "properties": {top: {"type": "object", "properties": props, "additionalProperties": false}},
           "required": [top], "additionalProperties": false})
}

/// The limits a PUT body sets (the keys Nova still counts).
fn requested(body: &Value, top: &str) -> Limits {
    body[top]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| RESOURCES.contains(&k.as_str()))
        .filter_map(|(k, v)| {
            let n = match v {
                Value::String(s) => s.parse().ok(),
                other => other.as_i64(),
            };
            n.map(|n| (k.clone(), n))
        })
        .collect()
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "1" | "t" | "true" | "on" | "y" | "yes"),
        _ => false,
    }
}

pub async fn show(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let mut pairs = query_pairs(raw.as_deref());
    check_query(mv, &mut pairs, &["user_id"], 75)?;
    c.authorize(&ctx, names::QUOTA_SETS_SHOW, &json!({"project_id": project}))?;
    let limits = c.quota_limits(&project, last(&pairs, "user_id")).await?;
    let mut set = shown(mv, &limits);
    set.insert("id".into(), json!(project));
    Ok(ok(StatusCode::OK, json!({"quota_set": set})))
}

pub async fn detail(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let mut pairs = query_pairs(raw.as_deref());
    check_query(mv, &mut pairs, &["user_id"], 75)?;
    c.authorize(&ctx, names::QUOTA_SETS_DETAIL, &json!({"project_id": project}))?;
    let limits = c.quota_limits(&project, last(&pairs, "user_id")).await?;
    let usage = c.quota_usage(&project).await?;
    let mut set = Map::new();
    for (k, v) in shown(mv, &limits) {
        let used = usage.get(&k).copied().unwrap_or(0);
        set.insert(k, json!({"limit": v, "in_use": used, "reserved": 0}));
    }
    set.insert("id".into(), json!(project));
    Ok(ok(StatusCode::OK, json!({"quota_set": set})))
}

pub async fn defaults(State(c): C, mv: Mv, ctx: Auth, Path(project): Path<String>) -> ApiResult<Response> {
    c.authorize(&ctx, names::QUOTA_SETS_DEFAULTS, &json!({"project_id": project}))?;
    let mut set = shown(mv, &c.class_limits("default").await?);
    set.insert("id".into(), json!(project));
    Ok(ok(StatusCode::OK, json!({"quota_set": set})))
}

pub async fn update(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let mut pairs = query_pairs(raw.as_deref());
    check_query(mv, &mut pairs, &["user_id"], 75)?;
    let body = parse_body(&body)?;
    c.authorize(&ctx, names::QUOTA_SETS_UPDATE, &json!({"project_id": project}))?;
    check_body(&body, &update_schema(mv, "quota_set"))?;
    let force = truthy(&body["quota_set"]["force"]);
    let user = last(&pairs, "user_id");
    c.set_quotas(&project, user, &requested(&body, "quota_set"), force).await?;
    let limits = c.quota_limits(&project, user).await?;
    Ok(ok(StatusCode::OK, json!({"quota_set": shown(mv, &limits)})))
}

pub async fn revert(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let mut pairs = query_pairs(raw.as_deref());
    check_query(mv, &mut pairs, &["user_id"], 75)?;
    c.authorize(&ctx, names::QUOTA_SETS_DELETE, &json!({"project_id": project}))?;
    crate::db::delete_quotas(&c.db, &project, last(&pairs, "user_id")).await.map_err(crate::core::db_err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn class_show(State(c): C, mv: Mv, ctx: Auth, Path(class): Path<String>) -> ApiResult<Response> {
    c.authorize(&ctx, names::QUOTA_CLASS_SHOW, &json!({"quota_class": class}))?;
    let mut set = class_shown(mv, &c.class_limits(&class).await?);
    set.insert("id".into(), json!(class));
    Ok(ok(StatusCode::OK, json!({"quota_class_set": set})))
}

pub async fn class_update(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(class): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    c.authorize(&ctx, names::QUOTA_CLASS_UPDATE, &json!({"quota_class": class}))?;
    if class.is_empty() || class.len() > 255 {
        return Err(bad("The quota class name is invalid."));
    }
    check_body(&body, &update_schema(mv, "quota_class_set"))?;
    crate::db::set_quota_class(&c.db, &class, &requested(&body, "quota_class_set"))
        .await
        .map_err(crate::core::db_err)?;
    Ok(ok(StatusCode::OK, json!({"quota_class_set": class_shown(mv, &c.class_limits(&class).await?)})))
}
