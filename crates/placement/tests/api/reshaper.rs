//! `POST /reshaper` (1.30; reshaper.yaml). The default policy lets only
//! the `service` role reshape, so these requests carry a service token.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

struct Setup {
    pl: Pl,
    service: String,
    parent: String,
    child: String,
    c1: String,
    c2: String,
}

/// A compute node with VCPU and DISK_GB, two consumers on it, and an empty child.
async fn setup() -> Setup {
    let pl = Pl::start().await;
    let project = pl.project("svc").await;
    let service = pl.persona(&project, "service").await;
    let parent = pl.rp("cn").await;
    pl.inventory(&parent, json!({"VCPU": {"total": 10}, "DISK_GB": {"total": 2048, "max_unit": 1200}})).await;
    let child = pl.provider("numa0", Some(&parent)).await;
    let (c1, c2) = (new_uuid(), new_uuid());
    pl.allocate(&c1, on(&parent, json!({"VCPU": 2, "DISK_GB": 100}))).await;
    pl.allocate(&c2, on(&parent, json!({"VCPU": 3}))).await;
    Setup { pl, service, parent, child, c1, c2 }
}

impl Setup {
    async fn reshape(&self, mv: &str, body: Value) -> Resp {
        self.pl.call(Method::POST, mv, "/reshaper", Some(&self.service), Some(body)).await
    }

    /// Moves VCPU inventory and allocations to the child.
    fn move_vcpu(&self, parent_gen: i64, child_gen: i64) -> Value {
        json!({
            "inventories": {
                self.parent.clone(): {"resource_provider_generation": parent_gen, "inventories": {"DISK_GB": {"total": 2048, "max_unit": 1200}}},
                self.child.clone(): {"resource_provider_generation": child_gen, "inventories": {"VCPU": {"total": 10, "max_unit": 8}}},
            },
            "allocations": {
                self.c1.clone(): {"allocations": {
                    self.parent.clone(): {"resources": {"DISK_GB": 100}},
                    self.child.clone(): {"resources": {"VCPU": 2}}},
                    "project_id": PROJECT, "user_id": USER, "consumer_generation": 1},
                self.c2.clone(): {"allocations": {self.child.clone(): {"resources": {"VCPU": 3}}},
                    "project_id": PROJECT, "user_id": USER, "consumer_generation": 1},
            },
        })
    }

    async fn state(&self) -> Value {
        json!([
            self.pl.get_ok("1.39", &format!("/resource_providers/{}/inventories", self.parent)).await,
            self.pl.get_ok("1.39", &format!("/resource_providers/{}/inventories", self.child)).await,
            self.pl.get_ok("1.39", &format!("/allocations/{}", self.c1)).await,
            self.pl.get_ok("1.39", &format!("/allocations/{}", self.c2)).await,
        ])
    }
}

