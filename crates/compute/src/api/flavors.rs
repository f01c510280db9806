//! `/flavors`, flavor access (`/flavors/{id}/action`, `os-flavor-access`)
//! and extra specs (`/flavors/{id}/os-extra_specs`).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use api_core::{ApiError, ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::{check_body, check_query, last, links, next_link, non_negative, ok, parse_body, query_pairs, Mv, C};
use crate::core::{bad, Compute};
use crate::model::{Flavor, NewFlavor};
use crate::policies::names;

const SORT_KEYS: &[&str] = &[
    "created_at",
    "description",
    "disabled",
    "ephemeral_gb",
    "flavorid",
    "id",
    "is_public",
    "memory_mb",
    "name",
    "root_gb",
    "rxtx_factor",
    "swap",
    "updated_at",
    "vcpu_weight",
    "vcpus",
];

fn view(c: &Compute, mv: Mv, f: &Flavor, specs: bool) -> Value {
    let mut v = json!({
        "id": f.flavorid,
        "name": f.name,
        "ram": f.memory_mb,
        "disk": f.root_gb,
        "swap": if f.swap == 0 && !mv.at(75) { json!("") } else { json!(f.swap) },
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral_gb,
        "vcpus": f.vcpus,
        "os-flavor-access:is_public": f.is_public,
        "links": links(c, "flavors", &f.flavorid),
    });
    if !mv.at(102) {
        v["OS-FLV-DISABLED:disabled"] = json!(f.disabled);
        v["rxtx_factor"] = json!(f.rxtx_factor);
    }
    if mv.at(55) {
        v["description"] = json!(f.description);
    }
    if mv.at(61) && specs {
        v["extra_specs"] = json!(f.extra_specs);
    }
    v
}

/// A flavor's full view, with its extra specs at 2.61+ when the caller
/// may list them.
async fn full_view(c: &Compute, mv: Mv, ctx: &Auth, f: Flavor) -> ApiResult<Value> {
    let specs = mv.at(61) && c.allowed(ctx, names::FLAVOR_EXTRA_SPECS_INDEX, &Compute::project_target(ctx));
    let f = if specs { c.with_specs(f).await? } else { f };
    Ok(view(c, mv, &f, specs))
}

fn python_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

fn python_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

fn compare(a: &Flavor, b: &Flavor, key: &str) -> Ordering {
    let by = match key {
        "created_at" => a.created_at.cmp(&b.created_at),
        "description" => a.description.cmp(&b.description),
        "disabled" => a.disabled.cmp(&b.disabled),
        "ephemeral_gb" => a.ephemeral_gb.cmp(&b.ephemeral_gb),
        "id" => a.id.cmp(&b.id),
        "is_public" => a.is_public.cmp(&b.is_public),
        "memory_mb" => a.memory_mb.cmp(&b.memory_mb),
        "name" => a.name.cmp(&b.name),
        "root_gb" => a.root_gb.cmp(&b.root_gb),
        "rxtx_factor" => a.rxtx_factor.partial_cmp(&b.rxtx_factor).unwrap_or(Ordering::Equal),
        "swap" => a.swap.cmp(&b.swap),
        "updated_at" => a.updated_at.cmp(&b.updated_at),
        "vcpu_weight" => a.vcpu_weight.cmp(&b.vcpu_weight),
        "vcpus" => a.vcpus.cmp(&b.vcpus),
        _ => a.flavorid.cmp(&b.flavorid),
    };
    by.then(a.id.cmp(&b.id))
}

fn enum_param(pairs: &[(String, String)], key: &str, allowed: &[&str], default: &'static str) -> ApiResult<String> {
    match last(pairs, key) {
        None => Ok(default.to_string()),
        Some(v) if allowed.contains(&v) => Ok(v.to_string()),
        Some(v) => Err(bad(format!(
            "Invalid input for query parameters {key}. Value: {v}. '{v}' is not one of [{}]",
            allowed.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ")
        ))),
    }
}

