//! os-migrations, os-simple-tenant-usage, os-server-external-events, a
//! server's password and diagnostics.

use serde_json::json;

use crate::common::Nova;
use crate::server_actions::active_server;
use crate::servers::wait;

#[tokio::test]
async fn migrations_usage_events_password_and_diagnostics() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("rp", 2, 8, 16384, 100).await;
    let project = n.project("rp").await;
    let (member, _) = n.persona(&project, "member").await;
    let id = active_server(&n, &member, "rp").await;

    // A cold migration shows in os-migrations, with hosts for admins.
    let r = n.post(&format!("/servers/{id}/action"), &n.admin, "", json!({"migrate": null})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    for _ in 0..200 {
        let s = n.get(&format!("/servers/{id}"), &n.admin, "").await.body["server"].clone();
        if s["status"] == "VERIFY_RESIZE" && s["OS-EXT-STS:task_state"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let r = n.get("/os-migrations", &n.admin, "2.80").await;
    let m = &r.body["migrations"][0];
    assert_eq!((m["instance_uuid"].as_str(), m["migration_type"].as_str()), (Some(id.as_str()), Some("migration")));
    assert_eq!(m["status"], "finished");
    assert!(m["source_compute"].as_str().unwrap().starts_with("rp-") && m["uuid"].is_string());
    assert_eq!(m["project_id"], project);
    let r = n.get("/os-migrations", &n.admin, "2.1").await;
    assert!(r.body["migrations"][0].get("migration_type").is_none());
    let r = n.get("/os-migrations?migration_type=resize", &n.admin, "2.23").await;
    assert_eq!(r.body["migrations"], json!([]));
    n.get("/os-migrations", &member, "").await.fault(403, "forbidden", "os_compute_api:os-migrations:index");
    n.get("/os-migrations?bogus=1", &n.admin, "2.59").await.fault(400, "badRequest", "bogus");
    assert_eq!(
        n.post(&format!("/servers/{id}/action"), &n.admin, "", json!({"confirmResize": null})).await.status,
        204
    );

    // Usage: the server counts for its project.
    let r = n.get(&format!("/os-simple-tenant-usage/{project}?start=2020-01-01T00:00:00"), &member, "2.40").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let u = &r.body["tenant_usage"];
    assert_eq!(u["tenant_id"], project);
    assert_eq!(u["server_usages"][0]["instance_id"], id);
    assert_eq!(u["server_usages"][0]["state"], "resized");
    assert!(u["total_hours"].as_f64().unwrap() > 0.0);
    let r = n.get("/os-simple-tenant-usage?start=2020-01-01T00:00:00&detailed=1", &n.admin, "").await;
    assert!(r.body["tenant_usages"].as_array().unwrap().iter().any(|t| t["tenant_id"] == project));
    n.get("/os-simple-tenant-usage", &member, "").await.fault(403, "forbidden", "os-simple-tenant-usage:list");
    n.get(&format!("/os-simple-tenant-usage/{project}?start=yesterday"), &member, "").await.fault(
        400,
        "badRequest",
        "Invalid datetime string: Datetime is in invalid format",
    );
    n.get(&format!("/os-simple-tenant-usage/{project}?start=2030-01-01T00:00:00&end=2029-01-01T00:00:00"), &member, "")
        .await
        .fault(400, "badRequest", "Invalid start time. The start time cannot occur after the end time.");

    // External events: per event codes, 207 when one failed.
    let missing = uuid::Uuid::new_v4().to_string();
    let r = n
        .post(
            "/os-server-external-events",
            &n.admin,
            "2.76",
            json!({"events": [
            {"name": "network-vif-plugged", "server_uuid": id, "tag": "port"},
            {"name": "network-changed", "server_uuid": missing},
            {"name": "power-update", "server_uuid": id}]}),
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.body);
    let codes: Vec<i64> = r.body["events"].as_array().unwrap().iter().map(|e| e["code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [200, 404, 400]);
    assert_eq!(r.body["events"][0]["status"], "completed");
    assert_eq!(r.body["events"][1]["status"], "failed");
    let r = n
        .post(
            "/os-server-external-events",
            &n.admin,
            "",
            json!({"events": [{"name": "network-changed", "server_uuid": id}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    n.post(
        "/os-server-external-events",
        &member,
        "",
        json!({"events": [{"name": "network-changed", "server_uuid": id}]}),
    )
    .await
    .fault(403, "forbidden", "os-server-external-events:create");

    // Password and diagnostics.
    let r = n.get(&format!("/servers/{id}/os-server-password"), &member, "").await;
    assert_eq!((r.status, &r.body), (200, &json!({"password": ""})));
    assert_eq!(n.delete(&format!("/servers/{id}/os-server-password"), &member, "").await.status, 204);
    let r = n.get(&format!("/servers/{id}/diagnostics"), &n.admin, "2.48").await;
    assert_eq!((r.body["state"].as_str(), r.body["num_cpus"].as_i64()), (Some("running"), Some(1)), "{}", r.body);
    n.get(&format!("/servers/{id}/diagnostics"), &member, "2.48").await.fault(
        403,
        "forbidden",
        "os-server-diagnostics",
    );
    n.delete(&format!("/servers/{id}"), &member, "").await;
    wait(&n, &member, &id, &["ACTIVE", "VERIFY_RESIZE"]).await;
    agent.stop().await;
    n.stop().await;
}
