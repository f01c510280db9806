//! Compute's domain logic: who may see and change which flavor and keypair,
//! and the rules Nova applies to them. No HTTP here beyond the status codes
//! and messages of the faults Nova answers with.

use std::collections::BTreeMap;
use std::sync::Arc;

use api_core::{ApiError, ApiResult, RequestContext};
use axum::http::StatusCode;
use db::{Db, DbError};
use serde_json::{json, Value};

use crate::config::ComputeConfig;
use crate::db as q;
use crate::model::{Flavor, Keypair, NewFlavor};

pub struct Compute {
    pub db: Db,
    pub config: ComputeConfig,
    enforcer: Arc<policy::Enforcer>,
    /// Public URL of the service, e.g. `http://127.0.0.1:5000/compute`.
    pub endpoint: String,
    pub placement: Arc<placement::Placement>,
    pub images: Arc<image::Images>,
    /// Runs the server workflows (create, delete, ...).
    pub engine: Arc<workflow::Engine<Compute>>,
    /// Memory (MiB) this controller is claiming on each node right now, so
    /// that concurrent builds spread instead of all choosing the node that
    /// looked emptiest before any of their claims landed.
    /// Memory, VCPUs and disk this controller is claiming on each node.
    pub(crate) inflight: std::sync::Mutex<std::collections::HashMap<String, [i64; 3]>>,
    me: std::sync::OnceLock<std::sync::Weak<Compute>>,
    /// Woken when this controller queues an agent command.
    pub(crate) commands_queued: tokio::sync::Notify,
    /// Steps waiting for a command's result, by sequence number; woken
    /// when the result reaches this controller.
    pub(crate) result_waiters: std::sync::Mutex<std::collections::HashMap<i64, Arc<tokio::sync::Notify>>>,
    /// Compute nodes and services, read at most once a second for the
    /// scheduler (a change shows in the next second's schedules).
    /// When each agent's heartbeat was last written by this controller.
    pub(crate) heartbeats: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    pub(crate) hosts_cache: tokio::sync::Mutex<Option<(std::time::Instant, Arc<crate::scheduler::Hosts>)>>,
    /// One lock per server group with a hard (anti-)affinity policy: its
    /// members are placed one at a time, each seeing where the others went.
    pub(crate) group_locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

pub fn db_err(e: DbError) -> ApiError {
    tracing::error!(error = %e, "compute database error");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Unexpected API Error. Please contact the administrator: the database did not answer.",
    )
}

pub fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

fn flavor_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Flavor {id} could not be found."))
}

impl Compute {
    pub fn new(
        db: Db,
        config: ComputeConfig,
        enforcer: Arc<policy::Enforcer>,
        endpoint: String,
        placement: Arc<placement::Placement>,
        images: Arc<image::Images>,
    ) -> Arc<Compute> {
        let engine = Arc::new(workflow::Engine::new(db.clone(), config.workflow(), crate::workflows::ALL));
        let c = Arc::new(Compute {
            db,
            config,
            enforcer,
            endpoint,
            placement,
            images,
            engine,
            inflight: Default::default(),
            me: std::sync::OnceLock::new(),
            commands_queued: tokio::sync::Notify::new(),
            result_waiters: Default::default(),
            heartbeats: Default::default(),
            hosts_cache: tokio::sync::Mutex::new(None),
            group_locks: Default::default(),
        });
        c.engine.set_context(&c);
        let _ = c.me.set(Arc::downgrade(&c));
        c
    }

    /// This service as the engine holds it (for tasks that outlive a call).
    pub(crate) fn engine_context(&self) -> Option<Arc<Compute>> {
        self.me.get().and_then(|w| w.upgrade())
    }

    /// Nova's `context.is_admin`: the admin role.
    pub fn is_admin(&self, ctx: &RequestContext) -> bool {
        ctx.has_role("admin")
    }

    pub fn allowed(&self, ctx: &RequestContext, rule: &str, target: &Value) -> bool {
        self.enforcer.enforce(rule, &ctx.credentials(), target).is_ok()
    }

