//! The authorization matrix: every Placement route against six callers,
//! with the status Placement's default policies give
//! (`crates/placement/src/policies.rs`, upstream `placement/policies`).
//!
//! Callers, in the order of each row's expectations: `none` (no token),
//! `reader` (reader on project A), `member` (member on A), `other` (member
//! on project B), `admin` (the bootstrap admin, scoped to the admin
//! project), `service` (the `service` role on a project of its own),
//! `sysadmin` (the admin with a system-scoped token: Placement's rules are
//! for project scope, so secure RBAC refuses it, as
//! `*-secure-rbac.yaml` expect).
//!
//! Nearly every rule is `admin_or_service_api`; `GET /usages` also lets a
//! reader of the queried project in; the reshaper is for the `service` role
//! only, so even the admin is refused. Placement's resources belong to no
//! project, so a caller without the role gets 403, never 404.
//!
//! Paths and bodies name fixtures with `{name}`: shared ones (`{rp}`,
//! `{consumer}`, `{A}`, `{B}`, `{agg}`), fresh values per request (`{uniq}`
//! upper-case hex, `{new}` a uuid), and `{f_*}` resources made anew for
//! every caller, so one caller's successful write cannot change the next
//! caller's answer.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::json;

use crate::common::*;

const PERSONAS: [&str; 7] = ["none", "reader", "member", "other", "admin", "service", "sysadmin"];

/// Admin or service only.
const OPS_200: [u16; 7] = [401, 403, 403, 403, 200, 200, 403];
const OPS_201: [u16; 7] = [401, 403, 403, 403, 201, 201, 403];
const OPS_204: [u16; 7] = [401, 403, 403, 403, 204, 204, 403];

struct Route {
    method: &'static str,
    mv: &'static str,
    path: &'static str,
    body: &'static str,
    expect: [u16; 7],
}

const fn r(method: &'static str, path: &'static str, body: &'static str, expect: [u16; 7]) -> Route {
    Route { method, mv: "1.39", path, body, expect }
}

const fn rv(method: &'static str, mv: &'static str, path: &'static str, body: &'static str, expect: [u16; 7]) -> Route {
    Route { method, mv, path, body, expect }
}

const ALLOC: &str = r#"{"allocations": {"{rp}": {"resources": {"VCPU": 1}}}, "project_id": "{A}", "user_id": "u",
    "consumer_generation": null, "consumer_type": "INSTANCE"}"#;

