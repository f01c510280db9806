//! The server actions that move a server or change its flavor: resize
//! (confirm, revert) and cold migrate.

use std::sync::Arc;

use api_core::{ApiResult, Auth};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{check_body, Mv};
use crate::actions::Guard;
use crate::core::{bad, Compute};
use crate::model::InstanceFlavor;
use crate::policies::names;

const RESIZE: Guard = Guard::new("resize", &["active", "stopped"]);
const MIGRATE: Guard = Guard::new("migrate", &["active", "stopped"]);

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
        "resize" => {
            check_body(
                body,
                &json!({"type": "object", "properties": {"resize": {"type": "object", "properties": {
                    "flavorRef": {"type": ["string", "integer"], "minLength": 1},
                    "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]}},
                    "required": ["flavorRef"], "additionalProperties": false}}}),
            )?;
            let flavor_ref = match &arg["flavorRef"] {
                Value::String(f) => f.rsplit('/').next().unwrap_or(f).to_string(),
                other => other.to_string(),
            };
            let i = c.server(ctx, id, names::SERVERS_RESIZE).await?;
            let f = c
                .visible_flavor(ctx, &flavor_ref)
                .await
                .map_err(|_| bad(format!("Flavor {flavor_ref} could not be found.")))?;
            let f = c.with_specs(f).await?;
            if f.flavorid == i.flavor.flavorid {
                return Err(bad("When resizing, instances must change flavor!"));
            }
            let new = InstanceFlavor {
                flavorid: f.flavorid,
                name: f.name,
                vcpus: f.vcpus,
                memory_mb: f.memory_mb,
                root_gb: f.root_gb,
                ephemeral_gb: f.ephemeral_gb,
                swap: f.swap,
                extra_specs: f.extra_specs,
            };
            c.check_resize_quota(&i, &new).await?;
            c.start_move(ctx, &i, &RESIZE, "resize", "resize", new, None, false).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "migrate" => {
            if mv.at(56) {
                check_body(
                    body,
                    &json!({"type": "object", "properties": {"migrate": {"type": ["object", "null"], "properties": {
                        "host": {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
                                 "pattern": "^[a-zA-Z0-9-._]*$"}},
                        "additionalProperties": false}}}),
                )?;
            }
            let host = arg.get("host").and_then(Value::as_str).filter(|_| mv.at(56));
            let i = c.server(ctx, id, names::MIGRATE).await?;
            if host.is_some() {
                c.authorize(ctx, names::MIGRATE_HOST, &json!({"project_id": i.project_id}))?;
            }
            let same = i.flavor.clone();
            c.start_move(ctx, &i, &MIGRATE, "migrate", "migration", same, host, false).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "confirmResize" => {
            let i = c.server(ctx, id, names::SERVERS_CONFIRM_RESIZE).await?;
            c.end_move(ctx, &i, true).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "revertResize" => {
            let i = c.server(ctx, id, names::SERVERS_REVERT_RESIZE).await?;
            c.end_move(ctx, &i, false).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        other => super::server_lifecycle::action(c, mv, ctx, id, other, arg, body).await,
    }
}
