//! `/allocations/{consumer}`, `POST /allocations` and a provider's
//! allocations (allocations.yaml, allocations-1-8.yaml, allocations-1-12.yaml,
//! allocations-1.28.yaml, allocations-post.yaml, allocations-mappings.yaml,
//! consumer-types-1.38.yaml, allocation-bad-class.yaml).

use serde_json::{json, Value};

use super::root::assert_http_date;
use crate::common::*;

fn alloc_path(c: &str) -> String {
    format!("/allocations/{c}")
}

/// A 1.28+ PUT body.
fn body28(allocations: Value, generation: Value) -> Value {
    json!({"allocations": allocations, "project_id": PROJECT, "user_id": USER, "consumer_generation": generation})
}

#[tokio::test]
async fn unknown_consumer_has_no_allocations() {
    let pl = Pl::start().await;
    let c = new_uuid();
    for mv in ["1.0", "1.12", "1.28", "1.38", "1.39"] {
        assert_eq!(pl.get_ok(mv, &alloc_path(&c)).await, json!({"allocations": {}}), "at {mv}");
    }
    // Not even well-formed: still empty, as Placement answers.
    assert_eq!(pl.get_ok("1.28", "/allocations/not-a-uuid").await, json!({"allocations": {}}));
    pl.delete("1.0", &alloc_path(&c)).await.error_with(
        404,
        UNDEFINED,
        &format!("No allocations for consumer '{c}'"),
        "delete unknown",
    );
    pl.stop().await;
}

#[tokio::test]
async fn list_form_below_1_12() {
    let pl = Pl::start().await;
    let rp = pl.rp("disk").await;
    let c = new_uuid();
    let list = |n: i64| json!([{"resource_provider": {"uuid": rp}, "resources": {"DISK_GB": n}}]);
    // Before any inventory: 409.
    pl.put("1.0", &alloc_path(&c), json!({"allocations": list(10)})).await.error_with(
        409,
        UNDEFINED,
        &format!("Inventory for 'DISK_GB' on resource provider '{rp}' invalid"),
        "no inventory",
    );
    pl.inventory(&rp, json!({"DISK_GB": {"total": 2048, "min_unit": 10, "max_unit": 1024}, "VCPU": {"total": 8}}))
        .await;
    for (body, needle) in [
        (json!({}), "'allocations' is a required property"),
        (json!({"allocations": []}), "[] should be non-empty"),
        (json!({"allocations": [{"resources": {"DISK_GB": 10}}]}), "'resource_provider' is a required property"),
        (
            json!({"allocations": [{"resource_provider": {"uuid": rp}, "resources": {"DISK_GB": 0}}]}),
            "0 is less than the minimum of 1",
        ),
        (json!({"allocations": [{"resource_provider": {"uuid": rp}}]}), "is a required property"),
        (
            json!({"allocations": [{"resource_provider": {"uuid": "nope"}, "resources": {"DISK_GB": 10}}]}),
            "JSON does not validate",
        ),
    ] {
        pl.put("1.0", &alloc_path(&c), body.clone()).await.error_with(400, UNDEFINED, needle, &body.to_string());
    }
    // 1.0: no project or user.
    pl.put("1.0", &alloc_path(&c), json!({"allocations": list(10)})).await.expect(204, "list form at 1.0");
    let v = pl.get_ok("1.0", &alloc_path(&c)).await;
    assert_eq!(v, json!({"allocations": {rp.clone(): {"generation": 2, "resources": {"DISK_GB": 10}}}}));
    // Such a consumer gets the "incomplete consumer" project and user (ensure-consumer.yaml).
    let v = pl.get_ok("1.12", &alloc_path(&c)).await;
    let incomplete = "00000000-0000-0000-0000-000000000000";
    assert_eq!((v["project_id"].as_str(), v["user_id"].as_str()), (Some(incomplete), Some(incomplete)));
    assert_eq!(pl.get_ok("1.9", &format!("/usages?project_id={incomplete}")).await["usages"], json!({"DISK_GB": 10}));
    // 1.8: project and user required, with length limits.
    for (body, needle) in [
        (json!({"allocations": list(10)}), "is a required property"),
        (json!({"allocations": list(10), "project_id": PROJECT}), "is a required property"),
        (json!({"allocations": list(10), "user_id": USER}), "is a required property"),
        (json!({"allocations": list(10), "project_id": "", "user_id": USER}), "should be non-empty"),
        (json!({"allocations": list(10), "project_id": PROJECT, "user_id": ""}), "should be non-empty"),
        (json!({"allocations": list(10), "project_id": "p".repeat(256), "user_id": USER}), "is too long"),
        (json!({"allocations": list(10), "project_id": PROJECT, "user_id": "u".repeat(256)}), "is too long"),
    ] {
        pl.put("1.8", &alloc_path(&c), body.clone()).await.error_with(400, UNDEFINED, needle, &body.to_string());
    }
    pl.put("1.8", &alloc_path(&c), json!({"allocations": list(20), "project_id": PROJECT, "user_id": USER}))
        .await
        .expect(204, "list form at 1.8");
    // The dict form is not known yet; the list form is gone at 1.12.
    pl.put(
        "1.11",
        &alloc_path(&c),
        json!({"allocations": on(&rp, json!({"DISK_GB": 10})), "project_id": PROJECT, "user_id": USER}),
    )
    .await
    .error_with(400, UNDEFINED, "JSON does not validate", "dict at 1.11");
    pl.put("1.12", &alloc_path(&c), json!({"allocations": list(10), "project_id": PROJECT, "user_id": USER}))
        .await
        .error_with(400, UNDEFINED, "JSON does not validate", "list at 1.12");
    // project and user are shown from 1.12.
    let v = pl.get_ok("1.11", &alloc_path(&c)).await;
    assert!(v.get("project_id").is_none(), "{v}");
    let v = pl.get_ok("1.12", &alloc_path(&c)).await;
    assert_eq!((v["project_id"].as_str(), v["user_id"].as_str()), (Some(PROJECT), Some(USER)));
    assert!(v.get("consumer_generation").is_none(), "{v}");
    assert_eq!(pl.usages(&rp).await, json!({"DISK_GB": 20, "VCPU": 0}));
    pl.stop().await;
}

