//! `/limits` (absolute limits and the project's usage) and
//! `/os-availability-zone` (the `nova` zone of the compute hosts).

use api_core::{ApiResult, Auth};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::{check_query, last, ok, query_pairs, Mv, C};
use crate::core::{db_err, Compute};
use crate::db as q;
use crate::policies::names;

pub async fn limits(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let mut pairs = query_pairs(raw.as_deref());
    check_query(mv, &mut pairs, &["tenant_id"], 75)?;
    c.authorize(&ctx, names::LIMITS, &Compute::project_target(&ctx))?;
    let project = match last(&pairs, "tenant_id") {
        Some(t) => {
            c.authorize(&ctx, names::LIMITS_OTHER_PROJECT, &json!({"project_id": t}))?;
            t.to_string()
        }
        None => ctx.project_id.clone().unwrap_or_default(),
    };
    let (instances, cores, ram) = q::project_usage(&c.db, &project).await.map_err(db_err)?;
    let l = c.quota_limits(&project, None).await?;
    let groups = q::count_server_groups(&c.db, &project).await.map_err(db_err)?;
    let mut a = Map::new();
    let mut put = |k: &str, v: i64| {
        a.insert(k.to_string(), json!(v));
    };
    put("maxServerMeta", l["metadata_items"]);
    put("maxTotalCores", l["cores"]);
    put("maxTotalInstances", l["instances"]);
    put("maxTotalKeypairs", l["key_pairs"]);
    put("maxTotalRAMSize", l["ram"]);
    put("maxServerGroups", l["server_groups"]);
    put("maxServerGroupMembers", l["server_group_members"]);
    put("totalCoresUsed", cores);
    put("totalInstancesUsed", instances);
    put("totalRAMUsed", ram);
    put("totalServerGroupsUsed", groups);
    if !mv.at(57) {
        put("maxPersonality", l["injected_files"]);
        put("maxPersonalitySize", l["injected_file_content_bytes"]);
    }
    if !mv.at(39) {
        put("maxImageMeta", 128);
    }
    if !mv.at(36) {
        put("maxSecurityGroupRules", -1);
        put("maxSecurityGroups", -1);
        put("maxTotalFloatingIps", -1);
        put("totalFloatingIpsUsed", 0);
        put("totalSecurityGroupsUsed", 0);
    }
    Ok(ok(StatusCode::OK, json!({"limits": {"absolute": a, "rate": []}})))
}

async fn zones(c: &Compute, mv: Mv, ctx: &Auth, raw: Option<&str>, detail: bool) -> ApiResult<Response> {
    check_query(mv, &mut query_pairs(raw), &[], 102)?;
    let rule = if detail { names::AVAILABILITY_ZONE_DETAIL } else { names::AVAILABILITY_ZONE_LIST };
    c.authorize(ctx, rule, &Compute::project_target(ctx))?;
    let services = q::services(&c.db).await.map_err(db_err)?;
    let zones = c.host_zones().await?;
    // zone -> its services; a zone is available while one is enabled.
    let mut by_zone: std::collections::BTreeMap<String, Vec<&crate::model::Service>> = Default::default();
    for s in &services {
        let z = zones.get(&s.host).cloned().unwrap_or_else(|| crate::aggregates::DEFAULT_AZ.to_string());
        by_zone.entry(z).or_default().push(s);
    }
    let mut info = Vec::new();
    for (zone, members) in &by_zone {
        let enabled: Vec<_> = members.iter().filter(|s| !s.disabled).collect();
        let available = !enabled.is_empty();
        let hosts = if detail && available {
            let mut h = Map::new();
            for s in &enabled {
                h.insert(
                    s.host.clone(),
                    json!({"nova-compute": {"available": c.service_is_up(s), "active": true,
                                            "updated_at": s.last_seen_up.clone().or_else(|| s.updated_at.clone())}}),
                );
            }
            Value::Object(h)
        } else {
            Value::Null
        };
        info.push(json!({"zoneName": zone, "zoneState": {"available": available}, "hosts": hosts}));
    }
    // Available zones first, as Nova lists them.
    info.sort_by_key(|z| !z["zoneState"]["available"].as_bool().unwrap_or(false));
    Ok(ok(StatusCode::OK, json!({"availabilityZoneInfo": info})))
}

pub async fn zone_list(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    zones(&c, mv, &ctx, raw.as_deref(), false).await
}

pub async fn zone_detail(State(c): C, mv: Mv, ctx: Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    zones(&c, mv, &ctx, raw.as_deref(), true).await
}
