//! `/traits` (1.6), a provider's traits, and a provider's aggregates (1.1,
//! with generation at 1.19).

use api_core::{ApiResult, Auth};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::*;
use crate::core::{bad, conflict, db_err, not_found, CONCURRENT_UPDATE};
use crate::policies::names as pol;
use crate::standard::is_standard_trait;

pub async fn list(State(p): P, Auth(ctx): Auth, mv: Mv, headers: HeaderMap, q: Query) -> ApiResult<Response> {
    mv.require(6)?;
    check_accept(&headers)?;
    p.enforce(&ctx, pol::TRAIT_LIST, &default_target(&ctx))?;
    q.validate(
        &json!({"type": "object", "properties": {"name": {"type": "string"}, "associated": {"type": "string"}},
        "additionalProperties": false}),
    )?;
    let mut names_in: Option<Vec<String>> = None;
    let mut prefix: Option<String> = None;
    if let Some(n) = q.get("name") {
        let Some((op, value)) = n.split_once(':') else {
            return Err(bad(format!(
                "Badly formatted name parameter. Expected name query string parameter in form: ?name=[in|startswith]:[name1,name2|prefix]. Got: \"{n}\""
            )));
        };
        match op {
            "in" => names_in = Some(value.split(',').map(str::to_string).collect()),
            "startswith" => prefix = Some(value.to_string()),
            _ => {}
        }
    }
    let associated = match q.get("associated") {
        None => None,
        Some(a) if a.eq_ignore_ascii_case("true") => Some(true),
        Some(a) if a.eq_ignore_ascii_case("false") => Some(false),
        Some(_) => return Err(bad("The query parameter \"associated\" only accepts \"true\" or \"false\"")),
    };
    let used: Option<std::collections::HashSet<i64>> = match associated {
        Some(_) => Some(crate::db::associated_trait_ids(&p.db).await.map_err(db_err)?.into_iter().collect()),
        None => None,
    };
    let out: Vec<String> = p
        .list_traits()
        .await?
        .into_iter()
        .filter(|(_, n)| names_in.as_ref().is_none_or(|l| l.contains(n)))
        .filter(|(_, n)| prefix.as_ref().is_none_or(|pfx| n.starts_with(pfx.as_str())))
        .filter(|(id, _)| match (associated, &used) {
            (Some(a), Some(u)) => u.contains(id) == a,
            _ => true,
        })
        .map(|(_, n)| n)
        .collect();
    Ok(json_response(mv, StatusCode::OK, json!({"traits": out}), None))
}

pub async fn show(State(p): P, Auth(ctx): Auth, mv: Mv, Path(name): Path<String>) -> ApiResult<Response> {
    mv.require(6)?;
    p.enforce(&ctx, pol::TRAIT_SHOW, &default_target(&ctx))?;
    let Some(created) = crate::db::trait_created_at(&p.db, &name).await.map_err(db_err)? else {
        return Err(not_found(format!("No such trait(s): {name}.")));
    };
    let mut resp = empty(StatusCode::NO_CONTENT);
    if mv.at(15) {
        cache_headers(resp.headers_mut(), Some(&created));
    }
    Ok(resp)
}

pub async fn put(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    mv.require(6)?;
    p.enforce(&ctx, pol::TRAIT_UPDATE, &default_target(&ctx))?;
    let valid = name.len() <= 255
        && name.strip_prefix("CUSTOM_").is_some_and(|r| {
            !r.is_empty() && r.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
        });
    if !valid {
        return Err(bad(
            "The trait is invalid. A valid trait must be no longer than 255 characters, start with the prefix \"CUSTOM_\" and use following characters: \"A\"-\"Z\", \"0\"-\"9\" and \"_\"",
        ));
    }
    let status = if p.create_trait(&name).await? { StatusCode::CREATED } else { StatusCode::NO_CONTENT };
    let mut resp = empty(status);
    set_location(&mut resp, &headers, &format!("/traits/{name}"));
    if mv.at(15) {
        let created = crate::db::trait_created_at(&p.db, &name).await.map_err(db_err)?;
        cache_headers(resp.headers_mut(), created.as_deref());
    }
    Ok(resp)
}

pub async fn delete(State(p): P, Auth(ctx): Auth, mv: Mv, Path(name): Path<String>) -> ApiResult<Response> {
    mv.require(6)?;
    p.enforce(&ctx, pol::TRAIT_DELETE, &default_target(&ctx))?;
    if is_standard_trait(&name) && crate::db::trait_created_at(&p.db, &name).await.map_err(db_err)?.is_some() {
        return Err(bad(format!("Cannot delete standard trait {name}.")));
    }
    match p.delete_trait(&name).await? {
        None => Err(not_found(format!("No such trait(s): {name}."))),
        Some(false) => Err(conflict(format!("The trait {name} is in use by a resource provider."))),
        Some(true) => Ok(empty(StatusCode::NO_CONTENT)),
    }
}

