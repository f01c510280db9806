//! Behaviour of the Keystone v3 API: tokens (issue, validate, check,
//! revoke, rescope, scopes, invalidation), implied and inherited roles, the
//! role assignment report, the project hierarchy and list filters,
//! application credentials, lockout, and Fernet key rotation.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use testkit::TestCloud;

use crate::common::*;

fn password_auth(user: &str, password: &str, scope: Option<Value>) -> Value {
    let mut body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}}});
    if let Some(s) = scope {
        body["auth"]["scope"] = s;
    }
    body
}

fn token_auth(token: &str, scope: Option<Value>) -> Value {
    let mut body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}});
    if let Some(s) = scope {
        body["auth"]["scope"] = s;
    }
    body
}

/// `POST /v3/auth/tokens{query}`: status, `X-Subject-Token` (empty when
/// none) and body.
async fn issue(cloud: &TestCloud, query: &str, body: Value) -> (u16, String, Value) {
    let resp = cloud.client.post(cloud.identity(&format!("/auth/tokens{query}"))).json(&body).send().await.unwrap();
    let subject = resp.headers().get("x-subject-token").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let (s, v) = status_and_json(resp).await;
    (s, subject, v)
}

/// Like [`issue`], expecting 201.
async fn issue_ok(cloud: &TestCloud, body: Value) -> (String, Value) {
    let (s, t, v) = issue(cloud, "", body).await;
    assert_eq!(s, 201, "{v}");
    assert!(!t.is_empty(), "no X-Subject-Token");
    (t, v)
}

/// Asserts that authenticating with `body` is refused with 401.
async fn issue_refused(cloud: &TestCloud, body: Value, what: &str) -> String {
    let (s, t, v) = issue(cloud, "", body).await;
    assert!(t.is_empty(), "{what}: a token was issued");
    assert_error(s, &v, 401, what)
}

/// Asserts that a token no longer works: validation says 404 and using it 401.
async fn assert_token_dead(cloud: &TestCloud, admin: &str, token: &str, what: &str) {
    let (s, v) = validate(cloud, admin, token).await;
    assert_error(s, &v, 404, &format!("{what}: validate"));
    assert!(!token_works(cloud, token).await, "{what}: the token is still accepted");
}

async fn assert_token_alive(cloud: &TestCloud, admin: &str, token: &str, what: &str) {
    let (s, v) = validate(cloud, admin, token).await;
    assert_eq!(s, 200, "{what}: {v}");
    assert!(token_works(cloud, token).await, "{what}: the token is refused");
}

fn project_scope_by_name(name: &str) -> Value {
    json!({"project": {"name": name, "domain": {"id": "default"}}})
}

