//! `/v3/auth/*`: issuing, validating and revoking tokens, and what a token
//! may be scoped to.

use std::sync::Arc;

use api_core::{ApiError, ApiResult, Auth, Json};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::input::{check_nul, invalid};
use crate::core::{db_err, Identity, Scope};
use crate::db as q;
use crate::model::*;
use crate::token::{self, Payload};

type S = State<Arc<Identity>>;

#[derive(Deserialize, Default)]
pub struct TokenQuery {
    /// Present at all (any value, as in Keystone): leave the catalog out.
    nocatalog: Option<String>,
    allow_expired: Option<String>,
}

fn flag(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !matches!(s.to_ascii_lowercase().as_str(), "0" | "false" | "no" | "off"))
}

fn auth_failed() -> ApiError {
    ApiError::unauthorized("The request you have made requires authentication.")
}

fn obj<'a>(v: &'a Value, field: &str) -> ApiResult<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| invalid(field, format!("{v} is not of type 'object'")))
}

fn str_field<'a>(o: &'a Map<String, Value>, field: &str, path: &str) -> ApiResult<Option<&'a str>> {
    match o.get(field) {
        None => Ok(None),
        Some(Value::String(s)) if s.len() <= 4096 => Ok(Some(s)),
        Some(Value::String(_)) => Err(invalid(&format!("{path}.{field}"), "is too long")),
        Some(v) => Err(invalid(&format!("{path}.{field}"), format!("{v} is not of type 'string'"))),
    }
}

/// Finds a domain by `{"id"}` or `{"name"}`.
async fn find_domain(id: &Identity, d: &Map<String, Value>, path: &str) -> ApiResult<Project> {
    let found = if let Some(i) = str_field(d, "id", path)? {
        q::get_project(&id.db, i).await.map_err(db_err)?.filter(|p| p.is_domain)
    } else if let Some(n) = str_field(d, "name", path)? {
        q::get_domain_by_name(&id.db, n).await.map_err(db_err)?
    } else {
        return Err(ApiError::bad_request(format!("Expecting to find id or name in {path}.")));
    };
    found.ok_or_else(auth_failed)
}

/// Finds a user by `{"id"}` or `{"name", "domain"}`; 401 when there is none.
async fn find_user(id: &Identity, u: &Map<String, Value>, path: &str) -> ApiResult<User> {
    let found = if let Some(uid) = str_field(u, "id", path)? {
        q::get_user(&id.db, uid).await.map_err(db_err)?
    } else if let Some(name) = str_field(u, "name", path)? {
        let d = u.get("domain").ok_or_else(|| ApiError::bad_request(format!("Expecting to find domain in {path}.")))?;
        let d = find_domain(id, obj(d, &format!("{path}.domain"))?, &format!("{path}.domain")).await?;
        q::get_user_by_name(&id.db, &d.id, name).await.map_err(db_err)?
    } else {
        return Err(ApiError::bad_request(format!("Expecting to find id or name in {path}.")));
    };
    found.ok_or_else(auth_failed)
}

async fn password_auth(id: &Identity, p: &Value) -> ApiResult<User> {
    let p = obj(p, "password")?;
    let u = p.get("user").ok_or_else(|| ApiError::bad_request("Expecting to find user in password."))?;
    let u = obj(u, "password.user")?;
    let password = str_field(u, "password", "password.user")?.ok_or_else(auth_failed)?;
    let mut user = find_user(id, u, "password.user").await?;
    let now = now_micros();
    let sc = &id.config.security_compliance;
    if sc.lockout_failure_attempts > 0
        && !user.option_bool("ignore_lockout_failure_attempts")
        && user.failed_auth_count >= sc.lockout_failure_attempts as i64
    {
        let until = user.failed_auth_at.unwrap_or(0) + sc.lockout_duration as i64 * 1_000_000;
        if sc.lockout_duration == 0 || now < until {
            return Err(ApiError::unauthorized(format!("The account is locked for user: {}.", user.id)));
        }
        user.failed_auth_count = 0;
    }
    let ok = match &user.password_hash {
        Some(h) if password.len() <= id.config.max_password_length => id.verify_secret(password, h).await,
        _ => false,
    };
    if !ok {
        q::record_auth_failure(&id.db, &user.id, now).await.map_err(db_err)?;
        return Err(auth_failed());
    }
    if !user.enabled {
        return Err(ApiError::unauthorized(format!("The account is disabled for user: {}.", user.id)));
    }
    if user.password_expires_at.is_some_and(|e| e <= now) && !user.option_bool("ignore_password_expiry") {
        return Err(ApiError::unauthorized(format!(
            "The password is expired and needs to be changed for user: {}.",
            user.id
        )));
    }
    if user.failed_auth_count > 0 || user.last_active_at.is_none_or(|t| now - t > 3_600_000_000) {
        q::record_auth_success(&id.db, &user.id, now).await.map_err(db_err)?;
    }
    Ok(user)
}

