//! Server actions through the API with a fake agent: the state each one
//! ends in, Nova's 409s, locks, metadata, tags and the instance actions
//! that record them.

use serde_json::{json, Value};

use crate::common::Nova;
use crate::servers::{image, wait};

/// A built server of the admin's project on a fresh fake host; its id.
pub async fn active_server(n: &Nova, token: &str, name: &str) -> String {
    let img = image(n, &n.admin).await;
    if n.get("/flavors/a1", &n.admin, "").await.status == 404 {
        n.flavor(json!({"name": "a1", "id": "a1", "ram": 512, "vcpus": 1, "disk": 1})).await;
    }
    let body = json!({"server": {"name": name, "imageRef": img, "flavorRef": "a1", "networks": "none"}});
    let r = n.post("/servers", token, "2.37", body).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    assert_eq!(wait(n, token, &id, &["BUILD"]).await["status"], "ACTIVE");
    id
}

async fn act(n: &Nova, token: &str, id: &str, mv: &str, body: Value) -> crate::common::Resp {
    n.post(&format!("/servers/{id}/action"), token, mv, body).await
}

/// Runs an action that must be accepted and waits for the server to
/// settle; answers the server.
async fn settle(n: &Nova, token: &str, id: &str, body: Value, busy: &[&str]) -> Value {
    let r = act(n, token, id, "2.73", body.clone()).await;
    assert!(r.status == 202 || r.status == 200, "{body}: {} {}", r.status, r.body);
    for _ in 0..400 {
        let s = n.get(&format!("/servers/{id}"), token, "2.73").await.body["server"].clone();
        if s["OS-EXT-STS:task_state"].is_null() && !busy.contains(&s["status"].as_str().unwrap_or_default()) {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("server {id} did not settle after {body}");
}

#[tokio::test]
async fn power_pause_suspend_and_rescue_move_through_novas_states() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("act", 1, 8, 16384, 100).await;
    let id = active_server(&n, &n.admin, "vm").await;

    let s = settle(&n, &n.admin, &id, json!({"os-stop": null}), &["ACTIVE"]).await;
    assert_eq!((s["status"].as_str(), s["OS-EXT-STS:power_state"].as_i64()), (Some("SHUTOFF"), Some(4)));
    act(&n, &n.admin, &id, "", json!({"os-stop": null})).await.fault(
        409,
        "conflictingRequest",
        &format!("Cannot 'stop' instance {id} while it is in vm_state stopped"),
    );
    act(&n, &n.admin, &id, "", json!({"pause": null})).await.fault(
        409,
        "conflictingRequest",
        &format!("Cannot 'pause' instance {id} while it is in vm_state stopped"),
    );
    let s = settle(&n, &n.admin, &id, json!({"os-start": null}), &["SHUTOFF"]).await;
    assert_eq!((s["status"].as_str(), s["OS-EXT-STS:power_state"].as_i64()), (Some("ACTIVE"), Some(1)));

    let s = settle(&n, &n.admin, &id, json!({"reboot": {"type": "HARD"}}), &[]).await;
    assert_eq!(s["status"], "ACTIVE");
    let s = settle(&n, &n.admin, &id, json!({"reboot": {"type": "soft"}}), &[]).await;
    assert_eq!(s["status"], "ACTIVE");
    act(&n, &n.admin, &id, "", json!({"reboot": {}})).await.fault(
        400,
        "badRequest",
        "Invalid input for field/attribute reboot. Value: {}. 'type' is a required property",
    );
    act(&n, &n.admin, &id, "", json!({"reboot": {"type": "SIDEWAYS"}})).await.fault(400, "badRequest", "SIDEWAYS");

    let s = settle(&n, &n.admin, &id, json!({"pause": null}), &["ACTIVE"]).await;
    assert_eq!((s["status"].as_str(), s["OS-EXT-STS:power_state"].as_i64()), (Some("PAUSED"), Some(3)));
    let s = settle(&n, &n.admin, &id, json!({"unpause": null}), &["PAUSED"]).await;
    assert_eq!(s["status"], "ACTIVE");
    let s = settle(&n, &n.admin, &id, json!({"suspend": null}), &["ACTIVE"]).await;
    assert_eq!((s["status"].as_str(), s["OS-EXT-STS:power_state"].as_i64()), (Some("SUSPENDED"), Some(7)));
    act(&n, &n.admin, &id, "", json!({"suspend": null})).await.fault(
        409,
        "conflictingRequest",
        "while it is in vm_state suspended",
    );
    let s = settle(&n, &n.admin, &id, json!({"resume": null}), &["SUSPENDED"]).await;
    assert_eq!(s["status"], "ACTIVE");

    let r = act(&n, &n.admin, &id, "", json!({"rescue": {"adminPass": "s3cret"}})).await;
    assert_eq!((r.status, &r.body), (200, &json!({"adminPass": "s3cret"})));
    let s = settle(&n, &n.admin, &id, json!({"os-getConsoleOutput": {}}), &["ACTIVE"]).await;
    assert_eq!(s["status"], "RESCUE");
    let s = settle(&n, &n.admin, &id, json!({"unrescue": null}), &["RESCUE"]).await;
    assert_eq!(s["status"], "ACTIVE");

    let r = act(&n, &n.admin, &id, "", json!({"os-getConsoleOutput": {"length": 1}})).await;
    assert_eq!((r.status, &r.body), (200, &json!({"output": "LAST LINE"})));
    let r = act(&n, &n.admin, &id, "", json!({"os-getConsoleOutput": {"length": -1}})).await;
    assert_eq!(r.body["output"].as_str().unwrap().lines().count(), 3);
    act(&n, &n.admin, &id, "2.16", json!({"trigger_crash_dump": null})).await.fault(404, "itemNotFound", "");
    assert_eq!(act(&n, &n.admin, &id, "2.17", json!({"trigger_crash_dump": null})).await.status, 202);

    act(&n, &n.admin, &id, "", json!({"explode": null})).await.fault(
        400,
        "badRequest",
        "There is no such action: explode",
    );
    act(&n, &n.admin, &id, "", json!({"pause": null, "unpause": null})).await.fault(
        400,
        "badRequest",
        "Malformed request body",
    );

    // The instance actions record each, newest first, with their events.
    let r = n.get(&format!("/servers/{id}/os-instance-actions"), &n.admin, "2.58").await;
    let names: Vec<&str> =
        r.body["instanceActions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["unrescue", "rescue", "resume", "suspend", "unpause", "pause", "reboot", "reboot", "start", "stop", "create"]
    );
    let first = &r.body["instanceActions"][10];
    assert_eq!(first["instance_uuid"], id);
    assert!(first["updated_at"].is_string());
    let rid = r.body["instanceActions"][9]["request_id"].as_str().unwrap().to_string();
    let r = n.get(&format!("/servers/{id}/os-instance-actions/{rid}"), &n.admin, "2.62").await;
    let ev = &r.body["instanceAction"]["events"][0];
    assert_eq!((ev["event"].as_str(), ev["result"].as_str()), (Some("compute_stop_instance"), Some("Success")));
    assert!(ev["host"].as_str().unwrap().starts_with("act"));
    n.get(&format!("/servers/{id}/os-instance-actions/req-nope"), &n.admin, "").await.fault(
        404,
        "itemNotFound",
        "Action req-nope not found",
    );
    let r = n.get(&format!("/servers/{id}/os-instance-actions?limit=2"), &n.admin, "2.58").await;
    assert_eq!(r.body["instanceActions"].as_array().unwrap().len(), 2);
    assert!(r.body["links"][0]["href"].as_str().unwrap().contains("marker="));

    // An admin's os-resetState.
    assert_eq!(act(&n, &n.admin, &id, "", json!({"os-resetState": {"state": "error"}})).await.status, 202);
    assert_eq!(n.get(&format!("/servers/{id}"), &n.admin, "").await.body["server"]["status"], "ERROR");
    act(&n, &n.admin, &id, "", json!({"os-resetState": {"state": "paused"}})).await.fault(400, "badRequest", "paused");
    agent.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn locks_metadata_tags_and_who_may_act() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("lk", 1, 8, 16384, 100).await;
    let project = n.project("lk").await;
    let (member, _) = n.persona(&project, "member").await;
    let (reader, _) = n.persona(&project, "reader").await;
    let other = n.project("lk-other").await;
    let (stranger, _) = n.persona(&other, "member").await;
    let id = active_server(&n, &member, "vm").await;

    // Readers may look, not act; other projects do not see the server.
    act(&n, &reader, &id, "", json!({"os-stop": null})).await.fault(
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:servers:stop to be performed.",
    );
    act(&n, &stranger, &id, "", json!({"os-stop": null})).await.fault(
        404,
        "itemNotFound",
        &format!("Instance {id} could not be found."),
    );
    act(&n, &member, &id, "", json!({"os-resetState": {"state": "error"}})).await.fault(
        403,
        "forbidden",
        "reset_state",
    );

    // A member's lock with a reason (2.73) stops the member's own actions
    // and delete, not an admin's.
    let r = act(&n, &member, &id, "2.73", json!({"lock": {"locked_reason": "maintenance"}})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let s = n.get(&format!("/servers/{id}"), &member, "2.73").await.body["server"].clone();
    assert_eq!((s["locked"].as_bool(), s["locked_reason"].as_str()), (Some(true), Some("maintenance")));
    act(&n, &member, &id, "", json!({"pause": null})).await.fault(
        409,
        "conflictingRequest",
        &format!("Instance {id} is locked"),
    );
    n.delete(&format!("/servers/{id}"), &member, "").await.fault(
        409,
        "conflictingRequest",
        &format!("Instance {id} is locked"),
    );
    n.post(&format!("/servers/{id}/metadata"), &member, "", json!({"metadata": {"a": "b"}})).await.fault(
        409,
        "conflictingRequest",
        "is locked",
    );
    act(&n, &member, &id, "2.73", json!({"lock": {"locked_reason": ""}})).await.fault(
        400,
        "badRequest",
        "locked_reason",
    );
    let s = settle(&n, &n.admin, &id, json!({"pause": null}), &["ACTIVE"]).await;
    assert_eq!(s["status"], "PAUSED", "an admin acts on a locked server");
    assert_eq!(act(&n, &member, &id, "", json!({"unlock": null})).await.status, 202);
    assert_eq!(n.get(&format!("/servers/{id}"), &member, "2.73").await.body["server"]["locked"], false);

    // Locked by an admin: only an admin unlocks.
    assert_eq!(act(&n, &n.admin, &id, "", json!({"lock": null})).await.status, 202);
    act(&n, &member, &id, "", json!({"unlock": null})).await.fault(
        403,
        "forbidden",
        "os_compute_api:os-lock-server:unlock:unlock_override",
    );
    assert_eq!(act(&n, &n.admin, &id, "", json!({"unlock": null})).await.status, 202);

    // Metadata.
    let base = format!("/servers/{id}/metadata");
    let r = n.post(&base, &member, "", json!({"metadata": {"a": "1", "b": "2"}})).await;
    assert_eq!((r.status, &r.body), (200, &json!({"metadata": {"a": "1", "b": "2"}})));
    let r = n.put(&base, &member, "", json!({"metadata": {"c": "3"}})).await;
    assert_eq!(r.body, json!({"metadata": {"c": "3"}}));
    let r = n.put(&format!("{base}/d"), &member, "", json!({"meta": {"d": "4"}})).await;
    assert_eq!((r.status, &r.body), (200, &json!({"meta": {"d": "4"}})));
    n.put(&format!("{base}/e"), &member, "", json!({"meta": {"d": "4"}})).await.fault(
        400,
        "badRequest",
        "Request body and URI mismatch",
    );
    n.put(&format!("{base}/e"), &member, "", json!({"meta": {"e": "4", "f": "5"}})).await.fault(400, "badRequest", "");
    assert_eq!(n.get(&format!("{base}/c"), &reader, "").await.body, json!({"meta": {"c": "3"}}));
    assert_eq!(n.delete(&format!("{base}/c"), &member, "").await.status, 204);
    n.get(&format!("{base}/c"), &member, "").await.fault(404, "itemNotFound", "Metadata item was not found");
    n.delete(&format!("{base}/c"), &member, "").await.fault(404, "itemNotFound", "Metadata item was not found");
    n.post(&base, &reader, "", json!({"metadata": {"x": "y"}})).await.fault(403, "forbidden", "server-metadata:create");
    let many: serde_json::Map<String, Value> = (0..129).map(|i| (format!("k{i}"), json!("v"))).collect();
    n.put(&base, &member, "", json!({"metadata": many})).await.fault(
        403,
        "forbidden",
        "Maximum number of metadata items exceeds 128",
    );
    assert_eq!(n.get(&base, &member, "").await.body, json!({"metadata": {"d": "4"}}));

    // Tags (2.26).
    let tags = format!("/servers/{id}/tags");
    n.get(&tags, &member, "2.25").await.fault(404, "itemNotFound", "");
    let r = n.call(reqwest::Method::PUT, &format!("{tags}/blue"), Some(&member), "2.26", None).await;
    assert_eq!(r.status, 201);
    assert!(r.header("location").unwrap().ends_with(&format!("/servers/{id}/tags/blue")));
    let r = n.call(reqwest::Method::PUT, &format!("{tags}/blue"), Some(&member), "2.26", None).await;
    assert_eq!(r.status, 204);
    n.call(reqwest::Method::PUT, &format!("{tags}/a,b"), Some(&member), "2.26", None).await.fault(
        400,
        "badRequest",
        "Tag 'a,b' is invalid.",
    );
    assert_eq!(n.get(&format!("{tags}/blue"), &reader, "2.26").await.status, 204);
    n.get(&format!("{tags}/red"), &reader, "2.26").await.fault(
        404,
        "itemNotFound",
        &format!("Server {id} has no tag 'red'"),
    );
    let r = n.put(&tags, &member, "2.26", json!({"tags": ["x", "y", "x"]})).await;
    assert_eq!(r.body, json!({"tags": ["x", "y"]}));
    assert_eq!(n.get(&format!("/servers/{id}"), &member, "2.26").await.body["server"]["tags"], json!(["x", "y"]));
    assert_eq!(n.delete(&format!("{tags}/x"), &member, "2.26").await.status, 204);
    n.delete(&format!("{tags}/x"), &member, "2.26").await.fault(
        404,
        "itemNotFound",
        &format!("Instance {id} has no tag 'x'"),
    );
    assert_eq!(n.delete(&tags, &member, "2.26").await.status, 204);
    assert_eq!(n.get(&tags, &member, "2.26").await.body, json!({"tags": []}));
    let r = n.get(&format!("/servers/{id}/tags"), &stranger, "2.26").await;
    r.fault(404, "itemNotFound", "has no mapping to a cell");

    // Renaming and describing (PUT /servers/{id}).
    let r = n
        .put(&format!("/servers/{id}"), &member, "2.19", json!({"server": {"name": "renamed", "description": "d"}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["server"]["name"].as_str(), r.body["server"]["description"].as_str()),
        (Some("renamed"), Some("d"))
    );
    n.put(&format!("/servers/{id}"), &member, "2.19", json!({"server": {"name": " x"}})).await.fault(
        400,
        "badRequest",
        "An invalid 'name' value was provided.",
    );
    n.put(&format!("/servers/{id}"), &member, "2.1", json!({"server": {"description": "d"}})).await.fault(
        400,
        "badRequest",
        "Additional properties are not allowed",
    );
    n.put(&format!("/servers/{id}"), &reader, "", json!({"server": {"name": "r"}})).await.fault(403, "forbidden", "");

    // Stopped servers keep their metadata editable; building ones do not.
    settle(&n, &member, &id, json!({"unpause": null}), &["PAUSED"]).await;
    let s = settle(&n, &member, &id, json!({"os-stop": null}), &["ACTIVE"]).await;
    assert_eq!(s["status"], "SHUTOFF");
    assert_eq!(n.post(&base, &member, "", json!({"metadata": {"z": "1"}})).await.status, 200);
    agent.stop().await;
    n.stop().await;
}