#[tokio::test]
async fn tokens_issue_validate_check_revoke_and_rescope() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    let (pname, qname, uname) = (unique("tok-p"), unique("tok-q"), unique("tok-u"));
    let p = create_project(&cloud, &admin, json!({"name": pname})).await;
    let q = create_project(&cloud, &admin, json!({"name": qname})).await;
    let r = create_project(&cloud, &admin, json!({"name": unique("tok-r")})).await;
    let u = create_user(&cloud, &admin, &uname).await;
    let member = role_id(&cloud, &admin, "member").await;
    grant(&cloud, &admin, &format!("/projects/{p}/users/{u}/roles/{member}")).await;
    grant(&cloud, &admin, &format!("/projects/{q}/users/{u}/roles/{member}")).await;

    // A project-scoped token: who, what, which roles, the catalog.
    let (t, body) = issue_ok(&cloud, password_auth(&uname, PASSWORD, Some(project_scope_by_name(&pname)))).await;
    let tok = &body["token"];
    assert_eq!(tok["methods"], json!(["password"]));
    assert_eq!(tok["user"]["id"], json!(u));
    assert_eq!(tok["user"]["name"], json!(uname));
    assert_eq!(tok["user"]["domain"], json!({"id": "default", "name": "Default"}));
    assert_eq!(tok["project"], json!({"id": p, "name": pname, "domain": {"id": "default", "name": "Default"}}));
    assert_eq!(token_roles(&body), vec!["member", "reader"], "member implies reader");
    assert_eq!(tok["audit_ids"].as_array().map(Vec::len), Some(1));
    assert!(tok["expires_at"].as_str().unwrap() > tok["issued_at"].as_str().unwrap());
    let catalog = tok["catalog"].as_array().expect("a scoped token carries the catalog");
    let identity = catalog.iter().find(|s| s["type"] == "identity").expect("identity in the catalog");
    assert!(identity["endpoints"].as_array().unwrap().iter().any(|e| e["interface"] == "public"));

    // Validate (GET) and check (HEAD), by an admin and by the token itself.
    for caller in [&admin, &t] {
        let resp = cloud
            .request(Method::GET, "/auth/tokens", Some(caller))
            .header("X-Subject-Token", &t)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-subject-token"], t.as_str());
        let (s, v) = status_and_json(resp).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["token"]["project"]["id"], json!(p));
        assert_eq!(v["token"]["audit_ids"], tok["audit_ids"]);
        assert!(v["token"]["catalog"].is_array());
        let resp = cloud
            .request(Method::HEAD, "/auth/tokens", Some(caller))
            .header("X-Subject-Token", &t)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    // `nocatalog`, with or without a value, leaves the catalog out.
    for query in ["?nocatalog", "?nocatalog=1", "?nocatalog=false"] {
        let resp = cloud
            .request(Method::GET, &format!("/auth/tokens{query}"), Some(&admin))
            .header("X-Subject-Token", &t)
            .send()
            .await
            .unwrap();
        let (s, v) = status_and_json(resp).await;
        assert_eq!(s, 200, "{v}");
        assert!(v["token"].get("catalog").is_none(), "validate{query}: {v}");
        assert!(v["token"]["roles"].is_array());
        let (s, _, v) = issue(&cloud, query, password_auth(&uname, PASSWORD, Some(project_scope(&p)))).await;
        assert_eq!(s, 201, "{v}");
        assert!(v["token"].get("catalog").is_none(), "issue{query}: {v}");
    }
    // A token that is not one.
    let (s, v) = validate(&cloud, &admin, "not-a-token").await;
    assert_error(s, &v, 404, "validate garbage");
    let (s, v) = call(&cloud, Method::GET, "/auth/projects", Some("not-a-token"), None).await;
    assert_error(s, &v, 401, "use garbage");

    // Revoke: the token is gone (404 to validate, 401 to use), others stay.
    let (t2, _) = issue_ok(&cloud, password_auth(&uname, PASSWORD, Some(project_scope(&p)))).await;
    let resp =
        cloud.request(Method::DELETE, "/auth/tokens", Some(&t2)).header("X-Subject-Token", &t).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_token_dead(&cloud, &admin, &t, "revoked token").await;
    let resp =
        cloud.request(Method::HEAD, "/auth/tokens", Some(&admin)).header("X-Subject-Token", &t).send().await.unwrap();
    assert_eq!(resp.status(), 404, "HEAD of a revoked token");
    let resp =
        cloud.request(Method::DELETE, "/auth/tokens", Some(&admin)).header("X-Subject-Token", &t).send().await.unwrap();
    let (s, v) = status_and_json(resp).await;
    assert_error(s, &v, 404, "revoke twice");
    assert_token_alive(&cloud, &admin, &t2, "another token of the same user").await;
    let (s, _, v) = issue(&cloud, "", token_auth(&t, Some(project_scope(&q)))).await;
    assert_error(s, &v, 401, "rescope a revoked token");

    // An unscoped token: no scope, no roles, no catalog.
    let (unscoped, body) = issue_ok(&cloud, password_auth(&uname, PASSWORD, None)).await;
    for k in ["project", "domain", "system", "roles", "catalog"] {
        assert!(body["token"].get(k).is_none(), "unscoped token has {k}: {body}");
    }
    let (s, v) = call(&cloud, Method::GET, "/auth/catalog", Some(&unscoped), None).await;
    assert_error(s, &v, 403, "catalog with an unscoped token");
    let projects = ids(&get(&cloud, "/auth/projects", &unscoped).await, "projects");
    assert!(projects.contains(&p) && projects.contains(&q) && !projects.contains(&r), "{projects:?}");

    // Rescope with the token method: both methods, both audit ids, no
    // longer-lived than the original.
    let (scoped, body) = issue_ok(&cloud, token_auth(&unscoped, Some(project_scope(&q)))).await;
    let tok = &body["token"];
    let mut methods: Vec<&str> = tok["methods"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    methods.sort();
    assert_eq!(methods, vec!["password", "token"]);
    assert_eq!(tok["project"]["id"], json!(q));
    let original = validate(&cloud, &admin, &unscoped).await.1;
    let original_audit = original["token"]["audit_ids"][0].clone();
    assert_eq!(tok["audit_ids"].as_array().map(Vec::len), Some(2));
    assert_eq!(tok["audit_ids"][1], original_audit);
    assert!(tok["expires_at"].as_str().unwrap() <= original["token"]["expires_at"].as_str().unwrap());
    // A scoped token rescopes too, keeping the first audit id.
    let (_, body) = issue_ok(&cloud, token_auth(&scoped, Some(project_scope(&p)))).await;
    assert_eq!(body["token"]["project"]["id"], json!(p));
    assert_eq!(body["token"]["audit_ids"][1], original_audit);
    // Not to a project without a role there, nor to one that does not exist.
    issue_refused(&cloud, token_auth(&unscoped, Some(project_scope(&r))), "rescope without a role").await;
    issue_refused(&cloud, token_auth(&unscoped, Some(project_scope(&missing_id()))), "rescope to nothing").await;
    issue_refused(&cloud, password_auth(&uname, PASSWORD, Some(project_scope(&r))), "scope without a role").await;
    issue_refused(&cloud, password_auth(&uname, "wrong-password", None), "wrong password").await;
    issue_refused(&cloud, password_auth(&unique("nobody"), PASSWORD, None), "unknown user").await;

    // A system-scoped token.
    let (_, body) =
        issue_ok(&cloud, password_auth("admin", testkit::ADMIN_PASSWORD, Some(json!({"system": {"all": true}})))).await;
    assert_eq!(body["token"]["system"], json!({"all": true}));
    assert!(body["token"].get("project").is_none() && body["token"].get("domain").is_none());
    assert!(token_roles(&body).contains(&"admin".to_string()));
    assert!(body["token"]["catalog"].is_array());
    issue_refused(&cloud, password_auth(&uname, PASSWORD, Some(json!({"system": {"all": true}}))), "system").await;

    // A domain-scoped token.
    let dname = unique("tok-d");
    let du = create_user(&cloud, &admin, &dname).await;
    let reader = role_id(&cloud, &admin, "reader").await;
    grant(&cloud, &admin, &format!("/domains/default/users/{du}/roles/{reader}")).await;
    let (dtok, body) =
        issue_ok(&cloud, password_auth(&dname, PASSWORD, Some(json!({"domain": {"id": "default"}})))).await;
    assert_eq!(body["token"]["domain"], json!({"id": "default", "name": "Default"}));
    assert!(body["token"].get("project").is_none());
    assert_eq!(token_roles(&body), vec!["reader"]);
    let (_, body) =
        issue_ok(&cloud, password_auth(&dname, PASSWORD, Some(json!({"domain": {"name": "Default"}})))).await;
    assert_eq!(body["token"]["domain"]["id"], json!("default"));
    let domains = ids(&get(&cloud, "/auth/domains", &dtok).await, "domains");
    assert_eq!(domains, vec!["default"]);
    issue_refused(&cloud, password_auth(&uname, PASSWORD, Some(json!({"domain": {"id": "default"}}))), "domain").await;

    // With no scope, a user with a role on its default project gets a token
    // scoped to it.
    let (s, v) = call(
        &cloud,
        Method::PATCH,
        &format!("/users/{u}"),
        Some(&admin),
        Some(json!({"user": {"default_project_id": q}})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, body) = issue_ok(&cloud, password_auth(&uname, PASSWORD, None)).await;
    assert_eq!(body["token"]["project"]["id"], json!(q));
    // Asking for no scope explicitly, in either spelling, even with a default project.
    for scope in [json!("unscoped"), json!({"unscoped": {}})] {
        let (_, body) = issue_ok(&cloud, password_auth(&uname, PASSWORD, Some(scope))).await;
        assert!(body["token"].get("project").is_none(), "{body}");
    }
    cloud.stop().await;
}

#[tokio::test]
async fn tokens_are_invalidated_by_changes_to_their_user_project_and_roles() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    let member = role_id(&cloud, &admin, "member").await;
    let p = create_project(&cloud, &admin, json!({"name": unique("inv-p")})).await;
    let q = create_project(&cloud, &admin, json!({"name": unique("inv-q")})).await;
    let new_user = |prefix: &'static str| {
        let (cloud, admin, member, p, q) = (&cloud, &admin, &member, &p, &q);
        async move {
            let name = unique(prefix);
            let id = create_user(cloud, admin, &name).await;
            grant(cloud, admin, &format!("/projects/{p}/users/{id}/roles/{member}")).await;
            grant(cloud, admin, &format!("/projects/{q}/users/{id}/roles/{member}")).await;
            (name, id)
        }
    };

    // Changing one's password revokes every token of the user.
    let (name, id) = new_user("pw").await;
    let (t1, _) = token(&cloud, &name, project_scope(&p)).await;
    let (t2, _) = token(&cloud, &name, project_scope(&q)).await;
    let body = json!({"user": {"password": "brand-new-password", "original_password": PASSWORD}});
    let (s, v) = call(&cloud, Method::POST, &format!("/users/{id}/password"), None, Some(body.clone())).await;
    assert_eq!(s, 204, "{v}");
    assert_token_dead(&cloud, &admin, &t1, "after a password change").await;
    assert_token_dead(&cloud, &admin, &t2, "after a password change").await;
    issue_refused(&cloud, password_auth(&name, PASSWORD, None), "the old password").await;
    let (t3, _) = cloud.token(&name, "brand-new-password", project_scope(&p)).await;
    // The original password is the proof: a wrong one is refused, nothing changes.
    let (s, v) = call(&cloud, Method::POST, &format!("/users/{id}/password"), None, Some(body)).await;
    assert_error(s, &v, 401, "password change with a wrong original password");
    assert_token_alive(&cloud, &admin, &t3, "after a refused password change").await;
    // An admin resetting the password revokes too.
    let (s, v) = call(
        &cloud,
        Method::PATCH,
        &format!("/users/{id}"),
        Some(&admin),
        Some(json!({"user": {"password": PASSWORD}})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_token_dead(&cloud, &admin, &t3, "after an admin reset the password").await;

    // Disabling a user: its tokens die and stay dead when it is enabled again.
    let (name, id) = new_user("dis").await;
    let (t, _) = token(&cloud, &name, project_scope(&p)).await;
    let patch = |enabled: bool| json!({"user": {"enabled": enabled}});
    let (s, v) = call(&cloud, Method::PATCH, &format!("/users/{id}"), Some(&admin), Some(patch(false))).await;
    assert_eq!((s, &v["user"]["enabled"]), (200, &json!(false)), "{v}");
    assert_token_dead(&cloud, &admin, &t, "user disabled").await;
    issue_refused(&cloud, password_auth(&name, PASSWORD, None), "a disabled user").await;
    let (s, _) = call(&cloud, Method::PATCH, &format!("/users/{id}"), Some(&admin), Some(patch(true))).await;
    assert_eq!(s, 200);
    assert_token_dead(&cloud, &admin, &t, "user enabled again").await;
    token(&cloud, &name, project_scope(&p)).await;

    // Disabling a project: tokens scoped to it die, others live.
    let (name, _) = new_user("proj").await;
    let dp = create_project(&cloud, &admin, json!({"name": unique("inv-dp")})).await;
    let uid = get(&cloud, &format!("/users?name={name}"), &admin).await["users"][0]["id"].as_str().unwrap().to_string();
    grant(&cloud, &admin, &format!("/projects/{dp}/users/{uid}/roles/{member}")).await;
    let (on_dp, _) = token(&cloud, &name, project_scope(&dp)).await;
    let (on_p, _) = token(&cloud, &name, project_scope(&p)).await;
    let body = json!({"project": {"enabled": false}});
    let (s, v) = call(&cloud, Method::PATCH, &format!("/projects/{dp}"), Some(&admin), Some(body)).await;
    assert_eq!(s, 200, "{v}");
    assert_token_dead(&cloud, &admin, &on_dp, "project disabled").await;
    assert_token_alive(&cloud, &admin, &on_p, "token on another project").await;
    issue_refused(&cloud, password_auth(&name, PASSWORD, Some(project_scope(&dp))), "scope to a disabled project")
        .await;

    // Removing a role: the user's token on that project dies, not on others.
    let (name, id) = new_user("role").await;
    let (on_p, _) = token(&cloud, &name, project_scope(&p)).await;
    let (on_q, _) = token(&cloud, &name, project_scope(&q)).await;
    let (s, v) =
        call(&cloud, Method::DELETE, &format!("/projects/{p}/users/{id}/roles/{member}"), Some(&admin), None).await;
    assert_eq!(s, 204, "{v}");
    assert_token_dead(&cloud, &admin, &on_p, "role removed").await;
    assert_token_alive(&cloud, &admin, &on_q, "role kept on the other project").await;
    issue_refused(&cloud, password_auth(&name, PASSWORD, Some(project_scope(&p))), "scope after role removal").await;

    // Leaving the group that gave the role.
    let name = unique("grp");
    let id = create_user(&cloud, &admin, &name).await;
    let g = cloud.create(&admin, "/groups", "group", json!({"name": unique("inv-g")})).await;
    let g = g["id"].as_str().unwrap();
    grant(&cloud, &admin, &format!("/groups/{g}/users/{id}")).await;
    grant(&cloud, &admin, &format!("/projects/{p}/groups/{g}/roles/{member}")).await;
    let (t, body) = token(&cloud, &name, project_scope(&p)).await;
    assert_eq!(token_roles(&body), vec!["member", "reader"]);
    let (s, _) = call(&cloud, Method::DELETE, &format!("/groups/{g}/users/{id}"), Some(&admin), None).await;
    assert_eq!(s, 204);
    assert_token_dead(&cloud, &admin, &t, "left the group").await;

    // Deleting the user.
    let (name, id) = new_user("del").await;
    let (t, _) = token(&cloud, &name, project_scope(&p)).await;
    let (s, _) = call(&cloud, Method::DELETE, &format!("/users/{id}"), Some(&admin), None).await;
    assert_eq!(s, 204);
    assert_token_dead(&cloud, &admin, &t, "user deleted").await;
    cloud.stop().await;
}

#[tokio::test]
async fn implied_and_inherited_roles_and_the_role_assignment_report() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    let base = format!("{}/identity/v3", cloud.url);
    let prior = cloud.create(&admin, "/roles", "role", json!({"name": unique("prior")})).await;
    let implied = cloud.create(&admin, "/roles", "role", json!({"name": unique("implied")})).await;
    let (prior_id, implied_id) = (prior["id"].as_str().unwrap(), implied["id"].as_str().unwrap());
    let (s, v) =
        call(&cloud, Method::PUT, &format!("/roles/{prior_id}/implies/{implied_id}"), Some(&admin), None).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["role_inference"]["prior_role"]["id"], json!(prior_id));
    assert_eq!(v["role_inference"]["implies"]["id"], json!(implied_id));
    // A cycle is refused.
    let (s, v) =
        call(&cloud, Method::PUT, &format!("/roles/{implied_id}/implies/{prior_id}"), Some(&admin), None).await;
    assert!(s == 403 || s == 400, "an implied-role cycle: {s} {v}");

    // parent -> child -> grandchild, plus a sibling project in the domain.
    let parent = create_project(&cloud, &admin, json!({"name": unique("parent")})).await;
    let child = create_project(&cloud, &admin, json!({"name": unique("child"), "parent_id": parent})).await;
    let grandchild = create_project(&cloud, &admin, json!({"name": unique("gc"), "parent_id": child})).await;
    let (uname, u) = {
        let n = unique("ra-user");
        let id = create_user(&cloud, &admin, &n).await;
        (n, id)
    };
    let member = role_id(&cloud, &admin, "member").await;

    // The prior role on the child: both roles in the token.
    grant(&cloud, &admin, &format!("/projects/{child}/users/{u}/roles/{prior_id}")).await;
    let (_, body) = token(&cloud, &uname, project_scope(&child)).await;
    let mut want = vec![prior["name"].as_str().unwrap().to_string(), implied["name"].as_str().unwrap().to_string()];
    want.sort();
    assert_eq!(token_roles(&body), want, "implied roles are in the token");

    // member inherited from the parent: on every project below it, not on the parent.
    grant(&cloud, &admin, &format!("/OS-INHERIT/projects/{parent}/users/{u}/roles/{member}/inherited_to_projects"))
        .await;
    let (_, body) = token(&cloud, &uname, project_scope(&grandchild)).await;
    assert_eq!(token_roles(&body), vec!["member", "reader"], "inherited to the grandchild");
    let (_, body) = token(&cloud, &uname, project_scope(&child)).await;
    assert!(token_roles(&body).contains(&"member".to_string()), "inherited to the child");
    issue_refused(&cloud, password_auth(&uname, PASSWORD, Some(project_scope(&parent))), "no role on the parent").await;
    let listed =
        get(&cloud, &format!("/OS-INHERIT/projects/{parent}/users/{u}/roles/inherited_to_projects"), &admin).await;
    assert_eq!(ids(&listed, "roles"), vec![member.clone()]);
    let direct = get(&cloud, &format!("/projects/{parent}/users/{u}/roles"), &admin).await;
    assert!(ids(&direct, "roles").is_empty(), "an inherited grant is not a direct one: {direct}");

    // A role through a group.
    let g = cloud.create(&admin, "/groups", "group", json!({"name": unique("ra-g")})).await;
    let gid = g["id"].as_str().unwrap();
    let sibling = create_project(&cloud, &admin, json!({"name": unique("sibling")})).await;
    grant(&cloud, &admin, &format!("/groups/{gid}/users/{u}")).await;
    grant(&cloud, &admin, &format!("/projects/{sibling}/groups/{gid}/roles/{member}")).await;
    let (_, body) = token(&cloud, &uname, project_scope(&sibling)).await;
    assert_eq!(token_roles(&body), vec!["member", "reader"], "roles through a group");

    // The assignments as stored.
    let v = get(&cloud, &format!("/role_assignments?user.id={u}"), &admin).await;
    let rows = v["role_assignments"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    let inherited = rows.iter().find(|r| r["role"]["id"] == json!(member)).expect("the inherited grant");
    assert_eq!(inherited["scope"], json!({"project": {"id": parent}, "OS-INHERIT:inherited_to": "projects"}));
    assert_eq!(
        inherited["links"]["assignment"],
        json!(format!("{base}/OS-INHERIT/projects/{parent}/users/{u}/roles/{member}/inherited_to_projects"))
    );
    let v = get(&cloud, &format!("/role_assignments?group.id={gid}"), &admin).await;
    assert_eq!(v["role_assignments"][0]["group"], json!({"id": gid}));
    let (s, v) =
        call(&cloud, Method::GET, &format!("/role_assignments?effective&group.id={gid}"), Some(&admin), None).await;
    assert_error(s, &v, 400, "effective with a group filter");

    // The effective report with names.
    let v = get(&cloud, &format!("/role_assignments?effective&include_names&user.id={u}"), &admin).await;
    let rows = v["role_assignments"].as_array().unwrap();
    let find = |role: &str, project: &str| {
        rows.iter()
            .find(|r| r["role"]["id"] == json!(role) && r["scope"]["project"]["id"] == json!(project))
            .unwrap_or_else(|| panic!("no effective row for role {role} on {project}: {v}"))
    };
    let user_ref = json!({"id": u, "name": uname, "domain": {"id": "default", "name": "Default"}});
    // Direct: names everywhere, a link to the grant.
    let row = find(prior_id, &child);
    assert_eq!(row["user"], user_ref);
    assert_eq!(row["role"], json!({"id": prior_id, "name": prior["name"]}));
    let child_name = get(&cloud, &format!("/projects/{child}"), &admin).await["project"]["name"].clone();
    assert_eq!(
        row["scope"],
        json!({"project": {"id": child, "name": child_name, "domain": {"id": "default", "name": "Default"}}})
    );
    assert_eq!(row["links"], json!({"assignment": format!("{base}/projects/{child}/users/{u}/roles/{prior_id}")}));
    // Implied: the link is the prior role's grant.
    let row = find(implied_id, &child);
    assert_eq!(row["links"]["assignment"], json!(format!("{base}/projects/{child}/users/{u}/roles/{prior_id}")));
    assert!(row["links"]["prior_role"].is_string(), "{row}");
    // Inherited: one row per project below, linking to the inherited grant.
    for p in [&child, &grandchild] {
        let row = find(&member, p);
        assert_eq!(row["scope"]["OS-INHERIT:inherited_to"], json!("projects"), "{row}");
        assert_eq!(
            row["links"]["assignment"],
            json!(format!("{base}/OS-INHERIT/projects/{parent}/users/{u}/roles/{member}/inherited_to_projects"))
        );
    }
    assert!(!rows.iter().any(|r| r["scope"]["project"]["id"] == json!(parent)), "nothing effective on the parent: {v}");
    // Through the group: the user, with a membership link.
    let row = find(&member, &sibling);
    assert_eq!(row["user"], user_ref);
    assert!(row.get("group").is_none(), "{row}");
    assert_eq!(
        row["links"],
        json!({"assignment": format!("{base}/projects/{sibling}/groups/{gid}/roles/{member}"),
               "membership": format!("{base}/groups/{gid}/users/{u}")})
    );
    // Filters narrow the report.
    let v =
        get(&cloud, &format!("/role_assignments?effective&user.id={u}&scope.project.id={grandchild}"), &admin).await;
    let roles: Vec<&str> =
        v["role_assignments"].as_array().unwrap().iter().map(|r| r["role"]["id"].as_str().unwrap()).collect();
    let reader = role_id(&cloud, &admin, "reader").await;
    assert_eq!(roles.len(), 2, "{v}");
    assert!(roles.contains(&member.as_str()) && roles.contains(&reader.as_str()), "{v}");
    let v = get(&cloud, &format!("/role_assignments?scope.project.id={parent}&include_subtree=true"), &admin).await;
    let scopes: Vec<&str> = v["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scope"]["project"]["id"].as_str().unwrap())
        .collect();
    assert!(scopes.contains(&parent.as_str()) && scopes.contains(&child.as_str()), "{v}");

    // Deleting the implication takes the implied role out of new tokens.
    let (s, _) =
        call(&cloud, Method::DELETE, &format!("/roles/{prior_id}/implies/{implied_id}"), Some(&admin), None).await;
    assert_eq!(s, 204);
    let (_, body) = token(&cloud, &uname, project_scope(&child)).await;
    let roles = token_roles(&body);
    assert!(!roles.contains(&implied["name"].as_str().unwrap().to_string()), "{roles:?}");
    cloud.stop().await;
}

