//! `/resource_providers` (resource-provider.yaml, resource-provider-links.yaml,
//! resource-provider-aggregates.yaml, resource-provider-any-traits.yaml,
//! resource-provider-resources-query.yaml, resource-provider-duplication.yaml).

use reqwest::Method;
use serde_json::{json, Value};

use super::root::assert_http_date;
use crate::common::*;

fn link(v: &Value, rel: &str) -> Option<String> {
    v["links"].as_array()?.iter().find(|l| l["rel"] == rel).map(|l| l["href"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn create_is_201_without_body_before_1_20_and_200_with_body_after() {
    let pl = Pl::start().await;
    let u1 = new_uuid();
    let r = pl.post("1.19", "/resource_providers", json!({"name": "old", "uuid": u1})).await;
    r.expect(201, "create at 1.19");
    assert!(r.text.is_empty(), "no body at 1.19: {}", r.text);
    assert!(r.header("content-type").is_none(), "no content-type on an empty 201");
    let loc = r.header("location").expect("location").to_string();
    assert!(loc.ends_with(&format!("/placement/resource_providers/{u1}")), "{loc}");
    assert!(loc.starts_with("http://"), "{loc}");

    let u2 = new_uuid();
    let r = pl.post("1.20", "/resource_providers", json!({"name": "new", "uuid": u2})).await;
    let v = r.expect(200, "create at 1.20").clone();
    assert!(r.header("location").unwrap().ends_with(&format!("/resource_providers/{u2}")));
    assert_eq!(v["uuid"], u2.as_str());
    assert_eq!(v["name"], "new");
    assert_eq!(v["generation"], 0);
    assert_eq!(v["parent_provider_uuid"], Value::Null);
    assert_eq!(v["root_provider_uuid"], u2.as_str());
    assert_eq!(link(&v, "self").unwrap(), format!("/placement/resource_providers/{u2}"));
    assert_eq!(link(&v, "inventories").unwrap(), format!("/placement/resource_providers/{u2}/inventories"));
    assert_eq!(link(&v, "usages").unwrap(), format!("/placement/resource_providers/{u2}/usages"));
    assert_eq!(link(&v, "allocations").unwrap(), format!("/placement/resource_providers/{u2}/allocations"));
    // 1.15+: cache headers on the created provider.
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));

    // Without a uuid one is made.
    let r = pl.post("1.39", "/resource_providers", json!({"name": "no uuid"})).await;
    let v = r.expect(200, "create without uuid");
    assert!(uuid::Uuid::parse_str(v["uuid"].as_str().unwrap()).is_ok(), "{v}");
    pl.stop().await;
}

#[tokio::test]
async fn show_and_links_per_microversion() {
    let pl = Pl::start().await;
    let u = pl.rp("links").await;
    let path = format!("/resource_providers/{u}");
    // (microversion, links, has root/parent)
    for (mv, rels, nested) in [
        ("1.0", vec!["self", "inventories", "usages"], false),
        ("1.1", vec!["self", "inventories", "usages", "aggregates"], false),
        ("1.6", vec!["self", "inventories", "usages", "aggregates", "traits"], false),
        ("1.10", vec!["self", "inventories", "usages", "aggregates", "traits"], false),
        ("1.11", vec!["self", "inventories", "usages", "aggregates", "traits", "allocations"], false),
        ("1.13", vec!["self", "inventories", "usages", "aggregates", "traits", "allocations"], false),
        ("1.14", vec!["self", "inventories", "usages", "aggregates", "traits", "allocations"], true),
    ] {
        let v = pl.get_ok(mv, &path).await;
        let got: Vec<&str> = v["links"].as_array().unwrap().iter().map(|l| l["rel"].as_str().unwrap()).collect();
        assert_eq!(got, rels, "links at {mv}");
        let n = v.as_object().unwrap().len();
        assert_eq!(n, if nested { 6 } else { 4 }, "fields at {mv}: {v}");
        assert_eq!(v.get("root_provider_uuid").is_some(), nested, "{mv}: {v}");
        // The list shows providers the same way.
        let l = pl.get_ok(mv, &format!("/resource_providers?uuid={u}")).await;
        assert_eq!(l["resource_providers"][0], v, "list and show differ at {mv}");
    }
    // Cache headers only from 1.15.
    let r = pl.get("1.14", &path).await;
    assert!(r.header("cache-control").is_none() && r.header("last-modified").is_none());
    let r = pl.get("1.15", &path).await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    let r = pl.get("1.15", "/resource_providers").await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));

    // Missing providers.
    let missing = new_uuid();
    pl.get("1.39", &format!("/resource_providers/{missing}")).await.error_with(
        404,
        UNDEFINED,
        &format!("No resource provider with uuid {missing} found"),
        "show missing",
    );
    pl.get("1.39", "/resource_providers/random_sauce").await.error(404, UNDEFINED, "show non-uuid");
    pl.stop().await;
}

