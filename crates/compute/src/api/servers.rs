//! `/servers`: create, list, detail, show, delete, shaped per microversion.

use std::collections::BTreeMap;

use api_core::{ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::Digest;

use super::{check_body, check_query, last, links, next_link, non_negative, ok, parse_body, query_pairs, Mv, C};
use crate::core::{bad, Compute};
use crate::model::Instance;
use crate::policies::names;
use crate::servers::CreateRequest;

/// Nova's status of a vm_state/task_state pair (`common._STATE_MAP`).
pub fn status(i: &Instance) -> &'static str {
    if i.deleted {
        return "DELETED";
    }
    let task = i.task_state.as_deref().unwrap_or("");
    let resize = matches!(task, "resize_prep" | "resize_migrating" | "resize_migrated" | "resize_finish");
    let rebuild = matches!(task, "rebuilding" | "rebuild_block_device_mapping" | "rebuild_spawning");
    match i.vm_state.as_str() {
        "active" => match task {
            "rebooting" | "reboot_pending" | "reboot_started" => "REBOOT",
            "rebooting_hard" | "reboot_pending_hard" | "reboot_started_hard" => "HARD_REBOOT",
            "updating_password" => "PASSWORD",
            "migrating" => "MIGRATING",
            _ if rebuild => "REBUILD",
            _ if resize => "RESIZE",
            _ => "ACTIVE",
        },
        "building" => "BUILD",
        "stopped" if resize => "RESIZE",
        "stopped" if rebuild => "REBUILD",
        "stopped" => "SHUTOFF",
        "resized" if task == "resize_reverting" => "REVERT_RESIZE",
        "resized" => "VERIFY_RESIZE",
        "paused" if task == "migrating" => "MIGRATING",
        "paused" => "PAUSED",
        "suspended" => "SUSPENDED",
        "rescued" => "RESCUE",
        "error" if rebuild => "REBUILD",
        "error" => "ERROR",
        "deleted" => "DELETED",
        "soft-delete" => "SOFT_DELETED",
        "shelved" => "SHELVED",
        "shelved_offloaded" => "SHELVED_OFFLOADED",
        _ => "UNKNOWN",
    }
}

/// Nova's `hostId`: sha224 of the project and host, "" without a host.
fn host_id(i: &Instance) -> String {
    host_id_of(&i.project_id, i.host.as_deref().unwrap_or_default())
}

pub fn host_id_of(project: &str, host: &str) -> String {
    if host.is_empty() {
        return String::new();
    }
    format!("{:x}", sha2::Sha224::digest(format!("{project}{host}").as_bytes()))
}

fn time_z(t: &str) -> String {
    format!("{}Z", t.split('.').next().unwrap_or(t))
}

/// Whether the caller sees the admin-only attributes of a server of `project`.
fn admin_attrs(c: &Compute, ctx: &Auth, project: &str) -> bool {
    c.allowed(ctx, names::EXTENDED_SERVER_ATTRIBUTES, &json!({"project_id": project}))
}

