//! Identity's domain logic: authentication, token issue and validation with
//! a revocation-aware cache, effective role resolution, the service catalog,
//! and bootstrap. No HTTP here beyond the error type, no SQL (see `db`).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use api_core::{ApiError, ApiResult, RequestContext};
use db::{Db, DbError};
use serde_json::{json, Value};

use crate::config::IdentityConfig;
use crate::db as q;
use crate::model::*;
use crate::token::{self, KeyRepository, Payload};

/// A token resolved into everything a response or a policy check needs.
#[derive(Clone, Debug)]
pub struct TokenData {
    pub payload: Payload,
    pub user: User,
    pub user_domain: Project,
    pub project: Option<Project>,
    pub project_domain: Option<Project>,
    pub domain: Option<Project>,
    pub roles: Vec<Role>,
    pub app_cred: Option<ApplicationCredential>,
}

impl TokenData {
    pub fn context(&self) -> RequestContext {
        RequestContext {
            user_id: self.user.id.clone(),
            user_name: self.user.name.clone(),
            user_domain_id: self.user_domain.id.clone(),
            user_domain_name: self.user_domain.name.clone(),
            project_id: self.project.as_ref().map(|p| p.id.clone()),
            project_name: self.project.as_ref().map(|p| p.name.clone()),
            project_domain_id: self.project_domain.as_ref().map(|p| p.id.clone()),
            project_domain_name: self.project_domain.as_ref().map(|p| p.name.clone()),
            domain_id: self.domain.as_ref().map(|d| d.id.clone()),
            domain_name: self.domain.as_ref().map(|d| d.name.clone()),
            system_scope: self.payload.system.then(|| "all".to_string()),
            roles: self.roles.iter().map(|r| r.name.clone()).collect(),
            role_ids: self.roles.iter().map(|r| r.id.clone()).collect(),
            application_credential_id: self.payload.application_credential_id.clone(),
            audit_ids: self.payload.audit_ids.clone(),
            expires_at: iso(self.payload.expires_at),
            issued_at: iso(self.payload.issued_at),
            methods: token::methods_from_bits(self.payload.methods),
            access_rules: self.app_cred.as_ref().filter(|a| !a.access_rules.is_empty()).map(|a| {
                a.access_rules
                    .iter()
                    .map(|r| api_core::context::AccessRule {
                        service: r.service.clone(),
                        path: r.path.clone(),
                        method: r.method.clone(),
                    })
                    .collect()
            }),
            ..Default::default()
        }
    }

    /// The `token` object of Keystone's token responses.
    pub fn to_json(&self, catalog: Option<&Value>) -> Value {
        let mut t = json!({
            "methods": token::methods_from_bits(self.payload.methods),
            "user": {
                "id": self.user.id, "name": self.user.name,
                "domain": {"id": self.user_domain.id, "name": self.user_domain.name},
                "password_expires_at": self.user.password_expires_at.map(iso_naive),
            },
            "audit_ids": self.payload.audit_ids,
            "expires_at": iso(self.payload.expires_at),
            "issued_at": iso(self.payload.issued_at),
        });
        let scoped = self.project.is_some() || self.domain.is_some() || self.payload.system;
        if let (Some(p), Some(d)) = (&self.project, &self.project_domain) {
            t["project"] = json!({"id": p.id, "name": p.name, "domain": {"id": d.id, "name": d.name}});
            t["is_domain"] = json!(false);
        }
        if let Some(d) = &self.domain {
            t["domain"] = json!({"id": d.id, "name": d.name});
        }
        if self.payload.system {
            t["system"] = json!({"all": true});
        }
        if scoped {
            t["roles"] = json!(self.roles.iter().map(|r| json!({"id": r.id, "name": r.name})).collect::<Vec<_>>());
            if let Some(c) = catalog {
                t["catalog"] = c.clone();
            }
        }
        if let Some(ac) = &self.app_cred {
            let mut a = json!({"id": ac.id, "name": ac.name, "restricted": !ac.unrestricted});
            if !ac.access_rules.is_empty() {
                a["access_rules"] = json!(ac.access_rules.iter().map(AccessRule::to_json).collect::<Vec<_>>());
            }
            t["application_credential"] = a;
        }
        t
    }
}

