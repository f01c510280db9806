//! os-services and os-hypervisors over hosts a fake agent reports.

use serde_json::{json, Value};

use crate::common::Nova;
use crate::servers::{image, wait};

#[tokio::test]
async fn services_list_update_and_scheduling_avoids_disabled_hosts() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("svc", 2, 8, 16384, 100).await;
    let r = n.get("/os-services", &n.admin, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s0 = &r.body["services"][0];
    assert!(s0["id"].is_i64());
    assert_eq!(s0["binary"], "nova-compute");
    assert_eq!(s0["host"], "svc-0");
    assert_eq!(s0["zone"], "nova");
    assert_eq!(s0["status"], "enabled");
    assert_eq!(s0["state"], "up");
    assert!(s0.get("forced_down").is_none(), "forced_down from 2.11");
    let r = n.get("/os-services?host=svc-1", &n.admin, "2.69").await;
    assert_eq!(r.body["services"].as_array().unwrap().len(), 1);
    let svc1 = r.body["services"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["services"][0]["forced_down"], false);

    // Disable svc-1 (2.53 path): every new server lands on svc-0.
    let r = n
        .put(
            &format!("/os-services/{svc1}"),
            &n.admin,
            "2.53",
            json!({"status": "disabled", "disabled_reason": "maintenance"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["service"]["status"], "disabled");
    assert_eq!(r.body["service"]["disabled_reason"], "maintenance");
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "m1.tiny", "id": "1", "ram": 512, "vcpus": 1, "disk": 1})).await;
    for name in ["a", "b", "c"] {
        let r = n
            .post(
                "/servers",
                &n.admin,
                "2.37",
                json!({"server": {"name": name, "imageRef": img, "flavorRef": "1", "networks": "none"}}),
            )
            .await;
        let s = wait(&n, &n.admin, r.body["server"]["id"].as_str().unwrap(), &["BUILD"]).await;
        assert_eq!(s["OS-EXT-SRV-ATTR:host"], "svc-0", "a disabled host gets no new servers");
    }
    n.put(&format!("/os-services/{svc1}"), &n.admin, "2.53", json!({"status": "enabled", "disabled_reason": "x"}))
        .await
        .fault(400, "badRequest", "Specifying 'disabled_reason' with status 'enabled' is invalid.");
    n.put(&format!("/os-services/{svc1}"), &n.admin, "2.53", json!({})).await.fault(
        400,
        "badRequest",
        "No updates were requested.",
    );
    n.put("/os-services/not-a-uuid", &n.admin, "2.53", json!({"status": "enabled"})).await.fault(
        400,
        "badRequest",
        "Invalid uuid not-a-uuid",
    );
    let r = n.put(&format!("/os-services/{svc1}"), &n.admin, "2.53", json!({"forced_down": true})).await;
    assert_eq!(r.body["service"]["state"], "down");

    // The legacy actions below 2.53.
    let r = n.put("/os-services/enable", &n.admin, "2.11", json!({"host": "svc-1", "binary": "nova-compute"})).await;
    assert_eq!(r.body, json!({"service": {"host": "svc-1", "binary": "nova-compute", "status": "enabled"}}));
    let r = n
        .put(
            "/os-services/force-down",
            &n.admin,
            "2.11",
            json!({"host": "svc-1", "binary": "nova-compute", "forced_down": false}),
        )
        .await;
    assert_eq!(r.body["service"]["forced_down"], false);
    let r = n
        .put(
            "/os-services/disable-log-reason",
            &n.admin,
            "",
            json!({"host": "svc-1", "binary": "nova-compute", "disabled_reason": "why"}),
        )
        .await;
    assert_eq!(r.body["service"]["disabled_reason"], "why");
    n.put("/os-services/disable", &n.admin, "", json!({"host": "nope", "binary": "nova-compute"})).await.fault(
        404,
        "itemNotFound",
        "Could not find binary nova-compute on host nope.",
    );
    n.put("/os-services/disable", &n.admin, "", json!({"host": "svc-1", "binary": "nova-scheduler"})).await.fault(
        400,
        "badRequest",
        "Updating a nova-scheduler service is not supported.",
    );

    // Delete: refused while it hosts servers; otherwise its provider goes too.
    let svc0 = n.get("/os-services?host=svc-0", &n.admin, "2.53").await.body["services"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    n.delete(&format!("/os-services/{svc0}"), &n.admin, "2.53").await.fault(
        409,
        "conflictingRequest",
        "Unable to delete compute service that is hosting instances.",
    );
    agent.stop().await;
    assert_eq!(n.delete(&format!("/os-services/{svc1}"), &n.admin, "2.53").await.status, 204);
    let r = n.get("/os-services", &n.admin, "").await;
    assert_eq!(r.body["services"].as_array().unwrap().len(), 1);
    let r = n.cloud.placement_request(reqwest::Method::GET, "/resource_providers", Some(&n.admin), "1.14").send().await;
    let v: Value = r.unwrap().json().await.unwrap();
    assert_eq!(v["resource_providers"].as_array().unwrap().len(), 1);
    n.stop().await;
}

