//! The authorization matrix: every identity route against six callers, with
//! the status Keystone's default (secure RBAC, scope-enforcing) policy gives.
//!
//! Callers, in the order of each row's expectations:
//! `none` (no token), `reader` (reader on project A), `member` (member on
//! A), `other` (member on project B), `admin` (the bootstrap admin scoped to
//! the admin project), `sysadmin` (the admin, system-scoped).
//!
//! A row is one line: method, path, JSON body (`""` for none) and the
//! expected statuses. Paths and bodies name fixtures with `{name}`:
//! shared ones set up once (`{A}`, `{member}`, `{role_reader}`, ...),
//! `{self}` (the caller's user id), `{uniq}` (a fresh unique string), and
//! `{f_*}` resources made anew through the admin API for every caller, so
//! that one caller's successful delete or update cannot change the next
//! caller's answer.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{json, Value};
use testkit::TestCloud;

use crate::common::*;

const PERSONAS: [&str; 6] = ["none", "reader", "member", "other", "admin", "sysadmin"];

/// Only a cloud admin (project-scoped admin or system admin).
const ADMIN_200: [u16; 6] = [401, 403, 403, 403, 200, 200];
const ADMIN_201: [u16; 6] = [401, 403, 403, 403, 201, 201];
const ADMIN_204: [u16; 6] = [401, 403, 403, 403, 204, 204];
/// Anyone with a token.
const ANY_200: [u16; 6] = [401, 200, 200, 200, 200, 200];
/// Whoever has a role on project A, and admins.
const A_200: [u16; 6] = [401, 200, 200, 403, 200, 200];
const A_204: [u16; 6] = [401, 204, 204, 403, 204, 204];
/// The member user itself (it owns the target), and admins.
const OWNER_200: [u16; 6] = [401, 403, 200, 403, 200, 200];
const OWNER_201: [u16; 6] = [401, 403, 201, 403, 201, 201];
const OWNER_204: [u16; 6] = [401, 403, 204, 403, 204, 204];

struct Route {
    method: &'static str,
    path: &'static str,
    body: &'static str,
    /// `X-Subject-Token` template for `/auth/tokens`; empty for none.
    subject: &'static str,
    expect: [u16; 6],
}

const fn r(method: &'static str, path: &'static str, body: &'static str, expect: [u16; 6]) -> Route {
    Route { method, path, body, subject: "", expect }
}

const fn subj(method: &'static str, subject: &'static str, expect: [u16; 6]) -> Route {
    Route { method, path: "/auth/tokens", body: "", subject, expect }
}

