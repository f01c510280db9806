//! `/resource_providers/{uuid}/inventories[/{class}]` (inventory.yaml).

use serde_json::{json, Value};

use super::root::assert_http_date;
use crate::common::*;

fn inv_path(rp: &str) -> String {
    format!("/resource_providers/{rp}/inventories")
}

#[tokio::test]
async fn missing_provider() {
    let pl = Pl::start().await;
    let missing = new_uuid();
    pl.get("1.39", &inv_path(&missing)).await.error_with(
        404,
        UNDEFINED,
        &format!("No resource provider with uuid {missing} found"),
        "list",
    );
    pl.delete("1.5", &inv_path(&missing)).await.error(404, UNDEFINED, "delete all");
    pl.post("1.39", &inv_path(&missing), json!({"resource_class": "VCPU", "total": 1}))
        .await
        .error(404, UNDEFINED, "post");
    pl.put("1.39", &inv_path(&missing), json!({"resource_provider_generation": 0, "inventories": {}}))
        .await
        .error(404, UNDEFINED, "put all");
    pl.get("1.39", &format!("{}/VCPU", inv_path(&missing))).await.error(404, UNDEFINED, "show");
    pl.stop().await;
}

#[tokio::test]
async fn post_show_update_delete_one() {
    let pl = Pl::start().await;
    let rp = pl.rp("inv").await;
    let path = inv_path(&rp);
    assert_eq!(pl.get_ok("1.39", &path).await, json!({"resource_provider_generation": 0, "inventories": {}}));
    // No inventory, no time to give: cache-control but no last-modified.
    let r = pl.get("1.15", &path).await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert!(r.header("last-modified").is_none(), "last-modified on an empty inventory");

    let r = pl
        .post(
            "1.0",
            &path,
            json!({"resource_class": "DISK_GB", "total": 2048, "reserved": 512, "min_unit": 10, "max_unit": 1024,
                "step_size": 10, "allocation_ratio": 1.0}),
        )
        .await;
    let v = r.expect(201, "post").clone();
    assert!(r.header("location").unwrap().ends_with(&format!("{path}/DISK_GB")), "{:?}", r.header("location"));
    assert_eq!(
        v,
        json!({"resource_provider_generation": 1, "total": 2048, "reserved": 512, "min_unit": 10, "max_unit": 1024,
            "step_size": 10, "allocation_ratio": 1.0})
    );
    // Show, with cache headers at 1.15 only.
    let r = pl.get("1.15", &format!("{path}/DISK_GB")).await;
    assert_eq!(r.expect(200, "show"), &v);
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    let r = pl.get("1.14", &format!("{path}/DISK_GB")).await;
    assert!(r.header("cache-control").is_none() && r.header("last-modified").is_none());

    // Update one.
    let r = pl
        .put(
            "1.39",
            &format!("{path}/DISK_GB"),
            json!({"resource_provider_generation": 1, "total": 4096, "reserved": 0}),
        )
        .await;
    let v = r.expect(200, "update one").clone();
    assert_eq!(v["resource_provider_generation"], 2);
    assert_eq!(v["total"], 4096);
    // Omitted fields go back to their defaults.
    assert_eq!(
        (v["min_unit"].as_i64(), v["max_unit"].as_i64(), v["step_size"].as_i64()),
        (Some(1), Some(2147483647), Some(1))
    );
    // Stale generation.
    pl.put("1.23", &format!("{path}/DISK_GB"), json!({"resource_provider_generation": 1, "total": 1}))
        .await
        .error_with(409, CONCURRENT, "resource provider generation conflict", "stale update one");
    // A class the provider has no inventory of.
    pl.put("1.39", &format!("{path}/IPV4_ADDRESS"), json!({"resource_provider_generation": 2, "total": 1}))
        .await
        .error_with(400, UNDEFINED, "No inventory record with resource class", "update absent class");
    // Reserved above total.
    pl.put(
        "1.39",
        &format!("{path}/DISK_GB"),
        json!({"resource_provider_generation": 2, "total": 2048, "reserved": 4096}),
    )
    .await
    .error_with(
        400,
        UNDEFINED,
        &format!("Unable to update inventory for resource provider {rp}"),
        "reserved > total",
    );
    // Generation is required on PUT one.
    pl.put("1.39", &format!("{path}/DISK_GB"), json!({"total": 1})).await.error_with(
        400,
        UNDEFINED,
        "'resource_provider_generation' is a required property",
        "no generation",
    );

    // POST of a class that exists already.
    pl.post("1.39", &path, json!({"resource_class": "DISK_GB", "total": 1})).await.error_with(
        409,
        CONCURRENT,
        "Update conflict",
        "post existing",
    );
    pl.post("1.39", &path, json!({"resource_class": "NO_CLASS_14", "total": 2048})).await.error_with(
        400,
        UNDEFINED,
        "No such resource class NO_CLASS_14",
        "unknown class",
    );
    pl.post("1.39", &path, json!({"resource_class": "IPV4_ADDRESS", "total": 255, "reserved": 2}))
        .await
        .expect(201, "ipv4");
    let v = pl.get_ok("1.39", &path).await;
    assert_eq!(keys(&v["inventories"]), strs(&["DISK_GB", "IPV4_ADDRESS"]));
    assert_eq!(v["resource_provider_generation"], 3);

    // Delete one.
    let r = pl.delete("1.39", &format!("{path}/IPV4_ADDRESS")).await;
    r.expect(204, "delete one");
    assert!(r.header("content-type").is_none());
    pl.delete("1.39", &format!("{path}/IPV4_ADDRESS")).await.error_with(
        404,
        UNDEFINED,
        "No inventory of class IPV4_ADDRESS found for delete",
        "delete again",
    );
    pl.get("1.39", &format!("{path}/IPV4_ADDRESS")).await.error_with(
        404,
        UNDEFINED,
        &format!("No inventory of class IPV4_ADDRESS for {rp}"),
        "show deleted",
    );
    pl.get("1.39", &format!("{path}/HOUSE")).await.error(404, UNDEFINED, "show unknown class");
    assert_eq!(pl.generation(&rp).await, 4);
    pl.stop().await;
}

