//! The equivalent of `keystone-manage bootstrap`: the default domain, the
//! admin project and user, the default roles with their implications, the
//! admin's project and system role assignments, the region and the catalog
//! entries of every service. Idempotent: it only adds what is missing, and
//! points endpoints at the URLs it is given.

use serde_json::{json, Map, Value};

use crate::core::Identity;
use crate::db as q;
use crate::model::*;

pub struct BootstrapParams {
    pub admin_username: String,
    /// Set on a new admin user; an existing user's password is changed only
    /// when `reset_password` is true.
    pub admin_password: String,
    pub reset_password: bool,
    pub project_name: String,
    pub region_id: String,
    /// (service type, service name, public URL) for each implemented service.
    pub services: Vec<(String, String, String)>,
}

fn opts_immutable() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("immutable".into(), json!(true));
    m
}

async fn ensure_role(id: &Identity, name: &str) -> anyhow::Result<Role> {
    if let Some(r) = q::get_role_by_name(&id.db, name, None).await? {
        return Ok(r);
    }
    let r = Role {
        id: new_id(),
        name: name.to_string(),
        domain_id: None,
        description: String::new(),
        options: opts_immutable(),
        extra: Map::new(),
    };
    let mut conn = id.db.writer().acquire().await?;
    match q::insert_role(&mut conn, &r).await {
        Ok(()) => Ok(r),
        Err(db::DbError::Conflict) => Ok(q::get_role_by_name(&id.db, name, None).await?.expect("role exists")),
        Err(e) => Err(e.into()),
    }
}

pub async fn bootstrap(id: &Identity, p: &BootstrapParams) -> anyhow::Result<()> {
    let mut conn = id.db.writer().acquire().await?;
    if q::get_project(&id.db, DEFAULT_DOMAIN_ID).await?.is_none() {
        let d = Project {
            id: DEFAULT_DOMAIN_ID.into(),
            name: "Default".into(),
            domain_id: DOMAIN_ROOT.into(),
            description: "The default domain".into(),
            enabled: true,
            parent_id: None,
            is_domain: true,
            extra: Map::new(),
            tags: vec![],
        };
        q::insert_project(&mut conn, &d).await?;
    }
    let project = match q::get_project_by_name(&id.db, DEFAULT_DOMAIN_ID, &p.project_name).await? {
        Some(pr) => pr,
        None => {
            let pr = Project {
                id: new_id(),
                name: p.project_name.clone(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
                description: "Bootstrap project for initializing the cloud.".into(),
                enabled: true,
                parent_id: Some(DEFAULT_DOMAIN_ID.into()),
                is_domain: false,
                extra: Map::new(),
                tags: vec![],
            };
            q::insert_project(&mut conn, &pr).await?;
            pr
        }
    };
    drop(conn);
    let admin = ensure_role(id, "admin").await?;
    let manager = ensure_role(id, "manager").await?;
    let member = ensure_role(id, "member").await?;
    let reader = ensure_role(id, "reader").await?;
    let service = ensure_role(id, "service").await?;
    let _ = service;
    let implied = q::list_implied_roles(&id.db).await?;
    let mut conn = id.db.writer().acquire().await?;
    for (a, b) in [(&admin, &manager), (&manager, &member), (&member, &reader)] {
        if !implied.contains(&(a.id.clone(), b.id.clone())) {
            q::insert_implied_role(&mut conn, &a.id, &b.id).await?;
        }
    }
    let now = now_micros();
    let user = match q::get_user_by_name(&id.db, DEFAULT_DOMAIN_ID, &p.admin_username).await? {
        Some(mut u) => {
            if p.reset_password {
                u.password_hash =
                    Some(id.hash_secret(&p.admin_password).await.map_err(|e| anyhow::anyhow!(e.message))?);
                u.password_created_at = Some(now);
                u.enabled = true;
                q::update_user(&mut conn, &u).await?;
            }
            u
        }
        None => {
            let u = User {
                id: new_id(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
                name: p.admin_username.clone(),
                enabled: true,
                default_project_id: None,
                extra: Map::new(),
                options: Map::new(),
                password_hash: Some(id.hash_secret(&p.admin_password).await.map_err(|e| anyhow::anyhow!(e.message))?),
                password_created_at: Some(now),
                password_expires_at: None,
                failed_auth_count: 0,
                failed_auth_at: None,
                created_at: now,
                last_active_at: None,
            };
            q::insert_user(&mut conn, &u).await?;
            u
        }
    };
    for a in [
        Assignment {
            kind: AssignmentType::UserProject,
            actor_id: user.id.clone(),
            target_id: project.id.clone(),
            role_id: admin.id.clone(),
            inherited: false,
        },
        Assignment {
            kind: AssignmentType::UserSystem,
            actor_id: user.id.clone(),
            target_id: "system".into(),
            role_id: admin.id.clone(),
            inherited: false,
        },
    ] {
        q::insert_assignment(&mut *conn, &a).await?;
    }
    if !q::list_regions(&id.db).await?.iter().any(|r| r.id == p.region_id) {
        q::insert_region(
            &mut *conn,
            &Region { id: p.region_id.clone(), description: String::new(), parent_region_id: None, extra: Map::new() },
        )
        .await?;
    }
    let services = q::list_services(&id.db).await?;
    let endpoints = q::list_endpoints(&id.db).await?;
    for (stype, sname, url) in &p.services {
        let svc = match services.iter().find(|s| s.service_type == *stype) {
            Some(s) => s.clone(),
            None => {
                let mut extra = Map::new();
                extra.insert("name".into(), json!(sname));
                let s = Service { id: new_id(), service_type: stype.clone(), enabled: true, extra };
                q::insert_service(&mut *conn, &s).await?;
                s
            }
        };
        for interface in ["public", "internal", "admin"] {
            let existing = endpoints.iter().find(|e| {
                e.service_id == svc.id
                    && e.interface == interface
                    && e.region_id.as_deref() == Some(p.region_id.as_str())
            });
            match existing {
                Some(e) if e.url == *url => {}
                Some(e) => {
                    let mut e = e.clone();
                    e.url = url.clone();
                    q::update_endpoint(&mut *conn, &e).await?;
                }
                None => {
                    let e = Endpoint {
                        id: new_id(),
                        interface: interface.into(),
                        service_id: svc.id.clone(),
                        url: url.clone(),
                        region_id: Some(p.region_id.clone()),
                        enabled: true,
                        extra: Map::new(),
                    };
                    q::insert_endpoint(&mut *conn, &e).await?;
                }
            }
        }
    }
    drop(conn);
    id.invalidate();
    id.invalidate_catalog();
    Ok(())
}
