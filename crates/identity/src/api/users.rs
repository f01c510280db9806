//! Users, passwords, groups and group membership.

use std::collections::HashMap;
use std::sync::Arc;

use api_core::{ApiError, ApiResult, Auth, Json};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::input::*;
use super::projects::load_domain;
use super::{filter_list, list_body};
use crate::core::{db_err, not_found, sql_err, Identity, Scope};
use crate::db as q;
use crate::model::*;

type S = State<Arc<Identity>>;
type Params = Query<HashMap<String, String>>;

const USER_FIELDS: &[&str] = &[
    "name",
    "domain_id",
    "enabled",
    "password",
    "default_project_id",
    "options",
    "id",
    "links",
    "password_expires_at",
];
const USER_OPTIONS: &[&str] = &[
    "ignore_change_password_upon_first_use",
    "ignore_password_expiry",
    "ignore_lockout_failure_attempts",
    "lock_password",
    "multi_factor_auth_enabled",
    "multi_factor_auth_rules",
    "ignore_user_inactivity",
];

fn dup(kind: &str, name: &str, domain: &str, e: db::DbError) -> ApiError {
    match e {
        db::DbError::Conflict => ApiError::conflict(format!(
            "Conflict occurred attempting to store {kind} - Duplicate entry found with name {name} at domain ID {domain}."
        )),
        e => db_err(e),
    }
}

fn user_target(u: &User) -> Value {
    json!({"target": {"user": {"id": u.id, "domain_id": u.domain_id}}})
}

async fn load_user(id: &Identity, uid: &str) -> ApiResult<User> {
    q::get_user(&id.db, uid).await.map_err(db_err)?.ok_or_else(|| not_found("user", uid))
}

/// Loads the user a request names, then checks `rule` against it. A caller
/// who may not see the user learns nothing of whether it exists.
async fn user_for(id: &Identity, auth: &Auth, rule: &str, uid: &str) -> ApiResult<User> {
    let u = q::get_user(&id.db, uid).await.map_err(db_err)?;
    let mut target = match &u {
        Some(u) => user_target(u),
        None => json!({"target": {"user": {"id": uid}}}),
    };
    // Keystone puts the path's arguments into the policy target too
    // (`identity:list_groups_for_user` checks `user_id:%(user_id)s`).
    target["user_id"] = json!(uid);
    id.enforce(auth, rule, &target)?;
    u.ok_or_else(|| not_found("user", uid))
}

fn options(o: &serde_json::Map<String, Value>) -> ApiResult<Option<serde_json::Map<String, Value>>> {
    match o.get("options") {
        None => Ok(None),
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if !USER_OPTIONS.contains(&k.as_str()) {
                    return Err(invalid("options", format!("'{k}' is not a user option")));
                }
                if k == "multi_factor_auth_rules" {
                    if !v.is_array() && !v.is_null() {
                        return Err(invalid("options.multi_factor_auth_rules", format!("{v} is not of type 'array'")));
                    }
                } else if !v.is_boolean() && !v.is_null() {
                    return Err(invalid(&format!("options.{k}"), format!("{v} is not of type 'boolean'")));
                }
            }
            Ok(Some(m.clone()))
        }
        Some(v) => Err(invalid("options", format!("{v} is not of type 'object'"))),
    }
}

/// Checks a new password against the length limit and the configured regex.
fn check_password(id: &Identity, p: &str) -> ApiResult<()> {
    if p.len() > id.config.max_password_length {
        return Err(invalid("password", format!("is too long (at most {} bytes)", id.config.max_password_length)));
    }
    let sc = &id.config.security_compliance;
    if !sc.password_regex.is_empty() {
        let re = regex::Regex::new(&sc.password_regex).map_err(ApiError::internal)?;
        if !re.is_match(p) {
            return Err(ApiError::bad_request(format!(
                "Password validation error: The password does not meet the requirements: {}",
                sc.password_regex_description
            )));
        }
    }
    Ok(())
}

fn expiry(id: &Identity, user: &User, now: i64) -> Option<i64> {
    let days = id.config.security_compliance.password_expires_days;
    if days == 0 || user.option_bool("ignore_password_expiry") {
        None
    } else {
        Some(now + days as i64 * 86_400_000_000)
    }
}

