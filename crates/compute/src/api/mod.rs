//! Nova's HTTP layer: version documents, microversions (and the headers
//! Nova puts on every versioned response), query and body checks worded as
//! Nova words them, and response shaping per microversion.

mod agents;
mod aggregates;
mod extension_list;
mod extensions;
mod flavors;
mod keypairs;
mod limits;
mod quotas;
mod reports;
mod server_actions;
mod server_groups;
mod server_lifecycle;
mod server_meta;
mod server_migrations;
mod server_moves;
mod servers;
mod services;

use std::sync::Arc;

use api_core::microversion::{Version, VersionRange};
use api_core::{ApiError, ApiResult};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::core::Compute;

pub const VERSIONS: VersionRange = VersionRange {
    service_type: "compute",
    legacy_header: Some("x-openstack-nova-api-version"),
    min: Version::new(2, 1),
    max: Version::new(2, 104),
};

pub type C = State<Arc<Compute>>;

pub fn router(c: Arc<Compute>) -> Router {
    let v21 = Router::new()
        .route("/", get(version_v21))
        .route("/flavors", get(flavors::list).post(flavors::create))
        .route("/flavors/detail", get(flavors::detail))
        .route("/flavors/{id}", get(flavors::show).put(flavors::update).delete(flavors::delete))
        .route("/flavors/{id}/action", post(flavors::action))
        .route("/flavors/{id}/os-flavor-access", get(flavors::access_list))
        .route("/flavors/{id}/os-extra_specs", get(flavors::specs_list).post(flavors::specs_create))
        .route(
            "/flavors/{id}/os-extra_specs/{key}",
            get(flavors::spec_show).put(flavors::spec_update).delete(flavors::spec_delete),
        )
        .route("/servers", get(servers::list).post(servers::create))
        .route("/servers/detail", get(servers::detail))
        .route("/servers/{id}", get(servers::show).put(servers::update).delete(servers::delete))
        .route("/servers/{id}/action", post(server_actions::action))
        .route(
            "/servers/{id}/metadata",
            get(server_meta::metadata_list).post(server_meta::metadata_merge).put(server_meta::metadata_replace),
        )
        .route(
            "/servers/{id}/metadata/{key}",
            get(server_meta::metadata_show).put(server_meta::metadata_set).delete(server_meta::metadata_delete),
        )
        .route(
            "/servers/{id}/tags",
            get(server_meta::tags_list).put(server_meta::tags_replace).delete(server_meta::tags_clear),
        )
        .route(
            "/servers/{id}/tags/{tag}",
            get(server_meta::tag_check).put(server_meta::tag_add).delete(server_meta::tag_delete),
        )
        .route("/servers/{id}/os-instance-actions", get(server_meta::actions_list))
        .route("/servers/{id}/migrations", get(server_migrations::index))
        .route("/servers/{id}/migrations/{mid}", get(server_migrations::show).delete(server_migrations::abort))
        .route("/servers/{id}/migrations/{mid}/action", post(server_migrations::action))
        .route("/extensions", get(extensions::list))
        .route("/extensions/{alias}", get(extensions::show))
        .route("/servers/{id}/os-instance-actions/{request_id}", get(server_meta::action_show))
        .route("/os-services", get(services::list))
        .route("/os-services/{id}", axum::routing::put(services::update).delete(services::delete))
        .route("/os-hypervisors", get(services::hypervisor_list))
        .route("/os-hypervisors/detail", get(services::hypervisor_detail))
        .route("/os-hypervisors/statistics", get(services::hypervisor_statistics))
        .route("/os-hypervisors/{id}", get(services::hypervisor_show))
        .route("/os-hypervisors/{id}/uptime", get(services::hypervisor_uptime))
        .route("/limits", get(limits::limits))
        .route("/os-availability-zone", get(limits::zone_list))
        .route("/os-availability-zone/detail", get(limits::zone_detail))
        .route("/os-quota-sets/{project}", get(quotas::show).put(quotas::update).delete(quotas::revert))
        .route("/os-quota-sets/{project}/detail", get(quotas::detail))
        .route("/os-quota-sets/{project}/defaults", get(quotas::defaults))
        .route("/os-quota-class-sets/{class}", get(quotas::class_show).put(quotas::class_update))
        .route("/os-aggregates", get(aggregates::list).post(aggregates::create))
        .route("/os-aggregates/{id}", get(aggregates::show).put(aggregates::update).delete(aggregates::delete))
        .route("/os-aggregates/{id}/action", post(aggregates::action))
        .route("/os-server-groups", get(server_groups::list).post(server_groups::create))
        .route("/os-server-groups/{id}", get(server_groups::show).delete(server_groups::delete))
        .route("/os-migrations", get(reports::migrations))
        .route("/os-simple-tenant-usage", get(reports::usage_list))
        .route("/os-simple-tenant-usage/{project}", get(reports::usage_show))
        .route("/os-server-external-events", post(reports::external_events))
        .route("/servers/{id}/os-server-password", get(reports::password_show).delete(reports::password_clear))
        .route("/servers/{id}/diagnostics", get(reports::diagnostics))
        .route("/os-keypairs", get(keypairs::list).post(keypairs::create))
        .route("/os-keypairs/{name}", get(keypairs::show).delete(keypairs::delete))
        .fallback(not_found)
        .layer(from_fn(microversion_layer));
    Router::new().route("/", get(versions)).nest("/v2.1", v21).fallback(not_found).with_state(c)
}

