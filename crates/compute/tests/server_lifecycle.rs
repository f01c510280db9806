//! Snapshots and backups into the Image service, shelve/unshelve, rebuild,
//! live migration, evacuation, changePassword, restore/forceDelete and the
//! extensions list.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::Nova;
use crate::servers::{allocations, image, wait};

async fn act(n: &Nova, token: &str, id: &str, mv: &str, body: Value) -> crate::common::Resp {
    n.post(&format!("/servers/{id}/action"), token, mv, body).await
}

async fn glance(n: &Nova, method: Method, path: &str) -> (u16, Value) {
    let r = n
        .cloud
        .client
        .request(method, format!("{}/image/v2{path}", n.cloud.url))
        .header("X-Auth-Token", &n.admin)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json::<Value>().await.unwrap_or(Value::Null))
}

async fn boot(n: &Nova, token: &str, name: &str, img: &str, flavor: &str) -> String {
    let body = json!({"server": {"name": name, "imageRef": img, "flavorRef": flavor, "networks": "none"}});
    let r = n.post("/servers", token, "2.37", body).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    assert_eq!(wait(n, token, &id, &["BUILD"]).await["status"], "ACTIVE");
    id
}

fn host(s: &Value) -> Option<String> {
    s["OS-EXT-SRV-ATTR:host"].as_str().map(str::to_string)
}

async fn node_uuid(n: &Nova, host: &str) -> String {
    compute::db::nodes(&n.cloud.compute.db).await.unwrap().into_iter().find(|x| x.host == host).unwrap().uuid
}