#[tokio::test]
async fn dict_form_at_1_12() {
    let pl = Pl::start().await;
    let rp = pl.rp("rp").await;
    pl.inventory(&rp, json!({"DISK_GB": {"total": 2048, "min_unit": 10, "max_unit": 1024}, "VCPU": {"total": 96}}))
        .await;
    let c = new_uuid();
    let path = alloc_path(&c);
    for (body, needle) in [
        (
            json!({"allocations": {"nice_house_friend": {"resources": {"VCPU": 1}}}, "project_id": PROJECT, "user_id": USER}),
            "does not match any of the regexes",
        ),
        (
            json!({"allocations": on(&rp, json!({"vcpu": 1})), "project_id": PROJECT, "user_id": USER}),
            "does not match any of the regexes",
        ),
        (json!({"allocations": {}, "project_id": PROJECT, "user_id": USER}), "JSON does not validate"),
        (
            json!({"allocations": on(&rp, json!({"VCPU": 1})), "project_id": PROJECT, "user_id": USER, "bad_field": "moo"}),
            "JSON does not validate",
        ),
        (json!({"allocations": on(&rp, json!({"VCPU": 1}))}), "'project_id' is a required property"),
        (
            json!({"allocations": on(&rp, json!({"VCPU": 1})), "project_id": PROJECT, "user_id": USER, "consumer_generation": null}),
            "Additional properties are not allowed",
        ),
    ] {
        pl.put("1.12", &path, body.clone()).await.error_with(400, UNDEFINED, needle, &body.to_string());
    }
    pl.put(
        "1.12",
        &path,
        json!({"allocations": on(&rp, json!({"VCPU": 1, "DISK_GB": 20})), "project_id": PROJECT, "user_id": USER}),
    )
    .await
    .expect(204, "dict form");
    let v = pl.get_ok("1.12", &path).await;
    assert_eq!(
        v,
        json!({"allocations": {rp.clone(): {"generation": 2, "resources": {"VCPU": 1, "DISK_GB": 20}}},
            "project_id": PROJECT, "user_id": USER})
    );
    // What GET gives can be PUT back (with the generation inside).
    pl.put("1.12", &path, json!({"allocations": v["allocations"], "project_id": PROJECT, "user_id": USER}))
        .await
        .expect(204, "put back");
    assert_eq!(pl.usages(&rp).await, json!({"DISK_GB": 20, "VCPU": 1}));
    // A dashless consumer uuid names the same consumer.
    pl.put(
        "1.12",
        &alloc_path(&c.replace('-', "")),
        json!({"allocations": on(&rp, json!({"VCPU": 2})), "project_id": PROJECT, "user_id": USER}),
    )
    .await
    .expect(204, "dashless");
    assert_eq!(pl.get_ok("1.12", &path).await["allocations"][&rp]["resources"], json!({"VCPU": 2}));
    assert_eq!(pl.usages(&rp).await, json!({"DISK_GB": 0, "VCPU": 2}));
    // A provider that does not exist.
    let ghost = new_uuid();
    pl.put(
        "1.12",
        &path,
        json!({"allocations": on(&ghost, json!({"VCPU": 1})), "project_id": PROJECT, "user_id": USER}),
    )
    .await
    .error_with(
        400,
        UNDEFINED,
        &format!("Allocation for resource provider '{ghost}' that does not exist"),
        "ghost rp",
    );
    // A class that does not exist.
    pl.put("1.12", &path, json!({"allocations": on(&rp, json!({"COWS": 12})), "project_id": PROJECT, "user_id": USER}))
        .await
        .error_with(
            400,
            UNDEFINED,
            &format!("Unable to allocate inventory for consumer {c}: No such resource class COWS"),
            "bad class",
        );
    // Cache headers.
    let r = pl.get("1.14", &path).await;
    assert!(r.header("cache-control").is_none() && r.header("last-modified").is_none());
    let r = pl.get("1.15", &path).await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    // DELETE, then 404.
    let r = pl.delete("1.12", &path).await;
    r.expect(204, "delete");
    assert!(r.header("content-type").is_none());
    pl.delete("1.12", &path).await.error(404, UNDEFINED, "delete again");
    assert_eq!(pl.usages(&rp).await, json!({"DISK_GB": 0, "VCPU": 0}));
    pl.stop().await;
}