/// The agent protocol's routes, mounted at `/compute-agent`.
pub fn agent_router(c: Arc<Compute>) -> Router {
    Router::new()
        .route("/v1/agents/{agent}/report", post(agents::report))
        .route("/v1/agents/{agent}/commands", get(agents::commands))
        .route("/v1/agents/{agent}/commands/{seq}", post(agents::result))
        .route("/v1/agents/{agent}/images/{image}", axum::routing::put(agents::snapshot_data))
        // A report lists every host, node and instance an agent serves.
        .layer(axum::extract::DefaultBodyLimit::max(256 << 20))
        .with_state(c)
}

async fn not_found() -> ApiError {
    ApiError::not_found("The resource could not be found.")
}

/// The microversion a request asked for.
#[derive(Clone, Copy, Debug)]
pub struct Mv(pub Version);

impl Mv {
    /// True at 2.`minor` and later.
    pub fn at(&self, minor: u16) -> bool {
        self.0 >= Version::new(2, minor)
    }
    /// Nova's 404 for a method removed at 2.`minor`.
    pub fn require_below(&self, minor: u16) -> ApiResult<()> {
        if self.at(minor) {
            Err(ApiError::not_found("The resource could not be found."))
        } else {
            Ok(())
        }
    }
    /// Nova's 404 for a method that does not exist below 2.`minor`.
    pub fn require(&self, minor: u16) -> ApiResult<()> {
        if self.at(minor) {
            Ok(())
        } else {
            Err(ApiError::not_found("The resource could not be found."))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Mv {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Mv, Response> {
        Ok(parts.extensions.get::<Mv>().copied().unwrap_or(Mv(VERSIONS.min)))
    }
}

fn requested(h: &HeaderMap) -> Option<String> {
    let standard = h
        .get_all("openstack-api-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| {
            let mut w = p.split_whitespace();
            match (w.next(), w.next()) {
                (Some(s), Some(v)) if s.eq_ignore_ascii_case("compute") => Some(v.to_string()),
                _ => None,
            }
        })
        .next_back();
    standard.or_else(|| {
        h.get("x-openstack-nova-api-version")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next_back())
            .map(|v| v.trim().to_string())
    })
}

fn add_version_headers(h: &mut HeaderMap, v: &str) {
    if let Ok(val) = HeaderValue::from_str(&format!("compute {v}")) {
        h.insert("openstack-api-version", val);
    }
    if let Ok(val) = HeaderValue::from_str(v) {
        h.insert("x-openstack-nova-api-version", val);
    }
    h.append(header::VARY, HeaderValue::from_static("OpenStack-API-Version"));
    h.append(header::VARY, HeaderValue::from_static("X-OpenStack-Nova-API-Version"));
}

async fn microversion_layer(mut req: Request, next: Next) -> Response {
    let version = match requested(req.headers()) {
        None => VERSIONS.min,
        Some(v) if v == "latest" => VERSIONS.max,
        Some(v) => {
            let valid = Version::parse(&v).filter(|p| p.major > 0);
            match valid {
                None => {
                    return ApiError::bad_request(format!(
                        "API Version String {v} is of invalid format. Must be of format MajorNum.MinorNum."
                    ))
                    .into_response()
                }
                Some(p) if p < VERSIONS.min || p > VERSIONS.max => {
                    let mut resp = ApiError::new(
                        StatusCode::NOT_ACCEPTABLE,
                        format!(
                            "Version {v} is not supported by the API. Minimum is {} and maximum is {}.",
                            VERSIONS.min, VERSIONS.max
                        ),
                    )
                    .into_response();
                    add_version_headers(resp.headers_mut(), &v);
                    return resp;
                }
                Some(p) => p,
            }
        }
    };
    req.extensions_mut().insert(Mv(version));
    let mut resp = next.run(req).await;
    add_version_headers(resp.headers_mut(), &version.to_string());
    resp
}

fn version_doc(c: &Compute) -> Value {
    json!({
        "id": "v2.1", "status": "CURRENT", "version": VERSIONS.max.to_string(),
        "min_version": VERSIONS.min.to_string(), "updated": "2013-07-23T11:33:21Z",
        "links": [
            {"rel": "self", "href": format!("{}/v2.1/", c.endpoint)},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    })
}

/// `GET /compute/`: the versions; no token needed.
async fn versions(State(c): C) -> Response {
    let body = json!({"versions": [
        {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "",
         "updated": "2025-07-04T12:00:00Z", "links": [{"rel": "self", "href": format!("{}/v2/", c.endpoint)}]},
        {"id": "v2.1", "status": "CURRENT", "version": VERSIONS.max.to_string(),
         "min_version": VERSIONS.min.to_string(), "updated": "2013-07-23T11:33:21Z",
         "links": [{"rel": "self", "href": format!("{}/v2.1/", c.endpoint)}]},
    ]});
    axum::Json(body).into_response()
}

/// `GET /compute/v2.1`: this version's document; no token needed.
async fn version_v21(State(c): C) -> Response {
    axum::Json(json!({"version": version_doc(&c)})).into_response()
}

// ---------- request helpers ----------

/// The query string as (key, value) pairs.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes()).into_owned().collect()
}

/// Nova's handling of query parameters it does not know: dropped below
/// `strict_from`, 400 from it on.
pub fn check_query(mv: Mv, pairs: &mut Vec<(String, String)>, known: &[&str], strict_from: u16) -> ApiResult<()> {
    let mut unknown: Vec<String> =
        pairs.iter().map(|(k, _)| k.clone()).filter(|k| !known.contains(&k.as_str())).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    if !mv.at(strict_from) {
        pairs.retain(|(k, _)| known.contains(&k.as_str()));
        return Ok(());
    }
    unknown.sort();
    unknown.dedup();
    let verb = if unknown.len() == 1 { "was" } else { "were" };
    Err(ApiError::bad_request(format!(
        "Additional properties are not allowed ({} {verb} unexpected)",
        unknown.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ")
    )))
}

/// The last value given for `key` (Nova reads `req.params.get`).
pub fn last<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A non-negative integer query value (`limit`), checked as Nova's schema
/// checks it.
pub fn non_negative(pairs: &[(String, String)], key: &str) -> ApiResult<Option<i64>> {
    let Some(v) = last(pairs, key) else { return Ok(None) };
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for query parameters {key}. Value: {v}. '{v}' does not match '^[0-9]*$'"
        )));
    }
    Ok(Some(v.parse().unwrap_or(i64::MAX)))
}

