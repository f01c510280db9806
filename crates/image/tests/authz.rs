//! Who may do what to whose images: no token, a reader and a member of the
//! owning project, a member of another project, and the admin; private,
//! shared, community and public images. Another project's private image is
//! 404, not 403.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn matrix() {
    let im = Im::start().await;
    let (pa, pb) = (im.project("a").await, im.project("b").await);
    let reader = im.persona(&pa, "reader").await;
    let member = im.persona(&pa, "member").await;
    let other = im.persona(&pb, "member").await;
    let admin = im.admin.clone();
    let callers: [(&str, Option<&str>); 5] = [
        ("none", None),
        ("reader", Some(&reader)),
        ("member", Some(&member)),
        ("other", Some(&other)),
        ("admin", Some(&admin)),
    ];

    // Create: members and admins; readers 403; no token 401.
    for (who, token, expect) in [
        ("none", None, 401),
        ("reader", Some(&reader), 403),
        ("member", Some(&member), 201),
        ("other", Some(&other), 201),
        ("admin", Some(&admin), 201),
    ] {
        let body = json!({"name": format!("by-{who}")}).to_string().into_bytes();
        let r =
            im.call(Method::POST, "/v2/images", token.map(|t| t.as_str()), Some(("application/json", body)), &[]).await;
        assert_eq!(r.status, expect, "create as {who}: {}", r.body);
    }
    // Public needs admin; community a member of the owner.
    im.post("/v2/images", &member, json!({"visibility": "public"}))
        .await
        .error(403, "You are not authorized to complete publicize_image action.");
    let mut images = std::collections::BTreeMap::new();
    for vis in ["private", "shared", "community"] {
        let b = im
            .image(&member, json!({"name": vis, "visibility": vis, "disk_format": "raw", "container_format": "bare"}))
            .await;
        images.insert(vis, b["id"].as_str().unwrap().to_string());
    }
    let b = im.image(&admin, json!({"name": "public", "visibility": "public", "owner": pa})).await;
    images.insert("public", b["id"].as_str().unwrap().to_string());

    // Show: [none, reader, member, other, admin] per visibility.
    let show: [(&str, [u16; 5]); 4] = [
        ("private", [401, 200, 200, 404, 200]),
        ("shared", [401, 200, 200, 404, 200]),
        ("community", [401, 200, 200, 200, 200]),
        ("public", [401, 200, 200, 200, 200]),
    ];
    for (vis, expect) in show {
        for (i, (who, token)) in callers.iter().enumerate() {
            let r = im.call(Method::GET, &format!("/v2/images/{}", images[vis]), *token, None, &[]).await;
            assert_eq!(r.status, expect[i], "show {vis} as {who}: {}", r.body);
        }
    }
    // Update: owner's members and admins; readers and visible-but-foreign 403; invisible 404.
    let modify: [(&str, [u16; 5]); 2] = [("private", [401, 403, 200, 404, 200]), ("public", [401, 403, 200, 403, 200])];
    for (vis, expect) in modify {
        for (i, (who, token)) in callers.iter().enumerate() {
            let ops = json!([{"op": "add", "path": "/touched_by", "value": who}]).to_string().into_bytes();
            let ct = "application/openstack-images-v2.1-json-patch";
            let r = im.call(Method::PATCH, &format!("/v2/images/{}", images[vis]), *token, Some((ct, ops)), &[]).await;
            assert_eq!(r.status, expect[i], "patch {vis} as {who}: {}", r.body);
        }
    }
    // Upload: [none, reader, member, other, admin] on fresh queued images of A.
    for (i, (who, token)) in callers.iter().enumerate() {
        let id = im.image(&member, json!({"disk_format": "raw", "container_format": "bare"})).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = im
            .call(
                Method::PUT,
                &format!("/v2/images/{id}/file"),
                *token,
                Some(("application/octet-stream", vec![1; 10])),
                &[],
            )
            .await;
        assert_eq!(r.status, [401, 403, 204, 404, 204][i], "upload as {who}: {}", r.body);
    }
    // Download of A's community image: members of any project may; readers may not.
    let cid = &images["community"];
    let r = im
        .call(
            Method::PUT,
            &format!("/v2/images/{cid}/file"),
            Some(&member),
            Some(("application/octet-stream", vec![2; 10])),
            &[],
        )
        .await;
    assert_eq!(r.status, 204);
    for (i, (who, token)) in callers.iter().enumerate() {
        let r = im.call(Method::GET, &format!("/v2/images/{cid}/file"), *token, None, &[]).await;
        assert_eq!(r.status, [401, 403, 200, 200, 200][i], "download as {who}: {}", r.body);
    }
    // Lists: B's member sees public but not A's private, shared or community images.
    let names = |r: Resp| -> Vec<String> {
        let mut v: Vec<String> =
            r.body["images"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap_or("").to_string()).collect();
        v.sort();
        v
    };
    let seen = names(im.get("/v2/images", &other).await);
    assert!(seen.contains(&"public".to_string()) && !seen.contains(&"private".to_string()), "{seen:?}");
    assert!(!seen.contains(&"community".to_string()) && !seen.contains(&"shared".to_string()), "{seen:?}");
    assert!(names(im.get("/v2/images?visibility=community", &other).await).contains(&"community".to_string()));
    let own = names(im.get("/v2/images", &reader).await);
    for vis in ["private", "shared", "community", "public"] {
        assert!(own.contains(&vis.to_string()), "{vis} missing for A's reader: {own:?}");
    }
    // Delete: [none, reader, member, other, admin] on A's private images.
    for (i, (who, token)) in callers.iter().enumerate() {
        let id = im.image(&member, json!({"name": "doomed"})).await["id"].as_str().unwrap().to_string();
        let r = im.call(Method::DELETE, &format!("/v2/images/{id}"), *token, None, &[]).await;
        assert_eq!(r.status, [401, 403, 204, 404, 204][i], "delete as {who}: {}", r.body);
    }
    im.stop().await;
}

