//! SQL for the image tables.

use std::collections::BTreeMap;

use db::row::{get_i, get_oi, get_os, get_s};
use db::sqlx::{self, Any, AnyConnection};
use db::{AnyRow, Db, DbError, DbResult};

use crate::model::*;

pub static MIGRATIONS: &[db::MigrationSet] = &[
    db::MigrationSet {
        version: 3000,
        description: "image initial schema",
        sqlite: include_str!("../migrations/3000_initial.sql"),
        postgres: include_str!("../migrations/3000_initial.sql"),
    },
    db::MigrationSet {
        version: 3001,
        description: "image tasks",
        sqlite: include_str!("../migrations/3001_tasks.sql"),
        postgres: include_str!("../migrations/3001_tasks.sql"),
    },
];

pub type Tx = sqlx::Transaction<'static, Any>;

fn e(err: sqlx::Error) -> DbError {
    DbError::from_sqlx(err)
}

/// Glance's timestamps: whole seconds, UTC, `Z`.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub async fn begin(db: &Db) -> DbResult<Tx> {
    db.writer().begin().await.map_err(e)
}

const IMAGE_COLS: &str = "id, name, disk_format, container_format, size, virtual_size, status, checksum, \
    os_hash_algo, os_hash_value, owner, visibility, protected, os_hidden, min_ram, min_disk, location, created_at, \
    updated_at";

fn image_row(r: &AnyRow) -> Image {
    Image {
        id: get_s(r, "id"),
        name: get_os(r, "name"),
        disk_format: get_os(r, "disk_format"),
        container_format: get_os(r, "container_format"),
        size: get_oi(r, "size"),
        virtual_size: get_oi(r, "virtual_size"),
        status: get_s(r, "status"),
        checksum: get_os(r, "checksum"),
        os_hash_algo: get_os(r, "os_hash_algo"),
        os_hash_value: get_os(r, "os_hash_value"),
        owner: get_os(r, "owner"),
        visibility: get_s(r, "visibility"),
        protected: get_i(r, "protected") != 0,
        os_hidden: get_i(r, "os_hidden") != 0,
        min_ram: get_i(r, "min_ram"),
        min_disk: get_i(r, "min_disk"),
        location: get_os(r, "location"),
        created_at: get_s(r, "created_at"),
        updated_at: get_s(r, "updated_at"),
        properties: BTreeMap::new(),
        tags: Vec::new(),
    }
}

/// Fills in properties and tags of `images` (two queries).
async fn attach_details(conn: &mut AnyConnection, images: &mut [Image]) -> DbResult<()> {
    if images.is_empty() {
        return Ok(());
    }
    for chunk in images.chunks_mut(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let list = marks.join(", ");
        let index: BTreeMap<String, usize> = chunk.iter().enumerate().map(|(i, im)| (im.id.clone(), i)).collect();
        let sql = format!("SELECT image_id, name, value FROM image_properties WHERE image_id IN ({list})");
        let mut q = sqlx::query(&sql);
        for im in chunk.iter() {
            q = q.bind(im.id.clone());
        }
        for r in q.fetch_all(&mut *conn).await.map_err(e)? {
            if let Some(i) = index.get(&get_s(&r, "image_id")) {
                chunk[*i].properties.insert(get_s(&r, "name"), get_s(&r, "value"));
            }
        }
        let sql = format!("SELECT image_id, value FROM image_tags WHERE image_id IN ({list}) ORDER BY value");
        let mut q = sqlx::query(&sql);
        for im in chunk.iter() {
            q = q.bind(im.id.clone());
        }
        for r in q.fetch_all(&mut *conn).await.map_err(e)? {
            if let Some(i) = index.get(&get_s(&r, "image_id")) {
                chunk[*i].tags.push(get_s(&r, "value"));
            }
        }
    }
    Ok(())
}

