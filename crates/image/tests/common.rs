//! A cloud with personas for the image tests, and request helpers.

use reqwest::Method;
use serde_json::Value;
use testkit::TestCloud;

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl Resp {
    /// Asserts a Glance error: status and a message containing `text`.
    pub fn error(&self, status: u16, text: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        let msg = self.body["message"].as_str().unwrap_or_else(|| panic!("no Glance error body: {}", self.body));
        assert!(msg.contains(text), "{msg:?} lacks {text:?}");
        assert!(self.body["code"].as_str().unwrap_or_default().starts_with(&status.to_string()), "{}", self.body);
        assert!(self.body["title"].is_string(), "{}", self.body);
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
}

pub struct Im {
    pub cloud: TestCloud,
    pub admin: String,
}

impl Im {
    pub async fn start() -> Im {
        Im::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut testkit::Config)) -> Im {
        let cloud = TestCloud::start_with(tweak).await;
        let admin = cloud.admin_token().await;
        Im { cloud, admin }
    }

    pub async fn stop(self) {
        self.cloud.stop().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/image{path}", self.cloud.url)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut r = self.cloud.client.request(method, self.url(path)).header("Accept", "application/json");
        if let Some(t) = token {
            r = r.header("X-Auth-Token", t);
        }
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some((ct, b)) = body {
            r = r.header("Content-Type", ct).body(b);
        }
        let resp = r.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap_or_default().to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp { status, headers, body, bytes }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(("application/json", body.to_string().into_bytes())), &[]).await
    }

    pub async fn patch(&self, id: &str, token: &str, ops: Value) -> Resp {
        let ct = "application/openstack-images-v2.1-json-patch";
        self.call(
            Method::PATCH,
            &format!("/v2/images/{id}"),
            Some(token),
            Some((ct, ops.to_string().into_bytes())),
            &[],
        )
        .await
    }

    pub async fn upload(&self, id: &str, token: &str, data: Vec<u8>) -> Resp {
        self.call(
            Method::PUT,
            &format!("/v2/images/{id}/file"),
            Some(token),
            Some(("application/octet-stream", data)),
            &[],
        )
        .await
    }

    /// Stages data for a glance-direct import.
    pub async fn stage(&self, id: &str, token: &str, data: Vec<u8>) -> Resp {
        self.call(
            Method::PUT,
            &format!("/v2/images/{id}/stage"),
            Some(token),
            Some(("application/octet-stream", data)),
            &[],
        )
        .await
    }

    /// Polls an image until its status is no longer `from` (30 s at most).
    pub async fn wait_status(&self, id: &str, token: &str, from: &[&str]) -> Value {
        for _ in 0..300 {
            let r = self.get(&format!("/v2/images/{id}"), token).await;
            assert_eq!(r.status, 200, "{}", r.body);
            if !from.contains(&r.body["status"].as_str().unwrap_or_default()) {
                return r.body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("image {id} stayed in {from:?}");
    }

    /// Creates an image as `token`; returns its body.
    pub async fn image(&self, token: &str, body: Value) -> Value {
        let r = self.post("/v2/images", token, body).await;
        assert_eq!(r.status, 201, "create: {}", r.body);
        r.body
    }

    // ---------- identity fixtures ----------

    pub async fn project(&self, prefix: &str) -> String {
        self.cloud.project(&self.admin, prefix).await
    }

    /// A new user with `role` on `project`; returns a token scoped to it.
    pub async fn persona(&self, project: &str, role: &str) -> String {
        self.cloud.persona(&self.admin, project, role).await.0
    }
}

/// A small but real qcow2 header (version 3, 1 MiB virtual size, no backing file).
pub fn qcow2_bytes(virtual_size: u64) -> Vec<u8> {
    let mut v = vec![0u8; 4096];
    v[0..4].copy_from_slice(b"QFI\xfb");
    v[4..8].copy_from_slice(&3u32.to_be_bytes());
    v[20..24].copy_from_slice(&16u32.to_be_bytes()); // cluster_bits
    v[24..32].copy_from_slice(&virtual_size.to_be_bytes());
    v[100..104].copy_from_slice(&4u32.to_be_bytes()); // refcount_order
    v[104..108].copy_from_slice(&104u32.to_be_bytes()); // header_length
    v
}

/// Runs qemu-img (from qemu-utils) and fails the test on an error.
pub fn qemu_img(args: &[&str]) {
    let out = std::process::Command::new("qemu-img").args(args).output().expect("qemu-img (install qemu-utils)");
    assert!(out.status.success(), "qemu-img {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A real qcow2 made by qemu-img from `raw` (returned with it).
pub fn real_qcow2(dir: &std::path::Path, raw: &[u8]) -> Vec<u8> {
    let (r, q) = (dir.join("disk.raw"), dir.join("disk.qcow2"));
    std::fs::write(&r, raw).unwrap();
    qemu_img(&["convert", "-f", "raw", "-O", "qcow2", r.to_str().unwrap(), q.to_str().unwrap()]);
    std::fs::read(&q).unwrap()
}
