//! A cloud with personas for the compute tests, and request helpers.

use reqwest::Method;
use serde_json::{json, Value};
use testkit::TestCloud;

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    /// Asserts a Nova fault: status, the fault's name and a message containing `text`.
    pub fn fault(&self, status: u16, name: &str, text: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        let f = &self.body[name];
        assert_eq!(f["code"], status, "no {name} fault: {}", self.body);
        let msg = f["message"].as_str().unwrap_or_default();
        assert!(msg.contains(text), "{msg:?} lacks {text:?}");
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
}

pub struct Nova {
    pub cloud: TestCloud,
    pub admin: String,
}

impl Nova {
    pub async fn start() -> Nova {
        Self::start_with(|_| {}).await
    }

    /// A cloud whose configuration `tweak` adjusts first.
    pub async fn start_with(tweak: impl FnOnce(&mut testkit::Config)) -> Nova {
        let cloud = TestCloud::start_with(tweak).await;
        let admin = cloud.admin_token().await;
        Nova { cloud, admin }
    }

    pub async fn stop(self) {
        self.cloud.stop().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/compute{path}", self.cloud.url)
    }

    /// A request at microversion `mv` ("" for none) under `/compute/v2.1`.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, mv: &str, body: Option<Value>) -> Resp {
        let mut r = self.cloud.client.request(method, self.url(&format!("/v2.1{path}")));
        if let Some(t) = token {
            r = r.header("X-Auth-Token", t);
        }
        if !mv.is_empty() {
            r = r.header("OpenStack-API-Version", format!("compute {mv}"));
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap_or_default();
        Resp { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    pub async fn get(&self, path: &str, token: &str, mv: &str) -> Resp {
        self.call(Method::GET, path, Some(token), mv, None).await
    }

    pub async fn post(&self, path: &str, token: &str, mv: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), mv, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, mv: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(token), mv, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str, mv: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), mv, None).await
    }

    /// An active public raw image (4 KiB of zeros) with `props`, created
    /// as `token`; returns its id.
    pub async fn image_with(&self, token: &str, props: Value) -> String {
        let mut body =
            json!({"name": "tiny", "disk_format": "raw", "container_format": "bare", "visibility": "public"});
        body.as_object_mut().unwrap().extend(props.as_object().unwrap().clone());
        let url = format!("{}/image/v2/images", self.cloud.url);
        let r = self.cloud.client.post(url).header("X-Auth-Token", token).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        let r = self
            .cloud
            .client
            .put(format!("{}/image/v2/images/{id}/file", self.cloud.url))
            .header("X-Auth-Token", token)
            .header("Content-Type", "application/octet-stream")
            .body(vec![0u8; 4096])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        id
    }

    /// Waits until the server has no task and its status is not in `from`.
    pub async fn settled(&self, id: &str, from: &[&str]) -> Value {
        for _ in 0..400 {
            let s = self.get(&format!("/servers/{id}"), &self.admin, "2.47").await.body["server"].clone();
            if s["OS-EXT-STS:task_state"].is_null() && !from.contains(&s["status"].as_str().unwrap_or_default()) {
                return s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("server {id} did not settle");
    }

    /// Creates a flavor as admin; returns its body.
    pub async fn flavor(&self, body: Value) -> Value {
        let r = self.post("/flavors", &self.admin, "2.61", json!({"flavor": body})).await;
        assert_eq!(r.status, 200, "create flavor: {}", r.body);
        r.body["flavor"].clone()
    }

    // ---------- identity fixtures ----------

    pub async fn project(&self, prefix: &str) -> String {
        self.cloud.project(&self.admin, prefix).await
    }

    /// A new user with `role` on `project`; returns (token, user id).
    pub async fn persona(&self, project: &str, role: &str) -> (String, String) {
        self.cloud.persona(&self.admin, project, role).await
    }
}

pub const ED25519: &str = include_str!("keys/ed25519.pub");
pub const RSA: &str = include_str!("keys/rsa.pub");
pub const ECDSA: &str = include_str!("keys/ecdsa.pub");
