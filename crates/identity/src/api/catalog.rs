//! The service catalog: regions, services and endpoints.

use std::collections::HashMap;
use std::sync::Arc;

use api_core::{ApiError, ApiResult, Auth, Json};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::input::*;
use super::{filter_list, list_body};
use crate::core::{db_err, not_found, sql_err, Identity};
use crate::db as q;
use crate::model::*;

type S = State<Arc<Identity>>;
type Params = Query<HashMap<String, String>>;

const INTERFACES: &[&str] = &["public", "internal", "admin"];

// ---------- regions ----------

async fn region(id: &Identity, rid: &str) -> ApiResult<Region> {
    q::list_regions(&id.db)
        .await
        .map_err(db_err)?
        .into_iter()
        .find(|r| r.id == rid)
        .ok_or_else(|| not_found("region", rid))
}

pub async fn list_regions(State(id): S, auth: Auth, Query(qs): Params) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:list_regions", &json!({}))?;
    let items = q::list_regions(&id.db).await.map_err(db_err)?.iter().map(|r| r.to_json(&id.base_url)).collect();
    Ok(list_body(&id, "regions", "regions", filter_list(items, &qs, &["parent_region_id"])?))
}

pub async fn get_region(State(id): S, auth: Auth, Path(rid): Path<String>) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:get_region", &json!({}))?;
    Ok(Json(json!({"region": region(&id, &rid).await?.to_json(&id.base_url)})))
}

async fn create_region_with_id(
    id: &Identity,
    auth: &Auth,
    body: &Value,
    explicit: Option<String>,
) -> ApiResult<Response> {
    id.enforce(auth, "identity:create_region", &json!({}))?;
    let o = object(body, "region")?;
    let rid = match (explicit, opt_string(o, "id", 255)?) {
        (Some(p), Some(b)) if p != b => {
            return Err(ApiError::bad_request("Conflicting region IDs specified: the path and the body differ."))
        }
        (Some(p), _) => p,
        (None, Some(b)) => b,
        (None, None) => new_id(),
    };
    let parent = nullable_id(o, "parent_region_id")?.flatten();
    if let Some(p) = &parent {
        region(id, p).await.map_err(|_| ApiError::bad_request(format!("Could not find region: {p}.")))?;
    }
    let r = Region {
        id: rid.clone(),
        description: opt_string(o, "description", 255)?.unwrap_or_default(),
        parent_region_id: parent,
        extra: extras(o, &["id", "description", "parent_region_id", "links"]),
    };
    q::insert_region(id.db.writer(), &r).await.map_err(|e| match e {
        db::DbError::Conflict => {
            ApiError::conflict(format!("Conflict occurred attempting to store region - Duplicate ID, {rid}."))
        }
        e => db_err(e),
    })?;
    Ok((StatusCode::CREATED, Json(json!({"region": r.to_json(&id.base_url)}))).into_response())
}

pub async fn create_region(State(id): S, auth: Auth, Json(body): Json<Value>) -> ApiResult<Response> {
    create_region_with_id(&id, &auth, &body, None).await
}

pub async fn put_region(
    State(id): S,
    auth: Auth,
    Path(rid): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    create_region_with_id(&id, &auth, &body, Some(rid)).await
}

pub async fn update_region(
    State(id): S,
    auth: Auth,
    Path(rid): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:update_region", &json!({}))?;
    let o = object(&body, "region")?;
    let mut r = region(&id, &rid).await?;
    if let Some(d) = opt_string(o, "description", 255)? {
        r.description = d;
    }
    if let Some(p) = nullable_id(o, "parent_region_id")? {
        if let Some(pid) = &p {
            if *pid == r.id {
                return Err(ApiError::bad_request("A region cannot be its own parent."));
            }
            region(&id, pid).await.map_err(|_| ApiError::bad_request(format!("Could not find region: {pid}.")))?;
        }
        r.parent_region_id = p;
    }
    for (k, v) in extras(o, &["id", "description", "parent_region_id", "links"]) {
        r.extra.insert(k, v);
    }
    q::update_region(id.db.writer(), &r).await.map_err(db_err)?;
    id.changed().await?;
    Ok(Json(json!({"region": r.to_json(&id.base_url)})))
}

