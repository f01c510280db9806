//! Images: create, show, list with filters, sort and pages, JSON patch,
//! tags, actions, delete, members, schemas and version documents.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn version_documents_and_schemas() {
    let im = Im::start().await;
    let r = im.call(Method::GET, "/", None, None, &[]).await;
    assert_eq!(r.status, 300);
    let versions = r.body["versions"].as_array().unwrap();
    let current: Vec<_> = versions.iter().filter(|v| v["status"] == "CURRENT").collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], "v2.17");
    assert!(current[0]["links"][0]["href"].as_str().unwrap().ends_with("/image/v2/"));
    assert_eq!(im.call(Method::GET, "/versions", None, None, &[]).await.status, 200);
    let r = im.get("/v2/schemas/image", &im.admin).await;
    assert_eq!(r.body["name"], "image");
    assert_eq!(r.body["additionalProperties"], json!({"type": "string"}));
    assert!(r.body["properties"]["disk_format"]["enum"].as_array().unwrap().contains(&json!("qcow2")));
    assert_eq!(im.get("/v2/schemas/images", &im.admin).await.body["name"], "images");
    assert_eq!(im.get("/v2/schemas/member", &im.admin).await.body["name"], "member");
    assert_eq!(im.get("/v2/schemas/members", &im.admin).await.body["name"], "members");
    im.stop().await;
}