/// Expiry of a password an administrator set: at once when users must
/// change such passwords on first use.
fn admin_set_expiry(id: &Identity, user: &User, now: i64) -> Option<i64> {
    if id.config.security_compliance.change_password_upon_first_use
        && !user.option_bool("ignore_change_password_upon_first_use")
    {
        Some(now)
    } else {
        expiry(id, user, now)
    }
}

pub async fn list_users(State(id): S, auth: Auth, Query(mut qs): Params) -> ApiResult<Json<Value>> {
    if let (None, Some(d)) = (qs.get("domain_id"), &auth.domain_id) {
        qs.insert("domain_id".into(), d.clone());
    }
    id.enforce(&auth, "identity:list_users", &json!({"target": {"domain_id": qs.get("domain_id")}}))?;
    let users = q::list_users(&id.db).await.map_err(db_err)?;
    let items = users.iter().map(|u| u.to_json(&id.base_url)).collect();
    let items = filter_list(items, &qs, &["name", "domain_id", "enabled", "default_project_id"])?;
    Ok(list_body(&id, "users", "users", items))
}

pub async fn get_user(State(id): S, auth: Auth, Path(uid): Path<String>) -> ApiResult<Json<Value>> {
    let u = user_for(&id, &auth, "identity:get_user", &uid).await?;
    Ok(Json(json!({"user": u.to_json(&id.base_url)})))
}

pub async fn create_user(State(id): S, auth: Auth, Json(body): Json<Value>) -> ApiResult<Response> {
    let o = object(&body, "user")?;
    let name = name(o, "name", 255)?;
    let domain_id = opt_id(o, "domain_id")?
        .or_else(|| auth.domain_id.clone())
        .or_else(|| auth.project_domain_id.clone())
        .unwrap_or_else(|| DEFAULT_DOMAIN_ID.to_string());
    id.enforce(&auth, "identity:create_user", &json!({"target": {"user": {"domain_id": domain_id}}}))?;
    let password = match o.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(v) => return Err(invalid("password", format!("{v} is not of type 'string', 'null'"))),
    };
    let default_project_id = nullable_id(o, "default_project_id")?.flatten();
    let enabled = opt_bool(o, "enabled")?.unwrap_or(true);
    let opts = options(o)?.unwrap_or_default();
    load_domain(&id, &domain_id)
        .await
        .map_err(|_| ApiError::bad_request(format!("Could not find domain: {domain_id}.")))?;
    if let Some(p) = &default_project_id {
        match q::get_project(&id.db, p).await.map_err(db_err)? {
            Some(pr) if !pr.is_domain => {}
            _ => return Err(ApiError::bad_request(format!("Could not find project: {p}."))),
        }
    }
    let now = now_micros();
    let mut user = User {
        id: new_id(),
        domain_id: domain_id.clone(),
        name: name.clone(),
        enabled,
        default_project_id,
        extra: extras(o, USER_FIELDS),
        options: opts,
        password_hash: None,
        password_created_at: None,
        password_expires_at: None,
        failed_auth_count: 0,
        failed_auth_at: None,
        created_at: now,
        last_active_at: None,
    };
    if let Some(p) = &password {
        check_password(&id, p)?;
        user.password_hash = Some(id.hash_secret(p).await?);
        user.password_created_at = Some(now);
        user.password_expires_at = admin_set_expiry(&id, &user, now);
    }
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::insert_user(&mut tx, &user).await.map_err(|e| dup("user", &name, &domain_id, e))?;
    tx.commit().await.map_err(sql_err)?;
    Ok((StatusCode::CREATED, Json(json!({"user": user.to_json(&id.base_url)}))).into_response())
}