#[tokio::test]
async fn snapshots_backups_and_shelving_go_through_the_image_service() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("sh", 2, 8, 16384, 100).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "s1", "id": "s1", "ram": 512, "vcpus": 1, "disk": 1})).await;
    let project = n.project("snap").await;
    let (member, _) = n.persona(&project, "member").await;
    let id = boot(&n, &member, "snappy", &img, "s1").await;

    // createImage at 2.45 answers the image id; the image gets the disk.
    let r = act(&n, &member, &id, "2.45", json!({"createImage": {"name": "snap1", "metadata": {"k": "v"}}})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let snap = r.body["image_id"].as_str().unwrap().to_string();
    n.settled(&id, &[]).await;
    let (status, im) = glance(&n, Method::GET, &format!("/images/{snap}")).await;
    assert_eq!(status, 200);
    assert_eq!((im["status"].as_str(), im["name"].as_str()), (Some("active"), Some("snap1")), "{im}");
    assert_eq!((im["instance_uuid"].as_str(), im["image_type"].as_str()), (Some(id.as_str()), Some("snapshot")));
    assert_eq!((im["base_image_ref"].as_str(), im["k"].as_str()), (Some(img.as_str()), Some("v")));
    assert_eq!((im["owner"].as_str(), im["visibility"].as_str()), (Some(project.as_str()), Some("private")));
    assert_eq!(im["size"], format!("FAKE SNAPSHOT OF {id}\n").len());
    // Below 2.45: no body, a Location header.
    let r = act(&n, &member, &id, "2.1", json!({"createImage": {"name": "snap2"}})).await;
    assert_eq!(r.status, 202);
    assert!(r.header("location").unwrap().contains("/images/"), "{:?}", r.headers);
    n.settled(&id, &[]).await;
    act(&n, &member, &id, "2.45", json!({"createImage": {}})).await.fault(
        400,
        "badRequest",
        "'name' is a required property",
    );
    act(&n, &member, &id, "2.45", json!({"createImage": {"name": "x", "metadata": {"k": 1}}})).await.fault(
        400,
        "badRequest",
        "",
    );

    // Backups: rotation keeps the newest (image times have whole seconds).
    for i in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let body = json!({"createBackup": {"name": format!("b{i}"), "backup_type": "daily", "rotation": 2}});
        let r = act(&n, &n.admin, &id, "2.45", body).await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert!(r.body["image_id"].is_string());
        n.settled(&id, &[]).await;
    }
    let (_, all) = glance(&n, Method::GET, "/images?limit=100").await;
    let backups: Vec<&str> = all["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["image_type"] == "backup" && i["instance_uuid"] == id.as_str())
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(backups.len(), 2, "{backups:?}");
    assert!(!backups.contains(&"b0"), "the oldest backup went: {backups:?}");
    act(&n, &n.admin, &id, "2.45", json!({"createBackup": {"name": "b", "backup_type": "daily"}})).await.fault(
        400,
        "badRequest",
        "'rotation' is a required property",
    );

    // Shelve: snapshot, offloaded at once, the host's claim released.
    let before = n.get(&format!("/servers/{id}"), &n.admin, "2.47").await.body["server"].clone();
    assert_eq!(act(&n, &member, &id, "2.1", json!({"shelve": null})).await.status, 202);
    let s = n.settled(&id, &["ACTIVE", "SHELVED"]).await;
    assert_eq!(s["status"], "SHELVED_OFFLOADED", "{s}");
    assert_eq!(host(&s), None);
    assert_eq!(allocations(&n, &id).await, json!({}));
    let (_, all) = glance(&n, Method::GET, "/images?name=snappy-shelved").await;
    let shelved = all["images"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(all["images"][0]["status"], "active");
    act(&n, &member, &id, "2.1", json!({"shelve": null})).await.fault(
        409,
        "conflictingRequest",
        &format!("Cannot 'shelve' instance {id} while it is in vm_state shelved_offloaded"),
    );
    act(&n, &member, &id, "2.1", json!({"shelveOffload": null})).await.fault(403, "forbidden", "");
    act(&n, &n.admin, &id, "2.77", json!({"unshelve": {"availability_zone": "nowhere"}})).await.fault(
        400,
        "badRequest",
        "The requested availability zone is not available",
    );
    act(&n, &member, &id, "2.91", json!({"unshelve": {"host": "sh-0"}})).await.fault(403, "forbidden", "");

    // Unshelve: scheduled again, ACTIVE, the shelved image deleted.
    assert_eq!(act(&n, &n.admin, &id, "2.91", json!({"unshelve": {"host": "sh-1"}})).await.status, 202);
    let s = n.settled(&id, &["SHELVED_OFFLOADED"]).await;
    assert_eq!((s["status"].as_str(), host(&s).as_deref()), (Some("ACTIVE"), Some("sh-1")), "{s}");
    assert_eq!(s["image"]["id"], before["image"]["id"], "the server keeps its image");
    assert_eq!(allocations(&n, &id).await[node_uuid(&n, "sh-1").await]["resources"]["MEMORY_MB"], 512);
    assert_eq!(glance(&n, Method::GET, &format!("/images/{shelved}")).await.0, 404);
    act(&n, &member, &id, "2.77", json!({"unshelve": null})).await.fault(
        409,
        "conflictingRequest",
        "while it is in vm_state active",
    );

    let r = n.get(&format!("/servers/{id}/os-instance-actions"), &member, "").await;
    let names: Vec<&str> =
        r.body["instanceActions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(names[..3], ["unshelve", "shelve", "createBackup"]);
    agent.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn a_shelved_server_stays_on_its_host_until_offloaded_when_configured() {
    let cloud = testkit::TestCloud::start_with(|c| c.compute.shelved_offload_time = -1).await;
    let admin = cloud.admin_token().await;
    let n = Nova { cloud, admin };
    let agent = n.cloud.start_agent("so", 1, 8, 16384, 100).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "s1", "id": "s1", "ram": 512, "vcpus": 1, "disk": 1})).await;
    let id = boot(&n, &n.admin, "keep", &img, "s1").await;
    assert_eq!(act(&n, &n.admin, &id, "2.1", json!({"shelve": null})).await.status, 202);
    let s = n.settled(&id, &["ACTIVE"]).await;
    assert_eq!((s["status"].as_str(), host(&s).as_deref()), (Some("SHELVED"), Some("so-0")));
    assert_eq!(s["OS-EXT-STS:power_state"], 4);
    act(&n, &n.admin, &id, "2.77", json!({"unshelve": {"availability_zone": "nova"}})).await.fault(
        409,
        "conflictingRequest",
        &format!("Specifying an availability zone or a host when unshelving server \"{id}\" with status \"SHELVED\" is not supported. The server status must be SHELVED_OFFLOADED."),
    );
    assert_eq!(act(&n, &n.admin, &id, "2.1", json!({"shelveOffload": null})).await.status, 202);
    let s = n.settled(&id, &["SHELVED"]).await;
    assert_eq!((s["status"].as_str(), host(&s)), (Some("SHELVED_OFFLOADED"), None));
    assert_eq!(allocations(&n, &id).await, json!({}));
    assert_eq!(act(&n, &n.admin, &id, "2.1", json!({"unshelve": null})).await.status, 202);
    assert_eq!(n.settled(&id, &["SHELVED_OFFLOADED"]).await["status"], "ACTIVE");
    agent.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn rebuild_change_password_restore_and_force_delete() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("rb", 1, 8, 16384, 100).await;
    let img = image(&n, &n.admin).await;
    let img2 = image(&n, &n.admin).await;
    n.flavor(json!({"name": "s1", "id": "s1", "ram": 512, "vcpus": 1, "disk": 1})).await;
    let id = boot(&n, &n.admin, "rb", &img, "s1").await;

    let body = json!({"rebuild": {"imageRef": img2, "name": "rebuilt", "metadata": {"a": "b"}, "adminPass": "pw"}});
    let r = act(&n, &n.admin, &id, "2.75", body).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        (r.body["server"]["status"].as_str(), r.body["server"]["adminPass"].as_str()),
        (Some("REBUILD"), Some("pw"))
    );
    assert_eq!(r.body["server"]["image"]["id"], img2.as_str());
    assert!(r.header("location").unwrap().ends_with(&format!("/servers/{id}")));
    let s = n.settled(&id, &["REBUILD"]).await;
    assert_eq!((s["status"].as_str(), s["name"].as_str()), (Some("ACTIVE"), Some("rebuilt")));
    assert_eq!((s["image"]["id"].as_str(), s["metadata"]["a"].as_str()), (Some(img2.as_str()), Some("b")));
    act(&n, &n.admin, &id, "2.75", json!({"rebuild": {"imageRef": uuid::Uuid::new_v4().to_string()}})).await.fault(
        400,
        "badRequest",
        "Cannot find image for rebuild",
    );
    act(&n, &n.admin, &id, "2.75", json!({"rebuild": {}})).await.fault(
        400,
        "badRequest",
        "'imageRef' is a required property",
    );
    act(&n, &n.admin, &id, "2.75", json!({"rebuild": {"imageRef": img, "key_name": "nokey"}})).await.fault(
        400,
        "badRequest",
        "Invalid key_name provided.",
    );

    // A stopped server is rebuilt stopped.
    assert_eq!(act(&n, &n.admin, &id, "2.1", json!({"os-stop": null})).await.status, 202);
    n.settled(&id, &["ACTIVE"]).await;
    act(&n, &n.admin, &id, "2.1", json!({"changePassword": {"adminPass": "x"}})).await.fault(
        409,
        "conflictingRequest",
        &format!("Cannot 'changePassword' instance {id} while it is in vm_state stopped"),
    );
    assert_eq!(act(&n, &n.admin, &id, "2.1", json!({"rebuild": {"imageRef": img}})).await.status, 202);
    let s = n.settled(&id, &["REBUILD"]).await;
    assert_eq!((s["status"].as_str(), s["OS-EXT-STS:power_state"].as_i64()), (Some("SHUTOFF"), Some(4)));
    assert_eq!(act(&n, &n.admin, &id, "2.1", json!({"os-start": null})).await.status, 202);
    n.settled(&id, &["SHUTOFF"]).await;

    act(&n, &n.admin, &id, "2.1", json!({"changePassword": {}})).await.fault(
        400,
        "badRequest",
        "'adminPass' is a required property",
    );
    assert_eq!(act(&n, &n.admin, &id, "2.1", json!({"changePassword": {"adminPass": "s3cret"}})).await.status, 202);
    assert_eq!(n.settled(&id, &[]).await["status"], "ACTIVE");
    let r = n.get(&format!("/servers/{id}/os-instance-actions"), &n.admin, "2.51").await;
    let rid = r.body["instanceActions"][0]["request_id"].as_str().unwrap().to_string();
    assert_eq!(r.body["instanceActions"][0]["action"], "changePassword");
    let r = n.get(&format!("/servers/{id}/os-instance-actions/{rid}"), &n.admin, "2.51").await;
    assert_eq!(r.body["instanceAction"]["events"][0]["event"], "compute_set_admin_password");
    assert_eq!(r.body["instanceAction"]["events"][0]["result"], "Success");

    act(&n, &n.admin, &id, "2.1", json!({"restore": null})).await.fault(
        409,
        "conflictingRequest",
        &format!("Cannot 'restore' instance {id} while it is in vm_state active"),
    );
    assert_eq!(act(&n, &n.admin, &id, "2.1", json!({"forceDelete": null})).await.status, 202);
    assert_eq!(wait(&n, &n.admin, &id, &["ACTIVE"]).await, Value::Null);
    assert_eq!(allocations(&n, &id).await, json!({}));
    agent.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn live_migration_and_evacuation_move_the_server_and_its_claims() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("lm", 3, 8, 16384, 100).await;
    let img = image(&n, &n.admin).await;
    n.flavor(json!({"name": "s1", "id": "s1", "ram": 512, "vcpus": 1, "disk": 1})).await;
    let project = n.project("lm").await;
    let (member, _) = n.persona(&project, "member").await;
    let (other, _) = n.persona(&n.project("lm-other").await, "member").await;
    let id = boot(&n, &member, "mover", &img, "s1").await;
    let a = host(&n.get(&format!("/servers/{id}"), &n.admin, "2.47").await.body["server"]).unwrap();

    let live = json!({"os-migrateLive": {"block_migration": "auto", "host": null}});
    act(&n, &member, &id, "2.25", live.clone()).await.fault(403, "forbidden", "");
    act(&n, &other, &id, "2.25", live.clone()).await.fault(404, "itemNotFound", "");
    act(&n, &n.admin, &id, "2.25", json!({"os-migrateLive": {"host": null}})).await.fault(
        400,
        "badRequest",
        "'block_migration' is a required property",
    );
    act(&n, &n.admin, &id, "2.30", json!({"os-migrateLive": {"block_migration": false, "host": null, "force": true}}))
        .await
        .fault(400, "badRequest", "Can't force to a non-provided destination");
    act(&n, &n.admin, &id, "2.25", json!({"os-migrateLive": {"block_migration": "auto", "host": "nowhere"}}))
        .await
        .fault(400, "badRequest", "Compute host nowhere could not be found.");

    assert_eq!(act(&n, &n.admin, &id, "2.25", live.clone()).await.status, 202);
    let s = n.settled(&id, &["MIGRATING"]).await;
    let b = host(&s).unwrap();
    assert_eq!(s["status"], "ACTIVE");
    assert_ne!(a, b);
    let allocs = allocations(&n, &id).await;
    assert_eq!(allocs.as_object().unwrap().len(), 1, "{allocs}");
    assert_eq!(allocs[node_uuid(&n, &b).await]["resources"]["MEMORY_MB"], 512);
    let m = compute::db::migrations(&n.cloud.compute.db, Some(&id)).await.unwrap().remove(0);
    assert_eq!((m.migration_type.as_str(), m.status.as_str()), ("live-migration", "completed"));
    assert_eq!(allocations(&n, &m.uuid).await, json!({}));

    // The in-progress live migrations of the server: none now.
    let r = n.get(&format!("/servers/{id}/migrations"), &n.admin, "2.23").await;
    assert_eq!(r.body, json!({"migrations": []}));
    assert_eq!(n.get(&format!("/servers/{id}/migrations"), &n.admin, "2.22").await.status, 404);
    n.get(&format!("/servers/{id}/migrations/{}", m.id), &n.admin, "2.23").await.fault(
        404,
        "itemNotFound",
        &format!("Live migration {} for server {id} is not in progress.", m.id),
    );
    n.delete(&format!("/servers/{id}/migrations/{}", m.id), &n.admin, "2.24").await.fault(
        409,
        "conflictingRequest",
        &format!("Cannot 'abort live migration' instance {id} while it is in task_state None"),
    );
    n.post(&format!("/servers/{id}/migrations/{}/action", m.id), &n.admin, "2.22", json!({"force_complete": null}))
        .await
        .fault(
            409,
            "conflictingRequest",
            &format!("Cannot 'force_complete' instance {id} while it is in task_state None"),
        );

    // Evacuate: refused while the host is up; then with the host forced
    // down the server is rebuilt elsewhere.
    act(&n, &n.admin, &id, "2.29", json!({"evacuate": {}})).await.fault(
        400,
        "badRequest",
        &format!("Compute service of {b} is still in use."),
    );
    act(&n, &n.admin, &id, "2.29", json!({"evacuate": {"host": "nowhere"}})).await.fault(
        404,
        "itemNotFound",
        "Compute host nowhere not found.",
    );
    act(&n, &n.admin, &id, "2.29", json!({"evacuate": {"host": b}})).await.fault(
        400,
        "badRequest",
        "The target host can't be the same one.",
    );
    act(&n, &member, &id, "2.29", json!({"evacuate": {}})).await.fault(403, "forbidden", "");
    let r = n.get(&format!("/os-services?host={b}"), &n.admin, "2.53").await;
    let svc = r.body["services"][0]["id"].as_str().unwrap().to_string();
    let r = n.put(&format!("/os-services/{svc}"), &n.admin, "2.53", json!({"forced_down": true})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = act(&n, &n.admin, &id, "2.14", json!({"evacuate": {}})).await;
    assert_eq!((r.status, &r.body), (200, &Value::Null));
    let s = n.settled(&id, &["REBUILD"]).await;
    let c = host(&s).unwrap();
    assert_eq!(s["status"], "ACTIVE", "{s}");
    assert_ne!(c, b);
    let allocs = allocations(&n, &id).await;
    assert_eq!(allocs.as_object().unwrap().len(), 1, "{allocs}");
    assert!(allocs.get(node_uuid(&n, &c).await).is_some());
    let m = compute::db::migrations(&n.cloud.compute.db, Some(&id)).await.unwrap().remove(0);
    assert_eq!((m.migration_type.as_str(), m.status.as_str()), ("evacuation", "done"));
    let r = n.get("/os-migrations?migration_type=evacuation", &n.admin, "2.23").await;
    assert_eq!(r.body["migrations"][0]["instance_uuid"], id.as_str());
    agent.stop().await;
    n.stop().await;
}

#[tokio::test]
async fn the_extensions_list_is_novas() {
    let n = Nova::start().await;
    let r = n.get("/extensions", &n.admin, "").await;
    let all = r.body["extensions"].as_array().unwrap();
    assert_eq!(all.len(), 99);
    assert_eq!(
        all[0],
        json!({"alias": "NMN", "name": "Multinic", "description": "Multiple network support.", "links": [],
               "namespace": "http://docs.openstack.org/compute/ext/fake_xml", "updated": "2014-12-03T00:00:00Z"})
    );
    let r = n.get("/extensions/os-shelve", &n.admin, "2.1").await;
    assert_eq!(r.body["extension"]["name"], "Shelve");
    n.get("/extensions/nope", &n.admin, "2.1").await.fault(404, "itemNotFound", "The resource could not be found.");
    n.get("/extensions?x=1", &n.admin, "2.102").await.fault(400, "badRequest", "");
    assert_eq!(n.call(Method::GET, "/extensions", None, "", None).await.status, 401);
    n.stop().await;
}
