//! Application credentials and their access rules, credentials (ec2/totp
//! blobs), and unified limits (registered limits and project limits).

use std::collections::HashMap;
use std::sync::Arc;

use api_core::{ApiError, ApiResult, Auth, Json};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Value};

use super::input::*;
use super::{filter_list, list_body};
use crate::core::{db_err, not_found, sql_err, Identity};
use crate::db as q;
use crate::model::*;

type S = State<Arc<Identity>>;
type Params = Query<HashMap<String, String>>;

fn owner_target(uid: &str) -> Value {
    json!({"user_id": uid, "target": {"user": {"id": uid}}})
}

// ---------- application credentials ----------

pub async fn list(State(id): S, auth: Auth, Path(uid): Path<String>, Query(qs): Params) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:list_application_credentials", &owner_target(&uid))?;
    let items =
        q::list_app_creds(&id.db, &uid).await.map_err(db_err)?.iter().map(|a| a.to_json(&id.base_url)).collect();
    Ok(list_body(
        &id,
        "application_credentials",
        &format!("users/{uid}/application_credentials"),
        filter_list(items, &qs, &["name"])?,
    ))
}

/// Loads an application credential and checks `rule` against its owner.
/// As Keystone does, the owner is the credential's user, not the user in
/// the path, so naming one's own user id in the path does not make a caller
/// the owner of someone else's credential (403, not 404).
async fn app_cred_for(
    id: &Identity,
    auth: &Auth,
    rule: &str,
    uid: &str,
    acid: &str,
) -> ApiResult<ApplicationCredential> {
    let ac = q::get_app_cred(&id.db, acid).await.map_err(db_err)?;
    id.enforce(auth, rule, &owner_target(ac.as_ref().map_or(uid, |a| a.user_id.as_str())))?;
    ac.ok_or_else(|| not_found("application credential", acid))
}

