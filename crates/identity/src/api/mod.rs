//! Identity's HTTP layer: routes, request parsing and response shaping.
//! Handlers are thin: they check input and policy, then call `core` and `db`.

mod appcreds;
mod auth;
mod catalog;
mod input;
mod projects;
mod roles;
mod users;

use std::collections::HashMap;
use std::sync::Arc;

use api_core::{ApiError, ApiResult, Json};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::{json, Value};

use crate::core::Identity;

pub fn router(id: Arc<Identity>) -> Router {
    let v3 = Router::new()
        .route("/", get(version_v3))
        .route("/auth/tokens", post(auth::issue).get(auth::validate).head(auth::check).delete(auth::revoke))
        .route("/auth/catalog", get(auth::catalog))
        .route("/auth/projects", get(auth::projects))
        .route("/auth/domains", get(auth::domains))
        .route("/auth/system", get(auth::system))
        .route("/domains", get(projects::list_domains).post(projects::create_domain))
        .route(
            "/domains/{id}",
            get(projects::get_domain).patch(projects::update_domain).delete(projects::delete_domain),
        )
        .route("/projects", get(projects::list_projects).post(projects::create_project))
        .route(
            "/projects/{id}",
            get(projects::get_project).patch(projects::update_project).delete(projects::delete_project),
        )
        .route(
            "/projects/{id}/tags",
            get(projects::list_tags).put(projects::replace_tags).delete(projects::delete_tags),
        )
        .route(
            "/projects/{id}/tags/{tag}",
            get(projects::check_tag).head(projects::check_tag).put(projects::add_tag).delete(projects::delete_tag),
        )
        .route("/users", get(users::list_users).post(users::create_user))
        .route("/users/{id}", get(users::get_user).patch(users::update_user).delete(users::delete_user))
        .route("/users/{id}/password", post(users::change_password))
        .route("/users/{id}/groups", get(users::list_user_groups))
        .route("/users/{id}/projects", get(users::list_user_projects))
        .route("/groups", get(users::list_groups).post(users::create_group))
        .route("/groups/{id}", get(users::get_group).patch(users::update_group).delete(users::delete_group))
        .route("/groups/{id}/users", get(users::list_group_users))
        .route(
            "/groups/{gid}/users/{uid}",
            put(users::add_member).head(users::check_member).get(users::check_member).delete(users::remove_member),
        )
        .route("/roles", get(roles::list_roles).post(roles::create_role))
        .route("/roles/{id}", get(roles::get_role).patch(roles::update_role).delete(roles::delete_role))
        .route("/roles/{id}/implies", get(roles::list_implied))
        .route(
            "/roles/{prior}/implies/{implied}",
            put(roles::create_implied).get(roles::get_implied).head(roles::check_implied).delete(roles::delete_implied),
        )
        .route("/role_inferences", get(roles::list_inferences))
        .route("/role_assignments", get(roles::list_assignments))
        .route("/{target_kind}/{target}/{actor_kind}/{actor}/roles", get(roles::list_grants))
        .route(
            "/{target_kind}/{target}/{actor_kind}/{actor}/roles/{role}",
            put(roles::create_grant).get(roles::check_grant).head(roles::check_grant).delete(roles::delete_grant),
        )
        .route(
            "/OS-INHERIT/{target_kind}/{target}/{actor_kind}/{actor}/roles/inherited_to_projects",
            get(roles::list_inherited_grants),
        )
        .route(
            "/OS-INHERIT/{target_kind}/{target}/{actor_kind}/{actor}/roles/{role}/inherited_to_projects",
            put(roles::create_inherited_grant)
                .get(roles::check_inherited_grant)
                .head(roles::check_inherited_grant)
                .delete(roles::delete_inherited_grant),
        )
        .route("/system/{actor_kind}/{actor}/roles", get(roles::list_system_grants))
        .route(
            "/system/{actor_kind}/{actor}/roles/{role}",
            put(roles::create_system_grant)
                .get(roles::check_system_grant)
                .head(roles::check_system_grant)
                .delete(roles::delete_system_grant),
        )
        .route("/regions", get(catalog::list_regions).post(catalog::create_region))
        .route(
            "/regions/{id}",
            get(catalog::get_region)
                .patch(catalog::update_region)
                .delete(catalog::delete_region)
                .put(catalog::put_region),
        )
        .route("/services", get(catalog::list_services).post(catalog::create_service))
        .route(
            "/services/{id}",
            get(catalog::get_service).patch(catalog::update_service).delete(catalog::delete_service),
        )
        .route("/endpoints", get(catalog::list_endpoints).post(catalog::create_endpoint))
        .route(
            "/endpoints/{id}",
            get(catalog::get_endpoint).patch(catalog::update_endpoint).delete(catalog::delete_endpoint),
        )
        .route("/users/{uid}/application_credentials", get(appcreds::list).post(appcreds::create))
        .route("/users/{uid}/application_credentials/{id}", get(appcreds::get).delete(appcreds::delete))
        .route("/users/{uid}/access_rules", get(appcreds::list_access_rules))
        .route("/users/{uid}/access_rules/{id}", get(appcreds::get_access_rule).delete(appcreds::delete_access_rule))
        .route("/credentials", get(appcreds::list_credentials).post(appcreds::create_credential))
        .route(
            "/credentials/{id}",
            get(appcreds::get_credential).patch(appcreds::update_credential).delete(appcreds::delete_credential),
        )
        .route("/registered_limits", get(appcreds::list_registered_limits).post(appcreds::create_registered_limits))
        .route(
            "/registered_limits/{id}",
            get(appcreds::get_registered_limit)
                .patch(appcreds::update_registered_limit)
                .delete(appcreds::delete_registered_limit),
        )
        .route("/limits", get(appcreds::list_limits).post(appcreds::create_limits))
        .route("/limits/model", get(appcreds::limits_model))
        .route("/limits/{id}", get(appcreds::get_limit).patch(appcreds::update_limit).delete(appcreds::delete_limit))
        .with_state(id.clone());
    Router::new().route("/", get(versions)).route("/openapi.json", get(openapi)).nest("/v3", v3).with_state(id)
}

