//! Bad input never gives a 5xx and writes nothing: malformed or mistyped
//! bodies, missing fields, names over Keystone's limits, odd ids in paths,
//! oversized bodies, wrong content types, NUL characters; while unicode
//! names and SQL metacharacters are plain data. Plus property tests that
//! throw random JSON at `POST /v3/auth/tokens` and `POST /v3/users`.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{json, Value};
use testkit::TestCloud;

use crate::common::*;

/// The number of items `GET {path}` lists under `key`.
async fn count(cloud: &TestCloud, admin: &str, path: &str, key: &str) -> usize {
    get(cloud, path, admin).await[key].as_array().unwrap_or_else(|| panic!("no {key} list")).len()
}

/// POSTs raw `body` with `content_type`; returns status and JSON body.
async fn post_raw(cloud: &TestCloud, token: &str, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = cloud
        .request(Method::POST, path, Some(token))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    status_and_json(resp).await
}

/// The collections a refused create must leave as they were.
const COLLECTIONS: &[(&str, &str)] = &[
    ("/users", "users"),
    ("/projects", "projects"),
    ("/groups", "groups"),
    ("/domains", "domains"),
    ("/roles", "roles"),
    ("/regions", "regions"),
    ("/services", "services"),
    ("/credentials", "credentials"),
];

async fn counts(cloud: &TestCloud, admin: &str) -> Vec<usize> {
    let mut v = Vec::new();
    for (path, key) in COLLECTIONS {
        v.push(count(cloud, admin, path, key).await);
    }
    v
}

