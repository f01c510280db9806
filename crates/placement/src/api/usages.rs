//! `/resource_providers/{uuid}/usages` and `/usages` (1.9; per consumer type at 1.38).

use std::collections::BTreeMap;

use api_core::{ApiResult, Auth};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::*;
use crate::core::{db_err, not_found};
use crate::policies::names as pol;

pub async fn provider_usages(
    State(p): P,
    Auth(ctx): Auth,
    mv: Mv,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> ApiResult<Response> {
    check_accept(&headers)?;
    p.enforce(&ctx, pol::USAGE_LIST, &default_target(&ctx))?;
    let rp = p.get_provider(&uuid).await?.ok_or_else(|| {
        not_found(format!("No resource provider with uuid {uuid} found: No resource provider with uuid {uuid} found"))
    })?;
    let mut conn = p.db.reader().acquire().await.map_err(|e| db_err(db::DbError::from_sqlx(e)))?;
    let invs = crate::db::inventories(&mut conn, rp.id).await.map_err(db_err)?;
    let used = crate::db::usages(&mut conn, rp.id).await.map_err(db_err)?;
    drop(conn);
    p.know_classes(invs.iter().map(|i| i.resource_class_id)).await?;
    let mut usages = Map::new();
    for inv in &invs {
        usages
            .insert(p.class_name(inv.resource_class_id), json!(used.get(&inv.resource_class_id).copied().unwrap_or(0)));
    }
    Ok(json_response(
        mv,
        StatusCode::OK,
        json!({"resource_provider_generation": rp.generation, "usages": usages}),
        None,
    ))
}

pub async fn total(State(p): P, Auth(ctx): Auth, mv: Mv, headers: HeaderMap, q: Query) -> ApiResult<Response> {
    mv.require(9)?;
    check_accept(&headers)?;
    let project_id = q.get("project_id").map(str::to_string);
    p.enforce(&ctx, pol::TOTAL_USAGE_LIST, &json!({"project_id": project_id}))?;
    let mut schema = json!({"type": "object", "properties": {
        "project_id": {"type": "string", "minLength": 1, "maxLength": 255},
        "user_id": {"type": "string", "minLength": 1, "maxLength": 255}},
        "required": ["project_id"], "additionalProperties": false});
    if mv.at(38) {
        schema["properties"]["consumer_type"] = json!({"type": "string",
            "pattern": "^[A-Z0-9_]+$|^all|^unknown$", "minLength": 1, "maxLength": 255});
    }
    q.validate(&schema)?;
    let project_id = project_id.unwrap_or_default();
    let user_id = q.get("user_id");
    let rows = crate::db::total_usages(&p.db, &project_id, user_id).await.map_err(db_err)?;
    p.know_classes(rows.iter().map(|r| r.1)).await?;
    if !mv.at(38) {
        let mut sums: BTreeMap<String, i64> = BTreeMap::new();
        for (_, rc, used, _) in &rows {
            *sums.entry(p.class_name(*rc)).or_default() += used;
        }
        return Ok(json_response(mv, StatusCode::OK, json!({"usages": sums}), None));
    }
    let counts = crate::db::consumer_counts(&p.db, &project_id, user_id).await.map_err(db_err)?;
    let wanted = q.get("consumer_type");
    let mut out: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    match wanted {
        Some(group @ ("all" | "unknown")) => {
            let only_unknown = group == "unknown";
            let count: i64 = counts.iter().filter(|(t, _)| !only_unknown || t.is_none()).map(|(_, n)| n).sum();
            let mut m: BTreeMap<String, i64> = BTreeMap::new();
            for (t, rc, used, _) in &rows {
                if !only_unknown || t.is_none() {
                    *m.entry(p.class_name(*rc)).or_default() += used;
                }
            }
            if !m.is_empty() {
                let e = out.entry(group.to_string()).or_default();
                for (k, v) in m {
                    e.insert(k, json!(v));
                }
                e.insert("consumer_count".into(), json!(count));
            }
        }
        _ => {
            for (t, rc, used, _) in &rows {
                if wanted.is_some_and(|w| t.as_deref() != Some(w)) {
                    continue;
                }
                // Consumers without a type are grouped as "unknown" (NULL_CONSUMER_TYPE_ALIAS).
                let key = t.clone().unwrap_or_else(|| "unknown".into());
                let count = counts.iter().find(|(ct, _)| ct == t).map(|(_, n)| *n).unwrap_or(0);
                let e = out.entry(key).or_default();
                e.insert(p.class_name(*rc), json!(used));
                e.insert("consumer_count".into(), json!(count));
            }
        }
    }
    Ok(json_response(mv, StatusCode::OK, json!({"usages": out}), None))
}
