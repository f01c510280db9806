//! `/os-keypairs`: a user's public keys (imported; Nova stopped generating
//! them at 2.92 and clients generate them themselves).

use api_core::{ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{check_body, check_query, last, next_link, non_negative, ok, parse_body, query_pairs, Mv, C};
use crate::core::bad;
use crate::model::Keypair;
use crate::policies::names;

fn show_view(mv: Mv, k: &Keypair) -> Value {
    let mut v = json!({
        "name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint, "user_id": k.user_id,
        "created_at": k.created_at, "deleted": false, "deleted_at": null, "id": k.id, "updated_at": null,
    });
    if mv.at(2) {
        v["type"] = json!(k.key_type);
    }
    v
}

/// The user whose keypairs a request is about: `user_id` (2.10+) or the caller.
fn target_user(mv: Mv, ctx: &Auth, pairs: &[(String, String)]) -> String {
    let given = if mv.at(10) { pairs.iter().find(|(k, _)| k == "user_id").map(|(_, v)| v.clone()) } else { None };
    given.unwrap_or_else(|| ctx.user_id.clone())
}

pub async fn list(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let mut pairs = query_pairs(raw.as_deref());
    let mut known = Vec::new();
    if mv.at(10) {
        known.push("user_id");
    }
    if mv.at(35) {
        known.extend(["limit", "marker"]);
    }
    check_query(mv, &mut pairs, &known, 75)?;
    let user = target_user(mv, &ctx, &pairs);
    c.authorize(&ctx, names::KEYPAIRS_INDEX, &json!({"user_id": user}))?;
    let limit = non_negative(&pairs, "limit")?;
    let max_items = limit.unwrap_or(c.config.max_limit).min(c.config.max_limit).max(0);
    let keypairs = c.keypairs(&user, last(&pairs, "marker"), max_items).await?;
    let items: Vec<Value> = keypairs
        .iter()
        .map(|k| {
            let mut v = json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
            if mv.at(2) {
                v["type"] = json!(k.key_type);
            }
            json!({"keypair": v})
        })
        .collect();
    let mut body = json!({"keypairs": items});
    if mv.at(35) && max_items > 0 && keypairs.len() as i64 == max_items {
        body["keypairs_links"] = next_link(&c, "os-keypairs", &pairs, &keypairs[keypairs.len() - 1].name);
    }
    Ok(ok(StatusCode::OK, body))
}

fn create_schema(mv: Mv) -> Value {
    let pattern = if mv.at(92) { "^[_\\-\\@\\. a-zA-Z0-9]+$" } else { "^[_\\- a-zA-Z0-9]+$" };
    let mut props = json!({
        "name": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": pattern},
        "public_key": {"type": "string"},
    });
    if mv.at(2) {
        props["type"] = json!({"type": "string", "enum": ["ssh", "x509"]});
    }
    if mv.at(10) {
        props["user_id"] = json!({"type": "string"});
    }
    let required = if mv.at(92) { json!(["name", "public_key"]) } else { json!(["name"]) };
    json!({
        "type": "object",
        "properties": {"keypair": {"type": "object", "properties": props, "required": required,
                                   "additionalProperties": false}},
        "required": ["keypair"], "additionalProperties": false,
    })
}

pub async fn create(State(c): C, mv: Mv, ctx: Auth, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    let kp = body.get("keypair");
    // Nova checks the name's format before its pattern.
    if let Some(name) = kp.and_then(|k| k.get("name")).and_then(Value::as_str) {
        if !name.is_empty() && !super::valid_name(name) {
            return Err(bad(super::INVALID_NAME));
        }
    }
    check_body(&body, &create_schema(mv))?;
    let kp = &body["keypair"];
    let name = kp["name"].as_str().unwrap_or_default();
    let user = kp.get("user_id").and_then(Value::as_str).unwrap_or(&ctx.user_id).to_string();
    c.authorize(&ctx, names::KEYPAIRS_CREATE, &json!({"user_id": user}))?;
    let Some(public_key) = kp.get("public_key").and_then(Value::as_str) else {
        return Err(bad(
            "Keypair generation is not offered by this cloud: give the public key of a key you made (ssh-keygen), or use microversion 2.92 or later, where clients make the key",
        ));
    };
    let key_type = kp.get("type").and_then(Value::as_str).unwrap_or("ssh");
    let k = c.import_keypair(&user, name, key_type, public_key).await?;
    let mut v = json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint, "user_id": k.user_id});
    if mv.at(2) {
        v["type"] = json!(k.key_type);
    }
    let status = if mv.at(2) { StatusCode::CREATED } else { StatusCode::OK };
    Ok(ok(status, json!({"keypair": v})))
}

/// The user a show or delete is about (`?user_id=`, 2.10+), authorized.
fn one_keypair_user(c: &crate::Compute, mv: Mv, ctx: &Auth, raw: Option<&str>, rule: &str) -> ApiResult<String> {
    let mut pairs = query_pairs(raw);
    let known: &[&str] = if mv.at(10) { &["user_id"] } else { &[] };
    check_query(mv, &mut pairs, known, 75)?;
    let user = target_user(mv, ctx, &pairs);
    c.authorize(ctx, rule, &json!({"user_id": user}))?;
    Ok(user)
}

pub async fn show(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let user = one_keypair_user(&c, mv, &ctx, raw.as_deref(), names::KEYPAIRS_SHOW)?;
    let k = c.keypair(&user, &name).await?;
    Ok(ok(StatusCode::OK, json!({"keypair": show_view(mv, &k)})))
}

pub async fn delete(
    State(c): C,
    mv: Mv,
    ctx: Auth,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let user = one_keypair_user(&c, mv, &ctx, raw.as_deref(), names::KEYPAIRS_DELETE)?;
    c.delete_keypair(&user, &name).await?;
    Ok(if mv.at(2) { StatusCode::NO_CONTENT } else { StatusCode::ACCEPTED }.into_response())
}