#[tokio::test]
async fn consumer_generation_at_1_28() {
    let pl = Pl::start().await;
    let rp = pl.rp("rp").await;
    pl.inventory(&rp, json!({"DISK_GB": {"total": 2048}})).await;
    let disk = |n: i64| on(&rp, json!({"DISK_GB": n}));
    let (c1, c2, c3, c4) = (new_uuid(), new_uuid(), new_uuid(), new_uuid());
    // 1.27 needs no generation.
    pl.put("1.27", &alloc_path(&c1), json!({"allocations": disk(10), "project_id": PROJECT, "user_id": USER}))
        .await
        .expect(204, "1.27 no generation");
    // 1.28 requires it.
    pl.put("1.28", &alloc_path(&c2), json!({"allocations": disk(10), "project_id": PROJECT, "user_id": USER}))
        .await
        .error_with(400, UNDEFINED, "JSON does not validate", "1.28 no generation");
    pl.put("1.28", &alloc_path(&c2), body28(disk(10), json!(5))).await.error_with(
        409,
        CONCURRENT,
        "consumer generation conflict - expected null but got 5",
        "new consumer with a generation",
    );
    pl.put("1.28", &alloc_path(&c3), body28(disk(10), json!(33))).await.error_with(
        409,
        CONCURRENT,
        "consumer generation conflict",
        "any generation",
    );
    pl.put("1.28", &alloc_path(&c2), body28(disk(10), Value::Null)).await.expect(204, "new consumer with null");
    assert_eq!(pl.get_ok("1.28", &alloc_path(&c2)).await["consumer_generation"], 1);
    // null for an existing consumer.
    pl.put("1.28", &alloc_path(&c2), body28(disk(10), Value::Null)).await.error_with(
        409,
        CONCURRENT,
        "consumer generation conflict - expected 1 but got None",
        "null for existing",
    );
    pl.put("1.28", &alloc_path(&c2), body28(disk(10), json!(12))).await.error_with(
        409,
        CONCURRENT,
        "consumer generation conflict - expected 1 but got 12",
        "mismatch",
    );
    pl.put("1.28", &alloc_path(&c2), body28(disk(20), json!(1))).await.expect(204, "matching generation");
    let v = pl.get_ok("1.28", &alloc_path(&c2)).await;
    assert_eq!(v["consumer_generation"], 2);
    assert_eq!(v["allocations"][&rp]["resources"]["DISK_GB"], 20);
    // An older microversion still works without it, and bumps it.
    pl.put("1.27", &alloc_path(&c2), json!({"allocations": disk(10), "project_id": PROJECT, "user_id": USER}))
        .await
        .expect(204, "1.27 on existing");
    assert_eq!(pl.get_ok("1.28", &alloc_path(&c2)).await["consumer_generation"], 3);
    // Empty allocations at 1.28 remove them.
    pl.put("1.28", &alloc_path(&c2), body28(json!({}), json!(3))).await.expect(204, "empty");
    assert_eq!(pl.get_ok("1.28", &alloc_path(&c2)).await, json!({"allocations": {}}));
    assert_eq!(pl.get_ok("1.27", &alloc_path(&c2)).await, json!({"allocations": {}}));
    // The consumer is gone, so it is new again.
    pl.put("1.28", &alloc_path(&c2), body28(disk(1), Value::Null)).await.expect(204, "new again");
    // Empty allocations for a consumer that never existed.
    pl.put("1.28", &alloc_path(&c4), body28(json!({}), Value::Null)).await.expect(204, "empty new");
    assert_eq!(pl.get_ok("1.28", &alloc_path(&c4)).await, json!({"allocations": {}}));
    // The provider's allocations show consumer generations from 1.28.
    let v = pl.get_ok("1.28", &format!("/resource_providers/{rp}/allocations")).await;
    assert_eq!(v["allocations"][&c1], json!({"resources": {"DISK_GB": 10}, "consumer_generation": 1}));
    let v = pl.get_ok("1.27", &format!("/resource_providers/{rp}/allocations")).await;
    assert_eq!(v["allocations"][&c1], json!({"resources": {"DISK_GB": 10}}));
    pl.stop().await;
}

