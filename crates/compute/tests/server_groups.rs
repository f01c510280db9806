//! Server groups: the API per microversion and the scheduler's
//! affinity, anti-affinity and host hints.

use serde_json::{json, Value};

use crate::common::Nova;
use crate::servers::{image, wait};

async fn build(n: &Nova, img: &str, count: i64, hints: Value) -> Vec<Value> {
    let body = json!({"server": {"name": "g", "imageRef": img, "flavorRef": "g1", "networks": "none",
                                 "min_count": count, "max_count": count},
                      "os:scheduler_hints": hints});
    let r = n.post("/servers", &n.admin, "2.37", body).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let all = n.get("/servers/detail?name=^g", &n.admin, "2.71").await;
    let mut out = Vec::new();
    for s in all.body["servers"].as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        let s = wait(n, &n.admin, id, &["BUILD"]).await;
        out.push(n.get(&format!("/servers/{id}"), &n.admin, "2.71").await.body["server"].clone());
        let _ = s;
    }
    out
}

fn host(s: &Value) -> String {
    s["OS-EXT-SRV-ATTR:host"].as_str().unwrap_or_default().to_string()
}

async fn clear(n: &Nova) {
    let all = n.get("/servers", &n.admin, "").await;
    for s in all.body["servers"].as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        n.delete(&format!("/servers/{id}"), &n.admin, "").await;
        wait(n, &n.admin, id, &["ACTIVE", "ERROR"]).await;
    }
}

#[tokio::test]
async fn groups_spread_or_gather_their_members() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("sg", 2, 8, 16384, 100).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "g1", "id": "g1", "ram": 256, "vcpus": 1, "disk": 1})).await;
    let project = n.project("sg").await;
    let (stranger, _) = n.persona(&project, "member").await;

    let r = n
        .post(
            "/os-server-groups",
            &n.admin,
            "2.64",
            json!({"server_group": {"name": "anti", "policy": "anti-affinity"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let g = r.body["server_group"].clone();
    assert_eq!((g["policy"].as_str(), &g["rules"], &g["members"]), (Some("anti-affinity"), &json!({}), &json!([])));
    assert!(g["project_id"].is_string() && g.get("policies").is_none());
    let anti = g["id"].as_str().unwrap().to_string();
    let r = n
        .post("/os-server-groups", &n.admin, "2.1", json!({"server_group": {"name": "aff", "policies": ["affinity"]}}))
        .await;
    let old = &r.body["server_group"];
    assert_eq!((&old["policies"], &old["metadata"]), (&json!(["affinity"]), &json!({})));
    assert!(old.get("project_id").is_none());
    let aff = old["id"].as_str().unwrap().to_string();
    n.post(
        "/os-server-groups",
        &n.admin,
        "2.64",
        json!({"server_group": {"name": "x", "policy": "affinity", "rules": {"max_server_per_host": 2}}}),
    )
    .await
    .fault(400, "badRequest", "Only anti-affinity policy supports rules.");
    n.post(
        "/os-server-groups",
        &n.admin,
        "2.14",
        json!({"server_group": {"name": "x", "policies": ["soft-affinity"]}}),
    )
    .await
    .fault(400, "badRequest", "soft-affinity");
    n.post("/os-server-groups", &n.admin, "2.64", json!({"server_group": {"name": "x", "policies": ["affinity"]}}))
        .await
        .fault(400, "badRequest", "'policy' is a required property");
    n.get(&format!("/os-server-groups/{anti}"), &stranger, "").await.fault(403, "forbidden", "os-server-groups:show");

    // Anti-affinity: two members on two hosts, a third finds no host.
    let built = build(&n, &img, 2, json!({"group": anti})).await;
    assert!(built.iter().all(|s| s["status"] == "ACTIVE"), "{built:?}");
    assert_ne!(host(&built[0]), host(&built[1]));
    assert_eq!(built[0]["server_groups"], json!([anti]));
    let third = build(&n, &img, 1, json!({"group": anti})).await;
    let failed: Vec<&Value> = third.iter().filter(|s| s["status"] == "ERROR").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["fault"]["message"], "No valid host was found. There are not enough hosts available.");
    let r = n.get(&format!("/os-server-groups/{anti}"), &n.admin, "2.64").await;
    assert_eq!(r.body["server_group"]["members"].as_array().unwrap().len(), 3);
    clear(&n).await;

    // Affinity: every member joins the first one's host.
    let built = build(&n, &img, 3, json!({"group": aff})).await;
    assert!(built.iter().all(|s| s["status"] == "ACTIVE" && host(s) == host(&built[0])), "{built:?}");
    clear(&n).await;

    // Host hints.
    let first = build(&n, &img, 1, json!({})).await.remove(0);
    let first_id = first["id"].as_str().unwrap().to_string();
    let body = json!({"server": {"name": "h", "imageRef": img, "flavorRef": "g1", "networks": "none"},
                      "os:scheduler_hints": {"different_host": [first_id]}});
    let r = n.post("/servers", &n.admin, "2.37", body).await;
    let other = wait(&n, &n.admin, r.body["server"]["id"].as_str().unwrap(), &["BUILD"]).await;
    let other =
        n.get(&format!("/servers/{}", other["id"].as_str().unwrap()), &n.admin, "").await.body["server"].clone();
    assert_ne!(host(&other), host(&first));
    let body = json!({"server": {"name": "h2", "imageRef": img, "flavorRef": "g1", "networks": "none"},
                      "os:scheduler_hints": {"same_host": first_id}});
    let r = n.post("/servers", &n.admin, "2.37", body).await;
    let same = wait(&n, &n.admin, r.body["server"]["id"].as_str().unwrap(), &["BUILD"]).await;
    let same = n.get(&format!("/servers/{}", same["id"].as_str().unwrap()), &n.admin, "").await.body["server"].clone();
    assert_eq!(host(&same), host(&first));

    let missing = uuid::Uuid::new_v4();
    let body = json!({"server": {"name": "m", "imageRef": img, "flavorRef": "g1", "networks": "none"},
                      "os:scheduler_hints": {"group": missing.to_string()}});
    n.post("/servers", &n.admin, "2.37", body).await.fault(
        400,
        "badRequest",
        &format!("Instance group {missing} could not be found."),
    );

    let r = n.get("/os-server-groups", &n.admin, "").await;
    assert_eq!(r.body["server_groups"].as_array().unwrap().len(), 2);
    assert_eq!(n.get("/os-server-groups", &stranger, "").await.body["server_groups"], json!([]));
    assert_eq!(n.delete(&format!("/os-server-groups/{anti}"), &n.admin, "").await.status, 204);
    n.get(&format!("/os-server-groups/{anti}"), &n.admin, "").await.fault(
        404,
        "itemNotFound",
        &format!("Instance group {anti} could not be found."),
    );
    agent.stop().await;
    n.stop().await;
}
