use reqwest::Method;
use serde_json::json;

use crate::common::Nova;

#[tokio::test]
async fn version_documents_need_no_token() {
    let n = Nova::start().await;
    let r = n.cloud.client.get(n.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let ids: Vec<&str> = v["versions"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["v2.0", "v2.1"]);
    assert_eq!(v["versions"][1]["version"], "2.104");
    assert_eq!(v["versions"][1]["min_version"], "2.1");
    assert!(v["versions"][1]["links"][0]["href"].as_str().unwrap().ends_with("/compute/v2.1/"));

    let r = n.call(Method::GET, "", None, "", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["version"]["id"], "v2.1");
    assert_eq!(r.body["version"]["status"], "CURRENT");
    assert_eq!(r.body["version"]["media-types"][0]["type"], "application/vnd.openstack.compute+json;version=2.1");
    n.stop().await;
}

#[tokio::test]
async fn microversion_headers_and_refusals() {
    let n = Nova::start().await;
    let r = n.get("/flavors", &n.admin, "").await;
    assert_eq!(r.header("openstack-api-version").as_deref(), Some("compute 2.1"));
    assert_eq!(r.header("x-openstack-nova-api-version").as_deref(), Some("2.1"));
    let vary: Vec<String> = r.headers.get_all("vary").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert!(vary.contains(&"OpenStack-API-Version".to_string()), "{vary:?}");
    assert!(vary.contains(&"X-OpenStack-Nova-API-Version".to_string()), "{vary:?}");

    let r = n.get("/flavors", &n.admin, "latest").await;
    assert_eq!(r.header("openstack-api-version").as_deref(), Some("compute 2.104"));

    // The legacy header alone works too.
    let resp = n
        .cloud
        .client
        .get(n.url("/v2.1/flavors"))
        .header("X-Auth-Token", &n.admin)
        .header("X-OpenStack-Nova-API-Version", "2.55")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["openstack-api-version"], "compute 2.55");

    let r = n.get("/flavors", &n.admin, "2.105").await;
    r.fault(406, "computeFault", "Version 2.105 is not supported by the API. Minimum is 2.1 and maximum is 2.104.");
    let r = n.get("/flavors", &n.admin, "2.1.0").await;
    r.fault(400, "badRequest", "API Version String 2.1.0 is of invalid format. Must be of format MajorNum.MinorNum.");
    let r = n.get("/flavors", &n.admin, "2.01").await;
    assert_eq!(r.status, 400);
    n.stop().await;
}

#[tokio::test]
async fn faults_are_novas_and_the_401_is_keystonemiddlewares() {
    let n = Nova::start().await;
    let r = n.call(Method::GET, "/flavors", None, "", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["code"], 401, "{}", r.body);
    assert!(r.header("www-authenticate").unwrap().starts_with("Keystone uri="));
    let r = n.get("/no-such-thing", &n.admin, "").await;
    r.fault(404, "itemNotFound", "The resource could not be found.");
    let r = n.call(Method::POST, "/flavors", Some(&n.admin), "", None).await;
    r.fault(400, "badRequest", "None is not of type 'object'");
    let resp = n
        .cloud
        .client
        .post(n.url("/v2.1/flavors"))
        .header("X-Auth-Token", &n.admin)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["badRequest"]["message"], "Malformed request body");
    let r = n.post("/flavors", &n.admin, "", json!([1])).await;
    r.fault(400, "badRequest", "[1] is not of type 'object'");
    n.stop().await;
}