#[tokio::test]
async fn project_hierarchy_and_list_filters() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    let member = role_id(&cloud, &admin, "member").await;
    let tag = unique("hier");
    let top = create_project(&cloud, &admin, json!({"name": format!("{tag}-top")})).await;
    let c1 = create_project(&cloud, &admin, json!({"name": format!("{tag}-c1"), "parent_id": top})).await;
    let c2 =
        create_project(&cloud, &admin, json!({"name": format!("{tag}-c2"), "parent_id": top, "enabled": false})).await;
    let gc = create_project(&cloud, &admin, json!({"name": format!("{tag}-gc"), "parent_id": c1})).await;
    let uname = unique("hier-user");
    let u = create_user(&cloud, &admin, &uname).await;
    for p in [&top, &c1, &gc] {
        grant(&cloud, &admin, &format!("/projects/{p}/users/{u}/roles/{member}")).await;
    }
    let v = get(&cloud, &format!("/projects/{c1}"), &admin).await;
    assert_eq!(v["project"]["parent_id"], json!(top));
    assert_eq!(v["project"]["domain_id"], json!("default"));
    let v = get(&cloud, &format!("/projects/{top}"), &admin).await;
    assert_eq!(v["project"]["parent_id"], json!("default"), "a top-level project's parent is its domain");

    // The lists hold the projects the caller has a role on.
    let (on_gc, _) = token(&cloud, &uname, project_scope(&gc)).await;
    let v = get(&cloud, &format!("/projects/{gc}?parents_as_list"), &on_gc).await;
    let mut parents: Vec<String> = v["project"]["parents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["project"]["id"].as_str().unwrap().to_string())
        .collect();
    parents.sort();
    let mut want = vec![top.clone(), c1.clone()];
    want.sort();
    assert_eq!(parents, want, "{v}");
    let (on_top, _) = token(&cloud, &uname, project_scope(&top)).await;
    let v = get(&cloud, &format!("/projects/{top}?subtree_as_list"), &on_top).await;
    let mut subtree: Vec<String> = v["project"]["subtree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["project"]["id"].as_str().unwrap().to_string())
        .collect();
    subtree.sort();
    let mut want = vec![c1.clone(), gc.clone()];
    want.sort();
    assert_eq!(subtree, want, "c2 is left out: no role there: {v}");
    assert_eq!(
        v["project"]["subtree"][0]["project"]["links"]["self"].as_str().map(|s| s.contains("/v3/projects/")),
        Some(true)
    );
    // As ids: the whole hierarchy, up to the domain.
    let v = get(&cloud, &format!("/projects/{gc}?parents_as_ids"), &admin).await;
    assert_eq!(v["project"]["parents"], json!({ c1.clone(): { top.clone(): { "default": null } } }));
    let v = get(&cloud, &format!("/projects/{top}?subtree_as_ids"), &admin).await;
    assert_eq!(v["project"]["subtree"], json!({ c1.clone(): { gc.clone(): null }, c2.clone(): null }));
    let (s, v) =
        call(&cloud, Method::GET, &format!("/projects/{gc}?parents_as_list&parents_as_ids"), Some(&admin), None).await;
    assert_error(s, &v, 400, "parents as list and as ids");
    let (s, v) =
        call(&cloud, Method::GET, &format!("/projects/{top}?subtree_as_list&subtree_as_ids"), Some(&admin), None).await;
    assert_error(s, &v, 400, "subtree as list and as ids");

    // A project with children cannot be deleted; a parent elsewhere is refused.
    let (s, v) = call(&cloud, Method::DELETE, &format!("/projects/{c1}"), Some(&admin), None).await;
    assert_error(s, &v, 403, "delete a project with children");
    let other_domain = cloud.create(&admin, "/domains", "domain", json!({"name": unique("hier-d")})).await;
    let body = json!({"project": {"name": unique("x"), "parent_id": top, "domain_id": other_domain["id"]}});
    let (s, v) = call(&cloud, Method::POST, "/projects", Some(&admin), Some(body)).await;
    assert_error(s, &v, 400, "a parent in another domain");

    // Filters.
    let names = |v: &Value, key: &str| -> Vec<String> {
        let mut n: Vec<String> =
            v[key].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap().to_string()).collect();
        n.sort();
        n
    };
    let v = get(&cloud, &format!("/projects?name__contains={tag}-c"), &admin).await;
    assert_eq!(names(&v, "projects"), vec![format!("{tag}-c1"), format!("{tag}-c2")]);
    let v = get(&cloud, &format!("/projects?name__icontains={}-C", tag.to_uppercase()), &admin).await;
    assert_eq!(names(&v, "projects").len(), 2, "{v}");
    let v = get(&cloud, &format!("/projects?name__startswith={tag}&enabled=false"), &admin).await;
    assert_eq!(names(&v, "projects"), vec![format!("{tag}-c2")]);
    let v = get(&cloud, &format!("/projects?name__startswith={tag}&enabled=true"), &admin).await;
    assert_eq!(names(&v, "projects").len(), 3, "{v}");
    let v = get(&cloud, &format!("/projects?parent_id={top}"), &admin).await;
    assert_eq!(names(&v, "projects"), vec![format!("{tag}-c1"), format!("{tag}-c2")]);
    let v = get(&cloud, &format!("/projects?name={tag}-gc"), &admin).await;
    assert_eq!(ids(&v, "projects"), vec![gc.clone()]);
    let v = get(&cloud, &format!("/users?name__contains={}", &uname[5..]), &admin).await;
    assert_eq!(ids(&v, "users"), vec![u.clone()]);
    let (s, v) =
        call(&cloud, Method::PATCH, &format!("/users/{u}"), Some(&admin), Some(json!({"user": {"enabled": false}})))
            .await;
    assert_eq!(s, 200, "{v}");
    let v = get(&cloud, "/users?enabled=false", &admin).await;
    assert_eq!(ids(&v, "users"), vec![u.clone()]);
    let v = get(&cloud, "/users?enabled=true", &admin).await;
    assert!(!ids(&v, "users").contains(&u) && !ids(&v, "users").is_empty());
    let v = get(&cloud, &format!("/users?name__endswith={}", &uname[uname.len() - 6..]), &admin).await;
    assert_eq!(ids(&v, "users"), vec![u.clone()]);
    cloud.stop().await;
}

