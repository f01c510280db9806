//! 200 simultaneous creates on 5 small fake hosts: Placement never
//! over-commits; what fits is ACTIVE, the rest ERROR with "No valid host".

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::Nova;
use crate::servers::image;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_simultaneous_creates_never_overcommit() {
    let cloud = testkit::TestCloud::start_with(|c| {
        c.compute.quota_instances = -1;
        c.compute.quota_cores = -1;
        c.compute.quota_ram = -1;
    })
    .await;
    let admin = cloud.admin_token().await;
    let n = Nova { cloud, admin };
    // Each host: 4096 MiB for servers after the 512 reserved: 8 servers of 512 MiB.
    let agent = n.cloud.start_agent("dense", 5, 4, 4608, 100).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "m1.half", "id": "half", "ram": 512, "vcpus": 1, "disk": 1})).await;

    let posts = (0..200).map(|i| {
        let body =
            json!({"server": {"name": format!("c{i}"), "imageRef": img, "flavorRef": "half", "networks": "none"}});
        n.post("/servers", &n.admin, "2.37", body)
    });
    let results = futures_util::future::join_all(posts).await;
    assert!(results.iter().all(|r| r.status == 202), "every create is accepted");

    let mut statuses: HashMap<String, usize> = HashMap::new();
    for _ in 0..600 {
        let r = n.get("/servers/detail?limit=1000", &n.admin, "2.47").await;
        statuses.clear();
        for s in r.body["servers"].as_array().unwrap() {
            *statuses.entry(s["status"].as_str().unwrap().to_string()).or_default() += 1;
        }
        if !statuses.contains_key("BUILD") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(statuses.values().sum::<usize>(), 200);
    assert_eq!(statuses.get("ACTIVE").copied().unwrap_or(0), 40, "every slot is used and none twice: {statuses:?}");
    assert_eq!(statuses.get("ERROR").copied().unwrap_or(0), 160, "{statuses:?}");

    let r = n.get("/servers/detail?status=ERROR&limit=1000", &n.admin, "2.47").await;
    assert!(r.body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["fault"]["message"] == "No valid host was found. There are not enough hosts available."));

    // Placement: each provider's usage is within its capacity, and the sum is the ACTIVE servers'.
    let r = n.cloud.placement_request(reqwest::Method::GET, "/resource_providers", Some(&n.admin), "1.14").send().await;
    let providers: Value = r.unwrap().json().await.unwrap();
    let mut total_ram = 0;
    for p in providers["resource_providers"].as_array().unwrap() {
        let path = format!("/resource_providers/{}/usages", p["uuid"].as_str().unwrap());
        let r = n.cloud.placement_request(reqwest::Method::GET, &path, Some(&n.admin), "1.14").send().await;
        let u: Value = r.unwrap().json().await.unwrap();
        let ram = u["usages"]["MEMORY_MB"].as_i64().unwrap_or(0);
        assert!(ram <= 4096, "provider {} holds {ram} MiB", p["name"]);
        total_ram += ram;
    }
    assert_eq!(total_ram, 40 * 512);
    assert_eq!(n.cloud.compute.engine.active_count().await.unwrap(), 0, "every workflow ended");
    agent.stop().await;
    n.stop().await;
}