pub async fn update_user(
    State(id): S,
    auth: Auth,
    Path(uid): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let mut u = user_for(&id, &auth, "identity:update_user", &uid).await?;
    let o = object(&body, "user")?;
    if let Some(d) = opt_id(o, "domain_id")? {
        if d != u.domain_id {
            return Err(ApiError::bad_request("Cannot change the domain_id of a user."));
        }
    }
    if let Some(n) = opt_name(o, "name", 255)? {
        u.name = n;
    }
    let was_enabled = u.enabled;
    if let Some(e) = opt_bool(o, "enabled")? {
        u.enabled = e;
    }
    if let Some(p) = nullable_id(o, "default_project_id")? {
        u.default_project_id = p;
    }
    if let Some(opts) = options(o)? {
        for (k, v) in opts {
            if v.is_null() {
                u.options.remove(&k);
            } else {
                u.options.insert(k, v);
            }
        }
    }
    for (k, v) in extras(o, USER_FIELDS) {
        u.extra.insert(k, v);
    }
    let mut password_changed = false;
    match o.get("password") {
        None => {}
        Some(Value::String(p)) => {
            check_password(&id, p)?;
            let now = now_micros();
            u.password_hash = Some(id.hash_secret(p).await?);
            u.password_created_at = Some(now);
            u.password_expires_at =
                if auth.user_id == u.id { expiry(&id, &u, now) } else { admin_set_expiry(&id, &u, now) };
            u.failed_auth_count = 0;
            password_changed = true;
        }
        Some(Value::Null) => {
            u.password_hash = None;
            password_changed = true;
        }
        Some(v) => return Err(invalid("password", format!("{v} is not of type 'string', 'null'"))),
    }
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::update_user(&mut tx, &u).await.map_err(|e| dup("user", &u.name, &u.domain_id, e))?;
    if let (true, Some(h), Some(at)) = (password_changed, &u.password_hash, u.password_created_at) {
        q::add_password_history(&mut tx, &u.id, h, at).await.map_err(db_err)?;
    }
    tx.commit().await.map_err(sql_err)?;
    if (was_enabled && !u.enabled) || password_changed {
        id.revoke(RevocationEvent { user_id: Some(u.id.clone()), ..Default::default() }).await?;
    }
    id.changed().await?;
    Ok(Json(json!({"user": u.to_json(&id.base_url)})))
}