#[tokio::test]
async fn matrix_of_import_tags_members_and_actions() {
    let im = Im::start().await;
    let (pa, pb) = (im.project("a").await, im.project("b").await);
    let reader = im.persona(&pa, "reader").await;
    let member = im.persona(&pa, "member").await;
    let other = im.persona(&pb, "member").await;
    let admin = im.admin.clone();
    let callers: [(&str, Option<&str>); 5] = [
        ("none", None),
        ("reader", Some(&reader)),
        ("member", Some(&member)),
        ("other", Some(&other)),
        ("admin", Some(&admin)),
    ];
    let fresh = |body: serde_json::Value| {
        let im = &im;
        let member = member.clone();
        async move { im.image(&member, body).await["id"].as_str().unwrap().to_string() }
    };
    let raw = json!({"disk_format": "raw", "container_format": "bare"});
    let octet = |n: u8| Some(("application/octet-stream", vec![n; 10]));
    let json_body = |v: serde_json::Value| Some(("application/json", v.to_string().into_bytes()));

    // Stage and import on fresh private images of A.
    for (i, (who, token)) in callers.iter().enumerate() {
        let id = fresh(raw.clone()).await;
        let r = im.call(Method::PUT, &format!("/v2/images/{id}/stage"), *token, octet(3), &[]).await;
        assert_eq!(r.status, [401, 403, 204, 404, 204][i], "stage as {who}: {}", r.body);
        let id = fresh(raw.clone()).await;
        assert_eq!(im.stage(&id, &member, vec![3; 10]).await.status, 204);
        let body = json_body(json!({"method": {"name": "glance-direct"}}));
        let r = im.call(Method::POST, &format!("/v2/images/{id}/import"), *token, body, &[]).await;
        assert_eq!(r.status, [401, 403, 202, 404, 202][i], "import as {who}: {}", r.body);
        let r = im.call(Method::GET, &format!("/v2/images/{id}/tasks"), *token, None, &[]).await;
        assert_eq!(r.status, [401, 200, 200, 404, 200][i], "image tasks as {who}: {}", r.body);
    }
    // The tasks API is the admin's; usage is everyone's (empty without quotas).
    for (i, (who, token)) in callers.iter().enumerate() {
        let r = im.call(Method::GET, "/v2/tasks", *token, None, &[]).await;
        assert_eq!(r.status, [401, 403, 403, 403, 200][i], "tasks as {who}: {}", r.body);
        let r = im.call(Method::GET, "/v2/info/usage", *token, None, &[]).await;
        assert_eq!(r.status, [401, 200, 200, 200, 200][i], "usage as {who}: {}", r.body);
    }
    // Tags, deactivate/reactivate.
    let id = fresh(raw.clone()).await;
    assert_eq!(im.upload(&id, &member, vec![5; 10]).await.status, 204);
    for (i, (who, token)) in callers.iter().enumerate() {
        let r = im.call(Method::PUT, &format!("/v2/images/{id}/tags/t-{who}"), *token, None, &[]).await;
        assert_eq!(r.status, [401, 403, 204, 404, 204][i], "tag as {who}: {}", r.body);
        let r = im.call(Method::POST, &format!("/v2/images/{id}/actions/deactivate"), *token, None, &[]).await;
        assert_eq!(r.status, [401, 403, 204, 404, 204][i], "deactivate as {who}: {}", r.body);
        let r = im.call(Method::POST, &format!("/v2/images/{id}/actions/reactivate"), *token, None, &[]).await;
        assert_eq!(r.status, [401, 403, 204, 404, 204][i], "reactivate as {who}: {}", r.body);
    }
    // Members of a shared image: the owner's member adds B (who then sees it
    // but may not add members); B may accept, A may not.
    let shared = fresh(json!({"visibility": "shared"})).await;
    for (i, (who, token)) in callers.iter().enumerate() {
        let r = im
            .call(Method::POST, &format!("/v2/images/{shared}/members"), *token, json_body(json!({"member": pb})), &[])
            .await;
        assert_eq!(r.status, [401, 403, 200, 403, 409][i], "add member as {who}: {}", r.body);
    }
    for (i, (who, token)) in callers.iter().enumerate() {
        let r = im.call(Method::GET, &format!("/v2/images/{shared}/members"), *token, None, &[]).await;
        assert_eq!(r.status, [401, 200, 200, 200, 200][i], "list members as {who}: {}", r.body);
        let body = json_body(json!({"status": "accepted"}));
        let r = im.call(Method::PUT, &format!("/v2/images/{shared}/members/{pb}"), *token, body, &[]).await;
        assert_eq!(r.status, [401, 403, 403, 200, 200][i], "accept as {who}: {}", r.body);
    }
    im.stop().await;
}