#[tokio::test]
async fn mappings_are_accepted_at_1_34() {
    let pl = Pl::start().await;
    let rp = pl.rp("rp").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 8}})).await;
    let mut body = body28(on(&rp, json!({"VCPU": 1})), Value::Null);
    body["mappings"] = json!({"": [rp], "_NET1": [rp]});
    pl.put("1.33", &alloc_path(&new_uuid()), body.clone()).await.error_with(
        400,
        UNDEFINED,
        "Additional properties are not allowed",
        "mappings at 1.33",
    );
    pl.put("1.34", &alloc_path(&new_uuid()), body.clone()).await.expect(204, "mappings at 1.34");
    let c = new_uuid();
    pl.post("1.34", "/allocations", json!({ c.clone(): body.clone() })).await.expect(204, "POST mappings at 1.34");
    pl.post("1.33", "/allocations", json!({ new_uuid(): body.clone() })).await.error_with(
        400,
        UNDEFINED,
        "Additional properties are not allowed",
        "POST mappings at 1.33",
    );
    // Mappings are not stored.
    let v = pl.get_ok("1.39", &alloc_path(&c)).await;
    assert!(v.get("mappings").is_none(), "{v}");
    let mut bad = body.clone();
    bad["mappings"] = json!({"alpha": "beta"});
    pl.put("1.34", &alloc_path(&new_uuid()), bad).await.error_with(
        400,
        UNDEFINED,
        "JSON does not validate: 'beta' is not of type 'array'",
        "mapping not a list",
    );
    let mut bad = body.clone();
    bad["mappings"] = json!({});
    pl.put("1.34", &alloc_path(&new_uuid()), bad).await.error_with(
        400,
        UNDEFINED,
        "JSON does not validate",
        "empty mappings",
    );
    assert_eq!(pl.usages(&rp).await["VCPU"], 2);
    pl.stop().await;
}

#[tokio::test]
async fn consumer_type_at_1_38() {
    let pl = Pl::start().await;
    let rp = pl.rp("rp").await;
    pl.inventory(&rp, json!({"DISK_GB": {"total": 2048}})).await;
    let c = new_uuid();
    let disk = on(&rp, json!({"DISK_GB": 10}));
    let mut body = body28(disk.clone(), Value::Null);
    pl.put("1.38", &alloc_path(&c), body.clone()).await.error_with(
        400,
        UNDEFINED,
        "'consumer_type' is a required property",
        "PUT without type",
    );
    pl.post("1.38", "/allocations", json!({ c.clone(): body.clone() })).await.error_with(
        400,
        UNDEFINED,
        "'consumer_type' is a required property",
        "POST without type",
    );
    body["consumer_type"] = json!("INSTANCE");
    pl.put("1.37", &alloc_path(&c), body.clone()).await.error_with(
        400,
        UNDEFINED,
        "Additional properties are not allowed",
        "type at 1.37",
    );
    pl.post("1.38", "/allocations", json!({ c.clone(): body.clone() })).await.expect(204, "POST with type");
    let v = pl.get_ok("1.38", &alloc_path(&c)).await;
    assert_eq!((v["consumer_type"].as_str(), v["consumer_generation"].as_i64()), (Some("INSTANCE"), Some(1)));
    assert!(pl.get_ok("1.37", &alloc_path(&c)).await.get("consumer_type").is_none());
    // A new type on PUT.
    body["consumer_type"] = json!("PONY");
    body["consumer_generation"] = json!(1);
    pl.put("1.38", &alloc_path(&c), body.clone()).await.expect(204, "PUT new type");
    assert_eq!(pl.get_ok("1.38", &alloc_path(&c)).await["consumer_type"], "PONY");
    body["consumer_type"] = json!("instance");
    body["consumer_generation"] = json!(2);
    pl.put("1.38", &alloc_path(&c), body.clone()).await.error_with(
        400,
        UNDEFINED,
        "'instance' does not match '^[A-Z0-9_]+$'",
        "lower-case type",
    );
    // A consumer written before 1.38 has the type "unknown".
    let old = new_uuid();
    pl.put("1.36", &alloc_path(&old), body28(disk.clone(), Value::Null)).await.expect(204, "no type at 1.36");
    assert_eq!(pl.get_ok("1.38", &alloc_path(&old)).await["consumer_type"], "unknown");
    let mut typed = body28(disk, json!(1));
    typed["consumer_type"] = json!("INSTANCE");
    pl.put("1.38", &alloc_path(&old), typed).await.expect(204, "set a type later");
    assert_eq!(pl.get_ok("1.38", &alloc_path(&old)).await["consumer_type"], "INSTANCE");
    pl.stop().await;
}