struct CachedToken {
    data: Arc<TokenData>,
    ctx: Arc<RequestContext>,
    at: Instant,
    generation: i64,
}

pub struct Identity {
    pub db: Db,
    pub config: IdentityConfig,
    pub enforcer: Arc<policy::Enforcer>,
    /// Public URL of this service, e.g. `http://127.0.0.1:5000/identity`.
    pub base_url: String,
    keys: RwLock<Arc<KeyRepository>>,
    cache: RwLock<HashMap<String, CachedToken>>,
    revocations: RwLock<Vec<RevocationEvent>>,
    revocations_seen: AtomicI64,
    /// Bumped by every change to who holds which role; cached tokens of an
    /// older generation are rebuilt.
    generation: AtomicI64,
    catalog: RwLock<Option<Arc<Value>>>,
}

pub fn db_err(e: DbError) -> ApiError {
    match e {
        DbError::Conflict => ApiError::conflict("Conflict occurred attempting to store the resource: duplicate entry."),
        DbError::ForeignKey => ApiError::bad_request("The request refers to a resource that does not exist."),
        DbError::Other(e) => ApiError::internal(e),
    }
}

pub fn not_found(kind: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("Could not find {kind}: {id}."))
}

fn unauthorized() -> ApiError {
    ApiError::unauthorized("The request you have made requires authentication.")
}

impl Identity {
    pub fn new(
        db: Db,
        config: IdentityConfig,
        enforcer: Arc<policy::Enforcer>,
        base_url: String,
        key_dir: &Path,
    ) -> anyhow::Result<Identity> {
        let keys = KeyRepository::open(key_dir)?;
        Ok(Identity {
            db,
            config,
            enforcer,
            base_url,
            keys: RwLock::new(Arc::new(keys)),
            cache: RwLock::new(HashMap::new()),
            revocations: RwLock::new(Vec::new()),
            revocations_seen: AtomicI64::new(0),
            generation: AtomicI64::new(0),
            catalog: RwLock::new(None),
        })
    }

    /// Re-reads the key repository (after a rotation).
    pub fn reload_keys(&self) -> anyhow::Result<()> {
        let dir = self.keys.read().expect("lock").dir().to_path_buf();
        *self.keys.write().expect("lock") = Arc::new(KeyRepository::open(&dir)?);
        Ok(())
    }

    // ---------- policy ----------

    /// Checks `rule`. Attributes that are null in `target` are left out, as
    /// Keystone leaves them out, so `domain_id:%(target.domain_id)s` never
    /// matches an unscoped value by accident.
    pub fn enforce(&self, ctx: &RequestContext, rule: &str, target: &Value) -> ApiResult<()> {
        match self.enforcer.enforce(rule, &ctx.credentials(), &without_nulls(target)) {
            Ok(()) => Ok(()),
            Err(_) => {
                Err(ApiError::forbidden(format!("You are not authorized to perform the requested action: {rule}.")))
            }
        }
    }

    // ---------- caches ----------

    /// Call after any change to users, projects, roles or assignments.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The unified limits of a project for the service of `service_type`:
    /// resource name -> limit, the project's own limit over the registered
    /// default. Resources with neither are absent.
    pub async fn project_limits(&self, service_type: &str, project_id: &str) -> ApiResult<HashMap<String, i64>> {
        let services = q::list_services(&self.db).await.map_err(db_err)?;
        let ids: Vec<String> = services.into_iter().filter(|s| s.service_type == service_type).map(|s| s.id).collect();
        let mut out = HashMap::new();
        for r in q::list_registered_limits(&self.db).await.map_err(db_err)? {
            if ids.contains(&r.service_id) {
                out.insert(r.resource_name, r.default_limit);
            }
        }
        for l in q::list_limits(&self.db).await.map_err(db_err)? {
            if ids.contains(&l.service_id) && l.project_id.as_deref() == Some(project_id) {
                out.insert(l.resource_name, l.resource_limit);
            }
        }
        Ok(out)
    }

