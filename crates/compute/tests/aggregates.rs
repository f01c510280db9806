//! Host aggregates and availability zones: Nova's zone rules, the mirror
//! in Placement, and builds that ask for a zone or force a host.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::Nova;
use crate::servers::{image, wait};

async fn boot(n: &Nova, token: &str, img: &str, az: Option<&str>) -> crate::common::Resp {
    let mut body = json!({"server": {"name": "z", "imageRef": img, "flavorRef": "z1", "networks": "none"}});
    if let Some(az) = az {
        body["server"]["availability_zone"] = json!(az);
    }
    n.post("/servers", token, "2.37", body).await
}

async fn built_on(n: &Nova, r: &crate::common::Resp) -> Value {
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap();
    let s = wait(n, &n.admin, id, &["BUILD"]).await;
    assert_eq!(s["status"], "ACTIVE", "{s}");
    s
}

#[tokio::test]
async fn aggregates_make_zones_that_builds_ask_for() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("za", 2, 8, 16384, 100).await;
    let project = n.project("za").await;
    let (member, _) = n.persona(&project, "member").await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "z1", "id": "z1", "ram": 256, "vcpus": 1, "disk": 1})).await;

    n.get("/os-aggregates", &member, "").await.fault(403, "forbidden", "os_compute_api:os-aggregates:index");
    let r = n
        .post("/os-aggregates", &n.admin, "2.41", json!({"aggregate": {"name": "agg1", "availability_zone": "zone1"}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = &r.body["aggregate"];
    assert_eq!((a["name"].as_str(), a["availability_zone"].as_str()), (Some("agg1"), Some("zone1")));
    assert!(a.get("hosts").is_none() && a["uuid"].is_string(), "{a}");
    let id = a["id"].as_i64().unwrap();
    let agg_uuid = a["uuid"].as_str().unwrap().to_string();
    n.post("/os-aggregates", &n.admin, "", json!({"aggregate": {"name": "agg1"}})).await.fault(
        409,
        "conflictingRequest",
        "Aggregate agg1 already exists.",
    );
    n.post("/os-aggregates", &n.admin, "", json!({"aggregate": {"name": "x", "availability_zone": "a:b"}}))
        .await
        .fault(400, "badRequest", "availability_zone");
    n.get("/os-aggregates/abc", &n.admin, "").await.fault(400, "badRequest", "id must be an integer");
    n.get("/os-aggregates/999", &n.admin, "").await.fault(404, "itemNotFound", "Aggregate 999 could not be found.");

    let act = format!("/os-aggregates/{id}/action");
    n.post(&act, &n.admin, "", json!({"add_host": {"host": "nope"}})).await.fault(
        404,
        "itemNotFound",
        "Compute host nope could not be found.",
    );
    let r = n.post(&act, &n.admin, "", json!({"add_host": {"host": "za-0"}})).await;
    assert_eq!((r.status, &r.body["aggregate"]["hosts"]), (200, &json!(["za-0"])), "{}", r.body);
    n.post(&act, &n.admin, "", json!({"add_host": {"host": "za-0"}})).await.fault(
        409,
        "conflictingRequest",
        &format!("Aggregate {id} already has host za-0."),
    );

    // Placement knows the aggregate on za-0's node.
    let nodes = compute::db::nodes(&n.cloud.compute.db).await.unwrap();
    let node = nodes.iter().find(|x| x.host == "za-0").unwrap();
    let r = n
        .cloud
        .placement_request(
            Method::GET,
            &format!("/resource_providers/{}/aggregates", node.uuid),
            Some(&n.admin),
            "1.19",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["aggregates"], json!([agg_uuid]));

    let r = n.get("/os-availability-zone", &member, "").await;
    let zones: Vec<&str> =
        r.body["availabilityZoneInfo"].as_array().unwrap().iter().map(|z| z["zoneName"].as_str().unwrap()).collect();
    assert_eq!(zones, ["nova", "zone1"]);

    // Builds in a zone land on its hosts; unknown zones are refused.
    for _ in 0..3 {
        let s = built_on(&n, &boot(&n, &member, &img, Some("zone1")).await).await;
        assert_eq!(s["OS-EXT-AZ:availability_zone"], "zone1");
        let admin_view = n.get(&format!("/servers/{}", s["id"].as_str().unwrap()), &n.admin, "").await;
        assert_eq!(admin_view.body["server"]["OS-EXT-SRV-ATTR:host"], "za-0");
    }
    let s = built_on(&n, &boot(&n, &member, &img, Some("nova")).await).await;
    let nova_id = s["id"].as_str().unwrap().to_string();
    assert_eq!(
        n.get(&format!("/servers/{nova_id}"), &n.admin, "").await.body["server"]["OS-EXT-SRV-ATTR:host"],
        "za-1"
    );
    boot(&n, &member, &img, Some("atlantis")).await.fault(
        400,
        "badRequest",
        "The requested availability zone is not available",
    );
    boot(&n, &member, &img, Some("zone1:za-0")).await.fault(
        403,
        "forbidden",
        "os_compute_api:servers:create:forced_host",
    );
    let s = built_on(&n, &boot(&n, &n.admin, &img, Some(":za-1")).await).await;
    assert_eq!(
        n.get(&format!("/servers/{}", s["id"].as_str().unwrap()), &n.admin, "").await.body["server"]
            ["OS-EXT-SRV-ATTR:host"],
        "za-1"
    );

    // Zone rules.
    n.put(&format!("/os-aggregates/{id}"), &n.admin, "", json!({"aggregate": {"availability_zone": "zone9"}}))
        .await
        .fault(
            400,
            "badRequest",
            &format!("Cannot update aggregate {id}. Reason: One or more hosts contain instances in this zone."),
        );
    let r = n
        .post("/os-aggregates", &n.admin, "", json!({"aggregate": {"name": "agg2", "availability_zone": "zone2"}}))
        .await;
    let id2 = r.body["aggregate"]["id"].as_i64().unwrap();
    n.post(&format!("/os-aggregates/{id2}/action"), &n.admin, "", json!({"add_host": {"host": "za-0"}})).await.fault(
        409,
        "conflictingRequest",
        &format!(
            "Cannot add host to aggregate {id2}. Reason: One or more hosts already in availability zone(s) ['zone1']."
        ),
    );
    n.post(&format!("/os-aggregates/{id2}/action"), &n.admin, "", json!({"add_host": {"host": "za-1"}})).await.fault(
        409,
        "conflictingRequest",
        "would change from 'None' to 'zone2' but the host already has 2 instance(s)",
    );
    n.post(&act, &n.admin, "", json!({"set_metadata": {"metadata": {"availability_zone": null}}})).await.fault(
        400,
        "badRequest",
        "Aggregate agg1 does not support empty named availability zone",
    );
    let r = n.post(&act, &n.admin, "", json!({"set_metadata": {"metadata": {"ssd": "true"}}})).await;
    assert_eq!(r.body["aggregate"]["metadata"], json!({"availability_zone": "zone1", "ssd": "true"}));
    let r = n.put(&format!("/os-aggregates/{id}"), &n.admin, "", json!({"aggregate": {"name": "renamed"}})).await;
    assert_eq!(r.body["aggregate"]["name"], "renamed");
    n.post(&act, &n.admin, "", json!({"remove_host": {"host": "za-1"}})).await.fault(
        404,
        "itemNotFound",
        &format!("Cannot remove host za-1 in aggregate {id}"),
    );
    n.delete(&format!("/os-aggregates/{id}"), &n.admin, "").await.fault(
        400,
        "badRequest",
        "Reason: Host aggregate is not empty.",
    );
    n.post(&act, &n.admin, "", json!({"remove_host": {"host": "za-0"}})).await.fault(
        409,
        "conflictingRequest",
        "would change from 'zone1' to 'None' but the host already has 3 instance(s)",
    );

    // With its servers gone, the host leaves and the aggregate goes.
    let all = n.get("/servers?all_tenants=1", &n.admin, "").await;
    for s in all.body["servers"].as_array().unwrap() {
        let sid = s["id"].as_str().unwrap();
        n.delete(&format!("/servers/{sid}"), &n.admin, "").await;
        wait(&n, &n.admin, sid, &["ACTIVE"]).await;
    }
    let r = n.post(&act, &n.admin, "", json!({"remove_host": {"host": "za-0"}})).await;
    assert_eq!((r.status, &r.body["aggregate"]["hosts"]), (200, &json!([])), "{}", r.body);
    let r = n
        .cloud
        .placement_request(
            Method::GET,
            &format!("/resource_providers/{}/aggregates", node.uuid),
            Some(&n.admin),
            "1.19",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["aggregates"], json!([]));
    assert_eq!(n.delete(&format!("/os-aggregates/{id}"), &n.admin, "").await.status, 200);
    let r = n.get("/os-aggregates", &n.admin, "").await;
    assert_eq!(r.body["aggregates"].as_array().unwrap().len(), 1);
    agent.stop().await;
    n.stop().await;
}
