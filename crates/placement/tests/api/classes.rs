//! `/resource_classes` (resource-classes.yaml, resource-classes-1-6.yaml,
//! resource-classes-1-7.yaml, resource-class-in-use.yaml,
//! resource-classes-last-modified.yaml).

use reqwest::Method;
use serde_json::json;

use super::root::assert_http_date;
use crate::common::*;

#[tokio::test]
async fn routes_appear_at_1_2() {
    let pl = Pl::start().await;
    for (method, path) in [
        (Method::GET, "/resource_classes"),
        (Method::POST, "/resource_classes"),
        (Method::GET, "/resource_classes/VCPU"),
        (Method::PUT, "/resource_classes/CUSTOM_NFV_BAR"),
        (Method::DELETE, "/resource_classes/CUSTOM_NFV_BAR"),
    ] {
        let r = pl.req(method.clone(), "1.1", path, Some(json!({"name": "CUSTOM_NFV_BAR"}))).await;
        r.error(404, UNDEFINED, &format!("{method} {path} at 1.1"));
    }
    // Even with the wrong content type, the route is hidden first.
    let r = pl
        .cloud
        .placement_request(Method::POST, "/resource_classes", Some(&pl.admin), "1.1")
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = pl
        .cloud
        .placement_request(Method::POST, "/resource_classes", Some(&pl.admin), "1.2")
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    pl.stop().await;
}