#[tokio::test]
async fn duplicates_are_409_duplicate_name() {
    let pl = Pl::start().await;
    let u = pl.rp("dup").await;
    // Same name, another uuid.
    pl.post("1.39", "/resource_providers", json!({"name": "dup", "uuid": new_uuid()})).await.error_with(
        409,
        "placement.duplicate_name",
        "Conflicting resource provider name: dup already exists",
        "same name",
    );
    // Same uuid (also written without dashes), another name.
    let dashless = u.replace('-', "");
    let r = pl.post("1.39", "/resource_providers", json!({"name": "other", "uuid": dashless})).await;
    r.error_with(
        409,
        "placement.duplicate_name",
        &format!("Conflicting resource provider uuid: {u} already exists"),
        "same uuid",
    );
    // Both the same.
    let r = pl.post("1.39", "/resource_providers", json!({"name": "dup", "uuid": u})).await;
    r.error_with(409, "placement.duplicate_name", "Conflicting resource provider", "both");
    // Renaming onto another provider's name.
    let other = pl.rp("cow").await;
    pl.put("1.39", &format!("/resource_providers/{other}"), json!({"name": "dup"})).await.error(
        409,
        "placement.duplicate_name",
        "rename onto an existing name",
    );
    assert_eq!(pl.list_uuids("1.39", "").await.len(), 2);
    pl.stop().await;
}

#[tokio::test]
async fn update_name() {
    let pl = Pl::start().await;
    let u = pl.rp("before").await;
    let path = format!("/resource_providers/{u}");
    let r = pl.put("1.15", &path, json!({"name": "new name"})).await;
    let v = r.expect(200, "rename").clone();
    assert_eq!(
        (v["name"].as_str(), v["uuid"].as_str(), v["generation"].as_i64()),
        (Some("new name"), Some(u.as_str()), Some(0))
    );
    assert!(r.header("location").is_none(), "no location on PUT");
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(pl.get_ok("1.39", &path).await["name"], "new name");
    // Renaming to its own name is fine.
    pl.put("1.39", &path, json!({"name": "new name"})).await.expect(200, "same name");
    // Bad bodies.
    pl.put("1.39", &path, json!({"badfield": "x"})).await.error_with(
        400,
        UNDEFINED,
        "JSON does not validate",
        "badfield",
    );
    pl.put("1.39", &path, json!({"name": "x", "uuid": new_uuid()})).await.error_with(
        400,
        UNDEFINED,
        "Additional properties are not allowed",
        "uuid in PUT",
    );
    pl.put("1.39", &path, json!({"root_provider_uuid": new_uuid()})).await.error_with(
        400,
        UNDEFINED,
        "JSON does not validate",
        "root_provider_uuid in PUT",
    );
    pl.put("1.39", &path, json!({"name": "x".repeat(201)})).await.error_with(
        400,
        UNDEFINED,
        "is too long",
        "name too long",
    );
    let missing = new_uuid();
    pl.put("1.39", &format!("/resource_providers/{missing}"), json!({"name": "x"}))
        .await
        .error(404, UNDEFINED, "missing");
    pl.stop().await;
}