fn view(c: &Compute, mv: Mv, admin_attrs: bool, i: &Instance) -> Value {
    let st = status(i);
    let mut v = json!({
        "id": i.uuid,
        "name": i.name,
        "status": st,
        "tenant_id": i.project_id,
        "user_id": i.user_id,
        "metadata": i.metadata,
        "hostId": host_id(i),
        "image": {"id": i.image_ref, "links": [{"rel": "bookmark",
                  "href": format!("{}/images/{}", c.endpoint, i.image_ref)}]},
        "created": time_z(&i.created_at),
        "updated": time_z(i.updated_at.as_deref().unwrap_or(&i.created_at)),
        "addresses": {},
        "accessIPv4": "",
        "accessIPv6": "",
        "links": links(c, "servers", &i.uuid),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": i.availability_zone.clone().unwrap_or_else(|| "nova".into()),
        "config_drive": if i.system_metadata.get("config_drive").is_some_and(|v| v == "True") { "True" } else { "" },
        "key_name": i.key_name,
        "OS-SRV-USG:launched_at": i.launched_at,
        "OS-SRV-USG:terminated_at": i.terminated_at,
        "security_groups": [{"name": "default"}],
        "OS-EXT-STS:task_state": i.task_state,
        "OS-EXT-STS:vm_state": i.vm_state,
        "OS-EXT-STS:power_state": i.power_state,
        "os-extended-volumes:volumes_attached": [],
    });
    if mv.at(47) {
        v["flavor"] = json!({
            "vcpus": i.flavor.vcpus, "ram": i.flavor.memory_mb, "disk": i.flavor.root_gb,
            "ephemeral": i.flavor.ephemeral_gb, "swap": i.flavor.swap, "original_name": i.flavor.name,
            "extra_specs": i.flavor.extra_specs,
        });
    } else {
        v["flavor"] = json!({"id": i.flavor.flavorid, "links": [{"rel": "bookmark",
                             "href": format!("{}/flavors/{}", c.endpoint, i.flavor.flavorid)}]});
    }
    if matches!(st, "ACTIVE" | "BUILD" | "REBUILD" | "RESIZE" | "VERIFY_RESIZE" | "MIGRATING") {
        v["progress"] = json!(if st == "BUILD" { 0 } else { 100 });
    }
    if let (Some(f), "ERROR" | "DELETED") = (&i.fault, st) {
        let mut fault = json!({"code": f.code, "created": f.created, "message": f.message});
        if !f.details.is_empty() && (admin_attrs || f.code != 500) {
            fault["details"] = json!(f.details);
        }
        v["fault"] = fault;
    }
    if admin_attrs {
        v["OS-EXT-SRV-ATTR:host"] = json!(i.host);
        v["OS-EXT-SRV-ATTR:hypervisor_hostname"] = json!(i.node);
        v["OS-EXT-SRV-ATTR:instance_name"] = json!(format!("instance-{}", &i.uuid[..8]));
        if mv.at(3) {
            v["OS-EXT-SRV-ATTR:hostname"] = json!(i.hostname);
            v["OS-EXT-SRV-ATTR:kernel_id"] = json!("");
            v["OS-EXT-SRV-ATTR:launch_index"] = json!(i.launch_index);
            v["OS-EXT-SRV-ATTR:ramdisk_id"] = json!("");
            v["OS-EXT-SRV-ATTR:reservation_id"] = json!(i.reservation_id);
            v["OS-EXT-SRV-ATTR:root_device_name"] = json!("/dev/vda");
            v["OS-EXT-SRV-ATTR:user_data"] = json!(i.user_data);
        }
    } else if mv.at(90) {
        v["OS-EXT-SRV-ATTR:hostname"] = json!(i.hostname);
    }
    if mv.at(9) {
        v["locked"] = json!(i.locked_by.is_some());
    }
    if mv.at(19) {
        v["description"] = json!(i.description);
    }
    if mv.at(26) {
        v["tags"] = json!(i.tags);
    }
    if mv.at(63) {
        v["trusted_image_certificates"] = Value::Null;
    }
    if mv.at(73) {
        v["locked_reason"] = json!(i.system_metadata.get("locked_reason"));
    }
    if mv.at(96) {
        v["pinned_availability_zone"] = json!(i.availability_zone);
    }
    if mv.at(100) {
        v["scheduler_hints"] = if i.scheduler_hints.is_object() { i.scheduler_hints.clone() } else { json!({}) };
    }
    v
}