#[tokio::test]
async fn capacity_and_inventory_constraints() {
    let pl = Pl::start().await;
    let rp = pl.rp("rp").await;
    pl.inventory(
        &rp,
        json!({"VCPU": {"total": 10, "reserved": 2, "allocation_ratio": 1.5},
            "MEMORY_MB": {"total": 4096, "min_unit": 256, "max_unit": 2048, "step_size": 256}}),
    )
    .await;
    // Capacity (10 - 2) * 1.5 = 12.
    let c = new_uuid();
    pl.put("1.28", &alloc_path(&c), body28(on(&rp, json!({"VCPU": 13})), Value::Null)).await.error_with(
        409,
        UNDEFINED,
        &format!("Unable to allocate inventory: Unable to create allocation for 'VCPU' on resource provider '{rp}'. The requested amount would exceed the capacity."),
        "over capacity",
    );
    pl.put("1.28", &alloc_path(&c), body28(on(&rp, json!({"VCPU": 12})), Value::Null))
        .await
        .expect(204, "exactly the capacity");
    pl.put("1.28", &alloc_path(&new_uuid()), body28(on(&rp, json!({"VCPU": 1})), Value::Null)).await.error_with(
        409,
        UNDEFINED,
        "The requested amount would exceed the capacity",
        "full",
    );
    // A consumer may resize within the capacity: its own allocation is replaced.
    pl.put("1.28", &alloc_path(&c), body28(on(&rp, json!({"VCPU": 11})), json!(1))).await.expect(204, "shrink");
    pl.put("1.28", &alloc_path(&c), body28(on(&rp, json!({"VCPU": 12})), json!(2))).await.expect(204, "grow back");
    // min_unit, max_unit, step_size.
    for n in [128, 4096, 300] {
        pl.put("1.28", &alloc_path(&new_uuid()), body28(on(&rp, json!({"MEMORY_MB": n})), Value::Null)).await.error_with(
            409,
            UNDEFINED,
            &format!("Unable to allocate inventory: Unable to create allocation for 'MEMORY_MB' on resource provider '{rp}'. The requested amount would violate inventory constraints."),
            &format!("MEMORY_MB {n}"),
        );
    }
    pl.put("1.28", &alloc_path(&new_uuid()), body28(on(&rp, json!({"MEMORY_MB": 512})), Value::Null))
        .await
        .expect(204, "512");
    // A class the provider has no inventory of.
    pl.put("1.28", &alloc_path(&new_uuid()), body28(on(&rp, json!({"DISK_GB": 1})), Value::Null)).await.error_with(
        409,
        UNDEFINED,
        &format!("Inventory for 'DISK_GB' on resource provider '{rp}' invalid."),
        "no such inventory",
    );
    assert_eq!(pl.usages(&rp).await, json!({"VCPU": 12, "MEMORY_MB": 512}));
    pl.stop().await;
}

#[tokio::test]
async fn overcommitted_provider_may_shrink_but_not_grow() {
    let pl = Pl::start().await;
    let rp = pl.rp("rp").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 10}})).await;
    let c = new_uuid();
    pl.allocate(&c, on(&rp, json!({"VCPU": 8}))).await;
    // The inventory shrinks below the usage.
    pl.inventory(&rp, json!({"VCPU": {"total": 4}})).await;
    // Reducing the overage is allowed ...
    pl.put("1.28", &alloc_path(&c), body28(on(&rp, json!({"VCPU": 6})), json!(1)))
        .await
        .expect(204, "reduce the overage");
    // ... increasing it is not.
    pl.put("1.28", &alloc_path(&c), body28(on(&rp, json!({"VCPU": 7})), json!(2))).await.error_with(
        409,
        UNDEFINED,
        "The requested amount would exceed the capacity",
        "grow the overage",
    );
    pl.put("1.28", &alloc_path(&new_uuid()), body28(on(&rp, json!({"VCPU": 1})), Value::Null)).await.error(
        409,
        UNDEFINED,
        "another consumer on an overcommitted provider",
    );
    assert_eq!(pl.usages(&rp).await, json!({"VCPU": 6}));
    pl.stop().await;
}

