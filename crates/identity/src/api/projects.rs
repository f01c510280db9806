//! Domains and projects (a domain is a project with `is_domain`).

use std::collections::HashMap;
use std::sync::Arc;

use api_core::{ApiError, ApiResult, Auth, Json};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::input::*;
use super::{filter_list, list_body};
use crate::core::{db_err, not_found, sql_err, Identity, Scope};
use crate::db as q;
use crate::model::*;

type S = State<Arc<Identity>>;
type Params = Query<HashMap<String, String>>;

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

pub(crate) async fn load_domain(id: &Identity, domain_id: &str) -> ApiResult<Project> {
    q::get_project(&id.db, domain_id)
        .await
        .map_err(db_err)?
        .filter(|p| p.is_domain)
        .ok_or_else(|| not_found("domain", domain_id))
}

pub(crate) async fn load_project(id: &Identity, project_id: &str) -> ApiResult<Project> {
    q::get_project(&id.db, project_id)
        .await
        .map_err(db_err)?
        .filter(|p| !p.is_domain)
        .ok_or_else(|| not_found("project", project_id))
}

fn dup(kind: &str, name: &str, e: db::DbError) -> ApiError {
    match e {
        db::DbError::Conflict => ApiError::conflict(format!(
            "Conflict occurred attempting to store {kind} - Duplicate entry found with name {name}."
        )),
        e => db_err(e),
    }
}

// ---------- domains ----------

pub async fn list_domains(State(id): S, auth: Auth, Query(qs): Params) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:list_domains", &json!({}))?;
    let items = q::list_projects(&id.db, true).await.map_err(db_err)?;
    let items = items.iter().map(|d| d.to_domain_json(&id.base_url)).collect();
    let items = filter_list(items, &qs, &["name", "enabled"])?;
    Ok(list_body(&id, "domains", "domains", items))
}

pub async fn get_domain(State(id): S, auth: Auth, Path(did): Path<String>) -> ApiResult<Json<Value>> {
    let d = q::get_project(&id.db, &did).await.map_err(db_err)?.filter(|p| p.is_domain);
    id.enforce(&auth, "identity:get_domain", &json!({"target": {"domain": {"id": did}}}))?;
    let d = d.ok_or_else(|| not_found("domain", &did))?;
    Ok(Json(json!({"domain": d.to_domain_json(&id.base_url)})))
}

pub async fn create_domain(State(id): S, auth: Auth, Json(body): Json<Value>) -> ApiResult<Response> {
    id.enforce(&auth, "identity:create_domain", &json!({}))?;
    let o = object(&body, "domain")?;
    let name = name(o, "name", 64)?;
    let did = match opt_id(o, "explicit_domain_id")? {
        Some(x) => x,
        None => new_id(),
    };
    let d = Project {
        id: did.clone(),
        name: name.clone(),
        domain_id: DOMAIN_ROOT.to_string(),
        description: opt_string(o, "description", 65535)?.unwrap_or_default(),
        enabled: opt_bool(o, "enabled")?.unwrap_or(true),
        parent_id: None,
        is_domain: true,
        extra: extras(o, &["name", "description", "enabled", "tags", "options", "explicit_domain_id", "id", "links"]),
        tags: tags(o)?.unwrap_or_default(),
    };
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::insert_project(&mut tx, &d).await.map_err(|e| dup("domain", &name, e))?;
    tx.commit().await.map_err(sql_err)?;
    Ok(created(json!({"domain": d.to_domain_json(&id.base_url)})))
}