#[tokio::test]
async fn application_credentials() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    let member = role_id(&cloud, &admin, "member").await;
    let p = create_project(&cloud, &admin, json!({"name": unique("ac-p")})).await;
    let uname = unique("ac-user");
    let u = create_user(&cloud, &admin, &uname).await;
    grant(&cloud, &admin, &format!("/projects/{p}/users/{u}/roles/{member}")).await;
    let (t, _) = token(&cloud, &uname, project_scope(&p)).await;
    let path = format!("/users/{u}/application_credentials");

    let rule = json!({"service": "compute", "path": "/v2.1/servers", "method": "GET"});
    let body = json!({"name": "ci", "description": "for CI", "roles": [{"name": "reader"}], "access_rules": [rule]});
    let ac = cloud.create(&t, &path, "application_credential", body).await;
    let (acid, secret) = (ac["id"].as_str().unwrap().to_string(), ac["secret"].as_str().unwrap().to_string());
    assert_eq!(ac["project_id"], json!(p));
    assert_eq!(ac["unrestricted"], json!(false));
    assert_eq!(ac["roles"].as_array().unwrap().len(), 1);
    assert_eq!(ac["roles"][0]["name"], json!("reader"));
    assert_eq!(ac["access_rules"][0]["service"], json!("compute"));
    assert_eq!(ac["access_rules"][0]["path"], json!("/v2.1/servers"));
    assert_eq!(ac["access_rules"][0]["method"], json!("GET"));
    // The secret is shown once, never again.
    let v = get(&cloud, &format!("{path}/{acid}"), &t).await;
    assert!(v["application_credential"].get("secret").is_none(), "{v}");
    assert_eq!(v["application_credential"]["access_rules"], ac["access_rules"]);
    // Access rules are stored for the user.
    let rules = get(&cloud, &format!("/users/{u}/access_rules"), &t).await;
    assert_eq!(rules["access_rules"].as_array().unwrap().len(), 1, "{rules}");
    assert_eq!(rules["access_rules"][0]["id"], ac["access_rules"][0]["id"]);
    let rid = ac["access_rules"][0]["id"].as_str().unwrap();
    let v = get(&cloud, &format!("/users/{u}/access_rules/{rid}"), &t).await;
    assert_eq!(v["access_rule"]["path"], json!("/v2.1/servers"));
    let (s, v) = call(&cloud, Method::DELETE, &format!("/users/{u}/access_rules/{rid}"), Some(&t), None).await;
    assert_error(s, &v, 403, "delete an access rule in use");
    // A name is unique per user.
    let (s, v) =
        call(&cloud, Method::POST, &path, Some(&t), Some(json!({"application_credential": {"name": "ci"}}))).await;
    assert_error(s, &v, 409, "duplicate name");
    // Only roles the token has.
    let body = json!({"application_credential": {"name": "adm", "roles": [{"name": "admin"}]}});
    let (s, v) = call(&cloud, Method::POST, &path, Some(&t), Some(body)).await;
    assert!(s == 403 || s == 400 || s == 404, "a role the token lacks: {s} {v}");

    // Authentication by id, and by name and user.
    let by_id = json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": {"id": acid, "secret": secret}}}});
    let (act, body) = issue_ok(&cloud, by_id.clone()).await;
    let tok = &body["token"];
    assert_eq!(tok["methods"], json!(["application_credential"]));
    assert_eq!(tok["project"]["id"], json!(p));
    assert_eq!(tok["user"]["id"], json!(u));
    assert_eq!(token_roles(&body), vec!["reader"], "only the credential's roles");
    assert_eq!(tok["application_credential"]["id"], json!(acid));
    assert_eq!(tok["application_credential"]["restricted"], json!(true));
    assert_eq!(tok["application_credential"]["access_rules"][0]["path"], json!("/v2.1/servers"));
    for user in [json!({"id": u}), json!({"name": uname, "domain": {"id": "default"}})] {
        let by_name = json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"name": "ci", "user": user, "secret": secret}}}});
        let (_, body) = issue_ok(&cloud, by_name).await;
        assert_eq!(body["token"]["application_credential"]["id"], json!(acid));
    }
    let mut wrong = by_id.clone();
    wrong["auth"]["identity"]["application_credential"]["secret"] = json!("wrong");
    issue_refused(&cloud, wrong, "wrong secret").await;
    let mut scoped = by_id.clone();
    scoped["auth"]["scope"] = project_scope(&p);
    issue_refused(&cloud, scoped, "an application credential asking for a scope").await;
    // The token of a credential without access rules works on the API; as
    // it is restricted it may not manage application credentials, nor be
    // rescoped.
    let plain = cloud.create(&t, &path, "application_credential", json!({"name": "plain"})).await;
    let plain_id = plain["id"].as_str().unwrap().to_string();
    let plain_auth = json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": {"id": plain_id, "secret": plain["secret"]}}}});
    let (pt, body) = issue_ok(&cloud, plain_auth.clone()).await;
    assert_eq!(token_roles(&body), vec!["member", "reader"], "by default the roles of the creating token");
    assert!(token_works(&cloud, &pt).await);
    let (s, v) =
        call(&cloud, Method::POST, &path, Some(&pt), Some(json!({"application_credential": {"name": "x"}}))).await;
    assert_error(s, &v, 403, "a restricted credential makes a credential");
    let (s, v) = call(&cloud, Method::DELETE, &format!("{path}/{acid}"), Some(&pt), None).await;
    assert_error(s, &v, 403, "a restricted credential deletes a credential");
    let (s, _, v) = issue(&cloud, "", token_auth(&pt, Some(project_scope(&p)))).await;
    assert!(s == 401 || s == 403, "rescope an application credential token: {s} {v}");

    // Deleting a credential kills its tokens; an access rule stays.
    for (id, tok) in [(&acid, &act), (&plain_id, &pt)] {
        let (s, v) = call(&cloud, Method::DELETE, &format!("{path}/{id}"), Some(&t), None).await;
        assert_eq!(s, 204, "{v}");
        assert_token_dead(&cloud, &admin, tok, "credential deleted").await;
    }
    issue_refused(&cloud, by_id, "a deleted credential").await;
    issue_refused(&cloud, plain_auth, "a deleted credential").await;
    let rules = get(&cloud, &format!("/users/{u}/access_rules"), &t).await;
    assert_eq!(rules["access_rules"].as_array().unwrap().len(), 1, "{rules}");
    let (s, v) = call(&cloud, Method::DELETE, &format!("/users/{u}/access_rules/{rid}"), Some(&t), None).await;
    assert_eq!(s, 204, "an unused access rule: {v}");
    let rules = get(&cloud, &format!("/users/{u}/access_rules"), &t).await;
    assert_eq!(rules["access_rules"], json!([]));

    // An expiring credential: its tokens end with it, then it is refused.
    let now = identity::model::now_micros();
    let (s, v) = call(
        &cloud,
        Method::POST,
        &path,
        Some(&t),
        Some(json!({"application_credential": {"name": "past", "expires_at": identity::model::iso(now - 60_000_000)}})),
    )
    .await;
    assert_error(s, &v, 400, "an expiry in the past");
    let expires = identity::model::iso(now + 2_000_000);
    let body = json!({"name": "short", "expires_at": expires, "secret": "my-own-secret"});
    let ac = cloud.create(&t, &path, "application_credential", body).await;
    let auth = json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": {"id": ac["id"], "secret": "my-own-secret"}}}});
    let (short, body) = issue_ok(&cloud, auth.clone()).await;
    assert!(body["token"]["expires_at"].as_str().unwrap() <= expires.as_str(), "{body}");
    tokio::time::sleep(Duration::from_millis(2300)).await;
    issue_refused(&cloud, auth, "an expired application credential").await;
    let (s, v) = validate(&cloud, &admin, &short).await;
    assert_error(s, &v, 404, "a token of an expired application credential");

    // Listing: the user's own credentials, filtered by name.
    let v = get(&cloud, &format!("{path}?name=short"), &t).await;
    assert_eq!(ids(&v, "application_credentials"), vec![ac["id"].as_str().unwrap().to_string()]);
    cloud.stop().await;
}

