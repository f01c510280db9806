//! `/os-services` and `/os-hypervisors`: the compute hosts agents report,
//! as Nova shows them to admins.

use api_core::{ApiError, ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{check_body, check_query, last, next_link, non_negative, ok, parse_body, query_pairs, Mv, C};
use crate::core::{bad, db_err, Compute};
use crate::db as q;
use crate::model::{Node, Service};
use crate::policies::names;

fn service_view(c: &Compute, mv: Mv, s: &Service) -> Value {
    let mut v = json!({
        "id": if mv.at(53) { json!(s.uuid) } else { json!(s.id) },
        "binary": s.binary,
        "host": s.host,
        "zone": "nova",
        "status": if s.disabled { "disabled" } else { "enabled" },
        "state": if c.service_is_up(s) { "up" } else { "down" },
        "updated_at": s.last_seen_up.clone().or_else(|| s.updated_at.clone()),
        "disabled_reason": s.disabled_reason,
    });
    if mv.at(11) {
        v["forced_down"] = json!(s.forced_down);
    }
    v
}

pub async fn list(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let mut pairs = query_pairs(raw.as_deref());
    check_query(mv, &mut pairs, &["host", "binary"], 75)?;
    c.authorize(&ctx, names::SERVICES_LIST, &Compute::project_target(&ctx))?;
    let mut services = q::services(&c.db).await.map_err(db_err)?;
    if let Some(h) = last(&pairs, "host").filter(|h| !h.is_empty()) {
        services.retain(|s| s.host == h);
    }
    if let Some(b) = last(&pairs, "binary").filter(|b| !b.is_empty()) {
        services.retain(|s| s.binary == b);
    }
    let items: Vec<Value> = services.iter().map(|s| service_view(&c, mv, s)).collect();
    Ok(ok(StatusCode::OK, json!({"services": items})))
}

fn only_compute(s: &Service) -> ApiResult<()> {
    if s.binary != "nova-compute" {
        return Err(bad(format!(
            "Updating a {} service is not supported. Only nova-compute services can be updated.",
            s.binary
        )));
    }
    Ok(())
}

pub async fn update(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    if !mv.at(53) {
        return legacy_update(&c, mv, &ctx, &id, &body).await;
    }
    if !api_core::schema::is_uuid_like(&id) {
        return Err(bad(format!("Invalid uuid {id}")));
    }
    c.authorize(&ctx, names::SERVICES_UPDATE, &json!({}))?;
    let services = q::services(&c.db).await.map_err(db_err)?;
    let s = services
        .into_iter()
        .find(|s| s.uuid == id)
        .ok_or_else(|| ApiError::not_found(format!("Service {id} could not be found.")))?;
    only_compute(&s)?;
    let bools = json!([
        "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "False", "FALSE", "false", "0", "OFF",
        "Off", "off", "NO", "No", "no", true, false
    ]);
    let schema = json!({"type": "object", "properties": {
        "status": {"type": "string", "enum": ["enabled", "disabled"]},
        "disabled_reason": {"type": "string", "minLength": 1, "maxLength": 255},
        "forced_down": {"type": ["boolean", "string"], "enum": bools},
    }, "additionalProperties": false});
    check_body(&body, &schema)?;
    let (mut disabled, mut reason, mut forced) = (s.disabled, s.disabled_reason.clone(), s.forced_down);
    let mut changed = false;
    match body.get("status").and_then(Value::as_str) {
        Some("enabled") => {
            if body.get("disabled_reason").and_then(Value::as_str).is_some_and(|r| !r.is_empty()) {
                return Err(bad("Specifying 'disabled_reason' with status 'enabled' is invalid."));
            }
            (disabled, reason, changed) = (false, None, true);
        }
        Some(_) => {
            (disabled, reason, changed) =
                (true, body.get("disabled_reason").and_then(Value::as_str).map(str::to_string), true);
        }
        None => {}
    }
    if let Some(f) = body.get("forced_down") {
        forced = super::parse_bool(f).unwrap_or(false);
        changed = true;
    }
    if !changed {
        return Err(bad("No updates were requested. Fields 'status' or 'forced_down' should be specified."));
    }
    q::set_service_status(&c.db, s.id, disabled, reason.as_deref(), forced).await.map_err(db_err)?;
    c.hosts_changed().await;
    tracing::info!(host = %s.host, disabled, forced_down = forced, "compute service updated");
    let s = q::service_by_host(&c.db, &s.host).await.map_err(db_err)?.expect("exists");
    Ok(ok(StatusCode::OK, json!({"service": service_view(&c, mv, &s)})))
}

/// `PUT /os-services/{enable,disable,disable-log-reason,force-down}` below 2.53.
async fn legacy_update(c: &Compute, mv: Mv, ctx: &Auth, action: &str, body: &Value) -> ApiResult<Response> {
    c.authorize(ctx, names::SERVICES_UPDATE, &json!({}))?;
    let mut props = json!({
        "host": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9-._]*$"},
        "binary": {"type": "string", "minLength": 1, "maxLength": 255},
        "disabled_reason": {"type": "string", "minLength": 1, "maxLength": 255},
    });
    if mv.at(11) {
        props["forced_down"] = json!({"type": ["boolean", "string"]});
    }
    check_body(
        body,
        &json!({"type": "object", "properties": props, "required": ["host", "binary"], "additionalProperties": false}),
    )?;
    let known = ["enable", "disable", "disable-log-reason"].contains(&action) || (action == "force-down" && mv.at(11));
    if !known {
        return Err(ApiError::not_found("Unknown action"));
    }
    let host = body["host"].as_str().unwrap_or_default();
    let binary = body["binary"].as_str().unwrap_or_default();
    if binary != "nova-compute" {
        return Err(bad(format!(
            "Updating a {binary} service is not supported. Only nova-compute services can be updated."
        )));
    }
    let s = q::service_by_host(&c.db, host)
        .await
        .map_err(db_err)?
        .ok_or_else(|| ApiError::not_found(format!("Could not find binary {binary} on host {host}.")))?;
    let out = match action {
        "enable" => {
            q::set_service_status(&c.db, s.id, false, None, s.forced_down).await.map_err(db_err)?;
            json!({"host": host, "binary": binary, "status": "enabled"})
        }
        "disable" => {
            q::set_service_status(&c.db, s.id, true, None, s.forced_down).await.map_err(db_err)?;
            json!({"host": host, "binary": binary, "status": "disabled"})
        }
        "disable-log-reason" => {
            let reason = body
                .get("disabled_reason")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("Missing disabled reason field"))?;
            q::set_service_status(&c.db, s.id, true, Some(reason), s.forced_down).await.map_err(db_err)?;
            json!({"host": host, "binary": binary, "status": "disabled", "disabled_reason": reason})
        }
        _ => {
            let forced = body.get("forced_down").ok_or_else(|| bad("Missing forced_down field"))?;
            let forced = super::parse_bool(forced).unwrap_or(false);
            q::set_service_status(&c.db, s.id, s.disabled, s.disabled_reason.as_deref(), forced)
                .await
                .map_err(db_err)?;
            json!({"host": host, "binary": binary, "forced_down": forced})
        }
    };
    c.hosts_changed().await;
    Ok(ok(StatusCode::OK, json!({"service": out})))
}