#[tokio::test]
async fn put_all_and_delete_all() {
    let pl = Pl::start().await;
    let rp = pl.rp("all").await;
    let path = inv_path(&rp);
    let r = pl
        .put(
            "1.15",
            &path,
            json!({"resource_provider_generation": 0, "inventories": {
                "IPV4_ADDRESS": {"total": 253}, "DISK_GB": {"total": 1024, "allocation_ratio": 1.5}}}),
        )
        .await;
    let v = r.expect(200, "put all").clone();
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    assert_eq!(v["resource_provider_generation"], 1);
    assert_eq!(
        v["inventories"]["IPV4_ADDRESS"],
        json!({"total": 253, "reserved": 0, "min_unit": 1, "max_unit": 2147483647, "step_size": 1, "allocation_ratio": 1.0})
    );
    assert_eq!(v["inventories"]["DISK_GB"]["allocation_ratio"], 1.5);
    assert_eq!(pl.get_ok("1.39", &path).await, v);
    assert_eq!(pl.get_ok("1.39", &format!("{path}/DISK_GB")).await["total"], 1024);

    // Stale generation.
    pl.put("1.23", &path, json!({"resource_provider_generation": 99, "inventories": {"IPV4_ADDRESS": {"total": 253}}}))
        .await
        .error_with(409, CONCURRENT, "resource provider generation conflict", "stale put all");
    // Unknown class.
    pl.put("1.39", &path, json!({"resource_provider_generation": 1, "inventories": {"HOUSE": {"total": 253}}}))
        .await
        .error_with(400, UNDEFINED, "Unknown resource class in inventory", "unknown class");
    // Replacing drops the classes not named.
    let v = pl
        .put("1.39", &path, json!({"resource_provider_generation": 1, "inventories": {"VCPU": {"total": 8}}}))
        .await
        .expect(200, "replace")
        .clone();
    assert_eq!(keys(&v["inventories"]), strs(&["VCPU"]));
    // Delete all: 405 below 1.5.
    pl.delete("1.4", &path).await.error(405, UNDEFINED, "delete all at 1.4");
    assert_eq!(keys(&pl.get_ok("1.39", &path).await["inventories"]), strs(&["VCPU"]));
    let r = pl.delete("1.5", &path).await;
    r.expect(204, "delete all");
    assert!(r.header("content-type").is_none());
    let r = pl.get("1.15", &path).await;
    assert_eq!(r.body, json!({"resource_provider_generation": 3, "inventories": {}}));
    assert!(r.header("last-modified").is_none(), "last-modified on an emptied inventory");
    // Deleting nothing is fine and still bumps the generation.
    pl.delete("1.5", &path).await.expect(204, "delete empty");
    assert_eq!(pl.generation(&rp).await, 4);
    // Before 1.5 an empty PUT empties it.
    pl.post("1.39", &path, json!({"resource_class": "DISK_GB", "total": 10})).await.expect(201, "post");
    let v = pl
        .put("1.4", &path, json!({"resource_provider_generation": 5, "inventories": {}}))
        .await
        .expect(200, "empty put")
        .clone();
    assert_eq!(v, json!({"resource_provider_generation": 6, "inventories": {}}));
    pl.stop().await;
}

