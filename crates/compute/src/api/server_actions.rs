//! `POST /servers/{id}/action`: one action per body, Nova's checks and
//! answers for each.

use std::sync::Arc;

use api_core::{ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{check_body, ok, parse_body, Mv, C};
use crate::actions::{Guard, Start, Tasks};
use crate::core::{bad, Compute};
use crate::policies::names;

const START: Guard = Guard::new("start", &["stopped"]).with_host();
const STOP: Guard = Guard::new("stop", &["active", "error"]).with_host();
const REBOOT_SOFT: Guard = Guard::new("reboot", &["active"]);
const REBOOT_HARD: Guard = Guard {
    task: Tasks::IdleOr(&[
        "rebooting",
        "reboot_pending",
        "reboot_started",
        "resuming",
        "rebooting_hard",
        "unpausing",
        "pausing",
        "suspending",
    ]),
    ..Guard::new("reboot", &["active", "stopped", "paused", "suspended", "error"])
};
const PAUSE: Guard = Guard::new("pause", &["active"]);
const UNPAUSE: Guard = Guard::new("unpause", &["paused"]);
const SUSPEND: Guard = Guard::new("suspend", &["active"]);
const RESUME: Guard = Guard::new("resume", &["suspended"]);
const RESCUE: Guard = Guard::new("rescue", &["active", "stopped", "error"]);
const UNRESCUE: Guard = Guard::new("unrescue", &["rescued"]);
const CRASH_DUMP: Guard =
    Guard::new("trigger_crash_dump", &["active", "paused", "rescued", "resized", "error"]).with_host();

fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// Nova's generated password: 12 characters with a digit, an upper- and a
/// lower-case letter, none of the look-alikes.
pub fn generate_password() -> String {
    const SETS: [&[u8]; 3] = [b"23456789", b"ABCDEFGHJKLMNPQRSTUVWXYZ", b"abcdefghijkmnopqrstuvwxyz"];
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let more = uuid::Uuid::new_v4().into_bytes();
    let all: Vec<u8> = SETS.concat();
    (0..12)
        .map(|i| {
            let r = bytes[i] as usize ^ ((more[i] as usize) << 3);
            let set = if i < 3 { SETS[i] } else { &all[..] };
            set[r % set.len()] as char
        })
        .collect()
}

async fn power(
    c: &Arc<Compute>,
    ctx: &Auth,
    id: &str,
    rule: &str,
    g: &Guard,
    (action, task, extra): (&str, &str, Value),
) -> ApiResult<()> {
    let i = c.server(ctx, id, rule).await?;
    c.start_action(ctx, &i, g, Start { action, task: Some(task), extra }).await
}

pub async fn action(State(c): C, mv: Mv, ctx: Auth, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    let Some(obj) = body.as_object().filter(|o| o.len() == 1) else {
        return Err(bad("Malformed request body"));
    };
    let (key, arg) = obj.iter().next().expect("one key");
    match key.as_str() {
        "os-start" => power(&c, &ctx, &id, names::SERVERS_START, &START, ("start", "powering-on", json!({}))).await?,
        "os-stop" => power(&c, &ctx, &id, names::SERVERS_STOP, &STOP, ("stop", "powering-off", json!({}))).await?,
        "reboot" => {
            check_body(
                &body,
                &json!({"type": "object", "properties": {"reboot": {"type": "object", "properties": {
                    "type": {"type": "string", "enum": ["HARD", "Hard", "hard", "SOFT", "Soft", "soft"]}},
                    "required": ["type"], "additionalProperties": false}}}),
            )?;
            let hard = arg["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("hard"));
            let (g, task) = if hard { (&REBOOT_HARD, "rebooting_hard") } else { (&REBOOT_SOFT, "rebooting") };
            power(&c, &ctx, &id, names::SERVERS_REBOOT, g, ("reboot", task, json!({"hard": hard}))).await?
        }
        "pause" => power(&c, &ctx, &id, names::PAUSE, &PAUSE, ("pause", "pausing", json!({}))).await?,
        "unpause" => power(&c, &ctx, &id, names::UNPAUSE, &UNPAUSE, ("unpause", "unpausing", json!({}))).await?,
        "suspend" => power(&c, &ctx, &id, names::SUSPEND, &SUSPEND, ("suspend", "suspending", json!({}))).await?,
        "resume" => power(&c, &ctx, &id, names::RESUME, &RESUME, ("resume", "resuming", json!({}))).await?,
        "unrescue" => power(&c, &ctx, &id, names::UNRESCUE, &UNRESCUE, ("unrescue", "unrescuing", json!({}))).await?,
        "rescue" => {
            check_body(
                &body,
                &json!({"type": "object", "properties": {"rescue": {"type": ["object", "null"], "properties": {
                    "adminPass": {"type": "string"},
                    "rescue_image_ref": {"type": "string", "format": "uuid"}},
                    "additionalProperties": false}}}),
            )?;
            let image = arg.get("rescue_image_ref").cloned().unwrap_or(Value::Null);
            let pass =
                arg.get("adminPass").and_then(Value::as_str).map(str::to_string).unwrap_or_else(generate_password);
            power(&c, &ctx, &id, names::RESCUE, &RESCUE, ("rescue", "rescuing", json!({"rescue_image_ref": image})))
                .await?;
            return Ok(ok(StatusCode::OK, json!({"adminPass": pass})));
        }
        "lock" => lock(&c, mv, &ctx, &id, &body).await?,
        "unlock" => unlock(&c, &ctx, &id).await?,
        "os-resetState" => {
            check_body(
                &body,
                &json!({"type": "object", "properties": {"os-resetState": {"type": "object", "properties": {
                    "state": {"type": "string", "enum": ["active", "error"]}},
                    "required": ["state"], "additionalProperties": false}}}),
            )?;
            let i = c.server(&ctx, &id, names::RESET_STATE).await?;
            c.reset_state(&ctx, &i, arg["state"].as_str().unwrap_or("error")).await?;
        }
        "os-getConsoleOutput" => return console_output(&c, &ctx, &id, &body).await,
        "trigger_crash_dump" => {
            mv.require(17)?;
            if !arg.is_null() {
                return Err(bad(format!(
                    "Invalid input for field/attribute trigger_crash_dump. Value: {}. {} is not of type 'null'",
                    arg,
                    api_core::schema::repr(arg)
                )));
            }
            let i = c.server(&ctx, &id, names::SERVERS_TRIGGER_CRASH_DUMP).await?;
            crate::actions::check(&i, &CRASH_DUMP, c.is_admin(&ctx))?;
            c.ask_host(&i, agent::protocol::Action::TriggerCrashDump { uuid: i.uuid.clone() }).await?;
        }
        other => return super::server_moves::action(&c, mv, &ctx, &id, other, arg, &body).await,
    }
    Ok(accepted())
}

async fn lock(c: &Arc<Compute>, mv: Mv, ctx: &Auth, id: &str, body: &Value) -> ApiResult<()> {
    if mv.at(73) {
        check_body(
            body,
            &json!({"type": "object", "properties": {"lock": {"type": ["object", "null"], "properties": {
                "locked_reason": {"type": "string", "minLength": 1, "maxLength": 255}},
                "additionalProperties": false}}}),
        )?;
    }
    let mut i = c.server(ctx, id, names::LOCK).await?;
    let is_owner = ctx.project_id.as_deref() == Some(i.project_id.as_str());
    if i.locked_by.is_some() && is_owner {
        return Ok(());
    }
    i.locked_by = Some(if is_owner { "owner" } else { "admin" }.into());
    match body["lock"].get("locked_reason").and_then(Value::as_str).filter(|_| mv.at(73)) {
        Some(r) => i.system_metadata.insert("locked_reason".into(), r.to_string()),
        None => i.system_metadata.remove("locked_reason"),
    };
    c.save_fields(ctx, &i, Some("lock")).await
}

async fn unlock(c: &Arc<Compute>, ctx: &Auth, id: &str) -> ApiResult<()> {
    let mut i = c.server(ctx, id, names::UNLOCK).await?;
    let is_owner = ctx.project_id.as_deref() == Some(i.project_id.as_str());
    let expected = if is_owner { "owner" } else { "admin" };
    if i.locked_by.as_deref().is_some_and(|by| by != expected) {
        c.authorize(ctx, names::UNLOCK_OVERRIDE, &json!({"project_id": i.project_id}))?;
    }
    i.locked_by = None;
    i.system_metadata.remove("locked_reason");
    c.save_fields(ctx, &i, Some("unlock")).await
}

async fn console_output(c: &Arc<Compute>, ctx: &Auth, id: &str, body: &Value) -> ApiResult<Response> {
    check_body(
        body,
        &json!({"type": "object", "properties": {"os-getConsoleOutput": {"type": "object", "properties": {
            "length": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$", "minimum": -1}},
            "additionalProperties": false}}}),
    )?;
    let length = match &body["os-getConsoleOutput"]["length"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    }
    .filter(|n| *n >= 0);
    let i = c.server(ctx, id, names::CONSOLE_OUTPUT).await?;
    let r = c.ask_host(&i, agent::protocol::Action::ConsoleOutput { uuid: i.uuid.clone() }).await?;
    let text = r.output.unwrap_or_default();
    let lines: Vec<&str> = text.split('\n').collect();
    let start = length.map(|n| lines.len().saturating_sub(n as usize)).unwrap_or(0);
    let output: String =
        lines[start..].join("\n").chars().filter(|ch| !matches!(*ch as u32, 0x00..=0x08 | 0x0B..=0x1F)).collect();
    Ok(ok(StatusCode::OK, json!({"output": output})))
}