    pub fn invalidate_catalog(&self) {
        *self.catalog.write().expect("lock") = None;
    }

    pub async fn catalog(&self) -> ApiResult<Arc<Value>> {
        if let Some(c) = self.catalog.read().expect("lock").clone() {
            return Ok(c);
        }
        let services = q::list_services(&self.db).await.map_err(db_err)?;
        let endpoints = q::list_endpoints(&self.db).await.map_err(db_err)?;
        let cat: Vec<Value> = services
            .iter()
            .filter(|s| s.enabled)
            .map(|s| {
                let eps: Vec<Value> = endpoints
                    .iter()
                    .filter(|e| e.service_id == s.id && e.enabled)
                    .map(|e| json!({"id": e.id, "interface": e.interface, "region": e.region_id, "region_id": e.region_id, "url": e.url}))
                    .collect();
                json!({"endpoints": eps, "id": s.id, "type": s.service_type, "name": s.name()})
            })
            .collect();
        let cat = Arc::new(Value::Array(cat));
        *self.catalog.write().expect("lock") = Some(cat.clone());
        Ok(cat)
    }

    // ---------- revocation ----------

    /// Records a revocation event here and for every other controller.
    pub async fn revoke(&self, mut ev: RevocationEvent) -> ApiResult<()> {
        let now = now_micros();
        ev.id = new_id();
        ev.revoked_at = now;
        if ev.issued_before == 0 {
            ev.issued_before = now;
        }
        q::insert_revocation(self.db.writer(), &ev).await.map_err(db_err)?;
        self.revocations.write().expect("lock").push(ev);
        self.invalidate();
        Ok(())
    }

    /// Tells every controller that users, roles, assignments or the catalog
    /// changed: an event that matches no token, whose arrival makes other
    /// controllers drop their caches.
    pub async fn changed(&self) -> ApiResult<()> {
        let now = now_micros();
        let ev = RevocationEvent { id: new_id(), issued_before: 0, revoked_at: now, ..Default::default() };
        q::insert_revocation(self.db.writer(), &ev).await.map_err(db_err)?;
        self.invalidate();
        self.invalidate_catalog();
        Ok(())
    }

    /// Loads events written by other controllers since the last call.
    pub async fn refresh_revocations(&self) -> anyhow::Result<()> {
        let since = self.revocations_seen.load(Ordering::SeqCst);
        let events = q::list_revocations(&self.db, since).await?;
        let mut changed = false;
        {
            let mut list = self.revocations.write().expect("lock");
            let known: HashSet<String> = list.iter().map(|e| e.id.clone()).collect();
            for ev in events {
                self.revocations_seen.fetch_max(ev.revoked_at, Ordering::SeqCst);
                if !known.contains(&ev.id) {
                    list.push(ev);
                    changed = true;
                }
            }
            let horizon = now_micros() - (self.config.token_expiration + self.config.allow_expired_window) * 1_000_000;
            list.retain(|e| e.revoked_at >= horizon);
        }
        if changed {
            self.invalidate();
            self.invalidate_catalog();
        }
        Ok(())
    }

    pub async fn prune_revocations(&self) -> anyhow::Result<()> {
        let horizon = now_micros() - (self.config.token_expiration + self.config.allow_expired_window) * 1_000_000;
        q::prune_revocations(&self.db, horizon).await?;
        Ok(())
    }