pub async fn delete_user(State(id): S, auth: Auth, Path(uid): Path<String>) -> ApiResult<StatusCode> {
    let u = user_for(&id, &auth, "identity:delete_user", &uid).await?;
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::delete_user(&mut tx, &u.id).await.map_err(db_err)?;
    tx.commit().await.map_err(sql_err)?;
    id.revoke(RevocationEvent { user_id: Some(u.id), ..Default::default() }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v3/users/{id}/password`: a user changes its own password by
/// proving the old one; every token of the user is revoked.
pub async fn change_password(State(id): S, Path(uid): Path<String>, Json(body): Json<Value>) -> ApiResult<StatusCode> {
    let o = object(&body, "user")?;
    no_other_fields(o, &["password", "original_password"])?;
    let new = opt_string(o, "password", usize::MAX)?
        .ok_or_else(|| ApiError::bad_request("Invalid input for field 'user': 'password' is a required property"))?;
    let original = opt_string(o, "original_password", usize::MAX)?.ok_or_else(|| {
        ApiError::bad_request("Invalid input for field 'user': 'original_password' is a required property")
    })?;
    let mut u = load_user(&id, &uid)
        .await
        .map_err(|_| ApiError::unauthorized("The request you have made requires authentication."))?;
    let ok = match &u.password_hash {
        Some(h) if original.len() <= id.config.max_password_length => id.verify_secret(&original, h).await,
        _ => false,
    };
    if !ok {
        return Err(ApiError::unauthorized("The request you have made requires authentication."));
    }
    if u.option_bool("lock_password") {
        return Err(ApiError::bad_request("You cannot change your password at this time due to password policy disallowing password changes. Please contact your administrator to reset your password.".to_string()));
    }
    check_password(&id, &new)?;
    let sc = &id.config.security_compliance;
    let now = now_micros();
    if sc.minimum_password_age > 0 {
        let age = now - u.password_created_at.unwrap_or(0);
        if age < sc.minimum_password_age as i64 * 86_400_000_000 {
            return Err(ApiError::bad_request(format!(
                "You cannot change your password at this time due to the minimum password age. Once you change your password, it must be used for {} day(s) before it can be changed.",
                sc.minimum_password_age
            )));
        }
    }
    let history =
        q::password_history(&id.db, &u.id, sc.unique_last_password_count.max(1) as i64).await.map_err(db_err)?;
    if sc.unique_last_password_count > 0 {
        for h in &history {
            if id.verify_secret(&new, h).await {
                return Err(ApiError::bad_request(format!(
                    "The new password cannot be identical to a previous password. The total number which includes the new password must be unique is {}.",
                    sc.unique_last_password_count
                )));
            }
        }
    }
    u.password_hash = Some(id.hash_secret(&new).await?);
    u.password_created_at = Some(now);
    u.password_expires_at = expiry(&id, &u, now);
    u.failed_auth_count = 0;
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::update_user(&mut tx, &u).await.map_err(db_err)?;
    q::add_password_history(&mut tx, &u.id, u.password_hash.as_deref().unwrap_or_default(), now)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(sql_err)?;
    id.revoke(RevocationEvent { user_id: Some(u.id.clone()), ..Default::default() }).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_user_groups(
    State(id): S,
    auth: Auth,
    Path(uid): Path<String>,
    Query(qs): Params,
) -> ApiResult<Json<Value>> {
    let u = user_for(&id, &auth, "identity:list_groups_for_user", &uid).await?;
    let groups = q::list_user_groups(&id.db, &u.id).await.map_err(db_err)?;
    let items = filter_list(groups.iter().map(|g| g.to_json(&id.base_url)).collect(), &qs, &["name", "domain_id"])?;
    Ok(list_body(&id, "groups", &format!("users/{uid}/groups"), items))
}

pub async fn list_user_projects(
    State(id): S,
    auth: Auth,
    Path(uid): Path<String>,
    Query(qs): Params,
) -> ApiResult<Json<Value>> {
    let u = user_for(&id, &auth, "identity:list_user_projects", &uid).await?;
    let mut items = Vec::new();
    for p in q::list_projects(&id.db, false).await.map_err(db_err)? {
        if !id.effective_role_ids(&u.id, &Scope::Project(p.clone())).await?.is_empty() {
            items.push(p.to_json(&id.base_url));
        }
    }
    let items = filter_list(items, &qs, &["name", "domain_id", "enabled"])?;
    Ok(list_body(&id, "projects", &format!("users/{uid}/projects"), items))
}

// ---------- groups ----------

async fn group_for(id: &Identity, auth: &Auth, rule: &str, gid: &str) -> ApiResult<Group> {
    let g = q::get_group(&id.db, gid).await.map_err(db_err)?;
    let target = match &g {
        Some(g) => json!({"target": {"group": {"id": g.id, "domain_id": g.domain_id}}}),
        None => json!({"target": {"group": {"id": gid}}}),
    };
    id.enforce(auth, rule, &target)?;
    g.ok_or_else(|| not_found("group", gid))
}

pub async fn list_groups(State(id): S, auth: Auth, Query(mut qs): Params) -> ApiResult<Json<Value>> {
    if let (None, Some(d)) = (qs.get("domain_id"), &auth.domain_id) {
        qs.insert("domain_id".into(), d.clone());
    }
    id.enforce(
        &auth,
        "identity:list_groups",
        &json!({"target": {"group": {"domain_id": qs.get("domain_id")}, "domain_id": qs.get("domain_id")}}),
    )?;
    let groups = q::list_groups(&id.db).await.map_err(db_err)?;
    let items = filter_list(groups.iter().map(|g| g.to_json(&id.base_url)).collect(), &qs, &["name", "domain_id"])?;
    Ok(list_body(&id, "groups", "groups", items))
}

pub async fn get_group(State(id): S, auth: Auth, Path(gid): Path<String>) -> ApiResult<Json<Value>> {
    let g = group_for(&id, &auth, "identity:get_group", &gid).await?;
    Ok(Json(json!({"group": g.to_json(&id.base_url)})))
}

pub async fn create_group(State(id): S, auth: Auth, Json(body): Json<Value>) -> ApiResult<Response> {
    let o = object(&body, "group")?;
    let name = name(o, "name", 64)?;
    let domain_id = opt_id(o, "domain_id")?
        .or_else(|| auth.domain_id.clone())
        .or_else(|| auth.project_domain_id.clone())
        .unwrap_or_else(|| DEFAULT_DOMAIN_ID.to_string());
    id.enforce(&auth, "identity:create_group", &json!({"target": {"group": {"domain_id": domain_id}}}))?;
    load_domain(&id, &domain_id)
        .await
        .map_err(|_| ApiError::bad_request(format!("Could not find domain: {domain_id}.")))?;
    let g = Group {
        id: new_id(),
        domain_id: domain_id.clone(),
        name: name.clone(),
        description: opt_string(o, "description", 65535)?.unwrap_or_default(),
        extra: extras(o, &["name", "domain_id", "description", "id", "links"]),
    };
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::insert_group(&mut tx, &g).await.map_err(|e| dup("group", &name, &domain_id, e))?;
    tx.commit().await.map_err(sql_err)?;
    Ok((StatusCode::CREATED, Json(json!({"group": g.to_json(&id.base_url)}))).into_response())
}

pub async fn update_group(
    State(id): S,
    auth: Auth,
    Path(gid): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let mut g = group_for(&id, &auth, "identity:update_group", &gid).await?;
    let o = object(&body, "group")?;
    if let Some(d) = opt_id(o, "domain_id")? {
        if d != g.domain_id {
            return Err(ApiError::bad_request("Cannot change the domain_id of a group."));
        }
    }
    if let Some(n) = opt_name(o, "name", 64)? {
        g.name = n;
    }
    if let Some(d) = opt_string(o, "description", 65535)? {
        g.description = d;
    }
    for (k, v) in extras(o, &["name", "domain_id", "description", "id", "links"]) {
        g.extra.insert(k, v);
    }
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::update_group(&mut tx, &g).await.map_err(|e| dup("group", &g.name, &g.domain_id, e))?;
    tx.commit().await.map_err(sql_err)?;
    Ok(Json(json!({"group": g.to_json(&id.base_url)})))
}

pub async fn delete_group(State(id): S, auth: Auth, Path(gid): Path<String>) -> ApiResult<StatusCode> {
    let g = group_for(&id, &auth, "identity:delete_group", &gid).await?;
    let members = q::list_group_users(&id.db, &g.id).await.map_err(db_err)?;
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::delete_group(&mut tx, &g.id).await.map_err(db_err)?;
    tx.commit().await.map_err(sql_err)?;
    for m in members {
        id.revoke(RevocationEvent { user_id: Some(m.id), ..Default::default() }).await?;
    }
    id.changed().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_group_users(
    State(id): S,
    auth: Auth,
    Path(gid): Path<String>,
    Query(qs): Params,
) -> ApiResult<Json<Value>> {
    let g = group_for(&id, &auth, "identity:list_users_in_group", &gid).await?;
    let users = q::list_group_users(&id.db, &g.id).await.map_err(db_err)?;
    let items =
        filter_list(users.iter().map(|u| u.to_json(&id.base_url)).collect(), &qs, &["name", "domain_id", "enabled"])?;
    Ok(list_body(&id, "users", &format!("groups/{gid}/users"), items))
}

async fn membership(id: &Identity, auth: &Auth, rule: &str, gid: &str, uid: &str) -> ApiResult<(Group, User)> {
    let g = q::get_group(&id.db, gid).await.map_err(db_err)?;
    let u = q::get_user(&id.db, uid).await.map_err(db_err)?;
    let target = json!({"target": {
        "group": {"id": gid, "domain_id": g.as_ref().map(|g| g.domain_id.clone())},
        "user": {"id": uid, "domain_id": u.as_ref().map(|u| u.domain_id.clone())},
    }});
    id.enforce(auth, rule, &target)?;
    let g = g.ok_or_else(|| not_found("group", gid))?;
    let u = u.ok_or_else(|| not_found("user", uid))?;
    Ok((g, u))
}

pub async fn add_member(State(id): S, auth: Auth, Path((gid, uid)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let (g, u) = membership(&id, &auth, "identity:add_user_to_group", &gid, &uid).await?;
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::add_user_to_group(&mut tx, &u.id, &g.id).await.map_err(db_err)?;
    tx.commit().await.map_err(sql_err)?;
    id.changed().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn check_member(State(id): S, auth: Auth, Path((gid, uid)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let (g, u) = membership(&id, &auth, "identity:check_user_in_group", &gid, &uid).await?;
    if q::is_member(&id.db, &u.id, &g.id).await.map_err(db_err)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("User '{}' not found in group '{}'.", u.id, g.id)))
    }
}

pub async fn remove_member(
    State(id): S,
    auth: Auth,
    Path((gid, uid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (g, u) = membership(&id, &auth, "identity:remove_user_from_group", &gid, &uid).await?;
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    let removed = q::remove_user_from_group(&mut tx, &u.id, &g.id).await.map_err(db_err)?;
    tx.commit().await.map_err(sql_err)?;
    if !removed {
        return Err(ApiError::not_found(format!("User '{}' not found in group '{}'.", u.id, g.id)));
    }
    id.revoke(RevocationEvent { user_id: Some(u.id), ..Default::default() }).await?;
    Ok(StatusCode::NO_CONTENT)
}