fn create_schema(mv: Mv) -> Value {
    let mut props = json!({
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "imageRef": {"type": "string"},
        "flavorRef": {"type": ["string", "integer"], "minLength": 1},
        "adminPass": {"type": "string"},
        "metadata": {"type": "object", "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
                     "additionalProperties": false},
        "networks": {},
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": {"type": "string"},
        "accessIPv6": {"type": "string"},
        "availability_zone": {"type": "string", "minLength": 1, "maxLength": 255},
        "block_device_mapping_v2": {"type": "array"},
        "config_drive": {"type": ["boolean", "string"]},
        "key_name": {"type": "string", "minLength": 1, "maxLength": 255},
        "min_count": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1},
        "max_count": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1},
        "return_reservation_id": {"type": ["boolean", "string"]},
        "security_groups": {"type": "array"},
        "user_data": {"type": "string", "maxLength": 65535},
    });
    if !mv.at(57) {
        props["personality"] = json!({"type": "array"});
    }
    if mv.at(19) {
        props["description"] = json!({"type": ["string", "null"], "minLength": 0, "maxLength": 255});
    }
    if mv.at(52) {
        props["tags"] = json!({"type": "array", "maxItems": 50, "items": {"type": "string"}});
    }
    let required = if mv.at(37) { json!(["name", "flavorRef", "networks"]) } else { json!(["name", "flavorRef"]) };
    json!({
        "type": "object",
        "properties": {
            "server": {"type": "object", "properties": props, "required": required, "additionalProperties": false},
            "os:scheduler_hints": {"type": "object"},
            "OS-SCH-HNT:scheduler_hints": {"type": "object"},
        },
        "required": ["server"],
        "additionalProperties": false,
    })
}

fn count(v: Option<&Value>, name: &str) -> ApiResult<Option<i64>> {
    Ok(match v {
        None => None,
        Some(Value::String(s)) => {
            Some(s.parse().map_err(|_| bad(format!("Invalid input for field/attribute {name}.")))?)
        }
        Some(v) => v.as_i64(),
    })
}

