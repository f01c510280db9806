//! Servers: who sees which, Nova's checks before a build (flavor, image,
//! keypair, quota), and starting the build and delete workflows in the same
//! transaction as the rows they act on.

use std::collections::BTreeMap;
use std::sync::Arc;

use api_core::{ApiError, ApiResult, RequestContext};
use db::DbError;
use serde_json::{json, Value};

use crate::core::{bad, db_err, Compute};
use crate::db as q;
use crate::model::{Instance, InstanceFlavor};
use crate::policies::names;
use crate::workflows::{server_create, server_delete, ServerParams};

/// A create request, checked for shape by the API layer.
#[derive(Clone, Debug, Default)]
pub struct CreateRequest {
    pub name: String,
    pub image_ref: String,
    pub flavor_ref: String,
    pub key_name: Option<String>,
    pub user_data: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub availability_zone: Option<String>,
    pub min_count: i64,
    pub max_count: i64,
    pub description: Option<String>,
    pub scheduler_hints: Value,
    pub tags: Vec<String>,
    /// `config_drive` asked for one.
    pub config_drive: bool,
}

pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Instance {id} could not be found."))
}

/// Nova's `sanitize_hostname`.
fn hostname(name: &str) -> String {
    let mut h: String = name.chars().filter(|c| (*c as u32) < 256).take(63).collect();
    h = h.replace([' ', '_', '.'], "-");
    h.retain(|c| c.is_alphanumeric() || c == '-' || c == '.');
    h.to_lowercase().trim_matches(['.', '-']).to_string()
}

/// Nova's `_validate_flavor_image_nostatus`: the flavor's memory and root
/// disk hold the image (a root disk of 0 is not checked, as in Nova).
pub fn check_flavor_fits_image(image: &image::model::Image, memory_mb: i64, root_gb: i64) -> ApiResult<()> {
    if memory_mb < image.min_ram {
        return Err(bad("Flavor's memory is too small for requested image."));
    }
    let gib = 1024 * 1024 * 1024;
    let flavor_size = root_gb * gib;
    if flavor_size != 0 {
        let image_size = image.size.unwrap_or(0);
        if image_size > flavor_size {
            return Err(bad(format!(
                "Flavor's disk is too small for requested image. Flavor disk is {flavor_size} bytes, image is {image_size} bytes."
            )));
        }
        if image.min_disk * gib > flavor_size {
            return Err(bad(format!(
                "Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is {flavor_size} bytes, minimum size is {} bytes.",
                image.min_disk * gib
            )));
        }
    }
    Ok(())
}

impl Compute {
    /// An instance the caller may see (its project's, or any for admins);
    /// 404 otherwise, as Nova answers.
    pub async fn server(&self, ctx: &RequestContext, id: &str, rule: &str) -> ApiResult<Instance> {
        self.server_lookup(ctx, id, rule, false).await
    }

    /// As [`Compute::server`], deleted servers included when `deleted`.
    pub async fn server_lookup(
        &self,
        ctx: &RequestContext,
        id: &str,
        rule: &str,
        deleted: bool,
    ) -> ApiResult<Instance> {
        let i = q::instance_by_uuid(&self.db, id)
            .await
            .map_err(db_err)?
            .filter(|i| deleted || !i.deleted)
            .ok_or_else(|| not_found(id))?;
        if !self.allowed(ctx, rule, &json!({"project_id": i.project_id})) {
            if ctx.project_id.as_deref() == Some(i.project_id.as_str()) {
                return Err(ApiError::forbidden(format!("Policy doesn't allow {rule} to be performed.")));
            }
            return Err(not_found(id));
        }
        Ok(i)
    }

    async fn check_quota(
        &self,
        ctx: &RequestContext,
        limits: &crate::quotas::Limits,
        f: &InstanceFlavor,
        min: i64,
        max: i64,
    ) -> ApiResult<i64> {
        let project = ctx.project_id.clone().unwrap_or_default();
        let (quota_instances, quota_cores, quota_ram) = (limits["instances"], limits["cores"], limits["ram"]);
        if quota_instances < 0 && quota_cores < 0 && quota_ram < 0 {
            return Ok(max);
        }
        let (used_instances, used_cores, used_ram) = q::project_usage(&self.db, &project).await.map_err(db_err)?;
        let fits = |n: i64| {
            let mut overs = Vec::new();
            if quota_instances >= 0 && used_instances + n > quota_instances {
                overs.push(("instances", used_instances, quota_instances, 1));
            }
            if quota_cores >= 0 && used_cores + n * f.vcpus > quota_cores {
                overs.push(("cores", used_cores, quota_cores, f.vcpus));
            }
            if quota_ram >= 0 && used_ram + n * f.memory_mb > quota_ram {
                overs.push(("ram", used_ram, quota_ram, f.memory_mb));
            }
            overs
        };
        let mut n = max;
        while n >= min {
            if fits(n).is_empty() {
                return Ok(n);
            }
            n -= 1;
        }
        let overs = fits(min);
        let names: Vec<&str> = overs.iter().map(|o| o.0).collect();
        let (_, used, allowed, per) = overs[0];
        let requested = if min == max { format!("{}", min * per) } else { format!("{}-{}", min * per, max * per) };
        Err(ApiError::forbidden(format!(
            "Quota exceeded for {}: Requested {requested}, but already used {used} of {allowed} {}",
            names.join(", "),
            names.join(", ")
        )))
    }