#[tokio::test]
async fn reshape_moves_inventory_and_allocations_atomically() {
    let s = setup().await;
    let pl = &s.pl;
    let (pg, cg) = (pl.generation(&s.parent).await, pl.generation(&s.child).await);
    assert_eq!((pg, cg), (3, 0));
    let before = s.state().await;

    // Refusals, none of which may change anything.
    let mut bad_class = s.move_vcpu(pg, cg);
    bad_class["inventories"][&s.child]["inventories"] = json!({"DISK_OF_STEEL": {"total": 10}});
    let mut bad_rp = s.move_vcpu(pg, cg);
    let ghost = new_uuid();
    let moved = bad_rp["inventories"][&s.child].clone();
    bad_rp["inventories"][&ghost] = moved;
    let mut over_max = s.move_vcpu(pg, cg);
    over_max["allocations"][&s.c1]["allocations"][&s.parent]["resources"]["DISK_GB"] = json!(1300);
    let mut bad_inv_field = s.move_vcpu(pg, cg);
    bad_inv_field["inventories"][&s.child]["inventories"]["VCPU"]["bad_field"] = json!(1);
    let mut bad_alloc_field = s.move_vcpu(pg, cg);
    bad_alloc_field["allocations"][&s.c2]["bad_field"] = json!(1);
    let mut stale_consumer = s.move_vcpu(pg, cg);
    stale_consumer["allocations"][&s.c2]["consumer_generation"] = json!(99);
    let in_use = json!({"inventories": {s.parent.clone(): {"resource_provider_generation": pg,
        "inventories": {"DISK_GB": {"total": 2048}}}}, "allocations": {}});
    let mut cases: Vec<(Value, u16, &str, String)> = vec![
        (json!({"cows": "moo"}), 400, UNDEFINED, "JSON does not validate".into()),
        (
            json!({"inventories": {s.parent.clone(): {"resource_provider_generation": pg, "inventories": {}}}}),
            400,
            UNDEFINED,
            "'allocations' is a required property".into(),
        ),
        (json!({"inventories": {}, "allocations": {}}), 400, UNDEFINED, "JSON does not validate".into()),
        (
            in_use,
            409,
            "placement.inventory.inuse",
            format!("Inventory for 'VCPU' on resource provider '{}' in use", s.parent),
        ),
        (
            s.move_vcpu(pg - 1, cg),
            409,
            CONCURRENT,
            format!("resource provider generation conflict for provider {}: actual: {pg}, given: {}", s.parent, pg - 1),
        ),
        (stale_consumer, 409, CONCURRENT, "consumer generation conflict".into()),
        (
            bad_rp,
            400,
            "placement.resource_provider.not_found",
            format!("Resource provider {ghost} in inventories not found"),
        ),
        (bad_class, 400, UNDEFINED, "No such resource class DISK_OF_STEEL".into()),
        (over_max, 409, UNDEFINED, "Unable to allocate inventory".into()),
        (bad_inv_field, 400, UNDEFINED, "'bad_field' was unexpected".into()),
        (bad_alloc_field, 400, UNDEFINED, "'bad_field' was unexpected".into()),
    ];
    // Over capacity on the child: its VCPU total shrunk to 4.
    let mut small = s.move_vcpu(pg, cg);
    small["inventories"][&s.child]["inventories"]["VCPU"]["total"] = json!(4);
    cases.push((small, 409, UNDEFINED, "The requested amount would exceed the capacity".into()));
    for (body, status, code, needle) in cases {
        s.reshape("1.30", body.clone()).await.error_with(status, code, &needle, &body.to_string());
        assert_eq!(s.state().await, before, "{body} changed something");
        assert_eq!((pl.generation(&s.parent).await, pl.generation(&s.child).await), (pg, cg), "{body}");
    }

    s.reshape("1.30", s.move_vcpu(pg, cg)).await.expect(204, "reshape");
    assert_eq!(pl.usages(&s.parent).await, json!({"DISK_GB": 100}));
    assert_eq!(pl.usages(&s.child).await, json!({"VCPU": 5}));
    let v = pl.get_ok("1.28", &format!("/allocations/{}", s.c1)).await;
    assert_eq!(v["allocations"][&s.child]["resources"], json!({"VCPU": 2}));
    assert_eq!(v["allocations"][&s.parent]["resources"], json!({"DISK_GB": 100}));
    assert_eq!(v["consumer_generation"], 2);
    assert_eq!(
        keys(&pl.get_ok("1.39", &format!("/resource_providers/{}/inventories", s.parent)).await["inventories"]),
        vec!["DISK_GB"]
    );
    assert!(pl.generation(&s.parent).await > pg && pl.generation(&s.child).await > cg);

    // And back, with mappings at 1.34.
    let (pg, cg) = (pl.generation(&s.parent).await, pl.generation(&s.child).await);
    let back = json!({
        "inventories": {
            s.parent.clone(): {"resource_provider_generation": pg, "inventories": {"VCPU": {"total": 10}, "DISK_GB": {"total": 2048}}},
            s.child.clone(): {"resource_provider_generation": cg, "inventories": {}},
        },
        "allocations": {
            s.c1.clone(): {"allocations": {s.parent.clone(): {"resources": {"DISK_GB": 100, "VCPU": 2}}},
                "project_id": PROJECT, "user_id": USER, "consumer_generation": 2, "mappings": {"": [s.parent.clone()]}},
            s.c2.clone(): {"allocations": {s.parent.clone(): {"resources": {"VCPU": 3}}},
                "project_id": PROJECT, "user_id": USER, "consumer_generation": 2},
        },
    });
    s.reshape("1.33", back.clone()).await.error_with(
        400,
        UNDEFINED,
        "Additional properties are not allowed",
        "mappings at 1.33",
    );
    s.reshape("1.34", back).await.expect(204, "back with mappings");
    assert_eq!(pl.usages(&s.parent).await, json!({"VCPU": 5, "DISK_GB": 100}));
    assert_eq!(pl.usages(&s.child).await, json!({}));
    s.pl.stop().await;
}

#[tokio::test]
async fn reshape_routes_and_consumer_types() {
    let s = setup().await;
    let pl = &s.pl;
    pl.call(Method::GET, "1.30", "/reshaper", Some(&s.service), None).await.error(405, UNDEFINED, "GET");
    s.reshape("1.29", s.move_vcpu(3, 0)).await.error(404, UNDEFINED, "at 1.29");
    // 1.38: a consumer type is required, and stored.
    let mut body = s.move_vcpu(3, 0);
    s.reshape("1.38", body.clone()).await.error_with(
        400,
        UNDEFINED,
        "'consumer_type' is a required",
        "no type at 1.38",
    );
    body["allocations"][&s.c1]["consumer_type"] = json!("RESHAPED");
    body["allocations"][&s.c2]["consumer_type"] = json!("RESHAPED");
    s.reshape("1.36", body.clone()).await.error_with(400, UNDEFINED, "'consumer_type' was unexpected", "type at 1.36");
    s.reshape("1.38", body).await.expect(204, "reshape at 1.38");
    assert_eq!(pl.get_ok("1.38", &format!("/allocations/{}", s.c1)).await["consumer_type"], "RESHAPED");
    // A new consumer in a reshape.
    let fresh = new_uuid();
    let body = json!({
        "inventories": {s.child.clone(): {"resource_provider_generation": pl.generation(&s.child).await,
            "inventories": {"VCPU": {"total": 10, "max_unit": 8}}}},
        "allocations": {fresh.clone(): {"allocations": {s.child.clone(): {"resources": {"VCPU": 1}}},
            "project_id": PROJECT, "user_id": USER, "consumer_generation": null, "consumer_type": "INSTANCE"}},
    });
    s.reshape("1.39", body).await.expect(204, "new consumer");
    assert_eq!(pl.usages(&s.child).await, json!({"VCPU": 6}));
    s.pl.stop().await;
}
