//! `/traits` and `/resource_providers/{uuid}/traits` (traits.yaml).

use reqwest::Method;
use serde_json::json;

use super::root::assert_http_date;
use crate::common::*;

#[tokio::test]
async fn routes_appear_at_1_6() {
    let pl = Pl::start().await;
    let rp = pl.rp("t").await;
    for (method, path) in [
        (Method::GET, "/traits".to_string()),
        (Method::GET, "/traits/CUSTOM_TRAIT_1".to_string()),
        (Method::PUT, "/traits/CUSTOM_TRAIT_1".to_string()),
        (Method::DELETE, "/traits/CUSTOM_TRAIT_1".to_string()),
        (Method::GET, format!("/resource_providers/{rp}/traits")),
        (Method::PUT, format!("/resource_providers/{rp}/traits")),
        (Method::DELETE, format!("/resource_providers/{rp}/traits")),
    ] {
        let body = json!({"traits": [], "resource_provider_generation": 0});
        pl.req(method.clone(), "1.5", &path, Some(body)).await.error(
            404,
            UNDEFINED,
            &format!("{method} {path} at 1.5"),
        );
    }
    pl.stop().await;
}

#[tokio::test]
async fn custom_traits_put_show_delete() {
    let pl = Pl::start().await;
    for (name, needle) in [
        ("TRAIT_X", "The trait is invalid"),
        ("CUSTOM_ABC:1", "The trait is invalid"),
        ("CUSTOM_lower", "The trait is invalid"),
        ("CUSTOM_", "The trait is invalid"),
    ] {
        pl.req(Method::PUT, "1.6", &format!("/traits/{name}"), None).await.error_with(400, UNDEFINED, needle, name);
    }
    let long = format!("/traits/CUSTOM_{}", "A".repeat(250));
    pl.req(Method::PUT, "1.6", &long, None).await.error(400, UNDEFINED, "too long");

    let r = pl.req(Method::PUT, "1.6", "/traits/CUSTOM_TRAIT_1", None).await;
    r.expect(201, "create");
    assert!(r.header("location").unwrap().ends_with("/placement/traits/CUSTOM_TRAIT_1"));
    assert!(r.header("content-type").is_none() && r.text.is_empty());
    let r = pl.req(Method::PUT, "1.6", "/traits/CUSTOM_TRAIT_1", None).await;
    r.expect(204, "create again");
    assert!(r.header("location").unwrap().ends_with("/placement/traits/CUSTOM_TRAIT_1"));
    let r = pl.get("1.6", "/traits/CUSTOM_TRAIT_1").await;
    r.expect(204, "show");
    assert!(
        r.header("content-type").is_none()
            && r.header("cache-control").is_none()
            && r.header("last-modified").is_none()
    );
    pl.get("1.6", "/traits/NON_EXISTED").await.error_with(
        404,
        UNDEFINED,
        "No such trait(s): NON_EXISTED.",
        "show missing",
    );
    // Standard traits exist and cannot be deleted.
    pl.get("1.6", "/traits/HW_CPU_X86_SSE").await.expect(204, "show standard");
    pl.delete("1.6", "/traits/HW_CPU_X86_SSE").await.error_with(
        400,
        UNDEFINED,
        "Cannot delete standard trait HW_CPU_X86_SSE.",
        "std",
    );
    let r = pl.delete("1.6", "/traits/CUSTOM_TRAIT_1").await;
    r.expect(204, "delete");
    pl.delete("1.6", "/traits/CUSTOM_TRAIT_1").await.error(404, UNDEFINED, "delete again");
    pl.delete("1.6", "/traits/CUSTOM_NON_EXISTED").await.error(404, UNDEFINED, "delete missing");
    // Cache headers from 1.15.
    for (method, path, status) in [
        (Method::PUT, "/traits/CUSTOM_TRAIT_1", 201),
        (Method::PUT, "/traits/CUSTOM_TRAIT_1", 204),
        (Method::GET, "/traits/CUSTOM_TRAIT_1", 204),
        (Method::GET, "/traits", 200),
    ] {
        let r = pl.req(method.clone(), "1.14", path, None).await;
        if status == 201 {
            // The first PUT made it; the 1.15 row below re-puts it.
            r.expect(201, "1.14 put");
            continue;
        }
        r.expect(status, path);
        assert!(r.header("cache-control").is_none() && r.header("last-modified").is_none(), "{method} {path} at 1.14");
        let r = pl.req(method.clone(), "1.15", path, None).await;
        r.expect(status, path);
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{method} {path} at 1.15");
        assert_http_date(r.header("last-modified"));
    }
    pl.stop().await;
}