async fn app_cred_auth(id: &Identity, a: &Value) -> ApiResult<(User, crate::model::ApplicationCredential)> {
    let a = obj(a, "application_credential")?;
    let secret = str_field(a, "secret", "application_credential")?.ok_or_else(auth_failed)?;
    let ac = if let Some(acid) = str_field(a, "id", "application_credential")? {
        q::get_app_cred(&id.db, acid).await.map_err(db_err)?
    } else if let Some(name) = str_field(a, "name", "application_credential")? {
        let u =
            a.get("user").ok_or_else(|| ApiError::bad_request("Expecting to find user in application_credential."))?;
        let user = find_user(id, obj(u, "application_credential.user")?, "application_credential.user").await?;
        q::get_app_cred_by_name(&id.db, &user.id, name).await.map_err(db_err)?
    } else {
        return Err(ApiError::bad_request("Expecting to find id or name in application_credential."));
    };
    let ac = ac.ok_or_else(auth_failed)?;
    if ac.expires_at.is_some_and(|e| e <= now_micros()) || !id.verify_secret(secret, &ac.secret_hash).await {
        return Err(auth_failed());
    }
    let user = q::get_user(&id.db, &ac.user_id).await.map_err(db_err)?.ok_or_else(auth_failed)?;
    if !user.enabled {
        return Err(auth_failed());
    }
    Ok((user, ac))
}

async fn parse_scope(id: &Identity, scope: &Value) -> ApiResult<Option<Scope>> {
    if scope.as_str() == Some("unscoped") {
        return Ok(None);
    }
    let s = obj(scope, "scope")?;
    let n = ["project", "domain", "system", "unscoped"].iter().filter(|k| s.contains_key(**k)).count();
    if n > 1 {
        return Err(ApiError::bad_request("Specify only one of project, domain or system in the scope."));
    }
    // Older keystoneauth asks for an explicitly unscoped token this way.
    if s.contains_key("unscoped") {
        return Ok(None);
    }
    if let Some(p) = s.get("project") {
        let p = obj(p, "scope.project")?;
        let project = if let Some(pid) = str_field(p, "id", "scope.project")? {
            q::get_project(&id.db, pid).await.map_err(db_err)?.filter(|p| !p.is_domain)
        } else if let Some(name) = str_field(p, "name", "scope.project")? {
            let d = p.get("domain").ok_or_else(|| ApiError::bad_request("Expecting to find domain in project."))?;
            let d = find_domain(id, obj(d, "scope.project.domain")?, "scope.project.domain").await?;
            q::get_project_by_name(&id.db, &d.id, name).await.map_err(db_err)?
        } else {
            return Err(ApiError::bad_request("Expecting to find id or name in project."));
        };
        let project = project.ok_or_else(auth_failed)?;
        return Ok(Some(Scope::Project(project)));
    }
    if let Some(d) = s.get("domain") {
        return Ok(Some(Scope::Domain(find_domain(id, obj(d, "scope.domain")?, "scope.domain").await?)));
    }
    if let Some(sys) = s.get("system") {
        if sys.get("all").and_then(Value::as_bool) == Some(true) {
            return Ok(Some(Scope::System));
        }
        return Err(invalid("scope.system", "only {\"all\": true} is supported"));
    }
    Err(ApiError::bad_request("The scope must name a project, a domain or the system."))
}

