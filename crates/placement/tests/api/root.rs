//! The version document and microversion negotiation (microversion.yaml,
//! basic-http.yaml).

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn version_document_needs_no_token() {
    let pl = Pl::start().await;
    for mv in ["", "1.0", "1.14"] {
        let r = pl.call(Method::GET, mv, "/", None, None).await;
        let v = r.expect(200, "GET / without a token");
        assert_eq!(
            v,
            &json!({"versions": [{"id": "v1.0", "max_version": "1.39", "min_version": "1.0", "status": "CURRENT",
                "links": [{"rel": "self", "href": ""}]}]})
        );
        assert!(r.header("content-type").unwrap().starts_with("application/json"));
        assert!(r.header("cache-control").is_none(), "no cache headers before 1.15");
        assert!(r.header("last-modified").is_none(), "no cache headers before 1.15");
    }
    // 1.15: cache-control and last-modified, also on the root.
    let r = pl.call(Method::GET, "1.15", "/", None, None).await;
    r.expect(200, "GET / at 1.15");
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_http_date(r.header("last-modified"));
    pl.stop().await;
}

/// `Mon, 23 Nov 2026 12:09:51 GMT`, as webob writes it.
#[track_caller]
pub fn assert_http_date(v: Option<&str>) {
    let re = regex::Regex::new(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$").unwrap();
    let v = v.expect("a last-modified header");
    assert!(re.is_match(v), "last-modified {v:?} is not an HTTP date");
}

#[tokio::test]
async fn microversion_headers() {
    let pl = Pl::start().await;
    // No header: the minimum, 1.0.
    let r = pl.call(Method::GET, "", "/", None, None).await;
    assert_eq!(r.header("openstack-api-version"), Some("placement 1.0"));
    assert_eq!(r.header("vary"), Some("openstack-api-version"));
    assert!(r.header("x-openstack-request-id").is_some_and(|id| id.starts_with("req-")));
    // latest is 1.39.
    let r = pl.call(Method::GET, "latest", "/", None, None).await;
    assert_eq!(r.header("openstack-api-version"), Some("placement 1.39"));
    // Each version answers as itself, on authenticated routes too.
    for mv in ["1.1", "1.20", "1.38", "1.39"] {
        let r = pl.get(mv, "/resource_providers").await;
        r.expect(200, mv);
        assert_eq!(r.header("openstack-api-version"), Some(format!("placement {mv}").as_str()));
        assert_eq!(r.header("vary"), Some("openstack-api-version"));
    }
    // Another service's header is ignored.
    let r = pl
        .cloud
        .placement_request(Method::GET, "/", None, "")
        .header("OpenStack-API-Version", "compute 2.90")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["openstack-api-version"], "placement 1.0");
    // Errors carry the headers as well.
    let r = pl.get("1.39", "/no_such_route").await;
    r.error(404, UNDEFINED, "unknown route");
    assert_eq!(r.header("openstack-api-version"), Some("placement 1.39"));
    let r = pl.req(Method::POST, "1.2", "/", Some(json!({}))).await;
    r.error(405, UNDEFINED, "POST /");
    assert_eq!(r.header("openstack-api-version"), Some("placement 1.2"));
    pl.stop().await;
}