#[tokio::test]
async fn nested_providers_at_1_14() {
    let pl = Pl::start().await;
    let parent = new_uuid();
    // Below 1.14 parent_provider_uuid is not part of the schema.
    pl.post("1.13", "/resource_providers", json!({"name": "child", "parent_provider_uuid": parent})).await.error_with(
        400,
        UNDEFINED,
        "JSON does not validate",
        "parent at 1.13",
    );
    let plain = pl.rp("plain").await;
    pl.put("1.13", &format!("/resource_providers/{plain}"), json!({"name": "child", "parent_provider_uuid": parent}))
        .await
        .error_with(400, UNDEFINED, "JSON does not validate", "PUT parent at 1.13");
    // A parent that does not exist.
    let r = pl.post("1.14", "/resource_providers", json!({"name": "child", "parent_provider_uuid": parent})).await;
    r.error_with(400, UNDEFINED, "parent provider UUID does not exist", "missing parent");
    // Its own parent.
    let me = new_uuid();
    let r =
        pl.post("1.14", "/resource_providers", json!({"name": "child", "uuid": me, "parent_provider_uuid": me})).await;
    r.error_with(400, UNDEFINED, "parent provider UUID cannot be same as UUID", "self parent");
    assert!(r.error(400, UNDEFINED, "").contains(&format!("Unable to create resource provider \"child\", {me}:")));

    let root = pl.rp("root").await;
    let child = pl.provider("child", Some(&root)).await;
    let grandchild = pl.provider("grandchild", Some(&child)).await;
    let v = pl.get_ok("1.14", &format!("/resource_providers/{grandchild}")).await;
    assert_eq!(v["parent_provider_uuid"], child.as_str());
    assert_eq!(v["root_provider_uuid"], root.as_str());
    let v = pl.get_ok("1.14", &format!("/resource_providers/{root}")).await;
    assert_eq!((v["parent_provider_uuid"].clone(), v["root_provider_uuid"].clone()), (Value::Null, json!(root)));

    // Giving a provider a parent that does not exist.
    pl.put("1.14", &format!("/resource_providers/{plain}"), json!({"name": "plain", "parent_provider_uuid": parent}))
        .await
        .error_with(400, UNDEFINED, "parent provider UUID does not exist", "PUT missing parent");
    pl.delete("1.14", &format!("/resource_providers/{plain}")).await.expect(204, "delete plain");
    // in_tree lists the whole tree, whichever member is named.
    let other = pl.rp("other").await;
    let mut tree = strs(&[&root, &child, &grandchild]);
    tree.sort();
    for member in [&root, &child, &grandchild] {
        assert_eq!(pl.list_uuids("1.14", &format!("?in_tree={member}")).await, tree);
    }
    assert_eq!(pl.list_uuids("1.14", &format!("?in_tree={other}")).await, vec![other.clone()]);
    assert!(pl.list_uuids("1.14", &format!("?in_tree={}", new_uuid())).await.is_empty());
    // in_tree is not known before 1.14.
    pl.get("1.13", &format!("/resource_providers?in_tree={root}")).await.error_with(
        400,
        UNDEFINED,
        "Invalid query string parameters",
        "in_tree at 1.13",
    );

    // A parent with children cannot be deleted.
    pl.delete("1.39", &format!("/resource_providers/{child}")).await.error_with(
        409,
        "placement.resource_provider.cannot_delete_parent",
        &format!("Unable to delete parent resource provider {child}: It has child resource providers."),
        "delete parent",
    );
    pl.delete("1.39", &format!("/resource_providers/{grandchild}")).await.expect(204, "delete leaf");
    pl.delete("1.39", &format!("/resource_providers/{child}")).await.expect(204, "delete now-leaf");
    pl.stop().await;
}

