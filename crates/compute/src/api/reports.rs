//! Reports and small server resources: `/os-migrations`,
//! `/os-simple-tenant-usage`, `/os-server-external-events`, a server's
//! password and diagnostics.

use api_core::{ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};

use super::{check_body, check_query, last, next_link, non_negative, ok, parse_body, query_pairs, Mv, C};
use crate::core::{bad, db_err, Compute};
use crate::db as q;
use crate::model::{Instance, Migration};
use crate::policies::names;

// ---------- os-migrations ----------

fn migration_view(c: &Compute, mv: Mv, m: &Migration, hosts: bool) -> Value {
    let h = |v: &Option<String>| if hosts { json!(v) } else { Value::Null };
    let mut v = json!({
        "created_at": m.created_at, "updated_at": m.updated_at, "id": m.id, "instance_uuid": m.instance_uuid,
        "source_compute": h(&m.source_compute), "source_node": h(&m.source_node),
        "dest_compute": h(&m.dest_compute), "dest_node": h(&m.dest_node), "dest_host": Value::Null,
        "status": m.status, "old_instance_type_id": m.old_flavor.flavorid, "new_instance_type_id": m.new_flavor.flavorid,
    });
    if mv.at(23) {
        v["migration_type"] = json!(m.migration_type);
        if m.migration_type == "live-migration"
            && matches!(m.status.as_str(), "queued" | "preparing" | "running" | "post-migrating")
        {
            v["links"] = super::links(c, &format!("servers/{}/migrations", m.instance_uuid), &m.id.to_string());
        }
    }
    if mv.at(59) {
        v["uuid"] = json!(m.uuid);
    }
    if mv.at(80) {
        v["user_id"] = json!(m.user_id);
        v["project_id"] = json!(m.project_id);
    }
    v
}

pub async fn migrations(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let mut pairs = query_pairs(raw.as_deref());
    let mut known = vec!["hidden", "host", "instance_uuid", "source_compute", "status", "migration_type"];
    if mv.at(59) {
        known.extend(["limit", "marker", "changes-since"]);
    }
    if mv.at(66) {
        known.push("changes-before");
    }
    if mv.at(80) {
        known.extend(["user_id", "project_id"]);
    }
    if mv.at(59) {
        check_query(mv, &mut pairs, &known, 59)?;
    }
    let own = ctx.project_id.clone().unwrap_or_default();
    let project = last(&pairs, "project_id").map(str::to_string);
    c.authorize(&ctx, names::MIGRATIONS_INDEX, &json!({"project_id": project.clone().unwrap_or(own.clone())}))?;
    let admin = c.is_admin(&ctx);
    let mut list = q::migrations(&c.db, None).await.map_err(db_err)?;
    if !admin {
        list.retain(|m| m.project_id == own);
    }
    let get = |k: &str| -> Vec<&str> { pairs.iter().filter(|(x, _)| x == k).map(|(_, v)| v.as_str()).collect() };
    let statuses = get("status");
    if !statuses.is_empty() {
        list.retain(|m| statuses.contains(&m.status.as_str()));
    }
    if let Some(h) = last(&pairs, "host") {
        list.retain(|m| m.source_compute.as_deref() == Some(h) || m.dest_compute.as_deref() == Some(h));
    }
    if let Some(i) = last(&pairs, "instance_uuid") {
        list.retain(|m| m.instance_uuid == i);
    }
    if let Some(s) = last(&pairs, "source_compute") {
        list.retain(|m| m.source_compute.as_deref() == Some(s));
    }
    if let Some(t) = last(&pairs, "migration_type") {
        list.retain(|m| m.migration_type == t);
    }
    if let Some(p) = project.as_deref().filter(|_| mv.at(80)) {
        list.retain(|m| m.project_id == p);
    }
    if let Some(u) = last(&pairs, "user_id").filter(|_| mv.at(80)) {
        list.retain(|m| m.user_id == u);
    }
    let mut body = json!({});
    if mv.at(59) {
        if let Some(since) = last(&pairs, "changes-since") {
            list.retain(|m| m.updated_at.as_deref().unwrap_or(&m.created_at) >= since);
        }
        if let Some(marker) = last(&pairs, "marker") {
            let pos = list
                .iter()
                .position(|m| m.uuid == marker)
                .ok_or_else(|| bad(format!("Marker {marker} could not be found.")))?;
            list.drain(..=pos);
        }
        let limit = non_negative(&pairs, "limit")?.unwrap_or(c.config.max_limit).min(c.config.max_limit) as usize;
        list.truncate(limit);
        if limit > 0 && list.len() == limit {
            body["migrations_links"] = next_link(&c, "os-migrations", &pairs, &list[limit - 1].uuid);
        }
    }
    body["migrations"] = list.iter().map(|m| migration_view(&c, mv, m, admin)).collect();
    Ok(ok(StatusCode::OK, body))
}

