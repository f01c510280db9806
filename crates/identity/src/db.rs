//! Identity's SQL: the only place that reads or writes `identity_*` tables.
//! The same statements run on SQLite and PostgreSQL.

use db::row::{get_i, get_oi, get_os, get_s};
use db::sqlx::{self, Any, AnyConnection, Executor};
use db::{AnyRow, Db, DbError, DbResult};
use serde_json::{Map, Value};

use crate::model::*;

pub static MIGRATIONS: &[db::MigrationSet] = &[db::MigrationSet {
    version: 1000,
    description: "identity initial schema",
    sqlite: include_str!("../migrations/1000_initial.sql"),
    postgres: include_str!("../migrations/1000_initial.sql"),
}];

type Q<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

fn e(err: sqlx::Error) -> DbError {
    DbError::from_sqlx(err)
}

fn map(s: &str) -> Map<String, Value> {
    serde_json::from_str(s).unwrap_or_default()
}

fn text(m: &Map<String, Value>) -> String {
    Value::Object(m.clone()).to_string()
}

fn b(v: bool) -> i64 {
    v as i64
}

// ---------- projects and domains ----------

const PROJECT_COLS: &str = "id, name, domain_id, description, enabled, parent_id, is_domain, extra";

fn project_row(r: &AnyRow) -> Project {
    Project {
        id: get_s(r, "id"),
        name: get_s(r, "name"),
        domain_id: get_s(r, "domain_id"),
        description: get_s(r, "description"),
        enabled: get_i(r, "enabled") != 0,
        parent_id: get_os(r, "parent_id"),
        is_domain: get_i(r, "is_domain") != 0,
        extra: map(&get_s(r, "extra")),
        tags: Vec::new(),
    }
}

async fn with_tags(db: &Db, mut ps: Vec<Project>) -> DbResult<Vec<Project>> {
    if ps.is_empty() {
        return Ok(ps);
    }
    let rows = sqlx::query("SELECT project_id, name FROM identity_project_tag ORDER BY name")
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    for r in rows {
        let pid = get_s(&r, "project_id");
        if let Some(p) = ps.iter_mut().find(|p| p.id == pid) {
            p.tags.push(get_s(&r, "name"));
        }
    }
    Ok(ps)
}

pub async fn get_project(db: &Db, id: &str) -> DbResult<Option<Project>> {
    let row = sqlx::query(&format!("SELECT {PROJECT_COLS} FROM identity_project WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    let Some(row) = row else { return Ok(None) };
    let mut p = project_row(&row);
    let tags = sqlx::query("SELECT name FROM identity_project_tag WHERE project_id = $1 ORDER BY name")
        .bind(id)
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    p.tags = tags.iter().map(|r| get_s(r, "name")).collect();
    Ok(Some(p))
}

pub async fn get_project_by_name(db: &Db, domain_id: &str, name: &str) -> DbResult<Option<Project>> {
    let id: Option<String> = sqlx::query_scalar("SELECT id FROM identity_project WHERE domain_id = $1 AND name = $2")
        .bind(domain_id)
        .bind(name)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    match id {
        Some(id) => get_project(db, &id).await,
        None => Ok(None),
    }
}

pub async fn get_domain_by_name(db: &Db, name: &str) -> DbResult<Option<Project>> {
    get_project_by_name(db, DOMAIN_ROOT, name).await
}

/// Every project (or every domain with `domains`), optionally filtered.
pub async fn list_projects(db: &Db, domains: bool) -> DbResult<Vec<Project>> {
    let rows =
        sqlx::query(&format!("SELECT {PROJECT_COLS} FROM identity_project WHERE is_domain = $1 ORDER BY name, id"))
            .bind(b(domains))
            .fetch_all(db.reader())
            .await
            .map_err(e)?;
    let ps: Vec<Project> = rows.iter().map(project_row).filter(|p| p.domain_id != DOMAIN_ROOT || domains).collect();
    with_tags(db, ps).await
}

pub async fn insert_project(conn: &mut AnyConnection, p: &Project) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO identity_project (id, name, domain_id, description, enabled, parent_id, is_domain, extra) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&p.id)
    .bind(&p.name)
    .bind(&p.domain_id)
    .bind(&p.description)
    .bind(b(p.enabled))
    .bind(&p.parent_id)
    .bind(b(p.is_domain))
    .bind(text(&p.extra))
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    set_tags(conn, &p.id, &p.tags).await
}

pub async fn update_project(conn: &mut AnyConnection, p: &Project) -> DbResult<()> {
    sqlx::query(
        "UPDATE identity_project SET name = $2, description = $3, enabled = $4, parent_id = $5, extra = $6 WHERE id = $1",
    )
    .bind(&p.id)
    .bind(&p.name)
    .bind(&p.description)
    .bind(b(p.enabled))
    .bind(&p.parent_id)
    .bind(text(&p.extra))
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    set_tags(conn, &p.id, &p.tags).await
}

pub async fn set_tags(conn: &mut AnyConnection, project_id: &str, tags: &[String]) -> DbResult<()> {
    sqlx::query("DELETE FROM identity_project_tag WHERE project_id = $1")
        .bind(project_id)
        .execute(&mut *conn)
        .await
        .map_err(e)?;
    for t in tags {
        sqlx::query("INSERT INTO identity_project_tag (project_id, name) VALUES ($1, $2)")
            .bind(project_id)
            .bind(t)
            .execute(&mut *conn)
            .await
            .map_err(e)?;
    }
    Ok(())
}

