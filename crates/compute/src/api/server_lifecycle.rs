//! The server actions that replace a server's disk or move it whole:
//! createImage, createBackup, shelve, shelveOffload, unshelve, rebuild,
//! os-migrateLive, evacuate, changePassword, restore and forceDelete.

use std::sync::Arc;

use api_core::{ApiError, ApiResult, Auth};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::server_actions::generate_password;
use super::{check_body, ok, Mv};
use crate::actions::{check, Guard, Start, Tasks};
use crate::core::{bad, db_err, Compute};
use crate::db as q;
use crate::model::Instance;
use crate::policies::names;
use crate::workflows::{server_rebuild, server_shelve, server_snapshot};

const SNAPSHOT_STATES: &[&str] = &["active", "stopped", "paused", "suspended"];
const CREATE_IMAGE: Guard = Guard { lock: false, ..Guard::new("createImage", SNAPSHOT_STATES) };
const CREATE_BACKUP: Guard = Guard { lock: false, ..Guard::new("createBackup", SNAPSHOT_STATES) };
const SHELVE: Guard = Guard::new("shelve", SNAPSHOT_STATES);
const SHELVE_OFFLOAD: Guard = Guard::new("shelveOffload", &["shelved"]);
const UNSHELVE: Guard = Guard::new("unshelve", &["shelved", "shelved_offloaded"]);
const REBUILD: Guard = Guard::new("rebuild", &["active", "stopped", "error"]);
const LIVE_MIGRATE: Guard = Guard::new("os-migrateLive", &["active", "paused"]);
const EVACUATE: Guard =
    Guard { lock: false, task: Tasks::Any, ..Guard::new("evacuate", &["active", "stopped", "error"]) };
const CHANGE_PASSWORD: Guard = Guard::new("changePassword", &["active"]);
const RESTORE: Guard = Guard::new("restore", &["soft-delete"]);
const FORCE_DELETE: Guard = Guard { launched: false, ..Guard::new("forceDelete", &[]) };

const METADATA: &str = r#"{"type": "object", "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}}, "additionalProperties": false}"#;
const HOST: &str = r#"{"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9-._]*$"}"#;

fn schema(s: &str) -> Value {
    serde_json::from_str(s).expect("schema")
}

fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

pub async fn action(
    c: &Arc<Compute>,
    mv: Mv,
    ctx: &Auth,
    id: &str,
    key: &str,
    arg: &Value,
    body: &Value,
) -> ApiResult<Response> {
    match key {
        "createImage" => create_image(c, mv, ctx, id, arg, body, false).await,
        "createBackup" => create_image(c, mv, ctx, id, arg, body, true).await,
        "shelve" => {
            let i = c.server(ctx, id, names::SHELVE).await?;
            check(&i, &SHELVE, c.is_admin(ctx))?;
            let image =
                c.create_snapshot_image(ctx, &i, &format!("{}-shelved", i.name), "snapshot", &Map::new()).await?;
            let start = Start { action: "shelve", task: Some("shelving"), extra: json!({"image_id": image.id}) };
            if let Err(e) = c.start_workflow(ctx, &i, &SHELVE, start, &server_shelve::SHELVE).await {
                let _ = c.delete_snapshot_image(&i.project_id, &i.user_id, &image.id).await;
                return Err(e);
            }
            Ok(accepted())
        }
        "shelveOffload" => {
            let i = c.server(ctx, id, names::SHELVE_OFFLOAD).await?;
            let start = Start { action: "shelveOffload", task: Some("shelving_offloading"), extra: json!({}) };
            c.start_workflow(ctx, &i, &SHELVE_OFFLOAD, start, &server_shelve::OFFLOAD).await?;
            Ok(accepted())
        }
        "unshelve" => unshelve(c, mv, ctx, id, arg, body).await,
        "rebuild" => rebuild(c, mv, ctx, id, arg, body).await,
        "os-migrateLive" => live_migrate(c, mv, ctx, id, arg, body).await,
        "evacuate" => evacuate(c, mv, ctx, id, arg, body).await,
        "changePassword" => {
            check_body(
                body,
                &json!({"type": "object", "properties": {"changePassword": {"type": "object", "properties": {
                    "adminPass": {"type": "string"}}, "required": ["adminPass"], "additionalProperties": false}}}),
            )?;
            let i = c.server(ctx, id, names::ADMIN_PASSWORD).await?;
            let start = Start {
                action: "changePassword",
                task: Some("updating_password"),
                extra: json!({"password": arg["adminPass"]}),
            };
            c.start_action(ctx, &i, &CHANGE_PASSWORD, start).await?;
            Ok(accepted())
        }
        "restore" => {
            let i = c.server(ctx, id, names::DEFERRED_DELETE_RESTORE).await?;
            // Deletes are immediate (no reclaim interval), so no server is
            // ever soft-deleted: Nova's answer for any other state.
            check(&i, &RESTORE, c.is_admin(ctx))?;
            Ok(accepted())
        }
        "forceDelete" => {
            let i = c.server(ctx, id, names::DEFERRED_DELETE_FORCE).await?;
            let g = Guard { vm: None, ..FORCE_DELETE };
            check(&i, &g, c.is_admin(ctx))?;
            c.delete_instance(ctx, &i).await?;
            Ok(accepted())
        }
        other => Err(bad(format!("There is no such action: {other}"))),
    }
}