pub async fn create(State(c): C, mv: Mv, ctx: Auth, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    check_body(&body, &create_schema(mv))?;
    let s: &Map<String, Value> = body["server"].as_object().expect("checked");
    let name = s["name"].as_str().unwrap_or_default();
    if !super::valid_name(name) {
        return Err(bad(super::INVALID_NAME));
    }
    let image_ref = s.get("imageRef").and_then(Value::as_str).unwrap_or_default();
    if image_ref.is_empty() {
        return Err(bad("Missing imageRef attribute"));
    }
    if !api_core::schema::is_uuid_like(image_ref) {
        return Err(bad(format!(
            "Invalid input for field/attribute imageRef. Value: {image_ref}. '{image_ref}' is not a 'uuid'"
        )));
    }
    let flavor_ref = match &s["flavorRef"] {
        Value::String(f) => f.rsplit('/').next().unwrap_or(f).to_string(),
        other => other.to_string(),
    };
    match s.get("networks") {
        None | Some(Value::Null) => {}
        Some(Value::String(n)) if n == "none" || n == "auto" => {}
        Some(Value::Array(list)) => {
            if let Some(first) = list.first() {
                if let Some(port) = first.get("port").and_then(Value::as_str) {
                    return Err(bad(format!("Port id {port} could not be found.")));
                }
                let id = first.get("uuid").and_then(Value::as_str).unwrap_or_default();
                return Err(bad(format!("Network {id} could not be found.")));
            }
        }
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute networks. Value: {}. {} is not valid under any of the given schemas",
                other,
                api_core::schema::repr(other)
            )))
        }
    }
    let min_count = count(s.get("min_count"), "min_count")?.unwrap_or(1);
    let max_count = count(s.get("max_count"), "max_count")?.unwrap_or(min_count);
    if min_count > max_count {
        return Err(bad("min_count must be <= max_count"));
    }
    if let Some(ud) = s.get("user_data").and_then(Value::as_str) {
        if base64::engine::general_purpose::STANDARD.decode(ud).is_err() {
            return Err(bad(format!(
                "Invalid input for field/attribute user_data. Value: {ud}. '{ud}' is not a 'base64'"
            )));
        }
    }
    let config_drive = match s.get("config_drive") {
        None | Some(Value::Null) => false,
        Some(v) => super::parse_bool(v).ok_or_else(|| {
            bad(format!(
                "Invalid input for field/attribute config_drive. Value: {v}. {v} is not one of the allowed values"
            ))
        })?,
    };
    c.authorize(&ctx, names::SERVERS_CREATE, &Compute::project_target(&ctx))?;
    let metadata: BTreeMap<String, String> = s
        .get("metadata")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    let tags: Vec<String> = s
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if let Some(err) = tags.iter().find_map(|t| super::server_meta::tag_error(t)) {
        return Err(bad(err));
    }
    let hints = body.get("os:scheduler_hints").or_else(|| body.get("OS-SCH-HNT:scheduler_hints")).cloned();
    let req = CreateRequest {
        name: name.trim().to_string(),
        image_ref: image_ref.to_string(),
        flavor_ref,
        key_name: s.get("key_name").and_then(Value::as_str).map(str::to_string),
        user_data: s.get("user_data").and_then(Value::as_str).map(str::to_string),
        metadata,
        availability_zone: s.get("availability_zone").and_then(Value::as_str).map(str::to_string),
        min_count,
        max_count,
        description: if mv.at(19) {
            s.get("description").and_then(Value::as_str).map(str::to_string)
        } else {
            Some(name.trim().to_string())
        },
        scheduler_hints: hints.unwrap_or_else(|| json!({})),
        tags,
        config_drive,
    };
    let instances = c.create_servers(&ctx, req).await?;
    let want_reservation = match s.get("return_reservation_id") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(v)) => matches!(v.to_ascii_lowercase().as_str(), "1" | "t" | "true" | "on" | "y" | "yes"),
        _ => false,
    };
    if want_reservation {
        return Ok(ok(StatusCode::ACCEPTED, json!({"reservation_id": instances[0].reservation_id})));
    }
    let first = &instances[0];
    let admin_pass: String = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let body = json!({"server": {
        "id": first.uuid,
        "links": links(&c, "servers", &first.uuid),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": "default"}],
        "adminPass": admin_pass,
    }});
    let mut resp = ok(StatusCode::ACCEPTED, body);
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v2.1/servers/{}", c.endpoint, first.uuid)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// The query parameters Nova's server list accepts (`schemas/servers.py`
/// `query_params_v2*`); those without a filter here are accepted and
/// ignored, as Nova drops filters a caller may not use.
const LIST_PARAMS: &[&str] = &[
    "user_id",
    "project_id",
    "tenant_id",
    "launch_index",
    "image_ref",
    "image",
    "kernel_id",
    "ramdisk_id",
    "hostname",
    "key_name",
    "power_state",
    "vm_state",
    "task_state",
    "host",
    "node",
    "flavor",
    "reservation_id",
    "launched_at",
    "terminated_at",
    "availability_zone",
    "name",
    "display_name",
    "description",
    "display_description",
    "locked_by",
    "uuid",
    "root_device_name",
    "config_drive",
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "progress",
    "sort_key",
    "sort_dir",
    "all_tenants",
    "soft_deleted",
    "deleted",
    "status",
    "changes-since",
    "changes-before",
    "ip",
    "ip6",
    "created_at",
    "block_device_mapping",
    "services",
    "metadata",
    "system_metadata",
    "info_cache",
    "security_groups",
    "pci_devices",
    "limit",
    "marker",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
    "locked",
    "pinned_availability_zone",
];

/// Whether a caller without `allow_all_filters` may filter by `key`.
fn non_admin_filter(mv: Mv, key: &str) -> bool {
    match key {
        "reservation_id" | "name" | "status" | "image" | "flavor" | "ip" | "changes-since" | "all_tenants" => true,
        "ip6" => mv.at(5),
        "tags" | "tags-any" | "not-tags" | "not-tags-any" => mv.at(26),
        "changes-before" => mv.at(66),
        "locked" => mv.at(73),
        "availability_zone" | "config_drive" | "key_name" | "created_at" | "launched_at" | "terminated_at"
        | "power_state" | "task_state" | "vm_state" | "progress" | "user_id" => mv.at(83),
        "hostname" => mv.at(90),
        _ => false,
    }
}

fn parse_time(key: &str, v: &str) -> ApiResult<chrono::DateTime<chrono::Utc>> {
    let parsed = chrono::DateTime::parse_from_rfc3339(v).map(|t| t.with_timezone(&chrono::Utc)).or_else(|_| {
        chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
            .map(|t| t.and_utc())
    });
    parsed.map_err(|_| bad(format!("Invalid input for query parameters {key}. Value: {v}. '{v}' is not a 'date-time'")))
}

