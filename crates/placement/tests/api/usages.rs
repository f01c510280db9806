//! `/resource_providers/{uuid}/usages` and `GET /usages` (usage.yaml,
//! consumer-types-1.38.yaml).

use serde_json::{json, Value};

use super::root::assert_http_date;
use crate::common::*;

#[tokio::test]
async fn provider_usages() {
    let pl = Pl::start().await;
    let missing = new_uuid();
    pl.get("1.0", &format!("/resource_providers/{missing}/usages")).await.error_with(
        404,
        UNDEFINED,
        &format!("No resource provider with uuid {missing} found"),
        "missing",
    );
    let rp = pl.rp("rp").await;
    let path = format!("/resource_providers/{rp}/usages");
    assert_eq!(pl.get_ok("1.0", &path).await, json!({"resource_provider_generation": 0, "usages": {}}));
    let r = pl.get("1.14", &path).await;
    assert!(r.header("cache-control").is_none() && r.header("last-modified").is_none());
    let r = pl.get("1.15", &path).await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    // Every inventory class is listed, used or not.
    pl.inventory(&rp, json!({"VCPU": {"total": 8}, "DISK_GB": {"total": 100}})).await;
    assert_eq!(
        pl.get_ok("1.0", &path).await,
        json!({"resource_provider_generation": 1, "usages": {"VCPU": 0, "DISK_GB": 0}})
    );
    pl.allocate(&new_uuid(), on(&rp, json!({"VCPU": 2}))).await;
    pl.allocate(&new_uuid(), on(&rp, json!({"VCPU": 3, "DISK_GB": 10}))).await;
    assert_eq!(
        pl.get_ok("1.0", &path).await,
        json!({"resource_provider_generation": 3, "usages": {"VCPU": 5, "DISK_GB": 10}})
    );
    pl.stop().await;
}

#[tokio::test]
async fn total_usages_at_1_9() {
    let pl = Pl::start().await;
    pl.get("1.8", &format!("/usages?project_id={PROJECT}")).await.error(404, UNDEFINED, "at 1.8");
    pl.get("1.9", "/usages").await.error_with(400, UNDEFINED, "'project_id' is a required property", "no project");
    assert_eq!(pl.get_ok("1.9", &format!("/usages?project_id={PROJECT}")).await, json!({"usages": {}}));
    assert_eq!(pl.get_ok("1.9", &format!("/usages?project_id={PROJECT}&user_id={USER}")).await, json!({"usages": {}}));
    let long = "x".repeat(256);
    for (q, needle) in [
        ("project_id=".to_string(), "should be non-empty"),
        (format!("project_id={PROJECT}&user_id="), "should be non-empty"),
        (format!("project_id={long}"), "is too long"),
        (format!("project_id={PROJECT}&user_id={long}"), "is too long"),
        (format!("project_id={PROJECT}&dummy=1"), "Additional properties are not allowed"),
        (format!("project_id={PROJECT}&consumer_type=INSTANCE"), "Additional properties are not allowed"),
    ] {
        pl.get("1.9", &format!("/usages?{q}")).await.error_with(400, UNDEFINED, needle, &q);
    }

    let rp = pl.rp("rp").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 32}, "MEMORY_MB": {"total": 4096}})).await;
    let (u2, p2) = (new_uuid(), new_uuid());
    pl.allocate(&new_uuid(), on(&rp, json!({"VCPU": 2, "MEMORY_MB": 512}))).await;
    pl.allocate(&new_uuid(), on(&rp, json!({"VCPU": 1}))).await;
    for (project, user, vcpu) in [(PROJECT, u2.as_str(), 4), (p2.as_str(), USER, 8)] {
        let r = pl
            .put(
                "1.28",
                &format!("/allocations/{}", new_uuid()),
                json!({"allocations": on(&rp, json!({"VCPU": vcpu})), "project_id": project, "user_id": user, "consumer_generation": null}),
            )
            .await;
        r.expect(204, "allocate");
    }
    assert_eq!(
        pl.get_ok("1.9", &format!("/usages?project_id={PROJECT}")).await,
        json!({"usages": {"VCPU": 7, "MEMORY_MB": 512}})
    );
    assert_eq!(
        pl.get_ok("1.9", &format!("/usages?project_id={PROJECT}&user_id={USER}")).await,
        json!({"usages": {"VCPU": 3, "MEMORY_MB": 512}})
    );
    assert_eq!(
        pl.get_ok("1.9", &format!("/usages?project_id={PROJECT}&user_id={u2}")).await,
        json!({"usages": {"VCPU": 4}})
    );
    assert_eq!(pl.get_ok("1.9", &format!("/usages?project_id={p2}")).await, json!({"usages": {"VCPU": 8}}));
    assert_eq!(pl.get_ok("1.9", &format!("/usages?project_id={p2}&user_id={u2}")).await, json!({"usages": {}}));
    let r = pl.get("1.15", &format!("/usages?project_id={p2}")).await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    pl.stop().await;
}

