use serde_json::{json, Value};

use crate::common::{unique, Nova};

fn ids(v: &Value) -> Vec<String> {
    v["flavors"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn create_show_and_the_shape_at_each_microversion() {
    let n = Nova::start().await;
    let name = unique("m1");
    let r = n
        .post(
            "/flavors",
            &n.admin,
            "",
            json!({"flavor": {"name": name, "id": 42, "ram": "512", "vcpus": 1, "disk": 1, "swap": 0}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let f = &r.body["flavor"];
    assert_eq!(f["id"], "42");
    assert_eq!(f["ram"], 512);
    assert_eq!(f["swap"], "", "swap 0 is an empty string below 2.75");
    assert_eq!(f["OS-FLV-DISABLED:disabled"], false);
    assert_eq!(f["rxtx_factor"], 1.0);
    assert_eq!(f["os-flavor-access:is_public"], true);
    assert!(f.get("description").is_none());
    assert!(f["links"][0]["href"].as_str().unwrap().ends_with("/compute/v2.1/flavors/42"));
    assert!(f["links"][1]["href"].as_str().unwrap().ends_with("/compute/flavors/42"));

    let r = n.get("/flavors/42", &n.admin, "2.55").await;
    assert_eq!(r.body["flavor"]["description"], Value::Null);
    assert!(r.body["flavor"].get("extra_specs").is_none());
    let r = n.get("/flavors/42", &n.admin, "2.61").await;
    assert_eq!(r.body["flavor"]["extra_specs"], json!({}));
    let r = n.get("/flavors/42", &n.admin, "2.75").await;
    assert_eq!(r.body["flavor"]["swap"], 0);
    let r = n.get("/flavors/42", &n.admin, "2.102").await;
    assert!(r.body["flavor"].get("rxtx_factor").is_none());
    assert!(r.body["flavor"].get("OS-FLV-DISABLED:disabled").is_none());

    // No id: a UUID; a description from 2.55.
    let r = n
        .post(
            "/flavors",
            &n.admin,
            "2.55",
            json!({"flavor": {"name": unique("d"), "ram": 64, "vcpus": 2, "disk": 0, "description": "tiny one"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["flavor"]["id"].as_str().unwrap().len(), 36);
    assert_eq!(r.body["flavor"]["description"], "tiny one");
    let id = r.body["flavor"]["id"].as_str().unwrap().to_string();
    let r = n.put(&format!("/flavors/{id}"), &n.admin, "2.55", json!({"flavor": {"description": "changed"}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["flavor"]["description"], "changed");
    let r = n.put(&format!("/flavors/{id}"), &n.admin, "2.54", json!({"flavor": {"description": "x"}})).await;
    r.fault(404, "itemNotFound", "The resource could not be found.");

    let r = n.get("/flavors/nope", &n.admin, "").await;
    r.fault(404, "itemNotFound", "Flavor nope could not be found.");
    let r = n.delete("/flavors/42", &n.admin, "").await;
    assert_eq!(r.status, 202);
    let r = n.get("/flavors/42", &n.admin, "").await;
    assert_eq!(r.status, 404);
    n.stop().await;
}

#[tokio::test]
async fn bad_flavor_bodies_and_conflicts() {
    let n = Nova::start().await;
    let name = unique("c");
    n.flavor(json!({"name": name, "id": "c1", "ram": 1, "vcpus": 1, "disk": 0})).await;
    let create = |body: Value| n.post("/flavors", &n.admin, "", json!({"flavor": body}));
    create(json!({"name": name, "id": "c2", "ram": 1, "vcpus": 1, "disk": 0})).await.fault(
        409,
        "conflictingRequest",
        &format!("Flavor with name {name} already exists."),
    );
    create(json!({"name": unique("c"), "id": "c1", "ram": 1, "vcpus": 1, "disk": 0})).await.fault(
        409,
        "conflictingRequest",
        "Flavor with ID c1 already exists.",
    );
    create(json!({"name": unique("c"), "ram": 0, "vcpus": 1, "disk": 0})).await.fault(
        400,
        "badRequest",
        "Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1",
    );
    create(json!({"name": unique("c"), "ram": 1, "vcpus": 1})).await.fault(
        400,
        "badRequest",
        "'disk' is a required property",
    );
    create(json!({"name": unique("c"), "ram": 1, "vcpus": 1, "disk": 0, "color": "red"})).await.fault(
        400,
        "badRequest",
        "Additional properties are not allowed ('color' was unexpected)",
    );
    create(json!({"name": " padded", "ram": 1, "vcpus": 1, "disk": 0})).await.fault(
        400,
        "badRequest",
        "An invalid 'name' value was provided.",
    );
    create(json!({"name": unique("c"), "ram": "lots", "vcpus": 1, "disk": 0})).await.fault(
        400,
        "badRequest",
        "'lots' does not match '^[0-9]+$'",
    );
    create(json!({"name": unique("c"), "ram": 1, "vcpus": 1, "disk": 0, "description": "x"})).await.fault(
        400,
        "badRequest",
        "Additional properties are not allowed ('description' was unexpected)",
    );
    let r = n
        .post(
            "/flavors",
            &n.admin,
            "2.102",
            json!({"flavor": {"name": unique("c"), "ram": 1, "vcpus": 1, "disk": 0, "rxtx_factor": 2.0}}),
        )
        .await;
    r.fault(400, "badRequest", "('rxtx_factor' was unexpected)");
    // Nothing of those was written.
    let r = n.get("/flavors?is_public=none", &n.admin, "").await;
    assert_eq!(ids(&r.body), ["c1"]);
    n.stop().await;
}

#[tokio::test]
async fn list_filters_sorting_and_pages() {
    let n = Nova::start().await;
    for (id, ram, disk, name) in [("1", 512, 1, "m1.tiny"), ("2", 2048, 20, "m1.small"), ("3", 4096, 40, "m1.medium")] {
        n.flavor(json!({"name": name, "id": id, "ram": ram, "vcpus": 1, "disk": disk})).await;
    }
    n.flavor(
        json!({"name": "hidden", "id": "9", "ram": 1, "vcpus": 1, "disk": 0, "os-flavor-access:is_public": false}),
    )
    .await;
    let r = n.get("/flavors", &n.admin, "").await;
    assert_eq!(ids(&r.body), ["1", "2", "3"], "private flavors are not listed by default");
    assert_eq!(r.body["flavors"][0].as_object().unwrap().len(), 3, "list items are id, name, links");
    let r = n.get("/flavors/detail?minRam=1000&minDisk=30", &n.admin, "").await;
    assert_eq!(ids(&r.body), ["3"]);
    let r = n.get("/flavors/detail?sort_key=memory_mb&sort_dir=desc", &n.admin, "").await;
    assert_eq!(ids(&r.body), ["3", "2", "1"]);
    let r = n.get("/flavors?is_public=false", &n.admin, "").await;
    assert_eq!(ids(&r.body), ["9"]);
    let r = n.get("/flavors?is_public=none", &n.admin, "").await;
    assert_eq!(ids(&r.body), ["1", "2", "3", "9"]);
    n.get("/flavors?is_public=maybe", &n.admin, "").await.fault(400, "badRequest", "Invalid is_public filter [maybe]");
    n.get("/flavors?minRam=x", &n.admin, "").await.fault(400, "badRequest", "Invalid minRam filter [x]");
    n.get("/flavors?sort_key=color", &n.admin, "").await.fault(400, "badRequest", "'color' is not one of [");

    // Pages: a next link while a page is full.
    let r = n.get("/flavors?limit=2", &n.admin, "").await;
    assert_eq!(ids(&r.body), ["1", "2"]);
    let next = r.body["flavors_links"][0]["href"].as_str().unwrap().to_string();
    assert!(next.ends_with("/compute/v2.1/flavors?limit=2&marker=2"), "{next}");
    let r = n.get("/flavors?limit=2&marker=2", &n.admin, "").await;
    assert_eq!(ids(&r.body), ["3"]);
    assert!(r.body.get("flavors_links").is_none());
    n.get("/flavors?marker=nope", &n.admin, "").await.fault(400, "badRequest", "marker [nope] not found");
    n.get("/flavors?limit=-1", &n.admin, "").await.fault(400, "badRequest", "does not match '^[0-9]*$'");

    // Unknown parameters: dropped below 2.75, refused from it; name at 2.102.
    assert_eq!(n.get("/flavors?name=m1.s", &n.admin, "2.74").await.status, 200);
    n.get("/flavors?name=m1", &n.admin, "2.75").await.fault(
        400,
        "badRequest",
        "Additional properties are not allowed ('name' was unexpected)",
    );
    let r = n.get("/flavors?name=m1%5C.(s|m)", &n.admin, "2.102").await;
    assert_eq!(ids(&r.body), ["2", "3"], "name is a regular expression");
    n.get("/flavors/1?x=1", &n.admin, "2.102").await.fault(400, "badRequest", "('x' was unexpected)");
    n.stop().await;
}

#[tokio::test]
async fn private_flavors_and_their_access_lists() {
    let n = Nova::start().await;
    let p = n.project("fa").await;
    let (member, _) = n.persona(&p, "member").await;
    n.flavor(json!({"name": "priv", "id": "p1", "ram": 1, "vcpus": 1, "disk": 0, "os-flavor-access:is_public": false}))
        .await;
    n.flavor(json!({"name": "pub", "id": "u1", "ram": 1, "vcpus": 1, "disk": 0})).await;
    assert_eq!(ids(&n.get("/flavors", &member, "").await.body), ["u1"]);
    n.get("/flavors/p1", &member, "").await.fault(404, "itemNotFound", "Flavor p1 could not be found.");

    let add = json!({"addTenantAccess": {"tenant": p}});
    let r = n.post("/flavors/p1/action", &n.admin, "", add.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"flavor_access": [{"flavor_id": "p1", "tenant_id": p}]}));
    assert_eq!(ids(&n.get("/flavors", &member, "").await.body), ["p1", "u1"]);
    assert_eq!(n.get("/flavors/p1", &member, "").await.status, 200);
    let r = n.get("/flavors/p1/os-flavor-access", &n.admin, "").await;
    assert_eq!(r.body["flavor_access"][0]["tenant_id"], p);
    n.post("/flavors/p1/action", &n.admin, "", add).await.fault(
        409,
        "conflictingRequest",
        &format!("and project {p} combination."),
    );
    n.post("/flavors/u1/action", &n.admin, "2.7", json!({"addTenantAccess": {"tenant": p}})).await.fault(
        409,
        "conflictingRequest",
        "Can not add access to a public flavor.",
    );
    n.get("/flavors/u1/os-flavor-access", &n.admin, "").await.fault(
        404,
        "itemNotFound",
        "Access list not available for public flavors.",
    );
    n.post("/flavors/p1/action", &n.admin, "", json!({"explode": {}})).await.fault(
        400,
        "badRequest",
        "There is no such action: explode",
    );
    n.post("/flavors/p1/action", &n.admin, "", json!({"addTenantAccess": {}})).await.fault(
        400,
        "badRequest",
        "'tenant' is a required property",
    );

    let r = n.post("/flavors/p1/action", &n.admin, "", json!({"removeTenantAccess": {"tenant": p}})).await;
    assert_eq!(r.body, json!({"flavor_access": []}));
    n.post("/flavors/p1/action", &n.admin, "", json!({"removeTenantAccess": {"tenant": p}})).await.fault(
        404,
        "itemNotFound",
        "Flavor access not found for",
    );
    n.get("/flavors/p1", &member, "").await.fault(404, "itemNotFound", "Flavor p1 could not be found.");
    n.stop().await;
}

#[tokio::test]
async fn extra_specs_and_their_validation() {
    let n = Nova::start().await;
    n.flavor(json!({"name": "gpu", "id": "g1", "ram": 1, "vcpus": 1, "disk": 0})).await;
    let specs = json!({"extra_specs": {"resources:VGPU": "1", "trait:HW_CPU_X86_AVX2": "required",
                                       "hw:cpu_policy": "dedicated", "hw:numa_nodes": 2}});
    let r = n.post("/flavors/g1/os-extra_specs", &n.admin, "2.86", specs.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, specs, "the request body comes back as it was sent");
    let r = n.get("/flavors/g1/os-extra_specs", &n.admin, "").await;
    assert_eq!(r.body["extra_specs"]["hw:numa_nodes"], "2", "values are stored as strings");
    assert_eq!(r.body["extra_specs"].as_object().unwrap().len(), 4);
    let r = n.get("/flavors/g1/os-extra_specs/resources:VGPU", &n.admin, "").await;
    assert_eq!(r.body, json!({"resources:VGPU": "1"}));
    let r = n.get("/flavors/g1", &n.admin, "2.61").await;
    assert_eq!(r.body["flavor"]["extra_specs"]["hw:cpu_policy"], "dedicated");

    let r =
        n.put("/flavors/g1/os-extra_specs/hw:cpu_policy", &n.admin, "2.86", json!({"hw:cpu_policy": "shared"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    n.put("/flavors/g1/os-extra_specs/hw:cpu_policy", &n.admin, "2.86", json!({"hw:mem_page_size": "large"}))
        .await
        .fault(400, "badRequest", "Request body and URI mismatch");

    // Validation from 2.86: known namespaces only take their own specs.
    let bad = |k: &str, v: &str| n.post("/flavors/g1/os-extra_specs", &n.admin, "2.86", json!({"extra_specs": {k: v}}));
    bad("hw:cpu_policy", "fast").await.fault(
        400,
        "badRequest",
        "Validation failed; 'fast' is not one of: dedicated, shared, mixed.",
    );
    bad("resources:NOT_A_CLASS", "1").await.fault(
        400,
        "badRequest",
        "Validation failed; extra spec 'resources:NOT_A_CLASS' does not appear to be a valid extra spec.",
    );
    bad("trait1:CUSTOM_GOLD", "sometimes").await.fault(400, "badRequest", "is not one of: required, forbidden.");
    bad("hw:mem_page_size", "huge").await.fault(400, "badRequest", "is not of the format");
    bad("bad/key", "1").await.fault(400, "badRequest", "does not match any of the regexes");
    // Below 2.86 only the key's shape is checked.
    assert_eq!(
        n.post("/flavors/g1/os-extra_specs", &n.admin, "2.85", json!({"extra_specs": {"hw:cpu_policy": "fast"}}))
            .await
            .status,
        200
    );
    let r = n.get("/flavors/g1/os-extra_specs", &n.admin, "").await;
    assert!(r.body["extra_specs"].get("hw:mem_page_size").is_none(), "refused specs were not written");

    let r = n.delete("/flavors/g1/os-extra_specs/hw:cpu_policy", &n.admin, "").await;
    assert_eq!(r.status, 200);
    n.delete("/flavors/g1/os-extra_specs/hw:cpu_policy", &n.admin, "").await.fault(
        404,
        "itemNotFound",
        "Flavor g1 has no extra specs with key hw:cpu_policy.",
    );
    n.get("/flavors/g1/os-extra_specs/nope", &n.admin, "").await.fault(404, "itemNotFound", "has no extra specs");
    n.stop().await;
}