    fn is_revoked(&self, d: &TokenData) -> bool {
        let list = self.revocations.read().expect("lock");
        list.iter().any(|ev| {
            if ev.issued_before < d.payload.issued_at {
                return false;
            }
            let mut any = false;
            macro_rules! field {
                ($f:expr, $ok:expr) => {
                    if let Some(v) = &$f {
                        any = true;
                        if !$ok(v) {
                            return false;
                        }
                    }
                };
            }
            field!(ev.user_id, |v: &String| *v == d.user.id);
            field!(ev.project_id, |v: &String| d.project.as_ref().is_some_and(|p| p.id == *v));
            field!(ev.domain_id, |v: &String| *v == d.user_domain.id
                || d.project_domain.as_ref().is_some_and(|p| p.id == *v)
                || d.domain.as_ref().is_some_and(|p| p.id == *v));
            field!(ev.role_id, |v: &String| d.roles.iter().any(|r| r.id == *v));
            field!(ev.audit_id, |v: &String| d.payload.audit_ids.iter().any(|a| a == v));
            field!(ev.consumer_id, |v: &String| d.payload.application_credential_id.as_deref() == Some(v.as_str()));
            any
        })
    }

    // ---------- roles ----------

    /// Role ids `user_id` holds on a scope, inherited and implied roles included.
    pub async fn effective_role_ids(&self, user_id: &str, scope: &Scope) -> ApiResult<Vec<String>> {
        let mut actors = vec![user_id.to_string()];
        actors.extend(q::list_user_groups(&self.db, user_id).await.map_err(db_err)?.into_iter().map(|g| g.id));
        let assignments = q::list_assignments_for_actors(&self.db, &actors).await.map_err(db_err)?;
        let mut direct: HashSet<String> = HashSet::new();
        match scope {
            Scope::Project(p) => {
                let ancestors = self.ancestors(p).await?;
                for a in &assignments {
                    let on_project = matches!(a.kind, AssignmentType::UserProject | AssignmentType::GroupProject);
                    let on_domain = matches!(a.kind, AssignmentType::UserDomain | AssignmentType::GroupDomain);
                    if (on_project
                        && ((a.target_id == p.id && !a.inherited)
                            || (a.inherited && ancestors.iter().any(|x| x.id == a.target_id))))
                        || (on_domain && a.inherited && a.target_id == p.domain_id)
                    {
                        direct.insert(a.role_id.clone());
                    }
                }
            }
            Scope::Domain(d) => {
                for a in &assignments {
                    if matches!(a.kind, AssignmentType::UserDomain | AssignmentType::GroupDomain)
                        && a.target_id == d.id
                        && !a.inherited
                    {
                        direct.insert(a.role_id.clone());
                    }
                }
            }
            Scope::System => {
                for a in &assignments {
                    if matches!(a.kind, AssignmentType::UserSystem | AssignmentType::GroupSystem) {
                        direct.insert(a.role_id.clone());
                    }
                }
            }
        }
        self.expand_implied(direct).await
    }

    pub async fn expand_implied(&self, roles: HashSet<String>) -> ApiResult<Vec<String>> {
        let implied = q::list_implied_roles(&self.db).await.map_err(db_err)?;
        let mut out = roles;
        loop {
            let more: Vec<String> =
                implied.iter().filter(|(p, i)| out.contains(p) && !out.contains(i)).map(|(_, i)| i.clone()).collect();
            if more.is_empty() {
                break;
            }
            out.extend(more);
        }
        let mut v: Vec<String> = out.into_iter().collect();
        v.sort();
        Ok(v)
    }

    /// Parents of a project up to (not including) its domain, nearest first.
    pub async fn ancestors(&self, p: &Project) -> ApiResult<Vec<Project>> {
        let mut out = Vec::new();
        let mut cur = p.parent_id.clone();
        while let Some(id) = cur {
            if id == p.domain_id || out.len() > 64 {
                break;
            }
            match q::get_project(&self.db, &id).await.map_err(db_err)? {
                Some(parent) if !parent.is_domain => {
                    cur = parent.parent_id.clone();
                    out.push(parent);
                }
                _ => break,
            }
        }
        Ok(out)
    }