#[tokio::test]
async fn post_allocations_for_many_consumers() {
    let pl = Pl::start().await;
    let c1 = pl.rp("compute01").await;
    let c2 = pl.rp("compute02").await;
    let st = pl.rp("storage01").await;
    pl.inventory(&c1, json!({"VCPU": {"total": 16}, "MEMORY_MB": {"total": 2048}})).await;
    pl.inventory(&c2, json!({"VCPU": {"total": 16}, "MEMORY_MB": {"total": 2048}})).await;
    pl.inventory(&st, json!({"DISK_GB": {"total": 4096}})).await;
    let (inst, mig, other) = (new_uuid(), new_uuid(), new_uuid());
    let (p2, u2) = (new_uuid(), new_uuid());
    let consumer = |allocs: Value, project: &str, user: &str| json!({"allocations": allocs, "project_id": project, "user_id": user});
    let inst_allocs =
        json!({c2.clone(): {"resources": {"MEMORY_MB": 1024, "VCPU": 2}}, st.clone(): {"resources": {"DISK_GB": 5}}});
    let body = json!({
        inst.clone(): consumer(inst_allocs.clone(), PROJECT, USER),
        mig.clone(): consumer(on(&c1, json!({"MEMORY_MB": 1024, "VCPU": 2})), PROJECT, USER),
    });
    pl.post("1.12", "/allocations", body.clone()).await.error(404, UNDEFINED, "POST at 1.12");
    pl.post("1.13", "/allocations", body).await.expect(204, "two consumers");
    let v = pl.get_ok("1.28", &alloc_path(&inst)).await;
    assert_eq!(v["allocations"][&c2]["resources"], json!({"MEMORY_MB": 1024, "VCPU": 2}));
    assert_eq!(v["allocations"][&st]["resources"], json!({"DISK_GB": 5}));
    assert_eq!((v["consumer_generation"].as_i64(), v["project_id"].as_str()), (Some(1), Some(PROJECT)));
    assert_eq!(
        pl.get_ok("1.9", &format!("/usages?project_id={PROJECT}")).await["usages"],
        json!({"DISK_GB": 5, "VCPU": 4, "MEMORY_MB": 2048})
    );
    // Clearing one consumer while setting another.
    let body = json!({
        inst.clone(): consumer(inst_allocs.clone(), PROJECT, USER),
        mig.clone(): consumer(json!({}), PROJECT, USER),
    });
    pl.post("1.13", "/allocations", body).await.expect(204, "clear and set");
    assert_eq!(pl.get_ok("1.13", &alloc_path(&mig)).await, json!({"allocations": {}}));
    assert_eq!(
        pl.get_ok("1.9", &format!("/usages?project_id={PROJECT}")).await["usages"],
        json!({"DISK_GB": 5, "VCPU": 2, "MEMORY_MB": 1024})
    );
    // Two projects.
    let body = json!({
        inst.clone(): consumer(inst_allocs.clone(), PROJECT, USER),
        other.clone(): consumer(on(&c1, json!({"MEMORY_MB": 1024, "VCPU": 2})), &p2, &u2),
    });
    pl.post("1.13", "/allocations", body).await.expect(204, "two projects");
    assert_eq!(
        pl.get_ok("1.9", &format!("/usages?project_id={p2}")).await["usages"],
        json!({"VCPU": 2, "MEMORY_MB": 1024})
    );

    // Each failure leaves everything as it was.
    let before = (pl.usages(&c1).await, pl.usages(&c2).await, pl.usages(&st).await);
    let before_gens = (pl.generation(&c1).await, pl.generation(&c2).await, pl.generation(&st).await);
    let fresh = new_uuid();
    let good = consumer(on(&c2, json!({"VCPU": 1})), PROJECT, USER);
    let cases: Vec<(Value, u16, &str)> = vec![
        // One consumer over capacity.
        (
            json!({fresh.clone(): good.clone(), other.clone(): consumer(on(&c1, json!({"MEMORY_MB": 2049, "VCPU": 2})), &p2, &u2)}),
            409,
            "The requested amount would exceed the capacity",
        ),
        // A provider that does not exist.
        (
            json!({fresh.clone(): good.clone(), other.clone(): consumer(on(&new_uuid(), json!({"VCPU": 1})), &p2, &u2)}),
            400,
            "that does not exist",
        ),
        // A class not in the inventory.
        (
            json!({fresh.clone(): good.clone(), inst.clone(): consumer(json!({c2.clone(): {"resources": {"MEMORY_MB": 1024, "VCPU": 2, "PCI_DEVICE": 1}}}), PROJECT, USER)}),
            409,
            "Inventory for 'PCI_DEVICE' on",
        ),
        // A class that does not exist.
        (
            json!({fresh.clone(): good.clone(), inst.clone(): consumer(json!({c2.clone(): {"resources": {"CUSTOM_PONY": 1}}}), PROJECT, USER)}),
            400,
            "No such resource class CUSTOM_PONY",
        ),
        // min/max/step.
        (
            json!({fresh.clone(): good.clone(), inst.clone(): consumer(on(&c2, json!({"VCPU": 17})), PROJECT, USER)}),
            409,
            "exceed the capacity",
        ),
        // Schema: deep and shallow.
        (
            json!({fresh.clone(): good.clone(), inst.clone(): {"allocations": {c2.clone(): {"cow": "moo"}}, "project_id": PROJECT, "user_id": USER}}),
            400,
            "JSON does not validate",
        ),
        (json!({fresh.clone(): good.clone(), inst.clone(): {"cow": "moo"}}), 400, "JSON does not validate"),
        (json!({}), 400, "JSON does not validate"),
        (json!({"not-a-uuid": good.clone()}), 400, "JSON does not validate"),
    ];
    for (body, status, needle) in cases {
        pl.post("1.13", "/allocations", body.clone()).await.error_with(status, UNDEFINED, needle, &body.to_string());
        assert_eq!(
            pl.get_ok("1.13", &alloc_path(&fresh)).await,
            json!({"allocations": {}}),
            "{body} wrote the good consumer"
        );
        assert_eq!((pl.usages(&c1).await, pl.usages(&c2).await, pl.usages(&st).await), before, "{body} changed usages");
        assert_eq!(
            (pl.generation(&c1).await, pl.generation(&c2).await, pl.generation(&st).await),
            before_gens,
            "{body} bumped a generation"
        );
    }
    pl.stop().await;
}

