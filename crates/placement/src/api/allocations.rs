//! `/allocations/{consumer}`, `POST /allocations` (1.13),
//! `/resource_providers/{uuid}/allocations` and `POST /reshaper` (1.30).

use std::collections::BTreeMap;

use api_core::{ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::*;
use crate::core::{bad, db_err, not_found, ConsumerAllocations, ProviderAllocation, ReshapeInventories};
use crate::policies::names as pol;

const UUID_PATTERN: &str = "^[0-9a-fA-F-]{36}$";
const RC_PATTERN: &str = "^[A-Z0-9_]+$";

fn resources_schema() -> Value {
    json!({"type": "object", "minProperties": 1,
        "patternProperties": {RC_PATTERN: {"type": "integer", "minimum": 1}}, "additionalProperties": false})
}

fn id_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 255})
}

/// PUT /allocations/{consumer} body for the microversion.
fn put_schema(mv: Mv) -> Value {
    if !mv.at(12) {
        let mut s = json!({"type": "object", "properties": {"allocations": {"type": "array", "minItems": 1, "items": {
            "type": "object", "properties": {
                "resource_provider": {"type": "object", "properties": {"uuid": {"type": "string", "format": "uuid"}},
                    "additionalProperties": false, "required": ["uuid"]},
                "resources": resources_schema()},
            "required": ["resource_provider", "resources"], "additionalProperties": false}}},
            "required": ["allocations"], "additionalProperties": false});
        if mv.at(8) {
            s["properties"]["project_id"] = id_schema();
            s["properties"]["user_id"] = id_schema();
            s["required"] = json!(["allocations", "project_id", "user_id"]);
        }
        return s;
    }
    let min_props = if mv.at(28) { 0 } else { 1 };
    consumer_schema(mv, min_props)
}

/// One consumer's allocations in the 1.12+ dict form.
fn consumer_schema(mv: Mv, min_props: u64) -> Value {
    let mut s = json!({"type": "object", "properties": {
        "allocations": {"type": "object", "minProperties": min_props, "patternProperties": {UUID_PATTERN: {
            "type": "object", "properties": {"generation": {"type": "integer"}, "resources": resources_schema()},
            "required": ["resources"], "additionalProperties": false}}, "additionalProperties": false},
        "project_id": id_schema(), "user_id": id_schema()},
        "additionalProperties": false, "required": ["allocations", "project_id", "user_id"]});
    if mv.at(28) {
        s["properties"]["consumer_generation"] = json!({"type": ["integer", "null"], "additionalProperties": false});
        s["required"].as_array_mut().expect("array").push(json!("consumer_generation"));
    }
    if mv.at(34) {
        s["properties"]["mappings"] = json!({"type": "object", "minProperties": 1, "patternProperties": {
            "[a-zA-Z0-9_-]{1,64}": {"type": "array", "minItems": 1, "items": {"type": "string", "format": "uuid"}}}});
    }
    if mv.at(38) {
        s["properties"]["consumer_type"] =
            json!({"type": "string", "pattern": RC_PATTERN, "minLength": 1, "maxLength": 255});
        s["required"].as_array_mut().expect("array").push(json!("consumer_type"));
    }
    s
}

fn post_schema(mv: Mv, min_props: u64) -> Value {
    json!({"type": "object", "minProperties": min_props, "additionalProperties": false,
        "patternProperties": {UUID_PATTERN: consumer_schema(mv, 0)}})
}

fn consumer_write(consumer: &str, d: &Value, mv: Mv) -> ConsumerAllocations {
    let allocations: Vec<ProviderAllocation> = match &d["allocations"] {
        Value::Array(list) => list
            .iter()
            .map(|a| ProviderAllocation {
                provider_uuid: crate::core::normalize_uuid(a["resource_provider"]["uuid"].as_str().unwrap_or_default()),
                resources: resources(&a["resources"]),
            })
            .collect(),
        Value::Object(m) => m
            .iter()
            .map(|(rp, a)| ProviderAllocation {
                provider_uuid: crate::core::normalize_uuid(rp),
                resources: resources(&a["resources"]),
            })
            .collect(),
        _ => Vec::new(),
    };
    ConsumerAllocations {
        consumer_uuid: consumer.to_string(),
        project_id: d.get("project_id").and_then(Value::as_str).map(String::from),
        user_id: d.get("user_id").and_then(Value::as_str).map(String::from),
        consumer_generation: if mv.at(28) { Some(d.get("consumer_generation").and_then(Value::as_i64)) } else { None },
        consumer_type: if mv.at(38) { d.get("consumer_type").and_then(Value::as_str).map(String::from) } else { None },
        allocations,
    }
}

fn resources(v: &Value) -> Vec<(String, i64)> {
    v.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0))).collect()).unwrap_or_default()
}

fn check_consumer_uuid(consumer: &str) -> ApiResult<String> {
    if !api_core::schema::is_uuid_like(consumer) {
        return Err(bad(format!("Malformed consumer_uuid: {consumer}")));
    }
    Ok(crate::core::normalize_uuid(consumer))
}