#[tokio::test]
async fn lockout_after_failed_attempts() {
    let cloud = TestCloud::start_with(|c| {
        c.identity.security_compliance.lockout_failure_attempts = 2;
        c.identity.security_compliance.lockout_duration = 2;
    })
    .await;
    let admin = cloud.admin_token().await;
    let (name, other, immune) = (unique("lock"), unique("lock-other"), unique("lock-immune"));
    let id = create_user(&cloud, &admin, &name).await;
    create_user(&cloud, &admin, &other).await;
    let body = json!({"name": immune, "password": PASSWORD, "options": {"ignore_lockout_failure_attempts": true}});
    cloud.create(&admin, "/users", "user", body).await;

    // A success in between resets the count.
    issue_refused(&cloud, password_auth(&name, "wrong", None), "wrong password 1").await;
    issue_ok(&cloud, password_auth(&name, PASSWORD, None)).await;
    issue_refused(&cloud, password_auth(&name, "wrong", None), "wrong password 1 again").await;
    issue_ok(&cloud, password_auth(&name, PASSWORD, None)).await;

    // Two failures in a row lock the account, even for the right password.
    issue_refused(&cloud, password_auth(&name, "wrong", None), "wrong password 1").await;
    issue_refused(&cloud, password_auth(&name, "wrong", None), "wrong password 2").await;
    let msg = issue_refused(&cloud, password_auth(&name, PASSWORD, None), "locked").await;
    assert_eq!(msg, format!("The account is locked for user: {id}."));
    // Others are not affected; a user with the option never locks.
    for _ in 0..3 {
        issue_refused(&cloud, password_auth(&other, "wrong", None), "other").await;
        issue_refused(&cloud, password_auth(&immune, "wrong", None), "immune").await;
    }
    issue_ok(&cloud, password_auth(&immune, PASSWORD, None)).await;
    let msg = issue_refused(&cloud, password_auth(&other, PASSWORD, None), "other locked").await;
    assert!(msg.starts_with("The account is locked"), "{msg}");

    // An admin resetting the password unlocks.
    let (s, v) = call(
        &cloud,
        Method::PATCH,
        &format!("/users/{id}"),
        Some(&admin),
        Some(json!({"user": {"password": "reset-pw"}})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    cloud.token(&name, "reset-pw", Value::Null).await;

    // The lock ends after lockout_duration.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    issue_ok(&cloud, password_auth(&other, PASSWORD, None)).await;
    cloud.stop().await;
}

/// `security_compliance`: a password an admin set must be changed on first
/// use; a user's own change must differ from its recent passwords; an
/// expired password is refused with Keystone's message.
#[tokio::test]
async fn password_rules_first_use_history_and_expiry() {
    let cloud = TestCloud::start_with(|c| {
        c.identity.security_compliance.change_password_upon_first_use = true;
        c.identity.security_compliance.unique_last_password_count = 2;
        c.identity.security_compliance.password_expires_days = 1;
    })
    .await;
    let admin = cloud.admin_token().await;
    let name = unique("pwrules");
    let id = create_user(&cloud, &admin, &name).await;
    let msg = issue_refused(&cloud, password_auth(&name, PASSWORD, None), "first use").await;
    assert_eq!(msg, format!("The password is expired and needs to be changed for user: {id}."));

    let change = |old: &str, new: &str| json!({"user": {"original_password": old, "password": new}});
    let path = format!("/users/{id}/password");
    let (s, v) = call(&cloud, Method::POST, &path, None, Some(change(PASSWORD, PASSWORD))).await;
    let msg = assert_error(s, &v, 400, "reusing the current password");
    assert!(msg.contains("cannot be identical to a previous password"), "{msg}");
    let (s, v) = call(&cloud, Method::POST, &path, None, Some(change("wrong", "new-pass-1"))).await;
    assert_error(s, &v, 401, "wrong original password");
    let (s, v) = call(&cloud, Method::POST, &path, None, Some(change(PASSWORD, "new-pass-1"))).await;
    assert_eq!(s, 204, "{v}");
    let (_, body) = issue_ok(&cloud, password_auth(&name, "new-pass-1", None)).await;
    let expires = body["token"]["user"]["password_expires_at"].as_str().expect("an expiry, per password_expires_days");
    assert!(expires.len() >= 19, "{expires}");

    // A user with ignore_change_password_upon_first_use may use an admin-set password.
    let free = unique("pwfree");
    let body = json!({"name": free, "password": PASSWORD, "options": {"ignore_change_password_upon_first_use": true}});
    cloud.create(&admin, "/users", "user", body).await;
    issue_ok(&cloud, password_auth(&free, PASSWORD, None)).await;
    cloud.stop().await;
}

/// Rotates the Fernet keys the way `ferrostack identity fernet-rotate`
/// does, with several controllers on one database and key repository: a
/// controller started after the rotation accepts tokens issued before it,
/// and the controller started before accepts tokens issued after it (the
/// staged key), until the original key is purged. Revocations reach the
/// other controllers too.
#[tokio::test]
async fn fernet_rotation_across_controllers() {
    let a = TestCloud::start().await;
    let keys = a
        .config
        .identity
        .fernet_key_repository
        .clone()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| a.config.data_dir.join("fernet-keys"));
    let db_url = a.config.database_url();
    let admin_a = a.admin_token().await;
    let (t1, _) = a.token("admin", testkit::ADMIN_PASSWORD, project_scope_by_name("admin")).await;

    identity::token::rotate(&keys, 3).unwrap();
    let key_repo = keys.display().to_string();
    let b = TestCloud::start_with(|c| {
        c.database.url = db_url.clone();
        c.identity.fernet_key_repository = Some(key_repo.clone());
    })
    .await;
    let admin_b = b.admin_token().await;
    assert_token_alive(&b, &admin_b, &t1, "a token from before the rotation").await;
    let (t2, _) = b.token("admin", testkit::ADMIN_PASSWORD, project_scope_by_name("admin")).await;
    assert_token_alive(&a, &admin_a, &t2, "the staged key decrypts on the older controller").await;

    // A revocation on one controller reaches the other.
    let (t3, _) = a.token("admin", testkit::ADMIN_PASSWORD, project_scope_by_name("admin")).await;
    assert_token_alive(&b, &admin_b, &t3, "before revocation").await;
    let resp =
        a.request(Method::DELETE, "/auth/tokens", Some(&admin_a)).header("X-Subject-Token", &t3).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let mut gone = false;
    for _ in 0..50 {
        if validate(&b, &admin_b, &t3).await.0 == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the revocation did not reach the other controller");

    // One more rotation (three keys kept: staged, primary, one secondary)
    // purges the key of t1 but not that of t2.
    identity::token::rotate(&keys, 3).unwrap();
    let c = TestCloud::start_with(|c| {
        c.database.url = db_url.clone();
        c.identity.fernet_key_repository = Some(key_repo.clone());
    })
    .await;
    let admin_c = c.admin_token().await;
    let (s, v) = validate(&c, &admin_c, &t1).await;
    assert_error(s, &v, 404, "a token whose key was purged");
    assert!(!token_works(&c, &t1).await);
    assert_token_alive(&c, &admin_c, &t2, "a token of a key still held").await;
    c.stop().await;
    b.stop().await;
    a.stop().await;
}