pub async fn get(State(id): S, auth: Auth, Path((uid, acid)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let ac = app_cred_for(&id, &auth, "identity:get_application_credential", &uid, &acid).await?;
    Ok(Json(json!({"application_credential": ac.to_json(&id.base_url)})))
}

pub async fn delete(State(id): S, auth: Auth, Path((uid, acid)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let ac = app_cred_for(&id, &auth, "identity:delete_application_credential", &uid, &acid).await?;
    restricted_check(&id, &auth).await?;
    q::delete_app_cred(id.db.writer(), &ac.id).await.map_err(db_err)?;
    id.revoke(RevocationEvent { consumer_id: Some(ac.id), ..Default::default() }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A token made from a restricted application credential may not manage
/// application credentials.
async fn restricted_check(id: &Identity, auth: &Auth) -> ApiResult<()> {
    if let Some(acid) = &auth.application_credential_id {
        let ac = q::get_app_cred(&id.db, acid).await.map_err(db_err)?;
        if ac.is_none_or(|a| !a.unrestricted) {
            return Err(ApiError::forbidden(
                "Using method 'application_credential' is not allowed for managing additional application credentials.",
            ));
        }
    }
    Ok(())
}

pub async fn create(State(id): S, auth: Auth, Path(uid): Path<String>, Json(body): Json<Value>) -> ApiResult<Response> {
    id.enforce(&auth, "identity:create_application_credential", &owner_target(&uid))?;
    if auth.user_id != uid {
        return Err(ApiError::forbidden("Application credentials can only be created for the user of the token."));
    }
    restricted_check(&id, &auth).await?;
    // Clients send `null` for what they leave unset.
    let o: &serde_json::Map<String, Value> = &object(&body, "application_credential")?
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    no_other_fields(
        o,
        &["name", "description", "secret", "expires_at", "roles", "unrestricted", "access_rules", "system"],
    )?;
    let name = name(o, "name", 255)?;
    let Some(project_id) = auth.project_id.clone() else {
        return Err(ApiError::bad_request("Application credentials can only be created with a project-scoped token."));
    };
    let secret = match opt_string(o, "secret", 4096)? {
        Some(s) if !s.is_empty() => s,
        _ => {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
                + &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
        }
    };
    let expires_at = match o.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let t = parse_time(s).ok_or_else(|| invalid("expires_at", format!("'{s}' is not a valid timestamp")))?;
            if t <= now_micros() {
                return Err(ApiError::bad_request("The expiration time must be in the future."));
            }
            Some(t)
        }
        Some(v) => return Err(invalid("expires_at", format!("{v} is not of type 'string', 'null'"))),
    };
    let all_roles = q::list_roles(&id.db).await.map_err(db_err)?;
    let mut roles: Vec<Role> = Vec::new();
    match o.get("roles") {
        // No roles (or an empty list): every role of the creating token.
        None => roles = all_roles.iter().filter(|r| auth.role_ids.contains(&r.id)).cloned().collect(),
        Some(Value::Array(list)) if list.is_empty() => {
            roles = all_roles.iter().filter(|r| auth.role_ids.contains(&r.id)).cloned().collect()
        }
        Some(Value::Array(list)) => {
            for r in list {
                let ro = r.as_object().ok_or_else(|| invalid("roles", format!("{r} is not of type 'object'")))?;
                let found = if let Some(rid) = opt_id(ro, "id")? {
                    all_roles.iter().find(|x| x.id == rid)
                } else if let Some(n) = opt_string(ro, "name", 255)? {
                    all_roles.iter().find(|x| x.name == n && x.domain_id.is_none())
                } else {
                    return Err(invalid("roles", "each role needs an id or a name"));
                };
                let found = found.ok_or_else(|| ApiError::not_found(format!("Could not find role: {r}.")))?;
                if !auth.role_ids.contains(&found.id) {
                    return Err(ApiError::forbidden(format!("The token does not have role {}; an application credential can only hold roles of the token that creates it.", found.name)));
                }
                if !roles.iter().any(|x| x.id == found.id) {
                    roles.push(found.clone());
                }
            }
        }
        Some(v) => return Err(invalid("roles", format!("{v} is not of type 'array'"))),
    }
    let mut access_rules = Vec::new();
    match o.get("access_rules") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            let existing = q::list_access_rules(&id.db, &uid).await.map_err(db_err)?;
            for r in list {
                let ro =
                    r.as_object().ok_or_else(|| invalid("access_rules", format!("{r} is not of type 'object'")))?;
                if let Some(rid) = opt_id(ro, "id")? {
                    let rule = existing.iter().find(|x| x.id == rid).ok_or_else(|| not_found("access rule", &rid))?;
                    access_rules.push(rule.clone());
                    continue;
                }
                no_other_fields(ro, &["service", "path", "method"])?;
                let service = opt_string(ro, "service", 64)?
                    .ok_or_else(|| invalid("access_rules", "'service' is a required property"))?;
                let path = opt_string(ro, "path", 225)?
                    .ok_or_else(|| invalid("access_rules", "'path' is a required property"))?;
                let method = opt_string(ro, "method", 16)?
                    .ok_or_else(|| invalid("access_rules", "'method' is a required property"))?;
                if !path.starts_with('/') {
                    return Err(invalid("access_rules.path", format!("'{path}' does not match '^/.*'")));
                }
                if !["HEAD", "GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                    return Err(invalid(
                        "access_rules.method",
                        format!("'{method}' is not one of HEAD, GET, POST, PUT, PATCH, DELETE"),
                    ));
                }
                access_rules.push(AccessRule { id: new_id(), service, path, method });
            }
        }
        Some(v) => return Err(invalid("access_rules", format!("{v} is not of type 'array'"))),
    }
    let ac = ApplicationCredential {
        id: new_id(),
        name: name.clone(),
        user_id: uid.clone(),
        project_id: Some(project_id),
        system: None,
        secret_hash: id.hash_secret(&secret).await?,
        description: opt_string(o, "description", 65535)?.unwrap_or_default(),
        expires_at,
        unrestricted: opt_bool(o, "unrestricted")?.unwrap_or(false),
        roles,
        access_rules,
    };
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::insert_app_cred(&mut tx, &ac, now_micros()).await.map_err(|e| match e {
        db::DbError::Conflict => ApiError::conflict(format!(
            "Conflict occurred attempting to store application_credential - Duplicate entry found with name {name}."
        )),
        e => db_err(e),
    })?;
    tx.commit().await.map_err(sql_err)?;
    let ac = q::get_app_cred(&id.db, &ac.id)
        .await
        .map_err(db_err)?
        .ok_or_else(|| ApiError::internal("application credential vanished"))?;
    let mut v = ac.to_json(&id.base_url);
    v["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(json!({"application_credential": v}))).into_response())
}

