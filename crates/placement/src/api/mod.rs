//! Placement's HTTP layer: routes, microversions, query and body parsing,
//! response shaping. Handlers are thin: they check input and policy, then
//! call `core`.

mod allocations;
mod candidates;
mod classes;
mod inventories;
mod providers;
mod traits;
mod usages;

use std::sync::Arc;

use api_core::microversion::{Version, VersionRange};
use api_core::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::core::{bad, perr, Placement};

pub const VERSIONS: VersionRange =
    VersionRange { service_type: "placement", legacy_header: None, min: Version::new(1, 0), max: Version::new(1, 39) };

pub type P = State<Arc<Placement>>;

pub fn router(p: Arc<Placement>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/resource_classes", get(classes::list).post(classes::create))
        .route("/resource_classes/{name}", get(classes::show).put(classes::update).delete(classes::delete))
        .route("/resource_providers", get(providers::list).post(providers::create))
        .route("/resource_providers/{uuid}", get(providers::show).put(providers::update).delete(providers::delete))
        .route(
            "/resource_providers/{uuid}/inventories",
            get(inventories::list).post(inventories::create).put(inventories::set_all).delete(inventories::delete_all),
        )
        .route(
            "/resource_providers/{uuid}/inventories/{rc}",
            get(inventories::show).put(inventories::update).delete(inventories::delete),
        )
        .route("/resource_providers/{uuid}/usages", get(usages::provider_usages))
        .route("/resource_providers/{uuid}/aggregates", get(traits::get_aggregates).put(traits::set_aggregates))
        .route("/resource_providers/{uuid}/allocations", get(allocations::for_provider))
        .route(
            "/resource_providers/{uuid}/traits",
            get(traits::provider_traits).put(traits::set_provider_traits).delete(traits::delete_provider_traits),
        )
        .route("/allocations", post(allocations::post_many))
        .route(
            "/allocations/{consumer}",
            get(allocations::for_consumer).put(allocations::put).delete(allocations::delete),
        )
        .route("/allocation_candidates", get(candidates::list))
        .route("/traits", get(traits::list))
        .route("/traits/{name}", get(traits::show).put(traits::put).delete(traits::delete))
        .route("/usages", get(usages::total))
        .route("/reshaper", post(allocations::reshape))
        .fallback(no_route)
        .with_state(p)
        .layer(from_fn(microversion_layer))
}

/// Paths Placement does not serve: its 404 body (and microversion headers),
/// rather than the bare 404 of the controller's outer router.
async fn no_route() -> ApiError {
    perr(StatusCode::NOT_FOUND, "")
}

/// The microversion a request asked for.
#[derive(Clone, Copy, Debug)]
pub struct Mv(pub Version);