#[tokio::test]
async fn list_filters() {
    let pl = Pl::start().await;
    for t in ["CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2", "CUSTOM_ANOTHER_TRAIT"] {
        pl.req(Method::PUT, "1.6", &format!("/traits/{t}"), None).await.expect(201, t);
    }
    let all = pl.get_ok("1.6", "/traits").await;
    let all = sorted(&all["traits"]);
    assert!(all.len() > 100, "standard traits are listed: {}", all.len());
    assert!(all.contains(&"HW_CPU_X86_AVX2".to_string()) && all.contains(&"CUSTOM_TRAIT_2".to_string()));
    let v = pl.get_ok("1.6", "/traits?name=in:CUSTOM_TRAIT_1,CUSTOM_TRAIT_2").await;
    assert_eq!(sorted(&v["traits"]), strs(&["CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2"]));
    let v = pl.get_ok("1.6", "/traits?name=in:CUSTOM_TRAIT_1,CUSTOM_NOPE").await;
    assert_eq!(sorted(&v["traits"]), strs(&["CUSTOM_TRAIT_1"]));
    let v = pl.get_ok("1.6", "/traits?name=startswith:CUSTOM_TRAIT").await;
    assert_eq!(sorted(&v["traits"]), strs(&["CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2"]));
    let v = pl.get_ok("1.6", "/traits?name=startswith:CUSTOM").await;
    assert_eq!(v["traits"].as_array().unwrap().len(), 3);
    pl.get("1.6", "/traits?name=in_abc").await.error_with(
        400,
        UNDEFINED,
        "Badly formatted name parameter. Expected name query string parameter in form: ?name=[in|startswith]:[name1,name2|prefix]. Got: \"in_abc\"",
        "bad name",
    );
    pl.get("1.6", "/traits?invalid=abc").await.error_with(
        400,
        UNDEFINED,
        "Invalid query string parameters",
        "unknown param",
    );

    // associated
    let rp = pl.rp("assoc").await;
    assert_eq!(pl.get_ok("1.6", "/traits?associated=true").await["traits"], json!([]));
    pl.traits(&rp, &["CUSTOM_TRAIT_1", "HW_CPU_X86_SSE"]).await;
    let v = pl.get_ok("1.6", "/traits?associated=true").await;
    assert_eq!(sorted(&v["traits"]), strs(&["CUSTOM_TRAIT_1", "HW_CPU_X86_SSE"]));
    let v = pl.get_ok("1.6", "/traits?associated=false&name=startswith:CUSTOM_").await;
    assert_eq!(sorted(&v["traits"]), strs(&["CUSTOM_ANOTHER_TRAIT", "CUSTOM_TRAIT_2"]));
    let v = pl.get_ok("1.6", "/traits?associated=True&name=in:CUSTOM_TRAIT_1,CUSTOM_TRAIT_2").await;
    assert_eq!(sorted(&v["traits"]), strs(&["CUSTOM_TRAIT_1"]));
    pl.get("1.6", "/traits?associated=xyz").await.error_with(
        400,
        UNDEFINED,
        "The query parameter \"associated\" only accepts \"true\" or \"false\"",
        "bad associated",
    );
    // A trait a provider has cannot be deleted.
    pl.delete("1.6", "/traits/CUSTOM_TRAIT_1").await.error_with(
        409,
        UNDEFINED,
        "The trait CUSTOM_TRAIT_1 is in use by a resource provider.",
        "delete in use",
    );
    pl.stop().await;
}