pub async fn delete(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    c.authorize(&ctx, names::SERVICES_DELETE, &json!({}))?;
    let services = q::services(&c.db).await.map_err(db_err)?;
    let found = if mv.at(53) {
        if !api_core::schema::is_uuid_like(&id) {
            return Err(bad(format!("Invalid uuid {id}")));
        }
        services.into_iter().find(|s| s.uuid == id)
    } else {
        let n: i64 = id.parse().map_err(|_| bad("Invalid input received: id must be an integer"))?;
        services.into_iter().find(|s| s.id == n)
    };
    let s = found.ok_or_else(|| ApiError::not_found(format!("Service {id} not found.")))?;
    c.delete_service(&s).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------- hypervisors ----------

fn hypervisor_view(
    c: &Compute,
    mv: Mv,
    n: &Node,
    s: Option<&Service>,
    detail: bool,
    servers: Option<Vec<Value>>,
) -> Value {
    let mut v = json!({
        "id": if mv.at(53) { json!(n.uuid) } else { json!(n.id) },
        "hypervisor_hostname": n.hypervisor_hostname,
        "state": if s.is_some_and(|s| c.service_is_up(s)) { "up" } else { "down" },
        "status": if s.is_some_and(|s| s.disabled) { "disabled" } else { "enabled" },
    });
    if detail {
        v["hypervisor_type"] = json!(n.hypervisor_type);
        v["hypervisor_version"] = json!(n.hypervisor_version);
        v["host_ip"] = json!(n.host_ip.clone().unwrap_or_else(|| "127.0.0.1".into()));
        v["service"] = json!({
            "id": if mv.at(53) { json!(s.map(|s| s.uuid.clone())) } else { json!(s.map(|s| s.id)) },
            "host": n.host,
            "disabled_reason": s.and_then(|s| s.disabled_reason.clone()),
        });
        if mv.at(88) {
            v["uptime"] = Value::Null;
        } else {
            v["vcpus"] = json!(n.vcpus);
            v["memory_mb"] = json!(n.memory_mb);
            v["local_gb"] = json!(n.local_gb);
            v["cpu_info"] = if mv.at(28) {
                serde_json::from_str(&n.cpu_info).unwrap_or_else(|_| json!({}))
            } else {
                json!(n.cpu_info)
            };
        }
    }
    if let Some(servers) = servers {
        v["servers"] = json!(servers);
    }
    v
}

async fn usage_fields(c: &Compute, mv: Mv, n: &Node, v: &mut Value) -> ApiResult<()> {
    if mv.at(88) {
        return Ok(());
    }
    let instances = c.instances_on_host(&n.host).await?;
    let vcpus_used: i64 = instances.iter().map(|i| i.flavor.vcpus).sum();
    let ram_used: i64 = instances.iter().map(|i| i.flavor.memory_mb).sum::<i64>() + c.config.reserved_host_memory_mb;
    let disk_used: i64 = instances.iter().map(|i| i.flavor.root_gb + i.flavor.ephemeral_gb).sum();
    v["vcpus_used"] = json!(vcpus_used);
    v["memory_mb_used"] = json!(ram_used);
    v["local_gb_used"] = json!(disk_used);
    v["free_ram_mb"] = json!(n.memory_mb - ram_used);
    v["free_disk_gb"] = json!(n.local_gb - disk_used);
    v["current_workload"] = json!(0);
    v["running_vms"] = json!(instances.len());
    v["disk_available_least"] = json!(n.local_gb - disk_used);
    Ok(())
}

async fn servers_of(c: &Compute, host: &str) -> ApiResult<Vec<Value>> {
    Ok(c.instances_on_host(host).await?.iter().map(|i| json!({"name": i.name, "uuid": i.uuid})).collect())
}

/// `servers` of a hypervisor when asked for: omitted when empty, except
/// from 2.75 on where an empty list is shown.
async fn listed_servers(c: &Compute, mv: Mv, host: &str) -> ApiResult<Option<Vec<Value>>> {
    let list = servers_of(c, host).await?;
    Ok(if list.is_empty() && !mv.at(75) { None } else { Some(list) })
}

async fn hypervisors(c: &Compute, mv: Mv, ctx: &Auth, raw: Option<&str>, detail: bool) -> ApiResult<Response> {
    let mut pairs = query_pairs(raw);
    let known: &[&str] = if mv.at(53) {
        &["limit", "marker", "hypervisor_hostname_pattern", "with_servers"]
    } else if mv.at(33) {
        &["limit", "marker"]
    } else {
        &[]
    };
    check_query(mv, &mut pairs, known, 53)?;
    let rule = if detail { names::HYPERVISORS_LIST_DETAIL } else { names::HYPERVISORS_LIST };
    c.authorize(ctx, rule, &Compute::project_target(ctx))?;
    let services = q::services(&c.db).await.map_err(db_err)?;
    let mut nodes = q::nodes(&c.db).await.map_err(db_err)?;
    let pattern = last(&pairs, "hypervisor_hostname_pattern");
    if let Some(p) = pattern {
        if last(&pairs, "limit").is_some() || last(&pairs, "marker").is_some() {
            return Err(bad(
                "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.",
            ));
        }
        nodes.retain(|n| n.hypervisor_hostname.contains(p));
        if nodes.is_empty() {
            return Err(ApiError::not_found(format!("No hypervisor matching '{p}' could be found.")));
        }
    }
    if let Some(m) = last(&pairs, "marker") {
        let pos = nodes
            .iter()
            .position(|n| if mv.at(53) { n.uuid == m } else { n.id.to_string() == m })
            .ok_or_else(|| bad(format!("marker [{m}] not found")))?;
        nodes.drain(..=pos);
    }
    let limit = non_negative(&pairs, "limit")?;
    let max_items = limit.unwrap_or(c.config.max_limit).min(c.config.max_limit).max(0) as usize;
    nodes.truncate(max_items);
    let with_servers =
        mv.at(53) && last(&pairs, "with_servers").is_some_and(|v| super::parse_bool(&json!(v)) == Some(true));
    let mut items = Vec::new();
    for n in &nodes {
        let s = services.iter().find(|s| s.id == n.service_id);
        let servers = if with_servers { listed_servers(c, mv, &n.host).await? } else { None };
        let mut v = hypervisor_view(c, mv, n, s, detail, servers);
        if detail {
            usage_fields(c, mv, n, &mut v).await?;
        }
        items.push(v);
    }
    let mut body = json!({"hypervisors": items});
    if mv.at(33) && pattern.is_none() && max_items > 0 && nodes.len() == max_items {
        let last_id = if mv.at(53) { nodes[max_items - 1].uuid.clone() } else { nodes[max_items - 1].id.to_string() };
        let path = if detail { "os-hypervisors/detail" } else { "os-hypervisors" };
        body["hypervisors_links"] = next_link(c, path, &pairs, &last_id);
    }
    Ok(ok(StatusCode::OK, body))
}

pub async fn hypervisor_list(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    hypervisors(&c, mv, &ctx, raw.as_deref(), false).await
}

pub async fn hypervisor_detail(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    hypervisors(&c, mv, &ctx, raw.as_deref(), true).await
}

async fn find_node(c: &Compute, mv: Mv, id: &str) -> ApiResult<Node> {
    let missing = || ApiError::not_found(format!("Hypervisor with ID '{id}' could not be found."));
    if mv.at(53) && !api_core::schema::is_uuid_like(id) {
        return Err(bad(format!("Invalid uuid {id}")));
    }
    let nodes = q::nodes(&c.db).await.map_err(db_err)?;
    nodes.into_iter().find(|n| if mv.at(53) { n.uuid == id } else { n.id.to_string() == id }).ok_or_else(missing)
}

pub async fn hypervisor_show(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let mut pairs = query_pairs(raw.as_deref());
    let known: &[&str] = if mv.at(53) { &["with_servers"] } else { &[] };
    check_query(mv, &mut pairs, known, 53)?;
    c.authorize(&ctx, names::HYPERVISORS_SHOW, &Compute::project_target(&ctx))?;
    let n = find_node(&c, mv, &id).await?;
    let services = q::services(&c.db).await.map_err(db_err)?;
    let s = services.iter().find(|s| s.id == n.service_id);
    let with_servers =
        mv.at(53) && last(&pairs, "with_servers").is_some_and(|v| super::parse_bool(&json!(v)) == Some(true));
    let servers = if with_servers { listed_servers(&c, mv, &n.host).await? } else { None };
    let mut v = hypervisor_view(&c, mv, &n, s, true, servers);
    usage_fields(&c, mv, &n, &mut v).await?;
    Ok(ok(StatusCode::OK, json!({"hypervisor": v})))
}

pub async fn hypervisor_uptime(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    mv.require_below(88)?;
    c.authorize(&ctx, names::HYPERVISORS_UPTIME, &Compute::project_target(&ctx))?;
    let n = find_node(&c, mv, &id).await?;
    let services = q::services(&c.db).await.map_err(db_err)?;
    let s = services.iter().find(|s| s.id == n.service_id);
    let mut v = hypervisor_view(&c, mv, &n, s, false, None);
    v["uptime"] = Value::Null;
    Ok(ok(StatusCode::OK, json!({"hypervisor": v})))
}

pub async fn hypervisor_statistics(State(c): C, mv: Mv, ctx: Auth) -> ApiResult<Response> {
    mv.require_below(88)?;
    c.authorize(&ctx, names::HYPERVISORS_STATISTICS, &Compute::project_target(&ctx))?;
    let services = q::services(&c.db).await.map_err(db_err)?;
    let nodes = q::nodes(&c.db).await.map_err(db_err)?;
    let mut stats = json!({"count": 0, "current_workload": 0, "disk_available_least": 0, "free_disk_gb": 0,
        "free_ram_mb": 0, "local_gb": 0, "local_gb_used": 0, "memory_mb": 0, "memory_mb_used": 0,
        "running_vms": 0, "vcpus": 0, "vcpus_used": 0});
    for n in &nodes {
        if !services.iter().any(|s| s.id == n.service_id && !s.disabled) {
            continue;
        }
        let mut v = json!({"vcpus": n.vcpus, "memory_mb": n.memory_mb, "local_gb": n.local_gb});
        usage_fields(&c, Mv(api_core::microversion::Version::new(2, 1)), n, &mut v).await?;
        stats["count"] = json!(stats["count"].as_i64().unwrap_or(0) + 1);
        for key in [
            "current_workload",
            "disk_available_least",
            "free_disk_gb",
            "free_ram_mb",
            "local_gb",
            "local_gb_used",
            "memory_mb",
            "memory_mb_used",
            "running_vms",
            "vcpus",
            "vcpus_used",
        ] {
            stats[key] = json!(stats[key].as_i64().unwrap_or(0) + v[key].as_i64().unwrap_or(0));
        }
    }
    Ok(ok(StatusCode::OK, json!({"hypervisor_statistics": stats})))
}