    /// 403 with Nova's text when `rule` does not allow the call.
    pub fn authorize(&self, ctx: &RequestContext, rule: &str, target: &Value) -> ApiResult<()> {
        if self.allowed(ctx, rule, target) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("Policy doesn't allow {rule} to be performed.")))
        }
    }

    /// The target of project-scoped rules: the caller's own project.
    pub fn project_target(ctx: &RequestContext) -> Value {
        json!({"project_id": ctx.project_id.clone().unwrap_or_default()})
    }

    // ---------- flavors ----------

    /// A flavor the caller may see: every one for admins; public ones and
    /// those granted to the caller's project for others.
    pub async fn visible_flavor(&self, ctx: &RequestContext, flavorid: &str) -> ApiResult<Flavor> {
        let f = q::flavor_by_flavorid(&self.db, flavorid)
            .await
            .map_err(db_err)?
            .ok_or_else(|| flavor_not_found(flavorid))?;
        if f.is_public || self.is_admin(ctx) {
            return Ok(f);
        }
        match &ctx.project_id {
            Some(p) if q::flavor_has_project(&self.db, f.id, p).await.map_err(db_err)? => Ok(f),
            _ => Err(flavor_not_found(flavorid)),
        }
    }

    /// A flavor by id, whoever may see it (for admin operations).
    pub async fn any_flavor(&self, flavorid: &str) -> ApiResult<Flavor> {
        q::flavor_by_flavorid(&self.db, flavorid).await.map_err(db_err)?.ok_or_else(|| flavor_not_found(flavorid))
    }

    pub async fn with_specs(&self, mut f: Flavor) -> ApiResult<Flavor> {
        f.extra_specs = q::extra_specs(&self.db, f.id).await.map_err(db_err)?;
        Ok(f)
    }

    /// Flavors by Nova's visibility rules; `is_public` is the admin's filter
    /// (`Some(true)` by default, `None` for all).
    pub async fn flavors(&self, ctx: &RequestContext, is_public: Option<bool>) -> ApiResult<Vec<Flavor>> {
        let flavors = if self.is_admin(ctx) {
            q::list_flavors(&self.db, ctx.project_id.as_deref().filter(|_| is_public == Some(true)), is_public).await
        } else {
            q::list_flavors(&self.db, ctx.project_id.as_deref(), Some(true)).await
        };
        let mut flavors = flavors.map_err(db_err)?;
        flavors.retain(|f| !f.disabled);
        Ok(flavors)
    }

    pub async fn create_flavor(&self, new: NewFlavor) -> ApiResult<Flavor> {
        let conflict = |new: &NewFlavor, by_id: bool| {
            if by_id {
                ApiError::conflict(format!("Flavor with ID {} already exists.", new.flavorid))
            } else {
                ApiError::conflict(format!("Flavor with name {} already exists.", new.name))
            }
        };
        if q::flavor_by_flavorid(&self.db, &new.flavorid).await.map_err(db_err)?.is_some() {
            return Err(conflict(&new, true));
        }
        match q::insert_flavor(&self.db, &new).await {
            Ok(()) => {}
            Err(DbError::Conflict) => {
                let by_id = q::flavor_by_flavorid(&self.db, &new.flavorid).await.map_err(db_err)?.is_some();
                return Err(conflict(&new, by_id));
            }
            Err(e) => return Err(db_err(e)),
        }
        tracing::info!(flavor_id = %new.flavorid, name = %new.name, "flavor created");
        self.any_flavor(&new.flavorid).await
    }

    pub async fn set_flavor_description(&self, f: &Flavor, description: Option<&str>) -> ApiResult<Flavor> {
        q::set_flavor_description(&self.db, f.id, description).await.map_err(db_err)?;
        self.any_flavor(&f.flavorid).await
    }

    pub async fn delete_flavor(&self, flavorid: &str) -> ApiResult<()> {
        let f = self.any_flavor(flavorid).await?;
        q::delete_flavor(&self.db, f.id).await.map_err(db_err)?;
        tracing::info!(flavor_id = %flavorid, "flavor deleted");
        Ok(())
    }

    pub async fn flavor_access(&self, f: &Flavor) -> ApiResult<Vec<String>> {
        q::flavor_projects(&self.db, f.id).await.map_err(db_err)
    }

    pub async fn add_flavor_access(&self, f: &Flavor, project: &str, refuse_public: bool) -> ApiResult<Vec<String>> {
        if f.is_public && refuse_public {
            return Err(ApiError::conflict("Can not add access to a public flavor."));
        }
        match q::add_flavor_project(&self.db, f.id, project).await {
            Ok(()) => {}
            Err(DbError::Conflict) => {
                return Err(ApiError::conflict(format!(
                    "Flavor access already exists for flavor {} and project {project} combination.",
                    f.id
                )))
            }
            Err(e) => return Err(db_err(e)),
        }
        self.flavor_access(f).await
    }

    pub async fn remove_flavor_access(&self, f: &Flavor, project: &str) -> ApiResult<Vec<String>> {
        if !q::remove_flavor_project(&self.db, f.id, project).await.map_err(db_err)? {
            return Err(ApiError::not_found(format!("Flavor access not found for {} / {project} combination.", f.id)));
        }
        self.flavor_access(f).await
    }

    pub async fn set_extra_specs(&self, f: &Flavor, specs: &BTreeMap<String, String>) -> ApiResult<()> {
        q::upsert_extra_specs(&self.db, f.id, specs).await.map_err(db_err)
    }

    pub async fn delete_extra_spec(&self, f: &Flavor, key: &str) -> ApiResult<()> {
        if q::delete_extra_spec(&self.db, f.id, key).await.map_err(db_err)? {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("Flavor {} has no extra specs with key {key}.", f.flavorid)))
        }
    }

    // ---------- keypairs ----------

    pub async fn keypairs(&self, user_id: &str, marker: Option<&str>, limit: i64) -> ApiResult<Vec<Keypair>> {
        if let Some(m) = marker {
            if q::keypair_by_name(&self.db, user_id, m).await.map_err(db_err)?.is_none() {
                return Err(bad(format!("Marker {m} could not be found.")));
            }
        }
        q::list_keypairs(&self.db, user_id, marker, limit).await.map_err(db_err)
    }

    pub async fn keypair(&self, user_id: &str, name: &str) -> ApiResult<Keypair> {
        q::keypair_by_name(&self.db, user_id, name)
            .await
            .map_err(db_err)?
            .ok_or_else(|| ApiError::not_found(format!("Keypair {name} not found for user {user_id}")))
    }

    /// Imports a public key for `user_id` (quota, then the key, then the row).
    pub async fn import_keypair(
        &self,
        user_id: &str,
        name: &str,
        key_type: &str,
        public_key: &str,
    ) -> ApiResult<Keypair> {
        let limit = self.class_limits("default").await?["key_pairs"];
        if limit >= 0 && q::count_keypairs(&self.db, user_id).await.map_err(db_err)? + 1 > limit {
            return Err(ApiError::forbidden("Quota exceeded, too many key pairs."));
        }
        let fingerprint = if key_type == "x509" {
            return Err(bad(
                "Keypair data is invalid: failed to generate X509 fingerprint. Error message: x509 keypairs are not supported by this cloud",
            ));
        } else {
            crate::keys::ssh_fingerprint(public_key)
                .ok_or_else(|| bad("Keypair data is invalid: failed to generate fingerprint"))?
        };
        let k = Keypair {
            id: 0,
            user_id: user_id.to_string(),
            name: name.to_string(),
            fingerprint,
            public_key: public_key.to_string(),
            key_type: key_type.to_string(),
            created_at: q::now(),
        };
        match q::insert_keypair(&self.db, &k).await {
            Ok(k) => Ok(k),
            Err(DbError::Conflict) => Err(ApiError::conflict(format!("Key pair '{name}' already exists."))),
            Err(e) => Err(db_err(e)),
        }
    }

    pub async fn delete_keypair(&self, user_id: &str, name: &str) -> ApiResult<()> {
        if q::delete_keypair(&self.db, user_id, name).await.map_err(db_err)? {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("Keypair {name} not found for user {user_id}")))
        }
    }
}