#[tokio::test]
async fn list_create_show_rename_delete() {
    let pl = Pl::start().await;
    let v = pl.get_ok("1.2", "/resource_classes").await;
    let names: Vec<&str> =
        v["resource_classes"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    for std in
        ["VCPU", "MEMORY_MB", "DISK_GB", "PCI_DEVICE", "IPV4_ADDRESS", "SRIOV_NET_VF", "PCPU", "MEM_ENCRYPTION_CONTEXT"]
    {
        assert!(names.contains(&std), "{std} not listed: {names:?}");
    }
    assert!(!names.iter().any(|n| n.starts_with("CUSTOM_")));
    let vcpu = &v["resource_classes"].as_array().unwrap().iter().find(|c| c["name"] == "VCPU").unwrap().clone();
    assert_eq!(vcpu["links"], json!([{"rel": "self", "href": "/placement/resource_classes/VCPU"}]));

    let r = pl.post("1.2", "/resource_classes", json!({"name": "CUSTOM_NFV_FOO"})).await;
    r.expect(201, "create");
    assert!(r.text.is_empty() && r.header("content-type").is_none());
    assert!(r.header("location").unwrap().ends_with("/placement/resource_classes/CUSTOM_NFV_FOO"));
    pl.post("1.2", "/resource_classes", json!({"name": "CUSTOM_NFV_FOO"})).await.error_with(
        409,
        UNDEFINED,
        "Conflicting resource class already exists: CUSTOM_NFV_FOO",
        "create twice",
    );
    let v = pl.get_ok("1.2", "/resource_classes/CUSTOM_NFV_FOO").await;
    assert_eq!(
        v,
        json!({"name": "CUSTOM_NFV_FOO", "links": [{"rel": "self", "href": "/placement/resource_classes/CUSTOM_NFV_FOO"}]})
    );
    let v = pl.get_ok("1.2", "/resource_classes").await;
    assert!(v["resource_classes"].as_array().unwrap().iter().any(|c| c["name"] == "CUSTOM_NFV_FOO"));
    pl.get("1.2", "/resource_classes/CUSTOM_NOPE").await.error_with(
        404,
        UNDEFINED,
        "No such resource class CUSTOM_NOPE",
        "show missing",
    );

    // Rename (1.2-1.6).
    pl.post("1.2", "/resource_classes", json!({"name": "CUSTOM_NFV_BAZ"})).await.expect(201, "another");
    pl.put("1.6", "/resource_classes/CUSTOM_NFV_FOO", json!({"name": "CUSTOM_NFV_BAZ"})).await.error_with(
        409,
        UNDEFINED,
        "Resource class already exists: CUSTOM_NFV_BAZ",
        "rename onto existing",
    );
    pl.put("1.6", "/resource_classes/VCPU", json!({"name": "CUSTOM_VCPU_ALT"})).await.error_with(
        400,
        UNDEFINED,
        "Cannot update standard resource class VCPU",
        "rename standard",
    );
    pl.put("1.6", "/resource_classes/VCPU", json!({"name": "VCPU_ALTERNATE"})).await.error_with(
        400,
        UNDEFINED,
        "JSON does not validate",
        "rename to non-custom",
    );
    pl.put("1.6", "/resource_classes/CUSTOM_NFV_FOO", json!({"name": "VCPU"})).await.error_with(
        400,
        UNDEFINED,
        "JSON does not validate",
        "rename to a standard name",
    );
    pl.put("1.6", "/resource_classes/CUSTOM_NFV_FOO", json!({"name": "CUSTOM_NFV_BAR", "cow": "moo"}))
        .await
        .error_with(400, UNDEFINED, "Additional properties are not allowed", "extra property");
    pl.put("1.6", "/resource_classes/CUSTOM_NOPE", json!({"name": "CUSTOM_NFV_QUX"})).await.error(
        404,
        UNDEFINED,
        "rename missing",
    );
    let r = pl.put("1.6", "/resource_classes/CUSTOM_NFV_FOO", json!({"name": "CUSTOM_NFV_BAR"})).await;
    assert_eq!(r.expect(200, "rename")["name"], "CUSTOM_NFV_BAR");
    pl.get("1.2", "/resource_classes/CUSTOM_NFV_FOO").await.error(404, UNDEFINED, "old name gone");
    pl.get_ok("1.2", "/resource_classes/CUSTOM_NFV_BAR").await;

    // Delete.
    pl.delete("1.2", "/resource_classes/VCPU").await.error_with(
        400,
        UNDEFINED,
        "Cannot delete standard resource class VCPU",
        "delete standard",
    );
    let r = pl.delete("1.2", "/resource_classes/CUSTOM_NFV_BAR").await;
    r.expect(204, "delete");
    pl.delete("1.2", "/resource_classes/CUSTOM_NFV_BAR").await.error(404, UNDEFINED, "delete again");
    pl.stop().await;
}

#[tokio::test]
async fn create_validation() {
    let pl = Pl::start().await;
    for (body, needle) in [
        (json!({"name": "FOO"}), "JSON does not validate"),
        (json!({"name": "IRON_NFV"}), "JSON does not validate"),
        (json!({"name": "CUSTOM_Illegal&@!Name?"}), "JSON does not validate"),
        (json!({"name": format!("CUSTOM_{}", "S".repeat(250))}), "is too long"),
        (json!({"name": "CUSTOM_NFV_BAR", "cow": "moo"}), "Additional properties are not allowed"),
        (json!({}), "'name' is a required property"),
    ] {
        pl.post("1.2", "/resource_classes", body.clone()).await.error_with(400, UNDEFINED, needle, &body.to_string());
    }
    let r = pl
        .cloud
        .placement_request(Method::POST, "/resource_classes", Some(&pl.admin), "1.2")
        .header("Content-Type", "application/json")
        .body(r#"{"foo": }"#)
        .send()
        .await
        .unwrap();
    Resp::from(r).await.error_with(400, UNDEFINED, "Malformed JSON:", "malformed");
    pl.stop().await;
}

#[tokio::test]
async fn bodiless_put_at_1_7() {
    let pl = Pl::start().await;
    let r = pl.req(Method::PUT, "1.7", "/resource_classes/CUSTOM_COW", None).await;
    r.expect(201, "create with PUT");
    assert!(r.header("location").unwrap().ends_with("/placement/resource_classes/CUSTOM_COW"));
    let r = pl.req(Method::PUT, "1.7", "/resource_classes/CUSTOM_COW", None).await;
    r.expect(204, "PUT again");
    assert!(r.header("location").unwrap().ends_with("/placement/resource_classes/CUSTOM_COW"));
    pl.req(Method::PUT, "1.7", "/resource_classes/COW", None).await.error_with(
        400,
        UNDEFINED,
        "does not match",
        "not custom",
    );
    pl.req(Method::PUT, "1.7", "/resource_classes/VCPU", None).await.error_with(
        400,
        UNDEFINED,
        "does not match",
        "standard",
    );
    let long = format!("/resource_classes/CUSTOM_{}", "S".repeat(250));
    pl.req(Method::PUT, "1.7", &long, None).await.error_with(400, UNDEFINED, "is too long", "too long");
    // POST still works.
    pl.post("1.7", "/resource_classes", json!({"name": "CUSTOM_SHEEP"})).await.expect(201, "post at 1.7");
    // 1.15: cache headers on reads only, not on PUT or POST
    // (resource-classes-last-modified.yaml).
    for name in ["CUSTOM_COW", "CUSTOM_MOO_MACHINE"] {
        let r = pl.req(Method::PUT, "1.15", &format!("/resource_classes/{name}"), None).await;
        assert!(r.status == 201 || r.status == 204, "PUT {name} at 1.15: {}", r.text);
        assert!(r.header("cache-control").is_none() && r.header("last-modified").is_none(), "PUT {name} at 1.15");
    }
    let r = pl.post("1.15", "/resource_classes", json!({"name": "CUSTOM_ALPHA"})).await;
    r.expect(201, "POST at 1.15");
    assert!(r.header("cache-control").is_none() && r.header("last-modified").is_none(), "POST at 1.15");
    let r = pl.put("1.6", "/resource_classes/CUSTOM_MOO_MACHINE", json!({"name": "CUSTOM_BETA"})).await;
    r.expect(200, "rename at 1.6");
    assert!(r.header("cache-control").is_none() && r.header("last-modified").is_none(), "rename at 1.6");
    let r = pl.get("1.15", "/resource_classes/CUSTOM_BETA").await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    let r = pl.get("1.15", "/resource_classes").await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    let r = pl.get("1.15", "/resource_classes/VCPU").await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    let r = pl.get("1.14", "/resource_classes/CUSTOM_COW").await;
    assert!(r.header("cache-control").is_none() && r.header("last-modified").is_none());
    pl.stop().await;
}

#[tokio::test]
async fn class_in_use_cannot_be_deleted() {
    let pl = Pl::start().await;
    pl.class("CUSTOM_GOLD").await;
    let rp = pl.rp("gold").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 24}, "CUSTOM_GOLD": {"total": 5}})).await;
    let consumer = new_uuid();
    let r = pl
        .put(
            "1.11",
            &format!("/allocations/{consumer}"),
            json!({"allocations": [{"resource_provider": {"uuid": rp}, "resources": {"VCPU": 5, "CUSTOM_GOLD": 1}}],
                "project_id": PROJECT, "user_id": USER}),
        )
        .await;
    r.expect(204, "allocate");
    for what in ["with allocations", "with inventory"] {
        pl.delete("1.11", "/resource_classes/CUSTOM_GOLD").await.error_with(
            409,
            UNDEFINED,
            "Error in delete resource class: Cannot delete resource class CUSTOM_GOLD. Class is in use in inventory.",
            what,
        );
        if what == "with allocations" {
            pl.delete("1.11", &format!("/allocations/{consumer}")).await.expect(204, "free");
        }
    }
    pl.delete("1.11", &format!("/resource_providers/{rp}/inventories/CUSTOM_GOLD")).await.expect(204, "drop inventory");
    pl.delete("1.11", "/resource_classes/CUSTOM_GOLD").await.expect(204, "delete class");
    pl.stop().await;
}