async fn listing(c: &Compute, mv: Mv, ctx: &Auth, raw: Option<&str>, detail: bool) -> ApiResult<Response> {
    let mut pairs = query_pairs(raw);
    let mut known = vec!["limit", "marker", "is_public", "minRam", "minDisk", "sort_key", "sort_dir"];
    if mv.at(102) {
        known.push("name");
    }
    check_query(mv, &mut pairs, &known, 75)?;
    let limit = non_negative(&pairs, "limit")?;
    let sort_keys: Vec<&str> = SORT_KEYS.iter().copied().filter(|k| !(mv.at(102) && *k == "rxtx_factor")).collect();
    let sort_key = enum_param(&pairs, "sort_key", &sort_keys, "flavorid")?;
    let sort_dir = enum_param(&pairs, "sort_dir", &["asc", "desc"], "asc")?;
    let admin = c.is_admin(ctx);
    let is_public = match last(&pairs, "is_public") {
        Some(v) if admin => {
            if v.eq_ignore_ascii_case("none") {
                None
            } else {
                Some(python_bool(v).ok_or_else(|| bad(format!("Invalid is_public filter [{v}]")))?)
            }
        }
        _ => Some(true),
    };
    let min_ram = match last(&pairs, "minRam") {
        Some(v) => Some(python_int(v).ok_or_else(|| bad(format!("Invalid minRam filter [{v}]")))?),
        None => None,
    };
    let min_disk = match last(&pairs, "minDisk") {
        Some(v) => Some(python_int(v).ok_or_else(|| bad(format!("Invalid minDisk filter [{v}]")))?),
        None => None,
    };
    let name = last(&pairs, "name")
        .map(|p| regex::Regex::new(p).unwrap_or_else(|_| regex::Regex::new(&regex::escape(p)).expect("regex")));
    let visible = c.flavors(ctx, Some(true)).await?;
    let marker = match last(&pairs, "marker") {
        Some(m) => Some(
            visible.iter().find(|f| f.flavorid == m).cloned().ok_or_else(|| bad(format!("marker [{m}] not found")))?,
        ),
        None => None,
    };
    let mut flavors = if is_public == Some(true) { visible } else { c.flavors(ctx, is_public).await? };
    flavors.retain(|f| {
        min_ram.is_none_or(|m| f.memory_mb >= m)
            && min_disk.is_none_or(|m| f.root_gb >= m)
            && name.as_ref().is_none_or(|r| r.is_match(&f.name))
    });
    let desc = sort_dir == "desc";
    let ordered = |a: &Flavor, b: &Flavor| {
        let o = compare(a, b, &sort_key);
        if desc {
            o.reverse()
        } else {
            o
        }
    };
    flavors.sort_by(ordered);
    if let Some(m) = &marker {
        flavors.retain(|f| ordered(f, m) == Ordering::Greater);
    }
    let max_items = limit.unwrap_or(c.config.max_limit).min(c.config.max_limit).max(0) as usize;
    flavors.truncate(max_items);
    let specs = detail && mv.at(61) && c.allowed(ctx, names::FLAVOR_EXTRA_SPECS_INDEX, &Compute::project_target(ctx));
    let mut items = Vec::with_capacity(flavors.len());
    for f in &flavors {
        if detail {
            let f = if specs { c.with_specs(f.clone()).await? } else { f.clone() };
            items.push(view(c, mv, &f, specs));
        } else {
            let mut v = json!({"id": f.flavorid, "name": f.name, "links": links(c, "flavors", &f.flavorid)});
            if mv.at(55) {
                v["description"] = json!(f.description);
            }
            items.push(v);
        }
    }
    let mut body = json!({"flavors": items});
    if max_items > 0 && flavors.len() == max_items {
        let path = if detail { "flavors/detail" } else { "flavors" };
        body["flavors_links"] = next_link(c, path, &pairs, &flavors[max_items - 1].flavorid);
    }
    Ok(ok(StatusCode::OK, body))
}

pub async fn list(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    listing(&c, mv, &ctx, raw.as_deref(), false).await
}

pub async fn detail(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    listing(&c, mv, &ctx, raw.as_deref(), true).await
}

pub async fn show(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    check_query(mv, &mut query_pairs(raw.as_deref()), &[], 102)?;
    let f = c.visible_flavor(&ctx, &id).await?;
    Ok(ok(StatusCode::OK, json!({"flavor": full_view(&c, mv, &ctx, f).await?})))
}

fn int_field(min: i64) -> Value {
    json!({"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": min, "maximum": 2147483647})
}

