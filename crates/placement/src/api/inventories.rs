//! `/resource_providers/{uuid}/inventories[/{resource_class}]`.

use api_core::{ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::*;
use crate::core::{bad, conflict, not_found, InventoryChange, Placement, CONCURRENT_UPDATE};
use crate::model::InventoryRow;
use crate::policies::names as pol;

/// Placement's MAX_INT and SQL_SP_FLOAT_MAX.
const MAX_INT: i64 = 2147483647;
const FLOAT_MAX: f64 = 3.40282e38;

fn record_schema(with_generation: bool) -> Value {
    let int = |min: i64| json!({"type": "integer", "maximum": MAX_INT, "minimum": min});
    let mut s = json!({"type": "object", "properties": {
        "resource_provider_generation": {"type": "integer"},
        "total": int(1), "reserved": int(0), "min_unit": int(1), "max_unit": int(1), "step_size": int(1),
        "allocation_ratio": {"type": "number", "maximum": FLOAT_MAX}},
        "required": ["total"], "additionalProperties": false});
    if with_generation {
        s["required"] = json!(["total", "resource_provider_generation"]);
    }
    s
}

pub(crate) fn put_all_schema() -> Value {
    json!({"type": "object", "properties": {
        "resource_provider_generation": {"type": "integer"},
        "inventories": {"type": "object", "patternProperties": {"^[A-Z0-9_]+$": record_schema(false)}}},
        "required": ["resource_provider_generation", "inventories"], "additionalProperties": false})
}

fn post_schema() -> Value {
    let mut s = record_schema(false);
    s["properties"]["resource_class"] = json!({"type": "string", "pattern": "^[A-Z0-9_]+$"});
    s["required"] = json!(["total", "resource_class"]);
    s
}

/// Defaults applied as Placement's INVENTORY_DEFAULTS.
pub(crate) fn inventory_from(rc: i64, d: &Map<String, Value>) -> InventoryRow {
    let int = |k: &str, default: i64| d.get(k).and_then(Value::as_i64).unwrap_or(default);
    InventoryRow {
        resource_provider_id: 0,
        resource_class_id: rc,
        total: int("total", 0),
        reserved: int("reserved", 0),
        min_unit: int("min_unit", 1),
        max_unit: int("max_unit", MAX_INT),
        step_size: int("step_size", 1),
        allocation_ratio: d.get("allocation_ratio").and_then(Value::as_f64).unwrap_or(1.0),
        updated_at: String::new(),
    }
}

pub fn serialize_inventory(inv: &InventoryRow) -> Value {
    json!({"total": inv.total, "reserved": inv.reserved, "min_unit": inv.min_unit, "max_unit": inv.max_unit,
        "step_size": inv.step_size, "allocation_ratio": inv.allocation_ratio})
}

/// Reserved must be below total (below 1.26) or at most total (1.26+).
fn check_capacity(p: &Placement, mv: Mv, rp_uuid: &str, invs: &[InventoryRow], action: &str) -> ApiResult<()> {
    for inv in invs {
        let bad_capacity = if mv.at(26) { inv.capacity() < 0.0 } else { inv.capacity() <= 0.0 };
        if bad_capacity {
            let why = if mv.at(26) {
                "The reserved value is greater than total."
            } else {
                "The reserved value is greater than or equal to total."
            };
            return Err(bad(format!(
                "Unable to {action} inventory for resource provider {rp_uuid}: Invalid inventory for '{}' on resource provider '{rp_uuid}'. {why}",
                p.class_name(inv.resource_class_id)
            )));
        }
    }
    Ok(())
}

async fn provider_or_404(p: &Placement, uuid: &str) -> ApiResult<crate::model::ProviderRow> {
    p.get_provider(uuid).await?.ok_or_else(|| not_found(format!("No resource provider with uuid {uuid} found")))
}

fn inventories_body(p: &Placement, generation: i64, invs: &[InventoryRow]) -> Value {
    let mut m = Map::new();
    for inv in invs {
        m.insert(p.class_name(inv.resource_class_id), serialize_inventory(inv));
    }
    json!({"resource_provider_generation": generation, "inventories": m})
}

fn last_modified(invs: &[InventoryRow]) -> Option<String> {
    invs.iter().map(|i| i.updated_at.clone()).max()
}

/// A provider's inventories; at 1.15 no `last-modified` when there are none,
/// as Placement has no time to give.
fn send_inventories(p: &Placement, mv: Mv, generation: i64, invs: &[InventoryRow]) -> Response {
    let last = last_modified(invs);
    let mut resp = json_response(mv, StatusCode::OK, inventories_body(p, generation, invs), last.as_deref());
    if last.is_none() {
        resp.headers_mut().remove(axum::http::header::LAST_MODIFIED);
    }
    resp
}

pub async fn list(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> ApiResult<Response> {
    check_accept(&headers)?;
    p.enforce(&ctx, pol::INVENTORY_LIST, &default_target(&ctx))?;
    let rp = p.get_provider(&uuid).await?.ok_or_else(|| {
        not_found(format!("No resource provider with uuid {uuid} found : No resource provider with uuid {uuid} found"))
    })?;
    let invs = crate::db::inventories_ro(&p.db, rp.id).await.map_err(crate::core::db_err)?;
    p.know_classes(invs.iter().map(|i| i.resource_class_id)).await?;
    Ok(send_inventories(&p, mv, rp.generation, &invs))
}

pub async fn show(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path((uuid, rc)): Path<(String, String)>,
) -> ApiResult<Response> {
    check_accept(&headers)?;
    p.enforce(&ctx, pol::INVENTORY_SHOW, &default_target(&ctx))?;
    let rp = p.get_provider(&uuid).await?.ok_or_else(|| {
        not_found(format!("No resource provider with uuid {uuid} found : No resource provider with uuid {uuid} found"))
    })?;
    let invs = crate::db::inventories_ro(&p.db, rp.id).await.map_err(crate::core::db_err)?;
    let id = p.class_id(&rc).await?;
    let Some(inv) = invs.iter().find(|i| Some(i.resource_class_id) == id) else {
        return Err(not_found(format!("No inventory of class {rc} for {uuid}")));
    };
    let mut body = serialize_inventory(inv);
    body["resource_provider_generation"] = json!(rp.generation);
    Ok(json_response(mv, StatusCode::OK, body, Some(&inv.updated_at)))
}

pub async fn create(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    require_json(&headers)?;
    p.enforce(&ctx, pol::INVENTORY_CREATE, &default_target(&ctx))?;
    let rp = provider_or_404(&p, &uuid).await?;
    let data = json_body(&headers, &body, &post_schema())?;
    let rc_name = data["resource_class"].as_str().unwrap_or_default().to_string();
    let Some(rc) = p.class_id(&rc_name).await? else {
        return Err(bad(format!(
            "Unable to create inventory for resource provider {uuid}: No such resource class {rc_name}."
        )));
    };
    let inv = inventory_from(rc, data.as_object().expect("object"));
    check_capacity(&p, mv, &uuid, std::slice::from_ref(&inv), "create")?;
    let current = crate::db::inventories_ro(&p.db, rp.id).await.map_err(crate::core::db_err)?;
    if current.iter().any(|i| i.resource_class_id == rc) {
        return Err(conflict(format!(
            "Update conflict: Inventory for '{rc_name}' on resource provider '{uuid}' already exists."
        ))
        .with_code(CONCURRENT_UPDATE));
    }
    let (rp, invs) = p.change_inventories(&uuid, Some(rp.generation), InventoryChange::Upsert(inv)).await.map_err(|e| {
        if e.status == StatusCode::CONFLICT {
            conflict("Update conflict: Another thread concurrently updated the resource provider data. Please retry your update")
                .with_code(CONCURRENT_UPDATE)
        } else {
            e
        }
    })?;
    let inv = invs.iter().find(|i| i.resource_class_id == rc).expect("written");
    let mut body = serialize_inventory(inv);
    body["resource_provider_generation"] = json!(rp.generation);
    let mut resp = json_response(mv, StatusCode::CREATED, body, Some(&inv.updated_at));
    set_location(&mut resp, &headers, &format!("/resource_providers/{uuid}/inventories/{rc_name}"));
    Ok(resp)
}

pub async fn set_all(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    require_json(&headers)?;
    p.enforce(&ctx, pol::INVENTORY_UPDATE, &default_target(&ctx))?;
    let rp = provider_or_404(&p, &uuid).await?;
    let data = json_body(&headers, &body, &put_all_schema())?;
    let generation = data["resource_provider_generation"].as_i64().unwrap_or(-1);
    if generation != rp.generation {
        return Err(conflict("resource provider generation conflict").with_code(CONCURRENT_UPDATE));
    }
    let mut invs = Vec::new();
    for (name, raw) in data["inventories"].as_object().expect("object") {
        let Some(rc) = p.class_id(name).await? else {
            return Err(bad(format!(
                "Unknown resource class in inventory for resource provider {uuid}: No such resource class {name}."
            )));
        };
        invs.push(inventory_from(rc, raw.as_object().expect("object")));
    }
    check_capacity(&p, mv, &uuid, &invs, "update")?;
    let (rp, invs) =
        p.change_inventories(&uuid, Some(generation), InventoryChange::ReplaceAll(invs)).await.map_err(|e| {
            if e.code == Some(crate::core::INVENTORY_INUSE) {
                conflict(format!("update conflict: {}", strip(&e.message))).with_code(crate::core::INVENTORY_INUSE)
            } else {
                e
            }
        })?;
    Ok(send_inventories(&p, mv, rp.generation, &invs))
}

/// The detail of a Placement error message, without webob's wording.
fn strip(message: &str) -> String {
    message.split("\n\n ").nth(1).unwrap_or(message).trim_end().to_string()
}

pub async fn update(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path((uuid, rc_name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    require_json(&headers)?;
    p.enforce(&ctx, pol::INVENTORY_UPDATE, &default_target(&ctx))?;
    let rp = provider_or_404(&p, &uuid).await?;
    let data = json_body(&headers, &body, &record_schema(true))?;
    let generation = data["resource_provider_generation"].as_i64().unwrap_or(-1);
    if generation != rp.generation {
        return Err(conflict("resource provider generation conflict").with_code(CONCURRENT_UPDATE));
    }
    let Some(rc) = p.class_id(&rc_name).await? else {
        return Err(not_found(format!("No such resource class {rc_name}.")));
    };
    let inv = inventory_from(rc, data.as_object().expect("object"));
    check_capacity(&p, mv, &uuid, std::slice::from_ref(&inv), "update")?;
    let current = crate::db::inventories_ro(&p.db, rp.id).await.map_err(crate::core::db_err)?;
    if !current.iter().any(|i| i.resource_class_id == rc) {
        return Err(bad(format!(
            "No inventory record with resource class for resource provider {uuid}: No inventory of class {rc_name} found."
        )));
    }
    let (rp, invs) = p.change_inventories(&uuid, Some(generation), InventoryChange::Upsert(inv)).await?;
    let inv = invs.iter().find(|i| i.resource_class_id == rc).expect("written");
    let mut body = serialize_inventory(inv);
    body["resource_provider_generation"] = json!(rp.generation);
    Ok(json_response(mv, StatusCode::OK, body, Some(&inv.updated_at)))
}

pub async fn delete(
    State(p): P,
    Auth(ctx): Auth,
    Path((uuid, rc_name)): Path<(String, String)>,
) -> ApiResult<Response> {
    p.enforce(&ctx, pol::INVENTORY_DELETE, &default_target(&ctx))?;
    provider_or_404(&p, &uuid).await?;
    let Some(rc) = p.class_id(&rc_name).await? else {
        return Err(not_found(format!("No such resource class {rc_name}.")));
    };
    p.change_inventories(&uuid, None, InventoryChange::Delete(rc)).await.map_err(|e| {
        if e.status == StatusCode::CONFLICT {
            conflict(format!("Unable to delete inventory of class {rc_name}: {}", strip(&e.message)))
                .with_code(CONCURRENT_UPDATE)
        } else {
            e
        }
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn delete_all(State(p): P, Auth(ctx): Auth, mv: Mv, Path(uuid): Path<String>) -> ApiResult<Response> {
    if !mv.at(5) {
        return Err(crate::core::perr(StatusCode::METHOD_NOT_ALLOWED, ""));
    }
    p.enforce(&ctx, pol::INVENTORY_DELETE, &default_target(&ctx))?;
    provider_or_404(&p, &uuid).await?;
    p.change_inventories(&uuid, None, InventoryChange::ReplaceAll(Vec::new())).await.map_err(|e| {
        if e.code == Some(crate::core::INVENTORY_INUSE) {
            conflict(strip(&e.message)).with_code(crate::core::INVENTORY_INUSE)
        } else if e.status == StatusCode::CONFLICT {
            conflict(format!(
                "Unable to delete inventory for resource provider {uuid} because the inventory was updated by another process. Please retry your request."
            ))
            .with_code(CONCURRENT_UPDATE)
        } else {
            e
        }
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}