#[tokio::test]
async fn create_show_and_defaults() {
    let im = Im::start().await;
    let r = im
        .post(
            "/v2/images",
            &im.admin,
            json!({"name": "cirros", "disk_format": "qcow2", "container_format": "bare",
            "os_distro": "cirros", "tags": ["b", "a", "a"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let b = &r.body;
    let id = b["id"].as_str().unwrap();
    assert!(r.header("location").unwrap().ends_with(&format!("/image/v2/images/{id}")));
    assert_eq!(r.header("openstack-image-import-methods").as_deref(), Some("glance-direct,web-download"));
    assert_eq!(b["status"], "queued");
    assert_eq!(b["visibility"], "shared");
    assert_eq!((b["protected"].clone(), b["os_hidden"].clone()), (json!(false), json!(false)));
    assert_eq!((b["min_ram"].clone(), b["min_disk"].clone()), (json!(0), json!(0)));
    for k in ["size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value"] {
        assert!(b[k].is_null(), "{k}: {b}");
    }
    assert_eq!(b["os_distro"], "cirros");
    assert_eq!(b["tags"], json!(["a", "b"]));
    assert_eq!(b["self"], format!("/v2/images/{id}"));
    assert_eq!(b["file"], format!("/v2/images/{id}/file"));
    assert_eq!(b["schema"], "/v2/schemas/image");
    assert!(b["created_at"].as_str().unwrap().ends_with('Z') && b["created_at"].as_str().unwrap().len() == 20);
    let shown = im.get(&format!("/v2/images/{id}"), &im.admin).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body, r.body);
    // Chosen id, then reused: 409, also after delete.
    let chosen = uuid::Uuid::new_v4().to_string();
    im.image(&im.admin, json!({"id": chosen})).await;
    im.post("/v2/images", &im.admin, json!({"id": chosen}))
        .await
        .error(409, &format!("Image ID {chosen} already exists!"));
    let r = im.call(Method::DELETE, &format!("/v2/images/{chosen}"), Some(&im.admin), None, &[]).await;
    assert_eq!(r.status, 204);
    im.get(&format!("/v2/images/{chosen}"), &im.admin).await.error(404, &format!("No image found with ID {chosen}"));
    im.post("/v2/images", &im.admin, json!({"id": chosen})).await.error(409, "already exists");
    im.stop().await;
}

#[tokio::test]
async fn create_rejects_bad_input() {
    let im = Im::start().await;
    let a = &im.admin;
    im.call(Method::POST, "/v2/images", Some(a), Some(("application/json", b"{".to_vec())), &[])
        .await
        .error(400, "Malformed JSON in request body.");
    im.call(Method::POST, "/v2/images", Some(a), None, &[]).await.error(400, "Body expected in request.");
    im.post("/v2/images", a, json!({"status": "active"})).await.error(403, "Attribute 'status' is read-only.");
    im.post("/v2/images", a, json!({"self": "x"})).await.error(403, "Attribute 'self' is read-only.");
    im.post("/v2/images", a, json!({"os_glance_x": "1"})).await.error(403, "Attribute 'os_glance_x' is reserved.");
    im.post("/v2/images", a, json!({"disk_format": "floppy"}))
        .await
        .error(400, "Provided object does not match schema 'image'");
    im.post("/v2/images", a, json!({"visibility": "world"})).await.error(400, "does not match schema");
    im.post("/v2/images", a, json!({"custom": 5})).await.error(400, "does not match schema");
    im.post("/v2/images", a, json!({"name": "x".repeat(256)})).await.error(400, "does not match schema");
    im.post("/v2/images", a, json!({"min_ram": -1})).await.error(400, "Cannot be a negative value");
    im.post("/v2/images", a, json!({"id": "not-a-uuid"})).await.error(400, "does not match schema");
    im.post("/v2/images", a, json!({ "k".repeat(256): "v" }))
        .await
        .error(400, "should not be greater than 255 characters");
    let tags: Vec<String> = (0..129).map(|i| format!("t{i}")).collect();
    im.post("/v2/images", a, json!({"tags": tags})).await.error(413, "Attempted: 129, Maximum: 128");
    // Nothing was written.
    assert_eq!(im.get("/v2/images", a).await.body["images"], json!([]));
    im.stop().await;
}

#[tokio::test]
async fn json_patch_updates() {
    let im = Im::start().await;
    let a = &im.admin;
    let id = im.image(a, json!({"name": "one", "color": "red"})).await["id"].as_str().unwrap().to_string();
    let r = im
        .patch(
            &id,
            a,
            json!([
                {"op": "replace", "path": "/name", "value": "two"},
                {"op": "add", "path": "/size_hint", "value": "big"},
                {"op": "remove", "path": "/color"},
                {"op": "replace", "path": "/tags", "value": ["x", "y"]},
                {"op": "replace", "path": "/min_disk", "value": 3},
                {"op": "replace", "path": "/protected", "value": true}
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "two");
    assert_eq!(r.body["size_hint"], "big");
    assert!(r.body.get("color").is_none());
    assert_eq!(r.body["tags"], json!(["x", "y"]));
    assert_eq!(r.body["min_disk"], 3);
    assert_eq!(im.get(&format!("/v2/images/{id}"), a).await.body, r.body);
    // Errors, and none of them changes anything.
    im.patch(&id, a, json!([{"op": "remove", "path": "/name"}])).await.error(403, "Property name may not be removed.");
    im.patch(&id, a, json!([{"op": "remove", "path": "/nope"}])).await.error(409, "Property nope does not exist.");
    im.patch(&id, a, json!([{"op": "replace", "path": "/nope", "value": "v"}]))
        .await
        .error(409, "Property nope does not exist.");
    im.patch(&id, a, json!([{"op": "replace", "path": "/status", "value": "active"}]))
        .await
        .error(403, "Attribute 'status' is read-only.");
    im.patch(&id, a, json!([{"op": "move", "path": "/name"}])).await.error(400, "Invalid operation: `move`");
    im.patch(&id, a, json!([{"path": "/name"}])).await.error(400, "Unable to find `op`");
    im.patch(&id, a, json!([{"op": "add", "path": "/x"}])).await.error(400, "requires a member named \"value\"");
    im.patch(&id, a, json!([{"op": "add", "path": "name", "value": "v"}])).await.error(400, "does not start with");
    im.patch(&id, a, json!([{"op": "add", "path": "/tags/0", "value": "v"}])).await.error(400, "Invalid JSON pointer");
    im.patch(&id, a, json!([{"op": "add", "path": "/x", "value": 1}])).await.error(400, "does not match schema");
    im.patch(&id, a, json!({"op": "add"})).await.error(400, "must be a JSON array");
    let r = im
        .call(Method::PATCH, &format!("/v2/images/{id}"), Some(a), Some(("application/json", b"[]".to_vec())), &[])
        .await;
    r.error(415, "Image PATCH expects Content-Type one of");
    assert!(r.header("accept-patch").unwrap().contains("v2.1-json-patch"));
    // The v2.0 media type: add of an existing property conflicts.
    let ct = "application/openstack-images-v2.0-json-patch";
    let body = json!([{"add": "/size_hint", "value": "small"}]).to_string().into_bytes();
    im.call(Method::PATCH, &format!("/v2/images/{id}"), Some(a), Some((ct, body)), &[])
        .await
        .error(409, "Property size_hint already present.");
    let after = im.get(&format!("/v2/images/{id}"), a).await.body;
    assert_eq!(after["size_hint"], "big");
    assert_eq!(after["name"], "two");
    // Protected: no delete.
    im.call(Method::DELETE, &format!("/v2/images/{id}"), Some(a), None, &[])
        .await
        .error(403, &format!("Image {id} is protected and cannot be deleted."));
    im.stop().await;
}

#[tokio::test]
async fn list_filters_sort_and_pages() {
    let im = Im::start().await;
    let a = &im.admin;
    let mut ids = Vec::new();
    for (i, (name, df)) in [("a", "qcow2"), ("b", "raw"), ("c", "qcow2"), ("d", "iso")].iter().enumerate() {
        let tags = if i % 2 == 0 { json!(["even"]) } else { json!(["odd"]) };
        let b = im
            .image(
                a,
                json!({"name": name, "disk_format": df, "container_format": "bare", "tags": tags,
            "flavor": format!("f{i}")}),
            )
            .await;
        ids.push(b["id"].as_str().unwrap().to_string());
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    let hidden = im.image(a, json!({"name": "hidden", "os_hidden": true})).await;
    let names = |r: &Resp| -> Vec<String> {
        r.body["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    // Default: newest first, hidden left out.
    let r = im.get("/v2/images", a).await;
    assert_eq!(names(&r), vec!["d", "c", "b", "a"]);
    assert_eq!(r.body["first"], "/v2/images");
    assert_eq!(r.body["schema"], "/v2/schemas/images");
    assert!(r.body.get("next").is_none());
    assert_eq!(names(&im.get("/v2/images?os_hidden=true", a).await), vec!["hidden"]);
    assert_eq!(names(&im.get("/v2/images?sort=name:asc", a).await), vec!["a", "b", "c", "d"]);
    assert_eq!(names(&im.get("/v2/images?sort_key=name&sort_dir=asc", a).await), vec!["a", "b", "c", "d"]);
    assert_eq!(names(&im.get("/v2/images?disk_format=qcow2&sort=name:asc", a).await), vec!["a", "c"]);
    assert_eq!(names(&im.get("/v2/images?name=in:a,d&sort=name:asc", a).await), vec!["a", "d"]);
    assert_eq!(names(&im.get("/v2/images?tag=odd&sort=name:asc", a).await), vec!["b", "d"]);
    assert_eq!(names(&im.get("/v2/images?flavor=f2", a).await), vec!["c"]);
    let created_b = im.get(&format!("/v2/images/{}", ids[1]), a).await.body["created_at"].as_str().unwrap().to_string();
    assert_eq!(names(&im.get(&format!("/v2/images?created_at=gt:{created_b}&sort=name:asc"), a).await), vec!["c", "d"]);
    im.get("/v2/images?created_at=gt:yesterday", a).await.error(400, "Bad \"created_at\" query filter format");
    im.get("/v2/images?name=like:a", a).await.error(400, "Unable to filter by unknown operator 'like'.");
    im.get("/v2/images?size_min=x", a).await.error(400, "non-numeric value");
    im.get("/v2/images?sort=owner", a).await.error(400, "Invalid sort key: owner");
    im.get("/v2/images?sort_dir=up", a).await.error(400, "Invalid sort direction: up");
    im.get("/v2/images?limit=-1", a).await.error(400, "limit param must be positive");
    im.get("/v2/images?member_status=maybe", a).await.error(400, "Invalid status: maybe");
    im.get("/v2/images?os_hidden=maybe", a).await.error(400, "Invalid value 'maybe' for 'os_hidden' filter");
    im.get("/v2/images?changes-since=2020-01-01", a).await.error(400, "no longer available on v2");
    // Pages of two, following `next`.
    let r = im.get("/v2/images?limit=2&sort=name:asc", a).await;
    assert_eq!(names(&r), vec!["a", "b"]);
    assert_eq!(r.body["first"], "/v2/images?limit=2&sort=name%3Aasc");
    let next = r.body["next"].as_str().unwrap().to_string();
    assert_eq!(next, format!("/v2/images?limit=2&sort=name%3Aasc&marker={}", ids[1]));
    let r = im.get(&next, a).await;
    assert_eq!(names(&r), vec!["c", "d"]);
    let r = im.get(r.body["next"].as_str().unwrap(), a).await;
    assert_eq!(names(&r), Vec::<String>::new());
    assert!(r.body.get("next").is_none());
    let missing = uuid::Uuid::new_v4();
    im.get(&format!("/v2/images?marker={missing}"), a).await.error(400, &format!("No image found with ID {missing}"));
    let _ = hidden;
    im.stop().await;
}

#[tokio::test]
async fn tags_and_actions() {
    let im = Im::start().await;
    let a = &im.admin;
    let id = im.image(a, json!({"name": "t", "disk_format": "raw", "container_format": "bare"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (imr, idr) = (&im, &id);
    let put = move |tag: &'static str| {
        let path = format!("/v2/images/{idr}/tags/{tag}");
        async move { imr.call(Method::PUT, &path, Some(a), None, &[]).await }
    };
    assert_eq!(put("blue").await.status, 204);
    assert_eq!(put("blue").await.status, 204);
    assert_eq!(im.get(&format!("/v2/images/{id}"), a).await.body["tags"], json!(["blue"]));
    let del = im.call(Method::DELETE, &format!("/v2/images/{id}/tags/blue"), Some(a), None, &[]).await;
    assert_eq!(del.status, 204);
    let del = im.call(Method::DELETE, &format!("/v2/images/{id}/tags/blue"), Some(a), None, &[]).await;
    assert_eq!(del.status, 404);
    // Deactivate needs an active image.
    let act = move |what: &'static str| {
        let path = format!("/v2/images/{idr}/actions/{what}");
        async move { imr.call(Method::POST, &path, Some(a), None, &[]).await }
    };
    act("deactivate").await.error(403, "Not allowed to deactivate image in status 'queued'");
    assert_eq!(im.upload(&id, a, vec![7u8; 1000]).await.status, 204);
    assert_eq!(act("deactivate").await.status, 204);
    assert_eq!(act("deactivate").await.status, 204);
    assert_eq!(im.get(&format!("/v2/images/{id}"), a).await.body["status"], "deactivated");
    assert_eq!(act("reactivate").await.status, 204);
    assert_eq!(im.get(&format!("/v2/images/{id}"), a).await.body["status"], "active");
    im.stop().await;
}

#[tokio::test]
async fn members_share_an_image() {
    let im = Im::start().await;
    let (pa, pb) = (im.project("owner").await, im.project("consumer").await);
    let owner = im.persona(&pa, "member").await;
    let consumer = im.persona(&pb, "member").await;
    let id = im.image(&owner, json!({"name": "shared-one"})).await["id"].as_str().unwrap().to_string();
    // Not visible to B before sharing.
    im.get(&format!("/v2/images/{id}"), &consumer).await.error(404, "No image found");
    let r = im.post(&format!("/v2/images/{id}/members"), &owner, json!({"member": pb})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["member_id"], pb.as_str());
    assert_eq!(r.body["schema"], "/v2/schemas/member");
    im.post(&format!("/v2/images/{id}/members"), &owner, json!({"member": pb}))
        .await
        .error(409, &format!("Member {pb} is duplicated for image {id}"));
    im.post(&format!("/v2/images/{id}/members"), &owner, json!({}))
        .await
        .error(400, "Member to be added not specified");
    // B sees the image by id, but not in its list until it accepts.
    assert_eq!(im.get(&format!("/v2/images/{id}"), &consumer).await.status, 200);
    assert_eq!(im.get("/v2/images", &consumer).await.body["images"], json!([]));
    assert_eq!(im.get("/v2/images?member_status=pending", &consumer).await.body["images"][0]["id"], id.as_str());
    let member_path = format!("/v2/images/{id}/members/{pb}");
    let body = |s: &str| Some(("application/json", json!({"status": s}).to_string().into_bytes()));
    // Only the member accepts.
    im.call(Method::PUT, &member_path, Some(&owner), body("accepted"), &[]).await.error(403, "modify_member");
    im.call(Method::PUT, &member_path, Some(&consumer), body("maybe"), &[]).await.error(400, "Status must be");
    let r = im.call(Method::PUT, &member_path, Some(&consumer), body("accepted"), &[]).await;
    assert_eq!((r.status, r.body["status"].clone()), (200, json!("accepted")));
    assert_eq!(im.get("/v2/images", &consumer).await.body["images"][0]["id"], id.as_str());
    // The owner lists all members; the member sees itself.
    assert_eq!(im.get(&format!("/v2/images/{id}/members"), &owner).await.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(im.get(&member_path, &consumer).await.body["status"], "accepted");
    // B may not change or delete A's image.
    im.patch(&id, &consumer, json!([{"op": "replace", "path": "/name", "value": "mine"}]))
        .await
        .error(403, "You are not authorized to complete modify_image action.");
    im.call(Method::DELETE, &format!("/v2/images/{id}"), Some(&consumer), None, &[])
        .await
        .error(403, "You are not authorized to complete delete_image action.");
    // Removing the member hides the image again.
    assert_eq!(im.call(Method::DELETE, &member_path, Some(&owner), None, &[]).await.status, 204);
    im.get(&format!("/v2/images/{id}"), &consumer).await.error(404, "No image found");
    // Private images have no members.
    im.patch(&id, &owner, json!([{"op": "replace", "path": "/visibility", "value": "private"}])).await;
    im.post(&format!("/v2/images/{id}/members"), &owner, json!({"member": pb}))
        .await
        .error(403, "Not allowed to create members");
    im.stop().await;
}