#[tokio::test]
async fn reserved_equal_to_total_is_allowed_from_1_26() {
    let pl = Pl::start().await;
    let rp = pl.rp("reserved").await;
    let path = inv_path(&rp);
    let all = |generation: i64, reserved: i64| json!({"resource_provider_generation": generation, "inventories": {"DISK_GB": {"total": 1024, "reserved": reserved}}});
    for mv in ["1.0", "1.25"] {
        pl.put(mv, &path, all(0, 1024)).await.error_with(
            400,
            UNDEFINED,
            "The reserved value is greater than or equal to total.",
            &format!("reserved == total at {mv}"),
        );
        pl.post(mv, &path, json!({"resource_class": "VCPU", "total": 4, "reserved": 4})).await.error_with(
            400,
            UNDEFINED,
            &format!("Unable to create inventory for resource provider {rp}"),
            &format!("post reserved == total at {mv}"),
        );
    }
    pl.put("1.26", &path, all(0, 1025)).await.error_with(
        400,
        UNDEFINED,
        "The reserved value is greater than total.",
        "reserved > total at 1.26",
    );
    let v = pl.put("1.26", &path, all(0, 1024)).await.expect(200, "reserved == total at 1.26").clone();
    assert_eq!(v["inventories"]["DISK_GB"]["reserved"], 1024);
    // Such an inventory has no capacity.
    let r = pl
        .put(
            "1.28",
            &format!("/allocations/{}", new_uuid()),
            json!({"allocations": on(&rp, json!({"DISK_GB": 1})), "project_id": PROJECT, "user_id": USER, "consumer_generation": null}),
        )
        .await;
    r.error_with(409, UNDEFINED, "The requested amount would exceed the capacity", "allocate from nothing");
    // PUT one at 1.25 and 1.26.
    pl.put("1.25", &format!("{path}/DISK_GB"), json!({"resource_provider_generation": 1, "total": 10, "reserved": 10}))
        .await
        .error_with(400, UNDEFINED, "greater than or equal to total", "put one at 1.25");
    pl.put("1.26", &format!("{path}/DISK_GB"), json!({"resource_provider_generation": 1, "total": 10, "reserved": 10}))
        .await
        .expect(200, "put one at 1.26");
    pl.stop().await;
}