#[tokio::test]
async fn unacceptable_microversions_are_406_with_the_range() {
    let pl = Pl::start().await;
    for (mv, path) in [("1.40", "/"), ("2.0", "/"), ("0.5", "/"), ("2.0", "/resource_providers"), ("1.99", "/traits")] {
        let r = pl.get(mv, path).await;
        assert_eq!(r.status, 406, "{mv} {path}: {}", r.text);
        let e = &r.body["errors"][0];
        assert_eq!(e["status"], 406, "{}", r.text);
        assert_eq!(e["title"], "Not Acceptable", "{}", r.text);
        assert_eq!(e["max_version"], "1.39", "{}", r.text);
        assert_eq!(e["min_version"], "1.0", "{}", r.text);
        let detail = e["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("Unacceptable version header: {mv}")), "{detail}");
        assert!(r.header("content-type").unwrap().starts_with("application/json"));
        assert_eq!(r.header("vary"), Some("openstack-api-version"));
    }
    // Not a version at all: 400.
    for mv in ["pony.horse", "1.2.3", "1", "one.two"] {
        let r = pl.get(mv, "/").await;
        r.error_with(400, UNDEFINED, &format!("invalid version string: {mv}"), mv);
    }
    pl.stop().await;
}

#[tokio::test]
async fn accept_and_content_type() {
    let pl = Pl::start().await;
    // Only JSON is served (check_accept).
    let r = pl
        .cloud
        .placement_request(Method::GET, "/resource_providers", Some(&pl.admin), "1.39")
        .header("Accept", "text/plain")
        .send()
        .await
        .unwrap();
    let r = Resp::from(r).await;
    r.error_with(406, UNDEFINED, "Only application/json is provided", "accept text/plain");
    let r = pl
        .cloud
        .placement_request(Method::GET, "/resource_providers", Some(&pl.admin), "1.39")
        .header("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406, "complex accept without a match");
    for accept in [
        "application/json",
        "*/*",
        "application/*",
        "text/html, application/json;q=0.5",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ] {
        let r = pl
            .cloud
            .placement_request(Method::GET, "/resource_providers", Some(&pl.admin), "1.39")
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "accept {accept}");
    }
    // A body must be JSON.
    let r = pl
        .cloud
        .placement_request(Method::POST, "/resource_providers", Some(&pl.admin), "1.39")
        .header("Content-Type", "text/plain")
        .body(r#"{"name": "x"}"#)
        .send()
        .await
        .unwrap();
    let r = Resp::from(r).await;
    r.error_with(415, UNDEFINED, "The media type text/plain is not supported, use application/json", "text/plain");
    // A body without a content type is a 400 on any route; no body at all, a 415.
    for (method, path) in [
        (Method::POST, "/resource_providers".to_string()),
        (Method::GET, "/resource_providers".to_string()),
        (Method::DELETE, format!("/resource_providers/{}", new_uuid())),
    ] {
        let r =
            pl.cloud.placement_request(method.clone(), &path, Some(&pl.admin), "1.39").body("I want a provider").send();
        let r = Resp::from(r.await.unwrap()).await;
        r.error_with(
            400,
            UNDEFINED,
            "content-type header required when content-length > 0",
            &format!("{method} {path}"),
        );
        assert_eq!(r.header("openstack-api-version"), Some("placement 1.39"));
    }
    let r = pl.cloud.placement_request(
        Method::PUT,
        &format!("/resource_providers/{}", new_uuid()),
        Some(&pl.admin),
        "1.39",
    );
    let r = Resp::from(r.send().await.unwrap()).await;
    r.error_with(415, UNDEFINED, "The media type None is not supported, use application/json", "PUT without a body");
    // Without a token it is still a 401 first.
    let r =
        pl.cloud.placement_request(Method::POST, "/resource_providers", None, "1.39").body("x").send().await.unwrap();
    assert_eq!(r.status(), 401);
    // With a charset it is still JSON.
    let r = pl
        .cloud
        .placement_request(Method::POST, "/resource_providers", Some(&pl.admin), "1.39")
        .header("Content-Type", "application/json; charset=utf-8")
        .body(r#"{"name": "charset"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(pl.list_uuids("1.39", "?name=charset").await.len() == 1);
    pl.stop().await;
}

#[tokio::test]
async fn methods_not_allowed_and_missing_routes() {
    let pl = Pl::start().await;
    for (method, path) in [
        (Method::GET, "/allocations"),
        (Method::PUT, "/resource_providers"),
        (Method::DELETE, "/traits"),
        (Method::POST, "/usages"),
        (Method::GET, "/reshaper"),
        (Method::PATCH, "/resource_classes/VCPU"),
    ] {
        let r = pl.req(method.clone(), "1.39", path, None).await;
        r.error(405, UNDEFINED, &format!("{method} {path}"));
        assert!(r.header("allow").is_some(), "{method} {path}: no allow header");
    }
    // The allow header names the methods the route has.
    for (method, path, allowed) in [
        (Method::DELETE, "/", vec!["GET"]),
        (Method::DELETE, "/resource_providers", vec!["GET", "POST"]),
        (Method::OPTIONS, "/resource_providers", vec!["GET", "POST"]),
        (Method::GET, "/allocations", vec!["POST"]),
    ] {
        let r = pl.req(method.clone(), "1.39", path, None).await;
        r.error(405, UNDEFINED, &format!("{method} {path}"));
        let mut got: Vec<String> =
            r.header("allow").unwrap_or_default().split(',').map(|m| m.trim().to_string()).collect();
        got.retain(|m| m != "HEAD");
        got.sort();
        assert_eq!(got, allowed, "allow of {method} {path}");
    }
    // Routes newer than the microversion do not exist yet: 404.
    for (method, path, mv) in [
        (Method::GET, "/resource_classes", "1.1"),
        (Method::GET, "/traits", "1.5"),
        (Method::GET, "/usages?project_id=x", "1.8"),
        (Method::GET, "/allocation_candidates?resources=VCPU:1", "1.9"),
        (Method::POST, "/allocations", "1.12"),
        (Method::POST, "/reshaper", "1.29"),
    ] {
        let r = pl.req(method.clone(), mv, path, Some(json!({}))).await;
        r.error(404, UNDEFINED, &format!("{method} {path} at {mv}"));
    }
    pl.stop().await;
}

/// Placement's error bodies carry `code` from 1.23 only (basic-http.yaml,
/// `util.json_error_formatter`); ours carry it at every microversion,
/// because api-core renders the body without knowing the microversion.
#[tokio::test]
async fn error_code_appears_from_1_23() {
    let pl = Pl::start().await;
    let rp = pl.rp("parent").await;
    pl.provider("child", Some(&rp)).await;
    for mv in ["1.0", "1.22"] {
        let r = pl.get(mv, "/barnabas").await;
        assert_eq!(r.status, 404);
        assert!(r.body["errors"][0].get("code").is_none(), "code at {mv}: {}", r.text);
        let r = pl.delete(mv, &format!("/resource_providers/{rp}")).await;
        assert_eq!(r.status, 409);
        assert!(r.body["errors"][0].get("code").is_none(), "code at {mv}: {}", r.text);
    }
    let r = pl.get("1.23", "/barnabas").await;
    assert_eq!(r.body["errors"][0]["code"], UNDEFINED);
    let r = pl.delete("1.23", &format!("/resource_providers/{rp}")).await;
    assert_eq!(r.body["errors"][0]["code"], "placement.resource_provider.cannot_delete_parent");
    pl.stop().await;
}