#[tokio::test]
async fn refused_creates_write_nothing() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    let long = |n: usize| "x".repeat(n);
    let missing = missing_id();
    // (path, body, acceptable statuses)
    let cases: Vec<(&str, String, &[u16])> = vec![
        // Not JSON, or not an object.
        ("/users", r#"{"user": {"name": "x""#.into(), &[400]),
        ("/users", "not json".into(), &[400]),
        ("/users", "".into(), &[400]),
        ("/users", "[]".into(), &[400]),
        ("/users", "5".into(), &[400]),
        ("/users", "null".into(), &[400]),
        ("/users", r#"{"user": "x"}"#.into(), &[400]),
        ("/users", r#"{"user": [{"name": "x"}]}"#.into(), &[400]),
        ("/users", r#"{"users": {"name": "x"}}"#.into(), &[400]),
        // Wrong types.
        ("/users", r#"{"user": {"name": 5}}"#.into(), &[400]),
        ("/users", r#"{"user": {"name": ["x"]}}"#.into(), &[400]),
        ("/users", r#"{"user": {"name": "x", "enabled": "yes"}}"#.into(), &[400]),
        ("/users", r#"{"user": {"name": "x", "enabled": 1}}"#.into(), &[400]),
        ("/users", r#"{"user": {"name": "x", "enabled": null}}"#.into(), &[400]),
        ("/users", r#"{"user": {"name": "x", "password": 5}}"#.into(), &[400]),
        ("/users", r#"{"user": {"name": "x", "domain_id": 5}}"#.into(), &[400]),
        ("/users", r#"{"user": {"name": "x", "options": {"lock_password": "yes"}}}"#.into(), &[400]),
        ("/users", r#"{"user": {"name": "x", "options": {"no_such_option": true}}}"#.into(), &[400]),
        // Missing or empty required fields, names over the limit.
        ("/users", r#"{"user": {}}"#.into(), &[400]),
        ("/users", r#"{"user": {"password": "p"}}"#.into(), &[400]),
        ("/users", r#"{"user": {"name": ""}}"#.into(), &[400]),
        ("/users", r#"{"user": {"name": "   "}}"#.into(), &[400]),
        ("/users", json!({"user": {"name": long(256)}}).to_string(), &[400]),
        ("/users", json!({"user": {"name": "x", "domain_id": missing}}).to_string(), &[400, 404]),
        // NUL characters.
        ("/users", r#"{"user": {"name": "a\u0000b"}}"#.into(), &[400]),
        ("/users", r#"{"user": {"name": "ok", "description": "a\u0000b"}}"#.into(), &[400]),
        ("/users", r#"{"user": {"name": "ok", "password": "a\u0000b"}}"#.into(), &[400]),
        ("/users", "{\"user\": {\"name\": \"a\u{0}b\"}}".into(), &[400]),
        // Projects.
        ("/projects", r#"{"project": {}}"#.into(), &[400]),
        ("/projects", r#"{"project": {"name": 5}}"#.into(), &[400]),
        ("/projects", r#"{"project": {"name": "x", "enabled": "yes"}}"#.into(), &[400]),
        ("/projects", r#"{"project": {"name": "x", "is_domain": "no"}}"#.into(), &[400]),
        ("/projects", r#"{"project": {"name": "x", "parent_id": 5}}"#.into(), &[400]),
        ("/projects", r#"{"project": {"name": "x", "tags": "a"}}"#.into(), &[400]),
        ("/projects", r#"{"project": {"name": "x", "tags": ["a/b"]}}"#.into(), &[400]),
        ("/projects", r#"{"project": {"name": "x", "tags": ["a,b"]}}"#.into(), &[400]),
        ("/projects", json!({"project": {"name": "x", "tags": [long(256)]}}).to_string(), &[400]),
        ("/projects", json!({"project": {"name": long(65)}}).to_string(), &[400]),
        ("/projects", json!({"project": {"name": "x", "parent_id": missing}}).to_string(), &[400]),
        ("/projects", json!({"project": {"name": "x", "domain_id": missing}}).to_string(), &[400]),
        ("/projects", r#"{"project": {"name": "a\u0000b"}}"#.into(), &[400]),
        // Groups, domains, roles, regions, services, credentials.
        ("/groups", r#"{"group": {}}"#.into(), &[400]),
        ("/groups", r#"{"group": {"name": false}}"#.into(), &[400]),
        ("/groups", json!({"group": {"name": long(65)}}).to_string(), &[400]),
        ("/groups", json!({"group": {"name": "x", "domain_id": missing}}).to_string(), &[400, 404]),
        ("/domains", r#"{"domain": {}}"#.into(), &[400]),
        ("/domains", r#"{"domain": {"name": "x", "enabled": "yes"}}"#.into(), &[400]),
        ("/domains", json!({"domain": {"name": long(65)}}).to_string(), &[400]),
        ("/domains", r#"{"domain": {"name": "a\u0000b"}}"#.into(), &[400]),
        ("/roles", r#"{"role": {}}"#.into(), &[400]),
        ("/roles", r#"{"role": {"name": {}}}"#.into(), &[400]),
        ("/roles", json!({"role": {"name": long(256)}}).to_string(), &[400]),
        ("/roles", r#"{"role": {"name": "x", "options": {"immutable": "yes"}}}"#.into(), &[400]),
        ("/regions", r#"{"region": {"parent_region_id": 5}}"#.into(), &[400]),
        ("/regions", json!({"region": {"parent_region_id": missing}}).to_string(), &[400, 404]),
        ("/services", r#"{"service": {}}"#.into(), &[400]),
        ("/services", r#"{"service": {"type": 5}}"#.into(), &[400]),
        ("/services", r#"{"service": {"type": "x", "enabled": "yes"}}"#.into(), &[400]),
        ("/credentials", r#"{"credential": {"type": "cert", "blob": "b"}}"#.into(), &[400]),
        (
            "/credentials",
            json!({"credential": {"type": "cert", "blob": "b", "user_id": missing}}).to_string(),
            &[400, 404],
        ),
        ("/credentials", r#"{"credential": {"type": "ec2", "blob": "not json", "user_id": "x"}}"#.into(), &[400]),
    ];
    let before = counts(&cloud, &admin).await;
    for (path, body, want) in &cases {
        let (s, v) = post_raw(&cloud, &admin, path, "application/json", body.clone().into_bytes()).await;
        assert!(want.contains(&s), "POST {path} {body}: {s} {v}");
        error_message(&v, s).unwrap_or_else(|e| panic!("POST {path} {body}: {e}"));
        assert_eq!(counts(&cloud, &admin).await, before, "POST {path} {body} wrote something");
    }

    // Names at the limit are fine.
    cloud.create(&admin, "/users", "user", json!({"name": long(255)})).await;
    cloud.create(&admin, "/projects", "project", json!({"name": long(64)})).await;
    cloud.create(&admin, "/groups", "group", json!({"name": long(64)})).await;
    cloud.create(&admin, "/domains", "domain", json!({"name": long(64)})).await;
    cloud.create(&admin, "/roles", "role", json!({"name": long(255)})).await;

    // Updates refused leave the resource as it was.
    let u = cloud.create(&admin, "/users", "user", json!({"name": unique("upd")})).await;
    let path = format!("/users/{}", u["id"].as_str().unwrap());
    for body in [
        json!({"user": {"name": 5}}),
        json!({"user": {"enabled": "no"}}),
        json!({"user": {"name": long(256)}}),
        json!({"user": {"name": "a\u{0}b"}}),
        json!({"user": "x"}),
        json!([]),
    ] {
        let (s, v) = call(&cloud, Method::PATCH, &path, Some(&admin), Some(body.clone())).await;
        assert_error(s, &v, 400, &format!("PATCH {body}"));
    }
    let now = get(&cloud, &path, &admin).await;
    assert_eq!(now["user"]["name"], u["name"]);
    assert_eq!(now["user"]["enabled"], json!(true));
    cloud.stop().await;
}

#[tokio::test]
async fn bodies_too_large_or_not_json_are_refused() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    let before = counts(&cloud, &admin).await;
    // 2 MB: 413, before anything is parsed.
    let big = json!({"user": {"name": unique("big"), "description": "a".repeat(2 * 1024 * 1024)}}).to_string();
    let (s, v) = post_raw(&cloud, &admin, "/users", "application/json", big.into_bytes()).await;
    assert_eq!(s, 413, "{v}");
    error_message(&v, 413).unwrap();
    let big = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
        "domain": {"id": "default"}, "password": "a".repeat(2 * 1024 * 1024)}}}}})
    .to_string();
    let resp = cloud
        .client
        .post(cloud.identity("/auth/tokens"))
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // A body that is JSON but not said to be: Keystone answers 400, ferrostack 415.
    let body = json!({"user": {"name": unique("ct")}}).to_string();
    for ct in ["text/plain", "application/x-www-form-urlencoded", "application/xml"] {
        let (s, v) = post_raw(&cloud, &admin, "/users", ct, body.clone().into_bytes()).await;
        assert!(s == 400 || s == 415, "Content-Type {ct}: {s} {v}");
        error_message(&v, s).unwrap();
    }
    assert_eq!(counts(&cloud, &admin).await, before);
    cloud.stop().await;
}

#[tokio::test]
async fn odd_ids_in_paths_are_not_found() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    let p = create_project(&cloud, &admin, json!({"name": unique("odd"), "tags": ["t"]})).await;
    let u = create_user(&cloud, &admin, &unique("odd")).await;
    let role = role_id(&cloud, &admin, "reader").await;
    let long = "a".repeat(10_000);
    let ids: Vec<&str> = vec![
        &long,
        "ユーザー",
        "%F0%9F%9A%80",
        "%00",
        "a%00b",
        "..%2F..%2Fetc%2Fpasswd",
        "x'%20OR%20'1'%3D'1",
        "%25",
        "%ff",
        "%E2%82",
        "%20",
    ];
    let before = counts(&cloud, &admin).await;
    for id in &ids {
        let mut checks: Vec<(Method, String)> = Vec::new();
        for coll in
            ["users", "projects", "groups", "domains", "roles", "regions", "services", "endpoints", "credentials"]
        {
            checks.push((Method::GET, format!("/{coll}/{id}")));
            checks.push((Method::DELETE, format!("/{coll}/{id}")));
        }
        for path in [
            format!("/registered_limits/{id}"),
            format!("/limits/{id}"),
            format!("/users/{id}/groups"),
            format!("/users/{id}/projects"),
            format!("/users/{u}/application_credentials/{id}"),
            format!("/users/{u}/access_rules/{id}"),
            format!("/groups/{id}/users"),
            format!("/projects/{id}/tags"),
            format!("/projects/{p}/tags/{id}"),
            format!("/roles/{id}/implies"),
            format!("/roles/{role}/implies/{id}"),
            format!("/projects/{p}/users/{id}/roles"),
            format!("/projects/{id}/users/{u}/roles/{role}"),
            format!("/projects/{p}/users/{u}/roles/{id}"),
            format!("/domains/{id}/groups/{u}/roles"),
            format!("/system/users/{id}/roles"),
            format!("/OS-INHERIT/projects/{id}/users/{u}/roles/inherited_to_projects"),
        ] {
            checks.push((Method::GET, path));
        }
        checks.push((Method::PUT, format!("/projects/{p}/users/{u}/roles/{id}")));
        checks.push((Method::PUT, format!("/projects/{id}/users/{u}/roles/{role}")));
        checks.push((Method::PUT, format!("/system/users/{id}/roles/{role}")));
        checks.push((Method::PUT, format!("/groups/{id}/users/{u}")));
        checks.push((Method::PUT, format!("/roles/{role}/implies/{id}")));
        checks.push((Method::PATCH, format!("/users/{id}")));
        checks.push((Method::POST, format!("/users/{id}/password")));
        for (method, path) in checks {
            let body = match method {
                Method::PATCH => Some(json!({"user": {"description": "x"}})),
                Method::POST => Some(json!({"user": {"password": "a", "original_password": "b"}})),
                _ => None,
            };
            let (s, v) = call(&cloud, method.clone(), &path, Some(&admin), body).await;
            let short: String = path.chars().take(80).collect();
            assert!([400, 401, 403, 404].contains(&s), "{method} {short}: {s} {v}");
            error_message(&v, s).unwrap_or_else(|e| panic!("{method} {short}: {e}"));
        }
        // Tags are ids too; a refused tag is not stored.
        let (s, v) = call(&cloud, Method::PUT, &format!("/projects/{p}/tags/{id}"), Some(&admin), None).await;
        assert!(s == 201 || s == 400 || s == 404, "PUT tag {id}: {s} {v}");
        if s != 201 {
            error_message(&v, s).unwrap();
        }
    }
    let (s, v) =
        call(&cloud, Method::PUT, &format!("/projects/{p}/tags"), Some(&admin), Some(json!({"tags": ["a\u{0}b"]})))
            .await;
    assert_error(s, &v, 400, "a tag with a NUL");
    for q in ["name=%ff", "name=%E2%82", "%ff=1"] {
        let (s, v) = call(&cloud, Method::GET, &format!("/users?{q}"), Some(&admin), None).await;
        assert_error(s, &v, 400, &format!("query {q}"));
    }
    let tags = get(&cloud, &format!("/projects/{p}/tags"), &admin).await;
    assert!(
        !tags["tags"].as_array().unwrap().iter().any(|t| t.as_str().unwrap().contains('\0')),
        "a NUL was stored: {tags}"
    );
    assert_eq!(counts(&cloud, &admin).await, before);
    cloud.stop().await;
}

#[tokio::test]
async fn unicode_and_sql_metacharacters_are_plain_data() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    let users_before = count(&cloud, &admin, "/users", "users").await;
    let names = [
        "Ünïcødé 用户 🚀".to_string(),
        "x' OR 1=1 --".to_string(),
        "'; DROP TABLE identity_user; --".to_string(),
        "\" OR \"\"=\"".to_string(),
        "100%_done\\".to_string(),
        "<script>alert(1)</script>".to_string(),
    ];
    let mut made = Vec::new();
    for name in &names {
        let u = cloud.create(&admin, "/users", "user", json!({"name": name, "password": PASSWORD})).await;
        assert_eq!(&u["name"], name);
        let id = u["id"].as_str().unwrap().to_string();
        let v = get(&cloud, &format!("/users/{id}"), &admin).await;
        assert_eq!(&v["user"]["name"], name);
        // An exact filter finds exactly this user.
        let url = reqwest::Url::parse_with_params("http://x/users", &[("name", name.as_str())]).unwrap();
        let q = url.query().unwrap();
        let v = get(&cloud, &format!("/users?{q}"), &admin).await;
        assert_eq!(ids(&v, "users"), vec![id.clone()], "filter name={name}");
        // The name authenticates as any other.
        cloud.token(name, PASSWORD, Value::Null).await;
        made.push(id);
    }
    assert_eq!(count(&cloud, &admin, "/users", "users").await, users_before + names.len());
    // Filters with metacharacters match literally.
    for (filter, want) in [
        ("name__contains=' OR 1=1", vec![made[1].clone()]),
        ("name=' OR 1=1 --", vec![]),
        ("name=%25", vec![]),
        ("name__contains=%25_", vec![made[4].clone()]),
        ("name__contains=_", vec![made[2].clone(), made[4].clone()]),
        ("name__startswith=%25", vec![]),
        ("name__contains=%5C", vec![made[4].clone()]),
        ("name__icontains=ÜNÏ", vec![made[0].clone()]),
        ("enabled=' OR 1=1 --", vec![]),
        ("domain_id=' OR 1=1 --", vec![]),
    ] {
        let v = get(&cloud, &format!("/users?{filter}"), &admin).await;
        let mut got = ids(&v, "users");
        got.retain(|i| made.contains(i));
        got.sort();
        let mut want = want;
        want.sort();
        if filter.starts_with("enabled=") {
            // Keystone reads any value but false/0 as true: the users are listed, nothing breaks.
            continue;
        }
        assert_eq!(got, want, "filter {filter}");
    }
    // Projects and groups take such names too, and the table is still there.
    for name in ["Prøjëkt ✓", "p' OR '1'='1"] {
        let p = cloud.create(&admin, "/projects", "project", json!({"name": name, "description": "'; --"})).await;
        assert_eq!(p["name"], json!(name));
        let g = cloud.create(&admin, "/groups", "group", json!({"name": name})).await;
        assert_eq!(g["name"], json!(name));
    }
    let (s, v) = call(&cloud, Method::GET, "/role_assignments?user.id=' OR 1=1 --", Some(&admin), None).await;
    assert_eq!((s, v["role_assignments"].as_array().map(Vec::len)), (200, Some(0)), "{v}");
    assert_eq!(count(&cloud, &admin, "/users", "users").await, users_before + names.len());
    cloud.stop().await;
}

#[tokio::test]
async fn bad_authentication_requests() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    let user = |extra: Value| {
        let mut u = json!({"name": "admin", "domain": {"id": "default"}, "password": testkit::ADMIN_PASSWORD});
        for (k, v) in extra.as_object().unwrap() {
            u[k] = v.clone();
        }
        u
    };
    let pw = |u: Value| json!({"auth": {"identity": {"methods": ["password"], "password": {"user": u}}}});
    let cases: Vec<(Value, u16)> = vec![
        (json!({}), 400),
        (json!([]), 400),
        (json!({"auth": null}), 400),
        (json!({"auth": "x"}), 400),
        (json!({"auth": {}}), 400),
        (json!({"auth": {"identity": {}}}), 400),
        (json!({"auth": {"identity": "password"}}), 400),
        (json!({"auth": {"identity": {"methods": "password"}}}), 400),
        (json!({"auth": {"identity": {"methods": [5]}}}), 400),
        // Keystone's schema allows an empty list: then no method names a user.
        (json!({"auth": {"identity": {"methods": []}}}), 401),
        // A method named without its data is a bad request; with it, unsupported.
        (json!({"auth": {"identity": {"methods": ["bogus"]}}}), 400),
        (json!({"auth": {"identity": {"methods": ["bogus"], "bogus": {}}}}), 401),
        (json!({"auth": {"identity": {"methods": ["totp"], "totp": {"user": {"id": "x", "passcode": "1"}}}}}), 401),
        (json!({"auth": {"identity": {"methods": ["password"]}}}), 400),
        (json!({"auth": {"identity": {"methods": ["password"], "password": "x"}}}), 400),
        (json!({"auth": {"identity": {"methods": ["password"], "password": {}}}}), 400),
        (pw(json!({"password": "x"})), 400),
        (pw(user(json!({"name": 5}))), 400),
        (pw(user(json!({"password": 5}))), 400),
        (pw(user(json!({"password": "wrong"}))), 401),
        (pw(user(json!({"password": "a\u{0}b"}))), 400),
        (pw(user(json!({"name": "' OR 1=1 --"}))), 401),
        (pw(user(json!({"domain": {"id": "' OR 1=1 --"}}))), 401),
        (pw(user(json!({"domain": "default"}))), 400),
        (pw(user(json!({"domain": {}}))), 400),
        (pw(json!({"id": "x".repeat(10_000), "password": "p"})), 400),
        (pw(json!({"id": "ユーザー", "password": "p"})), 401),
        (json!({"auth": {"identity": {"methods": ["token"], "token": {"id": "garbage"}}}}), 401),
        (json!({"auth": {"identity": {"methods": ["token"], "token": {"id": 5}}}}), 400),
        (
            json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": "x", "secret": "y"}}}}),
            401,
        ),
        (
            json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"secret": "y"}}}}),
            400,
        ),
    ];
    for (body, want) in cases {
        let resp = cloud.client.post(cloud.identity("/auth/tokens")).json(&body).send().await.unwrap();
        assert!(resp.headers().get("x-subject-token").is_none(), "{body}: a token was issued");
        let (s, v) = status_and_json(resp).await;
        let short: String = body.to_string().chars().take(200).collect();
        assert_error(s, &v, want, &short);
    }
    // Bad scopes.
    let with_scope = |scope: Value| {
        let mut b = pw(user(json!({})));
        b["auth"]["scope"] = scope;
        b
    };
    for (scope, want) in [
        (json!("x"), 400),
        (json!(5), 400),
        (json!({}), 400),
        (json!({"project": {}}), 400),
        (json!({"project": {"name": "admin"}}), 400),
        (json!({"project": {"id": missing_id()}}), 401),
        (json!({"project": {"id": "admin"}, "domain": {"id": "default"}}), 400),
        (json!({"domain": {"id": missing_id()}}), 401),
        (json!({"system": "all"}), 400),
    ] {
        let resp =
            cloud.client.post(cloud.identity("/auth/tokens")).json(&with_scope(scope.clone())).send().await.unwrap();
        let (s, v) = status_and_json(resp).await;
        assert_error(s, &v, want, &format!("scope {scope}"));
    }
    // None of that locked or changed the admin.
    cloud.admin_token().await;
    let (s, v) = validate(&cloud, &admin, &admin).await;
    assert_eq!(s, 200, "{v}");
    cloud.stop().await;
}

// ---------- property tests ----------

const KEYS: &[&str] = &[
    "auth",
    "identity",
    "methods",
    "password",
    "user",
    "name",
    "domain",
    "id",
    "scope",
    "project",
    "system",
    "all",
    "token",
    "application_credential",
    "secret",
    "enabled",
    "options",
    "default_project_id",
    "domain_id",
    "description",
    "email",
];

const WORDS: &[&str] = &[
    "password",
    "token",
    "application_credential",
    "default",
    "admin",
    "Default",
    "",
    " ",
    "' OR 1=1 --",
    "\u{0}",
    "ünï",
    "%00",
    "true",
    "lock_password",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => prop::sample::select(KEYS).prop_map(str::to_string), 1 => "[a-z_]{1,10}"]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_string),
        2 => any::<String>(),
        1 => "[a-zA-Z0-9]{200,300}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    prop::collection::btree_map(key(), json_value(), 0..6).prop_map(|m| m.into_iter().collect())
}

/// Random bodies, from anything at all to nearly valid authentications.
fn auth_body() -> impl Strategy<Value = Value> {
    let methods =
        prop::collection::vec(prop_oneof![prop::sample::select(WORDS).prop_map(Value::from), json_value()], 0..3);
    let nearly =
        (methods, object(), object(), json_value(), any::<bool>()).prop_map(|(m, user, section, scope, with_scope)| {
            let mut b = json!({"auth": {"identity": {"methods": m, "password": {"user": user}, "token": section.clone(),
            "application_credential": section}}});
            if with_scope {
                b["auth"]["scope"] = scope;
            }
            b
        });
    prop_oneof![1 => json_value(), 1 => object().prop_map(|o| json!({"auth": o})), 2 => nearly]
}

fn user_body() -> impl Strategy<Value = Value> {
    let fields = (text(), object(), json_value()).prop_map(|(name, mut o, enabled)| {
        o.insert("name".into(), Value::String(name));
        if !enabled.is_null() {
            o.insert("enabled".into(), enabled);
        }
        json!({"user": o})
    });
    prop_oneof![1 => json_value(), 1 => object().prop_map(|o| json!({"user": o})), 2 => fields]
}

/// One cloud for all cases of a property, driven from a runtime the
/// (synchronous) property runs on.
fn with_cloud(f: impl FnOnce(&tokio::runtime::Runtime, &TestCloud, &str) -> Result<(), String>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let cloud = rt.block_on(TestCloud::start());
    let admin = rt.block_on(cloud.admin_token());
    let result = f(&rt, &cloud, &admin);
    rt.block_on(cloud.stop());
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn runner() -> TestRunner {
    TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() })
}

#[test]
fn random_authentication_bodies_never_fail_the_server() {
    with_cloud(|rt, cloud, _| {
        runner()
            .run(&auth_body(), |body| {
                rt.block_on(async {
                    let resp = cloud.client.post(cloud.identity("/auth/tokens")).json(&body).send().await.unwrap();
                    let (s, v) = status_and_json(resp).await;
                    prop_assert!(s < 500, "{} for {}", s, body);
                    if s != 201 {
                        error_message(&v, s).map_err(TestCaseError::fail)?;
                    }
                    Ok(())
                })
            })
            .map_err(|e| e.to_string())
    });
}

#[test]
fn random_user_bodies_never_fail_the_server_nor_write_when_refused() {
    with_cloud(|rt, cloud, admin| {
        runner()
            .run(&user_body(), |body| {
                rt.block_on(async {
                    let before = count(cloud, admin, "/users", "users").await;
                    let (s, v) = call(cloud, Method::POST, "/users", Some(admin), Some(body.clone())).await;
                    prop_assert!(s < 500, "{} for {}", s, body);
                    let after = count(cloud, admin, "/users", "users").await;
                    if s == 201 {
                        prop_assert_eq!(after, before + 1, "created {}", v);
                        let id = v["user"]["id"].as_str().unwrap_or_default();
                        let (gs, _) = call(cloud, Method::GET, &format!("/users/{id}"), Some(admin), None).await;
                        prop_assert_eq!(gs, 200);
                    } else {
                        error_message(&v, s).map_err(TestCaseError::fail)?;
                        prop_assert_eq!(after, before, "refused with {} but wrote a user: {}", s, body);
                    }
                    Ok(())
                })
            })
            .map_err(|e| e.to_string())
    });
}