pub async fn list_access_rules(State(id): S, auth: Auth, Path(uid): Path<String>) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:list_access_rules", &owner_target(&uid))?;
    let items = q::list_access_rules(&id.db, &uid).await.map_err(db_err)?.iter().map(AccessRule::to_json).collect();
    Ok(list_body(&id, "access_rules", &format!("users/{uid}/access_rules"), items))
}

pub async fn get_access_rule(
    State(id): S,
    auth: Auth,
    Path((uid, rid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:get_access_rule", &owner_target(&uid))?;
    let r = q::list_access_rules(&id.db, &uid)
        .await
        .map_err(db_err)?
        .into_iter()
        .find(|r| r.id == rid)
        .ok_or_else(|| not_found("access rule", &rid))?;
    Ok(Json(json!({"access_rule": r.to_json()})))
}

pub async fn delete_access_rule(
    State(id): S,
    auth: Auth,
    Path((uid, rid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    id.enforce(&auth, "identity:delete_access_rule", &owner_target(&uid))?;
    q::list_access_rules(&id.db, &uid)
        .await
        .map_err(db_err)?
        .into_iter()
        .find(|r| r.id == rid)
        .ok_or_else(|| not_found("access rule", &rid))?;
    let in_use = q::list_app_creds(&id.db, &uid)
        .await
        .map_err(db_err)?
        .iter()
        .any(|a| a.access_rules.iter().any(|r| r.id == rid));
    if in_use {
        return Err(ApiError::forbidden(format!(
            "Cannot delete access rule {rid}: an application credential uses it."
        )));
    }
    db::sqlx::query("DELETE FROM identity_access_rule WHERE id = $1")
        .bind(&rid)
        .execute(id.db.writer())
        .await
        .map_err(sql_err)?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------- credentials ----------

async fn credential_for(id: &Identity, auth: &Auth, rule: &str, cid: &str) -> ApiResult<Credential> {
    let c = q::get_credential(&id.db, cid).await.map_err(db_err)?;
    let target = json!({"target": {"credential": {"id": cid, "user_id": c.as_ref().map(|c| c.user_id.clone())}}});
    id.enforce(auth, rule, &target)?;
    c.ok_or_else(|| not_found("credential", cid))
}

fn credential_fields(o: &serde_json::Map<String, Value>, c: &mut Credential) -> ApiResult<()> {
    if let Some(b) = opt_string(o, "blob", 65535)? {
        c.blob = b;
    }
    if let Some(t) = opt_name(o, "type", 255)? {
        c.kind = t;
    }
    if let Some(u) = opt_id(o, "user_id")? {
        c.user_id = u;
    }
    if let Some(p) = nullable_id(o, "project_id")? {
        c.project_id = p;
    }
    for (k, v) in extras(o, &["id", "blob", "type", "user_id", "project_id", "links"]) {
        c.extra.insert(k, v);
    }
    if c.kind == "ec2" {
        if c.project_id.is_none() {
            return Err(ApiError::bad_request(
                "Invalid input for field 'project_id': an ec2 credential needs a project_id.",
            ));
        }
        let blob: Value = serde_json::from_str(&c.blob)
            .map_err(|_| invalid("blob", "an ec2 blob must be JSON with 'access' and 'secret'"))?;
        if blob.get("access").and_then(Value::as_str).is_none() {
            return Err(invalid("blob", "an ec2 blob must be JSON with 'access' and 'secret'"));
        }
    }
    Ok(())
}

pub async fn list_credentials(State(id): S, auth: Auth, Query(qs): Params) -> ApiResult<Json<Value>> {
    // As Keystone: anyone may list, and sees the credentials it may get.
    let target = if auth.system_scope.is_some() {
        json!({})
    } else {
        json!({"target": {"credential": {"user_id": auth.user_id}}})
    };
    id.enforce(&auth, "identity:list_credentials", &target)?;
    let all = q::list_credentials(&id.db).await.map_err(db_err)?;
    let mut items = Vec::new();
    for c in all {
        let target = json!({"target": {"credential": {"id": c.id, "user_id": c.user_id}}});
        if id.enforce(&auth, "identity:get_credential", &target).is_ok() {
            items.push(c.to_json(&id.base_url));
        }
    }
    Ok(list_body(&id, "credentials", "credentials", filter_list(items, &qs, &["user_id", "type"])?))
}

pub async fn get_credential(State(id): S, auth: Auth, Path(cid): Path<String>) -> ApiResult<Json<Value>> {
    let c = credential_for(&id, &auth, "identity:get_credential", &cid).await?;
    Ok(Json(json!({"credential": c.to_json(&id.base_url)})))
}

pub async fn create_credential(State(id): S, auth: Auth, Json(body): Json<Value>) -> ApiResult<Response> {
    let o = object(&body, "credential")?;
    for f in ["blob", "type", "user_id"] {
        if !o.contains_key(f) {
            return Err(ApiError::bad_request(format!("Invalid input for field '/': '{f}' is a required property")));
        }
    }
    let mut c = Credential {
        id: new_id(),
        user_id: String::new(),
        project_id: None,
        kind: String::new(),
        blob: String::new(),
        extra: Default::default(),
    };
    credential_fields(o, &mut c)?;
    id.enforce(&auth, "identity:create_credential", &json!({"target": {"credential": {"user_id": c.user_id}}}))?;
    q::get_user(&id.db, &c.user_id)
        .await
        .map_err(db_err)?
        .ok_or_else(|| ApiError::bad_request(format!("Could not find user: {}.", c.user_id)))?;
    if c.kind == "ec2" {
        use std::fmt::Write;
        let blob: Value = serde_json::from_str(&c.blob).unwrap_or_default();
        let access = blob.get("access").and_then(Value::as_str).unwrap_or_default();
        let digest = sha256(access.as_bytes());
        c.id = digest.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
    }
    q::upsert_credential(id.db.writer(), &c, true).await.map_err(|e| match e {
        db::DbError::Conflict => {
            ApiError::conflict("Conflict occurred attempting to store credential - Duplicate entry.")
        }
        e => db_err(e),
    })?;
    Ok((StatusCode::CREATED, Json(json!({"credential": c.to_json(&id.base_url)}))).into_response())
}

/// ec2 credential ids are the sha256 of the access key, as Keystone makes them.
fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

pub async fn update_credential(
    State(id): S,
    auth: Auth,
    Path(cid): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let mut c = credential_for(&id, &auth, "identity:update_credential", &cid).await?;
    let o = object(&body, "credential")?;
    credential_fields(o, &mut c)?;
    // Checked again on the result, as Keystone does, so an owner cannot
    // hand a credential to another user.
    id.enforce(
        &auth,
        "identity:update_credential",
        &json!({"target": {"credential": {"id": c.id, "user_id": c.user_id}}}),
    )?;
    q::upsert_credential(id.db.writer(), &c, false).await.map_err(db_err)?;
    Ok(Json(json!({"credential": c.to_json(&id.base_url)})))
}

pub async fn delete_credential(State(id): S, auth: Auth, Path(cid): Path<String>) -> ApiResult<StatusCode> {
    let c = credential_for(&id, &auth, "identity:delete_credential", &cid).await?;
    q::delete_credential(id.db.writer(), &c.id).await.map_err(db_err)?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------- unified limits ----------

fn int(o: &serde_json::Map<String, Value>, f: &str) -> ApiResult<Option<i64>> {
    match o.get(f) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if (-1..=2_147_483_647).contains(&v) => Ok(Some(v)),
            _ => Err(invalid(f, format!("{n} must be an integer from -1 to 2147483647"))),
        },
        Some(v) => Err(invalid(f, format!("{v} is not of type 'integer'"))),
    }
}

async fn check_service_region(id: &Identity, service_id: &str, region_id: &Option<String>) -> ApiResult<()> {
    if !q::list_services(&id.db).await.map_err(db_err)?.iter().any(|s| s.id == service_id) {
        return Err(ApiError::bad_request(format!("Could not find service: {service_id}.")));
    }
    if let Some(r) = region_id {
        if !q::list_regions(&id.db).await.map_err(db_err)?.iter().any(|x| x.id == *r) {
            return Err(ApiError::bad_request(format!("Could not find region: {r}.")));
        }
    }
    Ok(())
}

pub async fn list_registered_limits(State(id): S, auth: Auth, Query(qs): Params) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:list_registered_limits", &json!({}))?;
    let items =
        q::list_registered_limits(&id.db).await.map_err(db_err)?.iter().map(|l| l.to_json(&id.base_url)).collect();
    Ok(list_body(
        &id,
        "registered_limits",
        "registered_limits",
        filter_list(items, &qs, &["service_id", "region_id", "resource_name"])?,
    ))
}

pub async fn get_registered_limit(State(id): S, auth: Auth, Path(lid): Path<String>) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:get_registered_limit", &json!({}))?;
    let l = q::list_registered_limits(&id.db)
        .await
        .map_err(db_err)?
        .into_iter()
        .find(|l| l.id == lid)
        .ok_or_else(|| not_found("registered limit", &lid))?;
    Ok(Json(json!({"registered_limit": l.to_json(&id.base_url)})))
}

pub async fn create_registered_limits(State(id): S, auth: Auth, Json(body): Json<Value>) -> ApiResult<Response> {
    id.enforce(&auth, "identity:create_registered_limits", &json!({}))?;
    check_nul(&body)?;
    let list = body.get("registered_limits").and_then(Value::as_array).ok_or_else(|| {
        ApiError::bad_request("Invalid input for field '/': 'registered_limits' is a required property")
    })?;
    let existing = q::list_registered_limits(&id.db).await.map_err(db_err)?;
    let mut new = Vec::new();
    for item in list {
        let o = item.as_object().ok_or_else(|| invalid("registered_limits", "each item must be an object"))?;
        let l = RegisteredLimit {
            id: new_id(),
            service_id: opt_id(o, "service_id")?
                .ok_or_else(|| invalid("registered_limits", "'service_id' is a required property"))?,
            region_id: nullable_id(o, "region_id")?.flatten(),
            resource_name: opt_name(o, "resource_name", 255)?
                .ok_or_else(|| invalid("registered_limits", "'resource_name' is a required property"))?,
            default_limit: int(o, "default_limit")?
                .ok_or_else(|| invalid("registered_limits", "'default_limit' is a required property"))?,
            description: opt_string(o, "description", 65535)?.unwrap_or_default(),
        };
        check_service_region(&id, &l.service_id, &l.region_id).await?;
        if existing.iter().chain(new.iter()).any(|x: &RegisteredLimit| {
            x.service_id == l.service_id && x.region_id == l.region_id && x.resource_name == l.resource_name
        }) {
            return Err(ApiError::conflict(format!(
                "Conflict occurred attempting to store registered_limit - Duplicate entry for {}.",
                l.resource_name
            )));
        }
        new.push(l);
    }
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    for l in &new {
        q::upsert_registered_limit(&mut *tx, l, true).await.map_err(db_err)?;
    }
    tx.commit().await.map_err(sql_err)?;
    let out: Vec<Value> = new.iter().map(|l| l.to_json(&id.base_url)).collect();
    Ok((StatusCode::CREATED, Json(json!({"registered_limits": out}))).into_response())
}

pub async fn update_registered_limit(
    State(id): S,
    auth: Auth,
    Path(lid): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:update_registered_limit", &json!({}))?;
    let o = object(&body, "registered_limit")?;
    let mut l = q::list_registered_limits(&id.db)
        .await
        .map_err(db_err)?
        .into_iter()
        .find(|l| l.id == lid)
        .ok_or_else(|| not_found("registered limit", &lid))?;
    if let Some(v) = int(o, "default_limit")? {
        l.default_limit = v;
    }
    if let Some(v) = opt_string(o, "description", 65535)? {
        l.description = v;
    }
    if let Some(v) = opt_name(o, "resource_name", 255)? {
        l.resource_name = v;
    }
    q::upsert_registered_limit(id.db.writer(), &l, false).await.map_err(db_err)?;
    Ok(Json(json!({"registered_limit": l.to_json(&id.base_url)})))
}

pub async fn delete_registered_limit(State(id): S, auth: Auth, Path(lid): Path<String>) -> ApiResult<StatusCode> {
    id.enforce(&auth, "identity:delete_registered_limit", &json!({}))?;
    let l = q::list_registered_limits(&id.db)
        .await
        .map_err(db_err)?
        .into_iter()
        .find(|l| l.id == lid)
        .ok_or_else(|| not_found("registered limit", &lid))?;
    if q::list_limits(&id.db)
        .await
        .map_err(db_err)?
        .iter()
        .any(|x| x.service_id == l.service_id && x.resource_name == l.resource_name && x.region_id == l.region_id)
    {
        return Err(ApiError::forbidden("Cannot delete a registered limit that project limits refer to."));
    }
    q::delete_registered_limit(id.db.writer(), &lid).await.map_err(db_err)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn limits_model(State(id): S, auth: Auth) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:get_limit_model", &json!({}))?;
    Ok(Json(
        json!({"model": {"name": "flat", "description": "Limit enforcement and validation does not take project hierarchy into consideration."}}),
    ))
}

pub async fn list_limits(State(id): S, auth: Auth, Query(qs): Params) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:list_limits", &json!({}))?;
    let all = q::list_limits(&id.db).await.map_err(db_err)?;
    let mut items = Vec::new();
    for l in all {
        let target = json!({"target": {"limit": {"project_id": l.project_id, "domain_id": l.domain_id, "project": {"id": l.project_id}}}});
        if id.enforce(&auth, "identity:get_limit", &target).is_ok() {
            items.push(l.to_json(&id.base_url));
        }
    }
    Ok(list_body(
        &id,
        "limits",
        "limits",
        filter_list(items, &qs, &["service_id", "region_id", "resource_name", "project_id", "domain_id"])?,
    ))
}

pub async fn get_limit(State(id): S, auth: Auth, Path(lid): Path<String>) -> ApiResult<Json<Value>> {
    let l = q::list_limits(&id.db).await.map_err(db_err)?.into_iter().find(|l| l.id == lid);
    let target = json!({"target": {"limit": {"project_id": l.as_ref().and_then(|l| l.project_id.clone()), "domain_id": l.as_ref().and_then(|l| l.domain_id.clone())}}});
    id.enforce(&auth, "identity:get_limit", &target)?;
    let l = l.ok_or_else(|| not_found("limit", &lid))?;
    Ok(Json(json!({"limit": l.to_json(&id.base_url)})))
}

pub async fn create_limits(State(id): S, auth: Auth, Json(body): Json<Value>) -> ApiResult<Response> {
    id.enforce(&auth, "identity:create_limits", &json!({}))?;
    check_nul(&body)?;
    let list = body
        .get("limits")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("Invalid input for field '/': 'limits' is a required property"))?;
    let registered = q::list_registered_limits(&id.db).await.map_err(db_err)?;
    let existing = q::list_limits(&id.db).await.map_err(db_err)?;
    let mut new: Vec<Limit> = Vec::new();
    for item in list {
        let o = item.as_object().ok_or_else(|| invalid("limits", "each item must be an object"))?;
        let l = Limit {
            id: new_id(),
            project_id: nullable_id(o, "project_id")?.flatten(),
            domain_id: nullable_id(o, "domain_id")?.flatten(),
            service_id: opt_id(o, "service_id")?
                .ok_or_else(|| invalid("limits", "'service_id' is a required property"))?,
            region_id: nullable_id(o, "region_id")?.flatten(),
            resource_name: opt_name(o, "resource_name", 255)?
                .ok_or_else(|| invalid("limits", "'resource_name' is a required property"))?,
            resource_limit: int(o, "resource_limit")?
                .ok_or_else(|| invalid("limits", "'resource_limit' is a required property"))?,
            description: opt_string(o, "description", 65535)?.unwrap_or_default(),
        };
        if l.project_id.is_some() == l.domain_id.is_some() {
            return Err(invalid("limits", "exactly one of project_id and domain_id is required"));
        }
        if let Some(p) = &l.project_id {
            super::projects::load_project(&id, p)
                .await
                .map_err(|_| ApiError::bad_request(format!("Could not find project: {p}.")))?;
        }
        if let Some(d) = &l.domain_id {
            super::projects::load_domain(&id, d)
                .await
                .map_err(|_| ApiError::bad_request(format!("Could not find domain: {d}.")))?;
        }
        if !registered
            .iter()
            .any(|r| r.service_id == l.service_id && r.region_id == l.region_id && r.resource_name == l.resource_name)
        {
            return Err(ApiError::forbidden(format!(
                "The limit for {} has no registered limit for the same service and region; register it first.",
                l.resource_name
            )));
        }
        if existing.iter().chain(new.iter()).any(|x| {
            x.project_id == l.project_id
                && x.domain_id == l.domain_id
                && x.service_id == l.service_id
                && x.region_id == l.region_id
                && x.resource_name == l.resource_name
        }) {
            return Err(ApiError::conflict(format!(
                "Conflict occurred attempting to store limit - Duplicate entry for {}.",
                l.resource_name
            )));
        }
        new.push(l);
    }
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    for l in &new {
        q::upsert_limit(&mut *tx, l, true).await.map_err(db_err)?;
    }
    tx.commit().await.map_err(sql_err)?;
    let out: Vec<Value> = new.iter().map(|l| l.to_json(&id.base_url)).collect();
    Ok((StatusCode::CREATED, Json(json!({"limits": out}))).into_response())
}

pub async fn update_limit(
    State(id): S,
    auth: Auth,
    Path(lid): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:update_limit", &json!({}))?;
    let o = object(&body, "limit")?;
    let mut l = q::list_limits(&id.db)
        .await
        .map_err(db_err)?
        .into_iter()
        .find(|l| l.id == lid)
        .ok_or_else(|| not_found("limit", &lid))?;
    if let Some(v) = int(o, "resource_limit")? {
        l.resource_limit = v;
    }
    if let Some(v) = opt_string(o, "description", 65535)? {
        l.description = v;
    }
    q::upsert_limit(id.db.writer(), &l, false).await.map_err(db_err)?;
    Ok(Json(json!({"limit": l.to_json(&id.base_url)})))
}

pub async fn delete_limit(State(id): S, auth: Auth, Path(lid): Path<String>) -> ApiResult<StatusCode> {
    id.enforce(&auth, "identity:delete_limit", &json!({}))?;
    if !q::delete_limit(id.db.writer(), &lid).await.map_err(db_err)? {
        return Err(not_found("limit", &lid));
    }
    Ok(StatusCode::NO_CONTENT)
}