#[tokio::test]
async fn inventory_in_use_cannot_go() {
    let pl = Pl::start().await;
    let rp = pl.rp("busy").await;
    let path = inv_path(&rp);
    pl.inventory(&rp, json!({"VCPU": {"total": 8}, "DISK_GB": {"total": 100}})).await;
    pl.allocate(&new_uuid(), on(&rp, json!({"VCPU": 2}))).await;
    let generation = pl.generation(&rp).await;
    // Replacing without VCPU.
    pl.put(
        "1.39",
        &path,
        json!({"resource_provider_generation": generation, "inventories": {"DISK_GB": {"total": 100}}}),
    )
    .await
    .error_with(
        409,
        "placement.inventory.inuse",
        &format!("update conflict: Inventory for 'VCPU' on resource provider '{rp}' in use."),
        "put all",
    );
    // Deleting VCPU or everything.
    // Placement words this one as a concurrent update.
    pl.delete("1.39", &format!("{path}/VCPU")).await.error_with(
        409,
        CONCURRENT,
        &format!("Unable to delete inventory of class VCPU: Inventory for 'VCPU' on resource provider '{rp}' in use."),
        "delete one in use",
    );
    pl.delete("1.39", &path).await.error_with(
        409,
        "placement.inventory.inuse",
        &format!("Inventory for 'VCPU' on resource provider '{rp}' in use."),
        "delete all in use",
    );
    // Nothing changed.
    assert_eq!(pl.generation(&rp).await, generation);
    assert_eq!(keys(&pl.get_ok("1.39", &path).await["inventories"]), strs(&["DISK_GB", "VCPU"]));
    // Unused classes can go.
    pl.delete("1.39", &format!("{path}/DISK_GB")).await.expect(204, "delete unused");
    // Shrinking below the usage is allowed (Placement only warns).
    pl.put(
        "1.39",
        &path,
        json!({"resource_provider_generation": generation + 1, "inventories": {"VCPU": {"total": 1}}}),
    )
    .await
    .expect(200, "shrink below usage");
    pl.stop().await;
}

#[tokio::test]
async fn inventory_values_are_validated() {
    let pl = Pl::start().await;
    let rp = pl.rp("validate").await;
    let path = inv_path(&rp);
    let post = |extra: Value| {
        let mut b = json!({"resource_class": "DISK_GB", "total": 2048});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    for (body, needle) in [
        (json!({"resource_class": "DISK_GB"}), "'total' is a required property"),
        (post(json!({"total": -1})), "-1 is less than the minimum of 1"),
        (post(json!({"total": 0})), "0 is less than the minimum of 1"),
        (post(json!({"min_unit": 0})), "0 is less than the minimum of 1"),
        (post(json!({"max_unit": 0})), "0 is less than the minimum of 1"),
        (post(json!({"step_size": 0})), "0 is less than the minimum of 1"),
        (post(json!({"reserved": -1})), "-1 is less than the minimum of 0"),
        (post(json!({"total": 2147483648_i64})), "is greater than the maximum of"),
        (post(json!({"reserved": 2147483648_i64})), "is greater than the maximum of"),
        (post(json!({"min_unit": 2147483648_i64})), "is greater than the maximum of"),
        (post(json!({"max_unit": 2147483648_i64})), "is greater than the maximum of"),
        (post(json!({"step_size": 2147483648_i64})), "is greater than the maximum of"),
        (post(json!({"allocation_ratio": 3.40283e38})), "is greater than the maximum of"),
        (post(json!({"total": "many"})), "JSON does not validate"),
        (post(json!({"total": 1.5})), "JSON does not validate"),
        (post(json!({"color": "blue"})), "Additional properties are not allowed"),
        (post(json!({"resource_class": "lower"})), "JSON does not validate"),
    ] {
        pl.post("1.39", &path, body.clone()).await.error_with(400, UNDEFINED, needle, &body.to_string());
    }
    // PUT all checks each record.
    pl.put("1.39", &path, json!({"resource_provider_generation": 0, "inventories": {"DISK_GB": {"total": 0}}}))
        .await
        .error_with(400, UNDEFINED, "JSON does not validate", "total 0 in put all");
    pl.put("1.39", &path, json!({"inventories": {"DISK_GB": {"total": 1}}})).await.error_with(
        400,
        UNDEFINED,
        "'resource_provider_generation' is a required property",
        "no generation in put all",
    );
    pl.put(
        "1.39",
        &path,
        json!({"resource_provider_generation": 0, "inventories": {"DISK_GB": {"total": 2147483648_i64}}}),
    )
    .await
    .error_with(400, UNDEFINED, "is greater than the maximum of", "too big in put all");
    // Nothing was written.
    assert_eq!(pl.get_ok("1.39", &path).await, json!({"resource_provider_generation": 0, "inventories": {}}));
    pl.stop().await;
}