#[tokio::test]
async fn provider_traits_with_generation() {
    let pl = Pl::start().await;
    for t in ["CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2"] {
        pl.req(Method::PUT, "1.6", &format!("/traits/{t}"), None).await.expect(201, t);
    }
    let rp = pl.rp("rp").await;
    let path = format!("/resource_providers/{rp}/traits");
    assert_eq!(pl.get_ok("1.6", &path).await, json!({"traits": [], "resource_provider_generation": 0}));
    let r = pl
        .put("1.6", &path, json!({"traits": ["CUSTOM_TRAIT_2", "CUSTOM_TRAIT_1"], "resource_provider_generation": 0}))
        .await;
    let v = r.expect(200, "set").clone();
    assert_eq!(v["resource_provider_generation"], 1);
    assert_eq!(sorted(&v["traits"]), strs(&["CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2"]));
    let v = pl.get_ok("1.6", &path).await;
    assert_eq!(v["resource_provider_generation"], 1);
    assert_eq!(sorted(&v["traits"]), strs(&["CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2"]));
    assert_eq!(pl.generation(&rp).await, 1);

    // Bad bodies.
    for (body, needle) in [
        (json!({"traits": ["CUSTOM_TRAIT_1"]}), "'resource_provider_generation' is a required property"),
        (json!({"traits": ["CUSTOM_TRAIT_1"], "resource_provider_generation": "one"}), "JSON does not validate"),
        (json!({"traits": "CUSTOM_TRAIT_1", "resource_provider_generation": 1}), "JSON does not validate"),
        (json!({"traits": [""], "resource_provider_generation": 1}), "JSON does not validate"),
        (json!({"traits": [], "resource_provider_generation": 1, "cow": 1}), "Additional properties are not allowed"),
    ] {
        pl.put("1.6", &path, body.clone()).await.error_with(400, UNDEFINED, needle, &body.to_string());
    }
    pl.put("1.6", &path, json!({"traits": ["NON_EXISTED_TRAIT1", "NON_EXISTED_TRAIT2", "CUSTOM_TRAIT_1"], "resource_provider_generation": 1}))
        .await
        .error_with(400, UNDEFINED, "No such trait NON_EXISTED_TRAIT1, NON_EXISTED_TRAIT2", "unknown traits");
    pl.put("1.23", &path, json!({"traits": ["CUSTOM_TRAIT_1"], "resource_provider_generation": 5})).await.error_with(
        409,
        CONCURRENT,
        "Resource provider's generation already changed. Please update the generation and try again.",
        "stale generation",
    );
    let missing = new_uuid();
    pl.put(
        "1.6",
        &format!("/resource_providers/{missing}/traits"),
        json!({"traits": ["CUSTOM_TRAIT_1"], "resource_provider_generation": 0}),
    )
    .await
    .error(404, UNDEFINED, "set on missing");
    pl.get("1.6", "/resource_providers/non_existed/traits").await.error(404, UNDEFINED, "get on missing");
    pl.delete("1.6", "/resource_providers/non_existed/traits").await.error(404, UNDEFINED, "delete on missing");
    // Nothing changed.
    assert_eq!(pl.generation(&rp).await, 1);

    // DELETE clears and bumps the generation.
    let r = pl.delete("1.6", &path).await;
    r.expect(204, "delete");
    assert_eq!(pl.get_ok("1.6", &path).await, json!({"traits": [], "resource_provider_generation": 2}));
    // Cache headers.
    let r = pl.get("1.14", &path).await;
    assert!(r.header("cache-control").is_none());
    let r = pl.get("1.15", &path).await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    let r = pl.put("1.15", &path, json!({"traits": ["CUSTOM_TRAIT_1"], "resource_provider_generation": 2})).await;
    r.expect(200, "set at 1.15");
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    pl.stop().await;
}
