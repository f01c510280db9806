//! Who may call what: no token, reader, member, another project's member
//! and admin, for each flavor and keypair route.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Nova, ED25519};

struct Personas {
    reader: String,
    member: String,
    member_user: String,
    other: String,
}

async fn personas(n: &Nova) -> Personas {
    let p = n.project("authz").await;
    let q = n.project("other").await;
    let (reader, _) = n.persona(&p, "reader").await;
    let (member, member_user) = n.persona(&p, "member").await;
    let (other, _) = n.persona(&q, "member").await;
    Personas { reader, member, member_user, other }
}

#[tokio::test]
async fn flavor_routes() {
    let n = Nova::start().await;
    let who = personas(&n).await;
    n.flavor(json!({"name": "f", "id": "f1", "ram": 1, "vcpus": 1, "disk": 0, "os-flavor-access:is_public": false}))
        .await;
    n.flavor(json!({"name": "g", "id": "g1", "ram": 1, "vcpus": 1, "disk": 0})).await;
    // (method, path, body, what a reader/member/other gets, what the admin gets)
    let routes: Vec<(Method, &str, Option<Value>, u16, u16)> = vec![
        (Method::GET, "/flavors", None, 200, 200),
        (Method::GET, "/flavors/detail", None, 200, 200),
        (Method::GET, "/flavors/g1", None, 200, 200),
        (Method::GET, "/flavors/g1/os-extra_specs", None, 200, 200),
        (Method::POST, "/flavors", Some(json!({"flavor": {"name": "new", "ram": 1, "vcpus": 1, "disk": 0}})), 403, 200),
        (Method::PUT, "/flavors/g1", Some(json!({"flavor": {"description": "d"}})), 403, 200),
        (Method::GET, "/flavors/f1/os-flavor-access", None, 403, 200),
        (Method::POST, "/flavors/f1/action", Some(json!({"addTenantAccess": {"tenant": "t1"}})), 403, 200),
        (Method::POST, "/flavors/g1/os-extra_specs", Some(json!({"extra_specs": {"a": "b"}})), 403, 200),
        (Method::PUT, "/flavors/g1/os-extra_specs/a", Some(json!({"a": "c"})), 403, 200),
        (Method::DELETE, "/flavors/g1/os-extra_specs/a", None, 403, 200),
        (Method::DELETE, "/flavors/g1", None, 403, 202),
    ];
    for (method, path, body, user_status, admin_status) in routes {
        let r = n.call(method.clone(), path, None, "2.61", body.clone()).await;
        assert_eq!(r.status, 401, "{method} {path} without a token");
        for (persona, token) in [("reader", &who.reader), ("member", &who.member), ("other", &who.other)] {
            let r = n.call(method.clone(), path, Some(token), "2.61", body.clone()).await;
            assert_eq!(r.status, user_status, "{method} {path} as {persona}: {}", r.body);
            if user_status == 403 {
                r.fault(403, "forbidden", "Policy doesn't allow os_compute_api:");
            }
        }
        let r = n.call(method.clone(), path, Some(&n.admin), "2.61", body).await;
        assert_eq!(r.status, admin_status, "{method} {path} as admin: {}", r.body);
    }
    // A private flavor is not there for those without access.
    for token in [&who.reader, &who.member, &who.other] {
        n.get("/flavors/f1", token, "").await.fault(404, "itemNotFound", "Flavor f1 could not be found.");
    }
    n.stop().await;
}

#[tokio::test]
async fn keypair_routes_are_the_users_own() {
    let n = Nova::start().await;
    let who = personas(&n).await;
    let r =
        n.post("/os-keypairs", &who.member, "2.10", json!({"keypair": {"name": "mine", "public_key": ED25519}})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["keypair"]["user_id"], who.member_user);
    // Keypairs belong to users: others do not see it, whatever their role.
    for token in [&who.reader, &who.other] {
        n.get("/os-keypairs/mine", token, "2.10").await.fault(404, "itemNotFound", "Keypair mine not found for user");
        let r = n.get("/os-keypairs", token, "2.10").await;
        assert_eq!(r.body["keypairs"], json!([]));
    }
    // Naming another user is the admin's alone.
    let q = format!("/os-keypairs/mine?user_id={}", who.member_user);
    for token in [&who.reader, &who.other] {
        n.get(&q, token, "2.10").await.fault(403, "forbidden", "os_compute_api:os-keypairs:show");
        n.delete(&q, token, "2.10").await.fault(403, "forbidden", "os_compute_api:os-keypairs:delete");
        n.post(
            "/os-keypairs",
            token,
            "2.10",
            json!({"keypair": {"name": "x", "public_key": ED25519, "user_id": who.member_user}}),
        )
        .await
        .fault(403, "forbidden", "os_compute_api:os-keypairs:create");
    }
    assert_eq!(n.get(&q, &n.admin, "2.10").await.status, 200);
    let r = n.get(&format!("/os-keypairs?user_id={}", who.member_user), &n.admin, "2.10").await;
    assert_eq!(r.body["keypairs"][0]["keypair"]["name"], "mine");
    assert_eq!(n.call(Method::GET, "/os-keypairs", None, "", None).await.status, 401);
    assert_eq!(n.delete(&q, &n.admin, "2.10").await.status, 204);
    n.stop().await;
}

