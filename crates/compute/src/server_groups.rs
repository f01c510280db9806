//! Server groups: their policies (affinity, anti-affinity and the soft
//! variants, `max_server_per_host`), membership at build time, and the
//! placement rules the scheduler applies for a member and for the
//! `same_host` / `different_host` hints.

use std::collections::HashMap;

use api_core::{ApiError, ApiResult, RequestContext};
use serde_json::{json, Value};

use crate::core::{bad, db_err, Compute};
use crate::db::{self as q, ServerGroup};
use crate::model::Instance;

pub const POLICIES: &[&str] = &["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"];

pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Instance group {id} could not be found."))
}

/// Where a build may go given its group and hints.
#[derive(Default)]
pub struct Rules {
    /// Hosts it must be on (affinity with placed members, same_host).
    pub only: Option<Vec<String>>,
    /// Hosts it must not be on: host -> members there, refused at `max`.
    pub avoid: HashMap<String, i64>,
    pub max_per_host: i64,
    /// Soft policies: +1 to prefer hosts with members, -1 to avoid them.
    pub soft: i64,
    pub soft_counts: HashMap<String, i64>,
}

impl Rules {
    pub fn allows(&self, host: &str) -> bool {
        if let Some(only) = &self.only {
            if !only.iter().any(|h| h == host) {
                return false;
            }
        }
        self.avoid.get(host).copied().unwrap_or(0) < self.max_per_host.max(1)
    }

    /// A weight added to a host's score: soft affinity draws builds to
    /// members, soft anti-affinity pushes them away.
    pub fn weight(&self, host: &str) -> f64 {
        (self.soft * self.soft_counts.get(host).copied().unwrap_or(0)) as f64
    }
}

fn hint_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

impl Compute {
    pub async fn create_server_group(
        &self,
        ctx: &RequestContext,
        name: &str,
        policy: &str,
        rules: Value,
    ) -> ApiResult<ServerGroup> {
        let project = ctx.project_id.clone().unwrap_or_default();
        let limit = self.quota_limits(&project, Some(&ctx.user_id)).await?["server_groups"];
        if limit >= 0 && q::count_server_groups(&self.db, &project).await.map_err(db_err)? + 1 > limit {
            return Err(ApiError::forbidden("Quota exceeded, too many server groups."));
        }
        let g = ServerGroup {
            uuid: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            project_id: project,
            user_id: ctx.user_id.clone(),
            policy: policy.to_string(),
            rules,
            created_at: q::now(),
        };
        q::insert_server_group(&self.db, &g).await.map_err(db_err)?;
        Ok(g)
    }

    /// A group the caller may act on under `rule` (404, then 403).
    pub async fn server_group(&self, ctx: &RequestContext, id: &str, rule: &str) -> ApiResult<ServerGroup> {
        let g = q::server_group_by_uuid(&self.db, id).await.map_err(db_err)?.ok_or_else(|| not_found(id))?;
        self.authorize(ctx, rule, &json!({"project_id": g.project_id}))?;
        Ok(g)
    }

    /// The group a build names in its `group` hint, checked (400 when it
    /// does not exist, 403 when the group is full).
    pub async fn group_for_build(
        &self,
        ctx: &RequestContext,
        hints: &Value,
        count: i64,
    ) -> ApiResult<Option<ServerGroup>> {
        let Some(id) = hint_list(&hints["group"]).into_iter().next() else { return Ok(None) };
        let g = q::server_group_by_uuid(&self.db, &id)
            .await
            .map_err(db_err)?
            .ok_or_else(|| bad(format!("Instance group {id} could not be found.")))?;
        let project = ctx.project_id.clone().unwrap_or_default();
        let limit = self.quota_limits(&project, Some(&ctx.user_id)).await?["server_group_members"];
        let members = q::group_members(&self.db, &g.uuid).await.map_err(db_err)?.len() as i64;
        if limit >= 0 && members + count > limit {
            return Err(ApiError::forbidden("Quota exceeded, too many servers in group"));
        }
        Ok(Some(g))
    }

    /// The lock a member of a hard-policy group holds while it is placed.
    pub(crate) async fn group_lock(&self, inst: &Instance) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>, String> {
        // Only a build with a `group` hint joined a group.
        if inst.scheduler_hints.get("group").is_none() {
            return Ok(None);
        }
        for gid in q::instance_groups(&self.db, &inst.uuid).await.map_err(|e| e.to_string())? {
            let Some(g) = q::server_group_by_uuid(&self.db, &gid).await.map_err(|e| e.to_string())? else { continue };
            if g.policy == "affinity" || g.policy == "anti-affinity" {
                let lock = self.group_locks.lock().expect("group locks").entry(gid).or_default().clone();
                return Ok(Some(lock.lock_owned().await));
            }
        }
        Ok(None)
    }

    /// The placement rules of a build: its group's policy against where
    /// the other members are, and its same_host / different_host hints.
    pub(crate) async fn placement_rules(&self, inst: &Instance) -> Result<Rules, String> {
        let mut rules = Rules { max_per_host: 1, ..Default::default() };
        let grouped = inst.scheduler_hints.get("group").is_some();
        let groups = if grouped {
            q::instance_groups(&self.db, &inst.uuid).await.map_err(|e| e.to_string())?
        } else {
            Vec::new()
        };
        for gid in groups {
            let Some(g) = q::server_group_by_uuid(&self.db, &gid).await.map_err(|e| e.to_string())? else { continue };
            let mut per_host: HashMap<String, i64> = HashMap::new();
            for (uuid, host) in q::group_members(&self.db, &gid).await.map_err(|e| e.to_string())? {
                if let (Some(h), true) = (host, uuid != inst.uuid) {
                    *per_host.entry(h).or_default() += 1;
                }
            }
            match g.policy.as_str() {
                "affinity" if !per_host.is_empty() => rules.only = Some(per_host.keys().cloned().collect()),
                "anti-affinity" => {
                    rules.max_per_host = g.rules["max_server_per_host"].as_i64().unwrap_or(1);
                    rules.avoid = per_host;
                }
                "soft-affinity" => (rules.soft, rules.soft_counts) = (1, per_host),
                "soft-anti-affinity" => (rules.soft, rules.soft_counts) = (-1, per_host),
                _ => {}
            }
        }
        let hosts_of = |ids: Vec<String>| async move {
            let mut hosts = Vec::new();
            for id in ids {
                if let Ok(Some(i)) = q::instance_by_uuid(&self.db, &id).await {
                    hosts.extend(i.host);
                }
            }
            hosts
        };
        let same = hint_list(&inst.scheduler_hints["same_host"]);
        if !same.is_empty() {
            let hosts = hosts_of(same).await;
            rules.only = Some(match rules.only.take() {
                Some(only) => only.into_iter().filter(|h| hosts.contains(h)).collect(),
                None => hosts,
            });
        }
        for h in hosts_of(hint_list(&inst.scheduler_hints["different_host"])).await {
            rules.avoid.insert(h, i64::MAX / 2);
        }
        Ok(rules)
    }
}
