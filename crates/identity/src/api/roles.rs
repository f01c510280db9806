//! Roles, implied roles, grants (role assignments on projects, domains and
//! the system, direct and inherited) and the role assignment report.

use std::collections::{HashMap, HashSet};
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

async fn role_for(id: &Identity, auth: &Auth, rule: &str, rid: &str) -> ApiResult<Role> {
    let r = q::get_role(&id.db, rid).await.map_err(db_err)?;
    // The whole role, as Keystone loads it: `domain_managed_target_role`
    // checks its name.
    let target = json!({"target": {"role": {"id": rid, "name": r.as_ref().map(|r| r.name.clone()),
        "domain_id": r.as_ref().and_then(|r| r.domain_id.clone())}}});
    let rule = if r.as_ref().is_some_and(|r| r.domain_id.is_some()) {
        rule.replace("_role", "_domain_role")
    } else {
        rule.to_string()
    };
    id.enforce(auth, &rule, &target)?;
    r.ok_or_else(|| not_found("role", rid))
}

fn role_options(o: &serde_json::Map<String, Value>) -> ApiResult<Option<serde_json::Map<String, Value>>> {
    match o.get("options") {
        None => Ok(None),
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if k != "immutable" {
                    return Err(invalid("options", format!("'{k}' is not a role option")));
                }
                if !v.is_boolean() && !v.is_null() {
                    return Err(invalid("options.immutable", format!("{v} is not of type 'boolean'")));
                }
            }
            Ok(Some(m.clone()))
        }
        Some(v) => Err(invalid("options", format!("{v} is not of type 'object'"))),
    }
}

pub async fn list_roles(State(id): S, auth: Auth, Query(qs): Params) -> ApiResult<Json<Value>> {
    let domain_roles = qs.get("domain_id").is_some_and(|d| !d.is_empty());
    let rule = if domain_roles { "identity:list_domain_roles" } else { "identity:list_roles" };
    id.enforce(&auth, rule, &json!({"target": {"domain_id": qs.get("domain_id")}}))?;
    let roles = q::list_roles(&id.db).await.map_err(db_err)?;
    let items: Vec<Value> = roles
        .iter()
        .filter(|r| r.domain_id.as_deref() == qs.get("domain_id").map(String::as_str))
        .map(|r| r.to_json(&id.base_url))
        .collect();
    let items = filter_list(items, &qs, &["name"])?;
    Ok(list_body(&id, "roles", "roles", items))
}

pub async fn get_role(State(id): S, auth: Auth, Path(rid): Path<String>) -> ApiResult<Json<Value>> {
    let r = role_for(&id, &auth, "identity:get_role", &rid).await?;
    Ok(Json(json!({"role": r.to_json(&id.base_url)})))
}

pub async fn create_role(State(id): S, auth: Auth, Json(body): Json<Value>) -> ApiResult<Response> {
    let o = object(&body, "role")?;
    let name = name(o, "name", 255)?;
    let domain_id = nullable_id(o, "domain_id")?.flatten();
    let rule = if domain_id.is_some() { "identity:create_domain_role" } else { "identity:create_role" };
    id.enforce(&auth, rule, &json!({"target": {"role": {"domain_id": domain_id}}}))?;
    if let Some(d) = &domain_id {
        super::projects::load_domain(&id, d)
            .await
            .map_err(|_| ApiError::bad_request(format!("Could not find domain: {d}.")))?;
    }
    let r = Role {
        id: new_id(),
        name: name.clone(),
        domain_id,
        description: opt_string(o, "description", 255)?.unwrap_or_default(),
        options: role_options(o)?.unwrap_or_default(),
        extra: extras(o, &["name", "domain_id", "description", "options", "id", "links"]),
    };
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::insert_role(&mut tx, &r).await.map_err(|e| match e {
        db::DbError::Conflict => ApiError::conflict(format!(
            "Conflict occurred attempting to store role - Duplicate entry found with name {name}."
        )),
        e => db_err(e),
    })?;
    tx.commit().await.map_err(sql_err)?;
    Ok((StatusCode::CREATED, Json(json!({"role": r.to_json(&id.base_url)}))).into_response())
}

