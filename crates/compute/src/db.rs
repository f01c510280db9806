//! Every SQL statement of the Compute service; the same SQL runs on SQLite
//! and PostgreSQL.

use std::collections::BTreeMap;

use db::row::{get_i, get_oi, get_os, get_s};
use db::{sqlx, AnyRow, Db, DbError, DbResult, Row};

use crate::model::{Flavor, Keypair, NewFlavor};

pub static MIGRATIONS: &[db::MigrationSet] = &[db::MigrationSet {
    version: 4000,
    description: "compute flavors and keypairs",
    sqlite: include_str!("../migrations/4000_initial.sqlite.sql"),
    postgres: include_str!("../migrations/4000_initial.postgres.sql"),
}];

fn e(err: sqlx::Error) -> DbError {
    DbError::from_sqlx(err)
}

pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

const FLAVOR_COLUMNS: &str = "id, flavorid, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap, rxtx_factor, \
     vcpu_weight, is_public, disabled, description, created_at, updated_at";

fn flavor(r: &AnyRow) -> Flavor {
    Flavor {
        id: get_i(r, "id"),
        flavorid: get_s(r, "flavorid"),
        name: get_s(r, "name"),
        memory_mb: get_i(r, "memory_mb"),
        vcpus: get_i(r, "vcpus"),
        root_gb: get_i(r, "root_gb"),
        ephemeral_gb: get_i(r, "ephemeral_gb"),
        swap: get_i(r, "swap"),
        rxtx_factor: r.try_get::<f64, _>("rxtx_factor").unwrap_or(1.0),
        vcpu_weight: get_oi(r, "vcpu_weight"),
        is_public: get_i(r, "is_public") != 0,
        disabled: get_i(r, "disabled") != 0,
        description: get_os(r, "description"),
        created_at: get_s(r, "created_at"),
        updated_at: get_os(r, "updated_at"),
        extra_specs: BTreeMap::new(),
    }
}

pub async fn flavor_by_flavorid(db: &Db, flavorid: &str) -> DbResult<Option<Flavor>> {
    let row = sqlx::query(&format!("SELECT {FLAVOR_COLUMNS} FROM compute_flavors WHERE flavorid = $1"))
        .bind(flavorid)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    Ok(row.as_ref().map(flavor))
}

pub async fn flavor_by_name(db: &Db, name: &str) -> DbResult<Option<Flavor>> {
    let row = sqlx::query(&format!("SELECT {FLAVOR_COLUMNS} FROM compute_flavors WHERE name = $1"))
        .bind(name)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    Ok(row.as_ref().map(flavor))
}

/// Flavors by visibility: `Some(true)` public ones (and, with a project, the
/// private ones granted to it), `Some(false)` every private one, `None` all.
pub async fn list_flavors(db: &Db, project: Option<&str>, public: Option<bool>) -> DbResult<Vec<Flavor>> {
    let rows = match (public, project) {
        // Public flavors and the private ones the project may use.
        (Some(true), Some(p)) => sqlx::query(&format!(
            "SELECT {FLAVOR_COLUMNS} FROM compute_flavors f WHERE is_public = 1 OR EXISTS \
             (SELECT 1 FROM compute_flavor_projects a WHERE a.flavor_id = f.id AND a.project_id = $1)"
        ))
        .bind(p)
        .fetch_all(db.reader())
        .await
        .map_err(e)?,
        (Some(true), None) => sqlx::query(&format!("SELECT {FLAVOR_COLUMNS} FROM compute_flavors WHERE is_public = 1"))
            .fetch_all(db.reader())
            .await
            .map_err(e)?,
        (Some(false), _) => sqlx::query(&format!("SELECT {FLAVOR_COLUMNS} FROM compute_flavors WHERE is_public = 0"))
            .fetch_all(db.reader())
            .await
            .map_err(e)?,
        (None, _) => sqlx::query(&format!("SELECT {FLAVOR_COLUMNS} FROM compute_flavors"))
            .fetch_all(db.reader())
            .await
            .map_err(e)?,
    };
    Ok(rows.iter().map(flavor).collect())
}

pub async fn flavor_projects(db: &Db, flavor_id: i64) -> DbResult<Vec<String>> {
    let rows = sqlx::query("SELECT project_id FROM compute_flavor_projects WHERE flavor_id = $1 ORDER BY project_id")
        .bind(flavor_id)
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows.iter().map(|r| get_s(r, "project_id")).collect())
}

pub async fn flavor_has_project(db: &Db, flavor_id: i64, project: &str) -> DbResult<bool> {
    let row = sqlx::query("SELECT 1 AS x FROM compute_flavor_projects WHERE flavor_id = $1 AND project_id = $2")
        .bind(flavor_id)
        .bind(project)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    Ok(row.is_some())
}

pub async fn add_flavor_project(db: &Db, flavor_id: i64, project: &str) -> DbResult<()> {
    sqlx::query("INSERT INTO compute_flavor_projects (flavor_id, project_id) VALUES ($1, $2)")
        .bind(flavor_id)
        .bind(project)
        .execute(db.writer())
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn remove_flavor_project(db: &Db, flavor_id: i64, project: &str) -> DbResult<bool> {
    let r = sqlx::query("DELETE FROM compute_flavor_projects WHERE flavor_id = $1 AND project_id = $2")
        .bind(flavor_id)
        .bind(project)
        .execute(db.writer())
        .await
        .map_err(e)?;
    Ok(r.rows_affected() > 0)
}

pub async fn insert_flavor(db: &Db, f: &NewFlavor) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO compute_flavors (flavorid, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap, rxtx_factor, \
         vcpu_weight, is_public, disabled, description, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, 0, $10, $11, NULL)",
    )
    .bind(&f.flavorid)
    .bind(&f.name)
    .bind(f.memory_mb)
    .bind(f.vcpus)
    .bind(f.root_gb)
    .bind(f.ephemeral_gb)
    .bind(f.swap)
    .bind(f.rxtx_factor)
    .bind(f.is_public as i64)
    .bind(f.description.as_deref())
    .bind(now())
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(())
}

