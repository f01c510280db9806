//! Quotas: Nova's resources, their limits (a project's own, else the
//! `default` quota class, else the configured defaults) and their usage,
//! counted from the rows themselves as Nova's counting quota driver does.

use std::collections::BTreeMap;

use api_core::{ApiError, ApiResult};

use crate::core::{db_err, Compute};
use crate::db as q;

/// Every compute quota resource, in Nova's order.
pub const RESOURCES: &[&str] = &[
    "instances",
    "cores",
    "ram",
    "metadata_items",
    "key_pairs",
    "server_groups",
    "server_group_members",
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_bytes",
];

pub type Limits = BTreeMap<String, i64>;

impl Compute {
    /// The configured defaults (`[quota]`).
    pub fn quota_defaults(&self) -> Limits {
        let c = &self.config;
        [
            ("instances", c.quota_instances),
            ("cores", c.quota_cores),
            ("ram", c.quota_ram),
            ("metadata_items", 128),
            ("key_pairs", c.quota_key_pairs),
            ("server_groups", 10),
            ("server_group_members", 10),
            ("injected_files", 5),
            ("injected_file_content_bytes", 10240),
            ("injected_file_path_bytes", 255),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The limits of a quota class: the configured defaults with the
    /// class's own values over them.
    pub async fn class_limits(&self, class: &str) -> ApiResult<Limits> {
        let mut l = self.quota_defaults();
        l.extend(q::quota_class(&self.db, "default").await.map_err(db_err)?);
        if class != "default" {
            l.extend(q::quota_class(&self.db, class).await.map_err(db_err)?);
        }
        Ok(l)
    }

    /// A project's limits (a user's within it when `user` is given).
    pub async fn quota_limits(&self, project: &str, user: Option<&str>) -> ApiResult<Limits> {
        let mut l = self.class_limits("default").await?;
        l.extend(q::quotas(&self.db, project, user).await.map_err(db_err)?);
        Ok(l)
    }

    /// What a project uses of each resource.
    pub async fn quota_usage(&self, project: &str) -> ApiResult<Limits> {
        let (instances, cores, ram) = q::project_usage(&self.db, project).await.map_err(db_err)?;
        let groups = q::count_server_groups(&self.db, project).await.map_err(db_err)?;
        let mut u: Limits = RESOURCES.iter().map(|r| (r.to_string(), 0)).collect();
        u.insert("instances".into(), instances);
        u.insert("cores".into(), cores);
        u.insert("ram".into(), ram);
        u.insert("server_groups".into(), groups);
        Ok(u)
    }

    /// Sets limits, refusing (unless `force`) any below what is in use.
    pub async fn set_quotas(&self, project: &str, user: Option<&str>, limits: &Limits, force: bool) -> ApiResult<()> {
        if !force {
            let usage = self.quota_usage(project).await?;
            for (r, l) in limits {
                let used = usage.get(r).copied().unwrap_or(0);
                if *l != -1 && *l < used {
                    return Err(ApiError::bad_request(format!(
                        "Quota limit {l} for {r} must be greater than or equal to already used and reserved {used}."
                    )));
                }
            }
        }
        q::set_quotas(&self.db, project, user.unwrap_or(""), limits).await.map_err(db_err)
    }
}