pub async fn update_role(
    State(id): S,
    auth: Auth,
    Path(rid): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let mut r = role_for(&id, &auth, "identity:update_role", &rid).await?;
    let o = object(&body, "role")?;
    let opts = role_options(o)?;
    let unlocking = opts.as_ref().is_some_and(|m| m.get("immutable").is_some_and(|v| v != &json!(true)));
    if r.immutable() && !unlocking {
        return Err(ApiError::forbidden(format!(
            "Role {} is immutable and cannot be updated; set options.immutable to false first.",
            r.id
        )));
    }
    if let Some(d) = nullable_id(o, "domain_id")? {
        if d != r.domain_id {
            return Err(ApiError::bad_request("Cannot change the domain_id of a role."));
        }
    }
    if let Some(n) = opt_name(o, "name", 255)? {
        r.name = n;
    }
    if let Some(d) = opt_string(o, "description", 255)? {
        r.description = d;
    }
    if let Some(opts) = opts {
        for (k, v) in opts {
            if v.is_null() {
                r.options.remove(&k);
            } else {
                r.options.insert(k, v);
            }
        }
    }
    for (k, v) in extras(o, &["name", "domain_id", "description", "options", "id", "links"]) {
        r.extra.insert(k, v);
    }
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::update_role(&mut tx, &r).await.map_err(|e| match e {
        db::DbError::Conflict => ApiError::conflict(format!(
            "Conflict occurred attempting to store role - Duplicate entry found with name {}.",
            r.name
        )),
        e => db_err(e),
    })?;
    tx.commit().await.map_err(sql_err)?;
    id.changed().await?;
    Ok(Json(json!({"role": r.to_json(&id.base_url)})))
}

pub async fn delete_role(State(id): S, auth: Auth, Path(rid): Path<String>) -> ApiResult<StatusCode> {
    let r = role_for(&id, &auth, "identity:delete_role", &rid).await?;
    if r.immutable() {
        return Err(ApiError::forbidden(format!("Role {} is immutable and cannot be deleted.", r.id)));
    }
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::delete_role(&mut tx, &r.id).await.map_err(db_err)?;
    tx.commit().await.map_err(sql_err)?;
    id.revoke(RevocationEvent { role_id: Some(r.id), ..Default::default() }).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------- implied roles ----------

fn role_ref(id: &Identity, r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "links": {"self": format!("{}/v3/roles/{}", id.base_url, r.id)}})
}

async fn implied_pair(id: &Identity, auth: &Auth, rule: &str, prior: &str, implied: &str) -> ApiResult<(Role, Role)> {
    id.enforce(auth, rule, &json!({}))?;
    let p = q::get_role(&id.db, prior).await.map_err(db_err)?.ok_or_else(|| not_found("role", prior))?;
    let i = q::get_role(&id.db, implied).await.map_err(db_err)?.ok_or_else(|| not_found("role", implied))?;
    Ok((p, i))
}

fn inference(id: &Identity, p: &Role, i: &Role) -> Value {
    json!({"role_inference": {"prior_role": role_ref(id, p), "implies": role_ref(id, i)},
           "links": {"self": format!("{}/v3/roles/{}/implies/{}", id.base_url, p.id, i.id)}})
}