#[tokio::test]
async fn reparenting_is_refused_below_1_37_and_allowed_at_1_37() {
    let pl = Pl::start().await;
    let parent = pl.rp("parent").await;
    let alt = pl.rp("alt").await;
    let rp = pl.rp("rp").await;
    let grandchild = pl.provider("gc", Some(&rp)).await;
    let path = format!("/resource_providers/{rp}");

    // A root may be given a parent at any microversion from 1.14.
    let v =
        pl.put("1.14", &path, json!({"name": "rp", "parent_provider_uuid": parent})).await.expect(200, "adopt").clone();
    assert_eq!(
        (v["parent_provider_uuid"].as_str(), v["root_provider_uuid"].as_str()),
        (Some(parent.as_str()), Some(parent.as_str()))
    );
    // The subtree's root follows.
    let v = pl.get_ok("1.14", &format!("/resource_providers/{grandchild}")).await;
    assert_eq!(v["root_provider_uuid"], parent.as_str());
    // Setting the same parent again is not re-parenting.
    pl.put("1.36", &path, json!({"name": "rp", "parent_provider_uuid": parent})).await.expect(200, "same parent");

    // Below 1.37: neither re-parenting nor un-parenting.
    let r = pl.put("1.36", &path, json!({"name": "rp", "parent_provider_uuid": alt})).await;
    r.error_with(400, UNDEFINED, "re-parenting a provider is not currently allowed", "re-parent at 1.36");
    let r = pl.put("1.36", &path, json!({"name": "rp", "parent_provider_uuid": null})).await;
    r.error_with(400, UNDEFINED, "un-parenting a provider is not currently allowed", "un-parent at 1.36");
    assert_eq!(pl.get_ok("1.14", &path).await["parent_provider_uuid"], parent.as_str());

    // 1.37: both, and the subtree moves along.
    let v = pl
        .put("1.37", &path, json!({"name": "rp", "parent_provider_uuid": alt}))
        .await
        .expect(200, "re-parent")
        .clone();
    assert_eq!(
        (v["parent_provider_uuid"].as_str(), v["root_provider_uuid"].as_str()),
        (Some(alt.as_str()), Some(alt.as_str()))
    );
    assert_eq!(
        pl.get_ok("1.37", &format!("/resource_providers/{grandchild}")).await["root_provider_uuid"],
        alt.as_str()
    );
    assert_eq!(pl.list_uuids("1.37", &format!("?in_tree={alt}")).await, {
        let mut t = strs(&[&alt, &rp, &grandchild]);
        t.sort();
        t
    });
    assert_eq!(pl.list_uuids("1.37", &format!("?in_tree={parent}")).await, vec![parent.clone()]);
    let v = pl
        .put("1.37", &path, json!({"name": "rp", "parent_provider_uuid": null}))
        .await
        .expect(200, "un-parent")
        .clone();
    assert_eq!((v["parent_provider_uuid"].clone(), v["root_provider_uuid"].clone()), (Value::Null, json!(rp)));
    assert_eq!(
        pl.get_ok("1.37", &format!("/resource_providers/{grandchild}")).await["root_provider_uuid"],
        rp.as_str()
    );
    // Back again.
    let v =
        pl.put("1.37", &path, json!({"name": "rp", "parent_provider_uuid": parent})).await.expect(200, "back").clone();
    assert_eq!(v["root_provider_uuid"], parent.as_str());
    pl.stop().await;
}

#[tokio::test]
async fn loops_in_the_tree_are_refused() {
    let pl = Pl::start().await;
    let parent = pl.rp("parent").await;
    let child = pl.provider("child", Some(&parent)).await;
    let grandchild = pl.provider("grandchild", Some(&child)).await;
    for mv in ["1.14", "1.37"] {
        for (who, new_parent) in [(&parent, &parent), (&parent, &child), (&parent, &grandchild), (&child, &grandchild)]
        {
            let r = pl
                .put(
                    mv,
                    &format!("/resource_providers/{who}"),
                    json!({"name": "n", "parent_provider_uuid": new_parent}),
                )
                .await;
            if mv == "1.14" && who == &child {
                // Below 1.37 this is refused as a re-parenting first.
                r.error(400, UNDEFINED, "re-parent into own subtree");
                continue;
            }
            r.error_with(
                400,
                UNDEFINED,
                "creating loop in the provider tree is not allowed.",
                &format!("loop at {mv}"),
            );
        }
    }
    // Nothing changed.
    let v = pl.get_ok("1.14", &format!("/resource_providers/{parent}")).await;
    assert_eq!((v["parent_provider_uuid"].clone(), v["name"].clone()), (Value::Null, json!("parent")));
    pl.stop().await;
}

