//! Helpers shared by the identity API tests: requests with an optional
//! token, Keystone's error body, and fixtures made through the admin API.

use reqwest::{Method, Response};
use serde_json::{json, Value};
use testkit::TestCloud;

/// The password of every user the tests make.
pub const PASSWORD: &str = "test-password-1";

/// A name no earlier request used.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A well-formed id that names nothing.
pub fn missing_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Sends `method path` with an optional token and JSON body; returns the
/// status and the body (`Null` when it is empty or not JSON).
pub async fn call(
    cloud: &TestCloud,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = cloud.request(method, path, token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    status_and_json(resp).await
}

pub async fn status_and_json(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap_or_default();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

pub async fn get(cloud: &TestCloud, path: &str, token: &str) -> Value {
    let (s, v) = call(cloud, Method::GET, path, Some(token), None).await;
    assert_eq!(s, 200, "GET {path}: {v}");
    v
}

/// Asserts a request answered `status` with Keystone's error body
/// `{"error": {"code", "title", "message"}}`; returns the message.
pub fn assert_error(status: u16, body: &Value, want: u16, what: &str) -> String {
    assert_eq!(status, want, "{what}: {body}");
    error_message(body, want).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Checks that `body` is Keystone's error body for `code`; returns the message.
pub fn error_message(body: &Value, code: u16) -> Result<String, String> {
    let e = body.get("error").ok_or_else(|| format!("no 'error' object in {body}"))?;
    if e.get("code").and_then(Value::as_u64) != Some(code as u64) {
        return Err(format!("error.code is not {code} in {body}"));
    }
    let title = e.get("title").and_then(Value::as_str).ok_or_else(|| format!("no error.title in {body}"))?;
    let want_title = match code {
        400 => Some("Bad Request"),
        401 => Some("Unauthorized"),
        403 => Some("Forbidden"),
        404 => Some("Not Found"),
        409 => Some("Conflict"),
        _ => None,
    };
    if let Some(t) = want_title {
        if title != t {
            return Err(format!("error.title is {title:?}, not {t:?}, in {body}"));
        }
    }
    let msg = e.get("message").and_then(Value::as_str).ok_or_else(|| format!("no error.message in {body}"))?;
    if msg.is_empty() {
        return Err(format!("empty error.message in {body}"));
    }
    Ok(msg.to_string())
}

/// Ids of a JSON list under `key`.
pub fn ids(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .unwrap_or_else(|| panic!("no list {key} in {body}"))
        .iter()
        .map(|x| x["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Names of the roles in a token body.
pub fn token_roles(token: &Value) -> Vec<String> {
    let mut v: Vec<String> = token["token"]["roles"]
        .as_array()
        .map(|a| a.iter().map(|r| r["name"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

pub async fn role_id(cloud: &TestCloud, admin: &str, name: &str) -> String {
    let v = get(cloud, &format!("/roles?name={name}"), admin).await;
    v["roles"][0]["id"].as_str().unwrap_or_else(|| panic!("no role {name}: {v}")).to_string()
}

pub async fn create_project(cloud: &TestCloud, admin: &str, body: Value) -> String {
    let p = cloud.create(admin, "/projects", "project", body).await;
    p["id"].as_str().unwrap().to_string()
}

/// A user in the default domain with [`PASSWORD`].
pub async fn create_user(cloud: &TestCloud, admin: &str, name: &str) -> String {
    let u = cloud.create(admin, "/users", "user", json!({"name": name, "password": PASSWORD})).await;
    u["id"].as_str().unwrap().to_string()
}

/// PUTs a grant path (`/projects/{p}/users/{u}/roles/{r}`, ...) and expects 204.
pub async fn grant(cloud: &TestCloud, admin: &str, path: &str) {
    let (s, v) = call(cloud, Method::PUT, path, Some(admin), None).await;
    assert_eq!(s, 204, "PUT {path}: {v}");
}

pub fn project_scope(id: &str) -> Value {
    json!({"project": {"id": id}})
}

/// A token of user `name` (default domain, [`PASSWORD`]) with `scope`.
pub async fn token(cloud: &TestCloud, name: &str, scope: Value) -> (String, Value) {
    cloud.token(name, PASSWORD, scope).await
}

/// `GET /v3/auth/tokens` of `subject` as `token`: the status and body.
pub async fn validate(cloud: &TestCloud, token: &str, subject: &str) -> (u16, Value) {
    let resp = cloud
        .request(Method::GET, "/auth/tokens", Some(token))
        .header("X-Subject-Token", subject)
        .send()
        .await
        .unwrap();
    status_and_json(resp).await
}

/// The status of any authenticated request made with `token`.
pub async fn token_works(cloud: &TestCloud, token: &str) -> bool {
    let (s, v) = call(cloud, Method::GET, "/auth/projects", Some(token), None).await;
    match s {
        200 => true,
        401 => {
            error_message(&v, 401).unwrap();
            false
        }
        other => panic!("GET /auth/projects answered {other}: {v}"),
    }
}
