//! `/resource_providers` and `/resource_providers/{uuid}`.

use api_core::{ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::*;
use crate::candidates::Snapshot;
use crate::core::{bad, normalize_uuid, not_found};
use crate::model::ProviderRow;
use crate::policies::names as pol;

fn links(uuid: &str, mv: Mv) -> Value {
    let url = format!("/placement/resource_providers/{uuid}");
    let mut rels = vec!["inventories", "usages"];
    if mv.at(1) {
        rels.push("aggregates");
    }
    if mv.at(6) {
        rels.push("traits");
    }
    if mv.at(11) {
        rels.push("allocations");
    }
    let mut out = vec![json!({"rel": "self", "href": url})];
    out.extend(rels.iter().map(|r| json!({"rel": r, "href": format!("{url}/{r}")})));
    Value::Array(out)
}

fn serialize(uuid: &str, name: &str, generation: i64, parent: Option<&str>, root: &str, mv: Mv) -> Value {
    let mut v = json!({"uuid": uuid, "name": name, "generation": generation, "links": links(uuid, mv)});
    if mv.at(14) {
        v["parent_provider_uuid"] = json!(parent);
        v["root_provider_uuid"] = json!(root);
    }
    v
}

pub fn serialize_row(r: &ProviderRow, mv: Mv) -> Value {
    serialize(&r.uuid, &r.name, r.generation, r.parent_uuid.as_deref(), &r.root_uuid, mv)
}

fn post_schema(mv: Mv, with_uuid: bool) -> Value {
    let mut s = json!({"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 200},
        "uuid": {"type": "string", "format": "uuid"}},
        "required": ["name"], "additionalProperties": false});
    if mv.at(14) {
        s["properties"]["parent_provider_uuid"] =
            json!({"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]});
    }
    if !with_uuid {
        s["properties"].as_object_mut().expect("object").remove("uuid");
    }
    s
}

pub async fn create(State(p): P, Auth(ctx): Auth, mv: Mv, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    require_json(&headers)?;
    p.enforce(&ctx, pol::RP_CREATE, &default_target(&ctx))?;
    let data = json_body(&headers, &body, &post_schema(mv, true))?;
    let uuid = match data.get("uuid").and_then(Value::as_str) {
        Some(u) => normalize_uuid(u),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let name = data["name"].as_str().unwrap_or_default();
    let parent = data.get("parent_provider_uuid").and_then(Value::as_str).map(normalize_uuid);
    let row = p.create_provider(&uuid, name, parent.as_deref()).await?;
    let mut resp = if mv.at(20) {
        json_response(mv, StatusCode::OK, serialize_row(&row, mv), Some(&row.updated_at))
    } else {
        empty(StatusCode::CREATED)
    };
    set_location(&mut resp, &headers, &format!("/resource_providers/{uuid}"));
    Ok(resp)
}

pub async fn show(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> ApiResult<Response> {
    check_accept(&headers)?;
    p.enforce(&ctx, pol::RP_SHOW, &default_target(&ctx))?;
    let row = p
        .get_provider(&uuid)
        .await?
        .ok_or_else(|| not_found(format!("No resource provider with uuid {uuid} found")))?;
    Ok(json_response(mv, StatusCode::OK, serialize_row(&row, mv), Some(&row.updated_at)))
}

pub async fn update(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    require_json(&headers)?;
    p.enforce(&ctx, pol::RP_UPDATE, &default_target(&ctx))?;
    if p.get_provider(&uuid).await?.is_none() {
        return Err(not_found(format!("No resource provider with uuid {uuid} found")));
    }
    let data = json_body(&headers, &body, &post_schema(mv, false))?;
    let parent: Option<Option<String>> = match data.get("parent_provider_uuid") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => Some(v.as_str().map(normalize_uuid)),
    };
    let row = p.update_provider(&uuid, data["name"].as_str(), parent.as_ref().map(|o| o.as_deref()), mv.at(37)).await?;
    Ok(json_response(mv, StatusCode::OK, serialize_row(&row, mv), Some(&row.updated_at)))
}

pub async fn delete(State(p): P, Auth(ctx): Auth, Path(uuid): Path<String>) -> ApiResult<Response> {
    p.enforce(&ctx, pol::RP_DELETE, &default_target(&ctx))?;
    p.delete_provider(&uuid).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn list_schema(mv: Mv) -> Value {
    let mut s = json!({"type": "object", "properties": {
        "name": {"type": "string"}, "uuid": {"type": "string", "format": "uuid"}},
        "additionalProperties": false});
    let props = s["properties"].as_object_mut().expect("object");
    if mv.at(3) {
        props.insert("member_of".into(), json!({"type": "string"}));
    }
    if mv.at(4) {
        props.insert("resources".into(), json!({"type": "string"}));
    }
    if mv.at(14) {
        props.insert("in_tree".into(), json!({"type": "string", "format": "uuid"}));
    }
    if mv.at(18) {
        props.insert("required".into(), json!({"type": "string"}));
    }
    s
}

pub async fn list(State(p): P, Auth(ctx): Auth, mv: Mv, headers: HeaderMap, q: Query) -> ApiResult<Response> {
    check_accept(&headers)?;
    p.enforce(&ctx, pol::RP_LIST, &default_target(&ctx))?;
    q.validate(&list_schema(mv))?;
    let (member_of, forbidden_aggs) =
        if q.has("member_of") { parse_member_of(&q.all("member_of"), mv, "")? } else { Default::default() };
    let (required, forbidden) =
        if q.has("required") { parse_required(&q.all("required"), mv)? } else { Default::default() };
    let mut resources: Vec<(i64, i64)> = Vec::new();
    if let Some(r) = q.get("resources") {
        for (name, amount) in parse_resources(r)? {
            let Some(id) = p.class_id(&name).await? else {
                return Err(bad(format!(
                    "Invalid resource class in resources parameter: No such resource class {name}."
                )));
            };
            resources.push((id, amount));
        }
    }
    let mut req_ids: Vec<Vec<i64>> = Vec::new();
    let mut forb_ids: Vec<i64> = Vec::new();
    {
        let mut all: Vec<String> = required.iter().flatten().cloned().collect();
        all.extend(forbidden.iter().cloned());
        all.sort();
        all.dedup();
        if let Err(missing) = resolve_traits(&p, &all).await? {
            return Err(bad(format!("Invalid trait(s) in \"required\" parameter: No such trait(s): {missing}.")));
        }
        for any in &required {
            req_ids.push(p.trait_ids(any).await?.unwrap_or_default());
        }
        forb_ids = p.trait_ids(&forbidden).await?.unwrap_or(forb_ids);
    }
    let snap = p.snapshot().await?;
    let uuid_filter = q.get("uuid").map(normalize_uuid);
    let name_filter = q.get("name");
    let in_tree_root: Option<Option<usize>> =
        q.get("in_tree").map(|t| snap.by_uuid.get(&normalize_uuid(t)).map(|i| snap.providers[*i].root));
    let mut out = Vec::new();
    for (i, rp) in snap.providers.iter().enumerate() {
        if uuid_filter.as_deref().is_some_and(|u| u != rp.uuid) || name_filter.is_some_and(|n| n != rp.name) {
            continue;
        }
        if let Some(root) = in_tree_root {
            if root != Some(rp.root) {
                continue;
            }
        }
        if !member_of.iter().all(|any| any.iter().any(|a| rp.aggregates.binary_search(a).is_ok())) {
            continue;
        }
        if forbidden_aggs.iter().any(|a| rp.aggregates.binary_search(a).is_ok()) {
            continue;
        }
        if !req_ids.iter().all(|any| any.iter().any(|t| rp.traits.binary_search(t).is_ok())) {
            continue;
        }
        if forb_ids.iter().any(|t| rp.traits.binary_search(t).is_ok()) {
            continue;
        }
        if !resources.iter().all(|(rc, amount)| has_capacity(&snap, i, *rc, *amount)) {
            continue;
        }
        out.push(provider_json(&snap, i, mv));
    }
    Ok(json_response(mv, StatusCode::OK, json!({"resource_providers": out}), None))
}

fn has_capacity(snap: &Snapshot, i: usize, rc: i64, amount: i64) -> bool {
    snap.providers[i].inventories.iter().any(|inv| {
        inv.resource_class == rc
            && inv.used.checked_add(amount).is_some_and(|n| n <= inv.capacity())
            && amount >= inv.min_unit
            && amount <= inv.max_unit
            && amount % inv.step_size == 0
    })
}

fn provider_json(snap: &Snapshot, i: usize, mv: Mv) -> Value {
    let rp = &snap.providers[i];
    let parent = rp.parent.map(|p| snap.providers[p].uuid.as_str());
    serialize(&rp.uuid, &rp.name, rp.generation, parent, &snap.providers[rp.root].uuid, mv)
}