fn create_schema(mv: Mv) -> Value {
    let bools: Vec<Value> = [
        "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "False", "FALSE", "false", "0", "OFF",
        "Off", "off", "NO", "No", "no",
    ]
    .iter()
    .map(|s| json!(s))
    .chain([json!(true), json!(false)])
    .collect();
    let mut props = json!({
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "id": {"type": ["string", "number", "null"], "minLength": 1, "maxLength": 255,
               "pattern": "^[a-zA-Z0-9._-]([a-zA-Z0-9. _-]*[a-zA-Z0-9._-])?$"},
        "ram": int_field(1),
        "vcpus": int_field(1),
        "disk": int_field(0),
        "OS-FLV-EXT-DATA:ephemeral": int_field(0),
        "swap": int_field(0),
        "os-flavor-access:is_public": {"type": ["boolean", "string"], "enum": bools},
    });
    if !mv.at(102) {
        props["rxtx_factor"] = json!({"type": ["number", "string"], "pattern": "^[0-9]+(\\.[0-9]+)?$",
                                       "minimum": 0, "maximum": 3.40282e38});
    }
    if mv.at(55) {
        props["description"] = json!({"type": ["string", "null"], "minLength": 0, "maxLength": 65535});
    }
    json!({
        "type": "object",
        "properties": {"flavor": {"type": "object", "properties": props,
                                  "required": ["name", "ram", "vcpus", "disk"], "additionalProperties": false}},
        "required": ["flavor"],
        "additionalProperties": false,
    })
}

/// An integer field given as a number or a numeric string, within Nova's range.
fn int_value(body: &Map<String, Value>, key: &str, min: i64, default: i64) -> ApiResult<i64> {
    let Some(v) = body.get(key) else { return Ok(default) };
    let n = match v {
        Value::String(s) => s.parse::<i64>().ok(),
        other => other.as_i64(),
    };
    let short = key.trim_start_matches("OS-FLV-EXT-DATA:");
    let n = n.ok_or_else(|| bad(format!("Invalid input received: {short} must be an integer")))?;
    if n < min {
        return Err(bad(format!(
            "Invalid input for field/attribute {short}. Value: {n}. {n} is less than the minimum of {min}"
        )));
    }
    if n > 2147483647 {
        return Err(bad(format!(
            "Invalid input for field/attribute {short}. Value: {n}. {n} is greater than the maximum of 2147483647"
        )));
    }
    Ok(n)
}

fn description_ok(d: &str) -> bool {
    d.chars().all(|c| !c.is_control() && (c as u32) < 0x10000)
}

pub async fn create(State(c): C, mv: Mv, ctx: Auth, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    check_body(&body, &create_schema(mv))?;
    let f = body["flavor"].as_object().cloned().unwrap_or_default();
    let name = f["name"].as_str().unwrap_or_default();
    if !super::valid_name(name) {
        return Err(bad(super::INVALID_NAME));
    }
    if let Some(d) = f.get("description").and_then(Value::as_str) {
        if !description_ok(d) {
            return Err(bad(format!(
                "Invalid input for field/attribute description. Value: {d}. '{d}' does not match printable characters"
            )));
        }
    }
    c.authorize(&ctx, names::FLAVOR_MANAGE_CREATE, &json!({}))?;
    let flavorid = match f.get("id") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => uuid::Uuid::new_v4().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let rxtx_factor = match f.get("rxtx_factor") {
        Some(Value::String(s)) => s.parse::<f64>().unwrap_or(1.0),
        Some(v) => v.as_f64().unwrap_or(1.0),
        None => 1.0,
    };
    if rxtx_factor <= 0.0 {
        return Err(bad(format!(
            "Invalid input for field/attribute rxtx_factor. Value: {rxtx_factor}. {rxtx_factor} is less than or equal to the minimum of 0"
        )));
    }
    let is_public = match f.get("os-flavor-access:is_public") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => python_bool(s).unwrap_or(true),
        _ => true,
    };
    let new = NewFlavor {
        flavorid,
        name: name.trim().to_string(),
        memory_mb: int_value(&f, "ram", 1, 0)?,
        vcpus: int_value(&f, "vcpus", 1, 0)?,
        root_gb: int_value(&f, "disk", 0, 0)?,
        ephemeral_gb: int_value(&f, "OS-FLV-EXT-DATA:ephemeral", 0, 0)?,
        swap: int_value(&f, "swap", 0, 0)?,
        rxtx_factor,
        is_public,
        description: f.get("description").and_then(Value::as_str).map(str::to_string),
    };
    let created = c.create_flavor(new).await?;
    let specs = mv.at(61) && c.allowed(&ctx, names::FLAVOR_EXTRA_SPECS_INDEX, &Compute::project_target(&ctx));
    Ok(ok(StatusCode::OK, json!({"flavor": view(&c, mv, &created, specs)})))
}