impl Mv {
    /// True at 1.`minor` and later.
    pub fn at(&self, minor: u16) -> bool {
        self.0 >= Version::new(1, minor)
    }
    /// 404 below 1.`minor`, as Placement answers for routes that do not exist yet.
    pub fn require(&self, minor: u16) -> ApiResult<()> {
        if self.at(minor) {
            Ok(())
        } else {
            Err(perr(StatusCode::NOT_FOUND, ""))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Mv {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Mv, Response> {
        Ok(parts.extensions.get::<Mv>().copied().unwrap_or(Mv(VERSIONS.min)))
    }
}

async fn microversion_layer(mut req: Request, next: Next) -> Response {
    let version = match VERSIONS.negotiate(req.headers()) {
        Ok(v) => v,
        Err(e) if e.status == StatusCode::NOT_ACCEPTABLE => {
            // Placement's 406 names the versions it serves.
            let request_id =
                req.extensions().get::<api_core::request_id::RequestId>().map(|r| r.0.clone()).unwrap_or_default();
            let body = json!({"errors": [{
                "status": 406, "title": "Not Acceptable",
                "detail": format!("The resource could not be generated that was acceptable to your request.\n\n Unacceptable version header: {}  ", requested(req.headers())),
                "request_id": request_id,
                "max_version": VERSIONS.max.to_string(), "min_version": VERSIONS.min.to_string(),
            }]});
            let mut resp = (StatusCode::NOT_ACCEPTABLE, axum::Json(body)).into_response();
            add_version_headers(resp.headers_mut(), None);
            return resp;
        }
        Err(_) => {
            // Placement words a malformed version as microversion_parse does.
            let detail = format!("Invalid microversion: invalid version string: {}", requested(req.headers()));
            let mut resp = bad(detail).into_response();
            add_version_headers(resp.headers_mut(), None);
            return resp;
        }
    };
    req.extensions_mut().insert(Mv(version));
    // Placement's handler refuses a body without a content type, on every
    // route (after authentication: an anonymous request still gets its 401).
    let authenticated = req.extensions().get::<Arc<api_core::RequestContext>>().is_some();
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0);
    let no_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_none_or(|v| v.trim().is_empty());
    if authenticated && has_body && no_type {
        let mut resp = bad("content-type header required when content-length > 0").into_response();
        add_version_headers(resp.headers_mut(), Some(version));
        return resp;
    }
    let mut resp = next.run(req).await;
    if let Some(api_core::fault::Fault(err)) = resp.extensions_mut().get_mut::<api_core::fault::Fault>() {
        if version >= Version::new(1, 23) {
            err.code.get_or_insert("placement.undefined_code");
        } else {
            err.code = None;
        }
    }
    add_version_headers(resp.headers_mut(), Some(version));
    resp
}

fn requested(h: &HeaderMap) -> String {
    h.get_all("openstack-api-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| {
            let mut w = p.split_whitespace();
            match (w.next(), w.next()) {
                (Some(s), Some(v)) if s.eq_ignore_ascii_case("placement") => Some(v.to_string()),
                _ => None,
            }
        })
        .next_back()
        .unwrap_or_default()
}

fn add_version_headers(h: &mut HeaderMap, v: Option<Version>) {
    if let Some(v) = v {
        if let Ok(val) = HeaderValue::from_str(&format!("placement {v}")) {
            h.insert("openstack-api-version", val);
        }
    }
    h.insert(header::VARY, HeaderValue::from_static("openstack-api-version"));
}

/// `GET /`: the version document; no token needed.
async fn root(mv: Mv) -> Response {
    let body = json!({"versions": [{
        "id": format!("v{}", VERSIONS.min),
        "max_version": VERSIONS.max.to_string(),
        "min_version": VERSIONS.min.to_string(),
        "status": "CURRENT",
        "links": [{"rel": "self", "href": ""}],
    }]});
    let mut resp = axum::Json(body).into_response();
    if mv.at(15) {
        cache_headers(resp.headers_mut(), None);
    }
    resp
}

// ---------- responses ----------

pub fn http_date(rfc3339: Option<&str>) -> String {
    let t = rfc3339
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&chrono::Utc))
        .unwrap_or_else(chrono::Utc::now);
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// `last-modified` and `cache-control: no-cache` (1.15).
pub fn cache_headers(h: &mut HeaderMap, last_modified: Option<&str>) {
    if let Ok(v) = HeaderValue::from_str(&http_date(last_modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

/// A JSON response with Placement's caching headers at 1.15+.
pub fn json_response(mv: Mv, status: StatusCode, body: Value, last_modified: Option<&str>) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    if mv.at(15) {
        cache_headers(resp.headers_mut(), last_modified);
    }
    resp
}

pub fn empty(status: StatusCode) -> Response {
    let mut resp = status.into_response();
    resp.headers_mut().remove(header::CONTENT_TYPE);
    resp
}

// ---------- requests ----------

/// 406 unless the client accepts JSON (Placement's `check_accept`).
pub fn check_accept(h: &HeaderMap) -> ApiResult<()> {
    let Some(accept) = h.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    if accept.trim().is_empty() {
        return Ok(());
    }
    let ok = accept.split(',').any(|part| {
        let mut it = part.split(';');
        let media = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q_zero = it.any(|p| {
            let p = p.trim();
            p.starts_with("q=") && p[2..].trim().parse::<f32>().is_ok_and(|q| q == 0.0)
        });
        !q_zero && matches!(media.as_str(), "application/json" | "application/*" | "*/*")
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "The resource could not be generated that was acceptable to your request.\n\n Only application/json is provided  ",
        ))
    }
}

/// The body as JSON, after Placement's content-type check; then validated
/// against `schema` with Placement's messages.
pub fn json_body(h: &HeaderMap, body: &Bytes, schema: &Value) -> ApiResult<Value> {
    require_json(h)?;
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(format!("Malformed JSON: {e}")))?;
    if has_nul(&v) {
        // PostgreSQL cannot store NUL in text; no Placement name or id holds one.
        return Err(bad("Malformed JSON: strings may not contain NUL characters"));
    }
    validate(&v, schema)?;
    Ok(v)
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

pub fn require_json(h: &HeaderMap) -> ApiResult<()> {
    let ct = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    let shown = if media.is_empty() { "None" } else { media };
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "The request media type {shown} is not supported by this server.\n\n The media type {shown} is not supported, use application/json  "
        ),
    ))
}