/// `POST /v3/auth/tokens`
pub async fn issue(State(id): S, Query(qs): Query<TokenQuery>, Json(body): Json<Value>) -> ApiResult<Response> {
    check_nul(&body)?;
    let auth = body
        .get("auth")
        .ok_or_else(|| ApiError::bad_request("Invalid input for field '/': 'auth' is a required property"))?;
    let auth = obj(auth, "auth")?;
    let identity = auth
        .get("identity")
        .ok_or_else(|| ApiError::bad_request("Invalid input for field 'auth': 'identity' is a required property"))?;
    let identity = obj(identity, "auth.identity")?;
    let methods = match identity.get("methods") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        // Keystone's schema allows an empty list; no method then names a user.
        Some(Value::Array(_)) => {
            return Err(ApiError::unauthorized("User not found by auth plugin; authentication failed"))
        }
        Some(v) => return Err(invalid("auth.identity.methods", format!("{v} is not of type 'array'"))),
        None => return Err(invalid("auth.identity", "'methods' is a required property")),
    };
    let mut names = Vec::new();
    for m in methods {
        let m = m.as_str().ok_or_else(|| invalid("auth.identity.methods", format!("{m} is not of type 'string'")))?;
        if !names.contains(&m) {
            names.push(m);
        }
    }
    let mut user: Option<User> = None;
    let mut bits = 0u8;
    let mut parent: Option<Payload> = None;
    let mut app_cred = None;
    for m in &names {
        let section =
            identity.get(*m).ok_or_else(|| ApiError::bad_request(format!("Expecting to find {m} in identity.")))?;
        let who = match *m {
            "password" => {
                bits |= token::METHOD_PASSWORD;
                password_auth(&id, section).await?
            }
            "token" => {
                bits |= token::METHOD_TOKEN;
                let tid = str_field(obj(section, "token")?, "id", "token")?.ok_or_else(auth_failed)?;
                let (data, _) = id.validate(tid, false).await.map_err(|_| auth_failed())?;
                if data.payload.application_credential_id.is_some() {
                    return Err(ApiError::forbidden("Cannot rescope a token created with an application credential."));
                }
                bits |= data.payload.methods;
                parent = Some(data.payload.clone());
                data.user.clone()
            }
            "application_credential" => {
                bits |= token::METHOD_APPLICATION_CREDENTIAL;
                let (u, ac) = app_cred_auth(&id, section).await?;
                app_cred = Some(ac);
                u
            }
            other => {
                return Err(ApiError::unauthorized(format!(
                    "Attempted to authenticate with an unsupported method: {other}."
                )))
            }
        };
        if let Some(u) = &user {
            if u.id != who.id {
                return Err(ApiError::unauthorized("User IDs of the authentication methods do not match."));
            }
        }
        user = Some(who);
    }
    let user = user.ok_or_else(auth_failed)?;
    let scope = if let Some(ac) = &app_cred {
        if auth.contains_key("scope") {
            return Err(ApiError::unauthorized("Application credentials cannot request a scope."));
        }
        if let Some(pid) = &ac.project_id {
            let p = q::get_project(&id.db, pid).await.map_err(db_err)?.ok_or_else(auth_failed)?;
            Some(Scope::Project(p))
        } else {
            ac.system.as_ref().map(|_| Scope::System)
        }
    } else if let Some(s) = auth.get("scope") {
        parse_scope(&id, s).await?
    } else if let Some(p) = &parent {
        // Rescoping without a scope keeps the scope of the original token.
        if let Some(pid) = &p.project_id {
            q::get_project(&id.db, pid).await.map_err(db_err)?.map(Scope::Project)
        } else if let Some(did) = &p.domain_id {
            q::get_project(&id.db, did).await.map_err(db_err)?.map(Scope::Domain)
        } else if p.system {
            Some(Scope::System)
        } else {
            None
        }
    } else if let Some(pid) = &user.default_project_id {
        // Keystone scopes to the default project when the user has a role there.
        match q::get_project(&id.db, pid).await.map_err(db_err)? {
            Some(p) if p.enabled && !id.effective_role_ids(&user.id, &Scope::Project(p.clone())).await?.is_empty() => {
                Some(Scope::Project(p))
            }
            _ => None,
        }
    } else {
        None
    };
    let mut payload = id.new_payload(&user.id, bits, &scope, parent.as_ref());
    if let Some(ac) = &app_cred {
        payload.application_credential_id = Some(ac.id.clone());
        if let Some(exp) = ac.expires_at {
            payload.expires_at = payload.expires_at.min(exp);
        }
    }
    let data = id.resolve(payload.clone()).await.map_err(|e| {
        if e.status == StatusCode::UNAUTHORIZED {
            match &scope {
                Some(Scope::Project(p)) => {
                    ApiError::unauthorized(format!("User {} has no access to project {}", user.id, p.id))
                }
                Some(Scope::Domain(d)) => {
                    ApiError::unauthorized(format!("User {} has no access to domain {}", user.id, d.id))
                }
                Some(Scope::System) => ApiError::unauthorized(format!("User {} has no access to the system", user.id)),
                None => e,
            }
        } else {
            e
        }
    })?;
    let token = id.issue(&payload);
    let catalog = if qs.nocatalog.is_some() { None } else { Some(id.catalog().await?) };
    let body = json!({"token": data.to_json(catalog.as_deref())});
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    resp.headers_mut().insert("x-subject-token", HeaderValue::from_str(&token).map_err(ApiError::internal)?);
    Ok(resp)
}

