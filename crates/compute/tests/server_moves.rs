//! Resize with confirm and revert, and cold migration: where the server
//! runs, which flavor it has, and what Placement holds for the instance
//! and for the migration at each point.

use serde_json::{json, Value};

use crate::common::Nova;
use crate::servers::{allocations, image, wait};

async fn node_uuid(n: &Nova, host: &str) -> String {
    compute::db::nodes(&n.cloud.compute.db).await.unwrap().into_iter().find(|x| x.host == host).unwrap().uuid
}

async fn act(n: &Nova, id: &str, body: Value) -> crate::common::Resp {
    n.post(&format!("/servers/{id}/action"), &n.admin, "2.56", body).await
}

fn host(s: &Value) -> String {
    s["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn resize_confirm_revert_and_migrate_move_the_claims_with_the_server() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("mv", 2, 8, 16384, 100).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "r1", "id": "r1", "ram": 512, "vcpus": 1, "disk": 1})).await;
    n.flavor(json!({"name": "r2", "id": "r2", "ram": 1024, "vcpus": 2, "disk": 2})).await;
    n.flavor(json!({"name": "huge", "id": "huge", "ram": 20000, "vcpus": 2, "disk": 2})).await;
    let body = json!({"server": {"name": "mv", "imageRef": img, "flavorRef": "r1", "networks": "none"}});
    let id = n.post("/servers", &n.admin, "2.37", body).await.body["server"]["id"].as_str().unwrap().to_string();
    let s = wait(&n, &n.admin, &id, &["BUILD"]).await;
    let a = host(&s);

    act(&n, &id, json!({"resize": {"flavorRef": "r1"}})).await.fault(
        400,
        "badRequest",
        "When resizing, instances must change flavor!",
    );
    act(&n, &id, json!({"resize": {"flavorRef": "nope"}})).await.fault(
        400,
        "badRequest",
        "Flavor nope could not be found.",
    );
    act(&n, &id, json!({"resize": {}})).await.fault(400, "badRequest", "'flavorRef' is a required property");
    act(&n, &id, json!({"confirmResize": null})).await.fault(
        409,
        "conflictingRequest",
        &format!("Cannot 'confirmResize' instance {id} while it is in vm_state active"),
    );
    act(&n, &id, json!({"resize": {"flavorRef": "huge"}})).await.fault(
        400,
        "badRequest",
        "No valid host was found. No valid host found for resize",
    );
    let s = n.settled(&id, &[]).await;
    assert_eq!((s["status"].as_str(), s["flavor"]["original_name"].as_str()), (Some("ACTIVE"), Some("r1")));
    assert_eq!(allocations(&n, &id).await[node_uuid(&n, &a).await]["resources"]["MEMORY_MB"], 512);

    // Resize: the server moves to the other host with the new flavor; the
    // migration holds the source until the resize is confirmed.
    assert_eq!(act(&n, &id, json!({"resize": {"flavorRef": "r2"}})).await.status, 202);
    let s = n.settled(&id, &["ACTIVE", "RESIZE"]).await;
    assert_eq!(s["status"], "VERIFY_RESIZE", "{s}");
    let b = host(&s);
    assert_ne!(a, b);
    assert_eq!(s["flavor"]["original_name"], "r2");
    let migrations = compute::db::migrations(&n.cloud.compute.db, Some(&id)).await.unwrap();
    let m = &migrations[0];
    assert_eq!((m.status.as_str(), m.migration_type.as_str()), ("finished", "resize"));
    assert_eq!(
        allocations(&n, &id).await,
        json!({node_uuid(&n, &b).await: {"generation": allocations(&n, &id).await[node_uuid(&n, &b).await]["generation"], "resources": {"VCPU": 2, "MEMORY_MB": 1024, "DISK_GB": 2}}})
    );
    assert_eq!(allocations(&n, &m.uuid).await[node_uuid(&n, &a).await]["resources"]["MEMORY_MB"], 512);
    // The disks went from the (stopped) source to the destination.
    let db = &n.cloud.compute.db;
    let receive = compute::db::command_by_key(db, &format!("resize-receive-{}", m.uuid)).await.unwrap().unwrap();
    assert_eq!((receive.0.as_str(), receive.2.as_str()), (b.as_str(), "done"), "{receive:?}");
    let send = compute::db::command_by_key(db, &format!("resize-send-{}", m.uuid)).await.unwrap().unwrap();
    assert_eq!((send.0.as_str(), send.2.as_str()), (a.as_str(), "done"), "{send:?}");
    assert!(send.1.contains(&format!("fake-disks://{id}")), "{send:?}");
    assert_eq!(act(&n, &id, json!({"confirmResize": null})).await.status, 204);
    let s = n.settled(&id, &["VERIFY_RESIZE"]).await;
    assert_eq!((s["status"].as_str(), host(&s)), (Some("ACTIVE"), b.clone()));
    assert_eq!(allocations(&n, &m.uuid).await, json!({}), "confirm drops the source's claim");
    act(&n, &id, json!({"revertResize": null})).await.fault(
        409,
        "conflictingRequest",
        "while it is in vm_state active",
    );

    // Resize and revert: everything as before the resize.
    assert_eq!(act(&n, &id, json!({"resize": {"flavorRef": "r1"}})).await.status, 202);
    let s = n.settled(&id, &["ACTIVE", "RESIZE"]).await;
    assert_eq!((s["status"].as_str(), host(&s)), (Some("VERIFY_RESIZE"), a.clone()));
    assert_eq!(act(&n, &id, json!({"revertResize": null})).await.status, 202);
    let s = n.settled(&id, &["VERIFY_RESIZE", "REVERT_RESIZE"]).await;
    assert_eq!((s["status"].as_str(), host(&s)), (Some("ACTIVE"), b.clone()));
    assert_eq!(s["flavor"]["original_name"], "r2");
    let allocs = allocations(&n, &id).await;
    assert_eq!(allocs.as_object().unwrap().len(), 1);
    assert_eq!(allocs[node_uuid(&n, &b).await]["resources"]["VCPU"], 2);
    let m = &compute::db::migrations(&n.cloud.compute.db, Some(&id)).await.unwrap()[0];
    assert_eq!(m.status, "reverted");
    assert_eq!(allocations(&n, &m.uuid).await, json!({}));

    // A stopped server is resized (cold-migrated) and stays stopped.
    settle_stop(&n, &id).await;
    assert_eq!(act(&n, &id, json!({"migrate": null})).await.status, 202);
    let s = n.settled(&id, &["SHUTOFF", "RESIZE"]).await;
    assert_eq!((s["status"].as_str(), host(&s)), (Some("VERIFY_RESIZE"), a.clone()));
    assert_eq!(s["flavor"]["original_name"], "r2", "a migration keeps the flavor");
    assert_eq!(act(&n, &id, json!({"confirmResize": null})).await.status, 204);
    let s = n.settled(&id, &["VERIFY_RESIZE"]).await;
    assert_eq!((s["status"].as_str(), s["OS-EXT-STS:power_state"].as_i64()), (Some("SHUTOFF"), Some(4)));
    act(&n, &id, json!({"migrate": {"host": "nowhere"}})).await.fault(
        400,
        "badRequest",
        "Compute host nowhere could not be found.",
    );

    let r = n.get(&format!("/servers/{id}/os-instance-actions"), &n.admin, "").await;
    let names: Vec<&str> =
        r.body["instanceActions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(names[..6], ["confirmResize", "migrate", "stop", "revertResize", "resize", "confirmResize"]);
    agent.stop().await;
    n.stop().await;
}

async fn settle_stop(n: &Nova, id: &str) {
    assert_eq!(act(n, id, json!({"os-stop": null})).await.status, 202);
    assert_eq!(n.settled(id, &["ACTIVE"]).await["status"], "SHUTOFF");
}