#[rustfmt::skip]
const ROUTES: &[Route] = &[
    // ---- the version document ----
    r("GET", "/", "", [200; 7]),
    // ---- resource providers ----
    r("GET", "/resource_providers", "", OPS_200),
    r("GET", "/resource_providers?resources=VCPU:1&required=HW_CPU_X86_SSE", "", OPS_200),
    r("POST", "/resource_providers", r#"{"name": "rp-{uniq}"}"#, OPS_200),
    rv("POST", "1.19", "/resource_providers", r#"{"name": "rp-{uniq}"}"#, OPS_201),
    r("GET", "/resource_providers/{rp}", "", OPS_200),
    // Refused before Placement says whether it exists.
    r("GET", "/resource_providers/{new}", "", [401, 403, 403, 403, 404, 404, 403]),
    r("PUT", "/resource_providers/{f_rp}", r#"{"name": "renamed-{uniq}"}"#, OPS_200),
    r("DELETE", "/resource_providers/{f_rp}", "", OPS_204),
    // ---- inventories ----
    r("GET", "/resource_providers/{rp}/inventories", "", OPS_200),
    r("POST", "/resource_providers/{f_rp}/inventories", r#"{"resource_class": "VCPU", "total": 4}"#, OPS_201),
    r("PUT", "/resource_providers/{f_rp}/inventories", r#"{"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4}}}"#, OPS_200),
    r("DELETE", "/resource_providers/{f_rp_inv}/inventories", "", OPS_204),
    r("GET", "/resource_providers/{rp}/inventories/VCPU", "", OPS_200),
    r("PUT", "/resource_providers/{f_rp_inv}/inventories/VCPU", r#"{"resource_provider_generation": 1, "total": 16}"#, OPS_200),
    r("DELETE", "/resource_providers/{f_rp_inv}/inventories/VCPU", "", OPS_204),
    // ---- usages, aggregates, allocations, traits of a provider ----
    r("GET", "/resource_providers/{rp}/usages", "", OPS_200),
    r("GET", "/resource_providers/{rp}/aggregates", "", OPS_200),
    r("PUT", "/resource_providers/{f_rp}/aggregates", r#"{"resource_provider_generation": 0, "aggregates": ["{agg}"]}"#, OPS_200),
    rv("PUT", "1.1", "/resource_providers/{f_rp}/aggregates", r#"["{agg}"]"#, OPS_200),
    r("GET", "/resource_providers/{rp}/allocations", "", OPS_200),
    r("GET", "/resource_providers/{rp}/traits", "", OPS_200),
    r("PUT", "/resource_providers/{f_rp}/traits", r#"{"resource_provider_generation": 0, "traits": ["HW_CPU_X86_SSE"]}"#, OPS_200),
    r("DELETE", "/resource_providers/{f_rp}/traits", "", OPS_204),
    // ---- resource classes ----
    r("GET", "/resource_classes", "", OPS_200),
    r("POST", "/resource_classes", r#"{"name": "CUSTOM_C_{uniq}"}"#, OPS_201),
    r("GET", "/resource_classes/VCPU", "", OPS_200),
    r("PUT", "/resource_classes/CUSTOM_P_{uniq}", "", OPS_201),
    rv("PUT", "1.6", "/resource_classes/{f_class}", r#"{"name": "CUSTOM_R_{uniq}"}"#, OPS_200),
    r("DELETE", "/resource_classes/{f_class}", "", OPS_204),
    // ---- traits ----
    r("GET", "/traits", "", OPS_200),
    r("GET", "/traits/HW_CPU_X86_SSE", "", OPS_204),
    r("PUT", "/traits/CUSTOM_T_{uniq}", "", OPS_201),
    r("DELETE", "/traits/{f_trait}", "", OPS_204),
    // ---- allocations ----
    r("GET", "/allocations/{consumer}", "", OPS_200),
    r("PUT", "/allocations/{new}", ALLOC, OPS_204),
    r("DELETE", "/allocations/{f_consumer}", "", OPS_204),
    r("POST", "/allocations", r#"{"{new}": {"allocations": {"{rp}": {"resources": {"VCPU": 1}}}, "project_id": "{A}",
        "user_id": "u", "consumer_generation": null, "consumer_type": "INSTANCE"}}"#, OPS_204),
    // ---- allocation candidates ----
    r("GET", "/allocation_candidates?resources=VCPU:1", "", OPS_200),
    rv("GET", "1.10", "/allocation_candidates?resources=VCPU:1", "", OPS_200),
    // ---- usages: also a reader of the project asked about ----
    r("GET", "/usages?project_id={A}", "", [401, 200, 200, 403, 200, 200, 403]),
    r("GET", "/usages?project_id={A}&user_id=u", "", [401, 200, 200, 403, 200, 200, 403]),
    r("GET", "/usages?project_id={B}", "", [401, 403, 403, 200, 200, 200, 403]),
    rv("GET", "1.9", "/usages?project_id={A}", "", [401, 200, 200, 403, 200, 200, 403]),
    // ---- the reshaper: the service role only ----
    r("POST", "/reshaper", r#"{"inventories": {"{f_rp_inv}": {"resource_provider_generation": 1,
        "inventories": {"VCPU": {"total": 16}}}}, "allocations": {}}"#, [401, 403, 403, 403, 403, 204, 403]),
];

struct Fixture<'a> {
    pl: &'a Pl,
    tokens: [Option<String>; 7],
    vars: HashMap<String, String>,
}

impl<'a> Fixture<'a> {
    async fn new(pl: &'a Pl) -> Fixture<'a> {
        let a = pl.project("authz-a").await;
        let b = pl.project("authz-b").await;
        let svc = pl.project("authz-svc").await;
        let reader = pl.persona(&a, "reader").await;
        let member = pl.persona(&a, "member").await;
        let other = pl.persona(&b, "member").await;
        let service = pl.persona(&svc, "service").await;
        let rp = pl.rp("authz").await;
        pl.inventory(&rp, json!({"VCPU": {"total": 100000}, "DISK_GB": {"total": 1000}})).await;
        let consumer = new_uuid();
        pl.allocate(&consumer, on(&rp, json!({"VCPU": 1}))).await;
        let mut vars = HashMap::new();
        for (k, v) in [("A", a), ("B", b), ("rp", rp), ("consumer", consumer), ("agg", new_uuid())] {
            vars.insert(k.to_string(), v);
        }
        let sysadmin = pl.cloud.system_admin_token().await;
        let tokens =
            [None, Some(reader), Some(member), Some(other), Some(pl.admin.clone()), Some(service), Some(sysadmin)];
        Fixture { pl, tokens, vars }
    }

    async fn fresh(&self, name: &str) -> String {
        let pl = self.pl;
        match name {
            "f_rp" => pl.rp(&unique("f-rp")).await,
            "f_rp_inv" => {
                let rp = pl.rp(&unique("f-rp-inv")).await;
                pl.inventory(&rp, json!({"VCPU": {"total": 8}})).await;
                rp
            }
            "f_consumer" => {
                let c = new_uuid();
                pl.allocate(&c, on(&self.vars["rp"], json!({"VCPU": 1}))).await;
                c
            }
            "f_class" => {
                let c = format!("CUSTOM_F_{}", upper_uniq());
                pl.class(&c).await;
                c
            }
            "f_trait" => {
                let t = format!("CUSTOM_F_{}", upper_uniq());
                pl.req(Method::PUT, LATEST, &format!("/traits/{t}"), None).await.expect(201, &t);
                t
            }
            other => panic!("unknown fresh fixture {other}"),
        }
    }

    async fn vars_for(&self, templates: &[&str]) -> HashMap<String, String> {
        let mut vars = self.vars.clone();
        vars.insert("uniq".into(), upper_uniq());
        vars.insert("new".into(), new_uuid());
        let re = regex::Regex::new(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}").unwrap();
        for t in templates {
            for c in re.captures_iter(t) {
                let name = &c[1];
                if name.starts_with("f_") && !vars.contains_key(name) {
                    let v = self.fresh(name).await;
                    vars.insert(name.to_string(), v);
                }
            }
        }
        vars
    }
}

fn upper_uniq() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_uppercase()
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
    let pl = Pl::start().await;
    let fx = Fixture::new(&pl).await;
    let mut failures = Vec::new();
    for route in ROUTES {
        for (p, persona) in PERSONAS.iter().enumerate() {
            let vars = fx.vars_for(&[route.path, route.body]).await;
            let path = fill(route.path, &vars);
            let method = Method::from_bytes(route.method.as_bytes()).unwrap();
            let mut req = pl.cloud.placement_request(method.clone(), &path, fx.tokens[p].as_deref(), route.mv);
            if !route.body.is_empty() {
                req = req.header("Content-Type", "application/json").body(fill(route.body, &vars));
            }
            let resp = Resp::from(req.send().await.unwrap()).await;
            let want = route.expect[p];
            let what = format!("{} {} at {} as {persona}", route.method, route.path, route.mv);
            if resp.status != want {
                failures.push(format!("{what}: {} (want {want}) {}", resp.status, resp.text));
                continue;
            }
            // Refusals carry Placement's error body.
            if want == 401 || want == 403 {
                if let Err(e) = placement_error(&resp.body, want, UNDEFINED) {
                    failures.push(format!("{what}: {e}"));
                }
            }
            if want == 403 {
                let d = resp.body["errors"][0]["detail"].as_str().unwrap_or_default();
                if !d.contains("Policy does not allow placement:") {
                    failures.push(format!("{what}: 403 detail {d:?} does not name the policy"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks failed:\n{}",
        failures.len(),
        ROUTES.len() * PERSONAS.len(),
        failures.join("\n")
    );
    pl.stop().await;
}

/// Writes refused by policy leave nothing behind.
#[tokio::test]
async fn refused_writes_change_nothing() {
    let pl = Pl::start().await;
    let a = pl.project("a").await;
    let member = pl.persona(&a, "member").await;
    let rp = pl.rp("target").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 8}})).await;
    let before = pl.get_ok(LATEST, &format!("/resource_providers/{rp}")).await;
    let c = new_uuid();
    for (method, path, body) in [
        (Method::PUT, format!("/resource_providers/{rp}"), json!({"name": "stolen"})),
        (
            Method::PUT,
            format!("/resource_providers/{rp}/inventories"),
            json!({"resource_provider_generation": 1, "inventories": {}}),
        ),
        (
            Method::PUT,
            format!("/allocations/{c}"),
            json!({"allocations": on(&rp, json!({"VCPU": 8})), "project_id": a, "user_id": "u",
            "consumer_generation": null, "consumer_type": "INSTANCE"}),
        ),
        (Method::DELETE, format!("/resource_providers/{rp}"), json!({})),
        (Method::PUT, "/traits/CUSTOM_STOLEN".to_string(), json!({})),
        (Method::POST, "/resource_classes".to_string(), json!({"name": "CUSTOM_STOLEN"})),
    ] {
        let r = pl.call(method.clone(), LATEST, &path, Some(&member), Some(body)).await;
        r.error(403, UNDEFINED, &format!("{method} {path}"));
    }
    assert_eq!(pl.get_ok(LATEST, &format!("/resource_providers/{rp}")).await, before);
    assert_eq!(pl.usages(&rp).await, json!({"VCPU": 0}));
    pl.get(LATEST, "/traits/CUSTOM_STOLEN").await.error(404, UNDEFINED, "trait made");
    pl.get(LATEST, "/resource_classes/CUSTOM_STOLEN").await.error(404, UNDEFINED, "class made");
    // An invalid token is a 401 with Placement's body, not a 403.
    let r = pl.call(Method::GET, LATEST, "/resource_providers", Some("not-a-token"), None).await;
    r.error(401, UNDEFINED, "bad token");
    pl.stop().await;
}

/// `GET /usages` shows a project reader its own project's usage only.
#[tokio::test]
async fn project_reader_sees_own_usages() {
    let pl = Pl::start().await;
    let a = pl.project("a").await;
    let b = pl.project("b").await;
    let reader = pl.persona(&a, "reader").await;
    let rp = pl.rp("rp").await;
    pl.inventory(&rp, json!({"VCPU": {"total": 8}})).await;
    for (project, n) in [(&a, 2), (&b, 3)] {
        let r = pl
            .put(
                "1.28",
                &format!("/allocations/{}", new_uuid()),
                json!({"allocations": on(&rp, json!({"VCPU": n})), "project_id": project, "user_id": "u", "consumer_generation": null}),
            )
            .await;
        r.expect(204, "allocate");
    }
    let r = pl.call(Method::GET, "1.9", &format!("/usages?project_id={a}"), Some(&reader), None).await;
    assert_eq!(r.expect(200, "own project"), &json!({"usages": {"VCPU": 2}}));
    let r = pl.call(Method::GET, "1.9", &format!("/usages?project_id={b}"), Some(&reader), None).await;
    r.error_with(403, UNDEFINED, "Policy does not allow placement:usages to be performed.", "other project");
    // Without project_id the target has no project: refused before validation.
    let r = pl.call(Method::GET, "1.9", "/usages", Some(&reader), None).await;
    r.error(403, UNDEFINED, "no project_id");
    pl.stop().await;
}