#[tokio::test]
async fn usages_by_consumer_type_at_1_38() {
    let pl = Pl::start().await;
    let rp = pl.rp("rp").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 64}, "DISK_GB": {"total": 4096}})).await;
    let put = |mv: &'static str, ctype: Option<&'static str>, resources: Value| {
        let rp = rp.clone();
        let pl = &pl;
        async move {
            let mut body = json!({"allocations": on(&rp, resources), "project_id": PROJECT, "user_id": USER, "consumer_generation": null});
            if let Some(t) = ctype {
                body["consumer_type"] = json!(t);
            }
            pl.put(mv, &format!("/allocations/{}", new_uuid()), body).await.expect(204, "allocate");
        }
    };
    // Three consumers without a type, one INSTANCE with two classes, one PONY.
    put("1.28", None, json!({"DISK_GB": 1000, "VCPU": 5})).await;
    put("1.28", None, json!({"DISK_GB": 10})).await;
    put("1.36", None, json!({"DISK_GB": 10, "VCPU": 2})).await;
    put("1.38", Some("INSTANCE"), json!({"DISK_GB": 10, "VCPU": 1})).await;
    put("1.38", Some("PONY"), json!({"DISK_GB": 10})).await;
    let q = |extra: &str| format!("/usages?project_id={PROJECT}{extra}");
    assert_eq!(
        pl.get_ok("1.38", &q("")).await,
        json!({"usages": {
            "unknown": {"consumer_count": 3, "DISK_GB": 1020, "VCPU": 7},
            "INSTANCE": {"consumer_count": 1, "DISK_GB": 10, "VCPU": 1},
            "PONY": {"consumer_count": 1, "DISK_GB": 10}}})
    );
    assert_eq!(
        pl.get_ok("1.38", &q("&consumer_type=PONY")).await,
        json!({"usages": {"PONY": {"consumer_count": 1, "DISK_GB": 10}}})
    );
    assert_eq!(pl.get_ok("1.38", &q("&consumer_type=COW")).await, json!({"usages": {}}));
    assert_eq!(
        pl.get_ok("1.38", &q("&consumer_type=all")).await,
        json!({"usages": {"all": {"consumer_count": 5, "DISK_GB": 1040, "VCPU": 8}}})
    );
    assert_eq!(pl.get_ok("1.38", &q("&consumer_type=ALL")).await, json!({"usages": {}}));
    assert_eq!(
        pl.get_ok("1.38", &q("&consumer_type=unknown")).await,
        json!({"usages": {"unknown": {"consumer_count": 3, "DISK_GB": 1020, "VCPU": 7}}})
    );
    assert_eq!(pl.get_ok("1.38", &q("&consumer_type=UNKNOWN")).await, json!({"usages": {}}));
    assert_eq!(pl.get_ok("1.38", &q(&format!("&user_id={}", new_uuid()))).await, json!({"usages": {}}));
    pl.get("1.38", &q("&consumer_type=instance")).await.error_with(
        400,
        UNDEFINED,
        "Invalid query string parameters",
        "lower-case",
    );
    // Below 1.38 the same data is summed.
    assert_eq!(pl.get_ok("1.37", &q("")).await, json!({"usages": {"DISK_GB": 1040, "VCPU": 8}}));
    pl.stop().await;
}