#[tokio::test]
async fn delete_provider() {
    let pl = Pl::start().await;
    let u = pl.rp("gone").await;
    pl.inventory(&u, json!({"VCPU": {"total": 4}})).await;
    pl.traits(&u, &["CUSTOM_GONE"]).await;
    pl.aggregates(&u, &[&new_uuid()]).await;
    let r = pl.delete("1.39", &format!("/resource_providers/{u}")).await;
    r.expect(204, "delete");
    assert!(r.text.is_empty() && r.header("content-type").is_none());
    pl.get("1.39", &format!("/resource_providers/{u}")).await.error(404, UNDEFINED, "gone");
    pl.delete("1.39", &format!("/resource_providers/{u}")).await.error_with(
        404,
        UNDEFINED,
        &format!("No resource provider with uuid {u} found for delete"),
        "delete again",
    );
    // Its trait is no longer associated.
    let v = pl.get_ok("1.39", "/traits?associated=true&name=in:CUSTOM_GONE").await;
    assert_eq!(v["traits"], json!([]));
    // A provider with allocations cannot be deleted.
    let busy = pl.rp("busy").await;
    pl.inventory(&busy, json!({"VCPU": {"total": 4}})).await;
    pl.allocate(&new_uuid(), on(&busy, json!({"VCPU": 1}))).await;
    pl.delete("1.39", &format!("/resource_providers/{busy}")).await.error_with(
        409,
        "placement.resource_provider.inuse",
        "Resource provider has allocations",
        "delete busy",
    );
    pl.stop().await;
}

#[tokio::test]
async fn list_filters_name_uuid_and_bad_filters() {
    let pl = Pl::start().await;
    let a = pl.rp("alpha").await;
    let b = pl.rp("beta").await;
    assert_eq!(pl.list_uuids("1.0", "").await, strs(&[&a, &b]));
    assert_eq!(pl.list_uuids("1.0", "?name=alpha").await, vec![a.clone()]);
    assert!(pl.list_uuids("1.0", "?name=flubblebubble").await.is_empty());
    assert_eq!(pl.list_uuids("1.0", &format!("?uuid={b}")).await, vec![b.clone()]);
    assert_eq!(pl.list_uuids("1.0", &format!("?uuid={}", b.replace('-', ""))).await, vec![b.clone()]);
    assert!(pl.list_uuids("1.0", &format!("?uuid={}", new_uuid())).await.is_empty());
    assert_eq!(pl.list_uuids("1.0", &format!("?uuid={a}&name=alpha")).await, vec![a.clone()]);
    assert!(pl.list_uuids("1.0", &format!("?uuid={a}&name=beta")).await.is_empty());
    pl.get("1.0", "/resource_providers?uuid=spameggs").await.error_with(
        400,
        UNDEFINED,
        "Invalid query string parameters",
        "bad uuid",
    );
    pl.get("1.0", "/resource_providers?spam=eggs").await.error_with(
        400,
        UNDEFINED,
        "Invalid query string parameters",
        "unknown",
    );
    // Parameters newer than the microversion are unknown.
    for (q, mv) in [
        ("member_of=in:5d8b3c2e-0000-4000-8000-000000000001", "1.2"),
        ("resources=VCPU:1", "1.3"),
        ("required=HW_CPU_X86_SSE", "1.17"),
    ] {
        pl.get(mv, &format!("/resource_providers?{q}")).await.error_with(
            400,
            UNDEFINED,
            "Additional properties are not allowed",
            &format!("{q} at {mv}"),
        );
    }
    pl.stop().await;
}