#[rustfmt::skip]
const ROUTES: &[Route] = &[
    // ---- version document and auth ----
    r("GET", "", "", [200; 6]),
    r("POST", "/auth/tokens", r#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"id":"{member}","password":"test-password-1"}}}}}"#, [201; 6]),
    subj("GET", "{member_token}", [401, 403, 200, 403, 200, 200]),
    subj("HEAD", "{member_token}", [401, 403, 200, 403, 200, 200]),
    subj("DELETE", "{f_member_token}", [401, 403, 204, 403, 204, 204]),
    // Keystone builds /auth/catalog only for project-scoped tokens.
    r("GET", "/auth/catalog", "", [401, 200, 200, 200, 200, 403]),
    r("GET", "/auth/projects", "", ANY_200),
    r("GET", "/auth/domains", "", ANY_200),
    r("GET", "/auth/system", "", ANY_200),
    // ---- domains ----
    r("GET", "/domains", "", ADMIN_200),
    r("GET", "/domains/default", "", ANY_200),
    r("GET", "/domains/{D2}", "", ADMIN_200),
    r("POST", "/domains", r#"{"domain":{"name":"d-{uniq}"}}"#, ADMIN_201),
    r("PATCH", "/domains/{f_domain}", r#"{"domain":{"description":"changed"}}"#, ADMIN_200),
    r("DELETE", "/domains/{f_domain}", "", ADMIN_204),
    // ---- projects and tags ----
    r("GET", "/projects", "", ADMIN_200),
    r("GET", "/projects/{A}", "", A_200),
    r("GET", "/projects/{B}", "", [401, 403, 403, 200, 200, 200]),
    // Keystone refuses (403) before it says whether a project exists.
    r("GET", "/projects/{missing}", "", [401, 403, 403, 403, 404, 404]),
    r("POST", "/projects", r#"{"project":{"name":"p-{uniq}"}}"#, ADMIN_201),
    r("PATCH", "/projects/{f_project}", r#"{"project":{"description":"changed"}}"#, ADMIN_200),
    r("DELETE", "/projects/{f_project}", "", ADMIN_204),
    r("GET", "/projects/{A}/tags", "", A_200),
    r("PUT", "/projects/{f_project}/tags", r#"{"tags":["x","y"]}"#, ADMIN_200),
    r("DELETE", "/projects/{f_project}/tags", "", ADMIN_204),
    r("GET", "/projects/{A}/tags/t1", "", A_204),
    r("HEAD", "/projects/{A}/tags/t1", "", A_204),
    r("PUT", "/projects/{f_project}/tags/new-tag", "", ADMIN_201),
    r("DELETE", "/projects/{f_project}/tags/t1", "", ADMIN_204),
    // ---- users ----
    r("GET", "/users", "", ADMIN_200),
    r("GET", "/users/{member}", "", OWNER_200),
    r("GET", "/users/{missing}", "", [401, 403, 403, 403, 404, 404]),
    r("POST", "/users", r#"{"user":{"name":"u-{uniq}"}}"#, ADMIN_201),
    r("PATCH", "/users/{f_user}", r#"{"user":{"email":"changed@example.com"}}"#, ADMIN_200),
    r("DELETE", "/users/{f_user}", "", ADMIN_204),
    // Changing one's own password is not policy-enforced: the old password is the proof.
    r("POST", "/users/{f_user}/password", r#"{"user":{"password":"new-{uniq}","original_password":"test-password-1"}}"#, [204; 6]),
    r("GET", "/users/{member}/groups", "", OWNER_200),
    r("GET", "/users/{member}/projects", "", OWNER_200),
    // ---- groups ----
    r("GET", "/groups", "", ADMIN_200),
    r("GET", "/groups/{G}", "", ADMIN_200),
    r("POST", "/groups", r#"{"group":{"name":"g-{uniq}"}}"#, ADMIN_201),
    r("PATCH", "/groups/{f_group}", r#"{"group":{"description":"changed"}}"#, ADMIN_200),
    r("DELETE", "/groups/{f_group}", "", ADMIN_204),
    r("GET", "/groups/{G}/users", "", ADMIN_200),
    r("PUT", "/groups/{f_group}/users/{f_user}", "", ADMIN_204),
    r("GET", "/groups/{G}/users/{member}", "", ADMIN_204),
    r("HEAD", "/groups/{G}/users/{member}", "", ADMIN_204),
    r("DELETE", "/groups/{f_member_group}/users/{f_user}", "", ADMIN_204),
    // ---- roles, implied roles ----
    r("GET", "/roles", "", ADMIN_200),
    r("GET", "/roles/{role_reader}", "", ADMIN_200),
    r("POST", "/roles", r#"{"role":{"name":"r-{uniq}"}}"#, ADMIN_201),
    r("PATCH", "/roles/{f_role}", r#"{"role":{"description":"changed"}}"#, ADMIN_200),
    r("DELETE", "/roles/{f_role}", "", ADMIN_204),
    r("GET", "/roles/{role_member}/implies", "", ADMIN_200),
    r("PUT", "/roles/{f_role}/implies/{f_role2}", "", ADMIN_201),
    r("GET", "/roles/{role_member}/implies/{role_reader}", "", ADMIN_200),
    r("HEAD", "/roles/{role_member}/implies/{role_reader}", "", ADMIN_204),
    r("DELETE", "/roles/{f_implication}", "", ADMIN_204),
    r("GET", "/role_inferences", "", ADMIN_200),
    r("GET", "/role_assignments", "", ADMIN_200),
    r("GET", "/role_assignments?scope.project.id={A}&include_subtree=true", "", ADMIN_200),
    // ---- project grants ----
    r("GET", "/projects/{A}/users/{member}/roles", "", ADMIN_200),
    r("PUT", "/projects/{A}/users/{f_user}/roles/{role_reader}", "", ADMIN_204),
    r("GET", "/projects/{A}/users/{member}/roles/{role_member}", "", ADMIN_204),
    r("HEAD", "/projects/{A}/users/{member}/roles/{role_member}", "", ADMIN_204),
    r("DELETE", "/projects/{A}/users/{f_granted_user}/roles/{role_reader}", "", ADMIN_204),
    r("GET", "/projects/{A}/groups/{G}/roles", "", ADMIN_200),
    r("PUT", "/projects/{A}/groups/{f_group}/roles/{role_reader}", "", ADMIN_204),
    r("GET", "/projects/{A}/groups/{G}/roles/{role_reader}", "", ADMIN_204),
    r("HEAD", "/projects/{A}/groups/{G}/roles/{role_reader}", "", ADMIN_204),
    r("DELETE", "/projects/{A}/groups/{f_granted_group}/roles/{role_reader}", "", ADMIN_204),
    // ---- domain grants ----
    r("GET", "/domains/default/users/{f_granted_user}/roles", "", ADMIN_200),
    r("PUT", "/domains/default/users/{f_user}/roles/{role_reader}", "", ADMIN_204),
    r("GET", "/domains/default/users/{f_granted_user}/roles/{role_reader}", "", ADMIN_204),
    r("HEAD", "/domains/default/users/{f_granted_user}/roles/{role_reader}", "", ADMIN_204),
    r("DELETE", "/domains/default/users/{f_granted_user}/roles/{role_reader}", "", ADMIN_204),
    r("GET", "/domains/default/groups/{f_granted_group}/roles", "", ADMIN_200),
    r("PUT", "/domains/default/groups/{f_group}/roles/{role_reader}", "", ADMIN_204),
    r("GET", "/domains/default/groups/{f_granted_group}/roles/{role_reader}", "", ADMIN_204),
    r("DELETE", "/domains/default/groups/{f_granted_group}/roles/{role_reader}", "", ADMIN_204),
    // ---- inherited grants (OS-INHERIT) ----
    r("GET", "/OS-INHERIT/projects/{A}/users/{f_granted_user}/roles/inherited_to_projects", "", ADMIN_200),
    r("PUT", "/OS-INHERIT/projects/{A}/users/{f_user}/roles/{role_reader}/inherited_to_projects", "", ADMIN_204),
    r("GET", "/OS-INHERIT/projects/{A}/users/{f_granted_user}/roles/{role_reader}/inherited_to_projects", "", ADMIN_204),
    r("HEAD", "/OS-INHERIT/projects/{A}/users/{f_granted_user}/roles/{role_reader}/inherited_to_projects", "", ADMIN_204),
    r("DELETE", "/OS-INHERIT/projects/{A}/users/{f_granted_user}/roles/{role_reader}/inherited_to_projects", "", ADMIN_204),
    r("GET", "/OS-INHERIT/domains/default/groups/{f_granted_group}/roles/inherited_to_projects", "", ADMIN_200),
    r("PUT", "/OS-INHERIT/domains/default/groups/{f_group}/roles/{role_reader}/inherited_to_projects", "", ADMIN_204),
    r("GET", "/OS-INHERIT/domains/default/groups/{f_granted_group}/roles/{role_reader}/inherited_to_projects", "", ADMIN_204),
    r("DELETE", "/OS-INHERIT/domains/default/groups/{f_granted_group}/roles/{role_reader}/inherited_to_projects", "", ADMIN_204),
    // ---- system grants ----
    r("GET", "/system/users/{admin_user}/roles", "", ADMIN_200),
    r("PUT", "/system/users/{f_user}/roles/{role_reader}", "", ADMIN_204),
    r("GET", "/system/users/{admin_user}/roles/{role_admin}", "", ADMIN_204),
    r("HEAD", "/system/users/{admin_user}/roles/{role_admin}", "", ADMIN_204),
    r("DELETE", "/system/users/{f_granted_user}/roles/{role_reader}", "", ADMIN_204),
    r("GET", "/system/groups/{f_granted_group}/roles", "", ADMIN_200),
    r("PUT", "/system/groups/{f_group}/roles/{role_reader}", "", ADMIN_204),
    r("GET", "/system/groups/{f_granted_group}/roles/{role_reader}", "", ADMIN_204),
    r("DELETE", "/system/groups/{f_granted_group}/roles/{role_reader}", "", ADMIN_204),
    // ---- regions ----
    r("GET", "/regions", "", ANY_200),
    r("GET", "/regions/RegionOne", "", ANY_200),
    r("POST", "/regions", r#"{"region":{"description":"r"}}"#, ADMIN_201),
    r("PUT", "/regions/reg-{uniq}", r#"{"region":{"description":"r"}}"#, ADMIN_201),
    r("PATCH", "/regions/{f_region}", r#"{"region":{"description":"changed"}}"#, ADMIN_200),
    r("DELETE", "/regions/{f_region}", "", ADMIN_204),
    // ---- services ----
    r("GET", "/services", "", ADMIN_200),
    r("GET", "/services/{service}", "", ADMIN_200),
    r("POST", "/services", r#"{"service":{"type":"t-{uniq}","name":"n"}}"#, ADMIN_201),
    r("PATCH", "/services/{f_service}", r#"{"service":{"description":"changed"}}"#, ADMIN_200),
    r("DELETE", "/services/{f_service}", "", ADMIN_204),
    // ---- endpoints ----
    r("GET", "/endpoints", "", ADMIN_200),
    r("GET", "/endpoints/{endpoint}", "", ADMIN_200),
    r("POST", "/endpoints", r#"{"endpoint":{"interface":"public","url":"http://example.com/{uniq}","service_id":"{service}"}}"#, ADMIN_201),
    r("PATCH", "/endpoints/{f_endpoint}", r#"{"endpoint":{"url":"http://example.com/changed"}}"#, ADMIN_200),
    r("DELETE", "/endpoints/{f_endpoint}", "", ADMIN_204),
    // ---- application credentials and access rules ----
    r("GET", "/users/{member}/application_credentials", "", OWNER_200),
    // Only for oneself, and only with a project-scoped token.
    r("POST", "/users/{self}/application_credentials", r#"{"application_credential":{"name":"ac-{uniq}"}}"#, [401, 201, 201, 201, 201, 403]),
    r("POST", "/users/{member}/application_credentials", r#"{"application_credential":{"name":"ac-{uniq}"}}"#, [401, 403, 201, 403, 403, 403]),
    r("GET", "/users/{member}/application_credentials/{member_ac}", "", OWNER_200),
    // The owner Keystone checks is the credential's, not the one in the path.
    r("GET", "/users/{self}/application_credentials/{member_ac}", "", OWNER_200),
    r("DELETE", "/users/{member}/application_credentials/{f_member_ac}", "", OWNER_204),
    r("GET", "/users/{member}/access_rules", "", [401, 403, 200, 403, 403, 200]),
    r("GET", "/users/{member}/access_rules/{member_rule}", "", [401, 403, 200, 403, 403, 200]),
    r("DELETE", "/users/{member}/access_rules/{f_member_rule}", "", [401, 403, 204, 403, 403, 204]),
    // ---- credentials ----
    r("GET", "/credentials", "", ANY_200),
    r("GET", "/credentials/{member_cred}", "", OWNER_200),
    r("POST", "/credentials", r#"{"credential":{"user_id":"{self}","type":"cert","blob":"b-{uniq}"}}"#, [401, 201, 201, 201, 201, 201]),
    r("POST", "/credentials", r#"{"credential":{"user_id":"{member}","type":"cert","blob":"b-{uniq}"}}"#, OWNER_201),
    r("PATCH", "/credentials/{f_member_cred}", r#"{"credential":{"blob":"changed"}}"#, OWNER_200),
    r("DELETE", "/credentials/{f_member_cred}", "", OWNER_204),
    // ---- unified limits ----
    r("GET", "/registered_limits", "", ANY_200),
    r("GET", "/registered_limits/{registered_limit}", "", ANY_200),
    r("POST", "/registered_limits", r#"{"registered_limits":[{"service_id":"{service}","resource_name":"res-{uniq}","default_limit":5}]}"#, ADMIN_201),
    r("PATCH", "/registered_limits/{f_registered_limit}", r#"{"registered_limit":{"default_limit":7}}"#, ADMIN_200),
    r("DELETE", "/registered_limits/{f_registered_limit}", "", ADMIN_204),
    r("GET", "/limits", "", ANY_200),
    r("GET", "/limits/model", "", ANY_200),
    r("GET", "/limits/{limit}", "", A_200),
    r("POST", "/limits", r#"{"limits":[{"project_id":"{f_project}","service_id":"{service}","resource_name":"authz-res","resource_limit":3}]}"#, ADMIN_201),
    r("PATCH", "/limits/{f_limit}", r#"{"limit":{"resource_limit":4}}"#, ADMIN_200),
    r("DELETE", "/limits/{f_limit}", "", ADMIN_204),
];

/// The shared fixtures and one token per persona.
struct Fixture<'a> {
    cloud: &'a TestCloud,
    admin: String,
    tokens: [Option<String>; 6],
    user_ids: [String; 6],
    member_name: String,
    vars: HashMap<String, String>,
}

impl<'a> Fixture<'a> {
    async fn new(cloud: &'a TestCloud) -> Fixture<'a> {
        let admin = cloud.admin_token().await;
        let sysadmin = cloud.system_admin_token().await;
        let mut vars = HashMap::new();
        let a = create_project(cloud, &admin, json!({"name": unique("authz-a"), "tags": ["t1"]})).await;
        let b = create_project(cloud, &admin, json!({"name": unique("authz-b")})).await;
        let d2 = cloud.create(&admin, "/domains", "domain", json!({"name": unique("authz-d2")})).await;
        let role_admin = role_id(cloud, &admin, "admin").await;
        let role_member = role_id(cloud, &admin, "member").await;
        let role_reader = role_id(cloud, &admin, "reader").await;
        let names = [unique("reader"), unique("member"), unique("other")];
        let reader = create_user(cloud, &admin, &names[0]).await;
        let member = create_user(cloud, &admin, &names[1]).await;
        let other = create_user(cloud, &admin, &names[2]).await;
        grant(cloud, &admin, &format!("/projects/{a}/users/{reader}/roles/{role_reader}")).await;
        grant(cloud, &admin, &format!("/projects/{a}/users/{member}/roles/{role_member}")).await;
        grant(cloud, &admin, &format!("/projects/{b}/users/{other}/roles/{role_member}")).await;
        let g = cloud.create(&admin, "/groups", "group", json!({"name": unique("authz-g")})).await;
        let g = g["id"].as_str().unwrap().to_string();
        grant(cloud, &admin, &format!("/groups/{g}/users/{member}")).await;
        grant(cloud, &admin, &format!("/projects/{a}/groups/{g}/roles/{role_reader}")).await;
        let service = cloud.create(&admin, "/services", "service", json!({"type": "authz-svc", "name": "authz"})).await;
        let service = service["id"].as_str().unwrap().to_string();
        let endpoint = cloud
            .create(
                &admin,
                "/endpoints",
                "endpoint",
                json!({"interface": "public", "url": "http://authz.example.com", "service_id": service}),
            )
            .await;
        let (s, rl) = call(
            cloud,
            Method::POST,
            "/registered_limits",
            Some(&admin),
            Some(json!({"registered_limits": [{"service_id": service, "resource_name": "authz-res", "default_limit": 10}]})),
        )
        .await;
        assert_eq!(s, 201, "{rl}");
        let (s, limit) = call(
            cloud,
            Method::POST,
            "/limits",
            Some(&admin),
            Some(json!({"limits": [{"project_id": a, "service_id": service, "resource_name": "authz-res", "resource_limit": 5}]})),
        )
        .await;
        assert_eq!(s, 201, "{limit}");

        let reader_tok = token(cloud, &names[0], project_scope(&a)).await.0;
        let member_tok = token(cloud, &names[1], project_scope(&a)).await.0;
        let other_tok = token(cloud, &names[2], project_scope(&b)).await.0;
        let ac = cloud
            .create(
                &member_tok,
                &format!("/users/{member}/application_credentials"),
                "application_credential",
                json!({"name": "member-ac", "access_rules": [{"service": "identity", "path": "/v3/users", "method": "GET"}]}),
            )
            .await;
        let cred = cloud
            .create(&admin, "/credentials", "credential", json!({"user_id": member, "type": "cert", "blob": "member"}))
            .await;
        let admin_user = get(cloud, "/users?name=admin", &admin).await["users"][0]["id"].as_str().unwrap().to_string();

        for (k, v) in [
            ("A", a),
            ("B", b),
            ("D2", d2["id"].as_str().unwrap().to_string()),
            ("G", g),
            ("member", member.clone()),
            ("admin_user", admin_user.clone()),
            ("role_admin", role_admin),
            ("role_member", role_member),
            ("role_reader", role_reader),
            ("service", service),
            ("endpoint", endpoint["id"].as_str().unwrap().to_string()),
            ("registered_limit", rl["registered_limits"][0]["id"].as_str().unwrap().to_string()),
            ("limit", limit["limits"][0]["id"].as_str().unwrap().to_string()),
            ("member_token", member_tok.clone()),
            ("member_ac", ac["id"].as_str().unwrap().to_string()),
            ("member_rule", ac["access_rules"][0]["id"].as_str().unwrap().to_string()),
            ("member_cred", cred["id"].as_str().unwrap().to_string()),
        ] {
            vars.insert(k.to_string(), v);
        }
        Fixture {
            cloud,
            tokens: [None, Some(reader_tok), Some(member_tok), Some(other_tok), Some(admin.clone()), Some(sysadmin)],
            user_ids: [member.clone(), reader, member, other, admin_user.clone(), admin_user],
            admin,
            member_name: names[1].clone(),
            vars,
        }
    }

    fn var(&self, vars: &HashMap<String, String>, k: &str) -> String {
        vars.get(k).unwrap_or_else(|| panic!("no fixture {k}")).clone()
    }

    async fn created_id(&self, path: &str, key: &str, body: Value) -> String {
        self.cloud.create(&self.admin, path, key, body).await["id"].as_str().unwrap().to_string()
    }

    /// Grants `role_reader` to `actor` ("users/<id>" or "groups/<id>") on
    /// project A and the default domain (direct and inherited) and the system.
    async fn grant_everywhere(&self, vars: &HashMap<String, String>, actor: &str) {
        let (a, role) = (self.var(vars, "A"), self.var(vars, "role_reader"));
        for path in [
            format!("/projects/{a}/{actor}/roles/{role}"),
            format!("/OS-INHERIT/projects/{a}/{actor}/roles/{role}/inherited_to_projects"),
            format!("/domains/default/{actor}/roles/{role}"),
            format!("/OS-INHERIT/domains/default/{actor}/roles/{role}/inherited_to_projects"),
            format!("/system/{actor}/roles/{role}"),
        ] {
            grant(self.cloud, &self.admin, &path).await;
        }
    }

    /// Makes the fresh resource `{name}` stands for and records its id.
    async fn fresh(&self, name: &str, vars: &mut HashMap<String, String>) {
        if vars.contains_key(name) {
            return;
        }
        let member_tok = self.var(vars, "member_token");
        let member = self.var(vars, "member");
        let value = match name {
            "f_domain" => self.created_id("/domains", "domain", json!({"name": unique("fd"), "enabled": false})).await,
            "f_project" => self.created_id("/projects", "project", json!({"name": unique("fp"), "tags": ["t1"]})).await,
            "f_user" => create_user(self.cloud, &self.admin, &unique("fu")).await,
            "f_group" => self.created_id("/groups", "group", json!({"name": unique("fg")})).await,
            "f_member_group" => {
                Box::pin(self.fresh("f_user", vars)).await;
                let g = self.created_id("/groups", "group", json!({"name": unique("fg")})).await;
                grant(self.cloud, &self.admin, &format!("/groups/{g}/users/{}", vars["f_user"])).await;
                g
            }
            "f_granted_user" => {
                let u = create_user(self.cloud, &self.admin, &unique("fgu")).await;
                self.grant_everywhere(vars, &format!("users/{u}")).await;
                u
            }
            "f_granted_group" => {
                let g = self.created_id("/groups", "group", json!({"name": unique("fgg")})).await;
                self.grant_everywhere(vars, &format!("groups/{g}")).await;
                g
            }
            "f_role" | "f_role2" => self.created_id("/roles", "role", json!({"name": unique("fr")})).await,
            "f_implication" => {
                let p = self.created_id("/roles", "role", json!({"name": unique("fr")})).await;
                let i = self.created_id("/roles", "role", json!({"name": unique("fr")})).await;
                let path = format!("/roles/{p}/implies/{i}");
                let (s, v) = call(self.cloud, Method::PUT, &path, Some(&self.admin), None).await;
                assert_eq!(s, 201, "PUT {path}: {v}");
                format!("{p}/implies/{i}")
            }
            "f_region" => self.created_id("/regions", "region", json!({"description": "fresh"})).await,
            "f_service" => self.created_id("/services", "service", json!({"type": unique("fs")})).await,
            "f_endpoint" => {
                let body =
                    json!({"interface": "internal", "url": "http://fresh.example.com", "service_id": vars["service"]});
                self.created_id("/endpoints", "endpoint", body).await
            }
            "f_registered_limit" | "f_limit" => {
                let body = json!({"registered_limits": [{"service_id": vars["service"], "resource_name": unique("frl"), "default_limit": 1}]});
                let (s, v) = call(self.cloud, Method::POST, "/registered_limits", Some(&self.admin), Some(body)).await;
                assert_eq!(s, 201, "{v}");
                let rl = &v["registered_limits"][0];
                if name == "f_registered_limit" {
                    rl["id"].as_str().unwrap().to_string()
                } else {
                    let body = json!({"limits": [{"project_id": vars["A"], "service_id": vars["service"],
                        "resource_name": rl["resource_name"], "resource_limit": 1}]});
                    let (s, v) = call(self.cloud, Method::POST, "/limits", Some(&self.admin), Some(body)).await;
                    assert_eq!(s, 201, "{v}");
                    v["limits"][0]["id"].as_str().unwrap().to_string()
                }
            }
            "f_member_ac" => {
                let path = format!("/users/{member}/application_credentials");
                let ac = self
                    .cloud
                    .create(&member_tok, &path, "application_credential", json!({"name": unique("fac")}))
                    .await;
                ac["id"].as_str().unwrap().to_string()
            }
            "f_member_rule" => {
                // Access rules outlive the application credential that made them.
                let path = format!("/users/{member}/application_credentials");
                let rule = json!({"service": "identity", "path": format!("/v3/{}", unique("x")), "method": "GET"});
                let body = json!({"name": unique("fac"), "access_rules": [rule]});
                let ac = self.cloud.create(&member_tok, &path, "application_credential", body).await;
                let del = format!("{path}/{}", ac["id"].as_str().unwrap());
                let (s, v) = call(self.cloud, Method::DELETE, &del, Some(&member_tok), None).await;
                assert_eq!(s, 204, "{v}");
                ac["access_rules"][0]["id"].as_str().unwrap().to_string()
            }
            "f_member_cred" => {
                let body = json!({"user_id": member, "type": "cert", "blob": unique("blob")});
                self.created_id("/credentials", "credential", body).await
            }
            "f_member_token" => token(self.cloud, &self.member_name, project_scope(&vars["A"])).await.0,
            other => panic!("unknown fresh fixture {other}"),
        };
        vars.insert(name.to_string(), value);
    }

    /// The variables for one request of persona `p`, fresh resources made.
    async fn vars_for(&self, p: usize, templates: &[&str]) -> HashMap<String, String> {
        let mut vars = self.vars.clone();
        vars.insert("self".into(), self.user_ids[p].clone());
        vars.insert("uniq".into(), unique("u"));
        vars.insert("missing".into(), missing_id());
        let re = regex::Regex::new(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}").unwrap();
        for t in templates {
            for c in re.captures_iter(t) {
                let name = &c[1];
                if name.starts_with("f_") {
                    self.fresh(name, &mut vars).await;
                }
            }
        }
        vars
    }
}

fn fill(template: &str, vars: &HashMap<String, String>) -> String {
    let re = regex::Regex::new(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}").unwrap();
    re.replace_all(template, |c: &regex::Captures| {
        vars.get(&c[1]).unwrap_or_else(|| panic!("no fixture {{{}}} for {template}", &c[1])).clone()
    })
    .into_owned()
}

#[tokio::test]
async fn authorization_matrix() {
    let cloud = TestCloud::start().await;
    let fx = Fixture::new(&cloud).await;
    let mut failures = Vec::new();
    for route in ROUTES {
        for (p, persona) in PERSONAS.iter().enumerate() {
            let vars = fx.vars_for(p, &[route.path, route.body, route.subject]).await;
            let path = fill(route.path, &vars);
            let method = Method::from_bytes(route.method.as_bytes()).unwrap();
            let mut req = cloud.request(method.clone(), &path, fx.tokens[p].as_deref());
            if !route.body.is_empty() {
                req = req.header("Content-Type", "application/json").body(fill(route.body, &vars));
            }
            if !route.subject.is_empty() {
                req = req.header("X-Subject-Token", fill(route.subject, &vars));
            }
            let (status, body) = status_and_json(req.send().await.unwrap()).await;
            let want = route.expect[p];
            let what = format!("{} {} as {persona}", route.method, route.path);
            if status != want {
                failures.push(format!("{what}: got {status}, want {want}: {body}"));
            } else if status >= 400 && method != Method::HEAD {
                if let Err(e) = error_message(&body, status) {
                    failures.push(format!("{what}: {e}"));
                }
            }
        }
    }
    cloud.stop().await;
    assert!(failures.is_empty(), "{} of {} checks failed:\n{}", failures.len(), ROUTES.len() * 6, failures.join("\n"));
}

/// Checks the matrix leaves out: targets a caller may only partly see.
#[tokio::test]
async fn authorization_details() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    let a = create_project(&cloud, &admin, json!({"name": unique("det-a")})).await;
    let role_manager = role_id(&cloud, &admin, "manager").await;
    let role_member = role_id(&cloud, &admin, "member").await;
    let role_admin = role_id(&cloud, &admin, "admin").await;
    let (mname, uname) = (unique("manager"), unique("user"));
    let manager = create_user(&cloud, &admin, &mname).await;
    let user = create_user(&cloud, &admin, &uname).await;
    grant(&cloud, &admin, &format!("/projects/{a}/users/{manager}/roles/{role_manager}")).await;
    grant(&cloud, &admin, &format!("/projects/{a}/users/{user}/roles/{role_member}")).await;
    let mtok = token(&cloud, &mname, project_scope(&a)).await.0;
    let utok = token(&cloud, &uname, project_scope(&a)).await.0;

    // A manager may read the roles it may hand out (member, reader,
    // manager), not others; it may not list roles without a domain scope.
    let (s, v) = call(&cloud, Method::GET, &format!("/roles/{role_member}"), Some(&mtok), None).await;
    assert_eq!(s, 200, "manager reads the member role: {v}");
    let (s, v) = call(&cloud, Method::GET, &format!("/roles/{role_admin}"), Some(&mtok), None).await;
    assert_error(s, &v, 403, "manager reads the admin role");
    let (s, v) = call(&cloud, Method::GET, "/roles", Some(&mtok), None).await;
    assert_error(s, &v, 403, "project manager lists roles");

    // Everyone lists credentials, and sees only their own.
    let mine =
        cloud.create(&admin, "/credentials", "credential", json!({"user_id": user, "type": "cert", "blob": "u"})).await;
    let theirs = cloud
        .create(&admin, "/credentials", "credential", json!({"user_id": manager, "type": "cert", "blob": "m"}))
        .await;
    let listed = ids(&get(&cloud, "/credentials", &utok).await, "credentials");
    assert_eq!(listed, vec![mine["id"].as_str().unwrap().to_string()]);
    let all = ids(&get(&cloud, "/credentials", &admin).await, "credentials");
    assert!(all.contains(&theirs["id"].as_str().unwrap().to_string()));

    // The owner of a credential may not give it to another user.
    let path = format!("/credentials/{}", mine["id"].as_str().unwrap());
    let (s, v) =
        call(&cloud, Method::PATCH, &path, Some(&utok), Some(json!({"credential": {"user_id": manager}}))).await;
    assert_error(s, &v, 403, "credential given away");
    let (s, v) = call(&cloud, Method::GET, &path, Some(&admin), None).await;
    assert_eq!((s, v["credential"]["user_id"].as_str()), (200, Some(user.as_str())), "{v}");

    // An application credential of another user, asked for under one's own
    // user id: refused, not "not found".
    let ac = cloud
        .create(
            &mtok,
            &format!("/users/{manager}/application_credentials"),
            "application_credential",
            json!({"name": "m"}),
        )
        .await;
    let acid = ac["id"].as_str().unwrap();
    for method in [Method::GET, Method::DELETE] {
        let (s, v) =
            call(&cloud, method.clone(), &format!("/users/{user}/application_credentials/{acid}"), Some(&utok), None)
                .await;
        assert_error(s, &v, 403, &format!("{method} another user's application credential"));
    }
    let (s, v) =
        call(&cloud, Method::GET, &format!("/users/{manager}/application_credentials/{acid}"), Some(&mtok), None).await;
    assert_eq!(s, 200, "{v}");
    cloud.stop().await;
}