pub async fn provider_traits(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> ApiResult<Response> {
    mv.require(6)?;
    check_accept(&headers)?;
    p.enforce(&ctx, pol::RP_TRAIT_LIST, &default_target(&ctx))?;
    let rp = p.get_provider(&uuid).await?.ok_or_else(|| {
        not_found(format!("No resource provider with uuid {uuid} found: No resource provider with uuid {uuid} found"))
    })?;
    let mut conn = p.db.reader().acquire().await.map_err(|e| db_err(db::DbError::from_sqlx(e)))?;
    let traits = crate::db::provider_traits(&mut conn, rp.id).await.map_err(db_err)?;
    Ok(json_response(
        mv,
        StatusCode::OK,
        json!({"traits": traits, "resource_provider_generation": rp.generation}),
        None,
    ))
}

pub async fn set_provider_traits(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    mv.require(6)?;
    require_json(&headers)?;
    p.enforce(&ctx, pol::RP_TRAIT_UPDATE, &default_target(&ctx))?;
    let schema = json!({"type": "object", "properties": {
        "traits": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255}},
        "resource_provider_generation": {"type": "integer"}},
        "required": ["traits", "resource_provider_generation"], "additionalProperties": false});
    let data = json_body(&headers, &body, &schema)?;
    let generation = data["resource_provider_generation"].as_i64().unwrap_or(-1);
    let names: Vec<String> =
        data["traits"].as_array().expect("array").iter().filter_map(|t| t.as_str().map(String::from)).collect();
    let rp = p
        .get_provider(&uuid)
        .await?
        .ok_or_else(|| not_found(format!("No resource provider with uuid {uuid} found")))?;
    if rp.generation != generation {
        return Err(conflict(
            "Resource provider's generation already changed. Please update the generation and try again.",
        )
        .with_code(CONCURRENT_UPDATE));
    }
    let ids = match p.trait_ids(&names).await? {
        Ok(ids) => ids,
        Err(missing) => return Err(bad(format!("No such trait {}", missing.join(", ")))),
    };
    let new_gen = p.set_provider_traits(&uuid, generation, &ids).await?;
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    Ok(json_response(mv, StatusCode::OK, json!({"traits": sorted, "resource_provider_generation": new_gen}), None))
}

pub async fn delete_provider_traits(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    Path(uuid): Path<String>,
) -> ApiResult<Response> {
    mv.require(6)?;
    p.enforce(&ctx, pol::RP_TRAIT_DELETE, &default_target(&ctx))?;
    let rp = p
        .get_provider(&uuid)
        .await?
        .ok_or_else(|| not_found(format!("No resource provider with uuid {uuid} found")))?;
    p.set_provider_traits(&uuid, rp.generation, &[]).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn aggregates_body(aggs: Vec<String>, generation: i64, mv: Mv) -> Value {
    let mut v = json!({"aggregates": aggs});
    if mv.at(19) {
        v["resource_provider_generation"] = json!(generation);
    }
    v
}

pub async fn get_aggregates(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> ApiResult<Response> {
    mv.require(1)?;
    check_accept(&headers)?;
    p.enforce(&ctx, pol::AGGREGATE_LIST, &default_target(&ctx))?;
    let rp = p
        .get_provider(&uuid)
        .await?
        .ok_or_else(|| not_found(format!("No resource provider with uuid {uuid} found")))?;
    let mut conn = p.db.reader().acquire().await.map_err(|e| db_err(db::DbError::from_sqlx(e)))?;
    let aggs = crate::db::provider_aggregates(&mut conn, rp.id).await.map_err(db_err)?;
    Ok(json_response(mv, StatusCode::OK, aggregates_body(aggs, rp.generation, mv), None))
}

pub async fn set_aggregates(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    mv.require(1)?;
    require_json(&headers)?;
    p.enforce(&ctx, pol::AGGREGATE_UPDATE, &default_target(&ctx))?;
    let rp = p
        .get_provider(&uuid)
        .await?
        .ok_or_else(|| not_found(format!("No resource provider with uuid {uuid} found")))?;
    let list = json!({"type": "array", "items": {"type": "string", "format": "uuid"}, "uniqueItems": true});
    let (aggs, generation) = if mv.at(19) {
        let schema = json!({"type": "object", "properties": {"aggregates": list, "resource_provider_generation": {"type": "integer"}},
            "required": ["aggregates", "resource_provider_generation"], "additionalProperties": false});
        let data = json_body(&headers, &body, &schema)?;
        (data["aggregates"].clone(), data["resource_provider_generation"].as_i64())
    } else {
        (json_body(&headers, &body, &list)?, None)
    };
    let aggs: Vec<String> =
        aggs.as_array().expect("array").iter().filter_map(|a| a.as_str().map(String::from)).collect();
    if let Some(g) = generation {
        if g != rp.generation {
            return Err(conflict(
                "Resource provider's generation already changed. Please update the generation and try again.",
            )
            .with_code(CONCURRENT_UPDATE));
        }
    }
    let new_gen = p.set_provider_aggregates(&uuid, generation, &aggs).await?;
    Ok(json_response(mv, StatusCode::OK, aggregates_body(aggs, new_gen, mv), None))
}