#[tokio::test]
async fn list_filter_member_of() {
    let pl = Pl::start().await;
    let (agg1, agg2, agg3) = (new_uuid(), new_uuid(), new_uuid());
    let a = pl.rp("a").await;
    let b = pl.rp("b").await;
    let c = pl.rp("c").await;
    pl.aggregates(&a, &[&agg1]).await;
    pl.aggregates(&b, &[&agg1, &agg2]).await;
    pl.aggregates(&c, &[&agg3]).await;
    // 1.3: one aggregate or in:.
    assert_eq!(pl.list_uuids("1.3", &format!("?member_of={agg1}")).await, strs(&[&a, &b]));
    assert_eq!(pl.list_uuids("1.3", &format!("?member_of=in:{agg2},{agg3}")).await, strs(&[&b, &c]));
    assert!(pl.list_uuids("1.3", &format!("?member_of={}", new_uuid())).await.is_empty());
    pl.get("1.3", &format!("/resource_providers?member_of={agg1},{agg2}")).await.error_with(
        400,
        UNDEFINED,
        "Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword",
        "comma without in:",
    );
    pl.get("1.3", "/resource_providers?member_of=not-a-uuid").await.error_with(
        400,
        UNDEFINED,
        "Expected 'member_of' parameter to contain valid UUID(s)",
        "not a uuid",
    );
    // Below 1.24 one member_of only.
    pl.get("1.23", &format!("/resource_providers?member_of={agg1}&member_of={agg2}")).await.error_with(
        400,
        UNDEFINED,
        "Multiple member_of parameters are not supported",
        "two member_of at 1.23",
    );
    // 1.24: several are ANDed.
    assert_eq!(pl.list_uuids("1.24", &format!("?member_of={agg1}&member_of={agg2}")).await, vec![b.clone()]);
    assert_eq!(pl.list_uuids("1.24", &format!("?member_of=in:{agg1},{agg3}&member_of={agg2}")).await, vec![b.clone()]);
    // Forbidden aggregates from 1.32.
    pl.get("1.31", &format!("/resource_providers?member_of=!{agg1}")).await.error_with(
        400,
        UNDEFINED,
        "Forbidden member_of parameters are not supported in the specified microversion",
        "! at 1.31",
    );
    assert_eq!(pl.list_uuids("1.32", &format!("?member_of=!{agg1}")).await, vec![c.clone()]);
    assert_eq!(pl.list_uuids("1.32", &format!("?member_of=!in:{agg2},{agg3}")).await, vec![a.clone()]);
    assert_eq!(pl.list_uuids("1.32", &format!("?member_of={agg1}&member_of=!{agg2}")).await, vec![a.clone()]);
    pl.get("1.32", &format!("/resource_providers?member_of=!{agg1},{agg2}")).await.error(
        400,
        UNDEFINED,
        "! with a comma and no in:",
    );
    pl.stop().await;
}

#[tokio::test]
async fn list_filter_resources() {
    let pl = Pl::start().await;
    let big = pl.rp("big").await;
    let small = pl.rp("small").await;
    let disk = pl.rp("disk").await;
    pl.inventory(
        &big,
        json!({"VCPU": {"total": 16, "max_unit": 8}, "MEMORY_MB": {"total": 8192, "reserved": 1024, "step_size": 512}}),
    )
    .await;
    pl.inventory(&small, json!({"VCPU": {"total": 2}, "MEMORY_MB": {"total": 1024, "allocation_ratio": 2.0}})).await;
    pl.inventory(&disk, json!({"DISK_GB": {"total": 1000, "min_unit": 10}})).await;
    assert_eq!(pl.list_uuids("1.4", "?resources=VCPU:1").await, strs(&[&big, &small]));
    assert_eq!(pl.list_uuids("1.4", "?resources=VCPU:3").await, vec![big.clone()]);
    // max_unit 8: 9 VCPU is too many at once.
    assert!(pl.list_uuids("1.4", "?resources=VCPU:9").await.is_empty());
    // Capacity is (total - reserved) * ratio: 7168 on big, 2048 on small.
    assert_eq!(pl.list_uuids("1.4", "?resources=MEMORY_MB:2048").await, strs(&[&big, &small]));
    assert_eq!(pl.list_uuids("1.4", "?resources=MEMORY_MB:7168").await, vec![big.clone()]);
    assert!(pl.list_uuids("1.4", "?resources=MEMORY_MB:7680").await.is_empty());
    // step_size 512 on big.
    assert_eq!(pl.list_uuids("1.4", "?resources=MEMORY_MB:1000").await, vec![small.clone()]);
    // min_unit 10 on disk.
    assert!(pl.list_uuids("1.4", "?resources=DISK_GB:5").await.is_empty());
    assert_eq!(pl.list_uuids("1.4", "?resources=DISK_GB:10").await, vec![disk.clone()]);
    assert_eq!(pl.list_uuids("1.4", "?resources=VCPU:2,MEMORY_MB:1024").await, strs(&[&big, &small]));
    assert!(pl.list_uuids("1.4", "?resources=VCPU:1,DISK_GB:10").await.is_empty());
    // Usage counts against capacity.
    pl.allocate(&new_uuid(), on(&small, json!({"VCPU": 2}))).await;
    assert_eq!(pl.list_uuids("1.4", "?resources=VCPU:1").await, vec![big.clone()]);
    // Bad values.
    pl.get("1.4", "/resource_providers?resources=VCPU").await.error_with(
        400,
        UNDEFINED,
        "Badly formed resources parameter",
        "VCPU",
    );
    pl.get("1.4", "/resource_providers?resources=VCPU:0").await.error_with(
        400,
        UNDEFINED,
        "Requested resource VCPU requires amount >= 1. Got: 0.",
        "VCPU:0",
    );
    pl.get("1.4", "/resource_providers?resources=VCPU:x").await.error_with(
        400,
        UNDEFINED,
        "Requested resource VCPU expected positive integer amount. Got: x.",
        "VCPU:x",
    );
    pl.get("1.4", "/resource_providers?resources=CUSTOM_NOPE:1").await.error_with(
        400,
        UNDEFINED,
        "Invalid resource class in resources parameter: No such resource class CUSTOM_NOPE.",
        "unknown class",
    );
    pl.stop().await;
}