/// A stored timestamp (`2026-01-02T03:04:05Z` or with microseconds).
fn stored_time(t: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc()))
}

fn strict_bool(key: &str, v: &str) -> ApiResult<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
        _ => Err(bad(format!(
            "Invalid input received: Unrecognized value '{v}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes' ({key})"
        ))),
    }
}

/// Nova's regex filters match anywhere in the value.
fn regex_filter(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).unwrap_or_else(|_| regex::Regex::new(&regex::escape(pattern)).expect("regex"))
}

/// A server field a list filter compares.
type Field = fn(&Instance) -> Option<String>;

fn apply_filters(
    mv: Mv,
    ctx: &Auth,
    admin_all: bool,
    pairs: &[(String, String)],
    servers: &mut Vec<Instance>,
) -> ApiResult<()> {
    let values = |k: &str| -> Vec<&str> { pairs.iter().filter(|(p, _)| p == k).map(|(_, v)| v.as_str()).collect() };
    if let Some(p) = last(pairs, "project_id").or_else(|| last(pairs, "tenant_id")).filter(|_| admin_all) {
        servers.retain(|i| i.project_id == p);
    }
    if let Some(n) = last(pairs, "name").or_else(|| last(pairs, "display_name")) {
        let re = regex_filter(n);
        servers.retain(|i| re.is_match(&i.name));
    }
    let statuses: Vec<String> = values("status").iter().map(|s| s.to_ascii_uppercase()).collect();
    if !statuses.is_empty() {
        const KNOWN: &[&str] = &[
            "ACTIVE",
            "BUILD",
            "DELETED",
            "ERROR",
            "HARD_REBOOT",
            "MIGRATING",
            "PASSWORD",
            "PAUSED",
            "REBOOT",
            "REBUILD",
            "RESCUE",
            "RESIZE",
            "REVERT_RESIZE",
            "SHELVED",
            "SHELVED_OFFLOADED",
            "SHUTOFF",
            "SOFT_DELETED",
            "SUSPENDED",
            "UNKNOWN",
            "VERIFY_RESIZE",
        ];
        if statuses.iter().any(|s| !KNOWN.contains(&s.as_str())) {
            if mv.at(38) {
                return Err(bad("Invalid status value"));
            }
            servers.clear();
        }
        if statuses.iter().any(|s| s == "DELETED") && !ctx.has_role("admin") {
            return Err(api_core::ApiError::forbidden("Only administrators may list deleted instances"));
        }
        servers.retain(|i| statuses.iter().any(|s| s == status(i)));
    }
    let exact: [(&str, Field); 12] = [
        ("uuid", |i| Some(i.uuid.clone())),
        ("image", |i| Some(i.image_ref.clone())),
        ("image_ref", |i| Some(i.image_ref.clone())),
        ("flavor", |i| Some(i.flavor.flavorid.clone())),
        ("reservation_id", |i| Some(i.reservation_id.clone())),
        ("user_id", |i| Some(i.user_id.clone())),
        ("vm_state", |i| Some(i.vm_state.clone())),
        ("task_state", |i| i.task_state.clone()),
        ("power_state", |i| Some(i.power_state.to_string())),
        ("host", |i| i.host.clone()),
        ("launch_index", |i| Some(i.launch_index.to_string())),
        ("locked_by", |i| i.locked_by.clone()),
    ];
    for (key, field) in exact {
        let wanted = values(key);
        if !wanted.is_empty() {
            servers.retain(|i| field(i).is_some_and(|v| wanted.contains(&v.as_str())));
        }
    }
    let regexes: [(&str, Field); 6] = [
        ("key_name", |i| i.key_name.clone()),
        ("availability_zone", |i| i.availability_zone.clone()),
        ("node", |i| i.node.clone()),
        ("hostname", |i| Some(i.hostname.clone())),
        ("description", |i| i.description.clone()),
        ("display_description", |i| i.description.clone()),
    ];
    for (key, field) in regexes {
        if let Some(p) = last(pairs, key) {
            let re = regex_filter(p);
            servers.retain(|i| field(i).is_some_and(|v| re.is_match(&v)));
        }
    }
    let since = last(pairs, "changes-since").map(|v| parse_time("changes-since", v)).transpose()?;
    let before = last(pairs, "changes-before").map(|v| parse_time("changes-before", v)).transpose()?;
    if let (Some(s), Some(b)) = (since, before) {
        if s > b {
            return Err(bad("The value of changes-since must be less than or equal to changes-before."));
        }
    }
    if since.is_some() || before.is_some() {
        servers.retain(|i| {
            let t = stored_time(i.updated_at.as_deref().unwrap_or(&i.created_at));
            t.is_some_and(|t| since.is_none_or(|s| t >= s) && before.is_none_or(|b| t <= b))
        });
    }
    if let Some(l) = last(pairs, "locked") {
        let want = strict_bool("locked", l)?;
        servers.retain(|i| i.locked_by.is_some() == want);
    }
    let tag_list = |k: &str| -> Option<Vec<String>> {
        last(pairs, k).map(|v| v.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect())
    };
    if let Some(t) = tag_list("tags") {
        servers.retain(|i| t.iter().all(|x| i.tags.contains(x)));
    }
    if let Some(t) = tag_list("tags-any") {
        servers.retain(|i| t.iter().any(|x| i.tags.contains(x)));
    }
    if let Some(t) = tag_list("not-tags") {
        servers.retain(|i| !t.iter().all(|x| i.tags.contains(x)));
    }
    if let Some(t) = tag_list("not-tags-any") {
        servers.retain(|i| !t.iter().any(|x| i.tags.contains(x)));
    }
    Ok(())
}

