//! Interoperable import: staging, glance-direct and web-download imports,
//! image_conversion, tasks, and the errors on the way.

use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    format!("{:x}", md5::Md5::digest(data))
}

/// Some non-zero data of `len` bytes.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

async fn import(im: &Im, id: &str, token: &str, body: Value) -> Resp {
    im.post(&format!("/v2/images/{id}/import"), token, body).await
}

/// The `n` tasks of an image once all of them finished.
async fn finished_tasks(im: &Im, id: &str, token: &str, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let r = im.get(&format!("/v2/images/{id}/tasks"), token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let tasks = r.body["tasks"].as_array().cloned().unwrap_or_default();
        if tasks.len() == n && tasks.iter().all(|t| t["status"] == "success" || t["status"] == "failure") {
            return tasks;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the imports of {id} did not finish");
}

/// The one task of an image once it finished.
async fn finished_task(im: &Im, id: &str, token: &str) -> Value {
    finished_tasks(im, id, token, 1).await.remove(0)
}

#[tokio::test]
async fn glance_direct_import_stages_then_activates() {
    let im = Im::start().await;
    let project = im.project("imp").await;
    let member = im.persona(&project, "member").await;
    let info = im.get("/v2/info/import", &member).await;
    assert_eq!(info.body["import-methods"]["value"], json!(["glance-direct", "web-download"]));
    let r = im
        .post("/v2/images", &member, json!({"name": "direct", "disk_format": "qcow2", "container_format": "bare"}))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("openstack-image-import-methods").as_deref(), Some("glance-direct,web-download"));
    let id = r.body["id"].as_str().unwrap().to_string();

    // glance-direct needs staged data first.
    import(&im, &id, &member, json!({"method": {"name": "glance-direct"}}))
        .await
        .error(409, "Image needs to be staged before 'glance-direct' method can be used");

    let dir = tempfile::tempdir().unwrap();
    let data = real_qcow2(dir.path(), &pattern(3 << 20));
    let r = im.stage(&id, &member, data.clone()).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let staged = im.get(&format!("/v2/images/{id}"), &member).await.body;
    assert_eq!(staged["status"], "uploading");
    assert_eq!(staged["size"], data.len());
    assert_eq!(staged["checksum"], Value::Null);
    let staging_file = im.cloud.config.data_dir.join("image-staging").join(&id);
    assert!(staging_file.exists(), "staged data is in the staging area");
    im.stage(&id, &member, data.clone())
        .await
        .error(409, "Image status transition from uploading to uploading is not allowed");

    let r = import(&im, &id, &member, json!({"method": {"name": "glance-direct"}})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.bytes.is_empty());
    let done = im.wait_status(&id, &member, &["uploading", "importing"]).await;
    assert_eq!(done["status"], "active", "{done}");
    assert_eq!(done["checksum"], md5_hex(&data));
    assert_eq!(done["size"], data.len());
    assert_eq!(done["virtual_size"], 3 << 20);
    assert_eq!(done["os_glance_importing_to_stores"], "");
    assert_eq!(done["os_glance_failed_import"], "");
    assert!(done.get("os_glance_import_task").is_none(), "the import lock is released: {done}");
    assert!(!staging_file.exists(), "staged data is removed once imported");
    let got = im.get(&format!("/v2/images/{id}/file"), &member).await;
    assert_eq!(got.bytes, data);

    let task = finished_task(&im, &id, &member).await;
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(task["type"], "api_image_import");
    assert_eq!(task["result"], json!({"image_id": id}));
    assert_eq!(task["owner"], project);
    assert_eq!(task["input"]["import_req"], json!({"method": {"name": "glance-direct"}}));
    assert!(task["created_at"].as_str().unwrap().ends_with(".000000"), "{task}");
    assert!(task["expires_at"].is_string(), "{task}");

    // The tasks API is for admins.
    let task_id = task["id"].as_str().unwrap();
    im.get(&format!("/v2/tasks/{task_id}"), &member).await.error(403, "tasks_api_access");
    let t = im.get(&format!("/v2/tasks/{task_id}"), &im.admin).await;
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(t.body["status"], "success");
    assert_eq!(t.body["self"], format!("/v2/tasks/{task_id}"));
    assert_eq!(t.body["image_id"], id);
    let list = im.get("/v2/tasks", &im.admin).await;
    assert!(list.body["tasks"].as_array().unwrap().iter().any(|t| t["id"] == task_id), "{}", list.body);
    assert!(list.body["tasks"][0].get("input").is_none());
    let del = im.call(Method::DELETE, &format!("/v2/tasks/{task_id}"), Some(&im.admin), None, &[]).await;
    assert_eq!(del.status, 405);
    assert_eq!(del.header("allow").as_deref(), Some("GET"));
    let schema = im.get("/v2/schemas/task", &member).await;
    assert_eq!(schema.body["name"], "task");
    assert_eq!(im.get("/v2/schemas/tasks", &member).await.body["name"], "tasks");

    // Another project sees neither the image nor its tasks.
    let other = im.persona(&im.project("imp-other").await, "member").await;
    assert_eq!(im.get(&format!("/v2/images/{id}/tasks"), &other).await.status, 404);
    im.get("/v2/info/stores", &member).await.error(404, "Multi backend is not supported at this site.");
    im.stop().await;
}

#[tokio::test]
async fn import_requests_are_checked_as_glance_checks_them() {
    let im = Im::start().await;
    let project = im.project("impbad").await;
    let member = im.persona(&project, "member").await;
    let reader = im.persona(&project, "reader").await;
    let id = im.image(&member, json!({"name": "bad", "disk_format": "raw", "container_format": "bare"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v2/images/{id}/import");
    let empty = im.call(Method::POST, &path, Some(&member), Some(("application/json", vec![])), &[]).await;
    empty.error(400, "Body expected in request.");
    import(&im, &id, &member, json!({})).await.error(400, "Import request requires a 'method' field.");
    import(&im, &id, &member, json!({"method": {}})).await.error(400, "Import request requires a 'name' field.");
    import(&im, &id, &member, json!({"method": {"name": "copy-image"}}))
        .await
        .error(400, "Unknown import method name 'copy-image'.");
    import(
        &im,
        &id,
        &member,
        json!({"method": {"name": "web-download", "uri": "http://127.0.0.1/x"}, "all_stores": "yes"}),
    )
    .await
    .error(400, "'all_stores' must be boolean value only");
    import(
        &im,
        &id,
        &member,
        json!({"method": {"name": "web-download", "uri": "http://127.0.0.1/x"}, "all_stores_must_succeed": false}),
    )
    .await
    .error(400, "All_stores_must_succeed can only be set with enabled_backends http://127.0.0.1/x");
    for uri in
        ["http://127.0.0.1:8080/x", "ftp://127.0.0.1/x", "http://2130706433/x", "http://127.1/x", "file:///etc/passwd"]
    {
        import(&im, &id, &member, json!({"method": {"name": "web-download", "uri": uri}}))
            .await
            .error(400, &format!("URI for web-download does not pass filtering: {uri}"));
    }
    import(&im, &id, &member, json!({"method": {"name": "web-download"}}))
        .await
        .error(400, "URI for web-download does not pass filtering: None");
    import(&im, &id, &reader, json!({"method": {"name": "web-download", "uri": "http://127.0.0.1/x"}}))
        .await
        .error(403, "modify_image");
    let other = im.persona(&im.project("impbad-other").await, "member").await;
    assert_eq!(import(&im, &id, &other, json!({"method": {"name": "glance-direct"}})).await.status, 404);

    // Staging: content type, size, state; a failed stage leaves a queued image.
    let stage = format!("/v2/images/{id}/stage");
    let r = im.call(Method::PUT, &stage, Some(&member), Some(("application/json", b"{}".to_vec())), &[]).await;
    assert_eq!(r.status, 415);
    let r = im
        .call(
            Method::PUT,
            &stage,
            Some(&member),
            Some(("application/octet-stream", pattern(100))),
            &[("x-openstack-image-size", "50")],
        )
        .await;
    r.error(400, "expected 50 bytes");
    assert_eq!(im.get(&format!("/v2/images/{id}"), &member).await.body["status"], "queued");
    assert_eq!(im.stage(&id, &reader, pattern(10)).await.status, 403);
    let formatless = im.image(&member, json!({"name": "nofmt"})).await["id"].as_str().unwrap().to_string();
    assert_eq!(im.stage(&formatless, &member, pattern(10)).await.status, 204);
    import(&im, &formatless, &member, json!({"method": {"name": "glance-direct"}}))
        .await
        .error(409, "'container_format' needs to be set before import");

    // An active image is no import target.
    assert_eq!(im.upload(&id, &member, pattern(4096)).await.status, 204);
    import(&im, &id, &member, json!({"method": {"name": "glance-direct"}}))
        .await
        .error(409, "Image with status active cannot be target for import");
    im.stage(&id, &member, pattern(10))
        .await
        .error(409, "Image status transition from active to uploading is not allowed");
    im.stop().await;
}

/// A file server on 127.0.0.1 for web-download: `/disk` serves `data`,
/// `/redirect` sends the client to `to`, `/short` promises more than it sends.
async fn file_server(data: Vec<u8>, to: String) -> (String, tokio::task::JoinHandle<()>) {
    let data = std::sync::Arc::new(data);
    let app = axum::Router::new()
        .route("/disk", axum::routing::get(move || async move { data.as_ref().clone().into_response() }))
        .route(
            "/redirect",
            axum::routing::get(move || async move { (StatusCode::FOUND, [(header::LOCATION, to)]).into_response() }),
        )
        .route("/missing", axum::routing::get(|| async { StatusCode::NOT_FOUND }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, server)
}

#[tokio::test]
async fn web_download_fetches_allowed_urls_only() {
    let im = Im::start_with(|c| {
        c.image.import_filtering_opts.allowed_ports = vec![];
        c.image.import_filtering_opts.disallowed_hosts = vec!["localhost".into()];
    })
    .await;
    let member = im.persona(&im.project("web").await, "member").await;
    let dir = tempfile::tempdir().unwrap();
    let data = real_qcow2(dir.path(), &pattern(2 << 20));
    let (url, server) = file_server(data.clone(), "http://localhost/disk".into()).await;

    let id = im.image(&member, json!({"name": "web", "disk_format": "qcow2", "container_format": "bare"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = import(&im, &id, &member, json!({"method": {"name": "web-download", "uri": format!("{url}/disk")}})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let done = im.wait_status(&id, &member, &["queued", "importing"]).await;
    assert_eq!(done["status"], "active", "{done}");
    assert_eq!(done["checksum"], md5_hex(&data));
    assert_eq!(im.get(&format!("/v2/images/{id}/file"), &member).await.bytes, data);
    assert_eq!(finished_task(&im, &id, &member).await["status"], "success");

    // A denied host is refused up front; a redirect to it fails the task.
    let denied = json!({"method": {"name": "web-download", "uri": "http://localhost/disk"}});
    let id2 = im.image(&member, json!({"name": "web2", "disk_format": "qcow2", "container_format": "bare"})).await
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    import(&im, &id2, &member, denied).await.error(400, "does not pass filtering");
    let r =
        import(&im, &id2, &member, json!({"method": {"name": "web-download", "uri": format!("{url}/redirect")}})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let task = finished_task(&im, &id2, &member).await;
    assert_eq!(task["status"], "failure", "{task}");
    assert!(task["message"].as_str().unwrap().contains("Redirect to disallowed URL"), "{task}");
    let back = im.wait_status(&id2, &member, &["importing"]).await;
    assert_eq!(back["status"], "queued", "{back}");
    assert!(back.get("os_glance_import_task").is_none(), "{back}");

    // A missing file fails the task; the image can be imported again.
    let r =
        import(&im, &id2, &member, json!({"method": {"name": "web-download", "uri": format!("{url}/missing")}})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let tasks = finished_tasks(&im, &id2, &member, 2).await;
    assert!(tasks.iter().all(|t| t["status"] == "failure"), "{tasks:?}");
    assert!(tasks.iter().any(|t| t["message"].as_str().unwrap().contains("404")), "{tasks:?}");
    assert_eq!(im.get(&format!("/v2/images/{id2}"), &member).await.body["status"], "queued");
    let r = import(&im, &id2, &member, json!({"method": {"name": "web-download", "uri": format!("{url}/disk")}})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(im.wait_status(&id2, &member, &["queued", "importing"]).await["status"], "active");
    server.abort();
    im.stop().await;
}

#[tokio::test]
async fn image_conversion_turns_qcow2_into_raw_and_refuses_tricks() {
    let im = Im::start_with(|c| c.image.image_import_opts.image_import_plugins = vec!["image_conversion".into()]).await;
    let member = im.persona(&im.project("conv").await, "member").await;
    let dir = tempfile::tempdir().unwrap();
    let raw = pattern(2 << 20);
    let qcow2 = real_qcow2(dir.path(), &raw);
    let id = im.image(&member, json!({"name": "conv", "disk_format": "qcow2", "container_format": "bare"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(im.stage(&id, &member, qcow2).await.status, 204);
    assert_eq!(import(&im, &id, &member, json!({"method": {"name": "glance-direct"}})).await.status, 202);
    let done = im.wait_status(&id, &member, &["uploading", "importing"]).await;
    assert_eq!(done["status"], "active", "{done}");
    assert_eq!(done["disk_format"], "raw");
    assert_eq!(done["size"], raw.len());
    assert_eq!(done["checksum"], md5_hex(&raw));
    assert_eq!(im.get(&format!("/v2/images/{id}/file"), &member).await.bytes, raw);

    // A qcow2 with a backing file never reaches the store.
    let base = dir.path().join("base.qcow2");
    let top = dir.path().join("top.qcow2");
    qemu_img(&["create", "-f", "qcow2", base.to_str().unwrap(), "1M"]);
    qemu_img(&["create", "-f", "qcow2", "-F", "qcow2", "-b", base.to_str().unwrap(), top.to_str().unwrap()]);
    let id = im.image(&member, json!({"name": "backed", "disk_format": "qcow2", "container_format": "bare"})).await
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(im.stage(&id, &member, std::fs::read(&top).unwrap()).await.status, 204);
    assert_eq!(import(&im, &id, &member, json!({"method": {"name": "glance-direct"}})).await.status, 202);
    let task = finished_task(&im, &id, &member).await;
    assert_eq!(task["status"], "failure", "{task}");
    assert!(task["message"].as_str().unwrap().contains("disallowed configuration"), "{task}");
    let back = im.get(&format!("/v2/images/{id}"), &member).await.body;
    assert_eq!(back["status"], "queued", "{back}");
    assert_eq!(back["size"], Value::Null);
    assert!(!im.cloud.config.data_dir.join("image-staging").join(&id).exists(), "staged data removed");

    // Declared qcow2 but raw data: refused the same way.
    let id = im.image(&member, json!({"name": "liar", "disk_format": "qcow2", "container_format": "bare"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(im.stage(&id, &member, pattern(1 << 20)).await.status, 204);
    assert_eq!(import(&im, &id, &member, json!({"method": {"name": "glance-direct"}})).await.status, 202);
    let task = finished_task(&im, &id, &member).await;
    assert!(task["message"].as_str().unwrap().contains("does not match"), "{task}");
    im.stop().await;
}

/// An import whose run stops (here: its download hangs, so it stops
/// renewing its lease, as a dead controller would) is taken over by the
/// periodic check once the lease runs out, and finishes; the stuck run,
/// having lost its lease, changes nothing when it ends.
#[tokio::test]
async fn an_import_whose_run_stopped_is_resumed_after_its_lease() {
    let im = Im::start_with(|c| {
        c.image.upload_lease_seconds = 2;
        c.image.import_filtering_opts.allowed_ports = vec![];
    })
    .await;
    let member = im.persona(&im.project("resume").await, "member").await;
    let dir = tempfile::tempdir().unwrap();
    let data = real_qcow2(dir.path(), &pattern(2 << 20));
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (seen, body) = (requests.clone(), data.clone());
    let app = axum::Router::new().route(
        "/disk",
        axum::routing::get(move || {
            let (seen, body) = (seen.clone(), body.clone());
            async move {
                let len = body.len();
                let stream: futures_util::stream::BoxStream<'static, Result<Vec<u8>, std::io::Error>> =
                    if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                        // The first download sends a little, hangs for 5 s, then breaks.
                        let head = futures_util::stream::iter([Ok(body[..65536].to_vec())]);
                        let cut = futures_util::stream::once(async {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            Err(std::io::Error::other("connection cut"))
                        });
                        Box::pin(futures_util::StreamExt::chain(head, cut))
                    } else {
                        Box::pin(futures_util::stream::iter([Ok(body)]))
                    };
                ([(header::CONTENT_LENGTH, len.to_string())], axum::body::Body::from_stream(stream)).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/disk", listener.local_addr().unwrap().port());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let id = im.image(&member, json!({"name": "resumed", "disk_format": "qcow2", "container_format": "bare"})).await
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = import(&im, &id, &member, json!({"method": {"name": "web-download", "uri": url}})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let done = im.wait_status(&id, &member, &["queued", "importing"]).await;
    assert_eq!(done["status"], "active", "{done}");
    assert_eq!(done["checksum"], md5_hex(&data));
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 2, "a second run downloaded again");
    let task = finished_task(&im, &id, &member).await;
    assert_eq!(task["status"], "success", "{task}");
    // The stuck run fails when its download breaks; having lost its lease,
    // it must not undo anything.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = im.get(&format!("/v2/images/{id}"), &member).await.body;
    assert_eq!(after["status"], "active", "{after}");
    assert_eq!(im.get(&format!("/v2/images/{id}/file"), &member).await.bytes, data);
    let task = finished_task(&im, &id, &member).await;
    assert_eq!(task["status"], "success", "{task}");
    server.abort();
    im.stop().await;
}
