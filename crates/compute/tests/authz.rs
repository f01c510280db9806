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