pub async fn count_children(db: &Db, project_id: &str) -> DbResult<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM identity_project WHERE parent_id = $1 OR (domain_id = $1 AND is_domain = 0)",
    )
    .bind(project_id)
    .fetch_one(db.reader())
    .await
    .map_err(e)
}

/// Deletes a project or domain with its tags and every assignment on it.
pub async fn delete_project(conn: &mut AnyConnection, id: &str) -> DbResult<bool> {
    sqlx::query("DELETE FROM identity_assignment WHERE target_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(e)?;
    let n = sqlx::query("DELETE FROM identity_project WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(e)?
        .rows_affected();
    Ok(n > 0)
}

/// Deletes everything a domain owns (its users, groups, roles, projects).
pub async fn delete_domain_contents(conn: &mut AnyConnection, domain_id: &str) -> DbResult<()> {
    for sql in [
        "DELETE FROM identity_assignment WHERE actor_id IN (SELECT id FROM identity_user WHERE domain_id = $1)",
        "DELETE FROM identity_assignment WHERE actor_id IN (SELECT id FROM identity_group WHERE domain_id = $1)",
        "DELETE FROM identity_assignment WHERE target_id IN (SELECT id FROM identity_project WHERE domain_id = $1)",
        "DELETE FROM identity_user WHERE domain_id = $1",
        "DELETE FROM identity_group WHERE domain_id = $1",
        "DELETE FROM identity_role WHERE domain_id = $1",
        "DELETE FROM identity_project WHERE domain_id = $1 AND parent_id IS NOT NULL AND parent_id <> $1",
        "DELETE FROM identity_project WHERE domain_id = $1",
    ] {
        sqlx::query(sql).bind(domain_id).execute(&mut *conn).await.map_err(e)?;
    }
    Ok(())
}

// ---------- users ----------

const USER_COLS: &str = "id, domain_id, name, enabled, default_project_id, extra, options, password_hash, \
     password_created_at, password_expires_at, failed_auth_count, failed_auth_at, created_at, last_active_at";

fn user_row(r: &AnyRow) -> User {
    User {
        id: get_s(r, "id"),
        domain_id: get_s(r, "domain_id"),
        name: get_s(r, "name"),
        enabled: get_i(r, "enabled") != 0,
        default_project_id: get_os(r, "default_project_id"),
        extra: map(&get_s(r, "extra")),
        options: map(&get_s(r, "options")),
        password_hash: get_os(r, "password_hash"),
        password_created_at: get_oi(r, "password_created_at"),
        password_expires_at: get_oi(r, "password_expires_at"),
        failed_auth_count: get_i(r, "failed_auth_count"),
        failed_auth_at: get_oi(r, "failed_auth_at"),
        created_at: get_i(r, "created_at"),
        last_active_at: get_oi(r, "last_active_at"),
    }
}

pub async fn get_user(db: &Db, id: &str) -> DbResult<Option<User>> {
    let row = sqlx::query(&format!("SELECT {USER_COLS} FROM identity_user WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    Ok(row.as_ref().map(user_row))
}

pub async fn get_user_by_name(db: &Db, domain_id: &str, name: &str) -> DbResult<Option<User>> {
    let row = sqlx::query(&format!("SELECT {USER_COLS} FROM identity_user WHERE domain_id = $1 AND name = $2"))
        .bind(domain_id)
        .bind(name)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    Ok(row.as_ref().map(user_row))
}

pub async fn list_users(db: &Db) -> DbResult<Vec<User>> {
    let rows = sqlx::query(&format!("SELECT {USER_COLS} FROM identity_user ORDER BY name, id"))
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows.iter().map(user_row).collect())
}

pub async fn list_group_users(db: &Db, group_id: &str) -> DbResult<Vec<User>> {
    let cols = USER_COLS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
    let rows = sqlx::query(&format!(
        "SELECT {cols} FROM identity_user u JOIN identity_user_group m ON m.user_id = u.id \
         WHERE m.group_id = $1 ORDER BY u.name, u.id"
    ))
    .bind(group_id)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows.iter().map(user_row).collect())
}

pub async fn insert_user(conn: &mut AnyConnection, u: &User) -> DbResult<()> {
    sqlx::query(&format!(
        "INSERT INTO identity_user ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    ))
    .bind(&u.id)
    .bind(&u.domain_id)
    .bind(&u.name)
    .bind(b(u.enabled))
    .bind(&u.default_project_id)
    .bind(text(&u.extra))
    .bind(text(&u.options))
    .bind(&u.password_hash)
    .bind(u.password_created_at)
    .bind(u.password_expires_at)
    .bind(u.failed_auth_count)
    .bind(u.failed_auth_at)
    .bind(u.created_at)
    .bind(u.last_active_at)
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    if let (Some(h), Some(at)) = (&u.password_hash, u.password_created_at) {
        add_password_history(conn, &u.id, h, at).await?;
    }
    Ok(())
}

pub async fn update_user(conn: &mut AnyConnection, u: &User) -> DbResult<()> {
    sqlx::query(
        "UPDATE identity_user SET name = $2, enabled = $3, default_project_id = $4, extra = $5, options = $6, \
         password_hash = $7, password_created_at = $8, password_expires_at = $9, failed_auth_count = $10, \
         failed_auth_at = $11, last_active_at = $12, domain_id = $13 WHERE id = $1",
    )
    .bind(&u.id)
    .bind(&u.name)
    .bind(b(u.enabled))
    .bind(&u.default_project_id)
    .bind(text(&u.extra))
    .bind(text(&u.options))
    .bind(&u.password_hash)
    .bind(u.password_created_at)
    .bind(u.password_expires_at)
    .bind(u.failed_auth_count)
    .bind(u.failed_auth_at)
    .bind(u.last_active_at)
    .bind(&u.domain_id)
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    Ok(())
}

pub async fn record_auth_failure(db: &Db, user_id: &str, at: i64) -> DbResult<()> {
    sqlx::query(
        "UPDATE identity_user SET failed_auth_count = failed_auth_count + 1, failed_auth_at = $2 WHERE id = $1",
    )
    .bind(user_id)
    .bind(at)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(())
}

pub async fn record_auth_success(db: &Db, user_id: &str, at: i64) -> DbResult<()> {
    sqlx::query(
        "UPDATE identity_user SET failed_auth_count = 0, failed_auth_at = NULL, last_active_at = $2 WHERE id = $1",
    )
    .bind(user_id)
    .bind(at)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(())
}

pub async fn add_password_history(conn: &mut AnyConnection, user_id: &str, hash: &str, at: i64) -> DbResult<()> {
    sqlx::query("INSERT INTO identity_password_history (user_id, password_hash, created_at) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(hash)
        .bind(at)
        .execute(&mut *conn)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn password_history(db: &Db, user_id: &str, n: i64) -> DbResult<Vec<String>> {
    sqlx::query_scalar(
        "SELECT password_hash FROM identity_password_history WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(n)
    .fetch_all(db.reader())
    .await
    .map_err(e)
}

pub async fn delete_user(conn: &mut AnyConnection, id: &str) -> DbResult<bool> {
    for sql in [
        "DELETE FROM identity_assignment WHERE actor_id = $1",
        "DELETE FROM identity_application_credential WHERE user_id = $1",
        "DELETE FROM identity_access_rule WHERE user_id = $1",
        "DELETE FROM identity_credential WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *conn).await.map_err(e)?;
    }
    let n = sqlx::query("DELETE FROM identity_user WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(e)?
        .rows_affected();
    Ok(n > 0)
}

// ---------- groups ----------

fn group_row(r: &AnyRow) -> Group {
    Group {
        id: get_s(r, "id"),
        domain_id: get_s(r, "domain_id"),
        name: get_s(r, "name"),
        description: get_s(r, "description"),
        extra: map(&get_s(r, "extra")),
    }
}

pub async fn get_group(db: &Db, id: &str) -> DbResult<Option<Group>> {
    let row = sqlx::query("SELECT id, domain_id, name, description, extra FROM identity_group WHERE id = $1")
        .bind(id)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    Ok(row.as_ref().map(group_row))
}

pub async fn get_group_by_name(db: &Db, domain_id: &str, name: &str) -> DbResult<Option<Group>> {
    let row = sqlx::query(
        "SELECT id, domain_id, name, description, extra FROM identity_group WHERE domain_id = $1 AND name = $2",
    )
    .bind(domain_id)
    .bind(name)
    .fetch_optional(db.reader())
    .await
    .map_err(e)?;
    Ok(row.as_ref().map(group_row))
}

pub async fn list_groups(db: &Db) -> DbResult<Vec<Group>> {
    let rows = sqlx::query("SELECT id, domain_id, name, description, extra FROM identity_group ORDER BY name, id")
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows.iter().map(group_row).collect())
}

pub async fn list_user_groups(db: &Db, user_id: &str) -> DbResult<Vec<Group>> {
    let rows = sqlx::query(
        "SELECT g.id, g.domain_id, g.name, g.description, g.extra FROM identity_group g \
         JOIN identity_user_group m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name, g.id",
    )
    .bind(user_id)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows.iter().map(group_row).collect())
}

pub async fn insert_group(conn: &mut AnyConnection, g: &Group) -> DbResult<()> {
    sqlx::query("INSERT INTO identity_group (id, domain_id, name, description, extra) VALUES ($1, $2, $3, $4, $5)")
        .bind(&g.id)
        .bind(&g.domain_id)
        .bind(&g.name)
        .bind(&g.description)
        .bind(text(&g.extra))
        .execute(&mut *conn)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn update_group(conn: &mut AnyConnection, g: &Group) -> DbResult<()> {
    sqlx::query("UPDATE identity_group SET name = $2, description = $3, extra = $4 WHERE id = $1")
        .bind(&g.id)
        .bind(&g.name)
        .bind(&g.description)
        .bind(text(&g.extra))
        .execute(&mut *conn)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn delete_group(conn: &mut AnyConnection, id: &str) -> DbResult<bool> {
    sqlx::query("DELETE FROM identity_assignment WHERE actor_id = $1").bind(id).execute(&mut *conn).await.map_err(e)?;
    let n = sqlx::query("DELETE FROM identity_group WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(e)?
        .rows_affected();
    Ok(n > 0)
}

pub async fn add_user_to_group(conn: &mut AnyConnection, user_id: &str, group_id: &str) -> DbResult<()> {
    let r = sqlx::query("INSERT INTO identity_user_group (user_id, group_id) VALUES ($1, $2)")
        .bind(user_id)
        .bind(group_id)
        .execute(&mut *conn)
        .await
        .map_err(e);
    match r {
        Ok(_) | Err(DbError::Conflict) => Ok(()),
        Err(err) => Err(err),
    }
}

pub async fn remove_user_from_group(conn: &mut AnyConnection, user_id: &str, group_id: &str) -> DbResult<bool> {
    let n = sqlx::query("DELETE FROM identity_user_group WHERE user_id = $1 AND group_id = $2")
        .bind(user_id)
        .bind(group_id)
        .execute(&mut *conn)
        .await
        .map_err(e)?
        .rows_affected();
    Ok(n > 0)
}

pub async fn is_member(db: &Db, user_id: &str, group_id: &str) -> DbResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM identity_user_group WHERE user_id = $1 AND group_id = $2")
        .bind(user_id)
        .bind(group_id)
        .fetch_one(db.reader())
        .await
        .map_err(e)?;
    Ok(n > 0)
}

// ---------- roles ----------

fn role_row(r: &AnyRow) -> Role {
    let d = get_s(r, "domain_id");
    Role {
        id: get_s(r, "id"),
        name: get_s(r, "name"),
        domain_id: if d == NULL_DOMAIN { None } else { Some(d) },
        description: get_s(r, "description"),
        options: map(&get_s(r, "options")),
        extra: map(&get_s(r, "extra")),
    }
}

pub async fn list_roles(db: &Db) -> DbResult<Vec<Role>> {
    let rows =
        sqlx::query("SELECT id, name, domain_id, description, options, extra FROM identity_role ORDER BY name, id")
            .fetch_all(db.reader())
            .await
            .map_err(e)?;
    Ok(rows.iter().map(role_row).collect())
}

pub async fn get_role(db: &Db, id: &str) -> DbResult<Option<Role>> {
    let row = sqlx::query("SELECT id, name, domain_id, description, options, extra FROM identity_role WHERE id = $1")
        .bind(id)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    Ok(row.as_ref().map(role_row))
}

pub async fn get_role_by_name(db: &Db, name: &str, domain_id: Option<&str>) -> DbResult<Option<Role>> {
    let row = sqlx::query(
        "SELECT id, name, domain_id, description, options, extra FROM identity_role WHERE name = $1 AND domain_id = $2",
    )
    .bind(name)
    .bind(domain_id.unwrap_or(NULL_DOMAIN))
    .fetch_optional(db.reader())
    .await
    .map_err(e)?;
    Ok(row.as_ref().map(role_row))
}

pub async fn insert_role(conn: &mut AnyConnection, r: &Role) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO identity_role (id, name, domain_id, description, options, extra) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&r.id)
    .bind(&r.name)
    .bind(r.domain_id.as_deref().unwrap_or(NULL_DOMAIN))
    .bind(&r.description)
    .bind(text(&r.options))
    .bind(text(&r.extra))
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    Ok(())
}

pub async fn update_role(conn: &mut AnyConnection, r: &Role) -> DbResult<()> {
    sqlx::query("UPDATE identity_role SET name = $2, description = $3, options = $4, extra = $5 WHERE id = $1")
        .bind(&r.id)
        .bind(&r.name)
        .bind(&r.description)
        .bind(text(&r.options))
        .bind(text(&r.extra))
        .execute(&mut *conn)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn delete_role(conn: &mut AnyConnection, id: &str) -> DbResult<bool> {
    for sql in [
        "DELETE FROM identity_assignment WHERE role_id = $1",
        "DELETE FROM identity_implied_role WHERE prior_role_id = $1 OR implied_role_id = $1",
        "DELETE FROM identity_application_credential_role WHERE role_id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *conn).await.map_err(e)?;
    }
    let n = sqlx::query("DELETE FROM identity_role WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(e)?
        .rows_affected();
    Ok(n > 0)
}

pub async fn list_implied_roles(db: &Db) -> DbResult<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT prior_role_id, implied_role_id FROM identity_implied_role ORDER BY prior_role_id, implied_role_id",
    )
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows.iter().map(|r| (get_s(r, "prior_role_id"), get_s(r, "implied_role_id"))).collect())
}

pub async fn insert_implied_role(conn: &mut AnyConnection, prior: &str, implied: &str) -> DbResult<()> {
    sqlx::query("INSERT INTO identity_implied_role (prior_role_id, implied_role_id) VALUES ($1, $2)")
        .bind(prior)
        .bind(implied)
        .execute(&mut *conn)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn delete_implied_role(conn: &mut AnyConnection, prior: &str, implied: &str) -> DbResult<bool> {
    let n = sqlx::query("DELETE FROM identity_implied_role WHERE prior_role_id = $1 AND implied_role_id = $2")
        .bind(prior)
        .bind(implied)
        .execute(&mut *conn)
        .await
        .map_err(e)?
        .rows_affected();
    Ok(n > 0)
}

// ---------- assignments ----------

fn assignment_row(r: &AnyRow) -> Option<Assignment> {
    Some(Assignment {
        kind: AssignmentType::parse(&get_s(r, "type"))?,
        actor_id: get_s(r, "actor_id"),
        target_id: get_s(r, "target_id"),
        role_id: get_s(r, "role_id"),
        inherited: get_i(r, "inherited") != 0,
    })
}

pub async fn list_assignments(db: &Db) -> DbResult<Vec<Assignment>> {
    let rows = sqlx::query("SELECT type, actor_id, target_id, role_id, inherited FROM identity_assignment")
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows.iter().filter_map(assignment_row).collect())
}

/// Assignments whose actor is one of `actors` (a user and its groups).
pub async fn list_assignments_for_actors(db: &Db, actors: &[String]) -> DbResult<Vec<Assignment>> {
    if actors.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=actors.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT type, actor_id, target_id, role_id, inherited FROM identity_assignment WHERE actor_id IN ({})",
        placeholders.join(", ")
    );
    let mut q: Q = sqlx::query(&sql);
    for a in actors {
        q = q.bind(a);
    }
    let rows = q.fetch_all(db.reader()).await.map_err(e)?;
    Ok(rows.iter().filter_map(assignment_row).collect())
}

pub async fn assignment_exists(db: &Db, a: &Assignment) -> DbResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM identity_assignment WHERE type = $1 AND actor_id = $2 AND target_id = $3 AND role_id = $4 AND inherited = $5",
    )
    .bind(a.kind.as_str())
    .bind(&a.actor_id)
    .bind(&a.target_id)
    .bind(&a.role_id)
    .bind(b(a.inherited))
    .fetch_one(db.reader())
    .await
    .map_err(e)?;
    Ok(n > 0)
}

pub async fn insert_assignment<'c, E: Executor<'c, Database = Any>>(ex: E, a: &Assignment) -> DbResult<()> {
    let r = sqlx::query(
        "INSERT INTO identity_assignment (type, actor_id, target_id, role_id, inherited) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(a.kind.as_str())
    .bind(&a.actor_id)
    .bind(&a.target_id)
    .bind(&a.role_id)
    .bind(b(a.inherited))
    .execute(ex)
    .await
    .map_err(e);
    match r {
        Ok(_) | Err(DbError::Conflict) => Ok(()),
        Err(err) => Err(err),
    }
}

pub async fn delete_assignment<'c, E: Executor<'c, Database = Any>>(ex: E, a: &Assignment) -> DbResult<bool> {
    let n = sqlx::query(
        "DELETE FROM identity_assignment WHERE type = $1 AND actor_id = $2 AND target_id = $3 AND role_id = $4 AND inherited = $5",
    )
    .bind(a.kind.as_str())
    .bind(&a.actor_id)
    .bind(&a.target_id)
    .bind(&a.role_id)
    .bind(b(a.inherited))
    .execute(ex)
    .await
    .map_err(e)?
    .rows_affected();
    Ok(n > 0)
}

// ---------- catalog ----------

pub async fn list_regions(db: &Db) -> DbResult<Vec<Region>> {
    let rows = sqlx::query("SELECT id, description, parent_region_id, extra FROM identity_region ORDER BY id")
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows
        .iter()
        .map(|r| Region {
            id: get_s(r, "id"),
            description: get_s(r, "description"),
            parent_region_id: get_os(r, "parent_region_id"),
            extra: map(&get_s(r, "extra")),
        })
        .collect())
}

pub async fn insert_region<'c, E: Executor<'c, Database = Any>>(ex: E, r: &Region) -> DbResult<()> {
    sqlx::query("INSERT INTO identity_region (id, description, parent_region_id, extra) VALUES ($1, $2, $3, $4)")
        .bind(&r.id)
        .bind(&r.description)
        .bind(&r.parent_region_id)
        .bind(text(&r.extra))
        .execute(ex)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn update_region<'c, E: Executor<'c, Database = Any>>(ex: E, r: &Region) -> DbResult<()> {
    sqlx::query("UPDATE identity_region SET description = $2, parent_region_id = $3, extra = $4 WHERE id = $1")
        .bind(&r.id)
        .bind(&r.description)
        .bind(&r.parent_region_id)
        .bind(text(&r.extra))
        .execute(ex)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn delete_region<'c, E: Executor<'c, Database = Any>>(ex: E, id: &str) -> DbResult<bool> {
    let n =
        sqlx::query("DELETE FROM identity_region WHERE id = $1").bind(id).execute(ex).await.map_err(e)?.rows_affected();
    Ok(n > 0)
}

pub async fn list_services(db: &Db) -> DbResult<Vec<Service>> {
    let rows = sqlx::query("SELECT id, type, enabled, extra FROM identity_service ORDER BY type, id")
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows
        .iter()
        .map(|r| Service {
            id: get_s(r, "id"),
            service_type: get_s(r, "type"),
            enabled: get_i(r, "enabled") != 0,
            extra: map(&get_s(r, "extra")),
        })
        .collect())
}

pub async fn insert_service<'c, E: Executor<'c, Database = Any>>(ex: E, s: &Service) -> DbResult<()> {
    sqlx::query("INSERT INTO identity_service (id, type, enabled, extra) VALUES ($1, $2, $3, $4)")
        .bind(&s.id)
        .bind(&s.service_type)
        .bind(b(s.enabled))
        .bind(text(&s.extra))
        .execute(ex)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn update_service<'c, E: Executor<'c, Database = Any>>(ex: E, s: &Service) -> DbResult<()> {
    sqlx::query("UPDATE identity_service SET type = $2, enabled = $3, extra = $4 WHERE id = $1")
        .bind(&s.id)
        .bind(&s.service_type)
        .bind(b(s.enabled))
        .bind(text(&s.extra))
        .execute(ex)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn delete_service(conn: &mut AnyConnection, id: &str) -> DbResult<bool> {
    sqlx::query("DELETE FROM identity_endpoint WHERE service_id = $1").bind(id).execute(&mut *conn).await.map_err(e)?;
    let n = sqlx::query("DELETE FROM identity_service WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(e)?
        .rows_affected();
    Ok(n > 0)
}

pub async fn list_endpoints(db: &Db) -> DbResult<Vec<Endpoint>> {
    let rows = sqlx::query(
        "SELECT id, interface, service_id, url, region_id, enabled, extra FROM identity_endpoint ORDER BY id",
    )
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows
        .iter()
        .map(|r| Endpoint {
            id: get_s(r, "id"),
            interface: get_s(r, "interface"),
            service_id: get_s(r, "service_id"),
            url: get_s(r, "url"),
            region_id: get_os(r, "region_id"),
            enabled: get_i(r, "enabled") != 0,
            extra: map(&get_s(r, "extra")),
        })
        .collect())
}

pub async fn insert_endpoint<'c, E: Executor<'c, Database = Any>>(ex: E, p: &Endpoint) -> DbResult<()> {
    sqlx::query("INSERT INTO identity_endpoint (id, interface, service_id, url, region_id, enabled, extra) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&p.id)
        .bind(&p.interface)
        .bind(&p.service_id)
        .bind(&p.url)
        .bind(&p.region_id)
        .bind(b(p.enabled))
        .bind(text(&p.extra))
        .execute(ex)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn update_endpoint<'c, E: Executor<'c, Database = Any>>(ex: E, p: &Endpoint) -> DbResult<()> {
    sqlx::query("UPDATE identity_endpoint SET interface = $2, service_id = $3, url = $4, region_id = $5, enabled = $6, extra = $7 WHERE id = $1")
        .bind(&p.id)
        .bind(&p.interface)
        .bind(&p.service_id)
        .bind(&p.url)
        .bind(&p.region_id)
        .bind(b(p.enabled))
        .bind(text(&p.extra))
        .execute(ex)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn delete_endpoint<'c, E: Executor<'c, Database = Any>>(ex: E, id: &str) -> DbResult<bool> {
    let n = sqlx::query("DELETE FROM identity_endpoint WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await
        .map_err(e)?
        .rows_affected();
    Ok(n > 0)
}

// ---------- application credentials ----------

async fn app_cred_details(db: &Db, mut ac: ApplicationCredential) -> DbResult<ApplicationCredential> {
    let role_ids: Vec<String> = sqlx::query_scalar(
        "SELECT role_id FROM identity_application_credential_role WHERE application_credential_id = $1",
    )
    .bind(&ac.id)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    for rid in role_ids {
        if let Some(r) = get_role(db, &rid).await? {
            ac.roles.push(r);
        }
    }
    let rows = sqlx::query(
        "SELECT r.id, r.service, r.path, r.method FROM identity_access_rule r \
         JOIN identity_application_credential_access_rule m ON m.access_rule_id = r.id \
         WHERE m.application_credential_id = $1 ORDER BY r.id",
    )
    .bind(&ac.id)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    ac.access_rules = rows
        .iter()
        .map(|r| AccessRule {
            id: get_s(r, "id"),
            service: get_s(r, "service"),
            path: get_s(r, "path"),
            method: get_s(r, "method"),
        })
        .collect();
    Ok(ac)
}

fn app_cred_row(r: &AnyRow) -> ApplicationCredential {
    ApplicationCredential {
        id: get_s(r, "id"),
        name: get_s(r, "name"),
        user_id: get_s(r, "user_id"),
        project_id: get_os(r, "project_id"),
        system: get_os(r, "system"),
        secret_hash: get_s(r, "secret_hash"),
        description: get_s(r, "description"),
        expires_at: get_oi(r, "expires_at"),
        unrestricted: get_i(r, "unrestricted") != 0,
        roles: Vec::new(),
        access_rules: Vec::new(),
    }
}

const AC_COLS: &str = "id, name, user_id, project_id, system, secret_hash, description, expires_at, unrestricted";

pub async fn get_app_cred(db: &Db, id: &str) -> DbResult<Option<ApplicationCredential>> {
    let row = sqlx::query(&format!("SELECT {AC_COLS} FROM identity_application_credential WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    match row {
        Some(r) => Ok(Some(app_cred_details(db, app_cred_row(&r)).await?)),
        None => Ok(None),
    }
}

pub async fn get_app_cred_by_name(db: &Db, user_id: &str, name: &str) -> DbResult<Option<ApplicationCredential>> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT id FROM identity_application_credential WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .fetch_optional(db.reader())
            .await
            .map_err(e)?;
    match id {
        Some(id) => get_app_cred(db, &id).await,
        None => Ok(None),
    }
}

pub async fn list_app_creds(db: &Db, user_id: &str) -> DbResult<Vec<ApplicationCredential>> {
    let rows =
        sqlx::query(&format!("SELECT {AC_COLS} FROM identity_application_credential WHERE user_id = $1 ORDER BY name"))
            .bind(user_id)
            .fetch_all(db.reader())
            .await
            .map_err(e)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(app_cred_details(db, app_cred_row(&r)).await?);
    }
    Ok(out)
}

pub async fn insert_app_cred(conn: &mut AnyConnection, ac: &ApplicationCredential, created_at: i64) -> DbResult<()> {
    sqlx::query(&format!(
        "INSERT INTO identity_application_credential ({AC_COLS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&ac.id)
    .bind(&ac.name)
    .bind(&ac.user_id)
    .bind(&ac.project_id)
    .bind(&ac.system)
    .bind(&ac.secret_hash)
    .bind(&ac.description)
    .bind(ac.expires_at)
    .bind(b(ac.unrestricted))
    .bind(created_at)
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    for r in &ac.roles {
        sqlx::query(
            "INSERT INTO identity_application_credential_role (application_credential_id, role_id) VALUES ($1, $2)",
        )
        .bind(&ac.id)
        .bind(&r.id)
        .execute(&mut *conn)
        .await
        .map_err(e)?;
    }
    for rule in &ac.access_rules {
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM identity_access_rule WHERE user_id = $1 AND service = $2 AND path = $3 AND method = $4",
        )
        .bind(&ac.user_id)
        .bind(&rule.service)
        .bind(&rule.path)
        .bind(&rule.method)
        .fetch_optional(&mut *conn)
        .await
        .map_err(e)?;
        let rid = match existing {
            Some(id) => id,
            None => {
                sqlx::query(
                    "INSERT INTO identity_access_rule (id, user_id, service, path, method) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&rule.id)
                .bind(&ac.user_id)
                .bind(&rule.service)
                .bind(&rule.path)
                .bind(&rule.method)
                .execute(&mut *conn)
                .await
                .map_err(e)?;
                rule.id.clone()
            }
        };
        sqlx::query("INSERT INTO identity_application_credential_access_rule (application_credential_id, access_rule_id) VALUES ($1, $2)")
            .bind(&ac.id)
            .bind(&rid)
            .execute(&mut *conn)
            .await
            .map_err(e)?;
    }
    Ok(())
}

pub async fn delete_app_cred<'c, E: Executor<'c, Database = Any>>(ex: E, id: &str) -> DbResult<bool> {
    let n = sqlx::query("DELETE FROM identity_application_credential WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await
        .map_err(e)?
        .rows_affected();
    Ok(n > 0)
}

pub async fn list_access_rules(db: &Db, user_id: &str) -> DbResult<Vec<AccessRule>> {
    let rows = sqlx::query("SELECT id, service, path, method FROM identity_access_rule WHERE user_id = $1 ORDER BY id")
        .bind(user_id)
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows
        .iter()
        .map(|r| AccessRule {
            id: get_s(r, "id"),
            service: get_s(r, "service"),
            path: get_s(r, "path"),
            method: get_s(r, "method"),
        })
        .collect())
}

// ---------- credentials ----------

fn credential_row(r: &AnyRow) -> Credential {
    Credential {
        id: get_s(r, "id"),
        user_id: get_s(r, "user_id"),
        project_id: get_os(r, "project_id"),
        kind: get_s(r, "type"),
        blob: get_s(r, "blob"),
        extra: map(&get_s(r, "extra")),
    }
}

pub async fn list_credentials(db: &Db) -> DbResult<Vec<Credential>> {
    let rows = sqlx::query("SELECT id, user_id, project_id, type, blob, extra FROM identity_credential ORDER BY id")
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows.iter().map(credential_row).collect())
}

pub async fn get_credential(db: &Db, id: &str) -> DbResult<Option<Credential>> {
    let row = sqlx::query("SELECT id, user_id, project_id, type, blob, extra FROM identity_credential WHERE id = $1")
        .bind(id)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    Ok(row.as_ref().map(credential_row))
}

pub async fn upsert_credential<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    c: &Credential,
    insert: bool,
) -> DbResult<()> {
    let sql = if insert {
        "INSERT INTO identity_credential (id, user_id, project_id, type, blob, extra) VALUES ($1, $2, $3, $4, $5, $6)"
    } else {
        "UPDATE identity_credential SET user_id = $2, project_id = $3, type = $4, blob = $5, extra = $6 WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(&c.id)
        .bind(&c.user_id)
        .bind(&c.project_id)
        .bind(&c.kind)
        .bind(&c.blob)
        .bind(text(&c.extra))
        .execute(ex)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn delete_credential<'c, E: Executor<'c, Database = Any>>(ex: E, id: &str) -> DbResult<bool> {
    let n = sqlx::query("DELETE FROM identity_credential WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await
        .map_err(e)?
        .rows_affected();
    Ok(n > 0)
}

// ---------- unified limits ----------

pub async fn list_registered_limits(db: &Db) -> DbResult<Vec<RegisteredLimit>> {
    let rows = sqlx::query("SELECT id, service_id, region_id, resource_name, default_limit, description FROM identity_registered_limit ORDER BY id")
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows
        .iter()
        .map(|r| RegisteredLimit {
            id: get_s(r, "id"),
            service_id: get_s(r, "service_id"),
            region_id: get_os(r, "region_id"),
            resource_name: get_s(r, "resource_name"),
            default_limit: get_i(r, "default_limit"),
            description: get_s(r, "description"),
        })
        .collect())
}

pub async fn upsert_registered_limit<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    l: &RegisteredLimit,
    insert: bool,
) -> DbResult<()> {
    let sql = if insert {
        "INSERT INTO identity_registered_limit (id, service_id, region_id, resource_name, default_limit, description) VALUES ($1, $2, $3, $4, $5, $6)"
    } else {
        "UPDATE identity_registered_limit SET service_id = $2, region_id = $3, resource_name = $4, default_limit = $5, description = $6 WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(&l.id)
        .bind(&l.service_id)
        .bind(&l.region_id)
        .bind(&l.resource_name)
        .bind(l.default_limit)
        .bind(&l.description)
        .execute(ex)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn delete_registered_limit<'c, E: Executor<'c, Database = Any>>(ex: E, id: &str) -> DbResult<bool> {
    let n = sqlx::query("DELETE FROM identity_registered_limit WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await
        .map_err(e)?
        .rows_affected();
    Ok(n > 0)
}

pub async fn list_limits(db: &Db) -> DbResult<Vec<Limit>> {
    let rows = sqlx::query("SELECT id, project_id, domain_id, service_id, region_id, resource_name, resource_limit, description FROM identity_limit ORDER BY id")
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows
        .iter()
        .map(|r| Limit {
            id: get_s(r, "id"),
            project_id: get_os(r, "project_id"),
            domain_id: get_os(r, "domain_id"),
            service_id: get_s(r, "service_id"),
            region_id: get_os(r, "region_id"),
            resource_name: get_s(r, "resource_name"),
            resource_limit: get_i(r, "resource_limit"),
            description: get_s(r, "description"),
        })
        .collect())
}

pub async fn upsert_limit<'c, E: Executor<'c, Database = Any>>(ex: E, l: &Limit, insert: bool) -> DbResult<()> {
    let sql = if insert {
        "INSERT INTO identity_limit (id, project_id, domain_id, service_id, region_id, resource_name, resource_limit, description) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    } else {
        "UPDATE identity_limit SET project_id = $2, domain_id = $3, service_id = $4, region_id = $5, resource_name = $6, resource_limit = $7, description = $8 WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(&l.id)
        .bind(&l.project_id)
        .bind(&l.domain_id)
        .bind(&l.service_id)
        .bind(&l.region_id)
        .bind(&l.resource_name)
        .bind(l.resource_limit)
        .bind(&l.description)
        .execute(ex)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn delete_limit<'c, E: Executor<'c, Database = Any>>(ex: E, id: &str) -> DbResult<bool> {
    let n =
        sqlx::query("DELETE FROM identity_limit WHERE id = $1").bind(id).execute(ex).await.map_err(e)?.rows_affected();
    Ok(n > 0)
}

// ---------- revocation events ----------

pub async fn insert_revocation<'c, E: Executor<'c, Database = Any>>(ex: E, r: &RevocationEvent) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO identity_revocation_event (id, domain_id, project_id, user_id, role_id, consumer_id, audit_id, issued_before, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&r.id)
    .bind(&r.domain_id)
    .bind(&r.project_id)
    .bind(&r.user_id)
    .bind(&r.role_id)
    .bind(&r.consumer_id)
    .bind(&r.audit_id)
    .bind(r.issued_before)
    .bind(r.expires_at)
    .bind(r.revoked_at)
    .execute(ex)
    .await
    .map_err(e)?;
    Ok(())
}

/// Events revoked at or after `since` (microseconds).
pub async fn list_revocations(db: &Db, since: i64) -> DbResult<Vec<RevocationEvent>> {
    let rows = sqlx::query(
        "SELECT id, domain_id, project_id, user_id, role_id, consumer_id, audit_id, issued_before, expires_at, revoked_at \
         FROM identity_revocation_event WHERE revoked_at >= $1 ORDER BY revoked_at",
    )
    .bind(since)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows
        .iter()
        .map(|r| RevocationEvent {
            id: get_s(r, "id"),
            domain_id: get_os(r, "domain_id"),
            project_id: get_os(r, "project_id"),
            user_id: get_os(r, "user_id"),
            role_id: get_os(r, "role_id"),
            consumer_id: get_os(r, "consumer_id"),
            audit_id: get_os(r, "audit_id"),
            issued_before: get_i(r, "issued_before"),
            expires_at: get_oi(r, "expires_at"),
            revoked_at: get_i(r, "revoked_at"),
        })
        .collect())
}

/// Removes events older than any token they could still cover.
pub async fn prune_revocations(db: &Db, before: i64) -> DbResult<u64> {
    Ok(sqlx::query("DELETE FROM identity_revocation_event WHERE revoked_at < $1")
        .bind(before)
        .execute(db.writer())
        .await
        .map_err(e)?
        .rows_affected())
}
