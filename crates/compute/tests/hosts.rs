//! Agents and their hosts: registration into services, nodes and Placement,
//! commands as durable rows that survive an agent's restart.

use agent::protocol::Action;
use serde_json::{json, Value};
use virt::Driver;

use crate::common::Nova;

fn spec(uuid: &str, node: &str) -> virt::InstanceSpec {
    virt::InstanceSpec {
        uuid: uuid.into(),
        name: "vm".into(),
        node: node.into(),
        vcpus: 1,
        memory_mb: 64,
        root_gb: 1,
        image_ref: "img".into(),
        user_data: None,
        key_data: None,
        ephemeral_gb: 0,
        swap_mb: 0,
        config_drive: None,
        stopped: false,
    }
}

#[tokio::test]
async fn an_agent_registers_its_hosts_nodes_and_their_inventory() {
    let n = Nova::start().await;
    let a = n.cloud.start_agent("rack1", 3, 8, 16384, 100).await;
    let services = compute::db::services(&n.cloud.compute.db).await.unwrap();
    let hosts: Vec<&str> = services.iter().map(|s| s.host.as_str()).collect();
    assert_eq!(hosts, ["rack1-0", "rack1-1", "rack1-2"]);
    assert!(services.iter().all(|s| s.binary == "nova-compute" && s.agent.as_deref() == Some("rack1")));
    assert!(services.iter().all(|s| n.cloud.compute.service_is_up(s)));
    let nodes = compute::db::nodes(&n.cloud.compute.db).await.unwrap();
    assert_eq!(nodes.len(), 3);

    // Each node is a resource provider with the configured reserved amounts and ratios.
    let r = n.cloud.placement_request(reqwest::Method::GET, "/resource_providers", Some(&n.admin), "1.14").send().await;
    let v: Value = r.unwrap().json().await.unwrap();
    let names: Vec<&str> =
        v["resource_providers"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 3, "{v}");
    let path = format!("/resource_providers/{}/inventories", nodes[0].uuid);
    let r = n.cloud.placement_request(reqwest::Method::GET, &path, Some(&n.admin), "1.14").send().await;
    let inv: Value = r.unwrap().json().await.unwrap();
    assert_eq!(inv["inventories"]["VCPU"]["total"], 8);
    assert_eq!(inv["inventories"]["VCPU"]["allocation_ratio"], 4.0);
    assert_eq!(inv["inventories"]["MEMORY_MB"]["total"], 16384);
    assert_eq!(inv["inventories"]["MEMORY_MB"]["reserved"], 512);
    assert_eq!(inv["inventories"]["DISK_GB"]["total"], 100);

    // A second report (a restarted agent) keeps the node's identity.
    a.stop().await;
    let a = n.cloud.start_agent("rack1", 3, 8, 16384, 100).await;
    let again = compute::db::nodes(&n.cloud.compute.db).await.unwrap();
    assert_eq!(again.iter().map(|x| &x.uuid).collect::<Vec<_>>(), nodes.iter().map(|x| &x.uuid).collect::<Vec<_>>());
    a.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn commands_run_once_per_key_and_wait_for_a_restarted_agent() {
    let n = Nova::start().await;
    let a = n.cloud.start_agent("rack2", 1, 4, 8192, 40).await;
    let c = n.cloud.compute.clone();
    let r = c.run_on_host("rack2-0", "spawn-u1", &Action::Spawn { spec: spec("u1", "rack2-0") }).await.unwrap();
    assert_eq!(r.error, None);
    assert_eq!(r.instance.unwrap().power_state, virt::PowerState::Running);
    // The same key is the same command: answered from its row.
    let again = c.run_on_host("rack2-0", "spawn-u1", &Action::Spawn { spec: spec("u1", "rack2-0") }).await.unwrap();
    assert_eq!(again.error, None);
    let r = c.run_on_host("rack2-0", "off-u1", &Action::PowerOff { uuid: "u1".into() }).await.unwrap();
    assert_eq!(r.instance.unwrap().power_state, virt::PowerState::Shutdown);
    let r = c.run_on_host("rack2-0", "on-nope", &Action::PowerOn { uuid: "nope".into() }).await.unwrap();
    assert!(r.error.unwrap().contains("not on this host"), "a driver failure comes back as the command's error");
    let err = c.run_on_host("nowhere", "x", &Action::PowerOn { uuid: "u1".into() }).await.unwrap_err();
    assert!(err.contains("compute host nowhere is not known"), "{err}");

    // A command queued while the agent is away runs when it is back.
    a.stop().await;
    let waiting = {
        let c = c.clone();
        tokio::spawn(
            async move { c.run_on_host("rack2-0", "destroy-u1", &Action::Destroy { uuid: "u1".into() }).await },
        )
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished());
    let a = n.cloud.start_agent("rack2", 1, 4, 8192, 40).await;
    let r = tokio::time::timeout(std::time::Duration::from_secs(20), waiting).await.expect("ran").unwrap().unwrap();
    assert_eq!(r.error, None);
    a.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn only_admins_and_services_speak_the_agent_protocol() {
    let n = Nova::start().await;
    let p = n.project("ag").await;
    let (member, _) = n.persona(&p, "member").await;
    let url = format!("{}/compute-agent/v1/agents/x/report", n.cloud.url);
    let body = json!({"version": 1, "hosts": []});
    let r = n.cloud.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = n.cloud.client.post(&url).header("X-Auth-Token", &member).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = n
        .cloud
        .client
        .post(&url)
        .header("X-Auth-Token", &n.admin)
        .json(&json!({"version": 99, "hosts": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "an agent of another release is told so");
    let r = n.cloud.client.post(&url).header("X-Auth-Token", &n.admin).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    n.stop().await;
}

#[tokio::test]
async fn an_instance_the_database_does_not_place_on_a_host_is_destroyed() {
    let n = Nova::start().await;
    let a = n.cloud.start_agent("rec", 1, 4, 8192, 40).await;
    let c = n.cloud.compute.clone();
    // A spawn with no instance behind it, as a crash between a spawn and its record would leave.
    let r = c.run_on_host("rec-0", "spawn-ghost", &Action::Spawn { spec: spec("ghost", "rec-0") }).await.unwrap();
    assert_eq!(r.error, None);
    let mut seen = false;
    for _ in 0..100 {
        let reported = compute::db::reported_instances(&c.db, "rec-0").await.unwrap();
        if reported == ["ghost"] {
            seen = true;
        }
        if seen && reported.is_empty() {
            a.stop().await;
            n.stop().await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the ghost instance was not reconciled away (seen: {seen})");
}

#[tokio::test]
async fn a_report_of_a_guest_that_is_off_stops_its_active_server() {
    let n = Nova::start().await;
    let a = n.cloud.start_agent("sync", 1, 4, 8192, 40).await;
    n.flavor(json!({"name": "f", "id": "f", "ram": 256, "vcpus": 1, "disk": 1})).await;
    let img = n.image_with(&n.admin, json!({})).await;
    let boot = |name: &str| json!({"server": {"name": name, "imageRef": img, "flavorRef": "f", "networks": "none"}});
    let r = n.post("/servers", &n.admin, "2.37", boot("died")).await;
    let died = r.body["server"]["id"].as_str().unwrap().to_string();
    let r = n.post("/servers", &n.admin, "2.37", boot("paused")).await;
    let paused = r.body["server"]["id"].as_str().unwrap().to_string();
    n.settled(&died, &["BUILD"]).await;
    n.settled(&paused, &["BUILD"]).await;
    a.stop().await;

    // As an agent reports after a restart: one guest died, one is paused.
    let c = n.cloud.compute.clone();
    let node = virt::fake::FakeDriver::new("sync-0", 1, 4, 8192, 40).nodes();
    let info = |uuid: &str, power_state| virt::InstanceInfo { uuid: uuid.into(), node: "sync-0".into(), power_state };
    let report = agent::protocol::Report {
        version: agent::protocol::VERSION,
        hosts: vec![agent::protocol::HostReport {
            host: "sync-0".into(),
            nodes: node,
            instances: vec![info(&died, virt::PowerState::Shutdown), info(&paused, virt::PowerState::Paused)],
        }],
    };
    c.agent_report("sync", &report).await.unwrap();
    let s = n.get(&format!("/servers/{died}"), &n.admin, "2.47").await.body["server"].clone();
    assert_eq!((s["status"].as_str(), s["OS-EXT-STS:power_state"].as_i64()), (Some("SHUTOFF"), Some(4)));
    // A power state alone is recorded; the vm_state stays.
    let s = n.get(&format!("/servers/{paused}"), &n.admin, "2.47").await.body["server"].clone();
    assert_eq!((s["status"].as_str(), s["OS-EXT-STS:power_state"].as_i64()), (Some("ACTIVE"), Some(3)));
    n.stop().await;
}