    /// Nova's quota check of a resize: the growth in cores and memory.
    pub async fn check_resize_quota(&self, i: &Instance, new: &InstanceFlavor) -> ApiResult<()> {
        let limits = self.quota_limits(&i.project_id, None).await?;
        let (_, used_cores, used_ram) = q::project_usage(&self.db, &i.project_id).await.map_err(db_err)?;
        let mut overs = Vec::new();
        let dc = new.vcpus - i.flavor.vcpus;
        let dr = new.memory_mb - i.flavor.memory_mb;
        if dc > 0 && limits["cores"] >= 0 && used_cores + dc > limits["cores"] {
            overs.push(("cores", dc, used_cores, limits["cores"]));
        }
        if dr > 0 && limits["ram"] >= 0 && used_ram + dr > limits["ram"] {
            overs.push(("ram", dr, used_ram, limits["ram"]));
        }
        if let Some((name, req, used, allowed)) = overs.first() {
            return Err(ApiError::forbidden(format!(
                "Quota exceeded for {name}: Requested {req}, but already used {used} of {allowed} {name}"
            )));
        }
        Ok(())
    }

    /// Starts building `max_count` servers (fewer if the quota allows only
    /// down to `min_count`); answers them, in launch order.
    pub async fn create_servers(
        self: &Arc<Self>,
        ctx: &RequestContext,
        req: CreateRequest,
    ) -> ApiResult<Vec<Instance>> {
        let project = ctx.project_id.clone().unwrap_or_default();
        let flavor = match self.visible_flavor(ctx, &req.flavor_ref).await {
            Ok(f) => self.with_specs(f).await?,
            Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => {
                return Err(bad(format!("Flavor {} could not be found.", req.flavor_ref)))
            }
            Err(e) => return Err(e),
        };
        let image = self.images.get(ctx, &req.image_ref).await.map_err(|_| bad("Can not find requested image"))?;
        if image.status != "active" {
            return Err(bad(format!("Image {} is not active.", req.image_ref)));
        }
        check_flavor_fits_image(&image, flavor.memory_mb, flavor.root_gb)?;
        let key_data = match &req.key_name {
            Some(k) => {
                Some(self.keypair(&ctx.user_id, k).await.map_err(|_| bad("Invalid key_name provided."))?.public_key)
            }
            None => None,
        };
        let f = InstanceFlavor {
            flavorid: flavor.flavorid.clone(),
            name: flavor.name.clone(),
            vcpus: flavor.vcpus,
            memory_mb: flavor.memory_mb,
            root_gb: flavor.root_gb,
            ephemeral_gb: flavor.ephemeral_gb,
            swap: flavor.swap,
            extra_specs: flavor.extra_specs.clone(),
        };
        let limits = self.quota_limits(&project, Some(&ctx.user_id)).await?;
        let meta_limit = limits["metadata_items"];
        if meta_limit >= 0 && req.metadata.len() as i64 > meta_limit {
            return Err(ApiError::forbidden(format!("Maximum number of metadata items exceeds {meta_limit}")));
        }
        // `zone:host[:node]` forces a host (admins only); an empty zone is any.
        let mut system_metadata = BTreeMap::new();
        if req.config_drive || self.config.force_config_drive {
            system_metadata.insert("config_drive".to_string(), "True".to_string());
        }
        // What the scheduler needs of the image, as Nova keeps it.
        for (k, v) in &image.properties {
            if matches!(k.as_str(), "hw_architecture" | "img_hv_type" | "hw_vm_mode") {
                system_metadata.insert(format!("image_{k}"), v.clone());
            } else if let Some(t) = k.strip_prefix("trait:") {
                system_metadata.insert(format!("image_trait:{t}"), v.clone());
            }
        }
        let mut zone = req.availability_zone.clone();
        if let Some(az) = req.availability_zone.as_deref().filter(|z| z.contains(':')) {
            self.authorize(ctx, names::SERVERS_CREATE_FORCED_HOST, &Compute::project_target(ctx))?;
            let mut parts = az.splitn(3, ':');
            let z = parts.next().unwrap_or_default();
            zone = Some(z.to_string()).filter(|z| !z.is_empty());
            if let Some(h) = parts.next().filter(|h| !h.is_empty()) {
                system_metadata.insert("forced_host".to_string(), h.to_string());
            }
            if let Some(n) = parts.next().filter(|n| !n.is_empty()) {
                system_metadata.insert("forced_node".to_string(), n.to_string());
            }
        }
        if let Some(z) = &zone {
            if !self.zone_exists(z).await? {
                return Err(bad("The requested availability zone is not available"));
            }
        }
        let count = self.check_quota(ctx, &limits, &f, req.min_count, req.max_count).await?;
        let group = self.group_for_build(ctx, &req.scheduler_hints, count).await?;
        let reservation_id = format!("r-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let now = q::now();
        let instances: Vec<Instance> = (0..count)
            .map(|i| {
                let name = if count > 1 { format!("{}-{}", req.name, i + 1) } else { req.name.clone() };
                let uuid = uuid::Uuid::new_v4().to_string();
                let mut host_name = hostname(&name);
                if host_name.is_empty() {
                    host_name = format!("Server-{uuid}");
                }
                Instance {
                    uuid,
                    hostname: host_name,
                    name,
                    project_id: project.clone(),
                    user_id: ctx.user_id.clone(),
                    image_ref: req.image_ref.clone(),
                    flavor: f.clone(),
                    key_name: req.key_name.clone(),
                    key_data: key_data.clone(),
                    user_data: req.user_data.clone(),
                    metadata: req.metadata.clone(),
                    availability_zone: zone.clone(),
                    host: None,
                    node: None,
                    vm_state: "building".into(),
                    task_state: Some("scheduling".into()),
                    power_state: 0,
                    launch_index: i,
                    reservation_id: reservation_id.clone(),
                    description: req.description.clone(),
                    scheduler_hints: req.scheduler_hints.clone(),
                    fault: None,
                    launched_at: None,
                    terminated_at: None,
                    created_at: now.clone(),
                    updated_at: None,
                    deleted: false,
                    deleted_at: None,
                    locked_by: None,
                    tags: req.tags.clone(),
                    system_metadata: system_metadata.clone(),
                    old_flavor: None,
                    new_flavor: None,
                }
            })
            .collect();
        let mut tx = self.db.writer().begin().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        for i in &instances {
            q::insert_instance(&mut tx, i).await.map_err(db_err)?;
            self.action_record(&mut tx, ctx, &i.uuid, "create").await?;
            if let Some(g) = &group {
                q::add_group_member(&mut tx, &g.uuid, &i.uuid).await.map_err(db_err)?;
            }
            let params = ServerParams { instance_uuid: i.uuid.clone() };
            self.engine
                .insert(&mut tx, &format!("create-{}", i.uuid), &server_create::WORKFLOW, &params)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        for i in &instances {
            self.engine.spawn(&format!("create-{}", i.uuid));
        }
        tracing::info!(count, reservation_id = %reservation_id, flavor = %f.flavorid, "server build started");
        Ok(instances)
    }

    /// Starts deleting a server.
    pub async fn delete_server(&self, ctx: &RequestContext, id: &str) -> ApiResult<()> {
        let i = self.server(ctx, id, names::SERVERS_DELETE).await?;
        self.delete_instance(ctx, &i).await
    }

    /// Starts deleting an instance the caller may delete.
    pub async fn delete_instance(&self, ctx: &RequestContext, i: &Instance) -> ApiResult<()> {
        let mut tx = self.db.writer().begin().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        if i.locked_by.is_some() && !self.is_admin(ctx) {
            return Err(crate::actions::locked(&i.uuid));
        }
        if !q::mark_deleting(&mut tx, &i.uuid).await.map_err(db_err)? {
            // Already being deleted: the delete that runs will finish it.
            return Ok(());
        }
        self.action_record(&mut tx, ctx, &i.uuid, "delete").await?;
        let run = format!("delete-{}", i.uuid);
        let params = ServerParams { instance_uuid: i.uuid.clone() };
        self.engine.insert(&mut tx, &run, &server_delete::WORKFLOW, &params).await.map_err(db_err)?;
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        self.engine.spawn(&run);
        Ok(())
    }

    /// One page of the servers the caller may list, newest first, after
    /// `marker` (a server the caller may see).
    pub async fn servers_page(
        &self,
        ctx: &RequestContext,
        all_tenants: bool,
        marker: Option<&str>,
        limit: i64,
    ) -> ApiResult<Vec<Instance>> {
        let project = if all_tenants { None } else { Some(ctx.project_id.clone().unwrap_or_default()) };
        let after = match marker {
            Some(m) => {
                let i = q::instance_by_uuid(&self.db, m).await.map_err(db_err)?;
                match i {
                    Some(i) if project.as_deref().is_none_or(|p| p == i.project_id) => Some((i.created_at, i.uuid)),
                    _ => return Err(bad(format!("marker [{m}] not found"))),
                }
            }
            None => None,
        };
        q::instances_page(&self.db, project.as_deref(), after.as_ref().map(|(c, u)| (c.as_str(), u.as_str())), limit)
            .await
            .map_err(db_err)
    }

    /// Servers the caller may list: its project's, or (admins asking for
    /// all tenants) everyone's.
    pub async fn servers(&self, ctx: &RequestContext, all_tenants: bool) -> ApiResult<Vec<Instance>> {
        let project = if all_tenants { None } else { Some(ctx.project_id.clone().unwrap_or_default()) };
        q::list_instances(&self.db, project.as_deref(), false).await.map_err(db_err)
    }
}
