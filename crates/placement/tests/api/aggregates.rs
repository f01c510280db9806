//! `/resource_providers/{uuid}/aggregates` (aggregate.yaml): a list below
//! 1.19, an object with the provider generation from 1.19.

use reqwest::Method;
use serde_json::json;

use super::root::assert_http_date;
use crate::common::*;

const AGG1: &str = "f918801a-5e54-4bee-9095-09a9d0c786b8";
const AGG2: &str = "a893eb5c-e2a0-4251-ab26-f71d3b0cfc0b";

#[tokio::test]
async fn list_form_below_1_19() {
    let pl = Pl::start().await;
    let missing = new_uuid();
    pl.get("1.1", &format!("/resource_providers/{missing}/aggregates")).await.error(404, UNDEFINED, "get missing");
    pl.put("1.1", &format!("/resource_providers/{missing}/aggregates"), json!([])).await.error(
        404,
        UNDEFINED,
        "put missing",
    );
    let rp = pl.rp("agg").await;
    let path = format!("/resource_providers/{rp}/aggregates");
    pl.get("1.0", &path).await.error(404, UNDEFINED, "get at 1.0");
    pl.put("1.0", &path, json!([AGG1])).await.error(404, UNDEFINED, "put at 1.0");
    assert_eq!(pl.get_ok("1.1", &path).await, json!({"aggregates": []}));
    let r = pl.put("1.1", &path, json!([AGG1, AGG2])).await;
    assert_eq!(r.expect(200, "put list"), &json!({"aggregates": [AGG1, AGG2]}));
    assert!(r.header("cache-control").is_none());
    let v = pl.get_ok("1.18", &path).await;
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    assert_eq!(sorted(&v["aggregates"]), strs(&[AGG1, AGG2]));
    // The list form does not touch the generation.
    assert_eq!(pl.generation(&rp).await, 0);
    // The object form is refused below 1.19.
    pl.put("1.18", &path, json!({"resource_provider_generation": 0, "aggregates": [AGG1]})).await.error_with(
        400,
        UNDEFINED,
        "JSON does not validate",
        "object at 1.18",
    );
    pl.put("1.1", &path, json!(["harry", "sally"])).await.error_with(400, UNDEFINED, "is not a 'uuid'", "not uuids");
    pl.put("1.1", &path, json!([AGG1, AGG1])).await.error_with(400, UNDEFINED, "has non-unique elements", "twice");
    let r = pl.put("1.14", &path, json!([])).await;
    assert_eq!(r.expect(200, "clear"), &json!({"aggregates": []}));
    // 1.15 adds cache headers.
    let r = pl.get("1.15", &path).await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    pl.stop().await;
}

#[tokio::test]
async fn object_form_with_generation_at_1_19() {
    let pl = Pl::start().await;
    let rp = pl.rp("agg").await;
    let path = format!("/resource_providers/{rp}/aggregates");
    assert_eq!(pl.get_ok("1.19", &path).await, json!({"aggregates": [], "resource_provider_generation": 0}));
    pl.put("1.19", &path, json!([AGG1, AGG2])).await.error_with(
        400,
        UNDEFINED,
        "JSON does not validate",
        "list at 1.19",
    );
    pl.put("1.19", &path, json!({"aggregates": [AGG1]})).await.error_with(
        400,
        UNDEFINED,
        "JSON does not validate",
        "no generation",
    );
    let r = pl.put("1.19", &path, json!({"resource_provider_generation": 0, "aggregates": [AGG1, AGG2]})).await;
    let v = r.expect(200, "set").clone();
    assert_eq!(v, json!({"aggregates": [AGG1, AGG2], "resource_provider_generation": 1}));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    let v = pl.get_ok("1.19", &path).await;
    assert_eq!(v["resource_provider_generation"], 1);
    assert_eq!(sorted(&v["aggregates"]), strs(&[AGG1, AGG2]));
    // Stale generation.
    pl.put("1.19", &path, json!({"resource_provider_generation": 0, "aggregates": []})).await.error_with(
        409,
        CONCURRENT,
        "Resource provider's generation already changed",
        "stale",
    );
    let v = pl
        .put("1.19", &path, json!({"resource_provider_generation": 1, "aggregates": []}))
        .await
        .expect(200, "clear")
        .clone();
    assert_eq!(v, json!({"aggregates": [], "resource_provider_generation": 2}));
    let r = pl
        .cloud
        .placement_request(Method::PUT, &path, Some(&pl.admin), "1.19")
        .header("Content-Type", "application/json")
        .body(r#"{"bad", "not json"}"#)
        .send()
        .await
        .unwrap();
    Resp::from(r).await.error_with(400, UNDEFINED, "Malformed JSON", "malformed");
    pl.stop().await;
}

#[tokio::test]
async fn member_of_sees_aggregate_changes() {
    let pl = Pl::start().await;
    let rp = pl.rp("m").await;
    assert!(pl.list_uuids("1.3", &format!("?member_of={AGG1}")).await.is_empty());
    pl.aggregates(&rp, &[AGG1]).await;
    assert_eq!(pl.list_uuids("1.3", &format!("?member_of={AGG1}")).await, vec![rp.clone()]);
    pl.aggregates(&rp, &[AGG2]).await;
    assert!(pl.list_uuids("1.3", &format!("?member_of={AGG1}")).await.is_empty());
    assert_eq!(pl.list_uuids("1.3", &format!("?member_of={AGG2}")).await, vec![rp]);
    pl.stop().await;
}