/// The image's address for the `Location` header of answers below 2.45.
fn image_location(c: &Compute, image_id: &str) -> HeaderValue {
    let url = format!("{}/images/{image_id}", c.images.endpoint.trim_end_matches('/'));
    HeaderValue::from_str(&url).unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn create_image(
    c: &Arc<Compute>,
    mv: Mv,
    ctx: &Auth,
    id: &str,
    arg: &Value,
    body: &Value,
    backup: bool,
) -> ApiResult<Response> {
    let key = if backup { "createBackup" } else { "createImage" };
    let mut props = json!({"name": {"type": "string", "minLength": 0, "maxLength": 255}, "metadata": schema(METADATA)});
    let mut required = vec!["name"];
    if backup {
        props["backup_type"] = json!({"type": "string"});
        props["rotation"] = json!({"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 0});
        required.extend(["backup_type", "rotation"]);
    }
    check_body(
        body,
        &json!({"type": "object", "properties": {key: {"type": "object", "properties": props,
                "required": required, "additionalProperties": false}}}),
    )?;
    let name = arg["name"].as_str().unwrap_or_default();
    if !backup && name.trim().is_empty() {
        return Err(bad(super::INVALID_NAME));
    }
    let rule = if backup { names::CREATE_BACKUP } else { names::SERVERS_CREATE_IMAGE };
    let i = c.server(ctx, id, rule).await?;
    let guard = if backup { &CREATE_BACKUP } else { &CREATE_IMAGE };
    check(&i, guard, c.is_admin(ctx))?;
    let metadata = arg["metadata"].as_object().cloned().unwrap_or_default();
    let limits = c.quota_limits(&i.project_id, None).await?;
    let limit = limits["metadata_items"];
    if limit >= 0 && metadata.len() as i64 > limit {
        return Err(ApiError::forbidden(format!(
            "Quota exceeded for metadata_items: Requested {}, but already used 0 of {limit} metadata_items",
            metadata.len()
        )));
    }
    let rotation = match &arg["rotation"] {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    };
    let mut extra_props = metadata;
    let image_type = if backup {
        extra_props.insert("backup_type".into(), arg["backup_type"].clone());
        "backup"
    } else {
        "snapshot"
    };
    let image = c.create_snapshot_image(ctx, &i, name, image_type, &extra_props).await?;
    let (task, extra) = if backup {
        ("image_backup", json!({"image_id": image.id, "backup_type": arg["backup_type"], "rotation": rotation}))
    } else {
        ("image_snapshot", json!({"image_id": image.id}))
    };
    let start = Start { action: key, task: Some(task), extra };
    if let Err(e) = c.start_workflow(ctx, &i, guard, start, &server_snapshot::WORKFLOW).await {
        let _ = c.delete_snapshot_image(&i.project_id, &i.user_id, &image.id).await;
        return Err(e);
    }
    if backup && rotation == 0 {
        return Ok(accepted());
    }
    if mv.at(45) {
        return Ok(ok(StatusCode::ACCEPTED, json!({"image_id": image.id})));
    }
    let mut r = accepted();
    r.headers_mut().insert(header::LOCATION, image_location(c, &image.id));
    Ok(r)
}

async fn unshelve(c: &Arc<Compute>, mv: Mv, ctx: &Auth, id: &str, arg: &Value, body: &Value) -> ApiResult<Response> {
    if mv.at(91) {
        check_body(
            body,
            &json!({"type": "object", "properties": {"unshelve": {"type": ["object", "null"], "properties": {
                "availability_zone": {"type": ["string", "null"]}, "host": schema(HOST)},
                "additionalProperties": false}}}),
        )?;
    } else if mv.at(77) {
        check_body(
            body,
            &json!({"type": "object", "properties": {"unshelve": {"type": ["object", "null"], "properties": {
                "availability_zone": {"type": "string"}}, "required": ["availability_zone"],
                "additionalProperties": false}}}),
        )?;
    }
    let i = c.server(ctx, id, names::UNSHELVE).await?;
    let zone = arg.get("availability_zone").filter(|_| mv.at(77));
    let host = arg.get("host").and_then(Value::as_str).filter(|_| mv.at(91));
    if host.is_some() {
        c.authorize(ctx, names::UNSHELVE_TO_HOST, &json!({"project_id": i.project_id}))?;
    }
    check(&i, &UNSHELVE, c.is_admin(ctx))?;
    let mut i = i;
    if zone.is_some() || host.is_some() {
        if i.vm_state != "shelved_offloaded" {
            return Err(ApiError::conflict(format!(
                "Specifying an availability zone or a host when unshelving server \"{}\" with status \"{}\" is not supported. The server status must be SHELVED_OFFLOADED.",
                i.uuid,
                super::servers::status(&i)
            )));
        }
        if let Some(h) = host {
            if q::service_by_host(&c.db, h).await.map_err(db_err)?.is_none() {
                return Err(bad(format!("Compute host {h} could not be found.")));
            }
            i.system_metadata.insert("forced_host".into(), h.to_string());
        }
        if let Some(Value::String(z)) = zone {
            if !c.zone_exists(z).await? {
                return Err(bad("The requested availability zone is not available"));
            }
            q::set_instance_host(&c.db, &i.uuid, None, None, Some(z), None).await.map_err(db_err)?;
        }
        c.save_fields(ctx, &i, None).await?;
    }
    let start = Start { action: "unshelve", task: Some("unshelving"), extra: json!({}) };
    c.start_workflow(ctx, &i, &UNSHELVE, start, &server_shelve::UNSHELVE).await?;
    Ok(accepted())
}

fn rebuild_schema(mv: Mv) -> Value {
    let mut props = json!({
        "imageRef": {"type": "string", "format": "uuid"},
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "adminPass": {"type": "string"},
        "metadata": schema(METADATA),
        "preserve_ephemeral": {"type": "boolean"},
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": {"type": "string"},
        "accessIPv6": {"type": "string"},
    });
    if !mv.at(57) {
        props["personality"] = json!({"type": "array"});
    }
    if mv.at(19) {
        props["description"] = json!({"type": ["string", "null"], "minLength": 0, "maxLength": 255});
    }
    if mv.at(54) {
        props["key_name"] = json!({"type": ["string", "null"], "minLength": 1, "maxLength": 255});
    }
    if mv.at(57) {
        props["user_data"] = json!({"type": ["string", "null"], "maxLength": 65535});
    }
    if mv.at(63) {
        props["trusted_image_certificates"] = json!({"type": ["array", "null"]});
    }
    if mv.at(90) {
        props["hostname"] = schema(HOST);
    }
    json!({"type": "object", "properties": {"rebuild": {"type": "object", "properties": props,
           "required": ["imageRef"], "additionalProperties": false}}})
}

async fn rebuild(c: &Arc<Compute>, mv: Mv, ctx: &Auth, id: &str, arg: &Value, body: &Value) -> ApiResult<Response> {
    check_body(body, &rebuild_schema(mv))?;
    if let Some(name) = arg.get("name").and_then(Value::as_str) {
        if !super::valid_name(name) {
            return Err(bad(super::INVALID_NAME));
        }
    }
    let i = c.server(ctx, id, names::SERVERS_REBUILD).await?;
    check(&i, &REBUILD, c.is_admin(ctx))?;
    let image_ref = arg["imageRef"].as_str().unwrap_or_default().to_string();
    let image = c.images.get(ctx, &image_ref).await.map_err(|_| bad("Cannot find image for rebuild"))?;
    if image.status != "active" {
        return Err(bad(format!("Image {image_ref} is not active.")));
    }
    crate::servers::check_flavor_fits_image(&image, i.flavor.memory_mb, i.flavor.root_gb)?;
    let mut fields = Map::new();
    let mut shown: Instance = i.clone();
    shown.image_ref = image_ref.clone();
    fields.insert("image_ref".into(), json!(image_ref));
    if let Some(name) = arg.get("name").and_then(Value::as_str) {
        shown.name = name.trim().to_string();
        fields.insert("name".into(), json!(shown.name));
    }
    if let Some(m) = arg.get("metadata").and_then(Value::as_object) {
        let limit = c.quota_limits(&i.project_id, None).await?["metadata_items"];
        if limit >= 0 && m.len() as i64 > limit {
            return Err(ApiError::forbidden(format!("Maximum number of metadata items exceeds {limit}")));
        }
        shown.metadata = m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect();
        fields.insert("metadata".into(), Value::Object(m.clone()));
    }
    if let Some(d) = arg.get("description") {
        shown.description = d.as_str().map(str::to_string);
        fields.insert("description".into(), d.clone());
    }
    if let Some(h) = arg.get("hostname").and_then(Value::as_str) {
        shown.hostname = h.to_string();
        fields.insert("hostname".into(), json!(h));
    }
    if let Some(k) = arg.get("key_name") {
        let data = match k.as_str() {
            Some(name) => {
                Some(c.keypair(&i.user_id, name).await.map_err(|_| bad("Invalid key_name provided."))?.public_key)
            }
            None => None,
        };
        shown.key_name = k.as_str().map(str::to_string);
        fields.insert("key_name".into(), k.clone());
        fields.insert("key_data".into(), json!(data));
    }
    if let Some(u) = arg.get("user_data") {
        if let Some(s) = u.as_str() {
            use base64::Engine as _;
            if base64::engine::general_purpose::STANDARD.decode(s).is_err() {
                return Err(bad("User data needs to be valid base 64."));
            }
        }
        fields.insert("user_data".into(), u.clone());
    }
    let start = Start { action: "rebuild", task: Some("rebuilding"), extra: json!({"fields": fields}) };
    c.start_workflow(ctx, &i, &REBUILD, start, &server_rebuild::REBUILD).await?;
    shown.task_state = Some("rebuilding".into());
    let mut view = super::servers::full_view(c, mv, ctx, &shown).await?;
    let pass = arg.get("adminPass").and_then(Value::as_str).map(str::to_string).unwrap_or_else(generate_password);
    view["adminPass"] = json!(pass);
    let mut r = ok(StatusCode::ACCEPTED, json!({"server": view}));
    let self_link = format!("{}/v2.1/servers/{}", c.endpoint, i.uuid);
    if let Ok(v) = HeaderValue::from_str(&self_link) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

async fn live_migrate(
    c: &Arc<Compute>,
    mv: Mv,
    ctx: &Auth,
    id: &str,
    arg: &Value,
    body: &Value,
) -> ApiResult<Response> {
    let host_schema =
        json!({"type": ["string", "null"], "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9-._]*$"});
    let boolean = json!({"type": ["boolean", "string"], "enum": [true, false, "True", "False", "true", "false", "1", "0", "yes", "no", "on", "off"]});
    let (props, required) = if !mv.at(25) {
        (
            json!({"block_migration": boolean, "disk_over_commit": boolean, "host": host_schema}),
            json!(["block_migration", "disk_over_commit", "host"]),
        )
    } else {
        let mut p = json!({"block_migration": {"type": ["boolean", "string"], "enum": [true, false, "auto"]},
                           "host": host_schema});
        if mv.at(30) && !mv.at(68) {
            p["force"] =
                json!({"type": ["boolean", "string"], "enum": [true, false, "True", "False", "true", "false"]});
        }
        (p, json!(["block_migration", "host"]))
    };
    check_body(
        body,
        &json!({"type": "object", "properties": {"os-migrateLive": {"type": "object", "properties": props,
                "required": required, "additionalProperties": false}}}),
    )?;
    let host = arg["host"].as_str();
    let force = matches!(&arg["force"], Value::Bool(true))
        || arg["force"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"));
    if force && host.is_none() {
        return Err(bad("Can't force to a non-provided destination"));
    }
    let i = c.server(ctx, id, names::MIGRATE_LIVE).await?;
    if host.is_some() {
        c.authorize(ctx, names::MIGRATE_LIVE_HOST, &json!({"project_id": i.project_id}))?;
    }
    let same = i.flavor.clone();
    c.start_move(ctx, &i, &LIVE_MIGRATE, "live-migration", "live-migration", same, host, false).await?;
    Ok(accepted())
}

async fn evacuate(c: &Arc<Compute>, mv: Mv, ctx: &Auth, id: &str, arg: &Value, body: &Value) -> ApiResult<Response> {
    let mut props = json!({"host": schema(HOST), "adminPass": {"type": "string"}});
    let mut required = json!([]);
    if !mv.at(14) {
        props["onSharedStorage"] =
            json!({"type": ["boolean", "string"], "enum": [true, false, "True", "False", "true", "false"]});
        required = json!(["onSharedStorage"]);
    }
    if mv.at(29) && !mv.at(68) {
        props["force"] =
            json!({"type": ["boolean", "string"], "enum": [true, false, "True", "False", "true", "false"]});
    }
    check_body(
        body,
        &json!({"type": "object", "properties": {"evacuate": {"type": "object", "properties": props,
                "required": required, "additionalProperties": false}}}),
    )?;
    let i = c.server(ctx, id, names::EVACUATE).await?;
    let host = arg.get("host").and_then(Value::as_str);
    if let Some(h) = host {
        if q::service_by_host(&c.db, h).await.map_err(db_err)?.is_none() {
            return Err(ApiError::not_found(format!("Compute host {h} not found.")));
        }
        if i.host.as_deref() == Some(h) {
            return Err(bad("The target host can't be the same one."));
        }
    }
    check(&i, &EVACUATE, c.is_admin(ctx))?;
    if let Some(source) = &i.host {
        let up = q::service_by_host(&c.db, source).await.map_err(db_err)?.is_some_and(|s| c.service_is_up(&s));
        if up {
            return Err(bad(format!("Compute service of {source} is still in use.")));
        }
    }
    let same = i.flavor.clone();
    c.start_move(ctx, &i, &EVACUATE, "evacuate", "evacuation", same, host, mv.at(95)).await?;
    if mv.at(14) {
        return Ok(StatusCode::OK.into_response());
    }
    let pass = arg.get("adminPass").and_then(Value::as_str).map(str::to_string).unwrap_or_else(generate_password);
    Ok(ok(StatusCode::OK, json!({"adminPass": pass})))
}