#[tokio::test]
async fn post_allocations_with_consumer_generations() {
    let pl = Pl::start().await;
    let rp = pl.rp("rp").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 16}})).await;
    let (a, b) = (new_uuid(), new_uuid());
    pl.allocate(&a, on(&rp, json!({"VCPU": 2}))).await;
    pl.allocate(&b, on(&rp, json!({"VCPU": 2}))).await;
    let gens = |ga: Value, gb: Value| {
        json!({
            a.clone(): body28(on(&rp, json!({"VCPU": 1})), ga),
            b.clone(): body28(on(&rp, json!({"VCPU": 1})), gb),
        })
    };
    // Missing generations at 1.28.
    let mut body = gens(json!(1), json!(1));
    body[&a].as_object_mut().unwrap().remove("consumer_generation");
    pl.post("1.28", "/allocations", body).await.error_with(
        400,
        UNDEFINED,
        "JSON does not validate",
        "missing generation",
    );
    // One stale generation: nothing is written.
    pl.post("1.28", "/allocations", gens(json!(1), json!(7))).await.error_with(
        409,
        CONCURRENT,
        "consumer generation conflict - expected 1 but got 7",
        "one stale",
    );
    assert_eq!(pl.usages(&rp).await["VCPU"], 4);
    assert_eq!(pl.get_ok("1.28", &alloc_path(&a)).await["consumer_generation"], 1);
    pl.post("1.28", "/allocations", gens(json!(1), json!(1))).await.expect(204, "both current");
    assert_eq!(pl.usages(&rp).await["VCPU"], 2);
    assert_eq!(pl.get_ok("1.28", &alloc_path(&a)).await["consumer_generation"], 2);
    assert_eq!(pl.get_ok("1.28", &alloc_path(&b)).await["consumer_generation"], 2);
    pl.stop().await;
}

#[tokio::test]
async fn provider_allocations_and_generations() {
    let pl = Pl::start().await;
    let rp1 = pl.rp("rp1").await;
    let rp2 = pl.rp("rp2").await;
    pl.inventory(&rp1, json!({"VCPU": {"total": 32}, "DISK_GB": {"total": 100}})).await;
    pl.inventory(&rp2, json!({"VCPU": {"total": 32}, "DISK_GB": {"total": 100}})).await;
    let (c1, c2) = (new_uuid(), new_uuid());
    pl.allocate(&c1, json!({rp1.clone(): {"resources": {"VCPU": 16, "DISK_GB": 5}}, rp2.clone(): {"resources": {"VCPU": 8, "DISK_GB": 10}}}))
        .await;
    pl.allocate(&c2, json!({rp1.clone(): {"resources": {"VCPU": 4, "DISK_GB": 5}}, rp2.clone(): {"resources": {"VCPU": 4, "DISK_GB": 5}}}))
        .await;
    // Each allocation write bumps every provider it touches.
    let v = pl.get_ok("1.28", &alloc_path(&c1)).await;
    assert_eq!(v["allocations"][&rp1]["generation"], 3);
    assert_eq!(v["allocations"][&rp2], json!({"generation": 3, "resources": {"VCPU": 8, "DISK_GB": 10}}));
    let r = pl.get("1.15", &format!("/resource_providers/{rp2}/allocations")).await;
    let v = r.expect(200, "provider allocations").clone();
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    assert_eq!(
        v,
        json!({"resource_provider_generation": 3, "allocations": {
            c1.clone(): {"resources": {"VCPU": 8, "DISK_GB": 10}},
            c2.clone(): {"resources": {"VCPU": 4, "DISK_GB": 5}}}})
    );
    let r = pl.get("1.14", &format!("/resource_providers/{rp2}/allocations")).await;
    assert!(r.header("cache-control").is_none() && r.header("last-modified").is_none());
    let missing = new_uuid();
    pl.get("1.0", &format!("/resource_providers/{missing}/allocations")).await.error(
        404,
        UNDEFINED,
        "missing provider",
    );
    assert_eq!(pl.usages(&rp1).await, json!({"VCPU": 20, "DISK_GB": 10}));
    assert_eq!(pl.usages(&rp2).await, json!({"VCPU": 12, "DISK_GB": 15}));
    // Moving a consumer from one provider to another.
    pl.put("1.28", &alloc_path(&c2), body28(on(&rp2, json!({"VCPU": 1})), json!(1))).await.expect(204, "move");
    assert_eq!(pl.usages(&rp1).await, json!({"VCPU": 16, "DISK_GB": 5}));
    let v = pl.get_ok("1.28", &format!("/resource_providers/{rp1}/allocations")).await;
    assert_eq!(keys(&v["allocations"]), vec![c1.clone()]);
    pl.stop().await;
}