pub async fn update_domain(
    State(id): S,
    auth: Auth,
    Path(did): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    id.enforce(&auth, "identity:update_domain", &json!({"target": {"domain": {"id": did}}}))?;
    let o = object(&body, "domain")?;
    let mut d = load_domain(&id, &did).await?;
    if let Some(n) = opt_name(o, "name", 64)? {
        d.name = n;
    }
    if let Some(desc) = opt_string(o, "description", 65535)? {
        d.description = desc;
    }
    let was_enabled = d.enabled;
    if let Some(e) = opt_bool(o, "enabled")? {
        d.enabled = e;
    }
    if let Some(t) = tags(o)? {
        d.tags = t;
    }
    for (k, v) in extras(o, &["name", "description", "enabled", "tags", "options", "id", "links"]) {
        d.extra.insert(k, v);
    }
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::update_project(&mut tx, &d).await.map_err(|e| dup("domain", &d.name, e))?;
    tx.commit().await.map_err(sql_err)?;
    if was_enabled && !d.enabled {
        id.revoke(RevocationEvent { domain_id: Some(d.id.clone()), ..Default::default() }).await?;
    }
    id.changed().await?;
    Ok(Json(json!({"domain": d.to_domain_json(&id.base_url)})))
}

pub async fn delete_domain(State(id): S, auth: Auth, Path(did): Path<String>) -> ApiResult<StatusCode> {
    id.enforce(&auth, "identity:delete_domain", &json!({"target": {"domain": {"id": did}}}))?;
    let d = load_domain(&id, &did).await?;
    if d.enabled {
        return Err(ApiError::forbidden("Cannot delete a domain that is enabled, please disable it first."));
    }
    if d.id == DEFAULT_DOMAIN_ID {
        return Err(ApiError::forbidden("The default domain cannot be deleted."));
    }
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::delete_domain_contents(&mut tx, &did).await.map_err(db_err)?;
    q::delete_project(&mut tx, &did).await.map_err(db_err)?;
    tx.commit().await.map_err(sql_err)?;
    id.revoke(RevocationEvent { domain_id: Some(did), ..Default::default() }).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------- projects ----------

pub async fn list_projects(State(id): S, auth: Auth, Query(mut qs): Params) -> ApiResult<Json<Value>> {
    if let (None, Some(d)) = (qs.get("domain_id"), &auth.domain_id) {
        qs.insert("domain_id".into(), d.clone());
    }
    id.enforce(&auth, "identity:list_projects", &json!({"target": {"domain_id": qs.get("domain_id")}}))?;
    let mut items = q::list_projects(&id.db, false).await.map_err(db_err)?;
    if qs.get("is_domain").is_some_and(|v| v == "true" || v == "1") {
        items = q::list_projects(&id.db, true).await.map_err(db_err)?;
    }
    let tag_filter = |key: &str| -> Vec<String> {
        qs.get(key).map(|v| v.split(',').map(str::to_string).collect()).unwrap_or_default()
    };
    let (all, any, not_all, not_any) =
        (tag_filter("tags"), tag_filter("tags-any"), tag_filter("not-tags"), tag_filter("not-tags-any"));
    items.retain(|p| {
        (all.is_empty() || all.iter().all(|t| p.tags.contains(t)))
            && (any.is_empty() || any.iter().any(|t| p.tags.contains(t)))
            && (not_all.is_empty() || !not_all.iter().all(|t| p.tags.contains(t)))
            && (not_any.is_empty() || !not_any.iter().any(|t| p.tags.contains(t)))
    });
    let items: Vec<Value> = items.iter().map(|p| p.to_json(&id.base_url)).collect();
    let items = filter_list(items, &qs, &["name", "enabled", "domain_id", "parent_id"])?;
    Ok(list_body(&id, "projects", "projects", items))
}

async fn subtree(id: &Identity, root: &str) -> ApiResult<Vec<Project>> {
    let all = q::list_projects(&id.db, false).await.map_err(db_err)?;
    let mut out: Vec<Project> = Vec::new();
    let mut frontier = vec![root.to_string()];
    while let Some(p) = frontier.pop() {
        for c in all.iter().filter(|c| c.parent_id.as_deref() == Some(p.as_str()) && c.id != root) {
            if !out.iter().any(|o| o.id == c.id) {
                frontier.push(c.id.clone());
                out.push(c.clone());
            }
        }
    }
    Ok(out)
}

/// The projects of `projects` the user has a role on: Keystone lists only
/// those as a project's parents or subtree.
async fn with_roles(id: &Identity, user_id: &str, projects: Vec<Project>) -> ApiResult<Vec<Project>> {
    let mut out = Vec::new();
    for p in projects {
        if !id.effective_role_ids(user_id, &Scope::Project(p.clone())).await?.is_empty() {
            out.push(p);
        }
    }
    Ok(out)
}

pub async fn get_project(
    State(id): S,
    auth: Auth,
    Path(pid): Path<String>,
    Query(qs): Params,
) -> ApiResult<Json<Value>> {
    let p = q::get_project(&id.db, &pid).await.map_err(db_err)?.filter(|p| !p.is_domain);
    let target = match &p {
        Some(p) => json!({"target": {"project": {"id": p.id, "domain_id": p.domain_id}}}),
        None => json!({"target": {"project": {"id": pid}}}),
    };
    id.enforce(&auth, "identity:get_project", &target)?;
    let p = p.ok_or_else(|| not_found("project", &pid))?;
    let mut v = p.to_json(&id.base_url);
    let on = |k: &str| qs.get(k).is_some_and(|v| v.is_empty() || v == "true" || v == "1");
    if on("parents_as_list") && on("parents_as_ids") {
        return Err(ApiError::bad_request(
            "Cannot use parents_as_list and parents_as_ids query params at the same time.",
        ));
    }
    if on("subtree_as_list") && on("subtree_as_ids") {
        return Err(ApiError::bad_request(
            "Cannot use subtree_as_list and subtree_as_ids query params at the same time.",
        ));
    }
    if on("parents_as_list") || on("parents_as_ids") {
        let ancestors = id.ancestors(&p).await?;
        if on("parents_as_list") {
            let ancestors = with_roles(&id, &auth.user_id, ancestors).await?;
            v["parents"] =
                json!(ancestors.iter().map(|a| json!({"project": a.to_json(&id.base_url)})).collect::<Vec<_>>());
        } else {
            // As Keystone's, the hierarchy's root is the domain.
            let mut ids = json!({ p.domain_id.clone(): null });
            for a in ancestors.iter().rev() {
                let mut m = serde_json::Map::new();
                m.insert(a.id.clone(), ids);
                ids = Value::Object(m);
            }
            v["parents"] = ids;
        }
    }
    if on("subtree_as_list") || on("subtree_as_ids") {
        let sub = subtree(&id, &p.id).await?;
        if on("subtree_as_list") {
            let sub = with_roles(&id, &auth.user_id, sub).await?;
            v["subtree"] = json!(sub.iter().map(|a| json!({"project": a.to_json(&id.base_url)})).collect::<Vec<_>>());
        } else {
            fn tree(id: &str, all: &[Project]) -> Value {
                let kids: serde_json::Map<String, Value> = all
                    .iter()
                    .filter(|c| c.parent_id.as_deref() == Some(id))
                    .map(|c| (c.id.clone(), tree(&c.id, all)))
                    .collect();
                if kids.is_empty() {
                    Value::Null
                } else {
                    Value::Object(kids)
                }
            }
            v["subtree"] = tree(&p.id, &sub);
        }
    }
    Ok(Json(json!({"project": v})))
}

pub async fn create_project(State(id): S, auth: Auth, Json(body): Json<Value>) -> ApiResult<Response> {
    let o = object(&body, "project")?;
    let name = name(o, "name", 64)?;
    let is_domain = opt_bool(o, "is_domain")?.unwrap_or(false);
    let parent_id = nullable_id(o, "parent_id")?.flatten();
    let parent = match &parent_id {
        Some(pid) => Some(
            q::get_project(&id.db, pid)
                .await
                .map_err(db_err)?
                // A 400, as Keystone's (a ValidationError, not a 404).
                .ok_or_else(|| ApiError::bad_request(format!("Could not find project: {pid}.")))?,
        ),
        None => None,
    };
    let domain_id = match (nullable_id(o, "domain_id")?.flatten(), &parent) {
        (Some(d), _) => d,
        (None, Some(p)) if p.is_domain => p.id.clone(),
        (None, Some(p)) => p.domain_id.clone(),
        (None, None) => auth
            .domain_id
            .clone()
            .or_else(|| auth.project_domain_id.clone())
            .unwrap_or_else(|| DEFAULT_DOMAIN_ID.to_string()),
    };
    id.enforce(
        &auth,
        "identity:create_project",
        &json!({"target": {"project": {"domain_id": domain_id, "parent_id": parent_id}}}),
    )?;
    if is_domain {
        return Err(ApiError::bad_request("Create domains with POST /v3/domains."));
    }
    load_domain(&id, &domain_id)
        .await
        .map_err(|_| ApiError::bad_request(format!("Could not find domain: {domain_id}.")))?;
    if let Some(p) = &parent {
        let pd = if p.is_domain { &p.id } else { &p.domain_id };
        if *pd != domain_id {
            return Err(ApiError::bad_request("Cannot create project, the parent is in a different domain."));
        }
    }
    let p = Project {
        id: new_id(),
        name: name.clone(),
        domain_id: domain_id.clone(),
        description: opt_string(o, "description", 65535)?.unwrap_or_default(),
        enabled: opt_bool(o, "enabled")?.unwrap_or(true),
        parent_id: Some(parent_id.unwrap_or(domain_id)),
        is_domain: false,
        extra: extras(
            o,
            &[
                "name",
                "description",
                "enabled",
                "tags",
                "options",
                "is_domain",
                "parent_id",
                "domain_id",
                "id",
                "links",
            ],
        ),
        tags: tags(o)?.unwrap_or_default(),
    };
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::insert_project(&mut tx, &p).await.map_err(|e| dup("project", &name, e))?;
    tx.commit().await.map_err(sql_err)?;
    Ok(created(json!({"project": p.to_json(&id.base_url)})))
}

pub async fn update_project(
    State(id): S,
    auth: Auth,
    Path(pid): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let p = q::get_project(&id.db, &pid).await.map_err(db_err)?.filter(|p| !p.is_domain);
    let target = json!({"target": {"project": {"id": pid, "domain_id": p.as_ref().map(|p| p.domain_id.clone())}}});
    id.enforce(&auth, "identity:update_project", &target)?;
    let mut p = p.ok_or_else(|| not_found("project", &pid))?;
    let o = object(&body, "project")?;
    if o.contains_key("parent_id") || o.contains_key("domain_id") && o.get("domain_id") != Some(&json!(p.domain_id)) {
        return Err(ApiError::forbidden("Update of `parent_id` or `domain_id` is not allowed."));
    }
    if let Some(n) = opt_name(o, "name", 64)? {
        p.name = n;
    }
    if let Some(d) = opt_string(o, "description", 65535)? {
        p.description = d;
    }
    let was_enabled = p.enabled;
    if let Some(e) = opt_bool(o, "enabled")? {
        p.enabled = e;
    }
    if let Some(t) = tags(o)? {
        p.tags = t;
    }
    for (k, v) in
        extras(o, &["name", "description", "enabled", "tags", "options", "is_domain", "id", "links", "domain_id"])
    {
        p.extra.insert(k, v);
    }
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::update_project(&mut tx, &p).await.map_err(|e| dup("project", &p.name, e))?;
    tx.commit().await.map_err(sql_err)?;
    if was_enabled && !p.enabled {
        id.revoke(RevocationEvent { project_id: Some(p.id.clone()), ..Default::default() }).await?;
    }
    id.changed().await?;
    Ok(Json(json!({"project": p.to_json(&id.base_url)})))
}

pub async fn delete_project(State(id): S, auth: Auth, Path(pid): Path<String>) -> ApiResult<StatusCode> {
    let p = q::get_project(&id.db, &pid).await.map_err(db_err)?.filter(|p| !p.is_domain);
    let target = json!({"target": {"project": {"id": pid, "domain_id": p.as_ref().map(|p| p.domain_id.clone())}}});
    id.enforce(&auth, "identity:delete_project", &target)?;
    let p = p.ok_or_else(|| not_found("project", &pid))?;
    if q::count_children(&id.db, &p.id).await.map_err(db_err)? > 0 {
        return Err(ApiError::forbidden(format!(
            "Cannot delete the project {} since it is not a leaf in the hierarchy. Delete its children first.",
            p.id
        )));
    }
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::delete_project(&mut tx, &p.id).await.map_err(db_err)?;
    tx.commit().await.map_err(sql_err)?;
    id.revoke(RevocationEvent { project_id: Some(p.id), ..Default::default() }).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------- project tags ----------

async fn tag_target(id: &Identity, auth: &Auth, rule: &str, pid: &str) -> ApiResult<Project> {
    let p = q::get_project(&id.db, pid).await.map_err(db_err)?.filter(|p| !p.is_domain);
    let target = json!({"target": {"project": {"id": pid, "domain_id": p.as_ref().map(|p| p.domain_id.clone())}}});
    id.enforce(auth, rule, &target)?;
    p.ok_or_else(|| not_found("project", pid))
}

async fn save_tags(id: &Identity, p: &Project) -> ApiResult<()> {
    let mut tx = id.db.writer().begin().await.map_err(sql_err)?;
    q::set_tags(&mut tx, &p.id, &p.tags).await.map_err(db_err)?;
    tx.commit().await.map_err(sql_err)?;
    Ok(())
}

pub async fn list_tags(State(id): S, auth: Auth, Path(pid): Path<String>) -> ApiResult<Json<Value>> {
    let p = tag_target(&id, &auth, "identity:list_project_tags", &pid).await?;
    Ok(Json(json!({"tags": p.tags})))
}

pub async fn replace_tags(
    State(id): S,
    auth: Auth,
    Path(pid): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let mut p = tag_target(&id, &auth, "identity:update_project_tags", &pid).await?;
    let o = body.as_object().ok_or_else(|| invalid("tags", "the body must be {\"tags\": [...]}"))?;
    p.tags =
        tags(o)?.ok_or_else(|| ApiError::bad_request("Invalid input for field '/': 'tags' is a required property"))?;
    save_tags(&id, &p).await?;
    Ok(Json(json!({"tags": p.tags})))
}

pub async fn delete_tags(State(id): S, auth: Auth, Path(pid): Path<String>) -> ApiResult<StatusCode> {
    let mut p = tag_target(&id, &auth, "identity:delete_project_tags", &pid).await?;
    p.tags.clear();
    save_tags(&id, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn check_tag(State(id): S, auth: Auth, Path((pid, tag)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let p = tag_target(&id, &auth, "identity:get_project_tag", &pid).await?;
    if p.tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("Could not find project tag: {tag}.")))
    }
}

pub async fn add_tag(State(id): S, auth: Auth, Path((pid, tag)): Path<(String, String)>) -> ApiResult<Response> {
    let mut p = tag_target(&id, &auth, "identity:create_project_tag", &pid).await?;
    check_tag_value(&tag)?;
    if !p.tags.contains(&tag) {
        if p.tags.len() >= 80 {
            return Err(ApiError::bad_request("A project can have at most 80 tags."));
        }
        p.tags.push(tag);
        save_tags(&id, &p).await?;
    }
    Ok(StatusCode::CREATED.into_response())
}

fn check_tag_value(tag: &str) -> ApiResult<()> {
    super::input::check_tag(tag)
}

pub async fn delete_tag(State(id): S, auth: Auth, Path((pid, tag)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let mut p = tag_target(&id, &auth, "identity:delete_project_tag", &pid).await?;
    if !p.tags.contains(&tag) {
        return Err(ApiError::not_found(format!("Could not find project tag: {tag}.")));
    }
    p.tags.retain(|t| *t != tag);
    save_tags(&id, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}