#[tokio::test]
async fn list_filter_required_traits() {
    let pl = Pl::start().await;
    let sgx = pl.rp("sgx").await;
    let ssd = pl.rp("ssd").await;
    let none = pl.rp("none").await;
    pl.traits(&sgx, &["HW_CPU_X86_SGX", "STORAGE_DISK_SSD"]).await;
    pl.traits(&ssd, &["MISC_SHARES_VIA_AGGREGATE", "STORAGE_DISK_SSD"]).await;
    assert!(pl.list_uuids("1.18", "?required=HW_CPU_X86_SGX,HW_CPU_X86_SHA").await.is_empty());
    assert_eq!(pl.list_uuids("1.18", "?required=STORAGE_DISK_SSD").await, strs(&[&sgx, &ssd]));
    assert!(pl.list_uuids("1.18", "?required=HW_CPU_X86_SGX,MISC_SHARES_VIA_AGGREGATE").await.is_empty());
    // Forbidden traits from 1.22.
    pl.get("1.21", "/resource_providers?required=!STORAGE_DISK_SSD").await.error_with(
        400,
        UNDEFINED,
        "Invalid query string parameters: Expected 'required' parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: !STORAGE_DISK_SSD",
        "forbidden at 1.21",
    );
    assert_eq!(pl.list_uuids("1.22", "?required=!STORAGE_DISK_SSD").await, vec![none.clone()]);
    assert_eq!(pl.list_uuids("1.22", "?required=!MISC_SHARES_VIA_AGGREGATE").await, strs(&[&sgx, &none]));
    assert_eq!(pl.list_uuids("1.22", "?required=!HW_CPU_X86_SGX,STORAGE_DISK_SSD").await, vec![ssd.clone()]);
    assert_eq!(pl.list_uuids("1.22", "?required=!MISC_SHARES_VIA_AGGREGATE,!HW_CPU_X86_SGX").await, vec![none.clone()]);
    assert_eq!(pl.list_uuids("1.22", "?required=!HW_CPU_X86_VMX").await.len(), 3);
    // Together with in_tree and resources.
    pl.inventory(&ssd, json!({"IPV4_ADDRESS": {"total": 253}, "DISK_GB": {"total": 1024}})).await;
    assert_eq!(pl.list_uuids("1.22", "?required=STORAGE_DISK_SSD&resources=IPV4_ADDRESS:10").await, vec![ssd.clone()]);
    assert_eq!(pl.list_uuids("1.22", &format!("?required=STORAGE_DISK_SSD&in_tree={sgx}")).await, vec![sgx.clone()]);
    // Malformed.
    for (mv, q, form) in [
        ("1.22", "required=", "HW_CPU_X86_VMX,!CUSTOM_MAGIC"),
        ("1.21", "required=", "HW_CPU_X86_VMX,CUSTOM_MAGIC"),
        ("1.22", "required=STORAGE_DISK_SSD,,MISC_SHARES_VIA_AGGREGATE", "HW_CPU_X86_VMX,!CUSTOM_MAGIC"),
    ] {
        let want = format!("Invalid query string parameters: Expected 'required' parameter value of the form: {form}.");
        pl.get(mv, &format!("/resource_providers?{q}")).await.error_with(400, UNDEFINED, &want, q);
    }
    pl.get("1.22", "/resource_providers?required=STORAGE_DISK_SSD,BOGUS_TRAIT").await.error_with(
        400,
        UNDEFINED,
        "No such trait(s): BOGUS_TRAIT.",
        "unknown trait",
    );
    pl.stop().await;
}

