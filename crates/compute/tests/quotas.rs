//! Quota sets and quota classes, and the 403 a build over quota gets.

use serde_json::json;

use crate::common::Nova;
use crate::server_actions::active_server;

#[tokio::test]
async fn quota_sets_limit_builds_and_show_usage() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("qs", 1, 8, 16384, 100).await;
    let project = n.project("qs").await;
    let (member, _) = n.persona(&project, "member").await;
    let other = n.project("qs-other").await;
    let (stranger, _) = n.persona(&other, "member").await;
    let path = format!("/os-quota-sets/{project}");

    let r = n.get(&path, &member, "2.57").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let set = &r.body["quota_set"];
    assert_eq!(
        (set["id"].as_str(), set["instances"].as_i64(), set["cores"].as_i64()),
        (Some(project.as_str()), Some(10), Some(20))
    );
    assert_eq!(
        (set["ram"].as_i64(), set["key_pairs"].as_i64(), set["server_groups"].as_i64()),
        (Some(51200), Some(100), Some(10))
    );
    assert!(set.get("injected_files").is_none() && set.get("fixed_ips").is_none());
    let r = n.get(&path, &member, "2.35").await;
    assert_eq!(
        (r.body["quota_set"]["fixed_ips"].as_i64(), r.body["quota_set"]["injected_files"].as_i64()),
        (Some(-1), Some(5))
    );
    n.get(&path, &stranger, "").await.fault(403, "forbidden", "os_compute_api:os-quota-sets:show");
    n.put(&path, &member, "", json!({"quota_set": {"instances": 1}})).await.fault(
        403,
        "forbidden",
        "os_compute_api:os-quota-sets:update",
    );
    n.put(&path, &n.admin, "2.57", json!({"quota_set": {"instances": 1, "bogus": 2}})).await.fault(
        400,
        "badRequest",
        "Additional properties are not allowed ('bogus' was unexpected)",
    );
    n.put(&path, &n.admin, "2.57", json!({"quota_set": {"instances": -2}})).await.fault(400, "badRequest", "minimum");
    let r = n.put(&path, &n.admin, "2.57", json!({"quota_set": {"instances": 1}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["quota_set"]["instances"], 1);
    assert!(r.body["quota_set"].get("id").is_none(), "no id in an update's answer");

    let _first = active_server(&n, &member, "q1").await;
    let img = crate::servers::image(&n, &n.admin).await;
    let body = json!({"server": {"name": "q2", "imageRef": img, "flavorRef": "a1", "networks": "none"}});
    n.post("/servers", &member, "2.37", body).await.fault(
        403,
        "forbidden",
        "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances",
    );

    n.put(&path, &n.admin, "", json!({"quota_set": {"instances": 0}})).await.fault(
        400,
        "badRequest",
        "Quota limit 0 for instances must be greater than or equal to already used and reserved 1.",
    );
    let r = n.put(&path, &n.admin, "", json!({"quota_set": {"instances": "0", "force": "True"}})).await;
    assert_eq!(r.body["quota_set"]["instances"], 0, "{}", r.body);
    let r = n.get(&format!("{path}/detail"), &member, "").await;
    assert_eq!(r.body["quota_set"]["instances"], json!({"limit": 0, "in_use": 1, "reserved": 0}));
    assert_eq!(r.body["quota_set"]["cores"], json!({"limit": 20, "in_use": 1, "reserved": 0}));
    let r = n.get("/limits", &member, "").await;
    assert_eq!(r.body["limits"]["absolute"]["maxTotalInstances"], 0);
    assert_eq!(r.body["limits"]["absolute"]["totalInstancesUsed"], 1);

    assert_eq!(n.delete(&path, &n.admin, "").await.status, 202);
    assert_eq!(n.get(&path, &member, "").await.body["quota_set"]["instances"], 10);
    let r = n.get(&format!("{path}/defaults"), &stranger, "").await;
    assert_eq!(r.body["quota_set"]["instances"], 10, "anyone reads the defaults");

    // The default quota class sets what projects without their own get.
    n.get("/os-quota-class-sets/default", &member, "").await.fault(403, "forbidden", "os-quota-class-sets:show");
    let r = n.put("/os-quota-class-sets/default", &n.admin, "2.57", json!({"quota_class_set": {"cores": 7}})).await;
    assert_eq!((r.status, r.body["quota_class_set"]["cores"].as_i64()), (200, Some(7)), "{}", r.body);
    assert_eq!(n.get(&path, &member, "").await.body["quota_set"]["cores"], 7);
    let r = n.get("/os-quota-class-sets/default", &n.admin, "2.49").await;
    assert_eq!(r.body["quota_class_set"]["id"], "default");
    assert!(r.body["quota_class_set"].get("server_groups").is_none());
    assert_eq!(r.body["quota_class_set"]["floating_ips"], -1);
    let r = n.get("/os-quota-class-sets/default", &n.admin, "2.50").await;
    assert_eq!(r.body["quota_class_set"]["server_groups"], 10);
    assert!(r.body["quota_class_set"].get("floating_ips").is_none());
    agent.stop().await;
    n.stop().await;
}