    async fn roles_by_id(&self, ids: &[String]) -> ApiResult<Vec<Role>> {
        let all = q::list_roles(&self.db).await.map_err(db_err)?;
        // Domain-specific roles only ever imply global ones; Keystone leaves
        // them out of tokens.
        Ok(all.into_iter().filter(|r| ids.contains(&r.id) && r.domain_id.is_none()).collect())
    }

    // ---------- tokens ----------

    /// Builds the token data for `payload`, checking that everything it names
    /// still exists, is enabled and still grants a role on the scope.
    pub async fn resolve(&self, payload: Payload) -> ApiResult<TokenData> {
        let user = q::get_user(&self.db, &payload.user_id).await.map_err(db_err)?.ok_or_else(unauthorized)?;
        if !user.enabled {
            return Err(unauthorized());
        }
        let user_domain = q::get_project(&self.db, &user.domain_id).await.map_err(db_err)?.ok_or_else(unauthorized)?;
        if !user_domain.enabled {
            return Err(unauthorized());
        }
        let mut data = TokenData {
            payload: payload.clone(),
            user,
            user_domain,
            project: None,
            project_domain: None,
            domain: None,
            roles: Vec::new(),
            app_cred: None,
        };
        let scope = if let Some(pid) = &payload.project_id {
            let p = q::get_project(&self.db, pid).await.map_err(db_err)?.ok_or_else(unauthorized)?;
            let d = q::get_project(&self.db, &p.domain_id).await.map_err(db_err)?.ok_or_else(unauthorized)?;
            if !p.enabled || !d.enabled {
                return Err(unauthorized());
            }
            data.project_domain = Some(d);
            data.project = Some(p.clone());
            Some(Scope::Project(p))
        } else if let Some(did) = &payload.domain_id {
            let d = q::get_project(&self.db, did).await.map_err(db_err)?.ok_or_else(unauthorized)?;
            if !d.enabled || !d.is_domain {
                return Err(unauthorized());
            }
            data.domain = Some(d.clone());
            Some(Scope::Domain(d))
        } else if payload.system {
            Some(Scope::System)
        } else {
            None
        };
        if let Some(scope) = scope {
            let mut ids = self.effective_role_ids(&data.user.id, &scope).await?;
            if let Some(acid) = &payload.application_credential_id {
                let ac = q::get_app_cred(&self.db, acid).await.map_err(db_err)?.ok_or_else(unauthorized)?;
                if ac.expires_at.is_some_and(|e| e < now_micros()) {
                    return Err(unauthorized());
                }
                let allowed: HashSet<String> = ac.roles.iter().map(|r| r.id.clone()).collect();
                let allowed = self.expand_implied(allowed).await?;
                ids.retain(|r| allowed.contains(r));
                data.app_cred = Some(ac);
            }
            if ids.is_empty() {
                return Err(unauthorized());
            }
            data.roles = self.roles_by_id(&ids).await?;
        }
        Ok(data)
    }

    pub fn issue(&self, payload: &Payload) -> String {
        self.keys.read().expect("lock").encrypt(payload)
    }