fn subject(headers: &HeaderMap) -> ApiResult<String> {
    headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| ApiError::not_found("Could not find token: X-Subject-Token header is missing."))
}

/// `GET /v3/auth/tokens`
pub async fn validate(
    State(id): S,
    auth: Auth,
    Query(qs): Query<TokenQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let token = subject(&headers)?;
    let allow_expired = flag(&qs.allow_expired);
    let (data, _) = id.validate(&token, allow_expired).await?;
    id.enforce(
        &auth,
        "identity:validate_token",
        &json!({"target": {"token": {"user_id": data.user.id}}, "token": {"user_id": data.user.id}}),
    )?;
    let catalog = if qs.nocatalog.is_some() { None } else { Some(id.catalog().await?) };
    let body = json!({"token": data.to_json(catalog.as_deref())});
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert("x-subject-token", HeaderValue::from_str(&token).map_err(ApiError::internal)?);
    Ok(resp)
}

/// `HEAD /v3/auth/tokens`
pub async fn check(State(id): S, auth: Auth, Query(qs): Query<TokenQuery>, headers: HeaderMap) -> ApiResult<Response> {
    let token = subject(&headers)?;
    let (data, _) = id.validate(&token, flag(&qs.allow_expired)).await?;
    id.enforce(
        &auth,
        "identity:check_token",
        &json!({"target": {"token": {"user_id": data.user.id}}, "token": {"user_id": data.user.id}}),
    )?;
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut().insert("x-subject-token", HeaderValue::from_str(&token).map_err(ApiError::internal)?);
    Ok(resp)
}

/// `DELETE /v3/auth/tokens`
pub async fn revoke(State(id): S, auth: Auth, headers: HeaderMap) -> ApiResult<StatusCode> {
    let token = subject(&headers)?;
    let (data, _) = id.validate(&token, false).await?;
    id.enforce(
        &auth,
        "identity:revoke_token",
        &json!({"target": {"token": {"user_id": data.user.id}}, "token": {"user_id": data.user.id}}),
    )?;
    id.revoke(RevocationEvent {
        audit_id: data.payload.audit_ids.first().cloned(),
        issued_before: data.payload.issued_at,
        expires_at: Some(data.payload.expires_at),
        ..Default::default()
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/auth/catalog`
pub async fn catalog(State(id): S, auth: Auth) -> ApiResult<Json<Value>> {
    // Keystone serves this only to project-scoped tokens (a domain- or
    // system-scoped token still carries the catalog in its own body).
    if auth.project_id.is_none() {
        return Err(ApiError::forbidden("A project-scoped token is required to produce a service catalog."));
    }
    let cat = id.catalog().await?;
    Ok(Json(json!({"catalog": *cat, "links": {"self": format!("{}/v3/auth/catalog", id.base_url)}})))
}

/// `GET /v3/auth/projects`: projects the caller may scope to.
pub async fn projects(State(id): S, auth: Auth) -> ApiResult<Json<Value>> {
    let mut out = Vec::new();
    for p in q::list_projects(&id.db, false).await.map_err(db_err)? {
        if p.enabled && !id.effective_role_ids(&auth.user_id, &Scope::Project(p.clone())).await?.is_empty() {
            out.push(p.to_json(&id.base_url));
        }
    }
    Ok(Json(
        json!({"projects": out, "links": {"self": format!("{}/v3/auth/projects", id.base_url), "next": null, "previous": null}}),
    ))
}

/// `GET /v3/auth/domains`
pub async fn domains(State(id): S, auth: Auth) -> ApiResult<Json<Value>> {
    let mut out = Vec::new();
    for d in q::list_projects(&id.db, true).await.map_err(db_err)? {
        if d.enabled && !id.effective_role_ids(&auth.user_id, &Scope::Domain(d.clone())).await?.is_empty() {
            out.push(d.to_domain_json(&id.base_url));
        }
    }
    Ok(Json(
        json!({"domains": out, "links": {"self": format!("{}/v3/auth/domains", id.base_url), "next": null, "previous": null}}),
    ))
}

/// `GET /v3/auth/system`
pub async fn system(State(id): S, auth: Auth) -> ApiResult<Json<Value>> {
    let roles = id.effective_role_ids(&auth.user_id, &Scope::System).await?;
    let system: Vec<Value> = if roles.is_empty() { vec![] } else { vec![json!({"all": true})] };
    Ok(Json(json!({"system": system, "links": {"self": format!("{}/v3/auth/system", id.base_url)}})))
}