pub async fn update(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    mv.require(55)?;
    let body = parse_body(&body)?;
    let schema = json!({
        "type": "object",
        "properties": {"flavor": {"type": "object",
            "properties": {"description": {"type": ["string", "null"], "minLength": 0, "maxLength": 65535}},
            "required": ["description"], "additionalProperties": false}},
        "required": ["flavor"], "additionalProperties": false,
    });
    check_body(&body, &schema)?;
    let description = body["flavor"]["description"].as_str();
    if let Some(d) = description {
        if !description_ok(d) {
            return Err(bad(format!(
                "Invalid input for field/attribute description. Value: {d}. '{d}' does not match printable characters"
            )));
        }
    }
    c.authorize(&ctx, names::FLAVOR_MANAGE_UPDATE, &json!({}))?;
    let f = c.visible_flavor(&ctx, &id).await?;
    let f = c.set_flavor_description(&f, description).await?;
    Ok(ok(StatusCode::OK, json!({"flavor": full_view(&c, mv, &ctx, f).await?})))
}

pub async fn delete(State(c): C, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    c.authorize(&ctx, names::FLAVOR_MANAGE_DELETE, &json!({}))?;
    c.delete_flavor(&id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

// ---------- access ----------

fn access_body(f: &Flavor, projects: Vec<String>) -> Response {
    let list: Vec<Value> = projects.into_iter().map(|p| json!({"flavor_id": f.flavorid, "tenant_id": p})).collect();
    ok(StatusCode::OK, json!({"flavor_access": list}))
}

pub async fn access_list(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    check_query(mv, &mut query_pairs(raw.as_deref()), &[], 102)?;
    c.authorize(&ctx, names::FLAVOR_ACCESS, &Compute::project_target(&ctx))?;
    let f = c.visible_flavor(&ctx, &id).await?;
    if f.is_public {
        return Err(ApiError::not_found("Access list not available for public flavors."));
    }
    let projects = c.flavor_access(&f).await?;
    Ok(access_body(&f, projects))
}

pub async fn action(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    let Some((name, _)) = body.as_object().filter(|o| o.len() == 1).and_then(|o| o.iter().next()) else {
        return Err(bad("Malformed request body"));
    };
    let (rule, add) = match name.as_str() {
        "addTenantAccess" => (names::FLAVOR_ACCESS_ADD_TENANT_ACCESS, true),
        "removeTenantAccess" => (names::FLAVOR_ACCESS_REMOVE_TENANT_ACCESS, false),
        other => return Err(bad(format!("There is no such action: {other}"))),
    };
    let schema = json!({
        "type": "object",
        "properties": {name.clone(): {"type": "object",
            "properties": {"tenant": {"type": "string", "minLength": 1, "maxLength": 255}},
            "required": ["tenant"], "additionalProperties": false}},
        "required": [name], "additionalProperties": false,
    });
    check_body(&body, &schema)?;
    let tenant = body[name]["tenant"].as_str().unwrap_or_default().to_string();
    c.authorize(&ctx, rule, &json!({}))?;
    let f = c.visible_flavor(&ctx, &id).await?;
    let projects = if add {
        c.add_flavor_access(&f, &tenant, mv.at(7)).await?
    } else {
        c.remove_flavor_access(&f, &tenant).await?
    };
    Ok(access_body(&f, projects))
}

// ---------- extra specs ----------

fn key_ok(k: &str) -> bool {
    let n = k.chars().count();
    (1..=255).contains(&n) && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_:. ".contains(&b))
}

const KEY_PATTERN: &str = "'^[a-zA-Z0-9-_:. ]{1,255}$'";

/// A value as Nova stores it: strings as they are, numbers as Python
/// prints them.
fn spec_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64()?;
            Some(if f.fract() == 0.0 && f.abs() < 1e16 { format!("{f:.1}") } else { f.to_string() })
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Checks the specs of a body (keys, value types and lengths) as Nova's
/// schema does; `field` names the object in messages.
fn parse_specs(specs: &Value, field: &str) -> ApiResult<BTreeMap<String, String>> {
    let Some(obj) = specs.as_object() else {
        return Err(bad(format!(
            "Invalid input for field/attribute {field}. Value: {}. {} is not of type 'object'",
            api_core::schema::repr(specs),
            api_core::schema::repr(specs)
        )));
    };
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        if !key_ok(k) {
            return Err(bad(format!(
                "Invalid input for field/attribute {field}. Value: {}. '{k}' does not match any of the regexes: {KEY_PATTERN}",
                api_core::schema::repr(specs)
            )));
        }
        let value = spec_value(v).ok_or_else(|| {
            bad(format!(
                "Invalid input for field/attribute {k}. Value: {}. {} is not of type 'string', 'number'",
                api_core::schema::repr(v),
                api_core::schema::repr(v)
            ))
        })?;
        let len = value.chars().count();
        if len > 255 {
            return Err(if v.is_string() {
                bad(format!("Invalid input for field/attribute {k}. Value: {value}. '{value}' is too long"))
            } else {
                bad(format!("extra_specs value has {len} characters, more than 255."))
            });
        }
        out.insert(k.clone(), value);
    }
    Ok(out)
}

fn validate_specs(mv: Mv, specs: &BTreeMap<String, String>) -> ApiResult<()> {
    if mv.at(86) {
        for (k, v) in specs {
            crate::extra_specs::validate(k, v).map_err(bad)?;
        }
    }
    Ok(())
}

pub async fn specs_list(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    check_query(mv, &mut query_pairs(raw.as_deref()), &[], 102)?;
    c.authorize(&ctx, names::FLAVOR_EXTRA_SPECS_INDEX, &Compute::project_target(&ctx))?;
    let f = c.with_specs(c.visible_flavor(&ctx, &id).await?).await?;
    Ok(ok(StatusCode::OK, json!({"extra_specs": f.extra_specs})))
}

pub async fn specs_create(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    let Some(obj) = body.as_object() else {
        return Err(bad(format!("{} is not of type 'object'", api_core::schema::repr(&body))));
    };
    let Some(specs) = obj.get("extra_specs") else {
        return Err(bad("'extra_specs' is a required property"));
    };
    if let Some(extra) = obj.keys().find(|k| *k != "extra_specs") {
        return Err(bad(format!("Additional properties are not allowed ('{extra}' was unexpected)")));
    }
    let parsed = parse_specs(specs, "extra_specs")?;
    c.authorize(&ctx, names::FLAVOR_EXTRA_SPECS_CREATE, &json!({}))?;
    validate_specs(mv, &parsed)?;
    let f = c.visible_flavor(&ctx, &id).await?;
    c.set_extra_specs(&f, &parsed).await?;
    Ok(ok(StatusCode::OK, body))
}

pub async fn spec_show(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path((id, key)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    check_query(mv, &mut query_pairs(raw.as_deref()), &[], 102)?;
    c.authorize(&ctx, names::FLAVOR_EXTRA_SPECS_SHOW, &Compute::project_target(&ctx))?;
    let f = c.with_specs(c.visible_flavor(&ctx, &id).await?).await?;
    match f.extra_specs.get(&key) {
        Some(v) => Ok(ok(StatusCode::OK, json!({ key: v }))),
        None => Err(ApiError::not_found(format!("Flavor {id} has no extra specs with key {key}."))),
    }
}

pub async fn spec_update(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    match body.as_object().map(|o| o.len()) {
        Some(1) => {}
        Some(0) => return Err(bad("{} does not have enough properties")),
        Some(_) => return Err(bad(format!("{} has too many properties", api_core::schema::repr(&body)))),
        None => return Err(bad(format!("{} is not of type 'object'", api_core::schema::repr(&body)))),
    }
    let parsed = parse_specs(&body, "extra_specs")?;
    c.authorize(&ctx, names::FLAVOR_EXTRA_SPECS_UPDATE, &json!({}))?;
    validate_specs(mv, &parsed)?;
    if !parsed.contains_key(&key) {
        return Err(bad("Request body and URI mismatch"));
    }
    let f = c.visible_flavor(&ctx, &id).await?;
    c.set_extra_specs(&f, &parsed).await?;
    Ok(ok(StatusCode::OK, body))
}

pub async fn spec_delete(State(c): C, ctx: Auth, Path((id, key)): Path<(String, String)>) -> ApiResult<Response> {
    c.authorize(&ctx, names::FLAVOR_EXTRA_SPECS_DELETE, &json!({}))?;
    let f = c.visible_flavor(&ctx, &id).await?;
    c.delete_extra_spec(&f, &key).await?;
    Ok(StatusCode::OK.into_response())
}