pub fn validate(v: &Value, schema: &Value) -> ApiResult<()> {
    api_core::schema::validate(v, schema).map_err(|m| bad(format!("JSON does not validate: {m}")))
}

/// The query string as ordered (key, value) pairs, duplicates kept.
#[derive(Clone, Debug, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            raw.map(|q| form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
                .unwrap_or_default(),
        )
    }
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }
    /// The last value, as webob's `req.GET[key]` gives it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
    /// `dict(req.GET)`: one value per key (the last), as Placement validates it.
    pub fn as_object(&self) -> Value {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.0 {
            m.insert(k.clone(), Value::String(v.clone()));
        }
        Value::Object(m)
    }
    /// Validates with Placement's query-parameter message.
    pub fn validate(&self, schema: &Value) -> ApiResult<()> {
        api_core::schema::validate(&self.as_object(), schema)
            .map_err(|m| bad(format!("Invalid query string parameters: {m}")))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Query, Response> {
        let q = Query::parse(parts.uri.query());
        if q.0.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
            // No parameter may hold one, and PostgreSQL could not compare it.
            return Err(bad("Invalid query string parameters: NUL characters are not allowed").into_response());
        }
        Ok(q)
    }
}

/// The policy target Placement uses by default: the caller's own project and user.
pub fn default_target(ctx: &api_core::RequestContext) -> Value {
    json!({"project_id": ctx.project_id, "user_id": ctx.user_id})
}

/// `?resources=VCPU:2,MEMORY_MB:1024` as (class, amount) pairs.
pub fn parse_resources(qs: &str) -> ApiResult<Vec<(String, i64)>> {
    if qs.trim().is_empty() {
        return Err(bad(
            "Badly formed resources parameter. Expected resources query string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: empty string.",
        ));
    }
    let mut out: Vec<(String, i64)> = Vec::new();
    for rt in qs.split(',') {
        let parts: Vec<&str> = rt.split(':').collect();
        if parts.len() != 2 {
            return Err(bad(format!(
                "Badly formed resources parameter. Expected resources query string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: {rt}."
            )));
        }
        let (name, amount) = (parts[0], parts[1]);
        let Ok(n) = amount.trim().parse::<i64>() else {
            return Err(bad(format!("Requested resource {name} expected positive integer amount. Got: {amount}.")));
        };
        if n < 1 {
            return Err(bad(format!("Requested resource {name} requires amount >= 1. Got: {n}.")));
        }
        match out.iter_mut().find(|(c, _)| c == name) {
            Some(e) => e.1 = n,
            None => out.push((name.to_string(), n)),
        }
    }
    Ok(out)
}

