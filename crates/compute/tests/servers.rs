//! Servers built, listed and deleted through the API with a fake agent:
//! scheduling through Placement, the build and delete workflows.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Nova, ED25519};

/// An active raw image; returns its id.
pub async fn image(n: &Nova, token: &str) -> String {
    n.image_with(token, json!({})).await
}

/// Polls a server until its status leaves `from`.
pub async fn wait(n: &Nova, token: &str, id: &str, from: &[&str]) -> Value {
    for _ in 0..400 {
        let r = n.get(&format!("/servers/{id}"), token, "2.47").await;
        if r.status == 404 {
            return Value::Null;
        }
        let st = r.body["server"]["status"].as_str().unwrap_or_default().to_string();
        if !from.contains(&st.as_str()) {
            return r.body["server"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server {id} stayed in {from:?}");
}

pub async fn allocations(n: &Nova, consumer: &str) -> Value {
    let r = n
        .cloud
        .placement_request(Method::GET, &format!("/allocations/{consumer}"), Some(&n.admin), "1.28")
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["allocations"].clone()
}

fn boot(name: &str, image: &str, flavor: &str) -> Value {
    json!({"server": {"name": name, "imageRef": image, "flavorRef": flavor, "networks": "none"}})
}

#[tokio::test]
async fn a_server_builds_on_a_fake_host_and_its_delete_gives_everything_back() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("hv", 2, 8, 16384, 100).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "m1.small", "id": "2", "ram": 2048, "vcpus": 2, "disk": 10})).await;
    n.post("/os-keypairs", &n.admin, "2.2", json!({"keypair": {"name": "k", "public_key": ED25519}})).await;

    let mut body = boot("vm1", &img, "2");
    body["server"]["key_name"] = json!("k");
    body["server"]["metadata"] = json!({"role": "web"});
    let r = n.post("/servers", &n.admin, "2.37", body).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    assert!(r.header("location").unwrap().ends_with(&format!("/v2.1/servers/{id}")));
    assert!(r.body["server"]["adminPass"].is_string());

    let s = wait(&n, &n.admin, &id, &["BUILD"]).await;
    assert_eq!(s["status"], "ACTIVE", "{s}");
    assert_eq!(s["OS-EXT-STS:vm_state"], "active");
    assert_eq!(s["OS-EXT-STS:power_state"], 1);
    assert_eq!(s["OS-EXT-STS:task_state"], Value::Null);
    assert_eq!(s["key_name"], "k");
    assert_eq!(s["metadata"]["role"], "web");
    assert_eq!(s["flavor"]["ram"], 2048, "flavor embedded at 2.47");
    assert!(s["OS-SRV-USG:launched_at"].is_string());
    let host = s["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    assert!(host.starts_with("hv-"), "{s}");
    assert_eq!(s["hostId"].as_str().unwrap().len(), 56);

    // Placement holds exactly the flavor for this consumer, on its node.
    let allocs = allocations(&n, &id).await;
    let (rp, a) = allocs.as_object().unwrap().iter().next().unwrap();
    assert_eq!(a["resources"], json!({"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 10}));
    let nodes = compute::db::nodes(&n.cloud.compute.db).await.unwrap();
    assert_eq!(nodes.iter().find(|x| &x.uuid == rp).unwrap().host, host);

    let r = n.get("/servers", &n.admin, "").await;
    assert_eq!(r.body["servers"][0]["id"], id);
    assert_eq!(r.body["servers"][0].as_object().unwrap().len(), 3);
    let r = n.get("/servers/detail?status=ACTIVE", &n.admin, "").await;
    assert_eq!(r.body["servers"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["servers"][0]["flavor"]["id"], "2", "flavor id and links below 2.47");

    let r = n.delete(&format!("/servers/{id}"), &n.admin, "").await;
    assert_eq!(r.status, 204);
    assert_eq!(wait(&n, &n.admin, &id, &["ACTIVE"]).await, Value::Null);
    n.get(&format!("/servers/{id}"), &n.admin, "").await.fault(
        404,
        "itemNotFound",
        &format!("Instance {id} could not be found."),
    );
    assert_eq!(allocations(&n, &id).await, json!({}), "the delete released the claim");
    assert_eq!(n.cloud.compute.engine.active_count().await.unwrap(), 0);
    agent.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn no_valid_host_ends_in_error_with_nothing_claimed() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("small", 1, 2, 4096, 20).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "big", "id": "h", "ram": 8192, "vcpus": 4, "disk": 10})).await;
    let r = n.post("/servers", &n.admin, "2.37", boot("big", &img, "h")).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    let s = wait(&n, &n.admin, &id, &["BUILD"]).await;
    assert_eq!(s["status"], "ERROR");
    assert_eq!(s["fault"]["code"], 500);
    assert_eq!(s["fault"]["message"], "No valid host was found. There are not enough hosts available.");
    assert_eq!(s["OS-EXT-SRV-ATTR:host"], Value::Null);
    assert_eq!(allocations(&n, &id).await, json!({}));
    // An ERROR server deletes like any other.
    assert_eq!(n.delete(&format!("/servers/{id}"), &n.admin, "").await.status, 204);
    assert_eq!(wait(&n, &n.admin, &id, &["ERROR"]).await, Value::Null);
    agent.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn multiple_create_names_and_spreads_and_bad_requests_are_400s() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("multi", 3, 4, 8192, 40).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "m1.tiny", "id": "1", "ram": 512, "vcpus": 1, "disk": 1})).await;
    let mut body = boot("web", &img, "1");
    body["server"]["min_count"] = json!(3);
    body["server"]["return_reservation_id"] = json!(true);
    let r = n.post("/servers", &n.admin, "2.37", body).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let rid = r.body["reservation_id"].as_str().unwrap().to_string();
    assert!(rid.starts_with("r-"));
    let r = n.get(&format!("/servers/detail?reservation_id={rid}"), &n.admin, "").await;
    let mut names: Vec<String> =
        r.body["servers"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, ["web-1", "web-2", "web-3"]);
    let mut hosts = std::collections::BTreeSet::new();
    for s in r.body["servers"].as_array().unwrap() {
        let s = wait(&n, &n.admin, s["id"].as_str().unwrap(), &["BUILD"]).await;
        assert_eq!(s["status"], "ACTIVE");
        hosts.insert(s["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string());
    }
    assert_eq!(hosts.len(), 3, "spread over the three hosts by free memory");

    let create = |body: Value, mv: &'static str| n.post("/servers", &n.admin, mv, body);
    create(json!({"server": {"name": "x", "flavorRef": "1", "networks": "none"}}), "2.37").await.fault(
        400,
        "badRequest",
        "Missing imageRef attribute",
    );
    create(json!({"server": {"name": "x", "imageRef": img, "flavorRef": "1"}}), "2.37").await.fault(
        400,
        "badRequest",
        "'networks' is a required property",
    );
    create(boot("x", &img, "nope"), "2.37").await.fault(400, "badRequest", "Flavor nope could not be found.");
    create(boot("x", "6f1b8a3e-3b43-4ab2-9d3f-2a0c3f1d9e01", "1"), "2.37").await.fault(
        400,
        "badRequest",
        "Can not find requested image",
    );
    let mut b = boot("x", &img, "1");
    b["server"]["key_name"] = json!("missing");
    create(b, "2.37").await.fault(400, "badRequest", "Invalid key_name provided.");
    let mut b = boot("x", &img, "1");
    b["server"]["min_count"] = json!(3);
    b["server"]["max_count"] = json!(2);
    create(b, "2.37").await.fault(400, "badRequest", "min_count must be <= max_count");
    let b = json!({"server": {"name": "x", "imageRef": img, "flavorRef": "1",
                              "networks": [{"uuid": "5b2f3f0e-7a4c-4d0e-9c43-1f6a3e2b9d10"}]}});
    create(b, "2.37").await.fault(
        400,
        "badRequest",
        "Network 5b2f3f0e-7a4c-4d0e-9c43-1f6a3e2b9d10 could not be found.",
    );
    let mut b = boot("x", &img, "1");
    b["server"]["user_data"] = json!("not base64!");
    create(b, "2.37").await.fault(400, "badRequest", "is not a 'base64'");
    let mut b = boot("x", &img, "1");
    b["server"]["color"] = json!("red");
    create(b, "2.37").await.fault(400, "badRequest", "('color' was unexpected)");
    agent.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn quotas_refuse_with_novas_403() {
    let cloud = testkit::TestCloud::start_with(|c| c.compute.quota_instances = 2).await;
    let admin = cloud.admin_token().await;
    let n = Nova { cloud, admin };
    let agent = n.cloud.start_agent("q", 1, 16, 65536, 200).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "m1.tiny", "id": "1", "ram": 512, "vcpus": 1, "disk": 1})).await;
    let mut b = boot("q", &img, "1");
    b["server"]["min_count"] = json!(3);
    n.post("/servers", &n.admin, "2.37", b).await.fault(
        403,
        "forbidden",
        "Quota exceeded for instances: Requested 3, but already used 0 of 2 instances",
    );
    // min..max: as many as fit.
    let mut b = boot("q", &img, "1");
    b["server"]["min_count"] = json!(1);
    b["server"]["max_count"] = json!(5);
    b["server"]["return_reservation_id"] = json!(true);
    let r = n.post("/servers", &n.admin, "2.37", b).await;
    assert_eq!(r.status, 202);
    let r = n.get("/servers", &n.admin, "").await;
    assert_eq!(r.body["servers"].as_array().unwrap().len(), 2);
    n.post("/servers", &n.admin, "2.37", boot("one-more", &img, "1")).await.fault(
        403,
        "forbidden",
        "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances",
    );
    agent.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn servers_belong_to_their_project() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("own", 1, 8, 16384, 100).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "m1.tiny", "id": "1", "ram": 512, "vcpus": 1, "disk": 1})).await;
    let p = n.project("srv").await;
    let q = n.project("other").await;
    let (member, _) = n.persona(&p, "member").await;
    let (reader, _) = n.persona(&p, "reader").await;
    let (other, _) = n.persona(&q, "member").await;
    let r = n.post("/servers", &member, "2.37", boot("mine", &img, "1")).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    let s = wait(&n, &member, &id, &["BUILD"]).await;
    assert_eq!(s["status"], "ACTIVE");
    assert!(s.get("OS-EXT-SRV-ATTR:host").is_none(), "extended attributes are the admin's");

    // reader: sees, cannot create or delete; other project: 404; no token: 401.
    assert_eq!(n.get(&format!("/servers/{id}"), &reader, "").await.status, 200);
    n.post("/servers", &reader, "2.37", boot("r", &img, "1")).await.fault(
        403,
        "forbidden",
        "os_compute_api:servers:create",
    );
    n.delete(&format!("/servers/{id}"), &reader, "").await.fault(403, "forbidden", "os_compute_api:servers:delete");
    n.get(&format!("/servers/{id}"), &other, "").await.fault(404, "itemNotFound", "could not be found");
    n.delete(&format!("/servers/{id}"), &other, "").await.fault(404, "itemNotFound", "could not be found");
    assert_eq!(n.get("/servers", &other, "").await.body["servers"], json!([]));
    assert_eq!(n.call(Method::GET, &format!("/servers/{id}"), None, "", None).await.status, 401);
    // The admin sees it with all_tenants only.
    assert_eq!(n.get("/servers", &n.admin, "").await.body["servers"], json!([]));
    assert_eq!(n.get("/servers?all_tenants=1", &n.admin, "").await.body["servers"][0]["id"], id);
    assert_eq!(n.delete(&format!("/servers/{id}"), &member, "").await.status, 204);
    assert_eq!(wait(&n, &member, &id, &["ACTIVE"]).await, Value::Null);
    agent.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn a_build_that_fails_on_a_host_is_rescheduled_and_one_that_fails_everywhere_ends_in_error() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("rs", 2, 8, 16384, 100).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "rs1", "id": "rs1", "ram": 256, "vcpus": 1, "disk": 1})).await;
    let nodes = compute::db::nodes(&n.cloud.compute.db).await.unwrap();
    let node = |h: &str| nodes.iter().find(|x| x.host == h).unwrap().uuid.clone();

    // The fake driver fails spawns on rs-0 for these names: every build
    // that tries rs-0 first goes on to rs-1.
    let mut body = boot("fail-on:rs-0 w", &img, "rs1");
    body["server"]["min_count"] = json!(3);
    body["server"]["max_count"] = json!(3);
    assert_eq!(n.post("/servers", &n.admin, "2.37", body).await.status, 202);
    let r = n.get("/servers", &n.admin, "").await;
    for s in r.body["servers"].as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        let s = wait(&n, &n.admin, id, &["BUILD"]).await;
        assert_eq!(s["status"], "ACTIVE", "{s}");
        assert_eq!(s["OS-EXT-SRV-ATTR:host"], "rs-1");
        let a = allocations(&n, id).await;
        assert_eq!(a.as_object().unwrap().keys().collect::<Vec<_>>(), [&node("rs-1")], "only rs-1 holds its claim");
    }

    let r = n.post("/servers", &n.admin, "2.37", boot("fail-on:rs-0,rs-1 x", &img, "rs1")).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    let s = wait(&n, &n.admin, &id, &["BUILD"]).await;
    assert_eq!(s["status"], "ERROR");
    let msg = s["fault"]["message"].as_str().unwrap();
    assert!(msg.starts_with("Exceeded maximum number of retries."), "{msg}");
    assert_eq!(allocations(&n, &id).await, json!({}));

    // An error no other host can fix (the image itself) ends the build at
    // once, as Nova's BuildAbortException does.
    let r = n.post("/servers", &n.admin, "2.37", boot("abort-build y", &img, "rs1")).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    let s = wait(&n, &n.admin, &id, &["BUILD"]).await;
    assert_eq!(s["status"], "ERROR");
    let msg = s["fault"]["message"].as_str().unwrap();
    assert!(msg.starts_with(&format!("Build of instance {id} aborted: fake build abort on rs-")), "{msg}");
    let db = &n.cloud.compute.db;
    assert!(compute::db::command_by_key(db, &format!("spawn-{id}")).await.unwrap().is_some());
    assert!(compute::db::command_by_key(db, &format!("spawn-{id}-1")).await.unwrap().is_none(), "rescheduled");
    assert_eq!(allocations(&n, &id).await, json!({}));
    agent.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn vgpu_flavors_land_on_physical_gpus_reported_as_child_providers() {
    let n = Nova::start().await;
    let plain = n.cloud.start_agent("cpu", 1, 8, 16384, 100).await;
    let gpu = n.cloud.start_agent_with_pgpus("gpu", 1, 8, 16384, 100, (2, 1)).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "v1", "id": "v1", "ram": 256, "vcpus": 1, "disk": 1})).await;
    let r =
        n.post("/flavors/v1/os-extra_specs", &n.admin, "2.86", json!({"extra_specs": {"resources:VGPU": "1"}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let nodes = compute::db::nodes(&n.cloud.compute.db).await.unwrap();
    let gpu_node = nodes.iter().find(|x| x.host == "gpu-0").unwrap().uuid.clone();

    let r = n
        .cloud
        .placement_request(Method::GET, &format!("/resource_providers?in_tree={gpu_node}"), Some(&n.admin), "1.14")
        .send()
        .await
        .unwrap();
    let tree = r.json::<Value>().await.unwrap()["resource_providers"].clone();
    let children: Vec<&Value> =
        tree.as_array().unwrap().iter().filter(|p| p["parent_provider_uuid"] == gpu_node).collect();
    assert_eq!(children.len(), 2, "{tree}");
    assert_eq!(children[0]["name"], "gpu-0_pci_0000_84_00_0");

    let mut ids = Vec::new();
    for i in 0..3 {
        let r = n.post("/servers", &n.admin, "2.37", boot(&format!("v{i}"), &img, "v1")).await;
        let id = r.body["server"]["id"].as_str().unwrap().to_string();
        ids.push((id.clone(), wait(&n, &n.admin, &id, &["BUILD"]).await));
    }
    let active: Vec<&(String, Value)> = ids.iter().filter(|(_, s)| s["status"] == "ACTIVE").collect();
    assert_eq!(active.len(), 2, "two physical GPUs of one VGPU each take two servers");
    for (id, s) in &active {
        assert_eq!(s["OS-EXT-SRV-ATTR:host"], "gpu-0");
        let a = allocations(&n, id).await;
        let vgpu: Vec<&Value> = a.as_object().unwrap().values().filter(|v| v["resources"]["VGPU"] == 1).collect();
        assert_eq!((a.as_object().unwrap().len(), vgpu.len()), (2, 1), "{a}");
    }
    let (_, failed) = ids.iter().find(|(_, s)| s["status"] == "ERROR").unwrap();
    assert!(failed["fault"]["message"].as_str().unwrap().starts_with("No valid host"));
    gpu.stop().await;
    plain.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn server_lists_filter_and_sort_as_nova_does() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("lf", 1, 16, 32768, 200).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "lf", "id": "lf", "ram": 256, "vcpus": 1, "disk": 1})).await;
    let project = n.project("lf").await;
    let (member, _) = n.persona(&project, "member").await;
    let mut ids = Vec::new();
    for name in ["alpha", "bravo", "charlie"] {
        let mut body = boot(name, &img, "lf");
        body["server"]["tags"] = json!(if name == "charlie" { vec!["x"] } else { vec!["x", "y"] });
        let r = n.post("/servers", &member, "2.52", body).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let id = r.body["server"]["id"].as_str().unwrap().to_string();
        wait(&n, &member, &id, &["BUILD"]).await;
        ids.push(id);
    }
    let names = |r: &crate::common::Resp| -> Vec<String> {
        r.body["servers"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
    };
    let r = n.get("/servers?sort_key=display_name&sort_dir=asc", &member, "2.75").await;
    assert_eq!(names(&r), ["alpha", "bravo", "charlie"]);
    let r = n.get("/servers?sort_key=display_name&sort_dir=asc&limit=2", &member, "2.75").await;
    assert_eq!(names(&r), ["alpha", "bravo"]);
    let next = r.body["servers_links"][0]["href"].as_str().unwrap();
    assert!(next.contains(&format!("marker={}", ids[1])), "{next}");
    let r = n.get(&format!("/servers?sort_key=display_name&sort_dir=asc&marker={}", ids[1]), &member, "2.75").await;
    assert_eq!(names(&r), ["charlie"]);
    n.get("/servers?sort_key=vcpus", &member, "2.75").await.fault(400, "badRequest", "sort_key");
    assert_eq!(n.get("/servers?sort_key=vcpus", &member, "2.74").await.status, 200, "ignored below 2.75");
    n.get("/servers?sort_dir=up", &member, "2.75").await.fault(400, "badRequest", "Unknown sort direction");
    n.get("/servers?sort_key=host", &member, "2.75").await.fault(
        403,
        "forbidden",
        "Only administrators can sort servers by host",
    );

    let r = n.get("/servers?tags=x,y", &member, "2.26").await;
    assert_eq!(names(&r).len(), 2);
    let r = n.get("/servers?not-tags=y", &member, "2.26").await;
    assert_eq!(names(&r), ["charlie"]);
    let r = n.get("/servers?tags-any=y&name=^b", &member, "2.26").await;
    assert_eq!(names(&r), ["bravo"]);

    n.post(&format!("/servers/{}/action", ids[0]), &member, "2.73", json!({"lock": null})).await;
    let r = n.get("/servers?locked=true", &member, "2.73").await;
    assert_eq!(names(&r), ["alpha"]);
    n.get("/servers?locked=maybe", &member, "2.73").await.fault(400, "badRequest", "Unrecognized value 'maybe'");
    n.get("/servers?status=WHATEVER", &member, "2.38").await.fault(400, "badRequest", "Invalid status value");
    assert_eq!(n.get("/servers?status=WHATEVER", &member, "2.37").await.body, json!({"servers": []}));
    let r = n.get("/servers?status=active&status=shutoff", &member, "2.38").await;
    assert_eq!(names(&r).len(), 3);

    // changes-since includes deleted servers; a non-admin's host filter is dropped.
    let since = chrono::Utc::now() - chrono::Duration::seconds(2);
    n.delete(&format!("/servers/{}", ids[2]), &member, "").await;
    assert_eq!(wait(&n, &member, &ids[2], &["ACTIVE"]).await, Value::Null);
    let q = format!("/servers/detail?changes-since={}", since.format("%Y-%m-%dT%H:%M:%SZ"));
    let r = n.get(&q, &member, "2.66").await;
    let deleted: Vec<&Value> =
        r.body["servers"].as_array().unwrap().iter().filter(|s| s["status"] == "DELETED").collect();
    assert_eq!(deleted.len(), 1, "{}", r.body);
    n.get("/servers?changes-since=2030-01-01T00:00:00Z&changes-before=2020-01-01T00:00:00Z", &member, "2.66")
        .await
        .fault(400, "badRequest", "The value of changes-since must be less than or equal to changes-before.");
    assert_eq!(names(&n.get("/servers?host=nowhere", &member, "2.1").await).len(), 2);
    assert_eq!(names(&n.get("/servers?host=nowhere&all_tenants=1", &n.admin, "2.1").await).len(), 0);
    n.get("/servers?status=DELETED", &member, "2.1").await.fault(
        403,
        "forbidden",
        "Only administrators may list deleted instances",
    );
    agent.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn a_config_drive_is_asked_for_shown_and_carries_novas_metadata() {
    let n = Nova::start().await;
    let a = n.cloud.start_agent("cd", 1, 4, 8192, 40).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "m1.tiny", "id": "1", "ram": 512, "vcpus": 1, "disk": 1})).await;
    let body = |cd: Value| {
        json!({"server": {"name": "with drive", "imageRef": img, "flavorRef": "1", "networks": "none",
                          "config_drive": cd, "user_data": "aGk="}})
    };
    n.post("/servers", &n.admin, "2.37", body(json!("maybe"))).await.fault(400, "badRequest", "config_drive");
    n.post("/servers", &n.admin, "2.37", body(json!(42))).await.fault(400, "badRequest", "config_drive");

    let r = n.post("/servers", &n.admin, "2.37", body(json!("True"))).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    let s = n.settled(&id, &["BUILD"]).await;
    assert_eq!(s["config_drive"], "True");
    let i = compute::db::instance_by_uuid(&n.cloud.compute.db, &id).await.unwrap().unwrap();
    let spec = compute::workflows::spec(&i, &i.flavor, "cd-0");
    let cd = spec.config_drive.expect("the spec carries the config drive");
    assert_eq!(cd.meta_data["uuid"], id);
    assert_eq!(cd.meta_data["hostname"], "with-drive.novalocal");
    assert_eq!(cd.meta_data["name"], "with drive");
    assert_eq!(cd.meta_data["launch_index"], 0);
    assert_eq!(cd.meta_data["random_seed"].as_str().unwrap().len(), 684);
    assert_eq!(cd.ec2_meta_data["instance-type"], "m1.tiny");
    assert_eq!(spec.user_data.as_deref(), Some("aGk="));

    let r = n.post("/servers", &n.admin, "2.37", body(json!(false))).await;
    let plain = r.body["server"]["id"].as_str().unwrap().to_string();
    let s = n.settled(&plain, &["BUILD"]).await;
    assert_eq!(s["config_drive"], "");
    let i = compute::db::instance_by_uuid(&n.cloud.compute.db, &plain).await.unwrap().unwrap();
    assert!(compute::workflows::spec(&i, &i.flavor, "cd-0").config_drive.is_none());
    a.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn force_config_drive_gives_every_server_one() {
    let n = Nova::start_with(|c| c.compute.force_config_drive = true).await;
    let a = n.cloud.start_agent("fcd", 1, 4, 8192, 40).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "m1.tiny", "id": "1", "ram": 512, "vcpus": 1, "disk": 1})).await;
    let r = n
        .post(
            "/servers",
            &n.admin,
            "2.37",
            json!({"server": {"name": "vm", "imageRef": img, "flavorRef": "1", "networks": "none"}}),
        )
        .await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    assert_eq!(n.settled(&id, &["BUILD"]).await["config_drive"], "True");
    a.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn a_flavor_too_small_for_the_image_is_refused_at_create() {
    let n = Nova::start().await;
    let needs_5g = n.image_with(&n.admin, json!({"min_disk": 5})).await;
    let needs_ram = n.image_with(&n.admin, json!({"min_ram": 1024})).await;
    n.flavor(json!({"name": "m1.tiny", "id": "1", "ram": 512, "vcpus": 1, "disk": 1})).await;
    n.flavor(json!({"name": "m1.zero", "id": "0", "ram": 512, "vcpus": 1, "disk": 0})).await;
    let create = |img: &str, flavor: &str| json!({"server": {"name": "vm", "imageRef": img, "flavorRef": flavor, "networks": "none"}});
    n.post("/servers", &n.admin, "2.37", create(&needs_5g, "1")).await.fault(
        400,
        "badRequest",
        "Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is 1073741824 bytes, minimum size is 5368709120 bytes.",
    );
    n.post("/servers", &n.admin, "2.37", create(&needs_ram, "1")).await.fault(
        400,
        "badRequest",
        "Flavor's memory is too small for requested image.",
    );
    // A root disk of 0 is not checked, as in Nova.
    let r = n.post("/servers", &n.admin, "2.37", create(&needs_5g, "0")).await;
    assert_eq!(r.status, 202, "{}", r.body);
    n.stop().await;
}