pub async fn put(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(consumer): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    require_json(&headers)?;
    p.enforce(&ctx, pol::ALLOC_UPDATE, &default_target(&ctx))?;
    let consumer = check_consumer_uuid(&consumer)?;
    let data = json_body(&headers, &body, &put_schema(mv))?;
    let write = consumer_write(&consumer, &data, mv);
    p.set_allocations(std::slice::from_ref(&write), None).await.map_err(|e| rewrap(e, &consumer))?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Placement words "no such class" in allocations as a 400 about the consumer.
fn rewrap(e: api_core::ApiError, _consumer: &str) -> api_core::ApiError {
    e
}

pub async fn post_many(State(p): P, Auth(ctx): Auth, mv: Mv, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    mv.require(13)?;
    require_json(&headers)?;
    p.enforce(&ctx, pol::ALLOC_MANAGE, &default_target(&ctx))?;
    let data = json_body(&headers, &body, &post_schema(mv, 1))?;
    let mut writes = Vec::new();
    for (consumer, d) in data.as_object().expect("object") {
        writes.push(consumer_write(&crate::core::normalize_uuid(consumer), d, mv));
    }
    p.set_allocations(&writes, None).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn for_consumer(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(consumer): Path<String>,
) -> ApiResult<Response> {
    check_accept(&headers)?;
    p.enforce(&ctx, pol::ALLOC_LIST, &default_target(&ctx))?;
    let mut conn = p.db.reader().acquire().await.map_err(|e| db_err(db::DbError::from_sqlx(e)))?;
    let allocs = crate::db::consumer_allocations(&mut conn, &consumer).await.map_err(db_err)?;
    p.know_classes(allocs.iter().map(|a| a.resource_class_id)).await?;
    let mut by_rp: BTreeMap<String, (i64, Map<String, Value>)> = BTreeMap::new();
    for a in &allocs {
        let e = by_rp.entry(a.resource_provider_uuid.clone()).or_insert((a.resource_provider_generation, Map::new()));
        e.1.insert(p.class_name(a.resource_class_id), json!(a.used));
    }
    let allocations: Map<String, Value> = by_rp
        .into_iter()
        .map(|(rp, (generation, res))| (rp, json!({"generation": generation, "resources": res})))
        .collect();
    let mut body = json!({"allocations": allocations});
    if !allocs.is_empty() && mv.at(12) {
        if let Some(c) = crate::db::get_consumer(&mut conn, &consumer).await.map_err(db_err)? {
            body["project_id"] = json!(c.project_id);
            body["user_id"] = json!(c.user_id);
            if mv.at(28) {
                body["consumer_generation"] = json!(c.generation);
            }
            if mv.at(38) {
                let name = match c.consumer_type_id {
                    Some(id) => crate::db::consumer_type_name(&mut conn, id).await.map_err(db_err)?,
                    None => None,
                };
                body["consumer_type"] = json!(name.unwrap_or_else(|| "unknown".into()));
            }
        }
    }
    let last = allocs.iter().map(|a| a.updated_at.clone()).max();
    Ok(json_response(mv, StatusCode::OK, body, last.as_deref()))
}

pub async fn delete(State(p): P, Auth(ctx): Auth, Path(consumer): Path<String>) -> ApiResult<Response> {
    p.enforce(&ctx, pol::ALLOC_DELETE, &default_target(&ctx))?;
    if !p.delete_allocations(&consumer).await? {
        return Err(not_found(format!("No allocations for consumer '{consumer}'")));
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn for_provider(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> ApiResult<Response> {
    check_accept(&headers)?;
    p.enforce(&ctx, pol::RP_ALLOC_LIST, &default_target(&ctx))?;
    let rp = p.get_provider(&uuid).await?.ok_or_else(|| {
        not_found(format!("Resource provider '{uuid}' not found: No resource provider with uuid {uuid} found"))
    })?;
    let allocs = crate::db::provider_allocations(&p.db, rp.id).await.map_err(db_err)?;
    p.know_classes(allocs.iter().map(|a| a.resource_class_id)).await?;
    let mut by_consumer: BTreeMap<String, Value> = BTreeMap::new();
    for a in &allocs {
        let e = by_consumer.entry(a.consumer_uuid.clone()).or_insert_with(|| json!({"resources": {}}));
        e["resources"][p.class_name(a.resource_class_id)] = json!(a.used);
        if mv.at(28) {
            e["consumer_generation"] = json!(a.consumer_generation);
        }
    }
    let last = allocs.iter().map(|a| a.updated_at.clone()).max();
    Ok(json_response(
        mv,
        StatusCode::OK,
        json!({"allocations": by_consumer, "resource_provider_generation": rp.generation}),
        last.as_deref(),
    ))
}

pub async fn reshape(State(p): P, Auth(ctx): Auth, mv: Mv, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    mv.require(30)?;
    require_json(&headers)?;
    p.enforce(&ctx, pol::RESHAPE, &default_target(&ctx))?;
    let mut alloc_mv = mv;
    if !mv.at(34) {
        alloc_mv = Mv(api_core::microversion::Version::new(1, 28));
    }
    let schema = json!({"type": "object", "properties": {
        "inventories": {"type": "object", "patternProperties": {UUID_PATTERN: super::inventories::put_all_schema()},
            "minProperties": 1, "additionalProperties": false},
        "allocations": post_schema(alloc_mv, 0)},
        "required": ["inventories", "allocations"], "additionalProperties": false});
    let data = json_body(&headers, &body, &schema)?;
    let mut providers = Vec::new();
    for (rp_uuid, d) in data["inventories"].as_object().expect("object") {
        let rp_uuid = crate::core::normalize_uuid(rp_uuid);
        let generation = d["resource_provider_generation"].as_i64().unwrap_or(-1);
        let mut invs = Vec::new();
        for (name, raw) in d["inventories"].as_object().expect("object") {
            let Some(rc) = p.class_id(name).await? else {
                return Err(bad(format!("malformed reshaper data: No such resource class {name}.")));
            };
            invs.push(super::inventories::inventory_from(rc, raw.as_object().expect("object")));
        }
        providers.push((rp_uuid, generation, invs));
    }
    let mut writes = Vec::new();
    for (consumer, d) in data["allocations"].as_object().expect("object") {
        writes.push(consumer_write(&crate::core::normalize_uuid(consumer), d, alloc_mv));
    }
    p.set_allocations(&writes, Some(ReshapeInventories { providers })).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