/// An image that is not deleted, with its properties and tags.
pub async fn get_image(conn: &mut AnyConnection, id: &str) -> DbResult<Option<Image>> {
    let r = sqlx::query(&format!("SELECT {IMAGE_COLS} FROM image_images WHERE id = $1 AND deleted = 0"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(e)?;
    let Some(r) = r else { return Ok(None) };
    let mut images = vec![image_row(&r)];
    attach_details(conn, &mut images).await?;
    Ok(images.pop())
}

pub async fn get_image_ro(db: &Db, id: &str) -> DbResult<Option<Image>> {
    let mut conn = db.reader().acquire().await.map_err(e)?;
    get_image(&mut conn, id).await
}

/// Whether an id was ever used (deleted images keep theirs).
pub async fn id_exists(conn: &mut AnyConnection, id: &str) -> DbResult<bool> {
    let n: Option<String> = sqlx::query_scalar("SELECT id FROM image_images WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(e)?;
    Ok(n.is_some())
}

pub async fn insert_image(conn: &mut AnyConnection, im: &Image) -> DbResult<()> {
    sqlx::query(&format!(
        "INSERT INTO image_images ({IMAGE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
         $15, $16, $17, $18, $19)"
    ))
    .bind(&im.id)
    .bind(&im.name)
    .bind(&im.disk_format)
    .bind(&im.container_format)
    .bind(im.size)
    .bind(im.virtual_size)
    .bind(&im.status)
    .bind(&im.checksum)
    .bind(&im.os_hash_algo)
    .bind(&im.os_hash_value)
    .bind(&im.owner)
    .bind(&im.visibility)
    .bind(im.protected as i64)
    .bind(im.os_hidden as i64)
    .bind(im.min_ram)
    .bind(im.min_disk)
    .bind(&im.location)
    .bind(&im.created_at)
    .bind(&im.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    write_details(conn, im).await
}

async fn write_details(conn: &mut AnyConnection, im: &Image) -> DbResult<()> {
    sqlx::query("DELETE FROM image_properties WHERE image_id = $1")
        .bind(&im.id)
        .execute(&mut *conn)
        .await
        .map_err(e)?;
    sqlx::query("DELETE FROM image_tags WHERE image_id = $1").bind(&im.id).execute(&mut *conn).await.map_err(e)?;
    for (k, v) in &im.properties {
        sqlx::query("INSERT INTO image_properties (image_id, name, value) VALUES ($1, $2, $3)")
            .bind(&im.id)
            .bind(k)
            .bind(v)
            .execute(&mut *conn)
            .await
            .map_err(e)?;
    }
    for t in &im.tags {
        sqlx::query("INSERT INTO image_tags (image_id, value) VALUES ($1, $2)")
            .bind(&im.id)
            .bind(t)
            .execute(&mut *conn)
            .await
            .map_err(e)?;
    }
    Ok(())
}

/// Writes every field of `im` if the image is still in `from_status`;
/// false when it is not (another request changed it first).
pub async fn save_image(conn: &mut AnyConnection, im: &Image, from_status: &str) -> DbResult<bool> {
    let r = sqlx::query(
        "UPDATE image_images SET name = $1, disk_format = $2, container_format = $3, size = $4, virtual_size = $5, \
         status = $6, checksum = $7, os_hash_algo = $8, os_hash_value = $9, owner = $10, visibility = $11, \
         protected = $12, os_hidden = $13, min_ram = $14, min_disk = $15, location = $16, updated_at = $17 \
         WHERE id = $18 AND status = $19 AND deleted = 0",
    )
    .bind(&im.name)
    .bind(&im.disk_format)
    .bind(&im.container_format)
    .bind(im.size)
    .bind(im.virtual_size)
    .bind(&im.status)
    .bind(&im.checksum)
    .bind(&im.os_hash_algo)
    .bind(&im.os_hash_value)
    .bind(&im.owner)
    .bind(&im.visibility)
    .bind(im.protected as i64)
    .bind(im.os_hidden as i64)
    .bind(im.min_ram)
    .bind(im.min_disk)
    .bind(&im.location)
    .bind(&im.updated_at)
    .bind(&im.id)
    .bind(from_status)
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    if r.rows_affected() != 1 {
        return Ok(false);
    }
    write_details(conn, im).await?;
    Ok(true)
}

/// Extends (or sets) the lease of a running upload.
pub async fn set_upload_lease(db: &Db, id: &str, until: Option<&str>) -> DbResult<()> {
    sqlx::query("UPDATE image_images SET upload_lease_until = $1 WHERE id = $2")
        .bind(until)
        .bind(id)
        .execute(db.writer())
        .await
        .map_err(e)?;
    Ok(())
}

/// Images in `saving` (uploading to the store) or `uploading` (to staging,
/// lease set) whose lease ran out before `now`.
pub async fn stale_uploads(db: &Db, now: &str) -> DbResult<Vec<String>> {
    sqlx::query_scalar(
        "SELECT id FROM image_images WHERE deleted = 0 AND ((status = 'saving' AND \
         (upload_lease_until IS NULL OR upload_lease_until < $1)) OR \
         (status = 'uploading' AND upload_lease_until IS NOT NULL AND upload_lease_until < $1))",
    )
    .bind(now)
    .fetch_all(db.reader())
    .await
    .map_err(e)
}

pub async fn mark_deleted(conn: &mut AnyConnection, id: &str) -> DbResult<bool> {
    let ts = now();
    let r = sqlx::query(
        "UPDATE image_images SET status = 'deleted', deleted = 1, deleted_at = $1, updated_at = $1, location = NULL \
         WHERE id = $2 AND deleted = 0",
    )
    .bind(&ts)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    sqlx::query("DELETE FROM image_members WHERE image_id = $1").bind(id).execute(&mut *conn).await.map_err(e)?;
    Ok(r.rows_affected() == 1)
}

/// Every non-deleted image the caller may see, unfiltered beyond that; the
/// caller filters, sorts and pages (image counts per deployment are small
/// enough to do so in memory, and the rules are Glance's, not SQL's).
pub async fn visible_images(db: &Db, project: Option<&str>, admin: bool) -> DbResult<Vec<Image>> {
    let mut conn = db.reader().acquire().await.map_err(e)?;
    let rows = if admin {
        sqlx::query(&format!("SELECT {IMAGE_COLS} FROM image_images WHERE deleted = 0")).fetch_all(&mut *conn).await
    } else {
        sqlx::query(&format!(
            "SELECT {IMAGE_COLS} FROM image_images i WHERE deleted = 0 AND (visibility IN ('public', 'community') \
             OR owner = $1 OR (visibility = 'shared' AND EXISTS (SELECT 1 FROM image_members m \
             WHERE m.image_id = i.id AND m.member = $1)))"
        ))
        .bind(project.unwrap_or(""))
        .fetch_all(&mut *conn)
        .await
    }
    .map_err(e)?;
    let mut images: Vec<Image> = rows.iter().map(image_row).collect();
    attach_details(&mut conn, &mut images).await?;
    Ok(images)
}

// ---------- members ----------

fn member_row(r: &AnyRow) -> Member {
    Member {
        image_id: get_s(r, "image_id"),
        member: get_s(r, "member"),
        status: get_s(r, "status"),
        created_at: get_s(r, "created_at"),
        updated_at: get_s(r, "updated_at"),
    }
}

pub async fn members(db: &Db, image_id: &str) -> DbResult<Vec<Member>> {
    let rows = sqlx::query(
        "SELECT image_id, member, status, created_at, updated_at FROM image_members WHERE image_id = $1 \
         ORDER BY created_at, member",
    )
    .bind(image_id)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows.iter().map(member_row).collect())
}

/// Member statuses per image for one project: image id -> status.
pub async fn memberships(db: &Db, project: &str) -> DbResult<BTreeMap<String, String>> {
    let rows = sqlx::query("SELECT image_id, status FROM image_members WHERE member = $1")
        .bind(project)
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows.iter().map(|r| (get_s(r, "image_id"), get_s(r, "status"))).collect())
}

pub async fn get_member(db: &Db, image_id: &str, member: &str) -> DbResult<Option<Member>> {
    let r = sqlx::query(
        "SELECT image_id, member, status, created_at, updated_at FROM image_members WHERE image_id = $1 AND member = $2",
    )
    .bind(image_id)
    .bind(member)
    .fetch_optional(db.reader())
    .await
    .map_err(e)?;
    Ok(r.as_ref().map(member_row))
}

pub async fn count_members(conn: &mut AnyConnection, image_id: &str) -> DbResult<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM image_members WHERE image_id = $1")
        .bind(image_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(e)
}

pub async fn insert_member(conn: &mut AnyConnection, m: &Member) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO image_members (image_id, member, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&m.image_id)
    .bind(&m.member)
    .bind(&m.status)
    .bind(&m.created_at)
    .bind(&m.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    Ok(())
}

pub async fn update_member(db: &Db, m: &Member) -> DbResult<bool> {
    let r = sqlx::query("UPDATE image_members SET status = $1, updated_at = $2 WHERE image_id = $3 AND member = $4")
        .bind(&m.status)
        .bind(&m.updated_at)
        .bind(&m.image_id)
        .bind(&m.member)
        .execute(db.writer())
        .await
        .map_err(e)?;
    Ok(r.rows_affected() == 1)
}

pub async fn delete_member(db: &Db, image_id: &str, member: &str) -> DbResult<bool> {
    let r = sqlx::query("DELETE FROM image_members WHERE image_id = $1 AND member = $2")
        .bind(image_id)
        .bind(member)
        .execute(db.writer())
        .await
        .map_err(e)?;
    Ok(r.rows_affected() == 1)
}

// ---------- tasks ----------

const TASK_COLS: &str = "id, type, status, owner, input, result, message, image_id, request_id, user_id, expires_at, \
    lease_until, attempts, created_at, updated_at";

fn task_row(r: &AnyRow) -> Task {
    let json = |c: &str| get_os(r, c).and_then(|s| serde_json::from_str(&s).ok());
    Task {
        id: get_s(r, "id"),
        task_type: get_s(r, "type"),
        status: get_s(r, "status"),
        owner: get_os(r, "owner"),
        input: json("input"),
        result: json("result"),
        message: get_s(r, "message"),
        image_id: get_os(r, "image_id"),
        request_id: get_os(r, "request_id"),
        user_id: get_os(r, "user_id"),
        expires_at: get_os(r, "expires_at"),
        lease_until: get_os(r, "lease_until"),
        attempts: get_i(r, "attempts"),
        created_at: get_s(r, "created_at"),
        updated_at: get_s(r, "updated_at"),
    }
}

pub async fn insert_task(conn: &mut AnyConnection, t: &Task) -> DbResult<()> {
    sqlx::query(&format!(
        "INSERT INTO image_tasks ({TASK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(&t.id)
    .bind(&t.task_type)
    .bind(&t.status)
    .bind(&t.owner)
    .bind(t.input.as_ref().map(|v| v.to_string()))
    .bind(t.result.as_ref().map(|v| v.to_string()))
    .bind(&t.message)
    .bind(&t.image_id)
    .bind(&t.request_id)
    .bind(&t.user_id)
    .bind(&t.expires_at)
    .bind(&t.lease_until)
    .bind(t.attempts)
    .bind(&t.created_at)
    .bind(&t.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    Ok(())
}

/// Writes a task's state if it is still `from_status`; false otherwise.
pub async fn save_task(db: &Db, t: &Task, from_status: &str) -> DbResult<bool> {
    let r = sqlx::query(
        "UPDATE image_tasks SET status = $1, result = $2, message = $3, expires_at = $4, lease_until = $5, \
         attempts = $6, updated_at = $7 WHERE id = $8 AND status = $9",
    )
    .bind(&t.status)
    .bind(t.result.as_ref().map(|v| v.to_string()))
    .bind(&t.message)
    .bind(&t.expires_at)
    .bind(&t.lease_until)
    .bind(t.attempts)
    .bind(&t.updated_at)
    .bind(&t.id)
    .bind(from_status)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(r.rows_affected() == 1)
}

pub async fn get_task(db: &Db, id: &str) -> DbResult<Option<Task>> {
    let r = sqlx::query(&format!("SELECT {TASK_COLS} FROM image_tasks WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    Ok(r.as_ref().map(task_row))
}

/// Tasks that have not expired by `now`, newest first.
pub async fn live_tasks(db: &Db, now: &str) -> DbResult<Vec<Task>> {
    let rows = sqlx::query(&format!(
        "SELECT {TASK_COLS} FROM image_tasks WHERE expires_at IS NULL OR expires_at > $1 \
         ORDER BY created_at DESC, id"
    ))
    .bind(now)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows.iter().map(task_row).collect())
}

pub async fn image_tasks(db: &Db, image_id: &str, now: &str) -> DbResult<Vec<Task>> {
    let rows = sqlx::query(&format!(
        "SELECT {TASK_COLS} FROM image_tasks WHERE image_id = $1 AND (expires_at IS NULL OR expires_at > $2) \
         ORDER BY created_at DESC, id"
    ))
    .bind(image_id)
    .bind(now)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows.iter().map(task_row).collect())
}

/// Unfinished tasks whose lease ran out before `now` (their run stopped),
/// with the lease they had.
pub async fn stale_tasks(db: &Db, now: &str) -> DbResult<Vec<(String, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT id, lease_until FROM image_tasks WHERE status IN ('pending', 'processing') AND \
         (lease_until IS NULL OR lease_until < $1) ORDER BY created_at",
    )
    .bind(now)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows.iter().map(|r| (get_s(r, "id"), get_os(r, "lease_until"))).collect())
}

/// Takes an unfinished task for a run if its lease is still `seen` (no
/// other runner took it): status `processing`, a new lease, one more attempt.
pub async fn claim_task(db: &Db, id: &str, seen: Option<&str>, lease: &str) -> DbResult<Option<Task>> {
    let r = sqlx::query(
        "UPDATE image_tasks SET status = 'processing', lease_until = $1, attempts = attempts + 1, updated_at = $2 \
         WHERE id = $3 AND status IN ('pending', 'processing') AND COALESCE(lease_until, '') = $4",
    )
    .bind(lease)
    .bind(now())
    .bind(id)
    .bind(seen.unwrap_or(""))
    .execute(db.writer())
    .await
    .map_err(e)?;
    if r.rows_affected() != 1 {
        return Ok(None);
    }
    get_task(db, id).await
}

/// Moves a running task's lease from `held` to `until`; false when the
/// task no longer has lease `held` (another run took it over, or it ended).
pub async fn renew_task_lease(db: &Db, id: &str, held: &str, until: &str) -> DbResult<bool> {
    let r = sqlx::query(
        "UPDATE image_tasks SET lease_until = $1 WHERE id = $2 AND lease_until = $3 \
         AND status IN ('pending', 'processing')",
    )
    .bind(until)
    .bind(id)
    .bind(held)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(r.rows_affected() == 1)
}

/// Takes an image's import lock (`os_glance_import_task`) for `task` if it
/// is free or still held by `previous`; false when someone else holds it.
pub async fn take_import_lock(
    conn: &mut AnyConnection,
    image_id: &str,
    task: &str,
    previous: Option<&str>,
) -> DbResult<bool> {
    let r = match previous {
        None => sqlx::query(
            "INSERT INTO image_properties (image_id, name, value) VALUES ($1, 'os_glance_import_task', $2) \
             ON CONFLICT (image_id, name) DO NOTHING",
        )
        .bind(image_id)
        .bind(task)
        .execute(&mut *conn)
        .await
        .map_err(e)?,
        Some(prev) => sqlx::query(
            "UPDATE image_properties SET value = $1 WHERE image_id = $2 AND name = 'os_glance_import_task' \
             AND value = $3",
        )
        .bind(task)
        .bind(image_id)
        .bind(prev)
        .execute(&mut *conn)
        .await
        .map_err(e)?,
    };
    Ok(r.rows_affected() == 1)
}

/// Drops an image's import lock if `task` holds it.
pub async fn release_import_lock(db: &Db, image_id: &str, task: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM image_properties WHERE image_id = $1 AND name = 'os_glance_import_task' AND value = $2")
        .bind(image_id)
        .bind(task)
        .execute(db.writer())
        .await
        .map_err(e)?;
    Ok(())
}

/// A project's usage of a quota resource (see `quota`).
pub async fn quota_usage(db: &Db, project: &str, resource: &str) -> DbResult<i64> {
    let live = "owner = $1 AND deleted = 0 AND status NOT IN ('killed', 'pending_delete', 'deleted')";
    let (sql, mib) = match resource {
        "image_count_total" => (format!("SELECT COUNT(*) FROM image_images WHERE {live}"), false),
        "image_count_uploading" => (
            "SELECT COUNT(*) FROM image_images WHERE owner = $1 AND deleted = 0 AND \
             status IN ('saving', 'uploading', 'importing')"
                .to_string(),
            false,
        ),
        "image_size_total" => (
            format!(
                "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM image_images WHERE {live} AND location IS NOT NULL"
            ),
            true,
        ),
        "image_stage_total" => (
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM image_images WHERE owner = $1 AND deleted = 0 AND \
             status IN ('uploading', 'importing')"
                .to_string(),
            true,
        ),
        _ => return Ok(0),
    };
    let n: i64 = sqlx::query_scalar(&sql).bind(project).fetch_one(db.reader()).await.map_err(e)?;
    Ok(if mib { n / (1 << 20) } else { n })
}