pub async fn delete_region(State(id): S, auth: Auth, Path(rid): Path<String>) -> ApiResult<StatusCode> {
    id.enforce(&auth, "identity:delete_region", &json!({}))?;
    region(&id, &rid).await?;
    if q::list_regions(&id.db)
        .await
        .map_err(db_err)?
        .iter()
        .any(|r| r.parent_region_id.as_deref() == Some(rid.as_str()))
        || q::list_endpoints(&id.db).await.map_err(db_err)?.iter().any(|e| e.region_id.as_deref() == Some(rid.as_str()))
    {
        return Err(ApiError::forbidden(format!(
            "Unable to delete region {rid} because it or its child regions have associated endpoints."
        )));
    }
    q::delete_region(id.db.writer(), &rid).await.map_err(db_err)?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------- services ----------

async fn service(id: &Identity, sid: &str) -> ApiResult<Service> {
    q::list_services(&id.db)
        .await
        .map_err(db_err)?
        .into_iter()
        .find(|s| s.id == sid)
        .ok_or_else(|| not_found("service", sid))
}

pub async fn list_services(State(id): S, auth: Auth, Query(qs): Params) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:list_services", &json!({}))?;
    let items = q::list_services(&id.db).await.map_err(db_err)?.iter().map(|s| s.to_json(&id.base_url)).collect();
    Ok(list_body(&id, "services", "services", filter_list(items, &qs, &["type", "name"])?))
}

pub async fn get_service(State(id): S, auth: Auth, Path(sid): Path<String>) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:get_service", &json!({}))?;
    Ok(Json(json!({"service": service(&id, &sid).await?.to_json(&id.base_url)})))
}

pub async fn create_service(State(id): S, auth: Auth, Json(body): Json<Value>) -> ApiResult<Response> {
    id.enforce(&auth, "identity:create_service", &json!({}))?;
    let o = object(&body, "service")?;
    let s = Service {
        id: new_id(),
        service_type: name(o, "type", 255)?,
        enabled: opt_bool(o, "enabled")?.unwrap_or(true),
        extra: {
            opt_string(o, "name", 255)?;
            opt_string(o, "description", 65535)?;
            extras(o, &["id", "type", "enabled", "links"])
        },
    };
    q::insert_service(id.db.writer(), &s).await.map_err(db_err)?;
    id.changed().await?;
    Ok((StatusCode::CREATED, Json(json!({"service": s.to_json(&id.base_url)}))).into_response())
}

pub async fn update_service(
    State(id): S,
    auth: Auth,
    Path(sid): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:update_service", &json!({}))?;
    let o = object(&body, "service")?;
    let mut s = service(&id, &sid).await?;
    if let Some(t) = opt_name(o, "type", 255)? {
        s.service_type = t;
    }
    if let Some(e) = opt_bool(o, "enabled")? {
        s.enabled = e;
    }
    opt_string(o, "name", 255)?;
    for (k, v) in extras(o, &["id", "type", "enabled", "links"]) {
        s.extra.insert(k, v);
    }
    q::update_service(id.db.writer(), &s).await.map_err(db_err)?;
    id.changed().await?;
    Ok(Json(json!({"service": s.to_json(&id.base_url)})))
}

pub async fn delete_service(State(id): S, auth: Auth, Path(sid): Path<String>) -> ApiResult<StatusCode> {
    id.enforce(&auth, "identity:delete_service", &json!({}))?;
    service(&id, &sid).await?;
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::delete_service(&mut tx, &sid).await.map_err(db_err)?;
    tx.commit().await.map_err(sql_err)?;
    id.changed().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------- endpoints ----------

async fn endpoint(id: &Identity, eid: &str) -> ApiResult<Endpoint> {
    q::list_endpoints(&id.db)
        .await
        .map_err(db_err)?
        .into_iter()
        .find(|e| e.id == eid)
        .ok_or_else(|| not_found("endpoint", eid))
}

fn check_url(u: &str) -> ApiResult<()> {
    if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() < 9 {
        return Err(invalid("url", format!("'{u}' is not a valid URL (http:// or https://)")));
    }
    Ok(())
}

pub async fn list_endpoints(State(id): S, auth: Auth, Query(qs): Params) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:list_endpoints", &json!({}))?;
    if let Some(i) = qs.get("interface") {
        if !INTERFACES.contains(&i.as_str()) {
            return Err(invalid("interface", format!("'{i}' is not one of public, internal, admin")));
        }
    }
    let items = q::list_endpoints(&id.db).await.map_err(db_err)?.iter().map(|e| e.to_json(&id.base_url)).collect();
    let mut qs = qs;
    if let Some(r) = qs.remove("region_id") {
        qs.insert("region_id".into(), r);
    }
    Ok(list_body(&id, "endpoints", "endpoints", filter_list(items, &qs, &["interface", "service_id", "region_id"])?))
}