const SORT_KEYS: &[&str] = &[
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "availability_zone",
    "config_drive",
    "created_at",
    "display_description",
    "display_name",
    "host",
    "hostname",
    "image_ref",
    "instance_type_id",
    "kernel_id",
    "key_name",
    "launch_index",
    "launched_at",
    "locked",
    "locked_by",
    "node",
    "power_state",
    "progress",
    "project_id",
    "ramdisk_id",
    "root_device_name",
    "task_state",
    "terminated_at",
    "updated_at",
    "user_id",
    "uuid",
    "vm_state",
];
const IGNORED_SORT_KEYS: &[&str] = &[
    "architecture",
    "cell_name",
    "cleaned",
    "default_ephemeral_device",
    "default_swap_device",
    "deleted",
    "deleted_at",
    "disable_terminate",
    "ephemeral_gb",
    "ephemeral_key_uuid",
    "id",
    "key_data",
    "launched_on",
    "locked",
    "memory_mb",
    "os_type",
    "reservation_id",
    "root_gb",
    "shutdown_terminate",
    "user_data",
    "vcpus",
    "vm_mode",
];

fn sort_value(i: &Instance, key: &str) -> String {
    match key {
        "availability_zone" => i.availability_zone.clone().unwrap_or_default(),
        "created_at" => i.created_at.clone(),
        "updated_at" => i.updated_at.clone().unwrap_or_default(),
        "display_name" => i.name.clone(),
        "display_description" => i.description.clone().unwrap_or_default(),
        "host" => i.host.clone().unwrap_or_default(),
        "node" => i.node.clone().unwrap_or_default(),
        "hostname" => i.hostname.clone(),
        "image_ref" => i.image_ref.clone(),
        "instance_type_id" => i.flavor.flavorid.clone(),
        "key_name" => i.key_name.clone().unwrap_or_default(),
        "launch_index" => format!("{:020}", i.launch_index),
        "launched_at" => i.launched_at.clone().unwrap_or_default(),
        "terminated_at" => i.terminated_at.clone().unwrap_or_default(),
        "locked" => (i.locked_by.is_some() as u8).to_string(),
        "locked_by" => i.locked_by.clone().unwrap_or_default(),
        "power_state" => format!("{:03}", i.power_state),
        "project_id" => i.project_id.clone(),
        "user_id" => i.user_id.clone(),
        "task_state" => i.task_state.clone().unwrap_or_default(),
        "vm_state" => i.vm_state.clone(),
        "uuid" => i.uuid.clone(),
        _ => String::new(),
    }
}