pub async fn create_implied(
    State(id): S,
    auth: Auth,
    Path((prior, implied)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (p, i) = implied_pair(&id, &auth, "identity:create_implied_role", &prior, &implied).await?;
    if i.name == "admin" || p.id == i.id {
        return Err(ApiError::forbidden(format!("{} may not be an implied role.", i.name)));
    }
    let existing = q::list_implied_roles(&id.db).await.map_err(db_err)?;
    // Refuse cycles: the new implied role must not already imply the prior one.
    let mut seen: HashSet<String> = HashSet::from([i.id.clone()]);
    let mut frontier = vec![i.id.clone()];
    while let Some(r) = frontier.pop() {
        for (a, b) in &existing {
            if *a == r && seen.insert(b.clone()) {
                frontier.push(b.clone());
            }
        }
    }
    if seen.contains(&p.id) {
        return Err(ApiError::forbidden(format!("Role {} implying {} would create a cycle.", p.id, i.id)));
    }
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    match q::insert_implied_role(&mut tx, &p.id, &i.id).await {
        Ok(()) | Err(db::DbError::Conflict) => {}
        Err(e) => return Err(db_err(e)),
    }
    tx.commit().await.map_err(sql_err)?;
    id.changed().await?;
    Ok((StatusCode::CREATED, Json(inference(&id, &p, &i))).into_response())
}

pub async fn get_implied(
    State(id): S,
    auth: Auth,
    Path((prior, implied)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (p, i) = implied_pair(&id, &auth, "identity:get_implied_role", &prior, &implied).await?;
    let all = q::list_implied_roles(&id.db).await.map_err(db_err)?;
    if !all.contains(&(p.id.clone(), i.id.clone())) {
        return Err(ApiError::not_found(format!("{} does not imply {}.", p.id, i.id)));
    }
    Ok(Json(inference(&id, &p, &i)))
}

pub async fn check_implied(state: S, auth: Auth, path: Path<(String, String)>) -> ApiResult<StatusCode> {
    get_implied(state, auth, path).await.map(|_| StatusCode::NO_CONTENT)
}

pub async fn delete_implied(
    State(id): S,
    auth: Auth,
    Path((prior, implied)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (p, i) = implied_pair(&id, &auth, "identity:delete_implied_role", &prior, &implied).await?;
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    let gone = q::delete_implied_role(&mut tx, &p.id, &i.id).await.map_err(db_err)?;
    tx.commit().await.map_err(sql_err)?;
    if !gone {
        return Err(ApiError::not_found(format!("{} does not imply {}.", p.id, i.id)));
    }
    id.revoke(RevocationEvent { role_id: Some(i.id), ..Default::default() }).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_implied(State(id): S, auth: Auth, Path(rid): Path<String>) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:list_implied_roles", &json!({}))?;
    let p = q::get_role(&id.db, &rid).await.map_err(db_err)?.ok_or_else(|| not_found("role", &rid))?;
    let roles = q::list_roles(&id.db).await.map_err(db_err)?;
    let implies: Vec<Value> = q::list_implied_roles(&id.db)
        .await
        .map_err(db_err)?
        .iter()
        .filter(|(a, _)| *a == p.id)
        .filter_map(|(_, b)| roles.iter().find(|r| r.id == *b).map(|r| role_ref(&id, r)))
        .collect();
    Ok(Json(json!({"role_inference": {"prior_role": role_ref(&id, &p), "implies": implies},
                   "links": {"self": format!("{}/v3/roles/{}/implies", id.base_url, p.id)}})))
}

pub async fn list_inferences(State(id): S, auth: Auth) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:list_role_inference_rules", &json!({}))?;
    let roles = q::list_roles(&id.db).await.map_err(db_err)?;
    let rules = q::list_implied_roles(&id.db).await.map_err(db_err)?;
    let mut by_prior: Vec<(String, Vec<Value>)> = Vec::new();
    for (a, b) in &rules {
        let Some(ir) = roles.iter().find(|r| r.id == *b) else { continue };
        match by_prior.iter_mut().find(|(p, _)| p == a) {
            Some((_, v)) => v.push(role_ref(&id, ir)),
            None => by_prior.push((a.clone(), vec![role_ref(&id, ir)])),
        }
    }
    let out: Vec<Value> = by_prior
        .into_iter()
        .filter_map(|(p, implies)| {
            roles.iter().find(|r| r.id == p).map(|pr| json!({"prior_role": role_ref(&id, pr), "implies": implies}))
        })
        .collect();
    Ok(Json(json!({"role_inferences": out, "links": {"self": format!("{}/v3/role_inferences", id.base_url)}})))
}

// ---------- grants ----------

/// A grant path resolved: who, on what, with which assignment type.
struct Grant {
    kind: AssignmentType,
    actor_id: String,
    target_id: String,
    target: Value,
    /// Users whose tokens a removal should revoke.
    affected_users: Vec<String>,
    project_id: Option<String>,
}

async fn resolve_grant(
    id: &Identity,
    target_kind: &str,
    target: &str,
    actor_kind: &str,
    actor: &str,
) -> ApiResult<Grant> {
    let mut t = serde_json::Map::new();
    let (is_user, affected) = match actor_kind {
        "users" => {
            let u = q::get_user(&id.db, actor).await.map_err(db_err)?.ok_or_else(|| not_found("user", actor))?;
            t.insert("user".into(), json!({"id": u.id, "domain_id": u.domain_id}));
            (true, vec![u.id])
        }
        "groups" => {
            let g = q::get_group(&id.db, actor).await.map_err(db_err)?.ok_or_else(|| not_found("group", actor))?;
            t.insert("group".into(), json!({"id": g.id, "domain_id": g.domain_id}));
            let members = q::list_group_users(&id.db, &g.id).await.map_err(db_err)?;
            (false, members.into_iter().map(|u| u.id).collect())
        }
        _ => {
            return Err(ApiError::not_found(format!(
                "The resource could not be found: unknown actor type {actor_kind}."
            )))
        }
    };
    let (kind, project_id) = match (target_kind, is_user) {
        ("projects", u) => {
            let p = super::projects::load_project(id, target).await?;
            t.insert("project".into(), json!({"id": p.id, "domain_id": p.domain_id}));
            (if u { AssignmentType::UserProject } else { AssignmentType::GroupProject }, Some(p.id))
        }
        ("domains", u) => {
            let d = super::projects::load_domain(id, target).await?;
            t.insert("domain".into(), json!({"id": d.id}));
            (if u { AssignmentType::UserDomain } else { AssignmentType::GroupDomain }, None)
        }
        ("system", u) => (if u { AssignmentType::UserSystem } else { AssignmentType::GroupSystem }, None),
        _ => {
            return Err(ApiError::not_found(format!(
                "The resource could not be found: unknown target type {target_kind}."
            )))
        }
    };
    Ok(Grant {
        kind,
        actor_id: actor.to_string(),
        target_id: target.to_string(),
        target: Value::Object(t),
        affected_users: affected,
        project_id,
    })
}

async fn grant_role(id: &Identity, g: &mut Grant, rid: &str) -> ApiResult<Role> {
    let r = q::get_role(&id.db, rid).await.map_err(db_err)?.ok_or_else(|| not_found("role", rid))?;
    g.target["role"] = json!({"id": r.id, "domain_id": r.domain_id});
    Ok(r)
}

fn system_rule(rule: &str, kind: AssignmentType) -> String {
    match (rule, kind.is_group()) {
        ("identity:create_grant", false) => "identity:create_system_grant_for_user".into(),
        ("identity:create_grant", true) => "identity:create_system_grant_for_group".into(),
        ("identity:check_grant", false) => "identity:check_system_grant_for_user".into(),
        ("identity:check_grant", true) => "identity:check_system_grant_for_group".into(),
        ("identity:revoke_grant", false) => "identity:revoke_system_grant_for_user".into(),
        ("identity:revoke_grant", true) => "identity:revoke_system_grant_for_group".into(),
        ("identity:list_grants", false) => "identity:list_system_grants_for_user".into(),
        _ => "identity:list_system_grants_for_group".into(),
    }
}

async fn do_grant(
    id: &Identity,
    auth: &Auth,
    op: &str,
    (tk, t, ak, a, rid): (&str, &str, &str, &str, &str),
    inherited: bool,
) -> ApiResult<StatusCode> {
    let mut g = resolve_grant(id, tk, t, ak, a).await?;
    let role = grant_role(id, &mut g, rid).await?;
    let rule = if tk == "system" { system_rule(op, g.kind) } else { op.to_string() };
    id.enforce(auth, &rule, &json!({"target": g.target}))?;
    if tk == "system" {
        g.target_id = "system".into();
    }
    let a = Assignment {
        kind: g.kind,
        actor_id: g.actor_id.clone(),
        target_id: g.target_id.clone(),
        role_id: role.id.clone(),
        inherited,
    };
    match op {
        "identity:create_grant" => {
            if let (Some(rd), Some(pd)) =
                (&role.domain_id, g.target.pointer("/project/domain_id").and_then(Value::as_str))
            {
                if rd != pd {
                    return Err(ApiError::forbidden("A domain-specific role can only be granted within its domain."));
                }
            }
            q::insert_assignment(id.db.writer(), &a).await.map_err(db_err)?;
            id.changed().await?;
            Ok(StatusCode::NO_CONTENT)
        }
        "identity:revoke_grant" => {
            if !q::delete_assignment(id.db.writer(), &a).await.map_err(db_err)? {
                return Err(grant_not_found(&role.id, &g));
            }
            for u in &g.affected_users {
                id.revoke(RevocationEvent {
                    user_id: Some(u.clone()),
                    project_id: g.project_id.clone(),
                    ..Default::default()
                })
                .await?;
            }
            id.changed().await?;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => {
            if q::assignment_exists(&id.db, &a).await.map_err(db_err)? {
                Ok(StatusCode::NO_CONTENT)
            } else {
                Err(grant_not_found(&role.id, &g))
            }
        }
    }
}

fn grant_not_found(role_id: &str, g: &Grant) -> ApiError {
    let actor = if g.kind.is_group() { "group" } else { "user" };
    ApiError::not_found(format!(
        "Could not find role assignment with role: {role_id}, {actor}: {}, target: {}.",
        g.actor_id, g.target_id
    ))
}

type GrantPath = Path<(String, String, String, String, String)>;

pub async fn create_grant(State(id): S, auth: Auth, Path((tk, t, ak, a, r)): GrantPath) -> ApiResult<StatusCode> {
    do_grant(&id, &auth, "identity:create_grant", (&tk, &t, &ak, &a, &r), false).await
}
pub async fn check_grant(State(id): S, auth: Auth, Path((tk, t, ak, a, r)): GrantPath) -> ApiResult<StatusCode> {
    do_grant(&id, &auth, "identity:check_grant", (&tk, &t, &ak, &a, &r), false).await
}
pub async fn delete_grant(State(id): S, auth: Auth, Path((tk, t, ak, a, r)): GrantPath) -> ApiResult<StatusCode> {
    do_grant(&id, &auth, "identity:revoke_grant", (&tk, &t, &ak, &a, &r), false).await
}
pub async fn create_inherited_grant(
    State(id): S,
    auth: Auth,
    Path((tk, t, ak, a, r)): GrantPath,
) -> ApiResult<StatusCode> {
    do_grant(&id, &auth, "identity:create_grant", (&tk, &t, &ak, &a, &r), true).await
}
pub async fn check_inherited_grant(
    State(id): S,
    auth: Auth,
    Path((tk, t, ak, a, r)): GrantPath,
) -> ApiResult<StatusCode> {
    do_grant(&id, &auth, "identity:check_grant", (&tk, &t, &ak, &a, &r), true).await
}
pub async fn delete_inherited_grant(
    State(id): S,
    auth: Auth,
    Path((tk, t, ak, a, r)): GrantPath,
) -> ApiResult<StatusCode> {
    do_grant(&id, &auth, "identity:revoke_grant", (&tk, &t, &ak, &a, &r), true).await
}
pub async fn create_system_grant(
    State(id): S,
    auth: Auth,
    Path((ak, a, r)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    do_grant(&id, &auth, "identity:create_grant", ("system", "system", &ak, &a, &r), false).await
}
pub async fn check_system_grant(
    State(id): S,
    auth: Auth,
    Path((ak, a, r)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    do_grant(&id, &auth, "identity:check_grant", ("system", "system", &ak, &a, &r), false).await
}
pub async fn delete_system_grant(
    State(id): S,
    auth: Auth,
    Path((ak, a, r)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    do_grant(&id, &auth, "identity:revoke_grant", ("system", "system", &ak, &a, &r), false).await
}

async fn grant_list(
    id: &Identity,
    auth: &Auth,
    tk: &str,
    t: &str,
    ak: &str,
    a: &str,
    inherited: bool,
) -> ApiResult<Json<Value>> {
    let mut g = resolve_grant(id, tk, t, ak, a).await?;
    let rule =
        if tk == "system" { system_rule("identity:list_grants", g.kind) } else { "identity:list_grants".to_string() };
    id.enforce(auth, &rule, &json!({"target": g.target}))?;
    if tk == "system" {
        g.target_id = "system".into();
    }
    let roles = q::list_roles(&id.db).await.map_err(db_err)?;
    let items: Vec<Value> = q::list_assignments_for_actors(&id.db, std::slice::from_ref(&g.actor_id))
        .await
        .map_err(db_err)?
        .into_iter()
        .filter(|x| x.kind == g.kind && x.target_id == g.target_id && x.inherited == inherited)
        .filter_map(|x| roles.iter().find(|r| r.id == x.role_id).map(|r| r.to_json(&id.base_url)))
        .collect();
    let path = if tk == "system" { format!("system/{ak}/{a}/roles") } else { format!("{tk}/{t}/{ak}/{a}/roles") };
    Ok(list_body(id, "roles", &path, items))
}

pub async fn list_grants(
    State(id): S,
    auth: Auth,
    Path((tk, t, ak, a)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    grant_list(&id, &auth, &tk, &t, &ak, &a, false).await
}
pub async fn list_inherited_grants(
    State(id): S,
    auth: Auth,
    Path((tk, t, ak, a)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    grant_list(&id, &auth, &tk, &t, &ak, &a, true).await
}
pub async fn list_system_grants(
    State(id): S,
    auth: Auth,
    Path((ak, a)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    grant_list(&id, &auth, "system", "system", &ak, &a, false).await
}

// ---------- GET /v3/role_assignments ----------

#[derive(Clone)]
struct Row {
    user: Option<String>,
    group: Option<String>,
    role: String,
    scope: RowScope,
    inherited: bool,
    membership: Option<String>,
    prior_role: Option<String>,
    /// The assignment this row was derived from (for the `assignment` link).
    source: Assignment,
}

#[derive(Clone, PartialEq)]
enum RowScope {
    Project(String),
    Domain(String),
    System,
}

fn assignment_link(base: &str, a: &Assignment) -> String {
    let actor = if a.kind.is_group() { "groups" } else { "users" };
    match a.kind {
        AssignmentType::UserSystem | AssignmentType::GroupSystem => {
            format!("{base}/v3/system/{actor}/{}/roles/{}", a.actor_id, a.role_id)
        }
        _ => {
            let t = if matches!(a.kind, AssignmentType::UserProject | AssignmentType::GroupProject) {
                "projects"
            } else {
                "domains"
            };
            if a.inherited {
                format!(
                    "{base}/v3/OS-INHERIT/{t}/{}/{actor}/{}/roles/{}/inherited_to_projects",
                    a.target_id, a.actor_id, a.role_id
                )
            } else {
                format!("{base}/v3/{t}/{}/{actor}/{}/roles/{}", a.target_id, a.actor_id, a.role_id)
            }
        }
    }
}

fn on(qs: &HashMap<String, String>, k: &str) -> bool {
    qs.get(k).is_some_and(|v| v.is_empty() || !matches!(v.to_ascii_lowercase().as_str(), "false" | "0" | "no"))
}

pub async fn list_assignments(State(id): S, auth: Auth, Query(qs): Params) -> ApiResult<Json<Value>> {
    let effective = on(&qs, "effective");
    let names = on(&qs, "include_names");
    let subtree = on(&qs, "include_subtree");
    let f_user = qs.get("user.id");
    let f_group = qs.get("group.id");
    let f_role = qs.get("role.id");
    let f_project = qs.get("scope.project.id");
    let f_domain = qs.get("scope.domain.id");
    let f_system = qs.get("scope.system");
    let f_inherited = qs.get("scope.OS-INHERIT:inherited_to");
    if f_user.is_some() && f_group.is_some() {
        return Err(ApiError::bad_request("Specify a user or group, not both."));
    }
    if [f_project.is_some(), f_domain.is_some(), f_system.is_some()].iter().filter(|x| **x).count() > 1 {
        return Err(ApiError::bad_request("Specify one of domain, project or system as the scope."));
    }
    if effective && f_group.is_some() {
        return Err(ApiError::bad_request("Combining effective and group filter will always result in an empty list."));
    }
    if subtree && f_project.is_none() {
        return Err(ApiError::bad_request(
            "scope.project.id needs to be specified if include_subtree is also specified.",
        ));
    }
    let projects = q::list_projects(&id.db, false).await.map_err(db_err)?;
    if subtree {
        let pid = f_project.expect("checked");
        let p = projects.iter().find(|p| p.id == *pid);
        id.enforce(
            &auth,
            "identity:list_role_assignments_for_tree",
            &json!({"target": {"project": {"id": pid, "domain_id": p.map(|p| p.domain_id.clone())}}}),
        )?;
    } else {
        let domain = f_domain.cloned().or_else(|| auth.domain_id.clone());
        id.enforce(&auth, "identity:list_role_assignments", &json!({"target": {"domain_id": domain}}))?;
    }

    let roles = q::list_roles(&id.db).await.map_err(db_err)?;
    let implied = q::list_implied_roles(&id.db).await.map_err(db_err)?;
    let all = q::list_assignments(&id.db).await.map_err(db_err)?;
    let mut members: HashMap<String, Vec<String>> = HashMap::new();
    if effective {
        for g in q::list_groups(&id.db).await.map_err(db_err)? {
            let users = q::list_group_users(&id.db, &g.id).await.map_err(db_err)?;
            members.insert(g.id, users.into_iter().map(|u| u.id).collect());
        }
    }
    let descendants = |root: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut frontier = vec![root.to_string()];
        while let Some(x) = frontier.pop() {
            for c in projects.iter().filter(|c| c.parent_id.as_deref() == Some(x.as_str()) && c.id != x) {
                if !out.contains(&c.id) {
                    out.push(c.id.clone());
                    frontier.push(c.id.clone());
                }
            }
        }
        out
    };

    let mut rows: Vec<Row> = Vec::new();
    for a in &all {
        let (user, group) =
            if a.kind.is_group() { (None, Some(a.actor_id.clone())) } else { (Some(a.actor_id.clone()), None) };
        let scope = match a.kind {
            AssignmentType::UserProject | AssignmentType::GroupProject => RowScope::Project(a.target_id.clone()),
            AssignmentType::UserDomain | AssignmentType::GroupDomain => RowScope::Domain(a.target_id.clone()),
            _ => RowScope::System,
        };
        let base = Row {
            user,
            group,
            role: a.role_id.clone(),
            scope,
            inherited: a.inherited,
            membership: None,
            prior_role: None,
            source: a.clone(),
        };
        let mut expanded = vec![base.clone()];
        if effective {
            if a.inherited {
                // Each project the role is inherited to; as in Keystone the
                // rows keep `OS-INHERIT:inherited_to` and link to the
                // inherited assignment.
                expanded = match &base.scope {
                    RowScope::Domain(d) => projects
                        .iter()
                        .filter(|p| p.domain_id == *d)
                        .map(|p| Row { scope: RowScope::Project(p.id.clone()), ..base.clone() })
                        .collect(),
                    RowScope::Project(p) => descendants(p)
                        .into_iter()
                        .map(|c| Row { scope: RowScope::Project(c), ..base.clone() })
                        .collect(),
                    RowScope::System => vec![],
                };
            }
            if let Some(g) = &base.group {
                let users = members.get(g).cloned().unwrap_or_default();
                expanded = expanded
                    .into_iter()
                    .flat_map(|r| {
                        users
                            .iter()
                            .map(move |u| Row {
                                user: Some(u.clone()),
                                group: None,
                                membership: Some(g.clone()),
                                ..r.clone()
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect();
            }
            let mut with_implied = Vec::new();
            for r in expanded {
                let mut frontier = vec![r.role.clone()];
                let mut seen = HashSet::from([r.role.clone()]);
                with_implied.push(r.clone());
                while let Some(p) = frontier.pop() {
                    for (a2, b2) in implied.iter().filter(|(a2, _)| *a2 == p) {
                        if seen.insert(b2.clone()) {
                            frontier.push(b2.clone());
                            with_implied.push(Row { role: b2.clone(), prior_role: Some(a2.clone()), ..r.clone() });
                        }
                    }
                }
            }
            expanded = with_implied;
        }
        rows.extend(expanded);
    }

    let project_set: Option<Vec<String>> = f_project.map(|p| {
        let mut v = vec![p.clone()];
        if subtree {
            v.extend(descendants(p));
        }
        v
    });
    rows.retain(|r| {
        f_user.is_none_or(|u| r.user.as_ref() == Some(u))
            && f_group.is_none_or(|g| r.group.as_ref() == Some(g))
            && f_role.is_none_or(|x| r.role == *x)
            && project_set.as_ref().is_none_or(|ps| matches!(&r.scope, RowScope::Project(p) if ps.contains(p)))
            && f_domain.is_none_or(|d| r.scope == RowScope::Domain(d.clone()))
            && f_system.is_none_or(|_| r.scope == RowScope::System)
            && f_inherited.is_none_or(|_| r.inherited)
    });
    // Effective lists may name one assignment twice (direct and via a group).
    let mut seen = HashSet::new();
    rows.retain(|r| !effective || seen.insert((r.user.clone(), r.role.clone(), scope_key(&r.scope))));

    let users: HashMap<String, User> = if names {
        q::list_users(&id.db).await.map_err(db_err)?.into_iter().map(|u| (u.id.clone(), u)).collect()
    } else {
        HashMap::new()
    };
    let groups: HashMap<String, Group> = if names {
        q::list_groups(&id.db).await.map_err(db_err)?.into_iter().map(|g| (g.id.clone(), g)).collect()
    } else {
        HashMap::new()
    };
    let domains: HashMap<String, Project> =
        q::list_projects(&id.db, true).await.map_err(db_err)?.into_iter().map(|d| (d.id.clone(), d)).collect();
    let dref = |did: &str| json!({"id": did, "name": domains.get(did).map(|d| d.name.clone())});
    let base = &id.base_url;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = json!({});
            let role = roles.iter().find(|x| x.id == r.role);
            v["role"] = if names {
                let mut rj = json!({"id": r.role, "name": role.map(|x| x.name.clone())});
                if let Some(d) = role.and_then(|x| x.domain_id.clone()) {
                    rj["domain"] = dref(&d);
                }
                rj
            } else {
                json!({"id": r.role})
            };
            if let Some(u) = &r.user {
                v["user"] = match users.get(u) {
                    Some(x) => json!({"id": u, "name": x.name, "domain": dref(&x.domain_id)}),
                    None => json!({"id": u}),
                };
            }
            if let Some(g) = &r.group {
                v["group"] = match groups.get(g) {
                    Some(x) => json!({"id": g, "name": x.name, "domain": dref(&x.domain_id)}),
                    None => json!({"id": g}),
                };
            }
            let mut scope = match &r.scope {
                RowScope::Project(p) => {
                    let pr = projects.iter().find(|x| x.id == *p);
                    if names {
                        json!({"project": {"id": p, "name": pr.map(|x| x.name.clone()), "domain": pr.map(|x| dref(&x.domain_id))}})
                    } else {
                        json!({"project": {"id": p}})
                    }
                }
                RowScope::Domain(d) => {
                    if names {
                        json!({"domain": dref(d)})
                    } else {
                        json!({"domain": {"id": d}})
                    }
                }
                RowScope::System => json!({"system": {"all": true}}),
            };
            if r.inherited {
                scope["OS-INHERIT:inherited_to"] = json!("projects");
            }
            v["scope"] = scope;
            let mut links = json!({"assignment": assignment_link(base, &r.source)});
            if let (Some(g), Some(u)) = (&r.membership, &r.user) {
                links["membership"] = json!(format!("{base}/v3/groups/{g}/users/{u}"));
            }
            if let Some(p) = &r.prior_role {
                links["prior_role"] = json!(format!("{base}/v3/roles/{p}/implies/{}", r.role));
            }
            v["links"] = links;
            v
        })
        .collect();
    Ok(list_body(&id, "role_assignments", "role_assignments", items))
}

fn scope_key(s: &RowScope) -> String {
    match s {
        RowScope::Project(p) => format!("p:{p}"),
        RowScope::Domain(d) => format!("d:{d}"),
        RowScope::System => "s".into(),
    }
}