pub async fn set_flavor_description(db: &Db, id: i64, description: Option<&str>) -> DbResult<()> {
    sqlx::query("UPDATE compute_flavors SET description = $1, updated_at = $2 WHERE id = $3")
        .bind(description)
        .bind(now())
        .bind(id)
        .execute(db.writer())
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn delete_flavor(db: &Db, id: i64) -> DbResult<()> {
    let mut tx = db.writer().begin().await.map_err(e)?;
    for sql in [
        "DELETE FROM compute_flavor_extra_specs WHERE flavor_id = $1",
        "DELETE FROM compute_flavor_projects WHERE flavor_id = $1",
        "DELETE FROM compute_flavors WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *tx).await.map_err(e)?;
    }
    tx.commit().await.map_err(e)
}

pub async fn extra_specs(db: &Db, flavor_id: i64) -> DbResult<BTreeMap<String, String>> {
    let rows = sqlx::query("SELECT key, value FROM compute_flavor_extra_specs WHERE flavor_id = $1")
        .bind(flavor_id)
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows.iter().map(|r| (get_s(r, "key"), get_s(r, "value"))).collect())
}

/// Sets the given specs (others stay), in one transaction.
pub async fn upsert_extra_specs(db: &Db, flavor_id: i64, specs: &BTreeMap<String, String>) -> DbResult<()> {
    let mut tx = db.writer().begin().await.map_err(e)?;
    for (k, v) in specs {
        sqlx::query(
            "INSERT INTO compute_flavor_extra_specs (flavor_id, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (flavor_id, key) DO UPDATE SET value = excluded.value",
        )
        .bind(flavor_id)
        .bind(k)
        .bind(v)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    }
    sqlx::query("UPDATE compute_flavors SET updated_at = $1 WHERE id = $2")
        .bind(now())
        .bind(flavor_id)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    tx.commit().await.map_err(e)
}

pub async fn delete_extra_spec(db: &Db, flavor_id: i64, key: &str) -> DbResult<bool> {
    let r = sqlx::query("DELETE FROM compute_flavor_extra_specs WHERE flavor_id = $1 AND key = $2")
        .bind(flavor_id)
        .bind(key)
        .execute(db.writer())
        .await
        .map_err(e)?;
    Ok(r.rows_affected() > 0)
}

fn keypair(r: &AnyRow) -> Keypair {
    Keypair {
        id: get_i(r, "id"),
        user_id: get_s(r, "user_id"),
        name: get_s(r, "name"),
        fingerprint: get_s(r, "fingerprint"),
        public_key: get_s(r, "public_key"),
        key_type: get_s(r, "type"),
        created_at: get_s(r, "created_at"),
    }
}

/// A user's keypairs by name, after `marker` (a name), at most `limit`.
pub async fn list_keypairs(db: &Db, user_id: &str, marker: Option<&str>, limit: i64) -> DbResult<Vec<Keypair>> {
    let rows = sqlx::query(
        "SELECT id, user_id, name, fingerprint, public_key, type, created_at FROM compute_keypairs \
         WHERE user_id = $1 AND name > $2 ORDER BY name LIMIT $3",
    )
    .bind(user_id)
    .bind(marker.unwrap_or(""))
    .bind(limit)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows.iter().map(keypair).collect())
}

pub async fn keypair_by_name(db: &Db, user_id: &str, name: &str) -> DbResult<Option<Keypair>> {
    let row = sqlx::query(
        "SELECT id, user_id, name, fingerprint, public_key, type, created_at FROM compute_keypairs \
         WHERE user_id = $1 AND name = $2",
    )
    .bind(user_id)
    .bind(name)
    .fetch_optional(db.reader())
    .await
    .map_err(e)?;
    Ok(row.as_ref().map(keypair))
}

pub async fn count_keypairs(db: &Db, user_id: &str) -> DbResult<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM compute_keypairs WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(db.reader())
        .await
        .map_err(e)?;
    Ok(get_i(&row, "n"))
}

pub async fn insert_keypair(db: &Db, k: &Keypair) -> DbResult<Keypair> {
    sqlx::query(
        "INSERT INTO compute_keypairs (user_id, name, fingerprint, public_key, type, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&k.user_id)
    .bind(&k.name)
    .bind(&k.fingerprint)
    .bind(&k.public_key)
    .bind(&k.key_type)
    .bind(&k.created_at)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(keypair_by_name(db, &k.user_id, &k.name).await?.unwrap_or_else(|| k.clone()))
}

pub async fn delete_keypair(db: &Db, user_id: &str, name: &str) -> DbResult<bool> {
    let r = sqlx::query("DELETE FROM compute_keypairs WHERE user_id = $1 AND name = $2")
        .bind(user_id)
        .bind(name)
        .execute(db.writer())
        .await
        .map_err(e)?;
    Ok(r.rows_affected() > 0)
}