fn sort_servers(mv: Mv, admin: bool, pairs: &[(String, String)], servers: &mut [Instance]) -> ApiResult<()> {
    let dirs: Vec<&str> = pairs.iter().filter(|(k, _)| k == "sort_dir").map(|(_, v)| v.as_str()).collect();
    if dirs.iter().any(|d| !matches!(*d, "asc" | "desc")) {
        return Err(bad("Invalid input received: Unknown sort direction, must be 'desc' or 'asc'"));
    }
    let mut keys: Vec<(String, bool)> = Vec::new();
    for (n, (_, key)) in pairs.iter().filter(|(k, _)| k == "sort_key").enumerate() {
        let usable = SORT_KEYS.contains(&key.as_str()) && (key != "locked" || mv.at(73));
        if !usable {
            if mv.at(75) || !IGNORED_SORT_KEYS.contains(&key.as_str()) {
                return Err(bad(format!(
                    "Invalid input for query parameters sort_key. Value: {key}. '{key}' is not one of {SORT_KEYS:?}"
                )));
            }
            continue;
        }
        if (key == "host" || key == "node") && !admin {
            return Err(api_core::ApiError::forbidden(format!("Only administrators can sort servers by {key}")));
        }
        let dir = dirs.get(n).or(dirs.first()).copied().unwrap_or("desc");
        keys.push((key.clone(), dir == "asc"));
    }
    if keys.is_empty() {
        return Ok(());
    }
    keys.push(("created_at".into(), false));
    keys.push(("uuid".into(), false));
    servers.sort_by(|a, b| api_core::pagination::compare_by_keys(a, b, &keys, sort_value));
    Ok(())
}