/// Required traits as (AND of ORs, forbidden), per Placement's rules for the microversion.
pub fn parse_required(values: &[&str], mv: Mv) -> ApiResult<(Vec<Vec<String>>, Vec<String>)> {
    let allow_forbidden = mv.at(22);
    let allow_any = mv.at(39);
    let values: Vec<&str> = if allow_any { values.to_vec() } else { values.iter().rev().take(1).copied().collect() };
    let mut required: Vec<Vec<String>> = Vec::new();
    let mut forbidden: Vec<String> = Vec::new();
    for val in values {
        if let Some(rest) = val.strip_prefix("in:") {
            if !allow_any {
                return Err(bad(format!(
                    "Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported since microversion 1.39. Got: {val}"
                )));
            }
            let any: Vec<String> = rest.split(',').map(|s| s.trim().to_string()).collect();
            if any.iter().any(|t| t.is_empty()) {
                return Err(bad(format!(
                    "Invalid query string parameters: Expected 'required' parameter value of the form: in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty trait in: {val}"
                )));
            }
            if any.iter().any(|t| t.starts_with('!')) {
                return Err(bad(format!(
                    "Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' does not support forbidden traits. Got: {val}"
                )));
            }
            let mut any = any;
            any.sort();
            any.dedup();
            required.push(any);
        } else {
            let all: Vec<String> = val.split(',').map(|s| s.trim().to_string()).collect();
            let forb: Vec<String> =
                all.iter().filter(|t| t.starts_with('!')).map(|t| t.trim_start_matches('!').to_string()).collect();
            if all.iter().chain(forb.iter()).any(|t| t.is_empty()) {
                let form = if allow_forbidden { "HW_CPU_X86_VMX,!CUSTOM_MAGIC" } else { "HW_CPU_X86_VMX,CUSTOM_MAGIC" };
                return Err(bad(format!(
                    "Invalid query string parameters: Expected 'required' parameter value of the form: {form}. Got an empty trait in: {val}"
                )));
            }
            if !forb.is_empty() && !allow_forbidden {
                return Err(bad(format!(
                    "Invalid query string parameters: Expected 'required' parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {val}"
                )));
            }
            for t in all.into_iter().filter(|t| !t.starts_with('!')) {
                if !required.iter().any(|r| r.len() == 1 && r[0] == t) {
                    required.push(vec![t]);
                }
            }
            for f in forb {
                if !forbidden.contains(&f) {
                    forbidden.push(f);
                }
            }
        }
    }
    Ok((required, forbidden))
}

/// member_of values as (AND of ORs of aggregate uuids, forbidden uuids).
pub fn parse_member_of(values: &[&str], mv: Mv, suffix: &str) -> ApiResult<(Vec<Vec<String>>, Vec<String>)> {
    if !mv.at(24) && values.len() > 1 {
        return Err(bad(format!("Multiple member_of{suffix} parameters are not supported")));
    }
    let mut required = Vec::new();
    let mut forbidden: Vec<String> = Vec::new();
    for value in values {
        if value.contains(',') && !(value.starts_with("in:") || value.starts_with("!in:")) {
            return Err(bad(format!(
                "Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword using the valid microversion. Got: {value}"
            )));
        }
        let (req, forb): (Vec<&str>, Vec<&str>) = if let Some(r) = value.strip_prefix("!in:") {
            (vec![], r.split(',').collect())
        } else if let Some(r) = value.strip_prefix('!') {
            (vec![], vec![r])
        } else if let Some(r) = value.strip_prefix("in:") {
            (r.split(',').collect(), vec![])
        } else {
            (vec![*value], vec![])
        };
        for a in req.iter().chain(forb.iter()) {
            if !api_core::schema::is_uuid_like(a) {
                return Err(bad(format!(
                    "Invalid query string parameters: Expected 'member_of' parameter to contain valid UUID(s). Got: {a}"
                )));
            }
        }
        if !req.is_empty() {
            let mut set: Vec<String> = req.iter().map(|a| crate::core::normalize_uuid(a)).collect();
            set.sort();
            set.dedup();
            required.push(set);
        }
        if !forb.is_empty() {
            if !mv.at(32) {
                return Err(bad(format!(
                    "Forbidden member_of{suffix} parameters are not supported in the specified microversion"
                )));
            }
            for a in forb {
                let a = crate::core::normalize_uuid(a);
                if !forbidden.contains(&a) {
                    forbidden.push(a);
                }
            }
        }
    }
    Ok((required, forbidden))
}

pub fn parse_in_tree(value: &str) -> ApiResult<String> {
    let v = value.trim();
    if !api_core::schema::is_uuid_like(v) {
        return Err(bad(format!(
            "Invalid query string parameters: Expected 'in_tree' parameter to be a format of uuid. Got: {value}"
        )));
    }
    Ok(crate::core::normalize_uuid(v))
}

/// Resolves trait names to ids, or says which do not exist.
pub async fn resolve_traits(p: &Placement, names: &[String]) -> ApiResult<Result<Vec<i64>, String>> {
    Ok(p.trait_ids(names).await?.map_err(|missing| missing.join(", ")))
}

/// An absolute `Location` for a path under this service, as webob makes it
/// from the request's host (clients GET it as given).
pub fn set_location(resp: &mut Response, headers: &HeaderMap, path: &str) {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    if let Ok(v) = HeaderValue::from_str(&format!("{scheme}://{host}/placement{path}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
}