/// A JSON body (`null` when there is none, as Nova reads it), or Nova's 400.
pub fn parse_body(body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|_| ApiError::bad_request("Malformed request body"))
}

/// Python's `str()` of a JSON value, as Nova prints it in its messages.
fn py_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => api_core::schema::repr(other),
    }
}

/// Checks a body against a Nova schema with Nova's message.
pub fn check_body(body: &Value, schema: &Value) -> ApiResult<()> {
    api_core::schema::validate_at(body, schema).map_err(|(path, msg)| {
        let Some(last) = path.last() else { return ApiError::bad_request(msg) };
        let mut at = body;
        for p in &path {
            at = match at {
                Value::Object(o) => o.get(p).unwrap_or(&Value::Null),
                Value::Array(a) => p.parse::<usize>().ok().and_then(|i| a.get(i)).unwrap_or(&Value::Null),
                _ => &Value::Null,
            };
        }
        ApiError::bad_request(format!("Invalid input for field/attribute {last}. Value: {}. {msg}", py_value(at)))
    })
}

/// Nova's `format: name` check: printable characters, no whitespace at
/// either end.
pub fn valid_name(name: &str) -> bool {
    let printable = |c: char| !c.is_control() && (c == ' ' || !c.is_whitespace()) && (c as u32) < 0x10000;
    !name.is_empty()
        && name.chars().all(printable)
        && !name.starts_with(char::is_whitespace)
        && !name.ends_with(char::is_whitespace)
}

pub const INVALID_NAME: &str =
    "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.";

/// `self` and `bookmark` links of a resource.
pub fn links(c: &Compute, collection: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{}/v2.1/{collection}/{id}", c.endpoint)},
        {"rel": "bookmark", "href": format!("{}/{collection}/{id}", c.endpoint)},
    ])
}

/// The `next` link of a page: the request's parameters sorted, `marker`
/// set to the last item.
pub fn next_link(c: &Compute, path: &str, pairs: &[(String, String)], marker: &str) -> Value {
    let mut params: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != "marker").cloned().collect();
    params.push(("marker".into(), marker.to_string()));
    params.sort();
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    json!([{"rel": "next", "href": format!("{}/v2.1/{path}?{query}", c.endpoint)}])
}

pub fn ok(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Nova's `parameter_types.boolean`: true/false or their string forms.
pub(crate) fn parse_bool(v: &serde_json::Value) -> Option<bool> {
    match v {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => Some(true),
            "false" | "0" | "off" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}