fn v3_doc(base: &str) -> Value {
    json!({
        "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

async fn versions(axum::extract::State(id): axum::extract::State<Arc<Identity>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = json!({"versions": {"values": [v3_doc(&id.base_url)]}});
    (axum::http::StatusCode::MULTIPLE_CHOICES, Json(body)).into_response()
}

/// Every Keystone operation, from the operations the policy defaults declare.
async fn openapi(axum::extract::State(id): axum::extract::State<Arc<Identity>>) -> Json<Value> {
    let ops = crate::policies::DEFAULTS.iter().flat_map(|r| {
        r.operations.iter().map(move |(method, path)| api_core::openapi::Operation {
            method,
            path,
            summary: r.description,
            operation_id: r.name,
        })
    });
    Json(api_core::openapi::document("ferrostack Identity (Keystone v3)", "3.14", &id.base_url, ops))
}

async fn version_v3(axum::extract::State(id): axum::extract::State<Arc<Identity>>) -> Json<Value> {
    Json(json!({"version": v3_doc(&id.base_url)}))
}

/// Keystone's list filters applied to the JSON of each item: exact match on
/// a field, or `field__contains`, `__icontains`, `__startswith`,
/// `__istartswith`, `__endswith`, `__iendswith`, `__equals`, `__iequals`.
pub(crate) fn filter_list(
    items: Vec<Value>,
    query: &HashMap<String, String>,
    fields: &[&str],
) -> ApiResult<Vec<Value>> {
    let mut filters: Vec<(&str, &str, &str)> = Vec::new();
    for (k, v) in query {
        let (field, op) = k.split_once("__").unwrap_or((k.as_str(), "equals"));
        if !fields.contains(&field) {
            continue;
        }
        if !matches!(
            op,
            "equals" | "iequals" | "contains" | "icontains" | "startswith" | "istartswith" | "endswith" | "iendswith"
        ) {
            return Err(ApiError::bad_request(format!("Invalid filter {k}: unknown operator {op}.")));
        }
        filters.push((field, op, v.as_str()));
    }
    Ok(items
        .into_iter()
        .filter(|item| {
            filters.iter().all(|(field, op, want)| {
                let have = match item.get(*field) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Bool(b)) => {
                        let want_b = !matches!(want.to_ascii_lowercase().as_str(), "false" | "0" | "no" | "off");
                        return *b == want_b;
                    }
                    Some(Value::Null) | None => return want.is_empty() || *want == "null" && *op == "equals",
                    Some(v) => v.to_string(),
                };
                let (h, w) = if op.starts_with('i') {
                    (have.to_lowercase(), want.to_lowercase())
                } else {
                    (have, want.to_string())
                };
                match op.trim_start_matches('i') {
                    "equals" => h == w,
                    "contains" => h.contains(&w),
                    "startswith" => h.starts_with(&w),
                    "endswith" => h.ends_with(&w),
                    _ => false,
                }
            })
        })
        .collect())
}

/// `{"<key>": [...], "links": {...}}`, cut to `list_limit` with `truncated`.
pub(crate) fn list_body(id: &Identity, key: &str, path: &str, mut items: Vec<Value>) -> Json<Value> {
    let mut body = json!({"links": {"self": format!("{}/v3/{path}", id.base_url), "previous": null, "next": null}});
    if id.config.list_limit > 0 && items.len() > id.config.list_limit {
        items.truncate(id.config.list_limit);
        body["truncated"] = json!(true);
    }
    body[key] = Value::Array(items);
    Json(body)
}