pub async fn get_endpoint(State(id): S, auth: Auth, Path(eid): Path<String>) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:get_endpoint", &json!({}))?;
    Ok(Json(json!({"endpoint": endpoint(&id, &eid).await?.to_json(&id.base_url)})))
}

async fn endpoint_fields(id: &Identity, o: &serde_json::Map<String, Value>, e: &mut Endpoint) -> ApiResult<()> {
    if let Some(i) = opt_string(o, "interface", 16)? {
        if !INTERFACES.contains(&i.as_str()) {
            return Err(invalid("interface", format!("'{i}' is not one of public, internal, admin")));
        }
        e.interface = i;
    }
    if let Some(u) = opt_string(o, "url", 1024)? {
        check_url(&u)?;
        e.url = u;
    }
    if let Some(s) = opt_id(o, "service_id")? {
        service(id, &s).await.map_err(|_| ApiError::bad_request(format!("Could not find service: {s}.")))?;
        e.service_id = s;
    }
    let region_id = match nullable_id(o, "region_id")? {
        Some(r) => Some(r),
        None => nullable_id(o, "region")?,
    };
    if let Some(r) = region_id {
        if let Some(rid) = &r {
            region(id, rid).await.map_err(|_| ApiError::bad_request(format!("Could not find region: {rid}.")))?;
        }
        e.region_id = r;
    }
    if let Some(en) = opt_bool(o, "enabled")? {
        e.enabled = en;
    }
    for (k, v) in extras(o, &["id", "interface", "url", "service_id", "region_id", "region", "enabled", "links"]) {
        e.extra.insert(k, v);
    }
    Ok(())
}

pub async fn create_endpoint(State(id): S, auth: Auth, Json(body): Json<Value>) -> ApiResult<Response> {
    id.enforce(&auth, "identity:create_endpoint", &json!({}))?;
    let o = object(&body, "endpoint")?;
    for f in ["interface", "url", "service_id"] {
        if !o.contains_key(f) {
            return Err(ApiError::bad_request(format!("Invalid input for field '/': '{f}' is a required property")));
        }
    }
    let mut e = Endpoint {
        id: new_id(),
        interface: String::new(),
        service_id: String::new(),
        url: String::new(),
        region_id: None,
        enabled: true,
        extra: Default::default(),
    };
    endpoint_fields(&id, o, &mut e).await?;
    q::insert_endpoint(id.db.writer(), &e).await.map_err(db_err)?;
    id.changed().await?;
    Ok((StatusCode::CREATED, Json(json!({"endpoint": e.to_json(&id.base_url)}))).into_response())
}

pub async fn update_endpoint(
    State(id): S,
    auth: Auth,
    Path(eid): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:update_endpoint", &json!({}))?;
    let o = object(&body, "endpoint")?;
    let mut e = endpoint(&id, &eid).await?;
    endpoint_fields(&id, o, &mut e).await?;
    q::update_endpoint(id.db.writer(), &e).await.map_err(db_err)?;
    id.changed().await?;
    Ok(Json(json!({"endpoint": e.to_json(&id.base_url)})))
}

pub async fn delete_endpoint(State(id): S, auth: Auth, Path(eid): Path<String>) -> ApiResult<StatusCode> {
    id.enforce(&auth, "identity:delete_endpoint", &json!({}))?;
    endpoint(&id, &eid).await?;
    q::delete_endpoint(id.db.writer(), &eid).await.map_err(db_err)?;
    id.changed().await?;
    Ok(StatusCode::NO_CONTENT)
}