#[tokio::test]
async fn list_filter_required_any_traits_at_1_39() {
    let pl = Pl::start().await;
    let avx = pl.rp("avx").await;
    let sse = pl.rp("sse").await;
    let both = pl.rp("both").await;
    pl.traits(&avx, &["HW_CPU_X86_AVX", "CUSTOM_GOLD"]).await;
    pl.traits(&sse, &["HW_CPU_X86_SSE"]).await;
    pl.traits(&both, &["HW_CPU_X86_AVX", "HW_CPU_X86_SSE"]).await;
    pl.get("1.38", "/resource_providers?required=in:HW_CPU_X86_AVX,HW_CPU_X86_SSE").await.error_with(
        400,
        UNDEFINED,
        "The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported since microversion 1.39. Got: in:HW_CPU_X86_AVX,HW_CPU_X86_SSE",
        "in: at 1.38",
    );
    assert_eq!(pl.list_uuids("1.39", "?required=in:HW_CPU_X86_AVX,HW_CPU_X86_SSE").await, strs(&[&avx, &sse, &both]));
    // Repeated required parameters are ANDed at 1.39 ...
    assert_eq!(
        pl.list_uuids("1.39", "?required=in:HW_CPU_X86_AVX,HW_CPU_X86_SSE&required=!CUSTOM_GOLD").await,
        strs(&[&sse, &both])
    );
    assert_eq!(pl.list_uuids("1.39", "?required=HW_CPU_X86_AVX&required=HW_CPU_X86_SSE").await, vec![both.clone()]);
    // ... while before 1.39 only the last one counts.
    assert_eq!(pl.list_uuids("1.38", "?required=HW_CPU_X86_AVX&required=HW_CPU_X86_SSE").await, strs(&[&sse, &both]));
    pl.get("1.39", "/resource_providers?required=in:HW_CPU_X86_AVX,!HW_CPU_X86_SSE").await.error_with(
        400,
        UNDEFINED,
        "The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' does not support forbidden traits.",
        "in: with !",
    );
    pl.get("1.39", "/resource_providers?required=in:HW_CPU_X86_AVX,,HW_CPU_X86_SSE").await.error_with(
        400,
        UNDEFINED,
        "Expected 'required' parameter value of the form: in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty trait in: in:HW_CPU_X86_AVX,,HW_CPU_X86_SSE",
        "in: with an empty trait",
    );
    pl.stop().await;
}

#[tokio::test]
async fn names_are_unicode() {
    let pl = Pl::start().await;
    let name = "\u{2603} snowman \u{1F600}";
    let u = pl.rp(name).await;
    assert_eq!(pl.get_ok("1.39", &format!("/resource_providers/{u}")).await["name"], name);
    let q: String = url_encode(name);
    assert_eq!(pl.list_uuids("1.39", &format!("?name={q}")).await, vec![u]);
    pl.stop().await;
}

pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn empty_list() {
    let pl = Pl::start().await;
    let r = pl.req(Method::GET, "1.39", "/resource_providers", None).await;
    assert_eq!(r.expect(200, "list"), &json!({"resource_providers": []}));
    pl.stop().await;
}
