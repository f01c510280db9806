//! Scheduler filters and weighers beyond Placement: tenant isolation of
//! aggregates, the image's architecture, hypervisor type and traits, and
//! packing with negative weigher multipliers.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::Nova;
use crate::servers::wait;

/// Boots a server as `token` and answers it once it left BUILD.
async fn boot(n: &Nova, token: &str, img: &str) -> Value {
    let body = json!({"server": {"name": "s", "imageRef": img, "flavorRef": "f1", "networks": "none"}});
    let r = n.post("/servers", token, "2.37", body).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    wait(n, &n.admin, &id, &["BUILD"]).await
}

fn host(s: &Value) -> &str {
    s["OS-EXT-SRV-ATTR:host"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn aggregates_isolate_tenants_and_images_choose_their_hosts() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("sch", 2, 8, 16384, 100).await;
    n.flavor(json!({"name": "f1", "id": "f1", "ram": 256, "vcpus": 1, "disk": 1})).await;
    let plain = n.image_with(&n.admin, json!({})).await;
    let mine = n.project("iso").await;
    let (member, _) = n.persona(&mine, "member").await;
    let (stranger, _) = n.persona(&n.project("iso-other").await, "member").await;

    // sch-0 takes only the `iso` project's servers.
    let r = n.post("/os-aggregates", &n.admin, "2.1", json!({"aggregate": {"name": "iso"}})).await;
    let agg = r.body["aggregate"]["id"].clone();
    n.post(&format!("/os-aggregates/{agg}/action"), &n.admin, "2.1", json!({"add_host": {"host": "sch-0"}})).await;
    let meta = json!({"set_metadata": {"metadata": {"filter_tenant_id": mine}}});
    assert_eq!(n.post(&format!("/os-aggregates/{agg}/action"), &n.admin, "2.1", meta).await.status, 200);
    for _ in 0..3 {
        let s = boot(&n, &stranger, &plain).await;
        assert_eq!((s["status"].as_str(), host(&s)), (Some("ACTIVE"), "sch-1"), "{s}");
    }
    let s = boot(&n, &member, &plain).await;
    assert_eq!((s["status"].as_str(), host(&s)), (Some("ACTIVE"), "sch-0"), "the emptier host, which is its own");

    // The image's architecture and hypervisor type must fit the node.
    let arm = n.image_with(&n.admin, json!({"hw_architecture": "aarch64"})).await;
    let s = boot(&n, &n.admin, &arm).await;
    assert_eq!(s["status"], "ERROR");
    assert!(s["fault"]["message"].as_str().unwrap().starts_with("No valid host"), "{s}");
    let x86 = n.image_with(&n.admin, json!({"hw_architecture": "x86_64", "img_hv_type": "fake"})).await;
    assert_eq!(boot(&n, &n.admin, &x86).await["status"], "ACTIVE");
    let qemu = n.image_with(&n.admin, json!({"img_hv_type": "qemu"})).await;
    assert_eq!(boot(&n, &n.admin, &qemu).await["status"], "ERROR");

    // An image's required trait picks the provider that has it.
    let traited = n.image_with(&n.admin, json!({"trait:CUSTOM_FAST_DISK": "required"})).await;
    assert_eq!(boot(&n, &n.admin, &traited).await["status"], "ERROR", "no provider has the trait yet");
    let node = compute::db::nodes(&n.cloud.compute.db).await.unwrap().into_iter().find(|x| x.host == "sch-1").unwrap();
    let put = |path: String, body: Value| {
        n.cloud.placement_request(Method::PUT, &path, Some(&n.admin), "1.6").json(&body).send()
    };
    assert_eq!(put("/traits/CUSTOM_FAST_DISK".into(), json!(null)).await.unwrap().status(), 201);
    let rp = n
        .cloud
        .placement_request(Method::GET, &format!("/resource_providers/{}", node.uuid), Some(&n.admin), "1.6")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let body = json!({"resource_provider_generation": rp["generation"], "traits": ["CUSTOM_FAST_DISK"]});
    let r = put(format!("/resource_providers/{}/traits", node.uuid), body).await.unwrap();
    assert_eq!(r.status(), 200);
    let s = boot(&n, &n.admin, &traited).await;
    assert_eq!((s["status"].as_str(), host(&s)), (Some("ACTIVE"), "sch-1"));
    agent.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn negative_multipliers_pack_servers_onto_one_host() {
    let n = Nova::start_with(|c| {
        c.compute.ram_weight_multiplier = -1.0;
        c.compute.cpu_weight_multiplier = -1.0;
        c.compute.disk_weight_multiplier = -1.0;
    })
    .await;
    let agent = n.cloud.start_agent("pack", 3, 8, 16384, 100).await;
    n.flavor(json!({"name": "f1", "id": "f1", "ram": 256, "vcpus": 1, "disk": 1})).await;
    let img = n.image_with(&n.admin, json!({})).await;
    let mut hosts = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let s = boot(&n, &n.admin, &img).await;
        assert_eq!(s["status"], "ACTIVE");
        hosts.insert(host(&s).to_string());
    }
    assert_eq!(hosts.len(), 1, "packed: {hosts:?}");
    agent.stop().await;
    n.stop().await;
}