// ---------- os-simple-tenant-usage ----------

fn parse_time(v: Option<&str>) -> ApiResult<NaiveDateTime> {
    let now = chrono::Utc::now().naive_utc();
    let Some(v) = v else { return Ok(now) };
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, f) {
            return Ok(t);
        }
    }
    Err(bad("Invalid datetime string: Datetime is in invalid format"))
}

fn stamp(t: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// Per project: the totals and each server's usage within [start, end].
fn usages(list: &[Instance], start: NaiveDateTime, end: NaiveDateTime) -> Vec<(String, Map<String, Value>)> {
    let now = chrono::Utc::now().naive_utc();
    let mut out: Vec<(String, Map<String, Value>)> = Vec::new();
    for i in list {
        let Some(launched) = i.launched_at.as_deref().and_then(stamp) else { continue };
        let ended = i.terminated_at.as_deref().and_then(stamp);
        if launched >= end || ended.is_some_and(|t| t <= start) {
            continue;
        }
        let from = launched.max(start);
        let to = ended.map(|t| t.min(end)).unwrap_or(end);
        let hours = ((to - from).num_milliseconds() as f64 / 3_600_000.0).max(0.0);
        let local_gb = i.flavor.root_gb + i.flavor.ephemeral_gb;
        let uptime = (ended.unwrap_or(now) - launched).num_seconds();
        let server = json!({
            "ended_at": i.terminated_at, "flavor": i.flavor.name, "hours": hours, "instance_id": i.uuid,
            "local_gb": local_gb, "memory_mb": i.flavor.memory_mb, "name": i.name,
            "started_at": i.launched_at, "state": if ended.is_some() { "terminated" } else { i.vm_state.as_str() },
            "tenant_id": i.project_id, "uptime": uptime, "vcpus": i.flavor.vcpus,
        });
        if out.last().is_none_or(|(p, _)| *p != i.project_id) {
            let mut t = Map::new();
            t.insert("tenant_id".into(), json!(i.project_id));
            t.insert("start".into(), json!(start.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()));
            t.insert("stop".into(), json!(end.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()));
            for k in ["total_hours", "total_local_gb_usage", "total_memory_mb_usage", "total_vcpus_usage"] {
                t.insert(k.into(), json!(0.0));
            }
            t.insert("server_usages".into(), json!([]));
            out.push((i.project_id.clone(), t));
        }
        let t = &mut out.last_mut().expect("pushed").1;
        let add = |t: &mut Map<String, Value>, k: &str, v: f64| {
            let cur = t[k].as_f64().unwrap_or(0.0);
            t.insert(k.into(), json!(cur + v));
        };
        add(t, "total_hours", hours);
        add(t, "total_local_gb_usage", local_gb as f64 * hours);
        add(t, "total_memory_mb_usage", i.flavor.memory_mb as f64 * hours);
        add(t, "total_vcpus_usage", i.flavor.vcpus as f64 * hours);
        t["server_usages"].as_array_mut().expect("array").push(server);
    }
    out
}

/// The query of a usage report and its period.
type UsageQuery = (Vec<(String, String)>, NaiveDateTime, NaiveDateTime);

fn usage_query(mv: Mv, raw: Option<&str>, detail_allowed: bool) -> ApiResult<UsageQuery> {
    let mut pairs = query_pairs(raw);
    let mut known = vec!["start", "end"];
    if detail_allowed || !mv.at(75) {
        known.push("detailed");
    }
    if mv.at(40) {
        known.extend(["limit", "marker"]);
    }
    check_query(mv, &mut pairs, &known, 75)?;
    let start = parse_time(last(&pairs, "start"))?;
    let end = parse_time(last(&pairs, "end"))?.min(chrono::Utc::now().naive_utc());
    if start >= end {
        return Err(bad("Invalid start time. The start time cannot occur after the end time."));
    }
    Ok((pairs, start, end))
}

/// The instances of a page (2.40 paging by instance uuid).
fn page(c: &Compute, mv: Mv, pairs: &[(String, String)], mut list: Vec<Instance>) -> ApiResult<(Vec<Instance>, bool)> {
    if !mv.at(40) {
        return Ok((list, false));
    }
    if let Some(m) = last(pairs, "marker") {
        let pos =
            list.iter().position(|i| i.uuid == m).ok_or_else(|| bad(format!("Marker {m} could not be found.")))?;
        list.drain(..=pos);
    }
    let limit = non_negative(pairs, "limit")?.unwrap_or(c.config.max_limit).min(c.config.max_limit) as usize;
    let full = limit > 0 && list.len() >= limit;
    list.truncate(limit);
    Ok((list, full))
}

pub async fn usage_list(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let (pairs, start, end) = usage_query(mv, raw.as_deref(), true)?;
    c.authorize(&ctx, names::USAGE_LIST, &Compute::project_target(&ctx))?;
    let all = q::instances_for_usage(&c.db, None).await.map_err(db_err)?;
    let active: Vec<Instance> = usages(&all, start, end)
        .iter()
        .flat_map(|(_, t)| t["server_usages"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| all.iter().find(|i| Some(i.uuid.as_str()) == s["instance_id"].as_str()).cloned())
        .collect();
    let (list, full) = page(&c, mv, &pairs, active)?;
    let detailed = last(&pairs, "detailed") == Some("1");
    let mut items = Vec::new();
    for (_, mut t) in usages(&list, start, end) {
        if !detailed {
            t.remove("server_usages");
        }
        items.push(Value::Object(t));
    }
    let mut body = json!({"tenant_usages": items});
    if full {
        body["tenant_usages_links"] =
            next_link(&c, "os-simple-tenant-usage", &pairs, &list.last().map(|i| i.uuid.clone()).unwrap_or_default());
    }
    Ok(ok(StatusCode::OK, body))
}

pub async fn usage_show(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (pairs, start, end) = usage_query(mv, raw.as_deref(), false)?;
    c.authorize(&ctx, names::USAGE_SHOW, &json!({"project_id": project}))?;
    let all = q::instances_for_usage(&c.db, Some(&project)).await.map_err(db_err)?;
    let active: Vec<Instance> =
        all.into_iter().filter(|i| !usages(std::slice::from_ref(i), start, end).is_empty()).collect();
    let (list, full) = page(&c, mv, &pairs, active)?;
    let usage = usages(&list, start, end).into_iter().next().map(|(_, t)| Value::Object(t)).unwrap_or(json!({}));
    let mut body = json!({"tenant_usage": usage});
    if full {
        body["tenant_usage_links"] = next_link(
            &c,
            &format!("os-simple-tenant-usage/{project}"),
            &pairs,
            &list.last().map(|i| i.uuid.clone()).unwrap_or_default(),
        );
    }
    Ok(ok(StatusCode::OK, body))
}

// ---------- os-server-external-events ----------

pub async fn external_events(State(c): C, mv: Mv, ctx: Auth, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    c.authorize(&ctx, names::EXTERNAL_EVENTS, &Compute::project_target(&ctx))?;
    let mut events = vec!["network-changed", "network-vif-plugged", "network-vif-unplugged", "network-vif-deleted"];
    for (v, name) in
        [(51, "volume-extended"), (76, "power-update"), (82, "accelerator-request-bound"), (93, "volume-reimaged")]
    {
        if mv.at(v) {
            events.push(name);
        }
    }
    check_body(
        &body,
        &json!({"type": "object", "properties": {"events": {"type": "array", "minItems": 1, "items": {
            "type": "object", "properties": {
                "name": {"type": "string", "enum": events},
                "server_uuid": {"type": "string", "format": "uuid"},
                "status": {"type": "string", "enum": ["failed", "completed", "in-progress"]},
                "tag": {"type": "string", "maxLength": 255}},
            "required": ["name", "server_uuid"], "additionalProperties": false}}},
            "required": ["events"], "additionalProperties": false}),
    )?;
    let mut out = Vec::new();
    let mut all_ok = true;
    for e in body["events"].as_array().into_iter().flatten() {
        let mut r = e.clone();
        if r.get("status").is_none() {
            r["status"] = json!("completed");
        }
        let uuid = e["server_uuid"].as_str().unwrap_or_default();
        let needs_tag =
            matches!(e["name"].as_str(), Some("volume-extended" | "power-update" | "accelerator-request-bound"));
        let code = match q::instance_by_uuid(&c.db, uuid).await.map_err(db_err)?.filter(|i| !i.deleted) {
            None => 404,
            Some(_) if needs_tag && e.get("tag").is_none() => 400,
            Some(i) if i.host.is_none() => 422,
            Some(_) => 200,
        };
        if code != 200 {
            r["status"] = json!("failed");
            all_ok = false;
        }
        r["code"] = json!(code);
        out.push(r);
    }
    let status = if all_ok { StatusCode::OK } else { StatusCode::MULTI_STATUS };
    Ok(ok(status, json!({"events": out})))
}

// ---------- os-server-password, diagnostics ----------

pub async fn password_show(State(c): C, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let i = c.server(&ctx, &id, names::PASSWORD_SHOW).await?;
    let pw = i.system_metadata.get("password").cloned().unwrap_or_default();
    Ok(ok(StatusCode::OK, json!({"password": pw})))
}

pub async fn password_clear(State(c): C, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let mut i = c.server(&ctx, &id, names::PASSWORD_CLEAR).await?;
    i.system_metadata.remove("password");
    c.save_fields(&ctx, &i, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn diagnostics(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let i = c.server(&ctx, &id, names::DIAGNOSTICS).await?;
    if i.host.is_none() {
        return Err(api_core::ApiError::conflict(format!("Instance {id} is not ready")));
    }
    let state = match i.power_state {
        1 => "running",
        3 => "paused",
        4 => "shutdown",
        6 => "crashed",
        7 => "suspended",
        _ => "pending",
    };
    let uptime = i
        .launched_at
        .as_deref()
        .and_then(stamp)
        .map(|t| (chrono::Utc::now().naive_utc() - t).num_seconds())
        .unwrap_or(0);
    let body = if mv.at(48) {
        json!({
            "state": state, "driver": "fake", "hypervisor": "fake", "hypervisor_os": "fake", "uptime": uptime,
            "config_drive": false, "num_cpus": i.flavor.vcpus, "num_nics": 0, "num_disks": 1,
            "cpu_details": (0..i.flavor.vcpus).map(|n| json!({"id": n, "time": 0, "utilisation": null})).collect::<Vec<_>>(),
            "nic_details": [],
            "disk_details": [{"read_bytes": 0, "read_requests": 0, "write_bytes": 0, "write_requests": 0, "errors_count": 0}],
            "memory_details": {"maximum": i.flavor.memory_mb, "used": 0},
        })
    } else {
        json!({"cpu0_time": 0, "memory": i.flavor.memory_mb * 1024, "vda_read": 0, "vda_write": 0, "uptime": uptime})
    };
    Ok(ok(StatusCode::OK, body))
}
