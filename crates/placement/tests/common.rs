//! Helpers shared by the Placement API tests: requests at a microversion,
//! Placement's error body, and fixtures (providers, inventories, traits,
//! aggregates, allocations, users with roles) made through the APIs.

#![allow(dead_code)]

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use testkit::TestCloud;

/// The password of every user the tests make.
pub const PASSWORD: &str = "test-password-1";
/// The newest microversion the service claims.
pub const LATEST: &str = "1.39";
/// Project and user ids written into allocations by the fixtures.
pub const PROJECT: &str = "7f9e3c5a-0000-4000-8000-00000000aaaa";
pub const USER: &str = "7f9e3c5a-0000-4000-8000-00000000bbbb";

/// A name no earlier request used.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A fresh uuid in its hyphenated form.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A response: status, headers, the body as JSON (`Null` when empty or not
/// JSON) and as text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub async fn from(resp: reqwest::Response) -> Resp {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap_or_default();
        Resp {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// Asserts the status; returns the body.
    #[track_caller]
    pub fn expect(&self, status: u16, what: &str) -> &Value {
        assert_eq!(self.status, status, "{what}: {}", self.text);
        &self.body
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts Placement's error body with `status` and `code`; returns the detail.
    #[track_caller]
    pub fn error(&self, status: u16, code: &str, what: &str) -> String {
        assert_eq!(self.status, status, "{what}: {}", self.text);
        placement_error(&self.body, status, code).unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// Like [`Resp::error`], and the detail must contain `needle`.
    #[track_caller]
    pub fn error_with(&self, status: u16, code: &str, needle: &str, what: &str) -> String {
        let d = self.error(status, code, what);
        assert!(d.contains(needle), "{what}: detail {d:?} does not contain {needle:?}");
        d
    }
}

/// Checks `body` is `{"errors": [{"status", "title", "detail", "code",
/// "request_id"}]}` for `status` and `code`; returns the detail.
pub fn placement_error(body: &Value, status: u16, code: &str) -> Result<String, String> {
    let e = body["errors"].get(0).ok_or_else(|| format!("no errors[0] in {body}"))?;
    if e["status"].as_u64() != Some(status as u64) {
        return Err(format!("errors[0].status is not {status} in {body}"));
    }
    let want_title = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        _ => "",
    };
    if !want_title.is_empty() && e["title"].as_str() != Some(want_title) {
        return Err(format!("errors[0].title is not {want_title:?} in {body}"));
    }
    // Placement sends `code` from microversion 1.23 on, so below that it is
    // absent (`api::root::error_code_appears_from_1_23` checks which).
    if e.get("code").is_some() && e["code"].as_str() != Some(code) {
        return Err(format!("errors[0].code is not {code:?} in {body}"));
    }
    if e["request_id"].as_str().is_none_or(|r| !r.starts_with("req-")) {
        return Err(format!("errors[0].request_id is not a request id in {body}"));
    }
    let detail = e["detail"].as_str().ok_or_else(|| format!("no errors[0].detail in {body}"))?;
    if detail.is_empty() {
        return Err(format!("empty errors[0].detail in {body}"));
    }
    Ok(detail.to_string())
}

pub const UNDEFINED: &str = "placement.undefined_code";
pub const CONCURRENT: &str = "placement.concurrent_update";

/// A running cloud and an admin token for Placement.
pub struct Pl {
    pub cloud: TestCloud,
    pub admin: String,
}

impl Pl {
    pub async fn start() -> Pl {
        let cloud = TestCloud::start().await;
        let admin = cloud.admin_token().await;
        Pl { cloud, admin }
    }

    /// Placement on an already started cloud (another controller, say).
    pub async fn on(cloud: TestCloud) -> Pl {
        let admin = cloud.admin_token().await;
        Pl { cloud, admin }
    }

    /// A second controller on this cloud's database and Fernet keys.
    pub async fn another_controller(&self) -> Pl {
        let db_url = self.cloud.config.database_url();
        let keys = self
            .cloud
            .config
            .identity
            .fernet_key_repository
            .clone()
            .unwrap_or_else(|| self.cloud.config.data_dir.join("fernet-keys").display().to_string());
        let cloud = TestCloud::start_with(|c| {
            c.database.url = db_url;
            c.identity.fernet_key_repository = Some(keys);
        })
        .await;
        Pl::on(cloud).await
    }

    pub async fn stop(self) {
        self.cloud.stop().await;
    }

    /// Any request: `mv` "" sends no microversion header; `body` is sent as JSON.
    pub async fn call(&self, method: Method, mv: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut r = self.cloud.placement_request(method.clone(), path, token, mv);
        if let Some(b) = body {
            r = r.json(&b);
        }
        Resp::from(r.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"))).await
    }

    /// A request as the admin.
    pub async fn req(&self, method: Method, mv: &str, path: &str, body: Option<Value>) -> Resp {
        self.call(method, mv, path, Some(&self.admin), body).await
    }

    pub async fn get(&self, mv: &str, path: &str) -> Resp {
        self.req(Method::GET, mv, path, None).await
    }
    pub async fn put(&self, mv: &str, path: &str, body: Value) -> Resp {
        self.req(Method::PUT, mv, path, Some(body)).await
    }
    pub async fn post(&self, mv: &str, path: &str, body: Value) -> Resp {
        self.req(Method::POST, mv, path, Some(body)).await
    }
    pub async fn delete(&self, mv: &str, path: &str) -> Resp {
        self.req(Method::DELETE, mv, path, None).await
    }

    /// `GET path` at `mv`, expecting 200; the body.
    pub async fn get_ok(&self, mv: &str, path: &str) -> Value {
        let r = self.get(mv, path).await;
        assert_eq!(r.status, 200, "GET {path} at {mv}: {}", r.text);
        r.body
    }

    // ---------- fixtures ----------

    /// Creates a provider (a fresh uuid) under `parent`; returns its uuid.
    pub async fn provider(&self, name: &str, parent: Option<&str>) -> String {
        let uuid = new_uuid();
        let r = self
            .post("1.20", "/resource_providers", json!({"name": name, "uuid": uuid, "parent_provider_uuid": parent}))
            .await;
        assert_eq!(r.status, 200, "create provider {name}: {}", r.text);
        uuid
    }

    pub async fn rp(&self, name: &str) -> String {
        self.provider(name, None).await
    }

    pub async fn generation(&self, uuid: &str) -> i64 {
        self.get_ok("1.14", &format!("/resource_providers/{uuid}")).await["generation"].as_i64().unwrap()
    }

    /// Replaces a provider's inventories (`{"VCPU": {"total": 8}, ...}`).
    pub async fn inventory(&self, uuid: &str, inventories: Value) {
        let generation = self.generation(uuid).await;
        let r = self
            .put(
                LATEST,
                &format!("/resource_providers/{uuid}/inventories"),
                json!({"resource_provider_generation": generation, "inventories": inventories}),
            )
            .await;
        assert_eq!(r.status, 200, "inventory of {uuid}: {}", r.text);
    }

    /// Replaces a provider's traits (made first when custom).
    pub async fn traits(&self, uuid: &str, traits: &[&str]) {
        for t in traits.iter().filter(|t| t.starts_with("CUSTOM_")) {
            let r = self.req(Method::PUT, LATEST, &format!("/traits/{t}"), None).await;
            assert!(r.status == 201 || r.status == 204, "PUT trait {t}: {}", r.text);
        }
        let generation = self.generation(uuid).await;
        let r = self
            .put(
                LATEST,
                &format!("/resource_providers/{uuid}/traits"),
                json!({"resource_provider_generation": generation, "traits": traits}),
            )
            .await;
        assert_eq!(r.status, 200, "traits of {uuid}: {}", r.text);
    }

    pub async fn aggregates(&self, uuid: &str, aggs: &[&str]) {
        let generation = self.generation(uuid).await;
        let r = self
            .put(
                LATEST,
                &format!("/resource_providers/{uuid}/aggregates"),
                json!({"resource_provider_generation": generation, "aggregates": aggs}),
            )
            .await;
        assert_eq!(r.status, 200, "aggregates of {uuid}: {}", r.text);
    }

    /// Creates a custom resource class (1.7 PUT).
    pub async fn class(&self, name: &str) {
        let r = self.req(Method::PUT, LATEST, &format!("/resource_classes/{name}"), None).await;
        assert!(r.status == 201 || r.status == 204, "PUT class {name}: {}", r.text);
    }

    /// PUTs allocations of a new consumer at 1.28 (project/user [`PROJECT`],
    /// [`USER`]): `allocations` is `{rp_uuid: {"resources": {...}}}`.
    pub async fn allocate(&self, consumer: &str, allocations: Value) {
        let r = self
            .put(
                "1.28",
                &format!("/allocations/{consumer}"),
                json!({"allocations": allocations, "project_id": PROJECT, "user_id": USER, "consumer_generation": null}),
            )
            .await;
        assert_eq!(r.status, 204, "allocate {consumer}: {}", r.text);
    }

    /// A provider's usages (`{"VCPU": n, ...}`).
    pub async fn usages(&self, uuid: &str) -> Value {
        self.get_ok(LATEST, &format!("/resource_providers/{uuid}/usages")).await["usages"].clone()
    }

    /// The uuids of `GET /resource_providers{query}`, sorted.
    pub async fn list_uuids(&self, mv: &str, query: &str) -> Vec<String> {
        let v = self.get_ok(mv, &format!("/resource_providers{query}")).await;
        let mut out: Vec<String> = v["resource_providers"]
            .as_array()
            .unwrap_or_else(|| panic!("no resource_providers in {v}"))
            .iter()
            .map(|p| p["uuid"].as_str().unwrap().to_string())
            .collect();
        out.sort();
        out
    }

    // ---------- identity fixtures ----------

    pub async fn identity_id(&self, path: &str, key: &str, body: Value) -> String {
        self.cloud.create(&self.admin, path, key, body).await["id"].as_str().unwrap().to_string()
    }

    pub async fn role_id(&self, name: &str) -> String {
        let resp = self.cloud.request(Method::GET, &format!("/roles?name={name}"), Some(&self.admin)).send().await;
        let v: Value = resp.unwrap().json().await.unwrap();
        v["roles"][0]["id"].as_str().unwrap_or_else(|| panic!("no role {name}: {v}")).to_string()
    }

    /// A new user with `role` on `project`; returns a token scoped to it.
    pub async fn persona(&self, project: &str, role: &str) -> String {
        let name = unique(role);
        let user = self.identity_id("/users", "user", json!({"name": name, "password": PASSWORD})).await;
        let role_id = self.role_id(role).await;
        let path = format!("/projects/{project}/users/{user}/roles/{role_id}");
        let resp = self.cloud.request(Method::PUT, &path, Some(&self.admin)).send().await.unwrap();
        assert_eq!(resp.status(), 204, "PUT {path}");
        self.cloud.token(&name, PASSWORD, json!({"project": {"id": project}})).await.0
    }

    pub async fn project(&self, prefix: &str) -> String {
        self.identity_id("/projects", "project", json!({"name": unique(prefix)})).await
    }
}

/// `allocations` for one provider in the 1.12+ dict form.
pub fn on(rp: &str, resources: Value) -> Value {
    json!({ rp: {"resources": resources} })
}

/// Sorted strings of a JSON array.
pub fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_else(|| panic!("not a string in {v}")).to_string())
        .collect();
    out.sort();
    out
}

/// Sorted keys of a JSON object.
pub fn keys(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect();
    out.sort();
    out
}

pub fn strs(v: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}