async fn listing(c: &Compute, mv: Mv, ctx: &Auth, raw: Option<&str>, detail: bool) -> ApiResult<Response> {
    let mut pairs = query_pairs(raw);
    check_query(mv, &mut pairs, LIST_PARAMS, 75)?;
    let rule = if detail { names::SERVERS_DETAIL } else { names::SERVERS_INDEX };
    c.authorize(ctx, rule, &Compute::project_target(ctx))?;
    let all_rule = if detail { names::SERVERS_DETAIL_ALL_TENANTS } else { names::SERVERS_INDEX_ALL_TENANTS };
    let admin_all = c.allowed(ctx, all_rule, &Compute::project_target(ctx));
    let all_tenants = admin_all && last(&pairs, "all_tenants").is_some();
    let limit = non_negative(&pairs, "limit")?;
    let max_items = limit.unwrap_or(c.config.max_limit).min(c.config.max_limit).max(0) as usize;
    let all_filters = c.allowed(ctx, names::SERVERS_ALLOW_ALL_FILTERS, &Compute::project_target(ctx));
    // Nova drops the filters a caller may not use, silently.
    pairs.retain(|(k, _)| {
        all_filters || matches!(k.as_str(), "limit" | "marker" | "sort_key" | "sort_dir") || non_admin_filter(mv, k)
    });
    let filtered = pairs.iter().any(|(k, _)| !matches!(k.as_str(), "limit" | "marker" | "all_tenants"));
    let mut servers = if filtered {
        let everyone = all_tenants || (admin_all && last(&pairs, "project_id").is_some());
        let mut all = c.servers(ctx, everyone).await?;
        let changes = last(&pairs, "changes-since").is_some() || last(&pairs, "changes-before").is_some();
        let deleted =
            last(&pairs, "deleted").map(|d| matches!(d.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"));
        if changes || deleted == Some(true) {
            let project = if everyone { None } else { Some(ctx.project_id.clone().unwrap_or_default()) };
            let gone = crate::db::list_instances(&c.db, project.as_deref(), true).await.map_err(crate::core::db_err)?;
            if deleted == Some(true) {
                all = gone;
            } else {
                all.extend(gone);
            }
        }
        all
    } else {
        // The common case: one page straight from the database.
        c.servers_page(ctx, all_tenants, last(&pairs, "marker"), max_items as i64).await?
    };
    if filtered {
        apply_filters(mv, ctx, admin_all, &pairs, &mut servers)?;
        sort_servers(mv, c.is_admin(ctx), &pairs, &mut servers)?;
    }
    if let Some(m) = last(&pairs, "marker").filter(|_| filtered) {
        let pos = servers.iter().position(|i| i.uuid == m).ok_or_else(|| bad(format!("marker [{m}] not found")))?;
        servers.drain(..=pos);
    }
    servers.truncate(max_items);
    let mut attrs: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    let items: Vec<Value> = servers
        .iter()
        .map(|i| {
            if detail {
                let a = *attrs.entry(i.project_id.clone()).or_insert_with(|| admin_attrs(c, ctx, &i.project_id));
                view(c, mv, a, i)
            } else {
                json!({"id": i.uuid, "name": i.name, "links": links(c, "servers", &i.uuid)})
            }
        })
        .collect();
    let mut body = json!({"servers": items});
    if max_items > 0 && servers.len() == max_items {
        let path = if detail { "servers/detail" } else { "servers" };
        body["servers_links"] = next_link(c, path, &pairs, &servers[max_items - 1].uuid);
    }
    Ok(ok(StatusCode::OK, body))
}

pub async fn list(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    listing(&c, mv, &ctx, raw.as_deref(), false).await
}

pub async fn detail(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    listing(&c, mv, &ctx, raw.as_deref(), true).await
}

pub async fn show(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let i = c.server(&ctx, &id, names::SERVERS_SHOW).await?;
    Ok(ok(StatusCode::OK, json!({"server": full_view(&c, mv, &ctx, &i).await?})))
}

/// The show representation: the detail one plus `server_groups` (2.71).
pub async fn full_view(c: &Compute, mv: Mv, ctx: &Auth, i: &Instance) -> ApiResult<Value> {
    let a = admin_attrs(c, ctx, &i.project_id);
    let mut v = view(c, mv, a, i);
    if mv.at(71) {
        let groups = crate::db::instance_groups(&c.db, &i.uuid).await.map_err(crate::core::db_err)?;
        v["server_groups"] = json!(groups);
    }
    Ok(v)
}

pub async fn delete(State(c): C, ctx: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    c.delete_server(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /servers/{id}`: name, description (2.19), hostname (2.90).
pub async fn update(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    let mut props = json!({
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": {"type": "string"},
        "accessIPv6": {"type": "string"},
    });
    if mv.at(19) {
        props["description"] = json!({"type": ["string", "null"], "minLength": 0, "maxLength": 255});
    }
    if mv.at(90) {
        props["hostname"] = json!({"type": "string", "minLength": 1, "maxLength": 255,
                                   "pattern": "^[a-zA-Z0-9-._]*$"});
    }
    check_body(
        &body,
        &json!({"type": "object", "properties": {"server": {"type": "object", "properties": props,
                "additionalProperties": false}}, "required": ["server"], "additionalProperties": false}),
    )?;
    let s = &body["server"];
    if let Some(name) = s.get("name").and_then(Value::as_str) {
        if !super::valid_name(name) {
            return Err(bad(super::INVALID_NAME));
        }
    }
    let mut i = c.server(&ctx, &id, names::SERVERS_UPDATE).await?;
    if let Some(name) = s.get("name").and_then(Value::as_str) {
        i.name = name.trim().to_string();
    }
    if let Some(d) = s.get("description") {
        i.description = d.as_str().map(str::to_string);
    }
    if let Some(h) = s.get("hostname").and_then(Value::as_str) {
        i.hostname = h.to_string();
    }
    c.save_fields(&ctx, &i, None).await?;
    let i = c.server(&ctx, &id, names::SERVERS_UPDATE).await?;
    Ok(ok(StatusCode::OK, json!({"server": full_view(&c, mv, &ctx, &i).await?})))
}