#[tokio::test]
async fn hypervisors_at_each_microversion_and_only_for_admins() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("hyp", 2, 8, 16384, 100).await;
    let r = n.get("/os-hypervisors", &n.admin, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let h = &r.body["hypervisors"][0];
    assert!(h["id"].is_i64());
    assert_eq!(h.as_object().unwrap().len(), 4, "id, hypervisor_hostname, state, status: {h}");
    let r = n.get("/os-hypervisors/detail", &n.admin, "2.1").await;
    let h = &r.body["hypervisors"][0];
    assert_eq!(h["vcpus"], 8);
    assert_eq!(h["memory_mb_used"], 512, "the reserved memory counts as used");
    assert_eq!(h["hypervisor_type"], "fake");
    assert!(h["cpu_info"].is_string());
    assert_eq!(h["service"]["host"], "hyp-0");
    let r = n.get("/os-hypervisors/detail", &n.admin, "2.88").await;
    let h = r.body["hypervisors"][0].clone();
    assert!(h["id"].is_string());
    assert!(h.get("vcpus").is_none() && h.get("cpu_info").is_none(), "resource fields are gone at 2.88");
    assert_eq!(h["uptime"], Value::Null);
    let id = h["id"].as_str().unwrap();
    let r = n.get(&format!("/os-hypervisors/{id}"), &n.admin, "2.88").await;
    assert_eq!(r.body["hypervisor"]["hypervisor_hostname"], "hyp-0");
    let r = n.get(&format!("/os-hypervisors/{id}?with_servers=true"), &n.admin, "2.88").await;
    assert_eq!(r.body["hypervisor"]["servers"], json!([]));
    n.get("/os-hypervisors/nope", &n.admin, "2.88").await.fault(400, "badRequest", "Invalid uuid nope");
    n.get("/os-hypervisors/99", &n.admin, "2.1").await.fault(
        404,
        "itemNotFound",
        "Hypervisor with ID '99' could not be found.",
    );
    let r = n.get("/os-hypervisors?hypervisor_hostname_pattern=hyp-1", &n.admin, "2.53").await;
    assert_eq!(r.body["hypervisors"].as_array().unwrap().len(), 1);
    n.get("/os-hypervisors?hypervisor_hostname_pattern=zzz", &n.admin, "2.53").await.fault(
        404,
        "itemNotFound",
        "No hypervisor matching 'zzz' could be found.",
    );
    let r = n.get("/os-hypervisors?limit=1", &n.admin, "2.53").await;
    assert!(r.body["hypervisors_links"][0]["href"].as_str().unwrap().contains("limit=1&marker="));
    let r = n.get("/os-hypervisors/statistics", &n.admin, "").await;
    assert_eq!(r.body["hypervisor_statistics"]["count"], 2);
    assert_eq!(r.body["hypervisor_statistics"]["vcpus"], 16);
    assert_eq!(n.get("/os-hypervisors/statistics", &n.admin, "2.88").await.status, 404);

    let p = n.project("hv").await;
    let (member, _) = n.persona(&p, "member").await;
    for path in ["/os-hypervisors", "/os-hypervisors/detail", "/os-hypervisors/statistics", "/os-services"] {
        n.get(path, &member, "").await.fault(403, "forbidden", "Policy doesn't allow os_compute_api:");
    }
    agent.stop().await;
    n.stop().await;
}
