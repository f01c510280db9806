//! Two controllers on one database: each keeps its own provider snapshot
//! and name caches, and must still answer as if there were one.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn providers_inventories_and_allocations_are_seen_by_both() {
    let a = Pl::start().await;
    let b = a.another_controller().await;
    // Warm B's snapshot before A writes.
    assert!(b.list_uuids(LATEST, "?resources=VCPU:1").await.is_empty());
    let rp = a.rp("shared").await;
    a.inventory(&rp, json!({"VCPU": {"total": 4}})).await;
    assert_eq!(b.list_uuids(LATEST, "?resources=VCPU:1").await, vec![rp.clone()]);
    let v = b.get_ok(LATEST, "/allocation_candidates?resources=VCPU:4").await;
    assert_eq!(v["allocation_requests"].as_array().unwrap().len(), 1, "{v}");
    // A claim on B is seen by A's candidates and usages.
    b.allocate(&new_uuid(), on(&rp, json!({"VCPU": 3}))).await;
    assert_eq!(a.usages(&rp).await, json!({"VCPU": 3}));
    let v = a.get_ok(LATEST, "/allocation_candidates?resources=VCPU:2").await;
    assert_eq!(v, json!({"allocation_requests": [], "provider_summaries": {}}));
    let v = a.get_ok(LATEST, "/allocation_candidates?resources=VCPU:1").await;
    assert_eq!(v["provider_summaries"][&rp]["resources"]["VCPU"], json!({"capacity": 4, "used": 3}));
    // Trees and aggregates too.
    let child = b.provider("child", Some(&rp)).await;
    let agg = new_uuid();
    b.aggregates(&child, &[&agg]).await;
    assert_eq!(a.list_uuids(LATEST, &format!("?member_of={agg}")).await, vec![child.clone()]);
    assert_eq!(a.list_uuids(LATEST, &format!("?in_tree={rp}")).await, {
        let mut t = vec![rp.clone(), child.clone()];
        t.sort();
        t
    });
    // A deletion on A is seen by B.
    a.delete(LATEST, &format!("/resource_providers/{child}")).await.expect(204, "delete child");
    assert!(b.list_uuids(LATEST, &format!("?member_of={agg}")).await.is_empty());
    b.get(LATEST, &format!("/resource_providers/{child}")).await.error(404, UNDEFINED, "deleted on A");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn classes_and_traits_made_on_one_are_usable_on_the_other() {
    let a = Pl::start().await;
    let b = a.another_controller().await;
    let rp = a.rp("rp").await;
    // Warm B's name caches.
    b.get_ok(LATEST, "/resource_classes").await;
    b.get_ok(LATEST, "/traits").await;
    a.class("CUSTOM_GOLD").await;
    a.req(Method::PUT, LATEST, "/traits/CUSTOM_SHINY", None).await.expect(201, "trait on A");
    b.inventory(&rp, json!({"CUSTOM_GOLD": {"total": 5}})).await;
    b.traits(&rp, &["CUSTOM_SHINY"]).await;
    let v = a.get_ok(LATEST, &format!("/resource_providers/{rp}/inventories")).await;
    assert_eq!(keys(&v["inventories"]), vec!["CUSTOM_GOLD"]);
    assert_eq!(a.list_uuids(LATEST, "?required=CUSTOM_SHINY&resources=CUSTOM_GOLD:5").await, vec![rp.clone()]);
    let v = b.get_ok(LATEST, "/allocation_candidates?resources=CUSTOM_GOLD:1&required=CUSTOM_SHINY").await;
    assert_eq!(v["provider_summaries"][&rp]["traits"], json!(["CUSTOM_SHINY"]));
    b.stop().await;
    a.stop().await;
}

/// What one controller deletes or renames, the other must not go on
/// believing in.
#[tokio::test]
async fn classes_and_traits_deleted_or_renamed_on_one_are_gone_on_the_other() {
    let a = Pl::start().await;
    let b = a.another_controller().await;
    let rp = a.rp("rp").await;
    a.class("CUSTOM_OLD").await;
    a.class("CUSTOM_GONE").await;
    a.req(Method::PUT, LATEST, "/traits/CUSTOM_GONE", None).await.expect(201, "trait");
    b.inventory(&rp, json!({"CUSTOM_OLD": {"total": 5}})).await;
    b.traits(&rp, &["CUSTOM_GONE"]).await;
    b.traits(&rp, &[]).await;
    // B has all three names cached now. A renames one and deletes the others.
    a.put("1.6", "/resource_classes/CUSTOM_OLD", json!({"name": "CUSTOM_NEW"})).await.expect(200, "rename on A");
    a.delete(LATEST, "/resource_classes/CUSTOM_GONE").await.expect(204, "delete class on A");
    a.delete(LATEST, "/traits/CUSTOM_GONE").await.expect(204, "delete trait on A");

    // B answers with the names as they are now.
    let v = b.get_ok(LATEST, &format!("/resource_providers/{rp}/inventories")).await;
    assert_eq!(keys(&v["inventories"]), vec!["CUSTOM_NEW"], "B shows the old name");
    b.get(LATEST, "/resource_classes/CUSTOM_OLD").await.error(404, UNDEFINED, "old class name on B");
    b.get(LATEST, "/resource_classes/CUSTOM_GONE").await.error(404, UNDEFINED, "deleted class on B");
    b.get(LATEST, "/traits/CUSTOM_GONE").await.error(404, UNDEFINED, "deleted trait on B");
    let generation = b.generation(&rp).await;
    b.put(
        LATEST,
        &format!("/resource_providers/{rp}/inventories"),
        json!({"resource_provider_generation": generation, "inventories": {"CUSTOM_GONE": {"total": 1}}}),
    )
    .await
    .error_with(400, UNDEFINED, "No such resource class CUSTOM_GONE", "inventory of a deleted class on B");
    b.put(
        LATEST,
        &format!("/resource_providers/{rp}/traits"),
        json!({"resource_provider_generation": generation, "traits": ["CUSTOM_GONE"]}),
    )
    .await
    .error_with(400, UNDEFINED, "No such trait CUSTOM_GONE", "deleted trait on B");
    b.get(LATEST, "/allocation_candidates?resources=CUSTOM_OLD:1").await.error_with(
        400,
        UNDEFINED,
        "No such resource class CUSTOM_OLD",
        "old class name in a query on B",
    );
    b.get(LATEST, "/resource_providers?required=CUSTOM_GONE").await.error_with(
        400,
        UNDEFINED,
        "No such trait(s): CUSTOM_GONE",
        "deleted trait in a query on B",
    );
    // Made again on B: a new class, not a stale one.
    b.class("CUSTOM_GONE").await;
    b.get_ok(LATEST, "/resource_classes/CUSTOM_GONE").await;
    a.get_ok(LATEST, "/resource_classes/CUSTOM_GONE").await;
    b.stop().await;
    a.stop().await;
}
