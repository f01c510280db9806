//! Glance's unified-limit quotas: per-project limits for service type
//! `image` read from the Identity service (its registered limits and project
//! limits, through [`LimitSource`]), checked as `usage + delta > limit`
//! with a 413 as Glance words it. Off unless `[image] use_keystone_limits`;
//! when on, a resource without any limit allows nothing (as Glance).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use api_core::{ApiResult, RequestContext};
use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::core::{gerr, Images};
use crate::db as q;

/// Bytes of active image data, in MiB.
pub const IMAGE_SIZE_TOTAL: &str = "image_size_total";
/// Bytes staged or being imported, in MiB.
pub const IMAGE_STAGE_TOTAL: &str = "image_stage_total";
pub const IMAGE_COUNT_TOTAL: &str = "image_count_total";
pub const IMAGE_COUNT_UPLOADING: &str = "image_count_uploading";
pub const RESOURCES: [&str; 4] = [IMAGE_SIZE_TOTAL, IMAGE_STAGE_TOTAL, IMAGE_COUNT_TOTAL, IMAGE_COUNT_UPLOADING];

pub const MIB: u64 = 1 << 20;

pub type LimitFuture<'a> = Pin<Box<dyn Future<Output = Result<HashMap<String, i64>, String>> + Send + 'a>>;

/// Where the limits come from: resource name -> limit for a project
/// (absent when neither the project nor the service has one).
pub trait LimitSource: Send + Sync {
    fn limits<'a>(&'a self, project_id: &'a str) -> LimitFuture<'a>;
}

impl Images {
    async fn limits_of(&self, project: &str) -> ApiResult<Option<HashMap<String, i64>>> {
        let Some(source) = &self.limits else { return Ok(None) };
        source.limits(project).await.map(Some).map_err(|e| {
            tracing::error!(project, error = %e, "cannot read the image quotas from the identity service");
            gerr(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server has either erred or is incapable of performing\r\nthe requested operation.\r\n",
            )
        })
    }

    /// Checks `(resource, delta)` pairs against the caller's project limits.
    pub(crate) async fn check_quota(&self, ctx: &RequestContext, checks: &[(&str, i64)]) -> ApiResult<()> {
        let Some(project) = ctx.project_id.as_deref() else { return Ok(()) };
        let Some(limits) = self.limits_of(project).await? else { return Ok(()) };
        let mut over = Vec::new();
        for (name, delta) in checks {
            let limit = limits.get(*name).copied().unwrap_or(0);
            if limit < 0 {
                continue;
            }
            let usage = q::quota_usage(&self.db, project, name).await.map_err(crate::core::db_error)?;
            if usage + delta > limit {
                over.push(format!(
                    "Resource {name} is over limit of {limit} due to current usage {usage} and delta {delta}"
                ));
            }
        }
        if over.is_empty() {
            return Ok(());
        }
        tracing::info!(project, over = ?over, "image request over quota");
        Err(gerr(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The request returned a 413 Request Entity Too Large. This generally means that rate limiting or a quota threshold was breached.\n\nThe response body:\nProject {project} is over a limit for [{}]",
                over.join(", ")
            ),
        ))
    }

    /// `GET /v2/info/usage`: usage and limit of each resource, or nothing
    /// when quotas are off.
    pub async fn usage_report(&self, ctx: &RequestContext) -> ApiResult<Value> {
        let mut out = Map::new();
        if let Some(project) = ctx.project_id.as_deref() {
            if let Some(limits) = self.limits_of(project).await? {
                for name in RESOURCES {
                    let usage = q::quota_usage(&self.db, project, name).await.map_err(crate::core::db_error)?;
                    out.insert(name.into(), json!({"usage": usage, "limit": limits.get(name).copied().unwrap_or(0)}));
                }
            }
        }
        Ok(json!({"usage": out}))
    }
}

/// A data size as the quota counts it (whole MiB).
pub fn mib(bytes: Option<u64>) -> i64 {
    (bytes.unwrap_or(0) / MIB) as i64
}
