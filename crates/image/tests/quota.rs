//! Unified-limit quotas: limits registered in Identity for the image
//! service cap each project's images, sizes and staged data (413).

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

async fn identity_post(im: &Im, path: &str, body: Value) -> Value {
    let r = im.cloud.request(Method::POST, path, Some(&im.admin)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201, "POST {path}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn unified_limits_cap_each_project() {
    let im = Im::start_with(|c| c.image.use_keystone_limits = true).await;
    let services: Value = im
        .cloud
        .request(Method::GET, "/services?type=image", Some(&im.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let service = services["services"][0]["id"].as_str().unwrap().to_string();
    let registered =
        |name: &str, limit: i64| json!({"service_id": service, "resource_name": name, "default_limit": limit});
    identity_post(
        &im,
        "/registered_limits",
        json!({"registered_limits": [
            registered("image_count_total", 5), registered("image_size_total", 1),
            registered("image_stage_total", 1), registered("image_count_uploading", 2),
        ]}),
    )
    .await;
    let project = im.project("quota").await;
    identity_post(
        &im,
        "/limits",
        json!({"limits": [{"service_id": service, "project_id": project, "resource_name": "image_count_total", "resource_limit": 2}]}),
    )
    .await;
    let member = im.persona(&project, "member").await;
    let body = json!({"name": "q", "disk_format": "raw", "container_format": "bare"});
    let first = im.image(&member, body.clone()).await["id"].as_str().unwrap().to_string();
    let second = im.image(&member, body.clone()).await["id"].as_str().unwrap().to_string();
    im.post("/v2/images", &member, body.clone())
        .await
        .error(413, "Resource image_count_total is over limit of 2 due to current usage 2 and delta 1");

    let usage = im.get("/v2/info/usage", &member).await.body;
    assert_eq!(usage["usage"]["image_count_total"], json!({"usage": 2, "limit": 2}), "{usage}");
    assert_eq!(usage["usage"]["image_size_total"], json!({"usage": 0, "limit": 1}), "{usage}");

    im.upload(&first, &member, vec![7u8; 2 << 20])
        .await
        .error(413, "Resource image_size_total is over limit of 1 due to current usage 0 and delta 2");
    assert_eq!(im.get(&format!("/v2/images/{first}"), &member).await.body["status"], "queued");
    assert_eq!(im.upload(&first, &member, vec![7u8; 512 << 10]).await.status, 204);
    im.stage(&second, &member, vec![7u8; 2 << 20])
        .await
        .error(413, "Resource image_stage_total is over limit of 1 due to current usage 0 and delta 2");
    assert_eq!(im.get(&format!("/v2/images/{second}"), &member).await.body["status"], "queued");

    // Another project has only the registered defaults.
    let other = im.persona(&im.project("quota-other").await, "member").await;
    for _ in 0..3 {
        im.image(&other, body.clone()).await;
    }
    let usage = im.get("/v2/info/usage", &other).await.body;
    assert_eq!(usage["usage"]["image_count_total"], json!({"usage": 3, "limit": 5}), "{usage}");
    im.stop().await;
}

#[tokio::test]
async fn without_unified_limits_usage_is_empty() {
    let im = Im::start().await;
    let member = im.persona(&im.project("noquota").await, "member").await;
    assert_eq!(im.get("/v2/info/usage", &member).await.body, json!({"usage": {}}));
    im.stop().await;
}
