use serde_json::json;

use crate::common::Nova;
use crate::servers::{image, wait};

#[tokio::test]
async fn limits_show_quota_and_usage_per_microversion() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("lim", 1, 8, 16384, 100).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "m1.small", "id": "2", "ram": 2048, "vcpus": 2, "disk": 10})).await;
    let r = n
        .post(
            "/servers",
            &n.admin,
            "2.37",
            json!({"server": {"name": "x", "imageRef": img, "flavorRef": "2", "networks": "none"}}),
        )
        .await;
    wait(&n, &n.admin, r.body["server"]["id"].as_str().unwrap(), &["BUILD"]).await;
    let r = n.get("/limits", &n.admin, "2.57").await;
    let a = &r.body["limits"]["absolute"];
    assert_eq!(a["maxTotalInstances"], 10);
    assert_eq!(a["maxTotalCores"], 20);
    assert_eq!(a["maxTotalRAMSize"], 51200);
    assert_eq!(a["totalInstancesUsed"], 1);
    assert_eq!(a["totalCoresUsed"], 2);
    assert_eq!(a["totalRAMUsed"], 2048);
    assert!(a.get("maxPersonality").is_none() && a.get("maxImageMeta").is_none());
    assert_eq!(a.as_object().unwrap().len(), 11);
    assert_eq!(r.body["limits"]["rate"], json!([]));
    let r = n.get("/limits", &n.admin, "").await;
    assert_eq!(r.body["limits"]["absolute"].as_object().unwrap().len(), 19, "2.1 has 19 keys");

    let p = n.project("lim").await;
    let (member, _) = n.persona(&p, "member").await;
    let r = n.get("/limits", &member, "").await;
    assert_eq!(r.body["limits"]["absolute"]["totalInstancesUsed"], 0, "its own project's usage");
    n.get(&format!("/limits?tenant_id={p}"), &member, "").await.fault(
        403,
        "forbidden",
        "os_compute_api:limits:other_project",
    );
    n.get("/limits?foo=1", &member, "2.75").await.fault(400, "badRequest", "('foo' was unexpected)");

    let r = n.get("/os-availability-zone", &member, "").await;
    assert_eq!(
        r.body,
        json!({"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": true}, "hosts": null}]})
    );
    let r = n.get("/os-availability-zone/detail", &n.admin, "").await;
    assert_eq!(r.body["availabilityZoneInfo"][0]["hosts"]["lim-0"]["nova-compute"]["available"], true);
    n.get("/os-availability-zone/detail", &member, "").await.fault(403, "forbidden", "os-availability-zone:detail");
    agent.stop().await;
    n.stop().await;
}