#[tokio::test]
async fn server_routes_by_role_and_project() {
    let n = Nova::start().await;
    let agent = n.cloud.start_agent("az", 1, 8, 16384, 100).await;
    let who = personas(&n).await;
    let img = crate::servers::image(&n, &n.admin).await;
    n.flavor(json!({"name": "a1", "id": "a1", "ram": 256, "vcpus": 1, "disk": 1})).await;
    let body = json!({"server": {"name": "authz", "imageRef": img, "flavorRef": "a1", "networks": "none"}});
    let r = n.post("/servers", &who.member, "2.37", body).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    assert_eq!(crate::servers::wait(&n, &who.member, &id, &["BUILD"]).await["status"], "ACTIVE");
    let s = |p: &str| format!("/servers/{id}{p}");

    // Reads and idempotent writes: (method, path, body, reader, member, admin); another
    // project's member always gets 404.
    let routes: Vec<(Method, String, Option<Value>, u16, u16, u16)> = vec![
        (Method::GET, s(""), None, 200, 200, 200),
        (Method::PUT, s(""), Some(json!({"server": {"name": "authz"}})), 403, 200, 200),
        (Method::GET, s("/metadata"), None, 200, 200, 200),
        (Method::POST, s("/metadata"), Some(json!({"metadata": {"a": "b"}})), 403, 200, 200),
        (Method::GET, s("/metadata/a"), None, 200, 200, 200),
        (Method::PUT, s("/metadata/a"), Some(json!({"meta": {"a": "c"}})), 403, 200, 200),
        (Method::GET, s("/tags"), None, 200, 200, 200),
        (Method::PUT, s("/tags"), Some(json!({"tags": ["t"]})), 403, 200, 200),
        (Method::GET, s("/os-instance-actions"), None, 200, 200, 200),
        (Method::GET, s("/os-server-password"), None, 200, 200, 200),
        (Method::GET, s("/diagnostics"), None, 403, 403, 200),
        (Method::GET, s("/migrations"), None, 403, 403, 200),
        (Method::POST, s("/action"), Some(json!({"os-getConsoleOutput": {}})), 403, 200, 200),
    ];
    for (method, path, body, reader, member, admin) in routes {
        let r = n.call(method.clone(), &path, None, "2.26", body.clone()).await;
        assert_eq!(r.status, 401, "{method} {path} without a token");
        let want = [("reader", &who.reader, reader), ("member", &who.member, member), ("other", &who.other, 404)];
        for (persona, token, status) in want.into_iter().chain([("admin", &n.admin, admin)]) {
            let mv = if path.ends_with("/migrations") { "2.23" } else { "2.26" };
            let r = n.call(method.clone(), &path, Some(token), mv, body.clone()).await;
            assert_eq!(r.status, status, "{method} {path} as {persona}: {}", r.body);
            match status {
                403 => r.fault(403, "forbidden", "Policy doesn't allow os_compute_api:"),
                404 => r.fault(404, "itemNotFound", &format!("Instance {id} ")),
                _ => {}
            }
        }
    }

    // Every action: a reader is refused by policy, another project's member
    // does not see the server; those beyond a member are refused to it too.
    let actions: Vec<(Value, bool)> = vec![
        (json!({"os-stop": null}), true),
        (json!({"os-start": null}), true),
        (json!({"reboot": {"type": "HARD"}}), true),
        (json!({"pause": null}), true),
        (json!({"unpause": null}), true),
        (json!({"suspend": null}), true),
        (json!({"resume": null}), true),
        (json!({"rescue": null}), true),
        (json!({"unrescue": null}), true),
        (json!({"lock": null}), true),
        (json!({"unlock": null}), true),
        (json!({"resize": {"flavorRef": "a1"}}), true),
        (json!({"confirmResize": null}), true),
        (json!({"revertResize": null}), true),
        (json!({"rebuild": {"imageRef": img}}), true),
        (json!({"createImage": {"name": "snap"}}), true),
        (json!({"createBackup": {"name": "b", "backup_type": "daily", "rotation": 1}}), true),
        (json!({"shelve": null}), true),
        (json!({"unshelve": null}), true),
        (json!({"changePassword": {"adminPass": "x"}}), true),
        (json!({"trigger_crash_dump": null}), true),
        (json!({"forceDelete": null}), true),
        (json!({"restore": null}), true),
        (json!({"shelveOffload": null}), false),
        (json!({"migrate": null}), false),
        (json!({"os-migrateLive": {"block_migration": "auto", "host": null}}), false),
        (json!({"evacuate": {}}), false),
        (json!({"os-resetState": {"state": "active"}}), false),
    ];
    for (body, member_may) in actions {
        let path = s("/action");
        let r = n.call(Method::POST, &path, Some(&who.reader), "2.30", Some(body.clone())).await;
        r.fault(403, "forbidden", "Policy doesn't allow os_compute_api:");
        let r = n.call(Method::POST, &path, Some(&who.other), "2.30", Some(body.clone())).await;
        r.fault(404, "itemNotFound", &format!("Instance {id} could not be found."));
        if !member_may {
            let r = n.call(Method::POST, &path, Some(&who.member), "2.30", Some(body.clone())).await;
            r.fault(403, "forbidden", "Policy doesn't allow os_compute_api:");
        }
    }
    for token in [&who.reader, &who.other] {
        let r = n.call(Method::DELETE, &s(""), Some(token), "", None).await;
        assert_eq!(r.status, if token == &who.reader { 403 } else { 404 }, "{}", r.body);
    }
    assert_eq!(n.call(Method::DELETE, &s(""), Some(&who.member), "", None).await.status, 204);
    agent.stop().await;
    n.stop().await;
}