    /// Validates a token: signature, expiry (unless `allow_expired`), revocation,
    /// and that its user and scope are still valid.
    pub async fn validate(&self, token: &str, allow_expired: bool) -> ApiResult<(Arc<TokenData>, Arc<RequestContext>)> {
        let generation = self.generation.load(Ordering::SeqCst);
        let ttl = Duration::from_secs(self.config.token_cache_time);
        if let Some(c) = self.cache.read().expect("lock").get(token) {
            if c.generation == generation && c.at.elapsed() < ttl {
                self.check_expiry(&c.data.payload, allow_expired)?;
                return Ok((c.data.clone(), c.ctx.clone()));
            }
        }
        let payload = self.keys.read().expect("lock").decrypt(token).ok_or_else(token_not_found)?;
        self.check_expiry(&payload, allow_expired)?;
        let data = self.resolve(payload).await.map_err(|e| {
            if e.status == axum::http::StatusCode::UNAUTHORIZED {
                token_not_found()
            } else {
                e
            }
        })?;
        if self.is_revoked(&data) {
            return Err(token_not_found());
        }
        let data = Arc::new(data);
        let ctx = Arc::new(data.context());
        let mut cache = self.cache.write().expect("lock");
        if cache.len() > 100_000 {
            cache.retain(|_, c| c.generation == generation && c.at.elapsed() < ttl);
            if cache.len() > 100_000 {
                cache.clear();
            }
        }
        cache.insert(
            token.to_string(),
            CachedToken { data: data.clone(), ctx: ctx.clone(), at: Instant::now(), generation },
        );
        Ok((data, ctx))
    }

    fn check_expiry(&self, p: &Payload, allow_expired: bool) -> ApiResult<()> {
        let now = now_micros();
        let limit =
            if allow_expired { p.expires_at + self.config.allow_expired_window * 1_000_000 } else { p.expires_at };
        if now >= limit {
            return Err(token_not_found());
        }
        Ok(())
    }

    pub fn new_payload(&self, user_id: &str, methods: u8, scope: &Option<Scope>, parent: Option<&Payload>) -> Payload {
        let now = now_micros();
        let mut expires_at = now + self.config.token_expiration * 1_000_000;
        let mut audit_ids = vec![token::new_audit_id()];
        if let Some(p) = parent {
            // A rescoped token never outlives the token it came from.
            expires_at = expires_at.min(p.expires_at);
            audit_ids.push(p.audit_ids.last().cloned().unwrap_or_default());
        }
        Payload {
            user_id: user_id.to_string(),
            methods,
            project_id: match scope {
                Some(Scope::Project(p)) => Some(p.id.clone()),
                _ => None,
            },
            domain_id: match scope {
                Some(Scope::Domain(d)) => Some(d.id.clone()),
                _ => None,
            },
            system: matches!(scope, Some(Scope::System)),
            issued_at: now,
            expires_at,
            audit_ids,
            application_credential_id: None,
        }
    }

    // ---------- passwords ----------

    pub async fn hash_secret(&self, secret: &str) -> ApiResult<String> {
        let cost = self.config.password_hash_rounds;
        let secret = secret.to_string();
        tokio::task::spawn_blocking(move || bcrypt::hash(secret, cost))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)
    }

    pub async fn verify_secret(&self, secret: &str, hash: &str) -> bool {
        let (secret, hash) = (secret.to_string(), hash.to_string());
        tokio::task::spawn_blocking(move || bcrypt::verify(secret, &hash).unwrap_or(false)).await.unwrap_or(false)
    }
}

fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            Value::Object(o.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect())
        }
        other => other.clone(),
    }
}

pub fn token_not_found() -> ApiError {
    ApiError::not_found("Failed to validate token")
}

#[derive(Clone, Debug)]
pub enum Scope {
    Project(Project),
    Domain(Project),
    System,
}

impl api_core::TokenValidator for Identity {
    fn validate<'a>(&'a self, token: &'a str) -> api_core::auth::BoxFuture<'a, Result<Arc<RequestContext>, ApiError>> {
        Box::pin(async move {
            match Identity::validate(self, token, false).await {
                Ok((_, ctx)) => Ok(ctx),
                Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => {
                    Err(ApiError::unauthorized("The request you have made requires authentication."))
                }
                Err(e) => Err(e),
            }
        })
    }
}

pub fn sql_err(e: db::sqlx::Error) -> ApiError {
    db_err(DbError::from_sqlx(e))
}