/// allocations-bug-1778591, -1778743 and -1779717: a refused claim leaves
/// no consumer behind; a POST over capacity writes none of its consumers;
/// a consumer's project follows its latest write.
#[tokio::test]
async fn failed_claims_leave_no_consumer_and_projects_follow_writes() {
    let pl = Pl::start().await;
    let rp = pl.rp("simple").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 4}, "MEMORY_MB": {"total": 2048}})).await;
    let c = new_uuid();
    pl.put("1.28", &alloc_path(&c), body28(on(&rp, json!({"VCPU": 9999})), Value::Null)).await.error_with(
        409,
        UNDEFINED,
        "The requested amount would exceed the capacity",
        "over capacity",
    );
    assert_eq!(pl.get_ok("1.28", &alloc_path(&c)).await, json!({"allocations": {}}));
    // Still a new consumer: null is the right generation.
    pl.put("1.28", &alloc_path(&c), body28(on(&rp, json!({"VCPU": 1})), Value::Null)).await.expect(204, "retry");
    pl.delete("1.28", &alloc_path(&c)).await.expect(204, "free");

    // Three consumers of one VCPU each on a provider with two free after this one.
    pl.allocate(&new_uuid(), on(&rp, json!({"VCPU": 2}))).await;
    let three: Vec<String> = (0..3).map(|_| new_uuid()).collect();
    let body: serde_json::Map<String, Value> =
        three.iter().map(|c| (c.clone(), body28(on(&rp, json!({"VCPU": 1})), Value::Null))).collect();
    pl.post("1.28", "/allocations", Value::Object(body)).await.error(409, UNDEFINED, "three into two");
    assert_eq!(pl.usages(&rp).await["VCPU"], 2);
    for c in &three {
        assert_eq!(pl.get_ok("1.28", &alloc_path(c)).await, json!({"allocations": {}}));
    }

    // Projects.
    let (alt_project, alt_user) = (new_uuid(), new_uuid());
    let c1 = new_uuid();
    pl.allocate(&c1, on(&rp, json!({"MEMORY_MB": 1024, "VCPU": 1}))).await;
    let mut body = body28(on(&rp, json!({"MEMORY_MB": 1024, "VCPU": 1})), json!(1));
    body["project_id"] = json!(alt_project);
    pl.put("1.28", &alloc_path(&c1), body).await.expect(204, "change project");
    let v = pl.get_ok("1.28", &alloc_path(&c1)).await;
    assert_eq!((v["project_id"].as_str(), v["user_id"].as_str()), (Some(alt_project.as_str()), Some(USER)));
    assert_eq!(
        pl.get_ok("1.9", &format!("/usages?project_id={alt_project}")).await["usages"],
        json!({"MEMORY_MB": 1024, "VCPU": 1})
    );
    let c2 = new_uuid();
    let mut other = body28(on(&rp, json!({"MEMORY_MB": 512})), Value::Null);
    other["project_id"] = json!(alt_project);
    other["user_id"] = json!(alt_user);
    let body = json!({c1.clone(): body28(on(&rp, json!({"MEMORY_MB": 1024, "VCPU": 1})), json!(2)), c2.clone(): other});
    pl.post("1.28", "/allocations", body).await.expect(204, "POST back");
    let v = pl.get_ok("1.28", &alloc_path(&c1)).await;
    assert_eq!((v["project_id"].as_str(), v["user_id"].as_str()), (Some(PROJECT), Some(USER)));
    assert_eq!(
        pl.get_ok("1.9", &format!("/usages?project_id={alt_project}")).await["usages"],
        json!({"MEMORY_MB": 512})
    );
    assert_eq!(
        pl.get_ok("1.9", &format!("/usages?project_id={alt_project}&user_id={alt_user}")).await["usages"],
        json!({"MEMORY_MB": 512})
    );
    // Empty resources are refused in both forms.
    let r = pl
        .put(
            "1.11",
            &alloc_path(&c1),
            json!({"allocations": [{"resource_provider": {"uuid": rp}, "resources": {}}],
            "project_id": PROJECT, "user_id": USER}),
        )
        .await;
    r.error_with(400, UNDEFINED, "should be non-empty", "empty resources, list form");
    let r = pl
        .put(
            "1.12",
            &alloc_path(&c1),
            json!({"allocations": on(&rp, json!({})), "project_id": PROJECT, "user_id": USER}),
        )
        .await;
    r.error_with(400, UNDEFINED, "should be non-empty", "empty resources, dict form");
    pl.stop().await;
}
